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
use crate::daemon::net::{BoxStream, TlsMode, resolve, with_tls_hint, wrap_tls, xoauth2};
use crate::daemon::process::{self, HelpdeskSettings, Origin, Outcome, message_key, store_mail};
use crate::forms::extract::ExtractLimits;
use crate::judge::{Context, Judgement, judge_mail};
use crate::mail::{HeaderLimits, Mail, header_over_limits};
use crate::orders::receipts::Templates;
use crate::rules::{History, RuleSettings};
use crate::store::claims::{self, MailClaim};
use crate::store::inbound::Place;
use crate::store::{self, Store, unavailable};

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
    /// A mail over these is not parsed; it goes to a person like an over-size mail.
    pub header_limits: HeaderLimits,
    pub max_attempts: i64,
    pub helpdesk: HelpdeskSettings,
    pub templates: Arc<Templates>,
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

/// TLS to the IMAP server; an unverifiable certificate says what to fix.
async fn tls<S>(stream: S, s: &ImapSettings) -> anyhow::Result<tokio_rustls::client::TlsStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    wrap_tls(stream, &s.host, s.ca_file.as_deref())
        .await
        .map_err(|e| with_tls_hint(e, "imap", s.ca_file.as_deref()))
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
        TlsMode::Tls => Box::new(tls(tcp, s).await?),
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
            Box::new(tls(tcp, s).await?)
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
                    .map_err(|(e, _)| auth_refused(s, "LOGIN", secret, e))
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
                    .map_err(|(e, _)| auth_refused(s, "XOAUTH2", secret, e))
            })
            .await?
        }
    };
    Ok(session)
}

/// A refused login, saying which setting to fix (never the secret itself).
fn auth_refused(
    s: &ImapSettings,
    mechanism: &str,
    secret: &Secret,
    e: async_imap::error::Error,
) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: {e}",
        auth_refused_message(&s.username, mechanism, secret.key())
    )
}

fn auth_refused_message(username: &str, mechanism: &str, key: &str) -> String {
    let fix = if mechanism == "XOAUTH2" {
        format!("check the access token that [imap] {key} gives (expired? issued for {username}?)")
    } else {
        format!("check [imap] username and {key}")
    };
    format!("IMAP authentication failed: the server refused {mechanism} as {username}; {fix}")
}

/// The longest wait before trying again while the database is unavailable (a server
/// restarting, a failover, a lock held too long).
const DATABASE_RETRY: Duration = Duration::from_secs(5);

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

/// The intake task inside `spdesk run`: how to reach the mailbox, the pipeline that judges a
/// mail, the database, the outbox's wakeup (rung after every stored mail) and the stop signal.
pub struct Intake {
    imap: ImapSettings,
    pipeline: Arc<Pipeline>,
    store: Store,
    outbox_wakeup: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    /// Told when the connection comes and goes and when the mailbox was read (`/healthz`).
    health: Arc<super::health::Health>,
    /// Whether the last drain left a mail to another instance that claimed it: the mailbox is
    /// then looked at again once that claim could have run out, news or not.
    left_to_others: std::sync::atomic::AtomicBool,
}

/// What a mail in the inbox comes to: where it is moved once its batch is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    Processed,
    Quarantine,
    /// Claimed by another instance: it stays in the inbox for that instance to finish.
    LeftToOthers,
}

impl Intake {
    pub fn new(
        imap: ImapSettings,
        pipeline: Arc<Pipeline>,
        store: Store,
        outbox_wakeup: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> Intake {
        Intake {
            imap,
            pipeline,
            store,
            outbox_wakeup,
            shutdown,
            health: Arc::default(),
            left_to_others: Default::default(),
        }
    }

    /// Reports the connection's state to `health` (the daemon's, read by the web server).
    pub fn with_health(mut self, health: Arc<super::health::Health>) -> Intake {
        self.health = health;
        self
    }

    fn folder(&self, d: Destination) -> &str {
        match d {
            Destination::Processed | Destination::LeftToOthers => &self.imap.processed_folder,
            Destination::Quarantine => &self.imap.quarantine_folder,
        }
    }

    /// How long to wait for news before looking again: the poll interval (or IDLE's renewal),
    /// but no longer than a claim lasts when a mail was left to another instance, so a mail
    /// whose instance died is taken over once its lease has run out.
    fn next_look(&self, wait: Duration) -> Duration {
        if self
            .left_to_others
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            wait.min(self.store.claimant.lease + Duration::from_millis(100))
        } else {
            wait
        }
    }

    /// Runs until the stop signal, reconnecting after errors with backoff.
    pub async fn run(mut self) {
        let mut delay: Option<Duration> = None;
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            let mut logged_in_at = None;
            let wait = match self.session_loop(&mut logged_in_at).await {
                Ok(()) => return,
                Err(e) => {
                    self.health.imap_disconnected();
                    let mut wait = reconnect_delay(delay, logged_in_at.map(|t| t.elapsed()));
                    if unavailable(&e) {
                        // The mail server is fine: look again soon, so the mails waiting in
                        // the inbox are taken within seconds once the database is back.
                        wait = wait.min(DATABASE_RETRY);
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
                _ = self.shutdown.changed() => return,
            }
        }
    }

    /// One IMAP session: drains the mailbox, then waits for news (IDLE, or the poll interval),
    /// until the stop signal or a connection error.
    async fn session_loop(
        &mut self,
        logged_in_at: &mut Option<std::time::Instant>,
    ) -> anyhow::Result<()> {
        let mut session = connect(&self.imap).await?;
        *logged_in_at = Some(std::time::Instant::now());
        self.health.imap_connected();
        info!(
            host = self.imap.host,
            port = self.imap.port,
            user = self.imap.username,
            "IMAP connected"
        );
        for folder in [&self.imap.processed_folder, &self.imap.quarantine_folder] {
            // CREATE fails when the folder exists; that is fine.
            if let Ok(Err(e)) = tokio::time::timeout(COMMAND_TIMEOUT, session.create(folder)).await
            {
                debug!(folder, error = %e, "create folder");
            }
        }
        let caps = timed("CAPABILITY", session.capabilities()).await?;
        let has_move = caps.has_str("MOVE");
        let idle = self.imap.idle && caps.has_str("IDLE");
        let mut last_uidvalidity: Option<u32> = None;
        let mut quick_rounds = 0usize;
        loop {
            let mbox = timed("SELECT", session.select(&self.imap.mailbox)).await?;
            if last_uidvalidity.is_some() && mbox.uid_validity != last_uidvalidity {
                warn!(old = ?last_uidvalidity, new = ?mbox.uid_validity, "UIDVALIDITY changed; resynchronising the whole mailbox");
            }
            last_uidvalidity = mbox.uid_validity;
            self.drain(&mut session, mbox.uid_validity, has_move)
                .await?;
            self.health.imap_polled();
            if *self.shutdown.borrow() {
                let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                return Ok(());
            }
            if !idle {
                // The SELECT at the top of the loop looks for new mail.
                tokio::select! {
                    _ = tokio::time::sleep(self.next_look(self.imap.poll_interval)) => {}
                    _ = self.shutdown.changed() => {}
                }
                continue;
            }
            if news_while_draining(&mut session) && quick_rounds < MAX_QUICK_ROUNDS {
                quick_rounds += 1;
                continue;
            }
            quick_rounds = 0;
            session = self.idle(session).await?;
        }
    }

    /// IDLEs until the server reports news, the renewal time, or the stop signal; returns the
    /// session for the next drain.
    async fn idle(&mut self, session: ImapSession) -> anyhow::Result<ImapSession> {
        let mut handle = session.idle();
        timed("IDLE", handle.init()).await?;
        let renew =
            self.next_look(IDLE_RENEW.min(self.imap.poll_interval.max(Duration::from_secs(1))));
        let outcome = {
            let (wait, stop) = handle.wait_with_timeout(IDLE_SILENCE);
            tokio::select! {
                r = tokio::time::timeout(renew, wait) => Some(r),
                _ = self.shutdown.changed() => { drop(stop); None }
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
        timed("DONE", handle.done()).await
    }

    /// Processes every message in the mailbox, oldest first, in batches. Every message is
    /// committed before any of its batch is moved, so a crash at any point leaves the
    /// uncommitted ones in the inbox and the committed ones recognisable as already stored.
    async fn drain(
        &mut self,
        session: &mut ImapSession,
        uidvalidity: Option<u32>,
        has_move: bool,
    ) -> anyhow::Result<()> {
        let mut uids: Vec<u32> = timed("UID SEARCH", session.uid_search("ALL"))
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        self.left_to_others
            .store(false, std::sync::atomic::Ordering::Relaxed);
        for chunk in uids.chunks(BATCH) {
            if *self.shutdown.borrow() {
                return Ok(());
            }
            let moves = self.process_batch(session, chunk, uidvalidity).await?;
            for d in [Destination::Processed, Destination::Quarantine] {
                let set: Vec<u32> = moves
                    .iter()
                    .filter(|(_, to)| *to == d)
                    .map(|(u, _)| *u)
                    .collect();
                if !set.is_empty() {
                    move_messages(session, &uid_set(&set), self.folder(d), has_move).await?;
                }
            }
        }
        Ok(())
    }

    /// Fetches and processes one batch of messages; returns where each is to be moved.
    async fn process_batch(
        &mut self,
        session: &mut ImapSession,
        chunk: &[u32],
        uidvalidity: Option<u32>,
    ) -> anyhow::Result<Vec<(u32, Destination)>> {
        let max_bytes = self.pipeline.max_message_bytes;
        let metas = fetch_metas(session, chunk).await?;
        let history = Arc::new(Executed(
            store::inbound::executed_bestillings_ids(&self.store).await?,
        ));
        let mut moves = Vec::with_capacity(chunk.len());
        let mut mine: Vec<String> = Vec::new();
        for group in body_groups(chunk, &metas, max_bytes) {
            if *self.shutdown.borrow() {
                break;
            }
            let mut bodies = fetch_bodies(session, &group, "BODY.PEEK[]").await?;
            for &uid in &group {
                let meta = metas.get(&uid).copied().unwrap_or_default();
                let too_large = meta.size.is_some_and(|s| u64::from(s) > max_bytes);
                let raw = if too_large {
                    fetch_bodies(session, &[uid], "BODY.PEEK[HEADER]")
                        .await?
                        .remove(&uid)
                } else {
                    bodies.remove(&uid)
                };
                // None: gone meanwhile (another client moved it).
                let Some(raw) = raw else { continue };
                let origin = Origin {
                    mailbox: self.imap.mailbox.clone(),
                    uidvalidity,
                    uid: Some(uid),
                    internal_date: meta.internal_date.unwrap_or_else(Utc::now),
                };
                let key = message_key(quick_message_id(&raw).as_deref(), &raw);
                let to = self
                    .process_message(&history, raw, key.clone(), origin, meta.size)
                    .await?;
                self.outbox_wakeup.notify_one();
                if to != Destination::LeftToOthers {
                    mine.push(key);
                }
                // The batch is moved at its end: its mails stay ours until then.
                claims::renew_mails(&self.store, &mine, &self.store.claimant).await?;
                moves.push((uid, to));
            }
        }
        Ok(moves)
    }

    /// Claims a mail for this instance: its attempts so far, or where the mail goes when it is
    /// not ours to judge (stored before: moved out; another instance's: left in the inbox).
    async fn claim(&self, key: &str, origin: &Origin) -> anyhow::Result<Result<i64, Destination>> {
        let uid = origin.uid.unwrap_or(0);
        let me = &self.store.claimant;
        Ok(
            match claims::claim_mail(&self.store, key, &place(origin), me).await? {
                MailClaim::Mine { attempts } => Ok(attempts),
                MailClaim::Stored => {
                    debug!(uid, key, "already stored; moving it out of the inbox");
                    Err(Destination::Processed)
                }
                MailClaim::HeldElsewhere { holder } => {
                    debug!(uid, key, holder, "claimed by another instance; left to it");
                    self.left_to_others
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    Err(Destination::LeftToOthers)
                }
            },
        )
    }

    /// Stores and processes one fetched message. Returns where to move it.
    ///
    /// Only the mail's own faults count towards quarantine: a reader that panics or times out,
    /// or a process that dies on it. When the database fails instead (busy, disk full, I/O),
    /// the attempt is taken back and the error returned: intake backs off and tries again.
    async fn process_message(
        &self,
        history: &Arc<Executed>,
        raw: Vec<u8>,
        key: String,
        origin: Origin,
        size: Option<u32>,
    ) -> anyhow::Result<Destination> {
        let uid = origin.uid.unwrap_or(0);
        let attempts = match self.claim(&key, &origin).await? {
            Ok(attempts) => attempts,
            Err(to) => return Ok(to),
        };
        if let Some(why) = self.refused_unread(&raw, size, attempts) {
            self.quarantine(&raw, &key, &origin, &why).await?;
            return Ok(Destination::Quarantine);
        }
        let judged = judge_blocking(
            &self.pipeline,
            history.clone(),
            raw.clone(),
            origin.internal_date,
        )
        .await;
        failpoint("before_commit");
        let (mail, judgement) = match judged {
            Ok(Some(x)) => x,
            Ok(None) => {
                // Not a mail at all: a person looks at it.
                let why = "the message could not be parsed as a mail";
                self.quarantine(&raw, &key, &origin, why).await?;
                return Ok(Destination::Quarantine);
            }
            Err(why) => {
                store::inbound::record_error(&self.store, &key, &why).await?;
                self.quarantine(&raw, &key, &origin, &why).await?;
                return Ok(Destination::Quarantine);
            }
        };
        // A partial correction's version is judged like this mail's forms were.
        let received = origin
            .internal_date
            .with_timezone(&chrono_tz::Europe::Copenhagen);
        let rejudge = |form: crate::forms::form::OrderForm, evidence: &[Mail]| {
            let ctx = Context {
                received,
                settings: &self.pipeline.settings,
                limits: &self.pipeline.limits,
                history: history.as_ref(),
            };
            let certificates = crate::judge::evidence_certificates(evidence);
            crate::judge::judge_one(form, &mail, &certificates, &[], &ctx)
        };
        let intake = process::Intake {
            raw: &raw,
            key: &key,
            mail: &mail,
            judgement: &judgement,
            origin: &origin,
            helpdesk: &self.pipeline.helpdesk,
            register: self.pipeline.settings.register.as_deref(),
            templates: &self.pipeline.templates,
            now: Utc::now(),
            rejudge: Some(&rejudge),
        };
        let outcome = match self.store_in_one_transaction(&intake).await {
            Ok(outcome) => outcome,
            Err(e) if unavailable(&e) => {
                // The mail was read and judged fine; the database failed. Not the mail's fault.
                undo_attempt(&self.store, &key, &self.shutdown).await;
                return Err(e.context(format!("storing the mail with UID {uid}")));
            }
            Err(e) => return Err(e),
        };
        failpoint("after_commit");
        log_stored(uid, &mail, &outcome);
        Ok(Destination::Processed)
    }

    /// Why a mail goes to a person without being read: over the size or header limits (checked
    /// on the raw bytes, so such a header is never handed to the parser), or failed too often.
    fn refused_unread(&self, raw: &[u8], size: Option<u32>, attempts: i64) -> Option<String> {
        let max = self.pipeline.max_message_bytes;
        if let Some(size) = size.filter(|s| u64::from(*s) > max) {
            return Some(format!(
                "the mail is {size} bytes, more than the limit of {max} bytes"
            ));
        }
        if let Some(why) = header_over_limits(raw, &self.pipeline.header_limits) {
            return Some(why);
        }
        (attempts > self.pipeline.max_attempts)
            .then(|| format!("processing failed {} times", attempts - 1))
    }

    async fn store_in_one_transaction(
        &self,
        intake: &process::Intake<'_>,
    ) -> anyhow::Result<Outcome> {
        let mut tx = self.store.begin().await?;
        let outcome = store_mail(&mut tx, intake).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Stores a mail that cannot be processed as a `review` order for a person, in one
    /// transaction, without parsing it again.
    async fn quarantine(
        &self,
        raw: &[u8],
        key: &str,
        origin: &Origin,
        why: &str,
    ) -> anyhow::Result<()> {
        warn!(why, "mail quarantined for a person");
        let mail = Mail::headers_only(raw);
        let judgement = Judgement::quarantined(&mail, why, &self.pipeline.settings.spam_headers);
        let mut tx = self.store.begin().await?;
        let intake = process::Intake {
            raw,
            key,
            mail: &mail,
            judgement: &judgement,
            origin,
            helpdesk: &self.pipeline.helpdesk,
            register: self.pipeline.settings.register.as_deref(),
            templates: &self.pipeline.templates,
            now: Utc::now(),
            rejudge: None,
        };
        let outcome = store_mail(&mut tx, &intake).await?;
        store::inbound::mark_quarantined(&mut tx, key, why).await?;
        tx.commit().await?;
        match outcome {
            Outcome::Orders(judged) => {
                let refs: Vec<&str> = judged.iter().map(|j| j.reference.as_str()).collect();
                info!(orders = ?refs, "quarantined mail stored as an order for review")
            }
            other => debug!(?other, "quarantined"),
        }
        Ok(())
    }
}

/// Where a mail sits in the mailbox, as the store recognises a stored one.
fn place(o: &Origin) -> Place<'_> {
    Place {
        mailbox: &o.mailbox,
        uidvalidity: o.uidvalidity,
        uid: o.uid,
    }
}

/// Logs what storing a mail came to, with the order reference and the Message-ID as fields
/// (`journalctl -u spdesk | grep SP-2026-00042` finds every line of an order). String fields
/// are written quoted and escaped, so a hostile Message-ID cannot forge a log line.
fn log_stored(uid: u32, mail: &Mail, outcome: &Outcome) {
    let message_id = mail.message_id.as_deref().unwrap_or("");
    match outcome {
        Outcome::Orders(judged) => {
            for j in judged {
                if j.unreadable {
                    info!(
                        reference = j.reference,
                        message_id,
                        sender = mail.from.as_deref().unwrap_or(""),
                        "mail without a readable form; order sent to review"
                    );
                } else {
                    info!(
                        reference = j.reference,
                        message_id,
                        version = j.version,
                        decision = j.decision.as_str(),
                        findings = j.findings,
                        "order judged"
                    );
                }
            }
            let refs: Vec<&str> = judged.iter().map(|j| j.reference.as_str()).collect();
            let from = mail.from.as_deref().unwrap_or("");
            info!(uid, message_id, from, orders = ?refs, "mail stored")
        }
        Outcome::Correspondence(r) => info!(uid, message_id, order = r, "correspondence stored"),
        Outcome::Ignored(why) => info!(uid, message_id, why, "mail stored; not answered"),
        Outcome::Duplicate => debug!(uid, message_id, "duplicate"),
    }
}

/// Drain rounds in a row started by [`news_while_draining`] before the loop IDLEs anyway, so a
/// server that reports EXISTS after every command cannot keep it from waiting.
const MAX_QUICK_ROUNDS: usize = 10;

/// True when the server said, in the responses to the drain's own commands, that mail arrived
/// (EXISTS or RECENT), or may have (async-imap's bounded channel for such responses was full,
/// so later ones were dropped). async-imap files such responses as unsolicited, and IDLE does
/// not repeat them: without this check a mail delivered while the drain ran would wait for the
/// next poll (a minute by default).
fn news_while_draining<T>(session: &mut async_imap::Session<T>) -> bool
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    // A full channel dropped what came after (async-imap does not wait): maybe news.
    let mut news = session.unsolicited_responses.is_full();
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        news |= matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    news
}

/// Messages looked at per round trip while draining a backlog: one FETCH of their sizes, a
/// few FETCHes of their bodies and one MOVE, instead of three commands per message.
const BATCH: usize = 50;
/// Bodies fetched in one command stay under this many bytes together, so a batch of large
/// mails cannot exhaust memory (a single mail up to `max_message_bytes` is fetched alone).
const BATCH_BYTES: u64 = 4_000_000;

/// Size and arrival time of one message, from a FETCH before its body is read.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    size: Option<u32>,
    internal_date: Option<DateTime<Utc>>,
}

/// Splits a batch into groups whose bodies are fetched with one command: consecutive messages
/// whose sizes add up to at most [`BATCH_BYTES`]. A message over `max_bytes` (only its header
/// is read) or of unknown size gets a group of its own.
fn body_groups(
    uids: &[u32],
    metas: &std::collections::HashMap<u32, Meta>,
    max_bytes: u64,
) -> Vec<Vec<u32>> {
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut bytes = 0u64;
    for &uid in uids {
        let size = metas.get(&uid).and_then(|m| m.size).map(u64::from);
        let alone = size.is_none_or(|s| s > max_bytes);
        let size = size.unwrap_or(0);
        if alone || bytes.saturating_add(size) > BATCH_BYTES {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
            }
            bytes = 0;
        }
        if alone {
            groups.push(vec![uid]);
            continue;
        }
        current.push(uid);
        bytes = bytes.saturating_add(size);
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// An IMAP sequence set of UIDs, with runs collapsed: `1:3,7,9:10`.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let first = sorted[i];
        let mut last = first;
        while i + 1 < sorted.len() && sorted[i + 1] == last.saturating_add(1) {
            i += 1;
            last = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if first == last {
            out.push_str(&first.to_string());
        } else {
            out.push_str(&format!("{first}:{last}"));
        }
        i += 1;
    }
    out
}

async fn move_messages(
    session: &mut ImapSession,
    set: &str,
    folder: &str,
    has_move: bool,
) -> anyhow::Result<()> {
    if has_move {
        timed("UID MOVE", session.uid_mv(set, folder)).await?;
    } else {
        timed("UID COPY", session.uid_copy(set, folder)).await?;
        timed("UID STORE", async {
            let s = session.uid_store(set, "+FLAGS.SILENT (\\Deleted)").await?;
            s.collect::<Vec<_>>().await;
            Ok::<_, async_imap::error::Error>(())
        })
        .await?;
        timed("UID EXPUNGE", async {
            let s = session.uid_expunge(set).await?;
            s.collect::<Vec<_>>().await;
            Ok::<_, async_imap::error::Error>(())
        })
        .await?;
    }
    Ok(())
}

/// A crash on purpose at a named point, for the tests that prove a kill between the commit and
/// the move loses nothing and duplicates nothing: `SPDESK_FAILPOINT=after_commit` aborts the
/// process there, like SIGKILL would. `SPDESK_FAILPOINT=before_commit` aborts after a mail was
/// read and judged, before anything of it is stored: a mail that kills the process, which must
/// be quarantined after `max_attempts` instead of looping.
fn failpoint(name: &str) {
    if std::env::var("SPDESK_FAILPOINT").is_ok_and(|v| v == name) {
        error!(failpoint = name, "aborting on purpose (SPDESK_FAILPOINT)");
        std::process::abort();
    }
}

/// Sizes and arrival times of `uids`, in one command.
async fn fetch_metas(
    session: &mut ImapSession,
    uids: &[u32],
) -> anyhow::Result<std::collections::HashMap<u32, Meta>> {
    let set = uid_set(uids);
    timed("UID FETCH", async {
        let mut s = session
            .uid_fetch(&set, "(UID RFC822.SIZE INTERNALDATE)")
            .await?;
        let mut out = std::collections::HashMap::with_capacity(uids.len());
        while let Some(f) = s.next().await {
            let f = f?;
            if let Some(uid) = f.uid {
                let meta = Meta {
                    size: f.size,
                    internal_date: f.internal_date().map(|d| d.with_timezone(&Utc)),
                };
                out.insert(uid, meta);
            }
        }
        Ok::<_, async_imap::error::Error>(out)
    })
    .await
}

/// `what` (`BODY.PEEK[]` or `BODY.PEEK[HEADER]`) of `uids`, in one command; a message gone
/// meanwhile is simply missing from the result.
async fn fetch_bodies(
    session: &mut ImapSession,
    uids: &[u32],
    what: &str,
) -> anyhow::Result<std::collections::HashMap<u32, Vec<u8>>> {
    let set = uid_set(uids);
    let query = format!("(UID {what})");
    timed("UID FETCH", async {
        let mut s = session.uid_fetch(&set, &query).await?;
        let mut out = std::collections::HashMap::with_capacity(uids.len());
        while let Some(f) = s.next().await {
            let f = f?;
            if let Some(uid) = f.uid
                && let Some(body) = f.body().or_else(|| f.header())
            {
                out.insert(uid, body.to_vec());
            }
        }
        Ok::<_, async_imap::error::Error>(out)
    })
    .await
}

/// The Message-ID read cheaply from the header, before any parsing that might fail (and
/// before the header limits are checked: from the header's bounded start).
fn quick_message_id(raw: &[u8]) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(crate::mail::header_start(raw))?;
    parsed.message_id().map(|m| m.trim().to_string())
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
        match store::inbound::take_back_attempt(store, key).await {
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

/// Executed BestillingsIDs, read before judging (once per batch) so the judgement stays a
/// pure function.
struct Executed(std::collections::HashSet<String>);

impl History for Executed {
    fn executed(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

/// Parses and judges on a blocking thread under a time limit. `Ok(None)`: not a mail;
/// `Err`: the reader failed on it (panic, time limit), which is the mail's fault.
async fn judge_blocking(
    pipeline: &Arc<Pipeline>,
    history: Arc<Executed>,
    raw: Vec<u8>,
    received: DateTime<Utc>,
) -> Result<Option<(Mail, Judgement)>, String> {
    let p = pipeline.clone();
    let limit = p.limits.reader_timeout * crate::forms::extract::READER_TIMEOUTS_PER_MAIL
        + Duration::from_secs(5);
    let task = tokio::task::spawn_blocking(move || {
        let mail = Mail::parse(&raw, p.limits.max_forward_depth)?;
        // A reader's warnings name the mail they came from.
        // (Debug: control characters in a hostile Message-ID are escaped.)
        let _span = tracing::info_span!("mail", message_id = ?mail.message_id).entered();
        let ctx = Context {
            received: received.with_timezone(&chrono_tz::Europe::Copenhagen),
            settings: &p.settings,
            limits: &p.limits,
            history: history.as_ref(),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The Message-ID is looked for before the header limits are checked, so only in the
    /// header's bounded start: a header section of millions of fields is never parsed whole
    /// (24 MB of them cost 1.4 GB, every attempt). One past that start is not seen.
    #[test]
    fn the_quick_message_id_reads_only_the_start_of_the_header() {
        let filler = "a:b\n".repeat(100_000);
        let top = format!("Message-ID: <top@x>\r\n{filler}\r\nhi\r\n");
        assert_eq!(quick_message_id(top.as_bytes()).as_deref(), Some("top@x"));
        let late = format!("{filler}Message-ID: <late@x>\r\n\r\nhi\r\n");
        assert_eq!(quick_message_id(late.as_bytes()), None);
    }

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[7]), "7");
        assert_eq!(uid_set(&[3, 1, 2, 7, 9, 10, 10]), "1:3,7,9:10");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn body_groups_bound_bytes_and_isolate_large_or_unknown_mails() {
        let meta = |size| Meta {
            size,
            internal_date: None,
        };
        let metas: std::collections::HashMap<u32, Meta> = [
            (1, meta(Some(1_000))),
            (2, meta(Some(1_000))),
            (3, meta(Some(30_000_000))), // over the limit: header only, alone
            (4, meta(Some(1_000))),
            (5, meta(None)), // size unknown: alone
            (6, meta(Some(3_000_000))),
            (7, meta(Some(3_000_000))), // would pass BATCH_BYTES with 6: next group
        ]
        .into_iter()
        .collect();
        let groups = body_groups(&[1, 2, 3, 4, 5, 6, 7, 8], &metas, 25_000_000);
        assert_eq!(
            groups,
            vec![
                vec![1, 2],
                vec![3],
                vec![4],
                vec![5],
                vec![6],
                vec![7],
                vec![8]
            ]
        );
        assert!(body_groups(&[], &metas, 1).is_empty());
    }

    #[test]
    fn a_refused_login_names_imap_and_the_setting_to_fix() {
        let m = auth_refused_message("helpdesk@example.test", "XOAUTH2", "oauth_token_file");
        assert!(m.starts_with("IMAP authentication failed"), "{m}");
        assert!(m.contains("XOAUTH2 as helpdesk@example.test"), "{m}");
        assert!(m.contains("[imap] oauth_token_file"), "{m}");
        assert!(m.contains("expired"), "{m}");
        let m = auth_refused_message("u", "LOGIN", "password_file");
        assert!(m.contains("check [imap] username and password_file"), "{m}");
    }

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
