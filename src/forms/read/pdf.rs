//! PDF forms: AcroForm fields when the PDF has them, else the text layer read as
//! "Label: value" lines (the same parser as a mail body).
//!
//! lopdf parses the file; the text layer is extracted here rather than with lopdf's
//! `extract_text`, which mis-decodes one-byte TrueType fonts with a ToUnicode map (what
//! ReportLab and many other producers write) and has no notion of lines or gaps. lopdf can
//! panic on hostile input, so every call into it runs under `catch_unwind`.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Object, ObjectId, ObjectStream, Stream};

use crate::forms::fields::{LabelMatch, match_label};
use crate::forms::raw::{Entry, RawForm, ReadError, ReadLimits, TICKED, UNTICKED, has_tick_glyph};
use crate::forms::read::pdf_rows::{self, MAX_PAGE_RUNS, Run};
use crate::forms::read::pdf_scan;
use crate::forms::read::pdf_stream::Inflater;
use crate::forms::read::text::parse_lines;

/// Most form fields we read; a real order form has a few dozen.
const MAX_FIELDS: usize = 5_000;
/// Most field-tree work per document: nodes visited plus /Kids entries looked at. A /Kids
/// array shared by many fields (a fan-out) made the walk push billions of entries (1.09 GB).
const MAX_FIELD_WORK: usize = 200_000;
/// Deepest field hierarchy we follow.
const MAX_FIELD_DEPTH: usize = 32;
/// Most content operators we interpret per document (time bound on the text layer).
const MAX_OPERATIONS: usize = 2_000_000;
/// Most decoded content bytes we parse per page.
const MAX_PAGE_CONTENT_BYTES: usize = 32 * 1024 * 1024;
/// Most text we collect from the text layer.
const MAX_TEXT_CHARS: usize = 1_000_000;
/// How deep form XObjects may nest.
const MAX_XOBJECT_DEPTH: usize = 8;
/// Deepest array/dictionary nesting we let lopdf's recursive parser see.
const MAX_NESTING: usize = 100;

/// Reads a PDF order form.
pub fn read_pdf(bytes: &[u8], source: &str, limits: &ReadLimits) -> Result<RawForm, ReadError> {
    match catch_unwind(AssertUnwindSafe(|| read_pdf_inner(bytes, source, limits))) {
        Ok(result) => result,
        Err(_) => Err(ReadError::Damaged(
            "the PDF could not be parsed (the reader gave up on its structure)".into(),
        )),
    }
}

fn read_pdf_inner(bytes: &[u8], source: &str, limits: &ReadLimits) -> Result<RawForm, ReadError> {
    let head = bytes.get(..bytes.len().min(1024)).unwrap_or(&[]);
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(ReadError::Damaged("not a PDF file (no %PDF header)".into()));
    }
    // lopdf sees only the objects the pre-scan counted, under a cross-reference table of
    // our own (see pdf_scan), and never inflates an object stream itself.
    let scanned = pdf_scan::scan_file(bytes, limits.max_pdf_objects, MAX_NESTING)?;
    if scanned.trailer.is_empty() {
        return Err(ReadError::Damaged(
            "the PDF is broken: it has no trailer naming its document catalog (/Root)".into(),
        ));
    }
    let rebuilt = pdf_scan::rebuild(bytes, &scanned);
    drop(scanned);
    let mut doc = lopdf::Reader {
        buffer: &rebuilt,
        document: Document::new(),
    }
    .read(Some(hide_object_stream))
    .map_err(|e| ReadError::Damaged(format!("the PDF is broken: {e}")))?;
    drop(rebuilt);
    if doc.is_encrypted() {
        // Many PDFs are encrypted only against editing, with an empty user password.
        if doc.decrypt("").is_err() || doc.is_encrypted() {
            return Err(ReadError::Unreadable("encrypted PDF".into()));
        }
    }
    let mut inflater = Inflater::new(limits.max_pdf_inflated_bytes);
    expand_object_streams(&mut doc, &mut inflater, limits.max_pdf_objects)?;
    let pages = doc.get_pages();
    if pages.len() > limits.max_pdf_pages {
        return Err(ReadError::Limit(format!(
            "the PDF has {} pages (limit {})",
            pages.len(),
            limits.max_pdf_pages
        )));
    }
    let page_ids: Vec<ObjectId> = pages.values().copied().collect();
    let (fields, has_xfa) = acroform_fields(&doc, &page_ids);
    let page_lines = text_layer(&doc, &page_ids, &mut inflater);
    if let Some(why) = inflater.refused {
        return Err(ReadError::Limit(why));
    }
    let refs: Vec<&str> = page_lines.iter().map(String::as_str).collect();
    let mut form = parse_lines(&refs, source, true);
    if !fields.is_empty() {
        form = RawForm {
            source: source.to_string(),
            text: page_lines
                .iter()
                .map(|l| l.replace('\t', "  "))
                .collect::<Vec<_>>()
                .join("\n"),
            entries: with_text_rows(fields, form.entries),
        };
    }
    form.source = source.to_string();
    if form.entries.is_empty() && form.text.trim().is_empty() {
        if has_xfa {
            return Err(ReadError::Unreadable(
                "the PDF is a dynamic XFA form, which only Adobe Reader can show".into(),
            ));
        }
        return Err(ReadError::Unreadable(
            "the PDF has no text layer and no form fields (a scan?)".into(),
        ));
    }
    Ok(form)
}

/// The AcroForm fields, then the rows of the text layer that tick boxes of a field none of the
/// fields fills: a form made with fields for its text may draw its tick boxes as text ("☒ URL"
/// under "Ændringer"). Other text beside the fields is the form's print (the labels of the
/// fields, "Overvågning: Til Fra" beside two check boxes), not values.
fn with_text_rows(fields: Vec<Entry>, rows: Vec<Entry>) -> Vec<Entry> {
    let key = |label: &str| match match_label(label) {
        Some(LabelMatch::Field(f)) => Some(f.code),
        Some(LabelMatch::Change(c)) => Some(c.code),
        None => None,
    };
    let known: HashSet<&str> = fields.iter().filter_map(|e| key(&e.label)).collect();
    let extra: Vec<Entry> = rows
        .into_iter()
        .filter(|e| has_tick_glyph(&e.value) && key(&e.label).is_some_and(|k| !known.contains(k)))
        .collect();
    let mut out = fields;
    out.extend(extra);
    out
}

/// The /Type an object stream gets while lopdf loads the file, so that lopdf keeps it as a
/// plain stream instead of inflating it without a bound ([`expand_object_streams`] does that).
const HIDDEN_OBJSTM: &[u8] = b"SpdeskObjStm";

/// lopdf's load filter: renames object streams (see [`HIDDEN_OBJSTM`]).
fn hide_object_stream(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(s) = object
        && s.dict.type_is(b"ObjStm")
    {
        s.dict.set("Type", Object::Name(HIDDEN_OBJSTM.to_vec()));
    }
    // lopdf uses only whether this is `Some`.
    Some((id, Object::Null))
}

/// Adds the objects of the document's object streams, each inflated under the document's
/// budget, checked for nesting before lopdf's recursive parser sees it, and counted against
/// `max_objects` before lopdf allocates for it. An object already defined directly is kept,
/// as lopdf does.
fn expand_object_streams(
    doc: &mut Document,
    inflater: &mut Inflater,
    max_objects: usize,
) -> Result<(), ReadError> {
    let ids: Vec<ObjectId> = doc
        .objects
        .iter()
        .filter(|(_, o)| o.as_stream().is_ok_and(|s| s.dict.type_is(HIDDEN_OBJSTM)))
        .map(|(id, _)| *id)
        .collect();
    let mut count = doc.objects.len();
    for id in ids {
        let Some(Object::Stream(stream)) = doc.objects.remove(&id) else {
            continue;
        };
        let data = match inflater.decode(&stream) {
            Ok(d) => d,
            Err(e @ ReadError::Limit(_)) => return Err(e),
            Err(_) => continue,
        };
        let first = stream
            .dict
            .get(b"First")
            .and_then(Object::as_i64)
            .ok()
            .and_then(|f| usize::try_from(f).ok())
            .unwrap_or(0);
        // lopdf makes one object per pair of numbers in the index, whatever /N says.
        let pairs = data
            .get(..first)
            .unwrap_or(&[])
            .split(|b| b.is_ascii_whitespace())
            .filter(|t| !t.is_empty())
            .count()
            / 2;
        count = count.saturating_add(pairs);
        if count > max_objects {
            return Err(ReadError::Limit(format!(
                "the PDF has more than {max_objects} objects (counting its object streams)"
            )));
        }
        if pdf_scan::nesting_too_deep(data.get(first..).unwrap_or(&[]), MAX_NESTING) {
            return Err(ReadError::Damaged(
                "the PDF's objects are nested too deeply".into(),
            ));
        }
        let mut dict = stream.dict.clone();
        dict.remove(b"Filter");
        dict.remove(b"DecodeParms");
        let mut plain = Stream::new(dict, data);
        if let Ok(objects) = ObjectStream::new(&mut plain) {
            for (oid, object) in objects.objects {
                doc.objects.entry(oid).or_insert(object);
            }
        }
    }
    Ok(())
}

/// Same check on a decoded content stream before lopdf parses it.
fn content_nesting_too_deep(data: &[u8]) -> bool {
    pdf_scan::nesting_too_deep(data, MAX_NESTING)
}

// ------------------------------------------------------------------------------ AcroForm

/// What a field node passes on to its kids (PDF 32000 12.7.3.1): its full name and the
/// inheritable /FT, /V and /Ff.
#[derive(Clone, Default)]
struct Inherited {
    name: String,
    ft: Option<Vec<u8>>,
    v: Option<Object>,
    ff: i64,
}

impl Inherited {
    /// The attributes of the field `dict`, a kid of the field that passed on `self`: its own
    /// where it has them, else the inherited ones.
    fn of_kid(&self, dict: &Dictionary) -> Inherited {
        let partial = dict
            .get(b"T")
            .ok()
            .and_then(text_string)
            .map(|t| decode_hex_escapes(&t));
        let name = match (partial, self.name.is_empty()) {
            (Some(p), true) => p,
            (Some(p), false) => format!("{}.{p}", self.name),
            (None, _) => self.name.clone(),
        };
        let ft = dict
            .get(b"FT")
            .ok()
            .and_then(|o| o.as_name().ok())
            .map(<[u8]>::to_vec)
            .or_else(|| self.ft.clone());
        let v = dict.get(b"V").ok().cloned().or_else(|| self.v.clone());
        let ff = dict
            .get(b"Ff")
            .ok()
            .and_then(|o| o.as_i64().ok())
            .unwrap_or(self.ff);
        Inherited { name, ft, v, ff }
    }
}

/// A field node still to visit, with what its parent passed on and its depth.
struct Pending {
    node: Object,
    parent: Inherited,
    depth: usize,
}

/// One terminal field with where its first widget sits, for sorting into reading order.
struct FieldOut {
    entry: Entry,
    pos: Option<(usize, i64, i64)>,
}

/// The AcroForm fields as entries in reading order; also whether the form has XFA.
fn acroform_fields(doc: &Document, page_ids: &[ObjectId]) -> (Vec<Entry>, bool) {
    let Some(acro) = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(|o| deref_dict(doc, o))
    else {
        return (Vec::new(), false);
    };
    let has_xfa = acro.has(b"XFA");
    let Some(fields) = acro.get(b"Fields").ok().and_then(|o| deref_array(doc, o)) else {
        return (Vec::new(), has_xfa);
    };
    let pages = WidgetPages::new(doc, page_ids);
    let mut out = walk_fields(doc, fields, &pages);
    if out.iter().all(|f| f.pos.is_some()) {
        out.sort_by_key(|f| f.pos);
    }
    (out.into_iter().map(|f| f.entry).collect(), has_xfa)
}

/// Walks the field tree depth first, without recursion, each node once (a cycle or a /Kids
/// array shared by several fields is read once), within [`MAX_FIELDS`], [`MAX_FIELD_DEPTH`]
/// and [`MAX_FIELD_WORK`].
fn walk_fields(doc: &Document, fields: &[Object], pages: &WidgetPages) -> Vec<FieldOut> {
    let mut out: Vec<FieldOut> = Vec::new();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut stack: Vec<Pending> = fields
        .iter()
        .rev()
        .map(|f| Pending {
            node: f.clone(),
            parent: Inherited::default(),
            depth: 0,
        })
        .collect();
    let mut work: usize = stack.len();
    while let Some(pending) = stack.pop() {
        work = work.saturating_add(1);
        if out.len() >= MAX_FIELDS || pending.depth > MAX_FIELD_DEPTH || work > MAX_FIELD_WORK {
            break;
        }
        let id = pending.node.as_reference().ok();
        if let Some(id) = id
            && !seen.insert(id)
        {
            continue;
        }
        let Some(dict) = deref_dict(doc, &pending.node) else {
            continue;
        };
        let field = pending.parent.of_kid(dict);
        let kids_array = dict.get(b"Kids").ok().and_then(|k| deref_array(doc, k));
        work = work.saturating_add(kids_array.map_or(0, Vec::len));
        if work > MAX_FIELD_WORK {
            break;
        }
        let kids: Vec<Object> = kids_array.cloned().unwrap_or_default();
        // Kids with a /T are fields of their own; kids without are this field's widgets.
        let field_kids: Vec<&Object> = kids
            .iter()
            .filter(|k| deref_dict(doc, k).is_some_and(|d| d.has(b"T")))
            .collect();
        if field_kids.is_empty() {
            out.extend(terminal_field(doc, (id, dict), &kids, &field, pages));
            continue;
        }
        // A kid already read is not queued again.
        for k in field_kids
            .into_iter()
            .rev()
            .filter(|k| k.as_reference().map_or(true, |id| !seen.contains(&id)))
        {
            stack.push(Pending {
                node: k.clone(),
                parent: field.clone(),
                depth: pending.depth.saturating_add(1),
            });
        }
    }
    out
}

/// A field without field kids: its value and label, placed where its first widget sits;
/// `None` when it holds no answer or has no label.
fn terminal_field<'a>(
    doc: &'a Document,
    node: (Option<ObjectId>, &'a Dictionary),
    kids: &'a [Object],
    field: &Inherited,
    pages: &WidgetPages,
) -> Option<FieldOut> {
    let dict = node.1;
    let mut widgets: Vec<(Option<ObjectId>, &Dictionary)> = vec![node];
    for k in kids {
        if let Some(d) = deref_dict(doc, k) {
            widgets.push((k.as_reference().ok(), d));
        }
    }
    let value = field_value(
        doc,
        field.ft.as_deref(),
        field.v.as_ref(),
        field.ff,
        &widgets,
    )?;
    let tooltip = dict.get(b"TU").ok().and_then(text_string);
    let label = field_label(&field.name, tooltip.as_deref());
    if label.is_empty() {
        return None;
    }
    Some(FieldOut {
        entry: Entry::new(label, value),
        pos: pages.first_widget_position(doc, &widgets),
    })
}

/// Which page a widget sits on: by its /P, else by the page whose /Annots lists it.
struct WidgetPages {
    page_index: HashMap<ObjectId, usize>,
    annot_page: HashMap<ObjectId, usize>,
}

impl WidgetPages {
    fn new(doc: &Document, page_ids: &[ObjectId]) -> Self {
        let page_index = page_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let mut annot_page: HashMap<ObjectId, usize> = HashMap::new();
        for (i, pid) in page_ids.iter().enumerate() {
            if let Some(annots) = doc
                .get_dictionary(*pid)
                .ok()
                .and_then(|p| p.get(b"Annots").ok())
                .and_then(|a| deref_array(doc, a))
            {
                for a in annots {
                    if let Ok(id) = a.as_reference() {
                        annot_page.entry(id).or_insert(i);
                    }
                }
            }
        }
        WidgetPages {
            page_index,
            annot_page,
        }
    }

    /// (page, row band, left) of the first widget with a /Rect on a known page.
    fn first_widget_position(
        &self,
        doc: &Document,
        widgets: &[(Option<ObjectId>, &Dictionary)],
    ) -> Option<(usize, i64, i64)> {
        widgets.iter().find_map(|(wid, w)| {
            let rect = w.get(b"Rect").ok().and_then(|r| deref_array(doc, r))?;
            let nums: Vec<f32> = rect.iter().filter_map(|n| n.as_float().ok()).collect();
            let (x1, y1, x2, y2) = match nums.as_slice() {
                [a, b, c, d] => (*a, *b, *c, *d),
                _ => return None,
            };
            let page = w
                .get(b"P")
                .ok()
                .and_then(|p| p.as_reference().ok())
                .and_then(|p| self.page_index.get(&p).copied())
                .or_else(|| wid.and_then(|w| self.annot_page.get(&w).copied()))?;
            let top = y1.max(y2);
            let left = x1.min(x2);
            // Rows are compared in 4-point bands so fields on one line keep left-to-right order.
            Some((page, -(top / 4.0).round() as i64, left.round() as i64))
        })
    }
}

/// The value a person sees in a field; `None` for fields that hold no answer (push buttons,
/// signatures).
fn field_value(
    doc: &Document,
    ft: Option<&[u8]>,
    v: Option<&Object>,
    ff: i64,
    widgets: &[(Option<ObjectId>, &Dictionary)],
) -> Option<String> {
    let v = v.and_then(|o| deref(doc, o));
    match ft {
        Some(b"Btn") => {
            const RADIO: i64 = 1 << 15;
            const PUSHBUTTON: i64 = 1 << 16;
            if ff & PUSHBUTTON != 0 {
                return None;
            }
            let chosen = v.and_then(|o| o.as_name().ok()).filter(|n| *n != b"Off");
            if ff & RADIO != 0 {
                return Some(chosen.map(name_to_string).unwrap_or_default());
            }
            let on = chosen.is_some()
                || widgets.iter().any(|(_, w)| {
                    w.get(b"AS")
                        .ok()
                        .and_then(|a| a.as_name().ok())
                        .is_some_and(|a| a != b"Off")
                });
            Some(if on { TICKED } else { UNTICKED }.to_string())
        }
        Some(b"Sig") => None,
        _ => Some(match v {
            Some(Object::Array(items)) => items
                .iter()
                .filter_map(|i| deref(doc, i).and_then(object_text))
                .collect::<Vec<_>>()
                .join("\n"),
            Some(o) => object_text(o).unwrap_or_default(),
            None => String::new(),
        }),
    }
}

/// A string or name as text, line ends normalised to "\n".
fn object_text(o: &Object) -> Option<String> {
    let s = match o {
        Object::String(..) => text_string(o)?,
        Object::Name(n) => name_to_string(n),
        Object::Integer(i) => i.to_string(),
        Object::Real(r) => r.to_string(),
        _ => return None,
    };
    Some(
        s.replace("\r\n", "\n")
            .replace('\r', "\n")
            .trim()
            .to_string(),
    )
}

/// A PDF text string: UTF-16BE (with BOM), UTF-8 (with BOM) or PDFDocEncoding.
fn text_string(o: &Object) -> Option<String> {
    let bytes = o.as_str().ok()?;
    if let Some(le) = bytes.strip_prefix(b"\xFF\xFE") {
        let units: Vec<u16> = le
            .chunks(2)
            .map(|c| {
                u16::from_le_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        return Some(String::from_utf16_lossy(&units));
    }
    if let Some(be) = bytes.strip_prefix(b"\xFE\xFF") {
        let units: Vec<u16> = be
            .chunks(2)
            .map(|c| {
                u16::from_be_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            })
            .collect();
        return Some(String::from_utf16_lossy(&units));
    }
    if let Some(utf8) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return Some(String::from_utf8_lossy(utf8).into_owned());
    }
    lopdf::decode_text_string(o).ok()
}

/// A name's bytes (already un-escaped by lopdf) as text: UTF-8 when valid, else Latin-1.
fn name_to_string(n: &[u8]) -> String {
    match std::str::from_utf8(n) {
        Ok(s) => s.to_string(),
        Err(_) => n.iter().map(|&b| char::from(b)).collect(),
    }
}

/// LibreOffice writes a field name with the `#XX` escapes of a PDF name inside its /T string
/// ("Bestillings#20ID", "#C3#98nsket"): decoded as UTF-8 when all of it decodes.
fn decode_hex_escapes(s: &str) -> String {
    if !s.contains('#') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'#', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The field's label: its full name, or its tooltip when the name is one a program made up
/// ("Text1", "Check Box 3", "form1[0].#subform[0].TextField1[0]", LibreOffice's "Tekstfelt 2"
/// or the "Widget" it names the kid of a field whose name has a dot) or when only the tooltip
/// is a label of the form.
fn field_label(full: &str, tooltip: Option<&str>) -> String {
    let own = own_field_name(full);
    let tooltip = tooltip.map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = tooltip
        && (looks_generated(strip_index(full.rsplit('.').next().unwrap_or("")))
            || (match_label(&own).is_none() && match_label(t).is_some()))
    {
        return t.to_string();
    }
    own
}

/// A field's own name: the last part of an XFA-style name, else the full name.
fn own_field_name(full: &str) -> String {
    let parts: Vec<&str> = full.split('.').collect();
    let last = parts.last().copied().unwrap_or("");
    if parts.iter().any(|p| p.ends_with(']')) {
        // "topmostSubform[0].Page1[0].CVR[0]": the containers are layout, the last is the name.
        return strip_index(last).trim().to_string();
    }
    full.trim().to_string()
}

fn strip_index(s: &str) -> &str {
    match s.rfind('[') {
        Some(i) if s.ends_with(']') => s.get(..i).unwrap_or(s),
        _ => s,
    }
}

/// Names form editors give fields by default.
fn looks_generated(name: &str) -> bool {
    let lower = name.trim().to_lowercase();
    let stem =
        lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == ' ' || c == '-');
    if !lower.chars().any(char::is_alphabetic) {
        return true;
    }
    matches!(
        stem,
        "" | "text"
            | "textfield"
            | "text field"
            | "tekst"
            | "tekstfelt"
            | "felt"
            | "field"
            | "fill"
            | "check box"
            | "checkbox"
            | "check"
            | "kontrolfelt"
            | "afkrydsningsfelt"
            | "combo box"
            | "combobox"
            | "dropdown"
            | "rullemenu"
            | "list box"
            | "listbox"
            | "radio button"
            | "radiobutton"
            | "group"
            | "gruppe"
            | "button"
            | "knap"
            | "undefined"
            | "untitled"
            | "#subform"
            | "widget"
    )
}

fn deref<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Object> {
    doc.dereference(o).ok().map(|(_, o)| o)
}

fn deref_dict<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Dictionary> {
    match deref(doc, o)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

fn deref_array<'a>(doc: &'a Document, o: &'a Object) -> Option<&'a Vec<Object>> {
    deref(doc, o)?.as_array().ok()
}

// ------------------------------------------------------------------------------ text layer

/// How to turn the bytes of a shown string into text and advances.
struct FontInfo {
    /// Bytes per character code.
    code_len: usize,
    to_unicode: Option<CMap>,
    /// One-byte encodings without a ToUnicode map.
    table: Option<Box<[Option<char>; 256]>>,
    /// Glyph widths in 1/1000 text space units.
    widths: HashMap<u32, f32>,
    default_width: f32,
    /// Whether code 32 is a space (word spacing applies).
    single_byte: bool,
}

impl FontInfo {
    fn fallback() -> Self {
        FontInfo {
            code_len: 1,
            to_unicode: None,
            table: None,
            widths: HashMap::new(),
            default_width: 500.0,
            single_byte: true,
        }
    }

    fn load(doc: &Document, font: &Dictionary, inflater: &mut Inflater) -> Self {
        let to_unicode = font
            .get(b"ToUnicode")
            .ok()
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_stream().ok())
            .and_then(|s| inflater.decode(s).ok())
            .map(|cmap| CMap::parse(&cmap));
        let subtype = font.get(b"Subtype").ok().and_then(|s| s.as_name().ok());
        let mut info = if subtype == Some(b"Type0") {
            FontInfo::composite(doc, font)
        } else {
            FontInfo::simple(doc, font)
        };
        // A ToUnicode map's code space says how many bytes a code has, whatever the font type.
        if let Some(len) = to_unicode.as_ref().and_then(|cm| cm.code_len) {
            info.code_len = len;
        }
        info.to_unicode = to_unicode;
        info
    }

    /// A Type0 (composite) font: two-byte codes, widths from its descendant CIDFont.
    fn composite(doc: &Document, font: &Dictionary) -> Self {
        let mut info = FontInfo {
            code_len: 2,
            single_byte: false,
            default_width: 1000.0,
            ..FontInfo::fallback()
        };
        if let Some(desc) = font
            .get(b"DescendantFonts")
            .ok()
            .and_then(|o| deref_array(doc, o))
            .and_then(|a| a.first())
            .and_then(|o| deref_dict(doc, o))
        {
            if let Some(dw) = desc
                .get(b"DW")
                .ok()
                .and_then(|o| deref(doc, o))
                .and_then(|o| o.as_float().ok())
            {
                info.default_width = dw;
            }
            if let Some(w) = desc.get(b"W").ok().and_then(|o| deref_array(doc, o)) {
                info.widths = cid_widths(doc, w);
            }
        }
        info
    }

    /// A simple (one-byte) font: its encoding table and its /Widths from /FirstChar on.
    fn simple(doc: &Document, font: &Dictionary) -> Self {
        let mut info = FontInfo {
            table: Some(simple_font_table(doc, font)),
            ..FontInfo::fallback()
        };
        let first = font
            .get(b"FirstChar")
            .ok()
            .and_then(|o| o.as_i64().ok())
            .unwrap_or(0);
        if let Some(ws) = font.get(b"Widths").ok().and_then(|o| deref_array(doc, o)) {
            for (i, w) in ws.iter().take(256).enumerate() {
                if let (Some(w), Ok(code)) = (
                    deref(doc, w).and_then(|w| w.as_float().ok()),
                    u32::try_from(first.saturating_add(i as i64)),
                ) {
                    info.widths.insert(code, w);
                }
            }
        }
        if let Some(mw) = font
            .get(b"FontDescriptor")
            .ok()
            .and_then(|o| deref_dict(doc, o))
            .and_then(|d| d.get(b"MissingWidth").ok())
            .and_then(|o| o.as_float().ok())
            && mw > 0.0
        {
            info.default_width = mw;
        }
        let base = font
            .get(b"BaseFont")
            .ok()
            .and_then(|o| o.as_name().ok())
            .map(|n| String::from_utf8_lossy(n).to_lowercase())
            .unwrap_or_default();
        if info.widths.is_empty() && base.contains("courier") {
            info.default_width = 600.0;
        }
        info
    }

    /// Splits a shown string into (text, width in 1/1000 units, is-space) per character code.
    fn decode(&self, bytes: &[u8]) -> Vec<(String, f32, bool)> {
        let len = self.code_len.clamp(1, 4);
        bytes
            .chunks(len)
            .map(|c| {
                let code = c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
                let text = self
                    .to_unicode
                    .as_ref()
                    .and_then(|m| m.get(code))
                    .or_else(|| {
                        let t = self.table.as_ref()?;
                        let ch = (*t.get(usize::try_from(code).ok()?)?)?;
                        Some(ch.to_string())
                    })
                    .unwrap_or_default();
                let width = self
                    .widths
                    .get(&code)
                    .copied()
                    .unwrap_or(self.default_width);
                let is_space = self.single_byte && c.len() == 1 && code == 32;
                (text, width, is_space)
            })
            .collect()
    }
}

/// The /W array of a CID font: `c [w1 w2 ...]` and `c1 c2 w`.
fn cid_widths(doc: &Document, w: &[Object]) -> HashMap<u32, f32> {
    let mut out = HashMap::new();
    let mut i = 0;
    while let Some(first) = w.get(i).and_then(|o| o.as_i64().ok()) {
        let Ok(first) = u32::try_from(first) else {
            break;
        };
        match w.get(i + 1).and_then(|o| deref(doc, o)) {
            Some(Object::Array(ws)) => {
                for (k, wv) in ws.iter().take(65_536).enumerate() {
                    if let Ok(wv) = wv.as_float() {
                        out.insert(first.saturating_add(k as u32), wv);
                    }
                }
                i += 2;
            }
            Some(o) => {
                let last = o.as_i64().ok().and_then(|l| u32::try_from(l).ok());
                let wv = w.get(i + 2).and_then(|o| o.as_float().ok());
                match (last, wv) {
                    (Some(last), Some(wv)) => {
                        for code in first..=last.min(first.saturating_add(65_536)) {
                            out.insert(code, wv);
                        }
                    }
                    _ => break,
                }
                i += 3;
            }
            None => break,
        }
        if out.len() > 200_000 {
            break;
        }
    }
    out
}

/// The one-byte code → character table of a simple font: its named base encoding (via
/// lopdf's tables) with /Differences applied. WinAnsi when nothing is said, as Danish text
/// in PDFs without an encoding nearly always is.
fn simple_font_table(doc: &Document, font: &Dictionary) -> Box<[Option<char>; 256]> {
    let enc = font.get(b"Encoding").ok().and_then(|o| deref(doc, o));
    let (base_name, differences) = match enc {
        Some(Object::Name(n)) => (n.clone(), None),
        Some(Object::Dictionary(d)) => (
            d.get(b"BaseEncoding")
                .ok()
                .and_then(|o| o.as_name().ok())
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| b"WinAnsiEncoding".to_vec()),
            d.get(b"Differences").ok().and_then(|o| deref_array(doc, o)),
        ),
        _ => (b"WinAnsiEncoding".to_vec(), None),
    };
    let base_name = match base_name.as_slice() {
        b"StandardEncoding" | b"MacRomanEncoding" | b"MacExpertEncoding" | b"WinAnsiEncoding"
        | b"PDFDocEncoding" => base_name,
        _ => b"WinAnsiEncoding".to_vec(),
    };
    let mut table: Box<[Option<char>; 256]> = Box::new([None; 256]);
    let mut probe = Dictionary::new();
    probe.set("Type", Object::Name(b"Font".to_vec()));
    probe.set("Encoding", Object::Name(base_name));
    if let Ok(encoding) = probe.get_font_encoding(doc) {
        for (b, slot) in table.iter_mut().enumerate() {
            let byte = [u8::try_from(b).unwrap_or(0)];
            if let Ok(s) = Document::decode_text(&encoding, &byte) {
                *slot = s.chars().next().filter(|c| !c.is_control() || *c == ' ');
            }
        }
    }
    if let Some(diffs) = differences {
        let mut code: Option<usize> = None;
        for d in diffs {
            match d {
                Object::Integer(i) => code = usize::try_from(*i).ok(),
                Object::Name(n) => {
                    if let Some(c) = code {
                        if let Some(slot) = table.get_mut(c) {
                            *slot = glyph_char(n);
                        }
                        code = c.checked_add(1);
                    }
                }
                _ => {}
            }
        }
    }
    table
}

/// The character of a glyph name (the common Latin ones and "uniXXXX").
fn glyph_char(name: &[u8]) -> Option<char> {
    let name = std::str::from_utf8(name).ok()?;
    if name.chars().count() == 1 {
        return name.chars().next();
    }
    let hex = match name.strip_prefix("uni") {
        Some(h) if h.len() == 4 => Some(h),
        _ => name
            .strip_prefix('u')
            .filter(|h| (4..=6).contains(&h.len())),
    };
    if let Some(c) = hex
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .and_then(char::from_u32)
    {
        return Some(c);
    }
    Some(match name {
        "space" | "nbspace" => ' ',
        "ae" => 'æ',
        "AE" => 'Æ',
        "oslash" => 'ø',
        "Oslash" => 'Ø',
        "aring" => 'å',
        "Aring" => 'Å',
        "adieresis" => 'ä',
        "Adieresis" => 'Ä',
        "odieresis" => 'ö',
        "Odieresis" => 'Ö',
        "udieresis" => 'ü',
        "Udieresis" => 'Ü',
        "eacute" => 'é',
        "Eacute" => 'É',
        "egrave" => 'è',
        "aacute" => 'á',
        "oacute" => 'ó',
        "germandbls" => 'ß',
        "zero" => '0',
        "one" => '1',
        "two" => '2',
        "three" => '3',
        "four" => '4',
        "five" => '5',
        "six" => '6',
        "seven" => '7',
        "eight" => '8',
        "nine" => '9',
        "period" => '.',
        "comma" => ',',
        "colon" => ':',
        "semicolon" => ';',
        "hyphen" | "minus" => '-',
        "endash" => '–',
        "emdash" => '—',
        "slash" => '/',
        "at" => '@',
        "underscore" => '_',
        "parenleft" => '(',
        "parenright" => ')',
        "bracketleft" => '[',
        "bracketright" => ']',
        "quotesingle" => '\'',
        "quotedbl" => '"',
        "quoteright" => '’',
        "quoteleft" => '‘',
        "ampersand" => '&',
        "plus" => '+',
        "equal" => '=',
        "question" => '?',
        "exclam" => '!',
        "numbersign" => '#',
        "percent" => '%',
        "bullet" => '•',
        "ellipsis" => '…',
        "section" => '§',
        _ => return None,
    })
}

/// A ToUnicode CMap: single codes and ranges (kept as ranges, never expanded).
struct CMap {
    chars: HashMap<u32, String>,
    ranges: Vec<(u32, u32, RangeDst)>,
    /// The code length when every codespace range has the same one.
    code_len: Option<usize>,
}

enum RangeDst {
    /// First code maps to this text; later codes increment its last character.
    Start(Vec<u16>),
    List(Vec<String>),
}

impl CMap {
    fn get(&self, code: u32) -> Option<String> {
        if let Some(s) = self.chars.get(&code) {
            return Some(s.clone());
        }
        for (lo, hi, dst) in &self.ranges {
            if (*lo..=*hi).contains(&code) {
                let off = code.checked_sub(*lo)?;
                return match dst {
                    RangeDst::Start(units) => {
                        let mut units = units.clone();
                        let last = units.last_mut()?;
                        *last = u16::try_from(u32::from(*last).checked_add(off)?).ok()?;
                        Some(String::from_utf16_lossy(&units))
                    }
                    RangeDst::List(list) => list.get(usize::try_from(off).ok()?).cloned(),
                };
            }
        }
        None
    }

    fn parse(data: &[u8]) -> CMap {
        let tokens = cmap_tokens(data);
        let mut map = CMap {
            chars: HashMap::new(),
            ranges: Vec::new(),
            code_len: None,
        };
        let mut lens: HashSet<usize> = HashSet::new();
        let mut i = 0;
        let mut mode = "";
        while let Some(t) = tokens.get(i) {
            match t {
                CTok::Op(op) if op == "begincodespacerange" => mode = "space",
                CTok::Op(op) if op == "beginbfchar" => mode = "char",
                CTok::Op(op) if op == "beginbfrange" => mode = "range",
                CTok::Op(op) if op.starts_with("end") => mode = "",
                CTok::Hex(lo) if mode == "space" => {
                    lens.insert(lo.len());
                    i += 1;
                }
                CTok::Hex(src) if mode == "char" => {
                    if let Some(CTok::Hex(dst)) = tokens.get(i + 1) {
                        map.chars.insert(code_of(src), utf16_text(dst));
                    }
                    i += 1;
                }
                CTok::Hex(lo) if mode == "range" => {
                    if let (Some(CTok::Hex(hi)), Some(dst)) = (tokens.get(i + 1), tokens.get(i + 2))
                    {
                        let (lo, hi) = (code_of(lo), code_of(hi));
                        if lo <= hi && map.ranges.len() < 100_000 {
                            let dst = match dst {
                                CTok::Hex(d) => Some(RangeDst::Start(utf16_units(d))),
                                CTok::Array(items) => Some(RangeDst::List(
                                    items.iter().map(|d| utf16_text(d)).collect(),
                                )),
                                CTok::Op(_) => None,
                            };
                            if let Some(dst) = dst {
                                map.ranges.push((lo, hi, dst));
                            }
                        }
                    }
                    i += 2;
                }
                _ => {}
            }
            i += 1;
        }
        if lens.len() == 1 {
            map.code_len = lens.into_iter().next().filter(|l| (1..=4).contains(l));
        }
        map
    }
}

enum CTok {
    Hex(Vec<u8>),
    Array(Vec<Vec<u8>>),
    Op(String),
}

fn code_of(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .take(4)
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b))
}

fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks(2)
        .map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .collect()
}

fn utf16_text(bytes: &[u8]) -> String {
    String::from_utf16_lossy(&utf16_units(bytes))
        .chars()
        .filter(|c| *c != '\0')
        .collect()
}

/// Tokens of a CMap: hex strings, arrays of hex strings and keywords.
fn cmap_tokens(data: &[u8]) -> Vec<CTok> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut array: Option<Vec<Vec<u8>>> = None;
    while let Some(&b) = data.get(i) {
        match b {
            b'<' if data.get(i + 1) != Some(&b'<') => {
                let end = data
                    .get(i..)
                    .and_then(|d| d.iter().position(|&c| c == b'>'));
                let Some(end) = end else { break };
                let hex: Vec<u8> = data
                    .get(i + 1..i + end)
                    .unwrap_or(&[])
                    .iter()
                    .filter(|c| c.is_ascii_hexdigit())
                    .copied()
                    .collect();
                let bytes = hex
                    .chunks(2)
                    .filter_map(|p| {
                        let s = std::str::from_utf8(p).ok()?;
                        let s = if s.len() == 1 {
                            format!("{s}0")
                        } else {
                            s.to_string()
                        };
                        u8::from_str_radix(&s, 16).ok()
                    })
                    .collect();
                match &mut array {
                    Some(a) => a.push(bytes),
                    None => out.push(CTok::Hex(bytes)),
                }
                i += end + 1;
            }
            b'[' => {
                array = Some(Vec::new());
                i += 1;
            }
            b']' => {
                if let Some(a) = array.take() {
                    out.push(CTok::Array(a));
                }
                i += 1;
            }
            c if c.is_ascii_alphabetic() => {
                let end = data
                    .get(i..)
                    .and_then(|d| d.iter().position(|c| !c.is_ascii_alphanumeric()))
                    .map_or(data.len(), |p| i + p);
                out.push(CTok::Op(
                    String::from_utf8_lossy(data.get(i..end).unwrap_or(&[])).into_owned(),
                ));
                i = end;
            }
            _ => i += 1,
        }
        if out.len() > 1_000_000 {
            break;
        }
    }
    out
}

type Matrix = [f32; 6];

const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

fn apply(m: &Matrix, x: f32, y: f32) -> (f32, f32) {
    (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])
}

/// The page text as lines in reading order (top to bottom, left to right); a wide gap
/// between two pieces on a line becomes a tab.
fn text_layer(doc: &Document, page_ids: &[ObjectId], inflater: &mut Inflater) -> Vec<String> {
    let mut lines = Vec::new();
    let mut walk = TextWalk {
        doc,
        runs: Vec::new(),
        budget: MAX_OPERATIONS,
        inflater,
    };
    let mut chars = 0usize;
    for pid in page_ids {
        let Ok(page) = doc.get_dictionary(*pid) else {
            continue;
        };
        let resources = page_resources(doc, page);
        // The page's content streams, each decoded under the document's budget.
        let mut content = Vec::new();
        for id in doc.get_page_contents(*pid) {
            if let Ok(stream) = doc.get_object(id).and_then(Object::as_stream)
                && let Ok(data) = walk.inflater.decode(stream)
            {
                content.extend_from_slice(&data);
                content.push(b'\n');
            }
        }
        if walk.inflater.refused.is_some() {
            break;
        }
        walk.interpret(&content, resources, IDENTITY, 0);
        for line in pdf_rows::page_rows(std::mem::take(&mut walk.runs)) {
            chars = chars.saturating_add(line.chars().count());
            if chars > MAX_TEXT_CHARS {
                return lines;
            }
            lines.push(line);
        }
        if walk.budget == 0 {
            break;
        }
    }
    lines
}

/// A page's /Resources, inherited from the page tree when the page has none.
fn page_resources<'a>(doc: &'a Document, page: &'a Dictionary) -> Option<&'a Dictionary> {
    let mut node = page;
    for _ in 0..32 {
        if let Some(r) = node.get(b"Resources").ok().and_then(|o| deref_dict(doc, o)) {
            return Some(r);
        }
        node = node.get(b"Parent").ok().and_then(|o| deref_dict(doc, o))?;
    }
    None
}

#[derive(Clone)]
struct TextState {
    ctm: Matrix,
    char_spacing: f32,
    word_spacing: f32,
    scale: f32,
    leading: f32,
    rise: f32,
    font: Option<Vec<u8>>,
    size: f32,
}

/// What the walk over one page's text shares with the form XObjects the page draws: the
/// document, the budget of operations left (for the whole document), the inflater (with its
/// byte budget), and the runs placed so far.
struct TextWalk<'a> {
    doc: &'a Document,
    runs: Vec<Run>,
    budget: usize,
    inflater: &'a mut Inflater,
}

/// The state of one content stream as its operators run: the graphics and text state, the
/// saved states (`q`/`Q`), the text and line matrices, and the fonts loaded so far.
struct ContentState<'a> {
    resources: Option<&'a Dictionary>,
    font_dict: Option<&'a Dictionary>,
    xobjects: Option<&'a Dictionary>,
    gs: TextState,
    saved: Vec<TextState>,
    tm: Matrix,
    tlm: Matrix,
    fonts: HashMap<Vec<u8>, FontInfo>,
}

/// How many graphics states `q` may save; more are ignored.
const MAX_SAVED_STATES: usize = 64;

impl<'a> TextWalk<'a> {
    /// Runs a content stream (a page's, or a form XObject's at `depth`) and places its text.
    /// Only the operators that move or show text are followed; the rest is skipped.
    fn interpret(
        &mut self,
        content: &[u8],
        resources: Option<&'a Dictionary>,
        ctm: Matrix,
        depth: usize,
    ) {
        if content.len() > MAX_PAGE_CONTENT_BYTES || content_nesting_too_deep(content) {
            return;
        }
        let Ok(ops) = Content::decode(content) else {
            return;
        };
        let doc = self.doc;
        let mut state = ContentState {
            resources,
            font_dict: resources
                .and_then(|r| r.get(b"Font").ok())
                .and_then(|o| deref_dict(doc, o)),
            xobjects: resources
                .and_then(|r| r.get(b"XObject").ok())
                .and_then(|o| deref_dict(doc, o)),
            gs: TextState {
                ctm,
                char_spacing: 0.0,
                word_spacing: 0.0,
                scale: 1.0,
                leading: 0.0,
                rise: 0.0,
                font: None,
                size: 0.0,
            },
            saved: Vec::new(),
            tm: IDENTITY,
            tlm: IDENTITY,
            fonts: HashMap::new(),
        };
        for op in &ops.operations {
            if self.budget == 0 {
                return;
            }
            self.budget -= 1;
            let nums: Vec<f32> = op
                .operands
                .iter()
                .filter_map(|o| o.as_float().ok())
                .collect();
            match op.operator.as_str() {
                "Tf" => self.set_font(&mut state, op, &nums),
                "Tj" | "'" | "\"" | "TJ" => self.show_text(&mut state, op, &nums),
                "Do" if depth < MAX_XOBJECT_DEPTH => self.draw_form(&state, op, depth),
                operator => state.text_state_op(operator, &nums),
            }
        }
    }

    /// `Tf`: selects a font, loading it from the resources the first time it is used.
    fn set_font(&mut self, state: &mut ContentState<'a>, op: &Operation, nums: &[f32]) {
        let gs = &mut state.gs;
        gs.font = op
            .operands
            .first()
            .and_then(|o| o.as_name().ok())
            .map(<[u8]>::to_vec);
        gs.size = nums.first().copied().unwrap_or(0.0);
        if let Some(name) = &gs.font
            && !state.fonts.contains_key(name)
        {
            let doc = self.doc;
            let info = state
                .font_dict
                .and_then(|f| f.get(name).ok())
                .and_then(|o| deref_dict(doc, o))
                .map(|f| FontInfo::load(doc, f, self.inflater))
                .unwrap_or_else(FontInfo::fallback);
            state.fonts.insert(name.clone(), info);
        }
    }

    /// `Tj`, `'`, `"` and `TJ`: places the strings shown; a number in a `TJ` array moves the
    /// next one.
    fn show_text(&mut self, state: &mut ContentState<'a>, op: &Operation, nums: &[f32]) {
        let num = |i: usize| nums.get(i).copied().unwrap_or(0.0);
        let gs = &mut state.gs;
        if op.operator == "'" || op.operator == "\"" {
            if op.operator == "\"" {
                gs.word_spacing = num(0);
                gs.char_spacing = num(1);
            }
            state.tlm = mul(&[1.0, 0.0, 0.0, 1.0, 0.0, -gs.leading], &state.tlm);
            state.tm = state.tlm;
        }
        let fallback = FontInfo::fallback();
        let font = gs
            .font
            .as_ref()
            .and_then(|f| state.fonts.get(f))
            .unwrap_or(&fallback);
        let items: Vec<&Object> = match op.operator.as_str() {
            "TJ" => op
                .operands
                .first()
                .and_then(|o| o.as_array().ok())
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            _ => op.operands.last().into_iter().collect(),
        };
        for item in items {
            match item {
                Object::String(bytes, _) => show(font, bytes, gs, &mut state.tm, &mut self.runs),
                o => {
                    if let Ok(n) = o.as_float() {
                        let tx = -n / 1000.0 * gs.size * gs.scale;
                        state.tm = mul(&[1.0, 0.0, 0.0, 1.0, tx, 0.0], &state.tm);
                    }
                }
            }
        }
    }

    /// `Do` of a form XObject: its content runs with its own matrix and resources (the
    /// page's when it has none) and fonts of its own, one level deeper.
    fn draw_form(&mut self, state: &ContentState<'a>, op: &Operation, depth: usize) {
        let doc = self.doc;
        let Some(stream) = op
            .operands
            .first()
            .and_then(|o| o.as_name().ok())
            .and_then(|n| state.xobjects.and_then(|x| x.get(n).ok()))
            .and_then(|o| deref(doc, o))
            .and_then(|o| o.as_stream().ok())
        else {
            return;
        };
        if stream
            .dict
            .get(b"Subtype")
            .ok()
            .and_then(|s| s.as_name().ok())
            != Some(b"Form")
        {
            return;
        }
        let matrix: Matrix = stream
            .dict
            .get(b"Matrix")
            .ok()
            .and_then(|m| deref_array(doc, m))
            .map(|m| {
                m.iter()
                    .filter_map(|n| n.as_float().ok())
                    .collect::<Vec<f32>>()
            })
            .and_then(|m| <[f32; 6]>::try_from(m.as_slice()).ok())
            .unwrap_or(IDENTITY);
        let inner = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| deref_dict(doc, r))
            .or(state.resources);
        let Ok(data) = self.inflater.decode(stream) else {
            return;
        };
        self.interpret(
            &data,
            inner,
            mul(&matrix, &state.gs.ctm),
            depth.saturating_add(1),
        );
    }
}

impl ContentState<'_> {
    /// The operators that change the graphics or text state without showing anything:
    /// `q`/`Q`, `cm`, `BT`, the text state (`Tc` `Tw` `Tz` `TL` `Ts`) and text positioning
    /// (`Td` `TD` `Tm` `T*`). Operators with the wrong number of operands are skipped.
    fn text_state_op(&mut self, operator: &str, nums: &[f32]) {
        let num = |i: usize| nums.get(i).copied().unwrap_or(0.0);
        let gs = &mut self.gs;
        match operator {
            "q" if self.saved.len() < MAX_SAVED_STATES => self.saved.push(gs.clone()),
            "Q" => {
                if let Some(s) = self.saved.pop() {
                    *gs = s;
                }
            }
            "cm" if nums.len() == 6 => {
                gs.ctm = mul(&[num(0), num(1), num(2), num(3), num(4), num(5)], &gs.ctm);
            }
            "BT" => {
                self.tm = IDENTITY;
                self.tlm = IDENTITY;
            }
            "Tc" => gs.char_spacing = num(0),
            "Tw" => gs.word_spacing = num(0),
            "Tz" => gs.scale = num(0) / 100.0,
            "TL" => gs.leading = num(0),
            "Ts" => gs.rise = num(0),
            "Td" if nums.len() == 2 => self.move_line(num(0), num(1)),
            "TD" if nums.len() == 2 => {
                gs.leading = -num(1);
                self.move_line(num(0), num(1));
            }
            "Tm" if nums.len() == 6 => {
                self.tlm = [num(0), num(1), num(2), num(3), num(4), num(5)];
                self.tm = self.tlm;
            }
            "T*" => {
                let leading = gs.leading;
                self.move_line(0.0, -leading);
            }
            _ => {}
        }
    }

    /// Starts a new line offset by (tx, ty) from the start of the current one.
    fn move_line(&mut self, tx: f32, ty: f32) {
        self.tlm = mul(&[1.0, 0.0, 0.0, 1.0, tx, ty], &self.tlm);
        self.tm = self.tlm;
    }
}

/// Places one shown string word by word (so that text is placed by position whether the
/// producer shows a line, a word or a glyph at a time) and advances the text matrix.
fn show(font: &FontInfo, bytes: &[u8], gs: &TextState, tm: &mut Matrix, runs: &mut Vec<Run>) {
    let trm = mul(tm, &gs.ctm);
    // The effective font size on the page (the text matrix and CTM may scale it).
    let scale_y = (trm[2] * trm[2] + trm[3] * trm[3]).sqrt();
    let size = (gs.size * scale_y).abs().max(0.1);
    let mut word = String::new();
    let mut start: Option<(f32, f32)> = None;
    for (t, w, is_space) in font.decode(bytes) {
        let here = apply(&mul(tm, &gs.ctm), 0.0, gs.rise);
        // Byte 32 takes the word spacing, but only a space's text ends a word: a subset font
        // may give code 32 to any glyph.
        if !t.is_empty() && t.chars().all(char::is_whitespace) {
            push_word(&mut word, start.take(), here.0, size, runs);
        } else {
            start.get_or_insert(here);
            word.push_str(&t);
        }
        let mut tx = w / 1000.0 * gs.size + gs.char_spacing;
        if is_space {
            tx += gs.word_spacing;
        }
        tx *= gs.scale;
        *tm = mul(&[1.0, 0.0, 0.0, 1.0, tx, 0.0], tm);
    }
    let (end_x, _) = apply(&mul(tm, &gs.ctm), 0.0, gs.rise);
    push_word(&mut word, start, end_x, size, runs);
}

/// Places one word that starts at `start` and ends at `end_x` (within [`MAX_PAGE_RUNS`]).
fn push_word(
    word: &mut String,
    start: Option<(f32, f32)>,
    end_x: f32,
    size: f32,
    runs: &mut Vec<Run>,
) {
    let text: String = word.chars().filter(|c| !c.is_control()).collect();
    word.clear();
    let Some((x, y)) = start else {
        return;
    };
    if !text.is_empty()
        && x.is_finite()
        && y.is_finite()
        && end_x.is_finite()
        && runs.len() < MAX_PAGE_RUNS
    {
        runs.push(Run {
            x,
            y,
            end_x,
            size,
            text,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::content::Operation;
    use lopdf::{Stream, StringFormat, dictionary};

    fn lit(bytes: &[u8]) -> Object {
        Object::String(bytes.to_vec(), StringFormat::Literal)
    }

    fn utf16(s: &str) -> Object {
        Object::String(lopdf::encode_utf16_be(s), StringFormat::Hexadecimal)
    }

    /// A line of WinAnsi text at (x, y).
    fn line(x: i64, y: i64, text: &[u8]) -> Vec<Operation> {
        vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("Td", vec![x.into(), y.into()]),
            Operation::new("Tj", vec![lit(text)]),
            Operation::new("ET", vec![]),
        ]
    }

    /// A one-page PDF with the given content and the fields `make_fields` adds.
    fn build(
        ops: Vec<Operation>,
        pages: usize,
        make_fields: impl FnOnce(&mut Document) -> Vec<Object>,
    ) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let resources_id =
            doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
        let content = Content { operations: ops }.encode().unwrap();
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let kids: Vec<Object> = (0..pages)
            .map(|_| {
                doc.add_object(dictionary! {
                    "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
                    "Resources" => resources_id,
                    "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                })
                .into()
            })
            .collect();
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => pages as i64 },
            ),
        );
        let fields = make_fields(&mut doc);
        let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
        if !fields.is_empty() {
            catalog.set("AcroForm", dictionary! { "Fields" => fields });
        }
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn read(bytes: &[u8]) -> Result<RawForm, ReadError> {
        read_pdf(bytes, "attachment:f.pdf", &ReadLimits::default())
    }

    fn e(label: &str, value: &str) -> Entry {
        Entry::new(label, value)
    }

    #[test]
    fn acroform_fields_with_danish_text_and_check_boxes() {
        let ops = line(
            40,
            800,
            b"\xC6ndring af overv\xE5gning af filafhentning (SFTP-indbakke)",
        );
        let pdf = build(ops, 1, |doc| {
            let text = |doc: &mut Document, name: Object, v: Object| -> Object {
                doc.add_object(dictionary! { "FT" => "Tx", "T" => name, "V" => v })
                    .into()
            };
            let org = text(doc, lit(b"Organisation"), utf16("Højmose Kommune – Ærø"));
            let env = text(doc, lit(b"Milj\xF8"), lit(b"Produktion"));
            let on: Object = doc
                .add_object(dictionary! { "FT" => "Btn", "T" => utf16("Overvågning Til"), "V" => "Yes", "AS" => "Yes" })
                .into();
            let off: Object = doc
                .add_object(dictionary! { "FT" => "Btn", "T" => lit(b"Overv\xE5gning Fra"), "V" => "Off", "AS" => "Off" })
                .into();
            let as_only: Object = doc
                .add_object(dictionary! { "FT" => "Btn", "T" => lit(b"URL"), "AS" => "On" })
                .into();
            let empty: Object = doc
                .add_object(dictionary! { "FT" => "Tx", "T" => lit(b"Telefon") })
                .into();
            let generated: Object = doc
                .add_object(dictionary! { "FT" => "Tx", "T" => lit(b"Text7"), "TU" => lit(b"CVR-nr."), "V" => lit(b"54921942") })
                .into();
            let radio_kid: Object = doc.add_object(dictionary! { "AS" => "Exttest" }).into();
            let radio: Object = doc
                .add_object(dictionary! { "FT" => "Btn", "Ff" => 1i64 << 15, "T" => lit(b"Miljo2"), "V" => "Exttest", "Kids" => vec![radio_kid] })
                .into();
            let choice: Object = doc
                .add_object(dictionary! { "FT" => "Ch", "T" => lit(b"Rolle"), "V" => lit(b"Modtagersystem") })
                .into();
            let push: Object = doc
                .add_object(dictionary! { "FT" => "Btn", "Ff" => 1i64 << 16, "T" => lit(b"Send") })
                .into();
            let child = text(doc, lit(b"Navn"), lit(b"Lars B\xE6k"));
            let parent: Object = doc
                .add_object(dictionary! { "T" => lit(b"Kontakt"), "Kids" => vec![child] })
                .into();
            vec![
                org, env, on, off, as_only, empty, generated, radio, choice, push, parent,
            ]
        });
        let f = read(&pdf).unwrap();
        assert_eq!(
            f.entries,
            vec![
                e("Organisation", "Højmose Kommune – Ærø"),
                e("Miljø", "Produktion"),
                e("Overvågning Til", "☒"),
                e("Overvågning Fra", "☐"),
                e("URL", "☒"),
                e("Telefon", ""),
                e("CVR-nr.", "54921942"),
                e("Miljo2", "Exttest"),
                e("Rolle", "Modtagersystem"),
                e("Kontakt.Navn", "Lars Bæk"),
            ]
        );
        assert_eq!(
            f.text,
            "Ændring af overvågning af filafhentning (SFTP-indbakke)"
        );
        assert_eq!(f.source, "attachment:f.pdf");
    }

    #[test]
    fn fields_are_sorted_by_their_position_on_the_page() {
        let pdf = build(vec![], 1, |doc| {
            let page = doc
                .objects
                .iter()
                .find(|(_, o)| o.as_dict().is_ok_and(|d| d.type_is(b"Page")))
                .map(|(id, _)| *id)
                .unwrap();
            let mut field = |name: &[u8], x: i64, y: i64| -> Object {
                doc.add_object(dictionary! {
                    "FT" => "Tx", "T" => lit(name), "V" => lit(b"v"), "P" => page,
                    "Rect" => vec![x.into(), y.into(), (x + 100).into(), (y + 12).into()],
                })
                .into()
            };
            vec![
                field(b"Nederst", 50, 100),
                field(b"Til hoejre", 300, 700),
                field(b"Til venstre", 50, 701),
            ]
        });
        let labels: Vec<String> = read(&pdf)
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.label)
            .collect();
        assert_eq!(labels, ["Til venstre", "Til hoejre", "Nederst"]);
    }

    #[test]
    fn text_layer_lines_are_read_like_a_mail() {
        let mut ops = line(
            50,
            800,
            b"\xC6ndring af teknisk konfiguration for serviceudbyders webservice",
        );
        ops.extend(line(50, 770, b"CVR-nr.: 12345678"));
        ops.extend(line(50, 754, b"Ny URL: https://ws.example.dk/a"));
        ops.extend(line(50, 738, b"\xC6ndringer:"));
        ops.extend(line(70, 724, b"[X] URL"));
        ops.extend(line(70, 710, b"[ ] SSL-certifikat"));
        // A label cell and a value cell far apart on one line, drawn value first.
        ops.extend(line(250, 690, b"Produktion"));
        ops.extend(line(50, 690, b"Milj\xF8"));
        // Words placed by TJ offsets, not spaces.
        ops.extend(vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("Td", vec![50.into(), 670.into()]),
            Operation::new(
                "TJ",
                vec![Object::Array(vec![
                    lit(b"Kontaktperson:"),
                    (-300).into(),
                    lit(b"Lars"),
                    20.into(),
                    lit(b"en"),
                ])],
            ),
            Operation::new("ET", vec![]),
        ]);
        let f = read(&build(ops, 1, |_| vec![])).unwrap();
        assert_eq!(
            f.entries,
            vec![
                e("CVR-nr.", "12345678"),
                e("Ny URL", "https://ws.example.dk/a"),
                e("Ændringer", "☒ URL\n☐ SSL-certifikat"),
                e("Miljø", "Produktion"),
                e("Kontaktperson", "Larsen"),
            ]
        );
        assert_eq!(
            f.text,
            "Ændring af teknisk konfiguration for serviceudbyders webservice"
        );
    }

    #[test]
    fn one_byte_truetype_font_with_tounicode_map() {
        let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
            1 begincodespacerange <00> <7F> endcodespacerange\n\
            2 beginbfchar <01> <00C6> <02> <00F8> endbfchar\n\
            1 beginbfrange <20> <7E> <0020> endbfrange\n\
            1 beginbfrange <03> <04> [<00E5> <00E6>] endbfrange\n\
            endcmap end end";
        let map = CMap::parse(cmap);
        assert_eq!(map.code_len, Some(1));
        let font = FontInfo {
            to_unicode: Some(map),
            ..FontInfo::fallback()
        };
        let text: String = font
            .decode(b"\x01ndring Milj\x02 \x03\x04")
            .into_iter()
            .map(|(t, _, _)| t)
            .collect();
        assert_eq!(text, "Ændring Miljø åæ");
        let two = CMap::parse(b"begincodespacerange <0000> <FFFF> endcodespacerange beginbfchar <0041> <00E6> endbfchar");
        assert_eq!(two.code_len, Some(2));
        assert_eq!(two.get(0x41).as_deref(), Some("æ"));
        assert_eq!(two.get(0x42), None);
    }

    #[test]
    fn differences_glyph_names() {
        assert_eq!(glyph_char(b"aring"), Some('å'));
        assert_eq!(glyph_char(b"uni00D8"), Some('Ø'));
        assert_eq!(glyph_char(b"A"), Some('A'));
        assert_eq!(glyph_char(b"nonesuch"), None);
    }

    #[test]
    fn no_text_and_no_fields_is_unreadable() {
        let err = read(&build(vec![], 1, |_| vec![])).unwrap_err();
        assert_eq!(
            err,
            ReadError::Unreadable("the PDF has no text layer and no form fields (a scan?)".into())
        );
    }

    #[test]
    fn garbage_and_truncated_files_are_damaged() {
        assert!(matches!(
            read(b"not a pdf at all"),
            Err(ReadError::Damaged(_))
        ));
        assert!(matches!(read(b""), Err(ReadError::Damaged(_))));
        assert!(matches!(
            read(b"%PDF-1.4\n1 0 obj << /A [1 2"),
            Err(ReadError::Damaged(_))
        ));
        let good = build(line(50, 800, b"CVR-nr.: 1"), 1, |_| vec![]);
        let half = good.get(..good.len() / 2).unwrap();
        // Either lopdf recovers something or it reports damage; it must not panic.
        let _ = read(half);
        let mut noisy = good.clone();
        for (i, b) in noisy.iter_mut().enumerate() {
            if i % 7 == 3 {
                *b ^= 0x5a;
            }
        }
        assert!(read(&noisy).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let mut bytes = b"%PDF-1.4\n1 0 obj\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(matches!(read(&bytes), Err(ReadError::Damaged(_))));
        assert!(!pdf_scan::nesting_too_deep(
            b"<< /A [ (((([[[[) ] >>",
            MAX_NESTING
        ));
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(data).unwrap();
        z.finish().unwrap()
    }

    /// A one-page PDF whose content stream is `content` under `filters` (already encoded).
    fn pdf_with_content(content: Vec<u8>, filters: &[&str]) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let filter: Vec<Object> = filters
            .iter()
            .map(|f| Object::Name(f.as_bytes().to_vec()))
            .collect();
        let content_id = doc.add_object(Stream::new(dictionary! { "Filter" => filter }, content));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog_id);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn small_budget() -> ReadLimits {
        ReadLimits {
            max_pdf_inflated_bytes: 1024 * 1024,
            ..ReadLimits::default()
        }
    }

    /// Finding 2: page contents inflate under the document's budget and stop as soon as it
    /// is spent (a 1.4 KB stream reached 1.1 GB before).
    #[test]
    fn a_decompression_bomb_is_refused_while_inflating() {
        let bomb = zlib(&vec![b' '; 8 * 1024 * 1024]);
        assert!(bomb.len() < 16 * 1024);
        let pdf = pdf_with_content(bomb, &["FlateDecode"]);
        assert_eq!(
            read_pdf(&pdf, "s", &small_budget()).unwrap_err(),
            ReadError::Limit(
                "the PDF's streams inflate to more than the limit of 1048576 bytes".into()
            )
        );
        // Under the budget a compressed PDF is read as before.
        let mut ops = line(50, 800, b"CVR-nr.: 12345678");
        for y in 0..40 {
            ops.extend(line(50, 700 - 12 * y, b"Et afsnit fri tekst, som fylder."));
        }
        let mut doc = Document::load_mem(&build(ops, 1, |_| vec![])).unwrap();
        doc.compress();
        assert!(
            doc.objects
                .values()
                .any(|o| o.as_stream().is_ok_and(|s| s.dict.has(b"Filter")))
        );
        let mut pdf = Vec::new();
        doc.save_to(&mut pdf).unwrap();
        let f = read_pdf(&pdf, "s", &small_budget()).unwrap();
        assert_eq!(f.entries.first(), Some(&e("CVR-nr.", "12345678")));
    }

    /// Finding 2: a double FlateDecode (16 GB from 13.7 KB) and chains longer than real PDFs
    /// use are refused before anything is inflated twice.
    #[test]
    fn chained_inflating_filters_are_refused() {
        let inner = zlib(b"BT /F1 10 Tf 50 800 Td (CVR-nr.: 1) Tj ET");
        for filters in [
            &["FlateDecode", "FlateDecode"][..],
            &["ASCII85Decode", "ASCII85Decode", "FlateDecode"][..],
        ] {
            let pdf = pdf_with_content(zlib(&inner), filters);
            assert!(
                matches!(read_pdf(&pdf, "s", &ReadLimits::default()), Err(ReadError::Limit(m)) if m.contains("filter chain")),
                "{filters:?}"
            );
        }
    }

    /// Finding 2: an object stream is inflated under the same budget (lopdf's own loading
    /// inflated it without a bound).
    #[test]
    fn an_object_stream_bomb_is_refused() {
        let mut objects = b"2 0 ".to_vec();
        objects.extend(vec![b' '; 8 * 1024 * 1024]);
        objects.extend_from_slice(b"<< /Type /Catalog >>");
        let packed = zlib(&objects);
        let mut pdf = b"%PDF-1.5\n".to_vec();
        pdf.extend_from_slice(
            format!(
                "1 0 obj << /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >> stream\n",
                packed.len()
            )
            .as_bytes(),
        );
        pdf.extend_from_slice(&packed);
        pdf.extend_from_slice(b"\nendstream endobj\ntrailer << /Root 2 0 R >>\n%%EOF\n");
        assert_eq!(
            read_pdf(&pdf, "s", &small_budget()).unwrap_err(),
            ReadError::Limit(
                "the PDF's streams inflate to more than the limit of 1048576 bytes".into()
            )
        );
    }

    /// Finding 8: the objects are counted on the raw bytes, before lopdf loads any (a
    /// 480,000-object PDF took 473 MB before it was refused): even a file lopdf could not
    /// load is refused for its count.
    #[test]
    fn too_many_objects_are_refused_before_loading() {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        for n in 1..=2_000 {
            pdf.extend_from_slice(format!("{n} 0 obj [{n}] endobj\n").as_bytes());
        }
        let limits = ReadLimits {
            max_pdf_objects: 1_000,
            ..ReadLimits::default()
        };
        assert_eq!(
            read_pdf(&pdf, "s", &limits).unwrap_err(),
            ReadError::Limit("the PDF has more than 1000 objects".into())
        );
    }

    /// Finding 1's blinds: a `(` in a comment or a name `/stream` before deep nesting hid it
    /// from the old pre-scan, and lopdf's recursion then overflowed the stack.
    #[test]
    fn blinded_deep_nesting_is_still_refused() {
        for head in ["% (\n", "1 0 obj << /stream 1 >> endobj\n"] {
            let mut pdf = format!("%PDF-1.4\n{head}2 0 obj ").into_bytes();
            pdf.extend(std::iter::repeat_n(b'[', 100_000));
            pdf.extend_from_slice(b" endobj\ntrailer << /Root 2 0 R >>\n%%EOF");
            assert_eq!(
                read_pdf(&pdf, "s", &ReadLimits::default()).unwrap_err(),
                ReadError::Damaged("the PDF's objects are nested too deeply".into()),
                "{head:?}"
            );
        }
    }

    #[test]
    fn page_and_object_limits() {
        let pdf = build(line(50, 800, b"CVR-nr.: 1"), 3, |_| vec![]);
        let limits = ReadLimits {
            max_pdf_pages: 2,
            ..ReadLimits::default()
        };
        assert!(matches!(
            read_pdf(&pdf, "s", &limits),
            Err(ReadError::Limit(_))
        ));
        let limits = ReadLimits {
            max_pdf_objects: 3,
            ..ReadLimits::default()
        };
        assert!(matches!(
            read_pdf(&pdf, "s", &limits),
            Err(ReadError::Limit(_))
        ));
        assert!(read_pdf(&pdf, "s", &ReadLimits::default()).is_ok());
    }

    #[test]
    fn encrypted_pdf_is_unreadable() {
        let mut doc =
            Document::load_mem(&build(line(50, 800, b"CVR-nr.: 1"), 1, |_| vec![])).unwrap();
        let enc = doc.add_object(dictionary! {
            "Filter" => "Standard", "V" => 2, "R" => 3, "Length" => 128,
            "O" => lit(&[1u8; 32]), "U" => lit(&[2u8; 32]), "P" => -4,
        });
        doc.trailer.set("Encrypt", enc);
        doc.trailer.set(
            "ID",
            vec![lit(b"0123456789abcdef"), lit(b"0123456789abcdef")],
        );
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        assert_eq!(
            read(&out).unwrap_err(),
            ReadError::Unreadable("encrypted PDF".into())
        );
    }

    #[test]
    fn text_rows_add_only_tick_boxes_no_field_fills() {
        let fields = vec![
            e("Overvågning Til", "☒"),
            e("Overvågning Fra", "☒"),
            e("CVR", "1"),
        ];
        let rows = vec![
            e("Overvågning", "Til Fra"),
            e("CVR-nr.", "2"),
            e("Ændringer", "☐ SSL-certifikat\n☒ URL"),
            e("Ukendt", "☒ x"),
        ];
        assert_eq!(
            with_text_rows(fields.clone(), rows),
            [fields, vec![e("Ændringer", "☐ SSL-certifikat\n☒ URL")]].concat()
        );
        assert_eq!(decode_hex_escapes("Bestillings#20ID"), "Bestillings ID");
        assert_eq!(decode_hex_escapes("#C3#98nsket"), "Ønsket");
        assert_eq!(decode_hex_escapes("#C3"), "#C3");
        assert_eq!(decode_hex_escapes("Nr #1 #zz #"), "Nr #1 #zz #");
        assert_eq!(field_label("CVR-nr.Widget", Some("CVR-nr.")), "CVR-nr.");
        assert_eq!(field_label("Tekstfelt 2", Some("Miljø")), "Miljø");
        assert_eq!(field_label("Felt A", Some("Miljø")), "Miljø");
    }

    #[test]
    fn field_labels() {
        assert_eq!(field_label("CVR-nr", Some("CVR-nr.")), "CVR-nr");
        assert_eq!(
            field_label("Check Box3", Some("SSL-certifikat")),
            "SSL-certifikat"
        );
        assert_eq!(field_label("Text1", None), "Text1");
        assert_eq!(
            field_label("form1[0].#subform[0].CVR[0]", Some("CVR-nr.")),
            "CVR"
        );
        assert_eq!(
            field_label("form1[0].#subform[0].TextField1[0]", Some("Organisation")),
            "Organisation"
        );
        assert_eq!(field_label("Kontakt.Navn", None), "Kontakt.Navn");
    }
}
