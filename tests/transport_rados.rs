//! `pollmsgr rados put/get` and `pollmsgr ping` over smoltcp on TAP devices
//! (`--transport tap`, through `net::spec`) against a real Ceph 16.2 cluster
//! (a ceph-mon and a memstore ceph-osd, cephx) inside a network namespace
//! this test creates and removes (issue 9: the RADOS client on the
//! userspace transports).
//!
//! The daemons bind 169.254.77.1 on the namespace's loopback; pollmsgr's mon
//! session and objecter each get a TAP whose kernel side is moved into the
//! namespace as their gateway (169.254.78.0/24 and 169.254.79.0/24). Every
//! address exists only inside the namespace and inside smoltcp. The real
//! `rados`, run inside the namespace, is the oracle. Needs root.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::netns::{MonNamespace, MON_IP};
use common::{pollmsgr_bin, require_ceph, Auth, CephCluster, ClusterOpts};

/// `pollmsgr rados -c CONF -p POOL --transport tap --netns NS ARGS`, bounded in time.
fn pm_tap(c: &CephCluster, ns: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "5", "120"])
        .arg(pollmsgr_bin())
        .arg("rados")
        .arg("-c")
        .arg(&c.conf_path)
        .args(["-p", "tapp", "--transport", "tap", "--netns", ns])
        .args(["--link", "169.254.78"])
        .args(args)
        .env_remove("CEPH_CONF")
        .stdin(Stdio::null())
        .output()
        .expect("run pollmsgr rados")
}

/// The real `rados -c CONF -p POOL ARGS`, inside the namespace.
fn real_in(c: &CephCluster, ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "timeout", "-k", "5", "120", "rados", "-c",
        ])
        .arg(&c.conf_path)
        .args(["-p", "tapp"])
        .args(args)
        .env_remove("CEPH_ARGS")
        .env_remove("CEPH_CONF")
        .stdin(Stdio::null())
        .output()
        .expect("run rados")
}

fn ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// 300 KiB that differ per `seed` (many TCP segments and several smoltcp windows).
fn payload(seed: u8) -> Vec<u8> {
    (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(31) as u8) ^ seed)
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn interop_rados_and_ping_over_smoltcp_tap() {
    require_ceph();
    assert!(
        dpdk_env::testkit::is_root(),
        "this test needs root (TAP devices, network namespaces)"
    );
    let ns = MonNamespace::new("r");
    let c = CephCluster::start_at(
        ClusterOpts {
            auth: Auth::Cephx,
            with_osd: true,
            ..ClusterOpts::default()
        },
        MON_IP,
        3300,
        Some(&ns.name),
    )
    .unwrap_or_else(|e| panic!("cluster in {} did not start: {e}", ns.name));
    c.ceph_ok(&["osd", "pool", "create", "tapp", "8"])
        .expect("pool create");

    // pollmsgr writes over TAP; the real rados reads it back.
    let ours = c.dir.join("ours.in");
    std::fs::write(&ours, payload(1)).expect("write input");
    ok(
        "pollmsgr rados put over tap",
        &pm_tap(&c, &ns.name, &["put", "by-pollmsgr", path(&ours)]),
    );
    let back = c.dir.join("ours.out");
    ok(
        "rados get",
        &real_in(&c, &ns.name, &["get", "by-pollmsgr", path(&back)]),
    );
    assert!(
        std::fs::read(&back).expect("read back") == payload(1),
        "the object pollmsgr wrote over TAP reads back different with the real rados"
    );

    // The real rados writes; pollmsgr reads it over TAP.
    let theirs = c.dir.join("theirs.in");
    std::fs::write(&theirs, payload(2)).expect("write input");
    ok(
        "rados put",
        &real_in(&c, &ns.name, &["put", "by-rados", path(&theirs)]),
    );
    let got = c.dir.join("theirs.out");
    ok(
        "pollmsgr rados get over tap",
        &pm_tap(&c, &ns.name, &["get", "by-rados", path(&got)]),
    );
    assert!(
        std::fs::read(&got).expect("read got") == payload(2),
        "pollmsgr over TAP read an object different from the one the real rados wrote"
    );

    // ping: the mon session and an OSD session with a cephx authorizer, over TAP.
    let osd = c.osd0_addr.clone().expect("osd.0 address");
    let keyring = c.dir.join("keyring");
    let out = Command::new("timeout")
        .args(["-k", "5", "90"])
        .arg(pollmsgr_bin())
        .args([
            "ping",
            "--mon",
            &c.mon_addr,
            "--osd",
            &osd,
            "--auth",
            "cephx",
        ])
        .args([
            "--keyring",
            path(&keyring),
            "--count",
            "5",
            "--timeout",
            "30",
        ])
        .args(["--json", "--transport", "tap", "--netns", &ns.name])
        .args(["--link", "169.254.80"])
        .stdin(Stdio::null())
        .output()
        .expect("run pollmsgr ping");
    ok("pollmsgr ping over tap", &out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ping JSON");
    assert_eq!(v["count"], 5, "{v}");
    assert_eq!(v["lost"], 0, "{v}");
    drop(c);
    drop(ns);
}
