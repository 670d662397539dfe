//! What the order page shows, computed from what the store read: the versions side by side
//! with the changed values marked, the findings, each queued mail's delivery state and the
//! timeline of events and mails in and out. Pure (values in, values out), so each part is
//! tested without a server; the Danish words come from `orders::display`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::forms::fields::{FIELDS, field};
use crate::orders::display;
use crate::orders::order::EventRow;
use crate::orders::receipts::ReceiptKind;
use crate::store::VersionRow;
use crate::store::order_view::{InboundRow, OutboxRow};

/// One version's column head.
#[derive(Debug, Serialize)]
pub struct VersionHead {
    pub version: i64,
    /// The decision of its judgement, in Danish.
    pub decision: String,
    pub created: String,
}

/// One value of one version; `changed` when it differs from the version before.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Cell {
    pub value: String,
    pub changed: bool,
}

/// One field across the versions.
#[derive(Debug, Serialize)]
pub struct VersionLine {
    pub label: String,
    pub cells: Vec<Cell>,
}

/// The versions side by side: field label | v1 | v2 | ...
#[derive(Debug, Serialize)]
pub struct VersionTable {
    pub heads: Vec<VersionHead>,
    pub lines: Vec<VersionLine>,
}

/// The fields of every version (in FORMS.md's order, unknown codes last), each version's value
/// in Danish, a value marked changed when it differs from the previous version's (a field
/// that appears or disappears counts as changed).
pub fn version_table(versions: &[VersionRow]) -> VersionTable {
    let fields = |v: &VersionRow| {
        v.judgement
            .get("fields")
            .and_then(|f| f.as_object())
            .cloned()
    };
    let all: Vec<_> = versions
        .iter()
        .map(|v| fields(v).unwrap_or_default())
        .collect();
    let mut codes: Vec<&String> = all.iter().flat_map(|f| f.keys()).collect();
    let pos = |c: &str| {
        FIELDS
            .iter()
            .position(|f| f.code == c)
            .unwrap_or(usize::MAX)
    };
    codes.sort_by(|a, b| pos(a).cmp(&pos(b)).then(a.cmp(b)));
    codes.dedup();
    let lines = codes
        .into_iter()
        .map(|code| {
            let values: Vec<String> = all
                .iter()
                .map(|f| {
                    f.get(code)
                        .map(|v| display::field_value(code, v))
                        .unwrap_or_default()
                })
                .collect();
            let cells = values
                .iter()
                .enumerate()
                .map(|(i, v)| Cell {
                    value: v.clone(),
                    changed: i > 0 && values[i - 1] != *v,
                })
                .collect();
            let label = field(code).map_or(code.as_str(), |d| d.label).to_string();
            VersionLine { label, cells }
        })
        .collect();
    let heads = versions
        .iter()
        .map(|v| VersionHead {
            version: v.version,
            decision: display::state_name(&v.decision).to_string(),
            created: display::local_time_text(&v.created_at),
        })
        .collect();
    VersionTable { heads, lines }
}

/// One finding of a judgement as the page lists it.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct FindingLine {
    pub rule: String,
    /// `reject` or `review`.
    pub severity: String,
    /// The field's label, when the finding is about one field.
    pub field: String,
    pub message: String,
}

/// The findings of a stored judgement (`findings`: rule, severity, field, message).
pub fn findings(judgement: &serde_json::Value) -> Vec<FindingLine> {
    let text = |f: &serde_json::Value, key: &str| {
        f.get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let Some(list) = judgement.get("findings").and_then(|f| f.as_array()) else {
        return Vec::new();
    };
    list.iter()
        .map(|f| {
            let code = text(f, "field");
            FindingLine {
                rule: text(f, "rule"),
                severity: match text(f, "severity").as_str() {
                    "reject" => "afvises".to_string(),
                    "review" => "til vurdering".to_string(),
                    other => other.to_string(),
                },
                field: field(&code).map_or(code, |d| d.label.to_string()),
                message: text(f, "message"),
            }
        })
        .collect()
}

/// What became of a queued mail: its state word and a note (when, or why).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Delivery {
    /// `sendt`, `udskudt`, `fejlet`, `afvist` (bounced) or `i kø`.
    pub state: &'static str,
    pub note: String,
}

/// The delivery state of `o`: bounced when a bounce of it is in the order's history
/// (`bounces`: the details of its "receipt bounced" events, which name the Message-ID), else
/// failed, sent, deferred (with the next attempt) or waiting for the outbox's next round.
pub fn delivery(o: &OutboxRow, bounces: &[&str], now: DateTime<Utc>) -> Delivery {
    let when = |t: Option<DateTime<Utc>>| t.map(display::local_time).unwrap_or_default();
    if bounces.iter().any(|d| d.contains(o.message_id.as_str())) {
        return Delivery {
            state: "afvist",
            note: "modtagerens server sendte den retur".into(),
        };
    }
    if o.failed_at.is_some() {
        return Delivery {
            state: "fejlet",
            note: format!("{}: {}", when(o.failed_at), o.last_error.trim()),
        };
    }
    if o.sent_at.is_some() {
        return Delivery {
            state: "sendt",
            note: when(o.sent_at),
        };
    }
    let waiting = o.next_attempt_at.is_some_and(|t| t > now);
    if o.attempts > 0 || waiting || !o.last_error.is_empty() {
        let why = o.last_error.trim();
        let mut note = format!("næste forsøg {}", when(o.next_attempt_at));
        if !why.is_empty() {
            note.push_str(&format!(" ({why})"));
        }
        return Delivery {
            state: "udskudt",
            note,
        };
    }
    Delivery {
        state: "i kø",
        note: "sendes ved næste runde".into(),
    }
}

/// A mail kind's Danish name: a receipt's subject words ("Bestillingen er godkendt"), else
/// the code.
pub fn mail_kind(code: &str) -> String {
    ReceiptKind::ALL
        .iter()
        .find(|k| k.code() == code)
        .map_or_else(|| code.to_string(), |k| k.subject_label().to_string())
}

/// The event of a mail queued for the order (`store::enqueue_for_order`).
const QUEUED: &str = "receipt queued";

/// One line of the timeline.
#[derive(Debug, Serialize)]
pub struct Entry {
    #[serde(skip)]
    pub at: Option<DateTime<Utc>>,
    pub time: String,
    /// `Hændelse`, `Mail ind` or `Mail ud`.
    pub kind: &'static str,
    pub what: String,
    pub who: String,
    /// The mail's number on this page (`#mail-N`), for a mail that came in.
    pub mail: Option<i64>,
    /// A mail out's delivery state.
    pub delivery: Option<Delivery>,
}

/// Everything that happened to the order, by time (a tie keeps events before mails, in the
/// order each was stored). A mail in stands at the time spdesk stored it; a mail out at the
/// time it was queued, with its delivery state. The events "receipt queued" are left out:
/// the mail out they name is its own line, with more to say.
pub fn timeline(
    events: &[EventRow],
    inbound: &[InboundRow],
    outbox: &[OutboxRow],
    now: DateTime<Utc>,
) -> Vec<Entry> {
    let time = |t: Option<DateTime<Utc>>| t.map(display::local_time).unwrap_or_default();
    let bounces: Vec<&str> = events
        .iter()
        .filter(|e| e.action == "receipt bounced")
        .map(|e| e.detail.as_str())
        .collect();
    let events = events.iter().filter(|e| e.action != QUEUED).map(|e| {
        let at = crate::store::parse_ts(&e.at);
        Entry {
            at,
            time: display::local_time_text(&e.at),
            kind: "Hændelse",
            what: display::event_text(e),
            who: if e.actor.is_empty() {
                "(ukendt)".into()
            } else {
                e.actor.clone()
            },
            mail: None,
            delivery: None,
        }
    });
    let ins = inbound.iter().map(|m| Entry {
        at: m.stored_at,
        time: time(m.stored_at),
        kind: "Mail ind",
        what: format!("Mail {}: \"{}\"", m.n, m.subject),
        who: m
            .sender
            .clone()
            .unwrap_or_else(|| "(ukendt afsender)".into()),
        mail: Some(m.n),
        delivery: None,
    });
    let outs = outbox.iter().map(|o| Entry {
        at: o.created_at,
        time: time(o.created_at),
        kind: "Mail ud",
        what: format!("\"{}\" til {}", mail_kind(&o.kind), o.recipients.join(", ")),
        who: "spdesk".into(),
        mail: None,
        delivery: Some(delivery(o, &bounces, now)),
    });
    let mut all: Vec<Entry> = events.chain(ins).chain(outs).collect();
    all.sort_by_key(|e| e.at);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn version(n: i64, decision: &str, fields: serde_json::Value) -> VersionRow {
        VersionRow {
            version: n,
            decision: decision.into(),
            created_at: "2026-12-01T09:00:00.000Z".into(),
            judgement: json!({ "fields": fields }),
        }
    }

    fn outbox(id: &str) -> OutboxRow {
        OutboxRow {
            kind: "godkendt".into(),
            message_id: id.into(),
            recipients: vec!["fa@x.test".into()],
            created_at: Some(utc("2026-12-01T09:00:05Z")),
            attempts: 0,
            next_attempt_at: Some(utc("2026-12-01T09:00:05Z")),
            sent_at: None,
            failed_at: None,
            last_error: String::new(),
        }
    }

    #[test]
    fn versions_side_by_side_mark_what_changed() {
        let t = version_table(&[
            version(
                1,
                "rejected",
                json!({"org_cvr": "12345678", "bestillings_id": "B-1", "zz": "x"}),
            ),
            version(
                2,
                "approved",
                json!({"org_cvr": "39055414", "bestillings_id": "B-1", "environment": "exttest"}),
            ),
        ]);
        assert_eq!(t.heads[0].decision, "afvist");
        assert_eq!(t.heads[1].decision, "godkendt");
        let labels: Vec<&str> = t.lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels[0], "KOMBIT BestillingsID");
        assert_eq!(labels.last(), Some(&"zz"), "unknown codes last: {labels:?}");
        let line = |label: &str| t.lines.iter().find(|l| l.label == label).unwrap();
        let cvr = line("CVR-nr.");
        assert_eq!(
            cvr.cells[0],
            Cell {
                value: "12345678".into(),
                changed: false
            }
        );
        assert_eq!(
            cvr.cells[1],
            Cell {
                value: "39055414".into(),
                changed: true
            }
        );
        assert!(!line("KOMBIT BestillingsID").cells[1].changed);
        let env = line("Miljø");
        assert_eq!(env.cells[1].value, "Eksternt testmiljø");
        assert!(env.cells[1].changed, "a field that appears is a change");
        assert!(line("zz").cells[1].changed, "a field that disappears too");
        assert!(version_table(&[]).lines.is_empty());
    }

    #[test]
    fn findings_name_rule_field_and_message() {
        let j = json!({"findings": [
            {"rule": "field.invalid", "severity": "reject", "field": "org_cvr", "message": "CVR-nr. 12345678 er ugyldigt"},
            {"rule": "cert.untrusted", "severity": "review", "message": "ikke betroet"}
        ]});
        let f = findings(&j);
        assert_eq!(f[0].field, "CVR-nr.");
        assert_eq!(f[0].severity, "afvises");
        assert_eq!(f[0].message, "CVR-nr. 12345678 er ugyldigt");
        assert_eq!(f[1].rule, "cert.untrusted");
        assert_eq!(f[1].field, "");
        assert!(findings(&serde_json::Value::Null).is_empty());
        assert!(findings(&json!({"findings": "junk"})).is_empty());
    }

    #[test]
    fn a_mail_out_is_queued_deferred_sent_failed_or_bounced() {
        let now = utc("2026-12-01T09:01:00Z");
        let id = "SP-2026-00001.v1.godkendt@spdesk.h.test";
        let mut o = outbox(id);
        assert_eq!(delivery(&o, &[], now).state, "i kø");
        o.attempts = 1;
        o.next_attempt_at = Some(utc("2026-12-01T09:30:00Z"));
        o.last_error = "451 try later".into();
        let d = delivery(&o, &[], now);
        assert_eq!(d.state, "udskudt");
        assert!(
            d.note.contains("2026-12-01 10:30 +01:00") && d.note.contains("451"),
            "{d:?}"
        );
        o.sent_at = Some(utc("2026-12-01T09:31:00Z"));
        assert_eq!(delivery(&o, &[], now).state, "sendt");
        let bounce = format!("the receipt {id} could not be delivered");
        assert_eq!(delivery(&o, &[bounce.as_str()], now).state, "afvist");
        assert_eq!(
            delivery(&o, &["the receipt other@x could not"], now).state,
            "sendt"
        );
        let mut f = outbox(id);
        f.failed_at = Some(now);
        f.last_error = "550 no such user".into();
        let d = delivery(&f, &[], now);
        assert_eq!(d.state, "fejlet");
        assert!(d.note.contains("550"), "{d:?}");
    }

    #[test]
    fn the_timeline_is_sorted_by_time_with_people_and_mails() {
        let now = utc("2026-12-01T10:00:00Z");
        let event = |action: &str, detail: &str| EventRow {
            at: "2026-12-01T09:00:01.000Z".into(),
            actor: "kim".into(),
            action: action.into(),
            from_state: Some("review".into()),
            to_state: Some("approved".into()),
            detail: detail.into(),
        };
        let events = [
            event("approve", "ok"),
            event("receipt queued", "godkendt to fa@x.test"),
        ];
        let inbound = [InboundRow {
            n: 1,
            sender: Some("fa@x.test".into()),
            subject: "<script>".into(),
            received_at: Some(utc("2026-12-01T08:59:00Z")),
            stored_at: Some(utc("2026-12-01T08:59:01Z")),
            disposition: "order".into(),
        }];
        let mut out = outbox("SP-2026-00001.v1.godkendt@spdesk.h.test");
        out.sent_at = Some(utc("2026-12-01T09:00:06Z"));
        let t = timeline(&events, &inbound, &[out], now);
        let kinds: Vec<&str> = t.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["Mail ind", "Hændelse", "Mail ud"]);
        assert_eq!(t[0].mail, Some(1));
        assert_eq!(t[0].who, "fa@x.test");
        assert_eq!(t[1].who, "kim");
        assert_eq!(t[1].what, "godkendt (til vurdering → godkendt): ok");
        assert_eq!(t[1].time, "2026-12-01 10:00 +01:00");
        assert_eq!(t[2].what, "\"Bestillingen er godkendt\" til fa@x.test");
        assert_eq!(t[2].delivery.as_ref().map(|d| d.state), Some("sendt"));
    }
}
