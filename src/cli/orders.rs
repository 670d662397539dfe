//! `spdesk orders`: list, show and act on orders from the command line. A command only reads
//! and writes the database (state changes and outbox rows in one transaction); the daemon's
//! outbox worker sends what it queues.

use std::io::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;
use serde::Serialize;

use crate::cli::OrdersCommand;
use crate::daemon::Shared;
use crate::orders::display;
use crate::orders::state::{Action, State};
use crate::rules::cert::CertSummary;
use crate::store::actions::{
    ActionOutcome, Actions, EditAction, Judging, OrderAction, apply_action, apply_edit,
};
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

/// Who is acting, as the history records it: `--as NAME` when given, else `$SUDO_USER` (the
/// person behind `sudo`), else `$USER`; "operator" only when none of them says.
pub fn operator(as_name: Option<&str>) -> String {
    let env = |name: &str| std::env::var(name).ok();
    person(as_name, env("SUDO_USER"), env("USER"))
}

/// [`operator`] with the environment given: the first non-blank of the three.
fn person(as_name: Option<&str>, sudo_user: Option<String>, user: Option<String>) -> String {
    as_name
        .map(str::to_string)
        .into_iter()
        .chain(sudo_user)
        .chain(user)
        .map(|n| n.trim().to_string())
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| "operator".into())
}

/// `--at` of `orders reschedule`: RFC 3339, or `YYYY-MM-DD HH:MM` in Copenhagen time.
pub fn parse_at(text: &str) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M")
        .ok()
        .and_then(|n| n.and_local_timezone(Copenhagen).earliest())
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| {
            format!(
                "--at \"{}\": not a time; write RFC 3339 (2026-12-14T10:00:00+01:00) or \"YYYY-MM-DD HH:MM\" in Copenhagen time",
                crate::cli::terminal::line(t)
            )
        })
}

/// `spdesk orders ...`.
pub async fn orders(cmd: &OrdersCommand, shared: &Shared) -> anyhow::Result<i32> {
    let store = &shared.store;
    let actions = &shared.actions;
    let now = Utc::now();
    match cmd {
        OrdersCommand::List {
            state,
            search,
            json,
        } => {
            let state = state
                .as_deref()
                .map(str::parse::<State>)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let mut orders = store::list_orders(&store.pool, state).await?;
            if let Some(text) = search {
                orders.retain(|o| o.matches(text));
            }
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
            if *json {
                let v = order_details_json(&store.pool, &o, now).await?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let versions = store::versions_of(&store.pool, o.id).await?;
                let events = store::events_of(&store.pool, o.id).await?;
                let cert = match versions.last() {
                    Some(v) => store::order_view::certificate_of(&store.pool, o.id, v).await?,
                    None => None,
                };
                let shown = Shown {
                    order: &order_json(&o, now),
                    subject: &o.thread_subject,
                    versions: &versions,
                    events: &events,
                    cert: cert.as_ref(),
                };
                write_order(&mut std::io::stdout().lock(), &shown)?;
            }
            Ok(0)
        }
        OrdersCommand::Edit {
            reference,
            set,
            reason,
            who,
        } => edit(shared, reference, set, reason, who).await,
        OrdersCommand::Reply {
            reference,
            text,
            attach,
            who,
        } => cli_reply(store, actions, reference, text, attach.as_deref(), who).await,
        OrdersCommand::Handled {
            reference,
            note,
            who,
        } => cli_handled(store, reference, note.as_deref(), who).await,
        other => person_action(store, actions, other, &shared.config).await,
    }
}

/// `spdesk orders handled`: the order's messages marked handled by the operator.
async fn cli_handled(
    store: &Store,
    reference: &str,
    note: Option<&str>,
    who: &crate::cli::Who,
) -> anyhow::Result<i32> {
    let who = operator(who.as_name.as_deref());
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
    who: &crate::cli::Who,
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
    let who = operator(who.as_name.as_deref());
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

/// The content type of an attached file, by its extension (else generic bytes); the web
/// console's "Svar" uses it too.
pub fn content_type_of(name: &str) -> &'static str {
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

/// An [`Act`] of the common kind: a reference, an action, its text and who acts.
fn act<'a>(
    reference: &'a str,
    action: Action,
    text: Option<&'a String>,
    who: &crate::cli::Who,
) -> Act<'a> {
    Act {
        reference,
        action,
        text: text.map(String::as_str),
        early: None,
        unverified: None,
        at: None,
        who: who.as_name.clone(),
    }
}

/// `a` with the time `--at` gives ([`parse_at`]), or `None` after telling why it is no time.
fn timed<'a>(a: Act<'a>, at: Option<&str>) -> Option<Act<'a>> {
    match at.map(parse_at).transpose() {
        Ok(at) => Some(Act { at, ..a }),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}

/// One person's action from its command: what it asks for, with its text, time and flags.
async fn person_action(
    store: &Store,
    actions: &Actions,
    cmd: &OrdersCommand,
    config: &crate::config::Config,
) -> anyhow::Result<i32> {
    use OrdersCommand as C;
    let a = match cmd {
        C::Approve {
            reference,
            override_,
            reason,
            who,
        } => {
            let action = if *override_ {
                Action::Override
            } else {
                Action::Approve
            };
            act(reference, action, reason.as_ref(), who)
        }
        C::Reject {
            reference,
            reason,
            who,
        } => act(reference, Action::Reject, Some(reason), who),
        C::Execute {
            reference,
            note,
            early,
            unverified,
            reason,
            who,
        } => Act {
            early: early.then(|| reason.as_deref().unwrap_or_default()),
            unverified: unverified.then(|| reason.as_deref().unwrap_or_default()),
            ..act(reference, Action::Execute, note.as_ref(), who)
        },
        C::Fail {
            reference,
            reason,
            who,
        } => act(reference, Action::Fail, Some(reason), who),
        C::Withdraw {
            reference,
            reason,
            who,
        } => act(reference, Action::Withdraw, Some(reason), who),
        C::Reopen {
            reference,
            reason,
            at,
            who,
        } => match timed(
            act(reference, Action::Reopen, Some(reason), who),
            at.as_deref(),
        ) {
            Some(a) => a,
            None => return Ok(2),
        },
        C::Reschedule {
            reference,
            at,
            reason,
            who,
        } => match timed(
            act(reference, Action::Reschedule, Some(reason), who),
            Some(at),
        ) {
            Some(a) => a,
            None => return Ok(2),
        },
        C::List { .. } | C::Show { .. } | C::Edit { .. } | C::Reply { .. } | C::Handled { .. } => {
            return Ok(2);
        }
    };
    cli_action(store, actions, &a, config).await
}

/// `spdesk orders edit`: a person's version, judged like a mail's form.
async fn edit(
    shared: &Shared,
    reference: &str,
    set: &[String],
    reason: &str,
    who: &crate::cli::Who,
) -> anyhow::Result<i32> {
    let edits: Result<Vec<_>, String> = set
        .iter()
        .map(|s| crate::orders::edit::parse_set(s))
        .collect();
    let edits = match edits {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{}", crate::cli::terminal::text(&e));
            return Ok(2);
        }
    };
    let cfg = &shared.config;
    let loaded = crate::cli::setup::Loaded {
        templates: shared.actions.templates.clone(),
        register: shared.actions.register.clone(),
    };
    let reader = crate::cli::setup::sandboxed_reader(&cfg.limits)?;
    let pipeline = crate::cli::setup::pipeline(cfg, &loaded, reader)?;
    let actor = operator(who.as_name.as_deref());
    let e = EditAction {
        reference,
        edits: &edits,
        actor: &actor,
        reason,
        now: Utc::now(),
    };
    let outcome = edit_judged_by(shared, &pipeline, &e).await?;
    Ok(report(reference, &actor, outcome))
}

/// A person's version judged by `pipeline`'s rules and limits against the executed
/// BestillingsIDs, as the intake judges a mail's form: what `orders edit` and the web
/// console's "Ret felter" both call, so a field edit has one path.
pub async fn edit_judged_by(
    shared: &Shared,
    pipeline: &crate::daemon::intake::Pipeline,
    e: &EditAction<'_>,
) -> anyhow::Result<ActionOutcome> {
    let executed = store::inbound::executed_bestillings_ids(&shared.store).await?;
    let judging = Judging {
        settings: &pipeline.settings,
        limits: &pipeline.limits,
        history: &executed,
    };
    apply_edit(&shared.store, &shared.actions, &judging, e).await
}

/// The order as `orders show --json` prints it (the list object plus `versions` and `events`),
/// with the latest version's `fields` added: what an executor command reads on stdin. Every
/// time is RFC 3339 in Copenhagen time (`+01:00`/`+02:00`, never `Z`), as in `orders list`.
pub async fn order_details_json(
    pool: &sqlx::AnyPool,
    o: &OrderRow,
    now: DateTime<Utc>,
) -> anyhow::Result<serde_json::Value> {
    let mut versions = store::versions_of(pool, o.id).await?;
    for v in &mut versions {
        v.created_at = display::local_rfc3339(&v.created_at);
    }
    let mut events = store::events_of(pool, o.id).await?;
    for e in &mut events {
        e.at = display::local_rfc3339(&e.at);
    }
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
            line(
                &r.planned_at
                    .as_deref()
                    .map(display::local_time_text)
                    .unwrap_or_default()
            ),
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

/// What `orders show` prints of one order.
struct Shown<'a> {
    order: &'a OrderJson,
    /// The subject of the mail the order came in (all a person has of an order without a
    /// readable form, besides its sender).
    subject: &'a str,
    versions: &'a [store::VersionRow],
    events: &'a [store::EventRow],
    /// The certificate attached to the latest version, when it names one.
    cert: Option<&'a CertSummary>,
}

/// `orders show`: the order, the latest version's form fields under FORMS.md's Danish labels,
/// its versions and its history in Danish, every time in Copenhagen time with the offset
/// ("2026-12-14 10:00 +01:00"); what senders wrote is escaped for the terminal.
fn write_order(out: &mut impl Write, s: &Shown<'_>) -> std::io::Result<()> {
    use crate::cli::terminal::line;
    let j = s.order;
    let opt = |v: &Option<String>| line(v.as_deref().unwrap_or("(ikke angivet)")).into_owned();
    let time = |v: &Option<String>| {
        v.as_deref()
            .map_or_else(|| "-".to_string(), display::local_time_text)
    };
    writeln!(
        out,
        "{}  {} ({})  {}",
        line(&j.reference),
        line(&j.state),
        line(display::state_name(&j.state)),
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
    writeln!(out, "  subject:       {}", line(s.subject))?;
    writeln!(out, "  planned:       {}", time(&j.planned_at))?;
    writeln!(
        out,
        "  created:       {}",
        line(&time(&Some(j.created_at.clone())))
    )?;
    writeln!(
        out,
        "  updated:       {}",
        line(&time(&Some(j.updated_at.clone())))
    )?;
    for (label, t) in [("billed", &j.billed_at), ("incident", &j.incident_at)] {
        if t.is_some() {
            writeln!(out, "  {label:<14} {}", line(&time(t)))?;
        }
    }
    write_fields(out, s)?;
    writeln!(out, "  versions:")?;
    for v in s.versions {
        writeln!(
            out,
            "    version {}  {}  {}",
            v.version,
            line(&display::local_time_text(&v.created_at)),
            line(display::state_name(&v.decision))
        )?;
    }
    writeln!(out, "  history:")?;
    for e in s.events {
        writeln!(out, "    {}", line(&display::history_line(e)))?;
    }
    Ok(())
}

/// The latest version's form: every field under its Danish label, the certificate's subject,
/// serial and validity after the file's name.
fn write_fields(out: &mut impl Write, s: &Shown<'_>) -> std::io::Result<()> {
    use crate::cli::terminal::line;
    let Some(latest) = s.versions.last() else {
        return writeln!(out, "  fields:        (no readable form)");
    };
    let fields = display::field_lines(&latest.judgement, s.cert);
    if fields.is_empty() {
        return writeln!(out, "  fields:        (no readable form)");
    }
    writeln!(out, "  fields (version {}):", latest.version)?;
    let width = fields
        .iter()
        .map(|f| f.label.chars().count())
        .max()
        .unwrap_or(0);
    for f in fields {
        let pad = width.saturating_sub(f.label.chars().count());
        writeln!(
            out,
            "    {}:{} {}",
            line(&f.label),
            " ".repeat(pad),
            line(&f.value)
        )?;
    }
    Ok(())
}

/// A person's action as the command line asks for it.
struct Act<'a> {
    reference: &'a str,
    action: Action,
    text: Option<&'a str>,
    early: Option<&'a str>,
    /// `execute --unverified --reason`: why it is executed although its check failed.
    unverified: Option<&'a str>,
    at: Option<DateTime<Utc>>,
    who: Option<String>,
}

/// `spdesk orders approve|reject|execute|fail|withdraw|reopen|reschedule`: the action by the
/// person; exit 1 with the reason when it is refused.
async fn cli_action(
    store: &Store,
    actions: &Actions,
    a: &Act<'_>,
    config: &crate::config::Config,
) -> anyhow::Result<i32> {
    let who = operator(a.who.as_deref());
    let verification = match a.action {
        Action::Execute => {
            let settings = crate::verify::VerifySettings::from_config(config)?;
            let (early, unverified) = (a.early.is_some(), a.unverified);
            crate::verify::before_execute(store, &settings, a.reference, &who, early, unverified)
                .await?
        }
        _ => None,
    };
    if let Some(v) = &verification {
        println!("  check: {}", crate::cli::terminal::line(&v.receipt_line));
    }
    let outcome = apply_action(
        store,
        actions,
        &OrderAction {
            reference: a.reference,
            action: a.action,
            actor: &who,
            text: a.text,
            detail: None,
            early: a.early,
            at: a.at,
            claim: None,
            verification: verification.as_ref(),
            now: Utc::now(),
        },
    )
    .await?;
    Ok(report(a.reference, &who, outcome))
}

/// Prints what an action did (exit 0), or why it was refused (exit 1).
fn report(reference: &str, who: &str, outcome: ActionOutcome) -> i32 {
    match outcome {
        ActionOutcome::Done { from, to, mails } => {
            println!(
                "{}: {from} -> {to} (by {})",
                crate::cli::terminal::line(reference),
                crate::cli::terminal::line(who)
            );
            for m in mails {
                println!("  queued: {}", crate::cli::terminal::line(&m));
            }
            println!("  mails leave with the daemon's next outbox round");
            0
        }
        ActionOutcome::Refused(why) => {
            eprintln!("{}", crate::cli::terminal::text(&why));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The person recorded: `--as`, else `$SUDO_USER`, else `$USER`; blanks skipped.
    #[test]
    fn the_actor_is_as_name_else_sudo_user_else_user() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(person(Some("Hanne"), s("root2"), s("root")), "Hanne");
        assert_eq!(person(None, s("hanne"), s("root")), "hanne");
        assert_eq!(person(Some(" "), s(""), s("ops")), "ops");
        assert_eq!(person(None, None, None), "operator");
    }

    #[test]
    fn a_new_time_is_rfc_3339_or_copenhagen_wall_time() {
        let utc = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(
            parse_at("2026-12-14 10:00").unwrap(),
            utc("2026-12-14T09:00:00Z")
        );
        assert_eq!(
            parse_at("2026-07-01 10:00").unwrap(),
            utc("2026-07-01T08:00:00Z")
        );
        assert_eq!(
            parse_at("2026-12-14T10:00:00+01:00").unwrap(),
            utc("2026-12-14T09:00:00Z")
        );
        for bad in ["14-12-2026", "", "2026-12-14 25:00", "\u{1b}[2J"] {
            let e = parse_at(bad).unwrap_err();
            assert!(
                e.contains("YYYY-MM-DD HH:MM") && !e.contains('\u{1b}'),
                "{e}"
            );
        }
    }

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
        let versions = [store::VersionRow {
            version: 1,
            decision: "review".into(),
            created_at: "2026-11-30T09:00:00.000Z".into(),
            judgement: serde_json::json!({"fields": {"org_name": evil}}),
        }];
        let shown = Shown {
            order: &j,
            subject: "Bestilling\x1b[2J",
            versions: &versions,
            events: &events,
            cert: None,
        };
        write_order(&mut out, &shown).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains(['\x1b', '\x07', '\u{9b}']),
            "raw escape sequence in {text:?}"
        );
        assert!(text.contains("Kommune\\u{1b}]0;pwned\\u{7}"), "{text}");
        assert!(text.contains("line two"), "{text}");
        assert!(text.contains("Organisation: Kommune\\u{1b}"), "{text}");
        assert!(text.contains("2026-11-30 10:00 +01:00"), "{text}");
    }
}
