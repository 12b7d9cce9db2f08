//! henaserver: a static-file web server speaking HTTP/1.1 as RFC 9110 and
//! RFC 9112 say, safe by default, with file bodies sent by `sendfile(2)`.
//!
//! # A request's way, from accept to the last byte
//! 1. `server` binds the listeners, starts one single-threaded event loop
//!    per worker thread, takes a connection permit, then accepts.
//! 2. `transport` wraps the accepted socket: reads and writes without
//!    waiting, one timer for every wait, and file ranges sent in one call
//!    (`sendfile(2)`, or a reused buffer where it cannot be used).
//! 3. `http1::connection` reads until `http1::parse` has a whole head
//!    (400, 414, 431, 505 or 408 otherwise), and drains any body
//!    (`http1::body`).
//! 4. It hands the site a protocol-neutral `exchange::Request`: method,
//!    path, query, authority, peer, and fields looked up by name.
//! 5. `site::Pipeline::handle` runs the numbered steps of `site` (mode,
//!    method, authentication, resolve and open, representation,
//!    preconditions, ranges, fields, body) and returns an `exchange::Plan`:
//!    status, fields, and a body that is empty, bytes, or file pieces.
//! 6. `http1::encode` writes the plan's head with Date, Content-Length and
//!    Connection; small bodies join the output buffer, file pieces go out
//!    through the transport.
//! 7. Observers see the exchange: `window::dump` (`--dump`) and `log`
//!    (the access log). The connection then waits for the next request,
//!    or lingers and closes.
//!
//! Configuration flows one way: `config::cli` and `config::settings` (the
//! file, the environment, the flags) make a [`Config`]; [`config::Site`]
//! is what the pipeline's steps read of it. `window` holds the rest of the
//! window into HTTP: `--reply`, `--echo` and the `henaserver raw` client.
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
pub mod command;
pub mod config;
mod dev;
mod exchange;
mod forwarded;
mod http1;
mod http2;
mod log;
mod observe;
mod private_file;
mod privileges;
mod respond;
mod server;
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
}
