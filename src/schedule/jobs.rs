//! The periodic jobs' shell, shared by the CLI (`spdesk digest --send`, `spdesk billing run`)
//! and the daemon's [`crate::daemon::scheduler`]: read the database, let the pure [`crate::schedule::digest`]
//! and [`crate::schedule::billing`] decide, and queue the mail in the caller's transaction.

use std::fmt;

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::cli::setup;
use crate::config::Config;
use crate::orders::receipts::Templates;
use crate::schedule::billing::{self, BillingLine, Period};
use crate::schedule::digest::{self, Digest};
use crate::store::{self, Store, Tx, ts};

/// Queues a mail composed here (digest, billing) in the outbox; a mail with the same
/// Message-ID already queued is left as it is. Returns whether it was new.
async fn enqueue(
    tx: &mut Tx<'_>,
    kind: &str,
    message_id: &str,
    from: &str,
    to: &[String],
    raw: &[u8],
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let mail = store::StaffMail {
        kind,
        message_id,
        from,
        to,
        raw,
    };
    store::enqueue_staff_mail(tx, mail, now, now, store::OnQueued::Keep).await
}

fn templates(cfg: &Config) -> anyhow::Result<Templates> {
    Templates::load(Some(&setup::templates_dir(cfg))).map_err(anyhow::Error::msg)
}

/// The digest of the orders as they are at `now`.
pub async fn build_digest(
    store: &Store,
    cfg: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<Digest> {
    let orders = store::list_orders(&store.pool, None).await?;
    let mut d = digest::build(&orders, now, cfg.helpdesk.stale_rejected_days);
    d.n_deferred = usize::try_from(store::deferred_mails(&store.pool, now).await?).unwrap_or(0);
    Ok(d)
}

/// The digest as printed by `spdesk digest`: the subject, then the text.
pub async fn digest_text(
    store: &Store,
    cfg: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let d = build_digest(store, cfg, now).await?;
    let (text, _) = digest::render(&templates(cfg)?, &d).map_err(anyhow::Error::msg)?;
    Ok(format!("Emne: {}\n\n{text}", d.subject))
}

/// What queueing the digest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestQueued {
    pub message_id: String,
    pub subject: String,
    pub to: Vec<String>,
    /// False when today's digest was queued before (it is not sent twice).
    pub new: bool,
}

impl fmt::Display for DigestQueued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.new {
            write!(
                f,
                "digest queued to {} ({}): {}",
                self.to.join(", "),
                self.message_id,
                self.subject
            )
        } else {
            write!(
                f,
                "today's digest ({}) was already queued; not sent again",
                self.message_id
            )
        }
    }
}

/// Builds today's digest and queues it to `helpdesk.digest_to` in the caller's transaction.
/// The orders are read from the pool before, so SQLite's write lock, taken by the caller's
/// first statement, is held only for the insert.
pub async fn queue_digest(
    store: &Store,
    tx: &mut Tx<'_>,
    cfg: &Config,
    now: DateTime<Utc>,
) -> anyhow::Result<DigestQueued> {
    let d = build_digest(store, cfg, now).await?;
    let from = &cfg.helpdesk.address;
    let to = cfg.helpdesk.digest_to.clone();
    let (id, raw) = digest::compose(&templates(cfg)?, &d, from, &to, now.timestamp())
        .map_err(anyhow::Error::msg)?;
    let new = enqueue(tx, "digest", &id, from, &to, &raw, now).await?;
    Ok(DigestQueued {
        message_id: id,
        subject: d.subject,
        to,
        new,
    })
}

/// What a billing run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Billed {
    pub references: Vec<String>,
    /// The mail's Message-ID; `None` when nothing was to be billed (no mail).
    pub message_id: Option<String>,
    pub to: Vec<String>,
}

impl fmt::Display for Billed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message_id {
            None => write!(f, "billing: no executed, unbilled orders"),
            Some(id) => write!(
                f,
                "billing: {} order(s) billed ({}); the CSV is queued to {} ({id})",
                self.references.len(),
                self.references.join(", "),
                self.to.join(", ")
            ),
        }
    }
}

const LINE_COLUMNS: &str = "id, ref, kind, bestillings_id, org_name, org_cvr, system_name, executed_at, updated_at, billed_at";

fn line_from_row(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<BillingLine> {
    let t = |name: &str| crate::store::ts_column(r, name);
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

/// Bills every executed, unbilled order in the caller's transaction: marks `billed_at`,
/// records an event per order, and queues ONE mail with the CSV to `helpdesk.billing_to`.
/// The marking is the transaction's first statement (SQLite takes the write lock there), and
/// it selects and marks in one step, so two runs never bill the same order; a run killed
/// before the commit leaves every order unbilled.
pub async fn bill(tx: &mut Tx<'_>, cfg: &Config, now: DateTime<Utc>) -> anyhow::Result<Billed> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE orders SET billed_at = ?1
         WHERE state = 'executed' AND billed_at IS NULL
         RETURNING id",
    )
    .bind(ts(now))
    .fetch_all(&mut **tx)
    .await?;
    let to = cfg.helpdesk.billing_to.clone();
    if ids.is_empty() {
        return Ok(Billed {
            references: Vec::new(),
            message_id: None,
            to,
        });
    }
    let mut lines = Vec::with_capacity(ids.len());
    for id in &ids {
        let sql = format!("SELECT {LINE_COLUMNS} FROM orders WHERE id = ?1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut **tx)
            .await?;
        lines.push(line_from_row(&row)?);
    }
    lines.sort_by(|a, b| {
        a.executed_at
            .cmp(&b.executed_at)
            .then_with(|| a.reference.cmp(&b.reference))
    });
    let from = &cfg.helpdesk.address;
    let (message_id, raw) = billing::compose(
        &lines,
        &cfg.billing.prices,
        &cfg.billing.currency,
        now,
        from,
        &to,
    )
    .map_err(anyhow::Error::msg)?;
    enqueue(tx, "billing", &message_id, from, &to, &raw, now).await?;
    for id in &ids {
        let at = store::EventAt {
            order_id: Some(*id),
            inbound_id: None,
            at: now,
        };
        let detail = format!("billing CSV {message_id} to {}", to.join(", "));
        let event = crate::orders::plan::Event::note("daemon", "billed", detail);
        store::event(tx, at, &event).await?;
    }
    Ok(Billed {
        references: lines.into_iter().map(|l| l.reference).collect(),
        message_id: Some(message_id),
        to,
    })
}

/// `spdesk billing export`: the CSV of the orders executed in `period` (Copenhagen time),
/// with their `billed_at` (empty when not yet billed). Read-only.
pub async fn export(store: &Store, cfg: &Config, period: Period) -> anyhow::Result<String> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM orders WHERE state = 'executed' ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&store.pool)
        .await?;
    let mut lines = Vec::new();
    for r in &rows {
        let l = line_from_row(r)?;
        if l.executed_at.is_some_and(|t| period.contains(t)) {
            lines.push(l);
        }
    }
    lines.sort_by(|a, b| {
        a.executed_at
            .cmp(&b.executed_at)
            .then_with(|| a.reference.cmp(&b.reference))
    });
    Ok(billing::csv(
        &lines,
        &cfg.billing.prices,
        &cfg.billing.currency,
    ))
}
