//! The bomb benchmark: `spdesk check` (the release binary) on each class of hostile document
//! and mail (tests/common/bombs.rs), with the default limits (no config file: the check runs
//! in `target/bombs/`, where there is no `config/spdesk.toml`, and without `SPDESK_CONFIG`).
//!
//! Each bomb is written to `target/bombs/` and checked under `/usr/bin/time -v`, which
//! reports the exit status and the largest peak RSS of the process and the children it
//! reaped, so the reader child's memory shows there too. The parent (`spdesk check`) and
//! the reader child (`spdesk reader-child`, a child of the check process) are measured
//! apart by polling their `/proc/PID/status` `VmHWM` every millisecond; the last value seen
//! is the peak (a child that is replaced after a failure is measured too, the largest wins).
//!
//! Prints a Markdown table (also to `target/bench-bombs.md`) and exits non-zero if a bomb
//! took more than 2 s, the parent's peak was over 256 MB, or the exit code was not the
//! expected one (11, review). Run: `cargo bench --bench bombs` (needs `/usr/bin/time`, the
//! `time` package). `cargo test --all-targets` runs it as a smoke run of the debug binary:
//! the exit codes are checked, time and memory only printed (to `target/bench-bombs-smoke.md`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::bombs::*;
use common::daemon::BIN;
use common::measure::{machine, memory_kb, target_dir};

/// The most one `spdesk check` on a bomb may take.
const MAX_WALL: Duration = Duration::from_secs(2);
/// The most the parent process may hold (kB).
const MAX_PARENT_KB: u64 = 256 * 1024;
/// How often the processes' memory is sampled.
const POLL: Duration = Duration::from_millis(1);
/// `spdesk check`'s exit code for review (README, "Commands").
const REVIEW: i32 = 11;
const GIB: usize = 1 << 30;
const MIB: usize = 1 << 20;

/// One hostile input: its row label, file name and how it is made.
struct Bomb {
    label: &'static str,
    file: &'static str,
    make: fn() -> Vec<u8>,
}

/// Every class of bomb, and a variant of each that tries to get around its bound.
fn bombs() -> Vec<Bomb> {
    let b = |label, file, make| Bomb { label, file, make };
    vec![
        b(
            "(a) PDF nesting 100k deep behind a `%(` comment",
            "a-deep-comment.pdf",
            deep_pdf,
        ),
        b(
            "(a) PDF nesting 100k deep behind a `/stream` name",
            "a-deep-stream-name.pdf",
            deep_pdf_behind_stream_name,
        ),
        b(
            "(a') PDF nesting 100k deep inside an object stream",
            "a-deep-objstm.pdf",
            deep_pdf_in_object_stream,
        ),
        b("(b) PDF FlateDecode → 1 GiB", "b-flate.pdf", || {
            flate_pdf(GIB, 1)
        }),
        b("(b') PDF LZWDecode → 256 MiB", "b-lzw.pdf", || {
            lzw_pdf(256 * MIB)
        }),
        b(
            "(c) PDF FlateDecode twice → 1 GiB",
            "c-double-flate.pdf",
            || inflating_pdf(GIB),
        ),
        b(
            "(c') PDF 64 streams of 16 MiB each → 1 GiB",
            "c-split.pdf",
            || split_inflating_pdf(64, 16 * MIB),
        ),
        b("(d) PDF object stream → 1 GiB", "d-objstm.pdf", || {
            object_stream_bomb_pdf(GIB)
        }),
        b(
            "(d') PDF object stream naming 1M objects",
            "d-objstm-count.pdf",
            || object_stream_count_pdf(1_000_000),
        ),
        b("(e) PDF of 480k objects", "e-objects.pdf", || {
            many_objects_pdf(480_000)
        }),
        b(
            "(e') PDF of 480k objects, no xref table",
            "e-objects-no-xref.pdf",
            || many_objects_pdf_without_xref(480_000),
        ),
        b(
            "(f) AcroForm /Kids fan-out 1,000 wide, 20 deep",
            "f-kids.pdf",
            || kids_fan_out_pdf(20, 1_000),
        ),
        b(
            "(f') AcroForm /Kids cycle through a shared array of 100k",
            "f-kids-shared.pdf",
            || shared_kids_array_pdf(100_000),
        ),
        b(
            "(g) .docx of 8M empty paragraphs",
            "g-paragraphs.docx",
            || empty_paragraphs_docx(8_000_000),
        ),
        b(
            "(g') .docx of 1 paragraph of 8M empty runs",
            "g-runs.docx",
            || empty_runs_docx(8_000_000),
        ),
        b(
            "(h) .docx table of 800k cells in one row",
            "h-cells.docx",
            || table_cells_docx(800_000),
        ),
        b("(h') .docx table of 800k rows", "h-rows.docx", || {
            table_rows_docx(800_000)
        }),
        b(
            "(i) HTML mail body of 400k `<a` without `>`",
            "i-html.eml",
            || html_mail(&quadratic_html(800_000)),
        ),
        b(
            "(i') .html attachment of 133k unclosed `<a b=\"`",
            "i-html-quotes.eml",
            || html_attachment_mail(&unclosed_quotes_html(800_000)),
        ),
        b("(j) mail of 3.4M empty MIME parts", "j-parts.eml", || {
            empty_parts_mail(3_400_000, false)
        }),
        b(
            "(j') 3.4M parts, boundaries with trailing blanks and bare LF",
            "j-parts-odd.eml",
            || empty_parts_mail(3_400_000, true),
        ),
        b(
            "(k) nested forwards, 259 forms (6 wide, 3 deep)",
            "k-forwards.eml",
            || nested_forwards(6, 3, "BD-1", false),
        ),
        b(
            "(k') base64 nested forwards, 273 forms (16 wide, 2 deep)",
            "k-forwards-b64.eml",
            || nested_forwards(16, 2, "BD-2", true),
        ),
        b(
            "(l) winmail.dat holding (g)'s .docx",
            "l-winmail-docx.eml",
            || winmail_mail("Bestilling.docx", &empty_paragraphs_docx(8_000_000)),
        ),
        b(
            "(l) winmail.dat holding (c)'s PDF",
            "l-winmail-pdf.eml",
            || winmail_mail("Bestilling.pdf", &inflating_pdf(GIB)),
        ),
        b(
            "(l') winmail.dat holding a mail of 2M empty MIME parts",
            "l-winmail-parts.eml",
            || winmail_mail("VIDERESENDT.EML", &empty_parts_mail(2_000_000, false)),
        ),
    ]
}

/// What one `spdesk check` did.
struct Run {
    label: &'static str,
    bytes: usize,
    exit: i32,
    verdict: String,
    wall: Duration,
    /// `/usr/bin/time -v`'s "Maximum resident set size" (kB).
    time_rss_kb: u64,
    /// The check process's own peak (kB).
    parent_kb: u64,
    /// The largest peak of its reader children (kB); 0 when none was seen.
    child_kb: u64,
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let dir = target_dir().join("bombs");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    for bomb in bombs() {
        let bytes = (bomb.make)();
        let path = dir.join(bomb.file);
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let run = check(&dir, bomb.file, bomb.label, bytes.len());
        eprintln!(
            "{}: {} bytes, exit {}, {:.2} s, time -v {} kB, parent {} kB, child {} kB; {}",
            bomb.file,
            run.bytes,
            run.exit,
            run.wall.as_secs_f64(),
            run.time_rss_kb,
            run.parent_kb,
            run.child_kb,
            run.verdict
        );
        if run.exit != REVIEW {
            failures.push(format!(
                "{}: exit {} (expected {REVIEW})",
                bomb.file, run.exit
            ));
        }
        if !smoke && run.wall > MAX_WALL {
            failures.push(format!(
                "{}: {:.2} s (at most {MAX_WALL:?})",
                bomb.file,
                run.wall.as_secs_f64()
            ));
        }
        if !smoke && run.parent_kb > MAX_PARENT_KB {
            failures.push(format!(
                "{}: parent peak {} kB (at most {MAX_PARENT_KB} kB)",
                bomb.file, run.parent_kb
            ));
        }
        runs.push(run);
    }
    let table = markdown(&runs, smoke);
    println!("{table}");
    let out = target_dir().join(if smoke {
        "bench-bombs-smoke.md"
    } else {
        "bench-bombs.md"
    });
    std::fs::write(&out, &table).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    if !failures.is_empty() {
        eprintln!(
            "bench bombs: {} failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
        std::process::exit(1);
    }
}

/// `/usr/bin/time -v spdesk check --json FILE` in `dir`, sampling the memory of the check
/// process and its children until it ends.
fn check(dir: &Path, file: &str, label: &'static str, bytes: usize) -> Run {
    let err_path = dir.join(format!("{file}.time"));
    let out_path = dir.join(format!("{file}.json"));
    let create = |p: &PathBuf| File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let start = Instant::now();
    let mut time = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(BIN)
        .args(["check", "--json", file])
        .current_dir(dir)
        .env_remove("SPDESK_CONFIG")
        .stdin(Stdio::null())
        .stdout(create(&out_path))
        .stderr(create(&err_path))
        .spawn()
        .expect("running /usr/bin/time -v spdesk check (install the time package)");
    let mut peaks: BTreeMap<u32, u64> = BTreeMap::new();
    let mut parent = None;
    loop {
        if time
            .try_wait()
            .expect("waiting for /usr/bin/time")
            .is_some()
        {
            break;
        }
        parent = parent.or_else(|| children(time.id()).into_iter().next());
        if let Some(pid) = parent {
            for p in std::iter::once(pid).chain(children(pid)) {
                if let Some((_, hwm)) = memory_kb(p) {
                    peaks.insert(p, hwm);
                }
            }
        }
        std::thread::sleep(POLL);
    }
    let wall = start.elapsed();
    let report = std::fs::read_to_string(&err_path).unwrap_or_default();
    let field = |name: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let parent_kb = parent.and_then(|p| peaks.get(&p).copied()).unwrap_or(0);
    let child_kb = peaks
        .iter()
        .filter(|(p, _)| Some(**p) != parent)
        .map(|(_, kb)| *kb)
        .max()
        .unwrap_or(0);
    Run {
        label,
        bytes,
        exit: field("Exit status:").map_or(-1, |c| c as i32),
        verdict: verdict(
            &std::fs::read_to_string(&out_path).unwrap_or_default(),
            &report,
        ),
        wall,
        time_rss_kb: field("Maximum resident set size (kbytes):").map_or(0, |k| k as u64),
        parent_kb,
        child_kb,
    }
}

/// The children of `pid` (all its threads'), from /proc.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The decision, the findings' rules and the problems from `spdesk check --json`;
/// or what went wrong.
fn verdict(json: &str, time_report: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json.lines().next().unwrap_or("")) else {
        let signal = time_report
            .lines()
            .find(|l| l.contains("terminated by signal"))
            .unwrap_or("no JSON output");
        return signal.trim().to_string();
    };
    let decision = v["decision"].as_str().unwrap_or("none").to_string();
    // The mail's findings, then its forms' (each rule once).
    let form_findings = v["forms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["findings"].as_array())
        .flatten();
    let mut rules: Vec<&str> = Vec::new();
    for f in v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(form_findings)
    {
        if let Some(r) = f["rule"].as_str().filter(|r| !rules.contains(r)) {
            rules.push(r);
        }
    }
    // Each problem once: the file's reason also comes back prefixed ("limit exceeded: ...").
    let mut problems: Vec<&str> = Vec::new();
    for p in v["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str())
    {
        let tail = p.rsplit(": ").next().unwrap_or(p);
        if !problems.iter().any(|q| q.ends_with(tail)) {
            problems.push(p);
        }
    }
    format!("{decision}: {}; {}", rules.join(", "), problems.join("; "))
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} KB", bytes as f64 / 1e3)
    }
}

/// The report; `smoke`: a run by `cargo test` with the debug binary, not a measurement.
fn markdown(runs: &[Run], smoke: bool) -> String {
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let (command, build) = if smoke {
        ("cargo test --bench bombs", "smoke run, debug")
    } else {
        ("cargo bench --bench bombs", "release")
    };
    let mut s = format!(
        "## spdesk bomb benchmark, {now}\n\nMachine: {}.  \nCommand: `{command}` \
         ({build} `spdesk check --json FILE` under `/usr/bin/time -v`, default limits, no config).\n\n\
         | bomb | size | exit | verdict | wall s | max RSS (time -v) | parent VmHWM | reader child VmHWM |\n\
         |---|---|---|---|---|---|---|---|\n",
        machine()
    );
    for r in runs {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} |\n",
            r.label,
            size(r.bytes),
            r.exit,
            r.verdict.replace('|', "\\|"),
            r.wall.as_secs_f64(),
            mb(r.time_rss_kb),
            mb(r.parent_kb),
            if r.child_kb == 0 {
                "–".into()
            } else {
                mb(r.child_kb)
            },
        ));
    }
    s
}
