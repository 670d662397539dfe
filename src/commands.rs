//! What each CLI command does. Commands only read and write the database (state changes and
//! outbox rows in one transaction); the daemon's outbox worker sends what they queue.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;
use serde::Serialize;

use crate::cli::{CheckArgs, OrdersCommand};
use crate::config::{CheckConfig, Config};
use crate::finding::Decision;
use crate::judge::{Context, Judgement, judge_mail};
use crate::mail::{Attachment, HeaderLimits, Mail, header_over_limits};
use crate::order::{Action, State, transition};
use crate::process::HelpdeskSettings;
use crate::receipts::{
    Compose, OutAttachment, ReceiptKind, Templates, Thread, compose, compose_with,
};
use crate::rules::NoHistory;
use crate::setup;
use crate::store::{self, OrderRow, Store};

/// Exit code for a usage error or an input that is neither a mail nor a form.
pub const EXIT_USAGE: i32 = 2;

/// `spdesk check`: reads each file and prints the judgement; returns the exit code.
pub fn check(args: &CheckArgs, cfg: &CheckConfig) -> anyhow::Result<i32> {
    let received: DateTime<Utc> = match &args.now {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                anyhow::anyhow!(
                    "--now \"{s}\": not an RFC 3339 time ({e}); e.g. 2026-11-30T09:00:00+01:00"
                )
            })?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let settings = setup::rule_settings(&cfg.rules)?;
    // The same sandboxed readers as the daemon's.
    let limits = setup::extract_limits(&cfg.limits, setup::sandboxed_reader(&cfg.limits)?);
    let header_limits = setup::header_limits(&cfg.limits);
    let ctx = Context {
        received: received.with_timezone(&Copenhagen),
        settings: &settings,
        limits: &limits,
        history: &NoHistory,
    };
    let mut worst = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for file in &args.files {
        let code = match read_input(file, limits.max_attachment_bytes as u64 * 2, &header_limits) {
            Ok(input) => {
                // As intake does: a mail over a header limit goes to a person unparsed.
                let j = match input {
                    Input::Mail(mail) => judge_mail(&mail, &ctx),
                    Input::OverLimit(mail, why) => Judgement::quarantined(&mail, &why),
                };
                if args.json {
                    writeln!(out, "{}", serde_json::to_string(&j)?)?;
                } else {
                    print_human(&mut out, file, &j)?;
                }
                j.exit_code()
            }
            Err(e) => {
                if args.json {
                    let obj = serde_json::json!({
                        "file": file.display().to_string(),
                        "mail": null, "forms": [], "findings": [], "decision": null,
                        "problems": [e.to_string()],
                    });
                    writeln!(out, "{obj}")?;
                }
                let e = format!("{}: {e}", file.display());
                eprintln!("{}", crate::terminal::line(&e));
                EXIT_USAGE
            }
        };
        worst = rank_exit(worst, code);
    }
    Ok(worst)
}

/// The worst exit code: rejected (10) > review (11) > approved (0); usage errors (2) win.
fn rank_exit(a: i32, b: i32) -> i32 {
    let rank = |c: i32| match c {
        2 => 3,
        10 => 2,
        11 => 1,
        _ => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// What `spdesk check` read from a file.
enum Input {
    Mail(Mail),
    /// A mail whose header section is over a limit: its headers only, and why.
    OverLimit(Mail, String),
}

/// Reads a file as a mail (.eml and anything that parses as one) or wraps a form file
/// (.docx, .pdf, .txt) as the single attachment of an empty mail.
fn read_input(path: &Path, max_bytes: u64, header_limits: &HeaderLimits) -> anyhow::Result<Input> {
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("cannot read the file: {e}"))?;
    if meta.len() > max_bytes {
        anyhow::bail!(
            "the file is {} bytes, more than the limit of {max_bytes}",
            meta.len()
        );
    }
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the file: {e}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .unwrap_or_default();
    let as_attachment = |content_type: &str| Mail {
        subject: name.clone(),
        attachments: vec![Attachment {
            name: Some(name.clone()),
            content_type: content_type.to_string(),
            bytes: bytes.clone(),
            message: None,
        }],
        ..Mail::default()
    };
    let mail = match ext.as_str() {
        "docx" => {
            as_attachment("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        }
        "pdf" => as_attachment("application/pdf"),
        "txt" => Mail {
            subject: name.clone(),
            text: Some(String::from_utf8_lossy(&bytes).to_string()),
            ..Mail::default()
        },
        _ => {
            if let Some(why) = header_over_limits(&bytes, header_limits) {
                return Ok(Input::OverLimit(Mail::headers_only(&bytes), why));
            }
            Mail::parse(&bytes, 3).ok_or_else(|| {
                anyhow::anyhow!(
                    "not a mail or a form file; give an .eml mail, or a .docx, .pdf or .txt form"
                )
            })?
        }
    };
    Ok(Input::Mail(mail))
}

fn print_human(out: &mut impl Write, file: &Path, j: &Judgement) -> std::io::Result<()> {
    use crate::terminal::line;
    writeln!(out, "{}", line(&file.display().to_string()))?;
    writeln!(
        out,
        // Debug formatting escapes every control and bidi character in the subject.
        "  mail: from {} subject {:?}{}{}{}",
        line(j.mail.from.as_deref().unwrap_or("(none)")),
        j.mail.subject,
        if j.mail.auto_reply {
            " [auto-reply]"
        } else {
            ""
        },
        if j.mail.bounce { " [bounce]" } else { "" },
        if j.mail.list { " [list]" } else { "" },
    )?;
    for (n, f) in j.forms.iter().enumerate() {
        writeln!(
            out,
            "  form {} ({}, {}): {}",
            n + 1,
            f.kind.code(),
            line(&f.source),
            f.decision.as_str()
        )?;
        for (code, v) in &f.fields {
            writeln!(
                out,
                "    {code}: {}",
                line(&serde_json::to_string(v).unwrap_or_default())
            )?;
        }
        for x in &f.findings {
            let message = line(&x.message);
            writeln!(out, "    ! {} [{}] {message}", x.rule.id(), severity(x))?;
        }
    }
    for x in &j.findings {
        let message = line(&x.message);
        writeln!(out, "  ! {} [{}] {message}", x.rule.id(), severity(x))?;
    }
    for p in &j.problems {
        writeln!(out, "  note: {}", line(p))?;
    }
    writeln!(
        out,
        "  decision: {}",
        j.decision
            .map(Decision::as_str)
            .unwrap_or("none (never answered)")
    )
}

fn severity(f: &crate::finding::Finding) -> &'static str {
    match f.severity {
        crate::finding::Severity::Reject => "reject",
        crate::finding::Severity::Review => "review",
        crate::finding::Severity::Info => "info",
    }
}

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
pub async fn orders(cmd: &OrdersCommand, cfg: &Config) -> anyhow::Result<i32> {
    let store = Store::open(&cfg.database.url).await?;
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
                    crate::terminal::line(reference)
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
            cli_action(&store, cfg, reference, Action::Approve, None).await
        }
        OrdersCommand::Reject { reference, reason } => {
            cli_action(&store, cfg, reference, Action::Reject, Some(reason)).await
        }
        OrdersCommand::Execute { reference, note } => {
            cli_action(&store, cfg, reference, Action::Execute, note.as_deref()).await
        }
        OrdersCommand::Fail { reference, reason } => {
            cli_action(&store, cfg, reference, Action::Fail, Some(reason)).await
        }
        OrdersCommand::Withdraw { reference, reason } => {
            cli_action(&store, cfg, reference, Action::Withdraw, Some(reason)).await
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

/// An order's latest version: its number, the judgement stored with it and the mail it came in.
struct Latest {
    version: i64,
    judgement: serde_json::Value,
    raw: Vec<u8>,
    mail: Mail,
}

async fn latest_version(tx: &mut store::Tx<'_>, order_id: i64) -> anyhow::Result<Latest> {
    let row: Option<(i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT v.version, v.judgement, m.raw FROM order_versions v JOIN inbound_mail m ON m.id = v.inbound_id
         WHERE v.order_id = ?1 ORDER BY v.version DESC LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
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

/// What the order actions need besides the database: the templates and the Helpdesk's
/// addresses. The CLI and the daemon's executor build it from the same config.
pub struct Actions {
    pub templates: Templates,
    pub helpdesk: HelpdeskSettings,
    /// Where the incident mail of a failed order goes.
    pub incident_to: Vec<String>,
    /// The it-system register: a contact e-mail listed for the system gets receipts too.
    pub register: Option<crate::register::Register>,
}

impl Actions {
    pub fn from_config(cfg: &Config) -> anyhow::Result<Actions> {
        Ok(Actions {
            templates: Templates::load(Some(&setup::templates_dir(cfg)))
                .map_err(anyhow::Error::msg)?,
            helpdesk: setup::helpdesk_settings(cfg),
            incident_to: cfg.helpdesk.incident_to.clone(),
            register: match &cfg.rules.systems_file {
                Some(p) => Some(
                    crate::register::Register::load(p)
                        .map_err(|e| anyhow::anyhow!("rules.systems_file: {e}"))?,
                ),
                None => None,
            },
        })
    }
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

/// Who gets an order's receipts: the reply address, and the contact e-mail when it is in the
/// requester's own domain (DESIGN.md "Receipts per order"); never our own addresses.
pub fn order_recipients(
    o: &OrderRow,
    system: Option<&crate::register::SystemEntry>,
    helpdesk: &HelpdeskSettings,
) -> Vec<String> {
    crate::process::recipients(
        o.reply_to.as_deref(),
        o.requester.as_deref(),
        o.contact_email.as_deref(),
        system,
        helpdesk,
    )
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

/// A stored version's fields as `label: value` lines, in the field table's order.
pub fn field_lines(judgement: &serde_json::Value) -> Vec<serde_json::Value> {
    let Some(fields) = judgement.get("fields").and_then(|f| f.as_object()) else {
        return Vec::new();
    };
    let mut lines: Vec<(usize, String, String)> = fields
        .iter()
        .map(|(code, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| i.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            let pos = crate::fields::FIELDS
                .iter()
                .position(|f| f.code == code)
                .unwrap_or(usize::MAX);
            let label = crate::fields::field(code)
                .map(|d| d.label)
                .unwrap_or(code)
                .to_string();
            (pos, label, value)
        })
        .collect();
    lines.sort_by_key(|(pos, _, _)| *pos);
    lines
        .into_iter()
        .map(|(_, label, value)| serde_json::json!({ "label": label, "value": value }))
        .collect()
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

/// A person's or the executor's action on an order: the state change, its event, the receipt
/// to the requester and (for a failure) the incident mail, all in ONE transaction.
pub async fn apply_action(
    store: &Store,
    actions: &Actions,
    a: &OrderAction<'_>,
) -> anyhow::Result<ActionOutcome> {
    let now = a.now;
    let mut tx = store.begin().await?;
    let Some(o) = store::order_by_ref(&mut *tx, a.reference).await? else {
        return Ok(ActionOutcome::Refused(format!(
            "no order {}; see `spdesk orders list`",
            a.reference
        )));
    };
    let to = match transition(o.state, a.action) {
        Ok(s) => s,
        Err(e) => return Ok(ActionOutcome::Refused(format!("{}: {e}", a.reference))),
    };
    if let Some(claim) = a.claim {
        let (executing_at, updated_at): (Option<String>, String) =
            sqlx::query_as("SELECT executing_at, updated_at FROM orders WHERE id = ?1")
                .bind(o.id)
                .fetch_one(&mut *tx)
                .await?;
        let claimed = store::ts(claim);
        if executing_at.as_deref() != Some(claimed.as_str()) || updated_at > claimed {
            return Ok(ActionOutcome::Refused(format!(
                "{}: the order changed while the executor ran (claim {claimed}, now updated {updated_at})",
                a.reference
            )));
        }
    }
    store::set_state(&mut tx, o.id, to, now).await?;
    match to {
        State::Executed => store::set_executed_at(&mut tx, o.id, now).await?,
        State::Failed => store::set_incident_at(&mut tx, o.id, now).await?,
        _ => {}
    }
    store::event(
        &mut tx,
        Some(o.id),
        None,
        now,
        a.actor,
        a.action.name(),
        Some(o.state),
        Some(to),
        &event_detail(a.text, a.detail),
    )
    .await?;

    let latest = latest_version(&mut tx, o.id).await?;
    let contact_name = latest
        .judgement
        .pointer("/fields/contact_name")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let planned = o.planned_at.map(|p| crate::calendar::danish_datetime(&p));
    let text = a.text.map(str::trim).filter(|t| !t.is_empty());
    let values = serde_json::json!({
        "ref": o.reference,
        "bestillings_id": o.bestillings_id,
        "contact_name": contact_name,
        "planned_at": planned.clone().unwrap_or_else(|| "på det aftalte tidspunkt".into()),
        "findings": if a.action == Action::Reject { text.map(|r| vec![r.to_string()]).unwrap_or_default() } else { Vec::new() },
        "executed_at": crate::calendar::danish_datetime(&to_minute(now)),
        "note": if a.action == Action::Execute { text } else { None },
        "reason": if a.action == Action::Withdraw { text } else { None },
    });
    let thread = Thread {
        message_id: latest.mail.message_id.clone(),
        references: latest.mail.references.clone(),
        subject: if latest.mail.subject.is_empty() {
            o.thread_subject.clone()
        } else {
            latest.mail.subject.clone()
        },
    };
    let from = actions.helpdesk.address.as_str();
    let mut mails = Vec::new();
    // The same people as the daemon's receipts (the latest version names the it-system).
    let system = actions.register.as_ref().and_then(|r| {
        latest
            .judgement
            .pointer("/fields/system_uuid")
            .and_then(|v| v.as_str())
            .and_then(|u| r.lookup(u))
    });
    let recipients = order_recipients(&o, system, &actions.helpdesk);
    if let Some(kind) = receipt_for(to)
        && !recipients.is_empty()
    {
        let out = compose(
            &actions.templates,
            Compose {
                kind,
                reference: &o.reference,
                // The kind is new for this version: the daemon sent other kinds before it.
                version: latest.version,
                from,
                to: recipients,
                thread: &thread,
                subject: None,
                date: now.timestamp(),
            },
            &values,
        )
        .map_err(anyhow::Error::msg)?;
        mails.push(store::enqueue_for_order(&mut tx, o.id, &out, now).await?);
    }
    if to == State::Failed && !actions.incident_to.is_empty() {
        // The history in Copenhagen time, as the Helpdesk reads it.
        let events: Vec<store::EventRow> = store::events_of(&mut *tx, o.id)
            .await?
            .into_iter()
            .map(|mut e| {
                if let Some(t) = store::parse_ts(&e.at) {
                    e.at = t
                        .with_timezone(&Copenhagen)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string();
                }
                e
            })
            .collect();
        let incident = serde_json::json!({
            "ref": o.reference,
            "bestillings_id": o.bestillings_id,
            "kind_title": o.kind.as_deref().and_then(crate::fields::FormKind::from_code).map(|k| k.title()),
            "org_name": o.org_name,
            "org_cvr": o.org_cvr,
            "system_name": o.system_name,
            "requester": o.requester,
            "version": latest.version,
            "fields": field_lines(&latest.judgement),
            "planned_at": planned,
            "failed_at": crate::calendar::danish_datetime(&to_minute(now)),
            "actor": a.actor,
            "reason": text.unwrap_or("(ingen begrundelse)"),
            "events": events,
        });
        let attachments: Vec<OutAttachment<'_>> = if latest.raw.is_empty() {
            Vec::new()
        } else {
            vec![OutAttachment {
                content_type: "message/rfc822",
                filename: "original.eml",
                bytes: &latest.raw,
            }]
        };
        let out = compose_with(
            &actions.templates,
            Compose {
                kind: ReceiptKind::Incident,
                reference: &o.reference,
                version: latest.version,
                from,
                to: actions.incident_to.clone(),
                thread: &Thread::default(),
                subject: Some(incident_subject(&o.reference, o.system_name.as_deref())),
                date: now.timestamp(),
            },
            &incident,
            &attachments,
        )
        .map_err(anyhow::Error::msg)?;
        mails.push(store::enqueue_for_order(&mut tx, o.id, &out, now).await?);
    }
    tx.commit().await?;
    Ok(ActionOutcome::Done {
        from: o.state,
        to,
        mails,
    })
}

/// `orders list` as a table; what senders wrote is escaped for the terminal.
fn write_order_list(out: &mut impl Write, rows: &[OrderJson]) -> std::io::Result<()> {
    use crate::terminal::line;
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
    use crate::terminal::line;
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

/// A time without seconds, for the Danish long form in mails ("kl. 14.05").
fn to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::Timelike;
    t.with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .unwrap_or(t)
}

/// `spdesk orders approve|reject|execute|fail|withdraw`: the action by the operator; exit 1
/// with the reason when it is refused.
async fn cli_action(
    store: &Store,
    cfg: &Config,
    reference: &str,
    action: Action,
    text: Option<&str>,
) -> anyhow::Result<i32> {
    let actions = Actions::from_config(cfg)?;
    let who = operator();
    let outcome = apply_action(
        store,
        &actions,
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
                crate::terminal::line(reference),
                crate::terminal::line(&who)
            );
            for m in mails {
                println!("  queued: {}", crate::terminal::line(&m));
            }
            println!("  mails leave with the daemon's next outbox round");
            Ok(0)
        }
        ActionOutcome::Refused(why) => {
            eprintln!("{}", crate::terminal::text(&why));
            Ok(1)
        }
    }
}

/// `spdesk digest [--send]`: prints today's digest, or queues it (once per day) for the
/// daemon's outbox.
pub async fn digest(send: bool, cfg: &Config) -> anyhow::Result<i32> {
    let store = Store::open(&cfg.database.url).await?;
    let now = Utc::now();
    if !send {
        let text = crate::jobs::digest_text(&store, cfg, now).await?;
        println!("{}", crate::terminal::text(&text));
        return Ok(0);
    }
    let mut tx = store.begin().await?;
    let queued = crate::jobs::queue_digest(&store, &mut tx, cfg, now).await?;
    tx.commit().await?;
    println!("{queued}");
    if queued.new {
        println!("it leaves with the daemon's next outbox round");
    }
    Ok(0)
}

/// `spdesk billing run | export --period YYYY-MM [--out FILE]`.
pub async fn billing(cmd: &crate::cli::BillingCommand, cfg: &Config) -> anyhow::Result<i32> {
    use crate::cli::BillingCommand;
    match cmd {
        BillingCommand::Run => {
            let store = Store::open(&cfg.database.url).await?;
            let mut tx = store.begin().await?;
            let billed = crate::jobs::bill(&mut tx, cfg, Utc::now()).await?;
            tx.commit().await?;
            println!("{billed}");
            Ok(0)
        }
        BillingCommand::Export { period, out } => {
            let period: crate::billing::Period = match period.parse() {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(EXIT_USAGE);
                }
            };
            let store = Store::open(&cfg.database.url).await?;
            let csv = crate::jobs::export(&store, cfg, period).await?;
            match out {
                Some(path) => {
                    std::fs::write(path, &csv)
                        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
                    eprintln!(
                        "{}: {} line(s) for {period}",
                        path.display(),
                        csv.lines().count().saturating_sub(1)
                    );
                }
                None => {
                    std::io::stdout().write_all(csv.as_bytes())?;
                }
            }
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> OrderRow {
        OrderRow {
            id: 1,
            reference: "SP-2026-00001".into(),
            state: State::Approved,
            kind: Some("sftp".into()),
            bestillings_id: Some("BD-1".into()),
            org_name: None,
            org_cvr: None,
            system_name: None,
            requester: Some("fa@kommune.test".into()),
            reply_to: Some("FA@kommune.test".into()),
            contact_email: Some("drift@kommune.test".into()),
            thread_message_id: None,
            thread_subject: String::new(),
            planned_at: None,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            executed_at: None,
            billed_at: None,
            incident_at: None,
        }
    }

    fn helpdesk() -> HelpdeskSettings {
        HelpdeskSettings {
            address: "helpdesk@sp.test".into(),
            own_domains: vec!["sp.test".into()],
            review_to: vec![],
            rates: crate::rate::RateLimits::default(),
        }
    }

    /// `spdesk check` treats a mail over a header limit as intake does: review, unparsed.
    #[test]
    fn check_sends_a_mail_over_the_header_limit_to_review() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("many-headers.eml");
        let mut raw = String::from("From: fa@example.test\r\nSubject: Bestilling\r\n");
        for n in 0..20 {
            raw.push_str(&format!("X-Filler-{n}: x\r\n"));
        }
        raw.push_str("\r\nHej\r\n");
        std::fs::write(&path, raw).unwrap();
        let limits = HeaderLimits {
            max_count: 10,
            ..HeaderLimits::default()
        };
        match read_input(&path, 1 << 20, &limits).unwrap() {
            Input::OverLimit(mail, why) => {
                assert_eq!(mail.from.as_deref(), Some("fa@example.test"));
                assert_eq!(mail.subject, "Bestilling");
                assert_eq!(why, "the mail has more than 10 header fields");
                let j = Judgement::quarantined(&mail, &why);
                assert_eq!(j.exit_code(), 11);
            }
            Input::Mail(_) => panic!("20 header fields are over a limit of 10"),
        }
        let within = HeaderLimits::default();
        assert!(matches!(
            read_input(&path, 1 << 20, &within).unwrap(),
            Input::Mail(m) if m.text.as_deref().is_some_and(|t| t.contains("Hej"))
        ));
    }

    #[test]
    fn every_closing_action_has_its_receipt() {
        assert_eq!(receipt_for(State::Executed), Some(ReceiptKind::Gennemfoert));
        assert_eq!(receipt_for(State::Failed), Some(ReceiptKind::Fejl));
        assert_eq!(
            receipt_for(State::Withdrawn),
            Some(ReceiptKind::Tilbagetrukket)
        );
        assert_eq!(receipt_for(State::Approved), Some(ReceiptKind::Godkendt));
        assert_eq!(receipt_for(State::Rejected), Some(ReceiptKind::Afvist));
        assert_eq!(receipt_for(State::Review), None);
    }

    #[test]
    fn receipts_go_to_the_sender_and_a_contact_in_its_domain_only() {
        let o = order();
        assert_eq!(
            order_recipients(&o, None, &helpdesk()),
            vec!["fa@kommune.test", "drift@kommune.test"]
        );
        let o = OrderRow {
            contact_email: Some("someone@elsewhere.test".into()),
            ..order()
        };
        assert_eq!(
            order_recipients(&o, None, &helpdesk()),
            vec!["fa@kommune.test"]
        );
        // No requester: a contact address is never trusted on its own.
        let o = OrderRow {
            requester: None,
            reply_to: None,
            ..order()
        };
        assert!(order_recipients(&o, None, &helpdesk()).is_empty());
        // Our own addresses never get a receipt.
        let o = OrderRow {
            reply_to: Some("x@SP.test".into()),
            requester: Some("x@sp.test".into()),
            contact_email: Some("y@sp.test".into()),
            ..order()
        };
        assert!(order_recipients(&o, None, &helpdesk()).is_empty());
    }

    #[test]
    fn event_detail_joins_what_is_there() {
        assert_eq!(event_detail(Some(" note "), Some("out")), "note\nout");
        assert_eq!(event_detail(None, Some("out")), "out");
        assert_eq!(event_detail(Some(""), None), "");
    }

    #[test]
    fn field_lines_use_labels_in_form_order() {
        let j = serde_json::json!({"fields": {
            "sftp_user": "bd", "bestillings_id": "BD-1", "changes": ["a", "b"], "zz_unknown": 3
        }});
        let lines = field_lines(&j);
        let labels: Vec<&str> = lines.iter().filter_map(|l| l["label"].as_str()).collect();
        assert_eq!(labels.len(), 4);
        assert_eq!(labels.last(), Some(&"zz_unknown"));
        assert!(labels.contains(&"SFTP-bruger"));
        assert!(lines.iter().any(|l| l["value"] == "a, b"));
        assert!(lines.iter().any(|l| l["value"] == "3"));
        assert!(field_lines(&serde_json::Value::Null).is_empty());
        assert!(field_lines(&serde_json::json!({"fields": 1})).is_empty());
    }

    #[test]
    fn mail_times_drop_seconds() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T09:05:59.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            crate::calendar::danish_datetime(&to_minute(t)),
            "mandag den 7. december 2026 kl. 10.05"
        );
    }

    /// The incident mail names the it-system from the form and attaches the original mail:
    /// a system name or file name with a line break stays inside its header.
    #[test]
    fn the_incident_header_block_holds_only_our_headers() {
        use crate::receipts::{OutAttachment, ReceiptKind, Thread};
        let out = crate::receipts::tests::try_compose(
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
        crate::header_value::assert_only_our_headers(&out.raw, &crate::header_value::OUR_HEADERS);
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert!(
            parsed
                .subject
                .ends_with("FamilieFlow Bcc: evil@x.test body")
        );
        let a = parsed.attachments.first().unwrap();
        assert_eq!(a.name.as_deref(), Some("original.eml X-Evil: 1"));
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
        write_order(&mut out, &j, &[], &events).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            !text.contains(['\x1b', '\x07', '\u{9b}']),
            "raw escape sequence in {text:?}"
        );
        assert!(text.contains("Kommune\\u{1b}]0;pwned\\u{7}"), "{text}");
        assert!(text.contains("line two"), "{text}");
    }

    #[test]
    fn incident_subject_names_the_system() {
        assert_eq!(
            incident_subject("SP-2026-00001", Some("FamilieFlow")),
            "[SP-2026-00001] Incident: fejl ved ændring af teknisk konfiguration – FamilieFlow"
        );
        assert!(incident_subject("SP-2026-00001", Some(" ")).ends_with("– ukendt it-system"));
    }
}
