//! Accept-Encoding negotiation and the validator comparisons: no input
//! panics, and a coding is only chosen when it is available.
#![no_main]

use henaserver::internals::{choose_coding, if_range_allows, parse_date, Coding, DEFAULT_PREFERENCE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let available = |c: Coding| c != Coding::Zstd;
    if let Some(c) = choose_coding(data, available, &DEFAULT_PREFERENCE) {
        assert!(available(c));
    }
    let _ = parse_date(data);
    let _ = if_range_allows(
        data,
        "\"1-2-3\"",
        std::time::SystemTime::UNIX_EPOCH,
    );
});
