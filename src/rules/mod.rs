//! The rules of FORMS.md as pure functions of (form, mail, settings, clock). Each rule lives in
//! its own module; [`judge_form`] runs them all over one form.

pub mod calendar;
pub mod dates;
pub mod finding;
pub mod it_systems;

pub mod bestillings_id;
pub mod cert;
pub mod matrix;
pub mod register;
pub mod sender;
pub mod sftp;
pub mod time;
pub mod url;
pub mod verified;
pub mod webservice;

use std::collections::HashSet;

use chrono::DateTime;
use chrono_tz::Tz;

use crate::forms::extract::CertFile;
use crate::forms::fields::FormKind;
use crate::forms::form::OrderForm;
use crate::mail::Mail;
use crate::rules::finding::Finding;

/// Everything the rules need besides the form and the mail, built once from the config.
pub struct RuleSettings {
    pub time: time::TimeRules,
    pub trust: cert::TrustStore,
    pub security_models: Vec<String>,
    /// Allowed datatypes; empty means any.
    pub datatypes: Vec<String>,
    pub trusted_authserv_ids: Vec<String>,
    /// `rules.trust_exchange_online`: the topmost Authentication-Results without authserv-id
    /// is Microsoft 365's own (see [`sender::check_authentication`]).
    pub trust_exchange_online: bool,
    /// BestillingsIDs known from Digitaliseringskataloget; `None` when not configured.
    pub known_ids: Option<HashSet<String>>,
    /// The it-system register (FORMS.md rule 7); `None` when not configured, and then the
    /// register rules do not run.
    pub register: Option<std::sync::Arc<crate::rules::it_systems::Register>>,
    /// `rules.bestillings_id_pattern` compiled to match the whole BestillingsID; `None`: only
    /// the built-in shape.
    pub bestillings_id_pattern: Option<regex::Regex>,
    /// `helpdesk.spam_headers`: the receiving MTA's spam verdicts; such a mail is never
    /// answered (it is judged here so that the daemon and `spdesk check` agree).
    pub spam_headers: crate::mail::spam::SpamHeaders,
}

pub use bestillings_id::{check_bestillings_id_pattern, whole_match_pattern};

/// What the rules may know about earlier orders (the daemon answers from its database;
/// `spdesk check` knows none).
pub trait History {
    /// True when an order with this BestillingsID has been executed.
    fn executed(&self, bestillings_id: &str) -> bool;
}

/// No earlier orders.
pub struct NoHistory;

impl History for NoHistory {
    fn executed(&self, _: &str) -> bool {
        false
    }
}

/// The BestillingsIDs of the executed orders, read in advance.
impl History for HashSet<String> {
    fn executed(&self, id: &str) -> bool {
        self.contains(id)
    }
}

/// A form's findings and the time the change is planned for.
pub struct FormVerdict {
    pub findings: Vec<Finding>,
    pub planned_at: Option<DateTime<Tz>>,
    /// The certificate file the form was judged with.
    pub certificate: Option<String>,
}

/// Runs every rule over one form.
pub fn judge_form(
    form: &OrderForm,
    mail: &Mail,
    certificates: &[CertFile],
    received: DateTime<Tz>,
    settings: &RuleSettings,
    history: &dyn History,
) -> FormVerdict {
    let mut findings = form.findings.clone();

    findings.extend(bestillings_id::check(form, settings, history));

    findings.extend(matrix::check(
        form.changes.iter().copied(),
        form.matrix_role,
    ));

    let mut planned_at = None;
    if let Some(desired) = &form.desired {
        let (f, planned) = time::check_desired(desired, received, &settings.time);
        findings.extend(f);
        planned_at = planned;
    }

    let mut certificate = None;
    match form.kind {
        FormKind::Webservice => {
            let ctx = webservice::Context {
                certificates,
                received,
                planned_at,
                settings,
            };
            let (f, c) = webservice::check(form, &ctx);
            findings.extend(f);
            certificate = c;
        }
        FormKind::Sftp => findings.extend(sftp::check(form)),
    }

    findings.extend(sender::check_authentication(
        mail.headers_named("Authentication-Results"),
        &settings.trusted_authserv_ids,
        settings.trust_exchange_online,
    ));

    if let Some(reg) = &settings.register {
        findings.extend(register::check(form, mail.from.as_deref(), reg));
    }

    for f in &mut findings {
        label_message(f);
    }
    FormVerdict {
        findings,
        planned_at,
        certificate,
    }
}

/// Every message to the sender names the field as it stands on the form (RECEIPTS.md: "the
/// field's label, what is wrong, and what to do").
fn label_message(f: &mut Finding) {
    let Some(def) = f.field.and_then(crate::forms::fields::field) else {
        return;
    };
    let m = &f.message;
    if m.starts_with(def.label)
        || m.starts_with("Feltet")
        || m.starts_with(&format!("{}:", def.label))
    {
        return;
    }
    f.message = format!("{}: {m}", def.label);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::extract::ExtractLimits;
    use crate::judge::{Context, judge_mail};
    use crate::rules::finding::Rule;
    use crate::rules::it_systems::Register;
    use chrono::TimeZone;
    use chrono_tz::Europe::Copenhagen;

    const UUID: &str = "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2";

    fn settings(register: Option<Register>, pattern: Option<&str>) -> RuleSettings {
        RuleSettings {
            time: time::TimeRules::default(),
            trust: cert::TrustStore::from_der(Vec::new()),
            security_models: vec!["token".into(), "kontekst".into()],
            datatypes: Vec::new(),
            trusted_authserv_ids: Vec::new(),
            trust_exchange_online: false,
            known_ids: None,
            register: register.map(std::sync::Arc::new),
            bestillings_id_pattern: pattern.map(|p| whole_match_pattern(p).unwrap()),
            spam_headers: Default::default(),
        }
    }

    /// A typed-in sftp form that passes every other rule when received on 2026-11-30.
    fn mail(from: &str, bestillings_id: &str, cvr: &str) -> Mail {
        let raw = format!(
            "From: Lars <{from}>\r\nTo: helpdesk@helpdesk.test\r\nSubject: Bestilling\r\nMessage-ID: <t1@kystby.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Ændring af overvågning af filafhentning (SFTP-indbakke)\r\n\r\n\
KOMBIT BestillingsID: {bestillings_id}\r\n\
Miljø: Produktion\r\n\
Ønsket tidspunkt for ændring: 15-12-2026 kl. 10.00\r\n\
Organisation: Borgerdata I/S\r\n\
CVR-nr.: {cvr}\r\n\
Kontaktperson: Lars Bæk Poulsen\r\n\
E-mail: fa@kystby.test\r\n\
It-system: FamilieFlow\r\n\
It-system UUID: {UUID}\r\n\
It-systemrolle: Modtagersystem\r\n\
SFTP-bruger: bd_familieflow\r\n\
Overvågning: Til\r\n\
Tidsgrænse for afhentning (timer): 24\r\n\
Advisering til: drift@kystby.test\r\n"
        );
        Mail::parse(raw.as_bytes(), 3).unwrap()
    }

    fn judge(m: &Mail, s: &RuleSettings) -> crate::judge::Judgement {
        let limits = ExtractLimits::default();
        let ctx = Context {
            received: Copenhagen.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap(),
            settings: s,
            limits: &limits,
            history: &NoHistory,
        };
        judge_mail(m, &ctx)
    }

    fn ids(j: &crate::judge::Judgement) -> Vec<&'static str> {
        j.forms
            .iter()
            .flat_map(|f| f.findings.iter().map(|x| x.rule.id()))
            .collect()
    }

    #[test]
    fn judge_with_a_register() {
        let register = Register::from_csv(&format!(
            "uuid,name,role,org_cvr,senders\n{UUID},FamilieFlow,modtagersystem,54921942,@kystby.test\n"
        ))
        .unwrap();
        let s = settings(Some(register), None);

        let ok = judge(&mail("fa@kystby.test", "BD-1234", "54921942"), &s);
        assert_eq!(ok.forms.len(), 1);
        assert_eq!(ids(&ok), Vec::<&str>::new());
        assert_eq!(ok.decision, Some(crate::rules::finding::Decision::Approved));

        let stranger = judge(&mail("x@evil.test", "BD-1234", "29189846"), &s);
        assert_eq!(
            ids(&stranger),
            vec!["system.role_mismatch", "sender.unauthorised"]
        );
        assert_eq!(
            stranger.decision,
            Some(crate::rules::finding::Decision::Review)
        );
        // Messages name the field as it stands on the form.
        assert!(
            stranger.forms[0].findings[0]
                .message
                .starts_with("CVR-nr.:")
        );

        // Without a register none of these rules run.
        let none = judge(
            &mail("x@evil.test", "BD-1234", "29189846"),
            &settings(None, None),
        );
        assert_eq!(ids(&none), Vec::<&str>::new());
    }

    #[test]
    fn bestillings_id_pattern() {
        let re = whole_match_pattern("BD-[0-9]{4}").unwrap();
        assert!(check_bestillings_id_pattern("BD-1234", &re).is_none());
        // The whole ID must match, not a part of it.
        for bad in ["BD-12345", "xBD-1234", "BD-123", "bd-1234"] {
            let f = check_bestillings_id_pattern(bad, &re).unwrap();
            assert_eq!(f.rule, Rule::FieldInvalid);
            assert_eq!(f.field, Some("bestillings_id"));
            assert!(f.message.contains(bad));
        }
        // An alternation is anchored as a whole.
        let alt = whole_match_pattern("A-[0-9]+|B-[0-9]+").unwrap();
        assert!(check_bestillings_id_pattern("B-1", &alt).is_none());
        assert!(check_bestillings_id_pattern("A-1x", &alt).is_some());

        let s = settings(None, Some("BD-[0-9]{4}"));
        let j = judge(&mail("fa@kystby.test", "BD-12345", "54921942"), &s);
        assert_eq!(ids(&j), vec!["field.invalid"]);
        assert_eq!(j.decision, Some(crate::rules::finding::Decision::Rejected));
        let j = judge(&mail("fa@kystby.test", "BD-1234", "54921942"), &s);
        assert_eq!(ids(&j), Vec::<&str>::new());
    }
}
