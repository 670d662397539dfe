//! What a form reader hands on: the label/value pairs of one form, exactly as written.
//!
//! Readers (.docx, PDF, mail text) know document formats but nothing about order forms; the
//! field table in `fields` knows order forms but nothing about document formats. `RawForm` is
//! the seam between the two, so a new reader never needs a table of its own. All of it is
//! (de)serialisable because readers run in a child process (`sandbox`) that hands it back.

use serde::{Deserialize, Serialize};

/// How a reader writes a ticked box (see [`Entry`]).
pub const TICKED: &str = "☒";
/// How a reader writes a box that is not ticked.
pub const UNTICKED: &str = "☐";

/// Every glyph that marks a tick box in a form's text, with whether it means ticked: the one
/// list the readers turn into [`TICKED`]/[`UNTICKED`] and the interpreter reads tick items by
/// (people type brackets, Word and PDFs draw boxes, some editors check marks). No glyph is the
/// start of another, so which one a text starts with does not depend on the order.
pub const TICK_GLYPHS: &[(&str, bool)] = &[
    ("☒", true),
    ("☑", true),
    ("✓", true),
    ("✔", true),
    ("✗", true),
    ("✘", true),
    ("[X]", true),
    ("[x]", true),
    ("(X)", true),
    ("(x)", true),
    ("☐", false),
    ("□", false),
    ("❑", false),
    ("[ ]", false),
    ("[]", false),
    ("( )", false),
];

/// The tick glyph `s` starts with, and whether it means ticked.
pub fn leading_tick_glyph(s: &str) -> Option<(&'static str, bool)> {
    TICK_GLYPHS.iter().copied().find(|(g, _)| s.starts_with(g))
}

/// Whether `s` is exactly one tick glyph.
pub fn is_tick_glyph(s: &str) -> bool {
    TICK_GLYPHS.iter().any(|(g, _)| *g == s)
}

/// Whether a tick glyph stands anywhere in `s`.
pub fn has_tick_glyph(s: &str) -> bool {
    TICK_GLYPHS.iter().any(|(g, _)| s.contains(g))
}

/// One label and the value written next to it (or below it, or in the same cell).
///
/// Tick boxes are text: a ticked box is written as "☒" and an unticked one as "☐", either as
/// the whole value (`label = "SSL-certifikat", value = "☒"`, e.g. a PDF check box or a Word
/// checkbox control) or inside the value (`label = "Ændringer", value = "☒ SSL-certifikat\n☐ URL"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub label: String,
    pub value: String,
}

impl Entry {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Entry {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// The text of one form as a reader found it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawForm {
    /// Where it came from, e.g. `attachment:Bestilling.docx` or `body`.
    pub source: String,
    /// Free text that is not a label/value pair (title, headings, instructions); used to tell
    /// the form kind from its title.
    pub text: String,
    /// Label/value pairs in document order.
    pub entries: Vec<Entry>,
}

/// Why a reader could not read a file. The message is for the Helpdesk log and the sender's
/// receipt is chosen from the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ReadError {
    /// Not a format we can read (e.g. .doc, .odt, an image, a scanned PDF without text).
    #[error("{0}")]
    Unreadable(String),
    /// A configured limit was hit (size, entries, depth, pages, time).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// The file is broken (bad zip, bad XML, bad PDF).
    #[error("damaged file: {0}")]
    Damaged(String),
}

/// Limits every reader honours, taken from `[limits]` in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadLimits {
    pub max_docx_unzipped_bytes: u64,
    pub max_docx_entries: usize,
    pub max_xml_depth: usize,
    pub max_pdf_pages: usize,
    pub max_pdf_objects: usize,
    /// Bytes all streams of one PDF may inflate to, together (page contents, XObjects,
    /// ToUnicode maps, object streams): a 1 KB stream can inflate to gigabytes.
    pub max_pdf_inflated_bytes: u64,
    /// Elements kept from a .docx's main part: each costs memory in the tree, and a few bytes
    /// of zipped XML make millions of them.
    pub max_docx_xml_nodes: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_docx_unzipped_bytes: 50 * 1024 * 1024,
            max_docx_entries: 1000,
            max_xml_depth: 256,
            max_pdf_pages: 50,
            max_pdf_objects: 100_000,
            // Real order forms inflate to well under 1 MB; long reports to a few MB.
            max_pdf_inflated_bytes: 64 * 1024 * 1024,
            // A long real document keeps well under 100,000 (paragraphs, runs, texts, cells).
            max_docx_xml_nodes: 300_000,
        }
    }
}
