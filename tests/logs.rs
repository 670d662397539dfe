//! The log as an operator reads it: a log file holds no ANSI colour escapes, its lines name
//! the order reference and the Message-ID; a terminal gets colour, systemd never; with stderr
//! connected to the journal, lines carry a syslog priority and no timestamp.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::MailStack;
use common::daemon::Daemon;

const WAIT: Duration = Duration::from_secs(60);
const ESC: char = '\u{1b}';

/// The real daemon writing to a file: no escape anywhere, and the judged order's line carries
/// its reference and the mail's Message-ID as fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_file_has_no_colour_and_names_the_order_and_the_message_id() {
    let stack = MailStack::shared(&[]);
    let helpdesk = "logs-helpdesk@example.test";
    stack.add_users(&[helpdesk]);
    let mut d = Daemon::new(&stack, helpdesk);
    d.start();
    d.wait_log("IMAP connected", 1, WAIT).await;
    let form = common::fixtures::WsForm::new("KMB-LOGS-0001", common::FA);
    let mid = format!("logs-0001.{}@fa.example.test", std::process::id());
    let raw = common::fixtures::form_mail(common::FA, helpdesk, "Ny URL", &mid, &form.docx());
    stack.send(common::FA, helpdesk, &raw).await;
    d.wait_log("order judged", 1, WAIT).await;
    let log = d.log();
    assert!(!log.contains(ESC), "ANSI escapes in the log file:\n{log}");
    let judged = log
        .lines()
        .find(|l| l.contains("order judged"))
        .unwrap_or_default();
    assert!(
        judged.contains("reference=\"SP-") && judged.contains(&format!("message_id=\"{mid}\"")),
        "the judged order's line lacks its reference or Message-ID: {judged}"
    );
    assert!(
        judged.starts_with(|c: char| c.is_ascii_digit()),
        "a log file's line starts with its time: {judged}"
    );
}

/// A config whose servers are never reached: `spdesk run` logs its start, then retries.
fn unreachable_config(dir: &Path) -> std::path::PathBuf {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/spdesk.toml");
    let text = std::fs::read_to_string(&cfg).expect("config/spdesk.toml");
    let text = text
        .replace("port = 10143", "port = 1")
        .replace("port = 10025", "port = 1")
        .replace("../var/spdesk.db", "spdesk.db");
    let path = dir.join("spdesk.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// `spdesk run` for two seconds under `script` (a pseudo-terminal as stderr) with `env`;
/// returns what the terminal showed.
fn on_a_terminal(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = unreachable_config(dir.path());
    let command = format!(
        "timeout -s INT 2 {} --config {} run",
        env!("CARGO_BIN_EXE_spdesk"),
        config.display()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &command, "/dev/null"])
        .env_remove("JOURNAL_STREAM")
        .env_remove("INVOCATION_ID")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("script(1) from bsdutils runs spdesk on a pseudo-terminal");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("spdesk started"),
        "spdesk run did not start on the terminal:\n{shown}"
    );
    shown
}

#[test]
fn a_terminal_gets_colour_and_systemd_never() {
    let terminal = on_a_terminal(&[]);
    assert!(
        terminal.contains(ESC),
        "no colour on a terminal:\n{terminal}"
    );
    let systemd = on_a_terminal(&[("INVOCATION_ID", "0123456789abcdef")]);
    assert!(!systemd.contains(ESC), "colour under systemd:\n{systemd}");
    let no_color = on_a_terminal(&[("NO_COLOR", "1")]);
    assert!(
        !no_color.contains(ESC),
        "colour despite NO_COLOR:\n{no_color}"
    );
}

/// stderr is the stream `$JOURNAL_STREAM` names (as systemd sets it): `<N>` priorities that
/// journald reads, no timestamps (journald has its own), no colour.
#[test]
fn journal_lines_carry_a_priority_and_no_timestamp() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = unreachable_config(dir.path());
    let log_path = dir.path().join("journal-stream");
    let log = std::fs::File::create(&log_path).expect("create the stream file");
    let meta = log.metadata().expect("stat the stream file");
    let status = Command::new("timeout")
        .args(["-s", "INT", "2", env!("CARGO_BIN_EXE_spdesk"), "--config"])
        .arg(&config)
        .arg("run")
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .env("INVOCATION_ID", "0123456789abcdef")
        .stderr(log)
        .status()
        .expect("run spdesk");
    assert!(status.code().is_some(), "spdesk was killed: {status}");
    let text = std::fs::read_to_string(&log_path).expect("read the stream file");
    let started = text
        .lines()
        .find(|l| l.contains("spdesk started"))
        .unwrap_or_else(|| panic!("no start line:\n{text}"));
    assert!(started.starts_with("<6>"), "info is priority 6: {started}");
    assert!(!text.contains(ESC), "colour in the journal:\n{text}");
    let warned = text.lines().find(|l| l.contains("WARN"));
    assert!(
        warned.is_some_and(|l| l.starts_with("<4>")),
        "a warning (IMAP unreachable) is priority 4:\n{text}"
    );
    assert!(
        text.lines().all(|l| l.starts_with('<')),
        "a line without priority or with a timestamp:\n{text}"
    );
}
