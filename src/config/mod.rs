//! The resolved configuration of a server: what the command line asked
//! for, checked, with the root canonicalized and the addresses resolved.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

pub mod access;
pub(crate) mod cli;
pub mod limits;
pub mod rate;
mod routes;
pub(crate) mod settings;
mod site;

pub use crate::exchange::Coding;
use crate::exchange::DEFAULT_PREFERENCE;
pub use crate::privileges::RunAs;
pub use limits::Limits;
pub use routes::{Pattern, Route};
pub use site::{Compression, Mode, Rule, Site, User};

/// Where the certificates of HTTPS come from.
///
/// ```
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// config.tls = Some(henaserver::config::TlsSettings {
///     self_signed: true,
///     names: vec!["dev.test".into()],
///     ..Default::default()
/// });
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate chain and key files, in PEM; the first is the default.
    pub pairs: Vec<(PathBuf, PathBuf)>,
    /// Make a certificate for local names (`--tls-self-signed`).
    pub self_signed: bool,
    /// More names for the self-signed certificate.
    pub names: Vec<String>,
    /// Where TLS secrets are written for Wireshark (`--tls-keylog`).
    pub keylog: Option<PathBuf>,
    /// Domains whose certificates come from an ACME CA (`--acme`).
    pub managed: Vec<String>,
    /// Hand sessions to the kernel after the handshake where it offers
    /// kernel TLS (unless `--no-ktls`).
    pub kernel: bool,
}

/// How access log lines are written.
///
/// ```
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// config.log_format = henaserver::config::Format::Json;
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Common Log Format, with the time taken appended.
    Common,
    /// Combined Log Format (referer and user agent), with the time taken.
    #[default]
    Combined,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The format as a number, for a value changed by every worker at once.
    pub(crate) fn code(self) -> u8 {
        match self {
            Format::Common => 0,
            Format::Combined => 1,
            Format::Json => 2,
        }
    }

    /// The format a [`Format::code`] stands for.
    pub(crate) fn from_code(code: u8) -> Format {
        match code {
            0 => Format::Common,
            2 => Format::Json,
            _ => Format::Combined,
        }
    }
}

/// Let's Encrypt's production ACME directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging ACME directory.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Which ACME challenge is answered.
///
/// ```
/// use henaserver::config::AcmeChallenge;
/// let challenge = AcmeChallenge::Http01;
/// assert_ne!(challenge, AcmeChallenge::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AcmeChallenge {
    /// TLS-ALPN-01 when the CA offers it, else HTTP-01 when a plain
    /// listener exists.
    Auto,
    /// HTTP-01, on the `--redirect-http` listener.
    #[value(name = "http-01")]
    Http01,
    /// TLS-ALPN-01, on the HTTPS listeners.
    #[value(name = "tls-alpn-01")]
    TlsAlpn01,
}

/// Certificates from an ACME CA (`--acme`).
///
/// ```
/// use henaserver::config::{AcmeChallenge, AcmeSettings};
/// let acme = AcmeSettings {
///     domains: vec!["example.com".into()],
///     email: Some("ops@example.com".into()),
///     directory: "https://acme-staging-v02.api.letsencrypt.org/directory".into(),
///     ca_root: None,
///     dir: henaserver::config::default_acme_dir(),
///     challenge: AcmeChallenge::Auto,
///     retry: std::time::Duration::from_secs(60),
/// };
/// assert_eq!(acme.domains.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The domains, each ordered on its own.
    pub domains: Vec<String>,
    /// Contact address for the account.
    pub email: Option<String>,
    /// The CA's directory URL.
    pub directory: String,
    /// A root to trust for the CA's own HTTPS.
    pub ca_root: Option<PathBuf>,
    /// Where the account, certificates and keys are kept.
    pub dir: PathBuf,
    /// Which challenge is answered.
    pub challenge: AcmeChallenge,
    /// First wait after a failed order.
    pub retry: std::time::Duration,
}

/// Whether `name` (lower case, no trailing dot) is a DNS host name:
/// labels of 1 to 63 letters, digits and hyphens, not starting with a
/// hyphen; with `underscore`, underscores too, as some internal names
/// have them.
///
/// ```
/// use henaserver::config::is_host_name;
/// assert!(is_host_name("example.com", false));
/// assert!(!is_host_name("exa mple.com", false));
/// ```
pub fn is_host_name(name: &str, underscore: bool) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || (underscore && b == b'_'))
        })
}

/// Where ACME state is kept when `--acme-dir` names no place:
/// `henaserver/acme` in the user's data directory: `$XDG_DATA_HOME`, else
/// `~/.local/share` (macOS: `~/Library/Application Support`; Windows:
/// `%LOCALAPPDATA%`).
///
/// ```
/// let dir = henaserver::config::default_acme_dir();
/// assert!(dir.ends_with("acme"));
/// ```
pub fn default_acme_dir() -> PathBuf {
    crate::platform::dirs::data_home()
        .join("henaserver")
        .join("acme")
}

/// Strict-Transport-Security (RFC 6797).
///
/// ```
/// let hsts = henaserver::config::Hsts { max_age: 31536000, include_subdomains: true, preload: false };
/// assert_eq!(hsts.value(), "max-age=31536000; includeSubDomains");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hsts {
    /// Seconds a browser keeps to HTTPS.
    pub max_age: u64,
    /// The policy covers subdomains too.
    pub include_subdomains: bool,
    /// Consent to being preloaded in browsers.
    pub preload: bool,
}

impl Hsts {
    /// The field value.
    ///
    /// ```
    /// let hsts = henaserver::config::Hsts { max_age: 60, include_subdomains: false, preload: true };
    /// assert_eq!(hsts.value(), "max-age=60; preload");
    /// ```
    pub fn value(&self) -> String {
        let mut v = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        v
    }
}

/// The admin listener's port when `--admin` names none.
pub const DEFAULT_ADMIN_PORT: u16 = 9180;
/// Permissions of a Unix socket when `--socket-mode` gives none: the
/// server's user and group may connect, others may not.
pub const DEFAULT_SOCKET_MODE: u32 = 0o660;
/// Port listened on when none is given.
pub const DEFAULT_PORT: u16 = 8080;
/// Address listened on when none is given: this machine only.
pub const DEFAULT_BIND: &str = "127.0.0.1";
/// File served for a directory.
pub const DEFAULT_INDEX: &str = "index.html";

/// Everything a [`crate::Server`] needs to start: plain data, built in
/// code as well as from a command line.
///
/// ```no_run
/// let mut config = henaserver::Config::new("static", 8080)?;
/// config.listing = true;
/// config.cache_control = Some("public, max-age=60".into());
/// config.limits.max_connections = 1024;
/// config.headers.push(("X-Frame-Options".into(), "DENY".into()));
/// let server = henaserver::Server::bind(config)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    /// The document root, canonical.
    pub root: PathBuf,
    /// Addresses to listen on; port 0 picks a free port.
    pub listen: Vec<SocketAddr>,
    /// Unix sockets to listen on (`--bind unix:PATH`).
    pub listen_unix: Vec<PathBuf>,
    /// Their permissions (`--socket-mode`).
    pub socket_mode: u32,
    /// File name served for a directory.
    pub index: String,
    /// Worker threads; each runs its own event loop. The first is the
    /// thread that calls `Server::run`, beside the signals.
    pub threads: usize,
    /// Whether the access log is written at all.
    pub access_log: bool,
    /// Where it is written: stdout, or this file.
    pub access_log_file: Option<PathBuf>,
    /// How its lines look.
    pub log_format: Format,
    /// A Cache-Control value for every file response.
    pub cache_control: Option<String>,
    /// Compression on the fly.
    pub compression: Compression,
    /// Codings in the order preferred when the client likes them equally.
    pub preference: Vec<Coding>,
    /// What the server answers with: files, a reply file, or echoes.
    pub mode: Mode,
    /// Where exchanges are dumped, if anywhere.
    pub dump: Option<DumpSettings>,
    /// Fields added to every response (`--header`).
    pub headers: Vec<(String, String)>,
    /// Origins allowed by `--cors` (`*` for any).
    pub cors: Vec<String>,
    /// List directories without an index file.
    pub listing: bool,
    /// The file served with 200 for unknown paths that take HTML.
    pub fallback: Option<String>,
    /// Custom pages for error statuses, relative to the root.
    pub error_pages: Vec<(u16, String)>,
    /// `/about` serves `about.html`, and `/about.html` redirects to `/about`.
    pub clean_urls: bool,
    /// Whether file bodies go out with `sendfile(2)` (else through a
    /// buffer, as `--no-sendfile` asks).
    pub sendfile: bool,
    /// Whether HTTP/2 is spoken (by ALPN over TLS, by prior knowledge in
    /// cleartext).
    pub http2: bool,
    /// Whether HTTP/3 is spoken, over QUIC beside each HTTPS listener.
    pub http3: bool,
    /// Whether HTTP/3 takes GET and HEAD in 0-RTT early data.
    pub http3_0rtt: bool,
    /// Whether HTTP/3's UDP goes without segmentation offload.
    pub quic_no_offload: bool,
    /// Who the site serves (`--allow`, `--deny`, `--access`), in order.
    pub access: Vec<access::AccessRule>,
    /// Request rates per client (`--rate-limit` first, then `[[limits]]`).
    pub rate_limits: Vec<rate::RateLimit>,
    /// Bandwidth per response (`--limit-rate`).
    pub bandwidth: Option<rate::Bandwidth>,
    /// Connections and streams per client, and the table they are
    /// counted in.
    pub client_limits: rate::ClientLimits,
    /// Where the admin listener (health, readiness, metrics) listens.
    pub admin: Option<SocketAddr>,
    /// Where the process id is written.
    pub pid_file: Option<PathBuf>,
    /// Peers whose Forwarded and X-Forwarded-* fields are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `[[redirects]]` from the configuration file, in the order written.
    pub redirects: Vec<Route>,
    /// `[[rewrites]]` from the configuration file, in the order written.
    pub rewrites: Vec<Route>,
    /// Who to run as once the sockets are bound.
    pub user: Option<RunAs>,
    /// HTTPS, when the listeners speak it.
    pub tls: Option<TlsSettings>,
    /// Plain listeners that redirect every request to HTTPS.
    pub redirect_http: Vec<SocketAddr>,
    /// Strict-Transport-Security on HTTPS responses.
    pub hsts: Option<Hsts>,
    /// Users of Basic authentication; none: no authentication.
    pub users: Vec<User>,
    /// Rules from the configuration file.
    pub rules: Vec<Rule>,
    /// Limits and timeouts.
    pub limits: Limits,
    /// `[[sites]]` from the configuration file: each served for its host
    /// names; none means this configuration's root answers every request.
    pub sites: Vec<VirtualHost>,
    /// Certificates from an ACME CA.
    pub acme: Option<AcmeSettings>,
    /// Development mode.
    pub dev: DevSettings,
}

/// Development mode: live reload, the inspector, explanations.
///
/// ```
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// config.dev.live = true;
/// config.dev.explain = true;
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevSettings {
    /// `--live`.
    pub live: bool,
    /// `--open`.
    pub open: bool,
    /// `--inspect`.
    pub inspect: bool,
    /// `--inspect-public`.
    pub inspect_public: bool,
    /// `--explain`.
    pub explain: bool,
    /// `--dump-secrets`: the inspector shows secret fields too.
    pub secrets: bool,
}

/// One of several sites of a server (`[[sites]]`).
///
/// ```
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// let site = config.clone();
/// config.sites.push(henaserver::config::VirtualHost {
///     name: "blog".into(),
///     hosts: vec!["blog.example".into()],
///     default: false,
///     config: Box::new(site),
/// });
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct VirtualHost {
    /// The name the access log gives it: its first host, or `default`.
    pub name: String,
    /// Its host names (`example.com`, `*.example.org`), lower case.
    pub hosts: Vec<String>,
    /// Whether it answers for hosts no site names.
    pub default: bool,
    /// Its root and site options, the top level's where it sets none.
    pub config: Box<Config>,
}

impl Config {
    /// The certificate and key files of every site, the top level's
    /// first, each pair once.
    ///
    /// ```
    /// let config = henaserver::Config::new(std::env::temp_dir(), 0)?;
    /// assert!(config.certificate_pairs().is_empty());
    /// # Ok::<(), henaserver::ConfigError>(())
    /// ```
    pub fn certificate_pairs(&self) -> Vec<(PathBuf, PathBuf)> {
        let mut pairs: Vec<(PathBuf, PathBuf)> = Vec::new();
        let own = self.tls.iter().flat_map(|t| t.pairs.iter());
        let sites = self
            .sites
            .iter()
            .flat_map(|v| v.config.tls.iter().flat_map(|t| t.pairs.iter()));
        for pair in own.chain(sites) {
            if !pairs.contains(pair) {
                pairs.push(pair.clone());
            }
        }
        pairs
    }
}

/// `--dump`: where and how much.
///
/// ```
/// let mut config = henaserver::Config::new(std::env::temp_dir(), 0)?;
/// config.dump = Some(henaserver::config::DumpSettings {
///     dir: std::env::temp_dir().join("dump"),
///     max: 100,
///     secrets: false,
/// });
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSettings {
    /// The directory the files go to; created if missing.
    pub dir: PathBuf,
    /// Files written before dumping stops.
    pub max: u64,
    /// Whether Authorization, Proxy-Authorization and Cookie values are
    /// written as they are.
    pub secrets: bool,
}

/// A configuration that cannot be used, with what is wrong.
///
/// ```
/// let err = henaserver::Config::new("/no/such/root", 0).unwrap_err();
/// assert!(err.to_string().contains("/no/such/root"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The root is missing, unreadable or not a directory.
    Root(String),
    /// An option or a combination of options cannot be used.
    Invalid(String),
}

impl ConfigError {
    /// The line that says what is wrong.
    pub fn message(&self) -> &str {
        match self {
            ConfigError::Root(m) | ConfigError::Invalid(m) => m,
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// A configuration serving `root` on 127.0.0.1:`port` with defaults;
    /// port 0 picks a free port. The error names a root that is not a
    /// directory.
    ///
    /// ```
    /// let dir = std::env::temp_dir();
    /// let config = henaserver::Config::new(&dir, 0)?;
    /// assert_eq!(config.index, "index.html");
    /// assert!(henaserver::Config::new("/no/such/root", 0).is_err());
    /// # Ok::<(), henaserver::ConfigError>(())
    /// ```
    pub fn new(root: impl Into<PathBuf>, port: u16) -> Result<Config, ConfigError> {
        let root = check_root(root.into())?;
        Ok(Config {
            root,
            listen: resolve_bind(DEFAULT_BIND, port)?,
            listen_unix: Vec::new(),
            socket_mode: DEFAULT_SOCKET_MODE,
            index: DEFAULT_INDEX.to_string(),
            threads: default_threads(),
            access_log: true,
            access_log_file: None,
            log_format: Format::default(),
            cache_control: None,
            compression: default_compression(),
            preference: DEFAULT_PREFERENCE.to_vec(),
            mode: Mode::Files,
            dump: None,
            headers: Vec::new(),
            cors: Vec::new(),
            listing: false,
            fallback: None,
            error_pages: Vec::new(),
            clean_urls: false,
            sendfile: true,
            http2: true,
            http3: false,
            http3_0rtt: false,
            quic_no_offload: false,
            access: Vec::new(),
            rate_limits: Vec::new(),
            bandwidth: None,
            client_limits: rate::ClientLimits::default(),
            admin: None,
            pid_file: None,
            trusted_proxies: Vec::new(),
            redirects: Vec::new(),
            rewrites: Vec::new(),
            user: None,
            tls: None,
            redirect_http: Vec::new(),
            hsts: None,
            users: Vec::new(),
            rules: Vec::new(),
            limits: Limits::default(),
            sites: Vec::new(),
            acme: None,
            dev: DevSettings::default(),
        })
    }
}

/// Compression on the fly with the default limits: on.
///
/// ```
/// let c = henaserver::config::default_compression();
/// assert!(c.enabled && c.min < c.max);
/// ```
pub fn default_compression() -> Compression {
    Compression {
        enabled: true,
        min: limits::DEFAULT_COMPRESS_MIN,
        max: limits::DEFAULT_COMPRESS_MAX,
        cache_bytes: limits::DEFAULT_COMPRESS_CACHE,
    }
}

/// The number of cores this process may run on.
///
/// ```
/// assert!(henaserver::config::default_threads() >= 1);
/// ```
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Checks that `root` is a directory and makes it canonical.
///
/// ```
/// let root = henaserver::config::check_root(std::env::temp_dir())?;
/// assert!(root.is_absolute());
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
pub fn check_root(root: PathBuf) -> Result<PathBuf, ConfigError> {
    let shown = root.display().to_string();
    match std::fs::metadata(&root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ConfigError::Root(format!("root {shown} does not exist")))
        }
        Err(e) => Err(ConfigError::Root(format!(
            "root {shown} cannot be read: {e}"
        ))),
        Ok(m) if !m.is_dir() => Err(ConfigError::Root(format!(
            "root {shown} is not a directory"
        ))),
        Ok(_) => crate::platform::fs::canonicalize(&root)
            .map_err(|e| ConfigError::Root(format!("root {shown} cannot be resolved: {e}"))),
    }
}

/// Turns `--bind` into socket addresses: an IP address, an address with a
/// port (`[::1]:8080`), or a host name, which stands for all its addresses.
///
/// ```
/// let addrs = henaserver::config::resolve_bind("[::1]:8443", 8080)?;
/// assert_eq!(addrs, vec!["[::1]:8443".parse().unwrap()]);
/// let addrs = henaserver::config::resolve_bind("127.0.0.1", 8080)?;
/// assert_eq!(addrs[0].port(), 8080);
/// # Ok::<(), henaserver::ConfigError>(())
/// ```
pub fn resolve_bind(bind: &str, port: u16) -> Result<Vec<SocketAddr>, ConfigError> {
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        return Ok(vec![addr]);
    }
    let unbracketed = bind.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (host, port) = match bind.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse().unwrap_or(port)),
        _ => (bind, port),
    };
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ConfigError::Invalid(format!("--bind {bind}: cannot resolve: {e}")))?
        .collect();
    addrs.sort();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(ConfigError::Invalid(format!("--bind {bind}: no addresses")));
    }
    Ok(addrs)
}

/// A glob over URL paths (`/assets/**`, `*` staying within a segment), as
/// `[[rules]]`, `[[limits]]` and the library's `Files` write them.
///
/// ```
/// let glob = henaserver::config::path_glob("/assets/*.css")?;
/// assert!(glob.is_match("/assets/app.css"));
/// assert!(!glob.is_match("/assets/dir/app.css"));
/// # Ok::<(), String>(())
/// ```
pub fn path_glob(text: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(text)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("glob {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds() {
        assert_eq!(
            resolve_bind("127.0.0.1", 80).unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert_eq!(
            resolve_bind("::1", 80).unwrap(),
            vec!["[::1]:80".parse().unwrap()]
        );
        assert_eq!(
            resolve_bind("[::1]:9", 80).unwrap(),
            vec!["[::1]:9".parse().unwrap()]
        );
        assert!(resolve_bind("localhost", 80)
            .unwrap()
            .iter()
            .all(|a| a.ip().is_loopback()));
        assert!(resolve_bind("no such host!", 80).is_err());
    }

    #[test]
    fn roots() {
        assert!(check_root("/definitely/not/here".into())
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(check_root(file.path().into())
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        assert!(check_root(".".into()).unwrap().is_absolute());
    }
}
