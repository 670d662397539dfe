//! Mail bodies (plain text and HTML) and PDF text layers as "Label: value" lines.
//!
//! A person who types an order into a mail writes one "Label: value" per line, ticks boxes as
//! "\[X\] URL" under an "Ændringer:" line, and often leaves a signature and the quoted mail they
//! answered below. This reader keeps the pairs in document order, turns tick marks into "☒"/"☐"
//! (the [`crate::forms::raw`] convention) and drops what the sender did not write for this order:
//! the signature, quoted lines and the quoted original of a reply. An earlier mail below the
//! sender's text (under Outlook's separator line or header block, Gmail's or Apple Mail's
//! forward marker) is read as the order when it is a forward or the sender typed no form
//! above it, never when it is one of our receipts. An HTML table row `<td>Label</td>
//! <td>value</td>` reads as "Label: value", an empty value cell as an empty field.

use std::borrow::Cow;

use crate::forms::raw::{Entry, RawForm, TICKED, UNTICKED, has_tick_glyph, leading_tick_glyph};
use crate::forms::read::label::{plausible_label, split_label};
use crate::mail::header_value::FROM_NAME;
use crate::orders::state::find_reference;

/// How far below a "Fra:" line the rest of an Outlook header block must start.
const HEADER_BLOCK_LOOKAHEAD: usize = 4;

/// Lines of one text (mail body, .txt file, HTML, PDF text layer) read as a form; the rest
/// is not read. A form typed into a mail is a few dozen lines and a long PDF's text layer a
/// few thousand, but each line can cost an entry: 24 MB of "a:" lines made 8 million entries
/// and 916 MB in the daemon's own process (which reads plain text itself, and takes back every
/// entry a sandboxed reader finds).
pub const MAX_FORM_LINES: usize = 10_000;

/// Reads a plain-text mail body.
pub fn read_text(text: &str, source: &str) -> RawForm {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        // A lone CR (old Mac line ends) also ends a line.
        .flat_map(|l| l.trim_end_matches('\r').split('\r'))
        .take(MAX_FORM_LINES)
        .collect();
    parse_lines(&lines, source, false)
}

/// Reads an HTML mail body: tags become line and cell breaks, a table row
/// `<td>Label</td><td>value</td>` becomes "Label: value", then it is read as text.
pub fn read_html(html: &str, source: &str) -> RawForm {
    let lines = html_to_lines(html);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    parse_lines(&refs, source, false)
}

/// The shared line parser (also used for a PDF text layer, where `tab_cells` lets a large
/// horizontal gap, rendered as a tab, separate a label cell from its value cell).
pub(crate) fn parse_lines(lines: &[&str], source: &str, tab_cells: bool) -> RawForm {
    let lines = lines.get(..MAX_FORM_LINES).unwrap_or(lines);
    let span = reading_span(lines);
    let mut p = LineParser {
        form: RawForm {
            source: source.to_string(),
            ..RawForm::default()
        },
        tab_cells,
        ..LineParser::default()
    };
    let note = lines.get(..span.from).unwrap_or_default();
    p.text_lines.extend(
        note.iter()
            .map(|l| l.trim())
            .filter(|t| !t.is_empty() && !t.starts_with('>') && !is_forward_marker(t))
            .map(str::to_string),
    );
    for (i, raw) in lines.iter().enumerate().take(span.end).skip(span.from) {
        if p.line(lines, i, raw) == Flow::Stop {
            break;
        }
    }
    p.form.text = p.text_lines.join("\n");
    p.form
}

/// Whether [`LineParser::line`] reads on.
#[derive(PartialEq, Eq)]
enum Flow {
    Next,
    Stop,
}

/// The state of [`parse_lines`] between lines: what the last entry may still take.
#[derive(Default)]
struct LineParser {
    form: RawForm,
    text_lines: Vec<String>,
    tab_cells: bool,
    /// True while the last entry may still take continuation lines (tick lines, indented lines).
    open: bool,
    /// True while the last entry is a list of tick boxes, which a blank line does not end.
    ticks_open: bool,
    /// True inside the header block of an inline forward.
    skip_headers: bool,
    /// The last entry has no value and a blank line followed it: unless tick lines follow, it
    /// was a sentence ending in a colon ("Her er vores bestilling:"), not a label.
    lone_empty: bool,
}

impl LineParser {
    /// Reads line `i`: a blank, a quote or a forward's header is passed over; a closing
    /// greeting ends the form; otherwise it is a tick line, a label, a continuation or text.
    fn line(&mut self, lines: &[&str], i: usize, raw: &str) -> Flow {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if self.passed_over(lines, i, trimmed) {
            return Flow::Next;
        }
        if self.lone_empty {
            self.lone_empty = false;
            if tick_line(trimmed, true).is_none() {
                demote_last(&mut self.form.entries, &mut self.text_lines);
                self.ticks_open = false;
            }
        }
        if !self.form.entries.is_empty() && is_closing(trimmed) {
            // "Venlig hilsen" after the form: what follows is a signature (its "Tlf.: ..."
            // would otherwise read as the form's phone number).
            self.text_lines.push(trimmed.to_string());
            return Flow::Stop;
        }
        let indented = line.len() != trimmed.len();
        if !self.tick(trimmed) && !self.label(trimmed) && !self.continuation(indented, trimmed) {
            self.open = false;
            self.ticks_open = false;
            self.text_lines.push(trimmed.to_string());
        }
        Flow::Next
    }

    /// A blank line (it ends what the last entry takes), a quoted line, or a line of an inline
    /// forward's header block ("Fra:/Sendt:/Til:/Emne: VS: ..."; the forwarded form below it
    /// is read).
    fn passed_over(&mut self, lines: &[&str], i: usize, trimmed: &str) -> bool {
        if trimmed.is_empty() {
            if self.open && self.form.entries.last().is_some_and(|e| e.value.is_empty()) {
                self.lone_empty = true;
            }
            self.open = false;
            self.skip_headers = false;
            return true;
        }
        if trimmed.starts_with('>') || is_forward_marker(trimmed) {
            return true;
        }
        let header = header_name(trimmed);
        if header_block_at(lines, i) {
            self.skip_headers = true;
        }
        if self.skip_headers {
            if header.as_deref().is_some_and(is_mail_header) {
                return true;
            }
            self.skip_headers = false;
        }
        false
    }

    /// A tick line: joins a label with no value yet or one that already holds tick boxes, or
    /// stands on its own ("☒ SSL-certifikat" is label "SSL-certifikat", value "☒").
    fn tick(&mut self, trimmed: &str) -> bool {
        let takes_ticks = self.ticks_open
            || (self.open
                && self
                    .form
                    .entries
                    .last()
                    .is_some_and(|e| e.value.is_empty() || has_tick_glyph(&e.value)));
        let Some(tick) = tick_line(trimmed, takes_ticks) else {
            return false;
        };
        if takes_ticks && let Some(last) = self.form.entries.last_mut() {
            append_value(&mut last.value, &tick);
            self.open = true;
            self.ticks_open = true;
            return true;
        }
        if let Some((mark, rest)) = tick.split_once(' ') {
            let rest = rest.trim();
            if !rest.is_empty() && !has_tick_glyph(rest) && plausible_label(rest) {
                self.form.entries.push(Entry::new(rest, mark));
                self.open = false;
                return true;
            }
        }
        self.text_lines.push(tick);
        self.open = false;
        true
    }

    /// A "Label: value" line.
    fn label(&mut self, trimmed: &str) -> bool {
        let Some((label, value)) = split_label(trimmed, self.tab_cells) else {
            return false;
        };
        self.ticks_open = value.is_empty();
        self.form
            .entries
            .push(Entry::new(label, normalize_inline_ticks(&value)));
        self.open = true;
        true
    }

    /// An indented line under an entry that still takes lines: more of its value.
    fn continuation(&mut self, indented: bool, trimmed: &str) -> bool {
        if !indented || !self.open {
            return false;
        }
        let Some(last) = self.form.entries.last_mut() else {
            return false;
        };
        append_value(&mut last.value, trimmed);
        true
    }
}

/// Moves the last entry back to the free text as the line it was.
fn demote_last(entries: &mut Vec<Entry>, text_lines: &mut Vec<String>) {
    if let Some(e) = entries.pop() {
        text_lines.push(format!("{}:", e.label));
    }
}

fn append_value(value: &mut String, line: &str) {
    if !value.is_empty() {
        value.push('\n');
    }
    value.push_str(line);
}

/// The lines of a text read as a form: from the first line, or from the first earlier mail
/// read through below a covering note with no form, to the end of what the sender wrote.
#[derive(Debug, PartialEq, Eq)]
struct Span {
    /// Lines before this are a covering note: free text only (a forwarder's signature, "Tlf.:
    /// ...", must not become the forwarded form's phone number).
    from: usize,
    end: usize,
}

/// Where the form's lines start and end. They end at what the sender did not write for this
/// order: a signature marker, a reply's intro ("On ... wrote:"), or an earlier mail below a
/// separator line or a header block ("Fra:/Sendt:/Til:/Emne:") that is not read through.
///
/// Outlook quotes a reply's original and forwards a mail inline in the same shape, so the
/// earlier mail is read through when it is a forward ([`forwarded_block`]) or when the sender
/// typed no "Label: value" line above it (a forward with a covering note: the earlier mail is
/// the order). A receipt of ours ([`is_our_receipt`]) is never read through: a reply to it
/// would otherwise resubmit its field lines as an order.
fn reading_span(lines: &[&str]) -> Span {
    let starts = block_starts(lines);
    let mut typed = TypedAbove::default();
    let mut scanned = 0;
    let mut from = 0;
    for (k, &(i, kind)) in starts.iter().enumerate() {
        typed.scan(lines.get(scanned..i).unwrap_or_default());
        scanned = i;
        if kind == BlockStart::Cut {
            return Span { from, end: i };
        }
        let end = starts.get(k.saturating_add(1)).map_or(lines.len(), |s| s.0);
        let block = lines.get(i..end).unwrap_or_default();
        if is_our_receipt(block) || (typed.any && !forwarded_block(lines, i)) {
            return Span { from, end: i };
        }
        if !typed.any && from == 0 {
            from = i;
        }
        typed.closed = false;
    }
    Span {
        from,
        end: lines.len(),
    }
}

/// What starts at a line of a mail body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockStart {
    /// A signature marker or a reply's intro: nothing below is read.
    Cut,
    /// An earlier mail: an Outlook separator or a header block.
    EarlierMail,
}

/// The lines where a signature, a reply's intro or an earlier mail starts, in order. A header
/// block right below a separator line belongs to the separator's mail.
fn block_starts(lines: &[&str]) -> Vec<(usize, BlockStart)> {
    let mut starts: Vec<(usize, BlockStart)> = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let t = raw.trim();
        let signature = raw.trim_end_matches([' ', '\t']) == "--" || *raw == "-- " || t == "--";
        if signature || is_reply_intro(t, lines.get(i.saturating_add(1)).map(|l| l.trim())) {
            starts.push((i, BlockStart::Cut));
        } else if is_outlook_separator(t) {
            starts.push((i, BlockStart::EarlierMail));
        } else if header_block_at(lines, i) {
            let below_separator = starts.last().is_some_and(|&(s, kind)| {
                kind == BlockStart::EarlierMail
                    && lines
                        .get(s..i)
                        .is_some_and(|between| between.iter().skip(1).all(|l| l.trim().is_empty()))
                    && lines.get(s).is_some_and(|l| is_outlook_separator(l.trim()))
            });
            if !below_separator {
                starts.push((i, BlockStart::EarlierMail));
            }
        }
    }
    starts
}

/// "-----Original Message-----", "-----Oprindelig meddelelse-----" (Outlook's line above a
/// quoted or forwarded mail's headers).
fn is_outlook_separator(t: &str) -> bool {
    let lower = t.to_lowercase();
    lower.starts_with("---")
        && (lower.contains("original message")
            || lower.contains("oprindelig meddelelse")
            || lower.contains("original meddelelse"))
}

/// Whether the sender typed a "Label: value" line of their own above an earlier mail (quoted
/// lines and what follows a closing greeting, a signature's "Tlf.: ...", do not count).
#[derive(Default)]
struct TypedAbove {
    any: bool,
    closed: bool,
}

impl TypedAbove {
    fn scan(&mut self, lines: &[&str]) {
        for l in lines {
            let t = l.trim();
            if is_closing(t) {
                self.closed = true;
            } else if !self.closed
                && !t.starts_with('>')
                && split_label(t, false).is_some_and(|(_, v)| !v.is_empty())
            {
                self.any = true;
            }
        }
    }
}

/// Whether an earlier mail (from its separator or header block to the next one) is a receipt
/// of ours: its "Fra:/From:" names the Helpdesk's sender name, its subject is a receipt's
/// ("[SP-2026-00007] ...", without a reply's or forward's prefix), or it greets "Kære ..."
/// and is signed "Serviceplatformens Helpdesk" on a line of its own, as every receipt template
/// is. A person's mail that names an order reference ("Rettelse til SP-2026-00007") is not.
fn is_our_receipt(block: &[&str]) -> bool {
    let mut greeting = false;
    let mut signed = false;
    for l in block {
        let t = l.trim().trim_start_matches('*');
        if let Some(h) = header_name(t) {
            let value = t
                .split_once(':')
                .map_or("", |(_, v)| v.trim().trim_start_matches('*').trim());
            let from_us = matches!(h.as_str(), "fra" | "from") && value.contains(FROM_NAME);
            let our_subject = matches!(h.as_str(), "emne" | "subject")
                && value.starts_with("[SP-")
                && find_reference(value).is_some();
            if from_us || our_subject {
                return true;
            }
        }
        greeting |= t.starts_with("Kære ");
        signed |= t == FROM_NAME;
    }
    greeting && signed
}

/// "On Mon, 30 Nov 2026 at 09:00, X <x@y> wrote:" (possibly wrapped before "wrote:") and
/// "Den 30. nov. 2026 kl. 09.00 skrev X <x@y>:".
fn is_reply_intro(t: &str, next: Option<&str>) -> bool {
    let lower = t.to_lowercase();
    if lower.starts_with("on ") {
        return lower.ends_with("wrote:") || next.is_some_and(|n| n.eq_ignore_ascii_case("wrote:"));
    }
    if lower.starts_with("den ") {
        return lower.contains(" skrev") && lower.ends_with(':');
    }
    false
}

/// The lower-cased name of a mail-header-like line ("Fra: ...", "*Sendt:* ..."), if any.
fn header_name(t: &str) -> Option<String> {
    let t = t.trim_start_matches('*');
    let (name, _) = t.split_once(':')?;
    let name = name.trim().trim_matches('*').trim();
    if name.is_empty() || name.chars().count() > 12 || name.contains(char::is_whitespace) {
        return None;
    }
    Some(name.to_lowercase())
}

/// Whether line `i` starts a mail's header block: "Fra:"/"From:" followed by the other
/// headers on the lines below, or on the same line ("Fra: X Sendt: ... Til: ... Emne: ...",
/// as some Outlook versions write a forward's headers in plain text).
fn header_block_at(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i).map(|l| l.trim()) else {
        return false;
    };
    if !header_name(line).is_some_and(|h| h == "fra" || h == "from") {
        return false;
    }
    let on_one_line = [" Sendt: ", " Sent: ", " Dato: ", " Date: "]
        .iter()
        .any(|h| line.contains(h))
        && [" Emne: ", " Subject: "].iter().any(|h| line.contains(h));
    on_one_line || header_block_follows(lines, i)
}

/// After "Fra:" an Outlook header block has "Sendt:"/"Dato:"/"Emne:" within a few lines; a
/// sftp form's "Fra" monitoring option does not.
fn header_block_follows(lines: &[&str], from: usize) -> bool {
    lines
        .iter()
        .skip(from.saturating_add(1))
        .take(HEADER_BLOCK_LOOKAHEAD)
        .filter_map(|l| header_name(l.trim()))
        .any(|h| {
            matches!(
                h.as_str(),
                "sendt" | "sent" | "dato" | "date" | "emne" | "subject"
            )
        })
}

fn is_mail_header(h: &str) -> bool {
    matches!(
        h,
        "fra"
            | "from"
            | "sendt"
            | "sent"
            | "dato"
            | "date"
            | "til"
            | "to"
            | "cc"
            | "emne"
            | "subject"
            | "bcc"
            | "reply-to"
            | "vigtighed"
            | "importance"
    )
}

/// Whether the header block at `from` introduces a forwarded mail, whose content is the order,
/// rather than the quoted original of a reply: a forward marker stands right above it (Gmail
/// and Apple Mail give the original's own subject, without "Fwd:"), or its subject is a
/// forward's ("Emne: VS: ...").
fn forwarded_block(lines: &[&str], from: usize) -> bool {
    let marker_above = lines
        .get(..from)
        .unwrap_or_default()
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty())
        .is_some_and(is_forward_marker);
    marker_above || forwarded_subject(lines, from)
}

/// The line a mail program writes above a forwarded mail's headers: "---------- Forwarded
/// message ---------" (Gmail; Thunderbird writes "Forwarded Message"), "----------
/// Videresendt meddelelse ----------" (in Danish), "Begin forwarded message:" (Apple Mail),
/// blank lines between it and the headers allowed. A sentence that merely
/// mentions a forwarded message is not one: the whole line must be the marker.
fn is_forward_marker(line: &str) -> bool {
    let words = line
        .trim_matches(|c: char| c == '-' || c == ':' || c.is_whitespace())
        .to_lowercase();
    matches!(
        words.as_str(),
        "forwarded message"
            | "begin forwarded message"
            | "videresendt meddelelse"
            | "start på videresendt besked"
    )
}

/// Whether the header block at `from` gives a forward's subject ("Emne: VS: ...").
fn forwarded_subject(lines: &[&str], from: usize) -> bool {
    lines
        .iter()
        .skip(from)
        .take(HEADER_BLOCK_LOOKAHEAD.saturating_add(2))
        .map(|l| l.trim().trim_start_matches('*'))
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            let name = name.trim().trim_matches('*').to_lowercase();
            (name == "emne" || name == "subject")
                .then(|| value.trim().trim_start_matches('*').trim().to_lowercase())
        })
        .any(|v| {
            ["vs:", "fw:", "fwd:", "wg:", "tr:"]
                .iter()
                .any(|p| v.starts_with(p))
        })
}

/// A closing greeting on a line of its own.
fn is_closing(t: &str) -> bool {
    let t = t.trim_end_matches([',', '.', '!']).trim().to_lowercase();
    matches!(
        t.as_str(),
        "venlig hilsen"
            | "med venlig hilsen"
            | "de bedste hilsner"
            | "bedste hilsner"
            | "venlige hilsner"
            | "mvh"
            | "vh"
            | "hilsen"
            | "kind regards"
            | "best regards"
            | "regards"
    )
}

/// If the line starts with a tick mark, returns it with the mark written as "☒"/"☐".
/// A bare "X" counts only under an open label ("Ændringer:" then "X URL").
fn tick_line(t: &str, open: bool) -> Option<String> {
    if let Some((mark, ticked)) = leading_tick_glyph(t) {
        let norm = if ticked { TICKED } else { UNTICKED };
        let rest = t.get(mark.len()..).unwrap_or("");
        return Some(join_mark(norm, &normalize_inline_ticks(rest)));
    }
    if open {
        for mark in ["X ", "x "] {
            if let Some(rest) = t.strip_prefix(mark) {
                return Some(join_mark(TICKED, rest));
            }
        }
    }
    None
}

fn join_mark(mark: &str, rest: &str) -> String {
    let rest = rest.trim();
    if rest.is_empty() {
        mark.to_string()
    } else {
        format!("{mark} {rest}")
    }
}

/// "[X] Til [ ] Fra" inside a value becomes "☒ Til ☐ Fra"; other brackets are left alone.
fn normalize_inline_ticks(v: &str) -> String {
    if !v.contains('[') && !v.starts_with(['(', '☑', '✓', '✔', '✗', '✘']) {
        return v.to_string();
    }
    let line = tick_line(v, false);
    line.as_deref()
        .unwrap_or(v)
        .replace("[X]", TICKED)
        .replace("[x]", TICKED)
        .replace("[ ]", UNTICKED)
}

// ------------------------------------------------------------------------------ HTML

/// Elements whose content is never shown.
const HIDDEN: [&str; 5] = ["script", "style", "template", "noscript", "title"];
/// Elements that start and end a line.
const BLOCKS: [&str; 27] = [
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr",
    "section", "article", "header", "footer", "address", "dd", "dt", "dl", "center", "form",
    "fieldset", "caption", "pre",
];

/// One table being read: the finished cells of the current row and the cell being filled.
#[derive(Default)]
struct TableState {
    cells: Vec<Vec<String>>,
    cell: Option<Vec<String>>,
}

/// Collects text into lines, either the document's or the current table cell's.
struct HtmlLines {
    out: Vec<String>,
    tables: Vec<TableState>,
    /// The line being built (in the current cell or the document).
    line: String,
    quote_depth: usize,
    pre_depth: usize,
    /// `<table>`s read as line breaks because they were nested too deep, still open.
    flat_tables: usize,
}

impl HtmlLines {
    /// What a (visible) tag does to the lines: tables, rows and cells, quotes, preformatted
    /// text and block elements; other tags nothing.
    fn tag(&mut self, name: &str, closing: bool) {
        match (name, closing) {
            ("table", false) if self.tables.len() >= MAX_TABLE_DEPTH => {
                self.break_line();
                self.flat_tables = self.flat_tables.saturating_add(1);
            }
            ("table", true) if self.flat_tables > 0 => {
                self.break_line();
                self.flat_tables -= 1;
            }
            ("table", false) => {
                self.break_line();
                self.tables.push(TableState::default());
            }
            ("table", true) => {
                self.end_row();
                self.tables.pop();
            }
            ("tr", _) => self.end_row(),
            ("td" | "th", false) if self.tables.is_empty() => self.break_line(),
            ("td" | "th", false) => self.start_cell(),
            ("td" | "th", true) => self.end_cell(),
            ("blockquote", _) => {
                self.break_line();
                self.quote_depth = depth_after(self.quote_depth, closing);
            }
            ("pre", _) => {
                self.break_line();
                self.pre_depth = depth_after(self.pre_depth, closing);
            }
            (n, _) if BLOCKS.contains(&n) => self.break_line(),
            _ => {}
        }
    }

    fn sink(&mut self) -> &mut Vec<String> {
        match self.tables.last_mut().and_then(|t| t.cell.as_mut()) {
            Some(cell) => cell,
            None => &mut self.out,
        }
    }

    fn break_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let t = line.trim();
        if t.is_empty() {
            return;
        }
        let t = if self.quote_depth > 0 && self.tables.is_empty() {
            format!("> {t}")
        } else {
            t.to_string()
        };
        self.sink().push(t);
    }

    fn push_text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            let mut first = true;
            for part in text.split('\n') {
                if !first {
                    self.break_line();
                }
                first = false;
                self.line.push_str(part);
            }
            return;
        }
        for c in text.chars() {
            if c.is_whitespace() && c != '\u{a0}' {
                if !self.line.is_empty() && !self.line.ends_with(' ') {
                    self.line.push(' ');
                }
            } else if c == '\u{a0}' {
                if !self.line.ends_with(' ') {
                    self.line.push(' ');
                }
            } else {
                self.line.push(c);
            }
        }
    }

    fn start_cell(&mut self) {
        self.end_cell();
        if let Some(t) = self.tables.last_mut() {
            t.cell = Some(Vec::new());
        }
    }

    fn end_cell(&mut self) {
        self.break_line();
        if let Some(t) = self.tables.last_mut()
            && let Some(cell) = t.cell.take()
        {
            t.cells.push(cell);
        }
    }

    fn end_row(&mut self) {
        self.end_cell();
        let cells = match self.tables.last_mut() {
            Some(t) => std::mem::take(&mut t.cells),
            None => return,
        };
        let rendered = render_row(cells);
        let quoted = self.quote_depth > 0 && self.tables.len() <= 1;
        for l in rendered {
            let l = if quoted { format!("> {l}") } else { l };
            // A row of an inner table lands in the outer table's cell.
            if self.tables.len() > 1 {
                let n = self.tables.len();
                if let Some(cell) = self
                    .tables
                    .get_mut(n.saturating_sub(2))
                    .and_then(|t| t.cell.as_mut())
                {
                    cell.push(l);
                    continue;
                }
            }
            self.out.push(l);
        }
    }
}

/// A table row as lines: "Label: value" for a label cell and a value cell, value lines after
/// the first indented (so they continue the value), tick rows "☒ | URL" as "☒ URL".
fn render_row(cells: Vec<Vec<String>>) -> Vec<String> {
    // A label cell beside empty cells (Outlook writes an empty cell as "&nbsp;") is a field
    // left empty, as the same row of a Word table reads.
    let empty_field = cells.len() > 1
        && cells.iter().skip(1).all(Vec::is_empty)
        && cells.first().is_some_and(|c| c.len() == 1);
    let cells: Vec<Vec<String>> = cells.into_iter().filter(|c| !c.is_empty()).collect();
    let mut out = Vec::new();
    match cells.as_slice() {
        [] => {}
        [only] if empty_field => out.extend(only.iter().map(|l| {
            if l.ends_with(':') || tick_line(l, false).is_some() {
                l.clone()
            } else {
                format!("{l}:")
            }
        })),
        [only] => out.extend(only.iter().cloned()),
        [first, rest @ ..] => {
            let label = first.join(" ");
            let values: Vec<String> = rest.iter().flatten().cloned().collect();
            if tick_line(&label, false).is_some() && label.chars().count() <= 3 {
                out.push(format!("{} {}", label, values.join(" ")));
                return out;
            }
            let label = if label.ends_with(':') {
                label
            } else {
                format!("{label}:")
            };
            match values.split_first() {
                Some((v, more)) if tick_line(v, false).is_none() => {
                    out.push(format!("{label} {v}"));
                    out.extend(more.iter().map(|m| format!("  {m}")));
                }
                _ => {
                    out.push(label);
                    out.extend(values.iter().map(|m| format!("  {m}")));
                }
            }
        }
    }
    out
}

/// Tables nested deeper than this are read as line breaks: every row of an inner table is
/// copied into its outer table's cell, so unbounded nesting costs time quadratic in the depth.
const MAX_TABLE_DEPTH: usize = 16;

/// Turns HTML into text lines (a careful tag stripper: no layout, no wrapping). Linear in the
/// length of `html`: every byte is looked at a bounded number of times.
pub fn html_to_lines(html: &str) -> Vec<String> {
    html_to_lines_counted(html).0
}

/// [`html_to_lines`] and the characters the tag scanner looked at (for tests of linearity).
fn html_to_lines_counted(html: &str) -> (Vec<String>, usize) {
    let mut ends = TagEnds::new(html);
    let mut st = HtmlLines {
        out: Vec::new(),
        tables: Vec::new(),
        line: String::new(),
        quote_depth: 0,
        pre_depth: 0,
        flat_tables: 0,
    };
    let mut hidden: Option<String> = None;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if hidden.is_none() {
                st.push_text(&decode_entities(rest));
            }
            break;
        };
        let (text, tail) = rest.split_at(lt);
        if hidden.is_none() && !text.is_empty() {
            st.push_text(&decode_entities(text));
        }
        // Comments, CDATA and declarations.
        if let Some(after) = tail.strip_prefix("<!--") {
            rest = after
                .find("-->")
                .and_then(|p| after.get(p + 3..))
                .unwrap_or("");
            continue;
        }
        let start = html.len().saturating_sub(tail.len());
        let Some(gt) = ends.end(start).map(|g| g.saturating_sub(start)) else {
            // A "<" that starts no tag is text.
            if hidden.is_none() {
                st.push_text("<");
            }
            rest = tail.get(1..).unwrap_or("");
            continue;
        };
        let tag = tail.get(1..gt).unwrap_or("");
        rest = tail.get(gt + 1..).unwrap_or("");
        let closing = tag.starts_with('/');
        let name = tag_name(tag);
        if name.is_empty() {
            continue;
        }
        if let Some(h) = &hidden {
            if closing && *h == name {
                hidden = None;
            }
            continue;
        }
        if !closing && HIDDEN.contains(&name.as_str()) && !tag.ends_with('/') {
            hidden = Some(name);
            continue;
        }
        st.tag(&name, closing);
    }
    while !st.tables.is_empty() {
        st.end_row();
        st.tables.pop();
    }
    st.break_line();
    (st.out, ends.steps)
}

/// A tag's element name, lower case (`"/TD class=x"` → `"td"`).
fn tag_name(tag: &str) -> String {
    tag.trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The nesting depth of a quote or `<pre>` after its opening or closing tag.
fn depth_after(depth: usize, closing: bool) -> usize {
    if closing {
        depth.saturating_sub(1)
    } else {
        depth.saturating_add(1)
    }
}

/// Finds the '>' that ends each tag of one HTML text, in time linear in the whole text.
///
/// A tag's end honours quoted attribute values (`title="a>b"`). A tag that never ends (`<a`
/// without `>`, or a quote that never closes) must not be rescanned to the end of the text for
/// every `<` after it, which made a 329 KB mail cost 15.7 s: after the first tag whose quoted
/// scan runs off the end, quotes are no longer honoured, and the plain search for the next
/// `>` is cached, so every character is looked at a bounded number of times.
struct TagEnds<'a> {
    html: &'a str,
    /// A quoted scan ran off the end of the text once; from then on '>' ends a tag anywhere.
    quotes_broken: bool,
    /// The last plain search: where it started and the first '>' at or after it.
    plain: Option<(usize, Option<usize>)>,
    /// Characters looked at so far.
    steps: usize,
}

impl<'a> TagEnds<'a> {
    fn new(html: &'a str) -> Self {
        TagEnds {
            html,
            quotes_broken: false,
            plain: None,
            steps: 0,
        }
    }

    /// Byte position of the '>' that ends the tag starting at `start` (where `html` has a
    /// `<`); `None` when that `<` does not start a tag or nothing ends it. Calls come with
    /// increasing `start`.
    fn end(&mut self, start: usize) -> Option<usize> {
        let s = self.html.get(start..)?;
        let next = s.get(1..)?.chars().next()?;
        if !(next.is_ascii_alphabetic() || next == '/' || next == '!' || next == '?') {
            return None;
        }
        if !self.quotes_broken {
            let mut quote: Option<char> = None;
            for (i, c) in s.char_indices().skip(1) {
                self.steps += 1;
                match quote {
                    Some(q) if c == q => quote = None,
                    Some(_) => {}
                    None if c == '"' || c == '\'' => quote = Some(c),
                    None if c == '>' => return Some(start + i),
                    None => {}
                }
            }
            self.quotes_broken = true;
        }
        self.plain_gt(start.saturating_add(1))
    }

    /// The first '>' at or after `from`, searching each part of the text at most once.
    fn plain_gt(&mut self, from: usize) -> Option<usize> {
        if let Some((searched_from, found)) = self.plain
            && searched_from <= from
            && found.is_none_or(|g| g >= from)
        {
            return found;
        }
        let rest = self.html.as_bytes().get(from..).unwrap_or(&[]);
        let found = rest.iter().position(|&b| b == b'>');
        self.steps += found.map_or(rest.len(), |p| p + 1);
        let found = found.map(|p| from + p);
        self.plain = Some((from, found));
        found
    }
}

/// Decodes HTML character references, also without their `;` as browsers do.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let tail = rest.get(amp..).unwrap_or("");
        let end = tail
            .char_indices()
            .skip(1)
            .take(33)
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|(i, _)| i);
        let (name, consumed) = match end {
            Some(e) if tail.get(e..e + 1) == Some(";") => (tail.get(1..e).unwrap_or(""), e + 1),
            Some(e) => (tail.get(1..e).unwrap_or(""), e),
            None => (tail.get(1..).unwrap_or(""), tail.len()),
        };
        match entity(name) {
            Some(text) if !name.is_empty() => {
                out.push_str(&text);
                rest = tail.get(consumed..).unwrap_or("");
            }
            _ => {
                out.push('&');
                rest = tail.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of one character reference (`name` between `&` and `;`). Named ones come from
/// html-escape's table of every HTML name; numeric ones are read here, because html-escape
/// leaves out what a browser does with NUL and the Windows-1252 range 128–159, which mail
/// from Word uses for dashes and quotes.
fn entity(name: &str) -> Option<Cow<'static, str>> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        let c = match code {
            0 => '\u{fffd}',
            0x80..=0x9f => char::from_u32(cp1252_c1(code))?,
            _ => char::from_u32(code).unwrap_or('\u{fffd}'),
        };
        return Some(Cow::Owned(c.to_string()));
    }
    // Wide spaces read as a plain space, so a label or value split by one still reads.
    if matches!(name, "thinsp" | "ensp" | "emsp") {
        return Some(Cow::Borrowed(" "));
    }
    let table = &html_escape::NAMED_ENTITIES;
    let i = table
        .binary_search_by(|(n, _)| (*n).cmp(name.as_bytes()))
        .ok()?;
    table.get(i).map(|(_, text)| Cow::Borrowed(*text))
}

/// HTML's mapping of numeric references 128–159 (Windows-1252).
fn cp1252_c1(code: u32) -> u32 {
    const TABLE: [u32; 32] = [
        0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039,
        0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
        0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
    ];
    code.checked_sub(0x80)
        .and_then(|i| TABLE.get(i as usize).copied())
        .unwrap_or(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(label: &str, value: &str) -> Entry {
        Entry::new(label, value)
    }

    #[test]
    fn label_value_lines_in_order_with_free_text() {
        let f = read_text(
            "Hej,\r\n\r\nÆndring af overvågning af filafhentning (SFTP-indbakke)\r\n\r\nKOMBIT BestillingsID: BD-7731\r\nCVR-nr.:54921942\r\nOvervågning: Fra\r\n",
            "body",
        );
        assert_eq!(f.source, "body");
        assert_eq!(
            f.entries,
            vec![
                e("KOMBIT BestillingsID", "BD-7731"),
                e("CVR-nr.", "54921942"),
                e("Overvågning", "Fra"),
            ]
        );
        assert_eq!(
            f.text,
            "Hej,\nÆndring af overvågning af filafhentning (SFTP-indbakke)"
        );
    }

    #[test]
    fn url_values_are_not_split_and_url_lines_are_not_labels() {
        let f = read_text(
            "Ny URL: https://ws.example.dk:8443/a\nhttps://x.dk/y: not a label\nØnsket tidspunkt for ændring: 07-12-2026 kl. 10:00\nKl. 10:00 ringer vi\nmailto:a@b.dk",
            "body",
        );
        assert_eq!(
            f.entries,
            vec![
                e("Ny URL", "https://ws.example.dk:8443/a"),
                e("Ønsket tidspunkt for ændring", "07-12-2026 kl. 10:00"),
            ]
        );
        assert!(f.text.contains("https://x.dk/y: not a label"));
        assert!(f.text.contains("Kl. 10:00 ringer vi"));
        assert!(f.text.contains("mailto:a@b.dk"));
    }

    #[test]
    fn implausible_labels_are_text() {
        let long = "a".repeat(61);
        let f = read_text(
            &format!("{long}: x\n\"Citat\": y\n12345: z\n{}: ok", "b".repeat(60)),
            "b",
        );
        assert_eq!(f.entries, vec![e(&"b".repeat(60), "ok")]);
    }

    #[test]
    fn tick_lines_join_the_label_above() {
        let f = read_text(
            "Ændringer:\n  [ ] SSL-certifikat\n  [X] URL\n  [x] Datatype (InfRef)\n  ( ) Sikkerhedsmodel\nNy URL: https://a.dk/ws\n",
            "b",
        );
        assert_eq!(
            f.entries,
            vec![
                e(
                    "Ændringer",
                    "☐ SSL-certifikat\n☒ URL\n☒ Datatype (InfRef)\n☐ Sikkerhedsmodel"
                ),
                e("Ny URL", "https://a.dk/ws"),
            ]
        );
    }

    #[test]
    fn tick_lines_after_a_blank_line_and_bare_x() {
        let f = read_text(
            "Ændringer:\n\nX URL\n☐ SSL-certifikat\n\nOvervågning: [X] Til [ ] Fra",
            "b",
        );
        assert_eq!(
            f.entries,
            vec![
                e("Ændringer", "☒ URL\n☐ SSL-certifikat"),
                e("Overvågning", "☒ Til ☐ Fra"),
            ]
        );
    }

    #[test]
    fn lone_tick_box_becomes_its_own_entry() {
        let f = read_text("Sæt kryds\n☒ SSL-certifikat\n[ ] URL", "b");
        assert_eq!(f.entries, vec![e("SSL-certifikat", "☒"), e("URL", "☐")]);
        assert_eq!(f.text, "Sæt kryds");
    }

    #[test]
    fn indented_lines_continue_the_value() {
        let f = read_text(
            "Advisering til: drift@kystby.dk\n    vagt@kystby.dk\nNæste: x\nfri tekst\n  indrykket fri tekst",
            "b",
        );
        assert_eq!(
            f.entries,
            vec![
                e("Advisering til", "drift@kystby.dk\nvagt@kystby.dk"),
                e("Næste", "x"),
            ]
        );
        assert_eq!(f.text, "fri tekst\nindrykket fri tekst");
    }

    #[test]
    fn signature_and_quoted_lines_are_ignored() {
        let f = read_text(
            "CVR-nr.: 54921942\n> Miljø: Exttest\n-- \nLars\nTlf.: 12345678\n",
            "b",
        );
        assert_eq!(f.entries, vec![e("CVR-nr.", "54921942")]);
        let f = read_text("CVR-nr.: 1\n--\nTlf.: 2", "b");
        assert_eq!(f.entries, vec![e("CVR-nr.", "1")]);
    }

    #[test]
    fn closing_greeting_after_the_form_ends_it_but_not_before() {
        let f = read_text("CVR-nr.: 1\n\nVenlig hilsen\nLars\nTlf.: 2", "b");
        assert_eq!(f.entries, vec![e("CVR-nr.", "1")]);
        assert_eq!(f.text, "Venlig hilsen");
        let f = read_text("Hej\nMvh\nCVR-nr.: 1", "b");
        assert_eq!(f.entries, vec![e("CVR-nr.", "1")]);
    }

    #[test]
    fn quoted_reply_originals_are_cut() {
        for intro in [
            "On Mon, 30 Nov 2026 at 09:00, Helpdesk <h@sp.dk> wrote:",
            "On Mon, 30 Nov 2026 at 09:00, Helpdesk <h@sp.dk>\nwrote:",
            "Den man. 30. nov. 2026 kl. 09.00 skrev Helpdesk <h@sp.dk>:",
            "-----Original Message-----",
            "-----Oprindelig meddelelse-----",
            "Fra: Helpdesk <h@sp.dk>\nSendt: 30. november 2026 09:00\nTil: Lars\nEmne: SV: Bestilling",
        ] {
            let f = read_text(
                &format!("CVR-nr.: 1\n\n{intro}\nMiljø: Exttest\nCVR-nr.: 2"),
                "b",
            );
            assert_eq!(f.entries, vec![e("CVR-nr.", "1")], "{intro}");
        }
    }

    #[test]
    fn fra_as_a_monitoring_option_is_not_a_header_block() {
        let f = read_text(
            "Overvågning:\nFra: ☒\nTil: ☐\nTidsgrænse for afhentning (timer): 24\nAdvisering til: a@b.dk",
            "b",
        );
        assert_eq!(
            f.entries,
            vec![
                e("Overvågning", ""),
                e("Fra", "☒"),
                e("Til", "☐"),
                e("Tidsgrænse for afhentning (timer)", "24"),
                e("Advisering til", "a@b.dk"),
            ]
        );
    }

    /// Gmail and Apple Mail head an inline forward with a marker line and give the original's
    /// own subject: without the marker that header block read as a reply's quoted original, and
    /// the forwarded form was cut.
    #[test]
    fn a_forward_marker_above_the_headers_keeps_the_forwarded_form() {
        for marker in [
            "---------- Forwarded message ---------",
            "-------- Videresendt meddelelse --------",
            "Begin forwarded message:\n",
        ] {
            let f = read_text(
                &format!(
                    "Se nedenfor\n\n{marker}\nFrom: Peter <p@k.dk>\nDate: Mon, 30 Nov 2026 at 09:00\nSubject: Bestilling\nTo: Birgitte <b@k.dk>\n\n\nCVR-nr.: 1"
                ),
                "b",
            );
            assert_eq!(f.entries, vec![e("CVR-nr.", "1")], "{marker}");
        }
        let f = read_text(
            "CVR-nr.: 1\n\nHer er den videresendte meddelelse\nFrom: Peter <p@k.dk>\nDate: Mon, 30 Nov 2026\nSubject: Bestilling\n\nCVR-nr.: 2",
            "b",
        );
        assert_eq!(
            f.entries,
            vec![e("CVR-nr.", "1")],
            "a sentence is no marker"
        );
    }

    #[test]
    fn inline_forward_header_is_skipped_and_the_form_read() {
        let f = read_text(
            "Se nedenfor\n\nFra: Peter <p@k.dk>\nSendt: 30. november 2026\nTil: Birgitte\nEmne: VS: Bestilling\n\nCVR-nr.: 1",
            "b",
        );
        assert_eq!(f.entries, vec![e("CVR-nr.", "1")]);
    }

    /// The sftp form of the mail-shape tests below, as a person types it into a mail.
    const TYPED_FORM: &str = "KOMBIT BestillingsID: BD-1234\nMiljø: Produktion\nCVR-nr.: 54921942\n\
         Kontaktperson: Lars Bæk Poulsen\nAdvisering til: drift@kystby.dk\n  vagt@kystby.dk\n";

    fn typed_form_entries() -> Vec<Entry> {
        vec![
            e("KOMBIT BestillingsID", "BD-1234"),
            e("Miljø", "Produktion"),
            e("CVR-nr.", "54921942"),
            e("Kontaktperson", "Lars Bæk Poulsen"),
            e("Advisering til", "drift@kystby.dk\nvagt@kystby.dk"),
        ]
    }

    /// Outlook forwards a mail inline below the same "Oprindelig meddelelse" line (or, in newer
    /// versions, a line of underscores) and header block it quotes a reply's original with; the
    /// forwarder's own text above holds no form, so the forwarded form is the order and the
    /// covering note (with a signature's "Tlf.:") only text. These were cut as a reply's
    /// quoted original before.
    #[test]
    fn outlook_inline_forwards_keep_the_forwarded_form() {
        let danish = "Fra: Peter Hansen <ph@kystby.dk>\nSendt: 30. november 2026 09:12\n\
                      Til: Birgitte Sørensen <bs@kystby.dk>\nCc: drift@kystby.dk\nEmne: Bestilling\n";
        let english = "From: Peter Hansen <ph@kystby.dk>\nSent: Monday, November 30, 2026 9:12 AM\n\
                       To: Birgitte Sørensen <bs@kystby.dk>\nSubject: Bestilling\n";
        for (separator, headers) in [
            ("-----Oprindelig meddelelse-----", danish),
            ("-----Original Message-----", english),
            ("________________________________", danish),
            ("________________________________", english),
            ("", danish),
            (
                "________________________________",
                "Fra: Peter Hansen <ph@kystby.dk> Sendt: 30. november 2026 09:12 Til: Birgitte Sørensen <bs@kystby.dk> Emne: Bestilling\n",
            ),
        ] {
            let body = format!(
                "Hej Helpdesk\n\nSe venligst nedenstående bestilling.\n\nVenlig hilsen\nBirgitte\nTlf.: 87 65 43 21\n\n\
                 {separator}\n{headers}\n{TYPED_FORM}\nMvh\nPeter\nTlf.: 12345678\n"
            );
            let f = read_text(&body, "body");
            assert_eq!(f.entries, typed_form_entries(), "{separator} {headers}");
            // The covering note is free text; its signature's "Tlf.:" no phone number.
            assert!(
                f.text.starts_with("Hej Helpdesk\nSe venligst"),
                "{}",
                f.text
            );
        }
    }

    /// Apple Mail heads a forward with "Begin forwarded message:" ("Start på videresendt
    /// besked:" in Danish) and puts the subject before the date, a "Reply-To" among them.
    #[test]
    fn apple_mail_inline_forwards_keep_the_forwarded_form() {
        for (marker, headers) in [
            (
                "Start på videresendt besked:",
                "Fra: Peter Hansen <ph@kystby.dk>\nEmne: Bestilling\n\
                 Dato: 30. november 2026 kl. 09.12.00 CET\nTil: Birgitte <bs@kystby.dk>\n",
            ),
            (
                "Begin forwarded message:",
                "From: Peter Hansen <ph@kystby.dk>\nSubject: Bestilling\n\
                 Date: 30 November 2026 at 09.12.00 CET\nTo: Birgitte <bs@kystby.dk>\n\
                 Reply-To: Drift <drift@kystby.dk>\n",
            ),
        ] {
            let body = format!("Sendt fra min iPhone\n\n{marker}\n\n{headers}\n{TYPED_FORM}");
            let f = read_text(&body, "body");
            assert_eq!(f.entries, typed_form_entries(), "{marker}");
        }
    }

    /// Our own receipt below a reply, quoted by Outlook, forwarded by Gmail or quoted without
    /// its subject, is never a form, even when the reply itself says nothing (the receipt's
    /// field lines read as an order before, when they came in a forward).
    #[test]
    fn a_quoted_receipt_of_ours_is_never_a_form() {
        let receipt = "Kære Lars Bæk Poulsen\n\nVi har modtaget din bestilling og giver den referencen SP-2026-00007.\n\
                       BestillingsID: BD-1234\nYdelse: Ændring af overvågning af filafhentning (SFTP-indbakke)\n\
                       It-system: FamilieFlow\nKontaktperson: Lars Bæk Poulsen\nCVR-nr.: 54921942\n\n\
                       Med venlig hilsen\nServiceplatformens Helpdesk\n";
        for head in [
            "-----Oprindelig meddelelse-----\nFra: Serviceplatformens Helpdesk <helpdesk@sp.dk>\n\
             Sendt: 30. november 2026 09:15\nTil: Lars <fa@kystby.dk>\n\
             Emne: [SP-2026-00007] Kvittering for modtagelse: Bestilling\n",
            "________________________________\nFrom: Serviceplatformens Helpdesk <helpdesk@sp.dk>\n\
             Sent: 30 November 2026 09:15\nTo: Lars <fa@kystby.dk>\nSubject: [SP-2026-00007] Bestilling\n",
            "---------- Forwarded message ---------\nFrom: Serviceplatformens Helpdesk <helpdesk@sp.dk>\n\
             Date: Mon, 30 Nov 2026 at 09:15\nSubject: [SP-2026-00007] Kvittering for modtagelse: Bestilling\n\
             To: <fa@kystby.dk>\n",
            "Begin forwarded message:\n\nFrom: Helpdesk <helpdesk@sp.dk>\nSubject: Kvittering\n\
             Date: 30 November 2026\nTo: Lars <fa@kystby.dk>\n",
        ] {
            let body = format!("Tak, det ser fint ud.\n\n{head}\n{receipt}");
            let f = read_text(&body, "body");
            assert!(f.entries.is_empty(), "{head}: {:?}", f.entries);
        }
    }

    /// A person's forwarded mail that greets the Helpdesk and names an order reference is not
    /// a receipt of ours: its form is read.
    #[test]
    fn a_forwarded_correction_naming_an_order_is_read() {
        let body = format!(
            "Se nedenfor\n\n-----Oprindelig meddelelse-----\nFra: Peter Hansen <ph@kystby.dk>\n\
             Sendt: 30. november 2026 09:12\nTil: Birgitte <bs@kystby.dk>\nEmne: SV: [SP-2026-00007] Kvittering\n\n\
             Kære Helpdesk\n\nHer er rettelsen til SP-2026-00007.\n\n{TYPED_FORM}\nMed venlig hilsen\nPeter\n"
        );
        assert_eq!(read_text(&body, "body").entries, typed_form_entries());
    }

    /// The form Outlook's editor (Word) writes when a person types the order as a table into
    /// an HTML mail with no plain-text part: `MsoTableGrid`, each cell a `MsoNormal`
    /// paragraph with `<o:p>` marks, `&nbsp;`, a value over two paragraphs, a `<br>`, the
    /// stylesheet and the conditional comments Word puts in the head. Read as the same form in
    /// plain text.
    #[test]
    fn an_outlook_html_table_reads_like_the_typed_form() {
        let cell = |w: u32, inner: &str| {
            format!(
                "<td width={w} valign=top style='width:{w}.0pt;border:solid windowtext 1.0pt;padding:0cm 5.4pt 0cm 5.4pt'>{inner}</td>"
            )
        };
        let p = |text: &str| {
            format!(
                "<p class=MsoNormal><span style='mso-fareast-language:EN-US'>{text}<o:p></o:p></span></p>"
            )
        };
        let row = |label: &str, value: &str| {
            format!("<tr>{}{}</tr>\n", cell(170, &p(label)), cell(283, value))
        };
        let table = [
            row("KOMBIT BestillingsID", &p("BD-1234")),
            row("<b>Miljø</b>", &p("Produktion")),
            row("CVR-nr.", &p("54921942&nbsp;")),
            row("Kontaktperson", &p("Lars&nbsp;Bæk Poulsen")),
            row(
                "Advisering til",
                &format!("{}{}", p("drift@kystby.dk"), p("vagt@kystby.dk")),
            ),
            row("Bemærkninger", &p("&nbsp;")),
        ]
        .concat();
        let html = format!(
            "<html xmlns:v=\"urn:schemas-microsoft-com:vml\" xmlns:o=\"urn:schemas-microsoft-com:office:office\" \
             xmlns:w=\"urn:schemas-microsoft-com:office:word\" xmlns=\"http://www.w3.org/TR/REC-html40\">\
             <head><meta http-equiv=Content-Type content=\"text/html; charset=utf-8\">\
             <meta name=Generator content=\"Microsoft Word 15 (filtered medium)\"><style><!--\n\
             p.MsoNormal, li.MsoNormal, div.MsoNormal {{margin:0cm;font-size:11.0pt;font-family:\"Calibri\",sans-serif;}}\n\
             --></style><!--[if gte mso 9]><xml>\n<o:shapedefaults v:ext=\"edit\" spidmax=\"1026\" />\n</xml><![endif]-->\
             </head><body lang=DA link=\"#0563C1\" vlink=\"#954F72\" style='word-wrap:break-word'>\
             <div class=WordSection1><p class=MsoNormal>Hej Helpdesk<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
             <table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 style='border-collapse:collapse;border:none;mso-yfti-tbllook:1184'>\n\
             {table}</table><p class=MsoNormal><o:p>&nbsp;</o:p></p>\
             <p class=MsoNormal>Med venlig hilsen<br>Lars<o:p></o:p></p></div></body></html>"
        );
        let f = read_html(&html, "body");
        let mut want = typed_form_entries();
        want.push(e("Bemærkninger", ""));
        assert_eq!(f.entries, want);
        // Two lines of a cell as one paragraph with a <br> (Shift+Enter in Outlook).
        let br = html.replace(
            "drift@kystby.dk<o:p></o:p></span></p><p class=MsoNormal><span style='mso-fareast-language:EN-US'>vagt",
            "drift@kystby.dk<br>\nvagt",
        );
        assert_ne!(br, html);
        assert_eq!(read_html(&br, "body").entries, want);
        // Forwarded by Outlook in HTML: the header block in a bordered div, no marker line.
        let forwarded = html.replace(
            "<div class=WordSection1>",
            "<div class=WordSection1><p class=MsoNormal>Se nedenfor<o:p></o:p></p>\
             <div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>\
             <p class=MsoNormal><b><span lang=DA>Fra:</span></b><span lang=DA> Peter Hansen &lt;ph@kystby.dk&gt; <br>\
             <b>Sendt:</b> 30. november 2026 09:12<br><b>Til:</b> Birgitte Sørensen &lt;bs@kystby.dk&gt;<br>\
             <b>Emne:</b> Bestilling<o:p></o:p></span></p></div>",
        );
        assert_eq!(read_html(&forwarded, "body").entries, want);
    }

    #[test]
    fn html_br_bold_labels_and_entities() {
        let f = read_html(
            "<html><head><title>T</title><style>p{x:1}</style></head><body><p>Hej&nbsp;Helpdesk</p>\
             <p><b>CVR-nr.:</b> 123<br><b>Organisation:</b> Vest&aring; &amp; S&#248;n&#xE6;<br/>\
             <b>Ny URL:</b> https://a.dk/x?a=1&amp;b=2</p><p>Mvh<br>Lars</p></body></html>",
            "body",
        );
        assert_eq!(
            f.entries,
            vec![
                e("CVR-nr.", "123"),
                e("Organisation", "Vestå & Sønæ"),
                e("Ny URL", "https://a.dk/x?a=1&b=2"),
            ]
        );
        assert_eq!(f.text, "Hej Helpdesk\nMvh");
    }

    #[test]
    fn every_html_entity_name_is_known_and_legacy_forms_still_read() {
        // Names from the whole HTML table, a reference without its ';', Word's
        // Windows-1252 dash, NUL, and wide spaces as plain spaces.
        assert_eq!(
            decode_entities("&frac12; &oelig;&Scaron; &amp &#150; &#0; a&thinsp;b &notaname;"),
            "½ œŠ & – \u{fffd} a b &notaname;"
        );
    }

    #[test]
    fn html_table_rows_become_label_value_lines() {
        let f = read_html(
            "<h1>Ændring</h1><table><tr><td><b>Miljø:</b></td><td>Produktion</td></tr>\
             <tr><td>Ændringer</td><td>☒ SSL-certifikat<br>☐ URL</td></tr>\
             <tr><th>Advisering til</th><td><p>a@b.dk</p><p>c@d.dk</p></td></tr>\
             <tr><td>☒</td><td>Datatype</td></tr><tr><td colspan=2>Overskrift</td></tr></table>",
            "b",
        );
        assert_eq!(
            f.entries,
            vec![
                e("Miljø", "Produktion"),
                e("Ændringer", "☒ SSL-certifikat\n☐ URL"),
                e("Advisering til", "a@b.dk\nc@d.dk"),
                e("Datatype", "☒"),
            ]
        );
        assert_eq!(f.text, "Ændring\nOverskrift");
    }

    #[test]
    fn html_blockquote_is_quoted_and_broken_markup_survives() {
        let f = read_html(
            "<div>CVR-nr.: 1</div><blockquote>CVR-nr.: 2</blockquote>a < b &unknown; &#99999999; <b",
            "b",
        );
        assert_eq!(f.entries, vec![e("CVR-nr.", "1")]);
        assert!(f.text.contains("a < b &unknown;"));
    }

    #[test]
    fn a_sentence_ending_in_a_colon_is_text_but_an_empty_field_is_kept() {
        let f = read_text(
            "Her er vores bestilling:\n\nTelefon:\nMiljø: Exttest\nBemærkninger:\n",
            "b",
        );
        assert_eq!(
            f.entries,
            vec![
                e("Telefon", ""),
                e("Miljø", "Exttest"),
                e("Bemærkninger", "")
            ]
        );
        assert_eq!(f.text, "Her er vores bestilling:");
        let f = read_text("Bemærkninger:\n\nVenlig hilsen", "b");
        assert!(f.entries.is_empty());
    }

    #[test]
    fn empty_and_odd_input() {
        assert_eq!(read_text("", "b").entries, vec![]);
        assert_eq!(read_html("", "b").entries, vec![]);
        let f = read_text("\u{feff}:\n:x\n\r\r", "b");
        assert!(f.entries.is_empty());
    }

    /// 1 MB of hostile HTML in the shapes that made the old scanner quadratic (a `<a` without
    /// `>` rescanned the rest of the text for every `<` after it: 329 KB cost 15.7 s): the tag
    /// scanner looks at each character a bounded number of times.
    #[test]
    fn hostile_html_is_read_in_linear_time() {
        let shapes: [(&str, &str); 6] = [
            ("<a", ""),
            ("<a href=\"x", "<b>"),
            ("<a title='", "' <b x='y'>"),
            ("<!--", "-- x &amp"),
            ("&", "&#x"),
            ("<table><tr><td>", "x"),
        ];
        for (open, filler) in shapes {
            let unit = format!("{open}{filler} ");
            let html = unit.repeat(1_000_000 / unit.len());
            let (lines, steps) = html_to_lines_counted(&html);
            assert!(
                steps <= 3 * html.len(),
                "{open:?}: {steps} steps for {} bytes",
                html.len()
            );
            assert!(lines.len() <= html.len());
        }
        // Quoted attribute values still hide a '>' while quotes are balanced.
        let (lines, _) = html_to_lines_counted("<p title=\"a>b\">CVR-nr.: 1</p>");
        assert_eq!(lines, vec!["CVR-nr.: 1"]);
        // After a quote that never closes, the next '>' ends a tag.
        let (lines, _) = html_to_lines_counted("<p title=\"a>CVR-nr.: 1<br>Miljø: Produktion");
        assert_eq!(lines, vec!["CVR-nr.: 1", "Miljø: Produktion"]);
    }

    /// Tables nested deeper than [`MAX_TABLE_DEPTH`] are line breaks: each level's rows would
    /// otherwise be copied into every outer cell (quadratic in the depth).
    /// Millions of "Label:" lines (a 24 MB mail body) cost at most MAX_FORM_LINES entries,
    /// whether read as plain text, as HTML or as a PDF's lines; a form at the top still reads.
    #[test]
    fn a_text_of_millions_of_labels_makes_a_bounded_form() {
        let lines = MAX_FORM_LINES * 3;
        let text = format!("CVR-nr.: 12345678\n{}", "a:\r\n".repeat(lines));
        let f = read_text(&text, "body");
        assert!(f.entries.len() <= MAX_FORM_LINES, "{}", f.entries.len());
        assert_eq!(f.entries.first(), Some(&e("CVR-nr.", "12345678")));
        let html = read_html(&"a:<br>".repeat(lines), "body");
        assert!(
            html.entries.len() <= MAX_FORM_LINES,
            "{}",
            html.entries.len()
        );
        let refs = vec!["a: b"; lines];
        let pdf = parse_lines(&refs, "pdf", true);
        assert!(pdf.entries.len() <= MAX_FORM_LINES, "{}", pdf.entries.len());
    }

    #[test]
    fn deeply_nested_tables_are_flattened() {
        let depth = 10_000;
        let html = format!(
            "{}<td>CVR-nr.:</td><td>1</td>{}",
            "<table><tr><td>".repeat(depth),
            "</td></tr></table>".repeat(depth)
        );
        let lines = html_to_lines(&html);
        assert!(lines.len() <= 2, "{:?}", lines.get(..4));
        assert!(lines.concat().contains("CVR-nr.:"), "{lines:?}");
        let shallow = "<table><tr><td>CVR-nr.:</td><td>1</td></tr></table>";
        assert_eq!(html_to_lines(shallow), vec!["CVR-nr.: 1"]);
    }
}
