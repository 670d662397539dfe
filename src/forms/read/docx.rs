//! The .docx reader: turns a Word document (as Word and LibreOffice write it) into a
//! [`RawForm`] of label/value pairs and free text.
//!
//! It knows the layouts order forms use, not the forms' fields: label/value table rows,
//! "Label: value" paragraphs and cells, tick boxes (typed glyphs, separate tick tables,
//! `w14:checkbox` content controls, legacy form-field check boxes) and content controls whose
//! tag or alias names the value. Interpreting labels is the field table's job.
//!
//! Word's editing marks are read as the document shows with the markup hidden (Word's "No
//! Markup" view, what prints): tracked deletions and text moved away (`w:del`, `w:moveFrom`,
//! deleted rows, a deleted paragraph mark joining two paragraphs) are gone, insertions and
//! moved-in text count; comments (their ranges, reference marks and `comments.xml`) are not
//! content; a text box Word writes twice (`mc:AlternateContent`: the first `mc:Choice` and a
//! VML `mc:Fallback`) is read once, from the Choice, and a VML text box alone is read; hidden
//! text (`w:vanish`) is not read, because Word neither prints nor by default shows it, so the
//! sender did not see it as part of the form. A value typed partly inside a content control
//! and partly after it in the same cell is one value.
//!
//! Reading happens in three bounded steps: unzip `word/document.xml` (entry count and unpacked
//! size limited, zip bombs stopped by a bounded reader), parse it into a small tree that keeps
//! only what carries visible text (XML depth limited), and walk the tree.

use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};

use crate::forms::raw::{
    Entry, RawForm, ReadError, ReadLimits, TICKED, UNTICKED, is_tick_glyph, leading_tick_glyph,
};
use crate::forms::read::label::split_label;

/// Ticked and unticked boxes as every reader writes them.
/// Longest text kept for one paragraph, cell or value: form values are short, and a cap keeps
/// copying text up through nested tables cheap.
const MAX_TEXT: usize = 64 * 1024;
/// Most text (labels, values, free text) one document may yield.
const MAX_OUTPUT: usize = 8 * 1024 * 1024;
/// Depth cap whatever the configuration says: the tree walk recurses once per level.
const HARD_MAX_DEPTH: usize = 1000;
/// Most text (`w:t` contents) kept from one document while parsing.
const MAX_KEPT_TEXT: usize = 16 * 1024 * 1024;

/// Reads one .docx file. `source` is stored in the result (e.g. `attachment:Bestilling.docx`).
pub fn read_docx(bytes: &[u8], source: &str, limits: &ReadLimits) -> Result<RawForm, ReadError> {
    let xml = unzip_document(bytes, limits)?;
    let max_depth = limits.max_xml_depth.min(HARD_MAX_DEPTH);
    let tree = parse_tree(&xml, max_depth, limits.max_docx_xml_nodes)?;
    drop(xml);
    let mut walker = Walker::default();
    walker.blocks(std::slice::from_ref(&tree), Mode::Body);
    if walker.over_budget {
        return Err(ReadError::Limit(format!(
            "the document holds more than {MAX_OUTPUT} bytes of form text"
        )));
    }
    Ok(RawForm {
        source: source.to_string(),
        text: walker.text.join("\n"),
        entries: walker.entries,
    })
}

// ------------------------------------------------------------------------------------ unzip

/// Returns the text of the main document part, after checking the limits.
fn unzip_document(bytes: &[u8], limits: &ReadLimits) -> Result<String, ReadError> {
    sniff_other_formats(bytes)?;
    if let Some(count) = eocd_entry_count(bytes) {
        // Checked before the zip crate allocates the whole central directory.
        if count > limits.max_docx_entries as u64 {
            return Err(too_many_entries(count, limits));
        }
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    if zip.len() > limits.max_docx_entries {
        return Err(too_many_entries(zip.len() as u64, limits));
    }
    let mut declared: u64 = 0;
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(zip_error)?;
        declared = declared.saturating_add(f.size());
    }
    if declared > limits.max_docx_unzipped_bytes {
        return Err(ReadError::Limit(format!(
            "the .docx unpacks to {declared} bytes, more than the limit of {} bytes",
            limits.max_docx_unzipped_bytes
        )));
    }
    let mut budget = limits.max_docx_unzipped_bytes;
    let name = match zip.index_for_name("word/document.xml") {
        Some(_) => "word/document.xml".to_string(),
        None => main_part_from_rels(&mut zip, &mut budget)?,
    };
    let data = read_entry(&mut zip, &name, &mut budget)?;
    decode_xml_text(&data)
}

/// Recognises files that are often mistaken for .docx, so the sender hears the right reason.
fn sniff_other_formats(bytes: &[u8]) -> Result<(), ReadError> {
    const OLE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if bytes.starts_with(OLE) {
        return Err(ReadError::Unreadable(
            "the file is an old Word .doc file or a password-protected document, not a .docx"
                .into(),
        ));
    }
    if bytes.starts_with(b"%PDF") {
        return Err(ReadError::Unreadable(
            "the file is a PDF, not a .docx".into(),
        ));
    }
    if bytes.starts_with(b"{\\rtf") {
        return Err(ReadError::Unreadable(
            "the file is an RTF document, not a .docx".into(),
        ));
    }
    if !bytes.starts_with(b"PK") {
        return Err(ReadError::Damaged(
            "the file is not a zip archive, so not a .docx".into(),
        ));
    }
    Ok(())
}

/// The entry count from the end-of-central-directory record, when there is one (not zip64).
fn eocd_entry_count(bytes: &[u8]) -> Option<u64> {
    const SIG: &[u8] = &[0x50, 0x4B, 0x05, 0x06];
    let last = bytes.len().checked_sub(22)?;
    let first = last.saturating_sub(65_535);
    (first..=last).rev().find_map(|pos| {
        let rec = bytes.get(pos..pos.checked_add(22)?)?;
        if !rec.starts_with(SIG) {
            return None;
        }
        let n = u16::from_le_bytes([*rec.get(10)?, *rec.get(11)?]);
        (n != 0xFFFF).then_some(u64::from(n))
    })
}

fn too_many_entries(count: u64, limits: &ReadLimits) -> ReadError {
    ReadError::Limit(format!(
        "the .docx has {count} zip entries, more than the limit of {}",
        limits.max_docx_entries
    ))
}

fn zip_error(e: zip::result::ZipError) -> ReadError {
    match e {
        zip::result::ZipError::UnsupportedArchive(m) => {
            ReadError::Unreadable(format!("the .docx uses an unsupported zip feature: {m}"))
        }
        other => ReadError::Damaged(format!("the .docx is not a valid zip archive: {other}")),
    }
}

/// Reads one zip entry, at most `budget` bytes whatever its header claims (zip bombs).
fn read_entry(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    budget: &mut u64,
) -> Result<Vec<u8>, ReadError> {
    let file = zip.by_name(name).map_err(zip_error)?;
    if file.encrypted() {
        return Err(ReadError::Unreadable(
            "the .docx is password-protected".into(),
        ));
    }
    let mut data = Vec::new();
    let limit = *budget;
    file.take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| ReadError::Damaged(format!("cannot unpack {name} from the .docx: {e}")))?;
    let read = data.len() as u64;
    if read > limit {
        return Err(ReadError::Limit(format!(
            "the .docx unpacks to more than the limit of {limit} bytes"
        )));
    }
    *budget = limit.saturating_sub(read);
    Ok(data)
}

/// Finds the main document part through `_rels/.rels` when it is not `word/document.xml`, and
/// names the format when the zip is another office file.
fn main_part_from_rels(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    budget: &mut u64,
) -> Result<String, ReadError> {
    let has = |zip: &zip::ZipArchive<Cursor<&[u8]>>, n: &str| zip.index_for_name(n).is_some();
    if has(zip, "_rels/.rels") {
        let rels = read_entry(zip, "_rels/.rels", budget)?;
        if let Some(target) = office_document_target(&rels)
            && has(zip, &target)
            && target.ends_with(".xml")
            && !target.starts_with("xl/")
        {
            return Ok(target);
        }
    }
    let kind = if has(zip, "content.xml") || has(zip, "mimetype") {
        Some("an OpenDocument file (.odt)")
    } else if has(zip, "xl/workbook.xml") {
        Some("an Excel workbook")
    } else if has(zip, "ppt/presentation.xml") {
        Some("a PowerPoint presentation")
    } else {
        None
    };
    Err(match kind {
        Some(k) => ReadError::Unreadable(format!("the file is {k}, not a .docx")),
        None => ReadError::Damaged("the .docx has no word/document.xml".into()),
    })
}

/// The `Target` of the relationship of type `.../officeDocument` in a `.rels` part.
fn office_document_target(rels: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(rels).ok()?;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                if e.local_name().as_ref() == b"Relationship"
                    && attr(&e, b"Type").is_some_and(|t| t.ends_with("/officeDocument"))
                {
                    return attr(&e, b"Target").map(|t| t.trim_start_matches('/').to_string());
                }
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Part text as UTF-8 (or UTF-16 with a byte order mark, which the XML standard allows).
fn decode_xml_text(data: &[u8]) -> Result<String, ReadError> {
    let utf16 = |be: bool, rest: &[u8]| {
        let units = rest.chunks_exact(2).map(|c| match c {
            [a, b] if be => u16::from_be_bytes([*a, *b]),
            [a, b] => u16::from_le_bytes([*a, *b]),
            _ => 0,
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .ok()
    };
    let text = match data {
        [0xFF, 0xFE, rest @ ..] => utf16(false, rest),
        [0xFE, 0xFF, rest @ ..] => utf16(true, rest),
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        _ => String::from_utf8(data.to_vec()).ok(),
    };
    text.ok_or_else(|| ReadError::Damaged("word/document.xml is not valid UTF-8 text".into()))
}

// ------------------------------------------------------------------------------------ tree

/// One kept element. Formatting, deleted text and field instructions are dropped while
/// parsing, so the walk only sees what a reader of the document sees.
#[derive(Debug)]
struct Node {
    kind: Kind,
    children: Vec<Node>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FldType {
    Begin,
    Separate,
    End,
    Other,
}

#[derive(Debug, PartialEq)]
enum Kind {
    /// Any element that only wraps others (document, body, hyperlink, w:ins, customXml, ...).
    Container,
    P,
    R,
    T(String),
    Tab,
    Br,
    Hyphen,
    /// A `w:sym`, already mapped to the character it shows (None: not a tick box).
    Sym(Option<&'static str>),
    Tbl,
    Tr,
    TrPr,
    RowDeleted,
    Tc,
    Sdt,
    SdtPr,
    SdtContent,
    Tag(String),
    Alias(String),
    Placeholder(bool),
    Checkbox14,
    Checked14(bool),
    FldChar(FldType),
    FfData,
    FfCheckBox,
    FfDefault(bool),
    FfChecked(bool),
    DdList,
    DdResult(usize),
    DdDefault(usize),
    ListEntry(String),
    RPr,
    /// A paragraph's properties; only the state of its paragraph mark is kept.
    PPr,
    /// `w:pPr/w:rPr`: the paragraph mark's run properties.
    MarkRPr,
    /// The paragraph mark was deleted or moved away (tracked): the paragraph shows joined
    /// with the next one.
    MarkGone,
    RFonts(Font),
    Vanish(bool),
    TxbxContent,
}

/// Symbol fonts whose letters draw tick boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Font {
    Wingdings,
    Wingdings2,
    Other,
}

/// Elements dropped with everything inside them.
const SKIPPED: &[&[u8]] = &[
    b"tblPr",
    b"tcPr",
    b"tblGrid",
    b"tblPrEx",
    b"sectPr",
    b"sdtEndPr",
    b"del",
    b"moveFrom",
    b"instrText",
    b"delText",
    b"delInstrText",
    b"Fallback",
    b"footnoteReference",
    b"endnoteReference",
    b"commentReference",
    b"annotationRef",
    b"proofErr",
    b"bookmarkStart",
    b"bookmarkEnd",
    b"lastRenderedPageBreak",
    b"customXmlPr",
    b"smartTagPr",
    b"fldData",
    b"rt",
    b"binData",
];

fn attr(e: &BytesStart, local: &[u8]) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// OOXML on/off values: absent means on.
fn on_off(e: &BytesStart) -> bool {
    !matches!(
        attr(e, b"val").as_deref().map(str::trim),
        Some("0" | "false" | "off")
    )
}

fn font_of(name: &str) -> Font {
    let n = name.to_ascii_lowercase();
    if n.contains("wingdings 2") || n.contains("wingdings2") {
        Font::Wingdings2
    } else if n.contains("wingdings") {
        Font::Wingdings
    } else {
        Font::Other
    }
}

/// The tick box a symbol-font character draws, if it draws one.
fn symbol_tick(font: Font, code: u32) -> Option<&'static str> {
    let c = if (0xF000..=0xF0FF).contains(&code) {
        code - 0xF000
    } else {
        code
    };
    match (font, c) {
        (Font::Wingdings, 0xFD | 0xFE | 0x78) => Some(TICKED),
        (Font::Wingdings, 0xA8 | 0x6F) => Some(UNTICKED),
        (Font::Wingdings2, 0x52 | 0x54) => Some(TICKED),
        (Font::Wingdings2, 0xA3 | 0x2A) => Some(UNTICKED),
        _ => None,
    }
}

fn sym_kind(e: &BytesStart) -> Kind {
    let font = attr(e, b"font").map(|f| font_of(&f)).unwrap_or(Font::Other);
    let code = attr(e, b"char").and_then(|c| u32::from_str_radix(c.trim(), 16).ok());
    let shown = code.and_then(|code| {
        symbol_tick(font, code).or(match code {
            0x2612 | 0x2611 | 0x2713 | 0x2714 => Some(TICKED),
            0x2610 => Some(UNTICKED),
            _ => None,
        })
    });
    Kind::Sym(shown)
}

/// What to keep of an element, given its parent; None drops it with its subtree.
fn classify(parent: &Kind, e: &BytesStart) -> Option<Kind> {
    let local = e.local_name();
    let name = local.as_ref();
    if let Some(kept) = property_child(parent, name, e) {
        return kept;
    }
    if parent.holds_no_elements() {
        return None;
    }
    body_element(parent, name, e)
}

/// Inside a property element (`w:sdtPr`, `w14:checkbox`, form-field data, `w:rPr`,
/// `w:trPr`) only the few properties the reader needs are kept: `Some(kept)` there, `None`
/// when `parent` is not a property element.
fn property_child(parent: &Kind, name: &[u8], e: &BytesStart) -> Option<Option<Kind>> {
    let num = |e: &BytesStart| attr(e, b"val").and_then(|v| v.trim().parse::<usize>().ok());
    Some(match parent {
        Kind::SdtPr => match name {
            b"tag" => attr(e, b"val").map(Kind::Tag),
            b"alias" => attr(e, b"val").map(Kind::Alias),
            b"showingPlcHdr" => Some(Kind::Placeholder(on_off(e))),
            b"checkbox" => Some(Kind::Checkbox14),
            _ => None,
        },
        Kind::Checkbox14 => (name == b"checked").then(|| Kind::Checked14(on_off(e))),
        Kind::FldChar(_) => (name == b"ffData").then_some(Kind::FfData),
        Kind::FfData => match name {
            b"checkBox" => Some(Kind::FfCheckBox),
            b"ddList" => Some(Kind::DdList),
            _ => None,
        },
        Kind::FfCheckBox => match name {
            b"default" => Some(Kind::FfDefault(on_off(e))),
            b"checked" => Some(Kind::FfChecked(on_off(e))),
            _ => None,
        },
        Kind::DdList => match name {
            b"result" => num(e).map(Kind::DdResult),
            b"default" => num(e).map(Kind::DdDefault),
            b"listEntry" => Some(Kind::ListEntry(attr(e, b"val").unwrap_or_default())),
            _ => None,
        },
        Kind::RPr => match name {
            b"rFonts" => Some(Kind::RFonts(rfonts_font(e))),
            b"vanish" => Some(Kind::Vanish(on_off(e))),
            _ => None,
        },
        Kind::TrPr => (name == b"del").then_some(Kind::RowDeleted),
        Kind::PPr => (name == b"rPr").then_some(Kind::MarkRPr),
        Kind::MarkRPr => matches!(name, b"del" | b"moveFrom").then_some(Kind::MarkGone),
        _ => return None,
    })
}

/// The symbol font a `w:rFonts` names in any of its slots (ascii, hAnsi, cs, ...), if any.
fn rfonts_font(e: &BytesStart) -> Font {
    let mut font = Font::Other;
    for a in e.attributes().with_checks(false).flatten() {
        let f = font_of(&String::from_utf8_lossy(a.value.as_ref()));
        if f != Font::Other {
            font = f;
        }
    }
    font
}

impl Kind {
    /// Leaves and properties already read: whatever they contain is dropped.
    fn holds_no_elements(&self) -> bool {
        matches!(
            self,
            Kind::T(_)
                | Kind::Tab
                | Kind::Br
                | Kind::Hyphen
                | Kind::Sym(_)
                | Kind::Tag(_)
                | Kind::Alias(_)
                | Kind::Placeholder(_)
                | Kind::Checked14(_)
                | Kind::FfDefault(_)
                | Kind::FfChecked(_)
                | Kind::DdResult(_)
                | Kind::DdDefault(_)
                | Kind::ListEntry(_)
                | Kind::RFonts(_)
                | Kind::Vanish(_)
                | Kind::RowDeleted
                | Kind::MarkGone
        )
    }
}

/// An element of the document body: paragraphs, runs and their text, tables, content
/// controls, text boxes and fields; [`SKIPPED`] ones are dropped, unknown ones kept as
/// containers (their text still counts).
fn body_element(parent: &Kind, name: &[u8], e: &BytesStart) -> Option<Kind> {
    Some(match name {
        b"p" => Kind::P,
        b"r" => Kind::R,
        b"t" => Kind::T(String::new()),
        b"tab" | b"ptab" => Kind::Tab,
        b"br" | b"cr" => Kind::Br,
        b"noBreakHyphen" => Kind::Hyphen,
        b"sym" => sym_kind(e),
        b"tbl" => Kind::Tbl,
        b"tr" => Kind::Tr,
        b"trPr" => Kind::TrPr,
        b"tc" => Kind::Tc,
        b"sdt" => Kind::Sdt,
        b"sdtPr" => Kind::SdtPr,
        b"sdtContent" => Kind::SdtContent,
        b"txbxContent" => Kind::TxbxContent,
        b"rPr" if *parent == Kind::R => Kind::RPr,
        b"rPr" => return None,
        b"pPr" if *parent == Kind::P => Kind::PPr,
        b"pPr" => return None,
        b"fldChar" => Kind::FldChar(match attr(e, b"fldCharType").as_deref() {
            Some("begin") => FldType::Begin,
            Some("separate") => FldType::Separate,
            Some("end") => FldType::End,
            _ => FldType::Other,
        }),
        n if SKIPPED.contains(&n) => return None,
        _ => Kind::Container,
    })
}

fn xml_error(e: impl std::fmt::Display, pos: u64) -> ReadError {
    ReadError::Damaged(format!(
        "word/document.xml is not valid XML near byte {pos}: {e}"
    ))
}

/// Parses the document into a tree of kept elements. Iterative, so depth costs no stack.
/// At most `max_nodes` elements are kept and [`MAX_KEPT_TEXT`] bytes of text: each kept
/// element costs memory, and a 51 KB .docx of empty paragraphs unzips to millions of them
/// (772 MB before this bound).
fn parse_tree(xml: &str, max_depth: usize, max_nodes: usize) -> Result<Node, ReadError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut tree = TreeBuilder::new(max_depth, max_nodes);
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| xml_error(e, pos))?;
        match event {
            Event::Start(e) => tree.start(&e)?,
            Event::Empty(e) => tree.empty(&e)?,
            Event::End(_) => tree.end(pos)?,
            Event::Text(t) => {
                if tree.takes_text() {
                    tree.text(&t.unescape().map_err(|e| xml_error(e, pos))?)?;
                }
            }
            Event::CData(t) => {
                if tree.takes_text() {
                    tree.text(&t.decode().map_err(|e| xml_error(e, pos))?)?;
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    tree.finish()
}

/// The tree [`parse_tree`] builds as the XML events come: the open elements, how deep the
/// XML is, how many levels of a dropped element are open, and what has been kept so far.
struct TreeBuilder {
    stack: Vec<Node>,
    depth: usize,
    /// >0 while inside a dropped element: how many of its levels are open.
    skip: usize,
    nodes: usize,
    text_bytes: usize,
    max_depth: usize,
    max_nodes: usize,
}

impl TreeBuilder {
    fn new(max_depth: usize, max_nodes: usize) -> Self {
        TreeBuilder {
            stack: vec![Node {
                kind: Kind::Container,
                children: Vec::new(),
            }],
            depth: 0,
            skip: 0,
            nodes: 0,
            text_bytes: 0,
            max_depth,
            max_nodes,
        }
    }

    fn too_deep(&self) -> ReadError {
        ReadError::Limit(format!(
            "word/document.xml nests elements deeper than {} levels",
            self.max_depth
        ))
    }

    /// Counts one more kept element against `max_nodes`.
    fn keep_one(&mut self) -> Result<(), ReadError> {
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            return Err(ReadError::Limit(format!(
                "word/document.xml has more than {} elements",
                self.max_nodes
            )));
        }
        Ok(())
    }

    /// An opening tag: the element is kept (and open) or dropped with all it contains.
    fn start(&mut self, e: &BytesStart) -> Result<(), ReadError> {
        self.depth = self.depth.checked_add(1).ok_or_else(|| self.too_deep())?;
        if self.depth > self.max_depth {
            return Err(self.too_deep());
        }
        if self.skip > 0 {
            self.skip = self.skip.saturating_add(1);
            return Ok(());
        }
        let parent = self.stack.last();
        if e.local_name().as_ref() == b"Choice" && parent.is_some_and(|p| !p.children.is_empty()) {
            // `mc:AlternateContent` (ECMA-376 Part 3 §10.2.1): a consumer selects one Choice
            // (the Fallback is skipped); a second Choice would read the same text twice.
            self.skip = 1;
            return Ok(());
        }
        let parent = parent.map(|n| &n.kind).unwrap_or(&Kind::Container);
        match classify(parent, e) {
            Some(kind) => {
                self.keep_one()?;
                self.stack.push(Node {
                    kind,
                    children: Vec::new(),
                });
            }
            None => self.skip = 1,
        }
        Ok(())
    }

    /// An empty element (`<w:tab/>`): kept as a child of the open element, or dropped.
    fn empty(&mut self, e: &BytesStart) -> Result<(), ReadError> {
        if self.depth.saturating_add(1) > self.max_depth {
            return Err(self.too_deep());
        }
        if self.skip > 0 {
            return Ok(());
        }
        if let Some(kind) = self.stack.last().and_then(|top| classify(&top.kind, e)) {
            self.keep_one()?;
            if let Some(top) = self.stack.last_mut() {
                top.children.push(Node {
                    kind,
                    children: Vec::new(),
                });
            }
        }
        Ok(())
    }

    /// A closing tag: the open element becomes its parent's child.
    fn end(&mut self, pos: u64) -> Result<(), ReadError> {
        self.depth = self
            .depth
            .checked_sub(1)
            .ok_or_else(|| xml_error("unexpected end tag", pos))?;
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(());
        }
        if self.stack.len() < 2 {
            return Err(xml_error("unexpected end tag", pos));
        }
        if let Some(node) = self.stack.pop()
            && let Some(parent) = self.stack.last_mut()
        {
            adopt(parent, node);
        }
        Ok(())
    }

    /// Whether text here is kept: only inside a kept `w:t`.
    fn takes_text(&self) -> bool {
        self.skip == 0
            && matches!(
                self.stack.last(),
                Some(Node {
                    kind: Kind::T(_),
                    ..
                })
            )
    }

    /// Text of the open `w:t`, counted against [`MAX_KEPT_TEXT`].
    fn text(&mut self, text: &str) -> Result<(), ReadError> {
        self.text_bytes = self.text_bytes.saturating_add(text.len());
        if self.text_bytes > MAX_KEPT_TEXT {
            return Err(ReadError::Limit(format!(
                "word/document.xml holds more than {MAX_KEPT_TEXT} bytes of text"
            )));
        }
        if let Some(Node {
            kind: Kind::T(s), ..
        }) = self.stack.last_mut()
        {
            s.push_str(text);
        }
        Ok(())
    }

    /// The root, once every element is closed.
    fn finish(mut self) -> Result<Node, ReadError> {
        if self.depth != 0 || self.stack.len() != 1 {
            return Err(ReadError::Damaged(
                "word/document.xml ends before its elements are closed (truncated file?)".into(),
            ));
        }
        let root = self.stack.pop().unwrap_or(Node {
            kind: Kind::Container,
            children: Vec::new(),
        });
        if root.children.is_empty() {
            return Err(ReadError::Damaged(
                "word/document.xml has no document element".into(),
            ));
        }
        Ok(root)
    }
}

/// Range marks Word may write between two paragraphs (comment range ends and the like) that
/// do not separate a paragraph whose mark was deleted from the next; a bound, so a document
/// of millions of empty elements costs no quadratic search.
const MAX_MARKS_BETWEEN: usize = 8;

/// Makes `node` the last child of `parent`; a paragraph whose previous sibling's mark was
/// deleted (tracked) continues that paragraph instead, as Word shows it. The joined paragraph
/// keeps the later paragraph's properties first (`w:pPr` is a paragraph's first child), so
/// whether it joins the next one too is one look, however many were joined.
fn adopt(parent: &mut Node, mut node: Node) {
    let empty_mark = |c: &&mut Node| c.kind == Kind::Container && c.children.is_empty();
    if node.kind == Kind::P
        && let Some(prev) = parent
            .children
            .iter_mut()
            .rev()
            .take(MAX_MARKS_BETWEEN)
            .find(|c| !empty_mark(c))
        && prev.kind == Kind::P
        && mark_gone(prev)
        && let Some(first) = prev.children.first_mut()
    {
        let own_ppr = node.children.first().is_some_and(|c| c.kind == Kind::PPr);
        *first = if own_ppr {
            node.children.remove(0)
        } else {
            Node {
                kind: Kind::Container,
                children: Vec::new(),
            }
        };
        prev.children.append(&mut node.children);
        return;
    }
    parent.children.push(node);
}

/// Whether a paragraph's mark was deleted or moved away (`w:pPr/w:rPr/w:del`).
fn mark_gone(p: &Node) -> bool {
    p.children
        .first()
        .filter(|c| c.kind == Kind::PPr)
        .into_iter()
        .flat_map(|c| &c.children)
        .filter(|c| c.kind == Kind::MarkRPr)
        .flat_map(|c| &c.children)
        .any(|c| c.kind == Kind::MarkGone)
}

// ------------------------------------------------------------------------------------ text helpers

/// Appends as much of `s` as fits under [`MAX_TEXT`], never splitting a character.
fn push_capped(dst: &mut String, s: &str) {
    let room = MAX_TEXT.saturating_sub(dst.len());
    if s.len() <= room {
        dst.push_str(s);
    } else {
        let mut end = room;
        while end > 0 && !s.is_char_boundary(end) {
            end -= 1;
        }
        dst.push_str(s.get(..end).unwrap_or(""));
    }
}

/// Adds a non-empty line to a multi-line text.
fn add_line(dst: &mut String, line: &str) {
    if line.is_empty() {
        return;
    }
    if !dst.is_empty() {
        push_capped(dst, "\n");
    }
    push_capped(dst, line);
}

/// Characters that symbol fonts and Word's private-use code points draw as tick boxes.
fn map_symbol_text(s: &str, font: Font) -> String {
    s.chars()
        .map(|c| {
            let code = u32::from(c);
            let shown = match font {
                Font::Other => None,
                f => symbol_tick(f, code),
            };
            let shown = shown.or_else(|| {
                (0xF000..=0xF0FF)
                    .contains(&code)
                    .then(|| symbol_tick(Font::Wingdings, code))
                    .flatten()
            });
            match shown {
                Some(g) => g.to_string(),
                None => c.to_string(),
            }
        })
        .collect()
}

/// Whether a whole cell is a tick mark (ticked or not), as written in tick-box tables.
fn is_tick_cell(s: &str) -> bool {
    let s = s.trim();
    is_tick_glyph(s) || matches!(s, "X" | "x" | "Ja" | "ja" | "JA" | "Nej" | "nej" | "NEJ")
}

/// The tick glyph `s` starts with, if any.
fn leading_glyph(s: &str) -> Option<&'static str> {
    leading_tick_glyph(s).map(|(g, _)| g)
}

/// Splits "☒ SSL-certifikat   ☐ URL" into (glyph, text) items; None unless the line starts with
/// a tick glyph.
fn tick_items(line: &str) -> Option<Vec<(&'static str, String)>> {
    leading_glyph(line)?;
    let mut items: Vec<(&'static str, String)> = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        if let Some(g) = leading_glyph(rest) {
            items.push((g, String::new()));
            rest = rest.get(g.len()..).unwrap_or("");
            continue;
        }
        let mut chars = rest.chars();
        let c = chars.next().unwrap_or(' ');
        if let Some((_, text)) = items.last_mut() {
            text.push(c);
        }
        rest = chars.as_str();
    }
    Some(
        items
            .into_iter()
            .map(|(g, t)| (g, t.trim().to_string()))
            .collect(),
    )
}

// ------------------------------------------------------------------------------------ walk

/// How paragraphs in a block list are read: at body level (and in single-cell rows) each
/// paragraph is interpreted; inside a multi-cell row they are only the cell's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Body,
    Cell,
}

/// What a content control says about itself.
#[derive(Debug, Default)]
struct SdtInfo {
    labels: Vec<String>,
    placeholder: bool,
    checkbox: Option<bool>,
}

fn sdt_info(sdt: &Node) -> SdtInfo {
    let mut info = SdtInfo::default();
    let mut tag = None;
    let mut alias = None;
    for pr in sdt.children.iter().filter(|c| c.kind == Kind::SdtPr) {
        for c in &pr.children {
            match &c.kind {
                Kind::Tag(v) => tag = Some(v.trim().to_string()),
                Kind::Alias(v) => alias = Some(v.trim().to_string()),
                Kind::Placeholder(b) => info.placeholder |= *b,
                Kind::Checkbox14 => {
                    let checked = c.children.iter().any(|k| k.kind == Kind::Checked14(true));
                    info.checkbox = Some(checked);
                }
                _ => {}
            }
        }
    }
    // The tag first (the brief's label), then the alias when it says something else: a tag is
    // sometimes a programmer's name ("txtCVR") where the alias is the human one.
    for l in [tag, alias].into_iter().flatten() {
        if !l.is_empty() && !info.labels.contains(&l) {
            info.labels.push(l);
        }
    }
    info
}

fn sdt_content(sdt: &Node) -> &[Node] {
    sdt.children
        .iter()
        .find(|c| c.kind == Kind::SdtContent)
        .map(|c| c.children.as_slice())
        .unwrap_or(&[])
}

fn glyph(checked: bool) -> &'static str {
    if checked { TICKED } else { UNTICKED }
}

/// The text a legacy form field shows at its start: a check box's state or a drop-down's
/// chosen entry.
fn form_field_text(fld: &Node) -> Option<String> {
    let ff = fld.children.iter().find(|c| c.kind == Kind::FfData)?;
    for c in &ff.children {
        match c.kind {
            Kind::FfCheckBox => {
                let mut default = false;
                let mut checked = None;
                for k in &c.children {
                    match k.kind {
                        Kind::FfDefault(b) => default = b,
                        Kind::FfChecked(b) => checked = Some(b),
                        _ => {}
                    }
                }
                return Some(glyph(checked.unwrap_or(default)).to_string());
            }
            Kind::DdList => {
                let mut result = None;
                let mut default = None;
                let mut list = Vec::new();
                for k in &c.children {
                    match &k.kind {
                        Kind::DdResult(n) => result = Some(*n),
                        Kind::DdDefault(n) => default = Some(*n),
                        Kind::ListEntry(v) => list.push(v.as_str()),
                        _ => {}
                    }
                }
                let i = result.or(default).unwrap_or(0);
                return list.get(i).map(|s| s.to_string());
            }
            _ => {}
        }
    }
    None
}

/// A table row's cell, with the content controls wrapped around it.
struct CellRef<'n> {
    tc: &'n Node,
    sdts: Vec<SdtInfo>,
}

struct RowRef<'n> {
    tr: &'n Node,
    sdts: Vec<SdtInfo>,
}

/// Rows of a table, looking through row-level content controls and wrappers.
fn collect_rows<'n>(node: &'n Node, sdts: &mut Vec<&'n Node>, out: &mut Vec<RowRef<'n>>) {
    for c in &node.children {
        match c.kind {
            Kind::Tr => {
                let deleted = c.children.iter().any(|k| {
                    k.kind == Kind::TrPr && k.children.iter().any(|d| d.kind == Kind::RowDeleted)
                });
                if !deleted {
                    out.push(RowRef {
                        tr: c,
                        sdts: sdts.iter().map(|s| sdt_info(s)).collect(),
                    });
                }
            }
            Kind::Sdt => {
                sdts.push(c);
                for k in c.children.iter().filter(|k| k.kind == Kind::SdtContent) {
                    collect_rows(k, sdts, out);
                }
                sdts.pop();
            }
            Kind::Container => collect_rows(c, sdts, out),
            _ => {}
        }
    }
}

/// Cells of a row, looking through cell-level content controls and wrappers.
fn collect_cells<'n>(node: &'n Node, sdts: &mut Vec<&'n Node>, out: &mut Vec<CellRef<'n>>) {
    for c in &node.children {
        match c.kind {
            Kind::Tc => out.push(CellRef {
                tc: c,
                sdts: sdts.iter().map(|s| sdt_info(s)).collect(),
            }),
            Kind::Sdt => {
                sdts.push(c);
                for k in c.children.iter().filter(|k| k.kind == Kind::SdtContent) {
                    collect_cells(k, sdts, out);
                }
                sdts.pop();
            }
            Kind::Container => collect_cells(c, sdts, out),
            _ => {}
        }
    }
}

/// One table row after its cells were read, before it is interpreted.
struct RowDone {
    cells: Vec<String>,
    single: bool,
    entries: Vec<Entry>,
    text: Vec<String>,
    sdts: Vec<SdtInfo>,
    line: String,
}

#[derive(Default)]
struct Walker {
    entries: Vec<Entry>,
    text: Vec<String>,
    /// Open fields: true once past `separate` (showing the result).
    fields: Vec<bool>,
    /// How many open fields are still in their instructions (hidden text).
    fields_in_instr: usize,
    output: usize,
    over_budget: bool,
    /// How many content controls holding typed text were read so far.
    text_controls: usize,
}

impl Walker {
    fn charge(&mut self, n: usize) -> bool {
        self.output = self.output.saturating_add(n);
        if self.output > MAX_OUTPUT {
            self.over_budget = true;
        }
        !self.over_budget
    }

    fn push_entry(&mut self, label: &str, value: &str) -> Option<Entry> {
        let mut l = String::new();
        push_capped(
            &mut l,
            label
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str(),
        );
        let mut v = String::new();
        push_capped(&mut v, value.trim());
        if l.is_empty() || !self.charge(l.len().saturating_add(v.len())) {
            return None;
        }
        let e = Entry::new(l, v);
        self.entries.push(e.clone());
        Some(e)
    }

    fn push_text(&mut self, line: &str) {
        let line = line.trim();
        if !line.is_empty() && self.charge(line.len()) {
            let mut s = String::new();
            push_capped(&mut s, line);
            self.text.push(s);
        }
    }

    /// Appends entries found inside a construct after the construct's own, dropping those
    /// that merely repeat it (a control tagged with the label of its own row).
    fn extend_dedup(&mut self, inner: Vec<Entry>, own: &[Entry]) {
        self.entries
            .extend(inner.into_iter().filter(|e| !own.contains(e)));
    }

    fn sdt_entries(&mut self, info: &SdtInfo, value: &str) -> Vec<Entry> {
        let mut out = Vec::new();
        for l in &info.labels {
            out.extend(self.push_entry(l, value));
        }
        out
    }

    fn visible(&self) -> bool {
        self.fields_in_instr == 0
    }

    fn fld_char(&mut self, node: &Node, ty: FldType, out: &mut String) {
        match ty {
            FldType::Begin => {
                if self.visible()
                    && let Some(t) = form_field_text(node)
                {
                    push_capped(out, &t);
                }
                self.fields.push(false);
                self.fields_in_instr = self.fields_in_instr.saturating_add(1);
            }
            FldType::Separate => {
                if let Some(last) = self.fields.last_mut()
                    && !*last
                {
                    *last = true;
                    self.fields_in_instr = self.fields_in_instr.saturating_sub(1);
                }
            }
            FldType::End => {
                if self.fields.pop() == Some(false) {
                    self.fields_in_instr = self.fields_in_instr.saturating_sub(1);
                }
            }
            FldType::Other => {}
        }
    }

    /// Field instructions never span paragraphs in practice; forgetting unfinished ones at a
    /// paragraph's end keeps a broken field from hiding the rest of the document.
    fn end_paragraph(&mut self) {
        self.fields.retain(|in_result| *in_result);
        self.fields_in_instr = 0;
    }

    /// Paragraph-level content: runs, inline content controls, wrappers. Block content met
    /// here (text boxes) is handed back in `boxes` to be read after the paragraph.
    fn inline<'n>(&mut self, nodes: &'n [Node], out: &mut String, boxes: &mut Vec<&'n Node>) {
        for n in nodes {
            match &n.kind {
                Kind::R => {
                    let mut font = Font::Other;
                    let mut hidden = false;
                    for pr in n.children.iter().filter(|c| c.kind == Kind::RPr) {
                        for c in &pr.children {
                            match c.kind {
                                Kind::RFonts(f) => font = f,
                                Kind::Vanish(v) => hidden = v,
                                _ => {}
                            }
                        }
                    }
                    self.run(&n.children, font, hidden, out, boxes);
                }
                Kind::Sdt => self.inline_sdt(n, out, boxes),
                Kind::FldChar(ty) => self.fld_char(n, *ty, out),
                Kind::P | Kind::Tbl | Kind::TxbxContent => boxes.push(n),
                Kind::Container | Kind::SdtContent => self.inline(&n.children, out, boxes),
                _ => {}
            }
        }
    }

    fn run<'n>(
        &mut self,
        nodes: &'n [Node],
        font: Font,
        hidden: bool,
        out: &mut String,
        boxes: &mut Vec<&'n Node>,
    ) {
        for c in nodes {
            let show = self.visible() && !hidden;
            match &c.kind {
                Kind::T(s) if show => push_capped(out, &map_symbol_text(s, font)),
                Kind::Tab if show => push_capped(out, "\t"),
                Kind::Br if show => push_capped(out, "\n"),
                Kind::Hyphen if show => push_capped(out, "-"),
                Kind::Sym(Some(g)) if show => push_capped(out, g),
                Kind::FldChar(ty) => self.fld_char(c, *ty, out),
                Kind::P | Kind::Tbl | Kind::TxbxContent => boxes.push(c),
                Kind::Sdt => self.inline_sdt(c, out, boxes),
                Kind::Container => self.run(&c.children, font, hidden, out, boxes),
                _ => {}
            }
        }
    }

    fn inline_sdt<'n>(&mut self, sdt: &'n Node, out: &mut String, boxes: &mut Vec<&'n Node>) {
        let info = sdt_info(sdt);
        if let Some(checked) = info.checkbox {
            let g = glyph(checked);
            if self.visible() {
                push_capped(out, g);
            }
            self.sdt_entries(&info, g);
        } else if info.placeholder {
            self.sdt_entries(&info, "");
        } else {
            self.text_controls = self.text_controls.saturating_add(1);
            let start = out.len();
            self.inline(sdt_content(sdt), out, boxes);
            let value = out.get(start..).unwrap_or("").trim().to_string();
            self.sdt_entries(&info, &value);
        }
    }

    /// A paragraph's visible text, with its content controls' entries pushed and its text
    /// boxes collected.
    fn paragraph_text<'n>(&mut self, p: &'n Node, boxes: &mut Vec<&'n Node>) -> String {
        let mut text = String::new();
        self.inline(&p.children, &mut text, boxes);
        self.end_paragraph();
        text.trim().to_string()
    }

    /// A list of block-level items (paragraphs, tables, block content controls). Returns their
    /// visible text, one line per paragraph or table row.
    fn blocks(&mut self, nodes: &[Node], mode: Mode) -> String {
        let mut lines = String::new();
        // The entry of a "Label:" paragraph that following "☒ item" paragraphs belong to.
        let mut open: Option<usize> = None;
        for n in nodes {
            if self.over_budget {
                break;
            }
            let line = match n.kind {
                Kind::P => match mode {
                    Mode::Body => self.paragraph_body(n, &mut open),
                    Mode::Cell => {
                        let mut boxes = Vec::new();
                        let mut line = self.paragraph_text(n, &mut boxes);
                        for b in boxes {
                            let t = self.blocks(std::slice::from_ref(b), mode);
                            add_line(&mut line, &t);
                        }
                        line
                    }
                },
                Kind::Tbl => {
                    open = None;
                    self.table(n)
                }
                Kind::Sdt => {
                    open = None;
                    self.block_sdt(n, mode)
                }
                Kind::Container | Kind::SdtContent | Kind::TxbxContent => {
                    self.blocks(&n.children, mode)
                }
                _ => String::new(),
            };
            add_line(&mut lines, &line);
        }
        lines
    }

    /// A body paragraph: "Label: value" → entry, "☒ item" → entries (or the items of an open
    /// "Label:" list), anything else → free text.
    fn paragraph_body(&mut self, p: &Node, open: &mut Option<usize>) -> String {
        let saved = std::mem::take(&mut self.entries);
        let mut boxes = Vec::new();
        let mut line = self.paragraph_text(p, &mut boxes);
        let inner = std::mem::replace(&mut self.entries, saved);
        let mut own = Vec::new();
        if line.is_empty() {
            // Blank lines neither close an open list nor say anything.
        } else if let (Some(i), Some(_)) = (*open, leading_glyph(&line)) {
            if let Some(e) = self.entries.get_mut(i) {
                let mut v = std::mem::take(&mut e.value);
                add_line(&mut v, &line);
                e.value = v;
            }
        } else if let Some(items) = tick_items(&line) {
            *open = None;
            for (g, text) in items {
                if !text.is_empty() {
                    own.extend(self.push_entry(&text, g));
                }
            }
        } else if let Some((label, value)) = split_label(&line, false) {
            let list = value.is_empty() || leading_glyph(&value).is_some();
            let idx = self.entries.len();
            own.extend(self.push_entry(&label, &value));
            *open = (list && !own.is_empty()).then_some(idx);
        } else {
            *open = None;
            self.push_text(&line);
        }
        self.extend_dedup(inner, &own);
        for b in boxes {
            let t = self.blocks(std::slice::from_ref(b), Mode::Body);
            add_line(&mut line, &t);
        }
        line
    }

    fn block_sdt(&mut self, sdt: &Node, mode: Mode) -> String {
        let info = sdt_info(sdt);
        if let Some(checked) = info.checkbox {
            let g = glyph(checked);
            self.sdt_entries(&info, g);
            return g.to_string();
        }
        if info.placeholder {
            self.sdt_entries(&info, "");
            return String::new();
        }
        self.text_controls = self.text_controls.saturating_add(1);
        let saved = std::mem::take(&mut self.entries);
        let text = self.blocks(sdt_content(sdt), mode);
        let inner = std::mem::replace(&mut self.entries, saved);
        let own = self.sdt_entries(&info, &text);
        self.extend_dedup(inner, &own);
        text
    }

    /// Reads a table row by row. Returns its text, one line per row.
    fn table(&mut self, tbl: &Node) -> String {
        let mut rows = Vec::new();
        collect_rows(tbl, &mut Vec::new(), &mut rows);
        let mut done = Vec::with_capacity(rows.len());
        for row in rows {
            if self.over_budget {
                break;
            }
            done.push(self.read_row(row));
        }
        // A table where some row starts with a tick mark is a tick-box table: there an empty
        // first cell is an unticked box, elsewhere it continues the row above.
        let tick_table = done.iter().any(|d| {
            !d.single
                && d.cells
                    .first()
                    .is_some_and(|c| !c.is_empty() && is_tick_cell(c))
        });
        let mut lines = String::new();
        let mut last: Option<usize> = None;
        for d in done {
            add_line(&mut lines, &d.line);
            if d.single || d.cells.is_empty() {
                last = None;
                self.entries.extend(d.entries);
                self.text.extend(d.text);
            } else {
                let own = self.row_entries(&d.cells, tick_table, &mut last);
                self.extend_dedup(d.entries, &own);
                self.text.extend(d.text);
            }
            for info in &d.sdts {
                let v = if info.placeholder {
                    ""
                } else {
                    d.line.as_str()
                };
                self.sdt_entries(info, v);
            }
        }
        lines
    }

    /// Reads a row's cells with the document's entries and free text set aside, so that
    /// the row's own entry can come before what its cells contain.
    fn read_row(&mut self, row: RowRef) -> RowDone {
        let mut cells_ref = Vec::new();
        collect_cells(row.tr, &mut Vec::new(), &mut cells_ref);
        let saved_entries = std::mem::take(&mut self.entries);
        let saved_text = std::mem::take(&mut self.text);
        let single = cells_ref.len() == 1;
        let mut cells = Vec::new();
        let mut line = String::new();
        for c in &cells_ref {
            let mode = if single { Mode::Body } else { Mode::Cell };
            let before = (self.entries.len(), self.text_controls);
            let text = self.blocks(&c.tc.children, mode);
            if !single {
                self.widen_control_value(before, &text);
            }
            for info in &c.sdts {
                let v = if info.placeholder { "" } else { text.as_str() };
                self.sdt_entries(info, v);
            }
            if !text.is_empty() {
                if !line.is_empty() {
                    push_capped(&mut line, " ");
                }
                push_capped(&mut line, &text);
            }
            cells.push(text);
        }
        let entries = std::mem::replace(&mut self.entries, saved_entries);
        let text = std::mem::replace(&mut self.text, saved_text);
        RowDone {
            cells,
            single,
            entries,
            text,
            sdts: row.sdts,
            line,
        }
    }

    /// A value typed partly inside a cell's one content control and partly after it (in a
    /// new paragraph, after a line break) is one value: the control's entries, pushed since
    /// `first` (with `controls` text controls read before the cell), take the whole cell's
    /// text, so the row and its control do not disagree (`form.ambiguous`).
    fn widen_control_value(&mut self, (first, controls): (usize, usize), cell: &str) {
        if self.text_controls != controls.saturating_add(1) {
            return;
        }
        let Some(value) = self.entries.get(first).map(|e| e.value.clone()) else {
            return;
        };
        let pushed = self.entries.get(first..).unwrap_or_default();
        if value.is_empty()
            || cell == value
            || !cell.contains(value.as_str())
            || pushed.iter().any(|e| e.value != value)
            || !self.charge(cell.len().saturating_mul(pushed.len()))
        {
            return;
        }
        for e in self.entries.iter_mut().skip(first) {
            e.value = cell.to_string();
        }
    }

    /// The entries of one multi-cell row; returns them for de-duplication.
    fn row_entries(
        &mut self,
        cells: &[String],
        tick_table: bool,
        last: &mut Option<usize>,
    ) -> Vec<Entry> {
        let mut own = Vec::new();
        let Some((first, rest)) = cells.split_first() else {
            return own;
        };
        let first = first.trim();
        let others: Vec<&str> = rest
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        let pairs = cells.len() >= 4 && cells.len().is_multiple_of(2);
        if !first.is_empty() && is_tick_cell(first) {
            *last = None;
            let all_ticks = cells
                .iter()
                .step_by(2)
                .all(|c| c.trim().is_empty() || is_tick_cell(c));
            if pairs && all_ticks {
                // "☒ | SSL-certifikat | ☐ | URL"
                for pair in cells.chunks_exact(2) {
                    if let [g, label] = pair
                        && !label.trim().is_empty()
                    {
                        own.extend(self.push_entry(label, g.trim()));
                    }
                }
            } else if !others.is_empty() {
                own.extend(self.push_entry(&others.join(" "), first));
            }
        } else if first.is_empty() {
            if others.is_empty() {
                return own;
            }
            if tick_table {
                *last = None;
                own.extend(self.push_entry(&others.join(" "), ""));
            } else if let Some(e) = last.and_then(|i| self.entries.get_mut(i)) {
                // A row under a (vertically merged) label continues its value.
                let mut v = std::mem::take(&mut e.value);
                add_line(&mut v, &others.join("\n"));
                e.value = v;
            } else {
                self.push_text(&others.join(" "));
            }
        } else if pairs && cells.iter().step_by(2).all(|c| c.trim().ends_with(':')) {
            // "Label: | value | Label: | value"
            *last = None;
            for pair in cells.chunks_exact(2) {
                if let [label, value] = pair {
                    let label = label.trim().trim_end_matches(':');
                    own.extend(self.push_entry(label, value));
                }
            }
        } else {
            let value = others.join("\n");
            let (label, value) = match split_label(first, false) {
                Some((l, v)) if value.is_empty() && !v.is_empty() => (l, v),
                _ => (first.to_string(), value),
            };
            let idx = self.entries.len();
            own.extend(self.push_entry(&label, &value));
            *last = (!own.is_empty()).then_some(idx);
            if value.is_empty() {
                // A label without a value may as well be a heading: keep it as text too.
                self.push_text(&label);
            }
        }
        own
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
    const W14: &str = "http://schemas.microsoft.com/office/word/2010/wordml";

    fn zip_parts(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in parts {
            zw.start_file(*name, opts).unwrap();
            zw.write_all(data).unwrap();
        }
        zw.finish().unwrap().into_inner()
    }

    /// A minimal .docx around a `w:body` content.
    fn docx(body: &str) -> Vec<u8> {
        let doc = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}" xmlns:w14="{W14}"><w:body>{body}<w:sectPr/></w:body></w:document>"#
        );
        zip_parts(&[
            (
                "[Content_Types].xml",
                br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
            ),
            ("word/document.xml", doc.as_bytes()),
        ])
    }

    fn p(text: &str) -> String {
        format!(
            r#"<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr><w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#
        )
    }

    fn cell(inner: &str) -> String {
        format!(r#"<w:tc><w:tcPr><w:tcW w:w="4320" w:type="dxa"/></w:tcPr>{inner}</w:tc>"#)
    }

    fn row(cells: &[&str]) -> String {
        let cs: String = cells.iter().map(|c| cell(&p(c))).collect();
        format!("<w:tr>{cs}</w:tr>")
    }

    fn table(rows: &[String]) -> String {
        format!(
            r#"<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/></w:tblPr><w:tblGrid><w:gridCol w:w="1"/></w:tblGrid>{}</w:tbl>"#,
            rows.concat()
        )
    }

    fn sdt_text(tag: &str, alias: &str, value: &str, placeholder: bool) -> String {
        let ph = if placeholder {
            "<w:showingPlcHdr/>"
        } else {
            ""
        };
        let tag = if tag.is_empty() {
            String::new()
        } else {
            format!(r#"<w:tag w:val="{tag}"/>"#)
        };
        let alias = if alias.is_empty() {
            String::new()
        } else {
            format!(r#"<w:alias w:val="{alias}"/>"#)
        };
        format!(
            r#"<w:sdt><w:sdtPr>{alias}{tag}<w:id w:val="1"/>{ph}<w:text/></w:sdtPr><w:sdtContent><w:r><w:t xml:space="preserve">{value}</w:t></w:r></w:sdtContent></w:sdt>"#
        )
    }

    fn sdt_check(tag: &str, checked: &str, shown: &str) -> String {
        format!(
            r#"<w:sdt><w:sdtPr><w:rPr><w:rFonts w:ascii="MS Gothic"/></w:rPr><w:alias w:val="{tag}"/><w:tag w:val="{tag}"/><w14:checkbox><w14:checked w14:val="{checked}"/><w14:checkedState w14:val="2612" w14:font="MS Gothic"/><w14:uncheckedState w14:val="2610" w14:font="MS Gothic"/></w14:checkbox></w:sdtPr><w:sdtContent><w:r><w:t>{shown}</w:t></w:r></w:sdtContent></w:sdt>"#
        )
    }

    fn read(body: &str) -> RawForm {
        read_docx(&docx(body), "attachment:test.docx", &ReadLimits::default()).unwrap()
    }

    fn e(label: &str, value: &str) -> Entry {
        Entry::new(label, value)
    }

    #[test]
    fn table_rows_give_label_value_pairs_and_text() {
        let body = format!(
            "{}{}{}",
            p("Ændring af teknisk konfiguration for serviceudbyders webservice"),
            p("Udfyld alle felter."),
            table(&[
                row(&["KOMBIT BestillingsID", "NL-2026-0033"]),
                row(&["Miljø:", "Produktion"]),
                row(&["Ønsket tidspunkt", "2026-12-10 kl. 13:00"]),
            ])
        );
        let f = read(&body);
        assert_eq!(f.source, "attachment:test.docx");
        assert_eq!(
            f.entries,
            vec![
                e("KOMBIT BestillingsID", "NL-2026-0033"),
                e("Miljø:", "Produktion"),
                e("Ønsket tidspunkt", "2026-12-10 kl. 13:00"),
            ]
        );
        assert_eq!(
            f.text,
            "Ændring af teknisk konfiguration for serviceudbyders webservice\nUdfyld alle felter."
        );
    }

    #[test]
    fn cell_paragraphs_join_with_newlines_and_extra_cells_join_too() {
        let multi = format!(
            "<w:tr>{}{}</w:tr>",
            cell(&p("Ændringer")),
            cell(&format!("{}{}{}", p("☒ SSL-certifikat"), p(""), p("☐ URL")))
        );
        let three = row(&["Advisering til", "a@x.dk", "b@x.dk"]);
        let f = read(&table(&[multi, three]));
        assert_eq!(
            f.entries,
            vec![
                e("Ændringer", "☒ SSL-certifikat\n☐ URL"),
                e("Advisering til", "a@x.dk\nb@x.dk")
            ]
        );
    }

    #[test]
    fn single_cells_with_and_without_colon() {
        let merged = format!(
            r#"<w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr>{}</w:tc></w:tr>"#,
            p("Organisation")
        );
        let pair = format!(r#"<w:tr>{}</w:tr>"#, cell(&p("CVR-nr.: 12345678")));
        let f = read(&table(&[merged, pair, row(&["Telefon", "12 34 56 78"])]));
        assert_eq!(
            f.entries,
            vec![e("CVR-nr.", "12345678"), e("Telefon", "12 34 56 78")]
        );
        assert_eq!(f.text, "Organisation");
    }

    #[test]
    fn empty_first_cell_continues_the_row_above() {
        let f = read(&table(&[
            row(&["Advisering til", "a@x.dk"]),
            row(&["", "b@x.dk"]),
            row(&["", ""]),
        ]));
        assert_eq!(f.entries, vec![e("Advisering til", "a@x.dk\nb@x.dk")]);
    }

    #[test]
    fn label_without_value_is_kept_as_entry_and_text() {
        let f = read(&table(&[row(&["CVR-nr.", ""])]));
        assert_eq!(f.entries, vec![e("CVR-nr.", "")]);
        assert_eq!(f.text, "CVR-nr.");
    }

    #[test]
    fn four_column_rows_with_colon_labels_pair_up() {
        let f = read(&table(&[row(&["Navn:", "Jens", "Telefon:", "1234"])]));
        assert_eq!(f.entries, vec![e("Navn", "Jens"), e("Telefon", "1234")]);
    }

    #[test]
    fn nested_tables_are_read_after_their_row() {
        let inner = table(&[row(&["☒", "SSL-certifikat"]), row(&["☐", "URL"])]);
        let outer = format!(
            "<w:tr>{}{}</w:tr>",
            cell(&p("Ændringer")),
            cell(&format!("{inner}<w:p/>"))
        );
        let layout = format!(
            "<w:tr>{}</w:tr>",
            cell(&format!(
                "{}{}",
                p("Afsnit"),
                table(&[row(&["Miljø", "Produktion"])])
            ))
        );
        let f = read(&table(&[outer, layout]));
        assert_eq!(
            f.entries,
            vec![
                e("Ændringer", "☒ SSL-certifikat\n☐ URL"),
                e("SSL-certifikat", "☒"),
                e("URL", "☐"),
                e("Miljø", "Produktion"),
            ]
        );
        assert_eq!(f.text, "Afsnit");
    }

    #[test]
    fn tick_table_rows_take_the_label_from_the_second_cell() {
        let f = read(&format!(
            "{}{}",
            p("Ændringer (sæt kryds)"),
            table(&[
                row(&["☒", "SSL-certifikat"]),
                row(&["☐", "URL"]),
                row(&["X", "Datatype (InfRef)"]),
                row(&["", "Sikkerhedsmodel"]),
                row(&["[x]", "SSH-nøgle"]),
                row(&["Nej", "Overvågning"]),
            ])
        ));
        assert_eq!(
            f.entries,
            vec![
                e("SSL-certifikat", "☒"),
                e("URL", "☐"),
                e("Datatype (InfRef)", "X"),
                e("Sikkerhedsmodel", ""),
                e("SSH-nøgle", "[x]"),
                e("Overvågning", "Nej"),
            ]
        );
        assert_eq!(f.text, "Ændringer (sæt kryds)");
    }

    #[test]
    fn tick_pairs_in_one_row() {
        let f = read(&table(&[row(&["☒", "SSL-certifikat", "☐", "URL"])]));
        assert_eq!(f.entries, vec![e("SSL-certifikat", "☒"), e("URL", "☐")]);
    }

    #[test]
    fn paragraphs_label_value_and_free_text() {
        let f = read(&format!(
            "{}{}{}{}{}",
            p("Bestillingsformular"),
            p("CVR-nr.: 12345678"),
            p("Ny URL: https://ws.example.dk/a:b"),
            p("https://ws.example.dk/alone"),
            p("Kl. 13:00 er for sent")
        ));
        assert_eq!(
            f.entries,
            vec![
                e("CVR-nr.", "12345678"),
                e("Ny URL", "https://ws.example.dk/a:b")
            ]
        );
        assert_eq!(
            f.text,
            "Bestillingsformular\nhttps://ws.example.dk/alone\nKl. 13:00 er for sent"
        );
    }

    #[test]
    fn tick_lines_after_a_label_paragraph_form_its_value() {
        let f = read(&format!(
            "{}{}{}{}{}",
            p("Ændringer:"),
            p("☒ SSL-certifikat"),
            p(""),
            p("[ ] URL"),
            p("Slut")
        ));
        assert_eq!(f.entries, vec![e("Ændringer", "☒ SSL-certifikat\n[ ] URL")]);
        assert_eq!(f.text, "Slut");
        let f = read(&p("☒ Til   ☐ Fra"));
        assert_eq!(f.entries, vec![e("Til", "☒"), e("Fra", "☐")]);
    }

    #[test]
    fn a_label_is_as_long_in_a_word_paragraph_as_in_a_mail() {
        // 61 characters before a colon: a sentence in a mail, and now in Word too (was 80).
        let sentence = format!("{}: x", "a".repeat(61));
        let f = read(&p(&sentence));
        assert!(f.entries.is_empty(), "{:?}", f.entries);
        assert_eq!(f.text, sentence);
    }

    #[test]
    fn every_glyph_of_the_one_tick_list_opens_tick_items() {
        // ✗ and ❑ were known to the text reader only, so a Word paragraph with them was text.
        let f = read(&p("✗ SSL-certifikat   ❑ URL"));
        assert_eq!(f.entries, vec![e("SSL-certifikat", "✗"), e("URL", "❑")]);
    }

    #[test]
    fn split_runs_join_without_spaces_and_proof_errors_vanish() {
        let body = r#"<w:p><w:r><w:t>CVR</w:t></w:r><w:proofErr w:type="spellStart"/><w:r><w:rPr><w:b/></w:rPr><w:t>-nr.: 1234</w:t></w:r><w:proofErr w:type="spellEnd"/><w:r><w:t>5678</w:t></w:r></w:p>"#;
        let f = read(body);
        assert_eq!(f.entries, vec![e("CVR-nr.", "12345678")]);
    }

    #[test]
    fn tabs_breaks_and_hyphens() {
        let body = r#"<w:p><w:r><w:t>Advisering til:</w:t><w:tab/><w:t>a@x.dk</w:t><w:br/><w:t>b@x.dk</w:t></w:r></w:p><w:p><w:r><w:t>It</w:t><w:noBreakHyphen/><w:t>system: X</w:t></w:r></w:p>"#;
        let f = read(body);
        assert_eq!(
            f.entries,
            vec![e("Advisering til", "a@x.dk\nb@x.dk"), e("It-system", "X")]
        );
    }

    #[test]
    fn tracked_changes_keep_insertions_and_drop_deletions() {
        let body = r#"<w:p><w:r><w:t>Miljø: </w:t></w:r><w:del w:id="1" w:author="a"><w:r><w:delText>Produktion</w:delText></w:r></w:del><w:ins w:id="2" w:author="a"><w:r><w:t>Eksternt test</w:t></w:r></w:ins><w:moveFrom w:id="3" w:author="a"><w:r><w:t>X</w:t></w:r></w:moveFrom><w:moveTo w:id="4" w:author="a"><w:r><w:t>miljø</w:t></w:r></w:moveTo></w:p>"#;
        let f = read(body);
        assert_eq!(f.entries, vec![e("Miljø", "Eksternt testmiljø")]);
        let deleted_row = r#"<w:tr><w:trPr><w:del w:id="5" w:author="a"/></w:trPr><w:tc><w:p><w:r><w:t>Gammel</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>række</w:t></w:r></w:p></w:tc></w:tr>"#;
        let f = read(&table(&[deleted_row.to_string(), row(&["Ny", "række"])]));
        assert_eq!(f.entries, vec![e("Ny", "række")]);
    }

    #[test]
    fn hidden_text_and_field_instructions_are_not_text() {
        let body = r#"<w:p><w:r><w:t>Service: </w:t></w:r><w:r><w:rPr><w:vanish/></w:rPr><w:t>skjult </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> HYPERLINK "x" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>Opslag</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>"#;
        let f = read(body);
        assert_eq!(f.entries, vec![e("Service", "Opslag")]);
    }

    #[test]
    fn broken_field_does_not_hide_later_paragraphs() {
        let body = format!(
            r#"<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:t>nested instr</w:t></w:r></w:p>{}"#,
            p("Miljø: Produktion")
        );
        let f = read(&body);
        assert_eq!(f.entries, vec![e("Miljø", "Produktion")]);
    }

    #[test]
    fn content_controls_with_tag_and_alias() {
        let body = format!(
            "{}<w:p><w:r><w:t xml:space=\"preserve\">Miljø: </w:t></w:r>{}</w:p><w:p>{}</w:p><w:p>{}</w:p>",
            table(&[format!(
                "<w:tr>{}{}</w:tr>",
                cell(&p("KOMBIT BestillingsID")),
                cell(&format!(
                    "<w:p>{}</w:p>",
                    sdt_text(
                        "KOMBIT BestillingsID",
                        "KOMBIT BestillingsID",
                        "NL-1",
                        false
                    )
                ))
            )]),
            sdt_text("Miljø", "Miljø", "Produktion", false),
            sdt_text("", "Organisation", "Nordlys A/S", false),
            sdt_text("txtCVR", "CVR-nr.", "12345678", false),
        );
        let f = read(&body);
        assert_eq!(
            f.entries,
            vec![
                e("KOMBIT BestillingsID", "NL-1"),
                e("Miljø", "Produktion"),
                e("Organisation", "Nordlys A/S"),
                e("txtCVR", "12345678"),
                e("CVR-nr.", "12345678"),
            ]
        );
        // Controls without a label in their paragraph still leave their text.
        assert_eq!(f.text, "Nordlys A/S\n12345678");
    }

    #[test]
    fn block_and_cell_level_content_controls() {
        let block = format!(
            r#"<w:sdt><w:sdtPr><w:tag w:val="Bemærkninger"/></w:sdtPr><w:sdtContent>{}{}</w:sdtContent></w:sdt>"#,
            p("linje 1"),
            p("linje 2")
        );
        let cell_sdt = format!(
            r#"<w:tr>{}<w:sdt><w:sdtPr><w:tag w:val="Telefon"/></w:sdtPr><w:sdtContent>{}</w:sdtContent></w:sdt></w:tr>"#,
            cell(&p("Telefon")),
            cell(&p("12 34 56 78"))
        );
        let f = read(&format!("{block}{}", table(&[cell_sdt])));
        assert_eq!(
            f.entries,
            vec![
                e("Bemærkninger", "linje 1\nlinje 2"),
                e("Telefon", "12 34 56 78")
            ]
        );
    }

    #[test]
    fn placeholder_content_counts_as_empty() {
        let body = format!(
            "<w:p><w:r><w:t xml:space=\"preserve\">CVR-nr.: </w:t></w:r>{}</w:p>{}",
            sdt_text(
                "CVR-nr.",
                "CVR-nr.",
                "Klik eller tryk her for at skrive tekst.",
                true
            ),
            table(&[format!(
                "<w:tr>{}{}</w:tr>",
                cell(&p("Telefon")),
                cell(&format!(
                    "<w:p>{}</w:p>",
                    sdt_text("Telefon", "", "Klik her", true)
                ))
            )])
        );
        let f = read(&body);
        assert_eq!(f.entries, vec![e("CVR-nr.", ""), e("Telefon", "")]);
        assert!(!f.text.contains("Klik"));
    }

    #[test]
    fn checkbox_controls_follow_their_state_not_their_glyph() {
        let body = format!(
            "<w:p><w:r><w:t xml:space=\"preserve\">Ændringer: </w:t></w:r>{}<w:r><w:t xml:space=\"preserve\"> SSL-certifikat   </w:t></w:r>{}<w:r><w:t xml:space=\"preserve\"> URL   </w:t></w:r>{}<w:r><w:t xml:space=\"preserve\"> Datatype</w:t></w:r></w:p><w:p>{}<w:r><w:t xml:space=\"preserve\"> Til</w:t></w:r></w:p>",
            sdt_check("SSL-certifikat", "1", "☒"),
            sdt_check("URL", "0", "☒"),
            sdt_check("Datatype", "true", "?"),
            sdt_check("Til", "false", "☐"),
        );
        let f = read(&body);
        assert_eq!(
            f.entries,
            vec![
                e("Ændringer", "☒ SSL-certifikat   ☐ URL   ☒ Datatype\n☐ Til"),
                e("SSL-certifikat", "☒"),
                e("URL", "☐"),
                e("Datatype", "☒"),
                e("Til", "☐"),
            ]
        );
    }

    #[test]
    fn legacy_checkbox_fields_show_their_state() {
        let field = |inner: &str| {
            format!(
                r#"<w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:name w:val="Check1"/><w:enabled/><w:checkBox><w:sizeAuto/>{inner}</w:checkBox></w:ffData></w:fldChar></w:r><w:r><w:instrText xml:space="preserve"> FORMCHECKBOX </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>"#
            )
        };
        let body = format!(
            r#"<w:p>{}<w:r><w:t xml:space="preserve"> SSL-certifikat</w:t></w:r></w:p><w:p>{}<w:r><w:t xml:space="preserve"> URL</w:t></w:r></w:p><w:p>{}<w:r><w:t xml:space="preserve"> Datatype</w:t></w:r></w:p><w:p>{}<w:r><w:t xml:space="preserve"> Sikkerhedsmodel</w:t></w:r></w:p>"#,
            field(r#"<w:default w:val="0"/><w:checked/>"#),
            field(r#"<w:default w:val="0"/>"#),
            field(r#"<w:default w:val="1"/>"#),
            field(r#"<w:default w:val="1"/><w:checked w:val="0"/>"#),
        );
        let f = read(&body);
        assert_eq!(
            f.entries,
            vec![
                e("SSL-certifikat", "☒"),
                e("URL", "☐"),
                e("Datatype", "☒"),
                e("Sikkerhedsmodel", "☐")
            ]
        );
    }

    #[test]
    fn legacy_dropdown_field_shows_its_choice() {
        let body = r#"<w:p><w:r><w:t xml:space="preserve">Miljø: </w:t></w:r><w:r><w:fldChar w:fldCharType="begin"><w:ffData><w:ddList><w:result w:val="1"/><w:listEntry w:val="Produktion"/><w:listEntry w:val="Eksternt testmiljø"/></w:ddList></w:ffData></w:fldChar></w:r><w:r><w:instrText> FORMDROPDOWN </w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>"#;
        assert_eq!(read(body).entries, vec![e("Miljø", "Eksternt testmiljø")]);
    }

    #[test]
    fn wingdings_symbols_become_tick_boxes() {
        let body = r#"<w:p><w:r><w:sym w:font="Wingdings" w:char="F0FE"/><w:t xml:space="preserve"> SSL-certifikat </w:t><w:sym w:font="Wingdings" w:char="F0A8"/><w:t xml:space="preserve"> URL</w:t></w:r></w:p><w:p><w:r><w:rPr><w:rFonts w:ascii="Wingdings" w:hAnsi="Wingdings"/></w:rPr><w:t>x</w:t></w:r><w:r><w:t xml:space="preserve"> Datatype</w:t></w:r></w:p>"#;
        let f = read(body);
        assert_eq!(
            f.entries,
            vec![e("SSL-certifikat", "☒"), e("URL", "☐"), e("Datatype", "☒")]
        );
    }

    #[test]
    fn text_boxes_are_read_after_their_paragraph() {
        let body = format!(
            r#"<w:p><w:r><w:t>Titel</w:t></w:r><w:r><w:drawing><wp:inline xmlns:wp="x"><w:txbxContent>{}</w:txbxContent></wp:inline></w:drawing></w:r></w:p>"#,
            p("Miljø: Produktion")
        );
        let f = read(&body);
        assert_eq!(f.entries, vec![e("Miljø", "Produktion")]);
        assert_eq!(f.text, "Titel");
    }

    // ------------------------------------------------------------------ Word's editing marks
    //
    // A complete sftp form as Word writes it after a person filled it in, with and without
    // Word's editing marks (ECMA-376 Part 1 §17.13 tracked changes and comments, §17.5.2
    // content controls, §17.3.2.41 hidden text; Part 3 `mc:AlternateContent`).

    /// Which of Word's editing marks a test form carries.
    #[derive(Clone, Copy, Default)]
    struct Marks {
        tracked: bool,
        comments: bool,
        text_boxes: bool,
        hidden: bool,
        split_control: bool,
    }

    impl Marks {
        const ALL: Marks = Marks {
            tracked: true,
            comments: true,
            text_boxes: true,
            hidden: true,
            split_control: true,
        };
    }

    const REV: &str = r#"w:author="Peter Hansen" w:date="2026-11-28T10:00:00Z""#;

    const SFTP_ROWS: &[(&str, &str)] = &[
        ("KOMBIT BestillingsID", "BD-1234"),
        ("Miljø", "Produktion"),
        ("Ønsket tidspunkt for ændring", "15-12-2026 kl. 10.00"),
        ("Organisation", "Borgerdata I/S"),
        ("CVR-nr.", "54921942"),
        ("Kontaktperson", "Lars Bæk Poulsen"),
        ("E-mail", "fa@kystby.test"),
        ("It-system", "FamilieFlow"),
        ("It-system UUID", "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2"),
        ("It-systemrolle", "Modtagersystem"),
        ("SFTP-bruger", "bd_familieflow"),
        ("Overvågning", "Til"),
        ("Tidsgrænse for afhentning (timer)", "24"),
        ("Advisering til", "drift@kystby.test, vagt@kystby.test"),
    ];

    /// The runs showing `value` in row `n`, with the marks Word adds while a person edits it.
    fn marked_runs(n: usize, value: &str, m: Marks) -> String {
        let mut runs = format!(r#"<w:r><w:t xml:space="preserve">{value}</w:t></w:r>"#);
        if m.tracked {
            // The old value deleted, the new one inserted (§17.13.5.14, §17.13.5.18).
            runs = format!(
                r#"<w:del w:id="{}" {REV}><w:r><w:rPr><w:b/></w:rPr><w:delText xml:space="preserve">gammel {n} </w:delText></w:r></w:del><w:ins w:id="{}" {REV}>{runs}</w:ins>"#,
                100 + n,
                200 + n
            );
        }
        if m.hidden {
            runs = format!(
                r#"<w:r><w:rPr><w:vanish/></w:rPr><w:t xml:space="preserve">skjult note {n} </w:t></w:r>{runs}"#
            );
        }
        if m.comments {
            // §17.13.4: the range, then the reference mark in a run of its own.
            runs = format!(
                r#"<w:commentRangeStart w:id="{n}"/>{runs}<w:commentRangeEnd w:id="{n}"/><w:r><w:rPr><w:rStyle w:val="CommentReference"/></w:rPr><w:commentReference w:id="{n}"/></w:r>"#
            );
        }
        runs
    }

    /// The value cell of row `n`: one paragraph, or (split control) the first part typed in
    /// the content control and the rest in a new paragraph of the same cell.
    fn value_cell(n: usize, label: &str, value: &str, m: Marks) -> String {
        let para =
            |runs: &str| format!("<w:p><w:pPr><w:spacing w:before=\"40\"/></w:pPr>{runs}</w:p>");
        let split = match label {
            "Kontaktperson" => Some(("Lars Bæk", "Poulsen")),
            "Advisering til" => Some(("drift@kystby.test,", "vagt@kystby.test")),
            _ => None,
        };
        let Some((typed_in, typed_after)) = split.filter(|_| m.split_control) else {
            return cell(&para(&marked_runs(n, value, m)));
        };
        let control = format!(
            r#"<w:sdt><w:sdtPr><w:alias w:val="{label}"/><w:tag w:val="{label}"/><w:id w:val="{}"/><w:text w:multiLine="1"/></w:sdtPr><w:sdtContent>{}</w:sdtContent></w:sdt>"#,
            300 + n,
            marked_runs(n, typed_in, m)
        );
        let after = format!(r#"<w:r><w:t>{typed_after}</w:t></w:r>"#);
        if label == "Kontaktperson" {
            // A block-level control, then a new paragraph.
            cell(&format!(
                "{}{}",
                control
                    .replace("<w:sdtContent>", "<w:sdtContent><w:p>")
                    .replace("</w:sdtContent>", "</w:p></w:sdtContent>"),
                para(&after)
            ))
        } else {
            // A control inside the paragraph, the rest typed after a line break.
            cell(&para(&format!("{control}<w:r><w:br/></w:r>{after}")))
        }
    }

    /// The remark below the table: in the clean form one paragraph; with tracked changes the
    /// person joined two paragraphs by deleting the first one's mark (§17.13.5.15); with
    /// text boxes it stands in a floating text box, written twice (`mc:Choice` for Word 2010
    /// and later, `mc:Fallback` as VML).
    fn remark(m: Marks) -> String {
        let mut paras = if m.tracked {
            format!(
                r#"<w:p><w:pPr><w:rPr><w:del w:id="90" {REV}/></w:rPr></w:pPr><w:r><w:t xml:space="preserve">Bemærkninger: Aftalt med </w:t></w:r></w:p><w:p><w:r><w:t>Helpdesk i telefonen.</w:t></w:r></w:p>"#
            )
        } else {
            p("Bemærkninger: Aftalt med Helpdesk i telefonen.")
        };
        if m.comments {
            // One comment inside the paragraph, one whose range marks stand between the
            // paragraphs (range markup is allowed at block level, §17.13.4).
            paras = paras.replacen("<w:r>", r#"<w:commentRangeStart w:id="80"/><w:r>"#, 1);
            paras = paras.replacen("</w:p>", r#"</w:p><w:commentRangeStart w:id="81"/>"#, 1);
            paras.push_str(r#"<w:commentRangeEnd w:id="81"/><w:p><w:commentRangeEnd w:id="80"/><w:r><w:commentReference w:id="80"/></w:r><w:r><w:commentReference w:id="81"/></w:r></w:p>"#);
        }
        if !m.text_boxes {
            return paras;
        }
        format!(
            r##"<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wp:anchor distT="0" distB="0" distL="114300" distR="114300" simplePos="0" relativeHeight="251659264" behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/><wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset></wp:positionH><wp:positionV relativeFrom="paragraph"><wp:posOffset>127000</wp:posOffset></wp:positionV><wp:extent cx="5400000" cy="540000"/><wp:wrapSquare wrapText="bothSides"/><wp:docPr id="1" name="Tekstfelt 1"/><a:graphic><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:wsp><wps:cNvSpPr txBox="1"/><wps:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="5400000" cy="540000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></wps:spPr><wps:txbx><w:txbxContent>{paras}</w:txbxContent></wps:txbx><wps:bodyPr rot="0" vert="horz" wrap="square" anchor="t"/></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice><mc:Fallback><w:pict><v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype><v:shape id="Tekstfelt 1" o:spid="_x0000_s1026" type="#_x0000_t202" style="position:absolute;width:425.2pt;height:42.5pt"><v:textbox><w:txbxContent>{paras}</w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"##
        )
    }

    /// The form's title: with text boxes, in a VML text box alone (`w:pict`, as Word 97-2003
    /// documents keep it), which is still read.
    fn title(m: Marks) -> String {
        let title = p("Ændring af overvågning af filafhentning (SFTP-indbakke)");
        if m.text_boxes {
            format!(
                r##"<w:p><w:r><w:pict><v:shape id="Titel" style="width:453pt;height:30pt" type="#_x0000_t202"><v:textbox><w:txbxContent>{title}</w:txbxContent></v:textbox></v:shape></w:pict></w:r></w:p>"##
            )
        } else {
            title
        }
    }

    /// The whole `w:body` of the form with `m`'s marks.
    fn sftp_form_body(m: Marks) -> String {
        let mut rows = Vec::new();
        for (n, (label, value)) in SFTP_ROWS.iter().enumerate() {
            let mut tr_pr = String::from("<w:cantSplit/>");
            if m.tracked && *label == "Advisering til" {
                // A row the person added (§17.13.5.19).
                tr_pr.push_str(&format!(r#"<w:ins w:id="400" {REV}/>"#));
            }
            rows.push(format!(
                "<w:tr><w:trPr>{tr_pr}</w:trPr>{}{}</w:tr>",
                cell(&p(label)),
                value_cell(n, label, value, m)
            ));
            if m.comments && n == 3 {
                // A comment on several rows: its range marks stand between the rows.
                rows.push(r#"<w:commentRangeStart w:id="70"/>"#.to_string());
            }
        }
        if m.comments {
            rows.push(r#"<w:commentRangeEnd w:id="70"/>"#.to_string());
        }
        if m.tracked {
            // A row the person deleted: its old second value must not make the form ambiguous.
            rows.push(format!(
                r#"<w:tr><w:trPr><w:del w:id="401" {REV}/></w:trPr>{}{}</w:tr>"#,
                cell(&format!(r#"<w:p><w:del w:id="402" {REV}><w:r><w:delText>Miljø</w:delText></w:r></w:del></w:p>"#)),
                cell(&format!(r#"<w:p><w:del w:id="403" {REV}><w:r><w:delText>Eksternt test</w:delText></w:r></w:del></w:p>"#)),
            ));
        }
        let moved = if m.tracked {
            // "Hermed vores bestilling" moved from below the table to above it (§17.13.5.21-25).
            (
                format!(
                    r#"<w:p><w:moveToRangeStart w:id="500" w:name="move1" {REV}/><w:moveTo w:id="501" {REV}><w:r><w:t>Hermed vores bestilling.</w:t></w:r></w:moveTo><w:moveToRangeEnd w:id="500"/></w:p>"#
                ),
                format!(
                    r#"<w:p><w:moveFromRangeStart w:id="502" w:name="move1" {REV}/><w:moveFrom w:id="503" {REV}><w:r><w:t>Hermed vores bestilling.</w:t></w:r></w:moveFrom><w:moveFromRangeEnd w:id="502"/></w:p>"#
                ),
            )
        } else {
            (p("Hermed vores bestilling."), String::new())
        };
        format!(
            "{}{}{}{}{}",
            title(m),
            moved.0,
            table(&rows),
            moved.1,
            remark(m)
        )
    }

    /// The .docx of the form, with `word/comments.xml` when it carries comments (whose own
    /// "Label: value" text must not count).
    fn sftp_form_docx(m: Marks) -> Vec<u8> {
        const NS: &str = r#"xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" mc:Ignorable="w14""#;
        let doc = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="{W}" xmlns:w14="{W14}" {NS}><w:body>{}<w:sectPr/></w:body></w:document>"#,
            sftp_form_body(m)
        );
        let comments = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:comments xmlns:w="{W}"><w:comment w:id="3" w:author="Peter Hansen" w:date="2026-11-28T10:00:00Z" w:initials="PH"><w:p><w:pPr><w:pStyle w:val="CommentText"/></w:pPr><w:r><w:rPr><w:rStyle w:val="CommentReference"/></w:rPr><w:annotationRef/></w:r><w:r><w:t>Miljø: Eksternt test?</w:t></w:r></w:p></w:comment></w:comments>"#
        );
        let mut parts: Vec<(&str, &[u8])> = vec![
            (
                "[Content_Types].xml",
                br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/comments.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml"/></Types>"#,
            ),
            (
                "_rels/.rels",
                br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
            ),
            ("word/document.xml", doc.as_bytes()),
        ];
        if m.comments {
            parts.push(("word/comments.xml", comments.as_bytes()));
        }
        zip_parts(&parts)
    }

    /// The form read and interpreted, after checking it passes every rule (approved) when
    /// received on 2026-11-30.
    fn approved_form(m: Marks) -> (RawForm, crate::forms::form::OrderForm) {
        use crate::rules::finding::Decision;
        let raw = read_docx(
            &sftp_form_docx(m),
            "attachment:Bestilling.docx",
            &ReadLimits::default(),
        )
        .unwrap();
        let form = crate::forms::form::interpret(&raw).expect("a form");
        let mail = crate::mail::Mail::parse(
            b"From: fa@kystby.test\r\nSubject: Bestilling\r\n\r\nHermed.\r\n",
            3,
        )
        .unwrap();
        let settings = crate::rules::RuleSettings {
            time: crate::rules::time::TimeRules::default(),
            trust: crate::rules::cert::TrustStore::from_der(Vec::new()),
            security_models: Vec::new(),
            datatypes: Vec::new(),
            trusted_authserv_ids: Vec::new(),
            trust_exchange_online: false,
            known_ids: None,
            register: None,
            bestillings_id_pattern: None,
            spam_headers: Default::default(),
        };
        use chrono::TimeZone;
        let received = chrono_tz::Europe::Copenhagen
            .with_ymd_and_hms(2026, 11, 30, 9, 0, 0)
            .single()
            .unwrap();
        let verdict = crate::rules::judge_form(
            &form,
            &mail,
            &[],
            received,
            &settings,
            &crate::rules::NoHistory,
        );
        assert_eq!(
            Decision::from_findings(&verdict.findings),
            Decision::Approved,
            "{:?}",
            verdict.findings
        );
        (raw, form)
    }

    /// Each of Word's editing marks alone, and all of them together, leave the form as a
    /// reader of the document sees it: the same entries as the clean form (nothing deleted,
    /// hidden, commented or written twice counts), the same fields, approved.
    #[test]
    fn word_editing_marks_do_not_change_what_the_form_says() {
        let (clean_raw, clean) = approved_form(Marks::default());
        assert!(clean.findings.is_empty(), "{:?}", clean.findings);
        assert_eq!(clean.kind, crate::forms::fields::FormKind::Sftp);
        assert_eq!(
            clean.text("comment"),
            Some("Aftalt med Helpdesk i telefonen.")
        );
        let one_each = [
            (
                "tracked changes",
                Marks {
                    tracked: true,
                    ..Marks::default()
                },
            ),
            (
                "comments",
                Marks {
                    comments: true,
                    ..Marks::default()
                },
            ),
            (
                "text boxes",
                Marks {
                    text_boxes: true,
                    ..Marks::default()
                },
            ),
            (
                "hidden text",
                Marks {
                    hidden: true,
                    ..Marks::default()
                },
            ),
            (
                "value split over a control and a new paragraph",
                Marks {
                    split_control: true,
                    ..Marks::default()
                },
            ),
            ("all marks together", Marks::ALL),
        ];
        for (what, m) in one_each {
            let (raw, form) = approved_form(m);
            assert!(form.findings.is_empty(), "{what}: {:?}", form.findings);
            assert_eq!(form.kind, clean.kind, "{what}");
            assert_eq!(form.fields, clean.fields, "{what}");
            assert_eq!(form.changes, clean.changes, "{what}");
            assert_eq!(form.monitoring, clean.monitoring, "{what}");
            if !m.split_control {
                assert_eq!(raw.entries, clean_raw.entries, "{what}");
            }
        }
    }

    /// A value typed partly inside a content control and partly in a new paragraph (or after
    /// a line break) of the same cell is one value: the control's entry takes the whole cell,
    /// so the row and the control no longer disagree (`form.ambiguous`).
    #[test]
    fn a_value_typed_partly_after_its_control_is_one_value() {
        let (raw, form) = approved_form(Marks {
            split_control: true,
            ..Marks::default()
        });
        let contact: Vec<&str> = raw
            .entries
            .iter()
            .filter(|e| e.label == "Kontaktperson")
            .map(|e| e.value.as_str())
            .collect();
        assert!(
            contact.iter().all(|v| *v == "Lars Bæk\nPoulsen"),
            "{contact:?}"
        );
        assert_eq!(form.text("contact_name"), Some("Lars Bæk Poulsen"));
        assert_eq!(
            form.list("alert_emails"),
            ["drift@kystby.test", "vagt@kystby.test"]
        );
    }

    /// Of an `mc:AlternateContent` only the first `mc:Choice` is read (Part 3 §10.2.1: a
    /// consumer selects one), never a second Choice nor the Fallback.
    #[test]
    fn only_the_first_choice_of_alternate_content_is_read() {
        let body = format!(
            r#"<w:p><w:r><mc:AlternateContent xmlns:mc="m"><mc:Choice Requires="wps"><w:txbxContent>{}</w:txbxContent></mc:Choice><mc:Choice Requires="wpg"><w:txbxContent>{}</w:txbxContent></mc:Choice><mc:Fallback><w:txbxContent>{}</w:txbxContent></mc:Fallback></mc:AlternateContent></w:r></w:p>"#,
            p("Miljø: Produktion"),
            p("Miljø: Produktion"),
            p("Miljø: Produktion")
        );
        assert_eq!(read(&body).entries, vec![e("Miljø", "Produktion")]);
    }

    #[test]
    fn escaped_text_and_cdata() {
        let body = r#"<w:p><w:r><w:t>Organisation: A &amp; B &lt;C&gt;</w:t></w:r></w:p>"#;
        assert_eq!(read(body).entries, vec![e("Organisation", "A & B <C>")]);
    }

    #[test]
    fn main_part_found_through_rels_when_renamed() {
        let doc = format!(
            r#"<w:document xmlns:w="{W}"><w:body>{}</w:body></w:document>"#,
            p("Miljø: Produktion")
        );
        let bytes = zip_parts(&[
            ("_rels/.rels", br#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="/word/document2.xml"/></Relationships>"#),
            ("word/document2.xml", doc.as_bytes()),
        ]);
        let f = read_docx(&bytes, "x", &ReadLimits::default()).unwrap();
        assert_eq!(f.entries, vec![e("Miljø", "Produktion")]);
    }

    #[test]
    fn zip_bomb_is_a_limit() {
        let doc = format!(
            r#"<w:document xmlns:w="{W}"><w:body>{}{}</w:body></w:document>"#,
            p("Miljø: Produktion"),
            " ".repeat(200_000)
        );
        let bytes = zip_parts(&[("word/document.xml", doc.as_bytes())]);
        let limits = ReadLimits {
            max_docx_unzipped_bytes: 100_000,
            ..ReadLimits::default()
        };
        assert!(matches!(
            read_docx(&bytes, "x", &limits),
            Err(ReadError::Limit(_))
        ));
        // A zero-filled part beside the document counts as well.
        let zeros = vec![0u8; 300_000];
        let bytes = zip_parts(&[
            (
                "word/document.xml",
                doc.get(..1000).unwrap_or("").as_bytes(),
            ),
            ("word/media/big.bin", &zeros),
        ]);
        assert!(matches!(
            read_docx(&bytes, "x", &limits),
            Err(ReadError::Limit(_))
        ));
    }

    #[test]
    fn lying_declared_size_is_still_bounded() {
        let doc = format!(
            r#"<w:document xmlns:w="{W}"><w:body>{}</w:body></w:document>"#,
            " ".repeat(300_000)
        );
        let mut bytes = zip_parts(&[("word/document.xml", doc.as_bytes())]);
        // Claim 100 bytes unpacked in both the local and the central header.
        for (sig, off) in [
            ([0x50u8, 0x4B, 0x03, 0x04], 22usize),
            ([0x50, 0x4B, 0x01, 0x02], 24),
        ] {
            let pos = bytes.windows(4).position(|w| w == sig).unwrap();
            bytes[pos + off..pos + off + 4].copy_from_slice(&100u32.to_le_bytes());
        }
        let limits = ReadLimits {
            max_docx_unzipped_bytes: 100_000,
            ..ReadLimits::default()
        };
        let r = read_docx(&bytes, "x", &limits);
        assert!(
            matches!(r, Err(ReadError::Limit(_)) | Err(ReadError::Damaged(_))),
            "{r:?}"
        );
    }

    #[test]
    fn too_many_entries_is_a_limit() {
        let names: Vec<String> = (0..20).map(|i| format!("word/media/{i}.bin")).collect();
        let mut parts: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        parts.push(("word/document.xml", b"<w:document xmlns:w=\"w\"/>"));
        let bytes = zip_parts(&parts);
        let limits = ReadLimits {
            max_docx_entries: 10,
            ..ReadLimits::default()
        };
        assert!(matches!(
            read_docx(&bytes, "x", &limits),
            Err(ReadError::Limit(_))
        ));
        let limits = ReadLimits {
            max_docx_entries: 21,
            ..ReadLimits::default()
        };
        assert!(read_docx(&bytes, "x", &limits).is_ok());
    }

    /// Millions of empty paragraphs or table cells zip to a few KB but cost hundreds of MB as
    /// a tree (772 MB and 711 MB before the bound): refused once `max_docx_xml_nodes` are kept.
    /// Tens of thousands of paragraphs whose marks were deleted join into one paragraph in
    /// linear time, and range marks past [`MAX_MARKS_BETWEEN`] separate paragraphs (no search
    /// back over a hundred thousand empty elements for each paragraph).
    #[test]
    fn joined_paragraphs_and_range_marks_cost_linear_time() {
        let joined =
            r#"<w:p><w:pPr><w:rPr><w:del w:id="1"/></w:rPr></w:pPr><w:r><w:t>a</w:t></w:r></w:p>"#;
        let body = format!(
            "{joined}{}{}{}",
            r#"<w:commentRangeEnd w:id="1"/>"#.repeat(100_000),
            joined.repeat(30_000),
            p("slut")
        );
        let started = std::time::Instant::now();
        let f = read(&body);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(f.text, format!("a\n{}slut", "a".repeat(30_000)));
    }

    #[test]
    fn element_bombs_are_a_limit() {
        let paragraphs = "<w:p/>".repeat(2_000_000);
        let cells = format!(
            "<w:tbl><w:tr>{}</w:tr></w:tbl>",
            "<w:tc><w:p/></w:tc>".repeat(400_000)
        );
        for body in [paragraphs, cells] {
            let bytes = docx(&body);
            assert!(bytes.len() < 200_000, "{} bytes zipped", bytes.len());
            let r = read_docx(&bytes, "x", &ReadLimits::default());
            assert_eq!(
                r,
                Err(ReadError::Limit(
                    "word/document.xml has more than 300000 elements".into()
                ))
            );
        }
        // A lower limit counts the same way; within it the document is read.
        let small = docx(&"<w:p><w:r><w:t>CVR-nr.: 1</w:t></w:r></w:p>".repeat(10));
        let tight = |n| ReadLimits {
            max_docx_xml_nodes: n,
            ..ReadLimits::default()
        };
        assert!(matches!(
            read_docx(&small, "x", &tight(20)),
            Err(ReadError::Limit(_))
        ));
        assert!(read_docx(&small, "x", &tight(100)).is_ok());
    }

    #[test]
    fn deep_nesting_is_a_limit() {
        let deep = format!(
            "{}{}",
            "<w:customXml>".repeat(300),
            "</w:customXml>".repeat(300)
        );
        let bytes = docx(&deep);
        assert!(matches!(
            read_docx(&bytes, "x", &ReadLimits::default()),
            Err(ReadError::Limit(_))
        ));
        let limits = ReadLimits {
            max_xml_depth: 5,
            ..ReadLimits::default()
        };
        let bytes = docx(&table(&[row(&["a", "b"])]));
        assert!(matches!(
            read_docx(&bytes, "x", &limits),
            Err(ReadError::Limit(_))
        ));
        // Self-closing elements count as a level too.
        let limits = ReadLimits {
            max_xml_depth: 2,
            ..ReadLimits::default()
        };
        assert!(matches!(
            read_docx(&docx("<w:p/>"), "x", &limits),
            Err(ReadError::Limit(_))
        ));
    }

    #[test]
    fn garbage_and_other_formats_are_errors_not_panics() {
        let l = ReadLimits::default();
        assert!(matches!(
            read_docx(b"", "x", &l),
            Err(ReadError::Damaged(_))
        ));
        assert!(matches!(
            read_docx(b"hello world", "x", &l),
            Err(ReadError::Damaged(_))
        ));
        assert!(matches!(
            read_docx(b"PK\x03\x04garbage", "x", &l),
            Err(ReadError::Damaged(_))
        ));
        let ole = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0];
        assert!(matches!(
            read_docx(&ole, "x", &l),
            Err(ReadError::Unreadable(_))
        ));
        assert!(matches!(
            read_docx(b"%PDF-1.7", "x", &l),
            Err(ReadError::Unreadable(_))
        ));
        let odt = zip_parts(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", b"<x/>"),
        ]);
        assert!(matches!(
            read_docx(&odt, "x", &l),
            Err(ReadError::Unreadable(_))
        ));
        let other_zip = zip_parts(&[("readme.txt", b"hi")]);
        assert!(matches!(
            read_docx(&other_zip, "x", &l),
            Err(ReadError::Damaged(_))
        ));
        // Truncated archive: every prefix of a real .docx fails cleanly.
        let good = docx(&table(&[row(&["Miljø", "Produktion"])]));
        for cut in (0..good.len()).step_by(97) {
            let _ = read_docx(good.get(..cut).unwrap_or(&[]), "x", &l);
        }
        // Flipped bytes anywhere: no panic.
        for i in (0..good.len()).step_by(13) {
            let mut b = good.clone();
            if let Some(x) = b.get_mut(i) {
                *x ^= 0x5A;
            }
            let _ = read_docx(&b, "x", &l);
        }
    }

    #[test]
    fn bad_xml_is_damaged() {
        let l = ReadLimits::default();
        for doc in [
            "<w:document><w:body><w:p></w:body></w:document>",
            "<w:document><w:body><w:p>",
            "not xml at all",
            "<w:document><w:t>&bogus;</w:t></w:document>",
        ] {
            let bytes = zip_parts(&[("word/document.xml", doc.as_bytes())]);
            let r = read_docx(&bytes, "x", &l);
            assert!(matches!(r, Err(ReadError::Damaged(_))), "{doc}: {r:?}");
        }
        let bytes = zip_parts(&[("word/document.xml", &[0xFF, 0x00, 0xC3][..])]);
        assert!(matches!(
            read_docx(&bytes, "x", &l),
            Err(ReadError::Damaged(_))
        ));
    }

    #[test]
    fn utf16_and_bom_documents_are_read() {
        let doc = format!(
            r#"<?xml version="1.0" encoding="UTF-16"?><w:document xmlns:w="{W}"><w:body>{}</w:body></w:document>"#,
            p("Miljø: Produktion")
        );
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(doc.encode_utf16().flat_map(|u| u.to_le_bytes()));
        let bytes = zip_parts(&[("word/document.xml", &utf16)]);
        let f = read_docx(&bytes, "x", &ReadLimits::default()).unwrap();
        assert_eq!(f.entries, vec![e("Miljø", "Produktion")]);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(doc.replace("UTF-16", "UTF-8").as_bytes());
        let bytes = zip_parts(&[("word/document.xml", &bom)]);
        let f = read_docx(&bytes, "x", &ReadLimits::default()).unwrap();
        assert_eq!(f.entries, vec![e("Miljø", "Produktion")]);
    }

    #[test]
    fn helpers_handle_edges() {
        assert!(tick_items("no tick").is_none());
        assert_eq!(tick_items("☒"), Some(vec![("☒", String::new())]));
        let mut s = "x".repeat(MAX_TEXT - 1);
        push_capped(&mut s, "øø");
        assert_eq!(s.len(), MAX_TEXT - 1);
        assert_eq!(eocd_entry_count(b"PK"), None);
    }
}
