//! Robustness on real-world mail: every message of `tests/corpus` (bounces, malformed MIME,
//! CPython's e-mail tests, Outlook TNEF streams; see `tests/corpus/*/SOURCE.md`) goes through
//! the one pipeline, `Mail::parse` → `judge_mail`, as `spdesk check` runs it with default
//! settings. Pure library calls: no servers.
//!
//! Asserted: no panic; each message within [`LIMIT`]; every bounce, DSN, ARF report and
//! auto-reply is flagged never-answer (that is how mail loops start); the two ordinary mails
//! among the bounces are not; TNEF is never dropped silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone};
use chrono_tz::Europe::Copenhagen;
use spdesk::cli::setup;
use spdesk::config::CheckConfig;
use spdesk::forms::extract::ExtractLimits;
use spdesk::judge::{Context, Judgement, judge_mail};
use spdesk::mail::Mail;
use spdesk::rules::finding::{Decision, Rule};
use spdesk::rules::{NoHistory, RuleSettings};

/// The robustness bound per message (parse + judge), not a benchmark.
const LIMIT: Duration = Duration::from_secs(2);

/// The mails among the bounces that are ordinary mails and must be processed normally.
const NOT_BOUNCES: &[&str] = &["is-not-bounce-01.eml", "is-not-bounce-02.eml"];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every message file under `dir`, sorted: mails (.eml, .msg, .txt except licence and read-me
/// files) and raw TNEF streams (.tnef).
fn message_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            message_files(&p, out);
            continue;
        }
        let name = file_name(&p);
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        let upper = name.to_ascii_uppercase();
        if upper.contains("LICENSE") || upper.starts_with("README") {
            continue;
        }
        if matches!(ext, "eml" | "msg" | "txt" | "tnef") {
            out.push(p);
        }
    }
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// A raw TNEF stream as Outlook sends it: a `winmail.dat` part of an ordinary mail.
fn wrap_tnef(tnef: &[u8]) -> Vec<u8> {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::new();
    for (i, chunk) in tnef.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            encoded.extend_from_slice(b"\r\n");
        }
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                encoded.push(B64[((n >> (18 - 6 * k)) & 63) as usize]);
            } else {
                encoded.push(b'=');
            }
        }
    }
    let mut raw = b"From: Fagansvarlig <fa@example.test>\r\n\
To: helpdesk@example.test\r\n\
Subject: Bestilling\r\n\
Message-ID: <tnef@example.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"tnef-boundary\"\r\n\
\r\n\
--tnef-boundary\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hermed bestillingen.\r\n\
--tnef-boundary\r\n\
Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"winmail.dat\"\r\n\
\r\n"
        .to_vec();
    raw.extend_from_slice(&encoded);
    raw.extend_from_slice(b"\r\n--tnef-boundary--\r\n");
    raw
}

/// One message's outcome.
struct Outcome {
    /// Path relative to tests/corpus.
    rel: String,
    elapsed: Duration,
    /// `None` when `Mail::parse` found no mail.
    judgement: Option<Judgement>,
}

fn run(rel: String, raw: &[u8], ctx: &Context<'_>) -> Outcome {
    let start = Instant::now();
    let judgement = Mail::parse(raw, 3).map(|m| judge_mail(&m, ctx));
    Outcome {
        rel,
        elapsed: start.elapsed(),
        judgement,
    }
}

#[test]
fn every_corpus_message_survives_and_loops_are_never_answered() {
    let cfg = CheckConfig::default();
    let settings: RuleSettings = setup::rule_settings(&cfg.rules).expect("default rule settings");
    // The readers' correctness, in this process (the sandbox is tested in tests/sandbox.rs).
    let limits: ExtractLimits = setup::extract_limits(
        &cfg.limits,
        std::sync::Arc::new(spdesk::forms::reader::InProcess),
    );
    let received: DateTime<_> = Copenhagen
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("a fixed time");
    let ctx = Context {
        received,
        settings: &settings,
        limits: &limits,
        history: &NoHistory,
    };

    let root = corpus_dir();
    let mut files = Vec::new();
    message_files(&root, &mut files);

    let mut outcomes = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let raw = if rel.ends_with(".tnef") {
            wrap_tnef(&bytes)
        } else {
            bytes
        };
        outcomes.push(run(rel, &raw, &ctx));
    }

    // The figures: per folder, how many messages, parsed, flagged never-answer.
    let mut per_folder: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let folder = o.rel.split('/').next().unwrap_or("");
        let e = per_folder.entry(folder).or_default();
        e.0 += 1;
        if let Some(j) = &o.judgement {
            e.1 += 1;
            if j.flags.no_reply() {
                e.2 += 1;
            }
        }
    }
    eprintln!("corpus: {} messages", outcomes.len());
    for (folder, (n, parsed, flagged)) in &per_folder {
        eprintln!("  {folder}: {n} messages, {parsed} parsed, {flagged} flagged never-answer");
    }
    let slowest = outcomes.iter().max_by_key(|o| o.elapsed);
    if let Some(o) = slowest {
        eprintln!("  slowest: {} in {:?}", o.rel, o.elapsed);
    }

    let mut failures = Vec::new();
    // The upstream README counts 264 messages and TNEF streams; a missing folder must fail.
    if outcomes.len() != 264 {
        failures.push(format!(
            "expected 264 corpus messages, found {}",
            outcomes.len()
        ));
    }
    for o in &outcomes {
        if o.elapsed > LIMIT {
            failures.push(format!("{}: took {:?} (limit {LIMIT:?})", o.rel, o.elapsed));
        }
        let name = o.rel.rsplit('/').next().unwrap_or("");
        let flags = o.judgement.as_ref().map(|j| j.flags);
        if o.rel.starts_with("bounces/") {
            let expect_flag = !NOT_BOUNCES.contains(&name);
            match (o.judgement.as_ref(), expect_flag) {
                (None, _) => failures.push(format!("{}: not parsed as a mail", o.rel)),
                (Some(j), true) if !j.flags.no_reply() || j.decision.is_some() => {
                    failures.push(format!(
                        "{}: a bounce/auto-reply not flagged never-answer ({:?}, decision {:?})",
                        o.rel, j.flags, j.decision
                    ))
                }
                (Some(j), false) if j.flags.no_reply() || j.decision.is_none() => {
                    failures.push(format!(
                        "{}: an ordinary mail flagged never-answer ({:?})",
                        o.rel, j.flags
                    ))
                }
                _ => {}
            }
        }
        if o.rel == "cpython/msg_16.txt" && !flags.is_some_and(|f| f.bounce) {
            failures.push(format!("{}: a DSN not flagged bounce ({flags:?})", o.rel));
        }
        if o.rel.starts_with("tnef/") {
            // TNEF is unpacked, but none of these streams holds an order form: never dropped
            // silently; the sender is asked to resend the form as a normal attachment, and a
            // person sees the mail (review).
            match &o.judgement {
                Some(j)
                    if j.decision == Some(Decision::Review)
                        && j.findings.iter().any(|f| f.rule == Rule::FormUnreadable)
                        && j.unreadable.iter().any(|u| u.is_tnef()) => {}
                Some(j) => failures.push(format!(
                    "{}: winmail.dat not sent to review as unreadable (decision {:?}, unreadable {:?})",
                    o.rel, j.decision, j.unreadable
                )),
                None => failures.push(format!("{}: the wrapped TNEF mail was not parsed", o.rel)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
