//! Findings: what a rule says about a form, and the decision they add up to.

use serde::Serialize;

/// Every rule id of DESIGN.md, in one place with its severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Rule {
    #[serde(rename = "field.missing")]
    FieldMissing,
    #[serde(rename = "field.invalid")]
    FieldInvalid,
    #[serde(rename = "matrix.adm")]
    MatrixAdm,
    #[serde(rename = "matrix.not_standard")]
    MatrixNotStandard,
    #[serde(rename = "bestillings_id.used")]
    BestillingsIdUsed,
    #[serde(rename = "bestillings_id.unknown")]
    BestillingsIdUnknown,
    #[serde(rename = "time.past")]
    TimePast,
    #[serde(rename = "time.lead")]
    TimeLead,
    #[serde(rename = "time.closed_day")]
    TimeClosedDay,
    #[serde(rename = "time.window")]
    TimeWindow,
    #[serde(rename = "time.too_far")]
    TimeTooFar,
    #[serde(rename = "url.invalid")]
    UrlInvalid,
    #[serde(rename = "url.unchanged")]
    UrlUnchanged,
    #[serde(rename = "url.env_mismatch")]
    UrlEnvMismatch,
    #[serde(rename = "cert.invalid")]
    CertInvalid,
    #[serde(rename = "cert.expired")]
    CertExpired,
    #[serde(rename = "cert.short_validity")]
    CertShortValidity,
    #[serde(rename = "cert.weak_key")]
    CertWeakKey,
    #[serde(rename = "cert.weak_signature")]
    CertWeakSignature,
    #[serde(rename = "cert.host_mismatch")]
    CertHostMismatch,
    #[serde(rename = "cert.serial_mismatch")]
    CertSerialMismatch,
    #[serde(rename = "cert.untrusted")]
    CertUntrusted,
    #[serde(rename = "security_model.unknown")]
    SecurityModelUnknown,
    #[serde(rename = "datatype.unknown")]
    DatatypeUnknown,
    #[serde(rename = "sftp.deadline")]
    SftpDeadline,
    #[serde(rename = "sftp.alert_email")]
    SftpAlertEmail,
    #[serde(rename = "system.unknown")]
    SystemUnknown,
    #[serde(rename = "system.role_mismatch")]
    SystemRoleMismatch,
    #[serde(rename = "sender.unauthorised")]
    SenderUnauthorised,
    #[serde(rename = "sender.unverified")]
    SenderUnverified,
    #[serde(rename = "form.unreadable")]
    FormUnreadable,
    #[serde(rename = "form.ambiguous")]
    FormAmbiguous,
}

impl Rule {
    /// The rule id as DESIGN.md spells it.
    pub fn id(self) -> &'static str {
        Rule::IDS[self as usize]
    }

    /// Severity fixed by DESIGN.md: a person decides (`review`) where the form may be right but
    /// we cannot tell; otherwise the sender must correct it (`reject`).
    pub fn severity(self) -> Severity {
        use Rule::*;
        match self {
            BestillingsIdUnknown | UrlEnvMismatch | CertUntrusted | SystemUnknown
            | SystemRoleMismatch | SenderUnauthorised | SenderUnverified | FormUnreadable
            | FormAmbiguous => Severity::Review,
            _ => Severity::Reject,
        }
    }

    pub const ALL: [Rule; 32] = [
        Rule::FieldMissing,
        Rule::FieldInvalid,
        Rule::MatrixAdm,
        Rule::MatrixNotStandard,
        Rule::BestillingsIdUsed,
        Rule::BestillingsIdUnknown,
        Rule::TimePast,
        Rule::TimeLead,
        Rule::TimeClosedDay,
        Rule::TimeWindow,
        Rule::TimeTooFar,
        Rule::UrlInvalid,
        Rule::UrlUnchanged,
        Rule::UrlEnvMismatch,
        Rule::CertInvalid,
        Rule::CertExpired,
        Rule::CertShortValidity,
        Rule::CertWeakKey,
        Rule::CertWeakSignature,
        Rule::CertHostMismatch,
        Rule::CertSerialMismatch,
        Rule::CertUntrusted,
        Rule::SecurityModelUnknown,
        Rule::DatatypeUnknown,
        Rule::SftpDeadline,
        Rule::SftpAlertEmail,
        Rule::SystemUnknown,
        Rule::SystemRoleMismatch,
        Rule::SenderUnauthorised,
        Rule::SenderUnverified,
        Rule::FormUnreadable,
        Rule::FormAmbiguous,
    ];

    const IDS: [&'static str; 32] = [
        "field.missing",
        "field.invalid",
        "matrix.adm",
        "matrix.not_standard",
        "bestillings_id.used",
        "bestillings_id.unknown",
        "time.past",
        "time.lead",
        "time.closed_day",
        "time.window",
        "time.too_far",
        "url.invalid",
        "url.unchanged",
        "url.env_mismatch",
        "cert.invalid",
        "cert.expired",
        "cert.short_validity",
        "cert.weak_key",
        "cert.weak_signature",
        "cert.host_mismatch",
        "cert.serial_mismatch",
        "cert.untrusted",
        "security_model.unknown",
        "datatype.unknown",
        "sftp.deadline",
        "sftp.alert_email",
        "system.unknown",
        "system.role_mismatch",
        "sender.unauthorised",
        "sender.unverified",
        "form.unreadable",
        "form.ambiguous",
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Review,
    Reject,
}

/// One thing a rule found. `message` is Danish and tells the forvaltningsansvarlig what to
/// correct; `field` is the FORMS.md field code it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    pub message: String,
}

impl Finding {
    /// A finding with the rule's own severity.
    pub fn new(rule: Rule, field: Option<&'static str>, message: impl Into<String>) -> Self {
        Finding {
            rule,
            severity: rule.severity(),
            field,
            message: message.into(),
        }
    }
}

/// The decision a set of findings adds up to (FORMS.md "Rules").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Review,
    Rejected,
}

impl Decision {
    pub fn from_findings<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Decision {
        findings
            .into_iter()
            .map(|f| match f.severity {
                Severity::Reject => Decision::Rejected,
                Severity::Review => Decision::Review,
                Severity::Info => Decision::Approved,
            })
            .max()
            .unwrap_or(Decision::Approved)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Review => "review",
            Decision::Rejected => "rejected",
        }
    }
}

/// A value the sender wrote, as a message quotes it: control characters dropped (they would
/// garble the receipt) and cut at `max_chars` characters with "…" (a message stays readable
/// whatever was pasted into the field).
pub fn shown(value: &str, max_chars: usize) -> String {
    let mut chars = value.chars().filter(|c| !c.is_control());
    let head: String = chars.by_ref().take(max_chars).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_serialises_to_its_id() {
        for r in Rule::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.id());
        }
        assert_eq!(Rule::CertUntrusted.id(), "cert.untrusted");
    }

    #[test]
    fn decision_is_the_worst_severity() {
        let review = Finding::new(Rule::FormAmbiguous, None, "x");
        let reject = Finding::new(Rule::TimeLead, Some("desired_at"), "y");
        assert_eq!(Decision::from_findings([]), Decision::Approved);
        assert_eq!(Decision::from_findings([&review]), Decision::Review);
        assert_eq!(
            Decision::from_findings([&review, &reject]),
            Decision::Rejected
        );
    }
}
