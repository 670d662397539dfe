use super::*;
use serde_json::json;

const FP: &str = "AA:BB";

fn leaf(sha: &str) -> Leaf {
    Leaf {
        sha256: sha.into(),
        serial: "5EED".into(),
        issuer: "CN=Test CA".into(),
        subject: "CN=localhost".into(),
        not_after: "2030-01-01".into(),
    }
}

fn served(sha: &str, status: Option<u16>) -> Observation {
    Observation {
        url: "https://ws.example.test/ws".into(),
        addresses: vec!["127.0.0.1:443".into()],
        connected: Some("127.0.0.1:443".into()),
        leaf: Some(leaf(sha)),
        http_status: status,
        failed: status
            .is_none()
            .then(|| (Step::Http, "connection reset".to_string())),
        ..Observation::default()
    }
}

fn ordered() -> Expected {
    Expected::Fingerprint { sha256: FP.into() }
}

fn failed_names(r: &Report) -> Vec<&'static str> {
    r.checks
        .iter()
        .filter(|c| c.passed == Some(false))
        .map(|c| c.name)
        .collect()
}

#[test]
fn the_ordered_certificate_answering_passes_and_the_receipt_names_it() {
    let r = report(&served(FP, Some(200)), &ordered(), None, 1);
    assert!(r.passed, "{r:#?}");
    let line = receipt_line(&r);
    assert_eq!(
        line,
        "Vi har kontrolleret, at https://ws.example.test/ws svarer og præsenterer det bestilte certifikat (SHA-256 AA:BB)."
    );
    let v = verification(Some(&r));
    assert!(v.passed && v.failures.is_empty());
}

#[test]
fn another_certificate_fails_with_both_fingerprints() {
    let r = report(&served("CC:DD", Some(200)), &ordered(), None, 3);
    assert!(!r.passed);
    assert_eq!(failed_names(&r), ["certificate"]);
    let f = failures(&r);
    assert!(f.contains("CC:DD") && f.contains("AA:BB"), "{f}");
    assert_eq!(
        receipt_line(&r),
        "Vi har ikke kunnet bekræfte ændringen automatisk: https://ws.example.test/ws præsenterer et andet certifikat (SHA-256 CC:DD) end det bestilte (SHA-256 AA:BB)."
    );
    let e = event("operatoer", &r);
    assert_eq!(e.action, FAILED);
    assert!(
        e.detail.contains("3 forsøg") && e.detail.contains("FEJL certificate"),
        "{}",
        e.detail
    );
}

#[test]
fn any_http_status_answers_but_a_reset_does_not() {
    let r = report(&served(FP, Some(405)), &ordered(), None, 1);
    assert!(r.passed, "a SOAP endpoint may say 405 to GET");
    let r = report(&served(FP, None), &ordered(), None, 1);
    assert_eq!(failed_names(&r), ["http"]);
    assert!(failures(&r).contains("connection reset"));
    assert!(
        receipt_line(&r)
            .ends_with(": https://ws.example.test/ws svarer ikke på en HTTP-forespørgsel."),
        "{}",
        receipt_line(&r)
    );
}

#[test]
fn an_invalid_chain_fails_even_with_the_ordered_leaf() {
    let o = Observation {
        chain_error: Some("the certificate has expired".into()),
        chain_problem: Some(ChainProblem::Expired),
        ..served(FP, Some(200))
    };
    let r = report(&o, &ordered(), None, 1);
    assert_eq!(failed_names(&r), ["chain"]);
    assert_eq!(
        receipt_line(&r),
        "Vi har ikke kunnet bekræfte ændringen automatisk: certifikatet, som https://ws.example.test/ws præsenterer, er ikke gyldigt (certifikatet er udløbet)."
    );
}

#[test]
fn nothing_listening_fails_every_check_that_needs_the_connection() {
    let o = Observation {
        url: "https://localhost:1/".into(),
        failed: Some((Step::Tcp, "connection refused".into())),
        ..Observation::default()
    };
    let r = report(&o, &ordered(), None, 2);
    assert_eq!(
        failed_names(&r),
        ["reachable", "chain", "certificate", "http"]
    );
    assert!(r.checks[0].detail.contains("TCP: connection refused"));
    assert_eq!(
        receipt_line(&r),
        "Vi har ikke kunnet bekræfte ændringen automatisk: https://localhost:1/ kunne ikke nås (der kunne ikke oprettes forbindelse).",
        "only the first failure, in Danish, no English error text"
    );
}

#[test]
fn a_url_change_without_certificate_accepts_any_valid_one_and_reports_the_old_url() {
    let old = Observation {
        url: "https://old.example.test/ws".into(),
        failed: Some((Step::Dns, "no such host".into())),
        ..Observation::default()
    };
    let r = report(&served("EE:FF", Some(200)), &Expected::Any, Some(&old), 1);
    assert!(r.passed, "the old URL is information only");
    let info = r.checks.iter().find(|c| c.name == "old_url").unwrap();
    assert_eq!(info.passed, None);
    assert!(info.detail.contains("does not answer (DNS: no such host)"));
    assert!(receipt_line(&r).contains("gyldigt certifikat (SHA-256 EE:FF)"));
}

#[test]
fn a_serial_only_order_compares_serials() {
    let expected = Expected::Serial {
        serial: normal_serial("00:5e:ed"),
    };
    assert!(report(&served(FP, Some(200)), &expected, None, 1).passed);
    let other = Expected::Serial {
        serial: "1234".into(),
    };
    let r = report(&served(FP, Some(200)), &other, None, 1);
    assert_eq!(failed_names(&r), ["certificate"]);
    assert!(failures(&r).contains("CN=Test CA"), "the issuer is named");
}

#[test]
fn the_subject_follows_kind_changes_and_urls() {
    let j = |changes: serde_json::Value| {
        json!({"fields": {"changes": changes,
            "current_url": "https://old.example.test/ws",
            "new_url": "https://new.example.test/ws",
            "certificate_serial": "0A"}})
    };
    assert_eq!(
        subject(Some("sftp"), &j(json!(["monitoring"])), None),
        Subject::Monitoring
    );
    assert_eq!(
        subject(Some("webservice"), &j(json!(["datatype"])), None),
        Subject::Nothing
    );
    assert_eq!(subject(None, &json!(null), None), Subject::Nothing);
    let Subject::Endpoint(t) = subject(Some("webservice"), &j(json!(["url"])), None) else {
        panic!()
    };
    assert_eq!(t.url.as_deref(), Some("https://new.example.test/ws"));
    assert_eq!(t.old_url.as_deref(), Some("https://old.example.test/ws"));
    assert_eq!(t.expected, Expected::Any);
    let Subject::Endpoint(t) = subject(
        Some("webservice"),
        &j(json!(["ssl_certificate"])),
        Some(b"der"),
    ) else {
        panic!()
    };
    assert_eq!(t.url.as_deref(), Some("https://old.example.test/ws"));
    assert_eq!(t.old_url, None);
    assert_eq!(
        t.expected,
        Expected::Fingerprint {
            sha256: fingerprint(b"der")
        }
    );
    let Subject::Endpoint(t) = subject(Some("webservice"), &j(json!(["ssl_certificate"])), None)
    else {
        panic!()
    };
    assert_eq!(t.expected, Expected::Serial { serial: "A".into() });
}

#[test]
fn no_url_fails_and_says_which_field() {
    let r = no_url(&Expected::Any);
    assert!(!r.passed);
    assert!(failures(&r).contains("current_url"), "{}", failures(&r));
}

#[test]
fn monitoring_has_no_probe_and_the_receipt_says_so() {
    let v = verification(None);
    assert!(v.passed);
    assert!(
        v.receipt_line
            .contains("ikke foretaget en automatisk kontrol")
    );
}

#[test]
fn fingerprints_are_colon_hex_of_sha256() {
    let f = fingerprint(b"");
    assert_eq!(f.len(), 32 * 3 - 1);
    assert!(f.starts_with("E3:B0:C4:42"), "{f}");
    assert_eq!(normal_serial("00 0a:Bc"), "ABC");
    assert_eq!(normal_serial("000"), "0");
}

#[test]
fn the_gennemfoert_receipt_carries_the_line_after_the_note() {
    let t = crate::orders::receipts::Templates::builtin().unwrap();
    let r = report(&served(FP, Some(200)), &ordered(), None, 1);
    let text = t
        .render(
            crate::orders::receipts::ReceiptKind::Gennemfoert,
            &minijinja::context! { ref => "SP-2026-00001", bestillings_id => "BD-1",
            executed_at => "mandag den 7. december 2026 kl. 10.00", note => "Nyt certifikat",
            verified => receipt_line(&r) },
        )
        .unwrap();
    let note = text.find("Nyt certifikat").unwrap();
    let line = text
        .find("Vi har kontrolleret, at https://ws.example.test/ws")
        .unwrap();
    assert!(note < line, "{text}");
    assert!(!text.contains("\n\n\n"), "{text}");
    let without = t
        .render(
            crate::orders::receipts::ReceiptKind::Gennemfoert,
            &minijinja::context! { ref => "SP-2026-00001", executed_at => "i dag" },
        )
        .unwrap();
    assert!(!without.contains("kontrolleret"), "{without}");
}
