//! The one pipeline: raw mail + context → judgement (the mail's facts, its forms, each form's
//! findings and decision). `spdesk check` prints it; the daemon stores it and derives order
//! transitions and receipts from it. There is no second path that could judge differently.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;

use crate::forms::extract::{ExtractLimits, Unreadable, extract};
use crate::forms::fields::FormKind;
use crate::forms::form::OrderForm;
use crate::mail::{LoopFlags, Mail};
use crate::rules::finding::{Decision, Finding, Rule};
use crate::rules::{History, RuleSettings, judge_form};

/// What the pipeline needs besides the mail.
pub struct Context<'a> {
    /// When the Helpdesk's server received the mail (IMAP INTERNALDATE; `--now` in check).
    pub received: DateTime<Tz>,
    pub settings: &'a RuleSettings,
    pub limits: &'a ExtractLimits,
    pub history: &'a dyn History,
}

/// One form and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedForm {
    pub kind: FormKind,
    pub source: String,
    pub fields: std::collections::BTreeMap<&'static str, crate::forms::form::Value>,
    pub findings: Vec<Finding>,
    pub decision: Decision,
    #[serde(skip)]
    pub planned_at: Option<DateTime<Tz>>,
    #[serde(skip)]
    pub form: OrderForm,
}

/// The mail's facts as printed by `check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct MailSummary {
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub auto_reply: bool,
    pub bounce: bool,
    pub list: bool,
}

impl MailSummary {
    fn of(mail: &Mail, flags: LoopFlags) -> MailSummary {
        MailSummary {
            message_id: mail.message_id.clone(),
            from: mail.from.clone(),
            subject: mail.subject.clone(),
            auto_reply: flags.auto_reply,
            bounce: flags.bounce,
            list: flags.list,
        }
    }
}

/// The whole verdict on one mail.
#[derive(Debug, Clone, Serialize)]
pub struct Judgement {
    pub mail: MailSummary,
    pub forms: Vec<JudgedForm>,
    /// Mail-level findings, e.g. `form.unreadable` when no form could be read.
    pub findings: Vec<Finding>,
    /// Worst over the forms and the mail-level findings; `None` for mail that is never answered.
    pub decision: Option<Decision>,
    pub problems: Vec<String>,
    #[serde(skip)]
    pub flags: LoopFlags,
    #[serde(skip)]
    pub unreadable: Vec<Unreadable>,
    /// True when the mail held no form and nothing that looked like one.
    #[serde(skip)]
    pub no_form: bool,
    /// A trusted Authentication-Results verifies the From domain: a colleague of an order's
    /// requester may then change the order ([`crate::orders::ownership`]).
    #[serde(skip)]
    pub sender_verified: bool,
}

impl Judgement {
    /// The judgement of a mail that could not be processed at all: a person looks at it.
    pub fn quarantined(mail: &Mail, why: &str) -> Judgement {
        let flags = mail.loop_flags();
        Judgement {
            mail: MailSummary::of(mail, flags),
            forms: Vec::new(),
            findings: vec![Finding::new(
                Rule::FormUnreadable,
                None,
                "Vi kunne ikke behandle din mail automatisk. En medarbejder hos Serviceplatformens Helpdesk ser på den. Send gerne formularen igen som Word-dokument (.docx) eller PDF med tekst.",
            )],
            decision: (!flags.no_reply()).then_some(Decision::Review),
            problems: vec![why.to_string()],
            flags,
            unreadable: vec![Unreadable {
                name: "mailen".into(),
                reason: why.to_string(),
            }],
            no_form: false,
            sender_verified: false,
        }
    }

    /// Exit code of `spdesk check` (DESIGN.md): 0 approved, 10 rejected, 11 review.
    pub fn exit_code(&self) -> i32 {
        match self.decision {
            Some(Decision::Rejected) => 10,
            Some(Decision::Review) => 11,
            _ => 0,
        }
    }
}

/// Judges a parsed mail.
pub fn judge_mail(mail: &Mail, ctx: &Context<'_>) -> Judgement {
    let flags = mail.loop_flags();
    let extracted = extract(mail, ctx.limits);
    // Attachments past the limit were not read: one of them may be the real form, or
    // evidence for it, so a person decides.
    let mut too_many: Vec<Finding> = Vec::new();
    if extracted.attachments_capped {
        too_many.push(Finding::new(
            Rule::FormUnreadable,
            None,
            format!(
                "Mailen har flere end {} vedhæftede filer (videresendte mails og winmail.dat medregnet), og vi læser højst {}. En medarbejder hos Serviceplatformens Helpdesk ser på bestillingen. Send næste gang formularen i en mail med færre vedhæftede filer.",
                ctx.limits.max_attachments, ctx.limits.max_attachments
            ),
        ));
    }
    // Forms past the limit make no orders: a person sees the mail and decides.
    if extracted.forms_dropped > 0 {
        too_many.push(Finding::new(
            Rule::FormAmbiguous,
            None,
            format!(
                "Mailen indeholder {} bestillingsformularer, og vi behandler højst {} fra én mail. En medarbejder hos Serviceplatformens Helpdesk ser på resten. Send næste gang hver bestilling i sin egen mail.",
                extracted.forms.len() + extracted.forms_dropped,
                ctx.limits.max_forms_per_mail
            ),
        ));
    }
    let mut forms = Vec::new();
    for form in extracted.forms {
        let mut verdict = judge_form(
            &form,
            mail,
            &extracted.certificates,
            ctx.received,
            ctx.settings,
            ctx.history,
        );
        verdict.findings.extend(too_many.clone());
        let mut fields = form.fields.clone();
        if let Some(name) = verdict.certificate.take() {
            fields.insert("certificate", crate::forms::form::Value::Text(name));
        }
        forms.push(JudgedForm {
            kind: form.kind,
            source: form.source.clone(),
            fields,
            decision: Decision::from_findings(&verdict.findings),
            findings: verdict.findings,
            planned_at: verdict.planned_at,
            form,
        });
    }

    let mut findings = Vec::new();
    let mut problems = extracted.problems;
    let no_form = forms.is_empty() && extracted.unreadable.is_empty();
    if forms.is_empty() {
        findings.extend(too_many);
        for u in &extracted.unreadable {
            // Why, for the Helpdesk (the sender's finding names only the file).
            problems.push(format!("{}: {}", u.name, u.reason));
            let message = if u.is_tnef() {
                // Outlook in Rich Text mode: no readable form came out of winmail.dat (damaged,
                // or the form is in the RTF body or a .doc), and resending the same way fails
                // again, so say how to send it so it arrives as a file.
                format!(
                    "Din mail kom fra Outlook med vedhæftningerne pakket ind i filen \"{}\" (Outlooks eget format), og vi fandt ingen bestillingsformular i den, som vi kan læse. Send bestillingsformularen igen som almindelig vedhæftning (Word .docx eller PDF med tekst): skriv mailen i formatet HTML eller almindelig tekst i stedet for RTF.",
                    u.name
                )
            } else {
                format!(
                    "Vi kunne ikke læse bestillingsformularen i filen \"{}\". Send den som Word-dokument (.docx) eller PDF med tekst (ikke scannet), eller skriv felterne direkte i mailen som \"Felt: værdi\".",
                    u.name
                )
            };
            findings.push(Finding::new(Rule::FormUnreadable, None, message));
        }
        if no_form {
            findings.push(Finding::new(
                Rule::FormUnreadable,
                None,
                "Mailen indeholder ingen bestillingsformular, vi kan behandle. Vedhæft den udfyldte formular (Word .docx eller PDF med tekst), eller skriv felterne direkte i mailen som \"Felt: værdi\".",
            ));
        }
    } else {
        for u in &extracted.unreadable {
            problems.push(format!(
                "{}: {} (not a form we could read)",
                u.name, u.reason
            ));
        }
    }

    let decision = if flags.no_reply() {
        None
    } else {
        forms
            .iter()
            .map(|f| f.decision)
            .chain(std::iter::once(Decision::from_findings(&findings)))
            .max()
    };
    Judgement {
        mail: MailSummary::of(mail, flags),
        forms,
        findings,
        decision,
        problems,
        flags,
        unreadable: extracted.unreadable,
        no_form,
        sender_verified: crate::rules::verified::sender_verified(
            mail.headers_named("Authentication-Results"),
            &ctx.settings.trusted_authserv_ids,
            ctx.settings.trust_exchange_online,
            mail.from.as_deref(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::NoHistory;
    use crate::rules::cert::TrustStore;
    use crate::rules::time::TimeRules;
    use chrono::TimeZone;
    use chrono_tz::Europe::Copenhagen;

    fn judge(raw: &str) -> Judgement {
        judge_with(raw, &ExtractLimits::default())
    }

    fn judge_with(raw: &str, limits: &ExtractLimits) -> Judgement {
        let settings = RuleSettings {
            time: TimeRules::default(),
            trust: TrustStore::from_der(Vec::new()),
            security_models: vec!["token".into()],
            datatypes: Vec::new(),
            trusted_authserv_ids: Vec::new(),
            trust_exchange_online: false,
            known_ids: None,
            register: None,
            bestillings_id_pattern: None,
        };
        let ctx = Context {
            received: Copenhagen
                .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
                .single()
                .unwrap(),
            settings: &settings,
            limits,
            history: &NoHistory,
        };
        judge_mail(&Mail::parse(raw.as_bytes(), 3).unwrap(), &ctx)
    }

    /// An order sent from Outlook in Rich Text arrives as winmail.dat (TNEF): never dropped,
    /// never a crash, but `form.unreadable` (review) telling the sender how to resend it.
    #[test]
    fn tnef_goes_to_review_with_a_clear_reason() {
        let j = judge(
            "From: Fagansvarlig <fa@example.test>\r\nSubject: Bestilling\r\nMessage-ID: <t@example.test>\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
             Hermed bestillingen.\r\n--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n\
             Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\n\r\n\
             eJ8+IhAAAQaQCAAEAAAAAAABAAEAAQeQBgAIAAAA5AQAAAAAAADoAAEIgAcAGAAAAElQTS5NaWNy\r\n--b--\r\n",
        );
        assert!(!j.flags.no_reply());
        assert!(j.forms.is_empty());
        assert_eq!(j.decision, Some(Decision::Review));
        assert_eq!(j.exit_code(), 11);
        assert_eq!(j.unreadable.len(), 1);
        assert_eq!(j.unreadable[0].name, "winmail.dat");
        assert!(j.unreadable[0].is_tnef());
        assert_eq!(j.findings.len(), 1);
        let f = &j.findings[0];
        assert_eq!(f.rule, Rule::FormUnreadable);
        assert!(f.message.contains("winmail.dat"), "{}", f.message);
        assert!(f.message.contains("Outlook"), "{}", f.message);
        assert!(
            f.message.contains("almindelig vedhæftning"),
            "{}",
            f.message
        );
    }

    /// More forms in one mail (over all its forwarded mails) than the limit: only that many
    /// become orders, each in review with the reason.
    #[test]
    fn forms_over_the_limit_make_no_orders_and_the_rest_go_to_review() {
        let raw = crate::forms::extract::tests::nested_forwards(3, 2, "BD-9");
        let limits = ExtractLimits {
            max_forms_per_mail: 4,
            ..ExtractLimits::default()
        };
        let j = judge_with(&raw, &limits);
        // (The test forms lack fields, so they are rejected as well; the point is the count.)
        assert_eq!(j.forms.len(), 4);
        for f in &j.forms {
            assert!(
                f.findings.iter().any(|x| x.rule == Rule::FormAmbiguous
                    && x.message.contains("13 bestillingsformularer")
                    && x.message.contains("højst 4")),
                "{:?}",
                f.findings
            );
        }
    }

    /// More attachments than the limit: the rest are not read, and a person decides.
    #[test]
    fn too_many_attachments_go_to_review() {
        let limits = ExtractLimits {
            max_attachments: 2,
            ..ExtractLimits::default()
        };
        let mut raw = String::from(
            "From: fa@example.test\r\nSubject: Bestilling\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nHermed.\r\n",
        );
        for n in 0..3 {
            raw.push_str(&format!(
                "--b\r\nContent-Type: application/octet-stream\r\n\
                 Content-Disposition: attachment; filename=\"f{n}.bin\"\r\n\r\nx\r\n"
            ));
        }
        raw.push_str("--b--\r\n");
        let j = judge_with(&raw, &limits);
        assert_eq!(j.decision, Some(Decision::Review));
        assert!(
            j.findings
                .iter()
                .any(|f| f.rule == Rule::FormUnreadable && f.message.contains("højst 2")),
            "{:?}",
            j.findings
        );
        // At the limit: no such finding.
        let j = judge_with(
            &raw,
            &ExtractLimits {
                max_attachments: 3,
                ..limits
            },
        );
        assert!(
            !j.findings.iter().any(|f| f.message.contains("højst")),
            "{:?}",
            j.findings
        );
    }

    /// A bounce is judged (its forms are read for the Helpdesk) but never answered.
    #[test]
    fn a_bounce_gets_no_decision() {
        let j = judge(
            "From: MAILER-DAEMON@mx.example.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nx",
        );
        assert!(j.flags.bounce);
        assert_eq!(j.decision, None);
        assert_eq!(j.exit_code(), 0);
    }
}
