//! The it-system register (FORMS.md rule 7 "Who may order"): for each it-system its UUID, name,
//! role, organisation CVR and the sender addresses or domains that may order for it. Optional
//! (`rules.systems_file`); without it none of the register rules run.
//!
//! Two file formats, chosen by extension:
//!
//! CSV (`.csv`), one system per line after a header naming the columns (any order):
//! ```text
//! uuid,name,role,org_cvr,senders
//! 6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b,FamilieFlow,anvendersystem,54921942,@kystby.test it@leverandoer.test
//! ```
//! `senders` is a `;`- or space-separated list of addresses (`it@kystby.test`) and domains
//! (`@kystby.test` or `kystby.test`). A value containing a comma is put in double quotes.
//! Blank lines and lines starting with `#` are ignored.
//!
//! TOML (`.toml`):
//! ```text
//! [[system]]
//! uuid = "6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
//! name = "FamilieFlow"
//! role = "anvendersystem"
//! org_cvr = "54921942"
//! senders = ["@kystby.test", "it@leverandoer.test"]
//! ```
//!
//! A role is a role code or any role term of [`crate::forms::fields::ROLE_TERMS`]. A domain matches
//! only itself, not its subdomains (a register entry is a trust decision; it is not widened
//! silently).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::forms::fields::{ROLE_TERMS, Role, normalise};
use crate::forms::values;

/// The columns of the CSV format.
pub const CSV_COLUMNS: [&str; 5] = ["uuid", "name", "role", "org_cvr", "senders"];

/// A register file larger than this is refused (a register of thousands of systems is far
/// smaller).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// At most this many problems are reported; a file with more is likely not a register at all.
const MAX_PROBLEMS: usize = 50;

/// Who may order for a system: one address or a whole domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// A full address, lower case.
    Address(String),
    /// A domain, lower case, without `@`.
    Domain(String),
}

impl Sender {
    fn allows(&self, address: &str) -> bool {
        match self {
            Sender::Address(a) => a == address,
            Sender::Domain(d) => address.rsplit_once('@').is_some_and(|(_, ad)| ad == d),
        }
    }
}

/// One it-system of the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemEntry {
    /// Lower-case hyphenated UUID.
    pub uuid: String,
    pub name: String,
    pub role: Role,
    /// Eight digits.
    pub org_cvr: String,
    pub senders: Vec<Sender>,
    /// The line of the register file the entry starts on.
    pub line: usize,
}

impl SystemEntry {
    /// True when `address` (a bare address or `"Name <address>"`) is listed for the system,
    /// itself or by its domain; case-insensitive.
    pub fn allows_sender(&self, address: &str) -> bool {
        match canonical_address(address) {
            Some(a) => self.senders.iter().any(|s| s.allows(&a)),
            None => false,
        }
    }

    /// True when `address` itself (not only its domain) is listed for the system; such an
    /// address may speak for the system's orders without a verified sender
    /// ([`crate::orders::ownership`]).
    pub fn lists_address(&self, address: &str) -> bool {
        canonical_address(address).is_some_and(|a| {
            self.senders
                .iter()
                .any(|s| matches!(s, Sender::Address(listed) if *listed == a))
        })
    }

    /// True when receipts may go to `address` as the form's contact e-mail: the same list as
    /// for senders (a contact registered for the system is not an arbitrary address).
    pub fn allows_contact(&self, address: &str) -> bool {
        self.allows_sender(address)
    }
}

/// A valid address, wholly lower case (senders are compared case-insensitively).
fn canonical_address(address: &str) -> Option<String> {
    values::email(address).map(|a| a.to_lowercase())
}

/// One problem in a register file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line; `None` for the file as a whole.
    pub line: Option<usize>,
    pub message: String,
}

/// Why a register could not be loaded: every problem found (up to a limit), each with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterError {
    pub file: Option<PathBuf>,
    pub problems: Vec<Problem>,
}

impl RegisterError {
    pub fn whole(file: Option<&Path>, message: impl Into<String>) -> RegisterError {
        RegisterError {
            file: file.map(Path::to_path_buf),
            problems: vec![Problem {
                line: None,
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match (&self.file, p.line) {
                (Some(file), Some(l)) => write!(f, "{}:{l}: {}", file.display(), p.message)?,
                (Some(file), None) => write!(f, "{}: {}", file.display(), p.message)?,
                (None, Some(l)) => write!(f, "line {l}: {}", p.message)?,
                (None, None) => write!(f, "{}", p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for RegisterError {}

/// The it-system register, keyed by UUID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Register {
    systems: BTreeMap<String, SystemEntry>,
}

/// Collects problems while a file is read.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, line: Option<usize>, message: impl Into<String>) {
        if self.0.len() < MAX_PROBLEMS {
            self.0.push(Problem {
                line,
                message: message.into(),
            });
        } else if self.0.len() == MAX_PROBLEMS {
            self.0.push(Problem {
                line: None,
                message: "more problems follow; fix these first".into(),
            });
        }
    }
}

/// One system as written, before checking.
struct Written {
    line: usize,
    uuid: String,
    name: String,
    role: String,
    org_cvr: String,
    senders: Vec<String>,
}

/// One of the register's parsers ([`Register::from_csv`], [`Register::from_toml`]).
pub type Parser = fn(&str) -> Result<Register, RegisterError>;

impl Register {
    /// The parser for `path`'s format, `.csv` or `.toml` by extension: checked before the file
    /// is read, so a wrong file is named as such.
    pub fn parser_for(path: &Path) -> Result<Parser, RegisterError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Ok(Register::from_csv),
            Some("toml") => Ok(Register::from_toml),
            _ => Err(RegisterError::whole(
                Some(path),
                "the register must be a .csv or a .toml file (the extension says which)",
            )),
        }
    }

    /// Parses the register file `path` whose first bytes are `bytes` (the shell reads at most
    /// [`MAX_FILE_BYTES`] + 1 of them, so an over-size file is recognised here); problems
    /// name the file and line.
    pub fn from_file_bytes(path: &Path, bytes: Vec<u8>) -> Result<Register, RegisterError> {
        let parse = Register::parser_for(path)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(RegisterError::whole(
                Some(path),
                format!("larger than {MAX_FILE_BYTES} bytes; is it the right file?"),
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| RegisterError::whole(Some(path), "is not UTF-8 text; save it as UTF-8"))?;
        parse(&text).map_err(|mut e| {
            e.file = Some(path.to_path_buf());
            e
        })
    }

    /// Parses the CSV format (see the module doc).
    pub fn from_csv(text: &str) -> Result<Register, RegisterError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut problems = Problems::default();
        let mut written = Vec::new();
        let mut columns: Option<Vec<usize>> = None;
        for (i, raw_line) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let cells = match split_csv_line(trimmed) {
                Ok(c) => c,
                Err(msg) => {
                    problems.add(Some(line), msg);
                    continue;
                }
            };
            let Some(order) = &columns else {
                match csv_header(&cells, trimmed) {
                    Ok(order) => columns = Some(order),
                    Err(msg) => {
                        problems.add(Some(line), msg);
                        return Err(RegisterError {
                            file: None,
                            problems: problems.0,
                        });
                    }
                }
                continue;
            };
            if cells.len() != order.len() {
                problems.add(
                    Some(line),
                    format!(
                        "has {} columns, the header has {}; put double quotes around a value that contains a comma",
                        cells.len(),
                        order.len()
                    ),
                );
                continue;
            }
            let cell = |name: &str| -> String {
                CSV_COLUMNS
                    .iter()
                    .position(|c| *c == name)
                    .and_then(|k| order.get(k))
                    .and_then(|&idx| cells.get(idx))
                    .cloned()
                    .unwrap_or_default()
            };
            written.push(Written {
                line,
                uuid: cell("uuid"),
                name: cell("name"),
                role: cell("role"),
                org_cvr: cell("org_cvr"),
                senders: cell("senders")
                    .split([';', ' ', '\t'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            });
        }
        if columns.is_none() {
            problems.add(
                None,
                format!(
                    "no header line; the first line must be \"{}\"",
                    CSV_COLUMNS.join(",")
                ),
            );
        }
        build(written, problems)
    }

    /// Parses the TOML format (see the module doc).
    pub fn from_toml(text: &str) -> Result<Register, RegisterError> {
        let mut problems = Problems::default();
        let file: TomlFile = match toml::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let line = e.span().map(|s| line_at(text, s.start));
                problems.add(
                    line,
                    format!(
                        "{} (each system is a [[system]] table with uuid, name, role, org_cvr and senders)",
                        e.message().trim()
                    ),
                );
                return Err(RegisterError {
                    file: None,
                    problems: problems.0,
                });
            }
        };
        let mut written = Vec::new();
        for s in file.system {
            let line = line_at(text, s.span().start);
            let s = s.into_inner();
            let at = |v: &Spanned<toml::Value>| Some(line_at(text, v.span().start));
            let org_cvr = toml_org_cvr(s.org_cvr.get_ref());
            let senders = toml_senders(s.senders.get_ref());
            match (org_cvr, senders) {
                (Err(e), _) => problems.add(at(&s.org_cvr), e),
                (_, Err(e)) => problems.add(at(&s.senders), e),
                (Ok(org_cvr), Ok(senders)) => written.push(Written {
                    line,
                    uuid: s.uuid,
                    name: s.name,
                    role: s.role,
                    org_cvr,
                    senders,
                }),
            }
        }
        build(written, problems)
    }

    /// The system with this UUID (any case, braces allowed).
    pub fn lookup(&self, uuid: &str) -> Option<&SystemEntry> {
        let key = values::uuid(uuid)?;
        self.systems.get(&key)
    }

    /// The systems in UUID order.
    pub fn systems(&self) -> impl Iterator<Item = &SystemEntry> {
        self.systems.values()
    }

    pub fn len(&self) -> usize {
        self.systems.len()
    }

    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    system: Vec<Spanned<TomlSystem>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlSystem {
    uuid: String,
    name: String,
    role: String,
    org_cvr: Spanned<toml::Value>,
    senders: Spanned<toml::Value>,
}

/// A system's `org_cvr`: a string, or a number written without quotes.
fn toml_org_cvr(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(v) => Ok(v.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        other => Err(format!(
            "org_cvr must be a string such as \"54921942\", not {}",
            a_type(other)
        )),
    }
}

/// A system's `senders`: a list of strings, or one string of separated addresses and domains.
fn toml_senders(v: &toml::Value) -> Result<Vec<String>, String> {
    match v {
        toml::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(v) => Ok(v.trim().to_string()),
                other => Err(format!(
                    "senders must list strings such as \"@kystby.dk\", not {}",
                    a_type(other)
                )),
            })
            .collect(),
        toml::Value::String(v) => Ok(v
            .split([';', ',', ' ', '\t'])
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()),
        other => Err(format!(
            "senders must be a list such as [\"@kystby.dk\", \"it@kystby.dk\"], not {}",
            a_type(other)
        )),
    }
}

/// A TOML value's type with its article, for messages.
fn a_type(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a decimal number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// The 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    let before = bytes.get(..offset.min(bytes.len())).unwrap_or(bytes);
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Checks every written system and builds the register, or returns every problem.
fn build(written: Vec<Written>, mut problems: Problems) -> Result<Register, RegisterError> {
    let mut systems: BTreeMap<String, SystemEntry> = BTreeMap::new();
    let mut any = false;
    for w in written {
        any = true;
        if let Some(entry) = check_entry(&w, &mut problems) {
            if let Some(first) = systems.get(&entry.uuid) {
                problems.add(
                    Some(w.line),
                    format!(
                        "uuid {} is already listed on line {}; list each it-system once",
                        entry.uuid, first.line
                    ),
                );
                continue;
            }
            systems.insert(entry.uuid.clone(), entry);
        }
    }
    if !any && problems.0.is_empty() {
        problems.add(
            None,
            "lists no it-systems; add one per it-system, or unset rules.systems_file",
        );
    }
    if problems.0.is_empty() {
        Ok(Register { systems })
    } else {
        Err(RegisterError {
            file: None,
            problems: problems.0,
        })
    }
}

fn check_entry(w: &Written, problems: &mut Problems) -> Option<SystemEntry> {
    let line = Some(w.line);
    let before = problems.0.len();
    let uuid = values::uuid(&w.uuid);
    if uuid.is_none() {
        problems.add(
            line,
            format!(
                "uuid \"{}\" is not a UUID; write it as 8-4-4-4-12 hex digits, e.g. 6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
                w.uuid.trim()
            ),
        );
    }
    let name = w.name.trim().to_string();
    if name.is_empty() {
        problems.add(line, "name is empty; write the it-system's name");
    }
    let role = role_of(&w.role);
    if role.is_none() {
        problems.add(
            line,
            format!(
                "role \"{}\" is not an it-system role; write serviceudbydersystem, anvendersystem, modtagersystem or afsendersystem",
                w.role.trim()
            ),
        );
    }
    let org_cvr = values::cvr(&w.org_cvr);
    if org_cvr.is_none() {
        problems.add(
            line,
            format!(
                "org_cvr \"{}\" is not a valid CVR number (8 digits with a valid check digit)",
                w.org_cvr.trim()
            ),
        );
    }
    let mut senders = Vec::new();
    for s in &w.senders {
        match parse_sender(s) {
            Some(p) => {
                if !senders.contains(&p) {
                    senders.push(p);
                }
            }
            None => problems.add(
                line,
                format!(
                    "sender \"{s}\" is neither an e-mail address nor a domain; write e.g. it@kystby.dk or @kystby.dk"
                ),
            ),
        }
    }
    if w.senders.is_empty() {
        problems.add(
            line,
            "senders is empty; list the addresses or domains (e.g. @kystby.dk) that may order for this it-system",
        );
    }
    if problems.0.len() != before {
        return None;
    }
    Some(SystemEntry {
        uuid: uuid?,
        name,
        role: role?,
        org_cvr: org_cvr?,
        senders,
        line: w.line,
    })
}

/// A role code or any role term.
fn role_of(written: &str) -> Option<Role> {
    let n = normalise(written);
    ROLE_TERMS.iter().find(|(t, _)| *t == n).map(|(_, r)| *r)
}

/// `it@kystby.dk` is an address; `@kystby.dk` and `kystby.dk` are domains.
fn parse_sender(s: &str) -> Option<Sender> {
    let s = s.trim();
    let domain = s.strip_prefix('@').or((!s.contains('@')).then_some(s));
    match domain {
        Some(d) => {
            // A domain is valid when an address in it is.
            let d = d.trim_end_matches('.').to_lowercase();
            values::email(&format!("x@{d}")).map(|_| Sender::Domain(d))
        }
        None => canonical_address(s).map(Sender::Address),
    }
}

/// The header's column order: for each of [`CSV_COLUMNS`], its index in the line.
fn csv_header(cells: &[String], line: &str) -> Result<Vec<usize>, String> {
    let names: Vec<String> = cells.iter().map(|c| c.trim().to_lowercase()).collect();
    if names.len() == 1 && line.contains(';') {
        return Err(format!(
            "the header must separate the columns by commas: \"{}\"",
            CSV_COLUMNS.join(",")
        ));
    }
    for (i, n) in names.iter().enumerate() {
        if !CSV_COLUMNS.contains(&n.as_str()) {
            return Err(format!(
                "the header names an unknown column \"{n}\"; the columns are {}",
                CSV_COLUMNS.join(",")
            ));
        }
        if names[..i].contains(n) {
            return Err(format!("the header names the column \"{n}\" twice"));
        }
    }
    let mut order = Vec::new();
    let mut missing = Vec::new();
    for c in CSV_COLUMNS {
        match names.iter().position(|n| n == c) {
            Some(i) => order.push(i),
            None => missing.push(c),
        }
    }
    if missing.is_empty() {
        Ok(order)
    } else {
        Err(format!(
            "the header lacks the column(s) {}; the first line must be \"{}\"",
            missing.join(", "),
            CSV_COLUMNS.join(",")
        ))
    }
}

/// Splits one CSV line at commas; double quotes protect commas, `""` is a quote.
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut cell = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        cell.push('"');
                    }
                    Some('"') => break,
                    Some(c) => cell.push(c),
                    None => {
                        return Err(
                            "a double quote is not closed; close it on the same line (each system is one line)"
                                .into(),
                        );
                    }
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            match chars.next() {
                None => {
                    cells.push(cell);
                    return Ok(cells);
                }
                Some(',') => cells.push(cell),
                Some(_) => {
                    return Err(
                        "text follows a closing double quote; a quoted value must end at a comma"
                            .into(),
                    );
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        cells.push(cell.trim().to_string());
                        return Ok(cells);
                    }
                    Some(',') => {
                        cells.push(cell.trim().to_string());
                        break;
                    }
                    Some(c) => cell.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    const U2: &str = "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2";
    // Valid CVR numbers (modulus 11).
    const CVR1: &str = "54921942";
    const CVR2: &str = "29189846";

    fn csv(rows: &str) -> String {
        format!("uuid,name,role,org_cvr,senders\n{rows}")
    }

    fn problems(e: RegisterError) -> Vec<(Option<usize>, String)> {
        e.problems
            .into_iter()
            .map(|p| (p.line, p.message))
            .collect()
    }

    fn one_problem(text: &str) -> (Option<usize>, String) {
        let p = problems(Register::from_csv(text).unwrap_err());
        assert_eq!(p.len(), 1, "{p:?}");
        p.into_iter().next().unwrap()
    }

    #[test]
    fn csv_good_file() {
        let text = format!(
            "\u{feff}# it-systems\nuuid,name,role,org_cvr,senders\n\n{U1},FamilieFlow,Anvendersystem,DK {CVR1},@kystby.test; it@Leverandoer.TEST  drift.kystby.test\n\"{}\",\"Borger, Data\",dataejer,{CVR2},@borgerdata.test\n",
            U2.to_uppercase()
        );
        let r = Register::from_csv(&text).unwrap();
        assert_eq!(r.len(), 2);
        let e = r.lookup(U1).unwrap();
        assert_eq!(e.name, "FamilieFlow");
        assert_eq!(e.role, Role::Anvendersystem);
        assert_eq!(e.org_cvr, CVR1);
        assert_eq!(e.line, 4);
        assert_eq!(
            e.senders,
            vec![
                Sender::Domain("kystby.test".into()),
                Sender::Address("it@leverandoer.test".into()),
                Sender::Domain("drift.kystby.test".into()),
            ]
        );
        let e2 = r.lookup(U2).unwrap();
        assert_eq!(e2.name, "Borger, Data");
        assert_eq!(e2.role, Role::Serviceudbydersystem);
        assert_eq!(e2.uuid, U2);
    }

    #[test]
    fn csv_columns_in_any_order() {
        let text =
            format!("Senders , UUID,name,org_cvr,role\nit@kystby.test,{U1},X,{CVR1},afsender\n");
        let r = Register::from_csv(&text).unwrap();
        let e = r.lookup(U1).unwrap();
        assert_eq!(e.role, Role::Afsendersystem);
        assert!(e.allows_sender("it@kystby.test"));
    }

    #[test]
    fn csv_bad_header() {
        let (l, m) = one_problem(&format!(
            "uuid,name,role,cvr,senders\n{U1},X,anvender,{CVR1},@a.test\n"
        ));
        assert_eq!(l, Some(1));
        assert!(m.contains("unknown column \"cvr\""), "{m}");
        let (_, m) = one_problem("uuid,name,role,senders\n");
        assert!(m.contains("lacks the column(s) org_cvr"), "{m}");
        let (_, m) = one_problem("uuid;name;role;org_cvr;senders\n");
        assert!(m.contains("by commas"), "{m}");
        let (_, m) = one_problem("uuid,name,name,role,org_cvr,senders\n");
        assert!(m.contains("twice"), "{m}");
        let (l, m) = one_problem("# only a comment\n\n");
        assert_eq!(l, None);
        assert!(m.contains("no header"), "{m}");
    }

    #[test]
    fn csv_every_kind_of_bad_line() {
        let cases = [
            (format!("nope,X,anvender,{CVR1},@a.test"), "is not a UUID"),
            (format!("{U1},  ,anvender,{CVR1},@a.test"), "name is empty"),
            (
                format!("{U1},X,bruger,{CVR1},@a.test"),
                "not an it-system role",
            ),
            (
                format!("{U1},X,anvender,12345678,@a.test"),
                "not a valid CVR",
            ),
            (format!("{U1},X,anvender,{CVR1},"), "senders is empty"),
            (format!("{U1},X,anvender,{CVR1},a@b@c"), "neither an e-mail"),
            (
                format!("{U1},X,anvender,{CVR1},@nodot"),
                "neither an e-mail",
            ),
            (format!("{U1},X,anvender,{CVR1}"), "has 4 columns"),
            (
                format!("{U1},Borger, Data,anvender,{CVR1},@a.test"),
                "double quotes",
            ),
            (format!("{U1},\"X,anvender,{CVR1},@a.test"), "not closed"),
            (
                format!("{U1},\"X\"y,anvender,{CVR1},@a.test"),
                "closing double quote",
            ),
        ];
        for (row, want) in cases {
            let (l, m) = one_problem(&csv(&row));
            assert_eq!(l, Some(2), "{row}");
            assert!(m.contains(want), "{row}: {m}");
        }
    }

    #[test]
    fn csv_reports_every_problem_with_its_line() {
        let text = csv(&format!(
            "{U1},X,anvender,{CVR1},@a.test\nbad,X,anvender,{CVR1},@a.test\n{U1},Y,anvender,{CVR1},@a.test\n{U2},Z,anvender,1,@a.test\n"
        ));
        let p = problems(Register::from_csv(&text).unwrap_err());
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0].0, Some(3));
        assert_eq!(p[1].0, Some(4));
        assert!(p[1].1.contains("already listed on line 2"), "{}", p[1].1);
        assert_eq!(p[2].0, Some(5));
        // One line with several problems reports each.
        let p = problems(Register::from_csv(&csv("x,,y,z,")).unwrap_err());
        assert_eq!(p.len(), 5, "{p:?}");
    }

    #[test]
    fn problems_are_bounded() {
        let rows: String = (0..200).map(|_| "bad,X,anvender,1,@a.test\n").collect();
        let p = problems(Register::from_csv(&csv(&rows)).unwrap_err());
        assert_eq!(p.len(), MAX_PROBLEMS + 1);
    }

    #[test]
    fn an_empty_register_is_an_error() {
        let (l, m) = one_problem("uuid,name,role,org_cvr,senders\n");
        assert_eq!(l, None);
        assert!(m.contains("no it-systems"), "{m}");
        let e = Register::from_toml("").unwrap_err();
        assert!(e.problems[0].message.contains("no it-systems"));
    }

    #[test]
    fn toml_good_file() {
        let text = format!(
            "# register\n[[system]]\nuuid = \"{U1}\"\nname = \"FamilieFlow\"\nrole = \"Modtager\"\norg_cvr = \"{CVR1}\"\nsenders = [\"@kystby.test\", \"IT@leverandoer.test\"]\n\n[[system]]\nuuid = \"{U2}\"\nname = \"Y\"\nrole = \"serviceudbydersystem\"\norg_cvr = {CVR2}\nsenders = \"@a.test; b@c.test\"\n"
        );
        let r = Register::from_toml(&text).unwrap();
        let e = r.lookup(U1).unwrap();
        assert_eq!(e.role, Role::Modtagersystem);
        assert_eq!(e.line, 2);
        assert!(e.allows_sender("it@leverandoer.test"));
        let e2 = r.lookup(U2).unwrap();
        assert_eq!(e2.org_cvr, CVR2);
        assert_eq!(e2.line, 9);
        assert_eq!(e2.senders.len(), 2);
    }

    #[test]
    fn toml_bad_files() {
        let base = |extra: &str| {
            format!("[[system]]\nuuid = \"{U1}\"\nname = \"X\"\nrole = \"anvender\"\n{extra}")
        };
        // Missing key, unknown key, wrong types, bad values, syntax.
        let cases = [
            (base(&format!("org_cvr = \"{CVR1}\"\n")), "senders"),
            (
                base(&format!(
                    "org_cvr = \"{CVR1}\"\nsenders = [\"@a.test\"]\ncontact = \"x\"\n"
                )),
                "contact",
            ),
            (
                base("org_cvr = 1.5\nsenders = [\"@a.test\"]\n"),
                "org_cvr must be a string",
            ),
            (
                base(&format!("org_cvr = \"{CVR1}\"\nsenders = [1]\n")),
                "must list strings",
            ),
            (
                base(&format!("org_cvr = \"{CVR1}\"\nsenders = 1\n")),
                "must be a list",
            ),
            (
                base("org_cvr = \"11111111\"\nsenders = [\"@a.test\"]\n"),
                "not a valid CVR",
            ),
            (
                base(&format!("org_cvr = \"{CVR1}\"\nsenders = [\n")),
                "[[system]]",
            ),
            (format!("[[systems]]\nuuid = \"{U1}\"\n"), "systems"),
        ];
        for (text, want) in cases {
            let e = Register::from_toml(&text).unwrap_err();
            assert_eq!(e.problems.len(), 1, "{text}: {e:?}");
            let p = &e.problems[0];
            assert!(p.line.is_some(), "{text}: {e}");
            assert!(p.message.contains(want), "{text}: {}", p.message);
        }
        // The line of a value problem is the system's line or the value's own line.
        let e = Register::from_toml(&format!(
            "[[system]]\nuuid = \"{U1}\"\nname = \"X\"\nrole = \"anvender\"\norg_cvr = \"{CVR1}\"\nsenders = [\"@a.test\"]\n[[system]]\nuuid = \"{U1}\"\nname = \"X\"\nrole = \"anvender\"\norg_cvr = \"{CVR1}\"\nsenders = [\"@a.test\"]\n"
        ))
        .unwrap_err();
        assert_eq!(e.problems[0].line, Some(7));
        assert!(e.problems[0].message.contains("already listed on line 1"));
    }

    #[test]
    fn lookup_normalises_the_uuid() {
        let r = Register::from_csv(&csv(&format!("{U1},X,anvender,{CVR1},@a.test"))).unwrap();
        assert!(r.lookup(&U1.to_uppercase()).is_some());
        assert!(r.lookup(&format!("{{{U1}}}")).is_some());
        assert!(r.lookup(U2).is_none());
        assert!(r.lookup("").is_none());
        assert!(r.lookup("not a uuid").is_none());
        assert_eq!(r.systems().count(), 1);
        assert!(!r.is_empty());
    }

    #[test]
    fn senders_by_address_and_domain() {
        let r = Register::from_csv(&csv(&format!(
            "{U1},X,anvender,{CVR1},@Kystby.test it@leverandoer.test"
        )))
        .unwrap();
        let e = r.lookup(U1).unwrap();
        assert!(e.allows_sender("fa@kystby.test"));
        assert!(e.allows_sender("FA@KYSTBY.TEST"));
        assert!(e.allows_sender("Lars <fa@kystby.test>"));
        assert!(e.allows_sender("IT@leverandoer.test"));
        assert!(!e.allows_sender("other@leverandoer.test"));
        assert!(!e.allows_sender("fa@sub.kystby.test"));
        assert!(!e.allows_sender("fa@kystby.test.evil.test"));
        assert!(!e.allows_sender("kystby.test"));
        assert!(!e.allows_sender(""));
        assert!(!e.allows_sender("x@evil.test, y@kystby.test"));
        assert!(e.allows_contact("kontakt@kystby.test"));
        assert!(!e.allows_contact("kontakt@evil.test"));
    }

    #[test]
    fn the_example_register_parses() {
        let r = Register::from_csv(include_str!("../../examples/systems.csv")).unwrap();
        assert_eq!(r.len(), 3);
        let e = r.lookup(U2).unwrap();
        assert!(e.allows_sender("fa@example.test"));
        assert_eq!(e.role, Role::Modtagersystem);
    }

    #[test]
    fn csv_split_edges() {
        assert_eq!(split_csv_line("a, b ,c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(
            split_csv_line("\"a,\"\"b\"\"\" , c,").unwrap(),
            vec!["a,\"b\"", "c", ""]
        );
        assert_eq!(split_csv_line("").unwrap(), vec![""]);
        assert!(split_csv_line("\"").is_err());
        assert_eq!(line_at("a\nb\nc", 4), 3);
        assert_eq!(line_at("a", 99), 1);
        assert_eq!(line_at("æ\nb", 1), 1);
    }
}
