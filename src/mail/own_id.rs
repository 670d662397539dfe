//! The Message-IDs of the mails spdesk sends: `<what>@spdesk.<the Helpdesk's domain>`, where
//! `<what>` is deterministic for the mail (receipt: reference, version and kind; digest: the
//! day; billing: the run; review summary: the hour). Deterministic, so that a mail composed
//! twice (after a crash, or by two instances) is recognised as the same mail; under our own
//! `spdesk.` subdomain, so that intake knows our own mail when it comes back (a loop).

/// The Message-ID (without angle brackets) of the mail `what`.
pub fn make(what: &str, domain: &str) -> String {
    format!("{what}@spdesk.{domain}")
}

/// Whether a Message-ID is one of ours (any of our mails, for `domain`).
pub fn is_ours(message_id: &str, domain: &str) -> bool {
    message_id
        .strip_suffix(domain)
        .is_some_and(|rest| rest.ends_with("@spdesk."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_ids_are_recognised_and_others_are_not() {
        let id = make("SP-2026-00001.v1.modtaget", "helpdesk.test");
        assert_eq!(id, "SP-2026-00001.v1.modtaget@spdesk.helpdesk.test");
        assert!(is_ours(&id, "helpdesk.test"));
        assert!(!is_ours("x@helpdesk.test", "helpdesk.test"));
        assert!(!is_ours("x@spdesk.other.test", "helpdesk.test"));
        assert!(!is_ours("x@notspdesk.helpdesk.test", "helpdesk.test"));
    }
}
