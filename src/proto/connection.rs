//! The sans-IO msgr2 connection (msgr2 reference sections 2, 7 and 9).
//!
//! # Call order
//! 1. Build with [`Connection::connect`] or [`Connection::accept`] when the
//!    transport opens; the banner is queued at once.
//! 2. Feed every received byte to [`Connection::handle_input`]; write out
//!    [`Connection::tx_pending`] and report it with [`Connection::tx_consumed`].
//! 3. Drain [`Connection::poll_event`] after each input or timeout.
//! 4. Call [`Connection::handle_timeout`] at [`Connection::poll_timeout`].
//! 5. An acceptor answers [`Event::SessionRequest`] with
//!    [`Connection::decide_session`].
//! 6. After [`Event::Closed`] with `reconnect: true`, wait for
//!    [`Event::ReconnectDue`], open a new transport and call
//!    [`Connection::reconnect`]. If the transport dies, call
//!    [`Connection::handle_transport_closed`].
//!
//! Nothing here touches a socket or a clock: time comes in as `now`, and
//! randomness (cookies) from the injected source.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::config::{ConnectionConfig, Policies, Policy};
use super::error::ConnError;
use super::frame::{FrameDecoder, FrameEncoder};
use super::message::Message;
use super::session::Session;
use super::tx::TxChain;
use crate::auth::{AuthClient, AuthOutcome, AuthServer};
use crate::wire::addr::{EntityAddr, EntityAddrVec};
use crate::wire::banner::{self, BannerRepr};
use crate::wire::control::Keepalive2Frame;
use crate::wire::entity::{EntityName, EntityType};
use crate::wire::utime::UTime;
use crate::wire::{ConMode, Revision, Tag};

/// Replies queued while the transport takes none of them (the peer's
/// receive window is full: it is not reading) above which input is held,
/// as TCP flow control would: a peer that does not read is not read.
const HOLD_WHEN_BLOCKED: usize = 64 << 10;
/// ... once the transport has refused them this long (a full send ring for
/// a moment, as bulk transfers over smoltcp see all the time, is not it).
const HOLD_AFTER_BLOCKED: Duration = Duration::from_millis(50);

/// Receive buffer capacity kept between frames; more is released once parsed.
const RX_KEEP_CAPACITY: usize = 1 << 20;

/// What the connection tells its driver.
#[derive(Debug)]
pub enum Event {
    /// The handshake finished: messages flow.
    Established(Established),
    /// A message arrived, in order, exactly once.
    Message(Message),
    /// The peer answered our KEEPALIVE2 with this stamp.
    KeepaliveAck {
        /// The stamp we sent.
        stamp: UTime,
    },
    /// Acceptor only: the peer asks for a session; answer with `decide_session`.
    SessionRequest(SessionRequest),
    /// The peer reset our session (full): queued messages were dropped.
    RemoteReset,
    /// The transport must be closed. With `reconnect`, the session lives on
    /// and a [`Event::ReconnectDue`] follows after backoff.
    Closed {
        /// Why.
        error: ConnError,
        /// True if the session will reconnect (lossless connector).
        reconnect: bool,
    },
    /// Time to open a new transport and call [`Connection::reconnect`].
    ReconnectDue,
}

/// Facts about an established session.
#[derive(Debug, Clone)]
pub struct Established {
    /// The peer's name: its HELLO type and IDENT gid.
    pub peer_name: EntityName,
    /// The peer's addresses from its IDENT frame.
    pub peer_addrs: EntityAddrVec,
    /// The negotiated connection mode.
    pub mode: ConMode,
    /// The frame revision in use.
    pub revision: Revision,
    /// Ceph features both sides support.
    pub features: u64,
    /// True if the session is lossy.
    pub lossy: bool,
    /// The global id authentication yielded.
    pub global_id: u64,
    /// True if this resumed an existing session (SESSION_RECONNECT).
    pub reconnected: bool,
    /// Accepting side: the peer's authenticated entity and caps for our
    /// service (cephx); `None` for auth none and on the connecting side.
    pub peer_auth: Option<crate::auth::PeerAuth>,
}

/// An acceptor's question to the messenger: which session does this peer get?
#[derive(Debug, Clone)]
pub enum SessionRequest {
    /// CLIENT_IDENT: the peer wants a (new) session.
    Ident {
        /// The peer's name (HELLO type, IDENT gid).
        peer_name: EntityName,
        /// The peer's addresses.
        peer_addrs: EntityAddrVec,
        /// The peer's global seq.
        global_seq: u64,
        /// The peer's client cookie.
        client_cookie: u64,
    },
    /// SESSION_RECONNECT: the peer wants to resume a session.
    Reconnect {
        /// The peer's name (HELLO type, gid unknown).
        peer_type: EntityType,
        /// The peer's addresses.
        peer_addrs: EntityAddrVec,
        /// The peer's client cookie.
        client_cookie: u64,
        /// Our cookie as the peer remembers it.
        server_cookie: u64,
        /// The peer's global seq.
        global_seq: u64,
        /// The peer's connect seq.
        connect_seq: u64,
        /// The last seq the peer received from us.
        msg_seq: u64,
    },
}

impl SessionRequest {
    /// The peer's addresses, the key of its session.
    pub fn peer_addrs(&self) -> &EntityAddrVec {
        match self {
            SessionRequest::Ident { peer_addrs, .. }
            | SessionRequest::Reconnect { peer_addrs, .. } => peer_addrs,
        }
    }
}

/// The messenger's answer to a [`SessionRequest`] (reference section 9).
#[derive(Debug)]
pub enum SessionDecision {
    /// Start a fresh session (CLIENT_IDENT only).
    NewSession,
    /// Move this existing session onto the new transport.
    Adopt(Box<Session>),
    /// SESSION_RESET: the client must start over with CLIENT_IDENT.
    Reset {
        /// Full reset (drop queues) or just the cookies and seqs.
        full: bool,
    },
    /// SESSION_RETRY with our connect seq.
    Retry {
        /// Our current connect seq.
        connect_seq: u64,
    },
    /// SESSION_RETRY_GLOBAL with the peer global seq we already saw.
    RetryGlobal {
        /// The peer global seq we hold.
        global_seq: u64,
    },
    /// WAIT: our own connection to the peer is about to win a race.
    Wait,
    /// Close this transport (stale connection).
    Close,
}

/// Where the connection is, named for what it expects next (style card 4).
#[derive(Debug)]
pub(super) enum State {
    ExpectBanner,
    ExpectHello,
    ExpectAuthReply,
    ExpectAuthRequest,
    ExpectAuthRequestMore {
        mode: ConMode,
    },
    ExpectAuthSignature,
    ExpectServerIdent,
    ExpectReconnectReply,
    ExpectIdentOrReconnect,
    AwaitSessionDecision {
        request: SessionRequest,
    },
    Ready,
    /// Transport gone; a lossless connector waits for backoff (or a message, in standby).
    Faulted {
        reconnect_at: Option<Instant>,
    },
    /// Final.
    Closed,
}

impl State {
    pub(super) fn name(&self) -> &'static str {
        match self {
            State::ExpectBanner => "expecting the banner",
            State::ExpectHello => "expecting HELLO",
            State::ExpectAuthReply => "expecting an auth reply",
            State::ExpectAuthRequest => "expecting AUTH_REQUEST",
            State::ExpectAuthRequestMore { .. } => "expecting AUTH_REQUEST_MORE",
            State::ExpectAuthSignature => "expecting AUTH_SIGNATURE",
            State::ExpectServerIdent => "expecting SERVER_IDENT",
            State::ExpectReconnectReply => "expecting a reconnect reply",
            State::ExpectIdentOrReconnect => "expecting CLIENT_IDENT or SESSION_RECONNECT",
            State::AwaitSessionDecision { .. } => "awaiting a session decision",
            State::Ready => "ready",
            State::Faulted { .. } => "faulted",
            State::Closed => "closed",
        }
    }
}

/// The role-specific pieces.
pub(super) enum Side {
    Connector {
        target: EntityAddr,
        peer_type: EntityType,
        policy: Policy,
        auth: Box<dyn AuthClient>,
        offered_modes: Vec<ConMode>,
    },
    Acceptor {
        peer_socket: std::net::SocketAddr,
        policies: Policies,
        auth: Box<dyn AuthServer>,
        policy: Policy,
    },
}

/// Per-transport state, rebuilt on every reconnect.
pub(super) struct Transport {
    pub(super) state: State,
    pub(super) rx: Vec<u8>,
    pub(super) rx_pos: usize,
    pub(super) tx: TxChain,
    pub(super) encoder: Option<FrameEncoder>,
    pub(super) decoder: Option<FrameDecoder>,
    pub(super) revision: Revision,
    /// Pre-auth transcripts, recorded until AUTH_DONE (reference 7.3).
    pub(super) rx_log: Option<Vec<u8>>,
    pub(super) tx_log: Option<Vec<u8>>,
    /// The TX transcript the peer's AUTH_SIGNATURE must match.
    pub(super) signed_tx: Option<Vec<u8>>,
    pub(super) handshake_deadline: Option<Instant>,
    pub(super) auth: Option<AuthOutcome>,
    pub(super) mode: ConMode,
    pub(super) peer_type: Option<EntityType>,
    pub(super) peer_features: u64,
    pub(super) peer_name: Option<EntityName>,
    pub(super) peer_addrs: EntityAddrVec,
    /// Received bytes were left unparsed: the per-call frame cap was reached,
    /// or replies are over the back-pressure bound.
    pub(super) backlog: bool,
    /// When a byte last arrived (the frame-progress deadline counts from it).
    pub(super) last_rx: Instant,
    /// When a byte last moved either way (the idle deadline counts from it).
    pub(super) last_activity: Instant,
    /// Since when the transport has taken none of our pending bytes.
    pub(super) tx_blocked_since: Option<Instant>,
    /// The last time the transport was found blocked.
    pub(super) tx_blocked_seen: Instant,
    /// The driver stopped reading us (memory budget): the frame-progress
    /// deadline does not run, the driver's own budget deadline does.
    pub(super) input_paused: bool,
}

impl Transport {
    fn new(now: Instant, deadline: Instant) -> Self {
        Transport {
            state: State::ExpectBanner,
            rx: Vec::new(),
            rx_pos: 0,
            tx: TxChain::default(),
            encoder: None,
            decoder: None,
            revision: Revision::V2_1,
            rx_log: Some(Vec::new()),
            tx_log: Some(Vec::new()),
            signed_tx: None,
            handshake_deadline: Some(deadline),
            auth: None,
            mode: ConMode::Crc,
            peer_type: None,
            peer_features: 0,
            peer_name: None,
            peer_addrs: EntityAddrVec(Vec::new()),
            backlog: false,
            last_rx: now,
            last_activity: now,
            tx_blocked_since: None,
            tx_blocked_seen: now,
            input_paused: false,
        }
    }
}

/// One msgr2 connection and the session it carries.
pub struct Connection {
    pub(super) config: ConnectionConfig,
    pub(super) side: Side,
    pub(super) rng: Box<dyn RngCore + Send>,
    pub(super) session: Session,
    pub(super) t: Transport,
    pub(super) events: VecDeque<Event>,
    pub(super) backoff: Duration,
    pub(super) established: Option<Established>,
    pub(super) global_seq: u64,
    /// Set after WAIT: the next reconnect uses the longest backoff.
    pub(super) waited: bool,
    /// A ReconnectDue was emitted and `reconnect` has not been called yet.
    pub(super) wake_sent: bool,
    /// The latest `now` we were given, for work triggered without one.
    pub(super) last_now: Instant,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.t.state.name())
            .field("in_seq", &self.session.in_seq)
            .field("out_seq", &self.session.out_seq)
            .finish()
    }
}

impl Connection {
    /// A connector on a freshly opened transport; queues our banner.
    pub fn connect(
        config: ConnectionConfig,
        target: EntityAddr,
        peer_type: EntityType,
        policy: Policy,
        auth: Box<dyn AuthClient>,
        rng: Box<dyn RngCore + Send>,
        now: Instant,
    ) -> Self {
        let offered_modes = auth.method_and_modes().1;
        let side = Side::Connector {
            target,
            peer_type,
            policy,
            auth,
            offered_modes,
        };
        Self::new(config, side, rng, now)
    }

    /// An acceptor on a freshly accepted transport; queues our banner.
    pub fn accept(
        config: ConnectionConfig,
        peer_socket: std::net::SocketAddr,
        policies: Policies,
        auth: Box<dyn AuthServer>,
        rng: Box<dyn RngCore + Send>,
        now: Instant,
    ) -> Self {
        let policy = policies.default;
        let side = Side::Acceptor {
            peer_socket,
            policies,
            auth,
            policy,
        };
        Self::new(config, side, rng, now)
    }

    fn new(
        config: ConnectionConfig,
        side: Side,
        mut rng: Box<dyn RngCore + Send>,
        now: Instant,
    ) -> Self {
        let mut session = Session::default();
        if let Side::Connector { policy, .. } = &side {
            session.lossy = policy.lossy;
            session.client_cookie = if policy.lossy {
                0
            } else {
                nonzero(rng.as_mut())
            };
        }
        let mut conn = Connection {
            backoff: config.initial_backoff,
            global_seq: config.global_seq,
            t: Transport::new(now, now + config.handshake_timeout),
            config,
            side,
            rng,
            session,
            events: VecDeque::new(),
            established: None,
            waited: false,
            wake_sent: false,
            last_now: now,
        };
        conn.start_transport(now);
        conn
    }

    fn start_transport(&mut self, now: Instant) {
        self.t = Transport::new(now, now + self.config.handshake_timeout);
        let banner = BannerRepr {
            supported: self.config.msgr2_supported,
            required: self.config.msgr2_required,
        };
        let mut bytes = Vec::with_capacity(banner::BANNER_LEN);
        banner.emit(&mut bytes);
        self.queue_raw(&bytes);
    }

    /// The address a connector dialed (None for an acceptor).
    pub fn target(&self) -> Option<&EntityAddr> {
        match &self.side {
            Side::Connector { target, .. } => Some(target),
            Side::Acceptor { .. } => None,
        }
    }

    /// The policy in force: the connector's own, or the acceptor's for the
    /// peer's type (chosen at HELLO).
    pub fn policy(&self) -> Policy {
        match &self.side {
            Side::Connector { policy, .. } | Side::Acceptor { policy, .. } => *policy,
        }
    }

    /// True for the side that dialed.
    pub fn is_connector(&self) -> bool {
        matches!(self.side, Side::Connector { .. })
    }

    /// The session (seqs, queues) this connection carries.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Takes the session out (to hand it to a newer transport of the same
    /// peer); this connection is closed afterwards.
    pub fn take_session(&mut self) -> Session {
        self.set_state(State::Closed);
        std::mem::take(&mut self.session)
    }

    /// The established facts, once READY has been reached.
    pub fn established(&self) -> Option<&Established> {
        self.established.as_ref()
    }

    /// True when messages flow.
    pub fn is_ready(&self) -> bool {
        matches!(self.t.state, State::Ready)
    }

    /// True once the connection is finished for good.
    pub fn is_closed(&self) -> bool {
        matches!(self.t.state, State::Closed)
    }

    /// A short name of the current state, for logs and tests.
    pub fn state_name(&self) -> &'static str {
        self.t.state.name()
    }

    /// Bytes waiting to be written to the transport.
    pub fn tx_pending(&self) -> &[u8] {
        self.t.tx.pending()
    }

    /// Reports that the first `n` bytes of [`Connection::tx_pending`] were written.
    pub fn tx_consumed(&mut self, n: usize) {
        let now = self.last_now;
        self.tx_consumed_at(n, now);
    }

    /// [`Connection::tx_consumed`] at time `now`: the drain and idle
    /// deadlines count from the last write that took bytes.
    pub fn tx_consumed_at(&mut self, n: usize, now: Instant) {
        self.t.tx.consumed(n);
        if n > 0 {
            self.t.tx_blocked_since = None;
            self.t.last_activity = now;
        }
    }

    /// The transport took none of [`Connection::tx_pending`] at `now` (its
    /// send buffer is full: the peer is not reading). Starts the drain deadline.
    pub fn note_tx_blocked(&mut self, now: Instant) {
        if !self.t.tx.pending().is_empty() && self.t.tx_blocked_since.is_none() {
            self.t.tx_blocked_since = Some(now);
        }
        self.t.tx_blocked_seen = now;
    }

    /// True while the connection takes new input: it is live, has no
    /// unparsed backlog, and its replies are under the back-pressure bound
    /// (a peer that does not read its replies is not read either).
    pub fn wants_input(&self) -> bool {
        !matches!(self.t.state, State::Closed | State::Faulted { .. })
            && !self.t.backlog
            && self.t.tx.len() < self.config.max_pending_bytes
    }

    /// True if received bytes wait to be parsed and parsing can go on now
    /// (call [`Connection::handle_input`] with no new bytes to continue).
    pub fn has_backlog(&self) -> bool {
        self.t.backlog && self.is_live() && !self.replies_held()
    }

    /// True while input waits because the replies queued for the peer are
    /// over the back-pressure bound (the peer is not reading them).
    pub fn replies_held(&self) -> bool {
        self.is_ready()
            && (self.t.tx.len() >= self.config.max_pending_bytes
                || (self.tx_blocked_for() >= HOLD_AFTER_BLOCKED
                    && self.t.tx.len() >= HOLD_WHEN_BLOCKED))
    }

    /// How long the transport has taken none of our pending bytes, as of
    /// the last attempt ([`Connection::note_tx_blocked`]); zero if it is not blocked.
    pub fn tx_blocked_for(&self) -> Duration {
        self.t.tx_blocked_since.map_or(Duration::ZERO, |since| {
            self.t.tx_blocked_seen.saturating_duration_since(since)
        })
    }

    /// True while a transport is open (neither faulted nor closed).
    pub fn is_live(&self) -> bool {
        !matches!(self.t.state, State::Closed | State::Faulted { .. })
    }

    /// Bytes this connection holds for its current transport: received and
    /// not yet parsed (including a partial frame), segments of the frame
    /// being received, pre-auth transcripts, and bytes queued to send.
    pub fn buffered_bytes(&self) -> usize {
        let t = &self.t;
        let logs = t.rx_log.as_ref().map_or(0, Vec::len) + t.tx_log.as_ref().map_or(0, Vec::len);
        (t.rx.len() - t.rx_pos)
            + t.decoder.as_ref().map_or(0, FrameDecoder::buffered_len)
            + logs
            + t.tx.len()
    }

    /// The driver stops (`true`) or resumes reading this connection for a
    /// memory budget. While paused, the frame-progress deadline is held.
    pub fn set_input_paused(&mut self, paused: bool, now: Instant) {
        if self.t.input_paused && !paused {
            self.t.last_rx = now;
        }
        self.t.input_paused = paused;
    }

    /// Closes the current transport with `error` (decided by the driver,
    /// e.g. [`ConnError::OverBudget`]); a lossless session survives as
    /// after any fault.
    pub fn abort(&mut self, error: ConnError, now: Instant) {
        self.last_now = now;
        if matches!(self.t.state, State::Closed | State::Faulted { .. }) {
            return;
        }
        self.fault(error, now);
    }

    /// The peer's socket address: the one we accepted from, or dialed.
    pub fn peer_socket(&self) -> Option<std::net::SocketAddr> {
        match &self.side {
            Side::Acceptor { peer_socket, .. } => Some(*peer_socket),
            Side::Connector { target, .. } => target.addr,
        }
    }

    /// True while part of a frame (or banner) has arrived and the rest has not.
    fn mid_frame(&self) -> bool {
        self.t.rx.len() > self.t.rx_pos
            || self
                .t
                .decoder
                .as_ref()
                .is_some_and(|d| !d.at_frame_boundary())
    }

    /// The earliest progress deadline and the error it fires with.
    fn progress_deadline(&self) -> Option<(Instant, ConnError)> {
        if matches!(self.t.state, State::Closed | State::Faulted { .. }) {
            return None;
        }
        let mut best: Option<(Instant, ConnError)> = None;
        let mut consider = |at: Instant, err: ConnError| {
            if best.as_ref().is_none_or(|(b, _)| at < *b) {
                best = Some((at, err));
            }
        };
        if let Some(w) = self.config.frame_timeout {
            if !self.t.input_paused && !self.t.backlog && self.mid_frame() {
                let declared_rest = self
                    .t
                    .decoder
                    .as_ref()
                    .map_or(0, FrameDecoder::frame_rest_len);
                consider(
                    self.t.last_rx + w,
                    ConnError::FrameStalled {
                        waited: w,
                        declared_rest,
                    },
                );
            }
        }
        if let (Some(w), Some(since)) = (self.config.drain_timeout, self.t.tx_blocked_since) {
            if !self.t.tx.pending().is_empty() {
                consider(
                    since + w,
                    ConnError::PeerNotDraining {
                        waited: w,
                        pending: self.t.tx.len(),
                    },
                );
            }
        }
        if let Some(w) = self.config.idle_timeout {
            if self.is_ready() {
                consider(self.t.last_activity + w, ConnError::Idle(w));
            }
        }
        best
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.t.state {
            State::Faulted { reconnect_at } => reconnect_at,
            State::Closed => None,
            _ => {
                let progress = self.progress_deadline().map(|(at, _)| at);
                match (self.t.handshake_deadline, progress) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// Handles the deadline from [`Connection::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        match self.t.state {
            State::Faulted {
                reconnect_at: Some(at),
            } if now >= at => {
                self.t.state = State::Faulted { reconnect_at: None };
                self.wake_sent = true;
                self.events.push_back(Event::ReconnectDue);
            }
            State::Faulted { .. } | State::Closed => {}
            _ => {
                if self.t.handshake_deadline.is_some_and(|d| now >= d) {
                    let err = ConnError::HandshakeTimeout(self.config.handshake_timeout);
                    self.fault(err, now);
                } else if let Some((at, err)) = self.progress_deadline() {
                    if now >= at {
                        self.fault(err, now);
                    }
                }
            }
        }
    }

    /// Feeds bytes received from the transport.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        self.last_now = now;
        if matches!(self.t.state, State::Closed | State::Faulted { .. }) {
            return;
        }
        if !data.is_empty() {
            self.t.last_rx = now;
            self.t.last_activity = now;
        }
        if let Some(log) = self.t.rx_log.as_ref() {
            // The pre-auth cap counts bytes as they arrive, not as frames complete.
            let held = log.len() + (self.t.rx.len() - self.t.rx_pos) + data.len();
            if held > self.config.max_pre_auth_bytes {
                let limit = self.config.max_pre_auth_bytes;
                self.fault(ConnError::PreAuthTooLarge { limit }, now);
                return;
            }
        }
        self.t.rx.extend_from_slice(data);
        if let Err(e) = self.process_input() {
            self.fault(e, now);
            return;
        }
        // Compact the receive buffer: at once when everything was parsed,
        // else once the parsed prefix is half of it (a backlog parsed a few
        // frames per call is not moved on every call).
        if self.t.rx_pos > 0
            && (self.t.rx_pos == self.t.rx.len() || self.t.rx_pos * 2 >= self.t.rx.len())
        {
            self.t.rx.drain(..self.t.rx_pos);
            self.t.rx_pos = 0;
        }
        // A large frame grew the buffer; once it is parsed, give the memory
        // back instead of holding the peak for the connection's lifetime.
        if self.t.rx.capacity() > RX_KEEP_CAPACITY && self.t.rx.len() < RX_KEEP_CAPACITY {
            self.t.rx.shrink_to(RX_KEEP_CAPACITY);
        }
        if self.is_ready() {
            self.flush_ready();
        }
    }

    /// The transport closed or failed under us.
    pub fn handle_transport_closed(&mut self, reason: &str, now: Instant) {
        if matches!(self.t.state, State::Closed | State::Faulted { .. }) {
            return;
        }
        self.fault(ConnError::TransportClosed(reason.to_owned()), now);
    }

    /// Queues a message; it is sent once READY (or replayed after reconnect).
    ///
    /// A lossless connector in standby starts reconnecting.
    pub fn send_message(&mut self, mut msg: Message) {
        if self.is_closed() {
            return;
        }
        msg.seq = 0;
        self.session.out_queue.push_back(msg);
        match self.t.state {
            State::Ready => self.flush_ready(),
            State::Faulted { reconnect_at: None } if self.is_connector() && !self.wake_sent => {
                // Standby: a new message is what wakes the session.
                self.wake_sent = true;
                self.events.push_back(Event::ReconnectDue);
            }
            _ => {}
        }
    }

    /// True while the connection has room under its back-pressure bounds
    /// (bytes waiting for the transport, messages queued or unacknowledged).
    pub fn has_room(&self) -> bool {
        self.t.tx.len() < self.config.max_pending_bytes
            && self.session.out_queue.len() + self.session.sent.len() < self.config.max_pending_msgs
    }

    /// Queues `msg` unless the connection is over its back-pressure bounds,
    /// in which case the message is handed back: the sender must wait
    /// (never an unbounded queue).
    pub fn try_send_message(&mut self, msg: Message) -> Result<(), Box<Message>> {
        if !self.has_room() {
            return Err(Box::new(msg));
        }
        self.send_message(msg);
        Ok(())
    }

    /// Queues a KEEPALIVE2 carrying `stamp` (only when READY).
    pub fn send_keepalive(&mut self, stamp: UTime) -> bool {
        if !self.is_ready() {
            return false;
        }
        let frame = Keepalive2Frame { stamp };
        self.send_control(Tag::Keepalive2, &frame_bytes(|o| frame.emit(o)))
            .is_ok()
    }

    /// The mode negotiated on the current transport, once AUTH_DONE passed.
    pub fn current_mode(&self) -> Option<ConMode> {
        self.t.auth.as_ref().map(|_| self.t.mode)
    }

    /// Applies a new mode policy at runtime: `modes` are the allowed modes in
    /// order of preference (Ceph's `ms_*_mode` lists, reference 7.4).
    ///
    /// A connector offers them from its next AUTH_REQUEST on. If the current
    /// transport already negotiated a mode the policy no longer allows, it is
    /// closed with [`ConnError::PolicyChanged`], a fault: a lossless session
    /// reconnects (replaying every unacknowledged message) and negotiates an
    /// allowed mode; a lossy one is closed for its owner to re-open. Returns
    /// true if the transport was closed.
    ///
    /// If a connector's auth method cannot offer any of `modes` (auth none
    /// asked for secure-only), the session is closed for good instead.
    pub fn set_mode_policy(&mut self, modes: &[ConMode], now: Instant) -> bool {
        self.last_now = now;
        if self.is_closed() {
            return false;
        }
        if let Side::Connector {
            auth,
            offered_modes,
            ..
        } = &mut self.side
        {
            if auth.set_modes(modes.to_vec()) {
                *offered_modes = modes.to_vec();
            } else {
                let method = auth.method_and_modes().0;
                self.fault(
                    ConnError::Auth(crate::auth::AuthError::NoAcceptableMethod {
                        methods: vec![method],
                        modes: modes.iter().map(|m| *m as u32).collect(),
                    }),
                    now,
                );
                return true;
            }
        }
        let live = !matches!(self.t.state, State::Closed | State::Faulted { .. });
        if live && self.t.auth.is_some() && !modes.contains(&self.t.mode) {
            let mode = self.t.mode.name();
            self.fault(ConnError::PolicyChanged { mode }, now);
            return true;
        }
        false
    }

    /// Test hook: sets the secure-mode TX nonce counter of the current
    /// transport (reference 4.2), to bring it near the wrap point. False if
    /// the transport is not in secure mode.
    #[cfg(any(test, feature = "test-support"))]
    pub fn set_tx_nonce_counter_for_test(&mut self, v: u64) -> bool {
        self.t
            .encoder
            .as_mut()
            .is_some_and(|e| e.set_tx_counter_for_test(v))
    }

    /// Test hook: sets the secure-mode RX nonce counter of the current
    /// transport, to follow a peer whose TX counter a test moved. False if
    /// the transport is not in secure mode.
    #[cfg(any(test, feature = "test-support"))]
    pub fn set_rx_nonce_counter_for_test(&mut self, v: u64) -> bool {
        self.t
            .decoder
            .as_mut()
            .is_some_and(|d| d.set_rx_counter_for_test(v))
    }

    /// Marks the connection down: no reconnect, queues dropped.
    pub fn mark_down(&mut self) {
        if !self.is_closed() {
            self.session = Session::default();
            self.set_state(State::Closed);
            self.events.push_back(Event::Closed {
                error: ConnError::MarkedDown,
                reconnect: false,
            });
        }
    }

    /// Opens a new transport for a lossless session after [`Event::ReconnectDue`].
    pub fn reconnect(&mut self, now: Instant) {
        self.last_now = now;
        self.wake_sent = false;
        self.global_seq += 1;
        if self.session.server_cookie != 0 {
            self.session.connect_seq += 1;
        }
        self.session.requeue_sent();
        self.start_transport(now);
    }

    pub(super) fn set_state(&mut self, next: State) {
        self.t.state = next;
    }

    /// Ends the current transport; lossless connectors schedule a reconnect.
    pub(super) fn fault(&mut self, error: ConnError, now: Instant) {
        let lossy = self.session.lossy;
        // Only a lossless connector re-dials; servers wait for the peer (reference 9).
        let reconnect = match &self.side {
            Side::Connector { policy, .. } => !lossy && !policy.server && !error.is_fatal(),
            Side::Acceptor { .. } => false,
        };
        if reconnect {
            self.session.requeue_sent();
            let standby = matches!(&self.side, Side::Connector { policy, .. } if policy.standby)
                && self.session.is_idle();
            let delay = if self.waited {
                self.config.max_backoff
            } else {
                self.backoff
            };
            self.waited = false;
            self.backoff = (self.backoff * 2).min(self.config.max_backoff);
            let reconnect_at = if standby { None } else { Some(now + delay) };
            self.set_state(State::Faulted { reconnect_at });
        } else if !lossy && matches!(self.side, Side::Acceptor { .. }) && !error.is_fatal() {
            // A lossless acceptor keeps the session for the peer's reconnect.
            self.session.requeue_sent();
            self.set_state(State::Faulted { reconnect_at: None });
        } else {
            self.set_state(State::Closed);
        }
        self.t.tx.clear();
        self.t.tx_blocked_since = None;
        self.events.push_back(Event::Closed { error, reconnect });
    }
}

/// Encodes with `f` into a fresh buffer.
pub(super) fn frame_bytes(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    f(&mut out);
    out
}

/// A random non-zero u64 (cookies).
pub(super) fn nonzero(rng: &mut dyn RngCore) -> u64 {
    loop {
        let v = rng.next_u64();
        if v != 0 {
            return v;
        }
    }
}
