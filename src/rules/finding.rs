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

    /// What the rule checks, in English, for the people who run spdesk: docs/rules.md is
    /// written from this (tests/rules_doc.rs), so the page cannot drift from the code. The
    /// messages to the forvaltningsansvarlig (Danish, about one form) are the findings'.
    pub fn meaning(self) -> &'static str {
        use Rule::*;
        match self {
            FieldMissing => "A field the form kind requires is empty or absent.",
            FieldInvalid => {
                "A field's value does not have its type's shape (CVR, e-mail, UUID, date, \
                 BestillingsID pattern, a choice from the list)."
            }
            MatrixAdm => {
                "The change is one the organisation makes itself in the fælleskommunale \
                 administrationsmodul (ADM), without the Helpdesk: an SSL certificate for an \
                 anvendersystem, an SSH key."
            }
            MatrixNotStandard => {
                "The change is not a standard service for the it-system's role (only changes \
                 Digitaliseringskataloget defines as standard services are ordered here)."
            }
            BestillingsIdUsed => "The BestillingsID belongs to an order already executed.",
            BestillingsIdUnknown => {
                "The BestillingsID is not in the list of known IDs from Digitaliseringskataloget \
                 (rules.known_orders_file)."
            }
            TimePast => "The desired time has passed.",
            TimeLead => {
                "The desired time is sooner than rules.lead_working_days working days after the \
                 day of receipt; the finding names the first date that can be met."
            }
            TimeClosedDay => {
                "The desired day is a Saturday, a Sunday, a Danish public holiday or one of \
                 rules.extra_closed_days."
            }
            TimeWindow => "The desired time is outside rules.change_window.",
            TimeTooFar => "The desired time is more than rules.max_days_ahead days ahead.",
            UrlInvalid => {
                "A URL is not an absolute https:// URL with a host name (no IP address, no \
                 localhost, no user info)."
            }
            UrlUnchanged => "The new URL is the same as the current one.",
            UrlEnvMismatch => {
                "The host looks like a test host for a production order (a label test…), or \
                 not like one for an exttest order."
            }
            _ => self.meaning_of_evidence(),
        }
    }

    /// [`Rule::meaning`] of the rules on certificates, models, SFTP, the register, the sender
    /// and the form as a whole.
    fn meaning_of_evidence(self) -> &'static str {
        use Rule::*;
        match self {
            CertInvalid => "The attached certificate does not parse as X.509 (PEM or DER).",
            CertExpired => "The certificate had expired when the mail arrived.",
            CertShortValidity => {
                "The certificate is not valid from the desired time until 30 days after it."
            }
            CertWeakKey => "The certificate's key is weaker than RSA 2048 bits or EC P-256.",
            CertWeakSignature => "The certificate is signed with SHA-1 or MD5.",
            CertHostMismatch => {
                "The certificate's names (SAN, else CN) do not cover the host of the URL."
            }
            CertSerialMismatch => {
                "The serial number on the form is not the certificate's (hex, case, colons \
                 and leading zeros ignored)."
            }
            CertUntrusted => {
                "The certificate is self-signed or does not chain to a trusted CA \
                 (rules.trusted_ca_file, else the system's)."
            }
            SecurityModelUnknown => "The security model is not one of rules.security_models.",
            DatatypeUnknown => "The datatype is not one of rules.datatypes (when it lists any).",
            SftpDeadline => "The monitoring deadline is not between 1 and 168 hours.",
            SftpAlertEmail => "An alert address for the SFTP monitoring is not a valid address.",
            SystemUnknown => {
                "The it-system's UUID is not in the it-system register (rules.systems_file)."
            }
            SystemRoleMismatch => "The role or the CVR differs from the it-system register.",
            SenderUnauthorised => {
                "The sender is not listed in the it-system register for the it-system."
            }
            SenderUnverified => {
                "A trusted Authentication-Results header says the sender's domain failed DMARC \
                 or SPF (rules.trusted_authserv_ids)."
            }
            FormUnreadable => {
                "No form could be read: an unsupported file (.odt, .doc, a scan, a picture), a \
                 broken document or one over a limit."
            }
            FormAmbiguous => {
                "The form contradicts itself (a field given two values, both Til and Fra ticked, \
                 a role against the form kind), or it names an order its sender may not change."
            }
            // Every rule has its words in one of the two (tested below).
            _ => "",
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
    fn every_rule_has_a_meaning_of_one_sentence() {
        for r in Rule::ALL {
            let m = r.meaning();
            assert!(m.ends_with('.') && m.len() > 20, "{}: {m:?}", r.id());
        }
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
