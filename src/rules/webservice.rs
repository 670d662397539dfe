//! The rules of a webservice form (FORMS.md): the URLs, the new SSL certificate, and the
//! security model and datatype Serviceplatformen supports.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::forms::extract::CertFile;
use crate::forms::fields::Change;
use crate::forms::form::{OrderForm, Value};
use crate::rules::finding::{Finding, Rule};
use crate::rules::{RuleSettings, cert, url};

/// What the webservice rules need besides the form.
pub struct Context<'a> {
    /// The mail's certificate attachments.
    pub certificates: &'a [CertFile],
    pub received: DateTime<Tz>,
    /// When the change is planned (from the time rules), if known.
    pub planned_at: Option<DateTime<Tz>>,
    pub settings: &'a RuleSettings,
}

/// The form's findings, and the name of the certificate file it was judged with.
pub fn check(form: &OrderForm, ctx: &Context<'_>) -> (Vec<Finding>, Option<String>) {
    let url_change = form.changes.contains(&Change::Url);
    let cert_change = form.changes.contains(&Change::SslCertificate);
    let current = url_text(form, "current_url");
    let new = url_text(form, "new_url");
    let env = form.text("environment");
    let mut findings = url::check_urls(url_change, cert_change, current, new, env);
    let mut certificate = None;
    if cert_change {
        // The certificate is checked against the host it will serve: the new URL's when the
        // URL changes too, else the current one's.
        let host = new
            .filter(|_| url_change)
            .and_then(url::host_of)
            .or_else(|| current.and_then(url::host_of))
            .or_else(|| new.and_then(url::host_of));
        let (f, c) = certificate_findings(form, host.as_deref(), ctx);
        findings.extend(f);
        certificate = c;
    }
    findings.extend(security_model(form, ctx.settings));
    findings.extend(datatype(form, ctx.settings));
    (findings, certificate)
}

/// The new SSL certificate's findings (or `field.missing` without one), and its file name.
fn certificate_findings(
    form: &OrderForm,
    host: Option<&str>,
    ctx: &Context<'_>,
) -> (Vec<Finding>, Option<String>) {
    let Some(c) = pick_certificate(form, ctx.certificates) else {
        let missing = Finding::new(
            Rule::FieldMissing,
            Some("certificate"),
            "Nyt SSL-certifikat: der er ikke vedhæftet et certifikat. Vedhæft det nye certifikat som .cer, .crt eller .pem (DER eller PEM).",
        );
        return (vec![missing], None);
    };
    let check = cert::CertCheck {
        received: ctx.received.with_timezone(&Utc),
        desired: ctx.planned_at.map(|p| p.with_timezone(&Utc)),
        host,
        form_serial: form.text("certificate_serial"),
        trust: &ctx.settings.trust,
    };
    (
        cert::check_certificate(&c.name, &c.bytes, &check),
        Some(c.name.clone()),
    )
}

/// `security_model.unknown` when a new security model is not one Serviceplatformen supports.
fn security_model(form: &OrderForm, settings: &RuleSettings) -> Option<Finding> {
    let model = form
        .text("security_model")
        .filter(|_| form.changes.contains(&Change::SecurityModel))?;
    let known = settings
        .security_models
        .iter()
        .any(|m| m.eq_ignore_ascii_case(model));
    (!known).then(|| {
        Finding::new(
            Rule::SecurityModelUnknown,
            Some("security_model"),
            format!(
                "Ny sikkerhedsmodel: \"{model}\" er ikke en sikkerhedsmodel, Serviceplatformen understøtter. Vælg en af: {}.",
                settings.security_models.join(", ")
            ),
        )
    })
}

/// `datatype.unknown` when a new datatype is not in the configured list (no list: any).
fn datatype(form: &OrderForm, settings: &RuleSettings) -> Option<Finding> {
    let dt = form
        .text("datatype")
        .filter(|_| form.changes.contains(&Change::Datatype) && !settings.datatypes.is_empty())?;
    let known = settings
        .datatypes
        .iter()
        .any(|d| d.eq_ignore_ascii_case(dt));
    (!known).then(|| {
        Finding::new(
            Rule::DatatypeUnknown,
            Some("datatype"),
            format!(
                "Ny datatype (InfRef): \"{dt}\" er ikke en kendt datatype. Angiv datatypen, som den står i Digitaliseringskataloget."
            ),
        )
    })
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
