//! A PDF page's text read by position as the form's rows.
//!
//! An office suite's "Export as PDF" (LibreOffice, Word's "Save as PDF") keeps no lines of
//! "Label: value": a table puts the label in one cell and the value in the next, a long label
//! wraps over two lines of its cell, a form laid out as "label above value" puts them on two
//! lines, Word writes each word as its own positioned run, and a two-column page puts two
//! rows on one baseline. This module groups the placed text into lines by baseline, splits a
//! page into its two columns when both hold rows, and makes each row one "Label: value" line
//! (more lines of the value indented below it) for the text reader
//! ([`crate::forms::read::text::parse_lines`]), so everything after reading is the same as
//! for a mail. A row starts at a label the field table knows ([`match_label`]), also when it
//! wraps; text that starts no row is passed on as it was (an unknown "Label: value" still
//! reads as one).

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::LazyLock;

use crate::forms::fields::{CHANGES, FIELDS, LabelMatch, match_label, normalise};
use crate::forms::raw::leading_tick_glyph;
use crate::forms::read::label::MAX_LABEL_CHARS;

/// Most word sequences of one page we look up in the field table: a form's page needs a few
/// thousand; a page of nothing but label words would otherwise cost each of its lines dozens.
const MAX_LABEL_TRIES: usize = 20_000;

/// The label look-ups left for a page ([`MAX_LABEL_TRIES`]); when they run out, the rest of
/// the page is passed on as lines of text.
struct Budget(Cell<usize>);

impl Budget {
    fn spend(&self) -> bool {
        let left = self.0.get();
        self.0.set(left.saturating_sub(1));
        left > 0
    }
}

/// A piece of text placed on the page (one word or part of one): where it starts and ends on
/// the baseline `y`, and its font size on the page.
pub(crate) struct Run {
    pub x: f32,
    pub y: f32,
    pub end_x: f32,
    pub size: f32,
    pub text: String,
}

/// Most words placed on one page that we read (a page of dense text has a few thousand).
pub(crate) const MAX_PAGE_RUNS: usize = 200_000;
/// Most lines of one page we form rows from; the text reader reads no more lines of a form
/// than this either ([`crate::forms::read::text::MAX_FORM_LINES`]).
const MAX_PAGE_LINES: usize = 10_000;
/// Most words of a label (the longest label of the field table has 5).
const MAX_LABEL_WORDS: usize = 8;
/// Most lines one value takes below its label.
const MAX_VALUE_LINES: usize = 50;
/// A gap wider than this many font sizes separates two cells of a line (a table's columns,
/// a page's two columns); a word space is about 0.3.
const CELL_GAP: f32 = 1.5;
/// A gap wider than this many font sizes between a label and text on its line separates a
/// label cell from its value without a colon; narrower is a sentence that starts with a word
/// that happens to be a label ("Service er nede").
const LABEL_GAP: f32 = 0.45;
/// A line further below the one above than this many font sizes starts a new block: it
/// continues neither a wrapped label nor a value.
const MAX_LINE_STEP: f32 = 2.2;
/// A gap wider than this many font sizes within free text is written as a tab.
const TAB_GAP: f32 = 2.5;

/// One word on a line.
#[derive(Clone)]
struct Word {
    x: f32,
    end_x: f32,
    text: String,
}

/// Words on one baseline, left to right.
#[derive(Clone)]
struct Line {
    y: f32,
    size: f32,
    words: Vec<Word>,
}

impl Line {
    fn x(&self) -> f32 {
        self.words.first().map_or(0.0, |w| w.x)
    }

    fn text(&self) -> String {
        words_text(&self.words, self.size)
    }
}

/// The first word (normalised) of every label and synonym of the field table: a line whose
/// first word is none of them starts no row, without asking [`match_label`] about each of
/// its prefixes.
static FIRST_WORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let fields = FIELDS
        .iter()
        .flat_map(|f| std::iter::once(f.label).chain(f.synonyms.iter().copied()));
    let changes = CHANGES
        .iter()
        .flat_map(|c| std::iter::once(c.label).chain(c.synonyms.iter().copied()));
    fields
        .chain(changes)
        .filter_map(|l| normalise(l).split(' ').next().map(str::to_string))
        .collect()
});

/// A page's placed text as the lines the text reader reads.
pub(crate) fn page_rows(runs: Vec<Run>) -> Vec<String> {
    let lines = lines_of(runs);
    let b = Budget(Cell::new(MAX_LABEL_TRIES));
    let mut out = Vec::new();
    match column_split(&b, &lines) {
        Some(split) => {
            let (left, right) = split_lines(&lines, split);
            column_rows(&b, &left, &mut out);
            column_rows(&b, &right, &mut out);
        }
        None => column_rows(&b, &lines, &mut out),
    }
    out
}

/// Groups runs into lines by their baseline (top of the page first) and their pieces into
/// words (a `TJ` array may cut a word where it kerns).
fn lines_of(mut runs: Vec<Run>) -> Vec<Line> {
    runs.retain(|r| {
        r.x.is_finite() && r.y.is_finite() && r.end_x.is_finite() && r.size.is_finite()
    });
    // Top of the page first; a stable sort keeps content order within a baseline.
    runs.sort_by(|a, b| b.y.total_cmp(&a.y));
    let mut grouped: Vec<Vec<Run>> = Vec::new();
    for run in runs {
        let full = grouped.len() >= MAX_PAGE_LINES;
        match grouped.last_mut() {
            Some(line)
                if line.first().is_some_and(|f| {
                    (f.y - run.y).abs() <= 0.5 * f.size.min(run.size).max(1.0)
                }) =>
            {
                line.push(run)
            }
            _ if full => break,
            _ => grouped.push(vec![run]),
        }
    }
    grouped.into_iter().filter_map(line_of).collect()
}

/// One baseline's runs as a line of words.
fn line_of(mut runs: Vec<Run>) -> Option<Line> {
    runs.sort_by(|a, b| a.x.total_cmp(&b.x));
    let size = runs.iter().map(|r| r.size).fold(0.0f32, f32::max).max(1.0);
    let y = runs.first()?.y;
    let mut words: Vec<Word> = Vec::new();
    for r in runs {
        let text = r.text.trim();
        if text.is_empty() {
            continue;
        }
        match words.last_mut() {
            Some(w) if r.x - w.end_x <= 0.15 * size && !r.text.starts_with(' ') => {
                w.text.push_str(text);
                w.end_x = w.end_x.max(r.end_x);
            }
            _ => words.push(Word {
                x: r.x,
                end_x: r.end_x.max(r.x),
                text: text.to_string(),
            }),
        }
    }
    (!words.is_empty()).then_some(Line { y, size, words })
}

/// Words as text: a space between words, a tab across a wide gap.
fn words_text(words: &[Word], size: f32) -> String {
    let mut s = String::new();
    let mut prev_end: Option<f32> = None;
    for w in words {
        if let Some(end) = prev_end {
            s.push(if w.x - end > TAB_GAP * size {
                '\t'
            } else {
                ' '
            });
        }
        s.push_str(&w.text);
        prev_end = Some(prev_end.map_or(w.end_x, |p: f32| p.max(w.end_x)));
    }
    s
}

/// The cells of a line: runs of words split at wide gaps.
fn cells(line: &Line) -> Vec<&[Word]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..line.words.len() {
        let (Some(a), Some(b)) = (line.words.get(i - 1), line.words.get(i)) else {
            continue;
        };
        if b.x - a.end_x > CELL_GAP * line.size {
            out.extend(line.words.get(start..i));
            start = i;
        }
    }
    out.extend(line.words.get(start..));
    out
}

/// Where a page splits into two columns that each hold rows: the left edge of the right
/// column. A table's value column is no such split (its cells start no rows), a page with
/// rows on both sides of it is, and so is a table of label, value, label, value.
fn column_split(b: &Budget, lines: &[Line]) -> Option<f32> {
    // Every cell's left edge, and whether a row starts there.
    let mut starts: Vec<(f32, bool)> = Vec::new();
    for line in lines {
        for cell in cells(line) {
            let x = cell.first().map_or(0.0, |w| w.x);
            starts.push((x, starts_row(b, cell, line.size)));
        }
    }
    starts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best: Option<(usize, f32)> = None;
    let mut rows_left = 0;
    let mut i = 0;
    while let Some(&(x, _)) = starts.get(i) {
        let group = starts
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|(gx, _)| *gx - x <= 4.0);
        let (len, rows_here) =
            group.fold((0, 0), |(n, r), (_, row)| (n + 1, r + usize::from(*row)));
        if rows_here >= 2 && rows_left >= 2 && best.is_none_or(|(n, _)| rows_here > n) {
            best = Some((rows_here, x));
        }
        rows_left += rows_here;
        i += len.max(1);
    }
    best.map(|(_, x)| x)
}

/// Whether a cell starts with a label and its value (or the label alone).
fn starts_row(b: &Budget, cell: &[Word], size: f32) -> bool {
    label_prefix(b, cell, size).is_some()
}

/// The lines left of `split` and right of it, each in page order. A line that runs across
/// the split without a gap there (a title over both columns) stays whole, on the left.
fn split_lines(lines: &[Line], split: f32) -> (Vec<Line>, Vec<Line>) {
    let mut left = Vec::new();
    let mut right = Vec::new();
    for line in lines {
        let at = line.words.iter().position(|w| w.x >= split - 2.0);
        let spans = at.is_some_and(|k| {
            k > 0
                && line
                    .words
                    .get(k - 1)
                    .zip(line.words.get(k))
                    .is_some_and(|(a, b)| b.x - a.end_x <= CELL_GAP * line.size)
        });
        let (l, r) = match at {
            Some(k) if !spans => line.words.split_at(k),
            _ => (line.words.as_slice(), &[][..]),
        };
        for (words, side) in [(l, &mut left), (r, &mut right)] {
            if !words.is_empty() {
                side.push(Line {
                    y: line.y,
                    size: line.size,
                    words: words.to_vec(),
                });
            }
        }
    }
    (left, right)
}

/// How many words of `words` make a known label, longest first; the rest of the words must
/// be its value: after a colon or a cell's gap, or nothing.
fn label_prefix(b: &Budget, words: &[Word], size: f32) -> Option<usize> {
    let first = words.first()?;
    let first_norm = normalise(&first.text);
    if !first_norm
        .split(' ')
        .next()
        .is_some_and(|w| FIRST_WORDS.contains(w))
    {
        return None;
    }
    (1..=words.len().min(MAX_LABEL_WORDS))
        .rev()
        .find(|&k| is_label(b, words.get(..k).unwrap_or_default()) && value_follows(words, k, size))
}

/// Whether the words are a label of the field table (a trailing colon allowed).
fn is_label(b: &Budget, words: &[Word]) -> bool {
    if !b.spend() {
        return false;
    }
    let text = words
        .iter()
        .map(|w| w.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    text.chars().count() <= MAX_LABEL_CHARS
        && leading_tick_glyph(&text).is_none()
        && match_label(&text).is_some()
}

/// Whether what follows the first `k` words can be a value of the label they make: nothing,
/// or text after a colon, or text across a gap wider than a word space (wider than every
/// other gap between the words, as the gap between two cells is; a font's space may be wide).
fn value_follows(words: &[Word], k: usize, size: f32) -> bool {
    let (Some(last), Some(next)) = (words.get(k.wrapping_sub(1)), words.get(k)) else {
        return true;
    };
    if last.text.ends_with(':') || next.text.starts_with(':') {
        return true;
    }
    let gap = next.x - last.end_x;
    let widest_other = words
        .windows(2)
        .enumerate()
        .filter(|(i, _)| i + 1 != k)
        .filter_map(|(_, w)| match w {
            [a, b] => Some(b.x - a.end_x),
            _ => None,
        })
        .fold(f32::MIN, f32::max);
    gap > LABEL_GAP * size && gap > 1.5 * widest_other
}

/// A row's label found at a line: the words of the line it takes, and those of the next
/// line when the label wraps onto it (0 when it does not).
struct Found {
    on_line: usize,
    on_next: usize,
}

/// The label that starts a row at `line`, also one that wraps onto `next` (the next line of
/// the same cell: close below, at the same left edge). The longer label wins: "Ønsket
/// tidspunkt" is a label, but wrapped over "for ændring" it is "Ønsket tidspunkt for ændring".
fn find_label(b: &Budget, line: &Line, next: Option<&Line>) -> Option<Found> {
    let single = label_prefix(b, &line.words, line.size)
        .filter(|&k| k < line.words.len() || !names_a_change(&line.words));
    let wrapped = next
        .filter(|n| follows(line, n) && (n.x() - line.x()).abs() <= line.size)
        .and_then(|n| wrapped_label(b, line, n));
    match (single, wrapped) {
        (Some(k), Some(w)) if w.on_line + w.on_next <= k => Some(Found {
            on_line: k,
            on_next: 0,
        }),
        (_, Some(w)) => Some(w),
        (Some(k), None) => Some(Found {
            on_line: k,
            on_next: 0,
        }),
        (None, None) => None,
    }
}

/// Whether the words name a change's tick box ("URL") rather than a field: alone on a line
/// that is an option written under "Ændringer", not a label above a value.
fn names_a_change(words: &[Word]) -> bool {
    let text: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    matches!(match_label(&text.join(" ")), Some(LabelMatch::Change(_)))
}

/// A label that starts at `line` and ends at `next`: the first words of each, each followed
/// by its value (or nothing).
fn wrapped_label(b: &Budget, line: &Line, next: &Line) -> Option<Found> {
    let first = normalise(&line.words.first()?.text);
    if !first
        .split(' ')
        .next()
        .is_some_and(|w| FIRST_WORDS.contains(w))
    {
        return None;
    }
    let mut best: Option<Found> = None;
    for k1 in 1..=line.words.len().min(MAX_LABEL_WORDS) {
        if !value_follows(&line.words, k1, line.size) {
            continue;
        }
        for k2 in 1..=next
            .words
            .len()
            .min(MAX_LABEL_WORDS - k1.min(MAX_LABEL_WORDS))
        {
            let mut words: Vec<Word> = line.words.get(..k1).unwrap_or_default().to_vec();
            words.extend_from_slice(next.words.get(..k2).unwrap_or_default());
            if value_follows(&next.words, k2, next.size)
                && is_label(b, &words)
                && best
                    .as_ref()
                    .is_none_or(|b| k1 + k2 > b.on_line + b.on_next)
            {
                best = Some(Found {
                    on_line: k1,
                    on_next: k2,
                });
            }
        }
    }
    best
}

/// Whether `below` is the next line of the same block as `above`: below it, not far.
fn follows(above: &Line, below: &Line) -> bool {
    let step = above.y - below.y;
    step > 0.0 && step <= MAX_LINE_STEP * above.size.max(below.size)
}

/// One row: its label and the lines of its value; where its label and value start, and
/// whether the value follows the label in its paragraph ("Label: value", which wraps to the
/// paragraph's left edge) rather than in a cell of its own.
struct Row {
    label: String,
    value: Vec<String>,
    label_x: f32,
    value_x: Option<f32>,
    inline: bool,
}

impl Row {
    fn emit(self, out: &mut Vec<String>) {
        let mut lines = self.value.into_iter();
        match lines.next() {
            Some(first) => out.push(format!("{}: {first}", self.label)),
            None => out.push(format!("{}:", self.label)),
        }
        out.extend(lines.map(|l| format!("  {l}")));
    }

    /// Takes line `l` as more of the value: its own line, or the same line wrapped.
    fn take(&mut self, l: &Line, wrapped: bool) {
        let text = l.text();
        match self.value.last_mut() {
            Some(last) if wrapped => {
                // A word broken at a hyphen or a URL at a slash goes on without a space.
                if !last.ends_with(['-', '/']) {
                    last.push(' ');
                }
                last.push_str(&text);
            }
            _ => {
                self.value_x.get_or_insert(l.x());
                self.value.push(text);
            }
        }
    }
}

/// The right edge of a column's text per font size, where a wrapped line of that size ends
/// (a title in a larger font may be wider than the column's rows).
struct Edges(Vec<(f32, f32)>);

/// Most font sizes whose edges we keep apart; text in more sizes than this shares one edge.
const MAX_EDGE_SIZES: usize = 64;

impl Edges {
    fn of(lines: &[Line]) -> Edges {
        let mut edges: Vec<(f32, f32)> = Vec::new();
        for l in lines {
            let end = l.words.last().map_or(f32::MIN, |w| w.end_x);
            let room = edges.len() < MAX_EDGE_SIZES;
            match edges.iter_mut().find(|(s, _)| (*s - l.size).abs() < 0.5) {
                Some((_, e)) => *e = e.max(end),
                None if room => edges.push((l.size, end)),
                None => edges.iter_mut().for_each(|(_, e)| *e = e.max(end)),
            }
        }
        Edges(edges)
    }

    /// Whether `below` goes on from `above` as the same text wrapped: the first word of
    /// `below` would not have fitted after `above` within the right edge (a shorter line is
    /// broken by the writer, not by the width).
    fn wrapped(&self, above: &Line, below: &Line) -> bool {
        let edge = self
            .0
            .iter()
            .find(|(s, _)| (*s - above.size).abs() < 0.5)
            .map_or(f32::MIN, |(_, e)| *e);
        let (Some(last), Some(first)) = (above.words.last(), below.words.first()) else {
            return false;
        };
        let space = 0.25 * above.size;
        last.end_x + space + (first.end_x - first.x) > edge + 0.5
    }
}

/// The rows of one column (or of a page with one): each label with the value to its right
/// and on the lines below that belong to it; other lines as they were.
fn column_rows(b: &Budget, lines: &[Line], out: &mut Vec<String>) {
    let edge = Edges::of(lines);
    let mut prev_free: Option<&Line> = None;
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        let next = lines.get(i + 1);
        let found =
            find_label(b, line, next).filter(|f| !ends_a_paragraph(line, f, prev_free, &edge));
        let Some(found) = found else {
            out.push(line.text());
            prev_free = Some(line);
            i += 1;
            continue;
        };
        prev_free = None;
        let mut row = start_row(line, next, &found);
        let mut last = if found.on_next > 0 { next } else { Some(line) };
        i += if found.on_next > 0 { 2 } else { 1 };
        while let (Some(above), Some(l)) = (last, lines.get(i)) {
            let Some(wrapped) = continues(b, &row, above, l, lines.get(i + 1), &edge) else {
                break;
            };
            if row.value.len() >= MAX_VALUE_LINES {
                break;
            }
            row.take(l, wrapped);
            last = Some(l);
            i += 1;
        }
        row.emit(out);
    }
}

/// Whether a label alone on its line is the last line of a paragraph of free text above it
/// (a wrapped title ending in "webservice"), not a label above its value.
fn ends_a_paragraph(line: &Line, found: &Found, prev: Option<&Line>, edge: &Edges) -> bool {
    let alone = found.on_next == 0 && found.on_line == line.words.len();
    let colon = line.words.last().is_some_and(|w| w.text.ends_with(':'));
    alone
        && !colon
        && prev.is_some_and(|p| {
            follows(p, line)
                && p.y - line.y <= 1.35 * p.size
                && (p.size - line.size).abs() < 0.5
                && (p.x() - line.x()).abs() <= line.size
                && edge.wrapped(p, line)
        })
}

/// A row from its label's words and the value words after them.
fn start_row(line: &Line, next: Option<&Line>, found: &Found) -> Row {
    let mut label_words: Vec<Word> = line.words.get(..found.on_line).unwrap_or_default().to_vec();
    let mut value_words: Vec<Word> = line.words.get(found.on_line..).unwrap_or_default().to_vec();
    let inline = match (label_words.last(), value_words.first()) {
        (Some(l), Some(v)) => found.on_next == 0 && v.x - l.end_x <= CELL_GAP * line.size,
        _ => false,
    };
    if let Some(n) = next.filter(|_| found.on_next > 0) {
        label_words.extend_from_slice(n.words.get(..found.on_next).unwrap_or_default());
        value_words.extend_from_slice(n.words.get(found.on_next..).unwrap_or_default());
    }
    let label = words_text(&label_words, line.size);
    let label = label.trim().trim_end_matches(':').trim_end().to_string();
    let value_x = value_words.first().map(|w| w.x);
    let value = words_text(&value_words, line.size);
    let value = value.trim().trim_start_matches(':').trim().to_string();
    Row {
        label,
        value: if value.is_empty() {
            Vec::new()
        } else {
            vec![value]
        },
        label_x: line.x(),
        value_x,
        inline,
    }
}

/// Whether line `l` (below `above`) is more of the row's value, and if so whether it is the
/// value's line wrapped: it must be close below and start no row of its own; a value in its
/// own cell goes on under the value, one below its label under the label. A line under a full
/// one is the same line wrapped: under the value in its cell, or at the paragraph's left edge
/// for an inline value (so a long URL or UUID stays one value).
fn continues(
    b: &Budget,
    row: &Row,
    above: &Line,
    l: &Line,
    next: Option<&Line>,
    edge: &Edges,
) -> Option<bool> {
    if !follows(above, l) || find_label(b, l, next).is_some() {
        return None;
    }
    let slack = l.size.max(above.size);
    let under = |x: f32| (l.x() - x).abs() <= slack;
    // A tick box starts an option of its own, never a wrapped line.
    let tick = l
        .words
        .first()
        .is_some_and(|w| leading_tick_glyph(&w.text).is_some());
    let wraps = !tick
        && edge.wrapped(above, l)
        && ((row.inline && under(row.label_x))
            || (!row.value.is_empty() && row.value_x.is_some_and(under)));
    match row.value_x {
        _ if wraps => Some(true),
        Some(x) if l.x() >= x - slack => Some(false),
        None if l.x() >= row.label_x - slack => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word's "Save as PDF": every word its own run, `size` 10, words a space apart.
    fn words(x: f32, y: f32, text: &str) -> Vec<Run> {
        let mut out = Vec::new();
        let mut x = x;
        for w in text.split(' ') {
            let end_x = x + 5.0 * w.chars().count() as f32;
            out.push(Run {
                x,
                y,
                end_x,
                size: 10.0,
                text: w.to_string(),
            });
            x = end_x + 3.0;
        }
        out
    }

    fn rows(runs: Vec<Run>) -> Vec<String> {
        page_rows(runs)
    }

    #[test]
    fn label_and_value_cells_of_a_table_row() {
        let mut runs = words(50.0, 700.0, "Kontaktperson");
        runs.extend(words(140.0, 700.0, "Jens Hansen"));
        runs.extend(words(50.0, 686.0, "Service er nede"));
        assert_eq!(
            rows(runs),
            ["Kontaktperson: Jens Hansen", "Service er nede"]
        );
    }

    #[test]
    fn a_label_wrapped_over_two_lines_of_its_cell() {
        let mut runs = words(50.0, 700.0, "Ønsket tidspunkt");
        runs.extend(words(140.0, 700.0, "14-12-2026 kl. 10.00"));
        runs.extend(words(50.0, 688.0, "for ændring"));
        runs.extend(words(50.0, 670.0, "KOMBIT"));
        runs.extend(words(140.0, 670.0, "BST-1"));
        runs.extend(words(50.0, 658.0, "BestillingsID"));
        assert_eq!(
            rows(runs),
            [
                "Ønsket tidspunkt for ændring: 14-12-2026 kl. 10.00",
                "KOMBIT BestillingsID: BST-1"
            ]
        );
    }

    #[test]
    fn label_above_its_value_and_values_with_colons() {
        let mut runs = words(50.0, 700.0, "Ny URL");
        runs.extend(words(50.0, 688.0, "https://ws.example.dk:8443/a"));
        runs.extend(words(50.0, 672.0, "Bemærkninger"));
        runs.extend(words(50.0, 660.0, "Første linje"));
        runs.extend(words(50.0, 648.0, "anden linje"));
        runs.extend(words(50.0, 600.0, "Side 1 af 1"));
        assert_eq!(
            rows(runs),
            [
                "Ny URL: https://ws.example.dk:8443/a",
                "Bemærkninger: Første linje",
                "  anden linje",
                "Side 1 af 1"
            ]
        );
    }

    #[test]
    fn a_value_wrapped_in_its_cell_stays_one_value_and_options_are_no_labels() {
        let mut runs = words(50.0, 700.0, "Ny URL");
        runs.extend(words(
            200.0,
            700.0,
            "https://ws.eksempel.dk/a/very/long/path/that/wraps/",
        ));
        runs.extend(words(200.0, 688.0, "v2"));
        runs.extend(words(50.0, 672.0, "Ændringer"));
        runs.extend(words(50.0, 660.0, "URL"));
        runs.extend(words(50.0, 648.0, "SSL-certifikat"));
        assert_eq!(
            rows(runs),
            [
                "Ny URL: https://ws.eksempel.dk/a/very/long/path/that/wraps/v2",
                "Ændringer: URL",
                "  SSL-certifikat"
            ]
        );
    }

    #[test]
    fn two_columns_are_read_one_after_the_other() {
        let mut runs = Vec::new();
        for (y, left, right) in [
            (700.0, "Miljø: Produktion", "Service: Adresseopslag"),
            (688.0, "CVR-nr.: 34031355", "Telefon: 12345678"),
            (676.0, "Organisation: Kommunen", "It-system: X"),
        ] {
            runs.extend(words(50.0, y, left));
            runs.extend(words(320.0, y, right));
        }
        assert_eq!(
            rows(runs),
            [
                "Miljø: Produktion",
                "CVR-nr.: 34031355",
                "Organisation: Kommunen",
                "Service: Adresseopslag",
                "Telefon: 12345678",
                "It-system: X"
            ]
        );
    }

    #[test]
    fn a_table_value_column_is_not_a_second_page_column() {
        let mut runs = Vec::new();
        for (y, label, value) in [
            (700.0, "Miljø", "Produktion"),
            (688.0, "Ændringer", "☐ SSL-certifikat"),
            (676.0, "", "☒ URL"),
            (664.0, "Telefon", "12345678"),
        ] {
            if !label.is_empty() {
                runs.extend(words(50.0, y, label));
            }
            runs.extend(words(200.0, y, value));
        }
        assert_eq!(
            rows(runs),
            [
                "Miljø: Produktion",
                "Ændringer: ☐ SSL-certifikat",
                "  ☒ URL",
                "Telefon: 12345678"
            ]
        );
    }

    #[test]
    fn a_page_of_label_words_costs_a_bounded_number_of_look_ups() {
        let mut runs = Vec::new();
        for i in 0..5_000 {
            runs.extend(words(
                50.0,
                10_000.0 - 12.0 * i as f32,
                &"Telefon ".repeat(9),
            ));
        }
        let started = std::time::Instant::now();
        let out = rows(runs);
        assert_eq!(out.len(), 5_000);
        // Without the budget this took minutes in a debug build.
        assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    }

    #[test]
    fn random_layouts_of_label_words_do_not_panic() {
        let pieces = [
            "Telefon",
            "Ønsket",
            "tidspunkt",
            "for",
            "ændring",
            "KOMBIT",
            "BestillingsID:",
            ":",
            "☒",
            "URL",
            "https://a:b",
            "-",
            "Ny",
            "",
            " ",
            "\t",
            "…",
            "(valgfrit)",
        ];
        let mut seed: u64 = 0x5eed;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        for _ in 0..50 {
            let runs: Vec<Run> = (0..400)
                .map(|_| {
                    let x = (next() % 600) as f32 - 50.0;
                    let y = (next() % 80) as f32 * 6.0;
                    let size = [0.1, 1.0, 10.0, 13.0, 400.0][next() % 5];
                    Run {
                        x,
                        y,
                        end_x: x + (next() % 120) as f32 - 20.0,
                        size,
                        text: pieces[next() % pieces.len()].to_string(),
                    }
                })
                .collect();
            let out = rows(runs);
            assert!(out.len() <= 400, "{}", out.len());
        }
    }

    #[test]
    fn hostile_positions_and_many_runs_do_not_panic() {
        let mut runs = Vec::new();
        for i in 0..20_000 {
            let f = i as f32;
            runs.push(Run {
                x: if i % 7 == 0 { f32::NAN } else { f * 0.5 },
                y: if i % 11 == 0 { f32::INFINITY } else { -f },
                end_x: f32::MAX,
                size: if i % 3 == 0 { 0.0 } else { 1e30 },
                text: "Telefon:".into(),
            });
        }
        let out = rows(runs);
        assert!(out.len() <= MAX_PAGE_LINES * 2, "{}", out.len());
    }
}
