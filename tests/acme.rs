//! Automatic HTTPS against pebble, Let's Encrypt's ACME test server:
//! HTTP-01 and TLS-ALPN-01 validated on henaserver's own ports, a valid
//! chain for the name, the stored certificate reused after a restart, a
//! short-lived certificate renewed under an open connection, failures
//! that keep the server serving with back-off, the state directory's
//! modes, the metrics and `--print-config`.
//!
//! pebble and pebble-challtestsrv (its DNS, answering 127.0.0.1 for every
//! name) come from Debian's `pebble` package, which `.ci/run` installs;
//! without them these tests say so and are skipped.

mod common;
use common::tls::{self, Ca};
use common::*;

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Whether pebble can run here; says so when it cannot.
fn pebble_available(test: &str) -> bool {
    let ok = have("pebble") && have("pebble-challtestsrv");
    if !ok {
        eprintln!("SKIPPED: {test} needs pebble and pebble-challtestsrv (apt-get install pebble)");
    }
    ok
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A pebble and its DNS, killed when dropped.
struct Pebble {
    children: Vec<Child>,
    /// The root pebble's own HTTPS is signed by, for `--acme-ca-root`.
    ca_root: PathBuf,
    ca: Ca,
    management: SocketAddr,
    listen: SocketAddr,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Settings of one pebble run.
struct PebbleOptions {
    /// Where validations go: henaserver's plain and HTTPS ports.
    http_port: u16,
    tls_port: u16,
    /// Lifetime of the certificates issued, in seconds (pebble's default
    /// is five years).
    validity: Option<u64>,
    /// Names pebble refuses to issue for.
    blocked: Vec<String>,
}

fn wait_listening(addr: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Pebble {
    /// Ports chosen for a pebble that has not started yet.
    fn ports() -> (SocketAddr, SocketAddr) {
        (
            SocketAddr::from(([127, 0, 0, 1], free_tcp_port())),
            SocketAddr::from(([127, 0, 0, 1], free_tcp_port())),
        )
    }

    /// Ports for a pebble not started yet, its directory URL, and the
    /// file henaserver is told to trust for it: a stand-in root until
    /// pebble's is copied there.
    fn planned(tree: &Tree) -> (SocketAddr, SocketAddr, String, PathBuf) {
        let (listen, management) = Pebble::ports();
        let directory = format!("https://localhost:{}/dir", listen.port());
        let ca = tree.path().join("pebble-ca.pem");
        std::fs::write(&ca, Ca::new().pem).unwrap();
        (listen, management, directory, ca)
    }

    /// Starts pebble on `listen` (ACME) and `management`.
    fn start(
        dir: &Path,
        listen: SocketAddr,
        management: SocketAddr,
        options: PebbleOptions,
    ) -> Pebble {
        let ca = Ca::new();
        let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"]).write(dir, "pebble");
        let ca_root = dir.join("pebble-ca.pem");
        std::fs::write(&ca_root, &ca.pem).unwrap();
        let mut pebble = serde_json::json!({
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": cert,
            "privateKey": key,
            "httpPort": options.http_port,
            "tlsPort": options.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            "domainBlocklist": options.blocked,
        });
        if let Some(validity) = options.validity {
            pebble["certificateValidityPeriod"] = validity.into();
        }
        let config = dir.join("pebble.json");
        std::fs::write(&config, serde_json::json!({ "pebble": pebble }).to_string()).unwrap();
        let dns = format!("127.0.0.1:{}", free_udp_port());
        let dns_server = Command::new("pebble-challtestsrv")
            .args([
                "-dns01",
                &dns,
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .args(["-management", &format!("127.0.0.1:{}", free_tcp_port())])
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Command::new("pebble")
            .arg("-config")
            .arg(&config)
            .args(["-dnsserver", &dns])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pebble = Pebble {
            children: vec![dns_server, server],
            ca_root,
            ca,
            management,
            listen,
        };
        wait_listening(pebble.listen);
        wait_listening(pebble.management);
        pebble
    }

    /// The root pebble issues under (random for each run), in PEM.
    fn issuing_root(&self) -> String {
        let config = self.ca.client_config(&[b"http/1.1"]);
        let mut c = tls::connect(self.management, "localhost", config);
        c.send(b"GET /roots/0 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let r = c.response();
        assert_eq!(r.status, 200);
        r.text()
    }
}

/// henaserver with `--acme` pointed at `pebble`, on ephemeral ports.
fn henaserver(tree: &Tree, pebble_dir: &str, pebble_root: &Path, extra: &[&str]) -> TestServer {
    let state = tree.path().join("acme").display().to_string();
    let root = pebble_root.display().to_string();
    let mut args = vec![
        "--acme-directory",
        pebble_dir,
        "--acme-ca-root",
        &root,
        "--acme-dir",
        &state,
        "--acme-retry",
        "1s",
        "--acme-email",
        "admin@example.org",
    ];
    args.extend_from_slice(extra);
    TestServer::start(&tree.path().join("www"), &args)
}

fn site() -> Tree {
    let tree = Tree::new();
    tree.file("www/index.html", "<h1>secure</h1>\n");
    tree
}

/// Waits for the stderr line saying `domain`'s certificate was `how`.
fn wait_certificate(server: &TestServer, domain: &str, how: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let found = server
            .stderr
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&format!("ACME certificate {how}")) && l.contains(domain))
            .cloned();
        if let Some(line) = found {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no certificate {how} for {domain}: {:?}",
            server.stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A GET of / for `name`, verified against pebble's `root`; the response
/// and the certificate presented.
fn get_verified(addr: SocketAddr, name: &str, root: &str) -> (u16, Vec<u8>) {
    let config = tls::client_config_trusting(root, &[b"http/1.1"]);
    let mut c = tls::connect(addr, name, config);
    c.send(format!("GET / HTTP/1.1\r\nHost: {name}\r\n\r\n").as_bytes());
    let status = c.response().status;
    (status, tls::peer_cert(&c))
}

/// `one.test` by HTTP-01, on a plain listener of its own.
const ONE_BY_HTTP01: [&str; 6] = [
    "--acme",
    "one.test",
    "--acme-challenge",
    "http-01",
    "--redirect-http",
    "0",
];

#[test]
fn http01_then_tls_alpn01_a_valid_chain_and_a_restart_without_an_order() {
    if !pebble_available("http01_then_tls_alpn01") {
        return;
    }
    let tree = site();
    // henaserver first, on ephemeral ports; it retries until pebble,
    // told those ports, is up.
    let (listen, management, directory, pebble_ca) = Pebble::planned(&tree);
    let with_admin: Vec<&str> = ONE_BY_HTTP01
        .iter()
        .copied()
        .chain(["--admin", "127.0.0.1:0"])
        .collect();
    let mut server = henaserver(&tree, &directory, &pebble_ca, &with_admin);
    let line = server.stdout.lock().unwrap()[0].clone();
    let addrs = start_line_addrs(&line);
    let (https, plain, admin) = (addrs[0], addrs[1], addrs[2]);
    let tls_port = https.port();
    // Before any certificate: a temporary self-signed one for the name.
    let mut c = tls::connect(https, "one.test", tls::trusting_config());
    c.send(b"GET / HTTP/1.1\r\nHost: one.test\r\n\r\n");
    assert_eq!(c.response().status, 200);
    let temporary = tls::peer_cert(&c);

    let pebble_dir = tree.path().join("pebble");
    std::fs::create_dir_all(&pebble_dir).unwrap();
    let pebble = Pebble::start(
        &pebble_dir,
        listen,
        management,
        PebbleOptions {
            http_port: plain.port(),
            tls_port: https.port(),
            validity: None,
            blocked: Vec::new(),
        },
    );
    // The root henaserver was told to trust is pebble's.
    std::fs::copy(&pebble.ca_root, &pebble_ca).unwrap();
    let issued = wait_certificate(&server, "one.test", "issued", Duration::from_secs(60));
    assert!(issued.contains("Pebble"), "{issued}");
    let root = pebble.issuing_root();
    let (status, served) = get_verified(https, "one.test", &root);
    assert_eq!(status, 200);
    assert_ne!(served, temporary);
    // The validation came through the plain listener.
    assert!(server
        .wait_stdout(|l| l.contains("/.well-known/acme-challenge/") && l.contains("\" 200 "))
        .is_some());
    // A token not being validated is not found, and other paths redirect.
    let r = Client::connect(plain).send_and_read(
        b"GET /.well-known/acme-challenge/nothing HTTP/1.1\r\nHost: one.test\r\n\r\n",
    );
    assert_eq!(r.status, 404);
    let r = Client::connect(plain).send_and_read(b"GET /x HTTP/1.1\r\nHost: one.test\r\n\r\n");
    assert_eq!(r.status, 308);

    // The state directory: 0700, its files 0600.
    let state = tree.path().join("acme");
    #[cfg(unix)]
    assert_eq!(mode(&state), 0o700);
    let files: Vec<PathBuf> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        files.iter().any(|f| f.ends_with("one.test.crt")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("one.test.key")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("account-")));
    #[cfg(unix)]
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }

    // The metrics name the certificate.
    let metrics = Client::connect(admin).send_and_read(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let text = metrics.text();
    let expiry = text
        .lines()
        .find(|l| {
            l.starts_with("henaserver_acme_certificate_not_after_seconds{domain=\"one.test\"}")
        })
        .unwrap_or_else(|| panic!("{text}"));
    let value: i64 = expiry.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value > 0);

    // A restart serves the stored certificate and orders nothing.
    server.signal("TERM");
    server.wait_exit(PATIENCE);
    let server = henaserver(&tree, &directory, &pebble_ca, &ONE_BY_HTTP01);
    let loaded = wait_certificate(&server, "one.test", "loaded", PATIENCE);
    assert!(loaded.contains("next_renewal"), "{loaded}");
    assert_eq!(
        get_verified(server.addr, "one.test", &root),
        (200, served.clone())
    );
    std::thread::sleep(Duration::from_millis(500));
    let lines = server.stderr.lock().unwrap().clone();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("issued") || l.contains("temporary")),
        "{lines:?}"
    );
    drop(server);

    // TLS-ALPN-01 on the HTTPS listener, with no plain listener at all.
    // pebble validates on its configured TLS port, so this server takes
    // the port the first one had.
    let server = TestServer::start(
        &tree.path().join("www"),
        &[
            "--acme-directory",
            &directory,
            "--acme-ca-root",
            &pebble_ca.display().to_string(),
            "--acme-dir",
            &tree.path().join("acme2").display().to_string(),
            "--acme-retry",
            "1s",
            "--acme",
            "two.test",
            "--acme-challenge",
            "tls-alpn-01",
            "--port",
            &tls_port.to_string(),
        ],
    );
    wait_certificate(&server, "two.test", "issued", Duration::from_secs(60));
    let (status, _) = get_verified(server.addr, "two.test", &root);
    assert_eq!(status, 200);
    let (code, out, _) = run_bin(
        &[
            "--acme",
            "two.test",
            "--acme-dir",
            &tree.path().join("acme2").display().to_string(),
            "--print-config",
        ],
        &[],
    );
    assert_eq!(code, Some(0));
    assert!(
        out.contains("# acme two.test: names two.test, issuer Pebble"),
        "{out}"
    );
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_short_lived_certificate_is_renewed_under_an_open_connection() {
    if !pebble_available("renewal") {
        return;
    }
    let tree = site();
    let (listen, management, directory, pebble_ca) = Pebble::planned(&tree);
    let server = henaserver(
        &tree,
        &directory,
        &pebble_ca,
        &["--acme", "short.test", "--keepalive-timeout", "5m"],
    );
    let https = server.addr;
    let pebble_dir = tree.path().join("pebble");
    std::fs::create_dir_all(&pebble_dir).unwrap();
    let pebble = Pebble::start(
        &pebble_dir,
        listen,
        management,
        PebbleOptions {
            http_port: free_tcp_port(),
            tls_port: https.port(),
            validity: Some(30),
            blocked: Vec::new(),
        },
    );
    std::fs::copy(&pebble.ca_root, &pebble_ca).unwrap();
    wait_certificate(&server, "short.test", "issued", Duration::from_secs(60));
    let root = pebble.issuing_root();
    let config = tls::client_config_trusting(&root, &[b"http/1.1"]);
    let mut open = tls::connect(https, "short.test", config);
    open.send(b"GET / HTTP/1.1\r\nHost: short.test\r\n\r\n");
    assert_eq!(open.response().status, 200);
    let first = tls::peer_cert(&open);
    // Two thirds of 30 s, less a little jitter.
    wait_certificate(&server, "short.test", "renewed", Duration::from_secs(90));
    open.send(b"GET / HTTP/1.1\r\nHost: short.test\r\n\r\n");
    assert_eq!(
        open.response().status,
        200,
        "the open connection carries on"
    );
    let (status, renewed) = get_verified(https, "short.test", &root);
    assert_eq!(status, 200);
    assert_ne!(renewed, first, "new handshakes get the new certificate");
}

#[test]
fn failures_keep_serving_and_back_off() {
    if !pebble_available("failures") {
        return;
    }
    let tree = site();
    // Nothing listens at this directory.
    let nowhere = format!("https://127.0.0.1:{}/dir", free_tcp_port());
    let pebble_ca = tree.path().join("ca.pem");
    std::fs::write(&pebble_ca, Ca::new().pem).unwrap();
    let server = henaserver(&tree, &nowhere, &pebble_ca, &["--acme", "down.test"]);
    let first = server
        .wait_stderr(|l| l.contains("ACME order failed") && l.contains("retrying in 1s"))
        .expect("a failure line");
    assert!(first.contains("down.test"), "{first}");
    server
        .wait_stderr(|l| l.contains("ACME order failed") && l.contains("retrying in 2s"))
        .expect("the wait doubles");
    // Meanwhile the temporary certificate serves.
    let mut c = tls::connect(server.addr, "down.test", tls::trusting_config());
    c.send(b"GET / HTTP/1.1\r\nHost: down.test\r\n\r\n");
    assert_eq!(c.response().status, 200);
    drop(server);

    // A CA that refuses the name: one line per failure, and the other
    // domain is issued all the same.
    let (listen, management) = Pebble::ports();
    let directory = format!("https://localhost:{}/dir", listen.port());
    let pebble_dir = tree.path().join("pebble");
    std::fs::create_dir_all(&pebble_dir).unwrap();
    let https_port = free_tcp_port();
    let pebble = Pebble::start(
        &pebble_dir,
        listen,
        management,
        PebbleOptions {
            http_port: free_tcp_port(),
            tls_port: https_port,
            validity: None,
            blocked: vec!["refused.test".into()],
        },
    );
    let server = henaserver(
        &tree,
        &directory,
        &pebble.ca_root,
        &[
            "--acme",
            "refused.test",
            "--acme",
            "fine.test",
            "--port",
            &https_port.to_string(),
        ],
    );
    wait_certificate(&server, "fine.test", "issued", Duration::from_secs(60));
    let refused = server
        .wait_stderr(|l| l.contains("ACME order failed") && l.contains("refused.test"))
        .expect("the refusal");
    assert!(refused.contains("retrying in"), "{refused}");
    let mut c = tls::connect(server.addr, "refused.test", tls::trusting_config());
    c.send(b"GET / HTTP/1.1\r\nHost: refused.test\r\n\r\n");
    assert_eq!(
        c.response().status,
        200,
        "still served, with the temporary certificate"
    );
}

#[test]
fn acme_options_are_checked() {
    let cases: [(&[&str], &str); 4] = [
        (&["--acme", "*.wild.test"], "not a domain name"),
        (&["--acme-email", "a@b.c"], "needs --acme"),
        (
            &["--acme", "a.test", "--acme-challenge", "http-01"],
            "--redirect-http",
        ),
        (
            &["--acme", "a.test", "--acme-email", "nobody"],
            "not an address",
        ),
    ];
    for (args, what) in cases {
        let (code, _, err) = run_bin(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
}

#[test]
fn a_replica_waits_for_the_lock_and_serves_what_the_other_wrote() {
    // Runs without pebble: the CA is unreachable, so any order this
    // replica made would fail, and say so.
    let tree = site();
    let state = tree.path().join("acme");
    std::fs::create_dir_all(&state).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The other replica holds the lock while it orders.
    let lock = std::fs::File::create(state.join("shared.test.lock")).unwrap();
    lock.try_lock().unwrap();
    let nowhere = format!("https://127.0.0.1:{}/dir", free_tcp_port());
    let ca_root = tree.path().join("ca.pem");
    let ca = Ca::new();
    std::fs::write(&ca_root, &ca.pem).unwrap();
    let server = henaserver(&tree, &nowhere, &ca_root, &["--acme", "shared.test"]);
    std::thread::sleep(Duration::from_secs(3));
    let lines = server.stderr.lock().unwrap().clone();
    assert!(
        !lines.iter().any(|l| l.contains("ACME order failed")),
        "ordered despite the lock: {lines:?}"
    );
    // The other replica writes its certificate and lets go.
    let leaf = ca.leaf(&["shared.test"]);
    std::fs::write(state.join("shared.test.key"), &leaf.key_pem).unwrap();
    std::fs::write(state.join("shared.test.crt"), &leaf.cert_pem).unwrap();
    drop(lock);
    wait_certificate(&server, "shared.test", "loaded", PATIENCE);
    let mut c = tls::connect(server.addr, "shared.test", ca.client_config(&[b"http/1.1"]));
    c.send(b"GET / HTTP/1.1\r\nHost: shared.test\r\n\r\n");
    assert_eq!(c.response().status, 200);
    assert_eq!(tls::peer_cert(&c), leaf.der);
}
