//! The pipeline driven without sockets: a request view in, a plan out.

use std::io::Read;
use std::path::Path;

use super::*;
use crate::config::{Config, User};
use crate::exchange::FieldList;

/// A site over a fresh directory holding `files`, with `tune` applied to
/// its configuration.
fn site(files: &[(&str, &[u8])], tune: impl FnOnce(&mut Config)) -> (tempfile::TempDir, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let mut config = Config::new(dir.path(), 0).unwrap();
    tune(&mut config);
    let root = Root::open(Path::new(&config.root)).unwrap();
    (dir, Pipeline::new(root, Site::new(&config), None))
}

/// The plan for `method path` with header `fields` (`Name: value` lines).
fn ask(pipeline: &Pipeline, method: Method, path: &str, fields: &str) -> Plan {
    let fields = FieldList::parse(fields);
    let req = Request {
        method,
        ..Request::get(path.as_bytes(), &fields)
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(pipeline.handle(&req))
}

fn get(pipeline: &Pipeline, path: &str, fields: &str) -> Plan {
    ask(pipeline, Method::Get, path, fields)
}

/// The body of a plan, read whole.
fn body(plan: &Plan) -> Vec<u8> {
    match &plan.body {
        Body::Empty | Body::Events(_) => Vec::new(),
        Body::Bytes(b) => b.to_vec(),
        Body::File { file, pieces } => {
            let mut out = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Bytes(b) => out.extend_from_slice(b),
                    Piece::File(r) => {
                        let bytes = crate::site::files::read_exactly(file, r.end).unwrap();
                        out.extend_from_slice(&bytes[r.start as usize..]);
                    }
                }
            }
            out
        }
    }
}

const TEXT: &[u8] = b"hello, world\n";

#[test]
fn a_file_is_200_with_type_validators_and_length() {
    let (_dir, p) = site(&[("a.txt", TEXT)], |_| {});
    let plan = get(&p, "/a.txt", "");
    assert_eq!(plan.status, 200);
    assert_eq!(plan.get("content-type"), Some("text/plain; charset=utf-8"));
    assert!(plan.get("etag").is_some_and(|e| e.starts_with('"')));
    assert!(plan.get("last-modified").is_some());
    assert_eq!(plan.get("accept-ranges"), Some("bytes"));
    assert_eq!(plan.content_length, Some(TEXT.len() as u64));
    assert_eq!(body(&plan), TEXT);
    assert_eq!(plan.get("connection"), None, "the plan knows no connection");
}

#[test]
fn head_has_the_length_and_no_body() {
    let (_dir, p) = site(&[("a.txt", TEXT)], |_| {});
    let plan = ask(&p, Method::Head, "/a.txt", "");
    assert_eq!(plan.status, 200);
    assert_eq!(plan.content_length, Some(TEXT.len() as u64));
    assert!(plan.body.is_empty());
}

#[test]
fn a_large_file_is_pieces_of_the_open_file() {
    let big = vec![b'x'; (SMALL_FILE + 10) as usize];
    let (_dir, p) = site(&[("big.bin", &big)], |_| {});
    let plan = get(&p, "/big.bin", "");
    assert_eq!(plan.status, 200);
    match &plan.body {
        Body::File { pieces, .. } => assert_eq!(pieces, &[Piece::File(0..big.len() as u64)]),
        other => panic!("expected file pieces, got {other:?}"),
    }
    assert_eq!(body(&plan), big);
}

#[test]
fn preconditions_give_304_and_412() {
    let (_dir, p) = site(&[("a.txt", TEXT)], |_| {});
    let etag = get(&p, "/a.txt", "").get("etag").unwrap().to_string();
    let plan = get(&p, "/a.txt", &format!("If-None-Match: {etag}"));
    assert_eq!(plan.status, 304);
    assert_eq!(plan.content_length, None);
    assert!(plan.body.is_empty());
    assert_eq!(plan.get("etag"), Some(etag.as_str()));
    assert_eq!(get(&p, "/a.txt", "If-Match: \"nope\"").status, 412);
    assert_eq!(get(&p, "/a.txt", &format!("If-Match: {etag}")).status, 200);
}

#[test]
fn ranges_give_206_multipart_and_416() {
    let (_dir, p) = site(&[("a.txt", TEXT)], |_| {});
    let one = get(&p, "/a.txt", "Range: bytes=0-4");
    assert_eq!(one.status, 206);
    assert_eq!(one.get("content-range"), Some("bytes 0-4/13"));
    assert_eq!(body(&one), b"hello");
    assert_eq!(one.range.as_deref(), Some("bytes=0-4"));

    let multi = get(&p, "/a.txt", "Range: bytes=0-1,7-11");
    assert_eq!(multi.status, 206);
    let ctype = multi.get("content-type").unwrap();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap();
    let text = String::from_utf8(body(&multi)).unwrap();
    assert_eq!(multi.content_length, Some(text.len() as u64));
    assert!(
        text.contains("Content-Range: bytes 0-1/13\r\n\r\nhe\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Content-Range: bytes 7-11/13\r\n\r\nworld\r\n"),
        "{text}"
    );
    assert!(text.ends_with(&format!("--{boundary}--\r\n")), "{text}");

    let beyond = get(&p, "/a.txt", "Range: bytes=100-");
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.get("content-range"), Some("bytes */13"));
}

#[test]
fn missing_and_hidden_files_are_404_and_bad_paths_400() {
    let (_dir, p) = site(&[("a.txt", TEXT), (".secret", b"no")], |_| {});
    assert_eq!(get(&p, "/missing.txt", "").status, 404);
    assert_eq!(get(&p, "/.secret", "").status, 404);
    assert_eq!(get(&p, "/%2e%2e/etc/passwd", "").status, 400);
    let not_found = get(&p, "/missing.txt", "");
    assert_eq!(
        not_found.get("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(String::from_utf8(body(&not_found)).unwrap().contains("404"));
}

#[test]
fn methods_other_than_get_and_head() {
    let (_dir, p) = site(&[("a.txt", TEXT)], |_| {});
    let options = ask(&p, Method::Options, "/a.txt", "");
    assert_eq!((options.status, options.get("allow")), (204, Some(ALLOW)));
    let post = ask(&p, Method::NotAllowed, "/a.txt", "");
    assert_eq!((post.status, post.get("allow")), (405, Some(ALLOW)));
    assert_eq!(ask(&p, Method::Unknown, "/a.txt", "").status, 501);
}

#[test]
fn a_precompressed_sibling_is_chosen_by_accept_encoding() {
    let (_dir, p) = site(
        &[("app.js", b"let a = 1;\n"), ("app.js.gz", b"GZIPPED")],
        |c| {
            c.compression.enabled = false;
        },
    );
    let plan = get(&p, "/app.js", "Accept-Encoding: gzip");
    assert_eq!(plan.get("content-encoding"), Some("gzip"));
    assert_eq!(plan.get("vary"), Some("Accept-Encoding"));
    assert_eq!(
        plan.get("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(body(&plan), b"GZIPPED");
    assert_eq!(plan.encoding, "gzip");
    let plain = get(&p, "/app.js", "Accept-Encoding: br");
    assert_eq!(plain.get("content-encoding"), None);
    assert_eq!(body(&plain), b"let a = 1;\n");
}

#[test]
fn large_files_are_compressed_on_the_fly_off_the_event_loop() {
    let text: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("line {i} of a compressible page\n").into_bytes())
        .collect();
    assert!(text.len() as u64 > INLINE_COMPRESS);
    let (_dir, p) = site(&[("page.html", &text)], |_| {});
    let plan = get(&p, "/page.html", "Accept-Encoding: gzip");
    assert_eq!(plan.status, 200);
    assert_eq!(plan.get("content-encoding"), Some("gzip"));
    let coded = body(&plan);
    assert!(coded.len() < text.len() / 4);
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&coded[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, text);
    let identity_tag = get(&p, "/page.html", "").get("etag").unwrap().to_string();
    assert_ne!(plan.get("etag"), Some(identity_tag.as_str()));
}

#[test]
fn the_fallback_serves_html_requests_for_unknown_paths() {
    let (_dir, p) = site(&[("index.html", b"<p>app</p>")], |c| {
        c.fallback = Some("index.html".into());
    });
    let plan = get(&p, "/some/route", "Accept: text/html,*/*");
    assert_eq!(plan.status, 200);
    assert_eq!(body(&plan), b"<p>app</p>");
    assert_eq!(get(&p, "/some/image.png", "Accept: image/*").status, 404);
}

#[test]
fn without_credentials_authentication_is_challenged() {
    let (_dir, p) = site(&[("a.txt", TEXT)], |c| {
        let hash = crate::site::auth::hash_password("pw").unwrap();
        c.users = vec![User::parse(&format!("ann:{hash}")).unwrap()];
    });
    let plan = get(&p, "/a.txt", "");
    assert_eq!(plan.status, 401);
    assert!(plan
        .get("www-authenticate")
        .is_some_and(|c| c.starts_with("Basic realm=")));
    let good = get(&p, "/a.txt", "Authorization: Basic YW5uOnB3");
    assert_eq!(good.status, 200);
}

#[test]
fn directories_redirect_list_or_refuse() {
    let (_dir, p) = site(&[("docs/a.txt", TEXT)], |_| {});
    let plan = get(&p, "/docs", "");
    assert_eq!((plan.status, plan.get("location")), (301, Some("/docs/")));
    assert_eq!(get(&p, "/docs/", "").status, 403);
    let (_dir, listed) = site(&[("docs/a.txt", TEXT)], |c| c.listing = true);
    let page = get(&listed, "/docs/", "");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8(body(&page)).unwrap().contains("a.txt"));
}

#[test]
fn configured_fields_and_cors_join_every_response() {
    let (_dir, p) = site(&[("a.txt", TEXT)], |c| {
        c.headers = vec![("X-Site".into(), "demo".into())];
        c.cors = vec!["*".into()];
        c.cache_control = Some("max-age=60".into());
    });
    let ok = get(&p, "/a.txt", "Origin: https://example.com");
    assert_eq!(ok.get("x-site"), Some("demo"));
    assert_eq!(ok.get("access-control-allow-origin"), Some("*"));
    assert_eq!(ok.get("cache-control"), Some("max-age=60"));
    let missing = get(&p, "/nope", "");
    assert_eq!(missing.get("x-site"), Some("demo"));
}
