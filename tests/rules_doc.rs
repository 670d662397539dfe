//! docs/rules.md is the code's rule table (`spdesk::rules::finding::Rule`): one line per rule
//! id with its severity and meaning. This test writes what the page must say and fails when
//! the file differs, so the page cannot drift from the code.
//!
//! Regenerate after changing a rule: `SPDESK_WRITE_DOCS=1 cargo test --test rules_doc`.

use spdesk::rules::finding::{Rule, Severity};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");

fn page() -> String {
    let mut text = String::from(
        "# The rules an order form is judged by\n\
         \n\
         <!-- Written by tests/rules_doc.rs from src/rules/finding.rs; do not edit by hand.\n     \
         Regenerate: SPDESK_WRITE_DOCS=1 cargo test --test rules_doc -->\n\
         \n\
         Every finding spdesk reports (in `spdesk check`, `orders show`, the web console and\n\
         the receipts) names one of these rule ids. Its severity decides the order:\n\
         \n\
         - **reject**: the forvaltningsansvarlig must correct the form and send it again; the\n  \
         receipt says what to correct, in Danish.\n\
         - **review**: the form may be right, but spdesk cannot tell; a person at the Helpdesk\n  \
         decides (`spdesk orders approve` or `reject`, or the web console).\n\
         \n\
         An order is rejected when any finding is `reject`, in review when any is `review`, and\n\
         approved otherwise. `rules.NAME` below is the key NAME in the config's `[rules]` section.\n\
         \n\
         | rule | severity | meaning |\n\
         |---|---|---|\n",
    );
    for rule in Rule::ALL {
        let severity = match rule.severity() {
            Severity::Reject => "reject",
            Severity::Review => "review",
            Severity::Info => "info",
        };
        text.push_str(&format!(
            "| `{}` | {severity} | {} |\n",
            rule.id(),
            rule.meaning()
        ));
    }
    text
}

#[test]
fn docs_rules_md_is_the_code_s_rule_table() {
    let want = page();
    if std::env::var_os("SPDESK_WRITE_DOCS").is_some() {
        std::fs::write(PATH, &want).unwrap_or_else(|e| panic!("cannot write {PATH}: {e}"));
    }
    let have = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        have == want,
        "{PATH} differs from the rule table in src/rules/finding.rs.\n\
         Regenerate it: SPDESK_WRITE_DOCS=1 cargo test --test rules_doc\n\
         --- expected:\n{want}"
    );
}

#[test]
fn every_rule_is_on_the_page_once() {
    let want = page();
    for rule in Rule::ALL {
        let row = format!("| `{}` |", rule.id());
        assert_eq!(want.matches(&row).count(), 1, "{}", rule.id());
    }
}
