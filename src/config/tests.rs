use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveTime};

use super::database::redact_url;
use super::reader::{find_key_line, find_section_line, line_of_offset, suggest};
use super::sections::{is_mailbox, is_plain_address};
use super::*;
use crate::forms::raw::ReadLimits;

/// The smallest config the daemon accepts; line numbers below refer to it.
const MINIMAL: &str = r#"[imap]
host = "imap.example.test"
username = "helpdesk@example.test"
password = "hunter2-xyz"

[smtp]
host = "smtp.example.test"
from = "helpdesk@example.test"

[database]
url = "sqlite://var/spdesk.db?mode=rwc"

[helpdesk]
address = "helpdesk@example.test"
review_to = ["review@example.test"]
digest_to = ["digest@example.test"]
incident_to = ["incident@example.test"]
billing_to = ["billing@example.test"]

[billing]
prices = { webservice = 4500.0, sftp = 2500 }
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(text, Some(Path::new("/etc/spdesk/spdesk.toml")))
}

fn problems(text: &str) -> Vec<Problem> {
    match load(text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(e) => e.problems().to_vec(),
    }
}

/// Replaces `from` in MINIMAL (which must contain it) with `to`.
fn minimal_with(from: &str, to: &str) -> String {
    assert!(MINIMAL.contains(from), "{from} not in MINIMAL");
    MINIMAL.replacen(from, to, 1)
}

/// Asserts exactly one problem, on `line`, about `key`, whose text contains `needle`.
fn assert_one(text: &str, line: usize, key: &str, needle: &str) {
    let p = problems(text);
    assert_eq!(p.len(), 1, "{p:#?}");
    let shown = p[0].to_string();
    assert_eq!(p[0].line, Some(line), "{shown}");
    assert_eq!(p[0].key, key, "{shown}");
    assert!(shown.contains(needle), "{shown:?} lacks {needle:?}");
}

#[test]
fn shipped_config_loads() {
    let text = include_str!("../../config/spdesk.toml");
    let c = Config::from_str(text, Some(Path::new("/srv/spdesk/config/spdesk.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.imap.host, "127.0.0.1");
    assert_eq!(c.imap.port, 10143);
    assert_eq!(c.imap.tls, Tls::None);
    assert_eq!(c.imap.auth, Auth::Password);
    assert_eq!(c.imap.username, "helpdesk@example.test");
    assert_eq!(c.imap.secret, Secret::Password("secret".into()));
    assert_eq!(c.smtp.port, 10025);
    assert_eq!(c.smtp.auth, Auth::None);
    assert_eq!(c.smtp.secret, None);
    assert_eq!(c.smtp.from, "helpdesk@example.test");
    assert_eq!(
        c.database.url,
        "sqlite:///srv/spdesk/config/../var/spdesk.db?mode=rwc"
    );
    assert_eq!(
        c.database.sqlite_path(),
        Some(PathBuf::from("/srv/spdesk/config/../var/spdesk.db"))
    );
    assert_eq!(
        c.helpdesk.billing_to,
        vec!["okonomi@example.test".to_string()]
    );
    assert_eq!(c.limits.receipts_per_address_per_hour, 1000);
    assert_eq!(c.limits.receipts_per_hour, 10_000);
    assert_eq!(c.limits.orders_per_sender_per_hour, 1000);
    assert_eq!(c.limits.review_mails_per_hour, 1000);
    assert_eq!(c.limits.max_message_bytes, 25_000_000);
    assert_eq!(c.limits.outbox_max_age, Duration::from_secs(3 * 24 * 3600));
    assert_eq!(
        format!("{:?}", c.limits.read_limits()),
        format!("{:?}", ReadLimits::default())
    );
    assert_eq!(c.rules, RulesConfig::default());
    assert_eq!(c.executors, Executors::default());
    assert_eq!(
        c.billing.prices,
        Prices {
            webservice: 4500.0,
            sftp: 2500.0
        }
    );
    assert_eq!(c.billing.currency, "DKK");
    assert_eq!(
        c.billing.csv,
        crate::schedule::billing::CsvDialect::Rfc4180,
        "the DESIGN.md format unless the config asks for excel-da"
    );
    assert_eq!(c.schedule.timezone, chrono_tz::Europe::Copenhagen);
    assert_eq!(
        c.web, None,
        "the shipped config serves no web console until asked to"
    );
    assert_eq!(c.dir(), PathBuf::from("/srv/spdesk/config"));
}

#[test]
fn shipped_config_shows_every_key_and_only_test_domains() {
    let text = include_str!("../../config/spdesk.toml");
    let keys = [
        (
            "imap",
            "host port tls ca_file username password password_file password_env auth oauth_token_file oauth_token_command mailbox processed_folder quarantine_folder idle poll_interval",
        ),
        (
            "smtp",
            "host port tls ca_file auth username password_file from",
        ),
        ("database", "url lease_timeout"),
        (
            "helpdesk",
            "address own_domains review_to digest_to incident_to billing_to stale_rejected_days",
        ),
        (
            "limits",
            "max_message_bytes max_attachments max_docx_unzipped_bytes max_xml_depth max_pdf_pages reader_timeout max_attempts receipts_per_address_per_hour receipts_per_hour orders_per_sender_per_hour review_mails_per_hour",
        ),
        ("executors", "webservice sftp timeout"),
        (
            "rules",
            "lead_working_days change_window extra_closed_days max_days_ahead systems_file known_orders_file trusted_ca_file trusted_authserv_ids trust_exchange_online security_models datatypes",
        ),
        ("schedule", "timezone digest billing"),
        ("billing", "prices currency"),
        (
            "web",
            "listen public_url session_hours tls_cert tls_key trusted_proxy_header trusted_proxies metrics health_imap_grace",
        ),
        ("verify", "enabled timeout retries retry_interval"),
    ];
    for (section, names) in keys {
        let body = text.split(&format!("[{section}]\n")).nth(1).expect(section);
        let body = body.split("\n[").next().unwrap_or(body);
        for key in names.split_whitespace() {
            assert!(
                body.lines()
                    .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} ="))),
                "[{section}] {key} is not shown"
            );
        }
    }
    for word in text.split(|c: char| c.is_whitespace() || "\"[],".contains(c)) {
        if let Some((_, domain)) = word.rsplit_once('@') {
            let domain = domain.split(['/', ':', '>']).next().unwrap_or("");
            assert!(domain.ends_with(".test"), "{word}");
        }
    }
}

#[test]
fn defaults_fill_everything_optional() {
    let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.imap.tls, Tls::Tls);
    assert_eq!(c.imap.port, 993);
    assert_eq!(c.imap.auth, Auth::Password);
    assert_eq!(c.imap.mailbox, "INBOX");
    assert_eq!(c.imap.processed_folder, "Processed");
    assert_eq!(c.imap.quarantine_folder, "Quarantine");
    assert!(c.imap.idle);
    assert_eq!(c.imap.poll_interval, Duration::from_secs(60));
    assert_eq!(c.imap.ca_file, None);
    assert_eq!(c.smtp.tls, Tls::StartTls);
    assert_eq!(c.smtp.port, 587);
    assert_eq!(c.smtp.auth, Auth::None);
    assert_eq!(c.smtp.username, None);
    assert_eq!(c.helpdesk.own_domains, Vec::<String>::new());
    // The staff lists have no default: each names its own people.
    for (list, who) in [
        (&c.helpdesk.review_to, "review"),
        (&c.helpdesk.digest_to, "digest"),
        (&c.helpdesk.incident_to, "incident"),
        (&c.helpdesk.billing_to, "billing"),
    ] {
        assert_eq!(list, &vec![format!("{who}@example.test")]);
    }
    assert_eq!(c.helpdesk.stale_rejected_days, 14);
    assert_eq!(c.limits, Limits::default());
    assert_eq!(c.limits.max_message_bytes, 25_000_000);
    assert_eq!(c.limits.max_attempts, 3);
    assert_eq!(c.limits.receipts_per_address_per_hour, 30);
    assert_eq!(c.limits.receipts_per_hour, 300);
    assert_eq!(c.limits.orders_per_sender_per_hour, 20);
    assert_eq!(c.limits.review_mails_per_hour, 30);
    assert_eq!(c.limits.reader_timeout, Duration::from_secs(10));
    assert_eq!(c.limits.reader_memory, 512 * 1024 * 1024);
    assert_eq!(c.limits.max_header_count, 1000);
    assert_eq!(c.limits.max_header_bytes, 1_000_000);
    assert_eq!(c.limits.max_header_field_bytes, 64_000);
    assert_eq!(c.limits.outbox_max_age, Duration::from_secs(3 * 24 * 3600));
    assert_eq!(c.executors.timeout, Duration::from_secs(300));
    assert_eq!(c.executors.webservice, None);
    let r = &c.rules;
    assert_eq!(r.lead_working_days, 5);
    assert_eq!(r.change_window.config_text(), "08:00-15:00");
    assert_eq!(
        r.extra_closed_days,
        vec![
            MonthDay { month: 12, day: 24 },
            MonthDay { month: 12, day: 31 }
        ]
    );
    assert_eq!(r.max_days_ahead, 365);
    assert_eq!(r.security_models, vec!["token", "kontekst"]);
    assert!(r.datatypes.is_empty() && r.trusted_authserv_ids.is_empty());
    assert_eq!(r.trusted_ca_file, None);
    assert_eq!(c.schedule.timezone, chrono_tz::Europe::Copenhagen);
    assert_eq!(c.schedule.digest.source(), "0 0 7 * * Mon-Fri");
    assert_eq!(c.schedule.billing.source(), "0 0 6 1 * *");
    assert_eq!(c.billing.prices.get("sftp"), Some(2500.0));
    assert_eq!(c.billing.prices.get("other"), None);
    assert_eq!(c.billing.currency, "DKK");
    assert_eq!(c.path, Some(PathBuf::from("/etc/spdesk/spdesk.toml")));
}

#[test]
fn wrong_values_name_line_and_key() {
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\ntls = \"ssl\"\n",
            3,
            "[imap] tls",
            "[imap] tls = \"ssl\": must be one of \"none\", \"starttls\", \"tls\"",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\nport = 0\n",
            3,
            "[imap] port",
            "from 1 to 65535",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\nport = 70000\n",
            3,
            "[imap] port",
            "from 1 to 65535",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\nport = \"993\"\n",
            3,
            "[imap] port",
            "port number",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"\"\n",
            2,
            "[imap] host",
            "must not be empty",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\nauth = \"oauth\"\n",
            3,
            "[imap] auth",
            "\"password\", \"xoauth2\"",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\nidle = \"yes\"\n",
            3,
            "[imap] idle",
            "true or false",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\npoll_interval = 60\n",
            3,
            "[imap] poll_interval",
            "with a unit",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\npoll_interval = \"60\"\n",
            3,
            "[imap] poll_interval",
            "needs a unit after 60",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\npoll_interval = \"0s\"\n",
            3,
            "[imap] poll_interval",
            "longer than zero",
        ),
        (
            "host = \"imap.example.test\"\n",
            "host = \"imap.example.test\"\nca_file = \"nope/ca.pem\"\n",
            3,
            "[imap] ca_file",
            "file not found: /etc/spdesk/nope/ca.pem",
        ),
        (
            "from = \"helpdesk@example.test\"",
            "from = \"helpdesk\"",
            8,
            "[smtp] from",
            "must be an e-mail address",
        ),
        (
            "from = \"helpdesk@example.test\"",
            "from = \"helpdesk@example.test\"\ntls = \"TLS\"",
            9,
            "[smtp] tls",
            "must be one of",
        ),
        (
            "from = \"helpdesk@example.test\"",
            "from = \"helpdesk@example.test\"\nauth = \"xoauth\"",
            9,
            "[smtp] auth",
            "\"none\", \"password\", \"xoauth2\"",
        ),
        (
            "url = \"sqlite://var/spdesk.db?mode=rwc\"",
            "url = \"mysql://db.example.test/spdesk\"",
            11,
            "[database] url",
            "must start with \"sqlite:\" (one file on this machine",
        ),
        (
            "address = \"helpdesk@example.test\"",
            "address = \"helpdesk@\"",
            14,
            "[helpdesk] address",
            "plain e-mail address",
        ),
        (
            "digest_to = [\"digest@example.test\"]",
            "digest_to = [\"a@example.test\", \"not an address\"]",
            16,
            "[helpdesk] digest_to",
            "\"not an address\"",
        ),
        (
            "review_to = [\"review@example.test\"]",
            "review_to = []",
            15,
            "[helpdesk] review_to",
            "at least one address",
        ),
        (
            "review_to = [\"review@example.test\"]",
            "review_to = [\"review@example.test\", \"Helpdesk@Example.test\"]",
            15,
            "[helpdesk] review_to",
            "[helpdesk] review_to = \"Helpdesk@Example.test\": is a mailbox spdesk reads itself",
        ),
        (
            "billing_to = [\"billing@example.test\"]\n",
            "",
            13,
            "[helpdesk] billing_to",
            "required key is missing: name the mailboxes of the people who receive the monthly billing CSV",
        ),
        (
            "address = \"helpdesk@example.test\"",
            "address = \"helpdesk@example.test\"\nown_domains = [\"-bad-.test\"]",
            15,
            "[helpdesk] own_domains",
            "domain name",
        ),
        (
            "address = \"helpdesk@example.test\"",
            "address = \"helpdesk@example.test\"\nstale_rejected_days = 0",
            15,
            "[helpdesk] stale_rejected_days",
            "from 1 to",
        ),
        (
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "prices = { webservice = -1.0, sftp = 2500 }",
            21,
            "[billing] prices.webservice",
            "zero or more",
        ),
        (
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "prices = { webservice = 4500.0 }",
            21,
            "[billing] prices.sftp",
            "required key is missing",
        ),
        (
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "prices = { webservice = 4500.0, sftp = 2500, ftp = 1 }",
            21,
            "[billing] prices.ftp",
            "unknown form kind",
        ),
        (
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "prices = { webservice = 4500.0, sftp = 2500 }\ncurrency = \"kr\"",
            22,
            "[billing] currency",
            "ISO 4217",
        ),
        (
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "prices = { webservice = 4500.0, sftp = 2500 }\ncsv = \"excel\"",
            22,
            "[billing] csv",
            "must be one of \"rfc4180\", \"excel-da\"",
        ),
        (
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "prices = 4500",
            21,
            "[billing] prices",
            "must be a table",
        ),
    ];
    for (from, to, line, key, needle) in cases {
        assert_one(&minimal_with(from, to), *line, key, needle);
    }
}

/// The IMAP login is a mailbox the daemon reads too: no staff list may name it.
#[test]
fn a_staff_list_may_not_name_the_mailbox_the_daemon_reads() {
    let text = minimal_with(
        "username = \"helpdesk@example.test\"",
        "username = \"postkasse@example.test\"",
    )
    .replacen(
        "incident_to = [\"incident@example.test\"]",
        "incident_to = [\"POSTKASSE@example.test\"]",
        1,
    );
    assert_one(
        &text,
        17,
        "[helpdesk] incident_to",
        "is a mailbox spdesk reads itself (helpdesk.address or imap.username)",
    );
    // A login that is no address names no mailbox.
    let text = minimal_with(
        "username = \"helpdesk@example.test\"",
        "username = \"helpdesk\"",
    );
    assert!(load(&text).is_ok());
}

#[test]
fn prices_as_their_own_table_find_their_lines() {
    let text = minimal_with(
        "prices = { webservice = 4500.0, sftp = 2500 }",
        "currency = \"DKK\"\n\n[billing.prices]\nwebservice = 4500.0\nsftp = \"free\"",
    );
    assert_one(&text, 25, "[billing] prices.sftp", "zero or more");
}

#[test]
fn rules_limits_and_schedule_values_are_checked() {
    let cases: &[(&str, usize, &str, &str)] = &[
        (
            "[rules]\nchange_window = \"15:00-08:00\"",
            2,
            "[rules] change_window",
            "start before it ends",
        ),
        (
            "[rules]\nchange_window = \"8-15\"",
            2,
            "[rules] change_window",
            "HH:MM-HH:MM",
        ),
        (
            "[rules]\nchange_window = \"08:00-25:00\"",
            2,
            "[rules] change_window",
            "HH:MM-HH:MM",
        ),
        (
            "[rules]\nextra_closed_days = [\"12-24\", \"02-30\"]",
            2,
            "[rules] extra_closed_days",
            "\"02-30\"",
        ),
        (
            "[rules]\nextra_closed_days = [\"24-12\"]",
            2,
            "[rules] extra_closed_days",
            "MM-DD",
        ),
        (
            "[rules]\nlead_working_days = -1",
            2,
            "[rules] lead_working_days",
            "0 to 365",
        ),
        (
            "[rules]\nmax_days_ahead = 0",
            2,
            "[rules] max_days_ahead",
            "from 1 to",
        ),
        (
            "[rules]\nsecurity_models = []",
            2,
            "[rules] security_models",
            "at least one",
        ),
        (
            "[rules]\ndatatypes = [\"a\", 1]",
            2,
            "[rules] datatypes",
            "list of strings",
        ),
        (
            "[rules]\nsystems_file = \"systems.toml\"",
            2,
            "[rules] systems_file",
            "file not found",
        ),
        (
            "[rules]\nbestillings_id_pattern = \"[a-z\"",
            2,
            "[rules] bestillings_id_pattern",
            "regular expression",
        ),
        (
            "[limits]\nmax_message_bytes = \"25 XB\"",
            2,
            "[limits] max_message_bytes",
            "unknown unit \"xb\"",
        ),
        (
            "[limits]\nmax_message_bytes = -5",
            2,
            "[limits] max_message_bytes",
            "negative",
        ),
        (
            "[limits]\nmax_message_bytes = 0",
            2,
            "[limits] max_message_bytes",
            "larger than zero",
        ),
        (
            "[limits]\nmax_attempts = 0",
            2,
            "[limits] max_attempts",
            "from 1 to",
        ),
        (
            "[limits]\nreader_timeout = \"10 parsecs\"",
            2,
            "[limits] reader_timeout",
            "unknown unit",
        ),
        (
            "[limits]\nreader_memory = \"16 MiB\"",
            2,
            "[limits] reader_memory",
            "at least \"64 MiB\"",
        ),
        (
            "[limits]\nmax_header_count = 0",
            2,
            "[limits] max_header_count",
            "from 1 to",
        ),
        (
            "[limits]\nmax_header_bytes = \"1 parsec\"",
            2,
            "[limits] max_header_bytes",
            "unknown unit",
        ),
        (
            "[limits]\nmax_header_field_bytes = 0",
            2,
            "[limits] max_header_field_bytes",
            "larger than zero",
        ),
        (
            "[limits]\noutbox_max_age = \"3\"",
            2,
            "[limits] outbox_max_age",
            "outbox_max_age",
        ),
        (
            "[limits]\noutbox_max_age = 3",
            2,
            "[limits] outbox_max_age",
            "a duration in quotes",
        ),
        (
            "[executors]\nwebservice = \"\"",
            2,
            "[executors] webservice",
            "must not be empty",
        ),
        (
            "[executors]\ntimeout = \"5\"",
            2,
            "[executors] timeout",
            "needs a unit",
        ),
        (
            "[schedule]\ntimezone = \"Europe/Kobenhavn\"",
            2,
            "[schedule] timezone",
            "Europe/Copenhagen",
        ),
        (
            "[schedule]\ndigest = \"0 7 * * Mon-Fri\"",
            2,
            "[schedule] digest",
            "five fields",
        ),
        (
            "[schedule]\nbilling = \"every month\"",
            2,
            "[schedule] billing",
            "not a valid cron",
        ),
    ];
    for (section, line, key, needle) in cases {
        // Sections go first so the line numbers are the case's own.
        let text = format!("{section}\n\n{MINIMAL}");
        assert_one(&text, *line, key, needle);
    }
}

#[test]
fn sizes_durations_and_windows_are_parsed() {
    let text = format!(
        "[limits]\nmax_message_bytes = \"10MiB\"\nmax_docx_unzipped_bytes = 1234\nreader_timeout = \"1500ms\"\n\
         reader_memory = \"1 GiB\"\nmax_header_count = 50\nmax_header_bytes = \"512 kB\"\nmax_header_field_bytes = \"8KiB\"\n\
         [rules]\nchange_window = \"7:30-24:00\"\nextra_closed_days = [\"02-29\"]\nlead_working_days = 0\n\
         [executors]\ntimeout = \"1h 30m\"\nsftp = \"scripts/sftp\"\n\n{MINIMAL}"
    );
    let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.limits.max_message_bytes, 10 * 1024 * 1024);
    assert_eq!(c.limits.reader.max_docx_unzipped_bytes, 1234);
    assert_eq!(c.limits.reader_timeout, Duration::from_millis(1500));
    assert_eq!(c.limits.reader_memory, 1024 * 1024 * 1024);
    assert_eq!(c.limits.max_header_count, 50);
    assert_eq!(c.limits.max_header_bytes, 512_000);
    assert_eq!(c.limits.max_header_field_bytes, 8 * 1024);
    assert_eq!(
        c.rules.change_window.start(),
        NaiveTime::from_hms_opt(7, 30, 0).unwrap()
    );
    assert!(
        c.rules
            .change_window
            .contains(NaiveTime::from_hms_opt(23, 0, 0).unwrap())
    );
    assert!(
        !c.rules
            .change_window
            .contains(NaiveTime::from_hms_opt(7, 29, 0).unwrap())
    );
    assert!(c.rules.extra_closed_days[0].matches(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()));
    assert_eq!(c.rules.lead_working_days, 0);
    assert_eq!(c.executors.timeout, Duration::from_secs(5400));
    assert_eq!(c.executors.sftp.as_deref(), Some("scripts/sftp"));
}

#[test]
fn config_check_says_executors_wait_for_a_person_without_a_register() {
    const NOTICE: &str = "# notice: no it-system register (rules.systems_file)";
    let text = format!("[executors]\nsftp = \"scripts/sftp\"\n\n{MINIMAL}");
    let mut c = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        c.redacted_summary().contains(NOTICE),
        "{}",
        c.redacted_summary()
    );
    c.rules.systems_file = Some(PathBuf::from("/etc/spdesk/systems.csv"));
    assert!(!c.redacted_summary().contains(NOTICE));
    // No command, nothing to say.
    let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.redacted_summary().contains(NOTICE));
}

#[test]
fn every_problem_is_reported_at_once_in_line_order() {
    let text = r#"[imap]
host = ""
tls = "ssl"
port = 0
username = "helpdesk@example.test"
password = "x"
password_env = "X"

[smtp]
host = "smtp.example.test"
from = "nobody"
[rules]
change_window = "16:00-08:00"
"#;
    let err = load(text).unwrap_err();
    let lines: Vec<Option<usize>> = err.problems().iter().map(|p| p.line).collect();
    assert_eq!(
        lines,
        vec![
            Some(2),
            Some(3),
            Some(4),
            Some(7),
            Some(11),
            Some(13),
            None,
            None,
            None
        ],
        "{err}"
    );
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 9, "{shown}");
    assert!(
        shown.contains("/etc/spdesk/spdesk.toml:3: [imap] tls = \"ssl\": must be one of"),
        "{shown}"
    );
    assert!(
        shown.contains("/etc/spdesk/spdesk.toml: [database]: section is missing"),
        "{shown}"
    );
    assert!(
        shown.contains("[imap] password_env = \"X\": password is already set"),
        "{shown}"
    );
}

#[test]
fn unknown_keys_and_sections_are_errors_with_lines() {
    let text = minimal_with(
        "host = \"smtp.example.test\"",
        "host = \"smtp.example.test\"\nhots = \"x\"\nfrobnicate = 1",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!((p[0].line, p[0].key.as_str()), (Some(8), "[smtp] hots"));
    assert!(p[0].message.contains("did you mean host?"), "{}", p[0]);
    assert_eq!(
        (p[1].line, p[1].key.as_str()),
        (Some(9), "[smtp] frobnicate")
    );
    assert!(
        p[1].message
            .contains("the keys of [smtp] are host, tls, port"),
        "{}",
        p[1]
    );

    let text = format!("{MINIMAL}\n[limit]\nmax_attempts = 5\n");
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!((p[0].line, p[0].key.as_str()), (Some(23), "[limit]"));
    assert!(p[0].message.contains("did you mean [limits]?"), "{}", p[0]);

    let text = format!("debug = true\n{MINIMAL}");
    let p = problems(&text);
    assert_eq!((p[0].line, p[0].key.as_str()), (Some(1), "debug"));
    assert!(p[0].message.contains("belongs in a section"), "{}", p[0]);

    let text = format!("limits = 5\n{MINIMAL}");
    let p = problems(&text);
    assert_eq!((p[0].line, p[0].key.as_str()), (Some(1), "[limits]"));
    assert!(p[0].message.contains("must be a section"), "{}", p[0]);
}

#[test]
fn syntax_errors_give_their_line() {
    let text = minimal_with(
        "from = \"helpdesk@example.test\"",
        "from = \"helpdesk@example.test",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].line, Some(8));
    assert!(
        p[0].to_string()
            .starts_with("/etc/spdesk/spdesk.toml:8: invalid TOML:"),
        "{}",
        p[0]
    );

    let dup = minimal_with("[smtp]\n", "[smtp]\nhost = \"a\"\n");
    assert_eq!(problems(&dup)[0].line, Some(8), "{:?}", problems(&dup));

    // Odd but valid TOML must not trip the reader up.
    for text in [
        "when = 1979-05-27T07:32:00Z\n",
        "[[imap]]\nhost = \"x\"\n",
        "imap.host = \"x\"\n",
        "",
    ] {
        assert!(load(text).is_err());
    }
}

#[test]
fn secret_sources_must_fit_auth() {
    // No source.
    let text = minimal_with("password = \"hunter2-xyz\"\n", "auth = \"password\"\n");
    assert_one(
        &text,
        4,
        "[imap] auth",
        "needs one of password, password_file, password_env",
    );
    // A token source under password auth.
    let text = minimal_with(
        "password = \"hunter2-xyz\"",
        "password = \"p\"\noauth_token_command = \"get-token\"",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        p[0].to_string(),
        "/etc/spdesk/spdesk.toml:5: [imap] oauth_token_command = \"***\": is only used with auth = \"xoauth2\": set auth, or use password, password_file or password_env"
    );
    // xoauth2 with a token file.
    let text = minimal_with(
        "password = \"hunter2-xyz\"",
        "auth = \"xoauth2\"\noauth_token_file = \"token\"",
    );
    let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.imap.secret,
        Secret::OAuthTokenFile(PathBuf::from("/etc/spdesk/token"))
    );
    // xoauth2 with a password.
    let text = minimal_with(
        "password = \"hunter2-xyz\"",
        "auth = \"xoauth2\"\npassword = \"hunter2-xyz\"",
    );
    let shown = load(&text).unwrap_err().to_string();
    assert!(
        shown.contains(":5: [imap] password = \"***\": is only used with auth = \"password\""),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    // SMTP without auth but with credentials.
    let text = minimal_with(
        "from = \"helpdesk@example.test\"",
        "from = \"helpdesk@example.test\"\nusername = \"u\"\npassword_env = \"P\"",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].message.contains("only used when auth is"), "{}", p[0]);
    assert!(
        p[1].message
            .contains("auth = \"none\" sends no credentials"),
        "{}",
        p[1]
    );
    // SMTP with password auth needs a user name and a source.
    let text = minimal_with(
        "from = \"helpdesk@example.test\"",
        "from = \"helpdesk@example.test\"\nauth = \"password\"",
    );
    let p = problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!((p[0].line, p[0].key.as_str()), (Some(6), "[smtp] username"));
    assert_eq!((p[1].line, p[1].key.as_str()), (Some(9), "[smtp] auth"));
    // ... and with both it loads.
    let text = minimal_with(
        "from = \"helpdesk@example.test\"",
        "from = \"helpdesk@example.test\"\nauth = \"password\"\nusername = \"u\"\npassword_env = \"SPDESK_SMTP\"",
    );
    let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.smtp.secret,
        Some(Secret::PasswordEnv("SPDESK_SMTP".into()))
    );
    assert_eq!(c.smtp.username.as_deref(), Some("u"));
    // A password of the wrong type is not shown either.
    let text = minimal_with("password = \"hunter2-xyz\"", "password = 12345678");
    let shown = load(&text).unwrap_err().to_string();
    assert!(
        shown.contains("[imap] password = \"***\": must be a string"),
        "{shown}"
    );
}

#[test]
fn missing_required_keys_point_at_their_section() {
    let text = minimal_with("username = \"helpdesk@example.test\"\n", "");
    assert_one(
        &text,
        1,
        "[imap] username",
        "required key is missing: add username =",
    );
    let text = minimal_with(
        "prices = { webservice = 4500.0, sftp = 2500 }",
        "currency = \"DKK\"",
    );
    assert_one(&text, 20, "[billing] prices", "add prices = {");
}

#[test]
fn secrets_are_redacted_in_debug_and_summary() {
    let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("Password(***)"), "{debug}");
    let summary = c.redacted_summary();
    assert!(!summary.contains("hunter2"), "{summary}");
    assert!(summary.contains("password = \"***\""), "{summary}");
    assert!(
        summary.contains("url = \"sqlite:///etc/spdesk/var/spdesk.db?mode=rwc\""),
        "{summary}"
    );
    assert_eq!(
        format!(
            "{:?}",
            Secret::OAuthTokenCommand("az --secret s3cr3t".into())
        ),
        "OAuthTokenCommand(***)"
    );
}

/// A PostgreSQL URL is taken with its password hidden everywhere; what would keep spdesk from
/// using one is explained by `config check` instead of the daemon failing at start.
#[test]
fn postgres_urls_are_checked_and_their_password_never_shown() {
    let with =
        |url: &str| load(&minimal_with("sqlite://var/spdesk.db?mode=rwc", url)).map(|c| c.database);
    let d = with("postgres://spdesk:pg-s3cr3t@db.example.test:5432/spdesk?sslmode=verify-full")
        .unwrap();
    assert_eq!(d.sqlite_path(), None);
    assert_eq!(d.secret, None);
    assert!(!format!("{d:?}").contains("pg-s3cr3t"));
    assert_eq!(
        d.redacted_url(),
        "postgres://spdesk:***@db.example.test:5432/spdesk?sslmode=verify-full"
    );
    assert_eq!(d.lease_timeout, Duration::from_secs(30));
    for (url, why) in [
        (
            "postgres://db.example.test/spdesk",
            "names no user to log in as",
        ),
        ("postgres://spdesk@/spdesk", "empty host"),
        ("postgres://spdesk@db.example.test", "names no database"),
        (
            "postgres://spdesk@db.example.test/spdesk?sslmode=on",
            "sslmode=on is not a TLS mode",
        ),
        (
            "postgres://spdesk@db.example.test/spdesk?ssl=true",
            "has the parameter \"ssl\"",
        ),
        (
            "postgres://spdesk@db.example.test/spdesk?sslrootcert=nope.pem",
            "sslrootcert=nope.pem: file not found",
        ),
        (
            "postgres://spdesk:pg-s3cr3t@db.example.test:99999/spdesk",
            "is not a URL",
        ),
    ] {
        let err = with(url).unwrap_err().to_string();
        assert!(err.contains(why), "{url}: {err}");
        assert!(!err.contains("pg-s3cr3t"), "{err}");
    }
}

/// PostgreSQL's password comes from a file or a variable, read when connecting; SQLite takes
/// none.
#[test]
fn the_postgres_password_comes_from_a_file_or_a_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pw"), "p@ss/word\n").unwrap();
    let text = minimal_with(
        "url = \"sqlite://var/spdesk.db?mode=rwc\"",
        "url = \"postgres://spdesk@db.example.test/spdesk\"\npassword_file = \"pg.pw\"\nlease_timeout = \"5s\"",
    );
    let c = Config::from_str(&text, Some(&dir.path().join("spdesk.toml"))).unwrap();
    assert_eq!(c.database.lease_timeout, Duration::from_secs(5));
    assert_eq!(
        c.database.connect_url().unwrap(),
        "postgres://spdesk:p%40ss%2Fword@db.example.test/spdesk"
    );
    assert!(!c.redacted_summary().contains("p@ss"));
    let both = minimal_with(
        "url = \"sqlite://var/spdesk.db?mode=rwc\"",
        "url = \"postgres://spdesk:x@db.example.test/spdesk\"\npassword_env = \"PGPW\"",
    );
    let err = Config::from_str(&both, None).unwrap_err().to_string();
    assert!(
        err.contains("holds a password and password_file/password_env gives another"),
        "{err}"
    );
    let sqlite = minimal_with(
        "url = \"sqlite://var/spdesk.db?mode=rwc\"",
        "url = \"sqlite://var/spdesk.db?mode=rwc\"\npassword_env = \"PGPW\"",
    );
    let err = Config::from_str(&sqlite, None).unwrap_err().to_string();
    assert!(err.contains("is only used with a postgres:// url"), "{err}");
}

/// The config keeps the calendar's own types, read by the calendar's parsers: what the rules
/// get is what the file says, in either of the forms the calendar reads.
#[test]
fn the_change_window_and_closed_days_read_as_the_calendar_reads_them() {
    let text = format!(
        "[rules]\nchange_window = \"8.30–16.00\"\nextra_closed_days = [\"1-2\", \"12-24\"]\n\n{MINIMAL}"
    );
    let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let window: ChangeWindow = "08:30-16:00".parse().unwrap();
    assert_eq!(c.rules.change_window, window);
    assert_eq!(
        c.rules.extra_closed_days,
        vec![
            MonthDay { month: 1, day: 2 },
            MonthDay { month: 12, day: 24 }
        ]
    );
    assert!(
        c.redacted_summary().contains(
            "change_window = \"08:30-16:00\"\nextra_closed_days = [\"01-02\", \"12-24\"]"
        )
    );
}

#[test]
fn summary_is_toml_that_loads_to_the_same_config() {
    let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    let again =
        load(&c.redacted_summary()).unwrap_or_else(|e| panic!("{e}\n{}", c.redacted_summary()));
    assert_eq!(again.limits, c.limits);
    assert_eq!(again.rules, c.rules);
    assert_eq!(again.helpdesk, c.helpdesk);
    assert_eq!(again.executors, c.executors);
    assert_eq!(again.billing, c.billing);
    assert_eq!(again.database, c.database);
    assert_eq!(again.imap.port, c.imap.port);
    assert_eq!(again.schedule.digest.source(), c.schedule.digest.source());
    let check = c.check_config().redacted_summary();
    assert!(
        check.contains("[rules]") && check.contains("[limits]") && !check.contains("[imap]"),
        "{check}"
    );
}

#[test]
fn check_reads_only_rules_and_limits() {
    let only = "[limits]\nmax_attempts = 5\n[rules]\nlead_working_days = 3\n";
    let c = Config::from_str_for_check(only, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.limits.max_attempts, 5);
    assert_eq!(c.rules.lead_working_days, 3);
    // The daemon needs more.
    let err = Config::from_str(only, None).unwrap_err().to_string();
    for section in ["[imap]", "[smtp]", "[database]", "[helpdesk]", "[billing]"] {
        assert!(
            err.contains(&format!("<config>: {section}: section is missing")),
            "{err}"
        );
    }
    // Broken or unknown daemon sections do not matter to check; its own sections do.
    let text = format!("[imap]\ntls = \"ssl\"\n[whatever]\nx = 1\n{only}");
    assert!(Config::from_str_for_check(&text, None).is_ok());
    let err = Config::from_str_for_check("[rules]\nlead_working_dayz = 3\n", None).unwrap_err();
    assert_eq!(err.problems()[0].key, "[rules] lead_working_dayz");
    assert!(Config::from_str_for_check("[rules\n", None).is_err());
    // An empty file is the defaults.
    let c = Config::from_str_for_check("", None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.rules, CheckConfig::default().rules);
    assert_eq!(c.limits, Limits::default());
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::write(dir.path().join("certs/ca.pem"), "pem").unwrap();
    std::fs::write(dir.path().join("systems.toml"), "").unwrap();
    std::fs::write(dir.path().join("imap-password"), "from-file\n").unwrap();
    let text = minimal_with(
        "password = \"hunter2-xyz\"",
        "password_file = \"imap-password\"\nca_file = \"certs/ca.pem\"",
    ) + "[rules]\nsystems_file = \"systems.toml\"\ntrusted_ca_file = \"/nonexistent/cas.pem\"\nknown_orders_file = \"certs\"\n";
    let path = dir.path().join("spdesk.toml");
    std::fs::write(&path, &text).unwrap();
    let err = Config::load(&path).unwrap_err();
    let p = err.problems();
    assert_eq!(p.len(), 2, "{err}");
    assert_eq!(
        (p[0].line, p[0].key.as_str()),
        (Some(25), "[rules] trusted_ca_file")
    );
    assert!(
        p[0].message
            .starts_with("file not found: /nonexistent/cas.pem"),
        "{}",
        p[0]
    );
    assert!(p[1].message.starts_with("is not a file"), "{}", p[1]);
    assert_eq!(p[1].file.as_deref(), Some(path.as_path()));

    std::fs::write(
        &path,
        text.replace(
            "trusted_ca_file = \"/nonexistent/cas.pem\"\nknown_orders_file = \"certs\"\n",
            "",
        ),
    )
    .unwrap();
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let base = std::path::absolute(dir.path()).unwrap();
    assert_eq!(c.imap.ca_file, Some(base.join("certs/ca.pem")));
    assert_eq!(c.rules.systems_file, Some(base.join("systems.toml")));
    assert_eq!(
        c.imap.secret,
        Secret::PasswordFile(base.join("imap-password"))
    );
    assert_eq!(c.imap.secret.resolve().unwrap(), "from-file");
    assert_eq!(c.database.sqlite_path(), Some(base.join("var/spdesk.db")));
    let check = Config::load_for_check(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check.rules.systems_file, Some(base.join("systems.toml")));

    let missing = Config::load(&dir.path().join("absent.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
    assert!(
        missing
            .to_string()
            .contains("absent.toml: cannot read the config file"),
        "{missing}"
    );
}

#[test]
fn sqlite_urls() {
    let with =
        |url: &str| load(&minimal_with("sqlite://var/spdesk.db?mode=rwc", url)).map(|c| c.database);
    let d = with("sqlite:/var/lib/spdesk/spdesk.db").unwrap();
    assert_eq!(d.url, "sqlite:/var/lib/spdesk/spdesk.db");
    assert_eq!(
        d.sqlite_path(),
        Some(PathBuf::from("/var/lib/spdesk/spdesk.db"))
    );
    assert_eq!(with("sqlite::memory:").unwrap().sqlite_path(), None);
    assert_eq!(with("sqlite://?mode=memory").unwrap().sqlite_path(), None);
    let d = with("sqlite:spdesk.db").unwrap();
    assert_eq!(d.url, "sqlite:///etc/spdesk/spdesk.db");
    let d = Config::from_str(
        &minimal_with("sqlite://var/spdesk.db?mode=rwc", "sqlite://a%3Fb.db"),
        Some(Path::new("/x 1/100%/c.toml")),
    )
    .unwrap()
    .database;
    assert_eq!(d.url, "sqlite:///x 1/100%25/a%3Fb.db");
    assert_eq!(d.sqlite_path(), Some(PathBuf::from("/x 1/100%/a?b.db")));
    assert!(with("sqlite").is_err());
}

#[test]
fn secrets_resolve_at_use_time() {
    assert_eq!(Secret::Password("p".into()).resolve().unwrap(), "p");
    let path = std::env::var("PATH").unwrap();
    assert_eq!(Secret::PasswordEnv("PATH".into()).resolve().unwrap(), path);
    let err = Secret::PasswordEnv("SPDESK_SURELY_UNSET_7f3a".into())
        .resolve()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("password_env: environment variable SPDESK_SURELY_UNSET_7f3a is not set"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token");
    std::fs::write(&f, "tok-123\r\nsecond line\n").unwrap();
    assert_eq!(
        Secret::OAuthTokenFile(f.clone()).resolve().unwrap(),
        "tok-123"
    );
    std::fs::write(&f, "\n").unwrap();
    assert!(
        Secret::PasswordFile(f.clone())
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("is empty")
    );
    assert!(
        Secret::PasswordFile(dir.path().join("none"))
            .resolve()
            .is_err()
    );
    assert_eq!(
        Secret::OAuthTokenCommand("printf 'tok-456\\n'".into())
            .resolve()
            .unwrap(),
        "tok-456"
    );
    let err = Secret::OAuthTokenCommand("exit 3".into())
        .resolve()
        .unwrap_err();
    assert!(err.to_string().contains("failed"), "{err}");
    let started = Instant::now();
    let err = Secret::OAuthTokenCommand("sleep 5".into())
        .resolve_with_timeout(Duration::from_millis(200))
        .unwrap_err();
    assert!(
        err.to_string().contains("did not finish within 200ms"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn config_lookup_order() {
    let yes = |_: &Path| true;
    let no = |_: &Path| false;
    let cli = Path::new("/a/cli.toml");
    assert_eq!(
        locate_with(Some(cli), Some("/b/env.toml".into()), yes),
        Some(cli.to_path_buf())
    );
    assert_eq!(
        locate_with(None, Some("/b/env.toml".into()), yes),
        Some(PathBuf::from("/b/env.toml"))
    );
    assert_eq!(
        locate_with(None, Some("".into()), yes),
        Some(PathBuf::from(DEFAULT_PATH))
    );
    assert_eq!(
        locate_with(None, None, yes),
        Some(PathBuf::from(DEFAULT_PATH))
    );
    assert_eq!(locate_with(None, None, no), None);
}

#[test]
fn duration_parsing_edges() {
    let ok = |s: &str| parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(ok("60s"), Duration::from_secs(60));
    assert_eq!(ok("5m"), Duration::from_secs(300));
    assert_eq!(ok("1h"), Duration::from_secs(3600));
    assert_eq!(ok("500ms"), Duration::from_millis(500));
    assert_eq!(ok(" 1h30m "), Duration::from_secs(5400));
    assert_eq!(ok("2 days"), Duration::from_secs(172_800));
    assert_eq!(ok("10 S"), Duration::from_secs(10));
    assert_eq!(ok("0s"), Duration::ZERO);
    // humantime's syntax: fractions and a few more unit spellings.
    assert_eq!(ok("1.5s"), Duration::from_millis(1500));
    assert_eq!(ok("2 hrs"), Duration::from_secs(7200));
    for bad in [
        "",
        "60",
        "s",
        "500us",
        "1.5",
        "-1s",
        "5 fortnights",
        "1h x",
        "99999999999999999999s",
        "3661d",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    for (d, s) in [
        (0, "0ms"),
        (1500, "1500ms"),
        (60_000, "1m"),
        (90_000, "90s"),
        (3_600_000, "1h"),
        (86_400_000, "1d"),
    ] {
        assert_eq!(format_duration(Duration::from_millis(d)), s);
        assert_eq!(parse_duration(s).unwrap(), Duration::from_millis(d));
    }
}

#[test]
fn size_parsing_edges() {
    let ok = |s: &str| parse_size(s).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(ok("25 MB"), 25_000_000);
    assert_eq!(ok("25MB"), 25_000_000);
    assert_eq!(ok("25MiB"), 25 * 1024 * 1024);
    assert_eq!(ok("512 kB"), 512_000);
    assert_eq!(ok("4 KiB"), 4096);
    assert_eq!(ok("1GiB"), 1 << 30);
    assert_eq!(ok("100"), 100);
    assert_eq!(ok("100 B"), 100);
    // bytesize reads decimals too.
    assert_eq!(ok("1.5 MB"), 1_500_000);
    for bad in [
        "",
        "MB",
        "1.5",
        "20 EB",
        "-1",
        "25 XB",
        "99999999999 GB",
        "18446744073709551616",
    ] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
}

#[test]
fn helpers() {
    assert!(is_plain_address("helpdesk@example.test"));
    assert!(is_plain_address("a.b+c@sub.example.test"));
    for bad in [
        "",
        "@example.test",
        "a@",
        "a b@example.test",
        "a@exa mple.test",
        "a@-x.test",
        "a..b@x.test",
        "a@x..test",
    ] {
        assert!(!is_plain_address(bad), "{bad}");
    }
    assert!(is_mailbox(
        "Serviceplatformens Helpdesk <helpdesk@example.test>"
    ));
    assert!(!is_mailbox("Helpdesk <helpdesk>"));
    assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(
        redact_url("postgres://u:p@ss@h/db?x=1"),
        "postgres://u:***@h/db?x=1"
    );
    assert_eq!(redact_url("sqlite://var/x.db"), "sqlite://var/x.db");
    assert_eq!(line_of_offset("a\nb\nc", 2), Some(2));
    assert_eq!(line_of_offset("a\nb", 99), Some(2));
    assert_eq!(line_of_offset("æ", 1), None);
    let text = "[a]\nk = 1\n[b]\n  k=2\n\"q\" = 3\n[b.c]\nk = 4\n";
    assert_eq!(find_key_line(text, "a", "k"), Some(2));
    assert_eq!(find_key_line(text, "b", "k"), Some(4));
    assert_eq!(find_key_line(text, "b", "q"), Some(5));
    assert_eq!(find_key_line(text, "b.c", "k"), Some(7));
    assert_eq!(find_key_line(text, "a", "kk"), None);
    assert_eq!(find_section_line(text, "b.c"), Some(6));
    assert_eq!(suggest("hots", &["host", "port"]), Some("host"));
    assert_eq!(suggest("zzzzzz", &["host", "port"]), None);
    assert_eq!(suggest("prot", &["host", "port"]), Some("port"));
    assert_eq!("12-24".parse(), Ok(MonthDay { month: 12, day: 24 }));
    assert!("13-01".parse::<MonthDay>().is_err());
    // One digit each is the calendar's syntax too.
    assert_eq!("1-1".parse(), Ok(MonthDay { month: 1, day: 1 }));
    assert_eq!(MonthDay { month: 2, day: 3 }.to_string(), "02-03");
}

#[test]
fn web_is_off_without_listen_and_filled_in_with_it() {
    assert_eq!(load(MINIMAL).unwrap_or_else(|e| panic!("{e}")).web, None);
    let text = format!("{MINIMAL}\n[web]\nlisten = \"127.0.0.1:8480\"\n");
    let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let w = c.web.clone().expect("[web] with listen");
    assert_eq!(w.listen, "127.0.0.1:8480".parse().unwrap());
    assert_eq!(w.session_hours, 8);
    assert!(!w.metrics);
    assert_eq!(w.health_imap_grace, Duration::from_secs(300));
    assert!(w.trusted_proxies.is_empty());
    let summary = c.redacted_summary();
    assert!(
        summary.contains("[web]\nlisten = \"127.0.0.1:8480\"\n"),
        "{summary}"
    );
    assert!(summary.contains("metrics = false"), "{summary}");
    let off = load(MINIMAL)
        .unwrap_or_else(|e| panic!("{e}"))
        .redacted_summary();
    assert!(off.contains("# listen: not set (no web console"), "{off}");
}

#[test]
fn web_keys_are_read() {
    let text = format!(
        "{MINIMAL}\n[web]\nlisten = \"[::1]:9000\"\npublic_url = \"https://helpdesk.example.test\"\n\
         session_hours = 12\ntrusted_proxy_header = \"X-Remote-User\"\n\
         trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"fd00::/8\"]\nmetrics = true\n\
         health_imap_grace = \"2s\"\n"
    );
    let w = load(&text)
        .unwrap_or_else(|e| panic!("{e}"))
        .web
        .expect("web");
    assert_eq!(w.listen, "[::1]:9000".parse().unwrap());
    assert_eq!(
        w.public_url.as_deref(),
        Some("https://helpdesk.example.test")
    );
    assert_eq!(w.session_hours, 12);
    assert_eq!(w.trusted_proxy_header.as_deref(), Some("X-Remote-User"));
    assert!(w.metrics);
    assert_eq!(w.health_imap_grace, Duration::from_secs(2));
    let nets: Vec<String> = w.trusted_proxies.iter().map(|n| n.to_string()).collect();
    assert_eq!(nets, ["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]);
    assert!(w.trusted_proxies[1].contains("10.9.8.7".parse().unwrap()));
    assert!(!w.trusted_proxies[1].contains("11.0.0.1".parse().unwrap()));
    assert!(!w.trusted_proxies[0].contains("::1".parse().unwrap()));
}

#[test]
fn wrong_web_values_name_line_and_key() {
    let base = MINIMAL.lines().count() + 3;
    let cases = [
        (
            "listen = \"localhost\"",
            "[web] listen",
            "IP address and a port",
        ),
        (
            "listen = \"127.0.0.1\"",
            "[web] listen",
            "IP address and a port",
        ),
        (
            "public_url = \"ftp://x.example.test\"",
            "[web] public_url",
            "http:// or https://",
        ),
        (
            "public_url = \"helpdesk\"",
            "[web] public_url",
            "http:// or https://",
        ),
        ("session_hours = 0", "[web] session_hours", "from 1 to 168"),
        (
            "session_hours = 169",
            "[web] session_hours",
            "from 1 to 168",
        ),
        (
            "trusted_proxies = [\"10.0.0.0/33\"]",
            "[web] trusted_proxies",
            "CIDR",
        ),
        (
            "trusted_proxies = [\"proxy.example.test\"]",
            "[web] trusted_proxies",
            "CIDR",
        ),
        ("metrics = \"yes\"", "[web] metrics", "true or false"),
        (
            "health_imap_grace = \"soon\"",
            "[web] health_imap_grace",
            "",
        ),
        ("listen_on = \"127.0.0.1:1\"", "[web] listen_on", "unknown"),
    ];
    for (line, key, needle) in cases {
        let text = format!("{MINIMAL}\n[web]\nlisten = \"127.0.0.1:8480\"\n{line}\n");
        let text = if line.starts_with("listen =") {
            format!("{MINIMAL}\n[web]\n{line}\n")
        } else {
            text
        };
        let at = if line.starts_with("listen =") {
            base
        } else {
            base + 1
        };
        assert_one(&text, at, key, needle);
    }
}

#[test]
fn web_tls_needs_a_certificate_and_its_key_in_pem() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let cert = dir.path().join("web.crt");
    let key = dir.path().join("web.key");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&cert, ck.cert.pem()).expect("write");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write");
    std::fs::write(&junk, "not pem").expect("write");
    let with = |extra: &str| format!("{MINIMAL}\n[web]\nlisten = \"127.0.0.1:8480\"\n{extra}\n");
    let both = with(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        cert.display(),
        key.display()
    ));
    let w = load(&both)
        .unwrap_or_else(|e| panic!("{e}"))
        .web
        .expect("web");
    let tls = w.tls.expect("tls");
    assert_eq!((tls.cert, tls.key), (cert.clone(), key.clone()));
    let gone = problems(&with(
        "tls_cert = \"/nonexistent/web.crt\"\ntls_key = \"/nonexistent/web.key\"",
    ));
    assert_eq!(gone.len(), 2, "{gone:#?}");
    assert!(
        gone.iter()
            .all(|p| p.to_string().contains("file not found")),
        "{gone:#?}"
    );
    let only_cert = problems(&with(&format!("tls_cert = \"{}\"", cert.display())));
    assert_eq!(only_cert.len(), 1, "{only_cert:#?}");
    assert_eq!(only_cert[0].key, "[web] tls_key");
    assert!(
        only_cert[0]
            .to_string()
            .contains("tls_cert needs its private key")
    );
    let only_key = problems(&with(&format!("tls_key = \"{}\"", key.display())));
    assert_eq!(only_key[0].key, "[web] tls_cert", "{only_key:#?}");
    let swapped = problems(&with(&format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"",
        junk.display(),
        cert.display()
    )));
    let shown: Vec<String> = swapped.iter().map(|p| p.to_string()).collect();
    assert!(
        shown
            .iter()
            .any(|p| p.contains("tls_cert") && p.contains("must be a PEM certificate")),
        "{shown:#?}"
    );
    assert!(
        shown
            .iter()
            .any(|p| p.contains("tls_key") && p.contains("must be a PEM private key")),
        "{shown:#?}"
    );
}

#[test]
fn verify_keys_are_read_with_their_defaults() {
    let d = load(MINIMAL).unwrap_or_else(|e| panic!("{e}")).verify;
    assert_eq!(d, crate::config::Verify::default());
    assert!(d.enabled);
    assert_eq!(d.timeout, Duration::from_secs(10));
    let text = format!(
        "{MINIMAL}\n[verify]\nenabled = false\ntimeout = \"3s\"\nretries = 5\nretry_interval = \"2m\"\n"
    );
    let v = load(&text).unwrap_or_else(|e| panic!("{e}")).verify;
    assert!(!v.enabled);
    assert_eq!(v.timeout, Duration::from_secs(3));
    assert_eq!(v.retries, 5);
    assert_eq!(v.retry_interval, Duration::from_secs(120));
    let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let summary = c.redacted_summary();
    assert!(
        summary.contains("[verify]\nenabled = false\ntimeout = \"3s\"\nretries = 5\n"),
        "{summary}"
    );
    assert_eq!(load(&summary).unwrap_or_else(|e| panic!("{e}")).verify, v);
    let base = MINIMAL.lines().count() + 3;
    for (line, key, needle) in [
        ("retries = 21", "[verify] retries", "from 0 to 20"),
        ("timeout = \"0s\"", "[verify] timeout", "longer than zero"),
        ("enabled = \"yes\"", "[verify] enabled", "true or false"),
        ("retry = 2", "[verify] retry", "retries"),
    ] {
        assert_one(&format!("{MINIMAL}\n[verify]\n{line}\n"), base, key, needle);
    }
}
