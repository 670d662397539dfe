//! Who sent the order (FORMS.md rule 7): the receiving MTA's SPF/DMARC verdict, read only from
//! Authentication-Results headers whose authserv-id the Helpdesk trusts (RFC 8601: any other
//! such header may be forged by the sender).

use crate::rules::finding::{Finding, Rule};

/// `sender.unverified` when a trusted Authentication-Results header says SPF or DMARC failed.
///
/// A header counts when its authserv-id is one of `trusted_authserv_ids`. With
/// `trust_exchange_online`, the topmost header also counts when it has no authserv-id at all,
/// as Exchange Online writes it (`spf=fail (sender IP is …) smtp.mailfrom=…; dmarc=fail …`;
/// see MimeKit issue 490): Microsoft 365 removes such headers arriving from outside and puts
/// its own on top, so on a Microsoft 365 mailbox that one is Microsoft's verdict. On any
/// other mailbox a header without authserv-id is the sender's word and never counts.
pub fn check_authentication<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted_authserv_ids: &[String],
    trust_exchange_online: bool,
) -> Vec<Finding> {
    for results in trusted_results(headers, trusted_authserv_ids, trust_exchange_online) {
        let parts = results.split(';');
        let mut failed = Vec::new();
        for part in parts {
            let part = part.trim().to_ascii_lowercase();
            for method in ["dmarc", "spf"] {
                if let Some(rest) = part.strip_prefix(method) {
                    let result = rest
                        .trim_start()
                        .strip_prefix('=')
                        .unwrap_or("")
                        .split_whitespace()
                        .next()
                        .unwrap_or("");
                    if matches!(result, "fail" | "softfail" | "permerror")
                        && !failed.contains(&method)
                    {
                        failed.push(method);
                    }
                }
            }
        }
        if !failed.is_empty() {
            let what = failed
                .iter()
                .map(|m| m.to_uppercase())
                .collect::<Vec<_>>()
                .join(" og ");
            return vec![Finding::new(
                Rule::SenderUnverified,
                None,
                format!(
                    "Afsenderen kunne ikke verificeres: vores mailserver fik et negativt {what}-resultat for afsenderens domæne. Helpdesk kontrollerer bestillingen, før den behandles."
                ),
            )];
        }
    }
    Vec::new()
}

/// The result parts (`method=result …; …`, after the authserv-id) of every
/// Authentication-Results header that counts, in order, with RFC 5322 comments removed (they
/// may hold `;` and `=`): those whose authserv-id is in `trusted_authserv_ids`, and with
/// `trust_exchange_online` the topmost one when it has no authserv-id (see
/// [`check_authentication`]). The one place that decides whose verdict is believed, for
/// `sender.unverified` and for a colleague's standing alike ([`super::verified`]).
pub fn trusted_results<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted_authserv_ids: &[String],
    trust_exchange_online: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for (index, value) in headers.into_iter().enumerate() {
        let value = without_comments(value);
        let first = value.split(';').next().unwrap_or("");
        if trust_exchange_online && index == 0 && is_method_result(first) {
            // Exchange Online: no authserv-id, the first part is already a result.
            out.push(value);
            continue;
        }
        let authserv = first.split_whitespace().next().unwrap_or("");
        if trusted_authserv_ids
            .iter()
            .any(|t| t.eq_ignore_ascii_case(authserv))
        {
            let rest = value.split_once(';').map(|(_, r)| r).unwrap_or("");
            out.push(rest.to_string());
        }
    }
    out
}

/// The header value without RFC 5322 comments (`(p=reject)`), which may hold `;` and `=`.
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    for c in value.chars() {
        match c {
            '(' => depth = depth.saturating_add(1),
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `method=result …` (RFC 8601 resinfo), not an authserv-id: an authserv-id holds no `=`
/// before its optional version and comment.
fn is_method_result(part: &str) -> bool {
    part.split_whitespace()
        .next()
        .and_then(|token| token.split_once('='))
        .is_some_and(|(method, result)| {
            !method.is_empty()
                && !result.is_empty()
                && method
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_headers_count() {
        let h = "mx1.serviceplatformen.dk; spf=fail smtp.mailfrom=nordlysdata.dk;\n dkim=none; dmarc=fail (p=reject) header.from=nordlysdata.dk";
        let trusted = vec!["mx1.serviceplatformen.dk".to_string()];
        let f = check_authentication([h], &trusted, false);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("SPF og DMARC"));
        assert!(check_authentication([h], &[], false).is_empty());
        let pass = "mx1.serviceplatformen.dk; spf=pass smtp.mailfrom=x.dk; dmarc=pass";
        assert!(check_authentication([pass], &trusted, false).is_empty());
        let forged = "evil.example; dmarc=fail";
        assert!(check_authentication([forged], &trusted, false).is_empty());
    }

    /// Exchange Online's own header, as Microsoft 365 writes it (no authserv-id).
    const EXO_FAIL: &str = "spf=fail (sender IP is 203.0.113.7) smtp.mailfrom=nordlysdata.dk; dkim=none (message not signed) header.d=none;dmarc=fail action=oreject header.from=nordlysdata.dk;compauth=fail reason=000";
    const EXO_PASS: &str = "spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=x.dk; dkim=pass (signature was verified) header.d=x.dk;dmarc=pass action=none header.from=x.dk;compauth=pass reason=100";

    #[test]
    fn exchange_online_headers_count_only_when_trusted_and_on_top() {
        let f = check_authentication([EXO_FAIL], &[], true);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, Rule::SenderUnverified);
        assert!(f[0].message.contains("SPF og DMARC"), "{}", f[0].message);
        let softfail = "spf=softfail (sender IP is 203.0.113.7) smtp.mailfrom=x.dk; dmarc=none action=none header.from=x.dk";
        assert_eq!(check_authentication([softfail], &[], true).len(), 1);
        assert!(check_authentication([EXO_PASS], &[], true).is_empty());
        // Not configured for Microsoft 365: a header without authserv-id is the sender's.
        assert!(check_authentication([EXO_FAIL], &[], false).is_empty());
        assert!(check_authentication([EXO_FAIL], &["x.dk".to_string()], false).is_empty());
        // Only the topmost header is Microsoft's; one further down came with the mail.
        assert!(check_authentication([EXO_PASS, EXO_FAIL], &[], true).is_empty());
        // Trusted authserv-ids still count beside it.
        let own = "mx1.serviceplatformen.dk; dmarc=fail header.from=x.dk";
        let trusted = vec!["mx1.serviceplatformen.dk".to_string()];
        assert_eq!(
            check_authentication([EXO_PASS, own], &trusted, true).len(),
            1
        );
    }
}
