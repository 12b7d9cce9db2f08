//! HTTP/1.1 (RFC 9112): the only code that reads or writes HTTP/1 bytes.
//!
//! - [`parse`]: request heads with httparse, and the decisions taken from
//!   them (framing, persistence, expectations);
//! - [`body`]: request body framing (chunked);
//! - [`encode`]: response heads from a plan (status line, Date, fields,
//!   Content-Length, Connection);
//! - [`connection`]: the connection loop: heads, bodies, keep-alive,
//!   pipelining, timeouts;
//! - [`plain`]: the 400 for plain HTTP sent to an HTTPS port;
//! - [`client`]: the request `henaserver health` sends.

pub(crate) mod body;
pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod encode;
pub(crate) mod parse;
pub(crate) mod plain;
