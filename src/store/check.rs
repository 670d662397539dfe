//! `spdesk db check`: the schema version (which of the migrations this build knows are
//! applied, with the checksums it has), the integrity of the data (SQLite: its own
//! integrity_check and foreign_key_check; PostgreSQL: rows whose parent is missing, and
//! identities behind the ids in use, as a copy that did not move them would leave) and the
//! rows per table. Reads only: the database is opened without migrations ([`Store::connect`]).

use serde::Serialize;
use sqlx::{AssertSqlSafe, Row};

use super::tables::{FOREIGN_KEYS, TABLES};
use super::{Backend, Store, migrator};

/// At most this many lines of SQLite's integrity_check are reported.
const SHOWN: usize = 20;

/// Which migrations are applied.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Schema {
    /// The latest applied migration (`None`: none is).
    pub version: Option<i64>,
    /// How many migrations this build knows, and how many of them are applied.
    pub known: usize,
    pub applied: usize,
}

/// A table and its rows.
#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    pub table: &'static str,
    pub rows: i64,
}

/// What `db check` found; `problems` is empty when all is well.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub backend: &'static str,
    pub schema: Schema,
    pub tables: Vec<TableRows>,
    pub problems: Vec<String>,
}

impl Health {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the database.
pub async fn check(store: &Store) -> anyhow::Result<Health> {
    let mut problems = Vec::new();
    let schema = schema(store, &mut problems).await;
    let mut tables = Vec::new();
    for t in TABLES {
        let sql = format!("SELECT COUNT(*) FROM {}", t.name);
        match sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
            .fetch_one(&store.pool)
            .await
        {
            Ok(rows) => tables.push(TableRows {
                table: t.name,
                rows,
            }),
            Err(e) => problems.push(format!("{}: cannot count its rows: {e}", t.name)),
        }
    }
    if tables.len() == TABLES.len() {
        match store.backend {
            Backend::Sqlite => sqlite_integrity(store, &mut problems).await?,
            Backend::Postgres => postgres_integrity(store, &mut problems).await?,
        }
    }
    Ok(Health {
        backend: store.backend.name(),
        schema,
        tables,
        problems,
    })
}

/// The applied migrations compared with the ones this build knows.
async fn schema(store: &Store, problems: &mut Vec<String>) -> Schema {
    let known = migrator(store.backend);
    let rows = sqlx::query(
        "SELECT version, checksum, CAST(CASE WHEN success THEN 1 ELSE 0 END AS BIGINT) AS ok
         FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&store.pool)
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            problems.push(format!(
                "no migration is applied ({e}): is this spdesk's database? `spdesk run` applies them"
            ));
            return Schema {
                known: known.iter().count(),
                ..Schema::default()
            };
        }
    };
    let mut applied = Vec::new();
    for r in &rows {
        let version: i64 = r.try_get(0).unwrap_or(-1);
        let checksum: Vec<u8> = r.try_get(1).unwrap_or_default();
        let ok: i64 = r.try_get(2).unwrap_or(0);
        applied.push((version, checksum, ok == 1));
    }
    compare_migrations(known, &applied, problems)
}

/// Compares applied migrations (version, checksum, success) with the known ones.
fn compare_migrations(
    known: &sqlx::migrate::Migrator,
    applied: &[(i64, Vec<u8>, bool)],
    problems: &mut Vec<String>,
) -> Schema {
    let mut schema = Schema {
        version: applied.iter().map(|a| a.0).max(),
        known: known.iter().count(),
        applied: 0,
    };
    for m in known.iter() {
        match applied.iter().find(|a| a.0 == m.version) {
            None => problems.push(format!(
                "migration {} ({}) is not applied: start `spdesk run` (or any command that opens the database) once to apply it",
                m.version, m.description
            )),
            Some((_, _, false)) => problems.push(format!(
                "migration {} ({}) failed part way: restore a backup, or repair it by hand",
                m.version, m.description
            )),
            Some((_, sum, true)) if sum.as_slice() != m.checksum.as_ref() => problems.push(format!(
                "migration {} ({}) was applied with another text than this spdesk's: the database was migrated by another build",
                m.version, m.description
            )),
            Some(_) => schema.applied += 1,
        }
    }
    for (v, _, _) in applied {
        if !known.iter().any(|m| m.version == *v) {
            problems.push(format!(
                "migration {v} is applied but this spdesk does not know it: the database belongs to a newer spdesk"
            ));
        }
    }
    schema
}

/// SQLite's own checks: the file's structure, and every foreign key.
async fn sqlite_integrity(store: &Store, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&store.pool)
        .await?;
    if lines != ["ok"] {
        let shown = lines.iter().take(SHOWN);
        problems.extend(shown.map(|l| format!("integrity_check: {l}")));
    }
    let rows = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&store.pool)
        .await?;
    let mut found: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for r in &rows {
        let table: String = r.try_get(0)?;
        let parent: String = r.try_get(2)?;
        *found.entry((table, parent)).or_default() += 1;
    }
    for ((table, parent), n) in found {
        problems.push(format!(
            "{table}: {n} row(s) refer to a row of {parent} that does not exist (foreign_key_check)"
        ));
    }
    Ok(())
}

/// PostgreSQL: rows whose parent is missing (a foreign key dropped or bypassed), and
/// identities that would hand out an id already in use.
async fn postgres_integrity(store: &Store, problems: &mut Vec<String>) -> anyhow::Result<()> {
    for (child, column, parent) in FOREIGN_KEYS {
        let sql = format!(
            "SELECT COUNT(*) FROM {child} AS c WHERE c.{column} IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE p.id = c.{column})"
        );
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&store.pool)
            .await?;
        if n > 0 {
            problems.push(format!(
                "{child}.{column}: {n} row(s) refer to a row of {parent} that does not exist"
            ));
        }
    }
    for t in TABLES.iter().filter(|t| t.identity) {
        let sql = format!(
            "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT),
                    CAST(COALESCE((SELECT s.last_value FROM pg_sequences AS s
                          WHERE format('%I.%I', s.schemaname, s.sequencename) = pg_get_serial_sequence('{0}', 'id')), 0) AS BIGINT)
             FROM {0}",
            t.name
        );
        let (max, last): (i64, i64) = sqlx::query_as(AssertSqlSafe(sql))
            .fetch_one(&store.pool)
            .await?;
        if last < max {
            problems.push(format!(
                "{0}: its identity is at {last}, behind the highest id {max}: new rows would clash; move it with SELECT setval(pg_get_serial_sequence('{0}', 'id'), {max})",
                t.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied_all(m: &sqlx::migrate::Migrator) -> Vec<(i64, Vec<u8>, bool)> {
        m.iter()
            .map(|m| (m.version, m.checksum.to_vec(), true))
            .collect()
    }

    #[test]
    fn every_migration_applied_is_no_problem() {
        let m = migrator(Backend::Sqlite);
        let mut problems = Vec::new();
        let s = compare_migrations(m, &applied_all(m), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.applied, s.known);
        assert_eq!(s.version, m.iter().map(|m| m.version).max());
    }

    /// A missing migration, another text, a failed one and one from a newer spdesk are each
    /// named.
    #[test]
    fn each_schema_problem_is_named() {
        let m = migrator(Backend::Postgres);
        let mut applied = applied_all(m);
        applied.remove(1);
        applied[0].1 = vec![0; 48];
        applied[2].2 = false;
        applied.push((99, vec![], true));
        let mut problems = Vec::new();
        let s = compare_migrations(m, &applied, &mut problems);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("another text"), "{problems:?}");
        assert!(problems[1].contains("not applied"), "{problems:?}");
        assert!(problems[2].contains("failed"), "{problems:?}");
        assert!(problems[3].contains("newer spdesk"), "{problems:?}");
        assert_eq!((s.version, s.applied), (Some(99), s.known - 3));
    }
}
