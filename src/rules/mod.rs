//! The rules of FORMS.md as pure functions of (form, mail, settings, clock). Each rule lives in
//! its own module; [`judge_form`] runs them all over one form.

pub mod calendar;
pub mod dates;
pub mod finding;
pub mod it_systems;

pub mod cert;
pub mod matrix;
pub mod register;
pub mod sender;
pub mod sftp;
pub mod time;
pub mod url;
pub mod verified;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::forms::extract::CertFile;
use crate::forms::fields::{Change, FormKind};
use crate::forms::form::{OrderForm, Value};
use crate::mail::Mail;
use crate::rules::finding::{Finding, Rule};

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
            let env = form.text("environment");
            let url_change = form.changes.contains(&Change::Url);
            let cert_change = form.changes.contains(&Change::SslCertificate);
            let current = url_text(form, "current_url");
            let new = url_text(form, "new_url");
            findings.extend(url::check_urls(url_change, cert_change, current, new, env));
            if cert_change {
                match pick_certificate(form, certificates) {
                    Some(c) => {
                        certificate = Some(c.name.clone());
                        let host = new
                            .filter(|_| url_change)
                            .and_then(url::host_of)
                            .or_else(|| current.and_then(url::host_of))
                            .or_else(|| new.and_then(url::host_of));
                        let desired_utc = planned_at.map(|p| p.with_timezone(&Utc));
                        let ctx = cert::CertCheck {
                            received: received.with_timezone(&Utc),
                            desired: desired_utc,
                            host: host.as_deref(),
                            form_serial: form.text("certificate_serial"),
                            trust: &settings.trust,
                        };
                        findings.extend(cert::check_certificate(&c.name, &c.bytes, &ctx));
                    }
                    None => findings.push(Finding::new(
                        Rule::FieldMissing,
                        Some("certificate"),
                        "Nyt SSL-certifikat: der er ikke vedhæftet et certifikat. Vedhæft det nye certifikat som .cer, .crt eller .pem (DER eller PEM).",
                    )),
                }
            }
            if form.changes.contains(&Change::SecurityModel)
                && let Some(model) = form.text("security_model")
                && !settings
                    .security_models
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(model))
            {
                findings.push(Finding::new(
                            Rule::SecurityModelUnknown,
                            Some("security_model"),
                            format!(
                                "Ny sikkerhedsmodel: \"{model}\" er ikke en sikkerhedsmodel, Serviceplatformen understøtter. Vælg en af: {}.",
                                settings.security_models.join(", ")
                            ),
                        ));
            }
            if form.changes.contains(&Change::Datatype)
                && !settings.datatypes.is_empty()
                && let Some(dt) = form.text("datatype")
                && !settings
                    .datatypes
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(dt))
            {
                findings.push(Finding::new(
                            Rule::DatatypeUnknown,
                            Some("datatype"),
                            format!(
                                "Ny datatype (InfRef): \"{dt}\" er ikke en kendt datatype. Angiv datatypen, som den står i Digitaliseringskataloget."
                            ),
                        ));
            }
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

fn url_text<'a>(form: &'a OrderForm, code: &str) -> Option<&'a str> {
    match form.fields.get(code) {
        Some(Value::Text(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// The certificate the form means: the attachment it names, else the only (first) one.
fn pick_certificate<'a>(form: &OrderForm, certificates: &'a [CertFile]) -> Option<&'a CertFile> {
    let named = form.text("certificate").map(str::to_lowercase);
    named
        .and_then(|n| {
            certificates
                .iter()
                .find(|c| n.contains(&c.name.to_lowercase()))
        })
        .or_else(|| certificates.first())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::extract::ExtractLimits;
    use crate::judge::{Context, judge_mail};
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
