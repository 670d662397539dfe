//! An order as the order logic sees it: the summary columns the store keeps for it, and the
//! events of its history.

use chrono::{DateTime, Utc};

use crate::orders::state::State;

/// An order: its reference, state and the newest version's summary (the store's `orders`
/// row). Here, not in the store, because the pure order logic decides with it.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: i64,
    pub reference: String,
    pub state: State,
    pub kind: Option<String>,
    pub bestillings_id: Option<String>,
    pub org_name: Option<String>,
    pub org_cvr: Option<String>,
    pub system_name: Option<String>,
    pub requester: Option<String>,
    pub reply_to: Option<String>,
    pub contact_email: Option<String>,
    pub thread_message_id: Option<String>,
    pub thread_subject: String,
    pub planned_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub executed_at: Option<DateTime<Utc>>,
    pub billed_at: Option<DateTime<Utc>>,
    pub incident_at: Option<DateTime<Utc>>,
}

impl OrderRow {
    /// `orders list --search TEXT`: the text (any case, spaces around ignored) is part of the
    /// reference, BestillingsID, CVR, organisation, it-system or requester. An empty text
    /// matches every order.
    pub fn matches(&self, text: &str) -> bool {
        let needle = text.trim().to_lowercase();
        let needle_digits: String = needle.chars().filter(|c| !c.is_whitespace()).collect();
        [
            Some(&self.reference),
            self.bestillings_id.as_ref(),
            self.org_name.as_ref(),
            self.system_name.as_ref(),
            self.requester.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|v| v.to_lowercase().contains(&needle))
            || self
                .org_cvr
                .as_ref()
                .is_some_and(|c| !needle_digits.is_empty() && c.contains(&needle_digits))
    }
}

/// One event of an order's history, as stored (`orders show`) and as the incident mail
/// prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EventRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub detail: String,
}

#[cfg(test)]
impl OrderRow {
    /// An order `SP-2026-00001` in `state` from `requester`, with BestillingsID `BD-1` and
    /// nothing else known: for tests.
    pub fn sample(state: State, requester: &str) -> OrderRow {
        OrderRow {
            id: 1,
            reference: "SP-2026-00001".into(),
            state,
            kind: None,
            bestillings_id: Some("BD-1".into()),
            org_name: None,
            org_cvr: None,
            system_name: None,
            requester: Some(requester.into()),
            reply_to: None,
            contact_email: None,
            thread_message_id: None,
            thread_subject: String::new(),
            planned_at: None,
            created_at: DateTime::<Utc>::MIN_UTC,
            updated_at: DateTime::<Utc>::MIN_UTC,
            executed_at: None,
            billed_at: None,
            incident_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_finds_an_order_by_any_of_its_names() {
        let o = OrderRow {
            org_name: Some("Kystby Kommune".into()),
            org_cvr: Some("29189846".into()),
            system_name: Some("FamilieFlow".into()),
            ..OrderRow::sample(State::Review, "Fa@Kystby.dk")
        };
        for hit in [
            "sp-2026-00001",
            "bd-1",
            "kystby kommune",
            "2918 9846",
            "familieflow",
            "fa@kystby",
            " ",
        ] {
            assert!(o.matches(hit), "{hit}");
        }
        for miss in ["SP-2026-00002", "Vestby", "12345674", "\u{0}"] {
            assert!(!o.matches(miss), "{miss}");
        }
    }
}
