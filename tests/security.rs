//! Security over the real servers (issue 6): XOAUTH2 to Dovecot (IMAP) and Postfix (SMTP, via
//! Dovecot SASL) with tokens from a file or a command, refused and rotated tokens, secrets
//! kept out of every log and of `config check`, TLS verification on by default, and private
//! (0600/0700) state files. OAuth tokens are JWTs the test signs itself (HS256) with the key
//! the stack's Dovecot checks locally (`scripts/mailstack.sh`, MAILSTACK_OAUTH=1).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::daemon::{BIN, Daemon};
use common::{FA, HELPDESK, MailStack};

/// Generous bounds: a loaded machine must not fail a correct daemon.
const CONNECT: Duration = Duration::from_secs(30);
const RECEIPTS: Duration = Duration::from_secs(40);
const FAILURE: Duration = Duration::from_secs(30);

// ------------------------------------------------------------------------------ JWT (HS256)

fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// HMAC-SHA256 (RFC 2104) with the crate's sha2: no extra dependency for one test.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A distinctive string, so that a test can look for it in logs.
fn nonce(what: &str) -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{what}-{}-{t:x}", std::process::id())
}

/// An access token for `sub` that the stack's Dovecot accepts until `exp` (Unix time).
fn token(stack: &MailStack, sub: &str, exp: i64) -> String {
    let key = stack.oauth_key().expect("an OAuth stack has a key");
    let iss = stack.oauth_issuer().expect("an OAuth stack has an issuer");
    let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": iss, "sub": sub, "iat": now() - 7200, "exp": exp, "jti": nonce("jti"),
    });
    let payload = b64url(claims.to_string().as_bytes());
    let signed = format!("{header}.{payload}");
    let sig = b64url(&hmac_sha256(key.as_bytes(), signed.as_bytes()));
    format!("{signed}.{sig}")
}

fn valid_token(stack: &MailStack) -> String {
    token(stack, HELPDESK, now() + 3600)
}

fn expired_token(stack: &MailStack) -> String {
    token(stack, HELPDESK, now() - 3600)
}

/// The base64 search finds a secret in the responses the daemon sends: `AUTH PLAIN` with and
/// without an authorization identity, `AUTH LOGIN`, XOAUTH2; and nothing in other text.
#[test]
fn a_secret_is_found_inside_every_sasl_response() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let found = |text: &str, secret: &str| base64_cores(secret).iter().any(|c| text.contains(c));
    for secret in [
        "pw-Xq7-1234-5f3a9c1e",
        "pw-Xq7-1234-5f3a9c1",
        "pw-Xq7-1234-5f3a9c",
    ] {
        for user in ["helpdesk@example.test", "a@b.test", "ab@b.test"] {
            for response in [
                format!("\0{user}\0{secret}"),
                format!("{user}\0{user}\0{secret}"),
                secret.to_string(),
                format!("user={user}\x01auth=Bearer {secret}\x01\x01"),
            ] {
                let line = format!("C: AUTH PLAIN {}\r\n", b64(&response));
                assert!(found(&line, secret), "{response:?} -> {line}");
            }
        }
        assert!(!found(&b64("nothing secret here at all, really"), secret));
    }
}

#[test]
fn jwt_helpers_match_the_standards() {
    // RFC 4231, test case 2
    assert_eq!(
        hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // RFC 4648 vectors, URL alphabet, no padding
    assert_eq!(b64url(b""), "");
    assert_eq!(b64url(b"f"), "Zg");
    assert_eq!(b64url(b"fo"), "Zm8");
    assert_eq!(b64url(b"foobar"), "Zm9vYmFy");
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
}

// ------------------------------------------------------------------------------ config edits

/// Replaces the test config's `[imap]` password login with `lines`.
fn imap_auth(d: &Daemon, lines: &str) {
    d.edit_config(|t| {
        let old = "auth = \"password\"\npassword = \"secret\"\n";
        assert!(t.contains(old), "the test config changed: {t}");
        t.replacen(old, lines, 1)
    });
}

/// Replaces the test config's `[smtp] auth = "none"` with `lines`.
fn smtp_auth(d: &Daemon, lines: &str) {
    d.edit_config(|t| {
        let old = "auth = \"none\"\n";
        assert!(t.contains(old), "the test config changed: {t}");
        t.replacen(old, lines, 1)
    });
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a secret file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// What any standard-base64 text carrying `secret` contains, whatever bytes come before and
/// after it: one string per alignment of the secret in the encoded stream (the groups of four
/// characters that only the secret's bytes decide). An `AUTH PLAIN` (`\0user\0password`),
/// `AUTH LOGIN` or XOAUTH2 (`user=..\x01auth=Bearer TOKEN\x01\x01`) response holds one.
fn base64_cores(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    (0..3usize)
        .map(|before| {
            let mut bytes = vec![0u8; before];
            bytes.extend_from_slice(secret.as_bytes());
            let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
            // the first group mixes in the bytes before, a partial last group those after
            let start = if before == 0 { 0 } else { 4 };
            let end = bytes.len() / 3 * 4;
            encoded.get(start..end).unwrap_or("").to_string()
        })
        .collect()
}

/// Panics when any of `secrets` occurs in `text` (which came from `source`): as itself, as a
/// JWT's signature, or inside base64 (a SASL response that carries it; see [`base64_cores`]).
fn assert_no_secret(source: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!s.is_empty());
        assert!(
            !text.contains(s),
            "a secret ({s}) appears in {source}:\n{text}"
        );
        for core in base64_cores(s) {
            assert!(core.len() >= 16, "too short a secret to look for: {s}");
            assert!(
                !text.contains(&core),
                "a secret ({s}) appears base64-encoded ({core}) in {source}:\n{text}"
            );
        }
        // the part after the last '.' of a JWT is its signature: no fragment either
        if let Some(sig) = s.rsplit('.').next().filter(|p| p.len() >= 20) {
            assert!(
                !text.contains(sig),
                "a token's signature appears in {source}"
            );
        }
    }
}

// ------------------------------------------------------------------------------ XOAUTH2

/// (a) IMAP and SMTP log in with XOAUTH2, tokens read from files: a form is read and its
/// receipts sent, and the servers' logs show the XOAUTH2 logins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_with_token_files_for_imap_and_smtp() {
    let stack = MailStack::start_oauth(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let (imap_token, smtp_token) = (valid_token(&stack), valid_token(&stack));
    write_private(&d.dir().join("imap.token"), &format!("{imap_token}\n"));
    write_private(&d.dir().join("smtp.token"), &format!("{smtp_token}\n"));
    imap_auth(
        &d,
        "auth = \"xoauth2\"\noauth_token_file = \"imap.token\"\n",
    );
    smtp_auth(
        &d,
        &format!(
            "auth = \"xoauth2\"\nusername = \"{HELPDESK}\"\noauth_token_file = \"smtp.token\"\n"
        ),
    );
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack.send_form("OAUTH-FILE-1", "Ny URL").await;
    d.wait_form_receipts(&stack, RECEIPTS).await;

    let dovecot = stack.dovecot_log();
    assert!(
        dovecot.contains(&format!("user=<{HELPDESK}>, method=XOAUTH2")),
        "Dovecot logged no XOAUTH2 login:\n{dovecot}"
    );
    let postfix = stack.postfix_log();
    assert!(
        postfix.contains(&format!("sasl_method=XOAUTH2, sasl_username={HELPDESK}")),
        "Postfix logged no XOAUTH2 login:\n{postfix}"
    );
    assert_no_secret("the daemon log", &d.log(), &[&imap_token, &smtp_token]);
}

/// (b, c) Tokens from a command: expired ones are refused (the daemon keeps running and says
/// which side failed and what to fix, never the token), and fresh ones are picked up on the
/// next attempt, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_token_command_refused_then_rotated() {
    let stack = MailStack::start_oauth(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let (imap_file, smtp_file) = (d.dir().join("imap.tok"), d.dir().join("smtp.tok"));
    let (imap_old, smtp_old) = (expired_token(&stack), expired_token(&stack));
    write_private(&imap_file, &imap_old);
    write_private(&smtp_file, &smtp_old);
    imap_auth(
        &d,
        &format!(
            "auth = \"xoauth2\"\noauth_token_command = \"cat {}\"\n",
            imap_file.display()
        ),
    );
    smtp_auth(
        &d,
        &format!(
            "auth = \"xoauth2\"\nusername = \"{HELPDESK}\"\noauth_token_command = \"cat {}\"\n",
            smtp_file.display()
        ),
    );
    d.start();

    // IMAP: refused, explained, and the daemon stays up.
    d.wait_log("IMAP authentication failed", 1, FAILURE).await;
    let log = d.log();
    assert!(
        log.contains("[imap] oauth_token_command"),
        "the IMAP failure does not name the setting to fix:\n{log}"
    );
    assert!(d.poll_exit().is_none(), "the daemon stopped:\n{log}");
    assert!(!log.contains("IMAP connected"), "{log}");

    // A fresh token in the command's output: the next reconnect logs in.
    let imap_new = valid_token(&stack);
    write_private(&imap_file, &imap_new);
    d.wait_log("IMAP connected", 1, CONNECT).await;

    // SMTP: the receipts are refused at login, explained, and kept queued.
    stack.send_form("OAUTH-CMD-1", "Ny URL").await;
    d.wait_orders(1, RECEIPTS).await;
    d.wait_log("SMTP authentication failed", 1, FAILURE).await;
    let log = d.log();
    assert!(
        log.contains("[smtp] oauth_token_command"),
        "the SMTP failure does not name the setting to fix:\n{log}"
    );
    assert!(
        stack.fetch_all(FA, "INBOX").await.is_empty(),
        "a receipt went out although SMTP refused the login"
    );
    let smtp_new = valid_token(&stack);
    write_private(&smtp_file, &smtp_new);
    d.wait_form_receipts(&stack, RECEIPTS).await;
    // The stack takes mail from the Helpdesk's address only after a login as that user, and
    // Postfix names the login of the session that handed over each receipt.
    for raw in stack.fetch_all(FA, "INBOX").await {
        let mid = common::fixtures::received(&raw).message_id;
        let sessions = stack.smtp_sessions_for(&mid);
        assert!(!sessions.is_empty(), "{mid}: not in Postfix's log");
        for s in &sessions {
            assert!(
                s.iter()
                    .any(|l| l.contains(&format!("sasl_method=XOAUTH2, sasl_username={HELPDESK}"))),
                "{mid} was handed over without the XOAUTH2 login: {s:#?}"
            );
        }
    }

    assert!(
        d.poll_exit().is_none(),
        "the daemon stopped:\n{}",
        d.log_tail()
    );
    assert_no_secret(
        "the daemon log",
        &d.log(),
        &[&imap_old, &smtp_old, &imap_new, &smtp_new],
    );
}

// ------------------------------------------------------------------------------ secrets

/// (d) Distinctive passwords and a token command are never shown: not by `config check` (also
/// for a config with problems, also as JSON), not by the daemon's log at trace level while
/// both logins fail, not in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_or_config_check() {
    let stack = MailStack::start_oauth(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let imap_pw = nonce("imap-pw-Xq7");
    let smtp_pw = nonce("smtp-pw-Kv3");
    imap_auth(
        &d,
        &format!("auth = \"password\"\npassword = \"{imap_pw}\"\n"),
    );
    smtp_auth(
        &d,
        &format!(
            "auth = \"password\"\nusername = \"{HELPDESK}\"\npassword_env = \"SPDESK_TEST_SMTP_PW\"\n"
        ),
    );
    let secrets = [imap_pw.as_str(), smtp_pw.as_str()];

    let mut shown = String::new();
    for args in [
        &["config", "check"][..],
        &["--log-json", "config", "check"][..],
    ] {
        let out = d.cli(args);
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("password = \"***\""), "{stdout}");
        shown.push_str(&stdout);
        shown.push_str(&String::from_utf8_lossy(&out.stderr));
    }

    // A config with problems quotes the offending lines: still no secret.
    let token_cmd = format!("printf %s {}", nonce("cmd-token-Zr9"));
    let bad = std::fs::read_to_string(d.config_path())
        .expect("config")
        .replacen(
            &format!("password = \"{imap_pw}\"\n"),
            &format!(
                "password = \"{imap_pw}\"\npassword_file = \"nope\"\noauth_token_command = \"{token_cmd}\"\n"
            ),
            1,
        );
    let bad_path = d.dir().join("bad.toml");
    std::fs::write(&bad_path, bad).expect("write");
    for args in [&["config", "check"][..], &["run"][..]] {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(&bad_path)
            .args(args)
            .env("SPDESK_LOG", "trace")
            .output()
            .expect("run spdesk");
        assert!(!out.status.success(), "a bad config passed: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("oauth_token_command"), "{stderr}");
        shown.push_str(&stderr);
        shown.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert_no_secret(
        "config check output",
        &shown,
        &[imap_pw.as_str(), smtp_pw.as_str(), token_cmd.as_str()],
    );

    // The daemon at trace level, both logins refused (the digest gives SMTP a mail to send).
    d.start_with_env(&[("SPDESK_LOG", "trace"), ("SPDESK_TEST_SMTP_PW", &smtp_pw)]);
    d.wait_log("IMAP authentication failed", 1, FAILURE).await;
    let out = d.cli(&["digest", "--send"]);
    assert!(out.status.success(), "{out:?}");
    d.wait_log("SMTP authentication failed", 1, FAILURE).await;
    assert!(
        d.poll_exit().is_none(),
        "the daemon stopped:\n{}",
        d.log_tail()
    );
    let log = d.log();
    assert!(log.contains("[imap] username and password"), "{log}");
    assert!(log.contains("[smtp] username and password_env"), "{log}");
    // the most verbose level really was on, for other crates too
    assert!(log.contains("sqlx::query"), "no debug lines in the log");
    assert_no_secret("the daemon log", &log, &secrets);

    d.terminate();
    d.wait_exit(Duration::from_secs(30)).await;
    for entry in std::fs::read_dir(d.dir()).expect("daemon dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("spdesk.db") {
            let bytes = std::fs::read(entry.path()).expect("read db");
            assert_no_secret(&name, &String::from_utf8_lossy(&bytes), &secrets);
        }
    }
}

/// (d) The other ways to give a secret, at trace level, each through a real SASL exchange:
/// IMAP with a `password_file` (refused) while SMTP logs in with an XOAUTH2 token from a file
/// (accepted: the digest goes out), then IMAP with a token from a command (accepted) while
/// SMTP uses a `password_file` (refused). No secret, and no base64 carrying one, is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_files_and_tokens_never_appear_in_trace_logs() {
    let stack = MailStack::start_oauth(&[]);
    let trace = [("SPDESK_LOG", "trace")];

    let mut d = Daemon::new(&stack, HELPDESK);
    let imap_pw = nonce("imap-pwfile-Hb2");
    let smtp_token = valid_token(&stack);
    write_private(&d.dir().join("imap.pw"), &format!("{imap_pw}\n"));
    write_private(&d.dir().join("smtp.token"), &format!("{smtp_token}\n"));
    imap_auth(&d, "auth = \"password\"\npassword_file = \"imap.pw\"\n");
    smtp_auth(
        &d,
        &format!(
            "auth = \"xoauth2\"\nusername = \"{HELPDESK}\"\noauth_token_file = \"smtp.token\"\n"
        ),
    );
    d.start_with_env(&trace);
    d.wait_log("IMAP authentication failed", 1, FAILURE).await;
    assert!(d.cli(&["digest", "--send"]).status.success());
    d.wait_all_delivered(&stack, RECEIPTS).await;
    assert!(
        stack
            .postfix_log()
            .contains(&format!("sasl_method=XOAUTH2, sasl_username={HELPDESK}")),
        "the digest went out without the XOAUTH2 login:\n{}",
        stack.postfix_log()
    );
    let log = d.log();
    assert!(log.contains("[imap] username and password_file"), "{log}");
    assert!(log.contains("sqlx::query"), "no debug lines in the log");
    assert_no_secret("the daemon log", &log, &[&imap_pw, &smtp_token]);
    d.kill();

    let mut d = Daemon::new(&stack, HELPDESK);
    let (imap_file, imap_token) = (d.dir().join("imap.tok"), valid_token(&stack));
    let smtp_pw = nonce("smtp-pwfile-Tc8");
    write_private(&imap_file, &imap_token);
    write_private(&d.dir().join("smtp.pw"), &format!("{smtp_pw}\n"));
    imap_auth(
        &d,
        &format!(
            "auth = \"xoauth2\"\noauth_token_command = \"cat {}\"\n",
            imap_file.display()
        ),
    );
    smtp_auth(
        &d,
        &format!("auth = \"password\"\nusername = \"{HELPDESK}\"\npassword_file = \"smtp.pw\"\n"),
    );
    d.start_with_env(&trace);
    d.wait_log("IMAP connected", 1, CONNECT).await;
    assert!(d.cli(&["digest", "--send"]).status.success());
    d.wait_log("SMTP authentication failed", 1, FAILURE).await;
    let log = d.log();
    assert!(log.contains("[smtp] username and password_file"), "{log}");
    assert_no_secret("the daemon log", &log, &[&imap_token, &smtp_pw]);
    assert!(d.poll_exit().is_none(), "the daemon stopped:\n{log}");
}

// ------------------------------------------------------------------------------ TLS

/// Points the config's IMAP at implicit TLS and SMTP at STARTTLS, each with the stack's CA
/// only where `trusted` says so.
fn use_tls(d: &Daemon, stack: &MailStack, imap_trusted: bool, smtp_trusted: bool) {
    let ca = stack.tls_ca().expect("a TLS stack has a CA");
    let ca_line = |yes: bool| {
        if yes {
            format!("ca_file = \"{}\"\n", ca.display())
        } else {
            String::new()
        }
    };
    let imaps = stack.imaps_port().expect("an IMAPS port");
    d.edit_config(|t| {
        t.replacen(
            &format!("port = {}\ntls = \"none\"\n", stack.imap_port()),
            &format!("port = {imaps}\ntls = \"tls\"\n{}", ca_line(imap_trusted)),
            1,
        )
        .replacen(
            &format!("port = {}\ntls = \"none\"\n", stack.smtp_port()),
            &format!(
                "port = {}\ntls = \"starttls\"\n{}",
                stack.smtp_port(),
                ca_line(smtp_trusted)
            ),
            1,
        )
    });
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    assert!(!text.contains("tls = \"none\""), "{text}");
}

/// (e) IMAP over TLS to a server whose CA is not configured: refused with the fix named,
/// nothing is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_refuses_a_certificate_from_an_unknown_ca() {
    let stack = MailStack::start_tls(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    use_tls(&d, &stack, false, true);
    stack.send_form("TLS-UNTRUSTED-1", "Ny URL").await;
    d.start();
    d.wait_log("set [imap] ca_file", 1, FAILURE).await;
    // a few reconnects later: still nothing read
    d.wait_log("set [imap] ca_file", 3, FAILURE).await;
    let log = d.log();
    assert!(
        log.contains("IMAP: the server's TLS certificate is not trusted"),
        "{log}"
    );
    assert!(!log.contains("IMAP connected"), "{log}");
    assert!(
        d.orders().is_empty(),
        "an order was read over an unverified connection"
    );
    assert_eq!(stack.fetch_all(HELPDESK, "INBOX").await.len(), 1);
    assert!(d.poll_exit().is_none(), "the daemon stopped:\n{log}");
}

/// (e) SMTP STARTTLS to a server whose CA is not configured: the receipts stay queued and the
/// log names the fix. (tests/tls.rs covers the trusted case.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_refuses_a_certificate_from_an_unknown_ca() {
    let stack = MailStack::start_tls(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    use_tls(&d, &stack, true, false);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack.send_form("TLS-UNTRUSTED-2", "Ny URL").await;
    let orders = d.wait_orders(1, RECEIPTS).await;
    d.wait_log("set [smtp] ca_file", 1, FAILURE).await;
    d.wait_log("set [smtp] ca_file", 2, FAILURE).await;
    assert!(
        stack.fetch_all(FA, "INBOX").await.is_empty(),
        "a receipt went out over an unverified connection"
    );
    let reference = orders[0]["ref"].as_str().expect("a reference");
    assert!(d.receipts_queued(reference) >= 1, "{}", d.log_tail());
    assert!(
        d.poll_exit().is_none(),
        "the daemon stopped:\n{}",
        d.log_tail()
    );
}

/// (e) No config key turns certificate verification off: the usual names are unknown keys.
#[test]
fn no_setting_turns_certificate_verification_off() {
    let stack_less = tempfile::tempdir().expect("tempdir");
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/spdesk.toml"))
            .expect("the example config");
    for key in [
        "tls_verify = false",
        "verify = false",
        "insecure = true",
        "danger_accept_invalid_certs = true",
        "accept_invalid_certs = true",
        "tls_insecure = true",
        "verify_certificate = false",
    ] {
        for section in ["[imap]", "[smtp]"] {
            let header = format!("\n{section}\n");
            assert!(
                base.contains(&header),
                "the example config has no {section}"
            );
            let text = base.replacen(&header, &format!("{header}{key}\n"), 1);
            let path = stack_less.path().join("spdesk.toml");
            std::fs::write(&path, text).expect("write");
            let out = Command::new(BIN)
                .arg("--config")
                .arg(&path)
                .args(["config", "check"])
                .output()
                .expect("run spdesk");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && stderr.contains("unknown key"),
                "{section} {key} was accepted: {stderr}"
            );
        }
    }
}

/// (e2) A valid config that exposes a secret is warned about, never refused: `config check`
/// says OK with a warning for a plain-text password to another host and for an inline
/// password in a file others can read (without showing the password), and the daemon logs
/// the warning at start and runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_warns_about_exposed_secrets() {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    // The test config has the IMAP password inline, on loopback without TLS.
    let path = d.config_path();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // The same to another host, with a distinctive password.
    let pw = nonce("inline-pw-Wd4");
    let text = std::fs::read_to_string(&path)
        .expect("config")
        .replacen("host = \"127.0.0.1\"", "host = \"imap.example.test\"", 1)
        .replacen(
            &format!("password = \"{}\"", stack.password()),
            &format!("password = \"{pw}\""),
            1,
        );
    assert!(
        text.contains(&pw),
        "no inline IMAP password in the test config"
    );
    let remote = d.dir().join("remote.toml");
    std::fs::write(&remote, text).expect("write");
    std::fs::set_permissions(&remote, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let check = |config: &Path| {
        let out = Command::new(BIN)
            .arg("--config")
            .arg(config)
            .args(["config", "check"])
            .output()
            .expect("run spdesk");
        assert!(out.status.success(), "warnings must not refuse: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let local = check(&path);
    assert!(
        local.contains("warning: ") && local.contains("[imap] password is written in the file"),
        "{local}"
    );
    assert!(!local.contains("tls = \"none\": the password"), "{local}");
    let plaintext = check(&remote);
    assert!(
        plaintext.contains(
            "warning: [imap] tls = \"none\": the password goes in plain text to \"imap.example.test\""
        ),
        "{plaintext}"
    );
    assert!(
        !plaintext.contains("password is written in the file"),
        "{plaintext}"
    );
    assert_no_secret("config check warnings", &plaintext, &[&pw]);

    // The daemon logs the warning at start and runs on.
    d.start();
    d.wait_log("password is written in the file", 1, CONNECT)
        .await;
    d.wait_log("IMAP connected", 1, CONNECT).await;
}

// ------------------------------------------------------------------------------ file modes

/// (f) With umask 022, the database folder spdesk creates is 0700 and the database with its
/// -wal and -shm files 0600, while the daemon runs and after it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_files_are_private_whatever_the_umask() {
    // the usual umask, which would leave new files world-readable
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe { libc::umask(0o022) };
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, HELPDESK);
    let state = d.dir().join("state");
    d.edit_config(|t| {
        let old = format!("url = \"sqlite://{}", d.dir().join("spdesk.db").display());
        assert!(t.contains(&old), "{t}");
        t.replacen(
            &old,
            &format!("url = \"sqlite://{}", state.join("spdesk.db").display()),
            1,
        )
    });
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    stack.send_form("MODE-1", "Ny URL").await;
    d.wait_form_receipts(&stack, RECEIPTS).await;

    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let check = |when: &str| {
        assert_eq!(mode(&state), 0o700, "{when}: {}", state.display());
        let mut files = 0;
        for entry in std::fs::read_dir(&state).expect("state dir").flatten() {
            files += 1;
            assert_eq!(
                mode(&entry.path()),
                0o600,
                "{when}: {}",
                entry.path().display()
            );
        }
        files
    };
    let running = check("while running");
    for suffix in ["", "-wal", "-shm"] {
        assert!(
            state.join(format!("spdesk.db{suffix}")).exists(),
            "no spdesk.db{suffix} while running"
        );
    }
    assert!(running >= 3);
    d.terminate();
    d.wait_exit(Duration::from_secs(30)).await;
    check("after the daemon stopped");
}
