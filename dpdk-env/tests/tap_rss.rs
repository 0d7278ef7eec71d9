//! Multi-queue port setup with RSS on `net_tap` (2 rx/tx queues, RSS hash functions
//! negotiated against the driver). The kernel's multi-queue TAP spreads flows over the
//! queues: 64 UDP flows sent from a kernel peer in a namespace this test creates must
//! reach both queues, every datagram exactly once.
//!
//! Needs root. Addresses: link-local 169.254.77.0/24, only inside the namespace.
#![deny(unsafe_code)]

use dpdk_env::testkit::{is_root, link_addr, unique_name, ChildGuard, NetNs};
use dpdk_env::*;
use std::time::{Duration, Instant};

const FLOWS: u64 = 64;
const PER_FLOW: u64 = 20;

fn is_our_udp(frame: &[u8]) -> bool {
    // IPv4, UDP, destination 169.254.77.1:9000
    frame.len() >= 42
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 17
        && frame[30..34] == link_addr(1).octets()
        && frame[36..38] == 9000u16.to_be_bytes()
}

#[test]
fn tap_two_queues_with_rss() {
    assert!(
        is_root(),
        "this test needs root (TAP devices, network namespaces)"
    );
    let ifname = unique_name("dtap");
    let cfg = EalConfig::with_vdevs([format!("net_tap0,iface={ifname}")]);
    let eal = Eal::init(&cfg).expect("EAL init with net_tap");
    let pool = Mempool::new(&eal, "rss_pool", 4095, 64).unwrap();
    let id = port_by_name(&eal, "net_tap0").unwrap();
    let info = port_info(&eal, id).unwrap();
    eprintln!("net_tap info: {info:?}");
    assert!(info.max_rx_queues >= 2);
    let pcfg = PortConfig {
        rx_queues: 2,
        tx_queues: 2,
        rss: Some(RssConfig::default()),
        ..PortConfig::default()
    };
    let port = Port::start(&eal, id, &pcfg, &pool).unwrap();
    let rss = port.rss().expect("RSS enabled");
    assert!(!rss.is_empty());
    eprintln!("RSS enabled: {rss:?}");
    assert_eq!(port.rx_queue_count(), 2);
    // net_tap has no redirection table: the typed error says so.
    assert!(matches!(
        port.set_reta(&[0, 1]),
        Err(Error::Unsupported { .. })
    ));
    let mac = port.mac().unwrap();
    let mut q0 = port.rx_queue(0).unwrap();
    let mut q1 = port.rx_queue(1).unwrap();
    // Queue handles move to other threads (one reactor per queue).
    let _tx1 = std::thread::spawn({
        let p = port.clone();
        move || p.tx_queue(1).unwrap()
    })
    .join()
    .unwrap();

    let ns = NetNs::new("pmrss").unwrap();
    ns.adopt(&ifname, link_addr(2)).unwrap();
    // No stack answers ARP on the DPDK side: a static neighbour entry instead.
    let mac_s = mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    ns.ip(&[
        "neigh",
        "add",
        &link_addr(1).to_string(),
        "lladdr",
        &mac_s,
        "dev",
        &ifname,
    ])
    .unwrap();
    let peer = ChildGuard::spawn({
        let mut c = ns.command(env!("CARGO_BIN_EXE_dpdk-env-peer"));
        c.args(["udp-flows", &format!("{}:9000", link_addr(1))]);
        c.args([FLOWS.to_string(), PER_FLOW.to_string()]);
        c
    })
    .unwrap();

    let mut counts = [0u64; 2];
    let mut bufs = Vec::new();
    let t0 = Instant::now();
    while counts.iter().sum::<u64>() < FLOWS * PER_FLOW && t0.elapsed() < Duration::from_secs(10) {
        for (i, q) in [&mut q0, &mut q1].into_iter().enumerate() {
            q.rx_burst(&mut bufs, 32);
            counts[i] += bufs.iter().filter(|m| is_our_udp(m.data())).count() as u64;
            bufs.clear();
        }
    }
    let (ok, out) = peer.wait(Duration::from_secs(5)).unwrap();
    assert!(ok, "{out}");
    eprintln!("per-queue datagrams: {counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), FLOWS * PER_FLOW);
    assert!(
        counts[0] > 0 && counts[1] > 0,
        "flows not spread: {counts:?}"
    );
    drop(ns);
}
