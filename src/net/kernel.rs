//! Kernel TCP behind the [`Transport`] trait: nonblocking sockets and epoll
//! (through mio). It is the first transport, and the baseline the userspace
//! stacks are measured against. `crate::reactor::driver::KernelDriver` runs
//! msgr2 connections on it.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use super::transport::{StreamEvent, StreamId, Transport};

/// Tokens at and above this are listeners.
const LISTENER_BASE: usize = 1 << 40;
const READ_CHUNK: usize = 256 * 1024;

struct KStream {
    sock: TcpStream,
    connecting: bool,
    /// Bytes a reader did not consume, delivered first next time.
    leftover: Vec<u8>,
    /// epoll reported the peer's FIN or an error: read to the end (EOF or
    /// the error) instead of stopping at a short read.
    peer_done: bool,
}

/// Kernel TCP sockets polled with epoll.
pub struct KernelTransport {
    poll: Poll,
    events: Events,
    listeners: Vec<(TcpListener, SocketAddr)>,
    streams: Vec<Option<KStream>>,
    /// Tokens seen by `wait` and not yet handled by `poll`.
    woken: VecDeque<Token>,
    /// `wait` asked epoll last: the next `poll` with nothing stashed skips
    /// its own look (a driver that finds no work next calls `wait`, whose
    /// epoll returns at once if anything arrived). One syscall fewer per
    /// wake; at most one look is skipped per `wait`, so a busy caller
    /// still sees new events every other pass at worst.
    just_waited: bool,
    /// Streams found closed while reading, reported by the next `poll`.
    closed: Vec<(StreamId, String)>,
    /// Ids whose `Closed` has been reported, free for reuse. An id is never
    /// reused before its `Closed` is out, or the event would hit the new stream.
    free: Vec<StreamId>,
    scratch: Vec<u8>,
    /// Listeners whose accept failed for want of descriptors or memory:
    /// epoll is edge-triggered, so they are retried here (when a stream of
    /// ours closes, or after [`ACCEPT_RETRY`]) rather than waiting for a
    /// new peer to arrive.
    accept_retry: Vec<usize>,
    last_accept_retry: Option<Instant>,
    /// A stream was dropped since the last retry (a descriptor freed).
    freed_since_retry: bool,
    /// Listeners whose queue was not emptied in the last poll (the per-poll
    /// accept share ran out): accepted from again on the next poll.
    accept_more: Vec<usize>,
    /// Per listener: accept is failing for want of resources (reported once
    /// per episode, not per retry).
    starved: Vec<bool>,
}

/// True if a read of `n` bytes into room for `asked` left the socket empty:
/// TCP returns everything queued up to the room given, so a short read
/// means nothing was left, and epoll (edge-triggered) reports whatever
/// arrives next. That saves the read that would only say EAGAIN, one
/// syscall per wake. A peer that finished is read to its EOF or error
/// instead: its FIN may have come with the data that woke us.
fn drained(n: usize, asked: usize, s: &KStream) -> bool {
    n < asked && n < SMALL_READ && !s.peer_done
}

/// Reads at least this large go on to EAGAIN: a stream in full flow has
/// more arriving as we read, and taking it now costs less than another
/// trip through epoll (64 KiB streams lost a third of their rate without).
const SMALL_READ: usize = 16 << 10;

/// Most connections accepted per listener per poll: the driver refuses
/// those over its cap (closing them) before more descriptors are taken,
/// and a connection flood gets a bounded share of the reactor's pass.
const ACCEPTS_PER_POLL: usize = 16;

/// How often a listener starved of descriptors is retried at the latest.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Accept errors that mean "no descriptor or memory now": the listener's
/// queue is untouched and must be retried.
fn is_resource_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

impl KernelTransport {
    /// A transport with no sockets.
    pub fn new() -> io::Result<Self> {
        Ok(KernelTransport {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            listeners: Vec::new(),
            streams: Vec::new(),
            woken: VecDeque::new(),
            just_waited: false,
            closed: Vec::new(),
            free: Vec::new(),
            scratch: vec![0u8; READ_CHUNK],
            accept_retry: Vec::new(),
            last_accept_retry: None,
            freed_since_retry: false,
            accept_more: Vec::new(),
            starved: Vec::new(),
        })
    }

    fn insert(&mut self, mut sock: TcpStream, connecting: bool) -> io::Result<StreamId> {
        let id = match self.free.pop() {
            Some(i) => i,
            None => {
                self.streams.push(None);
                self.streams.len() - 1
            }
        };
        sock.set_nodelay(true)?;
        self.poll.registry().register(
            &mut sock,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.streams[id] = Some(KStream {
            sock,
            connecting,
            leftover: Vec::new(),
            peer_done: false,
        });
        Ok(id)
    }

    /// Queues the streams epoll reported, noting those whose peer finished
    /// (FIN, reset or error): a short read does not mean those are drained.
    fn take_events(&mut self) {
        for e in self.events.iter() {
            let token = e.token();
            if e.is_read_closed() || e.is_error() {
                if let Some(Some(s)) = self.streams.get_mut(token.0) {
                    s.peer_done = true;
                }
            }
            self.woken.push_back(token);
        }
    }

    fn drop_stream(&mut self, id: StreamId) {
        if let Some(mut s) = self.streams.get_mut(id).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut s.sock);
            self.freed_since_retry = true;
        }
    }

    fn accept_all(&mut self, index: usize, events: &mut Vec<StreamEvent>) {
        for _ in 0..ACCEPTS_PER_POLL {
            let Some((listener, local)) = self.listeners.get(index) else {
                return;
            };
            let local = *local;
            match listener.accept() {
                Ok((sock, peer)) => {
                    if let Some(starved) = self.starved.get_mut(index) {
                        *starved = false;
                    }
                    if let Ok(stream) = self.insert(sock, false) {
                        events.push(StreamEvent::Accepted {
                            stream,
                            local,
                            peer,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_resource_error(&e) => {
                    // Peers stay queued in the kernel; retry this listener.
                    if !self.accept_retry.contains(&index) {
                        self.accept_retry.push(index);
                    }
                    if let Some(starved) = self.starved.get_mut(index) {
                        if !*starved {
                            *starved = true;
                            events.push(StreamEvent::AcceptFailed {
                                local,
                                error: e.to_string(),
                            });
                        }
                    }
                    return;
                }
                // Per-connection accept errors (e.g. ECONNABORTED) must not
                // stop the listener: with edge-triggered epoll, stopping
                // would strand every peer queued behind this one.
                Err(_) => continue,
            }
        }
        // The share ran out with peers perhaps still queued: epoll is
        // edge-triggered and will not say so again.
        if !self.accept_more.contains(&index) {
            self.accept_more.push(index);
        }
    }
}

impl Transport for KernelTransport {
    fn name(&self) -> &'static str {
        "kernel"
    }

    fn wakes_when_writable(&self) -> bool {
        true // WRITABLE interest, edge-triggered: see `poll`
    }

    fn listen(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let mut listener = TcpListener::bind(addr)?;
        let token = Token(LISTENER_BASE + self.listeners.len());
        self.poll
            .registry()
            .register(&mut listener, token, Interest::READABLE)?;
        let bound = listener.local_addr()?;
        self.listeners.push((listener, bound));
        self.starved.push(false);
        Ok(bound)
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<StreamId> {
        let sock = TcpStream::connect(addr)?;
        self.insert(sock, true)
    }

    fn poll(
        &mut self,
        _now: Instant,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) -> bool {
        for (stream, reason) in self.closed.drain(..) {
            self.free.push(stream);
            events.push(StreamEvent::Closed { stream, reason });
        }
        if self.woken.is_empty() && !std::mem::take(&mut self.just_waited) {
            // Nothing stashed by `wait`: look without blocking.
            if self
                .poll
                .poll(&mut self.events, Some(Duration::ZERO))
                .is_ok()
            {
                self.take_events();
            }
        }
        if !self.accept_retry.is_empty()
            && (self.freed_since_retry
                || self
                    .last_accept_retry
                    .is_none_or(|t| _now.saturating_duration_since(t) >= ACCEPT_RETRY))
        {
            self.freed_since_retry = false;
            self.last_accept_retry = Some(_now);
            for index in std::mem::take(&mut self.accept_retry) {
                self.accept_all(index, events);
            }
        }
        let more = !self.accept_more.is_empty();
        for index in std::mem::take(&mut self.accept_more) {
            self.accept_all(index, events);
        }
        let progress = more || !self.woken.is_empty() || !events.is_empty();
        while let Some(token) = self.woken.pop_front() {
            if token.0 >= LISTENER_BASE {
                self.accept_all(token.0 - LISTENER_BASE, events);
                continue;
            }
            let id = token.0;
            let Some(Some(s)) = self.streams.get_mut(id) else {
                continue;
            };
            if s.connecting {
                match s.sock.peer_addr() {
                    Ok(_) => {
                        s.connecting = false;
                        events.push(StreamEvent::Connected(id));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                        // Still connecting, or refused: take_error tells which.
                        if let Ok(Some(err)) | Err(err) = s.sock.take_error() {
                            self.drop_stream(id);
                            self.free.push(id);
                            events.push(StreamEvent::Closed {
                                stream: id,
                                reason: format!("connect failed: {err}"),
                            });
                        }
                        continue;
                    }
                    Err(e) => {
                        self.drop_stream(id);
                        self.free.push(id);
                        events.push(StreamEvent::Closed {
                            stream: id,
                            reason: format!("connect failed: {e}"),
                        });
                        continue;
                    }
                }
            }
            if !readable.contains(&id) {
                readable.push(id);
            }
        }
        progress
    }

    fn read(
        &mut self,
        stream: StreamId,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize> {
        // Unbounded: the same loop, a scratch buffer's worth per read.
        self.read_at_most(stream, usize::MAX, consume)
    }

    fn read_at_most(
        &mut self,
        stream: StreamId,
        max: usize,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize> {
        let Some(Some(s)) = self.streams.get_mut(stream) else {
            return Ok(0);
        };
        let mut total = 0;
        if !s.leftover.is_empty() {
            let take = s.leftover.len().min(max);
            let n = consume(&s.leftover[..take]);
            s.leftover.drain(..n);
            total += n;
            if !s.leftover.is_empty() || total >= max {
                return Ok(total);
            }
        }
        // Read no more from the socket than the caller's share: the rest
        // stays in the kernel, costing us nothing.
        while total < max {
            let want = (max - total).min(READ_CHUNK);
            match s.sock.read(&mut self.scratch[..want]) {
                Ok(0) => {
                    self.closed
                        .push((stream, "peer closed the TCP connection".into()));
                    self.drop_stream(stream);
                    return Ok(total);
                }
                Ok(n) => {
                    let used = consume(&self.scratch[..n]);
                    total += used;
                    if used < n {
                        s.leftover.extend_from_slice(&self.scratch[used..n]);
                        return Ok(total);
                    }
                    if drained(n, want, s) {
                        return Ok(total);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.closed.push((stream, e.to_string()));
                    self.drop_stream(stream);
                    return Ok(total);
                }
            }
        }
        Ok(total)
    }

    /// Writes until the socket buffer is full (one `writev` per turn).
    fn write(&mut self, stream: StreamId, data: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < data.len() {
            match self.write_vectored(stream, &[IoSlice::new(&data[done..])])? {
                0 => break,
                n => done += n,
            }
        }
        Ok(done)
    }

    /// One `writev`: the driver calls again with what is left.
    fn write_vectored(&mut self, stream: StreamId, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let Some(Some(s)) = self.streams.get_mut(stream) else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "no such stream",
            ));
        };
        loop {
            return match s.sock.write_vectored(bufs) {
                Ok(n) => Ok(n),
                // Not yet connected, or the socket buffer is full: WRITABLE wakes us.
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::NotConnected =>
                {
                    Ok(0)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.closed.push((stream, e.to_string()));
                    self.drop_stream(stream);
                    Err(e)
                }
            };
        }
    }

    fn close(&mut self, stream: StreamId) {
        if self.streams.get(stream).is_some_and(Option::is_some) {
            self.drop_stream(stream);
            self.closed.push((stream, "closed locally".into()));
        }
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if !self.woken.is_empty() || !self.closed.is_empty() || !self.accept_more.is_empty() {
            return Ok(());
        }
        // A starved listener is retried on time even if nothing else wakes us.
        let timeout = if self.accept_retry.is_empty() {
            timeout
        } else {
            timeout.min(ACCEPT_RETRY)
        };
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {
                self.take_events();
                self.just_waited = true;
                Ok(())
            }
            // A signal woke us (e.g. SIGTERM for a clean shutdown): not an error.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport listening on a loopback port, and that port's address.
    fn listening() -> (KernelTransport, SocketAddr) {
        let mut t = KernelTransport::new().expect("transport");
        let addr = t
            .listen("127.0.0.1:0".parse().expect("literal"))
            .expect("listen");
        (t, addr)
    }

    /// A closed stream's id must not be reused before its `Closed` event is
    /// reported, or the event would be delivered to the new stream.
    #[test]
    fn closed_id_is_not_reused_before_its_event() {
        let (mut t, addr) = listening();
        let a = t.connect(addr).expect("connect");
        t.close(a);
        let b = t.connect(addr).expect("connect");
        assert_ne!(a, b, "id reused while its Closed is pending");
        let (mut events, mut readable) = (Vec::new(), Vec::new());
        t.poll(Instant::now(), &mut events, &mut readable);
        assert!(events
            .iter()
            .any(|e| matches!(e, StreamEvent::Closed { stream, .. } if *stream == a)));
    }

    /// A peer that sends a few bytes and closes at once: data and FIN
    /// arrive before one edge-triggered wake, and the short read of the
    /// data must not end reading there, or the close is never seen.
    #[test]
    fn short_read_followed_by_fin_reports_the_close() {
        use std::io::Write;
        let (mut t, addr) = listening();
        let mut peer = std::net::TcpStream::connect(addr).expect("connect");
        peer.write_all(&[7u8; 100]).expect("write");
        drop(peer);
        // Both the bytes and the FIN are queued before we look.
        std::thread::sleep(Duration::from_millis(50));
        let (mut events, mut readable) = (Vec::new(), Vec::new());
        let (mut got, mut closed, mut stream) = (0, false, None);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !closed && Instant::now() < deadline {
            t.wait(Duration::from_millis(20)).expect("wait");
            t.poll(Instant::now(), &mut events, &mut readable);
            for ev in events.drain(..) {
                match ev {
                    StreamEvent::Accepted { stream: s, .. } => stream = Some(s),
                    StreamEvent::Closed { stream: s, .. } if Some(s) == stream => closed = true,
                    _ => {}
                }
            }
            for id in readable.drain(..) {
                t.read(id, &mut |b| {
                    got += b.len();
                    b.len()
                })
                .expect("read");
            }
        }
        assert_eq!(got, 100);
        assert!(closed, "the peer's close was never reported");
    }
}
