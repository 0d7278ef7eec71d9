//! [`Connection`], the one sans-IO msgr2 connection (msgr2 reference
//! sections 2, 7 and 9), over the two parts crimson splits it into: the
//! handshake ([`super::handshake`], a state enum per role whose variants
//! carry their data) and the READY I/O part ([`super::io::Io`], which owns
//! the frame codec). What outlives a transport (the session, backoff,
//! global seq) stays here; what belongs to one transport is its [`Link`]
//! and its [`Phase`].
//!
//! # Call order
//! 1. Build with [`Connection::connect`] or [`Connection::accept`] when the
//!    transport opens; the banner is queued at once.
//! 2. Feed every received byte to [`Connection::handle_input`]; write out
//!    [`Connection::tx_pending`] and report it with [`Connection::tx_consumed`].
//!    A driver whose transport lends its send buffer calls
//!    [`Connection::set_seal_in_transport`] and writes with
//!    [`Connection::tx_fill`] instead (secure chunks are sealed there).
//! 3. Drain [`Connection::poll_event`] after each input or timeout.
//! 4. Call [`Connection::handle_timeout`] at [`Connection::poll_timeout`].
//! 5. An acceptor answers [`Event::SessionRequest`] with
//!    [`Connection::decide_session`].
//! 6. After [`Event::Closed`] with `reconnect: true`, wait for
//!    [`Event::ReconnectDue`], open a new transport and call
//!    [`Connection::reconnect`]. If the transport dies, call
//!    [`Connection::handle_transport_closed`].
//! 7. Back-pressure: read the transport only while
//!    [`Connection::wants_input`]; while [`Connection::has_backlog`], call
//!    `handle_input` with no bytes to parse what is buffered. Report writes
//!    with [`Connection::tx_consumed_at`] and a write that took nothing with
//!    [`Connection::note_tx_blocked`] (the drain deadline). A driver with a
//!    memory budget reads [`Connection::buffered_bytes`] and may
//!    [`Connection::set_input_paused`] or [`Connection::abort`].
//!
//! Nothing here touches a socket or a clock: time comes in as `now`, and
//! randomness (cookies) from the injected source.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::RngCore;

use super::config::{ConnectionConfig, Policies, Policy};
use super::error::{ConnError, PeerMisbehaved};
use super::event::{Established, Event, SessionDecision};
use super::frame::{Decoded, FrameDecoder, FrameEncoder};
use super::handshake::acceptor::Acceptor;
use super::handshake::connector::Connector;
use super::handshake::{check_pre_auth, frame_bytes, Authed, Input, Transcripts};
use super::io::Io;
use super::link::{blocked_for, Link};
use super::message::Message;
use super::phase::{with_phase, End, Phase, Role, Status};
use super::session::Session;
use crate::auth::{AuthClient, AuthServer};
use crate::wire::addr::{EntityAddr, EntityAddrVec};
use crate::wire::banner::{self, BannerError, BannerRepr};
use crate::wire::control::Keepalive2Frame;
use crate::wire::entity::{EntityName, EntityType};
use crate::wire::utime::UTime;
use crate::wire::{ConMode, Tag};

/// Replies to the peer's requests ([`Connection::try_send_reply`]) queued
/// while the transport takes none of them (the peer's receive window is
/// full: it is not reading) above which input is held, as TCP flow control
/// would: a peer that does not read its replies is not read. Only replies
/// count: reading input that makes none frees the peer without growing the
/// queue, and two ends that both send bulk would otherwise each wait for
/// the other to read first (a deadlock seen between two pollmsgr ends).
const HOLD_WHEN_BLOCKED: usize = 64 << 10;
/// ... once the transport has refused them this long (a full send ring for
/// a moment, as bulk transfers over smoltcp see all the time, is not it).
const HOLD_AFTER_BLOCKED: Duration = Duration::from_millis(50);

/// Receive buffer capacity kept between frames; more is released once parsed.
const RX_KEEP_CAPACITY: usize = 1 << 20;

/// What a handshake learned about the peer, for [`Established`].
pub(super) struct PeerFacts {
    /// The peer's entity type (HELLO).
    pub(super) ty: EntityType,
    /// The peer's name, from its IDENT frame; unknown on a reconnect.
    pub(super) name: Option<EntityName>,
    /// Features both sides support; 0 when unknown (a reconnect).
    pub(super) features: u64,
    /// The peer's addresses; empty when unknown.
    pub(super) addrs: EntityAddrVec,
}

impl PeerFacts {
    /// Nothing learned beyond the type (SESSION_RECONNECT_OK).
    pub(super) fn unknown(ty: EntityType) -> Self {
        PeerFacts {
            ty,
            name: None,
            features: 0,
            addrs: EntityAddrVec(Vec::new()),
        }
    }
}

/// Everything of a connection but its role: what outlives a transport, and
/// the current transport's [`Link`].
pub(super) struct Core {
    pub(super) config: ConnectionConfig,
    pub(super) rng: Box<dyn RngCore + Send>,
    pub(super) session: Session,
    pub(super) link: Link,
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
    /// The driver writes with [`Connection::tx_fill`]: large secure payloads
    /// are queued unsealed and sealed in the transport's send buffer.
    pub(super) seal_in_transport: bool,
}

impl Core {
    /// Encodes a control frame (segment 0 only) onto the transmit chain,
    /// recording it in the sent transcript `log` before AUTH_DONE.
    pub(super) fn send_control(
        &mut self,
        encoder: &mut FrameEncoder,
        mut log: Option<&mut Vec<u8>>,
        tag: Tag,
        payload: &[u8],
    ) -> Result<(), ConnError> {
        // Control frames are built in the chain's owned tail, so the exact
        // bytes sent can be recorded for the pre-auth signature.
        self.link.tx.with_tail(|tail| {
            let start = tail.len();
            encoder.encode(tag, &[payload], tail)?;
            if let Some(log) = log.as_deref_mut() {
                log.extend_from_slice(tail.get(start..).unwrap_or(&[]));
            }
            Ok::<(), ConnError>(())
        })?;
        if let Some(log) = log {
            check_pre_auth(log.len(), self.config.max_pre_auth_bytes)?;
        }
        Ok(())
    }

    /// The handshake is over: publishes [`Event::Established`] and hands
    /// the codec to the READY part.
    pub(super) fn become_ready(
        &mut self,
        authed: Authed,
        peer: PeerFacts,
        reconnected: bool,
    ) -> Io {
        self.backoff = self.config.initial_backoff;
        let previous = self.established.take();
        let peer_name = peer
            .name
            .or_else(|| previous.as_ref().map(|e| e.peer_name))
            .unwrap_or(EntityName {
                ty: peer.ty,
                num: u64::MAX,
            });
        let mut peer_addrs = peer.addrs;
        if peer_addrs.0.is_empty() {
            if let Some(p) = &previous {
                peer_addrs = p.peer_addrs.clone();
            }
        }
        let established = Established {
            peer_name,
            peer_addrs,
            mode: authed.mode,
            revision: authed.codec.encoder.revision(),
            features: if peer.features != 0 {
                peer.features
            } else {
                previous.map(|p| p.features).unwrap_or(0)
            },
            lossy: self.session.lossy,
            global_id: authed.auth.global_id,
            reconnected,
            peer_auth: authed.auth.peer.clone(),
        };
        self.established = Some(established.clone());
        self.events.push_back(Event::Established(established));
        Io {
            codec: authed.codec,
            mode: authed.mode,
            keepalive_ack: None,
            header_scratch: Vec::with_capacity(crate::wire::header2::HEADER2_LEN),
        }
    }

    /// True while input waits because the replies queued for the peer are
    /// over the back-pressure bound (only when READY).
    fn replies_held(&self, ready: bool) -> bool {
        let link = &self.link;
        ready
            && (link.tx.len() >= self.config.max_pending_bytes
                || (blocked_for(link) >= HOLD_AFTER_BLOCKED
                    && link.tx.replies_pending() >= HOLD_WHEN_BLOCKED))
    }
}

/// One msgr2 connection and the session it carries.
pub struct Connection {
    core: Core,
    role: Role,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("state", &self.state_name())
            .field("in_seq", &self.core.session.in_seq)
            .field("out_seq", &self.core.session.out_seq)
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
        mut rng: Box<dyn RngCore + Send>,
        now: Instant,
    ) -> Self {
        let offered_modes = auth.method_and_modes().1;
        let session = Session {
            lossy: policy.lossy,
            client_cookie: if policy.lossy {
                0
            } else {
                nonzero(rng.as_mut())
            },
            ..Session::default()
        };
        let role = Role::Connector(Connector {
            target,
            peer_type,
            policy,
            auth,
            offered_modes,
            phase: Phase::Closed,
        });
        Self::new(config, role, session, rng, now)
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
        let role = Role::Acceptor(Acceptor {
            peer_socket,
            policies,
            auth,
            policy,
            phase: Phase::Closed,
        });
        Self::new(config, role, Session::default(), rng, now)
    }

    fn new(
        config: ConnectionConfig,
        role: Role,
        session: Session,
        rng: Box<dyn RngCore + Send>,
        now: Instant,
    ) -> Self {
        let core = Core {
            backoff: config.initial_backoff,
            global_seq: config.global_seq,
            link: Link::new(now, false),
            config,
            rng,
            session,
            events: VecDeque::new(),
            established: None,
            waited: false,
            wake_sent: false,
            last_now: now,
            seal_in_transport: false,
        };
        let mut conn = Connection { core, role };
        conn.start_transport(now);
        conn
    }

    /// A new transport: fresh buffers, our banner queued (and recorded).
    fn start_transport(&mut self, now: Instant) {
        self.core.link = Link::new(now, self.core.seal_in_transport);
        let banner = BannerRepr {
            supported: self.core.config.msgr2_supported,
            required: self.core.config.msgr2_required,
        };
        let mut bytes = Vec::with_capacity(banner::BANNER_LEN);
        banner.emit(&mut bytes);
        self.core.link.tx.push(&bytes);
        let log = Transcripts {
            rx: Vec::new(),
            tx: bytes,
        };
        self.role.restart(log);
    }

    /// The address a connector dialed (None for an acceptor).
    pub fn target(&self) -> Option<&EntityAddr> {
        match &self.role {
            Role::Connector(c) => Some(&c.target),
            Role::Acceptor(_) => None,
        }
    }

    /// The policy in force: the connector's own, or the acceptor's for the
    /// peer's type (chosen at HELLO).
    pub fn policy(&self) -> Policy {
        match &self.role {
            Role::Connector(c) => c.policy,
            Role::Acceptor(a) => a.policy,
        }
    }

    /// True for the side that dialed.
    pub fn is_connector(&self) -> bool {
        matches!(self.role, Role::Connector(_))
    }

    /// The session (seqs, queues) this connection carries.
    pub fn session(&self) -> &Session {
        &self.core.session
    }

    /// Takes the session out (to hand it to a newer transport of the same
    /// peer); this connection is closed afterwards.
    pub fn take_session(&mut self) -> Session {
        self.role.end(End::Closed);
        std::mem::take(&mut self.core.session)
    }

    /// The established facts, once READY has been reached.
    pub fn established(&self) -> Option<&Established> {
        self.core.established.as_ref()
    }

    /// True when messages flow.
    pub fn is_ready(&self) -> bool {
        self.role.status() == Status::Ready
    }

    /// True once the connection is finished for good.
    pub fn is_closed(&self) -> bool {
        self.role.status() == Status::Closed
    }

    /// A short name of the current state, for logs and tests.
    pub fn state_name(&self) -> &'static str {
        with_phase!(&self.role, p => p.name())
    }

    /// Bytes waiting to be written to the transport.
    pub fn tx_pending(&self) -> &[u8] {
        self.core.link.tx.pending()
    }

    /// Fills `out` with the pending bytes, chunk by chunk, for a vectored
    /// write (payloads lent in crc mode are their own chunks); returns how
    /// many slices it filled. [`Connection::tx_consumed`] takes a count
    /// across them.
    pub fn tx_pending_slices<'a>(&'a self, out: &mut [std::io::IoSlice<'a>]) -> usize {
        self.core.link.tx.pending_slices(out)
    }

    /// The driver's transport has a send buffer to write into
    /// ([`Connection::tx_fill`]): from now on, secure frames with a large
    /// payload are sealed there instead of in the connection's own buffer.
    /// Turning it off seals what is queued, so [`Connection::tx_pending`]
    /// covers everything again.
    pub fn set_seal_in_transport(&mut self, on: bool) {
        self.core.seal_in_transport = on;
        let tx = &mut self.core.link.tx;
        tx.set_seal_late(on);
        if !on {
            if let Err(e) = tx.seal_all() {
                let now = self.core.last_now;
                self.fault(e.into(), now);
            }
        }
    }

    /// Whether large secure payloads are sealed in the transport's send
    /// buffer ([`Connection::set_seal_in_transport`]).
    pub fn seals_in_transport(&self) -> bool {
        self.core.seal_in_transport
    }

    /// True if bytes wait to be written (including chunks not sealed yet).
    pub fn has_tx_pending(&self) -> bool {
        self.core.link.tx.len() > 0
    }

    /// Writes pending bytes into `window`, the transport's free send space,
    /// sealing queued secure chunks in place there, and marks them written
    /// at `now`; returns how many. (With [`Connection::set_seal_in_transport`]
    /// off this is a plain copy of [`Connection::tx_pending_slices`].)
    pub fn tx_fill(&mut self, window: &mut [u8], now: Instant) -> usize {
        let (n, res) = self.core.link.tx.fill(window);
        self.core.link.wrote(n, now);
        if let Err(e) = res {
            self.fault(e.into(), now);
        }
        n
    }

    /// Reports that the first `n` pending bytes were written: at most
    /// [`Connection::tx_pending`], or across [`Connection::tx_pending_slices`]
    /// after a vectored write.
    pub fn tx_consumed(&mut self, n: usize) {
        let now = self.core.last_now;
        self.tx_consumed_at(n, now);
    }

    /// [`Connection::tx_consumed`] at time `now`: the drain and idle
    /// deadlines count from the last write that took bytes.
    pub fn tx_consumed_at(&mut self, n: usize, now: Instant) {
        let link = &mut self.core.link;
        link.tx.consumed(n);
        link.wrote(n, now);
    }

    /// The transport took none of [`Connection::tx_pending`] at `now` (its
    /// send buffer is full: the peer is not reading). Starts the drain deadline.
    pub fn note_tx_blocked(&mut self, now: Instant) {
        let link = &mut self.core.link;
        if !link.tx.pending().is_empty() && link.tx_blocked_since.is_none() {
            link.tx_blocked_since = Some(now);
        }
        link.tx_blocked_seen = now;
    }

    /// True while the connection takes new input: it is live, has no
    /// unparsed backlog, and its replies are under the back-pressure bound
    /// (a peer that does not read its replies is not read either).
    pub fn wants_input(&self) -> bool {
        self.is_live()
            && !self.core.link.backlog
            && self.core.link.tx.len() < self.core.config.max_pending_bytes
    }

    /// True if received bytes wait to be parsed and parsing can go on now
    /// (call [`Connection::handle_input`] with no new bytes to continue).
    pub fn has_backlog(&self) -> bool {
        self.core.link.backlog && self.is_live() && !self.replies_held()
    }

    /// True while input waits because the replies queued for the peer are
    /// over the back-pressure bound (the peer is not reading them).
    pub fn replies_held(&self) -> bool {
        self.core.replies_held(self.is_ready())
    }

    /// How long the transport has taken none of our pending bytes, as of
    /// the last attempt ([`Connection::note_tx_blocked`]); zero if it is not blocked.
    pub fn tx_blocked_for(&self) -> Duration {
        blocked_for(&self.core.link)
    }

    /// True while a transport is open (neither faulted nor closed).
    pub fn is_live(&self) -> bool {
        matches!(self.role.status(), Status::Handshake | Status::Ready)
    }

    /// Bytes this connection holds for its current transport: received and
    /// not yet parsed (including a partial frame), segments of the frame
    /// being received, pre-auth transcripts, and bytes queued to send.
    pub fn buffered_bytes(&self) -> usize {
        let link = &self.core.link;
        let (decoded, logs) = with_phase!(&self.role, p => (
            p.decoder().map_or(0, FrameDecoder::buffered_len),
            p.transcripts().map_or(0, Transcripts::len),
        ));
        link.unparsed() + decoded + logs + link.tx.len()
    }

    /// Received bytes copied a second time since the last call: into the
    /// receive buffer (the rest were parsed straight from the transport's
    /// bytes) or out of a decrypted chunk: the copy a driver reports per
    /// payload byte.
    pub fn take_rx_buffered(&mut self) -> u64 {
        std::mem::take(&mut self.core.link.rx_buffered)
    }

    /// Message payload bytes encoded since the last call, and how many of
    /// them were copied into the connection's own frame buffers (the rest
    /// were lent to the transport): the transmit copies a driver reports.
    pub fn take_tx_copies(&mut self) -> (u64, u64) {
        let link = &mut self.core.link;
        let resealed = link.tx.take_resealed();
        (
            std::mem::take(&mut link.tx_payload),
            std::mem::take(&mut link.tx_copied) + resealed,
        )
    }

    /// The driver stops (`true`) or resumes reading this connection for a
    /// memory budget. While paused, the frame-progress deadline is held.
    pub fn set_input_paused(&mut self, paused: bool, now: Instant) {
        let link = &mut self.core.link;
        if link.input_paused && !paused {
            link.last_rx = now;
        }
        link.input_paused = paused;
    }

    /// Closes the current transport with `error` (decided by the driver,
    /// e.g. [`ConnError::OverBudget`]); a lossless session survives as
    /// after any fault.
    pub fn abort(&mut self, error: ConnError, now: Instant) {
        self.core.last_now = now;
        if !self.is_live() {
            return;
        }
        self.fault(error, now);
    }

    /// The peer's socket address: the one we accepted from, or dialed.
    pub fn peer_socket(&self) -> Option<std::net::SocketAddr> {
        match &self.role {
            Role::Acceptor(a) => Some(a.peer_socket),
            Role::Connector(c) => c.target.addr,
        }
    }

    /// True while part of a frame (or banner) has arrived and the rest has not.
    fn mid_frame(&self) -> bool {
        self.core.link.unparsed() > 0
            || with_phase!(&self.role, p => p.decoder().is_some_and(|d| !d.at_frame_boundary()))
    }

    /// The earliest progress deadline and the error it fires with.
    fn progress_deadline(&self) -> Option<(Instant, ConnError)> {
        if !self.is_live() {
            return None;
        }
        let link = &self.core.link;
        let config = &self.core.config;
        let mut best: Option<(Instant, ConnError)> = None;
        let mut consider = |at: Instant, err: ConnError| {
            if best.as_ref().is_none_or(|(b, _)| at < *b) {
                best = Some((at, err));
            }
        };
        if let Some(w) = config.frame_timeout {
            if !link.input_paused && !link.backlog && self.mid_frame() {
                let declared_rest = with_phase!(&self.role, p => p
                    .decoder()
                    .map_or(0, FrameDecoder::frame_rest_len));
                consider(
                    link.last_rx + w,
                    ConnError::FrameStalled {
                        waited: w,
                        declared_rest,
                    },
                );
            }
        }
        if let (Some(w), Some(since)) = (config.drain_timeout, link.tx_blocked_since) {
            if !link.tx.pending().is_empty() {
                consider(
                    since + w,
                    ConnError::PeerNotDraining {
                        waited: w,
                        pending: link.tx.len(),
                    },
                );
            }
        }
        if let Some(w) = config.idle_timeout {
            if self.is_ready() {
                consider(link.last_activity + w, ConnError::Idle(w));
            }
        }
        best
    }

    /// The handshake deadline, while the handshake runs.
    fn handshake_deadline(&self) -> Option<Instant> {
        (self.role.status() == Status::Handshake)
            .then(|| self.core.link.opened + self.core.config.handshake_timeout)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.core.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.role.status() {
            Status::Faulted { reconnect_at } => reconnect_at,
            Status::Closed => None,
            Status::Handshake | Status::Ready => {
                let progress = self.progress_deadline().map(|(at, _)| at);
                match (self.handshake_deadline(), progress) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// Handles the deadline from [`Connection::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.core.last_now = now;
        match self.role.status() {
            Status::Faulted {
                reconnect_at: Some(at),
            } if now >= at => {
                self.role.end(End::Faulted { reconnect_at: None });
                self.core.wake_sent = true;
                self.core.events.push_back(Event::ReconnectDue);
            }
            Status::Faulted { .. } | Status::Closed => {}
            Status::Handshake | Status::Ready => {
                if self.handshake_deadline().is_some_and(|d| now >= d) {
                    let err = ConnError::HandshakeTimeout(self.core.config.handshake_timeout);
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
        self.core.last_now = now;
        if !self.is_live() {
            return;
        }
        let link = &mut self.core.link;
        if !data.is_empty() {
            link.last_rx = now;
            link.last_activity = now;
        }
        let rx_log = with_phase!(&self.role, p => p.transcripts().map(|t| t.rx.len()));
        if let Some(logged) = rx_log {
            // The pre-auth cap counts bytes as they arrive, not as frames complete.
            let held = logged + link.unparsed() + data.len();
            let limit = self.core.config.max_pre_auth_bytes;
            if held > limit {
                self.fault(ConnError::PreAuthTooLarge { limit }, now);
                return;
            }
        }
        if let Err(e) = self.take_input(data) {
            self.fault(e, now);
            return;
        }
        let link = &mut self.core.link;
        // Compact the receive buffer: at once when everything was parsed,
        // else once the parsed prefix is half of it (a backlog parsed a few
        // frames per call is not moved on every call).
        if link.rx_pos > 0 && (link.rx_pos == link.rx.len() || link.rx_pos * 2 >= link.rx.len()) {
            link.rx.drain(..link.rx_pos);
            link.rx_pos = 0;
        }
        // A large frame grew the buffer; once it is parsed, give the memory
        // back instead of holding the peak for the connection's lifetime.
        if link.rx.capacity() > RX_KEEP_CAPACITY && link.rx.len() < RX_KEEP_CAPACITY {
            link.rx.shrink_to(RX_KEEP_CAPACITY);
        }
        if self.is_ready() {
            self.flush_ready();
        }
    }

    /// Parses `data` after what the receive buffer still holds. Bytes go to
    /// the decoder straight from `data` (a segment lands in its message's
    /// buffer with one copy); only what cannot be parsed yet is buffered: a
    /// partial banner, preamble or epilogue, or a backlog past this call's
    /// share. A buffered partial stage is completed with just the bytes it
    /// lacks.
    fn take_input(&mut self, data: &[u8]) -> Result<(), ConnError> {
        let mut rest = data;
        if self.core.link.unparsed() > 0 {
            let unparsed = self.core.link.unparsed();
            let top_up = match self.stage_need() {
                Some(need) => need.saturating_sub(unparsed).min(rest.len()),
                None => rest.len(),
            };
            let link = &mut self.core.link;
            link.buffer(&rest[..top_up]);
            rest = &rest[top_up..];
            let rx = std::mem::take(&mut link.rx);
            let parsed = self.process_input(&rx[self.core.link.rx_pos..]);
            let link = &mut self.core.link;
            link.rx = rx;
            link.rx_pos += parsed?;
            if link.unparsed() > 0 {
                link.buffer(rest);
                return Ok(());
            }
        }
        if !rest.is_empty() {
            let parsed = self.process_input(rest)?;
            let link = &mut self.core.link;
            link.rx.clear();
            link.rx_pos = 0;
            link.buffer(&rest[parsed..]);
        }
        Ok(())
    }

    /// Bytes the decoder's current stage needs in one piece; `None` while
    /// the banner (of unknown length until parsed) is expected.
    fn stage_need(&mut self) -> Option<usize> {
        if self.role.expects_banner() {
            return None;
        }
        match self.role.rx_parts() {
            (Some(decoder), _) => Some(decoder.next_need()),
            (None, _) => None,
        }
    }

    /// Parses `input`, a bounded number of frames per call; returns the
    /// bytes it consumed.
    fn process_input(&mut self, input: &[u8]) -> Result<usize, ConnError> {
        self.core.link.backlog = false;
        let mut frames = 0usize;
        let mut pos = 0usize;
        loop {
            let status = self.role.status();
            if pos < input.len()
                && (frames >= self.core.config.max_frames_per_input
                    || self.core.replies_held(status == Status::Ready))
            {
                // A bounded share per call, and no more replies than the
                // back-pressure bound: the rest waits in the receive buffer
                // (and the driver stops reading) until the peer drains.
                self.core.link.backlog = true;
                return Ok(pos);
            }
            if !matches!(status, Status::Handshake | Status::Ready) || self.role.awaits_decision() {
                return Ok(pos);
            }
            let avail = &input[pos..];
            if self.role.expects_banner() {
                let len = match banner::banner_len(avail) {
                    Ok(len) if len <= avail.len() => len,
                    Ok(_) | Err(BannerError::Truncated { .. }) => return Ok(pos),
                    Err(e) => return Err(e.into()),
                };
                let raw = &avail[..len];
                pos += len;
                if let (_, Some(log)) = self.role.rx_parts() {
                    log.extend_from_slice(raw);
                    check_pre_auth(log.len(), self.core.config.max_pre_auth_bytes)?;
                }
                self.handle(Input::Banner(raw))?;
                continue;
            }
            let (Some(decoder), log) = self.role.rx_parts() else {
                return Ok(pos);
            };
            let (consumed, decoded) = decoder.decode(avail)?;
            let declared_rest = decoder.frame_rest_len();
            // Plaintext moved out of a decrypted chunk is a second copy too.
            self.core.link.rx_buffered += decoder.take_recopied();
            if consumed > 0 {
                pos += consumed;
                if let Some(log) = log {
                    log.extend_from_slice(&avail[..consumed]);
                    let limit = self.core.config.max_pre_auth_bytes;
                    check_pre_auth(log.len(), limit)?;
                    // Refuse a frame by its preamble: what it declares must
                    // fit too, before any of it is buffered.
                    if log.len().saturating_add(declared_rest) > limit {
                        return Err(ConnError::PreAuthFrameTooLarge {
                            declared: declared_rest,
                            limit,
                        });
                    }
                }
            }
            match decoded {
                Decoded::NeedMore => {
                    if consumed == 0 {
                        return Ok(pos);
                    }
                }
                Decoded::Aborted => {}
                Decoded::Frame(frame) => {
                    frames += 1;
                    let tag =
                        Tag::from_u8(frame.tag).ok_or(PeerMisbehaved::UnknownTag(frame.tag))?;
                    // READY frames go to the I/O part in place (the hot path).
                    if let Some(io) = self.role.io_mut() {
                        io.handle_frame(&mut self.core, tag, frame)?;
                    } else {
                        self.handle(Input::Frame(tag, frame))?;
                    }
                }
            }
        }
    }

    /// Hands handshake input to the role's current step.
    fn handle(&mut self, input: Input<'_>) -> Result<(), ConnError> {
        match &mut self.role {
            Role::Connector(c) => c.handle(&mut self.core, input),
            Role::Acceptor(a) => a.handle(&mut self.core, input),
        }
    }

    /// The transport closed or failed under us.
    pub fn handle_transport_closed(&mut self, reason: &str, now: Instant) {
        if !self.is_live() {
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
        self.core.session.out_queue.push_back(msg);
        match self.role.status() {
            Status::Ready => self.flush_ready(),
            Status::Faulted { reconnect_at: None }
                if self.is_connector() && !self.core.wake_sent =>
            {
                // Standby: a new message is what wakes the session.
                self.core.wake_sent = true;
                self.core.events.push_back(Event::ReconnectDue);
            }
            _ => {}
        }
    }

    /// True while the connection has room under its back-pressure bounds
    /// (bytes waiting for the transport, messages queued or unacknowledged).
    pub fn has_room(&self) -> bool {
        let session = &self.core.session;
        self.core.link.tx.len() < self.core.config.max_pending_bytes
            && session.out_queue.len() + session.sent.len() < self.core.config.max_pending_msgs
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

    /// [`Connection::try_send_message`] for a reply to one of the peer's
    /// requests: its bytes count toward the bound past which the peer's
    /// input is held while it does not read ([`Connection::replies_held`]).
    pub fn try_send_reply(&mut self, msg: Message) -> Result<(), Box<Message>> {
        let from = self.core.link.tx.queued();
        self.try_send_message(msg)?;
        self.core.link.tx.mark_replies(from);
        Ok(())
    }

    /// Queues a KEEPALIVE2 carrying `stamp` (only when READY).
    pub fn send_keepalive(&mut self, stamp: UTime) -> bool {
        let Some(io) = self.role.io_mut() else {
            return false;
        };
        let frame = Keepalive2Frame { stamp };
        io.send_control(
            &mut self.core,
            Tag::Keepalive2,
            &frame_bytes(|o| frame.emit(o)),
        )
        .is_ok()
    }

    /// The mode negotiated on the current transport, once AUTH_DONE passed.
    pub fn current_mode(&self) -> Option<ConMode> {
        with_phase!(&self.role, p => p.mode())
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
        self.core.last_now = now;
        if self.is_closed() {
            return false;
        }
        if let Role::Connector(c) = &mut self.role {
            if c.auth.set_modes(modes.to_vec()) {
                c.offered_modes = modes.to_vec();
            } else {
                let method = c.auth.method_and_modes().0;
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
        match self.current_mode() {
            Some(mode) if self.is_live() && !modes.contains(&mode) => {
                let mode = mode.name();
                self.fault(ConnError::PolicyChanged { mode }, now);
                true
            }
            _ => false,
        }
    }

    /// Test hook: sets the secure-mode TX nonce counter of the current
    /// transport (reference 4.2), to bring it near the wrap point. False if
    /// the transport is not in secure mode.
    #[cfg(any(test, feature = "test-support"))]
    pub fn set_tx_nonce_counter_for_test(&mut self, v: u64) -> bool {
        self.role
            .encoder_mut()
            .is_some_and(|e| e.set_tx_counter_for_test(v))
    }

    /// Test hook: sets the secure-mode RX nonce counter of the current
    /// transport, to follow a peer whose TX counter a test moved. False if
    /// the transport is not in secure mode.
    #[cfg(any(test, feature = "test-support"))]
    pub fn set_rx_nonce_counter_for_test(&mut self, v: u64) -> bool {
        self.role
            .decoder_mut()
            .is_some_and(|d| d.set_rx_counter_for_test(v))
    }

    /// Marks the connection down: no reconnect, queues dropped.
    pub fn mark_down(&mut self) {
        if !self.is_closed() {
            self.core.session = Session::default();
            self.role.end(End::Closed);
            self.core.events.push_back(Event::Closed {
                error: ConnError::MarkedDown,
                reconnect: false,
            });
        }
    }

    /// Opens a new transport for a lossless session after [`Event::ReconnectDue`].
    pub fn reconnect(&mut self, now: Instant) {
        self.core.last_now = now;
        self.core.wake_sent = false;
        self.core.global_seq += 1;
        if self.core.session.server_cookie != 0 {
            self.core.session.connect_seq += 1;
        }
        self.core.session.requeue_sent();
        self.start_transport(now);
    }

    /// Answers an [`Event::SessionRequest`] (acceptor only).
    ///
    /// If the transport failed before the answer came, nothing is applied and
    /// an adopted session is handed back, so the caller can park it again.
    #[must_use = "an unapplied session must be parked again, or it is lost"]
    pub fn decide_session(&mut self, decision: SessionDecision) -> Option<Box<Session>> {
        let applied = match &mut self.role {
            Role::Acceptor(a) => a.decide(&mut self.core, decision),
            Role::Connector(_) => Err(decision),
        };
        match applied {
            Err(SessionDecision::Adopt(session)) => Some(session),
            Err(_) => None,
            Ok(Err(e)) => {
                let now = self.core.last_now;
                self.fault(e, now);
                None
            }
            Ok(Ok(())) => {
                if self.is_ready() {
                    self.flush_ready();
                }
                None
            }
        }
    }

    /// Sends what the session has queued, once READY.
    fn flush_ready(&mut self) {
        let Some(io) = self.role.io_mut() else {
            return;
        };
        if let Err(e) = io.flush(&mut self.core) {
            let now = self.core.last_now;
            self.fault(e, now);
        }
    }

    /// Ends the current transport; lossless connectors schedule a reconnect.
    fn fault(&mut self, error: ConnError, now: Instant) {
        let core = &mut self.core;
        let lossy = core.session.lossy;
        let end = match &self.role {
            // Only a lossless connector re-dials; servers wait for the peer (reference 9).
            Role::Connector(c) if !lossy && !c.policy.server && !error.is_fatal() => {
                core.session.requeue_sent();
                let standby = c.policy.standby && core.session.is_idle();
                let delay = if core.waited {
                    core.config.max_backoff
                } else {
                    core.backoff
                };
                core.waited = false;
                core.backoff = (core.backoff * 2).min(core.config.max_backoff);
                let reconnect_at = if standby { None } else { Some(now + delay) };
                End::Faulted { reconnect_at }
            }
            Role::Acceptor(_) if !lossy && !error.is_fatal() => {
                // A lossless acceptor keeps the session for the peer's reconnect.
                core.session.requeue_sent();
                End::Faulted { reconnect_at: None }
            }
            _ => End::Closed,
        };
        let reconnect = matches!(
            (&end, &self.role),
            (End::Faulted { .. }, Role::Connector(_))
        );
        self.role.end(end);
        self.core.link.tx.clear();
        self.core.link.tx_blocked_since = None;
        self.core
            .events
            .push_back(Event::Closed { error, reconnect });
    }
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
