//! The floor of a one-loop connection model, nginx's: one thread, one
//! `epoll` set (through mio, the poller under tokio), every socket
//! registered edge-triggered, and each readiness answered in place, with
//! no task, no waker and no timer per connection. Like `floor.rs` it does
//! no HTTP beyond finding the end of a head, answers `/1k.bin` with 1 KB
//! and anything else with a 404, closes after `Connection: close`, and
//! takes henaserver's command line:
//!
//! ```sh
//! cargo build --release --example floor_loop
//! python3 bench/compare.py --binary target/release/examples/floor_loop \
//!     --rounds 5 --duration 4 --no-scaling --scenarios ka_1k,close_1k,404
//! ```
//!
//! Set beside `floor.rs`, it says what tokio's model of a connection costs
//! against a loop's, before any HTTP.

#[path = "common/floor.rs"]
mod floor;

use std::io::{ErrorKind, Read, Write};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENER: Token = Token(usize::MAX);
const BUFFER: usize = 4096;

struct Connection {
    stream: TcpStream,
    buf: Box<[u8; BUFFER]>,
    filled: usize,
}

fn main() -> std::io::Result<()> {
    let port = floor::port();
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    std_listener.set_nonblocking(true)?;
    let mut listener = TcpListener::from_std(std_listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(512);
    let mut slots: Vec<Option<Connection>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(floor::LARGEST);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events {
            if event.token() == LISTENER {
                // Until the backlog is drained (WouldBlock) or accepting
                // fails: the listener's next readiness tries again.
                while let Ok((mut stream, _)) = listener.accept() {
                    let slot = free.pop().unwrap_or_else(|| {
                        slots.push(None);
                        slots.len() - 1
                    });
                    if poll
                        .registry()
                        .register(&mut stream, Token(slot), Interest::READABLE)
                        .is_err()
                    {
                        free.push(slot);
                        continue;
                    }
                    slots[slot] = Some(Connection {
                        stream,
                        buf: Box::new([0; BUFFER]),
                        filled: 0,
                    });
                }
                continue;
            }
            let slot = event.token().0;
            let Some(connection) = slots.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if !serve(connection, &mut out) {
                // Closing the socket takes it out of the epoll set, as
                // nginx lets it.
                slots[slot] = None;
                free.push(slot);
            }
        }
    }
}

/// Reads until the socket has nothing more, answering each whole head;
/// false when the connection is done.
fn serve(c: &mut Connection, out: &mut Vec<u8>) -> bool {
    loop {
        if let Some(end) = floor::head_end(&c.buf[..c.filled]) {
            if floor::answer(&c.buf[..end], out) {
                last(&c.stream, out);
                return false;
            }
            // A small answer into an empty send buffer: all of it goes.
            if c.stream.write_all(out).is_err() {
                return false;
            }
            c.buf.copy_within(end + 4..c.filled, 0);
            c.filled -= end + 4;
            continue;
        }
        if c.filled == BUFFER {
            return false;
        }
        match c.stream.read(&mut c.buf[c.filled..]) {
            Ok(0) => return false,
            Ok(n) => c.filled += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Sends a connection's last bytes, held back for the FIN that follows
/// (`MSG_MORE`) where Linux offers it.
fn last(stream: &TcpStream, out: &[u8]) {
    #[cfg(target_os = "linux")]
    let _ = floor::send_last(stream, out);
    #[cfg(not(target_os = "linux"))]
    {
        let mut stream = stream;
        let _ = stream.write_all(out);
    }
}
