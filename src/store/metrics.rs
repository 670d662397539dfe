//! The counts `/metrics` and `/healthz` read from the database, in one function so the web
//! server holds no SQL.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Store;

/// What the database knows for `/metrics`: totals since the database was created, and the
/// outbox as it stands. Every mail in the outbox counts as a receipt, as in the orders'
/// history ("receipt queued"), staff mails included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DbCounts {
    /// Mails taken from the mailbox (every stored inbound mail).
    pub mails_taken: i64,
    pub receipts_sent: i64,
    /// Mails with a failed attempt behind them: still queued, or sent or failed after more
    /// than one attempt (every attempt counts, the last one included).
    pub receipts_deferred: i64,
    pub receipts_failed: i64,
    /// Orders per state, sorted by state.
    pub orders: Vec<(String, i64)>,
    /// Unsent mails that will still be tried.
    pub outbox_length: i64,
    /// When the oldest of those was queued.
    pub oldest_unsent: Option<DateTime<Utc>>,
}

/// Reads [`DbCounts`]; an error means the database is unreachable (`/healthz` says so).
pub async fn counts(store: &Store) -> anyhow::Result<DbCounts> {
    let mut conn = store.pool.acquire().await?;
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM inbound_mail) AS taken,
                (SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL) AS sent,
                (SELECT COUNT(*) FROM outbox WHERE attempts >
                    CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN 0 ELSE 1 END)
                    AS deferred,
                (SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL) AS failed,
                (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL) AS queued,
                (SELECT MIN(created_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL)
                    AS oldest",
    )
    .fetch_one(&mut *conn)
    .await?;
    let states =
        sqlx::query("SELECT state, COUNT(*) AS n FROM orders GROUP BY state ORDER BY state")
            .fetch_all(&mut *conn)
            .await?;
    let orders = states
        .iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
        .collect::<anyhow::Result<Vec<(String, i64)>>>()?;
    Ok(DbCounts {
        mails_taken: row.try_get("taken")?,
        receipts_sent: row.try_get("sent")?,
        receipts_deferred: row.try_get("deferred")?,
        receipts_failed: row.try_get("failed")?,
        orders,
        outbox_length: row.try_get("queued")?,
        oldest_unsent: super::ts_column(&row, "oldest")?,
    })
}
