//! Outlook's `winmail.dat` (TNEF, [MS-OXTNEF]): unpacks the attached files so an order form
//! sent from Outlook in Rich Text mode is read like any other attachment.
//!
//! Our own small reader, because the only pure-Rust crate (`tnef` 0.1) rejects unknown
//! attributes and trailing garbage and ignores the MAPI properties that carry long file names.
//! It is tolerant where Outlook and other writers are sloppy and bounded on hostile input:
//! - an attribute with a bad checksum or an unknown id is skipped;
//! - trailing garbage or a truncated attribute ends the parse, keeping what was read;
//! - every loop is capped ([`TnefLimits`]) and every file is a slice of the input, so memory
//!   stays below the input size and time is linear in it.
//!
//! Not unpacked: the message body (RTF or HTML, compressed in `attMAPIProps`) and embedded
//! Outlook messages (`PR_ATTACH_DATA_OBJ` holding an `IMessage`): both are skipped with a note.

use crate::forms::raw::ReadError;

/// The TNEF signature, little-endian at the start of every stream.
const SIGNATURE: u32 = 0x223E_9F78;

const LEVEL_MESSAGE: u8 = 1;
const LEVEL_ATTACHMENT: u8 = 2;

/// Attribute ids (the low 16 bits of the attribute tag).
const ATT_ATTACH_DATA: u16 = 0x800F;
const ATT_ATTACH_TITLE: u16 = 0x8010;
const ATT_ATTACH_REND_DATA: u16 = 0x9002;
const ATT_ATTACHMENT: u16 = 0x9005;
const ATT_OEM_CODEPAGE: u16 = 0x9007;

/// MAPI property ids inside `attAttachment`.
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_DATA_OBJ: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_METHOD: u16 = 0x3705;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_MIME_TAG: u16 = 0x370E;

/// MAPI property types.
const PT_LONG: u16 = 0x0003;
const PT_OBJECT: u16 = 0x000D;
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const MV_FLAG: u16 = 0x1000;

/// `PR_ATTACH_METHOD` of an attached Outlook message.
const ATTACH_EMBEDDED_MSG: u32 = 5;

/// IID_IMessage {00020307-0000-0000-C000-000000000046} as stored: the interface that prefixes
/// a `PT_OBJECT` value holding an embedded message.
const IID_IMESSAGE: [u8; 16] = [
    0x07, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

/// Longest file name kept; the rest is cut (names go into receipts and logs).
const MAX_NAME_CHARS: usize = 200;

/// Caps that keep unpacking bounded whatever the input claims.
#[derive(Debug, Clone)]
pub struct TnefLimits {
    /// Attachments kept; the parse stops at the next one.
    pub max_files: usize,
    /// Attributes read from the stream.
    pub max_attributes: usize,
    /// MAPI properties read over all `attAttachment` lists of the stream.
    pub max_properties: usize,
}

impl Default for TnefLimits {
    fn default() -> Self {
        TnefLimits {
            max_files: 50,
            max_attributes: 10_000,
            max_properties: 100_000,
        }
    }
}

/// One attached file, its bytes a slice of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TnefFile<'a> {
    /// The best name found (long file name, then 8.3 name, display name, title), cleaned of
    /// paths and control characters; `None` when the stream names none.
    pub name: Option<String>,
    /// `PR_ATTACH_MIME_TAG`, lower case, when given.
    pub content_type: Option<String>,
    pub bytes: &'a [u8],
}

/// What a stream held: its files in order, and notes on what was skipped or cut short (for
/// the Helpdesk log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked<'a> {
    pub files: Vec<TnefFile<'a>>,
    pub notes: Vec<String>,
}

/// Unpacks the attached files of a TNEF stream. Fails only when `bytes` is not TNEF at all
/// (too short, wrong signature); damage after the header ends the parse with what was read.
pub fn unpack<'a>(bytes: &'a [u8], limits: &TnefLimits) -> Result<Unpacked<'a>, ReadError> {
    let mut c = Cursor::new(bytes);
    match c.u32() {
        Some(SIGNATURE) => {}
        Some(_) => {
            return Err(ReadError::Unreadable(
                "not a TNEF file (wrong signature)".into(),
            ));
        }
        None => return Err(ReadError::Damaged("not a TNEF file (too short)".into())),
    }
    let mut out = Unpacked::default();
    if c.u16().is_none() {
        out.notes
            .push("the TNEF stream ends after its signature".into());
        return Ok(out);
    }
    let mut reading = Reading {
        codepage: 1252,
        pending: Vec::new(),
        property_budget: limits.max_properties,
        limits,
    };
    let mut attributes = 0usize;
    while c.remaining() > 0 {
        if attributes >= limits.max_attributes {
            out.notes.push(format!(
                "more than {} TNEF attributes: the rest was not read",
                limits.max_attributes
            ));
            break;
        }
        attributes += 1;
        let start = c.pos;
        let Some((level, id, data)) = next_attribute(&mut c, &mut out.notes, start) else {
            break;
        };
        let Some(data) = data else { continue };
        if !reading.attribute((level, id, data), start, &mut out.notes) {
            break;
        }
    }
    out.files = files_of(reading.pending, &mut out.notes);
    Ok(out)
}

/// What [`unpack`] has read of the stream so far: the code page its 8-bit strings are in, the
/// attachments begun, and how many MAPI properties may still be read.
struct Reading<'a, 'l> {
    codepage: u32,
    pending: Vec<Pending<'a>>,
    property_budget: usize,
    limits: &'l TnefLimits,
}

impl<'a> Reading<'a, '_> {
    /// Takes one attribute (level, id, data) that starts at byte `start`; `false` when the
    /// stream is not read further (more files than `max_files`).
    fn attribute(
        &mut self,
        (level, id, data): (u8, u16, &'a [u8]),
        start: usize,
        notes: &mut Vec<String>,
    ) -> bool {
        let limits = self.limits;
        match (level, id) {
            (_, ATT_OEM_CODEPAGE) => {
                if let Some(cp) = Cursor::new(data).u32() {
                    self.codepage = cp;
                }
            }
            // Each attachment starts with its rendering data.
            (LEVEL_ATTACHMENT, ATT_ATTACH_REND_DATA) => {
                if self.pending.len() >= limits.max_files {
                    notes.push(format!(
                        "more than {} files in the TNEF stream: the rest were not unpacked",
                        limits.max_files
                    ));
                    return false;
                }
                self.pending.push(Pending::default());
            }
            (LEVEL_ATTACHMENT, ATT_ATTACH_TITLE) => {
                let codepage = self.codepage;
                if let Some(p) = current(&mut self.pending, limits) {
                    p.title = decode_string8(data, codepage);
                }
            }
            (LEVEL_ATTACHMENT, ATT_ATTACH_DATA) => {
                if let Some(p) = current(&mut self.pending, limits) {
                    p.data = Some(data);
                }
            }
            (LEVEL_ATTACHMENT, ATT_ATTACHMENT) => {
                let (codepage, budget) = (self.codepage, &mut self.property_budget);
                if let Some(p) = current(&mut self.pending, limits)
                    && let Err(why) = read_properties(data, codepage, budget, p)
                {
                    notes.push(format!(
                        "the properties of a TNEF attachment at byte {start} were cut short: {why}"
                    ));
                }
            }
            _ => {}
        }
        true
    }
}

/// The attachments that carry a file; the rest (an attached Outlook message, an attachment
/// without data) are noted by name.
fn files_of<'a>(pending: Vec<Pending<'a>>, notes: &mut Vec<String>) -> Vec<TnefFile<'a>> {
    let mut files = Vec::new();
    for (i, p) in pending.into_iter().enumerate() {
        let name = p.name();
        let label = name.clone().unwrap_or_else(|| format!("file {}", i + 1));
        if p.embedded_message {
            notes.push(format!(
                "{label}: an attached Outlook message inside the TNEF file was not unpacked"
            ));
            continue;
        }
        let Some(bytes) = p.data.or(p.data_obj) else {
            notes.push(format!(
                "{label}: a TNEF attachment without data was skipped"
            ));
            continue;
        };
        files.push(TnefFile {
            name,
            content_type: p.mime,
            bytes,
        });
    }
    files
}

/// Reads one attribute. `None` ends the parse (truncation or garbage, noted); `Some((.., None))`
/// is an attribute to skip (bad checksum, noted).
#[allow(clippy::type_complexity)]
fn next_attribute<'a>(
    c: &mut Cursor<'a>,
    notes: &mut Vec<String>,
    start: usize,
) -> Option<(u8, u16, Option<&'a [u8]>)> {
    let (Some(level), Some(tag), Some(len)) = (c.u8(), c.u32(), c.u32()) else {
        notes.push(format!("the TNEF stream is cut short at byte {start}"));
        return None;
    };
    if level != LEVEL_MESSAGE && level != LEVEL_ATTACHMENT {
        notes.push(format!(
            "data that is not TNEF from byte {start} on was ignored"
        ));
        return None;
    }
    let data = usize::try_from(len).ok().and_then(|n| c.take(n));
    let (Some(data), Some(sum)) = (data, c.u16()) else {
        notes.push(format!(
            "the TNEF attribute at byte {start} is cut short; it and the rest were not read"
        ));
        return None;
    };
    let id = (tag & 0xFFFF) as u16;
    if checksum(data) != sum {
        notes.push(format!(
            "the TNEF attribute {id:#06x} at byte {start} has a bad checksum and was skipped"
        ));
        return Some((level, id, None));
    }
    Some((level, id, Some(data)))
}

/// The sum of the bytes modulo 65536, as TNEF stores it after each attribute.
fn checksum(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |s, b| s.wrapping_add(u16::from(*b)))
}

/// The attachment being read; an attachment attribute before any `attAttachRendData` starts
/// one (writers are not always tidy). `None` once the file cap is reached.
fn current<'p, 'a>(
    pending: &'p mut Vec<Pending<'a>>,
    limits: &TnefLimits,
) -> Option<&'p mut Pending<'a>> {
    if pending.is_empty() {
        if limits.max_files == 0 {
            return None;
        }
        pending.push(Pending::default());
    }
    pending.last_mut()
}

/// What is known about one attachment while the stream is read.
#[derive(Debug, Default)]
struct Pending<'a> {
    title: Option<String>,
    long_filename: Option<String>,
    filename: Option<String>,
    display_name: Option<String>,
    mime: Option<String>,
    data: Option<&'a [u8]>,
    data_obj: Option<&'a [u8]>,
    embedded_message: bool,
}

impl Pending<'_> {
    /// The long file name first (the title and `PR_ATTACH_FILENAME` are often 8.3 names).
    fn name(&self) -> Option<String> {
        [
            &self.long_filename,
            &self.filename,
            &self.display_name,
            &self.title,
        ]
        .into_iter()
        .find_map(|n| n.as_deref().and_then(clean_name))
    }
}

/// A file name fit for a receipt: the last path segment, without control characters, trimmed
/// and capped; `None` if nothing is left.
fn clean_name(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Reads the MAPI property list of an `attAttachment` attribute into `p`, spending one unit of
/// `budget` per property. An error ends the list (what was read before is kept).
fn read_properties<'a>(
    data: &'a [u8],
    codepage: u32,
    budget: &mut usize,
    p: &mut Pending<'a>,
) -> Result<(), &'static str> {
    let mut c = Cursor::new(data);
    let count = c.u32().ok_or("no property count")?;
    for _ in 0..count {
        if *budget == 0 {
            return Err("too many MAPI properties");
        }
        *budget -= 1;
        let ty = c.u16().ok_or("truncated property tag")?;
        let id = c.u16().ok_or("truncated property tag")?;
        if id >= 0x8000 {
            // A named property: GUID, then a numeric id or a UTF-16 name.
            c.skip(16).ok_or("truncated property name")?;
            match c.u32().ok_or("truncated property name")? {
                0 => c.skip(4).ok_or("truncated property name")?,
                1 => {
                    let len = c.u32().ok_or("truncated property name")?;
                    c.take_padded(len).ok_or("truncated property name")?;
                }
                _ => return Err("unknown kind of named property"),
            }
        }
        let base = ty & !MV_FLAG;
        let width = fixed_width(base).ok_or("a property of an unknown type")?;
        let values = if ty & MV_FLAG != 0 || width.is_none() {
            let n = c.u32().ok_or("truncated value count")?;
            // Every value takes at least 4 bytes (a length, or a padded fixed value), which
            // bounds the count by what is left; a zero-width type must not loop for free.
            let most = c.remaining() / width.unwrap_or(4).max(4);
            if usize::try_from(n).map_or(true, |n| n > most) {
                return Err("a value count larger than the data");
            }
            n
        } else {
            1
        };
        for v in 0..values {
            match width {
                Some(w) => {
                    let value = c.take(w).ok_or("truncated value")?;
                    if v == 0 && id == PR_ATTACH_METHOD && base == PT_LONG {
                        p.embedded_message |= Cursor::new(value).u32() == Some(ATTACH_EMBEDDED_MSG);
                    }
                }
                None => {
                    let len = c.u32().ok_or("truncated value length")?;
                    let value = c.take_padded(len).ok_or("truncated value")?;
                    if v == 0 {
                        take_value(p, id, base, value, codepage);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Keeps the first value of the properties we use.
fn take_value<'a>(p: &mut Pending<'a>, id: u16, ty: u16, value: &'a [u8], codepage: u32) {
    let text = || match ty {
        PT_UNICODE => decode_utf16(value),
        PT_STRING8 => decode_string8(value, codepage),
        _ => None,
    };
    match id {
        PR_ATTACH_LONG_FILENAME => p.long_filename = text().or(p.long_filename.take()),
        PR_ATTACH_FILENAME => p.filename = text().or(p.filename.take()),
        PR_DISPLAY_NAME => p.display_name = text().or(p.display_name.take()),
        PR_ATTACH_MIME_TAG => {
            if let Some(t) = text().map(|t| t.trim().to_ascii_lowercase())
                && t.contains('/')
                && t.len() <= 127
            {
                p.mime = Some(t);
            }
        }
        PR_ATTACH_DATA_OBJ if ty == PT_BINARY => p.data_obj = Some(value),
        PR_ATTACH_DATA_OBJ if ty == PT_OBJECT => {
            // An object starts with the IID of its interface: an embedded message is skipped,
            // other objects (OLE storage) are kept as their bytes after the IID.
            match (value.get(..16), value.get(16..)) {
                (Some(iid), _) if iid == IID_IMESSAGE => p.embedded_message = true,
                (Some(_), Some(rest)) => p.data_obj = Some(rest),
                _ => {}
            }
        }
        _ => {}
    }
}

/// The size of a fixed-width MAPI type, `Some(None)` for a variable-length one, `None` for a
/// type whose size is unknown (the list cannot be read past it).
fn fixed_width(ty: u16) -> Option<Option<usize>> {
    Some(match ty {
        0x0001 => Some(0),                                     // PT_NULL
        0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4), // i16 and bool padded to 4
        0x0005..=0x0007 | 0x0014 | 0x0040 => Some(8),
        0x0048 => Some(16), // CLSID
        PT_OBJECT | PT_STRING8 | PT_UNICODE | PT_BINARY => None,
        _ => return None,
    })
}

/// A NUL-terminated UTF-16LE string.
fn decode_utf16(b: &[u8]) -> Option<String> {
    let units = b
        .chunks_exact(2)
        .filter_map(|u| <[u8; 2]>::try_from(u).ok().map(u16::from_le_bytes))
        .take_while(|u| *u != 0);
    let s: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    (!s.is_empty()).then_some(s)
}

/// A NUL-terminated 8-bit string in the stream's OEM code page; Windows-1252 when the code
/// page is unknown (a wrong guess spoils accents, never the extension).
fn decode_string8(b: &[u8], codepage: u32) -> Option<String> {
    let end = b.iter().position(|x| *x == 0).unwrap_or(b.len());
    let b = b.get(..end).unwrap_or_default();
    if b.is_empty() {
        return None;
    }
    if codepage == 65001 || std::str::from_utf8(b).is_ok_and(|s| s.is_ascii()) {
        return Some(String::from_utf8_lossy(b).into_owned());
    }
    use mail_parser::decoders::charsets::map::charset_decoder;
    let charset = match codepage {
        20866 => "koi8-r".to_string(),
        21866 => "koi8-u".to_string(),
        28591..=28599 => format!("iso-8859-{}", codepage - 28590),
        932 => "shift_jis".to_string(),
        936 => "gbk".to_string(),
        949 => "euc-kr".to_string(),
        950 => "big5".to_string(),
        1250..=1258 => format!("windows-{codepage}"),
        cp => cp.to_string(),
    };
    let decode =
        charset_decoder(charset.as_bytes()).or_else(|| charset_decoder(b"windows-1252"))?;
    Some(decode(b))
}

/// A bounds-checked reader over the stream: every read is `None` past the end.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    /// `len` bytes, then the padding to a multiple of 4 (forgiven at the very end).
    fn take_padded(&mut self, len: u32) -> Option<&'a [u8]> {
        let len = usize::try_from(len).ok()?;
        let s = self.take(len)?;
        let pad = (4 - len % 4) % 4;
        self.pos = self.pos.saturating_add(pad).min(self.data.len());
        Some(s)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes(b.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }
}

/// A test-only TNEF writer, shared with other modules' tests.
#[cfg(test)]
pub(crate) mod build {
    /// Builds a TNEF stream attribute by attribute, with correct checksums.
    pub struct Tnef(Vec<u8>);

    impl Tnef {
        pub fn new() -> Self {
            let mut v = super::SIGNATURE.to_le_bytes().to_vec();
            v.extend_from_slice(&0x0001u16.to_le_bytes());
            // attTnefVersion, as Outlook writes first.
            let mut t = Tnef(v);
            t.attr(1, 0x0008_9006, &0x0001_0000u32.to_le_bytes());
            t
        }

        /// One attribute: level, tag (type << 16 | id), data, checksum.
        pub fn attr(&mut self, level: u8, tag: u32, data: &[u8]) -> &mut Self {
            let sum = super::checksum(data);
            self.attr_with_sum(level, tag, data, sum)
        }

        pub fn attr_with_sum(&mut self, level: u8, tag: u32, data: &[u8], sum: u16) -> &mut Self {
            self.0.push(level);
            self.0.extend_from_slice(&tag.to_le_bytes());
            self.0.extend_from_slice(&(data.len() as u32).to_le_bytes());
            self.0.extend_from_slice(data);
            self.0.extend_from_slice(&sum.to_le_bytes());
            self
        }

        /// A whole attachment as Outlook writes it: rendering data, the (8.3) title, the
        /// bytes, and, with `long_name`, an `attAttachment` list holding it as a Unicode
        /// `PR_ATTACH_LONG_FILENAME` after a named property and a fixed-width one.
        pub fn file(&mut self, title: &str, long_name: Option<&str>, bytes: &[u8]) -> &mut Self {
            self.attr(2, 0x0006_9002, &[0u8; 14]);
            let mut t = title.as_bytes().to_vec();
            t.push(0);
            self.attr(2, 0x0001_8010, &t);
            self.attr(2, 0x0006_800F, bytes);
            if let Some(long) = long_name {
                self.attr(2, 0x0006_9005, &props(long));
            }
            self
        }

        pub fn bytes(&self) -> Vec<u8> {
            self.0.clone()
        }
    }

    /// An `attAttachment` MAPI list: PR_ATTACH_METHOD = 1 (by value), a named string
    /// property, and PR_ATTACH_LONG_FILENAME as PT_UNICODE.
    pub fn props(long: &str) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&3u32.to_le_bytes());
        // PR_ATTACH_METHOD, PT_LONG.
        p.extend_from_slice(&0x0003u16.to_le_bytes());
        p.extend_from_slice(&0x3705u16.to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes());
        // A named PT_STRING8 property with a string name.
        p.extend_from_slice(&0x001Eu16.to_le_bytes());
        p.extend_from_slice(&0x8005u16.to_le_bytes());
        p.extend_from_slice(&[0xAB; 16]);
        p.extend_from_slice(&1u32.to_le_bytes());
        push_padded(&mut p, &utf16z("Keywords"));
        p.extend_from_slice(&1u32.to_le_bytes());
        push_padded(&mut p, b"x\0");
        // PR_ATTACH_LONG_FILENAME, PT_UNICODE.
        p.extend_from_slice(&0x001Fu16.to_le_bytes());
        p.extend_from_slice(&0x3707u16.to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes());
        push_padded(&mut p, &utf16z(long));
        p
    }

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect()
    }

    fn push_padded(p: &mut Vec<u8>, v: &[u8]) {
        p.extend_from_slice(&(v.len() as u32).to_le_bytes());
        p.extend_from_slice(v);
        p.resize(p.len() + (4 - v.len() % 4) % 4, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::build::Tnef;
    use super::*;

    fn names<'a>(u: &'a Unpacked<'_>) -> Vec<Option<&'a str>> {
        u.files.iter().map(|f| f.name.as_deref()).collect()
    }

    #[test]
    fn one_file() {
        let t = Tnef::new().file("AUTHORS", None, b"Mark Simpson\n").bytes();
        let u = unpack(&t, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("AUTHORS")]);
        assert_eq!(u.files[0].bytes, b"Mark Simpson\n");
        assert!(u.notes.is_empty(), "{:?}", u.notes);
    }

    #[test]
    fn two_files_in_order() {
        let t = Tnef::new()
            .file("A.TXT", None, b"first")
            .file("B.PDF", None, b"%PDF-1.4 second")
            .bytes();
        let u = unpack(&t, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("A.TXT"), Some("B.PDF")]);
        assert_eq!(u.files[1].bytes, b"%PDF-1.4 second");
    }

    #[test]
    fn the_long_name_wins_over_the_8_3_title() {
        let t = Tnef::new()
            .file("BESTIL~1.DOC", Some("Bestilling ændring æøå.docx"), b"PK")
            .bytes();
        let u = unpack(&t, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("Bestilling ændring æøå.docx")]);
    }

    #[test]
    fn the_attachment_list_may_come_before_the_title_and_data() {
        let mut t = Tnef::new();
        t.attr(2, 0x0006_9002, &[0; 14]);
        t.attr(2, 0x0006_9005, &build::props("Lang.docx"));
        t.attr(2, 0x0006_800F, b"data");
        let tb = t.bytes();
        let u = unpack(&tb, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("Lang.docx")]);
        assert_eq!(u.files[0].bytes, b"data");
    }

    #[test]
    fn a_bad_checksum_skips_that_attribute_only() {
        let mut t = Tnef::new();
        t.file("A.TXT", None, b"first");
        t.attr(2, 0x0006_9002, &[0; 14]);
        t.attr(2, 0x0001_8010, b"B.TXT\0");
        t.attr_with_sum(2, 0x0006_800F, b"damaged", 1);
        t.file("C.TXT", None, b"third");
        let tb = t.bytes();
        let u = unpack(&tb, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("A.TXT"), Some("C.TXT")]);
        assert!(
            u.notes.iter().any(|n| n.contains("checksum")),
            "{:?}",
            u.notes
        );
        assert!(u.notes.iter().any(|n| n.contains("B.TXT")), "{:?}", u.notes);
    }

    #[test]
    fn a_truncated_stream_keeps_the_files_before_the_cut() {
        let whole = Tnef::new()
            .file("A.TXT", None, b"first")
            .file("B.TXT", None, b"second file")
            .bytes();
        // Cut inside the second file's data, and inside an attribute header.
        for cut in [whole.len() - 5, whole.len() - 2 - 11 - 3] {
            let u = unpack(&whole[..cut], &TnefLimits::default()).unwrap();
            assert_eq!(names(&u)[0], Some("A.TXT"), "cut at {cut}");
            assert_eq!(u.files[0].bytes, b"first");
            assert!(u.files.iter().all(|f| f.bytes != b"second file"));
            assert!(
                u.notes.iter().any(|n| n.contains("cut short")),
                "{:?}",
                u.notes
            );
        }
        // Every prefix is handled without a panic.
        for cut in 0..whole.len() {
            let _ = unpack(&whole[..cut], &TnefLimits::default());
        }
    }

    #[test]
    fn garbage_at_the_end_is_ignored() {
        let mut t = Tnef::new().file("A.TXT", None, b"first").bytes();
        t.extend_from_slice(b"\r\n\0\0 trailing garbage from a mail gateway \xff\xfe");
        let u = unpack(&t, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("A.TXT")]);
        assert!(
            u.notes.iter().any(|n| n.contains("not TNEF")),
            "{:?}",
            u.notes
        );
    }

    #[test]
    fn a_wrong_signature_is_an_error() {
        assert!(matches!(
            unpack(b"PK\x03\x04 a zip, not TNEF", &TnefLimits::default()),
            Err(ReadError::Unreadable(_))
        ));
        assert!(matches!(
            unpack(b"x\x9f", &TnefLimits::default()),
            Err(ReadError::Damaged(_))
        ));
        // Only the signature: TNEF, but empty.
        let only = SIGNATURE.to_le_bytes();
        let u = unpack(&only, &TnefLimits::default()).unwrap();
        assert!(u.files.is_empty());
    }

    #[test]
    fn the_file_count_is_capped() {
        let mut t = Tnef::new();
        for i in 0..5 {
            t.file(&format!("F{i}.TXT"), None, b"x");
        }
        let limits = TnefLimits {
            max_files: 3,
            ..TnefLimits::default()
        };
        let tb = t.bytes();
        let u = unpack(&tb, &limits).unwrap();
        assert_eq!(
            names(&u),
            vec![Some("F0.TXT"), Some("F1.TXT"), Some("F2.TXT")]
        );
        assert!(u.notes.iter().any(|n| n.contains("more than 3 files")));
        let none = TnefLimits {
            max_files: 0,
            ..TnefLimits::default()
        };
        assert!(unpack(&t.bytes(), &none).unwrap().files.is_empty());
    }

    #[test]
    fn attribute_and_property_counts_are_capped() {
        let t = Tnef::new()
            .file("A.TXT", Some("Long A.txt"), b"a")
            .file("B.TXT", None, b"b")
            .bytes();
        // Version + 3 attributes of the first file: the second is never reached.
        let limits = TnefLimits {
            max_attributes: 4,
            ..TnefLimits::default()
        };
        let u = unpack(&t, &limits).unwrap();
        assert_eq!(names(&u), vec![Some("A.TXT")]);
        assert!(u.notes.iter().any(|n| n.contains("attributes")));
        // One property allowed: the long name (the third) is never read.
        let limits = TnefLimits {
            max_properties: 1,
            ..TnefLimits::default()
        };
        let u = unpack(&t, &limits).unwrap();
        assert_eq!(names(&u), vec![Some("A.TXT"), Some("B.TXT")]);
        assert!(u.notes.iter().any(|n| n.contains("too many MAPI")));
    }

    #[test]
    fn a_huge_value_count_does_not_loop() {
        // A multi-valued PT_NULL property claiming 4 billion values.
        let mut p = 1u32.to_le_bytes().to_vec();
        p.extend_from_slice(&(MV_FLAG | 0x0001).to_le_bytes());
        p.extend_from_slice(&0x1234u16.to_le_bytes());
        p.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut t = Tnef::new();
        t.file("A.TXT", None, b"a");
        t.attr(2, 0x0006_9005, &p);
        let tb = t.bytes();
        let u = unpack(&tb, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("A.TXT")]);
        assert!(u.notes.iter().any(|n| n.contains("value count")));
    }

    #[test]
    fn data_in_pr_attach_data_obj_and_embedded_messages() {
        let binary = |id: u16, ty: u16, v: &[u8]| {
            let mut p = 1u32.to_le_bytes().to_vec();
            p.extend_from_slice(&ty.to_le_bytes());
            p.extend_from_slice(&id.to_le_bytes());
            p.extend_from_slice(&1u32.to_le_bytes());
            p.extend_from_slice(&(v.len() as u32).to_le_bytes());
            p.extend_from_slice(v);
            p.resize(p.len() + (4 - v.len() % 4) % 4, 0);
            p
        };
        let mut t = Tnef::new();
        // Data only in PR_ATTACH_DATA_OBJ (PT_BINARY), named by an 8-bit display name.
        t.attr(2, 0x0006_9002, &[0; 14]);
        t.attr(
            2,
            0x0006_9005,
            &binary(PR_ATTACH_DATA_OBJ, PT_BINARY, b"%PDF-1.7"),
        );
        t.attr(
            2,
            0x0006_9005,
            &binary(PR_DISPLAY_NAME, PT_STRING8, b"Bilag \xe6.pdf\0"),
        );
        // An embedded message: skipped with a note.
        let mut msg = IID_IMESSAGE.to_vec();
        msg.extend_from_slice(b"\x78\x9f\x3e\x22 inner tnef");
        t.attr(2, 0x0006_9002, &[0; 14]);
        t.attr(2, 0x0001_8010, b"Re: mote\0");
        t.attr(2, 0x0006_9005, &binary(PR_ATTACH_DATA_OBJ, PT_OBJECT, &msg));
        let tb = t.bytes();
        let u = unpack(&tb, &TnefLimits::default()).unwrap();
        assert_eq!(names(&u), vec![Some("Bilag æ.pdf")]);
        assert_eq!(u.files[0].bytes, b"%PDF-1.7");
        assert!(
            u.notes
                .iter()
                .any(|n| n.contains("Re: mote") && n.contains("Outlook message")),
            "{:?}",
            u.notes
        );
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(
            clean_name("C:\\Users\\k\\Bestilling.docx").as_deref(),
            Some("Bestilling.docx")
        );
        assert_eq!(clean_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(clean_name(" a\r\nb.pdf ").as_deref(), Some("ab.pdf"));
        assert_eq!(clean_name("  \u{7}"), None);
        assert_eq!(
            clean_name(&"x".repeat(500)).map(|n| n.len()),
            Some(MAX_NAME_CHARS)
        );
    }

    #[test]
    fn eight_bit_names_follow_the_code_page() {
        assert_eq!(
            decode_string8(b"Bestilling \xe6\xf8\xe5.docx\0junk", 1252).as_deref(),
            Some("Bestilling æøå.docx")
        );
        // Cyrillic in windows-1251; an unknown code page falls back to Windows-1252.
        assert_eq!(
            decode_string8(b"\xc4\xee\xea.doc", 1251).as_deref(),
            Some("Док.doc")
        );
        assert_eq!(
            decode_string8(b"\xe6.doc", 4_000_000_000).as_deref(),
            Some("æ.doc")
        );
        assert_eq!(decode_string8(b"\0", 1252), None);
        assert_eq!(
            decode_utf16(&[0x41, 0, 0, 0xD8, 0x42, 0]).as_deref(),
            Some("A\u{FFFD}B")
        );
    }
}
