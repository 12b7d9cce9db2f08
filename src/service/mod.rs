//! [`Files`]: henaserver's file pipeline as a service that axum and hyper
//! applications mount, instead of tower-http's `ServeDir`.
//!
//! It answers an `http::Request<B>` with an `http::Response<`[`FileBody`]`>`:
//! conditional requests with every validator, single and multiple ranges
//! and `If-Range`, precompressed siblings and compression on the fly with
//! `Vary`, directory listings (HTML and JSON), a fallback page for
//! single-page apps, error pages, clean URLs, `Cache-Control` per glob,
//! CORS, extra content types. Nothing outside the root is ever served:
//! not through `..` in any encoding, nor through a symbolic link that
//! leaves it, and dot files are answered 404 (or 403).
//!
//! Each `Files` keeps its own caches: two in one process do not see each
//! other's open files, compressed copies or verified passwords.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use henaserver::Files;
//!
//! let files = Files::new("static")
//!     .listing(true)
//!     .cache_control("public, max-age=3600")
//!     .mime_type("webmanifest", "application/manifest+json");
//! let request = http::Request::get("/index.html").body(())?;
//! let response = files.serve(request).await;
//! assert_eq!(response.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! With the `tower` feature, `Files` is a `tower::Service`, so that axum
//! mounts it as it would `ServeDir`:
//!
//! ```ignore
//! let app = axum::Router::new()
//!     .route("/api/hello", axum::routing::get(|| async { "hello" }))
//!     .nest_service("/assets", henaserver::Files::new("assets"))
//!     .fallback_service(henaserver::Files::new("static"));
//! ```
//!
//! Mounted under a prefix, it serves the paths below the prefix, and its
//! redirects (a directory's missing slash, clean URLs) are relative
//! references, so they keep the prefix.

mod body;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http::HeaderValue;

use crate::config::{self, Rule};
use crate::exchange::{Method, Request};
use crate::message::MapFields;
use crate::site::files::Root;
use crate::site::Pipeline;

pub use body::FileBody;

/// A file service over one root directory; cheap to clone (clones share
/// their caches).
///
/// Built with [`Files::new`] and the settings below, each of which
/// returns the service changed.
#[derive(Clone)]
pub struct Files {
    inner: Arc<Pipeline>,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("root", &self.inner.root().path())
            .finish_non_exhaustive()
    }
}

/// Why a root cannot be served.
#[derive(Debug)]
#[non_exhaustive]
pub enum FilesError {
    /// The root cannot be opened as a directory.
    Root {
        /// The root as given.
        path: std::path::PathBuf,
        /// What opening it said.
        source: std::io::Error,
    },
    /// A setting is not valid (a glob, a content type, a status).
    Setting(String),
}

impl std::fmt::Display for FilesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilesError::Root { path, source } => {
                write!(f, "cannot serve {}: {source}", path.display())
            }
            FilesError::Setting(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for FilesError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FilesError::Root { source, .. } => Some(source),
            FilesError::Setting(_) => None,
        }
    }
}

/// What a dot file or directory (`.env`, `.git/`) is answered with; it is
/// never served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DotFiles {
    /// 404, as if it were not there (the default).
    #[default]
    NotFound,
    /// 403.
    Forbidden,
}

impl Files {
    /// Serves the directory `root`, with the settings of
    /// `henaserver ROOT`: index `index.html`, no listing, precompressed
    /// siblings and compression on the fly, an open-file cache.
    ///
    /// # Panics
    ///
    /// When `root` cannot be opened as a directory; [`Files::try_new`]
    /// returns the error instead.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static");
    /// ```
    pub fn new(root: impl AsRef<Path>) -> Files {
        match Files::try_new(root) {
            Ok(files) => files,
            Err(e) => panic!("henaserver::Files::new: {e}"),
        }
    }

    /// As [`Files::new`], with the error when `root` cannot be opened.
    ///
    /// ```
    /// let missing = henaserver::Files::try_new("/no/such/directory");
    /// assert!(missing.is_err());
    /// ```
    pub fn try_new(root: impl AsRef<Path>) -> Result<Files, FilesError> {
        let path = root.as_ref();
        let open = Root::open(path).map_err(|source| FilesError::Root {
            path: path.to_path_buf(),
            source,
        })?;
        let config =
            config::Config::new(open.path(), 0).map_err(|e| FilesError::Setting(e.to_string()))?;
        let mut site = config::Site::new(&config);
        site.relative_redirects = true;
        Ok(Files {
            inner: Arc::new(Pipeline::new(open, site, None)),
        })
    }

    /// Changes the settings: in place when this is the only handle, else
    /// in a new service (with its own caches) over the same root.
    fn with(mut self, change: impl FnOnce(&mut config::Site)) -> Files {
        if let Some(pipeline) = Arc::get_mut(&mut self.inner) {
            change(pipeline.site_mut());
            return self;
        }
        let mut site = self.inner.site().clone();
        change(&mut site);
        match Root::open(self.inner.root().path()) {
            Ok(root) => Files {
                inner: Arc::new(Pipeline::new(root, site, None)),
            },
            Err(e) => {
                tracing::warn!(error = %e, "Files: cannot open the root again; settings unchanged");
                self
            }
        }
    }

    /// Changes what needs the root opened again (its content types).
    fn with_root(self, change: impl FnOnce(Root) -> Root) -> Files {
        let site = self.inner.site().clone();
        match Root::open(self.inner.root().path()) {
            Ok(root) => Files {
                inner: Arc::new(Pipeline::new(change(root), site, None)),
            },
            Err(e) => {
                tracing::warn!(error = %e, "Files: cannot open the root again; settings unchanged");
                self
            }
        }
    }

    /// The file served for a directory (default `index.html`).
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").index("home.html");
    /// ```
    pub fn index(self, name: &str) -> Files {
        let name = name.to_string();
        self.with(|s| s.index = name)
    }

    /// Lists directories without an index file: HTML, or JSON for a
    /// client that prefers it (default off).
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").listing(true);
    /// ```
    pub fn listing(self, on: bool) -> Files {
        self.with(|s| s.listing = on)
    }

    /// The file (relative to the root) served with 200 for paths that
    /// match nothing and take HTML: a single-page app's `index.html`.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("dist").fallback("index.html");
    /// ```
    pub fn fallback(self, file: &str) -> Files {
        let file = file.trim_start_matches('/').to_string();
        self.with(|s| s.fallback = Some(file))
    }

    /// The file (relative to the root) served for an error status,
    /// keeping the status.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").error_page(404, "404.html");
    /// ```
    pub fn error_page(self, status: u16, file: &str) -> Files {
        let file = file.trim_start_matches('/').to_string();
        self.with(|s| {
            s.error_pages.retain(|(st, _)| *st != status);
            s.error_pages.push((status, file));
        })
    }

    /// `/about` serves `about.html`, and `/about.html` redirects to
    /// `/about` (default off).
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").clean_urls(true);
    /// ```
    pub fn clean_urls(self, on: bool) -> Files {
        self.with(|s| s.clean_urls = on)
    }

    /// Compresses on the fly files between `min` and `max` bytes whose
    /// type compresses, keeping at most `cache_bytes` of compressed copies
    /// (default on, 512 B to 4 MiB, 32 MiB). Precompressed siblings
    /// (`file.br`, `file.zst`, `file.gz`) are served either way.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").compression(true, 1024, 1 << 20, 8 << 20);
    /// ```
    pub fn compression(self, on: bool, min: u64, max: u64, cache_bytes: usize) -> Files {
        self.with(|s| {
            s.compression.enabled = on;
            s.compression.min = min;
            s.compression.max = max;
            s.compression.cache_bytes = cache_bytes;
        })
    }

    /// `Cache-Control` for every file response (200, 206, 304).
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").cache_control("public, max-age=60");
    /// ```
    pub fn cache_control(self, value: &str) -> Files {
        let value: Arc<str> = Arc::from(value);
        self.with(|s| s.cache_control = Some(value))
    }

    /// `Cache-Control` for the paths `glob` matches (`/assets/**`),
    /// instead of [`Files::cache_control`]'s. Rules are tried in the order
    /// added.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static")
    ///     .cache_control_for("/assets/**", "public, max-age=31536000, immutable")?;
    /// # Ok::<(), henaserver::FilesError>(())
    /// ```
    pub fn cache_control_for(self, glob: &str, value: &str) -> Result<Files, FilesError> {
        let matcher = config::path_glob(glob).map_err(FilesError::Setting)?;
        if value.is_empty() || value.bytes().any(|b| b.is_ascii_control()) {
            return Err(FilesError::Setting(format!(
                "Cache-Control {value:?} is not a field value"
            )));
        }
        let rule = Rule {
            glob: Some(matcher),
            glob_text: Some(glob.to_string()),
            content_type: None,
            cache_control: Some(value.to_string()),
            headers: Vec::new(),
        };
        Ok(self.with(|s| s.rules.push(rule)))
    }

    /// A header field on every response.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").header("X-Frame-Options", "DENY");
    /// ```
    pub fn header(self, name: &str, value: &str) -> Files {
        let field = (Arc::from(name), Arc::from(value));
        self.with(|s| s.headers.push(field))
    }

    /// The content type of files ending in `.EXT`, over the built-in one.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").mime_type("gltf", "model/gltf+json");
    /// ```
    pub fn mime_type(self, ext: &str, content_type: &str) -> Files {
        let types = [(
            ext.trim_start_matches('.').to_string(),
            content_type.to_string(),
        )];
        self.with_root(|root| root.with_types(&types))
    }

    /// Answers CORS requests from `origin` (`*` for any); may be given
    /// several times.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").cors("https://app.example");
    /// ```
    pub fn cors(self, origin: &str) -> Files {
        let origin = origin.to_string();
        self.with(|s| s.cors.push(origin))
    }

    /// What a dot file or directory is answered with (it is never served).
    ///
    /// ```no_run
    /// use henaserver::{DotFiles, Files};
    /// let files = Files::new("static").dot_files(DotFiles::Forbidden);
    /// ```
    pub fn dot_files(self, policy: DotFiles) -> Files {
        let status = match policy {
            DotFiles::NotFound => 404,
            DotFiles::Forbidden => 403,
        };
        self.with(|s| s.hidden_status = status)
    }

    /// The open-file cache of each thread: `entries` files and `bytes` of
    /// small files' content (default 256 and 16 MiB; 0 entries: none).
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").open_file_cache(1024, 64 << 20);
    /// ```
    pub fn open_file_cache(self, entries: usize, bytes: usize) -> Files {
        self.with(|s| {
            s.limits.cache_entries = entries;
            s.limits.cache_bytes = bytes;
        })
    }

    /// How long a cached file, or a path found missing, is trusted without
    /// a `stat` of its path (default zero: every request checks, so a
    /// change is seen at once).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let files = henaserver::Files::new("static").file_cache_valid(Duration::from_secs(1));
    /// ```
    pub fn file_cache_valid(self, valid: std::time::Duration) -> Files {
        self.with(|s| s.limits.cache_valid = valid)
    }

    /// Most ranges served from one request; more get the whole file.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").max_ranges(10);
    /// ```
    pub fn max_ranges(self, n: usize) -> Files {
        self.with(|s| s.limits.max_ranges = n)
    }

    /// `Henaserver-Explain` on every response: how it was reached.
    ///
    /// ```no_run
    /// let files = henaserver::Files::new("static").explain(true);
    /// ```
    pub fn explain(self, on: bool) -> Files {
        self.with(|s| s.explain = on)
    }

    /// The root, canonical.
    pub fn root(&self) -> &Path {
        self.inner.root().path()
    }

    /// The response to `request`. Its body is not read: files answer GET,
    /// HEAD and OPTIONS, and other methods get 405.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let files = henaserver::Files::new("static");
    /// let request = http::Request::head("/").body(())?;
    /// let response = files.serve(request).await;
    /// assert!(response.headers().contains_key("content-length"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve<B>(&self, request: http::Request<B>) -> http::Response<FileBody> {
        let (parts, _) = request.into_parts();
        let fields = MapFields::new(&parts.headers);
        let method = Method::classify(parts.method.as_str().as_bytes());
        let mut plan = match method {
            Ok(method) => {
                let authority = parts
                    .uri
                    .authority()
                    .map(|a| a.as_str().as_bytes())
                    .or_else(|| {
                        parts
                            .headers
                            .get(http::header::HOST)
                            .map(HeaderValue::as_bytes)
                    });
                let peer = parts
                    .extensions
                    .get::<SocketAddr>()
                    .copied()
                    .unwrap_or(UNKNOWN_PEER);
                let req = Request {
                    method,
                    path: parts.uri.path().as_bytes(),
                    query: parts.uri.query().map(str::as_bytes),
                    authority,
                    peer,
                    secure: parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS),
                    server_name: None,
                    fields: &fields,
                    raw: b"",
                    body: b"",
                };
                self.inner.handle(&req).await
            }
            Err(_) => crate::site::pages::error_plan(400, false),
        };
        // The application's server adds Date and Server as it sees fit.
        plan.bare = true;
        let head = crate::message::response_head(&plan);
        let body = std::mem::take(&mut plan.body);
        let (head, ()) = head.into_parts();
        http::Response::from_parts(head, FileBody::new(body))
    }
}

/// The peer of a request that names none (no `SocketAddr` extension).
const UNKNOWN_PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

#[cfg(feature = "tower")]
impl<B> tower_service::Service<http::Request<B>> for Files
where
    B: Send + 'static,
{
    type Response = http::Response<FileBody>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let files = self.clone();
        Box::pin(async move { Ok(files.serve(request).await) })
    }
}
