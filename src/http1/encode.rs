//! HTTP/1.1 response heads (RFC 9112 §4, §5): the status line, the fields
//! every response carries (RFC 9110 §6.6.1 Date, §10.2.4 Server), the
//! plan's fields, the framing and the Connection field.
//!
//! Heads are written straight into the connection's output buffer; the
//! Date value is formatted once per second per worker thread.

use std::cell::RefCell;

use crate::exchange::{Plan, SharedFields};
use crate::wire::{push_date, reason};

/// A shared block of fields and its HTTP/1 encoding.
type Encoded = (SharedFields, Box<[u8]>);

/// Encoded shared field blocks each worker keeps.
const ENCODED_BLOCKS: usize = 256;

thread_local! {
    /// Shared field blocks and their HTTP/1 encoding, by the block's
    /// address. Each entry holds the block itself, so the address cannot
    /// be reused by another block while the entry lives. Hashed with
    /// FxHash: an address is no key a client can choose.
    static ENCODED: RefCell<rustc_hash::FxHashMap<usize, Encoded>> =
        RefCell::new(rustc_hash::FxHashMap::default());
}

/// Appends one field line.
pub fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends the encoding of a shared block of fields, made once per block
/// and worker.
fn push_shared(out: &mut Vec<u8>, shared: &SharedFields) {
    let key = std::sync::Arc::as_ptr(shared) as *const u8 as usize;
    ENCODED.with(|cell| {
        let mut encoded = cell.borrow_mut();
        if let Some((_, bytes)) = encoded.get(&key) {
            out.extend_from_slice(bytes);
            return;
        }
        let mut bytes = Vec::with_capacity(160);
        for (name, value) in shared.iter() {
            field(&mut bytes, name, value.as_bytes());
        }
        out.extend_from_slice(&bytes);
        if encoded.len() >= ENCODED_BLOCKS {
            // Blocks of files that changed or went cold go with the rest.
            encoded.clear();
        }
        encoded.insert(key, (shared.clone(), bytes.into_boxed_slice()));
    });
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
    if let Some(shared) = &plan.shared {
        push_shared(out, shared);
    }
    for (name, value) in &plan.fields {
        field(out, name, value.as_bytes());
    }
    if let Some(n) = plan.content_length {
        field(out, "Content-Length", digits.format(n).as_bytes());
    } else if matches!(plan.body, crate::exchange::Body::Events(_)) {
        field(out, "Transfer-Encoding", b"chunked");
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
    fn shared_fields_come_first_and_encode_the_same_every_time() {
        use crate::exchange::Text;
        let shared: SharedFields = std::sync::Arc::new([
            (Text::Static("Content-Type"), Text::Static("text/plain")),
            (Text::Static("ETag"), Text::from(String::from("\"1\""))),
        ]);
        let mut plan = Plan::new(200);
        plan.shared = Some(shared.clone());
        plan.field("Vary", "Accept-Encoding");
        plan.content_length = Some(1);
        let heads: Vec<String> = (0..2)
            .map(|_| {
                let mut out = Vec::new();
                head(&mut out, &plan, true);
                String::from_utf8(out).unwrap()
            })
            .collect();
        for h in &heads {
            let fields = h.split_once("Server: henaserver\r\n").unwrap().1;
            assert_eq!(
                fields,
                "Content-Type: text/plain\r\nETag: \"1\"\r\nVary: Accept-Encoding\r\n\
                 Content-Length: 1\r\nConnection: keep-alive\r\n\r\n"
            );
        }
        // Another block, even at a reused address, is encoded anew.
        drop(plan);
        let other: SharedFields =
            std::sync::Arc::new([(Text::Static("ETag"), Text::from(String::from("\"2\"")))]);
        let mut out = Vec::new();
        push_shared(&mut out, &other);
        assert_eq!(out, b"ETag: \"2\"\r\n");
        drop(shared);
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
