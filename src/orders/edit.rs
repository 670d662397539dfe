//! A person's version of an order (`orders edit REF --set FIELD=VALUE…`): the fields of the
//! latest version with the edited ones replaced, as a form the one reader path
//! ([`crate::forms::form::interpret`]) normalises like a form read from a mail, so that the
//! judge sees nothing a mail could not have said. This is how a person fills in an order whose
//! file could not be read.

use crate::forms::fields::{CHANGES, FIELDS, FieldDef, FormKind, LabelMatch, match_label};
use crate::forms::form::{OrderForm, Value, interpret};
use crate::forms::raw::{Entry, RawForm};
use crate::rules::finding::{Finding, Rule};

/// Where a staff version says it came from (`source` of the form).
pub const SOURCE: &str = "helpdesk";

/// One `--set FIELD=VALUE`: the field (by FORMS.md code or its Danish label) and the value as
/// the person wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEdit {
    pub def: &'static FieldDef,
    pub value: String,
}

/// Reads `FIELD=VALUE`; FIELD is a FORMS.md code (`org_cvr`) or a label (`CVR-nr.`).
pub fn parse_set(arg: &str) -> Result<FieldEdit, String> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(format!(
            "--set \"{arg}\": write FIELD=VALUE, e.g. --set org_cvr=12345674"
        ));
    };
    let name = name.trim();
    let def = FIELDS
        .iter()
        .find(|d| d.code == name)
        .or_else(|| match match_label(name) {
            Some(LabelMatch::Field(d)) => Some(d),
            _ => None,
        })
        .ok_or_else(|| {
            let codes: Vec<&str> = FIELDS.iter().map(|d| d.code).collect();
            format!(
                "--set \"{name}\": no such field; use a FORMS.md field code ({}) or its Danish label",
                codes.join(", ")
            )
        })?;
    Ok(FieldEdit {
        def,
        value: value.trim().to_string(),
    })
}

/// The staff version's form: the latest version's fields (its stored judgement) with the
/// edits in their place, read as any form is. `None` when the result carries too few fields
/// to be a form at all (say which are missing: the person adds more `--set`).
pub fn staff_form(previous: &serde_json::Value, edits: &[FieldEdit]) -> Option<OrderForm> {
    let kind = previous
        .get("kind")
        .and_then(|k| k.as_str())
        .and_then(FormKind::from_code);
    let mut entries = Vec::new();
    let edited = |code: &str| edits.iter().any(|e| e.def.code == code);
    if let Some(fields) = previous.get("fields").and_then(|f| f.as_object()) {
        for (code, value) in fields {
            if edited(code) {
                continue;
            }
            if let Some(def) = FIELDS.iter().find(|d| d.code == code) {
                entries.extend(entries_of(def, &json_text(value)));
            }
        }
    }
    for e in edits {
        entries.extend(entries_of(e.def, &e.value));
    }
    let raw = RawForm {
        source: SOURCE.to_string(),
        text: kind.map(|k| k.title().to_string()).unwrap_or_default(),
        entries,
    };
    interpret(&raw)
}

/// The entries a field's value makes: change codes become their tick boxes' labels (so a
/// person may write `changes=url,ssl_certificate`), monitoring `on`/`off` its Til/Fra.
fn entries_of(def: &'static FieldDef, value: &str) -> Vec<Entry> {
    match def.code {
        "changes" => {
            let labels: Vec<&str> = value
                .split([',', ';', '\n'])
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| CHANGES.iter().find(|c| c.code == v).map_or(v, |c| c.label))
                .collect();
            vec![Entry::new(def.label, labels.join(", "))]
        }
        "monitoring" => {
            let v = match value.trim() {
                "on" => "Til",
                "off" => "Fra",
                other => other,
            };
            vec![Entry::new(def.label, v)]
        }
        _ => vec![Entry::new(def.label, value)],
    }
}

/// What is wrong with the values a person typed (`field.invalid` on an edited field, or
/// `form.ambiguous`: the same field set twice to different values), one line each with the
/// label, the code and the judge's message: a typing error is refused before it reaches the
/// requester as a rejection.
pub fn invalid_edits(findings: &[Finding], edits: &[FieldEdit]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| matches!(f.rule, Rule::FieldInvalid | Rule::FormAmbiguous))
        .filter_map(|f| {
            let def = edits.iter().find(|e| Some(e.def.code) == f.field)?.def;
            Some(format!("{} ({}): {}", def.label, def.code, f.message))
        })
        .collect()
}

/// A stored field value as a form would carry it.
pub fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(json_text).collect::<Vec<_>>().join(", "),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn form_text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::List(l) => l.join(", "),
        Value::Int(n) => n.to_string(),
    }
}

/// What the requester reads in "Rettet af Helpdesk": one line per edited field, its label,
/// the value before and after (as normalised), "(ikke angivet)" for none.
pub fn edit_lines(
    previous: &serde_json::Value,
    form: &OrderForm,
    edits: &[FieldEdit],
) -> Vec<String> {
    const NONE: &str = "(ikke angivet)";
    let mut seen = Vec::new();
    edits
        .iter()
        .filter(|e| {
            let first = !seen.contains(&e.def.code);
            seen.push(e.def.code);
            first
        })
        .map(|e| {
            let before = previous
                .pointer(&format!("/fields/{}", e.def.code))
                .map(json_text)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| NONE.into());
            let after = form
                .fields
                .get(e.def.code)
                .map(form_text)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| NONE.into());
            format!("{}: {before} → {after}", e.def.label)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_is_named_by_code_or_by_its_danish_label() {
        assert_eq!(parse_set("org_cvr=12345674").unwrap().def.code, "org_cvr");
        let e = parse_set("CVR-nr. = DK 1234 5674").unwrap();
        assert_eq!((e.def.code, e.value.as_str()), ("org_cvr", "DK 1234 5674"));
        assert_eq!(
            parse_set("Miljø=Produktion").unwrap().def.code,
            "environment"
        );
        assert!(parse_set("org_cvr").unwrap_err().contains("FIELD=VALUE"));
        let err = parse_set("farve=blå").unwrap_err();
        assert!(
            err.contains("no such field") && err.contains("org_cvr"),
            "{err}"
        );
        // Hostile input never panics.
        for s in ["=", "==", "\u{0}=\u{0}", "æ=", &"x".repeat(10_000)] {
            let _ = parse_set(s);
        }
    }

    fn sftp_version() -> serde_json::Value {
        json!({
            "kind": "sftp",
            "fields": {
                "bestillings_id": "BD-1",
                "environment": "produktion",
                "org_name": "Kystby Kommune",
                "org_cvr": "12345674",
                "monitoring": "on",
                "alert_emails": ["drift@kystby.dk", "vagt@kystby.dk"],
                "pickup_deadline_hours": 24,
                "changes": ["monitoring"],
            }
        })
    }

    #[test]
    fn a_staff_version_keeps_every_field_but_the_edited_ones_normalised_as_read() {
        let prev = sftp_version();
        let edits = [parse_set("CVR-nr.=DK 2918 9846").unwrap()];
        let form = staff_form(&prev, &edits).expect("a form");
        assert_eq!(form.kind, FormKind::Sftp);
        assert_eq!(form.text("org_cvr"), Some("29189846"));
        assert_eq!(form.text("bestillings_id"), Some("BD-1"));
        assert_eq!(form.monitoring, Some(true));
        assert_eq!(
            form.list("alert_emails"),
            ["drift@kystby.dk", "vagt@kystby.dk"]
        );
        assert_eq!(
            form.fields.get("pickup_deadline_hours"),
            Some(&Value::Int(24))
        );
        assert_eq!(form.source, SOURCE);
        assert_eq!(
            edit_lines(&prev, &form, &edits),
            ["CVR-nr.: 12345674 → 29189846"]
        );
    }

    #[test]
    fn a_typing_error_in_an_edited_field_is_named() {
        let prev = sftp_version();
        let edits = [parse_set("org_cvr=12345678").unwrap()];
        let form = staff_form(&prev, &edits).unwrap();
        let wrong = invalid_edits(&form.findings, &edits);
        assert_eq!(wrong.len(), 1, "{:?}", form.findings);
        assert!(wrong[0].starts_with("CVR-nr. (org_cvr): "), "{wrong:?}");
        let twice = [
            parse_set("org_cvr=29189846").unwrap(),
            parse_set("CVR-nr.=54921942").unwrap(),
        ];
        let form = staff_form(&prev, &twice).unwrap();
        assert_eq!(invalid_edits(&form.findings, &twice).len(), 1);
        let fine = [parse_set("org_cvr=29189846").unwrap()];
        let form = staff_form(&prev, &fine).unwrap();
        assert!(invalid_edits(&form.findings, &fine).is_empty());
    }

    #[test]
    fn a_formless_order_is_filled_in_from_nothing() {
        let prev = json!({"decision": "review", "findings": []});
        assert!(staff_form(&prev, &[parse_set("org_name=X").unwrap()]).is_none());
        let edits: Vec<FieldEdit> = [
            "bestillings_id=BD-77",
            "service_name=Ydelsesservice",
            "changes=url",
            "current_url=https://a.kystby.dk/x",
            "new_url=https://b.kystby.dk/x",
        ]
        .iter()
        .map(|s| parse_set(s).unwrap())
        .collect();
        let form = staff_form(&prev, &edits).expect("a form");
        assert_eq!(form.kind, FormKind::Webservice);
        assert_eq!(form.list("changes"), ["url"]);
        let lines = edit_lines(&prev, &form, &edits);
        assert_eq!(lines[0], "KOMBIT BestillingsID: (ikke angivet) → BD-77");
    }
}
