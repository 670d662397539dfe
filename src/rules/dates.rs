//! Reading the desired date and time (`desired_at`) as people write it on a form: numeric
//! dates (14-12-2026, 14.12.2026, 2026-12-14, ISO 8601), Danish long dates ("mandag den
//! 14. december 2026", "14. dec. 2026") and an optional time ("kl. 10.00"). All in
//! Europe/Copenhagen. Pure and total: odd input gives `None`, never a panic.

use std::sync::LazyLock;

use chrono::{
    Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Weekday,
};
use regex::{Captures, Regex};

use crate::rules::calendar::{TZ, local_datetime};

/// Longer text is not a date; the bound keeps parsing cheap for hostile input.
const MAX_LEN: usize = 200;

/// A desired date with an optional time of day, Copenhagen local.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Desired {
    pub date: NaiveDate,
    pub time: Option<NaiveTime>,
}

impl Desired {
    /// The normalised `desired_at` of `check --json`: "2026-12-14T10:00:00+01:00" (Copenhagen
    /// offset, DST-correct; see [`local_datetime`] for the skipped and repeated hour) or, without
    /// a time, "2026-12-14".
    pub fn to_rfc3339(&self) -> String {
        match self.time {
            None => self.date.format("%Y-%m-%d").to_string(),
            Some(time) => match local_datetime(self.date, time) {
                Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, false),
                None => NaiveDateTime::new(self.date, time)
                    .format("%Y-%m-%dT%H:%M:%S")
                    .to_string(),
            },
        }
    }
}

static WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(mandag|tirsdag|onsdag|torsdag|fredag|lørdag|søndag|man|tirs|tir|ons|tors|tor|fre|lør|søn)(?:\.|\b)\s*,?\s*",
    )
    .expect("constant regex")
});
static DEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:den\b|d\.)\s*").expect("constant regex"));
static LEADING_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:kl\.?|klokken)\s*([0-9]{1,2})(?:[:.]([0-9]{2}))?\s*,?\s*")
        .expect("constant regex")
});
static ISO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})[t ]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]{1,9})?)?\s*(z|[+-][0-9]{2}(?::?[0-9]{2})?)?$",
    )
    .expect("constant regex")
});
static YMD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(.*)$").expect("constant regex")
});
static DMY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{1,2})([-./])([0-9]{1,2})([-./])([0-9]{4}|[0-9]{2})(.*)$")
        .expect("constant regex")
});
static TEXTUAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{1,2})\.?\s*([a-zæøå]+)\.?\s*,?\s*([0-9]{4})(.*)$").expect("constant regex")
});
static TRAILING_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^,?\s*(?:(?:kl\.?|klokken)\s*([0-9]{1,2})(?:[:.]([0-9]{2})(?:[:.]([0-9]{2}))?)?|([0-9]{1,2})[:.]([0-9]{2})(?:[:.]([0-9]{2}))?)$",
    )
    .expect("constant regex")
});

/// Parse a written desired date and optional time; `None` when it is not one date (wrong
/// format, impossible date such as 31-02-2026, a weekday that does not match the date, or
/// trailing text). A year is required (four digits from 1900, or two digits meaning 20xx).
pub fn parse_desired(text: &str) -> Option<Desired> {
    if text.len() > MAX_LEN {
        return None;
    }
    let norm = normalise(text);
    let mut s = norm.as_str();

    // "kl. 10.00 den 14. december 2026": a time before the date.
    let mut leading_time = None;
    if let Some(c) = LEADING_TIME.captures(s) {
        leading_time = Some(time_from(num(&c, 1)?, opt_num(&c, 2)?, Some(0))?);
        s = s.get(c.get(0)?.end()..)?;
    }
    let mut weekday = None;
    if let Some(c) = WEEKDAY.captures(s) {
        weekday = Some(weekday_from(c.get(1)?.as_str())?);
        s = s.get(c.get(0)?.end()..)?;
    }
    if let Some(m) = DEN.find(s) {
        s = s.get(m.end()..)?;
    }

    let (date, mut time) = if let Some(c) = ISO.captures(s) {
        iso(&c)?
    } else {
        let (date, rest) = date_and_rest(s)?;
        (date, trailing_time(rest)?)
    };
    if let Some(lt) = leading_time {
        if time.is_some() {
            return None; // two times
        }
        time = Some(lt);
    }
    if weekday.is_some_and(|w| w != date.weekday()) {
        return None;
    }
    Some(Desired { date, time })
}

/// Lowercase, one kind of space, one kind of hyphen, no trailing punctuation.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for ch in text.chars().flat_map(char::to_lowercase) {
        let ch = match ch {
            // Invisible characters that Word and mail clients leave in text.
            '\u{feff}' | '\u{200b}'..='\u{200d}' | '\u{00ad}' => continue,
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if ch == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(ch);
            last_space = false;
        }
    }
    out.trim_end_matches([' ', '.', ',', ';']).to_string()
}

/// A numeric or textual date at the start of `s`, and what follows it.
fn date_and_rest(s: &str) -> Option<(NaiveDate, &str)> {
    let (date, rest) = if let Some(c) = YMD.captures(s) {
        let y = year4(num(&c, 1)?)?;
        (
            NaiveDate::from_ymd_opt(y, num(&c, 2)?, num(&c, 3)?)?,
            c.get(4)?.as_str(),
        )
    } else if let Some(c) = DMY.captures(s) {
        if c.get(2)?.as_str() != c.get(4)?.as_str() {
            return None; // 14-12.2026: mixed separators
        }
        let ytext = c.get(5)?.as_str();
        let y = if ytext.len() == 2 {
            2000 + i32::try_from(num(&c, 5)?).ok()?
        } else {
            year4(num(&c, 5)?)?
        };
        (
            NaiveDate::from_ymd_opt(y, num(&c, 3)?, num(&c, 1)?)?,
            c.get(6)?.as_str(),
        )
    } else if let Some(c) = TEXTUAL.captures(s) {
        let month = month_from(c.get(2)?.as_str())?;
        let y = year4(num(&c, 3)?)?;
        (
            NaiveDate::from_ymd_opt(y, month, num(&c, 1)?)?,
            c.get(4)?.as_str(),
        )
    } else {
        return None;
    };
    // The year must end at a non-digit: 01-01-99999 is not 01-01-9999 followed by "9".
    if rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((date, rest))
}

/// The optional time after a date: nothing, "kl. 10", "kl. 10.00", "10:00", "10.00.00".
fn trailing_time(rest: &str) -> Option<Option<NaiveTime>> {
    let rest = rest.trim();
    if rest.is_empty() {
        return Some(None);
    }
    let c = TRAILING_TIME.captures(rest)?;
    let t = if c.get(1).is_some() {
        time_from(num(&c, 1)?, opt_num(&c, 2)?, opt_num(&c, 3)?)?
    } else {
        time_from(num(&c, 4)?, Some(num(&c, 5)?), opt_num(&c, 6)?)?
    };
    Some(Some(t))
}

/// ISO 8601 "2026-12-14T10:00[:00[.fff]][Z|+01:00]" (T or a space before the time); an offset
/// is converted to Copenhagen time.
fn iso(c: &Captures) -> Option<(NaiveDate, Option<NaiveTime>)> {
    let date = NaiveDate::from_ymd_opt(year4(num(c, 1)?)?, num(c, 2)?, num(c, 3)?)?;
    let time = time_from(num(c, 4)?, Some(num(c, 5)?), opt_num(c, 6)?)?;
    let Some(off) = c.get(7) else {
        return Some((date, Some(time)));
    };
    let off = off.as_str();
    let secs = if off == "z" {
        0
    } else {
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits: String = off.chars().filter(char::is_ascii_digit).collect();
        let h: i32 = digits.get(0..2)?.parse().ok()?;
        let m: i32 = digits
            .get(2..)
            .filter(|x| !x.is_empty())
            .map_or(Some(0), |x| x.parse().ok())?;
        if h > 23 || m > 59 {
            return None;
        }
        sign * (h * 3600 + m * 60)
    };
    let fixed = FixedOffset::east_opt(secs)?;
    let instant = fixed
        .from_local_datetime(&NaiveDateTime::new(date, time))
        .single()?;
    let local = instant.with_timezone(&TZ);
    Some((local.date_naive(), Some(local.time())))
}

fn num(c: &Captures, i: usize) -> Option<u32> {
    c.get(i)?.as_str().parse().ok()
}

/// `Some(None)` when the group did not match, `None` when it matched but is not a number.
fn opt_num(c: &Captures, i: usize) -> Option<Option<u32>> {
    match c.get(i) {
        None => Some(None),
        Some(m) => m.as_str().parse().ok().map(Some),
    }
}

fn year4(y: u32) -> Option<i32> {
    if (1900..=9999).contains(&y) {
        i32::try_from(y).ok()
    } else {
        None
    }
}

fn time_from(h: u32, m: Option<u32>, s: Option<u32>) -> Option<NaiveTime> {
    NaiveTime::from_hms_opt(h, m.unwrap_or(0), s.unwrap_or(0))
}

fn weekday_from(w: &str) -> Option<Weekday> {
    Some(match w {
        "mandag" | "man" => Weekday::Mon,
        "tirsdag" | "tirs" | "tir" => Weekday::Tue,
        "onsdag" | "ons" => Weekday::Wed,
        "torsdag" | "tors" | "tor" => Weekday::Thu,
        "fredag" | "fre" => Weekday::Fri,
        "lørdag" | "lør" => Weekday::Sat,
        "søndag" | "søn" => Weekday::Sun,
        _ => return None,
    })
}

/// Danish month names and the usual abbreviations.
fn month_from(m: &str) -> Option<u32> {
    Some(match m {
        "januar" | "jan" => 1,
        "februar" | "feb" => 2,
        "marts" | "mar" | "mrt" => 3,
        "april" | "apr" => 4,
        "maj" => 5,
        "juni" | "jun" => 6,
        "juli" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sep" | "sept" => 9,
        "oktober" | "okt" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn at(y: i32, m: u32, day: u32, h: u32, min: u32) -> Option<Desired> {
        Some(Desired {
            date: d(y, m, day),
            time: NaiveTime::from_hms_opt(h, min, 0),
        })
    }

    fn on(y: i32, m: u32, day: u32) -> Option<Desired> {
        Some(Desired {
            date: d(y, m, day),
            time: None,
        })
    }

    #[test]
    fn numeric_dates() {
        for s in [
            "14-12-2026",
            "14.12.2026",
            "14/12/2026",
            "2026-12-14",
            "14-12-26",
            "14.12.26",
            " 14-12-2026. ",
            "14\u{2011}12\u{2011}2026",
        ] {
            assert_eq!(parse_desired(s), on(2026, 12, 14), "{s:?}");
        }
        assert_eq!(parse_desired("1-2-2027"), on(2027, 2, 1));
        assert_eq!(parse_desired("7.12.2026"), on(2026, 12, 7));
        assert_eq!(parse_desired("2026-2-3"), on(2026, 2, 3));
        assert_eq!(parse_desired("29-02-2028"), on(2028, 2, 29));
    }

    #[test]
    fn danish_long_dates() {
        for s in [
            "14. december 2026",
            "14 december 2026",
            "14.december 2026",
            "14. dec 2026",
            "14. dec. 2026",
            "14 Dec. 2026",
            "14. DECEMBER 2026",
            "mandag den 14. december 2026",
            "Mandag d. 14. december 2026",
            "mandag, 14. december 2026",
            "man. 14. dec. 2026",
            "den 14. december 2026",
            "14. december, 2026",
        ] {
            assert_eq!(parse_desired(s), on(2026, 12, 14), "{s:?}");
        }
        assert_eq!(parse_desired("1. december 2026"), on(2026, 12, 1));
        assert_eq!(parse_desired("1 dec. 2026"), on(2026, 12, 1));
        assert_eq!(parse_desired("8. december 2026"), on(2026, 12, 8));
        let months = [
            ("januar", 1),
            ("jan", 1),
            ("februar", 2),
            ("feb", 2),
            ("marts", 3),
            ("mar", 3),
            ("april", 4),
            ("apr", 4),
            ("maj", 5),
            ("juni", 6),
            ("jun", 6),
            ("juli", 7),
            ("jul", 7),
            ("august", 8),
            ("aug", 8),
            ("september", 9),
            ("sep", 9),
            ("sept.", 9),
            ("oktober", 10),
            ("okt", 10),
            ("november", 11),
            ("nov", 11),
            ("december", 12),
            ("dec", 12),
        ];
        for (name, m) in months {
            assert_eq!(
                parse_desired(&format!("3. {name} 2027")),
                on(2027, m, 3),
                "{name}"
            );
        }
    }

    #[test]
    fn times() {
        for s in [
            "14-12-2026 kl. 10:00",
            "14-12-2026 kl. 10.00",
            "14-12-2026 kl 10",
            "14-12-2026 kl.10",
            "14-12-2026 10:00",
            "14-12-2026 10.00",
            "14-12-2026, kl. 10.00",
            "14.12.2026 klokken 10",
            "2026-12-14 10:00",
            "2026-12-14 kl. 10:00",
            "2026-12-14T10:00",
            "2026-12-14T10:00:00",
            "2026-12-14t10:00:00.000",
            "2026-12-14T10:00:00+01:00",
            "2026-12-14T10:00+0100",
            "2026-12-14T09:00:00Z",
            "2026-12-14T04:00:00-05:00",
            "mandag den 14. december 2026 kl. 10.00",
            "14. dec. 2026 kl. 10",
            "kl. 10.00 den 14. december 2026",
        ] {
            assert_eq!(parse_desired(s), at(2026, 12, 14, 10, 0), "{s:?}");
        }
        assert_eq!(
            parse_desired("14-12-2026 kl. 16:30"),
            at(2026, 12, 14, 16, 30)
        );
        assert_eq!(parse_desired("10.12.2026 8:05"), at(2026, 12, 10, 8, 5));
        assert_eq!(
            parse_desired("14-12-2026 10:00:30"),
            Some(Desired {
                date: d(2026, 12, 14),
                time: NaiveTime::from_hms_opt(10, 0, 30)
            })
        );
        // An offset in summer: 08:00Z is 10:00 CEST.
        assert_eq!(
            parse_desired("2026-06-15T08:00:00Z"),
            at(2026, 6, 15, 10, 0)
        );
        // An offset can move the date: 23:30Z is 00:30 the next day in Copenhagen.
        assert_eq!(
            parse_desired("2026-12-14T23:30:00Z"),
            at(2026, 12, 15, 0, 30)
        );
    }

    #[test]
    fn bad_input_is_none() {
        for s in [
            "",
            "   ",
            "i morgen",
            "31-02-2026",
            "29-02-2027",
            "32-12-2026",
            "14-13-2026",
            "00-12-2026",
            "2026-02-30",
            "14-12.2026",
            "14-12-2026 kl. 25:00",
            "14-12-2026 24:00",
            "14-12-2026 10:60",
            "14-12-2026 10",
            "14-12-2026 eller senere",
            "14. decembre 2026",
            "14. december",
            "december 2026",
            "tirsdag den 14. december 2026",
            "kl. 9 14-12-2026 kl. 10",
            "2026-12-14T10:00+25:00",
            "2026-12-14T10:00:00+01:00 extra",
            "01-01-0000",
            "0000-01-01",
            "01-01-99999",
            "99999-01-01",
            "1-1-1899",
            "99999999999999999999-12-2026",
            "14-12-99999999999999999999",
            "14. december 99999999999999999999",
            "2026-12-14T99999999999:00",
            "14122026",
            "kl.",
            "mandag",
        ] {
            assert_eq!(parse_desired(s), None, "{s:?}");
        }
        assert_eq!(parse_desired(&"1".repeat(10_000)), None);
        assert_eq!(parse_desired(&"14-12-2026 ".repeat(30)), None);
    }

    #[test]
    fn odd_unicode() {
        for s in [
            "\u{feff}14-12-2026",
            "14–12–2026",
            "14\u{a0}dec.\u{a0}2026",
            "14-12-\u{200b}2026",
        ] {
            assert_eq!(parse_desired(s), on(2026, 12, 14), "{s:?}");
        }
        // Non-ASCII digits, combining marks, letters that lowercase to two chars: rejected.
        for s in [
            "ÆØÅ",
            "14.\u{0301}12.2026",
            "İ14-12-2026",
            "١٤-١٢-٢٠٢٦",
            "14-12-2026 14-12-2026",
        ] {
            assert_eq!(parse_desired(s), None, "{s:?}");
        }
    }

    #[test]
    fn rfc3339_output() {
        assert_eq!(
            parse_desired("14-12-2026").unwrap().to_rfc3339(),
            "2026-12-14"
        );
        assert_eq!(
            parse_desired("14-12-2026 kl. 10:00").unwrap().to_rfc3339(),
            "2026-12-14T10:00:00+01:00"
        );
        assert_eq!(
            parse_desired("15-06-2026 kl. 10:00").unwrap().to_rfc3339(),
            "2026-06-15T10:00:00+02:00"
        );
        // DST change days: spring forward 29 March 2026, fall back 25 October 2026.
        assert_eq!(
            parse_desired("29-03-2026 kl. 01:30").unwrap().to_rfc3339(),
            "2026-03-29T01:30:00+01:00"
        );
        assert_eq!(
            parse_desired("29-03-2026 kl. 02:30").unwrap().to_rfc3339(),
            "2026-03-29T03:00:00+02:00"
        );
        assert_eq!(
            parse_desired("29-03-2026 kl. 10:00").unwrap().to_rfc3339(),
            "2026-03-29T10:00:00+02:00"
        );
        assert_eq!(
            parse_desired("25-10-2026 kl. 02:30").unwrap().to_rfc3339(),
            "2026-10-25T02:30:00+02:00"
        );
        assert_eq!(
            parse_desired("25-10-2026 kl. 03:00").unwrap().to_rfc3339(),
            "2026-10-25T03:00:00+01:00"
        );
        assert_eq!(
            parse_desired("25-10-2026 kl. 10:00").unwrap().to_rfc3339(),
            "2026-10-25T10:00:00+01:00"
        );
        // Round trip of the form that check --json prints.
        assert_eq!(
            parse_desired("2026-12-10T13:00:00+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-12-10T13:00:00+01:00"
        );
        // Extremes format without panicking.
        let far = Desired {
            date: NaiveDate::MAX,
            time: NaiveTime::from_hms_opt(23, 59, 59),
        };
        assert!(far.to_rfc3339().contains("12-31T"));
        let near = Desired {
            date: NaiveDate::MIN,
            time: NaiveTime::from_hms_opt(0, 0, 0),
        };
        assert!(near.to_rfc3339().contains('T'));
    }
}
