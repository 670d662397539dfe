//! The step-8 check of a webservice change (PROCESS.md step 8, DESIGN.md "Verifying a
//! change"): what an order asks to be checked, what the probe's facts mean (which checks
//! passed, with what detail), and the words the history and the *gennemført* receipt use.
//!
//! Why pure: the network probe (src/verify) only gathers facts; deciding whether "the served
//! leaf is the ordered certificate" or "a 405 still counts as answering" is a rule, and rules
//! are unit-tested here without a server.

mod judge;
mod subject;
mod words;

use serde::Serialize;

pub use judge::{failures, no_url, report, text};
pub use subject::{fingerprint, normal_serial, subject, worth_checking};
pub use words::{Verification, event, receipt_line, verification};

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
#[cfg(test)]
mod tests;
