//! The optional executor (`[executors]`): approved orders whose planned time has come and whose
//! kind has a command are carried out by running that command (`sh -c`) with the order as JSON
//! on stdin, under the time limit. Exit 0 → executed (its stdout, trimmed, is the note the
//! requester reads); anything else → failed, with the exit status and output in the event and
//! the incident mail. Without a command for the kind, orders wait for a person. A webservice
//! change of `url` or `ssl_certificate` is checked after its command succeeded (`[verify]`,
//! with the retries, [`crate::verify`]): a check that still fails is a failure like a failed
//! command, with what failed in the incident mail.
//!
//! Exactly once: an order is claimed (`orders.executing_at`, committed) before its command
//! starts, so a second instance or a restart never runs it again. A claim still open after the
//! time limit plus a grace period belongs to an executor that was interrupted (crash, kill -9):
//! the order goes to failed ("the executor was interrupted") and a person looks at it. The
//! result lands through [`actions::apply_action`], the same transaction as the CLI's.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

use crate::cli::orders::order_details_json;
use crate::config;
use crate::daemon::Shared;
use crate::orders::plan::{Event, event_detail};
use crate::orders::state::Action;
use crate::orders::verification::Verification;
use crate::store::actions::{self, ActionOutcome, Actions, OrderAction};
use crate::store::{self, Store, parse_ts, ts};
use crate::verify::{self, VerifySettings};

/// Output kept per stream (stdout, stderr); the rest is counted, not stored.
pub const MAX_OUTPUT: usize = 16 * 1024;
/// How often due orders are looked for (and once at start).
pub const INTERVAL: Duration = Duration::from_secs(30);
/// The executor command's PATH: fixed, so neither the daemon's environment nor a writable
/// directory early in it decides which programs run.
pub const COMMAND_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// The executor command's locale (UTF-8, no translated messages in its output).
pub const COMMAND_LANG: &str = "C.UTF-8";
/// A claim older than the time limit plus this is an interrupted execution.
pub const GRACE: Duration = Duration::from_secs(60);
/// After the command exits, how long its output streams may stay open (a background
/// process it left behind may hold them).
const DRAIN: Duration = Duration::from_secs(5);
/// The actor of the executor's events.
pub const ACTOR: &str = "executor";

/// What the executor runs with.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// Shell command per form kind code (`webservice`, `sftp`).
    pub commands: BTreeMap<String, String>,
    pub timeout: Duration,
    pub interval: Duration,
}

impl ExecutorSettings {
    pub fn from_config(e: &config::Executors) -> ExecutorSettings {
        let commands = [("webservice", &e.webservice), ("sftp", &e.sftp)]
            .into_iter()
            .filter_map(|(kind, cmd)| {
                cmd.as_deref()
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(|c| (kind.to_string(), c.to_string()))
            })
            .collect();
        ExecutorSettings {
            commands,
            timeout: e.timeout,
            interval: INTERVAL,
        }
    }

    /// What the daemon runs: [`ExecutorSettings::from_config`], but no command at all without
    /// an it-system register (`rules.systems_file`). Without one nothing checks that the
    /// sender may order for the it-system (FORMS.md rule 7), so an approved order waits for a
    /// person (`spdesk orders execute`), who checks that before making the change.
    pub fn for_daemon(e: &config::Executors, register_configured: bool) -> ExecutorSettings {
        let mut s = Self::from_config(e);
        if !register_configured && !s.commands.is_empty() {
            warn!(
                kinds = ?s.commands.keys().collect::<Vec<_>>(),
                "executor: no it-system register (rules.systems_file); the [executors] commands do not run by themselves, a person executes approved orders"
            );
            s.commands.clear();
        }
        s
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// It exited by itself: the exit code, or the signal that ended it.
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// It ran past the time limit and was killed.
    TimedOut,
    /// spdesk was stopped while it ran; it was killed.
    Stopped,
    /// It could not be started.
    SpawnFailed(String),
}

/// One output stream: the first [`MAX_OUTPUT`] bytes and how many there were in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    pub kept: Vec<u8>,
    pub total: u64,
}

impl Captured {
    /// The kept text, trimmed, with a note when bytes were dropped.
    pub fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.kept).trim().to_string();
        let dropped = self.total.saturating_sub(self.kept.len() as u64);
        if dropped > 0 {
            s.push_str(&format!("\n[… {dropped} more bytes not kept]"));
        }
        s
    }
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub end: End,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// What a run means for the order: the action, the text (note or reason) and the event detail.
pub fn verdict(run: &Run, timeout: Duration) -> (Action, String, String) {
    let out = run.stdout.text();
    let err = run.stderr.text();
    let mut output = Vec::new();
    if !out.is_empty() {
        output.push(format!("stdout:\n{out}"));
    }
    if !err.is_empty() {
        output.push(format!("stderr:\n{err}"));
    }
    let output = if output.is_empty() {
        "(no output)".to_string()
    } else {
        output.join("\n")
    };
    let failed = |reason: String| (Action::Fail, reason, output.clone());
    match &run.end {
        End::Exited {
            code: Some(0),
            signal: _,
        } => (
            Action::Execute,
            out.clone(),
            format!("exit status 0\n{output}"),
        ),
        End::Exited {
            code: Some(c),
            signal: _,
        } => failed(format!("the executor command exited with status {c}")),
        End::Exited {
            code: None,
            signal: Some(s),
        } => failed(format!("the executor command was killed by signal {s}")),
        End::Exited {
            code: None,
            signal: None,
        } => failed("the executor command ended without an exit status".to_string()),
        End::TimedOut => failed(format!(
            "the executor command did not finish within {} and was stopped",
            config::format_duration(timeout)
        )),
        End::Stopped => failed(
            "the executor was interrupted: spdesk was stopped while the command ran".to_string(),
        ),
        End::SpawnFailed(e) => failed(format!("the executor command could not be started: {e}")),
    }
}

/// Reads a stream to its end, keeping the first `cap` bytes.
async fn read_capped(stream: Option<impl AsyncRead + Unpin>, cap: usize) -> Captured {
    let mut c = Captured::default();
    let Some(mut stream) = stream else {
        return c;
    };
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return c,
            Ok(n) => {
                let chunk = buf.get(..n).unwrap_or_default();
                let room = cap.saturating_sub(c.kept.len());
                c.kept
                    .extend_from_slice(chunk.get(..room.min(n)).unwrap_or_default());
                c.total = c.total.saturating_add(n as u64);
            }
        }
    }
}

/// Kills the command's whole process group (it runs in its own), so that nothing it started
/// keeps running after a timeout.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1) {
        // SAFETY: kill(2) with a negative pid signals the process group the child leads; it
        // touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Runs `command` with `sh -c`, `input` on stdin, under `timeout`; stops early (killing it)
/// when `shutdown` turns true.
///
/// The command gets a cleared environment: only PATH ([`COMMAND_PATH`]), LANG
/// ([`COMMAND_LANG`]) and `env` (the documented `SPDESK_*` variables). The daemon's own
/// environment holds the secrets `password_env` names; a command must never see them.
pub async fn run_command(
    command: &str,
    input: &[u8],
    env: &[(&str, &str)],
    timeout: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Run {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .env_clear()
        .env("PATH", COMMAND_PATH)
        .env("LANG", COMMAND_LANG);
    for (k, v) in env {
        cmd.env(k, v);
    }
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Run {
                end: End::SpawnFailed(e.to_string()),
                stdout: Captured::default(),
                stderr: Captured::default(),
            };
        }
    };
    let pid = child.id();
    let stdin = child.stdin.take();
    let input = input.to_vec();
    // A command that does not read its input must not block: write on the side, ignore EPIPE.
    let writer = tokio::spawn(async move {
        if let Some(mut s) = stdin {
            let _ = s.write_all(&input).await;
            let _ = s.shutdown().await;
        }
    });
    let out = tokio::spawn(read_capped(child.stdout.take(), MAX_OUTPUT));
    let err = tokio::spawn(read_capped(child.stderr.take(), MAX_OUTPUT));
    let end = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => End::Exited { code: s.code(), signal: exit_signal(&s) },
            Err(e) => End::SpawnFailed(format!("waiting for it failed: {e}")),
        },
        _ = tokio::time::sleep(timeout) => End::TimedOut,
        _ = wait_true(shutdown) => End::Stopped,
    };
    if !matches!(end, End::Exited { .. }) {
        kill_group(pid);
        let _ = child.kill().await;
    }
    writer.abort();
    let collect = |h: tokio::task::JoinHandle<Captured>| async move {
        let abort = h.abort_handle();
        match tokio::time::timeout(DRAIN, h).await {
            Ok(Ok(c)) => c,
            _ => {
                abort.abort();
                Captured::default()
            }
        }
    };
    Run {
        end,
        stdout: collect(out).await,
        stderr: collect(err).await,
    }
}

#[cfg(unix)]
fn exit_signal(s: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(s)
}

#[cfg(not(unix))]
fn exit_signal(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// Resolves once `rx` is true (never, if its sender is gone while false).
async fn wait_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Claims the next due order whose kind has a command: approved, planned time come, not
/// claimed (or claimed before its last change). Claim and event commit together.
pub async fn claim_next(
    store: &Store,
    kinds: &[String],
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(String, DateTime<Utc>)>> {
    if kinds.is_empty() {
        return Ok(None);
    }
    let claim = ts(now);
    let mut tx = store.begin().await?;
    let Some(claimed) = store::execution::claim_next(&mut tx, kinds, &claim).await? else {
        return Ok(None);
    };
    let at = store::EventAt {
        order_id: Some(claimed.id),
        inbound_id: None,
        at: now,
    };
    let kind = claimed.kind.as_deref().unwrap_or("?");
    let event = Event::note(
        ACTOR,
        "execution started",
        format!("the {kind} executor command runs"),
    );
    store::event(&mut tx, at, &event).await?;
    tx.commit().await?;
    // The stored text is the claim; read it back as the time the action checks.
    Ok(parse_ts(&claim).map(|c| (claimed.reference, c)))
}

/// Open claims older than `older_than` (their executor was interrupted): reference and claim.
pub async fn stale_claims(
    store: &Store,
    now: DateTime<Utc>,
    older_than: Duration,
) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
    let age = chrono::Duration::from_std(older_than).unwrap_or(chrono::Duration::MAX);
    let cutoff = now
        .checked_sub_signed(age)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    store::execution::claims_before(store, cutoff).await
}

/// The executor task inside `spdesk run`: the database, the order actions it records results
/// with, its commands, the outbox's wakeup (rung when a result queued mail) and the stop
/// signal.
pub struct Executor {
    store: Store,
    actions: Arc<Actions>,
    /// For `[verify]` and `rules.trusted_ca_file`: a command's change is checked.
    config: Arc<crate::config::Config>,
    settings: ExecutorSettings,
    wakeup: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
}

impl Executor {
    pub fn new(
        shared: &Shared,
        settings: ExecutorSettings,
        wakeup: Arc<Notify>,
        shutdown: watch::Receiver<bool>,
    ) -> Executor {
        Executor {
            store: shared.store.clone(),
            actions: shared.actions.clone(),
            config: shared.config.clone(),
            settings,
            wakeup,
            shutdown,
        }
    }

    /// A round at start and every `settings.interval` until the stop signal.
    pub async fn run(mut self) {
        if self.settings.commands.is_empty() {
            info!("executor: no [executors] commands; approved orders wait for a person");
        }
        loop {
            if *self.shutdown.borrow() {
                return;
            }
            match self.round().await {
                // what an operator (or a test) waits for to know the executor has looked
                Ok(ran) => debug!(ran, "executor: round done"),
                Err(e) => error!(error = format!("{e:#}"), "executor round failed; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.interval) => {}
                _ = wait_true(&mut self.shutdown) => return,
            }
        }
    }

    /// One round: fail interrupted executions, then run every due order, one at a time.
    pub async fn round(&mut self) -> anyhow::Result<usize> {
        if self.recover(Utc::now()).await? > 0 {
            self.wakeup.notify_one();
        }
        let kinds: Vec<String> = self.settings.commands.keys().cloned().collect();
        let mut n = 0;
        while !*self.shutdown.borrow() {
            let Some((reference, claim)) = claim_next(&self.store, &kinds, Utc::now()).await?
            else {
                break;
            };
            self.execute(&reference, claim).await?;
            self.wakeup.notify_one();
            n += 1;
        }
        Ok(n)
    }

    /// Fails every order whose execution was interrupted; returns how many.
    async fn recover(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let limit = self.settings.timeout.saturating_add(GRACE);
        let mut n = 0;
        for (reference, claim) in stale_claims(&self.store, now, limit).await? {
            let text = format!(
                "the executor was interrupted: its command started {} and never reported back; the change may be partly made",
                store::ts(claim)
            );
            let action = OrderAction {
                reference: &reference,
                action: Action::Fail,
                actor: ACTOR,
                text: Some(&text),
                detail: None,
                early: None,
                at: None,
                claim: Some(claim),
                verification: None,
                now,
            };
            let outcome = actions::apply_action(&self.store, &self.actions, &action).await?;
            log_outcome(&reference, &outcome);
            n += 1;
        }
        Ok(n)
    }

    /// Runs one claimed order's command and records the result.
    async fn execute(&mut self, reference: &str, claim: DateTime<Utc>) -> anyhow::Result<()> {
        let Some(o) = store::order_by_ref(&self.store.pool, reference).await? else {
            return Ok(());
        };
        let kind = o.kind.as_deref().unwrap_or("");
        let command = self
            .settings
            .commands
            .get(kind)
            .cloned()
            .unwrap_or_default();
        let input = order_details_json(&self.store.pool, &o, Utc::now()).await?;
        let input = serde_json::to_vec_pretty(&input)?;
        info!(reference, command, "executor: running");
        let run = if command.is_empty() {
            Run {
                end: End::SpawnFailed("no command for this kind".into()),
                stdout: Captured::default(),
                stderr: Captured::default(),
            }
        } else {
            let env = [("SPDESK_REF", reference), ("SPDESK_KIND", kind)];
            let timeout = self.settings.timeout;
            run_command(&command, &input, &env, timeout, &mut self.shutdown).await
        };
        let (action, text, detail) = verdict(&run, self.settings.timeout);
        let (action, text, verification) = self.checked(reference, action, text).await?;
        let result = OrderAction {
            reference,
            action,
            actor: ACTOR,
            text: Some(&text),
            detail: Some(&detail),
            // The executor only claims orders whose planned time has come.
            early: None,
            at: None,
            claim: Some(claim),
            verification: verification.as_ref(),
            now: Utc::now(),
        };
        let outcome = actions::apply_action(&self.store, &self.actions, &result).await?;
        if let ActionOutcome::Refused(why) = &outcome {
            // Keep what the command did in the history even when the order moved on meanwhile.
            let mut tx = self.store.begin().await?;
            let at = store::EventAt {
                order_id: Some(o.id),
                inbound_id: None,
                at: Utc::now(),
            };
            let detail = event_detail(Some(why), Some(&format!("{text}\n{detail}")));
            let event = Event::note(ACTOR, "execution result not applied", detail);
            store::event(&mut tx, at, &event).await?;
            tx.commit().await?;
        }
        log_outcome(reference, &outcome);
        Ok(())
    }
}

impl Executor {
    /// A command's change checked first (`[verify]`, with its retries): passed, executed with
    /// what was verified; failed, a failure (an incident, as any failed command) saying what
    /// failed. A failed command is not checked.
    async fn checked(
        &self,
        reference: &str,
        action: Action,
        text: String,
    ) -> anyhow::Result<(Action, String, Option<Verification>)> {
        if action != Action::Execute {
            return Ok((action, text, None));
        }
        let settings = VerifySettings::from_config(&self.config)?;
        // The executor claims only due orders: the planned time is no reason to skip the check.
        match verify::before_execute(&self.store, &settings, reference, ACTOR, true, None).await? {
            Some(v) if !v.passed => Ok((
                Action::Fail,
                format!(
                    "the command succeeded, but the check of the change failed: {}",
                    v.failures
                ),
                None,
            )),
            v => Ok((action, text, v)),
        }
    }
}

fn log_outcome(reference: &str, outcome: &ActionOutcome) {
    match outcome {
        ActionOutcome::Done { from, to, mails } => {
            info!(reference, %from, %to, mails = ?mails, "executor: order updated");
        }
        ActionOutcome::Refused(why) => {
            warn!(reference, why, "executor: result not applied");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(end: End, out: &str, err: &str) -> Run {
        let cap = |s: &str| Captured {
            kept: s.as_bytes().to_vec(),
            total: s.len() as u64,
        };
        Run {
            end,
            stdout: cap(out),
            stderr: cap(err),
        }
    }

    const T: Duration = Duration::from_secs(300);

    #[test]
    fn exit_zero_executes_with_stdout_as_note() {
        let (a, note, detail) = verdict(
            &run_with(
                End::Exited {
                    code: Some(0),
                    signal: None,
                },
                "  URL skiftet\n",
                "warning: slow",
            ),
            T,
        );
        assert_eq!(a, Action::Execute);
        assert_eq!(note, "URL skiftet");
        assert!(detail.contains("exit status 0"));
        assert!(detail.contains("stderr:\nwarning: slow"), "{detail}");
    }

    #[test]
    fn failures_name_the_cause_and_keep_the_output() {
        let (a, reason, detail) = verdict(
            &run_with(
                End::Exited {
                    code: Some(3),
                    signal: None,
                },
                "",
                "no route",
            ),
            T,
        );
        assert_eq!(a, Action::Fail);
        assert!(reason.contains("status 3"), "{reason}");
        assert!(detail.contains("no route"));
        let (a, reason, _) = verdict(
            &run_with(
                End::Exited {
                    code: None,
                    signal: Some(9),
                },
                "",
                "",
            ),
            T,
        );
        assert_eq!(a, Action::Fail);
        assert!(reason.contains("signal 9"));
        let (_, reason, detail) = verdict(&run_with(End::TimedOut, "", ""), T);
        assert!(reason.contains("5m"), "{reason}");
        assert_eq!(detail, "(no output)");
        let (_, reason, _) = verdict(&run_with(End::Stopped, "", ""), T);
        assert!(reason.contains("interrupted"));
        let (a, reason, _) = verdict(&run_with(End::SpawnFailed("ENOENT".into()), "", ""), T);
        assert_eq!(a, Action::Fail);
        assert!(reason.contains("ENOENT"));
    }

    #[test]
    fn captured_output_says_what_was_dropped() {
        let c = Captured {
            kept: b"abc ".to_vec(),
            total: 10,
        };
        assert_eq!(c.text(), "abc\n[… 6 more bytes not kept]");
        let c = Captured {
            kept: vec![0xff, b'x'],
            total: 0,
        };
        assert_eq!(c.text(), "\u{fffd}x");
    }

    #[test]
    fn settings_take_only_configured_commands() {
        let s = ExecutorSettings::from_config(&config::Executors {
            webservice: Some("  ".into()),
            sftp: Some(" run-sftp ".into()),
            timeout: Duration::from_secs(5),
        });
        assert_eq!(s.commands.len(), 1);
        assert_eq!(s.commands.get("sftp").map(String::as_str), Some("run-sftp"));
        assert_eq!(s.timeout, Duration::from_secs(5));
    }

    #[test]
    fn without_a_register_no_command_runs_by_itself() {
        let e = config::Executors {
            webservice: Some("run-ws".into()),
            sftp: Some("run-sftp".into()),
            timeout: Duration::from_secs(5),
        };
        assert!(ExecutorSettings::for_daemon(&e, false).commands.is_empty());
        assert_eq!(ExecutorSettings::for_daemon(&e, true).commands.len(), 2);
    }

    #[tokio::test]
    async fn commands_get_stdin_and_are_stopped_at_the_limit() {
        let (_tx, mut rx) = watch::channel(false);
        let r = run_command(
            "cat; echo \"$SPDESK_REF\" >&2; exit 4",
            b"{\"ref\":1}",
            &[("SPDESK_REF", "SP-2026-00001")],
            Duration::from_secs(20),
            &mut rx,
        )
        .await;
        assert_eq!(
            r.end,
            End::Exited {
                code: Some(4),
                signal: None
            }
        );
        assert_eq!(r.stdout.text(), "{\"ref\":1}");
        assert_eq!(r.stderr.text(), "SP-2026-00001");

        // A grandchild holding the pipes is killed with the group at the limit.
        let start = std::time::Instant::now();
        let r = run_command(
            "sleep 30 & sleep 30",
            b"",
            &[],
            Duration::from_millis(300),
            &mut rx,
        )
        .await;
        assert_eq!(r.end, End::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(10));

        // Output beyond the cap is counted, not kept; a command ignoring stdin is fine.
        let r = run_command(
            "head -c 40000 /dev/zero | tr '\\0' a",
            &vec![b'x'; 200_000],
            &[],
            Duration::from_secs(20),
            &mut rx,
        )
        .await;
        assert_eq!(r.stdout.kept.len(), MAX_OUTPUT);
        assert_eq!(r.stdout.total, 40000);
    }

    /// The daemon's environment (where `password_env` secrets live) never reaches the
    /// command: it sees exactly PATH, LANG and the SPDESK_* variables it is given.
    #[tokio::test]
    async fn commands_start_with_a_cleared_environment() {
        assert!(
            std::env::vars().any(|(k, _)| k != "PATH" && k != "LANG" && k != "PWD"),
            "the test process has an environment to leak"
        );
        let (_tx, mut rx) = watch::channel(false);
        let r = run_command(
            "env",
            b"",
            &[("SPDESK_REF", "SP-2026-00001"), ("SPDESK_KIND", "sftp")],
            Duration::from_secs(20),
            &mut rx,
        )
        .await;
        let mut vars: Vec<String> = r
            .stdout
            .text()
            .lines()
            .filter(|l| !l.starts_with("PWD="))
            .map(str::to_string)
            .collect();
        vars.sort();
        assert_eq!(
            vars,
            [
                format!("LANG={COMMAND_LANG}"),
                format!("PATH={COMMAND_PATH}"),
                "SPDESK_KIND=sftp".to_string(),
                "SPDESK_REF=SP-2026-00001".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn a_stop_signal_ends_the_command() {
        let (tx, mut rx) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = tx.send(true);
            tx
        });
        let r = run_command("sleep 30", b"", &[], Duration::from_secs(60), &mut rx).await;
        assert_eq!(r.end, End::Stopped);
        drop(stopper.await);
    }
}
