//! FORMS.md rule 5, URL part: is an ordered URL change technically possible, and does the host
//! the order concerns fit the environment it is ordered for?
//!
//! Pure: no I/O, no clock. Parsing follows the WHATWG URL standard (`url` crate), which is what
//! the webservice clients resolve, so "same URL" means the same thing to us and to them.

use crate::rules::finding::{Finding, Rule};
use url::{Host, Url};

/// Longest URL quoted back in a message; longer ones are cut with "…" so a pasted blob does
/// not flood the receipt.
const MAX_SHOWN_CHARS: usize = 120;

/// Checks the URLs of a `webservice` form.
///
/// `changes_url`: the URL change is ticked (then each given URL must be a valid `https://`
/// address and the new one must differ from the current one). `cert_change`: the SSL-certificate
/// change is ticked. The environment check (`url.env_mismatch`) runs for either change.
/// Missing URLs are not reported here (that is `field.missing`).
pub fn check_urls(
    changes_url: bool,
    cert_change: bool,
    current: Option<&str>,
    new: Option<&str>,
    environment: Option<&str>,
) -> Vec<Finding> {
    let current = current.map(str::trim).filter(|s| !s.is_empty());
    let new = new.map(str::trim).filter(|s| !s.is_empty());
    let mut findings = Vec::new();

    if changes_url {
        for (value, field, label) in [
            (current, "current_url", "Nuværende URL"),
            (new, "new_url", "Ny URL"),
        ] {
            if let Some(value) = value
                && let Some(problem) = url_problem(value)
            {
                findings.push(Finding::new(
                    Rule::UrlInvalid,
                    Some(field),
                    format!("{label}: \"{}\" {problem}", shown(value)),
                ));
            }
        }
        if let (Some(cur), Some(new)) = (current, new)
            && same_url(cur, new)
        {
            findings.push(Finding::new(
                Rule::UrlUnchanged,
                Some("new_url"),
                format!(
                    "Ny URL: \"{}\" er den samme som den nuværende URL. Angiv den nye URL, \
                     webservicen skal have, eller fjern krydset ved URL, hvis URL'en ikke skal ændres.",
                    shown(new)
                ),
            ));
        }
    }

    if (changes_url || cert_change)
        && let Some(finding) = env_mismatch(current, new, environment)
    {
        findings.push(finding);
    }
    findings
}

/// The lower-case host of a URL (IDN hosts in their `xn--` form, no trailing dot), if it has
/// one. A bare `host/path` without a scheme is read as `https://host/path`, so the environment
/// and certificate checks still know the host when the URL itself is rejected.
pub fn host_of(url: &str) -> Option<String> {
    let parsed = parse_lenient(url.trim())?;
    let host = parsed
        .host_str()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn parse_lenient(url: &str) -> Option<Url> {
    match Url::parse(url) {
        Ok(u) => Some(u),
        Err(_) if !url.contains("://") && !url.is_empty() => {
            Url::parse(&format!("https://{url}")).ok()
        }
        Err(_) => None,
    }
}

/// What is wrong with an ordered URL, phrased to follow the quoted URL; `None` when it is fine.
fn url_problem(url: &str) -> Option<String> {
    const FULL: &str = "Angiv den fulde adresse, fx https://ws.kommune.dk/service.";
    let scheme_end = url.find("://");
    let scheme = scheme_end.and_then(|i| url.get(..i));
    match scheme {
        Some(s) if s.eq_ignore_ascii_case("https") => {}
        Some(s) if s.eq_ignore_ascii_case("http") => {
            return Some(
                "skal begynde med https:// (ikke http://). Serviceplatformen kalder kun \
                 webservices over https."
                    .into(),
            );
        }
        _ => return Some(format!("skal begynde med https://. {FULL}")),
    }
    let Ok(parsed) = Url::parse(url) else {
        return Some(format!("er ikke en gyldig URL. {FULL}"));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some(
            "indeholder brugernavn eller adgangskode. Fjern dem fra URL'en (angiv kun \
             https://værtsnavn/sti)."
                .into(),
        );
    }
    match parsed.host() {
        None => Some(format!("mangler et værtsnavn. {FULL}")),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => Some(
            "indeholder en IP-adresse. Angiv webservicens værtsnavn (fx ws.kommune.dk) i \
             stedet for IP-adressen."
                .into(),
        ),
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            if domain == "localhost" || domain.ends_with(".localhost") {
                Some(
                    "peger på localhost. Angiv det værtsnavn, webservicen kan nås på fra \
                     Serviceplatformen."
                        .into(),
                )
            } else if !valid_host_name(&domain) {
                Some(format!(
                    "har et ugyldigt værtsnavn ({}). Et værtsnavn består af mindst to dele \
                     adskilt af punktum med bogstaver, cifre og bindestreg, fx ws.kommune.dk.",
                    shown(&domain)
                ))
            } else {
                None
            }
        }
    }
}

/// RFC 1123 host name syntax (after IDNA, so ASCII only), with at least two labels: a
/// webservice Serviceplatformen calls must have a fully qualified name.
fn valid_host_name(host: &str) -> bool {
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    labels.iter().all(|l| label_ok(l)) && tld_ok
}

/// Two URLs name the same endpoint: scheme and host compared without case, default port
/// dropped, a trailing slash and the fragment ignored (the `url` crate normalises the first
/// three). URLs that do not parse are compared as written.
fn same_url(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => normalised(&a) == normalised(&b),
        _ => a == b,
    }
}

fn normalised(u: &Url) -> (String, Option<String>, Option<u16>, String, Option<String>) {
    (
        u.scheme().to_owned(),
        u.host_str()
            .map(|h| h.trim_end_matches('.').to_ascii_lowercase()),
        u.port_or_known_default(),
        u.path().trim_end_matches('/').to_owned(),
        u.query().map(str::to_owned),
    )
}

/// `url.env_mismatch`: a test-looking host ordered for produktion, or a production-looking one
/// for exttest. Only `review`: names are conventions, not proof.
fn env_mismatch(
    current: Option<&str>,
    new: Option<&str>,
    environment: Option<&str>,
) -> Option<Finding> {
    let want_test = match environment
        .map(|e| e.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("produktion") => false,
        Some("exttest") => true,
        _ => return None,
    };
    let (host, field, label) = match new.and_then(host_of) {
        Some(h) => (h, "new_url", "Ny URL"),
        None => (current.and_then(host_of)?, "current_url", "Nuværende URL"),
    };
    if is_ip_literal(&host) {
        return None;
    }
    let looks_test = is_test_host(&host);
    if looks_test == want_test {
        return None;
    }
    let message = if looks_test {
        format!(
            "{label}: værtsnavnet {} ligner et testmiljø, men bestillingen gælder \
             produktionsmiljøet. Kontrollér, at miljø og URL passer sammen.",
            shown(&host)
        )
    } else {
        format!(
            "{label}: værtsnavnet {} ligner ikke et testmiljø, men bestillingen gælder det \
             eksterne testmiljø (exttest). Kontrollér, at miljø og URL passer sammen.",
            shown(&host)
        )
    };
    Some(Finding::new(Rule::UrlEnvMismatch, Some(field), message))
}

/// A label, or a hyphen-separated part of one, that is or starts with `test` or `exttest`
/// (test, test2, exttest2, kalender-exttest, test-ws) marks a test host; "latest" and
/// "contest" do not.
fn is_test_host(host: &str) -> bool {
    host.split('.')
        .flat_map(|label| label.split('-'))
        .any(|part| part.starts_with("test") || part.starts_with("exttest"))
}

fn is_ip_literal(host: &str) -> bool {
    host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()
}

fn shown(value: &str) -> String {
    crate::rules::finding::shown(value, MAX_SHOWN_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(f: &[Finding]) -> Vec<(&'static str, Option<&'static str>)> {
        f.iter().map(|f| (f.rule.id(), f.field)).collect()
    }

    fn url_only(current: &str, new: &str) -> Vec<Finding> {
        check_urls(true, false, Some(current), Some(new), None)
    }

    #[test]
    fn valid_change_has_no_findings() {
        let f = check_urls(
            true,
            false,
            Some("https://ydelse.nordlysdata.dk/services/ydelseliste"),
            Some("https://api.nordlysdata.dk/ydelse/ydelseliste"),
            Some("produktion"),
        );
        assert_eq!(f, vec![]);
    }

    #[test]
    fn http_is_invalid_with_a_danish_hint() {
        let f = url_only(
            "https://sagsopslag.fjordsoft.dk/ws/v2",
            "http://sagsopslag2.fjordsoft.dk/ws/v3",
        );
        assert_eq!(rules(&f), vec![("url.invalid", Some("new_url"))]);
        assert!(
            f[0].message.starts_with(
                "Ny URL: \"http://sagsopslag2.fjordsoft.dk/ws/v3\" skal begynde med https://"
            ),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn current_url_is_checked_too() {
        let f = url_only("ftp://a.example.dk/x", "https://b.example.dk/x");
        assert_eq!(rules(&f), vec![("url.invalid", Some("current_url"))]);
        assert!(f[0].message.starts_with("Nuværende URL: "));
    }

    #[test]
    fn invalid_forms() {
        for bad in [
            "ws.kommune.dk/service",
            "https:ws.kommune.dk",
            "https:/ws.kommune.dk",
            "https://",
            "https:// ws.kommune.dk",
            "https://192.168.1.10/ws",
            "https://10.1/ws",
            "https://[::1]:8443/ws",
            "https://[2001:db8::1]/ws",
            "https://localhost/ws",
            "https://LOCALHOST./ws",
            "https://api.localhost/ws",
            "https://user:secret@ws.kommune.dk/ws",
            "https://user@ws.kommune.dk/ws",
            "https://intranet/ws",
            "https://ws_1.kommune.dk/ws",
            "https://-ws.kommune.dk/ws",
            "https://ws-.kommune.dk/ws",
            "https://ws..kommune.dk/ws",
            "https://ws.kommune.dk:99999/ws",
            "https://ws%20x.kommune.dk/",
            "mailto:x@kommune.dk",
            "",
        ] {
            let f = check_urls(true, false, None, Some(bad), None);
            if bad.is_empty() {
                assert!(f.is_empty(), "empty is field.missing, not ours");
            } else {
                assert_eq!(rules(&f), vec![("url.invalid", Some("new_url"))], "{bad}");
            }
        }
    }

    #[test]
    fn valid_forms() {
        for good in [
            "https://ws.kommune.dk",
            "HTTPS://WS.Kommune.DK/Service",
            "https://ws.kommune.dk:8443/a/b?x=1",
            "  https://ws.kommune.dk/a  ",
            "https://ws.kommune.dk./a",
            "https://xn--hjmose-bya.dk/a",
            "https://højmose.dk/a",
            "https://a1-b2.c3.dk/",
        ] {
            let f = check_urls(true, false, None, Some(good), None);
            assert!(f.is_empty(), "{good}: {f:?}");
        }
    }

    #[test]
    fn unchanged_after_normalising() {
        for (a, b) in [
            (
                "https://sagsopslag.fjordsoft.dk/ws/v2/sagsopslag",
                "https://sagsopslag.fjordsoft.dk/ws/v2/sagsopslag",
            ),
            ("https://WS.kommune.dk/a", "HTTPS://ws.KOMMUNE.dk/a/"),
            ("https://ws.kommune.dk:443/a", "https://ws.kommune.dk/a"),
            ("https://ws.kommune.dk", "https://ws.kommune.dk/"),
            ("https://ws.kommune.dk/a#x", "https://ws.kommune.dk/a"),
        ] {
            let f = url_only(a, b);
            assert_eq!(
                rules(&f),
                vec![("url.unchanged", Some("new_url"))],
                "{a} {b}"
            );
        }
    }

    #[test]
    fn changed_urls_are_not_unchanged() {
        for (a, b) in [
            ("https://ws.kommune.dk/a", "https://ws.kommune.dk/A"),
            ("https://ws.kommune.dk/a", "https://ws.kommune.dk:8443/a"),
            ("https://ws.kommune.dk/a?v=1", "https://ws.kommune.dk/a?v=2"),
            ("https://ws.kommune.dk/a", "https://ws2.kommune.dk/a"),
        ] {
            assert!(url_only(a, b).is_empty(), "{a} {b}");
        }
    }

    #[test]
    fn nothing_checked_without_url_change_except_environment() {
        let f = check_urls(
            false,
            false,
            Some("http://localhost"),
            Some("http://localhost"),
            Some("produktion"),
        );
        assert!(f.is_empty());
        // Certificate change alone: only the environment check.
        let f = check_urls(
            false,
            true,
            Some("http://test.kommune.dk"),
            None,
            Some("produktion"),
        );
        assert_eq!(rules(&f), vec![("url.env_mismatch", Some("current_url"))]);
    }

    #[test]
    fn test_host_detection() {
        for host in [
            "test.kommune.dk",
            "test2.kommune.dk",
            "exttest.fjordsoft.dk",
            "exttest2.fjordsoft.dk",
            "kalender-exttest.kommune.dk",
            "test-ws.hojmose.dk",
            "borgerblik-exttest.hojmose.dk",
            "ws.testmiljoe.dk",
            "ws.kommune.test",
        ] {
            assert!(is_test_host(host), "{host}");
        }
        for host in [
            "latest.kommune.dk",
            "contest.kommune.dk",
            "ws.kommune.dk",
            "mytest.kommune.dk",
            "ext.kommune.dk",
            "protest-ws.kommune.dk",
        ] {
            assert!(!is_test_host(host), "{host}");
        }
    }

    #[test]
    fn environment_mismatch() {
        let prod = Some("produktion");
        let ext = Some("exttest");
        // Test host in produktion: review, on the new URL.
        let f = check_urls(
            true,
            true,
            Some("https://ws.hojmose.dk/b"),
            Some("https://test-ws.hojmose.dk/b"),
            prod,
        );
        assert_eq!(rules(&f), vec![("url.env_mismatch", Some("new_url"))]);
        assert_eq!(f[0].severity, crate::rules::finding::Severity::Review);
        // Production host in exttest.
        let f = check_urls(
            true,
            false,
            Some("https://exttest.fjordsoft.dk/a"),
            Some("https://sagsopslag.fjordsoft.dk/a"),
            ext,
        );
        assert_eq!(rules(&f), vec![("url.env_mismatch", Some("new_url"))]);
        // Matching hosts.
        let f = check_urls(
            true,
            false,
            Some("https://exttest.borgerblik.hojmose.dk/api/v1/stamdata"),
            Some("https://borgerblik-exttest.hojmose.dk/api/v2/stamdata"),
            Some(" Exttest "),
        );
        assert!(f.is_empty(), "{f:?}");
        // The new URL decides, even when the current one would not match.
        let f = check_urls(
            true,
            false,
            Some("https://test.kommune.dk/a"),
            Some("https://ws.kommune.dk/a"),
            prod,
        );
        assert!(f.is_empty());
        // No URL, unknown environment, or no change: no check.
        assert!(check_urls(false, true, None, None, prod).is_empty());
        assert!(check_urls(false, true, Some("https://test.dk"), None, None).is_empty());
        assert!(check_urls(false, true, Some("https://test.dk"), None, Some("x")).is_empty());
        assert!(check_urls(false, false, Some("https://test.dk"), None, prod).is_empty());
    }

    #[test]
    fn host_of_variants() {
        assert_eq!(
            host_of("https://YDELSE.NordlysData.dk./x").as_deref(),
            Some("ydelse.nordlysdata.dk")
        );
        assert_eq!(host_of("http://a.b.dk:8080").as_deref(), Some("a.b.dk"));
        assert_eq!(host_of("a.b.dk/path").as_deref(), Some("a.b.dk"));
        assert_eq!(
            host_of("https://højmose.dk").as_deref(),
            Some("xn--hjmose-bya.dk")
        );
        assert_eq!(host_of("https://[::1]/").as_deref(), Some("[::1]"));
        assert_eq!(host_of(""), None);
        assert_eq!(host_of("mailto:a@b.dk"), None);
        assert_eq!(host_of("https://"), None);
    }

    #[test]
    fn long_urls_are_cut_in_messages() {
        let long = format!("http://a.dk/{}", "æ".repeat(500));
        let f = check_urls(true, false, None, Some(&long), None);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains('…'));
        assert!(f[0].message.chars().count() < 300);
    }

    #[test]
    fn odd_input_never_panics() {
        for s in [
            "https://\u{0}",
            "https://%",
            "https://[",
            "https://[::",
            "://",
            "https://ø",
            "https://.",
            "https://..",
            "https://a.-",
            "https://1.2.3.4.5",
        ] {
            let f = check_urls(true, false, None, Some(s), Some("exttest"));
            assert!(f.iter().any(|f| f.rule == Rule::UrlInvalid), "{s:?}: {f:?}");
            let _ = host_of(s);
        }
    }
}
