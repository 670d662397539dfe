//! The heart of the order logic: every way an order changes — a mail's judged form, a mail
//! that goes to a person as it is, a person's action, the executor's result — is planned
//! here, without I/O, as the effects it has: the state change, the events (who, what, why),
//! the receipts (kind, recipients, typed values), the review mail to the Helpdesk and the
//! incident mail. The store (`store::apply`) performs them in the caller's transaction.
//!
//! What needs the database is given: the target order of a form and whether it may be
//! changed (the judge and ownership decide), whether the requester was told of a refused form
//! lately, the reference of a new order. What only the store can do stays there: the order
//! reference counter, the version number, the hourly limits (a receipt over one is deferred;
//! a review mail over its limit joins the hourly summary).

use chrono::{DateTime, Utc};

use crate::forms::form::OrderForm;
use crate::judge::JudgedForm;
use crate::mail::Mail;
use crate::orders::helpdesk::HelpdeskSettings;
use crate::orders::order::OrderRow;
use crate::orders::receipts::{ReceiptKind, Thread};
use crate::orders::recipients::{
    order_recipients, receipt_recipients, registered_system, reply_address, with_requester_of,
};
use crate::orders::state::{Action, State, transition};
use crate::orders::values::{self, IncidentValues, ReceiptValues};
use crate::rules::finding::{Decision, Finding, Rule, Severity};
use crate::rules::it_systems::Register;

pub mod dialogue;
pub mod partial;
pub mod post;
pub mod staff_time;
pub use dialogue::{Correspondence, CorrespondenceEffects, Forward, ReplyEffects, StaffReply};

/// What every plan decides with: the Helpdesk's own addresses and limits, the it-system
/// register (a contact listed for the system gets receipts too), where incidents go.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub helpdesk: &'a HelpdeskSettings,
    pub register: Option<&'a Register>,
    /// Where the incident mail of a failed order goes.
    pub incident_to: &'a [String],
}

/// A state change of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub from: State,
    pub to: State,
}

/// One entry of an order's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Who: a sender's address, an operator, `daemon` or `executor`.
    pub actor: String,
    /// What: `received`, `judged`, `approve`, …
    pub action: String,
    /// The state before and after (`None`: the event changes no state, or the order is new).
    pub from: Option<State>,
    pub to: Option<State>,
    /// Why: the findings, the reason, the subject.
    pub detail: String,
}

impl Event {
    /// An event that changes no state: a note in the order's history.
    pub fn note(actor: &str, action: &str, detail: String) -> Event {
        Event::new(actor, action, None, detail)
    }

    fn new(actor: &str, action: &str, change: Option<StateChange>, detail: String) -> Event {
        Event {
            actor: actor.to_string(),
            action: action.to_string(),
            from: change.map(|c| c.from),
            to: change.map(|c| c.to),
            detail,
        }
    }
}

/// A mail about an order: a receipt to the requester's side, or a staff mail to the Helpdesk.
/// Its order reference is `values.reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub kind: ReceiptKind,
    pub to: Vec<String>,
    /// `None`: `[ref] <label>: <the thread's subject>`.
    pub subject: Option<String>,
    /// The mail it answers.
    pub thread: Thread,
    /// The version its Message-ID names; `None`: the version this change stores.
    pub version: Option<i64>,
    pub values: ReceiptValues,
}

/// The incident mail of a failed order, with the original mail attached.
#[derive(Debug, Clone)]
pub struct Incident {
    pub to: Vec<String>,
    pub subject: String,
    pub version: i64,
    pub values: IncidentValues,
}

/// A moment the order row keeps besides its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `executed_at`: billing reads it.
    Executed,
    /// `incident_at`: an incident was opened.
    Incident,
    /// `planned_at`: a person moved the time.
    Planned(DateTime<Utc>),
}

/// Why an order may not change this way; nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

// ----- a person's action, or the executor's result -----

/// A person's action on an order (`spdesk orders approve|reject|execute|fail|withdraw`), or
/// the executor's result (execute or fail, by `executor`).
#[derive(Debug, Clone)]
pub struct PersonAction<'a> {
    pub order: &'a OrderRow,
    /// The latest version: its number and stored judgement, and the mail it came in.
    pub version: i64,
    pub judgement: &'a serde_json::Value,
    pub thread: &'a Thread,
    pub action: Action,
    pub actor: &'a str,
    /// The reason (reject, fail, withdraw) or the note (execute): in the event and the receipt.
    pub text: Option<&'a str>,
    /// More for the event only, e.g. the executor command's output.
    pub detail: Option<&'a str>,
    /// `execute --early --reason`: carried out before the planned time on purpose, and why
    /// (`None`: not early, refused before the planned time).
    pub early: Option<&'a str>,
    /// The new planned time (`reschedule`).
    pub at: Option<DateTime<Utc>>,
    /// An execution's step-8 check ([`crate::orders::verification`]): `None` when none ran.
    /// A failed one refuses the execution unless it carries `--unverified --reason`.
    pub verification: Option<&'a crate::orders::verification::Verification>,
    pub now: DateTime<Utc>,
}

/// What a person's action does, in this order: the state change and its mark, the event, the
/// receipt to the requester's side, the incident mail.
#[derive(Debug, Clone)]
pub struct ActionEffects {
    pub change: StateChange,
    pub mark: Option<Mark>,
    pub event: Event,
    pub receipt: Option<Receipt>,
    pub incident: Option<Incident>,
}

/// Plans a person's action: refused when the state machine does not allow it, when an
/// override, a reopening, a new time or an early execution comes without a reason, when an
/// order without the form's required fields is approved or executed (a person fills them in
/// first: `orders edit`), or when it is executed before its planned time without `--early`.
pub fn action(a: &PersonAction<'_>, ctx: &Context<'_>) -> Result<ActionEffects, Refused> {
    let o = a.order;
    let refuse = |why: String| Refused(format!("{}: {why}", o.reference));
    if matches!(
        a.action,
        Action::Judge(_) | Action::NewVersion | Action::Edit
    ) {
        // Only a mail judges an order or gives it a new version ([`mail_form`]); a person's
        // version is judged like one ([`staff_version`]).
        let by = if a.action == Action::Edit {
            "`orders edit` (a person's version, judged like a mail's)"
        } else {
            "a mail, not by a person"
        };
        return Err(refuse(format!("{} is done by {by}", a.action.name())));
    }
    let from = o.state;
    let to = transition(from, a.action).map_err(refuse)?;
    let text = a.text.map(str::trim).filter(|t| !t.is_empty());
    may_act(a, text).map_err(refuse)?;
    let change = StateChange { from, to };
    let mark = match (a.action, to) {
        (Action::Reschedule | Action::Reopen, _) => a.at.map(Mark::Planned),
        (_, State::Executed) => Some(Mark::Executed),
        (_, State::Failed) => Some(Mark::Incident),
        _ => None,
    };
    let event = person_event(a, change);
    // The same people as the daemon's receipts (the latest version names the it-system).
    let system = ctx.register.and_then(|r| {
        a.judgement
            .pointer("/fields/system_uuid")
            .and_then(|v| v.as_str())
            .and_then(|u| r.lookup(u))
    });
    let to_addresses = order_recipients(o, system, ctx.helpdesk);
    let receipt = person_receipt(from, a.action, to)
        .filter(|_| !to_addresses.is_empty())
        .map(|kind| Receipt {
            kind,
            to: to_addresses,
            subject: None,
            thread: a.thread.clone(),
            version: Some(receipt_version(kind, a)),
            values: action_values(a, change, text),
        });
    let incident = (to == State::Failed && !ctx.incident_to.is_empty()).then(|| Incident {
        to: ctx.incident_to.to_vec(),
        subject: incident_subject(&o.reference, o.system_name.as_deref()),
        version: receipt_version(ReceiptKind::Incident, a),
        values: incident_values(a, text),
    });
    Ok(ActionEffects {
        change,
        mark,
        event,
        receipt,
        incident,
    })
}

/// Why a person may not act so now (the state machine allows it): a reason missing where the
/// action overrides, required fields missing, too early, a new time missing or past.
fn may_act(a: &PersonAction<'_>, text: Option<&str>) -> Result<(), String> {
    let from = a.order.state;
    let overrides = match a.action {
        Action::Override => from == State::Rejected,
        Action::Reject => from == State::Approved,
        Action::Reopen | Action::Reschedule => true,
        _ => false,
    };
    let early_without_reason =
        a.action == Action::Execute && a.early.is_some_and(|r| r.trim().is_empty());
    if (overrides && text.is_none()) || early_without_reason {
        let flag = if a.action == Action::Execute {
            "--early"
        } else {
            a.action.name()
        };
        return Err(format!(
            "{flag} needs a reason: add --reason \"…\" (it goes into the history and to the requester)"
        ));
    }
    unverified_refusal(a)?;
    if matches!(
        a.action,
        Action::Approve | Action::Override | Action::Execute
    ) && let Some(missing) = missing_required(a.judgement)
    {
        return Err(format!(
            "{missing}; fill them in first: spdesk orders edit {} --set FIELD=VALUE… --reason \"…\" (FORMS.md field codes)",
            a.order.reference
        ));
    }
    if a.action == Action::Execute
        && a.early.is_none()
        && let Some(planned) = a.order.planned_at.filter(|p| *p > a.now)
    {
        return Err(format!(
            "planned for {}; to execute it before then, add --early --reason \"…\"",
            crate::rules::calendar::danish_datetime(&planned)
        ));
    }
    if a.action == Action::Reopen
        && let Some(at) = a.at.filter(|at| *at <= a.now)
    {
        return Err(format!(
            "the new time {} has passed; give a time ahead, or leave --at out",
            crate::rules::calendar::danish_datetime(&at)
        ));
    }
    if a.action == Action::Reschedule {
        match a.at {
            None => return Err("reschedule needs the new time: --at TIME".into()),
            Some(at) if at <= a.now => {
                return Err(format!(
                    "the new time {} has passed; give a time ahead",
                    crate::rules::calendar::danish_datetime(&at)
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Why an execution whose check failed may not go on: no `--unverified`, or one without a
/// reason. The order stays approved and the person reads what failed.
fn unverified_refusal(a: &PersonAction<'_>) -> Result<(), String> {
    let Some(v) = a.verification.filter(|_| a.action == Action::Execute) else {
        return Ok(());
    };
    match v.unverified.as_deref().map(str::trim) {
        _ if v.passed => Ok(()),
        None => Err(format!(
            "the check of the change failed, so the order stays approved: {}; correct it and execute again, or execute anyway with --unverified --reason \"…\"",
            v.failures
        )),
        Some("") => {
            Err("--unverified needs a reason: add --reason \"…\" (it goes into the history)".into())
        }
        Some(_) => Ok(()),
    }
}

/// What the latest version lacks to be carried out: no form at all (a mail whose form could
/// not be read), or the required fields the judge found missing. `None`: nothing.
pub fn missing_required(judgement: &serde_json::Value) -> Option<String> {
    if judgement.get("kind").and_then(|k| k.as_str()).is_none() {
        return Some("the order has no form, so none of the required fields".into());
    }
    let missing: Vec<&str> = judgement
        .get("findings")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .filter(|f| f.get("rule").and_then(|r| r.as_str()) == Some(Rule::FieldMissing.id()))
        .map(|f| {
            f.get("field")
                .and_then(|v| v.as_str())
                .unwrap_or("(a field)")
        })
        .collect();
    (!missing.is_empty())
        .then(|| format!("the order lacks required fields: {}", missing.join(", ")))
}

/// The event of a person's action: a state change with the reason and detail; a new time is
/// a note (the state stays), naming the time.
fn person_event(a: &PersonAction<'_>, change: StateChange) -> Event {
    let early = a
        .early
        .filter(|_| a.action == Action::Execute)
        .map(|r| format!("før det planlagte tidspunkt: {}", r.trim()));
    let detail = event_detail(a.text, a.detail);
    let detail = event_detail(early.as_deref(), Some(&detail));
    let detail = event_detail(Some(&detail), verification_detail(a).as_deref());
    match (a.action, a.at) {
        (Action::Reschedule, Some(at)) => {
            let detail = event_detail(
                Some(&format!("nyt tidspunkt: {}", danish_minute(at))),
                Some(&detail),
            );
            Event::note(a.actor, a.action.name(), detail)
        }
        (Action::Reopen, Some(at)) => {
            let detail = event_detail(
                Some(&format!("nyt tidspunkt: {}", danish_minute(at))),
                Some(&detail),
            );
            Event::new(a.actor, a.action.name(), Some(change), detail)
        }
        _ => Event::new(a.actor, a.action.name(), Some(change), detail),
    }
}

/// An execution's check in its event: executed without a passed check, and why.
fn verification_detail(a: &PersonAction<'_>) -> Option<String> {
    let v = a.verification.filter(|_| a.action == Action::Execute)?;
    match (&v.unverified, v.passed) {
        (Some(reason), false) => Some(format!(
            "udført uden bestået kontrol: {} ({})",
            reason.trim(),
            v.failures
        )),
        _ => None,
    }
}

/// The receipt a person's action sends: an overridden decision, a reopening and a new time
/// have their own; otherwise the receipt of the state reached.
pub fn person_receipt(from: State, action: Action, to: State) -> Option<ReceiptKind> {
    match (from, action) {
        (State::Rejected, Action::Override) | (State::Approved, Action::Reject) => {
            Some(ReceiptKind::AfgoerelseAendret)
        }
        (_, Action::Reopen) => Some(ReceiptKind::Genaabnet),
        (_, Action::Reschedule) => Some(ReceiptKind::NytTidspunkt),
        _ => receipt_for(to),
    }
}

/// The number a receipt's Message-ID names: the version, except for the receipts a person can
/// cause more than once on one version (a new time, a reopening, an override; a failure
/// again after a reopening, when the order already had an incident), which name the moment
/// instead, so that each one is a mail of its own and none is taken for a resend.
fn receipt_version(kind: ReceiptKind, a: &PersonAction<'_>) -> i64 {
    match kind {
        ReceiptKind::NytTidspunkt | ReceiptKind::Genaabnet | ReceiptKind::AfgoerelseAendret => {
            a.now.timestamp_millis()
        }
        ReceiptKind::Fejl | ReceiptKind::Incident if a.order.incident_at.is_some() => {
            a.now.timestamp_millis()
        }
        _ => a.version,
    }
}

/// The receipt the requester gets when an order reaches `to` by a person's or the executor's
/// action.
pub fn receipt_for(to: State) -> Option<ReceiptKind> {
    match to {
        State::Approved => Some(ReceiptKind::Godkendt),
        State::Rejected => Some(ReceiptKind::Afvist),
        State::Executed => Some(ReceiptKind::Gennemfoert),
        State::Failed => Some(ReceiptKind::Fejl),
        State::Withdrawn => Some(ReceiptKind::Tilbagetrukket),
        State::Received | State::Review => None,
    }
}

/// The event text of an action: the reason or note, then the extra detail.
pub fn event_detail(text: Option<&str>, detail: Option<&str>) -> String {
    [text, detail]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The subject of the incident mail.
pub fn incident_subject(reference: &str, system_name: Option<&str>) -> String {
    format!(
        "[{reference}] Incident: fejl ved ændring af teknisk konfiguration – {}",
        system_name
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("ukendt it-system")
    )
}

/// A time as the receipts print it: Copenhagen time, to the minute.
fn danish_minute(t: DateTime<Utc>) -> String {
    use chrono::Timelike;
    let minute = t
        .with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .unwrap_or(t);
    crate::rules::calendar::danish_datetime(&minute)
}

/// The receipt values of an action: the reason of a rejection is its one finding, the note
/// of an execution and the reason of a withdrawal or an override are their own values; a new
/// time is the planned time.
fn action_values(a: &PersonAction<'_>, change: StateChange, text: Option<&str>) -> ReceiptValues {
    let o = a.order;
    let only = |action: Action| (a.action == action).then_some(text).flatten();
    let planned = match a.action {
        Action::Reschedule => a.at.or(o.planned_at),
        // A failed order's planned time has mostly passed: the new one (`--at`), else a time
        // still ahead; none, and "Genåbnet" says a new time is agreed, never a past one.
        Action::Reopen => a.at.or(o.planned_at.filter(|p| *p > a.now)),
        _ => o.planned_at,
    };
    // No planned time: the receipts say it follows, never "på det aftalte tidspunkt".
    let planned_at = planned.map(danish_minute);
    let overridden =
        person_receipt(change.from, a.action, change.to) == Some(ReceiptKind::AfgoerelseAendret);
    let when = planned_at
        .clone()
        .unwrap_or_else(|| "når tidspunktet er fastlagt".into());
    let decided = |s: State| decision_in_danish(s, &when);
    ReceiptValues {
        reference: o.reference.clone(),
        bestillings_id: o.bestillings_id.clone(),
        contact_name: a
            .judgement
            .pointer("/fields/contact_name")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        findings: (a.action == Action::Reject && !overridden)
            .then_some(text)
            .flatten()
            .map(|r| vec![r.to_string()])
            .unwrap_or_default(),
        planned_at,
        executed_at: Some(danish_minute(a.now)),
        note: only(Action::Execute).map(str::to_string),
        verified: a
            .verification
            .filter(|_| a.action == Action::Execute)
            .map(|v| v.receipt_line.clone()),
        reason: match a.action {
            Action::Withdraw | Action::Reopen | Action::Reschedule => text.map(str::to_string),
            _ if overridden => text.map(str::to_string),
            _ => None,
        },
        decided_before: overridden.then(|| decided(change.from)),
        decided_now: overridden.then(|| decided(change.to)),
        ..ReceiptValues::default()
    }
}

/// A decision as the requester reads it in "Afgørelse ændret".
fn decision_in_danish(s: State, planned_at: &str) -> String {
    match s {
        State::Approved => format!("godkendt; ændringen gennemføres {planned_at}"),
        State::Rejected => "afvist; ændringen gennemføres ikke".into(),
        State::Review => "til manuel vurdering".into(),
        other => other.as_str().into(),
    }
}

fn incident_values(a: &PersonAction<'_>, text: Option<&str>) -> IncidentValues {
    let o = a.order;
    IncidentValues {
        reference: o.reference.clone(),
        bestillings_id: o.bestillings_id.clone(),
        kind_title: o
            .kind
            .as_deref()
            .and_then(crate::forms::fields::FormKind::from_code)
            .map(|k| k.title().to_string()),
        org_name: o.org_name.clone(),
        org_cvr: o.org_cvr.clone(),
        system_name: o.system_name.clone(),
        requester: o.requester.clone(),
        version: a.version,
        fields: values::field_lines(a.judgement),
        planned_at: o
            .planned_at
            .map(|p| crate::rules::calendar::danish_datetime(&p)),
        failed_at: danish_minute(a.now),
        actor: a.actor.to_string(),
        reason: text.unwrap_or("(ingen begrundelse)").to_string(),
        events: Vec::new(),
        files_note: String::new(),
    }
}

// ----- a mail -----

/// The summary columns an order keeps of its newest version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub kind: Option<&'static str>,
    pub bestillings_id: Option<String>,
    pub org_name: Option<String>,
    pub org_cvr: Option<String>,
    pub system_name: Option<String>,
    pub contact_email: Option<String>,
    pub planned_at: Option<DateTime<Utc>>,
}

impl Summary {
    fn of(jf: &JudgedForm) -> Summary {
        let text = |code: &str| jf.form.text(code).map(str::to_string);
        Summary {
            kind: Some(jf.kind.code()),
            bestillings_id: jf.form.bestillings_id().map(str::to_string),
            org_name: text("org_name"),
            org_cvr: text("org_cvr"),
            system_name: text("system_name"),
            contact_email: text("contact_email"),
            planned_at: jf.planned_at.map(|p| p.with_timezone(&Utc)),
        }
    }
}

/// How a mail reaches its order: a new order, or a new version of an existing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// A new order in state `received`, made from the mail (`summary` of its form, if any).
    New {
        reference: String,
        summary: Summary,
        /// The sender (From) and where it asked to be answered, as the mail came.
        requester: Option<String>,
        reply_to: Option<String>,
        /// The mail that opened the order: later receipts answer in its thread (boxed: the
        /// other variant is small).
        thread: Box<Thread>,
        event: Event,
    },
    /// A corrected version of an existing order: back to `received`, its summary the newest.
    Version {
        order_id: i64,
        reference: String,
        summary: Summary,
        event: Event,
    },
}

/// The version a mail stores on its order.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub form_index: usize,
    /// A person's version (`orders edit`): stored with the mail the order came in, not a form
    /// read from it.
    pub staff: bool,
    pub judgement: serde_json::Value,
    pub decision: Decision,
}

/// What a mail does to one order, performed in this order: the opening, the version, the
/// event on the order the form may not change, the modtaget receipt, the verdict (state change
/// and event), its receipt, the notice to the requester of the order the form may not change,
/// the event on the order the mail refers to but may not write to, the review mail.
#[derive(Debug, Clone)]
pub struct MailEffects {
    pub opening: Opening,
    pub version: Version,
    /// On the order the form may not change: its id and the event.
    pub refused: Option<(i64, Event)>,
    pub received: Option<Receipt>,
    pub verdict: Event,
    pub verdict_receipt: Option<Receipt>,
    /// To the requester of the order the form may not change, in that order's thread.
    pub notice: Option<(i64, Receipt)>,
    /// On the new order: the order the mail refers to but may not write to.
    pub not_theirs: Option<Event>,
    /// Why the sender gets no receipt, when nothing can answer them ([`why_no_receipt`]).
    pub no_receipt: Option<Event>,
    /// To the Helpdesk's review address, when a person decides.
    pub review: Option<Receipt>,
}

/// The event on an order a form may not change.
pub const REFUSED: &str = "change refused";
/// How often the requester is told of forms that may not change their order.
pub const REFUSAL_NOTICE_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// One judged form of a mail, against its target.
#[derive(Debug, Clone, Copy)]
pub struct MailForm<'a> {
    /// The order's reference: the target's, or the one the store gave a new order.
    pub reference: &'a str,
    pub index: usize,
    /// The form as judged; when it may not change `refused`, its `form.ambiguous` finding is
    /// in and its decision is review.
    pub form: &'a JudgedForm,
    /// The order the form is a corrected version of; `None`: a new order.
    pub target: Option<&'a OrderRow>,
    /// An open order the form names but may not change.
    pub refused: Option<&'a OrderRow>,
    /// The requester of `refused` was told of such a form within [`REFUSAL_NOTICE_EVERY`].
    pub requester_told_lately: bool,
    pub mail: &'a Mail,
    /// The sender is answered (not our own address, and the mail has one to answer).
    pub may_reply: bool,
    pub now: DateTime<Utc>,
}

/// Plans a judged form: a new order or a new version, the modtaget receipt, the verdict and
/// its receipt, the review mail. Refused when the target's state takes no new version.
pub fn mail_form(m: &MailForm<'_>, ctx: &Context<'_>) -> Result<MailEffects, Refused> {
    let jf = m.form;
    let opening = opening(m)?;
    let refused = m.refused.map(|r| (r.id, refused_event(m)));
    // The requester of the order the form may not change learns of it from the verdict, once
    // a day: a stream of forged forms must not bury them in mail or use up their receipts.
    let notice = m
        .refused
        .filter(|_| !m.requester_told_lately)
        .map(|r| (r.id, refusal_notice(r, m.now, ctx)));
    let mut values = values::for_mail(m.reference, Some(jf), m.mail);
    let to = receipt_recipients(
        m.mail,
        jf.form.text("contact_email"),
        registered_system(&jf.form, ctx.register),
        ctx.helpdesk,
    );
    let thread = mail_thread(m.mail);
    let receipt = |kind, values: &ReceiptValues| {
        m.may_reply.then(|| Receipt {
            kind,
            to: to.clone(),
            subject: None,
            thread: thread.clone(),
            version: None,
            values: values.clone(),
        })
    };
    let received = receipt(ReceiptKind::Modtaget, &values);
    let (kind, listed, adm) = verdict_receipt(jf);
    values.adm = adm;
    values.new_bestillings_id = kind == ReceiptKind::Afvist
        && jf
            .findings
            .iter()
            .any(|f| f.rule == Rule::BestillingsIdUsed && f.severity == Severity::Reject);
    values.findings = listed;
    let verdict_receipt = receipt(kind, &values);
    let review = (jf.decision == Decision::Review).then(|| {
        values.findings = jf
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Review)
            .map(|f| format!("{} ({})", f.message, f.rule.id()))
            .collect();
        review_mail(m.mail, Some(jf), "", values, ctx)
    });
    Ok(MailEffects {
        opening,
        version: Version {
            form_index: m.index,
            staff: false,
            judgement: stored_judgement(jf),
            decision: jf.decision,
        },
        refused,
        received,
        verdict: verdict(jf.decision, &jf.findings),
        verdict_receipt,
        notice,
        not_theirs: None,
        no_receipt: why_no_receipt(m.mail, ctx.helpdesk),
        review: review.flatten(),
    })
}

/// A person's version of an order (`orders edit`), judged by the one judge like a mail's
/// form: its receipts go where the order's mail's went, in its thread.
#[derive(Debug, Clone, Copy)]
pub struct StaffVersion<'a> {
    pub order: &'a OrderRow,
    /// The staff form as judged.
    pub form: &'a JudgedForm,
    /// "label: from → to" for each edited field (the "Rettet af Helpdesk" receipt).
    pub edits: &'a [String],
    /// The mail of the order's latest version: whom the receipts answer.
    pub mail: &'a Mail,
    pub actor: &'a str,
    pub reason: &'a str,
    pub now: DateTime<Utc>,
}

/// Plans a person's version: from any open state back to `received` (the event names the
/// person, the reason and the edits), then the verdict like a mail's with its receipt, after
/// a "Rettet af Helpdesk" receipt in place of the modtaget one; refused for a closed order or
/// without a reason.
pub fn staff_version(s: &StaffVersion<'_>, ctx: &Context<'_>) -> Result<MailEffects, Refused> {
    let o = s.order;
    let refuse = |why: String| Refused(format!("{}: {why}", o.reference));
    let to = transition(o.state, Action::Edit).map_err(refuse)?;
    let reason = s.reason.trim();
    if reason.is_empty() {
        return Err(refuse(
            "edit needs a reason: add --reason \"…\" (it goes to the requester)".into(),
        ));
    }
    if s.edits.is_empty() {
        return Err(refuse("nothing to change: add --set FIELD=VALUE".into()));
    }
    let input = MailForm {
        reference: &o.reference,
        index: 0,
        form: s.form,
        target: None,
        refused: None,
        requester_told_lately: false,
        mail: s.mail,
        // An order without a requester (made from a bounce or list mail on /post) answers
        // no one: its mail's sender is no person to tell.
        may_reply: o.requester.is_some(),
        now: s.now,
    };
    let mut e = mail_form(&input, ctx)?;
    let detail = event_detail(Some(reason), Some(&s.edits.join("\n")));
    e.opening = Opening::Version {
        order_id: o.id,
        reference: o.reference.clone(),
        summary: Summary::of(s.form),
        event: Event::new(
            s.actor,
            Action::Edit.name(),
            Some(StateChange { from: o.state, to }),
            detail,
        ),
    };
    e.version.staff = true;
    e.received = e.verdict_receipt.clone().map(|r| Receipt {
        kind: ReceiptKind::RettetAfHelpdesk,
        values: ReceiptValues {
            edits: s.edits.to_vec(),
            reason: Some(reason.to_string()),
            findings: Vec::new(),
            ..r.values
        },
        ..r
    });
    e.no_receipt = None;
    Ok(e)
}

/// How a form reaches its order: a new order, or a new version of its target (refused when
/// the target's state takes none).
fn opening(m: &MailForm<'_>) -> Result<Opening, Refused> {
    let summary = Summary::of(m.form);
    let Some(o) = m.target else {
        return Ok(new_order(m.reference, summary, m.mail));
    };
    let to = transition(o.state, Action::NewVersion)
        .map_err(|e| Refused(format!("{}: {e}", o.reference)))?;
    let change = Some(StateChange { from: o.state, to });
    let sender = m.mail.from.as_deref().unwrap_or("");
    Ok(Opening::Version {
        order_id: o.id,
        reference: o.reference.clone(),
        summary,
        event: Event::new(sender, "new version", change, m.mail.subject.clone()),
    })
}

/// The event on the order a form may not change: where the form went instead.
fn refused_event(m: &MailForm<'_>) -> Event {
    let sender = m.mail.from.as_deref().unwrap_or("");
    let detail = format!(
        "a form for this order from {sender} went to a person as {} ({}); this order is unchanged",
        m.reference,
        Rule::FormAmbiguous.id()
    );
    Event::new(sender, REFUSED, None, detail)
}

/// The judgement a version stores: the judged form, its planned time in full.
fn stored_judgement(jf: &JudgedForm) -> serde_json::Value {
    let mut stored = serde_json::to_value(jf).unwrap_or(serde_json::Value::Null);
    if let Some(p) = jf.planned_at {
        stored["planned_at"] = serde_json::Value::String(p.to_rfc3339());
    }
    stored
}

fn new_order(reference: &str, summary: Summary, mail: &Mail) -> Opening {
    let event = Event {
        to: Some(State::Received),
        ..Event::new(
            mail.from.as_deref().unwrap_or(""),
            "received",
            None,
            mail.subject.clone(),
        )
    };
    Opening::New {
        reference: reference.to_string(),
        summary,
        requester: mail.from.clone(),
        reply_to: mail.reply_address().map(str::to_string),
        thread: Box::new(mail_thread(mail)),
        event,
    }
}

/// The mail a receipt for a mail answers: the mail itself.
fn mail_thread(mail: &Mail) -> Thread {
    Thread::of(mail)
}

/// The verdict on a received version: `received → approved | rejected | review`, the findings
/// in the event.
pub fn verdict(decision: Decision, findings: &[Finding]) -> Event {
    let to = State::from_decision(decision);
    let detail = findings
        .iter()
        .map(|f| format!("{}: {}", f.rule.id(), f.message))
        .collect::<Vec<_>>()
        .join("\n");
    let change = Some(StateChange {
        from: State::Received,
        to,
    });
    Event::new("daemon", Action::Judge(decision).name(), change, detail)
}

/// The receipt of a verdict, what it lists and the changes the requester makes in ADM: a
/// rejection only for changes made in ADM is the `adm` receipt, listing the other problems.
fn verdict_receipt(jf: &JudgedForm) -> (ReceiptKind, Vec<String>, Option<String>) {
    let messages = |keep: &dyn Fn(&Finding) -> bool| {
        jf.findings
            .iter()
            .filter(|f| keep(f))
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
    };
    let adm = adm_changes(&jf.form, &jf.findings);
    let only_adm = adm.is_some()
        && jf
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Reject)
            .all(|f| f.rule == Rule::MatrixAdm);
    let (kind, listed) = match jf.decision {
        Decision::Approved => (ReceiptKind::Godkendt, Vec::new()),
        Decision::Rejected if only_adm => (
            ReceiptKind::Adm,
            messages(&|f| f.rule != Rule::MatrixAdm && f.severity != Severity::Info),
        ),
        Decision::Rejected => (
            ReceiptKind::Afvist,
            messages(&|f| f.severity == Severity::Reject && f.rule != Rule::MatrixAdm),
        ),
        Decision::Review => (
            ReceiptKind::TilVurdering,
            messages(&|f| f.severity == Severity::Review),
        ),
    };
    (kind, listed, adm)
}

/// The changes the requester makes in ADM, when the matrix found any, as one value.
fn adm_changes(form: &OrderForm, findings: &[Finding]) -> Option<String> {
    if !findings.iter().any(|f| f.rule == Rule::MatrixAdm) {
        return None;
    }
    let adm = crate::rules::matrix::adm_changes(form.changes.iter().copied(), form.matrix_role);
    (!adm.is_empty()).then(|| adm.join(", "))
}

/// The review mail to the Helpdesk (none without a review address); `untitled` names the
/// order when it has no form.
fn review_mail(
    mail: &Mail,
    jf: Option<&JudgedForm>,
    untitled: &str,
    values: ReceiptValues,
    ctx: &Context<'_>,
) -> Option<Receipt> {
    if ctx.helpdesk.review_to.is_empty() {
        return None;
    }
    let subject = format!(
        "[{}] Til vurdering: {} – {}",
        values.reference,
        jf.map(|f| f.kind.title()).unwrap_or(untitled),
        values.org_name.as_deref().unwrap_or("ukendt organisation")
    );
    Some(Receipt {
        kind: ReceiptKind::HelpdeskVurdering,
        to: ctx.helpdesk.review_to.clone(),
        subject: Some(subject),
        thread: mail_thread(mail),
        version: None,
        values,
    })
}

/// Tells the requester of `order` that a form with its BestillingsID came from someone who may
/// not change it, in the order's own thread. A mail of its own, saying nothing of the other
/// form or its sender: the verdict receipt of that form went to its sender, and whoever sent
/// it (the forger, or the one who took the BestillingsID first) must not learn the other
/// side's address or form. At most one a day per order, so its Message-ID names the day in
/// place of a version.
fn refusal_notice(order: &OrderRow, now: DateTime<Utc>, ctx: &Context<'_>) -> Receipt {
    Receipt {
        kind: ReceiptKind::AndenAfsender,
        to: with_requester_of(Vec::new(), Some(order), ctx.helpdesk),
        subject: None,
        thread: Thread {
            message_id: order.thread_message_id.clone(),
            references: Vec::new(),
            subject: order.thread_subject.clone(),
            ..Thread::default()
        },
        version: Some(now.timestamp().div_euclid(86_400)),
        values: ReceiptValues {
            reference: order.reference.clone(),
            bestillings_id: order.bestillings_id.clone(),
            ..ReceiptValues::default()
        },
    }
}

/// A mail that goes to a person as it is (no readable form, or over the order cap): a new
/// order in review made of the whole mail, its forms not applied.
#[derive(Debug, Clone, Copy)]
pub struct MailForAPerson<'a> {
    pub reference: &'a str,
    pub mail: &'a Mail,
    /// Why a person decides (the sender reads them).
    pub findings: &'a [Finding],
    /// The receipt that answers the sender, if any.
    pub receipt: Option<ReceiptKind>,
    /// What the review mail calls the order.
    pub what: &'a str,
    /// The files that could not be read, named in the receipt.
    pub filenames: &'a str,
    /// What went wrong reading the mail: kept in the version.
    pub problems: &'a [String],
    /// The order the mail refers to but may not write to: the Helpdesk is told, that order is
    /// not touched.
    pub not_theirs: Option<&'a OrderRow>,
}

/// Plans an order for a person: the new order, its review verdict, the receipt, the review mail.
pub fn mail_for_a_person(p: &MailForAPerson<'_>, ctx: &Context<'_>) -> MailEffects {
    let mut values = values::for_mail(p.reference, None, p.mail);
    values.filenames = p.filenames.to_string();
    values.findings = p.findings.iter().map(|f| f.message.clone()).collect();
    let verdict_receipt = p.receipt.map(|kind| Receipt {
        kind,
        to: receipt_recipients(p.mail, None, None, ctx.helpdesk),
        subject: None,
        thread: mail_thread(p.mail),
        version: None,
        values: values.clone(),
    });
    let not_theirs = p.not_theirs.map(|o| {
        values.findings.push(format!(
            "Mailen henviser til bestillingen {}, men er ikke sendt fra bestillerens adresse eller en adresse, der må skrive om bestillingen; den er ikke lagt på bestillingen.",
            o.reference
        ));
        let detail = format!(
            "refers to {} but is not from an address allowed to write about it",
            o.reference
        );
        Event::new("daemon", "not correspondence", None, detail)
    });
    MailEffects {
        opening: new_order(p.reference, Summary::default(), p.mail),
        version: Version {
            form_index: 0,
            staff: false,
            judgement: serde_json::json!({
                "findings": p.findings,
                "decision": "review",
                "problems": p.problems,
            }),
            decision: Decision::Review,
        },
        refused: None,
        received: None,
        verdict: verdict(Decision::Review, p.findings),
        verdict_receipt,
        notice: None,
        not_theirs,
        no_receipt: why_no_receipt(p.mail, ctx.helpdesk),
        review: review_mail(p.mail, None, p.what, values, ctx),
    }
}

/// The event of a mail no receipt can answer because it has no sender at all.
pub const NO_RECEIPT: &str = "no receipt";
/// How much of a sender's unusable address the history quotes.
const QUOTED_ADDRESS: usize = 200;

/// Why the sender of a mail gets no receipt when nothing can answer them, for the order's
/// history: the mail has no sender at all (no From, no Reply-To), or the sender's address does
/// not parse as one a receipt can go to (spaces inside, a stray `>`: the one address validator,
/// [`crate::mail::header_value::Address`], refuses it when the receipt is queued, so no
/// receipt to it is queued to fail for ever). `None`: the sender is answered, or is one of
/// our own addresses (never answered, by design).
pub fn why_no_receipt(mail: &Mail, h: &HelpdeskSettings) -> Option<Event> {
    // The address a receipt to the sender would go to (a Reply-To alone is no sender).
    let Some(address) = reply_address(mail.reply_to.as_deref(), mail.from.as_deref()) else {
        let detail = "ingen kvittering: mailen har ingen afsender".to_string();
        return Some(Event::note("daemon", NO_RECEIPT, detail));
    };
    if h.is_own(&address) || !receipt_recipients(mail, None, None, h).is_empty() {
        return None;
    }
    let quoted: String = address
        .chars()
        .filter(|c| !c.is_control())
        .take(QUOTED_ADDRESS)
        .collect();
    let why = format!("afsenderens adresse \"{quoted}\" er ikke en gyldig mailadresse");
    Some(Event::note(
        "daemon",
        RECEIPT_FAILED,
        receipt_failed_detail(&why),
    ))
}

// ----- a mail that changes no order's state -----

/// The event of a mail stored but never answered (`why`: our own mail, a bounce, …).
pub fn ignored(why: &str, mail: &Mail) -> Event {
    let sender = mail.from.as_deref().unwrap_or("");
    let detail = format!("{why} from {sender}; no receipt");
    Event::new("daemon", "ignored", None, detail)
}

/// Another mail with the same Message-ID, as a note names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherMail {
    /// When it arrived (as stored, RFC 3339).
    pub received: String,
    pub subject: String,
    /// The references of the orders it landed on, comma-separated; empty: none.
    pub orders: String,
}

/// The action of the note on a mail that shares its Message-ID with a different mail.
pub const REUSED_MESSAGE_ID: &str = "message-id reused";
/// How many characters of the other mail's subject a note quotes.
const QUOTED_SUBJECT: usize = 80;

/// The note on a mail (and its orders) whose Message-ID a different mail has too: both are
/// kept and processed (DESIGN.md "Intake is exactly-once"), and a person sees the other.
pub fn reused_message_id(other: &OtherMail) -> Event {
    let subject: String = other.subject.chars().take(QUOTED_SUBJECT).collect();
    let orders = if other.orders.is_empty() {
        String::new()
    } else {
        format!("{}; ", other.orders)
    };
    let detail = format!(
        "samme Message-ID som en anden mail ({orders}modtaget {}, emne \"{subject}\")",
        other.received
    );
    Event::new("daemon", REUSED_MESSAGE_ID, None, detail)
}

/// The event on an order whose receipt can never be sent (a permanent refusal, an address that
/// does not parse, or no delivery within `limits.outbox_max_age`).
pub const RECEIPT_FAILED: &str = "receipt failed";

/// What the history says of a receipt that can never be sent, and why.
pub fn receipt_failed_detail(why: &str) -> String {
    format!("kvittering kunne ikke sendes: {why}")
}

/// The event on an order whose receipt `receipt_id` came back undelivered.
pub fn bounced(receipt_id: &str) -> Event {
    let detail = format!("the receipt {receipt_id} could not be delivered");
    Event::new("daemon", "receipt bounced", None, detail)
}

/// A sender over `limits.orders_per_sender_per_hour` (`address` as counted): why the mail goes
/// to a person, as the sender reads it.
pub fn over_the_order_cap(address: &str, limit: i64, mail: &Mail) -> Finding {
    let why = format!(
        "Afsenderen {address} har sendt mere end {limit} bestillinger inden for en time. Bestillingen i mailen \"{}\" er ikke behandlet automatisk; en medarbejder i Helpdesk ser den igennem.",
        mail.subject
    );
    Finding::new(Rule::FormAmbiguous, None, why)
}

/// The event of a mail over the order cap added to the sender's held-mail order of the hour.
pub fn held(address: &str, limit: i64, forms: i64, mail: &Mail) -> Event {
    let detail = format!(
        "mail \"{}\" with {forms} form(s), over {limit} orders an hour from {address}; a person decides",
        mail.subject
    );
    Event::new(
        mail.from.as_deref().unwrap_or(""),
        "mail held",
        None,
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::fields::{Change, FormKind, Role};
    use crate::forms::form::Value;
    use State::*;

    const UUID: &str = "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2";
    /// The sender and the contact in its domain: the two who get an order's receipts.
    const SENDER_AND_CONTACT: [&str; 2] = ["fa@kommune.test", "kontakt@kommune.test"];

    fn helpdesk() -> HelpdeskSettings {
        HelpdeskSettings {
            address: "helpdesk@sp.test".into(),
            own_domains: vec!["sp.test".into()],
            review_to: vec!["review@sp.test".into()],
            rates: crate::orders::rate::RateLimits::default(),
        }
    }

    fn incident_to() -> Vec<String> {
        vec!["incident@sp.test".into()]
    }

    fn context<'a>(h: &'a HelpdeskSettings, incident_to: &'a [String]) -> Context<'a> {
        Context {
            helpdesk: h,
            register: None,
            incident_to,
        }
    }

    /// An order from fa@kommune.test with a contact in its domain and one outside it.
    fn order(state: State) -> OrderRow {
        OrderRow {
            id: 7,
            kind: Some("sftp".into()),
            reply_to: Some("FA@kommune.test".into()),
            contact_email: Some("kontakt@kommune.test".into()),
            system_name: Some("FamilieFlow".into()),
            thread_message_id: Some("<first@kommune.test>".into()),
            thread_subject: "Bestilling".into(),
            ..OrderRow::sample(state, "fa@kommune.test")
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T09:05:59Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn person<'a>(
        o: &'a OrderRow,
        judgement: &'a serde_json::Value,
        thread: &'a Thread,
        action: Action,
        text: Option<&'a str>,
    ) -> PersonAction<'a> {
        PersonAction {
            order: o,
            version: 2,
            judgement,
            thread,
            action,
            actor: "operator",
            text,
            detail: Some("output"),
            early: None,
            at: None,
            verification: None,
            now: now(),
        }
    }

    /// A day after [`now`]: a time ahead for a new planned time.
    fn tomorrow() -> DateTime<Utc> {
        now() + chrono::TimeDelta::days(1)
    }

    /// Every state × every person's action, against DESIGN.md's state machine written out:
    /// the state after (`None`: refused), the receipt the requester's side gets.
    #[test]
    fn every_state_and_every_action_of_a_person() {
        use Action::{Approve, Execute, Fail, Override, Reject, Reopen, Reschedule, Withdraw};
        use ReceiptKind as K;
        let allowed = |s: State, a: Action| -> Option<(State, ReceiptKind)> {
            match (s, a) {
                (Review, Approve | Override) => Some((Approved, K::Godkendt)),
                (Review, Reject) => Some((Rejected, K::Afvist)),
                (Approved, Reject) => Some((Rejected, K::AfgoerelseAendret)),
                (Rejected, Override) => Some((Approved, K::AfgoerelseAendret)),
                (Approved, Execute) => Some((Executed, K::Gennemfoert)),
                (Approved, Fail) => Some((Failed, K::Fejl)),
                (Failed, Reopen) => Some((Approved, K::Genaabnet)),
                (Review | Approved, Reschedule) => Some((s, K::NytTidspunkt)),
                (Received | Review | Approved | Rejected, Withdraw) => {
                    Some((Withdrawn, K::Tilbagetrukket))
                }
                _ => None,
            }
        };
        let (h, inc) = (helpdesk(), incident_to());
        let judgement = serde_json::json!({"kind": "sftp", "fields": {"contact_name": "Fie"}});
        let thread = Thread::default();
        let mut refused = 0;
        let all = [
            Approve, Reject, Execute, Fail, Withdraw, Override, Reopen, Reschedule,
        ];
        for s in State::ALL {
            for a in all {
                let o = order(s);
                let input = PersonAction {
                    at: (a == Reschedule).then(tomorrow),
                    ..person(&o, &judgement, &thread, a, Some("why"))
                };
                let planned = action(&input, &context(&h, &inc));
                let Some((to, kind)) = allowed(s, a) else {
                    let Refused(why) = planned.expect_err(&format!("{s} {a:?} is refused"));
                    assert!(why.starts_with("SP-2026-00001: cannot"), "{why}");
                    refused += 1;
                    continue;
                };
                let e = planned.unwrap_or_else(|r| panic!("{s} {a:?}: {r}"));
                assert_eq!(e.change, StateChange { from: s, to }, "{s} {a:?}");
                let moved = (a != Reschedule).then_some((Some(s), Some(to)));
                assert_eq!(
                    (e.event.from, e.event.to, e.event.actor.as_str()),
                    (moved.and_then(|m| m.0), moved.and_then(|m| m.1), "operator")
                );
                assert_eq!(e.event.action, a.name());
                assert!(e.event.detail.contains("why\noutput"), "{}", e.event.detail);
                let r = e
                    .receipt
                    .expect("every allowed action answers the requester");
                assert_eq!(r.kind, kind, "{s} {a:?}");
                assert_eq!(r.to, SENDER_AND_CONTACT, "{s} {a:?}");
                let repeatable =
                    matches!(kind, K::NytTidspunkt | K::Genaabnet | K::AfgoerelseAendret);
                let version = if repeatable {
                    now().timestamp_millis()
                } else {
                    2
                };
                assert_eq!(r.version, Some(version), "{s} {a:?}");
                assert_eq!(r.values.contact_name.as_deref(), Some("Fie"));
                assert_eq!(
                    e.mark.is_some(),
                    matches!(to, Executed | Failed) || a == Reschedule,
                    "{s} {a:?}"
                );
                // Only a failure opens an incident, to the incident address.
                assert_eq!(
                    e.incident.map(|i| i.to),
                    (to == Failed).then(incident_to),
                    "{s} {a:?}"
                );
            }
        }
        assert_eq!(refused, 7 * 8 - 14, "14 pairs are allowed");
    }

    /// An override, a reopening and a new time need a reason; an early execution needs
    /// `--early` with a reason; a new time must be ahead; an order without its form's required
    /// fields is neither approved nor executed.
    #[test]
    fn a_person_overrides_only_with_a_reason_and_carries_out_only_a_whole_form() {
        let (h, inc) = (helpdesk(), incident_to());
        let t = Thread::default();
        let form = serde_json::json!({"kind": "sftp", "findings": []});
        let plan = |s: State, a: Action, j: &serde_json::Value, text: Option<&str>| {
            let o = OrderRow {
                planned_at: Some(tomorrow()),
                ..order(s)
            };
            let input = PersonAction {
                at: Some(tomorrow()),
                ..person(&o, j, &t, a, text)
            };
            action(&input, &context(&h, &inc)).map(|e| e.change.to)
        };
        for (s, a) in [
            (Rejected, Action::Override),
            (Approved, Action::Reject),
            (Failed, Action::Reopen),
            (Approved, Action::Reschedule),
        ] {
            for blank in [None, Some(" ")] {
                let why = plan(s, a, &form, blank).unwrap_err().0;
                assert!(why.contains("needs a reason"), "{s} {a:?}: {why}");
            }
            assert!(plan(s, a, &form, Some("aftalt")).is_ok(), "{s} {a:?}");
        }
        // A review order may still be rejected with the reason the sender reads, as before.
        assert_eq!(plan(Review, Action::Reject, &form, Some("x")), Ok(Rejected));

        // No form at all (an unreadable file), or a required field missing.
        let formless = serde_json::json!({"decision": "review", "findings": []});
        let missing = serde_json::json!({"kind": "sftp", "findings": [
            {"rule": "field.missing", "severity": "reject", "field": "org_cvr", "message": "m"}]});
        for j in [&formless, &missing] {
            for (s, a) in [
                (Review, Action::Approve),
                (Rejected, Action::Override),
                (Approved, Action::Execute),
            ] {
                let why = plan(s, a, j, Some("x")).unwrap_err().0;
                assert!(
                    why.contains("required fields") && why.contains("spdesk orders edit"),
                    "{s} {a:?}: {why}"
                );
            }
        }
        assert!(missing_required(&missing).unwrap().contains("org_cvr"));
        assert_eq!(missing_required(&form), None);

        // Before the planned time: refused, unless early with a reason.
        let o = OrderRow {
            planned_at: Some(tomorrow()),
            ..order(Approved)
        };
        let early = |why: Option<&'static str>| {
            let input = PersonAction {
                early: why,
                ..person(&o, &form, &t, Action::Execute, Some("note"))
            };
            action(&input, &context(&h, &inc))
        };
        let why = early(None).unwrap_err().0;
        assert!(
            why.contains("--early --reason") && why.contains("december 2026"),
            "{why}"
        );
        assert!(early(Some(" ")).unwrap_err().0.contains("needs a reason"));
        let e = early(Some("aftalt med kommunen")).unwrap();
        assert_eq!(e.change.to, Executed);
        assert!(
            e.event
                .detail
                .contains("før det planlagte tidspunkt: aftalt med kommunen")
        );
        assert_eq!(e.receipt.unwrap().values.note.as_deref(), Some("note"));

        // A new time must lie ahead.
        let o = order(Approved);
        for at in [None, Some(now()), Some(now() - chrono::TimeDelta::hours(1))] {
            let input = PersonAction {
                at,
                ..person(&o, &form, &t, Action::Reschedule, Some("x"))
            };
            assert!(action(&input, &context(&h, &inc)).is_err(), "{at:?}");
        }
    }

    /// A second failure after a reopening is a mail of its own (receipt and incident): the
    /// first failure's Message-IDs are taken.
    #[test]
    fn a_failure_after_a_reopening_is_told_again() {
        let (h, inc) = (helpdesk(), incident_to());
        let (t, j) = (Thread::default(), serde_json::json!({"kind": "sftp"}));
        let fail = |o: &OrderRow| {
            let e = action(
                &person(o, &j, &t, Action::Fail, Some("igen")),
                &context(&h, &inc),
            )
            .unwrap();
            (e.receipt.unwrap().version, e.incident.unwrap().version)
        };
        assert_eq!(fail(&order(Approved)), (Some(2), 2));
        let again = OrderRow {
            incident_at: Some(now() - chrono::TimeDelta::days(1)),
            ..order(Approved)
        };
        let millis = now().timestamp_millis();
        assert_eq!(fail(&again), (Some(millis), millis));
    }

    /// What the requester reads: the new time, the reopening's time, the decision before and
    /// now with the reason.
    #[test]
    fn a_persons_change_tells_the_requester_what_changed_and_why() {
        let (h, inc) = (helpdesk(), incident_to());
        let (t, j) = (Thread::default(), serde_json::json!({"kind": "sftp"}));
        let planned = DateTime::parse_from_rfc3339("2026-12-14T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let receipt = |s: State, a: Action| {
            let o = OrderRow {
                planned_at: Some(planned),
                ..order(s)
            };
            let input = PersonAction {
                at: Some(tomorrow()),
                ..person(&o, &j, &t, a, Some("aftalt i telefonen"))
            };
            let e = action(&input, &context(&h, &inc)).unwrap();
            (e.mark, e.receipt.unwrap().values)
        };
        let (mark, moved) = receipt(Approved, Action::Reschedule);
        assert_eq!(mark, Some(Mark::Planned(tomorrow())));
        let o = order(Approved);
        let input = PersonAction {
            at: Some(tomorrow()),
            ..person(&o, &j, &t, Action::Reschedule, Some("aftalt"))
        };
        let e = action(&input, &context(&h, &inc)).unwrap();
        assert_eq!(
            e.event.detail,
            "nyt tidspunkt: tirsdag den 8. december 2026 kl. 10.05\naftalt\noutput"
        );
        assert_eq!(
            moved.planned_at.as_deref(),
            Some("tirsdag den 8. december 2026 kl. 10.05")
        );
        assert_eq!(moved.reason.as_deref(), Some("aftalt i telefonen"));
        let (mark, reopened) = receipt(Failed, Action::Reopen);
        assert_eq!(mark, Some(Mark::Planned(tomorrow())), "reopen --at");
        assert_eq!(
            reopened.planned_at.as_deref(),
            Some("tirsdag den 8. december 2026 kl. 10.05")
        );
        let (_, overridden) = receipt(Rejected, Action::Override);
        assert_eq!(
            overridden.decided_before.as_deref(),
            Some("afvist; ændringen gennemføres ikke")
        );
        assert_eq!(
            overridden.decided_now.as_deref(),
            Some("godkendt; ændringen gennemføres mandag den 14. december 2026 kl. 10.00")
        );
        assert_eq!(overridden.reason.as_deref(), Some("aftalt i telefonen"));
        let (_, rejected) = receipt(Approved, Action::Reject);
        assert!(rejected.findings.is_empty());
        assert!(rejected.decided_now.unwrap().starts_with("afvist"));
        let text = crate::orders::receipts::Templates::builtin()
            .unwrap()
            .render(ReceiptKind::AfgoerelseAendret, &overridden)
            .unwrap();
        assert!(
            text.contains("Før: afvist") && text.contains("Begrundelse: aftalt i telefonen"),
            "{text}"
        );
    }

    /// "Genåbnet" never names a time that has passed: `--at` sets the new one; without it a
    /// planned time ahead is kept, and a past one is left out (the receipt says a new time is
    /// agreed).
    #[test]
    fn a_reopening_names_a_time_ahead_or_none() {
        let (h, inc) = (helpdesk(), incident_to());
        let (t, j) = (Thread::default(), serde_json::json!({"kind": "sftp"}));
        let reopen = |planned: DateTime<Utc>, at: Option<DateTime<Utc>>| {
            let o = OrderRow {
                planned_at: Some(planned),
                ..order(Failed)
            };
            let input = PersonAction {
                at,
                ..person(&o, &j, &t, Action::Reopen, Some("rettet"))
            };
            action(&input, &context(&h, &inc))
        };
        let past = now() - chrono::TimeDelta::days(3);
        let e = reopen(past, None).unwrap();
        assert_eq!((e.mark, e.change.to), (None, Approved));
        let values = e.receipt.unwrap().values;
        assert_eq!(values.planned_at, None);
        let text = crate::orders::receipts::Templates::builtin()
            .unwrap()
            .render(ReceiptKind::Genaabnet, &values)
            .unwrap();
        assert!(text.contains("aftaler et nyt tidspunkt"), "{text}");
        assert!(!text.contains("december"), "{text}");
        let ahead = now() + chrono::TimeDelta::days(3);
        let e = reopen(ahead, None).unwrap();
        assert_eq!(e.mark, None);
        let text = crate::orders::receipts::Templates::builtin()
            .unwrap()
            .render(ReceiptKind::Genaabnet, &e.receipt.unwrap().values)
            .unwrap();
        assert!(
            text.contains("gennemføres igen torsdag den 10. december"),
            "{text}"
        );
        let e = reopen(past, Some(tomorrow())).unwrap();
        assert_eq!(e.mark, Some(Mark::Planned(tomorrow())));
        assert!(
            e.event
                .detail
                .starts_with("nyt tidspunkt: tirsdag den 8. december")
        );
        let why = reopen(past, Some(past)).unwrap_err().0;
        assert!(why.contains("has passed"), "{why}");
    }

    /// Judging and a new version are a mail's doing: a person's action of either is refused
    /// in every state, even where the state machine would take it from a mail.
    #[test]
    fn a_person_neither_judges_nor_files_a_new_version() {
        let (h, inc) = (helpdesk(), incident_to());
        let (j, t) = (serde_json::Value::Null, Thread::default());
        for s in State::ALL {
            let o = order(s);
            for a in [Action::NewVersion, Action::Judge(Decision::Approved)] {
                let r = action(&person(&o, &j, &t, a, None), &context(&h, &inc));
                assert!(r.unwrap_err().0.contains("done by a mail"), "{s} {a:?}");
            }
            // A person's version is made and judged by `orders edit` ([`staff_version`]).
            let r = action(&person(&o, &j, &t, Action::Edit, None), &context(&h, &inc));
            assert!(r.unwrap_err().0.contains("orders edit"), "{s}");
        }
    }

    /// The requester's side only: a contact outside the sender's domain gets nothing unless
    /// the register lists it for the order's it-system; no requester, no receipt; never our
    /// own addresses.
    #[test]
    fn an_actions_receipt_goes_to_the_requesters_side_only() {
        let (h, inc) = (helpdesk(), incident_to());
        let t = Thread::default();
        let outsider = OrderRow {
            contact_email: Some("Drift@Leverandoer.test".into()),
            ..order(Review)
        };
        let j = serde_json::json!({"kind": "sftp", "fields": {"system_uuid": UUID}});
        let plan_to = |o: &OrderRow, register: Option<&Register>| {
            let ctx = Context {
                register,
                ..context(&h, &inc)
            };
            action(&person(o, &j, &t, Action::Approve, None), &ctx)
                .unwrap()
                .receipt
                .map(|r| r.to)
        };
        assert_eq!(
            plan_to(&outsider, None),
            Some(vec!["fa@kommune.test".into()])
        );
        let register = Register::from_csv(&format!(
            "uuid,name,role,org_cvr,senders\n{UUID},FamilieFlow,modtagersystem,54921942,@kommune.test drift@leverandoer.test\n"
        ))
        .unwrap();
        assert_eq!(
            plan_to(&outsider, Some(&register)),
            Some(vec![
                "fa@kommune.test".into(),
                "drift@leverandoer.test".into()
            ])
        );
        let nobody = OrderRow {
            requester: None,
            reply_to: None,
            ..order(Review)
        };
        assert_eq!(
            plan_to(&nobody, None),
            None,
            "a contact alone is never trusted"
        );
        let ours = OrderRow {
            requester: Some("x@sp.test".into()),
            reply_to: None,
            contact_email: Some("y@sp.test".into()),
            ..order(Review)
        };
        assert_eq!(plan_to(&ours, None), None);
    }

    /// The reason of a rejection is its one finding, an execution's note and a withdrawal's
    /// reason are their own values; the planned time has a fallback.
    #[test]
    fn an_actions_text_lands_in_its_own_value() {
        let (h, inc) = (helpdesk(), incident_to());
        let (j, t) = (serde_json::json!({"kind": "sftp"}), Thread::default());
        let values = |s: State, a: Action| {
            let o = order(s);
            let e = action(&person(&o, &j, &t, a, Some(" text ")), &context(&h, &inc));
            e.unwrap().receipt.unwrap().values
        };
        let rejected = values(Review, Action::Reject);
        assert_eq!(rejected.findings, ["text"]);
        assert_eq!((rejected.note, rejected.reason), (None, None));
        let executed = values(Approved, Action::Execute);
        assert_eq!(executed.note.as_deref(), Some("text"));
        assert!(executed.findings.is_empty());
        assert_eq!(
            executed.executed_at.as_deref(),
            Some("mandag den 7. december 2026 kl. 10.05")
        );
        let withdrawn = values(Review, Action::Withdraw);
        assert_eq!(withdrawn.reason.as_deref(), Some("text"));
        // No planned time: none is claimed ("på det aftalte tidspunkt" promised one).
        assert_eq!(withdrawn.planned_at, None);
    }

    /// A failure's incident mail names the order, the it-system and who failed it, and goes
    /// nowhere without an incident address.
    #[test]
    fn a_failure_opens_an_incident() {
        let h = helpdesk();
        let (j, t) = (
            serde_json::json!({"fields": {"sftp_user": "bd"}}),
            Thread::default(),
        );
        let o = order(Approved);
        let inc = incident_to();
        let e = action(&person(&o, &j, &t, Action::Fail, None), &context(&h, &inc)).unwrap();
        let i = e.incident.unwrap();
        assert_eq!(
            i.subject,
            incident_subject("SP-2026-00001", Some("FamilieFlow"))
        );
        assert_eq!(
            (i.version, i.values.actor.as_str(), i.values.reason.as_str()),
            (2, "operator", "(ingen begrundelse)")
        );
        assert_eq!(i.values.kind_title.as_deref(), Some(FormKind::Sftp.title()));
        assert_eq!(i.values.fields[0].value, "bd");
        assert_eq!(e.mark, Some(Mark::Incident));
        let e = action(&person(&o, &j, &t, Action::Fail, None), &context(&h, &[])).unwrap();
        assert!(e.incident.is_none());
        assert_eq!(e.receipt.map(|r| r.kind), Some(ReceiptKind::Fejl));
    }

    #[test]
    fn every_closing_action_has_its_receipt() {
        assert_eq!(receipt_for(Executed), Some(ReceiptKind::Gennemfoert));
        assert_eq!(receipt_for(Failed), Some(ReceiptKind::Fejl));
        assert_eq!(receipt_for(Withdrawn), Some(ReceiptKind::Tilbagetrukket));
        assert_eq!(receipt_for(Approved), Some(ReceiptKind::Godkendt));
        assert_eq!(receipt_for(Rejected), Some(ReceiptKind::Afvist));
        assert_eq!(receipt_for(Review), None);
        assert_eq!(receipt_for(Received), None);
    }

    #[test]
    fn event_detail_joins_what_is_there() {
        assert_eq!(event_detail(Some(" note "), Some("out")), "note\nout");
        assert_eq!(event_detail(None, Some("out")), "out");
        assert_eq!(event_detail(Some(""), None), "");
    }

    #[test]
    fn mail_times_drop_seconds() {
        assert_eq!(
            danish_minute(now()),
            "mandag den 7. december 2026 kl. 10.05"
        );
    }

    /// The incident mail names the it-system from the form and attaches the original mail:
    /// a system name or file name with a line break stays inside its header.
    #[test]
    fn the_incident_header_block_holds_only_our_headers() {
        use crate::orders::receipts::{OutAttachment, ReceiptKind, Thread};
        let out = crate::orders::receipts::tests::try_compose(
            ReceiptKind::Incident,
            "incident@example.test",
            &Thread::default(),
            Some(incident_subject(
                "SP-2026-00002",
                Some("FamilieFlow\r\nBcc: evil@x.test\r\n\r\nbody"),
            )),
            &[OutAttachment {
                content_type: "message/rfc822",
                filename: "original.eml\r\nX-Evil: 1",
                bytes: b"From: a@b.test\r\nSubject: x\r\n\r\nhej\r\n",
            }],
        )
        .unwrap();
        crate::mail::header_value::assert_only_our_headers(
            &out.raw,
            &crate::mail::header_value::OUR_HEADERS,
        );
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert!(
            parsed
                .subject
                .ends_with("FamilieFlow Bcc: evil@x.test body")
        );
        let a = parsed.attachments.first().unwrap();
        assert_eq!(a.name.as_deref(), Some("original.eml X-Evil: 1"));
    }

    #[test]
    fn incident_subject_names_the_system() {
        assert_eq!(
            incident_subject("SP-2026-00001", Some("FamilieFlow")),
            "[SP-2026-00001] Incident: fejl ved ændring af teknisk konfiguration – FamilieFlow"
        );
        assert!(incident_subject("SP-2026-00001", Some(" ")).ends_with("– ukendt it-system"));
    }
    // ----- a mail -----

    fn mail(from: &str) -> Mail {
        Mail {
            from: Some(from.into()),
            message_id: Some("<m2@kommune.test>".into()),
            subject: "Rettet bestilling".into(),
            ..Mail::default()
        }
    }

    #[test]
    fn the_history_says_why_a_sender_gets_no_receipt() {
        let h = helpdesk();
        let no_sender = Mail::default();
        let e = why_no_receipt(&no_sender, &h).expect("no sender");
        assert_eq!(e.action, NO_RECEIPT);
        assert_eq!(e.detail, "ingen kvittering: mailen har ingen afsender");
        let blank = mail("  ");
        assert_eq!(
            why_no_receipt(&blank, &h).map(|e| e.action),
            Some(NO_RECEIPT.into())
        );
        // As mail-parser reads `"Jens Hansen" <jens hansen@example.dk>` and `x@example.dk>`.
        for bad in ["jens hansen@example.dk", "x@example.dk>", "@example.com"] {
            let e = why_no_receipt(&mail(bad), &h).unwrap_or_else(|| panic!("{bad}"));
            assert_eq!(e.action, RECEIPT_FAILED, "{bad}");
            assert!(
                e.detail
                    .starts_with("kvittering kunne ikke sendes: afsenderens adresse")
                    && e.detail.contains(bad),
                "{bad}: {}",
                e.detail
            );
        }
        let hostile = mail(&format!("a\u{7}b {}@x.test", "c".repeat(5000)));
        let e = why_no_receipt(&hostile, &h).expect("hostile");
        assert!(
            !e.detail.contains('\u{7}') && e.detail.len() < 400,
            "{}",
            e.detail
        );
        // Answered: nothing to say. Our own address: never answered, by design.
        assert_eq!(why_no_receipt(&mail("fa@kommune.test"), &h), None);
        assert_eq!(why_no_receipt(&mail(&h.address), &h), None);
    }

    /// A judged sftp form with BestillingsID BD-1 and a contact in the sender's domain.
    fn judged(decision: Decision, findings: Vec<Finding>) -> JudgedForm {
        let fields: std::collections::BTreeMap<&'static str, Value> = [
            ("bestillings_id", "BD-1"),
            ("contact_email", "Kontakt@kommune.test"),
            ("org_name", "Kystby Kommune"),
        ]
        .into_iter()
        .map(|(k, v)| (k, Value::Text(v.into())))
        .collect();
        let form = OrderForm {
            kind: FormKind::Sftp,
            source: "bestilling.docx".into(),
            fields: fields.clone(),
            invalid: Default::default(),
            changes: [Change::SshKey, Change::Monitoring].into(),
            desired: None,
            role: Some(Role::Afsendersystem),
            matrix_role: Some(Role::Afsendersystem),
            monitoring: None,
            findings: Vec::new(),
        };
        JudgedForm {
            kind: FormKind::Sftp,
            source: form.source.clone(),
            fields,
            findings,
            decision,
            planned_at: None,
            form,
            target: Default::default(),
        }
    }

    fn mail_form_of<'a>(
        jf: &'a JudgedForm,
        m: &'a Mail,
        target: Option<&'a OrderRow>,
        refused: Option<&'a OrderRow>,
    ) -> MailForm<'a> {
        MailForm {
            reference: target.map_or("SP-2026-00009", |o| o.reference.as_str()),
            index: 0,
            form: jf,
            target,
            refused,
            requester_told_lately: false,
            mail: m,
            may_reply: true,
            now: now(),
        }
    }

    fn finding(rule: Rule) -> Finding {
        Finding::new(rule, None, format!("{} found", rule.id()))
    }

    /// A form against every target (none, or an order in each state) × every verdict: the
    /// opening (new order, new version, refused), the verdict's state and event, the receipts
    /// and to whom, the review mail.
    #[test]
    fn every_target_state_and_every_verdict_of_a_form() {
        let h = helpdesk();
        let m = mail("fa@kommune.test");
        let verdicts = [
            (Decision::Approved, vec![], ReceiptKind::Godkendt),
            (
                Decision::Rejected,
                vec![finding(Rule::FieldMissing)],
                ReceiptKind::Afvist,
            ),
            (
                Decision::Review,
                vec![finding(Rule::BestillingsIdUnknown)],
                ReceiptKind::TilVurdering,
            ),
        ];
        let targets = std::iter::once(None).chain(State::ALL.map(Some));
        let mut refused = 0;
        for target in targets {
            for (decision, findings, kind) in &verdicts {
                let o = target.map(order);
                let jf = judged(*decision, findings.clone());
                let planned =
                    mail_form(&mail_form_of(&jf, &m, o.as_ref(), None), &context(&h, &[]));
                // A corrected version only of an order not yet approved or closed.
                if matches!(target, Some(Approved | Executed | Failed | Withdrawn)) {
                    assert!(
                        planned
                            .unwrap_err()
                            .0
                            .contains("received, review or rejected")
                    );
                    refused += 1;
                    continue;
                }
                let e = planned.unwrap_or_else(|r| panic!("{target:?} {decision:?}: {r}"));
                match (&e.opening, target) {
                    (
                        Opening::New {
                            event, requester, ..
                        },
                        None,
                    ) => {
                        assert_eq!((event.from, event.to), (None, Some(Received)));
                        assert_eq!(requester.as_deref(), Some("fa@kommune.test"));
                    }
                    (
                        Opening::Version {
                            order_id, event, ..
                        },
                        Some(s),
                    ) => {
                        assert_eq!(*order_id, 7);
                        assert_eq!((event.from, event.to), (Some(s), Some(Received)));
                        assert_eq!(event.action, "new version");
                    }
                    (other, _) => panic!("{target:?}: {other:?}"),
                }
                let to = State::from_decision(*decision);
                assert_eq!((e.verdict.from, e.verdict.to), (Some(Received), Some(to)));
                assert_eq!(e.verdict.actor, "daemon");
                let received = e.received.expect("modtaget");
                assert_eq!(received.kind, ReceiptKind::Modtaget);
                assert_eq!(received.to, SENDER_AND_CONTACT);
                let verdict = e.verdict_receipt.expect("the verdict's receipt");
                assert_eq!(verdict.kind, *kind, "{target:?} {decision:?}");
                assert_eq!(verdict.to, SENDER_AND_CONTACT);
                assert_eq!(
                    verdict.thread.message_id.as_deref(),
                    Some("<m2@kommune.test>")
                );
                assert_eq!(verdict.values.findings.len(), findings.len());
                let review = e.review.map(|r| (r.kind, r.to));
                let expected = (*decision == Decision::Review).then(|| {
                    (
                        ReceiptKind::HelpdeskVurdering,
                        vec!["review@sp.test".to_string()],
                    )
                });
                assert_eq!(review, expected, "{target:?} {decision:?}");
                assert!(e.refused.is_none() && e.notice.is_none() && e.not_theirs.is_none());
                assert_eq!(e.version.decision, *decision);
            }
        }
        assert_eq!(refused, 4 * 3);
    }

    /// A person's version: from any open state back to `received` by the person, then the
    /// verdict like a mail's; "Rettet af Helpdesk" in place of modtaget, in the order's mail's
    /// thread to its requester's side; refused for a closed order, without a reason or edits.
    #[test]
    fn a_staff_version_is_judged_like_a_mails_and_tells_the_requester_what_changed() {
        let h = helpdesk();
        let m = mail("fa@kommune.test");
        let edits = ["CVR-nr.: 12345674 → 29189846".to_string()];
        let jf = judged(Decision::Approved, vec![]);
        for s in State::ALL {
            let o = order(s);
            let input = StaffVersion {
                order: &o,
                form: &jf,
                edits: &edits,
                mail: &m,
                actor: "hanne",
                reason: "rettet efter telefonsamtale",
                now: now(),
            };
            let planned = staff_version(&input, &context(&h, &[]));
            if !s.is_open() {
                assert!(planned.unwrap_err().0.contains("cannot edit"), "{s}");
                continue;
            }
            let e = planned.unwrap_or_else(|r| panic!("{s}: {r}"));
            let Opening::Version {
                order_id, event, ..
            } = &e.opening
            else {
                panic!("{s}: {:?}", e.opening)
            };
            assert_eq!(*order_id, 7);
            assert_eq!((event.from, event.to), (Some(s), Some(Received)));
            assert_eq!(
                (event.actor.as_str(), event.action.as_str()),
                ("hanne", "edit")
            );
            assert!(event.detail.contains("rettet efter") && event.detail.contains("29189846"));
            assert!(e.version.staff);
            assert_eq!(
                (e.verdict.from, e.verdict.to),
                (Some(Received), Some(Approved))
            );
            let fixed = e.received.expect("Rettet af Helpdesk");
            assert_eq!(fixed.kind, ReceiptKind::RettetAfHelpdesk);
            assert_eq!(fixed.values.edits, edits);
            assert_eq!(fixed.to, SENDER_AND_CONTACT);
            assert_eq!(
                fixed.thread.message_id.as_deref(),
                Some("<m2@kommune.test>")
            );
            assert_eq!(e.verdict_receipt.unwrap().kind, ReceiptKind::Godkendt);
        }
        let o = order(Review);
        let base = StaffVersion {
            order: &o,
            form: &jf,
            edits: &edits,
            mail: &m,
            actor: "hanne",
            reason: " ",
            now: now(),
        };
        let ctx = context(&h, &[]);
        assert!(
            staff_version(&base, &ctx)
                .unwrap_err()
                .0
                .contains("needs a reason")
        );
        let none = StaffVersion {
            reason: "x",
            edits: &[],
            ..base
        };
        assert!(staff_version(&none, &ctx).unwrap_err().0.contains("--set"));
    }

    /// A rejection only for changes made in ADM is the adm receipt, the changes named as the
    /// matrix names them (never read back out of a message); with another problem it is afvist,
    /// still naming them.
    #[test]
    fn changes_made_in_adm_are_a_value_of_their_own() {
        let h = helpdesk();
        let m = mail("fa@kommune.test");
        let adm = Finding::new(Rule::MatrixAdm, Some("changes"), "(not this) text");
        let plan_of = |findings: Vec<Finding>| {
            let jf = judged(Decision::Rejected, findings);
            let e = mail_form(&mail_form_of(&jf, &m, None, None), &context(&h, &[])).unwrap();
            e.verdict_receipt.unwrap()
        };
        let only = plan_of(vec![adm.clone()]);
        assert_eq!(only.kind, ReceiptKind::Adm);
        assert_eq!(
            only.values.adm.as_deref(),
            Some("SSH-nøgle for et afsendersystem")
        );
        assert!(only.values.findings.is_empty());
        let more = plan_of(vec![adm, finding(Rule::FieldMissing)]);
        assert_eq!(more.kind, ReceiptKind::Afvist);
        assert_eq!(more.values.findings, ["field.missing found"]);
        assert_eq!(more.values.adm, only.values.adm);
        let none = plan_of(vec![finding(Rule::FieldMissing)]);
        assert_eq!(none.values.adm, None);
    }

    /// A form that may not change an order: the event on that order, a notice to its
    /// requester in its own thread (once a day), and the sender's receipts never carry the
    /// requester's address.
    #[test]
    fn a_form_refused_on_anothers_order_tells_its_requester_once_a_day() {
        let h = helpdesk();
        let m = mail("forger@evil.test");
        let theirs = OrderRow {
            id: 3,
            requester: Some("Chef@Kommune.test".into()),
            ..order(Approved)
        };
        let jf = judged(Decision::Review, vec![finding(Rule::FormAmbiguous)]);
        let input = mail_form_of(&jf, &m, None, Some(&theirs));
        let e = mail_form(&input, &context(&h, &[])).unwrap();
        let (on, event) = e.refused.expect("an event on the refused order");
        assert_eq!((on, event.action.as_str(), event.to), (3, REFUSED, None));
        assert!(event.detail.contains("SP-2026-00009"));
        let (on, notice) = e.notice.expect("a notice to its requester");
        assert_eq!((on, notice.kind), (3, ReceiptKind::AndenAfsender));
        assert_eq!(notice.to, ["chef@kommune.test"]);
        assert_eq!(notice.values.reference, "SP-2026-00001");
        assert_eq!(
            notice.thread.message_id.as_deref(),
            Some("<first@kommune.test>")
        );
        assert_eq!(notice.version, Some(now().timestamp().div_euclid(86_400)));
        for r in [e.received.unwrap(), e.verdict_receipt.unwrap()] {
            assert_eq!(r.to, ["forger@evil.test"], "{:?}", r.kind);
        }
        let lately = MailForm {
            requester_told_lately: true,
            ..input
        };
        let e = mail_form(&lately, &context(&h, &[])).unwrap();
        assert!(e.refused.is_some() && e.notice.is_none());
    }

    /// A sender who is not answered (our own address, no address) gets no receipt; the
    /// Helpdesk's review mail goes all the same.
    #[test]
    fn no_receipt_without_a_reply_but_the_review_mail_still_goes() {
        let h = helpdesk();
        let m = mail("fa@kommune.test");
        let jf = judged(Decision::Review, vec![finding(Rule::BestillingsIdUnknown)]);
        let input = MailForm {
            may_reply: false,
            ..mail_form_of(&jf, &m, None, None)
        };
        let e = mail_form(&input, &context(&h, &[])).unwrap();
        assert!(e.received.is_none() && e.verdict_receipt.is_none());
        let review = e.review.unwrap();
        let subject = format!(
            "[SP-2026-00009] Til vurdering: {} – Kystby Kommune",
            FormKind::Sftp.title()
        );
        assert_eq!(review.subject, Some(subject));
        assert_eq!(
            review.values.findings,
            ["bestillings_id.unknown found (bestillings_id.unknown)"]
        );
        let quiet = HelpdeskSettings {
            review_to: Vec::new(),
            ..helpdesk()
        };
        assert!(
            mail_form(&input, &context(&quiet, &[]))
                .unwrap()
                .review
                .is_none()
        );
    }

    /// A mail for a person: a review order answered with its receipt to the sender only; the
    /// order it may not write to is named to the Helpdesk, not to the sender.
    #[test]
    fn a_mail_for_a_person_is_one_review_order() {
        let h = helpdesk();
        let m = mail("fa@kommune.test");
        let why = [finding(Rule::FormUnreadable)];
        let other = order(Review);
        let p = MailForAPerson {
            reference: "SP-2026-00010",
            mail: &m,
            findings: &why,
            receipt: Some(ReceiptKind::Ulaeselig),
            what: "bestilling der ikke kunne læses",
            filenames: "a.pdf",
            problems: &[],
            not_theirs: Some(&other),
        };
        let e = mail_for_a_person(&p, &context(&h, &[]));
        assert!(
            matches!(&e.opening, Opening::New { reference, .. } if reference == "SP-2026-00010")
        );
        assert_eq!(
            (e.verdict.from, e.verdict.to),
            (Some(Received), Some(Review))
        );
        let r = e.verdict_receipt.unwrap();
        assert_eq!(
            (r.kind, &r.to[..]),
            (ReceiptKind::Ulaeselig, &["fa@kommune.test".to_string()][..])
        );
        assert_eq!(
            (r.values.filenames.as_str(), r.values.findings.len()),
            ("a.pdf", 1)
        );
        assert_eq!(e.not_theirs.unwrap().action, "not correspondence");
        let review = e.review.unwrap();
        assert_eq!(
            review.values.findings.len(),
            2,
            "the Helpdesk learns of the other order"
        );
        assert!(
            review
                .subject
                .unwrap()
                .contains("bestilling der ikke kunne læses")
        );
        assert!(e.received.is_none() && e.refused.is_none() && e.notice.is_none());
        let quiet = MailForAPerson { receipt: None, ..p };
        assert!(
            mail_for_a_person(&quiet, &context(&h, &[]))
                .verdict_receipt
                .is_none()
        );
    }
}
