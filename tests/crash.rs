//! The crash harness: a backlog of form mails, a daemon SIGKILLed at random moments *while it
//! works* (mid-intake, mid-sending, mid-startup) and restarted each time, until everything is
//! processed. Then a report: nothing lost, no order twice, every receipt delivered, and a
//! receipt delivered twice only as the same mail (same deterministic Message-ID), resent
//! because a kill fell between the SMTP server's acceptance and the commit of `sent_at`.
//!
//! Run alone: `cargo test --test crash -- --nocapture`. Environment: `CRASH_MAILS` (default
//! 500), `CRASH_KILLS` (minimum kills, default 20), `CRASH_SEED` (replays a printed seed).

mod common;

use std::time::{Duration, Instant};

use chrono::Utc;

use common::crash::{
    self, Finished, Kill, Moment, Progress, Rng, choose_moment, count, env_number,
};
use common::daemon::Daemon;
use common::{HELPDESK, MailStack};

/// The whole run (delivery, kills, the tail of the work, the receipts) must end within this.
const OVERALL: Duration = Duration::from_secs(15 * 60);
/// With the daemon running and no progress at all for this long, it counts as stuck.
const STALL: Duration = Duration::from_secs(180);
/// How often the harness looks at the database while it waits for its moment to kill.
const POLL: Duration = Duration::from_millis(15);

async fn progress(pool: &sqlx::AnyPool) -> Option<Progress> {
    crash::progress(pool).await
}

/// The database as a second client (the daemon creates SQLite's at its first start; with
/// `SPDESK_TEST_DB=postgres` it is the daemon's PostgreSQL database).
async fn open_db(d: &Daemon) -> Option<sqlx::AnyPool> {
    let url = if d.on_pg() {
        d.db_url()
    } else {
        let path = d.dir().join("spdesk.db");
        if !path.exists() {
            return None;
        }
        format!("sqlite://{}?mode=rw", path.display())
    };
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .ok()
}

#[tokio::test]
async fn sigkilled_daemon_loses_nothing_and_duplicates_no_order() {
    let started = Instant::now();
    let mails = env_number("CRASH_MAILS", 500).max(1) as usize;
    let min_kills = env_number("CRASH_KILLS", 20) as usize;
    let seed = crash::seed();
    eprintln!(
        "crash harness: CRASH_SEED={seed} CRASH_MAILS={mails} CRASH_KILLS={min_kills} \
         (set them to replay this run)"
    );
    let mut rng = Rng::new(seed);

    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    // Each order sends fa two receipts within the hour; the run must never meet the limit.
    d.edit_config(|c| {
        c.replace(
            "receipts_per_address_per_hour = 1000",
            "receipts_per_address_per_hour = 1000000",
        )
    });

    // The backlog, in the INBOX before the daemon starts.
    let sent = crash::deliver_backlog(&stack, &mut rng, seed, mails).await;

    // Kill at random moments during the work, restart, until everything is done.
    let mut kills: Vec<Kill> = Vec::new();
    let mut pool: Option<sqlx::AnyPool> = None;
    let mut last = Progress::default();
    let mut last_change = Instant::now();
    let mut previous_round_stored = true;
    let work_started = Instant::now();
    'rounds: loop {
        d.start();
        let round_start = Instant::now();
        if pool.is_none() {
            pool = open_db(&d).await;
        }
        let before = match &pool {
            Some(p) => progress(p).await.unwrap_or(last),
            None => last,
        };
        let moment = choose_moment(
            &mut rng,
            mails as i64,
            before,
            min_kills.saturating_sub(kills.len()) as i64,
            previous_round_stored,
        );
        loop {
            if started.elapsed() > OVERALL {
                panic!(
                    "crash harness: not done within {OVERALL:?} (seed {seed}); progress \
                     {last:?}, {} kills\n{}",
                    kills.len(),
                    d.log_tail()
                );
            }
            if let Some(status) = d.poll_exit() {
                panic!(
                    "the daemon exited on its own ({status}) (seed {seed})\n{}",
                    d.log_tail()
                );
            }
            if pool.is_none() {
                pool = open_db(&d).await;
            }
            let now = match &pool {
                Some(p) => progress(p).await.unwrap_or(last),
                None => last,
            };
            if now != last {
                last = now;
                last_change = Instant::now();
            } else if last_change.elapsed() > STALL {
                panic!(
                    "crash harness: no progress for {STALL:?} (seed {seed}): {last:?}, INBOX \
                     {:?}\n{}",
                    count(&stack, HELPDESK, "INBOX").await,
                    d.log_tail()
                );
            }
            let due = match moment {
                Moment::Stored(n, _) => now.stored >= before.stored + n,
                Moment::Sent(n, _) => now.sent >= before.sent + n,
                Moment::Delay(ms) => round_start.elapsed() >= Duration::from_millis(ms),
            };
            if due {
                let jitter = match moment {
                    Moment::Stored(_, j) | Moment::Sent(_, j) => j,
                    Moment::Delay(_) => 0,
                };
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                let at = Utc::now();
                let after_start = round_start.elapsed();
                d.kill();
                let dead = Utc::now();
                let at_kill = match &pool {
                    Some(p) => progress(p).await.unwrap_or(now),
                    None => now,
                };
                previous_round_stored = at_kill.stored > before.stored;
                kills.push(Kill {
                    victim: 0,
                    at,
                    dead,
                    moment: moment.clone(),
                    after_start,
                    before,
                    at_kill,
                });
                continue 'rounds;
            }
            // Done: every mail stored, every receipt sent, the INBOX empty.
            if now.stored >= mails as i64
                && now.unsent == 0
                && count(&stack, HELPDESK, "INBOX").await == Ok(0)
            {
                break 'rounds;
            }
            tokio::time::sleep(POLL).await;
        }
    }
    let work_time = work_started.elapsed();
    // A last, orderly stop: the daemon must still exit cleanly after all those kills.
    d.terminate();
    let status = d.wait_exit(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "the daemon did not stop cleanly on SIGTERM: {status}\n{}",
        d.log_tail()
    );
    let pool = match pool {
        Some(p) => p,
        None => open_db(&d)
            .await
            .unwrap_or_else(|| panic!("cannot open the daemon's database\n{}", d.log_tail())),
    };
    let names = ["spdesk".to_string()];
    crash::check(&Finished {
        file: "crash",
        seed,
        mails,
        min_kills,
        sent: &sent,
        kills: &kills,
        stack: &stack,
        pool: &pool,
        daemons: std::slice::from_ref(&d),
        names: &names,
        kills_detail: String::new(),
        started,
        work_time,
    })
    .await;
}
