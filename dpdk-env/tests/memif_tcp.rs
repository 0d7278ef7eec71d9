//! Two `net_memif` ports (server and client on one abstract socket) joined back to back,
//! each under its own smoltcp stack: 8 MiB of TCP each way, byte-exact. memif is the
//! closest thing to a real NIC on a machine without one (shared-memory rings); this is
//! the path the benchmarks use.
#![deny(unsafe_code)]

use dpdk_env::testkit::{link_addr, unique_name, Pattern, Stack, TcpTransfer};
use dpdk_env::*;
use std::time::{Duration, Instant};

const BYTES: u64 = 8 << 20;

#[test]
fn smoltcp_tcp_over_memif_pair() {
    transfer(false);
}

/// Both ends skip IP and TCP checksums (a trusted link): smoltcp neither
/// fills nor checks them, and the bytes still arrive exact.
#[test]
fn smoltcp_tcp_over_memif_pair_without_checksums() {
    transfer(true);
}

fn transfer(skip_checksums: bool) {
    // Abstract unix socket (memif's default): nothing on disk, unique per run.
    let sock = format!("/run/{}.sock", unique_name("pmmemif"));
    let cfg = EalConfig::with_vdevs([
        format!("net_memif0,role=server,id=0,socket={sock}"),
        format!("net_memif1,role=client,id=0,socket={sock}"),
    ]);
    let eal = Eal::init(&cfg).expect("EAL init with memif");
    let pool = Mempool::new(&eal, "memif_pool", 8191, 256).unwrap();
    let a = port_by_name(&eal, "net_memif0").unwrap();
    let b = port_by_name(&eal, "net_memif1").unwrap();
    let pa = Port::start(&eal, a, &PortConfig::default(), &pool).unwrap();
    let pb = Port::start(&eal, b, &PortConfig::default(), &pool).unwrap();
    assert_eq!(pa.info().driver, "net_memif");
    pa.wait_link_up(Duration::from_secs(5)).unwrap();
    pb.wait_link_up(Duration::from_secs(5)).unwrap();
    let (ma, mb) = (pa.mac().unwrap(), pb.mac().unwrap());
    let mut da = DpdkDevice::new(&pa, 0, pool, 32).unwrap();
    let mut db = DpdkDevice::new(&pb, 0, pool, 32).unwrap();
    if skip_checksums {
        da.skip_checksums();
        db.skip_checksums();
        let ck = smoltcp::phy::Device::capabilities(&da).checksum;
        assert!(matches!(ck.tcp, smoltcp::phy::Checksum::None), "{ck:?}");
        assert!(matches!(ck.ipv4, smoltcp::phy::Checksum::None), "{ck:?}");
    }

    // Addresses exist only inside these two smoltcp stacks.
    let mut sa = Stack::new(da, ma, link_addr(1), |d| {
        d.flush();
    });
    let mut sb = Stack::new(db, mb, link_addr(2), |d| {
        d.flush();
    });
    let ha = sa.add_tcp(1 << 20);
    let hb = sb.add_tcp(1 << 20);
    sb.tcp(hb).listen(7000).unwrap();
    sa.connect(ha, (link_addr(2), 7000), 49152).unwrap();

    let mut ta = TcpTransfer::new(BYTES, 5, 6);
    let mut tb = TcpTransfer::new(BYTES, 6, 5);
    let t0 = Instant::now();
    while !(ta.done(sa.tcp(ha)) && tb.done(sb.tcp(hb))) {
        sa.poll();
        sb.poll();
        ta.pump(sa.tcp(ha));
        tb.pump(sb.tcp(hb));
        assert!(
            t0.elapsed() < Duration::from_secs(25),
            "stalled: a got {} b got {}; a {:?} b {:?}",
            ta.sink.received(),
            tb.sink.received(),
            sa.dev.stats(),
            sb.dev.stats()
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    for (t, seed) in [(&ta, 6u64), (&tb, 5u64)] {
        assert_eq!(t.sink.received(), BYTES);
        assert_eq!(t.sink.mismatch(), None);
        assert_eq!(t.sink.digest(), Pattern::new(seed).digest(BYTES));
    }
    eprintln!(
        "memif: 2 x {} MiB in {secs:.2}s; a {:?}",
        BYTES >> 20,
        sa.dev.stats()
    );
}
