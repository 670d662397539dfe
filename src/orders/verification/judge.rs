//! What the probe's facts mean: which checks passed, with what detail (English, for the
//! person and the history).

use super::{Check, Expected, Observation, Report, Step};

/// Judges what the probe found: reachable (DNS, TCP, TLS), the chain valid for the host and
/// today, the leaf the ordered one, an HTTP answer (any status); the old URL's state is
/// information only.
pub fn report(
    o: &Observation,
    expected: &Expected,
    old: Option<&Observation>,
    attempts: u32,
) -> Report {
    let mut checks = vec![reachable(o), chain(o), certificate(o, expected), http(o)];
    if let Some(old) = old {
        checks.push(Check {
            name: "old_url",
            passed: None,
            detail: match (&old.failed, old.http_status) {
                (None, Some(status)) => format!("{} still answers (HTTP {status})", old.url),
                (Some((step, why)), _) => {
                    format!("{} does not answer ({}: {why})", old.url, step.name())
                }
                (None, None) => format!("{} gave no HTTP answer", old.url),
            },
        });
    }
    let passed = checks.iter().all(|c| c.passed != Some(false));
    Report {
        url: o.url.clone(),
        passed,
        attempts,
        expected: expected.clone(),
        checks,
        observation: o.clone(),
        old: old.cloned(),
    }
}

fn reachable(o: &Observation) -> Check {
    let detail = match (&o.failed, &o.connected) {
        (Some((step @ (Step::Url | Step::Dns | Step::Tcp | Step::Tls), why)), _) => {
            format!("{}: {why}", step.name())
        }
        (_, Some(addr)) => format!("connected to {addr}, TLS handshake done"),
        (_, None) => "not connected".into(),
    };
    let passed = o.leaf.is_some()
        && !matches!(
            o.failed,
            Some((Step::Url | Step::Dns | Step::Tcp | Step::Tls, _))
        );
    Check {
        name: "reachable",
        passed: Some(passed),
        detail,
    }
}

fn chain(o: &Observation) -> Check {
    let (passed, detail) = match (&o.leaf, &o.chain_error) {
        (None, _) => (false, "no certificate was served".to_string()),
        (Some(_), Some(why)) => (false, why.clone()),
        (Some(_), None) => (true, "valid for the host name and today".into()),
    };
    Check {
        name: "chain",
        passed: Some(passed),
        detail,
    }
}

fn certificate(o: &Observation, expected: &Expected) -> Check {
    let check = |passed: Option<bool>, detail: String| Check {
        name: "certificate",
        passed,
        detail,
    };
    let Some(leaf) = &o.leaf else {
        return check(Some(false), "no certificate was served".into());
    };
    match expected {
        Expected::Any => check(
            None,
            format!(
                "no certificate ordered; served SHA-256 {} (serial {})",
                leaf.sha256, leaf.serial
            ),
        ),
        Expected::Fingerprint { sha256 } if *sha256 == leaf.sha256 => check(
            Some(true),
            format!("the ordered certificate is served (SHA-256 {sha256})"),
        ),
        Expected::Fingerprint { sha256 } => check(
            Some(false),
            format!(
                "another certificate is served: SHA-256 {} (serial {}, issuer {}); ordered SHA-256 {sha256}",
                leaf.sha256, leaf.serial, leaf.issuer
            ),
        ),
        Expected::Serial { serial } => check(
            Some(*serial == leaf.serial),
            format!(
                "served serial {} issued by {} (SHA-256 {}); ordered serial {serial}",
                leaf.serial, leaf.issuer, leaf.sha256
            ),
        ),
    }
}

fn http(o: &Observation) -> Check {
    let (passed, detail) = match (o.http_status, &o.failed) {
        (Some(status), _) => (
            true,
            format!("HTTP {status} (any status counts as answering)"),
        ),
        (None, Some((Step::Http, why))) => (false, why.clone()),
        (None, _) => (false, "no request was made".into()),
    };
    Check {
        name: "http",
        passed: Some(passed),
        detail,
    }
}

/// A report as text for the person (English, one check a line; the shell escapes it).
pub fn text(r: &Report) -> String {
    let mut out = format!(
        "{}: {} (attempts: {})\n",
        r.url,
        if r.passed { "PASSED" } else { "FAILED" },
        r.attempts
    );
    for c in &r.checks {
        let mark = match c.passed {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => "info",
        };
        out.push_str(&format!("  {mark} {:<11} {}\n", c.name, c.detail));
    }
    out
}

/// What failed, in one line (English): the failed checks' names and details.
pub fn failures(r: &Report) -> String {
    r.checks
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The report of an order that names no URL to check: failed, saying which field to fill in.
pub fn no_url(expected: &Expected) -> Report {
    let o = Observation {
        url: "(ingen URL)".into(),
        failed: Some((
            Step::Url,
            "the order names no URL (current_url / new_url); add it with `orders edit --set current_url=https://…`".into(),
        )),
        ..Observation::default()
    };
    report(&o, expected, None, 0)
}
