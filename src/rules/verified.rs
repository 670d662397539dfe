//! Whether the receiving MTA verified the sender's From domain (FORMS.md rule 3): a colleague
//! of an order's requester may correct the order only when a TRUSTED Authentication-Results
//! header (RFC 8601; its authserv-id one of ours, any other may be forged by the sender) says
//! DMARC passed, or SPF or DKIM passed for a domain aligned with From.
//!
//! Alignment is checked without a public-suffix list, so it is stricter than DMARC's relaxed
//! mode: the authenticated domain must be the From domain or a subdomain of it (a subdomain is
//! run by the From domain's owner; a sibling or a parent may not be).

/// At most this many result parts (`method=result ...`) are read per header; a real header
/// has a handful.
const MAX_RESULTS: usize = 32;

/// True when a trusted Authentication-Results header verifies `from` (an address) and none of
/// them says DMARC failed for it.
pub fn sender_verified<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted_authserv_ids: &[String],
    from: Option<&str>,
) -> bool {
    let Some(from_domain) = from
        .and_then(|f| f.trim().rsplit_once('@'))
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
    else {
        return false;
    };
    let mut verified = false;
    for value in headers {
        let value = without_comments(value);
        let mut parts = value.split(';');
        let authserv = parts
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("");
        if !trusted_authserv_ids
            .iter()
            .any(|t| t.eq_ignore_ascii_case(authserv))
        {
            continue;
        }
        for part in parts.take(MAX_RESULTS) {
            match result_verdict(part, &from_domain) {
                Verdict::Fails => return false,
                Verdict::Verifies => verified = true,
                Verdict::Nothing => {}
            }
        }
    }
    verified
}

/// What one result part says about the From domain.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Verifies,
    /// DMARC failed: nothing else can make up for it.
    Fails,
    Nothing,
}

fn result_verdict(part: &str, from_domain: &str) -> Verdict {
    let mut words = part.split_whitespace();
    let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
        return Verdict::Nothing;
    };
    let method = method.to_ascii_lowercase();
    let result = result.to_ascii_lowercase();
    // `ptype.property=value`: the domain each method authenticated.
    let property = |name: &str| {
        part.split_whitespace().skip(1).find_map(|w| {
            let (k, v) = w.split_once('=')?;
            k.eq_ignore_ascii_case(name)
                .then(|| v.trim_matches('"').to_ascii_lowercase())
        })
    };
    let aligned = |domain: Option<String>| {
        domain.is_some_and(|d| {
            let d = d.rsplit_once('@').map(|(_, d)| d).unwrap_or(&d).to_string();
            d == from_domain || d.ends_with(&format!(".{from_domain}"))
        })
    };
    match (method.as_str(), result.as_str()) {
        // DMARC is about the From domain itself; the header.from, when given, must be it.
        ("dmarc", "pass") => match property("header.from") {
            Some(d) if d != from_domain => Verdict::Nothing,
            _ => Verdict::Verifies,
        },
        ("dmarc", "fail") => Verdict::Fails,
        ("spf", "pass") if aligned(property("smtp.mailfrom")) => Verdict::Verifies,
        ("dkim", "pass") if aligned(property("header.d").or_else(|| property("header.i"))) => {
            Verdict::Verifies
        }
        _ => Verdict::Nothing,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<String> {
        vec!["mx1.serviceplatformen.dk".to_string()]
    }

    fn verified(header: &str, from: &str) -> bool {
        sender_verified([header], &trusted(), Some(from))
    }

    #[test]
    fn dmarc_pass_from_a_trusted_host_verifies() {
        let h = "mx1.serviceplatformen.dk; spf=none; dmarc=pass (p=reject) header.from=kystby.dk";
        assert!(verified(h, "chef@kystby.dk"));
        assert!(verified(
            "MX1.serviceplatformen.dk; dmarc=pass",
            "chef@Kystby.DK"
        ));
        // For another From domain it says nothing.
        assert!(!verified(h, "chef@other.dk"));
    }

    #[test]
    fn spf_or_dkim_pass_must_be_aligned_with_from() {
        let spf = "mx1.serviceplatformen.dk; spf=pass smtp.mailfrom=bounce@mail.kystby.dk";
        assert!(verified(spf, "chef@kystby.dk"));
        assert!(!verified(spf, "chef@other.dk"));
        let evil = "mx1.serviceplatformen.dk; spf=pass smtp.mailfrom=x@evilkystby.dk";
        assert!(
            !verified(evil, "chef@kystby.dk"),
            "a suffix is not a subdomain"
        );
        let dkim = "mx1.serviceplatformen.dk; dkim=pass header.d=kystby.dk header.s=s1";
        assert!(verified(dkim, "chef@kystby.dk"));
        let dkim_other = "mx1.serviceplatformen.dk; dkim=pass header.d=mailer.test";
        assert!(!verified(dkim_other, "chef@kystby.dk"));
        let dkim_i = "mx1.serviceplatformen.dk; dkim=pass header.i=@kystby.dk";
        assert!(verified(dkim_i, "chef@kystby.dk"));
    }

    #[test]
    fn untrusted_failed_or_missing_results_do_not_verify() {
        let forged = "evil.example; dmarc=pass header.from=kystby.dk";
        assert!(!verified(forged, "chef@kystby.dk"));
        assert!(!sender_verified(
            ["mx1.serviceplatformen.dk; dmarc=pass"],
            &[],
            Some("chef@kystby.dk")
        ));
        for h in [
            "mx1.serviceplatformen.dk; spf=fail smtp.mailfrom=kystby.dk",
            "mx1.serviceplatformen.dk; dmarc=none",
            "mx1.serviceplatformen.dk; dkim=pass header.d=kystby.dk; dmarc=fail",
            "mx1.serviceplatformen.dk",
            "mx1.serviceplatformen.dk; dmarc",
            "",
        ] {
            assert!(!verified(h, "chef@kystby.dk"), "{h}");
        }
        // A comment cannot smuggle a result in.
        let comment = "mx1.serviceplatformen.dk; spf=none (; dmarc=pass)";
        assert!(!verified(comment, "chef@kystby.dk"));
        assert!(!sender_verified(
            ["mx1.serviceplatformen.dk; dmarc=pass"],
            &trusted(),
            None
        ));
        assert!(!verified(
            "mx1.serviceplatformen.dk; dmarc=pass",
            "no-domain"
        ));
    }
}
