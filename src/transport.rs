//! The byte stream under a connection, plain TCP or TLS, and the only
//! descriptor-level code.
//!
//! A [`Transport`] reads and writes without waiting (`try_*`), waits for
//! the socket with one timer for the connection's whole life, and sends a
//! range of a file in one call, [`Transport::send_file`]: with
//! `sendfile(2)` where the socket allows it (no copy through user space;
//! plain TCP, and TLS the kernel encrypts), else by reading into a reused
//! buffer and writing that (the path TLS in user space takes, and
//! `--no-sendfile`'s).
//!
//! Readiness is forgotten as soon as a short read or write shows that the
//! socket is drained or full, so a wait never starts with a call that
//! would block.

use std::cell::RefCell;
use std::fs::File;
use std::future::Future;
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncWrite, Interest};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;

use crate::platform;
use crate::stop::Stopped;
use crate::tls::kernel::KernelTls;

/// Largest piece handed to one `sendfile` call: big enough to amortize the
/// call, small enough that one connection does not hog its worker.
pub const SENDFILE_CHUNK: usize = 2 * 1024 * 1024;
/// File bodies that take more than one sendfile call are sent corked
/// (TCP_CORK), so that no call ends with a short segment.
const CORK_ABOVE: u64 = SENDFILE_CHUNK as u64;
/// Size of the buffer a file is copied through when it cannot be sent
/// with `sendfile(2)`: four full TLS records.
pub const COPY_CHUNK: usize = 64 * 1024;
/// Copy buffers each worker keeps for reuse.
const POOLED_COPY_BUFFERS: usize = 4;

thread_local! {
    static COPY_BUFFERS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Why a wait for the peer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The socket has something to read (or the peer closed).
    Ready,
    /// The deadline passed.
    TimedOut,
    /// The server is stopping.
    Stopping,
}

/// The stream itself.
enum Stream {
    Tcp(TcpStream),
    /// Boxed: a TLS session is large, and rarer than plain connections in
    /// the thousands.
    Tls(Box<TlsStream<TcpStream>>),
    /// TLS the kernel encrypts: read and written as plain TCP, files sent
    /// with `sendfile(2)`.
    Kernel(Box<KernelTls>),
}

impl Stream {
    /// The TCP socket under the stream.
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Tcp(stream) => stream,
            Stream::Tls(tls) => tls.get_ref().0,
            Stream::Kernel(kernel) => kernel.socket(),
        }
    }
}

/// One connection's byte stream, with the timer its waits share.
pub struct Transport {
    stream: Stream,
    /// Whether file ranges go out with `sendfile(2)`.
    zero_copy: bool,
    /// TCP_NODELAY is set: done once a connection is kept alive or sends a
    /// file body, so one-request connections skip the call.
    nodelay: bool,
    /// One timer for the connection's life, armed no earlier than needed:
    /// when it fires before `deadline`, it is re-armed.
    timer: Pin<Box<Sleep>>,
    /// When the current wait ends.
    deadline: Instant,
}

impl Transport {
    /// A stream whose first wait ends at `deadline`; with `zero_copy`,
    /// file ranges are sent with `sendfile(2)`.
    fn new(stream: Stream, zero_copy: bool, deadline: Instant) -> Transport {
        Transport {
            stream,
            zero_copy: zero_copy && platform::send::SENDFILE,
            nodelay: false,
            timer: Box::pin(tokio::time::sleep_until(deadline.into())),
            deadline,
        }
    }

    /// A plain TCP stream whose first wait ends at `deadline`; with
    /// `zero_copy`, file ranges are sent with `sendfile(2)`.
    pub fn tcp(stream: TcpStream, zero_copy: bool, deadline: Instant) -> Transport {
        Transport::new(Stream::Tcp(stream), zero_copy, deadline)
    }

    /// A TLS stream whose first wait ends at `deadline`. File ranges are
    /// copied through a buffer: the kernel does not encrypt here.
    pub fn tls(stream: Box<TlsStream<TcpStream>>, deadline: Instant) -> Transport {
        Transport::new(Stream::Tls(stream), false, deadline)
    }

    /// A TLS stream the kernel encrypts, whose first wait ends at
    /// `deadline`; with `zero_copy`, file ranges are sent with
    /// `sendfile(2)`.
    pub fn kernel_tls(stream: Box<KernelTls>, zero_copy: bool, deadline: Instant) -> Transport {
        Transport::new(Stream::Kernel(stream), zero_copy, deadline)
    }

    /// The TCP socket of a plain stream, for another protocol to take over.
    pub fn into_tcp(self) -> Option<TcpStream> {
        match self.stream {
            Stream::Tcp(stream) => Some(stream),
            Stream::Tls(_) | Stream::Kernel(_) => None,
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        !matches!(self.stream, Stream::Tcp(_))
    }

    /// Whether the stream is encrypted, and the server name its client
    /// asked for (SNI).
    pub fn tls_names(&self) -> (bool, Option<&str>) {
        match &self.stream {
            Stream::Tls(tls) => (true, tls.get_ref().1.server_name()),
            Stream::Kernel(kernel) => (true, kernel.server_name()),
            Stream::Tcp(_) => (false, None),
        }
    }

    /// The TLS version and ALPN protocol of an encrypted stream.
    pub fn tls_info(&self) -> Option<(&'static str, &'static str)> {
        match &self.stream {
            Stream::Tls(tls) => Some(crate::tls::session_info(tls.get_ref().1)),
            Stream::Kernel(kernel) => Some(kernel.info()),
            Stream::Tcp(_) => None,
        }
    }

    /// The TCP socket under the stream.
    fn socket(&self) -> &TcpStream {
        self.stream.socket()
    }

    /// Sets TCP_NODELAY once: responses that follow one another must not
    /// wait for the peer's ACKs.
    pub fn set_nodelay(&mut self) {
        if !self.nodelay {
            self.nodelay = true;
            let _ = self.socket().set_nodelay(true);
        }
    }

    /// Reads what is there into `buf` without waiting. `Ok(None)`: nothing
    /// yet; `Ok(Some(0))`: the peer closed.
    pub fn try_read(&mut self, buf: &mut BytesMut) -> io::Result<Option<usize>> {
        let stream = match &mut self.stream {
            Stream::Tcp(stream) => stream,
            Stream::Tls(tls) => {
                let mut cx = Context::from_waker(Waker::noop());
                return match tokio_util::io::poll_read_buf(Pin::new(&mut **tls), &mut cx, buf) {
                    Poll::Ready(Ok(n)) => Ok(Some(n)),
                    // A peer that closes without close_notify has closed
                    // all the same.
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(Some(0)),
                    Poll::Ready(Err(e)) => Err(e),
                    Poll::Pending => Ok(None),
                };
            }
            Stream::Kernel(kernel) => return kernel.try_read(buf),
        };
        let room = buf.capacity() - buf.len();
        match stream.try_read_buf(buf) {
            Ok(n) => {
                if n > 0 && n < room {
                    // A short read drained the socket: forget the readiness
                    // now rather than learn it from a read that would block.
                    // New data raises a fresh edge, so nothing is missed.
                    forget(stream, Interest::READABLE);
                }
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes what the socket takes of `buf` now. With `more`, tells the
    /// kernel that more data follows at once (a head before its body).
    pub fn try_write(&mut self, buf: &[u8], more: bool) -> io::Result<usize> {
        let stream = match &mut self.stream {
            Stream::Tcp(stream) => &*stream,
            Stream::Kernel(kernel) => kernel.socket(),
            Stream::Tls(tls) => {
                let mut cx = Context::from_waker(Waker::noop());
                return match Pin::new(&mut **tls).poll_write(&mut cx, buf) {
                    Poll::Ready(result) => result,
                    Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                };
            }
        };
        let sent = platform::send::send(stream, buf, more)?;
        if sent < buf.len() {
            forget(stream, Interest::WRITABLE);
        }
        Ok(sent)
    }

    /// Pushes out what an encrypted stream still holds. `Ok(false)`: the
    /// socket is full; wait until it is writable and try again.
    pub fn try_flush(&mut self) -> io::Result<bool> {
        match &mut self.stream {
            Stream::Tcp(_) | Stream::Kernel(_) => Ok(true),
            Stream::Tls(tls) => {
                let mut cx = Context::from_waker(Waker::noop());
                match Pin::new(&mut **tls).poll_flush(&mut cx) {
                    Poll::Ready(result) => result.map(|()| true),
                    Poll::Pending => Ok(false),
                }
            }
        }
    }

    /// Pushes out all an encrypted stream holds; a peer that takes nothing
    /// for `timeout` is dropped.
    pub async fn flush(&mut self, timeout: Duration) -> io::Result<()> {
        while !self.try_flush()? {
            self.wait_writable(timeout).await?;
        }
        Ok(())
    }

    /// Writes all of `buf`; a peer that takes nothing for `timeout` is
    /// dropped.
    pub async fn write_all(&mut self, buf: &[u8], more: bool, timeout: Duration) -> io::Result<()> {
        let mut sent = 0;
        while sent < buf.len() {
            match self.try_write(&buf[sent..], more) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_writable(timeout).await?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.flush(timeout).await
    }

    /// Sends `range` of `file`. A file that ends before the range does (it
    /// shrank) is an error: the length promised in the head can no longer
    /// be kept. A peer that takes nothing for `timeout` is dropped.
    pub async fn send_file(
        &mut self,
        file: &File,
        range: Range<u64>,
        timeout: Duration,
    ) -> io::Result<()> {
        if self.zero_copy {
            let (mut offset, end) = (range.start, range.end);
            while offset < end {
                match self.try_send_file(file, &mut offset, end) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.wait_writable(timeout).await?
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // Files sendfile cannot read (some special file
                    // systems): copy the rest.
                    Err(e) if platform::send::cannot_sendfile(&e) => {
                        return Box::pin(self.copy_file(file, offset..end, timeout)).await
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        } else {
            self.copy_file(file, range, timeout).await
        }
    }

    /// One `sendfile(2)` call: what the socket takes of `file` from
    /// `*offset` up to `end`, advancing `*offset`.
    fn try_send_file(&mut self, file: &File, offset: &mut u64, end: u64) -> io::Result<()> {
        let chunk =
            usize::try_from(end - *offset).map_or(SENDFILE_CHUNK, |n| n.min(SENDFILE_CHUNK));
        let stream = self.socket();
        let sent = platform::send::sendfile(stream, file, offset, chunk)?;
        if sent == 0 && chunk > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while it was being sent",
            ));
        }
        if sent < chunk {
            // A short send filled the socket: forget the readiness now
            // rather than learn it from a call that would block.
            forget(stream, Interest::WRITABLE);
        }
        Ok(())
    }

    /// Sends `range` of `file` through a buffer of [`COPY_CHUNK`] bytes,
    /// taken from the worker's pool and given back after.
    async fn copy_file(
        &mut self,
        file: &File,
        range: Range<u64>,
        timeout: Duration,
    ) -> io::Result<()> {
        let mut buf = COPY_BUFFERS
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(|| vec![0; COPY_CHUNK]);
        let result = async {
            let mut offset = range.start;
            while offset < range.end {
                let want =
                    usize::try_from(range.end - offset).map_or(COPY_CHUNK, |n| n.min(COPY_CHUNK));
                let n = match platform::fs::read_at(file, &mut buf[..want], offset) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file shrank while it was being sent",
                        ))
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let more = offset + (n as u64) < range.end;
                self.write_all(&buf[..n], more, timeout).await?;
                offset += n as u64;
            }
            Ok(())
        }
        .await;
        COPY_BUFFERS.with(|p| {
            let mut pool = p.borrow_mut();
            if pool.len() < POOLED_COPY_BUFFERS {
                pool.push(buf);
            }
        });
        result
    }

    /// Corks the socket for a body of `len` bytes that takes several
    /// sendfile calls, so the head and the body leave in full segments;
    /// returns whether it did. [`Transport::uncork`] sends the rest.
    pub fn cork_for(&mut self, len: u64) -> bool {
        self.zero_copy && len > CORK_ABOVE && platform::send::cork(self.socket(), true)
    }

    /// Takes the cork off: what is held back leaves now.
    pub fn uncork(&mut self) {
        platform::send::cork(self.socket(), false);
    }

    /// Closes the sending side (after TLS's close_notify).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        match &mut self.stream {
            Stream::Tcp(stream) => stream.shutdown().await,
            Stream::Tls(tls) => tls.shutdown().await,
            Stream::Kernel(kernel) => kernel.shutdown().await,
        }
    }

    /// Ends an encrypted session cleanly with close_notify, within
    /// `timeout`; a plain stream needs nothing.
    pub async fn close(&mut self, timeout: Duration) {
        if self.is_tls() {
            let _ = tokio::time::timeout(timeout, self.shutdown()).await;
        }
    }

    /// Makes `until` the end of the current wait, re-arming the timer only
    /// when the wait ends earlier than the timer would fire.
    fn arm(&mut self, until: Instant) {
        if until < self.timer.deadline().into_std() {
            self.timer.as_mut().reset(until.into());
        }
        self.deadline = until;
    }

    /// Waits until the socket is readable, `until` passes, or (given
    /// `stop`) the server stops.
    pub async fn wait_readable(
        &mut self,
        until: Instant,
        mut stop: Option<&mut Stopped>,
    ) -> io::Result<Wake> {
        self.arm(until);
        let Transport {
            stream,
            timer,
            deadline,
            ..
        } = self;
        let stream = stream.socket();
        std::future::poll_fn(|cx| {
            let stop = stop.as_deref_mut();
            poll_wake(stream.poll_read_ready(cx), timer, *deadline, stop, cx)
        })
        .await
    }

    /// Waits until the socket takes more data; a peer that reads nothing
    /// for `timeout` is an error.
    pub async fn wait_writable(&mut self, timeout: Duration) -> io::Result<()> {
        self.arm(Instant::now() + timeout);
        let Transport {
            stream,
            timer,
            deadline,
            ..
        } = self;
        let stream = stream.socket();
        let wake = std::future::poll_fn(|cx| {
            poll_wake(stream.poll_write_ready(cx), timer, *deadline, None, cx)
        })
        .await?;
        match wake {
            Wake::Ready => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "client stopped reading",
            )),
        }
    }
}

/// One poll of a wait: the socket's readiness, then the timer, then (given
/// `stop`) the server stopping.
fn poll_wake(
    ready: Poll<io::Result<()>>,
    timer: &mut Pin<Box<Sleep>>,
    deadline: Instant,
    stop: Option<&mut Stopped>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<Wake>> {
    if let Poll::Ready(ready) = ready {
        return Poll::Ready(ready.map(|()| Wake::Ready));
    }
    if expired(timer, deadline, cx) {
        return Poll::Ready(Ok(Wake::TimedOut));
    }
    if let Some(stop) = stop {
        if Pin::new(stop).poll(cx).is_ready() {
            return Poll::Ready(Ok(Wake::Stopping));
        }
    }
    Poll::Pending
}

/// Clears tokio's readiness for `interest` without a system call.
fn forget(stream: &TcpStream, interest: Interest) {
    let _ = stream.try_io(interest, || {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    });
}

/// True when the timer has passed `deadline`; a timer that fired early is
/// re-armed for `deadline` and polled again.
fn expired(timer: &mut Pin<Box<Sleep>>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    while timer.as_mut().poll(cx).is_ready() {
        if Instant::now() >= deadline {
            return true;
        }
        timer.as_mut().reset(deadline.into());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A connected pair of loopback sockets: (client, server).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    fn file_of(data: &[u8]) -> File {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(data).unwrap();
        file
    }

    /// Sends `range` of `data` through a transport with or without
    /// sendfile and returns what the peer received.
    fn send(zero_copy: bool, data: &[u8], range: Range<u64>) -> Vec<u8> {
        let file = file_of(data);
        runtime().block_on(async {
            let (mut client, server) = pair().await;
            let reader = tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut got = Vec::new();
                client.read_to_end(&mut got).await.unwrap();
                got
            });
            let mut io = Transport::tcp(server, zero_copy, Instant::now());
            io.send_file(&file, range, Duration::from_secs(20))
                .await
                .unwrap();
            io.shutdown().await.unwrap();
            reader.await.unwrap()
        })
    }

    #[test]
    fn both_paths_send_the_same_bytes() {
        let data: Vec<u8> = (0..(3 * COPY_CHUNK + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let len = data.len() as u64;
        let chunk = COPY_CHUNK as u64;
        for range in [0..len, 5..len - 3, 100..101, chunk..2 * chunk] {
            let expected = &data[range.start as usize..range.end as usize];
            assert_eq!(
                send(true, &data, range.clone()),
                expected,
                "sendfile {range:?}"
            );
            assert_eq!(
                send(false, &data, range.clone()),
                expected,
                "copy {range:?}"
            );
        }
    }

    #[test]
    fn a_file_shorter_than_the_range_is_an_error() {
        let file = file_of(b"short");
        for zero_copy in [true, false] {
            runtime().block_on(async {
                let (_client, server) = pair().await;
                let mut io = Transport::tcp(server, zero_copy, Instant::now());
                let e = io
                    .send_file(&file, 0..100, Duration::from_secs(20))
                    .await
                    .unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{zero_copy}");
            });
        }
    }
}
