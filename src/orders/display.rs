//! An order as a person reads it on the command line (`orders show`, `orders list`): Danish
//! names for states and history events, FORMS.md's labels with Danish values instead of codes,
//! the attached certificate's subject, serial and validity instead of a file, and every time in
//! Copenhagen time with its offset.
//!
//! Why one place: the stored values are codes (`ssl_certificate`, `on`, `produktion`) and UTC
//! instants, fit for JSON and tools but not for the person deciding on the order. Pure: values
//! in, text out; the shell escapes the text for the terminal.

use chrono::{DateTime, Utc};

use crate::forms::fields::{CHANGES, FIELDS, Role, field};
use crate::orders::order::EventRow;
use crate::orders::receipts::ReceiptKind;
use crate::orders::values::LabelValue;
use crate::rules::calendar::TZ;
use crate::rules::cert::CertSummary;

/// A time as `orders show` and `orders list` print it: Copenhagen time with its offset,
/// to the minute, "2026-12-14 10:00 +01:00" (summer: "+02:00"). Sortable, unambiguous across
/// the change to and from summer time, and short enough for a table.
pub fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&TZ)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
}

/// A stored time (RFC 3339, usually UTC with `Z`) as [`local_time`]; a text that is no time is
/// returned as it is.
pub fn local_time_text(stored: &str) -> String {
    parse(stored).map_or_else(|| stored.to_string(), local_time)
}

/// A stored time as RFC 3339 in Copenhagen time ("2026-12-14T10:00:00+01:00", never `Z`), for
/// JSON; a text that is no time is returned as it is.
pub fn local_rfc3339(stored: &str) -> String {
    parse(stored).map_or_else(|| stored.to_string(), |t| t.with_timezone(&TZ).to_rfc3339())
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The Danish name of a state (DESIGN.md's code → what RECEIPTS.md's receipts call it); an
/// unknown code is shown as it is.
pub fn state_name(code: &str) -> &str {
    match code {
        "received" => "modtaget",
        "review" => "til vurdering",
        "approved" => "godkendt",
        "rejected" => "afvist",
        "executed" => "gennemført",
        "failed" => "fejlet",
        "withdrawn" => "trukket tilbage",
        other => other,
    }
}

/// The Danish name of a history event; an action this table does not know yet is shown as it
/// is (a newer spdesk may have written it).
pub fn action_name(action: &str) -> &str {
    match action {
        "received" => "modtaget",
        "new version" => "ny version",
        "judged" => "vurderet automatisk",
        "approve" => "godkendt",
        "reject" => "afvist",
        "execute" => "gennemført",
        "fail" => "fejlet",
        "withdraw" => "trukket tilbage",
        "override" => "afgørelse ændret",
        "reopen" => "genåbnet",
        "reschedule" => "nyt tidspunkt",
        "edit" => "rettet af Helpdesk",
        "correspondence" => "besked modtaget",
        "reply" => "svar fra Helpdesk",
        "handled" => "besked håndteret",
        "not correspondence" => "mail ikke knyttet til bestillingen",
        "change refused" => "ændring afvist",
        "no receipt" => "ingen kvittering",
        "receipt failed" => "kvittering kunne ikke sendes",
        "receipt bounced" => "kvittering kom retur",
        "message-id reused" => "Message-ID genbrugt",
        "ignored" => "ignoreret",
        "mail held" => "mail holdt tilbage",
        "review mail gathered" => "samlet i timens vurderingsmail",
        "execution started" => "udførelse startet",
        "execution result not applied" => "udførelsens resultat ikke anvendt",
        "billed" => "faktureret",
        "receipt queued" => "mail sendes",
        "receipt deferred" => "kvittering udskudt",
        "verified" => "kontrol bestået",
        "verification failed" => "kontrol ikke bestået",
        other => other,
    }
}

/// One line of the history in Danish: time, who, then [`event_text`].
pub fn history_line(e: &EventRow) -> String {
    format!(
        "{}  {}  {}",
        local_time_text(&e.at),
        if e.actor.is_empty() {
            "(ukendt)"
        } else {
            &e.actor
        },
        event_text(e)
    )
}

/// What happened, in Danish, without time and person (the web console shows those in
/// columns of their own): the action, the state change when the state changed ("til
/// vurdering → godkendt"; a new order "ny: modtaget"; never "modtaget → modtaget"), then why.
pub fn event_text(e: &EventRow) -> String {
    let change = match (e.from_state.as_deref(), e.to_state.as_deref()) {
        (Some(a), Some(b)) if a != b => format!(" ({} → {})", state_name(a), state_name(b)),
        (Some(_), Some(b)) => format!(" (fortsat {})", state_name(b)),
        (None, Some(b)) => format!(" (ny: {})", state_name(b)),
        _ => String::new(),
    };
    let detail = match e.action.as_str() {
        "receipt queued" => queued_detail(&e.detail),
        _ => e.detail.trim().replace('\n', "; "),
    };
    let mut line = format!("{}{}", action_name(&e.action), change);
    if !detail.is_empty() {
        line.push_str(": ");
        line.push_str(&detail);
    }
    line
}

/// A queued mail's detail ("godkendt to a@x.dk") as "Bestillingen er godkendt" til a@x.dk:
/// the mail's subject words instead of its code.
fn queued_detail(detail: &str) -> String {
    let Some((code, to)) = detail.trim().split_once(" to ") else {
        return detail.trim().replace('\n', "; ");
    };
    match ReceiptKind::ALL.iter().find(|k| k.code() == code) {
        Some(k) => format!("\"{}\" til {}", k.subject_label(), to.replace('\n', "; ")),
        None => format!("{code} til {}", to.replace('\n', "; ")),
    }
}

/// A field's value in Danish: change codes as their labels, environment, role and monitoring
/// in words, hours with their unit; anything else as written.
pub fn field_value(code: &str, value: &serde_json::Value) -> String {
    let items: Vec<String> = match value {
        serde_json::Value::Array(items) => items.iter().map(json_text).collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![json_text(other)],
    };
    let words: Vec<String> = items.iter().map(|v| word(code, v)).collect();
    words.join(", ")
}

fn json_text(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn word(code: &str, v: &str) -> String {
    let known = match (code, v) {
        ("changes", c) => CHANGES.iter().find(|d| d.code == c).map(|d| d.label),
        ("environment", "produktion") => Some("Produktion"),
        ("environment", "exttest") => Some("Eksternt testmiljø"),
        ("monitoring", "on") => Some("Til"),
        ("monitoring", "off") => Some("Fra"),
        ("system_role", r) => Role::from_code(r).map(|r| r.danish()),
        ("security_model", "token") => Some("SAML-token/IDWS (token)"),
        ("security_model", "kontekst") => Some("invocation/authority context (kontekst)"),
        _ => None,
    };
    match (known, code) {
        (Some(w), _) => w.to_string(),
        (None, "pickup_deadline_hours") => format!("{v} timer"),
        (None, "desired_at") => parse(v).map_or_else(|| v.to_string(), local_time),
        (None, _) => v.to_string(),
    }
}

/// A stored version's fields (its judgement JSON) as FORMS.md's labels with Danish values, in
/// the field table's order; a field the table does not know comes last, under its code. The
/// certificate field names the attached file: with `cert`, its subject, serial and validity
/// follow it.
pub fn field_lines(judgement: &serde_json::Value, cert: Option<&CertSummary>) -> Vec<LabelValue> {
    let Some(fields) = judgement.get("fields").and_then(|f| f.as_object()) else {
        return Vec::new();
    };
    let mut lines: Vec<(usize, LabelValue)> = fields
        .iter()
        .map(|(code, v)| {
            let pos = FIELDS
                .iter()
                .position(|f| f.code == code)
                .unwrap_or(usize::MAX);
            let label = field(code).map_or(code.as_str(), |d| d.label).to_string();
            let value = field_value(code, v);
            (pos, LabelValue { label, value })
        })
        .collect();
    lines.sort_by_key(|(pos, _)| *pos);
    let mut out: Vec<LabelValue> = Vec::with_capacity(lines.len() + 4);
    for (_, l) in lines {
        let is_cert = field("certificate").is_some_and(|d| d.label == l.label);
        out.push(l);
        if let (true, Some(c)) = (is_cert, cert) {
            out.extend(cert_lines(c));
        }
    }
    out
}

/// The certificate as a person checks it: subject, issuer, serial, validity.
pub fn cert_lines(c: &CertSummary) -> Vec<LabelValue> {
    let lv = |label: &str, value: String| LabelValue {
        label: label.to_string(),
        value,
    };
    vec![
        lv("  Certifikatets emne", c.subject.clone()),
        lv("  Udstedt af", c.issuer.clone()),
        lv("  Serienummer", c.serial.clone()),
        lv(
            "  Gyldigt",
            format!(
                "fra {} til {}",
                local_time(c.not_before),
                local_time(c.not_after)
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn event(action: &str, from: Option<&str>, to: Option<&str>, detail: &str) -> EventRow {
        EventRow {
            at: "2026-12-14T09:00:00.000Z".into(),
            actor: "fa@example.test".into(),
            action: action.into(),
            from_state: from.map(str::to_string),
            to_state: to.map(str::to_string),
            detail: detail.into(),
        }
    }

    /// Every action a person or the daemon records has a Danish name in the history.
    #[test]
    fn every_action_has_a_danish_name() {
        use crate::orders::state::Action;
        use crate::rules::finding::Decision;
        let actions = [
            Action::Judge(Decision::Approved),
            Action::NewVersion,
            Action::Approve,
            Action::Reject,
            Action::Execute,
            Action::Fail,
            Action::Withdraw,
            Action::Override,
            Action::Reopen,
            Action::Reschedule,
            Action::Edit,
        ];
        for a in actions {
            assert_ne!(action_name(a.name()), a.name(), "{a:?} has no Danish name");
        }
    }

    #[test]
    fn times_are_copenhagen_with_offset_never_z() {
        assert_eq!(
            local_time(utc("2026-12-14T09:00:00Z")),
            "2026-12-14 10:00 +01:00"
        );
        assert_eq!(
            local_time(utc("2026-07-01T08:30:59Z")),
            "2026-07-01 10:30 +02:00"
        );
        assert_eq!(
            local_time_text("2026-12-14T09:00:00.000Z"),
            "2026-12-14 10:00 +01:00"
        );
        assert_eq!(local_time_text("not a time"), "not a time");
        assert_eq!(
            local_rfc3339("2026-12-14T09:00:00.000Z"),
            "2026-12-14T10:00:00+01:00"
        );
        assert_eq!(
            local_rfc3339("2026-07-01T08:00:00Z"),
            "2026-07-01T10:00:00+02:00"
        );
        assert_eq!(local_rfc3339(""), "");
    }

    #[test]
    fn history_reads_danish_without_a_state_that_stays() {
        let new = event("received", None, Some("received"), "Bestilling");
        assert_eq!(
            history_line(&new),
            "2026-12-14 10:00 +01:00  fa@example.test  modtaget (ny: modtaget): Bestilling"
        );
        let again = event("new version", Some("received"), Some("received"), "SV: x");
        let line = history_line(&again);
        assert!(!line.contains("modtaget → modtaget"), "{line}");
        assert!(!line.contains("received"), "{line}");
        assert!(line.contains("ny version (fortsat modtaget)"), "{line}");
        let judged = event("judged", Some("received"), Some("review"), "a: b\nc: d");
        assert!(
            history_line(&judged)
                .ends_with("vurderet automatisk (modtaget → til vurdering): a: b; c: d"),
            "{}",
            history_line(&judged)
        );
        let queued = event("receipt queued", None, None, "godkendt to fa@example.test");
        assert!(
            history_line(&queued)
                .ends_with("mail sendes: \"Bestillingen er godkendt\" til fa@example.test"),
            "{}",
            history_line(&queued)
        );
        let odd = event("receipt queued", None, None, "nyt_slags to a@x.test");
        assert!(history_line(&odd).ends_with(": nyt_slags til a@x.test"));
        let note = event("billed", None, None, "");
        assert!(history_line(&note).ends_with("  faktureret"));
        assert_eq!(action_name("something new"), "something new");
        assert_eq!(state_name("failed"), "fejlet");
        for s in crate::orders::state::State::ALL {
            assert_ne!(
                state_name(s.as_str()),
                s.as_str(),
                "{s:?} has a Danish name"
            );
        }
    }

    #[test]
    fn fields_have_danish_labels_and_values() {
        let j = serde_json::json!({"fields": {
            "sftp_user": "bd", "bestillings_id": "BD-1", "changes": ["ssl_certificate", "url"],
            "environment": "produktion", "monitoring": "on", "system_role": "anvendersystem",
            "pickup_deadline_hours": 24, "zz_unknown": "x", "certificate": "ny.cer"
        }});
        let cert = CertSummary {
            subject: "CN=ny.example.test".into(),
            issuer: "CN=CA".into(),
            serial: "5EED0042".into(),
            not_before: utc("2026-06-01T00:00:00Z"),
            not_after: utc("2028-06-01T00:00:00Z"),
        };
        let lines = field_lines(&j, Some(&cert));
        let get = |label: &str| {
            lines
                .iter()
                .find(|l| l.label == label)
                .map(|l| l.value.clone())
                .unwrap_or_else(|| panic!("{label} in {lines:?}"))
        };
        assert_eq!(lines[0].label, "KOMBIT BestillingsID");
        assert_eq!(get("Miljø"), "Produktion");
        assert_eq!(get("Overvågning"), "Til");
        assert_eq!(get("It-systemrolle"), "anvendersystem");
        assert_eq!(get("Tidsgrænse for afhentning (timer)"), "24 timer");
        assert_eq!(get("Ændringer"), "SSL-certifikat, URL");
        assert_eq!(get("Nyt SSL-certifikat"), "ny.cer");
        assert_eq!(get("  Serienummer"), "5EED0042");
        assert_eq!(
            get("  Gyldigt"),
            "fra 2026-06-01 02:00 +02:00 til 2028-06-01 02:00 +02:00"
        );
        assert_eq!(lines.last().map(|l| l.label.as_str()), Some("zz_unknown"));
        let cert_at = lines.iter().position(|l| l.label == "Nyt SSL-certifikat");
        let subject_at = lines.iter().position(|l| l.label == "  Certifikatets emne");
        assert_eq!(cert_at.map(|i| i + 1), subject_at);
        assert!(field_lines(&serde_json::Value::Null, None).is_empty());
    }
}
