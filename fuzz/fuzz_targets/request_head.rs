//! The request-head parser and the framing decision: no input panics, every
//! span stays inside the head, and a chunked body decoder fed the rest
//! never consumes more than it is given.
#![no_main]

use henaserver::internals::{leading_empty_lines, parse_head, valid_authority, ChunkedDrain, Framing};
use henaserver::Limits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let skip = leading_empty_lines(data);
    let buf = &data[skip..];
    if let Ok(Some(head)) = parse_head(buf, &limits) {
        assert!(head.len <= buf.len());
        let raw = &buf[..head.len];
        let _ = head.line.of(raw);
        let _ = head.path.of(raw);
        if let Some(q) = head.query {
            let _ = q.of(raw);
        }
        if let Some(a) = head.authority {
            assert!(valid_authority(a.of(raw)));
        }
        for field in [&head.range, &head.if_none_match, &head.accept_encoding] {
            let _ = field.get(raw);
        }
        if head.framing == Framing::Chunked {
            let body = &buf[head.len..];
            let mut drain = ChunkedDrain::default();
            if let Ok((used, _)) = drain.drain(body, limits.max_body, limits.max_header_bytes) {
                assert!(used <= body.len());
            }
        }
    }
});
