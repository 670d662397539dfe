//! Which attachments of a mail are pictures shown inside its text rather than files attached
//! to it (FORMS.md "Where a form can arrive"): a signature logo or a pasted screenshot is
//! neither a form nor an unreadable one. A part is shown inline when the HTML refers to its
//! Content-ID (`<img src="cid:image001.png@01DA...">`, as Outlook and Gmail write it), or when
//! it is marked `Content-Disposition: inline` inside a multipart/related (Apple Mail). Apple
//! Mail marks attached files `inline` too, but puts them in multipart/mixed: those stay
//! attachments.

use std::collections::HashSet;

use mail_parser::{Message, MessagePartId, MimeHeaders, PartType};

/// How much of each HTML body is searched for `cid:` references: real HTML bodies are tens
/// of KB, and the references sit where the pictures are shown.
const CID_SEARCH_BYTES: usize = 4 * 1024 * 1024;

/// The ids of the parts of `msg` that are shown inline (see the module doc).
pub(super) fn inline_parts(msg: &Message<'_>) -> HashSet<MessagePartId> {
    // Most mails have no part with a Content-ID: their HTML is not searched.
    let with_cid = msg
        .attachments()
        .any(|p| p.content_id().is_some_and(|c| !c.trim().is_empty()));
    let referenced = if with_cid {
        cid_references(msg)
    } else {
        HashSet::new()
    };
    let related = related_children(msg);
    let mut inline = HashSet::new();
    for &id in &msg.attachments {
        let Some(part) = usize::try_from(id).ok().and_then(|i| msg.parts.get(i)) else {
            continue;
        };
        let by_cid = !referenced.is_empty()
            && part
                .content_id()
                .map(|c| c.trim().trim_matches(['<', '>']).to_ascii_lowercase())
                .is_some_and(|c| referenced.contains(&c));
        let marked_inline = related.contains(&id)
            && part
                .content_disposition()
                .is_some_and(|d| d.ctype().eq_ignore_ascii_case("inline"));
        if by_cid || marked_inline {
            inline.insert(id);
        }
    }
    inline
}

/// Every Content-ID the HTML bodies refer to with `cid:`, lower case.
fn cid_references(msg: &Message<'_>) -> HashSet<String> {
    let mut ids = HashSet::new();
    for html in msg.html_bodies().filter_map(|p| p.text_contents()) {
        let html = super::loops::head_chars(html, CID_SEARCH_BYTES);
        let lower = html.to_ascii_lowercase();
        for (at, _) in lower.match_indices("cid:") {
            let rest = lower.get(at + 4..).unwrap_or("");
            let end = rest
                .find(|c: char| matches!(c, '"' | '\'' | '>' | ')') || c.is_whitespace())
                .unwrap_or(rest.len());
            let id = rest.get(..end).unwrap_or("");
            // The reference may be percent-encoded (RFC 2392) and is compared without <>.
            let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
            let id = id.trim_matches(['<', '>']);
            if !id.is_empty() {
                ids.insert(id.to_string());
            }
        }
    }
    ids
}

/// The ids of the direct children of every multipart/related part.
fn related_children(msg: &Message<'_>) -> HashSet<MessagePartId> {
    let mut children = HashSet::new();
    for part in &msg.parts {
        let related = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("related"))
        });
        if let (true, PartType::Multipart(ids)) = (related, &part.body) {
            children.extend(ids.iter().copied());
        }
    }
    children
}
