//! HTTP/2 frames built by hand, over h2c or TLS: for the tests where the
//! exact bytes matter.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::PATIENCE;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const COMPRESSION_ERROR: u32 = 0x9;

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK literal field without indexing, new name, no Huffman.
pub fn literal(name: &str, value: &str) -> Vec<u8> {
    literal_bytes(name, value.as_bytes())
}

/// As [`literal`], with any bytes for the value.
pub fn literal_bytes(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value);
    out
}

/// A GET of `path` as an HPACK block: :method GET, :scheme http,
/// :authority localhost, :path, then `extra`.
pub fn get_block(path: &str, extra: &[u8]) -> Vec<u8> {
    let mut b = vec![0x82, 0x86]; // :method GET, :scheme http (static table)
    b.push(0x01); // :authority, literal value
    b.push(9);
    b.extend_from_slice(b"localhost");
    b.push(0x04); // :path, literal value
    b.push(path.len() as u8);
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(extra);
    b
}

/// A HEADERS frame with a whole GET of `path` that ends its stream.
pub fn get(stream: u32, path: &str) -> Vec<u8> {
    frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        stream,
        &get_block(path, &[]),
    )
}

/// Where a raw connection goes: cleartext HTTP/2 (prior knowledge), or
/// TLS with ALPN `h2` and this client configuration.
#[derive(Clone)]
pub enum Target {
    H2c(SocketAddr),
    Tls(SocketAddr, Arc<ClientConfig>),
}

impl From<SocketAddr> for Target {
    fn from(addr: SocketAddr) -> Target {
        Target::H2c(addr)
    }
}

impl Target {
    pub fn name(&self) -> &'static str {
        match self {
            Target::H2c(_) => "h2c",
            Target::Tls(..) => "TLS",
        }
    }
}

trait Wire: Read + Write + Send {}
impl<T: Read + Write + Send> Wire for T {}

/// A connection on which frames are written and read by hand.
pub struct Raw {
    stream: Box<dyn Wire>,
    buf: Vec<u8>,
    /// Most bytes one read takes, and the pause before each: a slow
    /// reader leaves what the server sent in the kernel's buffers.
    read_size: usize,
    pause: Duration,
}

impl Raw {
    /// A connection that has sent the preface and empty SETTINGS.
    pub fn open(target: impl Into<Target>) -> Raw {
        let mut raw = Raw::bare(target);
        raw.send(PREFACE);
        raw.send(&frame(SETTINGS, 0, 0, &[]));
        raw
    }

    /// A connection that has sent nothing yet (over TLS: the handshake,
    /// which chose `h2`).
    pub fn bare(target: impl Into<Target>) -> Raw {
        let stream: Box<dyn Wire> = match target.into() {
            Target::H2c(addr) => {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(PATIENCE)).unwrap();
                Box::new(stream)
            }
            Target::Tls(addr, config) => {
                let name = ServerName::try_from("localhost").unwrap();
                let conn = ClientConnection::new(config, name).unwrap();
                let tcp = TcpStream::connect(addr).unwrap();
                tcp.set_read_timeout(Some(PATIENCE)).unwrap();
                let mut stream = StreamOwned::new(conn, tcp);
                while stream.conn.is_handshaking() {
                    stream.conn.complete_io(&mut stream.sock).unwrap();
                }
                assert_eq!(stream.conn.alpn_protocol(), Some(&b"h2"[..]), "ALPN h2");
                Box::new(stream)
            }
        };
        Raw {
            stream,
            buf: Vec::new(),
            read_size: 16384,
            pause: Duration::ZERO,
        }
    }

    /// Reads at most `read_size` bytes at a time, pausing before each read.
    pub fn slowly(&mut self, read_size: usize, pause: Duration) {
        self.read_size = read_size.clamp(1, 16384);
        self.pause = pause;
    }

    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok() && self.stream.flush().is_ok()
    }

    /// The next frame: (type, flags, stream, payload); `None` at the end.
    pub fn next(&mut self) -> Option<(u8, u8, u32, Vec<u8>)> {
        loop {
            if self.buf.len() >= 9 {
                let len = (usize::from(self.buf[0]) << 16)
                    | (usize::from(self.buf[1]) << 8)
                    | usize::from(self.buf[2]);
                if self.buf.len() >= 9 + len {
                    let head: Vec<u8> = self.buf.drain(..9 + len).collect();
                    let stream =
                        u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
                    return Some((head[3], head[4], stream, head[9..].to_vec()));
                }
            }
            let mut chunk = [0u8; 16384];
            if !self.pause.is_zero() {
                std::thread::sleep(self.pause);
            }
            match self.stream.read(&mut chunk[..self.read_size]) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads frames until one of `kind` on `stream` (or any stream for a
    /// GOAWAY), answering PINGs as a client does; `None` when the
    /// connection ends first.
    pub fn until(&mut self, kind: u8, stream: u32) -> Option<(u8, u32, Vec<u8>)> {
        while let Some((k, flags, s, payload)) = self.next() {
            if k == kind && (kind == GOAWAY || s == stream) {
                return Some((flags, s, payload));
            }
            if k == PING && flags & ACK == 0 {
                self.send(&frame(PING, ACK, 0, &payload));
            }
        }
        None
    }

    /// The code of the GOAWAY that ends the connection, read to its end;
    /// panics naming `what` if there is none.
    pub fn goaway_code(&mut self, what: &str) -> u32 {
        let (_, _, payload) = self
            .until(GOAWAY, 0)
            .unwrap_or_else(|| panic!("{what}: no GOAWAY"));
        while self.next().is_some() {}
        error_code(&payload, 4)
    }

    /// The code of the RST_STREAM on `stream`; panics naming `what` if
    /// the connection ends first.
    pub fn reset_code(&mut self, stream: u32, what: &str) -> u32 {
        let (_, _, payload) = self
            .until(RST_STREAM, stream)
            .unwrap_or_else(|| panic!("{what}: no RST_STREAM on stream {stream}"));
        error_code(&payload, 0)
    }
}

pub fn error_code(payload: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([
        payload[at],
        payload[at + 1],
        payload[at + 2],
        payload[at + 3],
    ])
}

/// The server still answers a fresh connection normally.
pub fn still_serves(target: impl Into<Target>) {
    let mut raw = Raw::open(target);
    raw.send(&get(1, "/data.txt"));
    raw.until(DATA, 1)
        .expect("a DATA frame on a fresh connection");
}
