//! The web console's sessions and login attempts (tables of migration 0007). A session is
//! found by the SHA-256 of its cookie token ([`crate::users::token_hash`]); only a live one
//! counts: not expired, of a person not disabled.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::store::users::UserRow;
use crate::store::{Store, parse_ts, ts};
use crate::users::name_key;

/// A live session and its person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: UserRow,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Failed login attempts counted for throttling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// For this user name (any address).
    pub by_name: i64,
    /// From this address (any user name).
    pub by_address: i64,
}

impl Store {
    /// Stores a new session of person `user_id` until `expires_at`.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at,
             last_seen) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(ts(now))
        .bind(ts(expires_at))
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this token hash, its last use set to `now`.
    pub async fn live_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Session>> {
        let row = sqlx::query(
            "UPDATE sessions SET last_seen = $1 WHERE token_hash = $2 AND expires_at > $1
               AND user_id IN (SELECT id FROM users WHERE disabled_at IS NULL)
             RETURNING user_id, csrf_token, expires_at",
        )
        .bind(ts(now))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let id: i64 = row.try_get("user_id")?;
        let Some(user) = self.user_by_id(id).await? else {
            return Ok(None);
        };
        let expires: String = row.try_get("expires_at")?;
        Ok(Some(Session {
            user,
            csrf_token: row.try_get("csrf_token")?,
            expires_at: parse_ts(&expires)
                .ok_or_else(|| anyhow::anyhow!("sessions.expires_at: not a time: {expires:?}"))?,
        }))
    }

    /// Ends a session (logout); `false` when there was none.
    pub async fn end_session(&self, token_hash: &str) -> anyhow::Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Forgets expired sessions and login attempts older than `forget_before`.
    pub async fn prune_sessions(
        &self,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(ts(now))
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM login_attempts WHERE at < $1")
            .bind(ts(forget_before))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records one login attempt with the user name as typed and the client's address.
    pub async fn record_login_attempt(
        &self,
        name: &str,
        address: &str,
        succeeded: bool,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        sqlx::query(
            "INSERT INTO login_attempts (name_key, address, at, succeeded) VALUES ($1, $2, $3, $4)",
        )
        .bind(name_key(name))
        .bind(address)
        .bind(ts(now))
        .bind(i64::from(succeeded))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Failed attempts since `since` for this user name and from this address.
    pub async fn failed_logins_since(
        &self,
        name: &str,
        address: &str,
        since: DateTime<Utc>,
    ) -> anyhow::Result<Failures> {
        let row = sqlx::query(
            "SELECT
               (SELECT COUNT(*) FROM login_attempts
                WHERE name_key = $1 AND at >= $3 AND succeeded = 0) AS by_name,
               (SELECT COUNT(*) FROM login_attempts
                WHERE address = $2 AND at >= $3 AND succeeded = 0) AS by_address",
        )
        .bind(name_key(name))
        .bind(address)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(Failures {
            by_name: row.try_get("by_name")?,
            by_address: row.try_get("by_address")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::Role;

    fn at(s: &str) -> DateTime<Utc> {
        parse_ts(s).unwrap()
    }

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        Store::open(&url).await.unwrap()
    }

    #[tokio::test]
    async fn a_session_lives_until_it_expires_ends_or_its_person_is_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let t0 = at("2026-12-01T08:00:00Z");
        let t1 = at("2026-12-01T09:00:00Z");
        let end = at("2026-12-01T16:00:00Z");
        store
            .add_user("kim", Role::Operator, "$h", t0)
            .await
            .unwrap();
        let kim = store.find_user("kim").await.unwrap().unwrap();
        store
            .create_session("a", kim.id, "csrf-a", t0, end)
            .await
            .unwrap();
        store
            .create_session("b", kim.id, "csrf-b", t0, end)
            .await
            .unwrap();

        let s = store.live_session("a", t1).await.unwrap().unwrap();
        assert_eq!(
            (s.user.name.as_str(), s.csrf_token.as_str()),
            ("kim", "csrf-a")
        );
        assert_eq!(s.expires_at, end);
        assert_eq!(store.live_session("zz", t1).await.unwrap(), None);
        assert_eq!(store.live_session("a", end).await.unwrap(), None, "expired");

        assert!(store.end_session("a").await.unwrap());
        assert!(!store.end_session("a").await.unwrap());
        assert_eq!(store.live_session("a", t1).await.unwrap(), None);

        assert!(store.live_session("b", t1).await.unwrap().is_some());
        store.disable_user("kim", t1).await.unwrap();
        assert_eq!(store.live_session("b", t1).await.unwrap(), None);
    }

    #[tokio::test]
    async fn failed_logins_are_counted_per_name_and_per_address() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let t = |m: u32| at(&format!("2026-12-01T08:{m:02}:00Z"));
        store
            .record_login_attempt("Kim", "10.0.0.1", false, t(1))
            .await
            .unwrap();
        store
            .record_login_attempt("kim", "10.0.0.2", false, t(2))
            .await
            .unwrap();
        store
            .record_login_attempt("bo", "10.0.0.1", false, t(3))
            .await
            .unwrap();
        store
            .record_login_attempt("kim", "10.0.0.1", true, t(4))
            .await
            .unwrap();
        let f = store
            .failed_logins_since("KIM", "10.0.0.1", t(0))
            .await
            .unwrap();
        assert_eq!(
            f,
            Failures {
                by_name: 2,
                by_address: 2
            }
        );
        let f = store
            .failed_logins_since("kim", "10.0.0.1", t(2))
            .await
            .unwrap();
        assert_eq!(
            f,
            Failures {
                by_name: 1,
                by_address: 1
            }
        );

        store.prune_sessions(t(5), t(3)).await.unwrap();
        let f = store
            .failed_logins_since("kim", "10.0.0.1", t(0))
            .await
            .unwrap();
        assert_eq!(
            f,
            Failures {
                by_name: 0,
                by_address: 1
            }
        );
    }
}
