//! The loaded configuration: one type per section, validated, paths absolute. Built by the
//! section readers ([`super::sections`]); what the daemon and the commands read.

use std::path::PathBuf;
use std::time::Duration;

use crate::forms::raw::ReadLimits;
use crate::rules::calendar::{ChangeWindow, MonthDay};

pub use super::database::Database;
pub use super::secrets::Secret;

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
    /// The web console (`/healthz`, `/metrics`); `None` when `[web] listen` is not set.
    pub web: Option<Web>,
    /// `[verify]`: the step-8 check of a webservice change.
    pub verify: super::verify::Verify,
    /// The file it came from, as given (`None` when loaded from a string without a path).
    pub path: Option<PathBuf>,
}

/// What `spdesk check` needs: only `[rules]`, `[limits]` and `helpdesk.spam_headers`, so it
/// runs without servers.
#[derive(Debug, Clone, Default)]
pub struct CheckConfig {
    pub rules: RulesConfig,
    pub limits: Limits,
    pub spam_headers: crate::mail::spam::SpamHeaders,
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
    pub(super) fn parse(s: &str) -> Option<Tls> {
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
    pub(super) fn parse(s: &str) -> Option<Auth> {
        match s {
            "none" => Some(Auth::None),
            "password" => Some(Auth::Password),
            "xoauth2" => Some(Auth::XOAuth2),
            _ => None,
        }
    }
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
    /// The receiving MTA's spam verdicts: a mail that passes one is never answered.
    pub spam_headers: crate::mail::spam::SpamHeaders,
}

/// `[limits]`: bounds that keep a hostile or broken mail from exhausting the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_message_bytes: u64,
    pub max_attachments: usize,
    /// What the document readers enforce (`max_docx_*`, `max_xml_depth`, `max_pdf_*`).
    pub reader: ReadLimits,
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
    /// A queued mail the SMTP server has not taken for this long (temporary failures) ends
    /// failed, like one it refused permanently: never retried for ever.
    pub outbox_max_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 25_000_000,
            max_attachments: 20,
            reader: ReadLimits::default(),
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
            outbox_max_age: Duration::from_secs(3 * 24 * 3600),
        }
    }
}

impl Limits {
    /// The part of the limits that the document readers enforce.
    pub fn read_limits(&self) -> ReadLimits {
        self.reader.clone()
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
    /// `csv`: the dialect of the billing CSV (`rfc4180`, the DESIGN.md format, by default).
    pub csv: crate::schedule::billing::CsvDialect,
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

/// `[web]`: where the daemon serves HTTP. Only present when `listen` is set, so a config
/// without it runs no web server at all.
#[derive(Debug, Clone, PartialEq)]
pub struct Web {
    pub listen: std::net::SocketAddr,
    /// The address staff reach the console at, for links in mails (`None`: not set).
    pub public_url: Option<String>,
    pub session_hours: u32,
    /// Served over HTTPS with this certificate and key (`None`: plain HTTP).
    pub tls: Option<WebTls>,
    /// The header a trusted reverse proxy names the signed-in person in.
    pub trusted_proxy_header: Option<String>,
    /// The only peers whose `trusted_proxy_header` is believed.
    pub trusted_proxies: Vec<ProxyNet>,
    /// Whether `/metrics` is served (it needs no login, so it is off unless asked for).
    pub metrics: bool,
    /// How long IMAP may be disconnected before `/healthz` reports it (default 5 minutes).
    pub health_imap_grace: Duration,
}

/// `tls_cert` and `tls_key`: PEM files, checked to hold a certificate and a private key.
#[derive(Debug, Clone, PartialEq)]
pub struct WebTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One `trusted_proxies` entry: an address, or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl ProxyNet {
    /// `"10.0.0.1"` (a single address) or `"10.0.0.0/8"`; `None` for anything else.
    pub fn parse(s: &str) -> Option<ProxyNet> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr = ip.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        (prefix <= max).then_some(ProxyNet { addr, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let (a, b, bits) = match (self.addr, ip) {
            (V4(a), V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32u32),
            (V6(a), V6(b)) => (u128::from(a), u128::from(b), 128u32),
            _ => return false,
        };
        let host_bits = bits - u32::from(self.prefix);
        a.checked_shr(host_bits).unwrap_or(0) == b.checked_shr(host_bits).unwrap_or(0)
    }
}

impl std::fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
