//! Heartbeats a hosted OSD sends: every interval, a PING to the back and
//! front heartbeat address of each peer in the [`ClusterView`] (as
//! `OSD::heartbeat` does), over lossy sessions the pool dials with the OSD's
//! own cephx tickets; replies are matched by their echoed `ping_stamp` and
//! counted per peer for the status output.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::member::ClusterView;
use crate::msg::osd_mon::{ping_op, MOsdPing, SignedSpan, OSD_HEARTBEAT_MIN_SIZE_DEFAULT};
use crate::msg::to_message;
use crate::pool::Outgoing;
use crate::wire::entity::EntityType;
use crate::wire::utime::UTime;

/// Pings awaiting a reply at most (older ones are forgotten first).
const MAX_OUTSTANDING: usize = 1024;

/// What one peer answered.
#[derive(Debug, Clone, Default)]
struct PeerStats {
    pings: u64,
    replies: u64,
    last_rtt: Option<Duration>,
    last_reply: Option<Instant>,
}

/// The heartbeat state of one endpoint.
#[derive(Debug)]
pub struct Heartbeats {
    interval: Duration,
    next: Option<Instant>,
    /// ping_stamp → (peer id, when sent).
    outstanding: HashMap<(u32, u32), (u32, Instant)>,
    peers: BTreeMap<u32, PeerStats>,
    seq: u32,
}

impl Heartbeats {
    /// Pings every `interval` (Ceph's `osd_heartbeat_interval`, 6 s).
    pub fn new(interval: Duration) -> Self {
        Heartbeats {
            interval,
            next: None,
            outstanding: HashMap::new(),
            peers: BTreeMap::new(),
            seq: 0,
        }
    }

    /// The pings due at `now` to the peers of `view`, from an OSD of
    /// cluster `fsid`; `mono` is our monotonic clock.
    pub fn due(
        &mut self,
        now: Instant,
        mono: SignedSpan,
        fsid: [u8; 16],
        view: &ClusterView,
        out: &mut Vec<Outgoing>,
    ) {
        if self.next.is_some_and(|t| now < t) || view.heartbeat_peers.is_empty() {
            return;
        }
        self.next = Some(now + self.interval);
        if self.outstanding.len() > MAX_OUTSTANDING {
            let cutoff = now.checked_sub(self.interval * 4).unwrap_or(now);
            self.outstanding.retain(|_, (_, t)| *t >= cutoff);
            if self.outstanding.len() > MAX_OUTSTANDING {
                self.outstanding.clear();
            }
        }
        let wall = UTime::from_system(std::time::SystemTime::now());
        for p in &view.heartbeat_peers {
            for to in [p.back, p.front] {
                // A stamp unique per ping: wall-clock seconds, and our own
                // sequence in the nanoseconds field's place (echoed as is).
                self.seq = self.seq.wrapping_add(1);
                let stamp = UTime {
                    sec: wall.sec,
                    nsec: self.seq % 1_000_000_000,
                };
                let ping = MOsdPing {
                    fsid,
                    map_epoch: view.epoch,
                    op: ping_op::PING,
                    ping_stamp: stamp,
                    mono_ping_stamp: mono,
                    mono_send_stamp: mono,
                    delta_ub: None,
                    up_from: view.epoch,
                    min_message_size: OSD_HEARTBEAT_MIN_SIZE_DEFAULT,
                };
                self.outstanding
                    .insert((stamp.sec, stamp.nsec), (p.id, now));
                self.peers.entry(p.id).or_default().pings += 1;
                out.push(Outgoing {
                    to,
                    peer_type: EntityType::Osd,
                    lossy: true,
                    msg: to_message(&ping, 0),
                });
            }
        }
    }

    /// A PING_REPLY arrived; true if it answered one of our pings.
    pub fn on_reply(&mut self, reply: &MOsdPing, now: Instant) -> bool {
        let key = (reply.ping_stamp.sec, reply.ping_stamp.nsec);
        let Some((peer, sent)) = self.outstanding.remove(&key) else {
            return false;
        };
        let s = self.peers.entry(peer).or_default();
        s.replies += 1;
        s.last_rtt = Some(now.duration_since(sent));
        s.last_reply = Some(now);
        true
    }

    /// Per peer: pings, replies, last round trip, seconds since the last reply.
    pub fn report(&self, now: Instant) -> Value {
        let peers: serde_json::Map<String, Value> = self
            .peers
            .iter()
            .map(|(id, s)| {
                (
                    format!("osd.{id}"),
                    json!({
                        "pings": s.pings,
                        "replies": s.replies,
                        "last_rtt_us": s.last_rtt.map(|d| d.as_micros() as u64),
                        "last_reply_s_ago": s.last_reply.map(|t| now.duration_since(t).as_secs_f64()),
                    }),
                )
            })
            .collect();
        json!({ "interval_s": self.interval.as_secs_f64(), "peers": peers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::from_message;
    use crate::osd::member::HeartbeatPeer;

    #[test]
    fn pings_each_peer_twice_per_interval_and_matches_replies() {
        let view = ClusterView {
            epoch: 5,
            heartbeat_peers: vec![HeartbeatPeer {
                id: 9,
                back: "v2:127.0.0.1:6811/1".parse().unwrap(),
                front: "v2:127.0.0.1:6812/1".parse().unwrap(),
            }],
            ..ClusterView::default()
        };
        let mut hb = Heartbeats::new(Duration::from_secs(6));
        let t0 = Instant::now();
        let mono = SignedSpan::from_nanos(1_000);
        let mut out = Vec::new();
        hb.due(t0, mono, [1; 16], &view, &mut out);
        assert_eq!(out.len(), 2, "back and front");
        assert!(out
            .iter()
            .all(|o| o.lossy && o.peer_type == EntityType::Osd));
        hb.due(t0 + Duration::from_secs(1), mono, [1; 16], &view, &mut out);
        assert_eq!(out.len(), 2, "nothing more before the interval");
        let ping: MOsdPing = from_message(&out[0].msg).unwrap();
        let reply = ping.reply_to(7, 3, SignedSpan::from_nanos(5_000), 2000);
        assert!(hb.on_reply(&reply, t0 + Duration::from_millis(2)));
        assert!(!hb.on_reply(&reply, t0), "a reply counts once");
        let r = hb.report(t0 + Duration::from_secs(1));
        assert_eq!(r["peers"]["osd.9"]["pings"], 2);
        assert_eq!(r["peers"]["osd.9"]["replies"], 1);
        assert_eq!(r["peers"]["osd.9"]["last_rtt_us"], 2000);
    }
}
