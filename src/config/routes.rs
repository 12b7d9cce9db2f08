//! `[[redirects]]` and `[[rewrites]]` from the configuration file: a path
//! pattern with captures, and where it goes.
//!
//! A pattern is an exact path, or a path with `*`s, each matching any run
//! of characters (`/` included) and captured in order as `$1` to `$9` for
//! the target. The target may also use `$query`, the request's query;
//! without `?` of its own it keeps the request's query. Patterns match the
//! path as the file pipeline sees it, as `[[rules]]` do: percent-decoded,
//! with dot segments resolved (`/a/../b` is `/b`, `/%61pp` is `/app`); what
//! a capture carries into a target is percent-encoded again.

/// Most `*`s in one pattern.
pub const MAX_CAPTURES: usize = 9;

/// What a capture (decoded text) is percent-encoded with when it goes into
/// a target: what a URL path cannot hold as it is.
const CAPTURE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A compiled `from` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    /// The literal parts around the `*`s: one more than there are `*`s.
    parts: Vec<String>,
}

impl Pattern {
    /// Compiles `text`; the error says what is wrong.
    pub fn new(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err(format!("from {text:?}: a path starting with /"));
        }
        if text
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'?' || b == b'#')
        {
            return Err(format!("from {text:?}: no spaces, controls, ? or #"));
        }
        let parts: Vec<String> = text.split('*').map(str::to_string).collect();
        if parts.len() - 1 > MAX_CAPTURES {
            return Err(format!("from {text:?}: at most {MAX_CAPTURES} *"));
        }
        if parts
            .iter()
            .skip(1)
            .take(parts.len().saturating_sub(2))
            .any(String::is_empty)
        {
            return Err(format!("from {text:?}: two * side by side"));
        }
        Ok(Pattern {
            text: text.to_string(),
            parts,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The captures when `path` matches.
    pub fn captures<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        let (first, rest) = self.parts.split_first()?;
        let mut at = path.strip_prefix(first.as_str())?;
        let Some((last, middle)) = rest.split_last() else {
            return at.is_empty().then(Vec::new);
        };
        let mut captures = Vec::with_capacity(rest.len());
        for part in middle {
            let i = at.find(part.as_str())?;
            captures.push(&at[..i]);
            at = &at[i + part.len()..];
        }
        let tail = at.strip_suffix(last.as_str())?;
        captures.push(tail);
        Some(captures)
    }
}

/// A redirect or a rewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// What it matches.
    pub from: Pattern,
    /// Where it goes, with `$1`..`$9` and `$query`.
    pub to: String,
    /// The redirect's status (301, 302, 307, 308), or `None` for a
    /// rewrite, served from the target without telling the client.
    pub status: Option<u16>,
}

impl Route {
    /// The target for `path` (decoded and normalized) and `query`, when
    /// the route matches.
    pub fn target(&self, path: &str, query: Option<&str>) -> Option<String> {
        let captures = self.from.captures(path)?;
        let mut out = String::with_capacity(self.to.len() + path.len());
        let mut rest = self.to.as_str();
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(tail) = after.strip_prefix("query") {
                out.push_str(query.unwrap_or(""));
                rest = tail;
            } else if let Some(d) = after.chars().next().and_then(|c| c.to_digit(10)) {
                if d >= 1 {
                    let capture = captures.get(d as usize - 1).copied().unwrap_or("");
                    out.extend(percent_encoding::utf8_percent_encode(capture, CAPTURE));
                }
                rest = &after[1..];
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        if !self.to.contains('?') && !self.to.contains("$query") {
            if let Some(q) = query {
                out.push('?');
                out.push_str(q);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(from: &str, to: &str) -> Route {
        Route {
            from: Pattern::new(from).unwrap(),
            to: to.to_string(),
            status: Some(308),
        }
    }

    #[test]
    fn exact_and_captured_paths() {
        let r = route("/old", "/new");
        assert_eq!(r.target("/old", None).as_deref(), Some("/new"));
        assert_eq!(r.target("/old/x", None), None);
        let r = route("/blog/*", "https://blog.example/$1");
        assert_eq!(
            r.target("/blog/2024/a b", Some("x=1")).as_deref(),
            Some("https://blog.example/2024/a%20b?x=1")
        );
        let r = route("/u/*/posts/*", "/people/$1/$2?from=$query");
        assert_eq!(
            r.target("/u/ann/posts/7", Some("q")).as_deref(),
            Some("/people/ann/7?from=q")
        );
        assert_eq!(r.target("/u/ann", None), None);
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Pattern::new("blog/*").is_err());
        assert!(Pattern::new("/a**").is_err());
        assert!(Pattern::new("/a b").is_err());
        assert!(Pattern::new("/*/*/*/*/*/*/*/*/*/*").is_err());
    }
}
