//! The PDF reader (AcroForm and text layer) and the field table on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spdesk::forms::raw::ReadLimits;

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = spdesk::forms::read::pdf::read_pdf(data, "fuzz.pdf", &ReadLimits::default()) {
        let _ = spdesk::forms::form::interpret(&raw);
    }
});
