//! Several instances on one database: which instance works on a mail. Before judging a mail an
//! instance claims it (its attempt row names the instance and holds a lease); another instance
//! that meets the same mail leaves it alone, and takes it over once the lease has run out, as
//! its holder must have died. The order itself is made once whatever happens: the mail's row is
//! unique by its content identity, written in the one transaction that makes the order.
//! The outbox's claims are in [`super::outbox::due`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::inbound::Place;
use super::{Store, ts};

/// Who claims, and for how long: one per running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// The instance's name: its host and config file, so a restarted instance takes its own
    /// claims back at once, and two instances with their own configs never share one.
    pub holder: String,
    /// How long a claim holds without its holder finishing (`database.lease_timeout`).
    pub lease: Duration,
}

impl Claimant {
    /// The name of the instance running on this host with the config at `config`.
    pub fn for_instance(config: Option<&std::path::Path>, lease: Duration) -> Claimant {
        let config = config
            .map(|p| {
                std::fs::canonicalize(p)
                    .unwrap_or_else(|_| p.to_path_buf())
                    .display()
                    .to_string()
            })
            .unwrap_or_default();
        Claimant {
            holder: format!("{}:{config}", host_name()),
            lease,
        }
    }

    /// When a claim taken at `now` runs out.
    pub fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX)
    }
}

impl Default for Claimant {
    /// A command that is not the daemon (`spdesk orders …`) claims nothing, but has a name.
    fn default() -> Claimant {
        Claimant::for_instance(None, crate::config::DEFAULT_LEASE_TIMEOUT)
    }
}

/// This machine's host name ("localhost" when it has none).
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// What became of a claim on a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailClaim {
    /// Ours: judge it. `attempts` counts this one (a mail that kills its holder again and
    /// again is quarantined after `max_attempts`, whichever instances tried).
    Mine { attempts: i64 },
    /// Stored before (by us, or by an instance whose lease ran out): only the move out of the
    /// inbox is left.
    Stored,
    /// Another instance works on it (or stored it and is about to move it) and its lease
    /// holds: leave it to that instance.
    HeldElsewhere { holder: String },
}

/// Claims the mail `key` at `place` for `me`, counting an attempt, committed before judging
/// starts (so a crash counts too) — unless it is stored, or claimed by another instance whose
/// lease holds. One statement in the usual case, where nobody else has it.
pub async fn claim_mail(
    store: &Store,
    key: &str,
    place: &Place<'_>,
    me: &Claimant,
) -> anyhow::Result<MailClaim> {
    let now = Utc::now();
    // The WHERE also keeps SQLite's parser from reading ON CONFLICT as part of the SELECT.
    let n: Option<i64> = sqlx::query_scalar(
        "INSERT INTO intake_attempts (message_key, attempts, last_at, holder, lease_until)
         SELECT $1, 1, $2, $6, $7
         WHERE NOT EXISTS (SELECT 1 FROM inbound_mail
                           WHERE message_key = $1 OR (mailbox = $3 AND uidvalidity = $4 AND uid = $5))
         ON CONFLICT (message_key) DO UPDATE
             SET attempts = intake_attempts.attempts + 1, last_at = excluded.last_at,
                 holder = excluded.holder, lease_until = excluded.lease_until
             WHERE intake_attempts.holder IS NULL OR intake_attempts.holder = excluded.holder
                OR intake_attempts.lease_until IS NULL OR intake_attempts.lease_until <= excluded.last_at
         RETURNING attempts",
    )
    .bind(key)
    .bind(ts(now))
    .bind(place.mailbox)
    .bind(place.uidvalidity.map(i64::from))
    .bind(place.uid.map(i64::from))
    .bind(&me.holder)
    .bind(ts(me.lease_until(now)))
    .fetch_optional(&store.pool)
    .await?;
    if let Some(attempts) = n {
        return Ok(MailClaim::Mine { attempts });
    }
    // Nothing counted: stored, or someone else's. Only then is it looked up again. A mail
    // another instance stored and has not yet moved is left to that instance to move, while
    // its lease holds.
    let (live_holder, stored): (Option<String>, i64) = sqlx::query_as(
        "SELECT (SELECT holder FROM intake_attempts
                 WHERE message_key = $1 AND holder <> $5 AND lease_until > $6) AS live_holder,
                CASE WHEN EXISTS (SELECT 1 FROM inbound_mail
                                  WHERE message_key = $1 OR (mailbox = $2 AND uidvalidity = $3 AND uid = $4))
                     THEN 1 ELSE 0 END AS stored",
    )
    .bind(key)
    .bind(place.mailbox)
    .bind(place.uidvalidity.map(i64::from))
    .bind(place.uid.map(i64::from))
    .bind(&me.holder)
    .bind(ts(now))
    .fetch_one(&store.pool)
    .await?;
    Ok(match live_holder {
        Some(holder) => MailClaim::HeldElsewhere { holder },
        None if stored == 1 => take_over_move(store, key, me, now).await?,
        // The other's lease ran out between the two statements: the next look takes it.
        None => MailClaim::HeldElsewhere {
            holder: String::new(),
        },
    })
}

/// A stored mail whose holder's lease ran out (it died before moving it) is moved by one
/// instance only: the first to take over its claim. Two instances moving the same message at
/// once can leave two copies of it in the processed folder.
async fn take_over_move(
    store: &Store,
    key: &str,
    me: &Claimant,
    now: DateTime<Utc>,
) -> anyhow::Result<MailClaim> {
    let taken: Option<i64> = sqlx::query_scalar(
        "UPDATE intake_attempts SET holder = $2, lease_until = $3
         WHERE message_key = $1
           AND (holder IS NULL OR holder = $2 OR lease_until IS NULL OR lease_until <= $4)
         RETURNING attempts",
    )
    .bind(key)
    .bind(&me.holder)
    .bind(ts(me.lease_until(now)))
    .bind(ts(now))
    .fetch_optional(&store.pool)
    .await?;
    if taken.is_some() {
        return Ok(MailClaim::Stored);
    }
    let holder: Option<Option<String>> =
        sqlx::query_scalar("SELECT holder FROM intake_attempts WHERE message_key = $1")
            .bind(key)
            .fetch_optional(&store.pool)
            .await?;
    Ok(match holder {
        // Stored without a claim (an older version, `spdesk db copy`): nobody else moves it.
        None => MailClaim::Stored,
        Some(holder) => MailClaim::HeldElsewhere {
            holder: holder.unwrap_or_default(),
        },
    })
}

/// Renews `me`'s claims on the mails `keys` (those of the batch in hand, stored and not yet
/// moved): a batch can take longer than one lease, and another instance must not move a mail
/// its holder is about to move.
pub async fn renew_mails(store: &Store, keys: &[String], me: &Claimant) -> anyhow::Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let keys = serde_json::to_string(keys)?;
    sqlx::query(store.backend.pick(
        "UPDATE intake_attempts SET lease_until = $1
         WHERE holder = $2 AND message_key IN (SELECT value FROM json_each($3))",
        "UPDATE intake_attempts SET lease_until = $1
         WHERE holder = $2 AND message_key IN (SELECT jsonb_array_elements_text($3::jsonb))",
    ))
    .bind(ts(me.lease_until(Utc::now())))
    .bind(&me.holder)
    .bind(keys)
    .execute(&store.pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        Store::open(&url).await.unwrap()
    }

    fn me(name: &str, lease_ms: u64) -> Claimant {
        Claimant {
            holder: name.to_string(),
            lease: Duration::from_millis(lease_ms),
        }
    }

    const PLACE: Place<'static> = Place {
        mailbox: "INBOX",
        uidvalidity: Some(7),
        uid: Some(1),
    };

    #[tokio::test]
    async fn a_mail_is_claimed_by_one_instance_until_its_lease_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let a = me("a", 300);
        let b = me("b", 300);
        assert_eq!(
            claim_mail(&s, "k", &PLACE, &a).await.unwrap(),
            MailClaim::Mine { attempts: 1 }
        );
        assert_eq!(
            claim_mail(&s, "k", &PLACE, &b).await.unwrap(),
            MailClaim::HeldElsewhere {
                holder: "a".to_string()
            }
        );
        // The holder itself (restarted) takes it back at once, counting another attempt.
        assert_eq!(
            claim_mail(&s, "k", &PLACE, &a).await.unwrap(),
            MailClaim::Mine { attempts: 2 }
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            claim_mail(&s, "k", &PLACE, &b).await.unwrap(),
            MailClaim::Mine { attempts: 3 },
            "a lease that ran out is taken over, and the holder's attempts still count"
        );
    }

    /// Stores mail "k" at [`PLACE`], as an instance's commit does.
    async fn store_mail_at_place(s: &Store) {
        let mut tx = s.begin().await.unwrap();
        let now = Utc::now();
        let mail = crate::store::mail::Inbound {
            key: "k",
            message_id: None,
            mailbox: PLACE.mailbox,
            uidvalidity: PLACE.uidvalidity,
            uid: PLACE.uid,
            internal_date: now,
            sender: None,
            subject: "",
            sha256: "x",
            raw: b"x",
            disposition: "order",
        };
        crate::store::mail::insert_inbound(&mut tx, &mail, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_stored_mail_is_claimed_by_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        store_mail_at_place(&s).await;
        for key in ["k", "other key, same place"] {
            assert_eq!(
                claim_mail(&s, key, &PLACE, &me("a", 1000)).await.unwrap(),
                MailClaim::Stored
            );
        }
    }

    #[tokio::test]
    async fn a_stored_mail_left_by_a_dead_holder_is_moved_by_one_instance_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let (a, b, c) = (me("a", 200), me("b", 200), me("c", 200));
        assert_eq!(
            claim_mail(&s, "k", &PLACE, &a).await.unwrap(),
            MailClaim::Mine { attempts: 1 }
        );
        store_mail_at_place(&s).await;
        // a stored it and is about to move it: the others leave it, also once its batch
        // outlasts the first lease, as long as a renews.
        assert!(matches!(
            claim_mail(&s, "k", &PLACE, &b).await.unwrap(),
            MailClaim::HeldElsewhere { .. }
        ));
        tokio::time::sleep(Duration::from_millis(120)).await;
        renew_mails(&s, &["k".to_string()], &a).await.unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(matches!(
            claim_mail(&s, "k", &PLACE, &b).await.unwrap(),
            MailClaim::HeldElsewhere { .. }
        ));
        // a died: once its lease ran out, the first to look moves it, the next leaves it.
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            claim_mail(&s, "k", &PLACE, &b).await.unwrap(),
            MailClaim::Stored
        );
        assert_eq!(
            claim_mail(&s, "k", &PLACE, &c).await.unwrap(),
            MailClaim::HeldElsewhere {
                holder: "b".to_string()
            }
        );
    }
}
