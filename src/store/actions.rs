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
    /// Who acts: the operator (`$SUDO_USER` else `$USER`) or `executor`.
    pub actor: &'a str,
    /// The reason (reject, fail, withdraw) or the note (execute): in the event and the receipts.
    pub text: Option<&'a str>,
    /// More for the event only, e.g. the executor command's output.
    pub detail: Option<&'a str>,
    /// The executor's claim (`orders.executing_at`): the action applies only while the claim
    /// holds and the order has not changed since it was taken.
    pub claim: Option<DateTime<Utc>>,
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
    pub judgement: serde_json::Value,
    pub raw: Vec<u8>,
    pub mail: Mail,
}

/// The latest version of an order (version 0, nothing else, when it has none).
pub async fn latest_version(tx: &mut Tx<'_>, order_id: i64) -> anyhow::Result<Latest> {
    let row = crate::store::versions::latest_with_mail(tx, order_id).await?;
    Ok(match row {
        Some((version, judgement, raw)) => Latest {
            version,
            judgement: serde_json::from_str(&judgement).unwrap_or(serde_json::Value::Null),
            mail: Mail::parse(&raw, 0).unwrap_or_default(),
            raw,
        },
        None => Latest {
            version: 0,
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
        sqlx::query_as("SELECT executing_at, updated_at FROM orders WHERE id = ?1")
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
