//! A private PostgreSQL server from Debian's packages for the tests, like the mail stack:
//! `initdb` (as the `postgres` user when the tests run as root) in a temp dir, the server on a
//! free loopback port with its socket in that dir, password logins (SCRAM) over TCP only.
//! Each daemon gets a database of its own ([`Postgres::new_database`]), owned by the role
//! [`ROLE`] whose password the daemon reads from a file, as an installation would. The server
//! can be stopped and started on the same port (an outage, a restart) and goes away when its
//! last holder drops it, or when the test process dies (a watcher stops it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The role the daemons log in as, and its password.
pub const ROLE: &str = "spdesk";
pub const PASSWORD: &str = "pg-test-secret";

/// Which database a test daemon uses: `SPDESK_TEST_DB=postgres` runs the daemon tests on
/// PostgreSQL (scripts/test.sh runs the core tests that way too); SQLite otherwise.
pub fn postgres_requested() -> bool {
    std::env::var("SPDESK_TEST_DB").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

pub struct Postgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    databases: AtomicU32,
    /// Stops the server should this process die without dropping it.
    watcher: Option<std::process::Child>,
    /// Every commit waits for its WAL on disk, as in production; the tests' servers skip the
    /// flush to disk (a killed or restarted server loses nothing either way, only a power cut
    /// would).
    durable: bool,
}

impl Postgres {
    /// One server shared by the tests of a test binary that overlap in time; it stops when
    /// the last holder drops it.
    pub fn shared() -> Arc<Postgres> {
        static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pg) = slot.upgrade() {
            return pg;
        }
        let pg = Arc::new(Postgres::start());
        *slot = Arc::downgrade(&pg);
        pg
    }

    /// A server of its own (a test that stops or restarts it).
    pub fn start() -> Postgres {
        Postgres::start_with(false)
    }

    /// A server that flushes every commit to disk, as in production: for the benchmark.
    pub fn start_durable() -> Postgres {
        Postgres::start_with(true)
    }

    fn start_with(durable: bool) -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("postgres-")
            .tempdir()
            .unwrap_or_else(|e| panic!("postgres: cannot create a temp dir: {e}"));
        let root = as_root();
        if root {
            // initdb refuses to run as root; the server's files belong to `postgres`.
            run(
                "chown",
                &["postgres:postgres", &dir.path().display().to_string()],
            );
        }
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if root {
            run(
                "chown",
                &["postgres:postgres", &pwfile.display().to_string()],
            );
        }
        let data = dir.path().join("data");
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--pwfile",
                &pwfile.display().to_string(),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        );
        let mut pg = Postgres {
            dir,
            port: free_port(),
            bin,
            databases: AtomicU32::new(0),
            watcher: None,
            durable,
        };
        // The port was free a moment ago; a parallel test may take it first: try another.
        let mut last = String::new();
        for _ in 0..3 {
            match pg.try_start() {
                Ok(()) => {
                    pg.watch();
                    pg.psql(&format!(
                        "CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}' CREATEDB"
                    ));
                    return pg;
                }
                Err(e) => {
                    last = e;
                    pg.port = free_port();
                }
            }
        }
        panic!("postgres: cannot start: {last}");
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new empty database owned by [`ROLE`]; returns its URL (without the password).
    pub fn new_database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}_{n}", std::process::id());
        self.psql(&format!("CREATE DATABASE {name} OWNER {ROLE}"));
        self.url(&name)
    }

    /// The URL of database `name` (no password: the daemon reads it from a file).
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://{ROLE}@127.0.0.1:{}/{name}?sslmode=disable",
            self.port
        )
    }

    /// The URL with the password in it, for the test's own connections.
    pub fn url_with_password(&self, url: &str) -> String {
        url.replacen(
            &format!("postgres://{ROLE}@"),
            &format!("postgres://{ROLE}:{PASSWORD}@"),
            1,
        )
    }

    /// Stops the server at once (`immediate`: no checkpoint, as a crash or a power cut).
    pub fn stop(&self) {
        as_postgres(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts the server again on the same port.
    pub fn start_again(&self) {
        self.try_start()
            .unwrap_or_else(|e| panic!("postgres: cannot start again: {e}"));
    }

    /// Stops and starts the server (every connection is cut).
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// Runs one statement as the superuser over the server's socket.
    pub fn psql(&self, sql: &str) -> String {
        let out = postgres_command(&self.bin.join("psql"))
            .args(["-h", &self.dir.path().display().to_string()])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("postgres: cannot run psql: {e}"));
        assert!(
            out.status.success(),
            "postgres: psql -c {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn try_start(&self) -> Result<(), String> {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200{}",
            self.port,
            self.dir.path().display(),
            // fsync=off only skips the flush to disk: what a commit wrote is in the kernel's
            // cache, which a killed or restarted server never loses (only a power cut would).
            // synchronous_commit stays on: a commit is written before the client hears of it.
            if self.durable { "" } else { " -c fsync=off" }
        );
        let log = self.dir.path().join("server.log");
        let out = postgres_command(&self.bin.join("pg_ctl"))
            .args(["-D", &self.data().display().to_string()])
            .args([
                "-l",
                &log.display().to_string(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        }
    }

    /// If this test process dies without dropping us, the server still goes away.
    fn watch(&mut self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data().display(),
            dir = self.dir.path().display(),
        );
        let mut c = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--", "setsid", "bash", "-c", &script]);
            c
        } else {
            let mut c = Command::new("setsid");
            c.args(["bash", "-c", &script]);
            c
        };
        let child = c
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("postgres: cannot start the watcher: {e}"));
        self.watcher = Some(child);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut w) = self.watcher.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = postgres_command(&self.bin.join("pg_ctl"))
            .args([
                "-D",
                &self.data().display().to_string(),
                "-m",
                "immediate",
                "stop",
            ])
            .stdin(Stdio::null())
            .output();
    }
}

/// Debian's server binaries, newest version first.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap_or_else(|e| {
            panic!("postgres: /usr/lib/postgresql: {e}; install Debian's postgresql package")
        })
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("postgres").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .expect("postgres: no server under /usr/lib/postgresql/*/bin; install postgresql")
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn postgres_command(program: &Path) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn as_postgres(program: &Path, args: &[&str]) {
    let out = postgres_command(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("postgres: cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "postgres: {} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run(program: &str, args: &[&str]) {
    let ok = Command::new(program)
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "postgres: {program} {args:?} failed");
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}
