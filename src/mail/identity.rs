//! A mail's content identity (DESIGN.md "Intake is exactly-once"): a SHA-256 over the message
//! without the trace headers MTAs add on the way. The same mail delivered twice — through
//! another relay, to another alias, after a redelivery that added its own `Received` and
//! `Delivered-To` — hashes the same; a different mail that reuses a Message-ID does not.
//!
//! One pass over the bytes, no allocation: a hostile mail of any size costs its length.

use sha2::{Digest, Sha256};

/// Header fields MTAs add or rewrite in transit (compared case-insensitively); Received-SPF
/// is a trace field too (RFC 7208 9.1), added by the same MTAs as Authentication-Results.
const TRACE_FIELDS: [&str; 6] = [
    "received",
    "received-spf",
    "return-path",
    "delivered-to",
    "x-original-to",
    "authentication-results",
];
/// Families of trace fields, by their name's start (ARC sealing, spam filter verdicts).
const TRACE_PREFIXES: [&str; 2] = ["arc-", "x-spam-"];

/// True for a trace field's name (`name` as written before the colon).
fn is_trace(name: &[u8]) -> bool {
    let name = name.trim_ascii();
    TRACE_FIELDS
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f.as_bytes()))
        || TRACE_PREFIXES.iter().any(|p| {
            name.get(..p.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(p.as_bytes()))
        })
}

/// The content hash of a raw message, lower-case hex: every byte of it except the trace
/// header fields (with their folded continuation lines). The header ends at the first empty
/// line; a message without one is all header.
pub fn content_sha256(raw: &[u8]) -> String {
    let mut hash = Sha256::new();
    let mut skipping = false;
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        if line.trim_ascii().is_empty() && !line.starts_with(b" ") && !line.starts_with(b"\t") {
            // The empty line ends the header: the body is hashed as it is.
            hash.update(rest);
            break;
        }
        let continuation = line.starts_with(b" ") || line.starts_with(b"\t");
        if !continuation {
            skipping = line
                .iter()
                .position(|&b| b == b':')
                .and_then(|colon| line.get(..colon))
                .is_some_and(is_trace);
        }
        if !skipping {
            hash.update(line);
        }
        rest = after;
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From: Jens <jens@kommune.test>\r\nTo: helpdesk@sp.test\r\nMessage-ID: <a@kommune.test>\r\nSubject: Bestilling\r\n\r\nHej\r\nmed venlig hilsen\r\n";

    #[test]
    fn the_same_mail_through_more_relays_is_the_same() {
        let relayed = format!(
            "Return-Path: <jens@kommune.test>\r\nDelivered-To: helpdesk@sp.test\r\nX-Original-To: alias@sp.test\r\n\
             Received: from mx.kommune.test (mx.kommune.test [192.0.2.1])\r\n\tby mx.sp.test with ESMTPS id 1;\r\n Wed, 2 Dec 2026 10:00:00 +0100\r\n\
             ARC-Seal: i=1; a=rsa-sha256; cv=none;\r\n  b=abc\r\nARC-Message-Signature: i=1\r\n\
             X-Spam-Status: No, score=-1.0\r\nx-spam-flag: NO\r\nReceived-SPF: pass\r\nAUTHENTICATION-RESULTS: mx.sp.test; dmarc=pass\r\n{MAIL}"
        );
        assert_eq!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(relayed.as_bytes())
        );
        // A trace field further down the header, too.
        let inside = MAIL.replace(
            "Subject:",
            "Received: by relay.test;\r\n Wed, 2 Dec 2026 10:00:00 +0100\r\nSubject:",
        );
        assert_eq!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(inside.as_bytes())
        );
    }

    #[test]
    fn one_changed_body_byte_is_another_mail() {
        let changed = MAIL.replace("Hej", "Hej!");
        assert_ne!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(changed.as_bytes())
        );
        let other_subject = MAIL.replace("Bestilling", "Bestilling 2");
        assert_ne!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(other_subject.as_bytes())
        );
    }

    #[test]
    fn a_folded_trace_field_is_removed_whole_and_other_folds_kept() {
        let folded = MAIL.replace("To:", "Received: from a\r\n\tby b\r\n  with c\r\nTo:");
        assert_eq!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(folded.as_bytes())
        );
        // A folded continuation of a kept field is content.
        let subject_folded = MAIL.replace("Subject: Bestilling", "Subject: Bestilling\r\n til");
        assert_ne!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(subject_folded.as_bytes())
        );
    }

    #[test]
    fn a_trace_name_in_the_body_or_a_value_is_content() {
        let body = MAIL.replace("Hej", "Received: x");
        assert_ne!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(body.as_bytes())
        );
        let value = MAIL.replace("Subject: Bestilling", "Subject: Received: x");
        assert_ne!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(value.as_bytes())
        );
        // Only whole names count: "Receivedx" is not a trace field.
        let lookalike = MAIL.replace("Subject:", "Receivedx: 1\r\nSubject:");
        assert_ne!(
            content_sha256(MAIL.as_bytes()),
            content_sha256(lookalike.as_bytes())
        );
    }

    #[test]
    fn no_separator_no_header_and_empty_input_are_fine() {
        let headers_only = "From: a@b.test\r\nReceived: by x\r\nSubject: s";
        assert_eq!(
            content_sha256(headers_only.as_bytes()),
            content_sha256(b"From: a@b.test\r\nSubject: s")
        );
        assert_ne!(content_sha256(b"just text"), content_sha256(b"other text"));
        assert_eq!(content_sha256(b"").len(), 64);
        assert_eq!(content_sha256(b"\n\n\n"), content_sha256(b"\n\n\n"));
        // A body that starts at once (empty first line) is hashed whole.
        assert_ne!(
            content_sha256(b"\r\nReceived: 1"),
            content_sha256(b"\r\nReceived: 2")
        );
    }

    #[test]
    fn huge_input_is_one_pass() {
        let trace = "Received: by relay.test\r\n".repeat(200_000);
        let lines = format!("{trace}{MAIL}{}", "x\r\n".repeat(1_000_000));
        let start = std::time::Instant::now();
        let a = content_sha256(lines.as_bytes());
        assert_eq!(a.len(), 64);
        assert_ne!(a, content_sha256(MAIL.as_bytes()));
        // ~8 MB: well under a second even unoptimised on a busy machine.
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        let one_line = vec![b'a'; 20_000_000];
        assert_eq!(content_sha256(&one_line).len(), 64);
    }
}
