//! In a real browser: headless Chromium, driven through the DevTools
//! protocol over a pipe (`--remote-debugging-pipe`: JSON messages ended by
//! NUL on descriptors 3 and 4), loads a copy of the demo site served with
//! `--live --inspect`; an edited stylesheet changes the colour without a
//! reload, an edited page reloads, and the inspector lists the page's own
//! requests. And the demo page over HTTP/3: Chromium forced onto QUIC for
//! the test origin. `.ci/run` installs Chromium; without it the tests say
//! so and are skipped.
#![cfg(unix)]

mod common;
use common::*;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn chromium() -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&paths).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// A headless browser and its DevTools pipe.
struct Browser {
    child: Child,
    to: std::fs::File,
    from: std::fs::File,
    pending: Vec<u8>,
    next: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn start(path: &Path) -> Browser {
        Browser::start_with(path, &[])
    }

    /// A browser started with `extra` flags too.
    fn start_with(path: &Path, extra: &[String]) -> Browser {
        use command_fds::{CommandFdExt, FdMapping};
        use std::os::fd::OwnedFd;
        // Closed on exec but for the mappings below.
        let (their_in, to) = std::io::pipe().unwrap();
        let (from, their_out) = std::io::pipe().unwrap();
        let (their_in, their_out) = (OwnedFd::from(their_in), OwnedFd::from(their_out));
        let (to, from) = (
            std::fs::File::from(OwnedFd::from(to)),
            std::fs::File::from(OwnedFd::from(from)),
        );
        let profile = tempfile::tempdir().unwrap();
        let mut command = Command::new(path);
        command
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
            .fd_mappings(vec![
                FdMapping {
                    parent_fd: their_in,
                    child_fd: 3,
                },
                FdMapping {
                    parent_fd: their_out,
                    child_fd: 4,
                },
            ])
            .unwrap();
        let child = command.spawn().unwrap();
        let mut browser = Browser {
            child,
            to,
            from,
            pending: Vec::new(),
            next: 1,
            session: String::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let target = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser
    }

    /// Sends a command (to the page once attached) and waits for its
    /// result; events meanwhile are dropped.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = self.session.clone().into();
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        loop {
            let reply = self.read_message();
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    fn read_message(&mut self) -> Value {
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == 0) {
                let message: Vec<u8> = self.pending.drain(..=end).collect();
                return serde_json::from_slice(&message[..end]).unwrap();
            }
            let mut chunk = [0u8; 65536];
            let n = self.from.read(&mut chunk).unwrap();
            assert!(n > 0, "the browser closed its pipe");
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        result["result"]["value"].clone()
    }

    /// Waits until `expression` evaluates to `want`.
    fn wait_for(&mut self, expression: &str, want: Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let got = self.eval(expression);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{expression} is {got}, not {want}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn live_reload_and_the_inspector_in_chromium() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: live_reload_and_the_inspector_in_chromium needs Chromium (apt-get install chromium)");
        return;
    };
    let tree = Tree::new();
    let site = tree.path().join("static");
    copy_dir(&demo_root(), &site);
    std::fs::write(site.join("index.css"), "h1 { color: rgb(255, 0, 0) }\n").unwrap();
    let server = TestServer::start(&site, &["--quiet", "--live", "--inspect"]);
    let url = format!("http://{}/", server.addr);
    let mut browser = Browser::start(&chromium);
    browser.call("Page.enable", json!({}));
    browser.call("Page.navigate", json!({"url": url}));
    browser.wait_for("document.readyState", json!("complete"));
    let colour = "getComputedStyle(document.querySelector('h1')).color";
    browser.wait_for(colour, json!("rgb(255, 0, 0)"));
    // A mark that a reload would wipe out.
    browser.eval("window.henaserverMark = 1");
    // Wait until the page listens before changing anything.
    browser.wait_for(
        "window.henaserverLive !== undefined && window.henaserverLive.readyState === 1",
        json!(true),
    );
    std::thread::sleep(Duration::from_millis(300));

    std::fs::write(site.join("index.css"), "h1 { color: rgb(0, 128, 0) }\n").unwrap();
    browser.wait_for(colour, json!("rgb(0, 128, 0)"));
    assert_eq!(
        browser.eval("window.henaserverMark"),
        json!(1),
        "the stylesheet came without a reload"
    );

    let page = std::fs::read_to_string(site.join("index.html")).unwrap();
    let edited = page.replacen("<body>", "<body><p id=\"edited\">edited</p>", 1);
    assert_ne!(page, edited, "the demo page has a <body>");
    std::fs::write(site.join("index.html"), edited).unwrap();
    browser.wait_for("document.getElementById('edited') !== null", json!(true));
    assert_eq!(
        browser.eval("window.henaserverMark === undefined"),
        json!(true),
        "the page reloaded"
    );

    // The inspector lists the demo page's own requests.
    browser.call(
        "Page.navigate",
        json!({"url": format!("{url}.henaserver/inspect")}),
    );
    browser.wait_for(
        "[...document.querySelectorAll('#rows td.target')].some(td => td.textContent === '/index.css')",
        json!(true),
    );
    browser.wait_for(
        "[...document.querySelectorAll('#rows td.target')].some(td => td.textContent === '/')",
        json!(true),
    );
    browser.wait_for(
        "document.querySelectorAll('#lanes .bar').length > 0",
        json!(true),
    );
}

/// The base64 of the SHA-256 of a certificate's SubjectPublicKeyInfo, as
/// `--ignore-certificate-errors-spki-list` takes it.
fn spki_hash(der: &[u8]) -> String {
    use base64::Engine;
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.public_key().raw);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

#[test]
fn the_demo_page_over_http3_in_chromium() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED: the_demo_page_over_http3_in_chromium needs Chromium (apt-get install chromium)");
        return;
    };
    let tree = Tree::new();
    let site = tree.path().join("static");
    copy_dir(&demo_root(), &site);
    let ca = common::tls::Ca::new();
    let leaf = ca.leaf(&["henaserver.test"]);
    let (cert, key) = leaf.write(tree.path(), "test");
    let server = TestServer::start(
        &site,
        &[
            "--quiet",
            "--http3",
            "--tls-cert",
            &cert.display().to_string(),
            "--tls-key",
            &key.display().to_string(),
        ],
    );
    let port = server.addr.port();
    let origin = format!("henaserver.test:{port}");
    let mut browser = Browser::start_with(
        &chromium,
        &[
            "--enable-quic".to_string(),
            format!("--origin-to-force-quic-on={origin}"),
            "--host-resolver-rules=MAP henaserver.test 127.0.0.1".to_string(),
            format!(
                "--ignore-certificate-errors-spki-list={}",
                spki_hash(&leaf.der)
            ),
        ],
    );
    browser.call("Page.enable", json!({}));
    browser.call(
        "Page.navigate",
        json!({"url": format!("https://{origin}/")}),
    );
    browser.wait_for("document.readyState", json!("complete"));
    browser.wait_for(
        "performance.getEntriesByType('navigation')[0].nextHopProtocol",
        json!("h3"),
    );
    assert_eq!(
        browser.eval("document.querySelector('h1') !== null"),
        json!(true),
        "the demo page loaded"
    );
}
