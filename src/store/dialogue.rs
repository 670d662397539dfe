//! The dialogue about an order in the database: a message stored as correspondence (its
//! event, the Helpdesk's copy, the acknowledgement), a person's answer (`orders reply`) and
//! "handled" (`orders handled`), each in ONE transaction; and which orders are unanswered
//! (read from the events [`crate::orders::plan::dialogue`] names). Decisions are the plan's.

use chrono::{DateTime, Utc};
use sqlx::{AnyPool, Row};

use crate::mail::Mail;
use crate::orders::plan::dialogue::{self, CORRESPONDENCE, HANDLED, REPLY};
use crate::orders::plan::{Context, CorrespondenceEffects, StaffReply};
use crate::orders::receipts::{OutAttachment, ReceiptKind, Thread, compose_forward};
use crate::schedule::digest::Unanswered;
use crate::store::actions::{Actions, latest_version};
use crate::store::apply::{self, Apply};
use crate::store::{self, EventAt, ORDER_COLUMNS, OrderRow, Store, Tx, ts};

/// The orders with a message no person has answered or marked handled yet, each with the
/// sender and time of its first such message, oldest first.
pub async fn unanswered_orders(pool: &AnyPool) -> anyhow::Result<Vec<Unanswered>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS}, u.since,
                (SELECT f.actor FROM events f WHERE f.id = u.first_id) AS sender
         FROM orders
         JOIN (SELECT c.order_id, MIN(c.at) AS since, MIN(c.id) AS first_id FROM events c
               WHERE c.action = $1 AND c.order_id IS NOT NULL
                 AND c.id > COALESCE((SELECT MAX(h.id) FROM events h
                                      WHERE h.order_id = c.order_id AND h.action IN ($2, $3)), 0)
               GROUP BY c.order_id) u ON u.order_id = orders.id
         ORDER BY u.since, orders.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(CORRESPONDENCE)
        .bind(REPLY)
        .bind(HANDLED)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| {
            let order = store::order_from_row(r)?;
            let received_at = store::ts_column(r, "since")?.unwrap_or(order.updated_at);
            let sender: Option<String> = r.try_get("sender")?;
            Ok(Unanswered {
                sender: sender.unwrap_or_default(),
                subject: order.thread_subject.clone(),
                order,
                received_at,
            })
        })
        .collect()
}

/// True when the order has a message after its last answer or "handled".
async fn is_unanswered(tx: &mut Tx<'_>, order_id: i64) -> anyhow::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM events c WHERE c.order_id = $1 AND c.action = $2
           AND c.id > COALESCE((SELECT MAX(h.id) FROM events h
                                WHERE h.order_id = $1 AND h.action IN ($3, $4)), 0)
         LIMIT 1",
    )
    .bind(order_id)
    .bind(CORRESPONDENCE)
    .bind(REPLY)
    .bind(HANDLED)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}

/// True when a `besked_modtaget` for the order was queued at or after `since`.
pub async fn acknowledged_since(
    tx: &mut Tx<'_>,
    order_id: i64,
    since: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM outbox WHERE order_id = $1 AND kind = $2 AND created_at >= $3 LIMIT 1",
    )
    .bind(order_id)
    .bind(ReceiptKind::BeskedModtaget.code())
    .bind(ts(since))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}

/// Performs what a message about an order does: its event (on the order and the stored mail),
/// the Helpdesk's copy with `raw` attached, the acknowledgement (rate-limited like every
/// receipt).
pub async fn store_correspondence(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    order_id: i64,
    inbound_id: i64,
    e: &CorrespondenceEffects,
    raw: &[u8],
) -> anyhow::Result<()> {
    let at = EventAt {
        order_id: Some(order_id),
        inbound_id: Some(inbound_id),
        at: a.now,
    };
    store::event(tx, at, &e.event).await?;
    if let Some(f) = &e.forward {
        // A flood of messages must not bury review_to: past `limits.review_mails_per_hour`
        // the order is only in the digest's "Ubesvarede beskeder", and its history says so.
        let counted = store::count_hourly(tx, crate::orders::rate::REVIEW_MAILS, 1, a.now).await?;
        let limit = a.helpdesk.rates.review_mails;
        if counted > limit {
            tracing::warn!(reference = %f.values.reference, limit, "review mail limit reached; the message is not forwarded");
            let detail = format!(
                "more than {limit} review mails an hour: the message is not forwarded; it waits in the digest's \"Ubesvarede beskeder\""
            );
            let note = crate::orders::plan::Event::note("daemon", "message not forwarded", detail);
            store::event(tx, at, &note).await?;
        } else {
            forward(tx, a, order_id, f, raw).await?;
        }
    }
    if let Some(r) = &e.acknowledgement {
        apply::queue(tx, a, order_id, 0, r, &[]).await?;
    }
    Ok(())
}

/// Queues the Helpdesk's copy of a message, the original attached when not too large.
async fn forward(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    order_id: i64,
    f: &crate::orders::plan::Forward,
    raw: &[u8],
) -> anyhow::Result<()> {
    let original: &[u8] = if f.attach_original { raw } else { &[] };
    let out = compose_forward(
        a.templates,
        f,
        &a.helpdesk.address,
        a.now.timestamp(),
        original,
    )
    .map_err(anyhow::Error::msg)?;
    store::enqueue_for_order(tx, order_id, &out, a.now).await?;
    Ok(())
}

/// What `orders reply` and `orders handled` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogueOutcome {
    /// Committed: the event and these queued mails (`kind to a, b`).
    Done(Vec<String>),
    /// Nothing changed, and why.
    Refused(String),
}

/// A file a person attaches to an answer.
#[derive(Debug, Clone, Copy)]
pub struct Attached<'a> {
    pub filename: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

/// A person's answer to an order's requester.
#[derive(Debug, Clone, Copy)]
pub struct ReplyInput<'a> {
    pub reference: &'a str,
    pub actor: &'a str,
    pub text: &'a str,
    pub attachment: Option<Attached<'a>>,
    pub now: DateTime<Utc>,
}

/// The requester's last mail that landed on the order (else any mail that did): an answer
/// replies to it.
async fn last_mail(tx: &mut Tx<'_>, o: &OrderRow) -> anyhow::Result<Option<Vec<u8>>> {
    let raw: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT m.raw FROM events e JOIN inbound_mail m ON m.id = e.inbound_id
         WHERE e.order_id = $1 AND e.action IN ($2, 'received', 'new version')
         ORDER BY (lower(trim(COALESCE(m.sender, ''))) = lower(trim($3))) DESC, e.id DESC
         LIMIT 1",
    )
    .bind(o.id)
    .bind(CORRESPONDENCE)
    .bind(o.requester.as_deref().unwrap_or(""))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(raw)
}

/// The thread an answer goes in: the requester's last mail, else the order's first mail.
async fn reply_thread(tx: &mut Tx<'_>, o: &OrderRow) -> anyhow::Result<Thread> {
    let mail = last_mail(tx, o)
        .await?
        .and_then(|raw| Mail::parse(&raw, 0))
        .filter(|m| m.message_id.is_some());
    Ok(match mail {
        Some(m) => Thread {
            subject: if m.subject.trim().is_empty() {
                o.thread_subject.clone()
            } else {
                m.subject.clone()
            },
            ..Thread::of(&m)
        },
        None => Thread {
            message_id: o.thread_message_id.clone(),
            subject: o.thread_subject.clone(),
            from: o.requester.clone(),
            ..Thread::default()
        },
    })
}

/// The senders of the order's messages after its last answer or "handled", newest first,
/// each once: an answer goes to them too (each was allowed to write about the order when its
/// message was filed).
async fn unanswered_writers(tx: &mut Tx<'_>, order_id: i64) -> anyhow::Result<Vec<String>> {
    let writers: Vec<String> = sqlx::query_scalar(
        "SELECT lower(trim(c.actor)) AS writer FROM events c
         WHERE c.order_id = $1 AND c.action = $2 AND trim(c.actor) <> ''
           AND c.id > COALESCE((SELECT MAX(h.id) FROM events h
                                WHERE h.order_id = $1 AND h.action IN ($3, $4)), 0)
         GROUP BY writer ORDER BY MAX(c.id) DESC LIMIT 10",
    )
    .bind(order_id)
    .bind(CORRESPONDENCE)
    .bind(REPLY)
    .bind(HANDLED)
    .fetch_all(&mut **tx)
    .await?;
    Ok(writers)
}

/// `orders reply`: the answer in the order's thread, its event (the order is answered), one
/// transaction.
pub async fn reply(
    store: &Store,
    actions: &Actions,
    r: &ReplyInput<'_>,
) -> anyhow::Result<DialogueOutcome> {
    let mut tx = store.begin().await?;
    let Some(o) = store::order_by_ref(&mut *tx, r.reference).await? else {
        return Ok(no_order(r.reference));
    };
    let thread = reply_thread(&mut tx, &o).await?;
    let writers = unanswered_writers(&mut tx, o.id).await?;
    let latest = latest_version(&mut tx, o.id).await?;
    let earlier: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE order_id = $1 AND action = $2")
            .bind(o.id)
            .bind(REPLY)
            .fetch_one(&mut *tx)
            .await?;
    let ctx = Context {
        helpdesk: &actions.helpdesk,
        register: actions.register.as_deref(),
        incident_to: &actions.incident_to,
    };
    let input = StaffReply {
        order: &o,
        thread: &thread,
        judgement: &latest.judgement,
        actor: r.actor,
        text: r.text,
        attachment: r.attachment.map(|a| a.filename),
        earlier_replies: earlier,
        writers: &writers,
    };
    let e = match dialogue::reply(&input, &ctx) {
        Ok(e) => e,
        Err(refused) => return Ok(DialogueOutcome::Refused(refused.0)),
    };
    let how = Apply {
        templates: &actions.templates,
        helpdesk: &actions.helpdesk,
        now: r.now,
    };
    let files: Vec<OutAttachment<'_>> = r
        .attachment
        .iter()
        .map(|a| OutAttachment {
            content_type: a.content_type,
            filename: a.filename,
            bytes: a.bytes,
        })
        .collect();
    let version = e.receipt.version.unwrap_or_default();
    let out = apply::compose_receipt(&how, version, &e.receipt, &files)?;
    let at = EventAt {
        order_id: Some(o.id),
        inbound_id: None,
        at: r.now,
    };
    store::event(&mut tx, at, &e.event).await?;
    let queued = store::enqueue_for_order(&mut tx, o.id, &out, r.now).await?;
    tx.commit().await?;
    Ok(DialogueOutcome::Done(vec![queued]))
}

/// `orders handled`: the order's messages need no answer from spdesk (answered by phone, or
/// nothing to answer).
pub async fn handled(
    store: &Store,
    reference: &str,
    actor: &str,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<DialogueOutcome> {
    let mut tx = store.begin().await?;
    let Some(o) = store::order_by_ref(&mut *tx, reference).await? else {
        return Ok(no_order(reference));
    };
    let unanswered = is_unanswered(&mut tx, o.id).await?;
    let event = match dialogue::handled(&o, unanswered, actor, note) {
        Ok(e) => e,
        Err(refused) => return Ok(DialogueOutcome::Refused(refused.0)),
    };
    let at = EventAt {
        order_id: Some(o.id),
        inbound_id: None,
        at: now,
    };
    store::event(&mut tx, at, &event).await?;
    tx.commit().await?;
    Ok(DialogueOutcome::Done(Vec::new()))
}

fn no_order(reference: &str) -> DialogueOutcome {
    DialogueOutcome::Refused(format!("no order {reference}; see `spdesk orders list`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::plan::Event;

    #[tokio::test]
    async fn an_order_is_unanswered_from_a_message_until_an_answer_or_handled() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let now = Utc::now();
        sqlx::query(
            "INSERT INTO orders (id, ref, state, thread_subject, created_at, updated_at)
             VALUES (1, 'SP-2026-00001', 'approved', 's', $1, $1),
                    (2, 'SP-2026-00002', 'approved', 's', $1, $1)",
        )
        .bind(ts(now))
        .execute(&store.pool)
        .await
        .unwrap();
        let note = |order_id: i64, action: &str, minutes: i64| {
            let store = &store;
            let action = action.to_string();
            async move {
                let mut tx = store.begin().await.unwrap();
                let at = EventAt {
                    order_id: Some(order_id),
                    inbound_id: None,
                    at: now + chrono::TimeDelta::minutes(minutes),
                };
                store::event(&mut tx, at, &Event::note("x", &action, String::new()))
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        };
        note(1, CORRESPONDENCE, 1).await;
        note(2, CORRESPONDENCE, 2).await;
        note(2, REPLY, 3).await;
        let refs =
            |v: Vec<Unanswered>| v.into_iter().map(|u| u.order.reference).collect::<Vec<_>>();
        assert_eq!(
            refs(unanswered_orders(&store.pool).await.unwrap()),
            ["SP-2026-00001"]
        );
        // A new message after the answer: unanswered again, since that message.
        note(2, CORRESPONDENCE, 4).await;
        note(1, HANDLED, 5).await;
        let left = unanswered_orders(&store.pool).await.unwrap();
        assert_eq!(refs(left.clone()), ["SP-2026-00002"]);
        assert_eq!(
            left[0].received_at.timestamp(),
            (now + chrono::TimeDelta::minutes(4)).timestamp()
        );
        let mut tx = store.begin().await.unwrap();
        assert!(is_unanswered(&mut tx, 2).await.unwrap());
        assert!(!is_unanswered(&mut tx, 1).await.unwrap());
    }

    /// Two messages in one hour with room for one review mail: the first is forwarded and
    /// acknowledged, the second is noted in the history only (and acknowledged no more today).
    #[tokio::test]
    async fn messages_past_the_review_mail_limit_wait_in_the_digest() {
        use crate::orders::helpdesk::HelpdeskSettings;
        use crate::orders::plan::dialogue::{Correspondence, correspondence, day_start};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let now = Utc::now();
        let raw = b"From: fa@kommune.test\r\nSubject: [SP-2026-00001] Hej\r\nMessage-ID: <m@kommune.test>\r\n\r\nKan det rykkes?\r\n";
        sqlx::query(
            "INSERT INTO orders (id, ref, state, requester, thread_subject, created_at, updated_at)
             VALUES (1, 'SP-2026-00001', 'approved', 'fa@kommune.test', 's', $1, $1);
             INSERT INTO inbound_mail (id, message_key, mailbox, internal_date, stored_at, sha256, raw, disposition)
             VALUES (1, 'k1', 'INBOX', $1, $1, 'x', $2, 'correspondence'),
                    (2, 'k2', 'INBOX', $1, $1, 'y', $2, 'correspondence')",
        )
        .bind(ts(now))
        .bind(&raw[..])
        .execute(&store.pool)
        .await
        .unwrap();
        let helpdesk = HelpdeskSettings {
            address: "helpdesk@sp.test".into(),
            own_domains: Vec::new(),
            review_to: vec!["review@sp.test".into()],
            rates: crate::orders::rate::RateLimits {
                review_mails: 1,
                ..Default::default()
            },
        };
        let templates = crate::orders::receipts::Templates::builtin().unwrap();
        let how = Apply {
            templates: &templates,
            helpdesk: &helpdesk,
            now,
        };
        let ctx = Context {
            helpdesk: &helpdesk,
            register: None,
            incident_to: &[],
        };
        let mail = Mail::parse(raw, 1).unwrap();
        let order = store::order_by_ref(&store.pool, "SP-2026-00001")
            .await
            .unwrap()
            .unwrap();
        for inbound_id in [1, 2] {
            let mut tx = store.begin().await.unwrap();
            let acknowledged_today = acknowledged_since(&mut tx, 1, day_start(now))
                .await
                .unwrap();
            let input = Correspondence {
                order: &order,
                mail: &mail,
                inbound_id,
                raw_len: raw.len(),
                acknowledged_today,
                may_reply: true,
                now,
            };
            let e = correspondence(&input, &ctx);
            store_correspondence(&mut tx, &how, 1, inbound_id, &e, raw)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM outbox ORDER BY id")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(kinds, ["besked_til_helpdesk", "besked_modtaget"]);
        let actions: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM events WHERE order_id = 1 AND action <> 'receipt queued' ORDER BY id",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(
            actions,
            ["correspondence", "correspondence", "message not forwarded"]
        );
        assert_eq!(unanswered_orders(&store.pool).await.unwrap().len(), 1);
    }
}
