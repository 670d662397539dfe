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
    /// Why the order was withdrawn.
    pub reason: Option<String>,
    /// The rejection asks for a new BestillingsID (the old one was used for a change that is
    /// made): the receipt then does not also ask to keep it.
    pub new_bestillings_id: bool,
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
                        value: form_value(v),
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
}
