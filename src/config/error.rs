//! What is wrong with a config: one [`Problem`] per mistake, with file, line, key and what to
//! do, and the [`ConfigError`] that carries them all.

use std::fmt;
use std::path::PathBuf;

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
