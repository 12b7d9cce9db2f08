//! Conditional requests (RFC 9110 §13): validators compared as §8.8.3 says
//! and preconditions evaluated in the order of §13.2.2.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::exchange::{Name, Request};

/// What the preconditions of a request decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Go on and serve (or apply a range).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// One entity-tag from a field value: `"xyz"` or `W/"xyz"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The opaque tag, quotes included.
    opaque: &'a [u8],
}

fn parse_tag(s: &[u8]) -> Option<EntityTag<'_>> {
    let (weak, rest) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let ok = rest.len() >= 2
        && rest[0] == b'"'
        && rest[rest.len() - 1] == b'"'
        && rest[1..rest.len() - 1]
            .iter()
            .all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80);
    ok.then_some(EntityTag { weak, opaque: rest })
}

/// Strong comparison (§8.8.3.2): both strong, same opaque tag.
fn strong_eq(a: EntityTag, b: EntityTag) -> bool {
    !a.weak && !b.weak && a.opaque == b.opaque
}

/// Weak comparison: same opaque tag, weakness ignored.
fn weak_eq(a: EntityTag, b: EntityTag) -> bool {
    a.opaque == b.opaque
}

/// The entity-tags of a list, in order; commas inside quotes belong to the
/// tag. Stops at the first element that is not an entity-tag.
fn tags(mut s: &[u8]) -> impl Iterator<Item = EntityTag<'_>> {
    std::iter::from_fn(move || {
        while let [b' ' | b'\t' | b',', rest @ ..] = s {
            s = rest;
        }
        let start = usize::from(s.starts_with(b"W/")) * 2;
        if s.get(start) != Some(&b'"') {
            return None;
        }
        let close = s[start + 1..].iter().position(|&b| b == b'"')? + start + 1;
        let tag = parse_tag(&s[..=close]);
        s = &s[close + 1..];
        tag
    })
}

/// Whether a list of entity-tags (or `*`) matches `current`.
fn list_matches(value: &[u8], current: EntityTag, strong: bool) -> bool {
    let value = value.trim_ascii();
    if value == b"*" {
        return true;
    }
    tags(value).any(|tag| {
        if strong {
            strong_eq(tag, current)
        } else {
            weak_eq(tag, current)
        }
    })
}

/// An HTTP-date (any of the three forms of §5.6.7), or `None` when the
/// value is not exactly one valid date.
pub fn parse_date(value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(value).ok()?.trim();
    httpdate::parse_http_date(text).ok()
}

/// Whole seconds since the epoch: HTTP dates carry no finer precision.
fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Evaluates If-Match, If-Unmodified-Since, If-None-Match and
/// If-Modified-Since in the order of RFC 9110 §13.2.2, for a GET or HEAD
/// of a representation with validators `etag` and `modified`.
pub fn evaluate(req: &Request, etag: &str, modified: SystemTime) -> Precondition {
    let current = parse_tag(etag.as_bytes()).unwrap_or(EntityTag {
        weak: false,
        opaque: etag.as_bytes(),
    });
    // Step 1: If-Match, strong comparison.
    if let Some(v) = req.field(Name::IfMatch) {
        if !list_matches(v, current, true) {
            return Precondition::Failed;
        }
    } else if let Some(date) = req.field(Name::IfUnmodifiedSince).and_then(parse_date) {
        // Step 2: If-Unmodified-Since, only without If-Match.
        if seconds(modified) > seconds(date) {
            return Precondition::Failed;
        }
    }
    // Step 3: If-None-Match, weak comparison.
    if let Some(v) = req.field(Name::IfNoneMatch) {
        if list_matches(v, current, false) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = req.field(Name::IfModifiedSince).and_then(parse_date) {
        // Step 4: If-Modified-Since, only without If-None-Match.
        if seconds(modified) <= seconds(date) {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// Whether If-Range (§13.1.5) lets a Range apply: a strong entity-tag that
/// matches strongly, or a date equal to the last modification. Anything
/// else, a weak tag included, means the whole representation is sent.
pub fn if_range_allows(value: &[u8], etag: &str, modified: SystemTime) -> bool {
    let value = value.trim_ascii();
    if let Some(tag) = parse_tag(value) {
        return parse_tag(etag.as_bytes()).is_some_and(|current| strong_eq(tag, current));
    }
    parse_date(value).is_some_and(|date| seconds(date) == seconds(modified))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::FieldList;
    use std::time::Duration;

    const ETAG: &str = "\"abc-1\"";

    fn modified() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(500)
    }

    fn eval(fields: &str) -> Precondition {
        let fields = FieldList::parse(fields);
        evaluate(&Request::get(b"/", &fields), ETAG, modified())
    }

    fn date(offset: i64) -> String {
        let t = UNIX_EPOCH + Duration::from_secs((1_700_000_000 + offset) as u64);
        httpdate::fmt_http_date(t)
    }

    #[test]
    fn if_none_match() {
        use Precondition::*;
        assert_eq!(eval("If-None-Match: \"abc-1\"\r\n"), NotModified);
        assert_eq!(eval("If-None-Match: W/\"abc-1\"\r\n"), NotModified);
        assert_eq!(eval("If-None-Match: \"x\", \"abc-1\"\r\n"), NotModified);
        assert_eq!(
            eval("If-None-Match: \"x\"\r\nIf-None-Match: \"abc-1\"\r\n"),
            NotModified
        );
        assert_eq!(eval("If-None-Match: *\r\n"), NotModified);
        assert_eq!(eval("If-None-Match: \"x\"\r\n"), Proceed);
        assert_eq!(eval("If-None-Match: abc-1\r\n"), Proceed);
        assert_eq!(eval("If-None-Match: \"a,b\", \"abc-1\"\r\n"), NotModified);
        assert_eq!(eval("If-None-Match: \"abc-1\r\n"), Proceed);
    }

    #[test]
    fn if_match() {
        use Precondition::*;
        assert_eq!(eval("If-Match: \"abc-1\"\r\n"), Proceed);
        assert_eq!(eval("If-Match: *\r\n"), Proceed);
        assert_eq!(eval("If-Match: W/\"abc-1\"\r\n"), Failed);
        assert_eq!(eval("If-Match: \"nope\"\r\n"), Failed);
    }

    #[test]
    fn dates() {
        use Precondition::*;
        assert_eq!(
            eval(&format!("If-Modified-Since: {}\r\n", date(0))),
            NotModified
        );
        assert_eq!(
            eval(&format!("If-Modified-Since: {}\r\n", date(10))),
            NotModified
        );
        assert_eq!(
            eval(&format!("If-Modified-Since: {}\r\n", date(-1))),
            Proceed
        );
        assert_eq!(eval("If-Modified-Since: yesterday\r\n"), Proceed);
        assert_eq!(
            eval(&format!("If-Unmodified-Since: {}\r\n", date(0))),
            Proceed
        );
        assert_eq!(
            eval(&format!("If-Unmodified-Since: {}\r\n", date(-1))),
            Failed
        );
        assert_eq!(eval("If-Unmodified-Since: garbage\r\n"), Proceed);
        // The obsolete forms are dates too.
        assert_eq!(
            eval("If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT\r\n"),
            NotModified
        );
        assert_eq!(
            eval("If-Modified-Since: Tue Nov 14 22:13:20 2023\r\n"),
            NotModified
        );
    }

    #[test]
    fn precedence() {
        use Precondition::*;
        // If-None-Match makes If-Modified-Since ignored, both ways.
        let old = date(-100);
        assert_eq!(
            eval(&format!(
                "If-None-Match: \"x\"\r\nIf-Modified-Since: {}\r\n",
                date(10)
            )),
            Proceed
        );
        assert_eq!(
            eval(&format!(
                "If-None-Match: \"abc-1\"\r\nIf-Modified-Since: {old}\r\n"
            )),
            NotModified
        );
        // If-Match makes If-Unmodified-Since ignored.
        assert_eq!(
            eval(&format!(
                "If-Match: \"abc-1\"\r\nIf-Unmodified-Since: {old}\r\n"
            )),
            Proceed
        );
        // A failing If-Match wins over a matching If-None-Match.
        assert_eq!(
            eval("If-Match: \"no\"\r\nIf-None-Match: \"abc-1\"\r\n"),
            Failed
        );
    }

    #[test]
    fn if_range() {
        assert!(if_range_allows(b"\"abc-1\"", ETAG, modified()));
        assert!(!if_range_allows(b"W/\"abc-1\"", ETAG, modified()));
        assert!(!if_range_allows(b"\"other\"", ETAG, modified()));
        assert!(if_range_allows(date(0).as_bytes(), ETAG, modified()));
        assert!(!if_range_allows(date(1).as_bytes(), ETAG, modified()));
        assert!(!if_range_allows(b"soon", ETAG, modified()));
    }
}
