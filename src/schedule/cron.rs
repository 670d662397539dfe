//! When a periodic job runs: a cron expression (six fields, seconds first) read as wall-clock
//! time in the configured time zone, DST-correct: a run whose wall time falls in the skipped
//! hour (spring) happens once at the first valid instant after the gap; a run whose wall time
//! occurs twice (autumn) happens once, at the first occurrence.

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// How many cron candidates [`next_run`] looks at before giving up: a bound on the work for
/// any expression (a wall time can be skipped by DST at most a few times in a row).
const MAX_CANDIDATES: usize = 64;

/// The first instant strictly after `after` at which `schedule`, read as wall-clock time in
/// `tz`, fires; `None` when the expression never fires again (e.g. a past year).
///
/// Wall times in a DST gap run at the first valid instant after the gap; wall times that occur
/// twice run only at their first occurrence (the repeated one is skipped, also when `after`
/// lies between the two).
pub fn next_run(schedule: &cron::Schedule, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // Walk the expression in naive wall time (UTC has no DST), then place each candidate in tz.
    let wall = after.with_timezone(&tz).naive_local();
    let start = Utc.from_utc_datetime(&wall);
    for candidate in schedule.after(&start).take(MAX_CANDIDATES) {
        let Some(instant) = place(tz, candidate.naive_utc()) else {
            continue;
        };
        if instant > after {
            return Some(instant);
        }
    }
    None
}

/// The instant of a wall time in `tz`: the earlier of two (autumn), or the first valid
/// instant after a gap (spring).
fn place(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps start on whole minutes and last at most hours: the first whole minute
            // that exists is where the clock jumped to.
            let mut m = wall.with_second(0)?.with_nanosecond(0)?;
            for _ in 0..(24 * 60) {
                m = m.checked_add_signed(TimeDelta::minutes(1))?;
                if let Some(t) = tz.from_local_datetime(&m).earliest() {
                    return Some(t.with_timezone(&Utc));
                }
            }
            None
        }
    }
}

/// Whether a job that last ran at `last_run` is due at `now`: a scheduled time lies in
/// `(last_run, now]`. However many runs were missed, the job runs once.
pub fn is_due(
    schedule: &cron::Schedule,
    tz: Tz,
    last_run: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    next_run(schedule, tz, last_run).is_some_and(|t| t <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const CPH: Tz = chrono_tz::Europe::Copenhagen;

    fn cron(s: &str) -> cron::Schedule {
        cron::Schedule::from_str(s).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Every run of `s` in (from, to].
    fn runs(s: &cron::Schedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        let (mut t, end) = (utc(from), utc(to));
        let mut out = Vec::new();
        while let Some(n) = next_run(s, CPH, t) {
            if n > end {
                break;
            }
            out.push(n);
            t = n;
        }
        out
    }

    #[test]
    fn daily_digest_at_seven_local_on_both_sides_of_dst() {
        let s = cron("0 0 7 * * Mon-Fri");
        // Friday 27 March 2026 (CET) and Monday 30 March 2026 (CEST).
        assert_eq!(
            runs(&s, "2026-03-26T23:00:00Z", "2026-03-30T23:00:00Z"),
            vec![
                utc("2026-03-27T07:00:00+01:00"),
                utc("2026-03-30T07:00:00+02:00")
            ]
        );
        assert_eq!(
            runs(&s, "2026-10-22T23:00:00Z", "2026-10-26T23:00:00Z"),
            vec![
                utc("2026-10-23T07:00:00+02:00"),
                utc("2026-10-26T07:00:00+01:00")
            ]
        );
    }

    #[test]
    fn spring_forward_gap_runs_once_at_the_next_valid_time() {
        // 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
        let s = cron("0 30 2 * * *");
        assert_eq!(
            runs(&s, "2026-03-28T00:00:00Z", "2026-03-30T12:00:00Z"),
            vec![
                utc("2026-03-28T02:30:00+01:00"),
                utc("2026-03-29T03:00:00+02:00"),
                utc("2026-03-30T02:30:00+02:00"),
            ]
        );
        // Starting inside the gap's mapped instant does not run it again.
        assert_eq!(
            next_run(&s, CPH, utc("2026-03-29T03:00:00+02:00")),
            Some(utc("2026-03-30T02:30:00+02:00"))
        );
    }

    #[test]
    fn fall_back_repeated_hour_runs_once() {
        // 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
        let s = cron("0 30 2 * * *");
        assert_eq!(
            runs(&s, "2026-10-24T00:00:00Z", "2026-10-26T12:00:00Z"),
            vec![
                utc("2026-10-24T02:30:00+02:00"),
                utc("2026-10-25T02:30:00+02:00"),
                utc("2026-10-26T02:30:00+01:00"),
            ]
        );
        // Asked from inside the second pass (02:10 CET), the repeated 02:30 is skipped.
        assert_eq!(
            next_run(&s, CPH, utc("2026-10-25T02:10:00+01:00")),
            Some(utc("2026-10-26T02:30:00+01:00"))
        );
    }

    #[test]
    fn hourly_job_over_both_changes() {
        let s = cron("0 0 * * * *");
        // The spring day has 23 hours and 23 runs; 02:00 maps to 03:00, which runs once.
        let spring = runs(&s, "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z");
        assert_eq!(spring.len(), 23);
        let mut dedup = spring.clone();
        dedup.dedup();
        assert_eq!(dedup, spring);
        // The autumn day has 25 hours but 24 wall-clock hours: the repeated 02:00 runs once.
        let autumn = runs(&s, "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z");
        assert_eq!(autumn.len(), 24);
    }

    #[test]
    fn missed_runs_are_due_once_at_start() {
        let s = cron("0 0 7 * * Mon-Fri");
        let last = utc("2026-11-27T07:00:00+01:00"); // Friday's run
        // Down over the weekend; at Monday 06:59 nothing is due, at 07:00 it is.
        assert!(!is_due(&s, CPH, last, utc("2026-11-30T06:59:59+01:00")));
        assert!(is_due(&s, CPH, last, utc("2026-11-30T07:00:00+01:00")));
        // Down for a week: due (once: the next run after the catch-up is tomorrow).
        let now = utc("2026-12-07T12:00:00+01:00");
        assert!(is_due(&s, CPH, last, now));
        assert!(!is_due(&s, CPH, now, utc("2026-12-07T23:59:00+01:00")));
        // Billing on the 1st at 06:00, missed while the daemon was down at the turn of month.
        let b = cron("0 0 6 1 * *");
        assert!(is_due(
            &b,
            CPH,
            utc("2026-11-01T06:00:00+01:00"),
            utc("2026-12-02T09:00:00+01:00")
        ));
        assert!(!is_due(
            &b,
            CPH,
            utc("2026-12-02T09:00:00+01:00"),
            utc("2026-12-31T23:00:00+01:00")
        ));
    }

    #[test]
    fn an_expression_that_never_fires_again() {
        let s = cron("0 0 7 1 1 * 2020");
        assert_eq!(next_run(&s, CPH, utc("2026-01-01T00:00:00Z")), None);
        assert!(!is_due(
            &s,
            CPH,
            utc("2019-01-01T00:00:00Z"),
            utc("2019-01-01T00:00:00Z")
        ));
    }

    #[test]
    fn other_time_zones_are_honoured() {
        let s = cron("0 0 7 * * *");
        let tz: Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            next_run(&s, tz, utc("2026-03-08T00:00:00Z")),
            Some(utc("2026-03-08T07:00:00-04:00"))
        );
    }
}
