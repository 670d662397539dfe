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
use crate::mail::{Attachment, Mail};
use crate::order::{Action, State, transition};
use crate::receipts::{Compose, ReceiptKind, Templates, Thread, compose};
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
    let limits = setup::extract_limits(&cfg.limits);
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
        let code = match read_input(file, limits.max_attachment_bytes as u64 * 2) {
            Ok(mail) => {
                let j = judge_mail(&mail, &ctx);
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
                eprintln!("{}: {e}", file.display());
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

/// Reads a file as a mail (.eml and anything that parses as one) or wraps a form file
/// (.docx, .pdf, .txt) as the single attachment of an empty mail.
fn read_input(path: &Path, max_bytes: u64) -> anyhow::Result<Mail> {
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
    match ext.as_str() {
        "docx" => Ok(as_attachment(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        )),
        "pdf" => Ok(as_attachment("application/pdf")),
        "txt" => Ok(Mail {
            subject: name.clone(),
            text: Some(String::from_utf8_lossy(&bytes).to_string()),
            ..Mail::default()
        }),
        _ => Mail::parse(&bytes, 3).ok_or_else(|| {
            anyhow::anyhow!(
                "not a mail or a form file; give an .eml mail, or a .docx, .pdf or .txt form"
            )
        }),
    }
}

fn print_human(out: &mut impl Write, file: &Path, j: &Judgement) -> std::io::Result<()> {
    writeln!(out, "{}", file.display())?;
    writeln!(
        out,
        "  mail: from {} subject {:?}{}{}{}",
        j.mail.from.as_deref().unwrap_or("(none)"),
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
            f.source,
            f.decision.as_str()
        )?;
        for (code, v) in &f.fields {
            writeln!(
                out,
                "    {code}: {}",
                serde_json::to_string(v).unwrap_or_default()
            )?;
        }
        for x in &f.findings {
            writeln!(out, "    ! {} [{}] {}", x.rule.id(), severity(x), x.message)?;
        }
    }
    for x in &j.findings {
        writeln!(out, "  ! {} [{}] {}", x.rule.id(), severity(x), x.message)?;
    }
    for p in &j.problems {
        writeln!(out, "  note: {p}")?;
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
                println!(
                    "{:<15} {:<10} {:<11} {:<22} {:<26} DUE",
                    "REF", "STATE", "KIND", "BESTILLINGSID", "PLANNED"
                );
                for r in rows {
                    println!(
                        "{:<15} {:<10} {:<11} {:<22} {:<26} {}",
                        r.reference,
                        r.state,
                        r.kind.unwrap_or_default(),
                        r.bestillings_id.unwrap_or_default(),
                        r.planned_at.unwrap_or_default(),
                        if r.overdue {
                            "OVERDUE"
                        } else if r.due {
                            "today"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(0)
        }
        OrdersCommand::Show { reference, json } => {
            let Some(o) = store::order_by_ref(&store.pool, reference).await? else {
                eprintln!("no order {reference}; see `spdesk orders list`");
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
                let j = order_json(&o, now);
                println!(
                    "{}  {}  {}",
                    j.reference,
                    j.state,
                    j.kind.unwrap_or_default()
                );
                println!("  BestillingsID: {}", j.bestillings_id.unwrap_or_default());
                println!(
                    "  organisation:  {} (CVR {})",
                    j.org_name.unwrap_or_default(),
                    j.org_cvr.unwrap_or_default()
                );
                println!("  it-system:     {}", j.system_name.unwrap_or_default());
                println!("  requester:     {}", j.requester.unwrap_or_default());
                println!("  planned:       {}", j.planned_at.unwrap_or_default());
                for v in &versions {
                    println!("  version {} ({}): {}", v.version, v.created_at, v.decision);
                }
                println!("  history:");
                for e in &events {
                    let arrow = match (&e.from_state, &e.to_state) {
                        (Some(a), Some(b)) => format!(" {a} -> {b}"),
                        (None, Some(b)) => format!(" -> {b}"),
                        _ => String::new(),
                    };
                    println!(
                        "    {}  {:<10} {}{}  {}",
                        e.at,
                        e.actor,
                        e.action,
                        arrow,
                        e.detail.replace('\n', "; ")
                    );
                }
            }
            Ok(0)
        }
        OrdersCommand::Approve { reference } => {
            decide(&store, cfg, reference, Action::Approve, None).await
        }
        OrdersCommand::Reject { reference, reason } => {
            decide(&store, cfg, reference, Action::Reject, Some(reason)).await
        }
    }
}

/// The mail of an order's latest version: the receipt answers it.
async fn latest_mail(tx: &mut store::Tx<'_>, order_id: i64) -> anyhow::Result<(i64, Mail)> {
    let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT v.version, m.raw FROM order_versions v JOIN inbound_mail m ON m.id = v.inbound_id
         WHERE v.order_id = ?1 ORDER BY v.version DESC LIMIT 1",
    )
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match row {
        Some((v, raw)) => (v, Mail::parse(&raw, 0).unwrap_or_default()),
        None => (0, Mail::default()),
    })
}

/// A person's decision on a review order: state change, event and receipt in one transaction.
async fn decide(
    store: &Store,
    cfg: &Config,
    reference: &str,
    action: Action,
    reason: Option<&str>,
) -> anyhow::Result<i32> {
    let templates =
        Templates::load(Some(&setup::templates_dir(cfg))).map_err(anyhow::Error::msg)?;
    let now = Utc::now();
    let mut tx = store.begin().await?;
    let Some(o) = store::order_by_ref(&mut *tx, reference).await? else {
        eprintln!("no order {reference}; see `spdesk orders list`");
        return Ok(1);
    };
    let to = match transition(o.state, action) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{reference}: {e}");
            return Ok(1);
        }
    };
    let who = operator();
    store::set_state(&mut tx, o.id, to, now).await?;
    store::event(
        &mut tx,
        Some(o.id),
        None,
        now,
        &who,
        action.name(),
        Some(o.state),
        Some(to),
        reason.unwrap_or(""),
    )
    .await?;

    let (version, mail) = latest_mail(&mut tx, o.id).await?;
    let helpdesk = setup::helpdesk_settings(cfg);
    // The same people as the daemon's receipts: a contact e-mail listed for the it-system in
    // the register counts (the latest version names the system).
    let register = match &cfg.rules.systems_file {
        Some(p) => Some(
            crate::register::Register::load(p)
                .map_err(|e| anyhow::anyhow!("rules.systems_file: {e}"))?,
        ),
        None => None,
    };
    let system_uuid: Option<String> = sqlx::query_scalar::<_, String>(
        "SELECT judgement FROM order_versions WHERE order_id = ?1 ORDER BY version DESC LIMIT 1",
    )
    .bind(o.id)
    .fetch_optional(&mut *tx)
    .await?
    .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
    .and_then(|v| v["fields"]["system_uuid"].as_str().map(str::to_string));
    let system = register
        .as_ref()
        .zip(system_uuid.as_deref())
        .and_then(|(r, u)| r.lookup(u));
    let recipients = crate::process::recipients(
        o.reply_to.as_deref(),
        o.requester.as_deref(),
        o.contact_email.as_deref(),
        system,
        &helpdesk,
    );
    if !recipients.is_empty() {
        let kind = if to == State::Approved {
            ReceiptKind::Godkendt
        } else {
            ReceiptKind::Afvist
        };
        let planned = o.planned_at.map(|p| crate::calendar::danish_datetime(&p));
        let values = serde_json::json!({
            "ref": o.reference,
            "bestillings_id": o.bestillings_id,
            "planned_at": planned.unwrap_or_else(|| "på det aftalte tidspunkt".into()),
            "findings": reason.map(|r| vec![r.to_string()]).unwrap_or_default(),
        });
        let thread = Thread {
            message_id: mail.message_id.clone(),
            references: mail.references.clone(),
            subject: if mail.subject.is_empty() {
                o.thread_subject.clone()
            } else {
                mail.subject.clone()
            },
        };
        let out = compose(
            &templates,
            Compose {
                kind,
                reference: &o.reference,
                // The daemon sent til_vurdering for this version, so godkendt/afvist is new.
                version,
                from: &cfg.helpdesk.address,
                to: recipients,
                thread: &thread,
                subject: None,
                date: now.timestamp(),
            },
            &values,
        )
        .map_err(anyhow::Error::msg)?;
        store::enqueue(&mut tx, Some(o.id), &out, now).await?;
        store::event(
            &mut tx,
            Some(o.id),
            None,
            now,
            "daemon",
            "receipt queued",
            None,
            None,
            &format!("{} to {}", kind.code(), out.to.join(", ")),
        )
        .await?;
    }
    tx.commit().await?;
    println!(
        "{reference}: {} -> {to} (by {who}); the receipt leaves with the daemon's next outbox round",
        o.state
    );
    Ok(0)
}

/// `spdesk digest [--send]`: prints today's digest, or queues it (once per day) for the
/// daemon's outbox.
pub async fn digest(send: bool, cfg: &Config) -> anyhow::Result<i32> {
    let store = Store::open(&cfg.database.url).await?;
    let now = Utc::now();
    if !send {
        println!("{}", crate::jobs::digest_text(&store, cfg, now).await?);
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
