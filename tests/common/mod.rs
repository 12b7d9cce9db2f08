//! Starts the real henaserver binary on an ephemeral port and speaks to it
//! over TCP.
#![allow(dead_code)]

pub mod frames;
pub mod h3;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous bound for anything that should happen "at once".
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A temporary tree of files.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str, content: impl AsRef<[u8]>) -> &Tree {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }

    pub fn dir(&self, rel: &str) -> &Tree {
        std::fs::create_dir_all(self.dir.path().join(rel)).unwrap();
        self
    }
}

/// Makes `link` a symbolic link to `target` (on Windows, a file or
/// directory link by what `target` is, which needs the right to make
/// links).
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> std::io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    {
        let (target, link) = (target.as_ref(), link.as_ref());
        let resolved = link
            .parent()
            .map_or(target.to_path_buf(), |p| p.join(target));
        if resolved.is_dir() {
            std::os::windows::fs::symlink_dir(target, link)
        } else {
            std::os::windows::fs::symlink_file(target, link)
        }
    }
}

/// The addresses of the URLs (http:// or https://) in a start line, in
/// order.
pub fn start_line_addrs(line: &str) -> Vec<SocketAddr> {
    line.split_whitespace()
        .filter_map(|w| {
            let w = w.trim_end_matches(';');
            let rest = w
                .strip_prefix("http://")
                .or_else(|| w.strip_prefix("https://"))?;
            rest.trim_end_matches('/').parse().ok()
        })
        .collect()
}

/// A running server, killed when dropped.
pub struct TestServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub stdout: Arc<Mutex<Vec<String>>>,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_henaserver"))
}

fn collect(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(l) => lines.lock().unwrap().push(l),
                Err(_) => return,
            }
        }
    });
}

impl TestServer {
    /// Starts `henaserver ROOT --port 0 ARGS...` (no ROOT when `root` is
    /// empty).
    pub fn start(root: &Path, args: &[&str]) -> TestServer {
        Self::start_with_env(root, args, &[])
    }

    /// As [`TestServer::start`], with variables added to the environment.
    pub fn start_with_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> TestServer {
        let mut command = Command::new(bin());
        command.envs(env.iter().copied());
        if !root.as_os_str().is_empty() {
            command.arg(root);
        }
        let mut child = command
            .args(["--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting henaserver");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let addr = start_line_addrs(&first)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no URL in start line {first:?}"));
        let stdout = Arc::new(Mutex::new(vec![first.trim_end().to_string()]));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        collect(out.into_inner(), stdout.clone());
        collect(child.stderr.take().unwrap(), stderr.clone());
        TestServer {
            child,
            addr,
            stdout,
            stderr,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Sends `bytes` on a new connection and returns the first response.
    pub fn request(&self, bytes: &str) -> Response {
        let mut c = self.connect();
        c.send(bytes.as_bytes());
        c.response()
    }

    /// Sends a simple GET and returns the response.
    pub fn get(&self, path: &str) -> Response {
        self.request(&format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until some stdout line satisfies `pred`.
    pub fn wait_stdout(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        wait_line(&self.stdout, pred)
    }

    /// The first line of stderr that `pred` accepts, waiting for it.
    pub fn wait_stderr(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        wait_line(&self.stderr, pred)
    }
}

/// The first of `lines` that `pred` accepts, waiting up to PATIENCE.
fn wait_line(lines: &Mutex<Vec<String>>, pred: impl Fn(&str) -> bool) -> Option<String> {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Some(l) = lines.lock().unwrap().iter().find(|l| pred(l)) {
            return Some(l.clone());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One client connection with its own read buffer, so pipelined
/// responses are read one after another.
pub struct Client<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Client::over(stream)
    }
}

impl<S: Read + Write> Client<S> {
    /// A client speaking over `stream` (TLS, say).
    pub fn over(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends `bytes` and reads one response.
    pub fn send_and_read(mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.response()
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                0
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Reads bytes up to and including the first empty line.
    pub fn raw_head(&mut self) -> String {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..i + 4).collect();
                return String::from_utf8(head).unwrap();
            }
            if self.fill() == 0 {
                panic!(
                    "connection closed before a complete head: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
    }

    /// Reads one response to a GET-like request.
    pub fn response(&mut self) -> Response {
        self.read_response(false)
    }

    /// Reads one response to a HEAD request (no body, whatever the length).
    pub fn head_response(&mut self) -> Response {
        self.read_response(true)
    }

    pub fn read_response(&mut self, head_request: bool) -> Response {
        let head = self.raw_head();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap().to_string();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let mut resp = Response {
            status,
            status_line,
            headers,
            body: Vec::new(),
        };
        let no_body = head_request || status == 204 || status == 304 || status / 100 == 1;
        if !no_body {
            let len: usize = resp
                .header("Content-Length")
                .expect("response without Content-Length")
                .parse()
                .unwrap();
            while self.buf.len() < len {
                if self.fill() == 0 {
                    panic!("connection closed inside a body");
                }
            }
            resp.body = self.buf.drain(..len).collect();
        }
        resp
    }

    /// True when the server closes the connection (EOF or reset) with
    /// nothing more to read.
    pub fn closed(&mut self) -> bool {
        self.fill() == 0 && self.buf.is_empty()
    }

    /// Everything until the server closes.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() > 0 {}
        std::mem::take(&mut self.buf)
    }

    /// Bytes buffered but not yet consumed.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Runs the binary to completion: exit code, stdout, stderr.
pub fn run_bin(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Peak resident memory of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The demo site shipped in the repository.
pub fn demo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("static")
}

/// An argon2 hash of `password`, from `henaserver hash-password`.
pub fn password_hash(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(bin())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}
