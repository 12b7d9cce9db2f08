//! HTTPS: the same server over TLS, certificates by SNI, ALPN, resumption,
//! handshake limits, plain HTTP on the TLS port, the redirect listener,
//! HSTS, reloads, bad files, the self-signed certificate and the key log.

mod common;
use common::tls::{self, Ca};
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Instant;

/// A tree with a few files, a CA, and a certificate for `localhost`.
struct Setup {
    tree: Tree,
    ca: Ca,
    cert: String,
    key: String,
}

fn setup() -> Setup {
    let tree = Tree::new();
    tree.file("www/index.html", "<h1>hello</h1>\n")
        .file("www/data.txt", "0123456789abcdefghij");
    let ca = Ca::new();
    let (cert, key) = ca.leaf(&["localhost"]).write(tree.path(), "localhost");
    Setup {
        tree,
        ca,
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    }
}

impl Setup {
    fn www(&self) -> std::path::PathBuf {
        self.tree.path().join("www")
    }

    fn start(&self, extra: &[&str]) -> TestServer {
        let mut args = vec!["--quiet", "--tls-cert", &self.cert, "--tls-key", &self.key];
        args.extend_from_slice(extra);
        TestServer::start(&self.www(), &args)
    }
}

#[test]
fn the_pipeline_works_the_same_over_tls() {
    let s = setup();
    let server = s.start(&[]);
    assert!(server.stdout.lock().unwrap()[0].contains("https://"));
    let config = s.ca.client_config(&[b"http/1.1"]);
    let mut c = tls::connect(server.addr, "localhost", config);
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"0123456789abcdefghij");
    let etag = r.header("ETag").unwrap().to_string();

    // Pipelined on the same TLS connection: HEAD, a range, a 304, a 404.
    c.send(
        format!(
            "HEAD /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
             GET /data.txt HTTP/1.1\r\nHost: localhost\r\nRange: bytes=2-5\r\n\r\n\
             GET /data.txt HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: {etag}\r\n\r\n\
             GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .as_bytes(),
    );
    let head = c.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("20"));
    let range = c.response();
    assert_eq!((range.status, &range.body[..]), (206, &b"2345"[..]));
    assert_eq!(c.response().status, 304);
    assert_eq!(c.response().status, 404);

    // A large body goes through the copy path, whole.
    let big: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(s.www().join("big.bin"), &big).unwrap();
    c.send(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.body == big, "large body differs over TLS");

    // A request that closes gets close_notify, then the end.
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().status, 200);
    assert!(c.closed());
}

#[test]
fn alpn_chooses_h2_then_http1_and_tls_versions_are_modern() {
    let s = setup();
    let server = s.start(&[]);
    let h2 = tls::connect(
        server.addr,
        "localhost",
        s.ca.client_config(&[b"h2", b"http/1.1"]),
    );
    assert_eq!(h2.stream.conn.alpn_protocol(), Some(&b"h2"[..]));
    let c = tls::connect(server.addr, "localhost", s.ca.client_config(&[b"http/1.1"]));
    assert_eq!(c.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        c.stream.conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    // A TLS 1.2-only client is served with an ECDHE AEAD suite.
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(s.ca.pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut c = tls::connect(server.addr, "localhost", std::sync::Arc::new(config));
    let suite = format!(
        "{:?}",
        c.stream.conn.negotiated_cipher_suite().unwrap().suite()
    );
    assert!(suite.starts_with("TLS_ECDHE_"), "{suite}");
    assert!(
        suite.contains("GCM") || suite.contains("CHACHA20"),
        "{suite}"
    );
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 200);
}

#[test]
fn the_certificate_is_chosen_by_sni() {
    let s = setup();
    let a = s.ca.leaf(&["a.test"]);
    let b = s.ca.leaf(&["*.b.test"]);
    let (a_cert, a_key) = a.write(s.tree.path(), "a");
    let (b_cert, b_key) = b.write(s.tree.path(), "b");
    let (a_cert, a_key) = (a_cert.display().to_string(), a_key.display().to_string());
    let (b_cert, b_key) = (b_cert.display().to_string(), b_key.display().to_string());
    let server = TestServer::start(
        &s.www(),
        &[
            "--quiet",
            "--tls-cert",
            &a_cert,
            "--tls-key",
            &a_key,
            "--tls-cert",
            &b_cert,
            "--tls-key",
            &b_key,
        ],
    );
    let cert_for =
        |name: &str| tls::peer_cert(&tls::connect(server.addr, name, tls::trusting_config()));
    assert_eq!(cert_for("a.test"), a.der);
    assert_eq!(cert_for("www.b.test"), b.der, "a wildcard covers one label");
    assert_eq!(
        cert_for("unknown.test"),
        a.der,
        "the first pair is the default"
    );
    assert_eq!(cert_for("127.0.0.1"), a.der, "no SNI gets the default");
    // A client that verifies gets a valid chain for the name it asked.
    let mut c = tls::connect(server.addr, "x.b.test", s.ca.client_config(&[]));
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: x.b.test\r\n\r\n");
    assert_eq!(c.response().status, 200);
}

#[test]
fn sessions_resume() {
    let s = setup();
    let server = s.start(&[]);
    let config = s.ca.client_config(&[b"http/1.1"]);
    for _ in 0..2 {
        // The first connection reads a response, so the tickets have come.
        let mut c = tls::connect(server.addr, "localhost", config.clone());
        c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.response().status, 200);
    }
    let c = tls::connect(server.addr, "localhost", config);
    assert_eq!(
        c.stream.conn.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
}

#[test]
fn stalled_handshakes_are_dropped() {
    let s = setup();
    let server = s.start(&["--tls-handshake-timeout", "1s"]);
    // One that sends nothing, one that stops inside a ClientHello.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let mut partial = TcpStream::connect(server.addr).unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    for stream in [&mut silent, &mut partial] {
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "the server should close, not answer");
        assert!(started.elapsed() < PATIENCE);
    }
    // Garbage is closed at once; the server goes on serving.
    let mut garbage = TcpStream::connect(server.addr).unwrap();
    garbage.write_all(b"\x00\x01\x02 not tls").unwrap();
    garbage.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(garbage.read(&mut buf).unwrap_or(0), 0);
    let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[]));
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 200);
}

#[test]
fn plain_http_to_the_tls_port_gets_a_plain_400() {
    let s = setup();
    let server = s.start(&[]);
    let mut c = server.connect();
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("HTTPS"), "{}", r.text());
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed());
}

#[test]
fn the_redirect_listener_sends_308_to_https_and_hsts_is_https_only() {
    let s = setup();
    let server = s.start(&[
        "--redirect-http",
        "127.0.0.1:0",
        "--hsts",
        "31536000",
        "--hsts-include-subdomains",
    ]);
    let line = server.stdout.lock().unwrap()[0].clone();
    let addrs = start_line_addrs(&line);
    assert_eq!(addrs.len(), 2, "{line}");
    let (https, plain) = (addrs[0], addrs[1]);
    assert_eq!(https, server.addr);
    let mut c = Client::connect(plain);
    c.send(b"GET /docs/a%20b?x=1&y=2 HTTP/1.1\r\nHost: example.test:8080\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("Location").unwrap(),
        format!("https://example.test:{}/docs/a%20b?x=1&y=2", https.port())
    );
    assert_eq!(r.header("Strict-Transport-Security"), None);
    // The redirect listener keeps the usual limits: a malformed request is 400.
    let mut bad = Client::connect(plain);
    bad.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(bad.response().status, 400);

    let mut t = tls::connect(https, "localhost", s.ca.client_config(&[]));
    t.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = t.response();
    assert_eq!(
        r.header("Strict-Transport-Security"),
        Some("max-age=31536000; includeSubDomains")
    );
}

/// Waits until a new connection is served with the certificate `der`.
fn wait_for_cert(server: &TestServer, der: &[u8]) -> bool {
    let until = Instant::now() + PATIENCE;
    while Instant::now() < until {
        let c = tls::connect(server.addr, "localhost", tls::trusting_config());
        if tls::peer_cert(&c) == der {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

fn replace_files(s: &Setup, cert: &str, key: &str) {
    // As certbot and cert-manager do: new files renamed over the old.
    let dir = s.tree.path();
    std::fs::write(dir.join("new.crt"), cert).unwrap();
    std::fs::write(dir.join("new.key"), key).unwrap();
    std::fs::rename(dir.join("new.key"), &s.key).unwrap();
    std::fs::rename(dir.join("new.crt"), &s.cert).unwrap();
}

#[test]
fn sighup_reloads_certificates_and_open_connections_carry_on() {
    let s = setup();
    let server = s.start(&[]);
    let mut kept = tls::connect(server.addr, "localhost", s.ca.client_config(&[]));
    kept.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(kept.response().status, 200);

    let fresh = s.ca.leaf(&["localhost"]);
    replace_files(&s, &fresh.cert_pem, &fresh.key_pem);
    server.signal("HUP");
    assert!(
        wait_for_cert(&server, &fresh.der),
        "new certificate not served"
    );

    kept.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(kept.response().status, 200, "an open connection goes on");
}

#[test]
fn a_failed_reload_keeps_the_old_certificate() {
    let s = setup();
    let server = s.start(&[]);
    let before = tls::peer_cert(&tls::connect(
        server.addr,
        "localhost",
        tls::trusting_config(),
    ));
    // A key that does not match the certificate.
    let other = s.ca.leaf(&["localhost"]);
    std::fs::write(&s.key, &other.key_pem).unwrap();
    server.signal("HUP");
    assert!(
        server
            .wait_stderr(|l| l.contains("does not match"))
            .is_some(),
        "{:?}",
        server.stderr.lock().unwrap()
    );
    let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[]));
    assert_eq!(tls::peer_cert(&c), before);
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 200);
}

#[test]
fn certificates_replaced_on_disk_are_noticed_without_a_signal() {
    let s = setup();
    let server = s.start(&[]);
    let fresh = s.ca.leaf(&["localhost"]);
    replace_files(&s, &fresh.cert_pem, &fresh.key_pem);
    assert!(
        wait_for_cert(&server, &fresh.der),
        "new certificate not noticed"
    );
}

#[test]
fn unusable_certificate_files_are_one_line_and_exit_2() {
    let s = setup();
    let dir = s.tree.path();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let other_key = s.ca.leaf(&["localhost"]).write(dir, "other").1;
    let missing = dir.join("missing.pem");
    let www = s.www();
    let p = |path: &Path| path.display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![s.cert.clone(), p(&missing)], "missing.pem"),
        (vec![p(&missing), s.key.clone()], "missing.pem"),
        (vec![p(&garbage), s.key.clone()], "garbage.pem"),
        (vec![s.cert.clone(), p(&garbage)], "garbage.pem"),
        (vec![s.cert.clone(), p(&other_key)], "does not match"),
    ];
    for (files, expected) in cases {
        let (code, _out, err) = run_bin(
            &[
                &p(&www),
                "--port",
                "0",
                "--tls-cert",
                &files[0],
                "--tls-key",
                &files[1],
            ],
            &[],
        );
        assert_eq!(code, Some(2), "{files:?}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(expected), "{err}");
    }
    let (code, _, err) = run_bin(&[&p(&www), "--tls-cert", &s.cert], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pairs"), "{err}");
    let (code, _, err) = run_bin(&[&p(&www), "--hsts", "10"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--hsts needs HTTPS"), "{err}");
}

/// Runs openssl with `args`, feeding it `input`; `None` when openssl is
/// not installed.
fn openssl(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?} failed");
    Some(out.stdout)
}

#[test]
fn keys_in_pkcs8_rsa_and_ec_forms_are_accepted() {
    let s = setup();
    let Some(rsa_pkcs8) = openssl(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        b"",
    ) else {
        eprintln!("SKIPPED: openssl is not installed; RSA and EC key forms not tested");
        return;
    };
    let rsa_key = rcgen::KeyPair::from_pem(std::str::from_utf8(&rsa_pkcs8).unwrap()).unwrap();
    let rsa = s.ca.leaf_with(&["localhost"], rsa_key);
    let rsa_pkcs1 = openssl(&["rsa", "-traditional"], &rsa_pkcs8).unwrap();
    assert!(String::from_utf8_lossy(&rsa_pkcs1).contains("BEGIN RSA PRIVATE KEY"));

    let ec_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let ec = s.ca.leaf_with(&["localhost"], ec_key);
    let ec_sec1 = openssl(&["ec"], ec.key_pem.as_bytes()).unwrap();
    assert!(String::from_utf8_lossy(&ec_sec1).contains("BEGIN EC PRIVATE KEY"));

    let forms: [(&str, &str, &[u8]); 3] = [
        ("pkcs8-rsa", &rsa.cert_pem, &rsa_pkcs8),
        ("pkcs1-rsa", &rsa.cert_pem, &rsa_pkcs1),
        ("sec1-ec", &ec.cert_pem, &ec_sec1),
    ];
    for (name, cert_pem, key_pem) in forms {
        let cert = s.tree.path().join(format!("{name}.crt"));
        let key = s.tree.path().join(format!("{name}.key"));
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let server = TestServer::start(
            &s.www(),
            &[
                "--quiet",
                "--tls-cert",
                &cert.display().to_string(),
                "--tls-key",
                &key.display().to_string(),
            ],
        );
        let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[]));
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.response().status, 200, "{name}");
    }
}

#[cfg(unix)]
#[test]
fn a_self_signed_certificate_is_made_and_kept() {
    let s = setup();
    let cache = s.tree.path().join("cache");
    let cache_env = cache.display().to_string();
    let start = || {
        TestServer::start_with_env(
            &s.www(),
            &["--quiet", "--tls-self-signed", "--tls-name", "dev.test"],
            &[("XDG_CACHE_HOME", &cache_env)],
        )
    };
    let first = start();
    let line = first.stdout.lock().unwrap()[0].clone();
    let fingerprint = line
        .split("SHA-256 ")
        .nth(1)
        .unwrap_or_else(|| panic!("no fingerprint in {line}"))
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
    // The certificate is its own trust anchor, valid for every name.
    let der = tls::peer_cert(&tls::connect(
        first.addr,
        "localhost",
        tls::trusting_config(),
    ));
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der.clone().into()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    for name in ["localhost", "127.0.0.1", "dev.test"] {
        let mut c = tls::connect(first.addr, name, config.clone());
        c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.response().status, 200, "{name}");
    }
    // Its files are the owner's only.
    use std::os::unix::fs::PermissionsExt;
    let kept = std::fs::read_dir(cache.join("henaserver")).unwrap();
    for entry in kept {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    drop(first);
    // A restart serves the same certificate.
    let second = start();
    assert!(second.stdout.lock().unwrap()[0].contains(&fingerprint));
}

#[test]
fn the_key_log_gets_secrets_and_the_dump_gets_plaintext() {
    let s = setup();
    let keylog = s.tree.path().join("keys.log");
    let dump = s.tree.path().join("dump");
    let server = s.start(&[
        "--tls-keylog",
        &keylog.display().to_string(),
        "--dump",
        &dump.display().to_string(),
    ]);
    assert!(server.stdout.lock().unwrap()[0].contains("WARNING"));
    let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[]));
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 200);
    let until = Instant::now() + PATIENCE;
    let mut dumped = String::new();
    while Instant::now() < until && dumped.is_empty() {
        if let Ok(entries) = std::fs::read_dir(&dump) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with(".request.http") {
                    dumped = std::fs::read_to_string(e.path()).unwrap();
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        dumped.starts_with("GET /data.txt HTTP/1.1\r\n"),
        "{dumped:?}"
    );
    let log = std::fs::read_to_string(&keylog).unwrap();
    assert!(log.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET "), "{log}");
    assert!(log.contains("SERVER_TRAFFIC_SECRET_0 "), "{log}");
    let client_random = log.lines().next().unwrap().split(' ').nth(1).unwrap();
    assert_eq!(client_random.len(), 64);
}

#[test]
fn the_json_access_log_names_the_tls_version_and_alpn() {
    let s = setup();
    let server = TestServer::start(
        &s.www(),
        &[
            "--log-format",
            "json",
            "--tls-cert",
            &s.cert,
            "--tls-key",
            &s.key,
        ],
    );
    let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[b"http/1.1"]));
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 200);
    let line = server
        .wait_stdout(|l| l.contains("/data.txt"))
        .expect("an access log line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["tls"], "TLSv1.3");
    assert_eq!(v["alpn"], "http/1.1");
    assert_eq!(v["status"], 200);
}

/// System calls that read, made by process `pid` so far.
fn read_calls(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("syscr in /proc/PID/io")
}

/// Kernel TLS where the kernel offers it, user-space TLS where it does
/// not or with `--no-ktls`: the same bytes either way. Where the kernel
/// encrypts, the start line says so and a file goes out with a few
/// sendfile calls instead of a read per 64 KiB. `bench/kernel-vm.sh` runs
/// this on a kernel with the `tls` module and `KERNEL_TLS_EXPECTED` set,
/// which makes kernel TLS a requirement.
#[test]
fn kernel_tls_and_its_fallback_serve_the_same_bytes() {
    const BIG: usize = 16 << 20;
    let s = setup();
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    std::fs::write(s.www().join("big.bin"), &big).unwrap();
    let expected = std::env::var_os("KERNEL_TLS_EXPECTED").is_some();
    let mut used_kernel = false;
    std::fs::write(s.www().join("empty.txt"), b"").unwrap();
    for (args, may_use_kernel) in [(&[][..], true), (&["--no-ktls"][..], false)] {
        // No open-file cache: every body is sent from the file.
        let server = s.start(&[args, &["--cache-entries", "0"]].concat());
        let line = server.stdout.lock().unwrap()[0].clone();
        let kernel = line.contains("; kernel TLS");
        used_kernel |= kernel;
        assert!(may_use_kernel || !kernel, "{args:?}: {line}");
        assert!(!may_use_kernel || !expected || kernel, "{line}");
        for alpn in [&b"http/1.1"[..], &b"h2"[..]] {
            let c = tls::connect(server.addr, "localhost", s.ca.client_config(&[alpn]));
            assert_eq!(c.stream.conn.alpn_protocol(), Some(alpn));
        }

        let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[b"http/1.1"]));
        c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(c.response().body, b"0123456789abcdefghij");
        let before = read_calls(server.child.id());
        c.send(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let r = c.response();
        let calls = read_calls(server.child.id()) - before;
        assert_eq!(r.status, 200);
        assert!(r.body == big, "{args:?}: the large body differs");
        let copies = (BIG / 65536) as u64;
        eprintln!("{args:?}: kernel TLS {kernel}, {calls} read calls for 16 MiB");
        if kernel {
            assert!(
                calls < copies / 2,
                "{calls} read calls for 16 MiB: not sendfile"
            );
        } else {
            assert!(calls >= copies, "{calls} read calls for 16 MiB: not copied");
        }

        // An empty file, whose head must not wait for a body.
        c.send(b"GET /empty.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let empty = c.response();
        assert_eq!((empty.status, empty.body.len()), (200, 0));

        // A range and a pipelined pair, then close_notify.
        c.send(
            b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nRange: bytes=1000000-1000009\r\n\r\n\
              HEAD /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
              GET /data.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        let range = c.response();
        assert_eq!(range.status, 206);
        assert_eq!(range.body, &big[1_000_000..1_000_010]);
        assert_eq!(c.head_response().header("Content-Length"), Some("20"));
        assert_eq!(c.response().body, b"0123456789abcdefghij");
        assert!(c.closed(), "{args:?}: no close_notify");
    }
    if !used_kernel {
        eprintln!("kernel TLS is not offered here: only the user-space path was checked");
    }
}

/// A request written before the handshake ends leaves with the client's
/// Finished, in the same flight: the server may read it together with the
/// handshake (and, where the kernel takes over, must hand it on).
#[test]
fn a_request_sent_with_the_last_handshake_flight_is_answered() {
    use rustls::pki_types::ServerName;
    let s = setup();
    let server = s.start(&[]);
    for _ in 0..5 {
        let name = ServerName::try_from("localhost").unwrap();
        let config = s.ca.client_config(&[b"http/1.1"]);
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        conn.writer()
            .write_all(
                b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n\
                  GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let tcp = TcpStream::connect(server.addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut c = common::Client::over(rustls::StreamOwned::new(conn, tcp));
        assert_eq!(c.response().body, b"0123456789abcdefghij");
        assert_eq!(c.response().body, b"<h1>hello</h1>\n");
        assert!(c.closed());
    }
}

/// A TLS 1.3 KeyUpdate from the client: rustls in user space follows it
/// and the connection goes on; under kernel TLS, which would need the new
/// keys from user space, the connection is closed. Either way no hang and
/// no wrong bytes.
#[test]
fn a_client_key_update_is_followed_or_closes_the_connection() {
    let s = setup();
    let server = s.start(&[]);
    let kernel = server.stdout.lock().unwrap()[0].contains("; kernel TLS");
    let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[b"http/1.1"]));
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().body, b"0123456789abcdefghij");
    c.stream.conn.refresh_traffic_keys().unwrap();
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    if kernel {
        let mut buf = [0u8; 64];
        let n = c.stream.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
    } else {
        assert_eq!(c.response().body, b"0123456789abcdefghij");
    }
    // The server goes on serving.
    let mut c = tls::connect(server.addr, "localhost", s.ca.client_config(&[b"http/1.1"]));
    c.send(b"GET /data.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.response().status, 200);
}
