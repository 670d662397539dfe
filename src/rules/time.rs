//! FORMS.md rule 4, "Desired time can be met", as a pure function of the desired time, the
//! day the mail was received and the configured rules.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta};
use chrono_tz::Tz;

use crate::rules::calendar::{
    Calendar, ChangeWindow, TZ, danish_date, danish_date_short, danish_time, local_datetime,
};
use crate::rules::dates::Desired;
use crate::rules::finding::{Finding, Rule};

/// The field every finding of this rule concerns.
const FIELD: &str = "desired_at";

/// The `[rules]` settings rule 4 needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeRules {
    /// N: the earliest date is the N-th working day after the day of receipt.
    pub lead_working_days: u32,
    pub window: ChangeWindow,
    pub calendar: Calendar,
    /// The latest date is this many days after the day of receipt.
    pub max_days_ahead: i64,
}

impl Default for TimeRules {
    /// DESIGN.md's defaults: 5 working days, 08:00–15:00, 24 and 31 December closed, 365 days.
    fn default() -> Self {
        TimeRules {
            lead_working_days: 5,
            window: ChangeWindow::default(),
            calendar: Calendar::new(&["12-24", "12-31"]).unwrap_or_default(),
            max_days_ahead: 365,
        }
    }
}

/// Judge a desired time against rule 4. Returns the findings (all on `desired_at`) and the
/// planned time: the desired time, or the window's start when only a date was given (`None`
/// only at the edge of chrono's range).
///
/// Days are whole days: only the Copenhagen date of `received` counts. A date on or before
/// that day gives `time.past` alone; otherwise every other finding that applies is given
/// (e.g. a closed day and a time outside the window).
pub fn check_desired(
    desired: &Desired,
    received: DateTime<Tz>,
    rules: &TimeRules,
) -> (Vec<Finding>, Option<DateTime<Tz>>) {
    let received_day = received.with_timezone(&TZ).date_naive();
    let date = desired.date;
    let planned = local_datetime(date, desired.time.unwrap_or(rules.window.start()));
    let earliest = rules
        .calendar
        .add_working_days(received_day, rules.lead_working_days);
    if date <= received_day {
        return (vec![past(date, received_day, earliest, rules)], planned);
    }
    let findings = [
        lead(date, earliest, rules),
        closed_day(date, earliest, rules),
        window(desired.time, rules),
        too_far(date, received_day, rules),
    ];
    (findings.into_iter().flatten().collect(), planned)
}

/// `time.past`: the date is on or before the day of receipt.
fn past(
    date: NaiveDate,
    received_day: NaiveDate,
    earliest: Option<NaiveDate>,
    rules: &TimeRules,
) -> Finding {
    let mut msg = if date < received_day {
        format!(
            "{} er passeret; bestillingen blev modtaget {}.",
            danish_date_short(date),
            danish_date(received_day)
        )
    } else {
        format!(
            "{} er den dag, bestillingen blev modtaget.",
            danish_date_short(date)
        )
    };
    if let Some(e) = earliest {
        msg.push(' ');
        msg.push_str(&lead_sentence(rules.lead_working_days, e));
    }
    Finding::new(Rule::TimePast, Some(FIELD), msg)
}

/// `time.lead`: the date is before the N-th working day after receipt.
fn lead(date: NaiveDate, earliest: Option<NaiveDate>, rules: &TimeRules) -> Option<Finding> {
    let message = match earliest {
        Some(e) if date < e => format!(
            "{} er for tidligt. {}",
            danish_date_short(date),
            lead_sentence(rules.lead_working_days, e)
        ),
        Some(_) => return None,
        // No N-th working day within reach (a calendar closed nearly every day, or an absurd
        // N): the lead time cannot be shown to be met, so it is not.
        None => format!(
            "{} er for tidligt. Ændringer kræver {} varsel.",
            danish_date_short(date),
            working_days(rules.lead_working_days)
        ),
    };
    Some(Finding::new(Rule::TimeLead, Some(FIELD), message))
}

/// `time.closed_day`: a weekend, holiday or closing day, with the next working day to choose.
fn closed_day(date: NaiveDate, earliest: Option<NaiveDate>, rules: &TimeRules) -> Option<Finding> {
    let reason = rules.calendar.closed_reason(date)?;
    let what = match reason.as_str() {
        "lørdag" | "søndag" => "en weekenddag".to_string(),
        r if r.starts_with("lukkedag") => "en lukkedag".to_string(),
        r => format!("en helligdag ({r})"),
    };
    let mut msg = format!(
        "{} er {what}, hvor der ikke gennemføres ændringer. Vælg en arbejdsdag",
        danish_date(date)
    );
    let from = earliest.map_or(date, |e| e.max(date));
    match rules.calendar.next_working_day_on_or_after(from) {
        Some(next) => msg.push_str(&format!(", fx {}.", danish_date(next))),
        None => msg.push('.'),
    }
    Some(Finding::new(Rule::TimeClosedDay, Some(FIELD), msg))
}

/// `time.window`: a time of day outside the change window.
fn window(time: Option<NaiveTime>, rules: &TimeRules) -> Option<Finding> {
    let time = time.filter(|&t| !rules.window.contains(t))?;
    let w = rules.window;
    Some(Finding::new(
        Rule::TimeWindow,
        Some(FIELD),
        format!(
            "kl. {} er uden for ændringsvinduet {w}. Vælg et tidspunkt fra kl. {} til senest kl. {}, eller angiv kun datoen.",
            danish_time(time),
            danish_time(w.start()),
            danish_time(last_minute(w))
        ),
    ))
}

/// `time.too_far`: more than `max_days_ahead` days after receipt.
fn too_far(date: NaiveDate, received_day: NaiveDate, rules: &TimeRules) -> Option<Finding> {
    let ahead = date.signed_duration_since(received_day).num_days();
    if ahead <= rules.max_days_ahead {
        return None;
    }
    let mut msg = format!(
        "{} ligger {ahead} dage efter modtagelsen; ændringer kan højst bestilles {} dage frem.",
        danish_date_short(date),
        rules.max_days_ahead
    );
    if let Some(latest) = latest_date(received_day, rules.max_days_ahead) {
        msg.push_str(&format!(" Vælg en dato senest {}.", danish_date(latest)));
    }
    Some(Finding::new(Rule::TimeTooFar, Some(FIELD), msg))
}

/// "Ændringer kræver 5 arbejdsdages varsel; første mulige dato er mandag den 7. december 2026."
fn lead_sentence(n: u32, earliest: NaiveDate) -> String {
    format!(
        "Ændringer kræver {} varsel; første mulige dato er {}.",
        working_days(n),
        danish_date(earliest)
    )
}

/// "5 arbejdsdages" / "1 arbejdsdags" (genitive, before "varsel").
fn working_days(n: u32) -> String {
    if n == 1 {
        "1 arbejdsdags".to_string()
    } else {
        format!("{n} arbejdsdages")
    }
}

/// The last whole minute inside the window (its end is exclusive).
fn last_minute(w: ChangeWindow) -> NaiveTime {
    let (t, _) = w.end().overflowing_sub_signed(TimeDelta::minutes(1));
    if t < w.start() { w.start() } else { t }
}

fn latest_date(received_day: NaiveDate, max_days_ahead: i64) -> Option<NaiveDate> {
    let delta = TimeDelta::try_days(max_days_ahead)?;
    received_day.checked_add_signed(delta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn received(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Tz> {
        TZ.with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap()
    }

    /// The samples' "now": Monday 30 November 2026 09:00.
    fn monday() -> DateTime<Tz> {
        received(2026, 11, 30, 9, 0)
    }

    fn desired(y: i32, m: u32, d: u32, time: Option<(u32, u32)>) -> Desired {
        Desired {
            date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            time: time.map(|(h, min)| NaiveTime::from_hms_opt(h, min, 0).unwrap()),
        }
    }

    fn rules_of(findings: &[Finding]) -> Vec<Rule> {
        findings.iter().map(|f| f.rule).collect()
    }

    fn check(d: Desired) -> (Vec<Finding>, Option<DateTime<Tz>>) {
        check_desired(&d, monday(), &TimeRules::default())
    }

    #[test]
    fn earliest_date_is_accepted_and_planned_at_window_start() {
        let (f, planned) = check(desired(2026, 12, 7, None));
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(planned.unwrap().to_rfc3339(), "2026-12-07T08:00:00+01:00");
        let (f, planned) = check(desired(2026, 12, 14, Some((10, 0))));
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(planned.unwrap().to_rfc3339(), "2026-12-14T10:00:00+01:00");
    }

    #[test]
    fn too_early_names_the_first_possible_date() {
        let (f, planned) = check(desired(2026, 12, 4, None));
        assert_eq!(rules_of(&f), [Rule::TimeLead]);
        assert_eq!(f[0].field, Some("desired_at"));
        assert_eq!(
            f[0].message,
            "4. december 2026 er for tidligt. Ændringer kræver 5 arbejdsdages varsel; første mulige dato er mandag den 7. december 2026."
        );
        assert!(planned.is_some());
        // The next day is too early as well.
        assert_eq!(
            rules_of(&check(desired(2026, 12, 1, Some((9, 0)))).0),
            [Rule::TimeLead]
        );
    }

    #[test]
    fn time_of_receipt_does_not_matter() {
        for (h, m) in [(0, 0), (9, 0), (23, 59)] {
            let r = received(2026, 11, 30, h, m);
            let (f, _) = check_desired(&desired(2026, 12, 7, None), r, &TimeRules::default());
            assert!(f.is_empty(), "{h}:{m} {f:?}");
            let (f, _) = check_desired(&desired(2026, 12, 4, None), r, &TimeRules::default());
            assert_eq!(rules_of(&f), [Rule::TimeLead]);
        }
        // A received instant in another zone counts by its Copenhagen date: 23:30 UTC on
        // 29 November is 00:30 on Monday 30 November in Copenhagen.
        let utc_evening = chrono_tz::UTC
            .with_ymd_and_hms(2026, 11, 29, 23, 30, 0)
            .single()
            .unwrap();
        let (f, _) = check_desired(
            &desired(2026, 12, 7, None),
            utc_evening,
            &TimeRules::default(),
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn past_and_same_day_give_only_past() {
        let (f, _) = check(desired(2026, 11, 16, None));
        assert_eq!(rules_of(&f), [Rule::TimePast]);
        assert_eq!(
            f[0].message,
            "16. november 2026 er passeret; bestillingen blev modtaget mandag den 30. november 2026. Ændringer kræver 5 arbejdsdages varsel; første mulige dato er mandag den 7. december 2026."
        );
        // The day of receipt itself, outside the window: only past.
        let (f, _) = check(desired(2026, 11, 30, Some((18, 0))));
        assert_eq!(rules_of(&f), [Rule::TimePast]);
        assert!(
            f[0].message.starts_with(
                "30. november 2026 er den dag, bestillingen blev modtaget. Ændringer kræver"
            ),
            "{}",
            f[0].message
        );
        // A past Sunday: only past.
        let (f, _) = check(desired(2026, 11, 29, Some((7, 0))));
        assert_eq!(rules_of(&f), [Rule::TimePast]);
    }

    #[test]
    fn closed_days() {
        let (f, _) = check(desired(2026, 12, 25, Some((10, 0))));
        assert_eq!(rules_of(&f), [Rule::TimeClosedDay]);
        assert_eq!(
            f[0].message,
            "fredag den 25. december 2026 er en helligdag (Juledag), hvor der ikke gennemføres ændringer. Vælg en arbejdsdag, fx mandag den 28. december 2026."
        );
        let (f, _) = check(desired(2026, 12, 12, None));
        assert_eq!(rules_of(&f), [Rule::TimeClosedDay]);
        assert!(
            f[0].message
                .starts_with("lørdag den 12. december 2026 er en weekenddag")
        );
        assert!(f[0].message.ends_with("fx mandag den 14. december 2026."));
        let (f, _) = check(desired(2026, 12, 31, None));
        assert_eq!(rules_of(&f), [Rule::TimeClosedDay]);
        assert!(
            f[0].message
                .starts_with("torsdag den 31. december 2026 er en lukkedag, hvor"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.ends_with("fx mandag den 4. januar 2027."),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn too_early_weekend_suggests_a_date_that_meets_the_lead_time() {
        // Saturday 5 December: too early and closed; the suggestion is the earliest date.
        let (f, _) = check(desired(2026, 12, 5, None));
        assert_eq!(rules_of(&f), [Rule::TimeLead, Rule::TimeClosedDay]);
        assert!(
            f[1].message.ends_with("fx mandag den 7. december 2026."),
            "{}",
            f[1].message
        );
    }

    #[test]
    fn window_boundaries() {
        assert!(check(desired(2026, 12, 14, Some((8, 0)))).0.is_empty());
        assert!(check(desired(2026, 12, 14, Some((14, 59)))).0.is_empty());
        for (h, m) in [(15, 0), (7, 59), (16, 30), (0, 0)] {
            assert_eq!(
                rules_of(&check(desired(2026, 12, 14, Some((h, m)))).0),
                [Rule::TimeWindow],
                "{h}:{m}"
            );
        }
        let (f, planned) = check(desired(2026, 12, 14, Some((16, 30))));
        assert_eq!(
            f[0].message,
            "kl. 16.30 er uden for ændringsvinduet 08.00–15.00. Vælg et tidspunkt fra kl. 08.00 til senest kl. 14.59, eller angiv kun datoen."
        );
        assert_eq!(planned.unwrap().to_rfc3339(), "2026-12-14T16:30:00+01:00");
    }

    #[test]
    fn closed_day_and_window_together() {
        let (f, _) = check(desired(2026, 12, 25, Some((16, 30))));
        assert_eq!(rules_of(&f), [Rule::TimeClosedDay, Rule::TimeWindow]);
    }

    #[test]
    fn too_far() {
        let (f, _) = check(desired(2027, 12, 14, None));
        assert_eq!(rules_of(&f), [Rule::TimeTooFar]);
        assert_eq!(
            f[0].message,
            "14. december 2027 ligger 379 dage efter modtagelsen; ændringer kan højst bestilles 365 dage frem. Vælg en dato senest tirsdag den 30. november 2027."
        );
        // Exactly 365 days ahead (Tue 30 Nov 2027) is allowed, 366 is not.
        assert!(check(desired(2027, 11, 30, None)).0.is_empty());
        assert_eq!(
            rules_of(&check(desired(2027, 12, 1, None)).0),
            [Rule::TimeTooFar]
        );
        // Far beyond chrono's usual use: no panic, still too far.
        let rules = TimeRules {
            max_days_ahead: i64::MAX,
            ..TimeRules::default()
        };
        assert!(
            // 9999-12-30 is a Thursday and no holiday: nothing to find.
            check_desired(&desired(9999, 12, 30, None), monday(), &rules)
                .0
                .is_empty()
        );
        let rules = TimeRules {
            max_days_ahead: -5,
            ..TimeRules::default()
        };
        let (f, _) = check_desired(&desired(2026, 12, 7, None), monday(), &rules);
        assert_eq!(rules_of(&f), [Rule::TimeTooFar]);
        let (f, _) = check(Desired {
            date: NaiveDate::MAX,
            time: None,
        });
        assert!(rules_of(&f).contains(&Rule::TimeTooFar));
    }

    #[test]
    fn lead_time_over_christmas_with_extra_closed_days() {
        // Received Wed 23 Dec 2026: 28, 29, 30, (31 closed, 1 Jan, weekend), 4, 5 January.
        let r = received(2026, 12, 23, 14, 0);
        let rules = TimeRules::default();
        for early in [
            desired(2026, 12, 30, None),
            desired(2027, 1, 4, Some((10, 0))),
        ] {
            let (f, _) = check_desired(&early, r, &rules);
            assert_eq!(rules_of(&f), [Rule::TimeLead]);
            assert!(
                f[0].message
                    .ends_with("første mulige dato er tirsdag den 5. januar 2027."),
                "{}",
                f[0].message
            );
        }
        assert!(
            check_desired(&desired(2027, 1, 5, None), r, &rules)
                .0
                .is_empty()
        );
        // Received on Friday 4 December: 7, 8, 9, 10, 11 → Friday 11 December.
        let fri = received(2026, 12, 4, 16, 0);
        assert_eq!(
            rules_of(&check_desired(&desired(2026, 12, 10, None), fri, &rules).0),
            [Rule::TimeLead]
        );
        assert!(
            check_desired(&desired(2026, 12, 11, None), fri, &rules)
                .0
                .is_empty()
        );
    }

    #[test]
    fn configurable_lead_and_window() {
        let rules = TimeRules {
            lead_working_days: 1,
            window: "10:00-12:00".parse().unwrap(),
            calendar: Calendar::default(),
            max_days_ahead: 30,
        };
        let (f, _) = check_desired(&desired(2026, 12, 1, Some((9, 0))), monday(), &rules);
        assert_eq!(rules_of(&f), [Rule::TimeWindow]);
        let (f, planned) = check_desired(&desired(2026, 12, 1, None), monday(), &rules);
        assert!(f.is_empty());
        assert_eq!(planned.unwrap().to_rfc3339(), "2026-12-01T10:00:00+01:00");
        // Received Friday 27 November with N = 1: the earliest date is Monday 30 November.
        let friday = received(2026, 11, 27, 9, 0);
        let rules = TimeRules {
            lead_working_days: 1,
            ..TimeRules::default()
        };
        assert!(
            check_desired(&desired(2026, 11, 30, None), friday, &rules)
                .0
                .is_empty()
        );
        let (f, _) = check_desired(&desired(2026, 11, 28, None), friday, &rules);
        assert_eq!(rules_of(&f), [Rule::TimeLead, Rule::TimeClosedDay]);
        assert!(f[0].message.contains("Ændringer kræver 1 arbejdsdags varsel; første mulige dato er mandag den 30. november 2026."), "{}", f[0].message);
        let rules = TimeRules {
            lead_working_days: 2,
            ..TimeRules::default()
        };
        let (f, _) = check_desired(&desired(2026, 11, 30, None), friday, &rules);
        assert_eq!(rules_of(&f), [Rule::TimeLead]);
        assert!(
            f[0].message.contains(
                "2 arbejdsdages varsel; første mulige dato er tirsdag den 1. december 2026."
            ),
            "{}",
            f[0].message
        );
        // A huge lead time cannot be met by any date, and the check still returns.
        let rules = TimeRules {
            lead_working_days: u32::MAX,
            ..TimeRules::default()
        };
        let (f, _) = check_desired(&desired(2026, 12, 7, None), monday(), &rules);
        assert_eq!(rules_of(&f), [Rule::TimeLead]);
        assert_eq!(
            f[0].message,
            format!(
                "7. december 2026 er for tidligt. Ændringer kræver {} arbejdsdages varsel.",
                u32::MAX
            )
        );
    }

    #[test]
    fn dst_days_plan_with_the_right_offset() {
        let r = received(2026, 3, 2, 9, 0);
        let (f, planned) = check_desired(&desired(2026, 3, 30, None), r, &TimeRules::default());
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(planned.unwrap().to_rfc3339(), "2026-03-30T08:00:00+02:00");
        // 29 March 2026 is a Sunday: closed, and 02:30 does not exist (outside the window too).
        let (f, planned) = check_desired(
            &desired(2026, 3, 29, Some((2, 30))),
            r,
            &TimeRules::default(),
        );
        assert_eq!(rules_of(&f), [Rule::TimeClosedDay, Rule::TimeWindow]);
        assert_eq!(planned.unwrap().to_rfc3339(), "2026-03-29T03:00:00+02:00");
        let r = received(2026, 10, 1, 9, 0);
        let (_, planned) = check_desired(
            &desired(2026, 10, 26, Some((10, 0))),
            r,
            &TimeRules::default(),
        );
        assert_eq!(planned.unwrap().to_rfc3339(), "2026-10-26T10:00:00+01:00");
    }

    /// The desired times written on the sample forms, judged at the samples' "now"
    /// (Mon 30 Nov 2026 09:00): the normalised value and the time rules that apply.
    #[test]
    fn written_sample_values() {
        use crate::rules::dates::parse_desired;
        let cases: &[(&str, &str, &[Rule])] = &[
            ("14-12-2026 kl. 10:00", "2026-12-14T10:00:00+01:00", &[]),
            (
                "2026-12-14T10:00:00+01:00",
                "2026-12-14T10:00:00+01:00",
                &[],
            ),
            ("07.12.2026", "2026-12-07", &[]),
            ("2026-12-10 kl. 13:00", "2026-12-10T13:00:00+01:00", &[]),
            ("15-12-2026", "2026-12-15", &[]),
            ("8. december 2026", "2026-12-08", &[]),
            ("09-12-2026", "2026-12-09", &[]),
            ("11.12.2026 kl. 09:00", "2026-12-11T09:00:00+01:00", &[]),
            ("16-12-2026 kl. 08:30", "2026-12-16T08:30:00+01:00", &[]),
            ("04-12-2026", "2026-12-04", &[Rule::TimeLead]),
            (
                "25-12-2026 kl. 10:00",
                "2026-12-25T10:00:00+01:00",
                &[Rule::TimeClosedDay],
            ),
            (
                "14-12-2026 kl. 16:30",
                "2026-12-14T16:30:00+01:00",
                &[Rule::TimeWindow],
            ),
            ("16-11-2026", "2026-11-16", &[Rule::TimePast]),
            ("2027-12-14", "2027-12-14", &[Rule::TimeTooFar]),
        ];
        for (text, normalised, expected) in cases {
            let d = parse_desired(text).unwrap_or_else(|| panic!("{text:?} not read"));
            assert_eq!(d.to_rfc3339(), *normalised, "{text:?}");
            let (f, planned) = check(d);
            assert_eq!(rules_of(&f), *expected, "{text:?}");
            assert!(
                f.iter()
                    .all(|x| x.field == Some("desired_at") && !x.message.is_empty())
            );
            assert!(planned.is_some(), "{text:?}");
        }
    }
}
