//! The executor's claims on orders (`orders.executing_at`): taken before a command runs, so
//! an order is executed at most once; an old open claim is an interrupted execution.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, Tx, parse_ts, ts};

/// An order claimed for execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub reference: String,
    pub kind: Option<String>,
}

/// Claims, in the caller's transaction, the next due order whose kind is one of `kinds`:
/// approved, planned time come, not claimed (or claimed before its last change). The claim is
/// `claim`, the time as stored.
pub async fn claim_next(
    tx: &mut Tx<'_>,
    kinds: &[String],
    claim: &str,
) -> anyhow::Result<Option<Claimed>> {
    let row = sqlx::query(crate::store::Backend::of(tx).pick(
        "UPDATE orders SET executing_at = $1 WHERE id = (
             SELECT id FROM orders
             WHERE state = 'approved' AND planned_at IS NOT NULL AND planned_at <= $1
               AND kind IN (SELECT value FROM json_each($2))
               AND (executing_at IS NULL OR executing_at < updated_at)
             ORDER BY planned_at, id LIMIT 1)
         AND state = 'approved' AND (executing_at IS NULL OR executing_at < updated_at)
         RETURNING id, ref, kind",
        "UPDATE orders SET executing_at = $1 WHERE id = (
             SELECT id FROM orders
             WHERE state = 'approved' AND planned_at IS NOT NULL AND planned_at <= $1
               AND kind IN (SELECT jsonb_array_elements_text($2::jsonb))
               AND (executing_at IS NULL OR executing_at < updated_at)
             ORDER BY planned_at, id LIMIT 1)
         AND state = 'approved' AND (executing_at IS NULL OR executing_at < updated_at)
         RETURNING id, ref, kind",
    ))
    .bind(claim)
    .bind(serde_json::to_string(kinds)?)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Claimed {
        id: row.try_get("id")?,
        reference: row.try_get("ref")?,
        kind: row.try_get("kind")?,
    }))
}

/// Open claims taken before `cutoff` (their executor was interrupted): reference and claim.
pub async fn claims_before(
    store: &Store,
    cutoff: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT ref, executing_at FROM orders
         WHERE state = 'approved' AND executing_at IS NOT NULL AND executing_at >= updated_at
           AND executing_at < $1 ORDER BY id",
    )
    .bind(ts(cutoff))
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(r, c)| parse_ts(&c).map(|c| (r, c)))
        .collect())
}
