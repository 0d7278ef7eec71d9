//! smoltcp over a kernel TAP device (`SmolTransport<TunTapInterface>`) against
//! kernel TCP inside a network namespace this test creates and removes:
//!
//! - `msgr2_sessions_over_tap`: a `Driver` running `osd.0` (auth none) over
//!   smoltcp/TAP accepts a kernel `KernelDriver` client; 200 messages each
//!   way (0 to 96 KiB each) arrive in order with matching digests.
//! - `connect_burst_over_tap`: the kernel client dials 64 msgr2 sessions at
//!   once; all are accepted (the listen pool refills packet by packet) and
//!   each carries 2 messages each way.
//! - `raw_stream_over_tap`: 4 MiB each way byte-exact through the
//!   `Transport` API directly.
//!
//! The kernel side is this test binary re-executed inside the namespace
//! (`kernel_peer_helper`, see `transport_common`). Needs root. Addresses:
//! link-local 169.254.78.0/24, only inside the namespace.

mod transport_common;

use std::net::SocketAddr;
use std::time::Duration;

use pollmsgr::net::tap::tap_transport;
use pollmsgr::net::transport::Transport;
use pollmsgr::reactor::driver::Driver;
use transport_common::{osd_acceptor, osd_addr, peer_main, serve_msgr2, serve_raw, Peer};

fn require_root() {
    assert!(
        dpdk_env::testkit::is_root(),
        "this test needs root (TAP devices, network namespaces)"
    );
}

/// Not a test of its own: the kernel peer, when re-executed with the peer
/// variable set. Without it, it returns at once.
#[test]
fn kernel_peer_helper() {
    peer_main();
}

fn msgr2_scenario(conns: usize, msgs: u64) {
    require_root();
    let (setup, transport) = tap_transport(|_| {}).expect("TAP + namespace");
    assert_eq!(transport.name(), "tap");
    let mut driver = Driver::with_transport(transport);
    let sock = SocketAddr::new(setup.our_addr().into(), 6800);
    let me = osd_addr(sock, 4242);
    let bound = driver
        .listen(sock, me, osd_acceptor(me))
        .expect("listen over TAP");
    assert_eq!(bound, sock);
    let mut peer = Peer::spawn(
        setup.netns().name(),
        &format!("msgr2 {sock} 4242 {conns} {msgs}"),
    );
    let tally = serve_msgr2(&mut driver, &mut peer, conns, msgs, Duration::from_secs(60));
    for (id, t) in &tally {
        assert!(t.bad.is_empty(), "conn {id}: {:?}", t.bad);
        assert_eq!(t.received, msgs, "conn {id}");
    }
    let (ok, result) = peer.finish(Duration::from_secs(20));
    assert!(ok, "kernel client failed: {result}");
    assert_eq!(result["established"], conns);
    assert_eq!(result["received"], msgs * conns as u64);
    let stats = driver.transport().stats();
    eprintln!("smoltcp/TAP stats: {stats:?}");
    assert_eq!(stats.accepted, conns as u64);
    drop(driver);
    drop(setup);
}

#[test]
fn msgr2_sessions_over_tap() {
    msgr2_scenario(1, 200);
}

#[test]
fn connect_burst_over_tap() {
    msgr2_scenario(64, 2);
}

#[test]
fn raw_stream_over_tap() {
    require_root();
    const BYTES: u64 = 4 << 20;
    let (setup, mut t) = tap_transport(|_| {}).expect("TAP + namespace");
    let sock = SocketAddr::new(setup.our_addr().into(), 7000);
    let mut peer = Peer::spawn(setup.netns().name(), &format!("raw {sock} {BYTES}"));
    let (got, sent_digest) = serve_raw(&mut t, sock, &mut peer, BYTES, Duration::from_secs(60));
    assert_eq!(got.received(), BYTES);
    assert_eq!(got.mismatch(), None);
    let (ok, result) = peer.finish(Duration::from_secs(20));
    assert!(ok, "kernel peer saw a wrong stream: {result}");
    assert_eq!(result["rx_sha256"], sent_digest.as_str());
    assert_eq!(result["tx_sha256"], got.digest().as_str());
    drop(t);
    drop(setup);
}

/// The steered TAP that `serve --transport tap` uses, through
/// `TransportSpec::Tap` with 4 smoltcp interfaces, 16 sessions, repeated:
/// the reproducer of an intermittent stalled frame (both ends held their
/// input while their own bulk waited for the other: fixed, see the README's
/// known limits). Takes minutes under load, so run with --ignored.
#[test]
#[ignore]
fn msgr2_over_tap_spec_four_interfaces_repeated() {
    use pollmsgr::net::spec::{Netns, TapSpec, TransportSpec};
    require_root();
    let runs: usize = std::env::var("TAP_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    for i in 0..runs {
        let t = std::time::Instant::now();
        let spec = TransportSpec::Tap(TapSpec {
            netns: Netns::Create,
            link: [169, 254, 81],
            gateway: false,
            interfaces: 4,
        });
        transport_common::msgr2_over_spec(&spec, 16, 20);
        eprintln!("run {i}: {:?}", t.elapsed());
    }
}
