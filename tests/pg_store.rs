//! The store on a real PostgreSQL server, whatever the server's own settings: one write
//! transaction at a time across every instance, each seeing what the one before it committed.

mod common;

use std::time::Duration;

use common::postgres::Postgres;
use spdesk::store::Store;

/// A database whose default isolation is REPEATABLE READ (a DBA's `ALTER DATABASE … SET
/// default_transaction_isolation`): a writer that waited for the write lock still reads the
/// rows the writer before it committed, so a read-then-write never acts on a stale snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn a_writer_sees_what_the_writer_before_it_committed_whatever_the_default_isolation() {
    let pg = Postgres::shared();
    let url = pg.new_database();
    let name = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap()
        .to_string();
    pg.psql(&format!(
        "ALTER DATABASE {name} SET default_transaction_isolation = 'repeatable read'"
    ));
    let store = Store::open(&pg.url_with_password(&url)).await.unwrap();

    let mut first = store.begin().await.unwrap();
    sqlx::query("INSERT INTO jobs (name, last_run) VALUES ('digest', 'then')")
        .execute(&mut *first)
        .await
        .unwrap();
    let other = store.clone();
    let second = tokio::spawn(async move {
        // Waits for `first`'s lock, then reads as any read-then-write in the store does.
        let mut tx = other.begin().await.unwrap();
        let seen: Vec<String> =
            sqlx::query_scalar("SELECT last_run FROM jobs WHERE name = 'digest'")
                .fetch_all(&mut *tx)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        seen
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !second.is_finished(),
        "the second writer must wait for the first"
    );
    first.commit().await.unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second writer goes on once the first commits")
        .unwrap();
    assert_eq!(seen, vec!["then".to_string()]);
}

/// The outbox's claims on PostgreSQL: a mail claimed by one instance is renewed by it right
/// before it is sent; once its lease ran out and another instance took it, the first one's
/// renewal fails and it leaves the mail alone, so the mail is sent once.
#[tokio::test(flavor = "multi_thread")]
async fn a_queued_mail_taken_over_by_another_instance_is_not_sent_by_the_first() {
    use chrono::{Duration as Span, Utc};
    use spdesk::store::claims::Claimant;
    use spdesk::store::outbox::{due, renew_claim};
    let pg = Postgres::shared();
    let store = Store::open(&pg.url_with_password(&pg.new_database()))
        .await
        .unwrap();
    let t0 = Utc::now();
    sqlx::query(
        "INSERT INTO outbox (kind, message_id, envelope_from, recipients, raw, created_at, next_attempt_at)
         VALUES ('modtaget', 'm@h.test', 'a@b.test', '[\"c@d.test\"]', $1, $2, $2)",
    )
    .bind(b"mail".to_vec())
    .bind(spdesk::store::ts(t0 - Span::seconds(5)))
    .execute(&store.pool)
    .await
    .unwrap();
    let claimant = |name: &str| Claimant {
        holder: name.to_string(),
        lease: Duration::from_secs(30),
    };
    let (a, b) = (claimant("a"), claimant("b"));
    let mut conn = store.pool.acquire().await.unwrap();
    let id = due(&mut conn, t0, 10, &a).await.unwrap()[0].id;
    assert!(due(&mut conn, t0, 10, &b).await.unwrap().is_empty());
    let renewed = t0 + Span::seconds(150);
    assert!(renew_claim(&mut conn, id, renewed, &a).await.unwrap());
    assert!(
        due(&mut conn, t0 + Span::seconds(60), 10, &b)
            .await
            .unwrap()
            .is_empty()
    );
    let long_after = t0 + Span::seconds(200);
    assert_eq!(due(&mut conn, long_after, 10, &b).await.unwrap().len(), 1);
    assert!(!renew_claim(&mut conn, id, long_after, &a).await.unwrap());
}
