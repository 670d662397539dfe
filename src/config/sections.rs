//! The section readers: each reads every key it knows (so the rest are unknown), reports
//! problems, and returns the section when its required keys are there.

use std::time::Duration;

use crate::forms::raw::ReadLimits;
use crate::mail::header_value::{Address, is_domain};
use crate::mail::spam::{SpamHeaders, SpamTest};
use crate::rules::calendar::{ChangeWindow, MonthDay};

use crate::schedule::billing::CsvDialect;

use super::reader::{Cx, Sect, find_key_line, first_line, show_value, toml_str};
use super::types::{
    Auth, Billing, Executors, Helpdesk, Imap, Limits, Prices, RulesConfig, Schedule, Smtp, Tls,
};

pub(super) fn read_imap(s: &mut Sect) -> Option<Imap> {
    let host = s.required_text("host", "host = \"imap.example.test\"");
    let tls = s
        .choice("tls", &["none", "starttls", "tls"])
        .and_then(|v| Tls::parse(&v));
    let tls = tls.unwrap_or(Tls::Tls);
    let port = s.port("port").unwrap_or(tls.default_imap_port());
    let ca_file = s.existing_file("ca_file");
    let username = s.required_text("username", "username = \"helpdesk@example.test\"");
    let auth = s
        .choice("auth", &["password", "xoauth2"])
        .and_then(|v| Auth::parse(&v));
    let auth = auth.unwrap_or(Auth::Password);
    let keys = s.secret_keys();
    let secret = s.pick_secret(keys, auth);
    let mailbox = s.optional_text("mailbox").unwrap_or_else(|| "INBOX".into());
    let processed_folder = s
        .optional_text("processed_folder")
        .unwrap_or_else(|| "Processed".into());
    let quarantine_folder = s
        .optional_text("quarantine_folder")
        .unwrap_or_else(|| "Quarantine".into());
    let idle = s.boolean("idle").unwrap_or(true);
    let poll_interval = s
        .duration("poll_interval")
        .unwrap_or(Duration::from_secs(60));
    Some(Imap {
        host: host?,
        port,
        tls,
        ca_file,
        username: username?,
        auth,
        secret: secret?,
        mailbox,
        processed_folder,
        quarantine_folder,
        idle,
        poll_interval,
    })
}

pub(super) fn read_smtp(s: &mut Sect) -> Option<Smtp> {
    let host = s.required_text("host", "host = \"smtp.example.test\"");
    let tls = s
        .choice("tls", &["none", "starttls", "tls"])
        .and_then(|v| Tls::parse(&v));
    let tls = tls.unwrap_or(Tls::StartTls);
    let port = s.port("port").unwrap_or(tls.default_smtp_port());
    let ca_file = s.existing_file("ca_file");
    let auth = s
        .choice("auth", &["none", "password", "xoauth2"])
        .and_then(|v| Auth::parse(&v));
    let auth = auth.unwrap_or(Auth::None);
    let username = match s.string("username") {
        Some((u, line)) if auth == Auth::None => {
            let v = toml_str(&u);
            s.problem_at("username", Some(v), line, "is only used when auth is \"password\" or \"xoauth2\": set auth, or remove username");
            None
        }
        Some((u, line)) if u.trim().is_empty() => {
            s.problem_at("username", Some(toml_str(&u)), line, "must not be empty");
            None
        }
        Some((u, _)) => Some(u),
        None if auth != Auth::None => {
            s.missing(
                "username",
                &format!(
                    "auth = \"{}\" needs it: add username = \"helpdesk@example.test\"",
                    auth.as_str()
                ),
            );
            None
        }
        None => None,
    };
    let keys = s.secret_keys();
    let secret = s.pick_secret(keys, auth);
    let from = s.required_text("from", "from = \"helpdesk@example.test\"");
    if let Some(f) = &from
        && !is_mailbox(f)
    {
        s.problem("from", Some(toml_str(f)), "must be an e-mail address, e.g. \"helpdesk@example.test\" or \"Helpdesk <helpdesk@example.test>\"");
    }
    let secret = if auth == Auth::None {
        None
    } else {
        Some(secret?)
    };
    Some(Smtp {
        host: host?,
        port,
        tls,
        ca_file,
        auth,
        username,
        secret,
        from: from?,
    })
}

/// The mailboxes the daemon reads besides `helpdesk.address`: the IMAP login, when it is an
/// address.
pub(super) fn daemon_reads(imap: Option<&super::types::Imap>) -> Vec<String> {
    imap.map(|i| i.username.clone())
        .filter(|u| u.contains('@'))
        .into_iter()
        .collect()
}

/// Who reads each staff list, for the problem's text.
fn staff_role(key: &str) -> &'static str {
    match key {
        "review_to" => "the people who decide orders that need a person",
        "digest_to" => "the people who read the daily digest",
        "incident_to" => "the incident process (who is told when a change fails)",
        _ => "the people who receive the monthly billing CSV",
    }
}

/// A staff recipient list (`review_to`, …): required, not empty, and never an address the
/// daemon reads (`read`: helpdesk.address and the IMAP login): mail there is filed by the
/// daemon as its own and no person ever sees it.
fn staff_recipients(s: &mut Sect, key: &'static str, read: &[String]) -> Option<Vec<String>> {
    let Some(list) = s.addresses(key) else {
        if !s.has(key) {
            s.missing(
                key,
                &format!(
                    "name the mailboxes of {}, e.g. {key} = [\"person@example.test\"]; not helpdesk.address, which spdesk reads itself",
                    staff_role(key)
                ),
            );
        }
        return None;
    };
    let own: Vec<&String> = list
        .iter()
        .filter(|a| read.iter().any(|r| r.trim().eq_ignore_ascii_case(a.trim())))
        .collect();
    if let Some(a) = own.first() {
        s.problem(
            key,
            Some(toml_str(a)),
            &format!(
                "is a mailbox spdesk reads itself (helpdesk.address or imap.username): spdesk files its own mail there unread, so no person would see it; name the mailboxes of {} instead",
                staff_role(key)
            ),
        );
        return None;
    }
    Some(list)
}

pub(super) fn read_helpdesk(s: &mut Sect, daemon_reads: &[String]) -> Option<Helpdesk> {
    let address = s.required_text("address", "address = \"helpdesk@example.test\"");
    if let Some(a) = &address
        && !is_plain_address(a)
    {
        s.problem(
            "address",
            Some(toml_str(a)),
            "must be a plain e-mail address, e.g. \"helpdesk@example.test\"",
        );
    }
    let own_domains = s.strings("own_domains").unwrap_or_default();
    let mut domains = Vec::new();
    for d in own_domains {
        if is_domain(&d) {
            domains.push(d.to_ascii_lowercase());
        } else {
            s.problem(
                "own_domains",
                Some(toml_str(&d)),
                "must be a domain name, e.g. \"example.test\"",
            );
        }
    }
    let mut read = daemon_reads.to_vec();
    read.extend(address.clone());
    let review_to = staff_recipients(s, "review_to", &read);
    let digest_to = staff_recipients(s, "digest_to", &read);
    let incident_to = staff_recipients(s, "incident_to", &read);
    let billing_to = staff_recipients(s, "billing_to", &read);
    let stale_rejected_days = s.positive("stale_rejected_days", 3650).unwrap_or(14);
    let spam_headers = read_spam_headers(s);
    Some(Helpdesk {
        address: address?,
        own_domains: domains,
        review_to: review_to?,
        digest_to: digest_to?,
        incident_to: incident_to?,
        billing_to: billing_to?,
        stale_rejected_days: u32::try_from(stale_rejected_days).unwrap_or(14),
        spam_headers,
    })
}

/// `helpdesk.spam_headers`: one test per string ([`crate::mail::spam`] has the syntax);
/// absent: the defaults, `[]`: none.
pub(super) fn read_spam_headers(s: &mut Sect) -> SpamHeaders {
    let Some((items, line)) = s.strings_at("spam_headers") else {
        return SpamHeaders::default();
    };
    let mut tests = Vec::new();
    for item in items {
        match SpamTest::parse(&item) {
            Ok(t) => tests.push(t),
            Err(e) => s.problem_at("spam_headers", Some(toml_str(&item)), line, &e),
        }
    }
    SpamHeaders(tests)
}

/// Below this the reader child cannot even start (its binary and libraries are mapped).
pub(super) const MIN_READER_MEMORY: u64 = 64 * 1024 * 1024;

pub(super) fn read_limits(s: &mut Sect) -> Limits {
    let d = Limits::default();
    let small = |s: &mut Sect, key, max: i64, default: u32| {
        s.positive(key, max)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(default)
    };
    Limits {
        max_message_bytes: s.size("max_message_bytes").unwrap_or(d.max_message_bytes),
        max_attachments: count(s, "max_attachments", 10_000, d.max_attachments),
        reader: read_reader_limits(s, &d.reader),
        max_forms_per_mail: count(s, "max_forms_per_mail", 10_000, d.max_forms_per_mail),
        max_mime_parts: count(s, "max_mime_parts", 10_000_000, d.max_mime_parts),
        reader_timeout: s.duration("reader_timeout").unwrap_or(d.reader_timeout),
        reader_memory: match s.size("reader_memory") {
            Some(m) if m < MIN_READER_MEMORY => {
                s.problem(
                    "reader_memory",
                    Some(m.to_string()),
                    "must be at least \"64 MiB\": the reader process needs that much to start",
                );
                d.reader_memory
            }
            Some(m) => m,
            None => d.reader_memory,
        },
        max_attempts: small(s, "max_attempts", 1000, d.max_attempts),
        receipts_per_address_per_hour: small(
            s,
            "receipts_per_address_per_hour",
            1_000_000,
            d.receipts_per_address_per_hour,
        ),
        receipts_per_hour: small(s, "receipts_per_hour", 10_000_000, d.receipts_per_hour),
        orders_per_sender_per_hour: small(
            s,
            "orders_per_sender_per_hour",
            10_000_000,
            d.orders_per_sender_per_hour,
        ),
        review_mails_per_hour: small(
            s,
            "review_mails_per_hour",
            10_000_000,
            d.review_mails_per_hour,
        ),
        max_header_count: count(s, "max_header_count", 1_000_000, d.max_header_count),
        max_header_bytes: s.size("max_header_bytes").unwrap_or(d.max_header_bytes),
        max_header_field_bytes: s
            .size("max_header_field_bytes")
            .unwrap_or(d.max_header_field_bytes),
        outbox_max_age: s.duration("outbox_max_age").unwrap_or(d.outbox_max_age),
    }
}

/// A whole number from 1 to `max` as a count, `default` when absent or wrong.
fn count(s: &mut Sect, key: &'static str, max: i64, default: usize) -> usize {
    s.positive(key, max)
        .and_then(|v| usize::try_from(v).ok())
        .unwrap_or(default)
}

/// The `[limits]` keys the document readers enforce.
fn read_reader_limits(s: &mut Sect, d: &ReadLimits) -> ReadLimits {
    ReadLimits {
        max_docx_unzipped_bytes: s
            .size("max_docx_unzipped_bytes")
            .unwrap_or(d.max_docx_unzipped_bytes),
        max_docx_entries: count(s, "max_docx_entries", 1_000_000, d.max_docx_entries),
        max_xml_depth: count(s, "max_xml_depth", 100_000, d.max_xml_depth),
        max_pdf_pages: count(s, "max_pdf_pages", 1_000_000, d.max_pdf_pages),
        max_pdf_objects: count(s, "max_pdf_objects", 100_000_000, d.max_pdf_objects),
        max_pdf_inflated_bytes: s
            .size("max_pdf_inflated_bytes")
            .unwrap_or(d.max_pdf_inflated_bytes),
        max_docx_xml_nodes: count(s, "max_docx_xml_nodes", 100_000_000, d.max_docx_xml_nodes),
    }
}

pub(super) fn read_executors(s: &mut Sect) -> Executors {
    let d = Executors::default();
    Executors {
        webservice: s.optional_text("webservice"),
        sftp: s.optional_text("sftp"),
        timeout: s.duration("timeout").unwrap_or(d.timeout),
    }
}

pub(super) fn read_rules(s: &mut Sect) -> RulesConfig {
    let d = RulesConfig::default();
    let lead = s.integer("lead_working_days", 0, 365, "an integer from 0 to 365");
    let change_window = read_change_window(s).unwrap_or(d.change_window);
    let extra_closed_days = read_closed_days(s).unwrap_or(d.extra_closed_days);
    let max_days_ahead = s.positive("max_days_ahead", 3650);
    let systems_file = s.existing_file("systems_file");
    let known_orders_file = s.existing_file("known_orders_file");
    let trusted_ca_file = s.existing_file("trusted_ca_file");
    let trusted_authserv_ids = s.nonempty_items("trusted_authserv_ids").unwrap_or_default();
    let trust_exchange_online = s
        .boolean("trust_exchange_online")
        .unwrap_or(d.trust_exchange_online);
    let security_models = match s.nonempty_items("security_models") {
        Some(v) if v.is_empty() => {
            s.problem(
                "security_models",
                Some("[]".into()),
                "must name at least one model, e.g. [\"token\", \"kontekst\"]",
            );
            d.security_models
        }
        Some(v) => v,
        None => d.security_models,
    };
    let datatypes = s.nonempty_items("datatypes").unwrap_or_default();
    let bestillings_id_pattern = read_id_pattern(s);
    RulesConfig {
        lead_working_days: lead
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(d.lead_working_days),
        change_window,
        extra_closed_days,
        max_days_ahead: max_days_ahead
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(d.max_days_ahead),
        systems_file,
        known_orders_file,
        trusted_ca_file,
        trusted_authserv_ids,
        trust_exchange_online,
        security_models,
        datatypes,
        bestillings_id_pattern,
    }
}

/// `change_window`, read with the calendar's own parser; `None` when absent or wrong.
fn read_change_window(s: &mut Sect) -> Option<ChangeWindow> {
    let (text, line) = s.string("change_window")?;
    match text.parse::<ChangeWindow>() {
        Ok(w) => Some(w),
        Err(msg) => {
            s.problem_at("change_window", Some(toml_str(&text)), line, &msg);
            None
        }
    }
}

/// `extra_closed_days`, each read with the calendar's own parser; a wrong day is reported
/// and left out.
fn read_closed_days(s: &mut Sect) -> Option<Vec<MonthDay>> {
    let (days, line) = s.strings_at("extra_closed_days")?;
    let mut out = Vec::new();
    for day in days {
        match day.parse::<MonthDay>() {
            Ok(md) => out.push(md),
            Err(msg) => s.problem_at("extra_closed_days", Some(toml_str(&day)), line, &msg),
        }
    }
    Some(out)
}

/// `bestillings_id_pattern`, kept only when it compiles as a whole-match expression.
fn read_id_pattern(s: &mut Sect) -> Option<String> {
    match s.string("bestillings_id_pattern") {
        Some((p, line)) => match crate::rules::whole_match_pattern(&p) {
            Ok(_) => Some(p),
            Err(e) => {
                let msg = format!(
                    "is not a valid regular expression: {}",
                    first_line(&e.to_string())
                );
                s.problem_at("bestillings_id_pattern", Some(toml_str(&p)), line, &msg);
                None
            }
        },
        None => None,
    }
}

pub(super) fn read_schedule(s: &mut Sect) -> Option<Schedule> {
    let timezone = match s.string("timezone") {
        Some((name, line)) => match name.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                s.problem_at(
                    "timezone",
                    Some(toml_str(&name)),
                    line,
                    "must be an IANA time zone name, e.g. \"Europe/Copenhagen\"",
                );
                None
            }
        },
        None => Some(chrono_tz::Europe::Copenhagen),
    };
    let digest = s.cron("digest", "0 0 7 * * Mon-Fri");
    let billing = s.cron("billing", "0 0 6 1 * *");
    Some(Schedule {
        timezone: timezone?,
        digest: digest?,
        billing: billing?,
    })
}

pub(super) fn read_billing(s: &mut Sect) -> Option<Billing> {
    let prices = s.prices();
    let currency = match s.string("currency") {
        Some((c, line)) => {
            if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                Some(c)
            } else {
                s.problem_at(
                    "currency",
                    Some(toml_str(&c)),
                    line,
                    "must be an ISO 4217 code of three capital letters, e.g. \"DKK\"",
                );
                None
            }
        }
        None => Some("DKK".to_string()),
    };
    let csv = s
        .choice("csv", &["rfc4180", "excel-da"])
        .and_then(|v| CsvDialect::parse(&v))
        .unwrap_or_default();
    Some(Billing {
        prices: prices?,
        currency: currency?,
        csv,
    })
}

impl Sect<'_, '_> {
    /// Whether the section has `key` at all (whatever its value).
    pub(super) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.get_ref() == key)
    }

    /// A non-empty list of plain e-mail addresses.
    pub(super) fn addresses(&mut self, key: &'static str) -> Option<Vec<String>> {
        let (items, line) = self.strings_at(key)?;
        if items.is_empty() {
            self.problem_at(
                key,
                Some("[]".into()),
                line,
                "must name at least one address",
            );
            return None;
        }
        let mut ok = true;
        for a in &items {
            if !is_plain_address(a) {
                self.problem_at(
                    key,
                    Some(toml_str(a)),
                    line,
                    "must be a plain e-mail address, e.g. \"helpdesk@example.test\"",
                );
                ok = false;
            }
        }
        ok.then_some(items)
    }

    /// `prices = { webservice = 4500.0, sftp = 2500.0 }` (or `[billing.prices]`).
    pub(super) fn prices(&mut self) -> Option<Prices> {
        if !self.entries.iter().any(|(k, _)| k.get_ref() == "prices") {
            self.known.push("prices");
            self.missing(
                "prices",
                "add prices = { webservice = 4500.0, sftp = 2500.0 }",
            );
            return None;
        }
        let (v, line) = self.take("prices")?;
        let toml::Value::Table(t) = &v else {
            self.wrong_type(
                "prices",
                &v,
                line,
                "a table, e.g. { webservice = 4500.0, sftp = 2500.0 }",
            );
            return None;
        };
        let sub_line = |cx: &Cx, key: &str| {
            find_key_line(cx.text, "billing.prices", key)
                .or_else(|| find_key_line(cx.text, "billing", &format!("prices.{key}")))
                .or(line)
        };
        let get = |s: &mut Self, kind: &str| -> Option<f64> {
            let l = sub_line(s.cx, kind);
            let key = format!("prices.{kind}");
            match t.get(kind) {
                None => {
                    s.cx.push(l, format!("[billing] {key}"), None, format!("required key is missing: add the price of one {kind} order, e.g. {kind} = 2500.0"));
                    None
                }
                Some(p) => {
                    let n = match p {
                        toml::Value::Float(f) => Some(*f),
                        toml::Value::Integer(i) => Some(*i as f64),
                        _ => None,
                    };
                    match n {
                        Some(n) if n.is_finite() && n >= 0.0 => Some(n),
                        _ => {
                            s.cx.push(
                                l,
                                format!("[billing] {key}"),
                                Some(show_value(p)),
                                "must be a number that is zero or more, e.g. 2500.0".to_string(),
                            );
                            None
                        }
                    }
                }
            }
        };
        let webservice = get(self, "webservice");
        let sftp = get(self, "sftp");
        for k in t.keys().filter(|k| *k != "webservice" && *k != "sftp") {
            let l = sub_line(self.cx, k);
            self.cx.push(
                l,
                format!("[billing] prices.{k}"),
                None,
                "unknown form kind: the kinds are webservice, sftp".to_string(),
            );
        }
        Some(Prices {
            webservice: webservice?,
            sftp: sftp?,
        })
    }
}

/// A plain address as the config writes it: `local@domain`, nothing around it.
pub(super) fn is_plain_address(s: &str) -> bool {
    s.trim() == s && Address::new(s).is_some()
}

/// `addr` or `Display Name <addr>`.
pub(super) fn is_mailbox(s: &str) -> bool {
    let s = s.trim();
    match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner.get(open + 1..).is_some_and(is_plain_address),
        _ => is_plain_address(s),
    }
}
