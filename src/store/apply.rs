//! Performs the effects [`crate::orders::plan`] decided, in the caller's transaction: the
//! order's state and marks, the events, the outbox rows. What only the store can know is
//! decided here, as the rows are written: the reference counter and the version number, the
//! hourly limits (a receipt over one is deferred to the first hour they allow, never
//! dropped; a review mail over its limit joins the hourly summary instead).

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;
use tracing::warn;

use crate::orders::helpdesk::HelpdeskSettings;
use crate::orders::plan::{ActionEffects, Incident, MailEffects, Mark, Opening, Receipt};
use crate::orders::receipts::{Compose, OutAttachment, ReceiptKind, Templates, compose_with};
use crate::orders::staff_files::{MAX_STAFF_FILE_BYTES, parse_for_staff, staff_files};
use crate::store::mail::{NewOrder, change_state, insert_order, insert_version, update_summary};
use crate::store::{self, EventAt, OrderRow, Tx, ts};

/// What performing effects needs besides the transaction.
#[derive(Clone, Copy)]
pub struct Apply<'a> {
    pub templates: &'a Templates,
    pub helpdesk: &'a HelpdeskSettings,
    pub now: DateTime<Utc>,
}

/// The order a mail landed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    pub order_id: i64,
    pub reference: String,
    pub version: i64,
}

/// Performs what a mail does to one order (in [`MailEffects`]'s order).
pub async fn mail(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    inbound_id: i64,
    e: &MailEffects,
) -> anyhow::Result<Landed> {
    let now = a.now;
    let (order_id, reference) = open(tx, inbound_id, &e.opening, now).await?;
    let version = insert_version(tx, order_id, inbound_id, &e.version, now).await?;
    if let Some((other, event)) = &e.refused {
        let at = EventAt {
            order_id: Some(*other),
            inbound_id: Some(inbound_id),
            at: now,
        };
        store::event(tx, at, event).await?;
    }
    if let Some(r) = &e.received {
        queue(tx, a, order_id, version, r, &[]).await?;
    }
    change_state(tx, order_id, None, &e.verdict, now).await?;
    if let Some(r) = &e.verdict_receipt {
        queue(tx, a, order_id, version, r, &[]).await?;
    }
    if let Some((other, r)) = &e.notice {
        queue(tx, a, *other, version, r, &[]).await?;
    }
    for event in [&e.not_theirs, &e.no_receipt].into_iter().flatten() {
        let at = EventAt {
            order_id: Some(order_id),
            inbound_id: Some(inbound_id),
            at: now,
        };
        store::event(tx, at, event).await?;
    }
    if let Some(r) = &e.review {
        review_mail(tx, a, order_id, version, r, inbound_id).await?;
    }
    Ok(Landed {
        order_id,
        reference,
        version,
    })
}

/// A new order row with its first event, or a new version's state change and summary.
async fn open(
    tx: &mut Tx<'_>,
    inbound_id: i64,
    opening: &Opening,
    now: DateTime<Utc>,
) -> anyhow::Result<(i64, String)> {
    match opening {
        Opening::New {
            reference,
            summary,
            requester,
            reply_to,
            thread,
            event,
        } => {
            let order = NewOrder {
                reference,
                summary,
                requester: requester.as_deref(),
                reply_to: reply_to.as_deref(),
                thread: thread.as_ref(),
            };
            let id = insert_order(tx, &order, now).await?;
            let at = EventAt {
                order_id: Some(id),
                inbound_id: Some(inbound_id),
                at: now,
            };
            store::event(tx, at, event).await?;
            Ok((id, reference.clone()))
        }
        Opening::Version {
            order_id,
            reference,
            summary,
            event,
        } => {
            change_state(tx, *order_id, Some(inbound_id), event, now).await?;
            // Keep the order's summary columns current with the newest version (a new order
            // has them from its INSERT already; an UPDATE of them would cost a round trip).
            update_summary(tx, *order_id, summary, now).await?;
            Ok((*order_id, reference.clone()))
        }
    }
}

/// Queues one receipt of a mail. A receipt over an hourly limit (per address, overall) is
/// deferred to the first hour the limits allow, never dropped; mail to the Helpdesk is not
/// limited here.
pub(crate) async fn queue(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    order_id: i64,
    version: i64,
    r: &Receipt,
    files: &[OutAttachment<'_>],
) -> anyhow::Result<()> {
    if r.to.is_empty() {
        return Ok(());
    }
    let rates = &a.helpdesk.rates;
    let keys = if r.kind == ReceiptKind::HelpdeskVurdering {
        Vec::new()
    } else {
        crate::orders::rate::receipt_keys(&r.to, rates)
    };
    // Checked and counted in the transaction: a failure rolls the counts back with the mail.
    let slot = store::take_rate_slot(tx, &keys, a.now).await?;
    let out = compose_receipt(a, r.version.unwrap_or(version), r, files)?;
    let what = store::enqueue_for_order(tx, order_id, &out, a.now).await?;
    if !slot.full.is_empty() {
        let start = DateTime::from_timestamp(crate::orders::rate::hour_start(slot.hour), 0);
        let not_before = start.map_or(a.now, |s| s.max(a.now));
        let why = format!(
            "{what} deferred until {}: {}",
            ts(not_before),
            crate::orders::rate::deferral_reason(&slot.full, rates)
        );
        let reference = &r.values.reference;
        warn!(reference, receipt = r.kind.code(), limits = ?slot.full, not_before = %ts(not_before), "receipt rate limit reached; the receipt is deferred");
        store::defer_queued(tx, Some(order_id), &out.message_id, not_before, a.now, &why).await?;
    }
    Ok(())
}

pub(crate) fn compose_receipt(
    a: &Apply<'_>,
    version: i64,
    r: &Receipt,
    attachments: &[OutAttachment<'_>],
) -> anyhow::Result<crate::orders::receipts::Outgoing> {
    compose_with(
        a.templates,
        Compose {
            kind: r.kind,
            reference: &r.values.reference,
            version,
            from: &a.helpdesk.address,
            to: r.to.clone(),
            thread: &r.thread,
            subject: r.subject.clone(),
            date: a.now.timestamp(),
        },
        &r.values,
        attachments,
    )
    .map_err(anyhow::Error::msg)
}

/// The review mail to the Helpdesk with the mail's files attached (`orders::staff_files`), or
/// past `limits.review_mails_per_hour` the order's place in the hourly summary.
async fn review_mail(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    order_id: i64,
    version: i64,
    r: &Receipt,
    inbound_id: i64,
) -> anyhow::Result<()> {
    let counted = store::count_hourly(tx, crate::orders::rate::REVIEW_MAILS, 1, a.now).await?;
    if counted > a.helpdesk.rates.review_mails {
        return gather_in_review_summary(tx, a, order_id, &r.values.reference).await;
    }
    let raw = crate::store::versions::inbound_raw(tx, inbound_id).await?;
    let mail = parse_for_staff(&raw, MAX_STAFF_FILE_BYTES);
    let files = staff_files(
        &raw,
        mail.as_ref(),
        MAX_STAFF_FILE_BYTES,
        &r.values.reference,
    );
    let mut r = r.clone();
    r.values.files_note = files.note;
    queue(tx, a, order_id, version, &r, &files.files).await
}

/// Past `limits.review_mails_per_hour`: the order is not mailed on its own but named in the
/// one summary mail sent to `review_to` at the start of the next clock hour (rewritten as more
/// orders join it), and its history says so.
async fn gather_in_review_summary(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    order_id: i64,
    reference: &str,
) -> anyhow::Result<()> {
    let limit = a.helpdesk.rates.review_mails;
    let hour = crate::orders::rate::hour_of(a.now.timestamp()) + 1;
    let (total, listed) = store::gather_for_review_summary(tx, hour, reference).await?;
    let from = &a.helpdesk.address;
    let to = &a.helpdesk.review_to;
    let (id, raw) = crate::orders::review_summary::compose(
        hour,
        &listed,
        total,
        limit,
        from,
        to,
        a.now.timestamp(),
    )
    .map_err(anyhow::Error::msg)?;
    let not_before = DateTime::from_timestamp(crate::orders::rate::hour_start(hour), 0)
        .map_or(a.now, |t| t.max(a.now));
    let mail = store::StaffMail {
        kind: crate::orders::review_summary::KIND,
        message_id: &id,
        from,
        to,
        raw: &raw,
    };
    store::enqueue_staff_mail(tx, mail, a.now, not_before, store::OnQueued::Replace).await?;
    warn!(
        reference,
        limit,
        summary = id,
        "review mail limit reached; the order joins the hourly summary"
    );
    let event = crate::orders::plan::Event {
        actor: "daemon".into(),
        action: "review mail gathered".into(),
        from: None,
        to: None,
        detail: format!(
            "more than {limit} review mails an hour: named in the summary {id}, sent at {}",
            ts(not_before)
        ),
    };
    let at = EventAt {
        order_id: Some(order_id),
        inbound_id: None,
        at: a.now,
    };
    store::event(tx, at, &event).await
}

/// Performs a person's action: the state change, its mark and event, the receipt (a person's
/// action is not a flood: not rate limited) and the incident mail with `original` attached.
/// Returns the queued mails as `kind to a, b`.
pub async fn action(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    o: &OrderRow,
    e: &ActionEffects,
    original: &[u8],
) -> anyhow::Result<Vec<String>> {
    change_state(tx, o.id, None, &e.event, a.now).await?;
    match e.mark {
        Some(Mark::Executed) => store::set_executed_at(tx, o.id, a.now).await?,
        Some(Mark::Incident) => store::set_incident_at(tx, o.id, a.now).await?,
        Some(Mark::Planned(at)) => store::set_planned_at(tx, o.id, at, a.now).await?,
        None => {}
    }
    let mut mails = Vec::new();
    if let Some(r) = &e.receipt {
        let out = compose_receipt(a, r.version.unwrap_or_default(), r, &[])?;
        mails.push(store::enqueue_for_order(tx, o.id, &out, a.now).await?);
    }
    if let Some(incident) = &e.incident {
        mails.push(incident_mail(tx, a, o.id, incident, original).await?);
    }
    Ok(mails)
}

/// The incident mail: the order's history as the Helpdesk reads it (Copenhagen time, the
/// failure included), the original mail attached.
async fn incident_mail(
    tx: &mut Tx<'_>,
    a: &Apply<'_>,
    order_id: i64,
    incident: &Incident,
    original: &[u8],
) -> anyhow::Result<String> {
    let mut values = incident.values.clone();
    values.events = store::events_of(&mut **tx, order_id)
        .await?
        .into_iter()
        .map(|mut e| {
            e.action = crate::orders::values::danish_action(&e.action);
            e.from_state = e
                .from_state
                .map(|s| crate::orders::values::danish_state(&s));
            e.to_state = e.to_state.map(|s| crate::orders::values::danish_state(&s));
            if let Some(t) = store::parse_ts(&e.at) {
                e.at = t
                    .with_timezone(&Copenhagen)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string();
            }
            e
        })
        .collect();
    let mail = parse_for_staff(original, MAX_STAFF_FILE_BYTES);
    let files = staff_files(
        original,
        mail.as_ref(),
        MAX_STAFF_FILE_BYTES,
        &values.reference,
    );
    values.files_note = files.note;
    let attachments = files.files;
    let out = compose_with(
        a.templates,
        Compose {
            kind: ReceiptKind::Incident,
            reference: &values.reference,
            version: incident.version,
            from: &a.helpdesk.address,
            to: incident.to.clone(),
            thread: &crate::orders::receipts::Thread::default(),
            subject: Some(incident.subject.clone()),
            date: a.now.timestamp(),
        },
        &values,
        &attachments,
    )
    .map_err(anyhow::Error::msg)?;
    store::enqueue_for_order(tx, order_id, &out, a.now).await
}
