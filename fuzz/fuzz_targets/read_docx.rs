//! The .docx reader and the field table on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spdesk::forms::raw::ReadLimits;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = spdesk::forms::read::docx::read_docx(data, "fuzz.docx", &ReadLimits::default()) {
        let _ = spdesk::forms::form::interpret(&raw);
    }
});
