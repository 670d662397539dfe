//! The one pipeline: raw mail + context → judgement (the mail's facts, its forms, each form's
//! findings and decision). `spdesk check` prints it; the daemon stores it and derives order
//! transitions and receipts from it. There is no second path that could judge differently.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;

use crate::forms::extract::{ExtractLimits, Extracted, Unreadable, extract};
use crate::forms::fields::FormKind;
use crate::forms::form::OrderForm;
use crate::mail::spam::SpamHeaders;
use crate::mail::{LoopFlags, Mail};
use crate::orders::ownership::{KnownOrder, Refusal, Sender, Target, target};
use crate::orders::state::{State, find_reference};
use crate::rules::finding::{Decision, Finding, Rule};
use crate::rules::it_systems::Register;
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
    /// The order the form corrects, and the one it may not change: set by
    /// [`JudgedForm::aim`] (the daemon aims each form in the transaction that stores it,
    /// `spdesk check` all at once with [`Judgement::aim_at`]); none until then.
    #[serde(skip)]
    pub target: Target,
}

/// The orders one form may name (FORMS.md rule 3).
#[derive(Debug, Clone, Copy, Default)]
pub struct Named<'a> {
    /// The order the mail replies to (a reference in the subject, or one of our receipts in
    /// In-Reply-To/References).
    pub thread: Option<&'a KnownOrder>,
    /// The orders with the form's BestillingsID, newest first.
    pub with_id: &'a [KnownOrder],
}

impl JudgedForm {
    /// Measures the form against the orders it names (FORMS.md rule 3): it becomes a new
    /// version of an open order its sender may correct, or a new order; when it names an open
    /// order it may not change, it gets `form.ambiguous` and goes to a person, whatever else it
    /// says. A form without a BestillingsID never touches an existing order.
    pub fn aim(&mut self, named: Named<'_>, sender: &Sender<'_>, register: Option<&Register>) {
        let Some(id) = self.form.bestillings_id() else {
            self.target = Target::default();
            return;
        };
        self.target = target(id, named.thread, named.with_id, sender, register);
        if let Some((reference, why)) = &self.target.refused {
            let finding = refusal_finding(id, reference, *why);
            self.findings.push(finding);
            self.decision = Decision::Review;
        }
    }
}

/// The `form.ambiguous` finding of a form that may not change the order `reference`.
fn refusal_finding(id: &str, reference: &str, why: Refusal) -> Finding {
    let message = match why {
        Refusal::Approved => format!(
            "Bestillingen {reference} med KOMBIT BestillingsID \"{id}\" er allerede godkendt og kan ikke ændres med en mail. Den godkendte bestilling er uændret; Helpdesk ser på den nye formular og kontakter jer."
        ),
        Refusal::NotAllowed | Refusal::Closed => format!(
            "KOMBIT BestillingsID: \"{id}\" bruges allerede i bestillingen {reference}, som er sendt fra en anden adresse. Kun bestilleren kan rette en bestilling med en mail. Helpdesk afklarer, hvilken bestilling ID'et hører til."
        ),
    };
    Finding::new(Rule::FormAmbiguous, Some("bestillings_id"), message)
}

/// The orders a mail may name, known in advance: what `spdesk check` is given (`--db`, or a
/// `--known-orders` file). The daemon instead looks them up form by form in the transaction
/// that stores the mail, so that a form sees the order an earlier form of the same mail made.
#[derive(Debug, Clone, Default)]
pub struct KnownOrders {
    /// The order the mail replies to, when known.
    pub thread: Option<KnownOrder>,
    /// Orders by BestillingsID, newest first.
    pub orders: Vec<KnownOrder>,
}

impl KnownOrders {
    /// A list of orders (newest first); the mail's thread is the one whose reference its
    /// subject carries.
    pub fn for_subject(orders: Vec<KnownOrder>, subject: &str) -> KnownOrders {
        let thread = find_reference(subject)
            .and_then(|r| orders.iter().find(|o| o.reference == r))
            .cloned();
        KnownOrders { thread, orders }
    }

    fn with_id(&self, id: &str) -> Vec<KnownOrder> {
        self.orders
            .iter()
            .filter(|o| o.bestillings_id.as_deref() == Some(id))
            .cloned()
            .collect()
    }
}

/// An executed order with the BestillingsID makes the ID used (`bestillings_id.used`), as the
/// daemon's own history does.
impl History for KnownOrders {
    fn executed(&self, bestillings_id: &str) -> bool {
        self.orders.iter().any(|o| {
            o.state == State::Executed && o.bestillings_id.as_deref() == Some(bestillings_id)
        })
    }
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
    /// Spam by the receiving MTA's verdict (`helpdesk.spam_headers`).
    pub spam: bool,
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
            spam: flags.spam,
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
    /// The mail's sender as [`crate::orders::ownership`] sees it.
    pub fn sender(&self) -> Sender<'_> {
        Sender {
            address: self.mail.from.as_deref().unwrap_or(""),
            verified: self.sender_verified,
        }
    }

    /// Every form measured against the known orders ([`JudgedForm::aim`]), and the mail's
    /// decision with their verdicts.
    pub fn aim_at(mut self, known: &KnownOrders, register: Option<&Register>) -> Judgement {
        let mut forms = std::mem::take(&mut self.forms);
        let sender = self.sender();
        for form in &mut forms {
            let with_id = form
                .form
                .bestillings_id()
                .map(|id| known.with_id(id))
                .unwrap_or_default();
            let named = Named {
                thread: known.thread.as_ref(),
                with_id: &with_id,
            };
            form.aim(named, &sender, register);
        }
        self.forms = forms;
        self.decision = overall(self.flags, &self.forms, &self.findings);
        self
    }

    /// The judgement of a mail that could not be processed at all: a person looks at it. Its
    /// headers (`mail` is [`Mail::headers_only`]) still say whether it is answered: a spam
    /// mail over a limit gets no receipt either.
    pub fn quarantined(mail: &Mail, why: &str, spam: &SpamHeaders) -> Judgement {
        let flags = LoopFlags {
            spam: spam.is_spam(mail),
            ..mail.loop_flags()
        };
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

    /// Exit code of `spdesk check` (DESIGN.md): 0 approved, 10 rejected, 11 review, 12 a mail
    /// that is never answered (bounce, auto-reply, list, spam, our own: no decision), which a
    /// script must not read as approved.
    pub fn exit_code(&self) -> i32 {
        match self.decision {
            Some(Decision::Approved) => 0,
            Some(Decision::Rejected) => 10,
            Some(Decision::Review) => 11,
            None => EXIT_NEVER_ANSWERED,
        }
    }
}

/// Exit code of `spdesk check` for a mail that is never answered.
pub const EXIT_NEVER_ANSWERED: i32 = 12;

/// Judges a parsed mail.
pub fn judge_mail(mail: &Mail, ctx: &Context<'_>) -> Judgement {
    let flags = LoopFlags {
        spam: ctx.settings.spam_headers.is_spam(mail),
        ..mail.loop_flags()
    };
    let extracted = extract(mail, ctx.limits);
    let too_many = over_the_limits(&extracted, ctx.limits);
    let forms: Vec<JudgedForm> = extracted
        .forms
        .into_iter()
        .map(|form| judge_one(form, mail, &extracted.certificates, &too_many, ctx))
        .collect();

    let mut findings = Vec::new();
    let mut problems = extracted.problems;
    let no_form = forms.is_empty() && extracted.unreadable.is_empty();
    if forms.is_empty() {
        findings.extend(too_many);
        for u in &extracted.unreadable {
            // Why, for the Helpdesk (the sender's finding names only the file).
            problems.push(format!("{}: {}", u.name, u.reason));
            findings.push(unreadable_finding(u));
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

    let decision = overall(flags, &forms, &findings);
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

/// Judges one form of `mail` with the certificates it came with; `extra` findings (the mail's
/// limits) are added. Also the judgement of a form made from an earlier version (a partial
/// correction, [`crate::orders::plan::partial`]), so it is judged like any other.
pub fn judge_one(
    form: OrderForm,
    mail: &Mail,
    certificates: &[crate::forms::extract::CertFile],
    extra: &[Finding],
    ctx: &Context<'_>,
) -> JudgedForm {
    let mut verdict = judge_form(
        &form,
        mail,
        certificates,
        ctx.received,
        ctx.settings,
        ctx.history,
    );
    verdict.findings.extend(extra.iter().cloned());
    let mut fields = form.fields.clone();
    if let Some(name) = verdict.certificate.take() {
        fields.insert("certificate", crate::forms::form::Value::Text(name));
    }
    JudgedForm {
        kind: form.kind,
        source: form.source.clone(),
        fields,
        decision: Decision::from_findings(&verdict.findings),
        findings: verdict.findings,
        planned_at: verdict.planned_at,
        form,
        target: Target::default(),
    }
}

/// Judges a person's version of an order (`orders edit`, [`crate::orders::edit`]) exactly as
/// a form read from the order's mail: the same rules, with the certificates of every mail of
/// the order (`evidence`, newest first; see [`evidence_certificates`]).
pub fn judge_staff_form(
    form: OrderForm,
    mail: &Mail,
    evidence: &[Mail],
    ctx: &Context<'_>,
) -> JudgedForm {
    let certificates = evidence_certificates(evidence);
    judge_one(form, mail, &certificates, &[], ctx)
}

/// The certificates of an order's mails, newest mail first: a version made from an earlier
/// one (a partial correction, a person's edit) is judged with the certificate sent with any
/// mail of the order, and the rule takes the first file of the named certificate's name, so a
/// replacement sent later under the same name wins over the old one.
///
/// Only the certificate files are taken, no document is read: an order with many mails must
/// not cost a reader run per mail inside the intake transaction.
pub fn evidence_certificates(mails: &[Mail]) -> Vec<crate::forms::extract::CertFile> {
    mails
        .iter()
        .flat_map(crate::forms::extract::certificates)
        .collect()
}

/// The findings of a mail over the extraction limits, given to each of its forms (or to the
/// mail when none was read).
fn over_the_limits(extracted: &Extracted, limits: &ExtractLimits) -> Vec<Finding> {
    // Attachments past the limit were not read: one of them may be the real form, or
    // evidence for it, so a person decides.
    let mut too_many: Vec<Finding> = Vec::new();
    if extracted.attachments_capped {
        too_many.push(Finding::new(
            Rule::FormUnreadable,
            None,
            format!(
                "Mailen har flere end {} vedhæftede filer (videresendte mails og winmail.dat medregnet), og vi læser højst {}. En medarbejder hos Serviceplatformens Helpdesk ser på bestillingen. Send næste gang formularen i en mail med færre vedhæftede filer.",
                limits.max_attachments, limits.max_attachments
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
                limits.max_forms_per_mail
            ),
        ));
    }
    too_many
}

/// The sender's finding for a file no form could be read from (the Helpdesk's reason is in
/// the problems).
fn unreadable_finding(u: &Unreadable) -> Finding {
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
    Finding::new(Rule::FormUnreadable, None, message)
}

/// The mail's decision: the worst over its forms and its own findings; `None` for mail that
/// is never answered.
fn overall(flags: LoopFlags, forms: &[JudgedForm], findings: &[Finding]) -> Option<Decision> {
    if flags.no_reply() {
        return None;
    }
    forms
        .iter()
        .map(|f| f.decision)
        .chain(std::iter::once(Decision::from_findings(findings)))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::ownership::KnownOrder;
    use crate::rules::NoHistory;
    use crate::rules::cert::TrustStore;
    use crate::rules::time::TimeRules;
    use chrono::TimeZone;
    use chrono_tz::Europe::Copenhagen;

    fn judge(raw: &str) -> Judgement {
        judge_with(raw, &ExtractLimits::default())
    }

    /// Rules with nothing configured but the security model "token".
    fn settings() -> RuleSettings {
        RuleSettings {
            time: TimeRules::default(),
            trust: TrustStore::from_der(Vec::new()),
            security_models: vec!["token".into()],
            datatypes: Vec::new(),
            trusted_authserv_ids: Vec::new(),
            trust_exchange_online: false,
            known_ids: None,
            register: None,
            bestillings_id_pattern: None,
            spam_headers: Default::default(),
        }
    }

    fn judge_with(raw: &str, limits: &ExtractLimits) -> Judgement {
        let settings = settings();
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

    /// A mail with one certificate file `name` holding `bytes`.
    fn certificate_mail(name: &str, bytes: &str) -> Mail {
        let raw = mail_builder::MessageBuilder::new()
            .from("fa@example.test")
            .to("helpdesk@example.test")
            .subject("Certifikat")
            .text_body("Hej")
            .attachment("application/x-pem-file", name, bytes.as_bytes().to_vec())
            .write_to_vec()
            .unwrap();
        Mail::parse(&raw, 3).unwrap()
    }

    /// Every mail of an order is evidence, newest first: a replacement certificate sent later
    /// under the same name comes before the old one (the rule takes the first of the name).
    #[test]
    fn the_newest_mail_s_certificate_comes_first() {
        let newest = certificate_mail("certifikat.pem", "new");
        let other = certificate_mail("andet.cer", "other");
        let oldest = certificate_mail("certifikat.pem", "old");
        let got = evidence_certificates(&[newest, other, oldest]);
        let seen: Vec<(&str, &[u8])> = got
            .iter()
            .map(|c| (c.name.as_str(), c.bytes.as_slice()))
            .collect();
        assert_eq!(
            seen,
            [
                ("certifikat.pem", b"new".as_slice()),
                ("andet.cer", b"other".as_slice()),
                ("certifikat.pem", b"old".as_slice()),
            ]
        );
        assert!(evidence_certificates(&[]).is_empty());
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

    /// A typed-in sftp form with BestillingsID BD-1234 that passes every rule when received on
    /// 2026-11-30, sent from `from`, with `subject`.
    fn sftp_order(from: &str, subject: &str) -> String {
        format!(
            "From: Lars <{from}>\r\nSubject: {subject}\r\nMessage-ID: <t1@kystby.test>\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             Ændring af overvågning af filafhentning (SFTP-indbakke)\r\n\r\n\
             KOMBIT BestillingsID: BD-1234\r\nMiljø: Produktion\r\n\
             Ønsket tidspunkt for ændring: 15-12-2026 kl. 10.00\r\nOrganisation: Borgerdata I/S\r\n\
             CVR-nr.: 54921942\r\nKontaktperson: Lars Bæk Poulsen\r\nE-mail: fa@kystby.test\r\n\
             It-system: FamilieFlow\r\nIt-system UUID: d67050fa-52d6-4bd4-89b8-94ba72dcd5a2\r\n\
             It-systemrolle: Modtagersystem\r\nSFTP-bruger: bd_familieflow\r\nOvervågning: Til\r\n\
             Tidsgrænse for afhentning (timer): 24\r\nAdvisering til: drift@kystby.test\r\n"
        )
    }

    fn order(reference: &str, state: State, requester: &str) -> KnownOrder {
        KnownOrder {
            reference: reference.into(),
            bestillings_id: Some("BD-1234".into()),
            state,
            requester: Some(requester.into()),
            system_uuid: None,
        }
    }

    /// The sftp order from `from`, judged on 2026-11-30 against `known` orders.
    fn judge_known(from: &str, subject: &str, known: Vec<KnownOrder>) -> Judgement {
        let settings = settings();
        let known = KnownOrders::for_subject(known, subject);
        let limits = ExtractLimits::default();
        let ctx = Context {
            received: Copenhagen
                .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
                .single()
                .unwrap(),
            settings: &settings,
            limits: &limits,
            history: &known,
        };
        let raw = sftp_order(from, subject);
        let mail = Mail::parse(raw.as_bytes(), 3).unwrap();
        judge_mail(&mail, &ctx).aim_at(&known, None)
    }

    fn ambiguous(j: &Judgement) -> Vec<&str> {
        j.forms[0]
            .findings
            .iter()
            .filter(|f| f.rule == Rule::FormAmbiguous)
            .map(|f| f.message.as_str())
            .collect()
    }

    /// Without known orders the form is approved: the baseline the cases below change.
    #[test]
    fn a_form_naming_no_known_order_is_a_new_order() {
        let j = judge_known("fa@kystby.test", "Bestilling", Vec::new());
        assert_eq!(j.forms.len(), 1);
        assert_eq!(
            j.decision,
            Some(Decision::Approved),
            "{:?}",
            j.forms[0].findings
        );
        assert_eq!(j.forms[0].target, Target::default());
        assert!(ambiguous(&j).is_empty());
    }

    /// An approved order is never changed by a mail, not even by its requester: a person
    /// decides, and the finding names the order.
    #[test]
    fn a_form_for_an_approved_order_goes_to_a_person() {
        let known = vec![order("SP-2026-00007", State::Approved, "fa@kystby.test")];
        let j = judge_known("fa@kystby.test", "Bestilling", known);
        assert_eq!(j.forms[0].decision, Decision::Review);
        assert_eq!(j.decision, Some(Decision::Review));
        assert_eq!(j.exit_code(), 11);
        assert_eq!(
            ambiguous(&j),
            [
                "Bestillingen SP-2026-00007 med KOMBIT BestillingsID \"BD-1234\" er allerede godkendt og kan ikke ændres med en mail. Den godkendte bestilling er uændret; Helpdesk ser på den nye formular og kontakter jer."
            ]
        );
        assert_eq!(
            j.forms[0].target,
            Target {
                version_of: None,
                refused: Some(("SP-2026-00007".into(), Refusal::Approved)),
            }
        );
    }

    /// Someone else's open order with the same BestillingsID: the form is no version of it and
    /// goes to a person.
    #[test]
    fn a_form_for_another_requesters_order_goes_to_a_person() {
        let known = vec![order("SP-2026-00003", State::Review, "fa@kystby.test")];
        let j = judge_known("chef@kystby.test", "Bestilling", known);
        assert_eq!(j.decision, Some(Decision::Review));
        assert_eq!(
            ambiguous(&j),
            [
                "KOMBIT BestillingsID: \"BD-1234\" bruges allerede i bestillingen SP-2026-00003, som er sendt fra en anden adresse. Kun bestilleren kan rette en bestilling med en mail. Helpdesk afklarer, hvilken bestilling ID'et hører til."
            ]
        );
        assert_eq!(j.forms[0].target.version_of, None);
    }

    /// The requester's own rejected order: the form is its corrected version, judged on its
    /// own merits; closed orders with the ID are no target.
    #[test]
    fn the_requesters_form_corrects_their_open_order() {
        let known = vec![
            order("SP-2026-00009", State::Rejected, "FA@kystby.test"),
            order("SP-2026-00002", State::Withdrawn, "x@evil.test"),
        ];
        let j = judge_known("fa@kystby.test", "Bestilling", known);
        assert_eq!(
            j.decision,
            Some(Decision::Approved),
            "{:?}",
            j.forms[0].findings
        );
        assert!(ambiguous(&j).is_empty());
        assert_eq!(
            j.forms[0].target,
            Target {
                version_of: Some("SP-2026-00009".into()),
                refused: None,
            }
        );
    }

    /// The order the subject names is the thread's: a form for it without the ID is no
    /// version of another order, and an executed order's ID is used.
    #[test]
    fn the_subjects_order_is_the_thread_and_an_executed_id_is_used() {
        let mut thread = order("SP-2026-00011", State::Review, "fa@kystby.test");
        thread.bestillings_id = None;
        let j = judge_known(
            "fa@kystby.test",
            "Re: [SP-2026-00011] Bestilling",
            vec![thread],
        );
        assert_eq!(
            j.forms[0].target.version_of.as_deref(),
            Some("SP-2026-00011")
        );
        let executed = vec![order("SP-2026-00001", State::Executed, "fa@kystby.test")];
        let j = judge_known("fa@kystby.test", "Bestilling", executed);
        assert_eq!(j.decision, Some(Decision::Rejected));
        assert_eq!(j.forms[0].target, Target::default());
    }

    /// A mail of `related` parts (multipart/related around an HTML body) with a plain-text
    /// alternative, as Outlook and Apple Mail write a mail with a picture in its text.
    fn html_mail_with_pictures(from: &str, html: &str, pictures: &str) -> String {
        format!(
            "From: {from}\r\nSubject: Spørgsmål\r\nMessage-ID: <p@example.test>\r\n\
             Content-Type: multipart/related; boundary=r; type=\"multipart/alternative\"\r\n\r\n\
             --r\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n\
             --a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej Helpdesk, hvordan bestiller vi?\r\n\
             --a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--a--\r\n\
             {pictures}--r--\r\n"
        )
    }

    fn assert_no_form(j: &Judgement) {
        assert!(j.no_form, "{:?}", j.unreadable);
        assert!(j.unreadable.is_empty(), "{:?}", j.unreadable);
        assert_eq!(j.findings.len(), 1);
        assert!(
            j.findings[0].message.contains("ingen bestillingsformular"),
            "{}",
            j.findings[0].message
        );
        assert_eq!(j.decision, Some(Decision::Review));
    }

    /// Outlook: the signature logo is image001.png, referenced from the HTML by its
    /// Content-ID; the mail has no form and gets the "no form" answer, not "we could not read
    /// the form in image001.png".
    #[test]
    fn an_outlook_signature_logo_is_no_form() {
        let html = "<html><body><p>Hej Helpdesk, hvordan bestiller vi?</p><p>Venlig hilsen<br>\
                    <img width=120 height=40 id=\"Billede_x0020_1\" src=\"cid:image001.png@01DA5C2B.7E1F3A40\" alt=\"Logo\"></p></body></html>";
        let pictures = "--r\r\nContent-Type: image/png; name=\"image001.png\"\r\n\
                        Content-Description: image001.png\r\nContent-Disposition: inline; filename=\"image001.png\"; size=2048\r\n\
                        Content-ID: <image001.png@01DA5C2B.7E1F3A40>\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                        iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==\r\n";
        let j = judge(&html_mail_with_pictures("fa@kommune.test", html, pictures));
        assert_no_form(&j);
        // The same picture without the reference from the HTML, attached: an unreadable form.
        let attached = pictures.replace("inline;", "attachment;");
        let j = judge(&html_mail_with_pictures(
            "fa@kommune.test",
            "<p>Hej</p>",
            &attached,
        ));
        assert_eq!(j.unreadable.len(), 1, "{:?}", j.unreadable);
        assert_eq!(j.unreadable[0].name, "image001.png");
    }

    /// Apple Mail: a pasted screenshot marked inline inside the multipart/related, without
    /// a Content-ID the HTML names; still shown in the text, so still no form.
    #[test]
    fn an_apple_mail_inline_screenshot_is_no_form() {
        let pictures = "--r\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: inline;\r\n\
                        \tfilename=\"Skærmbillede 2026-03-02 kl. 09.12.44.png\"\r\n\
                        Content-Type: image/png;\r\n\tx-unix-mode=0644;\r\n\tname=\"Skærmbillede 2026-03-02 kl. 09.12.44.png\"\r\n\r\n\
                        iVBORw0KGgo=\r\n";
        let j = judge(&html_mail_with_pictures(
            "fa@kommune.test",
            "<html><body>Hej Helpdesk, hvordan bestiller vi?<br><img src=\"Skaermbillede.png\"></body></html>",
            pictures,
        ));
        assert_no_form(&j);
    }

    /// A photo of a filled form, attached (Apple Mail marks it inline too, but in
    /// multipart/mixed, not in the text): still an unreadable form for a person.
    #[test]
    fn an_attached_photo_of_a_form_is_an_unreadable_form() {
        let j = judge(
            "From: fa@kommune.test\r\nSubject: Bestilling\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n\
             --m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHermed bestillingen (foto).\r\n\
             --m\r\nContent-Disposition: inline; filename=IMG_4711.jpeg\r\nContent-Type: image/jpeg; name=IMG_4711.jpeg\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQ==\r\n--m--\r\n",
        );
        assert!(!j.no_form);
        assert_eq!(j.unreadable.len(), 1, "{:?}", j.unreadable);
        assert_eq!(j.unreadable[0].name, "IMG_4711.jpeg");
        assert!(
            j.findings[0].message.contains("IMG_4711.jpeg"),
            "{}",
            j.findings[0].message
        );
        assert_eq!(j.exit_code(), 11);
    }

    /// A form mail the receiving MTA flagged as spam is judged but never answered; without
    /// spam tests it is an ordinary order.
    #[test]
    fn spam_gets_no_decision() {
        let raw = sftp_order("fa@kystby.test", "Bestilling");
        let flagged = format!("X-MS-Exchange-Organization-SCL: 9\r\n{raw}");
        let j = judge(&flagged);
        assert!(j.flags.spam && j.mail.spam);
        assert!(!j.flags.bounce && !j.flags.auto_reply && !j.flags.list);
        assert_eq!(j.decision, None);
        assert_eq!(j.exit_code(), 12);
        let mut off = settings();
        off.spam_headers = crate::mail::spam::SpamHeaders(Vec::new());
        let limits = ExtractLimits::default();
        let ctx = Context {
            received: Copenhagen
                .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
                .single()
                .unwrap(),
            settings: &off,
            limits: &limits,
            history: &NoHistory,
        };
        let j = judge_mail(&Mail::parse(flagged.as_bytes(), 3).unwrap(), &ctx);
        assert!(!j.flags.spam);
        assert_eq!(j.decision, Some(Decision::Approved), "{:?}", j.forms);
    }

    /// A bounce is judged (its forms are read for the Helpdesk) but never answered.
    #[test]
    fn a_bounce_gets_no_decision() {
        let j = judge(
            "From: MAILER-DAEMON@mx.example.test\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nx",
        );
        assert!(j.flags.bounce);
        assert_eq!(j.decision, None);
        assert_eq!(j.exit_code(), 12);
    }
}
