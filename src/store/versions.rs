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
         WHERE v.order_id = ?1 ORDER BY v.version DESC LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row)
}

/// The raw mail an inbound row holds (empty when there is no such row): what a review mail
/// attaches.
pub async fn inbound_raw(tx: &mut Tx<'_>, inbound_id: i64) -> anyhow::Result<Vec<u8>> {
    let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT raw FROM inbound_mail WHERE id = ?1")
        .bind(inbound_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|(raw,)| raw).unwrap_or_default())
}
