//! The orders a mail may name, as the judge is told of them ([`KnownOrder`]): the order of the
//! mail's thread and the orders with a form's BestillingsID. The daemon reads them in the
//! transaction that stores the mail; `spdesk check --db` reads them from a database it opens
//! read-only.

use std::collections::HashSet;
use std::str::FromStr;

use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;

use crate::judge::KnownOrders;
use crate::mail::Mail;
use crate::orders::ownership::KnownOrder;
use crate::orders::state::find_reference;
use crate::store::{ORDER_COLUMNS, OrderRow, Store, Tx, order_by_receipt_id, order_by_ref};

/// What the judge knows of an order: its row, and the it-system of its newest version.
pub fn known_order(o: &OrderRow, system_uuid: Option<String>) -> KnownOrder {
    KnownOrder {
        reference: o.reference.clone(),
        bestillings_id: o.bestillings_id.clone(),
        state: o.state,
        requester: o.requester.clone(),
        system_uuid,
    }
}

/// The orders with this BestillingsID, newest first, each with the it-system UUID of its
/// newest version (what the register is asked about): one query.
pub async fn orders_named(
    tx: &mut Tx<'_>,
    id: &str,
) -> anyhow::Result<Vec<(OrderRow, KnownOrder)>> {
    let uuid = match super::Backend::of(tx) {
        super::Backend::Sqlite => "CAST(json_extract(v.judgement, '$.fields.system_uuid') AS TEXT)",
        super::Backend::Postgres => "v.judgement::jsonb #>> '{fields,system_uuid}'",
    };
    let sql = format!(
        "SELECT {ORDER_COLUMNS},
                (SELECT {uuid}
                 FROM order_versions v WHERE v.order_id = orders.id
                 ORDER BY v.version DESC LIMIT 1) AS system_uuid
         FROM orders WHERE bestillings_id = $1 ORDER BY id DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| {
            let order = super::order_from_row(r)?;
            let uuid: Option<String> = sqlx::Row::try_get(r, "system_uuid")?;
            let known = known_order(&order, uuid);
            Ok((order, known))
        })
        .collect()
}

/// The order a mail replies to: a reference in the subject, or one of our receipts in
/// In-Reply-To/References.
pub async fn thread_order(tx: &mut Tx<'_>, mail: &Mail) -> anyhow::Result<Option<OrderRow>> {
    if let Some(r) = find_reference(&mail.subject)
        && let Some(o) = order_by_ref(&mut **tx, &r).await?
    {
        return Ok(Some(o));
    }
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if let Some(o) = order_by_receipt_id(tx, id).await? {
            return Ok(Some(o));
        }
    }
    Ok(None)
}

/// Every order a mail whose forms carry `ids` may name: its thread's order and the orders with
/// each BestillingsID (`spdesk check --db`).
pub async fn known_orders(
    tx: &mut Tx<'_>,
    mail: &Mail,
    ids: &[&str],
) -> anyhow::Result<KnownOrders> {
    let mut orders: Vec<KnownOrder> = Vec::new();
    for id in ids {
        for (_, known) in orders_named(tx, id).await? {
            if !orders.iter().any(|o| o.reference == known.reference) {
                orders.push(known);
            }
        }
    }
    let thread = match thread_order(tx, mail).await? {
        Some(o) => {
            let uuid = super::order_system_uuid(tx, o.id).await?;
            Some(known_order(&o, uuid))
        }
        None => None,
    };
    Ok(KnownOrders { thread, orders })
}

/// The BestillingsIDs of executed orders (`bestillings_id.used`).
pub async fn executed_bestillings_ids(pool: &AnyPool) -> anyhow::Result<HashSet<String>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT bestillings_id FROM orders WHERE state = 'executed' AND bestillings_id IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().collect())
}

impl Store {
    /// Opens an existing database for reading only: nothing is created, migrated or written
    /// (`spdesk check --db` beside a running daemon).
    pub async fn open_read_only(url: &str) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let shown = crate::config::redact_url(url);
        let (backend, url) = match super::Backend::of_url(url) {
            Some(super::Backend::Sqlite) => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(|e| anyhow::anyhow!("--db \"{shown}\": not a database URL ({e})"))?;
                let file = opts.get_filename().display().to_string();
                if !opts.get_filename().exists() {
                    anyhow::bail!(
                        "--db: cannot open the database {file} for reading (no such file); give the path of the daemon's database (database.url)"
                    );
                }
                let ro = format!(
                    "sqlite://{}?mode=ro",
                    crate::config::percent_encode_path(&file)
                );
                (super::Backend::Sqlite, ro)
            }
            // A read-only session: the server refuses any write.
            Some(super::Backend::Postgres) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let ro = format!("{url}{sep}options=-c%20default_transaction_read_only%3Don");
                (super::Backend::Postgres, ro)
            }
            None => anyhow::bail!(
                "--db \"{shown}\": not a database URL; give the daemon's database.url, e.g. sqlite://var/spdesk.db"
            ),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect_with(AnyConnectOptions::from_str(&url)?)
            .await
            .map_err(|e| {
                anyhow::anyhow!("--db: cannot open the database {shown} for reading ({e}); give the daemon's database.url")
            })?;
        Ok(Store {
            pool,
            backend,
            claimant: Default::default(),
        })
    }
}
