//! A plain HTTP request sent to an HTTPS port: answered with 400 and a
//! line saying to use `https://`, then closed, as nginx and Caddy do.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::encode;
use crate::exchange::Plan;

/// Most bytes read of the request before it is answered.
pub const PLAIN_REQUEST_READ: usize = 16 * 1024;
/// How long what the client still sends is read and dropped after the
/// answer, so that closing does not reset the connection under it.
pub const PLAIN_LINGER: Duration = Duration::from_secs(1);
/// The body of the answer.
const PLAIN_TO_TLS: &str =
    "This port speaks HTTPS: a plain HTTP request was sent to it. Use https:// instead.\n";

/// The whole answer.
fn answer() -> Vec<u8> {
    let mut plan = Plan::new(400);
    plan.field("Content-Type", "text/plain; charset=utf-8");
    let plan = plan.with_bytes(Bytes::from_static(PLAIN_TO_TLS.as_bytes()), false);
    let mut out = Vec::with_capacity(256);
    encode::head(&mut out, &plan, false);
    out.extend_from_slice(PLAIN_TO_TLS.as_bytes());
    out
}

/// Reads what the client sent of its request, answers it with 400, and
/// closes.
pub async fn refuse(mut stream: TcpStream) {
    let mut buf = vec![0u8; PLAIN_REQUEST_READ];
    let mut got = 0;
    while got < buf.len() {
        match stream.try_read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => {
                got += n;
                if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stream.readable().await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    if stream.write_all(&answer()).await.is_ok() {
        let _ = stream.shutdown().await;
        let _ = tokio::time::timeout(PLAIN_LINGER, async {
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_answer_has_the_length_it_says() {
        let text = String::from_utf8(super::answer()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(head.contains("Connection: close"), "{head}");
        assert!(body.contains("https://"));
    }
}
