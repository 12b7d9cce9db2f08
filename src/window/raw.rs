//! `henaserver raw ADDR [FILE]`: a client that sends bytes exactly as
//! given and prints the raw response, to see (and save) what a server
//! really answers.
//!
//! Lone LF line endings in the request head become CRLF unless `binary`
//! is set; the body is sent as it is. Reading ends when the server closes,
//! or when the first final response is complete (by Content-Length, by
//! its last chunk, or at once for a response without a body).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Turns lone LF into CRLF in the head (up to the first empty line).
pub fn crlf_head(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 32);
    let mut rest = input;
    while !rest.is_empty() {
        let (line, after) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => {
                out.extend_from_slice(rest);
                return out;
            }
        };
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
        rest = after;
        if text.is_empty() {
            break;
        }
    }
    out.extend_from_slice(rest);
    out
}

/// Resolves `ADDR`: `host:port`, `[v6]:port`, or an `http://` URL.
pub fn resolve(addr: &str) -> io::Result<SocketAddr> {
    let authority = addr
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
        .unwrap_or(addr);
    let with_port = if authority.rsplit_once(':').is_some_and(|(h, p)| {
        !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':')
    }) {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    with_port
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address")))
}

/// How far into a response stream the first final response ends, if it
/// has ended: `Some(n)` with the bytes up to its end.
fn complete(data: &[u8], head_request: bool) -> Option<usize> {
    let mut start = 0;
    loop {
        let rest = &data[start..];
        let mut fields = [httparse::EMPTY_HEADER; 100];
        let mut response = httparse::Response::new(&mut fields);
        let head_len = match response.parse(rest) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return None,
        };
        let status = response.code?;
        if (100..200).contains(&status) && status != 101 {
            start += head_len;
            continue;
        }
        let body = &rest[head_len..];
        if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
            return Some(start + head_len);
        }
        let field = |name: &str| {
            response
                .headers
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .and_then(|f| std::str::from_utf8(f.value).ok())
        };
        if field("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            return chunked_end(body).map(|n| start + head_len + n);
        }
        let len: usize = field("content-length")?.trim().parse().ok()?;
        return (body.len() >= len).then_some(start + head_len + len);
    }
}

/// The length of a complete chunked body at the start of `body`.
fn chunked_end(body: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let line_end = at + body[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[at..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let end = at + body[at..].windows(2).position(|w| w == b"\r\n")?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Some(at);
                }
            }
        }
        at += size + 2;
        if at > body.len() {
            return None;
        }
    }
}

/// Sends `request` to `addr` and returns the raw response bytes.
pub fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    let head_request = request.starts_with(b"HEAD ");
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = complete(&data, head_request) {
            data.truncate(end);
            return Ok(data);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(data),
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                if data.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no answer before the timeout",
                    ));
                }
                return Ok(data);
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !data.is_empty() => {
                return Ok(data)
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_get_crlf() {
        assert_eq!(
            crlf_head(b"GET / HTTP/1.1\nHost: x\n\nbody\nline"),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\nline"
        );
        assert_eq!(
            crlf_head(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        assert_eq!(crlf_head(b"GET / HTTP/1.1"), b"GET / HTTP/1.1");
    }

    #[test]
    fn responses_complete() {
        assert_eq!(
            complete(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi+more",
                false
            ),
            Some(40)
        );
        assert_eq!(
            complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", false),
            None
        );
        assert_eq!(
            complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
            Some(38)
        );
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(complete(interim, false), Some(interim.len()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
        assert_eq!(complete(chunked, false), Some(chunked.len()));
        assert_eq!(complete(&chunked[..chunked.len() - 2], false), None);
        assert_eq!(complete(b"HTTP/1.0 200 OK\r\n\r\nuntil close", false), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(
            resolve("127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            resolve("http://127.0.0.1:9/x").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert_eq!(resolve("[::1]:81").unwrap(), "[::1]:81".parse().unwrap());
        assert_eq!(resolve("127.0.0.1").unwrap().port(), 80);
    }
}
