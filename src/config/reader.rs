//! The line-tracking TOML reader: every key and value with the line it is on, so each problem
//! names its line; typed getters that record a problem instead of failing; unknown keys and
//! sections reported with "did you mean".
//!
//! Why not `#[derive(Deserialize)]` on the config types: serde stops at the first mistake and
//! knows no line for a value that parses but means nothing (a port of 0, a file that is not
//! there), while `config check` must list every problem at once, each with its line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

use super::base_dir;
use super::error::Problem;
use super::units::{parse_duration, parse_size};

/// One top-level entry of the file: a table (with the span of each key and value) or not.
pub(super) enum RawSection {
    Table(Vec<(Spanned<String>, Spanned<toml::Value>)>),
    NotTable(&'static str),
}

impl<'de> Deserialize<'de> for RawSection {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSection, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    let v = map.next_value::<Spanned<toml::Value>>()?;
                    out.push((k, v));
                }
                Ok(RawSection::Table(out))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawSection, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(RawSection::NotTable("a list"))
            }
            fn visit_str<E>(self, _: &str) -> Result<RawSection, E> {
                Ok(RawSection::NotTable("a string"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<RawSection, E> {
                Ok(RawSection::NotTable("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<RawSection, E> {
                Ok(RawSection::NotTable("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<RawSection, E> {
                Ok(RawSection::NotTable("a number"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<RawSection, E> {
                Ok(RawSection::NotTable("true or false"))
            }
        }
        d.deserialize_any(V)
    }
}

/// The whole file: its top-level keys in order.
pub(super) struct RawDoc(Vec<(Spanned<String>, RawSection)>);

impl<'de> Deserialize<'de> for RawDoc {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDoc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a TOML document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawDoc, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    out.push((k, map.next_value::<RawSection>()?));
                }
                Ok(RawDoc(out))
            }
        }
        d.deserialize_map(V)
    }
}

pub(super) type Sections = Vec<(Spanned<String>, RawSection)>;

/// What every section reader shares: the text (for line numbers), the file, the folder that
/// relative paths are relative to, and the problems found so far.
pub(super) struct Cx<'t> {
    pub(super) text: &'t str,
    pub(super) file: Option<PathBuf>,
    pub(super) base: PathBuf,
    pub(super) problems: Vec<Problem>,
}

impl<'t> Cx<'t> {
    pub(super) fn new(text: &'t str, path: Option<&Path>) -> Self {
        Cx {
            text,
            file: path.map(Path::to_path_buf),
            base: base_dir(path),
            problems: Vec::new(),
        }
    }

    pub(super) fn line_at(&self, offset: usize) -> Option<usize> {
        line_of_offset(self.text, offset)
    }

    pub(super) fn push(
        &mut self,
        line: Option<usize>,
        key: String,
        value: Option<String>,
        message: String,
    ) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            key,
            value,
            message,
        });
    }

    /// The TOML syntax check; `None` (with the problem recorded) when the file is not TOML.
    pub(super) fn parse(&mut self) -> Option<Sections> {
        match toml::from_str::<RawDoc>(self.text) {
            Ok(doc) => Some(doc.0),
            Err(e) => {
                let line = e.span().and_then(|s| self.line_at(s.start));
                let msg = format!("invalid TOML: {}", first_line(e.message().trim()));
                self.push(line, String::new(), None, msg);
                None
            }
        }
    }

    pub(super) fn unknown_sections(&mut self, sections: &Sections, known: &[&str]) {
        for (name, raw) in sections {
            let line = self.line_at(name.span().start);
            let n = name.get_ref();
            if !known.contains(&n.as_str()) {
                let what = match raw {
                    RawSection::Table(_) => format!("[{n}]"),
                    RawSection::NotTable(_) => n.clone(),
                };
                let mut msg = format!("unknown section: the sections are {}", known.join(", "));
                if let Some(s) = suggest(n, known) {
                    msg = format!(
                        "unknown section; did you mean [{s}]? The sections are {}",
                        known.join(", ")
                    );
                }
                if matches!(raw, RawSection::NotTable(_)) {
                    msg = format!(
                        "unknown key at the top level: every key belongs in a section ({})",
                        known.join(", ")
                    );
                }
                self.push(line, what, None, msg);
            }
        }
    }

    /// A section reader; an absent section reads as empty (all defaults).
    pub(super) fn section<'c>(
        &'c mut self,
        sections: &Sections,
        name: &'static str,
    ) -> Sect<'c, 't> {
        let found = sections.iter().find(|(k, _)| k.get_ref() == name);
        let header_line = found
            .and_then(|(k, _)| self.line_at(k.span().start))
            .or_else(|| find_section_line(self.text, name));
        let entries = match found {
            Some((_, RawSection::Table(t))) => t.clone(),
            Some((k, RawSection::NotTable(what))) => {
                let line = self.line_at(k.span().start);
                self.push(line, format!("[{name}]"), None, format!("must be a section (a table), not {what}: write [{name}] on a line of its own and its keys below it"));
                Vec::new()
            }
            None => Vec::new(),
        };
        Sect {
            used: vec![false; entries.len()],
            entries,
            present: found.is_some(),
            header_line,
            name,
            known: Vec::new(),
            cx: self,
        }
    }

    /// A section the daemon cannot do without: reports one problem when it is absent.
    pub(super) fn required_section<'c>(
        &'c mut self,
        sections: &Sections,
        name: &'static str,
        needs: &str,
    ) -> Option<Sect<'c, 't>> {
        if sections.iter().any(|(k, _)| k.get_ref() == name) {
            Some(self.section(sections, name))
        } else {
            self.push(
                None,
                format!("[{name}]"),
                None,
                format!("section is missing: add [{name}] with at least {needs}"),
            );
            None
        }
    }

    pub(super) fn finish(mut self) -> Vec<Problem> {
        // By line, problems without a line last; the sort is stable so reading order stays.
        self.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        self.problems
    }
}

/// Reads one section's keys with their types, recording every problem in the context.
pub(super) struct Sect<'c, 't> {
    pub(super) cx: &'c mut Cx<'t>,
    pub(super) name: &'static str,
    pub(super) header_line: Option<usize>,
    pub(super) present: bool,
    pub(super) entries: Vec<(Spanned<String>, Spanned<toml::Value>)>,
    pub(super) used: Vec<bool>,
    /// The keys this section knows, for "did you mean".
    pub(super) known: Vec<&'static str>,
}

/// Keys whose values are never shown, not even in problems.
pub(super) const SECRET_KEYS: &[&str] = &["password", "oauth_token_command"];

impl Sect<'_, '_> {
    /// The value of `key` (marking it known and used) and the line it is on.
    pub(super) fn take(&mut self, key: &'static str) -> Option<(toml::Value, Option<usize>)> {
        self.known.push(key);
        let i = self.entries.iter().position(|(k, _)| k.get_ref() == key)?;
        if let Some(u) = self.used.get_mut(i) {
            *u = true;
        }
        let (_, v) = self.entries.get(i)?;
        Some((v.get_ref().clone(), self.cx.line_at(v.span().start)))
    }

    pub(super) fn problem_at(
        &mut self,
        key: &str,
        value: Option<String>,
        line: Option<usize>,
        message: &str,
    ) {
        let line = line.or(self.header_line);
        let value = if SECRET_KEYS.contains(&key) {
            value.map(|_| "\"***\"".to_string())
        } else {
            value
        };
        self.cx.push(
            line,
            format!("[{}] {key}", self.name),
            value,
            message.to_string(),
        );
    }

    /// A problem on a key's own line (found in the text), else on the section's.
    pub(super) fn problem(&mut self, key: &str, value: Option<String>, message: &str) {
        let line = self
            .entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .and_then(|(k, _)| self.cx.line_at(k.span().start))
            .or_else(|| find_key_line(self.cx.text, self.name, key));
        self.problem_at(key, value, line, message);
    }

    pub(super) fn missing(&mut self, key: &str, what_to_do: &str) {
        let line = self.header_line;
        let msg = if self.present {
            format!("required key is missing: {what_to_do}")
        } else {
            format!(
                "required key is missing (no [{}] section): {what_to_do}",
                self.name
            )
        };
        self.cx
            .push(line, format!("[{}] {key}", self.name), None, msg);
    }

    pub(super) fn wrong_type(
        &mut self,
        key: &str,
        v: &toml::Value,
        line: Option<usize>,
        expected: &str,
    ) {
        self.problem_at(
            key,
            Some(show_value(v)),
            line,
            &format!("must be {expected}"),
        );
    }

    pub(super) fn string(&mut self, key: &'static str) -> Option<(String, Option<usize>)> {
        match self.take(key)? {
            (toml::Value::String(s), line) => Some((s, line)),
            (v, line) => {
                self.wrong_type(key, &v, line, "a string in quotes");
                None
            }
        }
    }

    /// A string that must not be blank, when given.
    pub(super) fn optional_text(&mut self, key: &'static str) -> Option<String> {
        let (s, line) = self.string(key)?;
        if s.trim().is_empty() {
            self.problem_at(
                key,
                Some(toml_str(&s)),
                line,
                "must not be empty: give a value or remove the key",
            );
            return None;
        }
        Some(s)
    }

    pub(super) fn required_text(&mut self, key: &'static str, example: &str) -> Option<String> {
        if !self.entries.iter().any(|(k, _)| k.get_ref() == key) {
            self.known.push(key);
            self.missing(key, &format!("add {example}"));
            return None;
        }
        self.optional_text(key)
    }

    pub(super) fn choice(&mut self, key: &'static str, allowed: &[&str]) -> Option<String> {
        let (s, line) = self.string(key)?;
        if allowed.contains(&s.as_str()) {
            return Some(s);
        }
        let list = allowed
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ");
        self.problem_at(
            key,
            Some(toml_str(&s)),
            line,
            &format!("must be one of {list}"),
        );
        None
    }

    pub(super) fn boolean(&mut self, key: &'static str) -> Option<bool> {
        match self.take(key)? {
            (toml::Value::Boolean(b), _) => Some(b),
            (v, line) => {
                self.wrong_type(key, &v, line, "true or false (without quotes)");
                None
            }
        }
    }

    pub(super) fn integer(
        &mut self,
        key: &'static str,
        min: i64,
        max: i64,
        expected: &str,
    ) -> Option<i64> {
        match self.take(key)? {
            (toml::Value::Integer(i), _) if (min..=max).contains(&i) => Some(i),
            (v, line) => {
                self.wrong_type(key, &v, line, expected);
                None
            }
        }
    }

    pub(super) fn positive(&mut self, key: &'static str, max: i64) -> Option<i64> {
        self.integer(key, 1, max, &format!("a whole number from 1 to {max}"))
    }

    pub(super) fn port(&mut self, key: &'static str) -> Option<u16> {
        let v = self.integer(key, 1, 65535, "a port number from 1 to 65535")?;
        u16::try_from(v).ok()
    }

    pub(super) fn duration(&mut self, key: &'static str) -> Option<Duration> {
        let (v, line) = self.take(key)?;
        let toml::Value::String(s) = &v else {
            self.wrong_type(
                key,
                &v,
                line,
                "a duration in quotes with a unit, e.g. \"60s\", \"5m\", \"500ms\"",
            );
            return None;
        };
        match parse_duration(s) {
            Ok(d) if d.is_zero() => {
                self.problem_at(key, Some(show_value(&v)), line, "must be longer than zero");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.problem_at(key, Some(show_value(&v)), line, &e);
                None
            }
        }
    }

    pub(super) fn size(&mut self, key: &'static str) -> Option<u64> {
        let (v, line) = self.take(key)?;
        let parsed = match &v {
            toml::Value::Integer(i) => {
                u64::try_from(*i).map_err(|_| "must not be negative".to_string())
            }
            toml::Value::String(s) => parse_size(s),
            _ => Err(
                "must be a size: a number of bytes, or a string such as \"25 MB\" or \"50MiB\""
                    .to_string(),
            ),
        };
        match parsed {
            Ok(0) => {
                self.problem_at(key, Some(show_value(&v)), line, "must be larger than zero");
                None
            }
            Ok(n) => Some(n),
            Err(e) => {
                self.problem_at(key, Some(show_value(&v)), line, &e);
                None
            }
        }
    }

    pub(super) fn strings_at(&mut self, key: &'static str) -> Option<(Vec<String>, Option<usize>)> {
        let (v, line) = self.take(key)?;
        let toml::Value::Array(items) = &v else {
            self.wrong_type(key, &v, line, "a list of strings, e.g. [\"a\", \"b\"]");
            return None;
        };
        let mut out = Vec::new();
        for item in items {
            match item {
                toml::Value::String(s) => out.push(s.clone()),
                other => {
                    self.wrong_type(key, other, line, "a list of strings (each in quotes)");
                    return None;
                }
            }
        }
        Some((out, line))
    }

    pub(super) fn strings(&mut self, key: &'static str) -> Option<Vec<String>> {
        self.strings_at(key).map(|(v, _)| v)
    }

    /// A list of strings none of which is blank (trimmed).
    pub(super) fn nonempty_items(&mut self, key: &'static str) -> Option<Vec<String>> {
        let (items, line) = self.strings_at(key)?;
        let mut out = Vec::new();
        for s in items {
            if s.trim().is_empty() {
                self.problem_at(
                    key,
                    Some(toml_str(&s)),
                    line,
                    "must not hold an empty string",
                );
            } else {
                out.push(s.trim().to_string());
            }
        }
        Some(out)
    }

    /// A path, relative to the config folder, resolved to an absolute one.
    pub(super) fn path(&mut self, key: &'static str) -> Option<(PathBuf, Option<usize>)> {
        let text = self.optional_text(key)?;
        let line = self
            .entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .and_then(|(_, v)| self.cx.line_at(v.span().start));
        Some((self.cx.base.join(&text), line))
    }

    /// A path that must name an existing file when given.
    pub(super) fn existing_file(&mut self, key: &'static str) -> Option<PathBuf> {
        let (p, line) = self.path(key)?;
        if p.is_file() {
            return Some(p);
        }
        let why = if p.exists() {
            "is not a file"
        } else {
            "file not found"
        };
        let shown = self
            .entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, v)| show_value(v.get_ref()));
        let msg = format!(
            "{why}: {} (relative paths are relative to the config file's folder {})",
            p.display(),
            self.cx.base.display()
        );
        self.problem_at(key, shown, line, &msg);
        None
    }

    pub(super) fn cron(&mut self, key: &'static str, default: &str) -> Option<cron::Schedule> {
        let (text, line) = match self.string(key) {
            Some(v) => v,
            None if self.entries.iter().any(|(k, _)| k.get_ref() == key) => return None,
            None => return cron::Schedule::from_str(default).ok(),
        };
        match cron::Schedule::from_str(&text) {
            Ok(s) => Some(s),
            Err(_) => {
                let fields = text.split_whitespace().count();
                let msg = if fields == 5 {
                    format!(
                        "has five fields, but the schedule needs six with the seconds first, e.g. \"0 {}\"",
                        text.trim()
                    )
                } else {
                    format!(
                        "is not a valid cron expression: six fields, seconds first, e.g. \"{default}\""
                    )
                };
                self.problem_at(key, Some(toml_str(&text)), line, &msg);
                None
            }
        }
    }

    /// Every key nobody read is unknown: a typo must not be ignored silently.
    pub(super) fn finish(self) {
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let line = self.cx.line_at(k.span().start);
            let known = self.known.join(", ");
            let msg = match suggest(k.get_ref(), &self.known) {
                Some(s) => format!(
                    "unknown key; did you mean {s}? The keys of [{}] are {known}",
                    self.name
                ),
                None => format!("unknown key: the keys of [{}] are {known}", self.name),
            };
            self.cx
                .push(line, format!("[{}] {}", self.name, k.get_ref()), None, msg);
        }
    }
}

/// 1-based line of a byte offset.
pub(super) fn line_of_offset(text: &str, offset: usize) -> Option<usize> {
    let before = text.get(..offset.min(text.len()))?;
    Some(before.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// The line of `[section]` in the raw text.
pub(super) fn find_section_line(text: &str, section: &str) -> Option<usize> {
    text.lines()
        .position(|l| header_name(l).as_deref() == Some(section))
        .map(|i| i + 1)
}

/// The line of `key = ...` inside `[section]` in the raw text, for problems whose value has
/// no span of its own (keys of inline tables).
pub(super) fn find_key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(h) = header_name(line) {
            current = h;
            continue;
        }
        if current != section {
            continue;
        }
        let t = line.trim_start();
        let rest = t
            .strip_prefix(key)
            .or_else(|| t.strip_prefix(&format!("\"{key}\"")))
            .or_else(|| t.strip_prefix(&format!("'{key}'")));
        if let Some(rest) = rest
            && rest.trim_start().starts_with('=')
        {
            return Some(i + 1);
        }
        // An inline table on one line: `prices = { webservice = 1, sftp = 2 }`.
        if let Some((outer, inner)) = section.rsplit_once('.')
            && current == outer
            && t.starts_with(inner)
            && t.contains(&format!("{key} ="))
        {
            return Some(i + 1);
        }
    }
    // An inline table in the parent section.
    if let Some((outer, inner)) = section.rsplit_once('.') {
        let mut current = String::new();
        for (i, line) in text.lines().enumerate() {
            if let Some(h) = header_name(line) {
                current = h;
                continue;
            }
            let t = line.trim_start();
            if current == outer
                && t.starts_with(inner)
                && (t.contains(&format!("{key} =")) || t.contains(&format!("{key}=")))
            {
                return Some(i + 1);
            }
        }
    }
    None
}

/// `Some("a.b")` for a line `[a.b]` (comments and spaces allowed), else `None`.
pub(super) fn header_name(line: &str) -> Option<String> {
    let t = line.trim();
    let t = t.strip_prefix('[')?;
    let end = t.find(']')?;
    let name = t.get(..end)?;
    if name.starts_with('[') {
        return None;
    }
    Some(
        name.split('.')
            .map(|p| p.trim().trim_matches('"'))
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The closest known name within two edits (Levenshtein), for "did you mean".
pub(super) fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    if word.len() > 64 {
        return None;
    }
    known
        .iter()
        .map(|k| (strsim::levenshtein(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

pub(super) fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A value as written, short enough for one line of a problem.
pub(super) fn show_value(v: &toml::Value) -> String {
    let s = match v {
        toml::Value::Table(_) => "{ ... }".to_string(),
        v => v.to_string(),
    };
    if s.chars().count() > 80 {
        let mut short: String = s.chars().take(77).collect();
        short.push_str("...");
        short
    } else {
        s
    }
}

pub(super) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
