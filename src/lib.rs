//! henaserver: a static-file web server speaking HTTP/1.1, HTTP/2 and
//! HTTP/3 (RFC 9110, 9112, 9113, 9114), over TLS with rustls or kernel TLS
//! and over QUIC with quinn, with ACME
//! certificates, several sites, an admin listener and a development mode;
//! safe by default, with file bodies sent by `sendfile(2)`.
//!
//! # The map
//! - `server`: listeners (bound or inherited), worker threads and accept,
//!   dispatch by transport and ALPN, reload, upgrade; it builds every
//!   runtime object from the [`Config`]. [`Server::serve_on`] runs inside
//!   a caller's runtime instead.
//! - `transport`: the byte stream (TCP, TLS in user space or the kernel
//!   via `tls`, Unix sockets), one timer per wait, file ranges in one call.
//! - `http1`, `http2` and `http3`: the protocols. Each reads a request
//!   into a protocol-neutral `exchange::Request`, asks its listener's
//!   `respond::Responder` for an `exchange::Plan`, encodes it, and hands
//!   one `observe::Record` of the finished exchange to `observe`. HTTP/2
//!   and HTTP/3 share `message`: the `http` crate's heads, and the one
//!   place that builds their request view and record. `http3` holds every
//!   use of `quinn` and `h3`, and the QUIC endpoint's own thread.
//! - `respond`: one responder per listener: the sites' files (with `acme`'s
//!   HTTP-01 challenges and `dev`'s `/.henaserver/` paths in front), echo
//!   and reply (`window`), the HTTPS redirect, the `admin` endpoints.
//! - `limit`: per-client limits: the table of counts every worker and
//!   protocol shares (rates, connections, streams), the guard each site
//!   checks requests with, and the pace of a body under `--limit-rate`.
//! - `site`: the file pipeline in numbered steps, request view in, plan
//!   out; it knows no protocol, socket or observer.
//! - `observe`: the access log (`log`), `--dump` (`window`), the inspector
//!   (`dev`) and the metrics (`stats`, shown by `admin`), fed from one
//!   place.
//! - `config`: `config::cli` and `config::settings` (the file, the
//!   environment, the flags) make a [`Config`], plain data;
//!   [`config::Site`] is what the pipeline's steps read of it.
//!
//! # A request's way, from accept to the last byte
//! 1. `server` takes a connection permit, accepts, and dispatches the
//!    socket: TLS first if the listener speaks it, then HTTP/2 by ALPN or
//!    preface, else HTTP/1.1.
//! 2. The protocol reads a whole head (HTTP/1: 400, 414, 431, 505 or 408
//!    otherwise) and the body, and builds the request view.
//! 3. The responder answers: for files, `site::Sites` picks the site by
//!    host and `site::Pipeline::handle` runs its steps.
//! 4. The protocol sends the plan: HTTP/1 heads with Date, Content-Length
//!    and Connection, file pieces through the transport; HTTP/2 HEADERS
//!    and DATA within the peer's window.
//! 5. The record goes to the observers; the connection waits for the next
//!    request, or lingers and closes.
//!
//! # Example
//! ```no_run
//! let config = henaserver::Config::new("static", 0)?;
//! let server = henaserver::Server::bind(config)?;
//! println!("listening on {:?}", server.local_addrs());
//! server.run_until_signal()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub(crate) mod acme;
mod admin;
/// The `henaserver` binary's entry point; not part of the library's API.
#[doc(hidden)]
pub mod command;
pub mod config;
mod dev;
mod exchange;
mod forwarded;
mod http1;
mod http2;
mod http3;
mod limit;
mod log;
mod message;
mod observe;
mod platform;
mod private_file;
mod privileges;
mod respond;
mod server;
mod service;
mod shared;
mod site;
mod stats;
mod stop;
mod tls;
mod transport;
mod window;
mod wire;

pub use config::{Config, ConfigError, Limits};
pub use server::{Error, Reloader, Server};
pub use service::{DotFiles, FileBody, Files, FilesError};

/// The parsers and encoders on the request path, for the benchmarks and
/// fuzz targets; not part of the API.
#[doc(hidden)]
pub mod internals {
    pub use crate::exchange::{Coding, Plan, DEFAULT_PREFERENCE};
    pub use crate::http1::body::ChunkedDrain;
    pub use crate::http1::encode::head as encode_head;
    pub use crate::http1::parse::{
        leading_empty_lines, parse as parse_head, valid_authority, Framing, RequestHead,
    };
    pub use crate::site::conditional::{if_range_allows, parse_date};
    pub use crate::site::encoding::choose as choose_coding;
    pub use crate::site::range::{parse as parse_range, Ranges};
    pub use crate::site::resolve::{directory_url, resolve as resolve_path, Refusal, Resolved};

    /// Serves one HTTP/2 connection on `io` (the client's preface comes
    /// first) with `config`'s limits and the echo responder, until it
    /// ends: the HTTP/2 layer alone, in memory, for the fuzz target.
    pub async fn serve_http2_echo<T>(io: T, config: &crate::Config)
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let shared = std::sync::Arc::new(crate::shared::Shared::new(
            config,
            crate::respond::Responder::Echo,
            crate::observe::Observers::none(),
            None,
            true,
        ));
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 1));
        crate::http2::connection::serve(io, peer, shared, None).await;
    }

    /// An HTTP/3 endpoint answering with the echo responder, for the fuzz
    /// target: it serves until dropped.
    pub struct Http3Echo {
        _stop: tokio::sync::watch::Sender<bool>,
        _certificate: scratch::Dir,
    }

    /// Serves HTTP/3 on `socket` with the default limits, the echo
    /// responder and a certificate made for `localhost`, on a thread of
    /// its own.
    pub fn serve_http3_echo(socket: std::net::UdpSocket) -> Result<Http3Echo, String> {
        let dir = scratch::Dir::new()?;
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .map_err(|e| e.to_string())?;
        let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).map_err(|e| e.to_string())?;
        std::fs::write(&key, certified.signing_key.serialize_pem()).map_err(|e| e.to_string())?;
        let settings = crate::config::TlsSettings {
            pairs: vec![(cert, key)],
            self_signed: false,
            names: Vec::new(),
            keylog: None,
            managed: Vec::new(),
            kernel: false,
        };
        let config = crate::Config::new(".", 0).map_err(|e| e.to_string())?;
        let tls = crate::tls::Tls::new(&settings, true)?;
        let shared = std::sync::Arc::new(crate::shared::Shared::new(
            &config,
            crate::respond::Responder::Echo,
            crate::observe::Observers::none(),
            Some(tls),
            true,
        ));
        let permits =
            std::sync::Arc::new(tokio::sync::Semaphore::new(config.limits.max_connections));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let options = crate::http3::endpoint::Options {
            early_data: false,
            offload: true,
        };
        crate::http3::endpoint::QuicThread::start(vec![socket], shared, permits, stopped, options)?;
        Ok(Http3Echo {
            _stop: stop,
            _certificate: dir,
        })
    }

    /// A directory removed when dropped.
    mod scratch {
        pub struct Dir(pub std::path::PathBuf);

        impl Dir {
            pub fn new() -> Result<Dir, String> {
                let path = std::env::temp_dir().join(format!(
                    "henaserver-fuzz-{}-{}",
                    std::process::id(),
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos())
                ));
                std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
                Ok(Dir(path))
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
