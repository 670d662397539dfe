//! Durations and sizes as the config writes them ("60s", "5m", "25 MB", "50MiB").

use std::time::Duration;

/// Ten years: a longer duration is surely a mistake.
const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 86_400);

/// What every duration problem ends with.
const DURATION_EXAMPLES: &str = "e.g. \"60s\", \"5m\", \"500ms\"";

/// A duration such as "60s", "5m", "1h30m", "500ms", "2 days", "1.5h" (humantime's syntax;
/// units in any case, so "5M" is five minutes); a unit is required, whole milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    use humantime::DurationError as E;
    let t = text.trim().to_ascii_lowercase();
    let d = humantime::parse_duration(&t).map_err(|e| match e {
        E::Empty => format!("must be a duration with a unit, {DURATION_EXAMPLES}"),
        E::UnknownUnit { unit, value, .. } if unit.is_empty() => {
            format!("needs a unit after {value}: ms, s, m, h or d, e.g. \"{value}s\"")
        }
        E::UnknownUnit { unit, .. } => {
            format!("has an unknown unit \"{unit}\": use ms, s, m, h or d")
        }
        E::NumberExpected(at) | E::InvalidCharacter(at) => format!(
            "is not a duration: unexpected \"{}\"; write {DURATION_EXAMPLES}",
            t.get(at..).unwrap_or("")
        ),
        E::NumberOverflow => "is too long (at most ten years)".to_string(),
    })?;
    if d > MAX_DURATION {
        return Err("is too long (at most ten years)".to_string());
    }
    if d.subsec_nanos() % 1_000_000 != 0 {
        return Err(format!(
            "is finer than a millisecond: write whole milliseconds, {DURATION_EXAMPLES}"
        ));
    }
    Ok(d)
}

/// What every size problem says when the text is no size at all.
const NOT_A_SIZE: &str =
    "must be a size: a number of bytes, or e.g. \"25 MB\", \"50MiB\", \"512 kB\"";

/// A size such as "25 MB" (10^6), "50MiB" (2^20), "512 kB", "1.5 GB", "100" (bytes), read by
/// bytesize; units in any case.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let unit = t
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
        .trim();
    if unit.len() == t.len() {
        return Err(NOT_A_SIZE.into());
    }
    if !unit.is_empty() && unit.parse::<bytesize::Unit>().is_err() {
        return Err(format!(
            "has an unknown unit \"{}\": use B, kB, MB, GB, KiB, MiB or GiB",
            unit.to_ascii_lowercase()
        ));
    }
    match t.parse::<bytesize::ByteSize>() {
        // bytesize saturates instead of failing.
        Ok(b) if b.as_u64() == u64::MAX => Err("is too large".to_string()),
        Ok(b) => Ok(b.as_u64()),
        // Digits only, yet not a u64.
        Err(_) if unit.is_empty() && !t.contains('.') => Err("is too large".to_string()),
        Err(_) => Err(NOT_A_SIZE.into()),
    }
}

/// The shortest exact form of a duration, e.g. "5m", "90s", "1500ms".
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
