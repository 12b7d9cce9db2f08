//! HTTP/3 (RFC 9114) over QUIC (RFC 9000), with `quinn` as the transport
//! (the same rustls and ring as TLS over TCP) and `h3` as the framing
//! layer. Both are used here alone, so that another QUIC stack would
//! change this folder only.
//!
//! - [`endpoint`]: the UDP sockets beside the HTTPS listeners, the QUIC
//!   and TLS settings (TLS 1.3, ALPN `h3`, the HTTPS listeners'
//!   certificates and SNI choice), and the thread whose event loop drives
//!   every QUIC connection: admission against `--max-connections`, Retry
//!   under a handshake flood, a graceful stop;
//! - [`offload`]: `--quic-no-offload`, UDP without GSO and GRO;
//! - [`connection`]: one connection and its request streams: the request
//!   in, the responder's plan out through the same `message::Origin` as
//!   HTTP/2, the body streamed from the open file as QUIC's flow control
//!   allows, one record per exchange.
//!
//! 0-RTT is off unless `--http3-0rtt` asks for it; early data can be
//! replayed, so until the handshake completes only GET and HEAD are
//! answered, and other methods get 425 Too Early (RFC 8470).

pub(crate) mod connection;
pub(crate) mod endpoint;
pub(crate) mod offload;
