//! A loopback TCP relay for fault tests: each accepted connection is
//! forwarded to an upstream address, and every chunk read in either
//! direction passes through that direction's [`Filter`], which may alter it,
//! hold it back, delay it or cut the connection.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a filter decides about a chunk.
pub enum Flow {
    /// Write out what the chunk buffer now holds (possibly nothing).
    Forward,
    /// Close both sides of the connection without writing the chunk.
    Cut,
}

/// One direction of one relayed connection.
pub trait Filter: Send {
    /// `chunk` holds the bytes just read; edit it in place, empty it to hold
    /// the bytes back, or return [`Flow::Cut`].
    fn chunk(&mut self, chunk: &mut Vec<u8>) -> Flow;

    /// The direction ended (either side closed, or a cut).
    fn finished(&mut self) {}
}

/// Forwards every byte unchanged.
pub struct Pass;

impl Filter for Pass {
    fn chunk(&mut self, _: &mut Vec<u8>) -> Flow {
        Flow::Forward
    }
}

/// Starts a relay on 127.0.0.1 to `upstream` until `stop` is set; returns
/// its address. For the n-th accepted connection (from 0), `filters(n)`
/// gives the (client → upstream, upstream → client) filters. With
/// `nodelay`, both sockets forward each chunk at once (no Nagle delay).
pub fn start<F>(
    upstream: SocketAddr,
    stop: Arc<AtomicBool>,
    nodelay: bool,
    mut filters: F,
) -> SocketAddr
where
    F: FnMut(u64) -> (Box<dyn Filter>, Box<dyn Filter>) + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let addr = listener.local_addr().expect("relay addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let Ok((client, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let _ = client.set_nonblocking(false);
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            if nodelay {
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
            }
            let (up, down) = filters(n);
            n += 1;
            let (c2, s2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || pump(client, server, up));
            std::thread::spawn(move || pump(s2, c2, down));
        }
    });
    addr
}

/// Copies `from` to `to` through `filter` until either side ends or the
/// filter cuts.
fn pump(mut from: TcpStream, mut to: TcpStream, mut filter: Box<dyn Filter>) {
    let mut buf = [0u8; 16384];
    let mut chunk = Vec::with_capacity(buf.len());
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        chunk.clear();
        chunk.extend_from_slice(&buf[..n]);
        match filter.chunk(&mut chunk) {
            Flow::Cut => break,
            Flow::Forward => {
                if to.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
    }
    filter.finished();
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
