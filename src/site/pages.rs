//! The short HTML pages of error and redirect responses.

use bytes::Bytes;

use crate::exchange::Plan;

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

/// The built-in page for `status`, as a plan (without the fields a site
/// adds).
pub fn error_plan(status: u16, head_only: bool) -> Plan {
    let mut plan = Plan::new(status);
    plan.field("Content-Type", "text/html; charset=utf-8");
    plan.with_bytes(Bytes::from_static(error_page(status).as_bytes()), head_only)
}

/// The HTML body of an error response.
pub fn error_page(status: u16) -> &'static str {
    match status {
        301 => page!("301 Moved Permanently", "The document has moved."),
        302 => page!("302 Found", "The document is elsewhere for now."),
        307 => page!(
            "307 Temporary Redirect",
            "The document is elsewhere for now."
        ),
        308 => page!(
            "308 Permanent Redirect",
            "The document has moved permanently."
        ),
        400 => page!(
            "400 Bad Request",
            "The server could not understand the request."
        ),
        401 => page!(
            "401 Unauthorized",
            "This resource needs a user name and password."
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
        425 => page!(
            "425 Too Early",
            "The request came in early data that could be replayed: send it again."
        ),
        421 => page!(
            "421 Misdirected Request",
            "This server has no site for that host on this connection."
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
        429 => page!(
            "429 Too Many Requests",
            "This client has sent more requests than the server takes: try again later."
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
    fn error_pages_name_their_status() {
        for status in [
            400, 403, 404, 405, 408, 413, 414, 417, 425, 429, 431, 500, 501, 505,
        ] {
            let page = error_page(status);
            assert!(page.contains(&status.to_string()), "{status}");
            assert!(page.contains(crate::wire::reason(status)), "{status}");
        }
    }
}
