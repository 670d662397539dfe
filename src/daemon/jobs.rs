//! The periodic jobs' shell, shared by the CLI (`spdesk digest --send`, `spdesk billing run`)
//! and the daemon's [`crate::daemon::scheduler`]: read the database, let the pure
//! [`crate::schedule::digest`] and [`crate::schedule::billing`] decide, and queue the mail in
//! the caller's transaction.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::daemon::Shared;
use crate::orders::receipts::Templates;
use crate::schedule::billing::{self, BillingLine, Period};
use crate::schedule::digest::{self, Digest};
use crate::store::{self, Store, Tx};

/// What the jobs run with: the database, the config (`[helpdesk]`, `[billing]`) and the
/// templates loaded at start.
#[derive(Clone)]
pub struct Jobs {
    pub store: Store,
    pub config: Arc<Config>,
    pub templates: Arc<Templates>,
}

impl Jobs {
    pub fn of(shared: &Shared) -> Jobs {
        Jobs {
            store: shared.store.clone(),
            config: shared.config.clone(),
            templates: shared.templates.clone(),
        }
    }
}

/// Queues a mail composed here (digest, billing) in the outbox; a mail with the same
/// Message-ID already queued is left as it is. Returns whether it was new.
async fn enqueue(
    tx: &mut Tx<'_>,
    mail: store::StaffMail<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    store::enqueue_staff_mail(tx, mail, now, now, store::OnQueued::Keep).await
}

impl Jobs {
    /// The digest of the orders as they are at `now`.
    pub async fn build_digest(&self, now: DateTime<Utc>) -> anyhow::Result<Digest> {
        let orders = store::list_orders(&self.store.pool, None).await?;
        let calendar =
            crate::rules::calendar::Calendar::from_days(&self.config.rules.extra_closed_days);
        let mut d = digest::build(
            &orders,
            now,
            self.config.helpdesk.stale_rejected_days,
            &calendar,
        );
        let deferred = store::deferred_mails(&self.store.pool, now).await?;
        d.n_deferred = usize::try_from(deferred).unwrap_or(0);
        let shown = now - chrono::TimeDelta::days(digest::FAILED_SHOWN_DAYS);
        let failed = store::outbox::failed_receipts_since(&self.store.pool, shown).await?;
        digest::with_unsent_receipts(&mut d, &failed, now);
        let period = now - digest::NO_REPLY_PERIOD;
        let unanswered = store::inbound::unanswered_since(&self.store.pool, period).await?;
        digest::with_no_reply(&mut d, &unanswered);
        let messages = store::dialogue::unanswered_orders(&self.store.pool).await?;
        digest::with_unanswered(&mut d, &messages, now);
        Ok(d)
    }

    /// The digest as printed by `spdesk digest`: the subject, then the text.
    pub async fn digest_text(&self, now: DateTime<Utc>) -> anyhow::Result<String> {
        let d = self.build_digest(now).await?;
        let (text, _) = digest::render(&self.templates, &d).map_err(anyhow::Error::msg)?;
        Ok(format!("Emne: {}\n\n{text}", d.subject))
    }

    /// Builds today's digest and queues it to `helpdesk.digest_to` in the caller's
    /// transaction. The orders are read from the pool before, so SQLite's write lock, taken by
    /// the caller's first statement, is held only for the insert.
    pub async fn queue_digest(
        &self,
        tx: &mut Tx<'_>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<DigestQueued> {
        let d = self.build_digest(now).await?;
        let from = &self.config.helpdesk.address;
        let to = self.config.helpdesk.digest_to.clone();
        let (id, raw) = digest::compose(&self.templates, &d, from, &to, now.timestamp())
            .map_err(anyhow::Error::msg)?;
        let mail = store::StaffMail {
            kind: "digest",
            message_id: &id,
            from,
            to: &to,
            raw: &raw,
        };
        let new = enqueue(tx, mail, now).await?;
        Ok(DigestQueued {
            message_id: id,
            subject: d.subject,
            to,
            new,
        })
    }

    /// Bills every executed, unbilled order in the caller's transaction: marks `billed_at`,
    /// records an event per order, and queues ONE mail with the CSV to `helpdesk.billing_to`.
    /// The marking is the transaction's first statement (SQLite takes the write lock there),
    /// and it selects and marks in one step, so two runs never bill the same order; a run
    /// killed before the commit leaves every order unbilled.
    pub async fn bill(&self, tx: &mut Tx<'_>, now: DateTime<Utc>) -> anyhow::Result<Billed> {
        let cfg = &self.config;
        let ids = store::billing::mark_billed(tx, now).await?;
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
            lines.push(store::billing::line(tx, *id).await?);
        }
        sort_lines(&mut lines);
        let from = &cfg.helpdesk.address;
        let (message_id, raw) =
            billing::compose(&lines, &cfg.billing, now, from, &to).map_err(anyhow::Error::msg)?;
        let mail = store::StaffMail {
            kind: "billing",
            message_id: &message_id,
            from,
            to: &to,
            raw: &raw,
        };
        enqueue(tx, mail, now).await?;
        let note = format!("billing CSV {message_id} to {}", to.join(", "));
        for id in &ids {
            let at = store::EventAt {
                order_id: Some(*id),
                inbound_id: None,
                at: now,
            };
            let event = crate::orders::plan::Event::note("daemon", "billed", note.clone());
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
    pub async fn export(&self, period: Period) -> anyhow::Result<String> {
        let mut lines: Vec<BillingLine> = store::billing::executed_lines(&self.store)
            .await?
            .into_iter()
            .filter(|l| l.executed_at.is_some_and(|t| period.contains(t)))
            .collect();
        sort_lines(&mut lines);
        let b = &self.config.billing;
        Ok(billing::csv(&lines, &b.prices, &b.currency, b.csv))
    }
}

/// Billing lines in the order of their execution (then reference).
fn sort_lines(lines: &mut [BillingLine]) {
    lines.sort_by(|a, b| {
        a.executed_at
            .cmp(&b.executed_at)
            .then_with(|| a.reference.cmp(&b.reference))
    });
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
