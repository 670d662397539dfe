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
