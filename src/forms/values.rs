//! Value normalisation: turns what people write into FORMS.md's normal forms. Each function
//! returns `None` when the text cannot be normalised; the caller keeps the text as written and
//! reports `field.invalid`.

use crate::forms::fields::{
    AMBIGUOUS_ROLE_TERMS, FieldDef, MONITORING_OFF, MONITORING_ON, ROLE_TERMS, Role, normalise,
};
use crate::forms::raw::{TICK_GLYPHS, has_tick_glyph, leading_tick_glyph};
use crate::mail::header_value::Address;

/// Words (and a bare "x") that mean "ticked" when they are the whole value; besides the tick
/// glyphs ([`TICK_GLYPHS`]).
const TICKED_WORDS: &[&str] = &["x", "ja", "yes", "/yes", "on", "true", "1"];
/// Words that mean "not ticked" when they are the whole value; besides the tick glyphs.
const UNTICKED_WORDS: &[&str] = &["()", "nej", "no", "off", "/off", "false", "0", "-"];

/// The notes the blank form puts after a field's hint in its placeholder text
/// ([`crate::forms::blank::placeholder`]), normalised; "ændring af" is followed by the change.
const PLACEHOLDER_NOTES: &[&str] = &[
    "valgfrit",
    "udfyldes ved aendring af",
    "udfyldes naar overvaagning er slaaet til",
];

/// Fewest words of a hint cut short (at a line wrap, or ending in "…") that still count as
/// the hint: "Produktion" alone is a value, though the environment's hint starts with it.
const MIN_CUT_HINT_WORDS: usize = 3;

/// Whether `value` is the blank form's own grey hint or placeholder text for the field (an
/// editor or a PDF export kept it as text where the field was left empty): it then means
/// "empty", wherever a reader found it. Compared case- and space-insensitively, with or
/// without the placeholder's note ("(valgfrit)", "(udfyldes ved ændring af …)", "(udfyldes,
/// når overvågning er slået til)"), also cut short at a line wrap or ending in "…".
pub fn is_blank_hint(def: &FieldDef, value: &str) -> bool {
    let v = normalise(value);
    if v.is_empty() {
        return false;
    }
    let hint = normalise(def.hint);
    let placeholder = normalise(&crate::forms::blank::placeholder(def));
    if v == hint || v == placeholder {
        return true;
    }
    if let Some(i) = PLACEHOLDER_NOTES.iter().find_map(|n| v.find(n))
        && v.get(..i).map(str::trim_end) == Some(hint.as_str())
    {
        return true;
    }
    let t = value.trim_end();
    let ellipsis = t.ends_with('…') || t.ends_with("...");
    let whole_words = |full: &str| {
        full.strip_prefix(v.as_str())
            .is_some_and(|rest| ellipsis || rest.is_empty() || rest.starts_with(' '))
    };
    v.split(' ').count() >= MIN_CUT_HINT_WORDS && (whole_words(&placeholder) || whole_words(&hint))
}

/// The state of a tick box written as a whole value: `Some(true)` ticked, `Some(false)` not
/// ticked (also an empty value), `None` when the text is not a tick mark at all.
pub fn tick_state(value: &str) -> Option<bool> {
    let v = value.trim().to_lowercase();
    if v.is_empty() {
        return Some(false);
    }
    if let Some((_, state)) = TICK_GLYPHS.iter().find(|(g, _)| g.eq_ignore_ascii_case(&v)) {
        Some(*state)
    } else if TICKED_WORDS.contains(&v.as_str()) {
        Some(true)
    } else if UNTICKED_WORDS.contains(&v.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// Splits a value into tick items. Lines (and glyph-separated pieces on one line) with a mark
/// give `(option, ticked)`; a value without any mark is read as a comma/semicolon/newline list
/// of ticked options ("Ændringer: URL, SSL-certifikat"). A line that is only "X option" counts
/// as ticked too.
pub fn parse_ticks(value: &str) -> Vec<(String, bool)> {
    let has_glyph = has_tick_glyph(value);
    let mut out = Vec::new();
    if !has_glyph {
        for line in value.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("X ").or_else(|| line.strip_prefix("x ")) {
                out.push((rest.trim().to_string(), true));
                continue;
            }
            // "SSL-certifikat: Ja" / "URL - Nej" / "URL ☐" handled below; plain list otherwise.
            if let Some((opt, mark)) = line.rsplit_once([':', '='])
                && let Some(state) = tick_state(mark)
            {
                out.push((opt.trim().to_string(), state));
                continue;
            }
            for item in line.split([',', ';']) {
                let item = item.trim();
                if !item.is_empty() {
                    out.push((item.to_string(), true));
                }
            }
        }
        return out;
    }
    for line in value.lines() {
        out.extend(line_ticks(line));
    }
    out
}

enum Token {
    Mark(bool),
    Text(String),
}

/// Tick items of one line with glyph marks. A mark belongs to the text after it ("☒ Til"),
/// unless the line starts with text and ends with a mark ("URL ☒"): then to the text before.
fn line_ticks(line: &str) -> Vec<(String, bool)> {
    let mut tokens = Vec::new();
    let mut rest = line.trim();
    let mut text = String::new();
    while !rest.is_empty() {
        if let Some((g, state)) = leading_tick_glyph(rest) {
            push_text(&mut tokens, &mut text);
            tokens.push(Token::Mark(state));
            rest = &rest[g.len()..];
        } else if let Some(c) = rest.chars().next() {
            text.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    push_text(&mut tokens, &mut text);
    let trailing = matches!(tokens.first(), Some(Token::Text(_)))
        && matches!(tokens.last(), Some(Token::Mark(_)));
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Token::Mark(state) = t else { continue };
        let neighbour = if trailing {
            i.checked_sub(1).and_then(|j| tokens.get(j))
        } else {
            tokens.get(i + 1)
        };
        if let Some(Token::Text(opt)) = neighbour {
            out.push((opt.clone(), *state));
        }
    }
    out
}

fn push_text(tokens: &mut Vec<Token>, text: &mut String) {
    let t = text.trim().trim_matches([',', ';', ':']).trim();
    if !t.is_empty() {
        tokens.push(Token::Text(t.to_string()));
    }
    text.clear();
}

/// `parse_ticks` without empty options.
pub fn ticks(value: &str) -> Vec<(String, bool)> {
    parse_ticks(value)
        .into_iter()
        .filter(|(t, _)| !t.is_empty())
        .collect()
}

/// CVR: 8 digits with the modulus-11 check (weights 2,7,6,5,4,3,2,1); spaces and a leading
/// "DK" are ignored.
pub fn cvr(value: &str) -> Option<String> {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let digits = compact
        .strip_prefix("DK")
        .or_else(|| compact.strip_prefix("dk"))
        .unwrap_or(&compact);
    if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = digits
        .chars()
        .zip([2, 7, 6, 5, 4, 3, 2, 1])
        .map(|(d, w)| d.to_digit(10).unwrap_or(0) * w)
        .sum();
    sum.is_multiple_of(11).then(|| digits.to_string())
}

/// An RFC 4122 UUID in its hyphenated form (braces and upper case accepted, output lower case).
pub fn uuid(value: &str) -> Option<String> {
    let v = value.trim().trim_start_matches('{').trim_end_matches('}');
    if v.len() != 36 {
        return None;
    }
    uuid::Uuid::parse_str(v)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// One e-mail address ("Name <a@b.dk>" and "mailto:" accepted); lower-cased domain.
pub fn email(value: &str) -> Option<String> {
    let mut v = value.trim();
    if let (Some(start), Some(end)) = (v.rfind('<'), v.rfind('>'))
        && start < end
    {
        v = &v[start + 1..end];
    }
    let v = v.trim().trim_start_matches("mailto:").trim();
    // The address syntax is the crate's one validator's; a form's address must moreover be on
    // the internet: a host name (letters, digits, '-') under a top-level domain of letters.
    Address::new(v)?;
    let (local, domain) = v.rsplit_once('@')?;
    let labels: Vec<&str> = domain.split('.').collect();
    let internet = labels.len() >= 2
        && labels
            .iter()
            .all(|l| l.chars().all(|c| c.is_alphanumeric() || c == '-'))
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
    internet.then(|| format!("{local}@{}", domain.to_lowercase()))
}

/// A list of addresses separated by commas, semicolons, newlines or spaces. Returns every
/// item, each as `Ok(normalised)` or `Err(as written)`.
pub fn email_list(value: &str) -> Vec<Result<String, String>> {
    value
        .split([',', ';', '\n', '\r', '\t', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| email(s).ok_or_else(|| s.to_string()))
        .collect()
}

/// A Danish phone number: 8 digits, optionally after +45 or 0045; spaces and dashes ignored.
pub fn phone(value: &str) -> Option<String> {
    let compact: String = value
        .chars()
        .filter(|c| !c.is_whitespace() && !"-.()/".contains(*c))
        .collect();
    let digits = compact
        .strip_prefix("+45")
        .or_else(|| compact.strip_prefix("0045"))
        .unwrap_or(&compact);
    (digits.len() == 8 && digits.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("+45{digits}"))
}

/// The environment: `produktion` or `exttest`. A tick list picks its ticked option.
pub fn environment(value: &str) -> Option<&'static str> {
    let from_term = |t: &str| {
        let n = normalise(t);
        match n.as_str() {
            "produktion" | "prod" | "production" | "produktionsmiljoe" | "produktionsmiljo" => {
                Some("produktion")
            }
            "exttest"
            | "ext test"
            | "eksternt testmiljoe"
            | "eksternt test"
            | "test"
            | "testmiljoe"
            | "ekstern test"
            | "eksternt testmiljo"
            | "external test" => Some("exttest"),
            _ => None,
        }
    };
    if let Some(env) = from_term(value) {
        return Some(env);
    }
    let ticked: Vec<_> = ticks(value)
        .into_iter()
        .filter(|(_, on)| *on)
        .filter_map(|(t, _)| from_term(&t))
        .collect();
    match ticked.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// A role term: the role and whether the term names more than one role in KOMBIT's contracts.
pub fn role(value: &str) -> Option<(Role, bool)> {
    let n = normalise(value);
    let term = ROLE_TERMS.iter().find(|(t, _)| *t == n).or_else(|| {
        let ticked: Vec<_> = ticks(value).into_iter().filter(|(_, on)| *on).collect();
        match ticked.as_slice() {
            [(t, _)] => {
                let tn = normalise(t);
                ROLE_TERMS.iter().find(|(rt, _)| *rt == tn)
            }
            _ => None,
        }
    })?;
    Some((term.1, AMBIGUOUS_ROLE_TERMS.contains(&term.0)))
}

/// Monitoring Til/Fra: `Some(true)` on, `Some(false)` off. Both or neither ticked is `None`.
pub fn monitoring(value: &str) -> Option<bool> {
    let n = normalise(value);
    if MONITORING_ON.contains(&n.as_str()) {
        return Some(true);
    }
    if MONITORING_OFF.contains(&n.as_str()) {
        return Some(false);
    }
    let ticked: Vec<bool> = ticks(value)
        .into_iter()
        .filter(|(_, on)| *on)
        .filter_map(|(t, _)| monitoring_option(&t))
        .collect();
    match ticked.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// One monitoring option word ("Til" → on).
pub fn monitoring_option(text: &str) -> Option<bool> {
    let n = normalise(text);
    if MONITORING_ON.contains(&n.as_str()) {
        Some(true)
    } else if MONITORING_OFF.contains(&n.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// Hours: an integer optionally followed by "t", "timer", "time" or "h".
pub fn hours(value: &str) -> Option<i64> {
    let v = value.trim().to_lowercase();
    let num = v
        .strip_suffix("timer")
        .or_else(|| v.strip_suffix("time"))
        .or_else(|| v.strip_suffix("hours"))
        .or_else(|| v.strip_suffix('t'))
        .or_else(|| v.strip_suffix('h'))
        .unwrap_or(&v)
        .trim();
    if num.is_empty() || num.len() > 9 || !num.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse().ok()
}

/// The BestillingsID: no spaces, 4–64 characters.
pub fn order_id(value: &str) -> Option<String> {
    let v = value.trim();
    let n = v.chars().count();
    ((4..=64).contains(&n)
        && !v.chars().any(char::is_whitespace)
        && !v.chars().any(char::is_control))
    .then(|| v.to_string())
}

/// The security model: the configured model it names. The two default models have synonyms
/// from the process description; other configured models match by name.
pub fn security_model(value: &str, configured: &[String]) -> Option<String> {
    let n = normalise(value);
    let canonical = match n.as_str() {
        "token" | "saml token" | "samltoken" | "idws" | "saml token idws" | "saml" => "token",
        "kontekst"
        | "context"
        | "invocation context"
        | "authority context"
        | "invocation authority context"
        | "kontekst invocation authority context" => "kontekst",
        _ => n.as_str(),
    };
    configured
        .iter()
        .find(|m| normalise(m) == canonical)
        .cloned()
}

/// Free text: trimmed, runs of whitespace collapsed.
pub fn text(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blank_forms_hints_count_as_empty_in_every_variant() {
        let f = |code| crate::forms::fields::field(code).unwrap();
        let phone = f("contact_phone");
        for blank in [
            "Dansk telefonnummer med 8 cifre, evt. med +45 (valgfrit)",
            "dansk  telefonnummer med 8 cifre, evt. med +45",
            "DANSK TELEFONNUMMER MED 8 CIFRE, EVT. MED +45 (VALGFRIT)",
            "Dansk telefonnummer med 8 cifre …",
            "Dansk telefonnummer med 8 cif…",
            "Dansk telefonnummer med 8\ncifre, evt. med +45",
            "Dansk telefonnummer med 8 cifre",
        ] {
            assert!(is_blank_hint(phone, blank), "{blank:?}");
        }
        for value in ["12345678", "+45 12 34 56 78", "Dansk", "", "Dansk tele fon"] {
            assert!(!is_blank_hint(phone, value), "{value:?}");
        }
        let new_url = f("new_url");
        assert!(is_blank_hint(
            new_url,
            "Den nye URL (https://...) (udfyldes ved ændring af URL)"
        ));
        assert!(is_blank_hint(
            new_url,
            "Den nye URL (https://...) (udfyldes ved ændring af …)"
        ));
        let hours = f("pickup_deadline_hours");
        assert!(is_blank_hint(
            hours,
            "Antal timer (1-168), før vi advarer om en fil, der ikke er hentet (udfyldes, når \
             overvågning er slået til)"
        ));
        assert!(!is_blank_hint(hours, "24"));
        let env = f("environment");
        assert!(!is_blank_hint(env, "Produktion"));
        assert!(is_blank_hint(env, "Produktion eller Eksternt testmiljø"));
    }

    #[test]
    fn cvr_modulus_11() {
        assert_eq!(cvr("39055414").as_deref(), Some("39055414"));
        assert_eq!(cvr("DK 3905 5414").as_deref(), Some("39055414"));
        assert_eq!(cvr("39055415"), None);
        assert_eq!(cvr("3905541"), None);
        assert_eq!(cvr("3905541x"), None);
        assert_eq!(cvr(""), None);
    }

    #[test]
    fn uuids() {
        assert_eq!(
            uuid("{BC4D13DC-D6C9-4F01-A9F1-8630B9C48CB0}").as_deref(),
            Some("bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb0")
        );
        assert_eq!(uuid("bc4d13dc-d6c9-4f01-a9f1-8630b9c48cb"), None);
        assert_eq!(uuid("bc4d13dcd6c94f01a9f18630b9c48cb0"), None);
    }

    #[test]
    fn emails() {
        assert_eq!(
            email("Karin <kaho@Vestaa.DK>").as_deref(),
            Some("kaho@vestaa.dk")
        );
        assert_eq!(email("mailto:a.b@c.dk").as_deref(), Some("a.b@c.dk"));
        assert_eq!(email("vagt(at)kystby.dk"), None);
        assert_eq!(email("a@b"), None);
        assert_eq!(email("a..b@c.dk"), None);
        let list = email_list("a@b.dk; vagt(at)kystby.dk,\nc@d.dk");
        assert_eq!(list.len(), 3);
        assert_eq!(list[1], Err("vagt(at)kystby.dk".to_string()));
    }

    #[test]
    fn phones() {
        assert_eq!(phone("+45 71 23 45 60").as_deref(), Some("+4571234560"));
        assert_eq!(phone("44 55 66 77").as_deref(), Some("+4544556677"));
        assert_eq!(phone("1234"), None);
    }

    #[test]
    fn every_glyph_of_the_one_tick_list_is_a_mark() {
        // ❑ was known to the text reader only: here it was part of the option's text.
        assert_eq!(tick_state("❑"), Some(false));
        assert_eq!(
            ticks("❑ URL ✗ Datatype"),
            vec![("URL".into(), false), ("Datatype".into(), true)]
        );
    }

    #[test]
    fn ticks_in_every_style() {
        assert_eq!(
            ticks("☒ SSL-certifikat\n☐ URL"),
            vec![("SSL-certifikat".into(), true), ("URL".into(), false)]
        );
        assert_eq!(
            ticks("☒ Til ☐ Fra"),
            vec![("Til".into(), true), ("Fra".into(), false)]
        );
        assert_eq!(
            ticks("  [ ] SSL-certifikat\n  [X] URL"),
            vec![("SSL-certifikat".into(), false), ("URL".into(), true)]
        );
        assert_eq!(
            ticks("URL, SSL-certifikat"),
            vec![("URL".into(), true), ("SSL-certifikat".into(), true)]
        );
        assert_eq!(
            ticks("SSL-certifikat: Ja"),
            vec![("SSL-certifikat".into(), true)]
        );
        assert_eq!(
            ticks("URL ☒\nDatatype ☐"),
            vec![("URL".into(), true), ("Datatype".into(), false)]
        );
        assert_eq!(tick_state("☒"), Some(true));
        assert_eq!(tick_state(""), Some(false));
        assert_eq!(tick_state("Nej"), Some(false));
        assert_eq!(tick_state("https://x"), None);
    }

    #[test]
    fn environments_roles_monitoring_hours() {
        assert_eq!(environment("Produktion"), Some("produktion"));
        assert_eq!(environment("Eksternt testmiljø"), Some("exttest"));
        assert_eq!(environment("Exttest"), Some("exttest"));
        assert_eq!(
            environment("☐ Produktion ☒ Eksternt testmiljø"),
            Some("exttest")
        );
        assert_eq!(environment("Staging"), None);
        assert_eq!(
            role("Serviceudbyder"),
            Some((Role::Serviceudbydersystem, false))
        );
        assert_eq!(role("Modtagersystem"), Some((Role::Modtagersystem, true)));
        assert_eq!(role("Dataejer"), Some((Role::Serviceudbydersystem, false)));
        assert_eq!(monitoring("Til"), Some(true));
        assert_eq!(monitoring("☐ Til ☒ Fra"), Some(false));
        assert_eq!(monitoring("☒ Til ☒ Fra"), None);
        assert_eq!(hours("24"), Some(24));
        assert_eq!(hours("24 timer"), Some(24));
        assert_eq!(hours("12t"), Some(12));
        assert_eq!(hours("200 h"), Some(200));
        assert_eq!(hours("mange"), None);
        assert_eq!(hours("99999999999999999999"), None);
    }

    #[test]
    fn order_ids_and_models() {
        assert_eq!(order_id(" BD-7731 ").as_deref(), Some("BD-7731"));
        assert_eq!(order_id("BD 7731"), None);
        assert_eq!(order_id("abc"), None);
        let models = vec!["token".to_string(), "kontekst".to_string()];
        assert_eq!(
            security_model("SAML-token (IDWS)", &models).as_deref(),
            Some("token")
        );
        assert_eq!(
            security_model("Kontekst", &models).as_deref(),
            Some("kontekst")
        );
        assert_eq!(security_model("OAuth 2.0", &models), None);
    }
}
