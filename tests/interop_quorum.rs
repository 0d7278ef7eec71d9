//! Monitor hunting in a real quorum (issue 8, item 6): three real ceph-mon
//! daemons; a `MonClient` given only mon.a learns the others from the
//! monmap, and when the mon it is talking to is SIGKILLed it hunts to a
//! survivor, authenticates again (keeping its cephx global id) and its
//! osdmap subscription resumes from the next epoch, which the real
//! `ceph osd dump` says the surviving quorum made. `mon-command` whose first
//! address is the dead mon is answered by the quorum.

mod common;

use std::time::{Duration, Instant};

use common::monc::{admin_monclient, osdmap_epoch, poll_osdmaps_until, subscribe_osdmap};
use common::pollmsgr::run_json;
use common::{Auth, CephCluster, ClusterOpts};
use pollmsgr::wire::addr::EntityAddr;

const MON_IDS: [&str; 3] = ["a", "b", "c"];

#[test]
fn interop_monclient_hunts_to_a_surviving_mon_of_a_quorum_and_its_subscription_resumes() {
    common::require_ceph();
    let c = CephCluster::start_quorum(
        ClusterOpts {
            auth: Auth::Cephx,
            with_osd: false,
            ..ClusterOpts::default()
        },
        3,
    )
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    let addrs: Vec<EntityAddr> = c
        .mon_addrs
        .iter()
        .map(|a| a.parse().expect("mon addr"))
        .collect();
    assert_eq!(addrs.len(), 3, "{:?}", c.mon_addrs);
    let keyring = common::monc::keyring_path(&c);
    // Only mon.a is configured: the others come from the monmap.
    let mut mc = admin_monclient(&c, addrs[0], Duration::from_secs(60));
    let gid = mc.global_id();
    let e0 = subscribe_osdmap(&mut mc);

    // Kill the mon this client talks to; keep polling so it sees the reset.
    let victim = mc.current_mon();
    let idx = addrs
        .iter()
        .position(|a| *a == victim)
        .unwrap_or_else(|| panic!("session with {victim}, not one of {addrs:?}"));
    c.kill_mon(MON_IDS[idx]).expect("kill mon");
    let t = Instant::now();
    while mc.sessions() < 2 && t.elapsed() < Duration::from_secs(60) {
        mc.poll_messages(Duration::from_millis(100)).expect("hunt");
    }
    assert_eq!(mc.sessions(), 2, "no new session within 60 s");
    let survivor = mc.current_mon();
    eprintln!(
        "mon.{} killed; new session with {survivor} after {:?}; hunt: {:?}",
        MON_IDS[idx],
        t.elapsed(),
        mc.last_hunt()
    );
    assert_ne!(survivor, victim, "hunted to another mon");
    assert!(addrs.contains(&survivor), "{survivor} is one of {addrs:?}");
    assert_eq!(mc.global_id(), gid, "cephx reclaims the global id");
    assert_eq!(
        mc.subscriptions().get("osdmap").map(|i| i.start),
        Some(e0 + 1),
        "renewed from the last epoch + 1"
    );

    // The surviving quorum makes a new epoch; the renewed subscription brings it.
    c.ceph_ok(&["osd", "pool", "create", "quorum", "8"])
        .expect("pool create with one mon down");
    let e1 = osdmap_epoch(&c);
    assert!(e1 > e0, "a new epoch ({e0} -> {e1})");
    let newest = poll_osdmaps_until(&mut mc, e1, Duration::from_secs(30), &mut Vec::new());
    assert_eq!(
        newest, e1,
        "the subscription delivered the quorum's new epoch"
    );

    // The CLI with the dead mon first: the quorum answers.
    let list = std::iter::once(c.mon_addrs[idx].clone())
        .chain((0..3).filter(|&i| i != idx).map(|i| c.mon_addrs[i].clone()))
        .collect::<Vec<_>>()
        .join(",");
    let v = run_json(&[
        "mon-command",
        "--mon",
        &list,
        "--auth",
        "cephx",
        "--keyring",
        &keyring,
        "--json",
        r#"{"prefix": "quorum_status", "format": "json"}"#,
    ]);
    assert_eq!(v["r"], 0, "{v}");
    let answered: EntityAddr = v["mon"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no answering mon in {v}"));
    assert_ne!(answered, victim, "the dead mon cannot answer: {v}");
    let status: serde_json::Value =
        serde_json::from_str(v["out"].as_str().unwrap_or("")).expect("quorum_status is JSON");
    let quorum: Vec<&str> = status["quorum_names"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(quorum.len(), 2, "two mons left in quorum: {status}");
    assert!(!quorum.contains(&MON_IDS[idx]), "{quorum:?}");
}
