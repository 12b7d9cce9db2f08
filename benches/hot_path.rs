//! Micro-benchmarks of the per-request hot path: parsing a head, resolving
//! a URL path, and encoding a response head.
//!
//! `cargo bench --bench hot_path`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use henaserver::internals::{encode_head, parse_head, resolve_path, Plan, RequestHead};
use henaserver::Limits;

const WRK_REQUEST: &[u8] = b"GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
const BROWSER_REQUEST: &[u8] = b"GET /assets/app.js?v=3 HTTP/1.1\r\n\
Host: localhost:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://localhost:8080/\r\n\
Connection: keep-alive\r\n\
Sec-Fetch-Dest: script\r\n\
Sec-Fetch-Mode: no-cors\r\n\
Sec-Fetch-Site: same-origin\r\n\
If-None-Match: \"5f2-1aa-18ea290d9703fa52\"\r\n\
If-Modified-Since: Sat, 21 Nov 2026 20:22:19 GMT\r\n\r\n";

fn parse(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("parse");
    for (name, raw) in [("wrk", WRK_REQUEST), ("browser", BROWSER_REQUEST)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let head: Option<RequestHead> = parse_head(black_box(raw), &limits).unwrap();
                black_box(head)
            })
        });
    }
    g.finish();
}

fn resolve_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("resolve");
    for (name, path) in [
        ("short", &b"/index.html"[..]),
        ("deep", b"/assets/js/vendor/app.min.js"),
        ("encoded", b"/docs/%E6%97%A5%E6%9C%AC/a%20b/../c.html"),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(resolve_path(black_box(path))))
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut out = Vec::with_capacity(512);
    let mut plan = Plan::new(200);
    plan.field("Content-Type", "text/html; charset=utf-8");
    plan.field("Last-Modified", "Sat, 21 Nov 2026 20:22:19 GMT");
    plan.field("ETag", "\"5f2-1aa-18ea290d9703fa52\"");
    plan.field("X-Content-Type-Options", "nosniff");
    plan.content_length = Some(1024);
    c.bench_function("encode_head", |b| {
        b.iter(|| {
            out.clear();
            encode_head(&mut out, black_box(&plan), true);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, parse, resolve_paths, encode);
criterion_main!(benches);
