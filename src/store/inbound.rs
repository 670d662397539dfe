//! The mails that came in (`inbound_mail`) and the intake's count of attempts per mail
//! (`intake_attempts`), as the intake reads and writes them around the order transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{EventAt, Store, Tx, ts};
use crate::orders::plan;

/// Where a mail sits in the Helpdesk's mailbox: a stored mail is recognised by this as well as
/// by its key (a mail whose Message-ID changed meanwhile cannot be stored twice).
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub mailbox: &'a str,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
}

/// Takes back one counted attempt (the database failed, not the mail).
pub async fn take_back_attempt(store: &Store, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE intake_attempts SET attempts = attempts - 1 WHERE message_key = $1 AND attempts > 0",
    )
    .bind(key)
    .execute(&store.pool)
    .await?;
    Ok(())
}

/// Keeps why the last attempt at a mail failed.
pub async fn record_error(store: &Store, key: &str, why: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE intake_attempts SET last_error = $1 WHERE message_key = $2")
        .bind(why)
        .bind(key)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Marks a stored mail as quarantined, with why (before any note it has), in the transaction
/// that stored it.
pub async fn mark_quarantined(tx: &mut Tx<'_>, key: &str, why: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE inbound_mail SET disposition = 'quarantined',
                note = $1 || CASE WHEN note = '' THEN '' ELSE '; ' || note END
         WHERE message_key = $2",
    )
    .bind(why)
    .bind(key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Notes a reused Message-ID on both mails, `earlier` and `new` (a different mail that came
/// with the same Message-ID), and in the history of every order each of them landed on: each
/// note names the other mail ([`plan::reused_message_id`]). Only when it happens, so its few
/// round trips cost nothing in the usual case.
pub async fn note_reused_message_id(
    tx: &mut Tx<'_>,
    earlier: i64,
    new: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    // Read both before writing: the events written here must not count as the mails' orders.
    let earlier_orders = orders_of(tx, earlier).await?;
    let new_orders = orders_of(tx, new).await?;
    let notes = [
        (earlier, earlier_orders, describe(tx, new).await?),
        (new, new_orders, describe(tx, earlier).await?),
    ];
    for (id, orders, other) in notes {
        let event = plan::reused_message_id(&other);
        sqlx::query(
            "UPDATE inbound_mail SET note = CASE WHEN note = '' THEN $1 ELSE note || '; ' || $1 END
             WHERE id = $2",
        )
        .bind(&event.detail)
        .bind(id)
        .execute(&mut **tx)
        .await?;
        for order_id in orders {
            let at = EventAt {
                order_id: Some(order_id),
                inbound_id: Some(new),
                at: now,
            };
            super::event(tx, at, &event).await?;
        }
    }
    Ok(())
}

/// The orders a stored mail landed on (created, gave a version, wrote to).
async fn orders_of(tx: &mut Tx<'_>, inbound_id: i64) -> anyhow::Result<Vec<i64>> {
    let ids = sqlx::query_scalar(
        "SELECT DISTINCT order_id FROM events WHERE inbound_id = $1 AND order_id IS NOT NULL
         ORDER BY order_id",
    )
    .bind(inbound_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids)
}

/// A stored mail as another mail's note names it.
async fn describe(tx: &mut Tx<'_>, inbound_id: i64) -> anyhow::Result<plan::OtherMail> {
    let (received, subject): (String, String) =
        sqlx::query_as("SELECT internal_date, subject FROM inbound_mail WHERE id = $1")
            .bind(inbound_id)
            .fetch_one(&mut **tx)
            .await?;
    let refs: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT o.ref FROM events e JOIN orders o ON o.id = e.order_id
         WHERE e.inbound_id = $1 ORDER BY o.ref",
    )
    .bind(inbound_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(plan::OtherMail {
        received,
        subject,
        orders: refs.join(", "),
    })
}

/// Why an `ignored` event's mail was not answered: its detail ("{why} from {sender}; no
/// receipt", [`plan::ignored`]) up to " from ", as SQL over the event's `detail`. The digest's
/// "Post uden svar" and the console's `/post` both read it ([`crate::schedule::digest::no_reply_reason`]
/// names it in Danish).
pub const IGNORED_WHY: &str = "CASE WHEN instr(detail, ' from ') > 0
     THEN substr(detail, 1, instr(detail, ' from ') - 1) ELSE detail END";

/// The mails stored but never answered at or after `since`, counted by why (the `why` of the
/// `ignored` event, "{why} from {sender}; no receipt"), for the digest's "Post uden svar".
pub async fn unanswered_since(
    pool: &sqlx::AnyPool,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, i64)>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {IGNORED_WHY} AS why, COUNT(*)
             FROM events WHERE action = 'ignored' AND at >= $1 GROUP BY why ORDER BY why"
        )
    });
    let rows = sqlx::query_as(SQL.as_str())
        .bind(ts(since))
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// The BestillingsIDs of every executed order (the judge's history, read once per batch).
pub async fn executed_bestillings_ids(store: &Store) -> anyhow::Result<HashSet<String>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT bestillings_id FROM orders WHERE state = 'executed' AND bestillings_id IS NOT NULL",
    )
    .fetch_all(&store.pool)
    .await?;
    Ok(ids.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::store::claims::{Claimant, MailClaim, claim_mail};

    #[tokio::test]
    async fn attempts_are_counted_until_the_mail_is_stored() {
        let me = Claimant::default();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let origin = |uid| Place {
            mailbox: "INBOX",
            uidvalidity: Some(7),
            uid: Some(uid),
        };
        for expected in 1..=3 {
            let n = claim_mail(&store, "mid:<a@x>", &origin(1), &me)
                .await
                .unwrap();
            assert_eq!(n, MailClaim::Mine { attempts: expected });
        }
        sqlx::query(
            "INSERT INTO inbound_mail (message_key, mailbox, uidvalidity, uid, internal_date, stored_at, sha256, raw, disposition)
             VALUES ('mid:<a@x>', 'INBOX', 7, 1, 't', 't', 's', x'00', 'order')",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        // Stored: by its key (at another UID), or by its place (under another key).
        for (key, uid) in [("mid:<a@x>", 2), ("sha256:other", 1)] {
            let n = claim_mail(&store, key, &origin(uid), &me).await.unwrap();
            assert_eq!(n, MailClaim::Stored, "{key} at UID {uid}");
        }
        let (attempts, others): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT attempts FROM intake_attempts WHERE message_key = 'mid:<a@x>'),
                    (SELECT COUNT(*) FROM intake_attempts WHERE message_key <> 'mid:<a@x>')",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!((attempts, others), (3, 0), "nothing counted once stored");
        // Another mail is counted as before.
        let n = claim_mail(&store, "mid:<b@x>", &origin(2), &me)
            .await
            .unwrap();
        assert_eq!(n, MailClaim::Mine { attempts: 1 });
    }
}
