//! The outbox worker: sends queued mails over SMTP and marks them sent. A mail stays queued
//! until the server accepts it, retried with backoff while SMTP is down; the deterministic
//! Message-ID makes a resend after a crash recognisably the same mail.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::Row;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Secret;
use crate::net::{TlsMode, resolve};
use crate::store::{Store, ts};

/// How to reach the SMTP server.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<std::path::PathBuf>,
    pub auth: SmtpAuth,
    pub username: String,
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
/// A transport (with its pooled connection, which saves a connect and EHLO per mail) is reused
/// for this long, then built again so that a rotated password or a refreshed token is read.
const TRANSPORT_MAX_AGE: Duration = Duration::from_secs(300);

/// The SMTP settings and the transport built from them, kept between rounds.
pub struct Sender {
    settings: SmtpSettings,
    cached: Option<(std::time::Instant, AsyncSmtpTransport<Tokio1Executor>)>,
}

impl Sender {
    pub fn new(settings: SmtpSettings) -> Sender {
        Sender {
            settings,
            cached: None,
        }
    }

    async fn transport(&mut self) -> anyhow::Result<&AsyncSmtpTransport<Tokio1Executor>> {
        let fresh = self
            .cached
            .as_ref()
            .is_some_and(|(built, _)| built.elapsed() < TRANSPORT_MAX_AGE);
        if !fresh {
            self.cached = Some((std::time::Instant::now(), transport(&self.settings).await?));
        }
        match &self.cached {
            Some((_, t)) => Ok(t),
            None => anyhow::bail!("no SMTP transport"),
        }
    }

    /// Forgets the transport after an error, so the next round connects (and logs in) anew.
    fn reset(&mut self) {
        self.cached = None;
    }
}

async fn transport(s: &SmtpSettings) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let tls_params = || -> anyhow::Result<TlsParameters> {
        let mut b = TlsParameters::builder(s.host.clone());
        if let Some(ca) = &s.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| anyhow::anyhow!("cannot read smtp.ca_file {}: {e}", ca.display()))?;
            b = b.add_root_certificate(Certificate::from_pem(&pem)?);
        }
        Ok(b.build_rustls()?)
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
        .port(s.port)
        .timeout(Some(SEND_TIMEOUT));
    b = match s.tls {
        TlsMode::None => b.tls(Tls::None),
        TlsMode::StartTls => b.tls(Tls::Required(tls_params()?)),
        TlsMode::Tls => b.tls(Tls::Wrapper(tls_params()?)),
    };
    b = match &s.auth {
        SmtpAuth::None => b,
        SmtpAuth::Password(secret) => b
            .credentials(Credentials::new(s.username.clone(), resolve(secret).await?))
            .authentication(vec![Mechanism::Plain, Mechanism::Login]),
        SmtpAuth::XOAuth2(secret) => b
            .credentials(Credentials::new(s.username.clone(), resolve(secret).await?))
            .authentication(vec![Mechanism::Xoauth2]),
    };
    Ok(b.build())
}

/// Backoff after a failed attempt: 2 s, 4 s, ... at most 10 minutes.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let secs = 2i64.saturating_pow(attempts.clamp(1, 20) as u32).min(600);
    chrono::Duration::seconds(secs)
}

/// Sends one round of what is due (at most [`ROUND`] mails); returns how many were taken
/// from the outbox, sent or not.
pub async fn send_due(store: &Store, sender: &mut Sender) -> anyhow::Result<usize> {
    let now = Utc::now();
    let rows = sqlx::query(
        "SELECT id, message_id, envelope_from, recipients, raw, attempts FROM outbox
         WHERE sent_at IS NULL AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
    )
    .bind(ts(now))
    .bind(ROUND as i64)
    .fetch_all(&store.pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let taken = rows.len();
    let mailer = match sender.transport().await {
        Ok(m) => m.clone(),
        Err(e) => {
            sender.reset();
            return Err(e);
        }
    };
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let message_id: String = row.try_get("message_id")?;
        let from: String = row.try_get("envelope_from")?;
        let recipients: String = row.try_get("recipients")?;
        let raw: Vec<u8> = row.try_get("raw")?;
        let attempts: i64 = row.try_get("attempts")?;
        let to: Vec<String> = serde_json::from_str(&recipients)?;
        let result = async {
            let envelope = Envelope::new(
                Some(from.parse::<Address>()?),
                to.iter()
                    .map(|a| a.parse::<Address>())
                    .collect::<Result<Vec<_>, _>>()?,
            )?;
            mailer.send_raw(&envelope, &raw).await.map_err(|e| {
                let permanent = e.is_permanent();
                anyhow::Error::from(e).context(if permanent { "permanent" } else { "temporary" })
            })?;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        match result {
            Ok(()) => {
                sqlx::query(
                    "UPDATE outbox SET sent_at = ?1, attempts = attempts + 1 WHERE id = ?2",
                )
                .bind(ts(Utc::now()))
                .bind(id)
                .execute(&store.pool)
                .await?;
                info!(message_id, to = ?to, "mail sent");
            }
            Err(e) => {
                let next = Utc::now() + backoff(attempts + 1);
                warn!(message_id, attempts = attempts + 1, error = format!("{e:#}"), retry_at = %next, "sending failed; will retry");
                sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?1, last_error = ?2 WHERE id = ?3",
                )
                .bind(ts(next))
                .bind(format!("{e:#}"))
                .bind(id)
                .execute(&store.pool)
                .await?;
                // A temporary error means the server is probably down: stop this round and keep
                // the queue's order. A permanent one concerns this mail only (e.g. a rejected
                // recipient): go on with the others.
                if !format!("{e:#}").starts_with("permanent") {
                    sender.reset();
                    return Ok(0);
                }
            }
        }
    }
    Ok(taken)
}

/// Runs the outbox worker until `shutdown` turns true.
pub async fn run(
    store: Store,
    smtp: SmtpSettings,
    wakeup: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sender = Sender::new(smtp);
    loop {
        match send_due(&store, &mut sender).await {
            // A full round: more may be due; go on at once (unless stopping).
            Ok(n) if n == ROUND && !*shutdown.borrow() => continue,
            Ok(_) => {}
            Err(e) => warn!(error = format!("{e:#}"), "outbox round failed; retrying"),
        }
        tokio::select! {
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {
                // One last round so that receipts of the last message leave.
                let _ = tokio::time::timeout(Duration::from_secs(10), send_due(&store, &mut sender)).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1).num_seconds(), 2);
        assert_eq!(backoff(3).num_seconds(), 8);
        assert_eq!(backoff(50).num_seconds(), 600);
        assert_eq!(backoff(-1).num_seconds(), 2);
    }
}
