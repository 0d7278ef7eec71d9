//! The osdmap decoder, `apply_incremental` and placement against a real
//! Ceph 16.2 monitor: the mon's own `osd dump --format json`, its encoded
//! full maps (`osd getmap`), the incrementals it sends a subscriber, and its
//! `osd map POOL OBJECT` answers are the oracle.
//!
//! The cluster: a mon, six `pollmsgr serve --join` OSDs (up, in CRUSH), two
//! OSD ids created with `osd new` and put in CRUSH but never started (down),
//! two host buckets, a second replicated rule (by host), pools of 8, 12 and
//! 32 PGs plus an erasure pool (k=2, m=1, an indep rule), a reweighted OSD,
//! an out OSD, a primary affinity, pg_upmap, pg_upmap_items, pg_temp and
//! primary_temp entries.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::pollmsgr::Serve;
use common::{Auth, CephCluster, ClusterOpts};
use pollmsgr::auth::cephx::Keyring;
use pollmsgr::monc::{MonAuth, MonClient, MonClientConfig};
use pollmsgr::msg::osd_mon::MOsdMap;
use pollmsgr::msg::{
    from_message, parse_fsid, to_message, types, MonCommand, MonCommandAck, MonSubscribe,
};
use pollmsgr::osdmap::map::{OsdEntry, OSD_IN};
use pollmsgr::osdmap::{Incremental, OsdMap, PgId, UpActing};
use pollmsgr::wire::addr::EntityAddrVec;
use pollmsgr::wire::entity::AuthEntityName;
use serde_json::Value;

/// Every OSD may go down without the mon keeping a minimum up.
const CONF: &str = "mon osd min up ratio = 0
mon osd allow primary temp = true";

/// The cluster and its OSD endpoints.
struct Scenario {
    cluster: CephCluster,
    serve: Option<Serve>,
}

impl Drop for Scenario {
    /// The mon first, then the endpoints: endpoints that mark themselves
    /// down all at once can trip a Pacific mon assert
    /// (`OSDMap::check_health`, `num_down_in_osds <= num_in_osds`) while
    /// the cluster directory is being removed.
    fn drop(&mut self) {
        if let Err(e) = self.cluster.stop() {
            eprintln!("stopping the cluster: {e}");
        }
        if let Some(mut s) = self.serve.take() {
            s.stop();
        }
    }
}

/// Starts the cluster and sets it up as the module comment says.
fn setup() -> Scenario {
    common::require_ceph();
    let c = CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd: false,
        extra_conf: CONF,
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    let conf = c.conf_path.display().to_string();
    let state = c.dir.join("pollmsgr-state").display().to_string();
    let (serve, ready) = Serve::start(&[
        "--osds",
        "6",
        "--join",
        "-c",
        &conf,
        "--state-dir",
        &state,
        "--cores",
        "0",
    ]);
    assert_eq!(ready["osds"].as_array().map(Vec::len), Some(6), "{ready}");
    let ok = |args: &[&str]| {
        c.ceph_ok(args)
            .unwrap_or_else(|e| panic!("ceph {args:?}: {e}"))
    };
    for _ in 0..2 {
        let uuid = std::fs::read_to_string("/proc/sys/kernel/random/uuid").expect("uuid");
        ok(&["osd", "new", uuid.trim()]);
    }
    let run_all = |cmds: &[&str]| {
        for cmd in cmds {
            let args: Vec<&str> = cmd.split(' ').collect();
            ok(&args);
        }
    };
    run_all(&[
        "osd crush add-bucket h2 host",
        "osd crush move h2 root=default",
        "osd crush add osd.6 1.0 host=h2",
        "osd crush add osd.7 1.0 host=h2",
        "osd crush set osd.3 1.0 host=h2",
        "osd crush set osd.4 1.0 host=h2",
        "osd crush rule create-replicated byhost default host",
        "osd pool create p8 8 8 replicated",
        "osd pool set p8 size 3",
        "osd pool create p12 12 12 replicated byhost",
        "osd pool set p12 size 2",
        "osd pool create p32 32 32",
        "osd pool set p32 size 3",
        "osd erasure-code-profile set ec21 k=2 m=1 crush-failure-domain=osd",
        "osd pool create ec 8 8 erasure ec21",
        // osd.8: created, destroyed (DESTROYED toggled on), removed
        // (EXISTS toggled off: everything about it is cleared).
        "osd new 3f1d7e62-5b0c-4c7e-9d55-0a8f4f6d2b18",
        "osd destroy-actual 8 --yes-i-really-mean-it",
        "osd rm 8",
        // osd.5 marked down (UP toggled off); its endpoint boots again.
        "osd down 5",
    ]);
    let up5 = CephCluster::wait_until(Duration::from_secs(30), || {
        c.ceph_json(&["osd", "dump"]).is_ok_and(|d| {
            d["osds"]
                .as_array()
                .is_some_and(|v| v.iter().any(|o| o["osd"] == 5 && o["up"] == 1))
        })
    });
    assert!(up5, "osd.5 did not boot again after osd down");
    let serve = Some(serve);
    // Temp mappings last: the mon drops them when their OSDs go down.
    run_all(&[
        "osd reweight 1 0.5",
        "osd out 2",
        "osd primary-affinity osd.0 0.3",
        "osd pg-upmap-items 1.1 0 5",
        "osd pg-upmap-items 3.7 1 4",
        "osd pg-upmap 3.9 5 3 0",
        "osd pg-temp 1.3 4 5 3",
        "osd primary-temp 1.4 5",
    ]);
    Scenario { cluster: c, serve }
}

/// A client.admin session with the mon.
fn admin(c: &CephCluster) -> MonClient {
    let name = AuthEntityName::parse_str("client.admin").expect("name");
    let text = std::fs::read_to_string(c.dir.join("keyring")).expect("keyring");
    let ring = Keyring::parse(&text).expect("keyring parses");
    let key = ring.get(&name).expect("admin key").clone();
    let mut cfg = MonClientConfig::new(
        c.mon_addr.parse().expect("mon addr"),
        name,
        MonAuth::Cephx(key),
    );
    cfg.timeout = Duration::from_secs(20);
    MonClient::connect(cfg).unwrap_or_else(|e| panic!("mon session: {e}"))
}

fn fsid(c: &CephCluster) -> [u8; 16] {
    parse_fsid(&c.fsid).expect("fsid")
}

/// The mon's encoded full map of `epoch` (`osd getmap`).
fn getmap(mc: &mut MonClient, fsid: [u8; 16], epoch: u32) -> Vec<u8> {
    let cmd = format!(r#"{{"prefix":"osd getmap","epoch":{epoch}}}"#);
    let ack = mc
        .command(fsid, &cmd, Vec::new())
        .unwrap_or_else(|e| panic!("osd getmap {epoch}: {e}"));
    assert_eq!(ack.r, 0, "osd getmap {epoch}: {}", ack.rs);
    ack.outbl
}

/// Runs a mon command and parses its JSON output.
fn mon_json(mc: &mut MonClient, fsid: [u8; 16], cmd: &str) -> Value {
    let ack = mc
        .command(fsid, cmd, Vec::new())
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert_eq!(ack.r, 0, "{cmd}: {}", ack.rs);
    serde_json::from_slice(&ack.outbl).unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// `pool.seed` as Ceph prints a `pg_t` (seed in hex).
fn pg_str(pg: &PgId) -> String {
    format!("{}.{:x}", pg.pool, pg.seed)
}

fn uuid_str(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// An addrvec as `osd dump` shows it: (type, "ip:port", nonce) per address.
fn addrs_of(v: &EntityAddrVec) -> Vec<(String, String, u64)> {
    v.0.iter()
        .map(|a| {
            let addr = a.addr.map(|s| s.to_string()).unwrap_or_default();
            (a.ty.name().to_string(), addr, u64::from(a.nonce))
        })
        .collect()
}

fn addrs_json(v: &Value) -> Vec<(String, String, u64)> {
    v["addrvec"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["type"].as_str().unwrap_or("?").to_string(),
                a["addr"].as_str().unwrap_or("?").to_string(),
                a["nonce"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect()
}

/// `ceph_osd_state_name` for each set bit.
fn state_names(state: u32) -> BTreeSet<String> {
    const NAMES: [&str; 13] = [
        "exists",
        "up",
        "autoout",
        "new",
        "full",
        "nearfull",
        "backfillfull",
        "destroyed",
        "noup",
        "nodown",
        "noin",
        "noout",
        "stop",
    ];
    (0..32)
        .filter(|b| state & (1 << b) != 0)
        .map(|b| NAMES.get(b).map_or(format!("bit{b}"), |s| s.to_string()))
        .collect()
}

fn release_name(r: u8) -> &'static str {
    match r {
        12 => "luminous",
        13 => "mimic",
        14 => "nautilus",
        15 => "octopus",
        16 => "pacific",
        _ => "?",
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("not an unsigned number: {v}"))
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn close(a: f64, b: &Value, what: &str) {
    let b = b
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a float: {b}"));
    assert!((a - b).abs() < 1e-6, "{what}: ours {a}, ceph {b}");
}

/// Compares a decoded map with `osd dump --format json` of the same epoch,
/// field by field.
fn compare_with_dump(m: &OsdMap, d: &Value) {
    assert_eq!(u64::from(m.epoch), u(&d["epoch"]), "epoch");
    assert_eq!(uuid_str(&m.fsid), d["fsid"].as_str().unwrap_or(""), "fsid");
    assert_eq!(u64::from(m.flags), u(&d["flags_num"]), "flags");
    assert_eq!(
        i64::from(m.crush_version),
        i(&d["crush_version"]),
        "crush_version"
    );
    close(f64::from(m.full_ratio), &d["full_ratio"], "full_ratio");
    close(
        f64::from(m.backfillfull_ratio),
        &d["backfillfull_ratio"],
        "backfillfull_ratio",
    );
    close(
        f64::from(m.nearfull_ratio),
        &d["nearfull_ratio"],
        "nearfull_ratio",
    );
    assert_eq!(i64::from(m.pool_max), i(&d["pool_max"]), "pool_max");
    assert_eq!(m.max_osd() as u64, u(&d["max_osd"]), "max_osd");
    assert_eq!(
        release_name(m.require_osd_release),
        d["require_osd_release"].as_str().unwrap_or(""),
        "require_osd_release"
    );
    assert_eq!(
        release_name(m.require_min_compat_client),
        d["require_min_compat_client"].as_str().unwrap_or(""),
        "require_min_compat_client"
    );
    assert_eq!(
        m.stretch.enabled,
        d["stretch_mode"]["stretch_mode_enabled"]
            .as_bool()
            .unwrap_or(true),
        "stretch_mode_enabled"
    );

    let pools = d["pools"].as_array().expect("pools");
    assert_eq!(m.pools.len(), pools.len(), "number of pools");
    for jp in pools {
        let id = i(&jp["pool"]);
        let p = m
            .pools
            .get(&id)
            .unwrap_or_else(|| panic!("pool {id} missing"));
        let w = |f: &str| format!("pool {id} {f}");
        assert_eq!(
            m.pool_names.get(&id).map(String::as_str),
            jp["pool_name"].as_str(),
            "{}",
            w("name")
        );
        assert_eq!(u64::from(p.pool_type), u(&jp["type"]), "{}", w("type"));
        assert_eq!(u64::from(p.size), u(&jp["size"]), "{}", w("size"));
        assert_eq!(
            u64::from(p.min_size),
            u(&jp["min_size"]),
            "{}",
            w("min_size")
        );
        assert_eq!(
            u64::from(p.crush_rule),
            u(&jp["crush_rule"]),
            "{}",
            w("crush_rule")
        );
        assert_eq!(
            u64::from(p.object_hash),
            u(&jp["object_hash"]),
            "{}",
            w("object_hash")
        );
        assert_eq!(u64::from(p.pg_num), u(&jp["pg_num"]), "{}", w("pg_num"));
        assert_eq!(
            u64::from(p.pgp_num),
            u(&jp["pg_placement_num"]),
            "{}",
            w("pgp_num")
        );
        assert_eq!(
            u64::from(p.pg_num_target),
            u(&jp["pg_num_target"]),
            "{}",
            w("pg_num_target")
        );
        assert_eq!(
            u64::from(p.pgp_num_target),
            u(&jp["pg_placement_num_target"]),
            "{}",
            w("pgp_num_target")
        );
        assert_eq!(
            u64::from(p.pg_num_pending),
            u(&jp["pg_num_pending"]),
            "{}",
            w("pg_num_pending")
        );
        assert_eq!(p.flags, u(&jp["flags"]), "{}", w("flags"));
        assert_eq!(
            p.last_change.to_string(),
            jp["last_change"].as_str().unwrap_or(""),
            "{}",
            w("last_change")
        );
        assert_eq!(
            p.last_force_op_resend.to_string(),
            jp["last_force_op_resend"].as_str().unwrap_or(""),
            "{}",
            w("last_force_op_resend")
        );
        assert_eq!(
            u64::from(p.stripe_width),
            u(&jp["stripe_width"]),
            "{}",
            w("stripe_width")
        );
        assert_eq!(
            p.erasure_code_profile,
            jp["erasure_code_profile"].as_str().unwrap_or("?"),
            "{}",
            w("erasure_code_profile")
        );
        assert_eq!(p.tier_of, i(&jp["tier_of"]), "{}", w("tier_of"));
        assert_eq!(p.read_tier, i(&jp["read_tier"]), "{}", w("read_tier"));
        assert_eq!(p.write_tier, i(&jp["write_tier"]), "{}", w("write_tier"));
        assert_eq!(
            p.quota_max_bytes,
            u(&jp["quota_max_bytes"]),
            "{}",
            w("quota_max_bytes")
        );
        assert_eq!(
            p.quota_max_objects,
            u(&jp["quota_max_objects"]),
            "{}",
            w("quota_max_objects")
        );
        assert_eq!(p.snap_seq, u(&jp["snap_seq"]), "{}", w("snap_seq"));
        assert_eq!(
            u64::from(p.snap_epoch),
            u(&jp["snap_epoch"]),
            "{}",
            w("snap_epoch")
        );
        let apps: BTreeMap<String, BTreeMap<String, String>> =
            serde_json::from_value(jp["application_metadata"].clone())
                .expect("application_metadata");
        assert_eq!(
            p.application_metadata,
            apps,
            "{}",
            w("application_metadata")
        );
    }

    let osds = d["osds"].as_array().expect("osds");
    let existing: Vec<(usize, &OsdEntry)> = m
        .osds
        .iter()
        .enumerate()
        .filter(|(id, _)| m.exists(*id as i32))
        .collect();
    assert_eq!(existing.len(), osds.len(), "number of existing OSDs");
    for jo in osds {
        let id = u(&jo["osd"]) as usize;
        let o = &m.osds[id];
        let w = |f: &str| format!("osd.{id} {f}");
        assert_eq!(
            uuid_str(&o.uuid),
            jo["uuid"].as_str().unwrap_or(""),
            "{}",
            w("uuid")
        );
        assert_eq!(u64::from(m.is_up(id as i32)), u(&jo["up"]), "{}", w("up"));
        assert_eq!(u64::from(m.is_in(id as i32)), u(&jo["in"]), "{}", w("in"));
        close(
            f64::from(o.weight) / f64::from(OSD_IN),
            &jo["weight"],
            &w("weight"),
        );
        close(
            f64::from(o.primary_affinity) / f64::from(OSD_IN),
            &jo["primary_affinity"],
            &w("primary_affinity"),
        );
        assert_eq!(
            u64::from(o.info.last_clean_begin),
            u(&jo["last_clean_begin"]),
            "{}",
            w("last_clean_begin")
        );
        assert_eq!(
            u64::from(o.info.last_clean_end),
            u(&jo["last_clean_end"]),
            "{}",
            w("last_clean_end")
        );
        assert_eq!(
            u64::from(o.info.up_from),
            u(&jo["up_from"]),
            "{}",
            w("up_from")
        );
        assert_eq!(
            u64::from(o.info.up_thru),
            u(&jo["up_thru"]),
            "{}",
            w("up_thru")
        );
        assert_eq!(
            u64::from(o.info.down_at),
            u(&jo["down_at"]),
            "{}",
            w("down_at")
        );
        assert_eq!(
            u64::from(o.info.lost_at),
            u(&jo["lost_at"]),
            "{}",
            w("lost_at")
        );
        assert_eq!(
            addrs_of(&o.client_addrs),
            addrs_json(&jo["public_addrs"]),
            "{}",
            w("public_addrs")
        );
        assert_eq!(
            addrs_of(&o.cluster_addrs),
            addrs_json(&jo["cluster_addrs"]),
            "{}",
            w("cluster_addrs")
        );
        assert_eq!(
            addrs_of(&o.hb_back_addrs),
            addrs_json(&jo["heartbeat_back_addrs"]),
            "{}",
            w("hb_back")
        );
        assert_eq!(
            addrs_of(&o.hb_front_addrs),
            addrs_json(&jo["heartbeat_front_addrs"]),
            "{}",
            w("hb_front")
        );
        let st: BTreeSet<String> = serde_json::from_value(jo["state"].clone()).expect("state");
        assert_eq!(state_names(o.state), st, "{}", w("state"));
    }
    for jx in d["osd_xinfo"].as_array().expect("osd_xinfo") {
        let id = u(&jx["osd"]) as usize;
        let x = &m.osds[id].xinfo;
        assert_eq!(x.features, u(&jx["features"]), "osd.{id} xinfo features");
        assert_eq!(
            u64::from(x.old_weight),
            u(&jx["old_weight"]),
            "osd.{id} old_weight"
        );
        assert_eq!(
            u64::from(x.laggy_interval),
            u(&jx["laggy_interval"]),
            "osd.{id} laggy_interval"
        );
    }

    let upmap: Vec<(String, Vec<i64>)> = d["pg_upmap"]
        .as_array()
        .expect("pg_upmap")
        .iter()
        .map(|e| {
            let osds = e["osds"].as_array().expect("osds").iter().map(i).collect();
            (e["pgid"].as_str().unwrap_or("").to_string(), osds)
        })
        .collect();
    let ours: Vec<(String, Vec<i64>)> = m
        .pg_upmap
        .iter()
        .map(|(pg, v)| (pg_str(pg), v.iter().map(|&o| i64::from(o)).collect()))
        .collect();
    assert_eq!(ours, upmap, "pg_upmap");
    let items: Vec<(String, Vec<(i64, i64)>)> = d["pg_upmap_items"]
        .as_array()
        .expect("pg_upmap_items")
        .iter()
        .map(|e| {
            let pairs = e["mappings"]
                .as_array()
                .expect("mappings")
                .iter()
                .map(|p| (i(&p["from"]), i(&p["to"])))
                .collect();
            (e["pgid"].as_str().unwrap_or("").to_string(), pairs)
        })
        .collect();
    let ours: Vec<(String, Vec<(i64, i64)>)> = m
        .pg_upmap_items
        .iter()
        .map(|(pg, v)| {
            (
                pg_str(pg),
                v.iter()
                    .map(|&(a, b)| (i64::from(a), i64::from(b)))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(ours, items, "pg_upmap_items");
    let temp: Vec<(String, Vec<i64>)> = d["pg_temp"]
        .as_array()
        .expect("pg_temp")
        .iter()
        .map(|e| {
            let osds = e["osds"].as_array().expect("osds").iter().map(i).collect();
            (e["pgid"].as_str().unwrap_or("").to_string(), osds)
        })
        .collect();
    let ours: Vec<(String, Vec<i64>)> = m
        .pg_temp
        .iter()
        .map(|(pg, v)| (pg_str(pg), v.iter().map(|&o| i64::from(o)).collect()))
        .collect();
    assert_eq!(ours, temp, "pg_temp");
    // primary_temp dumps as a flat list: pgid, osd, pgid, osd, ...
    let flat = d["primary_temp"].as_array().expect("primary_temp");
    let ptemp: Vec<(String, i64)> = flat
        .chunks(2)
        .map(|c| (c[0].as_str().unwrap_or("").to_string(), i(&c[1])))
        .collect();
    let ours: Vec<(String, i64)> = m
        .primary_temp
        .iter()
        .map(|(pg, &o)| (pg_str(pg), i64::from(o)))
        .collect();
    assert_eq!(ours, ptemp, "primary_temp");
    let profiles: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_value(d["erasure_code_profiles"].clone()).expect("profiles");
    assert_eq!(m.erasure_code_profiles, profiles, "erasure_code_profiles");
    let bl = d["blocklist"].as_object().expect("blocklist");
    assert_eq!(m.blocklist.len(), bl.len(), "blocklist entries");
}

/// The decoded full map equals `osd dump --format json` of the same epoch.
#[test]
fn ceph_osdmap_full_decode_matches_osd_dump() {
    let s = setup();
    let c = &s.cluster;
    let fsid = fsid(c);
    let mut mc = admin(c);
    let dump = mon_json(&mut mc, fsid, r#"{"prefix":"osd dump","format":"json"}"#);
    let epoch = u(&dump["epoch"]) as u32;
    let blob = getmap(&mut mc, fsid, epoch);
    let m = OsdMap::decode(&blob).unwrap_or_else(|e| panic!("decode epoch {epoch}: {e}"));
    compare_with_dump(&m, &dump);
    // Sanity of the scenario itself: the fields the comparison covers are set.
    assert_eq!(m.pools.len(), 4);
    assert!(!m.pg_upmap.is_empty() && !m.pg_upmap_items.is_empty());
    assert!(!m.pg_temp.is_empty() && !m.primary_temp.is_empty());
    assert!(m.osds.iter().any(|o| o.primary_affinity != OSD_IN));
    assert_eq!(m.max_osd(), 9);
    assert!(
        !m.exists(8) && m.osds[8].uuid == [0; 16],
        "osd.8 was removed"
    );

    // A flipped bit anywhere fails the crc (or the decode).
    for at in [10, blob.len() / 2, blob.len() - 5] {
        let mut bad = blob.clone();
        bad[at] ^= 0x10;
        assert!(OsdMap::decode(&bad).is_err(), "bit flip at {at} decoded");
    }
    // Every truncation is an error, never a panic.
    for cut in (0..blob.len()).step_by(97) {
        assert!(
            OsdMap::decode(&blob[..cut]).is_err(),
            "cut at {cut} decoded"
        );
    }
}

/// Subscribes to the osdmap from epoch 1, applies every incremental to the
/// epoch-1 full map, and checks the result equals the mon's full map at
/// every epoch.
#[test]
fn ceph_osdmap_incrementals_rebuild_every_full_map() {
    let s = setup();
    let c = &s.cluster;
    let fsid = fsid(c);
    let mut mc = admin(c);
    let dump = mon_json(&mut mc, fsid, r#"{"prefix":"osd dump","format":"json"}"#);
    let newest = u(&dump["epoch"]) as u32;
    let mut sub = MonSubscribe::default();
    sub.want("osdmap", 1, 0);
    mc.subscribe(&sub);
    let mut incs: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !(2..=newest).all(|e| incs.contains_key(&e)) {
        assert!(
            std::time::Instant::now() < deadline,
            "incrementals 2..={newest} not all received: have {:?}",
            incs.keys().collect::<Vec<_>>()
        );
        for msg in mc.poll_messages(Duration::from_millis(200)).expect("poll") {
            if msg.ty == types::OSD_MAP {
                let m: MOsdMap = from_message(&msg).expect("MOSDMap decodes");
                incs.extend(m.incremental_maps);
            }
        }
    }
    // POLLMSGR_OSDMAP_SEEDS=DIR keeps the maps seen here (the fuzz seeds
    // under tests/data/osdmap/ were made this way).
    let keep = std::env::var_os("POLLMSGR_OSDMAP_SEEDS").map(std::path::PathBuf::from);
    if let Some(dir) = &keep {
        std::fs::create_dir_all(dir).expect("seed dir");
        for (e, blob) in &incs {
            std::fs::write(dir.join(format!("inc-{e}")), blob).expect("write seed");
        }
        std::fs::write(
            dir.join(format!("full-{newest}")),
            getmap(&mut mc, fsid, newest),
        )
        .expect("write seed");
    }
    let mut map = OsdMap::decode(&getmap(&mut mc, fsid, 1)).expect("epoch 1 decodes");
    assert_eq!(map.epoch, 1);
    let mut saw = BTreeSet::new();
    for e in 2..=newest {
        let inc = Incremental::decode(&incs[&e]).unwrap_or_else(|err| panic!("inc {e}: {err}"));
        assert_eq!(inc.epoch, e);
        for (what, non_empty) in [
            ("new_pools", !inc.new_pools.is_empty()),
            ("new_up_client", !inc.new_up_client.is_empty()),
            ("new_state", !inc.new_state.is_empty()),
            ("new_weight", !inc.new_weight.is_empty()),
            ("crush", !inc.crush.is_empty()),
            ("new_pg_upmap", !inc.new_pg_upmap.is_empty()),
            ("new_pg_upmap_items", !inc.new_pg_upmap_items.is_empty()),
            ("new_pg_temp", !inc.new_pg_temp.is_empty()),
            ("new_primary_temp", !inc.new_primary_temp.is_empty()),
            ("new_primary_affinity", !inc.new_primary_affinity.is_empty()),
            (
                "new_erasure_code_profiles",
                !inc.new_erasure_code_profiles.is_empty(),
            ),
            ("new_max_osd", inc.new_max_osd >= 0),
        ] {
            if non_empty {
                saw.insert(what);
            }
        }
        map.apply_incremental(&inc)
            .unwrap_or_else(|err| panic!("apply inc {e}: {err}"));
        let full = OsdMap::decode(&getmap(&mut mc, fsid, e))
            .unwrap_or_else(|err| panic!("full {e}: {err}"));
        assert_eq!(
            map, full,
            "epoch {e}: applied incrementals differ from the full map"
        );
        // An incremental applies only to its predecessor.
        assert!(matches!(
            map.clone().apply_incremental(&inc),
            Err(pollmsgr::osdmap::OsdMapError::EpochMismatch { .. })
        ));
    }
    assert_eq!(saw.len(), 12, "the scenario exercised only {saw:?}");
    compare_with_dump(&map, &dump);
}

/// Runs `cmds` through the mon `window` at a time (pipelined on one
/// session) and returns the JSON replies in order.
fn mon_json_many(mc: &mut MonClient, fsid: [u8; 16], cmds: &[String], window: usize) -> Vec<Value> {
    // Our own tid range, far from MonClient::command's.
    const BASE: u64 = 1 << 40;
    let mut out = Vec::with_capacity(cmds.len());
    for (chunk_no, chunk) in cmds.chunks(window).enumerate() {
        let first = BASE + (chunk_no * window) as u64;
        for (i, cmd) in chunk.iter().enumerate() {
            let c = MonCommand {
                fsid,
                cmd: vec![cmd.clone()],
                inbl: Vec::new(),
            };
            mc.send(to_message(&c, first + i as u64));
        }
        // poll_messages, not wait_for: all replies of a poll are kept.
        let mut acks: BTreeMap<u64, MonCommandAck> = BTreeMap::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while acks.len() < chunk.len() {
            assert!(
                std::time::Instant::now() < deadline,
                "only {} of {} command replies came (first: {})",
                acks.len(),
                chunk.len(),
                chunk[0]
            );
            for m in mc.poll_messages(Duration::from_millis(50)).expect("poll") {
                let ours = (first..first + chunk.len() as u64).contains(&m.tid);
                if m.ty == types::MON_COMMAND_ACK && ours {
                    acks.insert(m.tid, from_message(&m).expect("ack decodes"));
                }
            }
        }
        for (cmd, ack) in chunk.iter().zip(acks.values()) {
            assert_eq!(ack.r, 0, "{cmd}: {}", ack.rs);
            out.push(serde_json::from_slice(&ack.outbl).unwrap_or_else(|e| panic!("{cmd}: {e}")));
        }
    }
    out
}

fn osd_list(v: &Value) -> Vec<i32> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|o| i32::try_from(i(o)).expect("osd id"))
        .collect()
}

/// The up/acting sets `osd map` printed.
fn up_acting_json(v: &Value) -> UpActing {
    UpActing {
        up: osd_list(&v["up"]),
        up_primary: i(&v["up_primary"]) as i32,
        acting: osd_list(&v["acting"]),
        acting_primary: i(&v["acting_primary"]) as i32,
    }
}

/// 10,400 object names over the four pools (8, 12, 32 PGs replicated with
/// two rules, 8 PGs erasure), a fifth of them in namespaces: our pgid, raw
/// pgid, up, up_primary, acting and acting_primary equal the mon's
/// `osd map`; and every PG of every pool maps as the mon's `pg map` says.
#[test]
fn ceph_osdmap_placement_matches_osd_map() {
    let s = setup();
    let c = &s.cluster;
    let fsid = fsid(c);
    let mut mc = admin(c);
    let mut maps: BTreeMap<u32, OsdMap> = BTreeMap::new();
    let mut map_at = |mc: &mut MonClient, e: u32| -> OsdMap {
        maps.entry(e)
            .or_insert_with(|| {
                OsdMap::decode(&getmap(mc, fsid, e)).unwrap_or_else(|err| panic!("map {e}: {err}"))
            })
            .clone()
    };
    let dump = mon_json(&mut mc, fsid, r#"{"prefix":"osd dump","format":"json"}"#);
    let epoch = u(&dump["epoch"]) as u32;
    let m = map_at(&mut mc, epoch);
    assert!(m.crush_map().is_some());

    // Every PG: up and acting as `pg map` (no primaries there).
    let mut pgs = Vec::new();
    for (&pool, p) in &m.pools {
        for seed in 0..p.pg_num {
            pgs.push(PgId { pool, seed });
        }
    }
    let cmds: Vec<String> = pgs
        .iter()
        .map(|pg| {
            format!(
                r#"{{"prefix":"pg map","pgid":"{}","format":"json"}}"#,
                pg_str(pg)
            )
        })
        .collect();
    let replies = mon_json_many(&mut mc, fsid, &cmds, 64);
    let mut shapes = BTreeSet::new();
    for (pg, r) in pgs.iter().zip(&replies) {
        let m = map_at(&mut mc, u(&r["epoch"]) as u32);
        let ours = m.pg_to_up_acting(*pg);
        assert_eq!(ours.up, osd_list(&r["up"]), "pg {} up", pg_str(pg));
        assert_eq!(
            ours.acting,
            osd_list(&r["acting"]),
            "pg {} acting",
            pg_str(pg)
        );
        if ours.up != ours.acting {
            shapes.insert("temp");
        }
        if ours.up.contains(&0x7fff_ffff) {
            shapes.insert("none-slot");
        }
        let pool = &m.pools[&pg.pool];
        if ours.up.len() < usize::from(pool.size) && pool.can_shift_osds() {
            shapes.insert("short");
        }
    }
    assert!(
        shapes.contains("temp"),
        "no PG with a temp mapping: {shapes:?}"
    );

    // Objects: pgid, raw pgid and all four sets as `osd map`.
    let names: Vec<(String, String, String)> = (0..10_400)
        .map(|n| {
            let pool = ["p8", "p12", "p32", "ec"][n % 4].to_string();
            let nspace = if n % 5 == 0 {
                format!("ns{}", n % 3)
            } else {
                String::new()
            };
            (pool, format!("obj-{n}-{}", n * 7919 % 1000), nspace)
        })
        .collect();
    let cmds: Vec<String> = names
        .iter()
        .map(|(pool, name, ns)| {
            if ns.is_empty() {
                format!(r#"{{"prefix":"osd map","pool":"{pool}","object":"{name}","format":"json"}}"#)
            } else {
                format!(
                    r#"{{"prefix":"osd map","pool":"{pool}","object":"{name}","nspace":"{ns}","format":"json"}}"#
                )
            }
        })
        .collect();
    let replies = mon_json_many(&mut mc, fsid, &cmds, 64);
    let mut primaries_moved = 0;
    let mut pgs_seen = BTreeSet::new();
    for ((pool, name, ns), r) in names.iter().zip(&replies) {
        let m = map_at(&mut mc, u(&r["epoch"]) as u32);
        let id = m.pool_by_name(pool).expect("pool");
        let what = format!("{pool}/{ns}/{name}");
        let raw = m
            .object_to_raw_pg(id, name.as_bytes(), ns.as_bytes(), None)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let pg = m
            .object_to_pg(id, name.as_bytes(), ns.as_bytes(), None)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            format!("{}.{:x}", raw.pool, raw.seed),
            r["raw_pgid"].as_str().unwrap_or(""),
            "{what} raw pgid"
        );
        assert_eq!(pg_str(&pg), r["pgid"].as_str().unwrap_or(""), "{what} pgid");
        let ours = m.pg_to_up_acting(pg);
        assert_eq!(ours, up_acting_json(r), "{what} in pg {}", pg_str(&pg));
        if ours.up.first() != Some(&ours.up_primary) || ours.acting_primary != ours.up_primary {
            primaries_moved += 1;
        }
        pgs_seen.insert(pg);
    }
    let total_pgs: u32 = m.pools.values().map(|p| p.pg_num).sum();
    assert_eq!(pgs_seen.len(), total_pgs as usize, "not every PG was hit");
    assert!(
        primaries_moved > 0,
        "no primary moved by affinity or primary_temp"
    );
}
