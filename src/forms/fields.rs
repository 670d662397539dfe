//! The field table: every field of both order forms, their labels and synonyms, value types and
//! when they are required (FORMS.md "Fields"). This is the ONE place that knows the forms: the
//! readers, the interpretation of what they read, the rules and the blank forms all use it.

use serde::Serialize;

/// The two order forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FormKind {
    Webservice,
    Sftp,
}

impl FormKind {
    pub const ALL: [FormKind; 2] = [FormKind::Webservice, FormKind::Sftp];

    pub fn code(self) -> &'static str {
        match self {
            FormKind::Webservice => "webservice",
            FormKind::Sftp => "sftp",
        }
    }

    pub fn from_code(code: &str) -> Option<FormKind> {
        FormKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The Danish title printed on the form (and used in receipts).
    pub fn title(self) -> &'static str {
        match self {
            FormKind::Webservice => {
                "Ændring af teknisk konfiguration for serviceudbyders webservice"
            }
            FormKind::Sftp => "Ændring af overvågning af filafhentning (SFTP-indbakke)",
        }
    }

    /// Normalised words of the title that identify the form when found in its text.
    pub fn title_markers(self) -> &'static [&'static str] {
        match self {
            FormKind::Webservice => &["serviceudbyders webservice", "teknisk konfiguration for"],
            FormKind::Sftp => &["overvaagning af filafhentning", "sftp indbakke"],
        }
    }

    /// The it-system role the form is meant for.
    pub fn role(self) -> Role {
        match self {
            FormKind::Webservice => Role::Serviceudbydersystem,
            FormKind::Sftp => Role::Modtagersystem,
        }
    }
}

/// It-system roles (FORMS.md "Roles and their synonyms").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Serviceudbydersystem,
    Anvendersystem,
    Modtagersystem,
    Afsendersystem,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Serviceudbydersystem,
        Role::Anvendersystem,
        Role::Modtagersystem,
        Role::Afsendersystem,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Serviceudbydersystem => "serviceudbydersystem",
            Role::Anvendersystem => "anvendersystem",
            Role::Modtagersystem => "modtagersystem",
            Role::Afsendersystem => "afsendersystem",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Danish name as written on forms and in receipts.
    pub fn danish(self) -> &'static str {
        match self {
            Role::Serviceudbydersystem => "serviceudbydersystem",
            Role::Anvendersystem => "anvendersystem",
            Role::Modtagersystem => "modtagersystem",
            Role::Afsendersystem => "afsendersystem",
        }
    }
}

/// Role terms (normalised) and the role each names. The organisation terms of KOMBIT's
/// contracts are synonyms too.
pub const ROLE_TERMS: &[(&str, Role)] = &[
    ("serviceudbydersystem", Role::Serviceudbydersystem),
    ("serviceudbyder", Role::Serviceudbydersystem),
    ("serviceudbyderorganisation", Role::Serviceudbydersystem),
    ("dataejer", Role::Serviceudbydersystem),
    ("anvendersystem", Role::Anvendersystem),
    ("anvender", Role::Anvendersystem),
    ("anvenderorganisation", Role::Anvendersystem),
    ("datamodtager", Role::Anvendersystem),
    ("modtagersystem", Role::Modtagersystem),
    ("modtager", Role::Modtagersystem),
    ("afsendersystem", Role::Afsendersystem),
    ("afsender", Role::Afsendersystem),
];

/// Role terms that KOMBIT's contracts use for more than one role: "Modtagersystem" also means
/// the Serviceudbydersystem there. Such a term on the other form is `form.ambiguous`.
pub const AMBIGUOUS_ROLE_TERMS: &[&str] = &["modtagersystem", "modtager"];

/// The change codes (tick boxes under "Ændringer").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    SslCertificate,
    Url,
    Datatype,
    SecurityModel,
    Monitoring,
    SshKey,
}

/// One change tick box: its code, the label printed beside it, synonyms, and on which forms
/// the blank form prints it.
#[derive(Debug, PartialEq, Eq)]
pub struct ChangeDef {
    pub change: Change,
    pub code: &'static str,
    pub label: &'static str,
    pub synonyms: &'static [&'static str],
    pub on_forms: &'static [FormKind],
    /// Danish words for receipts ("SSL-certifikat for et anvendersystem").
    pub danish: &'static str,
}

pub const CHANGES: &[ChangeDef] = &[
    ChangeDef {
        change: Change::SslCertificate,
        code: "ssl_certificate",
        label: "SSL-certifikat",
        synonyms: &["SSL certifikat", "Certifikat", "SSL"],
        on_forms: &[FormKind::Webservice],
        danish: "SSL-certifikat",
    },
    ChangeDef {
        change: Change::Url,
        code: "url",
        label: "URL",
        synonyms: &["Endpoint"],
        on_forms: &[FormKind::Webservice],
        danish: "URL",
    },
    ChangeDef {
        change: Change::Datatype,
        code: "datatype",
        label: "Datatype (InfRef)",
        synonyms: &["Datatype", "InfRef"],
        on_forms: &[FormKind::Webservice],
        danish: "datatype (InfRef)",
    },
    ChangeDef {
        change: Change::SecurityModel,
        code: "security_model",
        label: "Sikkerhedsmodel",
        synonyms: &[],
        on_forms: &[FormKind::Webservice],
        danish: "sikkerhedsmodel",
    },
    ChangeDef {
        change: Change::Monitoring,
        code: "monitoring",
        label: "Overvågning af filafhentning",
        synonyms: &[
            "Overvågning af filafhentning (SFTP-indbakke)",
            "Overvågning af filafhentning SFTP indbakke",
        ],
        on_forms: &[FormKind::Sftp],
        danish: "overvågning af filafhentning",
    },
    ChangeDef {
        change: Change::SshKey,
        code: "ssh_key",
        label: "SSH-nøgle",
        synonyms: &["SSH nøgle", "SSH key"],
        on_forms: &[FormKind::Sftp],
        danish: "SSH-nøgle",
    },
];

impl Change {
    pub fn def(self) -> &'static ChangeDef {
        // Every variant has exactly one row in CHANGES (tested below).
        CHANGES
            .iter()
            .find(|d| d.change == self)
            .unwrap_or(&CHANGES[0])
    }

    pub fn code(self) -> &'static str {
        self.def().code
    }
}

/// Which forms a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    Both,
    Only(FormKind),
}

impl Applies {
    pub fn includes(self, kind: FormKind) -> bool {
        match self {
            Applies::Both => true,
            Applies::Only(k) => k == kind,
        }
    }
}

/// When a field must be filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Required {
    Always,
    Optional,
    /// Required when this change is ordered.
    WhenChange(Change),
    /// Required when monitoring is switched on (`Overvågning: Til`).
    WhenMonitoringOn,
}

/// How a field's value is read and normalised (see `values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Free text, kept as written (trimmed, whitespace collapsed).
    Text,
    /// The BestillingsID: an opaque token without spaces, 4–64 characters.
    OrderId,
    Environment,
    /// A date with an optional time, Europe/Copenhagen.
    DateTime,
    Cvr,
    Email,
    Phone,
    Uuid,
    Role,
    Changes,
    Url,
    /// The name of the attached certificate (the file itself is an attachment).
    Certificate,
    /// A certificate serial number (hex or decimal).
    Serial,
    SecurityModel,
    /// Til/Fra.
    Monitoring,
    Hours,
    EmailList,
}

/// One field of the forms.
#[derive(Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// FORMS.md field code, also the JSON key.
    pub code: &'static str,
    /// The label printed on the blank form.
    pub label: &'static str,
    pub synonyms: &'static [&'static str],
    pub applies: Applies,
    pub required: Required,
    pub vtype: ValueType,
    /// Danish guidance printed on the blank form and used when the value is missing or wrong.
    pub hint: &'static str,
}

use Applies::{Both, Only};
use FormKind::{Sftp, Webservice};

pub const FIELDS: &[FieldDef] = &[
    FieldDef {
        code: "bestillings_id",
        label: "KOMBIT BestillingsID",
        synonyms: &["BestillingsID", "Bestillings-ID", "Ordre-ID", "OrdreID"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::OrderId,
        hint: "det BestillingsID, du fik fra Digitaliseringskataloget (4-64 tegn uden mellemrum)",
    },
    FieldDef {
        code: "environment",
        label: "Miljø",
        synonyms: &["Miljø (Produktion / Eksternt testmiljø)"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Environment,
        hint: "Produktion eller Eksternt testmiljø",
    },
    FieldDef {
        code: "desired_at",
        label: "Ønsket tidspunkt for ændring",
        synonyms: &["Ønsket dato", "Dato for ændring", "Ønsket tidspunkt"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::DateTime,
        hint: "dato og evt. klokkeslæt, fx 14-12-2026 kl. 10.00",
    },
    FieldDef {
        code: "org_name",
        label: "Organisation",
        synonyms: &[
            "Forvaltningsansvarlig organisation",
            "Forvaltningsansvarlig",
        ],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Text,
        hint: "navnet på den forvaltningsansvarlige organisation",
    },
    FieldDef {
        code: "org_cvr",
        label: "CVR-nr.",
        synonyms: &["CVR", "CVR-nummer"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Cvr,
        hint: "organisationens 8-cifrede CVR-nummer",
    },
    FieldDef {
        code: "contact_name",
        label: "Kontaktperson",
        synonyms: &["Navn", "Kontaktpersonens navn"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Text,
        hint: "navnet på kontaktpersonen",
    },
    FieldDef {
        code: "contact_email",
        label: "E-mail",
        synonyms: &["Kontaktpersonens e-mail", "Email", "Mail", "E-mailadresse"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Email,
        hint: "kontaktpersonens e-mailadresse",
    },
    FieldDef {
        code: "contact_phone",
        label: "Telefon",
        synonyms: &["Tlf.", "Tlf", "Telefonnummer", "Telefonnr."],
        applies: Both,
        required: Required::Optional,
        vtype: ValueType::Phone,
        hint: "dansk telefonnummer med 8 cifre, evt. med +45",
    },
    FieldDef {
        code: "system_name",
        label: "It-system",
        synonyms: &["It-systeminstans", "System"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Text,
        hint: "it-systemets (it-systeminstansens) navn",
    },
    FieldDef {
        code: "system_uuid",
        label: "It-system UUID",
        synonyms: &["System-UUID", "UUID", "It-systeminstans UUID"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Uuid,
        hint: "it-systemets UUID, fx 6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
    },
    FieldDef {
        code: "system_role",
        label: "It-systemrolle",
        synonyms: &["Rolle", "Systemrolle"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Role,
        hint: "Serviceudbydersystem, Anvendersystem, Modtagersystem eller Afsendersystem",
    },
    FieldDef {
        code: "service_name",
        label: "Service",
        synonyms: &["Webservice", "Servicenavn"],
        applies: Only(Webservice),
        required: Required::Always,
        vtype: ValueType::Text,
        hint: "navnet på webservicen",
    },
    FieldDef {
        code: "service_uuid",
        label: "Service UUID",
        synonyms: &["Service-UUID", "Webservice UUID"],
        applies: Only(Webservice),
        required: Required::Optional,
        vtype: ValueType::Uuid,
        hint: "webservicens UUID",
    },
    FieldDef {
        code: "changes",
        label: "Ændringer",
        synonyms: &["Ønsket ændring", "Ændring", "Ønskede ændringer"],
        applies: Both,
        required: Required::Always,
        vtype: ValueType::Changes,
        hint: "sæt kryds ved den eller de ændringer, du bestiller",
    },
    FieldDef {
        code: "current_url",
        label: "Nuværende URL",
        synonyms: &["Eksisterende URL"],
        applies: Only(Webservice),
        required: Required::WhenChange(Change::Url),
        vtype: ValueType::Url,
        hint: "den URL, webservicen har i dag (https://...)",
    },
    FieldDef {
        code: "new_url",
        label: "Ny URL",
        synonyms: &[],
        applies: Only(Webservice),
        required: Required::WhenChange(Change::Url),
        vtype: ValueType::Url,
        hint: "den nye URL (https://...)",
    },
    FieldDef {
        code: "certificate",
        label: "Nyt SSL-certifikat",
        synonyms: &["Nyt certifikat", "SSL-certifikat fil", "Certifikatfil"],
        applies: Only(Webservice),
        required: Required::WhenChange(Change::SslCertificate),
        vtype: ValueType::Certificate,
        hint: "vedhæft certifikatet som .cer, .crt eller .pem og skriv filnavnet her",
    },
    FieldDef {
        code: "certificate_serial",
        label: "Certifikatets serienummer",
        synonyms: &["Serienummer", "Certifikat serienummer"],
        applies: Only(Webservice),
        required: Required::Optional,
        vtype: ValueType::Serial,
        hint: "certifikatets serienummer (hex)",
    },
    FieldDef {
        code: "datatype",
        label: "Ny datatype (InfRef)",
        synonyms: &["Ny datatype"],
        applies: Only(Webservice),
        required: Required::WhenChange(Change::Datatype),
        vtype: ValueType::Text,
        hint: "den nye datatype (InfRef)",
    },
    FieldDef {
        code: "security_model",
        label: "Ny sikkerhedsmodel",
        synonyms: &[],
        applies: Only(Webservice),
        required: Required::WhenChange(Change::SecurityModel),
        vtype: ValueType::SecurityModel,
        hint: "token (SAML-token/IDWS) eller kontekst (invocation/authority context)",
    },
    FieldDef {
        code: "sftp_user",
        label: "SFTP-bruger",
        synonyms: &["SFTP-indbakke", "Brugernavn"],
        applies: Only(Sftp),
        required: Required::Always,
        vtype: ValueType::Text,
        hint: "SFTP-brugeren (indbakken), der skal overvåges",
    },
    FieldDef {
        code: "monitoring",
        label: "Overvågning",
        synonyms: &["Overvågning til/fra"],
        applies: Only(Sftp),
        required: Required::Always,
        vtype: ValueType::Monitoring,
        hint: "Til eller Fra",
    },
    FieldDef {
        code: "pickup_deadline_hours",
        label: "Tidsgrænse for afhentning (timer)",
        synonyms: &["Tidsgrænse for afhentning", "Tidsgrænse"],
        applies: Only(Sftp),
        required: Required::WhenMonitoringOn,
        vtype: ValueType::Hours,
        hint: "antal timer (1-168), før vi advarer om en fil, der ikke er hentet",
    },
    FieldDef {
        code: "alert_emails",
        label: "Advisering til",
        synonyms: &["E-mail til advisering", "Advisering"],
        applies: Only(Sftp),
        required: Required::WhenMonitoringOn,
        vtype: ValueType::EmailList,
        hint: "en eller flere e-mailadresser, adskilt af komma",
    },
    FieldDef {
        code: "comment",
        label: "Bemærkninger",
        synonyms: &["Kommentar"],
        applies: Both,
        required: Required::Optional,
        vtype: ValueType::Text,
        hint: "evt. bemærkninger til Helpdesk",
    },
];

/// The options of the "Overvågning" field.
pub const MONITORING_ON: &[&str] = &["til", "on", "ja", "aktiv", "slaa til"];
pub const MONITORING_OFF: &[&str] = &["fra", "off", "nej", "inaktiv", "slaa fra"];

/// Looks up a field by code.
pub fn field(code: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.code == code)
}

/// The fields of one form, in the order the blank form prints them.
pub fn fields_for(kind: FormKind) -> impl Iterator<Item = &'static FieldDef> {
    FIELDS.iter().filter(move |f| f.applies.includes(kind))
}

/// Normalises a label (or a term) for matching: lower case, æ/ø/å as ae/oe/aa, punctuation
/// as spaces, whitespace collapsed, a trailing colon gone.
pub fn normalise(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars().flat_map(char::to_lowercase) {
        match c {
            'æ' | 'ä' => out.push_str("ae"),
            'ø' | 'ö' => out.push_str("oe"),
            'å' => out.push_str("aa"),
            'é' | 'è' => out.push('e'),
            'ü' => out.push('u'),
            c if c.is_alphanumeric() => out.push(c),
            _ => out.push(' '),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `normalise` with any parenthesised part removed: "Tidsgrænse for afhentning (timer)" also
/// matches "Tidsgrænse for afhentning".
fn normalise_without_parens(label: &str) -> String {
    let mut depth = 0usize;
    let mut kept = String::with_capacity(label.len());
    for c in label.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    normalise(&kept)
}

/// What a label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelMatch {
    Field(&'static FieldDef),
    Change(&'static ChangeDef),
}

/// A field or change label (or synonym), normalised with and without its parenthesised part.
struct Candidate {
    full: String,
    bare: String,
    names: LabelMatch,
}

/// Every field label and synonym, then every change label and synonym, in the order
/// [`match_label`] tries them, normalised once: matching a form's labels normalised every
/// candidate again for each label, a noticeable share of the CPU a mail costs.
static CANDIDATES: std::sync::LazyLock<Vec<Candidate>> = std::sync::LazyLock::new(|| {
    let candidate = |label: &str, names| Candidate {
        full: normalise(label),
        bare: normalise_without_parens(label),
        names,
    };
    let fields = FIELDS.iter().flat_map(|f| {
        std::iter::once(f.label)
            .chain(f.synonyms.iter().copied())
            .map(move |l| candidate(l, LabelMatch::Field(f)))
    });
    let changes = CHANGES.iter().flat_map(|c| {
        std::iter::once(c.label)
            .chain(c.synonyms.iter().copied())
            .map(move |l| candidate(l, LabelMatch::Change(c)))
    });
    fields.chain(changes).collect()
});

/// Matches a label against the field and change labels and their synonyms. Field labels win
/// over change labels ("Ny datatype (InfRef)" is a field, "Datatype (InfRef)" a tick box).
pub fn match_label(label: &str) -> Option<LabelMatch> {
    let full = normalise(label);
    if full.is_empty() || full.len() > 80 {
        return None;
    }
    let bare = normalise_without_parens(label);
    CANDIDATES
        .iter()
        .find(|c| c.full == full || (!bare.is_empty() && (c.full == bare || c.bare == bare)))
        .map(|c| c.names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `match_label` as it was before the candidates were normalised once: every candidate
    /// normalised again for each label.
    fn match_label_by_scanning(label: &str) -> Option<LabelMatch> {
        let full = normalise(label);
        if full.is_empty() || full.len() > 80 {
            return None;
        }
        let bare = normalise_without_parens(label);
        let same = |cand: &str| {
            let c = normalise(cand);
            c == full || (!bare.is_empty() && (c == bare || normalise_without_parens(cand) == bare))
        };
        for f in FIELDS {
            if same(f.label) || f.synonyms.iter().any(|s| same(s)) {
                return Some(LabelMatch::Field(f));
            }
        }
        for c in CHANGES {
            if same(c.label) || c.synonyms.iter().any(|s| same(s)) {
                return Some(LabelMatch::Change(c));
            }
        }
        None
    }

    #[test]
    fn precomputed_candidates_match_as_scanning_did() {
        let names = |m: Option<LabelMatch>| match m {
            Some(LabelMatch::Field(f)) => format!("field {}", f.code),
            Some(LabelMatch::Change(c)) => format!("change {:?}", c.change),
            None => "none".to_string(),
        };
        let labels = FIELDS
            .iter()
            .flat_map(|f| std::iter::once(f.label).chain(f.synonyms.iter().copied()))
            .chain(
                CHANGES
                    .iter()
                    .flat_map(|c| std::iter::once(c.label).chain(c.synonyms.iter().copied())),
            );
        let mut n = 0;
        for l in labels {
            let without_parens = l.split('(').next().unwrap_or(l).to_string();
            for variant in [
                l.to_string(),
                l.to_uppercase(),
                format!("{l}:"),
                format!(" {l} (ekstra)"),
                without_parens,
                format!("{l} x"),
            ] {
                assert_eq!(
                    names(match_label(&variant)),
                    names(match_label_by_scanning(&variant)),
                    "{variant:?}"
                );
                n += 1;
            }
        }
        assert!(n > 100, "{n} labels tried");
        for odd in [
            "",
            ":",
            "()",
            "(Ny datatype)",
            &"x".repeat(81),
            "Ukendt felt",
        ] {
            assert_eq!(
                names(match_label(odd)),
                names(match_label_by_scanning(odd)),
                "{odd:?}"
            );
        }
    }

    #[test]
    fn every_change_has_one_definition() {
        for c in [
            Change::SslCertificate,
            Change::Url,
            Change::Datatype,
            Change::SecurityModel,
            Change::Monitoring,
            Change::SshKey,
        ] {
            assert_eq!(CHANGES.iter().filter(|d| d.change == c).count(), 1);
            assert_eq!(serde_json::to_value(c).unwrap(), c.code());
        }
    }

    #[test]
    fn field_codes_are_unique() {
        let mut codes: Vec<_> = FIELDS.iter().map(|f| f.code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), FIELDS.len());
    }

    #[test]
    fn no_two_fields_share_a_label() {
        let mut seen = std::collections::HashMap::new();
        for f in FIELDS {
            for l in std::iter::once(&f.label).chain(f.synonyms) {
                if let Some(other) = seen.insert(normalise(l), f.code).filter(|o| *o != f.code) {
                    panic!("label {l} of {} also names {other}", f.code);
                }
            }
        }
    }

    #[test]
    fn labels_match_with_case_punctuation_and_danish_letters() {
        let code = |l: &str| match match_label(l) {
            Some(LabelMatch::Field(f)) => f.code,
            Some(LabelMatch::Change(c)) => c.code,
            None => "-",
        };
        assert_eq!(code("KOMBIT BestillingsID:"), "bestillings_id");
        assert_eq!(code("bestillings-id"), "bestillings_id");
        assert_eq!(code("Miljoe"), "environment");
        assert_eq!(code("MILJØ :"), "environment");
        assert_eq!(code("Oensket tidspunkt for aendring"), "desired_at");
        assert_eq!(code("CVR-nr."), "org_cvr");
        assert_eq!(code("CVR nr"), "org_cvr");
        assert_eq!(code("Tidsgrænse for afhentning"), "pickup_deadline_hours");
        assert_eq!(
            code("Tidsgrænse for afhentning (timer)"),
            "pickup_deadline_hours"
        );
        assert_eq!(code("Ny datatype (InfRef)"), "datatype");
        assert_eq!(code("Datatype (InfRef)"), "datatype");
        assert!(matches!(
            match_label("Datatype (InfRef)"),
            Some(LabelMatch::Change(_))
        ));
        assert_eq!(code("SSL-certifikat"), "ssl_certificate");
        assert_eq!(code("Nyt SSL-certifikat"), "certificate");
        assert_eq!(code("SSH-nøgle"), "ssh_key");
        assert_eq!(code("Overvågning"), "monitoring");
        assert_eq!(code("Hej"), "-");
        assert_eq!(code(""), "-");
    }
}
