//! Spam by the receiving MTA's verdict (DESIGN.md "Loop safety", `helpdesk.spam_headers`):
//! answering spam sends receipts to forged senders (backscatter), and that gets the
//! Helpdesk's domain blocklisted. The filters in front of the mailbox (SpamAssassin, rspamd,
//! Exchange Online Protection) write their verdict into headers; a mail whose header passes
//! one of the configured tests is stored and shown to the Helpdesk, never answered.
//!
//! A sender can write such headers into their own mail too, but that only costs them their
//! receipt. A DMARC or SPF fail is no spam here: FORMS.md rule 7 makes it
//! `sender.unverified`, so a person looks.
//!
//! One test is one string, the header's name and a comparison:
//! - `"X-Spam-Flag: YES"`: the value starts with the word `YES` (any case), as in
//!   `X-Spam-Status: Yes, score=7.1`;
//! - `"X-MS-Exchange-Organization-SCL >= 5"`: the value is a whole number of at least 5;
//! - `"X-Forefront-Antispam-Report ~ SFV:SPM"`: the value contains `SFV:SPM` (any case).

use super::Mail;

/// One test on a header of a received mail (see the module doc for the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpamTest {
    header: String,
    test: Comparison,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Comparison {
    /// The value starts with this word, lower case.
    StartsWith(String),
    /// The value is a whole number at least this.
    AtLeast(i64),
    /// The value contains this, lower case.
    Contains(String),
}

/// The tests `helpdesk.spam_headers` has when it is not given: SpamAssassin's and rspamd's
/// flag and status, and Microsoft 365's spam confidence level (5 and more: spam) and
/// verdict (SFV:SPM).
pub const DEFAULT_SPAM_HEADERS: &[&str] = &[
    "X-Spam-Flag: YES",
    "X-Spam-Status: Yes",
    "X-MS-Exchange-Organization-SCL >= 5",
    "X-Forefront-Antispam-Report ~ SFV:SPM",
];

/// The tests of `helpdesk.spam_headers`; by default [`DEFAULT_SPAM_HEADERS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpamHeaders(pub Vec<SpamTest>);

impl Default for SpamHeaders {
    fn default() -> Self {
        SpamHeaders(
            DEFAULT_SPAM_HEADERS
                .iter()
                .filter_map(|t| SpamTest::parse(t).ok())
                .collect(),
        )
    }
}

impl SpamHeaders {
    /// True when a header of `mail` passes one of the tests.
    pub fn is_spam(&self, mail: &Mail) -> bool {
        self.0
            .iter()
            .any(|t| mail.headers_named(&t.header).any(|v| t.test.matches(v)))
    }
}

impl SpamTest {
    /// Reads one test; the error says what is wrong and how it should look.
    pub fn parse(text: &str) -> Result<SpamTest, String> {
        let text = text.trim();
        let end = text
            .find(|c: char| matches!(c, ':' | '>' | '~') || c.is_whitespace())
            .unwrap_or(text.len());
        let (header, rest) = text.split_at(end);
        let field_name =
            !header.is_empty() && header.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !field_name {
            return Err(format!("does not start with a header name; {SYNTAX}"));
        }
        let rest = rest.trim_start();
        let (test, value) = if let Some(v) = rest.strip_prefix(">=") {
            let v = v.trim();
            let n = v
                .parse::<i64>()
                .map_err(|_| format!("\"{v}\" after >= is not a whole number"))?;
            (Comparison::AtLeast(n), v)
        } else if let Some(v) = rest.strip_prefix('~') {
            (Comparison::Contains(v.trim().to_lowercase()), v.trim())
        } else if let Some(v) = rest.strip_prefix(':') {
            (Comparison::StartsWith(v.trim().to_lowercase()), v.trim())
        } else {
            return Err(format!("has no comparison; {SYNTAX}"));
        };
        if value.is_empty() {
            return Err(format!("has nothing to compare with; {SYNTAX}"));
        }
        Ok(SpamTest {
            header: header.to_string(),
            test,
        })
    }
}

/// How a test is written, for the errors.
const SYNTAX: &str = "write \"Header: word\" (the value starts with the word), \"Header >= 5\" (a number at least 5) or \"Header ~ text\" (the value contains the text), e.g. \"X-Spam-Flag: YES\"";

impl Comparison {
    fn matches(&self, value: &str) -> bool {
        let value = value.trim();
        match self {
            Comparison::StartsWith(word) => {
                let lower = value.to_lowercase();
                lower.strip_prefix(word.as_str()).is_some_and(|rest| {
                    !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            }
            Comparison::AtLeast(min) => value.parse::<i64>().is_ok_and(|n| n >= *min),
            Comparison::Contains(part) => value.to_lowercase().contains(part.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(headers: &str) -> Mail {
        let raw = format!("From: a@example.test\r\nSubject: x\r\n{headers}\r\n\r\nHej\r\n");
        Mail::parse(raw.as_bytes(), 3).expect("a mail")
    }

    #[test]
    fn the_default_tests_find_the_filters_verdicts() {
        let tests = SpamHeaders::default();
        assert_eq!(tests.0.len(), DEFAULT_SPAM_HEADERS.len());
        for spam in [
            "X-Spam-Flag: YES",
            "X-Spam-Flag: yes",
            "X-Spam-Status: Yes, score=7.3 required=5.0 tests=BAYES_99",
            "X-MS-Exchange-Organization-SCL: 9",
            "X-MS-Exchange-Organization-SCL: 5",
            "X-Forefront-Antispam-Report: CIP:192.0.2.1;CTRY:;LANG:en;SCL:9;SRV:;IPV:NLI;SFV:SPM;H:x;",
        ] {
            assert!(tests.is_spam(&mail(spam)), "{spam}");
        }
        for ham in [
            "X-Spam-Flag: NO",
            "X-Spam-Status: No, score=-1.0 required=5.0",
            "X-Spam-Status: Yesterday",
            "X-MS-Exchange-Organization-SCL: 1",
            "X-MS-Exchange-Organization-SCL: -1",
            "X-MS-Exchange-Organization-SCL: x",
            "X-Forefront-Antispam-Report: CIP:192.0.2.1;SFV:NSPM;SCL:1",
            "Authentication-Results: mx.example.test; dmarc=fail header.from=example.test",
        ] {
            assert!(!tests.is_spam(&mail(ham)), "{ham}");
        }
        assert!(!SpamHeaders(Vec::new()).is_spam(&mail("X-Spam-Flag: YES")));
    }

    #[test]
    fn tests_are_read_with_clear_errors() {
        assert_eq!(
            SpamTest::parse("X-Spam-Score >= 8"),
            Ok(SpamTest {
                header: "X-Spam-Score".into(),
                test: Comparison::AtLeast(8),
            })
        );
        assert_eq!(
            SpamTest::parse(" X-Rspamd-Action:reject "),
            Ok(SpamTest {
                header: "X-Rspamd-Action".into(),
                test: Comparison::StartsWith("reject".into()),
            })
        );
        for (bad, why) in [
            ("", "header name"),
            (": YES", "header name"),
            ("X-Spam-Flag", "no comparison"),
            ("X-Spam-Flag YES", "no comparison"),
            ("X-Spam-Flag:", "nothing to compare"),
            ("X-SCL >= five", "not a whole number"),
            ("X-Report ~ ", "nothing to compare"),
        ] {
            let e = SpamTest::parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
