//! `[database]`: the URL, a relative SQLite file resolved against the config folder, and the
//! URL with its password hidden for logs and summaries.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::{AsciiSet, percent_decode_str, utf8_percent_encode};

use super::reader::{Sect, toml_str};

/// `[database]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    /// `sqlite://...` (a relative file already resolved against the config folder), ready
    /// for sqlx. A `postgres:` URL is refused until the store supports PostgreSQL.
    pub url: String,
}

impl Database {
    /// The SQLite file, so the shell can create its folder; `None` for memory.
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

pub(super) fn read_database(s: &mut Sect) -> Option<Database> {
    let url = s.required_text("url", "url = \"sqlite://var/spdesk.db?mode=rwc\"")?;
    let shown = Some(toml_str(&redact_url(&url)));
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        s.problem("url", shown, "PostgreSQL is not supported by this build yet (it comes later): only sqlite: is; use e.g. \"sqlite://var/spdesk.db?mode=rwc\"");
        return None;
    }
    let Some((db, params)) = split_sqlite_url(&url) else {
        s.problem("url", shown, "must start with \"sqlite:\" (the only database this build supports), e.g. \"sqlite://var/spdesk.db?mode=rwc\"");
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
pub(super) fn percent_encode_path(p: &str) -> String {
    utf8_percent_encode(p, PATH_SPECIAL).to_string()
}

pub(super) fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `scheme://user:***@host/...`: the password of a URL hidden.
pub(super) fn redact_url(url: &str) -> String {
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
