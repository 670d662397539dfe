//! FORMS.md's rules on the KOMBIT BestillingsID: its shape (the built-in one and
//! `rules.bestillings_id_pattern`), whether it was already used for an executed change, and
//! whether Digitaliseringskataloget knows it (`rules.known_orders_file`).

use crate::forms::form::OrderForm;
use crate::rules::finding::{Finding, Rule};
use crate::rules::{History, RuleSettings};

/// The BestillingsID's findings for one form.
pub fn check(form: &OrderForm, settings: &RuleSettings, history: &dyn History) -> Vec<Finding> {
    let mut findings = Vec::new();
    let pattern_finding = form.bestillings_id().and_then(|id| {
        settings
            .bestillings_id_pattern
            .as_ref()
            .and_then(|p| check_bestillings_id_pattern(id, p))
    });
    let id_has_shape = pattern_finding.is_none();
    findings.extend(pattern_finding);
    // An ID of the wrong shape is not looked up: the sender corrects it first.
    if let Some(id) = form.bestillings_id().filter(|_| id_has_shape) {
        if history.executed(id) {
            findings.push(Finding::new(
                Rule::BestillingsIdUsed,
                Some("bestillings_id"),
                format!(
                    "KOMBIT BestillingsID: \"{id}\" er allerede brugt til en ændring, der er gennemført. Bestil ydelsen på ny i Digitaliseringskataloget og angiv det nye BestillingsID."
                ),
            ));
        }
        if let Some(known) = &settings.known_ids
            && !known.contains(id)
        {
            findings.push(Finding::new(
                    Rule::BestillingsIdUnknown,
                    Some("bestillings_id"),
                    format!(
                        "KOMBIT BestillingsID: \"{id}\" findes ikke blandt de bestillinger, vi kender fra Digitaliseringskataloget. Helpdesk kontrollerer det."
                    ),
                ));
        }
    }
    findings
}

/// Compiles `rules.bestillings_id_pattern` so that it must match the whole BestillingsID.
pub fn whole_match_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// `field.invalid` when a BestillingsID does not have the configured shape.
pub fn check_bestillings_id_pattern(id: &str, pattern: &regex::Regex) -> Option<Finding> {
    (!pattern.is_match(id)).then(|| {
        Finding::new(
            Rule::FieldInvalid,
            Some("bestillings_id"),
            format!(
                "KOMBIT BestillingsID: \"{id}\" har ikke den form, et BestillingsID fra Digitaliseringskataloget har. Angiv BestillingsID'et præcis, som det står i din bestilling i Digitaliseringskataloget."
            ),
        )
    })
}
