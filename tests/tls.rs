//! The daemon over TLS against the real servers: implicit TLS (IMAPS, SMTPS) and STARTTLS on
//! IMAP and SMTP, each verifying the servers' certificate against the configured CA.

mod common;

use std::time::Duration;

use common::daemon::Daemon;
use common::{HELPDESK, MailStack};

const CONNECT: Duration = Duration::from_secs(30);
const RECEIPTS: Duration = Duration::from_secs(30);

/// Rewrites the test config's [imap] and [smtp] connection lines for TLS: `tls` (implicit TLS
/// on both) or `starttls` (on both).
fn use_tls(d: &Daemon, stack: &MailStack, imap_tls: &str) {
    let ca = stack.tls_ca().expect("a TLS stack has a CA");
    let path = d.config_path();
    let text = std::fs::read_to_string(&path).expect("the test config");
    let (imap_port, smtp_port) = match imap_tls {
        "tls" => (
            stack.imaps_port().expect("an IMAPS port"),
            stack.smtps_port().expect("an SMTPS port"),
        ),
        _ => (stack.imap_port(), stack.smtp_port()),
    };
    let text = text
        .replacen(
            &format!("port = {}\ntls = \"none\"", stack.imap_port()),
            &format!(
                "port = {imap_port}\ntls = \"{imap_tls}\"\nca_file = \"{}\"",
                ca.display()
            ),
            1,
        )
        .replacen(
            &format!("port = {}\ntls = \"none\"", stack.smtp_port()),
            &format!(
                "port = {smtp_port}\ntls = \"{imap_tls}\"\nca_file = \"{}\"",
                ca.display()
            ),
            1,
        );
    assert_eq!(
        text.matches(&format!("tls = \"{imap_tls}\"")).count(),
        2,
        "both [imap] and [smtp] use TLS:\n{text}"
    );
    std::fs::write(&path, text).expect("write the config");
}

async fn receipts_over_tls(imap_tls: &str) {
    let stack = MailStack::start_tls(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    use_tls(&d, &stack, imap_tls);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack
        .send_form(&format!("TLS-{imap_tls}-1"), "Ny URL")
        .await;
    d.wait_form_receipts(&stack, RECEIPTS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_imap_and_smtp() {
    receipts_over_tls("tls").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_imap_and_smtp() {
    receipts_over_tls("starttls").await;
}
