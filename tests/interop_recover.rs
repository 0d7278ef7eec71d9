//! Clients that recover (issue 8, item 6), against real Ceph 16.2 daemons:
//! `ping` to a real ceph-osd that injects socket failures
//! (`ms_inject_socket_failures`) completes its run, counting the keepalives
//! lost and the sessions dialed again; a `MonClient` whose ceph-mon is
//! SIGKILLed and restarted hunts, authenticates again and its osdmap
//! subscription resumes from the next epoch (the real `ceph osd dump` is
//! the oracle for the epochs); `serve --osds 2 --join` keeps its OSDs'
//! mon sessions through the same restart and its endpoints learn the next
//! epoch (`ceph tell osd.N status`); `mon-command` whose first mon_host
//! entry is dead reaches the next, and with every entry dead says what each
//! answered.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::monc::{
    admin_monclient, epochs, keyring_path, osdmap_epoch, poll_osdmaps_until, subscribe_osdmap,
};
use common::pollmsgr::{run_json, Serve};
use common::{pollmsgr_bin, Auth, CephCluster, ClusterOpts};
use pollmsgr::auth::cephx::Keyring;
use pollmsgr::monc::{MonAuth, MonClient, MonClientConfig};
use pollmsgr::msg::{from_message, types};
use pollmsgr::wire::addr::EntityAddr;
use pollmsgr::wire::entity::AuthEntityName;

fn cluster(with_osd: bool) -> CephCluster {
    common::require_ceph();
    CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd,
        ..ClusterOpts::default()
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"))
}

/// A loopback address on the cluster's IP where nothing listens.
fn dead_mon(c: &CephCluster) -> String {
    let port = common::free_port(c.ip).expect("free port");
    format!("v2:{}:{port}", c.ip)
}

#[test]
fn interop_ping_survives_injected_osd_socket_failures() {
    let c = cluster(true);
    c.daemon_config_set("osd.0", "ms_inject_socket_failures", "50")
        .expect("inject socket failures into osd.0");
    let osd = c.osd0_addr.clone().expect("osd.0 address");
    let kr = keyring_path(&c);
    let count = 300u64;
    let v = run_json(&[
        "ping",
        "--mon",
        &c.mon_addr,
        "--osd",
        &osd,
        "--keyring",
        &kr,
        "--count",
        &count.to_string(),
        "--timeout",
        "60",
        "--json",
    ]);
    eprintln!("{v}");
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    assert_eq!(n("sent"), count, "{v}");
    assert_eq!(n("count") + n("lost"), count, "answered + lost = sent: {v}");
    assert!(n("reconnects") >= 1, "the OSD reset no session: {v}");
    assert!(n("count") > count / 2, "most keepalives answered: {v}");
    // The resets were Ceph's own injections, not a fault of ours.
    let log = std::fs::read_to_string(c.log_path("osd.0")).expect("osd log");
    let injected = log.matches("injecting socket failure").count();
    assert!(injected >= 1, "osd.0 logged no injected failure");
    eprintln!(
        "{} answered, {} lost, {} reconnects; osd.0 injected {injected} failures",
        n("count"),
        n("lost"),
        n("reconnects")
    );
}

#[test]
fn interop_monclient_rehunts_after_mon_restart_and_osdmap_subscription_resumes() {
    let c = cluster(false);
    let mut mc = admin_monclient(
        &c,
        c.mon_addr.parse().expect("mon addr"),
        Duration::from_secs(30),
    );
    let gid = mc.global_id();
    let e0 = subscribe_osdmap(&mut mc);
    assert_eq!(e0, osdmap_epoch(&c), "first map is the mon's current epoch");

    // The client keeps polling while the mon is killed and started again,
    // so it sees the reset and hunts while nothing listens.
    let t = Instant::now();
    let mut after_hunt: Vec<Vec<u32>> = Vec::new();
    std::thread::scope(|s| {
        let restart = s.spawn(|| c.restart_mon());
        while mc.sessions() < 2 && t.elapsed() < Duration::from_secs(40) {
            for m in mc.poll_messages(Duration::from_millis(100)).expect("hunt") {
                if m.ty == types::OSD_MAP {
                    after_hunt.push(epochs(&from_message(&m).expect("MOSDMap")));
                }
            }
        }
        restart
            .join()
            .expect("restart thread")
            .expect("restart mon.a");
    });
    assert_eq!(mc.sessions(), 2, "no new session within 40 s");
    eprintln!(
        "new session with {} after {:?}; hunt: {:?}",
        mc.current_mon(),
        t.elapsed(),
        mc.last_hunt()
    );
    assert!(
        !mc.last_hunt().tried.is_empty(),
        "the lost session is recorded in the hunt"
    );
    assert_eq!(
        mc.global_id(),
        gid,
        "cephx reclaims the global id on the new session"
    );
    assert_eq!(
        mc.subscriptions().get("osdmap").map(|i| i.start),
        Some(e0 + 1),
        "renewed from the last epoch + 1"
    );

    // A new epoch: the renewed subscription must deliver it.
    c.ceph_ok(&["osd", "pool", "create", "recover", "8"])
        .expect("pool create");
    let e1 = osdmap_epoch(&c);
    assert!(e1 > e0, "pool create made a new epoch ({e0} -> {e1})");
    let newest = poll_osdmaps_until(&mut mc, e1, Duration::from_secs(20), &mut after_hunt);
    assert_eq!(newest, e1, "the subscription delivered the new epoch");
    let all: Vec<u32> = after_hunt.concat();
    assert!(
        all.iter().all(|&e| u64::from(e) > e0),
        "after the hunt only epochs after {e0} come: {after_hunt:?}"
    );
}

#[test]
fn interop_mon_command_hunts_past_a_dead_first_mon() {
    let c = cluster(false);
    let kr = keyring_path(&c);
    let dead = dead_mon(&c);
    let list = format!("{dead},{}", c.mon_addr);
    let v = run_json(&[
        "mon-command",
        "--mon",
        &list,
        "--auth",
        "cephx",
        "--keyring",
        &kr,
        "--json",
        r#"{"prefix": "fsid", "format": "json"}"#,
    ]);
    assert_eq!(v["r"], 0, "{v}");
    let out: serde_json::Value =
        serde_json::from_str(v["out"].as_str().unwrap_or("")).expect("fsid is JSON");
    assert_eq!(out["fsid"], c.fsid.as_str(), "{v}");
    let real: EntityAddr = c.mon_addr.parse().expect("mon addr");
    assert_eq!(v["mon"], real.to_string(), "answered by the live mon: {v}");

    // Every entry dead: it hunts until the deadline, then names each mon
    // and what it answered.
    let other = dead_mon(&c);
    let t = Instant::now();
    let out = Command::new(pollmsgr_bin())
        .args(["mon-command", "--mon", &format!("{dead},{other}")])
        .args(["--auth", "cephx", "--keyring", &kr, "--timeout", "4"])
        .arg(r#"{"prefix": "fsid"}"#)
        .output()
        .expect("run pollmsgr");
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "no mon: must fail");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(15),
        "hunted until the 4 s deadline, not longer: {took:?}"
    );
    for m in [&dead, &other] {
        let shown: EntityAddr = m.parse().expect("addr");
        assert!(err.contains(&shown.to_string()), "{m} missing: {err}");
    }
    assert!(err.contains("no monitor reachable"), "{err}");
    assert!(err.to_lowercase().contains("refused"), "{err}");
    eprintln!("{err}");
}

#[test]
fn interop_joined_endpoints_resume_their_mon_sessions_after_mon_restart() {
    let c = cluster(false);
    let conf = c.conf_path.display().to_string();
    let state = c.dir.join("pollmsgr-state").display().to_string();
    let (mut serve, ready) = Serve::start(&[
        "--osds",
        "2",
        "--join",
        "-c",
        &conf,
        "--state-dir",
        &state,
        "--cores",
        "0",
    ]);
    let ids: Vec<u64> = ready["osds"]
        .as_array()
        .expect("osds in the ready line")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert_eq!(ids.len(), 2, "{ready}");
    c.restart_mon().expect("restart mon.a");
    // The real CLI hunts too; once it answers, the mon serves again.
    let e0 = osdmap_epoch(&c);
    c.ceph_ok(&["osd", "pool", "create", "after-restart", "8"])
        .expect("pool create");
    let e1 = osdmap_epoch(&c);
    assert!(e1 > e0, "a new epoch ({e0} -> {e1})");
    // An endpoint's view advances only when its OSD's osdmap subscription
    // delivers a newer epoch: the renewed subscription must bring e1.
    let newest = |id: u64| -> u64 {
        let who = format!("osd.{id}");
        c.ceph_json(&["tell", &who, "status"])
            .map(|v| v["newest_map"].as_u64().unwrap_or(0))
            .unwrap_or(0)
    };
    let caught_up = CephCluster::wait_until(Duration::from_secs(30), || {
        ids.iter().all(|&id| newest(id) >= e1)
    });
    let seen: Vec<u64> = ids.iter().map(|&id| newest(id)).collect();
    // The endpoints share what any member learns, so the epoch can arrive
    // before every OSD's own session is back: wait until the restarted mon
    // has a session from each OSD (its hunt may be between rounds).
    let sessions_back = CephCluster::wait_until(Duration::from_secs(30), || {
        let s = c
            .ceph_ok(&["tell", "mon.a", "sessions"])
            .unwrap_or_default();
        ids.iter().all(|id| s.contains(&format!("\"osd.{id}\"")))
    });
    let (out, err) = serve.stop();
    assert!(
        sessions_back,
        "the mon has no session from every OSD\nstderr: {err}"
    );
    assert!(
        caught_up,
        "endpoints at epochs {seen:?}, the mon at {e1}\nstderr: {err}"
    );
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no serve summary ({e}): {out}\n{err}"));
    let reconnects = summary["membership"]["reconnects"].as_u64().unwrap_or(0);
    assert!(
        reconnects >= 2,
        "each OSD's mon session was re-established: {summary}\n{err}"
    );
    assert!(err.contains("new mon session"), "{err}");
    for line in err
        .lines()
        .filter(|l| l.contains("mon session") || l.contains("monitor"))
    {
        eprintln!("serve: {line}");
    }
}

#[test]
fn interop_monclient_learns_its_hunt_list_from_the_monmap() {
    let c = cluster(false);
    let name = AuthEntityName::parse_str("client.admin").expect("name");
    let ring = Keyring::parse(&std::fs::read_to_string(keyring_path(&c)).expect("keyring"))
        .expect("keyring parses");
    let key = ring.get(&name).expect("admin key").clone();
    let dead: EntityAddr = dead_mon(&c).parse().expect("addr");
    let real: EntityAddr = c.mon_addr.parse().expect("mon addr");
    let mut cfg = MonClientConfig::new(dead, name, MonAuth::Cephx(key));
    cfg.mons = vec![dead, real];
    cfg.timeout = Duration::from_secs(20);
    let mut mc = MonClient::connect(cfg).unwrap_or_else(|e| panic!("mon session: {e}"));
    assert_eq!(mc.current_mon(), real, "the live mon answered");
    let tried = &mc.last_hunt().tried;
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert_eq!(
        tried[0].mon, dead,
        "the dead one was tried first: {tried:?}"
    );
    assert_eq!(mc.mons(), [dead, real]);
    // The monmap (the real mon's, the oracle being `ceph mon dump`) replaces
    // the configured list.
    let map = mc.get_monmap().expect("monmap");
    let dump = c.ceph_json(&["mon", "dump"]).expect("mon dump");
    assert_eq!(u64::from(map.epoch), dump["epoch"].as_u64().expect("epoch"));
    let from_dump: Vec<EntityAddr> = dump["mons"]
        .as_array()
        .expect("mons in mon dump")
        .iter()
        .flat_map(|m| {
            m["public_addrs"]["addrvec"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|a| a["type"] == "v2")
        .map(|a| {
            format!("v2:{}/{}", a["addr"].as_str().unwrap_or(""), a["nonce"])
                .parse()
                .expect("v2 address in mon dump")
        })
        .collect();
    assert_eq!(from_dump, [real], "{dump}");
    assert_eq!(mc.mons(), from_dump, "hunt list from the monmap");
}
