//! The crash harness's machinery, shared by the single-daemon run (tests/crash.rs) and the
//! three-instance run on PostgreSQL (tests/crash_instances.rs): the backlog of form mails, the
//! kill moments, and the check and report once everything is done — nothing lost, no order
//! twice, every receipt delivered, and a receipt delivered twice only as the same mail (same
//! deterministic Message-ID), resent because a kill fell between the SMTP server's acceptance
//! and the commit of `sent_at`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use sqlx::Row;

use super::daemon::Daemon;
use super::fixtures::{WsForm, form_mail};
use super::{FA, HELPDESK, MailStack};

/// After the work is done, the receipts in Postfix's queue get this long to arrive.
pub const DELIVERY: Duration = Duration::from_secs(180);

/// xorshift64*: enough randomness for kill moments, replayable from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64 once, so that small seeds (1, 2, ...) spread too; never zero
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next() % (hi - lo + 1)
    }
}

pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
        Err(_) => default,
    }
}

/// What a mail carries, and so which verdict its order must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A valid .docx form: approved.
    Docx,
    /// A .docx form whose desired date is tomorrow, inside the lead time: rejected.
    TooEarly,
    /// The valid form typed into the mail's text, no attachment: approved.
    Typed,
}

impl MailKind {
    pub fn verdict(self) -> &'static str {
        match self {
            MailKind::Docx | MailKind::Typed => "godkendt",
            MailKind::TooEarly => "afvist",
        }
    }
    pub fn state(self) -> &'static str {
        match self {
            MailKind::Docx | MailKind::Typed => "approved",
            MailKind::TooEarly => "rejected",
        }
    }
}

pub struct SentMail {
    pub bestillings_id: String,
    pub kind: MailKind,
}

pub fn build_mail(i: usize, seed: u64, kind: MailKind) -> (SentMail, Vec<u8>) {
    let id = format!("KMB-CR-{i:05}");
    let mid = format!("crash-{i}.{seed:x}@fa.example.test");
    let subject = format!("Bestilling {id}");
    let mut form = WsForm::new(&id, FA);
    let raw = match kind {
        MailKind::Docx => form_mail(FA, HELPDESK, &subject, &mid, &form.docx()),
        MailKind::TooEarly => {
            let today = Utc::now()
                .with_timezone(&chrono_tz::Europe::Copenhagen)
                .date_naive();
            form.desired = today.succ_opt().unwrap_or(NaiveDate::MAX);
            form_mail(FA, HELPDESK, &subject, &mid, &form.docx())
        }
        MailKind::Typed => mail_builder::MessageBuilder::new()
            .from(("Karin Holm", FA))
            .to(("Serviceplatformens Helpdesk", HELPDESK))
            .subject(subject)
            .message_id(mid)
            .date(Utc::now().timestamp())
            .text_body(format!(
                "Hej\n\nHer er vores bestilling:\n\n{}\n/Karin\n",
                form.as_text()
            ))
            .write_to_vec()
            .expect("the mail builds"),
    };
    (
        SentMail {
            bestillings_id: id,
            kind,
        },
        raw,
    )
}

/// How many messages `user`'s `mailbox` holds (a missing mailbox holds none).
pub async fn count(stack: &MailStack, user: &str, mailbox: &str) -> Result<u32, String> {
    let mut s = stack.imap_login(user).await?;
    let n = match s.select(mailbox).await {
        Ok(m) => m.exists,
        Err(e) if e.to_string().contains("exist") => 0,
        Err(e) => return Err(format!("SELECT {mailbox}: {e}")),
    };
    let _ = s.logout().await;
    Ok(n)
}

/// The headers of every message in `user`'s INBOX.
pub async fn fetch_headers(stack: &MailStack, user: &str) -> Vec<Vec<u8>> {
    let result: Result<Vec<Vec<u8>>, String> = async {
        let mut s = stack.imap_login(user).await?;
        let m = s
            .select("INBOX")
            .await
            .map_err(|e| format!("SELECT: {e}"))?;
        let mut out = Vec::new();
        if m.exists > 0 {
            let stream = s
                .fetch("1:*", "BODY.PEEK[HEADER]")
                .await
                .map_err(|e| format!("FETCH: {e}"))?;
            let fetches: Vec<async_imap::types::Fetch> = stream
                .try_collect()
                .await
                .map_err(|e| format!("FETCH: {e}"))?;
            out = fetches
                .iter()
                .filter_map(|f| f.header().or_else(|| f.body()).map(<[u8]>::to_vec))
                .collect();
        }
        let _ = s.logout().await;
        Ok(out)
    }
    .await;
    result.unwrap_or_else(|e| panic!("fetching {user}'s INBOX headers failed: {e}"))
}

/// One delivered receipt: its Message-ID (`REF.vN.kind@domain`) and when Postfix took it.
pub struct Delivered {
    pub message_id: String,
    pub reference: String,
    pub kind: String,
    pub accepted: Option<DateTime<Utc>>,
}

pub fn delivered(header: &[u8]) -> Delivered {
    let m = mail_parser::MessageParser::default()
        .parse_headers(header)
        .unwrap_or_else(|| panic!("unreadable header: {}", String::from_utf8_lossy(header)));
    let message_id = m.message_id().unwrap_or("").to_string();
    let local = message_id.split('@').next().unwrap_or("");
    let mut parts = local.splitn(3, '.');
    let reference = parts.next().unwrap_or("").to_string();
    let _version = parts.next();
    let kind = parts.next().unwrap_or("").to_string();
    Delivered {
        message_id,
        reference,
        kind,
        accepted: postfix_accepted(header),
    }
}

/// When Postfix created the queue file of a mail (at MAIL FROM, before it answered the end of
/// DATA): the earliest and the latest instant the log allows. A short queue id starts with
/// the microseconds of that moment (5 hex digits); the log line that names it first (smtpd's
/// "QID: client=", written right after) gives the second. Only when the microseconds are
/// within 0.1 s of the next second may the line have been written a second later.
pub type Created = (DateTime<Utc>, DateTime<Utc>);

/// When the daemon began to hand each mail to Postfix (its debug line "sending", to the
/// microsecond), by Message-ID: every copy's queue file was made within a second after one.
pub fn sending_times(daemon_log: &str) -> BTreeMap<String, Vec<DateTime<Utc>>> {
    let mut out: BTreeMap<String, Vec<DateTime<Utc>>> = BTreeMap::new();
    // the log is coloured: drop the escape sequences (ESC [ ... m)
    let plain = |line: &str| {
        let mut s = String::with_capacity(line.len());
        let mut in_escape = false;
        for c in line.chars() {
            match (in_escape, c) {
                (false, '\x1b') => in_escape = true,
                (false, c) => s.push(c),
                (true, 'm') => in_escape = false,
                (true, _) => {}
            }
        }
        s
    };
    for line in daemon_log
        .lines()
        .filter(|l| l.contains(" sending "))
        .map(plain)
    {
        let Some(start) = line.find("20") else {
            continue;
        };
        let Some(stamp) = line.get(start..).and_then(|s| s.split(['Z', ' ']).next()) else {
            continue;
        };
        let Ok(at) = DateTime::parse_from_rfc3339(&format!("{stamp}Z")) else {
            continue;
        };
        let Some(mid) = line
            .split("message_id=")
            .nth(1)
            .and_then(|s| s.split('"').nth(1))
        else {
            continue;
        };
        out.entry(mid.to_string())
            .or_default()
            .push(at.with_timezone(&Utc));
    }
    out
}

/// The copies' creation times narrowed by the "sending" times (sorted) of their mail: of the
/// two instants an ambiguous queue id allows, keep the one that lies less than a second after
/// a "sending" — one that no other copy was made after: each send makes one queue file. The
/// unambiguous copies take their "sending" (the last before them) first.
pub fn narrowed(copies: &[Created], sending: &[DateTime<Utc>]) -> Vec<Created> {
    let mut used = vec![false; sending.len()];
    let fit = |c: DateTime<Utc>, used: &[bool]| -> Option<usize> {
        sending
            .iter()
            .enumerate()
            .filter(|(i, t)| !used[*i] && **t <= c && c - **t < chrono::Duration::seconds(1))
            .map(|(i, _)| i)
            .next_back()
    };
    for &(earliest, latest) in copies {
        if earliest == latest
            && let Some(i) = fit(earliest, &used)
        {
            used[i] = true;
        }
    }
    copies
        .iter()
        .map(|&(earliest, latest)| {
            if earliest == latest {
                return (earliest, latest);
            }
            let mut fits = (fit(earliest, &used).is_some(), fit(latest, &used).is_some());
            if fits == (false, false) {
                // every "sending" taken: judge by any of them, as for a single copy
                let none = vec![false; sending.len()];
                fits = (fit(earliest, &none).is_some(), fit(latest, &none).is_some());
            }
            match fits {
                (true, false) => (earliest, earliest),
                (false, true) => (latest, latest),
                _ => (earliest, latest),
            }
        })
        .collect()
}

/// Every mail's queue files in Postfix's log, by Message-ID, in the order created.
pub fn postfix_copies(log: &str) -> BTreeMap<String, Vec<Created>> {
    let year = chrono::Local::now().format("%Y").to_string();
    let second = |line: &str| -> Option<DateTime<Utc>> {
        let stamp = format!("{year} {}", line.get(..15)?);
        let naive = chrono::NaiveDateTime::parse_from_str(&stamp, "%Y %b %d %H:%M:%S").ok()?;
        use chrono::TimeZone as _;
        chrono::Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let mut first_seen: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    let mut by_mid: BTreeMap<String, Vec<Created>> = BTreeMap::new();
    for line in log.lines() {
        let Some((_, rest)) = line.split_once("]: ") else {
            continue;
        };
        let Some((qid, what)) = rest.split_once(": ") else {
            continue;
        };
        if qid.len() < 6 || !qid.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let Some(s) = second(line) else { continue };
        let s = *first_seen.entry(qid).or_insert(s);
        let Some(mid) = what
            .strip_prefix("message-id=<")
            .and_then(|m| m.strip_suffix('>'))
        else {
            continue;
        };
        let Some(micros) = qid.get(..5).and_then(|h| i64::from_str_radix(h, 16).ok()) else {
            continue;
        };
        if micros >= 1_000_000 {
            continue; // not a short queue id
        }
        let latest = s + chrono::Duration::microseconds(micros);
        let earliest = if micros >= 900_000 {
            latest - chrono::Duration::seconds(1)
        } else {
            latest
        };
        by_mid
            .entry(mid.to_string())
            .or_default()
            .push((earliest, latest));
    }
    for copies in by_mid.values_mut() {
        copies.sort();
    }
    by_mid
}

/// The date of the earliest `Received:` header (Postfix's acceptance), to the second.
pub fn postfix_accepted(header: &[u8]) -> Option<DateTime<Utc>> {
    let text = String::from_utf8_lossy(header);
    // unfold header lines
    let unfolded = text
        .replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", " ");
    unfolded
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("received:"))
        .filter_map(|l| {
            let date = l.rsplit_once(';')?.1.trim();
            // drop a trailing comment like "(UTC)"
            let date = date.split(" (").next().unwrap_or(date).trim();
            DateTime::parse_from_rfc2822(date)
                .ok()
                .map(|d| d.with_timezone(&Utc))
        })
        .min()
}

/// How the harness chose the moment of one kill.
#[derive(Debug, Clone)]
pub enum Moment {
    /// After this many more mails were stored (+ a jitter in ms).
    Stored(i64, u64),
    /// After this many more receipts were marked sent (+ a jitter in ms).
    Sent(i64, u64),
    /// This many ms after the start.
    Delay(u64),
}

/// Picks the next kill's moment. While kills are still owed, the work left (mails to store,
/// receipts to send) is spread over twice as many kills as are owed, so that enough kills land
/// during work even on a machine much faster than this one; intake runs about twice as fast as
/// sending, and both run at once. Jitter and delays stay short while kills are owed: at a few
/// hundred mails a second, 40 ms or 800 ms would each swallow a kill's share of the work.
pub fn choose_moment(
    rng: &mut Rng,
    mails: i64,
    now: Progress,
    kills_left: i64,
    previous_round_stored: bool,
) -> Moment {
    let to_store = (mails - now.stored).max(0);
    // each mail still to store brings two receipts
    let work = to_store * 3 + now.unsent;
    let owed = kills_left > 0;
    let budget = if owed {
        (work / (2 * kills_left + 1)).max(1)
    } else {
        i64::MAX
    };
    let stored_hi = (budget / 2).clamp(1, 30).min(to_store.max(1)) as u64;
    let sent_hi = (budget / 3).clamp(1, 40) as u64;
    let jitter_hi = if owed { 10 } else { 40 };
    let roll = rng.range(0, 99);
    // After a kill with no mail stored, the next one waits for a stored mail: the same first
    // mail is never killed three times in a row (that would be a poison mail, which the
    // daemon rightly quarantines after max_attempts).
    if to_store > 0 && (!previous_round_stored || roll < 50) {
        return Moment::Stored(rng.range(1, stored_hi) as i64, rng.range(0, jitter_hi));
    }
    if roll < 85 || (owed && budget < 30) {
        return Moment::Sent(rng.range(1, sent_hi) as i64, rng.range(0, jitter_hi));
    }
    Moment::Delay(rng.range(0, if owed { 250 } else { 800 }))
}

pub struct Kill {
    /// Which instance was killed (its index in [`Finished::daemons`]).
    pub victim: usize,
    /// Read just before SIGKILL was sent.
    pub at: DateTime<Utc>,
    /// Read once the killed process was reaped (before the next start).
    pub dead: DateTime<Utc>,
    pub moment: Moment,
    pub after_start: Duration,
    pub before: Progress,
    pub at_kill: Progress,
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Counters read from the installation's database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub stored: i64,
    pub sent: i64,
    pub unsent: i64,
}

/// The counters now; `None` while the database cannot be read (not yet created, restarting).
pub async fn progress(pool: &sqlx::AnyPool) -> Option<Progress> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM inbound_mail) AS stored,
                (SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL) AS sent,
                (SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL) AS unsent",
    )
    .fetch_one(pool)
    .await
    .ok()?;
    Some(Progress {
        stored: row.try_get("stored").ok()?,
        sent: row.try_get("sent").ok()?,
        unsent: row.try_get("unsent").ok()?,
    })
}

/// The backlog: `mails` form mails (mostly valid .docx forms, some too early, some typed into
/// the text), delivered into the Helpdesk INBOX by LMTP before any daemon starts.
pub async fn deliver_backlog(
    stack: &MailStack,
    rng: &mut Rng,
    seed: u64,
    mails: usize,
) -> Vec<SentMail> {
    let mut sent: Vec<SentMail> = Vec::with_capacity(mails);
    let mut raws = Vec::with_capacity(mails);
    for i in 0..mails {
        let kind = match rng.range(0, 99) {
            0..=7 => MailKind::TooEarly,
            8..=11 => MailKind::Typed,
            _ => MailKind::Docx,
        };
        let (m, raw) = build_mail(i, seed, kind);
        sent.push(m);
        raws.push(raw);
    }
    let delivering = Instant::now();
    stack.deliver_lmtp_many(FA, HELPDESK, &raws).await;
    drop(raws);
    let in_inbox = count(stack, HELPDESK, "INBOX")
        .await
        .unwrap_or_else(|e| panic!("counting the INBOX: {e}"));
    assert_eq!(
        in_inbox as usize, mails,
        "the backlog is in the Helpdesk INBOX"
    );
    eprintln!(
        "crash harness: {mails} mails delivered by LMTP in {:?}",
        delivering.elapsed()
    );
    sent
}

/// The seed of this run: `CRASH_SEED` replays one, else one from the clock.
pub fn seed() -> u64 {
    match std::env::var("CRASH_SEED") {
        Ok(_) => env_number("CRASH_SEED", 0),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ u64::from(std::process::id()).rotate_left(32)
        }
    }
}

/// Every instance's "sending" lines, by Message-ID, each with the instance (its index) that
/// wrote it.
pub fn sending_by_instance(logs: &[String]) -> BTreeMap<String, Vec<(DateTime<Utc>, usize)>> {
    let mut out: BTreeMap<String, Vec<(DateTime<Utc>, usize)>> = BTreeMap::new();
    for (i, log) in logs.iter().enumerate() {
        for (mid, times) in sending_times(log) {
            out.entry(mid)
                .or_default()
                .extend(times.into_iter().map(|t| (t, i)));
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// A finished run, as the check and the report see it.
pub struct Finished<'a> {
    /// The name of the report and kept logs in the target dir: `{file}-report.txt`.
    pub file: &'static str,
    pub seed: u64,
    pub mails: usize,
    pub min_kills: usize,
    pub sent: &'a [SentMail],
    pub kills: &'a [Kill],
    pub stack: &'a MailStack,
    /// The installation's database (all instances share it).
    pub pool: &'a sqlx::AnyPool,
    /// The instances, all stopped; their logs hold every run.
    pub daemons: &'a [Daemon],
    /// Each instance's name in the report.
    pub names: &'a [String],
    /// Lines printed under "kills:" (per-instance counts, the database restart, the lease).
    pub kills_detail: String,
    pub started: Instant,
    pub work_time: Duration,
}

/// Checks a finished run and prints its report (kept in the target dir): panics on a lost
/// mail, an order twice, a missing receipt or a duplicate no kill explains.
pub async fn check(run: &Finished<'_>) {
    let (seed, mails, min_kills, sent, kills) =
        (run.seed, run.mails, run.min_kills, run.sent, run.kills);
    let pool = run.pool;
    // The outbox: every row, with its attempts and when it was marked sent.
    struct OutboxRow {
        attempts: i64,
        sent_at: Option<String>,
        to_fa: bool,
    }
    let mut outbox: BTreeMap<String, OutboxRow> = BTreeMap::new();
    for row in sqlx::query("SELECT message_id, attempts, sent_at, recipients FROM outbox")
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("reading the outbox: {e}"))
    {
        let mid: String = row.get("message_id");
        let recipients: String = row.get("recipients");
        outbox.insert(
            mid,
            OutboxRow {
                attempts: row.get("attempts"),
                sent_at: row.get("sent_at"),
                to_fa: recipients.to_lowercase().contains(FA),
            },
        );
    }
    let scalar = |sql: &'static str| {
        let pool = run.pool;
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    let quarantined =
        scalar("SELECT COUNT(*) FROM inbound_mail WHERE disposition = 'quarantined'").await;
    let max_intake_attempts =
        scalar("SELECT COALESCE(MAX(attempts), 0) FROM intake_attempts").await;
    // Each mail stored once, as an order: a mail read twice would be a second row (or a
    // second version of its order, below), whatever its Message-ID.
    let inbound_rows = scalar("SELECT COUNT(*) FROM inbound_mail").await;
    let inbound_orders =
        scalar("SELECT COUNT(*) FROM inbound_mail WHERE disposition = 'order'").await;
    // A form processed twice becomes a second *version* of its order, not a second order:
    // "no order twice" alone could hardly fail.
    let versions = scalar("SELECT COUNT(*) FROM order_versions").await;
    let multi_version: Vec<(String, i64)> = sqlx::query_as(
        "SELECT o.ref, COUNT(*) FROM order_versions v JOIN orders o ON o.id = v.order_id \
         GROUP BY v.order_id, o.ref HAVING COUNT(*) > 1",
    )
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("reading the order versions: {e}"));

    // The daemon has stopped, so all it sent is in Postfix's queue or delivered: wait until
    // the queue is empty (a resent copy included), then count.
    let want_at_fa = outbox.values().filter(|r| r.to_fa).count();
    let waiting = Instant::now();
    while run.stack.queued() > 0 {
        assert!(
            waiting.elapsed() < DELIVERY,
            "crash harness: Postfix still holds {} mail(s) after {DELIVERY:?} (seed {seed})\n{}",
            run.stack.queued(),
            tail(&run.stack.postfix_log(), 20)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let receipts: Vec<Delivered> = fetch_headers(run.stack, FA)
        .await
        .iter()
        .map(|h| delivered(h))
        .collect();
    // The Helpdesk's folders as the server shows them: every mail in Processed, none left in
    // the INBOX or put in Quarantine.
    let imap_count = |mailbox: &'static str| {
        let stack = run.stack;
        async move {
            count(stack, HELPDESK, mailbox)
                .await
                .unwrap_or_else(|e| panic!("counting {HELPDESK}/{mailbox}: {e}"))
        }
    };
    let processed = imap_count("Processed").await;
    let in_quarantine = imap_count("Quarantine").await;
    let left_in_inbox = imap_count("INBOX").await;

    // Orders, by BestillingsID.
    let orders = run.daemons[0].orders();
    let mut by_id: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for o in &orders {
        let id = o["bestillings_id"].as_str().unwrap_or("").to_string();
        let reference = o["ref"].as_str().unwrap_or("").to_string();
        let state = o["state"].as_str().unwrap_or("").to_string();
        by_id.entry(id).or_default().push((reference, state));
    }
    let lost: Vec<&str> = sent
        .iter()
        .filter(|m| !by_id.contains_key(&m.bestillings_id))
        .map(|m| m.bestillings_id.as_str())
        .collect();
    let duplicated: Vec<(&String, &Vec<(String, String)>)> =
        by_id.iter().filter(|(_, v)| v.len() > 1).collect();
    let wrong_verdict: Vec<String> = sent
        .iter()
        .filter_map(|m| {
            let (reference, state) = by_id.get(&m.bestillings_id)?.first()?;
            (state != m.kind.state()).then(|| {
                format!(
                    "{} ({reference}): {state}, expected {}",
                    m.bestillings_id,
                    m.kind.state()
                )
            })
        })
        .collect();

    // Receipts: per order the modtaget receipt and its verdict.
    let mut copies: BTreeMap<(String, String), Vec<&Delivered>> = BTreeMap::new();
    for r in &receipts {
        copies
            .entry((r.reference.clone(), r.kind.clone()))
            .or_default()
            .push(r);
    }
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for m in sent {
        if let Some((reference, _)) = by_id.get(&m.bestillings_id).and_then(|v| v.first()) {
            expected.insert((reference.clone(), "modtaget".into()));
            expected.insert((reference.clone(), m.kind.verdict().into()));
        }
    }
    let missing: Vec<&(String, String)> = expected
        .iter()
        .filter(|k| !copies.contains_key(*k))
        .collect();
    let unexpected: Vec<&(String, String)> =
        copies.keys().filter(|k| !expected.contains(*k)).collect();
    let logs: Vec<String> = run.daemons.iter().map(Daemon::log).collect();
    let copies_in_postfix = postfix_copies(&run.stack.postfix_log());
    // The "sending" lines of every instance, merged, each with the instance that wrote it.
    let sending_by: BTreeMap<String, Vec<(DateTime<Utc>, usize)>> = sending_by_instance(&logs);
    let sending_at: BTreeMap<String, Vec<DateTime<Utc>>> = sending_by
        .iter()
        .map(|(mid, v)| (mid.clone(), v.iter().map(|(t, _)| *t).collect()))
        .collect();
    let mut same_mid = Vec::new();
    let mut different_mid = Vec::new();
    let mut unexplained = Vec::new();
    for ((reference, kind), list) in &copies {
        if list.len() < 2 {
            continue;
        }
        let mids: BTreeSet<&str> = list.iter().map(|r| r.message_id.as_str()).collect();
        if mids.len() > 1 {
            different_mid.push(format!("{reference} {kind}: {mids:?}"));
            continue;
        }
        let mid = list[0].message_id.as_str();
        let row = outbox.get(mid);
        let first = list.iter().filter_map(|r| r.accepted).min();
        // The explanation, per resend: a kill strictly between the two copies in Postfix's
        // queue (sub-second, from the queue ids): sent after the earlier copy's queue file
        // existed, the process gone before the later one's was made. The gaps between copies
        // do not overlap, so one kill explains at most one resend of a mail.
        let sending = sending_at.get(mid).map(Vec::as_slice).unwrap_or_default();
        let mut in_postfix: Vec<Created> = copies_in_postfix
            .get(mid)
            .map(|c| narrowed(c, sending))
            .unwrap_or_default();
        in_postfix.sort();
        let gaps: Vec<Option<usize>> = in_postfix
            .windows(2)
            .map(|w| {
                let (earlier, later) = (w[0].1, w[1].0);
                // ... and of an instance that had begun to send this mail by then.
                let senders: BTreeSet<usize> = sending_by
                    .get(mid)
                    .into_iter()
                    .flatten()
                    .filter(|(t, _)| *t <= earlier)
                    .map(|(_, i)| *i)
                    .collect();
                kills
                    .iter()
                    .position(|k| k.at > earlier && k.dead < later && senders.contains(&k.victim))
            })
            .collect();
        let kill = if in_postfix.len() == list.len() && gaps.iter().all(Option::is_some) {
            gaps.last().copied().flatten()
        } else {
            None
        };
        let sent_lines: usize = logs
            .iter()
            .map(|log| {
                log.lines()
                    .filter(|l| l.contains("mail sent") && l.contains(mid))
                    .count()
            })
            .sum();
        let line = format!(
            "{mid}: {} copies ({} in Postfix's log, created {}); outbox attempts {}, sent_at {}; \
             first Received {}; \"mail sent\" logged {sent_lines}x; {}",
            list.len(),
            in_postfix.len(),
            in_postfix
                .iter()
                .map(|(e, l)| format!("{}..{}", e.format("%H:%M:%S%.6f"), l.format("%S%.6f")))
                .collect::<Vec<_>>()
                .join(", "),
            row.map_or("-".to_string(), |r| r.attempts.to_string()),
            row.and_then(|r| r.sent_at.clone()).unwrap_or("-".into()),
            first.map_or("-".to_string(), |f| f.to_rfc3339()),
            if kill.is_some() {
                format!(
                    "a kill strictly between each two copies: #{}",
                    gaps.iter()
                        .flatten()
                        .map(|k| format!(
                            "{} at {} ({})",
                            k + 1,
                            kills[*k].at.format("%H:%M:%S%.6f"),
                            run.names[kills[*k].victim]
                        ))
                        .collect::<Vec<_>>()
                        .join(", #")
                )
            } else {
                format!("NO kill strictly between two copies (gaps: {gaps:?})")
            }
        );
        // Two "mail sent" lines would mean the row was sent again after sent_at was committed.
        if kill.is_none() || sent_lines > 1 {
            unexplained.push(line.clone());
        }
        same_mid.push(line);
    }

    // The report.
    let mut report = String::new();
    let _ = writeln!(report, "== spdesk crash report ==");
    let _ = writeln!(
        report,
        "seed {seed} (CRASH_SEED), mails {mails} (CRASH_MAILS), minimum kills {min_kills} \
         (CRASH_KILLS)"
    );
    let kinds = |k: MailKind| sent.iter().filter(|m| m.kind == k).count();
    let _ = writeln!(
        report,
        "mails sent:            {mails} ({} docx, {} too early -> rejected, {} typed in the text)",
        kinds(MailKind::Docx),
        kinds(MailKind::TooEarly),
        kinds(MailKind::Typed)
    );
    let _ = writeln!(
        report,
        "kills:                 {} (restarts {}, starts {})",
        kills.len(),
        run.daemons
            .iter()
            .map(|d| d.starts().saturating_sub(1))
            .sum::<u32>(),
        run.daemons.iter().map(Daemon::starts).sum::<u32>()
    );
    report.push_str(&run.kills_detail);
    let by_mode = |f: fn(&Moment) -> bool| kills.iter().filter(|k| f(&k.moment)).count();
    let _ = writeln!(
        report,
        "  chosen by:           {} after stored mails, {} after sent receipts, {} after a delay",
        by_mode(|m| matches!(m, Moment::Stored(..))),
        by_mode(|m| matches!(m, Moment::Sent(..))),
        by_mode(|m| matches!(m, Moment::Delay(..)))
    );
    let _ = writeln!(
        report,
        "  landed during:       {} intake (mails left to store), {} sending (receipts unsent)",
        kills
            .iter()
            .filter(|k| k.at_kill.stored < mails as i64)
            .count(),
        kills.iter().filter(|k| k.at_kill.unsent > 0).count()
    );
    let _ = writeln!(
        report,
        "orders:                {} ({} distinct BestillingsIDs)",
        orders.len(),
        by_id.len()
    );
    let _ = writeln!(
        report,
        "helpdesk (IMAP):       {processed} in Processed, {in_quarantine} in Quarantine, \
         {left_in_inbox} left in the INBOX"
    );
    let _ = writeln!(
        report,
        "inbound_mail rows:     {inbound_rows} ({inbound_orders} as orders)"
    );
    let _ = writeln!(
        report,
        "order versions:        {versions} ({} order(s) with more than one)",
        multi_version.len()
    );
    let _ = writeln!(report, "quarantined mails:     {quarantined}");
    let _ = writeln!(report, "max intake attempts:   {max_intake_attempts}");
    let _ = writeln!(
        report,
        "outbox rows:           {} ({} to fa), max attempts {}",
        outbox.len(),
        want_at_fa,
        outbox.values().map(|r| r.attempts).max().unwrap_or(0)
    );
    let _ = writeln!(
        report,
        "sends begun (log):     {} (\"sending\" lines; they narrow ambiguous queue ids)",
        sending_at.values().map(Vec::len).sum::<usize>()
    );
    let _ = writeln!(report, "receipts delivered:    {}", receipts.len());
    let _ = writeln!(report, "expected receipts:     {}", expected.len());
    let _ = writeln!(report, "LOST mails:            {}", lost.len());
    let _ = writeln!(report, "DUPLICATED orders:     {}", duplicated.len());
    let _ = writeln!(report, "wrong verdicts:        {}", wrong_verdict.len());
    let _ = writeln!(report, "MISSING receipts:      {}", missing.len());
    let _ = writeln!(report, "unexpected receipts:   {}", unexpected.len());
    let _ = writeln!(
        report,
        "duplicate receipts:    {} same Message-ID (resend after a kill), {} DIFFERENT \
         Message-ID",
        same_mid.len(),
        different_mid.len()
    );
    for l in &same_mid {
        let _ = writeln!(report, "  resent: {l}");
    }
    if !same_mid.is_empty() {
        let _ = writeln!(
            report,
            "  (outbox.attempts is written only after an SMTP answer, so an attempt cut short \
             by SIGKILL is not counted there; the kill times explain the resend)"
        );
    }
    for l in &different_mid {
        let _ = writeln!(report, "  DIFFERENT: {l}");
    }
    let show = |v: &[String]| v.iter().take(20).cloned().collect::<Vec<_>>().join("; ");
    if !lost.is_empty() {
        let _ = writeln!(
            report,
            "  lost: {}",
            lost.iter().take(20).copied().collect::<Vec<_>>().join(", ")
        );
    }
    if !duplicated.is_empty() {
        let _ = writeln!(report, "  duplicated: {duplicated:?}");
    }
    if !wrong_verdict.is_empty() {
        let _ = writeln!(report, "  wrong verdicts: {}", show(&wrong_verdict));
    }
    if !missing.is_empty() {
        let _ = writeln!(report, "  missing: {missing:?}");
    }
    if !unexpected.is_empty() {
        let _ = writeln!(report, "  unexpected: {unexpected:?}");
    }
    let _ = writeln!(
        report,
        "time:                  {:?} in all, {:?} from the first start to done",
        run.started.elapsed(),
        run.work_time
    );
    let _ = writeln!(
        report,
        "kills (at, instance, moment, ms after start, progress before -> at kill):"
    );
    for (i, k) in kills.iter().enumerate() {
        let _ = writeln!(
            report,
            "  #{:<3} {} {} {:?} {} ms  stored {}->{} sent {}->{} unsent {}",
            i + 1,
            k.at.format("%H:%M:%S%.3f"),
            run.names[k.victim],
            k.moment,
            k.after_start.as_millis(),
            k.before.stored,
            k.at_kill.stored,
            k.before.sent,
            k.at_kill.sent,
            k.at_kill.unsent
        );
    }
    // Kept beside the report for a closer look (Postfix's queue ids carry microseconds).
    let kept_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = run.file;
    let _ = std::fs::write(
        kept_dir.join(format!("{file}-postfix.log")),
        run.stack.postfix_log(),
    );
    for (name, log) in run.names.iter().zip(&logs) {
        let name = if run.daemons.len() == 1 {
            "spdesk"
        } else {
            name
        };
        let _ = std::fs::write(kept_dir.join(format!("{file}-{name}.log")), log);
    }
    let path = run.daemons[0].dir().join(format!("{file}-report.txt"));
    let kept = kept_dir.join(format!("{file}-report.txt"));
    let _ = std::fs::write(&path, &report);
    let _ = std::fs::write(&kept, &report);
    eprintln!(
        "{report}report written to {} (removed with the daemon's temp dir) and {}",
        path.display(),
        kept.display()
    );

    let context = format!(
        "(seed {seed}; report in {})\n{}",
        kept.display(),
        run.daemons
            .iter()
            .map(Daemon::log_tail)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(lost.is_empty(), "{} mail(s) lost {context}", lost.len());
    assert_eq!(
        (processed as usize, in_quarantine, left_in_inbox),
        (mails, 0, 0),
        "(Processed, Quarantine, INBOX) over IMAP {context}"
    );
    assert_eq!(
        (inbound_rows, inbound_orders),
        (mails as i64, mails as i64),
        "inbound_mail rows (all, as orders): one per mail {context}"
    );
    assert!(
        multi_version.is_empty(),
        "orders with more than one version (a form processed twice): {multi_version:?} \
         {context}"
    );
    assert_eq!(
        versions, mails as i64,
        "one order version per mail {context}"
    );
    assert!(
        duplicated.is_empty(),
        "{} BestillingsID(s) with more than one order {context}",
        duplicated.len()
    );
    assert!(
        wrong_verdict.is_empty(),
        "orders with a wrong verdict: {wrong_verdict:?} {context}"
    );
    assert!(
        missing.is_empty(),
        "{} receipt(s) missing {context}",
        missing.len()
    );
    assert!(
        unexpected.is_empty(),
        "unexpected receipts: {unexpected:?} {context}"
    );
    assert!(
        different_mid.is_empty(),
        "receipts delivered twice with different Message-IDs: {different_mid:?} {context}"
    );
    assert!(
        unexplained.is_empty(),
        "receipts delivered twice without a kill to explain it: {unexplained:?} {context}"
    );
    assert_eq!(quarantined, 0, "mails quarantined {context}");
    assert!(
        kills.len() >= min_kills,
        "only {} kills landed during the work, {min_kills} wanted: raise CRASH_MAILS {context}",
        kills.len()
    );
}
