//! Orders belong to their requester (DESIGN.md "Mails that belong to an order", FORMS.md rule
//! 3): who may give an existing order a new version or add correspondence to it.
//!
//! From is trivially forged, so an address in the requester's domain is not enough: a colleague
//! counts only when a trusted Authentication-Results header verifies the sender
//! ([`crate::rules::verified`]). The requester's own address counts as it is (a forged copy of
//! it is what SPF/DMARC and `sender.unverified` are for), and so does an address the it-system
//! register lists for the order's system.
//!
//! Addresses are compared case-insensitively, WITHOUT folding a `+tag`: which character (if any)
//! separates a tag is each domain's own convention, and the requester writes from the address
//! the order was sent from. Folding would only widen who counts as the requester.

use serde::{Deserialize, Serialize};

use crate::orders::state::State;
use crate::rules::it_systems::{Register, SystemEntry};

/// The order a mail wants to change, as far as ownership goes.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// The address the order came from (its first version's From).
    pub requester: Option<&'a str>,
    /// The register's entry for the order's it-system (only when a register is configured).
    pub system: Option<&'a SystemEntry>,
}

/// The mail's sender.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// From, a bare address.
    pub address: &'a str,
    /// A trusted Authentication-Results verifies the From domain.
    pub verified: bool,
}

/// Why a sender may speak for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The order's requester address itself.
    Requester,
    /// A verified sender in the requester's domain.
    Colleague,
    /// An address the register lists for the order's system, or a verified sender in a
    /// domain it lists.
    Registered,
}

/// Why a mail's form does not become a version of the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The sender has no [`Standing`] for the order.
    NotAllowed,
    /// The order is approved: only a person changes it now.
    Approved,
    /// The order is executed, failed or withdrawn.
    Closed,
}

/// The sender's standing for the order, if any.
pub fn standing(owner: &Owner<'_>, sender: &Sender<'_>) -> Option<Standing> {
    let address = sender.address.trim().to_lowercase();
    let (_, domain) = address
        .rsplit_once('@')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty())?;
    let requester = owner.requester.map(|r| r.trim().to_lowercase());
    if requester.as_deref() == Some(address.as_str()) {
        return Some(Standing::Requester);
    }
    let requester_domain = requester.as_deref().map(crate::mail::domain_of);
    if sender.verified && requester_domain.as_deref() == Some(domain) {
        return Some(Standing::Colleague);
    }
    let system = owner.system?;
    let listed = system.lists_address(&address);
    let in_listed_domain = sender.verified && system.allows_sender(&address);
    (listed || in_listed_domain).then_some(Standing::Registered)
}

/// Whether a mail's whole form may become a new version of an order in `state`: only from a
/// sender with [`standing`], and only while the order is `received`, `review` or `rejected`.
pub fn may_correct(
    state: State,
    owner: &Owner<'_>,
    sender: &Sender<'_>,
) -> Result<Standing, Refusal> {
    let who = standing(owner, sender).ok_or(Refusal::NotAllowed)?;
    match state {
        State::Received | State::Review | State::Rejected => Ok(who),
        State::Approved => Err(Refusal::Approved),
        State::Executed | State::Failed | State::Withdrawn => Err(Refusal::Closed),
    }
}

/// An order that exists already, as far as the ownership of a form that names it goes: what
/// the judge is told of the orders a mail may name (the daemon reads them from its database,
/// `spdesk check` from `--db` or a `--known-orders` file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownOrder {
    pub reference: String,
    #[serde(default)]
    pub bestillings_id: Option<String>,
    #[serde(deserialize_with = "state_named")]
    pub state: State,
    /// The address the order came from (its first version's From).
    #[serde(default)]
    pub requester: Option<String>,
    /// The it-system UUID of the order's newest version: what the register is asked about.
    #[serde(default)]
    pub system_uuid: Option<String>,
}

/// A state by its DESIGN.md name; an unknown one names the states there are.
fn state_named<'de, D: serde::Deserializer<'de>>(d: D) -> Result<State, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map_err(serde::de::Error::custom)
}

impl KnownOrder {
    /// The order's owner: its requester, and the register's entry for its it-system.
    pub fn owner<'a>(&'a self, register: Option<&'a Register>) -> Owner<'a> {
        Owner {
            requester: self.requester.as_deref(),
            system: register
                .zip(self.system_uuid.as_deref())
                .and_then(|(r, u)| r.lookup(u)),
        }
    }
}

/// Where a form with a BestillingsID goes (FORMS.md rule 3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// The open order the form becomes a new version of; `None`: a new order.
    pub version_of: Option<String>,
    /// The open order the form names but may not change, and why: the form goes to a person.
    pub refused: Option<(String, Refusal)>,
}

/// The target of a form with BestillingsID `id`: among the thread's order (when it has this ID
/// or none yet) and the orders with the ID (newest first), the first open one the sender may
/// correct, and the first open one it may not. Every open order with the ID is asked: a form
/// the sender may file on one of them (say the review order a refused form made) still goes to
/// a person while another open order with the same ID is someone else's, or approved.
pub fn target(
    id: &str,
    thread: Option<&KnownOrder>,
    with_id: &[KnownOrder],
    sender: &Sender<'_>,
    register: Option<&Register>,
) -> Target {
    let thread = thread.filter(|o| o.bestillings_id.as_deref().is_none_or(|b| b == id));
    let others = with_id
        .iter()
        .filter(|o| thread.is_none_or(|t| t.reference != o.reference));
    let mut target = Target::default();
    for o in thread
        .into_iter()
        .chain(others)
        .filter(|o| o.state.is_open())
    {
        match may_correct(o.state, &o.owner(register), sender) {
            Ok(_) if target.version_of.is_none() => target.version_of = Some(o.reference.clone()),
            Err(why) if target.refused.is_none() => {
                target.refused = Some((o.reference.clone(), why));
            }
            _ => {}
        }
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::it_systems::Register;

    const UUID: &str = "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2";

    fn register() -> Register {
        Register::from_csv(&format!(
            "uuid,name,role,org_cvr,senders\n{UUID},FamilieFlow,modtagersystem,54921942,drift@leverandoer.test @kystby.test\n"
        ))
        .unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn owner<'a>(system: Option<&'a SystemEntry>) -> Owner<'a> {
        Owner {
            requester: Some("FA@kystby.test"),
            system,
        }
    }

    fn sender(address: &str, verified: bool) -> Sender<'_> {
        Sender { address, verified }
    }

    #[test]
    fn the_requester_in_any_case_but_not_a_tagged_variant() {
        let o = owner(None);
        for a in ["fa@kystby.test", "Fa@KYSTBY.test", " fa@kystby.test "] {
            assert_eq!(
                standing(&o, &sender(a, false)),
                Some(Standing::Requester),
                "{a}"
            );
        }
        assert_eq!(standing(&o, &sender("fa+x@kystby.test", false)), None);
    }

    #[test]
    fn a_colleague_only_when_verified() {
        let o = owner(None);
        // The forged colleague of the hijack: same domain, nothing verifies it.
        assert_eq!(standing(&o, &sender("chef@kystby.test", false)), None);
        assert_eq!(
            standing(&o, &sender("chef@kystby.test", true)),
            Some(Standing::Colleague)
        );
        // Verified, but another domain (or a subdomain) is no colleague.
        assert_eq!(standing(&o, &sender("chef@other.test", true)), None);
        assert_eq!(standing(&o, &sender("chef@sub.kystby.test", true)), None);
    }

    #[test]
    fn addresses_the_register_lists_for_the_system() {
        let r = register();
        let o = owner(r.lookup(UUID));
        // Listed by address: enough by itself.
        assert_eq!(
            standing(&o, &sender("Drift@leverandoer.test", false)),
            Some(Standing::Registered)
        );
        assert_eq!(standing(&o, &sender("other@leverandoer.test", true)), None);
        // Listed by domain: only when verified (the domain is what a forger types).
        let other = Owner {
            requester: Some("fa@borgerdata.test"),
            system: r.lookup(UUID),
        };
        assert_eq!(standing(&other, &sender("it@kystby.test", false)), None);
        assert_eq!(
            standing(&other, &sender("it@kystby.test", true)),
            Some(Standing::Registered)
        );
        // Without a register entry nobody else counts.
        assert_eq!(
            standing(&owner(None), &sender("drift@leverandoer.test", true)),
            None
        );
    }

    #[test]
    fn no_standing_without_addresses() {
        let none = Owner {
            requester: None,
            system: None,
        };
        assert_eq!(standing(&none, &sender("fa@kystby.test", true)), None);
        for a in ["", "@kystby.test", "fa@", "fa"] {
            assert_eq!(standing(&owner(None), &sender(a, true)), None, "{a:?}");
        }
    }

    #[test]
    fn only_received_review_and_rejected_orders_take_a_new_version() {
        let o = owner(None);
        let fa = sender("fa@kystby.test", false);
        for s in [State::Received, State::Review, State::Rejected] {
            assert_eq!(may_correct(s, &o, &fa), Ok(Standing::Requester), "{s}");
        }
        assert_eq!(
            may_correct(State::Approved, &o, &fa),
            Err(Refusal::Approved)
        );
        for s in [State::Executed, State::Failed, State::Withdrawn] {
            assert_eq!(may_correct(s, &o, &fa), Err(Refusal::Closed), "{s}");
        }
        // A stranger is refused whatever the state.
        let stranger = sender("x@evil.test", true);
        for s in State::ALL {
            assert_eq!(
                may_correct(s, &o, &stranger),
                Err(Refusal::NotAllowed),
                "{s}"
            );
        }
    }

    fn known(reference: &str, id: Option<&str>, state: State, requester: &str) -> KnownOrder {
        KnownOrder {
            reference: reference.into(),
            bestillings_id: id.map(str::to_string),
            state,
            requester: Some(requester.into()),
            system_uuid: None,
        }
    }

    #[test]
    fn the_thread_comes_first_when_it_has_the_id_or_none() {
        let fa = sender("fa@kystby.test", false);
        let with_id = [known(
            "SP-2026-00005",
            Some("BD-1"),
            State::Review,
            "fa@kystby.test",
        )];
        for thread_id in [None, Some("BD-1")] {
            let thread = known(
                "SP-2026-00001",
                thread_id,
                State::Rejected,
                "fa@kystby.test",
            );
            let t = target("BD-1", Some(&thread), &with_id, &fa, None);
            assert_eq!(
                t.version_of.as_deref(),
                Some("SP-2026-00001"),
                "{thread_id:?}"
            );
        }
        // A thread with another BestillingsID is no target for this one.
        let other = known(
            "SP-2026-00001",
            Some("BD-2"),
            State::Rejected,
            "fa@kystby.test",
        );
        let t = target("BD-1", Some(&other), &with_id, &fa, None);
        assert_eq!(t.version_of.as_deref(), Some("SP-2026-00005"));
    }

    #[test]
    fn an_allowed_order_does_not_hide_a_refusing_one() {
        let fa = sender("fa@kystby.test", false);
        let with_id = [
            known(
                "SP-2026-00006",
                Some("BD-1"),
                State::Review,
                "fa@kystby.test",
            ),
            known(
                "SP-2026-00004",
                Some("BD-1"),
                State::Executed,
                "x@evil.test",
            ),
            known(
                "SP-2026-00002",
                Some("BD-1"),
                State::Received,
                "other@kystby.test",
            ),
        ];
        let t = target("BD-1", None, &with_id, &fa, None);
        assert_eq!(t.version_of.as_deref(), Some("SP-2026-00006"));
        assert_eq!(
            t.refused,
            Some(("SP-2026-00002".into(), Refusal::NotAllowed))
        );
    }

    #[test]
    fn a_known_order_reads_from_json_and_an_unknown_state_is_named() {
        let o: KnownOrder = serde_json::from_str(
            r#"{"reference": "SP-2026-00001", "bestillings_id": "BD-1", "state": "approved", "requester": "fa@kystby.test"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            o,
            known(
                "SP-2026-00001",
                Some("BD-1"),
                State::Approved,
                "fa@kystby.test"
            )
        );
        let e = serde_json::from_str::<KnownOrder>(r#"{"reference": "SP-1", "state": "done"}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("unknown state \"done\"; one of: received"),
            "{e}"
        );
    }
}
