//! "Opret ordre" on `/post`: a person turns a mail that made no order (a bounce, an
//! auto-reply, list mail, spam, a quarantined mail, ...) into an order to fill in. The order
//! is made as the intake makes an order for a person ([`super::mail_for_a_person`]), with two
//! differences: the person, not the sender, opened it (the history names them), and nothing
//! is mailed — such mails are never answered automatically (RECEIPTS.md: no receipt to a
//! bounce, an auto-reply, a list or spam), and the person who made the order needs no review
//! mail about it. Receipts follow only from what staff then do on the order ("Godkend",
//! "Afvis", "Svar"), as on any order in review.

use super::{Context, Event, MailEffects, MailForAPerson, Opening, mail_for_a_person};
use crate::mail::Mail;
use crate::orders::state::State;

/// The history's words for an order opened from `/post`.
pub fn opened_by(person: &str) -> String {
    format!("oprettet fra post af {person}")
}

/// The history's words for an order opened from a mail that is never answered.
pub const NO_REQUESTER: &str =
    "afsenderen (autosvar, returmelding, liste, spam eller egen mail) får ingen kvitteringer";

/// The order `person` makes of `mail` under `reference`: a new order in review with the mail
/// as its version 1, no receipt, no review mail, the opening event in the person's name.
/// `answerable`: whether the sender may get the order's later receipts. A mail the intake
/// never answers (a bounce, an auto-reply, list mail, spam, our own) makes an order without
/// a requester, so no later action mails the mailer-daemon or a list; a quarantined or other
/// unanswered mail came from a person, who is answered as on any order.
pub fn order_from_post(
    reference: &str,
    mail: &Mail,
    person: &str,
    answerable: bool,
    ctx: &Context<'_>,
) -> MailEffects {
    let input = MailForAPerson {
        reference,
        mail,
        findings: &[],
        receipt: None,
        what: "bestilling oprettet fra post",
        filenames: "",
        problems: &[],
        not_theirs: None,
    };
    let mut effects = mail_for_a_person(&input, ctx);
    if let Opening::New {
        event,
        requester,
        reply_to,
        ..
    } = &mut effects.opening
    {
        let mut note = opened_by(person);
        if !answerable {
            *requester = None;
            *reply_to = None;
            note = format!("{note}; {NO_REQUESTER}");
        }
        *event = Event {
            to: Some(State::Received),
            ..Event::note(person, "received", note)
        };
    }
    effects.no_receipt = None;
    effects.review = None;
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::helpdesk::HelpdeskSettings;
    use crate::orders::state::State;

    fn bounce() -> Mail {
        let raw = "From: MAILER-DAEMON@mx.example.test\r\nTo: helpdesk@example.test\r\n\
                   Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.example.test>\r\n\
                   Auto-Submitted: auto-replied\r\n\r\nThe mail could not be delivered.\r\n";
        Mail::parse(raw.as_bytes(), 1).expect("a mail")
    }

    #[test]
    fn the_person_opens_an_order_in_review_and_nothing_is_mailed() {
        let helpdesk = HelpdeskSettings {
            address: "helpdesk@example.test".into(),
            own_domains: Vec::new(),
            review_to: vec!["review@example.test".into()],
            rates: crate::orders::rate::RateLimits::default(),
        };
        let ctx = Context {
            helpdesk: &helpdesk,
            register: None,
            incident_to: &[],
        };
        let e = order_from_post("SP-2026-00007", &bounce(), "kim", false, &ctx);
        let Opening::New {
            reference, event, ..
        } = &e.opening
        else {
            panic!("a new order, was {:?}", e.opening);
        };
        assert_eq!(reference, "SP-2026-00007");
        assert_eq!(event.actor, "kim");
        assert_eq!(
            event.detail,
            format!("oprettet fra post af kim; {NO_REQUESTER}")
        );
        let Opening::New {
            requester,
            reply_to,
            ..
        } = &e.opening
        else {
            unreachable!()
        };
        assert_eq!(
            (requester, reply_to),
            (&None, &None),
            "a bounce answers no one"
        );
        // A person's mail (quarantined, or landed nowhere) keeps its sender for later receipts.
        let kept = order_from_post("SP-2026-00008", &bounce(), "kim", true, &ctx);
        let Opening::New {
            requester, event, ..
        } = &kept.opening
        else {
            panic!("a new order, was {:?}", kept.opening);
        };
        assert_eq!(requester.as_deref(), Some("MAILER-DAEMON@mx.example.test"));
        assert_eq!(event.detail, "oprettet fra post af kim");
        assert_eq!(event.to, Some(State::Received));
        assert_eq!(e.verdict.to, Some(State::Review));
        assert!(e.received.is_none() && e.verdict_receipt.is_none() && e.notice.is_none());
        assert!(e.review.is_none() && e.no_receipt.is_none() && e.not_theirs.is_none());
        assert_eq!(e.version.form_index, 0);
    }
}
