//! `--cors [ORIGIN]`: Cross-Origin Resource Sharing for GET and HEAD.
//!
//! A request with an `Origin` the server allows gets
//! `Access-Control-Allow-Origin` (the origin itself with `Vary: Origin`,
//! or `*` when any origin is allowed) and the response fields a script may
//! read. A preflight (OPTIONS with `Access-Control-Request-Method`) gets the
//! allowed methods, the requested headers, and a max age.

use crate::request::RequestHead;
use crate::respond::Site;
use crate::response;

/// How long a browser may cache a preflight answer, in seconds.
pub const PREFLIGHT_MAX_AGE: &str = "86400";
/// Response fields scripts may read besides the safelisted ones.
const EXPOSED: &[u8] =
    b"Content-Length, Content-Range, Content-Encoding, ETag, Last-Modified, Accept-Ranges";

/// The value of Access-Control-Allow-Origin for this request, if any.
fn allowed<'a>(site: &'a Site, head: &'a RequestHead, raw: &'a [u8]) -> Option<&'a [u8]> {
    if site.cors.is_empty() {
        return None;
    }
    let origin = head.origin.get(raw)?;
    if site.cors.iter().any(|o| o == "*") {
        return Some(b"*");
    }
    site.cors
        .iter()
        .any(|o| o.as_bytes() == origin)
        .then_some(origin)
}

/// CORS fields for an actual (non-preflight) response.
pub fn response_fields(site: &Site, head: &RequestHead, raw: &[u8], out: &mut Vec<u8>) {
    if site.cors.is_empty() {
        return;
    }
    if let Some(origin) = allowed(site, head, raw) {
        response::field(out, "Access-Control-Allow-Origin", origin);
        response::field(out, "Access-Control-Expose-Headers", EXPOSED);
    }
    if !site.cors.iter().any(|o| o == "*") {
        response::field(out, "Vary", b"Origin");
    }
}

/// Preflight fields for an OPTIONS request that asks for them.
pub fn preflight_fields(site: &Site, head: &RequestHead, raw: &[u8], out: &mut Vec<u8>) {
    if head.cors_method.get(raw).is_none() || allowed(site, head, raw).is_none() {
        return;
    }
    response::field(out, "Access-Control-Allow-Methods", b"GET, HEAD, OPTIONS");
    if let Some(requested) = head.cors_headers.get(raw) {
        let valid = requested
            .iter()
            .all(|&b| crate::request::is_tchar(b) || b == b',' || b == b' ' || b == b'\t');
        if valid {
            response::field(out, "Access-Control-Allow-Headers", requested);
        }
    }
    response::field(out, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE.as_bytes());
}
