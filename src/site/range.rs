//! Byte ranges (RFC 9110 §14): parsing `Range: bytes=...` against a
//! representation's length, and the multipart/byteranges framing.

use std::hash::{BuildHasher, Hasher};
use std::ops::Range;

/// What a Range field asks of a representation of a given length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range (absent, malformed, another unit, too many ranges,
    /// or ranges that together exceed the representation): send it whole.
    Whole,
    /// These byte ranges, each non-empty and within the representation,
    /// in the order to send them.
    Satisfiable(Vec<Range<u64>>),
    /// Well-formed, but no range overlaps the representation: 416.
    Unsatisfiable,
}

fn number(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// One range-spec; `Ok(None)` for a valid spec that misses the
/// representation, `Err(())` for a malformed one.
fn spec(s: &[u8], len: u64) -> Result<Option<Range<u64>>, ()> {
    let dash = s.iter().position(|&b| b == b'-').ok_or(())?;
    let (first, last) = (&s[..dash], &s[dash + 1..]);
    if first.is_empty() {
        // suffix-range: the last N bytes.
        let n = number(last).ok_or(())?;
        if n == 0 || len == 0 {
            return Ok(None);
        }
        return Ok(Some(len - n.min(len)..len));
    }
    let first = number(first).ok_or(())?;
    let end = if last.is_empty() {
        len
    } else {
        let last = number(last).ok_or(())?;
        if last < first {
            return Err(());
        }
        last.saturating_add(1).min(len)
    };
    Ok((first < len).then_some(first..end))
}

/// Parses a Range field value for a representation of `len` bytes.
pub fn parse(value: &[u8], len: u64, max_ranges: usize) -> Ranges {
    let value = value.trim_ascii();
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return Ranges::Whole;
    };
    if !value[..eq].trim_ascii().eq_ignore_ascii_case(b"bytes") {
        return Ranges::Whole;
    }
    let mut ranges = Vec::new();
    let mut specs = 0;
    for part in value[eq + 1..].split(|&b| b == b',') {
        let part = part.trim_ascii();
        if part.is_empty() {
            continue;
        }
        specs += 1;
        if specs > max_ranges {
            return Ranges::Whole;
        }
        match spec(part, len) {
            Ok(Some(r)) => ranges.push(r),
            Ok(None) => {}
            Err(()) => return Ranges::Whole,
        }
    }
    if specs == 0 {
        return Ranges::Whole;
    }
    if ranges.is_empty() {
        return Ranges::Unsatisfiable;
    }
    // Several ranges that together ask for more than the file (overlaps
    // counted each time) get the file once rather than an amplified answer.
    let asked: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    if ranges.len() > 1 && asked > len {
        return Ranges::Whole;
    }
    coalesce(&mut ranges);
    Ranges::Satisfiable(ranges)
}

/// Merges ranges that overlap or touch (RFC 9110 §14.2 allows it). Ranges
/// that are already apart keep the order the client asked for.
fn coalesce(ranges: &mut Vec<Range<u64>>) {
    if ranges.len() < 2 {
        return;
    }
    let mut sorted = ranges.clone();
    sorted.sort_by_key(|r| r.start);
    let touching = sorted.windows(2).any(|w| w[1].start <= w[0].end);
    if !touching {
        return;
    }
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(sorted.len());
    for r in sorted {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    *ranges = merged;
}

/// `bytes a-b/len` for a Content-Range field.
pub fn content_range(r: &Range<u64>, len: u64) -> String {
    format!("bytes {}-{}/{}", r.start, r.end - 1, len)
}

/// A boundary for a multipart/byteranges body: random, so that it cannot
/// be predicted or planted in a file.
pub fn boundary() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    let a = h.finish();
    h.write_u64(a);
    format!("henaserver-{:016x}{:016x}", a, h.finish())
}

/// The part head that precedes range `r` in a multipart/byteranges body.
pub fn part_head(boundary: &str, content_type: &str, r: &Range<u64>, len: u64) -> String {
    format!(
        "\r\n--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
        content_range(r, len)
    )
}

/// The line that ends a multipart/byteranges body.
pub fn closing(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEFAULT_MAX_RANGES: usize = 16;

    fn p(v: &str, len: u64) -> Ranges {
        parse(v.as_bytes(), len, DEFAULT_MAX_RANGES)
    }

    fn sat(v: &[(u64, u64)]) -> Ranges {
        Ranges::Satisfiable(v.iter().map(|&(a, b)| a..b).collect())
    }

    #[test]
    fn forms() {
        assert_eq!(p("bytes=0-499", 1000), sat(&[(0, 500)]));
        assert_eq!(p("bytes=500-", 1000), sat(&[(500, 1000)]));
        assert_eq!(p("bytes=-500", 1000), sat(&[(500, 1000)]));
        assert_eq!(p("bytes=-5000", 1000), sat(&[(0, 1000)]));
        assert_eq!(p("bytes=900-5000", 1000), sat(&[(900, 1000)]));
        assert_eq!(p("BYTES = 0-0", 1000), sat(&[(0, 1)]));
        assert_eq!(p("bytes=999-999", 1000), sat(&[(999, 1000)]));
    }

    #[test]
    fn several() {
        assert_eq!(p("bytes=0-9, 20-29", 1000), sat(&[(0, 10), (20, 30)]));
        assert_eq!(p("bytes=20-29,0-9", 1000), sat(&[(20, 30), (0, 10)]));
        assert_eq!(p("bytes=0-9,5-19", 1000), sat(&[(0, 20)]));
        assert_eq!(p("bytes=0-9,10-19", 1000), sat(&[(0, 20)]));
        assert_eq!(p("bytes=0-9,2000-3000", 1000), sat(&[(0, 10)]));
        // Together more than the file: the whole file, once.
        assert_eq!(p("bytes=0-,0-", 1000), Ranges::Whole);
        assert_eq!(p("bytes=0-499,500-999,0-0", 1000), Ranges::Whole);
        assert_eq!(p("bytes=0-600,-600", 1000), Ranges::Whole);
        assert_eq!(p("bytes=0-499,500-999", 1000), sat(&[(0, 1000)]));
        assert_eq!(
            p("bytes=0-1,3-4,6-7", 8),
            Ranges::Satisfiable(vec![0..2, 3..5, 6..8])
        );
        assert_eq!(p("bytes=0-3,5-7,0-0,4-4", 8), Ranges::Whole);
        assert_eq!(p("bytes=0-3,5-7,4-4", 8), sat(&[(0, 8)]));
        let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
        assert_eq!(p(&format!("bytes={}", many.join(",")), 1000), Ranges::Whole);
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(p("bytes=1000-", 1000), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=1000-2000", 1000), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-0", 1000), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=0-", 0), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-1", 0), Ranges::Unsatisfiable);
    }

    #[test]
    fn ignored() {
        for v in [
            "bytes=5-1",
            "bytes=abc",
            "bytes=1-2-3",
            "bytes=-",
            "bytes=",
            "items=0-1",
            "bytes 0-1",
            "bytes=0x1-2",
            "bytes=+1-2",
            "bytes=99999999999999999999-",
            "",
        ] {
            assert_eq!(p(v, 1000), Ranges::Whole, "{v}");
        }
    }

    #[test]
    fn multipart_pieces() {
        let b = boundary();
        assert!(b.len() > 20);
        assert_ne!(b, boundary());
        assert_eq!(content_range(&(0..10), 100), "bytes 0-9/100");
        let head = part_head(&b, "text/plain", &(5..10), 100);
        assert!(head.starts_with(&format!("\r\n--{b}\r\n")));
        assert!(head.ends_with("Content-Range: bytes 5-9/100\r\n\r\n"));
    }

    proptest! {
        #[test]
        fn ranges_stay_inside(value in "(bytes|BYTES|x)=([0-9]{0,4}-?[0-9]{0,4},?){0,5}", len in 0u64..3000) {
            if let Ranges::Satisfiable(ranges) = parse(value.as_bytes(), len, DEFAULT_MAX_RANGES) {
                prop_assert!(!ranges.is_empty());
                for r in ranges {
                    prop_assert!(r.start < r.end && r.end <= len, "{:?} of {}", r, len);
                }
            }
        }
    }
}
