//! Closing an HTTP/2 connection without losing its end.
//!
//! When h2 has written its last frame it shuts the connection down. Bytes
//! the client sent that the server never read (WINDOW_UPDATE and PING
//! frames, a request body) would then make the kernel reset the
//! connection, and a reset throws away whatever the client had not yet
//! read: the last DATA frames, or the GOAWAY that says why. So the shutdown
//! here half-closes, then reads and discards what the client still sends,
//! until it closes its side or the linger timeout passes, as HTTP/1 does
//! after a last response.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Reads taken in one poll while draining, before yielding to other tasks.
const DRAIN_READS_PER_POLL: usize = 16;

/// `inner`, whose shutdown lingers for up to `timeout`.
pub struct Linger<T> {
    inner: T,
    timeout: Duration,
    state: State,
}

enum State {
    Open,
    Draining(Pin<Box<Sleep>>),
    Closed,
}

impl<T> Linger<T> {
    /// `inner`, lingering for up to `timeout` when shut down.
    pub fn new(inner: T, timeout: Duration) -> Linger<T> {
        Linger {
            inner,
            timeout,
            state: State::Open,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Linger<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    /// Half-closes, then drains the read side until the peer closes, an
    /// error, or the timeout; the connection's end is then never a reset.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Open => {
                    let shut = std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
                    this.state = if shut.is_err() || this.timeout.is_zero() {
                        State::Closed
                    } else {
                        State::Draining(Box::pin(tokio::time::sleep(this.timeout)))
                    };
                }
                State::Draining(deadline) => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 4096];
                    for _ in 0..DRAIN_READS_PER_POLL {
                        let mut buf = ReadBuf::new(&mut scratch);
                        match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                            Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                            Poll::Ready(_) => {
                                this.state = State::Closed;
                                return Poll::Ready(Ok(()));
                            }
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                    // A peer still sending: let other tasks run, then go on.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn shutdown_reads_what_the_peer_still_sends_until_it_closes() {
        runtime().block_on(async {
            let (near, mut far) = tokio::io::duplex(64);
            let mut near = Linger::new(near, Duration::from_secs(60));
            let peer = tokio::spawn(async move {
                // More than the pipe holds: the shutdown must read it.
                far.write_all(&[7u8; 1000]).await.unwrap();
                let mut end = Vec::new();
                far.read_to_end(&mut end).await.unwrap();
                end
            });
            near.write_all(b"last").await.unwrap();
            near.shutdown().await.unwrap();
            assert_eq!(peer.await.unwrap(), b"last");
        });
    }

    #[test]
    fn shutdown_gives_up_after_the_timeout() {
        runtime().block_on(async {
            let (near, _far) = tokio::io::duplex(64);
            let mut near = Linger::new(near, Duration::from_millis(50));
            let done = tokio::time::timeout(Duration::from_secs(20), near.shutdown()).await;
            assert!(matches!(done, Ok(Ok(()))), "{done:?}");
        });
    }
}
