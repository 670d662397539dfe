//! The values the receipt and incident templates read, typed: one struct for every receipt,
//! whether a mail's judgement or a person's action sends it, so a template sees the same
//! names with the same meaning from both paths.

use serde::Serialize;

use crate::forms::fields::{FIELDS, field};
use crate::forms::form::Value;
use crate::judge::JudgedForm;
use crate::mail::Mail;

/// Values the receipt templates can use. A value a path does not know stays `None` (the
/// templates print their own fallback).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReceiptValues {
    #[serde(rename = "ref")]
    pub reference: String,
    pub bestillings_id: Option<String>,
    pub contact_name: Option<String>,
    pub kind_title: Option<String>,
    pub system_name: Option<String>,
    pub org_name: Option<String>,
    pub planned_at: Option<String>,
    /// What the sender reads as the reasons (afvist, adm, til_vurdering, review mail).
    pub findings: Vec<String>,
    /// The changes the requester makes in ADM themselves, as the matrix names them.
    pub adm: Option<String>,
    pub filenames: String,
    pub requester: Option<String>,
    pub original_subject: String,
    pub fields: Vec<LabelValue>,
    pub attachments: String,
    /// When a person or the executor carried the order out (gennemfoert).
    pub executed_at: Option<String>,
    /// The Helpdesk's note on an executed order.
    pub note: Option<String>,
    /// An executed webservice change's check (RECEIPTS.md "Gennemført"): what was verified, or
    /// that it could not be; `None`: no check ran.
    pub verified: Option<String>,
    /// Why the order was withdrawn, or why a person changed it (edit, reschedule, reopen,
    /// override).
    pub reason: Option<String>,
    /// What a person changed in the order (`orders edit`): "label: from → to" lines.
    pub edits: Vec<String>,
    /// An overridden decision: what was decided before and what stands now, in Danish.
    pub decided_before: Option<String>,
    pub decided_now: Option<String>,
    /// A person's answer to the requester (`svar`).
    pub message: Option<String>,
    /// The rejection asks for a new BestillingsID (the old one was used for a change that is
    /// made): the receipt then does not also ask to keep it.
    pub new_bestillings_id: bool,
    /// A staff mail's files: what is attached, what was too large (`orders::staff_files`).
    pub files_note: String,
}

/// The values of the mail that brings a message about an order (correspondence) to
/// `helpdesk.review_to`: what the order is, who wrote, and what.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageValues {
    #[serde(rename = "ref")]
    pub reference: String,
    pub bestillings_id: Option<String>,
    pub state: String,
    pub org_name: Option<String>,
    pub system_name: Option<String>,
    pub sender: Option<String>,
    pub subject: String,
    /// The message's text, as much as the history keeps.
    pub text: String,
    /// The names of the message's attachments, comma-separated.
    pub attachments: String,
    /// The original's size when it is too large to attach ("12.3 MB"); `None`: attached.
    pub original_too_large: Option<String>,
}

/// One form field as a template prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelValue {
    pub label: String,
    pub value: String,
}

/// The values of the incident mail of a failed order.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentValues {
    #[serde(rename = "ref")]
    pub reference: String,
    pub bestillings_id: Option<String>,
    pub kind_title: Option<String>,
    pub org_name: Option<String>,
    pub org_cvr: Option<String>,
    pub system_name: Option<String>,
    pub requester: Option<String>,
    pub version: i64,
    pub fields: Vec<LabelValue>,
    pub planned_at: Option<String>,
    pub failed_at: String,
    pub actor: String,
    pub reason: String,
    /// The order's history in Copenhagen time, the failure included: filled in where it is
    /// read (the store).
    pub events: Vec<crate::orders::order::EventRow>,
    /// What is attached, what was too large (`orders::staff_files`).
    pub files_note: String,
}

/// The values a mail's receipts carry for one form (`None`: the mail had no readable form).
pub fn for_mail(reference: &str, jf: Option<&JudgedForm>, mail: &Mail) -> ReceiptValues {
    let text = |code: &str| jf.and_then(|f| f.form.text(code)).map(str::to_string);
    ReceiptValues {
        reference: reference.to_string(),
        bestillings_id: text("bestillings_id"),
        contact_name: text("contact_name"),
        kind_title: jf.map(|f| f.kind.title().to_string()),
        system_name: text("system_name"),
        org_name: text("org_name"),
        planned_at: jf
            .and_then(|f| f.planned_at)
            .map(|p| crate::rules::calendar::danish_datetime(&p)),
        requester: mail.from.clone(),
        original_subject: mail.subject.clone(),
        fields: jf
            .map(|f| {
                f.fields
                    .iter()
                    .map(|(code, v)| LabelValue {
                        label: field(code).map(|d| d.label).unwrap_or(code).to_string(),
                        value: danish_value(code, &form_value(v)),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        attachments: mail
            .attachments
            .iter()
            .filter_map(|a| a.name.clone())
            .collect::<Vec<_>>()
            .join(", "),
        ..ReceiptValues::default()
    }
}

fn form_value(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::List(l) => l.join(", "),
        Value::Int(n) => n.to_string(),
    }
}

/// A field's stored value as a person at the Helpdesk reads it (FORMS.md): change codes as
/// the form's labels, the environment, role, monitoring and security model in Danish words, a
/// time in Danish long form in Copenhagen time; anything else as stored. `value` is the stored
/// text (a list joined with ", ").
pub fn danish_value(code: &str, value: &str) -> String {
    let each = |f: &dyn Fn(&str) -> Option<&'static str>| {
        value
            .split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(|v| f(v).map(str::to_string).unwrap_or_else(|| v.to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match code {
        "changes" => each(&|v| {
            crate::forms::fields::CHANGES
                .iter()
                .find(|c| c.code == v)
                .map(|c| c.label)
        }),
        "environment" => each(&|v| match v {
            "produktion" => Some("Produktion"),
            "exttest" => Some("Eksternt testmiljø (Exttest)"),
            _ => None,
        }),
        "monitoring" => each(&|v| match v {
            "on" => Some("Til"),
            "off" => Some("Fra"),
            _ => None,
        }),
        "system_role" => each(&|v| match v {
            "serviceudbydersystem" => Some("Serviceudbydersystem"),
            "anvendersystem" => Some("Anvendersystem"),
            "modtagersystem" => Some("Modtagersystem"),
            "afsendersystem" => Some("Afsendersystem"),
            _ => None,
        }),
        "security_model" => each(&|v| match v {
            "token" => Some("SAML-token (IDWS)"),
            "kontekst" => Some("Kontekst (invocation/authority context)"),
            _ => None,
        }),
        _ => danish_time_value(value).unwrap_or_else(|| value.to_string()),
    }
}

/// An order state as the Helpdesk reads it in Danish (an unknown one as it is).
pub fn danish_state(state: &str) -> String {
    crate::orders::display::state_name(state).to_string()
}

/// What an event of an order's history did, in Danish (an unknown one as it is).
pub fn danish_action(action: &str) -> String {
    match action {
        "received" => "modtaget",
        "judged" => "vurderet efter reglerne",
        "new version" => "ny version",
        "approve" => "godkendt",
        "reject" => "afvist",
        "execute" => "gennemført",
        "fail" => "markeret som fejlet",
        "withdraw" => "trukket tilbage",
        "correspondence" => "besked uden formular",
        "change refused" => "ændring ikke tilladt",
        "receipt failed" => "kvittering kunne ikke sendes",
        "receipt bounced" => "kvittering kom retur",
        "review mail gathered" => "med i den samlede vurderingsmail",
        "message-id reused" => "Message-ID brugt af en anden mail",
        "ignored" => "ikke besvaret",
        "mail held" => "mail holdt tilbage",
        "not correspondence" => "mail fra en anden afsender",
        "no receipt" => "ingen kvittering",
        "verified" => "kontrol bestået",
        "verification failed" => "kontrol ikke bestået",
        other => other,
    }
    .to_string()
}

/// An RFC 3339 time (a stored `desired_at`, a planned time) as "mandag den 14. december 2026
/// kl. 10.00", Copenhagen time; `None` for any other text.
fn danish_time_value(value: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .ok()
        .map(|t| crate::rules::calendar::danish_datetime(&t))
}

/// A stored version's fields (its judgement JSON) as label and value, in the field table's
/// order; a field the table does not know comes last, under its code.
pub fn field_lines(judgement: &serde_json::Value) -> Vec<LabelValue> {
    let Some(fields) = judgement.get("fields").and_then(|f| f.as_object()) else {
        return Vec::new();
    };
    let mut lines: Vec<(usize, LabelValue)> = fields
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
            let value = danish_value(code, &value);
            let pos = FIELDS
                .iter()
                .position(|f| f.code == code)
                .unwrap_or(usize::MAX);
            let label = field(code).map(|d| d.label).unwrap_or(code).to_string();
            (pos, LabelValue { label, value })
        })
        .collect();
    lines.sort_by_key(|(pos, _)| *pos);
    lines.into_iter().map(|(_, l)| l).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lines_use_labels_in_form_order() {
        let j = serde_json::json!({"fields": {
            "sftp_user": "bd", "bestillings_id": "BD-1", "changes": ["a", "b"], "zz_unknown": 3
        }});
        let lines = field_lines(&j);
        let labels: Vec<&str> = lines.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels.len(), 4);
        assert_eq!(labels.last(), Some(&"zz_unknown"));
        assert!(labels.contains(&"SFTP-bruger"));
        assert!(lines.iter().any(|l| l.value == "a, b"));
        assert!(lines.iter().any(|l| l.value == "3"));
        assert!(field_lines(&serde_json::Value::Null).is_empty());
        assert!(field_lines(&serde_json::json!({"fields": 1})).is_empty());
    }

    /// Staff mails read FORMS.md's words, not the codes the store keeps.
    #[test]
    fn stored_codes_read_as_danish() {
        let j = serde_json::json!({"fields": {
            "changes": ["ssl_certificate", "url"],
            "environment": "produktion",
            "monitoring": "on",
            "system_role": "anvendersystem",
            "security_model": "token",
            "desired_at": "2026-12-14T10:00:00+01:00",
            "org_name": "Kommune on produktion"
        }});
        let lines = field_lines(&j);
        let value = |label: &str| {
            lines
                .iter()
                .find(|l| l.label == label)
                .map(|l| l.value.clone())
                .unwrap_or_default()
        };
        let all: Vec<String> = lines
            .iter()
            .map(|l| format!("{}: {}", l.label, l.value))
            .collect();
        assert!(all.contains(&"Miljø: Produktion".to_string()), "{all:?}");
        assert!(
            all.iter().any(|l| l.ends_with(": SSL-certifikat, URL")),
            "{all:?}"
        );
        assert!(all.iter().any(|l| l.ends_with(": Til")), "{all:?}");
        assert!(
            all.iter().any(|l| l.ends_with(": Anvendersystem")),
            "{all:?}"
        );
        assert!(
            all.iter().any(|l| l.ends_with(": SAML-token (IDWS)")),
            "{all:?}"
        );
        assert!(
            all.iter()
                .any(|l| l.ends_with(": mandag den 14. december 2026 kl. 10.00")),
            "{all:?}"
        );
        // Free text is never translated.
        assert_eq!(value("Organisation"), "Kommune on produktion");
        assert_eq!(danish_value("environment", "andet"), "andet");
    }
}
