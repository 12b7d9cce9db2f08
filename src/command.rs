//! The henaserver command: arguments, logging, bind, serve, exit status.

use std::io::Write;
use std::process::ExitCode;

use crate::config::cli::{Command, RawArgs};
use crate::config::Mode;
use crate::Server;

/// Runs the `henaserver` command with the process's arguments and
/// environment, and returns its exit status: 0 when it ran as asked, 1
/// when serving failed, 2 for a wrong command line or configuration.
pub fn main() -> ExitCode {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let resolved = match crate::config::settings::resolve(std::env::args_os().collect(), &vars) {
        Ok(r) => r,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            let line = text.lines().next().unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("henaserver: {line} (see henaserver --help)");
            return ExitCode::from(2);
        }
    };
    if resolved.args.print_config {
        print!("{}", resolved.toml);
        let args = &resolved.args;
        if !args.acme.is_empty() {
            let dir = args
                .acme_dir
                .clone()
                .unwrap_or_else(crate::config::default_acme_dir);
            print!("\n{}", crate::acme::comments(&dir, &args.acme));
        }
        return ExitCode::SUCCESS;
    }
    let args = &resolved.args;
    match &args.command {
        Some(Command::Raw(raw)) => return run_raw(raw.clone()),
        Some(Command::HashPassword) => return hash_password(),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            let mut command = crate::config::cli::Args::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "henaserver", &mut script);
            let mut out = std::io::stdout().lock();
            return match out.write_all(&script).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(_) => ExitCode::from(1),
            };
        }
        Some(Command::Health { url }) => return health(url),
        Some(Command::Man) => {
            use clap::CommandFactory;
            let page = clap_mangen::Man::new(crate::config::cli::Args::command());
            let mut roff = Vec::new();
            let mut out = std::io::stdout().lock();
            let written = page
                .render(&mut roff)
                .and_then(|()| out.write_all(&roff))
                .and_then(|()| out.flush());
            return match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("henaserver man: {e}");
                    ExitCode::from(1)
                }
            };
        }
        None => {}
    }
    let filter = match args
        .log_level
        .parse::<tracing::level_filters::LevelFilter>()
    {
        Ok(f) => f,
        Err(_) => {
            eprintln!(
                "henaserver: invalid --log-level {:?}: use error, warn, info, debug or trace",
                args.log_level
            );
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = match config_of(resolved) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("henaserver: {e}");
            return ExitCode::from(2);
        }
    };
    let mut server = match Server::bind(config) {
        Ok(s) => s,
        // A certificate, key or reply file that cannot be used is a wrong
        // configuration.
        Err(e @ (crate::Error::Tls(_) | crate::Error::Reply(_))) => {
            eprintln!("henaserver: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("henaserver: {e}");
            return ExitCode::from(1);
        }
    };
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    server.reload_with(crate::Reloader::new(move || reload_config(&argv)));
    let announce = start_line(&server);
    let open = server.config().dev.open.then(|| {
        let scheme = if server.is_https() { "https" } else { "http" };
        match server.local_addrs().first() {
            Some(addr) if addr.ip().is_unspecified() => {
                format!("{scheme}://localhost:{}/", addr.port())
            }
            Some(addr) => format!("{scheme}://{addr}/"),
            None => String::new(),
        }
    });
    let announce = move || {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{announce}");
        let _ = out.flush();
        match open {
            Some(url) if url.is_empty() => {
                tracing::warn!("--open: no TCP listener to open in a browser");
            }
            Some(url) => open_browser(url),
            None => {}
        }
    };
    match server.run_until_signal_then(announce) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("henaserver: {e}");
            ExitCode::from(1)
        }
    }
}

/// The configuration read anew, for SIGHUP: the file, the environment
/// and the flags the server started with. The error is one line.
fn reload_config(argv: &[std::ffi::OsString]) -> Result<crate::Config, String> {
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let resolved = crate::config::settings::resolve(argv.to_vec(), &vars).map_err(|e| {
        let text = e.render().to_string();
        let line = text.lines().next().unwrap_or("invalid configuration");
        line.strip_prefix("error: ").unwrap_or(line).to_string()
    })?;
    config_of(resolved)
}

/// The configuration the layers resolved to, with its sites; the error
/// is one line.
fn config_of(resolved: crate::config::settings::Resolved) -> Result<crate::Config, String> {
    let crate::config::settings::Resolved {
        args,
        rules,
        limits,
        redirects,
        rewrites,
        sites,
        ..
    } = resolved;
    let mut args = args;
    if args.tls_cert.is_empty() && !args.tls_self_signed {
        // HTTPS when a site has a certificate; the default site's is the
        // default one.
        let mut with_certs: Vec<_> = sites
            .iter()
            .filter(|s| !s.args.tls_cert.is_empty())
            .collect();
        with_certs.sort_by_key(|s| !s.default);
        if let Some(site) = with_certs.first() {
            args.tls_cert = vec![site.args.tls_cert[0].clone()];
            args.tls_key = vec![site.args.tls_key[0].clone()];
        }
    }
    let config = with_keylog_variable(args)
        .into_config()
        .map_err(|e| e.to_string())?;
    let mut config = crate::Config {
        rules,
        redirects,
        rewrites,
        ..config
    };
    config.rate_limits.extend(limits);
    if !sites.is_empty() && config.mode != Mode::Files {
        return Err("[[sites]] serve files: --reply and --echo cannot be used with them".into());
    }
    for site in sites {
        let own = site
            .args
            .into_config()
            .map_err(|e| format!("{}: [[sites]]: {e}", site.source))?;
        let mut own = own;
        own.rate_limits.extend(site.limits);
        config.sites.push(crate::config::VirtualHost {
            name: site
                .name
                .or_else(|| site.hosts.first().cloned())
                .unwrap_or_else(|| "default".into()),
            hosts: site.hosts,
            default: site.default,
            config: Box::new(crate::Config {
                rules: site.rules,
                redirects: site.redirects,
                rewrites: site.rewrites,
                ..own
            }),
        });
    }
    // Every site's certificates, chosen by SNI; the top level's first.
    let pairs = config.certificate_pairs();
    if !pairs.is_empty() {
        let mut tls = config.tls.take().unwrap_or_default();
        tls.pairs = pairs;
        config.tls = Some(tls);
    }
    Ok(config)
}

/// As browsers do: SSLKEYLOGFILE names the key log file when HTTPS is on
/// and `--tls-keylog` is not given.
fn with_keylog_variable(mut args: crate::config::cli::Args) -> crate::config::cli::Args {
    if args.tls_keylog.is_none() && (!args.tls_cert.is_empty() || args.tls_self_signed) {
        args.tls_keylog = std::env::var_os("SSLKEYLOGFILE")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from);
    }
    args
}

/// Programs that open a URL in the default browser, tried in order.
const OPENERS: [&str; 3] = ["xdg-open", "open", "start"];

/// `--open`: `url` in the default browser, from a thread of its own; a
/// failure is one warning.
fn open_browser(url: String) {
    std::thread::spawn(move || {
        for opener in OPENERS {
            match std::process::Command::new(opener)
                .arg(&url)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
            {
                Ok(status) if status.success() => return,
                Ok(status) => {
                    tracing::warn!(%url, opener, %status, "--open: the browser could not be opened");
                    return;
                }
                Err(_) => continue,
            }
        }
        tracing::warn!(%url, "--open: no program to open a browser (xdg-open, open, start)");
    });
}

/// The line printed once the server listens: what it serves, where, and
/// for HTTPS the certificate's fingerprint and the redirect listeners.
fn start_line(server: &Server) -> String {
    let config = server.config();
    let what = match &config.mode {
        Mode::Files if !config.sites.is_empty() => {
            let names: Vec<&str> = config.sites.iter().map(|s| s.name.as_str()).collect();
            format!("serving {} sites ({})", names.len(), names.join(", "))
        }
        Mode::Files => format!("serving {}", config.root.display()),
        Mode::Reply(_) => format!(
            "replying with a {} response",
            server.reply_status().unwrap_or_default()
        ),
        Mode::Echo => "echoing requests".to_string(),
    };
    let scheme = if server.is_https() { "https" } else { "http" };
    let urls: Vec<String> = server
        .local_addrs()
        .iter()
        .map(|a| format!("{scheme}://{a}/"))
        .chain(
            server
                .unix_paths()
                .iter()
                .map(|p| format!("unix:{}", p.display())),
        )
        .collect();
    let mut line = format!("henaserver: {what} at {}", urls.join(" and "));
    let redirects: Vec<String> = server
        .redirect_addrs()
        .iter()
        .map(|a| format!("http://{a}/"))
        .collect();
    if !redirects.is_empty() {
        line.push_str(&format!(
            "; redirecting {} to HTTPS",
            redirects.join(" and ")
        ));
    }
    let quic: Vec<String> = server
        .quic_addrs()
        .iter()
        .map(|a| format!("udp {a}"))
        .collect();
    if !quic.is_empty() {
        line.push_str(&format!("; HTTP/3 on {}", quic.join(" and ")));
    }
    if let Some(admin) = server.admin_addr() {
        line.push_str(&format!("; admin at http://{admin}/"));
    }
    if let Some(acme) = config.acme.as_ref() {
        line.push_str(&format!(
            "; ACME certificates for {}",
            acme.domains.join(", ")
        ));
    }
    if let Some(fingerprint) = server.fingerprint().filter(|f| !f.is_empty()) {
        line.push_str(&format!("; certificate SHA-256 {fingerprint}"));
    }
    if server.kernel_tls() {
        line.push_str("; kernel TLS");
    }
    if let Some(path) = config.tls.as_ref().and_then(|t| t.keylog.as_ref()) {
        line.push_str(&format!(
            "; WARNING: TLS secrets are written to {}",
            path.display()
        ));
    }
    line
}

/// Longest wait of `henaserver health` for an answer.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `henaserver health [URL]`: 0 when the URL answers 200, else 1.
fn health(url: &str) -> ExitCode {
    let Some(rest) = url.strip_prefix("http://") else {
        eprintln!("henaserver health: {url}: only http:// URLs are asked");
        return ExitCode::from(2);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/healthz"),
    };
    let addr = match crate::window::raw::resolve(authority) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("henaserver health: cannot resolve {authority}: {e}");
            return ExitCode::from(2);
        }
    };
    let request = crate::http1::client::get(authority, path);
    match crate::window::raw::exchange(addr, &request, HEALTH_TIMEOUT) {
        Ok(answer) if crate::http1::client::status(&answer) == Some(200) => {
            println!("henaserver health: {url}: ok");
            ExitCode::SUCCESS
        }
        Ok(answer) => {
            let line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
            eprintln!(
                "henaserver health: {url}: {}",
                String::from_utf8_lossy(line)
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("henaserver health: {url}: {e}");
            ExitCode::from(1)
        }
    }
}

/// `henaserver raw`: send bytes, print the raw answer.
fn run_raw(args: RawArgs) -> ExitCode {
    use std::io::Read;
    let input = match &args.file {
        Some(path) => {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map(|_| bytes)
                .map_err(|e| format!("cannot read standard input: {e}"))
        }
    };
    let input = match input {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("henaserver raw: {e}");
            return ExitCode::from(2);
        }
    };
    let request = if args.binary {
        input
    } else {
        crate::window::raw::crlf_head(&input)
    };
    let addr = match crate::window::raw::resolve(&args.addr) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("henaserver raw: cannot resolve {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    let answer = match crate::window::raw::exchange(addr, &request, args.timeout) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("henaserver raw: {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, &answer)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&answer)
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write the answer: {e}"))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("henaserver raw: {e}");
            ExitCode::from(1)
        }
    }
}

/// `henaserver hash-password`: a password on standard input, its hash out.
fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("henaserver hash-password: cannot read standard input: {e}");
        return ExitCode::from(1);
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("henaserver hash-password: the password is empty");
        return ExitCode::from(2);
    }
    match crate::site::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("henaserver hash-password: {e}");
            ExitCode::from(1)
        }
    }
}
