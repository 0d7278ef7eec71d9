//! smoltcp over DPDK `net_tap` exchanging a TCP stream with the kernel's TCP inside a
//! network namespace this test creates (and removes, also on failure): 4 MiB each way,
//! checked byte for byte on both ends and by SHA-256. Checksum offloads are requested,
//! so the TX offload path (pseudo-header + mbuf flags) is checked by the kernel.
//!
//! Needs root (TAP, namespaces). The DPDK process stays in the root namespace; the tap
//! interface and the kernel peer live in the namespace. Addresses are link-local
//! 169.254.77.0/24 and exist only inside that namespace.
#![deny(unsafe_code)]

use dpdk_env::testkit::{is_root, link_addr, unique_name, ChildGuard, NetNs, Stack, TcpTransfer};
use dpdk_env::*;
use std::time::{Duration, Instant};

const BYTES: u64 = 4 << 20;

#[test]
fn smoltcp_over_net_tap_with_kernel_peer() {
    assert!(
        is_root(),
        "this test needs root (TAP devices, network namespaces)"
    );
    let ifname = unique_name("dtap");
    let cfg = EalConfig::with_vdevs([format!("net_tap0,iface={ifname}")]);
    let eal = Eal::init(&cfg).expect("EAL init with net_tap");
    let pool = Mempool::new(&eal, "tap_pool", 8191, 256).unwrap();
    let id = port_by_name(&eal, "net_tap0").unwrap();
    let pcfg = PortConfig {
        rx_offloads: RxOffloads::IPV4_CKSUM | RxOffloads::TCP_CKSUM | RxOffloads::UDP_CKSUM,
        tx_offloads: TxOffloads::IPV4_CKSUM | TxOffloads::TCP_CKSUM | TxOffloads::UDP_CKSUM,
        ..PortConfig::default()
    };
    let port = Port::start(&eal, id, &pcfg, &pool).unwrap();
    assert_eq!(port.info().driver, "net_tap");
    eprintln!(
        "tap offloads: rx {:?} tx {:?}",
        port.rx_offloads(),
        port.tx_offloads()
    );
    let mac = port.mac().unwrap();
    let dev = DpdkDevice::new(&port, 0, pool, 32).unwrap();

    // The namespace owns the kernel side; the guard deletes it (and the tap inside).
    let ns = NetNs::new("pmtap").unwrap();
    ns.adopt(&ifname, link_addr(2)).unwrap();
    let mut peer = ChildGuard::spawn({
        let mut c = ns.command(env!("CARGO_BIN_EXE_dpdk-env-peer"));
        c.args(["tcp-listen", &format!("{}:7001", link_addr(2))]);
        c.args([
            BYTES.to_string(),
            "22".into(),
            BYTES.to_string(),
            "11".into(),
        ]);
        c.arg("20000");
        c
    })
    .unwrap();
    assert_eq!(peer.read_line().unwrap(), "READY");

    let mut st = Stack::new(dev, mac, link_addr(1), |d| {
        d.flush();
    });
    let h = st.add_tcp(1 << 20);
    st.connect(h, (link_addr(2), 7001), 40000).unwrap();
    let mut t = TcpTransfer::new(BYTES, 11, 22);
    let t0 = Instant::now();
    while !t.done(st.tcp(h)) {
        st.poll();
        t.pump(st.tcp(h));
        assert!(
            t0.elapsed() < Duration::from_secs(25),
            "stalled: sent {} got {} state {} dev {:?}",
            BYTES - t.src.remaining(),
            t.sink.received(),
            st.tcp(h).state(),
            st.dev.stats()
        );
    }
    // Let the last ACK/FIN go out.
    let t1 = Instant::now();
    while t1.elapsed() < Duration::from_millis(50) {
        st.poll();
    }
    let secs = t0.elapsed().as_secs_f64();
    let (ok, out) = peer.wait(Duration::from_secs(10)).unwrap();
    eprintln!("peer: {out}");
    assert!(ok, "kernel peer saw a wrong stream: {out}");
    assert!(out.contains(&format!("\"rx_sha256\":\"{}\"", t.src.digest())));
    assert!(out.contains(&format!("\"tx_sha256\":\"{}\"", t.sink.digest())));
    assert_eq!(t.sink.received(), BYTES);
    assert_eq!(t.sink.mismatch(), None);
    eprintln!(
        "tap: 2 x {} MiB in {secs:.2}s; dev {:?}",
        BYTES >> 20,
        st.dev.stats()
    );
    drop(st);
    drop(port);
    drop(ns);
}
