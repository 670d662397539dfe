//! Partial corrections (FORMS.md rule 3): a reply to a `rejected` order that gives
//! `Label: værdi` lines for fields the rejection named, and no whole form, is a new version —
//! the previous version with exactly those fields replaced. Every other line of the mail is
//! not read as form (a signature's "Telefon:" stays a signature).
//!
//! Pure: the previous version's stored judgement and the mail's label/value lines in, the new
//! version's form rows out. The shell reads them back as a form and judges it like any other.

use std::collections::BTreeSet;

use crate::forms::fields::{CHANGES, FormKind, LabelMatch, ValueType, field, match_label};
use crate::forms::raw::{Entry, RawForm, TICKED};
use crate::judge::JudgedForm;
use crate::rules::finding::Severity;

/// Where a partial correction's version says it came from.
pub const SOURCE: &str = "delvis rettelse i mail";

/// The new version of a partial correction: its rows (the previous version's fields, the
/// named ones replaced) and which fields were replaced, in the field table's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialCorrection {
    pub form: RawForm,
    pub replaced: Vec<&'static str>,
}

/// The fields a stored judgement's rejection named (its `reject` findings with a field).
pub fn named_fields(judgement: &serde_json::Value) -> BTreeSet<String> {
    let reject = serde_json::to_value(Severity::Reject).unwrap_or_default();
    judgement
        .get("findings")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
        .filter(|f| f.get("severity") == Some(&reject))
        .filter_map(|f| f.get("field").and_then(|v| v.as_str()))
        .map(str::to_string)
        .collect()
}

/// The partial correction `lines` (the mail's label/value lines) make of the previous version
/// (`previous`, its stored judgement), or `None` when the lines give none of the fields the
/// rejection named (then the mail is a message for a person).
pub fn partial_correction(
    previous: &serde_json::Value,
    lines: &RawForm,
) -> Option<PartialCorrection> {
    let kind = previous
        .get("kind")
        .and_then(|k| k.as_str())
        .and_then(FormKind::from_code)?;
    let named = named_fields(previous);
    // The first value given for each named field; every other line is ignored.
    let mut given: Vec<(&'static str, String)> = Vec::new();
    for e in &lines.entries {
        let Some(LabelMatch::Field(def)) = match_label(e.label.trim()) else {
            continue;
        };
        let value = e.value.trim();
        if named.contains(def.code)
            && !value.is_empty()
            && !given.iter().any(|(c, _)| *c == def.code)
        {
            given.push((def.code, value.to_string()));
        }
    }
    if given.is_empty() {
        return None;
    }
    let fields = previous.get("fields").and_then(|f| f.as_object())?;
    let mut entries: Vec<Entry> = Vec::new();
    for (code, value) in fields {
        // Only the fields of the form's kind.
        let Some(def) = field(code).filter(|d| d.applies.includes(kind)) else {
            continue;
        };
        let value = match given.iter().find(|(c, _)| *c == def.code) {
            Some((_, new)) => new.clone(),
            None if def.vtype == ValueType::Changes => ticked_changes(value),
            None => stored_text(value),
        };
        entries.push(Entry::new(def.label, value));
    }
    for (code, value) in &given {
        if !fields.contains_key(*code)
            && let Some(def) = field(code)
        {
            entries.push(Entry::new(def.label, value.clone()));
        }
    }
    let mut replaced: Vec<&'static str> = given.iter().map(|(c, _)| *c).collect();
    replaced.sort_by_key(|c| {
        crate::forms::fields::FIELDS
            .iter()
            .position(|f| f.code == *c)
    });
    Some(PartialCorrection {
        form: RawForm {
            source: SOURCE.to_string(),
            text: kind.title().to_string(),
            entries,
        },
        replaced,
    })
}

/// Whether a mail's forms, on the thread of a rejected order, are no whole form but lines
/// (FORMS.md rule 3: a partial correction "has no whole form"): every one was read from the
/// mail's text (not an attachment), names this order (no BestillingsID, the order's own, or
/// a new one where the rejection named the BestillingsID) and lacks the form's required
/// fields. A reply that repeats the BestillingsID, as the rejection asks, plus a corrected
/// field and a signature's "Telefon:" makes three labels, which the reader takes for a form;
/// read as a whole form it would replace the version with a stub. `previous` is the rejected
/// version's stored judgement.
pub fn only_lines_of(
    forms: &[JudgedForm],
    order_id: Option<&str>,
    previous: &serde_json::Value,
) -> bool {
    let id_named = named_fields(previous).contains("bestillings_id");
    let names_this_order = |f: &JudgedForm| match f.form.bestillings_id() {
        None => true,
        Some(_) if id_named => true,
        Some(id) => order_id.is_some_and(|o| o.trim().eq_ignore_ascii_case(id.trim())),
    };
    let lacks_required = |f: &JudgedForm| {
        f.form
            .findings
            .iter()
            .any(|x| x.rule == crate::rules::finding::Rule::FieldMissing)
    };
    !forms.is_empty()
        && forms.iter().all(|f| {
            f.source == crate::forms::extract::BODY_SOURCE
                && names_this_order(f)
                && lacks_required(f)
        })
}

/// Stored change codes as the form's ticked boxes, one a line ("☒ URL").
fn ticked_changes(v: &serde_json::Value) -> String {
    let codes: Vec<&str> = match v {
        serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_str()).collect(),
        serde_json::Value::String(s) => vec![s.as_str()],
        _ => Vec::new(),
    };
    codes
        .iter()
        .map(|code| {
            let label = CHANGES
                .iter()
                .find(|c| c.code == *code)
                .map_or(*code, |c| c.label);
            format!("{TICKED} {label}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A stored field value as a form row writes it (a list as its items, comma-separated).
fn stored_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// The history's words for what a partial correction replaced.
pub fn replaced_detail(replaced: &[&str]) -> String {
    let labels: Vec<String> = replaced
        .iter()
        .map(|c| field(c).map_or_else(|| c.to_string(), |d| d.label.to_string()))
        .collect();
    format!(
        "delvis rettelse: {} erstattet; resten som forrige version",
        labels.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::form::interpret;
    use crate::forms::read::text::read_text;

    /// A rejected webservice version as the daemon stores it: the CVR failed its check.
    fn previous() -> serde_json::Value {
        serde_json::json!({
            "kind": "webservice",
            "source": "attachment:Bestilling.docx",
            "fields": {
                "bestillings_id": "CO-1", "changes": ["ssl_certificate", "url"],
                "contact_email": "fa@example.test", "contact_name": "Karin Holm",
                "current_url": "https://exttest.fjordsoft.example/ws/v2/sagsopslag",
                "desired_at": "2026-12-15T10:00:00+01:00", "environment": "exttest",
                "new_url": "https://exttest2.fjordsoft.example/ws/v2/sagsopslag",
                "org_cvr": "12345678", "org_name": "Fjordsoft ApS", "service_name": "SagsOpslag",
                "system_name": "SagsPilot", "system_role": "serviceudbydersystem",
                "system_uuid": "bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb0",
                "certificate": "ny.pem"
            },
            "findings": [
                {"rule": "field.invalid", "severity": "reject", "field": "org_cvr", "message": "…"},
                {"rule": "url.env_mismatch", "severity": "review", "field": "new_url", "message": "…"},
                {"rule": "x", "severity": "reject", "field": null, "message": "…"}
            ],
            "decision": "rejected"
        })
    }

    const REPLY: &str = "Hej\n\nHer er det rigtige:\nCVR-nr.: 12345674\nNy URL: https://evil.example/ws\n\nMed venlig hilsen\nKarin Holm\nTelefon: 12345678\n";

    #[test]
    fn only_the_fields_the_rejection_named_are_replaced() {
        assert_eq!(
            named_fields(&previous()),
            BTreeSet::from(["org_cvr".to_string()])
        );
        let p = partial_correction(&previous(), &read_text(REPLY, "body")).expect("a correction");
        assert_eq!(p.replaced, ["org_cvr"]);
        let form = interpret(&p.form).expect("reads back as a form");
        assert_eq!(form.kind, FormKind::Webservice);
        let before = previous();
        for (code, value) in &form.fields {
            let want = match *code {
                "org_cvr" => serde_json::json!("12345674"),
                _ => before["fields"][*code].clone(),
            };
            assert_eq!(serde_json::to_value(value).unwrap(), want, "{code}");
        }
        // The signature's phone and the URL the rejection did not name are not read.
        assert!(!form.fields.contains_key("contact_phone"));
        assert_eq!(form.fields.len(), 15, "{:?}", form.fields);
        assert!(form.findings.is_empty(), "{:?}", form.findings);
        assert!(replaced_detail(&p.replaced).contains("CVR-nr."));
    }

    #[test]
    fn lines_without_a_named_field_are_a_message() {
        let lines = read_text(
            "Kan ændringen rykkes til kl. 13.00?\nTelefon: 12345678\n",
            "body",
        );
        assert_eq!(partial_correction(&previous(), &lines), None);
        let unknown_kind = serde_json::json!({"kind": "x", "findings": [], "fields": {}});
        assert_eq!(
            partial_correction(&unknown_kind, &read_text(REPLY, "body")),
            None
        );
        assert_eq!(
            partial_correction(&serde_json::Value::Null, &read_text(REPLY, "body")),
            None
        );
    }

    /// A judged form read from `text` (its source as given), as the judge hands it over.
    fn judged(text: &str, source: &str) -> JudgedForm {
        let form = interpret(&read_text(text, source)).expect("a form");
        JudgedForm {
            kind: form.kind,
            source: form.source.clone(),
            fields: form.fields.clone(),
            findings: form.findings.clone(),
            decision: crate::rules::finding::Decision::Rejected,
            planned_at: None,
            form,
            target: Default::default(),
        }
    }

    /// The reply the rejection asks for: the BestillingsID kept, the CVR corrected, a
    /// signature (no closing greeting) with a phone number. Three labels: read as a (small) form.
    const KEPT_ID: &str =
        "BestillingsID: CO-1\nCVR-nr.: 12345674\n\nKarin Holm, Fjordsoft\nTelefon: 12345678\n";

    #[test]
    fn a_reply_that_keeps_the_bestillings_id_is_lines_not_a_whole_form() {
        let reply = judged(KEPT_ID, crate::forms::extract::BODY_SOURCE);
        assert!(only_lines_of(
            std::slice::from_ref(&reply),
            Some("co-1"),
            &previous()
        ));
        // Without an ID at all, too.
        let no_id = judged(
            "CVR-nr.: 12345674\nOrganisation: Fjordsoft ApS\nTelefon: 12345678\n",
            crate::forms::extract::BODY_SOURCE,
        );
        assert!(only_lines_of(&[no_id], Some("CO-1"), &previous()));
        // And the correction takes the named field only: the signature's phone is not read.
        let p = partial_correction(&previous(), &read_text(KEPT_ID, "body")).expect("a correction");
        assert_eq!(p.replaced, ["org_cvr"]);
        let form = interpret(&p.form).expect("a form");
        assert!(!form.fields.contains_key("contact_phone"));
        assert_eq!(form.fields.len(), 15);
    }

    #[test]
    fn a_whole_form_another_order_or_an_attachment_is_not_lines() {
        // Another order's ID, where the rejection did not name the ID.
        let other = judged(
            &KEPT_ID.replace("CO-1", "CO-9"),
            crate::forms::extract::BODY_SOURCE,
        );
        assert!(!only_lines_of(&[other], Some("CO-1"), &previous()));
        // The same lines in an attachment are a form.
        let attached = judged(KEPT_ID, "attachment:Bestilling.docx");
        assert!(!only_lines_of(&[attached], Some("CO-1"), &previous()));
        // A whole form (every required field) in the text is a corrected version.
        let mut rows =
            String::from("Ændring af teknisk konfiguration for serviceudbyders webservice\n");
        let fields = previous()["fields"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (code, value) in &fields {
            let def = field(code).expect("a field");
            let value = match code.as_str() {
                "changes" => ticked_changes(value),
                _ => stored_text(value),
            };
            rows.push_str(&format!("{}: {value}\n", def.label));
        }
        let whole = judged(&rows, crate::forms::extract::BODY_SOURCE);
        assert!(
            whole
                .form
                .findings
                .iter()
                .all(|x| x.rule != crate::rules::finding::Rule::FieldMissing),
            "{:?}",
            whole.form.findings
        );
        assert!(!only_lines_of(&[whole], Some("CO-1"), &previous()));
        assert!(!only_lines_of(&[], Some("CO-1"), &previous()));
    }

    #[test]
    fn a_new_bestillings_id_is_lines_when_the_rejection_named_the_id() {
        let mut used = previous();
        used["findings"] = serde_json::json!([
            {"rule": "bestillings_id.used", "severity": "reject", "field": "bestillings_id", "message": "…"}
        ]);
        let reply = judged(
            &KEPT_ID.replace("CO-1", "CO-2"),
            crate::forms::extract::BODY_SOURCE,
        );
        assert!(only_lines_of(&[reply], Some("CO-1"), &used));
    }
}
