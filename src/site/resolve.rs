//! From a URL path to a path relative to the document root.
//!
//! The layers, in the order they run:
//! 1. every `%` must start a valid escape, and the decoded bytes must be
//!    UTF-8 (so overlong forms such as `%c0%ae` are refused);
//! 2. NUL, control characters and backslashes are refused, encoded or not;
//! 3. the path is split on `/` (so `%2f` is a separator like `/`), empty
//!    and `.` segments are dropped and `..` removes the segment before it;
//!    a `..` with nothing left to remove climbs above the root and is
//!    refused;
//! 4. a remaining segment that starts with a dot is hidden.
//!
//! What comes out names a path under the root in plain segments; opening it
//! is the job of `files`, which also keeps symbolic links inside the root.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Why a URL path is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed or dangerous: answered 400.
    BadRequest(&'static str),
    /// A dotfile or a path through a dot-directory: answered 404.
    Hidden,
}

/// A URL path resolved to segments under the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    /// The path relative to the root, segments joined by `/`; `.` for the
    /// root itself.
    pub rel: String,
    /// The URL named a directory (it ended with `/`, `/.` or `/..`).
    pub slash: bool,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `%XX` escapes, refusing a `%` that does not start one.
fn percent_decode_strict(path: &[u8], out: &mut Vec<u8>) -> Result<(), Refusal> {
    let mut i = 0;
    while i < path.len() {
        let b = path[i];
        if b == b'%' {
            let (Some(h), Some(l)) = (
                path.get(i + 1).copied().and_then(hex),
                path.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(Refusal::BadRequest("invalid percent-encoding"));
            };
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(())
}

/// Resolves the (still percent-encoded) path of a request target.
pub fn resolve(path: &[u8]) -> Result<Resolved, Refusal> {
    let mut decoded = Vec::with_capacity(path.len());
    percent_decode_strict(path, &mut decoded)?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| Refusal::BadRequest("path is not UTF-8"))?;
    if decoded.bytes().any(|b| b == b'\\' || b.is_ascii_control()) {
        return Err(Refusal::BadRequest(
            "backslash or control character in path",
        ));
    }
    let mut segments: Vec<&str> = Vec::new();
    let mut slash = true;
    for segment in decoded.split('/') {
        match segment {
            "" | "." => slash = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(Refusal::BadRequest("path climbs above the root"));
                }
                slash = true;
            }
            s => {
                segments.push(s);
                slash = false;
            }
        }
    }
    if segments.iter().any(|s| s.starts_with('.')) {
        return Err(Refusal::Hidden);
    }
    let rel = if segments.is_empty() {
        ".".to_string()
    } else {
        segments.join("/")
    };
    Ok(Resolved { rel, slash })
}

/// Characters escaped when a path segment is written back into a URL.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The URL path of a resolved directory, with its trailing slash: always
/// starts with a single `/`, so it can never be read as another host.
pub fn directory_url(resolved: &Resolved) -> String {
    let mut url = String::from("/");
    if resolved.rel != "." {
        for segment in resolved.rel.split('/') {
            url.extend(utf8_percent_encode(segment, SEGMENT));
            url.push('/');
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rel(p: &str) -> Result<String, Refusal> {
        resolve(p.as_bytes()).map(|r| r.rel)
    }

    #[test]
    fn plain_paths() {
        assert_eq!(rel("/"), Ok(".".into()));
        assert_eq!(rel(""), Ok(".".into()));
        assert_eq!(rel("/index.html"), Ok("index.html".into()));
        assert_eq!(rel("/a//b/./c"), Ok("a/b/c".into()));
        assert_eq!(rel("/a/../b"), Ok("b".into()));
        assert_eq!(rel("/a%20b.txt"), Ok("a b.txt".into()));
        assert_eq!(rel("/%E6%97%A5%E6%9C%AC.html"), Ok("日本.html".into()));
        assert!(resolve(b"/a/").unwrap().slash);
        assert!(resolve(b"/a/.").unwrap().slash);
        assert!(!resolve(b"/a").unwrap().slash);
    }

    #[test]
    fn traversal_is_refused() {
        for p in [
            "/..",
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/..%2f..%2fetc/passwd",
            "/a/%2e%2e/%2e%2e/x",
        ] {
            assert!(matches!(rel(p), Err(Refusal::BadRequest(_))), "{p}");
        }
        for p in [
            "/..\\etc\\passwd",
            "/%5c..%5cetc",
            "/%c0%ae%c0%ae/etc",
            "/%e0%80%ae",
            "/a%00.html",
            "/a%zz",
            "/a%4",
            "/%0a",
        ] {
            assert!(matches!(rel(p), Err(Refusal::BadRequest(_))), "{p}");
        }
    }

    #[test]
    fn dotfiles_are_hidden() {
        assert_eq!(rel("/.env"), Err(Refusal::Hidden));
        assert_eq!(rel("/.git/config"), Err(Refusal::Hidden));
        assert_eq!(rel("/a/%2ehtaccess"), Err(Refusal::Hidden));
        assert_eq!(rel("/.git/../index.html"), Ok("index.html".into()));
    }

    #[test]
    fn directory_urls() {
        let r = resolve(b"/a%20b//c").unwrap();
        assert_eq!(directory_url(&r), "/a%20b/c/");
        let r = resolve(b"//evil.example").unwrap();
        assert_eq!(directory_url(&r), "/evil.example/");
        assert_eq!(directory_url(&resolve(b"/").unwrap()), "/");
    }

    proptest! {
        #[test]
        fn never_leaves_the_root(path in "(/|%2[eEfF]|\\.|\\.\\.|[a-z]|%5[cC]|%00|\\\\|%)*") {
            if let Ok(r) = resolve(path.as_bytes()) {
                let p = std::path::Path::new(&r.rel);
                prop_assert!(p.is_relative());
                for c in p.components() {
                    let ok = matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir);
                    prop_assert!(ok, "{:?} from {:?}", r.rel, path);
                }
                prop_assert!(!r.rel.contains('\\') && !r.rel.contains('\0'));
            }
        }

        #[test]
        fn arbitrary_bytes_never_escape(path in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(r) = resolve(&path) {
                for c in std::path::Path::new(&r.rel).components() {
                    let ok = matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir);
                    prop_assert!(ok);
                }
            }
        }
    }
}
