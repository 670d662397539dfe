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
use crate::net::{TlsMode, resolve, with_tls_hint};
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

/// Backoff after a failed attempt: 2 s, 4 s, ... at most 10 minutes.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let secs = 2i64.saturating_pow(attempts.clamp(1, 20) as u32).min(600);
    chrono::Duration::seconds(secs)
}

/// Sends everything that is due; returns how many were sent.
pub async fn send_due(store: &Store, smtp: &SmtpSettings) -> anyhow::Result<usize> {
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
        let to: Vec<String> = serde_json::from_str(&recipients)?;
        let result = async {
            let envelope = Envelope::new(
                Some(from.parse::<Address>()?),
                to.iter()
                    .map(|a| a.parse::<Address>())
                    .collect::<Result<Vec<_>, _>>()?,
            )?;
            mailer
                .send_raw(&envelope, &raw)
                .await
                .map_err(|e| smtp_error(e, smtp))?;
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
                sent += 1;
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
                    break;
                }
            }
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
    loop {
        if let Err(e) = send_due(&store, &smtp).await {
            warn!(error = format!("{e:#}"), "outbox round failed; retrying");
        }
        tokio::select! {
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => {
                // One last round so that receipts of the last message leave.
                let _ = tokio::time::timeout(Duration::from_secs(10), send_due(&store, &smtp)).await;
                return;
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
        assert_eq!(backoff(50).num_seconds(), 600);
        assert_eq!(backoff(-1).num_seconds(), 2);
    }
}
