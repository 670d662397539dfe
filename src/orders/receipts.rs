//! Receipts (kvitteringer) and Helpdesk mails: Danish text from templates in `templates/`
//! (editable without a rebuild; built-in copies are the fallback), composed as replies in the
//! sender's thread with a deterministic Message-ID, so that a resend after a crash is
//! recognisably the same mail.

use crate::mail::header_value::{self, AutoSubmitted, Envelope, HeaderText, MessageId};
use minijinja::Environment;
use serde::Serialize;

/// The header that marks our own mails; a mail carrying it is never answered.
pub const LOOP_HEADER: &str = "X-Loop";

/// Every kind of mail spdesk writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// Step 5: received.
    Modtaget,
    /// Step 6: approved.
    Godkendt,
    /// Step 6: rejected, with what to correct.
    Afvist,
    /// Step 6: the change is made by the forvaltningsansvarlig in ADM.
    Adm,
    /// Step 6: a person at the Helpdesk decides.
    TilVurdering,
    /// The form could not be read.
    Ulaeselig,
    /// The mail held no form.
    IngenFormular,
    /// To the Helpdesk: an order awaits a decision.
    HelpdeskVurdering,
    /// Step 8: the change is made.
    Gennemfoert,
    /// Step 8: the change failed; an incident is opened.
    Fejl,
    /// To `helpdesk.incident_to`: a failed order for the incident process.
    Incident,
    /// The order was withdrawn on request.
    Tilbagetrukket,
    /// To an order's requester: a form with their BestillingsID came from someone who may
    /// not change the order (it went to a person). Says nothing of the other form or sender.
    AndenAfsender,
    /// A person changed fields of the order (`orders edit`): what, from → to, why.
    RettetAfHelpdesk,
    /// A person moved the planned time (`orders reschedule`).
    NytTidspunkt,
    /// A failed order is reopened and will be carried out again (`orders reopen`).
    Genaabnet,
    /// A person overrode the decision (`approve --override`, `reject` of an approved order).
    AfgoerelseAendret,
    /// To the sender of a message about an order (correspondence): it reached the Helpdesk.
    /// One per order per day.
    BeskedModtaget,
    /// To `helpdesk.review_to`: a message about an order, the original attached, Reply-To
    /// the sender, so a person answers it.
    BeskedTilHelpdesk,
    /// A person's answer in the order's thread (`spdesk orders reply`).
    SvarFraHelpdesk,
}

impl ReceiptKind {
    pub const ALL: [ReceiptKind; 20] = [
        ReceiptKind::Modtaget,
        ReceiptKind::Godkendt,
        ReceiptKind::Afvist,
        ReceiptKind::Adm,
        ReceiptKind::TilVurdering,
        ReceiptKind::Ulaeselig,
        ReceiptKind::IngenFormular,
        ReceiptKind::HelpdeskVurdering,
        ReceiptKind::Gennemfoert,
        ReceiptKind::Fejl,
        ReceiptKind::Incident,
        ReceiptKind::Tilbagetrukket,
        ReceiptKind::AndenAfsender,
        ReceiptKind::RettetAfHelpdesk,
        ReceiptKind::NytTidspunkt,
        ReceiptKind::Genaabnet,
        ReceiptKind::AfgoerelseAendret,
        ReceiptKind::BeskedModtaget,
        ReceiptKind::BeskedTilHelpdesk,
        ReceiptKind::SvarFraHelpdesk,
    ];

    /// Short code used in Message-IDs and the outbox.
    pub fn code(self) -> &'static str {
        match self {
            ReceiptKind::Modtaget => "modtaget",
            ReceiptKind::Godkendt => "godkendt",
            ReceiptKind::Afvist => "afvist",
            ReceiptKind::Adm => "adm",
            ReceiptKind::TilVurdering => "til_vurdering",
            ReceiptKind::Ulaeselig => "ulaeselig",
            ReceiptKind::IngenFormular => "ingen_formular",
            ReceiptKind::HelpdeskVurdering => "helpdesk_vurdering",
            ReceiptKind::Gennemfoert => "gennemfoert",
            ReceiptKind::Fejl => "fejl",
            ReceiptKind::Incident => "incident",
            ReceiptKind::Tilbagetrukket => "tilbagetrukket",
            ReceiptKind::AndenAfsender => "anden_afsender",
            ReceiptKind::RettetAfHelpdesk => "rettet_af_helpdesk",
            ReceiptKind::NytTidspunkt => "nyt_tidspunkt",
            ReceiptKind::Genaabnet => "genaabnet",
            ReceiptKind::AfgoerelseAendret => "afgoerelse_aendret",
            ReceiptKind::BeskedModtaget => "besked_modtaget",
            ReceiptKind::BeskedTilHelpdesk => "besked_til_helpdesk",
            ReceiptKind::SvarFraHelpdesk => "svar",
        }
    }

    /// What the subject line says before the original subject.
    pub fn subject_label(self) -> &'static str {
        match self {
            ReceiptKind::Modtaget => "Kvittering for modtagelse",
            ReceiptKind::Godkendt => "Bestillingen er godkendt",
            ReceiptKind::Afvist => "Bestillingen skal rettes",
            ReceiptKind::Adm => "Ændringen foretages i ADM",
            ReceiptKind::TilVurdering => "Bestillingen vurderes manuelt",
            ReceiptKind::Ulaeselig => "Formularen kunne ikke læses",
            ReceiptKind::IngenFormular => "Ingen bestillingsformular fundet",
            ReceiptKind::HelpdeskVurdering => "Til vurdering",
            ReceiptKind::Gennemfoert => "Ændringen er gennemført",
            ReceiptKind::Fejl => "Fejl ved ændringen",
            ReceiptKind::Incident => "Incident",
            ReceiptKind::Tilbagetrukket => "Bestillingen er trukket tilbage",
            ReceiptKind::AndenAfsender => "Formular fra en anden afsender",
            ReceiptKind::RettetAfHelpdesk => "Rettet af Helpdesk",
            ReceiptKind::NytTidspunkt => "Nyt tidspunkt",
            ReceiptKind::Genaabnet => "Genåbnet",
            ReceiptKind::AfgoerelseAendret => "Afgørelse ændret",
            ReceiptKind::BeskedModtaget => "Besked modtaget",
            ReceiptKind::BeskedTilHelpdesk => "Besked om bestillingen",
            ReceiptKind::SvarFraHelpdesk => "Svar fra Helpdesk",
        }
    }

    fn template(self) -> String {
        format!("{}.txt.j2", self.code())
    }

    fn builtin(self) -> &'static str {
        match self {
            ReceiptKind::Modtaget => include_str!("../../templates/modtaget.txt.j2"),
            ReceiptKind::Godkendt => include_str!("../../templates/godkendt.txt.j2"),
            ReceiptKind::Afvist => include_str!("../../templates/afvist.txt.j2"),
            ReceiptKind::Adm => include_str!("../../templates/adm.txt.j2"),
            ReceiptKind::TilVurdering => include_str!("../../templates/til_vurdering.txt.j2"),
            ReceiptKind::Ulaeselig => include_str!("../../templates/ulaeselig.txt.j2"),
            ReceiptKind::IngenFormular => include_str!("../../templates/ingen_formular.txt.j2"),
            ReceiptKind::HelpdeskVurdering => {
                include_str!("../../templates/helpdesk_vurdering.txt.j2")
            }
            ReceiptKind::Gennemfoert => include_str!("../../templates/gennemfoert.txt.j2"),
            ReceiptKind::Fejl => include_str!("../../templates/fejl.txt.j2"),
            ReceiptKind::Incident => include_str!("../../templates/incident.txt.j2"),
            ReceiptKind::Tilbagetrukket => include_str!("../../templates/tilbagetrukket.txt.j2"),
            ReceiptKind::AndenAfsender => include_str!("../../templates/anden_afsender.txt.j2"),
            ReceiptKind::RettetAfHelpdesk => {
                include_str!("../../templates/rettet_af_helpdesk.txt.j2")
            }
            ReceiptKind::NytTidspunkt => include_str!("../../templates/nyt_tidspunkt.txt.j2"),
            ReceiptKind::Genaabnet => include_str!("../../templates/genaabnet.txt.j2"),
            ReceiptKind::AfgoerelseAendret => {
                include_str!("../../templates/afgoerelse_aendret.txt.j2")
            }
            ReceiptKind::BeskedModtaget => include_str!("../../templates/besked_modtaget.txt.j2"),
            ReceiptKind::BeskedTilHelpdesk => {
                include_str!("../../templates/besked_til_helpdesk.txt.j2")
            }
            ReceiptKind::SvarFraHelpdesk => include_str!("../../templates/svar.txt.j2"),
        }
    }
}

const LAYOUT: &str = "layout.html.j2";

/// Templates for mails other than receipts (the digest), rendered by name.
const NAMED: [(&str, &str); 2] = [
    (
        "digest.txt.j2",
        include_str!("../../templates/digest.txt.j2"),
    ),
    (
        "digest.html.j2",
        include_str!("../../templates/digest.html.j2"),
    ),
];

/// The loaded templates. Building them checks every template's syntax, so a broken edit stops
/// the daemon at start, not when the first receipt is due. Reading the files is the shell's
/// job (`cli::setup::load_templates`); this module only sees their text.
pub struct Templates {
    env: Environment<'static>,
}

/// A template that does not compile: its file name (as in `templates/`) and what is wrong,
/// with the line where minijinja knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub name: String,
    pub message: String,
}

impl Templates {
    /// The file name of every template, with its built-in text: what `templates/` may override.
    pub fn builtin_sources() -> Vec<(String, &'static str)> {
        let mut all: Vec<(String, &'static str)> = ReceiptKind::ALL
            .iter()
            .map(|k| (k.template(), k.builtin()))
            .collect();
        all.push((
            LAYOUT.to_string(),
            include_str!("../../templates/layout.html.j2"),
        ));
        all.extend(NAMED.iter().map(|(n, t)| (n.to_string(), *t)));
        all
    }

    /// The built-in templates only.
    pub fn builtin() -> Result<Templates, TemplateError> {
        Templates::build(|_| None)
    }

    /// The templates with `text_of(name)` where it gives a text (an edited copy), else the
    /// built-in one; every template is compiled here.
    pub fn build(
        mut text_of: impl FnMut(&str) -> Option<String>,
    ) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, builtin) in Templates::builtin_sources() {
            let text = text_of(&name).unwrap_or_else(|| builtin.to_string());
            env.add_template_owned(name.clone(), text)
                .map_err(|e| TemplateError {
                    name,
                    message: e.to_string(),
                })?;
        }
        Ok(Templates { env })
    }

    /// Renders one of the `NAMED` templates (HTML-escaped when the name ends in `.html.j2`).
    pub fn render_named(&self, name: &str, values: &impl Serialize) -> Result<String, String> {
        let t = self.env.get_template(name).map_err(|e| e.to_string())?;
        t.render(values)
            .map_err(|e| format!("template {name}: {e}"))
    }

    /// Renders a kind's text with the given values.
    pub fn render(&self, kind: ReceiptKind, values: &impl Serialize) -> Result<String, String> {
        let t = self
            .env
            .get_template(&kind.template())
            .map_err(|e| e.to_string())?;
        t.render(values)
            .map_err(|e| format!("template {}: {e}", kind.template()))
    }

    fn html(&self, subject: &str, text: &str) -> Result<String, String> {
        let t = self.env.get_template(LAYOUT).map_err(|e| e.to_string())?;
        t.render(minijinja::context! {
            subject => subject,
            body_html => minijinja::Value::from_safe_string(text_to_html(text)),
        })
        .map_err(|e| format!("template {LAYOUT}: {e}"))
    }
}

/// The plain text as simple HTML: paragraphs at blank lines, line breaks kept, escaped.
pub fn text_to_html(text: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    text.split("\n\n")
        .map(|p| p.trim_matches(['\n', '\r']))
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let lines: Vec<String> = p.lines().map(esc).collect();
            format!("<p>{}</p>", lines.join("<br>\n"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The mail a receipt answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thread {
    pub message_id: Option<String>,
    pub references: Vec<String>,
    pub subject: String,
}

/// A composed mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: ReceiptKind,
    pub message_id: String,
    pub envelope_from: String,
    pub to: Vec<String>,
    pub raw: Vec<u8>,
}

/// The deterministic Message-ID of a receipt: order reference + version + kind.
pub fn message_id(reference: &str, version: i64, kind: ReceiptKind, domain: &str) -> String {
    crate::mail::own_id::make(&format!("{reference}.v{version}.{}", kind.code()), domain)
}

/// The subject: `[SP-2026-00001] Kvittering for modtagelse: <original subject>`. An original
/// subject that could not be decoded (U+FFFD or control characters left, see
/// [`crate::mail::is_displayable`]) is left out: the reference alone, never mojibake.
pub fn subject(reference: &str, kind: ReceiptKind, original: &str) -> String {
    let original = original.trim();
    let original = if crate::mail::is_displayable(original) {
        original
    } else {
        ""
    };
    // Do not stack our own prefixes on a reply to a receipt.
    let original = original
        .strip_prefix(&format!("[{reference}]"))
        .map(str::trim)
        .unwrap_or(original);
    if original.is_empty() {
        format!("[{reference}] {}", kind.subject_label())
    } else {
        format!("[{reference}] {}: {original}", kind.subject_label())
    }
}

/// Everything needed to compose one mail.
pub struct Compose<'a> {
    pub kind: ReceiptKind,
    pub reference: &'a str,
    pub version: i64,
    /// Our address (From and envelope sender).
    pub from: &'a str,
    pub to: Vec<String>,
    pub thread: &'a Thread,
    /// The subject line; by default `[ref] <label>: <original subject>`.
    pub subject: Option<String>,
    /// Unix time for the Date header.
    pub date: i64,
}

/// A file attached to a composed mail.
#[derive(Debug, Clone, Copy)]
pub struct OutAttachment<'a> {
    pub content_type: &'a str,
    pub filename: &'a str,
    pub bytes: &'a [u8],
}

/// Renders and composes a receipt.
pub fn compose(
    templates: &Templates,
    c: Compose<'_>,
    values: &impl Serialize,
) -> Result<Outgoing, String> {
    compose_with(templates, c, values, &[])
}

/// [`compose`] with attachments (e.g. the original mail on an incident mail).
pub fn compose_with(
    templates: &Templates,
    c: Compose<'_>,
    values: &impl Serialize,
    attachments: &[OutAttachment<'_>],
) -> Result<Outgoing, String> {
    let (from, to) = header_value::sender_and_recipients(c.from, &c.to, "recipient")?;
    let id = message_id(c.reference, c.version, c.kind, from.domain());
    let message_id = header_value::own_message_id(&id)?;
    let subject = HeaderText::new(
        &c.subject
            .unwrap_or_else(|| subject(c.reference, c.kind, &c.thread.subject)),
    );
    let text = templates.render(c.kind, values)?;
    let html = templates.html(subject.as_str(), &text)?;
    // A thread id that is not a valid Message-ID is left out: the receipt is then not
    // threaded, but it never carries what such an id would smuggle into the header.
    let parent = c.thread.message_id.as_deref().and_then(MessageId::new);
    let references: Vec<MessageId> = c
        .thread
        .references
        .iter()
        .filter_map(|r| MessageId::new(r))
        .collect();
    let mut b = header_value::builder(Envelope {
        from: &from,
        to: &to,
        subject: &subject,
        message_id: &message_id,
        date: c.date,
        auto_submitted: AutoSubmitted::Replied,
        in_reply_to: parent.as_ref(),
        references: &references,
    })
    .text_body(text)
    .html_body(html);
    for a in attachments {
        b = b.attachment(
            a.content_type.to_string(),
            HeaderText::new(a.filename).as_str().to_string(),
            a.bytes,
        );
    }
    let raw = b.write_to_vec().map_err(|e| e.to_string())?;
    Ok(Outgoing {
        kind: c.kind,
        message_id: id,
        envelope_from: from.as_str().to_string(),
        to: to.iter().map(|a| a.as_str().to_string()).collect(),
        raw,
    })
}

/// The Helpdesk's copy of a message about an order (`besked_til_helpdesk`): to
/// `helpdesk.review_to`, Reply-To the sender (left out when it is no address we can write),
/// the original mail attached, marked as generated by spdesk (loop-safe like every mail of
/// ours).
pub fn compose_forward(
    templates: &Templates,
    f: &crate::orders::plan::Forward,
    from: &str,
    date: i64,
    original: &[u8],
) -> Result<Outgoing, String> {
    let kind = ReceiptKind::BeskedTilHelpdesk;
    let (from, to) = header_value::sender_and_recipients(from, &f.to, "helpdesk.review_to")?;
    let id = message_id(&f.values.reference, f.version, kind, from.domain());
    let message_id = header_value::own_message_id(&id)?;
    let subject = HeaderText::new(&f.subject);
    let text = templates.render(kind, &f.values)?;
    let html = templates.html(subject.as_str(), &text)?;
    let mut b = header_value::builder(header_value::Envelope::generated(
        &from,
        &to,
        &subject,
        &message_id,
        date,
    ))
    .text_body(text)
    .html_body(html);
    if let Some(reply_to) = f.reply_to.as_deref().and_then(header_value::Address::new) {
        b = header_value::with_reply_to(b, &reply_to);
    }
    if !original.is_empty() {
        b = b.attachment("message/rfc822", "original.eml", original);
    }
    let raw = b.write_to_vec().map_err(|e| e.to_string())?;
    Ok(Outgoing {
        kind,
        message_id: id,
        envelope_from: from.as_str().to_string(),
        to: to.iter().map(|a| a.as_str().to_string()).collect(),
        raw,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn builtin_templates_render() {
        let t = Templates::builtin().unwrap();
        let text = t
            .render(
                ReceiptKind::Modtaget,
                &minijinja::context! { ref => "SP-2026-00001", bestillings_id => "BD-1" },
            )
            .unwrap();
        assert!(text.contains("referencen SP-2026-00001"));
        assert!(text.contains("BestillingsID: BD-1"));
        assert!(text.contains("Kære forvaltningsansvarlig"));
    }

    /// The Helpdesk's copy of a message: to review_to, Reply-To the sender, the original
    /// attached, marked as ours; a Reply-To that is no address is left out, never written.
    #[test]
    fn a_message_reaches_review_to_with_the_original_and_reply_to() {
        let t = Templates::builtin().unwrap();
        let original = b"From: fa@kommune.test\r\nSubject: Hej\r\nMessage-ID: <q1@kommune.test>\r\n\r\nKan det rykkes?\r\n";
        let mut f = crate::orders::plan::Forward {
            to: vec!["review@sp.test".into()],
            subject: "[SP-2026-00001] Besked om bestillingen: Hej".into(),
            reply_to: Some("fa@kommune.test".into()),
            version: 42,
            attach_original: true,
            values: crate::orders::values::MessageValues {
                reference: "SP-2026-00001".into(),
                text: "Kan det rykkes?".into(),
                ..Default::default()
            },
        };
        let out = compose_forward(&t, &f, "helpdesk@sp.test", 1_800_000_000, original).unwrap();
        assert_eq!(
            out.message_id,
            "SP-2026-00001.v42.besked_til_helpdesk@spdesk.sp.test"
        );
        let m = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert_eq!(m.reply_to.as_deref(), Some("fa@kommune.test"));
        assert!(m.text.as_deref().unwrap_or("").contains("Kan det rykkes?"));
        assert!(
            m.text
                .as_deref()
                .unwrap_or("")
                .contains("spdesk orders reply SP-2026-00001")
        );
        assert_eq!(m.attachments.len(), 1);
        assert!(
            m.headers_named(LOOP_HEADER)
                .any(|v| v == "helpdesk@sp.test")
        );
        f.reply_to = Some("evil@x.test\r\nBcc: all@x.test".into());
        let out = compose_forward(&t, &f, "helpdesk@sp.test", 1_800_000_000, &[]).unwrap();
        let m = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert_eq!(m.reply_to, None);
        assert!(m.attachments.is_empty());
        assert!(!String::from_utf8_lossy(&out.raw).contains("Bcc"));
    }

    #[test]
    fn a_receipt_is_a_reply_in_the_thread() {
        let t = Templates::builtin().unwrap();
        let thread = Thread {
            message_id: Some("orig@fa.test".into()),
            references: vec!["older@fa.test".into()],
            subject: "Bestilling af nyt SSL-certifikat".into(),
        };
        let out = compose(
            &t,
            Compose {
                kind: ReceiptKind::Modtaget,
                reference: "SP-2026-00042",
                version: 1,
                from: "helpdesk@example.test",
                to: vec!["fa@example.test".into()],
                thread: &thread,
                subject: None,
                date: 1_800_000_000,
            },
            &minijinja::context! { ref => "SP-2026-00042" },
        )
        .unwrap();
        assert_eq!(
            out.message_id,
            "SP-2026-00042.v1.modtaget@spdesk.example.test"
        );
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert_eq!(
            parsed.subject,
            "[SP-2026-00042] Kvittering for modtagelse: Bestilling af nyt SSL-certifikat"
        );
        assert_eq!(parsed.in_reply_to, vec!["orig@fa.test"]);
        assert_eq!(parsed.references, vec!["older@fa.test", "orig@fa.test"]);
        assert_eq!(parsed.header("Auto-Submitted"), Some("auto-replied"));
        assert!(
            parsed.loop_flags().auto_reply,
            "our receipts must look automatic"
        );
        assert!(parsed.html.unwrap().contains("SP-2026-00042"));
    }

    #[test]
    fn step_8_templates_render() {
        let t = Templates::builtin().unwrap();
        let text = t
            .render(
                ReceiptKind::Gennemfoert,
                &minijinja::context! { ref => "SP-2026-00001", bestillings_id => "BD-1",
                executed_at => "mandag den 7. december 2026 kl. 10.00", note => "URL skiftet" },
            )
            .unwrap();
        assert!(text.contains("er gennemført mandag den 7. december 2026 kl. 10.00"));
        assert!(text.contains("URL skiftet"));
        let text = t
            .render(
                ReceiptKind::Fejl,
                &minijinja::context! { ref => "SP-2026-00001" },
            )
            .unwrap();
        assert!(text.contains("hændelse (incident)"));
        assert!(text.contains("BestillingsID (ikke angivet)"));
        let text = t
            .render(
                ReceiptKind::Incident,
                &minijinja::context! { ref => "SP-2026-00001", reason => "timeout",
                actor => "executor",
                fields => vec![minijinja::context! { label => "SFTP-bruger", value => "bd" }],
                events => vec![minijinja::context! { at => "t", actor => "daemon",
                    action => "judged", from_state => "received", to_state => "approved",
                    detail => "a\nb" }] },
            )
            .unwrap();
        assert!(text.contains("Årsag: timeout"));
        assert!(text.contains("SFTP-bruger: bd"));
        assert!(
            text.contains("daemon: judged (received -> approved)\n      a\n      b"),
            "{text}"
        );
        let text = t
            .render(
                ReceiptKind::Tilbagetrukket,
                &minijinja::context! { ref => "SP-2026-00001" },
            )
            .unwrap();
        assert!(text.contains("trukket tilbage"));
        assert!(!text.contains("Begrundelse"));
    }

    #[test]
    fn attachments_are_attached() {
        let t = Templates::builtin().unwrap();
        let original = b"From: a@b.test\r\nSubject: x\r\nMessage-ID: <o@b.test>\r\n\r\nhej\r\n";
        let out = compose_with(
            &t,
            Compose {
                kind: ReceiptKind::Incident,
                reference: "SP-2026-00002",
                version: 1,
                from: "helpdesk@example.test",
                to: vec!["incident@example.test".into()],
                thread: &Thread::default(),
                subject: Some("[SP-2026-00002] Incident".into()),
                date: 1_800_000_000,
            },
            &minijinja::context! { ref => "SP-2026-00002" },
            &[OutAttachment {
                content_type: "message/rfc822",
                filename: "original.eml",
                bytes: original,
            }],
        )
        .unwrap();
        assert_eq!(
            out.message_id,
            "SP-2026-00002.v1.incident@spdesk.example.test"
        );
        let parsed = crate::mail::Mail::parse(&out.raw, 2).unwrap();
        assert!(parsed.in_reply_to.is_empty());
        let a = parsed
            .attachments
            .iter()
            .find(|a| a.name.as_deref() == Some("original.eml"))
            .unwrap();
        assert_eq!(a.content_type, "message/rfc822");
    }

    /// A hostile mail: an RFC 2047 encoded CR/LF in the Subject and a bare CR in its
    /// Message-ID (and in one of its References).
    pub(crate) fn hostile_thread(message_id: &str) -> Thread {
        let raw = format!(
            "From: Fa <fa@kommune.test>\r\nTo: helpdesk@example.test\r\n\
             Subject: =?utf-8?q?x=0D=0ABcc:_evil@x.test=0D=0A=0D=0Abody?=\r\n\
             Message-ID: <{message_id}>\r\nReferences: <root@kommune.test> <bad\r@x.test>\r\n\r\nhej\r\n"
        );
        let mail = crate::mail::Mail::parse(raw.as_bytes(), 1).unwrap();
        assert!(mail.subject.contains("\r\nBcc:"), "{:?}", mail.subject);
        Thread {
            message_id: mail.message_id,
            references: mail.references,
            subject: mail.subject,
        }
    }

    /// A mail of `kind` from helpdesk@example.test for SP-2026-00042, version 1.
    pub(crate) fn try_compose(
        kind: ReceiptKind,
        to: &str,
        thread: &Thread,
        subject: Option<String>,
        attachments: &[OutAttachment<'_>],
    ) -> Result<Outgoing, String> {
        compose_with(
            &Templates::builtin().unwrap(),
            Compose {
                kind,
                reference: "SP-2026-00042",
                version: 1,
                from: "helpdesk@example.test",
                to: vec![to.into()],
                thread,
                subject,
                date: 1_800_000_000,
            },
            &minijinja::context! { ref => "SP-2026-00042" },
            attachments,
        )
    }

    fn compose_for(thread: &Thread, subject: Option<String>) -> Outgoing {
        try_compose(
            ReceiptKind::Modtaget,
            "fa@kommune.test",
            thread,
            subject,
            &[],
        )
        .unwrap()
    }

    #[test]
    fn a_hostile_subject_and_message_id_stay_out_of_the_receipt_headers() {
        let thread = hostile_thread("abc\rdef@kommune.test");
        assert!(thread.message_id.as_deref().unwrap().contains('\r'));
        let out = compose_for(&thread, None);
        header_value::assert_only_our_headers(&out.raw, &header_value::OUR_HEADERS);
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert_eq!(
            parsed.subject,
            "[SP-2026-00042] Kvittering for modtagelse: x Bcc: evil@x.test body"
        );
        assert_eq!(parsed.header("X-Loop"), Some("helpdesk@example.test"));
        assert!(!parsed.text.unwrap().contains("Auto-Submitted"));

        // A valid parent: the reply is threaded, the broken reference is left out.
        let thread = hostile_thread("ok@kommune.test");
        let out = compose_for(&thread, None);
        let mut expected = header_value::OUR_HEADERS.to_vec();
        expected.extend(["In-Reply-To", "References"]);
        header_value::assert_only_our_headers(&out.raw, &expected);
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert_eq!(parsed.in_reply_to, vec!["ok@kommune.test"]);
        assert_eq!(
            parsed.references,
            vec!["root@kommune.test", "ok@kommune.test"]
        );
    }

    #[test]
    fn a_hostile_given_subject_or_recipient_is_not_pasted() {
        let out = compose_for(
            &Thread::default(),
            Some("[SP-1] Til vurdering\r\nBcc: evil@x.test\r\n\r\nbody".into()),
        );
        header_value::assert_only_our_headers(&out.raw, &header_value::OUR_HEADERS);
        let err = try_compose(
            ReceiptKind::Modtaget,
            "fa@kommune.test\r\nBcc: evil@x.test",
            &Thread::default(),
            None,
            &[],
        )
        .err()
        .unwrap();
        assert!(err.contains("not a valid mail address"), "{err}");
    }

    #[test]
    fn subjects_do_not_stack() {
        assert_eq!(
            subject(
                "SP-2026-00001",
                ReceiptKind::Godkendt,
                "[SP-2026-00001] Ny URL"
            ),
            "[SP-2026-00001] Bestillingen er godkendt: Ny URL"
        );
        assert_eq!(
            subject("SP-2026-00001", ReceiptKind::Modtaget, ""),
            "[SP-2026-00001] Kvittering for modtagelse"
        );
    }

    /// A subject that could not be decoded (bytes read as U+FFFD, escape sequences left over)
    /// never reaches the receipt: the reference alone stands.
    #[test]
    fn an_undecodable_subject_falls_back_to_the_reference() {
        for garbage in [
            "\u{fffd}\u{fffd}\u{fffd} \u{fffd}\u{fffd}",
            "\u{1b}$B%O%m!<\u{1b}(B",
            "Bestilling \u{7}",
        ] {
            assert_eq!(
                subject("SP-2026-00001", ReceiptKind::Modtaget, garbage),
                "[SP-2026-00001] Kvittering for modtagelse",
                "{garbage:?}"
            );
        }
        assert_eq!(
            subject("SP-2026-00001", ReceiptKind::Modtaget, "Заявка 你好"),
            "[SP-2026-00001] Kvittering for modtagelse: Заявка 你好"
        );
    }
}
