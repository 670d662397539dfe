//! The Danish working-day calendar behind FORMS.md rule 4 ("Desired time can be met"):
//! public holidays, configured extra closed days, the change window, and Danish date
//! formatting for receipts. Pure: no I/O, no clock; every function is total.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Weekday,
};
use chrono_tz::Tz;

/// The Helpdesk's time zone: every desired time and receipt date is Copenhagen local time.
pub const TZ: Tz = chrono_tz::Europe::Copenhagen;

/// How many days a working-day search may scan before giving up. Only a pathological
/// configuration (nearly every day of the year closed) or a date at the end of chrono's range
/// gets near it; it keeps the search bounded in time for any input.
const MAX_SCAN_DAYS: u32 = 20_000;

/// Easter Sunday of `year` (Gregorian computus, Meeus/Jones/Butcher), `None` outside the
/// range chrono can represent.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    // i64 and Euclidean remainders so that any i32 year is computed without overflow.
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c.div_euclid(4);
    let k = c.rem_euclid(4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l).div_euclid(451);
    let month = (h + l - 7 * m + 114).div_euclid(31);
    let day = (h + l - 7 * m + 114).rem_euclid(31) + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The Danish name of the public holiday on `date`, if it is one. Store Bededag was abolished
/// from 2024, so it counts only up to and including 2023.
pub fn holiday_name(date: NaiveDate) -> Option<&'static str> {
    match (date.month(), date.day()) {
        (1, 1) => return Some("Nytårsdag"),
        (12, 25) => return Some("Juledag"),
        (12, 26) => return Some("2. juledag"),
        _ => {}
    }
    let easter = easter_sunday(date.year())?;
    match date.signed_duration_since(easter).num_days() {
        -3 => Some("Skærtorsdag"),
        -2 => Some("Langfredag"),
        0 => Some("Påskedag"),
        1 => Some("2. påskedag"),
        26 if date.year() <= 2023 => Some("Store Bededag"),
        39 => Some("Kristi Himmelfartsdag"),
        49 => Some("Pinsedag"),
        50 => Some("2. pinsedag"),
        _ => None,
    }
}

/// Working days: Monday to Friday except Danish public holidays and the configured extra
/// closed days (`rules.extra_closed_days`, e.g. 24 and 31 December).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    extra_closed: Vec<(u32, u32)>,
}

impl Calendar {
    /// A calendar with extra closed days given as "MM-DD" strings (as in the config).
    /// Errors name the bad value, so `config check` can say exactly what is wrong.
    pub fn new<S: AsRef<str>>(extra_closed_days: &[S]) -> Result<Calendar, String> {
        let mut days = Vec::with_capacity(extra_closed_days.len().min(366));
        for s in extra_closed_days {
            let s = s.as_ref();
            days.push(
                s.parse::<MonthDay>()
                    .map_err(|e| format!("extra closed day \"{s}\" {e}"))?,
            );
        }
        Ok(Calendar::from_days(&days))
    }

    /// A calendar with these extra closed days (duplicates count once).
    pub fn from_days(extra_closed_days: &[MonthDay]) -> Calendar {
        let mut extra_closed = Vec::with_capacity(extra_closed_days.len().min(366));
        for md in extra_closed_days {
            let md = (md.month, md.day);
            if !extra_closed.contains(&md) {
                extra_closed.push(md);
            }
        }
        Calendar { extra_closed }
    }

    /// The configured extra closed days as (month, day).
    pub fn extra_closed(&self) -> &[(u32, u32)] {
        &self.extra_closed
    }

    /// Why no change can be made on `date`, in Danish, or `None` on a working day: the holiday's
    /// name ("Juledag"), "lukkedag (24. december)" for an extra closed day, or the weekday
    /// ("lørdag"/"søndag"). The most specific reason wins (Juledag on a Saturday is "Juledag").
    pub fn closed_reason(&self, date: NaiveDate) -> Option<String> {
        if let Some(name) = holiday_name(date) {
            return Some(name.to_string());
        }
        if self.is_extra_closed(date) {
            return Some(format!(
                "lukkedag ({}. {})",
                date.day(),
                month_name(date.month())
            ));
        }
        match date.weekday() {
            Weekday::Sat => Some("lørdag".to_string()),
            Weekday::Sun => Some("søndag".to_string()),
            _ => None,
        }
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            && !self.is_extra_closed(date)
            && holiday_name(date).is_none()
    }

    fn is_extra_closed(&self, date: NaiveDate) -> bool {
        self.extra_closed.contains(&(date.month(), date.day()))
    }

    /// The `n`-th working day after `date` (`date` itself never counts; `n == 0` gives `date`).
    /// `None` when the search leaves chrono's date range or exceeds its bound.
    pub fn add_working_days(&self, date: NaiveDate, n: u32) -> Option<NaiveDate> {
        let mut d = date;
        let mut found = 0u32;
        let mut scanned = 0u32;
        while found < n {
            d = d.succ_opt()?;
            scanned += 1;
            if scanned > MAX_SCAN_DAYS {
                return None;
            }
            if self.is_working_day(d) {
                found += 1;
            }
        }
        Some(d)
    }

    /// `date` when it is a working day, else the next one after it (bounded search).
    pub fn next_working_day_on_or_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        let mut d = date;
        for _ in 0..MAX_SCAN_DAYS {
            if self.is_working_day(d) {
                return Some(d);
            }
            d = d.succ_opt()?;
        }
        None
    }
}

/// A closed day that recurs every year (`rules.extra_closed_days`), e.g. 24 December.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl MonthDay {
    pub fn matches(&self, date: NaiveDate) -> bool {
        date.month() == self.month && date.day() == self.day
    }
}

impl FromStr for MonthDay {
    type Err = String;

    /// "MM-DD" (one or two digits each, spaces around allowed); 29 February is allowed. The
    /// error is worded for `config check`, which shows the value beside it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || "must be a day of the year as \"MM-DD\", e.g. \"12-24\"".to_string();
        let (m, d) = s.trim().split_once('-').ok_or_else(bad)?;
        let num = |x: &str| -> Option<u32> {
            if (1..=2).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit()) {
                x.parse().ok()
            } else {
                None
            }
        };
        let (month, day) = num(m).zip(num(d)).ok_or_else(bad)?;
        // 2000 is a leap year, so 02-29 is accepted.
        NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(bad)?;
        Ok(MonthDay { month, day })
    }
}

impl fmt::Display for MonthDay {
    /// As the config writes it: "12-24".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

/// The configured change window (`rules.change_window`, default "08:00-15:00"): a change may be
/// planned from `start` (inclusive) until `end` (exclusive), Copenhagen local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeWindow {
    start: NaiveTime,
    end: NaiveTime,
}

impl ChangeWindow {
    /// A window; `start` must be before `end` (a window over midnight is not supported).
    pub fn new(start: NaiveTime, end: NaiveTime) -> Result<ChangeWindow, String> {
        if start < end {
            Ok(ChangeWindow { start, end })
        } else {
            Err(format!(
                "change window {}-{} is empty: its start must be before its end",
                start.format("%H:%M"),
                end.format("%H:%M")
            ))
        }
    }

    pub fn start(&self) -> NaiveTime {
        self.start
    }

    pub fn end(&self) -> NaiveTime {
        self.end
    }

    /// Start inclusive, end exclusive (FORMS.md rule 4).
    pub fn contains(&self, time: NaiveTime) -> bool {
        self.start <= time && time < self.end
    }
}

impl Default for ChangeWindow {
    /// 08:00–15:00, the documented default.
    fn default() -> Self {
        ChangeWindow {
            start: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(15, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

impl ChangeWindow {
    /// As the config writes it: "08:00-15:00".
    pub fn config_text(&self) -> String {
        format!(
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

impl FromStr for ChangeWindow {
    type Err = String;

    /// "08:00-15:00" (also "8.00–15.00", spaces allowed); an end of "24:00" is the end of the
    /// day, kept as 23:59 (desired times are whole minutes). The error is worded for
    /// `config check`, which shows the value beside it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || "must be \"HH:MM-HH:MM\", e.g. \"08:00-15:00\"".to_string();
        let (a, b) = s.trim().split_once(['-', '–', '—']).ok_or_else(bad)?;
        let start = parse_hh_mm(a.trim()).ok_or_else(bad)?;
        let end = match b.trim() {
            "24:00" | "24.00" => NaiveTime::from_hms_opt(23, 59, 0),
            b => parse_hh_mm(b),
        }
        .ok_or_else(bad)?;
        ChangeWindow::new(start, end)
            .map_err(|_| "must start before it ends, e.g. \"08:00-15:00\"".to_string())
    }
}

impl fmt::Display for ChangeWindow {
    /// Danish style, as in receipts: "08.00–15.00".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", danish_time(self.start), danish_time(self.end))
    }
}

/// "HH:MM" or "H.MM" → time.
fn parse_hh_mm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once([':', '.'])?;
    let ok = |x: &str, max_len: usize| {
        (1..=max_len).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit())
    };
    if !ok(h, 2) || m.len() != 2 || !ok(m, 2) {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// The Copenhagen instant for a local date and time. An ambiguous local time (the repeated hour
/// in October) gives the earlier instant; a nonexistent one (the skipped hour in March) gives
/// the first valid instant after the gap. `None` only at the edge of chrono's range.
pub fn local_datetime(date: NaiveDate, time: NaiveTime) -> Option<DateTime<Tz>> {
    let mut naive = NaiveDateTime::new(date, time);
    if let Some(t) = TZ.from_local_datetime(&naive).earliest() {
        return Some(t);
    }
    // In a gap: walk forward to the first whole minute that exists (gaps are at most hours).
    naive = naive.with_second(0)?.with_nanosecond(0)?;
    for _ in 0..(24 * 60) {
        naive = naive.checked_add_signed(TimeDelta::minutes(1))?;
        if let Some(t) = TZ.from_local_datetime(&naive).earliest() {
            return Some(t);
        }
    }
    None
}

fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "mandag",
        Weekday::Tue => "tirsdag",
        Weekday::Wed => "onsdag",
        Weekday::Thu => "torsdag",
        Weekday::Fri => "fredag",
        Weekday::Sat => "lørdag",
        Weekday::Sun => "søndag",
    }
}

/// Danish month name for 1–12 (empty for anything else, which chrono never gives).
pub fn month_name(month: u32) -> &'static str {
    match month {
        1 => "januar",
        2 => "februar",
        3 => "marts",
        4 => "april",
        5 => "maj",
        6 => "juni",
        7 => "juli",
        8 => "august",
        9 => "september",
        10 => "oktober",
        11 => "november",
        12 => "december",
        _ => "",
    }
}

/// "mandag den 7. december 2026" (RECEIPTS.md: dates in Danish long form).
pub fn danish_date(d: NaiveDate) -> String {
    format!("{} den {}", weekday_name(d.weekday()), danish_date_short(d))
}

/// "7. december 2026", where the weekday would be repetitive.
pub fn danish_date_short(d: NaiveDate) -> String {
    format!("{}. {} {}", d.day(), month_name(d.month()), d.year())
}

/// "10.00" (seconds only when not zero: "10.00.30").
pub fn danish_time(t: NaiveTime) -> String {
    if t.second() == 0 {
        format!("{:02}.{:02}", t.hour(), t.minute())
    } else {
        format!("{:02}.{:02}.{:02}", t.hour(), t.minute(), t.second())
    }
}

/// "mandag den 7. december 2026 kl. 10.00", shown in Copenhagen time whatever the input zone.
pub fn danish_datetime<Z: TimeZone>(t: &DateTime<Z>) -> String {
    let local = t.with_timezone(&TZ);
    format!(
        "{} kl. {}",
        danish_date(local.date_naive()),
        danish_time(local.time())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn easter_known_years() {
        assert_eq!(easter_sunday(2024), Some(d(2024, 3, 31)));
        assert_eq!(easter_sunday(2025), Some(d(2025, 4, 20)));
        assert_eq!(easter_sunday(2026), Some(d(2026, 4, 5)));
        assert_eq!(easter_sunday(2027), Some(d(2027, 3, 28)));
        assert_eq!(easter_sunday(2000), Some(d(2000, 4, 23)));
        assert_eq!(easter_sunday(2038), Some(d(2038, 4, 25)));
        assert_eq!(easter_sunday(2285), Some(d(2285, 3, 22)));
    }

    #[test]
    fn easter_never_panics_on_extreme_years() {
        for y in [i32::MIN, -1, 0, 1, 99_999, 262_000, i32::MAX] {
            let e = easter_sunday(y);
            if let Some(e) = e {
                assert_eq!(e.weekday(), Weekday::Sun, "year {y}");
            }
        }
        assert_eq!(easter_sunday(i32::MAX), None);
        // The ends of chrono's range: 31 December and 1 January.
        assert_eq!(holiday_name(NaiveDate::MAX), None);
        assert_eq!(holiday_name(NaiveDate::MIN), Some("Nytårsdag"));
    }

    #[test]
    fn holidays_2026() {
        let expect = [
            (d(2026, 1, 1), "Nytårsdag"),
            (d(2026, 4, 2), "Skærtorsdag"),
            (d(2026, 4, 3), "Langfredag"),
            (d(2026, 4, 5), "Påskedag"),
            (d(2026, 4, 6), "2. påskedag"),
            (d(2026, 5, 14), "Kristi Himmelfartsdag"),
            (d(2026, 5, 24), "Pinsedag"),
            (d(2026, 5, 25), "2. pinsedag"),
            (d(2026, 12, 25), "Juledag"),
            (d(2026, 12, 26), "2. juledag"),
        ];
        for (date, name) in expect {
            assert_eq!(holiday_name(date), Some(name), "{date}");
        }
        // Not holidays: Juleaften, Grundlovsdag, Nytårsaften, the Friday of old Store Bededag.
        for date in [
            d(2026, 12, 24),
            d(2026, 6, 5),
            d(2026, 12, 31),
            d(2026, 5, 1),
        ] {
            assert_eq!(holiday_name(date), None, "{date}");
        }
    }

    #[test]
    fn store_bededag_only_until_2023() {
        // Easter 2023 was 9 April; Store Bededag 5 May 2023.
        assert_eq!(holiday_name(d(2023, 5, 5)), Some("Store Bededag"));
        assert_eq!(d(2023, 5, 5).weekday(), Weekday::Fri);
        // 2024: Easter 31 March, the old Store Bededag would have been 26 April.
        assert_eq!(holiday_name(d(2024, 4, 26)), None);
        assert!(Calendar::default().is_working_day(d(2024, 4, 26)));
    }

    #[test]
    fn calendar_parses_config_days() {
        let c = Calendar::new(&["12-24", "12-31", " 2-29 ", "12-24"]).unwrap();
        assert_eq!(c.extra_closed(), &[(12, 24), (12, 31), (2, 29)]);
        let c = Calendar::new(&[String::from("06-05")]).unwrap();
        assert_eq!(c.extra_closed(), &[(6, 5)]);
        for bad in [
            "13-01",
            "00-10",
            "02-30",
            "12/24",
            "1224",
            "",
            "-",
            "aa-bb",
            "12-240",
            "999999999999-1",
            "12-",
        ] {
            let err = Calendar::new(&[bad]).unwrap_err();
            assert!(err.contains(&format!("\"{bad}\"")), "{err}");
        }
    }

    #[test]
    fn closed_reasons() {
        let c = Calendar::new(&["12-24", "12-31"]).unwrap();
        assert_eq!(c.closed_reason(d(2026, 12, 5)).as_deref(), Some("lørdag"));
        assert_eq!(c.closed_reason(d(2026, 12, 6)).as_deref(), Some("søndag"));
        assert_eq!(c.closed_reason(d(2026, 12, 25)).as_deref(), Some("Juledag"));
        assert_eq!(
            c.closed_reason(d(2026, 12, 24)).as_deref(),
            Some("lukkedag (24. december)")
        );
        // Juledag on a Saturday (2027) is named as the holiday.
        assert_eq!(c.closed_reason(d(2027, 12, 25)).as_deref(), Some("Juledag"));
        assert_eq!(c.closed_reason(d(2026, 12, 7)), None);
        assert!(c.is_working_day(d(2026, 12, 7)));
        assert!(!c.is_working_day(d(2026, 12, 31)));
        assert!(Calendar::default().is_working_day(d(2026, 12, 31)));
    }

    #[test]
    fn lead_time_across_a_weekend() {
        let c = Calendar::default();
        // Mon 30 Nov 2026 + 5 working days = Mon 7 Dec.
        assert_eq!(c.add_working_days(d(2026, 11, 30), 5), Some(d(2026, 12, 7)));
        // Fri 4 Dec + 1 = Mon 7 Dec; Sat 5 Dec + 1 = Mon 7 Dec.
        assert_eq!(c.add_working_days(d(2026, 12, 4), 1), Some(d(2026, 12, 7)));
        assert_eq!(c.add_working_days(d(2026, 12, 5), 1), Some(d(2026, 12, 7)));
        assert_eq!(c.add_working_days(d(2026, 12, 5), 0), Some(d(2026, 12, 5)));
    }

    #[test]
    fn lead_time_across_christmas_and_new_year() {
        let c = Calendar::new(&["12-24", "12-31"]).unwrap();
        // From Mon 21 Dec 2026: 22, 23, (24 closed, 25 Juledag, 26–27 weekend), 28, 29, 30.
        assert_eq!(
            c.add_working_days(d(2026, 12, 21), 5),
            Some(d(2026, 12, 30))
        );
        // From Wed 23 Dec: 28, 29, 30, (31 closed, 1 Jan Nytårsdag, 2–3 weekend), 4, 5 Jan.
        assert_eq!(c.add_working_days(d(2026, 12, 23), 5), Some(d(2027, 1, 5)));
        // Without the extra closed days 24 and 31 December count: 24, 28, 29, 30, 31.
        assert_eq!(
            Calendar::default().add_working_days(d(2026, 12, 23), 5),
            Some(d(2026, 12, 31))
        );
        assert_eq!(
            c.next_working_day_on_or_after(d(2026, 12, 24)),
            Some(d(2026, 12, 28))
        );
        assert_eq!(
            c.next_working_day_on_or_after(d(2026, 12, 31)),
            Some(d(2027, 1, 4))
        );
        assert_eq!(
            c.next_working_day_on_or_after(d(2026, 12, 28)),
            Some(d(2026, 12, 28))
        );
        // Easter 2026: Wed 1 Apr + 1 → Tue 7 Apr (Thu–Mon closed).
        assert_eq!(c.add_working_days(d(2026, 4, 1), 1), Some(d(2026, 4, 7)));
    }

    #[test]
    fn working_day_search_is_bounded() {
        let c = Calendar::default();
        assert_eq!(c.add_working_days(NaiveDate::MAX, 1), None);
        assert_eq!(c.add_working_days(d(2026, 1, 1), u32::MAX), None);
        // Every day of the year closed: no working day is ever found, yet the call returns.
        let all: Vec<String> = (1..=12u32)
            .flat_map(|m| (1..=31u32).map(move |day| (m, day)))
            .filter(|&(m, day)| NaiveDate::from_ymd_opt(2000, m, day).is_some())
            .map(|(m, day)| format!("{m:02}-{day:02}"))
            .collect();
        let closed = Calendar::new(&all).unwrap();
        assert_eq!(closed.next_working_day_on_or_after(d(2026, 1, 1)), None);
        assert_eq!(closed.add_working_days(d(2026, 1, 1), 5), None);
    }

    #[test]
    fn change_window_parses_and_bounds() {
        let w: ChangeWindow = "08:00-15:00".parse().unwrap();
        assert_eq!(w, ChangeWindow::default());
        assert!(w.contains(t(8, 0)));
        assert!(w.contains(t(14, 59)));
        assert!(w.contains(NaiveTime::from_hms_opt(14, 59, 59).unwrap()));
        assert!(!w.contains(t(15, 0)));
        assert!(!w.contains(t(7, 59)));
        assert_eq!(w.to_string(), "08.00–15.00");
        let w2: ChangeWindow = " 8.30 – 16.00 ".parse().unwrap();
        assert_eq!((w2.start(), w2.end()), (t(8, 30), t(16, 0)));
        // "24:00" ends the window at the day's last minute, as the config has always read it.
        let w3: ChangeWindow = "7:30-24:00".parse().unwrap();
        assert_eq!((w3.start(), w3.end()), (t(7, 30), t(23, 59)));
        assert_eq!(w3.config_text(), "07:30-23:59");
        assert_eq!(w.config_text(), "08:00-15:00");
        for bad in [
            "",
            "08:00",
            "15:00-08:00",
            "08:00-08:00",
            "8-15",
            "08:00-25:00",
            "24:00-24:00",
            "25:00-26:00",
            "08:0-15:00",
            "x-y",
            "08:00-15:00:00",
            "99999999999:00-1:00",
        ] {
            let err = bad.parse::<ChangeWindow>().unwrap_err();
            assert!(err.starts_with("must "), "{bad}: {err}");
        }
    }

    #[test]
    fn danish_formatting() {
        assert_eq!(danish_date(d(2026, 12, 7)), "mandag den 7. december 2026");
        assert_eq!(danish_date(d(2026, 3, 29)), "søndag den 29. marts 2026");
        assert_eq!(danish_date_short(d(2026, 12, 4)), "4. december 2026");
        let local = local_datetime(d(2026, 12, 7), t(10, 0)).unwrap();
        assert_eq!(
            danish_datetime(&local),
            "mandag den 7. december 2026 kl. 10.00"
        );
        // A UTC instant is shown in Copenhagen time.
        let utc = local.with_timezone(&chrono::Utc);
        assert_eq!(
            danish_datetime(&utc),
            "mandag den 7. december 2026 kl. 10.00"
        );
        assert_eq!(
            danish_time(NaiveTime::from_hms_opt(9, 5, 30).unwrap()),
            "09.05.30"
        );
    }

    #[test]
    fn local_datetime_across_dst() {
        let fmt = |x: DateTime<Tz>| x.to_rfc3339();
        // Spring forward 2026-03-29: 02:00–03:00 does not exist.
        assert_eq!(
            fmt(local_datetime(d(2026, 3, 29), t(1, 30)).unwrap()),
            "2026-03-29T01:30:00+01:00"
        );
        assert_eq!(
            fmt(local_datetime(d(2026, 3, 29), t(2, 30)).unwrap()),
            "2026-03-29T03:00:00+02:00"
        );
        assert_eq!(
            fmt(local_datetime(d(2026, 3, 29), t(10, 0)).unwrap()),
            "2026-03-29T10:00:00+02:00"
        );
        // Fall back 2026-10-25: 02:00–03:00 happens twice; the earlier is chosen.
        assert_eq!(
            fmt(local_datetime(d(2026, 10, 25), t(2, 30)).unwrap()),
            "2026-10-25T02:30:00+02:00"
        );
        assert_eq!(
            fmt(local_datetime(d(2026, 10, 25), t(10, 0)).unwrap()),
            "2026-10-25T10:00:00+01:00"
        );
        // The end of chrono's range resolves or gives None, never panics.
        let _ = local_datetime(NaiveDate::MAX, t(23, 59));
        let _ = local_datetime(NaiveDate::MIN, t(0, 0));
    }
}
