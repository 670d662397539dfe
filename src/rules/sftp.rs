//! Technical checks of the sftp form (FORMS.md rule 6): the pick-up deadline and the alert
//! addresses, when monitoring is switched on.

use crate::forms::form::{OrderForm, Value};
use crate::forms::values;
use crate::rules::finding::{Finding, Rule};

/// The deadline's allowed range in hours.
pub const DEADLINE_HOURS: std::ops::RangeInclusive<i64> = 1..=168;

pub fn check(form: &OrderForm) -> Vec<Finding> {
    let mut out = Vec::new();
    if form.monitoring != Some(true) {
        return out;
    }
    if let Some(Value::Int(h)) = form.fields.get("pickup_deadline_hours")
        && !DEADLINE_HOURS.contains(h)
    {
        out.push(Finding::new(
                Rule::SftpDeadline,
                Some("pickup_deadline_hours"),
                format!(
                    "Tidsgrænse for afhentning (timer): {h} timer er uden for det tilladte interval. Angiv et helt antal timer fra 1 til 168."
                ),
            ));
    }
    for item in form.list("alert_emails") {
        if values::email(&item).is_none() {
            out.push(Finding::new(
                Rule::SftpAlertEmail,
                Some("alert_emails"),
                format!(
                    "Advisering til: \"{item}\" er ikke en gyldig e-mailadresse. Angiv fulde adresser som navn@domæne.dk, adskilt af komma."
                ),
            ));
        }
    }
    out
}
