//! Warnings about a valid config that exposes a secret: a password sent in plain text to
//! another machine (`tls = "none"` to a host that is not loopback), an inline secret in a
//! config file that group or others can read, a `password_file`/`oauth_token_file` that group
//! or others can read.
//!
//! They are warnings, not problems: `spdesk config check` prints them (and still says OK,
//! exit 0) and `spdesk run` logs each at start and runs on. A local test stack on loopback,
//! or a file readable by an admin group on purpose, are legitimate; the operator decides.

use std::net::IpAddr;
use std::path::Path;

use crate::config::{Config, Secret, Tls};

/// Every warning for `cfg`, each naming the file or section, the key and what to do.
pub fn warnings(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let servers = [
        ("imap", &cfg.imap.host, cfg.imap.tls, Some(&cfg.imap.secret)),
        (
            "smtp",
            &cfg.smtp.host,
            cfg.smtp.tls,
            cfg.smtp.secret.as_ref(),
        ),
    ];
    for (section, host, tls, secret) in servers {
        let Some(secret) = secret else { continue };
        if tls == Tls::None && !is_loopback(host) {
            out.push(format!(
                "[{section}] tls = \"none\": the {} goes in plain text to {host:?}, which is not a loopback address; set tls = \"tls\" or \"starttls\"",
                if matches!(secret, Secret::OAuthTokenFile(_) | Secret::OAuthTokenCommand(_)) {
                    "access token"
                } else {
                    "password"
                }
            ));
        }
        match secret {
            Secret::Password(_) => {
                if let Some(path) = &cfg.path
                    && let Some(mode) = readable_by_others(path)
                {
                    out.push(format!(
                        "{}: [{section}] password is written in the file, and group or others can read the file (mode {mode:o}); chmod 600 {0}, or use password_file or password_env",
                        path.display()
                    ));
                }
            }
            Secret::PasswordFile(file) | Secret::OAuthTokenFile(file) => {
                if let Some(mode) = readable_by_others(file) {
                    out.push(format!(
                        "{}: the secret of [{section}] is readable by group or others (mode {mode:o}); chmod 600 {0}",
                        file.display()
                    ));
                }
            }
            Secret::PasswordEnv(_) | Secret::OAuthTokenCommand(_) => {}
        }
    }
    out
}

/// `localhost` or a loopback IP (127.0.0.0/8, ::1); names are not resolved.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case("localhost.")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The permission bits when group or others have any access to `path`; `None` when they have
/// none or the file cannot be read (a missing file is reported elsewhere).
fn readable_by_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn config_in(dir: &Path, imap: &str, smtp: &str, mode: u32) -> Config {
        let text = format!(
            "[imap]\nusername = \"helpdesk@example.test\"\n{imap}\n\n\
             [smtp]\nfrom = \"helpdesk@example.test\"\n{smtp}\n\n\
             [database]\nurl = \"sqlite://var/spdesk.db?mode=rwc\"\n\n\
             [helpdesk]\naddress = \"helpdesk@example.test\"\nreview_to = [\"review@example.test\"]\ndigest_to = [\"digest@example.test\"]\nincident_to = [\"incident@example.test\"]\nbilling_to = [\"billing@example.test\"]\n\n\
             [billing]\nprices = {{ webservice = 4500.0, sftp = 2500 }}\n"
        );
        let path = dir.join("spdesk.toml");
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_plaintext_password_to_another_host_is_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let env = "password_env = \"SPDESK_TEST_PW\"";
        let c = config_in(
            dir.path(),
            &format!("host = \"imap.example.test\"\ntls = \"none\"\n{env}"),
            "host = \"smtp.example.test\"\ntls = \"none\"\nauth = \"password\"\nusername = \"u\"\npassword_env = \"X\"",
            0o600,
        );
        let w = warnings(&c);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("[imap] tls = \"none\""), "{w:?}");
        assert!(w[0].contains("\"imap.example.test\""), "{w:?}");
        assert!(w[1].starts_with("[smtp] tls = \"none\""), "{w:?}");

        // loopback, TLS, or no secret at all: nothing to say
        for (imap, smtp) in [
            (
                "host = \"127.0.0.1\"\ntls = \"none\"",
                "host = \"::1\"\ntls = \"none\"\nauth = \"password\"\nusername = \"u\"\npassword_env = \"X\"",
            ),
            (
                "host = \"localhost\"\ntls = \"none\"",
                "host = \"smtp.example.test\"\ntls = \"none\"\nauth = \"none\"",
            ),
            (
                "host = \"imap.example.test\"\ntls = \"tls\"",
                "host = \"smtp.example.test\"\ntls = \"starttls\"\nauth = \"password\"\nusername = \"u\"\npassword_env = \"X\"",
            ),
        ] {
            let c = config_in(dir.path(), &format!("{imap}\n{env}"), smtp, 0o600);
            assert_eq!(warnings(&c), Vec::<String>::new(), "{imap} / {smtp}");
        }
    }

    #[test]
    fn secrets_others_can_read_are_warned_about() {
        let dir = tempfile::tempdir().unwrap();
        let tls = "host = \"imap.example.test\"\ntls = \"tls\"";
        let smtp = "host = \"smtp.example.test\"\nauth = \"none\"";
        let inline = format!("{tls}\npassword = \"hunter2\"");
        let c = config_in(dir.path(), &inline, smtp, 0o644);
        let w = warnings(&c);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("spdesk.toml: [imap] password is written in the file"),
            "{w:?}"
        );
        assert!(w[0].contains("mode 644"), "{w:?}");
        assert!(warnings(&config_in(dir.path(), &inline, smtp, 0o600)).is_empty());

        let secret = dir.path().join("imap.pw");
        std::fs::write(&secret, "hunter2\n").unwrap();
        let from_file = format!("{tls}\npassword_file = \"{}\"", secret.display());
        for (mode, warned) in [(0o640, true), (0o604, true), (0o600, false), (0o400, false)] {
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
            // the config file itself may be world-readable: it holds no secret
            let w = warnings(&config_in(dir.path(), &from_file, smtp, 0o644));
            assert_eq!(!w.is_empty(), warned, "mode {mode:o}: {w:?}");
            if warned {
                assert!(w[0].contains("imap.pw: the secret of [imap]"), "{w:?}");
            }
        }
    }
}
