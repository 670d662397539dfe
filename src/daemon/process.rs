//! Stores one received mail and everything it causes — inbound row, orders, versions, state
//! changes, events and outbox rows — in ONE transaction. The judgement comes in already made
//! (by [`crate::judge`]); this module only decides how it lands on the orders.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::forms::fields::field;
use crate::judge::{JudgedForm, Judgement, Named};
use crate::mail::{Mail, domain_of};
use crate::orders::ownership::{KnownOrder, Sender as OwnershipSender, standing};
use crate::orders::receipts::{Compose, ReceiptKind, Templates, Thread, compose};
use crate::orders::state::{Action, State, transition};
use crate::rules::finding::{Decision, Finding, Rule, Severity};
use crate::rules::it_systems::{Register, SystemEntry};
use crate::store::{self, OrderRow, Tx, ts};

/// Where a message came from in the mailbox.
#[derive(Debug, Clone)]
pub struct Origin {
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    /// IMAP INTERNALDATE: when the Helpdesk's server accepted the mail.
    pub internal_date: DateTime<Utc>,
}

/// The Helpdesk settings the intake needs.
#[derive(Debug, Clone)]
pub struct HelpdeskSettings {
    pub address: String,
    pub own_domains: Vec<String>,
    pub review_to: Vec<String>,
    /// The hourly limits on receipts; a receipt over one is deferred, never dropped.
    pub rates: crate::orders::rate::RateLimits,
}

impl HelpdeskSettings {
    /// Our own address or one of our domains: never answered.
    pub fn is_own(&self, address: &str) -> bool {
        let a = address.to_lowercase();
        if a == self.address.to_lowercase() {
            return true;
        }
        let domain = a.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.own_domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    fn our_domain(&self) -> &str {
        self.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// The key a message is stored under: its Message-ID, else a hash of its bytes.
pub fn message_key(message_id: Option<&str>, raw: &[u8]) -> String {
    match message_id.map(str::trim).filter(|m| !m.is_empty()) {
        Some(id) => format!("mid:{id}"),
        None => format!("sha256:{}", hex::encode(Sha256::digest(raw))),
    }
}

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
    pub mail: &'a Mail,
    pub judgement: &'a Judgement,
    pub origin: &'a Origin,
    pub helpdesk: &'a HelpdeskSettings,
    /// The it-system register, when configured: a contact e-mail listed for the form's
    /// it-system gets the receipts too.
    pub register: Option<&'a Register>,
    pub templates: &'a Templates,
    pub now: DateTime<Utc>,
}

/// Stores the mail and applies its judgement, in the caller's transaction.
pub async fn store_mail(tx: &mut Tx<'_>, i: &Intake<'_>) -> anyhow::Result<Outcome> {
    let key = message_key(i.mail.message_id.as_deref(), i.raw);
    let sha = hex::encode(Sha256::digest(i.raw));
    let ours = is_our_mail(i.mail, i.helpdesk);
    let flags = i.judgement.flags;
    let disposition = if ours || flags.no_reply() {
        "ignored"
    } else {
        "order"
    };
    // RETURNING gives the new row's id; no row means the mail was stored before.
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO inbound_mail (message_key, message_id, mailbox, uidvalidity, uid, internal_date, stored_at, sender, subject, sha256, raw, disposition)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(&key)
    .bind(&i.mail.message_id)
    .bind(&i.origin.mailbox)
    .bind(i.origin.uidvalidity.map(i64::from))
    .bind(i.origin.uid.map(i64::from))
    .bind(ts(i.origin.internal_date))
    .bind(ts(i.now))
    .bind(&i.mail.from)
    .bind(&i.mail.subject)
    .bind(&sha)
    .bind(i.raw)
    .bind(disposition)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(inbound_id) = inserted else {
        return Ok(Outcome::Duplicate);
    };
    let sender = i.mail.from.clone().unwrap_or_default();

    if ours || flags.no_reply() {
        let why = if ours {
            "our own mail"
        } else if flags.bounce {
            "a bounce"
        } else if flags.auto_reply {
            "an auto-reply"
        } else {
            "a mailing-list mail"
        };
        // A bounce of one of our receipts goes into that order's history.
        for id in i.mail.returned_message_ids() {
            if let Some(order) = store::order_by_receipt_id(tx, &id).await? {
                store::event(
                    tx,
                    Some(order.id),
                    Some(inbound_id),
                    i.now,
                    "daemon",
                    "receipt bounced",
                    None,
                    None,
                    &format!("the receipt {id} could not be delivered"),
                )
                .await?;
            }
        }
        store::event(
            tx,
            None,
            Some(inbound_id),
            i.now,
            "daemon",
            "ignored",
            None,
            None,
            &format!("{why} from {sender}; no receipt"),
        )
        .await?;
        return Ok(Outcome::Ignored(why.to_string()));
    }

    let thread_order = store::known::thread_order(tx, i.mail).await?;
    let may_reply = !i.helpdesk.is_own(&sender) && i.mail.reply_address().is_some();

    if i.judgement.forms.is_empty() {
        // From anyone but the people who may write to the order, a reply is new mail for a
        // person: it is not added to the order.
        let (thread_order, not_theirs) = match thread_order {
            Some(o) if !may_write_to(tx, i, &o).await? => (None, Some(o)),
            other => (other, None),
        };
        if let Some(order) = thread_order {
            // A reply without a form: correspondence for the Helpdesk.
            sqlx::query("UPDATE inbound_mail SET disposition = 'correspondence' WHERE id = ?1")
                .bind(inbound_id)
                .execute(&mut **tx)
                .await?;
            store::event(
                tx,
                Some(order.id),
                Some(inbound_id),
                i.now,
                &sender,
                "correspondence",
                None,
                None,
                &format!("mail \"{}\" without a form", i.mail.subject),
            )
            .await?;
            return Ok(Outcome::Correspondence(order.reference));
        }
        let judged = unreadable_order(tx, i, inbound_id, may_reply, not_theirs.as_ref()).await?;
        return Ok(Outcome::Orders(vec![judged]));
    }

    if let Some(held) = hold_over_the_order_cap(tx, i, inbound_id, may_reply).await? {
        return Ok(held);
    }

    let mut refs = Vec::new();
    for (index, jf) in i.judgement.forms.iter().enumerate() {
        let r = apply_form(
            tx,
            i,
            inbound_id,
            index,
            jf,
            thread_order.as_ref(),
            may_reply,
        )
        .await?;
        refs.push(r);
    }
    Ok(Outcome::Orders(refs))
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

/// The recipients of a receipt for a mail: its reply address (Reply-To in From's domain,
/// else From), and the form's contact e-mail when [`contact_gets_receipts`] allows it. Our own
/// addresses are removed.
pub fn receipt_recipients(
    mail: &Mail,
    contact: Option<&str>,
    system: Option<&SystemEntry>,
    h: &HelpdeskSettings,
) -> Vec<String> {
    recipients(
        mail.reply_address(),
        mail.from.as_deref(),
        contact,
        system,
        h,
    )
}

/// The recipients of a receipt from an order's stored addresses (`spdesk orders approve`
/// and `reject` answer the same people as the daemon did).
pub fn recipients(
    reply: Option<&str>,
    from: Option<&str>,
    contact: Option<&str>,
    system: Option<&SystemEntry>,
    h: &HelpdeskSettings,
) -> Vec<String> {
    let mut to = Vec::new();
    if let Some(r) = reply_address(reply, from) {
        to.push(r);
    }
    if let Some(c) = contact.and_then(|c| contact_gets_receipts(from, c, system))
        && !to.contains(&c)
    {
        to.push(c);
    }
    // An address no header may carry (a control character, a bracket) is never answered:
    // the composer refuses it (header_value::Address).
    to.retain(|a| !h.is_own(a) && crate::mail::header_value::Address::new(a).is_some());
    to
}

/// Where a receipt to the sender goes: Reply-To only when it is in From's own domain
/// (case-insensitive), else From. From is the address a receipt answers; an unverified
/// Reply-To elsewhere would let anyone aim receipts at a third party (DESIGN.md "Receipts per
/// order").
fn reply_address(reply: Option<&str>, from: Option<&str>) -> Option<String> {
    fn present(a: Option<&str>) -> Option<&str> {
        a.map(str::trim).filter(|a| !a.is_empty())
    }
    let from = present(from);
    let from_domain = from.map(domain_of).filter(|d| !d.is_empty());
    match present(reply) {
        Some(r) if from_domain.is_some_and(|d| d == domain_of(r)) => Some(r.to_lowercase()),
        _ => from.map(str::to_lowercase),
    }
}

/// The form's contact e-mail, normalised, when receipts may go to it (DESIGN.md "Receipts per
/// order"): a valid address in the sender's (From) own domain, or one listed for the form's
/// it-system in the register — never an arbitrary address typed into a form.
pub fn contact_gets_receipts(
    from: Option<&str>,
    contact: &str,
    system: Option<&SystemEntry>,
) -> Option<String> {
    let c = crate::forms::values::email(contact)?.to_lowercase();
    let same_domain = from.is_some_and(|f| {
        let d = domain_of(f.trim());
        !d.is_empty() && d == domain_of(&c)
    });
    let registered = system.is_some_and(|s| s.allows_contact(&c));
    (same_domain || registered).then_some(c)
}

/// The register's entry for the form's it-system, if a register is configured and knows it.
fn registered_system<'r>(
    form: &crate::forms::form::OrderForm,
    register: Option<&'r Register>,
) -> Option<&'r SystemEntry> {
    if form.invalid.contains("system_uuid") {
        return None;
    }
    register?.lookup(form.text("system_uuid")?)
}

/// Values the receipt templates can use.
#[derive(Serialize, Default)]
struct ReceiptValues {
    #[serde(rename = "ref")]
    reference: String,
    bestillings_id: Option<String>,
    contact_name: Option<String>,
    kind_title: Option<String>,
    system_name: Option<String>,
    org_name: Option<String>,
    planned_at: Option<String>,
    findings: Vec<String>,
    adm: Option<String>,
    filenames: String,
    requester: Option<String>,
    original_subject: String,
    fields: Vec<LabelValue>,
    attachments: String,
}

#[derive(Serialize)]
struct LabelValue {
    label: String,
    value: String,
}

fn values_for(reference: &str, jf: Option<&JudgedForm>, mail: &Mail) -> ReceiptValues {
    let text = |code: &str| jf.and_then(|f| f.form.text(code)).map(str::to_string);
    ReceiptValues {
        reference: reference.to_string(),
        bestillings_id: text("bestillings_id"),
        contact_name: text("contact_name"),
        kind_title: jf.map(|f| f.kind.title().to_string()),
        system_name: text("system_name"),
        org_name: text("org_name"),
        planned_at: jf
            .and_then(|f| f.planned_at)
            .map(|p| crate::rules::calendar::danish_datetime(&p)),
        requester: mail.from.clone(),
        original_subject: mail.subject.clone(),
        fields: jf
            .map(|f| {
                f.fields
                    .iter()
                    .map(|(code, v)| LabelValue {
                        label: field(code).map(|d| d.label).unwrap_or(code).to_string(),
                        value: match v {
                            crate::forms::form::Value::Text(s) => s.clone(),
                            crate::forms::form::Value::List(l) => l.join(", "),
                            crate::forms::form::Value::Int(n) => n.to_string(),
                        },
                    })
                    .collect()
            })
            .unwrap_or_default(),
        attachments: mail
            .attachments
            .iter()
            .filter_map(|a| a.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
        ..ReceiptValues::default()
    }
}

/// Queues one mail. A receipt over an hourly limit (per address, overall) is deferred to the
/// first hour the limits allow, never dropped; mail to the Helpdesk is not limited here.
#[allow(clippy::too_many_arguments)]
async fn queue(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    order_id: i64,
    reference: &str,
    version: i64,
    kind: ReceiptKind,
    to: Vec<String>,
    subject: Option<String>,
    values: &ReceiptValues,
) -> anyhow::Result<()> {
    let thread = Thread {
        message_id: i.mail.message_id.clone(),
        references: i.mail.references.clone(),
        subject: i.mail.subject.clone(),
    };
    let mail = (kind, to, subject);
    queue_in_thread(tx, i, &thread, order_id, reference, version, mail, values).await
}

/// [`queue`] in a given thread (a mail about an order that answers none of the mail's own).
#[allow(clippy::too_many_arguments)]
async fn queue_in_thread(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    thread: &Thread,
    order_id: i64,
    reference: &str,
    version: i64,
    (kind, to, subject): (ReceiptKind, Vec<String>, Option<String>),
    values: &ReceiptValues,
) -> anyhow::Result<()> {
    if to.is_empty() {
        return Ok(());
    }
    let rates = &i.helpdesk.rates;
    let keys = if kind == ReceiptKind::HelpdeskVurdering {
        Vec::new()
    } else {
        crate::orders::rate::receipt_keys(&to, rates)
    };
    // Checked and counted in the transaction: a failure rolls the counts back with the mail.
    let slot = store::take_rate_slot(tx, &keys, i.now).await?;
    let out = compose(
        i.templates,
        Compose {
            kind,
            reference,
            version,
            from: &i.helpdesk.address,
            to,
            thread,
            subject,
            date: i.now.timestamp(),
        },
        values,
    )
    .map_err(anyhow::Error::msg)?;
    let what = store::enqueue_for_order(tx, order_id, &out, i.now).await?;
    if !slot.full.is_empty() {
        let start = DateTime::from_timestamp(crate::orders::rate::hour_start(slot.hour), 0);
        let not_before = start.map_or(i.now, |s| s.max(i.now));
        let why = format!(
            "{what} deferred until {}: {}",
            ts(not_before),
            crate::orders::rate::deferral_reason(&slot.full, rates)
        );
        warn!(reference, receipt = kind.code(), limits = ?slot.full, not_before = %ts(not_before), "receipt rate limit reached; the receipt is deferred");
        store::defer_queued(tx, Some(order_id), &out.message_id, not_before, i.now, &why).await?;
    }
    Ok(())
}

/// Creates a new order row in state `received`, with its first event.
async fn new_order(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    jf: Option<&JudgedForm>,
    inbound_id: i64,
) -> anyhow::Result<(i64, String)> {
    let reference = store::next_reference(tx, i.now).await?;
    let text = |code: &str| jf.and_then(|f| f.form.text(code)).map(str::to_string);
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO orders (ref, state, kind, bestillings_id, org_name, org_cvr, system_name, requester, reply_to, contact_email, thread_message_id, thread_subject, created_at, updated_at, planned_at)
         VALUES (?1, 'received', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13) RETURNING id",
    )
    .bind(&reference)
    .bind(jf.map(|f| f.kind.code()))
    .bind(jf.and_then(|f| f.form.bestillings_id()).map(str::to_string))
    .bind(text("org_name"))
    .bind(text("org_cvr"))
    .bind(text("system_name"))
    .bind(&i.mail.from)
    .bind(i.mail.reply_address())
    .bind(text("contact_email"))
    .bind(&i.mail.message_id)
    .bind(&i.mail.subject)
    .bind(ts(i.now))
    .bind(jf.and_then(|f| f.planned_at).map(|p| ts(p.with_timezone(&Utc))))
    .fetch_one(&mut **tx)
    .await?;
    store::event(
        tx,
        Some(id),
        Some(inbound_id),
        i.now,
        i.mail.from.as_deref().unwrap_or(""),
        "received",
        None,
        Some(State::Received),
        &i.mail.subject,
    )
    .await?;
    Ok((id, reference))
}

async fn insert_version(
    tx: &mut Tx<'_>,
    order_id: i64,
    inbound_id: i64,
    index: usize,
    judgement: &serde_json::Value,
    decision: Decision,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    // The next version number is found and taken in the same statement (one round trip to the
    // connection's worker thread instead of two); the write lock of the transaction keeps it
    // from being taken twice.
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO order_versions (order_id, version, inbound_id, form_index, judgement, decision, created_at)
         SELECT ?1, COALESCE(MAX(version), 0) + 1, ?2, ?3, ?4, ?5, ?6 FROM order_versions WHERE order_id = ?1
         RETURNING version",
    )
    .bind(order_id)
    .bind(inbound_id)
    .bind(index as i64)
    .bind(judgement.to_string())
    .bind(decision.as_str())
    .bind(ts(now))
    .fetch_one(&mut **tx)
    .await?;
    Ok(version)
}

/// Moves a received version to the state its verdict leads to, with the findings in the event.
async fn record_verdict(
    tx: &mut Tx<'_>,
    order_id: i64,
    decision: Decision,
    findings: &[Finding],
    now: DateTime<Utc>,
) -> anyhow::Result<State> {
    let next = transition(State::Received, Action::Judge(decision)).map_err(anyhow::Error::msg)?;
    let summary: Vec<String> = findings
        .iter()
        .map(|f| format!("{}: {}", f.rule.id(), f.message))
        .collect();
    // What `store::set_state` and `store::event` write, sent as one query of two statements:
    // one round trip to the connection's worker thread instead of two.
    sqlx::query(
        "UPDATE orders SET state = ?1, updated_at = ?2 WHERE id = ?3;
         INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         VALUES (?3, NULL, ?2, 'daemon', 'judged', ?4, ?1, ?5)",
    )
    .bind(next.as_str())
    .bind(ts(now))
    .bind(order_id)
    .bind(State::Received.as_str())
    .bind(summary.join("\n"))
    .execute(&mut **tx)
    .await?;
    Ok(next)
}

/// A mail with no readable form: an order for a person (`review`), and a reply that says what
/// to send instead. `not_theirs`: the order the mail refers to but may not write to; the
/// Helpdesk is told, the order is not touched.
async fn unreadable_order(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    may_reply: bool,
    not_theirs: Option<&OrderRow>,
) -> anyhow::Result<Judged> {
    let kind = if i.judgement.no_form {
        ReceiptKind::IngenFormular
    } else {
        ReceiptKind::Ulaeselig
    };
    order_for_a_person(
        tx,
        i,
        inbound_id,
        &i.judgement.findings,
        may_reply.then_some(kind),
        "bestilling der ikke kunne læses",
        not_theirs,
    )
    .await
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
    let why = format!(
        "Afsenderen {address} har sendt mere end {limit} bestillinger inden for en time. Bestillingen i mailen \"{}\" er ikke behandlet automatisk; en medarbejder i Helpdesk ser den igennem.",
        i.mail.subject
    );
    warn!(sender = %address, limit, forms, "orders per sender per hour reached; the mail goes to a person");
    if let Some((order_id, reference)) = store::held_mail_order(tx, &address, i.now).await? {
        store::event(
            tx,
            Some(order_id),
            Some(inbound_id),
            i.now,
            sender,
            "mail held",
            None,
            None,
            &format!(
                "mail \"{}\" with {forms} form(s), over {limit} orders an hour from {address}; a person decides",
                i.mail.subject
            ),
        )
        .await?;
        return Ok(Some(Outcome::Correspondence(reference)));
    }
    let finding = Finding::new(Rule::FormAmbiguous, None, why);
    let judged = order_for_a_person(
        tx,
        i,
        inbound_id,
        std::slice::from_ref(&finding),
        may_reply.then_some(ReceiptKind::TilVurdering),
        "bestillinger over grænsen pr. afsender",
        None,
    )
    .await?;
    let order = store::order_by_ref(&mut **tx, &judged.reference).await?;
    if let Some(o) = order {
        store::set_held_mail_order(tx, &address, i.now, o.id).await?;
    }
    Ok(Some(Outcome::Orders(vec![judged])))
}

/// An order for a person (`review`) made of the whole mail, its forms not applied: the
/// `findings` say why, `receipt` (if any) answers the sender, and the Helpdesk gets a review
/// mail titled `what`. `not_theirs`: the order the mail refers to but may not write to; the
/// Helpdesk is told, that order is not touched.
#[allow(clippy::too_many_arguments)]
async fn order_for_a_person(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    findings: &[Finding],
    receipt: Option<ReceiptKind>,
    what: &str,
    not_theirs: Option<&OrderRow>,
) -> anyhow::Result<Judged> {
    let (order_id, reference) = new_order(tx, i, None, inbound_id).await?;
    let judgement = serde_json::json!({
        "findings": findings,
        "decision": "review",
        "problems": i.judgement.problems,
    });
    let version = insert_version(
        tx,
        order_id,
        inbound_id,
        0,
        &judgement,
        Decision::Review,
        i.now,
    )
    .await?;
    record_verdict(tx, order_id, Decision::Review, findings, i.now).await?;
    let why: Vec<String> = findings.iter().map(|f| f.message.clone()).collect();

    let mut values = values_for(&reference, None, i.mail);
    values.filenames = i
        .judgement
        .unreadable
        .iter()
        .map(|u| u.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    values.findings = why;
    if let Some(kind) = receipt {
        let to = receipt_recipients(i.mail, None, None, i.helpdesk);
        queue(
            tx, i, order_id, &reference, version, kind, to, None, &values,
        )
        .await?;
    }
    if let Some(o) = not_theirs {
        let why = format!(
            "Mailen henviser til bestillingen {}, men er ikke sendt fra bestillerens adresse eller en adresse, der må skrive om bestillingen; den er ikke lagt på bestillingen.",
            o.reference
        );
        store::event(
            tx,
            Some(order_id),
            Some(inbound_id),
            i.now,
            "daemon",
            "not correspondence",
            None,
            None,
            &format!(
                "refers to {} but is not from an address allowed to write about it",
                o.reference
            ),
        )
        .await?;
        values.findings.push(why);
    }
    helpdesk_review_mail(tx, i, order_id, &reference, version, None, what, &values).await?;
    Ok(Judged {
        reference,
        version,
        decision: Decision::Review,
        findings: findings.len(),
        unreadable: true,
    })
}

/// The review mail to the Helpdesk; `untitled` names the order when it has no form.
#[allow(clippy::too_many_arguments)]
async fn helpdesk_review_mail(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    order_id: i64,
    reference: &str,
    version: i64,
    jf: Option<&JudgedForm>,
    untitled: &str,
    values: &ReceiptValues,
) -> anyhow::Result<()> {
    if i.helpdesk.review_to.is_empty() {
        return Ok(());
    }
    let counted = store::count_hourly(tx, crate::orders::rate::REVIEW_MAILS, 1, i.now).await?;
    if counted > i.helpdesk.rates.review_mails {
        return gather_in_review_summary(tx, i, order_id, reference).await;
    }
    let subject = format!(
        "[{reference}] Til vurdering: {} – {}",
        jf.map(|f| f.kind.title()).unwrap_or(untitled),
        values.org_name.as_deref().unwrap_or("ukendt organisation")
    );
    queue(
        tx,
        i,
        order_id,
        reference,
        version,
        ReceiptKind::HelpdeskVurdering,
        i.helpdesk.review_to.clone(),
        Some(subject),
        values,
    )
    .await
}

/// Past `limits.review_mails_per_hour`: the order is not mailed on its own but named in the
/// one summary mail sent to `review_to` at the start of the next clock hour (rewritten as more
/// orders join it), and its history says so.
async fn gather_in_review_summary(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    order_id: i64,
    reference: &str,
) -> anyhow::Result<()> {
    let limit = i.helpdesk.rates.review_mails;
    let hour = crate::orders::rate::hour_of(i.now.timestamp()) + 1;
    let (total, listed) = store::gather_for_review_summary(tx, hour, reference).await?;
    let from = &i.helpdesk.address;
    let to = &i.helpdesk.review_to;
    let (id, raw) = crate::orders::review_summary::compose(
        hour,
        &listed,
        total,
        limit,
        from,
        to,
        i.now.timestamp(),
    )
    .map_err(anyhow::Error::msg)?;
    let not_before = DateTime::from_timestamp(crate::orders::rate::hour_start(hour), 0)
        .map_or(i.now, |t| t.max(i.now));
    let mail = store::StaffMail {
        kind: crate::orders::review_summary::KIND,
        message_id: &id,
        from,
        to,
        raw: &raw,
    };
    store::enqueue_staff_mail(tx, mail, i.now, not_before, store::OnQueued::Replace).await?;
    warn!(
        reference,
        limit,
        summary = id,
        "review mail limit reached; the order joins the hourly summary"
    );
    store::event(
        tx,
        Some(order_id),
        None,
        i.now,
        "daemon",
        "review mail gathered",
        None,
        None,
        &format!(
            "more than {limit} review mails an hour: named in the summary {id}, sent at {}",
            ts(not_before)
        ),
    )
    .await
}

/// The event on an order a form may not change.
const REFUSED: &str = "change refused";
/// How often the requester is told of forms that may not change their order.
const REFUSAL_NOTICE_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

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

/// Writes the newest version's summary columns on an existing order.
async fn update_summary(
    tx: &mut Tx<'_>,
    order_id: i64,
    jf: &JudgedForm,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE orders SET kind = ?1, bestillings_id = COALESCE(?2, bestillings_id), org_name = COALESCE(?3, org_name),
         org_cvr = COALESCE(?4, org_cvr), system_name = COALESCE(?5, system_name), contact_email = COALESCE(?6, contact_email),
         planned_at = ?7, updated_at = ?8 WHERE id = ?9",
    )
    .bind(jf.kind.code())
    .bind(jf.form.bestillings_id())
    .bind(jf.form.text("org_name"))
    .bind(jf.form.text("org_cvr"))
    .bind(jf.form.text("system_name"))
    .bind(jf.form.text("contact_email"))
    .bind(jf.planned_at.map(|p| ts(p.with_timezone(&Utc))))
    .bind(ts(now))
    .bind(order_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Applies one judged form: a new order or a new version, the modtaget receipt, the verdict
/// and its receipt.
async fn apply_form(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    inbound_id: i64,
    index: usize,
    jf: &JudgedForm,
    thread: Option<&OrderRow>,
    may_reply: bool,
) -> anyhow::Result<Judged> {
    let sender = i.mail.from.clone().unwrap_or_default();
    let mut jf = jf.clone();
    let (existing, refused) = target_order(tx, i, &mut jf, thread).await?;

    let (order_id, reference) = match &existing {
        Some(o) => {
            let to = transition(o.state, Action::NewVersion).map_err(anyhow::Error::msg)?;
            store::set_state(tx, o.id, to, i.now).await?;
            store::event(
                tx,
                Some(o.id),
                Some(inbound_id),
                i.now,
                &sender,
                "new version",
                Some(o.state),
                Some(to),
                &i.mail.subject,
            )
            .await?;
            // Keep the order's summary columns current with the newest version (a new order
            // has them from its INSERT already; an UPDATE of them would cost a round trip).
            update_summary(tx, o.id, &jf, i.now).await?;
            (o.id, o.reference.clone())
        }
        None => new_order(tx, i, Some(&jf), inbound_id).await?,
    };

    let mut stored = serde_json::to_value(&jf)?;
    if let Some(p) = jf.planned_at {
        stored["planned_at"] = serde_json::Value::String(p.to_rfc3339());
    }
    let version =
        insert_version(tx, order_id, inbound_id, index, &stored, jf.decision, i.now).await?;
    // The requester of the order the form may not change learns of it from the verdict, once
    // a day: a stream of forged forms must not bury them in mail or use up their receipts.
    let mut tell_requester = None;
    if let Some(r) = &refused {
        let since = i.now - REFUSAL_NOTICE_EVERY;
        if !store::has_event_since(tx, r.id, REFUSED, since).await? {
            tell_requester = Some(r);
        }
        store::event(
            tx,
            Some(r.id),
            Some(inbound_id),
            i.now,
            &sender,
            REFUSED,
            None,
            None,
            &format!(
                "a form for this order from {sender} went to a person as {reference} ({}); this order is unchanged",
                Rule::FormAmbiguous.id()
            ),
        )
        .await?;
    }

    let mut values = values_for(&reference, Some(&jf), i.mail);
    let to = receipt_recipients(
        i.mail,
        jf.form.text("contact_email"),
        registered_system(&jf.form, i.register),
        i.helpdesk,
    );
    if may_reply {
        queue(
            tx,
            i,
            order_id,
            &reference,
            version,
            ReceiptKind::Modtaget,
            to.clone(),
            None,
            &values,
        )
        .await?;
    }

    record_verdict(tx, order_id, jf.decision, &jf.findings, i.now).await?;

    let adm: Vec<String> = jf
        .findings
        .iter()
        .filter(|f| f.rule == Rule::MatrixAdm)
        .filter_map(|f| {
            let m = &f.message;
            let start = m.find('(')? + 1;
            let end = m[start..].find(')')? + start;
            Some(m[start..end].to_string())
        })
        .collect();
    values.adm = (!adm.is_empty()).then(|| adm.join(", "));
    let only_adm = jf
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Reject)
        .all(|f| f.rule == Rule::MatrixAdm)
        && values.adm.is_some();
    let (kind, listed): (ReceiptKind, Vec<String>) = match jf.decision {
        Decision::Approved => (ReceiptKind::Godkendt, Vec::new()),
        Decision::Rejected if only_adm => (
            ReceiptKind::Adm,
            jf.findings
                .iter()
                .filter(|f| f.rule != Rule::MatrixAdm && f.severity != Severity::Info)
                .map(|f| f.message.clone())
                .collect(),
        ),
        Decision::Rejected => (
            ReceiptKind::Afvist,
            jf.findings
                .iter()
                .filter(|f| f.severity == Severity::Reject && f.rule != Rule::MatrixAdm)
                .map(|f| f.message.clone())
                .collect(),
        ),
        Decision::Review => (
            ReceiptKind::TilVurdering,
            jf.findings
                .iter()
                .filter(|f| f.severity == Severity::Review)
                .map(review_reason_for_sender)
                .collect(),
        ),
    };
    values.findings = listed;
    if may_reply {
        queue(
            tx, i, order_id, &reference, version, kind, to, None, &values,
        )
        .await?;
    }
    if let Some(order) = tell_requester {
        tell_of_refused_form(tx, i, order).await?;
    }
    if jf.decision == Decision::Review {
        values.findings = jf
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Review)
            .map(|f| format!("{} ({})", f.message, f.rule.id()))
            .collect();
        helpdesk_review_mail(tx, i, order_id, &reference, version, Some(&jf), "", &values).await?;
    }
    Ok(Judged {
        reference,
        version,
        decision: jf.decision,
        findings: jf.findings.len(),
        unreadable: false,
    })
}

/// Tells the requester of `order` that a form with its BestillingsID came from someone who may
/// not change it, in the order's own thread. A mail of its own, saying nothing of the other
/// form or its sender: the verdict receipt of that form went to its sender, and whoever sent
/// it (the forger, or the one who took the BestillingsID first) must not learn the other
/// side's address or form. At most one a day per order (the caller checks), so its
/// Message-ID names the day in place of a version.
async fn tell_of_refused_form(
    tx: &mut Tx<'_>,
    i: &Intake<'_>,
    order: &OrderRow,
) -> anyhow::Result<()> {
    let to = with_requester_of(Vec::new(), Some(order), i.helpdesk);
    let thread = Thread {
        message_id: order.thread_message_id.clone(),
        references: Vec::new(),
        subject: order.thread_subject.clone(),
    };
    let values = ReceiptValues {
        reference: order.reference.clone(),
        bestillings_id: order.bestillings_id.clone(),
        ..ReceiptValues::default()
    };
    let day = i.now.timestamp().div_euclid(86_400);
    let mail = (ReceiptKind::AndenAfsender, to, None);
    queue_in_thread(
        tx,
        i,
        &thread,
        order.id,
        &order.reference,
        day,
        mail,
        &values,
    )
    .await
}

/// `to` and the requester of `order`, once, never one of our own addresses and never one no
/// header may carry (as [`recipients`]): the requester is the order's From as it came, and an
/// order made from `"a b"@kystby.test` otherwise made the receipt of every later form with
/// its BestillingsID fail to compose, and with it the whole mail, until it was quarantined
/// unanswered.
fn with_requester_of(
    mut to: Vec<String>,
    order: Option<&OrderRow>,
    h: &HelpdeskSettings,
) -> Vec<String> {
    if let Some(r) = order
        .and_then(|o| o.requester.as_deref())
        .map(|r| r.trim().to_lowercase())
        .filter(|r| {
            !r.is_empty()
                && !h.is_own(r)
                && !to.contains(r)
                && crate::mail::header_value::Address::new(r).is_some()
        })
    {
        to.push(r);
    }
    to
}

/// The reason for a manual review as the sender reads it.
fn review_reason_for_sender(f: &Finding) -> String {
    f.message.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2";

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
                 VALUES (?1, 'INBOX', 't', 't', 's', x'00', 'order') RETURNING id",
            )
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
            let order: i64 = sqlx::query_scalar(
                "INSERT INTO orders (ref, state, created_at, updated_at) VALUES (?1, 'received', 't', 't') RETURNING id",
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
            got.push(
                insert_version(&mut tx, order, inbound, index, &j, Decision::Review, now)
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(got, vec![1, 2, 1, 3], "versions per order");
        let findings = vec![
            Finding::new(Rule::FormAmbiguous, Some("bestillings_id"), "a".to_string()),
            Finding::new(Rule::FormAmbiguous, None, "b".to_string()),
        ];
        let next = record_verdict(&mut tx, o2, Decision::Review, &findings, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(next, State::Review);
        let (state, updated): (String, String) =
            sqlx::query_as("SELECT state, updated_at FROM orders WHERE id = ?1")
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
        let untouched: String = sqlx::query_scalar("SELECT state FROM orders WHERE id = ?1")
            .bind(o1)
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(untouched, "received");
    }

    /// The requester of a refused form's order is told only at an address a header may
    /// carry; the sender's own receipt is composed either way.
    #[test]
    fn a_requester_no_header_may_carry_is_not_told() {
        let t = Utc::now();
        let order = |requester: &str| OrderRow {
            id: 1,
            reference: "SP-2026-00001".into(),
            state: State::Received,
            kind: None,
            bestillings_id: Some("BD-1".into()),
            org_name: None,
            org_cvr: None,
            system_name: None,
            requester: Some(requester.into()),
            reply_to: None,
            contact_email: None,
            thread_message_id: None,
            thread_subject: String::new(),
            planned_at: None,
            created_at: t,
            updated_at: t,
            executed_at: None,
            billed_at: None,
            incident_at: None,
        };
        let sender = vec!["fa@kystby.test".to_string()];
        let h = helpdesk();
        let told = with_requester_of(sender.clone(), Some(&order("Chef@Kystby.test")), &h);
        assert_eq!(told, ["fa@kystby.test", "chef@kystby.test"]);
        for bad in [
            "\"a b\"@kystby.test",
            "a:b@kystby.test",
            "a@b@kystby.test",
            "a;b@x.test",
        ] {
            let to = with_requester_of(sender.clone(), Some(&order(bad)), &h);
            assert_eq!(to, sender, "{bad}");
            assert!(crate::mail::header_value::addresses(&to, "recipient").is_ok());
        }
    }

    fn helpdesk() -> HelpdeskSettings {
        HelpdeskSettings {
            address: "helpdesk@helpdesk.test".into(),
            own_domains: vec!["kombit.test".into()],
            review_to: Vec::new(),
            rates: crate::orders::rate::RateLimits::default(),
        }
    }

    fn mail(from: &str, reply_to: Option<&str>) -> Mail {
        Mail {
            from: Some(from.into()),
            reply_to: reply_to.map(str::to_string),
            ..Mail::default()
        }
    }

    fn register() -> Register {
        Register::from_csv(&format!(
            "uuid,name,role,org_cvr,senders\n{UUID},FamilieFlow,modtagersystem,54921942,@kystby.test drift@leverandoer.test\n"
        ))
        .unwrap()
    }

    #[test]
    fn sender_and_contact_in_the_same_domain() {
        let h = helpdesk();
        let m = mail("fa@kystby.test", None);
        assert_eq!(
            receipt_recipients(&m, Some("Kontakt@Kystby.test"), None, &h),
            vec!["fa@kystby.test", "kontakt@kystby.test"]
        );
        // The same address once.
        assert_eq!(
            receipt_recipients(&m, Some("FA@kystby.test"), None, &h),
            vec!["fa@kystby.test"]
        );
        assert_eq!(
            receipt_recipients(&m, None, None, &h),
            vec!["fa@kystby.test"]
        );
    }

    #[test]
    fn reply_to_in_the_senders_domain_wins_over_from() {
        let h = helpdesk();
        let m = mail("fa@kystby.test", Some("Sag@Kystby.TEST"));
        assert_eq!(
            receipt_recipients(&m, Some("fa@kystby.test"), None, &h),
            vec!["sag@kystby.test", "fa@kystby.test"]
        );
    }

    #[test]
    fn reply_to_in_another_domain_is_ignored_and_from_gets_the_receipt() {
        let h = helpdesk();
        for reply_to in [
            "victim@other.test",
            "victim@sub.kystby.test",
            "victim@kystby.test.evil.test",
            "no-domain",
        ] {
            let m = mail("fa@kystby.test", Some(reply_to));
            assert_eq!(
                receipt_recipients(&m, None, None, &h),
                vec!["fa@kystby.test"],
                "{reply_to}"
            );
        }
        // The stored addresses of an order are read the same way.
        assert_eq!(
            recipients(
                Some("victim@other.test"),
                Some("FA@kystby.test"),
                None,
                None,
                &h
            ),
            vec!["fa@kystby.test"]
        );
        // Without a From, a Reply-To alone is never trusted.
        assert!(recipients(Some("x@kystby.test"), None, None, None, &h).is_empty());
        assert!(recipients(Some("x@kystby.test"), Some(" "), None, None, &h).is_empty());
    }

    #[test]
    fn an_arbitrary_contact_gets_nothing() {
        let h = helpdesk();
        let m = mail("fa@kystby.test", None);
        for c in [
            "victim@other.test",
            "x@sub.kystby.test",
            // Not one address: never handed to SMTP as if it were.
            "victim@other.test, y@kystby.test",
            "not an address",
            "",
        ] {
            assert_eq!(
                receipt_recipients(&m, Some(c), None, &h),
                vec!["fa@kystby.test"],
                "{c}"
            );
        }
    }

    #[test]
    fn a_contact_registered_for_the_system() {
        let h = helpdesk();
        let r = register();
        let system = r.lookup(UUID);
        assert!(system.is_some());
        // A supplier's address listed for the system gets the receipts too.
        let m = mail("fa@kystby.test", None);
        assert_eq!(
            receipt_recipients(&m, Some("Drift@leverandoer.test"), system, &h),
            vec!["fa@kystby.test", "drift@leverandoer.test"]
        );
        // And a contact in a registered domain, when the supplier sends the order.
        let m = mail("drift@leverandoer.test", None);
        assert_eq!(
            receipt_recipients(&m, Some("it@kystby.test"), system, &h),
            vec!["drift@leverandoer.test", "it@kystby.test"]
        );
        // Not listed: the same as without a register.
        assert_eq!(
            receipt_recipients(&m, Some("other@leverandoer.test"), system, &h),
            vec!["drift@leverandoer.test", "other@leverandoer.test"]
        );
        let stranger = mail("x@evil.test", None);
        assert_eq!(
            receipt_recipients(&stranger, Some("victim@other.test"), system, &h),
            vec!["x@evil.test"]
        );
    }

    #[test]
    fn our_own_addresses_are_never_recipients() {
        let h = helpdesk();
        let m = mail("helpdesk@helpdesk.test", None);
        assert!(receipt_recipients(&m, None, None, &h).is_empty());
        let m = mail("fa@kombit.test", None);
        assert!(receipt_recipients(&m, Some("x@kombit.test"), None, &h).is_empty());
        let none = Mail::default();
        assert!(receipt_recipients(&none, Some("fa@kystby.test"), None, &h).is_empty());
    }

    #[test]
    fn recipients_from_stored_addresses() {
        let h = helpdesk();
        let r = register();
        assert_eq!(
            recipients(
                Some("fa@kystby.test"),
                Some("fa@kystby.test"),
                Some("drift@leverandoer.test"),
                r.lookup(UUID),
                &h
            ),
            vec!["fa@kystby.test", "drift@leverandoer.test"]
        );
        assert_eq!(
            recipients(None, None, Some("drift@leverandoer.test"), None, &h),
            Vec::<String>::new()
        );
        // An address no header may carry is never answered (the composer would refuse it).
        assert_eq!(
            recipients(
                Some("fa@kystby.test\r\nbcc: evil@x.test"),
                None,
                None,
                None,
                &h
            ),
            Vec::<String>::new()
        );
    }
}
