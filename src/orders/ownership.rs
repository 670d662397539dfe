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

use crate::orders::state::State;
use crate::rules::it_systems::SystemEntry;

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
}
