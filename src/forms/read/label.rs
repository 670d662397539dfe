//! "Label: value": the one splitter the text and .docx readers use for a line (or a paragraph)
//! that may hold a label and its value, so a label reads the same typed into a mail, a PDF's
//! text layer or a Word paragraph.

use crate::forms::raw::has_tick_glyph;

/// Longest label we accept; longer text before a colon is a sentence, not a label. The longest
/// label or synonym of the field table is 44 characters ("Overvågning af filafhentning
/// (SFTP-indbakke)"), so 60 leaves room for a person's own wording around it, while most
/// sentences people end with a colon in a mail ("Vi vil gerne bestille følgende ændringer til
/// vores serviceaftale:") are longer. The .docx reader allowed 80 before, the text reader 60.
pub(crate) const MAX_LABEL_CHARS: usize = 60;

/// Splits "Label: value" when the text before the colon can be a label.
///
/// With `tab_cells` (a PDF's text layer, where a wide gap between a label cell and its value
/// cell is a tab) a tab before any colon splits like ": ", so a value with colons (a URL, a
/// time) stays whole.
pub(crate) fn split_label(line: &str, tab_cells: bool) -> Option<(String, String)> {
    let tab_first = line
        .find('\t')
        .is_some_and(|t| line.find(':').is_none_or(|c| t < c));
    if tab_cells && tab_first {
        return split_at_tab(line);
    }
    let mut search_from = 0;
    while let Some(pos) = line.get(search_from..).and_then(|s| s.find(':')) {
        let at = search_from.saturating_add(pos);
        let before = line.get(..at)?;
        let after = line.get(at.saturating_add(1)..)?;
        search_from = at.saturating_add(1);
        if after.starts_with("//") {
            // "https://x": a URL, not a label; and a label never follows a URL on the line.
            return None;
        }
        let digit_before = before
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit());
        let digit_after = after.chars().next().is_some_and(|c| c.is_ascii_digit());
        if digit_before && digit_after {
            // "10:00" is a time.
            continue;
        }
        let label = clean_label(before);
        let scheme = label.to_ascii_lowercase();
        if !after.starts_with(char::is_whitespace)
            && !after.is_empty()
            && matches!(
                scheme.as_str(),
                "mailto" | "tel" | "urn" | "cid" | "sip" | "data"
            )
        {
            return None;
        }
        if plausible_label(&label) {
            return Some((label, after.trim().to_string()));
        }
        return None;
    }
    None
}

/// "Label\tvalue": the cells of a line split at its first tab.
fn split_at_tab(line: &str) -> Option<(String, String)> {
    let (before, after) = line.split_once('\t')?;
    let label = clean_label(before);
    let value = after.trim();
    (plausible_label(&label) && !value.is_empty()).then(|| (label, value.replace('\t', " ")))
}

/// Drops list bullets and bold markers around a label.
fn clean_label(s: &str) -> String {
    let mut t = s.trim();
    for bullet in ["• ", "* ", "- ", "· "] {
        if let Some(rest) = t.strip_prefix(bullet) {
            t = rest.trim_start();
        }
    }
    t.trim_matches('*').trim().to_string()
}

/// Whether `label` can be a label: not too long, has letters, is not a quotation, a URL or a
/// tick box.
pub(crate) fn plausible_label(label: &str) -> bool {
    let n = label.chars().count();
    n > 0
        && n <= MAX_LABEL_CHARS
        && label.chars().any(char::is_alphabetic)
        && !label.starts_with(['"', '\'', '«', '»', '„', '“', '”', '‘', '’'])
        && !label.contains("://")
        && !has_tick_glyph(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_label_from_its_value() {
        assert_eq!(split_label("a:b", false), Some(("a".into(), "b".into())));
        assert_eq!(
            split_label("• **Navn**: Jens", false),
            Some(("Navn".into(), "Jens".into()))
        );
        assert_eq!(
            split_label("Kl. 10:00 start: nu", false),
            Some(("Kl. 10:00 start".into(), "nu".into()))
        );
        assert_eq!(
            split_label("Navn\tJens", true),
            Some(("Navn".into(), "Jens".into()))
        );
        assert_eq!(split_label("Navn\tJens", false), None);
        assert_eq!(
            split_label("Ny URL\thttps://x.dk:8443/a", true),
            Some(("Ny URL".into(), "https://x.dk:8443/a".into()))
        );
        assert_eq!(
            split_label("Kl.\t10:00", true),
            Some(("Kl.".into(), "10:00".into()))
        );
        assert_eq!(
            split_label("Navn: Jens\tHansen", true),
            Some(("Navn".into(), "Jens\tHansen".into()))
        );
    }

    #[test]
    fn text_that_is_not_a_label_is_not_split() {
        assert_eq!(split_label(": x", false), None);
        assert_eq!(split_label("12:30", false), None);
        assert_eq!(split_label("https://x", false), None);
        assert_eq!(split_label("mailto:a@b.dk", false), None);
        assert_eq!(split_label("\"Citat\": x", false), None);
        assert_eq!(split_label("☒ URL: x", false), None);
        let longest = "a".repeat(MAX_LABEL_CHARS);
        assert_eq!(
            split_label(&format!("{longest}: x"), false),
            Some((longest.clone(), "x".into()))
        );
        assert_eq!(split_label(&format!("{longest}a: x"), false), None);
    }
}
