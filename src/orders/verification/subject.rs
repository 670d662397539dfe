//! What an order asks the machine to check: the endpoint (its new or current URL), the URL it
//! replaces, and the certificate it must serve (fingerprint, or serial).

use super::{Expected, Subject, Target};
use crate::orders::order::OrderRow;
use crate::orders::state::State;

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
