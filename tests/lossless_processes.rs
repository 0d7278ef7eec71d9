//! Lossless peer sessions between two pollmsgr processes survive injected
//! link faults (issue: reactors and pool): `pollmsgr bench --peer-osd 100`
//! loads `pollmsgr serve`'s osd.0 through a relay that delays traffic and
//! keeps cutting the TCP connection. Every request must be answered exactly
//! once, in order: the server sees each request once (replays are dropped by
//! seq), and every reply matches the oldest request in flight.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::pollmsgr::{run_json, Serve};
use common::relay;

/// Relays to `upstream`; cuts each connection after 40..200 KiB and delays
/// some chunks by a few milliseconds.
fn faulty_relay(upstream: SocketAddr, stop: Arc<AtomicBool>, cuts: Arc<AtomicU64>) -> SocketAddr {
    let mut seed = 7u64;
    relay::start(upstream, stop, false, move |_| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let budget = 40_000 + (seed >> 33) % 160_000;
        let up = Faulty {
            budget: Some(budget),
            moved: 0,
            seed,
            cuts: Arc::clone(&cuts),
        };
        let down = Faulty {
            budget: None,
            moved: 0,
            seed: seed ^ 0xff,
            cuts: Arc::new(AtomicU64::new(0)),
        };
        (Box::new(up), Box::new(down))
    })
}

/// One direction of a faulty link: cut once `budget` bytes have passed,
/// and about one chunk in sixteen waits up to 4 ms.
struct Faulty {
    budget: Option<u64>,
    moved: u64,
    seed: u64,
    cuts: Arc<AtomicU64>,
}

impl relay::Filter for Faulty {
    fn chunk(&mut self, chunk: &mut Vec<u8>) -> relay::Flow {
        let n = chunk.len() as u64;
        if self.budget.is_some_and(|b| self.moved + n > b) {
            self.cuts.fetch_add(1, Ordering::Relaxed);
            return relay::Flow::Cut;
        }
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        if (self.seed >> 60) == 0 {
            std::thread::sleep(Duration::from_millis((self.seed >> 40) % 5));
        }
        self.moved += n;
        relay::Flow::Forward
    }
}

#[test]
fn lossless_sessions_between_two_processes_survive_cuts_and_delays() {
    let (mut serve, hello) = Serve::start(&[
        "--entity",
        "osd.0",
        "--osds",
        "1",
        "--listen",
        "v2:127.0.0.1:0/700",
        "--cores",
        "0",
    ]);
    let endpoint = hello["endpoints"][0].as_str().expect("endpoint").to_owned();
    let upstream: SocketAddr = endpoint
        .trim_start_matches("v2:")
        .rsplit_once('/')
        .map(|(a, _)| a)
        .unwrap_or("")
        .parse()
        .expect("endpoint socket");
    let stop = Arc::new(AtomicBool::new(false));
    let cuts = Arc::new(AtomicU64::new(0));
    let relay = faulty_relay(upstream, Arc::clone(&stop), Arc::clone(&cuts));
    let report = run_json(&[
        "bench",
        "--connect",
        &endpoint,
        "--via",
        &relay.to_string(),
        "--peer-osd",
        "100",
        "--conns",
        "2",
        "--depth",
        "8",
        "--size",
        "3000",
        "--duration",
        "3",
        "--cores",
        "1",
        "--json",
    ]);
    stop.store(true, Ordering::Relaxed);
    let (out, err) = serve.stop();
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no serve summary ({e}): {out}\n{err}"));
    let sent = report["sent"].as_u64().expect("sent");
    let completed = report["completed"].as_u64().expect("completed");
    assert!(
        cuts.load(Ordering::Relaxed) >= 3,
        "the relay must have cut the link: {report}"
    );
    assert!(
        report["reconnects"].as_u64().unwrap_or(0) >= 3,
        "sessions must have resumed: {report}"
    );
    assert_eq!(
        report["errors"], 0,
        "a lossless peer session never ends: {report}"
    );
    assert_eq!(
        report["mismatches"], 0,
        "every reply matched its request, in order: {report}"
    );
    assert!(completed > 100, "too little traffic: {report}");
    assert_eq!(completed, sent, "every request answered: {report}");
    // Each new peer session first asks the endpoint's `version` (one
    // MCommand; a resumed session does not ask again).
    let probes = report["sessions"].as_u64().unwrap_or(0);
    assert_eq!(
        summary["messages"].as_u64(),
        Some(sent + probes),
        "the server saw each request exactly once: {summary} vs {report}"
    );
}

/// The same relay with a lossy client (`bench` without `--peer-osd`): each
/// cut ends the session; the client counts the requests in flight as lost,
/// dials again with backoff and goes on, so every request sent is either
/// answered or counted lost, never both and never neither.
#[test]
fn lossy_bench_sessions_redial_after_cuts_and_count_what_was_lost() {
    let (mut serve, hello) = Serve::start(&[
        "--entity",
        "osd.0",
        "--osds",
        "1",
        "--listen",
        "v2:127.0.0.1:0/701",
        "--cores",
        "0",
    ]);
    let endpoint = hello["endpoints"][0].as_str().expect("endpoint").to_owned();
    let upstream: SocketAddr = endpoint
        .trim_start_matches("v2:")
        .rsplit_once('/')
        .map(|(a, _)| a)
        .unwrap_or("")
        .parse()
        .expect("endpoint socket");
    let stop = Arc::new(AtomicBool::new(false));
    let cuts = Arc::new(AtomicU64::new(0));
    let relay = faulty_relay(upstream, Arc::clone(&stop), Arc::clone(&cuts));
    let report = run_json(&[
        "bench",
        "--connect",
        &endpoint,
        "--via",
        &relay.to_string(),
        "--conns",
        "2",
        "--depth",
        "8",
        "--size",
        "3000",
        "--duration",
        "3",
        "--cores",
        "1",
        "--json",
    ]);
    stop.store(true, Ordering::Relaxed);
    let (out, err) = serve.stop();
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no serve summary ({e}): {out}\n{err}"));
    let n = |k: &str| {
        report[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {report}"))
    };
    let cut = cuts.load(Ordering::Relaxed);
    assert!(cut >= 3, "the relay must have cut the link: {report}");
    assert!(
        n("reconnects") >= 3,
        "sessions must be dialed again: {report}"
    );
    assert!(
        n("lost") >= 1,
        "cuts with requests in flight lose some: {report}"
    );
    assert_eq!(n("mismatches"), 0, "{report}");
    assert!(n("completed") > 100, "too little traffic: {report}");
    assert_eq!(
        n("completed") + n("lost"),
        n("sent"),
        "every request answered or counted lost: {report}"
    );
    // The server saw every answered request (and maybe some lost ones).
    let seen = summary["messages"].as_u64().expect("messages");
    assert!(
        seen >= n("completed") && seen <= n("sent"),
        "server saw {seen}: {summary} vs {report}"
    );
    eprintln!("{cut} cuts: {report}");
}
