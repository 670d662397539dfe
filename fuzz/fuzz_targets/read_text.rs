//! The mail-text readers (plain and HTML), value normalisation and the field table.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for raw in [
        spdesk::forms::read::text::read_text(&text, "body"),
        spdesk::forms::read::text::read_html(&text, "body"),
    ] {
        if let Some(form) = spdesk::forms::form::interpret(&raw) {
            let _ = serde_json_len(&form);
        }
    }
    let _ = spdesk::rules::dates::parse_desired(&text);
    let _ = spdesk::forms::values::ticks(&text);
});

fn serde_json_len(form: &spdesk::forms::form::OrderForm) -> usize {
    form.fields.len() + form.findings.len()
}
