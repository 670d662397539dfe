//! The daemon's configuration: one TOML file, read once at start.
//!
//! Loading never stops at the first mistake: every problem is collected and reported with the
//! file, the line, the key, what is wrong and what to do, so `spdesk config check` can list them
//! all at once. Unknown keys are problems too, so a typo is never silently ignored.
//!
//! Relative paths (files, and the SQLite file in `database.url`) are relative to the config
//! file's folder and are resolved to absolute paths in the loaded [`Config`]. Secrets are read
//! when they are used ([`Secret::resolve`]), never kept in logs: their `Debug` shows `***`.
//!
//! One job per file: [`types`] (the loaded sections), [`reader`] (the line-tracking TOML
//! reader and its typed getters), [`sections`] (what each section holds and its defaults),
//! [`database`], [`secrets`], [`units`] (durations and sizes), [`error`] (problems),
//! [`summary`] (what `config check` prints) and [`warnings`].

mod database;
mod error;
mod reader;
mod secrets;
mod sections;
mod summary;
mod types;
mod units;
mod verify;
pub mod warnings;
mod web;

use std::path::{Path, PathBuf};

pub use database::{DEFAULT_LEASE_TIMEOUT, percent_encode_path, redact_url};
pub use error::{ConfigError, Problem};
pub use secrets::SECRET_COMMAND_TIMEOUT;
pub use types::*;
pub use units::{format_duration, parse_duration, parse_size};
pub use verify::Verify;

pub use crate::rules::calendar::{ChangeWindow, MonthDay};

use database::read_database;
use reader::Cx;
use sections::{
    read_billing, read_executors, read_helpdesk, read_imap, read_limits, read_rules, read_schedule,
    read_smtp, read_spam_headers,
};

/// Where the config is looked for when neither `--config` nor `$SPDESK_CONFIG` names one.
pub const DEFAULT_PATH: &str = "config/spdesk.toml";
/// The environment variable that names the config file.
pub const ENV_VAR: &str = "SPDESK_CONFIG";
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
    "web",
    "verify",
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
            helpdesk = read_helpdesk(&mut s, &sections::daemon_reads(imap.as_ref()));
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
        let (web, verify) = read_web_and_verify(&mut cx, &sections);
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
                web,
                verify,
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

    /// Reads only `[rules]`, `[limits]` and `helpdesk.spam_headers`, as `spdesk check` does;
    /// the other sections and keys may be absent (or anything) and are not looked at.
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
        // Only this key of [helpdesk]: the others are the daemon's.
        let spam_headers = read_spam_headers(&mut cx.section(&sections, "helpdesk"));
        let problems = cx.finish();
        if problems.is_empty() {
            Ok(CheckConfig {
                rules,
                limits,
                spam_headers,
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
            spam_headers: self.helpdesk.spam_headers.clone(),
            path: self.path.clone(),
        }
    }
}

/// `[web]` and `[verify]`: the sections that may be absent altogether.
fn read_web_and_verify(cx: &mut Cx<'_>, sections: &reader::Sections) -> (Option<Web>, Verify) {
    let mut s = cx.section(sections, "web");
    let web = web::read_web(&mut s);
    s.finish();
    let mut s = cx.section(sections, "verify");
    let verify = verify::read_verify(&mut s);
    s.finish();
    (web, verify)
}

fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The absolute folder of the config file (the current folder without a file).
pub(super) fn base_dir(path: Option<&Path>) -> PathBuf {
    let parent = path
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}
#[cfg(test)]
mod tests;
