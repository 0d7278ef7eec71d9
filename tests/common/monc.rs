//! A real-cluster `MonClient` for tests, and the osdmap epochs it sees.

use std::time::{Duration, Instant};

use super::CephCluster;
use pollmsgr::auth::cephx::Keyring;
use pollmsgr::monc::{MonAuth, MonClient, MonClientConfig};
use pollmsgr::msg::osd_mon::MOsdMap;
use pollmsgr::msg::{from_message, types, MonSubscribe};
use pollmsgr::wire::addr::EntityAddr;
use pollmsgr::wire::entity::AuthEntityName;

/// The cluster's keyring (client.admin and mon. keys).
pub fn keyring_path(c: &CephCluster) -> String {
    c.dir.join("keyring").to_string_lossy().into_owned()
}

/// The osdmap epoch the real mon reports (`ceph osd dump`).
pub fn osdmap_epoch(c: &CephCluster) -> u64 {
    c.ceph_json(&["osd", "dump"]).expect("osd dump")["epoch"]
        .as_u64()
        .expect("epoch in osd dump")
}

/// A cephx MonClient as client.admin, starting its hunt at `mon`.
pub fn admin_monclient(c: &CephCluster, mon: EntityAddr, timeout: Duration) -> MonClient {
    let name = AuthEntityName::parse_str("client.admin").expect("name");
    let ring = Keyring::parse(&std::fs::read_to_string(keyring_path(c)).expect("keyring"))
        .expect("keyring parses");
    let key = ring.get(&name).expect("admin key").clone();
    let mut cfg = MonClientConfig::new(mon, name, MonAuth::Cephx(key));
    cfg.timeout = timeout;
    MonClient::connect(cfg).unwrap_or_else(|e| panic!("mon session: {e}"))
}

/// Subscribes to the osdmap from epoch 0; returns the newest epoch of the
/// first map that arrives.
pub fn subscribe_osdmap(mc: &mut MonClient) -> u64 {
    let mut sub = MonSubscribe::default();
    sub.want("osdmap", 0, 0);
    mc.subscribe(&sub);
    let first = mc
        .wait_for("osdmap", |m| m.ty == types::OSD_MAP)
        .expect("first osdmap");
    let first: MOsdMap = from_message(&first).expect("MOSDMap decodes");
    u64::from(first.newest_epoch())
}

/// The epochs (full and incremental) an MOSDMap carries.
pub fn epochs(m: &MOsdMap) -> Vec<u32> {
    let mut e: Vec<u32> = m
        .maps
        .keys()
        .chain(m.incremental_maps.keys())
        .copied()
        .collect();
    e.sort_unstable();
    e.dedup();
    e
}

/// Polls until an osdmap of epoch `want` or newer arrives or `timeout`
/// passes; appends each map's epochs to `seen` and returns the newest epoch.
pub fn poll_osdmaps_until(
    mc: &mut MonClient,
    want: u64,
    timeout: Duration,
    seen: &mut Vec<Vec<u32>>,
) -> u64 {
    let t = Instant::now();
    let mut newest = 0u64;
    while newest < want && t.elapsed() < timeout {
        for m in mc.poll_messages(Duration::from_millis(100)).expect("poll") {
            if m.ty == types::OSD_MAP {
                let map: MOsdMap = from_message(&m).expect("MOSDMap");
                seen.push(epochs(&map));
                newest = newest.max(u64::from(map.newest_epoch()));
            }
        }
    }
    newest
}
