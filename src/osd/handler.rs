//! The message handler of one hosted OSD, on its reactor: object ops
//! (MOSDOp → MOSDOpReply on the [`ObjectService`]), `ceph tell` (MCommand →
//! MCommandReply), heartbeats (MOSDPing → PING_REPLY), and the benchmark
//! request; every message first passes the role and caps checks of
//! [`super::auth`].
//!
//! A message that does not decode closes its connection (a Ceph messenger
//! faults a connection whose message fails to decode); a refused or
//! unsupported one is answered with an error where the protocol has one
//! (`-EPERM`, `-EOPNOTSUPP`, `-ENXIO` in the op reply; `-EACCES` in the
//! command reply) and the session stays up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use crossbeam::channel::Receiver;
use serde_json::json;

use super::auth::{classify, role_allows, CapsCache, MessageClass};
use super::heartbeat::Heartbeats;
use super::member::ClusterView;
use super::ops::{execute_ops, OpsOutcome};
use super::tell::{self, OsdStatus};
use crate::msg::command::{MCommand, MCommandReply};
use crate::msg::osd_mon::{ping_op, MOsdPing, SignedSpan};
use crate::msg::osd_op::{flag, EVersion, MOsdOp, MOsdOpReply};
use crate::msg::types::{POLLMSGR_BENCH_REPLY, POLLMSGR_BENCH_REQUEST};
use crate::msg::{from_message, fsid_to_string, to_message};
use crate::osd::store::ObjectService;
use crate::pool::{Handler, Outgoing, Replier};
use crate::proto::{Established, Message};
use crate::wire::errno;
use crate::wire::utime::UTime;

/// Identity of the OSD a handler serves.
#[derive(Debug, Clone, Copy)]
pub struct OsdIdentity {
    /// Our id.
    pub id: u64,
    /// Cluster fsid.
    pub fsid: [u8; 16],
    /// Our UUID.
    pub uuid: [u8; 16],
    /// How often we ping our heartbeat peers (`osd_heartbeat_interval`).
    pub heartbeat_interval: std::time::Duration,
}

/// Counters of one endpoint, for `messenger status` and the summary.
#[derive(Debug, Clone, Default)]
pub struct HandlerStats {
    /// Sessions established, by peer type and mode (`"client/secure"`).
    pub sessions: BTreeMap<String, u64>,
    /// Messages handled, by class.
    pub messages: BTreeMap<&'static str, u64>,
    /// Payload bytes received (front + middle + data).
    pub bytes_in: u64,
    /// Payload bytes of our replies.
    pub bytes_out: u64,
    /// Messages refused by role or caps.
    pub refused: u64,
    /// Messages that did not decode (their connections were closed).
    pub decode_errors: u64,
    /// Ops answered with `-EOPNOTSUPP`.
    pub unsupported: u64,
    /// Replies dropped because the peer was not reading (back-pressure).
    pub replies_dropped: u64,
    /// Connections closed because received bytes failed an integrity check
    /// (crc or AES-GCM tag mismatch: corrupted or tampered with in transit).
    pub integrity_faults: u64,
}

/// Most log lines of one kind an endpoint prints (then it only counts).
const LOG_LIMIT: u64 = 20;

/// A hosted OSD's handler.
pub struct OsdHandler {
    me: OsdIdentity,
    store: Arc<dyn ObjectService>,
    views: Receiver<Arc<ClusterView>>,
    view: Arc<ClusterView>,
    caps: CapsCache,
    stats: HandlerStats,
    started: Instant,
    version: u64,
    logged: u64,
    heartbeats: Heartbeats,
    /// The process's connection counters and memory budget, for `messenger status`.
    guard: Option<Arc<crate::net::guard::Guard>>,
}

impl OsdHandler {
    /// A handler for `me`, storing objects in `store`, learning the cluster
    /// from `views`.
    pub fn new(
        me: OsdIdentity,
        store: Arc<dyn ObjectService>,
        views: Receiver<Arc<ClusterView>>,
    ) -> Self {
        OsdHandler {
            me,
            store,
            views,
            view: Arc::new(ClusterView::default()),
            caps: CapsCache::default(),
            stats: HandlerStats::default(),
            started: Instant::now(),
            version: 0,
            logged: 0,
            heartbeats: Heartbeats::new(me.heartbeat_interval),
            guard: None,
        }
    }

    /// Reports `guard`'s counters (closed, refused and failed connections by
    /// reason; the memory budget) in `ceph tell osd.N messenger status`.
    pub fn with_guard(mut self, guard: Arc<crate::net::guard::Guard>) -> Self {
        self.guard = Some(guard);
        self
    }

    fn drain_views(&mut self) {
        while let Ok(v) = self.views.try_recv() {
            self.view = v;
        }
    }

    fn mono_now(&self) -> SignedSpan {
        SignedSpan::from_nanos(i64::try_from(self.started.elapsed().as_nanos()).unwrap_or(i64::MAX))
    }

    /// Counters so far.
    pub fn stats(&self) -> &HandlerStats {
        &self.stats
    }

    fn log(&mut self, line: std::fmt::Arguments<'_>) {
        if self.logged < LOG_LIMIT {
            self.logged += 1;
            eprintln!("osd.{}: {line}", self.me.id);
        }
    }

    fn count(&mut self, what: &'static str) {
        *self.stats.messages.entry(what).or_default() += 1;
    }

    fn send(&mut self, reply: &mut Replier<'_>, m: Message) {
        let n = (m.front.len() + m.middle.len() + m.data.len()) as u64;
        if reply.send(m) {
            self.stats.bytes_out += n;
        } else {
            self.stats.replies_dropped += 1;
        }
    }

    fn status(&self) -> OsdStatus {
        let s = &self.stats;
        OsdStatus {
            cluster_fsid: fsid_to_string(&self.me.fsid),
            osd_fsid: fsid_to_string(&self.me.uuid),
            whoami: self.me.id,
            newest_map: self.view.epoch,
            messenger: json!({
                "sessions": s.sessions,
                "messages": s.messages,
                "bytes_in": s.bytes_in,
                "bytes_out": s.bytes_out,
                "refused": s.refused,
                "decode_errors": s.decode_errors,
                "unsupported_ops": s.unsupported,
                "replies_dropped": s.replies_dropped,
                "integrity_faults": s.integrity_faults,
                "osdmap_epoch": self.view.epoch,
                "heartbeat": self.heartbeats.report(Instant::now()),
                "connections": self.guard.as_ref().map(|g| g.report()),
            }),
        }
    }

    fn handle_op(&mut self, msg: &Message, reply: &mut Replier<'_>) {
        self.count("osd_op");
        let req = match MOsdOp::from_message(msg) {
            Ok(r) => r,
            Err(e) => return self.bad_message(msg, &e, reply),
        };
        let epoch = self.view.epoch.max(req.osdmap_epoch);
        let caps = self
            .caps
            .caps_of(reply.peer().and_then(|p| p.peer_auth.as_ref()));
        let outcome = execute_ops(
            &req,
            &*self.store,
            &self.view,
            &caps,
            UTime::from_system(SystemTime::now()),
        );
        let (result, results) = match outcome {
            OpsOutcome::Done { result, ops } => (result, ops),
            OpsOutcome::Refused { errno: e, why } => {
                self.stats.refused += 1;
                let who = peer_text(reply);
                self.log(format_args!("refused op from {who}: {why}"));
                (-e, Vec::new())
            }
            OpsOutcome::Unsupported { code } => {
                self.stats.unsupported += 1;
                let who = peer_text(reply);
                self.log(format_args!(
                    "unsupported op {} from {who}",
                    crate::msg::osd_op::op_name(code),
                ));
                (-errno::EOPNOTSUPP, Vec::new())
            }
        };
        let mut r = MOsdOpReply::for_request(&req, result, epoch, flag::ACK | flag::ONDISK);
        let keep_out = result >= 0 && (!req.may_write() || req.flags & flag::RETURNVEC != 0);
        for (op, (rval, out)) in r.ops.iter_mut().zip(results) {
            op.rval = rval;
            if keep_out || result < 0 && rval < 0 {
                op.outdata = out;
            }
        }
        self.version += 1;
        let v = EVersion {
            epoch,
            version: self.version,
        };
        if result == -errno::ENOENT {
            r.set_enoent_reply_versions(v, 0);
        } else {
            r.set_reply_versions(v, self.version);
        }
        let m = r.to_message(msg.tid);
        self.send(reply, m);
    }

    fn handle_command(&mut self, msg: &Message, reply: &mut Replier<'_>) {
        self.count("command");
        let cmd: MCommand = match from_message(msg) {
            Ok(c) => c,
            Err(e) => return self.bad_message(msg, &e, reply),
        };
        let out = tell::run(&cmd.cmd, &self.status());
        let r = MCommandReply {
            r: out.r,
            rs: out.rs,
            outbl: out.out,
        };
        let m = to_message(&r, msg.tid);
        self.send(reply, m);
    }

    fn handle_ping(&mut self, msg: &Message, reply: &mut Replier<'_>) {
        self.count("osd_ping");
        let ping: MOsdPing = match from_message(msg) {
            Ok(p) => p,
            Err(e) => return self.bad_message(msg, &e, reply),
        };
        // A ceph-osd ignores pings from another cluster.
        if ping.fsid != self.me.fsid {
            return;
        }
        match ping.op {
            ping_op::PING => {}
            ping_op::PING_REPLY => {
                self.heartbeats.on_reply(&ping, Instant::now());
                return;
            }
            ping_op::YOU_DIED => {
                let who = peer_text(reply);
                self.log(format_args!("{who} says we are down in its map (YOU_DIED)"));
                return;
            }
            _ => return,
        }
        let mono = self.mono_now();
        let r = ping.reply_to(
            self.view.epoch,
            self.view.epoch,
            mono,
            ping.min_message_size,
        );
        let m = to_message(&r, msg.tid);
        self.send(reply, m);
    }

    fn bad_message(
        &mut self,
        msg: &Message,
        e: &crate::wire::DecodeError,
        reply: &mut Replier<'_>,
    ) {
        self.stats.decode_errors += 1;
        let who = peer_text(reply);
        self.log(format_args!(
            "closing the session with {who}: {} did not decode: {e}",
            crate::msg::types::type_name(msg.ty)
        ));
        reply.mark_down();
    }

    fn refuse(&mut self, msg: &Message, class: MessageClass, reply: &mut Replier<'_>) {
        self.stats.refused += 1;
        let who = peer_text(reply);
        self.log(format_args!(
            "refused {} from {who}: its role may not send it",
            crate::msg::types::type_name(msg.ty)
        ));
        match class {
            MessageClass::ObjectOp => {
                if let Ok(req) = MOsdOp::from_message(msg) {
                    let r = MOsdOpReply::for_request(
                        &req,
                        -errno::EPERM,
                        self.view.epoch,
                        flag::ACK | flag::ONDISK,
                    );
                    let m = r.to_message(msg.tid);
                    self.send(reply, m);
                }
            }
            MessageClass::Command => {
                let r = MCommandReply {
                    r: -errno::EACCES,
                    rs: "access denied".into(),
                    outbl: Vec::new(),
                };
                let m = to_message(&r, msg.tid);
                self.send(reply, m);
            }
            // Heartbeats and peer messages have no error reply.
            _ => {}
        }
    }
}

impl Handler for OsdHandler {
    fn handle_message(&mut self, msg: Message, reply: &mut Replier<'_>) {
        self.drain_views();
        self.stats.bytes_in += (msg.front.len() + msg.middle.len() + msg.data.len()) as u64;
        // Only the peer's type is read on every message (no copy of the session).
        let Some(peer_type) = reply.peer().map(|p| p.peer_name.ty) else {
            return;
        };
        let class = classify(msg.ty);
        if !role_allows(peer_type, class) {
            return self.refuse(&msg, class, reply);
        }
        match class {
            MessageClass::ObjectOp => self.handle_op(&msg, reply),
            MessageClass::Command => self.handle_command(&msg, reply),
            MessageClass::Heartbeat => self.handle_ping(&msg, reply),
            MessageClass::Bench if msg.ty == POLLMSGR_BENCH_REQUEST => {
                self.count("bench");
                let r = Message::new(POLLMSGR_BENCH_REPLY, 1, Bytes::new()).with_tid(msg.tid);
                self.send(reply, r);
            }
            _ => {
                self.count("other");
                let who = peer_text(reply);
                self.log(format_args!(
                    "ignored {} from {who}",
                    crate::msg::types::type_name(msg.ty),
                ));
            }
        }
    }

    fn poll_outgoing(&mut self, now: Instant, out: &mut Vec<Outgoing>) {
        self.drain_views();
        let mono = self.mono_now();
        self.heartbeats
            .due(now, mono, self.me.fsid, &self.view, out);
    }

    fn report(&self) -> serde_json::Value {
        self.status().messenger
    }

    fn closed(&mut self, error: &crate::proto::ConnError, _reconnect: bool) {
        if error.is_integrity_failure() {
            self.stats.integrity_faults += 1;
            self.log(format_args!("closed a connection: {error}"));
        }
    }

    fn established(&mut self, est: &Established) {
        let key = format!("{}/{:?}", est.peer_name.ty.name(), est.mode).to_lowercase();
        *self.stats.sessions.entry(key).or_default() += 1;
    }
}

/// Who sent the message on `reply`'s session, for the log (made only when
/// a line is logged).
fn peer_text(reply: &Replier<'_>) -> String {
    match reply.peer() {
        Some(Established {
            peer_auth: Some(a),
            peer_addrs,
            ..
        }) => format!("{} ({peer_addrs})", a.entity),
        Some(p) => format!("{} ({})", p.peer_name, p.peer_addrs),
        None => "a closed session".into(),
    }
}
