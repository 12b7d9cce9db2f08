//! The one request henaserver sends as a client: `henaserver health`.

/// A GET of `path` from `authority` that asks the server to close after
/// answering.
pub fn get(authority: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// The status of a response whose head begins `answer`, when it is
/// HTTP/1.x.
pub fn status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\r' || b == b'\n').next()?;
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let code = rest.get(2..5)?;
    (rest.get(1) == Some(&b' ')).then_some(())?;
    std::str::from_utf8(code).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status(b"HTTP/1.1 200 OK\r\n\r\n"), Some(200));
        assert_eq!(status(b"HTTP/1.0 503 Service Unavailable\r\n"), Some(503));
        assert_eq!(status(b"HTTP/2 200\r\n"), None);
        assert_eq!(status(b""), None);
    }
}
