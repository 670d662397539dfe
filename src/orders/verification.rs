//! The step-8 check of a webservice change (PROCESS.md step 8, DESIGN.md "Verifying a
//! change"): what an order asks to be checked, what the probe's facts mean (which checks
//! passed, with what detail), and the words the history and the *gennemført* receipt use.
//!
//! Why pure: the network probe (src/verify) only gathers facts; deciding whether "the served
//! leaf is the ordered certificate" or "a 405 still counts as answering" is a rule, and rules
//! are unit-tested here without a server.

use serde::Serialize;

use crate::orders::order::OrderRow;
use crate::orders::state::State;

/// The event of a passed check.
pub const PASSED: &str = "verified";
/// The event of a failed check.
pub const FAILED: &str = "verification failed";

/// What an order asks the machine to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Nothing: not a webservice change of `url` or `ssl_certificate`.
    Nothing,
    /// An sftp monitoring change: nothing to connect to; the receipt says so.
    Monitoring,
    /// A webservice endpoint.
    Endpoint(Target),
}

/// The endpoint to check and what it must present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The new URL (a `url` change), else the current one; `None`: the form names none.
    pub url: Option<String>,
    /// The URL being replaced (a `url` change): its state is reported, not judged.
    pub old_url: Option<String>,
    pub expected: Expected,
}

/// The certificate the endpoint must serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Expected {
    /// No certificate ordered (a `url` change): any certificate valid for the host.
    Any,
    /// The SHA-256 of the ordered leaf's DER, as [`fingerprint`] writes it.
    Fingerprint { sha256: String },
    /// The form gave only a serial (hex): the served leaf's serial must be it.
    Serial { serial: String },
}

/// What the order asks to be checked: its kind, its latest version's `changes` and URLs, and
/// the DER of the ordered certificate's leaf when its file could be read.
pub fn subject(kind: Option<&str>, judgement: &serde_json::Value, leaf: Option<&[u8]>) -> Subject {
    let field = |name: &str| {
        judgement
            .pointer(&format!("/fields/{name}"))
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let changes: Vec<String> = judgement
        .pointer("/fields/changes")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    let has = |c: &str| changes.iter().any(|x| x == c);
    match kind {
        Some("sftp") => return Subject::Monitoring,
        Some("webservice") if has("url") || has("ssl_certificate") => {}
        _ => return Subject::Nothing,
    }
    let url_change = has("url");
    let expected = match (has("ssl_certificate"), leaf, field("certificate_serial")) {
        (true, Some(der), _) => Expected::Fingerprint {
            sha256: fingerprint(der),
        },
        (true, None, Some(serial)) => Expected::Serial {
            serial: normal_serial(&serial),
        },
        _ => Expected::Any,
    };
    Subject::Endpoint(Target {
        url: if url_change {
            field("new_url")
        } else {
            field("current_url").or_else(|| field("new_url"))
        },
        old_url: url_change.then(|| field("current_url")).flatten(),
        expected,
    })
}

/// Whether executing the order now gets as far as the check: approved, its planned time come
/// (or executed early on purpose) and no required field missing. An execution the plan will
/// refuse anyway is not worth a probe (nor an event).
pub fn worth_checking(
    o: &OrderRow,
    judgement: &serde_json::Value,
    early: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    o.state == State::Approved
        && (early || o.planned_at.is_none_or(|p| p <= now))
        && crate::orders::plan::missing_required(judgement).is_none()
}

/// A SHA-256 as certificate viewers show it: upper-case hex pairs joined by colons.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    colon_hex(&sha2::Sha256::digest(der))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A serial as FORMS.md compares it: hex, case, colons, spaces and leading zeros ignored.
pub fn normal_serial(s: &str) -> String {
    let hex: String = s
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let t = hex.trim_start_matches('0');
    if t.is_empty() { "0".into() } else { t.into() }
}

/// A step of the probe, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The URL itself (not https, no host).
    Url,
    Dns,
    Tcp,
    Tls,
    Http,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Url => "URL",
            Step::Dns => "DNS",
            Step::Tcp => "TCP",
            Step::Tls => "TLS",
            Step::Http => "HTTP",
        }
    }
}

/// What is wrong with a served chain, for the requester's receipt (Danish words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainProblem {
    Expired,
    NotYetValid,
    WrongHost,
    Untrusted,
    Other,
}

impl ChainProblem {
    fn danish(self) -> &'static str {
        match self {
            ChainProblem::Expired => "certifikatet er udløbet",
            ChainProblem::NotYetValid => "certifikatet er endnu ikke gyldigt",
            ChainProblem::WrongHost => "certifikatet gælder ikke for værtsnavnet",
            ChainProblem::Untrusted => "certifikatets udsteder er ikke betroet",
            ChainProblem::Other => "certifikatkæden er ikke gyldig",
        }
    }
}

/// The served leaf certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Leaf {
    pub sha256: String,
    /// Hex, as [`normal_serial`] writes it.
    pub serial: String,
    pub issuer: String,
    pub subject: String,
    pub not_after: String,
}

/// What one probe of a URL found: the facts, no judgement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub url: String,
    /// The addresses the host resolved to.
    pub addresses: Vec<String>,
    /// The address the TCP connection was made to.
    pub connected: Option<String>,
    /// The step that stopped the probe, and why (`None`: every step ran).
    pub failed: Option<(Step, String)>,
    /// Why the served chain is not valid for the host today (`None`: valid, or not seen).
    pub chain_error: Option<String>,
    /// The kind of [`Observation::chain_error`].
    pub chain_problem: Option<ChainProblem>,
    pub leaf: Option<Leaf>,
    /// The HTTP status the request for the URL's path got.
    pub http_status: Option<u16>,
}

/// One check and its result; `passed: None` is information, not a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: Option<bool>,
    pub detail: String,
}

/// The checks of one endpoint, the verdict, and the facts they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub url: String,
    pub passed: bool,
    pub attempts: u32,
    pub expected: Expected,
    pub checks: Vec<Check>,
    pub observation: Observation,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Observation>,
}

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

/// The check's outcome as the execution carries it into the history and the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub passed: bool,
    /// The *gennemført* receipt's line (Danish).
    pub receipt_line: String,
    /// What failed (English, for the person refused); empty when it passed.
    pub failures: String,
    /// `--unverified --reason`: executed although the check did not pass, and why.
    pub unverified: Option<String>,
}

/// The outcome of a check of `r` (`None`: the sftp monitoring change, nothing to probe).
pub fn verification(r: Option<&Report>) -> Verification {
    let Some(r) = r else {
        return Verification {
            passed: true,
            receipt_line:
                "Ændringen af overvågningen kan ikke kontrolleres ved at forbinde til en \
                           adresse, så der er ikke foretaget en automatisk kontrol."
                    .into(),
            failures: String::new(),
            unverified: None,
        };
    };
    Verification {
        passed: r.passed,
        receipt_line: receipt_line(r),
        failures: failures(r),
        unverified: None,
    }
}

/// RECEIPTS.md's line: what was verified, or why the change could not be confirmed.
pub fn receipt_line(r: &Report) -> String {
    if r.passed {
        return match (&r.expected, &r.observation.leaf) {
            (Expected::Fingerprint { sha256 }, _) => format!(
                "Vi har kontrolleret, at {} svarer og præsenterer det bestilte certifikat (SHA-256 {sha256}).",
                r.url
            ),
            (Expected::Serial { serial }, _) => format!(
                "Vi har kontrolleret, at {} svarer og præsenterer det bestilte certifikat (serienummer {serial}).",
                r.url
            ),
            (Expected::Any, Some(leaf)) => format!(
                "Vi har kontrolleret, at {} svarer med et gyldigt certifikat (SHA-256 {}).",
                r.url, leaf.sha256
            ),
            (Expected::Any, None) => format!("Vi har kontrolleret, at {} svarer.", r.url),
        };
    }
    format!(
        "Vi har ikke kunnet bekræfte ændringen automatisk: {}.",
        danish_failures(r).join("; ")
    )
}

/// What failed, in Danish for the requester: not reached (and why, by step), else each of an
/// invalid chain, another certificate (both fingerprints) and no HTTP answer.
fn danish_failures(r: &Report) -> Vec<String> {
    let (o, url) = (&r.observation, &r.url);
    let failed = |name: &str| {
        r.checks
            .iter()
            .any(|c| c.name == name && c.passed == Some(false))
    };
    if failed("reachable") {
        let why = match o.failed.as_ref().map(|f| f.0) {
            Some(Step::Url) => "ordren angiver ingen brugbar https-adresse",
            Some(Step::Dns) => "værtsnavnet kunne ikke slås op",
            Some(Step::Tcp) => "der kunne ikke oprettes forbindelse",
            _ => "der kunne ikke oprettes en TLS-forbindelse",
        };
        return vec![format!("{url} kunne ikke nås ({why})")];
    }
    let mut out = Vec::new();
    if failed("chain") {
        let why = o.chain_problem.unwrap_or(ChainProblem::Other).danish();
        out.push(format!(
            "certifikatet, som {url} præsenterer, er ikke gyldigt ({why})"
        ));
    }
    if failed("certificate")
        && let Some(leaf) = &o.leaf
    {
        out.push(match &r.expected {
            Expected::Serial { serial } => format!(
                "{url} præsenterer et certifikat med serienummer {} i stedet for det bestilte med serienummer {serial}",
                leaf.serial
            ),
            _ => format!(
                "{url} præsenterer et andet certifikat (SHA-256 {}) end det bestilte ({})",
                leaf.sha256,
                match &r.expected {
                    Expected::Fingerprint { sha256 } => format!("SHA-256 {sha256}"),
                    _ => "intet".into(),
                }
            ),
        });
    }
    if failed("http") {
        out.push(format!("{url} svarer ikke på en HTTP-forespørgsel"));
    }
    out
}

/// The history's event of one check: passed or failed, with every check's line.
pub fn event(actor: &str, r: &Report) -> crate::orders::plan::Event {
    let action = if r.passed { PASSED } else { FAILED };
    let lines: Vec<String> = r
        .checks
        .iter()
        .map(|c| {
            let mark = match c.passed {
                Some(true) => "ok",
                Some(false) => "FEJL",
                None => "info",
            };
            format!("{mark} {}: {}", c.name, c.detail)
        })
        .collect();
    let detail = format!("{} ({} forsøg)\n{}", r.url, r.attempts, lines.join("\n"));
    crate::orders::plan::Event::note(actor, action, detail)
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

#[cfg(test)]
mod tests;
