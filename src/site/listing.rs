//! Directory listings (`--listing`): an HTML page, or JSON when the client
//! prefers `application/json`.
//!
//! Dotfiles never appear, nor does a symbolic link whose target leaves the
//! root (the same checks as serving the file would make). Names are
//! escaped; directories come first, then files, each sorted by name.

use serde::Serialize;

use super::files::Root;
use crate::platform::fs::{meta, Kind};

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The file name.
    pub name: String,
    /// `"directory"` or `"file"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Last modification, as an HTTP date.
    pub modified: String,
}

/// The entries of directory `rel` that may be shown.
pub fn entries(root: &Root, rel: &str) -> std::io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    for name in root.names(rel)? {
        if name.starts_with('.') || name.contains('/') || name.contains('\0') {
            continue;
        }
        let child = if rel == "." {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // Opening it the way a request would keeps escaping links out.
        let Ok(file) = root.open_beneath(&child) else {
            continue;
        };
        let Ok(meta) = meta(&file) else {
            continue;
        };
        let kind = match meta.kind {
            Kind::Directory => "directory",
            Kind::File => "file",
            Kind::Other => continue,
        };
        let whole_seconds = std::time::UNIX_EPOCH + std::time::Duration::from_secs(meta.mtime.0);
        out.push(Entry {
            name,
            kind,
            size: if kind == "file" { meta.size } else { 0 },
            modified: httpdate::fmt_http_date(whole_seconds),
        });
    }
    out.sort_by(|a, b| (a.kind != "directory", &a.name).cmp(&(b.kind != "directory", &b.name)));
    Ok(out)
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut size = n as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

/// The HTML page for the directory at URL path `url` (ending with `/`).
pub fn html(url: &str, entries: &[Entry]) -> String {
    let title = escape(&percent_encoding::percent_decode_str(url).decode_utf8_lossy());
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Index of {title}</title><style>\
body{{font-family:system-ui,sans-serif;margin:1rem auto;max-width:60rem;padding:0 1rem}}\
table{{border-collapse:collapse;width:100%}}td,th{{padding:.3rem .5rem;text-align:left}}\
tr:nth-child(even){{background:#f4f4f4}}td.size,th.size{{text-align:right;white-space:nowrap}}\
a{{word-break:break-all}}@media(max-width:40rem){{.modified{{display:none}}}}\
</style></head>\n<body><h1>Index of {title}</h1>\n<table>\n\
<tr><th>Name</th><th class=\"size\">Size</th><th class=\"modified\">Modified</th></tr>\n"
    );
    if url != "/" {
        page.push_str("<tr><td><a href=\"../\">../</a></td><td class=\"size\"></td><td class=\"modified\"></td></tr>\n");
    }
    for e in entries {
        let slash = if e.kind == "directory" { "/" } else { "" };
        let href: String =
            percent_encoding::utf8_percent_encode(&e.name, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        let size = if e.kind == "directory" {
            "-".to_string()
        } else {
            human_size(e.size)
        };
        page.push_str(&format!(
            "<tr><td><a href=\"{href}{slash}\">{}{slash}</a></td><td class=\"size\">{size}</td><td class=\"modified\">{}</td></tr>\n",
            escape(&e.name),
            escape(&e.modified)
        ));
    }
    page.push_str("</table>\n<hr><address>henaserver</address></body></html>\n");
    page
}

/// The JSON listing.
pub fn json(entries: &[Entry]) -> String {
    serde_json::to_string(entries).unwrap_or_else(|_| "[]".into())
}

/// Whether the client prefers JSON to HTML, by Accept q-values.
pub fn prefers_json(accept: Option<&[u8]>) -> bool {
    let Some(accept) = accept.and_then(|a| std::str::from_utf8(a).ok()) else {
        return false;
    };
    let weight = |wanted: &str| -> f32 {
        accept
            .split(',')
            .filter_map(|e| {
                let mut parts = e.split(';');
                let mime = parts.next()?.trim();
                if !mime.eq_ignore_ascii_case(wanted) {
                    return None;
                }
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                Some(q)
            })
            .fold(0.0, f32::max)
    };
    let json = weight("application/json");
    json > 0.0 && json > weight("text/html")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let page = html(
            "/a%20b/",
            &[Entry {
                name: "<script>.html".into(),
                kind: "file",
                size: 2048,
                modified: httpdate::fmt_http_date(UNIX_EPOCH),
            }],
        );
        assert!(!page.contains("<script>.html"));
        assert!(page.contains("&lt;script&gt;.html"));
        assert!(page.contains("href=\"%3Cscript%3E%2Ehtml\""));
        assert!(page.contains("Index of /a b/"));
        assert!(page.contains("2.0 KiB"));
        assert!(page.contains("href=\"../\""));
    }

    #[test]
    fn json_preference() {
        assert!(prefers_json(Some(b"application/json")));
        assert!(prefers_json(Some(b"application/json, text/html;q=0.5")));
        assert!(!prefers_json(Some(
            b"text/html,application/xhtml+xml,*/*;q=0.8"
        )));
        assert!(!prefers_json(Some(b"text/html, application/json")));
        assert!(!prefers_json(None));
        assert!(!prefers_json(Some(b"application/json;q=0")));
    }
}
