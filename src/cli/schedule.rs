//! `spdesk digest` and `spdesk billing`: run the scheduled jobs by hand.

use std::io::Write;

use chrono::Utc;

use crate::cli::check::EXIT_USAGE;
use crate::daemon::Shared;
use crate::daemon::jobs::Jobs;

/// `spdesk digest [--send]`: prints today's digest, or queues it (once per day) for the
/// daemon's outbox.
pub async fn digest(send: bool, shared: &Shared) -> anyhow::Result<i32> {
    let jobs = Jobs::of(shared);
    let now = Utc::now();
    if !send {
        let text = jobs.digest_text(now).await?;
        println!("{}", crate::cli::terminal::text(&text));
        return Ok(0);
    }
    let mut tx = shared.store.begin().await?;
    let queued = jobs.queue_digest(&mut tx, now).await?;
    tx.commit().await?;
    println!("{queued}");
    if queued.new {
        println!("it leaves with the daemon's next outbox round");
    }
    Ok(0)
}

/// `spdesk billing run | export --period YYYY-MM [--out FILE]`.
pub async fn billing(cmd: &crate::cli::BillingCommand, shared: &Shared) -> anyhow::Result<i32> {
    use crate::cli::BillingCommand;
    let jobs = Jobs::of(shared);
    match cmd {
        BillingCommand::Run => {
            let mut tx = shared.store.begin().await?;
            let billed = jobs.bill(&mut tx, Utc::now()).await?;
            tx.commit().await?;
            println!("{billed}");
            Ok(0)
        }
        BillingCommand::Export { period, out } => {
            let period: crate::schedule::billing::Period = match period.parse() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(EXIT_USAGE);
                }
            };
            let csv = jobs.export(period).await?;
            match out {
                Some(path) => {
                    std::fs::write(path, &csv)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    eprintln!(
                        "{}: {} line(s) for {period}",
                        path.display(),
                        csv.lines().count().saturating_sub(1)
                    );
                }
                None => {
                    std::io::stdout().write_all(csv.as_bytes())?;
                }
            }
            Ok(0)
        }
    }
}
