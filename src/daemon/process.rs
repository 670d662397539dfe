//! Stores one received mail and everything it causes — inbound row, orders, versions, state
//! changes, events and outbox rows — in ONE transaction. The judgement comes in already made
//! (by [`crate::judge`]); this module finds where it lands (the order the mail replies to,
//! the target of each form, the sender's standing), [`crate::orders::plan`] decides what
//! follows and [`crate::store::apply`] writes it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::judge::{JudgedForm, Judgement, Named};
use crate::mail::Mail;
use crate::orders::ownership::{KnownOrder, Sender as OwnershipSender, standing};
use crate::orders::plan;
use crate::orders::receipts::{ReceiptKind, Templates};
use crate::rules::finding::{Decision, Finding};
use crate::rules::it_systems::Register;
use crate::store::apply::{self, Apply};
use crate::store::mail::Inbound;
use crate::store::{self, EventAt, OrderRow, Tx};

/// Where a message came from in the mailbox.
#[derive(Debug, Clone)]
pub struct Origin {
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    /// IMAP INTERNALDATE: when the Helpdesk's server accepted the mail.
    pub internal_date: DateTime<Utc>,
}

pub use crate::orders::helpdesk::HelpdeskSettings;

/// The key a message is stored under, its content identity (DESIGN.md "Intake is
/// exactly-once"): the hash of its content without trace headers
/// ([`crate::mail::identity::content_sha256`]) and its Message-ID when it has one. The same
/// mail delivered twice has the same key; a different mail reusing a Message-ID has another.
/// (Rows stored before keep their `mid:` keys; their place in the mailbox still finds them.)
pub fn message_key(message_id: Option<&str>, raw: &[u8]) -> String {
    let content = crate::mail::identity::content_sha256(raw);
    match message_id.map(str::trim).filter(|m| !m.is_empty()) {
        // A Message-ID may be as long as a header field (tens of kilobytes); the key must fit
        // a database index entry, so a long one is kept as its hash.
        Some(id) if id.len() > MAX_KEYED_MESSAGE_ID => {
            use sha2::Digest;
            let hashed = hex::encode(sha2::Sha256::digest(id.as_bytes()));
            format!("sha256:{content} mid-sha256:{hashed}")
        }
        Some(id) => format!("sha256:{content} mid:{id}"),
        None => format!("sha256:{content}"),
    }
}

/// The longest Message-ID kept as it is in a mail's key (RFC 5322's line limit is 998).
const MAX_KEYED_MESSAGE_ID: usize = 998;

/// What happened to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Already stored earlier (a redelivery, or a crash between commit and move).
    Duplicate,
    /// Stored; these orders were created or got a new version.
    Orders(Vec<Judged>),
    /// Stored as correspondence on an order.
    Correspondence(String),
    /// Stored, not answered (bounce, auto-reply, list, our own mail).
    Ignored(String),
}

/// One order a mail created or gave a new version. Logged by the caller after the commit, so
/// a transaction that is retried (a database outage) does not log its verdicts twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub reference: String,
    pub version: i64,
    pub decision: Decision,
    pub findings: usize,
    /// No readable form: the order went to a person as it is.
    pub unreadable: bool,
}

/// Everything `store_mail` needs.
pub struct Intake<'a> {
    pub raw: &'a [u8],
    /// The mail's [`message_key`], as intake counted its attempts under it.
    pub key: &'a str,
    pub mail: &'a Mail,
    pub judgement: &'a Judgement,
    pub origin: &'a Origin,
    pub helpdesk: &'a HelpdeskSettings,
    /// The it-system register, when configured: a contact e-mail listed for the form's
    /// it-system gets the receipts too.
    pub register: Option<&'a Register>,
    pub templates: &'a Templates,
    pub now: DateTime<Utc>,
    /// Judges a form made from an earlier version (a partial correction) as this mail's, with
    /// the certificates of the mails given (newest first); `None` (a quarantined mail): no
    /// partial corrections.
    pub rejudge: Option<&'a Rejudge<'a>>,
}

/// How [`Intake::rejudge`] judges a form: the judge's pipeline with this mail's context, the
/// certificates taken from the mails given.
pub type Rejudge<'a> =
    dyn Fn(crate::forms::form::OrderForm, &[Mail]) -> JudgedForm + Send + Sync + 'a;

/// Stores the mail and applies its judgement, in the caller's transaction.
pub async fn store_mail(tx: &mut Tx<'_>, i: &Intake<'_>) -> anyhow::Result<Outcome> {
    let ours = is_our_mail(i.mail, i.helpdesk);
    let ignored = ours || i.judgement.flags.no_reply();
    let sha = hex::encode(Sha256::digest(i.raw));
    let row = Inbound {
        key: i.key,
        message_id: i.mail.message_id.as_deref(),
        mailbox: &i.origin.mailbox,
        uidvalidity: i.origin.uidvalidity,
        uid: i.origin.uid,
        internal_date: i.origin.internal_date,
        sender: i.mail.from.as_deref(),
        subject: &i.mail.subject,
        sha256: &sha,
        raw: i.raw,
        disposition: if ignored { "ignored" } else { "order" },
    };
    let Some(stored) = store::mail::insert_inbound(tx, &row, i.now).await? else {
        return Ok(Outcome::Duplicate);
    };
    let outcome = dispose(tx, i, stored.id, ours).await?;
    if let Some(earlier) = stored.same_message_id {
        warn!(
            message_id = ?i.mail.message_id,
            "a different mail with the Message-ID of an earlier one; both kept and noted"
        );
        store::inbound::note_reused_message_id(tx, earlier, stored.id, i.now).await?;
    }
    Ok(outcome)
}

/// What a stored mail comes to: ignored, correspondence, an order for a person, or its forms'
/// orders.
async fn dispose(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    ours: bool,
) -> anyhow::Result<Outcome> {
    let flags = i.judgement.flags;
    let ignored = ours || flags.no_reply();
    if ignored {
        let why = if ours {
            "our own mail"
        } else if flags.spam {
            "spam"
        } else if flags.bounce {
            "a bounce"
        } else if flags.auto_reply {
            "an auto-reply"
        } else {
            "a mailing-list mail"
        };
        return ignore(tx, i, inbound_id, why).await;
    }

    let thread_order = store::known::thread_order(tx, i.mail).await?;
    let sender = i.mail.from.as_deref().unwrap_or("");
    let may_reply = !i.helpdesk.is_own(sender) && i.mail.reply_address().is_some();

    if let Some(order) = &thread_order
        && (i.judgement.forms.is_empty()
            || only_lines(&i.judgement.forms)
            || lines_for_a_rejected(tx, i, order).await?)
        && may_write_to(tx, i, order).await?
    {
        return lines_or_message(tx, i, inbound_id, order, may_reply).await;
    }
    if i.judgement.forms.is_empty() {
        return without_a_form(tx, i, inbound_id, thread_order, may_reply).await;
    }

    if let Some(held) = hold_over_the_order_cap(tx, i, inbound_id, may_reply).await? {
        return Ok(held);
    }

    let mut refs = Vec::new();
    for (index, jf) in i.judgement.forms.iter().enumerate() {
        let form = FormAt {
            inbound_id,
            index,
            jf,
            thread: thread_order.as_ref(),
            may_reply,
            keep: false,
        };
        refs.push(apply_form(tx, i, &form).await?);
    }
    Ok(Outcome::Orders(refs))
}

/// A mail never answered: stored, and a bounce of one of our receipts goes into that order's
/// history.
async fn ignore(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    why: &str,
) -> anyhow::Result<Outcome> {
    let at = |order_id| EventAt {
        order_id,
        inbound_id: Some(inbound_id),
        at: i.now,
    };
    for id in i.mail.returned_message_ids() {
        if let Some(order) = store::order_by_receipt_id(tx, &id).await? {
            store::event(tx, at(Some(order.id)), &plan::bounced(&id)).await?;
        }
    }
    store::event(tx, at(None), &plan::ignored(why, i.mail)).await?;
    Ok(Outcome::Ignored(why.to_string()))
}

/// A mail without a form: correspondence on the order it replies to, from the people who may
/// write to it; else (from anyone else, or about no order) an order for a person.
async fn without_a_form(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    thread_order: Option<OrderRow>,
    may_reply: bool,
) -> anyhow::Result<Outcome> {
    let (thread_order, not_theirs) = match thread_order {
        Some(o) if !may_write_to(tx, i, &o).await? => (None, Some(o)),
        other => (other, None),
    };
    if let Some(order) = thread_order {
        return correspondence(tx, i, inbound_id, &order, may_reply).await;
    }
    let kind = if i.judgement.no_form {
        ReceiptKind::IngenFormular
    } else {
        ReceiptKind::Ulaeselig
    };
    let person = ForAPerson {
        findings: &i.judgement.findings,
        receipt: may_reply.then_some(kind),
        what: "bestilling der ikke kunne læses",
        not_theirs: not_theirs.as_ref(),
    };
    let (judged, _) = order_for_a_person(tx, i, inbound_id, &person).await?;
    Ok(Outcome::Orders(vec![judged]))
}

/// Forms that are only lines in the mail's text without a BestillingsID: in a mail about an
/// order, not a whole form but a message (or a partial correction), so they never make a new
/// order.
fn only_lines(forms: &[JudgedForm]) -> bool {
    forms.iter().all(|f| {
        f.source == crate::forms::extract::BODY_SOURCE && f.form.bestillings_id().is_none()
    })
}

/// Forms in the text of a reply to a rejected order that name it (or no order) and lack the
/// form's required fields: no whole form but the lines of a partial correction (FORMS.md
/// rule 3), as [`plan::partial::only_lines_of`] decides with the rejected version.
async fn lines_for_a_rejected(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    order: &OrderRow,
) -> anyhow::Result<bool> {
    if order.state != crate::orders::state::State::Rejected || i.rejudge.is_none() {
        return Ok(false);
    }
    let latest = store::actions::latest_version(tx, order.id).await?;
    Ok(plan::partial::only_lines_of(
        &i.judgement.forms,
        order.bestillings_id.as_deref(),
        &latest.judgement,
    ))
}

/// A mail about an order from someone who may write about it, without a whole form: a partial
/// correction of a rejected order when its lines give fields the rejection named, else a
/// message (correspondence).
async fn lines_or_message(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    order: &OrderRow,
    may_reply: bool,
) -> anyhow::Result<Outcome> {
    if order.state == crate::orders::state::State::Rejected
        && let Some(rejudge) = i.rejudge
        && let Some(judged) =
            partial_correction(tx, i, inbound_id, order, may_reply, rejudge).await?
    {
        return Ok(Outcome::Orders(vec![judged]));
    }
    correspondence(tx, i, inbound_id, order, may_reply).await
}

/// A partial correction (FORMS.md rule 3): the previous version with the fields the rejection
/// named replaced by the mail's lines, judged (with the certificates of every mail of the
/// order, this one first) and applied like any corrected version — of THIS order, whatever
/// BestillingsID it now names (the BestillingsID rule judges that). `None`: the lines name
/// none of those fields.
async fn partial_correction(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    order: &OrderRow,
    may_reply: bool,
    rejudge: &Rejudge<'_>,
) -> anyhow::Result<Option<Judged>> {
    let text = plan::dialogue::message_text(i.mail);
    let lines = crate::forms::read::text::read_text(&text, crate::forms::extract::BODY_SOURCE);
    let latest = store::actions::latest_version(tx, order.id).await?;
    let Some(correction) = plan::partial::partial_correction(&latest.judgement, &lines) else {
        return Ok(None);
    };
    let Some(form) = crate::forms::form::interpret(&correction.form) else {
        return Ok(None);
    };
    let mut evidence = vec![i.mail.clone()];
    for raw in store::versions::order_mails(tx, order.id).await? {
        evidence.extend(Mail::parse(&raw, 0));
    }
    let jf = rejudge(form, &evidence);
    let at = FormAt {
        inbound_id,
        index: 0,
        jf: &jf,
        thread: Some(order),
        may_reply,
        keep: true,
    };
    let judged = apply_form(tx, i, &at).await?;
    let event = plan::Event::note(
        i.mail.from.as_deref().unwrap_or(""),
        "partial correction",
        plan::partial::replaced_detail(&correction.replaced),
    );
    // The version is this order's (`keep`), so its history tells of the correction.
    let at = EventAt {
        order_id: Some(order.id),
        inbound_id: Some(inbound_id),
        at: i.now,
    };
    store::event(tx, at, &event).await?;
    Ok(Some(judged))
}

/// A message about an order from someone who may write about it: kept with its text on the
/// order (unanswered until a person answers or marks it handled), forwarded to
/// `helpdesk.review_to` with the original attached, acknowledged once a day at most.
async fn correspondence(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    order: &OrderRow,
    may_reply: bool,
) -> anyhow::Result<Outcome> {
    store::mail::mark_correspondence(tx, inbound_id).await?;
    let since = plan::dialogue::day_start(i.now);
    let acknowledged_today = store::dialogue::acknowledged_since(tx, order.id, since).await?;
    let input = plan::Correspondence {
        order,
        mail: i.mail,
        inbound_id,
        raw_len: i.raw.len(),
        acknowledged_today,
        may_reply,
        now: i.now,
    };
    let effects = plan::dialogue::correspondence(&input, &context(i));
    store::dialogue::store_correspondence(tx, &applying(i), order.id, inbound_id, &effects, i.raw)
        .await?;
    Ok(Outcome::Correspondence(order.reference.clone()))
}

/// Our own receipts (our loop header or one of our Message-IDs) are never processed as orders.
fn is_our_mail(mail: &Mail, h: &HelpdeskSettings) -> bool {
    let loop_header = mail
        .headers_named(crate::orders::receipts::LOOP_HEADER)
        .any(|v| v.eq_ignore_ascii_case(&h.address));
    let our_id = mail
        .message_id
        .as_deref()
        .is_some_and(|m| crate::mail::own_id::is_ours(m, h.our_domain()));
    loop_header || our_id
}

/// A sender over `limits.orders_per_sender_per_hour`: the mail's forms are not made into
/// orders. The mail is kept and gathered on ONE review order per sender and clock hour — the
/// first such mail makes it (the sender gets one `til_vurdering` receipt, the Helpdesk one
/// review mail), later ones are added to its history — so a flood of forms costs a person one
/// order to look at, and nothing is lost. `None`: under the cap, go on as usual.
async fn hold_over_the_order_cap(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    may_reply: bool,
) -> anyhow::Result<Option<Outcome>> {
    let sender = i.mail.from.as_deref().unwrap_or("");
    let limit = i.helpdesk.rates.orders_per_sender;
    let forms = i64::try_from(i.judgement.forms.len()).unwrap_or(i64::MAX);
    let counted =
        store::count_hourly(tx, &crate::orders::rate::orders_key(sender), forms, i.now).await?;
    if counted <= limit {
        return Ok(None);
    }
    let address = crate::orders::rate::counted_address(sender);
    warn!(sender = %address, limit, forms, "orders per sender per hour reached; the mail goes to a person");
    if let Some((order_id, reference)) = store::held_mail_order(tx, &address, i.now).await? {
        let at = EventAt {
            order_id: Some(order_id),
            inbound_id: Some(inbound_id),
            at: i.now,
        };
        let event = plan::held(&address, limit, forms, i.mail);
        store::event(tx, at, &event).await?;
        return Ok(Some(Outcome::Correspondence(reference)));
    }
    let finding = plan::over_the_order_cap(&address, limit, i.mail);
    let person = ForAPerson {
        findings: std::slice::from_ref(&finding),
        receipt: may_reply.then_some(ReceiptKind::TilVurdering),
        what: "bestillinger over grænsen pr. afsender",
        not_theirs: None,
    };
    let (judged, order_id) = order_for_a_person(tx, i, inbound_id, &person).await?;
    store::set_held_mail_order(tx, &address, i.now, order_id).await?;
    Ok(Some(Outcome::Orders(vec![judged])))
}

/// What goes to a person as it is: why, the receipt that answers the sender, what the review
/// mail calls it, the order the mail refers to but may not write to.
struct ForAPerson<'a> {
    findings: &'a [Finding],
    receipt: Option<ReceiptKind>,
    what: &'a str,
    not_theirs: Option<&'a OrderRow>,
}

/// An order for a person (`review`) made of the whole mail, its forms not applied, as
/// [`plan::mail_for_a_person`] plans it. Returns the order's id too.
async fn order_for_a_person(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    p: &ForAPerson<'_>,
) -> anyhow::Result<(Judged, i64)> {
    let reference = store::next_reference(tx, i.now).await?;
    let filenames = i
        .judgement
        .unreadable
        .iter()
        .map(|u| u.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let input = plan::MailForAPerson {
        reference: &reference,
        mail: i.mail,
        findings: p.findings,
        receipt: p.receipt,
        what: p.what,
        filenames: &filenames,
        problems: &i.judgement.problems,
        not_theirs: p.not_theirs,
    };
    let effects = plan::mail_for_a_person(&input, &context(i));
    let landed = apply::mail(tx, &applying(i), inbound_id, &effects).await?;
    let judged = Judged {
        reference: landed.reference,
        version: landed.version,
        decision: Decision::Review,
        findings: p.findings.len(),
        unreadable: true,
    };
    Ok((judged, landed.order_id))
}

/// What the plan decides with.
fn context<'a>(i: &Intake<'a>) -> plan::Context<'a> {
    plan::Context {
        helpdesk: i.helpdesk,
        register: i.register,
        incident_to: &[],
    }
}

/// What the store applies with.
fn applying<'a>(i: &Intake<'a>) -> Apply<'a> {
    Apply {
        templates: i.templates,
        helpdesk: i.helpdesk,
        now: i.now,
    }
}

/// The target of a form (FORMS.md rule 3), as the judge decides it ([`JudgedForm::aim`]) from
/// the orders the form names, read here in the transaction so that a form sees the order an
/// earlier form of the same mail made: the order it corrects (none: a new order), and the
/// open order it named but may not change (then the version, new order or not, went to a
/// person with `form.ambiguous`).
async fn target_order(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    jf: &mut JudgedForm,
    thread: Option<&OrderRow>,
) -> anyhow::Result<(Option<OrderRow>, Option<OrderRow>)> {
    // A form without a BestillingsID never touches an existing order.
    let Some(id) = jf.form.bestillings_id() else {
        return Ok((None, None));
    };
    let sender = i.judgement.sender();
    let (rows, with_id): (Vec<OrderRow>, Vec<KnownOrder>) = store::known::orders_named(tx, id)
        .await?
        .into_iter()
        .unzip();
    // The thread's order has the ID (and is among `with_id`), none yet, or another one (and
    // is no target).
    let thread_known = match thread {
        Some(o) if o.bestillings_id.is_none() && o.state.is_open() => {
            Some(known_order(tx, i.register, o, &sender).await?)
        }
        Some(o) => with_id
            .iter()
            .find(|k| k.reference == o.reference)
            .cloned()
            .or_else(|| Some(store::known::known_order(o, None))),
        None => None,
    };
    let named = Named {
        thread: thread_known.as_ref(),
        with_id: &with_id,
    };
    jf.aim(named, &sender, i.register);
    let row = |reference: Option<&String>| {
        let reference = reference?;
        thread
            .into_iter()
            .chain(&rows)
            .find(|o| &o.reference == reference)
            .cloned()
    };
    let refused = jf.target.refused.as_ref().map(|(r, _)| r);
    Ok((row(jf.target.version_of.as_ref()), row(refused)))
}

/// The order as the judge knows it. The register is asked about (a query for the order's
/// it-system) only when one is configured and the sender is not the requester.
async fn known_order(
    tx: &mut Tx<'_>,
    register: Option<&Register>,
    o: &OrderRow,
    sender: &OwnershipSender<'_>,
) -> anyhow::Result<KnownOrder> {
    let is_requester = o
        .requester
        .as_deref()
        .is_some_and(|r| r.trim().eq_ignore_ascii_case(sender.address.trim()));
    let system_uuid = match register {
        Some(_) if !is_requester => store::order_system_uuid(tx, o.id).await?,
        _ => None,
    };
    Ok(store::known::known_order(o, system_uuid))
}

/// The sender may add correspondence to the order (any state): the same people who may
/// correct it.
async fn may_write_to(tx: &mut Tx<'_>, i: &Intake<'_>, o: &OrderRow) -> anyhow::Result<bool> {
    let sender = i.judgement.sender();
    let known = known_order(tx, i.register, o, &sender).await?;
    Ok(standing(&known.owner(i.register), &sender).is_some())
}

/// One form of a mail and where it stands: its index, the order the mail's thread names,
/// whether the sender is answered.
struct FormAt<'a> {
    inbound_id: i64,
    index: usize,
    jf: &'a JudgedForm,
    thread: Option<&'a OrderRow>,
    may_reply: bool,
    /// A partial correction: the version is the thread order's, whatever BestillingsID it
    /// names (a new one after a duplicate-ID rejection must not open a second order).
    keep: bool,
}

/// Applies one judged form: its target (a new order or a version of an existing one), then
/// what [`plan::mail_form`] decides, written by [`apply::mail`].
async fn apply_form(tx: &mut Tx<'_>, i: &Intake<'_>, f: &FormAt<'_>) -> anyhow::Result<Judged> {
    // The judge adds `form.ambiguous` (and review) when the form may not change the order
    // it names.
    let mut jf = f.jf.clone();
    let (mut existing, refused) = target_order(tx, i, &mut jf, f.thread).await?;
    if f.keep {
        existing = f.thread.cloned();
    }
    // The requester of the order the form may not change is told once a day at most.
    let requester_told_lately = match &refused {
        Some(r) => {
            let since = i.now - plan::REFUSAL_NOTICE_EVERY;
            store::has_event_since(tx, r.id, plan::REFUSED, since).await?
        }
        None => false,
    };
    let reference = match &existing {
        Some(o) => o.reference.clone(),
        None => store::next_reference(tx, i.now).await?,
    };
    let input = plan::MailForm {
        reference: &reference,
        index: f.index,
        form: &jf,
        target: existing.as_ref(),
        refused: refused.as_ref(),
        requester_told_lately,
        mail: i.mail,
        may_reply: f.may_reply,
        now: i.now,
    };
    let effects = plan::mail_form(&input, &context(i)).map_err(|r| anyhow::anyhow!(r.0))?;
    let landed = apply::mail(tx, &applying(i), f.inbound_id, &effects).await?;
    Ok(Judged {
        reference: landed.reference,
        version: landed.version,
        decision: jf.decision,
        findings: jf.findings.len(),
        unreadable: false,
    })
}
