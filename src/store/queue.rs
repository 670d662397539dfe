//! The web console's lists, read in SQL so a page costs the same with ten orders or ten
//! thousand: the queue (`/`: filters, search, sort and one page of rows, with the total and
//! the counts per state), the approved orders of the calendar (`/kalender`).
//!
//! Why not [`super::list_orders`] and [`OrderRow::matches`]: they load every order, which the
//! CLI can afford once per command but a page asked for many times a minute cannot. The
//! search here means what `matches` means (tested side by side below).

use chrono::{DateTime, Utc};
use sqlx::AnyPool;

use super::{ORDER_COLUMNS, OrderRow, order_from_row, ts};
use crate::orders::plan::dialogue::{CORRESPONDENCE, HANDLED, REPLY};
use crate::orders::state::State;
use crate::schedule::digest::FAILED_SHOWN_DAYS;

/// What the queue shows: every field optional, `Default` is every order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    pub state: Option<State>,
    /// The form's kind code (`webservice`, `sftp`).
    pub kind: Option<String>,
    /// Only orders that need a person: review, failed within the digest's
    /// [`FAILED_SHOWN_DAYS`], overdue (approved, planned before now) or with a message nobody
    /// has answered or marked handled.
    pub needs_action: bool,
    /// Free text as `orders list --search` reads it.
    pub search: String,
}

/// The searched columns as one text, a unit separator between them (the search text never
/// holds one, see [`needle`]), so a row costs one case fold, not one per column.
const HAYSTACK: &str = "COALESCE(ref, '') || '\u{1f}' || COALESCE(bestillings_id, '') || '\u{1f}' || COALESCE(org_name, '') || '\u{1f}' || COALESCE(system_name, '') || '\u{1f}' || COALESCE(requester, '')";

/// [`HAYSTACK`] folded for a search for `needle` that ignores case. SQLite's `lower` folds
/// only ASCII, which is all an ASCII search text needs (a UTF-8 letter beyond ASCII never holds
/// an ASCII byte); the Danish capitals (and the other Latin-1 letters a Danish name may hold)
/// are folded as well where the search text holds their small letter — only those, as each
/// fold is another pass over every row. The search text is lower-cased in Rust.
fn folded(needle: &str) -> String {
    let mut expr = format!("lower({HAYSTACK})");
    for (upper, lower) in [
        ('Æ', 'æ'),
        ('Ø', 'ø'),
        ('Å', 'å'),
        ('É', 'é'),
        ('Ä', 'ä'),
        ('Ö', 'ö'),
        ('Ü', 'ü'),
    ] {
        if needle.contains(lower) {
            expr = format!("replace({expr}, '{upper}', '{lower}')");
        }
    }
    expr
}

/// The search text as the SQL compares it: trimmed, lower case, without control characters.
fn needle(search: &str) -> String {
    search
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// The WHERE clause of the queue. Parameters: $1 state or NULL, $2 kind or NULL, $3 1 for
/// "needs action", $4 now (stored form), $5 the search text ([`needle`], '' for none), $6 the
/// search text without white space (the CVR), $7..$9 the dialogue's event names, $10 the
/// oldest failure that still needs a person (as the digest shows failures).
fn where_clause(filter: &QueueFilter) -> String {
    let search = folded(&needle(&filter.search));
    format!(
        "WHERE ($1 IS NULL OR state = $1)
           AND ($2 IS NULL OR kind = $2)
           AND ($3 = 0 OR state = 'review'
                OR (state = 'failed' AND COALESCE(incident_at, updated_at) >= $10)
                OR (state = 'approved' AND planned_at IS NOT NULL AND planned_at < $4)
                OR id IN (SELECT c.order_id FROM events c
                          WHERE c.action = $7 AND c.order_id IS NOT NULL
                            AND c.id > COALESCE((SELECT MAX(h.id) FROM events h
                                                 WHERE h.order_id = c.order_id
                                                   AND h.action IN ($8, $9)), 0)))
           AND ($5 = '' OR instr({search}, $5) > 0
                OR ($6 <> '' AND instr(COALESCE(org_cvr, ''), $6) > 0))"
    )
}

/// The queue's sort: orders still to be done first (executed and withdrawn ones last, so the
/// unfiltered queue opens on today's work, not on the oldest executed change); then by planned
/// time, orders without one after; then the newest first (the index `orders_queue` of
/// migrations/0008_web_queue.sql is this, term for term).
const QUEUE_ORDER: &str = "ORDER BY state IN ('executed', 'withdrawn'), planned_at IS NULL, planned_at, created_at DESC, id DESC";

/// Binds [`where_clause`]'s parameters, in order, to a query.
macro_rules! bind_filter {
    ($q:expr, $f:expr, $now:expr) => {{
        let needle = needle(&$f.search);
        let digits: String = needle.chars().filter(|c| !c.is_whitespace()).collect();
        $q.bind($f.state.map(State::as_str))
            .bind($f.kind.clone())
            .bind(i64::from($f.needs_action))
            .bind(ts($now))
            .bind(needle)
            .bind(digits)
            .bind(CORRESPONDENCE)
            .bind(REPLY)
            .bind(HANDLED)
            .bind(ts($now - chrono::TimeDelta::days(FAILED_SHOWN_DAYS)))
    }};
}

/// One page of the queue and how many orders the filter finds in all.
#[derive(Debug, Clone)]
pub struct QueuePage {
    pub rows: Vec<OrderRow>,
    pub total: i64,
}

/// The orders `filter` finds at `now`, sorted (see [`QUEUE_ORDER`]), `limit` of them from
/// `offset`, and their total.
pub async fn queue_page(
    pool: &AnyPool,
    filter: &QueueFilter,
    now: DateTime<Utc>,
    limit: u32,
    offset: u64,
) -> anyhow::Result<QueuePage> {
    let clause = where_clause(filter);
    let count = format!("SELECT COUNT(*) FROM orders {clause}");
    let total: i64 = bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(count)), filter, now)
        .fetch_one(pool)
        .await?;
    let sql =
        format!("SELECT {ORDER_COLUMNS} FROM orders {clause} {QUEUE_ORDER} LIMIT $11 OFFSET $12");
    let rows = bind_filter!(sqlx::query(sqlx::AssertSqlSafe(sql)), filter, now)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    Ok(QueuePage {
        rows: rows
            .iter()
            .map(order_from_row)
            .collect::<anyhow::Result<_>>()?,
        total,
    })
}

/// How many orders there are in each state (states without orders are left out).
pub async fn state_counts(pool: &AnyPool) -> anyhow::Result<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM orders GROUP BY state")
            .fetch_all(pool)
            .await?;
    Ok(rows)
}

/// How many orders need a person at `now` (the queue's "Kræver handling").
pub async fn needs_action_count(pool: &AnyPool, now: DateTime<Utc>) -> anyhow::Result<i64> {
    let filter = QueueFilter {
        needs_action: true,
        ..QueueFilter::default()
    };
    let count = format!("SELECT COUNT(*) FROM orders {}", where_clause(&filter));
    let n: i64 = bind_filter!(sqlx::query_scalar(sqlx::AssertSqlSafe(count)), filter, now)
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// The approved orders planned before `until`, earliest first: the calendar's changes (the
/// overdue ones, planned before now, included).
pub async fn approved_until(pool: &AnyPool, until: DateTime<Utc>) -> anyhow::Result<Vec<OrderRow>> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
         WHERE state = 'approved' AND planned_at IS NOT NULL AND planned_at < $1
         ORDER BY planned_at, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ts(until))
        .fetch_all(pool)
        .await?;
    rows.iter().map(order_from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        Store::open(&url).await.unwrap()
    }

    /// An order row as the intake writes it: (ref, state, kind, bestillings_id, org, cvr,
    /// system, requester, planned, created).
    type Seed<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
    );

    async fn seed(store: &Store, rows: &[Seed<'_>]) {
        for r in rows {
            sqlx::query(
                "INSERT INTO orders (ref, state, kind, bestillings_id, org_name, org_cvr, system_name,
                                     requester, planned_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
            )
            .bind(r.0)
            .bind(r.1)
            .bind(r.2)
            .bind(r.3)
            .bind(r.4)
            .bind(r.5)
            .bind(r.6)
            .bind(r.7)
            .bind(r.8.map(|p| ts(at(p))))
            .bind(ts(at(r.9)))
            .execute(&store.pool)
            .await
            .unwrap();
        }
    }

    async fn event(store: &Store, reference: &str, action: &str) {
        sqlx::query(
            "INSERT INTO events (order_id, at, actor, action)
             SELECT id, '2026-12-01T08:00:00.000Z', 'x', $2 FROM orders WHERE ref = $1",
        )
        .bind(reference)
        .bind(action)
        .execute(&store.pool)
        .await
        .unwrap();
    }

    const NOW: &str = "2026-12-10T12:00:00Z";

    fn orders() -> Vec<Seed<'static>> {
        vec![
            (
                "SP-2026-00001",
                "review",
                "webservice",
                "BD-ÆRØ-1",
                "Ærø Kommune",
                "29189846",
                "FamilieFlow",
                "fa@aero.dk",
                None,
                "2026-12-01T08:00:00Z",
            ),
            (
                "SP-2026-00002",
                "approved",
                "sftp",
                "BD-2",
                "Borgerdata I/S",
                "54921942",
                "SagsPilot",
                "lb@borgerdata.dk",
                Some("2026-12-09T09:00:00Z"),
                "2026-12-02T08:00:00Z",
            ),
            (
                "SP-2026-00003",
                "approved",
                "webservice",
                "BD-3",
                "Vestby Kommune",
                "12345674",
                "SagsPilot",
                "k@vestby.dk",
                Some("2026-12-20T09:00:00Z"),
                "2026-12-03T08:00:00Z",
            ),
            (
                "SP-2026-00004",
                "executed",
                "webservice",
                "BD-4",
                "Vestby Kommune",
                "12345674",
                "Other",
                "k@vestby.dk",
                Some("2026-12-05T09:00:00Z"),
                "2026-11-03T08:00:00Z",
            ),
            (
                "SP-2026-00005",
                "failed",
                "sftp",
                "BD-5",
                "Nordby",
                "11111111",
                "X",
                "n@nordby.dk",
                Some("2026-12-06T09:00:00Z"),
                "2026-12-08T08:00:00Z",
            ),
            (
                "SP-2026-00006",
                "rejected",
                "webservice",
                "BD-6",
                "Sydby",
                "22222222",
                "Y",
                "s@sydby.dk",
                None,
                "2026-12-04T08:00:00Z",
            ),
        ]
    }

    async fn refs(store: &Store, f: &QueueFilter) -> (Vec<String>, i64) {
        let page = queue_page(&store.pool, f, at(NOW), 50, 0).await.unwrap();
        (
            page.rows.into_iter().map(|o| o.reference).collect(),
            page.total,
        )
    }

    #[tokio::test]
    async fn the_queue_filters_searches_and_sorts_in_sql() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        seed(&store, &orders()).await;
        // Orders still to be done first; planned first (earliest first), then the unplanned
        // newest first; the executed (4) and withdrawn ones last.
        let (all, total) = refs(&store, &QueueFilter::default()).await;
        assert_eq!(total, 6);
        let n = |s: &[&str]| {
            s.iter()
                .map(|r| format!("SP-2026-0000{r}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(all, n(&["5", "2", "3", "6", "1", "4"]));

        let state = QueueFilter {
            state: Some(State::Approved),
            ..Default::default()
        };
        assert_eq!(refs(&store, &state).await, (n(&["2", "3"]), 2));
        let kind = QueueFilter {
            kind: Some("sftp".into()),
            ..Default::default()
        };
        assert_eq!(refs(&store, &kind).await, (n(&["5", "2"]), 2));

        // review, failed, overdue approved; unanswered messages count until answered.
        let action = QueueFilter {
            needs_action: true,
            ..Default::default()
        };
        assert_eq!(refs(&store, &action).await, (n(&["5", "2", "1"]), 3));
        event(&store, "SP-2026-00003", CORRESPONDENCE).await;
        assert_eq!(refs(&store, &action).await.0, n(&["5", "2", "3", "1"]));
        assert_eq!(needs_action_count(&store.pool, at(NOW)).await.unwrap(), 4);
        event(&store, "SP-2026-00003", HANDLED).await;
        assert_eq!(refs(&store, &action).await.0, n(&["5", "2", "1"]));
        // A failure older than the digest shows failures needs no one any more.
        sqlx::query("UPDATE orders SET updated_at = '2026-11-20T08:00:00.000000Z' WHERE ref = 'SP-2026-00005'")
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(refs(&store, &action).await.0, n(&["2", "1"]));
        sqlx::query("UPDATE orders SET updated_at = '2026-12-08T08:00:00.000000Z' WHERE ref = 'SP-2026-00005'")
            .execute(&store.pool)
            .await
            .unwrap();
        event(&store, "SP-2026-00003", CORRESPONDENCE).await;
        event(&store, "SP-2026-00003", REPLY).await;
        assert_eq!(needs_action_count(&store.pool, at(NOW)).await.unwrap(), 3);

        let search = |s: &str| QueueFilter {
            search: s.into(),
            ..Default::default()
        };
        assert_eq!(refs(&store, &search("ærø kommune")).await.0, n(&["1"]));
        assert_eq!(refs(&store, &search("BD-ærø")).await.0, n(&["1"]));
        assert_eq!(refs(&store, &search("sp-2026-00004")).await.0, n(&["4"]));
        assert_eq!(refs(&store, &search("5492 1942")).await.0, n(&["2"]));
        assert_eq!(refs(&store, &search("SAGSPILOT")).await.0, n(&["2", "3"]));
        assert_eq!(refs(&store, &search("@nordby")).await.0, n(&["5"]));
        assert_eq!(refs(&store, &search("  ")).await.1, 6);
        assert_eq!(refs(&store, &search("%")).await.1, 0, "no wildcards");
        assert_eq!(refs(&store, &search("' OR 1=1 --")).await.1, 0);
        let both = QueueFilter {
            search: "vestby".into(),
            state: Some(State::Executed),
            ..Default::default()
        };
        assert_eq!(refs(&store, &both).await, (n(&["4"]), 1));

        let mut counts = state_counts(&store.pool).await.unwrap();
        counts.sort();
        assert_eq!(counts.len(), 5);
        assert!(counts.contains(&("approved".into(), 2)), "{counts:?}");
    }

    /// The SQL search finds what `orders list --search` finds.
    #[tokio::test]
    async fn the_search_means_what_the_cli_search_means() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        seed(&store, &orders()).await;
        let every = crate::store::list_orders(&store.pool, None).await.unwrap();
        for text in [
            "vestby",
            "BD-",
            "2918",
            "kommune",
            "x",
            "SP-2026-0000",
            "ÆRØ",
            "fa@",
            "zzz",
            "1 2 3",
        ] {
            let f = QueueFilter {
                search: text.into(),
                ..Default::default()
            };
            let mut sql = refs(&store, &f).await.0;
            sql.sort();
            let cli: Vec<String> = every
                .iter()
                .filter(|o| o.matches(text))
                .map(|o| o.reference.clone())
                .collect();
            assert_eq!(sql, cli, "{text}");
        }
    }

    #[tokio::test]
    async fn pages_of_the_queue_follow_one_another() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        seed(&store, &orders()).await;
        let f = QueueFilter::default();
        let mut seen = Vec::new();
        for page in 0..3u64 {
            let p = queue_page(&store.pool, &f, at(NOW), 2, page * 2)
                .await
                .unwrap();
            assert_eq!(p.total, 6);
            assert_eq!(p.rows.len(), 2);
            seen.extend(p.rows.into_iter().map(|o| o.reference));
        }
        assert_eq!(seen, refs(&store, &f).await.0);
        let past = queue_page(&store.pool, &f, at(NOW), 2, 6).await.unwrap();
        assert!(past.rows.is_empty());
        assert_eq!(past.total, 6);
        let huge = queue_page(&store.pool, &f, at(NOW), 2, u64::MAX)
            .await
            .unwrap();
        assert!(huge.rows.is_empty());
    }

    /// The whole queue's page walks the sort's index (no sort of every order per page).
    #[tokio::test]
    async fn a_page_of_the_whole_queue_is_read_through_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let f = QueueFilter::default();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {ORDER_COLUMNS} FROM orders {} {QUEUE_ORDER} LIMIT $11 OFFSET $12",
            where_clause(&f)
        );
        let plan: Vec<(i64, i64, i64, String)> =
            bind_filter!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f, at(NOW))
                .bind(50)
                .bind(0)
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
        assert!(
            steps.iter().any(|s| s.contains("USING INDEX orders_queue")),
            "{steps:?}"
        );
        assert!(
            !steps.iter().any(|s| s.contains("TEMP B-TREE FOR ORDER BY")),
            "{steps:?}"
        );
    }

    #[tokio::test]
    async fn the_calendar_reads_approved_orders_until_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        seed(&store, &orders()).await;
        let got = approved_until(&store.pool, at("2026-12-15T00:00:00Z"))
            .await
            .unwrap();
        let refs: Vec<&str> = got.iter().map(|o| o.reference.as_str()).collect();
        assert_eq!(refs, ["SP-2026-00002"]);
        let got = approved_until(&store.pool, at("2027-01-15T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(got.len(), 2);
    }
}
