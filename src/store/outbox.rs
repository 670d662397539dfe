//! The outbox as the sending worker sees it: the mails due, what became of each attempt.
//! (Queueing a mail is the order transactions' part: [`super::enqueue`] and friends.)

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::ts;

/// A queued mail, as the worker sends it.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was queued: a mail not sent within `limits.outbox_max_age` ends failed.
    pub created_at: DateTime<Utc>,
}

/// Claims up to `limit` unsent mails whose next attempt is due at `now`, oldest first (never
/// one that ended failed), for `me` until its lease runs out: another instance sends none of
/// them meanwhile (on PostgreSQL, one that is claiming at the same moment skips the rows this
/// claim has locked). A claim whose holder died runs out, and the mail is sent by another
/// instance, with the same Message-ID.
pub async fn due(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
    limit: usize,
    me: &super::claims::Claimant,
) -> anyhow::Result<Vec<QueuedMail>> {
    let mut rows = sqlx::query(crate::store::Backend::of(conn).pick(
        "UPDATE outbox SET claimed_by = $3, claimed_until = $4
         WHERE id IN (SELECT id FROM outbox
                      WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                        AND (claimed_until IS NULL OR claimed_until <= $1 OR claimed_by = $3)
                      ORDER BY id LIMIT $2)
         RETURNING id, message_id, envelope_from, recipients, raw, attempts, created_at",
        "UPDATE outbox SET claimed_by = $3, claimed_until = $4
         WHERE id IN (SELECT id FROM outbox
                      WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                        AND (claimed_until IS NULL OR claimed_until <= $1 OR claimed_by = $3)
                      ORDER BY id LIMIT $2
                      FOR UPDATE SKIP LOCKED)
         RETURNING id, message_id, envelope_from, recipients, raw, attempts, created_at",
    ))
    .bind(ts(now))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .bind(&me.holder)
    .bind(ts(me.lease_until(now)))
    .fetch_all(&mut *conn)
    .await?;
    // RETURNING gives the rows in no promised order; the queue's order is the ids'.
    rows.sort_by_key(|r| r.try_get::<i64, _>("id").unwrap_or(i64::MAX));
    rows.iter()
        .map(|row| {
            let recipients: String = row.try_get("recipients")?;
            let created_at: String = row.try_get("created_at")?;
            Ok(QueuedMail {
                id: row.try_get("id")?,
                message_id: row.try_get("message_id")?,
                envelope_from: row.try_get("envelope_from")?,
                recipients: serde_json::from_str(&recipients)?,
                raw: row.try_get("raw")?,
                attempts: row.try_get("attempts")?,
                created_at: DateTime::parse_from_rfc3339(&created_at)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| anyhow::anyhow!("outbox created_at {created_at:?}: {e}"))?,
            })
        })
        .collect()
}

/// Renews `me`'s claim on mail `id` right before it is sent; false when the claim is no longer
/// ours. A round's claims all run out one lease after they were taken, and a long round (a slow
/// server, a busy machine) can outlast them: another instance may then have claimed the rest,
/// and the first must not send those as well. Renewing per mail keeps the lease meaning "this
/// holder is alive and working", not "this round is short".
pub async fn renew_claim(
    conn: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
    me: &super::claims::Claimant,
) -> anyhow::Result<bool> {
    let r = sqlx::query(
        "UPDATE outbox SET claimed_until = $3
         WHERE id = $1 AND claimed_by = $2 AND sent_at IS NULL AND failed_at IS NULL",
    )
    .bind(id)
    .bind(&me.holder)
    .bind(ts(me.lease_until(now)))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Marks the mails `ids` as sent at `now`, in one statement.
pub async fn mark_sent(
    conn: &mut AnyConnection,
    ids: &[i64],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let ids = serde_json::to_string(ids)?;
    sqlx::query(crate::store::Backend::of(conn).pick(
        "UPDATE outbox SET sent_at = $1, attempts = attempts + 1
         WHERE id IN (SELECT value FROM json_each($2))",
        "UPDATE outbox SET sent_at = $1, attempts = attempts + 1
         WHERE id IN (SELECT jsonb_array_elements_text($2::jsonb)::bigint)",
    ))
    .bind(ts(now))
    .bind(ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a failed attempt at mail `id`: tried again at `next`, `error` kept.
pub async fn mark_failed(
    conn: &mut AnyConnection,
    id: i64,
    next: DateTime<Utc>,
    error: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3",
    )
    .bind(ts(next))
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Ends mail `id` as failed at `now`: never tried again. `why` is kept, and its order's
/// history gets the event "receipt failed" saying "kvittering kunne ikke sendes: <why>" (one
/// statement pair, one round trip).
pub async fn mark_given_up(
    conn: &mut AnyConnection,
    id: i64,
    now: DateTime<Utc>,
    why: &str,
) -> anyhow::Result<()> {
    sqlx::query(crate::store::Backend::of(conn).pick(
        "UPDATE outbox SET attempts = attempts + 1, failed_at = $2, last_error = $3 WHERE id = $1;
         INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         SELECT order_id, NULL, $2, 'daemon', $4, NULL, NULL, $5 FROM outbox
         WHERE id = $1 AND order_id IS NOT NULL",
        "WITH given_up AS (
             UPDATE outbox SET attempts = attempts + 1, failed_at = $2, last_error = $3 WHERE id = $1
             RETURNING order_id)
         INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         SELECT order_id, NULL, $2, 'daemon', $4, NULL, NULL, $5 FROM given_up
         WHERE order_id IS NOT NULL",
    ))
    .bind(id)
    .bind(ts(now))
    .bind(why)
    .bind(crate::orders::plan::RECEIPT_FAILED)
    .bind(crate::orders::plan::receipt_failed_detail(why))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The orders whose receipts ended failed at or after `since`, each with the time of its last
/// such failure (for the digest).
pub async fn failed_receipts_since(
    pool: &sqlx::AnyPool,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<(crate::store::OrderRow, DateTime<Utc>)>> {
    let sql = format!(
        "SELECT {}, f.failed FROM orders
         JOIN (SELECT order_id, MAX(at) AS failed FROM events
               WHERE action = $1 AND at >= $2 AND order_id IS NOT NULL GROUP BY order_id) f
           ON f.order_id = orders.id
         ORDER BY f.failed",
        crate::store::ORDER_COLUMNS
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(crate::orders::plan::RECEIPT_FAILED)
        .bind(ts(since))
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let order = crate::store::order_from_row(r)?;
            let failed = crate::store::ts_column(r, "failed")?.unwrap_or(order.updated_at);
            Ok((order, failed))
        })
        .collect()
}

/// Makes every mail held back by a temporary failure due at `now` (not the ones a permanent
/// refusal or an hourly limit deferred). Returns how many.
pub async fn release_held(conn: &mut AnyConnection, now: DateTime<Utc>) -> anyhow::Result<u64> {
    let r = sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1
         WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at > $1
           AND last_error LIKE 'temporary%'",
    )
    .bind(ts(now))
    .execute(&mut *conn)
    .await?;
    Ok(r.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    async fn scratch() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        (dir, store)
    }

    async fn queue(store: &Store, mid: &str, next: chrono::DateTime<Utc>, last_error: &str) {
        sqlx::query(
            "INSERT INTO outbox (kind, message_id, envelope_from, recipients, raw, created_at, next_attempt_at, last_error, attempts)
             VALUES ('modtaget', $1, 'a@b.test', '[\"c@d.test\"]', x'00', $2, $3, $4, 3)",
        )
        .bind(mid)
        .bind(ts(Utc::now()))
        .bind(ts(next))
        .bind(last_error)
        .execute(&store.pool)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn release_held_frees_only_mails_held_by_temporary_failures_not_deferred_ones() {
        let (_dir, store) = scratch().await;
        let later = Utc::now() + chrono::Duration::seconds(50);
        queue(&store, "held", later, "temporary: connection refused").await;
        queue(&store, "refused", later, "permanent: 550 no such user").await;
        queue(&store, "due", Utc::now() - chrono::Duration::seconds(5), "").await;
        // Deferred by an hourly limit: it waits for its hour even when the server is back.
        let hour_later = Utc::now() + chrono::Duration::hours(1);
        let deferred = format!("{}more than 30 receipts an hour", crate::store::DEFERRED);
        queue(&store, "deferred", hour_later, &deferred).await;
        queue(&store, "sent", later, "temporary: connection refused").await;
        sqlx::query("UPDATE outbox SET sent_at = $1 WHERE message_id = 'sent'")
            .bind(ts(Utc::now()))
            .execute(&store.pool)
            .await
            .unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        assert_eq!(release_held(&mut conn, Utc::now()).await.unwrap(), 1);
        let due: Vec<String> = sqlx::query_scalar(
            "SELECT message_id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY id",
        )
        .bind(ts(Utc::now()))
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(due, vec!["held".to_string(), "due".to_string()]);
        assert_eq!(release_held(&mut conn, Utc::now()).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_claim_that_ran_out_and_was_taken_over_is_not_sent_by_its_first_holder() {
        let (_dir, store) = scratch().await;
        queue(&store, "m", Utc::now() - chrono::Duration::seconds(5), "").await;
        let claimant = |name: &str| crate::store::claims::Claimant {
            holder: name.to_string(),
            lease: std::time::Duration::from_secs(3),
        };
        let (a, b) = (claimant("a"), claimant("b"));
        let mut conn = store.pool.acquire().await.unwrap();
        let now = Utc::now();
        let mails = due(&mut conn, now, 10, &a).await.unwrap();
        assert_eq!(mails.len(), 1);
        let id = mails[0].id;
        // While a's lease holds, b gets nothing; a renews and keeps it.
        assert!(due(&mut conn, now, 10, &b).await.unwrap().is_empty());
        let later = now + chrono::Duration::seconds(2);
        assert!(renew_claim(&mut conn, id, later, &a).await.unwrap());
        let after_first_lease = now + chrono::Duration::seconds(4);
        assert!(
            due(&mut conn, after_first_lease, 10, &b)
                .await
                .unwrap()
                .is_empty(),
            "the renewed claim still holds"
        );
        // a stalls past its renewed lease: b takes the mail over, and a may no longer send it.
        let stalled = now + chrono::Duration::seconds(6);
        assert_eq!(due(&mut conn, stalled, 10, &b).await.unwrap().len(), 1);
        assert!(!renew_claim(&mut conn, id, stalled, &a).await.unwrap());
        assert!(renew_claim(&mut conn, id, stalled, &b).await.unwrap());
        // Once sent, nobody renews it.
        mark_sent(&mut conn, &[id], stalled).await.unwrap();
        assert!(!renew_claim(&mut conn, id, stalled, &b).await.unwrap());
    }

    #[tokio::test]
    async fn a_mail_given_up_is_never_due_again_and_its_order_says_why() {
        let (_dir, store) = scratch().await;
        let order_id: i64 = sqlx::query_scalar(
            "INSERT INTO orders (ref, state, created_at, updated_at) VALUES ('SP-2026-00001', 'approved', 't', 't') RETURNING id",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        let past = Utc::now() - chrono::Duration::seconds(5);
        queue(&store, "refused", past, "").await;
        queue(&store, "other", past, "").await;
        sqlx::query("UPDATE outbox SET order_id = $1 WHERE message_id = 'refused'")
            .bind(order_id)
            .execute(&store.pool)
            .await
            .unwrap();
        let mut conn = store.pool.acquire().await.unwrap();
        let due_ids = |mails: Vec<QueuedMail>| -> Vec<String> {
            mails.into_iter().map(|m| m.message_id).collect()
        };
        let mails = due(&mut conn, Utc::now(), 10, &store.claimant)
            .await
            .unwrap();
        assert_eq!(due_ids(mails.clone()), ["refused", "other"]);
        let why = "permanent: 550 5.1.1 <x@y.test>: Recipient address rejected";
        mark_given_up(&mut conn, mails[0].id, Utc::now(), why)
            .await
            .unwrap();
        // Not due now, nor after any backoff, nor released when the server is back.
        let later = Utc::now() + chrono::Duration::days(30);
        assert_eq!(
            due_ids(due(&mut conn, later, 10, &store.claimant).await.unwrap()),
            ["other"]
        );
        sqlx::query("UPDATE outbox SET last_error = 'temporary: x', next_attempt_at = $1")
            .bind(ts(later))
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(release_held(&mut conn, Utc::now()).await.unwrap(), 1);
        let (action, detail): (String, String) =
            sqlx::query_as("SELECT action, detail FROM events WHERE order_id = $1")
                .bind(order_id)
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(action, "receipt failed");
        assert_eq!(detail, format!("kvittering kunne ikke sendes: {why}"));
        let failed = failed_receipts_since(&store.pool, Utc::now() - chrono::Duration::days(7))
            .await
            .unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0.reference, "SP-2026-00001");
        let none = failed_receipts_since(&store.pool, Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}
