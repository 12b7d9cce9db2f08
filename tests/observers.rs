//! One record per exchange, one fan-out: a request over HTTP/1.1, HTTP/2,
//! and each over TLS, makes exactly one access log line, one dump file
//! pair, one inspector entry and one metrics increment.

mod common;
use common::tls::Ca;
use common::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Way {
    Http1,
    H2c,
    Http1OverTls,
    H2OverTls,
    H3,
}

impl Way {
    fn tls(self) -> bool {
        matches!(self, Way::Http1OverTls | Way::H2OverTls | Way::H3)
    }

    fn http2(self) -> bool {
        matches!(self, Way::H2c | Way::H2OverTls)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends one GET of `path` over HTTP/2 on `io` and reads the whole answer.
async fn h2_get<T>(io: T, path: &str) -> (u16, Vec<u8>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = h2::client::handshake(io).await.unwrap();
    let running = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let request = http::Request::get(format!("https://localhost{path}"))
        .body(())
        .unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk: Bytes = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    drop(client);
    running.abort();
    (status, bytes)
}

/// One GET of `path` the way `way` says.
fn request(way: Way, addr: SocketAddr, ca: &Ca, path: &str) -> (u16, Vec<u8>) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    match way {
        Way::Http1 => {
            let r = Client::connect(addr).send_and_read(head.as_bytes());
            (r.status, r.body)
        }
        Way::Http1OverTls => {
            let config = ca.client_config(&[b"http/1.1"]);
            let r = common::tls::connect(addr, "localhost", config).send_and_read(head.as_bytes());
            (r.status, r.body)
        }
        Way::H2c => runtime().block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            h2_get(tcp, path).await
        }),
        Way::H2OverTls => runtime().block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let connector = tokio_rustls::TlsConnector::from(ca.client_config(&[b"h2"]));
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            h2_get(tls, path).await
        }),
        // UDP at the HTTPS listener's address and port.
        Way::H3 => runtime().block_on(async {
            let (endpoint, client) = common::h3::connect(addr, &ca.client_config(&[])).await;
            let r = common::h3::send(&client, "GET", path, &[]).await;
            drop(client);
            endpoint.close(0u32.into(), b"");
            endpoint.wait_idle().await;
            (r.status, r.body)
        }),
    }
}

/// The files in `dir`, once their count has settled.
fn settled_files(dir: &Path, at_least: usize) -> Vec<String> {
    let until = Instant::now() + PATIENCE;
    let list = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    while list().len() < at_least && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A second pair, if one were coming, is written by the same thread
    // right after the first.
    std::thread::sleep(Duration::from_millis(200));
    list()
}

/// The value of each sample of the Prometheus text, by name and labels.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn observed_once(way: Way) {
    let tree = Tree::new();
    tree.file("www/data.txt", "observed\n");
    let root = tree.path().join("www");
    let dump = tree.path().join("dump");
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let dump_arg = dump.display().to_string();
    let mut args = vec![
        "--log-format",
        "json",
        "--dump",
        &dump_arg,
        "--inspect",
        "--admin",
        "127.0.0.1:0",
    ];
    if way.tls() {
        args.extend_from_slice(&["--tls-cert", &cert, "--tls-key", &key]);
    }
    if way == Way::H3 {
        args.push("--http3");
    }
    let server = TestServer::start(&root, &args);
    let line = server.stdout.lock().unwrap()[0].clone();
    let admin = *start_line_addrs(&line).last().unwrap();

    let (status, body) = request(way, server.addr, &ca, "/data.txt");
    assert_eq!((status, &body[..]), (200, &b"observed\n"[..]), "{way:?}");

    // One access log line.
    server
        .wait_stdout(|l| l.contains("/data.txt"))
        .expect("an access log line");
    let protocol = match way {
        Way::H3 => "HTTP/3.0",
        _ if way.http2() => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    std::thread::sleep(Duration::from_millis(200));
    let lines: Vec<String> = server
        .stdout
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("/data.txt"))
        .cloned()
        .collect();
    assert_eq!(lines.len(), 1, "{way:?}: {lines:?}");
    let entry: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(entry["protocol"], protocol, "{way:?}");
    assert_eq!(entry["status"], 200, "{way:?}");

    // One dump file pair.
    let files = settled_files(&dump, 2);
    assert_eq!(files.len(), 2, "{way:?}: {files:?}");
    assert!(files[0].ends_with(".request.http"), "{files:?}");
    assert!(files[1].ends_with(".response.http"), "{files:?}");
    assert_eq!(
        files[0].trim_end_matches(".request.http"),
        files[1].trim_end_matches(".response.http")
    );

    // One increment of the requests counter, of the protocol used.
    let metrics = Client::connect(admin)
        .send_and_read(b"GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n");
    assert_eq!(metrics.status, 200);
    let label = match way {
        Way::H3 => "h3",
        _ if way.http2() => "h2",
        _ => "http/1.1",
    };
    let key =
        format!("henaserver_requests_total{{protocol=\"{label}\",method=\"GET\",status=\"2xx\"}}");
    let all = samples(&metrics.text());
    assert_eq!(all.get(&key), Some(&1.0), "{way:?}: {key}");
    let total: f64 = all
        .iter()
        .filter(|(k, _)| k.starts_with("henaserver_requests_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(total, 1.0, "{way:?}");

    // One inspector entry (the inspector's own requests are not kept).
    let (status, list) = request(way, server.addr, &ca, "/.henaserver/inspect/exchanges");
    assert_eq!(status, 200);
    let list: serde_json::Value = serde_json::from_slice(&list).unwrap();
    let entries = list.as_array().unwrap();
    assert_eq!(entries.len(), 1, "{way:?}: {list}");
    let text = entries[0].to_string();
    assert!(text.contains("/data.txt"), "{text}");
    assert!(text.contains(protocol), "{text}");
}

#[test]
fn http1_makes_one_record_for_every_observer() {
    observed_once(Way::Http1);
}

#[test]
fn h2c_makes_one_record_for_every_observer() {
    observed_once(Way::H2c);
}

#[test]
fn http1_over_tls_makes_one_record_for_every_observer() {
    observed_once(Way::Http1OverTls);
}

#[test]
fn h2_over_tls_makes_one_record_for_every_observer() {
    observed_once(Way::H2OverTls);
}

#[test]
fn h3_makes_one_record_for_every_observer() {
    observed_once(Way::H3);
}
