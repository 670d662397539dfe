//! Who gets an order's receipts, decided in one place for the mail path and a person's
//! action alike (DESIGN.md "Receipts per order"): the sender's reply address, a contact e-mail
//! in the sender's own domain or listed for the it-system in the register, the requester of
//! an order a form may not change — never one of our own addresses, never an address no
//! header may carry, never an arbitrary address typed into a form.

use crate::mail::{Mail, domain_of};
use crate::orders::helpdesk::HelpdeskSettings;
use crate::orders::order::OrderRow;
use crate::rules::it_systems::{Register, SystemEntry};

/// The recipients of a receipt for a mail: its reply address (Reply-To in From's domain,
/// else From), and the form's contact e-mail when [`contact_gets_receipts`] allows it. Our own
/// addresses are removed.
pub fn receipt_recipients(
    mail: &Mail,
    contact: Option<&str>,
    system: Option<&SystemEntry>,
    h: &HelpdeskSettings,
) -> Vec<String> {
    recipients(
        mail.reply_address(),
        mail.from.as_deref(),
        contact,
        system,
        h,
    )
}

/// The recipients of a receipt from an order's stored addresses (`spdesk orders approve`
/// and `reject` answer the same people as the daemon did).
pub fn recipients(
    reply: Option<&str>,
    from: Option<&str>,
    contact: Option<&str>,
    system: Option<&SystemEntry>,
    h: &HelpdeskSettings,
) -> Vec<String> {
    let mut to = Vec::new();
    if let Some(r) = reply_address(reply, from) {
        to.push(r);
    }
    if let Some(c) = contact.and_then(|c| contact_gets_receipts(from, c, system))
        && !to.contains(&c)
    {
        to.push(c);
    }
    // An address no header may carry (a control character, a bracket) is never answered:
    // the composer refuses it (header_value::Address).
    to.retain(|a| !h.is_own(a) && crate::mail::header_value::Address::new(a).is_some());
    to
}

/// Where a receipt to the sender goes: Reply-To only when it is in From's own domain
/// (case-insensitive), else From. From is the address a receipt answers; an unverified
/// Reply-To elsewhere would let anyone aim receipts at a third party (DESIGN.md "Receipts per
/// order").
pub fn reply_address(reply: Option<&str>, from: Option<&str>) -> Option<String> {
    fn present(a: Option<&str>) -> Option<&str> {
        a.map(str::trim).filter(|a| !a.is_empty())
    }
    let from = present(from);
    let from_domain = from.map(domain_of).filter(|d| !d.is_empty());
    match present(reply) {
        Some(r) if from_domain.is_some_and(|d| d == domain_of(r)) => Some(r.to_lowercase()),
        _ => from.map(str::to_lowercase),
    }
}

/// The form's contact e-mail, normalised, when receipts may go to it (DESIGN.md "Receipts per
/// order"): a valid address in the sender's (From) own domain, or one listed for the form's
/// it-system in the register — never an arbitrary address typed into a form.
pub fn contact_gets_receipts(
    from: Option<&str>,
    contact: &str,
    system: Option<&SystemEntry>,
) -> Option<String> {
    let c = crate::forms::values::email(contact)?.to_lowercase();
    let same_domain = from.is_some_and(|f| {
        let d = domain_of(f.trim());
        !d.is_empty() && d == domain_of(&c)
    });
    let registered = system.is_some_and(|s| s.allows_contact(&c));
    (same_domain || registered).then_some(c)
}

/// The register's entry for the form's it-system, if a register is configured and knows it.
pub fn registered_system<'r>(
    form: &crate::forms::form::OrderForm,
    register: Option<&'r Register>,
) -> Option<&'r SystemEntry> {
    if form.invalid.contains("system_uuid") {
        return None;
    }
    register?.lookup(form.text("system_uuid")?)
}

/// Who gets an order's receipts from its stored addresses: the same people as the daemon's
/// receipts for the mail that made it (`system`: the register's entry for the it-system the
/// latest version names).
pub fn order_recipients(
    o: &OrderRow,
    system: Option<&SystemEntry>,
    helpdesk: &HelpdeskSettings,
) -> Vec<String> {
    recipients(
        o.reply_to.as_deref(),
        o.requester.as_deref(),
        o.contact_email.as_deref(),
        system,
        helpdesk,
    )
}

/// `to` and the requester of `order`, once, never one of our own addresses and never one no
/// header may carry (as [`recipients`]): the requester is the order's From as it came, and an
/// order made from `"a b"@kystby.test` otherwise made the receipt of every later form with
/// its BestillingsID fail to compose, and with it the whole mail, until it was quarantined
/// unanswered.
pub fn with_requester_of(
    mut to: Vec<String>,
    order: Option<&OrderRow>,
    h: &HelpdeskSettings,
) -> Vec<String> {
    if let Some(r) = order
        .and_then(|o| o.requester.as_deref())
        .map(|r| r.trim().to_lowercase())
        .filter(|r| {
            !r.is_empty()
                && !h.is_own(r)
                && !to.contains(r)
                && crate::mail::header_value::Address::new(r).is_some()
        })
    {
        to.push(r);
    }
    to
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::state::State;

    const UUID: &str = "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2";

    /// The requester of a refused form's order is told only at an address a header may
    /// carry; the sender's own receipt is composed either way.
    #[test]
    fn a_requester_no_header_may_carry_is_not_told() {
        let order = |requester: &str| OrderRow::sample(State::Received, requester);
        let sender = vec!["fa@kystby.test".to_string()];
        let h = helpdesk();
        let told = with_requester_of(sender.clone(), Some(&order("Chef@Kystby.test")), &h);
        assert_eq!(told, ["fa@kystby.test", "chef@kystby.test"]);
        for bad in [
            "\"a b\"@kystby.test",
            "a:b@kystby.test",
            "a@b@kystby.test",
            "a;b@x.test",
        ] {
            let to = with_requester_of(sender.clone(), Some(&order(bad)), &h);
            assert_eq!(to, sender, "{bad}");
            assert!(crate::mail::header_value::addresses(&to, "recipient").is_ok());
        }
    }

    fn helpdesk() -> HelpdeskSettings {
        HelpdeskSettings {
            address: "helpdesk@helpdesk.test".into(),
            own_domains: vec!["kombit.test".into()],
            review_to: Vec::new(),
            rates: crate::orders::rate::RateLimits::default(),
        }
    }

    fn mail(from: &str, reply_to: Option<&str>) -> Mail {
        Mail {
            from: Some(from.into()),
            reply_to: reply_to.map(str::to_string),
            ..Mail::default()
        }
    }

    fn register() -> Register {
        Register::from_csv(&format!(
            "uuid,name,role,org_cvr,senders\n{UUID},FamilieFlow,modtagersystem,54921942,@kystby.test drift@leverandoer.test\n"
        ))
        .unwrap()
    }

    #[test]
    fn sender_and_contact_in_the_same_domain() {
        let h = helpdesk();
        let m = mail("fa@kystby.test", None);
        assert_eq!(
            receipt_recipients(&m, Some("Kontakt@Kystby.test"), None, &h),
            vec!["fa@kystby.test", "kontakt@kystby.test"]
        );
        // The same address once.
        assert_eq!(
            receipt_recipients(&m, Some("FA@kystby.test"), None, &h),
            vec!["fa@kystby.test"]
        );
        assert_eq!(
            receipt_recipients(&m, None, None, &h),
            vec!["fa@kystby.test"]
        );
    }

    #[test]
    fn reply_to_in_the_senders_domain_wins_over_from() {
        let h = helpdesk();
        let m = mail("fa@kystby.test", Some("Sag@Kystby.TEST"));
        assert_eq!(
            receipt_recipients(&m, Some("fa@kystby.test"), None, &h),
            vec!["sag@kystby.test", "fa@kystby.test"]
        );
    }

    #[test]
    fn reply_to_in_another_domain_is_ignored_and_from_gets_the_receipt() {
        let h = helpdesk();
        for reply_to in [
            "victim@other.test",
            "victim@sub.kystby.test",
            "victim@kystby.test.evil.test",
            "no-domain",
        ] {
            let m = mail("fa@kystby.test", Some(reply_to));
            assert_eq!(
                receipt_recipients(&m, None, None, &h),
                vec!["fa@kystby.test"],
                "{reply_to}"
            );
        }
        // The stored addresses of an order are read the same way.
        assert_eq!(
            recipients(
                Some("victim@other.test"),
                Some("FA@kystby.test"),
                None,
                None,
                &h
            ),
            vec!["fa@kystby.test"]
        );
        // Without a From, a Reply-To alone is never trusted.
        assert!(recipients(Some("x@kystby.test"), None, None, None, &h).is_empty());
        assert!(recipients(Some("x@kystby.test"), Some(" "), None, None, &h).is_empty());
    }

    #[test]
    fn an_arbitrary_contact_gets_nothing() {
        let h = helpdesk();
        let m = mail("fa@kystby.test", None);
        for c in [
            "victim@other.test",
            "x@sub.kystby.test",
            // Not one address: never handed to SMTP as if it were.
            "victim@other.test, y@kystby.test",
            "not an address",
            "",
        ] {
            assert_eq!(
                receipt_recipients(&m, Some(c), None, &h),
                vec!["fa@kystby.test"],
                "{c}"
            );
        }
    }

    #[test]
    fn a_contact_registered_for_the_system() {
        let h = helpdesk();
        let r = register();
        let system = r.lookup(UUID);
        assert!(system.is_some());
        // A supplier's address listed for the system gets the receipts too.
        let m = mail("fa@kystby.test", None);
        assert_eq!(
            receipt_recipients(&m, Some("Drift@leverandoer.test"), system, &h),
            vec!["fa@kystby.test", "drift@leverandoer.test"]
        );
        // And a contact in a registered domain, when the supplier sends the order.
        let m = mail("drift@leverandoer.test", None);
        assert_eq!(
            receipt_recipients(&m, Some("it@kystby.test"), system, &h),
            vec!["drift@leverandoer.test", "it@kystby.test"]
        );
        // Not listed: the same as without a register.
        assert_eq!(
            receipt_recipients(&m, Some("other@leverandoer.test"), system, &h),
            vec!["drift@leverandoer.test", "other@leverandoer.test"]
        );
        let stranger = mail("x@evil.test", None);
        assert_eq!(
            receipt_recipients(&stranger, Some("victim@other.test"), system, &h),
            vec!["x@evil.test"]
        );
    }

    #[test]
    fn our_own_addresses_are_never_recipients() {
        let h = helpdesk();
        let m = mail("helpdesk@helpdesk.test", None);
        assert!(receipt_recipients(&m, None, None, &h).is_empty());
        let m = mail("fa@kombit.test", None);
        assert!(receipt_recipients(&m, Some("x@kombit.test"), None, &h).is_empty());
        let none = Mail::default();
        assert!(receipt_recipients(&none, Some("fa@kystby.test"), None, &h).is_empty());
    }

    #[test]
    fn recipients_from_stored_addresses() {
        let h = helpdesk();
        let r = register();
        assert_eq!(
            recipients(
                Some("fa@kystby.test"),
                Some("fa@kystby.test"),
                Some("drift@leverandoer.test"),
                r.lookup(UUID),
                &h
            ),
            vec!["fa@kystby.test", "drift@leverandoer.test"]
        );
        assert_eq!(
            recipients(None, None, Some("drift@leverandoer.test"), None, &h),
            Vec::<String>::new()
        );
        // An address no header may carry is never answered (the composer would refuse it).
        assert_eq!(
            recipients(
                Some("fa@kystby.test\r\nbcc: evil@x.test"),
                None,
                None,
                None,
                &h
            ),
            Vec::<String>::new()
        );
    }

    /// An order as stored, from fa@kommune.test with a contact in its domain.
    fn stored() -> OrderRow {
        OrderRow {
            requester: Some("fa@kommune.test".into()),
            reply_to: Some("FA@kommune.test".into()),
            contact_email: Some("drift@kommune.test".into()),
            ..OrderRow::sample(State::Approved, "fa@kommune.test")
        }
    }

    fn sp() -> HelpdeskSettings {
        HelpdeskSettings {
            address: "helpdesk@sp.test".into(),
            own_domains: vec!["sp.test".into()],
            review_to: vec![],
            rates: crate::orders::rate::RateLimits::default(),
        }
    }

    #[test]
    fn receipts_go_to_the_sender_and_a_contact_in_its_domain_only() {
        let o = stored();
        assert_eq!(
            order_recipients(&o, None, &sp()),
            vec!["fa@kommune.test", "drift@kommune.test"]
        );
        let o = OrderRow {
            contact_email: Some("someone@elsewhere.test".into()),
            ..stored()
        };
        assert_eq!(order_recipients(&o, None, &sp()), vec!["fa@kommune.test"]);
        // No requester: a contact address is never trusted on its own.
        let o = OrderRow {
            requester: None,
            reply_to: None,
            ..stored()
        };
        assert!(order_recipients(&o, None, &sp()).is_empty());
        // Our own addresses never get a receipt.
        let o = OrderRow {
            reply_to: Some("x@SP.test".into()),
            requester: Some("x@sp.test".into()),
            contact_email: Some("y@sp.test".into()),
            ..stored()
        };
        assert!(order_recipients(&o, None, &sp()).is_empty());
    }
}
