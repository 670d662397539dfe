//! `spdesk check`'s exit code for each class of input (DESIGN.md's CLI contract): 0 approved,
//! 10 rejected, 11 review, 12 a mail that is never answered (bounce, auto-reply, list, spam,
//! our own), 2 an input that is neither a mail nor a form. A script reads these; a mail that is
//! never answered must not read as approved, and bytes that are no mail must not read as one.

use std::path::Path;
use std::process::Command;

/// A typed-in sftp form that passes every rule when checked on 2026-11-30.
const FORM: &str = "Ændring af overvågning af filafhentning (SFTP-indbakke)\r\n\r\n\
KOMBIT BestillingsID: BD-1234\r\nMiljø: Produktion\r\n\
Ønsket tidspunkt for ændring: 15-12-2026 kl. 10.00\r\nOrganisation: Borgerdata I/S\r\n\
CVR-nr.: 54921942\r\nKontaktperson: Lars Bæk Poulsen\r\nE-mail: fa@kystby.test\r\n\
It-system: FamilieFlow\r\nIt-system UUID: d67050fa-52d6-4bd4-89b8-94ba72dcd5a2\r\n\
It-systemrolle: Modtagersystem\r\nSFTP-bruger: bd_familieflow\r\nOvervågning: Til\r\n\
Tidsgrænse for afhentning (timer): 24\r\nAdvisering til: drift@kystby.test\r\n";

/// The form as a mail from a fagansvarlig, with `extra` header lines.
fn form_mail(extra: &str) -> String {
    format!(
        "From: Lars <fa@kystby.test>\r\nTo: helpdesk@example.test\r\nSubject: Bestilling\r\n\
         Message-ID: <c1@kystby.test>\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{FORM}"
    )
}

/// Runs `spdesk [--config CONFIG] check --json --now ... FILE` on `bytes` written to `name`;
/// the exit code and the JSON line.
fn check(name: &str, bytes: &[u8], config: Option<&str>) -> (Option<i32>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spdesk"));
    if let Some(text) = config {
        let cfg = dir.path().join("spdesk.toml");
        std::fs::write(&cfg, text).unwrap();
        cmd.arg("--config").arg(cfg);
    }
    let out = cmd
        .args(["check", "--json", "--now", "2026-11-30T09:00:00+01:00"])
        .arg(Path::new(&path))
        .env_remove("SPDESK_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{name}: {e}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

#[test]
fn an_answered_mail_exits_with_its_decision() {
    let (code, json) = check("order.eml", form_mail("").as_bytes(), None);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["decision"], "approved");
    // The same form typed into a .txt file is a form too.
    let (code, json) = check("order.txt", FORM.as_bytes(), None);
    assert_eq!(code, Some(0), "{json}");
    // A mail without a form: review.
    let (code, _) = check(
        "question.eml",
        b"From: fa@kystby.test\r\nSubject: Hej\r\n\r\nHvordan bestiller vi?\r\n",
        None,
    );
    assert_eq!(code, Some(11));
}

#[test]
fn a_mail_that_is_never_answered_exits_12() {
    for (class, extra) in [
        ("auto-reply", "Auto-Submitted: auto-replied\r\n"),
        ("list", "List-Id: <drift.lists.kystby.test>\r\n"),
        ("spam flag", "X-Spam-Flag: YES\r\n"),
        (
            "spam status",
            "X-Spam-Status: Yes, score=9.1 required=5.0 tests=BAYES_99\r\n",
        ),
        ("Exchange SCL", "X-MS-Exchange-Organization-SCL: 9\r\n"),
        (
            "Exchange verdict",
            "X-Forefront-Antispam-Report: CIP:192.0.2.7;CTRY:;SFV:SPM;SCL:9;\r\n",
        ),
        // Our own receipts and digests carry Auto-Submitted (RFC 3834).
        (
            "our own",
            "X-Loop: helpdesk@example.test\r\nAuto-Submitted: auto-replied\r\n",
        ),
    ] {
        let (code, json) = check("mail.eml", form_mail(extra).as_bytes(), None);
        assert_eq!(code, Some(12), "{class}: {json}");
        assert!(json["decision"].is_null(), "{class}: {json}");
    }
    let bounce = "From: MAILER-DAEMON@mx.kystby.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\
                  Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n\
                  --b\r\nContent-Type: text/plain\r\n\r\nUser unknown\r\n--b--\r\n";
    let (code, json) = check("bounce.eml", bounce.as_bytes(), None);
    assert_eq!(code, Some(12), "{json}");
    assert_eq!(json["mail"]["bounce"], true);
    // The JSON says why.
    let (_, json) = check(
        "spam.eml",
        form_mail("X-Spam-Flag: YES\r\n").as_bytes(),
        None,
    );
    assert_eq!(json["mail"]["spam"], true, "{json}");
}

#[test]
fn configured_spam_headers_are_used_and_can_be_turned_off() {
    let spam = form_mail("X-Spam-Flag: YES\r\nX-Rspamd-Action: reject\r\n");
    let off = "[helpdesk]\nspam_headers = []\n";
    let (code, json) = check("spam.eml", spam.as_bytes(), Some(off));
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["mail"]["spam"], false);
    let own = "[helpdesk]\nspam_headers = [\"X-Rspamd-Action: reject\"]\n";
    let (code, _) = check("spam.eml", spam.as_bytes(), Some(own));
    assert_eq!(code, Some(12));
}

#[test]
fn a_wrong_spam_test_is_a_usage_error_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("spdesk.toml");
    std::fs::write(
        &cfg,
        "[helpdesk]\naddress = \"h@example.test\"\nspam_headers = [\"X-Spam-Flag YES\"]\n",
    )
    .unwrap();
    let mail = dir.path().join("m.eml");
    std::fs::write(&mail, form_mail("")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_spdesk"))
        .arg("--config")
        .arg(&cfg)
        .arg("check")
        .arg(&mail)
        .env_remove("SPDESK_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spdesk.toml") && err.contains("3") && err.contains("spam_headers"),
        "{err}"
    );
    assert!(err.contains("\"X-Spam-Flag: YES\""), "{err}");
}

#[test]
fn bytes_that_are_no_mail_and_no_form_exit_2() {
    // Deterministic noise (a linear congruential generator): what a binary file looks like.
    let mut x: u32 = 12345;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    for name in [
        "blob.bin",
        "blob.eml",
        "blob",
        "blob.pdf",
        "blob.docx",
        "blob.txt",
    ] {
        let (code, json) = check(name, &noise, None);
        assert_eq!(code, Some(2), "{name}: {json}");
        assert!(json["decision"].is_null(), "{name}");
    }
    // Plain text that is no mail and not named as a form.
    let (code, _) = check("notes.md", b"# Noter\n\nIkke en mail.\n", None);
    assert_eq!(code, Some(2));
    // A damaged PDF is still a PDF: an unreadable form, for a person.
    let (code, _) = check("scan.pdf", b"%PDF-1.7\n%garbage\n", None);
    assert_eq!(code, Some(11));
}
