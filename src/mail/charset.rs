//! The headers spdesk shows (Subject, the From display name) in the charset the sender's
//! program wrote them in. RFC 2047 encoded words in any charset real mail uses (ISO-2022-JP,
//! GB18030, Shift_JIS, KOI8-R, ...) are decoded by mail-parser (its `full_encoding` feature);
//! what is left are fields written without encoded words: raw 8-bit bytes (old Russian and
//! Western clients, KOI8-R or windows-1252) or raw ISO-2022-JP escape sequences (older Japanese
//! clients). mail-parser reads those as UTF-8 and gets U+FFFD or the escape sequences
//! themselves; here their charset is guessed (chardetng, with the sender's top-level domain as
//! a hint) and the field read again from UTF-8.
//!
//! The cost stays off the common path: a field that is valid UTF-8 without an escape byte (all
//! but a few mails) is only checked, never re-read.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use mail_parser::{HeaderName, Message, MessageParser};

/// ESC: raw ISO-2022-JP switches its character sets with escape sequences.
const ESC: u8 = 0x1b;

/// The subject as the sender wrote it: mail-parser's reading, or the field read again in its
/// guessed charset when it was written in raw 8-bit or raw ISO-2022-JP.
pub(super) fn subject(msg: &Message<'_>) -> String {
    let read = match transcoded(msg, &HeaderName::Subject) {
        Some(utf8) => reparse("Subject", &utf8, |m| m.subject().map(str::to_string)),
        // Encoded words split inside a character (mail/encoded_words.rs).
        None => raw_field(msg, &HeaderName::Subject)
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .filter(|v| v.contains("=?"))
            .and_then(|v| super::encoded_words::joined(&v.replace(['\r', '\n'], ""))),
    };
    read.or_else(|| msg.subject().map(str::to_string))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The From header's first address as mail-parser gives it, read again in its guessed charset
/// when the field was written in raw 8-bit or raw ISO-2022-JP (a display name in KOI8-R).
pub(super) fn from_address<T>(
    msg: &Message<'_>,
    read: impl Fn(Option<&mail_parser::Address<'_>>) -> T,
) -> T {
    match transcoded(msg, &HeaderName::From) {
        Some(utf8) => {
            reparse("From", &utf8, |m| Some(read(m.from()))).unwrap_or_else(|| read(None))
        }
        None => read(msg.from()),
    }
}

/// True when `s` can be shown to a person: no U+FFFD (bytes that decoded to nothing) and no
/// control characters but line breaks and tabs (which every header we write turns into
/// spaces): an escape sequence left over or a NUL means the text was not decoded. A subject
/// that is not displayable goes into no receipt (RECEIPTS.md: the order reference alone).
pub fn is_displayable(s: &str) -> bool {
    !s.chars().any(|c| {
        c == char::REPLACEMENT_CHARACTER || (c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    })
}

/// The root header field `name` in UTF-8, when its raw bytes need a charset guess (not valid
/// UTF-8, or raw ISO-2022-JP); `None` when mail-parser's own reading stands.
fn transcoded(msg: &Message<'_>, name: &HeaderName<'_>) -> Option<String> {
    let raw = raw_field(msg, name)?;
    // Raw ISO-2022-JP is 7-bit: a field with other non-ASCII UTF-8 is UTF-8, escape or not.
    let raw_iso_2022_jp = raw.is_ascii() && raw.contains(&ESC);
    if std::str::from_utf8(raw).is_ok() && !raw_iso_2022_jp {
        return None;
    }
    Some(guess_decode(raw, sender_tld(msg).as_deref()))
}

/// The raw bytes of the mail's first header field `name` (its value, folded as sent).
fn raw_field<'m>(msg: &'m Message<'_>, name: &HeaderName<'_>) -> Option<&'m [u8]> {
    let field = msg
        .parts
        .first()?
        .headers
        .iter()
        .find(|h| &h.name == name)?;
    let start = usize::try_from(field.offset_start).ok()?;
    let end = usize::try_from(field.offset_end).ok()?;
    msg.raw_message.get(start..end)
}

/// `raw` decoded in the charset chardetng guesses for it; `tld` (lower-case ASCII letters,
/// digits and `-` only) tells it which languages are likely.
fn guess_decode(raw: &[u8], tld: Option<&str>) -> String {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    detector.feed(raw, true);
    let encoding = detector.guess(tld.map(str::as_bytes), Utf8Detection::Deny);
    encoding.decode_without_bom_handling(raw).0.into_owned()
}

/// The last label of the From address's domain, as chardetng wants it (lower case, no dot,
/// ASCII): `None` for anything else, which chardetng would refuse with a panic.
fn sender_tld(msg: &Message<'_>) -> Option<String> {
    let address = msg.from()?.first()?.address()?;
    let tld = address.rsplit(['@', '.']).next()?.to_ascii_lowercase();
    let plain = !tld.is_empty()
        && tld
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    plain.then_some(tld)
}

/// Parses `name: value` (UTF-8 now, as RFC 6532 allows) on its own and reads it with `read`.
fn reparse<T>(name: &str, value: &str, read: impl Fn(&Message<'_>) -> Option<T>) -> Option<T> {
    // The value still ends with its line break, or is the last line of the section.
    let field = format!("{name}:{}\r\n\r\n", value.trim_end());
    let msg = MessageParser::new().parse_headers(field.as_bytes())?;
    read(&msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Mail;

    fn parsed(headers: &[u8]) -> Mail {
        let mut raw = headers.to_vec();
        raw.extend_from_slice(b"\r\n\r\nHej\r\n");
        Mail::parse(&raw, 3).expect("a mail")
    }

    fn subject_of(field: &[u8]) -> String {
        let mut headers = b"From: a@example.test\r\nSubject: ".to_vec();
        headers.extend_from_slice(field);
        parsed(&headers).subject
    }

    #[test]
    fn encoded_words_in_east_asian_charsets() {
        // ISO-2022-JP in an encoded word: "ハロー・ワールド".
        assert_eq!(
            subject_of(b"=?ISO-2022-JP?B?GyRCJU8lbSE8ISYlbyE8JWslSRsoQg==?="),
            "ハロー・ワールド"
        );
        // GB18030: "你好，世界".
        assert_eq!(subject_of(b"=?GB18030?B?xOO6w6OsysC95w==?="), "你好，世界");
        assert_eq!(subject_of(b"=?gb2312?Q?=C4=E3=BA=C3?="), "你好");
        // Split inside a character over two words (mail/encoded_words.rs).
        assert_eq!(
            subject_of(
                b"=?ISO-2022-JP?B?GyRCJU8lbSE8?=\r\n =?ISO-2022-JP?B?ISYlbyE8JWslSRsoQg==?="
            ),
            "ハロー・ワールド"
        );
        // Shift_JIS: "ハロー・ワールド".
        assert_eq!(
            subject_of(b"=?Shift_JIS?B?g26DjYFbgUWDj4Fbg4uDaA==?="),
            "ハロー・ワールド"
        );
    }

    #[test]
    fn encoded_words_in_koi8_r() {
        // "Привет, мир".
        assert_eq!(
            subject_of(b"=?KOI8-R?Q?=F0=D2=C9=D7=C5=D4=2C_=CD=C9=D2?="),
            "Привет, мир"
        );
    }

    #[test]
    fn raw_8bit_subjects_are_guessed() {
        // KOI8-R without encoded words from a .ru sender: "Заявка на изменение конфигурации".
        let koi8 = encoding_rs::KOI8_R
            .encode("Заявка на изменение конфигурации")
            .0
            .into_owned();
        let mut headers = b"From: ivan@example.ru\r\nSubject: ".to_vec();
        headers.extend_from_slice(&koi8);
        assert_eq!(parsed(&headers).subject, "Заявка на изменение конфигурации");
        // windows-1252 (a Danish client without encoded words).
        let latin = encoding_rs::WINDOWS_1252
            .encode("Bestilling: ændring af SSL-certifikat til Sagsoverblik")
            .0
            .into_owned();
        let mut headers = b"From: fa@kommune.dk\r\nSubject: ".to_vec();
        headers.extend_from_slice(&latin);
        assert_eq!(
            parsed(&headers).subject,
            "Bestilling: ændring af SSL-certifikat til Sagsoverblik"
        );
        // Raw ISO-2022-JP escape sequences: "ハロー・ワールド".
        assert_eq!(
            subject_of(b"\x1b$B%O%m!<!&%o!<%k%I\x1b(B"),
            "ハロー・ワールド"
        );
        // UTF-8 stays UTF-8, also with a stray escape byte (which keeps it out of receipts).
        assert_eq!(subject_of("Bestilling æøå".as_bytes()), "Bestilling æøå");
        assert_eq!(subject_of("æøå \x1b".as_bytes()), "æøå \u{1b}");
    }

    #[test]
    fn a_raw_8bit_display_name_is_guessed_and_the_address_kept() {
        let name = encoding_rs::KOI8_R.encode("Иван Петров").0.into_owned();
        let mut headers = b"From: ".to_vec();
        headers.extend_from_slice(&name);
        headers.extend_from_slice(b" <ivan@Example.RU>\r\nSubject: x");
        let m = parsed(&headers);
        assert_eq!(m.from_name.as_deref(), Some("Иван Петров"));
        assert_eq!(m.from.as_deref(), Some("ivan@example.ru"));
        // A hostile TLD (non-ASCII, upper case) is no hint, and no panic.
        let mut headers = "From: x@example.ДОМ\r\nSubject: ".as_bytes().to_vec();
        headers.extend_from_slice(&name);
        assert!(!parsed(&headers).subject.is_empty());
    }

    #[test]
    fn undecodable_subjects_are_not_displayable() {
        assert!(is_displayable("Bestilling: ændring – 你好"));
        assert!(is_displayable(""));
        assert!(!is_displayable("Bestilling \u{fffd}\u{fffd}"));
        assert!(!is_displayable("\u{1b}$B%O%m\u{1b}(B"));
        assert!(!is_displayable("a\u{0}b"));
        // An encoded word whose charset nobody knows, or whose bytes are garbage.
        // Garbage in, the reference alone out.
        let raw = b"From: a@example.test\r\nSubject: \xff\xfe\x00\x01\x1b\r\n\r\nHej\r\n";
        let m = Mail::parse(raw, 3).expect("a mail");
        assert_eq!(
            crate::orders::receipts::subject(
                "SP-2026-00001",
                crate::orders::receipts::ReceiptKind::Modtaget,
                &m.subject
            ),
            "SV: [SP-2026-00001] Din henvendelse til Serviceplatformens Helpdesk",
            "{:?}",
            m.subject
        );
        let unknown = subject_of(b"=?x-unknown-42?B?/////w==?=");
        let garbage = subject_of(b"=?UTF-8?B?/////w==?=");
        assert!(!is_displayable(&garbage), "{garbage:?}");
        assert!(!is_displayable(&unknown), "{unknown:?}");
    }
}
