//! What the web console's order page (`/orders/{ref}`) reads of one order besides its row,
//! versions and events: the mails that came in for it (numbered 1.. in the order they were
//! stored), the mails queued for it with their delivery state, and the certificate its latest
//! form names. Every query is by the order's id (and its reference), never over all orders, so
//! the page costs the same with 10 orders or 10,000.

use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Row};

use super::{VersionRow, parse_ts};
use crate::rules::cert::CertSummary;

/// The ids of the mails filed on order `$1`: the mails its versions came in and every mail its
/// history names (correspondence, a bounce of its receipt, a refused form about it). Both
/// subqueries use an index on `order_id`.
const ORDER_MAIL_IDS: &str = "SELECT inbound_id FROM order_versions WHERE order_id = $1
     UNION SELECT inbound_id FROM events WHERE order_id = $1 AND inbound_id IS NOT NULL";

/// One mail that came in for the order, without its bytes.
#[derive(Debug, Clone)]
pub struct InboundRow {
    /// The order's own number of the mail, 1.. in the order the mails were stored.
    pub n: i64,
    pub sender: Option<String>,
    pub subject: String,
    /// When the Helpdesk's server accepted it (IMAP INTERNALDATE, to the second).
    pub received_at: Option<DateTime<Utc>>,
    /// When spdesk stored it (to the millisecond: its place among the order's events).
    pub stored_at: Option<DateTime<Utc>>,
    /// `order` | `correspondence` | `ignored` | `quarantined`.
    pub disposition: String,
}

/// The mails filed on the order, oldest first, numbered 1.. .
pub async fn inbound_of(pool: &AnyPool, order_id: i64) -> anyhow::Result<Vec<InboundRow>> {
    let sql = format!(
        "SELECT sender, subject, internal_date, stored_at, disposition FROM inbound_mail
         WHERE id IN ({ORDER_MAIL_IDS}) ORDER BY id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .zip(1..)
        .map(|(r, n)| {
            let at: String = r.try_get("internal_date")?;
            let stored: String = r.try_get("stored_at")?;
            Ok(InboundRow {
                n,
                sender: r.try_get("sender")?,
                subject: r.try_get("subject")?,
                received_at: parse_ts(&at),
                stored_at: parse_ts(&stored),
                disposition: r.try_get("disposition")?,
            })
        })
        .collect()
}

/// The stored bytes of the order's mail number `n` (as [`inbound_of`] numbers them); `None`
/// when the order has no such mail.
pub async fn inbound_raw_of(
    pool: &AnyPool,
    order_id: i64,
    n: i64,
) -> anyhow::Result<Option<Vec<u8>>> {
    if n < 1 {
        return Ok(None);
    }
    let sql = format!(
        "SELECT raw FROM inbound_mail WHERE id IN ({ORDER_MAIL_IDS}) ORDER BY id LIMIT 1 OFFSET $2"
    );
    let raw: Option<Vec<u8>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .bind(n - 1)
        .fetch_optional(pool)
        .await?;
    Ok(raw)
}

/// The stored bytes of the order's first `limit` mails (as [`inbound_of`] numbers them), in
/// one query: what the page shows the text and attachments of. A mail over `max_bytes` is
/// `None` (not read into memory: a page view must not load many large mails).
pub async fn inbound_raws_of(
    pool: &AnyPool,
    order_id: i64,
    limit: i64,
    max_bytes: i64,
) -> anyhow::Result<Vec<Option<Vec<u8>>>> {
    let sql = format!(
        "SELECT CASE WHEN length(raw) <= $3 THEN raw END FROM inbound_mail
         WHERE id IN ({ORDER_MAIL_IDS}) ORDER BY id LIMIT $2"
    );
    let raws: Vec<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .bind(limit)
        .bind(max_bytes)
        .fetch_all(pool)
        .await?;
    Ok(raws)
}

/// A mail queued for the order, without its bytes.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The receipt kind's code (`godkendt`, `svar`, ...).
    pub kind: String,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub attempts: i64,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub last_error: String,
}

/// The mails queued for the order, oldest first. Every mail of an order has a Message-ID that
/// starts with its reference and `.v` (`receipts::message_id`), so the range is read through
/// the unique index on `message_id` (the outbox has no index on `order_id`); `order_id`
/// is checked as well.
pub async fn outbox_of(
    pool: &AnyPool,
    order_id: i64,
    reference: &str,
) -> anyhow::Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT kind, message_id, recipients, created_at, attempts, next_attempt_at, sent_at,
                failed_at, last_error FROM outbox
         WHERE message_id >= $2 AND message_id < $3 AND order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .bind(format!("{reference}.v"))
    .bind(format!("{reference}.w"))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let t = |name: &str| super::ts_column(r, name);
            let recipients: String = r.try_get("recipients")?;
            Ok(OutboxRow {
                kind: r.try_get("kind")?,
                message_id: r.try_get("message_id")?,
                recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                created_at: t("created_at")?,
                attempts: r.try_get("attempts")?,
                next_attempt_at: t("next_attempt_at")?,
                sent_at: t("sent_at")?,
                failed_at: t("failed_at")?,
                last_error: r.try_get("last_error")?,
            })
        })
        .collect()
}

/// The certificate the version's form names, read from the attachment of the mail the version
/// came in: `None` when the form names none or the file holds no certificate. (`orders show`
/// and the order page show its subject, serial and validity instead of a file name.)
pub async fn certificate_of(
    pool: &AnyPool,
    order_id: i64,
    v: &VersionRow,
) -> anyhow::Result<Option<CertSummary>> {
    let Some(name) = v
        .judgement
        .pointer("/fields/certificate")
        .and_then(|n| n.as_str())
    else {
        return Ok(None);
    };
    let Some(raw) = super::version_mail(pool, order_id, v.version).await? else {
        return Ok(None);
    };
    let Some(mail) = crate::mail::Mail::parse(&raw, 1) else {
        return Ok(None);
    };
    Ok(mail
        .attachments
        .iter()
        .filter(|a| a.name.as_deref() == Some(name))
        .find_map(|a| crate::rules::cert::describe(&a.bytes)))
}
