//! The mailroom: the stored mails that made no order or were never answered (the console's
//! `/post`), and "Opret ordre", which turns one into an order for a person to fill in.
//!
//! A mail is of this kind when the intake did not answer it (`ignored`: a bounce, an
//! auto-reply, list mail, spam, our own mail), quarantined it (a reader failed on it, or it is
//! over a limit), or when it landed on no order at all (anything else unanswered). Each has a
//! `why`: the `ignored` event's (as the digest's "Post uden svar" counts it,
//! [`super::inbound::IGNORED_WHY`]), else [`QUARANTINED`] or [`UNANSWERED`].

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use super::Backend;

use super::Store;
use super::apply::{self, Apply};
use crate::mail::Mail;
use crate::orders::plan::{self, Context};

/// The `why` of a quarantined mail the intake did not mark as never answered.
pub const QUARANTINED: &str = "quarantined";
/// The `why` of any other mail that landed on no order.
pub const UNANSWERED: &str = "unanswered";

/// The mails of the mailroom with their `why`, as SQL (a sub-select; `m` is the mail).
fn post_sql(extra: &str) -> String {
    let why = super::inbound::IGNORED_WHY;
    format!(
        "SELECT m.id, m.internal_date, m.sender, m.subject, m.disposition, m.note,
                COALESCE((SELECT {why} FROM events e
                          WHERE e.inbound_id = m.id AND e.action = 'ignored' ORDER BY e.id LIMIT 1),
                         CASE WHEN m.disposition = 'quarantined' THEN '{QUARANTINED}'
                              ELSE '{UNANSWERED}' END) AS why
         FROM inbound_mail m
         WHERE (m.disposition IN ('ignored', 'quarantined')
                OR (NOT EXISTS (SELECT 1 FROM order_versions v WHERE v.inbound_id = m.id)
                    AND NOT EXISTS (SELECT 1 FROM events e
                                    WHERE e.inbound_id = m.id AND e.order_id IS NOT NULL)))
               {extra}"
    )
}

/// The orders a mail is tied to, as SQL over the sub-select `p`: the order made of it (its
/// version's mail), and the order it is about (a bounce of that order's receipt, a note).
const ORDER_REFS: &str = "
    (SELECT o.ref FROM order_versions v JOIN orders o ON o.id = v.order_id
     WHERE v.inbound_id = p.id ORDER BY v.id LIMIT 1) AS made,
    (SELECT o.ref FROM events e JOIN orders o ON o.id = e.order_id
     WHERE e.inbound_id = p.id AND e.order_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM order_versions v
                       WHERE v.inbound_id = p.id AND v.order_id = e.order_id)
     ORDER BY e.id LIMIT 1) AS about";

/// One mailroom mail by its id, with its orders.
static ONE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT p.*, {ORDER_REFS} FROM ({}) p",
        post_sql("AND m.id = $1")
    )
});

/// One mail of the mailroom.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PostMail {
    pub id: i64,
    /// When the Helpdesk's server accepted it (stored RFC 3339).
    pub internal_date: String,
    pub sender: Option<String>,
    pub subject: String,
    pub disposition: String,
    /// What the intake noted (why it was quarantined, a reused Message-ID).
    pub note: String,
    /// Why it was not answered (see the module doc).
    pub why: String,
    /// The order made of this mail ("Opret ordre", or the intake's order for a quarantined mail).
    pub made: Option<String>,
    /// The order it is about (the order whose receipt bounced).
    pub about: Option<String>,
}

/// How many mails of the mailroom there are per `why`, sorted by `why`.
pub async fn counts(pool: &AnyPool) -> anyhow::Result<Vec<(String, i64)>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT why, COUNT(*) FROM ({}) AS p GROUP BY why ORDER BY why",
            post_sql("")
        )
    });
    Ok(sqlx::query_as(SQL.as_str()).fetch_all(pool).await?)
}

/// A page of the mailroom, newest first: `limit` mails after `offset`, only those with one of
/// `whys` when given.
pub async fn page(
    pool: &AnyPool,
    whys: Option<&[String]>,
    limit: i64,
    offset: i64,
) -> anyhow::Result<Vec<PostMail>> {
    fn sql(backend: Backend) -> String {
        format!(
            "SELECT p.*, {ORDER_REFS} FROM ({}) p
             WHERE $1 IS NULL OR p.why IN ({})
             ORDER BY p.internal_date DESC, p.id DESC LIMIT $2 OFFSET $3",
            post_sql(""),
            super::json_texts(backend, "$1")
        )
    }
    static SQLITE: LazyLock<String> = LazyLock::new(|| sql(Backend::Sqlite));
    static POSTGRES: LazyLock<String> = LazyLock::new(|| sql(Backend::Postgres));
    let filter = whys.map(|w| serde_json::Value::from(w.to_vec()).to_string());
    let sql = match Backend::of_pool(pool) {
        Backend::Sqlite => SQLITE.as_str(),
        Backend::Postgres => POSTGRES.as_str(),
    };
    Ok(sqlx::query_as(sql)
        .bind(filter)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?)
}

/// One mail of the mailroom; `None` when there is no such mail or it is not of this kind (a
/// mail filed on an order is shown on its order).
pub async fn mail(pool: &AnyPool, id: i64) -> anyhow::Result<Option<PostMail>> {
    Ok(sqlx::query_as(ONE.as_str())
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// The bytes of a mailroom mail, as they came; `None` as for [`mail`].
pub async fn raw(pool: &AnyPool, id: i64) -> anyhow::Result<Option<Vec<u8>>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT raw FROM inbound_mail WHERE id IN (SELECT id FROM ({}) AS p)",
            post_sql("AND m.id = $1")
        )
    });
    Ok(sqlx::query_scalar(SQL.as_str())
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// What "Opret ordre" came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// A new order with this reference.
    New(String),
    /// The mail had been made into this order before; nothing new.
    Existing(String),
}

impl Made {
    pub fn reference(&self) -> &str {
        match self {
            Made::New(r) | Made::Existing(r) => r,
        }
    }
}

/// "Opret ordre": makes the mailroom mail `id` (parsed as `parsed`) an order in review, as
/// `person`, in ONE transaction ([`plan::post::order_from_post`] decides what it is); a mail
/// made into an order before gives that order. `None`: no such mailroom mail.
pub async fn make_order(
    store: &Store,
    id: i64,
    parsed: &Mail,
    person: &str,
    ctx: &Context<'_>,
    apply_with: &Apply<'_>,
) -> anyhow::Result<Option<Made>> {
    let mut tx = store.begin().await?;
    let found: Option<PostMail> = sqlx::query_as(ONE.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(found) = found else {
        return Ok(None);
    };
    if let Some(existing) = found.made {
        return Ok(Some(Made::Existing(existing)));
    }
    let now: DateTime<Utc> = apply_with.now;
    let reference = super::next_reference(&mut tx, now).await?;
    // A mail the intake marked never to be answered keeps that: its order has no requester.
    let answerable = found.disposition != "ignored";
    let effects = plan::post::order_from_post(&reference, parsed, person, answerable, ctx);
    let landed = apply::mail(&mut tx, apply_with, id, &effects).await?;
    tx.commit().await?;
    Ok(Some(Made::New(landed.reference)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::helpdesk::HelpdeskSettings;
    use crate::orders::receipts::Templates;

    const SPAM: &[u8] = b"From: spam@elsewhere.test\r\nTo: helpdesk@sp.test\r\nSubject: Tilbud\r\nMessage-ID: <s1@elsewhere.test>\r\nX-Spam-Flag: YES\r\n\r\nKoeb nu.\r\n";

    /// A mailroom of five mails: spam (ignored), a quarantined mail the intake made an order
    /// of, an ordinary order's mail, correspondence on it, and a mail that landed nowhere.
    async fn mailroom() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO inbound_mail (id, message_key, mailbox, internal_date, stored_at, sender, subject, sha256, raw, disposition, note)
             VALUES (1, 'k1', 'INBOX', '2026-12-01T08:00:00.000Z', 't', 'spam@elsewhere.test', 'Tilbud', 's', $1, 'ignored', ''),
                    (2, 'k2', 'INBOX', '2026-12-01T09:00:00.000Z', 't', 'a@kommune.test', 'PDF', 's', x'00', 'quarantined', 'the reader timed out'),
                    (3, 'k3', 'INBOX', '2026-12-01T10:00:00.000Z', 't', 'a@kommune.test', 'Bestilling', 's', x'00', 'order', ''),
                    (4, 'k4', 'INBOX', '2026-12-01T11:00:00.000Z', 't', 'a@kommune.test', 'Re: Bestilling', 's', x'00', 'correspondence', ''),
                    (5, 'k5', 'INBOX', '2026-12-01T12:00:00.000Z', 't', 'b@kommune.test', 'Hej', 's', x'00', 'order', '');
             INSERT INTO orders (id, ref, state, created_at, updated_at)
             VALUES (1, 'SP-2025-00001', 'review', 't', 't'), (2, 'SP-2025-00002', 'approved', 't', 't');
             INSERT INTO order_versions (order_id, version, inbound_id, form_index, judgement, decision, created_at)
             VALUES (1, 1, 2, 0, '{}', 'review', 't'), (2, 1, 3, 0, '{}', 'approve', 't');
             INSERT INTO events (order_id, inbound_id, at, actor, action, detail)
             VALUES (NULL, 1, 't', 'daemon', 'ignored', 'spam from spam@elsewhere.test; no receipt'),
                    (2, 4, 't', 'a@kommune.test', 'correspondence', 'Re: Bestilling');",
        )
        .bind(SPAM)
        .execute(&store.pool)
        .await
        .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn the_mailroom_holds_what_made_no_order_or_got_no_answer() {
        let (_dir, store) = mailroom().await;
        let counts = counts(&store.pool).await.unwrap();
        assert_eq!(
            counts,
            vec![
                (QUARANTINED.to_string(), 1),
                ("spam".to_string(), 1),
                (UNANSWERED.to_string(), 1)
            ]
        );
        let all = page(&store.pool, None, 50, 0).await.unwrap();
        let ids: Vec<i64> = all.iter().map(|m| m.id).collect();
        assert_eq!(ids, vec![5, 2, 1], "newest first");
        assert_eq!(all[1].made.as_deref(), Some("SP-2025-00001"));
        assert_eq!(all[1].note, "the reader timed out");
        let spam = page(&store.pool, Some(&["spam".to_string()]), 50, 0)
            .await
            .unwrap();
        assert_eq!(spam.len(), 1);
        assert_eq!(spam[0].why, "spam");
        assert_eq!(page(&store.pool, None, 1, 1).await.unwrap()[0].id, 2);
        for filed in [3, 4, 99] {
            assert!(mail(&store.pool, filed).await.unwrap().is_none(), "{filed}");
            assert!(raw(&store.pool, filed).await.unwrap().is_none(), "{filed}");
        }
        assert_eq!(raw(&store.pool, 1).await.unwrap().unwrap(), SPAM);
    }

    #[tokio::test]
    async fn a_mail_becomes_one_order_in_review_in_the_persons_name_without_a_receipt() {
        let (_dir, store) = mailroom().await;
        let helpdesk = HelpdeskSettings {
            address: "helpdesk@sp.test".into(),
            own_domains: vec!["sp.test".into()],
            review_to: vec!["review@sp.test".into()],
            rates: crate::orders::rate::RateLimits::default(),
        };
        let templates = Templates::builtin().unwrap();
        let ctx = Context {
            helpdesk: &helpdesk,
            register: None,
            incident_to: &[],
        };
        let with = Apply {
            templates: &templates,
            helpdesk: &helpdesk,
            now: Utc::now(),
        };
        let parsed = Mail::parse(SPAM, 1).unwrap();
        let first = make_order(&store, 1, &parsed, "kim", &ctx, &with)
            .await
            .unwrap()
            .unwrap();
        let Made::New(reference) = &first else {
            panic!("a new order, was {first:?}");
        };
        let again = make_order(&store, 1, &parsed, "bo", &ctx, &with)
            .await
            .unwrap();
        assert_eq!(again, Some(Made::Existing(reference.clone())));
        let quarantined = make_order(&store, 2, &parsed, "kim", &ctx, &with)
            .await
            .unwrap();
        assert_eq!(quarantined, Some(Made::Existing("SP-2025-00001".into())));
        assert_eq!(
            make_order(&store, 3, &parsed, "kim", &ctx, &with)
                .await
                .unwrap(),
            None
        );

        let (state, requester): (String, Option<String>) =
            sqlx::query_as("SELECT state, requester FROM orders WHERE ref = $1")
                .bind(reference)
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(state, "review");
        assert_eq!(requester, None, "spam is never answered: no requester");
        let events: Vec<(String, String)> = sqlx::query_as(
            "SELECT e.actor, e.action FROM events e JOIN orders o ON o.id = e.order_id
             WHERE o.ref = $1 ORDER BY e.id",
        )
        .bind(reference)
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(
            events,
            vec![
                ("kim".to_string(), "received".to_string()),
                ("daemon".to_string(), "judged".to_string())
            ]
        );
        let outbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(outbox, 0, "no receipt, no review mail");
        let listed = mail(&store.pool, 1).await.unwrap().unwrap();
        assert_eq!(listed.made.as_deref(), Some(reference.as_str()));
    }
}
