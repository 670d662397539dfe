//! The daemon's configuration: one TOML file, read once at start.
//!
//! Loading never stops at the first mistake: every problem is collected and reported with the
//! file, the line, the key, what is wrong and what to do, so `spdesk config check` can list them
//! all at once. Unknown keys are problems too, so a typo is never silently ignored.
//!
//! Relative paths (files, and the SQLite file in `database.url`) are relative to the config
//! file's folder and are resolved to absolute paths in the loaded [`Config`]. Secrets are read
//! when they are used ([`Secret::resolve`]), never kept in logs: their `Debug` shows `***`.

pub mod warnings;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

use crate::forms::raw::ReadLimits;

/// Where the config is looked for when neither `--config` nor `$SPDESK_CONFIG` names one.
pub const DEFAULT_PATH: &str = "config/spdesk.toml";
/// The environment variable that names the config file.
pub const ENV_VAR: &str = "SPDESK_CONFIG";
/// How long `oauth_token_command` may run before it is killed.
pub const SECRET_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The sections `spdesk check` reads; the rest of the file is ignored for it.
pub const CHECK_SECTIONS: &[&str] = &["rules", "limits"];

const SECTIONS: &[&str] = &[
    "imap",
    "smtp",
    "database",
    "helpdesk",
    "limits",
    "executors",
    "rules",
    "schedule",
    "billing",
];

/// The config file: `--config`, else `$SPDESK_CONFIG`, else `config/spdesk.toml` when it exists.
///
/// `None` means "no file": `spdesk check` then runs on the built-in defaults
/// ([`CheckConfig::default`]); every other command needs a file.
pub fn locate(cli: Option<&Path>) -> Option<PathBuf> {
    locate_with(cli, std::env::var_os(ENV_VAR), |p| p.is_file())
}

/// [`locate`] with the environment and the file system passed in, so the order is testable.
fn locate_with(
    cli: Option<&Path>,
    env: Option<std::ffi::OsString>,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(p) = cli {
        return Some(p.to_path_buf());
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return Some(PathBuf::from(e));
    }
    let default = Path::new(DEFAULT_PATH);
    exists(default).then(|| default.to_path_buf())
}

// ---------------------------------------------------------------------------------------------
// The loaded configuration
// ---------------------------------------------------------------------------------------------

/// Everything the daemon needs, validated; paths are absolute.
#[derive(Debug, Clone)]
pub struct Config {
    pub imap: Imap,
    pub smtp: Smtp,
    pub database: Database,
    pub helpdesk: Helpdesk,
    pub limits: Limits,
    pub executors: Executors,
    pub rules: RulesConfig,
    pub schedule: Schedule,
    pub billing: Billing,
    /// The file it came from, as given (`None` when loaded from a string without a path).
    pub path: Option<PathBuf>,
}

/// What `spdesk check` needs: only `[rules]` and `[limits]`, so it runs without servers.
#[derive(Debug, Clone, Default)]
pub struct CheckConfig {
    pub rules: RulesConfig,
    pub limits: Limits,
    pub path: Option<PathBuf>,
}

/// Transport security of a mail connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain text (only for a local test stack on loopback).
    None,
    /// Plain connection upgraded with STARTTLS.
    StartTls,
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
}

impl Tls {
    pub fn as_str(self) -> &'static str {
        match self {
            Tls::None => "none",
            Tls::StartTls => "starttls",
            Tls::Tls => "tls",
        }
    }
    fn parse(s: &str) -> Option<Tls> {
        match s {
            "none" => Some(Tls::None),
            "starttls" => Some(Tls::StartTls),
            "tls" => Some(Tls::Tls),
            _ => None,
        }
    }
    /// The usual IMAP port for this kind of connection.
    pub fn default_imap_port(self) -> u16 {
        match self {
            Tls::Tls => 993,
            _ => 143,
        }
    }
    /// The usual SMTP submission port for this kind of connection.
    pub fn default_smtp_port(self) -> u16 {
        match self {
            Tls::Tls => 465,
            Tls::StartTls => 587,
            Tls::None => 25,
        }
    }
}

/// How the daemon logs in to a mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No login (SMTP relay on loopback only).
    None,
    /// User name and password (IMAP LOGIN / SMTP AUTH PLAIN/LOGIN).
    Password,
    /// OAuth 2 bearer token (Microsoft 365).
    XOAuth2,
}

impl Auth {
    pub fn as_str(self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Password => "password",
            Auth::XOAuth2 => "xoauth2",
        }
    }
    fn parse(s: &str) -> Option<Auth> {
        match s {
            "none" => Some(Auth::None),
            "password" => Some(Auth::Password),
            "xoauth2" => Some(Auth::XOAuth2),
            _ => None,
        }
    }
}

/// Where a password or OAuth token comes from; read at use time by [`Secret::resolve`], so a
/// rotated password file or a refreshed token is picked up without a restart.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// `password = "..."` written in the config.
    Password(String),
    /// `password_file = "..."`: the first line of the file (trailing newline removed).
    PasswordFile(PathBuf),
    /// `password_env = "NAME"`: the value of an environment variable.
    PasswordEnv(String),
    /// `oauth_token_file = "..."`: an access token kept fresh by another process.
    OAuthTokenFile(PathBuf),
    /// `oauth_token_command = "..."`: a shell command that prints an access token.
    OAuthTokenCommand(String),
}

/// Never prints a password or a command (which may carry a client secret); file paths and
/// variable names are not secret and help diagnose.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(***)"),
            Secret::PasswordFile(p) => write!(f, "PasswordFile({p:?})"),
            Secret::PasswordEnv(n) => write!(f, "PasswordEnv({n:?})"),
            Secret::OAuthTokenFile(p) => write!(f, "OAuthTokenFile({p:?})"),
            Secret::OAuthTokenCommand(_) => f.write_str("OAuthTokenCommand(***)"),
        }
    }
}

impl Secret {
    /// The config key this secret was given with.
    pub fn key(&self) -> &'static str {
        match self {
            Secret::Password(_) => "password",
            Secret::PasswordFile(_) => "password_file",
            Secret::PasswordEnv(_) => "password_env",
            Secret::OAuthTokenFile(_) => "oauth_token_file",
            Secret::OAuthTokenCommand(_) => "oauth_token_command",
        }
    }

    /// The password or token itself: reads the file, the variable or runs the command now.
    pub fn resolve(&self) -> Result<String, ConfigError> {
        self.resolve_with_timeout(SECRET_COMMAND_TIMEOUT)
    }

    fn resolve_with_timeout(&self, timeout: Duration) -> Result<String, ConfigError> {
        let fail = |message: String| ConfigError::Secret {
            key: self.key(),
            message,
        };
        let value = match self {
            Secret::Password(p) => p.clone(),
            Secret::PasswordFile(path) | Secret::OAuthTokenFile(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                let first = text.lines().next().unwrap_or("");
                first.trim_end_matches(['\r', '\n']).to_string()
            }
            Secret::PasswordEnv(name) => std::env::var(name).map_err(|_| {
                fail(format!(
                    "environment variable {name} is not set (or not UTF-8): export it before starting spdesk"
                ))
            })?,
            Secret::OAuthTokenCommand(cmd) => run_token_command(cmd, timeout).map_err(fail)?,
        };
        if value.is_empty() {
            return Err(fail("is empty".to_string()));
        }
        Ok(value)
    }
}

/// Runs `sh -c COMMAND` and returns its first output line; killed after `timeout`.
fn run_token_command(cmd: &str, timeout: Duration) -> Result<String, String> {
    use std::process::{Command, Stdio};
    use std::sync::mpsc;
    /// A token is a few kB; more is a mistake, and reading stops there.
    const MAX_OUTPUT: u64 = 64 * 1024;

    let deadline = Instant::now() + timeout;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("oauth_token_command could not start: {e}"))?;
    let stdout = child.stdout.take();
    let (tx, rx) = mpsc::channel();
    // A reader thread, so a command that fills the pipe cannot block its own exit; if a
    // grandchild keeps the pipe open we stop waiting at the deadline and leave the thread.
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_OUTPUT).read_to_end(&mut out);
        }
        let _ = tx.send(out);
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "oauth_token_command did not finish within {}",
                    format_duration(timeout)
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("oauth_token_command: {e}")),
        }
    };
    if !status.success() {
        return Err(format!("oauth_token_command failed ({status})"));
    }
    let out = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .map_err(|_| "oauth_token_command kept its output open too long".to_string())?;
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or("").trim().to_string())
}

/// `[imap]`: the Helpdesk mailbox the daemon reads.
#[derive(Debug, Clone)]
pub struct Imap {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    /// Extra CA certificate(s) (PEM) to trust besides the system's, e.g. for a private CA.
    pub ca_file: Option<PathBuf>,
    pub username: String,
    /// `Password` or `XOAuth2`.
    pub auth: Auth,
    pub secret: Secret,
    pub mailbox: String,
    pub processed_folder: String,
    pub quarantine_folder: String,
    pub idle: bool,
    pub poll_interval: Duration,
}

/// `[smtp]`: where receipts, digests and billing mails are sent.
#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
    pub auth: Auth,
    /// Set exactly when `auth` is not `None`.
    pub username: Option<String>,
    /// Set exactly when `auth` is not `None`.
    pub secret: Option<Secret>,
    /// The From of every mail the daemon sends (`addr` or `Name <addr>`).
    pub from: String,
}

/// `[database]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// `sqlite://...` (a relative file already resolved against the config folder) or
    /// `postgres://...`, ready for sqlx.
    pub url: String,
}

impl Database {
    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }

    /// The SQLite file, so the shell can create its folder; `None` for PostgreSQL or memory.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let (db, params) = split_sqlite_url(&self.url)?;
        if db.is_empty() || db == ":memory:" || params.is_some_and(|p| p.contains("mode=memory")) {
            return None;
        }
        Some(PathBuf::from(percent_decode(db)))
    }

    /// The URL with any password replaced by `***`, for logs and summaries.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// The URL may hold a PostgreSQL password.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.redacted_url())
            .finish()
    }
}

/// `[helpdesk]`: who we are and whom we tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helpdesk {
    /// The Helpdesk mailbox; never answered (loop safety).
    pub address: String,
    /// Domains whose mail never gets a receipt (lower case).
    pub own_domains: Vec<String>,
    /// Who decides orders in `review` (default: `address`).
    pub review_to: Vec<String>,
    /// Who gets the daily digest (default: `address`).
    pub digest_to: Vec<String>,
    /// Who is told when an order fails (default: `address`).
    pub incident_to: Vec<String>,
    /// Who gets the billing CSV (default: `address`).
    pub billing_to: Vec<String>,
    /// A rejected order with no corrected version after this many days is closed in the digest.
    pub stale_rejected_days: u32,
}

/// `[limits]`: bounds that keep a hostile or broken mail from exhausting the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: u64,
    pub max_attachments: usize,
    pub max_docx_unzipped_bytes: u64,
    pub max_docx_entries: usize,
    pub max_xml_depth: usize,
    pub max_pdf_pages: usize,
    pub max_pdf_objects: usize,
    /// Bytes all of one PDF's streams may inflate to, together.
    pub max_pdf_inflated_bytes: u64,
    /// Elements kept from one .docx's main XML part.
    pub max_docx_xml_nodes: usize,
    /// Order forms taken from one mail (the whole MIME tree); the rest go to a person.
    pub max_forms_per_mail: usize,
    /// MIME parts per mail, counted on the raw bytes; a mail with more is not parsed.
    pub max_mime_parts: usize,
    pub reader_timeout: Duration,
    /// Address space of the sandboxed reader child (`RLIMIT_AS`): a document that needs more
    /// to read is unreadable, and the daemon's own memory is untouched.
    pub reader_memory: u64,
    /// A message that failed (or killed the process) this many times is quarantined.
    pub max_attempts: u32,
    pub receipts_per_address_per_hour: u32,
    /// Receipts to anyone per hour (the overall cap); more are deferred, never dropped.
    pub receipts_per_hour: u32,
    /// Forms from one sender made into orders per hour; a mail beyond it goes to a person.
    pub orders_per_sender_per_hour: u32,
    /// Review mails to `helpdesk.review_to` per hour; the rest go in one summary an hour.
    pub review_mails_per_hour: u32,
    /// Header fields per mail; a mail with more is not parsed but goes to a person.
    pub max_header_count: usize,
    /// The whole header section of a mail, in bytes; larger: not parsed, to a person.
    pub max_header_bytes: u64,
    /// One header field (with its folded continuation lines), in bytes; larger: to a person.
    pub max_header_field_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let r = ReadLimits::default();
        Limits {
            max_message_bytes: 25_000_000,
            max_attachments: 20,
            max_docx_unzipped_bytes: r.max_docx_unzipped_bytes,
            max_docx_entries: r.max_docx_entries,
            max_xml_depth: r.max_xml_depth,
            max_pdf_pages: r.max_pdf_pages,
            max_pdf_objects: r.max_pdf_objects,
            max_pdf_inflated_bytes: r.max_pdf_inflated_bytes,
            max_docx_xml_nodes: r.max_docx_xml_nodes,
            max_forms_per_mail: 10,
            // Counted as lines starting with "--" (an upper bound on the parts); ordinary mail
            // has fewer than 50.
            max_mime_parts: 1000,
            reader_timeout: Duration::from_secs(10),
            reader_memory: 512 * 1024 * 1024,
            max_attempts: 3,
            receipts_per_address_per_hour: 30,
            receipts_per_hour: 300,
            orders_per_sender_per_hour: 20,
            review_mails_per_hour: 30,
            // Ordinary mail has 20-200 fields and a few kB of header; Microsoft 365's longest
            // (ARC, DKIM, References in long threads) stay well below these.
            max_header_count: 1000,
            max_header_bytes: 1_000_000,
            max_header_field_bytes: 64_000,
        }
    }
}

impl Limits {
    /// The part of the limits that the document readers enforce.
    pub fn read_limits(&self) -> ReadLimits {
        ReadLimits {
            max_docx_unzipped_bytes: self.max_docx_unzipped_bytes,
            max_docx_entries: self.max_docx_entries,
            max_xml_depth: self.max_xml_depth,
            max_pdf_pages: self.max_pdf_pages,
            max_pdf_objects: self.max_pdf_objects,
            max_pdf_inflated_bytes: self.max_pdf_inflated_bytes,
            max_docx_xml_nodes: self.max_docx_xml_nodes,
        }
    }
}

/// `[executors]`: optional commands that carry out an approved order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executors {
    /// Shell command for `webservice` orders; `None`: a person executes and runs
    /// `spdesk orders execute`.
    pub webservice: Option<String>,
    pub sftp: Option<String>,
    pub timeout: Duration,
}

impl Default for Executors {
    fn default() -> Self {
        Executors {
            webservice: None,
            sftp: None,
            timeout: Duration::from_secs(300),
        }
    }
}

/// The daily time span in which changes are made: start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeWindow {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl ChangeWindow {
    pub fn contains(&self, t: NaiveTime) -> bool {
        self.start <= t && t < self.end
    }
}

impl Default for ChangeWindow {
    fn default() -> Self {
        ChangeWindow {
            start: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN),
            end: NaiveTime::from_hms_opt(15, 0, 0).unwrap_or(NaiveTime::MIN),
        }
    }
}

impl fmt::Display for ChangeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start.hour(),
            self.start.minute(),
            self.end.hour(),
            self.end.minute()
        )
    }
}

/// A closed day that recurs every year, e.g. 24 December.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl MonthDay {
    pub fn matches(&self, date: NaiveDate) -> bool {
        date.month() == self.month && date.day() == self.day
    }
}

impl fmt::Display for MonthDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}-{:02}", self.month, self.day)
    }
}

/// `[rules]`: the knobs of the rules in FORMS.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesConfig {
    pub lead_working_days: u32,
    pub change_window: ChangeWindow,
    pub extra_closed_days: Vec<MonthDay>,
    pub max_days_ahead: u32,
    /// The it-system register (who may order for which system).
    pub systems_file: Option<PathBuf>,
    /// BestillingsIDs imported from Digitaliseringskataloget.
    pub known_orders_file: Option<PathBuf>,
    /// PEM bundle of trusted CAs; `None`: the system's trust store.
    pub trusted_ca_file: Option<PathBuf>,
    /// authserv-ids whose Authentication-Results headers count (our own MX).
    pub trusted_authserv_ids: Vec<String>,
    /// The mailbox is on Microsoft 365: Exchange Online's Authentication-Results (no
    /// authserv-id) on top of a mail counts.
    pub trust_exchange_online: bool,
    pub security_models: Vec<String>,
    /// Allowed datatypes; empty: any.
    pub datatypes: Vec<String>,
    /// A regular expression a BestillingsID must match as a whole; `None`: only the built-in
    /// shape (no spaces, 4–64 characters).
    pub bestillings_id_pattern: Option<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            lead_working_days: 5,
            change_window: ChangeWindow::default(),
            extra_closed_days: vec![
                MonthDay { month: 12, day: 24 },
                MonthDay { month: 12, day: 31 },
            ],
            max_days_ahead: 365,
            systems_file: None,
            known_orders_file: None,
            trusted_ca_file: None,
            trusted_authserv_ids: Vec::new(),
            trust_exchange_online: false,
            security_models: vec!["token".to_string(), "kontekst".to_string()],
            datatypes: Vec::new(),
            bestillings_id_pattern: None,
        }
    }
}

/// `[schedule]`: when the daemon's periodic jobs run.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub timezone: chrono_tz::Tz,
    pub digest: cron::Schedule,
    pub billing: cron::Schedule,
}

/// `[billing]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Billing {
    pub prices: Prices,
    pub currency: String,
}

/// The price of one executed standard service, per form kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub webservice: f64,
    pub sftp: f64,
}

impl Prices {
    /// The price for a form kind (`"webservice"` or `"sftp"`).
    pub fn get(&self, kind: &str) -> Option<f64> {
        match kind {
            "webservice" => Some(self.webservice),
            "sftp" => Some(self.sftp),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// One thing wrong in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: Option<PathBuf>,
    /// 1-based; `None` when the problem has no place (e.g. a missing section).
    pub line: Option<usize>,
    /// `[section] key`, `[section]`, or empty for the whole file.
    pub key: String,
    /// The value as written (TOML syntax), `"***"` for secrets.
    pub value: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => write!(f, "{}", p.display())?,
            None => f.write_str("<config>")?,
        }
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        f.write_str(":")?;
        if !self.key.is_empty() {
            write!(f, " {}", self.key)?;
            if let Some(v) = &self.value {
                write!(f, " = {v}")?;
            }
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Why a config could not be loaded, or a secret not resolved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the config file: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, one per line in `Display`.
    #[error("{}", join_problems(.0))]
    Invalid(Vec<Problem>),
    #[error("{key}: {message}")]
    Secret { key: &'static str, message: String },
}

impl ConfigError {
    /// The problems of an invalid config (empty for the other kinds).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            _ => &[],
        }
    }
}

fn join_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

impl Config {
    /// Reads and validates the whole file, as the daemon and every command but `check` need.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = read_file(path)?;
        Config::from_str(&text, Some(path))
    }

    /// Validates `text`; `path` names it in problems and anchors relative paths (without it,
    /// relative paths are relative to the current folder).
    pub fn from_str(text: &str, path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cx = Cx::new(text, path);
        let Some(sections) = cx.parse() else {
            return Err(ConfigError::Invalid(cx.finish()));
        };
        cx.unknown_sections(&sections, SECTIONS);
        let mut imap = None;
        let mut smtp = None;
        let mut database = None;
        let mut helpdesk = None;
        let mut billing = None;
        if let Some(mut s) = cx.required_section(&sections, "imap", "host, username and a password")
        {
            imap = read_imap(&mut s);
            s.finish();
        }
        if let Some(mut s) = cx.required_section(&sections, "smtp", "host and from") {
            smtp = read_smtp(&mut s);
            s.finish();
        }
        if let Some(mut s) = cx.required_section(&sections, "database", "url") {
            database = read_database(&mut s);
            s.finish();
        }
        if let Some(mut s) = cx.required_section(&sections, "helpdesk", "address") {
            helpdesk = read_helpdesk(&mut s);
            s.finish();
        }
        let mut s = cx.section(&sections, "limits");
        let limits = read_limits(&mut s);
        s.finish();
        let mut s = cx.section(&sections, "executors");
        let executors = read_executors(&mut s);
        s.finish();
        let mut s = cx.section(&sections, "rules");
        let rules = read_rules(&mut s);
        s.finish();
        let mut s = cx.section(&sections, "schedule");
        let schedule = read_schedule(&mut s);
        s.finish();
        if let Some(mut s) = cx.required_section(&sections, "billing", "prices") {
            billing = read_billing(&mut s);
            s.finish();
        }
        let problems = cx.finish();
        match (imap, smtp, database, helpdesk, schedule, billing) {
            (
                Some(imap),
                Some(smtp),
                Some(database),
                Some(helpdesk),
                Some(schedule),
                Some(billing),
            ) if problems.is_empty() => Ok(Config {
                imap,
                smtp,
                database,
                helpdesk,
                limits,
                executors,
                rules,
                schedule,
                billing,
                path: path.map(Path::to_path_buf),
            }),
            _ if problems.is_empty() => Err(ConfigError::Invalid(vec![Problem {
                file: path.map(Path::to_path_buf),
                line: None,
                key: String::new(),
                value: None,
                message: "incomplete configuration".to_string(),
            }])),
            _ => Err(ConfigError::Invalid(problems)),
        }
    }

    /// Reads only `[rules]` and `[limits]`, as `spdesk check` does; the other sections may be
    /// absent (or anything) and are not looked at.
    pub fn load_for_check(path: &Path) -> Result<CheckConfig, ConfigError> {
        let text = read_file(path)?;
        Config::from_str_for_check(&text, Some(path))
    }

    /// [`Config::load_for_check`] on a string.
    pub fn from_str_for_check(text: &str, path: Option<&Path>) -> Result<CheckConfig, ConfigError> {
        let mut cx = Cx::new(text, path);
        let Some(sections) = cx.parse() else {
            return Err(ConfigError::Invalid(cx.finish()));
        };
        let mut s = cx.section(&sections, "limits");
        let limits = read_limits(&mut s);
        s.finish();
        let mut s = cx.section(&sections, "rules");
        let rules = read_rules(&mut s);
        s.finish();
        let problems = cx.finish();
        if problems.is_empty() {
            Ok(CheckConfig {
                rules,
                limits,
                path: path.map(Path::to_path_buf),
            })
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The folder relative paths were resolved against.
    pub fn dir(&self) -> PathBuf {
        base_dir(self.path.as_deref())
    }

    /// What `spdesk check` would use from this config.
    pub fn check_config(&self) -> CheckConfig {
        CheckConfig {
            rules: self.rules.clone(),
            limits: self.limits.clone(),
            path: self.path.clone(),
        }
    }

    /// The effective configuration as TOML, every default filled in and every secret shown as
    /// `"***"`: the output of `spdesk config check`.
    pub fn redacted_summary(&self) -> String {
        let mut w = Summary::default();
        w.comment(
            "spdesk configuration: effective values, defaults filled in, secrets shown as \"***\"",
        );
        if let Some(p) = &self.path {
            w.comment(&format!("from {}", p.display()));
        }

        let i = &self.imap;
        w.section("imap");
        w.str("host", &i.host);
        w.raw("port", &i.port.to_string());
        w.str("tls", i.tls.as_str());
        w.opt_path("ca_file", i.ca_file.as_deref());
        w.str("username", &i.username);
        w.str("auth", i.auth.as_str());
        w.secret(Some(&i.secret));
        w.str("mailbox", &i.mailbox);
        w.str("processed_folder", &i.processed_folder);
        w.str("quarantine_folder", &i.quarantine_folder);
        w.raw("idle", &i.idle.to_string());
        w.str("poll_interval", &format_duration(i.poll_interval));

        let s = &self.smtp;
        w.section("smtp");
        w.str("host", &s.host);
        w.raw("port", &s.port.to_string());
        w.str("tls", s.tls.as_str());
        w.opt_path("ca_file", s.ca_file.as_deref());
        w.str("auth", s.auth.as_str());
        match &s.username {
            Some(u) => w.str("username", u),
            None => w.comment("username: not used"),
        }
        w.secret(s.secret.as_ref());
        w.str("from", &s.from);

        w.section("database");
        w.str("url", &self.database.redacted_url());

        let h = &self.helpdesk;
        w.section("helpdesk");
        w.str("address", &h.address);
        w.list("own_domains", &h.own_domains);
        w.list("review_to", &h.review_to);
        w.list("digest_to", &h.digest_to);
        w.list("incident_to", &h.incident_to);
        w.list("billing_to", &h.billing_to);
        w.raw("stale_rejected_days", &h.stale_rejected_days.to_string());

        w.limits(&self.limits);

        let e = &self.executors;
        w.section("executors");
        for (key, cmd) in [("webservice", &e.webservice), ("sftp", &e.sftp)] {
            match cmd {
                Some(c) => w.str(key, c),
                None => w.comment(&format!("{key}: not set (a person executes)")),
            }
        }
        if (e.webservice.is_some() || e.sftp.is_some()) && self.rules.systems_file.is_none() {
            w.comment(
                "notice: no it-system register (rules.systems_file), so these commands do not run by themselves; a person executes approved orders (spdesk orders execute REF)",
            );
        }
        w.str("timeout", &format_duration(e.timeout));

        w.rules(&self.rules);

        let sc = &self.schedule;
        w.section("schedule");
        w.str("timezone", sc.timezone.name());
        w.str("digest", sc.digest.source());
        w.str("billing", sc.billing.source());

        let b = &self.billing;
        w.section("billing");
        w.raw(
            "prices",
            &format!(
                "{{ webservice = {}, sftp = {} }}",
                toml::Value::Float(b.prices.webservice),
                toml::Value::Float(b.prices.sftp)
            ),
        );
        w.str("currency", &b.currency);
        w.0
    }
}

impl CheckConfig {
    /// The effective `[rules]` and `[limits]` as TOML.
    pub fn redacted_summary(&self) -> String {
        let mut w = Summary::default();
        w.comment("spdesk check configuration: effective [limits] and [rules]");
        if let Some(p) = &self.path {
            w.comment(&format!("from {}", p.display()));
        }
        w.limits(&self.limits);
        w.rules(&self.rules);
        w.0
    }
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The absolute folder of the config file (the current folder without a file).
fn base_dir(path: Option<&Path>) -> PathBuf {
    let parent = path
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

// ---------------------------------------------------------------------------------------------
// Section readers: each reads every key it knows (so the rest are unknown), reports problems,
// and returns the section when its required keys are there.
// ---------------------------------------------------------------------------------------------

fn read_imap(s: &mut Sect) -> Option<Imap> {
    let host = s.required_text("host", "host = \"imap.example.test\"");
    let tls = s
        .choice("tls", &["none", "starttls", "tls"])
        .and_then(|v| Tls::parse(&v));
    let tls = tls.unwrap_or(Tls::Tls);
    let port = s.port("port").unwrap_or(tls.default_imap_port());
    let ca_file = s.existing_file("ca_file");
    let username = s.required_text("username", "username = \"helpdesk@example.test\"");
    let auth = s
        .choice("auth", &["password", "xoauth2"])
        .and_then(|v| Auth::parse(&v));
    let auth = auth.unwrap_or(Auth::Password);
    let keys = s.secret_keys();
    let secret = s.pick_secret(keys, auth);
    let mailbox = s.optional_text("mailbox").unwrap_or_else(|| "INBOX".into());
    let processed_folder = s
        .optional_text("processed_folder")
        .unwrap_or_else(|| "Processed".into());
    let quarantine_folder = s
        .optional_text("quarantine_folder")
        .unwrap_or_else(|| "Quarantine".into());
    let idle = s.boolean("idle").unwrap_or(true);
    let poll_interval = s
        .duration("poll_interval")
        .unwrap_or(Duration::from_secs(60));
    Some(Imap {
        host: host?,
        port,
        tls,
        ca_file,
        username: username?,
        auth,
        secret: secret?,
        mailbox,
        processed_folder,
        quarantine_folder,
        idle,
        poll_interval,
    })
}

fn read_smtp(s: &mut Sect) -> Option<Smtp> {
    let host = s.required_text("host", "host = \"smtp.example.test\"");
    let tls = s
        .choice("tls", &["none", "starttls", "tls"])
        .and_then(|v| Tls::parse(&v));
    let tls = tls.unwrap_or(Tls::StartTls);
    let port = s.port("port").unwrap_or(tls.default_smtp_port());
    let ca_file = s.existing_file("ca_file");
    let auth = s
        .choice("auth", &["none", "password", "xoauth2"])
        .and_then(|v| Auth::parse(&v));
    let auth = auth.unwrap_or(Auth::None);
    let username = match s.string("username") {
        Some((u, line)) if auth == Auth::None => {
            let v = toml_str(&u);
            s.problem_at("username", Some(v), line, "is only used when auth is \"password\" or \"xoauth2\": set auth, or remove username");
            None
        }
        Some((u, line)) if u.trim().is_empty() => {
            s.problem_at("username", Some(toml_str(&u)), line, "must not be empty");
            None
        }
        Some((u, _)) => Some(u),
        None if auth != Auth::None => {
            s.missing(
                "username",
                &format!(
                    "auth = \"{}\" needs it: add username = \"helpdesk@example.test\"",
                    auth.as_str()
                ),
            );
            None
        }
        None => None,
    };
    let keys = s.secret_keys();
    let secret = s.pick_secret(keys, auth);
    let from = s.required_text("from", "from = \"helpdesk@example.test\"");
    if let Some(f) = &from
        && !valid_mailbox(f)
    {
        s.problem("from", Some(toml_str(f)), "must be an e-mail address, e.g. \"helpdesk@example.test\" or \"Helpdesk <helpdesk@example.test>\"");
    }
    let secret = if auth == Auth::None {
        None
    } else {
        Some(secret?)
    };
    Some(Smtp {
        host: host?,
        port,
        tls,
        ca_file,
        auth,
        username,
        secret,
        from: from?,
    })
}

fn read_database(s: &mut Sect) -> Option<Database> {
    let url = s.required_text("url", "url = \"sqlite://var/spdesk.db?mode=rwc\"")?;
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        return Some(Database { url });
    }
    let Some((db, params)) = split_sqlite_url(&url) else {
        s.problem("url", Some(toml_str(&redact_url(&url))), "must start with \"sqlite:\" or \"postgres:\", e.g. \"sqlite://var/spdesk.db?mode=rwc\"");
        return None;
    };
    let memory =
        db.is_empty() || db == ":memory:" || params.is_some_and(|p| p.contains("mode=memory"));
    if memory || db.starts_with('/') {
        return Some(Database { url });
    }
    let abs = s.cx.base.join(percent_decode(db));
    let mut resolved = format!("sqlite://{}", percent_encode_path(&abs.to_string_lossy()));
    if let Some(p) = params {
        resolved.push('?');
        resolved.push_str(p);
    }
    Some(Database { url: resolved })
}

fn read_helpdesk(s: &mut Sect) -> Option<Helpdesk> {
    let address = s.required_text("address", "address = \"helpdesk@example.test\"");
    if let Some(a) = &address
        && !valid_address(a)
    {
        s.problem(
            "address",
            Some(toml_str(a)),
            "must be a plain e-mail address, e.g. \"helpdesk@example.test\"",
        );
    }
    let own_domains = s.strings("own_domains").unwrap_or_default();
    let mut domains = Vec::new();
    for d in own_domains {
        if valid_domain(&d) {
            domains.push(d.to_ascii_lowercase());
        } else {
            s.problem(
                "own_domains",
                Some(toml_str(&d)),
                "must be a domain name, e.g. \"example.test\"",
            );
        }
    }
    let default = address.clone().into_iter().collect::<Vec<_>>();
    let review_to = s.addresses("review_to").unwrap_or_else(|| default.clone());
    let digest_to = s.addresses("digest_to").unwrap_or_else(|| default.clone());
    let incident_to = s
        .addresses("incident_to")
        .unwrap_or_else(|| default.clone());
    let billing_to = s.addresses("billing_to").unwrap_or_else(|| default.clone());
    let stale_rejected_days = s.positive("stale_rejected_days", 3650).unwrap_or(14);
    Some(Helpdesk {
        address: address?,
        own_domains: domains,
        review_to,
        digest_to,
        incident_to,
        billing_to,
        stale_rejected_days: u32::try_from(stale_rejected_days).unwrap_or(14),
    })
}

/// Below this the reader child cannot even start (its binary and libraries are mapped).
const MIN_READER_MEMORY: u64 = 64 * 1024 * 1024;

fn read_limits(s: &mut Sect) -> Limits {
    let d = Limits::default();
    let count = |s: &mut Sect, key, max: i64, default: usize| {
        s.positive(key, max)
            .and_then(|v| usize::try_from(v).ok())
            .unwrap_or(default)
    };
    let small = |s: &mut Sect, key, max: i64, default: u32| {
        s.positive(key, max)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(default)
    };
    Limits {
        max_message_bytes: s.size("max_message_bytes").unwrap_or(d.max_message_bytes),
        max_attachments: count(s, "max_attachments", 10_000, d.max_attachments),
        max_docx_unzipped_bytes: s
            .size("max_docx_unzipped_bytes")
            .unwrap_or(d.max_docx_unzipped_bytes),
        max_docx_entries: count(s, "max_docx_entries", 1_000_000, d.max_docx_entries),
        max_xml_depth: count(s, "max_xml_depth", 100_000, d.max_xml_depth),
        max_pdf_pages: count(s, "max_pdf_pages", 1_000_000, d.max_pdf_pages),
        max_pdf_objects: count(s, "max_pdf_objects", 100_000_000, d.max_pdf_objects),
        max_pdf_inflated_bytes: s
            .size("max_pdf_inflated_bytes")
            .unwrap_or(d.max_pdf_inflated_bytes),
        max_docx_xml_nodes: count(s, "max_docx_xml_nodes", 100_000_000, d.max_docx_xml_nodes),
        max_forms_per_mail: count(s, "max_forms_per_mail", 10_000, d.max_forms_per_mail),
        max_mime_parts: count(s, "max_mime_parts", 10_000_000, d.max_mime_parts),
        reader_timeout: s.duration("reader_timeout").unwrap_or(d.reader_timeout),
        reader_memory: match s.size("reader_memory") {
            Some(m) if m < MIN_READER_MEMORY => {
                s.problem(
                    "reader_memory",
                    Some(m.to_string()),
                    "must be at least \"64 MiB\": the reader process needs that much to start",
                );
                d.reader_memory
            }
            Some(m) => m,
            None => d.reader_memory,
        },
        max_attempts: small(s, "max_attempts", 1000, d.max_attempts),
        receipts_per_address_per_hour: small(
            s,
            "receipts_per_address_per_hour",
            1_000_000,
            d.receipts_per_address_per_hour,
        ),
        receipts_per_hour: small(s, "receipts_per_hour", 10_000_000, d.receipts_per_hour),
        orders_per_sender_per_hour: small(
            s,
            "orders_per_sender_per_hour",
            10_000_000,
            d.orders_per_sender_per_hour,
        ),
        review_mails_per_hour: small(
            s,
            "review_mails_per_hour",
            10_000_000,
            d.review_mails_per_hour,
        ),
        max_header_count: count(s, "max_header_count", 1_000_000, d.max_header_count),
        max_header_bytes: s.size("max_header_bytes").unwrap_or(d.max_header_bytes),
        max_header_field_bytes: s
            .size("max_header_field_bytes")
            .unwrap_or(d.max_header_field_bytes),
    }
}

fn read_executors(s: &mut Sect) -> Executors {
    let d = Executors::default();
    Executors {
        webservice: s.optional_text("webservice"),
        sftp: s.optional_text("sftp"),
        timeout: s.duration("timeout").unwrap_or(d.timeout),
    }
}

fn read_rules(s: &mut Sect) -> RulesConfig {
    let d = RulesConfig::default();
    let lead = s.integer("lead_working_days", 0, 365, "an integer from 0 to 365");
    let change_window = match s.string("change_window") {
        Some((text, line)) => match parse_window(&text) {
            Ok(w) => w,
            Err(msg) => {
                s.problem_at("change_window", Some(toml_str(&text)), line, &msg);
                d.change_window
            }
        },
        None => d.change_window,
    };
    let extra_closed_days = match s.strings_at("extra_closed_days") {
        Some((days, line)) => {
            let mut out = Vec::new();
            for day in days {
                match parse_month_day(&day) {
                    Some(md) => out.push(md),
                    None => s.problem_at(
                        "extra_closed_days",
                        Some(toml_str(&day)),
                        line,
                        "must be a day of the year as \"MM-DD\", e.g. \"12-24\"",
                    ),
                }
            }
            out
        }
        None => d.extra_closed_days,
    };
    let max_days_ahead = s.positive("max_days_ahead", 3650);
    let systems_file = s.existing_file("systems_file");
    let known_orders_file = s.existing_file("known_orders_file");
    let trusted_ca_file = s.existing_file("trusted_ca_file");
    let trusted_authserv_ids = s.nonempty_items("trusted_authserv_ids").unwrap_or_default();
    let trust_exchange_online = s
        .boolean("trust_exchange_online")
        .unwrap_or(d.trust_exchange_online);
    let security_models = match s.nonempty_items("security_models") {
        Some(v) if v.is_empty() => {
            s.problem(
                "security_models",
                Some("[]".into()),
                "must name at least one model, e.g. [\"token\", \"kontekst\"]",
            );
            d.security_models
        }
        Some(v) => v,
        None => d.security_models,
    };
    let datatypes = s.nonempty_items("datatypes").unwrap_or_default();
    let bestillings_id_pattern = match s.string("bestillings_id_pattern") {
        Some((p, line)) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(_) => Some(p),
            Err(e) => {
                let msg = format!(
                    "is not a valid regular expression: {}",
                    first_line(&e.to_string())
                );
                s.problem_at("bestillings_id_pattern", Some(toml_str(&p)), line, &msg);
                None
            }
        },
        None => None,
    };
    RulesConfig {
        lead_working_days: lead
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(d.lead_working_days),
        change_window,
        extra_closed_days,
        max_days_ahead: max_days_ahead
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(d.max_days_ahead),
        systems_file,
        known_orders_file,
        trusted_ca_file,
        trusted_authserv_ids,
        trust_exchange_online,
        security_models,
        datatypes,
        bestillings_id_pattern,
    }
}

fn read_schedule(s: &mut Sect) -> Option<Schedule> {
    let timezone = match s.string("timezone") {
        Some((name, line)) => match name.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                s.problem_at(
                    "timezone",
                    Some(toml_str(&name)),
                    line,
                    "must be an IANA time zone name, e.g. \"Europe/Copenhagen\"",
                );
                None
            }
        },
        None => Some(chrono_tz::Europe::Copenhagen),
    };
    let digest = s.cron("digest", "0 0 7 * * Mon-Fri");
    let billing = s.cron("billing", "0 0 6 1 * *");
    Some(Schedule {
        timezone: timezone?,
        digest: digest?,
        billing: billing?,
    })
}

fn read_billing(s: &mut Sect) -> Option<Billing> {
    let prices = s.prices();
    let currency = match s.string("currency") {
        Some((c, line)) => {
            if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                Some(c)
            } else {
                s.problem_at(
                    "currency",
                    Some(toml_str(&c)),
                    line,
                    "must be an ISO 4217 code of three capital letters, e.g. \"DKK\"",
                );
                None
            }
        }
        None => Some("DKK".to_string()),
    };
    Some(Billing {
        prices: prices?,
        currency: currency?,
    })
}

// ---------------------------------------------------------------------------------------------
// The parsing context and the section reader
// ---------------------------------------------------------------------------------------------

/// One top-level entry of the file: a table (with the span of each key and value) or not.
enum RawSection {
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
struct RawDoc(Vec<(Spanned<String>, RawSection)>);

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

type Sections = Vec<(Spanned<String>, RawSection)>;

/// What every section reader shares: the text (for line numbers), the file, the folder that
/// relative paths are relative to, and the problems found so far.
struct Cx<'t> {
    text: &'t str,
    file: Option<PathBuf>,
    base: PathBuf,
    problems: Vec<Problem>,
}

impl<'t> Cx<'t> {
    fn new(text: &'t str, path: Option<&Path>) -> Self {
        Cx {
            text,
            file: path.map(Path::to_path_buf),
            base: base_dir(path),
            problems: Vec::new(),
        }
    }

    fn line_at(&self, offset: usize) -> Option<usize> {
        line_of_offset(self.text, offset)
    }

    fn push(&mut self, line: Option<usize>, key: String, value: Option<String>, message: String) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line,
            key,
            value,
            message,
        });
    }

    /// The TOML syntax check; `None` (with the problem recorded) when the file is not TOML.
    fn parse(&mut self) -> Option<Sections> {
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

    fn unknown_sections(&mut self, sections: &Sections, known: &[&str]) {
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
    fn section<'c>(&'c mut self, sections: &Sections, name: &'static str) -> Sect<'c, 't> {
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
    fn required_section<'c>(
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

    fn finish(mut self) -> Vec<Problem> {
        // By line, problems without a line last; the sort is stable so reading order stays.
        self.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        self.problems
    }
}

/// Reads one section's keys with their types, recording every problem in the context.
struct Sect<'c, 't> {
    cx: &'c mut Cx<'t>,
    name: &'static str,
    header_line: Option<usize>,
    present: bool,
    entries: Vec<(Spanned<String>, Spanned<toml::Value>)>,
    used: Vec<bool>,
    /// The keys this section knows, for "did you mean".
    known: Vec<&'static str>,
}

/// Keys whose values are never shown, not even in problems.
const SECRET_KEYS: &[&str] = &["password", "oauth_token_command"];

impl Sect<'_, '_> {
    /// The value of `key` (marking it known and used) and the line it is on.
    fn take(&mut self, key: &'static str) -> Option<(toml::Value, Option<usize>)> {
        self.known.push(key);
        let i = self.entries.iter().position(|(k, _)| k.get_ref() == key)?;
        if let Some(u) = self.used.get_mut(i) {
            *u = true;
        }
        let (_, v) = self.entries.get(i)?;
        Some((v.get_ref().clone(), self.cx.line_at(v.span().start)))
    }

    fn problem_at(&mut self, key: &str, value: Option<String>, line: Option<usize>, message: &str) {
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
    fn problem(&mut self, key: &str, value: Option<String>, message: &str) {
        let line = self
            .entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .and_then(|(k, _)| self.cx.line_at(k.span().start))
            .or_else(|| find_key_line(self.cx.text, self.name, key));
        self.problem_at(key, value, line, message);
    }

    fn missing(&mut self, key: &str, what_to_do: &str) {
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

    fn wrong_type(&mut self, key: &str, v: &toml::Value, line: Option<usize>, expected: &str) {
        self.problem_at(
            key,
            Some(show_value(v)),
            line,
            &format!("must be {expected}"),
        );
    }

    fn string(&mut self, key: &'static str) -> Option<(String, Option<usize>)> {
        match self.take(key)? {
            (toml::Value::String(s), line) => Some((s, line)),
            (v, line) => {
                self.wrong_type(key, &v, line, "a string in quotes");
                None
            }
        }
    }

    /// A string that must not be blank, when given.
    fn optional_text(&mut self, key: &'static str) -> Option<String> {
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

    fn required_text(&mut self, key: &'static str, example: &str) -> Option<String> {
        if !self.entries.iter().any(|(k, _)| k.get_ref() == key) {
            self.known.push(key);
            self.missing(key, &format!("add {example}"));
            return None;
        }
        self.optional_text(key)
    }

    fn choice(&mut self, key: &'static str, allowed: &[&str]) -> Option<String> {
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

    fn boolean(&mut self, key: &'static str) -> Option<bool> {
        match self.take(key)? {
            (toml::Value::Boolean(b), _) => Some(b),
            (v, line) => {
                self.wrong_type(key, &v, line, "true or false (without quotes)");
                None
            }
        }
    }

    fn integer(&mut self, key: &'static str, min: i64, max: i64, expected: &str) -> Option<i64> {
        match self.take(key)? {
            (toml::Value::Integer(i), _) if (min..=max).contains(&i) => Some(i),
            (v, line) => {
                self.wrong_type(key, &v, line, expected);
                None
            }
        }
    }

    fn positive(&mut self, key: &'static str, max: i64) -> Option<i64> {
        self.integer(key, 1, max, &format!("a whole number from 1 to {max}"))
    }

    fn port(&mut self, key: &'static str) -> Option<u16> {
        let v = self.integer(key, 1, 65535, "a port number from 1 to 65535")?;
        u16::try_from(v).ok()
    }

    fn duration(&mut self, key: &'static str) -> Option<Duration> {
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

    fn size(&mut self, key: &'static str) -> Option<u64> {
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

    fn strings_at(&mut self, key: &'static str) -> Option<(Vec<String>, Option<usize>)> {
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

    fn strings(&mut self, key: &'static str) -> Option<Vec<String>> {
        self.strings_at(key).map(|(v, _)| v)
    }

    /// A list of strings none of which is blank (trimmed).
    fn nonempty_items(&mut self, key: &'static str) -> Option<Vec<String>> {
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

    /// A non-empty list of plain e-mail addresses.
    fn addresses(&mut self, key: &'static str) -> Option<Vec<String>> {
        let (items, line) = self.strings_at(key)?;
        if items.is_empty() {
            self.problem_at(
                key,
                Some("[]".into()),
                line,
                "must name at least one address (or leave the key out to use helpdesk.address)",
            );
            return None;
        }
        let mut ok = true;
        for a in &items {
            if !valid_address(a) {
                self.problem_at(
                    key,
                    Some(toml_str(a)),
                    line,
                    "must be a plain e-mail address, e.g. \"helpdesk@example.test\"",
                );
                ok = false;
            }
        }
        ok.then_some(items)
    }

    /// A path, relative to the config folder, resolved to an absolute one.
    fn path(&mut self, key: &'static str) -> Option<(PathBuf, Option<usize>)> {
        let text = self.optional_text(key)?;
        let line = self
            .entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .and_then(|(_, v)| self.cx.line_at(v.span().start));
        Some((self.cx.base.join(&text), line))
    }

    /// A path that must name an existing file when given.
    fn existing_file(&mut self, key: &'static str) -> Option<PathBuf> {
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

    fn cron(&mut self, key: &'static str, default: &str) -> Option<cron::Schedule> {
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

    /// Reads all five secret keys (so none is unknown); which one counts depends on `auth`.
    fn secret_keys(&mut self) -> Vec<(&'static str, String, Option<usize>)> {
        let mut out = Vec::new();
        for key in [
            "password",
            "password_file",
            "password_env",
            "oauth_token_file",
            "oauth_token_command",
        ] {
            if let Some((v, line)) = self.string(key) {
                out.push((key, v, line));
            }
        }
        out
    }

    /// Exactly one secret source, and only one that fits `auth`.
    fn pick_secret(
        &mut self,
        given: Vec<(&'static str, String, Option<usize>)>,
        auth: Auth,
    ) -> Option<Secret> {
        const PASSWORD: &[&str] = &["password", "password_file", "password_env"];
        const TOKEN: &[&str] = &["oauth_token_file", "oauth_token_command"];
        let allowed: &[&str] = match auth {
            Auth::None => &[],
            Auth::Password => PASSWORD,
            Auth::XOAuth2 => TOKEN,
        };
        let mut chosen: Option<(&'static str, String, Option<usize>)> = None;
        let mut ok = true;
        for (key, value, line) in given {
            let shown = Some(toml_str(&value));
            if !allowed.contains(&key) {
                let msg = match auth {
                    Auth::None => "auth = \"none\" sends no credentials: set auth = \"password\" (or \"xoauth2\"), or remove this key".to_string(),
                    Auth::Password => "is only used with auth = \"xoauth2\": set auth, or use password, password_file or password_env".to_string(),
                    Auth::XOAuth2 => "is only used with auth = \"password\": set auth, or use oauth_token_file or oauth_token_command".to_string(),
                };
                self.problem_at(key, shown, line, &msg);
                ok = false;
            } else if let Some((first, _, _)) = &chosen {
                let msg = format!(
                    "{first} is already set: give exactly one of {}",
                    allowed.join(", ")
                );
                self.problem_at(key, shown, line, &msg);
                ok = false;
            } else if value.trim().is_empty() {
                self.problem_at(key, shown, line, "must not be empty");
                ok = false;
                chosen = Some((key, value, line));
            } else {
                chosen = Some((key, value, line));
            }
        }
        if allowed.is_empty() {
            return None;
        }
        let Some((key, value, line)) = chosen else {
            let msg = format!(
                "auth = \"{}\" needs one of {}: add e.g. {} = \"...\"",
                auth.as_str(),
                allowed.join(", "),
                allowed.first().copied().unwrap_or("password")
            );
            let line = self
                .entries
                .iter()
                .find(|(k, _)| k.get_ref() == "auth")
                .and_then(|(k, _)| self.cx.line_at(k.span().start))
                .or(self.header_line);
            self.cx.push(
                line,
                format!("[{}] auth", self.name),
                Some(toml_str(auth.as_str())),
                msg,
            );
            return None;
        };
        if !ok {
            return None;
        }
        let secret = match key {
            "password" => Secret::Password(value),
            "password_file" => {
                let p = self.cx.base.join(&value);
                if !p.is_file() {
                    let msg = format!(
                        "file not found: {} (relative paths are relative to the config file's folder {})",
                        p.display(),
                        self.cx.base.display()
                    );
                    self.problem_at(key, Some(toml_str(&value)), line, &msg);
                    return None;
                }
                Secret::PasswordFile(p)
            }
            "password_env" => {
                if value.contains(['=', '\0']) || value.trim() != value {
                    self.problem_at(key, Some(toml_str(&value)), line, "must be the name of an environment variable, e.g. \"SPDESK_IMAP_PASSWORD\"");
                    return None;
                }
                Secret::PasswordEnv(value)
            }
            "oauth_token_file" => Secret::OAuthTokenFile(self.cx.base.join(&value)),
            _ => Secret::OAuthTokenCommand(value),
        };
        Some(secret)
    }

    /// `prices = { webservice = 4500.0, sftp = 2500.0 }` (or `[billing.prices]`).
    fn prices(&mut self) -> Option<Prices> {
        if !self.entries.iter().any(|(k, _)| k.get_ref() == "prices") {
            self.known.push("prices");
            self.missing(
                "prices",
                "add prices = { webservice = 4500.0, sftp = 2500.0 }",
            );
            return None;
        }
        let (v, line) = self.take("prices")?;
        let toml::Value::Table(t) = &v else {
            self.wrong_type(
                "prices",
                &v,
                line,
                "a table, e.g. { webservice = 4500.0, sftp = 2500.0 }",
            );
            return None;
        };
        let sub_line = |cx: &Cx, key: &str| {
            find_key_line(cx.text, "billing.prices", key)
                .or_else(|| find_key_line(cx.text, "billing", &format!("prices.{key}")))
                .or(line)
        };
        let get = |s: &mut Self, kind: &str| -> Option<f64> {
            let l = sub_line(s.cx, kind);
            let key = format!("prices.{kind}");
            match t.get(kind) {
                None => {
                    s.cx.push(l, format!("[billing] {key}"), None, format!("required key is missing: add the price of one {kind} order, e.g. {kind} = 2500.0"));
                    None
                }
                Some(p) => {
                    let n = match p {
                        toml::Value::Float(f) => Some(*f),
                        toml::Value::Integer(i) => Some(*i as f64),
                        _ => None,
                    };
                    match n {
                        Some(n) if n.is_finite() && n >= 0.0 => Some(n),
                        _ => {
                            s.cx.push(
                                l,
                                format!("[billing] {key}"),
                                Some(show_value(p)),
                                "must be a number that is zero or more, e.g. 2500.0".to_string(),
                            );
                            None
                        }
                    }
                }
            }
        };
        let webservice = get(self, "webservice");
        let sftp = get(self, "sftp");
        for k in t.keys().filter(|k| *k != "webservice" && *k != "sftp") {
            let l = sub_line(self.cx, k);
            self.cx.push(
                l,
                format!("[billing] prices.{k}"),
                None,
                "unknown form kind: the kinds are webservice, sftp".to_string(),
            );
        }
        Some(Prices {
            webservice: webservice?,
            sftp: sftp?,
        })
    }

    /// Every key nobody read is unknown: a typo must not be ignored silently.
    fn finish(self) {
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

// ---------------------------------------------------------------------------------------------
// Small parsers and helpers (pure)
// ---------------------------------------------------------------------------------------------

/// A duration such as "60s", "5m", "1h30m", "500ms", "2 days"; a unit is required.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    /// Ten years: longer is surely a mistake, and keeps the arithmetic far from overflow.
    const MAX_MS: u64 = 10 * 366 * 86_400_000;
    let t = text.trim();
    if t.is_empty() {
        return Err("must be a duration with a unit, e.g. \"60s\", \"5m\", \"500ms\"".into());
    }
    let mut rest = t;
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(digits);
        if num.is_empty() {
            return Err(format!(
                "is not a duration: expected a number at \"{after}\"; write e.g. \"60s\", \"5m\", \"500ms\""
            ));
        }
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        let per_ms: u64 = match unit.to_ascii_lowercase().as_str() {
            "ms" | "msec" | "millis" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => 1000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
            "h" | "hr" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            "" => {
                return Err(format!(
                    "needs a unit after {num}: ms, s, m, h or d, e.g. \"{num}s\""
                ));
            }
            other => {
                return Err(format!(
                    "has an unknown unit \"{other}\": use ms, s, m, h or d"
                ));
            }
        };
        let n: u64 = num.parse().map_err(|_| "is too long".to_string())?;
        total = n
            .checked_mul(per_ms)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= MAX_MS)
            .ok_or_else(|| "is too long (at most ten years)".to_string())?;
        rest = tail.trim_start();
    }
    Ok(Duration::from_millis(total))
}

/// A size such as "25 MB" (10^6), "50MiB" (2^20), "512 kB", "100" (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    if num.is_empty() {
        return Err(
            "must be a size: a number of bytes, or e.g. \"25 MB\", \"50MiB\", \"512 kB\"".into(),
        );
    }
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "has an unknown unit \"{other}\": use B, kB, MB, GB, KiB, MiB or GiB"
            ));
        }
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(|| "is too large".to_string())
}

/// The shortest exact form of a duration, e.g. "5m", "90s", "1500ms".
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    if s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// "HH:MM-HH:MM", start before end.
fn parse_window(text: &str) -> Result<ChangeWindow, String> {
    let bad = "must be \"HH:MM-HH:MM\", e.g. \"08:00-15:00\"".to_string();
    let (a, b) = text.split_once('-').ok_or_else(|| bad.clone())?;
    let hm = |s: &str| {
        let (h, m) = s.trim().split_once(':')?;
        if h.is_empty()
            || h.len() > 2
            || m.len() != 2
            || !h.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit())
        {
            return None;
        }
        NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
    };
    let end_of_day = b.trim() == "24:00";
    let (Some(start), Some(end)) = (
        hm(a),
        if end_of_day {
            NaiveTime::from_hms_opt(23, 59, 59)
        } else {
            hm(b)
        },
    ) else {
        return Err(bad);
    };
    if start >= end {
        return Err("must start before it ends, e.g. \"08:00-15:00\"".into());
    }
    Ok(ChangeWindow { start, end })
}

/// "MM-DD" of a day that exists in some year (02-29 included).
fn parse_month_day(text: &str) -> Option<MonthDay> {
    let (m, d) = text.trim().split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month: u32 = m.parse().ok()?;
    let day: u32 = d.parse().ok()?;
    // 2024 is a leap year, so 02-29 is accepted.
    NaiveDate::from_ymd_opt(2024, month, day)?;
    Some(MonthDay { month, day })
}

/// A plain address `local@domain` (ASCII; enough for the Helpdesk's own addresses).
fn valid_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"()<>[]:;,\\\"@".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && valid_domain(domain)
}

/// `addr` or `Display Name <addr>`.
fn valid_mailbox(s: &str) -> bool {
    let s = s.trim();
    match (s.rfind('<'), s.strip_suffix('>')) {
        (Some(open), Some(inner)) => inner.get(open + 1..).is_some_and(valid_address),
        _ => valid_address(s),
    }
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `(path, params)` of a `sqlite:` URL; `None` for anything else.
fn split_sqlite_url(url: &str) -> Option<(&str, Option<&str>)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(match rest.split_once('?') {
        Some((db, p)) => (db, Some(p)),
        None => (rest, None),
    })
}

/// sqlx decodes `%XX` in a SQLite path; encode what would otherwise end or break it.
fn percent_encode_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(h).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `scheme://user:***@host/...`: the password of a URL hidden.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

/// 1-based line of a byte offset.
fn line_of_offset(text: &str, offset: usize) -> Option<usize> {
    let before = text.get(..offset.min(text.len()))?;
    Some(before.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// The line of `[section]` in the raw text.
fn find_section_line(text: &str, section: &str) -> Option<usize> {
    text.lines()
        .position(|l| header_name(l).as_deref() == Some(section))
        .map(|i| i + 1)
}

/// The line of `key = ...` inside `[section]` in the raw text, for problems whose value has
/// no span of its own (keys of inline tables).
fn find_key_line(text: &str, section: &str, key: &str) -> Option<usize> {
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
fn header_name(line: &str) -> Option<String> {
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

/// The closest known name within two edits, for "did you mean".
fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    if word.len() > 64 {
        return None;
    }
    known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A value as written, short enough for one line of a problem.
fn show_value(v: &toml::Value) -> String {
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

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Builds the TOML text of [`Config::redacted_summary`].
#[derive(Default)]
struct Summary(String);

impl Summary {
    fn comment(&mut self, text: &str) {
        self.0.push_str("# ");
        self.0.push_str(text);
        self.0.push('\n');
    }
    fn section(&mut self, name: &str) {
        self.0.push_str(&format!("\n[{name}]\n"));
    }
    fn raw(&mut self, key: &str, value: &str) {
        self.0.push_str(&format!("{key} = {value}\n"));
    }
    fn str(&mut self, key: &str, value: &str) {
        self.raw(key, &toml_str(value));
    }
    fn list(&mut self, key: &str, items: &[String]) {
        let items = items
            .iter()
            .map(|i| toml_str(i))
            .collect::<Vec<_>>()
            .join(", ");
        self.raw(key, &format!("[{items}]"));
    }
    fn opt_path(&mut self, key: &str, p: Option<&Path>) {
        match p {
            Some(p) => self.str(key, &p.to_string_lossy()),
            None => self.comment(&format!("{key}: not set")),
        }
    }
    fn secret(&mut self, s: Option<&Secret>) {
        match s {
            Some(Secret::Password(_)) => self.str("password", "***"),
            Some(Secret::PasswordFile(p)) => self.str("password_file", &p.to_string_lossy()),
            Some(Secret::PasswordEnv(n)) => self.str("password_env", n),
            Some(Secret::OAuthTokenFile(p)) => self.str("oauth_token_file", &p.to_string_lossy()),
            Some(Secret::OAuthTokenCommand(_)) => self.str("oauth_token_command", "***"),
            None => {}
        }
    }
    fn limits(&mut self, l: &Limits) {
        self.section("limits");
        self.raw("max_message_bytes", &l.max_message_bytes.to_string());
        self.raw("max_attachments", &l.max_attachments.to_string());
        self.raw(
            "max_docx_unzipped_bytes",
            &l.max_docx_unzipped_bytes.to_string(),
        );
        self.raw("max_docx_entries", &l.max_docx_entries.to_string());
        self.raw("max_xml_depth", &l.max_xml_depth.to_string());
        self.raw("max_pdf_pages", &l.max_pdf_pages.to_string());
        self.raw("max_pdf_objects", &l.max_pdf_objects.to_string());
        self.raw(
            "max_pdf_inflated_bytes",
            &l.max_pdf_inflated_bytes.to_string(),
        );
        self.raw("max_docx_xml_nodes", &l.max_docx_xml_nodes.to_string());
        self.raw("max_forms_per_mail", &l.max_forms_per_mail.to_string());
        self.raw("max_mime_parts", &l.max_mime_parts.to_string());
        self.str("reader_timeout", &format_duration(l.reader_timeout));
        self.raw("reader_memory", &l.reader_memory.to_string());
        self.raw("max_attempts", &l.max_attempts.to_string());
        self.raw(
            "receipts_per_address_per_hour",
            &l.receipts_per_address_per_hour.to_string(),
        );
        self.raw("receipts_per_hour", &l.receipts_per_hour.to_string());
        self.raw(
            "orders_per_sender_per_hour",
            &l.orders_per_sender_per_hour.to_string(),
        );
        self.raw(
            "review_mails_per_hour",
            &l.review_mails_per_hour.to_string(),
        );
        self.raw("max_header_count", &l.max_header_count.to_string());
        self.raw("max_header_bytes", &l.max_header_bytes.to_string());
        self.raw(
            "max_header_field_bytes",
            &l.max_header_field_bytes.to_string(),
        );
    }
    fn rules(&mut self, r: &RulesConfig) {
        self.section("rules");
        self.raw("lead_working_days", &r.lead_working_days.to_string());
        self.str("change_window", &r.change_window.to_string());
        let days = r
            .extra_closed_days
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>();
        self.list("extra_closed_days", &days);
        self.raw("max_days_ahead", &r.max_days_ahead.to_string());
        self.opt_path("systems_file", r.systems_file.as_deref());
        self.opt_path("known_orders_file", r.known_orders_file.as_deref());
        match &r.trusted_ca_file {
            Some(p) => self.str("trusted_ca_file", &p.to_string_lossy()),
            None => self.comment("trusted_ca_file: not set (the system's trust store)"),
        }
        self.list("trusted_authserv_ids", &r.trusted_authserv_ids);
        self.raw(
            "trust_exchange_online",
            &r.trust_exchange_online.to_string(),
        );
        self.list("security_models", &r.security_models);
        self.list("datatypes", &r.datatypes);
        match &r.bestillings_id_pattern {
            Some(p) => self.str("bestillings_id_pattern", p),
            None => self.comment("bestillings_id_pattern: not set"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest config the daemon accepts; line numbers below refer to it.
    const MINIMAL: &str = r#"[imap]
host = "imap.example.test"
username = "helpdesk@example.test"
password = "hunter2-xyz"

[smtp]
host = "smtp.example.test"
from = "helpdesk@example.test"

[database]
url = "sqlite://var/spdesk.db?mode=rwc"

[helpdesk]
address = "helpdesk@example.test"

[billing]
prices = { webservice = 4500.0, sftp = 2500 }
"#;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_str(text, Some(Path::new("/etc/spdesk/spdesk.toml")))
    }

    fn problems(text: &str) -> Vec<Problem> {
        match load(text) {
            Ok(_) => panic!("expected problems in:\n{text}"),
            Err(e) => e.problems().to_vec(),
        }
    }

    /// Replaces `from` in MINIMAL (which must contain it) with `to`.
    fn minimal_with(from: &str, to: &str) -> String {
        assert!(MINIMAL.contains(from), "{from} not in MINIMAL");
        MINIMAL.replacen(from, to, 1)
    }

    /// Asserts exactly one problem, on `line`, about `key`, whose text contains `needle`.
    fn assert_one(text: &str, line: usize, key: &str, needle: &str) {
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:#?}");
        let shown = p[0].to_string();
        assert_eq!(p[0].line, Some(line), "{shown}");
        assert_eq!(p[0].key, key, "{shown}");
        assert!(shown.contains(needle), "{shown:?} lacks {needle:?}");
    }

    #[test]
    fn shipped_config_loads() {
        let text = include_str!("../../config/spdesk.toml");
        let c = Config::from_str(text, Some(Path::new("/srv/spdesk/config/spdesk.toml")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.imap.host, "127.0.0.1");
        assert_eq!(c.imap.port, 10143);
        assert_eq!(c.imap.tls, Tls::None);
        assert_eq!(c.imap.auth, Auth::Password);
        assert_eq!(c.imap.username, "helpdesk@example.test");
        assert_eq!(c.imap.secret, Secret::Password("secret".into()));
        assert_eq!(c.smtp.port, 10025);
        assert_eq!(c.smtp.auth, Auth::None);
        assert_eq!(c.smtp.secret, None);
        assert_eq!(c.smtp.from, "helpdesk@example.test");
        assert_eq!(
            c.database.url,
            "sqlite:///srv/spdesk/config/../var/spdesk.db?mode=rwc"
        );
        assert_eq!(
            c.database.sqlite_path(),
            Some(PathBuf::from("/srv/spdesk/config/../var/spdesk.db"))
        );
        assert_eq!(
            c.helpdesk.billing_to,
            vec!["helpdesk@example.test".to_string()]
        );
        assert_eq!(c.limits.receipts_per_address_per_hour, 1000);
        assert_eq!(c.limits.receipts_per_hour, 10_000);
        assert_eq!(c.limits.orders_per_sender_per_hour, 1000);
        assert_eq!(c.limits.review_mails_per_hour, 1000);
        assert_eq!(c.limits.max_message_bytes, 25_000_000);
        assert_eq!(
            format!("{:?}", c.limits.read_limits()),
            format!("{:?}", ReadLimits::default())
        );
        assert_eq!(c.rules, RulesConfig::default());
        assert_eq!(c.executors, Executors::default());
        assert_eq!(
            c.billing.prices,
            Prices {
                webservice: 4500.0,
                sftp: 2500.0
            }
        );
        assert_eq!(c.billing.currency, "DKK");
        assert_eq!(c.schedule.timezone, chrono_tz::Europe::Copenhagen);
        assert_eq!(c.dir(), PathBuf::from("/srv/spdesk/config"));
    }

    #[test]
    fn shipped_config_shows_every_key_and_only_test_domains() {
        let text = include_str!("../../config/spdesk.toml");
        let keys = [
            (
                "imap",
                "host port tls ca_file username password password_file password_env auth oauth_token_file oauth_token_command mailbox processed_folder quarantine_folder idle poll_interval",
            ),
            (
                "smtp",
                "host port tls ca_file auth username password_file from",
            ),
            ("database", "url"),
            (
                "helpdesk",
                "address own_domains review_to digest_to incident_to billing_to stale_rejected_days",
            ),
            (
                "limits",
                "max_message_bytes max_attachments max_docx_unzipped_bytes max_xml_depth max_pdf_pages reader_timeout max_attempts receipts_per_address_per_hour receipts_per_hour orders_per_sender_per_hour review_mails_per_hour",
            ),
            ("executors", "webservice sftp timeout"),
            (
                "rules",
                "lead_working_days change_window extra_closed_days max_days_ahead systems_file known_orders_file trusted_ca_file trusted_authserv_ids trust_exchange_online security_models datatypes",
            ),
            ("schedule", "timezone digest billing"),
            ("billing", "prices currency"),
        ];
        for (section, names) in keys {
            let body = text.split(&format!("[{section}]\n")).nth(1).expect(section);
            let body = body.split("\n[").next().unwrap_or(body);
            for key in names.split_whitespace() {
                assert!(
                    body.lines()
                        .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} ="))),
                    "[{section}] {key} is not shown"
                );
            }
        }
        for word in text.split(|c: char| c.is_whitespace() || "\"[],".contains(c)) {
            if let Some((_, domain)) = word.rsplit_once('@') {
                let domain = domain.split(['/', ':', '>']).next().unwrap_or("");
                assert!(domain.ends_with(".test"), "{word}");
            }
        }
    }

    #[test]
    fn defaults_fill_everything_optional() {
        let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.imap.tls, Tls::Tls);
        assert_eq!(c.imap.port, 993);
        assert_eq!(c.imap.auth, Auth::Password);
        assert_eq!(c.imap.mailbox, "INBOX");
        assert_eq!(c.imap.processed_folder, "Processed");
        assert_eq!(c.imap.quarantine_folder, "Quarantine");
        assert!(c.imap.idle);
        assert_eq!(c.imap.poll_interval, Duration::from_secs(60));
        assert_eq!(c.imap.ca_file, None);
        assert_eq!(c.smtp.tls, Tls::StartTls);
        assert_eq!(c.smtp.port, 587);
        assert_eq!(c.smtp.auth, Auth::None);
        assert_eq!(c.smtp.username, None);
        assert_eq!(c.helpdesk.own_domains, Vec::<String>::new());
        for list in [
            &c.helpdesk.review_to,
            &c.helpdesk.digest_to,
            &c.helpdesk.incident_to,
            &c.helpdesk.billing_to,
        ] {
            assert_eq!(list, &vec!["helpdesk@example.test".to_string()]);
        }
        assert_eq!(c.helpdesk.stale_rejected_days, 14);
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.limits.max_message_bytes, 25_000_000);
        assert_eq!(c.limits.max_attempts, 3);
        assert_eq!(c.limits.receipts_per_address_per_hour, 30);
        assert_eq!(c.limits.receipts_per_hour, 300);
        assert_eq!(c.limits.orders_per_sender_per_hour, 20);
        assert_eq!(c.limits.review_mails_per_hour, 30);
        assert_eq!(c.limits.reader_timeout, Duration::from_secs(10));
        assert_eq!(c.limits.reader_memory, 512 * 1024 * 1024);
        assert_eq!(c.limits.max_header_count, 1000);
        assert_eq!(c.limits.max_header_bytes, 1_000_000);
        assert_eq!(c.limits.max_header_field_bytes, 64_000);
        assert_eq!(c.executors.timeout, Duration::from_secs(300));
        assert_eq!(c.executors.webservice, None);
        let r = &c.rules;
        assert_eq!(r.lead_working_days, 5);
        assert_eq!(r.change_window.to_string(), "08:00-15:00");
        assert_eq!(
            r.extra_closed_days,
            vec![
                MonthDay { month: 12, day: 24 },
                MonthDay { month: 12, day: 31 }
            ]
        );
        assert_eq!(r.max_days_ahead, 365);
        assert_eq!(r.security_models, vec!["token", "kontekst"]);
        assert!(r.datatypes.is_empty() && r.trusted_authserv_ids.is_empty());
        assert_eq!(r.trusted_ca_file, None);
        assert_eq!(c.schedule.timezone, chrono_tz::Europe::Copenhagen);
        assert_eq!(c.schedule.digest.source(), "0 0 7 * * Mon-Fri");
        assert_eq!(c.schedule.billing.source(), "0 0 6 1 * *");
        assert_eq!(c.billing.prices.get("sftp"), Some(2500.0));
        assert_eq!(c.billing.prices.get("other"), None);
        assert_eq!(c.billing.currency, "DKK");
        assert_eq!(c.path, Some(PathBuf::from("/etc/spdesk/spdesk.toml")));
    }

    #[test]
    fn wrong_values_name_line_and_key() {
        let cases: &[(&str, &str, usize, &str, &str)] = &[
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\ntls = \"ssl\"\n",
                3,
                "[imap] tls",
                "[imap] tls = \"ssl\": must be one of \"none\", \"starttls\", \"tls\"",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\nport = 0\n",
                3,
                "[imap] port",
                "from 1 to 65535",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\nport = 70000\n",
                3,
                "[imap] port",
                "from 1 to 65535",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\nport = \"993\"\n",
                3,
                "[imap] port",
                "port number",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"\"\n",
                2,
                "[imap] host",
                "must not be empty",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\nauth = \"oauth\"\n",
                3,
                "[imap] auth",
                "\"password\", \"xoauth2\"",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\nidle = \"yes\"\n",
                3,
                "[imap] idle",
                "true or false",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\npoll_interval = 60\n",
                3,
                "[imap] poll_interval",
                "with a unit",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\npoll_interval = \"60\"\n",
                3,
                "[imap] poll_interval",
                "needs a unit after 60",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\npoll_interval = \"0s\"\n",
                3,
                "[imap] poll_interval",
                "longer than zero",
            ),
            (
                "host = \"imap.example.test\"\n",
                "host = \"imap.example.test\"\nca_file = \"nope/ca.pem\"\n",
                3,
                "[imap] ca_file",
                "file not found: /etc/spdesk/nope/ca.pem",
            ),
            (
                "from = \"helpdesk@example.test\"",
                "from = \"helpdesk\"",
                8,
                "[smtp] from",
                "must be an e-mail address",
            ),
            (
                "from = \"helpdesk@example.test\"",
                "from = \"helpdesk@example.test\"\ntls = \"TLS\"",
                9,
                "[smtp] tls",
                "must be one of",
            ),
            (
                "from = \"helpdesk@example.test\"",
                "from = \"helpdesk@example.test\"\nauth = \"xoauth\"",
                9,
                "[smtp] auth",
                "\"none\", \"password\", \"xoauth2\"",
            ),
            (
                "url = \"sqlite://var/spdesk.db?mode=rwc\"",
                "url = \"mysql://db.example.test/spdesk\"",
                11,
                "[database] url",
                "must start with \"sqlite:\" or \"postgres:\"",
            ),
            (
                "address = \"helpdesk@example.test\"",
                "address = \"helpdesk@\"",
                14,
                "[helpdesk] address",
                "plain e-mail address",
            ),
            (
                "address = \"helpdesk@example.test\"",
                "address = \"helpdesk@example.test\"\ndigest_to = [\"a@example.test\", \"not an address\"]",
                15,
                "[helpdesk] digest_to",
                "\"not an address\"",
            ),
            (
                "address = \"helpdesk@example.test\"",
                "address = \"helpdesk@example.test\"\nreview_to = []",
                15,
                "[helpdesk] review_to",
                "at least one address",
            ),
            (
                "address = \"helpdesk@example.test\"",
                "address = \"helpdesk@example.test\"\nown_domains = [\"-bad-.test\"]",
                15,
                "[helpdesk] own_domains",
                "domain name",
            ),
            (
                "address = \"helpdesk@example.test\"",
                "address = \"helpdesk@example.test\"\nstale_rejected_days = 0",
                15,
                "[helpdesk] stale_rejected_days",
                "from 1 to",
            ),
            (
                "prices = { webservice = 4500.0, sftp = 2500 }",
                "prices = { webservice = -1.0, sftp = 2500 }",
                17,
                "[billing] prices.webservice",
                "zero or more",
            ),
            (
                "prices = { webservice = 4500.0, sftp = 2500 }",
                "prices = { webservice = 4500.0 }",
                17,
                "[billing] prices.sftp",
                "required key is missing",
            ),
            (
                "prices = { webservice = 4500.0, sftp = 2500 }",
                "prices = { webservice = 4500.0, sftp = 2500, ftp = 1 }",
                17,
                "[billing] prices.ftp",
                "unknown form kind",
            ),
            (
                "prices = { webservice = 4500.0, sftp = 2500 }",
                "prices = { webservice = 4500.0, sftp = 2500 }\ncurrency = \"kr\"",
                18,
                "[billing] currency",
                "ISO 4217",
            ),
            (
                "prices = { webservice = 4500.0, sftp = 2500 }",
                "prices = 4500",
                17,
                "[billing] prices",
                "must be a table",
            ),
        ];
        for (from, to, line, key, needle) in cases {
            assert_one(&minimal_with(from, to), *line, key, needle);
        }
    }

    #[test]
    fn prices_as_their_own_table_find_their_lines() {
        let text = minimal_with(
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "currency = \"DKK\"\n\n[billing.prices]\nwebservice = 4500.0\nsftp = \"free\"",
        );
        assert_one(&text, 21, "[billing] prices.sftp", "zero or more");
    }

    #[test]
    fn rules_limits_and_schedule_values_are_checked() {
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "[rules]\nchange_window = \"15:00-08:00\"",
                2,
                "[rules] change_window",
                "start before it ends",
            ),
            (
                "[rules]\nchange_window = \"8-15\"",
                2,
                "[rules] change_window",
                "HH:MM-HH:MM",
            ),
            (
                "[rules]\nchange_window = \"08:00-25:00\"",
                2,
                "[rules] change_window",
                "HH:MM-HH:MM",
            ),
            (
                "[rules]\nextra_closed_days = [\"12-24\", \"02-30\"]",
                2,
                "[rules] extra_closed_days",
                "\"02-30\"",
            ),
            (
                "[rules]\nextra_closed_days = [\"24-12\"]",
                2,
                "[rules] extra_closed_days",
                "MM-DD",
            ),
            (
                "[rules]\nlead_working_days = -1",
                2,
                "[rules] lead_working_days",
                "0 to 365",
            ),
            (
                "[rules]\nmax_days_ahead = 0",
                2,
                "[rules] max_days_ahead",
                "from 1 to",
            ),
            (
                "[rules]\nsecurity_models = []",
                2,
                "[rules] security_models",
                "at least one",
            ),
            (
                "[rules]\ndatatypes = [\"a\", 1]",
                2,
                "[rules] datatypes",
                "list of strings",
            ),
            (
                "[rules]\nsystems_file = \"systems.toml\"",
                2,
                "[rules] systems_file",
                "file not found",
            ),
            (
                "[rules]\nbestillings_id_pattern = \"[a-z\"",
                2,
                "[rules] bestillings_id_pattern",
                "regular expression",
            ),
            (
                "[limits]\nmax_message_bytes = \"25 XB\"",
                2,
                "[limits] max_message_bytes",
                "unknown unit \"xb\"",
            ),
            (
                "[limits]\nmax_message_bytes = -5",
                2,
                "[limits] max_message_bytes",
                "negative",
            ),
            (
                "[limits]\nmax_message_bytes = 0",
                2,
                "[limits] max_message_bytes",
                "larger than zero",
            ),
            (
                "[limits]\nmax_attempts = 0",
                2,
                "[limits] max_attempts",
                "from 1 to",
            ),
            (
                "[limits]\nreader_timeout = \"10 parsecs\"",
                2,
                "[limits] reader_timeout",
                "unknown unit",
            ),
            (
                "[limits]\nreader_memory = \"16 MiB\"",
                2,
                "[limits] reader_memory",
                "at least \"64 MiB\"",
            ),
            (
                "[limits]\nmax_header_count = 0",
                2,
                "[limits] max_header_count",
                "from 1 to",
            ),
            (
                "[limits]\nmax_header_bytes = \"1 parsec\"",
                2,
                "[limits] max_header_bytes",
                "unknown unit",
            ),
            (
                "[limits]\nmax_header_field_bytes = 0",
                2,
                "[limits] max_header_field_bytes",
                "larger than zero",
            ),
            (
                "[executors]\nwebservice = \"\"",
                2,
                "[executors] webservice",
                "must not be empty",
            ),
            (
                "[executors]\ntimeout = \"5\"",
                2,
                "[executors] timeout",
                "needs a unit",
            ),
            (
                "[schedule]\ntimezone = \"Europe/Kobenhavn\"",
                2,
                "[schedule] timezone",
                "Europe/Copenhagen",
            ),
            (
                "[schedule]\ndigest = \"0 7 * * Mon-Fri\"",
                2,
                "[schedule] digest",
                "five fields",
            ),
            (
                "[schedule]\nbilling = \"every month\"",
                2,
                "[schedule] billing",
                "not a valid cron",
            ),
        ];
        for (section, line, key, needle) in cases {
            // Sections go first so the line numbers are the case's own.
            let text = format!("{section}\n\n{MINIMAL}");
            assert_one(&text, *line, key, needle);
        }
    }

    #[test]
    fn sizes_durations_and_windows_are_parsed() {
        let text = format!(
            "[limits]\nmax_message_bytes = \"10MiB\"\nmax_docx_unzipped_bytes = 1234\nreader_timeout = \"1500ms\"\n\
             reader_memory = \"1 GiB\"\nmax_header_count = 50\nmax_header_bytes = \"512 kB\"\nmax_header_field_bytes = \"8KiB\"\n\
             [rules]\nchange_window = \"7:30-24:00\"\nextra_closed_days = [\"02-29\"]\nlead_working_days = 0\n\
             [executors]\ntimeout = \"1h 30m\"\nsftp = \"scripts/sftp\"\n\n{MINIMAL}"
        );
        let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.limits.max_message_bytes, 10 * 1024 * 1024);
        assert_eq!(c.limits.max_docx_unzipped_bytes, 1234);
        assert_eq!(c.limits.reader_timeout, Duration::from_millis(1500));
        assert_eq!(c.limits.reader_memory, 1024 * 1024 * 1024);
        assert_eq!(c.limits.max_header_count, 50);
        assert_eq!(c.limits.max_header_bytes, 512_000);
        assert_eq!(c.limits.max_header_field_bytes, 8 * 1024);
        assert_eq!(
            c.rules.change_window.start,
            NaiveTime::from_hms_opt(7, 30, 0).unwrap()
        );
        assert!(
            c.rules
                .change_window
                .contains(NaiveTime::from_hms_opt(23, 0, 0).unwrap())
        );
        assert!(
            !c.rules
                .change_window
                .contains(NaiveTime::from_hms_opt(7, 29, 0).unwrap())
        );
        assert!(
            c.rules.extra_closed_days[0].matches(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap())
        );
        assert_eq!(c.rules.lead_working_days, 0);
        assert_eq!(c.executors.timeout, Duration::from_secs(5400));
        assert_eq!(c.executors.sftp.as_deref(), Some("scripts/sftp"));
    }

    #[test]
    fn config_check_says_executors_wait_for_a_person_without_a_register() {
        const NOTICE: &str = "# notice: no it-system register (rules.systems_file)";
        let text = format!("[executors]\nsftp = \"scripts/sftp\"\n\n{MINIMAL}");
        let mut c = load(&text).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            c.redacted_summary().contains(NOTICE),
            "{}",
            c.redacted_summary()
        );
        c.rules.systems_file = Some(PathBuf::from("/etc/spdesk/systems.csv"));
        assert!(!c.redacted_summary().contains(NOTICE));
        // No command, nothing to say.
        let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        assert!(!c.redacted_summary().contains(NOTICE));
    }

    #[test]
    fn every_problem_is_reported_at_once_in_line_order() {
        let text = r#"[imap]
host = ""
tls = "ssl"
port = 0
username = "helpdesk@example.test"
password = "x"
password_env = "X"

[smtp]
host = "smtp.example.test"
from = "nobody"
[rules]
change_window = "16:00-08:00"
"#;
        let err = load(text).unwrap_err();
        let lines: Vec<Option<usize>> = err.problems().iter().map(|p| p.line).collect();
        assert_eq!(
            lines,
            vec![
                Some(2),
                Some(3),
                Some(4),
                Some(7),
                Some(11),
                Some(13),
                None,
                None,
                None
            ],
            "{err}"
        );
        let shown = err.to_string();
        assert_eq!(shown.lines().count(), 9, "{shown}");
        assert!(
            shown.contains("/etc/spdesk/spdesk.toml:3: [imap] tls = \"ssl\": must be one of"),
            "{shown}"
        );
        assert!(
            shown.contains("/etc/spdesk/spdesk.toml: [database]: section is missing"),
            "{shown}"
        );
        assert!(
            shown.contains("[imap] password_env = \"X\": password is already set"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_keys_and_sections_are_errors_with_lines() {
        let text = minimal_with(
            "host = \"smtp.example.test\"",
            "host = \"smtp.example.test\"\nhots = \"x\"\nfrobnicate = 1",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!((p[0].line, p[0].key.as_str()), (Some(8), "[smtp] hots"));
        assert!(p[0].message.contains("did you mean host?"), "{}", p[0]);
        assert_eq!(
            (p[1].line, p[1].key.as_str()),
            (Some(9), "[smtp] frobnicate")
        );
        assert!(
            p[1].message
                .contains("the keys of [smtp] are host, tls, port"),
            "{}",
            p[1]
        );

        let text = format!("{MINIMAL}\n[limit]\nmax_attempts = 5\n");
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!((p[0].line, p[0].key.as_str()), (Some(19), "[limit]"));
        assert!(p[0].message.contains("did you mean [limits]?"), "{}", p[0]);

        let text = format!("debug = true\n{MINIMAL}");
        let p = problems(&text);
        assert_eq!((p[0].line, p[0].key.as_str()), (Some(1), "debug"));
        assert!(p[0].message.contains("belongs in a section"), "{}", p[0]);

        let text = format!("limits = 5\n{MINIMAL}");
        let p = problems(&text);
        assert_eq!((p[0].line, p[0].key.as_str()), (Some(1), "[limits]"));
        assert!(p[0].message.contains("must be a section"), "{}", p[0]);
    }

    #[test]
    fn syntax_errors_give_their_line() {
        let text = minimal_with(
            "from = \"helpdesk@example.test\"",
            "from = \"helpdesk@example.test",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(p[0].line, Some(8));
        assert!(
            p[0].to_string()
                .starts_with("/etc/spdesk/spdesk.toml:8: invalid TOML:"),
            "{}",
            p[0]
        );

        let dup = minimal_with("[smtp]\n", "[smtp]\nhost = \"a\"\n");
        assert_eq!(problems(&dup)[0].line, Some(8), "{:?}", problems(&dup));

        // Odd but valid TOML must not trip the reader up.
        for text in [
            "when = 1979-05-27T07:32:00Z\n",
            "[[imap]]\nhost = \"x\"\n",
            "imap.host = \"x\"\n",
            "",
        ] {
            assert!(load(text).is_err());
        }
    }

    #[test]
    fn secret_sources_must_fit_auth() {
        // No source.
        let text = minimal_with("password = \"hunter2-xyz\"\n", "auth = \"password\"\n");
        assert_one(
            &text,
            4,
            "[imap] auth",
            "needs one of password, password_file, password_env",
        );
        // A token source under password auth.
        let text = minimal_with(
            "password = \"hunter2-xyz\"",
            "password = \"p\"\noauth_token_command = \"get-token\"",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(
            p[0].to_string(),
            "/etc/spdesk/spdesk.toml:5: [imap] oauth_token_command = \"***\": is only used with auth = \"xoauth2\": set auth, or use password, password_file or password_env"
        );
        // xoauth2 with a token file.
        let text = minimal_with(
            "password = \"hunter2-xyz\"",
            "auth = \"xoauth2\"\noauth_token_file = \"token\"",
        );
        let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.imap.secret,
            Secret::OAuthTokenFile(PathBuf::from("/etc/spdesk/token"))
        );
        // xoauth2 with a password.
        let text = minimal_with(
            "password = \"hunter2-xyz\"",
            "auth = \"xoauth2\"\npassword = \"hunter2-xyz\"",
        );
        let shown = load(&text).unwrap_err().to_string();
        assert!(
            shown.contains(":5: [imap] password = \"***\": is only used with auth = \"password\""),
            "{shown}"
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        // SMTP without auth but with credentials.
        let text = minimal_with(
            "from = \"helpdesk@example.test\"",
            "from = \"helpdesk@example.test\"\nusername = \"u\"\npassword_env = \"P\"",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].message.contains("only used when auth is"), "{}", p[0]);
        assert!(
            p[1].message
                .contains("auth = \"none\" sends no credentials"),
            "{}",
            p[1]
        );
        // SMTP with password auth needs a user name and a source.
        let text = minimal_with(
            "from = \"helpdesk@example.test\"",
            "from = \"helpdesk@example.test\"\nauth = \"password\"",
        );
        let p = problems(&text);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert_eq!((p[0].line, p[0].key.as_str()), (Some(6), "[smtp] username"));
        assert_eq!((p[1].line, p[1].key.as_str()), (Some(9), "[smtp] auth"));
        // ... and with both it loads.
        let text = minimal_with(
            "from = \"helpdesk@example.test\"",
            "from = \"helpdesk@example.test\"\nauth = \"password\"\nusername = \"u\"\npassword_env = \"SPDESK_SMTP\"",
        );
        let c = load(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.smtp.secret,
            Some(Secret::PasswordEnv("SPDESK_SMTP".into()))
        );
        assert_eq!(c.smtp.username.as_deref(), Some("u"));
        // A password of the wrong type is not shown either.
        let text = minimal_with("password = \"hunter2-xyz\"", "password = 12345678");
        let shown = load(&text).unwrap_err().to_string();
        assert!(
            shown.contains("[imap] password = \"***\": must be a string"),
            "{shown}"
        );
    }

    #[test]
    fn missing_required_keys_point_at_their_section() {
        let text = minimal_with("username = \"helpdesk@example.test\"\n", "");
        assert_one(
            &text,
            1,
            "[imap] username",
            "required key is missing: add username =",
        );
        let text = minimal_with(
            "prices = { webservice = 4500.0, sftp = 2500 }",
            "currency = \"DKK\"",
        );
        assert_one(&text, 16, "[billing] prices", "add prices = {");
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_summary() {
        let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("Password(***)"), "{debug}");
        let summary = c.redacted_summary();
        assert!(!summary.contains("hunter2"), "{summary}");
        assert!(summary.contains("password = \"***\""), "{summary}");
        assert!(
            summary.contains("url = \"sqlite:///etc/spdesk/var/spdesk.db?mode=rwc\""),
            "{summary}"
        );
        assert_eq!(
            format!(
                "{:?}",
                Secret::OAuthTokenCommand("az --secret s3cr3t".into())
            ),
            "OAuthTokenCommand(***)"
        );

        let pg = minimal_with(
            "sqlite://var/spdesk.db?mode=rwc",
            "postgres://spdesk:pg-s3cr3t@db.example.test:5432/spdesk",
        );
        let c = load(&pg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.database.url,
            "postgres://spdesk:pg-s3cr3t@db.example.test:5432/spdesk"
        );
        assert_eq!(c.database.sqlite_path(), None);
        assert!(!c.database.is_sqlite());
        for shown in [format!("{c:?}"), c.redacted_summary()] {
            assert!(!shown.contains("pg-s3cr3t"), "{shown}");
            assert!(
                shown.contains("postgres://spdesk:***@db.example.test:5432/spdesk"),
                "{shown}"
            );
        }
    }

    #[test]
    fn summary_is_toml_that_loads_to_the_same_config() {
        let c = load(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
        let again =
            load(&c.redacted_summary()).unwrap_or_else(|e| panic!("{e}\n{}", c.redacted_summary()));
        assert_eq!(again.limits, c.limits);
        assert_eq!(again.rules, c.rules);
        assert_eq!(again.helpdesk, c.helpdesk);
        assert_eq!(again.executors, c.executors);
        assert_eq!(again.billing, c.billing);
        assert_eq!(again.database, c.database);
        assert_eq!(again.imap.port, c.imap.port);
        assert_eq!(again.schedule.digest.source(), c.schedule.digest.source());
        let check = c.check_config().redacted_summary();
        assert!(
            check.contains("[rules]") && check.contains("[limits]") && !check.contains("[imap]"),
            "{check}"
        );
    }

    #[test]
    fn check_reads_only_rules_and_limits() {
        let only = "[limits]\nmax_attempts = 5\n[rules]\nlead_working_days = 3\n";
        let c = Config::from_str_for_check(only, None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.limits.max_attempts, 5);
        assert_eq!(c.rules.lead_working_days, 3);
        // The daemon needs more.
        let err = Config::from_str(only, None).unwrap_err().to_string();
        for section in ["[imap]", "[smtp]", "[database]", "[helpdesk]", "[billing]"] {
            assert!(
                err.contains(&format!("<config>: {section}: section is missing")),
                "{err}"
            );
        }
        // Broken or unknown daemon sections do not matter to check; its own sections do.
        let text = format!("[imap]\ntls = \"ssl\"\n[whatever]\nx = 1\n{only}");
        assert!(Config::from_str_for_check(&text, None).is_ok());
        let err = Config::from_str_for_check("[rules]\nlead_working_dayz = 3\n", None).unwrap_err();
        assert_eq!(err.problems()[0].key, "[rules] lead_working_dayz");
        assert!(Config::from_str_for_check("[rules\n", None).is_err());
        // An empty file is the defaults.
        let c = Config::from_str_for_check("", None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.rules, CheckConfig::default().rules);
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("certs")).unwrap();
        std::fs::write(dir.path().join("certs/ca.pem"), "pem").unwrap();
        std::fs::write(dir.path().join("systems.toml"), "").unwrap();
        std::fs::write(dir.path().join("imap-password"), "from-file\n").unwrap();
        let text = minimal_with(
            "password = \"hunter2-xyz\"",
            "password_file = \"imap-password\"\nca_file = \"certs/ca.pem\"",
        ) + "[rules]\nsystems_file = \"systems.toml\"\ntrusted_ca_file = \"/nonexistent/cas.pem\"\nknown_orders_file = \"certs\"\n";
        let path = dir.path().join("spdesk.toml");
        std::fs::write(&path, &text).unwrap();
        let err = Config::load(&path).unwrap_err();
        let p = err.problems();
        assert_eq!(p.len(), 2, "{err}");
        assert_eq!(
            (p[0].line, p[0].key.as_str()),
            (Some(21), "[rules] trusted_ca_file")
        );
        assert!(
            p[0].message
                .starts_with("file not found: /nonexistent/cas.pem"),
            "{}",
            p[0]
        );
        assert!(p[1].message.starts_with("is not a file"), "{}", p[1]);
        assert_eq!(p[1].file.as_deref(), Some(path.as_path()));

        std::fs::write(
            &path,
            text.replace(
                "trusted_ca_file = \"/nonexistent/cas.pem\"\nknown_orders_file = \"certs\"\n",
                "",
            ),
        )
        .unwrap();
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let base = std::path::absolute(dir.path()).unwrap();
        assert_eq!(c.imap.ca_file, Some(base.join("certs/ca.pem")));
        assert_eq!(c.rules.systems_file, Some(base.join("systems.toml")));
        assert_eq!(
            c.imap.secret,
            Secret::PasswordFile(base.join("imap-password"))
        );
        assert_eq!(c.imap.secret.resolve().unwrap(), "from-file");
        assert_eq!(c.database.sqlite_path(), Some(base.join("var/spdesk.db")));
        let check = Config::load_for_check(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check.rules.systems_file, Some(base.join("systems.toml")));

        let missing = Config::load(&dir.path().join("absent.toml")).unwrap_err();
        assert!(matches!(missing, ConfigError::Read { .. }));
        assert!(
            missing
                .to_string()
                .contains("absent.toml: cannot read the config file"),
            "{missing}"
        );
    }

    #[test]
    fn sqlite_urls() {
        let with = |url: &str| {
            load(&minimal_with("sqlite://var/spdesk.db?mode=rwc", url)).map(|c| c.database)
        };
        let d = with("sqlite:/var/lib/spdesk/spdesk.db").unwrap();
        assert_eq!(d.url, "sqlite:/var/lib/spdesk/spdesk.db");
        assert_eq!(
            d.sqlite_path(),
            Some(PathBuf::from("/var/lib/spdesk/spdesk.db"))
        );
        assert_eq!(with("sqlite::memory:").unwrap().sqlite_path(), None);
        assert_eq!(with("sqlite://?mode=memory").unwrap().sqlite_path(), None);
        let d = with("sqlite:spdesk.db").unwrap();
        assert_eq!(d.url, "sqlite:///etc/spdesk/spdesk.db");
        let d = Config::from_str(
            &minimal_with("sqlite://var/spdesk.db?mode=rwc", "sqlite://a%3Fb.db"),
            Some(Path::new("/x 1/100%/c.toml")),
        )
        .unwrap()
        .database;
        assert_eq!(d.url, "sqlite:///x 1/100%25/a%3Fb.db");
        assert_eq!(d.sqlite_path(), Some(PathBuf::from("/x 1/100%/a?b.db")));
        assert!(with("sqlite").is_err());
    }

    #[test]
    fn secrets_resolve_at_use_time() {
        assert_eq!(Secret::Password("p".into()).resolve().unwrap(), "p");
        let path = std::env::var("PATH").unwrap();
        assert_eq!(Secret::PasswordEnv("PATH".into()).resolve().unwrap(), path);
        let err = Secret::PasswordEnv("SPDESK_SURELY_UNSET_7f3a".into())
            .resolve()
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "password_env: environment variable SPDESK_SURELY_UNSET_7f3a is not set"
            ),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "tok-123\r\nsecond line\n").unwrap();
        assert_eq!(
            Secret::OAuthTokenFile(f.clone()).resolve().unwrap(),
            "tok-123"
        );
        std::fs::write(&f, "\n").unwrap();
        assert!(
            Secret::PasswordFile(f.clone())
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
        assert!(
            Secret::PasswordFile(dir.path().join("none"))
                .resolve()
                .is_err()
        );
        assert_eq!(
            Secret::OAuthTokenCommand("printf 'tok-456\\n'".into())
                .resolve()
                .unwrap(),
            "tok-456"
        );
        let err = Secret::OAuthTokenCommand("exit 3".into())
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("failed"), "{err}");
        let started = Instant::now();
        let err = Secret::OAuthTokenCommand("sleep 5".into())
            .resolve_with_timeout(Duration::from_millis(200))
            .unwrap_err();
        assert!(
            err.to_string().contains("did not finish within 200ms"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[test]
    fn config_lookup_order() {
        let yes = |_: &Path| true;
        let no = |_: &Path| false;
        let cli = Path::new("/a/cli.toml");
        assert_eq!(
            locate_with(Some(cli), Some("/b/env.toml".into()), yes),
            Some(cli.to_path_buf())
        );
        assert_eq!(
            locate_with(None, Some("/b/env.toml".into()), yes),
            Some(PathBuf::from("/b/env.toml"))
        );
        assert_eq!(
            locate_with(None, Some("".into()), yes),
            Some(PathBuf::from(DEFAULT_PATH))
        );
        assert_eq!(
            locate_with(None, None, yes),
            Some(PathBuf::from(DEFAULT_PATH))
        );
        assert_eq!(locate_with(None, None, no), None);
    }

    #[test]
    fn duration_parsing_edges() {
        let ok = |s: &str| parse_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("60s"), Duration::from_secs(60));
        assert_eq!(ok("5m"), Duration::from_secs(300));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok(" 1h30m "), Duration::from_secs(5400));
        assert_eq!(ok("2 days"), Duration::from_secs(172_800));
        assert_eq!(ok("10 S"), Duration::from_secs(10));
        assert_eq!(ok("0s"), Duration::ZERO);
        for bad in [
            "",
            "60",
            "s",
            "1.5s",
            "-1s",
            "5 fortnights",
            "1h x",
            "99999999999999999999s",
            "3661d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for (d, s) in [
            (0, "0ms"),
            (1500, "1500ms"),
            (60_000, "1m"),
            (90_000, "90s"),
            (3_600_000, "1h"),
            (86_400_000, "1d"),
        ] {
            assert_eq!(format_duration(Duration::from_millis(d)), s);
            assert_eq!(parse_duration(s).unwrap(), Duration::from_millis(d));
        }
    }

    #[test]
    fn size_parsing_edges() {
        let ok = |s: &str| parse_size(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("25 MB"), 25_000_000);
        assert_eq!(ok("25MB"), 25_000_000);
        assert_eq!(ok("25MiB"), 25 * 1024 * 1024);
        assert_eq!(ok("512 kB"), 512_000);
        assert_eq!(ok("4 KiB"), 4096);
        assert_eq!(ok("1GiB"), 1 << 30);
        assert_eq!(ok("100"), 100);
        assert_eq!(ok("100 B"), 100);
        for bad in [
            "",
            "MB",
            "1.5 MB",
            "-1",
            "25 XB",
            "99999999999 GB",
            "18446744073709551616",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn helpers() {
        assert!(valid_address("helpdesk@example.test"));
        assert!(valid_address("a.b+c@sub.example.test"));
        for bad in [
            "",
            "@example.test",
            "a@",
            "a b@example.test",
            "a@exa mple.test",
            "a@-x.test",
            "a..b@x.test",
            "a@x..test",
        ] {
            assert!(!valid_address(bad), "{bad}");
        }
        assert!(valid_mailbox(
            "Serviceplatformens Helpdesk <helpdesk@example.test>"
        ));
        assert!(!valid_mailbox("Helpdesk <helpdesk>"));
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db?x=1"),
            "postgres://u:***@h/db?x=1"
        );
        assert_eq!(redact_url("sqlite://var/x.db"), "sqlite://var/x.db");
        assert_eq!(line_of_offset("a\nb\nc", 2), Some(2));
        assert_eq!(line_of_offset("a\nb", 99), Some(2));
        assert_eq!(line_of_offset("æ", 1), None);
        let text = "[a]\nk = 1\n[b]\n  k=2\n\"q\" = 3\n[b.c]\nk = 4\n";
        assert_eq!(find_key_line(text, "a", "k"), Some(2));
        assert_eq!(find_key_line(text, "b", "k"), Some(4));
        assert_eq!(find_key_line(text, "b", "q"), Some(5));
        assert_eq!(find_key_line(text, "b.c", "k"), Some(7));
        assert_eq!(find_key_line(text, "a", "kk"), None);
        assert_eq!(find_section_line(text, "b.c"), Some(6));
        assert_eq!(suggest("hots", &["host", "port"]), Some("host"));
        assert_eq!(suggest("zzzzzz", &["host", "port"]), None);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            parse_month_day("12-24"),
            Some(MonthDay { month: 12, day: 24 })
        );
        assert_eq!(parse_month_day("13-01"), None);
        assert_eq!(parse_month_day("1-1"), None);
        assert_eq!(MonthDay { month: 2, day: 3 }.to_string(), "02-03");
    }
}
