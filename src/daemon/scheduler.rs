//! The daemon's periodic jobs (`[schedule]`): the daily digest and the billing run, each when
//! its cron expression says ([`crate::schedule::cron`]).
//!
//! [`Scheduler::run`] is the loop inside `spdesk run`. Each job's `last_run` is kept in the database
//! (`jobs`), so a run missed while the daemon was down happens at start (once, however many
//! were missed). An instance claims a run by moving `last_run` from the value it read
//! (compare-and-set) in the same transaction as the job's own writes: with several instances
//! on one database exactly one runs it, and a run killed midway is rolled back as a whole.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::daemon::Shared;
use crate::daemon::jobs::Jobs;
use crate::schedule::cron::{is_due, next_run};
use crate::store::{self, Store, Tx, parse_ts};

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
    store::jobs::last_run(store, job.name(), now).await
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
    store::jobs::move_last_run(tx, job.name(), old, now).await
}

/// Runs a job if it is due and this instance wins the claim; returns whether it ran.
pub async fn run_if_due(jobs: &Jobs, job: Job, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let cfg = &jobs.config;
    let old = last_run(&jobs.store, job, now).await?;
    // An unreadable stored time counts as never run: run now rather than never.
    let due = match parse_ts(&old) {
        Some(last) => is_due(job.schedule(cfg), cfg.schedule.timezone, last, now),
        None => true,
    };
    if !due {
        return Ok(false);
    }
    let mut tx = jobs.store.begin().await?;
    if !claim(&mut tx, job, &old, now).await? {
        // Another instance ran it.
        return Ok(false);
    }
    let summary = match job {
        Job::Digest => jobs.queue_digest(&mut tx, now).await?.to_string(),
        Job::Billing => jobs.bill(&mut tx, now).await?.to_string(),
    };
    tx.commit().await?;
    info!(job = job.name(), "{summary}");
    Ok(true)
}

/// The scheduler task inside `spdesk run`: the jobs' context, the outbox's wakeup (rung when a
/// job queued mail) and the stop signal.
pub struct Scheduler {
    jobs: Jobs,
    wakeup: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

impl Scheduler {
    pub fn new(shared: &Shared, wakeup: Arc<Notify>, shutdown: watch::Receiver<bool>) -> Scheduler {
        Scheduler {
            jobs: Jobs::of(shared),
            wakeup,
            shutdown,
        }
    }

    /// Checks the jobs at start (missed runs) and then at each scheduled time (at least every
    /// 30 s, so another instance's runs and clock changes are seen), until the stop signal.
    pub async fn run(mut self) {
        let cfg = self.jobs.config.clone();
        loop {
            let now = Utc::now();
            for job in Job::ALL {
                match run_if_due(&self.jobs, job, now).await {
                    Ok(true) => self.wakeup.notify_one(),
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
                _ = self.shutdown.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::receipts::Templates;
    use crate::store::ts;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A config and an empty store in a temp dir (the shell part, over a real SQLite file).
    async fn store() -> (tempfile::TempDir, Store, Jobs) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let text = format!(
            "[imap]\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"h@example.test\"\npassword = \"x\"\n\
             [smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nfrom = \"h@example.test\"\n\
             [database]\nurl = \"{url}\"\n[helpdesk]\naddress = \"h@example.test\"\n\
             review_to = [\"staff@example.test\"]\ndigest_to = [\"staff@example.test\"]\n\
             incident_to = [\"staff@example.test\"]\nbilling_to = [\"staff@example.test\"]\n\
             [schedule]\ndigest = \"0 0 7 * * *\"\nbilling = \"0 0 6 1 * *\"\n\
             [billing]\nprices = {{ webservice = 4500.0, sftp = 2500.0 }}\n"
        );
        let cfg = Config::from_str(&text, None).unwrap();
        let store = Store::open(&url).await.unwrap();
        let jobs = Jobs {
            store: store.clone(),
            config: Arc::new(cfg),
            templates: Arc::new(Templates::builtin().unwrap()),
        };
        (dir, store, jobs)
    }

    async fn outbox(store: &Store, kind: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = $1")
            .bind(kind)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_missed_run_happens_once_at_start_and_a_claim_is_won_once() {
        let (_dir, store, jobs) = store().await;
        let now = utc("2026-11-30T12:00:00+01:00");
        // A new installation does not catch up on the past.
        assert!(!run_if_due(&jobs, Job::Digest, now).await.unwrap());
        assert_eq!(outbox(&store, "digest").await, 0);
        // Down since Friday: today's 07:00 was missed, so it runs now, once.
        sqlx::query("UPDATE jobs SET last_run = $1 WHERE name = 'digest'")
            .bind(ts(utc("2026-11-27T07:00:00+01:00")))
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(run_if_due(&jobs, Job::Digest, now).await.unwrap());
        assert!(!run_if_due(&jobs, Job::Digest, now).await.unwrap());
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
        sqlx::query("UPDATE jobs SET last_run = $1 WHERE name = 'digest'")
            .bind(ts(utc("2026-11-27T07:00:00+01:00")))
            .execute(&store.pool)
            .await
            .unwrap();
        let old = last_run(&store, Job::Digest, now).await.unwrap();
        let mut killed = store.begin().await.unwrap();
        assert!(claim(&mut killed, Job::Digest, &old, now).await.unwrap());
        drop(killed);
        let later = utc("2026-11-30T12:01:00+01:00");
        assert!(run_if_due(&jobs, Job::Digest, later).await.unwrap());
        // Same day: the digest's Message-ID is the same, so no second mail is queued.
        assert_eq!(outbox(&store, "digest").await, 1);
    }

    #[tokio::test]
    async fn billing_bills_each_executed_order_once() {
        let (_dir, store, jobs) = store().await;
        let now = utc("2026-12-01T06:00:00+01:00");
        for (n, state, kind) in [
            (1, "executed", "sftp"),
            (2, "approved", "sftp"),
            (3, "executed", "webservice"),
        ] {
            sqlx::query(
                "INSERT INTO orders (ref, state, kind, bestillings_id, org_name, created_at, updated_at, executed_at)
                 VALUES ($1, $2, $3, $4, 'Kommune, \"Nord\"', $5, $5, $5)",
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
        let billed = jobs.bill(&mut tx, now).await.unwrap();
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
        let b = jobs.bill(&mut killed, now).await.unwrap();
        assert_eq!(b.references, ["SP-2026-00002"]);
        drop(killed);
        let mut tx = store.begin().await.unwrap();
        let again = jobs
            .bill(&mut tx, utc("2026-12-01T06:05:00+01:00"))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(again.references, ["SP-2026-00002"]);
        let mut tx = store.begin().await.unwrap();
        let none = jobs.bill(&mut tx, now).await.unwrap();
        tx.commit().await.unwrap();
        assert!(none.references.is_empty() && none.message_id.is_none());
        assert_eq!(outbox(&store, "billing").await, 2);
        // The export of November lists all three with their billed_at; December none.
        let nov = jobs.export("2026-11".parse().unwrap()).await.unwrap();
        assert_eq!(nov.lines().count(), 4, "{nov}");
        assert!(nov.contains("\"Kommune, \"\"Nord\"\"\""), "{nov}");
        assert!(nov.lines().skip(1).all(|l| l.ends_with("+01:00")), "{nov}");
        let dec = jobs.export("2026-12".parse().unwrap()).await.unwrap();
        assert_eq!(dec, format!("{}\r\n", crate::schedule::billing::CSV_HEADER));
    }
}
