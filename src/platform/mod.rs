//! What differs between the platforms henaserver runs on, one module per
//! concern, each with its `#[cfg]` at its own edge; the rest of the server
//! calls these and does not know which system it is on.
//!
//! - `send`: bytes and file ranges onto a socket (`sendfile(2)`, corking);
//! - `fs`: the document root, opening beneath it, metadata, positional
//!   reads, locks and owner-only files;
//! - `net`: listening sockets, Unix sockets, inherited sockets, the
//!   descriptor limit;
//! - `process`: signals and switching users;
//! - `dirs`: where caches and data go;
//! - `clock`: the coarse clocks read on every request.
//!
//! Kernel TLS is Linux's alone: `tls::kernel` stands in for it elsewhere,
//! and GRO for QUIC is switched off in `http3::offload`. Every call goes
//! through rustix, nix, socket2 or the standard library: no `unsafe` here
//! either.

pub mod clock;
pub mod dirs;
pub mod fs;
pub mod net;
pub mod process;
pub mod send;
