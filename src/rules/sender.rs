//! Who sent the order (FORMS.md rule 7): the receiving MTA's SPF/DMARC verdict, read only from
//! Authentication-Results headers whose authserv-id the Helpdesk trusts (RFC 8601: any other
//! such header may be forged by the sender).

use crate::finding::{Finding, Rule};

/// `sender.unverified` when a trusted Authentication-Results header says SPF or DMARC failed.
pub fn check_authentication<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted_authserv_ids: &[String],
) -> Vec<Finding> {
    for value in headers {
        let mut parts = value.split(';');
        let authserv = parts
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if !trusted_authserv_ids
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&authserv))
        {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_headers_count() {
        let h = "mx1.serviceplatformen.dk; spf=fail smtp.mailfrom=nordlysdata.dk;\n dkim=none; dmarc=fail (p=reject) header.from=nordlysdata.dk";
        let trusted = vec!["mx1.serviceplatformen.dk".to_string()];
        let f = check_authentication([h], &trusted);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("SPF og DMARC"));
        assert!(check_authentication([h], &[]).is_empty());
        let pass = "mx1.serviceplatformen.dk; spf=pass smtp.mailfrom=x.dk; dmarc=pass";
        assert!(check_authentication([pass], &trusted).is_empty());
        let forged = "evil.example; dmarc=fail";
        assert!(check_authentication([forged], &trusted).is_empty());
    }
}
