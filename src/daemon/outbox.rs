//! The outbox worker: sends queued mails over SMTP and marks them sent. A mail stays queued
//! until the server accepts it, retried with backoff while SMTP is down; the deterministic
//! Message-ID makes a resend after a crash recognisably the same mail.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use sqlx::AnyConnection;
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::config::Secret;
use crate::daemon::net::{TlsMode, resolve, with_tls_hint, wrap_tls};
use crate::store::outbox::QueuedMail;
use crate::store::{self, Store};

/// How to reach the SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<std::path::PathBuf>,
    pub auth: SmtpAuth,
    pub username: String,
    /// A mail not taken within this long (`limits.outbox_max_age`) ends failed.
    pub max_age: Duration,
}

#[derive(Debug, Clone)]
pub enum SmtpAuth {
    None,
    Password(Secret),
    XOAuth2(Secret),
}

/// The outbox is checked at least this often, and at once when intake or the CLI queues mail.
const POLL: Duration = Duration::from_millis(1000);
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Mails taken from the outbox per round; a full round is followed by the next at once.
const ROUND: usize = 100;
/// One SMTP session is reused for this long (it saves a connect, EHLO and login per mail), then
/// opened anew so that a rotated password or a refreshed token is read.
const SESSION_MAX_AGE: Duration = Duration::from_secs(300);

/// The SMTP settings and one open session, kept between rounds.
pub struct Sender {
    settings: SmtpSettings,
    session: Option<(std::time::Instant, AsyncSmtpConnection)>,
    /// Outbox ids of mails the server took that the database could not yet mark as sent (disk
    /// full, locked): recorded first, and never sent twice while the process lives.
    unrecorded: HashSet<i64>,
    /// Whether mails may be waiting out a backoff after a temporary failure (at start: from a
    /// previous run), to be released once the server accepts mail again.
    held: bool,
}

impl Sender {
    pub fn new(settings: SmtpSettings) -> Sender {
        Sender {
            settings,
            session: None,
            unrecorded: HashSet::new(),
            held: true,
        }
    }

    /// The open session, or a new one when there is none, it broke, or it is older than
    /// [`SESSION_MAX_AGE`].
    async fn session(&mut self) -> anyhow::Result<&mut AsyncSmtpConnection> {
        let usable = self
            .session
            .as_ref()
            .is_some_and(|(opened, conn)| opened.elapsed() < SESSION_MAX_AGE && !conn.has_broken());
        if !usable {
            self.close().await;
            self.session = Some((std::time::Instant::now(), connect(&self.settings).await?));
        }
        match &mut self.session {
            Some((_, conn)) => Ok(conn),
            None => anyhow::bail!("no SMTP session"),
        }
    }

    /// Forgets a session that stopped answering, without waiting for it.
    fn discard(&mut self) {
        self.session = None;
    }

    /// Ends the session (politely when it still works), so the next round connects anew.
    async fn close(&mut self) {
        if let Some((_, mut conn)) = self.session.take()
            && !conn.has_broken()
        {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.quit()).await;
        }
    }
}

/// Opens one SMTP session: TCP with Nagle's algorithm off (else the server's delayed ACK holds
/// the end of every message for ~40 ms), TLS as configured (certificates always verified),
/// EHLO and the login.
async fn connect(s: &SmtpSettings) -> anyhow::Result<AsyncSmtpConnection> {
    let tcp = tokio::time::timeout(
        SEND_TIMEOUT,
        tokio::net::TcpStream::connect((s.host.as_str(), s.port)),
    )
    .await
    .map_err(|_| anyhow::anyhow!("SMTP connect to {}:{}: no answer", s.host, s.port))?
    .map_err(|e| anyhow::anyhow!("SMTP connect to {}:{}: {e}", s.host, s.port))?;
    tcp.set_nodelay(true)?;
    let hello = ClientId::default();
    let session = async {
        let mut conn = match s.tls {
            TlsMode::Tls => {
                let tls = wrap_tls(tcp, &s.host, s.ca_file.as_deref()).await?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsTcp(tls)), &hello).await?
            }
            TlsMode::None | TlsMode::StartTls => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello).await?
            }
        };
        if s.tls == TlsMode::StartTls {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(ca) = &s.ca_file {
                let pem = std::fs::read(ca).map_err(|e| {
                    anyhow::anyhow!("cannot read smtp.ca_file {}: {e}", ca.display())
                })?;
                b = b.add_root_certificate(Certificate::from_pem(&pem)?);
            }
            conn.starttls(b.build_rustls()?, &hello).await?;
        }
        let login = match &s.auth {
            SmtpAuth::None => None,
            SmtpAuth::Password(secret) => Some((vec![Mechanism::Plain, Mechanism::Login], secret)),
            SmtpAuth::XOAuth2(secret) => Some((vec![Mechanism::Xoauth2], secret)),
        };
        if let Some((mechanisms, secret)) = login {
            let credentials = Credentials::new(s.username.clone(), resolve(secret).await?);
            conn.auth(&mechanisms, &credentials).await?;
        }
        Ok::<_, anyhow::Error>(conn)
    };
    tokio::time::timeout(SEND_TIMEOUT, session)
        .await
        .map_err(|_| anyhow::anyhow!("SMTP {}:{}: no answer", s.host, s.port))?
}

/// An implicit-TLS stream as lettre wants it (it asks every stream for its peer address).
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl tokio::io::AsyncRead for TlsTcp {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsTcp {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// Marks a sending error "permanent" (this mail only: the others are still tried) or
/// "temporary" (the server or our login: the round stops), and says what to fix when the
/// server refused our login or its certificate.
fn smtp_error(e: lettre::transport::smtp::Error, s: &SmtpSettings) -> anyhow::Error {
    let code = e.status().map(|c| c.to_string());
    let text = format!("{e:#}");
    let auth = auth_refused(&s.auth, code.as_deref(), e.is_client(), &text);
    let permanent = e.is_permanent() && !auth;
    let mut err = anyhow::Error::from(e);
    if auth {
        err = err.context(auth_refused_message(s));
    } else {
        err = with_tls_hint(err, "smtp", s.ca_file.as_deref());
    }
    err.context(if permanent { "permanent" } else { "temporary" })
}

/// A failure to open the session (connect, TLS, EHLO, login) concerns every mail, so it is
/// temporary; it says what to fix when the server refused our login or its certificate.
fn session_error(e: anyhow::Error, s: &SmtpSettings) -> anyhow::Error {
    let auth = e
        .downcast_ref::<lettre::transport::smtp::Error>()
        .is_some_and(|le| {
            let code = le.status().map(|c| c.to_string());
            auth_refused(&s.auth, code.as_deref(), le.is_client(), &format!("{le:#}"))
        });
    let e = if auth {
        e.context(auth_refused_message(s))
    } else {
        with_tls_hint(e, "smtp", s.ca_file.as_deref())
    };
    e.context("temporary")
}

/// Did the server refuse our login? 530/534/535/538 (RFC 4954), or, with XOAUTH2, the error
/// challenge a server sends for a refused token (lettre answers it with a client error).
fn auth_refused(auth: &SmtpAuth, code: Option<&str>, is_client: bool, text: &str) -> bool {
    match auth {
        SmtpAuth::None => false,
        SmtpAuth::Password(_) => matches!(code, Some("530" | "534" | "535" | "538")),
        SmtpAuth::XOAuth2(_) => {
            matches!(code, Some("530" | "534" | "535" | "538"))
                || (is_client && text.contains("challenge"))
        }
    }
}

fn auth_refused_message(s: &SmtpSettings) -> String {
    match &s.auth {
        SmtpAuth::XOAuth2(secret) => format!(
            "SMTP authentication failed: the server refused XOAUTH2 as {}; check the access token \
             that [smtp] {} gives (expired? issued for {}?)",
            s.username,
            secret.key(),
            s.username
        ),
        SmtpAuth::Password(secret) => format!(
            "SMTP authentication failed: the server refused the login as {}; check [smtp] \
             username and {}",
            s.username,
            secret.key()
        ),
        SmtpAuth::None => "SMTP authentication failed".to_string(),
    }
}

/// The longest wait after a temporary failure (server down, 4xx): once the server is back, a
/// queue held by an outage leaves within a minute. (A permanent refusal is not retried.)
const MAX_TEMPORARY_BACKOFF: i64 = 60;

/// Backoff after a temporary failure: 2 s, 4 s, ... at most a minute.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let secs = 2i64
        .saturating_pow(attempts.clamp(1, 20) as u32)
        .min(MAX_TEMPORARY_BACKOFF);
    chrono::Duration::seconds(secs)
}

/// Marks the mails the server took as sent, in one statement. Called right after each mail is
/// accepted, so that a crash resends as little as possible (with the same Message-ID).
async fn record_sent(conn: &mut AnyConnection, sender: &mut Sender) -> anyhow::Result<()> {
    if sender.unrecorded.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = sender.unrecorded.iter().copied().collect();
    store::outbox::mark_sent(conn, &ids, Utc::now())
        .await
        .inspect_err(|e| {
            warn!(
                mails = ids.len(),
                error = format!("{e:#}"),
                "mails sent, but the database could not record it; they are not sent again"
            );
        })?;
    sender.unrecorded.clear();
    Ok(())
}

/// Sends one mail over the open session (opening one first when needed). The error says
/// "permanent" (this mail only) or "temporary" (the server or our login).
async fn send_one(sender: &mut Sender, mail: &QueuedMail) -> anyhow::Result<()> {
    let settings = sender.settings.clone();
    let envelope =
        envelope(&mail.envelope_from, &mail.recipients).map_err(|e| e.context("permanent"))?;
    let conn = sender
        .session()
        .await
        .map_err(|e| session_error(e, &settings))?;
    // when a mail went to the server, even if the process dies before its answer
    debug!(message_id = mail.message_id, "sending");
    match tokio::time::timeout(SEND_TIMEOUT, conn.send(&envelope, &mail.raw)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(smtp_error(e, &settings)),
        Err(_) => {
            sender.discard();
            Err(anyhow::anyhow!(
                "temporary: no answer within {} s",
                SEND_TIMEOUT.as_secs()
            ))
        }
    }
}

/// Whether a failed mail ends failed now instead of being tried again: at once when the
/// failure is permanent (a 5xx refusal, an address that does not parse: trying again cannot
/// help), and after temporary failures once it has waited `max_age` since it was queued.
pub fn gives_up(
    permanent: bool,
    queued_at: chrono::DateTime<Utc>,
    now: chrono::DateTime<Utc>,
    max_age: Duration,
) -> bool {
    let max_age = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    permanent || now.signed_duration_since(queued_at) >= max_age
}

/// Records a failed attempt: the mail ends failed ([`gives_up`]; its order's history says so)
/// or waits out its backoff. True when the failure was permanent (this mail only).
async fn record_failure(
    conn: &mut AnyConnection,
    mail: &QueuedMail,
    e: &anyhow::Error,
    max_age: Duration,
) -> anyhow::Result<bool> {
    let error = format!("{e:#}");
    let permanent = error.starts_with("permanent");
    let attempts = mail.attempts + 1;
    let message_id = &mail.message_id;
    let now = Utc::now();
    if gives_up(permanent, mail.created_at, now, max_age) {
        let why = if permanent {
            error.clone()
        } else {
            let age = humantime::format_duration(max_age);
            format!("not delivered within {age} (limits.outbox_max_age): {error}")
        };
        warn!(
            message_id,
            attempts,
            error = why,
            "the mail can never be sent; it ends failed and is not retried"
        );
        store::outbox::mark_given_up(conn, mail.id, now, &why).await?;
        return Ok(permanent);
    }
    let next = now + backoff(attempts);
    warn!(message_id, attempts, error, retry_at = %next, "SMTP server unavailable; the mail stays queued and is retried");
    store::outbox::mark_failed(conn, mail.id, next, &error).await?;
    Ok(permanent)
}

/// Sends one round of what is due (at most `ROUND` mails); returns how many were taken
/// from the outbox, sent or not.
pub async fn send_due(store: &Store, sender: &mut Sender) -> anyhow::Result<usize> {
    // One connection for the whole round rather than one from the pool per statement: the pool
    // pings a connection each time it comes back (`store::reusable`), a round trip to its
    // worker thread that would double the cost of recording each sent mail. No transaction is
    // held: every statement commits on its own, as before.
    let mut conn = store.pool.acquire().await?;
    let conn = &mut *conn;
    // Mails sent but not yet recorded (the database failed) are recorded before anything is
    // selected to send, so they cannot be sent twice.
    record_sent(conn, sender).await?;
    let mails = store::outbox::due(conn, Utc::now(), ROUND, &store.claimant).await?;
    if mails.is_empty() {
        return Ok(0);
    }
    let taken = mails.len();
    let mut sent = 0;
    for mail in &mails {
        // A long round can outlast the claims it took: another instance may have the rest.
        if !store::outbox::renew_claim(conn, mail.id, Utc::now(), &store.claimant).await? {
            debug!(
                message_id = mail.message_id,
                "claimed by another instance meanwhile; left to it"
            );
            continue;
        }
        match send_one(sender, mail).await {
            Ok(()) => {
                sender.unrecorded.insert(mail.id);
                record_sent(conn, sender).await?;
                info!(message_id = mail.message_id, to = ?mail.recipients, "mail sent");
                sent += 1;
            }
            Err(e) => {
                // A temporary error means the server is probably down: stop this round and keep
                // the queue's order. A permanent one concerns this mail only (e.g. a rejected
                // recipient): go on with the others.
                let max_age = sender.settings.max_age;
                if !record_failure(conn, mail, &e, max_age).await? {
                    sender.held = true;
                    sender.close().await;
                    record_sent(conn, sender).await?;
                    return Ok(0);
                }
            }
        }
    }
    record_sent(conn, sender).await?;
    if sent > 0 && sender.held {
        sender.held = false;
        let released = store::outbox::release_held(conn, Utc::now()).await?;
        if released > 0 {
            info!(
                released,
                "the SMTP server accepts mail again; sending the held mails now"
            );
        }
    }
    Ok(taken)
}

/// The SMTP envelope of a queued mail; an address that does not parse never will.
fn envelope(from: &str, to: &[String]) -> anyhow::Result<Envelope> {
    let to = to
        .iter()
        .map(|a| a.parse::<Address>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Envelope::new(Some(from.parse::<Address>()?), to)?)
}

/// The outbox worker inside `spdesk run`: its database, its SMTP sender, the wakeup the
/// intake, scheduler and executor ring when they queue mail, and the stop signal.
pub struct Outbox {
    store: Store,
    sender: Sender,
    wakeup: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    /// Told whether SMTP accepts mail after every round (`/healthz`).
    health: Arc<super::health::Health>,
}

impl Outbox {
    pub fn new(
        store: Store,
        smtp: SmtpSettings,
        wakeup: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> Outbox {
        Outbox {
            store,
            sender: Sender::new(smtp),
            wakeup,
            shutdown,
            health: Arc::default(),
        }
    }

    /// Reports each round's SMTP result to `health` (the daemon's, read by the web server).
    pub fn with_health(mut self, health: Arc<super::health::Health>) -> Outbox {
        self.health = health;
        self
    }

    /// Sends what is due, at once when woken and at least every `POLL`, until the stop
    /// signal; then one last round so that the receipts of the last message leave.
    pub async fn run(mut self) {
        loop {
            match send_due(&self.store, &mut self.sender).await {
                // A full round: more may be due; go on at once (unless stopping).
                Ok(n) if n == ROUND && !*self.shutdown.borrow() => continue,
                Ok(_) => {}
                Err(e) => warn!(error = format!("{e:#}"), "outbox round failed; retrying"),
            }
            self.health.set_smtp_failing(self.sender.held);
            tokio::select! {
                _ = self.wakeup.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = self.shutdown.changed() => {
                    let last = send_due(&self.store, &mut self.sender);
                    let _ = tokio::time::timeout(Duration::from_secs(10), last).await;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(auth: SmtpAuth) -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.test".into(),
            port: 587,
            tls: TlsMode::StartTls,
            ca_file: None,
            auth,
            username: "helpdesk@example.test".into(),
            max_age: Duration::from_secs(3 * 24 * 3600),
        }
    }

    #[test]
    fn refused_logins_are_recognised() {
        let token = SmtpAuth::XOAuth2(Secret::OAuthTokenFile("/t".into()));
        let password = SmtpAuth::Password(Secret::Password("p".into()));
        let challenge = "client error: This mechanism does not expect a challenge";
        assert!(auth_refused(&token, None, true, challenge));
        assert!(auth_refused(&token, Some("535"), false, "535 5.7.8 failed"));
        assert!(auth_refused(&password, Some("535"), false, ""));
        assert!(auth_refused(&password, Some("530"), false, ""));
        // Not a login problem: a refused recipient, a refused challenge without XOAUTH2.
        assert!(!auth_refused(&password, Some("550"), false, ""));
        assert!(!auth_refused(&password, None, true, challenge));
        assert!(!auth_refused(&SmtpAuth::None, Some("535"), false, ""));
    }

    #[test]
    fn a_refused_login_names_smtp_and_the_setting_never_the_secret() {
        let m = auth_refused_message(&settings(SmtpAuth::XOAuth2(Secret::OAuthTokenCommand(
            "printf tok-SECRET".into(),
        ))));
        assert!(m.starts_with("SMTP authentication failed"), "{m}");
        assert!(m.contains("[smtp] oauth_token_command"), "{m}");
        assert!(!m.contains("tok-SECRET"), "{m}");
        let m = auth_refused_message(&settings(SmtpAuth::Password(Secret::Password(
            "pw-SECRET".into(),
        ))));
        assert!(m.contains("check [smtp] username and password"), "{m}");
        assert!(!m.contains("pw-SECRET"), "{m}");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1).num_seconds(), 2);
        assert_eq!(backoff(3).num_seconds(), 8);
        assert_eq!(backoff(5).num_seconds(), 32);
        assert_eq!(backoff(-1).num_seconds(), 2);
        assert_eq!(backoff(0).num_seconds(), 2);
    }

    #[test]
    fn a_permanent_failure_ends_the_mail_at_once() {
        let now = Utc::now();
        let day = Duration::from_secs(24 * 3600);
        assert!(gives_up(true, now, now, 3 * day));
        // Even a mail queued in the future (a clock step back) ends.
        assert!(gives_up(
            true,
            now + chrono::Duration::hours(1),
            now,
            3 * day
        ));
    }

    #[test]
    fn temporary_failures_end_the_mail_only_after_the_maximum_age() {
        let now = Utc::now();
        let max = Duration::from_secs(3 * 24 * 3600);
        let queued = |ago: chrono::Duration| now - ago;
        assert!(!gives_up(false, queued(chrono::Duration::zero()), now, max));
        assert!(!gives_up(
            false,
            queued(chrono::Duration::hours(71)),
            now,
            max
        ));
        assert!(!gives_up(
            false,
            queued(chrono::Duration::hours(72) - chrono::Duration::seconds(1)),
            now,
            max
        ));
        assert!(gives_up(
            false,
            queued(chrono::Duration::hours(72)),
            now,
            max
        ));
        assert!(gives_up(
            false,
            queued(chrono::Duration::days(400)),
            now,
            max
        ));
        // A clock step back: not yet.
        assert!(!gives_up(false, now + chrono::Duration::hours(1), now, max));
        // A maximum age beyond what chrono holds never ends it.
        assert!(!gives_up(
            false,
            queued(chrono::Duration::days(400)),
            now,
            Duration::MAX
        ));
    }

    #[test]
    fn a_temporary_failure_waits_at_most_a_minute() {
        assert_eq!(backoff(6).num_seconds(), 60);
        assert_eq!(backoff(50).num_seconds(), 60);
        assert_eq!(backoff(i64::MAX).num_seconds(), 60);
        // a whole outage of minutes: never more than a minute between tries
        assert!((1..100).all(|n| backoff(n).num_seconds() <= 60));
    }
}
