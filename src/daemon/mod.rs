//! `spdesk run`: the intake, the outbox worker, the scheduler and the executor side by side
//! until SIGTERM or SIGINT. On a signal the intake finishes the message in hand (or leaves it
//! untouched in the inbox), the scheduler finishes the job in hand, a running executor command
//! is stopped and its order failed, the outbox makes one last round, and the process exits.

pub mod executor;
pub mod intake;
pub mod net;
pub mod outbox;
pub mod process;
pub mod scheduler;

use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tracing::{error, info};

use crate::config::Config;
use crate::store::Store;
use crate::store::actions::Actions;
use executor::ExecutorSettings;
use intake::{ImapSettings, Pipeline};
use outbox::SmtpSettings;

/// Everything the daemon runs with, checked before anything starts.
pub struct Daemon {
    pub imap: ImapSettings,
    pub smtp: SmtpSettings,
    pub pipeline: Arc<Pipeline>,
    pub store: Store,
    /// The whole config, for the scheduler's jobs (`[schedule]`, `[helpdesk]`, `[billing]`).
    pub config: Arc<Config>,
    pub executor: ExecutorSettings,
    pub actions: Arc<Actions>,
}

/// Resolves when the process is asked to stop.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM: stopping"),
                    _ = int.recv() => info!("SIGINT: stopping"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs until a stop signal.
pub async fn run(d: Daemon) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let wakeup = Arc::new(Notify::new());
    info!(
        imap = format!("{}:{}", d.imap.host, d.imap.port),
        smtp = format!("{}:{}", d.smtp.host, d.smtp.port),
        mailbox = d.imap.mailbox,
        "spdesk started"
    );
    let intake = tokio::spawn(intake::run(
        d.imap,
        d.pipeline,
        d.store.clone(),
        wakeup.clone(),
        stop_rx.clone(),
    ));
    let scheduler = tokio::spawn(scheduler::run(
        d.store.clone(),
        d.config,
        wakeup.clone(),
        stop_rx.clone(),
    ));
    let executor = tokio::spawn(executor::run(
        d.store.clone(),
        d.executor,
        d.actions,
        wakeup.clone(),
        stop_rx.clone(),
    ));
    let outbox = tokio::spawn(outbox::run(d.store.clone(), d.smtp, wakeup, stop_rx));
    stop_signal().await;
    let _ = stop_tx.send(true);
    if let Err(e) = intake.await {
        error!(error = %e, "intake task failed");
    }
    if let Err(e) = scheduler.await {
        error!(error = %e, "scheduler task failed");
    }
    // The executor before the outbox: the order it fails on a stop queues mails the outbox
    // sends last.
    if let Err(e) = executor.await {
        error!(error = %e, "executor task failed");
    }
    if let Err(e) = outbox.await {
        error!(error = %e, "outbox task failed");
    }
    d.store.pool.close().await;
    info!("spdesk stopped");
    Ok(())
}
