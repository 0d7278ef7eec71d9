//! msgr2 secure mode (AES-128-GCM, reference section 4) between two pollmsgr
//! processes with real cephx (reference section 8): keys and tickets come
//! from a real ceph-mon.
//!
//! `pollmsgr serve --osds 4 --auth cephx` runs as one OSD identity
//! registered in the mon and shares its rotating OSD secrets with all four
//! endpoints; `pollmsgr bench --auth cephx` authenticates as client.admin,
//! takes the mon's OSD ticket and loads the endpoints with 8 connections,
//! in secure mode and in crc mode. The report's mode is what the sessions
//! negotiated.

mod common;

use std::process::Command;

use common::pollmsgr::{strings, Serve};
use common::{pollmsgr_bin, Auth, CephCluster, ClusterOpts};

fn bench(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(pollmsgr_bin())
        .arg("bench")
        .args(args)
        .output()
        .expect("run pollmsgr bench");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), v, stderr)
}

/// A cephx mon with OSD `osd_id` registered: the cluster and the paths of
/// the OSD's and client.admin's keyrings.
fn cephx_cluster(osd_id: u32) -> (CephCluster, String, String) {
    common::require_ceph();
    let c = CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd: false,
        ..ClusterOpts::default()
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    let (osd_kr, _) = c
        .register_osd(osd_id)
        .unwrap_or_else(|e| panic!("register osd.{osd_id}: {e}"));
    let osd_kr = osd_kr.to_str().expect("utf8").to_owned();
    let admin_kr = c.dir.join("keyring").to_str().expect("utf8").to_owned();
    (c, osd_kr, admin_kr)
}

/// `serve` with cephx keys from `c` (`osd_kr` holds the identity's key),
/// offering both modes, on core 0; `args` add the entity, listener, ...
fn serve_cephx(c: &CephCluster, osd_kr: &str, args: &[&str]) -> (Serve, serde_json::Value) {
    let cephx = [
        "--auth",
        "cephx",
        "--mon",
        &c.mon_addr,
        "--keyring",
        osd_kr,
        "--mode",
        "prefer-crc",
        "--cores",
        "0",
    ];
    Serve::start(&[args, &cephx[..]].concat())
}

#[test]
fn interop_secure_bench_cephx_secure_and_crc_between_two_pollmsgr_processes() {
    let (c, osd_kr, admin_kr) = cephx_cluster(5);
    let (osd_kr, admin_kr) = (osd_kr.as_str(), admin_kr.as_str());
    let listen = format!("v2:{}:0/2000", c.ip);
    let (mut serve, ready) = serve_cephx(
        &c,
        osd_kr,
        &["--entity", "osd.5", "--osds", "4", "--listen", &listen],
    );
    assert_eq!(ready["auth"], "cephx", "{ready}");
    let endpoints = strings(&ready, "endpoints");
    assert_eq!(endpoints.len(), 4, "{ready}");
    let connect = endpoints.join(",");

    for mode in ["secure", "crc"] {
        let (ok, v, err) = bench(&[
            "--connect",
            &connect,
            "--auth",
            "cephx",
            "--mon",
            &c.mon_addr,
            "--keyring",
            admin_kr,
            "--name",
            "client.admin",
            "--mode",
            mode,
            "--conns",
            "8",
            "--duration",
            "1",
            "--cores",
            "1",
            "--json",
        ]);
        assert!(ok, "bench --mode {mode} failed: {v}\n{err}");
        assert_eq!(v["sessions"], 8, "{mode}: {v}");
        assert_eq!(v["mode"], mode, "{mode}: negotiated mode: {v}");
        assert_eq!(v[format!("sessions_{mode}")], 8, "{mode}: {v}");
        assert_eq!(v["auth"], "cephx", "{mode}: {v}");
        assert!(v["completed"].as_u64().unwrap_or(0) > 0, "{mode}: {v}");
        assert_eq!(v["mismatches"], 0, "{mode}: {v}");
        assert_eq!(v["errors"], 0, "{mode}: {v}");
    }

    // Secure mode without cephx credentials: an error that says what to add.
    let (ok, _, err) = bench(&["--connect", &connect, "--mode", "secure", "--duration", "1"]);
    assert!(!ok, "bench --mode secure without cephx must fail");
    assert!(
        err.contains("--auth cephx") && err.contains("--mon") && err.contains("--keyring"),
        "not actionable: {err}"
    );
    // auth none toward cephx endpoints is refused, and the report says why.
    let (ok, v, err) = bench(&["--connect", &connect, "--mode", "crc", "--duration", "1"]);
    assert!(!ok, "auth none toward cephx endpoints must fail: {v}");
    assert!(err.contains("no acceptable auth method"), "{err}");

    let (summary, log) = serve.stop();
    let v: serde_json::Value = serde_json::from_str(summary.trim())
        .unwrap_or_else(|e| panic!("serve printed no summary ({e}): {summary:?}\n{log}"));
    assert_eq!(v["auth"], "cephx", "{v}");
    assert_eq!(v["sessions"], 16, "{v}\n{log}");
    assert!(
        log.contains("rotating keys: 3 secrets for osd"),
        "rotating keys not fetched from the mon: {log}"
    );
    let key = std::fs::read_to_string(osd_kr).expect("keyring");
    let key = key
        .lines()
        .find_map(|l| l.trim().strip_prefix("key = "))
        .expect("key line");
    assert!(!log.contains(key), "the OSD key leaked into the log");
}

/// Secure mode over smoltcp/TAP: `serve --transport tap` with cephx, and a
/// bench whose cephx mon session is on the host's loopback while its load
/// connections are opened inside the TAP namespace (`bench --netns`), which
/// has no route to that mon.
#[test]
fn interop_secure_bench_over_tap_with_the_mon_outside_the_namespace() {
    let (c, osd_kr, admin_kr) = cephx_cluster(6);
    let (osd_kr, admin_kr) = (osd_kr.as_str(), admin_kr.as_str());
    let (mut serve, ready) = serve_cephx(
        &c,
        osd_kr,
        &[
            "--entity",
            "osd.6",
            "--osds",
            "2",
            "--listen",
            "v2:127.0.0.1:0/600",
            "--transport",
            "tap",
        ],
    );
    let ns = ready["netns"].as_str().expect("netns").to_owned();
    let connect = strings(&ready, "endpoints").join(",");
    let cephx = [
        "--connect",
        &connect,
        "--auth",
        "cephx",
        "--mon",
        &c.mon_addr,
        "--keyring",
        admin_kr,
        "--mode",
        "secure",
        "--conns",
        "4",
        "--duration",
        "1",
        "--cores",
        "1",
        "--json",
    ];
    let (ok, v, err) = bench(&[&cephx[..], &["--netns", &ns]].concat());
    assert!(ok, "bench --netns {ns} failed: {v}\n{err}");
    assert_eq!(v["sessions_secure"], 4, "{v}");
    assert_eq!(v["auth"], "cephx", "{v}");
    assert!(v["completed"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["mismatches"], 0, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    let (summary, log) = serve.stop();
    let s: serde_json::Value = serde_json::from_str(summary.trim())
        .unwrap_or_else(|e| panic!("serve printed no summary ({e}): {summary:?}\n{log}"));
    assert_eq!(s["transport"], "tap", "{s}");
    assert_eq!(s["sessions"], 4, "{s}\n{log}");
}
