//! A linear pre-scan of a PDF's bytes, before lopdf parses anything.
//!
//! lopdf's parser recurses once per `[` and `<<` (a stack overflow cannot be caught), loads
//! every object its cross-reference sections name (480,000 of them took 473 MB before the
//! object count could be checked), and inflates cross-reference streams without a bound. So
//! the reader does not let lopdf see the file's own cross-reference sections at all: this
//! lexer finds the indirect objects (`N G obj`) and the trailer's /Root, /Info, /Encrypt and
//! /ID, refuses a file with too many objects or too deep nesting, and [`rebuild`] appends one
//! plain cross-reference table of exactly those objects. lopdf then loads what was scanned and
//! nothing else.
//!
//! The lexer follows the PDF syntax where a careless scan can be blinded: a comment runs to the
//! end of its line (a `(` in it opens nothing), a name such as `/stream` is not a keyword,
//! literal strings honour escapes and balanced parentheses, hex strings end at `>`, and stream
//! data is skipped by its direct /Length when that lands on `endstream`, else up to the next
//! `endstream`.

use std::collections::BTreeMap;
use std::io::Write;

use crate::forms::raw::ReadError;

/// What the scan found.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    /// Object number → (generation, offset of its `N G obj`); a later definition wins, as in an
    /// incrementally updated file.
    pub(crate) objects: BTreeMap<u32, (u16, usize)>,
    /// The trailer entries kept (key, raw value bytes), from the last dictionary with a /Root.
    pub(crate) trailer: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Trailer keys carried into the rebuilt trailer (no /Prev, /XRefStm: nothing else is read).
const TRAILER_KEYS: [&[u8]; 4] = [b"Root", b"Info", b"Encrypt", b"ID"];

/// Scans a whole file: its objects and trailer, refusing more than `max_objects` objects or
/// nesting deeper than `max_nesting`.
pub(crate) fn scan_file(
    bytes: &[u8],
    max_objects: usize,
    max_nesting: usize,
) -> Result<Scanned, ReadError> {
    let mut lexer = Lexer::new(bytes, true, max_nesting);
    lexer.run(max_objects)?;
    Ok(lexer.scanned)
}

/// True when the PDF syntax in `data` (a content stream or an object stream's objects, where
/// `stream` is an ordinary word) nests deeper than `max_nesting`.
pub(crate) fn nesting_too_deep(data: &[u8], max_nesting: usize) -> bool {
    Lexer::new(data, false, max_nesting)
        .run(usize::MAX)
        .is_err()
}

/// `bytes` with one cross-reference table of the scanned objects and a trailer appended.
pub(crate) fn rebuild(bytes: &[u8], scanned: &Scanned) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + scanned.objects.len() * 28 + 256);
    out.extend_from_slice(bytes);
    out.push(b'\n');
    let xref_at = out.len();
    out.extend_from_slice(b"xref\n");
    for (n, (g, offset)) in &scanned.objects {
        let _ = write!(out, "{n} 1\n{offset:010} {g:05} n\r\n");
    }
    let size = scanned
        .objects
        .last_key_value()
        .map_or(1, |(n, _)| u64::from(*n) + 1);
    let _ = write!(out, "trailer\n<< /Size {size}");
    for (key, value) in &scanned.trailer {
        out.extend_from_slice(b" /");
        out.extend_from_slice(key);
        out.push(b' ');
        out.extend_from_slice(value);
    }
    let _ = write!(out, " >>\nstartxref\n{xref_at}\n%%EOF\n");
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Int(i64),
    Name(Vec<u8>),
    /// A bare word (`obj`, `R`, `stream`, `true`, a real number, ...): its byte range.
    Word(usize, usize),
    Open,
    OpenDict,
    Close,
    CloseDict,
    Str,
}

/// The entries of the top-level dictionary being read: keys and the byte ranges of values.
#[derive(Default)]
struct Capture {
    entries: Vec<(Vec<u8>, usize, usize)>,
    /// The current key and where its value starts.
    key: Option<(Vec<u8>, usize)>,
    /// Integers seen in the current value (two and an `R` make a reference).
    ints: u8,
    /// Where the last integer of the current value ended.
    int_end: usize,
}

impl Capture {
    fn finish(&mut self, end: usize) {
        // Only the keys the scan uses are kept, so a huge dictionary costs no memory here.
        if let Some((k, start)) = self.key.take()
            && (k == b"Length" || TRAILER_KEYS.contains(&k.as_slice()))
        {
            self.entries.push((k, start, end));
        }
        self.ints = 0;
    }

    /// A token directly inside the dictionary (depth 1), ending at `end`.
    fn token(&mut self, tok: &Tok, end: usize) {
        match (tok, self.key.is_some()) {
            (Tok::Name(n), false) => {
                self.key = Some((n.clone(), end));
                self.ints = 0;
            }
            (_, false) => {}
            (Tok::Int(_), true) => {
                self.ints = self.ints.saturating_add(1);
                self.int_end = end;
            }
            (Tok::Name(n), true) if self.ints > 0 => {
                // The integer was the value; this name is the next key.
                self.finish(self.int_end);
                self.key = Some((n.clone(), end));
            }
            (_, true) => self.finish(end),
        }
    }

    fn value(&self, key: &[u8]) -> Option<(usize, usize)> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, s, e)| (*s, *e))
    }
}

struct Lexer<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// A whole file (objects, streams, trailer) rather than a content or object stream.
    file: bool,
    max_nesting: usize,
    depth: usize,
    /// The two tokens before the current one (for `N G obj`) with where the older one starts.
    prev: [(Option<Tok>, usize); 2],
    capture: Capture,
    /// The direct /Length of the dictionary that just closed at depth 0.
    stream_length: Option<usize>,
    scanned: Scanned,
}

fn is_white(b: u8) -> bool {
    matches!(b, 0 | 9 | 10 | 12 | 13 | 32)
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl<'a> Lexer<'a> {
    fn new(bytes: &'a [u8], file: bool, max_nesting: usize) -> Self {
        Lexer {
            bytes,
            pos: 0,
            file,
            max_nesting,
            depth: 0,
            prev: [(None, 0), (None, 0)],
            capture: Capture::default(),
            stream_length: None,
            scanned: Scanned::default(),
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    /// Reads every token; `Err` for too deep nesting or too many objects.
    fn run(&mut self, max_objects: usize) -> Result<(), ReadError> {
        while let Some((tok, start)) = self.next_token() {
            let end = self.pos;
            match &tok {
                Tok::Open | Tok::OpenDict => {
                    if self.depth == 0 && tok == Tok::OpenDict {
                        self.capture = Capture::default();
                        self.stream_length = None;
                    } else if self.depth == 1 && self.capture.ints > 0 {
                        let int_end = self.capture.int_end;
                        self.capture.finish(int_end);
                    }
                    self.depth += 1;
                    if self.depth > self.max_nesting {
                        return Err(ReadError::Damaged(
                            "the PDF's objects are nested too deeply".into(),
                        ));
                    }
                }
                Tok::Close | Tok::CloseDict => {
                    if self.depth == 1 {
                        if self.capture.ints > 0 {
                            let int_end = self.capture.int_end;
                            self.capture.finish(int_end);
                        }
                        if tok == Tok::CloseDict {
                            self.dict_closed();
                        }
                    } else if self.depth == 2 {
                        self.capture.finish(end);
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                _ if self.depth == 1 => self.capture.token(&tok, end),
                _ => {}
            }
            if let Tok::Word(s, e) = tok {
                let word = self.bytes.get(s..e).unwrap_or(&[]);
                if self.file {
                    match word {
                        b"obj" => {
                            if let [(Some(Tok::Int(n)), at), (Some(Tok::Int(g)), _)] = &self.prev
                                && let (Ok(n), Ok(g)) = (u32::try_from(*n), u16::try_from(*g))
                            {
                                self.scanned.objects.insert(n, (g, *at));
                                if self.scanned.objects.len() > max_objects {
                                    return Err(ReadError::Limit(format!(
                                        "the PDF has more than {max_objects} objects"
                                    )));
                                }
                            }
                            self.depth = 0;
                        }
                        b"endobj" => self.depth = 0,
                        b"stream" if self.depth == 0 => self.skip_stream_data(),
                        _ => {}
                    }
                }
            }
            self.prev = [self.prev[1].clone(), (Some(tok), start)];
        }
        Ok(())
    }

    /// A dictionary opened at depth 0 closed: note its /Length, and keep it as the trailer
    /// when it has a /Root.
    fn dict_closed(&mut self) {
        let span = |v: Option<(usize, usize)>| v.and_then(|(s, e)| self.bytes.get(s..e));
        self.stream_length = span(self.capture.value(b"Length"))
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        if self.capture.value(b"Root").is_some() {
            self.scanned.trailer = TRAILER_KEYS
                .iter()
                .filter_map(|k| span(self.capture.value(k)).map(|v| (k.to_vec(), v.to_vec())))
                .collect();
        }
    }

    /// After the `stream` keyword: skips to after `endstream`.
    fn skip_stream_data(&mut self) {
        let mut start = self.pos;
        if self.at(start) == Some(b'\r') {
            start += 1;
        }
        if self.at(start) == Some(b'\n') {
            start += 1;
        }
        if let Some(len) = self.stream_length.take()
            && let Some(end) = start.checked_add(len)
            && let Some(after) = self.bytes.get(end..)
        {
            let white = after.iter().take_while(|b| is_white(**b)).count();
            if after
                .get(white..)
                .is_some_and(|a| a.starts_with(b"endstream"))
            {
                self.pos = end + white + 9;
                return;
            }
        }
        self.pos = match find(self.bytes.get(start..).unwrap_or(&[]), b"endstream") {
            Some(p) => start + p + 9,
            None => self.bytes.len(),
        };
    }

    /// The next token and where it starts; `None` at the end.
    fn next_token(&mut self) -> Option<(Tok, usize)> {
        loop {
            let b = self.at(self.pos)?;
            if is_white(b) {
                self.pos += 1;
                continue;
            }
            if b == b'%' {
                while let Some(c) = self.at(self.pos) {
                    if c == b'\r' || c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
                continue;
            }
            let start = self.pos;
            self.pos += 1;
            let tok = match b {
                b'(' => {
                    self.skip_literal_string();
                    Tok::Str
                }
                b'<' if self.at(self.pos) == Some(b'<') => {
                    self.pos += 1;
                    Tok::OpenDict
                }
                b'<' => {
                    while let Some(c) = self.at(self.pos) {
                        self.pos += 1;
                        if c == b'>' {
                            break;
                        }
                    }
                    Tok::Str
                }
                b'>' if self.at(self.pos) == Some(b'>') => {
                    self.pos += 1;
                    Tok::CloseDict
                }
                b'[' => Tok::Open,
                b']' => Tok::Close,
                b'/' => Tok::Name(self.name()),
                // Stray delimiters and PostScript braces carry nothing.
                b'>' | b')' | b'{' | b'}' => continue,
                _ => {
                    while let Some(c) = self.at(self.pos) {
                        if is_white(c) || is_delim(c) {
                            break;
                        }
                        self.pos += 1;
                    }
                    let word = self.bytes.get(start..self.pos).unwrap_or(&[]);
                    match std::str::from_utf8(word).ok().and_then(|w| w.parse().ok()) {
                        Some(i) => Tok::Int(i),
                        None => Tok::Word(start, self.pos),
                    }
                }
            };
            return Some((tok, start));
        }
    }

    /// After `(`: up to the matching `)`, honouring `\` escapes and nested parentheses.
    fn skip_literal_string(&mut self) {
        let mut level = 1usize;
        while let Some(c) = self.at(self.pos) {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// After `/`: the name, `#xx` escapes decoded.
    fn name(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(c) = self.at(self.pos) {
            if is_white(c) || is_delim(c) {
                break;
            }
            self.pos += 1;
            if c == b'#'
                && let Some(hex) = self.bytes.get(self.pos..self.pos + 2)
                && let Some(v) = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                self.pos += 2;
                continue;
            }
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_trailer_are_found_and_rebuilt() {
        let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n\
            2 0 obj << /Length 12 >> stream\n3 0 obj [[[[\nendstream endobj\n\
            4 0 obj (a \\) 5 0 obj) endobj\n\
            trailer << /Size 5 /Root 1 0 R /Prev 99 /ID [<01><02>] >>\nstartxref\n0\n%%EOF";
        let s = scan_file(pdf, 100, 10).unwrap();
        let numbers: Vec<u32> = s.objects.keys().copied().collect();
        assert_eq!(numbers, vec![1, 2, 4]);
        assert_eq!(
            s.trailer,
            vec![
                (b"Root".to_vec(), b" 1 0 R".to_vec()),
                (b"ID".to_vec(), b" [<01><02>]".to_vec())
            ]
        );
        let rebuilt = rebuild(pdf, &s);
        let doc = lopdf::Document::load_mem(&rebuilt).unwrap();
        assert!(doc.catalog().is_ok());
        assert_eq!(doc.objects.len(), 3);
    }

    /// The blinds of the old pre-scan: a `(` in a comment, and a name `/stream`, hid what
    /// followed from it.
    #[test]
    fn comments_names_and_strings_do_not_blind_the_nesting_check() {
        let deep = "[".repeat(200);
        for head in [
            "% a comment with (\n",
            "<< /stream 1 >>\n",
            "(a \\) string) <28>\n",
        ] {
            let pdf = format!("%PDF-1.4\n{head}1 0 obj {deep} endobj");
            assert!(
                scan_file(pdf.as_bytes(), 100, 100).is_err(),
                "blinded by {head:?}"
            );
        }
        assert!(!nesting_too_deep(b"<< /A [ (((([[[[) ] >>", 3));
        assert!(nesting_too_deep(b"% (\n[[[[", 3));
    }

    #[test]
    fn too_many_objects_are_refused_while_scanning() {
        let mut pdf = b"%PDF-1.4\n".to_vec();
        for n in 1..=50 {
            pdf.extend_from_slice(format!("{n} 0 obj null endobj\n").as_bytes());
        }
        assert!(scan_file(&pdf, 50, 10).is_ok());
        assert_eq!(
            scan_file(&pdf, 49, 10).unwrap_err(),
            ReadError::Limit("the PDF has more than 49 objects".into())
        );
    }
}
