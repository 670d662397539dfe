//! Integration-test harness: a private Dovecot (IMAP, LMTP) + Postfix (SMTP) on 127.0.0.1,
//! started by `scripts/mailstack.sh` in a temp dir on free ports, and stopped on drop.
//!
//! Use it with `mod common;` in a `tests/*.rs` file.
//!
//! - Process control (`start`, `shared`, `add_users`, `restart_dovecot`, `stop_postfix`, ...)
//!   is **blocking** (each call takes up to ~3 s); it may be called from `#[tokio::test]`, but
//!   in a current-thread runtime other tasks pause meanwhile.
//! - Mail traffic (`send`, `deliver_lmtp`, `deliver_lmtp_many`, `fetch_all`, `wait_for`, `list_mailboxes`, `append`,
//!   `imap_login`) is **async** (tokio) and runs inside `#[tokio::test]`.
//!
//! - [`daemon`]: the real `spdesk run` against a stack (config, process, log, `orders --json`);
//!   [`fixtures`]: a valid order form as a .docx and the mails that carry or quote it;
//!   [`bombs`]: hostile documents and mails; [`measure`]: what the benchmarks measure with.
//!
//! Failures panic with the reason (and the server logs where useful): a test that needs the
//! mail servers must fail loudly when they are missing, never pass silently.
#![allow(dead_code)]

pub mod bombs;
pub mod console;
pub mod crash;
pub mod daemon;
pub mod fixtures;
pub mod measure;
pub mod postgres;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Address the servers listen on.
pub const HOST: &str = "127.0.0.1";
/// Password of every user of the stack.
pub const PASSWORD: &str = "secret";
/// The Helpdesk mailbox the daemon reads; always present.
pub const HELPDESK: &str = "helpdesk@example.test";
/// A sender (a "fagansvarlig"); always present.
pub const FA: &str = "fa@example.test";

/// An authenticated IMAP session with one of the stack's users.
pub type ImapSession = async_imap::Session<TcpStream>;

/// How long one network step (connect, one reply) may take before the harness gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// What a stack is started with (see the `MailStack::start*` functions).
#[derive(Default)]
struct Options<'a> {
    /// The kind of server certificate (`MAILSTACK_TLS_SERVER`); `None`: no TLS.
    tls: Option<&'a str>,
    oauth: bool,
    /// No IDLE and no MOVE after login.
    basic_imap: bool,
}

/// A running Dovecot + Postfix pair in its own temp dir; stopped (and the dir removed) on drop.
pub struct MailStack {
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    users: Mutex<Vec<String>>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack.sh")
}

impl MailStack {
    /// Starts a stack with `helpdesk@example.test`, `fa@example.test` and `users`
    /// (all with password [`PASSWORD`]). Panics with the reason when it cannot start,
    /// e.g. when Dovecot or Postfix is not installed or the test does not run as root.
    pub fn start(users: &[&str]) -> MailStack {
        Self::start_with(users, Options::default())
    }

    /// Like [`MailStack::start`], with an IMAP server that announces neither IDLE nor MOVE
    /// after login (`MAILSTACK_IMAP_BASIC=1`): a client must poll and move by COPY, STORE
    /// \\Deleted and EXPUNGE.
    pub fn start_basic_imap(users: &[&str]) -> MailStack {
        Self::start_with(
            users,
            Options {
                basic_imap: true,
                ..Options::default()
            },
        )
    }

    /// Like [`MailStack::start`], plus a self-signed CA and server certificate (for `localhost`
    /// and 127.0.0.1): STARTTLS on IMAP and SMTP, implicit TLS on [`MailStack::imaps_port`].
    pub fn start_tls(users: &[&str]) -> MailStack {
        Self::start_with(
            users,
            Options {
                tls: Some("ok"),
                ..Options::default()
            },
        )
    }

    /// Like [`MailStack::start_tls`] with a server certificate a client must refuse: `server`
    /// is `"wrong-name"` (for mail.other.test only) or `"expired"` (January 2020), signed by
    /// the same CA.
    pub fn start_tls_bad(users: &[&str], server: &str) -> MailStack {
        Self::start_with(
            users,
            Options {
                tls: Some(server),
                ..Options::default()
            },
        )
    }

    /// Like [`MailStack::start`], plus OAuth: Dovecot takes XOAUTH2 and OAUTHBEARER with JWTs
    /// signed by [`MailStack::oauth_key`] (HS256, issuer [`MailStack::oauth_issuer`], the user
    /// in `sub`), checked locally; Postfix offers SMTP AUTH through Dovecot and takes mail from
    /// [`HELPDESK`] only after a login as that user.
    pub fn start_oauth(users: &[&str]) -> MailStack {
        Self::start_with(
            users,
            Options {
                oauth: true,
                ..Options::default()
            },
        )
    }

    /// One stack shared by the tests of a test binary that overlap in time (tests run in
    /// parallel threads); it stops when the last holder drops it. Missing `users` are added.
    pub fn shared(users: &[&str]) -> Arc<MailStack> {
        static SHARED: Mutex<Weak<MailStack>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stack) = slot.upgrade() {
            stack.add_users(users);
            return stack;
        }
        let stack = Arc::new(MailStack::start(users));
        *slot = Arc::downgrade(&stack);
        stack
    }

    fn start_with(users: &[&str], o: Options) -> MailStack {
        let mut last_error = String::new();
        // ports are picked free by the script, but a parallel test may grab one first: retry
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("mailstack-")
                .tempdir()
                .unwrap_or_else(|e| panic!("mailstack: cannot create a temp dir: {e}"));
            let out = Command::new("bash")
                .arg(script())
                .arg("start")
                .arg(dir.path())
                .env("MAILSTACK_USERS", users.join(" "))
                .env("MAILSTACK_PASSWORD", PASSWORD)
                .env("MAILSTACK_TLS", if o.tls.is_some() { "1" } else { "0" })
                .env("MAILSTACK_TLS_SERVER", o.tls.unwrap_or("ok"))
                .env("MAILSTACK_OAUTH", if o.oauth { "1" } else { "0" })
                .env("MAILSTACK_IMAP_BASIC", if o.basic_imap { "1" } else { "0" })
                // if this test process dies without dropping us, the stack still goes away
                .env("MAILSTACK_WATCH_PID", std::process::id().to_string())
                .env("MAILSTACK_WATCH_RM", "1")
                .env_remove("IMAP_PORT")
                .env_remove("IMAPS_PORT")
                .env_remove("SMTPS_PORT")
                .env_remove("SMTP_PORT")
                .env_remove("LMTP_PORT")
                .env_remove("MAILSTACK_POSTFIX")
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("mailstack: cannot run {}: {e}", script().display()));
            if out.status.success() {
                let env = read_env(&dir.path().join("env"));
                let users = env
                    .get("MAILSTACK_USERS")
                    .map(|u| u.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                let stack = MailStack {
                    dir,
                    env,
                    users: Mutex::new(users),
                };
                // fail here, not in the middle of a test, if the env file lacks a port
                let _ = (stack.imap_port(), stack.smtp_port(), stack.lmtp_port());
                return stack;
            }
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
            // nothing to retry when a package is missing or we lack root
            if last_error.contains("missing") || last_error.contains("as root") {
                break;
            }
            // clean up whatever half-started before the dir goes away
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(dir.path())
                .stdin(Stdio::null())
                .output();
        }
        panic!(
            "mailstack: the local mail stack (Dovecot + Postfix) did not start; integration tests \
             need it (run as root; install with: apt-get install -y dovecot-imapd dovecot-lmtpd \
             postfix).\n{last_error}"
        );
    }

    /// The stack's directory (config, queue, mail, logs, `env`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `KEY=value` pairs of `DIR/env` (ports, pid files, log and TLS paths).
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    fn port(&self, key: &str) -> u16 {
        self.env
            .get(key)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("mailstack: no {key} in {}/env", self.dir().display()))
    }

    /// Plain IMAP (STARTTLS too with [`MailStack::start_tls`]).
    pub fn imap_port(&self) -> u16 {
        self.port("IMAP_PORT")
    }
    /// Implicit-TLS IMAP; only with [`MailStack::start_tls`].
    pub fn imaps_port(&self) -> Option<u16> {
        self.env.get("IMAPS_PORT").and_then(|p| p.parse().ok())
    }

    /// Postfix's implicit-TLS (SMTPS) port; only a TLS stack has one.
    pub fn smtps_port(&self) -> Option<u16> {
        self.env.get("SMTPS_PORT").and_then(|p| p.parse().ok())
    }
    /// Postfix smtpd: accepts mail for the stack's users from 127.0.0.1, no AUTH needed.
    pub fn smtp_port(&self) -> u16 {
        self.port("SMTP_PORT")
    }
    /// Dovecot LMTP: delivers straight into a user's INBOX.
    pub fn lmtp_port(&self) -> u16 {
        self.port("LMTP_PORT")
    }
    /// PEM file of the CA that signed the servers' certificate; only with `start_tls`.
    pub fn tls_ca(&self) -> Option<PathBuf> {
        self.env.get("MAILSTACK_TLS_CA").map(PathBuf::from)
    }
    /// PEM file of a CA that signed nothing of the stack's; only with a TLS stack.
    pub fn tls_other_ca(&self) -> Option<PathBuf> {
        self.env.get("MAILSTACK_TLS_OTHER_CA").map(PathBuf::from)
    }
    /// The HMAC key (its ASCII bytes) that signs valid tokens; only with `start_oauth`.
    pub fn oauth_key(&self) -> Option<&str> {
        self.env.get("MAILSTACK_OAUTH_KEY").map(String::as_str)
    }
    /// The `iss` Dovecot accepts; only with `start_oauth`.
    pub fn oauth_issuer(&self) -> Option<&str> {
        self.env.get("MAILSTACK_OAUTH_ISSUER").map(String::as_str)
    }
    /// The password of every user.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }
    /// All users of the stack, in the order they were added.
    pub fn users(&self) -> Vec<String> {
        self.users.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Adds users (new domains included) to the running stack; a no-op for known ones.
    /// When it returns, Dovecot knows them and Postfix accepts mail for them.
    pub fn add_users(&self, users: &[&str]) {
        let mut known = self.users.lock().unwrap_or_else(|e| e.into_inner());
        let new: Vec<&str> = users
            .iter()
            .copied()
            .filter(|u| !known.iter().any(|k| k.eq_ignore_ascii_case(u)))
            .collect();
        if new.is_empty() {
            return;
        }
        let mut args = vec!["add-user"];
        args.extend(new.iter().copied());
        self.run_script(&args);
        known.extend(new.iter().map(|u| u.to_string()));
    }

    fn run_script(&self, args: &[&str]) {
        self.script_output(args);
    }

    /// Runs `mailstack.sh ARGS[0] DIR ARGS[1..]`, panicking with the logs when it fails;
    /// returns its stdout.
    fn script_output(&self, args: &[&str]) -> String {
        let (cmd, rest) = args.split_first().unwrap_or((&"env", &[]));
        let out = Command::new("bash")
            .arg(script())
            .arg(cmd)
            .arg(self.dir())
            .args(rest)
            .env("MAILSTACK_PASSWORD", PASSWORD)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("mailstack: cannot run {}: {e}", script().display()));
        if !out.status.success() {
            panic!(
                "mailstack {cmd} failed: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.logs_tail()
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many messages wait in Postfix's queue (taken, not yet delivered into a mailbox).
    pub fn queued(&self) -> usize {
        self.script_output(&["queue"])
            .lines()
            .filter(|l| l.trim_start().starts_with('{'))
            .count()
    }

    /// Stops and starts Dovecot; the mail stays (it lives in Maildirs under [`MailStack::dir`]).
    pub fn restart_dovecot(&self) {
        self.run_script(&["restart-dovecot"]);
    }
    /// Stops Dovecot (IMAP and LMTP go away; Postfix then keeps mail in its queue).
    pub fn stop_dovecot(&self) {
        self.run_script(&["stop-dovecot"]);
    }
    /// Starts Dovecot again on the same ports.
    pub fn start_dovecot(&self) {
        self.run_script(&["start-dovecot"]);
    }
    /// Stops Postfix (SMTP connections are refused until [`MailStack::start_postfix`]).
    pub fn stop_postfix(&self) {
        self.run_script(&["stop-postfix"]);
    }
    /// Starts Postfix again on the same port, with its queue intact.
    pub fn start_postfix(&self) {
        self.run_script(&["start-postfix"]);
    }
    /// Asks Postfix to retry queued mail now (e.g. right after Dovecot is back).
    pub fn flush_queue(&self) {
        self.run_script(&["flush"]);
    }

    /// Dovecot's log so far.
    pub fn dovecot_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("dovecot.log")).unwrap_or_default()
    }
    /// Postfix's log so far.
    pub fn postfix_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("postfix.log")).unwrap_or_default()
    }

    /// For each mail Postfix took with Message-ID `mid` (without <>), the log lines of the SMTP
    /// session that handed it over: what shows whether that session used TLS ("TLS connection
    /// established") and which login it had (`sasl_method=`, `sasl_username=`).
    pub fn smtp_sessions_for(&self, mid: &str) -> Vec<Vec<String>> {
        smtp_sessions_in(&self.postfix_log(), mid)
    }

    fn logs_tail(&self) -> String {
        fn tail(s: &str) -> String {
            let lines: Vec<&str> = s.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        }
        format!(
            "--- dovecot.log (end)\n{}\n--- postfix.log (end)\n{}",
            tail(&self.dovecot_log()),
            tail(&self.postfix_log())
        )
    }

    /// Sends a valid .docx order form (BestillingsID `id`) from [`FA`] to [`HELPDESK`] over
    /// SMTP; returns its Message-ID (without <>), unique per test process.
    pub async fn send_form(&self, id: &str, subject: &str) -> String {
        let form = fixtures::WsForm::new(id, FA);
        let mid = format!(
            "{}.{}@fa.example.test",
            id.to_lowercase(),
            std::process::id()
        );
        let raw = fixtures::form_mail(FA, HELPDESK, subject, &mid, &form.docx());
        self.send(FA, HELPDESK, &raw).await;
        mid
    }

    /// Sends `raw` (a whole RFC 5322 message; bare LF is fine) over SMTP to Postfix, which
    /// delivers it via LMTP to Dovecot. Panics when Postfix does not take it.
    pub async fn send(&self, from: &str, to: &str, raw: &[u8]) {
        if let Err(e) = self.try_send(from, &[to], raw).await {
            panic!(
                "mailstack: SMTP send {from} -> {to} failed: {e}\n{}",
                self.logs_tail()
            );
        }
    }

    /// Like [`MailStack::send`] with several recipients, returning the server's refusal
    /// (e.g. `550 ... User unknown`) instead of panicking.
    pub async fn try_send(&self, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
        transfer(self.smtp_port(), false, from, to, raw).await
    }

    /// Drops `raw` straight into `to`'s INBOX via Dovecot's LMTP (no Postfix, no queue):
    /// the fast way to put a backlog in a mailbox. Panics on failure.
    pub async fn deliver_lmtp(&self, to: &str, raw: &[u8]) {
        if let Err(e) = transfer(self.lmtp_port(), true, "", &[to], raw).await {
            panic!(
                "mailstack: LMTP delivery to {to} failed: {e}\n{}",
                self.logs_tail()
            );
        }
    }

    /// Like [`MailStack::deliver_lmtp`] for many mails from `from` (the envelope sender: an
    /// empty one, as `deliver_lmtp` uses, makes every mail look like a bounce), one LMTP
    /// transaction each over a single connection: a backlog of hundreds in a few seconds.
    pub async fn deliver_lmtp_many(&self, from: &str, to: &str, raws: &[Vec<u8>]) {
        let raws: Vec<&[u8]> = raws.iter().map(Vec::as_slice).collect();
        // a few hundred per connection, well below any per-connection limit of the server
        for chunk in raws.chunks(200) {
            if let Err(e) = transfer_many(self.lmtp_port(), true, from, &[to], chunk).await {
                panic!(
                    "mailstack: LMTP delivery of {} mails to {to} failed: {e}\n{}",
                    raws.len(),
                    self.logs_tail()
                );
            }
        }
    }

    /// Logs in over plain IMAP (greeting read first, then LOGIN).
    pub async fn imap_login(&self, user: &str) -> Result<ImapSession, String> {
        let tcp = timeout(TcpStream::connect((HOST, self.imap_port())))
            .await?
            .map_err(|e| format!("IMAP connect: {e}"))?;
        let mut client = async_imap::Client::new(tcp);
        match timeout(client.read_response()).await? {
            Ok(Some(_greeting)) => {}
            Ok(None) => return Err("IMAP: connection closed before the greeting".into()),
            Err(e) => return Err(format!("IMAP greeting: {e}")),
        }
        timeout(client.login(user, PASSWORD))
            .await?
            .map_err(|(e, _)| format!("IMAP LOGIN {user}: {e}"))
    }

    /// Every message in `user`'s `mailbox`, oldest first, as raw RFC 822 bytes (CRLF line
    /// ends, with the headers Postfix and Dovecot added). Panics when the mailbox is missing.
    pub async fn fetch_all(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        self.try_fetch_all(user, mailbox)
            .await
            .unwrap_or_else(|e| panic!("mailstack: fetching {user}/{mailbox} failed: {e}"))
    }

    /// Like [`MailStack::fetch_all`], returning errors (e.g. no such mailbox).
    pub async fn try_fetch_all(&self, user: &str, mailbox: &str) -> Result<Vec<Vec<u8>>, String> {
        self.try_fetch_existing(user, mailbox)
            .await?
            .ok_or_else(|| format!("SELECT {mailbox}: no such mailbox"))
    }

    /// Like [`MailStack::try_fetch_all`], telling a mailbox that does not exist (`Ok(None)`,
    /// e.g. a folder the daemon has not created yet) from a failed fetch (`Err`): a login,
    /// connection or FETCH failure must never pass for "nothing there".
    pub async fn try_fetch_existing(
        &self,
        user: &str,
        mailbox: &str,
    ) -> Result<Option<Vec<Vec<u8>>>, String> {
        let mut session = self.imap_login(user).await?;
        let result = fetch_in(&mut session, mailbox).await;
        let _ = timeout(session.logout()).await;
        result
    }

    /// Every message in `user`'s `mailbox`, or none when the mailbox does not exist (yet);
    /// panics on any other failure, so an IMAP error never reads as an empty folder.
    pub async fn fetch_or_empty(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        self.try_fetch_existing(user, mailbox)
            .await
            .unwrap_or_else(|e| panic!("mailstack: fetching {user}/{mailbox} failed: {e}"))
            .unwrap_or_default()
    }

    /// Polls (every 100 ms) until `user`'s `mailbox` holds at least `n` messages and returns
    /// them all; a missing mailbox counts as empty. Panics with the logs on timeout.
    pub async fn wait_for(
        &self,
        user: &str,
        mailbox: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let start = Instant::now();
        loop {
            let last = match self.try_fetch_existing(user, mailbox).await {
                Ok(Some(msgs)) if msgs.len() >= n => return msgs,
                Ok(msgs) => format!("{} message(s)", msgs.map_or(0, |m| m.len())),
                Err(e) => e,
            };
            if start.elapsed() >= timeout {
                panic!(
                    "mailstack: waited {timeout:?} for {n} message(s) in {user}/{mailbox}; \
                     last look: {last}\n{}",
                    self.logs_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The names of `user`'s mailboxes (INBOX included).
    pub async fn list_mailboxes(&self, user: &str) -> Vec<String> {
        let result: Result<Vec<String>, String> = async {
            let mut session = self.imap_login(user).await?;
            let names = {
                let stream = timeout(session.list(Some(""), Some("*")))
                    .await?
                    .map_err(|e| format!("LIST: {e}"))?;
                let names: Vec<async_imap::types::Name> = timeout(stream.try_collect())
                    .await?
                    .map_err(|e| format!("LIST: {e}"))?;
                names.iter().map(|n| n.name().to_string()).collect()
            };
            let _ = timeout(session.logout()).await;
            Ok(names)
        }
        .await;
        result.unwrap_or_else(|e| panic!("mailstack: listing {user}'s mailboxes failed: {e}"))
    }

    /// Stores `raw` in `user`'s `mailbox` via IMAP APPEND, creating the mailbox if needed.
    pub async fn append(&self, user: &str, mailbox: &str, raw: &[u8]) {
        let result: Result<(), String> = async {
            let mut session = self.imap_login(user).await?;
            // CREATE fails when the mailbox exists; APPEND below reports real problems
            let _ = timeout(session.create(mailbox)).await;
            timeout(session.append(mailbox, None, None, crlf(raw)))
                .await?
                .map_err(|e| format!("APPEND: {e}"))?;
            let _ = timeout(session.logout()).await;
            Ok(())
        }
        .await;
        result.unwrap_or_else(|e| panic!("mailstack: APPEND to {user}/{mailbox} failed: {e}"))
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        let out = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir())
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "mailstack: stop failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("mailstack: cannot run stop: {e}"),
        }
    }
}

/// One line of Postfix's log: the program with its pid (`postfix/smtpd[123]`) and the rest.
fn postfix_line(line: &str) -> Option<(&str, &str)> {
    let start = line.find("postfix/")?;
    let (program, rest) = line.get(start..)?.split_once("]: ")?;
    Some((program, rest))
}

/// For each mail Postfix took with Message-ID `mid`, the lines of `postfix_log` of the SMTP
/// session that handed it over (one smtpd process, from its "connect from" to the line that
/// queued the mail, which names the SASL login if there was one).
fn smtp_sessions_in(postfix_log: &str, mid: &str) -> Vec<Vec<String>> {
    let lines: Vec<(&str, &str)> = postfix_log.lines().filter_map(postfix_line).collect();
    let wanted = format!(": message-id=<{mid}>");
    let queue_ids: Vec<&str> = lines
        .iter()
        .filter(|(program, rest)| program.contains("/cleanup[") && rest.ends_with(&wanted))
        .filter_map(|(_, rest)| rest.split(':').next())
        .collect();
    let mut sessions = Vec::new();
    for qid in queue_ids {
        let client = format!("{qid}: client=");
        let Some(at) = lines
            .iter()
            .position(|(program, rest)| program.contains("smtpd[") && rest.starts_with(&client))
        else {
            continue;
        };
        let smtpd = lines[at].0;
        let mut session: Vec<String> = Vec::new();
        for (program, rest) in lines[..=at].iter().rev() {
            if *program != smtpd {
                continue;
            }
            session.push(rest.to_string());
            if rest.starts_with("connect from ") {
                break;
            }
        }
        session.reverse();
        sessions.push(session);
    }
    sessions
}

/// Parses `KEY=value` lines; other lines are ignored.
fn read_env(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("mailstack: cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

async fn timeout<F: std::future::Future>(f: F) -> Result<F::Output, String> {
    tokio::time::timeout(STEP_TIMEOUT, f)
        .await
        .map_err(|_| format!("no answer within {STEP_TIMEOUT:?}"))
}

/// The messages of `mailbox`, or `None` when the server lists no such mailbox.
async fn fetch_in(
    session: &mut ImapSession,
    mailbox: &str,
) -> Result<Option<Vec<Vec<u8>>>, String> {
    let status = match timeout(session.select(mailbox)).await? {
        Ok(status) => status,
        // Only the server's own LIST says "missing": any other failure is reported.
        Err(_) if !mailbox_exists(session, mailbox).await? => return Ok(None),
        Err(e) => return Err(format!("SELECT {mailbox}: {e}")),
    };
    if status.exists == 0 {
        return Ok(Some(Vec::new()));
    }
    let stream = timeout(session.fetch("1:*", "RFC822"))
        .await?
        .map_err(|e| format!("FETCH: {e}"))?;
    let fetches: Vec<async_imap::types::Fetch> = timeout(stream.try_collect())
        .await?
        .map_err(|e| format!("FETCH: {e}"))?;
    let mut msgs: Vec<(u32, Vec<u8>)> = fetches
        .iter()
        .filter_map(|f| f.body().map(|b| (f.message, b.to_vec())))
        .collect();
    msgs.sort_by_key(|(seq, _)| *seq);
    Ok(Some(msgs.into_iter().map(|(_, body)| body).collect()))
}

/// Whether the server lists `mailbox` (an exact name, no wildcards in the tests' names).
async fn mailbox_exists(session: &mut ImapSession, mailbox: &str) -> Result<bool, String> {
    let stream = timeout(session.list(Some(""), Some(mailbox)))
        .await?
        .map_err(|e| format!("LIST {mailbox}: {e}"))?;
    let names: Vec<async_imap::types::Name> = timeout(stream.try_collect())
        .await?
        .map_err(|e| format!("LIST {mailbox}: {e}"))?;
    Ok(names.iter().any(|n| n.name() == mailbox))
}

/// `raw` with every line ending as CRLF.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40 + 2);
    for line in lines(raw) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The lines of `raw` without their line ends (a final line end adds no empty line).
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(move |_| !raw.is_empty())
}

/// One SMTP (or, with `lmtp`, LMTP) transaction: every recipient must be accepted.
async fn transfer(
    port: u16,
    lmtp: bool,
    from: &str,
    to: &[&str],
    raw: &[u8],
) -> Result<(), String> {
    transfer_many(port, lmtp, from, to, &[raw]).await
}

/// One transaction per message in `raws`, all over one connection.
async fn transfer_many(
    port: u16,
    lmtp: bool,
    from: &str,
    to: &[&str],
    raws: &[&[u8]],
) -> Result<(), String> {
    let tcp = timeout(TcpStream::connect((HOST, port)))
        .await?
        .map_err(|e| format!("connect to port {port}: {e}"))?;
    let (rd, mut wr) = tcp.into_split();
    let mut rd = BufReader::new(rd);
    expect(&mut rd, 220, "greeting").await?;
    let hello = if lmtp { "LHLO" } else { "EHLO" };
    command(&mut wr, &mut rd, &format!("{hello} harness.test"), 250).await?;
    for (i, raw) in raws.iter().enumerate() {
        let context = |e: String| {
            if raws.len() > 1 {
                format!("message {} of {}: {e}", i + 1, raws.len())
            } else {
                e
            }
        };
        command(&mut wr, &mut rd, &format!("MAIL FROM:<{from}>"), 250)
            .await
            .map_err(context)?;
        for rcpt in to {
            command(&mut wr, &mut rd, &format!("RCPT TO:<{rcpt}>"), 250)
                .await
                .map_err(context)?;
        }
        command(&mut wr, &mut rd, "DATA", 354)
            .await
            .map_err(context)?;
        let mut data = Vec::with_capacity(raw.len() + raw.len() / 40 + 8);
        for line in lines(raw) {
            if line.starts_with(b".") {
                data.push(b'.');
            }
            data.extend_from_slice(line);
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b".\r\n");
        timeout(wr.write_all(&data))
            .await?
            .map_err(|e| context(format!("sending DATA: {e}")))?;
        // LMTP answers once per recipient, SMTP once
        for _ in 0..if lmtp { to.len() } else { 1 } {
            expect(&mut rd, 250, "end of DATA").await.map_err(context)?;
        }
    }
    let _ = command(&mut wr, &mut rd, "QUIT", 221).await;
    Ok(())
}

async fn command(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    line: &str,
    want: u16,
) -> Result<(), String> {
    timeout(wr.write_all(format!("{line}\r\n").as_bytes()))
        .await?
        .map_err(|e| format!("sending {line}: {e}"))?;
    expect(rd, want, line).await
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(
    rd: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    want: u16,
    after: &str,
) -> Result<(), String> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        let n = timeout(rd.read_line(&mut line))
            .await?
            .map_err(|e| format!("reading reply to {after}: {e}"))?;
        if n == 0 {
            return Err(format!(
                "connection closed; reply to {after} so far: {reply:?}"
            ));
        }
        reply.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            return match code {
                Some(c) if c == want || (want == 250 && c == 251) => Ok(()),
                _ => Err(format!("{after} -> {}", reply.trim_end())),
            };
        }
    }
}
