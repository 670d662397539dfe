//! Passwords and OAuth tokens: where each comes from (the config, a file, a variable or a
//! command) and how it is read at use time, so a rotated password or a refreshed token is
//! picked up without a restart. Also the section reader's choice of exactly one secret key.

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::ConfigError;
use super::reader::{Sect, toml_str};
use super::types::Auth;
use super::units::format_duration;

/// How long `oauth_token_command` may run before it is killed.
pub const SECRET_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

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

    pub(super) fn resolve_with_timeout(&self, timeout: Duration) -> Result<String, ConfigError> {
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

impl Sect<'_, '_> {
    /// Reads all five secret keys (so none is unknown); which one counts depends on `auth`.
    pub(super) fn secret_keys(&mut self) -> Vec<(&'static str, String, Option<usize>)> {
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
    pub(super) fn pick_secret(
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
            self.missing_secret(auth, allowed);
            return None;
        };
        if !ok {
            return None;
        }
        self.secret_from(key, value, line)
    }

    /// `auth` needs a secret and none is given: the problem is on the `auth` line.
    fn missing_secret(&mut self, auth: Auth, allowed: &[&str]) {
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
    }

    /// The secret of the one key given, checked as far as it can be before use.
    fn secret_from(
        &mut self,
        key: &'static str,
        value: String,
        line: Option<usize>,
    ) -> Option<Secret> {
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
}
