//! The periodic jobs' last runs (`jobs`): what the scheduler claims a run by.

use chrono::{DateTime, Utc};

use super::{Store, Tx, ts};

/// When job `name` last ran, as stored; a job never seen before is recorded as run at `now`.
pub async fn last_run(store: &Store, name: &str, now: DateTime<Utc>) -> anyhow::Result<String> {
    sqlx::query("INSERT INTO jobs (name, last_run) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(ts(now))
        .execute(&store.pool)
        .await?;
    let s: String = sqlx::query_scalar("SELECT last_run FROM jobs WHERE name = $1")
        .bind(name)
        .fetch_one(&store.pool)
        .await?;
    Ok(s)
}

/// Moves job `name`'s `last_run` from `old` to `now` in the caller's transaction; true when
/// this call moved it (compare-and-set: of several instances that read `old`, one wins).
pub async fn move_last_run(
    tx: &mut Tx<'_>,
    name: &str,
    old: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let r = sqlx::query("UPDATE jobs SET last_run = $1 WHERE name = $2 AND last_run = $3")
        .bind(ts(now))
        .bind(name)
        .bind(old)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}
