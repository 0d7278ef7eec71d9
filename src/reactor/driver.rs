//! Runs sans-IO msgr2 [`Connection`]s over any [`Transport`].
//!
//! One [`Driver`] is single-threaded and owns its transport and connections
//! outright. It dials and re-dials connectors (lossless sessions reconnect
//! after backoff), accepts on any number of listeners (one per local
//! endpoint), asks each listener's [`SessionPolicy`] (chosen by its owner:
//! the pool gives every endpoint its own [`SessionRegistry`]) which session
//! an accepting connection gets, and hands every other [`Event`] to the
//! caller.

use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::stats::DriverStats;
use crate::net::guard::Guard;
use crate::net::kernel::KernelTransport;
use crate::net::transport::{StreamEvent, StreamId, Transport};
use crate::proto::{
    Connection, Event, Outgoing, Session, SessionDecision, SessionRegistry, SessionRequest,
};
use crate::wire::addr::{EntityAddr, EntityAddrVec};

/// How often streams whose reads are held or paused are looked at again.
const UNREAD_RECHECK: Duration = Duration::from_millis(10);

/// How soon deferred heavy streams are looked at again.
const HEAVY_RECHECK: Duration = Duration::from_millis(1);
/// A light stream's read at most this large marks a latency-bound peer.
const INTERACTIVE_BYTES: usize = 4096;
/// Latency-bound activity this recent makes heavy streams share the reactor's time.
const LIGHT_RECENT: Duration = Duration::from_millis(20);
/// Most time credit heavy streams bank while idle (ns).
const HEAVY_CREDIT_MAX_NS: i64 = 2_000_000;
/// Most chunks one vectored write takes (a few messages' worth; the rest
/// goes in the next write of the same flush).
const MAX_IOV: usize = 64;

/// Identifies one connection of a driver.
pub type ConnId = usize;

/// Builds the acceptor [`Connection`] for a newly accepted stream from `peer`.
pub type AcceptFn = Box<dyn FnMut(SocketAddr, Instant) -> Connection + Send>;

/// An endpoint's policy for the sessions of its accepted connections:
/// which session a peer that asks for one gets, and where the session of a
/// faulted lossless peer waits for that peer's SESSION_RECONNECT. The owner
/// of the listener chooses it (the pool gives each endpoint Pacific's rules,
/// a [`SessionRegistry`]); the driver only asks, adding the one fact it
/// knows: whether it is itself dialing that peer (a connect race).
pub trait SessionPolicy: Send {
    /// Which session `req` gets; `outgoing` says whether this driver has a
    /// dial to the same peer in flight.
    fn decide(
        &mut self,
        req: &SessionRequest,
        my_addr: &EntityAddr,
        outgoing: Outgoing,
        i_am_server: bool,
    ) -> SessionDecision;
    /// Keeps `session`, of the faulted lossless peer at `peer_addrs`, for
    /// the peer's reconnect.
    fn park(&mut self, peer_addrs: &EntityAddrVec, session: Session);
}

/// Pacific's rules (`ProtocolV2::handle_existing_connection` and
/// `reuse_connection`, as `proto::SessionRegistry` implements them).
impl SessionPolicy for SessionRegistry {
    fn decide(
        &mut self,
        req: &SessionRequest,
        my_addr: &EntityAddr,
        outgoing: Outgoing,
        i_am_server: bool,
    ) -> SessionDecision {
        SessionRegistry::decide(self, req, my_addr, outgoing, i_am_server)
    }

    fn park(&mut self, peer_addrs: &EntityAddrVec, session: Session) {
        SessionRegistry::park(self, peer_addrs, session, true);
    }
}

/// What a listener is: its msgr2 address, how it builds acceptor
/// connections, and its session policy.
pub struct Listening {
    /// The address peers dial (the bound socket address and our nonce).
    pub my_addr: EntityAddr,
    /// Builds the acceptor connection of each accepted stream.
    pub accept: AcceptFn,
    /// Decides and keeps the sessions of its accepted connections.
    pub sessions: Box<dyn SessionPolicy>,
}

/// One listening endpoint.
struct Listener {
    bound: SocketAddr,
    my_addr: EntityAddr,
    accept: AcceptFn,
    sessions: Box<dyn SessionPolicy>,
}

struct Slot {
    conn: Connection,
    stream: Option<StreamId>,
    /// Where a connector re-dials.
    target: Option<SocketAddr>,
    /// The listener an accepted connection came from.
    listener: Option<usize>,
    /// Queued in `Driver::dirty`.
    dirty: bool,
    /// The deadline last pushed on the timer heap for this connection.
    scheduled: Option<Instant>,
    /// Last time bytes moved, for idle reaping.
    last_active: Instant,
    /// Bytes of this connection counted in the process budget.
    accounted: usize,
    /// Reads stopped for a memory budget.
    paused: bool,
    /// Since when this connection has held more than the budget floor
    /// after a budget pause: the budget deadline counts from here, through
    /// resumes (a peer cycling between paused and read, as others' memory
    /// comes and goes, must not restart its clock).
    pressured_since: Option<Instant>,
    /// Reads stopped until the peer drains our replies.
    held: bool,
    /// The last read used the whole share (more was waiting).
    heavy: bool,
}

impl Slot {
    fn new(conn: Connection, stream: StreamId, now: Instant) -> Self {
        Slot {
            conn,
            stream: Some(stream),
            target: None,
            listener: None,
            dirty: false,
            scheduled: None,
            last_active: now,
            accounted: 0,
            paused: false,
            pressured_since: None,
            held: false,
            heavy: false,
        }
    }
}

/// Bounds a driver enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverLimits {
    /// Most connections at once; accepts beyond it are closed at once.
    pub max_conns: usize,
    /// Connections with no traffic for this long are closed (a lossless
    /// session survives, parked or in standby, as after any fault).
    pub idle_timeout: Option<Duration>,
    /// Most bytes read from one connection per pass (a fair share: one
    /// flooding peer cannot starve the others of the reactor).
    pub read_bytes_per_pass: usize,
    /// A connection holding this many bytes (received and unhandled,
    /// queued to send) is not read until it holds less.
    pub conn_memory_budget: usize,
    /// While the process is over its shared budget ([`Guard`]), connections
    /// holding more than this are not read.
    pub budget_floor: usize,
    /// A connection paused for a budget that still holds more than
    /// `budget_floor` this long after its first pause (read or not in
    /// between) is closed with [`crate::proto::ConnError::OverBudget`].
    pub budget_timeout: Duration,
    /// Heavy connections (that used their whole share last time) served
    /// per pass, in turn; light ones are all served every pass.
    pub heavy_per_pass: usize,
    /// While light connections are active, heavy ones get at most this
    /// share (percent) of the reactor's time, so the reactor keeps waiting
    /// in epoll for light work instead of running flat out (100: no limit).
    pub heavy_share_percent: u32,
}

impl Default for DriverLimits {
    fn default() -> Self {
        DriverLimits {
            max_conns: 65_536,
            idle_timeout: None,
            read_bytes_per_pass: 256 << 10,
            // A whole largest frame (64 MiB data + 2 × 16 MiB) plus room.
            conn_memory_budget: 128 << 20,
            budget_floor: 256 << 10,
            budget_timeout: Duration::from_secs(30),
            heavy_per_pass: 2,
            heavy_share_percent: 50,
        }
    }
}

/// A poll loop over one transport for many connections.
pub struct Driver<T: Transport> {
    transport: T,
    listeners: Vec<Listener>,
    slots: Vec<Option<Slot>>,
    by_stream: FxHashMap<StreamId, ConnId>,
    stream_events: Vec<StreamEvent>,
    readable: Vec<StreamId>,
    /// Connections with possible work: I/O, caller sends, new events. Each
    /// pass touches only these and due timers, so its cost follows the
    /// active connections, not all of them.
    dirty: Vec<ConnId>,
    /// Deadlines by time; stale entries are skipped when popped.
    timers: BinaryHeap<Reverse<(Instant, ConnId)>>,
    free: Vec<ConnId>,
    live: usize,
    limits: DriverLimits,
    /// Listener addresses of connections removed during the current poll, so
    /// the caller can still attribute their `Closed` events.
    departed: FxHashMap<ConnId, SocketAddr>,
    /// Accepted streams refused by `max_conns`.
    refused: u64,
    next_reap: Option<Instant>,
    /// Memory budget, counters and log shared with the other drivers.
    guard: Arc<Guard>,
    /// Streams that may hold bytes we have not read (a pass's share was
    /// used up, or reads are held or paused): edge-triggered transports
    /// will not report them again, so they are looked at every pass.
    unread: Vec<StreamId>,
    to_read: Vec<StreamId>,
    /// Lossless accepted sessions whose transport faulted during the current
    /// poll. Their slots live until the next poll, which parks their session
    /// for the peer's reconnect: the caller still handles the messages
    /// delivered in the same pass as the fault, and its replies must go into
    /// the session (to be replayed), not be dropped with the slot.
    closing: Vec<ConnId>,
    heavy_scratch: Vec<StreamId>,
    /// Streams whose reads are held (peer not draining) or paused (budget).
    parked: Vec<StreamId>,
    parked_due: Instant,
    /// Rotates which heavy streams go first.
    heavy_turn: usize,
    /// Reactor time heavy streams may still use (ns; negative: in debt).
    heavy_credit_ns: i64,
    heavy_refill_at: Instant,
    /// Heavy streams waited this pass for their time share to refill.
    heavy_deferred: bool,
    /// When a light stream last made progress.
    light_active_at: Option<Instant>,
    stats: DriverStats,
    /// The time of the last pass (one clock read per pass; see [`Driver::now`]).
    now: Instant,
}

impl<T: Transport> Driver<T> {
    /// A driver over `transport`, with no connections.
    pub fn with_transport(transport: T) -> Self {
        Driver {
            transport,
            listeners: Vec::new(),
            slots: Vec::new(),
            by_stream: FxHashMap::default(),
            stream_events: Vec::new(),
            readable: Vec::new(),
            dirty: Vec::new(),
            timers: BinaryHeap::new(),
            free: Vec::new(),
            live: 0,
            limits: DriverLimits::default(),
            departed: FxHashMap::default(),
            refused: 0,
            next_reap: None,
            guard: Arc::new(Guard::default()),
            unread: Vec::new(),
            to_read: Vec::new(),
            closing: Vec::new(),
            heavy_scratch: Vec::new(),
            parked: Vec::new(),
            parked_due: Instant::now(),
            heavy_turn: 0,
            heavy_credit_ns: 0,
            heavy_refill_at: Instant::now(),
            heavy_deferred: false,
            light_active_at: None,
            stats: DriverStats::default(),
            now: Instant::now(),
        }
    }

    /// The time the last [`Driver::poll_once`] pass ran at: callers handling
    /// its events use it instead of reading the clock again.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// This driver's counters so far (see [`DriverStats`]), with the
    /// transport's frame counts.
    pub fn stats(&self) -> DriverStats {
        DriverStats {
            frames: self.transport.frames(),
            ..self.stats
        }
    }

    /// Shares `guard` (the process memory budget, counters and log) with
    /// this driver; call before connections exist.
    pub fn set_guard(&mut self, guard: Arc<Guard>) {
        self.guard = guard;
    }

    /// The guard this driver counts into.
    pub fn guard(&self) -> &Arc<Guard> {
        &self.guard
    }

    /// The limits in force.
    pub fn limits(&self) -> DriverLimits {
        self.limits
    }

    /// Sets the bounds this driver enforces.
    pub fn set_limits(&mut self, limits: DriverLimits) {
        self.limits = limits;
        self.next_reap = None;
    }

    /// Accepted streams refused because of `max_conns`.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn mark_dirty(&mut self, id: ConnId) {
        if let Some(Some(slot)) = self.slots.get_mut(id) {
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    /// The transport underneath.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Listens on `addr` as the endpoint whose msgr2 address is `my_addr`;
    /// each accepted stream gets a connection from `accept_fn`. Returns the
    /// bound address (useful with port 0).
    pub fn listen(
        &mut self,
        addr: SocketAddr,
        my_addr: EntityAddr,
        accept_fn: AcceptFn,
    ) -> io::Result<SocketAddr> {
        self.listen_bound(addr, |_| (my_addr, accept_fn))
    }

    /// Listens on `addr` and, once bound (a port of 0 is resolved), asks
    /// `build` for the endpoint's msgr2 address and accept function.
    /// Its sessions follow Pacific's rules (a fresh [`SessionRegistry`]).
    pub fn listen_bound(
        &mut self,
        addr: SocketAddr,
        build: impl FnOnce(SocketAddr) -> (EntityAddr, AcceptFn),
    ) -> io::Result<SocketAddr> {
        self.listen_with(addr, |bound| {
            let (my_addr, accept) = build(bound);
            Listening {
                my_addr,
                accept,
                sessions: Box::new(SessionRegistry::new()),
            }
        })
    }

    /// Listens on `addr` and, once bound, asks `build` for the listener:
    /// its address, accept function and session policy.
    pub fn listen_with(
        &mut self,
        addr: SocketAddr,
        build: impl FnOnce(SocketAddr) -> Listening,
    ) -> io::Result<SocketAddr> {
        let bound = self.transport.listen(addr)?;
        let Listening {
            my_addr,
            accept,
            sessions,
        } = build(bound);
        self.listeners.push(Listener {
            bound,
            my_addr,
            accept,
            sessions,
        });
        Ok(bound)
    }

    /// The bound address of the listener connection `id` was accepted on.
    pub fn listener_addr(&self, id: ConnId) -> Option<SocketAddr> {
        match self.slots.get(id).and_then(Option::as_ref) {
            Some(slot) => self.listeners.get(slot.listener?).map(|l| l.bound),
            // Closed during the last poll: its events are still being handled.
            None => self.departed.get(&id).copied(),
        }
    }

    /// Dials `addr` and runs the connector `conn` (already holding its banner) over it.
    pub fn connect(&mut self, addr: SocketAddr, conn: Connection) -> io::Result<ConnId> {
        let stream = self.transport.connect(addr)?;
        let mut slot = Slot::new(conn, stream, Instant::now());
        slot.target = Some(addr);
        let id = self.insert(slot);
        self.by_stream.insert(stream, id);
        Ok(id)
    }

    /// The connection `id`, if it still exists. It is run on the next pass,
    /// since the caller may queue messages on it.
    pub fn conn_mut(&mut self, id: ConnId) -> Option<&mut Connection> {
        self.mark_dirty(id);
        self.slots.get_mut(id)?.as_mut().map(|s| &mut s.conn)
    }

    /// Ids of the live connections.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        (0..self.slots.len())
            .filter(|i| self.slots[*i].is_some())
            .collect()
    }

    /// Number of live connections.
    pub fn conn_count(&self) -> usize {
        self.live
    }

    /// Applies a runtime mode policy (allowed modes in order of preference)
    /// to every connection, as [`Connection::set_mode_policy`] does; returns
    /// how many transports it closed. Their `Closed` events, and the
    /// reconnects of lossless connectors, come out of the next `poll_once`.
    /// New acceptors get their modes from the accept function, which the
    /// caller updates itself.
    pub fn set_mode_policy(&mut self, modes: &[crate::wire::ConMode]) -> usize {
        let now = Instant::now();
        let mut closed = 0;
        for id in 0..self.slots.len() {
            let changed = match self.slots.get_mut(id) {
                Some(Some(slot)) => slot.conn.set_mode_policy(modes, now),
                _ => false,
            };
            if changed {
                closed += 1;
                self.mark_dirty(id);
            }
        }
        closed
    }

    /// Closes and forgets connection `id`.
    pub fn remove(&mut self, id: ConnId) {
        if let Some(slot) = self.slots.get_mut(id).and_then(Option::take) {
            self.guard.reaccount(slot.accounted, 0);
            self.live -= 1;
            self.free.push(id);
            if let Some(s) = slot.stream {
                self.by_stream.remove(&s);
                self.transport.close(s);
            }
        }
    }

    fn insert(&mut self, mut slot: Slot) -> ConnId {
        slot.conn
            .set_seal_in_transport(self.transport.writes_in_place());
        self.live += 1;
        let id = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.mark_dirty(id);
        id
    }

    /// Runs every connection that has work, waiting up to `timeout` if none
    /// has, and returns the events for the caller.
    pub fn poll_once(&mut self, timeout: Duration) -> io::Result<Vec<(ConnId, Event)>> {
        self.departed.clear();
        self.park_closing();
        let mut out = Vec::new();
        let now = Instant::now();
        self.now = now;
        let progressed = self.run(now, &mut out);
        self.stats.count_pass(progressed || !out.is_empty());
        if !progressed && out.is_empty() {
            if self.guard.trim_due() {
                // Idle, and connections let go of megabytes: give them back.
                crate::net::heap::release_free_memory();
            }
            let mut wait = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(now))
                .map_or(timeout, |d| d.min(timeout));
            if !self.parked.is_empty() {
                // Held or paused streams are looked at again soon: their
                // peers' bytes wait in the transport, unreported.
                wait = wait.min(self.parked_due.saturating_duration_since(now));
            }
            if self.heavy_deferred {
                wait = wait.min(HEAVY_RECHECK);
            }
            self.transport.wait(wait)?;
            // A busy poll does not wait: the pass's time still holds (one
            // clock read per pass; it was about 5% of a DPDK server's time).
            let now = if wait.is_zero() { now } else { Instant::now() };
            self.now = now;
            let progressed = self.run(now, &mut out);
            self.stats.count_pass(progressed || !out.is_empty());
        }
        Ok(out)
    }

    /// One pass: flush, poll the transport, read, fire due timers, then run
    /// the connections that have work and collect their events.
    fn run(&mut self, now: Instant, out: &mut Vec<(ConnId, Event)>) -> bool {
        for i in 0..self.dirty.len() {
            let id = self.dirty[i];
            let t0 = self.heavy_clock(id);
            self.flush(id, now);
            self.charge_heavy(t0);
        }
        let mut events = std::mem::take(&mut self.stream_events);
        let mut readable = std::mem::take(&mut self.readable);
        let mut progressed = self.transport.poll(now, &mut events, &mut readable);
        for ev in events.drain(..) {
            self.handle_stream_event(ev, now);
        }
        let mut to_read = std::mem::take(&mut self.to_read);
        to_read.append(&mut self.unread);
        to_read.append(&mut readable);
        if !self.parked.is_empty() && now >= self.parked_due {
            // Held and paused streams: looked at on a slow cadence (and on
            // their own events), not every pass, so many of them cost a
            // latency-bound peer nothing.
            self.parked_due = now + UNREAD_RECHECK;
            to_read.append(&mut self.parked);
        }
        to_read.sort_unstable();
        to_read.dedup();
        // Light streams (whose last read emptied them) first, then heavy
        // ones (that used their whole share last time), in turn, only
        // `heavy_per_pass` of them per pass: a latency-bound peer waits for
        // at most that many shares, however many peers flood.
        let mut heavy = std::mem::take(&mut self.heavy_scratch);
        for stream in to_read.drain(..) {
            if self.is_heavy(stream) {
                heavy.push(stream);
            } else if self.service_read(stream, now) {
                progressed = true;
            }
        }
        self.heavy_deferred = false;
        if !heavy.is_empty() && self.heavy_time_spent(now) {
            // Heavy connections had their share of the reactor's time while
            // light ones are active: the reactor waits for light work (and
            // stays responsive) until the share refills.
            self.heavy_deferred = true;
            self.unread.append(&mut heavy);
        }
        if !heavy.is_empty() {
            let start = self.heavy_turn % heavy.len();
            self.heavy_turn = self.heavy_turn.wrapping_add(1);
            heavy.rotate_left(start);
            let mut turns = self.limits.heavy_per_pass.max(1);
            for stream in heavy.drain(..) {
                if turns == 0 {
                    // Still looked at (deadlines of paused ones) next pass.
                    self.unread.push(stream);
                    progressed = true;
                    continue;
                }
                let t0 = Some(Instant::now());
                if self.service_read(stream, now) {
                    turns -= 1;
                    progressed = true;
                }
                self.charge_heavy(t0);
            }
        }
        self.heavy_scratch = heavy;
        self.to_read = to_read;
        self.stream_events = events;
        self.readable = readable;
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(Some(slot)) = self.slots.get_mut(id) {
                if slot.scheduled == Some(at) {
                    slot.scheduled = None;
                }
                if slot.conn.poll_timeout().is_some_and(|d| d <= now) {
                    slot.conn.handle_timeout(now);
                    progressed = true;
                }
                // Due or moved later (progress deadlines follow the bytes):
                // either way the next deadline is scheduled by the dirty pass.
                self.mark_dirty(id);
            }
        }
        self.reap_idle(now);
        // Streams closed while reading are reported on the next poll.
        let dirty = std::mem::take(&mut self.dirty);
        let mut still_blocked = Vec::new();
        let retry_blocked = !self.transport.wakes_when_writable();
        for &id in &dirty {
            if let Some(Some(slot)) = self.slots.get_mut(id) {
                slot.dirty = false;
            }
            let t0 = self.heavy_clock(id);
            self.flush(id, now);
            progressed |= self.drain_events(id, now, out);
            self.flush(id, now);
            self.charge_heavy(t0);
            self.account(id);
            if let Some(Some(slot)) = self.slots.get_mut(id) {
                if let Some(at) = slot.conn.poll_timeout() {
                    if slot.scheduled.is_none_or(|s| at < s) {
                        slot.scheduled = Some(at);
                        self.timers.push(Reverse((at, id)));
                    }
                }
                // Bytes the transport could not take yet: retry next pass,
                // on transports that do not report a stream writable again
                // (the others report it readable then; a peer held for not
                // reading is retried on its events and the parked cadence).
                if retry_blocked
                    && slot.conn.has_tx_pending()
                    && slot.stream.is_some()
                    && !slot.conn.replies_held()
                {
                    still_blocked.push(id);
                }
            }
        }
        for id in still_blocked {
            self.mark_dirty(id);
        }
        let mut reuse = dirty;
        reuse.clear();
        if self.dirty.is_empty() {
            self.dirty = reuse;
        }
        progressed
    }

    /// Reads what `stream`'s connection has room for, within its share of
    /// the pass and the memory budgets; returns true if anything moved.
    fn service_read(&mut self, stream: StreamId, now: Instant) -> bool {
        let Some(&id) = self.by_stream.get(&stream) else {
            return false;
        };
        let limits = self.limits;
        let guard = Arc::clone(&self.guard);
        let Some(Some(slot)) = self.slots.get_mut(id) else {
            return false;
        };
        let mut progressed = false;
        let mut unread = false;
        let mut parked = false;
        let mut dirty = true;
        let mut interactive = false;
        let conn = &mut slot.conn;
        if conn.has_backlog() {
            // Frames left from an earlier pass come before new bytes.
            conn.handle_input(&[], now);
            progressed = true;
        }
        let held = conn.buffered_bytes();
        if !conn.is_live() {
            // Its Closed event is handled by the dirty pass.
        } else if conn.replies_held() {
            // The peer does not read its replies: it is not read either
            // (its drain deadline closes it if it never does).
            if !slot.held {
                slot.held = true;
                guard.count("read_held_for_replies");
            }
            parked = true;
        } else if !conn.wants_input() {
            // Frames left over from this pass's share: next pass.
            unread = true;
            slot.heavy = true;
        } else if held >= limits.conn_memory_budget || (guard.over() && held > limits.budget_floor)
        {
            let budget = if held >= limits.conn_memory_budget {
                limits.conn_memory_budget
            } else {
                guard.budget()
            };
            if !slot.paused {
                slot.paused = true;
                guard.count("read_paused");
                conn.set_input_paused(true, now);
            }
            let since = *slot.pressured_since.get_or_insert(now);
            let waited = now.saturating_duration_since(since);
            if waited >= limits.budget_timeout {
                conn.abort(
                    crate::proto::ConnError::OverBudget {
                        held,
                        budget,
                        waited,
                    },
                    now,
                );
            } else {
                parked = true;
                dirty = false;
            }
        } else {
            slot.held = false;
            if std::mem::take(&mut slot.paused) {
                conn.set_input_paused(false, now);
            }
            if held <= limits.budget_floor {
                slot.pressured_since = None;
            }
            let mut left = limits.read_bytes_per_pass;
            let n = self
                .transport
                .read_at_most(stream, left, &mut |bytes| {
                    conn.handle_input(bytes, now);
                    left = left.saturating_sub(bytes.len());
                    bytes.len()
                })
                .unwrap_or(0);
            self.stats.rx_bytes += n as u64;
            self.stats.rx_buffered_bytes += conn.take_rx_buffered();
            if n > 0 {
                progressed = true;
                slot.last_active = now;
                // A small read by a light stream: a latency-bound peer
                // (request, wait, request) is active.
                interactive = !slot.heavy && n <= INTERACTIVE_BYTES;
            }
            // A share used up, or input stopped mid-read: more may wait.
            unread = left == 0 || !conn.wants_input();
            slot.heavy = unread;
        }
        if unread {
            self.unread.push(stream);
        }
        if interactive {
            self.light_active_at = Some(now);
        }
        if parked {
            // Looked at cheaply on the parked cadence, not as a heavy turn.
            slot.heavy = false;
            self.parked.push(stream);
        }
        // Readable also means "writable again" for edge-triggered transports.
        if dirty || progressed {
            self.mark_dirty(id);
        }
        self.account(id);
        progressed
    }

    /// Refills heavy connections' time credit (their share of the time
    /// since the last pass) and says whether it is spent while light
    /// connections are active. Without light activity heavy ones run
    /// unmetered (a bulk load alone gets the whole reactor).
    fn heavy_time_spent(&mut self, now: Instant) -> bool {
        let share = i64::from(self.limits.heavy_share_percent.min(100));
        let elapsed = now.saturating_duration_since(self.heavy_refill_at);
        self.heavy_refill_at = now;
        let refill = i64::try_from(elapsed.as_nanos())
            .unwrap_or(i64::MAX)
            .saturating_mul(share)
            / 100;
        self.heavy_credit_ns = self
            .heavy_credit_ns
            .saturating_add(refill)
            .min(HEAVY_CREDIT_MAX_NS);
        let light_active = self
            .light_active_at
            .is_some_and(|t| now.saturating_duration_since(t) < LIGHT_RECENT);
        share < 100 && light_active && self.heavy_credit_ns <= 0
    }

    /// A start time if connection `id` is heavy: its replies and events
    /// are charged to the heavy share like its reads (a request flood's
    /// cost is mostly in answering it). `reactor::run` charges the app's
    /// work on its events the same way, with [`Driver::charge_heavy`].
    pub(super) fn heavy_clock(&self, id: ConnId) -> Option<Instant> {
        matches!(self.slots.get(id), Some(Some(s)) if s.heavy).then(Instant::now)
    }

    /// Charges the time since `t0` (from [`Driver::heavy_clock`]) to the
    /// heavy share.
    pub(super) fn charge_heavy(&mut self, t0: Option<Instant>) {
        if let Some(t0) = t0 {
            let spent = i64::try_from(t0.elapsed().as_nanos()).unwrap_or(i64::MAX);
            self.heavy_credit_ns = self.heavy_credit_ns.saturating_sub(spent);
        }
    }

    /// True if `stream` used its whole share when last read.
    fn is_heavy(&self, stream: StreamId) -> bool {
        self.by_stream
            .get(&stream)
            .and_then(|&id| self.slots.get(id))
            .and_then(Option::as_ref)
            .is_some_and(|s| s.heavy)
    }

    /// Brings connection `id`'s share of the process budget up to date.
    fn account(&mut self, id: ConnId) {
        if let Some(Some(slot)) = self.slots.get_mut(id) {
            let now_held = slot.conn.buffered_bytes();
            self.guard.reaccount(slot.accounted, now_held);
            slot.accounted = now_held;
        }
    }

    /// Closes connections idle past `idle_timeout`; scans at most once a
    /// second, so its cost stays off the per-packet path.
    fn reap_idle(&mut self, now: Instant) {
        let Some(idle) = self.limits.idle_timeout else {
            return;
        };
        if self.next_reap.is_some_and(|t| now < t) {
            return;
        }
        self.next_reap = Some(now + Duration::from_secs(1).min(idle));
        for id in 0..self.slots.len() {
            let Some(Some(slot)) = self.slots.get_mut(id) else {
                continue;
            };
            if slot.stream.is_some() && now.saturating_duration_since(slot.last_active) >= idle {
                let reason = format!("idle for {idle:?}");
                if let Some(s) = slot.stream.take() {
                    self.by_stream.remove(&s);
                    self.transport.close(s);
                }
                slot.conn.handle_transport_closed(&reason, now);
                self.mark_dirty(id);
            }
        }
    }

    fn handle_stream_event(&mut self, ev: StreamEvent, now: Instant) {
        match ev {
            StreamEvent::Accepted {
                stream,
                local,
                peer,
            } => {
                let Some(index) = self.listeners.iter().position(|l| l.bound == local) else {
                    self.transport.close(stream);
                    return;
                };
                if self.live >= self.limits.max_conns {
                    self.refused += 1;
                    self.guard.record(
                        "refused_max_conns",
                        Some(peer),
                        format_args!(
                            "refused on {local}: {} connections, the cap",
                            self.limits.max_conns
                        ),
                    );
                    self.transport.close(stream);
                    return;
                }
                let conn = (self.listeners[index].accept)(peer, now);
                let mut slot = Slot::new(conn, stream, now);
                slot.listener = Some(index);
                let id = self.insert(slot);
                self.by_stream.insert(stream, id);
            }
            StreamEvent::AcceptFailed { local, error } => {
                self.guard.record(
                    "accept_failed",
                    None,
                    format_args!("accept on {local} failed: {error}; retrying as descriptors free"),
                );
            }
            StreamEvent::Connected(_) => {}
            StreamEvent::Closed { stream, reason } => {
                if let Some(id) = self.by_stream.remove(&stream) {
                    if let Some(Some(slot)) = self.slots.get_mut(id) {
                        slot.stream = None;
                        slot.conn.handle_transport_closed(&reason, now);
                    }
                    self.mark_dirty(id);
                }
            }
        }
    }

    /// True if a connection we dialed to one of `peer_addrs` has not reached
    /// READY (a connect race). Scans the connections: session requests are rare.
    fn dialing(&self, peer_addrs: &crate::wire::addr::EntityAddrVec) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|s| !s.conn.is_ready() && s.conn.target().is_some_and(|t| peer_addrs.contains(t)))
    }

    /// Parks the sessions of the lossless accepted connections that faulted
    /// during the previous poll (see `closing`) and frees their slots.
    fn park_closing(&mut self) {
        for id in std::mem::take(&mut self.closing) {
            let Some(Some(slot)) = self.slots.get_mut(id) else {
                continue;
            };
            // The caller may have marked it down meanwhile: nothing to keep.
            if !slot.conn.is_closed() {
                let addrs = slot
                    .conn
                    .established()
                    .map(|e| e.peer_addrs.clone())
                    .unwrap_or_default();
                let session = slot.conn.take_session();
                if let Some(l) = slot.listener.and_then(|i| self.listeners.get_mut(i)) {
                    l.sessions.park(&addrs, session);
                }
            }
            // Its bytes leave the process's shared memory budget with it.
            self.guard.reaccount(slot.accounted, 0);
            self.slots[id] = None;
            self.live -= 1;
            self.free.push(id);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    fn flush(&mut self, id: ConnId, now: Instant) {
        let Some(Some(slot)) = self.slots.get_mut(id) else {
            return;
        };
        let Some(stream) = slot.stream else {
            return;
        };
        write_pending(&mut self.transport, slot, stream, now);
        // After the writes: a secure chunk that did not fit the transport's
        // free space was sealed in the connection's buffer, a copy counted then.
        let (payload, copied) = slot.conn.take_tx_copies();
        self.stats.tx_payload_bytes += payload;
        self.stats.tx_copied_bytes += copied;
    }

    /// Handles connection events the driver owns; returns true if any event fired.
    fn drain_events(&mut self, id: ConnId, now: Instant, out: &mut Vec<(ConnId, Event)>) -> bool {
        let mut any = false;
        loop {
            let Some(Some(slot)) = self.slots.get_mut(id) else {
                return any;
            };
            let Some(event) = slot.conn.poll_event() else {
                return any;
            };
            any = true;
            match event {
                Event::SessionRequest(req) => {
                    // A connect race: are we dialing this peer ourselves?
                    let i_am_server = slot.conn.policy().server;
                    let outgoing = if self.dialing(req.peer_addrs()) {
                        Outgoing::Connecting
                    } else {
                        Outgoing::None
                    };
                    let Some(Some(slot)) = self.slots.get_mut(id) else {
                        return any;
                    };
                    let decision = match slot.listener.and_then(|i| self.listeners.get_mut(i)) {
                        Some(l) => l.sessions.decide(&req, &l.my_addr, outgoing, i_am_server),
                        None => SessionDecision::NewSession,
                    };
                    if let Some(unapplied) = slot.conn.decide_session(decision) {
                        if let Some(l) = slot.listener.and_then(|i| self.listeners.get_mut(i)) {
                            l.sessions.park(req.peer_addrs(), *unapplied);
                        }
                    }
                }
                Event::Closed { error, reconnect } => {
                    if slot.listener.is_some() {
                        let stack = slot
                            .stream
                            .filter(|_| error.is_stall())
                            .and_then(|s| self.transport.describe(s))
                            .map(|d| format!("; {d}"))
                            .unwrap_or_default();
                        self.guard.record(
                            error.reason(),
                            slot.conn.peer_socket(),
                            format_args!("{error}{stack}"),
                        );
                    } else {
                        self.guard.count(error.reason());
                    }
                    if let Some(s) = slot.stream.take() {
                        self.by_stream.remove(&s);
                        self.transport.close(s);
                    }
                    let park = !reconnect
                        && !slot.conn.is_connector()
                        && !slot.conn.is_closed()
                        && slot.conn.established().is_some_and(|e| !e.lossy);
                    if park {
                        // Parked by the next poll, after the caller has
                        // handled this pass's messages (see `closing`).
                        self.closing.push(id);
                    } else if !reconnect {
                        if let Some(l) = slot.listener.and_then(|i| self.listeners.get(i)) {
                            self.departed.insert(id, l.bound);
                        }
                        self.guard.reaccount(slot.accounted, 0);
                        self.slots[id] = None;
                        self.live -= 1;
                        self.free.push(id);
                    }
                    out.push((id, Event::Closed { error, reconnect }));
                }
                Event::ReconnectDue => {
                    let Some(target) = slot.target else {
                        continue;
                    };
                    slot.conn.reconnect(now);
                    match self.transport.connect(target) {
                        Ok(stream) => {
                            slot.stream = Some(stream);
                            self.by_stream.insert(stream, id);
                        }
                        Err(e) => slot.conn.handle_transport_closed(&e.to_string(), now),
                    }
                    out.push((id, Event::ReconnectDue));
                }
                other => out.push((id, other)),
            }
        }
    }
}

/// The msgr2 driver over kernel TCP.
pub type KernelDriver = Driver<KernelTransport>;

impl Driver<KernelTransport> {
    /// A driver over kernel TCP.
    pub fn new() -> io::Result<Self> {
        Ok(Self::with_transport(KernelTransport::new()?))
    }
}

/// Writes `slot`'s pending bytes to `stream` until they are all taken or the
/// transport takes no more: into the transport's send buffer when the
/// connection seals there (set from [`Transport::writes_in_place`] when the
/// slot was inserted), else in vectored writes (one `writev` on kernel TCP:
/// a crc message with a lent payload is three chunks).
fn write_pending<T: Transport>(transport: &mut T, slot: &mut Slot, stream: StreamId, now: Instant) {
    let in_place = slot.conn.seals_in_transport();
    while slot.conn.has_tx_pending() {
        let written = if in_place {
            let conn = &mut slot.conn;
            transport.write_into(stream, &mut |window| conn.tx_fill(window, now))
        } else {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let filled = slot.conn.tx_pending_slices(&mut iov);
            if filled == 0 {
                return;
            }
            let written = transport.write_vectored(stream, &iov[..filled]);
            if let Ok(n) = written {
                slot.conn.tx_consumed_at(n, now);
            }
            written
        };
        let Ok(written) = written else {
            return; // reported as Closed by the next poll
        };
        if written == 0 {
            slot.conn.note_tx_blocked(now);
            return;
        }
        slot.last_active = now;
    }
}
