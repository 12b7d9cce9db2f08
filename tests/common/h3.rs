//! An HTTP/3 client for the tests: `h3` over `quinn`, trusting a test CA.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use rustls::ClientConfig;

/// A response read whole.
pub struct H3Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl H3Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub type SendRequest = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// A QUIC connection to `addr` (UDP) naming `localhost` with ALPN `h3`,
/// trusting `config`'s roots.
pub async fn quic(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
) -> (quinn::Endpoint, quinn::Connection) {
    let mut tls = (**config).clone();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let conn = endpoint
        .connect(addr, "localhost")
        .unwrap()
        .await
        .expect("QUIC handshake");
    (endpoint, conn)
}

/// An HTTP/3 connection to `addr`, as [`quic`]; its driver runs on a task
/// of its own.
pub async fn connect(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
) -> (quinn::Endpoint, SendRequest) {
    let (endpoint, conn) = quic(addr, config).await;
    let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(conn))
        .await
        .expect("HTTP/3 connection");
    tokio::spawn(async move {
        let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
    });
    (endpoint, send)
}

pub type Stream = h3::client::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// Sends a GET of `path` and reads the response head, which must be 200;
/// the body is left to read.
pub async fn get_stream(client: &SendRequest, path: &str) -> Stream {
    let request = http::Request::builder()
        .uri(format!("https://localhost{path}"))
        .body(())
        .unwrap();
    let mut client = client.clone();
    let mut stream = client.send_request(request).await.expect("request sent");
    stream.finish().await.expect("request finished");
    let response = stream.recv_response().await.expect("response head");
    assert_eq!(response.status(), 200, "{path}");
    stream
}

/// Appends what `chunk` holds to `out`.
pub fn take(mut chunk: impl Buf, out: &mut Vec<u8>) {
    while chunk.has_remaining() {
        let piece = chunk.chunk();
        out.extend_from_slice(piece);
        let n = piece.len();
        chunk.advance(n);
    }
}

/// Sends `method path` with `fields` and reads the whole response.
pub async fn send(
    client: &SendRequest,
    method: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> H3Response {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"));
    for (name, value) in fields {
        builder = builder.header(*name, *value);
    }
    let mut client = client.clone();
    let mut stream = client
        .send_request(builder.body(()).unwrap())
        .await
        .expect("request sent");
    stream.finish().await.expect("request finished");
    let response = stream.recv_response().await.expect("response head");
    let mut body = Vec::new();
    while let Some(chunk) = stream.recv_data().await.expect("response body") {
        take(chunk, &mut body);
    }
    H3Response {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body,
    }
}

/// The UDP address a server's start line names for HTTP/3.
pub fn quic_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("HTTP/3 on udp ").nth(1)?;
    rest.split([';', ' ']).next()?.parse().ok()
}
