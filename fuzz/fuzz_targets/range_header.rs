//! The Range parser: every range it returns is non-empty and inside the
//! representation, so no input can make the server send other bytes.
#![no_main]

use henaserver::internals::{parse_range, Ranges};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let len = u64::from(u16::from_le_bytes([data[0], data[1]]));
    if let Ranges::Satisfiable(ranges) = parse_range(&data[2..], len, 100) {
        assert!(!ranges.is_empty() && ranges.len() <= 100);
        for r in &ranges {
            assert!(r.start < r.end && r.end <= len, "{r:?} of {len}");
        }
    }
});
