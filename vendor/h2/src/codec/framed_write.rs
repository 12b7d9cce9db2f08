use crate::codec::UserError;
use crate::codec::UserError::*;
use crate::frame::{self, Frame, FrameSize};
use crate::hpack;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use std::io::{self, Cursor};

// A macro to get around a method needing to borrow &mut self
macro_rules! limited_write_buf {
    ($self:expr) => {{
        let limit = $self.max_frame_size() + frame::HEADER_LEN;
        $self.buf.get_mut().limit(limit)
    }};
}

#[derive(Debug)]
pub struct FramedWrite<T, B> {
    /// Upstream `AsyncWrite`
    inner: T,
    final_flush_done: bool,

    encoder: Encoder<B>,
}

#[derive(Debug)]
struct Encoder<B> {
    /// HPACK encoder
    hpack: hpack::Encoder,

    /// Write buffer
    ///
    /// TODO: Should this be a ring buffer?
    buf: Cursor<BytesMut>,

    /// DATA payloads taken whole instead of copied into `buf`, each with
    /// the length `buf` had when it was taken: it is written after that
    /// many bytes of `buf`.
    shared: VecDeque<(usize, Bytes)>,

    /// Whether the writer takes vectored writes, so that payloads can be
    /// shared rather than copied.
    vectored: bool,

    /// Next frame to encode
    next: Option<Next<B>>,

    /// Last data frame
    last_data_frame: Option<frame::Data<B>>,

    /// Max frame size, this is specified by the peer
    max_frame_size: FrameSize,

    /// Chain payloads bigger than this.
    chain_threshold: usize,

    /// Min buffer required to attempt to write a frame
    min_buffer_capacity: usize,
}

#[derive(Debug)]
enum Next<B> {
    Data(frame::Data<B>),
    Continuation(frame::Continuation),
}

/// Initialize the connection with this amount of write buffer.
///
/// The minimum MAX_FRAME_SIZE is 16kb, so always be able to send a HEADERS
/// frame that big.
const DEFAULT_BUFFER_CAPACITY: usize = 16 * 1_024;

/// Chain payloads bigger than this when vectored I/O is enabled. The remote
/// will never advertise a max frame size less than this (well, the spec says
/// the max frame size can't be less than 16kb, so not even close).
const CHAIN_THRESHOLD: usize = 256;

/// Chain payloads bigger than this when vectored I/O is **not** enabled.
/// A larger value in this scenario will reduce the number of small and
/// fragmented data being sent, and hereby improve the throughput.
const CHAIN_THRESHOLD_WITHOUT_VECTORED_IO: usize = 1024;

/// Payloads up to this size are copied into the write buffer when it has
/// room for them, rather than chained: a chained payload must be written
/// before the next frame is buffered, so many small responses would each
/// cost a write (and, over TLS, records of their own), and a large body
/// would cost a write per frame, each frame split by TLS into a full
/// record and a record of a few bytes (its last bytes, past 16 KiB).
const COALESCE_MAX: usize = frame::DEFAULT_MAX_FRAME_SIZE as usize;

/// The write buffer grows, as payloads are copied into it, up to this many
/// bytes: four DATA frames of the default maximum size with their heads, so
/// a large body leaves in writes of 64 KiB (over TLS, full records).
const MAX_BUFFER_CAPACITY: usize = 4 * (COALESCE_MAX + frame::HEADER_LEN);

/// With a writer that takes vectored writes, payloads of this size or more
/// (up to [`COALESCE_MAX`]) are not copied into the write buffer: their
/// bytes are shared (a `Bytes` payload is split, not copied) and written in
/// the same vectored write as the frames around them. Over TLS, each byte
/// is then copied once, into the record that encrypts it.
const SHARE_MIN: usize = 4 * 1_024;

/// Most payloads shared at once, which bounds the slices of one write.
const MAX_SHARED: usize = 16;

/// Most slices handed to one vectored write: the buffer's pieces around
/// every shared payload, and a chained payload's chunks.
const MAX_SLICES: usize = 2 * MAX_SHARED + 8;
const _: () = assert!(MAX_SLICES > 2 * MAX_SHARED + 1);

// TODO: Make generic
impl<T, B> FramedWrite<T, B>
where
    T: AsyncWrite + Unpin,
    B: Buf,
{
    pub fn new(inner: T) -> FramedWrite<T, B> {
        let vectored = inner.is_write_vectored();
        let chain_threshold = if vectored {
            CHAIN_THRESHOLD
        } else {
            CHAIN_THRESHOLD_WITHOUT_VECTORED_IO
        };
        FramedWrite {
            inner,
            final_flush_done: false,
            encoder: Encoder {
                hpack: hpack::Encoder::default(),
                buf: Cursor::new(BytesMut::with_capacity(DEFAULT_BUFFER_CAPACITY)),
                shared: VecDeque::new(),
                vectored,
                next: None,
                last_data_frame: None,
                max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
                chain_threshold,
                min_buffer_capacity: chain_threshold + frame::HEADER_LEN,
            },
        }
    }

    /// Returns `Ready` when `send` is able to accept a frame
    ///
    /// Calling this function may result in the current contents of the buffer
    /// to be flushed to `T`.
    pub fn poll_ready(&mut self, cx: &mut Context) -> Poll<io::Result<()>> {
        if !self.encoder.has_capacity() {
            // Try flushing
            ready!(self.flush(cx))?;

            if !self.encoder.has_capacity() {
                return Poll::Pending;
            }
        }

        Poll::Ready(Ok(()))
    }

    /// Returns whether a frame can be buffered without first flushing the
    /// underlying I/O object.
    pub(crate) fn has_capacity(&self) -> bool {
        self.encoder.has_capacity()
    }

    /// Buffer a frame.
    ///
    /// `poll_ready` must be called first to ensure that a frame may be
    /// accepted.
    pub fn buffer(&mut self, item: Frame<B>) -> Result<(), UserError> {
        self.encoder.buffer(item)
    }

    /// Flush buffered data to the wire
    pub fn flush(&mut self, cx: &mut Context) -> Poll<io::Result<()>> {
        let span = tracing::trace_span!("FramedWrite::flush");
        let _e = span.enter();

        loop {
            while !self.encoder.is_empty() {
                let n = {
                    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                    let k = self.encoder.slices(&mut slices);
                    ready!(Pin::new(&mut self.inner).poll_write_vectored(cx, &slices[..k]))?
                };
                self.encoder.advance(n);
                if n == 0 {
                    // No progress is possible; retrying would busy-loop.
                    tracing::trace!("write returned zero, but non-zero bytes remaining");
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
            }

            match self.encoder.unset_frame() {
                ControlFlow::Continue => (),
                ControlFlow::Break => break,
            }
        }

        tracing::trace!("flushing buffer");
        // Flush the upstream
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;

        Poll::Ready(Ok(()))
    }

    /// Close the codec
    pub fn shutdown(&mut self, cx: &mut Context) -> Poll<io::Result<()>> {
        if !self.final_flush_done {
            ready!(self.flush(cx))?;
            self.final_flush_done = true;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[must_use]
enum ControlFlow {
    Continue,
    Break,
}

impl<B> Encoder<B>
where
    B: Buf,
{
    fn unset_frame(&mut self) -> ControlFlow {
        // Clear internal buffer
        self.buf.set_position(0);
        self.buf.get_mut().clear();
        debug_assert!(self.shared.is_empty());
        self.shared.clear();

        // The data frame has been written, so unset it
        match self.next.take() {
            Some(Next::Data(frame)) => {
                self.last_data_frame = Some(frame);
                debug_assert!(self.is_empty());
                ControlFlow::Break
            }
            Some(Next::Continuation(frame)) => {
                // Buffer the continuation frame, then try to write again
                let mut buf = limited_write_buf!(self);
                if let Some(continuation) = frame.encode(&mut buf) {
                    self.next = Some(Next::Continuation(continuation));
                }
                ControlFlow::Continue
            }
            None => ControlFlow::Break,
        }
    }

    fn buffer(&mut self, item: Frame<B>) -> Result<(), UserError> {
        // Ensure that we have enough capacity to accept the write.
        assert!(self.has_capacity());
        let span = tracing::trace_span!("FramedWrite::buffer", frame = ?item);
        let _e = span.enter();

        tracing::debug!(frame = ?item, "send");

        match item {
            Frame::Data(mut v) => {
                // Ensure that the payload is not greater than the max frame.
                let len = v.payload().remaining();

                if len > self.max_frame_size() {
                    return Err(PayloadTooBig);
                }

                let pending = self.pending();
                let coalesce =
                    len <= COALESCE_MAX && pending + len + frame::HEADER_LEN <= MAX_BUFFER_CAPACITY;
                if coalesce && self.vectored && len >= SHARE_MIN && self.shared.len() < MAX_SHARED {
                    v.head().encode(len, self.buf.get_mut());
                    let at = self.buf.get_ref().len();
                    // For a `Bytes` payload, a split rather than a copy.
                    let payload = v.payload_mut().copy_to_bytes(len);
                    self.shared.push_back((at, payload));
                    // The frame's payload is used up, as when it is copied.
                    self.last_data_frame = Some(v);
                    return Ok(());
                }
                let used = self.buf.get_ref().len();
                if coalesce && self.buf.get_ref().capacity() < used + len + frame::HEADER_LEN {
                    // Straight to the largest size, not by doubling past it.
                    self.buf.get_mut().reserve(MAX_BUFFER_CAPACITY - used);
                }
                if len >= self.chain_threshold && !coalesce {
                    let head = v.head();

                    // Encode the frame head to the buffer
                    head.encode(len, self.buf.get_mut());

                    if self.buf.get_ref().remaining() < self.chain_threshold {
                        let extra_bytes = self.chain_threshold - self.buf.remaining();
                        self.buf.get_mut().put(v.payload_mut().take(extra_bytes));
                    }

                    // Save the data frame
                    self.next = Some(Next::Data(v));
                } else {
                    v.encode_chunk(self.buf.get_mut());

                    // The chunk has been fully encoded, so there is no need to
                    // keep it around
                    assert_eq!(v.payload().remaining(), 0, "chunk not fully encoded");

                    // Save off the last frame...
                    self.last_data_frame = Some(v);
                }
            }
            Frame::Headers(v) => {
                let mut buf = limited_write_buf!(self);
                if let Some(continuation) = v.encode(&mut self.hpack, &mut buf) {
                    self.next = Some(Next::Continuation(continuation));
                }
            }
            Frame::PushPromise(v) => {
                let mut buf = limited_write_buf!(self);
                if let Some(continuation) = v.encode(&mut self.hpack, &mut buf) {
                    self.next = Some(Next::Continuation(continuation));
                }
            }
            Frame::Settings(v) => {
                v.encode(self.buf.get_mut());
                tracing::trace!(rem = self.buf.remaining(), "encoded settings");
            }
            Frame::GoAway(v) => {
                v.encode(self.buf.get_mut());
                tracing::trace!(rem = self.buf.remaining(), "encoded go_away");
            }
            Frame::Ping(v) => {
                v.encode(self.buf.get_mut());
                tracing::trace!(rem = self.buf.remaining(), "encoded ping");
            }
            Frame::WindowUpdate(v) => {
                v.encode(self.buf.get_mut());
                tracing::trace!(rem = self.buf.remaining(), "encoded window_update");
            }

            Frame::Priority(_) => {
                /*
                v.encode(self.buf.get_mut());
                tracing::trace!("encoded priority; rem={:?}", self.buf.remaining());
                */
                unimplemented!();
            }
            Frame::Reset(v) => {
                v.encode(self.buf.get_mut());
                tracing::trace!(rem = self.buf.remaining(), "encoded reset");
            }
        }

        Ok(())
    }

    fn has_capacity(&self) -> bool {
        // The buffer grows as frames need it, up to MAX_BUFFER_CAPACITY.
        self.next.is_none()
            && self.shared.len() < MAX_SHARED
            && self.pending() + self.min_buffer_capacity <= MAX_BUFFER_CAPACITY
    }

    /// Bytes buffered or shared since the last flush.
    fn pending(&self) -> usize {
        let shared: usize = self.shared.iter().map(|(_, p)| p.len()).sum();
        self.buf.get_ref().len() + shared
    }

    fn is_empty(&self) -> bool {
        match self.next {
            Some(Next::Data(ref frame)) => !frame.payload().has_remaining(),
            _ => !self.buf.has_remaining() && self.shared.is_empty(),
        }
    }

    /// Fills `slices` with what is to be written next, in order: the
    /// buffer's bytes, the shared payloads between them, and a chained
    /// frame's payload after all of them. Returns how many it filled.
    ///
    /// The buffer and at most [`MAX_SHARED`] payloads take at most
    /// `2 * MAX_SHARED + 1` slices, which [`MAX_SLICES`] leaves room for.
    fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let buf = self.buf.get_ref();
        let mut pos = self.buf.position() as usize;
        let mut k = 0;
        for (at, payload) in &self.shared {
            if *at > pos {
                slices[k] = IoSlice::new(&buf[pos..*at]);
                k += 1;
                pos = *at;
            }
            slices[k] = IoSlice::new(payload);
            k += 1;
        }
        if pos < buf.len() {
            slices[k] = IoSlice::new(&buf[pos..]);
            k += 1;
        }
        if let Some(Next::Data(ref frame)) = self.next {
            k += frame.payload().chunks_vectored(&mut slices[k..]);
        }
        k
    }

    /// Marks `n` bytes of what [`Encoder::slices`] offered as written.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let pos = self.buf.position() as usize;
            let stop = self
                .shared
                .front()
                .map_or(self.buf.get_ref().len(), |(at, _)| *at);
            let take = n.min(stop - pos);
            self.buf.set_position((pos + take) as u64);
            n -= take;
            if n == 0 {
                break;
            }
            match self.shared.front_mut() {
                Some((_, payload)) => {
                    let take = n.min(payload.len());
                    payload.advance(take);
                    n -= take;
                    if payload.is_empty() {
                        self.shared.pop_front();
                    }
                }
                None => {
                    if let Some(Next::Data(ref mut frame)) = self.next {
                        frame.payload_mut().advance(n);
                    }
                    break;
                }
            }
        }
    }
}

impl<B> Encoder<B> {
    fn max_frame_size(&self) -> usize {
        self.max_frame_size as usize
    }
}

impl<T, B> FramedWrite<T, B> {
    /// Returns the max frame size that can be sent
    pub fn max_frame_size(&self) -> usize {
        self.encoder.max_frame_size()
    }

    /// Set the peer's max frame size.
    pub fn set_max_frame_size(&mut self, val: usize) {
        assert!(val <= frame::MAX_MAX_FRAME_SIZE as usize);
        self.encoder.max_frame_size = val as FrameSize;
    }

    /// Set the peer's header table size.
    pub fn set_header_table_size(&mut self, val: usize) {
        self.encoder.hpack.update_max_size(val);
    }

    /// Retrieve the last data frame that has been sent
    pub fn take_last_data_frame(&mut self) -> Option<frame::Data<B>> {
        self.encoder.last_data_frame.take()
    }

    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: AsyncRead + Unpin, B> AsyncRead for FramedWrite<T, B> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

// We never project the Pin to `B`.
impl<T: Unpin, B> Unpin for FramedWrite<T, B> {}

#[cfg(feature = "unstable")]
mod unstable {
    use super::*;

    impl<T, B> FramedWrite<T, B> {
        pub fn get_ref(&self) -> &T {
            &self.inner
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// Records each write it is given, taking at most `most` bytes of it;
    /// with `vectored`, it takes vectored writes and records their slices.
    struct Writes {
        writes: Vec<Vec<u8>>,
        slices: Vec<usize>,
        vectored: bool,
        most: usize,
    }

    impl Writes {
        fn new(vectored: bool, most: usize) -> Writes {
            Writes {
                writes: Vec::new(),
                slices: Vec::new(),
                vectored,
                most,
            }
        }
    }

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.most);
            self.writes.push(buf[..n].to_vec());
            self.slices.push(1);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if !self.vectored {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &**b);
                return self.poll_write(cx, first);
            }
            let taken: Vec<u8> = bufs
                .iter()
                .flat_map(|b| b.iter().copied())
                .take(self.most)
                .collect();
            let n = taken.len();
            self.writes.push(taken);
            self.slices.push(bufs.len());
            Poll::Ready(Ok(n))
        }
        fn is_write_vectored(&self) -> bool {
            self.vectored
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn data(stream: u32, payload: Vec<u8>) -> Frame<Bytes> {
        frame::Data::new(stream.into(), Bytes::from(payload)).into()
    }

    /// Buffers frames while `poll_ready` allows, flushing when it does
    /// not, then flushes; returns the writer.
    fn send_to(frames: Vec<Frame<Bytes>>, writer: Writes, max_frame: usize) -> Writes {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut codec: FramedWrite<Writes, Bytes> = FramedWrite::new(writer);
        codec.set_max_frame_size(max_frame);
        for f in frames {
            assert!(codec.poll_ready(&mut cx).is_ready());
            codec.buffer(f).unwrap();
        }
        assert!(codec.flush(&mut cx).is_ready());
        assert!(codec.encoder.is_empty());
        codec.inner
    }

    /// The writes made for `frames` by a writer without vectored writes.
    fn send(frames: Vec<Frame<Bytes>>) -> Vec<Vec<u8>> {
        send_to(frames, Writes::new(false, usize::MAX), 16_384).writes
    }

    #[test]
    fn four_full_data_frames_leave_in_one_write() {
        let frames = (0..4u8).map(|i| data(1, vec![i; 16_384])).collect();
        let writes = send(frames);
        assert_eq!(
            writes.len(),
            1,
            "{:?}",
            writes.iter().map(Vec::len).collect::<Vec<_>>()
        );
        let out = &writes[0];
        assert_eq!(out.len(), 4 * (16_384 + 9));
        for i in 0..4 {
            let frame = &out[i * (16_384 + 9)..(i + 1) * (16_384 + 9)];
            // Length 16384, type DATA, no flags, stream 1.
            assert_eq!(&frame[..9], &[0, 0x40, 0, 0, 0, 0, 0, 0, 1]);
            assert!(frame[9..].iter().all(|&b| b == i as u8));
        }
    }

    #[test]
    fn a_fifth_full_frame_waits_for_the_next_write() {
        let frames = (0..5u8).map(|i| data(1, vec![i; 16_384])).collect();
        let writes = send(frames);
        let all: Vec<u8> = writes.concat();
        assert_eq!(all.len(), 5 * (16_384 + 9));
        assert_eq!(writes[0].len(), 4 * (16_384 + 9));
        assert_eq!(
            &all[4 * (16_384 + 9)..][..9],
            &[0, 0x40, 0, 0, 0, 0, 0, 0, 1]
        );
        assert!(all[4 * (16_384 + 9) + 9..].iter().all(|&b| b == 4));
    }

    #[test]
    fn full_data_frames_are_shared_into_one_vectored_write() {
        let frames = (0..4u8).map(|i| data(1, vec![i; 16_384])).collect();
        let out = send_to(frames, Writes::new(true, usize::MAX), 16_384);
        assert_eq!(out.writes.len(), 1);
        // Each head in the buffer, then its payload, not copied.
        assert_eq!(out.slices, vec![8]);
        let all = &out.writes[0];
        assert_eq!(all.len(), 4 * (16_384 + 9));
        for i in 0..4 {
            let frame = &all[i * (16_384 + 9)..(i + 1) * (16_384 + 9)];
            assert_eq!(&frame[..9], &[0, 0x40, 0, 0, 0, 0, 0, 0, 1]);
            assert!(frame[9..].iter().all(|&b| b == i as u8));
        }
    }

    /// A mix of frames: small payloads copied, larger ones shared, one
    /// chained past the default maximum, and control frames between.
    fn mixed() -> Vec<Frame<Bytes>> {
        let mut frames = Vec::new();
        for i in 0..40u32 {
            let len = match i % 5 {
                0 => 10,
                1 => 4_096,
                2 => 16_384,
                3 => 5_000 + i as usize,
                _ => 40_000,
            };
            frames.push(data(2 * i + 1, vec![i as u8; len]));
            if i % 7 == 0 {
                frames.push(frame::Ping::new([i as u8; 8]).into());
            }
        }
        frames
    }

    #[test]
    fn shared_payloads_go_out_in_order_whatever_the_writer_takes() {
        let expected = send_to(mixed(), Writes::new(false, usize::MAX), 65_536)
            .writes
            .concat();
        assert_eq!(
            expected.len(),
            8 * (10 + 4_096 + 16_384 + 40_000)
                + (0..40)
                    .filter(|i| i % 5 == 3)
                    .map(|i| 5_000 + i)
                    .sum::<usize>()
                + 40 * 9
                + 6 * (9 + 8)
        );
        for most in [7, 9, 4_000, 16_393, 65_536, usize::MAX] {
            let out = send_to(mixed(), Writes::new(true, most), 65_536);
            assert!(out.writes.iter().all(|w| w.len() <= most));
            assert!(out.slices.iter().all(|&k| k <= MAX_SLICES));
            assert!(
                out.writes.concat() == expected,
                "writer taking {most} bytes at a time"
            );
        }
    }

    #[test]
    fn small_payloads_are_still_copied() {
        let frames = (0..8u8).map(|i| data(1, vec![i; 100])).collect();
        let out = send_to(frames, Writes::new(true, usize::MAX), 16_384);
        assert_eq!(out.slices, vec![1]);
        assert_eq!(out.writes[0].len(), 8 * 109);
    }
}
