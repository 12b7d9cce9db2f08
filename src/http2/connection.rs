//! One HTTP/2 connection and its streams.
//!
//! The connection task drives h2 and accepts streams; each stream runs as
//! a task of its own on the same worker: it reads the request (its body
//! kept for `--echo` and `--dump`, else discarded, within `--max-body`),
//! asks the site for a plan, and sends it. Bodies go out in chunks no
//! larger than the window the peer grants (and [`FILE_CHUNK`]), read from
//! the open file as they go: a file is never held whole in memory, and a
//! peer that grants no window stalls only its own stream, which the send
//! timeout then ends.
//!
//! A connection with no open stream is told GOAWAY after the keep-alive
//! timeout (the header timeout before its first stream); when the server
//! stops, GOAWAY names the last stream and the streams in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use tokio::io::{AsyncRead, AsyncWrite};

use super::linger::Linger;
use crate::exchange::{Body, Piece};
use crate::limit::pace::Pace;
use crate::limit::Ticket;
use crate::message::{Asked, Origin, TlsInfo};
use crate::observe::Protocol;
use crate::shared::Shared;
use crate::stop::Stopped;

/// Streams the peer may reset before they are accepted, before the
/// connection is ended with ENHANCE_YOUR_CALM (rapid reset,
/// CVE-2023-44487).
pub const MAX_PENDING_ACCEPT_RESETS: usize = 20;
/// Reset streams remembered at once (h2 keeps them to tell late frames
/// from protocol errors).
pub const MAX_CONCURRENT_RESETS: usize = 10;
/// Streams the server may reset for the peer's errors before it ends the
/// connection with ENHANCE_YOUR_CALM.
pub const MAX_LOCAL_ERROR_RESETS: usize = 1024;
/// Payload of a full DATA frame as this server sends it: with its 9-byte
/// head, the 16 KiB a TLS record carries, so that over TLS each frame is
/// sealed in a record of its own and no record is left with a few bytes.
pub const FRAME_PAYLOAD: usize = 16 * 1024 - 9;
/// Response bytes h2 buffers per stream before the stream waits (about
/// 256 KiB): whole frames, so that the room it grants is never a sliver.
pub const SEND_BUFFER: usize = 16 * FRAME_PAYLOAD;
/// Most bytes of a file read ahead for one DATA frame batch: four full
/// frames, which h2 writes at once, as four full TLS records.
pub const FILE_CHUNK: usize = 4 * FRAME_PAYLOAD;
/// The flow-control window granted to each request stream.
pub const INITIAL_WINDOW: u32 = 1024 * 1024;
/// The largest frame the server accepts (the protocol's minimum maximum).
pub const MAX_FRAME: u32 = 16 * 1024;

/// Serves HTTP/2 on `io` until the connection ends. `tls` names the TLS
/// version and ALPN protocol when `io` is encrypted, and the server name
/// its client asked for.
pub async fn serve<T>(
    io: T,
    peer: SocketAddr,
    shared: Arc<Shared>,
    tls: Option<(TlsInfo, Option<Box<str>>)>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &shared.limits;
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
        .max_concurrent_reset_streams(MAX_CONCURRENT_RESETS)
        .max_local_error_reset_streams(Some(MAX_LOCAL_ERROR_RESETS))
        .max_send_buffer_size(SEND_BUFFER)
        .initial_window_size(INITIAL_WINDOW)
        .max_frame_size(MAX_FRAME);
    let io = Linger::new(io, limits.linger_timeout);
    let handshake = builder.handshake::<_, Bytes>(io);
    let mut connection = match tokio::time::timeout(limits.header_timeout, handshake).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "HTTP/2 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "HTTP/2 preface timed out");
            return;
        }
    };
    let _open = shared.observe.open(Protocol::Http2, tls.is_some());
    let (tls, server_name) = match tls {
        Some((info, name)) => (Some(info), name),
        None => (None, None),
    };
    let conn = Arc::new(Origin::new(
        shared.clone(),
        Protocol::Http2,
        peer,
        tls,
        server_name,
    ));
    let mut stop = Stopped::default();
    let mut going_away = false;
    let mut served = false;
    loop {
        let idle = tokio::time::sleep(if served {
            limits.keepalive_timeout
        } else {
            limits.header_timeout
        });
        tokio::select! {
            next = connection.accept() => match next {
                Some(Ok((request, mut respond))) => {
                    served = true;
                    if conn.shared.refuses && !going_away {
                        // Over --conn-limit: this stream gets 429, and the
                        // connection closes after it.
                        connection.graceful_shutdown();
                        going_away = true;
                    }
                    match conn.shared.stream(peer) {
                        Ok(ticket) => {
                            crate::stop::spawn(answer(request, respond, conn.clone(), ticket));
                        }
                        // Over --stream-limit: the client may retry it.
                        Err(()) => respond.send_reset(Reason::REFUSED_STREAM),
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "HTTP/2 connection ended");
                    return;
                }
                None => return,
            },
            () = idle => {
                if connection.has_streams() {
                    continue;
                }
                // Before its first request, a connection is closed at the
                // header timeout, as an HTTP/1 one that sends no request
                // head is; a peer that does not answer the shutdown's
                // PING does not hold the connection open either.
                if going_away || !served {
                    connection.abrupt_shutdown(Reason::NO_ERROR);
                    break;
                }
                connection.graceful_shutdown();
                going_away = true;
            }
            () = &mut stop, if !going_away => {
                connection.graceful_shutdown();
                going_away = true;
            }
        }
    }
    // GOAWAY goes out, then the shutdown lingers (see `Linger`).
    let closed = std::future::poll_fn(|cx| connection.poll_closed(cx));
    let bound = limits.send_timeout + limits.linger_timeout;
    let _ = tokio::time::timeout(bound, closed).await;
}

/// Answers one stream.
async fn answer(
    request: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    conn: Arc<Origin>,
    ticket: Ticket,
) {
    let started = Instant::now();
    let limits = &conn.shared.limits;
    let (parts, mut body) = request.into_parts();
    let keep = conn.shared.keeps_bodies();
    let mut kept = Vec::new();
    let mut received: u64 = 0;
    let mut too_large = false;
    while !body.is_end_stream() {
        match tokio::time::timeout(limits.body_timeout, body.data()).await {
            Ok(Some(Ok(chunk))) => {
                received += chunk.len() as u64;
                let _ = body.flow_control().release_capacity(chunk.len());
                if received > limits.max_body {
                    too_large = true;
                    break;
                }
                if keep {
                    kept.extend_from_slice(&chunk);
                }
            }
            Ok(Some(Err(_))) | Ok(None) => break,
            Err(_) => {
                respond.send_reset(Reason::CANCEL);
                return;
            }
        }
    }
    let asked = Asked {
        parts,
        kept,
        too_large,
        started,
    };
    let view = conn.view(&asked);
    let mut plan = conn.plan(&view).await;
    let (response, body, head) = conn.outgoing(&mut plan);
    let bytes = body.len();
    let end = body.is_empty();
    let sent = match respond.send_response(response, end) {
        Ok(mut stream) if !end => {
            let mut pace = plan.pace.as_deref().copied().map(Pace::new);
            let sent = send_body(&mut stream, body, limits.send_timeout, pace.as_mut()).await;
            if let Err(reason) = sent {
                stream.send_reset(reason);
            }
            sent.is_ok()
        }
        Ok(_) => true,
        Err(_) => false,
    };
    if !sent {
        tracing::debug!(peer = %conn.peer, "HTTP/2 stream ended before its response");
    }
    drop(ticket);
    conn.finish(view, &plan, bytes, head);
}

/// Sends a plan's body; the error is the reason to reset the stream with.
async fn send_body(
    stream: &mut SendStream<Bytes>,
    body: Body,
    timeout: Duration,
    mut pace: Option<&mut Pace>,
) -> Result<(), Reason> {
    match body {
        Body::Empty => Ok(()),
        Body::Bytes(bytes) => send_bytes(stream, bytes, true, timeout, pace).await,
        Body::Events(mut events) => {
            // Until the source ends or the server stops; a peer that
            // stops reading meets the send timeout.
            while let Some(event) = events.next().await {
                send_bytes(stream, event, false, timeout, None).await?;
            }
            stream
                .send_data(Bytes::new(), true)
                .map_err(|_| Reason::CANCEL)
        }
        Body::File { file, pieces } => {
            let count = pieces.len();
            for (i, piece) in pieces.into_iter().enumerate() {
                let last = i + 1 == count;
                match piece {
                    Piece::Bytes(bytes) => {
                        send_bytes(stream, bytes, last, timeout, pace.as_deref_mut()).await?
                    }
                    Piece::File(range) => {
                        send_file(stream, &file, range, last, timeout, pace.as_deref_mut()).await?;
                    }
                }
            }
            Ok(())
        }
    }
}

/// Waits until the peer's window lets `want` bytes (or some of them) go,
/// within `timeout`.
async fn capacity(
    stream: &mut SendStream<Bytes>,
    want: usize,
    timeout: Duration,
) -> Result<usize, Reason> {
    stream.reserve_capacity(want);
    loop {
        let granted = std::future::poll_fn(|cx| stream.poll_capacity(cx));
        match tokio::time::timeout(timeout, granted).await {
            Ok(Some(Ok(0))) => continue,
            Ok(Some(Ok(n))) => return Ok(n.min(want)),
            Ok(Some(Err(_))) | Ok(None) => return Err(Reason::CANCEL),
            Err(_) => return Err(Reason::CANCEL),
        }
    }
}

/// Sends `bytes` (at `pace`, under `--limit-rate`), ending the stream
/// after them when `last`.
async fn send_bytes(
    stream: &mut SendStream<Bytes>,
    mut bytes: Bytes,
    last: bool,
    timeout: Duration,
    mut pace: Option<&mut Pace>,
) -> Result<(), Reason> {
    while !bytes.is_empty() {
        let mut want = bytes.len().min(FILE_CHUNK);
        if let Some(pace) = pace.as_deref_mut() {
            want = usize::try_from(pace.allow(want as u64).await).unwrap_or(want);
        }
        let n = capacity(stream, want, timeout).await?;
        if let Some(pace) = pace.as_deref_mut() {
            pace.sent(n as u64);
        }
        let chunk = bytes.split_to(n);
        send_frames(stream, chunk, last && bytes.is_empty())?;
    }
    Ok(())
}

/// Hands `chunk` to h2 in pieces of at most [`FRAME_PAYLOAD`] bytes, each
/// a DATA frame of its own; `end` ends the stream with the last.
fn send_frames(stream: &mut SendStream<Bytes>, mut chunk: Bytes, end: bool) -> Result<(), Reason> {
    while chunk.len() > FRAME_PAYLOAD {
        let piece = chunk.split_to(FRAME_PAYLOAD);
        stream.send_data(piece, false).map_err(|_| Reason::CANCEL)?;
    }
    stream.send_data(chunk, end).map_err(|_| Reason::CANCEL)
}

/// Sends `range` of `file`, read as the window opens (and as `pace`
/// lets), ending the stream after it when `last`.
async fn send_file(
    stream: &mut SendStream<Bytes>,
    file: &std::fs::File,
    range: std::ops::Range<u64>,
    last: bool,
    timeout: Duration,
    mut pace: Option<&mut Pace>,
) -> Result<(), Reason> {
    let mut offset = range.start;
    while offset < range.end {
        let left = usize::try_from(range.end - offset).unwrap_or(FILE_CHUNK);
        let mut want = left.min(FILE_CHUNK);
        if let Some(pace) = pace.as_deref_mut() {
            want = usize::try_from(pace.allow(want as u64).await).unwrap_or(want);
        }
        let n = capacity(stream, want, timeout).await?;
        let chunk = match crate::exchange::read_chunk(file, offset, n) {
            Ok(chunk) if !chunk.is_empty() => chunk,
            Ok(_) | Err(_) => return Err(Reason::INTERNAL_ERROR),
        };
        let got = chunk.len();
        offset += got as u64;
        if let Some(pace) = pace.as_deref_mut() {
            pace.sent(got as u64);
        }
        send_frames(stream, chunk, last && offset == range.end)?;
    }
    Ok(())
}
