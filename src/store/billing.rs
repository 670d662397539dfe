//! The orders as billing reads and marks them (`orders.billed_at`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Store, Tx, ts, ts_column};
use crate::schedule::billing::BillingLine;

const LINE_COLUMNS: &str = "id, ref, kind, bestillings_id, org_name, org_cvr, system_name, executed_at, updated_at, billed_at";

fn line_from_row(r: &sqlx::any::AnyRow) -> anyhow::Result<BillingLine> {
    let t = |name: &str| ts_column(r, name);
    Ok(BillingLine {
        bestillings_id: r.try_get("bestillings_id")?,
        reference: r.try_get("ref")?,
        kind: r.try_get("kind")?,
        org_name: r.try_get("org_name")?,
        org_cvr: r.try_get("org_cvr")?,
        system_name: r.try_get("system_name")?,
        // An executed order without its time (not expected) is billed at its last change.
        executed_at: t("executed_at")?.or(t("updated_at")?),
        billed_at: t("billed_at")?,
    })
}

/// Marks every executed, unbilled order as billed at `now` and returns their ids: select and
/// mark in one statement, so two runs never bill the same order.
pub async fn mark_billed(tx: &mut Tx<'_>, now: DateTime<Utc>) -> anyhow::Result<Vec<i64>> {
    let ids = sqlx::query_scalar(
        "UPDATE orders SET billed_at = $1
         WHERE state = 'executed' AND billed_at IS NULL
         RETURNING id",
    )
    .bind(ts(now))
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids)
}

/// The billing line of order `id`.
pub async fn line(tx: &mut Tx<'_>, id: i64) -> anyhow::Result<BillingLine> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM orders WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    line_from_row(&row)
}

/// The billing line of every executed order, billed or not, by id.
pub async fn executed_lines(store: &Store) -> anyhow::Result<Vec<BillingLine>> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM orders WHERE state = 'executed' ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&store.pool)
        .await?;
    rows.iter().map(line_from_row).collect()
}
