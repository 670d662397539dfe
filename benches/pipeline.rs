//! The pipeline benchmark (issue 7): the real `spdesk run` against the local Dovecot + Postfix
//! (tests/common), printing a Markdown table (also written to `target/bench-pipeline.md`).
//!
//! - receipt latency: one form mail at a time handed to SMTP → its *modtaget* receipt in
//!   fa@example.test's Maildir `new/` (watched on disk every ms); p50/p95/p99/max, with IDLE
//!   and, in a second pass, with polling every 100 ms (Dovecot delays IDLE notifications by
//!   about 0.5 s, so the polling pass shows spdesk's own speed);
//! - backlog drain: N form mails already in the INBOX when the daemon starts → all N orders
//!   stored and the outbox empty (every receipt accepted by SMTP); mails/s, and the daemon's
//!   resident memory (peak, and steady: the median over the middle half of the drain);
//! - the raw limit: a minimal client that only fetches the same N mails over IMAP and sends N
//!   small mails over SMTP, then 2N (two per fetched mail, as spdesk sends a *modtaget* and a
//!   verdict receipt per form); spdesk's drain rate as a fraction of each;
//! - `spdesk check` throughput on a .docx form, in process (one thread) and one process per form.
//!
//! Latency and drain are measured per database set-up (`BENCH_DB`): `sqlite` (one daemon, the
//! default installation), `pg` (one daemon on PostgreSQL) and `pg2` (two instances of the
//! daemon on one PostgreSQL database and one mailbox), side by side in the same run. The
//! PostgreSQL server is a private one from Debian's packages, durable as in production
//! (`fsync` and `synchronous_commit` on: every commit waits for its WAL on disk).
//!
//! Run as root (Postfix needs it): `cargo bench --bench pipeline`. Environment:
//! `BENCH_LATENCY_N` (default 200), `BENCH_DRAIN_N` (default "1000,10000"), `BENCH_SKIP`
//! (comma list of `latency`, `poll`, `drain`, `raw`, `check`), `BENCH_DB` (comma list of
//! `sqlite`, `pg`, `pg2`; default all three), `BENCH_DRAIN_TIMEOUT_S` (default 1800). `cargo test --all-targets` runs it too, as a smoke run at small sizes
//! (latency 10, drain 50) written to `target/bench-pipeline-smoke.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::daemon::{BIN, Daemon};
use common::fixtures::{DOCX_TYPE, WsForm, form_mail};
use common::measure::{machine, memory_kb, target_dir};
use common::postgres::Postgres;
use common::{FA, HELPDESK, HOST, MailStack, PASSWORD};
use futures::TryStreamExt;
use sqlx::{AnyConnection, Connection};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

type Res<T> = Result<T, String>;

/// Mails not counted at the start of each latency pass.
const WARMUP: usize = 5;
/// How long one mail's receipt may take before the latency pass fails.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The daemon logs as in production (the test harness's default is debug).
const PRODUCTION_LOG: &[(&str, &str)] = &[("SPDESK_LOG", "info")];
/// How long to wait for the daemon's IMAP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

struct Options {
    /// Run by `cargo test` (no `--bench` argument): a smoke run at small sizes that proves the
    /// harness and the pipeline work, without the minutes a measurement takes.
    smoke: bool,
    latency_n: usize,
    drain_n: Vec<usize>,
    skip: Vec<String>,
    drain_timeout: Duration,
    setups: Vec<Setup>,
}

/// Where the daemon keeps its data, and how many instances share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    Sqlite,
    /// PostgreSQL with this many instances on one database and one mailbox.
    Postgres(usize),
}

impl Setup {
    fn label(self) -> String {
        match self {
            Setup::Sqlite => "SQLite".into(),
            Setup::Postgres(1) => "PostgreSQL".into(),
            Setup::Postgres(n) => format!("PostgreSQL, {n} instances"),
        }
    }

    fn parse(s: &str) -> Res<Setup> {
        match s {
            "sqlite" => Ok(Setup::Sqlite),
            "pg" => Ok(Setup::Postgres(1)),
            "pg2" => Ok(Setup::Postgres(2)),
            other => Err(format!("BENCH_DB: {other:?} is none of sqlite, pg, pg2")),
        }
    }

    /// The daemons of this set-up for `stack`, configured (not started); `pg` is the server
    /// the PostgreSQL set-ups use (one database each).
    fn daemons(self, stack: &MailStack, pg: Option<&Arc<Postgres>>) -> Vec<Daemon> {
        let mut ds = match self {
            Setup::Sqlite => vec![Daemon::new(stack, HELPDESK)],
            Setup::Postgres(n) => {
                let pg = pg.expect("the PostgreSQL server of the run");
                let url = pg.new_database();
                (0..n)
                    .map(|_| Daemon::on_postgres(stack, HELPDESK, pg, &url))
                    .collect()
            }
        };
        for d in &mut ds {
            d.edit_config(unlimited);
        }
        ds
    }
}

impl Options {
    fn from_env() -> Res<Options> {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let latency_n = match var("BENCH_LATENCY_N") {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| format!("BENCH_LATENCY_N={v}: {e}"))?,
            None if smoke => 10,
            None => 200,
        };
        let drain_n = var("BENCH_DRAIN_N")
            .unwrap_or_else(|| if smoke { "50" } else { "1000,10000" }.into())
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .replace('_', "")
                    .parse::<usize>()
                    .map_err(|e| format!("BENCH_DRAIN_N: {s:?}: {e}"))
            })
            .collect::<Res<Vec<_>>>()?;
        let skip = var("BENCH_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        let drain_timeout = Duration::from_secs(match var("BENCH_DRAIN_TIMEOUT_S") {
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| format!("BENCH_DRAIN_TIMEOUT_S={v}: {e}"))?,
            None => 1800,
        });
        let setups = var("BENCH_DB")
            .unwrap_or_else(|| "sqlite,pg,pg2".into())
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .map(|s| Setup::parse(&s))
            .collect::<Res<Vec<_>>>()?;
        Ok(Options {
            smoke,
            latency_n,
            drain_n,
            skip,
            drain_timeout,
            setups,
        })
    }

    fn runs(&self, part: &str) -> bool {
        !self.skip.iter().any(|s| s == part)
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bench pipeline: must run as root (the local Postfix needs it)");
        std::process::exit(1);
    }
    let opts = match Options::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench pipeline: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut report = Report::default();
    let pg = opts
        .setups
        .iter()
        .any(|s| matches!(s, Setup::Postgres(_)))
        .then(|| Arc::new(Postgres::start_durable()));

    if opts.runs("latency") || opts.runs("poll") {
        latency(&rt, &opts, pg.as_ref(), &mut report);
    }
    for &n in &opts.drain_n {
        if opts.runs("raw") {
            let raw = rt.block_on(raw_limit(n));
            eprintln!(
                "raw N={n}: fetch {:.2} s, send {:.2} s, {:.0} mails/s; send 2N {:.2} s, {:.0} \
                 mails/s",
                raw.fetch.as_secs_f64(),
                raw.send.as_secs_f64(),
                raw.rate(),
                raw.send_two.as_secs_f64(),
                raw.rate_two_sends()
            );
            report.raw.push(raw);
        }
        if opts.runs("drain") {
            for &setup in &opts.setups {
                let d = rt.block_on(drain(n, opts.drain_timeout, setup, pg.as_ref()));
                eprintln!(
                    "drain N={n} ({}): {:.2} s, {:.0} mails/s, RSS peak {} steady {}",
                    setup.label(),
                    d.elapsed.as_secs_f64(),
                    d.rate(),
                    mb(d.peak_kb),
                    mb(d.steady_kb)
                );
                report.drain.push(d);
            }
        }
    }
    if opts.runs("check") {
        report.check = Some(check_throughput());
    }
    let md = report.markdown();
    println!("\n{md}");
    let name = if opts.smoke {
        eprintln!(
            "smoke run (cargo test): small sizes only; `cargo bench --bench pipeline` measures"
        );
        "bench-pipeline-smoke.md"
    } else {
        "bench-pipeline.md"
    };
    let path = target_dir().join(name);
    match std::fs::write(&path, &md) {
        Ok(()) => eprintln!("written to {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}

// ------------------------------------------------------------------------------------------
// A minimal SMTP / LMTP client over one connection

/// One SMTP or LMTP connection that carries many transactions.
struct Smtp {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
}

impl Smtp {
    async fn connect(port: u16, lmtp: bool) -> Res<Smtp> {
        let tcp = TcpStream::connect((HOST, port))
            .await
            .map_err(|e| format!("connect to port {port}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (rd, wr) = tcp.into_split();
        let mut s = Smtp {
            rd: BufReader::new(rd),
            wr,
        };
        s.reply(220, "greeting").await?;
        let hello = if lmtp { "LHLO" } else { "EHLO" };
        s.wr.write_all(format!("{hello} bench.test\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        s.reply(250, hello).await?;
        Ok(s)
    }

    /// Reads one (possibly multi-line) reply and checks its code.
    async fn reply(&mut self, want: u16, after: &str) -> Res<()> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(60), self.rd.read_line(&mut line))
                .await
                .map_err(|_| format!("no reply to {after} within 60 s"))?
                .map_err(|e| format!("reading the reply to {after}: {e}"))?;
            if n == 0 {
                return Err(format!("connection closed after {after}: {text:?}"));
            }
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return match line.get(..3).and_then(|c| c.parse::<u16>().ok()) {
                    Some(c) if c == want => Ok(()),
                    _ => Err(format!("{after} -> {}", text.trim_end())),
                };
            }
        }
    }

    /// One transaction to one recipient; returns when the server has accepted the mail.
    /// MAIL, RCPT and DATA go out in one write (both servers offer PIPELINING).
    async fn send(&mut self, from: &str, to: &str, raw: &[u8]) -> Res<()> {
        let head = format!("MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n");
        self.wr
            .write_all(head.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        self.reply(250, "MAIL FROM").await?;
        self.reply(250, "RCPT TO").await?;
        self.reply(354, "DATA").await?;
        self.wr
            .write_all(&dot_stuffed(raw))
            .await
            .map_err(|e| e.to_string())?;
        // LMTP answers once per recipient, SMTP once: one recipient here either way
        self.reply(250, "end of DATA").await
    }

    async fn quit(mut self) {
        let _ = self.wr.write_all(b"QUIT\r\n").await;
        let _ = self.reply(221, "QUIT").await;
    }
}

/// `raw` as DATA: CRLF line ends, dot-stuffed, with the final ".".
fn dot_stuffed(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40 + 8);
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    if !raw.is_empty() {
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.starts_with(b".") {
                out.push(b'.');
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b".\r\n");
    out
}

// ------------------------------------------------------------------------------------------
// Fixtures

/// The Message-ID (without <>) and the mail of form number `i` of a run named `run`.
fn bench_mail(run: &str, i: usize) -> (String, Vec<u8>) {
    let id = format!("KMB-BENCH-{run}-{i:06}");
    let mid = format!(
        "{}.{}@fa.example.test",
        id.to_lowercase(),
        std::process::id()
    );
    let form = WsForm::new(&id, FA);
    let subject = format!("Bestilling {run} {i}: ny URL til SagsOpslag");
    let raw = form_mail(FA, HELPDESK, &subject, &mid, &form.docx());
    (mid, raw)
}

/// Puts `mails` into helpdesk's INBOX via LMTP (many transactions on one connection).
async fn load_backlog(stack: &MailStack, to: &str, mails: &[Vec<u8>]) -> Duration {
    let start = Instant::now();
    let mut lmtp = Smtp::connect(stack.lmtp_port(), true)
        .await
        .unwrap_or_else(|e| panic!("LMTP: {e}"));
    for (i, raw) in mails.iter().enumerate() {
        lmtp.send(FA, to, raw)
            .await
            .unwrap_or_else(|e| panic!("LMTP delivery of mail {i}: {e}"));
    }
    lmtp.quit().await;
    start.elapsed()
}

/// Raises the receipt rate limits far above what a run sends.
fn unlimited(text: String) -> String {
    let text = set_line(
        &text,
        "receipts_per_address_per_hour",
        "receipts_per_address_per_hour = 1000000",
    );
    let text = set_line(&text, "receipts_per_hour", "receipts_per_hour = 10000000");
    let text = set_line(
        &text,
        "orders_per_sender_per_hour",
        "orders_per_sender_per_hour = 10000000",
    );
    set_line(
        &text,
        "review_mails_per_hour",
        "review_mails_per_hour = 10000000",
    )
}

fn set_line(text: &str, key: &str, line: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with(&format!("{key} ")) || l.trim_start() == key {
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

// ------------------------------------------------------------------------------------------
// Receipt latency

struct Latency {
    mode: String,
    samples: Vec<Duration>,
}

impl Latency {
    fn pct(&self, p: f64) -> Duration {
        percentile(&self.samples, p)
    }
    fn max(&self) -> Duration {
        self.samples.iter().copied().max().unwrap_or_default()
    }
}

/// Nearest-rank percentile.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut s = samples.to_vec();
    s.sort();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// Watches a Maildir's `new/` for receipts, reading each file once.
struct MaildirWatch {
    dir: PathBuf,
    seen: HashSet<std::ffi::OsString>,
}

/// A receipt as the watcher sees it: its kind is in its deterministic Message-ID
/// (`SP-….v1.modtaget@…`), whatever the subject says.
struct Arrival {
    message_id: String,
    in_reply_to: Vec<String>,
}

impl MaildirWatch {
    /// Starts with everything already in `new/` (and `cur/`) counted as seen.
    fn new(dir: PathBuf) -> MaildirWatch {
        let mut w = MaildirWatch {
            dir,
            seen: HashSet::new(),
        };
        let _ = w.poll();
        w
    }

    /// The receipts that appeared since the last call.
    fn poll(&mut self) -> Vec<Arrival> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return out; // Dovecot creates the Maildir with the first delivery
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if self.seen.contains(&name) {
                continue;
            }
            let Ok(bytes) = std::fs::read(e.path()) else {
                continue; // moved to cur/ meanwhile: nobody reads fa's mail, but be safe
            };
            self.seen.insert(name);
            if let Some(m) = mail_parser::MessageParser::default().parse_headers(&bytes) {
                let in_reply_to = match m.in_reply_to() {
                    mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
                    mail_parser::HeaderValue::TextList(l) => {
                        l.iter().map(|t| t.to_string()).collect()
                    }
                    _ => Vec::new(),
                };
                out.push(Arrival {
                    message_id: m.message_id().unwrap_or("").to_string(),
                    in_reply_to,
                });
            }
        }
        out
    }
}

fn latency(
    rt: &tokio::runtime::Runtime,
    opts: &Options,
    pg: Option<&Arc<Postgres>>,
    report: &mut Report,
) {
    let stack = MailStack::start(&[]);
    let fa_new = stack.dir().join("mail/example.test/fa/Maildir/new");
    if opts.runs("latency") {
        for &setup in &opts.setups {
            let mut ds = setup.daemons(&stack, pg);
            let mode = format!("idle, {}", setup.label());
            let l = rt.block_on(latency_pass(
                &stack,
                &mut ds,
                &fa_new,
                opts.latency_n,
                &mode,
            ));
            report.latency.push(l);
        }
    }
    if opts.runs("poll") {
        let d = Daemon::new(&stack, HELPDESK);
        d.edit_config(unlimited);
        // The config may refuse so short an interval: then report it and skip the pass.
        let path = d.config_path();
        let before = std::fs::read_to_string(&path).expect("the daemon config");
        let edited = set_line(
            &set_line(&unlimited(before.clone()), "idle", "idle = false"),
            "poll_interval",
            "poll_interval = \"100ms\"",
        );
        std::fs::write(&path, &edited).expect("writing the daemon config");
        let out = d.cli(&["config", "check"]);
        if out.status.success() {
            let mut ds = vec![d];
            let l = rt.block_on(latency_pass(
                &stack,
                &mut ds,
                &fa_new,
                opts.latency_n,
                "poll 100ms, SQLite",
            ));
            report.latency.push(l);
        } else {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
            eprintln!("config check refuses idle = false, poll_interval = \"100ms\": {why}");
            report.notes.push(format!(
                "polling pass skipped: config check refused 100ms: {why}"
            ));
        }
    }
}

/// A small xorshift generator for pauses; no need for a crate.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter(t ^ u64::from(std::process::id()) | 1)
    }

    /// A number in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

async fn latency_pass(
    stack: &MailStack,
    ds: &mut [Daemon],
    fa_new: &Path,
    n: usize,
    mode: &str,
) -> Latency {
    for d in ds.iter_mut() {
        d.start_with_env(PRODUCTION_LOG);
        d.wait_log("IMAP connected", 1, CONNECT_TIMEOUT).await;
    }
    // IDLE (or the first poll) settles in right after the connect
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut watch = MaildirWatch::new(fa_new.to_path_buf());
    let mut smtp = Smtp::connect(stack.smtp_port(), false)
        .await
        .unwrap_or_else(|e| panic!("SMTP: {e}"));
    // Every pass its own BestillingsIDs and Message-IDs.
    static PASS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let pass = PASS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let run = format!("{}{pass}", if mode.starts_with("idle") { "L" } else { "P" });
    let mut samples = Vec::with_capacity(n);
    let mut rng = Jitter::seeded();
    for i in 0..WARMUP + n {
        // A random pause, so mails arrive at random points of the daemon's poll cycle (sent
        // right after the previous receipts they would keep one phase and skew the figures).
        tokio::time::sleep(Duration::from_millis(rng.below(150))).await;
        let (mid, raw) = bench_mail(&run, i);
        let t0 = Instant::now();
        if let Err(e) = smtp.send(FA, HELPDESK, &raw).await {
            // Postfix may have closed an idle connection: one reconnect
            eprintln!("SMTP send failed ({e}); reconnecting");
            smtp = Smtp::connect(stack.smtp_port(), false)
                .await
                .unwrap_or_else(|e| panic!("SMTP: {e}"));
            smtp.send(FA, HELPDESK, &raw)
                .await
                .unwrap_or_else(|e| panic!("SMTP send: {e}"));
        }
        let mut modtaget = None;
        let mut answers = 0;
        // Wait for the modtaget receipt (the measurement), then for the verdict receipt too,
        // so the next mail never overlaps this one's work.
        loop {
            for a in watch.poll() {
                if a.in_reply_to.iter().any(|m| m == &mid) {
                    answers += 1;
                    if modtaget.is_none() && a.message_id.contains(".modtaget@") {
                        modtaget = Some(t0.elapsed());
                    }
                }
            }
            if modtaget.is_some() && answers >= 2 {
                break;
            }
            if t0.elapsed() > RECEIPT_TIMEOUT {
                // a lost receipt is a failure, not a figure: the run (smoke run too) fails
                panic!(
                    "latency ({mode}): {answers} of 2 receipts (modtaget: {}) for mail {i} \
                     <{mid}> within {RECEIPT_TIMEOUT:?}\n{}",
                    modtaget.is_some(),
                    ds[0].log_tail()
                );
            }
            for d in ds.iter_mut() {
                if let Some(status) = d.poll_exit() {
                    panic!("the daemon exited ({status})\n{}", d.log_tail());
                }
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let dt = modtaget.unwrap_or_default();
        if i >= WARMUP {
            samples.push(dt);
        }
        if i < WARMUP || (i + 1 - WARMUP).is_multiple_of(50) {
            eprintln!("latency ({mode}) mail {i}: {:.3} s", dt.as_secs_f64());
        }
    }
    smtp.quit().await;
    for d in ds.iter_mut() {
        d.kill();
    }
    let l = Latency {
        mode: mode.to_string(),
        samples,
    };
    eprintln!(
        "latency ({mode}) n={n}: p50 {} p95 {} p99 {} max {}",
        secs(l.pct(50.0)),
        secs(l.pct(95.0)),
        secs(l.pct(99.0)),
        secs(l.max())
    );
    l
}

// ------------------------------------------------------------------------------------------
// Backlog drain

struct Drain {
    n: usize,
    setup: Setup,
    load: Duration,
    elapsed: Duration,
    first_order: Option<Duration>,
    peak_kb: u64,
    hwm_kb: u64,
    steady_kb: u64,
    outbox: i64,
    /// Receipts counted in the requester's mailbox (its Maildir) after the drain.
    delivered: usize,
    states: Vec<(String, i64)>,
    /// CPU time (user + system) the daemon used in the drain.
    daemon_cpu: Option<Duration>,
    /// Share of the whole machine's CPU time that was busy during the drain (all processes).
    machine_busy: Option<f64>,
}

impl Drain {
    fn rate(&self) -> f64 {
        self.n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat` (in clock ticks
/// of 1/100 s, as Linux reports them to user space).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name (which may hold spaces) start at field 3 (state)
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Busy and total CPU ticks of the whole machine, from the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let total: u64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// Orders, outbox rows, and outbox rows not yet accepted by SMTP.
async fn progress(db: &mut AnyConnection) -> Res<(i64, i64, i64)> {
    sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM outbox),
                (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL)",
    )
    .fetch_one(db)
    .await
    .map_err(|e| e.to_string())
}

/// The daemon's database as a second client, once the daemon has made it (a SQLite file is
/// not created here).
async fn open_db(d: &Daemon) -> Res<AnyConnection> {
    sqlx::any::install_default_drivers();
    let url = d.db_url();
    if !d.on_pg() && !d.dir().join("spdesk.db").exists() {
        return Err("no database yet".into());
    }
    AnyConnection::connect(&url.replace("mode=rwc", "mode=rw"))
        .await
        .map_err(|e| e.to_string())
}

async fn drain(n: usize, timeout: Duration, setup: Setup, pg: Option<&Arc<Postgres>>) -> Drain {
    let stack = MailStack::start(&[]);
    let mails: Vec<Vec<u8>> = (0..n).map(|i| bench_mail("D", i).1).collect();
    let load = load_backlog(&stack, HELPDESK, &mails).await;
    drop(mails);
    eprintln!(
        "drain N={n}: backlog delivered by LMTP in {:.1} s",
        load.as_secs_f64()
    );
    let mut ds = setup.daemons(&stack, pg);

    let machine_before = machine_ticks();
    let start = Instant::now();
    for d in &mut ds {
        d.start_with_env(PRODUCTION_LOG);
    }
    let pids: Vec<u32> = ds
        .iter()
        .map(|d| d.pid().expect("the daemon runs"))
        .collect();
    // Memory and CPU of the instances together.
    let memory = || {
        pids.iter()
            .map(|&p| memory_kb(p))
            .try_fold((0, 0), |(r, h), m| m.map(|(rss, hwm)| (r + rss, h + hwm)))
    };
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut hwm = 0;
    let mut db: Option<AnyConnection> = None;
    let mut first_order = None;
    let mut last = (0, 0, 0);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    let elapsed = loop {
        tick.tick().await;
        ticks += 1;
        if ticks.is_multiple_of(2)
            && let Some((rss, h)) = memory()
        {
            samples.push((start.elapsed(), rss));
            hwm = h;
        }
        if db.is_none() {
            db = open_db(&ds[0]).await.ok();
        }
        if let Some(conn) = db.as_mut() {
            match progress(conn).await {
                Ok(p) => {
                    if first_order.is_none() && p.0 > 0 {
                        first_order = Some(start.elapsed());
                    }
                    last = p;
                    if p.0 >= n as i64 && p.2 == 0 {
                        break start.elapsed();
                    }
                }
                // the tables appear once the daemon's migrations ran
                Err(e) if e.contains("no such table") || e.contains("does not exist") => {}
                Err(e) => eprintln!("drain: polling the database: {e}"),
            }
        }
        for d in &mut ds {
            if let Some(status) = d.poll_exit() {
                panic!(
                    "drain N={n}: the daemon exited ({status})\n{}",
                    d.log_tail()
                );
            }
        }
        if start.elapsed() > timeout {
            panic!(
                "drain N={n}: not done within {timeout:?}: {} orders, {} outbox rows, {} unsent\n{}",
                last.0,
                last.1,
                last.2,
                ds[0].log_tail()
            );
        }
        if ticks.is_multiple_of(200) {
            eprintln!(
                "drain N={n}: {:.0} s: {} orders, {} outbox rows, {} unsent",
                start.elapsed().as_secs_f64(),
                last.0,
                last.1,
                last.2
            );
        }
    };
    if let Some((rss, h)) = memory() {
        samples.push((start.elapsed(), rss));
        hwm = h;
    }
    let daemon_cpu = pids
        .iter()
        .map(|&p| cpu_time(p))
        .try_fold(Duration::ZERO, |sum, c| c.map(|c| sum + c));
    let machine_busy = match (machine_before, machine_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    let states = match db.as_mut() {
        Some(conn) => sqlx::query_as::<_, (String, i64)>(
            "SELECT state, COUNT(*) FROM orders GROUP BY state ORDER BY 2 DESC",
        )
        .fetch_all(conn)
        .await
        .unwrap_or_default(),
        None => Vec::new(),
    };
    if let Some(conn) = db.take() {
        let _ = conn.close().await;
    }
    // the daemons' logs, for a look at where the time went (their temp dirs go away)
    for (i, d) in ds.iter_mut().enumerate() {
        d.kill();
        let name = match setup {
            Setup::Sqlite => format!("bench-pipeline-drain-{n}.log"),
            Setup::Postgres(k) => format!("bench-pipeline-drain-{n}-pg{k}-{i}.log"),
        };
        let log_copy = target_dir().join(name);
        if let Err(e) = std::fs::copy(d.log_path(), &log_copy) {
            eprintln!("cannot keep the daemon log as {}: {e}", log_copy.display());
        }
    }
    let peak_kb = samples.iter().map(|s| s.1).max().unwrap_or(0);
    // steady: the median of the samples in the middle half of the drain
    let (lo, hi) = (elapsed.mul_f64(0.25), elapsed.mul_f64(0.75));
    let mut middle: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= lo && *t <= hi)
        .map(|s| s.1)
        .collect();
    middle.sort_unstable();
    let steady_kb = middle.get(middle.len() / 2).copied().unwrap_or(0);
    // "Done" above is the daemon's own word (sent_at); the receipts must also have reached
    // the requester, two per form, and every form been approved. A shortfall fails the run.
    let delivered = wait_receipts(&stack, 2 * n, Duration::from_secs(30 + n as u64 / 100)).await;
    let approved = states
        .iter()
        .find(|(s, _)| s == "approved")
        .map_or(0, |s| s.1);
    assert!(
        last.1 == 2 * n as i64 && delivered == 2 * n && approved == n as i64,
        "drain N={n}: {} outbox rows, {delivered} receipts in {FA}'s mailbox, {approved} orders \
         approved ({states:?}); expected {} rows and receipts, {n} approved",
        last.1,
        2 * n
    );
    Drain {
        n,
        setup,
        load,
        elapsed,
        first_order,
        peak_kb,
        hwm_kb: hwm,
        steady_kb,
        outbox: last.1,
        delivered,
        states,
        daemon_cpu,
        machine_busy,
    }
}

/// Waits (up to `timeout`) until [`FA`]'s Maildir holds `want` mails; returns how many it
/// holds then. Counted as files, not over IMAP: cheap for tens of thousands.
async fn wait_receipts(stack: &MailStack, want: usize, timeout: Duration) -> usize {
    let maildir = stack.dir().join("mail/example.test/fa/Maildir");
    let count = || {
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(maildir.join(sub)).ok())
            .map(|entries| entries.flatten().count())
            .sum::<usize>()
    };
    let start = Instant::now();
    loop {
        let n = count();
        if n >= want || start.elapsed() > timeout {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------------------------------------
// The raw limit

struct Raw {
    n: usize,
    fetch: Duration,
    send: Duration,
    /// Sending two mails per fetched mail (2N), measured on its own connection.
    send_two: Duration,
    fetched_bytes: usize,
    /// Share of the whole machine's CPU that was busy while the N mails were sent.
    send_busy: Option<f64>,
}

impl Raw {
    fn rate(&self) -> f64 {
        self.n as f64 / (self.fetch + self.send).as_secs_f64().max(1e-9)
    }
    /// What the same client reaches sending two mails per fetched one, as spdesk does.
    fn rate_two_sends(&self) -> f64 {
        self.n as f64 / (self.fetch + self.send_two).as_secs_f64().max(1e-9)
    }
}

async fn raw_limit(n: usize) -> Raw {
    let stack = MailStack::start(&[]);
    let mails: Vec<Vec<u8>> = (0..n).map(|i| bench_mail("R", i).1).collect();
    load_backlog(&stack, HELPDESK, &mails).await;
    drop(mails);

    // fetch: UID FETCH BODY.PEEK[] of 100 UIDs at a time
    let t = Instant::now();
    let tcp = TcpStream::connect((HOST, stack.imap_port()))
        .await
        .unwrap_or_else(|e| panic!("IMAP connect: {e}"));
    let mut client = async_imap::Client::new(tcp);
    let _greeting = client.read_response().await;
    let mut session = client
        .login(HELPDESK, PASSWORD)
        .await
        .unwrap_or_else(|(e, _)| panic!("IMAP LOGIN: {e}"));
    session.select("INBOX").await.expect("SELECT INBOX");
    let mut uids: Vec<u32> = session
        .uid_search("ALL")
        .await
        .expect("UID SEARCH")
        .into_iter()
        .collect();
    uids.sort_unstable();
    assert_eq!(uids.len(), n, "raw: the INBOX holds {} mails", uids.len());
    let mut fetched = 0;
    let mut fetched_bytes = 0;
    for chunk in uids.chunks(100) {
        let set = chunk
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let msgs: Vec<async_imap::types::Fetch> = session
            .uid_fetch(&set, "BODY.PEEK[]")
            .await
            .expect("UID FETCH")
            .try_collect()
            .await
            .expect("UID FETCH");
        for m in &msgs {
            if let Some(b) = m.body() {
                fetched += 1;
                fetched_bytes += b.len();
            }
        }
    }
    let _ = session.logout().await;
    let fetch = t.elapsed();
    assert_eq!(fetched, n, "raw: fetched {fetched} of {n} mails");

    let (send, send_busy) = send_receipts(n, 1, stack.smtp_port()).await;
    // The first pass's mails delivered first, so that the second pass does not compete with
    // their delivery into the Maildir.
    let t = Instant::now();
    while stack.queued() > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "raw: Postfix's queue did not empty in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (send_two, _) = send_receipts(n, 2, stack.smtp_port()).await;
    Raw {
        n,
        fetch,
        send,
        send_two,
        fetched_bytes,
        send_busy,
    }
}

/// Sends `per_mail` small mails for each of `n` fetched mails on one SMTP connection to
/// `smtp_port`; returns how long it took and the share of the whole machine's CPU that was
/// busy meanwhile.
async fn send_receipts(n: usize, per_mail: usize, smtp_port: u16) -> (Duration, Option<f64>) {
    let machine_before = machine_ticks();
    let t = Instant::now();
    let mut smtp = Smtp::connect(smtp_port, false)
        .await
        .unwrap_or_else(|e| panic!("SMTP: {e}"));
    for i in 0..n {
        for k in 0..per_mail {
            let raw = format!(
                "From: <{HELPDESK}>\r\nTo: <{FA}>\r\nSubject: raw {i}.{k}\r\n\
                 Message-ID: <raw.{per_mail}.{i}.{k}.{}@bench.test>\r\n\r\nKvittering {i}\r\n",
                std::process::id()
            );
            smtp.send(HELPDESK, FA, raw.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("raw SMTP send {i}.{k}: {e}"));
        }
    }
    smtp.quit().await;
    let elapsed = t.elapsed();
    let busy = match (machine_before, machine_ticks()) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    (elapsed, busy)
}

// ------------------------------------------------------------------------------------------
// spdesk check throughput

struct Check {
    in_process: f64,
    /// As `spdesk check` and the daemon read: through a kept reader child.
    sandboxed: f64,
    per_process: f64,
    decision: String,
}

fn check_throughput() -> Check {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("Bestilling.docx");
    let docx = WsForm::new("KMB-BENCH-CHECK", FA).docx();
    std::fs::write(&file, &docx).expect("writing the form");
    let span = Duration::from_secs(3);

    // In process, as `spdesk check FILE --json` does it without a config (cli::check::check):
    // once with the readers in this process, once through the reader child (the daemon's
    // and check's path); the difference is the child's cost per form.
    let cfg = spdesk::config::CheckConfig::default();
    let settings = spdesk::cli::setup::rule_settings(&cfg.rules).expect("rule settings");
    let in_process = spdesk::cli::setup::extract_limits(
        &cfg.limits,
        std::sync::Arc::new(spdesk::forms::reader::InProcess),
    );
    let sandbox = spdesk::sandbox::Sandbox::start(BIN.into(), cfg.limits.reader_memory)
        .expect("the reader child");
    let sandboxed = spdesk::cli::setup::extract_limits(&cfg.limits, std::sync::Arc::new(sandbox));
    let once = |limits: &spdesk::forms::extract::ExtractLimits| {
        let bytes = std::fs::read(&file).expect("reading the form");
        let mail = spdesk::mail::Mail {
            subject: "Bestilling.docx".into(),
            attachments: vec![spdesk::mail::Attachment {
                name: Some("Bestilling.docx".into()),
                content_type: DOCX_TYPE.into(),
                bytes,
                message: None,
                inline: false,
            }],
            ..spdesk::mail::Mail::default()
        };
        let ctx = spdesk::judge::Context {
            received: chrono::Utc::now().with_timezone(&chrono_tz::Europe::Copenhagen),
            settings: &settings,
            limits,
            history: &spdesk::rules::NoHistory,
        };
        let j = spdesk::judge::judge_mail(&mail, &ctx);
        serde_json::to_string(&j).expect("the judgement as JSON")
    };
    let json = once(&in_process);
    assert_eq!(json, once(&sandboxed), "the same judgement either way");
    assert!(
        json.contains("\"decision\":\"approved\""),
        "the valid form is not approved: {json}"
    );
    let decision = serde_json::from_str::<serde_json::Value>(&json)
        .ok()
        .map(|v| v["decision"].to_string())
        .unwrap_or_default();
    let rate = |limits: &spdesk::forms::extract::ExtractLimits| {
        let start = Instant::now();
        let mut count = 0u64;
        while start.elapsed() < span {
            std::hint::black_box(once(limits));
            count += 1;
        }
        count as f64 / start.elapsed().as_secs_f64()
    };
    let in_process = rate(&in_process);
    let sandboxed = rate(&sandboxed);

    // One process per form (cwd in the temp dir so no config is found, like in process).
    let run = || {
        let out = Command::new(BIN)
            .args(["check", "Bestilling.docx", "--json"])
            .current_dir(dir.path())
            .env_remove("SPDESK_CONFIG")
            .env("SPDESK_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("running spdesk check");
        // the form is valid: anything but approved (exit 0) is a wrong answer, not a figure
        assert_eq!(
            out.status.code(),
            Some(0),
            "spdesk check did not approve the valid form ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    };
    run();
    let start = Instant::now();
    let mut procs = 0u64;
    while start.elapsed() < span || procs < 10 {
        run();
        procs += 1;
    }
    let per_process = procs as f64 / start.elapsed().as_secs_f64();
    eprintln!(
        "check: {in_process:.0} forms/s in process, {sandboxed:.0} forms/s through the reader \
         child ({:.3} ms more per form), {per_process:.0} forms/s one process per form \
         (decision {decision})",
        (1000.0 / sandboxed - 1000.0 / in_process)
    );
    Check {
        in_process,
        sandboxed,
        per_process,
        decision,
    }
}

// ------------------------------------------------------------------------------------------
// The report

#[derive(Default)]
struct Report {
    latency: Vec<Latency>,
    drain: Vec<Drain>,
    raw: Vec<Raw>,
    check: Option<Check>,
    notes: Vec<String>,
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn command() -> String {
    let mut env = Vec::new();
    for k in [
        "BENCH_LATENCY_N",
        "BENCH_DRAIN_N",
        "BENCH_SKIP",
        "BENCH_DRAIN_TIMEOUT_S",
        "BENCH_DB",
    ] {
        if let Ok(v) = std::env::var(k) {
            env.push(format!("{k}={v}"));
        }
    }
    env.push("cargo bench --bench pipeline".into());
    env.join(" ")
}

impl Report {
    fn markdown(&self) -> String {
        let mut s = String::new();
        let now = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
        s.push_str(&format!(
            "## spdesk pipeline benchmark, {now}\n\n\
             Machine: {}.  \nCommand: `{}` ({}; local Dovecot + Postfix on 127.0.0.1; \
             SQLite, and a private PostgreSQL from Debian's packages with fsync on, on the \
             same machine).\n\n",
            machine(),
            command(),
            if cfg!(debug_assertions) {
                "debug build: a smoke run's figures say nothing about speed"
            } else {
                "release build"
            }
        ));
        s.push_str("| Measure | Result | Target |\n|---|---|---|\n");
        for l in &self.latency {
            s.push_str(&format!(
                "| receipt latency, {} (n = {}): p50 / p95 / p99 / max | {} / {} / {} / {} | \
                 p99 ≤ 0.25 s |\n",
                l.mode,
                l.samples.len(),
                secs(l.pct(50.0)),
                secs(l.pct(95.0)),
                secs(l.pct(99.0)),
                secs(l.max())
            ));
        }
        let ns: Vec<usize> = {
            let mut v: Vec<usize> = self
                .drain
                .iter()
                .map(|d| d.n)
                .chain(self.raw.iter().map(|r| r.n))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for n in ns {
            let drains: Vec<&Drain> = self.drain.iter().filter(|d| d.n == n).collect();
            let r = self.raw.iter().find(|r| r.n == n);
            for &d in &drains {
                let states = d
                    .states
                    .iter()
                    .map(|(st, c)| format!("{c} {st}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let cpu = match (d.daemon_cpu, d.machine_busy) {
                    (Some(c), Some(b)) => format!(
                        "; daemon CPU {:.1} s = {:.2} ms per mail; machine CPU busy {:.0} %",
                        c.as_secs_f64(),
                        1000.0 * c.as_secs_f64() / n.max(1) as f64,
                        100.0 * b
                    ),
                    _ => String::new(),
                };
                s.push_str(&format!(
                    "| backlog drain, N = {n}: spdesk, {} | {:.0} mails/s ({:.1} s; first order after \
                     {}; {} receipts, {} delivered; {states}; backlog loaded by LMTP in {:.1} \
                     s{cpu}) | |\n",
                    d.setup.label(),
                    d.rate(),
                    d.elapsed.as_secs_f64(),
                    d.first_order.map(secs).unwrap_or_else(|| "-".into()),
                    d.outbox,
                    d.delivered,
                    d.load.as_secs_f64()
                ));
            }
            if let Some(r) = r {
                s.push_str(&format!(
                    "| raw limit, N = {n}: IMAP fetch N + SMTP send N | {:.0} mails/s (fetch {:.1} \
                     s = {:.0}/s, {:.1} MB; send {:.1} s = {:.0}/s{}; with 2 sends per mail, \
                     measured: {:.0} mails/s, send 2N {:.1} s) | |\n",
                    r.rate(),
                    r.fetch.as_secs_f64(),
                    r.n as f64 / r.fetch.as_secs_f64().max(1e-9),
                    r.fetched_bytes as f64 / 1e6,
                    r.send.as_secs_f64(),
                    r.n as f64 / r.send.as_secs_f64().max(1e-9),
                    r.send_busy
                        .map(|b| format!(", machine CPU busy {:.0} % while sending", 100.0 * b))
                        .unwrap_or_default(),
                    r.rate_two_sends(),
                    r.send_two.as_secs_f64()
                ));
            }
            for &d in drains.iter().filter(|_| r.is_some()) {
                let Some(r) = r else { continue };
                s.push_str(&format!(
                    "| drain / raw limit, N = {n}, {} | {:.0} % (vs. 2 sends per mail: {:.0} %) | ≥ 50 % \
                     at N = 10,000 |\n",
                    d.setup.label(),
                    100.0 * d.rate() / r.rate().max(1e-9),
                    100.0 * d.rate() / r.rate_two_sends().max(1e-9)
                ));
            }
            for &d in &drains {
                s.push_str(&format!(
                    "| daemon memory, N = {n}, {}: peak RSS (VmHWM) / steady RSS | {} ({}) / {} | peak \
                     ≤ 64 MB at N = 10,000 per instance; steady flat in N |\n",
                    d.setup.label(),
                    mb(d.peak_kb),
                    mb(d.hwm_kb),
                    mb(d.steady_kb)
                ));
            }
        }
        if let Some(c) = &self.check {
            s.push_str(&format!(
                "| `spdesk check` on a .docx form, readers in process (one thread) | {:.0} forms/s | |\n\
                 | `spdesk check` on a .docx form, through the kept reader child | {:.0} forms/s | \
                 {:.3} ms per form for the child |\n\
                 | `spdesk check FILE --json`, one process per form | {:.0} forms/s | |\n",
                c.in_process,
                c.sandboxed,
                1000.0 / c.sandboxed - 1000.0 / c.in_process,
                c.per_process
            ));
        }
        s.push('\n');
        s.push_str(
            "Latency: from handing a form mail to Postfix (SMTP) until its *modtaget* receipt is \
             in fa@example.test's Maildir `new/` (polled every ms), one mail at a time after 5 \
             warm-up mails; each mail's verdict receipt is awaited, then a random 0-150 ms pause, \
             before the next is sent. \
             With IDLE, Dovecot delays its notification by ~0.5 s (NOTIFY_DELAY_MSECS).  \n\
             Drain: N form mails put into the INBOX over LMTP before the daemon starts; timed \
             from starting the process until all N orders are stored and every outbox row is \
             accepted by SMTP (the database polled every 50 ms); RSS sampled every 100 ms, \
             steady = median over the middle half of the drain; with two instances, memory and \
             CPU are the sum of both.  \n\
             Raw limit: one IMAP connection fetching the same N mails (UID FETCH BODY.PEEK[], 100 \
             per command) then one SMTP connection sending N small mails, no processing; spdesk \
             sends 2 receipts per form (modtaget + verdict), so once Postfix's queue is empty a \
             second SMTP connection sends 2N (two per fetched mail), and the fraction is also \
             given against fetch N + that send 2N. The daemon logs at `info` (its log: \
             `target/bench-pipeline-drain-N.log`).\n",
        );
        if let Some(c) = &self.check {
            s.push_str(&format!(
                "check: the form judged {} (no config: built-in rule settings).\n",
                c.decision
            ));
        }
        for n in &self.notes {
            s.push_str(&format!("Note: {n}\n"));
        }
        s
    }
}
