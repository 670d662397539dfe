//! From what a reader found to an order form: labels matched against the field table, values
//! normalised, and the findings that reading alone can make (`field.missing`,
//! `field.invalid`, `form.ambiguous`). A value that cannot be normalised is kept as written.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::forms::fields::{
    Change, FieldDef, FormKind, LabelMatch, Required, Role, ValueType, fields_for, match_label,
    normalise,
};
use crate::forms::raw::{RawForm, has_tick_glyph, leading_tick_glyph};
use crate::forms::values;
use crate::rules::dates::{Desired, parse_desired};
use crate::rules::finding::{Finding, Rule};

/// A field's value as it goes into the JSON output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Text(String),
    List(Vec<String>),
    Int(i64),
}

impl Value {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One order form, read and normalised.
#[derive(Debug, Clone, Serialize)]
pub struct OrderForm {
    pub kind: FormKind,
    pub source: String,
    /// FORMS.md field code → value (normalised where possible, else as written).
    pub fields: BTreeMap<&'static str, Value>,
    /// Fields whose value could not be normalised (kept as written in `fields`).
    #[serde(skip)]
    pub invalid: BTreeSet<&'static str>,
    /// The ordered changes.
    #[serde(skip)]
    pub changes: BTreeSet<Change>,
    #[serde(skip)]
    pub desired: Option<Desired>,
    /// The role as written on the form.
    #[serde(skip)]
    pub role: Option<Role>,
    /// The role the standard-service matrix is applied to (the form kind's role when the
    /// written term is ambiguous).
    #[serde(skip)]
    pub matrix_role: Option<Role>,
    /// Monitoring on (`Some(true)`), off, or unknown.
    #[serde(skip)]
    pub monitoring: Option<bool>,
    /// Findings from reading the form (missing, invalid, ambiguous values).
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl OrderForm {
    pub fn text(&self, code: &str) -> Option<&str> {
        self.fields.get(code).and_then(Value::as_text)
    }

    pub fn bestillings_id(&self) -> Option<&str> {
        if self.invalid.contains("bestillings_id") {
            return None;
        }
        self.text("bestillings_id")
    }

    pub fn list(&self, code: &str) -> Vec<String> {
        match self.fields.get(code) {
            Some(Value::List(v)) => v.clone(),
            Some(Value::Text(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

/// How many field labels a text must carry before it counts as a form: a mail that says
/// "BestillingsID: X" in passing is not a form.
const MIN_FIELDS_FOR_A_FORM: usize = 3;

/// Reads a raw form as an order form; `None` when it carries too few field labels to be one.
pub fn interpret(raw: &RawForm) -> Option<OrderForm> {
    let mut seen = Collected::default();
    for e in &raw.entries {
        seen.entry(e.label.trim(), e.value.trim());
    }
    if seen.matched_fields.len() < MIN_FIELDS_FOR_A_FORM {
        return None;
    }
    let kind = detect_kind(raw, &seen.matched_fields, &seen.change_ticks);
    let mut form = OrderForm {
        kind,
        source: raw.source.clone(),
        fields: BTreeMap::new(),
        invalid: BTreeSet::new(),
        changes: BTreeSet::new(),
        desired: None,
        role: None,
        matrix_role: None,
        monitoring: None,
        findings: Vec::new(),
    };
    for def in fields_for(kind) {
        let Some(written) = seen.collected.get(def.code) else {
            continue;
        };
        normalise_field(&mut form, def, written);
    }
    if kind == FormKind::Sftp {
        settle_monitoring(&mut form, &seen.monitoring_ticks);
    }
    settle_changes(&mut form, &seen.change_ticks);
    add_missing(&mut form, &seen.matched_fields);
    Some(form)
}

/// What a form's entries say before the form kind is known: the values written per field,
/// the tick boxes of changes and monitoring, and which fields the labels matched.
#[derive(Default)]
struct Collected {
    collected: BTreeMap<&'static str, Vec<String>>,
    change_ticks: BTreeMap<Change, bool>,
    monitoring_ticks: Vec<bool>,
    matched_fields: BTreeSet<&'static str>,
}

impl Collected {
    /// One label and its value: a tick-box line, a field, a change's own tick box, or a
    /// monitoring option named as a check box.
    fn entry(&mut self, label: &str, value: &str) {
        if leading_tick_glyph(label).is_some() {
            self.options(&format!("{label} {value}"));
            return;
        }
        match match_label(label) {
            Some(LabelMatch::Field(def)) => self.field(def, value),
            Some(LabelMatch::Change(c)) => {
                if let Some(on) = values::tick_state(value) {
                    let slot = self.change_ticks.entry(c.change).or_insert(false);
                    *slot |= on;
                }
            }
            None => {
                // "Overvågning Til" / "Til" check boxes (a PDF names them so).
                let n = normalise(label);
                let opt = n.strip_prefix("overvaagning ").unwrap_or(&n);
                if let (Some(state), Some(true)) =
                    (values::monitoring_option(opt), values::tick_state(value))
                {
                    self.monitoring_ticks.push(state);
                    self.matched_fields.insert("monitoring");
                }
            }
        }
    }

    /// Every tick item of `value` as a change or monitoring option.
    fn options(&mut self, value: &str) {
        for (opt, on) in values::ticks(value) {
            apply_option(&opt, on, &mut self.change_ticks, &mut self.monitoring_ticks);
        }
    }

    /// The value written for a field: tick boxes for the changes (and a ticked monitoring
    /// option), else the text to normalise once the form kind is known.
    fn field(&mut self, def: &'static FieldDef, value: &str) {
        self.matched_fields.insert(def.code);
        match def.vtype {
            ValueType::Changes => self.options(value),
            ValueType::Monitoring if has_tick_glyph(value) => {
                for (opt, on) in values::ticks(value) {
                    if let Some(state) = values::monitoring_option(&opt)
                        && on
                    {
                        self.monitoring_ticks.push(state);
                    }
                }
            }
            // The blank form's grey hint, kept as text when an editor re-saves the form
            // without its placeholder mark or exports it as PDF, is not a value: the field
            // is empty (an empty optional field is absent, not invalid).
            _ if !value.is_empty() && !values::is_blank_hint(def, value) => {
                self.collected
                    .entry(def.code)
                    .or_default()
                    .push(value.to_string());
            }
            _ => {}
        }
    }
}

/// Monitoring on the sftp form: the field's value and any Til/Fra tick boxes together; both
/// chosen is `form.ambiguous`.
fn settle_monitoring(form: &mut OrderForm, ticks: &[bool]) {
    let mut states: BTreeSet<bool> = ticks.iter().copied().collect();
    if let Some(v) = form.monitoring {
        states.insert(v);
    }
    match states.len() {
        0 => {}
        1 => form.monitoring = states.first().copied(),
        _ => {
            form.monitoring = None;
            form.fields.remove("monitoring");
            form.findings.push(Finding::new(
                Rule::FormAmbiguous,
                Some("monitoring"),
                "Overvågning: både Til og Fra er valgt. Vælg kun én af dem.",
            ));
        }
    }
    if let Some(on) = form.monitoring {
        form.fields.insert(
            "monitoring",
            Value::Text(if on { "on" } else { "off" }.into()),
        );
    }
}

/// The changes: the ticked boxes; on the sftp form nothing ticked means monitoring.
fn settle_changes(form: &mut OrderForm, ticks: &BTreeMap<Change, bool>) {
    form.changes = ticks
        .iter()
        .filter(|(_, on)| **on)
        .map(|(c, _)| *c)
        .collect();
    if form.kind == FormKind::Sftp && form.changes.is_empty() {
        form.changes.insert(Change::Monitoring);
    }
    if !form.changes.is_empty() {
        form.fields.insert(
            "changes",
            Value::List(form.changes.iter().map(|c| c.code().to_string()).collect()),
        );
    }
}

/// Applies one tick-box option: a change, or a monitoring option.
fn apply_option(
    opt: &str,
    on: bool,
    changes: &mut BTreeMap<Change, bool>,
    monitoring: &mut Vec<bool>,
) {
    match match_label(opt) {
        Some(LabelMatch::Change(c)) => {
            *changes.entry(c.change).or_insert(false) |= on;
        }
        // "Ny datatype (InfRef)" or "Sikkerhedsmodel"-like field labels used as options.
        Some(LabelMatch::Field(f)) => {
            if let Some(c) = crate::forms::fields::CHANGES
                .iter()
                .find(|c| c.code == f.code)
            {
                *changes.entry(c.change).or_insert(false) |= on;
            }
        }
        None => {
            if let (Some(state), true) = (values::monitoring_option(opt), on) {
                monitoring.push(state);
            }
        }
    }
}

/// The form kind: its title first, then which form's own fields it carries.
fn detect_kind(
    raw: &RawForm,
    matched: &BTreeSet<&'static str>,
    changes: &BTreeMap<Change, bool>,
) -> FormKind {
    let text = normalise(&raw.text);
    let by_title: Vec<FormKind> = FormKind::ALL
        .into_iter()
        .filter(|k| k.title_markers().iter().any(|m| text.contains(m)))
        .collect();
    if let [one] = by_title.as_slice() {
        return *one;
    }
    let own = |kind: FormKind| {
        matched
            .iter()
            .filter(|code| {
                crate::forms::fields::field(code)
                    .is_some_and(|f| f.applies == crate::forms::fields::Applies::Only(kind))
            })
            .count()
    };
    let (ws, sftp) = (own(FormKind::Webservice), own(FormKind::Sftp));
    if sftp > ws
        || (sftp == ws
            && changes
                .iter()
                .any(|(c, on)| *on && matches!(c, Change::Monitoring | Change::SshKey)))
    {
        FormKind::Sftp
    } else {
        FormKind::Webservice
    }
}

fn invalid(form: &mut OrderForm, def: &FieldDef, written: &str, what: &str) {
    form.invalid.insert(def.code);
    form.fields
        .insert(def.code, Value::Text(written.to_string()));
    form.findings.push(Finding::new(
        Rule::FieldInvalid,
        Some(def.code),
        format!(
            "{}: \"{}\" er ikke {what}. Angiv {}.",
            def.label,
            clip(written),
            def.hint
        ),
    ));
}

/// Shortens a value quoted back to the sender.
fn clip(s: &str) -> String {
    let one_line = values::text(s);
    if one_line.chars().count() > 80 {
        let cut: String = one_line.chars().take(77).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

/// Normalises one field; several different values are `form.ambiguous`.
fn normalise_field(form: &mut OrderForm, def: &'static FieldDef, written: &[String]) {
    let Some(w) = first_distinct(form, def, written) else {
        return;
    };
    let w = w.as_str();
    match def.vtype {
        ValueType::Text | ValueType::Url | ValueType::Serial | ValueType::Certificate => {
            form.fields.insert(def.code, Value::Text(values::text(w)));
        }
        ValueType::OrderId
        | ValueType::Environment
        | ValueType::Cvr
        | ValueType::Email
        | ValueType::Phone
        | ValueType::Uuid => {
            if let Some((normal, what)) = checked_text(def.vtype, w) {
                match normal {
                    Some(v) => {
                        form.fields.insert(def.code, Value::Text(v));
                    }
                    None => invalid(form, def, w, what),
                }
            }
        }
        ValueType::DateTime => match parse_desired(w) {
            Some(d) => {
                form.fields.insert(def.code, Value::Text(d.to_rfc3339()));
                form.desired = Some(d);
            }
            None => invalid(form, def, w, "en dato, vi kan læse"),
        },
        ValueType::Role => normalise_role(form, def, w),
        ValueType::SecurityModel => {
            let known = ["token".to_string(), "kontekst".to_string()];
            let v = values::security_model(w, &known).unwrap_or_else(|| values::text(w));
            form.fields.insert(def.code, Value::Text(v));
        }
        ValueType::Monitoring => match values::monitoring(w) {
            Some(on) => form.monitoring = Some(on),
            None => invalid(form, def, w, "Til eller Fra"),
        },
        ValueType::Hours => match values::hours(w) {
            Some(h) => {
                form.fields.insert(def.code, Value::Int(h));
            }
            None => invalid(form, def, w, "et helt antal timer"),
        },
        ValueType::EmailList => {
            let items: Vec<String> = values::email_list(w)
                .into_iter()
                .map(|r| r.unwrap_or_else(|s| s))
                .collect();
            form.fields.insert(def.code, Value::List(items));
        }
        ValueType::Changes => {}
    }
}

/// The first of the values written for a field; when they differ after normalisation,
/// `form.ambiguous` names the first two.
fn first_distinct<'w>(
    form: &mut OrderForm,
    def: &FieldDef,
    written: &'w [String],
) -> Option<&'w String> {
    let mut distinct: Vec<&String> = Vec::new();
    for w in written {
        if !distinct.iter().any(|d| same_value(def, d, w)) {
            distinct.push(w);
        }
    }
    let first = distinct.first().copied()?;
    if let Some(second) = distinct.get(1) {
        form.findings.push(Finding::new(
            Rule::FormAmbiguous,
            Some(def.code),
            format!(
                "{}: feltet er udfyldt med forskellige værdier (\"{}\" og \"{}\"). Angiv én værdi.",
                def.label,
                clip(first),
                clip(second)
            ),
        ));
    }
    Some(first)
}

/// The value types that have one normal form, checked by one function each: (the normal
/// form or `None`, what the value should have been). `None` for the other types.
fn checked_text(vtype: ValueType, w: &str) -> Option<(Option<String>, &'static str)> {
    Some(match vtype {
        ValueType::OrderId => (
            values::order_id(w),
            "et gyldigt BestillingsID (4-64 tegn uden mellemrum)",
        ),
        ValueType::Environment => (
            values::environment(w).map(|v| v.to_string()),
            "et kendt miljø",
        ),
        ValueType::Cvr => (values::cvr(w), "et gyldigt CVR-nummer"),
        ValueType::Email => (values::email(w), "en gyldig e-mailadresse"),
        ValueType::Phone => (values::phone(w), "et gyldigt dansk telefonnummer"),
        ValueType::Uuid => (values::uuid(w), "et gyldigt UUID"),
        _ => return None,
    })
}

/// The it-system role; a term that can mean more than one role and does not fit the form's
/// own role is `form.ambiguous`, and the form's role is used for the matrix.
fn normalise_role(form: &mut OrderForm, def: &FieldDef, w: &str) {
    let Some((role, ambiguous_term)) = values::role(w) else {
        invalid(form, def, w, "en kendt it-systemrolle");
        return;
    };
    form.fields
        .insert(def.code, Value::Text(role.code().to_string()));
    form.role = Some(role);
    let kind_role = form.kind.role();
    if ambiguous_term && role != kind_role {
        form.matrix_role = Some(kind_role);
        form.findings.push(Finding::new(
            Rule::FormAmbiguous,
            Some(def.code),
            format!(
                "{}: \"{}\" kan betyde mere end én it-systemrolle og passer ikke til formularen \"{}\". Helpdesk afklarer rollen med dig.",
                def.label,
                clip(w),
                form.kind.title()
            ),
        ));
    } else {
        form.matrix_role = Some(role);
    }
}

fn same_value(def: &FieldDef, a: &str, b: &str) -> bool {
    if values::text(a).eq_ignore_ascii_case(&values::text(b)) {
        return true;
    }
    match def.vtype {
        ValueType::Cvr => values::cvr(a).is_some() && values::cvr(a) == values::cvr(b),
        ValueType::Uuid => values::uuid(a).is_some() && values::uuid(a) == values::uuid(b),
        ValueType::Email => values::email(a).is_some() && values::email(a) == values::email(b),
        ValueType::DateTime => parse_desired(a).is_some() && parse_desired(a) == parse_desired(b),
        _ => normalise(a) == normalise(b),
    }
}

/// `field.missing` for every required field that is absent.
fn add_missing(form: &mut OrderForm, _matched: &BTreeSet<&'static str>) {
    let ambiguous_monitoring = form
        .findings
        .iter()
        .any(|f| f.rule == Rule::FormAmbiguous && f.field == Some("monitoring"));
    for def in fields_for(form.kind) {
        let needed = match def.required {
            Required::Always => !(def.code == "changes" && form.kind == FormKind::Sftp),
            Required::Optional => false,
            // The certificate is judged by the attached file, not by what the field says.
            Required::WhenChange(_) if def.code == "certificate" => false,
            Required::WhenChange(c) => form.changes.contains(&c),
            Required::WhenMonitoringOn => {
                form.monitoring == Some(true) && form.changes.contains(&Change::Monitoring)
            }
        };
        let present = form.fields.contains_key(def.code)
            || (def.code == "monitoring" && ambiguous_monitoring);
        if needed && !present && !form.invalid.contains(def.code) {
            let message = if def.code == "changes" {
                format!(
                    "{}: der er ikke sat kryds ved nogen ændring. {}.",
                    def.label,
                    capitalise(def.hint)
                )
            } else {
                format!("Feltet \"{}\" mangler. Angiv {}.", def.label, def.hint)
            };
            form.findings
                .push(Finding::new(Rule::FieldMissing, Some(def.code), message));
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::raw::Entry;

    fn raw(text: &str, entries: &[(&str, &str)]) -> RawForm {
        RawForm {
            source: "test".into(),
            text: text.into(),
            entries: entries.iter().map(|(l, v)| Entry::new(*l, *v)).collect(),
        }
    }

    fn ws_entries() -> Vec<(&'static str, &'static str)> {
        vec![
            ("KOMBIT BestillingsID", "DK-BST-2026-10482"),
            ("Miljø", "Produktion"),
            ("Ønsket tidspunkt for ændring", "14-12-2026 kl. 10.00"),
            ("Organisation", "Nordlys Data A/S"),
            ("CVR-nr.", "39055414"),
            ("Kontaktperson", "Mette Hansen"),
            ("E-mail", "mh@nordlys.dk"),
            ("It-system", "Ydelse"),
            ("It-system UUID", "bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb0"),
            ("It-systemrolle", "Serviceudbydersystem"),
            ("Service", "YdelseOpslag"),
            ("Ændringer", "☐ SSL-certifikat\n☒ URL"),
            ("Nuværende URL", "https://a.nordlys.dk/ws"),
            ("Ny URL", "https://b.nordlys.dk/ws"),
        ]
    }

    #[test]
    fn a_complete_webservice_form_has_no_findings() {
        let f = interpret(&raw(FormKind::Webservice.title(), &ws_entries())).unwrap();
        assert_eq!(f.kind, FormKind::Webservice);
        assert!(f.findings.is_empty(), "{:?}", f.findings);
        assert_eq!(f.changes, BTreeSet::from([Change::Url]));
        assert_eq!(f.text("desired_at"), Some("2026-12-14T10:00:00+01:00"));
        assert_eq!(f.text("environment"), Some("produktion"));
    }

    #[test]
    fn the_blank_forms_hint_text_is_not_a_value() {
        let mut e = ws_entries();
        let hint =
            crate::forms::blank::placeholder(crate::forms::fields::field("service_uuid").unwrap());
        e.push(("Service UUID", hint.as_str()));
        let f = interpret(&raw("", &e)).unwrap();
        assert!(f.findings.is_empty(), "{:?}", f.findings);
        assert!(!f.fields.contains_key("service_uuid"));
    }

    #[test]
    fn too_few_labels_is_not_a_form() {
        assert!(interpret(&raw("Hej", &[("BestillingsID", "X-1234")])).is_none());
    }

    #[test]
    fn missing_and_invalid_values_are_reported_and_kept() {
        let mut e = ws_entries();
        e.retain(|(l, _)| *l != "CVR-nr.");
        e.push(("It-system UUID", "bc4d13dc"));
        let f = interpret(&raw("", &e)).unwrap();
        let rules: Vec<_> = f.findings.iter().map(|x| (x.rule, x.field)).collect();
        assert!(rules.contains(&(Rule::FieldMissing, Some("org_cvr"))));
        // Two different UUIDs: ambiguous; the first is kept.
        assert!(rules.contains(&(Rule::FormAmbiguous, Some("system_uuid"))));
        let mut e = ws_entries();
        e.retain(|(l, _)| *l != "CVR-nr.");
        e.push(("CVR", "39055415"));
        let f = interpret(&raw("", &e)).unwrap();
        assert_eq!(f.text("org_cvr"), Some("39055415"));
        assert!(f.findings.iter().any(|x| x.rule == Rule::FieldInvalid));
    }

    #[test]
    fn sftp_form_with_both_til_and_fra_is_ambiguous() {
        let f = interpret(&raw(
            FormKind::Sftp.title(),
            &[
                ("KOMBIT BestillingsID", "BD-7820"),
                ("Miljø", "Produktion"),
                ("SFTP-bruger", "bd_x"),
                ("Overvågning Til", "☒"),
                ("Overvågning Fra", "☒"),
            ],
        ))
        .unwrap();
        assert_eq!(f.kind, FormKind::Sftp);
        assert!(f.findings.iter().any(|x| x.rule == Rule::FormAmbiguous));
        assert!(
            !f.findings
                .iter()
                .any(|x| x.field == Some("monitoring") && x.rule == Rule::FieldMissing)
        );
        assert_eq!(f.changes, BTreeSet::from([Change::Monitoring]));
    }

    #[test]
    fn modtagersystem_on_a_webservice_form_is_ambiguous() {
        let mut e = ws_entries();
        e.retain(|(l, _)| *l != "It-systemrolle");
        e.push(("Rolle", "Modtagersystem"));
        let f = interpret(&raw("", &e)).unwrap();
        assert_eq!(f.role, Some(Role::Modtagersystem));
        assert_eq!(f.matrix_role, Some(Role::Serviceudbydersystem));
        assert!(f.findings.iter().any(|x| x.rule == Rule::FormAmbiguous));
    }
}
