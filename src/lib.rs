//! henaserver: a static-file web server speaking HTTP/1.1 as RFC 9110 and
//! RFC 9112 say, safe by default, with file bodies sent by `sendfile(2)`.
//!
//! # Layout
//! - [`cli`]: the command line, parsed by clap and turned into a [`Config`].
//! - [`settings`]: the config file, environment variables, and flags.
//! - [`config`]: the resolved configuration.
//! - [`limits`]: every limit and timeout, with its default.
//! - [`server`]: listening sockets, worker threads, graceful shutdown.
//! - `connection`: one connection: heads, bodies, keep-alive, pipelining.
//! - [`request`]: request heads parsed with httparse, and framing decisions.
//! - [`resolve`]: URL path to a path under the root (decoding, dot-segments,
//!   dotfiles).
//! - [`files`]: opening files beneath the root, symbolic links included.
//! - [`cache`]: open files and their encoded heads, validated per request.
//! - [`respond`]: the pipeline that builds a response to one request.
//! - [`conditional`]: preconditions and validators (RFC 9110 §13).
//! - [`encoding`]: Accept-Encoding, precompressed siblings, compression.
//! - [`range`]: byte ranges and multipart/byteranges (RFC 9110 §14).
//! - [`response`]: response heads, the cached Date, error pages.
//! - [`mime`]: Content-Type from the extension.
//! - [`listing`]: directory listings, HTML and JSON.
//! - [`cors`]: Cross-Origin Resource Sharing.
//! - [`auth`]: Basic authentication against argon2 or bcrypt hashes.
//! - `sendfile`: the only descriptor-level code.
//! - `stop`: telling a worker's tasks that the server is stopping.
//! - [`log`]: the access log, written off the request path.
//! - [`dump`]: `--dump`, the raw bytes of every exchange in files.
//! - [`reply`]: `--reply`, one raw response for every request.
//! - [`raw`]: the `henaserver raw` client.
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

pub mod auth;
pub mod cache;
pub mod cli;
pub mod conditional;
pub mod config;
mod connection;
pub mod cors;
pub mod dump;
pub mod encoding;
pub mod files;
pub mod limits;
pub mod listing;
pub mod log;
pub mod mime;
pub mod range;
pub mod raw;
pub mod reply;
pub mod request;
pub mod resolve;
pub mod respond;
pub mod response;
mod sendfile;
pub mod server;
pub mod settings;
mod stop;

pub use config::{Config, ConfigError};
pub use limits::Limits;
pub use server::{Error, Server};
