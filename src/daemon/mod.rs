//! `spdesk run`: the intake, the outbox worker, the scheduler and the executor side by side
//! until the shutdown future given to [`run`] resolves (in the binary: SIGTERM or SIGINT). On
//! shutdown the intake finishes the message in hand (or leaves it untouched in the inbox), the
//! scheduler finishes the job in hand, a running executor command is stopped and its order
//! failed, the outbox makes one last round, and [`run`] returns.

pub mod executor;
pub mod health;
pub mod intake;
pub mod jobs;
pub mod net;
pub mod outbox;
pub mod process;
pub mod scheduler;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tracing::{error, info};

use crate::config::Config;
use crate::orders::receipts::Templates;
use crate::store::Store;
use crate::store::actions::Actions;
use executor::ExecutorSettings;
use intake::{ImapSettings, Pipeline};
use outbox::SmtpSettings;

/// What every command that works on orders runs with, the CLI's and the daemon's, each loaded
/// once (`cli::setup::shared`): a broken template or register stops the command at start.
#[derive(Clone)]
pub struct Shared {
    /// The whole config, for the scheduler's jobs (`[schedule]`, `[helpdesk]`, `[billing]`).
    pub config: Arc<Config>,
    pub store: Store,
    /// The receipt and digest templates; the pipeline and the actions hold the same ones.
    pub templates: Arc<Templates>,
    pub actions: Arc<Actions>,
}

/// Everything the daemon runs with, checked before anything starts (`cli::setup::parts`).
pub struct Parts {
    pub shared: Shared,
    pub imap: ImapSettings,
    pub smtp: SmtpSettings,
    pub pipeline: Arc<Pipeline>,
    pub executor: ExecutorSettings,
}

/// Runs the intake, the scheduler, the executor and the outbox until `shutdown` resolves (in
/// `spdesk run`: SIGTERM or SIGINT; in a test: whenever the test says), then stops them in
/// order (see the module doc) and closes the database. The caller owns the signals, so the
/// daemon can run inside another process as well as on its own.
pub async fn run(parts: Parts, shutdown: impl Future) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let wakeup = Arc::new(Notify::new());
    let Parts {
        shared,
        imap,
        smtp,
        pipeline,
        executor,
    } = parts;
    info!(
        imap = format!("{}:{}", imap.host, imap.port),
        smtp = format!("{}:{}", smtp.host, smtp.port),
        mailbox = imap.mailbox,
        "spdesk started"
    );
    let store = shared.store.clone();
    let health = Arc::new(health::Health::default());
    let web = start_web(&shared, &pipeline, &health, stop_rx.clone()).await?;
    let intake = tokio::spawn(
        intake::Intake::new(
            imap,
            pipeline,
            store.clone(),
            wakeup.clone(),
            stop_rx.clone(),
        )
        .with_health(health.clone())
        .run(),
    );
    let scheduler =
        tokio::spawn(scheduler::Scheduler::new(&shared, wakeup.clone(), stop_rx.clone()).run());
    let executor = tokio::spawn(
        executor::Executor::new(&shared, executor, wakeup.clone(), stop_rx.clone()).run(),
    );
    let outbox = tokio::spawn(
        outbox::Outbox::new(store.clone(), smtp, wakeup, stop_rx)
            .with_health(health)
            .run(),
    );
    shutdown.await;
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
    if let Some(web) = web {
        match web.await {
            Ok(Err(e)) => error!(error = format!("{e:#}"), "web server failed"),
            Err(e) => error!(error = %e, "web server task failed"),
            Ok(Ok(())) => {}
        }
    }
    store.pool.close().await;
    info!("spdesk stopped");
    Ok(())
}

/// Starts the web server when `[web] listen` is set: binds at once (a port in use stops
/// `spdesk run` at start), then serves until the stop signal.
async fn start_web(
    shared: &Shared,
    pipeline: &Arc<Pipeline>,
    health: &Arc<health::Health>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<anyhow::Result<()>>>> {
    let Some(web) = shared.config.web.clone() else {
        return Ok(None);
    };
    if let Some(tls) = &web.tls {
        // A key that does not belong to its certificate stops the start, not the first request.
        crate::web::tls::server_config(tls)?;
    }
    let listener = crate::web::bind(&web).await?;
    let state = crate::web::WebState::new(web, shared, pipeline.clone(), health.clone())?;
    Ok(Some(tokio::spawn(crate::web::serve(listener, state, stop))))
}
