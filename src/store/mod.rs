//! The database: SQLite (one file, WAL; the embedded default) or PostgreSQL (several instances
//! on one database), through sqlx's `Any` driver, migrations applied at start. Queries are
//! checked at run time, so building needs no database. Every query is written once, with
//! `$1`-style parameters both engines read; the few statements the two spell differently
//! (JSON, several statements in one) are chosen by [`Backend`].

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};

use crate::orders::plan::Event;
use crate::orders::state::{State, reference};

pub mod actions;
pub mod apply;
pub mod billing;
pub mod check;
pub mod claims;
pub mod copy;
pub mod dialogue;
pub mod execution;
pub mod inbound;
pub mod jobs;
pub mod known;
pub mod mail;
pub mod mailroom;
pub mod metrics;
pub mod order_view;
pub mod outbox;
pub mod queue;
pub mod sessions;
pub mod tables;
pub mod users;
pub mod versions;

pub type Tx<'a> = Transaction<'a, Any>;

/// Which engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine of a database URL; `None` for a scheme spdesk does not use.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    /// The engine of an open connection (a transaction derefs to one).
    pub fn of(conn: &AnyConnection) -> Backend {
        if conn.backend_name().eq_ignore_ascii_case("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// The engine of a pool.
    pub fn of_pool(pool: &AnyPool) -> Backend {
        Backend::of_url(pool.connect_options().database_url.as_str()).unwrap_or(Backend::Sqlite)
    }

    /// `sqlite` or `postgres`, as the migrations' folders and `db check` name them.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// The statement for this engine: SQLite's spelling or PostgreSQL's.
    pub fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }
}

/// A subquery giving the texts of the JSON array `param` (a JSON text bound as a parameter):
/// how the store passes a list, since a parameter holds one value.
pub fn json_texts(backend: Backend, param: &str) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT value FROM json_each({param})"),
        Backend::Postgres => format!("SELECT jsonb_array_elements_text({param}::jsonb)"),
    }
}

/// The store: a connection pool, its engine, and the instance's name for its claims.
#[derive(Clone)]
pub struct Store {
    pub pool: AnyPool,
    pub backend: Backend,
    /// Who this process is when it claims a mail or a queued mail ([`claims`]).
    pub claimant: std::sync::Arc<claims::Claimant>,
}

/// Times as stored: RFC 3339 in UTC with seconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A nullable time column as stored by [`ts`].
pub fn ts_column(r: &AnyRow, name: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    let s: Option<String> = r.try_get(name)?;
    Ok(s.as_deref().and_then(parse_ts))
}

pub fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The schema of each engine, from one folder each (the same versions in both).
pub fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
    static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// The key of the one PostgreSQL advisory lock every write transaction takes first
/// ([`Store::begin`]): "spdesk" in ASCII.
const WRITE_LOCK: i64 = 0x0000_7370_6465_736b;

impl Store {
    /// Opens (creating if needed) the database and applies the migrations.
    pub async fn open(url: &str) -> anyhow::Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database as it is, applying no migration: what `db check` reports on, and
    /// how `db copy` looks at a target before it is given the schema.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let store = match Backend::of_url(url) {
            Some(Backend::Sqlite) => open_sqlite(url).await?,
            Some(Backend::Postgres) => open_postgres(url).await?,
            None => anyhow::bail!(
                "database.url \"{}\": not a database URL spdesk uses; give sqlite://FILE?mode=rwc or postgres://USER@HOST/DB",
                crate::config::redact_url(url)
            ),
        };
        Ok(store)
    }

    /// Applies the migrations. Two processes opening a new database at once (the daemon
    /// starting, a CLI command, a second instance) race to apply them, and the loser trips
    /// over the winner's tables. Once the winner has committed, a second try finds them
    /// applied.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut tries = 0u32;
        loop {
            match migrator(self.backend).run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "migrations failed; trying again");
                    tokio::time::sleep(Duration::from_millis(300 * u64::from(tries))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The store as instance `claimant` claims work (the daemon: its host and config file).
    pub fn with_claimant(mut self, claimant: claims::Claimant) -> Store {
        self.claimant = std::sync::Arc::new(claimant);
        self
    }

    /// Starts a write transaction, one at a time across every process on the database, as
    /// SQLite's single writer has always made them: every read-then-write in the store relies
    /// on it. On SQLite `BEGIN IMMEDIATE` takes the write lock at once (waiting up to the busy
    /// timeout): a deferred transaction that reads first and writes later fails at once with
    /// SQLITE_BUSY_SNAPSHOT (517) when another connection committed in between, which the busy
    /// timeout does not cover. On PostgreSQL the transaction takes one advisory lock first,
    /// released by its commit or rollback, or by the server when the holder's connection dies.
    /// The isolation level is READ COMMITTED whatever the server's default: every statement
    /// after the lock then sees what the previous holder committed. Under REPEATABLE READ or
    /// SERIALIZABLE (`default_transaction_isolation` of a database or role) the snapshot would
    /// be the one taken when the lock was asked for, before the wait, and a read-then-write
    /// would act on rows the previous holder had already changed.
    /// Every transaction here writes.
    pub async fn begin(&self) -> anyhow::Result<Tx<'static>> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self
                    .pool
                    .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
                    .await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }
}

/// SQLite: one file in WAL mode, its folder and file private.
async fn open_sqlite(url: &str) -> anyhow::Result<Store> {
    use std::str::FromStr;
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let file = opts.get_filename().to_path_buf();
    // An in-memory database (":memory:", mode=memory) has no file to protect.
    if !(url.contains(":memory:") || url.contains("mode=memory")) {
        create_private(&file)?;
    }
    let pool = AnyPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        // Every connection is pinged when it goes back to the pool (`reusable`), and an idle
        // SQLite connection has no server that could drop it meanwhile: the ping sqlx adds on
        // every acquire by default would only cost another round trip to the connection's
        // worker thread (two task switches) per use.
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::raw_sql(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .after_release(|conn, _| Box::pin(reusable(conn)))
        .connect_with(any_options(url)?)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {}: {e}", file.display()))?;
    restrict_permissions(&file);
    Ok(Store {
        pool,
        backend: Backend::Sqlite,
        claimant: Default::default(),
    })
}

/// PostgreSQL: a pool of connections to a server several instances share.
async fn open_postgres(url: &str) -> anyhow::Result<Store> {
    let shown = crate::config::redact_url(url);
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        // A server that is down is noticed (and said in the log) within seconds; every caller
        // tries again.
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(any_options(url)?)
        .await
        // The driver's error stays in the chain, so that `unavailable` sees a server that is
        // down; its text never holds the password (it names the user and the host).
        .map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot connect to the database {shown}"))
        })?;
    Ok(Store {
        pool,
        backend: Backend::Postgres,
        claimant: Default::default(),
    })
}

/// The URL as sqlx's `Any` driver takes it.
fn any_options(url: &str) -> anyhow::Result<AnyConnectOptions> {
    use std::str::FromStr;
    AnyConnectOptions::from_str(url).map_err(|e| {
        anyhow::anyhow!(
            "database.url \"{}\": {}",
            crate::config::redact_url(url),
            redact_errors(&e.to_string(), url)
        )
    })
}

/// A driver's error text with the URL's password, should it quote it, hidden.
fn redact_errors(text: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(p) if !p.is_empty() => text.replace(&p, "***"),
        _ => text.to_string(),
    }
}

/// Creates the database's folder (0700, where it is new) and an empty database file (0600)
/// before SQLite opens it, so that neither is ever readable by others, whatever the umask;
/// SQLite gives its -wal and -shm files the database file's mode. Existing files are kept.
fn create_private(file: &Path) -> anyhow::Result<()> {
    if file.as_os_str().is_empty() {
        return Ok(());
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(|e| {
            anyhow::anyhow!("cannot create the database folder {}: {e}", dir.display())
        })?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!(
            "cannot create the database {}: {e}",
            file.display()
        )),
    }
}

/// Whether `e` says the database could not do its work right now — locked by another writer
/// beyond the busy timeout, the disk full, an I/O error, no connection to be had — as opposed to
/// a query that failed because of the data it was given. An unavailable database is nobody's
/// fault and passes: intake waits and tries again, and never blames the mail in hand.
pub fn unavailable(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .any(sqlx_unavailable)
}

/// [`unavailable`] for a bare sqlx error.
pub fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| match c.parse::<i32>() {
            // the primary result code is the low byte of SQLite's extended code
            Ok(code) => SQLITE_UNAVAILABLE.contains(&(code & 0xff)),
            Err(_) => postgres_unavailable(&c),
        }),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// PostgreSQL's SQLSTATEs of a server that cannot work now: a lost or refused connection
/// (class 08), too little disk, memory or connections (53), a server shutting down or
/// starting (57P01-57P03), an I/O error (58), a standby that takes no writes after a failover
/// (25006), a lock or serialization conflict (40001, 40P01, 55P03).
fn postgres_unavailable(sqlstate: &str) -> bool {
    ["08", "53", "58"]
        .iter()
        .any(|class| sqlstate.starts_with(class))
        || [
            "57P01", "57P02", "57P03", "25006", "40001", "40P01", "55P03",
        ]
        .contains(&sqlstate)
}

/// SQLite's primary result codes of a database that cannot work now: BUSY, LOCKED, NOMEM,
/// READONLY, IOERR, FULL, CANTOPEN.
const SQLITE_UNAVAILABLE: [i32; 7] = [5, 6, 7, 8, 10, 13, 14];

/// Whether a connection handed back to the pool may serve again. When a COMMIT fails (disk
/// full, I/O error) SQLite may already have rolled the transaction back itself; sqlx's rollback
/// then fails and it keeps counting a transaction that no longer exists. Reused, such a
/// connection would turn the next transaction into a savepoint inside nothing: its commit
/// would stay uncommitted and keep the write lock, and every other writer would find the
/// database locked for good. So a connection still in a transaction once its queued rollback
/// has run (the ping flushes it) is closed, and the pool opens a fresh one.
async fn reusable(conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    conn.ping().await?;
    Ok(!conn.is_in_transaction())
}

/// The database holds mail and personal data: readable by its owner only.
fn restrict_permissions(file: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut p = file.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
}

/// The next order reference for the year `now` falls in (Copenhagen time).
pub async fn next_reference(tx: &mut Tx<'_>, now: DateTime<Utc>) -> anyhow::Result<String> {
    let year = now.with_timezone(&chrono_tz::Europe::Copenhagen).year();
    let last: i64 = sqlx::query_scalar(
        "INSERT INTO ref_counters (year, last) VALUES ($1, 1)
         ON CONFLICT (year) DO UPDATE SET last = ref_counters.last + 1
         RETURNING last",
    )
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    Ok(reference(year, last))
}

/// Where and when an event is recorded: on an order, about a received mail, or both.
#[derive(Debug, Clone, Copy)]
pub struct EventAt {
    pub order_id: Option<i64>,
    pub inbound_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Appends to the audit trail.
pub async fn event(tx: &mut Tx<'_>, at: EventAt, e: &Event) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(at.order_id)
    .bind(at.inbound_id)
    .bind(ts(at.at))
    .bind(&e.actor)
    .bind(&e.action)
    .bind(e.from.map(State::as_str))
    .bind(e.to.map(State::as_str))
    .bind(&e.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// True when the order has an event `action` at or after `since`.
pub async fn has_event_since(
    tx: &mut Tx<'_>,
    order_id: i64,
    action: &str,
    since: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM events WHERE order_id = $1 AND action = $2 AND at >= $3 LIMIT 1",
    )
    .bind(order_id)
    .bind(action)
    .bind(ts(since))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(found.is_some())
}

/// The outbox INSERT ([`enqueue`] alone, and [`enqueue_for_order`] with its event), a macro so
/// both can use it as one literal: $1 order, $2 kind, $3 Message-ID, $4 envelope sender,
/// $5 recipients (JSON), $6 raw mail, $7 now.
macro_rules! outbox_insert {
    () => {
        "INSERT INTO outbox (order_id, kind, message_id, envelope_from, recipients, raw, created_at, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (message_id) DO NOTHING"
    };
}

/// Queues a mail in the outbox (in the caller's transaction). A mail with the same Message-ID
/// already queued is left as it is.
pub async fn enqueue(
    tx: &mut Tx<'_>,
    order_id: Option<i64>,
    out: &crate::orders::receipts::Outgoing,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let r = sqlx::query(outbox_insert!())
        .bind(order_id)
        .bind(out.kind.code())
        .bind(&out.message_id)
        .bind(&out.envelope_from)
        .bind(serde_json::to_string(&out.to)?)
        .bind(&out.raw)
        .bind(ts(now))
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Queues an order's mail and records it in the order's history; returns `kind to a, b`.
pub async fn enqueue_for_order(
    tx: &mut Tx<'_>,
    order_id: i64,
    out: &crate::orders::receipts::Outgoing,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let what = format!("{} to {}", out.kind.code(), out.to.join(", "));
    // What [`enqueue`] and [`event`] write, sent as one query of two statements: one round
    // trip to the connection's worker thread instead of two (the numbered parameters are
    // shared by both statements).
    // PostgreSQL takes one statement per query: the INSERT into the outbox is a CTE there.
    sqlx::query(Backend::of(tx).pick(
        concat!(
            outbox_insert!(),
            ";
             INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
             VALUES ($1, NULL, $7, 'daemon', 'receipt queued', NULL, NULL, $8)"
        ),
        concat!(
            "WITH queued AS (",
            outbox_insert!(),
            ")
             INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
             VALUES ($1, NULL, $7, 'daemon', 'receipt queued', NULL, NULL, $8)"
        ),
    ))
    .bind(order_id)
    .bind(out.kind.code())
    .bind(&out.message_id)
    .bind(&out.envelope_from)
    .bind(serde_json::to_string(&out.to)?)
    .bind(&out.raw)
    .bind(ts(now))
    .bind(&what)
    .execute(&mut **tx)
    .await?;
    Ok(what)
}

/// The mails queued for an order since `since` (`kind to a, b`, as its history says), e.g.
/// what one action queued.
pub async fn queued_since(
    tx: &mut Tx<'_>,
    order_id: i64,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM events WHERE order_id = $1 AND action = 'receipt queued' AND at >= $2 ORDER BY id",
    )
    .bind(order_id)
    .bind(ts(since))
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows)
}

/// Where a mail landed in the hourly limits ([`take_rate_slot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateSlot {
    /// The clock hour it is counted in (Unix time / 3600): now, or later when deferred.
    pub hour: i64,
    /// The keys that had no room in the current hour (empty: not deferred).
    pub full: Vec<String>,
}

/// Counts one mail under every key (an address from [`crate::orders::rate::counted_address`], or
/// [`crate::orders::rate::ALL_RECEIPTS`]) in the earliest clock hour in which all of them are under
/// their limits ([`crate::orders::rate::fits`]), and returns that hour: the mail is never dropped, at
/// worst deferred. Keys must be distinct.
///
/// The usual case, room this hour, is one statement (check and count together: every
/// statement is a round trip to the connection's worker thread); the first count of an hour
/// also forgets the key's hours that no window reads any more. Only a deferral reads the
/// counts and decides in Rust.
pub async fn take_rate_slot(
    tx: &mut Tx<'_>,
    keys: &[(String, i64)],
    now: DateTime<Utc>,
) -> anyhow::Result<RateSlot> {
    let hour = crate::orders::rate::hour_of(now.timestamp());
    if keys.is_empty() {
        return Ok(RateSlot {
            hour,
            full: Vec::new(),
        });
    }
    let json = serde_json::to_string(keys)?;
    // The WHERE also keeps SQLite's parser from reading ON CONFLICT as part of the SELECT.
    let counted: Vec<(String, i64)> = sqlx::query_as(Backend::of(tx).pick(
        "INSERT INTO receipt_rate (address, hour, n)
         SELECT json_extract(k.value, '$[0]'), $2, 1 FROM json_each($1) AS k
         WHERE NOT EXISTS (
             SELECT 1 FROM json_each($1) AS l
             WHERE (SELECT COALESCE(SUM(r.n), 0) FROM receipt_rate AS r
                    WHERE r.address = json_extract(l.value, '$[0]') AND r.hour BETWEEN $2 - 1 AND $2 + 1)
                   >= MAX(json_extract(l.value, '$[1]'), 1))
         ON CONFLICT (address, hour) DO UPDATE SET n = n + 1
         RETURNING address, n",
        "INSERT INTO receipt_rate (address, hour, n)
         SELECT k.value ->> 0, $2, 1 FROM jsonb_array_elements($1::jsonb) AS k (value)
         WHERE NOT EXISTS (
             SELECT 1 FROM jsonb_array_elements($1::jsonb) AS l (value)
             WHERE (SELECT COALESCE(SUM(r.n), 0) FROM receipt_rate AS r
                    WHERE r.address = l.value ->> 0 AND r.hour BETWEEN $2 - 1 AND $2 + 1)
                   >= GREATEST((l.value ->> 1)::bigint, 1))
         ON CONFLICT (address, hour) DO UPDATE SET n = receipt_rate.n + 1
         RETURNING address, n",
    ))
    .bind(&json)
    .bind(hour)
    .fetch_all(&mut **tx)
    .await?;
    if counted.is_empty() {
        return defer_to_room(tx, keys, &json, hour).await;
    }
    forget_old_hours(tx, &counted, hour).await?;
    Ok(RateSlot {
        hour,
        full: Vec::new(),
    })
}

/// After a key's first count in an hour: its hours that no sliding window reads any more go.
async fn forget_old_hours(
    tx: &mut Tx<'_>,
    counted: &[(String, i64)],
    hour: i64,
) -> anyhow::Result<()> {
    let fresh: Vec<&str> = counted
        .iter()
        .filter(|(_, n)| *n == 1)
        .map(|(a, _)| a.as_str())
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    sqlx::query(Backend::of(tx).pick(
        "DELETE FROM receipt_rate WHERE address IN (SELECT value FROM json_each($1)) AND hour < $2",
        "DELETE FROM receipt_rate WHERE address IN (SELECT jsonb_array_elements_text($1::jsonb)) AND hour < $2",
    ))
    .bind(serde_json::to_string(&fresh)?)
    .bind(hour - 1)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Over a limit: finds the first hour with room for every key (`keys_json` is `keys` as
/// JSON), and counts the mail there.
async fn defer_to_room(
    tx: &mut Tx<'_>,
    keys: &[(String, i64)],
    keys_json: &str,
    hour: i64,
) -> anyhow::Result<RateSlot> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(Backend::of(tx).pick(
        "SELECT address, hour, n FROM receipt_rate
         WHERE address IN (SELECT json_extract(value, '$[0]') FROM json_each($1)) AND hour >= $2 - 1",
        "SELECT address, hour, n FROM receipt_rate
         WHERE address IN (SELECT k.value ->> 0 FROM jsonb_array_elements($1::jsonb) AS k (value))
           AND hour >= $2 - 1",
    ))
    .bind(keys_json)
    .bind(hour)
    .fetch_all(&mut **tx)
    .await?;
    let mut counts: std::collections::HashMap<&str, crate::orders::rate::Counts> =
        std::collections::HashMap::new();
    for (address, h, n) in &rows {
        counts.entry(address.as_str()).or_default().insert(*h, *n);
    }
    let empty = crate::orders::rate::Counts::new();
    let limits: Vec<(&crate::orders::rate::Counts, i64)> = keys
        .iter()
        .map(|(k, limit)| (counts.get(k.as_str()).unwrap_or(&empty), *limit))
        .collect();
    let slot = crate::orders::rate::earliest_hour(hour, &limits);
    let full = keys
        .iter()
        .zip(&limits)
        .filter(|(_, (c, limit))| !crate::orders::rate::fits(c, hour, *limit))
        .map(|((k, _), _)| k.clone())
        .collect();
    sqlx::query(Backend::of(tx).pick(
        "INSERT INTO receipt_rate (address, hour, n)
         SELECT json_extract(value, '$[0]'), $2, 1 FROM json_each($1) WHERE true
         ON CONFLICT (address, hour) DO UPDATE SET n = n + 1",
        "INSERT INTO receipt_rate (address, hour, n)
         SELECT k.value ->> 0, $2, 1 FROM jsonb_array_elements($1::jsonb) AS k (value)
         ON CONFLICT (address, hour) DO UPDATE SET n = receipt_rate.n + 1",
    ))
    .bind(keys_json)
    .bind(slot)
    .execute(&mut **tx)
    .await?;
    Ok(RateSlot { hour: slot, full })
}

/// Counts `n` (orders, mails) for `key` in the clock hour of `now` and returns how many it now
/// has in this and the previous clock hour (every sliding hour lies inside two adjacent ones).
/// Over the limit or not, they are counted, so a flood stays over it. One statement; the
/// first count of an hour also forgets the key's older hours.
pub async fn count_hourly(
    tx: &mut Tx<'_>,
    key: &str,
    n: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let hour = crate::orders::rate::hour_of(now.timestamp());
    let (this_hour, both): (i64, i64) = sqlx::query_as(
        "INSERT INTO receipt_rate (address, hour, n) VALUES ($1, $2, $3)
         ON CONFLICT (address, hour) DO UPDATE SET n = receipt_rate.n + $3
         RETURNING n, n + COALESCE((SELECT p.n FROM receipt_rate AS p WHERE p.address = $1 AND p.hour = $2 - 1), 0)",
    )
    .bind(key)
    .bind(hour)
    .bind(n)
    .fetch_one(&mut **tx)
    .await?;
    if this_hour == n {
        sqlx::query("DELETE FROM receipt_rate WHERE address = $1 AND hour < $2")
            .bind(key)
            .bind(hour - 1)
            .execute(&mut **tx)
            .await?;
    }
    Ok(both)
}

/// The review order that gathers a sender's mails over the hourly order cap in this clock
/// hour, if one was made.
pub async fn held_mail_order(
    tx: &mut Tx<'_>,
    address: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(i64, String)>> {
    let row: Option<(i64, String)> = sqlx::query_as(
        "SELECT o.id, o.ref FROM held_mail_orders h JOIN orders o ON o.id = h.order_id
         WHERE h.address = $1 AND h.hour = $2",
    )
    .bind(address)
    .bind(crate::orders::rate::hour_of(now.timestamp()))
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row)
}

/// Records `order_id` as the order that gathers `address`'s held mails this clock hour.
pub async fn set_held_mail_order(
    tx: &mut Tx<'_>,
    address: &str,
    now: DateTime<Utc>,
    order_id: i64,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO held_mail_orders (address, hour, order_id) VALUES ($1, $2, $3)")
        .bind(address)
        .bind(crate::orders::rate::hour_of(now.timestamp()))
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds an order to the review summary sent at the start of clock hour `hour`; returns how
/// many orders it covers and the references it names (at most
/// [`crate::orders::review_summary::LISTED`]).
pub async fn gather_for_review_summary(
    tx: &mut Tx<'_>,
    hour: i64,
    reference: &str,
) -> anyhow::Result<(i64, Vec<String>)> {
    let (n, refs): (i64, String) = sqlx::query_as(Backend::of(tx).pick(
        "INSERT INTO review_summaries (hour, n, refs) VALUES ($1, 1, json_array($2))
         ON CONFLICT (hour) DO UPDATE SET n = n + 1,
             refs = CASE WHEN json_array_length(refs) < $3 THEN json_insert(refs, '$[#]', $2) ELSE refs END
         RETURNING n, refs",
        "INSERT INTO review_summaries (hour, n, refs) VALUES ($1, 1, jsonb_build_array($2::text)::text)
         ON CONFLICT (hour) DO UPDATE SET n = review_summaries.n + 1,
             refs = CASE WHEN jsonb_array_length(review_summaries.refs::jsonb) < $3
                         THEN (review_summaries.refs::jsonb || jsonb_build_array($2::text))::text
                         ELSE review_summaries.refs END
         RETURNING n, refs",
    ))
    .bind(hour)
    .bind(reference)
    .bind(i64::try_from(crate::orders::review_summary::LISTED).unwrap_or(i64::MAX))
    .fetch_one(&mut **tx)
    .await?;
    Ok((n, serde_json::from_str(&refs)?))
}

/// A mail of no order (digest, billing, review summary) to queue in the outbox.
pub struct StaffMail<'a> {
    pub kind: &'a str,
    pub message_id: &'a str,
    pub from: &'a str,
    pub to: &'a [String],
    pub raw: &'a [u8],
}

/// What queueing a [`StaffMail`] does when a mail with its Message-ID is already queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnQueued {
    /// Leave it as it is (a scheduled run that happens twice queues its mail once).
    Keep,
    /// Replace its bytes while it has not been sent (the review summary grows while it waits).
    Replace,
}

/// Queues a mail of no order that is sent from `not_before` on; returns whether a row was
/// inserted or replaced.
pub async fn enqueue_staff_mail(
    tx: &mut Tx<'_>,
    mail: StaffMail<'_>,
    now: DateTime<Utc>,
    not_before: DateTime<Utc>,
    on_queued: OnQueued,
) -> anyhow::Result<bool> {
    macro_rules! insert_on_conflict {
        ($conflict:literal) => {
            concat!(
                "INSERT INTO outbox (order_id, kind, message_id, envelope_from, recipients, raw, created_at, next_attempt_at)
                 VALUES (NULL, $1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (message_id) ",
                $conflict
            )
        };
    }
    let sql = match on_queued {
        OnQueued::Keep => insert_on_conflict!("DO NOTHING"),
        OnQueued::Replace => {
            insert_on_conflict!("DO UPDATE SET raw = excluded.raw WHERE outbox.sent_at IS NULL")
        }
    };
    let r = sqlx::query(sql)
        .bind(mail.kind)
        .bind(mail.message_id)
        .bind(mail.from)
        .bind(serde_json::to_string(mail.to)?)
        .bind(mail.raw)
        .bind(ts(now))
        .bind(ts(not_before))
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Holds a queued mail back until `not_before` and says why in its order's history (a mail
/// over an hourly limit: deferred, never dropped). The outbox sends nothing before its
/// `next_attempt_at`; `last_error` names the deferral for `orders show` and the digest.
pub async fn defer_queued(
    tx: &mut Tx<'_>,
    order_id: Option<i64>,
    message_id: &str,
    not_before: DateTime<Utc>,
    now: DateTime<Utc>,
    why: &str,
) -> anyhow::Result<()> {
    sqlx::query(Backend::of(tx).pick(
        "UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE message_id = $1 AND sent_at IS NULL;
         INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         SELECT $4, NULL, $5, 'daemon', 'receipt deferred', NULL, NULL, $6 WHERE $4 IS NOT NULL",
        "WITH deferred AS (
             UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE message_id = $1 AND sent_at IS NULL)
         INSERT INTO events (order_id, inbound_id, at, actor, action, from_state, to_state, detail)
         SELECT $4, NULL, $5, 'daemon', 'receipt deferred', NULL, NULL, $6 WHERE $4 IS NOT NULL",
    ))
    .bind(message_id)
    .bind(ts(not_before))
    .bind(format!("{DEFERRED}{why}"))
    .bind(order_id)
    .bind(ts(now))
    .bind(why)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// How `last_error` of a deferred outbox row begins.
pub const DEFERRED: &str = "deferred: ";

/// Mails waiting in the outbox for an hourly limit to allow them (for the digest).
pub async fn deferred_mails(pool: &AnyPool, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at > $1 AND last_error LIKE $2",
    )
    .bind(ts(now))
    .bind(format!("{DEFERRED}%"))
    .fetch_one(pool)
    .await?;
    Ok(n)
}

pub use crate::orders::order::OrderRow;

pub(crate) const ORDER_COLUMNS: &str = "id, ref, state, kind, bestillings_id, org_name, org_cvr, system_name, requester, reply_to, contact_email, thread_message_id, thread_subject, planned_at, created_at, updated_at, executed_at, billed_at, incident_at";

pub(crate) fn order_from_row(r: &AnyRow) -> anyhow::Result<OrderRow> {
    let t = |name: &str| ts_column(r, name);
    let state: String = r.try_get("state")?;
    Ok(OrderRow {
        id: r.try_get("id")?,
        reference: r.try_get("ref")?,
        state: state.parse().map_err(anyhow::Error::msg)?,
        kind: r.try_get("kind")?,
        bestillings_id: r.try_get("bestillings_id")?,
        org_name: r.try_get("org_name")?,
        org_cvr: r.try_get("org_cvr")?,
        system_name: r.try_get("system_name")?,
        requester: r.try_get("requester")?,
        reply_to: r.try_get("reply_to")?,
        contact_email: r.try_get("contact_email")?,
        thread_message_id: r.try_get("thread_message_id")?,
        thread_subject: r.try_get("thread_subject")?,
        planned_at: t("planned_at")?,
        created_at: t("created_at")?.unwrap_or_default(),
        updated_at: t("updated_at")?.unwrap_or_default(),
        executed_at: t("executed_at")?,
        billed_at: t("billed_at")?,
        incident_at: t("incident_at")?,
    })
}

/// Loads one order by its reference, as a person may type it (any case).
pub async fn order_by_ref<'e, E>(exec: E, reference: &str) -> anyhow::Result<Option<OrderRow>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE ref = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(crate::orders::state::canonical_reference(reference))
        .fetch_optional(exec)
        .await?;
    row.as_ref().map(order_from_row).transpose()
}

/// The it-system UUID of an order's newest version: what the register is asked about when
/// someone other than the requester writes about the order.
pub async fn order_system_uuid(tx: &mut Tx<'_>, order_id: i64) -> anyhow::Result<Option<String>> {
    let uuid: Option<Option<String>> = sqlx::query_scalar(Backend::of(tx).pick(
        "SELECT CAST(json_extract(judgement, '$.fields.system_uuid') AS TEXT) FROM order_versions
         WHERE order_id = $1 ORDER BY version DESC LIMIT 1",
        "SELECT judgement::jsonb #>> '{fields,system_uuid}' FROM order_versions
         WHERE order_id = $1 ORDER BY version DESC LIMIT 1",
    ))
    .bind(order_id)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(uuid.flatten())
}

/// The order whose receipt has this Message-ID (a reply to one of our receipts).
pub async fn order_by_receipt_id(
    tx: &mut Tx<'_>,
    message_id: &str,
) -> anyhow::Result<Option<OrderRow>> {
    let order_id: Option<i64> =
        sqlx::query_scalar("SELECT order_id FROM outbox WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&mut **tx)
            .await?
            .flatten();
    match order_id {
        Some(id) => {
            let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
            row.as_ref().map(order_from_row).transpose()
        }
        None => Ok(None),
    }
}

/// Every order, optionally in one state, oldest first.
pub async fn list_orders(pool: &AnyPool, state: Option<State>) -> anyhow::Result<Vec<OrderRow>> {
    let rows = match state {
        Some(s) => {
            let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE state = $1 ORDER BY id");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(s.as_str())
                .fetch_all(pool)
                .await?
        }
        None => {
            let sql = format!("SELECT {ORDER_COLUMNS} FROM orders ORDER BY id");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await?
        }
    };
    rows.iter().map(order_from_row).collect()
}

/// Moves an order to a new state (the caller has checked the transition).
pub async fn set_state(
    tx: &mut Tx<'_>,
    order_id: i64,
    state: State,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE orders SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(ts(now))
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub use crate::orders::order::EventRow;

/// An order's events, oldest first (in a transaction too, e.g. for the incident mail).
pub async fn events_of<'e, E>(exec: E, order_id: i64) -> anyhow::Result<Vec<EventRow>>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT at, actor, action, from_state, to_state, detail FROM events WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EventRow {
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                from_state: r.try_get("from_state")?,
                to_state: r.try_get("to_state")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}

/// A stored version for `orders show`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VersionRow {
    pub version: i64,
    pub decision: String,
    pub created_at: String,
    pub judgement: serde_json::Value,
}

pub async fn versions_of(pool: &AnyPool, order_id: i64) -> anyhow::Result<Vec<VersionRow>> {
    let rows = sqlx::query(
        "SELECT version, decision, created_at, judgement FROM order_versions WHERE order_id = $1 ORDER BY version",
    )
    .bind(order_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let j: String = r.try_get("judgement")?;
            Ok(VersionRow {
                version: r.try_get("version")?,
                decision: r.try_get("decision")?,
                created_at: r.try_get("created_at")?,
                judgement: serde_json::from_str(&j).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}

/// The raw mail a version of an order came in (`orders show` reads the attached certificate
/// from it); `None` when there is no such version.
pub async fn version_mail(
    pool: &AnyPool,
    order_id: i64,
    version: i64,
) -> anyhow::Result<Option<Vec<u8>>> {
    let raw: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT m.raw FROM order_versions v JOIN inbound_mail m ON m.id = v.inbound_id
         WHERE v.order_id = $1 AND v.version = $2",
    )
    .bind(order_id)
    .bind(version)
    .fetch_optional(pool)
    .await?;
    Ok(raw)
}

/// Records when an order was executed (step 8; billing reads it).
pub async fn set_executed_at(
    tx: &mut Tx<'_>,
    order_id: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE orders SET executed_at = $1 WHERE id = $2")
        .bind(ts(at))
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A person moved an order's planned time (`orders reschedule`).
pub async fn set_planned_at(
    tx: &mut Tx<'_>,
    order_id: i64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE orders SET planned_at = $1, updated_at = $2 WHERE id = $3")
        .bind(ts(at))
        .bind(ts(now))
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records when an order's incident was opened (it failed).
pub async fn set_incident_at(
    tx: &mut Tx<'_>,
    order_id: i64,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE orders SET incident_at = $1 WHERE id = $2")
        .bind(ts(at))
        .bind(order_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::str::FromStr;

    #[tokio::test]
    async fn a_mail_over_an_hourly_limit_is_counted_in_a_later_hour() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let hour = |s: &str| crate::orders::rate::hour_of(at(s).timestamp());
        let fa = |limit: i64| vec![("fa@kommune.test".to_string(), limit)];
        let mut tx = store.begin().await.unwrap();
        for t in [
            "2026-11-30T09:10:00Z",
            "2026-11-30T09:50:00Z",
            "2026-11-30T10:05:00Z",
        ] {
            let slot = take_rate_slot(&mut tx, &fa(3), at(t)).await.unwrap();
            assert_eq!(slot.hour, hour(t), "at {t}");
            assert!(slot.full.is_empty());
        }
        // At the limit: counted two hours on (11:xx still sees the 10:05 receipt), and the
        // key that was full is named.
        let t = "2026-11-30T10:30:00Z";
        let slot = take_rate_slot(&mut tx, &fa(3), at(t)).await.unwrap();
        assert_eq!(slot.hour, hour(t) + 1);
        assert_eq!(slot.full, vec!["fa@kommune.test".to_string()]);
        // Every key must have room in the same hour: the overall cap holds this one back too.
        let both = vec![
            ("other@kommune.test".to_string(), 10),
            (crate::orders::rate::ALL_RECEIPTS.to_string(), 4),
        ];
        let t = "2026-11-30T10:40:00Z";
        let first = take_rate_slot(&mut tx, &both, at(t)).await.unwrap();
        assert_eq!(first.hour, hour(t));
        let mut hours = Vec::new();
        for _ in 0..4 {
            let s = take_rate_slot(&mut tx, &both, at(t)).await.unwrap();
            hours.push(s.hour);
        }
        let h = hour(t);
        assert_eq!(hours, vec![h, h, h, h + 2], "the cap of 4 fills at 10:xx");
        // A new clock hour forgets the key's hours no window reads any more.
        let t = "2026-11-30T14:00:00Z";
        let slot = take_rate_slot(&mut tx, &fa(3), at(t)).await.unwrap();
        assert_eq!(slot.hour, hour(t));
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT hour, n FROM receipt_rate WHERE address = 'fa@kommune.test' ORDER BY hour",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(rows, vec![(hour(t), 1)]);
        // The last place under a limit counts every key of the mail, none half-way.
        let pair = vec![
            ("last@kommune.test".to_string(), 2),
            ("second@kommune.test".to_string(), 100),
        ];
        for _ in 0..2 {
            let s = take_rate_slot(&mut tx, &pair, at(t)).await.unwrap();
            assert_eq!(s.hour, hour(t));
        }
        let counted: Vec<(String, i64)> = sqlx::query_as(
            "SELECT address, n FROM receipt_rate WHERE address IN ('last@kommune.test', 'second@kommune.test') ORDER BY address",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(
            counted,
            vec![
                ("last@kommune.test".to_string(), 2),
                ("second@kommune.test".to_string(), 2)
            ]
        );
        // No keys: nothing counted, never deferred.
        let slot = take_rate_slot(&mut tx, &[], at(t)).await.unwrap();
        assert_eq!((slot.hour, slot.full.len()), (hour(t), 0));
    }

    #[tokio::test]
    async fn orders_per_sender_are_counted_over_a_sliding_hour_and_held_mail_has_one_order() {
        let (_dir, _url, store) = scratch().await;
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut tx = store.begin().await.unwrap();
        let key = "orders:fa@kommune.test";
        let mut seen = Vec::new();
        for (t, n) in [
            ("2026-11-30T09:50:00Z", 2),
            ("2026-11-30T10:05:00Z", 1),
            ("2026-11-30T10:06:00Z", 3),
            // 11:xx no longer sees 09:xx, and forgets it.
            ("2026-11-30T11:00:00Z", 1),
        ] {
            seen.push(count_hourly(&mut tx, key, n, at(t)).await.unwrap());
        }
        assert_eq!(seen, vec![2, 3, 6, 5]);
        let hours: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM receipt_rate WHERE address = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(hours, 2);

        let order_id: i64 = sqlx::query_scalar(
            "INSERT INTO orders (ref, state, created_at, updated_at) VALUES ('SP-2026-00001', 'review', 't', 't') RETURNING id",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let now = at("2026-11-30T11:10:00Z");
        let sender = "fa@kommune.test";
        assert_eq!(held_mail_order(&mut tx, sender, now).await.unwrap(), None);
        set_held_mail_order(&mut tx, sender, now, order_id)
            .await
            .unwrap();
        let same_hour = at("2026-11-30T11:59:59Z");
        assert_eq!(
            held_mail_order(&mut tx, sender, same_hour).await.unwrap(),
            Some((order_id, "SP-2026-00001".to_string()))
        );
        let next_hour = at("2026-11-30T12:00:00Z");
        assert_eq!(
            held_mail_order(&mut tx, sender, next_hour).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_queued_order_mail_is_one_outbox_row_and_an_event_per_call() {
        let (_dir, _url, store) = scratch().await;
        let now = Utc::now();
        let mut tx = store.begin().await.unwrap();
        let order_id: i64 = sqlx::query_scalar(
            "INSERT INTO orders (ref, state, created_at, updated_at) VALUES ('SP-2026-00001', 'received', 't', 't') RETURNING id",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let out = crate::orders::receipts::Outgoing {
            kind: crate::orders::receipts::ReceiptKind::Modtaget,
            message_id: "SP-2026-00001.v1.modtaget@spdesk.h.test".into(),
            envelope_from: "helpdesk@h.test".into(),
            to: vec!["a@k.test".into(), "b@k.test".into()],
            raw: b"mail".to_vec(),
        };
        for _ in 0..2 {
            let what = enqueue_for_order(&mut tx, order_id, &out, now)
                .await
                .unwrap();
            assert_eq!(what, "modtaget to a@k.test, b@k.test");
        }
        tx.commit().await.unwrap();
        let rows = sqlx::query(
            "SELECT order_id, kind, message_id, envelope_from, recipients, raw, created_at, next_attempt_at FROM outbox",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        let text = |c: &str| r.try_get::<String, _>(c).unwrap();
        assert_eq!(
            r.try_get::<Option<i64>, _>("order_id").unwrap(),
            Some(order_id)
        );
        assert_eq!(text("kind"), "modtaget");
        assert_eq!(text("message_id"), out.message_id);
        assert_eq!(text("envelope_from"), "helpdesk@h.test");
        assert_eq!(text("recipients"), r#"["a@k.test","b@k.test"]"#);
        assert_eq!(r.try_get::<Vec<u8>, _>("raw").unwrap(), b"mail");
        assert_eq!(
            (text("created_at"), text("next_attempt_at")),
            (ts(now), ts(now))
        );
        let events = events_of(&store.pool, order_id).await.unwrap();
        assert_eq!(events.len(), 2, "{events:?}");
        for e in events {
            assert_eq!(
                (e.at, e.actor, e.action, e.from_state, e.to_state, e.detail),
                (
                    ts(now),
                    "daemon".to_string(),
                    "receipt queued".to_string(),
                    None,
                    None,
                    "modtaget to a@k.test, b@k.test".to_string()
                )
            );
        }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn new_database_folder_and_file_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("var/db/spdesk.db");
        create_private(&file).unwrap();
        assert_eq!(mode(&tmp.path().join("var")), 0o700);
        assert_eq!(mode(&tmp.path().join("var/db")), 0o700);
        assert_eq!(mode(&file), 0o600);
        // An existing file is kept as it is (Store::open narrows its mode afterwards).
        std::fs::write(&file, b"x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        create_private(&file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        assert_eq!(mode(&file), 0o640);
    }

    #[tokio::test]
    async fn open_leaves_the_database_and_its_wal_files_private() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("state/spdesk.db");
        let store = Store::open(&format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        sqlx::query("SELECT 1").execute(&store.pool).await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let p = tmp.path().join(format!("state/spdesk.db{suffix}"));
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
        assert_eq!(mode(&tmp.path().join("state")), 0o700);
        // In memory: no file is made.
        Store::open("sqlite::memory:").await.unwrap();
    }

    async fn scratch() -> (tempfile::TempDir, String, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        (dir, url, store)
    }

    #[tokio::test]
    async fn a_full_database_is_unavailable() {
        let (_dir, _url, store) = scratch().await;
        let mut conn = store.pool.acquire().await.unwrap();
        sqlx::query("CREATE TABLE big (b BLOB)")
            .execute(&mut *conn)
            .await
            .unwrap();
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA max_page_count = {}",
            pages + 2
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
        let e = sqlx::query("INSERT INTO big VALUES (zeroblob(1000000))")
            .execute(&mut *conn)
            .await
            .unwrap_err();
        assert!(sqlx_unavailable(&e), "{e}");
        let e = anyhow::Error::from(e).context("storing a mail");
        assert!(unavailable(&e), "{e:#}");
    }

    #[tokio::test]
    async fn a_database_locked_by_another_writer_is_unavailable() {
        let (_dir, url, store) = scratch().await;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .busy_timeout(Duration::from_millis(100));
        let mut other = sqlx::ConnectOptions::connect(&opts).await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        let e = sqlx::query("INSERT INTO jobs (name, last_run) VALUES ('x', 'y')")
            .execute(&mut other)
            .await;
        assert!(e.is_ok());
        let mut mine = sqlx::ConnectOptions::connect(&opts).await.unwrap();
        let e = sqlx::query("INSERT INTO jobs (name, last_run) VALUES ('z', 'y')")
            .execute(&mut mine)
            .await
            .unwrap_err();
        assert!(sqlx_unavailable(&e), "{e}");
        drop(store);
    }

    #[tokio::test]
    async fn a_connection_whose_transaction_sqlite_ended_is_not_reused() {
        use sqlx::Connection;
        let (_dir, _url, store) = scratch().await;
        {
            let mut tx = store.begin().await.unwrap();
            sqlx::query("INSERT INTO jobs (name, last_run) VALUES ('a', 'b')")
                .execute(&mut *tx)
                .await
                .unwrap();
            // SQLite ends the transaction behind sqlx's back, as it does itself when a COMMIT
            // meets a full disk; sqlx's own rollback on drop then fails.
            sqlx::raw_sql("ROLLBACK").execute(&mut *tx).await.unwrap();
        }
        // Every connection the pool can give is out of any transaction.
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut c = store.pool.acquire().await.unwrap();
            c.ping().await.unwrap();
            assert!(!c.is_in_transaction(), "a stale connection came back");
            held.push(c);
        }
        drop(held);
        // And a write through the pool commits for everyone to see.
        let mut tx = store.begin().await.unwrap();
        sqlx::query("INSERT INTO jobs (name, last_run) VALUES ('c', 'd')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE name = 'c'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn a_query_the_data_breaks_is_not_unavailable() {
        let (_dir, _url, store) = scratch().await;
        sqlx::query("INSERT INTO jobs (name, last_run) VALUES ('x', 'y')")
            .execute(&store.pool)
            .await
            .unwrap();
        let unique = sqlx::query("INSERT INTO jobs (name, last_run) VALUES ('x', 'y')")
            .execute(&store.pool)
            .await
            .unwrap_err();
        assert!(!sqlx_unavailable(&unique), "{unique}");
        let syntax = sqlx::query("SELEKT 1")
            .execute(&store.pool)
            .await
            .unwrap_err();
        assert!(!unavailable(&anyhow::Error::from(syntax)));
        assert!(!unavailable(&anyhow::anyhow!("not a database error")));
        assert!(!sqlx_unavailable(&sqlx::Error::RowNotFound));
        assert!(sqlx_unavailable(&sqlx::Error::PoolTimedOut));
    }
}
