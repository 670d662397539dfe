//! The web console benchmark (issue 15): how fast the queue and an order page answer with
//! 10,000 orders, printed as a Markdown table (also written to `target/bench-web.md`).
//!
//! The database is built the honest way: N generated form mails are put into the Helpdesk's
//! INBOX by LMTP and the real `spdesk run` takes them in (one in five ordered for produktion
//! with an exttest host, so a person must decide it: a queue of mixed states). Once every mail
//! is an order and every receipt sent (read from `/metrics`, so the daemon is idle while it is
//! timed), a person logs in and the bench times sequential GETs over one keep-alive
//! connection, body included: `/` (the queue, default filters), `/?q=<a BestillingsID>` and
//! `/orders/{ref}` for random orders. Each answer must be 200 and show what was asked for.
//! Target: p95 ≤ 100 ms.
//!
//! Run as root (Postfix needs it): `cargo bench --bench web`. Environment: `BENCH_WEB_ORDERS`
//! (default 10000), `BENCH_WEB_REQUESTS` (per page, default 200), `BENCH_WEB_PAGES` (comma
//! list of `queue`, `search`, `order`; default all), `BENCH_WEB_TIMEOUT_S` (for the intake,
//! default 1800). `cargo test --all-targets` runs it as a smoke run (100 orders, 20 requests
//! per page) written to `target/bench-web-smoke.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::console::{CONNECT, Console, free_port};
use common::daemon::Daemon;
use common::fixtures::{WsForm, docx, form_mail};
use common::measure::{machine, target_dir};
use common::{FA, HELPDESK, MailStack};

type Res<T> = Result<T, String>;

/// Requests per page not counted: the first connection, SQLite's cold pages.
const WARMUP: usize = 5;
const TARGET_P95: Duration = Duration::from_millis(100);
const TITLE: &str = "Ændring af teknisk konfiguration for serviceudbyders webservice";
const PAGES: [&str; 3] = ["queue", "search", "order"];

struct Options {
    smoke: bool,
    orders: usize,
    requests: usize,
    pages: Vec<String>,
    timeout: Duration,
}

impl Options {
    fn from_env() -> Res<Options> {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let num = |k: &str, default: usize| -> Res<usize> {
            match var(k) {
                Some(v) => v.trim().parse().map_err(|e| format!("{k}={v}: {e}")),
                None => Ok(default),
            }
        };
        let pages: Vec<String> = var("BENCH_WEB_PAGES")
            .unwrap_or_else(|| PAGES.join(","))
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(p) = pages.iter().find(|p| !PAGES.contains(&p.as_str())) {
            return Err(format!(
                "BENCH_WEB_PAGES: unknown page {p:?}; use {}",
                PAGES.join(", ")
            ));
        }
        Ok(Options {
            smoke,
            orders: num("BENCH_WEB_ORDERS", if smoke { 100 } else { 10_000 })?,
            requests: num("BENCH_WEB_REQUESTS", if smoke { 20 } else { 200 })?,
            pages,
            timeout: Duration::from_secs(num("BENCH_WEB_TIMEOUT_S", 1800)? as u64),
        })
    }
}

fn main() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("bench web: must run as root (the local Postfix needs it)");
        std::process::exit(1);
    }
    let opts = Options::from_env().unwrap_or_else(|e| {
        eprintln!("bench web: {e}");
        std::process::exit(2);
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = rt.block_on(run(&opts));
    let md = report.markdown(&opts);
    println!("\n{md}");
    let name = if opts.smoke {
        eprintln!("smoke run (cargo test): small sizes only; `cargo bench --bench web` measures");
        "bench-web-smoke.md"
    } else {
        "bench-web.md"
    };
    let path = target_dir().join(name);
    match std::fs::write(&path, &md) {
        Ok(()) => eprintln!("written to {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
    if let Some(failed) = report.failures() {
        eprintln!("bench web: {failed}");
        std::process::exit(1);
    }
}

/// The BestillingsID of generated form `i`.
fn bestillings_id(i: usize) -> String {
    format!("KMB-WEB-{}-{i:06}", std::process::id())
}

/// Form `i` as a mail from [`FA`]; every fifth is ordered for produktion with an exttest host
/// (url.env_mismatch), which a person decides.
fn order_mail(i: usize) -> Vec<u8> {
    let id = bestillings_id(i);
    let form = WsForm::new(&id, FA);
    let rows: Vec<(&str, Vec<String>)> = form
        .rows()
        .into_iter()
        .map(|(label, v)| match label {
            "Miljø" if i.is_multiple_of(5) => (label, vec!["Produktion".to_string()]),
            _ => (label, v),
        })
        .collect();
    let mid = format!("{}@fa.example.test", id.to_lowercase());
    let subject = format!("Bestilling {i}: ny URL til SagsOpslag");
    form_mail(FA, HELPDESK, &subject, &mid, &docx(TITLE, &rows))
}

/// The receipt and order rate limits far above what a run sends.
fn unlimited(text: String) -> String {
    let limits = [
        ("receipts_per_address_per_hour", 1_000_000u64),
        ("receipts_per_hour", 10_000_000),
        ("orders_per_sender_per_hour", 10_000_000),
        ("review_mails_per_hour", 10_000_000),
    ];
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let key = line.split('=').next().unwrap_or("").trim();
        match limits.iter().find(|(k, _)| *k == key) {
            Some((k, v)) => out.push(format!("{k} = {v}")),
            None => out.push(line.to_string()),
        }
    }
    out.join("\n") + "\n"
}

/// The daemon with `[web]` (and `/metrics`) on a free port, reading a backlog of `n` forms.
async fn console_with_orders(stack: &MailStack, n: usize) -> Console {
    let start = Instant::now();
    let mails: Vec<Vec<u8>> = (0..n).map(order_mail).collect();
    stack.deliver_lmtp_many(FA, HELPDESK, &mails).await;
    drop(mails);
    eprintln!(
        "bench web: {n} form mails in the INBOX by LMTP in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let port = free_port();
    let mut daemon = Daemon::new(stack, HELPDESK);
    daemon.edit_config(|t| {
        format!(
            "{}\n[web]\nlisten = \"127.0.0.1:{port}\"\nmetrics = true\n",
            unlimited(t)
        )
    });
    daemon.start_with_env(&[("SPDESK_LOG", "info")]);
    daemon.wait_log("web server listening", 1, CONNECT).await;
    Console { daemon, port }
}

/// One number from `/metrics` (summed over its labels); `None` when it is not there.
fn metric(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Waits until the daemon holds `n` orders and its outbox is empty: the intake is done and
/// the daemon idle. Returns how long the intake took.
async fn wait_intake(c: &mut Console, n: usize, timeout: Duration) -> Duration {
    let start = Instant::now();
    let client = reqwest::Client::new();
    let mut last = (0.0, 0.0);
    loop {
        let text = match client.get(c.url("/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let orders = metric(&text, "spdesk_orders").unwrap_or(0.0);
        let outbox = metric(&text, "spdesk_outbox_length").unwrap_or(f64::MAX);
        if orders >= n as f64 && outbox == 0.0 {
            return start.elapsed();
        }
        if (orders, outbox) != last && start.elapsed().as_secs().is_multiple_of(10) {
            eprintln!(
                "bench web: {:.0} s: {orders} orders, outbox {outbox}",
                start.elapsed().as_secs_f64()
            );
            last = (orders, outbox);
        }
        if let Some(status) = c.daemon.poll_exit() {
            panic!(
                "bench web: the daemon exited ({status})\n{}",
                c.daemon.log_tail()
            );
        }
        assert!(
            start.elapsed() < timeout,
            "bench web: intake not done within {timeout:?}: {orders} orders, outbox {outbox}\n{}",
            c.daemon.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A small deterministic generator for the random picks (the same run picks the same pages).
struct Pick(u64);

impl Pick {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One page's timings.
struct Timed {
    page: &'static str,
    example: String,
    samples: Vec<Duration>,
    /// Answers that were not 200 or did not show what was asked for: (status, path).
    wrong: Vec<(u16, String)>,
}

impl Timed {
    fn pct(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort_unstable();
        if s.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
        s[rank.clamp(1, s.len()) - 1]
    }
}

/// Times `requests` GETs of the paths `path(i)` gives (after [`WARMUP`] uncounted ones); each
/// answer must be 200 and contain `want(i)`.
async fn time_page(
    client: &reqwest::Client,
    base: &str,
    page: &'static str,
    requests: usize,
    target: impl Fn(usize) -> (String, String),
) -> Timed {
    let mut t = Timed {
        page,
        example: target(0).0,
        samples: Vec::with_capacity(requests),
        wrong: Vec::new(),
    };
    for i in 0..WARMUP + requests {
        let (path, want) = target(i);
        let start = Instant::now();
        let (status, body) = match client.get(format!("{base}{path}")).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        };
        let took = start.elapsed();
        if status != 200 || !body.contains(&want) {
            t.wrong.push((status, path));
        }
        if i >= WARMUP {
            t.samples.push(took);
        }
    }
    eprintln!(
        "bench web: {page}: p50 {:.1} ms, p95 {:.1} ms, {} wrong answers",
        ms(t.pct(50.0)),
        ms(t.pct(95.0)),
        t.wrong.len()
    );
    t
}

struct Report {
    orders: usize,
    intake: Duration,
    states: Vec<(String, f64)>,
    timed: Vec<Timed>,
    machine: String,
}

async fn run(opts: &Options) -> Report {
    let stack = MailStack::start(&[]);
    let mut c = console_with_orders(&stack, opts.orders).await;
    let intake = wait_intake(&mut c, opts.orders, opts.timeout).await;
    eprintln!(
        "bench web: {} orders taken in, receipts sent, in {:.1} s",
        opts.orders,
        intake.as_secs_f64()
    );
    let metrics = reqwest::get(c.url("/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .unwrap_or_default();
    let states: Vec<(String, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("spdesk_orders{state=\""))
        .filter_map(|l| {
            let (state, rest) = l.split_once("\"}")?;
            Some((state.to_string(), rest.trim().parse().ok()?))
        })
        .collect();
    let refs: Vec<(String, String)> = c
        .daemon
        .orders()
        .iter()
        .filter_map(|o| {
            Some((
                o["ref"].as_str()?.into(),
                o["bestillings_id"].as_str()?.into(),
            ))
        })
        .collect();
    assert!(
        refs.len() >= opts.orders,
        "bench web: {} orders listed",
        refs.len()
    );
    c.add_user("bench", "viewer");
    let browser = c.signed_in("bench").await;
    let base = browser.base.clone();
    let client = &browser.client;
    let mut timed = Vec::new();
    let n = opts.requests;
    let picks = |seed: u64| {
        let mut p = Pick(seed);
        (0..WARMUP + n)
            .map(|_| refs[p.below(refs.len())].clone())
            .collect::<Vec<_>>()
    };
    for page in &opts.pages {
        let t = match page.as_str() {
            "queue" => {
                // the queue shows its orders; any reference marks a row
                time_page(client, &base, "queue", n, |_| {
                    ("/".to_string(), "/orders/SP-".to_string())
                })
                .await
            }
            "search" => {
                let chosen = picks(0x9e37_79b9_7f4a_7c15);
                time_page(client, &base, "search", n, |i| {
                    let (reference, id) = &chosen[i];
                    (format!("/?q={id}"), reference.clone())
                })
                .await
            }
            _ => {
                let chosen = picks(0x2545_f491_4f6c_dd1d);
                time_page(client, &base, "order", n, |i| {
                    let (reference, _) = &chosen[i];
                    (format!("/orders/{reference}"), reference.clone())
                })
                .await
            }
        };
        timed.push(t);
    }
    c.daemon.kill();
    Report {
        orders: refs.len(),
        intake,
        states,
        timed,
        machine: machine(),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into())
}

impl Report {
    fn markdown(&self, opts: &Options) -> String {
        let states: Vec<String> = self
            .states
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        let mut md = format!(
            "### Web console with {} orders ({})\n\n\
             Commit {}, {}. Intake of the orders by `spdesk run`: {:.1} s. {} timed GETs per \
             page after {WARMUP} uncounted, one after another on one keep-alive connection, \
             body read; `{}`.\n\n\
             | page | example | p50 | p95 | max | p95 ≤ 100 ms | wrong answers |\n\
             |---|---|---|---|---|---|---|\n",
            self.orders,
            states.join(", "),
            commit(),
            self.machine,
            self.intake.as_secs_f64(),
            opts.requests,
            if opts.smoke {
                "cargo test (smoke run)"
            } else {
                "cargo bench --bench web"
            },
        );
        for t in &self.timed {
            let max = t.samples.iter().copied().max().unwrap_or_default();
            let wrong = match t.wrong.first() {
                None => "0".to_string(),
                Some((status, path)) => {
                    format!("{} (first: {path} → {status})", t.wrong.len())
                }
            };
            md.push_str(&format!(
                "| `{}` | `{}` | {:.1} ms | {:.1} ms | {:.1} ms | {} | {wrong} |\n",
                t.page,
                t.example,
                ms(t.pct(50.0)),
                ms(t.pct(95.0)),
                ms(max),
                match (t.wrong.is_empty(), t.pct(95.0) <= TARGET_P95) {
                    (false, _) => "n/a (wrong answers)",
                    (true, true) => "yes",
                    (true, false) => "**no**",
                },
            ));
        }
        md
    }

    /// Why the run failed: a page answered wrongly (a slow page is reported, not failed).
    fn failures(&self) -> Option<String> {
        let wrong: Vec<String> = self
            .timed
            .iter()
            .filter(|t| !t.wrong.is_empty())
            .map(|t| format!("{} ({} wrong answers)", t.page, t.wrong.len()))
            .collect();
        (!wrong.is_empty()).then(|| format!("wrong answers from {}", wrong.join(", ")))
    }
}
