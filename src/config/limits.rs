//! Every limit and timeout the server enforces, with its default.
//!
//! Each constant is the default of one field of [`Limits`]; every field can be
//! overridden from the command line (see `henaserver --help`).

use std::time::Duration;

/// Longest request line accepted, in bytes; longer gets `414 URI Too Long`.
pub const DEFAULT_MAX_REQUEST_LINE: usize = 8 * 1024;
/// Largest header section accepted, in bytes; larger gets
/// `431 Request Header Fields Too Large`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most header fields accepted in one request; more gets `431`.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// Largest request body read and discarded; larger gets
/// `413 Content Too Large` and the connection is closed.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;
/// Time the kernel holds a new TCP connection until its first bytes
/// arrive before handing it to the server anyway (Linux's
/// `TCP_DEFER_ACCEPT`, as nginx's `listen ... deferred` and systemd's
/// `DeferAccept=`): a connection then wakes the server once, with its
/// request, not once for the handshake and again for the request. Zero:
/// accepted as soon as the handshake ends. Other platforms accept at once.
pub const DEFAULT_DEFER_ACCEPT: Duration = Duration::from_secs(1);
/// Time a client has to deliver a complete request head, counted from
/// the first byte (or from accepting the connection), never reset by a byte.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an idle persistent connection is kept open between requests.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(15);
/// Time a response may make no progress (client not reading) before the
/// connection is dropped.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a request body being drained may make no progress before the
/// connection is dropped.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time responses in flight get to finish after SIGINT or SIGTERM.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Time a closing connection keeps reading and discarding what the client
/// still sends, so that its last response is not lost to a reset.
pub const DEFAULT_LINGER_TIMEOUT: Duration = Duration::from_secs(2);
/// Open files each worker thread keeps cached.
pub const DEFAULT_CACHE_ENTRIES: usize = 256;
/// Bytes of small-file content each worker thread keeps in memory.
pub const DEFAULT_CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Time a cached file, or a path found missing, is trusted without
/// looking at the path again. Zero: every hit is checked with one `stat`,
/// so a change is seen from the very next request.
pub const DEFAULT_CACHE_VALID: Duration = Duration::ZERO;
/// Most ranges served from one request; more get the whole file (200)
/// rather than an amplified multipart answer.
pub const DEFAULT_MAX_RANGES: usize = 100;
/// Smallest file compressed on the fly, in bytes: below this, the coding
/// saves less than it costs.
pub const DEFAULT_COMPRESS_MIN: u64 = 512;
/// Largest file compressed on the fly, in bytes. Compression runs on the
/// worker thread, once per file version.
pub const DEFAULT_COMPRESS_MAX: u64 = 4 * 1024 * 1024;
/// Bytes of compressed copies kept in memory, for all workers together.
pub const DEFAULT_COMPRESS_CACHE: usize = 32 * 1024 * 1024;
/// Time a client has to finish the TLS handshake; connections in a
/// handshake count against the connection cap.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Streams one HTTP/2 connection may have open at once (advertised in
/// SETTINGS_MAX_CONCURRENT_STREAMS); more are refused.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 128;
/// Most connections served at once; more wait in the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Time a QUIC connection (HTTP/3) may be silent before it is closed; the
/// client's keep-alive PINGs count, so only a vanished peer meets it.
pub const DEFAULT_QUIC_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes a client may send on one HTTP/3 request stream ahead of the
/// server reading them.
pub const DEFAULT_QUIC_STREAM_WINDOW: u32 = 1024 * 1024;
/// Bytes a client may send on one QUIC connection, all its streams
/// together, ahead of the server reading them.
pub const DEFAULT_QUIC_CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;
/// Largest UDP payload the QUIC endpoint accepts and advertises
/// (`max_udp_payload_size`): an Ethernet MTU less the IPv4 and UDP headers.
pub const DEFAULT_QUIC_MAX_UDP_PAYLOAD: u16 = 1472;
/// QUIC handshakes in progress at once above which new clients must first
/// prove their address (a Retry, RFC 9000 §8.1): a handshake flood from
/// spoofed addresses then costs one packet each, not a handshake.
pub const DEFAULT_QUIC_RETRY_ABOVE: usize = 64;

/// The limits and timeouts of one server; the defaults are the `DEFAULT_`
/// constants of this module.
///
/// ```
/// use std::time::Duration;
/// let mut limits = henaserver::Limits::default();
/// limits.keepalive_timeout = Duration::from_secs(5);
/// assert_eq!(limits.max_headers, henaserver::config::limits::DEFAULT_MAX_HEADERS);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// See [`DEFAULT_MAX_REQUEST_LINE`].
    pub max_request_line: usize,
    /// See [`DEFAULT_MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// See [`DEFAULT_MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`DEFAULT_MAX_BODY`].
    pub max_body: u64,
    /// See [`DEFAULT_DEFER_ACCEPT`].
    pub defer_accept: Duration,
    /// See [`DEFAULT_HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`DEFAULT_KEEPALIVE_TIMEOUT`].
    pub keepalive_timeout: Duration,
    /// See [`DEFAULT_SEND_TIMEOUT`].
    pub send_timeout: Duration,
    /// See [`DEFAULT_BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// See [`DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// See [`DEFAULT_LINGER_TIMEOUT`].
    pub linger_timeout: Duration,
    /// See [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`].
    pub tls_handshake_timeout: Duration,
    /// See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// See [`DEFAULT_MAX_CONCURRENT_STREAMS`].
    pub max_concurrent_streams: u32,
    /// See [`DEFAULT_QUIC_IDLE_TIMEOUT`].
    pub quic_idle_timeout: Duration,
    /// See [`DEFAULT_QUIC_STREAM_WINDOW`].
    pub quic_stream_window: u32,
    /// See [`DEFAULT_QUIC_CONNECTION_WINDOW`].
    pub quic_connection_window: u32,
    /// See [`DEFAULT_QUIC_MAX_UDP_PAYLOAD`].
    pub quic_max_udp_payload: u16,
    /// See [`DEFAULT_QUIC_RETRY_ABOVE`].
    pub quic_retry_above: usize,
    /// See [`DEFAULT_MAX_RANGES`].
    pub max_ranges: usize,
    /// See [`DEFAULT_CACHE_ENTRIES`].
    pub cache_entries: usize,
    /// See [`DEFAULT_CACHE_BYTES`].
    pub cache_bytes: usize,
    /// See [`DEFAULT_CACHE_VALID`].
    pub cache_valid: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: DEFAULT_MAX_REQUEST_LINE,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body: DEFAULT_MAX_BODY,
            defer_accept: DEFAULT_DEFER_ACCEPT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            linger_timeout: DEFAULT_LINGER_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            quic_idle_timeout: DEFAULT_QUIC_IDLE_TIMEOUT,
            quic_stream_window: DEFAULT_QUIC_STREAM_WINDOW,
            quic_connection_window: DEFAULT_QUIC_CONNECTION_WINDOW,
            quic_max_udp_payload: DEFAULT_QUIC_MAX_UDP_PAYLOAD,
            quic_retry_above: DEFAULT_QUIC_RETRY_ABOVE,
            max_ranges: DEFAULT_MAX_RANGES,
            cache_entries: DEFAULT_CACHE_ENTRIES,
            cache_bytes: DEFAULT_CACHE_BYTES,
            cache_valid: DEFAULT_CACHE_VALID,
        }
    }
}

/// Files `--dump` writes by default before dumping stops.
pub const DEFAULT_DUMP_MAX: u64 = 1000;
