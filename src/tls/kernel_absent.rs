//! Kernel TLS is Linux's alone, and its crate (ktls) builds against
//! glibc's definitions only, not musl's; FreeBSD has kernel TLS of its
//! own, which no well-kept crate hands rustls's keys to. Here the type
//! exists so that the code serving it compiles, no value of it can be
//! made, and [`available`] says no, so every session stays in user space.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A TLS connection the kernel encrypts: never made on this platform.
pub enum KernelTls {}

impl KernelTls {
    /// Never called: [`available`] says no.
    pub async fn accept(
        _: &tokio_rustls::TlsAcceptor,
        _: TcpStream,
    ) -> io::Result<io::Result<KernelTls>> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// The TCP socket.
    pub fn socket(&self) -> &TcpStream {
        match *self {}
    }

    /// The server name the client asked for (SNI).
    pub fn server_name(&self) -> Option<&str> {
        match *self {}
    }

    /// The TLS version and ALPN protocol.
    pub fn info(&self) -> (&'static str, &'static str) {
        match *self {}
    }

    /// Reads what is there without waiting.
    pub fn try_read(&mut self, _: &mut BytesMut) -> io::Result<Option<usize>> {
        match *self {}
    }
}

impl AsyncRead for KernelTls {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match *self.get_mut() {}
    }
}

impl AsyncWrite for KernelTls {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        match *self.get_mut() {}
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self.get_mut() {}
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self.get_mut() {}
    }
}

/// Whether the kernel can take over TLS sessions: not on this platform.
pub fn available() -> Result<(), String> {
    Err("kernel TLS is Linux's alone".to_string())
}
