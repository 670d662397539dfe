//! The web console's people (`users`), as `spdesk users` and the web console read and change
//! them. Names are found by their key ([`crate::users::name_key`]): case never makes two
//! people.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::store::{Store, parse_ts, ts};
use crate::users::{Role, name_key};

/// One person as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What disabling a person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabled {
    /// Disabled now; this many of their sessions ended.
    Now { sessions_ended: u64 },
    /// Was disabled already (nothing changed).
    Already,
    /// No such person.
    Unknown,
}

const USER_COLUMNS: &str = "id, name, role, password_hash, disabled_at, created_at, updated_at";

fn user_row(r: &sqlx::any::AnyRow) -> anyhow::Result<UserRow> {
    let role: String = r.try_get("role")?;
    let time = |col: &str| -> anyhow::Result<DateTime<Utc>> {
        let s: String = r.try_get(col)?;
        parse_ts(&s).ok_or_else(|| anyhow::anyhow!("users.{col}: not a time: {s:?}"))
    };
    let disabled: Option<String> = r.try_get("disabled_at")?;
    Ok(UserRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: role
            .parse()
            .map_err(|e| anyhow::anyhow!("users.role: {e}"))?,
        password_hash: r.try_get("password_hash")?,
        disabled_at: disabled.as_deref().and_then(parse_ts),
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

impl Store {
    /// Adds a person; `false` when the name (in any case) is taken. The caller has checked
    /// the name and hashed the password.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO users (name, name_key, role, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name_key) DO NOTHING",
        )
        .bind(name)
        .bind(name_key(name))
        .bind(role.as_str())
        .bind(password_hash)
        .bind(ts(now))
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every person, by name (disabled ones included).
    pub async fn list_users(&self) -> anyhow::Result<Vec<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name_key");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_row).collect()
    }

    /// The person with this name, in any case.
    pub async fn find_user(&self, name: &str) -> anyhow::Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE name_key = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(name_key(name))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// The person with this row id.
    pub async fn user_by_id(&self, id: i64) -> anyhow::Result<Option<UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Sets a person's password hash and ends their sessions (whoever knew the old password
    /// is logged out); `false` when there is no such person.
    pub async fn set_password(
        &self,
        name: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut tx = self.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, updated_at = $2 WHERE name_key = $3 RETURNING id",
        )
        .bind(password_hash)
        .bind(ts(now))
        .bind(name_key(name))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Disables a person and ends their sessions, in one transaction. The row stays: the
    /// order history keeps naming them.
    pub async fn disable_user(&self, name: &str, now: DateTime<Utc>) -> anyhow::Result<Disabled> {
        let mut tx = self.begin().await?;
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT id, disabled_at FROM users WHERE name_key = $1")
                .bind(name_key(name))
                .fetch_optional(&mut *tx)
                .await?;
        let id = match row {
            None => return Ok(Disabled::Unknown),
            Some((_, Some(_))) => return Ok(Disabled::Already),
            Some((id, None)) => id,
        };
        sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3")
            .bind(ts(now))
            .bind(ts(now))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(Disabled::Now {
            sessions_ended: ended,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(dir: &tempfile::TempDir) -> Store {
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        Store::open(&url).await.unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        parse_ts(s).unwrap()
    }

    async fn sessions_of(store: &Store, id: i64) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE user_id = $1")
            .bind(id)
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    async fn add_session(store: &Store, id: i64, token: &str) {
        let t = ts(at("2026-12-01T10:00:00Z"));
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at,
             last_seen) VALUES ($1, $2, 'c', $3, $4, $5)",
        )
        .bind(token)
        .bind(id)
        .bind(&t)
        .bind(&t)
        .bind(&t)
        .execute(&store.pool)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn people_are_added_once_whatever_the_case() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let now = at("2026-12-01T09:00:00Z");
        assert!(
            store
                .add_user("Åse", Role::Operator, "$h1", now)
                .await
                .unwrap()
        );
        assert!(
            !store
                .add_user("åSE", Role::Admin, "$h2", now)
                .await
                .unwrap()
        );
        assert!(
            store
                .add_user("anna", Role::Viewer, "$h3", now)
                .await
                .unwrap()
        );
        let all = store.list_users().await.unwrap();
        let names: Vec<&str> = all.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["anna", "Åse"]);
        let ase = store.find_user("ÅSE").await.unwrap().unwrap();
        assert_eq!(ase.name, "Åse", "the name as first typed");
        assert_eq!(ase.role, Role::Operator);
        assert_eq!(ase.password_hash, "$h1");
        assert_eq!(ase.created_at, now);
        assert_eq!(ase.disabled_at, None);
        assert_eq!(store.find_user("nobody").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_new_password_ends_the_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let t0 = at("2026-12-01T09:00:00Z");
        let t1 = at("2026-12-02T09:00:00Z");
        store
            .add_user("kim", Role::Admin, "$old", t0)
            .await
            .unwrap();
        let id = store.find_user("kim").await.unwrap().unwrap().id;
        add_session(&store, id, "s1").await;
        assert!(store.set_password("KIM", "$new", t1).await.unwrap());
        let kim = store.find_user("kim").await.unwrap().unwrap();
        assert_eq!((kim.password_hash.as_str(), kim.updated_at), ("$new", t1));
        assert_eq!(kim.created_at, t0);
        assert_eq!(sessions_of(&store, id).await, 0);
        assert!(!store.set_password("nobody", "$x", t1).await.unwrap());
    }

    #[tokio::test]
    async fn disabling_ends_the_sessions_and_keeps_the_person() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir).await;
        let t0 = at("2026-12-01T09:00:00Z");
        let t1 = at("2026-12-03T09:00:00Z");
        store
            .add_user("kim", Role::Operator, "$h", t0)
            .await
            .unwrap();
        store
            .add_user("bo", Role::Operator, "$h", t0)
            .await
            .unwrap();
        let kim = store.find_user("kim").await.unwrap().unwrap().id;
        let bo = store.find_user("bo").await.unwrap().unwrap().id;
        add_session(&store, kim, "s1").await;
        add_session(&store, kim, "s2").await;
        add_session(&store, bo, "s3").await;
        assert_eq!(
            store.disable_user("Kim", t1).await.unwrap(),
            Disabled::Now { sessions_ended: 2 }
        );
        assert_eq!(sessions_of(&store, kim).await, 0);
        assert_eq!(sessions_of(&store, bo).await, 1, "others stay logged in");
        let row = store.find_user("kim").await.unwrap().unwrap();
        assert_eq!(row.disabled_at, Some(t1));
        assert_eq!(
            store.disable_user("kim", t1).await.unwrap(),
            Disabled::Already
        );
        assert_eq!(
            store.disable_user("nobody", t1).await.unwrap(),
            Disabled::Unknown
        );
        assert_eq!(store.list_users().await.unwrap().len(), 2);
    }
}
