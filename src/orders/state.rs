//! The order state machine (DESIGN.md), in one place: states, the transitions allowed between
//! them, and order references.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::rules::finding::Decision;

/// Order states, exactly DESIGN.md's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Received,
    Review,
    Approved,
    Rejected,
    Executed,
    Failed,
    Withdrawn,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Received,
        State::Review,
        State::Approved,
        State::Rejected,
        State::Executed,
        State::Failed,
        State::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Review => "review",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Executed => "executed",
            State::Failed => "failed",
            State::Withdrawn => "withdrawn",
        }
    }

    /// Open orders can still change; executed, failed and withdrawn ones are closed.
    pub fn is_open(self) -> bool {
        !matches!(self, State::Executed | State::Failed | State::Withdrawn)
    }

    /// The state a judged version leads to.
    pub fn from_decision(d: Decision) -> State {
        match d {
            Decision::Approved => State::Approved,
            Decision::Rejected => State::Rejected,
            Decision::Review => State::Review,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown state \"{s}\"; one of: {}",
                    State::ALL.map(State::as_str).join(", ")
                )
            })
    }
}

/// Why a transition is asked for; the state machine checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The daemon's verdict on a received version.
    Judge(Decision),
    /// A corrected version of the form arrived.
    NewVersion,
    /// A person's decision on a review order.
    Approve,
    Reject,
    Execute,
    Fail,
    Withdraw,
    /// `approve --override`: a person approves a rejected order (a reason is required).
    Override,
    /// A failed order back to `approved` after the incident is fixed.
    Reopen,
    /// A new planned time; the state stays.
    Reschedule,
    /// A person's version (`orders edit`): back to `received`, then judged like a mail's.
    Edit,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Judge(_) => "judged",
            Action::NewVersion => "new version",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Execute => "execute",
            Action::Fail => "fail",
            Action::Withdraw => "withdraw",
            Action::Override => "override",
            Action::Reopen => "reopen",
            Action::Reschedule => "reschedule",
            Action::Edit => "edit",
        }
    }
}

/// The next state, or a message saying why the action is not allowed now.
///
/// `received → approved | rejected | review` (judged); `review → approved | rejected` (a person);
/// `received | review | rejected → received` (a corrected version from the requester);
/// `approved → executed | failed`; any open state → `withdrawn`. By a person besides:
/// `failed → approved` (reopen), `approved → rejected` and `review | rejected → approved`
/// (an override), a new time for a `review` or `approved` order (the state stays), a staff
/// version from any open state (`→ received`, then judged). An `approved` order is never
/// changed by a mail (its version is what gets executed): such a mail goes to a person
/// ([`crate::orders::ownership`]).
pub fn transition(from: State, action: Action) -> Result<State, String> {
    use State::*;
    let to = match (from, action) {
        (Received, Action::Judge(d)) => Some(State::from_decision(d)),
        (Review, Action::Approve) => Some(Approved),
        (Review | Approved, Action::Reject) => Some(Rejected),
        (Review | Rejected, Action::Override) => Some(Approved),
        (Failed, Action::Reopen) => Some(Approved),
        (s @ (Review | Approved), Action::Reschedule) => Some(s),
        (s, Action::Edit) if s.is_open() => Some(Received),
        (Received | Review | Rejected, Action::NewVersion) => Some(Received),
        (Approved, Action::Execute) => Some(Executed),
        (Approved, Action::Fail) => Some(Failed),
        (s, Action::Withdraw) if s.is_open() => Some(Withdrawn),
        _ => None,
    };
    to.ok_or_else(|| {
        let allowed = match action {
            Action::Approve => "only orders in state review",
            Action::Reject => "only orders in state review or approved",
            Action::Override => "only orders in state review or rejected",
            Action::Reopen => "only orders in state failed",
            Action::Reschedule => "only orders in state review or approved",
            Action::Edit => "only open orders (received, review, approved, rejected)",
            Action::Execute | Action::Fail => "only orders in state approved",
            Action::NewVersion => "only orders in state received, review or rejected",
            Action::Withdraw => "only open orders",
            Action::Judge(_) => "only orders in state received",
        };
        format!(
            "cannot {} an order in state {from}: {allowed} can be changed this way",
            action.name()
        )
    })
}

/// An order reference `SP-YYYY-NNNNN`: the year the order was created (Copenhagen time) and a
/// counter that restarts each year, at least five digits.
pub fn reference(year: i32, seq: i64) -> String {
    format!("SP-{year}-{seq:05}")
}

/// A reference as a person typed it (`sp-2026-00001`, spaces around) in the form the orders
/// carry: references are ASCII, so upper case is the one spelling.
pub fn canonical_reference(typed: &str) -> String {
    typed.trim().to_ascii_uppercase()
}

/// Finds an order reference in a text (a subject line), e.g. "Re: [SP-2026-00042] ...".
pub fn find_reference(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text.get(i..).and_then(|t| t.find("SP-")) {
        let start = i + pos;
        let rest = &bytes[start + 3..];
        let year_ok =
            rest.len() >= 5 && rest[..4].iter().all(u8::is_ascii_digit) && rest[4] == b'-';
        if year_ok {
            let digits = rest[5..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits >= 5 {
                return Some(text[start..start + 3 + 5 + digits].to_string());
            }
        }
        i = start + 3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_design() {
        use State::*;
        assert_eq!(
            transition(Received, Action::Judge(Decision::Approved)),
            Ok(Approved)
        );
        assert_eq!(
            transition(Received, Action::Judge(Decision::Review)),
            Ok(Review)
        );
        assert_eq!(transition(Review, Action::Approve), Ok(Approved));
        assert_eq!(transition(Rejected, Action::NewVersion), Ok(Received));
        assert_eq!(transition(Approved, Action::Execute), Ok(Executed));
        assert_eq!(transition(Approved, Action::Fail), Ok(Failed));
        assert_eq!(transition(Review, Action::Withdraw), Ok(Withdrawn));
        assert!(transition(Executed, Action::Withdraw).is_err());
        // A person's lifecycle actions.
        assert_eq!(transition(Failed, Action::Reopen), Ok(Approved));
        assert!(transition(Approved, Action::Reopen).is_err());
        assert_eq!(transition(Approved, Action::Reject), Ok(Rejected));
        assert_eq!(transition(Rejected, Action::Override), Ok(Approved));
        assert!(transition(Executed, Action::Override).is_err());
        assert_eq!(transition(Approved, Action::Reschedule), Ok(Approved));
        assert!(transition(Failed, Action::Reschedule).is_err());
        for s in [Received, Review, Approved, Rejected] {
            assert_eq!(transition(s, Action::Edit), Ok(Received), "{s}");
        }
        for s in [Executed, Failed, Withdrawn] {
            assert!(transition(s, Action::Edit).is_err(), "{s}");
        }
        assert!(transition(Approved, Action::Approve).is_err());
        assert!(
            transition(Rejected, Action::Execute)
                .unwrap_err()
                .contains("approved")
        );
        assert!(transition(Executed, Action::NewVersion).is_err());
        assert_eq!(transition(Received, Action::NewVersion), Ok(Received));
        assert_eq!(transition(Review, Action::NewVersion), Ok(Received));
        // An approved order's version is what gets executed: no mail replaces it.
        assert!(
            transition(Approved, Action::NewVersion)
                .unwrap_err()
                .contains("received, review or rejected")
        );
    }

    #[test]
    fn references() {
        assert_eq!(reference(2026, 1), "SP-2026-00001");
        assert_eq!(reference(2026, 123456), "SP-2026-123456");
        assert_eq!(
            find_reference("Re: [SP-2026-00042] Kvittering").as_deref(),
            Some("SP-2026-00042")
        );
        assert_eq!(find_reference("SP-26-1 SP-2026-0004"), None);
        assert_eq!(find_reference("ÆØÅ SP-"), None);
        assert_eq!(
            find_reference("x SP-2026-000421y").as_deref(),
            Some("SP-2026-000421")
        );
    }

    #[test]
    fn a_typed_reference_finds_its_order_in_any_case() {
        assert_eq!(canonical_reference(" sp-2026-00001 "), "SP-2026-00001");
        assert_eq!(canonical_reference("Sp-2026-00042"), "SP-2026-00042");
        assert_eq!(canonical_reference("ø"), "ø");
    }

    #[test]
    fn states_round_trip() {
        for s in State::ALL {
            assert_eq!(s.as_str().parse::<State>(), Ok(s));
        }
        assert!("done".parse::<State>().is_err());
    }
}
