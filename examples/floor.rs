//! The floor of henaserver's connection model: a server that does only
//! what tokio needs of any server (a current-thread runtime, an accept
//! loop, a task and a registered socket per connection) and nothing of
//! HTTP beyond finding the end of a head. It answers `/1k.bin` with 1 KB
//! and anything else with a 404, closes after `Connection: close`, and
//! takes henaserver's command line, so `bench/compare.py --binary
//! target/release/examples/floor` measures it where henaserver stands:
//!
//! ```sh
//! cargo build --release --example floor
//! python3 bench/compare.py --binary target/release/examples/floor \
//!     --rounds 5 --duration 4 --no-scaling --scenarios ka_1k,close_1k,404
//! ```
//!
//! What henaserver costs beyond it is HTTP, files and observers; what it
//! costs beside nginx is this model's. The last response of a connection
//! leaves with the FIN, as both servers' do (on Linux).

#[path = "common/floor.rs"]
mod floor;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let port = floor::port();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve(stream));
        }
    })
}

async fn serve(mut stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    let mut filled = 0;
    let mut out = Vec::with_capacity(floor::LARGEST);
    loop {
        let Some(end) = floor::head_end(&buf[..filled]) else {
            if filled == buf.len() {
                return;
            }
            match stream.read(&mut buf[filled..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => filled += n,
            }
            continue;
        };
        if floor::answer(&buf[..end], &mut out) {
            // The last response waits for the FIN and leaves with it in
            // one segment, as henaserver's and nginx's do.
            let _ = last(&stream, &out).await;
            return;
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
        buf.copy_within(end + 4..filled, 0);
        filled -= end + 4;
    }
}

/// Sends a connection's last bytes, held back for the FIN that follows
/// (`MSG_MORE`) where Linux offers it.
async fn last(stream: &TcpStream, mut out: &[u8]) -> std::io::Result<()> {
    while !out.is_empty() {
        stream.writable().await?;
        #[cfg(target_os = "linux")]
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            floor::send_last(stream, out)
        });
        #[cfg(not(target_os = "linux"))]
        let sent = stream.try_write(out);
        match sent {
            Ok(n) => out = &out[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
