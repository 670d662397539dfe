//! The rules of FORMS.md as pure functions of (form, mail, settings, clock). Each rule lives in
//! its own module; [`judge_form`] runs them all over one form.

pub mod cert;
pub mod matrix;
pub mod sender;
pub mod sftp;
pub mod time;
pub mod url;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::extract::CertFile;
use crate::fields::{Change, FormKind};
use crate::finding::{Finding, Rule};
use crate::form::{OrderForm, Value};
use crate::mail::Mail;

/// Everything the rules need besides the form and the mail, built once from the config.
pub struct RuleSettings {
    pub time: time::TimeRules,
    pub trust: cert::TrustStore,
    pub security_models: Vec<String>,
    /// Allowed datatypes; empty means any.
    pub datatypes: Vec<String>,
    pub trusted_authserv_ids: Vec<String>,
    /// BestillingsIDs known from Digitaliseringskataloget; `None` when not configured.
    pub known_ids: Option<HashSet<String>>,
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

    if let Some(id) = form.bestillings_id() {
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
    ));

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
    let Some(def) = f.field.and_then(crate::fields::field) else {
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
