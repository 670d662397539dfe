//! What a form reader hands on: the label/value pairs of one form, exactly as written.
//!
//! Readers (.docx, PDF, mail text) know document formats but nothing about order forms; the
//! field table in `fields` knows order forms but nothing about document formats. `RawForm` is
//! the seam between the two, so a new reader never needs a table of its own. All of it is
//! (de)serialisable because readers run in a child process (`sandbox`) that hands it back.

use serde::{Deserialize, Serialize};

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
