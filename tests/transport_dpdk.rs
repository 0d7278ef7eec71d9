//! smoltcp over DPDK `net_tap` (`SmolTransport<DpdkDevice>`) against kernel
//! TCP inside a network namespace this test creates and removes: a `Driver`
//! running `osd.0` (auth none) accepts a kernel `KernelDriver` client; 200
//! messages each way (0 to 96 KiB each) arrive in order with matching
//! digests; then a burst of 64 sessions dialed at once is accepted in full.
//!
//! One test function: the EAL initializes once per process. The DPDK process
//! stays in the root namespace; the TAP interface DPDK creates is moved into
//! the namespace, where the kernel client (this binary re-executed,
//! `kernel_peer_helper`) runs. Needs root. Addresses: link-local
//! 169.254.78.0/24, only inside the namespace.

mod transport_common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use dpdk_env::{Eal, EalConfig, Mempool};
use pollmsgr::net::dpdk::{open, tap_vdev, DpdkOptions};
use pollmsgr::net::tap::{unique_name, TapSetup};
use pollmsgr::net::transport::Transport;
use pollmsgr::reactor::driver::Driver;
use transport_common::{osd_acceptor, osd_addr, peer_main, serve_msgr2, Peer};

/// Not a test of its own: the kernel peer, when re-executed with the peer
/// variable set. Without it, it returns at once.
#[test]
fn kernel_peer_helper() {
    peer_main();
}

#[test]
fn msgr2_sessions_over_dpdk_net_tap() {
    assert!(
        dpdk_env::testkit::is_root(),
        "this test needs root (TAP devices, network namespaces)"
    );
    let ifname = unique_name("pmdtap");
    let eal = Eal::init(&EalConfig::with_vdevs([tap_vdev(0, &ifname)])).expect("EAL init");
    let pool = Mempool::new(&eal, "pm_smol_pool", 8191, 256).expect("mempool");
    let (kernel, ours) = (
        Ipv4Addr::new(169, 254, 78, 1),
        Ipv4Addr::new(169, 254, 78, 2),
    );
    let (port, transport) = open(
        &eal,
        "net_tap0",
        pool,
        ours,
        24,
        &DpdkOptions::default(),
        |_| {},
    )
    .expect("net_tap transport");
    assert_eq!(transport.name(), "dpdk");
    eprintln!(
        "net_tap offloads: rx {:?} tx {:?}",
        port.rx_offloads(),
        port.tx_offloads()
    );
    let setup = TapSetup::adopt(&ifname, kernel, ours, 24).expect("namespace");
    let mut driver = Driver::with_transport(transport);

    for (port_no, conns, msgs) in [(6800u16, 1usize, 200u64), (6801, 64, 2)] {
        let sock = SocketAddr::new(ours.into(), port_no);
        let me = osd_addr(sock, 4242);
        driver
            .listen(sock, me, osd_acceptor(me))
            .expect("listen over DPDK");
        let mut peer = Peer::spawn(
            setup.netns().name(),
            &format!("msgr2 {sock} 4242 {conns} {msgs}"),
        );
        let tally = serve_msgr2(&mut driver, &mut peer, conns, msgs, Duration::from_secs(60));
        assert_eq!(tally.len(), conns);
        for (id, t) in &tally {
            assert!(t.bad.is_empty(), "conn {id}: {:?}", t.bad);
            assert_eq!(t.received, msgs, "conn {id}");
        }
        let (ok, result) = peer.finish(Duration::from_secs(20));
        assert!(ok, "kernel client failed: {result}");
        assert_eq!(result["established"], conns);
        assert_eq!(result["received"], msgs * conns as u64);
    }
    let stats = driver.transport().stats();
    let dev = driver.transport().device().stats();
    eprintln!("smoltcp/DPDK stats: {stats:?}; device {dev:?}");
    assert_eq!(stats.accepted, 65);
    drop(driver);
    drop(setup);
    drop(port);
}
