//! `[database]`: the URL (a relative SQLite file resolved against the config folder; a
//! PostgreSQL URL checked for what would keep spdesk from using it), PostgreSQL's password
//! from a file or a variable, the instances' lease timeout, and the URL with its password
//! hidden for logs and summaries.

use std::fmt;
use std::path::PathBuf;

use std::time::Duration;

use percent_encoding::{AsciiSet, percent_decode_str, utf8_percent_encode};

use super::error::ConfigError;
use super::reader::{Sect, toml_str};
use super::secrets::Secret;
use super::types::Auth;

/// `[database]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// `sqlite://...` (a relative file already resolved against the config folder) or
    /// `postgres://...`, ready for sqlx but without a password given apart from it.
    pub url: String,
    /// PostgreSQL's password from `password_file` or `password_env` (read at each start),
    /// when not in the URL.
    pub secret: Option<Secret>,
    /// How long a claim of an instance (a mail it is judging, a mail it is sending) holds:
    /// after that, another instance takes the work over, as its holder must have died.
    pub lease_timeout: Duration,
}

/// The default `lease_timeout`: longer than judging a mail takes (the readers' own time limit
/// is 10 s), short enough that a mail whose instance died waits half a minute at most.
pub const DEFAULT_LEASE_TIMEOUT: Duration = Duration::from_secs(30);

impl Database {
    /// The SQLite file, so the shell can create its folder; `None` for memory or PostgreSQL.
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

    /// The URL to connect with: the password from `password_file`/`password_env` put in
    /// (read now, so a rotated password is used at the next start). Never logged.
    pub fn connect_url(&self) -> Result<String, ConfigError> {
        let Some(secret) = &self.secret else {
            return Ok(self.url.clone());
        };
        let password = secret.resolve()?;
        let mut url = url::Url::parse(&self.url).map_err(|e| ConfigError::Secret {
            key: secret.key(),
            message: format!("database.url cannot take a password: {e}"),
        })?;
        url.set_password(Some(&password))
            .map_err(|()| ConfigError::Secret {
                key: secret.key(),
                message: "database.url has no host to log in to".to_string(),
            })?;
        Ok(url.to_string())
    }
}

/// The URL may hold a PostgreSQL password.
impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.redacted_url())
            .field("secret", &self.secret)
            .field("lease_timeout", &self.lease_timeout)
            .finish()
    }
}

pub(super) fn read_database(s: &mut Sect) -> Option<Database> {
    let url = s.required_text("url", "url = \"sqlite://var/spdesk.db?mode=rwc\"");
    let keys: Vec<_> = s
        .secret_keys()
        .into_iter()
        .filter(|(k, _, _)| *k != "password")
        .collect();
    let lease_timeout = s.duration("lease_timeout").unwrap_or(DEFAULT_LEASE_TIMEOUT);
    if lease_timeout < Duration::from_secs(1) {
        s.problem(
            "lease_timeout",
            Some(format!("{lease_timeout:?}")),
            "must be at least 1s: a claim shorter than judging one mail would hand the mail to a second instance while the first still works on it",
        );
    }
    let url = url?;
    let shown = Some(toml_str(&redact_url(&url)));
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let secret = if keys.is_empty() {
            None
        } else {
            s.pick_secret(keys, Auth::Password)
        };
        if let Some(why) = postgres_url_problem(&url, secret.is_some(), &s.cx.base) {
            s.problem("url", shown, &why);
            return None;
        }
        return Some(Database {
            url: absolute_files(&url, &s.cx.base),
            secret,
            lease_timeout,
        });
    }
    for (key, value, line) in keys {
        s.problem_at(
            key,
            Some(toml_str(&value)),
            line,
            "is only used with a postgres:// url (SQLite has no password): remove it",
        );
    }
    let Some((db, params)) = split_sqlite_url(&url) else {
        s.problem("url", shown, "must start with \"sqlite:\" (one file on this machine, e.g. \"sqlite://var/spdesk.db?mode=rwc\") or \"postgres://\" (a server several instances share, e.g. \"postgres://spdesk@db.example.test/spdesk?sslmode=verify-full\")");
        return None;
    };
    let memory =
        db.is_empty() || db == ":memory:" || params.is_some_and(|p| p.contains("mode=memory"));
    let resolved = if memory || db.starts_with('/') {
        url
    } else {
        let abs = s.cx.base.join(percent_decode(db));
        let mut resolved = format!("sqlite://{}", percent_encode_path(&abs.to_string_lossy()));
        if let Some(p) = params {
            resolved.push('?');
            resolved.push_str(p);
        }
        resolved
    };
    Some(Database {
        url: resolved,
        secret: None,
        lease_timeout,
    })
}

/// The connection parameters spdesk passes on to PostgreSQL; anything else in the URL is a
/// typo that would otherwise be ignored.
const POSTGRES_PARAMS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "options",
    "statement-cache-capacity",
];
const SSLMODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// Why a `postgres://` URL cannot be used, in words that say what to write instead; `None`
/// when it can. `separate_password`: a password is given by `password_file`/`password_env`.
/// Files named in it are looked for relative to `base`.
pub(super) fn postgres_url_problem(
    url: &str,
    separate_password: bool,
    base: &std::path::Path,
) -> Option<String> {
    let example = "e.g. \"postgres://spdesk@db.example.test:5432/spdesk?sslmode=verify-full\"";
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => return Some(format!("is not a URL ({e}); write {example}")),
    };
    if parsed.host_str().is_none_or(str::is_empty) {
        return Some(format!(
            "names no server: write the host after //, {example}"
        ));
    }
    if parsed.username().is_empty() {
        return Some(format!(
            "names no user to log in as: write it before @, {example}"
        ));
    }
    let database = parsed.path().trim_start_matches('/');
    if database.is_empty() || database.contains('/') {
        return Some(format!(
            "names no database: write it after the host, {example}"
        ));
    }
    if parsed.password().is_some() && separate_password {
        return Some("holds a password and password_file/password_env gives another: keep the password out of the URL (the config is easier to share without it)".to_string());
    }
    for (key, value) in parsed.query_pairs() {
        if !POSTGRES_PARAMS.contains(&key.as_ref()) {
            return Some(format!(
                "has the parameter \"{key}\", which spdesk does not use: remove it (known: {})",
                POSTGRES_PARAMS.join(", ")
            ));
        }
        if key == "sslmode" && !SSLMODES.contains(&value.as_ref()) {
            return Some(format!(
                "sslmode={value} is not a TLS mode: use one of {} (verify-full checks the server's certificate and name)",
                SSLMODES.join(", ")
            ));
        }
        if matches!(key.as_ref(), "sslrootcert" | "sslcert" | "sslkey") {
            let file = base.join(value.as_ref());
            if !file.is_file() {
                return Some(format!(
                    "{key}={value}: file not found ({}); give the file's path",
                    file.display()
                ));
            }
        }
    }
    None
}

/// The URL with the certificate and key files it names made absolute (relative to the config
/// folder, as every path in the config), so the daemon finds them from any working folder.
fn absolute_files(url: &str, base: &std::path::Path) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| {
            let v = if matches!(k.as_ref(), "sslrootcert" | "sslcert" | "sslkey") {
                base.join(v.as_ref()).display().to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if pairs.is_empty() {
        return url.to_string();
    }
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    parsed.to_string()
}

/// `(path, params)` of a `sqlite:` URL; `None` for anything else.
pub(super) fn split_sqlite_url(url: &str) -> Option<(&str, Option<&str>)> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(match rest.split_once('?') {
        Some((db, p)) => (db, Some(p)),
        None => (rest, None),
    })
}

/// What sqlx would otherwise read as the end of the path or an escape in a SQLite path.
const PATH_SPECIAL: &AsciiSet = &AsciiSet::EMPTY.add(b'%').add(b'?').add(b'#');

/// sqlx decodes `%XX` in a SQLite path; encode what would otherwise end or break it.
pub fn percent_encode_path(p: &str) -> String {
    utf8_percent_encode(p, PATH_SPECIAL).to_string()
}

pub(super) fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `scheme://user:***@host/...`: the password of a URL hidden.
pub fn redact_url(url: &str) -> String {
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
