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

    /// What kind of mail it is, in a few Danish words: the heading on a receipt's first line
    /// (and of its HTML part); a staff mail's subject names it.
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

    /// A mail to the Helpdesk's own people (review, incident): its own subject, no heading,
    /// no greeting.
    pub fn is_staff(self) -> bool {
        matches!(
            self,
            ReceiptKind::HelpdeskVurdering | ReceiptKind::Incident | ReceiptKind::BeskedTilHelpdesk
        )
    }

    /// The heading a receipt's body starts with (`None` for a staff mail).
    pub fn heading(self) -> Option<&'static str> {
        (!self.is_staff()).then(|| self.subject_label())
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

/// What a receipt prints for a value nobody gave.
pub const NOT_GIVEN: &str = "(ikke angivet)";

/// Whom a receipt greets when neither the sender's display name nor the form's contact name is
/// known.
pub const DEFAULT_GREETING: &str = "forvaltningsansvarlig";

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
        // A value no path knows prints as "(ikke angivet)", never as "none" (RECEIPTS.md).
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                out.write_str(NOT_GIVEN).map_err(minijinja::Error::from)
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
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

    /// The web console's address (`[web] public_url`) for the staff mails' links to an order
    /// (`{{ console_url }}/orders/{{ ref }}`); without it they name only the CLI commands.
    pub fn with_console_url(mut self, url: &str) -> Templates {
        self.env
            .add_global("console_url", url.trim_end_matches('/').to_string());
        self
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

    fn html(&self, subject: &str, heading: Option<&str>, text: &str) -> Result<String, String> {
        let t = self.env.get_template(LAYOUT).map_err(|e| e.to_string())?;
        t.render(minijinja::context! {
            subject => subject,
            heading => heading,
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

/// The mail a receipt answers: its ids for In-Reply-To/References, its subject, who wrote it
/// (the greeting and the `To:` display name) and Outlook's conversation headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Thread {
    pub message_id: Option<String>,
    pub references: Vec<String>,
    pub subject: String,
    /// The From address and its display name, as the mail gave them.
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// `Thread-Topic` (decoded) and `Thread-Index` (base64) when the mail had them.
    pub topic: Option<String>,
    pub index: Option<String>,
}

impl Thread {
    /// The thread of a mail a receipt answers.
    pub fn of(mail: &crate::mail::Mail) -> Thread {
        Thread {
            message_id: mail.message_id.clone(),
            references: mail.references.clone(),
            subject: mail.subject.clone(),
            from: mail.from.clone(),
            from_name: mail.from_name.clone(),
            topic: mail.header("Thread-Topic").map(decoded_text),
            index: mail.header("Thread-Index").map(str::to_string),
        }
    }

    /// The sender's display name when it is one a greeting can use: readable, not empty, not
    /// an address.
    pub fn display_name(&self) -> Option<String> {
        let name = HeaderText::name(self.from_name.as_deref()?);
        let name = name.as_str().trim_matches(['"', '\'', ' ']);
        (!name.is_empty() && !name.contains('@') && crate::mail::is_displayable(name))
            .then(|| name.to_string())
    }
}

/// An unstructured header value (RFC 2047 encoded words, any charset) decoded as the subject
/// is: the same reading, so a topic and a subject never differ by decoding.
fn decoded_text(raw: &str) -> String {
    let field = format!("Subject: {}\r\n\r\n", raw.replace(['\r', '\n'], " "));
    crate::mail::Mail::headers_only(field.as_bytes()).subject
}

/// The greeting of a receipt: the sender's display name, else the form's contact name, else
/// "forvaltningsansvarlig" (RECEIPTS.md); never empty.
pub fn greeting(thread: &Thread, contact_name: Option<&str>) -> String {
    thread
        .display_name()
        .or_else(|| {
            contact_name
                .map(|c| HeaderText::name(c).as_str().to_string())
                .filter(|c| !c.is_empty())
        })
        .unwrap_or_else(|| DEFAULT_GREETING.to_string())
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

/// The subject of every receipt about one order: `SV: [SP-2026-00001] <original subject>`,
/// the same for every kind, so Outlook and Gmail keep the order's mails in one conversation
/// (the kind is the body's heading). An original subject that could not be decoded (U+FFFD or
/// control characters left, see [`crate::mail::is_displayable`]) is left out: the reference
/// and [`NO_SUBJECT`], never mojibake. `_kind` is kept for the callers: every kind has the
/// same subject.
pub fn subject(reference: &str, _kind: ReceiptKind, original: &str) -> String {
    let original = original.trim();
    let original = if crate::mail::is_displayable(original) {
        without_tags(original_subject(original))
    } else {
        String::new()
    };
    if original.is_empty() {
        format!("SV: [{reference}] {NO_SUBJECT}")
    } else {
        format!("SV: [{reference}] {original}")
    }
}

/// What a receipt's subject says after the reference when the requester's subject was empty
/// or unreadable: the same for every receipt of the order.
pub const NO_SUBJECT: &str = "Din henvendelse til Serviceplatformens Helpdesk";

/// Reply and forward prefixes mail programs put before a subject (Danish, English, German,
/// Norwegian/Swedish, Dutch), compared without case.
const REPLY_PREFIXES: [&str; 10] = [
    "sv", "re", "vs", "fw", "fwd", "aw", "wg", "antw", "tr", "ref",
];

/// `subject` without what replies and our own receipts put before it: every reply/forward
/// prefix (`SV:`, `RE:`, `VS:`, `FW:`, `Fwd:`, `AW:`, also `SV[2]:`), every `[SP-…]` tag and
/// a receipt label our older subjects had (`Bestillingen skal rettes: …`).
pub fn original_subject(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let before = s;
        s = strip_reply_prefix(s).trim_start();
        if let Some(rest) = strip_reference_tag(s) {
            s = rest.trim_start();
            s = strip_label(s).trim_start();
        }
        if s.len() == before.len() {
            return s.trim();
        }
    }
}

/// `s` without any `[SP-…]` tag left inside it (e.g. "Ang. [SP-2026-00003] ny URL"), spaces
/// collapsed: the receipt's subject names the reference once, in front.
fn without_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('[') {
        out.push_str(&rest[..at]);
        match strip_reference_tag(&rest[at..]) {
            Some(after) => rest = after,
            None => {
                out.push('[');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_reply_prefix(s: &str) -> &str {
    let Some(colon) = s.find(':').filter(|&c| c <= 8) else {
        return s;
    };
    let word = s[..colon].trim();
    // Outlook's counted form: "SV[2]" / "RE(2)".
    let word = word.split(['[', '(']).next().unwrap_or(word).trim();
    if REPLY_PREFIXES.iter().any(|p| word.eq_ignore_ascii_case(p)) {
        &s[colon + 1..]
    } else {
        s
    }
}

/// `[SP-…]` at the start: the rest after it.
fn strip_reference_tag(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let head = rest.get(..3)?;
    if !head.eq_ignore_ascii_case("SP-") {
        return None;
    }
    let end = rest.find(']')?;
    let inner = &rest[..end];
    inner
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
        .then(|| &rest[end + 1..])
}

/// A receipt label with its colon at the start (our subjects before they were one per order).
fn strip_label(s: &str) -> &str {
    for kind in ReceiptKind::ALL {
        let label = kind.subject_label();
        if let Some(rest) = s.strip_prefix(label) {
            let rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(':') {
                return after;
            }
            if rest.is_empty() {
                return rest;
            }
        }
    }
    s
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
    let text = body(templates, c.kind, c.thread, values)?;
    let html = templates.html(subject.as_str(), c.kind.heading(), &text.1)?;
    // A thread id that is not a valid Message-ID is left out: the receipt is then not
    // threaded, but it never carries what such an id would smuggle into the header.
    let parent = c.thread.message_id.as_deref().and_then(MessageId::new);
    let references: Vec<MessageId> = c
        .thread
        .references
        .iter()
        .filter_map(|r| MessageId::new(r))
        .collect();
    let named = to_names(&to, c.thread, c.kind);
    let mut b = header_value::builder(Envelope {
        from: &from,
        to: &to,
        to_names: &named,
        subject: &subject,
        message_id: &message_id,
        date: c.date,
        auto_submitted: AutoSubmitted::Replied,
        in_reply_to: parent.as_ref(),
        references: &references,
    });
    if !c.kind.is_staff() {
        b = conversation_headers(b, c.thread, c.date);
    }
    let mut b = b.text_body(text.0).html_body(html);
    for a in attachments {
        b = b.attachment(
            header_value::mime_type(a.content_type),
            HeaderText::file_name(a.filename).as_str().to_string(),
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
    let html = templates.html(subject.as_str(), kind.heading(), &text)?;
    let mut b = header_value::builder(header_value::Envelope::generated(
        &from,
        &to,
        &subject,
        &message_id,
        date,
    ))
    .text_body(text)
    .html_body(html);
    // Never our own address: an answer to the copy would come back to the mailbox we read.
    if let Some(reply_to) = f
        .reply_to
        .as_deref()
        .and_then(header_value::Address::new)
        .filter(|r| !r.as_str().eq_ignore_ascii_case(from.as_str()))
    {
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

/// The plain text (heading first, for a receipt) and the body the HTML part shows under its
/// heading. The template gets `greeting` besides the values.
fn body(
    templates: &Templates,
    kind: ReceiptKind,
    thread: &Thread,
    values: &impl Serialize,
) -> Result<(String, String), String> {
    let values = minijinja::Value::from_serialize(values);
    let contact = values
        .get_attr("contact_name")
        .ok()
        .filter(|v| !v.is_none() && !v.is_undefined())
        .map(|v| v.to_string());
    let merged = minijinja::context! {
        greeting => greeting(thread, contact.as_deref()),
        ..values
    };
    let text = templates.render(kind, &merged)?;
    Ok(match kind.heading() {
        Some(h) => (format!("{h}\n\n{text}"), text),
        None => (text.clone(), text),
    })
}

/// The display name of the requester's address among the recipients (a receipt's `To:` reads
/// `Jens Hansen <jens@kommune.dk>`); staff mails name no one.
fn to_names(to: &[header_value::Address], thread: &Thread, kind: ReceiptKind) -> Vec<HeaderText> {
    let name = thread.display_name().filter(|_| !kind.is_staff());
    let from = thread.from.as_deref().unwrap_or("");
    to.iter()
        .map(|a| match &name {
            Some(n) if a.as_str().eq_ignore_ascii_case(from) => HeaderText::new(n),
            _ => HeaderText::new(""),
        })
        .collect()
}

/// Outlook's conversation headers on a reply to a mail that had them: `Thread-Topic`
/// unchanged and a child `Thread-Index` ([`child_thread_index`]).
fn conversation_headers(
    b: mail_builder::MessageBuilder<'static>,
    thread: &Thread,
    date: i64,
) -> mail_builder::MessageBuilder<'static> {
    let topic = thread.topic.as_deref().map(HeaderText::new);
    let index = thread
        .index
        .as_deref()
        .and_then(|i| child_thread_index(i, date))
        .and_then(|i| header_value::ThreadIndex::new(&i));
    header_value::conversation(b, topic.as_ref(), index.as_ref())
}

/// 100-ns intervals between 1601-01-01 (FILETIME's epoch) and 1970-01-01.
const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;
/// A parent Thread-Index with this many child blocks or more gets no child: the header is
/// written unfolded, and 100 blocks (a reply's 99 and ours) are 696 base64 characters, well
/// under RFC 5322's 998 per line; a longer one is no thread Outlook keeps anyway.
const MAX_CHILD_BLOCKS: usize = 100;

/// The `Thread-Index` of a reply to a mail whose `Thread-Index` is `parent` (base64), at unix
/// time `now`: the parent's bytes and one 5-byte child block, as Exchange writes replies
/// ([MS-OXOMSG] 2.2.1.3): 1 bit DC, 31 bits of the time since the header block's time (bits
/// 18–48 when DC = 0, bits 23–53 when the difference needs more), 4 random bits and a 4-bit
/// sequence count (0 here; the random bits come from the time, so a resend is the same
/// mail). `None` when `parent` is no Thread-Index (not base64, not 22 + 5·n bytes).
pub fn child_thread_index(parent: &str, now: i64) -> Option<String> {
    use base64::Engine;
    let compact: String = parent.chars().filter(|c| !c.is_whitespace()).collect();
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .ok()?;
    let children = bytes.len().checked_sub(22)?;
    if children % 5 != 0 || children / 5 >= MAX_CHILD_BLOCKS {
        return None;
    }
    // The header block's time: FILETIME without its 16 low bits, big-endian.
    let mut header_time: i64 = 0;
    for b in &bytes[..6] {
        header_time = (header_time << 8) | i64::from(*b);
    }
    let header_time = header_time << 16;
    let now_filetime = now
        .saturating_mul(10_000_000)
        .saturating_add(FILETIME_UNIX_EPOCH);
    let delta = u64::try_from(now_filetime.saturating_sub(header_time)).unwrap_or(0);
    let (dc, bits) = if delta < (1 << 49) {
        (0u64, (delta >> 18) & 0x7fff_ffff)
    } else {
        (1u64, (delta >> 23) & 0x7fff_ffff)
    };
    let random = (now as u64) & 0xf;
    let block = (dc << 39) | (bits << 8) | (random << 4);
    bytes.extend_from_slice(&block.to_be_bytes()[3..]);
    Some(base64::engine::general_purpose::STANDARD.encode(bytes))
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
        // The template alone has no greeting value: compose gives it (see below).
        assert!(text.starts_with("Kære \n"), "{text}");
        let none = t
            .render(
                ReceiptKind::Godkendt,
                &minijinja::context! { ref => "SP-1", bestillings_id => None::<String> },
            )
            .unwrap();
        assert!(none.contains("(BestillingsID (ikke angivet))"), "{none}");
        assert!(!none.to_lowercase().contains("none"), "{none}");
        assert!(
            none.contains("når tidspunktet for ændringen er fastlagt"),
            "{none}"
        );
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
        f.reply_to = Some("Helpdesk@SP.test".into());
        let out = compose_forward(&t, &f, "helpdesk@sp.test", 1_800_000_000, &[]).unwrap();
        let m = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert_eq!(m.reply_to, None, "never our own mailbox");
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
            ..Thread::default()
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
            "SV: [SP-2026-00042] Bestilling af nyt SSL-certifikat"
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
                    action => "vurderet efter reglerne", from_state => "modtaget",
                    to_state => "godkendt", detail => "a\nb" }] },
            )
            .unwrap();
        assert!(text.contains("Årsag: timeout"));
        assert!(text.contains("SFTP-bruger: bd"));
        assert!(
            text.contains(
                "daemon: vurderet efter reglerne (fra modtaget til godkendt)\n      a\n      b"
            ),
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
            ..Thread::default()
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
            "SV: [SP-2026-00042] x Bcc: evil@x.test body"
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
        let one = "SV: [SP-2026-00003] Bestilling af nyt SSL-certifikat";
        for original in [
            "Bestilling af nyt SSL-certifikat",
            "[SP-2026-00003] Bestilling af nyt SSL-certifikat",
            "SV: [SP-2026-00003] Bestillingen skal rettes: Bestilling af nyt SSL-certifikat",
            "RE: SV: [SP-2026-00003] Bestilling af nyt SSL-certifikat",
            "Fwd: VS: FW: AW: sv: [sp-2026-00003] Bestilling af nyt SSL-certifikat",
            "SV[2]: Re: [SP-2026-00003] Bestillingen er godkendt: SV: [SP-2026-00003] Bestillingen skal rettes: Bestilling af nyt SSL-certifikat",
            "  Bestilling af nyt SSL-certifikat  ",
        ] {
            for kind in ReceiptKind::ALL {
                assert_eq!(
                    subject("SP-2026-00003", kind, original),
                    one,
                    "{original:?}"
                );
            }
        }
        // Words that only look like prefixes stay.
        assert_eq!(
            original_subject("Svar: Reference: [SPX] Ny URL"),
            "Svar: Reference: [SPX] Ny URL"
        );
        assert_eq!(original_subject("SV:"), "");
        assert_eq!(
            subject(
                "SP-2026-00003",
                ReceiptKind::Godkendt,
                "Ang. [SP-2026-00003]  ny URL [x]"
            ),
            "SV: [SP-2026-00003] Ang. ny URL [x]"
        );
        assert_eq!(
            subject("SP-2026-00001", ReceiptKind::Modtaget, "Sv: "),
            "SV: [SP-2026-00001] Din henvendelse til Serviceplatformens Helpdesk"
        );
    }

    /// An Outlook mail: "Jens Hansen" <fa@kommune.test> with Thread-Topic and Thread-Index.
    fn outlook_thread() -> Thread {
        let raw = "From: \"Jens Hansen\" <fa@kommune.test>\r\nTo: helpdesk@example.test\r\n\
             Subject: SV: [SP-2026-00042] Bestillingen skal rettes: Nyt =?utf-8?q?certifikat_=C3=A6?=\r\n\
             Thread-Topic: Nyt =?utf-8?q?certifikat_=C3=A6?=\r\n\
             Thread-Index: AdxkuUHpfFqkXW2HQ0qSk2IxoG6frA==\r\n\
             Message-ID: <o@kommune.test>\r\n\r\nhej\r\n";
        Thread::of(&crate::mail::Mail::parse(raw.as_bytes(), 1).unwrap())
    }

    #[test]
    fn a_receipt_greets_and_addresses_the_sender_by_name() {
        let thread = outlook_thread();
        assert_eq!(thread.topic.as_deref(), Some("Nyt certifikat æ"));
        let out = compose_for(&thread, None);
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        let text = parsed.text.clone().unwrap().replace("\r\n", "\n");
        assert!(
            text.starts_with("Kvittering for modtagelse\n\nKære Jens Hansen\n"),
            "{text}"
        );
        assert!(
            parsed
                .html
                .as_deref()
                .unwrap()
                .contains("<h1 style=\"font-size: 18px;\">Kvittering for modtagelse</h1>")
        );
        assert_eq!(parsed.subject, "SV: [SP-2026-00042] Nyt certifikat æ");
        let to = parsed.header("To").unwrap();
        assert!(
            to.contains("Jens Hansen") && to.contains("<fa@kommune.test>"),
            "{to}"
        );
        assert_eq!(
            crate::mail::Mail::parse(&out.raw, 1)
                .unwrap()
                .header("Thread-Topic")
                .map(decoded_text)
                .as_deref(),
            Some("Nyt certifikat æ")
        );
        let index = parsed.header("Thread-Index").unwrap();
        assert_eq!(
            Some(index.to_string()),
            child_thread_index("AdxkuUHpfFqkXW2HQ0qSk2IxoG6frA==", 1_800_000_000)
        );
        // No display name: the contact name, else "forvaltningsansvarlig"; a name that is an
        // address is no name.
        let mut plain = thread.clone();
        plain.from_name = Some("fa@kommune.test".into());
        assert_eq!(greeting(&plain, Some("Mette")), "Mette");
        assert_eq!(greeting(&plain, Some(" ")), DEFAULT_GREETING);
        assert_eq!(greeting(&Thread::default(), None), DEFAULT_GREETING);
        let plain_out = compose_for(&plain, None);
        let parsed = crate::mail::Mail::parse(&plain_out.raw, 1).unwrap();
        assert!(!parsed.header("To").unwrap().contains('"'));
        assert!(
            parsed
                .text
                .unwrap()
                .contains("Kære forvaltningsansvarlig\r\n")
        );
    }

    /// Exchange's child block: the parent's 22 bytes, then 5 bytes with the time since the
    /// parent's header time in units of 2^18 × 100 ns, 4 random bits and a sequence of 0.
    #[test]
    fn a_child_thread_index_extends_the_parent() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        // Header time: 2027-01-15 08:00:00 UTC as FILETIME >> 16.
        let unix = 1_799_913_600_i64;
        let filetime = unix * 10_000_000 + FILETIME_UNIX_EPOCH;
        let mut parent = (filetime >> 16).to_be_bytes()[2..].to_vec();
        parent.extend([7u8; 16]);
        let child = child_thread_index(&b64.encode(&parent), unix + 3600).unwrap();
        let bytes = b64.decode(child).unwrap();
        assert_eq!(bytes.len(), 27);
        assert_eq!(&bytes[..22], &parent[..]);
        let block = bytes[22..]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        assert_eq!(block >> 39, 0, "DC bit");
        let delta = ((block >> 8) & 0x7fff_ffff) << 18;
        let hour: u64 = 3600 * 10_000_000;
        assert!(hour - delta < (1 << 18), "{delta}");
        assert_eq!(block & 0xf, 0, "sequence count");
        // A grandchild keeps both blocks; far in the future DC is 1.
        let grandchild = child_thread_index(&b64.encode(&bytes), unix + 3 * 365 * 86_400).unwrap();
        let g = b64.decode(grandchild).unwrap();
        assert_eq!(g.len(), 32);
        assert_eq!(g[27] >> 7, 1);
        for bad in ["", "not base64!", "AAAA", &b64.encode([1u8; 23])] {
            assert_eq!(child_thread_index(bad, unix), None, "{bad:?}");
        }
    }

    /// A sender-chosen name is a name: whitespace collapsed, at most 64 characters, so `To:`
    /// stays under RFC 5322's 998 characters and "Kære …" stays a greeting.
    #[test]
    fn a_long_display_name_is_cut_and_the_to_line_stays_short() {
        use crate::mail::header_value::MAX_NAME_CHARS;
        let mut thread = outlook_thread();
        thread.from_name = Some(format!("Jens \t  Hansen {}", "😀".repeat(900)));
        let name = thread.display_name().unwrap();
        assert_eq!(name.chars().count(), MAX_NAME_CHARS);
        assert!(name.starts_with("Jens Hansen 😀"), "{name}");
        assert_eq!(greeting(&thread, None), name);
        let long_contact = "Mette  Hansen ".repeat(20);
        let g = greeting(&Thread::default(), Some(&long_contact));
        assert!(g.starts_with("Mette Hansen Mette") && g.chars().count() <= MAX_NAME_CHARS);
        let out = compose_for(&thread, None);
        let raw = String::from_utf8_lossy(&out.raw).to_string();
        let longest = raw.lines().map(str::len).max().unwrap();
        assert!(longest < 998, "a line of {longest} characters");
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        let to = parsed.header("To").unwrap();
        assert!(to.contains("<fa@kommune.test>"), "{to}");
        let text = parsed.text.unwrap().replace("\r\n", "\n");
        assert!(text.contains(&format!("Kære {name}\n")), "{text}");
    }

    /// Thread-Index stays well under 998 characters: a parent of 99 child blocks gets its
    /// 100th, one of 100 or more gets none.
    #[test]
    fn a_thread_index_stays_under_the_line_limit() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let unix = 1_799_913_600_i64;
        let parent = |blocks: usize| b64.encode(vec![1u8; 22 + 5 * blocks]);
        let child = child_thread_index(&parent(MAX_CHILD_BLOCKS - 1), unix).unwrap();
        assert!(
            child.len() + "Thread-Index: ".len() < 720,
            "{}",
            child.len()
        );
        assert_eq!(child_thread_index(&parent(MAX_CHILD_BLOCKS), unix), None);
        assert_eq!(child_thread_index(&parent(499), unix), None);
    }

    /// The review mail of an order without fields (or without a kind) suggests `orders edit`
    /// first, since `orders approve` refuses it; with both it suggests approve.
    #[test]
    fn a_review_mail_suggests_edit_before_approve_for_a_formless_order() {
        use crate::orders::values::{LabelValue, ReceiptValues};
        let t = Templates::builtin().unwrap();
        let field = LabelValue {
            label: "CVR-nr.".into(),
            value: "12345674".into(),
        };
        let render = |kind_title: Option<&str>, fields: Vec<LabelValue>| {
            let v = ReceiptValues {
                reference: "SP-2026-00042".into(),
                kind_title: kind_title.map(str::to_string),
                fields,
                ..ReceiptValues::default()
            };
            t.render(ReceiptKind::HelpdeskVurdering, &v).unwrap()
        };
        let edit = "spdesk orders edit SP-2026-00042 --set FELT=værdi";
        let approve = "Godkend:  spdesk orders approve SP-2026-00042";
        for text in [
            render(None, vec![]),
            render(Some("SFTP"), vec![]),
            render(None, vec![field.clone()]),
        ] {
            assert!(text.contains(edit) && !text.contains(approve), "{text}");
        }
        let text = render(Some("SFTP"), vec![field]);
        assert!(text.contains(approve) && !text.contains(edit), "{text}");
    }

    #[test]
    fn staff_mails_name_no_one_and_carry_no_conversation_headers() {
        let thread = outlook_thread();
        let out = try_compose(
            ReceiptKind::HelpdeskVurdering,
            "fa@kommune.test",
            &thread,
            Some("[SP-2026-00042] Til vurdering".into()),
            &[],
        )
        .unwrap();
        let parsed = crate::mail::Mail::parse(&out.raw, 1).unwrap();
        assert!(!parsed.header("To").unwrap().contains("Jens"));
        assert!(parsed.header("Thread-Index").is_none());
        assert!(
            parsed
                .text
                .unwrap()
                .starts_with("Bestillingen SP-2026-00042")
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
                "SV: [SP-2026-00001] Din henvendelse til Serviceplatformens Helpdesk",
                "{garbage:?}"
            );
        }
        assert_eq!(
            subject("SP-2026-00001", ReceiptKind::Modtaget, "Заявка 你好"),
            "SV: [SP-2026-00001] Заявка 你好"
        );
    }

    #[test]
    fn staff_mails_link_to_the_order_in_the_web_console_when_it_has_an_address() {
        let values = minijinja::context! { ref => "SP-2026-00007", findings => vec!["x"] };
        let staff = [
            ReceiptKind::HelpdeskVurdering,
            ReceiptKind::BeskedTilHelpdesk,
            ReceiptKind::Incident,
        ];
        let plain = Templates::builtin().unwrap();
        let linked = Templates::builtin()
            .unwrap()
            .with_console_url("https://helpdesk.example.test/");
        for kind in staff {
            let with = linked.render(kind, &values).unwrap();
            assert!(
                with.contains(
                    "I web-konsollen: https://helpdesk.example.test/orders/SP-2026-00007\n"
                ),
                "{kind:?}: {with}"
            );
            let without = plain.render(kind, &values).unwrap();
            assert!(!without.contains("web-konsollen"), "{kind:?}: {without}");
        }
    }
}
