//! The real `spdesk` binary as a daemon against a [`MailStack`]: a config in a temp dir
//! (plain IMAP/SMTP on the stack's ports, SQLite beside it, the repository's templates), the
//! process with its log in that dir, signals, and the order queue read through the CLI
//! (`spdesk orders list --json`), so the tests hold the daemon to its command-line contract.
//! The process is killed on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::MailStack;
use super::postgres::{self, Postgres};

/// The binary under test, built by cargo for the integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_spdesk");

/// One daemon's config, database and log (in its own temp dir), and its process while it runs.
pub struct Daemon {
    dir: tempfile::TempDir,
    helpdesk: String,
    /// The PostgreSQL server and database URL, when the daemon is not on SQLite.
    pg: Option<(Arc<Postgres>, String)>,
    child: Option<Child>,
    exit: Option<ExitStatus>,
    starts: u32,
}

impl Daemon {
    /// Writes the config for `stack`, reading `helpdesk`'s INBOX (which is also the Helpdesk
    /// address); the staff mails (review, digest, incident, billing) go to [`staff_address`]
    /// of it, a mailbox of its own the daemon does not read. Nothing runs yet: see
    /// [`Daemon::start`].
    ///
    /// The database is SQLite beside the config, or a new database of the tests' PostgreSQL
    /// server when `SPDESK_TEST_DB=postgres` ([`postgres::postgres_requested`]).
    pub fn new(stack: &MailStack, helpdesk: &str) -> Daemon {
        if postgres::postgres_requested() {
            let pg = Postgres::shared();
            let url = pg.new_database();
            Daemon::on_postgres(stack, helpdesk, &pg, &url)
        } else {
            Daemon::with_database(stack, helpdesk, None)
        }
    }

    /// A daemon on database `url` of the PostgreSQL server `pg` (several daemons given the same
    /// URL are instances of one installation).
    pub fn on_postgres(stack: &MailStack, helpdesk: &str, pg: &Arc<Postgres>, url: &str) -> Daemon {
        Daemon::with_database(stack, helpdesk, Some((pg.clone(), url.to_string())))
    }

    fn with_database(
        stack: &MailStack,
        helpdesk: &str,
        pg: Option<(Arc<Postgres>, String)>,
    ) -> Daemon {
        stack.add_users(&[&staff_address(helpdesk)]);
        let dir = tempfile::Builder::new()
            .prefix("spdesk-daemon-")
            .tempdir()
            .unwrap_or_else(|e| panic!("daemon: cannot create a temp dir: {e}"));
        // The templates the project ships, found beside the config.
        let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        std::os::unix::fs::symlink(&templates, dir.path().join("templates"))
            .unwrap_or_else(|e| panic!("daemon: cannot link the templates: {e}"));
        let database = match &pg {
            None => format!(
                "url = \"sqlite://{}?mode=rwc\"",
                dir.path().join("spdesk.db").display()
            ),
            Some((_, url)) => {
                // The password in a file of its own, as an installation keeps it.
                std::fs::write(dir.path().join("pg.password"), postgres::PASSWORD)
                    .unwrap_or_else(|e| panic!("daemon: cannot write the password: {e}"));
                format!("url = \"{url}\"\npassword_file = \"pg.password\"")
            }
        };
        let config = config_text(stack, helpdesk, &database);
        std::fs::write(dir.path().join("spdesk.toml"), config)
            .unwrap_or_else(|e| panic!("daemon: cannot write the config: {e}"));
        let d = Daemon {
            dir,
            helpdesk: helpdesk.to_string(),
            pg,
            child: None,
            exit: None,
            starts: 0,
        };
        // A config the daemon would refuse fails here, with its own explanation.
        let out = d.cli(&["config", "check"]);
        assert!(
            out.status.success(),
            "spdesk config check refused the test config:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        d
    }

    /// Rewrites the config (before `start`), e.g. to move the schedule out of the test's
    /// way, and checks the result as `Daemon::new` does.
    pub fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("daemon: cannot read the config: {e}"));
        std::fs::write(&path, edit(text))
            .unwrap_or_else(|e| panic!("daemon: cannot write the config: {e}"));
        let out = self.cli(&["config", "check"]);
        assert!(
            out.status.success(),
            "spdesk config check refused the edited config:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The daemon's database (with the password, for the test's own connections), for tests
    /// that set up state the CLI cannot.
    pub fn db_url(&self) -> String {
        match &self.pg {
            None => format!(
                "sqlite://{}?mode=rwc",
                self.dir.path().join("spdesk.db").display()
            ),
            Some((pg, url)) => pg.url_with_password(url),
        }
    }

    /// Whether the daemon is on PostgreSQL.
    pub fn on_pg(&self) -> bool {
        self.pg.is_some()
    }

    /// The PostgreSQL server the daemon is on, if it is.
    pub fn postgres(&self) -> Option<&Arc<Postgres>> {
        self.pg.as_ref().map(|(pg, _)| pg)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir().join("spdesk.toml")
    }
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("spdesk.log")
    }
    pub fn helpdesk(&self) -> &str {
        &self.helpdesk
    }

    /// Where this daemon's staff mails go (`helpdesk.review_to`, `digest_to`, `incident_to`,
    /// `billing_to`): a person's mailbox, not the one the daemon reads.
    pub fn staff(&self) -> String {
        staff_address(&self.helpdesk)
    }

    /// Starts `spdesk run`; stdout and stderr are appended to [`Daemon::log_path`].
    pub fn start(&mut self) {
        self.start_with_env(&[]);
    }

    /// Like [`Daemon::start`] with extra environment variables (e.g. `SPDESK_FAILPOINT`).
    pub fn start_with_env(&mut self, env: &[(&str, &str)]) {
        self.start_with(&[], env);
    }

    /// Like [`Daemon::start_with_env`] with global options before `run` (e.g. `--log-json`).
    pub fn start_with(&mut self, options: &[&str], env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "daemon: already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("daemon: cannot open the log: {e}"));
        let err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("daemon: cannot open the log: {e}"));
        self.starts += 1;
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(self.config_path())
            .args(options)
            .arg("run")
            .env_remove("SPDESK_FAILPOINT")
            .env("SPDESK_LOG", "info,spdesk=debug")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("daemon: cannot start {BIN}: {e}"));
        self.child = Some(child);
        self.exit = None;
    }

    /// How often the daemon has been started; the log holds every run.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, and reaps the process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.exit = c.wait().ok();
        }
    }

    /// Sends SIGTERM (the process keeps running until it exits: see [`Daemon::wait_exit`]).
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends SIGINT (Ctrl-C in a terminal), which must stop the daemon as SIGTERM does.
    pub fn interrupt(&self) {
        self.signal("INT");
    }

    fn signal(&self, name: &str) {
        let pid = self.pid().expect("daemon: not running");
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .unwrap_or_else(|e| panic!("daemon: cannot run kill: {e}"));
        assert!(status.success(), "daemon: kill -{name} {pid} failed");
    }

    /// The exit status once the process has ended (reaping it), else `None`.
    pub fn poll_exit(&mut self) -> Option<ExitStatus> {
        if let Some(c) = self.child.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            self.child = None;
            self.exit = Some(status);
        }
        self.exit
    }

    /// Panics with the log when the daemon ended while a test waited for something.
    fn assert_alive(&mut self, waiting_for: &str) {
        if let Some(status) = self.poll_exit() {
            panic!(
                "daemon exited ({status}) while the test waited for {waiting_for}\n{}",
                self.log_tail()
            );
        }
    }

    /// Waits for the process to exit and returns its status; panics with the log on timeout.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        assert!(
            self.child.is_some() || self.exit.is_some(),
            "daemon: never started"
        );
        let start = Instant::now();
        loop {
            if let Some(status) = self.poll_exit() {
                return status;
            }
            if start.elapsed() >= timeout {
                panic!(
                    "daemon: still running {timeout:?} after it should have stopped\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The whole log (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- spdesk log {} (end)\n{}",
            self.log_path().display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// Waits until the log holds `needle` at least `count` times (e.g. "IMAP connected" once
    /// per connection).
    pub async fn wait_log(&mut self, needle: &str, count: usize, timeout: Duration) {
        let what = format!("{count}x {needle:?} in its log");
        let start = Instant::now();
        loop {
            if self.log().matches(needle).count() >= count {
                return;
            }
            self.assert_alive(&what);
            if start.elapsed() >= timeout {
                panic!("daemon: waited {timeout:?} for {what}\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the two receipts of one form sent by [`super::FA`] (modtaget + verdict) and
    /// checks that one of them is the *modtaget* receipt.
    pub async fn wait_form_receipts(&mut self, stack: &MailStack, timeout: Duration) {
        let got = self
            .wait_mailbox(stack, super::FA, "INBOX", "2 receipts", |n| n >= 2, timeout)
            .await;
        let headings: Vec<String> = got
            .iter()
            .map(|r| super::fixtures::received(r).heading)
            .collect();
        assert!(
            headings.iter().any(|s| s == "Kvittering for modtagelse"),
            "{headings:?}"
        );
    }

    /// Waits until the Helpdesk INBOX is empty: every mail in it was committed and moved (the
    /// move comes after the commit).
    pub async fn wait_inbox_empty(&mut self, stack: &MailStack, timeout: Duration) {
        let helpdesk = self.helpdesk.clone();
        self.wait_mailbox(
            stack,
            &helpdesk,
            "INBOX",
            "an empty INBOX",
            |n| n == 0,
            timeout,
        )
        .await;
    }

    /// Polls `user`'s `mailbox` (every 100 ms; missing counts as empty) until its message
    /// count satisfies `want` (described by `what`, e.g. "2 receipts"), and returns the
    /// messages. Panics with the daemon's log on timeout or when the daemon dies meanwhile.
    pub async fn wait_mailbox(
        &mut self,
        stack: &MailStack,
        user: &str,
        mailbox: &str,
        what: &str,
        want: impl Fn(usize) -> bool,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let start = Instant::now();
        let what = format!("{what} in {user}/{mailbox}");
        loop {
            let last = match stack.try_fetch_existing(user, mailbox).await {
                Ok(Some(msgs)) if want(msgs.len()) => return msgs,
                Ok(None) if want(0) => return Vec::new(),
                Ok(msgs) => format!("{} message(s)", msgs.map_or(0, |m| m.len())),
                Err(e) => e,
            };
            if self.child.is_some() {
                self.assert_alive(&what);
            }
            if start.elapsed() >= timeout {
                panic!(
                    "waited {timeout:?} for {what}; last look: {last}\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until everything the daemon queued to send has been delivered: every outbox row
    /// is sent and Postfix's queue is empty. The positive signal a "nothing more" check needs
    /// before it counts a mailbox: a mail wrongly queued is then already there to be counted.
    pub async fn wait_all_delivered(&mut self, stack: &MailStack, timeout: Duration) {
        let start = Instant::now();
        loop {
            let unsent = self.outbox().await.iter().filter(|r| !r.sent).count();
            let queued = if unsent == 0 { stack.queued() } else { 0 };
            if unsent == 0 && queued == 0 {
                return;
            }
            if self.child.is_some() {
                self.assert_alive("the outbox to be delivered");
            }
            if start.elapsed() >= timeout {
                panic!(
                    "waited {timeout:?} for the outbox to be delivered: {unsent} unsent, \
                     {queued} in Postfix's queue\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `spdesk --config <config> ARGS` to completion.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_command(args)
            .output()
            .unwrap_or_else(|e| panic!("daemon: cannot run {BIN}: {e}"))
    }

    /// Like [`Daemon::cli`] as the operator `who`: the CLI records the person who acts as
    /// `$SUDO_USER`, else `$USER`, so a test run by root (often under sudo) names `who`.
    pub fn cli_as(&self, who: &str, args: &[&str]) -> std::process::Output {
        self.cli_command(args)
            .env("USER", who)
            .env_remove("SUDO_USER")
            .output()
            .unwrap_or_else(|e| panic!("daemon: cannot run {BIN}: {e}"))
    }

    fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config")
            .arg(self.config_path())
            .args(args)
            .env_remove("SPDESK_FAILPOINT")
            .env("SPDESK_LOG", "warn")
            .stdin(Stdio::null());
        cmd
    }

    fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "spdesk {} failed ({}): {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "spdesk {}: not JSON ({e}): {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `spdesk orders list --json`: every order.
    pub fn orders(&self) -> Vec<serde_json::Value> {
        match self.cli_json(&["orders", "list", "--json"]) {
            serde_json::Value::Array(rows) => rows,
            other => panic!("spdesk orders list --json: not an array: {other}"),
        }
    }

    /// Waits (up to `wait`) until the order with this BestillingsID is in `state`; its
    /// reference. Fails with the orders and the daemon's log when it does not get there.
    pub async fn wait_state(&self, bestillings_id: &str, state: &str, wait: Duration) -> String {
        let start = Instant::now();
        loop {
            let orders = self.orders();
            if let Some(o) = orders
                .iter()
                .find(|o| o["bestillings_id"] == bestillings_id && o["state"] == state)
            {
                return o["ref"].as_str().expect("ref").to_string();
            }
            assert!(
                start.elapsed() < wait,
                "no order {bestillings_id} in state {state}; orders: {orders:#?}\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `spdesk orders show REF --json`: the order with its versions and events.
    pub fn order(&self, reference: &str) -> serde_json::Value {
        self.cli_json(&["orders", "show", reference, "--json"])
    }

    /// How many receipts the daemon queued for an order (its "receipt queued" events).
    pub fn receipts_queued(&self, reference: &str) -> usize {
        self.order(reference)["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e["action"] == "receipt queued")
                    .count()
            })
            .unwrap_or(0)
    }

    /// Waits until `orders list` shows at least `n` orders and returns them.
    pub async fn wait_orders(&mut self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let orders = self.orders();
            if orders.len() >= n {
                return orders;
            }
            self.assert_alive(&format!("{n} order(s)"));
            if start.elapsed() >= timeout {
                panic!(
                    "daemon: waited {timeout:?} for {n} order(s); have {}\n{}",
                    orders.len(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One row of the daemon's outbox (migrations/0001_init.sql), as the tests look at it.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The order's reference; `None` for mail of no order (digest, billing).
    pub order: Option<String>,
    /// The receipt kind, e.g. "modtaget", "helpdesk_vurdering".
    pub kind: String,
    pub recipients: Vec<String>,
    pub sent: bool,
}

impl Daemon {
    /// A pool on the daemon's database, for what the CLI does not show (outbox, inbound mail,
    /// intake attempts). Reading while the daemon runs is fine (SQLite's WAL, or PostgreSQL).
    pub async fn pool(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        sqlx::AnyPool::connect(&self.db_url())
            .await
            .unwrap_or_else(|e| panic!("daemon: cannot open {}: {e}", self.db_url()))
    }

    /// Every outbox row, oldest first: what the daemon queued to send (sent or not).
    pub async fn outbox(&self) -> Vec<OutboxRow> {
        let pool = self.pool().await;
        let rows: Vec<(Option<String>, String, String, Option<String>)> = sqlx::query_as(
            "SELECT o.ref, x.kind, x.recipients, x.sent_at FROM outbox x \
             LEFT JOIN orders o ON o.id = x.order_id ORDER BY x.id",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("daemon: reading the outbox: {e}"));
        pool.close().await;
        rows.into_iter()
            .map(|(order, kind, recipients, sent_at)| OutboxRow {
                order,
                kind,
                recipients: serde_json::from_str(&recipients)
                    .unwrap_or_else(|e| panic!("outbox recipients {recipients:?}: {e}")),
                sent: sent_at.is_some(),
            })
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // keep what explains the failure
            eprintln!("{}", self.log_tail());
        }
    }
}

/// A fresh stack of its own and a daemon reading [`super::HELPDESK`], connected to IMAP
/// (within `connect`).
pub async fn started(connect: Duration) -> (MailStack, Daemon) {
    let stack = MailStack::start(&[]);
    let mut d = Daemon::new(&stack, super::HELPDESK);
    d.start();
    d.wait_log("IMAP connected", 1, connect).await;
    (stack, d)
}

/// The staff mailbox of a daemon reading `helpdesk`: `helpdesk.staff@example.test` for
/// `helpdesk@example.test` (one per daemon, so tests sharing a stack never count each other's).
pub fn staff_address(helpdesk: &str) -> String {
    match helpdesk.rsplit_once('@') {
        Some((local, domain)) => format!("{local}.staff@{domain}"),
        None => format!("{helpdesk}.staff"),
    }
}

/// The config: the example config's settings, pointed at the stack, with a high receipt rate
/// limit so the tests never meet it.
fn config_text(stack: &MailStack, helpdesk: &str, database: &str) -> String {
    let staff = staff_address(helpdesk);
    format!(
        r#"# Written by tests/common/daemon.rs
[imap]
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "{helpdesk}"
auth = "password"
password = "{password}"
mailbox = "INBOX"
processed_folder = "Processed"
quarantine_folder = "Quarantine"
idle = true
poll_interval = "60s"

[smtp]
host = "127.0.0.1"
port = {smtp}
tls = "none"
auth = "none"
from = "{helpdesk}"

[database]
{database}

[helpdesk]
address = "{helpdesk}"
own_domains = []
review_to = ["{staff}"]
digest_to = ["{staff}"]
incident_to = ["{staff}"]
billing_to = ["{staff}"]
stale_rejected_days = 14

[limits]
max_message_bytes = "25 MB"
max_attachments = 20
max_docx_unzipped_bytes = "50 MiB"
max_docx_entries = 1000
max_xml_depth = 256
max_pdf_pages = 50
max_pdf_objects = 100000
reader_timeout = "10s"
max_attempts = 3
receipts_per_address_per_hour = 1000
receipts_per_hour = 10000000
orders_per_sender_per_hour = 10000000
review_mails_per_hour = 10000000

[executors]
timeout = "5m"

[rules]
lead_working_days = 5
change_window = "08:00-15:00"
extra_closed_days = ["12-24", "12-31"]
max_days_ahead = 365
trusted_authserv_ids = []
security_models = ["token", "kontekst"]
datatypes = []

# Out of the way: a run spanning 07:00 would otherwise queue a digest to the mailbox the daemon
# reads and break exact counts. Tests that want a run start it themselves (CLI, or edit_config).
[schedule]
timezone = "Europe/Copenhagen"
digest = "0 0 3 1 1 * 2099"
billing = "0 0 3 1 1 * 2099"

[billing]
prices = {{ webservice = 4500.0, sftp = 2500.0 }}
currency = "DKK"

# The tests' orders name hosts such as exttest2.fjordsoft.example: executing them must not
# look them up or connect (no check leaves the machine). tests/verify.rs turns the check on
# against its own loopback servers.
[verify]
enabled = false
"#,
        imap = stack.imap_port(),
        smtp = stack.smtp_port(),
        password = stack.password(),
    )
}

/// Ends every IMAP session of `stack` by killing Dovecot's `imap` processes that have files of
/// the stack open (a selected mailbox's index), as a real Dovecot restart does with its
/// default `shutdown_clients = yes`. [`MailStack::restart_dovecot`] alone may leave an
/// established session alive: its process outlives the master. Returns how many it killed.
pub fn kill_imap_sessions(stack: &MailStack) -> usize {
    let root = stack.dir();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let proc_dir = entry.path();
        let is_imap = std::fs::read_link(proc_dir.join("exe"))
            .is_ok_and(|exe| exe == Path::new("/usr/lib/dovecot/imap"));
        if !is_imap {
            continue;
        }
        let ours = std::fs::read_dir(proc_dir.join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(root)));
        if ours {
            pids.push(pid);
        }
    }
    for pid in &pids {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
    pids.len()
}
