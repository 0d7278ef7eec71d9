//! `pollmsgr rados put/get/bench` and `pollmsgr ping` over smoltcp on TAP
//! devices (`--transport tap`) and on a DPDK net_tap port (`--transport
//! dpdk`), through `net::spec`, against a real Ceph 16.2 cluster (a ceph-mon
//! and a memstore ceph-osd, cephx) inside a network namespace each test
//! creates and removes (issue 9: the RADOS client on the userspace
//! transports).
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
use common::pollmsgr::Serve;
use common::{pollmsgr_bin, require_ceph, Auth, CephCluster, ClusterOpts};

/// `pollmsgr rados -c CONF -p POOL TRANSPORT_FLAGS ARGS`, bounded in time.
fn pollmsgr_rados(c: &CephCluster, pool: &str, transport: &[&str], args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "5", "120"])
        .arg(pollmsgr_bin())
        .arg("rados")
        .arg("-c")
        .arg(&c.conf_path)
        .args(["-p", pool])
        .args(transport)
        .args(args)
        .env_remove("CEPH_CONF")
        .stdin(Stdio::null())
        .output()
        .expect("run pollmsgr rados")
}

/// `pollmsgr rados` on pool `tapp` with `--transport T --netns NS --link L`.
fn pm_over(c: &CephCluster, net: &Net, args: &[&str]) -> Output {
    let flags = [
        "--transport",
        net.transport,
        "--netns",
        &net.ns,
        "--link",
        net.link,
    ];
    pollmsgr_rados(c, "tapp", &flags, args)
}

/// A `pollmsgr rados --json bench ... write` that ran over `transport`
/// without an error.
fn check_bench(what: &str, out: &Output, transport: &str) -> serde_json::Value {
    ok(what, out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    assert_eq!(v["transport"], transport, "{v}");
    assert!(v["total_ops"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
    v
}

/// How pollmsgr reaches the cluster in a test.
struct Net {
    transport: &'static str,
    ns: String,
    /// The mon session's /24 (the data path takes the next one).
    link: &'static str,
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

/// A cluster with pool `tapp` in a namespace of its own.
fn cluster_in(ns: &MonNamespace) -> CephCluster {
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
    c
}

/// pollmsgr writes and the real rados reads back, and the reverse.
fn objects_cross_read(c: &CephCluster, net: &Net) {
    let how = net.transport;
    let ours = c.dir.join("ours.in");
    std::fs::write(&ours, payload(1)).expect("write input");
    ok(
        &format!("pollmsgr rados put over {how}"),
        &pm_over(c, net, &["put", "by-pollmsgr", path(&ours)]),
    );
    let back = c.dir.join("ours.out");
    ok(
        "rados get",
        &real_in(c, &net.ns, &["get", "by-pollmsgr", path(&back)]),
    );
    assert!(
        std::fs::read(&back).expect("read back") == payload(1),
        "the object pollmsgr wrote over {how} reads back different with the real rados"
    );
    let theirs = c.dir.join("theirs.in");
    std::fs::write(&theirs, payload(2)).expect("write input");
    ok(
        "rados put",
        &real_in(c, &net.ns, &["put", "by-rados", path(&theirs)]),
    );
    let got = c.dir.join("theirs.out");
    ok(
        &format!("pollmsgr rados get over {how}"),
        &pm_over(c, net, &["get", "by-rados", path(&got)]),
    );
    assert!(
        std::fs::read(&got).expect("read got") == payload(2),
        "pollmsgr over {how} read an object different from the one the real rados wrote"
    );
}

/// `pollmsgr ping`: the mon session and an OSD session with a cephx
/// authorizer, five keepalive round trips.
fn ping_over(c: &CephCluster, net: &Net, link: &str) {
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
        .args(["--json", "--transport", net.transport, "--netns", &net.ns])
        .args(["--link", link])
        .stdin(Stdio::null())
        .output()
        .expect("run pollmsgr ping");
    ok(&format!("pollmsgr ping over {}", net.transport), &out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ping JSON");
    assert_eq!(v["count"], 5, "{v}");
    assert_eq!(v["lost"], 0, "{v}");
}

fn require_root() {
    require_ceph();
    assert!(
        dpdk_env::testkit::is_root(),
        "this test needs root (TAP devices, network namespaces)"
    );
}

#[test]
fn interop_rados_and_ping_over_smoltcp_tap() {
    require_root();
    let ns = MonNamespace::new("r");
    let c = cluster_in(&ns);
    let net = Net {
        transport: "tap",
        ns: ns.name.clone(),
        link: "169.254.78",
    };
    objects_cross_read(&c, &net);
    ping_over(&c, &net, "169.254.80");
    drop(c);
    drop(ns);
}

/// The objecter on a DPDK net_tap port (the mon session on a TAP): objects
/// cross-read with the real rados, and a `rados bench` write run, whose
/// several workloads in one process (the run, its metadata object, the
/// cleanup) share the one DPDK port through one objecter reactor.
#[test]
fn interop_rados_bench_and_ping_over_dpdk_net_tap() {
    require_root();
    let ns = MonNamespace::new("d");
    let c = cluster_in(&ns);
    let net = Net {
        transport: "dpdk",
        ns: ns.name.clone(),
        link: "169.254.82",
    };
    objects_cross_read(&c, &net);
    let out = pm_over(
        &c,
        &net,
        &["--json", "bench", "2", "write", "-b", "4096", "-t", "4"],
    );
    let v = check_bench("pollmsgr rados bench over dpdk", &out, "dpdk");
    assert_eq!(v["objecter"]["failed"], 0, "{v}");
    // The cleanup (a later workload on the same port) removed every object
    // the run wrote: only the two cross-read objects are left.
    let ls = real_in(&c, &net.ns, &["ls"]);
    ok("rados ls", &ls);
    let mut names: Vec<String> = String::from_utf8_lossy(&ls.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    names.sort();
    assert_eq!(names, ["by-pollmsgr", "by-rados"], "left after the bench");
    ping_over(&c, &net, "169.254.84");
    drop(c);
    drop(ns);
}

/// `serve --osds 1 --join --transport dpdk` boots an endpoint into a real
/// cluster with its memif address; `pollmsgr rados --transport dpdk
/// --memif SOCKETS` puts, gets (compared) and benches against it over the
/// memif link, the real message shape at both ends of a DPDK link. The mon
/// sessions of both run over kernel TCP.
#[test]
fn interop_rados_over_dpdk_memif_to_a_joined_endpoint() {
    require_root();
    let c = CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd: false,
        ..ClusterOpts::default()
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    let conf = path(&c.conf_path).to_owned();
    let state = c.dir.join("pollmsgr-state");
    let (serve, ready) = Serve::start(&[
        "--osds",
        "1",
        "--join",
        "-c",
        &conf,
        "--state-dir",
        path(&state),
        "--cores",
        "0",
        "--transport",
        "dpdk",
    ]);
    let sockets: Vec<&str> = ready["memif"]
        .as_array()
        .expect("memif sockets in the ready line")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let sockets = sockets.join(",");
    let host = ready["crush_host"].as_str().expect("crush_host");
    c.pool_on_host(host, "mp")
        .expect("pool on the endpoint's host");
    let flags = ["--transport", "dpdk", "--memif", &sockets];
    let pm = |args: &[&str]| pollmsgr_rados(&c, "mp", &flags, args);
    let input = c.dir.join("memif.in");
    std::fs::write(&input, payload(3)).expect("write input");
    ok("put over memif", &pm(&["put", "obj", path(&input)]));
    let output = c.dir.join("memif.out");
    ok("get over memif", &pm(&["get", "obj", path(&output)]));
    assert!(
        std::fs::read(&output).expect("read back") == payload(3),
        "the object read back over memif differs from the one written"
    );
    let out = pm(&["--json", "bench", "2", "write", "-b", "4096", "-t", "8"]);
    check_bench("bench over memif", &out, "dpdk");
    drop(serve);
    drop(c);
}
