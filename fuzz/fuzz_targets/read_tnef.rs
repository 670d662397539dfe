//! The TNEF (winmail.dat) reader on arbitrary bytes: never a panic, and every unpacked file
//! is a slice of the input within the file cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spdesk::forms::read::tnef::{TnefLimits, unpack};

fuzz_target!(|data: &[u8]| {
    let limits = TnefLimits::default();
    if let Ok(u) = unpack(data, &limits) {
        assert!(u.files.len() <= limits.max_files);
        let total: usize = u.files.iter().map(|f| f.bytes.len()).sum();
        assert!(total <= data.len());
    }
});
