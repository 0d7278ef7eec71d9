//! Checks the interop harness itself against the real `ceph` CLI: clusters come up
//! msgr2-only on their own loopback address, env.sh is parsed right, and `Drop` stops
//! every daemon and removes the directory.

mod common;

use common::ceph::{parse_v2_addr, pid_running};
use common::{pollmsgr_bin, unique_loopback_ip, Auth, CephCluster, ClusterOpts};
use serde_json::Value;
use std::time::{Duration, Instant};

fn start(auth: Auth, with_osd: bool) -> CephCluster {
    common::require_ceph();
    let t = Instant::now();
    let c = CephCluster::start(ClusterOpts {
        auth,
        with_osd,
        ..ClusterOpts::default()
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    eprintln!(
        "started {:?} (osd: {with_osd}) in {:?}: {c:?}",
        auth,
        t.elapsed()
    );
    c
}

/// The monmap's only mon: exactly one address, msgr2, at `c.mon_addr`, nonce 0.
fn check_monmap(c: &CephCluster) {
    let m = c.ceph_json(&["mon", "dump"]).unwrap();
    assert_eq!(m["fsid"], Value::from(c.fsid.as_str()));
    let mons = m["mons"].as_array().expect("mons array");
    assert_eq!(mons.len(), 1, "one mon: {m}");
    let av = mons[0]["public_addrs"]["addrvec"]
        .as_array()
        .expect("addrvec");
    assert_eq!(av.len(), 1, "msgr2-only: no v1 address expected: {m}");
    assert_eq!(av[0]["type"], "v2");
    assert_eq!(av[0]["nonce"], 0);
    assert_eq!(
        format!("v2:{}", av[0]["addr"].as_str().unwrap()),
        c.mon_addr
    );
    let (sa, nonce) = parse_v2_addr(&c.mon_addr).unwrap();
    assert_eq!((*sa.ip(), sa.port(), nonce), (c.ip, c.mon_port, 0));
}

/// `ceph osd dump`: osd.0 up and in, with exactly the v2 address and nonce of env.sh.
fn check_osd0(c: &CephCluster) {
    let d = c.ceph_json(&["osd", "dump"]).unwrap();
    let osd = d["osds"]
        .as_array()
        .and_then(|v| v.iter().find(|o| o["osd"] == 0))
        .unwrap_or_else(|| panic!("osd.0 not in the osdmap: {d}"));
    assert_eq!(osd["up"], 1, "osd.0 up: {osd}");
    assert_eq!(osd["in"], 1, "osd.0 in: {osd}");
    let v2 = osd["public_addrs"]["addrvec"]
        .as_array()
        .expect("addrvec")
        .iter()
        .find(|a| a["type"] == "v2")
        .unwrap_or_else(|| panic!("osd.0 has no v2 address: {osd}"));
    let want = format!(
        "v2:{}/{}",
        v2["addr"].as_str().unwrap(),
        v2["nonce"].as_u64().unwrap()
    );
    assert_eq!(c.osd0_addr.as_deref(), Some(want.as_str()));
    let (sa, nonce) = c.osd0_socket_addr().expect("osd0 address parses");
    assert_eq!(*sa.ip(), c.ip, "osd binds the cluster's own IP");
    assert_ne!(
        nonce, 0,
        "an OSD's nonce is its pid-derived, non-zero value"
    );
    let osd_pid = c
        .daemon_pids()
        .into_iter()
        .find(|(n, _)| n == "osd.0")
        .map(|(_, p)| p)
        .expect("osd.0 pid file");
    assert_eq!(nonce, osd_pid, "Pacific uses the pid as the OSD's nonce");
    assert!(
        !osd["public_addrs"]["addrvec"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["type"] == "v1"),
        "msgr2-only OSD: {osd}"
    );
}

#[test]
fn harness_auth_none_mon_and_osd() {
    let c = start(Auth::None, true);
    assert!(c.ip.is_loopback());
    assert_eq!(c.admin_key, None);
    assert_eq!(c.osd0_key, None);

    let s = c.ceph_json(&["status"]).unwrap();
    assert_eq!(s["fsid"], Value::from(c.fsid.as_str()));
    assert_eq!(s["monmap"]["num_mons"], 1);
    assert_eq!(s["quorum_names"][0], "a");
    assert_eq!(s["osdmap"]["num_osds"], 1);
    assert_eq!(s["osdmap"]["num_up_osds"], 1);
    let stat = c.ceph_ok(&["mon", "stat"]).unwrap();
    assert!(stat.contains("quorum 0 a"), "mon stat: {stat}");
    check_monmap(&c);
    check_osd0(&c);
    assert!(c.log_path("mon.a").is_file());
    assert!(c.log_path("osd.0").is_file());
}

#[test]
fn harness_cephx_mon_only() {
    let c = start(Auth::Cephx, false);
    assert_eq!(c.osd0_addr, None);
    assert!(c.daemon_pids().iter().all(|(n, _)| !n.starts_with("osd")));
    let key = c.admin_key.clone().expect("cephx cluster has an admin key");

    // The mon knows client.admin with exactly the key env.sh reported.
    let a = c.ceph_json(&["auth", "get", "client.admin"]).unwrap();
    assert_eq!(a[0]["key"], Value::from(key.as_str()), "{a}");
    let s = c.ceph_json(&["status"]).unwrap();
    assert_eq!(s["osdmap"]["num_osds"], 0);
    check_monmap(&c);

    // cephx is enforced: a wrong secret is refused.
    let wrong = "AQBrDAdrAAAAABAAAAAAAAAAAAAAAAAAAAAAAA==";
    assert_ne!(wrong, key);
    let out = c.ceph(&["--name", "client.admin", "--key", wrong, "mon", "stat"]);
    assert!(
        !out.status.success(),
        "a wrong key must not authenticate: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn harness_cephx_mon_and_osd() {
    let c = start(Auth::Cephx, true);
    let key = c.osd0_key.clone().expect("cephx OSD has a key");
    let a = c.ceph_json(&["auth", "get", "osd.0"]).unwrap();
    assert_eq!(a[0]["key"], Value::from(key.as_str()), "{a}");
    check_osd0(&c);
}

#[test]
fn harness_drop_stops_daemons_and_removes_dir() {
    let c = start(Auth::None, true);
    let pids = c.daemon_pids();
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["mon.a", "osd.0", "watcher"]);
    for (n, p) in &pids {
        assert!(pid_running(*p), "{n} (pid {p}) runs before drop");
    }
    let dir = c.dir.clone();
    let mon = c.mon_socket_addr();
    assert!(std::net::TcpStream::connect_timeout(&mon, Duration::from_secs(2)).is_ok());
    drop(c);
    for (n, p) in &pids {
        assert!(!pid_running(*p), "{n} (pid {p}) still runs after drop");
    }
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
    assert!(
        std::net::TcpStream::connect_timeout(&mon, Duration::from_secs(2)).is_err(),
        "mon port {mon} still accepts after drop"
    );
}

#[test]
fn harness_two_clusters_side_by_side() {
    let a = start(Auth::None, false);
    let b = start(Auth::None, false);
    assert_ne!(a.mon_socket_addr(), b.mon_socket_addr());
    assert_ne!(a.dir, b.dir);
    assert_ne!(a.fsid, b.fsid);
    for c in [&a, &b] {
        let s = c.ceph_json(&["status"]).unwrap();
        assert_eq!(s["fsid"], Value::from(c.fsid.as_str()));
    }
}

#[test]
fn harness_helpers() {
    let ip = unique_loopback_ip();
    assert!(ip.is_loopback());
    assert_eq!(unique_loopback_ip(), ip, "stable within a process");
    let port = common::free_port(ip).unwrap();
    assert_ne!(port, 0);
    assert!(std::net::TcpListener::bind((ip, port)).is_ok());

    let (sa, nonce) = parse_v2_addr("v2:127.1.2.3:6800/4242").unwrap();
    assert_eq!(sa.to_string(), "127.1.2.3:6800");
    assert_eq!(nonce, 4242);
    assert_eq!(parse_v2_addr("v2:127.0.0.1:3300").unwrap().1, 0);
    assert!(parse_v2_addr("v1:127.0.0.1:6789/0").is_err());
    assert!(parse_v2_addr("v2:127.0.0.1/1").is_err());
    assert!(parse_v2_addr("v2:127.0.0.1:3300/x").is_err());

    assert!(pid_running(std::process::id()));
    assert!(pollmsgr_bin().is_file(), "{}", pollmsgr_bin().display());
}
