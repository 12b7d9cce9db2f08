//! Response heads: the status line, the fields every response carries
//! (RFC 9110 §6.6.1 Date, §10.2.4 Server), and the short HTML bodies of
//! error responses.
//!
//! Heads are written straight into the connection's output buffer; the
//! Date value is formatted once per second per worker thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// The value of the Server field.
pub const SERVER: &str = "henaserver";

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

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

/// Appends a status line and the Date and Server fields.
pub fn start(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    let mut code = itoa::Buffer::new();
    out.extend_from_slice(code.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    push_date(out);
    out.extend_from_slice(b"\r\nServer: henaserver\r\n");
}

/// Appends one field line.
pub fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `Content-Length`.
pub fn content_length(out: &mut Vec<u8>, n: u64) {
    let mut digits = itoa::Buffer::new();
    field(out, "Content-Length", digits.format(n).as_bytes());
}

/// Appends the Connection field and the empty line that ends the head.
pub fn finish(out: &mut Vec<u8>, keep_alive: bool) {
    out.extend_from_slice(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    });
}

macro_rules! page {
    ($title:literal, $text:literal) => {
        concat!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>",
            $title,
            "</title></head>\n<body><h1>",
            $title,
            "</h1><p>",
            $text,
            "</p><hr><address>henaserver</address></body></html>\n"
        )
    };
}

/// The HTML body of an error response.
pub fn error_page(status: u16) -> &'static str {
    match status {
        301 => page!("301 Moved Permanently", "The document has moved."),
        400 => page!(
            "400 Bad Request",
            "The server could not understand the request."
        ),
        403 => page!(
            "403 Forbidden",
            "You don't have permission to access this resource."
        ),
        404 => page!(
            "404 Not Found",
            "The requested URL was not found on this server."
        ),
        405 => page!(
            "405 Method Not Allowed",
            "The method is not allowed for this resource."
        ),
        408 => page!("408 Request Timeout", "The request did not arrive in time."),
        412 => page!(
            "412 Precondition Failed",
            "A precondition of the request failed."
        ),
        413 => page!(
            "413 Content Too Large",
            "The request body is larger than the server accepts."
        ),
        414 => page!(
            "414 URI Too Long",
            "The request line is longer than the server accepts."
        ),
        416 => page!(
            "416 Range Not Satisfiable",
            "The requested range is not satisfiable."
        ),
        417 => page!(
            "417 Expectation Failed",
            "The server cannot meet the request's expectation."
        ),
        431 => page!(
            "431 Request Header Fields Too Large",
            "The request's header fields are larger than the server accepts."
        ),
        501 => page!(
            "501 Not Implemented",
            "The server does not implement this method."
        ),
        505 => page!(
            "505 HTTP Version Not Supported",
            "The server speaks HTTP/1.0 and HTTP/1.1."
        ),
        _ => page!(
            "500 Internal Server Error",
            "The server could not complete the request."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_layout() {
        let mut out = Vec::new();
        start(&mut out, 404);
        content_length(&mut out, 12);
        finish(&mut out, false);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\nDate: "));
        assert!(s.contains(" GMT\r\nServer: henaserver\r\nContent-Length: 12\r\n"));
        assert!(s.ends_with("Connection: close\r\n\r\n"));
        let date = &s[s.find("Date: ").unwrap() + 6..s.find(" GMT").unwrap() + 4];
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }

    #[test]
    fn error_pages_name_their_status() {
        for status in [400, 403, 404, 405, 408, 413, 414, 417, 431, 500, 501, 505] {
            let page = error_page(status);
            assert!(page.contains(&status.to_string()), "{status}");
            assert!(page.contains(reason(status)), "{status}");
        }
    }
}
