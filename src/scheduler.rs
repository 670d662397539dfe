//! The daemon's periodic jobs (`[schedule]`): the daily digest and the billing run, each by a
//! cron expression read in the configured time zone.
//!
//! Pure part: [`next_run`] and [`is_due`] say when a job runs, DST-correct: a run whose wall
//! time falls in the skipped hour (spring) happens once at the first valid instant after the
//! gap; a run whose wall time occurs twice (autumn) happens once, at the first occurrence.
//!
//! Shell part: [`run`] is the loop inside `spdesk run`. Each job's `last_run` is kept in the
//! database (`jobs`), so a run missed while the daemon was down happens at start (once, however
//! many were missed). An instance claims a run by moving `last_run` from the value it read
//! (compare-and-set) in the same transaction as the job's own writes: with several instances
//! on one database exactly one runs it, and a run killed midway is rolled back as a whole.

use std::sync::Arc;
use std::time::Duration;

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::jobs;
use crate::store::{Store, Tx, parse_ts, ts};

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

/// The periodic jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Digest,
    Billing,
}

impl Job {
    pub const ALL: [Job; 2] = [Job::Digest, Job::Billing];

    /// The job's name in the `jobs` table and the log.
    pub fn name(self) -> &'static str {
        match self {
            Job::Digest => "digest",
            Job::Billing => "billing",
        }
    }

    fn schedule(self, cfg: &Config) -> &cron::Schedule {
        match self {
            Job::Digest => &cfg.schedule.digest,
            Job::Billing => &cfg.schedule.billing,
        }
    }
}

/// When the job last ran; a job never seen before is recorded as run now, so a new
/// installation does not start by catching up on the past.
pub async fn last_run(store: &Store, job: Job, now: DateTime<Utc>) -> anyhow::Result<String> {
    sqlx::query("INSERT INTO jobs (name, last_run) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")
        .bind(job.name())
        .bind(ts(now))
        .execute(&store.pool)
        .await?;
    let s: String = sqlx::query_scalar("SELECT last_run FROM jobs WHERE name = ?1")
        .bind(job.name())
        .fetch_one(&store.pool)
        .await?;
    Ok(s)
}

/// Claims a run in the caller's transaction: true only for the one instance that moved
/// `last_run` from `old` (the value it read) to `now`. Done first in the transaction, so that
/// SQLite takes the write lock before anything is read.
pub async fn claim(
    tx: &mut Tx<'_>,
    job: Job,
    old: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    // Moving last_run to the value it has (or back) would let a second instance win as well.
    if parse_ts(old).is_some_and(|o| o >= now) {
        return Ok(false);
    }
    let r = sqlx::query("UPDATE jobs SET last_run = ?1 WHERE name = ?2 AND last_run = ?3")
        .bind(ts(now))
        .bind(job.name())
        .bind(old)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Runs a job if it is due and this instance wins the claim; returns whether it ran.
pub async fn run_if_due(
    store: &Store,
    cfg: &Config,
    job: Job,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let old = last_run(store, job, now).await?;
    // An unreadable stored time counts as never run: run now rather than never.
    let due = match parse_ts(&old) {
        Some(last) => is_due(job.schedule(cfg), cfg.schedule.timezone, last, now),
        None => true,
    };
    if !due {
        return Ok(false);
    }
    let mut tx = store.begin().await?;
    if !claim(&mut tx, job, &old, now).await? {
        // Another instance ran it.
        return Ok(false);
    }
    let summary = match job {
        Job::Digest => jobs::queue_digest(store, &mut tx, cfg, now)
            .await?
            .to_string(),
        Job::Billing => jobs::bill(&mut tx, cfg, now).await?.to_string(),
    };
    tx.commit().await?;
    info!(job = job.name(), "{summary}");
    Ok(true)
}

/// The scheduler loop inside `spdesk run`: checks the jobs at start (missed runs) and then at
/// each scheduled time (at least every 30 s, so another instance's runs and clock changes are
/// seen), until `shutdown` turns true. `wakeup` tells the outbox that mail was queued.
pub async fn run(
    store: Store,
    cfg: Arc<Config>,
    wakeup: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let now = Utc::now();
        for job in Job::ALL {
            match run_if_due(&store, &cfg, job, now).await {
                Ok(true) => wakeup.notify_one(),
                Ok(false) => {}
                Err(e) => warn!(
                    job = job.name(),
                    error = format!("{e:#}"),
                    "scheduled job failed; it is retried at the next check"
                ),
            }
        }
        let next = Job::ALL
            .iter()
            .filter_map(|j| next_run(j.schedule(&cfg), cfg.schedule.timezone, now))
            .min();
        let wait = next
            .and_then(|t| (t - Utc::now()).to_std().ok())
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_millis(200), Duration::from_secs(30));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
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

    /// A config and an empty store in a temp dir (the shell part, over a real SQLite file).
    async fn store() -> (tempfile::TempDir, Store, Config) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let text = format!(
            "[imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"h@example.test\"\npassword = \"x\"\n\
             [smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nfrom = \"h@example.test\"\n\
             [database]\nurl = \"{url}\"\n[helpdesk]\naddress = \"h@example.test\"\n\
             [schedule]\ndigest = \"0 0 7 * * *\"\nbilling = \"0 0 6 1 * *\"\n\
             [billing]\nprices = {{ webservice = 4500.0, sftp = 2500.0 }}\n"
        );
        let cfg = Config::from_str(&text, None).unwrap();
        let store = Store::open(&url).await.unwrap();
        (dir, store, cfg)
    }

    async fn outbox(store: &Store, kind: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = ?1")
            .bind(kind)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_missed_run_happens_once_at_start_and_a_claim_is_won_once() {
        let (_dir, store, cfg) = store().await;
        let now = utc("2026-11-30T12:00:00+01:00");
        // A new installation does not catch up on the past.
        assert!(!run_if_due(&store, &cfg, Job::Digest, now).await.unwrap());
        assert_eq!(outbox(&store, "digest").await, 0);
        // Down since Friday: today's 07:00 was missed, so it runs now, once.
        sqlx::query("UPDATE jobs SET last_run = ?1 WHERE name = 'digest'")
            .bind(ts(utc("2026-11-27T07:00:00+01:00")))
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(run_if_due(&store, &cfg, Job::Digest, now).await.unwrap());
        assert!(!run_if_due(&store, &cfg, Job::Digest, now).await.unwrap());
        assert_eq!(outbox(&store, "digest").await, 1);
        // Two instances read the same last_run: only the first claim wins.
        let old = last_run(&store, Job::Billing, now).await.unwrap();
        let next_month = utc("2026-12-01T06:00:00+01:00");
        let mut a = store.begin().await.unwrap();
        assert!(claim(&mut a, Job::Billing, &old, next_month).await.unwrap());
        a.commit().await.unwrap();
        let mut b = store.begin().await.unwrap();
        assert!(!claim(&mut b, Job::Billing, &old, next_month).await.unwrap());
        b.rollback().await.unwrap();
        // Claiming without time having passed is refused too.
        let mut c = store.begin().await.unwrap();
        let current = ts(next_month);
        assert!(
            !claim(&mut c, Job::Billing, &current, next_month)
                .await
                .unwrap()
        );
        c.rollback().await.unwrap();
        // A run rolled back (killed midway) is not counted: it stays due.
        sqlx::query("UPDATE jobs SET last_run = ?1 WHERE name = 'digest'")
            .bind(ts(utc("2026-11-27T07:00:00+01:00")))
            .execute(&store.pool)
            .await
            .unwrap();
        let old = last_run(&store, Job::Digest, now).await.unwrap();
        let mut killed = store.begin().await.unwrap();
        assert!(claim(&mut killed, Job::Digest, &old, now).await.unwrap());
        drop(killed);
        let later = utc("2026-11-30T12:01:00+01:00");
        assert!(run_if_due(&store, &cfg, Job::Digest, later).await.unwrap());
        // Same day: the digest's Message-ID is the same, so no second mail is queued.
        assert_eq!(outbox(&store, "digest").await, 1);
    }

    #[tokio::test]
    async fn billing_bills_each_executed_order_once() {
        let (_dir, store, cfg) = store().await;
        let now = utc("2026-12-01T06:00:00+01:00");
        for (n, state, kind) in [
            (1, "executed", "sftp"),
            (2, "approved", "sftp"),
            (3, "executed", "webservice"),
        ] {
            sqlx::query(
                "INSERT INTO orders (ref, state, kind, bestillings_id, org_name, created_at, updated_at, executed_at)
                 VALUES (?1, ?2, ?3, ?4, 'Kommune, \"Nord\"', ?5, ?5, ?5)",
            )
            .bind(format!("SP-2026-{n:05}"))
            .bind(state)
            .bind(kind)
            .bind(format!("BD-{n}"))
            .bind(ts(utc("2026-11-20T10:00:00+01:00")))
            .execute(&store.pool)
            .await
            .unwrap();
        }
        let mut tx = store.begin().await.unwrap();
        let billed = jobs::bill(&mut tx, &cfg, now).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(billed.references, ["SP-2026-00001", "SP-2026-00003"]);
        // A run killed before its commit bills nothing.
        let mut tx = store.begin().await.unwrap();
        sqlx::query("UPDATE orders SET state = 'executed' WHERE ref = 'SP-2026-00002'")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut killed = store.begin().await.unwrap();
        let b = jobs::bill(&mut killed, &cfg, now).await.unwrap();
        assert_eq!(b.references, ["SP-2026-00002"]);
        drop(killed);
        let mut tx = store.begin().await.unwrap();
        let again = jobs::bill(&mut tx, &cfg, utc("2026-12-01T06:05:00+01:00"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(again.references, ["SP-2026-00002"]);
        let mut tx = store.begin().await.unwrap();
        let none = jobs::bill(&mut tx, &cfg, now).await.unwrap();
        tx.commit().await.unwrap();
        assert!(none.references.is_empty() && none.message_id.is_none());
        assert_eq!(outbox(&store, "billing").await, 2);
        // The export of November lists all three with their billed_at; December none.
        let nov = jobs::export(&store, &cfg, "2026-11".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(nov.lines().count(), 4, "{nov}");
        assert!(nov.contains("\"Kommune, \"\"Nord\"\"\""), "{nov}");
        assert!(nov.lines().skip(1).all(|l| l.ends_with("+01:00")), "{nov}");
        let dec = jobs::export(&store, &cfg, "2026-12".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(dec, format!("{}\r\n", crate::billing::CSV_HEADER));
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
