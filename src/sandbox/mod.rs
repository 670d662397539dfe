//! The document readers in a child process: the [`DocumentReader`] of the daemon and of
//! `spdesk check`.
//!
//! A hostile PDF can overflow the stack of lopdf's recursive parser (which no `catch_unwind`
//! catches), inflate to gigabytes, or keep a core busy; in the daemon's own process any of
//! these is a crash loop or an outage. Here each document is read by `spdesk reader-child`
//! ([`child`]), which runs under `RLIMIT_AS` (`limits.reader_memory`), a per-request
//! `RLIMIT_CPU`, a small `RLIMIT_STACK`, no core dumps, few files and an empty environment,
//! and which the parent kills after `reader_timeout` of wall-clock time (its waits on the
//! child's pipes end at that deadline, [`deadline`]). A child that dies,
//! overruns or answers garbage makes that one file unreadable (`form.unreadable`) and the
//! mail goes on.
//!
//! Starting a process per document costs milliseconds, more than the daemon's whole CPU per
//! mail, so a child is kept between requests: one request at a time per child, a new child
//! after a failure, an error answer or [`REQUESTS_PER_CHILD`] requests (a reader's leaks
//! and fragmentation do not accumulate), and up to [`MAX_IDLE`] idle children kept.

pub mod child;
mod deadline;
pub mod protocol;

use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tracing::{debug, warn};

use crate::forms::raw::ReadError;
use crate::forms::reader::{DocumentReader, ReadOutput, ReadRequest, reader_failed, took_too_long};
use deadline::{Timed, deadline_in};
use protocol::{ProtocolError, read_answer, write_request};

/// Documents whose reader process failed (crashed, overran its time or memory, answered
/// garbage) since the daemon started; `/metrics` reports it.
pub static READER_FAILURES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The hidden subcommand that runs [`child::main`].
pub const CHILD_COMMAND: &str = "reader-child";
/// Requests one child serves before it is replaced.
pub const REQUESTS_PER_CHILD: u32 = 1000;
/// Idle children kept for the next request (the daemon reads one mail at a time; `check`
/// one file at a time).
pub const MAX_IDLE: usize = 2;
/// What the parent keeps of a dead child's stderr (Rust's last words: out of memory, stack
/// overflow).
const STDERR_KEPT: u64 = 4096;

/// Runs the document readers in child processes of `exe` (the spdesk binary).
#[derive(Debug)]
pub struct Sandbox {
    exe: PathBuf,
    memory: u64,
    idle: Mutex<Vec<Worker>>,
}

impl Sandbox {
    /// A sandbox whose children are `exe reader-child`, each limited to `memory` bytes of
    /// address space. Starts one child at once, so a binary that cannot be run fails here,
    /// at start, not on the first mail.
    pub fn start(exe: PathBuf, memory: u64) -> Result<Sandbox, String> {
        let sandbox = Sandbox {
            exe,
            memory,
            idle: Mutex::new(Vec::new()),
        };
        let first = sandbox.spawn().map_err(|e| {
            format!(
                "cannot start the document reader {} {CHILD_COMMAND}: {e}",
                sandbox.exe.display()
            )
        })?;
        sandbox.park(first);
        Ok(sandbox)
    }

    /// A sandbox whose children run this very binary (the daemon and `spdesk check`).
    pub fn of_this_binary(memory: u64) -> Result<Sandbox, String> {
        let exe = std::env::current_exe().map_err(|e| {
            format!(
                "cannot find the spdesk binary to run the document readers in a child process ({e}); start spdesk by its path, e.g. /usr/local/bin/spdesk"
            )
        })?;
        Sandbox::start(exe, memory)
    }

    /// The process ids of the children kept for the next request (for monitoring and tests).
    pub fn idle_pids(&self) -> Vec<u32> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.iter().map(|w| w.child.id()).collect()
    }

    fn spawn(&self) -> std::io::Result<Worker> {
        let mut child = Command::new(&self.exe)
            .arg(CHILD_COMMAND)
            .arg("--memory")
            .arg(self.memory.to_string())
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("the child's pipes are missing"));
        };
        let (stdin, stdout) = match (Timed::new(stdin), Timed::new(stdout)) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        debug!(pid = child.id(), "document reader started");
        Ok(Worker {
            child,
            stdin: BufWriter::new(stdin),
            stdout: BufReader::new(stdout),
            stderr,
            served: 0,
        })
    }

    /// An idle child, or a new one.
    fn take(&self) -> std::io::Result<Worker> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(w) => Ok(w),
            None => self.spawn(),
        }
    }

    /// Keeps a healthy child for the next request, or lets it go (dropping ends it).
    fn park(&self, worker: Worker) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(worker);
        }
    }

    /// One request on one child; on failure the child is ended (killed: a child past its
    /// time too) and the failure explained.
    fn exchange(&self, mut worker: Worker, request: ReadRequest<'_>) -> Exchange {
        let deadline = deadline_in(request.job.timeout);
        worker.stdin.get_mut().deadline = deadline;
        worker.stdout.get_mut().deadline = deadline;
        let answer = write_request(&mut worker.stdin, request.job, request.bytes)
            .and_then(|()| worker.stdin.flush().map_err(ProtocolError::from))
            .and_then(|()| read_answer(&mut worker.stdout));
        match answer {
            Ok(answer) => Exchange::Answered(worker, answer),
            Err(_) if std::time::Instant::now() >= deadline => {
                Exchange::Failed(worker.end(Failure::Timeout))
            }
            Err(e) => Exchange::Failed(worker.end(Failure::Protocol(e))),
        }
    }
}

impl DocumentReader for Sandbox {
    fn read(&self, request: ReadRequest<'_>) -> Result<ReadOutput, ReadError> {
        let job = request.job;
        if request.bytes.len() as u64 > protocol::MAX_BODY {
            return Err(ReadError::Limit(format!(
                "the file is larger than the limit of {} bytes",
                protocol::MAX_BODY
            )));
        }
        // A kept child may have died meanwhile (e.g. killed from outside): a failure on a
        // kept child is retried once on a new one before the file is blamed.
        for _ in 0..2 {
            let worker = match self.take() {
                Ok(w) => w,
                Err(e) => {
                    warn!(source = %job.source, error = %e, "cannot start a document reader");
                    return Err(ReadError::Limit(
                        "the document reader could not be started".into(),
                    ));
                }
            };
            let reused = worker.served > 0;
            match self.exchange(worker, request) {
                Exchange::Answered(mut worker, answer) => {
                    worker.served += 1;
                    if answer.is_ok() && worker.served < REQUESTS_PER_CHILD {
                        self.park(worker);
                    }
                    return answer;
                }
                Exchange::Failed(ended) if reused && ended.failure.blames_child() => {
                    debug!(source = %job.source, what = %ended.describe(), "kept document reader failed; retrying on a new one");
                }
                Exchange::Failed(ended) => {
                    READER_FAILURES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let error = ended.error(job.timeout, self.memory);
                    warn!(
                        source = %job.source,
                        reader = ?job.kind,
                        signal = ended.status.and_then(|s| s.signal()),
                        exit_code = ended.status.and_then(|s| s.code()),
                        what = %ended.describe(),
                        reason = %error,
                        "document reader failed; the file counts as unreadable"
                    );
                    return Err(error);
                }
            }
        }
        Err(reader_failed())
    }
}

/// One child with its pipes.
#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: BufWriter<Timed<ChildStdin>>,
    stdout: BufReader<Timed<ChildStdout>>,
    stderr: ChildStderr,
    served: u32,
}

impl Worker {
    /// Kills and reaps the child and keeps what it said on stderr.
    fn end(mut self, failure: Failure) -> Ended {
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        let mut last_words = Vec::new();
        let _ = (&mut self.stderr)
            .take(STDERR_KEPT)
            .read_to_end(&mut last_words);
        Ended {
            failure,
            status,
            stderr: String::from_utf8_lossy(&last_words)
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" / "),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Exchange {
    Answered(Worker, Result<ReadOutput, ReadError>),
    Failed(Ended),
}

/// What went wrong with a child, as the parent saw it.
#[derive(Debug)]
enum Failure {
    /// Killed after the request's wall-clock time.
    Timeout,
    /// The pipe broke, the answer was cut short or was not a valid answer.
    Protocol(ProtocolError),
}

impl Failure {
    /// True when the child itself failed, which a kept child may have done before this
    /// request (not a timeout, which this request caused).
    fn blames_child(&self) -> bool {
        matches!(self, Failure::Protocol(_))
    }
}

/// A child that was ended, with how it ended.
#[derive(Debug)]
struct Ended {
    failure: Failure,
    status: Option<ExitStatus>,
    stderr: String,
}

impl Ended {
    /// For the log: the signal or exit status and the child's last words.
    fn describe(&self) -> String {
        let how = match self.status {
            Some(s) => match (s.signal(), s.code()) {
                (Some(sig), _) => format!("killed by signal {sig} ({})", signal_name(sig)),
                (None, Some(code)) => format!("exited with status {code}"),
                _ => "ended".to_string(),
            },
            None => "could not be reaped".to_string(),
        };
        let failure = match &self.failure {
            Failure::Timeout => "ran past its time".to_string(),
            Failure::Protocol(e) => format!("no valid answer ({e})"),
        };
        if self.stderr.is_empty() {
            format!("{failure}; {how}")
        } else {
            format!("{failure}; {how}; it said: {}", self.stderr)
        }
    }

    /// The reason the file counts as unreadable (the Helpdesk sees it; the sender is told
    /// the file could not be read).
    fn error(&self, timeout: Duration, memory: u64) -> ReadError {
        let signal = self.status.and_then(|s| s.signal());
        if matches!(self.failure, Failure::Timeout) || signal == Some(libc::SIGXCPU) {
            took_too_long(timeout)
        } else if self.stderr.contains("memory allocation of") {
            ReadError::Limit(format!(
                "reading the file needs more than the limit of {} MiB of memory",
                memory / (1024 * 1024)
            ))
        } else if self.stderr.contains("overflowed its stack") {
            ReadError::Damaged("the file is nested too deeply to be read".into())
        } else {
            reader_failed()
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGKILL => "SIGKILL",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(failure: Failure, signal: Option<i32>, stderr: &str) -> Ended {
        Ended {
            failure,
            // A wait status whose low bits are a signal number: killed by that signal.
            status: signal.map(ExitStatus::from_raw),
            stderr: stderr.to_string(),
        }
    }

    fn truncated() -> Failure {
        Failure::Protocol(ProtocolError::Truncated)
    }

    /// How a child ended decides the reason the file is unreadable.
    #[test]
    fn each_way_of_dying_has_its_reason() {
        let t = Duration::from_secs(3);
        let m = 512 * 1024 * 1024;
        let timeout = ended(Failure::Timeout, Some(libc::SIGKILL), "");
        assert_eq!(timeout.error(t, m), took_too_long(t));
        let cpu = ended(truncated(), Some(libc::SIGXCPU), "");
        assert_eq!(cpu.error(t, m), took_too_long(t));
        let oom = ended(
            truncated(),
            Some(libc::SIGABRT),
            "memory allocation of 1073741824 bytes failed",
        );
        assert!(matches!(oom.error(t, m), ReadError::Limit(r) if r.contains("512 MiB")));
        let deep = ended(
            truncated(),
            Some(libc::SIGABRT),
            "thread 'main' has overflowed its stack / fatal runtime error: stack overflow",
        );
        assert!(matches!(deep.error(t, m), ReadError::Damaged(r) if r.contains("nested")));
        let segv = ended(truncated(), Some(libc::SIGSEGV), "");
        assert_eq!(segv.error(t, m), reader_failed());
        assert!(
            segv.describe().contains("signal 11 (SIGSEGV)"),
            "{}",
            segv.describe()
        );
        let garbage = ended(
            Failure::Protocol(ProtocolError::Lengths {
                files: 1,
                payload: 2,
            }),
            Some(libc::SIGKILL),
            "",
        );
        assert_eq!(garbage.error(t, m), reader_failed());
        assert!(garbage.failure.blames_child() && !timeout.failure.blames_child());
    }
}
