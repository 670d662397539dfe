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
use sqlx::SqlitePool;

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
        post_sql("AND m.id = ?1")
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
pub async fn counts(pool: &SqlitePool) -> anyhow::Result<Vec<(String, i64)>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT why, COUNT(*) FROM ({}) GROUP BY why ORDER BY why",
            post_sql("")
        )
    });
    Ok(sqlx::query_as(SQL.as_str()).fetch_all(pool).await?)
}

/// A page of the mailroom, newest first: `limit` mails after `offset`, only those with one of
/// `whys` when given.
pub async fn page(
    pool: &SqlitePool,
    whys: Option<&[String]>,
    limit: i64,
    offset: i64,
) -> anyhow::Result<Vec<PostMail>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT p.*, {ORDER_REFS} FROM ({}) p
             WHERE ?1 IS NULL OR p.why IN (SELECT value FROM json_each(?1))
             ORDER BY p.internal_date DESC, p.id DESC LIMIT ?2 OFFSET ?3",
            post_sql("")
        )
    });
    let filter = whys.map(|w| serde_json::Value::from(w.to_vec()).to_string());
    Ok(sqlx::query_as(SQL.as_str())
        .bind(filter)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?)
}

/// One mail of the mailroom; `None` when there is no such mail or it is not of this kind (a
/// mail filed on an order is shown on its order).
pub async fn mail(pool: &SqlitePool, id: i64) -> anyhow::Result<Option<PostMail>> {
    Ok(sqlx::query_as(ONE.as_str())
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// The bytes of a mailroom mail, as they came; `None` as for [`mail`].
pub async fn raw(pool: &SqlitePool, id: i64) -> anyhow::Result<Option<Vec<u8>>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT raw FROM inbound_mail WHERE id IN (SELECT id FROM ({}))",
            post_sql("AND m.id = ?1")
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
    let effects = plan::post::order_from_post(&reference, parsed, person, ctx);
    let landed = apply::mail(&mut tx, apply_with, id, &effects).await?;
    tx.commit().await?;
    Ok(Some(Made::New(landed.reference)))
}
