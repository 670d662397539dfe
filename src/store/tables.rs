//! Every table of the schema with its columns and their kinds, in an order in which each
//! table comes after the tables its foreign keys name: what `db copy` copies (in this order)
//! and what `db check` counts. A migration that adds a table or a column adds it here too
//! (the unit test below compares this list with the migrations).

/// How a column is read and written: the kinds both engines share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// INTEGER / BIGINT.
    Int,
    /// TEXT.
    Text,
    /// BLOB / BYTEA: a mail's bytes.
    Bytes,
}

/// One table: its name, its columns, its primary key (the copy reads it in key order, a page
/// at a time), and whether `id` is an identity PostgreSQL must be moved past the copied ids.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub key: &'static [&'static str],
    pub identity: bool,
}

impl Table {
    /// Whether the table holds mails' bytes, so a page is bounded by size, not by rows.
    pub fn has_bytes(&self) -> bool {
        self.columns.iter().any(|(_, k)| *k == Kind::Bytes)
    }
}

use Kind::{Bytes, Int, Text};

const fn with_id(name: &'static str, columns: &'static [(&'static str, Kind)]) -> Table {
    Table {
        name,
        columns,
        key: &["id"],
        identity: true,
    }
}

const fn keyed(
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: &'static [&'static str],
) -> Table {
    Table {
        name,
        columns,
        key,
        identity: false,
    }
}

/// The tables, parents before children.
pub const TABLES: &[Table] = &[
    with_id(
        "inbound_mail",
        &[
            ("id", Int),
            ("message_key", Text),
            ("message_id", Text),
            ("mailbox", Text),
            ("uidvalidity", Int),
            ("uid", Int),
            ("internal_date", Text),
            ("stored_at", Text),
            ("sender", Text),
            ("subject", Text),
            ("sha256", Text),
            ("raw", Bytes),
            ("disposition", Text),
            ("note", Text),
        ],
    ),
    keyed(
        "intake_attempts",
        &[
            ("message_key", Text),
            ("attempts", Int),
            ("last_at", Text),
            ("last_error", Text),
            ("holder", Text),
            ("lease_until", Text),
        ],
        &["message_key"],
    ),
    keyed("ref_counters", &[("year", Int), ("last", Int)], &["year"]),
    with_id(
        "orders",
        &[
            ("id", Int),
            ("ref", Text),
            ("state", Text),
            ("kind", Text),
            ("bestillings_id", Text),
            ("org_name", Text),
            ("org_cvr", Text),
            ("system_name", Text),
            ("requester", Text),
            ("reply_to", Text),
            ("contact_email", Text),
            ("thread_message_id", Text),
            ("thread_subject", Text),
            ("planned_at", Text),
            ("created_at", Text),
            ("updated_at", Text),
            ("executed_at", Text),
            ("billed_at", Text),
            ("incident_at", Text),
            ("executing_at", Text),
        ],
    ),
    with_id(
        "order_versions",
        &[
            ("id", Int),
            ("order_id", Int),
            ("version", Int),
            ("inbound_id", Int),
            ("form_index", Int),
            ("judgement", Text),
            ("decision", Text),
            ("created_at", Text),
        ],
    ),
    with_id(
        "events",
        &[
            ("id", Int),
            ("order_id", Int),
            ("inbound_id", Int),
            ("at", Text),
            ("actor", Text),
            ("action", Text),
            ("from_state", Text),
            ("to_state", Text),
            ("detail", Text),
        ],
    ),
    with_id(
        "outbox",
        &[
            ("id", Int),
            ("order_id", Int),
            ("kind", Text),
            ("message_id", Text),
            ("envelope_from", Text),
            ("recipients", Text),
            ("raw", Bytes),
            ("created_at", Text),
            ("attempts", Int),
            ("next_attempt_at", Text),
            ("sent_at", Text),
            ("last_error", Text),
            ("failed_at", Text),
            ("claimed_by", Text),
            ("claimed_until", Text),
        ],
    ),
    keyed("jobs", &[("name", Text), ("last_run", Text)], &["name"]),
    keyed(
        "receipt_rate",
        &[("address", Text), ("hour", Int), ("n", Int)],
        &["address", "hour"],
    ),
    keyed(
        "held_mail_orders",
        &[("address", Text), ("hour", Int), ("order_id", Int)],
        &["address", "hour"],
    ),
    keyed(
        "review_summaries",
        &[("hour", Int), ("n", Int), ("refs", Text)],
        &["hour"],
    ),
    with_id(
        "users",
        &[
            ("id", Int),
            ("name", Text),
            ("name_key", Text),
            ("role", Text),
            ("password_hash", Text),
            ("disabled_at", Text),
            ("created_at", Text),
            ("updated_at", Text),
        ],
    ),
    keyed(
        "sessions",
        &[
            ("token_hash", Text),
            ("user_id", Int),
            ("csrf_token", Text),
            ("created_at", Text),
            ("expires_at", Text),
            ("last_seen", Text),
        ],
        &["token_hash"],
    ),
    with_id(
        "login_attempts",
        &[
            ("id", Int),
            ("name_key", Text),
            ("address", Text),
            ("at", Text),
            ("succeeded", Int),
        ],
    ),
];

/// The foreign keys worth checking on PostgreSQL (`db check`): child table, column, parent
/// table (whose key is `id`).
pub const FOREIGN_KEYS: &[(&str, &str, &str)] = &[
    ("order_versions", "order_id", "orders"),
    ("order_versions", "inbound_id", "inbound_mail"),
    ("events", "order_id", "orders"),
    ("events", "inbound_id", "inbound_mail"),
    ("outbox", "order_id", "orders"),
    ("held_mail_orders", "order_id", "orders"),
    ("sessions", "user_id", "users"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns the SQLite migrations create, per table: CREATE TABLE bodies and
    /// ALTER TABLE ... ADD COLUMN.
    fn migrated_columns() -> std::collections::BTreeMap<String, Vec<String>> {
        let mut tables: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for m in crate::store::migrator(crate::store::Backend::Sqlite).iter() {
            let mut current: Option<String> = None;
            for line in m.sql.as_str().lines() {
                let words: Vec<&str> = line.split_whitespace().collect();
                if let ["CREATE", "TABLE", name, ..] = words[..] {
                    current = Some(name.to_string());
                    tables.entry(name.to_string()).or_default();
                } else if let ["ALTER", "TABLE", name, "ADD", "COLUMN", column, ..] = words[..] {
                    tables
                        .entry(name.to_string())
                        .or_default()
                        .push(column.to_string());
                } else if line.starts_with(')') {
                    current = None;
                } else if let (Some(t), Some(first)) = (&current, words.first()) {
                    let column = first
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                    if column && !first.is_empty() {
                        tables.entry(t.clone()).or_default().push(first.to_string());
                    }
                }
            }
        }
        tables
    }

    /// Every table and column the migrations create is listed, and nothing else: a new
    /// column that `db copy` did not know would be lost in a move.
    #[test]
    fn the_list_matches_the_migrations() {
        let migrated = migrated_columns();
        let listed: std::collections::BTreeMap<String, Vec<String>> = TABLES
            .iter()
            .map(|t| {
                let cols = t.columns.iter().map(|(c, _)| c.to_string()).collect();
                (t.name.to_string(), cols)
            })
            .collect();
        assert_eq!(listed, migrated);
    }

    /// A child comes after its parents, so the copy never inserts a row before its parent.
    #[test]
    fn parents_come_first() {
        let at = |n: &str| TABLES.iter().position(|t| t.name == n).unwrap();
        for (child, _, parent) in FOREIGN_KEYS {
            assert!(at(parent) < at(child), "{parent} before {child}");
        }
    }
}
