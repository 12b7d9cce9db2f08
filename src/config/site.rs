//! What one site serves and how: the settings the pipeline's steps read,
//! built once from a [`Config`](super::Config).

use std::path::PathBuf;
use std::sync::Arc;

use argon2::password_hash::PasswordHash;

use crate::exchange::Coding;

use super::limits::Limits;

/// What responses of one site are built from.
#[derive(Debug, Clone)]
pub struct Site {
    /// File name served for a directory.
    pub index: String,
    /// Limits, the cache's and the ranges' among them.
    pub limits: Limits,
    /// `Cache-Control` for file responses.
    pub cache_control: Option<Arc<str>>,
    /// Compression on the fly.
    pub compression: Compression,
    /// Codings in the order preferred when the client likes them equally.
    pub preference: Vec<Coding>,
    /// `--header` fields, sent with every response.
    pub headers: Vec<(Arc<str>, Arc<str>)>,
    /// Origins allowed by `--cors` (`*` for any); empty: no CORS.
    pub cors: Vec<String>,
    /// `--listing`: list directories without an index file.
    pub listing: bool,
    /// `--fallback`: the file served for unknown paths that take HTML.
    pub fallback: Option<String>,
    /// `--error-page`: status and file, relative to the root.
    pub error_pages: Vec<(u16, String)>,
    /// `--clean-urls`: `/about` serves `about.html`, which redirects there.
    pub clean_urls: bool,
    /// Basic authentication users and their password hashes.
    pub users: Vec<User>,
    /// Rules from the configuration file: fields by path glob or type.
    pub rules: Vec<Rule>,
    /// The Strict-Transport-Security value for HTTPS responses.
    pub hsts: Option<Arc<str>>,
    /// Redirects, then rewrites, applied before a path is resolved.
    pub redirects: Vec<super::Route>,
    /// See `redirects`.
    pub rewrites: Vec<super::Route>,
    /// `--live`: HTML pages carry the live-reload script.
    pub live: bool,
    /// `--explain` (or `--inspect`): responses carry `Henaserver-Explain`.
    pub explain: bool,
    /// Who the site serves (`--allow`, `--deny`, `--access`).
    pub access: Vec<super::access::AccessRule>,
    /// Request rates per client (`--rate-limit`, `[[limits]]`).
    pub rate_limits: Vec<super::rate::RateLimit>,
    /// Bandwidth per response (`--limit-rate`).
    pub bandwidth: Option<Arc<super::rate::Bandwidth>>,
    /// Peers whose forwarding fields name the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Redirects (a directory's slash, clean URLs) name their target
    /// relative to the request's own path, so that they keep whatever
    /// prefix the site is mounted under (the library's `Files`).
    pub relative_redirects: bool,
    /// The status a dot file or directory is answered with: 404 (it is
    /// not there) or 403.
    pub hidden_status: u16,
}

impl Site {
    /// The site `config` describes.
    pub fn new(config: &super::Config) -> Site {
        let shared = |s: &str| -> Arc<str> { Arc::from(s) };
        Site {
            index: config.index.clone(),
            limits: config.limits.clone(),
            cache_control: config.cache_control.as_deref().map(shared),
            compression: config.compression.clone(),
            preference: config.preference.clone(),
            headers: config
                .headers
                .iter()
                .map(|(n, v)| (shared(n), shared(v)))
                .collect(),
            cors: config.cors.clone(),
            listing: config.listing,
            fallback: config.fallback.clone(),
            error_pages: config.error_pages.clone(),
            clean_urls: config.clean_urls,
            users: config.users.clone(),
            rules: config.rules.clone(),
            hsts: config.hsts.as_ref().map(|h| shared(&h.value())),
            redirects: config.redirects.clone(),
            rewrites: config.rewrites.clone(),
            live: config.dev.live,
            explain: config.dev.explain || config.dev.inspect,
            access: config.access.clone(),
            rate_limits: config.rate_limits.clone(),
            bandwidth: config.bandwidth.map(Arc::new),
            trusted_proxies: config.trusted_proxies.clone(),
            relative_redirects: false,
            hidden_status: 404,
        }
    }
}

/// What the server's listeners answer with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Files from the root.
    #[default]
    Files,
    /// The same raw response, kept in this file, to every request
    /// (`--reply`).
    Reply(PathBuf),
    /// Each request, as received, as a text/plain body (`--echo`).
    Echo,
}

/// When files are compressed on the fly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// Whether compressible files are compressed on the fly at all.
    pub enabled: bool,
    /// Smallest file compressed, in bytes.
    pub min: u64,
    /// Largest file compressed, in bytes.
    pub max: u64,
    /// Bytes of compressed copies kept, for all workers together.
    pub cache_bytes: usize,
}

/// A rule from the file: fields for the paths or types it matches.
#[derive(Debug, Clone)]
pub struct Rule {
    /// A glob over the URL path (`/assets/**`), if any.
    pub glob: Option<globset::GlobMatcher>,
    /// The text of the glob, for --print-config.
    pub glob_text: Option<String>,
    /// A content type (`text/html`, or a prefix like `image/`), if any.
    pub content_type: Option<String>,
    /// A Cache-Control value for what matches.
    pub cache_control: Option<String>,
    /// Fields added to what matches.
    pub headers: Vec<(String, String)>,
}

impl Rule {
    /// Whether the rule applies to a file at URL `path` of `content_type`.
    pub fn matches(&self, path: &str, content_type: &str) -> bool {
        self.glob.as_ref().is_none_or(|g| g.is_match(path))
            && self
                .content_type
                .as_ref()
                .is_none_or(|t| content_type.starts_with(t.as_str()))
    }
}

/// A user allowed in, with the hash of their password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// An argon2 PHC string (`$argon2id$...`) or a bcrypt hash (`$2b$...`).
    pub hash: String,
}

impl User {
    /// Parses `user:HASH`, checking that the hash is one we can verify.
    pub fn parse(spec: &str) -> Result<User, String> {
        let (name, hash) = spec
            .split_once(':')
            .ok_or("expected USER:HASH (make a hash with henaserver hash-password)")?;
        if name.is_empty() {
            return Err("the user name is empty".into());
        }
        let known = PasswordHash::new(hash).is_ok() && hash.starts_with("$argon2")
            || bcrypt_cost(hash).is_some();
        if !known {
            return Err(format!(
                "the hash for {name} is not an argon2 or bcrypt hash (make one with henaserver hash-password)"
            ));
        }
        Ok(User {
            name: name.to_string(),
            hash: hash.to_string(),
        })
    }
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    let rest = hash
        .strip_prefix("$2b$")
        .or_else(|| hash.strip_prefix("$2y$"))
        .or_else(|| hash.strip_prefix("$2a$"))?;
    (rest.len() == 56).then(|| rest[..2].parse().ok()).flatten()
}
