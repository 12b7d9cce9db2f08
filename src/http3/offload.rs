//! `--quic-no-offload`: QUIC's UDP without segmentation offload. quinn
//! sends a train of packets in one `sendmsg` (GSO) and takes coalesced
//! ones in one `recvmsg` (GRO) where the kernel offers them; some virtual
//! NICs and tunnels mishandle them. This runtime wraps tokio's: each socket
//! has GRO turned off and reports one datagram per send and receive, so
//! quinn builds no trains.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncTimer, AsyncUdpSocket, Runtime, UdpPoller};

/// Tokio's runtime, with sockets that use no segmentation offload.
#[derive(Debug)]
pub struct NoOffload(pub Arc<dyn Runtime>);

impl Runtime for NoOffload {
    fn new_timer(&self, i: Instant) -> Pin<Box<dyn AsyncTimer>> {
        self.0.new_timer(i)
    }

    fn spawn(&self, future: Pin<Box<dyn std::future::Future<Output = ()> + Send>>) {
        self.0.spawn(future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let handle = socket.try_clone()?;
        let inner = self.0.wrap_udp_socket(socket)?;
        // Wrapping turned GRO on where the kernel has it; off again.
        #[cfg(target_os = "linux")]
        let _ =
            nix::sys::socket::setsockopt(&handle, nix::sys::socket::sockopt::UdpGroSegment, &false);
        drop(handle);
        Ok(Arc::new(Single(inner)))
    }
}

/// A socket that sends and receives one datagram at a time.
struct Single(Arc<dyn AsyncUdpSocket>);

impl fmt::Debug for Single {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Single").field(&self.0).finish()
    }
}

impl AsyncUdpSocket for Single {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.0.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.0.try_send(transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_recv(cx, bufs, meta)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        1
    }

    fn max_receive_segments(&self) -> usize {
        1
    }

    fn may_fragment(&self) -> bool {
        self.0.may_fragment()
    }
}
