//! The messenger over the userspace transports, as separate processes:
//! `pollmsgr serve` with 2 reactors x 16 OSD endpoints, loaded by
//! `pollmsgr bench` with 200 client connections; every request answered and
//! every reply checked.
//!
//! - TAP: smoltcp in the serving process, its TAP devices' kernel side in a
//!   namespace the server creates and removes; the load generator runs in
//!   that namespace over kernel TCP.
//! - DPDK: smoltcp over net_memif at both ends (two processes, one memif
//!   link per reactor).
//!
//! Needs root (TAP devices, namespaces, DPDK).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::pollmsgr::{run_json, strings, Serve};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pollmsgr")
}

/// `pollmsgr serve` with 2 reactors x 16 OSD endpoints over `transport`,
/// plus `extra` flags.
fn start_server(transport: &str, extra: &[&str]) -> (Serve, serde_json::Value) {
    let mut args = vec![
        "--entity",
        "osd.0",
        "--osds",
        "32",
        "--listen",
        "v2:127.0.0.1:0/500",
        "--cores",
        "0,1",
        "--transport",
        transport,
    ];
    args.extend_from_slice(extra);
    let (serve, hello) = Serve::start(&args);
    let eps = hello["endpoints"].as_array().map_or(0, Vec::len);
    assert_eq!(
        eps, 32,
        "2 reactors x 16 endpoints over {transport}: {hello}"
    );
    (serve, hello)
}

fn endpoints(hello: &serde_json::Value) -> String {
    strings(hello, "endpoints").join(",")
}

/// Stops the server (SIGTERM by pid) and returns its summary line.
fn stop(mut serve: Serve) -> serde_json::Value {
    let (out, err) = serve.stop();
    let last = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("no summary ({e}): {out}\n{err}"))
}

fn check_load(report: &serde_json::Value, summary: &serde_json::Value) {
    assert_eq!(report["sessions"], 200, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");
    let completed = report["completed"].as_u64().expect("completed");
    assert!(completed >= 400, "too little load: {report}");
    assert_eq!(summary["sessions"], 200, "{summary}");
    assert_eq!(
        summary["messages"].as_u64(),
        Some(completed),
        "every request reached an endpoint and was answered: {summary} vs {report}"
    );
    let per: Vec<u64> = summary["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e["sessions"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(per.len(), 32);
    assert!(
        per.iter().all(|s| *s >= 6),
        "every endpoint served its share: {per:?}"
    );
    // Crc mode: received bytes go from the transport straight into their
    // segments; only partial preambles/epilogues at read boundaries (and a
    // backlog past a pass's share) pass through a receive buffer first.
    // Everything did before (2.0).
    assert!(summary["rx_bytes"].as_u64().unwrap_or(0) > 0, "{summary}");
    for (side, copies) in [
        ("server", &summary["rx_copies_per_byte"]),
        ("client", &report["client_rx_copies_per_byte"]),
    ] {
        let copies = copies.as_f64().unwrap_or(f64::NAN);
        assert!(
            (1.0..=1.25).contains(&copies),
            "{side} receive copies per byte {copies}: {summary} / {report}"
        );
    }
    // Transmit: 1 KiB requests are under the lending threshold, so each
    // payload byte is copied once into its frame; the replies carry none.
    assert_eq!(
        report["client_tx_copies_per_byte"].as_f64(),
        Some(1.0),
        "{report}"
    );
    assert_eq!(summary["tx_payload_bytes"], 0, "{summary}");
    // The server runs smoltcp in both tests: every 1 KiB request arrived in
    // at least one frame and replies went out in some; passes were counted.
    let rx_per_msg = summary["rx_frames_per_message"].as_f64().unwrap_or(0.0);
    assert!(rx_per_msg >= 1.0, "server frames per message: {summary}");
    let tx_per_msg = summary["tx_frames_per_message"].as_f64().unwrap_or(0.0);
    assert!(tx_per_msg > 0.0, "server frames per message: {summary}");
    let client = &report["client_driver"];
    for (side, d) in [("server", summary), ("client", client)] {
        let share = d["idle_pass_share"].as_f64().unwrap_or(f64::NAN);
        assert!(
            d["passes"].as_u64().unwrap_or(0) > 0 && (0.0..=1.0).contains(&share),
            "{side} pass counters: {d}"
        );
    }
}

fn run_bench(prefix: &[&str], extra: &[&str], endpoints: &str) -> serde_json::Value {
    let started = Instant::now();
    let mut cmd = Command::new(prefix.first().copied().unwrap_or(bin()));
    if !prefix.is_empty() {
        cmd.args(&prefix[1..]).arg(bin());
    }
    let out = cmd
        .args([
            "bench",
            "--connect",
            endpoints,
            "--conns",
            "200",
            "--depth",
            "2",
            "--size",
            "1024",
            "--duration",
            "2",
            "--cores",
            "0,1",
            "--json",
        ])
        .args(extra)
        .output()
        .expect("run bench");
    assert!(
        out.status.success(),
        "bench failed after {:?}: {}\n{}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("")).expect("bench JSON")
}

#[test]
fn tap_two_reactors_sixteen_endpoints_two_hundred_clients() {
    let (server, hello) = start_server("tap", &[]);
    let ns = hello["netns"].as_str().expect("netns").to_owned();
    let report = run_bench(&["ip", "netns", "exec", &ns], &[], &endpoints(&hello));
    let summary = stop(server);
    check_load(&report, &summary);
    // The server removed its namespace on exit.
    std::thread::sleep(Duration::from_millis(200));
    let list = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    assert!(
        !String::from_utf8_lossy(&list.stdout).contains(&ns),
        "namespace {ns} left behind"
    );
}

#[test]
fn dpdk_memif_two_reactors_sixteen_endpoints_two_hundred_clients() {
    memif_load(&[]);
}

/// The same load with both ends' smoltcp spread over 8 interfaces per
/// reactor (`--smol-shards`): flows reach the member that owns them.
#[test]
fn dpdk_memif_sharded_both_ends_two_hundred_clients() {
    memif_load(&["--smol-shards", "8"]);
}

/// 200 clients over DPDK memif against 2 reactors x 16 endpoints; `shards`
/// flags go to both ends.
fn memif_load(shards: &[&str]) {
    let (server, hello) = start_server("dpdk", shards);
    let interfaces: u64 = shards.last().map_or(1, |n| n.parse().expect("shards"));
    assert_eq!(hello["smol_interfaces"], interfaces, "{hello}");
    let memif = strings(&hello, "memif");
    assert_eq!(memif.len(), 2, "one memif link per reactor");
    let report = run_bench(
        &[],
        &[
            &["--transport", "dpdk", "--memif", &memif.join(",")],
            shards,
        ]
        .concat(),
        &endpoints(&hello),
    );
    let summary = stop(server);
    assert_eq!(report["transport"], "dpdk");
    check_load(&report, &summary);
    for s in &memif {
        assert!(
            !std::path::Path::new(s).exists(),
            "memif socket {s} left behind"
        );
    }
}

/// memif links carry jumbo frames (`net::dpdk::MEMIF_MTU`): a 64 KiB request
/// arrives in about 8 frames, where a 1,500-byte MTU takes 45.
#[test]
fn dpdk_memif_carries_64_kib_messages_in_jumbo_frames() {
    let (server, hello) = start_server("dpdk", &[]);
    let memif = strings(&hello, "memif");
    let report = run_json(&[
        "bench",
        "--connect",
        &endpoints(&hello),
        "--conns",
        "2",
        "--depth",
        "4",
        "--size",
        "65536",
        "--duration",
        "1",
        "--cores",
        "0,1",
        "--json",
        "--transport",
        "dpdk",
        "--memif",
        &memif.join(","),
    ]);
    let summary = stop(server);
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["completed"].as_u64().unwrap_or(0) >= 10, "{report}");
    let per = summary["rx_frames_per_message"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!(
        (7.0..=12.0).contains(&per),
        "a 64 KiB request took {per} frames (45 at a 1,500-byte MTU): {summary}"
    );
    assert_eq!(summary["tx_frames_lost"], 0, "{summary}");
}
