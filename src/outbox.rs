//! The outbox worker: sends queued mails over SMTP and marks them sent. A mail stays queued
//! until the server accepts it, retried with backoff while SMTP is down; the deterministic
//! Message-ID makes a resend after a crash recognisably the same mail.

use std::collections::HashSet;
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

/// The longest wait after a temporary failure (server down, 4xx): once the server is back, a
/// queue held by an outage leaves within a minute.
const MAX_TEMPORARY_BACKOFF: i64 = 60;
/// The longest wait after a permanent refusal (5xx), which concerns that mail only.
const MAX_PERMANENT_BACKOFF: i64 = 600;

/// Backoff after a failed attempt: 2 s, 4 s, ... at most a minute while the failure is
/// temporary, at most 10 minutes when the server refused the mail permanently.
pub fn backoff(attempts: i64, permanent: bool) -> chrono::Duration {
    let cap = if permanent {
        MAX_PERMANENT_BACKOFF
    } else {
        MAX_TEMPORARY_BACKOFF
    };
    let secs = 2i64.saturating_pow(attempts.clamp(1, 20) as u32).min(cap);
    chrono::Duration::seconds(secs)
}

/// The server accepted a mail again: every mail held back by a temporary failure is due now,
/// so the queue an outage left behind leaves at once instead of each mail waiting out its own
/// backoff. Returns how many were released.
async fn release_held(store: &Store) -> anyhow::Result<u64> {
    let now = ts(Utc::now());
    let r = sqlx::query(
        "UPDATE outbox SET next_attempt_at = ?1
         WHERE sent_at IS NULL AND next_attempt_at > ?1 AND last_error LIKE 'temporary%'",
    )
    .bind(&now)
    .execute(&store.pool)
    .await?;
    Ok(r.rows_affected())
}

/// Records a mail as sent.
async fn mark_sent(store: &Store, id: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE outbox SET sent_at = ?1, attempts = attempts + 1 WHERE id = ?2")
        .bind(ts(Utc::now()))
        .bind(id)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Sends everything that is due; returns how many were sent. `unrecorded` holds the outbox
/// ids of mails the server took but the database could not mark as sent (disk full, locked):
/// they are recorded first and never sent twice while the process lives.
pub async fn send_due(
    store: &Store,
    smtp: &SmtpSettings,
    unrecorded: &mut HashSet<i64>,
) -> anyhow::Result<usize> {
    for id in unrecorded.clone() {
        mark_sent(store, id).await?;
        unrecorded.remove(&id);
        info!(id, "a mail sent earlier is now recorded as sent");
    }
    let now = Utc::now();
    let rows = sqlx::query(
        "SELECT id, message_id, envelope_from, recipients, raw, attempts FROM outbox
         WHERE sent_at IS NULL AND next_attempt_at <= ?1 ORDER BY id LIMIT 100",
    )
    .bind(ts(now))
    .fetch_all(&store.pool)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mailer = transport(smtp).await?;
    let mut sent = 0;
    for row in rows {
        let id: i64 = row.try_get("id")?;
        let message_id: String = row.try_get("message_id")?;
        let from: String = row.try_get("envelope_from")?;
        let recipients: String = row.try_get("recipients")?;
        let raw: Vec<u8> = row.try_get("raw")?;
        let attempts: i64 = row.try_get("attempts")?;
        if unrecorded.contains(&id) {
            continue;
        }
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
                if let Err(e) = mark_sent(store, id).await {
                    unrecorded.insert(id);
                    warn!(
                        message_id,
                        error = format!("{e:#}"),
                        "mail sent, but the database could not record it; it is not sent again"
                    );
                    return Err(e);
                }
                info!(message_id, to = ?to, "mail sent");
                sent += 1;
            }
            Err(e) => {
                let permanent = format!("{e:#}").starts_with("permanent");
                let next = Utc::now() + backoff(attempts + 1, permanent);
                if permanent {
                    warn!(message_id, attempts = attempts + 1, error = format!("{e:#}"), retry_at = %next, "the SMTP server refused the mail; it stays queued and is retried");
                } else {
                    warn!(message_id, attempts = attempts + 1, error = format!("{e:#}"), retry_at = %next, "SMTP server unavailable; the mail stays queued and is retried");
                }
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
                if !permanent {
                    break;
                }
            }
        }
    }
    if sent > 0 {
        let released = release_held(store).await?;
        if released > 0 {
            info!(
                released,
                "the SMTP server accepts mail again; sending the held mails now"
            );
        }
    }
    Ok(sent)
}

/// Runs the outbox worker until `shutdown` turns true.
pub async fn run(
    store: Store,
    smtp: SmtpSettings,
    wakeup: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut unrecorded = HashSet::new();
    loop {
        if let Err(e) = send_due(&store, &smtp, &mut unrecorded).await {
            warn!(error = format!("{e:#}"), "outbox round failed; retrying");
        }
        tokio::select! {
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {
                // One last round so that receipts of the last message leave.
                let _ = tokio::time::timeout(Duration::from_secs(10), send_due(&store, &smtp, &mut unrecorded)).await;
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
        for permanent in [false, true] {
            assert_eq!(backoff(1, permanent).num_seconds(), 2);
            assert_eq!(backoff(3, permanent).num_seconds(), 8);
            assert_eq!(backoff(5, permanent).num_seconds(), 32);
            assert_eq!(backoff(-1, permanent).num_seconds(), 2);
            assert_eq!(backoff(0, permanent).num_seconds(), 2);
        }
        assert_eq!(backoff(6, true).num_seconds(), 64);
        assert_eq!(backoff(50, true).num_seconds(), 600);
        assert_eq!(backoff(i64::MAX, true).num_seconds(), 600);
    }

    #[test]
    fn a_temporary_failure_waits_at_most_a_minute() {
        assert_eq!(backoff(6, false).num_seconds(), 60);
        assert_eq!(backoff(50, false).num_seconds(), 60);
        assert_eq!(backoff(i64::MAX, false).num_seconds(), 60);
        // a whole outage of minutes: never more than a minute between tries
        assert!((1..100).all(|n| backoff(n, false).num_seconds() <= 60));
    }

    async fn scratch() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        (dir, store)
    }

    async fn queue(store: &Store, mid: &str, next: chrono::DateTime<Utc>, last_error: &str) {
        sqlx::query(
            "INSERT INTO outbox (kind, message_id, envelope_from, recipients, raw, created_at, next_attempt_at, last_error, attempts)
             VALUES ('modtaget', ?1, 'a@b.test', '[\"c@d.test\"]', x'00', ?2, ?3, ?4, 3)",
        )
        .bind(mid)
        .bind(ts(Utc::now()))
        .bind(ts(next))
        .bind(last_error)
        .execute(&store.pool)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn release_held_frees_only_mails_held_by_temporary_failures() {
        let (_dir, store) = scratch().await;
        let later = Utc::now() + chrono::Duration::seconds(50);
        queue(&store, "held", later, "temporary: connection refused").await;
        queue(&store, "refused", later, "permanent: 550 no such user").await;
        queue(&store, "due", Utc::now() - chrono::Duration::seconds(5), "").await;
        queue(&store, "sent", later, "temporary: connection refused").await;
        sqlx::query("UPDATE outbox SET sent_at = ?1 WHERE message_id = 'sent'")
            .bind(ts(Utc::now()))
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(release_held(&store).await.unwrap(), 1);
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT message_id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= ?1 ORDER BY id",
        )
        .bind(ts(Utc::now()))
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(due, vec!["held".to_string(), "due".to_string()]);
        assert_eq!(release_held(&store).await.unwrap(), 0);
    }
}
