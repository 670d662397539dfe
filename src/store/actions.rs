//! A person's or the executor's action on an order, as one transaction: load the order and its
//! latest version, [`crate::orders::plan::action`] decides, [`crate::store::apply::action`]
//! writes, commit. It lives in the store, not in the CLI, because the CLI, the daemon's
//! executor and (later) a web console all call it, and the store is the layer all of them
//! already use; the decisions themselves stay pure in `orders::plan`.

use chrono::{DateTime, Utc};

use crate::mail::Mail;
use crate::orders::helpdesk::HelpdeskSettings;
use crate::orders::plan::{self, Context, PersonAction};
use crate::orders::receipts::{Templates, Thread};
use crate::orders::state::{Action, State};
use crate::store::apply::{self, Apply};
use crate::store::{self, Store, Tx};

/// What the order actions need besides the database: the templates and the Helpdesk's
/// addresses. The CLI and the daemon's executor build it from the same config.
pub struct Actions {
    pub templates: std::sync::Arc<Templates>,
    pub helpdesk: HelpdeskSettings,
    /// Where the incident mail of a failed order goes.
    pub incident_to: Vec<String>,
    /// The it-system register: a contact e-mail listed for the system gets receipts too.
    pub register: Option<std::sync::Arc<crate::rules::it_systems::Register>>,
}

/// One action on one order, by a person (CLI) or the executor.
#[derive(Debug, Clone)]
pub struct OrderAction<'a> {
    pub reference: &'a str,
    pub action: Action,
    /// Who acts: the person (`--as NAME`, else `$SUDO_USER`, else `$USER`) or `executor`.
    pub actor: &'a str,
    /// The reason (reject, fail, withdraw) or the note (execute): in the event and the receipts.
    pub text: Option<&'a str>,
    /// More for the event only, e.g. the executor command's output.
    pub detail: Option<&'a str>,
    /// `execute --early --reason`: why it is carried out before its planned time.
    pub early: Option<&'a str>,
    /// The new planned time (`reschedule --at`).
    pub at: Option<DateTime<Utc>>,
    /// The executor's claim (`orders.executing_at`): the action applies only while the claim
    /// holds and the order has not changed since it was taken.
    pub claim: Option<DateTime<Utc>>,
    /// An execution's step-8 check (`crate::verify::before_execute`); `None`: none ran.
    pub verification: Option<&'a crate::orders::verification::Verification>,
    pub now: DateTime<Utc>,
}

/// What an action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// Committed: the state change, its event and these mails (`kind to a, b`).
    Done {
        from: State,
        to: State,
        mails: Vec<String>,
    },
    /// Nothing changed, and why (no such order, wrong state, the claim no longer holds).
    Refused(String),
}

/// An order's latest version: its number, the judgement stored with it and the mail it came in.
pub struct Latest {
    pub version: i64,
    /// The stored mail it came in (0: none).
    pub inbound_id: i64,
    pub judgement: serde_json::Value,
    pub raw: Vec<u8>,
    pub mail: Mail,
}

/// The latest version of an order (version 0, nothing else, when it has none).
pub async fn latest_version(tx: &mut Tx<'_>, order_id: i64) -> anyhow::Result<Latest> {
    let row = crate::store::versions::latest_with_mail(tx, order_id).await?;
    Ok(match row {
        Some((version, judgement, raw, inbound_id)) => Latest {
            version,
            inbound_id,
            judgement: serde_json::from_str(&judgement).unwrap_or(serde_json::Value::Null),
            mail: Mail::parse(&raw, 0).unwrap_or_default(),
            raw,
        },
        None => Latest {
            version: 0,
            inbound_id: 0,
            judgement: serde_json::Value::Null,
            raw: Vec::new(),
            mail: Mail::default(),
        },
    })
}

/// Why the executor's claim no longer holds (`None`: it does): the order was claimed at
/// another time, or changed after the claim was taken.
async fn claim_lost(
    tx: &mut Tx<'_>,
    order_id: i64,
    claim: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let (executing_at, updated_at): (Option<String>, String) =
        sqlx::query_as("SELECT executing_at, updated_at FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_one(&mut **tx)
            .await?;
    let claimed = store::ts(claim);
    Ok(
        (executing_at.as_deref() != Some(claimed.as_str()) || updated_at > claimed).then(|| {
            format!(
                "the order changed while the executor ran (claim {claimed}, now updated {updated_at})"
            )
        }),
    )
}

/// A person's or the executor's action on an order: the state change, its event, the receipt
/// to the requester and (for a failure) the incident mail, all in ONE transaction.
pub async fn apply_action(
    store: &Store,
    actions: &Actions,
    a: &OrderAction<'_>,
) -> anyhow::Result<ActionOutcome> {
    let mut tx = store.begin().await?;
    let Some(o) = store::order_by_ref(&mut *tx, a.reference).await? else {
        return Ok(ActionOutcome::Refused(format!(
            "no order {}; see `spdesk orders list`",
            a.reference
        )));
    };
    let ctx = Context {
        helpdesk: &actions.helpdesk,
        register: actions.register.as_deref(),
        incident_to: &actions.incident_to,
    };
    let latest = latest_version(&mut tx, o.id).await?;
    let mut thread = Thread::of(&latest.mail);
    if thread.subject.is_empty() {
        thread.subject = o.thread_subject.clone();
    }
    let person = PersonAction {
        order: &o,
        version: latest.version,
        judgement: &latest.judgement,
        thread: &thread,
        action: a.action,
        actor: a.actor,
        text: a.text,
        detail: a.detail,
        early: a.early,
        at: a.at,
        verification: a.verification,
        now: a.now,
    };
    let effects = match plan::action(&person, &ctx) {
        Ok(e) => e,
        Err(refused) => return Ok(ActionOutcome::Refused(refused.0)),
    };
    if let Some(claim) = a.claim
        && let Some(why) = claim_lost(&mut tx, o.id, claim).await?
    {
        return Ok(ActionOutcome::Refused(format!("{}: {why}", a.reference)));
    }
    let how = Apply {
        templates: &actions.templates,
        helpdesk: &actions.helpdesk,
        now: a.now,
    };
    let mails = apply::action(&mut tx, &how, &o, &effects, &latest.raw).await?;
    tx.commit().await?;
    Ok(ActionOutcome::Done {
        from: effects.change.from,
        to: effects.change.to,
        mails,
    })
}

/// What judging a person's version needs: the rules, the extraction limits (the certificates
/// the order's mail carries are read again) and the executed BestillingsIDs.
pub struct Judging<'a> {
    pub settings: &'a crate::rules::RuleSettings,
    pub limits: &'a crate::forms::extract::ExtractLimits,
    pub history: &'a (dyn crate::rules::History + Sync),
}

/// A person's version of an order (`orders edit`).
#[derive(Debug, Clone)]
pub struct EditAction<'a> {
    pub reference: &'a str,
    pub edits: &'a [crate::orders::edit::FieldEdit],
    pub actor: &'a str,
    pub reason: &'a str,
    pub now: DateTime<Utc>,
}

/// A person's version, as one transaction: the latest version's fields with the edits
/// ([`crate::orders::edit`]), judged by the one judge as a form of the order's mail,
/// [`plan::staff_version`] decides, [`apply::mail`] writes it like a mail's version (its
/// receipts, the review mail).
pub async fn apply_edit(
    store: &Store,
    actions: &Actions,
    judging: &Judging<'_>,
    e: &EditAction<'_>,
) -> anyhow::Result<ActionOutcome> {
    let mut tx = store.begin().await?;
    let Some(o) = store::order_by_ref(&mut *tx, e.reference).await? else {
        return Ok(ActionOutcome::Refused(format!(
            "no order {}; see `spdesk orders list`",
            e.reference
        )));
    };
    let latest = latest_version(&mut tx, o.id).await?;
    if latest.inbound_id == 0 {
        return Ok(ActionOutcome::Refused(format!(
            "{}: the order has no stored mail to make a version of",
            o.reference
        )));
    }
    let Some(form) = crate::orders::edit::staff_form(&latest.judgement, e.edits) else {
        return Ok(ActionOutcome::Refused(format!(
            "{}: too few fields for a form; give at least three with --set (e.g. bestillings_id, org_name, org_cvr)",
            o.reference
        )));
    };
    let jf = judge_edit(&mut tx, judging, &o, &latest.mail, form, e).await?;
    let wrong = crate::orders::edit::invalid_edits(&jf.findings, e.edits);
    if !wrong.is_empty() {
        return Ok(ActionOutcome::Refused(format!(
            "{}: nothing changed; correct these values and run the edit again:\n{}",
            o.reference,
            wrong.join("\n")
        )));
    }
    let edits = crate::orders::edit::edit_lines(&latest.judgement, &jf.form, e.edits);
    let staff = plan::StaffVersion {
        order: &o,
        form: &jf,
        edits: &edits,
        mail: &latest.mail,
        actor: e.actor,
        reason: e.reason,
        now: e.now,
    };
    let plan_ctx = Context {
        helpdesk: &actions.helpdesk,
        register: actions.register.as_deref(),
        incident_to: &actions.incident_to,
    };
    let effects = match plan::staff_version(&staff, &plan_ctx) {
        Ok(effects) => effects,
        Err(refused) => return Ok(ActionOutcome::Refused(refused.0)),
    };
    let how = Apply {
        templates: &actions.templates,
        helpdesk: &actions.helpdesk,
        now: e.now,
    };
    apply::mail(&mut tx, &how, latest.inbound_id, &effects).await?;
    let mails = store::queued_since(&mut tx, o.id, e.now).await?;
    let to = State::from_decision(jf.decision);
    tx.commit().await?;
    Ok(ActionOutcome::Done {
        from: o.state,
        to,
        mails,
    })
}

/// Judges a person's version: as of the order's arrival when its agreed time is still ahead
/// (a typo fix must not fail the lead time; [`plan::staff_time`]), else as of now, with the certificates of every mail of the order, keeping a
/// time set by `orders reschedule` unless the desired time is edited.
async fn judge_edit(
    tx: &mut Tx<'_>,
    judging: &Judging<'_>,
    o: &crate::orders::order::OrderRow,
    mail: &Mail,
    form: crate::forms::form::OrderForm,
    e: &EditAction<'_>,
) -> anyhow::Result<crate::judge::JudgedForm> {
    let first = crate::store::versions::first_received(tx, o.id).await?;
    let planned_ahead =
        o.state == crate::orders::state::State::Approved && o.planned_at.is_some_and(|p| p > e.now);
    let received = plan::staff_time::judged_at(e.edits, first, planned_ahead, e.now);
    let evidence: Vec<Mail> = crate::store::versions::order_mails(tx, o.id)
        .await?
        .iter()
        .filter_map(|raw| Mail::parse(raw, 0))
        .collect();
    // Built after the last await: the web console's handler future must stay `Send`.
    let ctx = crate::judge::Context {
        received: received.with_timezone(&chrono_tz::Europe::Copenhagen),
        settings: judging.settings,
        limits: judging.limits,
        history: judging.history,
    };
    let mut jf = crate::judge::judge_staff_form(form, mail, &evidence, &ctx);
    jf.planned_at = plan::staff_time::planned(e.edits, o.planned_at, jf.planned_at);
    Ok(jf)
}
