//! Request/reply load in the style of Ceph's perf_msgr tools: a load
//! generator that keeps `depth` requests in flight per connection and checks
//! every reply, and an echo handler that answers each request.
//!
//! Requests and replies use pollmsgr's own message types
//! ([`crate::msg::types::POLLMSGR_BENCH_REQUEST`] / `_REPLY`): they measure
//! the messenger, not an OSD, so they do not pretend to be MOSDOp. A real
//! ceph-osd cannot decode them: it drops the session, and a lossless peer
//! session (`peer_osd`) would replay the same message forever. So a peer
//! session first asks the peer's `version` (an MCommand, which every OSD
//! answers) and loads it only if the answer names pollmsgr's messenger.

use rustc_hash::FxHashMap;
use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use rand::SeedableRng;

use super::auth::ClientAuth;
use super::{Handler, Replier};
use crate::msg::command::{MCommand, MCommandReply};
use crate::msg::types::{COMMAND, COMMAND_REPLY, POLLMSGR_BENCH_REPLY, POLLMSGR_BENCH_REQUEST};
use crate::msg::{from_message, to_message};
use crate::net::transport::Transport;
use crate::proto::{Connection, ConnectionConfig, Event, Message, Policy};
use crate::reactor::driver::{ConnId, Driver, DriverStats};
use crate::reactor::ReactorApp;
use crate::wire::addr::EntityAddr;
use crate::wire::entity::EntityType;
use crate::wire::ConMode;

/// Answers every bench request with a reply carrying `reply` as its data
/// (shared, so no reply is ever copied above the TCP stack).
pub struct EchoHandler {
    reply: Bytes,
}

impl EchoHandler {
    /// Replies carry `reply_size` bytes of data (0: header-only replies, as perf_msgr).
    pub fn new(reply_size: usize) -> Self {
        EchoHandler {
            reply: Bytes::from(vec![0u8; reply_size]),
        }
    }
}

impl Handler for EchoHandler {
    fn handle_message(&mut self, msg: Message, reply: &mut Replier<'_>) {
        if msg.ty == POLLMSGR_BENCH_REQUEST {
            let mut r = Message::new(POLLMSGR_BENCH_REPLY, 1, Bytes::new()).with_tid(msg.tid);
            r.data = self.reply.clone();
            reply.send(r);
        } else if msg.ty == COMMAND {
            // The load generator's probe (any command gets the version).
            let r = MCommandReply {
                r: 0,
                rs: String::new(),
                outbl: PROBE_ANSWER.as_bytes().to_vec(),
            };
            reply.send(to_message(&r, msg.tid));
        }
    }
}

/// How long a new session's `version` probe may go unanswered.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The echo endpoints' answer to the probe.
const PROBE_ANSWER: &str = r#"{"version":"16.2.15","messenger":"pollmsgr"}"#;

/// Whether a `version` reply comes from a pollmsgr endpoint (compact or
/// pretty JSON).
pub fn is_pollmsgr_version(out: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(out)
        .is_ok_and(|v| v.get("messenger").and_then(|m| m.as_str()) == Some("pollmsgr"))
}

/// Counters shared by all load reactors, read by the progress printer.
#[derive(Debug, Default)]
pub struct LoadCounters {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Replies received and checked.
    pub completed: AtomicU64,
    /// Request payload bytes completed.
    pub bytes: AtomicU64,
    /// Sessions established.
    pub sessions: AtomicU64,
    /// Connection errors (a lossless peer's reconnects are not errors).
    pub errors: AtomicU64,
    /// Sessions back after a fault: a lossless peer's resumed session, or a
    /// lossy client's session dialed again after a reset.
    pub reconnects: AtomicU64,
    /// Requests in flight on a lossy session when it was reset: lost, as
    /// a lossy client's are (a lossless peer's are replayed, never lost).
    pub lost: AtomicU64,
    /// Replies that did not match the oldest request in flight.
    pub mismatches: AtomicU64,
    /// Sessions that negotiated crc mode (from their `Established` events).
    pub sessions_crc: AtomicU64,
    /// Sessions that negotiated secure mode (from their `Established` events).
    pub sessions_secure: AtomicU64,
    /// Why the first connection that closed on its own closed (e.g. the
    /// endpoint refused our authentication). Locked only when a connection
    /// closes, never per message.
    pub first_error: Mutex<Option<String>>,
    /// Faults of lossless peer sessions (each is followed by a reconnect).
    pub faults: AtomicU64,
    /// Those faults whose error is an integrity failure of the bytes we
    /// received ([`crate::proto::ConnError::is_integrity_failure`]: a crc or
    /// AES-GCM tag mismatch), as opposed to a closed transport or a timeout.
    pub integrity_faults: AtomicU64,
    /// Why the first lossless fault happened.
    pub first_fault: Mutex<Option<String>>,
    /// Authentications that finished in secure mode (AUTH_DONE accepted),
    /// one per transport: new sessions and reconnects alike.
    pub secure_auths: AtomicU64,
    /// Secure-mode authentications whose connection secret was one an
    /// earlier transport of this run already used (by fingerprint). Every
    /// cephx AUTH_DONE carries a connection secret the server drew at
    /// random, so this stays 0 unless keys are reused.
    pub secure_secret_repeats: AtomicU64,
    /// Fingerprints of the connection secrets seen (see [`SecretTally`]),
    /// at most [`MAX_SECRET_FINGERPRINTS`]. Locked once per handshake.
    secret_fingerprints: Mutex<HashSet<[u8; 8]>>,
}

impl LoadCounters {
    /// Counts a lossless session's fault (it reconnects and replays).
    fn fault(&self, error: &crate::proto::ConnError) {
        self.faults.fetch_add(1, Ordering::Relaxed);
        if error.is_integrity_failure() {
            self.integrity_faults.fetch_add(1, Ordering::Relaxed);
        }
        let mut first = self.first_fault.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(error.to_string());
        }
    }

    /// Records one secure-mode authentication and its connection secret's
    /// fingerprint.
    fn secure_auth(&self, fingerprint: [u8; 8]) {
        self.secure_auths.fetch_add(1, Ordering::Relaxed);
        let mut seen = self
            .secret_fingerprints
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if seen.contains(&fingerprint) {
            self.secure_secret_repeats.fetch_add(1, Ordering::Relaxed);
        } else if seen.len() < MAX_SECRET_FINGERPRINTS {
            seen.insert(fingerprint);
        }
    }

    /// Counts an error; the first one's text (made only then) is kept.
    fn error(&self, text: impl FnOnce() -> String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(text());
        }
    }
}

/// Most connection-secret fingerprints a run remembers (8 bytes each), so
/// a long run with many reconnects keeps bounded memory; later secrets are
/// still counted in `secure_auths` but not checked for repeats.
pub const MAX_SECRET_FINGERPRINTS: usize = 1 << 16;

/// Wraps a load connection's [`AuthClient`](crate::auth::AuthClient) and
/// records, for every authentication that finishes in secure mode, a
/// fingerprint of its connection secret (the key material of the
/// transport's AES-GCM keys and nonces, reference 4.1) in the counters.
///
/// The fingerprint is the first 8 bytes of HMAC-SHA256 keyed with the
/// secret over a fixed label: a PRF output, so it reveals nothing about the
/// secret, yet two transports share it only if they share the secret. A
/// lossless session that faults reconnects on a new transport with a new
/// AUTH exchange; counting distinct fingerprints shows that each transport
/// got fresh keys (no reuse of keys, hence of GCM nonces, across a fault).
pub struct SecretTally {
    inner: Box<dyn crate::auth::AuthClient>,
    counters: Arc<LoadCounters>,
}

impl SecretTally {
    /// Label of the fingerprint HMAC.
    const LABEL: &'static [u8] = b"pollmsgr bench: connection secret fingerprint";

    /// Wraps `inner`, reporting into `counters`.
    pub fn new(inner: Box<dyn crate::auth::AuthClient>, counters: Arc<LoadCounters>) -> Self {
        SecretTally { inner, counters }
    }

    /// The fingerprint of `secret` (see the type's docs).
    pub fn fingerprint(secret: &[u8]) -> [u8; 8] {
        let mac = crate::crypto::hmac::sign_transcript(secret, Self::LABEL);
        let mut out = [0u8; 8];
        out.copy_from_slice(&mac[..8]);
        out
    }
}

impl crate::auth::AuthClient for SecretTally {
    fn method_and_modes(&self) -> (u32, Vec<ConMode>) {
        self.inner.method_and_modes()
    }

    fn request(&mut self) -> Result<Vec<u8>, crate::auth::AuthError> {
        self.inner.request()
    }

    fn handle_reply_more(&mut self, payload: &[u8]) -> Result<Vec<u8>, crate::auth::AuthError> {
        self.inner.handle_reply_more(payload)
    }

    fn handle_bad_method(
        &mut self,
        method: u32,
        result: i32,
        methods: &[u32],
        modes: &[u32],
    ) -> Result<(), crate::auth::AuthError> {
        self.inner.handle_bad_method(method, result, methods, modes)
    }

    fn handle_done(
        &mut self,
        global_id: u64,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<crate::auth::AuthOutcome, crate::auth::AuthError> {
        let outcome = self.inner.handle_done(global_id, mode, payload)?;
        if mode == ConMode::Secure {
            self.counters
                .secure_auth(Self::fingerprint(&outcome.connection_secret));
        }
        Ok(outcome)
    }

    fn set_modes(&mut self, modes: Vec<ConMode>) -> bool {
        self.inner.set_modes(modes)
    }
}

/// One load generator's settings.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Endpoints to connect to (their exact msgr2 addresses, with nonces).
    pub targets: Vec<EntityAddr>,
    /// Loaded connections this reactor opens (spread over the targets).
    pub conns: usize,
    /// Extra connections kept established but idle (for scaling runs).
    pub idle: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Request payload bytes (data segment).
    pub size: usize,
    /// How long to send new requests.
    pub duration: Duration,
    /// Connection settings (revision, features).
    pub base: ConnectionConfig,
    /// First target index this reactor uses (spreads reactors over targets).
    pub first_target: usize,
    /// Load as this OSD (`osd.N`), a lossless peer that reconnects and
    /// replays after faults, instead of as a lossy client.
    pub peer_osd: Option<u64>,
    /// Dial this socket instead of the target's own (e.g. a fault-injecting
    /// relay); the target address is still what we present.
    pub via: Option<SocketAddr>,
    /// How each connection authenticates (auth none or cephx tickets; the
    /// modes it offers come from here).
    pub auth: ClientAuth,
}

struct ConnLoad {
    inflight: VecDeque<(u64, Instant)>,
    ready: bool,
    idle: bool,
    /// The endpoint it loads (dialed again there if a lossy session is lost).
    target: EntityAddr,
    /// This connection replaces a lost one: it was loaded before.
    redial: bool,
    /// Losses in a row without a session in between (redial backoff).
    failures: u32,
    /// The tid of the `version` probe awaiting its reply, and when it went.
    probe: Option<(u64, Instant)>,
}

/// The app of a load reactor.
pub struct LoadApp {
    cfg: LoadConfig,
    counters: Arc<LoadCounters>,
    payload: Bytes,
    conns: FxHashMap<ConnId, ConnLoad>,
    next_tid: u64,
    deadline: Option<Instant>,
    established: usize,
    /// Sessions still expected to be established before the load starts.
    expected: usize,
    /// Round-trip latency in nanoseconds.
    pub histogram: Histogram<u64>,
    /// The reactor's driver counters, taken when it stops.
    pub driver_stats: DriverStats,
    finished: bool,
    /// Lost lossy sessions to dial again: when, where, idle or loaded, and
    /// the losses in a row so far.
    redials: Vec<Redial>,
    rng: rand::rngs::StdRng,
}

/// A lost lossy session waiting to be dialed again.
#[derive(Debug, Clone, Copy)]
struct Redial {
    at: Instant,
    target: EntityAddr,
    idle: bool,
    failures: u32,
}

/// First and largest wait before dialing a lost lossy session again.
pub const REDIAL_MIN: Duration = Duration::from_millis(50);
/// See [`REDIAL_MIN`].
pub const REDIAL_MAX: Duration = Duration::from_secs(2);

/// How long a lossy client waits before dialing again after `failures`
/// losses in a row: nothing after the first (the reset of a good session;
/// Ceph's lossy clients reconnect on their next send), then [`REDIAL_MIN`]
/// doubling up to [`REDIAL_MAX`], each between half and all of that
/// (jitter, so clients reset together do not return together).
pub fn redial_wait(failures: u32, rng: &mut impl rand::Rng) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let exp = (failures - 2).min(16);
    let nominal = REDIAL_MIN.saturating_mul(1u32 << exp).min(REDIAL_MAX);
    nominal.mul_f64(0.5 + 0.5 * rng.gen::<f64>())
}

impl LoadApp {
    /// A load generator reporting into `counters`.
    pub fn new(cfg: LoadConfig, counters: Arc<LoadCounters>) -> io::Result<Self> {
        let expected = cfg.conns + cfg.idle;
        let histogram = Histogram::new_with_bounds(100, 60_000_000_000, 3)
            .map_err(|e| io::Error::other(format!("histogram: {e}")))?;
        Ok(LoadApp {
            payload: Bytes::from(vec![0x5au8; cfg.size]),
            cfg,
            counters,
            conns: FxHashMap::default(),
            next_tid: 1,
            deadline: None,
            established: 0,
            expected,
            histogram,
            driver_stats: DriverStats::default(),
            finished: false,
            redials: Vec::new(),
            rng: rand::rngs::StdRng::from_entropy(),
        })
    }

    /// Dials `target` with a new connection (a lossless peer's or a lossy
    /// client's, per the config) and records it.
    fn dial<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        target: EntityAddr,
        idle: bool,
        redial: bool,
        now: Instant,
    ) -> io::Result<ConnId> {
        let mut cfg = self.cfg.base.clone();
        cfg.my_type = EntityType::Client;
        cfg.my_nonce = rand::random();
        if let Some(gid) = self.cfg.auth.global_id() {
            cfg.my_gid = i64::try_from(gid).unwrap_or(-1);
        }
        let (policy, auth): (Policy, Box<dyn crate::auth::AuthClient>) = match self.cfg.peer_osd {
            Some(osd) => {
                cfg.my_type = EntityType::Osd;
                cfg.my_gid = i64::try_from(osd).unwrap_or(-1);
                // With cephx the tickets are osd.N's own (the bench's
                // --name), as a peer OSD's would be.
                let auth: Box<dyn crate::auth::AuthClient> = match &self.cfg.auth {
                    ClientAuth::None => Box::new(crate::auth::none::NoneClient::new(
                        EntityType::Osd as u32,
                        &osd.to_string(),
                        0,
                        false,
                    )),
                    cephx => cephx.client(Box::new(rand::rngs::StdRng::from_entropy())),
                };
                // Never standby: bench does not listen, so the endpoint
                // cannot dial back with the replies it still owes (as a
                // peer OSD would). A fault after every request was acked
                // must re-dial at once, as Ceph's lossless_client does.
                let policy = Policy {
                    standby: false,
                    ..Policy::lossless_peer()
                };
                (policy, auth)
            }
            None => (
                Policy::lossy_client(),
                self.cfg
                    .auth
                    .client(Box::new(rand::rngs::StdRng::from_entropy())),
            ),
        };
        let auth = Box::new(SecretTally::new(auth, Arc::clone(&self.counters)));
        let conn = Connection::connect(
            cfg,
            target,
            EntityType::Osd,
            policy,
            auth,
            Box::new(rand::rngs::StdRng::from_entropy()),
            now,
        );
        let sock = match self.cfg.via {
            Some(via) => via,
            None => target_socket(&target)?,
        };
        let id = driver.connect(sock, conn)?;
        self.conns.insert(
            id,
            ConnLoad {
                inflight: VecDeque::new(),
                ready: false,
                idle,
                target,
                probe: None,
                redial,
                failures: 0,
            },
        );
        Ok(id)
    }

    /// A lossy session was lost: its requests in flight are counted lost
    /// and it is dialed again after [`redial_wait`], while the run lasts.
    fn lost_lossy(&mut self, c: ConnLoad, now: Instant) {
        self.counters
            .lost
            .fetch_add(c.inflight.len() as u64, Ordering::Relaxed);
        if c.ready && self.starting() {
            self.established = self.established.saturating_sub(1);
        }
        let failures = c.failures.saturating_add(1);
        self.redials.push(Redial {
            at: now + redial_wait(failures, &mut self.rng),
            target: c.target,
            idle: c.idle,
            failures,
        });
    }

    /// Dials the lost sessions that are due.
    fn redial_due<T: Transport>(&mut self, driver: &mut Driver<T>, now: Instant) {
        if !(self.sending(now) || self.starting()) {
            self.redials.clear();
            return;
        }
        let due: Vec<Redial> = self
            .redials
            .iter()
            .filter(|r| r.at <= now)
            .copied()
            .collect();
        self.redials.retain(|r| r.at > now);
        for r in due {
            match self.dial(driver, r.target, r.idle, true, now) {
                Ok(id) => {
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.failures = r.failures;
                    }
                }
                Err(e) => {
                    self.counters.error(|| format!("dial {}: {e}", r.target));
                    let failures = r.failures.saturating_add(1);
                    self.redials.push(Redial {
                        at: now + redial_wait(failures, &mut self.rng),
                        failures,
                        ..r
                    });
                }
            }
        }
    }

    fn send_one<T: Transport>(&mut self, driver: &mut Driver<T>, id: ConnId, now: Instant) {
        let Some(conn) = driver.conn_mut(id) else {
            return;
        };
        let tid = self.next_tid;
        self.next_tid += 1;
        let mut m = Message::new(POLLMSGR_BENCH_REQUEST, 1, Bytes::new()).with_tid(tid);
        m.data = self.payload.clone();
        conn.send_message(m);
        if let Some(c) = self.conns.get_mut(&id) {
            c.inflight.push_back((tid, now));
        }
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn sending(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now < d)
    }

    /// Starts the load once every session (loaded and idle) is up, so
    /// handshakes do not mix into the measurement.
    fn maybe_start<T: Transport>(&mut self, driver: &mut Driver<T>, now: Instant) {
        if self.deadline.is_some() || self.established < self.expected {
            return;
        }
        self.deadline = Some(now + self.cfg.duration);
        let active: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.idle && c.ready)
            .map(|(id, _)| *id)
            .collect();
        for id in active {
            for _ in 0..self.cfg.depth {
                self.send_one(driver, id, now);
            }
        }
    }

    /// The peer on `conn` did not answer the probe as a pollmsgr endpoint
    /// (e.g. a real ceph-osd): drop the connection and say why (`why`: what
    /// it answered, or that it did not).
    fn not_pollmsgr<T: Transport>(&mut self, driver: &mut Driver<T>, conn: ConnId, why: &str) {
        let peer = driver
            .conn_mut(conn)
            .and_then(|c| c.target().map(ToString::to_string))
            .unwrap_or_default();
        self.counters.error(|| {
            format!(
                "{peer} is not a pollmsgr endpoint ({why}): bench sends \
                 pollmsgr's own message type, which a real ceph-osd cannot decode"
            )
        });
        if let Some(c) = driver.conn_mut(conn) {
            c.mark_down();
        }
        self.conns.remove(&conn);
        self.expected = self.expected.saturating_sub(1);
    }

    /// True while sessions are still being established.
    fn starting(&self) -> bool {
        self.deadline.is_none()
    }
}

fn target_socket(t: &EntityAddr) -> io::Result<SocketAddr> {
    t.addr
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{t} has no IP")))
}

impl<T: Transport + 'static> ReactorApp<T> for LoadApp {
    fn stopped(&mut self, driver: &mut Driver<T>) {
        self.driver_stats = driver.stats();
    }

    fn start(&mut self, driver: &mut Driver<T>, now: Instant) -> io::Result<()> {
        if self.cfg.targets.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no targets"));
        }
        for i in 0..self.cfg.conns + self.cfg.idle {
            let target = self.cfg.targets[(self.cfg.first_target + i) % self.cfg.targets.len()];
            self.dial(driver, target, i >= self.cfg.conns, false, now)?;
        }
        Ok(())
    }

    fn on_event(&mut self, driver: &mut Driver<T>, conn: ConnId, event: Event, now: Instant) {
        match event {
            Event::Established(est) if est.reconnected => {
                // Replayed requests and replies keep flowing; nothing restarts.
                self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            Event::Established(est) => {
                self.counters.sessions.fetch_add(1, Ordering::Relaxed);
                match est.mode {
                    ConMode::Crc => &self.counters.sessions_crc,
                    ConMode::Secure => &self.counters.sessions_secure,
                }
                .fetch_add(1, Ordering::Relaxed);
                if self.cfg.peer_osd.is_none() {
                    let mut redialed = None;
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.ready = true;
                        c.failures = 0;
                        if c.redial {
                            redialed = Some(c.idle);
                        }
                    }
                    self.established += 1;
                    if let Some(idle) = redialed {
                        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                        if !idle && self.sending(now) {
                            for _ in 0..self.cfg.depth {
                                self.send_one(driver, conn, now);
                            }
                        }
                    }
                    self.maybe_start(driver, now);
                    return;
                }
                // Ask what the peer is before sending it our own message type.
                let tid = self.next_tid;
                self.next_tid += 1;
                let probe = MCommand {
                    fsid: [0; 16],
                    cmd: vec![r#"{"prefix": "version", "format": "json"}"#.into()],
                    inbl: Vec::new(),
                };
                if let (Some(c), Some(k)) = (self.conns.get_mut(&conn), driver.conn_mut(conn)) {
                    k.send_message(to_message(&probe, tid));
                    c.probe = Some((tid, now));
                }
            }
            Event::Message(m) if m.ty == COMMAND_REPLY => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                if c.probe.map(|(t, _)| t) != Some(m.tid) {
                    return;
                }
                c.probe = None;
                match from_message::<MCommandReply>(&m) {
                    Ok(r) if r.r == 0 && is_pollmsgr_version(&r.outbl) => {
                        c.ready = true;
                        self.established += 1;
                    }
                    Ok(r) => {
                        let version = String::from_utf8_lossy(&r.outbl).replace(['\n', ' '], "");
                        self.not_pollmsgr(driver, conn, &format!("its version: {version}"));
                    }
                    Err(e) => {
                        self.not_pollmsgr(driver, conn, &format!("its version reply: {e}"));
                    }
                }
                self.maybe_start(driver, now);
            }
            Event::Message(m) if m.ty == POLLMSGR_BENCH_REPLY => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                match c.inflight.pop_front() {
                    Some((tid, sent)) if tid == m.tid => {
                        let ns = now.saturating_duration_since(sent).as_nanos() as u64;
                        let _ = self.histogram.record(ns.max(100));
                        self.counters.completed.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .bytes
                            .fetch_add(self.cfg.size as u64, Ordering::Relaxed);
                    }
                    _ => {
                        self.counters.mismatches.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if self.sending(now) {
                    self.send_one(driver, conn, now);
                }
            }
            // A lossless peer's session lives on: it reconnects and replays.
            Event::Closed {
                reconnect: true,
                error,
            } => self.counters.fault(&error),
            Event::Closed { error, .. } => {
                self.counters.error(|| error.to_string());
                let Some(c) = self.conns.remove(&conn) else {
                    return;
                };
                if self.cfg.peer_osd.is_none() && (c.ready || c.redial) {
                    // A lossy client goes on: count what was lost, dial again.
                    self.lost_lossy(c, now);
                } else if !c.ready {
                    // It will never be established: do not wait for it.
                    self.expected = self.expected.saturating_sub(1);
                    self.maybe_start(driver, now);
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, driver: &mut Driver<T>, now: Instant) {
        // A peer that never answers the probe is not loaded either.
        if self.starting() {
            let silent: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| {
                    c.probe
                        .is_some_and(|(_, t)| now.duration_since(t) > PROBE_TIMEOUT)
                })
                .map(|(id, _)| *id)
                .collect();
            for id in silent {
                let why = format!("no answer to `version` within {PROBE_TIMEOUT:?}");
                self.not_pollmsgr(driver, id, &why);
                self.maybe_start(driver, now);
            }
        }
        self.redial_due(driver, now);
        let pending = !self.conns.is_empty() || !self.redials.is_empty();
        if self.sending(now) || (self.starting() && pending) {
            return;
        }
        let drained = self.conns.values().all(|c| c.inflight.is_empty());
        // Give in-flight replies a grace period after the deadline.
        let grace = self
            .deadline
            .is_some_and(|d| now > d + Duration::from_secs(5));
        if drained || grace || self.conns.is_empty() {
            for id in driver.conn_ids() {
                if let Some(c) = driver.conn_mut(id) {
                    c.mark_down();
                }
            }
            self.finished = true;
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthClient, AuthError, AuthOutcome};
    use rand::rngs::StdRng;
    use zeroize::Zeroizing;

    #[test]
    fn redial_backoff_is_immediate_then_grows_to_the_cap() {
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(redial_wait(1, &mut rng), Duration::ZERO);
        let w2 = redial_wait(2, &mut rng);
        assert!(w2 >= REDIAL_MIN / 2 && w2 <= REDIAL_MIN, "{w2:?}");
        let w3 = redial_wait(3, &mut rng);
        assert!(w3 >= REDIAL_MIN && w3 <= REDIAL_MIN * 2, "{w3:?}");
        let w = redial_wait(40, &mut rng);
        assert!(w >= REDIAL_MAX / 2 && w <= REDIAL_MAX, "{w:?}");
    }

    /// Finishes every exchange with the next of `secrets`.
    struct Scripted {
        secrets: VecDeque<Vec<u8>>,
    }

    impl AuthClient for Scripted {
        fn method_and_modes(&self) -> (u32, Vec<ConMode>) {
            (2, vec![ConMode::Secure, ConMode::Crc])
        }
        fn request(&mut self) -> Result<Vec<u8>, AuthError> {
            Ok(Vec::new())
        }
        fn handle_reply_more(&mut self, _: &[u8]) -> Result<Vec<u8>, AuthError> {
            Ok(Vec::new())
        }
        fn handle_bad_method(
            &mut self,
            _: u32,
            _: i32,
            _: &[u32],
            _: &[u32],
        ) -> Result<(), AuthError> {
            Ok(())
        }
        fn handle_done(
            &mut self,
            global_id: u64,
            _: ConMode,
            _: &[u8],
        ) -> Result<AuthOutcome, AuthError> {
            Ok(AuthOutcome {
                global_id,
                session_key: Zeroizing::new(vec![7; 16]),
                connection_secret: Zeroizing::new(self.secrets.pop_front().unwrap_or_default()),
                peer: None,
            })
        }
    }

    #[test]
    fn secret_tally_counts_secure_auths_and_repeated_secrets() {
        let counters = Arc::new(LoadCounters::default());
        let secrets = [vec![1u8; 64], vec![2u8; 64], vec![1u8; 64], Vec::new()];
        let mut tally = SecretTally::new(
            Box::new(Scripted {
                secrets: secrets.iter().cloned().collect(),
            }),
            Arc::clone(&counters),
        );
        for mode in [
            ConMode::Secure,
            ConMode::Secure,
            ConMode::Secure,
            ConMode::Crc,
        ] {
            tally.handle_done(4, mode, &[]).expect("done");
        }
        // Three secure exchanges (crc ones are not counted); the third
        // reused the first one's secret.
        assert_eq!(counters.secure_auths.load(Ordering::Relaxed), 3);
        assert_eq!(counters.secure_secret_repeats.load(Ordering::Relaxed), 1);
        let a = SecretTally::fingerprint(&secrets[0]);
        assert_eq!(a, SecretTally::fingerprint(&secrets[2]));
        assert_ne!(a, SecretTally::fingerprint(&secrets[1]));
        // Not a prefix of the secret itself.
        assert_ne!(&a[..], &secrets[0][..8]);
    }
}
