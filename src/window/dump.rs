//! `--dump DIR`: the exact bytes of every request and of every response
//! head, one file each, for people who want to see what their browser or
//! client really sends.
//!
//! Files are named `000042-c0007-r3.request.http` and
//! `000042-c0007-r3.response.http`: the exchange's number across the
//! server, the connection's, and the request's position on its connection,
//! so that `ls` lists them in order. Values of `Authorization`,
//! `Proxy-Authorization` and `Cookie` are replaced by `<redacted>` unless
//! secrets are asked for.
//!
//! A thread of its own writes the files: serving never waits for the disk.
//! When the writer falls behind, when the disk is full or the directory
//! read-only, a warning is logged and serving goes on. After the cap on
//! files, dumping stops with one warning.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// Exchanges waiting for the writer before new ones are dropped.
const QUEUED: usize = 1024;
/// The fields whose values are never written unless asked for.
const SECRET_FIELDS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// What the server sends the dump writer.
struct File {
    name: String,
    bytes: Vec<u8>,
}

/// A handle to the dump, shared by every connection.
#[derive(Debug)]
pub struct Dump {
    tx: SyncSender<File>,
    secrets: bool,
    max: u64,
    exchanges: AtomicU64,
    connections: AtomicU64,
    files: AtomicU64,
    capped: AtomicBool,
    behind: AtomicBool,
}

impl Dump {
    /// Creates `dir` if needed and starts the writer. Fails when the
    /// directory cannot be created.
    pub fn start(dir: &Path, max: u64, secrets: bool) -> io::Result<Arc<Dump>> {
        std::fs::create_dir_all(dir)?;
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let (tx, rx) = sync_channel(QUEUED);
        let dir = dir.to_path_buf();
        std::thread::Builder::new()
            .name("henaserver-dump".into())
            .spawn(move || writer(&dir, rx))?;
        Ok(Arc::new(Dump {
            tx,
            secrets,
            max,
            exchanges: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            files: AtomicU64::new(0),
            capped: AtomicBool::new(false),
            behind: AtomicBool::new(false),
        }))
    }

    /// Files written or queued so far.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed).min(self.max)
    }

    /// A number for a new connection.
    pub fn connection(&self) -> u64 {
        self.connections.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records one exchange: the request as received, the head of the
    /// response as sent, and the size of the response body.
    pub fn exchange(
        &self,
        connection: u64,
        request_number: u64,
        request: &[u8],
        response_head: &[u8],
        body_bytes: u64,
    ) {
        if self.files.fetch_add(2, Ordering::Relaxed) + 2 > self.max {
            if !self.capped.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    max = self.max,
                    "dump limit reached; no more exchanges are dumped"
                );
            }
            return;
        }
        let n = self.exchanges.fetch_add(1, Ordering::Relaxed) + 1;
        let stem = format!("{n:06}-c{connection:04}-r{request_number}");
        let request = if self.secrets {
            request.to_vec()
        } else {
            redact(request)
        };
        let mut response = response_head.to_vec();
        response.extend_from_slice(format!("(body: {body_bytes} bytes)\n").as_bytes());
        for file in [
            File {
                name: format!("{stem}.request.http"),
                bytes: request,
            },
            File {
                name: format!("{stem}.response.http"),
                bytes: response,
            },
        ] {
            if self.tx.try_send(file).is_err() && !self.behind.swap(true, Ordering::Relaxed) {
                tracing::warn!("the dump writer fell behind; some exchanges are not dumped");
            }
        }
    }
}

fn writer(dir: &Path, rx: Receiver<File>) {
    let mut failing = false;
    while let Ok(file) = rx.recv() {
        match write_whole(dir, &file.name, &file.bytes) {
            Ok(()) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot write dump files; serving goes on");
                }
                failing = true;
            }
        }
    }
}

/// Writes `bytes` to `dir/name` so that a reader of the directory never
/// sees half a file: written unnamed (O_TMPFILE, on Linux), then linked under its
/// name. Where the file system cannot make unnamed files, written under a
/// hidden temporary name and renamed.
fn write_whole(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    match crate::platform::fs::write_unnamed(dir, name, bytes) {
        Ok(()) => Ok(()),
        Err(_) => {
            let part = dir.join(format!(".{name}.part"));
            let written =
                std::fs::write(&part, bytes).and_then(|()| std::fs::rename(&part, dir.join(name)));
            if written.is_err() {
                let _ = std::fs::remove_file(&part);
            }
            written
        }
    }
}

/// The request with the values of secret fields replaced, all else kept
/// byte for byte. Only the head is looked at.
pub fn redact(request: &[u8]) -> Vec<u8> {
    let head_end = find(request, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| find(request, b"\n\n").map(|i| i + 2))
        .unwrap_or(request.len());
    let mut out = Vec::with_capacity(request.len());
    let mut first = true;
    for line in request[..head_end].split_inclusive(|&b| b == b'\n') {
        if !first {
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = &line[..colon];
                if SECRET_FIELDS
                    .iter()
                    .any(|s| s.as_bytes().eq_ignore_ascii_case(name))
                {
                    let ending: &[u8] = if line.ends_with(b"\r\n") {
                        b"\r\n"
                    } else if line.ends_with(b"\n") {
                        b"\n"
                    } else {
                        b""
                    };
                    out.extend_from_slice(&line[..=colon]);
                    out.extend_from_slice(b" <redacted>");
                    out.extend_from_slice(ending);
                    continue;
                }
            }
        }
        first = false;
        out.extend_from_slice(line);
    }
    out.extend_from_slice(&request[head_end..]);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_appear_whole_and_alone() {
        let dir = tempfile::tempdir().unwrap();
        write_whole(
            dir.path(),
            "000001-c0001-r1.request.http",
            b"GET / HTTP/1.1\r\n\r\n",
        )
        .unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["000001-c0001-r1.request.http"]);
        assert_eq!(
            std::fs::read(dir.path().join(&names[0])).unwrap(),
            b"GET / HTTP/1.1\r\n\r\n"
        );
    }

    #[test]
    fn secrets_are_redacted_and_the_rest_kept() {
        let req = b"GET / HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\nauthorization: Basic Zm9v\r\nX-Cookie: keep\r\n\r\nCookie: body";
        let out = redact(req);
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nHost: x\r\nCookie: <redacted>\r\nauthorization: <redacted>\r\nX-Cookie: keep\r\n\r\nCookie: body"
        );
        let partial = b"GET / HTTP/1.1\r\nProxy-Authorization: secret";
        assert_eq!(
            redact(partial),
            b"GET / HTTP/1.1\r\nProxy-Authorization: <redacted>"
        );
    }
}
