//! `--reply FILE`: answer every request with one raw HTTP response kept in
//! a file, as HenaServer's second chapter did with `server_send.txt`.
//!
//! The file is read and checked at start: it must begin with an HTTP/1.x
//! response head. Lone LF line endings (files saved by editors) become
//! CRLF; a chunked body is decoded; a missing or wrong Content-Length is
//! corrected, with a warning. The file's Connection field is replaced by
//! the server's own, so keep-alive follows the usual rules.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;

use crate::exchange::{Plan, Text};

/// A response ready to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyFile {
    /// The status code.
    pub status: u16,
    /// The reason phrase of the file's status line.
    pub reason: Box<str>,
    /// The file's header fields, in order, without Content-Length,
    /// Transfer-Encoding and Connection.
    pub fields: Vec<(Text, Text)>,
    /// The body.
    pub body: Bytes,
}

/// A reply file that is read again when it changes on disk: edit the file
/// and the next request gets the new response. A change that does not
/// parse is logged and the last good response kept.
#[derive(Debug)]
pub struct ReplySource {
    path: PathBuf,
    state: Mutex<(Option<Version>, Arc<ReplyFile>)>,
}

impl PartialEq for ReplySource {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
    }
}

impl Eq for ReplySource {}

/// What tells one version of the reply file from another.
type Version = (SystemTime, u64);

fn version(path: &Path) -> Option<Version> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl ReplySource {
    /// Loads `path`, which must hold a valid response.
    pub fn load(path: &Path) -> Result<ReplySource, String> {
        let seen = version(path);
        let file = ReplyFile::load(path)?;
        Ok(ReplySource {
            path: path.to_path_buf(),
            state: Mutex::new((seen, Arc::new(file))),
        })
    }

    /// The response to send now, read again if the file changed.
    pub fn current(&self) -> Arc<ReplyFile> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = version(&self.path);
        if now.is_some() && now != state.0 {
            state.0 = now;
            match ReplyFile::load(&self.path) {
                Ok(fresh) => {
                    tracing::info!(file = %self.path.display(), "reply file changed; serving the new response");
                    state.1 = Arc::new(fresh);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reply file changed but cannot be used; keeping the last good one")
                }
            }
        }
        state.1.clone()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body; `None` if it is not well-formed.
fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = find(body, b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if body.len() < size + 2 || &body[size..size + 2] != b"\r\n" {
            return None;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

impl ReplyFile {
    /// Reads and checks `path`; warnings (corrections) are logged.
    pub fn load(path: &Path) -> Result<ReplyFile, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Checks and normalizes a raw response.
    pub fn parse(bytes: &[u8]) -> Result<ReplyFile, String> {
        let (head, body) = match (find(bytes, b"\r\n\r\n"), find(bytes, b"\n\n")) {
            (Some(crlf), Some(lf)) if lf < crlf => (&bytes[..lf + 1], &bytes[lf + 2..]),
            (Some(crlf), _) => (&bytes[..crlf + 2], &bytes[crlf + 4..]),
            (None, Some(lf)) => (&bytes[..lf + 1], &bytes[lf + 2..]),
            (None, None) => (bytes, &b""[..]),
        };
        // Lone LF becomes CRLF in the head.
        let mut crlf_head = Vec::with_capacity(head.len() + 16);
        for line in head.split_inclusive(|&b| b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            crlf_head.extend_from_slice(text);
            crlf_head.extend_from_slice(b"\r\n");
        }
        let mut with_end = crlf_head.clone();
        with_end.extend_from_slice(b"\r\n");
        let mut fields = [httparse::EMPTY_HEADER; 100];
        let mut parsed = httparse::Response::new(&mut fields);
        match parsed.parse(&with_end) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err("the response head is incomplete".into()),
            Err(e) => return Err(format!("not an HTTP/1.x response head ({e})")),
        }
        let status = parsed.code.ok_or("no status code")?;
        let mut chunked = false;
        let mut declared: Option<usize> = None;
        let reason: Box<str> = parsed.reason.unwrap_or("").into();
        let mut kept = Vec::with_capacity(parsed.headers.len());
        for f in parsed.headers.iter() {
            let name = f.name;
            if name.eq_ignore_ascii_case("content-length") {
                declared = std::str::from_utf8(f.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            } else if !name.eq_ignore_ascii_case("connection") {
                let value = String::from_utf8_lossy(f.value).into_owned();
                kept.push((Text::from(name.to_string()), Text::from(value)));
            }
        }
        let body = if chunked {
            dechunk(body).ok_or("the chunked body is not well-formed")?
        } else {
            body.to_vec()
        };
        match declared {
            Some(n) if n != body.len() && !chunked => tracing::warn!(
                declared = n,
                actual = body.len(),
                "reply Content-Length does not match the body; corrected"
            ),
            None if !chunked && !body.is_empty() => {
                tracing::warn!(actual = body.len(), "reply has no Content-Length; added")
            }
            _ => {}
        }
        Ok(ReplyFile {
            status,
            reason,
            fields: kept,
            body: Bytes::from(body),
        })
    }

    /// Whether this status carries a body at all (RFC 9110 §6.4.1).
    pub fn has_body(&self) -> bool {
        !(self.status < 200 || self.status == 204 || self.status == 304)
    }

    /// The response to send: the file's status line and fields as written
    /// (no Date or Server added), with the body framed by the server.
    pub fn plan(&self, head_only: bool) -> Plan {
        let plan = Plan {
            reason: Some(self.reason.clone()),
            bare: true,
            fields: self.fields.clone(),
            ..Plan::new(self.status)
        };
        if self.has_body() {
            plan.with_bytes(self.body.clone(), head_only)
        } else {
            plan
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_lf_files() {
        let crlf = ReplyFile::parse(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .unwrap();
        assert_eq!(crlf.status, 200);
        assert_eq!(&*crlf.reason, "OK");
        assert_eq!(
            crlf.fields,
            vec![(Text::from("Content-Type"), Text::from("text/html"))]
        );
        assert_eq!(crlf.body, &b"hello"[..]);
        let lf = ReplyFile::parse(
            b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 5\n\nhello",
        )
        .unwrap();
        assert_eq!(lf, crlf);
    }

    #[test]
    fn lengths_are_corrected() {
        let short =
            ReplyFile::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nhello").unwrap();
        assert_eq!(short.body, &b"hello"[..]);
        let none = ReplyFile::parse(b"HTTP/1.0 404 Not Found\r\n\r\nmissing").unwrap();
        assert_eq!(none.status, 404);
        assert_eq!(none.body, &b"missing"[..]);
        let chunked = ReplyFile::parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(chunked.body, &b"hello world"[..]);
        assert!(chunked.fields.is_empty());
        let plan = chunked.plan(true);
        assert_eq!(plan.content_length, Some(11));
        assert!(plan.body.is_empty());
    }

    #[test]
    fn wrong_files_are_refused() {
        assert!(ReplyFile::parse(b"GET / HTTP/1.1\r\n\r\n").is_err());
        assert!(ReplyFile::parse(b"hello world").is_err());
        assert!(ReplyFile::parse(b"HTTP/2 200\r\n\r\n").is_err());
        assert!(ReplyFile::parse(b"").is_err());
        assert!(
            ReplyFile::parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                .is_err()
        );
    }
}
