//! The henaserver command: arguments, logging, bind, serve, exit status.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use henaserver::cli::Args;
use henaserver::Server;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
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
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("henaserver: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::bind(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("henaserver: {e}");
            return ExitCode::from(1);
        }
    };
    let urls: Vec<String> = server
        .local_addrs()
        .iter()
        .map(|a| format!("http://{a}/"))
        .collect();
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "henaserver: serving {} at {}",
            server.config().root.display(),
            urls.join(" and ")
        );
        let _ = out.flush();
    }
    match server.run_until_signal() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("henaserver: {e}");
            ExitCode::from(1)
        }
    }
}
