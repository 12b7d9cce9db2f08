//! Content-Type from a file name's extension.
//!
//! The table is mime_guess's, with the corrections RFC 9239 and the WHATWG
//! make (`text/javascript`). Text types, JSON, XML and JavaScript are sent
//! with `; charset=utf-8`; a name without a known extension is
//! `application/octet-stream`.

use std::cell::RefCell;
use std::collections::HashMap;

/// The type sent when the extension says nothing.
pub const DEFAULT_TYPE: &str = "application/octet-stream";

fn wants_charset(mime: &str) -> bool {
    mime.starts_with("text/")
        || mime == "application/json"
        || mime == "application/xml"
        || mime == "application/manifest+json"
        || mime == "image/svg+xml"
}

thread_local! {
    static WITH_CHARSET: RefCell<HashMap<&'static str, &'static str>> = RefCell::new(HashMap::new());
}

/// The Content-Type for `name`, judged by its extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') && !ext.contains('/') => ext,
        _ => return DEFAULT_TYPE,
    };
    let ext = ext.to_ascii_lowercase();
    let mime: &'static str = match ext.as_str() {
        "html" | "htm" => return "text/html; charset=utf-8",
        "css" => return "text/css; charset=utf-8",
        "js" | "mjs" | "cjs" => return "text/javascript; charset=utf-8",
        "txt" => return "text/plain; charset=utf-8",
        "json" | "map" => return "application/json; charset=utf-8",
        "png" => return "image/png",
        "jpg" | "jpeg" | "jpe" => return "image/jpeg",
        "wasm" => return "application/wasm",
        "woff2" => return "font/woff2",
        "woff" => return "font/woff",
        "md" | "markdown" => "text/markdown",
        other => match mime_guess::from_ext(other).first_raw() {
            Some(m) => m,
            None => return DEFAULT_TYPE,
        },
    };
    if !wants_charset(mime) {
        return mime;
    }
    // The set of types is finite, so each gets its charset form once.
    WITH_CHARSET.with(|table| {
        *table
            .borrow_mut()
            .entry(mime)
            .or_insert_with(|| Box::leak(format!("{mime}; charset=utf-8").into_boxed_str()))
    })
}

/// Whether a Content-Type is worth compressing.
pub fn compressible(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime,
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
                | "image/x-icon"
                | "font/ttf"
                | "font/otf"
        )
}

#[cfg(test)]
mod tests {
    use super::content_type;

    #[test]
    fn common_types() {
        assert_eq!(content_type("a.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("A.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("x/logo.jpg"), "image/jpeg");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("m.wasm"), "application/wasm");
        assert_eq!(content_type("f.woff2"), "font/woff2");
        assert_eq!(content_type("i.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type("d.xml"), "text/xml; charset=utf-8");
        assert_eq!(content_type("p.pdf"), "application/pdf");
        assert_eq!(content_type("README"), "application/octet-stream");
        assert_eq!(content_type("a.unknownext"), "application/octet-stream");
        assert_eq!(content_type("dir.d/noext"), "application/octet-stream");
        assert_eq!(content_type(".bashrc"), "application/octet-stream");
    }
}
