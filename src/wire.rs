//! What every protocol writes alike: the Date field's value, formatted
//! once per second per worker thread, and the reason phrases of status
//! codes.

use std::cell::RefCell;
use std::time::{Duration, UNIX_EPOCH};

struct DateCache {
    second: u64,
    value: [u8; 29],
}

thread_local! {
    static DATE: RefCell<DateCache> = const { RefCell::new(DateCache { second: u64::MAX, value: [0; 29] }) };
}

/// Appends the current time in IMF-fixdate form (RFC 9110 §5.6.7).
pub fn push_date(out: &mut Vec<u8>) {
    let second = crate::platform::clock::wall_seconds();
    DATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.second != second {
            let s = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(second));
            if s.len() == 29 {
                cache.value.copy_from_slice(s.as_bytes());
            }
            cache.second = second;
        }
        out.extend_from_slice(&cache.value);
    });
}

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
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
        421 => "Misdirected Request",
        425 => "Too Early",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
