//! The command line, as clap parses it. [`Args::into_config`] checks it and
//! turns it into a [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::config::limits::{self, Limits};
use crate::config::{
    self, AcmeChallenge, AcmeSettings, Compression, Config, ConfigError, DumpSettings, Hsts, Mode,
    TlsSettings, User,
};
use crate::exchange::Coding;

/// The `--help` heading of the per-client limits.
const ABUSE: &str = "Abuse controls";

/// A static-file web server: correct HTTP/1.1, HTTP/2 and HTTP/3, fast, safe by default.
///
/// Serves the files under ROOT. Dotfiles are never served, and nothing
/// outside ROOT is, whatever the URL or the symbolic links say.
///
/// Signals: SIGINT or SIGTERM stops gracefully, SIGHUP reopens the log and
/// reloads the certificates, SIGUSR2 hands the sockets to a new binary
/// (the upgrade); sockets handed over in LISTEN_FDS are served (socket
/// activation). All of these are Unix-only: on Windows, Ctrl-C (or
/// Ctrl-Break, or the console closing) stops gracefully.
#[derive(Debug, Parser)]
#[command(
    name = "henaserver",
    version,
    about,
    max_term_width = 100,
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    /// A tool instead of the server
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Directory to serve [default: the current directory]
    pub root: Option<PathBuf>,

    /// Address to listen on: an IP address, ADDR:PORT ([::1]:8080), a
    /// host name for all its addresses, or unix:PATH for a Unix socket
    /// (Unix-only) (repeatable)
    #[arg(long, value_name = "ADDR", default_value = config::DEFAULT_BIND, help_heading = "Listening")]
    pub bind: Vec<String>,

    /// Permissions of the Unix sockets --bind unix:PATH makes, in octal
    /// (Unix-only)
    #[arg(long, value_name = "MODE", default_value = "0660", value_parser = octal_mode, help_heading = "Listening")]
    pub socket_mode: u32,

    /// Port to listen on; 0 picks a free port
    #[arg(short, long, default_value_t = config::DEFAULT_PORT, help_heading = "Listening")]
    pub port: u16,

    /// Worker threads [default: the number of cores available]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024), help_heading = "Listening")]
    pub threads: Option<u16>,

    /// Time the kernel holds a new connection until its first bytes
    /// arrive, then hands it over anyway (Linux; 0: accept at once)
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = duration, help_heading = "Listening")]
    pub defer_accept: Duration,

    /// Speak HTTP/1.1 only: no HTTP/2 by ALPN over TLS, nor by prior
    /// knowledge in cleartext
    #[arg(long, help_heading = "Listening")]
    pub no_http2: bool,

    /// Speak HTTP/3 over QUIC too, on UDP at the address and port of each
    /// HTTPS listener, and offer it to HTTP/1.1 and HTTP/2 clients with
    /// Alt-Svc (needs HTTPS)
    #[arg(long, help_heading = "HTTPS")]
    pub http3: bool,

    /// Take HTTP/3 requests in 0-RTT early data from resuming clients:
    /// GET and HEAD only, others get 425 Too Early until the handshake
    /// completes (early data can be replayed)
    #[arg(long, help_heading = "HTTPS")]
    pub http3_0rtt: bool,

    /// Send and receive HTTP/3's UDP one datagram at a time, without GSO
    /// and GRO (for network devices that mishandle them)
    #[arg(long, help_heading = "HTTPS")]
    pub quic_no_offload: bool,

    /// Certificate chain in PEM; with --tls-key, the listeners speak HTTPS
    /// (repeatable, paired with --tls-key in order; chosen by SNI, the
    /// first is the default)
    #[arg(long, value_name = "FILE", help_heading = "HTTPS")]
    pub tls_cert: Vec<PathBuf>,

    /// Private key in PEM (PKCS#8, RSA or EC) of the --tls-cert in the same
    /// position
    #[arg(long, value_name = "FILE", help_heading = "HTTPS")]
    pub tls_key: Vec<PathBuf>,

    /// Speak HTTPS with a certificate made for localhost, 127.0.0.1, ::1
    /// and every --tls-name, kept in the user's cache directory
    #[arg(long, help_heading = "HTTPS")]
    pub tls_self_signed: bool,

    /// Another name for the --tls-self-signed certificate (repeatable)
    #[arg(
        long,
        value_name = "NAME",
        requires = "tls_self_signed",
        help_heading = "HTTPS"
    )]
    pub tls_name: Vec<String>,

    /// Also listen for plain HTTP on [ADDR:]PORT and answer every request
    /// with 308 to the same URL over HTTPS
    #[arg(long, value_name = "[ADDR:]PORT", help_heading = "HTTPS")]
    pub redirect_http: Option<String>,

    /// Send Strict-Transport-Security with this max-age on HTTPS responses
    #[arg(long, value_name = "SECONDS", help_heading = "HTTPS")]
    pub hsts: Option<u64>,

    /// Add includeSubDomains to Strict-Transport-Security
    #[arg(long, requires = "hsts", help_heading = "HTTPS")]
    pub hsts_include_subdomains: bool,

    /// Add preload to Strict-Transport-Security
    #[arg(long, requires = "hsts", help_heading = "HTTPS")]
    pub hsts_preload: bool,

    /// Get a certificate for DOMAIN from an ACME CA and renew it; the
    /// listeners speak HTTPS (repeatable)
    #[arg(long = "acme", value_name = "DOMAIN", value_parser = acme_domain, help_heading = "HTTPS")]
    pub acme: Vec<String>,

    /// Contact address given to the ACME CA
    #[arg(long, value_name = "ADDR", help_heading = "HTTPS")]
    pub acme_email: Option<String>,

    /// The ACME CA's directory URL [default: Let's Encrypt's]
    #[arg(long, value_name = "URL", help_heading = "HTTPS")]
    pub acme_directory: Option<String>,

    /// Use Let's Encrypt's staging directory (certificates browsers do not
    /// trust, for trying things out)
    #[arg(long, conflicts_with = "acme_directory", help_heading = "HTTPS")]
    pub acme_staging: bool,

    /// A PEM root certificate to trust for the ACME server itself (private
    /// or test CAs)
    #[arg(long, value_name = "FILE", help_heading = "HTTPS")]
    pub acme_ca_root: Option<PathBuf>,

    /// Where the ACME account, certificates and keys are kept [default:
    /// the user's data directory, henaserver/acme]
    #[arg(long, value_name = "DIR", help_heading = "HTTPS")]
    pub acme_dir: Option<PathBuf>,

    /// The ACME challenge answered: auto (TLS-ALPN-01 when the CA offers
    /// it, else HTTP-01 on --redirect-http), http-01 or tls-alpn-01
    #[arg(long, value_name = "TYPE", value_enum, default_value_t = AcmeChallenge::Auto, help_heading = "HTTPS")]
    pub acme_challenge: AcmeChallenge,

    /// First wait after a failed ACME order; it doubles after each failure
    #[arg(long, value_name = "TIME", default_value = "1m", value_parser = duration, help_heading = "HTTPS")]
    pub acme_retry: Duration,

    /// Write TLS secrets to FILE in the NSS key log format, for Wireshark
    /// (also taken from SSLKEYLOGFILE); anyone who reads it can decrypt
    /// the traffic
    #[arg(long, value_name = "FILE", help_heading = "HTTPS")]
    pub tls_keylog: Option<PathBuf>,

    /// Keep TLS in user space even where the kernel offers kernel TLS
    /// (which otherwise takes over each session after the handshake, so
    /// files go out with sendfile(2); Linux only)
    #[arg(long, help_heading = "HTTPS")]
    pub no_ktls: bool,

    /// File served for a directory
    #[arg(long, value_name = "NAME", default_value = config::DEFAULT_INDEX, help_heading = "Files")]
    pub index: String,

    /// Send file bodies by copying them through a buffer instead of with
    /// sendfile(2) (for file systems where sendfile misbehaves; Windows
    /// always copies)
    #[arg(long, help_heading = "Files")]
    pub no_sendfile: bool,

    /// Add a field to every response, as 'Name: value' (repeatable)
    #[arg(long = "header", value_name = "'NAME: VALUE'", value_parser = header_field, help_heading = "Files")]
    pub headers: Vec<(String, String)>,

    /// List directories that have no index file (HTML, or JSON on request)
    #[arg(long, help_heading = "Files")]
    pub listing: bool,

    /// Serve FILE with 200 for GETs that match no file and take HTML
    /// (single-page applications)
    #[arg(long, value_name = "FILE", help_heading = "Files")]
    pub fallback: Option<String>,

    /// Serve FILE for error STATUS, keeping the status (repeatable)
    #[arg(long = "error-page", value_name = "STATUS=FILE", value_parser = error_page, help_heading = "Files")]
    pub error_pages: Vec<(u16, String)>,

    /// Serve /about from about.html, and redirect /about.html to /about
    #[arg(long, help_heading = "Files")]
    pub clean_urls: bool,

    /// Cache-Control value sent with every file response (none by default)
    #[arg(long, value_name = "VALUE", help_heading = "Caching")]
    pub cache_control: Option<String>,

    /// Do not compress files on the fly (precompressed siblings are still
    /// served)
    #[arg(long, help_heading = "Caching")]
    pub no_compress: bool,

    /// Content codings in the order preferred when the client accepts
    /// several equally
    #[arg(long, value_name = "LIST", default_value = "br,zstd,gzip", value_parser = codings, help_heading = "Caching")]
    pub encodings: Codings,

    /// Open files each worker thread keeps cached (0: no cache)
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_CACHE_ENTRIES, help_heading = "Caching")]
    pub cache_entries: usize,

    /// Bytes of small-file content each worker thread keeps in memory
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_CACHE_BYTES, help_heading = "Caching")]
    pub cache_bytes: usize,

    /// Time a cached file, or a path found missing, is trusted without a
    /// `stat` of its path (0s: every request checks, so a change is seen at
    /// once; with --live, always 0s)
    #[arg(long, value_name = "TIME", default_value = "0s", value_parser = duration, help_heading = "Caching")]
    pub file_cache_valid: Duration,

    /// Smallest file compressed on the fly, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_COMPRESS_MIN, help_heading = "Caching")]
    pub compress_min: u64,

    /// Largest file compressed on the fly, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_COMPRESS_MAX, help_heading = "Caching")]
    pub compress_max: u64,

    /// Bytes of compressed copies kept in memory
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_COMPRESS_CACHE, help_heading = "Caching")]
    pub compress_cache: usize,

    /// Take the client address and scheme from Forwarded or
    /// X-Forwarded-For and X-Forwarded-Proto, from peers in CIDR only
    /// (repeatable)
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = crate::forwarded::parse_net, help_heading = "Access")]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Allow clients in CIDR (repeatable; with --deny and --access, in the
    /// order given, the first match deciding; a client no rule matches is
    /// allowed, unless every rule is an allow). Refused with 403, or closed
    /// before any byte or TLS handshake when every site denies it
    #[arg(long, value_name = "CIDR", value_parser = crate::forwarded::parse_net, help_heading = ABUSE)]
    pub allow: Vec<ipnet::IpNet>,

    /// Deny clients in CIDR (repeatable; see --allow)
    #[arg(long, value_name = "CIDR", value_parser = crate::forwarded::parse_net, help_heading = ABUSE)]
    pub deny: Vec<ipnet::IpNet>,

    /// Allow or deny as one rule: `allow CIDR`, `deny CIDR`, `allow all`,
    /// `deny all` (repeatable; in order with --allow and --deny)
    #[arg(long, value_name = "RULE", value_parser = crate::config::access::AccessRule::parse, help_heading = ABUSE)]
    pub access: Vec<crate::config::access::AccessRule>,

    /// Requests per client: N/s or N/m (10/s, 600/m); past it, 429 Too
    /// Many Requests with Retry-After. `[[limits]]` in the file set rates
    /// by path glob
    #[arg(long, value_name = "RATE", value_parser = crate::config::rate::Rate::parse, help_heading = ABUSE)]
    pub rate_limit: Option<crate::config::rate::Rate>,

    /// Requests above --rate-limit served at once before refusing
    #[arg(long, value_name = "N", default_value_t = 0, help_heading = ABUSE)]
    pub rate_burst: u32,

    /// Make the --rate-burst requests wait their turn at the rate instead
    /// of serving them at once
    #[arg(long, help_heading = ABUSE)]
    pub rate_delay: bool,

    /// Connections open at once per client; more are answered 429 and
    /// closed
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = ABUSE)]
    pub conn_limit: Option<u32>,

    /// HTTP/2 and HTTP/3 streams in flight per client, over all its
    /// connections; more are refused (REFUSED_STREAM)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), help_heading = ABUSE)]
    pub stream_limit: Option<u32>,

    /// Bytes per second for each response body (64k, 1m)
    #[arg(long, value_name = "BYTES", value_parser = crate::config::rate::byte_size, help_heading = ABUSE)]
    pub limit_rate: Option<u64>,

    /// Bytes of each response body sent at full speed before --limit-rate
    #[arg(long, value_name = "BYTES", default_value = "0", value_parser = crate::config::rate::byte_size, help_heading = ABUSE)]
    pub limit_rate_after: u64,

    /// Log and count what the limits would refuse or delay, and serve it
    #[arg(long, help_heading = ABUSE)]
    pub limit_dry_run: bool,

    /// IPv6 clients are counted by this prefix length, so that one host
    /// cannot rotate through its addresses
    #[arg(long, value_name = "N", default_value_t = crate::config::rate::DEFAULT_IPV6_PREFIX, value_parser = clap::value_parser!(u8).range(1..=128), help_heading = ABUSE)]
    pub limit_ipv6_prefix: u8,

    /// Bytes of the table of per-client counts (about 33 bytes a client);
    /// when full, clients with nothing counted go first
    #[arg(long, value_name = "BYTES", default_value = "1m", value_parser = table_size, help_heading = ABUSE)]
    pub limit_table: usize,

    /// Answer CORS requests from ORIGIN (repeatable; no value: any origin)
    #[arg(long, value_name = "ORIGIN", num_args = 0..=1, default_missing_value = "*", help_heading = "Access")]
    pub cors: Vec<String>,

    /// Require Basic authentication as USER with a password hashed by
    /// `henaserver hash-password` (repeatable)
    #[arg(long = "auth", value_name = "USER:HASH", value_parser = auth_user, help_heading = "Access")]
    pub users: Vec<User>,

    /// Do not write the access log
    #[arg(short, long, help_heading = "Logging")]
    pub quiet: bool,

    /// Write the access log to FILE instead of stdout (reopened on SIGHUP)
    #[arg(long, value_name = "FILE", help_heading = "Logging")]
    pub access_log: Option<PathBuf>,

    /// Access log format
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = config::Format::Combined, help_heading = "Logging")]
    pub log_format: config::Format,

    /// Level of server messages on stderr: error, warn, info, debug, trace
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        help_heading = "Logging"
    )]
    pub log_level: String,

    /// Longest request line, in bytes (longer: 414)
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_MAX_REQUEST_LINE, value_parser = positive, help_heading = "Limits and timeouts")]
    pub max_request_line: usize,

    /// Largest header section, in bytes (larger: 431)
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_MAX_HEADER_BYTES, value_parser = positive, help_heading = "Limits and timeouts")]
    pub max_header_bytes: usize,

    /// Most header fields in a request (more: 431)
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_HEADERS, value_parser = positive, help_heading = "Limits and timeouts")]
    pub max_headers: usize,

    /// Largest request body read and discarded, in bytes (larger: 413)
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_MAX_BODY, help_heading = "Limits and timeouts")]
    pub max_body: u64,

    /// Most connections served at once; more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CONNECTIONS, value_parser = positive, help_heading = "Limits and timeouts")]
    pub max_connections: usize,

    /// Most ranges served from one request (more: the whole file)
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_RANGES, help_heading = "Limits and timeouts")]
    pub max_ranges: usize,

    /// Time to deliver a whole request head, from its first byte
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub header_timeout: Duration,

    /// Time an idle connection is kept open between requests
    #[arg(long, value_name = "TIME", default_value = "15s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub keepalive_timeout: Duration,

    /// Time a response may make no progress before the client is dropped
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub send_timeout: Duration,

    /// Time a request body may make no progress before the client is dropped
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub body_timeout: Duration,

    /// Time a closing connection reads what the client still sends
    #[arg(long, value_name = "TIME", default_value = "2s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub linger_timeout: Duration,

    /// Time responses in flight get to finish on SIGINT or SIGTERM
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub shutdown_grace: Duration,

    /// Streams one HTTP/2 or HTTP/3 connection may have open at once
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_CONCURRENT_STREAMS, value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits and timeouts")]
    pub max_concurrent_streams: u32,

    /// Time an HTTP/3 (QUIC) connection may be silent before it is closed
    #[arg(long, value_name = "TIME", default_value = "30s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub quic_idle_timeout: Duration,

    /// Bytes a client may send on one HTTP/3 stream ahead of the server
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_QUIC_STREAM_WINDOW, value_parser = clap::value_parser!(u32).range(1024..), help_heading = "Limits and timeouts")]
    pub quic_stream_window: u32,

    /// Bytes a client may send on one HTTP/3 connection ahead of the server
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_QUIC_CONNECTION_WINDOW, value_parser = clap::value_parser!(u32).range(1024..), help_heading = "Limits and timeouts")]
    pub quic_connection_window: u32,

    /// Largest UDP payload the HTTP/3 endpoint accepts (1200 to 65527)
    #[arg(long, value_name = "BYTES", default_value_t = limits::DEFAULT_QUIC_MAX_UDP_PAYLOAD, value_parser = clap::value_parser!(u16).range(1200..=65527), help_heading = "Limits and timeouts")]
    pub quic_max_udp_payload: u16,

    /// QUIC handshakes in progress above which new clients must first
    /// prove their address with a Retry
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_QUIC_RETRY_ABOVE, help_heading = "Limits and timeouts")]
    pub quic_retry_above: usize,

    /// Time a client has to finish the TLS handshake
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = duration, help_heading = "Limits and timeouts")]
    pub tls_handshake_timeout: Duration,

    /// Write every request and response head received and sent into DIR,
    /// one file each, named in order
    #[arg(long, value_name = "DIR", help_heading = "The window into HTTP")]
    pub dump: Option<PathBuf>,

    /// Most files --dump writes before it stops
    #[arg(long, value_name = "N", default_value_t = config::limits::DEFAULT_DUMP_MAX, help_heading = "The window into HTTP")]
    pub dump_max: u64,

    /// Let --dump write Authorization, Proxy-Authorization and Cookie values
    #[arg(long, help_heading = "The window into HTTP")]
    pub dump_secrets: bool,

    /// Answer every request with the raw HTTP response in FILE (no files
    /// are served)
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "echo",
        help_heading = "The window into HTTP"
    )]
    pub reply: Option<PathBuf>,

    /// Answer every request with the request itself, as text
    #[arg(long, help_heading = "The window into HTTP")]
    pub echo: bool,

    /// Reload pages when a file under the root changes (stylesheets are
    /// swapped in place)
    #[arg(long, help_heading = "Development")]
    pub live: bool,

    /// Open the site in the default browser once listening
    #[arg(long, help_heading = "Development")]
    pub open: bool,

    /// Show each exchange, as received and as sent, at /.henaserver/inspect
    /// (to this machine only)
    #[arg(long, help_heading = "Development")]
    pub inspect: bool,

    /// Let other hosts open the inspector
    #[arg(long, requires = "inspect", help_heading = "Development")]
    pub inspect_public: bool,

    /// Add Henaserver-Explain to every response: how the server reached
    /// it (and an explain field to JSON log lines)
    #[arg(long, help_heading = "Development")]
    pub explain: bool,

    /// Read options from a TOML file (keys are the long flags' names);
    /// HENASERVER_<OPTION> variables override it, flags override both
    #[arg(long, value_name = "FILE", help_heading = "Operations")]
    pub config: Option<PathBuf>,

    /// Print the resolved configuration as TOML and exit
    #[arg(long, help_heading = "Operations")]
    pub print_config: bool,

    /// Serve /healthz, /readyz and /metrics on a listener of their own at
    /// ADDR:PORT (loopback only unless --admin-public)
    #[arg(long, value_name = "ADDR:PORT", help_heading = "Operations")]
    pub admin: Option<String>,

    /// Let --admin listen on an address other hosts can reach
    #[arg(long, requires = "admin", help_heading = "Operations")]
    pub admin_public: bool,

    /// After binding, run as user NAME (and GROUP, else the user's own),
    /// with no supplementary groups (Linux and FreeBSD)
    #[arg(long, value_name = "NAME[:GROUP]", help_heading = "Operations")]
    pub user: Option<String>,

    /// Write the process id to FILE once listening (removed on exit)
    #[arg(long, value_name = "FILE", help_heading = "Operations")]
    pub pid_file: Option<PathBuf>,
}

/// Tools that run instead of the server.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send raw bytes to a server and print its raw response
    Raw(RawArgs),
    /// Read a password on standard input and print its argon2 hash, for
    /// --auth USER:HASH
    HashPassword,
    /// Print a shell completion script
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    Man,
    /// Ask a server's health endpoint; exit 0 when it answers 200, else 1
    /// (for a container's HEALTHCHECK)
    Health {
        /// The URL to ask
        #[arg(default_value = "http://127.0.0.1:9180/healthz")]
        url: String,
    },
}

/// `henaserver raw`.
#[derive(Debug, Clone, clap::Args)]
pub struct RawArgs {
    /// Where to send: HOST:PORT, [V6]:PORT or http://HOST:PORT/
    pub addr: String,

    /// File holding the request bytes [default: standard input]
    pub file: Option<PathBuf>,

    /// Send the bytes exactly as they are (no LF to CRLF in the head)
    #[arg(long)]
    pub binary: bool,

    /// Write the response to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Time to connect, and to wait for each piece of the answer
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = duration)]
    pub timeout: Duration,
}

/// A whole number of at least 1.
fn acme_domain(s: &str) -> Result<String, String> {
    let name = s.trim_end_matches('.').to_ascii_lowercase();
    let ok = name.contains('.') || name == "localhost";
    if ok && config::is_host_name(&name, false) && name.parse::<std::net::IpAddr>().is_err() {
        Ok(name)
    } else {
        Err(format!(
            "{s:?} is not a domain name (wildcards need DNS-01, which henaserver does not answer)"
        ))
    }
}

fn octal_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not a mode in octal, such as 0660"))
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Parses `Name: value` for --header.
fn header_field(s: &str) -> Result<(String, String), String> {
    let (name, value) = s.split_once(':').ok_or("expected 'Name: value'")?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() || !name.bytes().all(crate::exchange::is_tchar) {
        return Err(format!("{name:?} is not a field name"));
    }
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err("the value has control characters".into());
    }
    Ok((name.to_string(), value.to_string()))
}

/// Parses `404=404.html` for --error-page.
fn error_page(s: &str) -> Result<(u16, String), String> {
    let (status, file) = s
        .split_once('=')
        .ok_or("expected STATUS=FILE, as 404=404.html")?;
    let status: u16 = status
        .trim()
        .parse()
        .map_err(|_| format!("{status:?} is not a status code"))?;
    if !(400..=599).contains(&status) {
        return Err(format!("{status} is not an error status (400 to 599)"));
    }
    let file = file.trim().trim_start_matches('/');
    if file.is_empty() {
        return Err("the file name is empty".into());
    }
    Ok((status, file.to_string()))
}

fn auth_user(s: &str) -> Result<User, String> {
    User::parse(s)
}

/// A preference order of content codings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codings(pub Vec<Coding>);

/// Parses `br,zstd,gzip`: known codings, each once.
fn codings(s: &str) -> Result<Codings, String> {
    let mut list = Vec::new();
    for token in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let coding = Coding::from_token(token)
            .ok_or_else(|| format!("unknown coding {token:?} (use br, zstd, gzip)"))?;
        if list.contains(&coding) {
            return Err(format!("{token} is listed twice"));
        }
        list.push(coding);
    }
    Ok(Codings(list))
}

/// Parses `10s`, `500ms`, `1m30s`, or a plain number of seconds.
fn duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if (0.0..1e9).contains(&secs) {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err("must be a number of seconds from 0".into());
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 10s, 500ms, 2m)"))
}

impl Args {
    /// Checks the arguments and resolves them into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let mode = match (&self.reply, self.echo) {
            (Some(file), _) => Mode::Reply(file.clone()),
            (None, true) => Mode::Echo,
            (None, false) => Mode::Files,
        };
        if mode != Mode::Files && self.root.is_some() {
            return Err(ConfigError::Invalid(
                "--reply and --echo serve no files: drop ROOT".into(),
            ));
        }
        let root = config::check_root(self.root.unwrap_or_else(|| PathBuf::from(".")))?;
        let dump = self.dump.map(|dir| DumpSettings {
            dir,
            max: self.dump_max,
            secrets: self.dump_secrets,
        });
        let limits = Limits {
            max_request_line: self.max_request_line,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_body: self.max_body,
            defer_accept: self.defer_accept,
            header_timeout: self.header_timeout,
            keepalive_timeout: self.keepalive_timeout,
            send_timeout: self.send_timeout,
            body_timeout: self.body_timeout,
            linger_timeout: self.linger_timeout,
            tls_handshake_timeout: self.tls_handshake_timeout,
            max_concurrent_streams: self.max_concurrent_streams,
            quic_idle_timeout: self.quic_idle_timeout,
            quic_stream_window: self.quic_stream_window,
            quic_connection_window: self.quic_connection_window,
            quic_max_udp_payload: self.quic_max_udp_payload,
            quic_retry_above: self.quic_retry_above,
            shutdown_grace: self.shutdown_grace,
            max_connections: self.max_connections,
            max_ranges: self.max_ranges,
            cache_entries: self.cache_entries,
            cache_bytes: self.cache_bytes,
            cache_valid: if self.live {
                Duration::ZERO
            } else {
                self.file_cache_valid
            },
        };
        let positive = [
            ("--max-request-line", limits.max_request_line),
            ("--max-header-bytes", limits.max_header_bytes),
            ("--max-headers", limits.max_headers),
            ("--max-connections", limits.max_connections),
        ];
        for (flag, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{flag} must be at least 1")));
            }
        }
        if limits.max_request_line > u32::MAX as usize / 4
            || limits.max_header_bytes > u32::MAX as usize / 4
        {
            return Err(ConfigError::Invalid(
                "request head limits must stay below 1 GiB".into(),
            ));
        }
        if limits.max_connections > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(ConfigError::Invalid(
                "--max-connections is too large".into(),
            ));
        }
        if self.index.is_empty() || self.index.contains('/') || self.index.starts_with('.') {
            return Err(ConfigError::Invalid(format!(
                "--index {:?} must be a plain file name, not hidden",
                self.index
            )));
        }
        if self.compress_min > self.compress_max {
            return Err(ConfigError::Invalid(format!(
                "--compress-min {} is larger than --compress-max {}",
                self.compress_min, self.compress_max
            )));
        }
        let mut listen = Vec::new();
        let mut listen_unix = Vec::new();
        for bind in &self.bind {
            if let Some(path) = bind.strip_prefix("unix:") {
                if !crate::platform::net::UNIX {
                    return Err(ConfigError::Invalid(format!(
                        "--bind {bind}: Unix sockets are Unix-only, not served on this platform"
                    )));
                }
                if path.is_empty() {
                    return Err(ConfigError::Invalid(
                        "--bind unix: needs a path: unix:/run/henaserver.sock".into(),
                    ));
                }
                let path = PathBuf::from(path);
                if !listen_unix.contains(&path) {
                    listen_unix.push(path);
                }
                continue;
            }
            for addr in config::resolve_bind(bind, self.port)? {
                if !listen.contains(&addr) {
                    listen.push(addr);
                }
            }
        }
        if self.tls_cert.len() != self.tls_key.len() {
            return Err(ConfigError::Invalid(format!(
                "--tls-cert and --tls-key come in pairs: {} certificates, {} keys",
                self.tls_cert.len(),
                self.tls_key.len()
            )));
        }
        let https = !self.tls_cert.is_empty() || self.tls_self_signed || !self.acme.is_empty();
        let tls = https.then(|| TlsSettings {
            pairs: self.tls_cert.into_iter().zip(self.tls_key).collect(),
            self_signed: self.tls_self_signed,
            names: self.tls_name,
            keylog: self.tls_keylog.clone(),
            managed: self.acme.clone(),
            kernel: !self.no_ktls,
        });
        for (flag, given) in [
            ("--acme-email", self.acme_email.is_some()),
            ("--acme-directory", self.acme_directory.is_some()),
            ("--acme-staging", self.acme_staging),
            ("--acme-ca-root", self.acme_ca_root.is_some()),
            ("--acme-dir", self.acme_dir.is_some()),
        ] {
            if given && self.acme.is_empty() {
                return Err(ConfigError::Invalid(format!("{flag} needs --acme DOMAIN")));
            }
        }
        if self.acme_challenge == AcmeChallenge::Http01
            && !self.acme.is_empty()
            && self.redirect_http.is_none()
        {
            return Err(ConfigError::Invalid(
                "--acme-challenge http-01 needs a plain listener: give --redirect-http [ADDR:]PORT"
                    .into(),
            ));
        }
        if let Some(email) = &self.acme_email {
            if !email.contains('@')
                || email
                    .bytes()
                    .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                return Err(ConfigError::Invalid(format!(
                    "--acme-email {email:?} is not an address"
                )));
            }
        }
        let acme = (!self.acme.is_empty()).then(|| AcmeSettings {
            domains: self.acme.clone(),
            email: self.acme_email.clone(),
            directory: match (&self.acme_directory, self.acme_staging) {
                (Some(url), _) => url.clone(),
                (None, true) => config::LETS_ENCRYPT_STAGING.to_string(),
                (None, false) => config::LETS_ENCRYPT.to_string(),
            },
            ca_root: self.acme_ca_root.clone(),
            dir: self
                .acme_dir
                .clone()
                .unwrap_or_else(config::default_acme_dir),
            challenge: self.acme_challenge,
            retry: self.acme_retry,
        });
        for (flag, given) in [
            ("--redirect-http", self.redirect_http.is_some()),
            ("--hsts", self.hsts.is_some()),
            ("--tls-keylog", self.tls_keylog.is_some()),
            ("--http3", self.http3),
            ("--http3-0rtt", self.http3_0rtt),
            ("--quic-no-offload", self.quic_no_offload),
        ] {
            if given && !https {
                return Err(ConfigError::Invalid(format!(
                    "{flag} needs HTTPS: give --tls-cert and --tls-key, or --tls-self-signed"
                )));
            }
        }
        for (flag, given) in [
            ("--http3-0rtt", self.http3_0rtt),
            ("--quic-no-offload", self.quic_no_offload),
        ] {
            if given && !self.http3 {
                return Err(ConfigError::Invalid(format!("{flag} needs --http3")));
            }
        }
        for (flag, given, needs, present) in [
            (
                "--rate-burst",
                self.rate_burst > 0,
                "--rate-limit",
                self.rate_limit.is_some(),
            ),
            (
                "--rate-delay",
                self.rate_delay,
                "--rate-limit",
                self.rate_limit.is_some(),
            ),
            (
                "--limit-rate-after",
                self.limit_rate_after > 0,
                "--limit-rate",
                self.limit_rate.is_some(),
            ),
        ] {
            if given && !present {
                return Err(ConfigError::Invalid(format!("{flag} needs {needs}")));
            }
        }
        if self.limit_rate == Some(0) {
            return Err(ConfigError::Invalid(
                "--limit-rate 0: give a rate above 0".into(),
            ));
        }
        let redirect_http = match &self.redirect_http {
            None => Vec::new(),
            Some(spec) => redirect_addresses(spec, &listen)?,
        };
        let admin = match &self.admin {
            None => None,
            Some(spec) => {
                let addrs = config::resolve_bind(spec, config::DEFAULT_ADMIN_PORT)?;
                let addr = addrs[0];
                if !addr.ip().is_loopback() && !self.admin_public {
                    return Err(ConfigError::Invalid(format!(
                        "--admin {spec} is not a loopback address: add --admin-public to serve metrics to other hosts"
                    )));
                }
                Some(addr)
            }
        };
        let hsts = self.hsts.map(|max_age| Hsts {
            max_age,
            include_subdomains: self.hsts_include_subdomains,
            preload: self.hsts_preload,
        });
        let cache_control = match self.cache_control {
            Some(v) if v.is_empty() || v.bytes().any(|b| b.is_ascii_control()) => {
                return Err(ConfigError::Invalid(format!(
                    "--cache-control {v:?} must be a non-empty field value"
                )))
            }
            other => other,
        };
        Ok(Config {
            root,
            listen,
            listen_unix,
            socket_mode: self.socket_mode,
            index: self.index,
            threads: self
                .threads
                .map_or_else(config::default_threads, usize::from),
            access_log: !self.quiet,
            access_log_file: self.access_log,
            log_format: self.log_format,
            cache_control,
            compression: Compression {
                enabled: !self.no_compress,
                min: self.compress_min,
                max: self.compress_max,
                cache_bytes: self.compress_cache,
            },
            preference: self.encodings.0,
            sendfile: !self.no_sendfile,
            admin,
            pid_file: self.pid_file,
            trusted_proxies: self.trusted_proxies,
            redirects: Vec::new(),
            rewrites: Vec::new(),
            user: match &self.user {
                Some(spec) => Some(crate::privileges::resolve(spec).map_err(ConfigError::Invalid)?),
                None => None,
            },
            http2: !self.no_http2,
            http3: self.http3,
            http3_0rtt: self.http3_0rtt,
            quic_no_offload: self.quic_no_offload,
            access: self.access,
            rate_limits: self
                .rate_limit
                .map(|rate| crate::config::rate::RateLimit {
                    name: std::sync::Arc::from("rate-limit"),
                    glob: None,
                    glob_text: None,
                    rate: Some(rate),
                    burst: self.rate_burst,
                    delay: self.rate_delay,
                    access: Vec::new(),
                })
                .into_iter()
                .collect(),
            bandwidth: self.limit_rate.map(|rate| crate::config::rate::Bandwidth {
                rate,
                after: self.limit_rate_after,
            }),
            client_limits: crate::config::rate::ClientLimits {
                connections: self.conn_limit,
                streams: self.stream_limit,
                dry_run: self.limit_dry_run,
                ipv6_prefix: self.limit_ipv6_prefix,
                table_bytes: self.limit_table,
            },
            tls,
            redirect_http,
            hsts,
            mode,
            dump,
            headers: self.headers,
            cors: self.cors,
            listing: self.listing,
            fallback: self.fallback.map(|f| f.trim_start_matches('/').to_string()),
            error_pages: self.error_pages,
            clean_urls: self.clean_urls,
            users: self.users,
            rules: Vec::new(),
            limits,
            sites: Vec::new(),
            acme,
            dev: config::DevSettings {
                live: self.live,
                open: self.open,
                inspect: self.inspect,
                inspect_public: self.inspect_public,
                explain: self.explain,
                secrets: self.dump_secrets,
            },
        })
    }
}

/// `--limit-table`: a byte count that holds one bucket at least.
fn table_size(text: &str) -> Result<usize, String> {
    let n = crate::config::rate::byte_size(text)?;
    let min = crate::config::rate::MIN_LIMIT_TABLE;
    match usize::try_from(n) {
        Ok(n) if n >= min => Ok(n),
        _ => Err(format!("{text:?}: at least {min} bytes")),
    }
}

/// The addresses of `--redirect-http [ADDR:]PORT`: a bare port is taken
/// on every address the server listens on.
fn redirect_addresses(
    spec: &str,
    listen: &[std::net::SocketAddr],
) -> Result<Vec<std::net::SocketAddr>, ConfigError> {
    let wrong = || {
        ConfigError::Invalid(format!(
            "--redirect-http {spec:?}: expected PORT or ADDR:PORT"
        ))
    };
    if let Ok(port) = spec.parse::<u16>() {
        let mut addrs: Vec<std::net::SocketAddr> = listen
            .iter()
            .map(|a| std::net::SocketAddr::new(a.ip(), port))
            .collect();
        addrs.dedup();
        return Ok(addrs);
    }
    if !spec.contains(':') {
        return Err(wrong());
    }
    config::resolve_bind(spec, 80).map_err(|_| wrong())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1m"), Ok(Duration::from_secs(60)));
        assert!(duration("-1").is_err());
        assert!(duration("soon").is_err());
    }

    #[test]
    fn defaults_match_the_constants() {
        let args = Args::try_parse_from(["henaserver"]).unwrap();
        let config = args.into_config().unwrap();
        assert_eq!(config.limits, Limits::default());
        assert_eq!(config.listen, vec!["127.0.0.1:8080".parse().unwrap()]);
        assert_eq!(config.index, "index.html");
        assert_eq!(config.socket_mode, config::DEFAULT_SOCKET_MODE);
    }

    #[test]
    fn impossible_values() {
        let err = |v: &[&str]| {
            let mut argv = vec!["henaserver"];
            argv.extend_from_slice(v);
            Args::try_parse_from(argv)
                .unwrap()
                .into_config()
                .unwrap_err()
                .to_string()
        };
        assert!(Args::try_parse_from(["henaserver", "--max-headers", "0"]).is_err());
        assert!(err(&["--index", "../x"]).contains("--index"));
        assert!(err(&["--compress-min", "10", "--compress-max", "5"]).contains("--compress-min"));
    }
}
