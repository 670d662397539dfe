//! `/metrics` in the Prometheus text format (version 0.0.4), written by hand: a few counters
//! and gauges need no library. Database counts come from [`crate::store::metrics::counts`],
//! the rest from the daemon's [`crate::daemon::health::Health`].

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::{WebState, text};
use crate::daemon::health::ImapView;
use crate::store::metrics::DbCounts;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn metrics(State(state): State<WebState>) -> Response {
    let db = match crate::store::metrics::counts(&state.store).await {
        Ok(c) => c,
        Err(e) => {
            let body = format!("database unreachable: {e:#}\n");
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                body,
                "text/plain; charset=utf-8",
            );
        }
    };
    let own = Own {
        imap: state.health.imap(),
        reader_failures: crate::sandbox::READER_FAILURES.load(Ordering::Relaxed),
        web_responses: state.health.web_responses(),
    };
    text(StatusCode::OK, render(&db, &own, Utc::now()), CONTENT_TYPE)
}

/// What the daemon itself counts.
pub struct Own {
    pub imap: ImapView,
    pub reader_failures: u64,
    pub web_responses: Vec<(u16, u64)>,
}

/// The whole `/metrics` body.
pub fn render(db: &DbCounts, own: &Own, now: DateTime<Utc>) -> String {
    let mut w = String::new();
    for (name, kind, help, value) in scalars(db, own, now) {
        let _ = write!(
            w,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }
    w.push_str("# HELP spdesk_orders Orders per state.\n# TYPE spdesk_orders gauge\n");
    for (state, n) in &db.orders {
        let _ = writeln!(w, "spdesk_orders{{state=\"{}\"}} {n}", label(state));
    }
    w.push_str("# HELP spdesk_web_requests_total Web responses per HTTP status since the daemon started.\n# TYPE spdesk_web_requests_total counter\n");
    for (status, n) in &own.web_responses {
        let _ = writeln!(w, "spdesk_web_requests_total{{status=\"{status}\"}} {n}");
    }
    w
}

/// The metrics without labels: name, type, help text and value.
fn scalars(
    db: &DbCounts,
    own: &Own,
    now: DateTime<Utc>,
) -> Vec<(&'static str, &'static str, &'static str, String)> {
    let oldest = db
        .oldest_unsent
        .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let last_poll = own
        .imap
        .last_poll
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    vec![
        (
            "spdesk_mails_taken_total",
            "counter",
            "Mails taken from the mailbox.",
            db.mails_taken.to_string(),
        ),
        (
            "spdesk_receipts_sent_total",
            "counter",
            "Mails the outbox has sent.",
            db.receipts_sent.to_string(),
        ),
        (
            "spdesk_receipts_deferred_total",
            "counter",
            "Mails that met a failed attempt (sent later, still queued, or failed).",
            db.receipts_deferred.to_string(),
        ),
        (
            "spdesk_receipts_failed_total",
            "counter",
            "Mails that ended failed, never sent.",
            db.receipts_failed.to_string(),
        ),
        (
            "spdesk_outbox_length",
            "gauge",
            "Unsent mails that will still be tried.",
            db.outbox_length.to_string(),
        ),
        (
            "spdesk_outbox_oldest_unsent_seconds",
            "gauge",
            "Age of the oldest unsent mail (0 when none).",
            oldest.to_string(),
        ),
        (
            "spdesk_imap_connected",
            "gauge",
            "1 when the intake is logged in to IMAP.",
            u8::from(own.imap.connected).to_string(),
        ),
        (
            "spdesk_imap_last_poll_timestamp_seconds",
            "gauge",
            "Unix time of the last complete read of the mailbox (0 when none).",
            last_poll.to_string(),
        ),
        (
            "spdesk_reader_failures_total",
            "counter",
            "Documents whose reader process failed since the daemon started.",
            own.reader_failures.to_string(),
        ),
    ]
}

/// A label value as the text format escapes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_every_metric_with_its_type() {
        let now = Utc::now();
        let db = DbCounts {
            mails_taken: 7,
            receipts_sent: 5,
            receipts_deferred: 1,
            receipts_failed: 2,
            orders: vec![("approved".into(), 3), ("re\"view".into(), 1)],
            outbox_length: 1,
            oldest_unsent: Some(now - chrono::Duration::seconds(90)),
        };
        let own = Own {
            imap: ImapView {
                connected: true,
                for_: Duration::from_secs(1),
                last_poll: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            },
            reader_failures: 4,
            web_responses: vec![(200, 9), (404, 1)],
        };
        let out = render(&db, &own, now);
        for line in [
            "spdesk_mails_taken_total 7",
            "spdesk_receipts_sent_total 5",
            "spdesk_receipts_deferred_total 1",
            "spdesk_receipts_failed_total 2",
            "spdesk_outbox_length 1",
            "spdesk_outbox_oldest_unsent_seconds 90",
            "spdesk_imap_connected 1",
            "spdesk_imap_last_poll_timestamp_seconds 1700000000",
            "spdesk_reader_failures_total 4",
            "spdesk_orders{state=\"approved\"} 3",
            "spdesk_orders{state=\"re\\\"view\"} 1",
            "spdesk_web_requests_total{status=\"404\"} 1",
            "# TYPE spdesk_orders gauge",
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
    }
}
