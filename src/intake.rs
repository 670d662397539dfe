//! Intake: watches the Helpdesk mailbox over IMAP and hands every message to the pipeline,
//! exactly once. A message is stored and processed in one transaction and only then moved to
//! the processed folder; a crash anywhere leaves it in the inbox, and the stored key makes the
//! next attempt a no-op move. IDLE where offered (re-IDLE well before the 29-minute limit),
//! polling otherwise; any connection error reconnects with backoff.

use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use async_imap::extensions::idle::IdleResponse;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

use crate::config::Secret;
use crate::extract::ExtractLimits;
use crate::judge::{Context, Judgement, judge_mail};
use crate::mail::Mail;
use crate::net::{BoxStream, TlsMode, resolve, wrap_tls, xoauth2};
use crate::process::{HelpdeskSettings, Intake, Origin, Outcome, message_key, store_mail};
use crate::receipts::Templates;
use crate::rules::{History, RuleSettings};
use crate::store::{Store, ts, unavailable};

/// How to reach the mailbox.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<std::path::PathBuf>,
    pub username: String,
    pub auth: ImapAuth,
    pub mailbox: String,
    pub processed_folder: String,
    pub quarantine_folder: String,
    pub idle: bool,
    pub poll_interval: Duration,
}

#[derive(Debug, Clone)]
pub enum ImapAuth {
    Password(Secret),
    XOAuth2(Secret),
}

/// Everything the pipeline needs, shared by the intake and the CLI.
pub struct Pipeline {
    pub settings: RuleSettings,
    pub limits: ExtractLimits,
    pub max_message_bytes: u64,
    pub max_attempts: i64,
    pub helpdesk: HelpdeskSettings,
    pub templates: Templates,
}

/// A limit on every IMAP command, so a stalled server cannot stall intake.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// IDLE is renewed after this long at the latest (RFC 2177: servers may drop it after 30 min),
/// and after `poll_interval` when that is shorter: a safety net for a lost notification.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// Without any server response for this long during IDLE the connection counts as dead
/// (Dovecot sends "still here" every 2 minutes).
const IDLE_SILENCE: Duration = Duration::from_secs(5 * 60);

type ImapSession = Session<BoxStream>;

async fn timed<T, E: Into<anyhow::Error>>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => r.map_err(|e| e.into().context(format!("IMAP {what}"))),
        Err(_) => anyhow::bail!(
            "IMAP {what}: no answer within {} s",
            COMMAND_TIMEOUT.as_secs()
        ),
    }
}

/// Connects, reads the greeting, upgrades to TLS as configured and logs in.
pub async fn connect(s: &ImapSettings) -> anyhow::Result<ImapSession> {
    let tcp = timed(
        "connect",
        tokio::net::TcpStream::connect((s.host.as_str(), s.port)),
    )
    .await?;
    let _ = tcp.set_nodelay(true);
    let stream: BoxStream = match s.tls {
        TlsMode::Tls => Box::new(wrap_tls(tcp, &s.host, s.ca_file.as_deref()).await?),
        TlsMode::None => Box::new(tcp),
        TlsMode::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            timed("greeting", async {
                client.read_response().await.map_err(anyhow::Error::from)
            })
            .await?;
            timed(
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let tcp = client.into_inner();
            Box::new(wrap_tls(tcp, &s.host, s.ca_file.as_deref()).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if s.tls != TlsMode::StartTls {
        let greeting = timed("greeting", async {
            client.read_response().await.map_err(anyhow::Error::from)
        })
        .await?;
        if greeting.is_none() {
            anyhow::bail!("IMAP server closed the connection before its greeting");
        }
    }
    let session = match &s.auth {
        ImapAuth::Password(secret) => {
            let password = resolve(secret).await?;
            timed("login", async {
                client
                    .login(&s.username, &password)
                    .await
                    .map_err(|(e, _)| anyhow::anyhow!("login as {} failed: {e}", s.username))
            })
            .await?
        }
        ImapAuth::XOAuth2(secret) => {
            let token = resolve(secret).await?;
            struct XOAuth2(String);
            impl async_imap::Authenticator for XOAuth2 {
                type Response = String;
                fn process(&mut self, _: &[u8]) -> String {
                    std::mem::take(&mut self.0)
                }
            }
            timed("authenticate", async {
                client
                    .authenticate("XOAUTH2", XOAuth2(xoauth2(&s.username, &token)))
                    .await
                    .map_err(|(e, _)| anyhow::anyhow!("XOAUTH2 as {} failed: {e}", s.username))
            })
            .await?
        }
    };
    Ok(session)
}

/// The first wait before reconnecting; it doubles while attempts keep failing.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait before reconnecting.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A session that stayed up this long ends a series of failures: the next error starts the
/// backoff over, so a daemon that lived through many short outages still reconnects quickly.
const STABLE_SESSION: Duration = Duration::from_secs(30);

/// The wait before the next connection attempt, given the previous wait (`None`: the first
/// failure) and how long the session that just ended had been logged in (`None`: it never got
/// that far).
fn reconnect_delay(previous: Option<Duration>, session_up_for: Option<Duration>) -> Duration {
    let stable = session_up_for.is_some_and(|up| up >= STABLE_SESSION);
    match previous {
        Some(p) if !stable => p.saturating_mul(2).clamp(FIRST_BACKOFF, MAX_BACKOFF),
        _ => FIRST_BACKOFF,
    }
}

/// Runs the intake until `shutdown` turns true, reconnecting after errors with backoff.
pub async fn run(
    imap: ImapSettings,
    pipeline: Arc<Pipeline>,
    store: Store,
    outbox_wakeup: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delay: Option<Duration> = None;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut logged_in_at = None;
        let result = session_loop(
            &imap,
            &pipeline,
            &store,
            &outbox_wakeup,
            &mut shutdown,
            &mut logged_in_at,
        )
        .await;
        let wait = match result {
            Ok(()) => return,
            Err(e) => {
                let wait = reconnect_delay(delay, logged_in_at.map(|t| t.elapsed()));
                if unavailable(&e) {
                    // Nothing was counted against the mail in hand; it stays in the inbox.
                    warn!(
                        error = format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "database unavailable; retrying"
                    );
                } else {
                    warn!(
                        error = format!("{e:#}"),
                        retry_in_ms = wait.as_millis() as u64,
                        "IMAP connection lost; reconnecting"
                    );
                }
                wait
            }
        };
        delay = Some(wait);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn session_loop(
    imap: &ImapSettings,
    pipeline: &Arc<Pipeline>,
    store: &Store,
    outbox_wakeup: &Arc<Notify>,
    shutdown: &mut watch::Receiver<bool>,
    logged_in_at: &mut Option<std::time::Instant>,
) -> anyhow::Result<()> {
    let mut session = connect(imap).await?;
    *logged_in_at = Some(std::time::Instant::now());
    info!(
        host = imap.host,
        port = imap.port,
        user = imap.username,
        "IMAP connected"
    );
    for folder in [&imap.processed_folder, &imap.quarantine_folder] {
        // CREATE fails when the folder exists; that is fine.
        if let Ok(Err(e)) = tokio::time::timeout(COMMAND_TIMEOUT, session.create(folder)).await {
            debug!(folder, error = %e, "create folder");
        }
    }
    let caps = timed("CAPABILITY", session.capabilities()).await?;
    let has_move = caps.has_str("MOVE");
    let has_idle = caps.has_str("IDLE");
    let mut last_uidvalidity: Option<u32> = None;
    loop {
        let mbox = timed("SELECT", session.select(&imap.mailbox)).await?;
        if last_uidvalidity.is_some() && mbox.uid_validity != last_uidvalidity {
            warn!(old = ?last_uidvalidity, new = ?mbox.uid_validity, "UIDVALIDITY changed; resynchronising the whole mailbox");
        }
        last_uidvalidity = mbox.uid_validity;
        drain(
            &mut session,
            imap,
            pipeline,
            store,
            outbox_wakeup,
            mbox.uid_validity,
            has_move,
            shutdown,
        )
        .await?;
        if *shutdown.borrow() {
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            return Ok(());
        }
        if imap.idle && has_idle {
            let mut handle = session.idle();
            timed("IDLE", handle.init()).await?;
            let outcome = {
                let (wait, stop) = handle.wait_with_timeout(IDLE_SILENCE);
                tokio::select! {
                    r = tokio::time::timeout(IDLE_RENEW.min(imap.poll_interval.max(Duration::from_secs(1))), wait) => Some(r),
                    _ = shutdown.changed() => { drop(stop); None }
                }
            };
            match outcome {
                Some(Ok(Ok(IdleResponse::NewData(_)))) => {}
                Some(Ok(Ok(IdleResponse::ManualInterrupt))) | None => {}
                Some(Ok(Ok(IdleResponse::Timeout))) => {
                    debug!("IDLE silent for too long; checking the connection");
                }
                Some(Ok(Err(e))) => return Err(anyhow::Error::from(e).context("IMAP IDLE")),
                Some(Err(_)) => debug!("renewing IDLE"),
            }
            session = timed("DONE", handle.done()).await?;
        } else {
            tokio::select! {
                _ = tokio::time::sleep(imap.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            timed("NOOP", session.noop()).await?;
        }
    }
}

/// Processes every message in the mailbox, oldest first.
#[allow(clippy::too_many_arguments)]
async fn drain(
    session: &mut ImapSession,
    imap: &ImapSettings,
    pipeline: &Arc<Pipeline>,
    store: &Store,
    outbox_wakeup: &Arc<Notify>,
    uidvalidity: Option<u32>,
    has_move: bool,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut uids: Vec<u32> = timed("UID SEARCH", session.uid_search("ALL"))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    for uid in uids {
        if *shutdown.borrow() {
            return Ok(());
        }
        let target =
            process_uid(session, imap, pipeline, store, uidvalidity, uid, shutdown).await?;
        outbox_wakeup.notify_one();
        if let Some(folder) = target {
            move_message(session, uid, folder, has_move).await?;
        }
    }
    Ok(())
}

async fn move_message(
    session: &mut ImapSession,
    uid: u32,
    folder: &str,
    has_move: bool,
) -> anyhow::Result<()> {
    let set = uid.to_string();
    if has_move {
        timed("UID MOVE", session.uid_mv(&set, folder)).await?;
    } else {
        timed("UID COPY", session.uid_copy(&set, folder)).await?;
        timed("UID STORE", async {
            let s = session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
            s.collect::<Vec<_>>().await;
            Ok::<_, async_imap::error::Error>(())
        })
        .await?;
        timed("UID EXPUNGE", async {
            let s = session.uid_expunge(&set).await?;
            s.collect::<Vec<_>>().await;
            Ok::<_, async_imap::error::Error>(())
        })
        .await?;
    }
    Ok(())
}

/// Fetches one message and processes it. Returns the folder to move it to.
///
/// Only the mail's own faults count towards quarantine: a reader that panics or times out, or
/// a process that dies on it. When the database fails instead (busy, disk full, I/O), the
/// attempt is taken back and the error returned: intake backs off and tries again later.
async fn process_uid<'a>(
    session: &mut ImapSession,
    imap: &'a ImapSettings,
    pipeline: &Arc<Pipeline>,
    store: &Store,
    uidvalidity: Option<u32>,
    uid: u32,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<Option<&'a str>> {
    let (size, internal_date) = fetch_meta(session, uid).await?;
    let origin = Origin {
        mailbox: imap.mailbox.clone(),
        uidvalidity,
        uid: Some(uid),
        internal_date: internal_date.unwrap_or_else(Utc::now),
    };
    let too_large = size.is_some_and(|s| u64::from(s) > pipeline.max_message_bytes);
    let raw = if too_large {
        fetch_part(session, uid, "BODY.PEEK[HEADER]").await?
    } else {
        fetch_part(session, uid, "BODY.PEEK[]").await?
    };
    let Some(raw) = raw else {
        // Gone meanwhile (another client moved it).
        return Ok(None);
    };
    let quick_id = quick_message_id(&raw);
    let key = message_key(quick_id.as_deref(), &raw);

    if already_stored(store, &key, &origin).await? {
        debug!(uid, key, "already stored; moving it out of the inbox");
        return Ok(Some(&imap.processed_folder));
    }
    // Read before the attempt is counted: a database error here is nobody's fault.
    let history = executed_ids(store).await?;
    let attempts = bump_attempt(store, &key).await?;
    if attempts > pipeline.max_attempts || too_large {
        let why = if too_large {
            format!(
                "the mail is {} bytes, more than the limit of {} bytes",
                size.unwrap_or(0),
                pipeline.max_message_bytes
            )
        } else {
            format!("processing failed {} times", attempts - 1)
        };
        quarantine(store, pipeline, &raw, &origin, &why).await?;
        return Ok(Some(&imap.quarantine_folder));
    }

    let judged = judge_blocking(pipeline, history, raw.clone(), origin.internal_date).await;
    let (mail, judgement) = match judged {
        Ok(Some(x)) => x,
        Ok(None) => {
            // Not a mail at all: a person looks at it.
            quarantine(
                store,
                pipeline,
                &raw,
                &origin,
                "the message could not be parsed as a mail",
            )
            .await?;
            return Ok(Some(&imap.quarantine_folder));
        }
        Err(why) => {
            record_error(store, &key, &why).await?;
            quarantine(store, pipeline, &raw, &origin, &why).await?;
            return Ok(Some(&imap.quarantine_folder));
        }
    };

    let now = Utc::now();
    let stored = async {
        let mut tx = store.begin().await?;
        let outcome = store_mail(
            &mut tx,
            &Intake {
                raw: &raw,
                mail: &mail,
                judgement: &judgement,
                origin: &origin,
                helpdesk: &pipeline.helpdesk,
                register: pipeline.settings.register.as_ref(),
                templates: &pipeline.templates,
                now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok::<_, anyhow::Error>(outcome)
    }
    .await;
    let outcome = match stored {
        Ok(outcome) => outcome,
        Err(e) if unavailable(&e) => {
            // The mail was read and judged fine; the database failed. Not the mail's fault.
            undo_attempt(store, &key, shutdown).await;
            return Err(e.context(format!("storing the mail with UID {uid}")));
        }
        Err(e) => return Err(e),
    };
    failpoint("after_commit");
    match &outcome {
        Outcome::Orders(refs) => {
            info!(uid, from = mail.from.as_deref().unwrap_or(""), orders = ?refs, "mail stored")
        }
        Outcome::Correspondence(r) => info!(uid, order = r, "correspondence stored"),
        Outcome::Ignored(why) => info!(uid, why, "mail stored; not answered"),
        Outcome::Duplicate => debug!(uid, "duplicate"),
    }
    Ok(Some(&imap.processed_folder))
}

/// A crash on purpose at a named point, for the tests that prove a kill between the commit and
/// the move loses nothing and duplicates nothing: `SPDESK_FAILPOINT=after_commit` aborts the
/// process there, like SIGKILL would.
fn failpoint(name: &str) {
    if std::env::var("SPDESK_FAILPOINT").is_ok_and(|v| v == name) {
        error!(failpoint = name, "aborting on purpose (SPDESK_FAILPOINT)");
        std::process::abort();
    }
}

async fn fetch_meta(
    session: &mut ImapSession,
    uid: u32,
) -> anyhow::Result<(Option<u32>, Option<DateTime<Utc>>)> {
    timed("UID FETCH", async {
        let mut s = session
            .uid_fetch(uid.to_string(), "(UID RFC822.SIZE INTERNALDATE)")
            .await?;
        let mut out = (None, None);
        while let Some(f) = s.next().await {
            let f = f?;
            if f.uid == Some(uid) {
                out = (f.size, f.internal_date().map(|d| d.with_timezone(&Utc)));
            }
        }
        Ok::<_, async_imap::error::Error>(out)
    })
    .await
}

async fn fetch_part(
    session: &mut ImapSession,
    uid: u32,
    what: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    let query = format!("(UID {what})");
    timed("UID FETCH", async {
        let mut s = session.uid_fetch(uid.to_string(), &query).await?;
        let mut out = None;
        while let Some(f) = s.next().await {
            let f = f?;
            if f.uid == Some(uid) {
                out = f.body().or_else(|| f.header()).map(<[u8]>::to_vec);
            }
        }
        Ok::<_, async_imap::error::Error>(out)
    })
    .await
}

/// The Message-ID read cheaply from the header, before any parsing that might fail.
fn quick_message_id(raw: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw)?;
    parsed.message_id().map(|m| m.trim().to_string())
}

async fn already_stored(store: &Store, key: &str, o: &Origin) -> anyhow::Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM inbound_mail WHERE message_key = ?1 OR (mailbox = ?2 AND uidvalidity = ?3 AND uid = ?4)",
    )
    .bind(key)
    .bind(&o.mailbox)
    .bind(o.uidvalidity.map(i64::from))
    .bind(o.uid.map(i64::from))
    .fetch_one(&store.pool)
    .await?;
    Ok(n > 0)
}

/// Counts an attempt, committed before processing starts (so a crash counts too).
async fn bump_attempt(store: &Store, key: &str) -> anyhow::Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO intake_attempts (message_key, attempts, last_at) VALUES (?1, 1, ?2)
         ON CONFLICT (message_key) DO UPDATE SET attempts = attempts + 1, last_at = ?2
         RETURNING attempts",
    )
    .bind(key)
    .bind(ts(Utc::now()))
    .fetch_one(&store.pool)
    .await?;
    Ok(n)
}

/// How long intake waits between tries to take an attempt back while the database fails.
const UNDO_RETRY_MAX: Duration = Duration::from_secs(30);

/// Takes back an attempt that failed for the database's sake, not the mail's. The database
/// failed a moment ago, so this is tried until it works (nothing can be stored meanwhile
/// anyway) or the daemon stops: an attempt that stays counted would bring the mail closer to
/// quarantine for every minute the disk is full.
async fn undo_attempt(store: &Store, key: &str, shutdown: &watch::Receiver<bool>) {
    let mut shutdown = shutdown.clone();
    let mut wait = Duration::from_millis(500);
    loop {
        let r = sqlx::query(
            "UPDATE intake_attempts SET attempts = attempts - 1 WHERE message_key = ?1 AND attempts > 0",
        )
        .bind(key)
        .execute(&store.pool)
        .await;
        match r {
            Ok(_) => return,
            Err(e) => {
                warn!(
                    error = %e,
                    retry_in_ms = wait.as_millis() as u64,
                    "database unavailable; waiting for it before taking back the attempt"
                );
            }
        }
        if *shutdown.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = wait.saturating_mul(2).min(UNDO_RETRY_MAX);
    }
}

async fn record_error(store: &Store, key: &str, why: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE intake_attempts SET last_error = ?1 WHERE message_key = ?2")
        .bind(why)
        .bind(key)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Executed BestillingsIDs, read before judging so the judgement stays a pure function.
struct Executed(std::collections::HashSet<String>);

impl History for Executed {
    fn executed(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

/// The BestillingsIDs already executed, for the judgement's history.
async fn executed_ids(store: &Store) -> anyhow::Result<Executed> {
    let executed: Vec<String> = sqlx::query_scalar(
        "SELECT bestillings_id FROM orders WHERE state = 'executed' AND bestillings_id IS NOT NULL",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(Executed(executed.into_iter().collect()))
}

/// Parses and judges on a blocking thread under a time limit. `Ok(None)`: not a mail;
/// `Err`: the reader failed on it (panic, time limit), which is the mail's fault.
async fn judge_blocking(
    pipeline: &Arc<Pipeline>,
    history: Executed,
    raw: Vec<u8>,
    received: DateTime<Utc>,
) -> Result<Option<(Mail, Judgement)>, String> {
    let p = pipeline.clone();
    let limit = p.limits.reader_timeout * 3 + Duration::from_secs(5);
    let task = tokio::task::spawn_blocking(move || {
        let mail = Mail::parse(&raw, p.limits.max_forward_depth)?;
        let ctx = Context {
            received: received.with_timezone(&chrono_tz::Europe::Copenhagen),
            settings: &p.settings,
            limits: &p.limits,
            history: &history,
        };
        let judgement = judge_mail(&mail, &ctx);
        Some((mail, judgement))
    });
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => {
            error!(error = %e, "the pipeline panicked on a mail");
            Err(format!("processing failed: {e}"))
        }
        Err(_) => Err(format!("processing took longer than {} s", limit.as_secs())),
    }
}

/// Stores a mail that cannot be processed as a `review` order for a person, in one
/// transaction, without parsing it again.
async fn quarantine(
    store: &Store,
    pipeline: &Pipeline,
    raw: &[u8],
    origin: &Origin,
    why: &str,
) -> anyhow::Result<()> {
    warn!(why, "mail quarantined for a person");
    let mail = mail_parser::MessageParser::new()
        .parse_headers(raw)
        .map(|m| Mail {
            message_id: m.message_id().map(str::to_string),
            from: m
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_string),
            subject: m.subject().unwrap_or("").to_string(),
            headers: m
                .headers_raw()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..Mail::default()
        })
        .unwrap_or_default();
    let judgement = Judgement::quarantined(&mail, why);
    let mut tx = store.begin().await?;
    let outcome = store_mail(
        &mut tx,
        &Intake {
            raw,
            mail: &mail,
            judgement: &judgement,
            origin,
            helpdesk: &pipeline.helpdesk,
            register: pipeline.settings.register.as_ref(),
            templates: &pipeline.templates,
            now: Utc::now(),
        },
    )
    .await?;
    sqlx::query(
        "UPDATE inbound_mail SET disposition = 'quarantined', note = ?1 WHERE message_key = ?2",
    )
    .bind(why)
    .bind(message_key(mail.message_id.as_deref(), raw))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    debug!(?outcome, "quarantined");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_doubles_while_failing_and_is_capped() {
        let mut d = reconnect_delay(None, None);
        assert_eq!(d, FIRST_BACKOFF);
        d = reconnect_delay(Some(d), None);
        assert_eq!(d, FIRST_BACKOFF * 2);
        // Logged in, but dropped at once: still a failing series.
        d = reconnect_delay(Some(d), Some(Duration::from_secs(1)));
        assert_eq!(d, FIRST_BACKOFF * 4);
        for _ in 0..20 {
            d = reconnect_delay(Some(d), None);
        }
        assert_eq!(d, MAX_BACKOFF);
        assert_eq!(reconnect_delay(Some(Duration::MAX), None), MAX_BACKOFF);
        assert_eq!(reconnect_delay(Some(Duration::ZERO), None), FIRST_BACKOFF);
    }

    #[test]
    fn reconnect_delay_starts_over_after_a_session_that_stayed_up() {
        assert_eq!(
            reconnect_delay(Some(MAX_BACKOFF), Some(STABLE_SESSION)),
            FIRST_BACKOFF
        );
        assert_eq!(
            reconnect_delay(Some(MAX_BACKOFF), Some(Duration::from_secs(3600))),
            FIRST_BACKOFF
        );
        assert_eq!(
            reconnect_delay(
                Some(MAX_BACKOFF),
                Some(STABLE_SESSION - Duration::from_millis(1))
            ),
            MAX_BACKOFF
        );
    }
}
