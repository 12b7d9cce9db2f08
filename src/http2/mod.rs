//! HTTP/2 (RFC 9113) with the `h2` crate as the framing layer: over TLS
//! when ALPN chooses `h2`, and in cleartext when a connection opens with
//! the HTTP/2 preface (prior knowledge). `Upgrade: h2c` is not offered.
//!
//! - [`connection`]: the connection (settings, limits, keep-alive,
//!   graceful shutdown) and each stream: the request view in, the plan
//!   out, its body sent in chunks the peer's flow-control window allows;
//! - [`linger`]: the connection's end read out, so that closing it does
//!   not reset it under the last frames;
//! - [`rewind`]: bytes already read put back in front of a stream, for a
//!   connection that turns out to be HTTP/2 after HTTP/1 read its start.
//!
//! h2 refuses malformed requests itself (RFC 9113 §8.1.1: uppercase or
//! connection-specific fields, `TE` other than `trailers`, wrong pseudo-
//! header fields, field values with NUL, CR, LF or whitespace at an end,
//! a `content-length` that disagrees with the DATA) with a stream error,
//! answers every protocol error with the code RFC 9113 and RFC 7541 name
//! (patched under `vendor/h2`, see its `PATCH.md`), and bounds the floods
//! named in its changelog; the limits it is given here are explicit,
//! never its defaults.

pub(crate) mod connection;
pub(crate) mod linger;
pub(crate) mod rewind;
