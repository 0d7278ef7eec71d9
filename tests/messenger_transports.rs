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

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pollmsgr")
}

struct Server {
    child: Option<Child>,
    hello: serde_json::Value,
}

impl Server {
    fn start(transport: &str) -> Server {
        let mut child = Command::new(bin())
            .args([
                "serve",
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
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start serve");
        let mut line = String::new();
        let stdout = child.stdout.as_mut().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ready line");
        let hello = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("serve over {transport} did not start ({e}): {line:?}"));
        Server {
            child: Some(child),
            hello,
        }
    }

    fn endpoints(&self) -> String {
        let eps: Vec<&str> = self.hello["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(eps.len(), 32, "2 reactors x 16 endpoints");
        eps.join(",")
    }

    /// SIGTERM by pid, then the summary line.
    fn stop(mut self) -> serde_json::Value {
        let child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().expect("serve exits");
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or("");
        serde_json::from_str(last).unwrap_or_else(|e| panic!("no summary ({e}): {text}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A test that failed early still stops its server (by pid).
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }
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
    let server = Server::start("tap");
    let ns = server.hello["netns"].as_str().expect("netns").to_owned();
    let report = run_bench(&["ip", "netns", "exec", &ns], &[], &server.endpoints());
    let summary = server.stop();
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
    let server = Server::start("dpdk");
    let memif: Vec<String> = server.hello["memif"]
        .as_array()
        .expect("memif sockets")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(memif.len(), 2, "one memif link per reactor");
    let report = run_bench(
        &[],
        &["--transport", "dpdk", "--memif", &memif.join(",")],
        &server.endpoints(),
    );
    let summary = server.stop();
    assert_eq!(report["transport"], "dpdk");
    check_load(&report, &summary);
    for s in &memif {
        assert!(
            !std::path::Path::new(s).exists(),
            "memif socket {s} left behind"
        );
    }
}
