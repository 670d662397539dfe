//! The orders `spdesk check` judges a mail against (`--db`, `--known-orders`), so that it
//! shows what the daemon would: `form.ambiguous` for a form that names an open order its
//! sender may not change, `bestillings_id.used` for an executed order's BestillingsID.

use std::collections::HashSet;
use std::path::Path;

use crate::cli::CheckArgs;
use crate::judge::{Judgement, KnownOrders};
use crate::mail::Mail;
use crate::orders::ownership::KnownOrder;
use crate::rules::it_systems::Register;
use crate::rules::{History, NoHistory};
use crate::store::Store;

/// The largest `--known-orders` file read: a list of orders, not a database dump.
const MAX_FILE_BYTES: u64 = 64 << 20;

/// Where the known orders come from.
pub enum Known {
    /// Neither option: no orders are known (a form never names one).
    Nothing,
    /// `--known-orders FILE`.
    File(KnownOrders),
    /// `--db URL`, opened read-only.
    Db(Db),
}

/// A database opened read-only, with the runtime its queries run on.
pub struct Db {
    runtime: tokio::runtime::Runtime,
    store: Store,
    executed: HashSet<String>,
}

impl Known {
    /// From `--db` or `--known-orders`; an error names the option, the file and what to do.
    pub fn open(args: &CheckArgs) -> anyhow::Result<Known> {
        if let Some(path) = &args.known_orders {
            return Ok(Known::File(KnownOrders {
                thread: None,
                orders: read_file(path)?,
            }));
        }
        let Some(url) = &args.db else {
            return Ok(Known::Nothing);
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (store, executed) = runtime.block_on(async {
            let store = Store::open_read_only(url).await?;
            let executed = crate::store::known::executed_bestillings_ids(&store.pool)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "--db \"{url}\": cannot read the orders ({e}); is it the daemon's database?"
                    )
                })?;
            Ok::<_, anyhow::Error>((store, executed))
        })?;
        Ok(Known::Db(Db {
            runtime,
            store,
            executed,
        }))
    }

    /// What the rules know of earlier orders (before the forms are read).
    pub fn history(&self) -> &dyn History {
        match self {
            Known::Nothing => &NoHistory,
            Known::File(k) => k,
            Known::Db(db) => &db.executed,
        }
    }

    /// The judgement with every form measured against the orders the mail may name.
    pub fn aim(
        &self,
        judgement: Judgement,
        mail: &Mail,
        register: Option<&Register>,
    ) -> anyhow::Result<Judgement> {
        let known = match self {
            Known::Nothing => return Ok(judgement),
            Known::File(k) => KnownOrders::for_subject(k.orders.clone(), &mail.subject),
            Known::Db(db) => {
                let ids: Vec<&str> = judgement
                    .forms
                    .iter()
                    .filter_map(|f| f.form.bestillings_id())
                    .collect();
                db.runtime
                    .block_on(async {
                        let mut tx = db.store.pool.begin().await?;
                        crate::store::known::known_orders(&mut tx, mail, &ids).await
                    })
                    .map_err(|e| anyhow::anyhow!("--db: cannot read the known orders: {e}"))?
            }
        };
        Ok(judgement.aim_at(&known, register))
    }
}

/// Reads a `--known-orders` file: a JSON array of [`KnownOrder`]s, newest first.
fn read_file(path: &Path) -> anyhow::Result<Vec<KnownOrder>> {
    let name = path.display();
    let len = std::fs::metadata(path)
        .map_err(|e| anyhow::anyhow!("--known-orders {name}: cannot read the file: {e}"))?
        .len();
    if len > MAX_FILE_BYTES {
        anyhow::bail!(
            "--known-orders {name}: the file is {len} bytes, more than the limit of {MAX_FILE_BYTES}; list only the orders the mails may name"
        );
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--known-orders {name}: cannot read the file: {e}"))?;
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "--known-orders {name}: line {}, column {}: {e}; give a JSON array of objects with \"reference\", \"state\" and optionally \"bestillings_id\", \"requester\", \"system_uuid\"",
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wrong entry is named by the option, the file, its line and column, and the fix.
    #[test]
    fn a_wrong_known_orders_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("known.json");
        std::fs::write(
            &path,
            "[\n {\"reference\": \"SP-2026-00001\", \"state\": \"approved\"},\n {\"reference\": \"SP-2026-00002\", \"state\": \"done\"}\n]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = read_file(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let want = format!("--known-orders {}: line 3, column", path.display());
        assert!(e.starts_with(&want), "{e}");
        assert!(e.contains("unknown state \"done\""), "{e}");
        assert!(e.contains("give a JSON array"), "{e}");
    }

    /// `--db` never creates a database: a wrong path is an error that says what to give.
    #[tokio::test]
    async fn a_missing_database_is_not_created() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("none.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let e = Store::open_read_only(&url)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("--db: cannot open the database"), "{e}");
        assert!(e.contains("database.url"), "{e}");
        assert!(!file.exists());
    }
}
