//! Header values are built, never pasted: every value spdesk writes into a header of a mail it
//! sends (subject, display names, addresses, Message-IDs, In-Reply-To/References, attachment
//! file names) is one of the types here, and every composer starts its mail from
//! [`builder`], which takes only these types.
//!
//! Why one module and these types: the values come from hostile mail (a subject with an
//! RFC 2047-encoded CR/LF decodes to a real line break; a Message-ID can carry a bare CR), and
//! mail-builder writes plain ASCII header text as it is. A pasted line break ends our header
//! block early: the receipt then carries the sender's headers and body, and our loop-safety
//! headers land in the body. The types cannot be built without the check, so a new composer
//! cannot forget it; [`builder`] writes the loop-safety headers (Auto-Submitted, X-Loop,
//! X-Auto-Response-Suppress) the same way for every mail.
//!
//! Free text loses its control characters (C0, DEL, C1, U+2028/2029; each run becomes one
//! space); a Message-ID or address that would be invalid without them is refused (`None`), so
//! a threading header is left out rather than repaired into someone else's id.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address as MbAddress;
use mail_builder::headers::message_id::MessageId as MbMessageId;
use mail_builder::headers::raw::Raw;

use crate::orders::receipts::LOOP_HEADER;

/// The display name of every mail spdesk sends.
pub const FROM_NAME: &str = "Serviceplatformens Helpdesk";

/// At most this many characters of free text in one header (a subject from a hostile mail
/// can be long; a receipt's subject needs only its start).
const MAX_TEXT_CHARS: usize = 900;
/// At most this many characters of a person's name ([`HeaderText::name`]): room for any real
/// name, and a `To:` line well under 998 characters even when every character is encoded.
pub const MAX_NAME_CHARS: usize = 64;
/// RFC 5321 4.5.3.1.3: a path is at most 256 octets, so an address at most 254.
const MAX_ADDRESS_BYTES: usize = 254;
/// A Message-ID longer than this is not one a mail program wrote.
const MAX_MESSAGE_ID_BYTES: usize = 250;
/// References kept on a reply: the thread's first id and the latest ones (RFC 5322 3.6.4
/// allows trimming; a hostile mail could otherwise make every receipt's header huge).
const MAX_REFERENCES: usize = 20;

/// A character that must never reach a header: C0 controls (CR, LF, TAB, NUL, ...), DEL, C1
/// controls (NEL, ...) and the Unicode line and paragraph separators.
pub fn is_header_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Unstructured header text (subject, display name, file name) without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderText(String);

impl HeaderText {
    /// `text` with every run of control characters replaced by one space, trimmed, and cut
    /// to [`MAX_TEXT_CHARS`] characters.
    pub fn new(text: &str) -> HeaderText {
        let mut out = String::with_capacity(text.len().min(MAX_TEXT_CHARS * 4));
        let mut in_control = false;
        for c in text.trim().chars().take(MAX_TEXT_CHARS) {
            if is_header_control(c) {
                if !in_control {
                    out.push(' ');
                }
                in_control = true;
            } else {
                out.push(c);
                in_control = false;
            }
        }
        HeaderText(out.trim().to_string())
    }

    /// A person's name (a display name in `To:`, the greeting's "Kære …"): [`HeaderText::new`]
    /// with every run of whitespace one space, cut to [`MAX_NAME_CHARS`] characters. The name
    /// comes from the sender's From; mail-builder writes a display name as one unfolded
    /// encoded word, so a long one made a `To:` line past RFC 5322's 998 characters (which an
    /// MTA may refuse), and it put the sender's text in a Helpdesk mail's first line.
    pub fn name(text: &str) -> HeaderText {
        let text = HeaderText::new(text);
        let words = text.0.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = words.chars().take(MAX_NAME_CHARS).collect();
        HeaderText(cut.trim().to_string())
    }

    /// An attachment's file name: [`HeaderText::new`], cut to [`MAX_FILE_NAME_CHARS`]
    /// characters with its extension kept. mail-builder writes the name unfolded, so a sender's
    /// 900-character name made a staff mail's part header longer than an MTA takes.
    pub fn file_name(text: &str) -> HeaderText {
        if text.chars().count() <= MAX_FILE_NAME_CHARS {
            return HeaderText::new(text);
        }
        let ext = text
            .rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| !e.is_empty() && e.chars().count() <= 10)
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let keep = MAX_FILE_NAME_CHARS - ext.chars().count() - 1;
        let stem: String = text.chars().take(keep).collect();
        HeaderText::new(&format!("{}…{ext}", stem.trim_end()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The longest attachment file name written into a mail we send.
pub const MAX_FILE_NAME_CHARS: usize = 100;

/// The content type of a file whose own type is unknown or unusable.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// The longest `type/subtype` written into a MIME part header (RFC 6838 4.2 allows 127
/// characters on either side).
const MAX_MIME_TYPE_CHARS: usize = 127;

/// `text` as a MIME part's `type/subtype` when it is one (RFC 2045 token characters on both
/// sides of one `/`, at most [`MAX_MIME_TYPE_CHARS`] in all), lower-cased; else
/// [`OCTET_STREAM`]. The type of an attachment comes from the sender's mail, and mail-builder
/// writes it into the part header as it is: a bare CR, a quote or 8-bit bytes there would
/// rewrite the part of a staff mail.
pub fn mime_type(text: &str) -> String {
    fn token(t: &str) -> bool {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    }
    match text.split_once('/') {
        Some((t, sub)) if text.len() <= MAX_MIME_TYPE_CHARS && token(t) && token(sub) => {
            text.to_ascii_lowercase()
        }
        _ => OCTET_STREAM.to_string(),
    }
}

/// The characters RFC 8187 (`filename*=UTF-8\'\'...`) lets stand; every other byte is
/// percent-encoded.
const ATTR_CHAR_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The `Content-Disposition` of a file the web console hands out for download (an attachment
/// or an original mail): always `attachment`, never shown in the browser, under `name` made
/// safe: no folder part (a sender's name may be `../../x` or `C:\\x`), no control characters,
/// quotes or backslashes, at most [`MAX_FILE_NAME_CHARS`] characters; `fallback` when nothing
/// is left. The name is written twice: as ASCII in `filename` for old clients and whole in
/// `filename*` (UTF-8, percent-encoded), so Danish letters survive.
pub fn attachment_disposition(name: &str, fallback: &str) -> String {
    let base = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .replace(['"', '\\'], "");
    let clean = HeaderText::file_name(&base);
    let clean = match clean.as_str().trim_matches('.') {
        "" => HeaderText::file_name(fallback),
        _ => clean,
    };
    let ascii: String = clean
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+ ()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(clean.as_str(), ATTR_CHAR_ESCAPED);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A Message-ID (without the angle brackets): visible ASCII only, no `<`/`>`, bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageId(String);

impl MessageId {
    /// The id, or `None` when it holds anything but visible ASCII (a CR, a space, a bracket
    /// inside, non-ASCII), is empty or overlong.
    pub fn new(id: &str) -> Option<MessageId> {
        let id = id.trim();
        let id = id
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(id);
        let valid = !id.is_empty()
            && id.len() <= MAX_MESSAGE_ID_BYTES
            && id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
        valid.then(|| MessageId(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A mailbox address `local@domain`: no control characters, spaces or the characters that
/// end or split an address in a header (`<>,;:"()[]\`), exactly one `@`, bounded, and the
/// address syntax of RFC 5321/5322 (dot-atom local part, domain labels, IDN) as lettre checks
/// it. The crate's one address validator: the config's addresses are checked with it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    /// The address, or `None` when it is not one spdesk can write safely.
    pub fn new(address: &str) -> Option<Address> {
        let a = address.trim();
        let (local, domain) = a.split_once('@')?;
        let valid = a.len() <= MAX_ADDRESS_BYTES
            && header_safe(local)
            && header_safe(domain)
            && lettre::Address::new(local, domain).is_ok();
        valid.then(|| Address(a.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// Not empty, and none of the characters that end or split an address in a header.
fn header_safe(part: &str) -> bool {
    let allowed = |c: char| {
        !is_header_control(c)
            && !c.is_whitespace()
            && !matches!(
                c,
                '<' | '>' | ',' | ';' | ':' | '"' | '(' | ')' | '[' | ']' | '\\' | '@'
            )
    };
    !part.is_empty() && part.chars().all(allowed)
}

/// A domain name as the domain part of an [`Address`] may be (e.g. `helpdesk.own_domains`).
pub fn is_domain(domain: &str) -> bool {
    header_safe(domain) && lettre::Address::new("postmaster", domain).is_ok()
}

/// Each address checked; the error names the first one that is not valid.
pub fn addresses(list: &[String], what: &str) -> Result<Vec<Address>, String> {
    list.iter()
        .map(|a| {
            Address::new(a).ok_or_else(|| {
                format!("{what}: {a:?} is not a valid mail address (control characters, spaces or brackets); correct it")
            })
        })
        .collect()
}

/// Our sender (`helpdesk.address`) and configured recipients (`to_key`, e.g.
/// `helpdesk.digest_to`), checked; the error names the config key to correct.
pub fn sender_and_recipients(
    from: &str,
    to: &[String],
    to_key: &str,
) -> Result<(Address, Vec<Address>), String> {
    let sender = Address::new(from).ok_or_else(|| {
        format!("helpdesk.address {from:?} is not a valid mail address; correct it in the config")
    })?;
    Ok((sender, addresses(to, to_key)?))
}

/// A Message-ID spdesk made itself (from a reference, a date, a hash): refused only when
/// what it was made from is broken, which the error names.
pub fn own_message_id(id: &str) -> Result<MessageId, String> {
    MessageId::new(id).ok_or_else(|| format!("{id:?} is not a valid Message-ID"))
}

/// How a mail of ours is automatic (RFC 3834 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoSubmitted {
    /// An answer to a mail (receipts).
    Replied,
    /// Made by spdesk on its own (review, digest, billing, incident).
    Generated,
}

/// The header block of a mail spdesk sends, from checked values only.
pub struct Envelope<'a> {
    /// Our address; the display name is always [`FROM_NAME`].
    pub from: &'a Address,
    pub to: &'a [Address],
    /// The display name of each of `to` (same order; missing or empty: the bare address).
    pub to_names: &'a [HeaderText],
    pub subject: &'a HeaderText,
    pub message_id: &'a MessageId,
    /// Unix time for the Date header.
    pub date: i64,
    pub auto_submitted: AutoSubmitted,
    /// The mail this one answers, with the thread's earlier ids.
    pub in_reply_to: Option<&'a MessageId>,
    pub references: &'a [MessageId],
}

impl<'a> Envelope<'a> {
    /// A mail spdesk writes on its own to the Helpdesk (digest, billing, review summary): not
    /// a reply to anything, marked `auto-generated`.
    pub fn generated(
        from: &'a Address,
        to: &'a [Address],
        subject: &'a HeaderText,
        message_id: &'a MessageId,
        date: i64,
    ) -> Self {
        Envelope {
            from,
            to,
            to_names: &[],
            subject,
            message_id,
            date,
            auto_submitted: AutoSubmitted::Generated,
            in_reply_to: None,
            references: &[],
        }
    }
}

/// A message builder with the whole header block set: From, To, Subject, Message-ID, Date,
/// the loop-safety headers and, for a reply, In-Reply-To and References. The caller adds
/// only bodies and attachments (with [`HeaderText`] file names).
pub fn builder(e: Envelope<'_>) -> MessageBuilder<'static> {
    let to: Vec<MbAddress<'static>> =
        e.to.iter()
            .enumerate()
            .map(|(i, a)| {
                let name = e
                    .to_names
                    .get(i)
                    .map(|n| n.0.clone())
                    .filter(|n| !n.is_empty());
                MbAddress::new_address(name, a.0.clone())
            })
            .collect();
    let mut b = MessageBuilder::new()
        .from((FROM_NAME.to_string(), e.from.0.clone()))
        .to(MbAddress::new_list(to))
        .subject(e.subject.0.clone())
        .message_id(e.message_id.0.clone())
        .date(e.date)
        .header(
            "Auto-Submitted",
            Raw::new(match e.auto_submitted {
                AutoSubmitted::Replied => "auto-replied",
                AutoSubmitted::Generated => "auto-generated",
            }),
        )
        .header(LOOP_HEADER, Raw::new(e.from.0.clone()))
        .header("X-Auto-Response-Suppress", Raw::new("All"));
    if let Some(parent) = e.in_reply_to {
        let mut refs: Vec<String> = e.references.iter().map(|r| r.0.clone()).collect();
        refs.push(parent.0.clone());
        if refs.len() > MAX_REFERENCES {
            // Keep the thread's root and the newest ids.
            let tail = refs.split_off(refs.len() - (MAX_REFERENCES - 1));
            refs.truncate(1);
            refs.extend(tail);
        }
        b = b
            .in_reply_to(parent.0.clone())
            .references(MbMessageId::new_list(refs.into_iter()));
    }
    b
}

/// Adds `Reply-To: address` (checked) to a builder: the Helpdesk's copy of a requester's
/// message is answered straight to the requester.
pub fn with_reply_to<'x>(b: MessageBuilder<'x>, address: &Address) -> MessageBuilder<'x> {
    b.reply_to(MbAddress::new_address(None::<String>, address.0.clone()))
}

/// A `Thread-Index` value: base64 only, bounded (Outlook's conversation index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadIndex(String);

impl ThreadIndex {
    /// The value, or `None` when it holds anything but base64 characters or is overlong.
    pub fn new(value: &str) -> Option<ThreadIndex> {
        let v = value.trim();
        let valid = !v.is_empty()
            && v.len() <= MAX_TEXT_CHARS * 4
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        valid.then(|| ThreadIndex(v.to_string()))
    }
}

/// Outlook's conversation headers on a reply: `Thread-Topic` (encoded as text needs) and
/// `Thread-Index`; an empty topic is left out.
pub fn conversation(
    mut b: MessageBuilder<'static>,
    topic: Option<&HeaderText>,
    index: Option<&ThreadIndex>,
) -> MessageBuilder<'static> {
    if let Some(t) = topic.filter(|t| !t.0.is_empty()) {
        b = b.header(
            "Thread-Topic",
            mail_builder::headers::text::Text::new(t.0.clone()),
        );
    }
    if let Some(i) = index {
        b = b.header("Thread-Index", Raw::new(i.0.clone()));
    }
    b
}

/// Test support for every composer: the raw mail's top-level header names are exactly
/// `expected` (in any order, each once), and the loop-safety headers are among them.
#[cfg(test)]
pub fn assert_only_our_headers(raw: &[u8], expected: &[&str]) {
    let parsed = mail_parser::MessageParser::new()
        .parse(raw)
        .expect("a composed mail parses");
    let mut names: Vec<String> = parsed
        .headers_raw()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    let mut want: Vec<String> = expected.iter().map(|n| n.to_ascii_lowercase()).collect();
    want.sort();
    assert_eq!(names, want, "{}", String::from_utf8_lossy(raw));
    for loop_header in ["auto-submitted", LOOP_HEADER, "x-auto-response-suppress"] {
        assert!(
            names.iter().any(|n| n.eq_ignore_ascii_case(loop_header)),
            "{loop_header} missing from the header block"
        );
    }
}

/// The header names of every mail spdesk sends without threading headers.
#[cfg(test)]
pub const OUR_HEADERS: [&str; 10] = [
    "From",
    "To",
    "Subject",
    "Message-ID",
    "Date",
    "Auto-Submitted",
    LOOP_HEADER,
    "X-Auto-Response-Suppress",
    "MIME-Version",
    "Content-Type",
];

#[cfg(test)]
mod tests {

    /// A long file name is cut with its extension kept; a short one stays as it is.
    #[test]
    fn long_file_names_are_cut_keeping_the_extension() {
        assert_eq!(HeaderText::file_name("server.cer").as_str(), "server.cer");
        let long = format!("{}.pem", "æ".repeat(900));
        let cut = HeaderText::file_name(&long);
        assert_eq!(cut.as_str().chars().count(), MAX_FILE_NAME_CHARS);
        assert!(cut.as_str().ends_with("….pem"), "{}", cut.as_str());
        let no_ext = HeaderText::file_name(&"x".repeat(300));
        assert_eq!(no_ext.as_str().chars().count(), MAX_FILE_NAME_CHARS);
    }

    use super::*;

    #[test]
    fn text_loses_every_control_character() {
        assert_eq!(
            HeaderText::new("x\r\nBcc: evil@x.test\r\n\r\nbody").as_str(),
            "x Bcc: evil@x.test body"
        );
        for c in [
            '\r', '\n', '\t', '\0', '\u{7f}', '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}',
        ] {
            let t = HeaderText::new(&format!("a{c}b"));
            assert_eq!(t.as_str(), "a b", "{c:?}");
        }
        assert_eq!(HeaderText::new("Ændring – æøå").as_str(), "Ændring – æøå");
        assert_eq!(
            HeaderText::new(&"x".repeat(5000)).as_str().len(),
            MAX_TEXT_CHARS
        );
    }

    #[test]
    fn a_message_id_with_a_control_character_is_refused() {
        assert_eq!(
            MessageId::new("<abc@x.test>").map(|m| m.0),
            Some("abc@x.test".into())
        );
        assert!(MessageId::new("abc\r@x.test").is_none());
        assert!(MessageId::new("abc@x.test\r\nBcc: e@x.test").is_none());
        assert!(MessageId::new("a b@x").is_none());
        assert!(MessageId::new("a>b@x").is_none());
        assert!(MessageId::new("").is_none());
        assert!(MessageId::new("æ@x").is_none());
        assert!(MessageId::new(&"a".repeat(300)).is_none());
    }

    #[test]
    fn an_address_with_a_control_character_or_separator_is_refused() {
        assert!(Address::new("fa@kommune.dk").is_some());
        assert!(Address::new("fa+1@kommune.dk").is_some());
        for bad in [
            "fa@kommune.dk\r\nBcc: e@x.test",
            "fa\r@kommune.dk",
            "a b@x",
            "a@b@c",
            "<a@b>",
            "a@b, c@d",
            "noat",
            "@x",
            "x@",
        ] {
            assert!(Address::new(bad).is_none(), "{bad:?}");
        }
    }

    /// One validator for the crate: what lettre would refuse to send is refused here too,
    /// for a sender's address as for the config's.
    #[test]
    fn an_address_against_the_address_syntax_is_refused() {
        for good in [
            "a.b+c@sub.example.test",
            "o'brien@kommune.dk",
            "bruger@æble.dk",
        ] {
            assert!(Address::new(good).is_some(), "{good:?}");
        }
        for bad in [
            "a..b@x.test",
            ".a@x.test",
            "a.@x.test",
            "a@-x.test",
            "a@x..test",
        ] {
            assert!(Address::new(bad).is_none(), "{bad:?}");
        }
        assert!(is_domain("example.test"));
        assert!(!is_domain("-x.test"));
        assert!(!is_domain("a b.test"));
    }

    #[test]
    fn a_thread_index_is_base64_only() {
        assert!(ThreadIndex::new("AdxkuUHpfFqkXW2HQ0qSk2IxoG6frA==").is_some());
        for bad in ["", "abc\r\nBcc: e@x.test", "a b", "abc<"] {
            assert!(ThreadIndex::new(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn references_are_trimmed_to_root_and_newest() {
        let ids: Vec<MessageId> = (0..50)
            .filter_map(|i| MessageId::new(&format!("r{i}@x")))
            .collect();
        let parent = MessageId::new("p@x").unwrap();
        let from = Address::new("h@x.test").unwrap();
        let raw = builder(Envelope {
            from: &from,
            to: std::slice::from_ref(&from),
            to_names: &[],
            subject: &HeaderText::new("s"),
            message_id: &MessageId::new("m@x").unwrap(),
            date: 0,
            auto_submitted: AutoSubmitted::Generated,
            in_reply_to: Some(&parent),
            references: &ids,
        })
        .text_body("t")
        .write_to_vec()
        .unwrap();
        let m = crate::mail::Mail::parse(&raw, 0).unwrap();
        assert_eq!(m.references.len(), MAX_REFERENCES);
        assert_eq!(m.references.first().map(String::as_str), Some("r0@x"));
        assert_eq!(m.references.last().map(String::as_str), Some("p@x"));
    }
}

#[cfg(test)]
mod download_tests {
    use super::*;

    #[test]
    fn a_download_name_has_no_folder_quote_or_control_and_keeps_danish_letters() {
        assert_eq!(
            attachment_disposition("Bestilling æøå.docx", "bilag"),
            "attachment; filename=\"Bestilling ___.docx\"; filename*=UTF-8''Bestilling%20%C3%A6%C3%B8%C3%A5.docx"
        );
        let evil = attachment_disposition("../../etc/pa\"ss\r\nX-Evil: 1\u{0}.html", "bilag");
        assert!(
            evil.starts_with("attachment; filename=\"pass X-Evil_ 1 .html\""),
            "{evil}"
        );
        assert!(!evil.contains(['\r', '\n', '\u{0}', '/']), "{evil}");
        assert_eq!(evil.matches('"').count(), 2, "{evil}");
        let windows = attachment_disposition("C:\\Users\\x\\cert.cer", "bilag");
        assert!(windows.contains("filename=\"cert.cer\""), "{windows}");
        for empty in ["", "..", "a/", "\u{1b}"] {
            let d = attachment_disposition(empty, "SP-2026-00001-1.eml");
            assert!(
                d.contains("filename=\"SP-2026-00001-1.eml\""),
                "{empty:?}: {d}"
            );
        }
        let long = attachment_disposition(&format!("{}.pdf", "x".repeat(500)), "bilag");
        assert!(long.len() < 800 && long.contains(".pdf\""), "{long}");
    }

    #[test]
    fn any_name_an_attacker_sends_makes_a_bounded_valid_header() {
        let huge = "\u{202e}ø\u{2028}\u{85}\u{feff}".repeat(200_000);
        let nested = format!("{}x.exe", "../".repeat(100_000));
        for name in [
            huge.as_str(),
            nested.as_str(),
            "\u{7f}\u{9b}[2J",
            "%0d%0a",
            "\"\"\"\\\\",
        ] {
            let d = attachment_disposition(name, "bilag");
            assert!(d.len() < 2000, "{} bytes", d.len());
            assert!(
                axum::http::HeaderValue::from_str(&d).is_ok(),
                "not a header value: {d:?}"
            );
            assert!(!d.chars().any(char::is_control), "{d:?}");
        }
    }
}
