//! `spdesk db copy`: an installation's database (SQLite, as a rule) copied into an empty
//! PostgreSQL database, every table of [`super::tables::TABLES`] in that order (parents
//! first), ids kept, in one transaction on the target that commits only when the counts per
//! table and a digest over the stored mails agree with the source.
//!
//! The source is read in one read transaction (one snapshot), a page at a time in key order:
//! a page of a table that holds mails' bytes is bounded by their size
//! ([`PAGE_BYTES`]), so a mailbox of large mails is never held in memory at once. The
//! daemon must be stopped first, or what it writes after the snapshot is not in the copy:
//! [`sqlite_in_use_by`] says which process has an SQLite file open.

use std::path::Path;

use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::tables::{Kind, TABLES, Table};
use super::{Backend, Store, Tx};

/// Binds values in order to a query (a bound `None` of a kind is NULL of that kind's type).
macro_rules! bind_all {
    ($q:expr, $values:expr) => {{
        let mut q = $q;
        for v in $values {
            q = match v.clone() {
                Value::Int(x) => q.bind(x),
                Value::Text(x) => q.bind(x),
                Value::Bytes(x) => q.bind(x),
            };
        }
        q
    }};
}

/// At most this many bytes of mails in one page (one mail larger than this is a page alone).
pub const PAGE_BYTES: i64 = 8 << 20;
/// At most this many rows in one page.
const PAGE_ROWS: i64 = 500;

/// One column's value as both engines read and write it.
#[derive(Debug, Clone)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// A table's rows in the source and, after the copy, in the target.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Counted {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

/// What a copy found: the counts, and the digests over the stored mails (id, sha256 column,
/// SHA-256 of the bytes) read from the source and recomputed by the target's server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub counts: Vec<Counted>,
    pub source_digest: String,
    pub target_digest: String,
    /// True when everything agreed and the target's transaction was committed.
    pub committed: bool,
}

impl Report {
    /// Whether every count and the digests agree.
    pub fn agrees(&self) -> bool {
        self.counts.iter().all(|c| c.source == c.target) && self.source_digest == self.target_digest
    }
}

/// The process (its pid) that has the SQLite database `file` open, if another one has: every
/// connection to a database in WAL mode holds a shared lock on the dead-man-switch byte of
/// its `-shm` file (SQLite's os_unix.c, byte 128), which F_GETLK reports with its holder.
pub fn sqlite_in_use_by(file: &Path) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let mut shm = file.as_os_str().to_owned();
    shm.push("-shm");
    let f = std::fs::File::open(Path::new(&shm)).ok()?;
    // SAFETY: a plain C struct, all zero is a valid value; fcntl only writes into it.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as libc::c_short;
    lock.l_whence = libc::SEEK_SET as libc::c_short;
    lock.l_start = 128;
    lock.l_len = 1;
    // SAFETY: F_GETLK on an open descriptor with a valid flock.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GETLK, &mut lock) };
    (r == 0 && lock.l_type != libc::F_UNLCK as libc::c_short).then_some(lock.l_pid)
}

/// The tables of the target (connected without migrations) that already hold rows, with
/// their counts: a copy goes only into a database that is new or only migrated.
pub async fn rows_in_target(target: &Store) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut found = Vec::new();
    for t in TABLES {
        let exists: Option<String> = sqlx::query_scalar("SELECT CAST(to_regclass($1) AS TEXT)")
            .bind(t.name)
            .fetch_one(&target.pool)
            .await?;
        if exists.is_none() {
            continue;
        }
        let n = count(&mut *target.pool.acquire().await?, t).await?;
        if n > 0 {
            found.push((t.name, n));
        }
    }
    Ok(found)
}

/// Copies every table of `source` into `target` (PostgreSQL, migrated, empty: see
/// [`rows_in_target`]) in one transaction, and commits it only when the counts and digests
/// agree; the report says what was found either way.
pub async fn copy(source: &Store, target: &Store) -> anyhow::Result<Report> {
    anyhow::ensure!(
        target.backend == Backend::Postgres,
        "db copy writes into PostgreSQL only"
    );
    let mut src = match source.backend {
        Backend::Sqlite => source.pool.begin().await?,
        Backend::Postgres => {
            source
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .await?
        }
    };
    let mut tx = target.begin().await?;
    let mut counts = Vec::new();
    let mut source_digest = Sha256::new();
    for t in TABLES {
        let n = count(&mut src, t).await?;
        let copied = copy_table(&mut src, &mut tx, t, &mut source_digest).await?;
        anyhow::ensure!(
            copied == n,
            "{}: the source had {n} rows when counted and {copied} when read; is a daemon still writing to it?",
            t.name
        );
        move_identity(&mut tx, t).await?;
        let target = count(&mut tx, t).await?;
        tracing::info!(table = t.name, rows = n, "copied");
        counts.push(Counted {
            table: t.name,
            source: n,
            target,
        });
    }
    let mut report = Report {
        counts,
        source_digest: hex::encode(source_digest.finalize()),
        target_digest: target_digest(&mut tx).await?,
        committed: false,
    };
    if report.agrees() {
        failpoint("db_copy_before_commit");
        tx.commit().await?;
        report.committed = true;
    } else {
        tx.rollback().await?;
    }
    src.rollback().await?;
    Ok(report)
}

/// A crash on purpose, for the test that proves a copy killed before its commit leaves the
/// target empty (and a second copy then succeeds): `SPDESK_FAILPOINT=db_copy_before_commit`
/// aborts the process there, like SIGKILL would.
fn failpoint(name: &str) {
    if std::env::var("SPDESK_FAILPOINT").is_ok_and(|v| v == name) {
        tracing::error!(failpoint = name, "aborting on purpose (SPDESK_FAILPOINT)");
        std::process::abort();
    }
}

/// `SELECT COUNT(*)` of a table.
async fn count(conn: &mut AnyConnection, t: &Table) -> anyhow::Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {}", t.name);
    let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(conn)
        .await
        .map_err(|e| anyhow::anyhow!("{}: cannot count its rows: {e}", t.name))?;
    Ok(n)
}

/// Copies one table a page at a time; returns how many rows it copied. The rows of
/// inbound_mail go into `digest` as they pass.
async fn copy_table(
    src: &mut AnyConnection,
    tx: &mut Tx<'_>,
    t: &Table,
    digest: &mut Sha256,
) -> anyhow::Result<i64> {
    let mut after: Option<Vec<Value>> = None;
    let mut copied = 0i64;
    loop {
        let upto = match (t.has_bytes(), &after) {
            (false, _) => None,
            (true, after) => match page_end(src, t, after.as_deref()).await? {
                Some(id) => Some(id),
                None => break,
            },
        };
        let rows = read_page(src, t, after.as_deref(), upto).await?;
        let Some(last) = rows.last() else { break };
        after = Some(key_of(t, last));
        if t.name == "inbound_mail" {
            rows.iter().for_each(|r| digest.update(mail_line(r)));
        }
        insert(tx, t, &rows).await?;
        copied += rows.len() as i64;
    }
    Ok(copied)
}

/// The values of a row's key columns.
fn key_of(t: &Table, row: &[Value]) -> Vec<Value> {
    t.key
        .iter()
        .map(|k| {
            let i = t.columns.iter().position(|(c, _)| c == k).unwrap_or(0);
            row[i].clone()
        })
        .collect()
}

/// `WHERE (k1, k2) > ($1, $2)` for the rows after `after` (empty when reading from the
/// start), and the number of parameters it takes.
fn after_clause(t: &Table, after: Option<&[Value]>) -> (String, usize) {
    match after {
        None => ("WHERE TRUE".to_string(), 0),
        Some(_) => {
            let params: Vec<String> = (1..=t.key.len()).map(|i| format!("${i}")).collect();
            let clause = format!("WHERE ({}) > ({})", t.key.join(", "), params.join(", "));
            (clause, t.key.len())
        }
    }
}

/// For a table holding mails: the id that ends the next page, which holds at most
/// [`PAGE_ROWS`] rows and [`PAGE_BYTES`] of mails, and at least one row; `None` at the end.
async fn page_end(
    src: &mut AnyConnection,
    t: &Table,
    after: Option<&[Value]>,
) -> anyhow::Result<Option<i64>> {
    let (clause, _) = after_clause(t, after);
    let sql = format!(
        "SELECT id, CAST(length(raw) AS BIGINT) FROM {} {clause} ORDER BY id LIMIT {PAGE_ROWS}",
        t.name
    );
    let q = sqlx::query_as::<_, (i64, i64)>(AssertSqlSafe(sql));
    let sizes = bind_all!(q, after.unwrap_or_default())
        .fetch_all(src)
        .await?;
    let mut total = 0i64;
    let mut end = None;
    for (id, size) in sizes {
        total += size;
        if end.is_some() && total > PAGE_BYTES {
            break;
        }
        end = Some(id);
    }
    Ok(end)
}

/// The next page of a table in key order: after `after`, up to id `upto` when given.
async fn read_page(
    src: &mut AnyConnection,
    t: &Table,
    after: Option<&[Value]>,
    upto: Option<i64>,
) -> anyhow::Result<Vec<Vec<Value>>> {
    let columns: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    let (mut clause, n) = after_clause(t, after);
    if upto.is_some() {
        clause.push_str(&format!(" AND id <= ${}", n + 1));
    }
    let sql = format!(
        "SELECT {} FROM {} {clause} ORDER BY {} LIMIT {PAGE_ROWS}",
        columns.join(", "),
        t.name,
        t.key.join(", ")
    );
    let mut q = bind_all!(sqlx::query(AssertSqlSafe(sql)), after.unwrap_or_default());
    if let Some(upto) = upto {
        q = q.bind(upto);
    }
    let rows = q.fetch_all(src).await?;
    rows.iter().map(|r| decode(t, r)).collect()
}

/// A source row as values, each column read as its kind; a value of another type names the
/// table and column.
fn decode(t: &Table, row: &AnyRow) -> anyhow::Result<Vec<Value>> {
    t.columns
        .iter()
        .enumerate()
        .map(|(i, (c, kind))| {
            let v = match kind {
                Kind::Int => row.try_get(i).map(Value::Int),
                Kind::Text => row.try_get(i).map(Value::Text),
                Kind::Bytes => row.try_get(i).map(Value::Bytes),
            };
            v.map_err(|e| anyhow::anyhow!("{}.{c}: cannot read a value: {e}", t.name))
        })
        .collect()
}

/// Inserts rows with their ids, several rows per statement.
async fn insert(tx: &mut Tx<'_>, t: &Table, rows: &[Vec<Value>]) -> anyhow::Result<()> {
    let columns: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    // PostgreSQL takes up to 65535 parameters in a statement.
    let per_statement = (30_000 / columns.len()).max(1);
    for chunk in rows.chunks(per_statement) {
        let tuples: Vec<String> = (0..chunk.len())
            .map(|r| {
                let ps: Vec<String> = (1..=columns.len())
                    .map(|c| format!("${}", r * columns.len() + c))
                    .collect();
                format!("({})", ps.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            t.name,
            columns.join(", "),
            tuples.join(", ")
        );
        let values = chunk.concat();
        bind_all!(sqlx::query(AssertSqlSafe(sql)), &values)
            .execute(&mut **tx)
            .await
            .map_err(|e| anyhow::anyhow!("{}: cannot insert the rows: {e}", t.name))?;
    }
    Ok(())
}

/// Moves a table's identity past the highest copied id, so the next row the daemon adds
/// gets a new one.
async fn move_identity(tx: &mut Tx<'_>, t: &Table) -> anyhow::Result<()> {
    if !t.identity {
        return Ok(());
    }
    let sql = format!(
        "SELECT setval(pg_get_serial_sequence('{0}', 'id'), m) FROM (SELECT MAX(id) AS m FROM {0}) AS x WHERE m IS NOT NULL",
        t.name
    );
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut **tx)
        .await
        .map_err(|e| anyhow::anyhow!("{}: cannot move its identity: {e}", t.name))?;
    Ok(())
}

/// One stored mail's line in the digest: id, its sha256 column, the SHA-256 of its bytes.
fn mail_line(row: &[Value]) -> String {
    let text = |i: usize| match &row[i] {
        Value::Int(Some(n)) => n.to_string(),
        Value::Text(Some(s)) => s.clone(),
        _ => String::new(),
    };
    let bytes = match &row[11] {
        Value::Bytes(Some(b)) => hex::encode(Sha256::digest(b)),
        _ => String::new(),
    };
    format!("{}:{}:{bytes}\n", text(0), text(10))
}

/// The digest of [`mail_line`]s as the target's server computes it from what it stored.
async fn target_digest(tx: &mut Tx<'_>) -> anyhow::Result<String> {
    let mut digest = Sha256::new();
    let mut rows = sqlx::query_as::<_, (i64, String, String)>(
        "SELECT id, sha256, encode(sha256(raw), 'hex') FROM inbound_mail ORDER BY id",
    )
    .fetch(&mut **tx);
    while let Some((id, sha, bytes)) = rows.try_next().await? {
        digest.update(format!("{id}:{sha}:{bytes}\n"));
    }
    Ok(hex::encode(digest.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest's line reads the id, sha256 and raw columns where inbound_mail has them.
    #[test]
    fn a_mail_line_names_id_hash_and_bytes() {
        let t = &TABLES[0];
        assert_eq!(t.name, "inbound_mail");
        assert_eq!(t.columns[0].0, "id");
        assert_eq!(t.columns[10].0, "sha256");
        assert_eq!(t.columns[11].0, "raw");
        let mut row: Vec<Value> = t.columns.iter().map(|_| Value::Text(None)).collect();
        row[0] = Value::Int(Some(7));
        row[10] = Value::Text(Some("abc".into()));
        row[11] = Value::Bytes(Some(b"x".to_vec()));
        let line = mail_line(&row);
        assert_eq!(
            line,
            format!("7:abc:{}\n", hex::encode(Sha256::digest(b"x")))
        );
    }

    #[test]
    fn pages_continue_after_the_last_key() {
        let t = TABLES.iter().find(|t| t.name == "receipt_rate").unwrap();
        assert_eq!(after_clause(t, None).0, "WHERE TRUE");
        let after = [Value::Text(Some("a".into())), Value::Int(Some(1))];
        assert_eq!(
            after_clause(t, Some(&after)),
            ("WHERE (address, hour) > ($1, $2)".to_string(), 2)
        );
    }

    /// Nobody has a database open that does not exist.
    #[test]
    fn a_file_without_shm_is_not_in_use() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(sqlite_in_use_by(&dir.path().join("x.db")), None);
    }
}
