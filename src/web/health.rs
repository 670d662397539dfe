//! `/healthz`: 200 `ok` when the daemon can do its work, else 503 with every reason in plain
//! text. The reasons are computed by [`problems`] from what the daemon and the database know.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::{WebState, text};
use crate::daemon::health::ImapView;
use crate::store::metrics::DbCounts;

/// The outbox counts as stuck when its oldest unsent mail is older than this while SMTP fails.
pub const OUTBOX_STUCK_AFTER: Duration = Duration::from_secs(600);
/// How long `/healthz` waits for the database before calling it unreachable.
const DB_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn healthz(State(state): State<WebState>) -> Response {
    // A locked or vanished database must not hang the probe until the pool gives up.
    let db = tokio::time::timeout(DB_TIMEOUT, crate::store::metrics::counts(&state.store))
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "no answer within {}s",
                DB_TIMEOUT.as_secs()
            ))
        });
    let found = problems(
        state.health.imap(),
        state.web.health_imap_grace,
        state.health.smtp_failing(),
        db.as_ref().map_err(|e| format!("{e:#}")),
        Utc::now(),
    );
    if found.is_empty() {
        text(StatusCode::OK, "ok\n".into(), "text/plain; charset=utf-8")
    } else {
        let body = found.join("\n") + "\n";
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            body,
            "text/plain; charset=utf-8",
        )
    }
}

/// Every reason the daemon is unhealthy, one line each; empty when it is healthy.
pub fn problems(
    imap: ImapView,
    imap_grace: Duration,
    smtp_failing: bool,
    db: Result<&DbCounts, String>,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut out = Vec::new();
    if !imap.connected && imap.for_ > imap_grace {
        out.push(format!(
            "IMAP not connected for {}s (more than {}s)",
            imap.for_.as_secs(),
            imap_grace.as_secs()
        ));
    }
    match db {
        Err(e) => out.push(format!("database unreachable: {e}")),
        Ok(c) => {
            let age = c
                .oldest_unsent
                .and_then(|t| (now - t).to_std().ok())
                .unwrap_or_default();
            if smtp_failing && age > OUTBOX_STUCK_AFTER {
                out.push(format!(
                    "outbox stuck: {} mails unsent, the oldest queued {} minutes ago, and SMTP fails",
                    c.outbox_length,
                    age.as_secs() / 60
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imap(connected: bool, secs: u64) -> ImapView {
        ImapView {
            connected,
            for_: Duration::from_secs(secs),
            last_poll: None,
        }
    }

    const GRACE: Duration = Duration::from_secs(300);

    #[test]
    fn healthy_when_connected_and_the_outbox_moves() {
        let c = DbCounts::default();
        assert!(problems(imap(true, 9999), GRACE, false, Ok(&c), Utc::now()).is_empty());
        // A short IMAP outage is not reported yet.
        assert!(problems(imap(false, 299), GRACE, false, Ok(&c), Utc::now()).is_empty());
    }

    #[test]
    fn imap_down_beyond_the_grace_is_reported() {
        let c = DbCounts::default();
        let p = problems(imap(false, 301), GRACE, false, Ok(&c), Utc::now());
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("IMAP not connected for 301s"), "{p:?}");
    }

    #[test]
    fn outbox_is_stuck_only_when_old_mail_waits_and_smtp_fails() {
        let now = Utc::now();
        let c = DbCounts {
            outbox_length: 3,
            oldest_unsent: Some(now - chrono::Duration::minutes(11)),
            ..DbCounts::default()
        };
        assert!(problems(imap(true, 1), GRACE, false, Ok(&c), now).is_empty());
        let p = problems(imap(true, 1), GRACE, true, Ok(&c), now);
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("outbox stuck: 3 mails unsent"), "{p:?}");
        let young = DbCounts {
            oldest_unsent: Some(now - chrono::Duration::minutes(9)),
            ..c
        };
        assert!(problems(imap(true, 1), GRACE, true, Ok(&young), now).is_empty());
    }

    #[test]
    fn an_unreachable_database_is_reported() {
        let p = problems(
            imap(true, 1),
            GRACE,
            false,
            Err("locked".into()),
            Utc::now(),
        );
        assert_eq!(p, vec!["database unreachable: locked".to_string()]);
    }
}
