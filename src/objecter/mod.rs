//! The client side of RADOS (design: "objecter"; Ceph's `osdc/Objecter.cc`):
//! object requests become MOSDOps sent to the primary OSD of the object's PG
//! over lossy client sessions, and their MOSDOpReplies become completions.
//!
//! What it keeps for each op in flight is what it needs to send it again:
//! - when the osdmap moves the op's PG to another primary (or the primary's
//!   address changes), it is resent to the new primary;
//! - when the session to its OSD resets (lossy: nothing is replayed), it is
//!   resent on a new session;
//! - on `-EAGAIN` or a redirect it is resent (to the redirect's locator);
//! - a request whose PG has no up primary waits for the next map.
//!
//! Every op completes once: replies from a session the op no longer uses,
//! or for tids that are not in flight, are counted and dropped (the OSD's
//! pg log answers a resent write with the first result, so the client never
//! sees it applied twice). Each op has a timeout, and the objecter takes new
//! requests only under its ops and bytes budgets.
//!
//! It runs on a reactor: the application calls [`Objecter::submit`], feeds
//! it the driver's events ([`Objecter::handle_event`]), new maps
//! ([`Objecter::handle_map`]) and ticks ([`Objecter::handle_tick`]), and
//! takes [`Completion`]s from [`Objecter::poll_completion`].

pub mod app;
pub mod maps;
mod op;
pub mod turns;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rustc_hash::FxHashMap;

use crate::msg::osd_op::{flag, MOsdOp, MOsdOpReply, ObjectLocator, PgId, ReqId, SpgId};
use crate::msg::types;
use crate::net::transport::Transport;
use crate::pool::auth::ClientAuth;
use crate::proto::{Connection, ConnectionConfig, Event, Policy};
use crate::reactor::driver::{ConnId, Driver};
use crate::wire::addr::EntityAddr;
use crate::wire::entity::EntityType;

pub use op::{Completion, ObjectRequest, OpError, OpReply};

/// Where a request goes under one osdmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpTarget {
    /// The PG (pool and seed after `stable_mod`).
    pub pgid: PgId,
    /// The object's full hash (for PG ops: the PG seed).
    pub hash: u32,
    /// The acting primary, or -1 if the PG has none up.
    pub primary: i32,
    /// The primary's msgr2 address (its public addrvec's v2 entry).
    pub addr: Option<EntityAddr>,
}

/// The part of the osdmap the objecter needs: where requests go.
pub trait Placement: Send + Sync {
    /// The map's epoch (sent in every MOSDOp).
    fn epoch(&self) -> u32;
    /// Where object `oid` under `locator` goes; `None` if the pool does not exist.
    fn target_object(&self, locator: &ObjectLocator, oid: &[u8]) -> Option<OpTarget>;
    /// Where a PG op on `pg` goes; `None` if the pool does not exist.
    fn target_pg(&self, pg: PgId) -> Option<OpTarget>;
}

/// The objecter's settings.
#[derive(Clone)]
pub struct ObjecterConfig {
    /// Connection settings (type client; features, revision, timeouts).
    pub base: ConnectionConfig,
    /// How sessions to OSDs authenticate (cephx OSD tickets or none).
    pub auth: ClientAuth,
    /// Our global id (the HELLO gid and the client name's number).
    pub global_id: u64,
    /// Ops in flight at most.
    pub max_ops: usize,
    /// Payload bytes in flight at most (one larger op is let through alone).
    pub max_bytes: usize,
    /// An op without a reply after this long completes with [`OpError::TimedOut`].
    pub op_timeout: Duration,
    /// Sends per op at most before [`OpError::TooManyAttempts`] (failing
    /// dials are spaced by the redial backoff, so the op timeout normally
    /// ends a hopeless op first).
    pub max_attempts: u32,
    /// Wait this long before dialing an OSD again after a failed dial.
    pub redial_delay: Duration,
    /// The first tid to use. An OSD recognises a resent write by its
    /// request id (our name, incarnation and tid) and answers it from its
    /// PG log without applying it again, so a client that runs several
    /// objecters under one global id must never reuse a tid: each starts
    /// where the last one stopped ([`Objecter::next_tid`]).
    pub first_tid: u64,
}

impl ObjecterConfig {
    /// Defaults in the spirit of Ceph's (`objecter_inflight_ops` 1024,
    /// `objecter_inflight_op_bytes` 100 MiB; `rados_osd_op_timeout` is 0 =
    /// none in Ceph, here 30 s so a lost op is reported).
    pub fn new(base: ConnectionConfig, auth: ClientAuth, global_id: u64) -> Self {
        ObjecterConfig {
            base,
            auth,
            global_id,
            max_ops: 1024,
            max_bytes: 100 << 20,
            op_timeout: Duration::from_secs(30),
            max_attempts: 10_000,
            redial_delay: Duration::from_millis(100),
            first_tid: 1,
        }
    }
}

/// What the objecter counted (for reports and tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ObjecterStats {
    /// Requests submitted.
    pub submitted: u64,
    /// Requests completed with a reply.
    pub replied: u64,
    /// Requests completed with an [`OpError`].
    pub failed: u64,
    /// Sends after the first (all causes).
    pub resends: u64,
    /// Resends because a new map moved the op.
    pub map_resends: u64,
    /// Resends because the OSD session reset.
    pub reset_resends: u64,
    /// Resends on `-EAGAIN` or a redirect.
    pub eagain_resends: u64,
    /// OSD sessions established.
    pub sessions: u64,
    /// OSD sessions that closed under us.
    pub session_resets: u64,
    /// Replies for tids not in flight (already completed or never sent).
    pub unknown_replies: u64,
    /// Replies from a session the op no longer uses.
    pub stale_replies: u64,
    /// Maps applied.
    pub maps: u64,
}

impl ObjecterStats {
    /// What was counted since `earlier` (a snapshot of the same objecter):
    /// one run's share of a long-lived objecter's counters.
    pub fn since(&self, earlier: &ObjecterStats) -> ObjecterStats {
        let d = |now: u64, then: u64| now.saturating_sub(then);
        ObjecterStats {
            submitted: d(self.submitted, earlier.submitted),
            replied: d(self.replied, earlier.replied),
            failed: d(self.failed, earlier.failed),
            resends: d(self.resends, earlier.resends),
            map_resends: d(self.map_resends, earlier.map_resends),
            reset_resends: d(self.reset_resends, earlier.reset_resends),
            eagain_resends: d(self.eagain_resends, earlier.eagain_resends),
            sessions: d(self.sessions, earlier.sessions),
            session_resets: d(self.session_resets, earlier.session_resets),
            unknown_replies: d(self.unknown_replies, earlier.unknown_replies),
            stale_replies: d(self.stale_replies, earlier.stale_replies),
            maps: d(self.maps, earlier.maps),
        }
    }
}

struct InFlight {
    req: ObjectRequest,
    token: u64,
    submitted: Instant,
    /// Sends so far.
    attempts: u32,
    /// Where it was last sent, and on which connection.
    sent_to: Option<(OpTarget, ConnId)>,
    bytes: usize,
}

struct OsdSession {
    conn: ConnId,
    addr: EntityAddr,
    tids: BTreeSet<u64>,
    established: bool,
}

/// After a session to an OSD address fails before or after it was
/// established, ops for it wait this long (doubling per failure up to
/// [`MAX_REDIAL_DELAY`]) instead of dialing a dead OSD in a loop; a new map
/// ends the wait at once.
struct Redial {
    addr: EntityAddr,
    not_before: Instant,
    delay: Duration,
}

/// Longest wait between dials of a failing OSD.
pub const MAX_REDIAL_DELAY: Duration = Duration::from_secs(2);

/// The client side of RADOS on one reactor (see the module docs).
pub struct Objecter {
    cfg: ObjecterConfig,
    map: Option<Arc<dyn Placement>>,
    // Keys are our own tids and connection ids and the OSD ids of the
    // osdmap, none chosen by an OSD peer: hashed for speed (Fx), not
    // against flooding.
    ops: FxHashMap<u64, InFlight>,
    sessions: FxHashMap<i32, OsdSession>,
    conn_osd: FxHashMap<ConnId, i32>,
    /// OSDs whose last session failed, by id.
    redial: FxHashMap<i32, Redial>,
    /// Ops with no primary to go to (no map, PG down, or a failed dial).
    homeless: BTreeSet<u64>,
    /// When homeless ops are tried again without a new map.
    retry_homeless_at: Option<Instant>,
    /// No op times out before this (the oldest op's deadline when last
    /// looked): ticks run after every poll, and a busy-polling reactor
    /// polls millions of times a second, so the ops are not scanned each time.
    next_expiry: Option<Instant>,
    completions: VecDeque<Completion>,
    next_tid: u64,
    bytes_in_flight: usize,
    stats: ObjecterStats,
}

impl Objecter {
    /// An objecter with no map yet (requests wait for the first).
    pub fn new(cfg: ObjecterConfig) -> Self {
        let first_tid = cfg.first_tid.max(1);
        Objecter {
            cfg,
            map: None,
            ops: FxHashMap::default(),
            sessions: FxHashMap::default(),
            conn_osd: FxHashMap::default(),
            redial: FxHashMap::default(),
            homeless: BTreeSet::new(),
            retry_homeless_at: None,
            next_expiry: None,
            completions: VecDeque::new(),
            next_tid: first_tid,
            bytes_in_flight: 0,
            stats: ObjecterStats::default(),
        }
    }

    /// What it counted so far.
    pub fn stats(&self) -> ObjecterStats {
        self.stats
    }

    /// The tid the next request will get (where a later objecter of the
    /// same client must start: see [`ObjecterConfig::first_tid`]).
    pub fn next_tid(&self) -> u64 {
        self.next_tid
    }

    /// Ops in flight.
    pub fn in_flight(&self) -> usize {
        self.ops.len()
    }

    /// The epoch of the current map (0 before the first).
    pub fn epoch(&self) -> u32 {
        self.map.as_ref().map_or(0, |m| m.epoch())
    }

    /// True if a request of `bytes` payload bytes would be taken now.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.ops.len() < self.cfg.max_ops
            && (self.ops.is_empty() || self.bytes_in_flight + bytes <= self.cfg.max_bytes)
    }

    /// Submits `req`; `token` comes back in its [`Completion`]. Returns the
    /// request unsent if it is over the ops or bytes budget.
    pub fn submit<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        req: ObjectRequest,
        token: u64,
        now: Instant,
    ) -> Result<u64, Box<ObjectRequest>> {
        let bytes = req.data_len();
        if !self.has_room(bytes) {
            return Err(Box::new(req));
        }
        let tid = self.next_tid;
        self.next_tid += 1;
        self.bytes_in_flight += bytes;
        self.ops.insert(
            tid,
            InFlight {
                req,
                token,
                submitted: now,
                attempts: 0,
                sent_to: None,
                bytes,
            },
        );
        self.stats.submitted += 1;
        let deadline = now + self.cfg.op_timeout;
        self.next_expiry = Some(self.next_expiry.map_or(deadline, |t| t.min(deadline)));
        self.send(driver, tid, now);
        Ok(tid)
    }

    /// The next finished request.
    pub fn poll_completion(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    /// A new map: ops whose target changed (or that had none) are resent.
    pub fn handle_map<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        map: Arc<dyn Placement>,
        now: Instant,
    ) {
        if map.epoch() < self.epoch() {
            return;
        }
        self.map = Some(map);
        self.stats.maps += 1;
        // The map may have a new address or state for a failing OSD: try now.
        self.redial.clear();
        let mut tids: Vec<u64> = self.ops.keys().copied().collect();
        tids.sort_unstable();
        for tid in tids {
            let Some(op) = self.ops.get(&tid) else {
                continue;
            };
            let now_target = self.target_of(&op.req);
            let changed = match (&op.sent_to, now_target) {
                (Some((old, _)), Some(new)) => old.primary != new.primary || old.addr != new.addr,
                _ => true,
            };
            if changed {
                if op.sent_to.is_some() {
                    self.stats.map_resends += 1;
                }
                self.send(driver, tid, now);
            }
        }
    }

    /// Handles an event of one of the driver's connections. Returns false if
    /// the connection is not one of the objecter's.
    pub fn handle_event<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        conn: ConnId,
        event: Event,
        now: Instant,
    ) -> bool {
        let Some(&osd) = self.conn_osd.get(&conn) else {
            return false;
        };
        match event {
            Event::Established(_) => {
                self.stats.sessions += 1;
                self.redial.remove(&osd);
                if let Some(s) = self.sessions.get_mut(&osd).filter(|s| s.conn == conn) {
                    s.established = true;
                }
            }
            Event::Message(m) if m.ty == types::OSD_OPREPLY => {
                self.handle_reply(driver, conn, osd, &m, now)
            }
            Event::Closed { .. } => {
                self.stats.session_resets += 1;
                self.conn_osd.remove(&conn);
                let tids = match self.sessions.get(&osd) {
                    Some(s) if s.conn == conn => {
                        let s = self.sessions.remove(&osd);
                        let (addr, established) = s
                            .as_ref()
                            .map_or((None, false), |s| (Some(s.addr), s.established));
                        if let Some(addr) = addr {
                            self.note_failure(osd, addr, established, now);
                        }
                        s.map(|s| s.tids).unwrap_or_default()
                    }
                    _ => BTreeSet::new(),
                };
                for tid in tids {
                    self.stats.reset_resends += 1;
                    self.send(driver, tid, now);
                }
            }
            _ => {}
        }
        true
    }

    /// Times ops out and retries homeless ones; call after every poll.
    pub fn handle_tick<T: Transport>(&mut self, driver: &mut Driver<T>, now: Instant) {
        let timeout = self.cfg.op_timeout;
        if self.next_expiry.is_some_and(|t| now > t) {
            let expired: Vec<u64> = self
                .ops
                .iter()
                .filter(|(_, op)| now.saturating_duration_since(op.submitted) > timeout)
                .map(|(tid, _)| *tid)
                .collect();
            for tid in expired {
                self.complete(tid, Err(OpError::TimedOut(timeout)));
            }
            // Completions only make the oldest deadline later: finding it
            // again here is enough.
            self.next_expiry = self.ops.values().map(|op| op.submitted + timeout).min();
        }
        if self.retry_homeless_at.is_some_and(|t| now >= t) {
            self.retry_homeless_at = None;
            let tids: Vec<u64> = self.homeless.iter().copied().collect();
            for tid in tids {
                self.send(driver, tid, now);
            }
        }
    }

    /// Fails every op in flight with [`OpError::Shutdown`] and closes every
    /// session.
    pub fn shutdown<T: Transport>(&mut self, driver: &mut Driver<T>) {
        let tids: Vec<u64> = self.ops.keys().copied().collect();
        for tid in tids {
            self.complete(tid, Err(OpError::Shutdown));
        }
        let osds: Vec<i32> = self.sessions.keys().copied().collect();
        for osd in osds {
            self.close_session(driver, osd);
        }
    }

    fn handle_reply<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        conn: ConnId,
        osd: i32,
        m: &crate::proto::Message,
        now: Instant,
    ) {
        let Some(op) = self.ops.get(&m.tid) else {
            self.stats.unknown_replies += 1;
            return;
        };
        if op.sent_to.map(|(_, c)| c) != Some(conn) {
            self.stats.stale_replies += 1;
            return;
        }
        let sent = op.req.ops.len();
        let reply = match MOsdOpReply::from_message(m) {
            Ok(r) => r,
            Err(e) => {
                let why = e.to_string();
                self.complete(m.tid, Err(OpError::BadReply { osd, why }));
                return;
            }
        };
        if reply.ops.len() != sent {
            let got = reply.ops.len();
            self.complete(m.tid, Err(OpError::OpCountMismatch { osd, sent, got }));
            return;
        }
        if let Some(redirect) = reply.redirect {
            if let Some(op) = self.ops.get_mut(&m.tid) {
                op.req.locator = redirect.locator;
                if !redirect.object.is_empty() {
                    op.req.oid = redirect.object;
                }
                op.req.extra_flags |= flag::REDIRECTED;
            }
            self.stats.eagain_resends += 1;
            self.send(driver, m.tid, now);
            return;
        }
        if reply.result == -crate::wire::errno::EAGAIN {
            self.stats.eagain_resends += 1;
            self.send(driver, m.tid, now);
            return;
        }
        let out = OpReply {
            result: reply.result,
            ops: reply.ops,
            user_version: reply.user_version,
            epoch: reply.osdmap_epoch,
            osd,
        };
        self.complete(m.tid, Ok(out));
    }

    /// Removes `tid` from flight and queues its completion.
    fn complete(&mut self, tid: u64, result: Result<OpReply, OpError>) {
        let Some(op) = self.ops.remove(&tid) else {
            return;
        };
        self.homeless.remove(&tid);
        if let Some((target, _)) = op.sent_to {
            if let Some(s) = self.sessions.get_mut(&target.primary) {
                s.tids.remove(&tid);
            }
        }
        self.bytes_in_flight -= op.bytes;
        match result {
            Ok(_) => self.stats.replied += 1,
            Err(_) => self.stats.failed += 1,
        }
        self.completions.push_back(Completion {
            token: op.token,
            tid,
            submitted: op.submitted,
            attempts: op.attempts,
            result,
        });
    }

    fn target_of(&self, req: &ObjectRequest) -> Option<OpTarget> {
        let map = self.map.as_ref()?;
        match req.pg {
            Some(pg) => map.target_pg(pg),
            None => map.target_object(&req.locator, &req.oid),
        }
    }

    /// Sends (or resends) op `tid` to its primary under the current map.
    fn send<T: Transport>(&mut self, driver: &mut Driver<T>, tid: u64, now: Instant) {
        let Some(op) = self.ops.get(&tid) else {
            return;
        };
        if let Some((old, _)) = op.sent_to {
            if let Some(s) = self.sessions.get_mut(&old.primary) {
                s.tids.remove(&tid);
            }
        }
        if op.attempts >= self.cfg.max_attempts {
            let n = op.attempts;
            self.complete(tid, Err(OpError::TooManyAttempts(n)));
            return;
        }
        if self.map.is_none() {
            self.park(tid, None);
            return;
        }
        let target = match self.target_of(&op.req) {
            Some(t) => t,
            None => {
                let pool = op.req.locator.pool;
                self.complete(tid, Err(OpError::NoPool(pool)));
                return;
            }
        };
        let Some(addr) = target.addr.filter(|_| target.primary >= 0) else {
            // No primary up: wait for a map that has one.
            self.park(tid, None);
            return;
        };
        if let Some(r) = self.redial.get(&target.primary) {
            if r.addr == addr && now < r.not_before {
                let at = r.not_before;
                self.park(tid, Some(at));
                return;
            }
        }
        let Some(conn) = self.session(driver, target.primary, addr, now) else {
            self.park(tid, Some(now + self.cfg.redial_delay));
            return;
        };
        let epoch = self.epoch();
        let Some(op) = self.ops.get_mut(&tid) else {
            return;
        };
        let mut flags = op.req.flags();
        if op.attempts > 0 {
            flags |= flag::RETRY;
        }
        // The request lends its name and ops to the message while it is
        // encoded (they go back right after): no copy of either per send.
        let mut msg = MOsdOp {
            spgid: SpgId {
                pgid: target.pgid,
                ..SpgId::default()
            },
            hash: target.hash,
            osdmap_epoch: epoch,
            flags,
            reqid: ReqId::default(),
            client_inc: 0,
            mtime: op.req.mtime,
            locator: op.req.locator.clone(),
            oid: std::mem::take(&mut op.req.oid),
            ops: std::mem::take(&mut op.req.ops),
            retry_attempt: i32::try_from(op.attempts).unwrap_or(i32::MAX),
            features: self.cfg.base.features_supported,
            ..MOsdOp::default()
        };
        if op.attempts > 0 {
            self.stats.resends += 1;
        }
        op.attempts += 1;
        op.sent_to = Some((target, conn));
        self.homeless.remove(&tid);
        if let Some(s) = self.sessions.get_mut(&target.primary) {
            s.tids.insert(tid);
        }
        let message = msg.to_message(tid);
        op.req.oid = std::mem::take(&mut msg.oid);
        op.req.ops = std::mem::take(&mut msg.ops);
        if let Some(c) = driver.conn_mut(conn) {
            c.send_message(message);
        }
    }

    /// Records that the session to `osd` at `addr` failed: the first
    /// failure of an established session redials at once (a lossy reset),
    /// repeated failures wait longer each time.
    fn note_failure(&mut self, osd: i32, addr: EntityAddr, established: bool, now: Instant) {
        let delay = match self.redial.get(&osd) {
            Some(r) if r.addr == addr => (r.delay * 2).min(MAX_REDIAL_DELAY),
            _ if established => Duration::ZERO,
            _ => self.cfg.redial_delay,
        };
        let next = if delay.is_zero() {
            self.cfg.redial_delay
        } else {
            delay
        };
        self.redial.insert(
            osd,
            Redial {
                addr,
                not_before: now + delay,
                delay: next,
            },
        );
    }

    fn park(&mut self, tid: u64, retry_at: Option<Instant>) {
        if let Some(op) = self.ops.get_mut(&tid) {
            op.sent_to = None;
        }
        self.homeless.insert(tid);
        if let Some(at) = retry_at {
            self.retry_homeless_at = Some(self.retry_homeless_at.map_or(at, |t| t.min(at)));
        }
    }

    /// The connection to `osd` at `addr`, dialing it if needed.
    fn session<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        osd: i32,
        addr: EntityAddr,
        now: Instant,
    ) -> Option<ConnId> {
        match self.sessions.get(&osd) {
            Some(s) if s.addr == addr && driver.conn_mut(s.conn).is_some() => return Some(s.conn),
            Some(_) => self.close_session(driver, osd),
            None => {}
        }
        let sock = addr.addr?;
        let mut cfg = self.cfg.base.clone();
        cfg.my_type = EntityType::Client;
        cfg.my_nonce = rand::random();
        cfg.my_gid = i64::try_from(self.cfg.global_id).unwrap_or(-1);
        let conn = Connection::connect(
            cfg,
            addr,
            EntityType::Osd,
            Policy::lossy_client(),
            self.cfg
                .auth
                .client(Box::new(rand::rngs::StdRng::from_entropy())),
            Box::new(rand::rngs::StdRng::from_entropy()),
            now,
        );
        let id = driver.connect(sock, conn).ok()?;
        self.conn_osd.insert(id, osd);
        self.sessions.insert(
            osd,
            OsdSession {
                conn: id,
                addr,
                tids: BTreeSet::new(),
                established: false,
            },
        );
        Some(id)
    }

    /// Marks the session to `osd` down; its ops stay in flight and are
    /// resent by the caller (map change) or by their timeout.
    fn close_session<T: Transport>(&mut self, driver: &mut Driver<T>, osd: i32) {
        if let Some(s) = self.sessions.remove(&osd) {
            self.conn_osd.remove(&s.conn);
            if let Some(c) = driver.conn_mut(s.conn) {
                c.mark_down();
            }
            driver.remove(s.conn);
        }
    }
}
