//! A person's or the executor's action on an order: the one transaction that changes its
//! state, appends the event, queues the receipt and the incident mail.

use chrono::{DateTime, Utc};
use chrono_tz::Europe::Copenhagen;

use crate::cli::orders::{latest_version, to_minute};
use crate::daemon::process::HelpdeskSettings;
use crate::orders::receipts::{
    Compose, OutAttachment, ReceiptKind, Templates, Thread, compose, compose_with,
};
use crate::orders::state::{Action, State, transition};
use crate::store::{self, OrderRow, Store};

/// What the order actions need besides the database: the templates and the Helpdesk's
/// addresses. The CLI and the daemon's executor share it (`cli::setup`), with the templates and
/// the register the rest of the process uses.
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
    system: Option<&crate::rules::it_systems::SystemEntry>,
    helpdesk: &HelpdeskSettings,
) -> Vec<String> {
    crate::daemon::process::recipients(
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
            let pos = crate::forms::fields::FIELDS
                .iter()
                .position(|f| f.code == code)
                .unwrap_or(usize::MAX);
            let label = crate::forms::fields::field(code)
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
    let planned = o
        .planned_at
        .map(|p| crate::rules::calendar::danish_datetime(&p));
    let text = a.text.map(str::trim).filter(|t| !t.is_empty());
    let values = serde_json::json!({
        "ref": o.reference,
        "bestillings_id": o.bestillings_id,
        "contact_name": contact_name,
        "planned_at": planned.clone().unwrap_or_else(|| "på det aftalte tidspunkt".into()),
        "findings": if a.action == Action::Reject { text.map(|r| vec![r.to_string()]).unwrap_or_default() } else { Vec::new() },
        "executed_at": crate::rules::calendar::danish_datetime(&to_minute(now)),
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
            "kind_title": o.kind.as_deref().and_then(crate::forms::fields::FormKind::from_code).map(|k| k.title()),
            "org_name": o.org_name,
            "org_cvr": o.org_cvr,
            "system_name": o.system_name,
            "requester": o.requester,
            "version": latest.version,
            "fields": field_lines(&latest.judgement),
            "planned_at": planned,
            "failed_at": crate::rules::calendar::danish_datetime(&to_minute(now)),
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
            rates: crate::orders::rate::RateLimits::default(),
        }
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
}
