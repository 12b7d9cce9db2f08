//! HTTP/1.1 response heads (RFC 9112 §4, §5): the status line, the fields
//! every response carries (RFC 9110 §6.6.1 Date, §10.2.4 Server), the
//! plan's fields, the framing and the Connection field.
//!
//! Heads are written straight into the connection's output buffer; the
//! Date value is formatted once per second per worker thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::exchange::Plan;
use crate::site::pages::reason;

struct DateCache {
    second: u64,
    value: [u8; 29],
}

thread_local! {
    static DATE: RefCell<DateCache> = const { RefCell::new(DateCache { second: u64::MAX, value: [0; 29] }) };
}

/// Appends the current time in IMF-fixdate form (RFC 9110 §5.6.7).
pub fn push_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.second != second {
            let s = httpdate::fmt_http_date(now);
            if s.len() == 29 {
                cache.value.copy_from_slice(s.as_bytes());
            }
            cache.second = second;
        }
        out.extend_from_slice(&cache.value);
    });
}

/// Appends one field line.
pub fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends the head of `plan`: status line, Date and Server (unless the
/// plan is bare), its fields, Content-Length, and Connection.
pub fn head(out: &mut Vec<u8>, plan: &Plan, keep_alive: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut digits = itoa::Buffer::new();
    out.extend_from_slice(digits.format(plan.status).as_bytes());
    out.push(b' ');
    let phrase = plan.reason.as_deref().unwrap_or(reason(plan.status));
    out.extend_from_slice(phrase.as_bytes());
    if plan.bare {
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(b"\r\nDate: ");
        push_date(out);
        out.extend_from_slice(b"\r\nServer: henaserver\r\n");
    }
    for (name, value) in &plan.fields {
        field(out, name, value.as_bytes());
    }
    if let Some(n) = plan.content_length {
        field(out, "Content-Length", digits.format(n).as_bytes());
    }
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_layout() {
        let mut out = Vec::new();
        let mut plan = Plan::new(404);
        plan.field("Content-Type", "text/plain");
        plan.content_length = Some(12);
        head(&mut out, &plan, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\nDate: "));
        assert!(s.contains(
            " GMT\r\nServer: henaserver\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
        ));
        assert!(s.ends_with("Connection: close\r\n\r\n"));
        let date = &s[s.find("Date: ").unwrap() + 6..s.find(" GMT").unwrap() + 4];
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }

    #[test]
    fn bare_heads_keep_their_reason_and_add_nothing() {
        let mut out = Vec::new();
        let plan = Plan {
            reason: Some("Teapot Here".into()),
            bare: true,
            ..Plan::new(418)
        };
        head(&mut out, &plan, true);
        assert_eq!(
            out,
            b"HTTP/1.1 418 Teapot Here\r\nConnection: keep-alive\r\n\r\n"
        );
    }
}
