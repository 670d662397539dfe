//! The dialogue about an order (DESIGN.md "Mails that belong to an order"): a message from
//! someone who may write about the order that is no form (correspondence), a person's answer
//! (`orders reply`) and a person marking the messages handled (`orders handled`).
//!
//! An order is *unanswered* from its first message after the last answer or "handled" until
//! the next one; the store reads that from the events named here ([`CORRESPONDENCE`],
//! [`REPLY`], [`HANDLED`]), so no state or column can drift from the history.

use chrono::{DateTime, Datelike, Utc};

use super::{Context, Event, Receipt, Refused, mail_thread};
use crate::mail::Mail;
use crate::orders::helpdesk::HelpdeskSettings;
use crate::orders::order::OrderRow;
use crate::orders::receipts::{ReceiptKind, Thread};
use crate::orders::recipients::{order_recipients, receipt_recipients, recipients, reply_address};
use crate::orders::values::{MessageValues, ReceiptValues};

/// The event of a message about an order that is no form: the order is unanswered.
pub const CORRESPONDENCE: &str = "correspondence";
/// The event of a person's answer (`orders reply`): the order is answered.
pub const REPLY: &str = "reply";
/// The event of a person marking the messages handled (`orders handled`).
pub const HANDLED: &str = "handled";
/// How many characters of a message's text the history and the Helpdesk's mail keep.
pub const MESSAGE_TEXT_CHARS: usize = 4000;
/// The largest original mail the Helpdesk's copy attaches; a larger one stays in spdesk
/// (`orders show`), and the copy says so.
pub const ATTACH_ORIGINAL_MAX_BYTES: usize = 10 * 1024 * 1024;

/// A mail that belongs to an order, carries no form and comes from someone who may write
/// about the order.
#[derive(Debug, Clone, Copy)]
pub struct Correspondence<'a> {
    pub order: &'a OrderRow,
    pub mail: &'a Mail,
    /// The stored mail's id: the Helpdesk's copy of it is named by it (one per mail).
    pub inbound_id: i64,
    /// The raw mail's size: the copy attaches it up to [`ATTACH_ORIGINAL_MAX_BYTES`].
    pub raw_len: usize,
    /// A `besked_modtaget` for this order was queued since the start of today (Copenhagen).
    pub acknowledged_today: bool,
    /// The sender is answered (not our own address, and the mail has one to answer).
    pub may_reply: bool,
    pub now: DateTime<Utc>,
}

/// The mail to `helpdesk.review_to` that brings a message to a person: the original mail is
/// attached and Reply-To is the sender, so answering it reaches them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub to: Vec<String>,
    pub subject: String,
    pub reply_to: Option<String>,
    /// The number in its Message-ID: the stored mail's id, one forward per mail.
    pub version: i64,
    /// The original mail is attached (not over [`ATTACH_ORIGINAL_MAX_BYTES`]).
    pub attach_original: bool,
    pub values: MessageValues,
}

/// What a message about an order does: its event (with its text), the Helpdesk's copy, the
/// acknowledgement to the sender.
#[derive(Debug, Clone)]
pub struct CorrespondenceEffects {
    pub event: Event,
    pub forward: Option<Forward>,
    pub acknowledgement: Option<Receipt>,
}

/// Plans a message about an order. The sender gets one `besked_modtaget` per order per day
/// at most (its Message-ID names the day), so neither a chatty requester nor an auto-reply
/// that slipped past the loop checks makes a stream of mail.
pub fn correspondence(c: &Correspondence<'_>, ctx: &Context<'_>) -> CorrespondenceEffects {
    let o = c.order;
    let text = message_text(c.mail);
    let sender = c.mail.from.clone();
    let attachments = c
        .mail
        .attachments
        .iter()
        .filter_map(|a| a.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    let mut detail = format!("besked \"{}\" uden formular", c.mail.subject);
    if !attachments.is_empty() {
        detail.push_str(&format!(" (vedhæftet: {attachments})"));
    }
    if !text.is_empty() {
        detail.push('\n');
        detail.push_str(&text);
    }
    let event = Event::note(sender.as_deref().unwrap_or(""), CORRESPONDENCE, detail);
    let review_to = &ctx.helpdesk.review_to;
    let forward = (!review_to.is_empty()).then(|| Forward {
        to: review_to.clone(),
        subject: forward_subject(&o.reference, &c.mail.subject),
        reply_to: forward_reply_to(c.mail, ctx.helpdesk),
        version: c.inbound_id,
        attach_original: c.raw_len <= ATTACH_ORIGINAL_MAX_BYTES,
        values: MessageValues {
            reference: o.reference.clone(),
            bestillings_id: o.bestillings_id.clone(),
            state: o.state.as_str().to_string(),
            org_name: o.org_name.clone(),
            system_name: o.system_name.clone(),
            sender,
            subject: c.mail.subject.clone(),
            text,
            attachments,
            original_too_large: (c.raw_len > ATTACH_ORIGINAL_MAX_BYTES)
                .then(|| format!("{:.1} MB", c.raw_len as f64 / 1_048_576.0)),
        },
    });
    let to = receipt_recipients(c.mail, None, None, ctx.helpdesk);
    let acknowledgement =
        (c.may_reply && !c.acknowledged_today && !to.is_empty()).then(|| Receipt {
            kind: ReceiptKind::BeskedModtaget,
            to,
            subject: None,
            thread: mail_thread(c.mail),
            version: Some(day_number(c.now)),
            values: ReceiptValues {
                reference: o.reference.clone(),
                bestillings_id: o.bestillings_id.clone(),
                contact_name: c.mail.from_name.clone(),
                ..ReceiptValues::default()
            },
        });
    CorrespondenceEffects {
        event,
        forward,
        acknowledgement,
    }
}

/// The Reply-To of the Helpdesk's copy: the sender as a receipt would answer them (Reply-To
/// only in From's own domain, else From, [`reply_address`]), never one of our own addresses.
/// A Reply-To the sender merely wrote would let anyone who forges the requester's From aim a
/// staff member's answer, and what it quotes, at a stranger.
fn forward_reply_to(mail: &Mail, h: &HelpdeskSettings) -> Option<String> {
    reply_address(mail.reply_to.as_deref(), mail.from.as_deref()).filter(|a| !h.is_own(a))
}

/// The subject of the Helpdesk's copy of a message: the reference and the sender's subject
/// (without the reference again).
pub fn forward_subject(reference: &str, subject: &str) -> String {
    let subject = subject.trim();
    let subject = if crate::mail::is_displayable(subject) {
        subject
    } else {
        ""
    };
    if subject.is_empty() {
        format!("[{reference}] Besked om bestillingen")
    } else {
        format!("[{reference}] Besked om bestillingen: {subject}")
    }
}

/// The message's own text: the plain part, else the HTML part's text; at most
/// [`MESSAGE_TEXT_CHARS`], without trailing blank lines.
pub fn message_text(mail: &Mail) -> String {
    let text = match (&mail.text, &mail.html) {
        (Some(t), _) if !t.trim().is_empty() => t.clone(),
        (_, Some(h)) => crate::forms::read::text::html_to_lines(h).join("\n"),
        _ => String::new(),
    };
    let text = text.replace("\r\n", "\n");
    let mut kept: String = text.trim().chars().take(MESSAGE_TEXT_CHARS).collect();
    if text.trim().chars().count() > MESSAGE_TEXT_CHARS {
        kept.push_str(" […]");
    }
    kept
}

/// The Copenhagen day of `now` as a number (days since 1 January of year 1): the
/// acknowledgement's Message-ID names it, so a second one the same day is the same mail.
pub fn day_number(now: DateTime<Utc>) -> i64 {
    i64::from(
        now.with_timezone(&crate::rules::calendar::TZ)
            .date_naive()
            .num_days_from_ce(),
    )
}

/// The start of `now`'s Copenhagen day, in UTC.
pub fn day_start(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&crate::rules::calendar::TZ).date_naive();
    local
        .and_hms_opt(0, 0, 0)
        .and_then(|m| m.and_local_timezone(crate::rules::calendar::TZ).earliest())
        .map_or(now, |t| t.with_timezone(&Utc))
}

/// A person's answer to the requester (`orders reply`).
#[derive(Debug, Clone, Copy)]
pub struct StaffReply<'a> {
    pub order: &'a OrderRow,
    /// The requester's last mail about the order: the answer is a reply to it.
    pub thread: &'a Thread,
    /// The latest version's judgement (the contact's name for the greeting).
    pub judgement: &'a serde_json::Value,
    pub actor: &'a str,
    pub text: &'a str,
    /// The attached file's name, if any (for the history).
    pub attachment: Option<&'a str>,
    /// How many answers the order had before: this one's Message-ID names the next number.
    pub earlier_replies: i64,
    /// Who wrote the messages no one has answered yet (their From, newest first): each was
    /// allowed to write about the order (FORMS.md rule 3) when the message was filed, and a
    /// colleague or a register contact who asked gets the answer too.
    pub writers: &'a [String],
}

/// What an answer does: its event (the order is answered) and the mail.
#[derive(Debug, Clone)]
pub struct ReplyEffects {
    pub event: Event,
    pub receipt: Receipt,
}

/// Plans a person's answer: refused without text or without anyone to send it to.
pub fn reply(r: &StaffReply<'_>, ctx: &Context<'_>) -> Result<ReplyEffects, Refused> {
    let o = r.order;
    let text = r.text.trim();
    if text.is_empty() {
        return Err(Refused(format!(
            "{}: --text is empty; write the answer the requester reads",
            o.reference
        )));
    }
    let to = with_writers(order_recipients(o, None, ctx.helpdesk), r.writers, ctx);
    if to.is_empty() {
        return Err(Refused(format!(
            "{}: the order has no requester address an answer can go to",
            o.reference
        )));
    }
    let mut detail = format!("svar til {}:\n{text}", to.join(", "));
    if let Some(name) = r.attachment {
        detail.push_str(&format!("\n(vedhæftet: {name})"));
    }
    let contact_name = r
        .judgement
        .pointer("/fields/contact_name")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(ReplyEffects {
        event: Event::note(r.actor, REPLY, detail),
        receipt: Receipt {
            kind: ReceiptKind::SvarFraHelpdesk,
            to,
            subject: None,
            thread: r.thread.clone(),
            version: Some(r.earlier_replies + 1),
            values: ReceiptValues {
                reference: o.reference.clone(),
                bestillings_id: o.bestillings_id.clone(),
                contact_name,
                message: Some(text.to_string()),
                ..ReceiptValues::default()
            },
        },
    })
}

/// The order's recipients and then each writer of an unanswered message, once: an address as
/// a receipt to its sender would go ([`recipients`]: never our own, never one no header may
/// carry).
fn with_writers(mut to: Vec<String>, writers: &[String], ctx: &Context<'_>) -> Vec<String> {
    for w in writers {
        for a in recipients(None, Some(w), None, None, ctx.helpdesk) {
            if !to.contains(&a) {
                to.push(a);
            }
        }
    }
    to
}

/// A person marks an order's messages handled: refused when none is waiting.
pub fn handled(
    order: &OrderRow,
    unanswered: bool,
    actor: &str,
    note: Option<&str>,
) -> Result<Event, Refused> {
    if !unanswered {
        return Err(Refused(format!(
            "{}: no unanswered message on this order",
            order.reference
        )));
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    let detail = note.map_or_else(
        || "beskeder markeret som håndteret".to_string(),
        |n| format!("beskeder markeret som håndteret: {n}"),
    );
    Ok(Event::note(actor, HANDLED, detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::helpdesk::HelpdeskSettings;
    use crate::orders::state::State;

    fn helpdesk(review_to: &[&str]) -> HelpdeskSettings {
        HelpdeskSettings {
            address: "helpdesk@sp.test".into(),
            own_domains: vec!["sp.test".into()],
            review_to: review_to.iter().map(|s| s.to_string()).collect(),
            rates: crate::orders::rate::RateLimits::default(),
        }
    }

    fn ctx(h: &HelpdeskSettings) -> Context<'_> {
        Context {
            helpdesk: h,
            register: None,
            incident_to: &[],
        }
    }

    fn order() -> OrderRow {
        OrderRow {
            bestillings_id: Some("BD-7".into()),
            thread_message_id: Some("<first@kommune.test>".into()),
            ..OrderRow::sample(State::Approved, "fa@kommune.test")
        }
    }

    fn mail(raw: &str) -> Mail {
        Mail::parse(raw.replace('\n', "\r\n").as_bytes(), 1).expect("a mail")
    }

    const QUESTION: &str = "From: Fie Andersen <fa@kommune.test>\nTo: helpdesk@sp.test\nSubject: SV: [SP-2026-00001] Bestillingen er godkendt\nMessage-ID: <q1@kommune.test>\nIn-Reply-To: <SP-2026-00001.v1.godkendt@spdesk.sp.test>\n\nKan ændringen rykkes til kl. 13.00?\n\nTelefon: 12345678\n";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-07T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn input<'a>(o: &'a OrderRow, m: &'a Mail, acknowledged_today: bool) -> Correspondence<'a> {
        Correspondence {
            order: o,
            mail: m,
            inbound_id: 42,
            raw_len: 2_000,
            acknowledged_today,
            may_reply: true,
            now: now(),
        }
    }

    #[test]
    fn a_message_is_kept_forwarded_to_review_to_and_acknowledged() {
        let (o, m, h) = (order(), mail(QUESTION), helpdesk(&["review@sp.test"]));
        let e = correspondence(&input(&o, &m, false), &ctx(&h));
        assert_eq!(e.event.action, CORRESPONDENCE);
        assert_eq!(e.event.actor, "fa@kommune.test");
        assert_eq!((e.event.from, e.event.to), (None, None), "no state changes");
        assert!(
            e.event
                .detail
                .contains("Kan ændringen rykkes til kl. 13.00?")
        );
        let f = e.forward.expect("the Helpdesk gets it");
        assert_eq!(f.to, ["review@sp.test"]);
        assert_eq!(f.reply_to.as_deref(), Some("fa@kommune.test"));
        assert_eq!(f.version, 42, "one forward per stored mail");
        assert!(f.attach_original && f.values.original_too_large.is_none());
        assert_eq!(
            f.subject,
            "[SP-2026-00001] Besked om bestillingen: SV: [SP-2026-00001] Bestillingen er godkendt"
        );
        assert_eq!(f.values.state, "approved");
        assert!(f.values.text.starts_with("Kan ændringen"));
        let a = e.acknowledgement.expect("the sender is told");
        assert_eq!(a.kind, ReceiptKind::BeskedModtaget);
        assert_eq!(a.to, ["fa@kommune.test"]);
        assert_eq!(a.thread.message_id.as_deref(), Some("q1@kommune.test"));
        assert_eq!(a.values.contact_name.as_deref(), Some("Fie Andersen"));
        // 23:30 UTC on 7 December is 8 December in Copenhagen: the day of the Message-ID.
        let eighth = chrono::NaiveDate::from_ymd_opt(2026, 12, 8).unwrap();
        assert_eq!(a.version, Some(i64::from(eighth.num_days_from_ce())));
    }

    #[test]
    fn one_acknowledgement_per_order_per_day_and_none_to_whom_we_never_answer() {
        let (o, m, h) = (order(), mail(QUESTION), helpdesk(&["review@sp.test"]));
        let again = correspondence(&input(&o, &m, true), &ctx(&h));
        assert!(again.acknowledgement.is_none());
        assert!(again.forward.is_some(), "every message reaches a person");
        let silent = Correspondence {
            may_reply: false,
            ..input(&o, &m, false)
        };
        assert!(correspondence(&silent, &ctx(&h)).acknowledgement.is_none());
        // No review address: nothing to forward to, the message is still kept.
        let none = helpdesk(&[]);
        let e = correspondence(&input(&o, &m, false), &ctx(&none));
        assert!(e.forward.is_none());
        assert!(e.event.detail.contains("13.00"));
        // A huge original stays in spdesk; the copy says so.
        let huge = Correspondence {
            raw_len: ATTACH_ORIGINAL_MAX_BYTES + 1,
            ..input(&o, &m, false)
        };
        let f = correspondence(&huge, &ctx(&h)).forward.expect("a copy");
        assert!(!f.attach_original);
        assert_eq!(f.values.original_too_large.as_deref(), Some("10.0 MB"));
    }

    /// The copy's Reply-To is the sender as receipts answer them: a Reply-To in another
    /// domain than From's (or one of ours) is never where a staff member's answer goes.
    #[test]
    fn the_copy_answers_the_sender_never_a_foreign_or_own_reply_to() {
        let h = helpdesk(&["review@sp.test"]);
        let o = order();
        let with_reply_to = |r: &str| {
            QUESTION.replacen(
                "To: helpdesk@sp.test\n",
                &format!("To: helpdesk@sp.test\nReply-To: {r}\n"),
                1,
            )
        };
        for r in ["x@evil.example", "helpdesk@sp.test", "kollega@sp.test"] {
            let m = mail(&with_reply_to(r));
            assert_eq!(m.reply_to.as_deref(), Some(r));
            let f = correspondence(&input(&o, &m, false), &ctx(&h))
                .forward
                .unwrap();
            assert_eq!(f.reply_to.as_deref(), Some("fa@kommune.test"), "{r}");
        }
        // A Reply-To in the sender's own domain is the sender's choice.
        let m = mail(&with_reply_to("Sag@Kommune.test"));
        let f = correspondence(&input(&o, &m, false), &ctx(&h))
            .forward
            .unwrap();
        assert_eq!(f.reply_to.as_deref(), Some("sag@kommune.test"));
        // A From of our own: no Reply-To at all.
        let ours = mail(&QUESTION.replace("fa@kommune.test", "helpdesk@sp.test"));
        let f = correspondence(&input(&o, &ours, false), &ctx(&h))
            .forward
            .unwrap();
        assert_eq!(f.reply_to, None);
    }

    #[test]
    fn the_start_of_a_copenhagen_day() {
        let t = DateTime::parse_from_rfc3339("2026-12-08T10:00:00+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(day_start(t).to_rfc3339(), "2026-12-07T23:00:00+00:00");
        let summer = DateTime::parse_from_rfc3339("2026-07-01T00:30:00+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(day_start(summer).to_rfc3339(), "2026-06-30T22:00:00+00:00");
    }

    #[test]
    fn a_long_or_html_only_message_is_kept_readable_and_bounded() {
        let long = format!(
            "From: fa@kommune.test\nSubject: x\n\n{}\n",
            "a".repeat(MESSAGE_TEXT_CHARS + 10)
        );
        let t = message_text(&mail(&long));
        assert!(t.ends_with(" […]"));
        assert_eq!(t.chars().count(), MESSAGE_TEXT_CHARS + 4);
        let html = "From: fa@kommune.test\nSubject: x\nContent-Type: text/html\n\n<p>Tr&aelig;k venligst <b>SP-2026-00001</b> tilbage</p>\n";
        assert!(message_text(&mail(html)).contains("venligst SP-2026-00001 tilbage"));
    }

    #[test]
    fn an_answer_goes_in_the_requesters_thread_and_answers_the_order() {
        let (o, h) = (order(), helpdesk(&["review@sp.test"]));
        let thread = Thread {
            message_id: Some("q1@kommune.test".into()),
            references: vec!["first@kommune.test".into()],
            subject: "SV: [SP-2026-00001] Bestillingen er godkendt".into(),
            ..Thread::default()
        };
        let judgement = serde_json::json!({"fields": {"contact_name": "Fie"}});
        let r = StaffReply {
            order: &o,
            thread: &thread,
            judgement: &judgement,
            actor: "mette",
            text: "  Ja, kl. 13.00 passer.  ",
            attachment: Some("vejledning.pdf"),
            earlier_replies: 2,
            writers: &[],
        };
        let e = reply(&r, &ctx(&h)).expect("an answer");
        assert_eq!(
            (e.event.action.as_str(), e.event.actor.as_str()),
            (REPLY, "mette")
        );
        assert!(e.event.detail.contains("Ja, kl. 13.00 passer."));
        assert!(e.event.detail.contains("vejledning.pdf"));
        assert_eq!(e.receipt.kind, ReceiptKind::SvarFraHelpdesk);
        assert_eq!(e.receipt.thread, thread);
        assert_eq!(e.receipt.version, Some(3));
        assert_eq!(e.receipt.to, ["fa@kommune.test"]);
        assert_eq!(
            e.receipt.values.message.as_deref(),
            Some("Ja, kl. 13.00 passer.")
        );
        assert_eq!(e.receipt.values.contact_name.as_deref(), Some("Fie"));
        let empty = StaffReply { text: " \n", ..r };
        assert!(reply(&empty, &ctx(&h)).unwrap_err().0.contains("--text"));
        let nobody = OrderRow {
            requester: None,
            reply_to: None,
            ..order()
        };
        let r = StaffReply {
            order: &nobody,
            ..r
        };
        assert!(reply(&r, &ctx(&h)).is_err());
    }

    /// A colleague's unanswered question is answered to the colleague and the requester;
    /// never twice to one address, never to our own.
    #[test]
    fn an_answer_reaches_whoever_wrote_the_unanswered_message() {
        let (o, h) = (order(), helpdesk(&["review@sp.test"]));
        let judgement = serde_json::json!({});
        let writers = [
            "Kollega@Kommune.test".to_string(),
            "fa@kommune.test".to_string(),
            "kollega@kommune.test".to_string(),
            "helpdesk@sp.test".to_string(),
            "a\r\nBcc: x@evil.test".to_string(),
        ];
        let r = StaffReply {
            order: &o,
            thread: &Thread::default(),
            judgement: &judgement,
            actor: "mette",
            text: "Ja.",
            attachment: None,
            earlier_replies: 0,
            writers: &writers,
        };
        let e = reply(&r, &ctx(&h)).expect("an answer");
        assert_eq!(e.receipt.to, ["fa@kommune.test", "kollega@kommune.test"]);
        assert!(
            e.event
                .detail
                .starts_with("svar til fa@kommune.test, kollega@kommune.test:")
        );
        // No requester address left, but someone asked: the answer goes to them.
        let nobody = OrderRow {
            requester: None,
            reply_to: None,
            ..order()
        };
        let r = StaffReply {
            order: &nobody,
            writers: &writers[..1],
            ..r
        };
        assert_eq!(
            reply(&r, &ctx(&h)).unwrap().receipt.to,
            ["kollega@kommune.test"]
        );
    }

    #[test]
    fn handled_needs_an_unanswered_message() {
        let o = order();
        let e = handled(&o, true, "mette", Some("ringet op")).expect("handled");
        assert_eq!((e.action.as_str(), e.actor.as_str()), (HANDLED, "mette"));
        assert!(e.detail.ends_with("ringet op"));
        assert!(
            handled(&o, false, "mette", None)
                .unwrap_err()
                .0
                .contains("no unanswered")
        );
    }
}
