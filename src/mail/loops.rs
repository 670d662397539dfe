//! Loop safety (DESIGN.md "Loop safety"): the marks that say a mail must never be answered —
//! bounce, auto-reply, mailing list. Answering any of these is how mail loops start, so each
//! mark errs towards "never answer" where the signal is one a person's ordinary mail does not
//! carry; the weaker signals (subject, body wording) count only together with a returned
//! message or a daemon sender.
//!
//! The word lists are tables ([`BOUNCE_SUBJECTS`], [`FAILURE_TEXT`], [`AUTO_SUBJECTS`], ...);
//! the functions below say how the signals combine.

use super::{LoopFlags, Mail};

/// The local parts MTAs send reports from (RFC 5321 4.5.1 postmaster; MAILER-DAEMON by
/// convention), compared by [`alnum_lower`], so `post_master` (Apache James) and
/// `Mailer_Daemon` count too.
const DAEMON_LOCAL_PARTS: &[&str] = &[
    "mailerdaemon",
    "postmaster",
    "maildaemon",
    "mailerdaemons",
    "mdaemon",
];

/// The display names MTAs give those mailboxes (Postfix "Mail Delivery System",
/// Exim/Sendmail "Mail Delivery Subsystem"), compared whole by [`alnum_lower`]; a name that
/// merely contains "mailerdaemon" ("MAILER DAEMON <>" with no address) counts too.
const DAEMON_NAMES: &[&str] = &["maildeliverysystem", "maildeliverysubsystem", "postmaster"];

/// The machine-readable parts of an RFC 6522 multipart/report: DSNs (RFC 3464), MDNs
/// (RFC 8098) and ARF feedback reports (RFC 5965). They can also arrive without the report
/// wrapper (some gateways re-wrap them in multipart/mixed).
const REPORT_PART_TYPES: &[&str] = &[
    "message/delivery-status",
    "message/global-delivery-status",
    "message/feedback-report",
    "message/disposition-notification",
    "message/global-disposition-notification",
];

/// Content types of a returned copy (or the headers of one) of the mail that failed.
const RETURNED_MESSAGE_TYPES: &[&str] = &[
    "message/rfc822",
    "text/rfc822-headers",
    "message/rfc822-headers",
];

/// Subject wording of bounces and complaints, anywhere in the lower-cased subject.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail",
    "undeliverable",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "mail delivery failed",
    "mail delivery failure",
    "returned mail",
    "failure notice",
    "non remis",
    "unzustellbar",
    "kunne ikke leveres",
    "ikke leveret",
    "delivery notification",
    "nondeliverable",
    "mail system error",
    "message not delivered",
    "bounce notification",
    // Japanese providers (KDDI, NTT, Biglobe): "mail error notification".
    "メールエラー",
    // Complaint / abuse reports in the pre-ARF formats (Hotmail JMRP, AOL, ...).
    "complaint about message from",
    "abuse report",
    "spam report",
    "feedback report",
];

/// The wording MTAs use in a bounce's human-readable part.
const FAILURE_TEXT: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "was not delivered",
    "could not deliver",
    "delivery to the following recipient",
    "delivery has failed",
    "permanent fatal error",
    "permanent error",
    "user unknown",
    "no such user",
    "mailbox is full",
    "mailbox full",
    "recipient address rejected",
    "requested action not taken",
    "undeliverable",
    "kunne ikke leveres",
    "nicht zugestellt",
];

/// How much of the text [`FAILURE_TEXT`] is looked for in: the reason comes first, and the
/// work stays bounded on large mails.
const FAILURE_TEXT_BYTES: usize = 8 * 1024;

/// Subject starts of auto-replies (after "Re:", "SV:", tags; see [`subject_head`]).
const AUTO_SUBJECTS: &[&str] = &[
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto-reply",
    "autosvar",
    "automatisk svar",
    "out of office",
    "out of the office",
    "fraværende",
    "fravær:",
    "ikke på kontoret",
    "autoresponse",
    "auto response",
    "abwesenheit",
    "abwesend",
    "réponse automatique",
    "away from",
    "vacation",
    "auto:",
];

/// Headers whose mere presence marks an auto-reply: vacation programs and providers
/// (X-Autoreply: yes; X-Autorespond); Exchange sets X-Auto-Response-Suppress on its own
/// generated mail (OOF, NDR) and asks that nothing automatic answers it, and a receipt is
/// exactly such an answer (DESIGN.md).
const AUTO_REPLY_HEADERS: &[&str] = &["X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress"];

/// RFC 2369 and RFC 2919 list headers.
const LIST_HEADERS: &[&str] = &[
    "List-Id",
    "List-Unsubscribe",
    "List-Post",
    "List-Help",
    "List-Subscribe",
    "List-Owner",
    "List-Archive",
];

impl Mail {
    /// Bounce, auto-reply and mailing-list marks (see the module doc).
    pub fn loop_flags(&self) -> LoopFlags {
        LoopFlags {
            auto_reply: self.is_auto_reply(),
            bounce: self.is_bounce(),
            list: LIST_HEADERS.iter().any(|n| self.header(n).is_some()),
            spam: false,
        }
    }

    /// A header's first value, lower-cased.
    fn header_lower(&self, name: &str) -> Option<String> {
        self.header(name).map(|v| v.to_ascii_lowercase())
    }

    /// Non-delivery reports, DSNs, abuse and feedback reports.
    fn is_bounce(&self) -> bool {
        let subject = self.subject.to_lowercase();
        let from_daemon = self.is_from_mail_daemon();
        let returned_message = self.carries_returned_message();
        let bounce_subject = BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s));
        // Not in a person's forward ("Fwd: ...") asking the Helpdesk about a failed mail.
        let failure_text = !is_forward_subject(&subject)
            && self.text.as_deref().is_some_and(|t| {
                let head = head_chars(t, FAILURE_TEXT_BYTES).to_lowercase();
                FAILURE_TEXT.iter().any(|p| head.contains(p))
            });
        self.is_report()
            || self.has_null_return_path()
            || from_daemon
            // Exim and others list the recipients that failed here; only bounces carry it.
            || self.header("X-Failed-Recipients").is_some()
            || (bounce_subject && (self.from.is_none() || from_daemon || returned_message))
            || (failure_text && returned_message)
            // Two weak signals together: a bounce subject over failure wording (MMS gateways
            // and some appliances send exactly this, with a real sender and nothing attached).
            || (bounce_subject && failure_text)
    }

    /// RFC 5321 4.5.5: notifications are sent with a null reverse-path, which the final MTA
    /// records as `Return-Path: <>`. Ordinary mail always has a sender here.
    fn has_null_return_path(&self) -> bool {
        self.header_lower("Return-Path").is_some_and(|v| {
            let v = v.trim();
            v == "<>" || v.is_empty() || v == "<\"\">"
        })
    }

    /// Sent from an MTA's own mailbox ([`DAEMON_LOCAL_PARTS`]) or under its display name
    /// ([`DAEMON_NAMES`]).
    fn is_from_mail_daemon(&self) -> bool {
        let daemon_local = self.from.as_deref().is_some_and(|addr| {
            let local = addr.rsplit_once('@').map(|(l, _)| l).unwrap_or(addr);
            DAEMON_LOCAL_PARTS.contains(&alnum_lower(local).as_str())
        });
        let daemon_name = self.from_name.as_deref().is_some_and(|n| {
            let n = alnum_lower(n);
            n.contains("mailerdaemon") || DAEMON_NAMES.contains(&n.as_str())
        });
        daemon_local || daemon_name
    }

    /// A multipart/report, or one of its machine-readable parts ([`REPORT_PART_TYPES`]).
    fn is_report(&self) -> bool {
        self.content_type == "multipart/report"
            || self
                .attachments
                .iter()
                .any(|a| REPORT_PART_TYPES.contains(&a.content_type.as_str()))
    }

    /// A copy of the mail that failed (or was reported) rides along with most non-standard
    /// bounces and complaints; an ordinary forward has one too, so this only counts together
    /// with report wording.
    fn carries_returned_message(&self) -> bool {
        self.attachments.iter().any(|a| {
            a.message.is_some() || RETURNED_MESSAGE_TYPES.contains(&a.content_type.as_str())
        })
    }

    /// RFC 3834 and the de-facto headers, or an auto-reply's subject.
    fn is_auto_reply(&self) -> bool {
        // RFC 3834 5: anything but `no` marks machine-generated mail.
        let auto_submitted = self.header_lower("Auto-Submitted").is_some_and(|v| {
            let v = v.split(';').next().unwrap_or("").trim().to_string();
            !v.is_empty() && v != "no"
        });
        // RFC 3834 3.1.8 / RFC 2076: bulk, junk and list mail must not get automatic
        // responses; some vacation programs mark their own replies `auto_reply`.
        let precedence = self
            .header_lower("Precedence")
            .is_some_and(|v| matches!(v.trim(), "bulk" | "junk" | "list" | "auto_reply"));
        auto_submitted
            || precedence
            || AUTO_REPLY_HEADERS.iter().any(|n| self.header(n).is_some())
            || self
                .header_lower("X-Mailer")
                .is_some_and(|v| v.contains("vacation"))
            || is_auto_reply_subject(&self.subject.to_lowercase())
    }
}

/// Only where an auto-reply puts its marker, at the start (after "Re:", "SV:", tags): a
/// person's subject that merely mentions "autosvar" or "vacation" must not silence the order
/// it carries.
fn is_auto_reply_subject(lower: &str) -> bool {
    let head = subject_head(lower);
    AUTO_SUBJECTS.iter().any(|s| head.starts_with(s))
        // "Away: ..." / "Away from my desk", but not "Awaiting ...".
        || head
            .strip_prefix("away")
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
}

/// Lower-case ASCII letters and digits only: `Mailer_Daemon` and `MAILER-DAEMON` compare equal.
pub(super) fn alnum_lower(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// At most the first `max` bytes of `s`, cut at a character boundary.
pub(super) fn head_chars(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// A subject a person gives a mail they forward (English, Danish, German, French, Outlook).
fn is_forward_subject(lower: &str) -> bool {
    let lower = lower.trim_start();
    // Danish Outlook writes "Videresend:" or "Videresendt:".
    FORWARD_PREFIXES.iter().any(|p| lower.starts_with(p)) || lower.starts_with("videresend")
}

/// The subject prefixes mail programs put before a forwarded mail's subject (English, Danish,
/// German, French, Outlook), lower case.
const FORWARD_PREFIXES: &[&str] = &["fw:", "fwd:", "vs:", "wg:", "tr:"];
/// The subject prefixes of a reply (English, Danish, German), lower case.
const REPLY_PREFIXES: &[&str] = &["re:", "sv:", "aw:"];

/// The subject after leading reply/forward prefixes and `[tags]` ("SV: [EXT] Autosvar: x" →
/// "autosvar: x"), lowercase in, lowercase out.
fn subject_head(subject: &str) -> &str {
    let mut s = subject.trim_start();
    loop {
        let rest = if s.starts_with('[') {
            s.find(']').map(|end| &s[end + 1..])
        } else {
            REPLY_PREFIXES
                .iter()
                .chain(FORWARD_PREFIXES)
                .find(|p| s.starts_with(*p))
                .map(|p| &s[p.len()..])
        };
        match rest {
            // every step drops at least one character, so this ends
            Some(r) => s = r.trim_start(),
            None => return s,
        }
    }
}
