//! Whether the receiving MTA verified the sender's From domain (FORMS.md rule 3): a colleague
//! of an order's requester may correct the order only when a TRUSTED Authentication-Results
//! header (RFC 8601; its authserv-id one of ours, any other may be forged by the sender) says
//! DMARC passed, or SPF or DKIM passed for a domain aligned with From.
//!
//! Alignment is checked without a public-suffix list, so it is stricter than DMARC's relaxed
//! mode: the authenticated domain must be the From domain or a subdomain of it (a subdomain is
//! run by the From domain's owner; a sibling or a parent may not be).

use super::sender::trusted_results;

/// At most this many result parts (`method=result ...`) are read per header; a real header
/// has a handful.
const MAX_RESULTS: usize = 32;

/// True when a trusted Authentication-Results header verifies `from` (an address) and none of
/// them says DMARC failed for it.
pub fn sender_verified<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    trusted_authserv_ids: &[String],
    trust_exchange_online: bool,
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
    for results in trusted_results(headers, trusted_authserv_ids, trust_exchange_online) {
        for part in results.split(';').take(MAX_RESULTS) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Vec<String> {
        vec!["mx1.serviceplatformen.dk".to_string()]
    }

    fn verified(header: &str, from: &str) -> bool {
        sender_verified([header], &trusted(), false, Some(from))
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
            false,
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
            false,
            None
        ));
        assert!(!verified(
            "mx1.serviceplatformen.dk; dmarc=pass",
            "no-domain"
        ));
    }

    #[test]
    fn exchange_online_verifies_a_colleague_only_when_trusted_and_on_top() {
        let exo = "spf=pass (sender IP is 192.0.2.7) smtp.mailfrom=kystby.dk; dkim=pass \
                   (signature was verified) header.d=kystby.dk;dmarc=pass action=none \
                   header.from=kystby.dk;compauth=pass reason=100";
        assert!(sender_verified([exo], &[], true, Some("chef@kystby.dk")));
        assert!(!sender_verified([exo], &[], false, Some("chef@kystby.dk")));
        let below = ["mx1.serviceplatformen.dk; spf=none", exo];
        assert!(!sender_verified(below, &[], true, Some("chef@kystby.dk")));
        let failed = "spf=pass smtp.mailfrom=kystby.dk; dmarc=fail action=oreject \
                      header.from=kystby.dk";
        assert!(!sender_verified(
            [failed],
            &[],
            true,
            Some("chef@kystby.dk")
        ));
    }
}
