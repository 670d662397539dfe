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
use crate::judge::{Context, Judgement, judge_mail};
use crate::mail::{Attachment, HeaderLimits, Mail, header_over_limits};
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
    let settings = setup::rule_settings(&cfg.rules)?;
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
                    Input::OverLimit(mail, why) => Judgement::quarantined(&mail, &why),
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

/// The worst exit code: rejected (10) > review (11) > approved (0); usage errors (2) win.
fn rank_exit(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        2 => 3,
        10 => 2,
        11 => 1,
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
    let mail = match ext.as_str() {
        "docx" => {
            as_attachment("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        }
        "pdf" => as_attachment("application/pdf"),
        "txt" => Mail {
            subject: name.clone(),
            text: Some(String::from_utf8_lossy(&bytes).to_string()),
            ..Mail::default()
        },
        _ => {
            if let Some(why) = header_over_limits(&bytes, header_limits) {
                return Ok(Input::OverLimit(Mail::headers_only(&bytes), why));
            }
            Mail::parse(&bytes, 3).ok_or_else(|| {
                anyhow::anyhow!(
                    "not a mail or a form file; give an .eml mail, or a .docx, .pdf or .txt form"
                )
            })?
        }
    };
    Ok(Input::Mail(mail))
}

fn print_human(out: &mut impl Write, file: &Path, j: &Judgement) -> std::io::Result<()> {
    use crate::cli::terminal::line;
    writeln!(out, "{}", line(&file.display().to_string()))?;
    writeln!(
        out,
        // Debug formatting escapes every control and bidi character in the subject.
        "  mail: from {} subject {:?}{}{}{}",
        line(j.mail.from.as_deref().unwrap_or("(none)")),
        j.mail.subject,
        if j.mail.auto_reply {
            " [auto-reply]"
        } else {
            ""
        },
        if j.mail.bounce { " [bounce]" } else { "" },
        if j.mail.list { " [list]" } else { "" },
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

    /// `spdesk check` treats a mail over a header limit as intake does: review, unparsed.
    #[test]
    fn check_sends_a_mail_over_the_header_limit_to_review() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many-headers.eml");
        let mut raw = String::from("From: fa@example.test\r\nSubject: Bestilling\r\n");
        for n in 0..20 {
            raw.push_str(&format!("X-Filler-{n}: x\r\n"));
        }
        raw.push_str("\r\nHej\r\n");
        std::fs::write(&path, raw).unwrap();
        let limits = HeaderLimits {
            max_count: 10,
            ..HeaderLimits::default()
        };
        match read_input(&path, 1 << 20, &limits).unwrap() {
            Input::OverLimit(mail, why) => {
                assert_eq!(mail.from.as_deref(), Some("fa@example.test"));
                assert_eq!(mail.subject, "Bestilling");
                assert_eq!(why, "the mail has more than 10 header fields");
                let j = Judgement::quarantined(&mail, &why);
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
