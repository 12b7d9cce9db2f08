//! Accept-Encoding negotiation and the validator comparisons: no input
//! panics, and a coding is only chosen when it is available.
#![no_main]

use henaserver::encoding::{self, Coding, DEFAULT_PREFERENCE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let available = |c: Coding| c != Coding::Zstd;
    if let Some(c) = encoding::choose(data, available, &DEFAULT_PREFERENCE) {
        assert!(available(c));
    }
    let _ = henaserver::conditional::parse_date(data);
    let _ = henaserver::conditional::if_range_allows(
        data,
        "\"1-2-3\"",
        std::time::SystemTime::UNIX_EPOCH,
    );
});
