//! A real ceph-mon inside a network namespace this test creates, reached
//! with `pollmsgr mon-command` through smoltcp over a TAP device and over a
//! DPDK net_tap port (issue: reactors and transports).
//!
//! The mon binds 169.254.77.1 on the namespace's loopback; mon-command's
//! link (169.254.78.0/24 or .79.0/24) has its kernel side in the namespace,
//! which routes to the mon. Every address exists only inside the namespace
//! and inside smoltcp. Needs root.

mod common;

use std::process::Command;

use common::{pollmsgr_bin, Auth, CephCluster, ClusterOpts};

use common::netns::MonNamespace as MonNs;

fn mon_in(ns: &MonNs) -> CephCluster {
    common::require_ceph();
    CephCluster::start_at(
        ClusterOpts {
            auth: Auth::None,
            with_osd: false,
            ..ClusterOpts::default()
        },
        common::netns::MON_IP,
        3300,
        Some(&ns.name),
    )
    .unwrap_or_else(|e| panic!("mon in {} did not start: {e}", ns.name))
}

fn fsid_over(transport: &str, ns: &MonNs, link: &str, c: &CephCluster) {
    let out = Command::new(pollmsgr_bin())
        .args([
            "mon-command",
            "--mon",
            &c.mon_addr,
            "--transport",
            transport,
            "--netns",
            &ns.name,
            "--link",
            link,
            "--timeout",
            "20",
            "--json",
            r#"{"prefix": "fsid", "format": "json"}"#,
        ])
        .output()
        .expect("run pollmsgr");
    assert!(
        out.status.success(),
        "mon-command over {transport} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["r"], 0, "{v}");
    let fsid: serde_json::Value =
        serde_json::from_str(v["out"].as_str().unwrap_or("")).expect("fsid JSON");
    assert_eq!(fsid["fsid"], c.fsid.as_str(), "{v}");
}

#[test]
fn interop_mon_in_namespace_over_smoltcp_tap() {
    let ns = MonNs::new("t");
    let c = mon_in(&ns);
    fsid_over("tap", &ns, "169.254.78", &c);
}

#[test]
fn interop_mon_in_namespace_over_dpdk_net_tap() {
    let ns = MonNs::new("d");
    let c = mon_in(&ns);
    fsid_over("dpdk", &ns, "169.254.79", &c);
}
