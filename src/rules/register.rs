//! Who may order (FORMS.md rule 7) against the it-system register: the system must be known,
//! its role and organisation must match the register, and the sender must be allowed for it.
//! Every finding is `review`: the form may be right and the register out of date, so a person
//! at the Helpdesk checks it (spoofing protection, not a correction the sender can make).

use crate::forms::form::OrderForm;
use crate::rules::finding::{Finding, Rule};
use crate::rules::it_systems::Register;

/// A field's value when it was read and normalised (an invalid value already has its
/// `field.invalid` finding and is not compared).
fn valid<'a>(form: &'a OrderForm, code: &str) -> Option<&'a str> {
    if form.invalid.contains(code) {
        return None;
    }
    form.text(code).filter(|s| !s.is_empty())
}

/// `system.unknown`, `system.role_mismatch` and `sender.unauthorised` for one form. `sender`
/// is the mail's From address. Without a readable UUID nothing is checked (the form already
/// has its `field.missing`/`field.invalid`).
pub fn check(form: &OrderForm, sender: Option<&str>, register: &Register) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(uuid) = valid(form, "system_uuid") else {
        return out;
    };
    let Some(entry) = register.lookup(uuid) else {
        out.push(Finding::new(
            Rule::SystemUnknown,
            Some("system_uuid"),
            format!(
                "It-system UUID: \"{uuid}\" findes ikke i Helpdeskens register over it-systemer. En medarbejder hos Helpdesk kontrollerer, at it-systemet findes og er tilsluttet Serviceplatformen, før bestillingen behandles."
            ),
        ));
        return out;
    };

    if let Some(role) = form.role
        && role != entry.role
    {
        out.push(Finding::new(
            Rule::SystemRoleMismatch,
            Some("system_role"),
            format!(
                "It-systemrolle: formularen angiver {}, men it-systemet {} er registreret som {}. En medarbejder hos Helpdesk kontrollerer it-systemets rolle, før bestillingen behandles.",
                role.danish(),
                entry.name,
                entry.role.danish()
            ),
        ));
    }

    if let Some(cvr) = valid(form, "org_cvr")
        && crate::forms::values::cvr(cvr).as_deref() != Some(entry.org_cvr.as_str())
    {
        out.push(Finding::new(
            Rule::SystemRoleMismatch,
            Some("org_cvr"),
            format!(
                "CVR-nr.: formularen angiver {cvr}, men it-systemet {} er registreret under CVR-nr. {}. En medarbejder hos Helpdesk kontrollerer, hvilken organisation it-systemet hører til, før bestillingen behandles.",
                entry.name, entry.org_cvr
            ),
        ));
    }

    match sender {
        Some(a) if entry.allows_sender(a) => {}
        Some(a) => out.push(Finding::new(
            Rule::SenderUnauthorised,
            None,
            format!(
                "Afsenderen {} er ikke registreret som bestiller for it-systemet {}. En medarbejder hos Helpdesk kontrollerer med organisationen, at du må bestille ændringer for it-systemet, før bestillingen behandles.",
                a.trim(),
                entry.name
            ),
        )),
        None => out.push(Finding::new(
            Rule::SenderUnauthorised,
            None,
            format!(
                "Mailen har ingen afsenderadresse, så vi kan ikke se, om afsenderen må bestille ændringer for it-systemet {}. En medarbejder hos Helpdesk kontrollerer bestillingen, før den behandles.",
                entry.name
            ),
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::fields::FormKind;
    use crate::forms::raw::{Entry, RawForm};
    use crate::rules::finding::Severity;

    const U1: &str = "6f1c2e7a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    const U2: &str = "d67050fa-52d6-4bd4-89b8-94ba72dcd5a2";
    const CVR1: &str = "54921942";
    const CVR2: &str = "29189846";

    fn register() -> Register {
        Register::from_csv(&format!(
            "uuid,name,role,org_cvr,senders\n{U1},FamilieFlow,modtagersystem,{CVR1},@kystby.test it@leverandoer.test\n"
        ))
        .unwrap()
    }

    fn form(pairs: &[(&str, &str)]) -> OrderForm {
        let mut entries = vec![
            ("KOMBIT BestillingsID", "BD-1234"),
            ("Organisation", "Kystby Kommune"),
            ("It-system", "FamilieFlow"),
            ("SFTP-bruger", "kystby"),
        ];
        entries.extend_from_slice(pairs);
        let raw = RawForm {
            source: "test".into(),
            text: "Ændring af overvågning af filafhentning (SFTP-indbakke)".into(),
            entries: entries
                .iter()
                .map(|(l, v)| Entry {
                    label: l.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        };
        let f = crate::forms::form::interpret(&raw).unwrap();
        assert_eq!(f.kind, FormKind::Sftp);
        f
    }

    fn good() -> OrderForm {
        form(&[
            ("It-system UUID", U1),
            ("It-systemrolle", "Modtagersystem"),
            ("CVR-nr.", CVR1),
        ])
    }

    fn rules(f: &[Finding]) -> Vec<(Rule, Option<&'static str>)> {
        f.iter().map(|x| (x.rule, x.field)).collect()
    }

    #[test]
    fn a_known_system_from_an_allowed_sender_passes() {
        let r = register();
        assert!(check(&good(), Some("fa@kystby.test"), &r).is_empty());
        assert!(check(&good(), Some("Lars <FA@Kystby.TEST>"), &r).is_empty());
        assert!(check(&good(), Some("it@leverandoer.test"), &r).is_empty());
    }

    #[test]
    fn unknown_uuid() {
        let f = form(&[
            ("It-system UUID", U2),
            ("It-systemrolle", "Anvendersystem"),
            ("CVR-nr.", CVR2),
        ]);
        let found = check(&f, Some("evil@evil.test"), &register());
        assert_eq!(
            rules(&found),
            vec![(Rule::SystemUnknown, Some("system_uuid"))]
        );
        assert_eq!(found[0].severity, Severity::Review);
        assert!(found[0].message.contains(U2));
        assert!(found[0].message.contains("Helpdesk kontrollerer"));
    }

    #[test]
    fn no_readable_uuid_checks_nothing() {
        let missing = form(&[("It-systemrolle", "Modtagersystem"), ("CVR-nr.", CVR1)]);
        assert!(check(&missing, Some("evil@evil.test"), &register()).is_empty());
        let invalid = form(&[("It-system UUID", "not-a-uuid"), ("CVR-nr.", CVR1)]);
        assert!(invalid.invalid.contains("system_uuid"));
        assert!(check(&invalid, Some("evil@evil.test"), &register()).is_empty());
    }

    #[test]
    fn role_mismatch() {
        let f = form(&[
            ("It-system UUID", U1),
            ("It-systemrolle", "Anvendersystem"),
            ("CVR-nr.", CVR1),
        ]);
        let found = check(&f, Some("fa@kystby.test"), &register());
        assert_eq!(
            rules(&found),
            vec![(Rule::SystemRoleMismatch, Some("system_role"))]
        );
        assert_eq!(found[0].severity, Severity::Review);
        assert!(found[0].message.contains("anvendersystem"));
        assert!(found[0].message.contains("registreret som modtagersystem"));
        // A synonym of the registered role matches.
        let syn = form(&[
            ("It-system UUID", U1),
            ("It-systemrolle", "Modtager"),
            ("CVR-nr.", CVR1),
        ]);
        assert!(check(&syn, Some("fa@kystby.test"), &register()).is_empty());
        // No role on the form: nothing to compare.
        let none = form(&[("It-system UUID", U1), ("CVR-nr.", CVR1)]);
        assert!(check(&none, Some("fa@kystby.test"), &register()).is_empty());
    }

    #[test]
    fn cvr_mismatch() {
        let f = form(&[
            ("It-system UUID", U1),
            ("It-systemrolle", "Modtagersystem"),
            ("CVR-nr.", CVR2),
        ]);
        let found = check(&f, Some("fa@kystby.test"), &register());
        assert_eq!(
            rules(&found),
            vec![(Rule::SystemRoleMismatch, Some("org_cvr"))]
        );
        assert!(found[0].message.contains(CVR1) && found[0].message.contains(CVR2));
        // Written differently, same number.
        let spaced = form(&[
            ("It-system UUID", U1),
            ("It-systemrolle", "Modtagersystem"),
            ("CVR-nr.", "DK 5492 1942"),
        ]);
        assert!(check(&spaced, Some("fa@kystby.test"), &register()).is_empty());
        // An invalid CVR already has its field.invalid; it is not compared.
        let bad = form(&[
            ("It-system UUID", U1),
            ("It-systemrolle", "Modtagersystem"),
            ("CVR-nr.", "12345678"),
        ]);
        assert!(check(&bad, Some("fa@kystby.test"), &register()).is_empty());
    }

    #[test]
    fn role_and_cvr_mismatch_and_a_stranger_give_three_findings() {
        let f = form(&[
            ("It-system UUID", U1),
            ("It-systemrolle", "Afsendersystem"),
            ("CVR-nr.", CVR2),
        ]);
        let found = check(&f, Some("x@evil.test"), &register());
        assert_eq!(
            rules(&found),
            vec![
                (Rule::SystemRoleMismatch, Some("system_role")),
                (Rule::SystemRoleMismatch, Some("org_cvr")),
                (Rule::SenderUnauthorised, None),
            ]
        );
    }

    #[test]
    fn sender_not_allowed() {
        let r = register();
        for s in [
            "x@evil.test",
            "fa@sub.kystby.test",
            "other@leverandoer.test",
            "not an address",
        ] {
            let found = check(&good(), Some(s), &r);
            assert_eq!(rules(&found), vec![(Rule::SenderUnauthorised, None)], "{s}");
            assert_eq!(found[0].severity, Severity::Review);
            assert!(found[0].message.contains("FamilieFlow"));
            assert!(found[0].message.contains("Helpdesk kontrollerer"));
            // The register's allowed senders are not told to a stranger.
            let m = &found[0].message;
            assert!(
                !m.contains("@kystby.test") && !m.contains("it@leverandoer"),
                "{s}"
            );
        }
    }

    #[test]
    fn no_sender() {
        let found = check(&good(), None, &register());
        assert_eq!(rules(&found), vec![(Rule::SenderUnauthorised, None)]);
        assert!(found[0].message.contains("ingen afsenderadresse"));
    }
}
