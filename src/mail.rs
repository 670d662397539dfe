//! A received mail as plain owned data: the facts spdesk needs (sender, threading headers,
//! bodies, attachments with decoded names, forwarded mails) read with mail-parser, plus the
//! loop-safety classification (bounce, auto-reply, mailing list).

use chrono::{DateTime, FixedOffset};
use mail_parser::{HeaderValue, Message, MessageParser, MimeHeaders};
use serde::Serialize;

/// One attachment (or forwarded mail).
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The decoded file name (RFC 2047 and RFC 2231 handled by mail-parser).
    pub name: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// A forwarded mail (message/rfc822), parsed.
    pub message: Option<Box<Mail>>,
}

/// The facts of a mail.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub message_id: Option<String>,
    /// The From address (lower-cased domain), if any.
    pub from: Option<String>,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub date: Option<DateTime<FixedOffset>>,
    /// Every header as (name, raw value), in order.
    pub headers: Vec<(String, String)>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The top-level content type, lower case.
    pub content_type: String,
}

/// Why a mail must never be answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LoopFlags {
    pub auto_reply: bool,
    pub bounce: bool,
    pub list: bool,
}

impl LoopFlags {
    pub fn no_reply(self) -> bool {
        self.auto_reply || self.bounce || self.list
    }
}

impl Mail {
    /// Parses a raw mail; `None` when the bytes are not a mail at all. Forwarded mails are
    /// parsed down to `max_depth` levels.
    pub fn parse(raw: &[u8], max_depth: usize) -> Option<Mail> {
        let msg = MessageParser::default().parse(raw)?;
        if msg.headers().is_empty() {
            return None;
        }
        Some(from_message(&msg, max_depth))
    }

    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// Where replies go: Reply-To if present, else From.
    pub fn reply_address(&self) -> Option<&str> {
        self.reply_to.as_deref().or(self.from.as_deref())
    }

    /// Bounce, auto-reply and mailing-list marks (DESIGN.md "Loop safety").
    pub fn loop_flags(&self) -> LoopFlags {
        let h = |n: &str| self.header(n).map(|v| v.to_ascii_lowercase());
        let subject = self.subject.to_lowercase();

        let return_path_empty = h("Return-Path").is_some_and(|v| {
            let v = v.trim();
            v == "<>" || v.is_empty() || v == "<\"\">"
        });
        let from_daemon = self.from.as_deref().is_some_and(|f| {
            let local = f.split('@').next().unwrap_or("").to_ascii_lowercase();
            matches!(
                local.as_str(),
                "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon" | "mdaemon"
            )
        }) || self.from.is_none()
            && self
                .from_name
                .as_deref()
                .is_some_and(|n| n.to_ascii_lowercase().contains("mailer-daemon"));
        let report = self.content_type == "multipart/report";
        let report_parts = self.attachments.iter().any(|a| {
            matches!(
                a.content_type.as_str(),
                "message/delivery-status"
                    | "message/global-delivery-status"
                    | "message/feedback-report"
                    | "message/disposition-notification"
            )
        });
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
        ];
        let bounce_subject = BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s));
        let bounce = report
            || report_parts
            || return_path_empty
            || from_daemon
            || self.header("X-Failed-Recipients").is_some()
            || (bounce_subject
                && (self.from.is_none()
                    || from_daemon
                    || self
                        .attachments
                        .iter()
                        .any(|a| a.message.is_some() || a.content_type == "text/rfc822-headers")));

        let auto_submitted = h("Auto-Submitted").is_some_and(|v| {
            let v = v.split(';').next().unwrap_or("").trim().to_string();
            !v.is_empty() && v != "no"
        });
        let precedence = h("Precedence")
            .is_some_and(|v| matches!(v.trim(), "bulk" | "junk" | "list" | "auto_reply"));
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
        // Only where an auto-reply puts its marker, at the start: a person's subject that
        // merely mentions "autosvar" or "vacation" must not silence the order it carries.
        let head = subject_head(&subject);
        let auto_subject =
            AUTO_SUBJECTS.iter().any(|s| head.starts_with(s)) || head.starts_with("away");
        let auto_reply = auto_submitted
            || precedence
            || self.header("X-Autoreply").is_some()
            || self.header("X-Autorespond").is_some()
            || self.header("X-Auto-Response-Suppress").is_some()
            || h("X-Mailer").is_some_and(|v| v.contains("vacation"))
            || auto_subject;

        let list = [
            "List-Id",
            "List-Unsubscribe",
            "List-Post",
            "List-Help",
            "List-Subscribe",
            "List-Owner",
            "List-Archive",
        ]
        .iter()
        .any(|n| self.header(n).is_some());

        LoopFlags {
            auto_reply,
            bounce,
            list,
        }
    }

    /// The Message-IDs a bounce carries in its returned headers (to find which receipt of ours
    /// bounced).
    pub fn returned_message_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.attachments {
            if let Some(m) = &a.message {
                out.extend(m.message_id.clone());
            } else if a.content_type == "text/rfc822-headers" {
                let text = String::from_utf8_lossy(&a.bytes);
                for line in text.lines() {
                    if let Some(v) = line
                        .strip_prefix("Message-ID:")
                        .or_else(|| line.strip_prefix("Message-Id:"))
                    {
                        out.push(v.trim().trim_matches(['<', '>']).to_string());
                    }
                }
            }
        }
        out
    }
}

fn addr_of(v: Option<&mail_parser::Address<'_>>) -> (Option<String>, Option<String>) {
    let Some(a) = v.and_then(|a| a.first()) else {
        return (None, None);
    };
    let address = a.address().and_then(|s| {
        let s = s.trim();
        let (local, domain) = s.rsplit_once('@')?;
        Some(format!("{local}@{}", domain.to_ascii_lowercase()))
    });
    (address, a.name().map(str::to_string))
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    }
}

fn from_message(msg: &Message<'_>, depth: usize) -> Mail {
    let (from, from_name) = addr_of(msg.from());
    let (reply_to, _) = addr_of(msg.reply_to());
    let headers = msg
        .headers_raw()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let content_type = msg
        .root_part()
        .content_type()
        .map(|ct| {
            format!(
                "{}/{}",
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase()
            )
        })
        .unwrap_or_else(|| "text/plain".into());
    let date = msg
        .date()
        .and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok());

    let mut attachments = Vec::new();
    for part in msg.attachments() {
        let name = part.attachment_name().map(str::to_string);
        let ctype = part
            .content_type()
            .map(|ct| {
                format!(
                    "{}/{}",
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or("octet-stream").to_ascii_lowercase()
                )
            })
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let message = match part.message() {
            Some(inner) if depth > 0 => Some(Box::new(from_message(inner, depth - 1))),
            _ => None,
        };
        attachments.push(Attachment {
            name,
            content_type: ctype,
            bytes: part.contents().to_vec(),
            message,
        });
    }
    let text = msg
        .text_bodies()
        .filter(|p| !p.is_text_html())
        .filter_map(|p| p.text_contents())
        .collect::<Vec<_>>();
    let html = msg
        .html_bodies()
        .filter(|p| p.is_text_html())
        .filter_map(|p| p.text_contents())
        .collect::<Vec<_>>();
    Mail {
        message_id: msg.message_id().map(|s| s.trim().to_string()),
        from,
        from_name,
        reply_to,
        subject: msg.subject().unwrap_or("").trim().to_string(),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        date,
        headers,
        text: (!text.is_empty()).then(|| text.join("\n")),
        html: (!html.is_empty()).then(|| html.join("\n")),
        attachments,
        content_type,
    }
}

/// The subject after leading reply/forward prefixes and `[tags]` ("SV: [EXT] Autosvar: x" →
/// "autosvar: x"), lowercase in, lowercase out.
fn subject_head(subject: &str) -> &str {
    const PREFIXES: &[&str] = &["re:", "sv:", "aw:", "fw:", "fwd:", "vs:", "wg:", "tr:"];
    let mut s = subject.trim_start();
    loop {
        let rest = if s.starts_with('[') {
            s.find(']').map(|end| &s[end + 1..])
        } else {
            PREFIXES
                .iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(headers: &str, body: &str) -> Mail {
        let raw = format!("{headers}\r\n\r\n{body}");
        Mail::parse(raw.as_bytes(), 3).expect("a mail")
    }

    #[test]
    fn reads_sender_threading_and_subject() {
        let m = mail(
            "From: Karin Holm <kaho@Vestaa.DK>\r\nReply-To: sp@vestaa.dk\r\nSubject: =?utf-8?q?Bestilling_=C3=A6ndring?=\r\nMessage-ID: <abc@x.test>\r\nIn-Reply-To: <r1@spdesk>\r\nReferences: <r0@spdesk> <r1@spdesk>",
            "Hej",
        );
        assert_eq!(m.from.as_deref(), Some("kaho@vestaa.dk"));
        assert_eq!(m.reply_address(), Some("sp@vestaa.dk"));
        assert_eq!(m.subject, "Bestilling ændring");
        assert_eq!(m.message_id.as_deref(), Some("abc@x.test"));
        assert_eq!(m.in_reply_to, vec!["r1@spdesk"]);
        assert_eq!(m.references, vec!["r0@spdesk", "r1@spdesk"]);
        assert_eq!(m.text.as_deref().map(str::trim), Some("Hej"));
        assert_eq!(m.loop_flags(), LoopFlags::default());
    }

    #[test]
    fn flags_auto_replies_bounces_and_lists() {
        let m = mail(
            "From: a@b.dk\r\nAuto-Submitted: auto-replied\r\nSubject: x",
            "",
        );
        assert!(m.loop_flags().auto_reply);
        let m = mail("From: a@b.dk\r\nAuto-Submitted: no\r\nSubject: x", "");
        assert!(!m.loop_flags().no_reply());
        let m = mail(
            "From: MAILER-DAEMON@mx.b.dk\r\nSubject: Undelivered Mail Returned to Sender",
            "",
        );
        assert!(m.loop_flags().bounce);
        let m = mail("From: a@b.dk\r\nReturn-Path: <>\r\nSubject: x", "");
        assert!(m.loop_flags().bounce);
        let m = mail("From: a@b.dk\r\nList-Id: <x.lists.b.dk>\r\nSubject: x", "");
        assert!(m.loop_flags().list);
        let m = mail("From: a@b.dk\r\nSubject: Automatisk svar: Bestilling", "");
        assert!(m.loop_flags().auto_reply);
    }

    #[test]
    fn auto_reply_subjects_count_only_at_the_start() {
        for auto in [
            "Automatisk svar: Bestilling",
            "SV: Autosvar: Bestilling",
            "[EXT] Out of Office: Bestilling",
            "RE: [ekstern] fraværende: x",
            "Away from the office",
        ] {
            let m = mail(&format!("From: a@b.dk\r\nSubject: {auto}"), "");
            assert!(m.loop_flags().auto_reply, "{auto}");
        }
        for person in [
            "Bestilling efter autosvar",
            "Ny URL til vacation-planner",
            "Certifikat for auto: SagsOpslag",
            "[",
            "[unclosed tag: Bestilling",
            "re: sv: ",
            "",
        ] {
            let m = mail(&format!("From: a@b.dk\r\nSubject: {person}"), "");
            assert!(!m.loop_flags().auto_reply, "{person}");
        }
    }

    #[test]
    fn not_a_mail() {
        assert!(Mail::parse(b"", 3).is_none());
    }
}
