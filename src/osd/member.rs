//! Cluster membership of the hosted OSDs, run on the control thread: one mon
//! session per OSD (authenticated as `osd.ID` and presenting the endpoint's
//! public address, which the mon records in the osdmap), as a booting
//! ceph-osd does (`OSD::start_boot`, `_send_boot`, `send_beacon`,
//! `prepare_to_stop`):
//!
//! 1. subscribe to the osdmap and wait for the first MOSDMap (its epoch goes
//!    into the boot: the mon drops a boot older than the OSD's `up_from` as
//!    stale, `OSDMonitor::preprocess_boot`);
//! 2. place the OSD in CRUSH under this process's host bucket;
//! 3. send MOSDBoot and wait until `osd dump` shows every OSD up at the
//!    address it bound;
//! 4. then, every tick: read what the mon sends (MOSDMap: track the epoch),
//!    send MOSDBeacon at the beacon interval, renew tickets, re-boot an OSD the
//!    map shows down while we run, reconnect a lost session;
//! 5. on shutdown, MOSDMarkMeDown with `request_ack` and wait briefly for the
//!    acks, so the endpoints are down at once instead of at the report timeout.
//!
//! The handlers on the reactors learn pool names and pg counts (for caps and
//! listing) from [`ClusterView`]s sent over channels they drain.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::Sender;
use serde_json::{json, Value};

use super::join::{crush_place, mon_command};
use super::OsdError;
use crate::auth::cephx::{CryptoKey, TicketStore};
use crate::monc::{describe_attempts, HuntRound, MonAuth, MonClient, MonClientConfig};
use crate::msg::osd_mon::{MOsdBeacon, MOsdBoot, MOsdMap, MOsdMarkMeDown};
use crate::msg::{from_message, to_message, types, MonSubscribe};
use crate::wire::addr::{EntityAddr, EntityAddrVec};
use crate::wire::entity::AuthEntityName as AuthName;
use crate::wire::entity::EntityType;
use crate::wire::ConMode;

/// How the hosted OSDs reach and stay in the cluster.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// The monitors (msgr2 addresses), tried in order.
    pub mons: Vec<EntityAddr>,
    /// Cluster fsid.
    pub fsid: [u8; 16],
    /// Modes for the mon sessions (Ceph's `ms_mon_client_mode`).
    pub modes: Vec<ConMode>,
    /// Use msgr2.1 toward the mons.
    pub rev1: bool,
    /// CRUSH host bucket for this process's OSDs.
    pub crush_host: String,
    /// CRUSH weight of each OSD.
    pub crush_weight: f64,
    /// MOSDBeacon interval (Ceph's `osd_beacon_report_interval`, 300 s).
    pub beacon_interval: Duration,
    /// How long one mon call may take.
    pub timeout: Duration,
    /// How long booting every OSD may take.
    pub boot_timeout: Duration,
}

/// One hosted OSD: its identity and the address its endpoint bound.
#[derive(Clone)]
pub struct HostedOsd {
    /// OSD id.
    pub id: u32,
    /// Its UUID (`osd new`).
    pub uuid: [u8; 16],
    /// Its cephx key.
    pub key: CryptoKey,
    /// The endpoint's public msgr2 address (with its nonce).
    pub addr: EntityAddr,
    /// Its cephx tickets: filled by its mon session, used by its endpoint
    /// to dial peers (heartbeats).
    pub tickets: TicketStore,
}

/// A pool as the handlers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInfo {
    /// Pool name (pool-scoped caps).
    pub name: String,
    /// Placement groups (listing by PG).
    pub pg_num: u32,
}

/// An OSD our endpoints heartbeat: its heartbeat addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatPeer {
    /// Its id.
    pub id: u32,
    /// `heartbeat_back_addrs`' msgr2 address.
    pub back: EntityAddr,
    /// `heartbeat_front_addrs`' msgr2 address.
    pub front: EntityAddr,
}

/// Most heartbeat peers per endpoint (Ceph's `osd_heartbeat_min_peers`).
pub const MAX_HEARTBEAT_PEERS: usize = 10;

/// What the handlers know of the cluster, as of one osdmap epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// The epoch this view was read at.
    pub epoch: u32,
    /// Pools by id.
    pub pools: HashMap<i64, PoolInfo>,
    /// Up OSDs not hosted by this process, which our endpoints ping. (We do
    /// not evaluate CRUSH, so these are not the PG-sharing peers a ceph-osd
    /// picks, but the first up OSDs of the map, as a ceph-osd tops its
    /// peers up to `osd_heartbeat_min_peers`.)
    pub heartbeat_peers: Vec<HeartbeatPeer>,
}

/// Counters of the control plane, for the summary and `messenger status`.
#[derive(Debug, Clone, Default)]
pub struct MemberStats {
    /// MOSDBoot messages sent.
    pub boots: u64,
    /// MOSDBeacon messages sent.
    pub beacons: u64,
    /// MOSDMap messages received.
    pub maps: u64,
    /// Mon sessions re-established after a loss.
    pub reconnects: u64,
    /// Mon calls that failed.
    pub errors: u64,
}

struct Member {
    osd: HostedOsd,
    mc: Option<MonClient>,
    epoch: u32,
    up: bool,
    last_beacon: Instant,
    retry_at: Instant,
    /// `MonClient::sessions` when last seen: a higher count means its
    /// client hunted to a new mon session (subscriptions renewed by it).
    session: u64,
    /// While its session is lost: when to try the next hunt round (one
    /// round per tick at most, so the control thread never sleeps through
    /// a whole hunt while other sessions and signals wait).
    hunt_at: Option<Instant>,
}

/// The mon sessions of every hosted OSD.
pub struct Membership {
    cfg: MemberConfig,
    members: Vec<Member>,
    views: Vec<Sender<Arc<ClusterView>>>,
    view: Arc<ClusterView>,
    last_check: Instant,
    stats: MemberStats,
}

/// How often the control thread reads `osd dump` when no new epoch came.
/// Every change of the map (an OSD marked down, a pool created) reaches the
/// continuous osdmap subscription as an MOSDMap with a new epoch, which
/// triggers a check within [`NEW_EPOCH_CHECK`]; this is only a safety net, so
/// an idle cluster is not asked for its whole map every few seconds.
const CHECK_EVERY: Duration = Duration::from_secs(30);
/// How soon after an MOSDMap with a new epoch the view is refreshed.
const NEW_EPOCH_CHECK: Duration = Duration::from_millis(100);

impl Membership {
    /// Sessions for `osds` (not yet connected). Every new [`ClusterView`] is
    /// sent to each of `views`.
    pub fn new(
        cfg: MemberConfig,
        osds: Vec<HostedOsd>,
        views: Vec<Sender<Arc<ClusterView>>>,
    ) -> Self {
        let now = Instant::now();
        Membership {
            cfg,
            members: osds
                .into_iter()
                .map(|osd| Member {
                    osd,
                    mc: None,
                    epoch: 0,
                    up: false,
                    last_beacon: now,
                    retry_at: now,
                    session: 0,
                    hunt_at: None,
                })
                .collect(),
            views,
            view: Arc::new(ClusterView::default()),
            last_check: now,
            stats: MemberStats::default(),
        }
    }

    /// The OSD ids hosted.
    pub fn ids(&self) -> Vec<u32> {
        self.members.iter().map(|m| m.osd.id).collect()
    }

    /// Counters so far.
    pub fn stats(&self) -> &MemberStats {
        &self.stats
    }

    /// The newest cluster view.
    pub fn view(&self) -> Arc<ClusterView> {
        Arc::clone(&self.view)
    }

    /// Connects every OSD's mon session, places it in CRUSH, boots it, and
    /// waits until the osdmap shows all of them up at their addresses.
    pub fn boot_all(&mut self) -> Result<(), OsdError> {
        for i in 0..self.members.len() {
            self.start_member(i, true)?;
        }
        let deadline = Instant::now() + self.cfg.boot_timeout;
        loop {
            self.poll_sessions();
            self.hunt_due(Instant::now());
            let dump = match self.osd_dump() {
                Ok(d) => d,
                // Sessions still hunting: wait for them until the deadline.
                Err(e)
                    if Instant::now() < deadline
                        && self.members.iter().any(|m| m.hunt_at.is_some()) =>
                {
                    eprintln!("membership: {e}; waiting for a mon");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.publish_view(&dump);
            let up = up_at_our_addrs(&dump, &self.members);
            for m in &mut self.members {
                m.up = up.contains(&m.osd.id);
            }
            if self.members.iter().all(|m| m.up) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let down: Vec<u32> = self
                    .members
                    .iter()
                    .filter(|m| !m.up)
                    .map(|m| m.osd.id)
                    .collect();
                return Err(OsdError::Timeout(format!(
                    "osds {down:?} were not marked up within {:?} (see the mon log: \
                     preprocess_boot explains ignored boots)",
                    self.cfg.boot_timeout
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Periodic work; call every few tens of milliseconds. Never fails: a
    /// lost session is retried on later ticks.
    pub fn tick(&mut self) {
        let now = Instant::now();
        self.poll_sessions();
        self.hunt_due(now);
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            if m.mc.is_none() {
                if now >= m.retry_at {
                    match self.start_member(i, false) {
                        Ok(()) => self.stats.reconnects += 1,
                        Err(e) => {
                            self.stats.errors += 1;
                            eprintln!("osd.{}: mon session: {e}", self.members[i].osd.id);
                            self.members[i].retry_at = now + Duration::from_secs(1);
                        }
                    }
                }
                continue;
            }
            if m.hunt_at.is_some() {
                continue;
            }
            if now.duration_since(m.last_beacon) >= self.cfg.beacon_interval {
                m.last_beacon = now;
                let beacon = MOsdBeacon::new(m.epoch);
                if let Some(mc) = m.mc.as_mut() {
                    mc.send(to_message(&beacon, 0));
                    self.stats.beacons += 1;
                }
            }
            if let Some(mc) = m.mc.as_mut() {
                match mc.renew_if_due() {
                    Ok(_) => {}
                    Err(e) if e.is_fatal() => {
                        self.stats.errors += 1;
                        eprintln!("osd.{}: ticket renewal: {e}", m.osd.id);
                        m.mc = None;
                        m.retry_at = now;
                    }
                    Err(e) => {
                        self.stats.errors += 1;
                        eprintln!("osd.{}: ticket renewal: {e}; hunting", m.osd.id);
                        m.hunt_at = Some(now);
                    }
                }
            }
        }
        // A new osdmap epoch (a pool created, an OSD marked down) reaches the
        // handlers within a fraction of a second; otherwise check every few.
        let newest = self.members.iter().map(|m| m.epoch).max().unwrap_or(0);
        let since = now.duration_since(self.last_check);
        if since >= CHECK_EVERY || (newest > self.view.epoch && since >= NEW_EPOCH_CHECK) {
            self.last_check = now;
            self.check_up();
        }
    }

    /// Marks every OSD down (MOSDMarkMeDown, `request_ack`) and waits up to
    /// `wait` for the mon's acks. Returns the ids acknowledged.
    pub fn mark_down_all(&mut self, wait: Duration) -> Vec<u32> {
        let mut pending = HashSet::new();
        for m in &mut self.members {
            let Some(mc) = m.mc.as_mut().filter(|mc| mc.is_connected()) else {
                continue;
            };
            let md = MOsdMarkMeDown {
                fsid: self.cfg.fsid,
                target_osd: m.osd.id as i32,
                target_addrs: EntityAddrVec(vec![m.osd.addr]),
                epoch: m.epoch,
                request_ack: true,
                down_and_dead: false,
            };
            mc.send(to_message(&md, 0));
            pending.insert(m.osd.id);
        }
        let deadline = Instant::now() + wait;
        let mut acked = Vec::new();
        while !pending.is_empty() && Instant::now() < deadline {
            for m in &mut self.members {
                if !pending.contains(&m.osd.id) {
                    continue;
                }
                let Some(mc) = m.mc.as_mut() else {
                    pending.remove(&m.osd.id);
                    continue;
                };
                match mc.poll_messages_no_hunt(Duration::from_millis(5)) {
                    Ok(msgs) => {
                        if msgs.iter().any(|x| x.ty == types::OSD_MARK_ME_DOWN) {
                            pending.remove(&m.osd.id);
                            acked.push(m.osd.id);
                        }
                    }
                    Err(_) => {
                        pending.remove(&m.osd.id);
                    }
                }
            }
        }
        for m in &mut self.members {
            m.up = false;
            m.mc = None;
        }
        acked
    }

    /// Connects member `i`'s session, subscribes to the osdmap, waits for the
    /// first map, places it in CRUSH (first start only) and sends its boot.
    fn start_member(&mut self, i: usize, place: bool) -> Result<(), OsdError> {
        let cfg = self.cfg.clone();
        let m = &mut self.members[i];
        let mut mc = connect(&cfg, &m.osd)?;
        let mut sub = MonSubscribe::default();
        sub.want("osdmap", 0, 0);
        mc.subscribe(&sub);
        let first = mc
            .wait_for("osdmap", |x| x.ty == types::OSD_MAP)
            .map_err(|e| OsdError::Mon(format!("osd.{}: first osdmap: {e}", m.osd.id)))?;
        if let Ok(map) = from_message::<MOsdMap>(&first) {
            m.epoch = m.epoch.max(map.newest_epoch());
        }
        self.stats.maps += 1;
        if place {
            crush_place(
                &mut mc,
                cfg.fsid,
                m.osd.id,
                &cfg.crush_host,
                cfg.crush_weight,
            )?;
        }
        mc.send(boot_message(cfg.fsid, &m.osd, m.epoch));
        self.stats.boots += 1;
        m.last_beacon = Instant::now();
        m.session = mc.sessions();
        m.mc = Some(mc);
        Ok(())
    }

    /// Runs the hunt rounds that are due.
    fn hunt_due(&mut self, now: Instant) {
        for i in 0..self.members.len() {
            if self.members[i].hunt_at.is_some_and(|at| now >= at) {
                self.hunt_round(i, now);
            }
        }
    }

    /// One hunt round for member `i`'s lost session (Ceph's MonClient
    /// hunts the same way: tries the monitors, then waits the backoff).
    fn hunt_round(&mut self, i: usize, now: Instant) {
        let m = &mut self.members[i];
        let Some(mc) = m.mc.as_mut() else { return };
        match mc.hunt_round() {
            Ok(HuntRound::Established) => m.hunt_at = None,
            Ok(HuntRound::RetryAfter(wait)) => {
                self.stats.errors += 1;
                eprintln!(
                    "osd.{}: no monitor answered ({}); next round in {wait:?}",
                    m.osd.id,
                    describe_attempts(&mc.last_hunt().tried)
                );
                m.hunt_at = Some(now + wait);
            }
            Err(e) => {
                // Hunting cannot fix it (credentials refused): start over.
                self.stats.errors += 1;
                eprintln!("osd.{}: mon session: {e}", m.osd.id);
                m.mc = None;
                m.hunt_at = None;
                m.up = false;
                m.retry_at = now + Duration::from_secs(1);
            }
        }
    }

    /// Reads what every session received: osdmap epochs. A lost session
    /// starts hunting (a round per tick, see [`Membership::tick`]). A
    /// session its client replaced gets a beacon at once (the new mon
    /// learns we are alive; the client renewed the osdmap subscription)
    /// and the map is checked soon, so an OSD marked down meanwhile boots
    /// again.
    fn poll_sessions(&mut self) {
        for m in &mut self.members {
            let Some(mc) = m.mc.as_mut() else { continue };
            if m.hunt_at.is_some() {
                continue;
            }
            let polled = mc.poll_messages_no_hunt(Duration::ZERO);
            if mc.sessions() != m.session {
                m.session = mc.sessions();
                self.stats.reconnects += 1;
                eprintln!(
                    "osd.{}: new mon session with {}",
                    m.osd.id,
                    mc.current_mon()
                );
                mc.send(to_message(&MOsdBeacon::new(m.epoch), 0));
                self.stats.beacons += 1;
                m.last_beacon = Instant::now();
                self.last_check = Instant::now()
                    .checked_sub(CHECK_EVERY)
                    .unwrap_or(self.last_check);
            }
            match polled {
                Ok(msgs) => {
                    for x in msgs {
                        if x.ty == types::OSD_MAP {
                            self.stats.maps += 1;
                            if let Ok(map) = from_message::<MOsdMap>(&x) {
                                m.epoch = m.epoch.max(map.newest_epoch());
                            }
                        }
                    }
                }
                Err(e) if e.is_fatal() => {
                    self.stats.errors += 1;
                    eprintln!("osd.{}: mon session closed: {e}", m.osd.id);
                    m.mc = None;
                    m.up = false;
                }
                Err(e) => {
                    self.stats.errors += 1;
                    eprintln!("osd.{}: mon session lost ({e}); hunting", m.osd.id);
                    m.hunt_at = Some(Instant::now());
                }
            }
        }
    }

    /// `osd dump` on the first live session.
    fn osd_dump(&mut self) -> Result<Value, OsdError> {
        let fsid = self.cfg.fsid;
        let mc = self
            .members
            .iter_mut()
            .filter_map(|m| m.mc.as_mut())
            .find(|mc| mc.is_connected())
            .ok_or_else(|| OsdError::Mon("no mon session is up".into()))?;
        let out = mon_command(
            mc,
            fsid,
            &json!({"prefix": "osd dump", "format": "json"}),
            Vec::new(),
        )?;
        serde_json::from_slice(&out).map_err(|e| OsdError::Mon(format!("osd dump: {e}")))
    }

    /// Re-boots OSDs the map shows down (e.g. after a missed beacon or a
    /// wrong failure report), and refreshes the handlers' view.
    fn check_up(&mut self) {
        let newest = self.members.iter().map(|m| m.epoch).max().unwrap_or(0);
        let dump = match self.osd_dump() {
            Ok(d) => d,
            Err(e) => {
                self.stats.errors += 1;
                eprintln!("membership: {e}");
                return;
            }
        };
        if newest > self.view.epoch {
            self.publish_view(&dump);
        }
        let up = up_at_our_addrs(&dump, &self.members);
        for m in &mut self.members {
            let was_up = m.up;
            m.up = up.contains(&m.osd.id);
            if was_up && !m.up {
                if let Some(mc) = m.mc.as_mut() {
                    eprintln!("osd.{}: the osdmap shows us down; booting again", m.osd.id);
                    mc.send(boot_message(self.cfg.fsid, &m.osd, m.epoch));
                    self.stats.boots += 1;
                }
            }
        }
    }

    fn publish_view(&mut self, dump: &Value) {
        let hosted: HashSet<u32> = self.members.iter().map(|m| m.osd.id).collect();
        let view = Arc::new(view_from_dump(dump, &hosted));
        if *view == *self.view {
            return;
        }
        for tx in &self.views {
            let _ = tx.try_send(Arc::clone(&view));
        }
        self.view = view;
    }
}

/// The MOSDBoot of `osd` holding osdmap `epoch`: every channel (public,
/// cluster, heartbeat) is the endpoint's one address.
fn boot_message(fsid: [u8; 16], osd: &HostedOsd, epoch: u32) -> crate::proto::Message {
    let boot = MOsdBoot::for_osd(
        fsid,
        osd.uuid,
        osd.id as i32,
        epoch,
        EntityAddrVec(vec![osd.addr]),
    );
    to_message(&boot, 0)
}

fn connect(cfg: &MemberConfig, osd: &HostedOsd) -> Result<MonClient, OsdError> {
    let name = AuthName::new(EntityType::Osd, osd.id.to_string());
    let first = cfg
        .mons
        .first()
        .ok_or_else(|| OsdError::Mon("no monitors configured".into()))?;
    let mut c = MonClientConfig::new(*first, name, MonAuth::Cephx(osd.key.clone()));
    c.modes = cfg.modes.clone();
    c.rev1 = cfg.rev1;
    c.timeout = cfg.timeout;
    c.my_addr = Some(osd.addr);
    MonClient::connect_first(&cfg.mons, &c, Some(osd.tickets.clone()))
        .map_err(|e| OsdError::Mon(format!("osd.{}: {e}", osd.id)))
}

/// The ids that `osd dump` shows up at the address their endpoint bound.
fn up_at_our_addrs(dump: &Value, members: &[Member]) -> HashSet<u32> {
    let mut up = HashSet::new();
    let Some(osds) = dump.get("osds").and_then(Value::as_array) else {
        return up;
    };
    for o in osds {
        let Some(id) = o.get("osd").and_then(Value::as_u64) else {
            continue;
        };
        let Some(m) = members.iter().find(|m| u64::from(m.osd.id) == id) else {
            continue;
        };
        let is_up = o.get("up").and_then(Value::as_u64) == Some(1);
        if is_up && v2_addr(o.get("public_addrs")) == Some(m.osd.addr) {
            up.insert(m.osd.id);
        }
    }
    up
}

/// The msgr2 address in an `osd dump` address vector.
fn v2_addr(vec: Option<&Value>) -> Option<EntityAddr> {
    let a = vec?
        .get("addrvec")?
        .as_array()?
        .iter()
        .find(|a| a.get("type").and_then(Value::as_str) == Some("v2"))?;
    format!(
        "v2:{}/{}",
        a.get("addr")?.as_str()?,
        a.get("nonce")?.as_u64()?
    )
    .parse()
    .ok()
}

/// Pools, epoch and heartbeat peers (up OSDs not in `hosted`) from
/// `osd dump --format json`.
fn view_from_dump(dump: &Value, hosted: &HashSet<u32>) -> ClusterView {
    let mut view = ClusterView {
        epoch: dump
            .get("epoch")
            .and_then(Value::as_u64)
            .and_then(|e| u32::try_from(e).ok())
            .unwrap_or(0),
        pools: HashMap::new(),
        heartbeat_peers: Vec::new(),
    };
    for o in dump
        .get("osds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(id) = o
            .get("osd")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())
        else {
            continue;
        };
        if hosted.contains(&id) || o.get("up").and_then(Value::as_u64) != Some(1) {
            continue;
        }
        if let (Some(back), Some(front)) = (
            v2_addr(o.get("heartbeat_back_addrs")),
            v2_addr(o.get("heartbeat_front_addrs")),
        ) {
            if view.heartbeat_peers.len() < MAX_HEARTBEAT_PEERS {
                view.heartbeat_peers.push(HeartbeatPeer { id, back, front });
            }
        }
    }
    for p in dump
        .get("pools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(id), Some(name), Some(pg_num)) = (
            p.get("pool").and_then(Value::as_i64),
            p.get("pool_name").and_then(Value::as_str),
            p.get("pg_num").and_then(Value::as_u64),
        ) else {
            continue;
        };
        view.pools.insert(
            id,
            PoolInfo {
                name: name.to_owned(),
                pg_num: u32::try_from(pg_num).unwrap_or(u32::MAX),
            },
        );
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_and_up_from_an_osd_dump() {
        let dump = json!({
            "epoch": 12,
            "pools": [{"pool": 1, "pool_name": "data", "pg_num": 8}],
            "osds": [
                {"osd": 0, "up": 1, "public_addrs": {"addrvec": [
                    {"type": "v2", "addr": "127.0.0.1:6800", "nonce": 7}]}},
                {"osd": 1, "up": 1, "public_addrs": {"addrvec": [
                    {"type": "v2", "addr": "127.0.0.1:6801", "nonce": 99}]},
                 "heartbeat_back_addrs": {"addrvec": [
                    {"type": "v2", "addr": "127.0.0.1:6811", "nonce": 99}]},
                 "heartbeat_front_addrs": {"addrvec": [
                    {"type": "v2", "addr": "127.0.0.1:6812", "nonce": 99}]}},
                {"osd": 2, "up": 0, "public_addrs": {"addrvec": []}}
            ]
        });
        let view = view_from_dump(&dump, &HashSet::from([0]));
        assert_eq!(view.epoch, 12);
        assert_eq!(view.pools[&1].name, "data");
        assert_eq!(view.pools[&1].pg_num, 8);
        // osd.1 is up and not hosted: a heartbeat peer; osd.0 is ours.
        assert_eq!(view.heartbeat_peers.len(), 1);
        assert_eq!(
            view.heartbeat_peers[0].back.to_string(),
            "v2:127.0.0.1:6811/99"
        );
        let member = |id: u32, port: u16, nonce: u32| Member {
            osd: HostedOsd {
                id,
                uuid: [0; 16],
                key: CryptoKey::new([1; 16], Default::default()),
                addr: format!("v2:127.0.0.1:{port}/{nonce}").parse().unwrap(),
                tickets: TicketStore::new(AuthName::new(EntityType::Osd, id.to_string())),
            },
            mc: None,
            epoch: 0,
            up: false,
            last_beacon: Instant::now(),
            retry_at: Instant::now(),
            session: 0,
            hunt_at: None,
        };
        // osd.1 is up but at another nonce: not ours; osd.2 is down.
        let ms = [member(0, 6800, 7), member(1, 6801, 1), member(2, 6802, 2)];
        assert_eq!(up_at_our_addrs(&dump, &ms), HashSet::from([0]));
    }
}
