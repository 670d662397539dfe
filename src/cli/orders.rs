//! `spdesk orders`: list, show and act on orders from the command line. A command only reads
//! and writes the database (state changes and outbox rows in one transaction); the daemon's
//! outbox worker sends what it queues.

use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;
use serde::Serialize;

use crate::cli::OrdersCommand;
use crate::daemon::Shared;
use crate::orders::state::{Action, State};
use crate::store::actions::{ActionOutcome, Actions, OrderAction, apply_action};
use crate::store::dialogue::{Attached, DialogueOutcome, ReplyInput};
use crate::store::{self, OrderRow, Store};

/// An order as `orders list --json` prints it.
#[derive(Debug, Serialize)]
pub struct OrderJson {
    #[serde(rename = "ref")]
    pub reference: String,
    pub state: String,
    pub kind: Option<String>,
    pub bestillings_id: Option<String>,
    pub org_name: Option<String>,
    pub org_cvr: Option<String>,
    pub system_name: Option<String>,
    pub requester: Option<String>,
    pub planned_at: Option<String>,
    pub due: bool,
    pub overdue: bool,
    pub created_at: String,
    pub updated_at: String,
    pub billed_at: Option<String>,
    pub incident_at: Option<String>,
}

fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Copenhagen).to_rfc3339()
}

/// Due: approved and planned for today (Copenhagen); overdue: approved and planned before now.
pub fn order_json(o: &OrderRow, now: DateTime<Utc>) -> OrderJson {
    let approved = o.state == State::Approved;
    let today = now.with_timezone(&Copenhagen).date_naive();
    OrderJson {
        reference: o.reference.clone(),
        state: o.state.as_str().to_string(),
        kind: o.kind.clone(),
        bestillings_id: o.bestillings_id.clone(),
        org_name: o.org_name.clone(),
        org_cvr: o.org_cvr.clone(),
        system_name: o.system_name.clone(),
        requester: o.requester.clone(),
        planned_at: o.planned_at.map(local),
        due: approved
            && o.planned_at
                .is_some_and(|p| p.with_timezone(&Copenhagen).date_naive() == today),
        overdue: approved && o.planned_at.is_some_and(|p| p < now),
        created_at: local(o.created_at),
        updated_at: local(o.updated_at),
        billed_at: o.billed_at.map(local),
        incident_at: o.incident_at.map(local),
    }
}

/// Who is acting: `$SUDO_USER`, else `$USER`.
pub fn operator() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "operator".into())
}

/// `spdesk orders ...`.
pub async fn orders(cmd: &OrdersCommand, shared: &Shared) -> anyhow::Result<i32> {
    let store = &shared.store;
    let actions = &shared.actions;
    let now = Utc::now();
    match cmd {
        OrdersCommand::List { state, json } => {
            let state = state
                .as_deref()
                .map(str::parse::<State>)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let orders = store::list_orders(&store.pool, state).await?;
            let rows: Vec<OrderJson> = orders.iter().map(|o| order_json(o, now)).collect();
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("no orders");
            } else {
                write_order_list(&mut std::io::stdout().lock(), &rows)?;
            }
            Ok(0)
        }
        OrdersCommand::Show { reference, json } => {
            let Some(o) = store::order_by_ref(&store.pool, reference).await? else {
                eprintln!(
                    "no order {}; see `spdesk orders list`",
                    crate::cli::terminal::line(reference)
                );
                return Ok(1);
            };
            let versions = store::versions_of(&store.pool, o.id).await?;
            let events = store::events_of(&store.pool, o.id).await?;
            if *json {
                let mut v = serde_json::to_value(order_json(&o, now))?;
                v["versions"] = serde_json::to_value(&versions)?;
                v["events"] = serde_json::to_value(&events)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                write_order(
                    &mut std::io::stdout().lock(),
                    &order_json(&o, now),
                    &versions,
                    &events,
                )?;
            }
            Ok(0)
        }
        OrdersCommand::Approve { reference } => {
            cli_action(store, actions, reference, Action::Approve, None).await
        }
        OrdersCommand::Reject { reference, reason } => {
            cli_action(store, actions, reference, Action::Reject, Some(reason)).await
        }
        OrdersCommand::Execute { reference, note } => {
            cli_action(store, actions, reference, Action::Execute, note.as_deref()).await
        }
        OrdersCommand::Fail { reference, reason } => {
            cli_action(store, actions, reference, Action::Fail, Some(reason)).await
        }
        OrdersCommand::Withdraw { reference, reason } => {
            cli_action(store, actions, reference, Action::Withdraw, Some(reason)).await
        }
        OrdersCommand::Reply {
            reference,
            text,
            attach,
        } => cli_reply(store, actions, reference, text, attach.as_deref()).await,
        OrdersCommand::Handled { reference, note } => {
            cli_handled(store, reference, note.as_deref()).await
        }
    }
}

/// `spdesk orders handled`: the order's messages marked handled by the operator.
async fn cli_handled(store: &Store, reference: &str, note: Option<&str>) -> anyhow::Result<i32> {
    let who = operator();
    let outcome = store::dialogue::handled(store, reference, &who, note, Utc::now()).await?;
    Ok(report_dialogue(
        reference,
        &who,
        "messages handled",
        outcome,
    ))
}

/// `spdesk orders reply`: reads the file to attach (the error names it), then answers.
async fn cli_reply(
    store: &Store,
    actions: &Actions,
    reference: &str,
    text: &str,
    attach: Option<&std::path::Path>,
) -> anyhow::Result<i32> {
    let file = match attach {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                anyhow::anyhow!(
                    "--attach {}: cannot read the file ({e}); give a readable file",
                    path.display()
                )
            })?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "bilag".into());
            Some((name, bytes))
        }
        None => None,
    };
    let attachment = file.as_ref().map(|(name, bytes)| Attached {
        filename: name,
        content_type: content_type_of(name),
        bytes,
    });
    let who = operator();
    let input = ReplyInput {
        reference,
        actor: &who,
        text,
        attachment,
        now: Utc::now(),
    };
    let outcome = store::dialogue::reply(store, actions, &input).await?;
    Ok(report_dialogue(reference, &who, "answer queued", outcome))
}

/// The content type of an attached file, by its extension (else generic bytes).
fn content_type_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("pem" | "crt" | "cer") => "application/x-x509-ca-cert",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Prints what `orders reply`/`handled` did; exit 1 with the reason when refused.
fn report_dialogue(reference: &str, who: &str, what: &str, outcome: DialogueOutcome) -> i32 {
    use crate::cli::terminal::{line, text};
    match outcome {
        DialogueOutcome::Done(mails) => {
            println!("{}: {what} (by {})", line(reference), line(who));
            for m in &mails {
                println!("  queued: {}", line(m));
            }
            if !mails.is_empty() {
                println!("  mails leave with the daemon's next outbox round");
            }
            0
        }
        DialogueOutcome::Refused(why) => {
            eprintln!("{}", text(&why));
            1
        }
    }
}

/// The order as `orders show --json` prints it (the list object plus `versions` and `events`),
/// with the latest version's `fields` added: what an executor command reads on stdin.
pub async fn order_details_json(
    pool: &sqlx::SqlitePool,
    o: &OrderRow,
    now: DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    let versions = store::versions_of(pool, o.id).await?;
    let events = store::events_of(pool, o.id).await?;
    let mut v = serde_json::to_value(order_json(o, now))?;
    v["fields"] = versions
        .last()
        .and_then(|l| l.judgement.get("fields").cloned())
        .unwrap_or_else(|| serde_json::json!({}));
    v["versions"] = serde_json::to_value(&versions)?;
    v["events"] = serde_json::to_value(&events)?;
    Ok(v)
}

/// `orders list` as a table; what senders wrote is escaped for the terminal.
fn write_order_list(out: &mut impl Write, rows: &[OrderJson]) -> std::io::Result<()> {
    use crate::cli::terminal::line;
    writeln!(
        out,
        "{:<15} {:<10} {:<11} {:<22} {:<26} DUE",
        "REF", "STATE", "KIND", "BESTILLINGSID", "PLANNED"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<15} {:<10} {:<11} {:<22} {:<26} {}",
            line(&r.reference),
            line(&r.state),
            line(r.kind.as_deref().unwrap_or_default()),
            line(r.bestillings_id.as_deref().unwrap_or_default()),
            line(r.planned_at.as_deref().unwrap_or_default()),
            if r.overdue {
                "OVERDUE"
            } else if r.due {
                "today"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// `orders show`: the order, its versions and history; what senders wrote is escaped for the
/// terminal.
fn write_order(
    out: &mut impl Write,
    j: &OrderJson,
    versions: &[store::VersionRow],
    events: &[store::EventRow],
) -> std::io::Result<()> {
    use crate::cli::terminal::line;
    let opt = |v: &Option<String>| line(v.as_deref().unwrap_or_default()).into_owned();
    writeln!(
        out,
        "{}  {}  {}",
        line(&j.reference),
        line(&j.state),
        opt(&j.kind)
    )?;
    writeln!(out, "  BestillingsID: {}", opt(&j.bestillings_id))?;
    writeln!(
        out,
        "  organisation:  {} (CVR {})",
        opt(&j.org_name),
        opt(&j.org_cvr)
    )?;
    writeln!(out, "  it-system:     {}", opt(&j.system_name))?;
    writeln!(out, "  requester:     {}", opt(&j.requester))?;
    writeln!(out, "  planned:       {}", opt(&j.planned_at))?;
    for v in versions {
        writeln!(
            out,
            "  version {} ({}): {}",
            v.version,
            line(&v.created_at),
            line(&v.decision)
        )?;
    }
    writeln!(out, "  history:")?;
    for e in events {
        let arrow = match (&e.from_state, &e.to_state) {
            (Some(a), Some(b)) => format!(" {a} -> {b}"),
            (None, Some(b)) => format!(" -> {b}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "    {}  {:<10} {}{}  {}",
            line(&e.at),
            line(&e.actor),
            line(&e.action),
            line(&arrow),
            line(&e.detail.replace('\n', "; "))
        )?;
    }
    Ok(())
}

/// `spdesk orders approve|reject|execute|fail|withdraw`: the action by the operator; exit 1
/// with the reason when it is refused.
async fn cli_action(
    store: &Store,
    actions: &Actions,
    reference: &str,
    action: Action,
    text: Option<&str>,
) -> anyhow::Result<i32> {
    let who = operator();
    let outcome = apply_action(
        store,
        actions,
        &OrderAction {
            reference,
            action,
            actor: &who,
            text,
            detail: None,
            claim: None,
            now: Utc::now(),
        },
    )
    .await?;
    match outcome {
        ActionOutcome::Done { from, to, mails } => {
            println!(
                "{}: {from} -> {to} (by {})",
                crate::cli::terminal::line(reference),
                crate::cli::terminal::line(&who)
            );
            for m in mails {
                println!("  queued: {}", crate::cli::terminal::line(&m));
            }
            println!("  mails leave with the daemon's next outbox round");
            Ok(0)
        }
        ActionOutcome::Refused(why) => {
            eprintln!("{}", crate::cli::terminal::text(&why));
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Escape sequences a sender put in a form reach `orders list`/`show` escaped, never raw.
    #[test]
    fn order_output_escapes_what_senders_wrote() {
        let evil = "Kommune\x1b]0;pwned\x07\x1b[2J\u{9b}31m";
        let j = OrderJson {
            reference: "SP-2026-00001".into(),
            state: "review".into(),
            kind: Some("webservice".into()),
            bestillings_id: Some(format!("BD-1{evil}")),
            org_name: Some(evil.into()),
            org_cvr: Some(evil.into()),
            system_name: Some(evil.into()),
            requester: Some(format!("fa{evil}@x.test")),
            planned_at: None,
            due: false,
            overdue: false,
            created_at: "2026-11-30T10:00:00+01:00".into(),
            updated_at: "2026-11-30T10:00:00+01:00".into(),
            billed_at: None,
            incident_at: None,
        };
        let events = [store::EventRow {
            at: "2026-11-30 10:00:00".into(),
            actor: "daemon".into(),
            action: "received".into(),
            from_state: None,
            to_state: Some("review".into()),
            detail: format!("mail \"{evil}\"\nline two"),
        }];
        let mut out = Vec::new();
        write_order_list(&mut out, std::slice::from_ref(&j)).unwrap();
        write_order(&mut out, &j, &[], &events).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains(['\x1b', '\x07', '\u{9b}']),
            "raw escape sequence in {text:?}"
        );
        assert!(text.contains("Kommune\\u{1b}]0;pwned\\u{7}"), "{text}");
        assert!(text.contains("line two"), "{text}");
    }
}
