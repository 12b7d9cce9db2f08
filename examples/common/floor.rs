//! What the two floor servers share: the command line they take (only
//! henaserver's `--port` matters), finding a request's head, the answers,
//! and the send of a connection's last one.

pub const BODY: [u8; 1024] = [0; 1024];
const OK_HEAD: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\n";
const NOT_FOUND_HEAD: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nServer: floor\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n";
const NOT_FOUND_BODY: &[u8] = b"Not Found\n";

/// The largest answer, for sizing its buffer.
pub const LARGEST: usize = OK_HEAD.len() + "Connection: close\r\n\r\n".len() + BODY.len();

/// The port of henaserver's `--port`, 8080 without it.
pub fn port() -> u16 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(8080)
}

/// Where the first whole head in `buf` ends (its blank line left out).
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

/// The answer to one head, into `out`: 1 KB for `/1k.bin`, a 404 for
/// anything else, saying so when the connection closes after it, as a
/// server must (RFC 9112, 9.6). True when it closes.
pub fn answer(head: &[u8], out: &mut Vec<u8>) -> bool {
    let close = head
        .windows(17)
        .any(|w| w.eq_ignore_ascii_case(b"connection: close"));
    let found = head.starts_with(b"GET /1k.bin ");
    out.clear();
    out.extend_from_slice(if found { OK_HEAD } else { NOT_FOUND_HEAD });
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(if found { &BODY } else { NOT_FOUND_BODY });
    close
}

/// Sends a connection's last bytes, held back for the FIN that follows
/// (`MSG_MORE`), so both leave in one segment as henaserver's and nginx's
/// do.
#[cfg(target_os = "linux")]
pub fn send_last(socket: impl std::os::fd::AsFd, out: &[u8]) -> std::io::Result<usize> {
    use rustix::net::SendFlags;
    Ok(rustix::net::send(
        socket,
        out,
        SendFlags::MORE | SendFlags::NOSIGNAL,
    )?)
}
