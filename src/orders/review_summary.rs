//! The review summary: when more orders go to review in an hour than
//! `limits.review_mails_per_hour` allows mails for, the rest are not mailed one by one but
//! gathered into ONE mail to `helpdesk.review_to`, sent at the start of the next clock hour
//! ("N bestillinger til vurdering: ..."). A burst of hostile mail then costs the Helpdesk one
//! mail an hour instead of a flooded inbox; every order stays in the queue and the digest.
//!
//! Pure: the references in, the mail out. Gathering them and queueing the mail is the shell's
//! job (`process`, `store`).

use crate::mail::header_value::{
    self, Envelope, HeaderText, own_message_id, sender_and_recipients,
};

/// The outbox kind of the summary.
pub const KIND: &str = "helpdesk_samlet";

/// References listed by name; the rest are counted ("og N flere"), so the mail and the row it
/// is gathered in stay small whatever the burst.
pub const LISTED: usize = 100;

/// The summary of one clock hour's deterministic Message-ID: one mail per hour, rewritten while
/// it waits as more orders join it.
pub fn message_id(hour: i64, domain: &str) -> String {
    crate::mail::own_id::make(&format!("review-summary.{hour}"), domain)
}

/// The summary mail from `from` to `to` for `total` orders, of which `listed` are named: its
/// Message-ID and raw bytes.
pub fn compose(
    hour: i64,
    listed: &[String],
    total: i64,
    limit: i64,
    from: &str,
    to: &[String],
    date: i64,
) -> Result<(String, Vec<u8>), String> {
    let (from, to) = sender_and_recipients(from, to, "helpdesk.review_to")?;
    let id = message_id(hour, from.domain());
    let mut text = format!(
        "Flere bestillinger end {limit} i timen er gået til vurdering. De er samlet i denne ene \
         mail i stedet for en mail for hver:\n\n"
    );
    for r in listed.iter().take(LISTED) {
        text.push_str(r);
        text.push('\n');
    }
    let named = i64::try_from(listed.len().min(LISTED)).unwrap_or(i64::MAX);
    if total > named {
        text.push_str(&format!("og {} flere\n", total - named));
    }
    text.push_str(
        "\nSe dem med: spdesk orders list --state review\n\nDenne mail er dannet automatisk af spdesk.\n",
    );
    let subject = HeaderText::new(&format!("{total} bestillinger til vurdering"));
    let raw = header_value::builder(Envelope::generated(
        &from,
        &to,
        &subject,
        &own_message_id(&id)?,
        date,
    ))
    .text_body(text)
    .write_to_vec()
    .map_err(|e| e.to_string())?;
    Ok((id, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &[u8]) -> String {
        let m = mail_parser::MessageParser::default().parse(raw).unwrap();
        m.body_text(0).unwrap_or_default().into_owned()
    }

    #[test]
    fn the_summary_names_the_orders_and_counts_the_rest() {
        let refs: Vec<String> = (1..=3).map(|n| format!("SP-2026-{n:05}")).collect();
        let to = vec!["vurdering@helpdesk.test".to_string()];
        let (id, raw) = compose(7, &refs, 3, 30, "helpdesk@helpdesk.test", &to, 0).unwrap();
        assert_eq!(id, "review-summary.7@spdesk.helpdesk.test");
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(m.subject(), Some("3 bestillinger til vurdering"));
        assert_eq!(
            m.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-generated")
        );
        let body = text(&raw);
        assert!(body.contains("end 30 i timen"), "{body}");
        for r in &refs {
            assert!(body.contains(r.as_str()), "{body}");
        }
        assert!(!body.contains("flere\n"), "{body}");

        let many: Vec<String> = (1..=150).map(|n| format!("SP-2026-{n:05}")).collect();
        let (_, raw) = compose(7, &many, 400, 30, "helpdesk@helpdesk.test", &to, 0).unwrap();
        let body = text(&raw);
        assert!(body.contains("SP-2026-00100"), "{body}");
        assert!(!body.contains("SP-2026-00101"), "{body}");
        assert!(body.contains("og 300 flere"), "{body}");
    }
}
