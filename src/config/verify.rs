//! `[verify]`: the step-8 check of a webservice change (DESIGN.md "Verifying a change"):
//! whether executing an order checks its endpoint, each step's time limit, and how often and
//! how far apart a failing check is tried again.

use std::time::Duration;

use super::reader::Sect;

/// The longest `retries`: beyond this a person should look rather than the daemon wait.
const MAX_RETRIES: i64 = 20;

/// `[verify]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    /// `enabled` (true): executing a `url` or `ssl_certificate` change checks it first.
    pub enabled: bool,
    /// `timeout` ("10s"): for each step (DNS, TCP, TLS, HTTP answer).
    pub timeout: Duration,
    /// `retries` (2): attempts after the first while the check fails.
    pub retries: u32,
    /// `retry_interval` ("30s"): the wait between attempts.
    pub retry_interval: Duration,
}

impl Default for Verify {
    fn default() -> Self {
        Verify {
            enabled: true,
            timeout: Duration::from_secs(10),
            retries: 2,
            retry_interval: Duration::from_secs(30),
        }
    }
}

pub(super) fn read_verify(s: &mut Sect) -> Verify {
    let d = Verify::default();
    let retries = s.integer(
        "retries",
        0,
        MAX_RETRIES,
        &format!("a whole number from 0 to {MAX_RETRIES}"),
    );
    Verify {
        enabled: s.boolean("enabled").unwrap_or(d.enabled),
        timeout: s.duration("timeout").unwrap_or(d.timeout),
        retries: retries
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(d.retries),
        retry_interval: s.duration("retry_interval").unwrap_or(d.retry_interval),
    }
}
