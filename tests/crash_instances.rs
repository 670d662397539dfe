//! The crash harness with three instances (issue 16): a backlog of form mails in one mailbox,
//! three `spdesk run` on one private PostgreSQL, SIGKILLed at random moments while they work
//! (each restarted at once), and PostgreSQL itself restarted once mid-run. The scheduled digest
//! and billing fall inside the run. Then the crash harness's report and checks (nothing lost,
//! no order twice, every receipt delivered, a receipt twice only as the same mail and explained
//! by a kill of an instance that was sending it), and each scheduled job ran exactly once
//! across the three.
//!
//! Run alone: `cargo test --test crash_instances -- --nocapture`. Environment: `CRASH_MAILS`
//! (default 500), `CRASH_KILLS` (minimum kills, default 30), `CRASH_SEED` (replays a seed).

mod common;

use std::io::{Read as _, Seek as _};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike as _, Utc};

use common::crash::{
    self, Finished, Kill, Moment, Progress, Rng, choose_moment, count, env_number,
};
use common::daemon::Daemon;
use common::postgres::Postgres;
use common::{HELPDESK, MailStack};

const INSTANCES: usize = 3;
/// The instances' `database.lease_timeout`: a claim whose holder died is taken over after this.
const LEASE: &str = "3s";
/// The digest and the billing run are scheduled this long after the instances first start:
/// while they work (the run takes about half a minute here), so kills may land on a job.
const JOBS_AFTER: Duration = Duration::from_secs(15);
/// The whole run (delivery, kills, the tail of the work, the receipts) must end within this.
const OVERALL: Duration = Duration::from_secs(15 * 60);
/// With the instances running and no progress at all for this long, the run counts as stuck.
const STALL: Duration = Duration::from_secs(180);
/// How often the harness looks at the database while it waits for its moment to kill.
const POLL: Duration = Duration::from_millis(20);

/// Counts an instance's "mail stored" lines as its log grows, reading only what is new.
#[derive(Default)]
struct StoredLines {
    offset: u64,
    stored: usize,
}

impl StoredLines {
    fn update(&mut self, d: &Daemon) -> usize {
        let Ok(mut f) = std::fs::File::open(d.log_path()) else {
            return self.stored;
        };
        let mut new = Vec::new();
        if f.seek(std::io::SeekFrom::Start(self.offset)).is_err()
            || f.read_to_end(&mut new).is_err()
        {
            return self.stored;
        }
        // Whole lines only; a line being written is read next time.
        let Some(end) = new.iter().rposition(|b| *b == b'\n') else {
            return self.stored;
        };
        let text = String::from_utf8_lossy(&new[..=end]);
        self.stored += text.lines().filter(|l| l.contains("mail stored")).count();
        self.offset += end as u64 + 1;
        self.stored
    }
}

/// The log without its colours (the escape sequences ESC [ ... m).
fn plain(log: &str) -> String {
    let mut s = String::with_capacity(log.len());
    let mut in_escape = false;
    for c in log.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (false, c) => s.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    s
}

/// How often the scheduler of the instance with this log ran `job` (its line after the
/// commit: `job="digest"` ... "digest queued to" / "was already queued", `job="billing"` ...
/// "billing: ...").
fn job_runs(log: &str, job: &str) -> usize {
    let field = format!("job=\"{job}\"");
    plain(log)
        .lines()
        .filter(|l| l.contains(&field) && !l.contains("failed"))
        .filter(|l| match job {
            "digest" => l.contains("digest queued to") || l.contains("was already queued"),
            _ => l.contains("billing: "),
        })
        .count()
}

/// The cron expression (seconds first, in the schedule's timezone) for the one moment `at`.
fn cron_at(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&chrono_tz::Europe::Copenhagen);
    format!(
        "{} {} {} * * *",
        local.second(),
        local.minute(),
        local.hour()
    )
}

/// The three instances: one installation (same mailbox, same database), each with its own
/// config file and log. The lease is short, the digest and billing at `jobs_at`.
fn instances(stack: &MailStack, pg: &Arc<Postgres>, jobs_at: DateTime<Utc>) -> Vec<Daemon> {
    let url = pg.new_database();
    let cron = cron_at(jobs_at);
    (0..INSTANCES)
        .map(|_| {
            let d = Daemon::on_postgres(stack, HELPDESK, pg, &url);
            d.edit_config(|c| {
                c.replace(
                    "receipts_per_address_per_hour = 1000",
                    "receipts_per_address_per_hour = 1000000",
                )
                .replace(
                    "password_file = \"pg.password\"",
                    &format!("password_file = \"pg.password\"\nlease_timeout = \"{LEASE}\""),
                )
                .replace(
                    "digest = \"0 0 3 1 1 * 2099\"",
                    &format!("digest = \"{cron}\""),
                )
                .replace(
                    "billing = \"0 0 3 1 1 * 2099\"",
                    &format!("billing = \"{cron}\""),
                )
            });
            d
        })
        .collect()
}

/// Whether both jobs have run at or after `at` (their `last_run` moved past it).
async fn jobs_ran(pool: &sqlx::AnyPool, at: DateTime<Utc>) -> bool {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT name, last_run FROM jobs")
        .fetch_all(pool)
        .await
        .unwrap_or_default();
    ["digest", "billing"].iter().all(|job| {
        rows.iter().any(|(name, last)| {
            name == job
                && DateTime::parse_from_rfc3339(last).is_ok_and(|t| t.with_timezone(&Utc) >= at)
        })
    })
}

#[tokio::test]
async fn three_instances_sigkilled_and_a_postgres_restart_lose_nothing_and_duplicate_nothing() {
    let started = Instant::now();
    let mails = env_number("CRASH_MAILS", 500).max(1) as usize;
    let min_kills = env_number("CRASH_KILLS", 30) as usize;
    let seed = crash::seed();
    eprintln!(
        "crash harness (3 instances, PostgreSQL): CRASH_SEED={seed} CRASH_MAILS={mails} \
         CRASH_KILLS={min_kills} (set them to replay this run)"
    );
    let mut rng = Rng::new(seed);
    let pg = Arc::new(Postgres::start());
    let stack = MailStack::start(&[]);
    let sent = crash::deliver_backlog(&stack, &mut rng, seed, mails).await;

    let jobs_at = (Utc::now() + chrono::Duration::from_std(JOBS_AFTER).unwrap_or_default())
        .with_nanosecond(0)
        .unwrap_or_else(Utc::now);
    let mut ds = instances(&stack, &pg, jobs_at);
    let names: Vec<String> = (1..=INSTANCES).map(|i| format!("instance-{i}")).collect();
    let url = ds[0].db_url();
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));

    let mut kills: Vec<Kill> = Vec::new();
    let mut lines: Vec<StoredLines> = (0..INSTANCES).map(|_| StoredLines::default()).collect();
    // Each instance's count of "mail stored" lines when it was last started.
    let mut stored_at_start = [0usize; INSTANCES];
    let mut pg_restart: Option<(DateTime<Utc>, Duration, Progress)> = None;
    // Starts that ended at once because the database was unreachable (during its restart).
    let mut exited_at_start = [0usize; INSTANCES];
    let mut last = Progress::default();
    let mut last_change = Instant::now();
    let work_started = Instant::now();
    for d in &mut ds {
        d.start();
    }
    'rounds: loop {
        let round_start = Instant::now();
        let before = crash::progress(&pool).await.unwrap_or(last);
        let kills_left = min_kills.saturating_sub(kills.len()) as i64;
        let moment = choose_moment(&mut rng, mails as i64, before, kills_left, true);
        loop {
            assert!(
                started.elapsed() <= OVERALL,
                "crash harness: not done within {OVERALL:?} (seed {seed}); progress {last:?}, \
                 {} kills\n{}",
                kills.len(),
                tails(&ds)
            );
            for (i, (d, name)) in ds.iter_mut().zip(&names).enumerate() {
                let Some(status) = d.poll_exit() else {
                    continue;
                };
                // An instance (re)started while PostgreSQL restarts cannot connect and exits
                // at once (status 1): restarted as its service manager would (systemd's
                // Restart=on-failure). Any other exit fails the run.
                let log = d.log();
                let tail = log.get(log.len().saturating_sub(400)..).unwrap_or(&log);
                let at_start = tail.contains("cannot connect to the database");
                let near_restart = pg_restart
                    .as_ref()
                    .is_some_and(|(at, _, _)| (Utc::now() - *at).num_seconds() < 30);
                if !(at_start && near_restart) {
                    panic!(
                        "{name} exited on its own ({status}) (seed {seed})\n{}",
                        d.log_tail()
                    );
                }
                eprintln!(
                    "crash harness: {name} could not connect at its start ({status}); started again"
                );
                exited_at_start[i] += 1;
                d.start();
            }
            let now = crash::progress(&pool).await.unwrap_or(last);
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > STALL {
                panic!(
                    "crash harness: no progress for {STALL:?} (seed {seed}): {last:?}, INBOX \
                     {:?}\n{}",
                    count(&stack, HELPDESK, "INBOX").await,
                    tails(&ds)
                );
            }
            // PostgreSQL itself, once, in the middle of the intake.
            if pg_restart.is_none() && now.stored * 5 >= mails as i64 * 2 {
                let at = Utc::now();
                let down = Instant::now();
                pg.restart();
                pg_restart = Some((at, down.elapsed(), now));
                eprintln!(
                    "crash harness: PostgreSQL restarted at {} ({:?} down)",
                    at.format("%H:%M:%S%.3f"),
                    down.elapsed()
                );
                continue 'rounds;
            }
            let due = match moment {
                Moment::Stored(n, _) => now.stored >= before.stored + n,
                Moment::Sent(n, _) => now.sent >= before.sent + n,
                Moment::Delay(ms) => round_start.elapsed() >= Duration::from_millis(ms),
            };
            // An instance is killed only once it stored a mail since its start, while mails
            // are left to store: a mail it claimed and was killed on is then not killed on
            // again and again (that would make it a poison mail, rightly quarantined after
            // max_attempts).
            let eligible: Vec<usize> = (0..INSTANCES)
                .filter(|&i| {
                    now.stored >= mails as i64 || lines[i].update(&ds[i]) > stored_at_start[i]
                })
                .collect();
            if due && !eligible.is_empty() {
                let jitter = match moment {
                    Moment::Stored(_, j) | Moment::Sent(_, j) => j,
                    Moment::Delay(_) => 0,
                };
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                let victim = eligible[rng.range(0, eligible.len() as u64 - 1) as usize];
                let at = Utc::now();
                let after_start = round_start.elapsed();
                ds[victim].kill();
                let dead = Utc::now();
                let at_kill = crash::progress(&pool).await.unwrap_or(now);
                // Restarted at once; what it stores from now on counts for its next kill.
                stored_at_start[victim] = lines[victim].update(&ds[victim]);
                ds[victim].start();
                kills.push(Kill {
                    victim,
                    at,
                    dead,
                    moment: moment.clone(),
                    after_start,
                    before,
                    at_kill,
                });
                continue 'rounds;
            }
            // Done: every mail stored, every receipt sent, the INBOX empty, the jobs run.
            if now.stored >= mails as i64
                && now.unsent == 0
                && pg_restart.is_some()
                && jobs_ran(&pool, jobs_at).await
                && count(&stack, HELPDESK, "INBOX").await == Ok(0)
            {
                break 'rounds;
            }
            tokio::time::sleep(POLL).await;
        }
    }
    let work_time = work_started.elapsed();
    // A last, orderly stop: every instance must still exit cleanly after all those kills. One
    // restarted a moment ago may not yet listen for SIGTERM (its default kills it): each is
    // given its latest start first.
    for (d, failed) in ds.iter_mut().zip(exited_at_start) {
        let starts = d.starts() as usize - failed;
        d.wait_log("spdesk started", starts, Duration::from_secs(60))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for d in &mut ds {
        d.terminate();
    }
    for (d, name) in ds.iter_mut().zip(&names) {
        let status = d.wait_exit(Duration::from_secs(60)).await;
        assert!(
            status.success(),
            "{name} did not stop cleanly on SIGTERM: {status}\n{}",
            d.log_tail()
        );
    }

    // The scheduled jobs: one run each, across the three.
    let logs: Vec<String> = ds.iter().map(Daemon::log).collect();
    let runs = |job: &str| -> Vec<usize> { logs.iter().map(|l| job_runs(l, job)).collect() };
    let (digests, billings) = (runs("digest"), runs("billing"));
    let outbox_kind = |kind: &'static str| {
        let pool = &pool;
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE kind = $1")
                .bind(kind)
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("counting the {kind} mails: {e}"))
        }
    };
    let (digest_mails, billing_mails) = (outbox_kind("digest").await, outbox_kind("billing").await);

    let mut detail = String::new();
    let per_instance: Vec<String> = (0..INSTANCES)
        .map(|i| {
            let lines_with = |needle: &str| logs[i].lines().filter(|l| l.contains(needle)).count();
            format!(
                "{} {} kills ({} starts; {} mails stored, {} mails sent)",
                names[i],
                kills.iter().filter(|k| k.victim == i).count(),
                ds[i].starts(),
                lines_with("mail stored"),
                lines_with("mail sent")
            )
        })
        .collect();
    detail += &format!("  per instance:        {}\n", per_instance.join(", "));
    if let Some((at, down, progress)) = &pg_restart {
        detail += &format!(
            "  PostgreSQL restart:  1, at {} (stop + start took {} ms; stored {}, sent {}, \
             unsent {} before it); {} instance start(s) meanwhile found no \
             database and exited (status 1), started again\n",
            at.format("%H:%M:%S%.3f"),
            down.as_millis(),
            progress.stored,
            progress.sent,
            progress.unsent,
            exited_at_start.iter().sum::<usize>()
        );
    }
    detail += &format!(
        "  lease_timeout:       {LEASE} (a claim whose holder died is taken over after it)\n"
    );
    detail += &format!(
        "scheduled jobs:        digest and billing at {}: digest ran {} time(s) {digests:?}, \
         billing {} time(s) {billings:?} (per instance); outbox: {digest_mails} digest, \
         {billing_mails} billing mail(s); {} kill(s) within 2 s of that moment\n",
        jobs_at.format("%H:%M:%S"),
        digests.iter().sum::<usize>(),
        billings.iter().sum::<usize>(),
        kills
            .iter()
            .filter(|k| (k.at - jobs_at).num_milliseconds().abs() < 2000)
            .count()
    );

    crash::check(&Finished {
        file: "crash-instances",
        seed,
        mails,
        min_kills,
        sent: &sent,
        kills: &kills,
        stack: &stack,
        pool: &pool,
        daemons: &ds,
        names: &names,
        kills_detail: detail,
        started,
        work_time,
    })
    .await;

    assert_eq!(
        (
            digests.iter().sum::<usize>(),
            billings.iter().sum::<usize>()
        ),
        (1, 1),
        "the digest and the billing run each ran once across the instances: digest \
         {digests:?}, billing {billings:?} (seed {seed})"
    );
    assert_eq!(digest_mails, 1, "one digest mail queued (seed {seed})");
    // Nothing was executed, so nothing is billed: the run queues no mail.
    assert_eq!(billing_mails, 0, "no billing mail (seed {seed})");
    assert!(
        kills
            .iter()
            .map(|k| k.victim)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            == INSTANCES,
        "every instance was killed at least once (seed {seed})"
    );
}

fn tails(ds: &[Daemon]) -> String {
    ds.iter()
        .map(Daemon::log_tail)
        .collect::<Vec<_>>()
        .join("\n")
}
