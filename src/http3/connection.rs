//! One HTTP/3 connection: requests accepted as `h3` resolves them, each
//! answered on a task of its own, until the client goes, the connection
//! idles past the keep-alive timeout, or the server stops (GOAWAY, then
//! the streams in flight finish).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use h3::error::Code;
use h3::server::{RequestResolver, RequestStream};
use tokio::task::JoinSet;

use crate::exchange::{Body, Piece};
use crate::limit::pace::Pace;
use crate::limit::Ticket;
use crate::message::{Asked, Origin};
use crate::observe::Protocol;
use crate::shared::Shared;
use crate::site::pages;
use crate::stop::Stopped;

/// Most bytes of a file read ahead for one DATA frame.
pub const FILE_CHUNK: usize = 64 * 1024;

type Stream = RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// Whether a connection's handshake has completed: until it has, its
/// requests came in 0-RTT early data, which an attacker could replay, so
/// only GET and HEAD are answered (RFC 8470, RFC 9114 §10.9).
#[derive(Clone)]
pub struct Early(Arc<AtomicBool>);

impl Early {
    /// A connection whose handshake has completed.
    pub fn done() -> Early {
        Early(Arc::new(AtomicBool::new(true)))
    }

    /// A connection in 0-RTT, complete once `accepted` resolves.
    pub fn new(accepted: quinn::ZeroRttAccepted) -> Early {
        let early = Early(Arc::new(AtomicBool::new(false)));
        let done = early.clone();
        tokio::spawn(async move {
            let _ = accepted.await;
            done.0.store(true, Ordering::Release);
        });
        early
    }

    fn complete(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Serves HTTP/3 on `conn` until it ends.
pub async fn serve(conn: quinn::Connection, shared: Arc<Shared>, early: Early) {
    let limits = &shared.limits;
    let peer = conn.remote_address();
    let server_name = conn
        .handshake_data()
        .and_then(|data| data.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
        .and_then(|data| data.server_name)
        .map(String::into_boxed_str);
    let mut builder = h3::server::builder();
    builder.max_field_section_size(u64::try_from(limits.max_header_bytes).unwrap_or(u64::MAX));
    let built = builder.build::<_, Bytes>(h3_quinn::Connection::new(conn.clone()));
    let mut h3 = match tokio::time::timeout(limits.header_timeout, built).await {
        Ok(Ok(h3)) => h3,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "HTTP/3 connection failed to start");
            return;
        }
        Err(_) => return,
    };
    let _open = shared.observe.open(Protocol::Http3, true);
    let origin = Arc::new(Origin::new(
        shared.clone(),
        Protocol::Http3,
        peer,
        Some(("TLSv1.3", "h3")),
        server_name,
    ));
    let mut streams = JoinSet::new();
    let mut stop = Stopped::default();
    let mut going_away = false;
    let mut stopping = false;
    let mut served = false;
    loop {
        if going_away && streams.is_empty() {
            break;
        }
        let idle = tokio::time::sleep(if served {
            limits.keepalive_timeout
        } else {
            limits.header_timeout
        });
        tokio::select! {
            next = h3.accept() => match next {
                Ok(Some(resolver)) => {
                    served = true;
                    // Over --stream-limit, the stream is rejected
                    // (H3_REQUEST_REJECTED) and the client may retry it.
                    let ticket = shared.stream(peer);
                    streams.spawn(answer(resolver, origin.clone(), early.clone(), ticket));
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "HTTP/3 connection ended");
                    break;
                }
            },
            Some(_) = streams.join_next(), if !streams.is_empty() => {}
            () = idle, if streams.is_empty() && !going_away => {
                going_away = true;
                let _ = h3.shutdown(0).await;
            }
            () = &mut stop, if !going_away => {
                going_away = true;
                stopping = true;
                let _ = h3.shutdown(0).await;
            }
        }
    }
    // The connection (its control stream included) stays until the
    // streams in flight have finished.
    while streams.join_next().await.is_some() {}
    if served && stopping {
        // A finished stream's last bytes may still be on their way, and
        // closing now would drop them: the client, told GOAWAY, closes
        // once it has read them (within the server's grace period).
        let _ = conn.closed().await;
    }
    conn.close(quinn::VarInt::from_u32(0x100), b"");
}

/// Answers one request stream.
async fn answer(
    resolver: RequestResolver<h3_quinn::Connection, Bytes>,
    origin: Arc<Origin>,
    early: Early,
    ticket: Result<Ticket, ()>,
) {
    let started = Instant::now();
    let limits = &origin.shared.limits;
    let (request, mut stream) = match resolver.resolve_request().await {
        Ok(resolved) => resolved,
        Err(e) => {
            tracing::debug!(peer = %origin.peer, error = %e, "HTTP/3 request refused");
            return;
        }
    };
    let Ok(ticket) = ticket else {
        // RFC 9114 §4.1.1: rejected before any processing.
        stream.stop_sending(Code::H3_REQUEST_REJECTED);
        stream.stop_stream(Code::H3_REQUEST_REJECTED);
        return;
    };
    // RFC 9114 §4.1.2: a content-length the DATA frames do not add up to
    // makes the request malformed, as does one that is not a number.
    let declared = match request.headers().get(http::header::CONTENT_LENGTH) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(|v| v.parse::<u64>().ok()) {
            Some(n) => Some(n),
            None => return malformed(&mut stream),
        },
    };
    let keep = origin.shared.keeps_bodies();
    let mut kept = Vec::new();
    let mut received: u64 = 0;
    let mut too_large = false;
    loop {
        match tokio::time::timeout(limits.body_timeout, stream.recv_data()).await {
            Ok(Ok(Some(mut chunk))) => {
                received += chunk.remaining() as u64;
                if declared.is_some_and(|n| received > n) {
                    return malformed(&mut stream);
                }
                if received > limits.max_body {
                    too_large = true;
                    stream.stop_sending(Code::H3_NO_ERROR);
                    break;
                }
                while chunk.has_remaining() {
                    let piece = chunk.chunk();
                    if keep {
                        kept.extend_from_slice(piece);
                    }
                    let n = piece.len();
                    chunk.advance(n);
                }
            }
            Ok(Ok(None)) if declared.is_some_and(|n| received != n) => {
                return malformed(&mut stream);
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                tracing::debug!(peer = %origin.peer, error = %e, "HTTP/3 request body failed");
                return;
            }
            Err(_) => {
                stream.stop_stream(Code::H3_REQUEST_CANCELLED);
                return;
            }
        }
    }
    let (parts, ()) = request.into_parts();
    let replayable =
        !early.complete() && !matches!(parts.method, http::Method::GET | http::Method::HEAD);
    let asked = Asked {
        parts,
        kept,
        too_large,
        started,
    };
    let view = origin.view(&asked);
    let mut plan = if replayable {
        pages::error_plan(425, false)
    } else {
        origin.plan(&view).await
    };
    let (response, body, head) = origin.outgoing(&mut plan);
    let bytes = body.len();
    let mut pace = plan.pace.as_deref().copied().map(Pace::new);
    let sent = respond(
        &mut stream,
        response,
        body,
        limits.send_timeout,
        pace.as_mut(),
    )
    .await;
    if let Err(why) = sent {
        tracing::debug!(peer = %origin.peer, error = %why, "HTTP/3 stream ended before its response");
        stream.stop_stream(Code::H3_REQUEST_CANCELLED);
    }
    drop(ticket);
    origin.finish(view, &plan, bytes, head);
}

/// Refuses a malformed request: a stream error H3_MESSAGE_ERROR (RFC 9114
/// §4.1.2), both ways; the connection serves on.
fn malformed(stream: &mut Stream) {
    stream.stop_sending(Code::H3_MESSAGE_ERROR);
    stream.stop_stream(Code::H3_MESSAGE_ERROR);
}

/// Sends the response head, the body, and the end of the stream.
async fn respond(
    stream: &mut Stream,
    response: http::Response<()>,
    body: Body,
    timeout: Duration,
    mut pace: Option<&mut Pace>,
) -> Result<(), String> {
    within(timeout, stream.send_response(response)).await?;
    match body {
        Body::Empty => {}
        Body::Bytes(bytes) => send_bytes(stream, bytes, timeout, pace).await?,
        Body::Events(mut events) => {
            // Until the source ends or the server stops.
            while let Some(event) = events.next().await {
                send_bytes(stream, event, timeout, None).await?;
            }
        }
        Body::File { file, pieces } => {
            for piece in pieces {
                match piece {
                    Piece::Bytes(bytes) => {
                        send_bytes(stream, bytes, timeout, pace.as_deref_mut()).await?
                    }
                    Piece::File(range) => {
                        send_file(stream, &file, range, timeout, pace.as_deref_mut()).await?
                    }
                }
            }
        }
    }
    within(timeout, stream.finish()).await
}

/// How much of `want` bytes may go now, waiting for `pace` when there is
/// one (`--limit-rate`).
async fn paced(pace: &mut Option<&mut Pace>, want: usize) -> usize {
    match pace.as_deref_mut() {
        Some(pace) => {
            let n = usize::try_from(pace.allow(want as u64).await).unwrap_or(want);
            pace.sent(n as u64);
            n
        }
        None => want,
    }
}

/// `step`, which must make progress within `timeout`.
async fn within<T>(
    timeout: Duration,
    step: impl std::future::Future<Output = Result<T, h3::error::StreamError>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, step).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("send timeout".to_string()),
    }
}

/// Sends `bytes` in DATA frames of at most [`FILE_CHUNK`].
async fn send_bytes(
    stream: &mut Stream,
    mut bytes: Bytes,
    timeout: Duration,
    mut pace: Option<&mut Pace>,
) -> Result<(), String> {
    while !bytes.is_empty() {
        let n = paced(&mut pace, bytes.len().min(FILE_CHUNK)).await;
        let chunk = bytes.split_to(n);
        within(timeout, stream.send_data(chunk)).await?;
    }
    Ok(())
}

/// Sends `range` of `file`, read a chunk at a time as QUIC's flow
/// control takes them: never the whole file in memory.
async fn send_file(
    stream: &mut Stream,
    file: &std::fs::File,
    range: std::ops::Range<u64>,
    timeout: Duration,
    mut pace: Option<&mut Pace>,
) -> Result<(), String> {
    let mut offset = range.start;
    while offset < range.end {
        let left = usize::try_from(range.end - offset).unwrap_or(FILE_CHUNK);
        let n = paced(&mut pace, left.min(FILE_CHUNK)).await;
        let chunk = match crate::exchange::read_chunk(file, offset, n) {
            Ok(chunk) if chunk.is_empty() => return Err("the file ended early".to_string()),
            Ok(chunk) => chunk,
            Err(e) => return Err(e.to_string()),
        };
        offset += chunk.len() as u64;
        within(timeout, stream.send_data(chunk)).await?;
    }
    Ok(())
}
