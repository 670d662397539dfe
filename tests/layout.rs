//! The layout the crate doc (src/lib.rs, "Layout") promises, checked on the source itself:
//!
//! - the pure core (src/mail, src/forms, src/rules, src/judge.rs, src/orders, src/schedule)
//!   does no file, network, process, thread, environment or database work, logs nothing and
//!   has no async code: it decides, the shell performs;
//! - no SQL outside src/store;
//! - no function outside tests is longer than [`MAX_FUNCTION_LINES`], except the few listed in
//!   [`LONG_ON_PURPOSE`] with the reason.
//!
//! Test modules (from a file's `#[cfg(test)]` on) are not checked: tests may write temp files.
//! The checks read lines, not Rust syntax; a pattern inside a comment or string counts too,
//! which errs on the safe side (say "file" in prose rather than naming an I/O API).

use std::fs;
use std::path::{Path, PathBuf};

/// The directories and files of the pure core.
const PURE: &[&str] = &[
    "src/mail",
    "src/forms",
    "src/rules",
    "src/judge.rs",
    "src/orders",
    "src/schedule",
];

/// What the pure core must not use, and why each pattern means I/O or an effect.
const IMPURE: &[(&str, &str)] = &[
    ("std::fs", "file I/O"),
    ("tokio::fs", "file I/O"),
    ("File::open", "file I/O"),
    ("std::net::Tcp", "network I/O"),
    ("std::net::Udp", "network I/O"),
    ("tokio::net", "network I/O"),
    ("lettre::transport", "network I/O (SMTP)"),
    ("SmtpTransport", "network I/O (SMTP)"),
    ("async_imap", "network I/O (IMAP)"),
    ("std::process", "processes"),
    ("tokio::process", "processes"),
    ("std::thread", "threads"),
    ("tokio::spawn", "tasks"),
    ("std::env", "the environment"),
    ("sqlx", "the database"),
    ("crate::store", "the database"),
    ("crate::daemon", "the shell"),
    ("crate::sandbox", "the shell (child processes)"),
    ("crate::cli", "the shell"),
    ("tracing", "logging"),
    ("async fn", "async code (the shell's)"),
    (".await", "async code (the shell's)"),
];

/// Words that start a SQL statement in a string literal.
const SQL: &[&str] = &[
    "\"SELECT ",
    "\"INSERT ",
    "\"UPDATE ",
    "\"DELETE ",
    "\"CREATE ",
    "\"WITH ",
    "sqlx::query",
];

/// The longest a function outside tests may be, in lines.
const MAX_FUNCTION_LINES: usize = 80;

/// Functions that are longer on purpose: (file, function, why). Only a table or a state machine
/// that reads best in one piece belongs here.
const LONG_ON_PURPOSE: &[(&str, &str, &str)] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every .rs file under `root`, relative to the crate root, sorted.
fn files_under(root: &str) -> Vec<String> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    rust_files(&base.join(root), &mut out);
    let mut names: Vec<String> = out
        .iter()
        .map(|p| {
            p.strip_prefix(base)
                .expect("under the crate")
                .display()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// The file's lines before its test module, numbered from 1 (none for a file that is a test
/// module itself, `tests.rs`).
fn code_lines(file: &str) -> Vec<(usize, String)> {
    if file.ends_with("/tests.rs") {
        return Vec::new();
    }
    let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// `file:line: text (why)` for each line of the pure core that uses I/O.
fn impure_lines() -> Vec<String> {
    let mut found = Vec::new();
    for root in PURE {
        for file in files_under(root) {
            for (n, line) in code_lines(&file) {
                for (pattern, why) in IMPURE {
                    if line.contains(pattern) {
                        found.push(format!("{file}:{n}: {} ({why})", line.trim()));
                    }
                }
            }
        }
    }
    found
}

/// `file:line: text` for each line outside src/store that holds SQL.
fn sql_lines() -> Vec<String> {
    let mut found = Vec::new();
    for file in files_under("src") {
        if file.starts_with("src/store/") {
            continue;
        }
        for (n, line) in code_lines(&file) {
            if SQL.iter().any(|p| line.contains(p)) {
                found.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    found
}

/// (file, function, first line, length) of every function outside tests longer than the limit.
/// A function ends at the first line that closes a brace at its own indentation.
fn long_functions() -> Vec<(String, String, usize, usize)> {
    let mut found = Vec::new();
    for file in files_under("src") {
        let lines = code_lines(&file);
        let mut i = 0;
        while i < lines.len() {
            let (start, line) = &lines[i];
            if let Some(name) = function_name(line) {
                let indent = line.len() - line.trim_start().len();
                let close = format!("{}}}", " ".repeat(indent));
                let body_open = lines[i..]
                    .iter()
                    .position(|(_, l)| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'));
                if let Some(open) = body_open.filter(|o| lines[i + o].1.trim_end().ends_with('{')) {
                    let end = lines[i + open..].iter().position(|(_, l)| {
                        l.starts_with(&close) && l.len() - l.trim_start().len() == indent
                    });
                    if let Some(end) = end {
                        let length = open + end + 1;
                        if length > MAX_FUNCTION_LINES {
                            found.push((file.clone(), name, *start, length));
                        }
                    }
                }
            }
            i += 1;
        }
    }
    found
}

/// The name of the function a line declares, if it declares one.
fn function_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    let before_ok = words[..at].iter().all(|w| {
        matches!(*w, "pub" | "async" | "const" | "unsafe" | "extern") || w.starts_with("pub(")
    });
    if !before_ok {
        return None;
    }
    let name = words.get(at + 1)?;
    Some(name.split(['(', '<']).next().unwrap_or(name).to_string())
}

#[test]
fn the_pure_core_does_no_io() {
    let found = impure_lines();
    assert!(
        found.is_empty(),
        "the pure core (src/lib.rs \"Layout\") must leave I/O to the shell; move these into \
         src/store, src/daemon, src/sandbox or src/cli:\n{}",
        found.join("\n")
    );
}

#[test]
fn sql_lives_only_in_the_store() {
    let found = sql_lines();
    assert!(
        found.is_empty(),
        "SQL belongs in src/store (a function per query, called with typed arguments):\n{}",
        found.join("\n")
    );
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let found: Vec<String> = long_functions()
        .into_iter()
        .filter(|(file, name, _, _)| {
            !LONG_ON_PURPOSE
                .iter()
                .any(|(f, n, _)| f == file && n == name)
        })
        .map(|(file, name, line, length)| format!("{file}:{line}: fn {name}: {length} lines"))
        .collect();
    assert!(
        found.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them by meaning, or list a table or \
         state machine in LONG_ON_PURPOSE with the reason):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_see_a_violation() {
    // The checks themselves: a line naming an I/O API, a SQL literal and a long function are
    // each recognised (so an empty result above means something).
    assert!(
        IMPURE
            .iter()
            .any(|(p, _)| "let f = std::fs::read(path);".contains(p))
    );
    assert!(SQL.iter().any(|p| r#"sqlx::query("SELECT 1")"#.contains(p)));
    assert_eq!(
        function_name("    pub(crate) async fn run(x: u8) {"),
        Some("run".into())
    );
    assert_eq!(function_name("let f = |x| x; // fn here"), None);
}
