//! `spdesk db copy` and `spdesk db check` with the real binary: an installation on SQLite
//! takes forms and a user, is stopped and copied into a new PostgreSQL database (counts
//! printed and equal), both pass `db check`, and a daemon on the copy goes on where the old
//! one stopped (the next reference, no id clash). A running daemon, a target holding data and
//! a target that is not PostgreSQL are refused; `db check` finds planted damage.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::daemon::Daemon;
use common::postgres::{self, Postgres};
use common::{HELPDESK, MailStack};

const CONNECT: Duration = Duration::from_secs(30);
const RECEIPTS: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(15);

fn text(out: &std::process::Output) -> String {
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The `TABLE SOURCE TARGET` lines of `db copy`'s output.
fn copied_counts(stdout: &str) -> BTreeMap<String, (i64, i64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w[..] {
                [table, source, target] => Some((
                    table.to_string(),
                    (source.parse().ok()?, target.parse().ok()?),
                )),
                _ => None,
            }
        })
        .collect()
}

/// `db check --json` run by `d`'s config: exit code and the report.
fn check_json(d: &Daemon) -> (i32, serde_json::Value) {
    let out = d.cli(&["db", "check", "--json"]);
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("db check --json: not JSON ({e}): {}", text(&out)));
    (out.status.code().unwrap_or(-1), json)
}

fn rows_per_table(report: &serde_json::Value) -> BTreeMap<String, i64> {
    report["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| {
            let table = t["table"].as_str().expect("table").to_string();
            (table, t["rows"].as_i64().expect("rows"))
        })
        .collect()
}

/// The number of a reference SP-YYYY-NNNNN.
fn number_of(reference: &str) -> u32 {
    let n = reference.rsplit('-').next().unwrap_or_default();
    n.parse()
        .unwrap_or_else(|e| panic!("reference {reference}: {e}"))
}

/// The SQLite installation with three orders (mails, versions, events, receipts sent) and a
/// user, stopped.
async fn old_installation(stack: &MailStack) -> Daemon {
    let mut d = Daemon::new(stack, HELPDESK);
    d.start();
    d.wait_log("IMAP connected", 1, CONNECT).await;
    for i in 1..=3 {
        stack
            .send_form(&format!("MOVE-{i}"), &format!("Bestilling {i}"))
            .await;
    }
    d.wait_orders(3, RECEIPTS).await;
    d.wait_inbox_empty(stack, RECEIPTS).await;
    d.wait_all_delivered(stack, RECEIPTS).await;
    let pw = d.dir().join("anna.pw");
    std::fs::write(&pw, "a long enough password").unwrap();
    let out = d.cli(&[
        "users",
        "add",
        "anna",
        "--role",
        "admin",
        "--password-file",
        &pw.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn an_installation_moves_to_postgres_and_goes_on_there() {
    let stack = MailStack::start(&[]);
    let mut old = old_installation(&stack).await;
    let pg = Postgres::shared();
    let url = pg.new_database();
    let pw_file = old.dir().join("target.pw");
    std::fs::write(&pw_file, format!("{}\n", postgres::PASSWORD)).unwrap();
    let copy_args = [
        "db",
        "copy",
        "--to",
        url.as_str(),
        "--to-password-file",
        pw_file.to_str().unwrap(),
    ];
    if !old.on_pg() {
        // The daemon has the SQLite file open: a copy now would miss what it writes next.
        let out = old.cli(&copy_args);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("stop the daemon"),
            "{}",
            text(&out)
        );
    }
    old.terminate();
    old.wait_exit(STOP).await;

    // A copy killed before its commit leaves nothing but the schema: the next one is let in.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_spdesk"))
        .arg("--config")
        .arg(old.config_path())
        .args(copy_args)
        .env("SPDESK_FAILPOINT", "db_copy_before_commit")
        .env("SPDESK_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "killed before the commit: {}",
        text(&out)
    );
    let mut new = Daemon::on_postgres(&stack, HELPDESK, &pg, &url);
    let (code, killed) = check_json(&new);
    assert_eq!(code, 0, "{killed:#}");
    assert!(
        rows_per_table(&killed).values().all(|n| *n == 0),
        "{killed:#}"
    );

    let out = old.cli(&copy_args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(!all.contains(postgres::PASSWORD), "password shown: {all}");
    let counts = copied_counts(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(counts.len(), 14, "a line per table: {all}");
    for (table, (source, target)) in &counts {
        assert_eq!(source, target, "{table}: {all}");
    }
    for table in [
        "inbound_mail",
        "orders",
        "order_versions",
        "events",
        "outbox",
    ] {
        assert!(counts[table].0 >= 3, "{table}: {all}");
    }
    assert_eq!(counts["orders"].0, 3, "{all}");
    assert_eq!(counts["users"].0, 1, "{all}");

    // Both databases pass db check, with the same rows.
    let (code, before) = check_json(&old);
    assert_eq!(code, 0, "{before:#}");
    let (code, after) = check_json(&new);
    assert_eq!(code, 0, "{after:#}");
    assert_eq!(after["backend"], "postgres");
    assert_eq!(after["schema"]["applied"], after["schema"]["known"]);
    assert_eq!(after["problems"], serde_json::json!([]));
    assert_eq!(rows_per_table(&before), rows_per_table(&after));
    let copied: BTreeMap<String, i64> = counts.iter().map(|(t, (s, _))| (t.clone(), *s)).collect();
    assert_eq!(rows_per_table(&after), copied);

    // A copy into a database that holds data is refused, and changes nothing.
    let out = old.cli(&copy_args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds data"),
        "{}",
        text(&out)
    );
    assert_eq!(rows_per_table(&check_json(&new).1), copied);

    // The daemon on the copy goes on: the next reference, new ids past the copied ones.
    let refs: Vec<u32> = old
        .orders()
        .iter()
        .map(|o| number_of(o["ref"].as_str().expect("ref")))
        .collect();
    new.start();
    new.wait_log("IMAP connected", 1, CONNECT).await;
    stack.send_form("MOVE-4", "Bestilling 4").await;
    let orders = new.wait_orders(4, RECEIPTS).await;
    let fourth = orders
        .iter()
        .find(|o| o["bestillings_id"] == "MOVE-4")
        .unwrap_or_else(|| panic!("no order MOVE-4: {orders:#?}"));
    let fourth_ref = fourth["ref"].as_str().expect("ref");
    assert_eq!(
        number_of(fourth_ref),
        refs.iter().max().unwrap() + 1,
        "{fourth_ref} after {refs:?}"
    );
    new.wait_all_delivered(&stack, RECEIPTS).await;
    let out = new.cli(&["users", "list", "--json"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"anna\""),
        "{}",
        text(&out)
    );
    new.terminate();
    new.wait_exit(STOP).await;
    let (code, report) = check_json(&new);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(rows_per_table(&report)["orders"], 4);

    // On PostgreSQL, db check finds the rows whose order is gone (the foreign keys dropped).
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&pg.url_with_password(&url))
        .await
        .unwrap();
    for planted in [
        "ALTER TABLE order_versions DROP CONSTRAINT order_versions_order_id_fkey",
        "ALTER TABLE events DROP CONSTRAINT events_order_id_fkey",
        "ALTER TABLE outbox DROP CONSTRAINT outbox_order_id_fkey",
        "DELETE FROM orders WHERE id = (SELECT MIN(order_id) FROM order_versions)",
    ] {
        sqlx::query(planted).execute(&mut conn).await.unwrap();
    }
    drop(conn);
    let (code, report) = check_json(&new);
    assert_eq!(code, 1, "{report:#}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("order_versions.order_id: 1 row(s) refer to a row of orders"),
        "{report:#}"
    );
}

/// `db check` finds damage: on SQLite an order deleted under its versions (foreign keys
/// off), on PostgreSQL an identity moved back behind the ids in use.
#[tokio::test(flavor = "multi_thread")]
async fn db_check_finds_planted_damage() {
    let stack = MailStack::start(&[]);
    let mut d = old_installation(&stack).await;
    d.terminate();
    d.wait_exit(STOP).await;
    let (code, report) = check_json(&d);
    assert_eq!(code, 0, "{report:#}");
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&d.db_url())
        .await
        .unwrap();
    let planted = if d.on_pg() {
        "SELECT setval(pg_get_serial_sequence('orders', 'id'), 1)"
    } else {
        sqlx::query("PRAGMA foreign_keys = OFF")
            .execute(&mut conn)
            .await
            .unwrap();
        "DELETE FROM orders WHERE id = (SELECT MIN(order_id) FROM order_versions)"
    };
    sqlx::query(planted).execute(&mut conn).await.unwrap();
    drop(conn);
    let (code, report) = check_json(&d);
    assert_eq!(code, 1, "{report:#}");
    let problems = report["problems"].to_string();
    if d.on_pg() {
        assert!(
            problems.contains("orders: its identity is at 1"),
            "{report:#}"
        );
    } else {
        assert!(
            problems.contains("order_versions: 1 row(s) refer to a row of orders"),
            "{report:#}"
        );
    }
    let out = d.cli(&["db", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("problem: "),
        "{}",
        text(&out)
    );
}

/// `db copy` writes only into PostgreSQL: anything else is a usage error.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_into_anything_but_postgres_is_a_usage_error() {
    let stack = MailStack::shared(&[]);
    let d = Daemon::new(&stack, "usage@example.test");
    let target = d.dir().join("other.db");
    let to = format!("sqlite://{}?mode=rwc", target.display());
    let out = d.cli(&["db", "copy", "--to", &to]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give postgres://"),
        "{}",
        text(&out)
    );
    assert!(!target.exists(), "nothing was created");
    if !d.on_pg() {
        // The daemon never ran: there is no database to copy or check, and none is made.
        for args in [
            &["db", "check"][..],
            &["db", "copy", "--to", "postgres://x@127.0.0.1/x"],
        ] {
            let out = d.cli(args);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("does not exist"),
                "{}",
                text(&out)
            );
        }
        assert!(!d.dir().join("spdesk.db").exists(), "no database was made");
    }
    let out = d.cli(&[
        "db",
        "copy",
        "--to",
        "postgres://x@127.0.0.1/x",
        "--to-password-env",
        "SPDESK_NO_SUCH_VARIABLE",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the variable is not set"),
        "{}",
        text(&out)
    );
}

/// A mailbox of large mails and tables of many rows are copied a page at a time (pages of
/// mails bounded by size, one mail larger than a page alone; composite keys paged in order),
/// every row and byte arriving, and the identities moved past the copied ids.
#[tokio::test(flavor = "multi_thread")]
async fn large_mails_and_many_rows_are_copied_page_by_page() {
    use spdesk::store::Store;
    use spdesk::store::copy::{PAGE_BYTES, copy};
    let dir = tempfile::tempdir().unwrap();
    let source_url = format!("sqlite://{}?mode=rwc", dir.path().join("big.db").display());
    let source = Store::open(&source_url).await.unwrap();
    let mut tx = source.begin().await.unwrap();
    let sizes: Vec<usize> = (0..12)
        .map(|i| {
            if i == 5 {
                PAGE_BYTES as usize + 1000
            } else {
                1 << 20
            }
        })
        .collect();
    for (i, size) in sizes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO inbound_mail (message_key, mailbox, internal_date, stored_at, sha256, raw, disposition)
             VALUES ($1, 'INBOX', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', $1, $2, 'ignored')",
        )
        .bind(format!("key-{i}"))
        .bind(vec![b'a' + i as u8; *size])
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    for i in 0..1234i64 {
        sqlx::query("INSERT INTO receipt_rate (address, hour, n) VALUES ($1, $2, $3)")
            .bind(format!("a{}@example.test", i % 7))
            .bind(i)
            .bind(i + 1)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let pg = Postgres::shared();
    let target = Store::connect(&pg.url_with_password(&pg.new_database()))
        .await
        .unwrap();
    target.migrate().await.unwrap();
    let report = copy(&source, &target).await.unwrap();
    assert!(report.committed && report.agrees(), "{report:#?}");
    let count = |t: &str| report.counts.iter().find(|c| c.table == t).unwrap().target;
    assert_eq!((count("inbound_mail"), count("receipt_rate")), (12, 1234));

    let stored: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, CAST(octet_length(raw) AS BIGINT) FROM inbound_mail ORDER BY id",
    )
    .fetch_all(&target.pool)
    .await
    .unwrap();
    let want: Vec<(i64, i64)> = (1..).zip(sizes.iter().map(|s| *s as i64)).collect();
    assert_eq!(stored, want);
    let sum: i64 = sqlx::query_scalar("SELECT CAST(SUM(n) AS BIGINT) FROM receipt_rate")
        .fetch_one(&target.pool)
        .await
        .unwrap();
    assert_eq!(sum, 1234 * 1235 / 2);
    // The next mail stored on the target gets the next id.
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO inbound_mail (message_key, mailbox, internal_date, stored_at, sha256, raw, disposition)
         VALUES ('new', 'INBOX', 'x', 'x', 'x', $1, 'ignored') RETURNING id",
    )
    .bind(b"x".to_vec())
    .fetch_one(&target.pool)
    .await
    .unwrap();
    assert_eq!(id, 13);
}
