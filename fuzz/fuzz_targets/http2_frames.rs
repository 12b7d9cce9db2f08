//! Arbitrary bytes after the HTTP/2 connection preface, into a server
//! connection in memory (no socket), with the echo responder: no input
//! panics, every connection ends (the runtime's clock is paused, so the
//! timeouts pass at once once nothing else can happen), and memory stays
//! within libFuzzer's `-rss_limit_mb`.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use henaserver::internals::serve_http2_echo;
use henaserver::Config;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Far beyond every timeout of the default limits, in paused time.
const BOUND: Duration = Duration::from_secs(3600);

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config::new(".", 0).expect("a configuration"))
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let serve = tokio::spawn(serve_http2_echo(server, config()));
        let (mut from_server, mut to_server) = tokio::io::split(client);
        // The client reads everything the server sends, as a peer would.
        let reader = tokio::spawn(async move {
            let mut sink = vec![0u8; 16 * 1024];
            while let Ok(n) = from_server.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
        let mut input = PREFACE.to_vec();
        input.extend_from_slice(data);
        let _ = to_server.write_all(&input).await;
        let _ = to_server.shutdown().await;
        tokio::time::timeout(BOUND, serve)
            .await
            .expect("the connection ended")
            .expect("no panic");
        drop(to_server);
        let _ = tokio::time::timeout(BOUND, reader).await;
    });
});
