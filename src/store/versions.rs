//! An order's versions (`order_versions`) with the mail each came in.

use super::Tx;

/// An order's latest version: its number, the judgement stored with it (JSON), the raw
/// mail it came in and that mail's id; `None` for an order without versions.
pub async fn latest_with_mail(
    tx: &mut Tx<'_>,
    order_id: i64,
) -> anyhow::Result<Option<(i64, String, Vec<u8>, i64)>> {
    let row = sqlx::query_as(
        "SELECT v.version, v.judgement, m.raw, m.id FROM order_versions v JOIN inbound_mail m ON m.id = v.inbound_id
         WHERE v.order_id = $1 ORDER BY v.version DESC LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row)
}

/// The raw mail an inbound row holds (empty when there is no such row): what a review mail
/// attaches.
pub async fn inbound_raw(tx: &mut Tx<'_>, inbound_id: i64) -> anyhow::Result<Vec<u8>> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT raw FROM inbound_mail WHERE id = $1")
        .bind(inbound_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|(raw,)| raw).unwrap_or_default())
}

/// How many of an order's newest mails count as its evidence: bounds the memory and time a
/// correction or a person's edit takes, whatever a sender floods the order with.
pub const EVIDENCE_MAILS: i64 = 10;

/// The newest [`EVIDENCE_MAILS`] mails that came in for an order (its versions' mails and the
/// messages filed on it as correspondence), newest first: the evidence a later version is judged with (a certificate sent with version 1 still
/// counts for a partial correction or a person's edit; a replacement sent later wins). Only
/// mails the order took: another sender's form refused for this order is in its history (an
/// event) but never its evidence, nor is a bounce.
pub async fn order_mails(tx: &mut Tx<'_>, order_id: i64) -> anyhow::Result<Vec<Vec<u8>>> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT m.raw FROM inbound_mail m
         WHERE m.id IN (SELECT inbound_id FROM order_versions WHERE order_id = $1)
            OR (m.disposition = 'correspondence'
                AND m.id IN (SELECT inbound_id FROM events
                             WHERE order_id = $1 AND action = $3
                               AND inbound_id IS NOT NULL))
         ORDER BY m.id DESC
         LIMIT $2",
    )
    .bind(order_id)
    .bind(EVIDENCE_MAILS)
    .bind(crate::orders::plan::dialogue::CORRESPONDENCE)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(raw,)| raw).collect())
}

/// When the order's first version arrived (its mail's IMAP INTERNALDATE): what a person's
/// version is judged against unless the desired time is edited.
pub async fn first_received(
    tx: &mut Tx<'_>,
    order_id: i64,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT m.internal_date FROM order_versions v JOIN inbound_mail m ON m.id = v.inbound_id
         WHERE v.order_id = $1 ORDER BY v.version ASC LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.and_then(|(t,)| super::parse_ts(&t)))
}
