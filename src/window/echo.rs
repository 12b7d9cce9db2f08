//! `--echo`: every request, as received, sent back as a text/plain body.

use bytes::Bytes;

use crate::exchange::{Plan, Request};

/// The plan that echoes `req`: its head as received, then its body.
pub fn plan(req: &Request) -> Plan {
    let mut echoed = Vec::with_capacity(req.raw.len() + req.body.len());
    echoed.extend_from_slice(req.raw);
    echoed.extend_from_slice(req.body);
    let mut plan = Plan::new(200);
    plan.field("Content-Type", "text/plain; charset=utf-8");
    plan.field("X-Content-Type-Options", "nosniff");
    plan.with_bytes(Bytes::from(echoed), req.head_only())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Method;

    fn request<'a>(method: Method, raw: &'a [u8], body: &'a [u8]) -> Request<'a> {
        Request {
            method,
            path: b"/",
            query: None,
            authority: None,
            peer: "127.0.0.1:1".parse().unwrap(),
            secure: false,
            server_name: None,
            fields: &(),
            raw,
            body,
        }
    }

    #[test]
    fn echoes_head_and_body() {
        let plan = plan(&request(Method::Get, b"POST / HTTP/1.1\r\n\r\n", b"hi"));
        assert_eq!(plan.status, 200);
        assert_eq!(plan.content_length, Some(21));
        match plan.body {
            crate::exchange::Body::Bytes(b) => assert_eq!(&b[..], b"POST / HTTP/1.1\r\n\r\nhi"),
            other => panic!("{other:?}"),
        }
        let head = super::plan(&request(Method::Head, b"HEAD / HTTP/1.1\r\n\r\n", b""));
        assert_eq!(head.content_length, Some(19));
        assert!(head.body.is_empty());
    }
}
