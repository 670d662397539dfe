//! The check's words where people read them: the *gennemført* receipt's line (Danish, for the
//! requester), the history's event, and the outcome the execution carries.

use super::{ChainProblem, Expected, FAILED, PASSED, Report, Step, failures};

/// The receipt's line for an sftp monitoring change: there is no endpoint to connect to.
const NO_PROBE: &str = "Ændringen af overvågningen kan ikke kontrolleres ved at forbinde til en adresse, så der er ikke foretaget en automatisk kontrol.";

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
            receipt_line: NO_PROBE.into(),
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
