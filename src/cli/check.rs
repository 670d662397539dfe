//! `spdesk check`: judge files (mails or forms) with the same pipeline as the daemon and print
//! the judgement; the exit code says the worst decision.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;

use crate::cli::CheckArgs;
use crate::cli::known::Known;
use crate::cli::setup;
use crate::config::CheckConfig;
use crate::judge::{Context, EXIT_NEVER_ANSWERED, Judgement, judge_mail};
use crate::mail::{Attachment, HeaderLimits, Mail, header_over_limits};
use crate::rules::RuleSettings;
use crate::rules::finding::Decision;

/// Exit code for a usage error or an input that is neither a mail nor a form.
pub const EXIT_USAGE: i32 = 2;

/// `spdesk check`: reads each file and prints the judgement; returns the exit code.
pub fn check(args: &CheckArgs, cfg: &CheckConfig) -> anyhow::Result<i32> {
    let received: DateTime<Utc> = match &args.now {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                anyhow::anyhow!(
                    "--now \"{s}\": not an RFC 3339 time ({e}); e.g. 2026-11-30T09:00:00+01:00"
                )
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let settings = RuleSettings {
        spam_headers: cfg.spam_headers.clone(),
        ..setup::rule_settings(&cfg.rules)?
    };
    // The same sandboxed readers as the daemon's.
    let limits = setup::extract_limits(&cfg.limits, setup::sandboxed_reader(&cfg.limits)?);
    let header_limits = setup::header_limits(&cfg.limits);
    let known = Known::open(args)?;
    let ctx = Context {
        received: received.with_timezone(&Copenhagen),
        settings: &settings,
        limits: &limits,
        history: known.history(),
    };
    let mut worst = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &args.files {
        let code = match read_input(file, limits.max_attachment_bytes as u64 * 2, &header_limits) {
            Ok(input) => {
                // As intake does: a mail over a header limit goes to a person unparsed.
                let j = match input {
                    Input::Mail(mail) => {
                        let j = judge_mail(&mail, &ctx);
                        known.aim(j, &mail, settings.register.as_deref())?
                    }
                    Input::OverLimit(mail, why) => {
                        Judgement::quarantined(&mail, &why, &settings.spam_headers)
                    }
                };
                if args.json {
                    writeln!(out, "{}", serde_json::to_string(&j)?)?;
                } else {
                    print_human(&mut out, file, &j)?;
                }
                j.exit_code()
            }
            Err(e) => {
                if args.json {
                    let obj = serde_json::json!({
                        "file": file.display().to_string(),
                        "mail": null, "forms": [], "findings": [], "decision": null,
                        "problems": [e.to_string()],
                    });
                    writeln!(out, "{obj}")?;
                }
                let e = format!("{}: {e}", file.display());
                eprintln!("{}", crate::cli::terminal::line(&e));
                EXIT_USAGE
            }
        };
        worst = rank_exit(worst, code);
    }
    Ok(worst)
}

/// The worst exit code: rejected (10) > review (11) > never answered (12) > approved (0);
/// usage errors (2) win.
fn rank_exit(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        EXIT_USAGE => 4,
        10 => 3,
        11 => 2,
        EXIT_NEVER_ANSWERED => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// What `spdesk check` read from a file.
enum Input {
    Mail(Mail),
    /// A mail whose header section is over a limit: its headers only, and why.
    OverLimit(Mail, String),
}

/// Reads a file as a mail (.eml and anything that parses as one) or wraps a form file
/// (.docx, .pdf, .txt) as the single attachment of an empty mail.
fn read_input(path: &Path, max_bytes: u64, header_limits: &HeaderLimits) -> anyhow::Result<Input> {
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("cannot read the file: {e}"))?;
    if meta.len() > max_bytes {
        anyhow::bail!(
            "the file is {} bytes, more than the limit of {max_bytes}",
            meta.len()
        );
    }
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the file: {e}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .unwrap_or_default();
    let as_attachment = |content_type: &str| Mail {
        subject: name.clone(),
        attachments: vec![Attachment {
            name: Some(name.clone()),
            content_type: content_type.to_string(),
            bytes: bytes.clone(),
            message: None,
            inline: false,
        }],
        ..Mail::default()
    };
    let not_a_form = || {
        anyhow::anyhow!(
            "the file is named .{ext}, but it holds no {} (a form file can be a Word .docx, a PDF or a text file)",
            match ext.as_str() {
                "docx" => "Word document",
                "pdf" => "PDF",
                _ => "text",
            }
        )
    };
    let mail = match ext.as_str() {
        "docx" if bytes.starts_with(ZIP_MAGIC) => {
            as_attachment("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        }
        "pdf" if is_pdf(&bytes) => as_attachment("application/pdf"),
        "txt" if is_text(&bytes) => Mail {
            subject: name.clone(),
            text: Some(String::from_utf8_lossy(&bytes).to_string()),
            ..Mail::default()
        },
        "docx" | "pdf" | "txt" => return Err(not_a_form()),
        _ => {
            if !starts_like_a_mail(&bytes) {
                anyhow::bail!(NOT_A_MAIL);
            }
            if let Some(why) = header_over_limits(&bytes, header_limits) {
                return Ok(Input::OverLimit(Mail::headers_only(&bytes), why));
            }
            Mail::parse(&bytes, 3)
                .filter(has_a_mail_header)
                .ok_or_else(|| anyhow::anyhow!(NOT_A_MAIL))?
        }
    };
    Ok(Input::Mail(mail))
}

const NOT_A_MAIL: &str =
    "not a mail or a form file; give an .eml mail, or a .docx, .pdf or .txt form";

/// A .docx is a zip archive.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// A PDF has its `%PDF-` header within the first 1024 bytes (where PDF readers look for it).
fn is_pdf(bytes: &[u8]) -> bool {
    let head = bytes.get(..1024).unwrap_or(bytes);
    head.windows(5).any(|w| w == b"%PDF-")
}

/// Text, in any charset: no NUL byte and hardly any other control bytes (tab, line breaks,
/// form feed and ESC of ISO-2022-JP are text).
fn is_text(bytes: &[u8]) -> bool {
    let control = bytes
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    !bytes.contains(&0) && control <= bytes.len() / 100
}

/// The first line of a mail is a header field (`Name: value`, the name printable ASCII) or
/// an mbox `From ` line; random bytes and text are neither. (mail-parser makes a mail of
/// almost anything, which then went to review as a mail without a form.)
fn starts_like_a_mail(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"From ") {
        return true;
    }
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    line.iter()
        .position(|&b| b == b':')
        .and_then(|colon| line.get(..colon))
        .is_some_and(|name| !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic()))
}

/// Header fields every mail carries at least one of (RFC 5322 origination and trace fields,
/// MIME).
const MAIL_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Received",
    "Return-Path",
    "MIME-Version",
    "Content-Type",
    "Sender",
    "Reply-To",
];

fn has_a_mail_header(mail: &Mail) -> bool {
    MAIL_HEADERS.iter().any(|h| mail.header(h).is_some())
}

fn print_human(out: &mut impl Write, file: &Path, j: &Judgement) -> std::io::Result<()> {
    use crate::cli::terminal::line;
    writeln!(out, "{}", line(&file.display().to_string()))?;
    writeln!(
        out,
        // Debug formatting escapes every control and bidi character in the subject.
        "  mail: from {} subject {:?}{}{}{}{}",
        line(j.mail.from.as_deref().unwrap_or("(none)")),
        j.mail.subject,
        if j.mail.auto_reply {
            " [auto-reply]"
        } else {
            ""
        },
        if j.mail.bounce { " [bounce]" } else { "" },
        if j.mail.list { " [list]" } else { "" },
        if j.mail.spam { " [spam]" } else { "" },
    )?;
    for (n, f) in j.forms.iter().enumerate() {
        writeln!(
            out,
            "  form {} ({}, {}): {}",
            n + 1,
            f.kind.code(),
            line(&f.source),
            f.decision.as_str()
        )?;
        for (code, v) in &f.fields {
            writeln!(
                out,
                "    {code}: {}",
                line(&serde_json::to_string(v).unwrap_or_default())
            )?;
        }
        for x in &f.findings {
            let message = line(&x.message);
            writeln!(out, "    ! {} [{}] {message}", x.rule.id(), severity(x))?;
        }
    }
    for x in &j.findings {
        let message = line(&x.message);
        writeln!(out, "  ! {} [{}] {message}", x.rule.id(), severity(x))?;
    }
    for p in &j.problems {
        writeln!(out, "  note: {}", line(p))?;
    }
    writeln!(
        out,
        "  decision: {}",
        j.decision
            .map(Decision::as_str)
            .unwrap_or("none (never answered)")
    )
}

fn severity(f: &crate::rules::finding::Finding) -> &'static str {
    match f.severity {
        crate::rules::finding::Severity::Reject => "reject",
        crate::rules::finding::Severity::Review => "review",
        crate::rules::finding::Severity::Info => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::spam::SpamHeaders;

    /// A mail file of `first` plus 20 filler header fields, and header limits of 10 fields.
    fn over_the_header_limit(first: &str) -> (tempfile::TempDir, std::path::PathBuf, HeaderLimits) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many-headers.eml");
        let mut raw = String::from(first);
        for n in 0..20 {
            raw.push_str(&format!("X-Filler-{n}: x\r\n"));
        }
        raw.push_str("\r\nHej\r\n");
        std::fs::write(&path, raw).unwrap();
        let limits = HeaderLimits {
            max_count: 10,
            ..HeaderLimits::default()
        };
        (dir, path, limits)
    }

    /// Spam over a header limit is not parsed, but its headers still say it is spam: it is
    /// never answered (12), as in the daemon's quarantine.
    #[test]
    fn spam_over_the_header_limit_is_never_answered() {
        let (_dir, path, limits) =
            over_the_header_limit("From: x@example.test\r\nX-Spam-Flag: YES\r\nSubject: Win\r\n");
        let Ok(Input::OverLimit(mail, why)) = read_input(&path, 1 << 20, &limits) else {
            panic!("23 header fields are over a limit of 10");
        };
        let j = Judgement::quarantined(&mail, &why, &SpamHeaders::default());
        assert!(j.flags.spam);
        assert_eq!(j.decision, None);
        assert_eq!(j.exit_code(), 12);
        let j = Judgement::quarantined(&mail, &why, &SpamHeaders(Vec::new()));
        assert_eq!(j.exit_code(), 11);
    }

    /// `spdesk check` treats a mail over a header limit as intake does: review, unparsed.
    #[test]
    fn check_sends_a_mail_over_the_header_limit_to_review() {
        let (_dir, path, limits) =
            over_the_header_limit("From: fa@example.test\r\nSubject: Bestilling\r\n");
        match read_input(&path, 1 << 20, &limits).unwrap() {
            Input::OverLimit(mail, why) => {
                assert_eq!(mail.from.as_deref(), Some("fa@example.test"));
                assert_eq!(mail.subject, "Bestilling");
                assert_eq!(why, "the mail has more than 10 header fields");
                let j = Judgement::quarantined(&mail, &why, &SpamHeaders::default());
                assert_eq!(j.exit_code(), 11);
            }
            Input::Mail(_) => panic!("20 header fields are over a limit of 10"),
        }
        let within = HeaderLimits::default();
        assert!(matches!(
            read_input(&path, 1 << 20, &within).unwrap(),
            Input::Mail(m) if m.text.as_deref().is_some_and(|t| t.contains("Hej"))
        ));
    }
}
