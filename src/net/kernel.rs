//! The kernel-TCP driver: runs sans-IO [`Connection`]s over nonblocking
//! sockets with epoll (through mio). It is the first transport, and the
//! baseline the userspace stacks are measured against.
//!
//! One [`KernelDriver`] is single-threaded and owns its sockets and
//! connections outright. It dials and re-dials connectors (lossless sessions
//! reconnect after backoff), accepts on one listener, answers acceptors'
//! session requests from its [`SessionRegistry`], and hands every other
//! [`Event`] to the caller.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::proto::{Connection, Event, Outgoing, SessionRegistry};
use crate::wire::addr::EntityAddr;

/// Identifies one connection of a driver.
pub type ConnId = usize;

const LISTENER: Token = Token(usize::MAX);
const READ_CHUNK: usize = 256 * 1024;

/// Builds the acceptor [`Connection`] for a newly accepted socket.
pub type AcceptFn = Box<dyn FnMut(SocketAddr, Instant) -> Connection + Send>;

struct Slot {
    stream: Option<TcpStream>,
    conn: Connection,
    /// Where a connector re-dials.
    target: Option<SocketAddr>,
}

/// A poll loop over kernel TCP sockets for many connections.
pub struct KernelDriver {
    poll: Poll,
    events: Events,
    listener: Option<TcpListener>,
    accept_fn: Option<AcceptFn>,
    my_addr: Option<EntityAddr>,
    slots: Vec<Option<Slot>>,
    registry: SessionRegistry,
    scratch: Vec<u8>,
}

impl KernelDriver {
    /// A driver with no connections.
    pub fn new() -> io::Result<Self> {
        Ok(KernelDriver {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            listener: None,
            accept_fn: None,
            my_addr: None,
            slots: Vec::new(),
            registry: SessionRegistry::new(),
            scratch: vec![0u8; READ_CHUNK],
        })
    }

    /// Listens on `addr`; each accepted socket gets a connection from `accept_fn`.
    /// `my_addr` is our msgr2 address, used in connect-race tie-breaks.
    /// Returns the bound address (useful with port 0).
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        my_addr: EntityAddr,
        accept_fn: AcceptFn,
    ) -> io::Result<SocketAddr> {
        let mut listener = TcpListener::bind(addr)?;
        self.poll
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let bound = listener.local_addr()?;
        self.listener = Some(listener);
        self.accept_fn = Some(accept_fn);
        self.my_addr = Some(my_addr);
        Ok(bound)
    }

    /// Dials `addr` and runs the connector `conn` (already holding its banner) over it.
    pub fn connect(&mut self, addr: SocketAddr, conn: Connection) -> io::Result<ConnId> {
        let stream = TcpStream::connect(addr)?;
        let id = self.insert(Slot {
            stream: None,
            conn,
            target: Some(addr),
        });
        self.attach(id, stream)?;
        Ok(id)
    }

    /// The connection `id`, if it still exists.
    pub fn conn_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.slots.get_mut(id)?.as_mut().map(|s| &mut s.conn)
    }

    /// Ids of the live connections.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        (0..self.slots.len())
            .filter(|i| self.slots[*i].is_some())
            .collect()
    }

    /// Applies a runtime mode policy (allowed modes in order of preference)
    /// to every connection, as [`Connection::set_mode_policy`] does; returns
    /// how many transports it closed. Their `Closed` events, and the
    /// reconnects of lossless connectors, come out of the next `poll_once`.
    /// New acceptors get their modes from the accept function, which the
    /// caller updates itself.
    pub fn set_mode_policy(&mut self, modes: &[crate::wire::ConMode]) -> usize {
        let now = Instant::now();
        self.slots
            .iter_mut()
            .flatten()
            .map(|s| s.conn.set_mode_policy(modes, now))
            .filter(|closed| *closed)
            .count()
    }

    /// Closes and forgets connection `id`.
    pub fn remove(&mut self, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(id).and_then(Option::take) {
            if let Some(mut s) = slot.stream {
                let _ = self.poll.registry().deregister(&mut s);
            }
        }
    }

    fn insert(&mut self, slot: Slot) -> ConnId {
        if let Some(i) = self.slots.iter().position(Option::is_none) {
            self.slots[i] = Some(slot);
            i
        } else {
            self.slots.push(Some(slot));
            self.slots.len() - 1
        }
    }

    fn attach(&mut self, id: ConnId, mut stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        self.poll.registry().register(
            &mut stream,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        if let Some(Some(slot)) = self.slots.get_mut(id) {
            slot.stream = Some(stream);
        }
        Ok(())
    }

    /// Waits up to `timeout` for I/O or a connection deadline, runs every
    /// connection that has work, and returns the events for the caller.
    pub fn poll_once(&mut self, timeout: Duration) -> io::Result<Vec<(ConnId, Event)>> {
        let mut out = Vec::new();
        let now = Instant::now();
        // Write what is pending first: sends queued since the last poll.
        for id in self.conn_ids() {
            self.flush(id, now);
            self.drain_events(id, now, &mut out);
        }
        if !out.is_empty() {
            return Ok(out);
        }
        let wait = self
            .next_deadline()
            .map(|d| d.saturating_duration_since(now))
            .map_or(timeout, |d| d.min(timeout));
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            // A signal woke us (e.g. SIGTERM for a clean shutdown): not an error.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(out),
            Err(e) => return Err(e),
        }
        let ready: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
        let now = Instant::now();
        for token in ready {
            if token == LISTENER {
                self.accept_all(now)?;
            } else {
                self.read(token.0, now);
            }
        }
        for id in self.conn_ids() {
            if let Some(Some(slot)) = self.slots.get_mut(id) {
                if slot.conn.poll_timeout().is_some_and(|d| d <= now) {
                    slot.conn.handle_timeout(now);
                }
            }
            self.flush(id, now);
            self.drain_events(id, now, &mut out);
            self.flush(id, now);
        }
        Ok(out)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| s.conn.poll_timeout())
            .min()
    }

    fn accept_all(&mut self, now: Instant) -> io::Result<()> {
        loop {
            let accepted = match &self.listener {
                Some(l) => l.accept(),
                None => return Ok(()),
            };
            match accepted {
                Ok((stream, peer)) => {
                    let Some(build) = self.accept_fn.as_mut() else {
                        return Ok(());
                    };
                    let conn = build(peer, now);
                    let id = self.insert(Slot {
                        stream: None,
                        conn,
                        target: None,
                    });
                    self.attach(id, stream)?;
                    self.flush(id, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn read(&mut self, id: ConnId, now: Instant) {
        let Some(Some(slot)) = self.slots.get_mut(id) else {
            return;
        };
        let Some(stream) = slot.stream.as_mut() else {
            return;
        };
        loop {
            match stream.read(&mut self.scratch) {
                Ok(0) => {
                    slot.conn
                        .handle_transport_closed("peer closed the TCP connection", now);
                    return;
                }
                Ok(n) => slot.conn.handle_input(&self.scratch[..n], now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    slot.conn.handle_transport_closed(&e.to_string(), now);
                    return;
                }
            }
        }
    }

    fn flush(&mut self, id: ConnId, now: Instant) {
        let Some(Some(slot)) = self.slots.get_mut(id) else {
            return;
        };
        let Some(stream) = slot.stream.as_mut() else {
            return;
        };
        while !slot.conn.tx_pending().is_empty() {
            match stream.write(slot.conn.tx_pending()) {
                Ok(0) => {
                    slot.conn
                        .handle_transport_closed("TCP write returned 0", now);
                    return;
                }
                Ok(n) => slot.conn.tx_consumed(n),
                // Not yet connected, or the socket buffer is full: wait for WRITABLE.
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::NotConnected =>
                {
                    return
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    slot.conn.handle_transport_closed(&e.to_string(), now);
                    return;
                }
            }
        }
    }

    fn drain_events(&mut self, id: ConnId, now: Instant, out: &mut Vec<(ConnId, Event)>) {
        loop {
            let Some(Some(slot)) = self.slots.get_mut(id) else {
                return;
            };
            let Some(event) = slot.conn.poll_event() else {
                return;
            };
            match event {
                Event::SessionRequest(req) => {
                    let decision = match &self.my_addr {
                        Some(me) => self.registry.decide(&req, me, Outgoing::None, true),
                        None => crate::proto::SessionDecision::NewSession,
                    };
                    if let Some(unapplied) = slot.conn.decide_session(decision) {
                        self.registry.park(req.peer_addrs(), *unapplied, true);
                    }
                }
                Event::Closed { error, reconnect } => {
                    if let Some(mut s) = slot.stream.take() {
                        let _ = self.poll.registry().deregister(&mut s);
                    }
                    let park = !reconnect
                        && !slot.conn.is_connector()
                        && !slot.conn.is_closed()
                        && slot.conn.established().is_some_and(|e| !e.lossy);
                    if park {
                        let addrs = slot
                            .conn
                            .established()
                            .map(|e| e.peer_addrs.clone())
                            .unwrap_or_default();
                        let session = slot.conn.take_session();
                        self.registry.park(&addrs, session, true);
                    }
                    if !reconnect {
                        self.slots[id] = None;
                    }
                    out.push((id, Event::Closed { error, reconnect }));
                }
                Event::ReconnectDue => {
                    let Some(target) = slot.target else {
                        continue;
                    };
                    match TcpStream::connect(target) {
                        Ok(stream) => {
                            slot.conn.reconnect(now);
                            if self.attach(id, stream).is_err() {
                                if let Some(Some(s)) = self.slots.get_mut(id) {
                                    s.conn.handle_transport_closed("register failed", now);
                                }
                            }
                        }
                        Err(e) => {
                            slot.conn.reconnect(now);
                            slot.conn.handle_transport_closed(&e.to_string(), now);
                        }
                    }
                    out.push((id, Event::ReconnectDue));
                }
                other => out.push((id, other)),
            }
        }
    }
}
