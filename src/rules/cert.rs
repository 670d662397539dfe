//! FORMS.md rule 5, certificate part: can the attached SSL certificate be installed for the
//! ordered webservice?
//!
//! [`check_certificate`] is pure (no I/O, no clock: the times come in [`CertCheck`]) and never
//! panics on any bytes. The chain check is deliberately simple — issuer by name, signature by
//! the issuer's key, up to `MAX_DEPTH` levels — because a person reviews every
//! `cert.untrusted`; it is not a TLS path validator (no revocation, no name constraints, no
//! key usage).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Europe::Copenhagen;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::parse_x509_certificate;
use x509_parser::pem::Pem;
use x509_parser::public_key::PublicKey;
use x509_parser::signature_algorithm::RsaSsaPssParams;

use crate::rules::finding::{Finding, Rule};

/// Most issuer steps followed from the leaf before giving up (real chains have 2–4).
const MAX_DEPTH: usize = 8;
/// Most certificates read from one attachment; a chain file never needs more.
const MAX_CERTS: usize = 16;
/// How long the certificate must stay valid after the desired time (FORMS.md rule 5).
const MIN_DAYS_AFTER_DESIRED: i64 = 30;
/// Smallest acceptable RSA modulus and EC field size, in bits.
const MIN_RSA_BITS: usize = 2048;
const MIN_EC_BITS: usize = 256;

const LABEL: &str = "Nyt SSL-certifikat";
const SERIAL_LABEL: &str = "Certifikatets serienummer";

/// The CA certificates a certificate's chain must lead to (`rules.trusted_ca_file`, else the
/// system's trust store). Holds DER, indexed by subject name for the issuer look-up.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    certs: Vec<Vec<u8>>,
    by_subject: HashMap<Vec<u8>, Vec<usize>>,
}

impl TrustStore {
    /// A store of the given DER certificates; ones that do not parse as X.509 are dropped
    /// (a broken anchor can never sign anything).
    pub fn from_der(ders: Vec<Vec<u8>>) -> TrustStore {
        let mut store = TrustStore::default();
        for der in ders {
            let subject = match parse_x509_certificate(&der) {
                Ok((_, cert)) => cert.subject().as_raw().to_vec(),
                Err(_) => continue,
            };
            if store.contains(&der) {
                continue;
            }
            store
                .by_subject
                .entry(subject)
                .or_default()
                .push(store.certs.len());
            store.certs.push(der);
        }
        store
    }

    /// The CERTIFICATE blocks of a PEM bundle. Errors when the text has no certificate or a
    /// block is broken, so a mistyped `trusted_ca_file` is noticed at start-up.
    pub fn from_pem(pem: &[u8]) -> Result<TrustStore, String> {
        let ders =
            pem_certificates(pem).map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
        if ders.is_empty() {
            return Err("no CERTIFICATE block found".into());
        }
        let store = TrustStore::from_der(ders);
        if store.is_empty() {
            return Err("no certificate in the bundle could be parsed".into());
        }
        Ok(store)
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn contains(&self, der: &[u8]) -> bool {
        self.certs.iter().any(|c| c.as_slice() == der)
    }

    /// Anchors whose subject is exactly `name` (DER bytes, as webpki compares names).
    fn with_subject<'s>(&'s self, name: &[u8]) -> impl Iterator<Item = &'s [u8]> + 's {
        self.by_subject
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.certs.get(i).map(Vec::as_slice))
    }
}

/// What the certificate is checked against.
#[derive(Debug, Clone, Copy)]
pub struct CertCheck<'a> {
    /// When the mail was received: the certificate must not have expired by then.
    pub received: DateTime<Utc>,
    /// The form's desired time: the certificate must be valid from it until 30 days after.
    pub desired: Option<DateTime<Utc>>,
    /// The host the order concerns (the new URL's, else the current URL's), lower case.
    pub host: Option<&'a str>,
    /// The serial number typed into the form.
    pub form_serial: Option<&'a str>,
    pub trust: &'a TrustStore,
}

/// Checks an attached certificate file (PEM with one or more CERTIFICATE blocks — the leaf and
/// optionally its chain — or a single DER certificate).
pub fn check_certificate(file_name: &str, bytes: &[u8], ctx: &CertCheck) -> Vec<Finding> {
    let invalid = || vec![invalid_finding(file_name)];
    let Ok(ders) = decode(bytes) else {
        return invalid();
    };
    let mut certs = Vec::with_capacity(ders.len());
    for der in &ders {
        match parse_x509_certificate(der) {
            Ok((_, cert)) => certs.push(cert),
            Err(_) => return invalid(),
        }
    }
    let leaf_idx = pick_leaf(&certs);
    let Some(leaf) = certs.get(leaf_idx) else {
        return invalid();
    };

    let mut findings = Vec::new();
    validity(leaf, ctx, &mut findings);
    if let Some(problem) = weak_key(leaf) {
        findings.push(cert_finding(Rule::CertWeakKey, problem));
    }
    if let Some(hash) = weak_hash(leaf) {
        findings.push(cert_finding(
            Rule::CertWeakSignature,
            format!(
                "certifikatet er signeret med {hash}, som ikke længere er sikker. Vedhæft et \
                 certifikat, der er signeret med SHA-256 eller stærkere."
            ),
        ));
    }
    if let Some(host) = ctx.host.map(str::trim).filter(|h| !h.is_empty()) {
        host_match(leaf, host, &mut findings);
    }
    if let Some(form_serial) = ctx.form_serial {
        serial_match(leaf, form_serial, &mut findings);
    }
    match chain_trust(leaf_idx, &certs, ctx.trust) {
        Trust::Trusted => {}
        Trust::SelfSigned => findings.push(cert_finding(
            Rule::CertUntrusted,
            "certifikatet er selvsigneret og altså ikke udstedt af en betroet udsteder.".into(),
        )),
        Trust::UnknownIssuer(issuer) => findings.push(cert_finding(
            Rule::CertUntrusted,
            format!(
                "certifikatet er udstedt af en udsteder, vi ikke kan verificere ({}).",
                shown(&issuer)
            ),
        )),
    }
    findings
}

/// What a person needs to know of an attached certificate: whose it is, its serial number and
/// how long it is valid (`orders show` prints this instead of the file's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// Hexadecimal, capitals, without leading zeros (as the form's serial is compared).
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
}

/// The leaf of a certificate file (PEM, one or more blocks, or DER), or `None` when it holds
/// no certificate that parses.
pub fn describe(bytes: &[u8]) -> Option<CertSummary> {
    let ders = decode(bytes).ok()?;
    let certs: Vec<X509Certificate<'_>> = ders
        .iter()
        .filter_map(|der| parse_x509_certificate(der).ok().map(|(_, c)| c))
        .collect();
    let leaf = certs.get(pick_leaf(&certs))?;
    Some(CertSummary {
        subject: leaf.subject().to_string(),
        issuer: leaf.issuer().to_string(),
        serial: strip_zeros(&hex::encode_upper(leaf.raw_serial())),
        not_before: to_utc(&leaf.validity().not_before, DateTime::<Utc>::MIN_UTC),
        not_after: to_utc(&leaf.validity().not_after, DateTime::<Utc>::MAX_UTC),
    })
}

/// The DER of a certificate file's leaf (as [`describe`] picks it), for its SHA-256 in the
/// step-8 check; `None` when the file holds no certificate that parses.
pub fn leaf_der(bytes: &[u8]) -> Option<Vec<u8>> {
    let ders = decode(bytes).ok()?;
    let parsed: Vec<(usize, X509Certificate<'_>)> = ders
        .iter()
        .enumerate()
        .filter_map(|(i, der)| parse_x509_certificate(der).ok().map(|(_, c)| (i, c)))
        .collect();
    let certs: Vec<X509Certificate<'_>> = parsed.iter().map(|(_, c)| c.clone()).collect();
    let (i, _) = parsed.get(pick_leaf(&certs))?;
    ders.get(*i).cloned()
}

fn cert_finding(rule: Rule, problem: String) -> Finding {
    Finding::new(rule, Some("certificate"), format!("{LABEL}: {problem}"))
}

fn invalid_finding(file_name: &str) -> Finding {
    let name = file_name.trim();
    let file = if name.is_empty() {
        "den vedhæftede fil".to_owned()
    } else {
        format!("filen \"{}\"", shown(name))
    };
    cert_finding(
        Rule::CertInvalid,
        format!(
            "{file} kan ikke læses som et X.509-certifikat. Vedhæft certifikatet som \
             .cer/.crt/.pem (DER eller PEM)."
        ),
    )
}

/// The DER certificates of an attachment: every CERTIFICATE block of a PEM text, else the
/// bytes as one DER certificate. `Err` for a broken PEM block.
fn decode(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let ders = pem_certificates(bytes)?;
        if ders.is_empty() {
            return Err("no CERTIFICATE block".into());
        }
        Ok(ders)
    } else {
        Ok(vec![bytes.to_vec()])
    }
}

/// CERTIFICATE blocks of a PEM text (other blocks, such as a private key, are skipped), at most
/// [`MAX_CERTS`].
fn pem_certificates(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut ders = Vec::new();
    // Every block read consumes input, so the loop ends; the cap bounds the work anyway.
    for block in Pem::iter_from_buffer(bytes).take(4 * MAX_CERTS) {
        let pem = block.map_err(|e| e.to_string())?;
        if matches!(pem.label.as_str(), "CERTIFICATE" | "X509 CERTIFICATE") {
            ders.push(pem.contents);
            if ders.len() == MAX_CERTS {
                break;
            }
        }
    }
    Ok(ders)
}

/// The leaf of a chain file: a non-CA certificate that issued none of the others (leaf first
/// is usual, but not every tool writes it so); else one that issued no other; else the first.
fn pick_leaf(certs: &[X509Certificate<'_>]) -> usize {
    let issues_another = |i: usize, c: &X509Certificate<'_>| {
        certs
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && other.issuer().as_raw() == c.subject().as_raw())
    };
    let enumerate = || certs.iter().enumerate();
    enumerate()
        .find(|&(i, c)| !c.is_ca() && !issues_another(i, c))
        .or_else(|| enumerate().find(|&(i, c)| !issues_another(i, c)))
        .map_or(0, |(i, _)| i)
}

fn to_utc(t: &x509_parser::time::ASN1Time, fallback: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(fallback)
}

/// `cert.expired` at receipt; otherwise `cert.short_validity` when it does not cover the whole
/// span from the desired time to 30 days after it.
fn validity(leaf: &X509Certificate<'_>, ctx: &CertCheck, findings: &mut Vec<Finding>) {
    let not_before = to_utc(&leaf.validity().not_before, DateTime::<Utc>::MIN_UTC);
    let not_after = to_utc(&leaf.validity().not_after, DateTime::<Utc>::MAX_UTC);
    if not_after < ctx.received {
        findings.push(cert_finding(
            Rule::CertExpired,
            format!(
                "certifikatet udløb den {}. Vedhæft et gyldigt certifikat.",
                cert_date(not_after)
            ),
        ));
        return;
    }
    let Some(desired) = ctx.desired else {
        return;
    };
    if not_before > desired {
        findings.push(cert_finding(
            Rule::CertShortValidity,
            format!(
                "certifikatet er først gyldigt fra den {}, men ændringen ønskes gennemført den \
                 {}. Vedhæft et certifikat, der er gyldigt fra det ønskede tidspunkt, eller vælg \
                 et senere tidspunkt.",
                cert_date(not_before),
                desired_date(desired)
            ),
        ));
    } else if let Some(needed) = desired.checked_add_signed(TimeDelta::days(MIN_DAYS_AFTER_DESIRED))
        && not_after < needed
    {
        findings.push(cert_finding(
            Rule::CertShortValidity,
            format!(
                "certifikatet udløber den {}, mindre end {MIN_DAYS_AFTER_DESIRED} dage efter det \
                 ønskede tidspunkt ({}). Vedhæft et certifikat, der er gyldigt i mindst \
                 {MIN_DAYS_AFTER_DESIRED} dage efter ændringen.",
                cert_date(not_after),
                desired_date(desired)
            ),
        ));
    }
}

/// A certificate's own date, "1. oktober 2026", as the UTC date every certificate tool shows
/// (a certificate "valid to 1 Oct 23:59:59 GMT" expired on 1 October, not 2 October).
fn cert_date(t: DateTime<Utc>) -> String {
    crate::rules::calendar::danish_date_short(t.date_naive())
}

/// The form's desired time as the Danish calendar date it was given in.
fn desired_date(t: DateTime<Utc>) -> String {
    crate::rules::calendar::danish_date_short(t.with_timezone(&Copenhagen).date_naive())
}

/// Bits of a big-endian unsigned integer (leading zero bytes and bits not counted).
fn int_bits(bytes: &[u8]) -> usize {
    let digits: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(first) => bytes.get(first..).unwrap_or_default(),
        None => return 0,
    };
    let lead = digits.first().map_or(0, |b| b.leading_zeros() as usize);
    digits.len().saturating_mul(8).saturating_sub(lead)
}

/// Why the leaf's key is too weak, if it is: RSA under 2048 bits, an EC curve under 256 bits,
/// or DSA (never usable for a TLS server today). Ed25519/Ed448 and unknown kinds pass.
fn weak_key(leaf: &X509Certificate<'_>) -> Option<String> {
    const HINT: &str = "Vedhæft et certifikat med en RSA-nøgle på mindst 2048 bit eller en \
                        EC-nøgle på mindst P-256.";
    let spki = leaf.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = int_bits(rsa.modulus);
            (bits < MIN_RSA_BITS).then(|| format!("nøglen er en RSA-nøgle på {bits} bit. {HINT}"))
        }
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => 256,
                Some("1.3.132.0.34") => 384,
                Some("1.3.132.0.35") => 521,
                // Other or explicit curves: judge by the point's size.
                _ => point.key_size(),
            };
            (bits < MIN_EC_BITS).then(|| format!("nøglen er en EC-nøgle på {bits} bit. {HINT}"))
        }
        Ok(PublicKey::DSA(_)) => Some(format!("nøglen er en DSA-nøgle. {HINT}")),
        _ => None,
    }
}

/// The broken hash the certificate is signed with (SHA-1, MD5, MD4, MD2), if any.
fn weak_hash(cert: &X509Certificate<'_>) -> Option<&'static str> {
    let alg = &cert.signature_algorithm;
    match alg.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.2" => Some("MD2"),
        "1.2.840.113549.1.1.3" => Some("MD4"),
        "1.2.840.113549.1.1.4" | "1.3.14.3.2.3" | "1.3.14.3.2.25" => Some("MD5"),
        "1.2.840.113549.1.1.5"
        | "1.3.14.3.2.29"
        | "1.3.14.3.2.13"
        | "1.3.14.3.2.27"
        | "1.2.840.10040.4.3"
        | "1.2.840.10045.4.1" => Some("SHA-1"),
        // RSASSA-PSS: the hash is a parameter, SHA-1 when absent (RFC 4055).
        "1.2.840.113549.1.1.10" => {
            let hash = alg
                .parameters
                .as_ref()
                .and_then(|p| RsaSsaPssParams::try_from(p).ok())
                .map(|p| p.hash_algorithm_oid().to_id_string());
            match hash.as_deref() {
                Some("1.3.14.3.2.26") => Some("SHA-1"),
                Some(_) => None,
                None => alg.parameters.is_none().then_some("SHA-1"),
            }
        }
        _ => None,
    }
}

/// `cert.host_mismatch` unless a SAN dNSName covers `host`; the subject CN counts only when the
/// certificate has no SAN extension at all (RFC 6125).
fn host_match(leaf: &X509Certificate<'_>, host: &str, findings: &mut Vec<Finding>) {
    let has_san = leaf
        .iter_extensions()
        .any(|e| e.oid.to_id_string() == "2.5.29.17");
    let names: Vec<String> = if has_san {
        match leaf.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some((*d).to_owned()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    } else {
        leaf.subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .collect()
    };
    if names.iter().any(|n| name_covers(n, host)) {
        return;
    }
    let host_shown = shown(&host.to_ascii_lowercase());
    let covered = if names.is_empty() {
        "certifikatet angiver ingen værtsnavne".to_owned()
    } else {
        let list: Vec<String> = names.iter().take(5).map(|n| shown(n)).collect();
        let more = if names.len() > 5 { ", …" } else { "" };
        format!("certifikatet gælder for: {}{more}", list.join(", "))
    };
    findings.push(cert_finding(
        Rule::CertHostMismatch,
        format!(
            "certifikatet dækker ikke værtsnavnet {host_shown} ({covered}). Vedhæft et \
             certifikat, der er udstedt til {host_shown}."
        ),
    ));
}

/// Does a certificate name cover the host? Case-insensitive, trailing dot ignored; a wildcard
/// only as the whole leftmost label and for exactly one label ("*.example.dk" covers
/// "a.example.dk", not "a.b.example.dk" nor "example.dk"), never directly under a TLD.
fn name_covers(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            if suffix.contains('*') || !suffix.contains('.') {
                return false;
            }
            host.split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == suffix)
        }
        None => !pattern.contains('*') && pattern == host,
    }
}

/// `cert.serial_mismatch` unless the form's serial equals the certificate's, as hex (case,
/// colons, spaces, a `0x` prefix and leading zeros ignored) or, for an all-digit entry, as a
/// decimal number.
fn serial_match(leaf: &X509Certificate<'_>, form_serial: &str, findings: &mut Vec<Finding>) {
    let cert_hex = strip_zeros(&hex::encode_upper(leaf.raw_serial()));
    let cleaned: String = form_serial
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if cleaned.is_empty() {
        return;
    }
    let digits = cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
        .unwrap_or(&cleaned);
    if strip_zeros(&digits.to_ascii_uppercase()) == cert_hex {
        return;
    }
    if digits.bytes().all(|b| b.is_ascii_digit())
        && strip_zeros(digits) == leaf.tbs_certificate.serial.to_str_radix(10)
    {
        return;
    }
    findings.push(Finding::new(
        Rule::CertSerialMismatch,
        Some("certificate_serial"),
        format!(
            "{SERIAL_LABEL}: \"{}\" passer ikke med det vedhæftede certifikats serienummer \
             {}. Ret serienummeret, eller vedhæft det rigtige certifikat.",
            shown(form_serial.trim()),
            shown(&cert_hex)
        ),
    ));
}

fn strip_zeros(s: &str) -> String {
    let t = s.trim_start_matches('0');
    if t.is_empty() { "0".into() } else { t.into() }
}

enum Trust {
    Trusted,
    SelfSigned,
    UnknownIssuer(String),
}

/// Walks from the leaf towards a trust anchor: at each step a certificate is trusted if it is
/// itself an anchor or an anchor with its issuer's name verifies its signature; otherwise the
/// next step is a CA certificate from the file with that name whose key verifies it.
fn chain_trust(leaf_idx: usize, certs: &[X509Certificate<'_>], trust: &TrustStore) -> Trust {
    let mut visited = vec![leaf_idx];
    let mut current = leaf_idx;
    for _ in 0..MAX_DEPTH {
        let Some(cert) = certs.get(current) else {
            break;
        };
        if trust.contains(cert.as_raw()) {
            return Trust::Trusted;
        }
        let issuer = cert.issuer().as_raw();
        let signed_by_anchor = trust.with_subject(issuer).any(|der| {
            parse_x509_certificate(der)
                .is_ok_and(|(_, anchor)| cert.verify_signature(Some(anchor.public_key())).is_ok())
        });
        if signed_by_anchor {
            return Trust::Trusted;
        }
        if issuer == cert.subject().as_raw() {
            return if current == leaf_idx {
                Trust::SelfSigned
            } else {
                Trust::UnknownIssuer(cert.subject().to_string())
            };
        }
        let next = certs.iter().enumerate().find(|(j, candidate)| {
            !visited.contains(j)
                && candidate.is_ca()
                && candidate.subject().as_raw() == issuer
                && cert.verify_signature(Some(candidate.public_key())).is_ok()
        });
        match next {
            Some((j, _)) => {
                visited.push(j);
                current = j;
            }
            None => return Trust::UnknownIssuer(cert.issuer().to_string()),
        }
    }
    Trust::UnknownIssuer(
        certs
            .get(current)
            .map(|c| c.issuer().to_string())
            .unwrap_or_default(),
    )
}

/// How much of a certificate's value a message quotes.
const MAX_SHOWN_CHARS: usize = 100;

fn shown(value: &str) -> String {
    crate::rules::finding::shown(value, MAX_SHOWN_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::finding::Severity;
    use chrono::TimeZone;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, SerialNumber,
    };

    // Fixtures rcgen cannot make with ring (RSA key generation, SHA-1, P-224), generated once
    // with OpenSSL 3.0 (valid 2026-11-29 to 2036-11-26):
    //   openssl req -x509 -newkey rsa:1024 -nodes -keyout /dev/null -sha256 -days 3650 \
    //     -subj "/CN=weak.example.dk" -addext "subjectAltName=DNS:weak.example.dk"
    //   openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -sha1 -days 3650 \
    //     -subj "/CN=sha1.example.dk" -addext "subjectAltName=DNS:sha1.example.dk"
    //   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp224r1 -nodes \
    //     -keyout /dev/null -sha256 -days 3650 -subj "/CN=p224.example.dk" \
    //     -addext "subjectAltName=DNS:p224.example.dk"
    const RSA1024_SHA256: &str = "-----BEGIN CERTIFICATE-----
MIICLDCCAZWgAwIBAgIUbbpOOzCvCehjd61HuWGkKeJHWnYwDQYJKoZIhvcNAQEL
BQAwGjEYMBYGA1UEAwwPd2Vhay5leGFtcGxlLmRrMB4XDTI2MTEyOTEyMTMwM1oX
DTM2MTEyNjEyMTMwM1owGjEYMBYGA1UEAwwPd2Vhay5leGFtcGxlLmRrMIGfMA0G
CSqGSIb3DQEBAQUAA4GNADCBiQKBgQDMwJaQT1fc7LaFmAzmEknCbNcfKCrOZMKi
hE/6ETmYt+/4eUtoXGIG2Gr+8+BjqN4WLPDYBrwIXeLyyVMftzfI+uf0PIUG2g+b
L61eibRmMtozPhozx5A3su/l0wD3eLjC9Xdd07k3OGw9E7K+sWuzuRlk8ArDVEe+
9JUtDE58PQIDAQABo28wbTAdBgNVHQ4EFgQUo7ZYM2FcBndGj9IJWPGV157VWE4w
HwYDVR0jBBgwFoAUo7ZYM2FcBndGj9IJWPGV157VWE4wDwYDVR0TAQH/BAUwAwEB
/zAaBgNVHREEEzARgg93ZWFrLmV4YW1wbGUuZGswDQYJKoZIhvcNAQELBQADgYEA
y3B8be1T7qbpTl4OolWgLOB/Yval2qTOuMSgm0Vjn0sC9xX1xfbUdtw36H48vtmP
sEGItmFF16hiyfuO7co92RNIH6EHB8ixfQkbOxXHWNPi4HoTRjy8kK9Nc1kVOJR+
/iV87FbFU4JKSLxG7Ild9vnzeX1PzBiKvb+4UPRSNWc=
-----END CERTIFICATE-----
";
    const RSA2048_SHA1: &str = "-----BEGIN CERTIFICATE-----
MIIDMTCCAhmgAwIBAgIUVnmv7zW43w7UKOwICX09aQ3hbpgwDQYJKoZIhvcNAQEF
BQAwGjEYMBYGA1UEAwwPc2hhMS5leGFtcGxlLmRrMB4XDTI2MTEyOTEyMTMwNFoX
DTM2MTEyNjEyMTMwNFowGjEYMBYGA1UEAwwPc2hhMS5leGFtcGxlLmRrMIIBIjAN
BgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsr0vQx1p0qGYTDlIFqZvKuwWnuRG
vh0J6OvS5JLY9+ZYmtbhrjOfD4gM/6p9o0QHDblxSSbtGpeRv4K86VB7dusMJyza
c4LmmlBwd13Adb/7MTPFDom0AnXv+8HcBZ45RCbywBNMVzaXZU0RhKstKdm1+qhj
36GmTjDKcD0dB4t7Ny88PtCDVE8QaHIF59tY4zBRAcwMII6jnLJmE5h+xLzRHFdg
4MBJ/BZm1su9/IrQ5UgzuQaeuVVfLvB/3a9hSu2Z48BEKtqOxlhswHyFj6sOivUU
IHWiAhTMAMR5yof4cJttAiURwoeGkuw2eSxVb93C96X8qqwfUPvmPJcTEQIDAQAB
o28wbTAdBgNVHQ4EFgQU3vAe3qN0lKShw+Fdg0n70dxVdbswHwYDVR0jBBgwFoAU
3vAe3qN0lKShw+Fdg0n70dxVdbswDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzAR
gg9zaGExLmV4YW1wbGUuZGswDQYJKoZIhvcNAQEFBQADggEBAJEYDtbnRFuNxAMg
8HlDwaX6s1eZWrhSH12sObuCtiI6rGGo2GTTXtpWrViKtjnFdsX9xBE1K+C3Y2X6
sN+Q5UosjGhQF21Oj41DSbRF6vfxnIQppdkHJrG7BpcTkI7Zn7iMo1GS5i6aPEnE
kCzpnt0ziaz8NbNx27HqbhioZbqGGnxli9UM4mbXa4aia5WfQTepgYK6lDFqU9Ts
RsukIE7W6m/xStZFuCoJip2u+UBsaojvjbJq1uqw1tP9n3Mkv1lcnOc7R43BrIR5
Fk2yP7RxJpmdZtL0RPupGMhY4evfsXhH29Q8yc3+ajdxedkKesKFEgfhE5otuWms
Eec3zwo=
-----END CERTIFICATE-----
";
    const P224_SHA256: &str = "-----BEGIN CERTIFICATE-----
MIIBkjCCAUCgAwIBAgIUYhcnjc+zYJwoLpViNZuSCke8HuowCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPcDIyNC5leGFtcGxlLmRrMB4XDTI2MTEyOTEyMTMwNFoXDTM2
MTEyNjEyMTMwNFowGjEYMBYGA1UEAwwPcDIyNC5leGFtcGxlLmRrME4wEAYHKoZI
zj0CAQYFK4EEACEDOgAE8u1d0W/9/i0e/JddtDYV2HXJhG0RAg9NfZrBziGK4uK7
z2ORwIn8ByPzQvctjJeyM5yzWNnsBkWjbzBtMB0GA1UdDgQWBBR9JmCmKcM66Pot
PtbxrQBg6p50/zAfBgNVHSMEGDAWgBR9JmCmKcM66PotPtbxrQBg6p50/zAPBgNV
HRMBAf8EBTADAQH/MBoGA1UdEQQTMBGCD3AyMjQuZXhhbXBsZS5kazAKBggqhkjO
PQQDAgNAADA9AhwamylW4ZoHDFi9jHphUch5gyCU8sHT9yrFUSglAh0Av99nggYt
3GifMTiRnz7EPZHf/drcMBP0wWeYtg==
-----END CERTIFICATE-----
";

    const HOST: &str = "ydelse.example.dk";
    const SERIAL: u64 = 0x5EED_0042;

    struct Issuer {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    fn p256() -> KeyPair {
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key")
    }

    fn dn(cn: &str) -> DistinguishedName {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "DK");
        dn.push(DnType::CommonName, cn);
        dn
    }

    fn ca_params(cn: &str) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name = dn(cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.not_before = rcgen::date_time_ymd(2025, 1, 1);
        p.not_after = rcgen::date_time_ymd(2035, 1, 1);
        p
    }

    fn root(cn: &str) -> Issuer {
        let key = p256();
        let cert = ca_params(cn).self_signed(&key).expect("root");
        Issuer { cert, key }
    }

    fn intermediate(cn: &str, parent: &Issuer) -> Issuer {
        let key = p256();
        let cert = ca_params(cn)
            .signed_by(&key, &parent.cert, &parent.key)
            .expect("intermediate");
        Issuer { cert, key }
    }

    /// A leaf for `names` (SAN), CN = first name, valid 1 Jun 2026 – 1 Jun 2028.
    fn leaf_params(names: &[&str]) -> CertificateParams {
        let sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = CertificateParams::new(sans).expect("params");
        p.distinguished_name = dn(names.first().copied().unwrap_or("leaf"));
        p.not_before = rcgen::date_time_ymd(2026, 6, 1);
        p.not_after = rcgen::date_time_ymd(2028, 6, 1);
        p.serial_number = Some(SerialNumber::from(SERIAL));
        p
    }

    fn issue(params: CertificateParams, by: &Issuer) -> rcgen::Certificate {
        params.signed_by(&p256(), &by.cert, &by.key).expect("leaf")
    }

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("time")
    }

    fn ctx(trust: &TrustStore) -> CertCheck<'_> {
        CertCheck {
            received: utc(2026, 11, 30, 8),
            desired: Some(utc(2026, 12, 14, 9)),
            host: Some(HOST),
            form_serial: None,
            trust,
        }
    }

    fn trust_of(issuers: &[&Issuer]) -> TrustStore {
        TrustStore::from_der(issuers.iter().map(|i| i.cert.der().to_vec()).collect())
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.rule.id()).collect()
    }

    #[test]
    fn valid_leaf_from_trusted_ca_has_no_findings() {
        let ca = root("Test CA");
        let trust = trust_of(&[&ca]);
        let leaf = issue(leaf_params(&[HOST]), &ca);
        let mut c = ctx(&trust);
        c.form_serial = Some("5EED0042");
        assert_eq!(check_certificate("a.cer", leaf.der(), &c), vec![]);
        assert_eq!(
            check_certificate("a.pem", leaf.pem().as_bytes(), &c),
            vec![]
        );
    }

    #[test]
    fn expired_at_receipt() {
        let ca = root("Test CA");
        let trust = trust_of(&[&ca]);
        let mut p = leaf_params(&[HOST]);
        p.not_before = rcgen::date_time_ymd(2024, 10, 1);
        p.not_after = rcgen::date_time_ymd(2026, 10, 1);
        let f = check_certificate("a.crt", issue(p, &ca).der(), &ctx(&trust));
        assert_eq!(ids(&f), vec!["cert.expired"]);
        assert_eq!(f[0].field, Some("certificate"));
        assert_eq!(
            f[0].message,
            "Nyt SSL-certifikat: certifikatet udløb den 1. oktober 2026. Vedhæft et gyldigt certifikat."
        );
    }

    #[test]
    fn short_validity() {
        let ca = root("Test CA");
        let trust = trust_of(&[&ca]);
        // Ends 5 Jan 2027: less than 30 days after 14 Dec 2026.
        let mut p = leaf_params(&[HOST]);
        p.not_after = rcgen::date_time_ymd(2027, 1, 5);
        let f = check_certificate("a.crt", issue(p, &ca).der(), &ctx(&trust));
        assert_eq!(ids(&f), vec!["cert.short_validity"]);
        assert!(f[0].message.contains("5. januar 2027"), "{}", f[0].message);
        assert!(
            f[0].message.contains("14. december 2026"),
            "{}",
            f[0].message
        );
        // Starts after the desired time.
        let mut p = leaf_params(&[HOST]);
        p.not_before = rcgen::date_time_ymd(2026, 12, 20);
        let f = check_certificate("a.crt", issue(p, &ca).der(), &ctx(&trust));
        assert_eq!(ids(&f), vec!["cert.short_validity"]);
        assert!(
            f[0].message
                .contains("først gyldigt fra den 20. december 2026")
        );
        // Exactly 30 days after the desired time is enough.
        let mut p = leaf_params(&[HOST]);
        p.not_after = rcgen::date_time_ymd(2027, 1, 13);
        let mut c = ctx(&trust);
        c.desired = Some(utc(2026, 12, 14, 0));
        assert_eq!(
            check_certificate("a", issue(p.clone(), &ca).der(), &c),
            vec![]
        );
        // Without a desired time only expiry is checked.
        c.desired = None;
        assert_eq!(check_certificate("a", issue(p, &ca).der(), &c), vec![]);
    }

    #[test]
    fn weak_rsa_key() {
        let trust = TrustStore::from_pem(RSA1024_SHA256.as_bytes()).expect("trust");
        let mut c = ctx(&trust);
        c.host = Some("weak.example.dk");
        c.received = utc(2027, 6, 1, 8);
        c.desired = Some(utc(2027, 6, 10, 8));
        let f = check_certificate("w.pem", RSA1024_SHA256.as_bytes(), &c);
        // Trusted as its own anchor, so only the key is wrong.
        assert_eq!(ids(&f), vec!["cert.weak_key"]);
        assert!(
            f[0].message.contains("RSA-nøgle på 1024 bit"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn sha1_signature() {
        let trust = TrustStore::default();
        let mut c = ctx(&trust);
        c.host = Some("sha1.example.dk");
        c.received = utc(2027, 6, 1, 8);
        c.desired = Some(utc(2027, 6, 10, 8));
        let f = check_certificate("s.pem", RSA2048_SHA1.as_bytes(), &c);
        assert_eq!(ids(&f), vec!["cert.weak_signature", "cert.untrusted"]);
        assert!(f[0].message.contains("SHA-1"));
    }

    #[test]
    fn weak_ec_curve_and_strong_ones() {
        let trust = TrustStore::default();
        let mut c = ctx(&trust);
        c.host = None;
        c.received = utc(2027, 6, 1, 8);
        c.desired = None;
        let f = check_certificate("p.pem", P224_SHA256.as_bytes(), &c);
        assert!(ids(&f).contains(&"cert.weak_key"), "{f:?}");
        assert!(f[0].message.contains("224 bit"));

        let ca = root("Test CA");
        let trust = trust_of(&[&ca]);
        for alg in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
            let key = KeyPair::generate_for(alg).expect("key");
            let leaf = leaf_params(&[HOST])
                .signed_by(&key, &ca.cert, &ca.key)
                .expect("leaf");
            assert_eq!(check_certificate("a", leaf.der(), &ctx(&trust)), vec![]);
        }
    }

    #[test]
    fn int_bits_counts_significant_bits() {
        assert_eq!(int_bits(&[]), 0);
        assert_eq!(int_bits(&[0, 0]), 0);
        assert_eq!(int_bits(&[0, 0x80, 0]), 16);
        assert_eq!(int_bits(&[0x7f, 0]), 15);
        assert_eq!(int_bits(&[1]), 1);
    }

    #[test]
    fn host_mismatch_and_cn_fallback() {
        let ca = root("Test CA");
        let trust = trust_of(&[&ca]);
        let mut c = ctx(&trust);
        c.host = Some("ydelse.nordlysdata.dk");
        let leaf = issue(leaf_params(&["ydelse.nordlys-data.dk"]), &ca);
        let f = check_certificate("y.cer", leaf.der(), &c);
        assert_eq!(ids(&f), vec!["cert.host_mismatch"]);
        assert!(f[0].message.contains("ydelse.nordlysdata.dk"));
        assert!(f[0].message.contains("gælder for: ydelse.nordlys-data.dk"));

        // No SAN at all: the CN counts.
        let mut p = leaf_params(&[]);
        p.distinguished_name = dn("ydelse.nordlysdata.dk");
        assert_eq!(check_certificate("y", issue(p, &ca).der(), &c), vec![]);
        // A SAN without the host: the CN does not count.
        let mut p = leaf_params(&["other.nordlysdata.dk"]);
        p.distinguished_name = dn("ydelse.nordlysdata.dk");
        assert_eq!(
            ids(&check_certificate("y", issue(p, &ca).der(), &c)),
            vec!["cert.host_mismatch"]
        );
        // Host given in upper case with a trailing dot still matches.
        c.host = Some("YDELSE.Nordlys-Data.dk.");
        assert_eq!(check_certificate("y", leaf.der(), &c), vec![]);
        // Wildcard certificate.
        let wild = issue(leaf_params(&["*.example.dk"]), &ca);
        c.host = Some("a.example.dk");
        assert_eq!(check_certificate("w", wild.der(), &c), vec![]);
        c.host = Some("a.b.example.dk");
        assert_eq!(
            ids(&check_certificate("w", wild.der(), &c)),
            vec!["cert.host_mismatch"]
        );
    }

    #[test]
    fn wildcard_rules() {
        assert!(name_covers("*.example.dk", "a.example.dk"));
        assert!(name_covers("*.Example.DK.", "A.example.dk"));
        assert!(!name_covers("*.example.dk", "a.b.example.dk"));
        assert!(!name_covers("*.example.dk", "example.dk"));
        assert!(!name_covers("*.example.dk", ".example.dk"));
        assert!(!name_covers("*.dk", "example.dk"));
        assert!(!name_covers("a.*.example.dk", "a.b.example.dk"));
        assert!(!name_covers("w*.example.dk", "ws.example.dk"));
        assert!(!name_covers("*", "localhost"));
        assert!(!name_covers("", "a.dk"));
        assert!(name_covers("a.example.dk", "a.example.dk"));
        assert!(!name_covers("a.example.dk", "b.example.dk"));
    }

    #[test]
    fn describe_names_subject_serial_and_validity() {
        let ca = root("Test Root CA");
        let pem = issue(leaf_params(&["ny-ydelse.example.test"]), &ca).pem();
        let c = describe(pem.as_bytes()).expect("a certificate");
        assert!(c.issuer.contains("Test Root CA"), "{c:?}");
        assert!(c.subject.contains("ny-ydelse.example.test"), "{c:?}");
        assert_eq!(c.serial, "5EED0042");
        assert_eq!(c.not_after.to_rfc3339(), "2028-06-01T00:00:00+00:00");
        assert!(c.not_before < c.not_after);
        assert_eq!(describe(b"not a certificate"), None);
        assert_eq!(describe(b""), None);
    }

    #[test]
    fn serial_variants() {
        let ca = root("Test CA");
        let trust = trust_of(&[&ca]);
        let der = issue(leaf_params(&[HOST]), &ca).der().to_vec();
        let decimal = SERIAL.to_string();
        let with_zeros = format!("000{decimal}");
        for ok in [
            "5EED0042",
            "5eed0042",
            "5E:ED:00:42",
            "5e ed 00 42",
            "005EED0042",
            "0x5EED0042",
            " 5EED0042\t",
            decimal.as_str(),
            with_zeros.as_str(),
            "",
            "  ",
        ] {
            let mut c = ctx(&trust);
            c.form_serial = Some(ok);
            assert_eq!(check_certificate("a", &der, &c), vec![], "{ok:?}");
        }
        for bad in ["5EED0024", "5EED00420", "5EED-0042x", "42", "ØØ"] {
            let mut c = ctx(&trust);
            c.form_serial = Some(bad);
            let f = check_certificate("a", &der, &c);
            assert_eq!(ids(&f), vec!["cert.serial_mismatch"], "{bad:?}");
            assert_eq!(f[0].field, Some("certificate_serial"));
            assert_eq!(f[0].severity, Severity::Reject);
        }
        let mut c = ctx(&trust);
        c.form_serial = Some("5EED0024");
        let f = check_certificate("a", &der, &c);
        assert!(f[0].message.contains("\"5EED0024\""));
        assert!(f[0].message.contains("5EED0042"));

        // A serial whose first byte has the high bit set is encoded with a 00 sign byte.
        let mut p = leaf_params(&[HOST]);
        p.serial_number = Some(SerialNumber::from_slice(&[0x8A, 0x01]));
        let der = issue(p, &ca).der().to_vec();
        c.form_serial = Some("8a:01");
        assert_eq!(check_certificate("a", &der, &c), vec![]);
    }

    #[test]
    fn self_signed_is_untrusted_review() {
        let key = p256();
        let cert = leaf_params(&[HOST]).self_signed(&key).expect("self-signed");
        let trust = TrustStore::default();
        let f = check_certificate("s.pem", cert.pem().as_bytes(), &ctx(&trust));
        assert_eq!(ids(&f), vec!["cert.untrusted"]);
        assert_eq!(f[0].severity, Severity::Review);
        assert!(f[0].message.contains("selvsigneret"));
        // Unless that very certificate is a trust anchor.
        let pinned = TrustStore::from_der(vec![cert.der().to_vec()]);
        assert_eq!(
            check_certificate("s.pem", cert.der(), &ctx(&pinned)),
            vec![]
        );
    }

    #[test]
    fn chain_in_the_file_leads_to_the_trusted_root() {
        let root_ca = root("Test Root");
        let inter = intermediate("Test Issuing CA", &root_ca);
        let leaf = issue(leaf_params(&[HOST]), &inter);
        let trust = trust_of(&[&root_ca]);
        let c = ctx(&trust);
        let chain = format!("{}{}", leaf.pem(), inter.cert.pem());
        assert_eq!(check_certificate("c.pem", chain.as_bytes(), &c), vec![]);
        // Intermediate first, with text around the blocks: the leaf is still found.
        let chain = format!(
            "Bag Attributes\n{}\nnoise\n{}",
            inter.cert.pem(),
            leaf.pem()
        );
        assert_eq!(check_certificate("c.pem", chain.as_bytes(), &c), vec![]);
        // Root included too.
        let chain = format!("{}{}{}", leaf.pem(), inter.cert.pem(), root_ca.cert.pem());
        assert_eq!(check_certificate("c.pem", chain.as_bytes(), &c), vec![]);
        // Without the intermediate the issuer is unknown.
        let f = check_certificate("c.pem", leaf.pem().as_bytes(), &c);
        assert_eq!(ids(&f), vec!["cert.untrusted"]);
        assert!(f[0].message.contains("Test Issuing CA"), "{}", f[0].message);
        // Trusting the intermediate directly is enough.
        let trust = trust_of(&[&inter]);
        assert_eq!(check_certificate("c", leaf.der(), &ctx(&trust)), vec![]);
    }

    #[test]
    fn untrusted_issuers() {
        let trusted = root("Test CA");
        let other = root("Other CA");
        let trust = trust_of(&[&trusted]);
        // Issued by a CA that is not trusted, chain included.
        let leaf = issue(leaf_params(&[HOST]), &other);
        let chain = format!("{}{}", leaf.pem(), other.cert.pem());
        let f = check_certificate("c.pem", chain.as_bytes(), &ctx(&trust));
        assert_eq!(ids(&f), vec!["cert.untrusted"]);
        assert!(f[0].message.contains("Other CA"));
        // A forger using the trusted CA's name but its own key.
        let forger = root("Test CA");
        let leaf = issue(leaf_params(&[HOST]), &forger);
        let f = check_certificate("c.cer", leaf.der(), &ctx(&trust));
        assert_eq!(ids(&f), vec!["cert.untrusted"]);
        // An empty trust store trusts nothing.
        let leaf = issue(leaf_params(&[HOST]), &trusted);
        let empty = TrustStore::default();
        assert_eq!(
            ids(&check_certificate("c", leaf.der(), &ctx(&empty))),
            vec!["cert.untrusted"]
        );
    }

    #[test]
    fn unreadable_files_are_invalid() {
        let trust = TrustStore::default();
        let c = ctx(&trust);
        let broken_pem =
            "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n";
        let key_only = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let unterminated = "-----BEGIN CERTIFICATE-----\nMIIB";
        let not_a_cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        for bytes in [
            &b""[..],
            b"hello",
            b"\x30\x82\xff\xff",
            &[0u8; 64][..],
            broken_pem.as_bytes(),
            key_only.as_bytes(),
            unterminated.as_bytes(),
            not_a_cert.as_bytes(),
            b"\xff\xfe-----BEGIN \xff\n",
        ] {
            let f = check_certificate("x.cer", bytes, &c);
            assert_eq!(ids(&f), vec!["cert.invalid"], "{bytes:?}");
        }
        let f = check_certificate("sagsopslag.docx", b"PK\x03\x04", &c);
        assert_eq!(
            f[0].message,
            "Nyt SSL-certifikat: filen \"sagsopslag.docx\" kan ikke læses som et X.509-certifikat. \
             Vedhæft certifikatet som .cer/.crt/.pem (DER eller PEM)."
        );
        let f = check_certificate(" ", b"", &c);
        assert!(f[0].message.contains("den vedhæftede fil"));
    }

    #[test]
    fn truncated_and_flipped_input_never_panics() {
        let ca = root("Test CA");
        let trust = trust_of(&[&ca]);
        let der = issue(leaf_params(&[HOST]), &ca).der().to_vec();
        let c = ctx(&trust);
        for len in 0..der.len() {
            let f = check_certificate("t", der.get(..len).unwrap_or_default(), &c);
            assert_eq!(ids(&f), vec!["cert.invalid"], "prefix {len}");
        }
        for i in 0..der.len() {
            for bit in [0x01u8, 0x80] {
                let mut flipped = der.clone();
                if let Some(b) = flipped.get_mut(i) {
                    *b ^= bit;
                }
                let f = check_certificate("t", &flipped, &c);
                assert!(f.len() <= 8, "byte {i}: {f:?}");
            }
        }
    }

    #[test]
    fn trust_store_construction() {
        let ca = root("Test CA");
        let store = TrustStore::from_der(vec![
            ca.cert.der().to_vec(),
            ca.cert.der().to_vec(),
            b"garbage".to_vec(),
        ]);
        assert_eq!(store.len(), 1);

        let other = root("Other CA");
        let bundle = format!("{}{}", ca.cert.pem(), other.cert.pem());
        assert_eq!(
            TrustStore::from_pem(bundle.as_bytes())
                .expect("bundle")
                .len(),
            2
        );
        assert!(TrustStore::from_pem(b"no certificates here").is_err());
        assert!(
            TrustStore::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }

    #[test]
    fn dates_in_messages() {
        // Certificate times keep their UTC date; 23:59:59 GMT on 1 Oct is still 1 October.
        let late = Utc
            .with_ymd_and_hms(2026, 10, 1, 23, 59, 59)
            .single()
            .expect("time");
        assert_eq!(cert_date(late), "1. oktober 2026");
        // A desired date given as Danish midnight is 23:00 UTC the day before.
        let midnight = Utc
            .with_ymd_and_hms(2026, 12, 15, 23, 0, 0)
            .single()
            .expect("time");
        assert_eq!(desired_date(midnight), "16. december 2026");
        assert_eq!(cert_date(utc(2027, 1, 5, 0)), "5. januar 2027");
    }
}
