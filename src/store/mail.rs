//! The SQL of a received mail: its inbound row, the order it opens or gives a new version,
//! the version itself and the verdict.

use chrono::{DateTime, Utc};

use crate::orders::plan::{Event, Summary};
use crate::orders::receipts::Thread;
use crate::store::{Tx, ts};

/// A received mail's row.
pub struct Inbound<'a> {
    pub key: &'a str,
    pub message_id: Option<&'a str>,
    pub mailbox: &'a str,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub internal_date: DateTime<Utc>,
    pub sender: Option<&'a str>,
    pub subject: &'a str,
    pub sha256: &'a str,
    pub raw: &'a [u8],
    pub disposition: &'a str,
}

/// A received mail as stored: its row, and the latest earlier mail with the same Message-ID
/// but other content (a reused Message-ID: both get a note).
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub id: i64,
    pub same_message_id: Option<i64>,
}

/// Stores a received mail; `None` when a mail with its key was stored before.
pub async fn insert_inbound(
    tx: &mut Tx<'_>,
    m: &Inbound<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Stored>> {
    // RETURNING gives the new row's id, and (in the same round trip, through the index on
    // message_id) an earlier mail with the same Message-ID; no row means the mail was stored
    // before.
    let row: Option<(i64, Option<i64>)> = sqlx::query_as(
        "INSERT INTO inbound_mail (message_key, message_id, mailbox, uidvalidity, uid, internal_date, stored_at, sender, subject, sha256, raw, disposition)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT DO NOTHING
         RETURNING id, (SELECT MAX(o.id) FROM inbound_mail AS o
                        WHERE o.message_id = $2 AND o.message_key <> $1)",
    )
    .bind(m.key)
    .bind(m.message_id)
    .bind(m.mailbox)
    .bind(m.uidvalidity.map(i64::from))
    .bind(m.uid.map(i64::from))
    .bind(ts(m.internal_date))
    .bind(ts(now))
    .bind(m.sender)
    .bind(m.subject)
    .bind(m.sha256)
    .bind(m.raw)
    .bind(m.disposition)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(id, same_message_id)| Stored {
        id,
        same_message_id,
    }))
}

/// Marks a stored mail as correspondence on an order.
pub async fn mark_correspondence(tx: &mut Tx<'_>, inbound_id: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE inbound_mail SET disposition = 'correspondence' WHERE id = $1")
        .bind(inbound_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A new order row in state `received`.
pub struct NewOrder<'a> {
    pub reference: &'a str,
    pub summary: &'a Summary,
    pub requester: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    pub thread: &'a Thread,
}

/// Inserts a new order; returns its id.
pub async fn insert_order(
    tx: &mut Tx<'_>,
    o: &NewOrder<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let s = o.summary;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO orders (ref, state, kind, bestillings_id, org_name, org_cvr, system_name, requester, reply_to, contact_email, thread_message_id, thread_subject, created_at, updated_at, planned_at)
         VALUES ($1, 'received', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING id",
    )
    .bind(o.reference)
    .bind(s.kind)
    .bind(&s.bestillings_id)
    .bind(&s.org_name)
    .bind(&s.org_cvr)
    .bind(&s.system_name)
    .bind(o.requester)
    .bind(o.reply_to)
    .bind(&s.contact_email)
    .bind(&o.thread.message_id)
    .bind(&o.thread.subject)
    .bind(ts(now))
    .bind(s.planned_at.map(ts))
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}

/// Writes the newest version's summary columns on an existing order.
pub async fn update_summary(
    tx: &mut Tx<'_>,
    order_id: i64,
    s: &Summary,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE orders SET kind = $1, bestillings_id = COALESCE($2, bestillings_id), org_name = COALESCE($3, org_name),
         org_cvr = COALESCE($4, org_cvr), system_name = COALESCE($5, system_name), contact_email = COALESCE($6, contact_email),
         planned_at = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(s.kind)
    .bind(&s.bestillings_id)
    .bind(&s.org_name)
    .bind(&s.org_cvr)
    .bind(&s.system_name)
    .bind(&s.contact_email)
    .bind(s.planned_at.map(ts))
    .bind(ts(now))
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stores a version; returns its number, the next one for the order.
pub async fn insert_version(
    tx: &mut Tx<'_>,
    order_id: i64,
    inbound_id: i64,
    v: &crate::orders::plan::Version,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    // The next version number is found and taken in the same statement (one round trip to the
    // connection's worker thread instead of two); the write lock of the transaction keeps it
    // from being taken twice.
    // A person's version is stored with the mail the order came in, under a negative form
    // index of its own (the mail's forms count from 0): one mail may carry several.
    let form_index: Option<i64> = if v.staff {
        None
    } else {
        Some(i64::try_from(v.form_index).unwrap_or(i64::MAX))
    };
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO order_versions (order_id, version, inbound_id, form_index, judgement, decision, created_at)
         SELECT $1, COALESCE(MAX(version), 0) + 1, $2,
                COALESCE($3, (SELECT CASE WHEN MIN(form_index) < 0 THEN MIN(form_index) ELSE 0 END - 1
                              FROM order_versions WHERE inbound_id = $2)),
                $4, $5, $6 FROM order_versions WHERE order_id = $1
         RETURNING version",
    )
    .bind(order_id)
    .bind(inbound_id)
    .bind(form_index)
    .bind(v.judgement.to_string())
    .bind(v.decision.as_str())
    .bind(ts(now))
    .fetch_one(&mut **tx)
    .await?;
    Ok(version)
}

/// Moves an order to the event's state and records the event, as one query of two statements:
/// one round trip to the connection's worker thread instead of two. An event without a state
/// after it only appends.
pub async fn change_state(
    tx: &mut Tx<'_>,
    order_id: i64,
    inbound_id: Option<i64>,
    e: &Event,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(crate::store::Backend::of(tx).pick(
        "UPDATE orders SET state = COALESCE($1, state), updated_at = $2 WHERE id = $3 AND $1 IS NOT NULL;
         INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         VALUES ($3, $4, $2, $5, $6, $7, $1, $8)",
        "WITH moved AS (
             UPDATE orders SET state = COALESCE($1, state), updated_at = $2 WHERE id = $3 AND $1 IS NOT NULL)
         INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         VALUES ($3, $4, $2, $5, $6, $7, $1, $8)",
    ))
    .bind(e.to.map(|s| s.as_str()))
    .bind(ts(now))
    .bind(order_id)
    .bind(inbound_id)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(e.from.map(|s| s.as_str()))
    .bind(&e.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::plan::{Version, verdict};
    use crate::rules::finding::{Decision, Finding, Rule};

    #[tokio::test]
    async fn versions_count_up_and_the_verdict_moves_the_state_with_its_event() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = crate::store::Store::open(&url).await.unwrap();
        let now = Utc::now();
        let mut tx = store.begin().await.unwrap();
        let mut ids = Vec::new();
        for (key, reference) in [("k1", "SP-2026-00001"), ("k2", "SP-2026-00002")] {
            let inbound: i64 = sqlx::query_scalar(
                "INSERT INTO inbound_mail (message_key, mailbox, internal_date, stored_at, sha256, raw, disposition)
                 VALUES ($1, 'INBOX', 't', 't', 's', x'00', 'order') RETURNING id",
            )
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            let order: i64 = sqlx::query_scalar(
                "INSERT INTO orders (ref, state, created_at, updated_at) VALUES ($1, 'received', 't', 't') RETURNING id",
            )
            .bind(reference)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            ids.push((inbound, order));
        }
        let json = serde_json::json!({"decision": "review"});
        let (in1, o1) = ids[0];
        let (in2, o2) = ids[1];
        let v = |inbound, order, index| (inbound, order, index, json.clone());
        let mut got = Vec::new();
        for (inbound, order, index, j) in
            [v(in1, o1, 0), v(in1, o1, 1), v(in2, o2, 0), v(in2, o1, 1)]
        {
            let v = Version {
                staff: false,
                form_index: index,
                judgement: j,
                decision: Decision::Review,
            };
            got.push(
                insert_version(&mut tx, order, inbound, &v, now)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(got, vec![1, 2, 1, 3], "versions per order");
        // People's versions go with the mail their order came in, each under its own
        // negative form index, beside the mail's own forms (two orders of one mail too).
        for (order, expected) in [(o1, 4), (o2, 2), (o1, 5)] {
            let staff = Version {
                staff: true,
                form_index: 0,
                judgement: json.clone(),
                decision: Decision::Approved,
            };
            let n = insert_version(&mut tx, order, in2, &staff, now)
                .await
                .unwrap();
            assert_eq!(n, expected);
        }
        let indexes: Vec<i64> = sqlx::query_scalar(
            "SELECT form_index FROM order_versions WHERE inbound_id = $1 ORDER BY id",
        )
        .bind(in2)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(indexes, [0, 1, -1, -2, -3]);
        let findings = vec![
            Finding::new(Rule::FormAmbiguous, Some("bestillings_id"), "a".to_string()),
            Finding::new(Rule::FormAmbiguous, None, "b".to_string()),
        ];
        let verdict = verdict(Decision::Review, &findings);
        change_state(&mut tx, o2, None, &verdict, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (state, updated): (String, String) =
            sqlx::query_as("SELECT state, updated_at FROM orders WHERE id = $1")
                .bind(o2)
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!((state.as_str(), updated), ("review", ts(now)));
        let events = crate::store::events_of(&store.pool, o2).await.unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        let e = &events[0];
        let id = Rule::FormAmbiguous.id();
        assert_eq!(
            (e.at.clone(), e.actor.as_str(), e.action.as_str()),
            (ts(now), "daemon", "judged")
        );
        assert_eq!(
            (e.from_state.as_deref(), e.to_state.as_deref()),
            (Some("received"), Some("review"))
        );
        assert_eq!(e.detail, format!("{id}: a\n{id}: b"));
        let untouched: String = sqlx::query_scalar("SELECT state FROM orders WHERE id = $1")
            .bind(o1)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(untouched, "received");
    }
}
