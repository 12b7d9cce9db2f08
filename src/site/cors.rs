//! `--cors [ORIGIN]`: Cross-Origin Resource Sharing for GET and HEAD.
//!
//! A request with an `Origin` the server allows gets
//! `Access-Control-Allow-Origin` (the origin itself with `Vary: Origin`,
//! or `*` when any origin is allowed) and the response fields a script may
//! read. A preflight (OPTIONS with `Access-Control-Request-Method`) gets the
//! allowed methods, the requested headers, and a max age.

use crate::exchange::{is_tchar, Name, Plan, Request, Text};

/// How long a browser may cache a preflight's answer, in seconds.
pub const PREFLIGHT_MAX_AGE: &str = "86400";
/// Response fields a cross-origin script may read.
const EXPOSED: &str =
    "Content-Length, Content-Range, Content-Encoding, ETag, Last-Modified, Accept-Ranges";

/// The Access-Control-Allow-Origin value for this request, if allowed.
fn allowed<'a>(cors: &[String], req: &Request<'a>) -> Option<&'a [u8]> {
    if cors.is_empty() {
        return None;
    }
    let origin = req.fields.get(Name::Origin)?;
    if cors.iter().any(|o| o == "*") {
        return Some(b"*");
    }
    cors.iter()
        .any(|o| o.as_bytes() == origin)
        .then_some(origin)
}

fn text(value: &[u8]) -> Text {
    Text::from(String::from_utf8_lossy(value).into_owned())
}

/// Adds the CORS fields of an ordinary response.
pub fn response_fields(cors: &[String], req: &Request, plan: &mut Plan) {
    if cors.is_empty() {
        return;
    }
    if let Some(origin) = allowed(cors, req) {
        let origin = if origin == b"*" {
            Text::Static("*")
        } else {
            text(origin)
        };
        plan.field("Access-Control-Allow-Origin", origin);
        plan.field("Access-Control-Expose-Headers", EXPOSED);
    }
    if !cors.iter().any(|o| o == "*") {
        plan.field("Vary", "Origin");
    }
}

/// Adds the fields of a preflight's answer (RFC 9110 has none; the Fetch
/// standard defines them).
pub fn preflight_fields(cors: &[String], req: &Request, plan: &mut Plan) {
    if req.field(Name::CorsMethod).is_none() || allowed(cors, req).is_none() {
        return;
    }
    plan.field("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    if let Some(requested) = req.field(Name::CorsHeaders) {
        let valid = requested
            .iter()
            .all(|&b| is_tchar(b) || b == b',' || b == b' ' || b == b'\t');
        if valid {
            plan.field("Access-Control-Allow-Headers", text(requested));
        }
    }
    plan.field("Access-Control-Max-Age", PREFLIGHT_MAX_AGE);
}
