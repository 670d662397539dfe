//! The standard-service matrix (FORMS.md rule 2): which change is a standard service for
//! which it-system role, which is made by the forvaltningsansvarlig in ADM, and which is
//! neither.

use crate::forms::fields::{Change, Role};
use crate::rules::finding::{Finding, Rule};

/// What the matrix says about one change for one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Standard,
    Adm,
    NotStandard,
}

/// The process description's table.
pub fn cell(change: Change, role: Role) -> Cell {
    use Change::*;
    use Role::*;
    match (change, role) {
        (SslCertificate, Serviceudbydersystem) => Cell::Standard,
        (SslCertificate, Anvendersystem) => Cell::Adm,
        (Url | Datatype | SecurityModel, Serviceudbydersystem) => Cell::Standard,
        (Monitoring, Modtagersystem) => Cell::Standard,
        (SshKey, Modtagersystem | Afsendersystem) => Cell::Adm,
        _ => Cell::NotStandard,
    }
}

/// Findings for every ordered change that is not a standard service for the role.
pub fn check(changes: impl IntoIterator<Item = Change>, role: Option<Role>) -> Vec<Finding> {
    let Some(role) = role else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for change in changes {
        let what = change_for_role(change, role);
        match cell(change, role) {
            Cell::Standard => {}
            Cell::Adm => out.push(Finding::new(
                Rule::MatrixAdm,
                Some("changes"),
                format!(
                    "Ændringer: den ændring, du har bestilt ({what}), foretager du selv i Fælleskommunalt Administrationsmodul (ADM). Serviceplatformens Helpdesk skal ikke involveres."
                ),
            )),
            Cell::NotStandard => out.push(Finding::new(
                Rule::MatrixNotStandard,
                Some("changes"),
                format!(
                    "Ændringer: {what} er ikke en standardydelse. Kun ændringer, der er defineret som standardydelser i Digitaliseringskataloget, kan bestilles hos Serviceplatformens Helpdesk. Kontakt os, hvis du er i tvivl om, hvad du skal bestille."
                ),
            )),
        }
    }
    out
}

/// The changes the requester makes in ADM themselves, as the receipts name them: the same
/// words as the `matrix.adm` finding, handed to the receipt as a value of its own.
pub fn adm_changes(changes: impl IntoIterator<Item = Change>, role: Option<Role>) -> Vec<String> {
    let Some(role) = role else {
        return Vec::new();
    };
    changes
        .into_iter()
        .filter(|&c| cell(c, role) == Cell::Adm)
        .map(|c| change_for_role(c, role))
        .collect()
}

/// "SSL-certifikat for et anvendersystem": a change as ordered for a role.
fn change_for_role(change: Change, role: Role) -> String {
    format!("{} for et {}", change.def().danish, role.danish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_description_table() {
        assert_eq!(
            cell(Change::SslCertificate, Role::Serviceudbydersystem),
            Cell::Standard
        );
        assert_eq!(
            cell(Change::SslCertificate, Role::Anvendersystem),
            Cell::Adm
        );
        assert_eq!(
            cell(Change::SslCertificate, Role::Modtagersystem),
            Cell::NotStandard
        );
        assert_eq!(cell(Change::Url, Role::Anvendersystem), Cell::NotStandard);
        assert_eq!(
            cell(Change::Monitoring, Role::Modtagersystem),
            Cell::Standard
        );
        assert_eq!(
            cell(Change::Monitoring, Role::Afsendersystem),
            Cell::NotStandard
        );
        assert_eq!(cell(Change::SshKey, Role::Afsendersystem), Cell::Adm);
        assert_eq!(
            cell(Change::SshKey, Role::Serviceudbydersystem),
            Cell::NotStandard
        );
    }

    #[test]
    fn findings_name_the_change_and_role() {
        let f = check([Change::SslCertificate], Some(Role::Anvendersystem));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, Rule::MatrixAdm);
        assert!(
            f[0].message
                .contains("SSL-certifikat for et anvendersystem")
        );
        assert!(check([Change::Url], None).is_empty());
    }

    #[test]
    fn adm_changes_are_named_as_in_the_finding() {
        let changes = [Change::SslCertificate, Change::Url];
        let adm = adm_changes(changes, Some(Role::Anvendersystem));
        assert_eq!(adm, ["SSL-certifikat for et anvendersystem"]);
        let f = check(changes, Some(Role::Anvendersystem));
        assert!(f[0].message.contains(&format!("({})", adm[0])));
        assert!(adm_changes(changes, None).is_empty());
        assert!(adm_changes([Change::Url], Some(Role::Serviceudbydersystem)).is_empty());
    }
}
