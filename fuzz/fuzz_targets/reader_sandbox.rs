//! The sandboxed reader path, in process: arbitrary bytes as the reader child's request stream
//! (request decoder, reader dispatch, answer encoder), whose answers the parent's decoder must
//! read back; and arbitrary bytes as an answer stream for the parent's decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spdesk::forms::raw::ReadLimits;
use spdesk::sandbox::{child, protocol};

fuzz_target!(|data: &[u8]| {
    let mut answers = Vec::new();
    // The parent always sends its configured limits; arbitrary ones (no limit at all) would
    // only measure the readers' unbounded mode.
    let _ = child::serve(&mut &data[..], &mut answers, |job| {
        job.limits = ReadLimits::default();
    });
    let mut input = answers.as_slice();
    while !input.is_empty() {
        if let Err(e) = protocol::read_answer(&mut input) {
            panic!("the child's own answer does not decode: {e}");
        }
    }

    let mut input = data;
    while protocol::read_answer(&mut input).is_ok() {}
});
