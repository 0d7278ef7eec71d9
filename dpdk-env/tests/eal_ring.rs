//! EAL with `net_ring` (no hugepages needed): init once, mempool, port start, tx→rx
//! loopback bursts with byte-exact contents, refcounted mbufs, non-EAL threads.
//! One scenario per test binary: the EAL initializes once per process.
#![deny(unsafe_code)]

use dpdk_env::*;
use std::time::Duration;

#[test]
fn eal_net_ring_loopback() {
    let cfg = EalConfig::with_vdevs(["net_ring0"]);
    let eal = Eal::init(&cfg).expect("EAL init with net_ring0");
    assert!(matches!(
        Eal::init(&cfg),
        Err(Error::EalAlreadyInitialized { .. })
    ));
    assert!(Eal::get().is_some());
    assert_eq!(lcore_id(), Some(0), "main thread is lcore 0");
    assert!(eal.file_prefix().starts_with("pollmsgr-"));
    // --no-shconf + --no-telemetry: nothing left in the runtime directory.
    assert!(!std::path::Path::new(&format!("/var/run/dpdk/{}", eal.file_prefix())).exists());

    let pool = Mempool::new(&eal, "ring_pool", 2047, 32).unwrap();
    let avail0 = pool.available();
    assert!(avail0 >= 2000, "{avail0}");
    let id = port_by_name(&eal, "net_ring0").unwrap();
    assert!(matches!(
        port_by_name(&eal, "net_nope9"),
        Err(Error::NoSuchPort(_))
    ));
    let info = port_info(&eal, id).unwrap();
    assert_eq!(info.driver, "net_ring");
    let port = Port::start(&eal, id, &PortConfig::default(), &pool).unwrap();
    assert!(port.wait_link_up(Duration::from_secs(2)).unwrap().up);
    port.mac().unwrap(); // net_ring reports 00:00:00:00:00:00
    assert_eq!(port.info().driver, "net_ring");

    let mut rxq = port.rx_queue(0).unwrap();
    let mut txq = port.tx_queue(0).unwrap();
    assert!(matches!(port.rx_queue(0), Err(Error::QueueTaken { .. })));

    // 64 frames, each filled with its own byte pattern.
    let mut out = Vec::new();
    assert!(pool.alloc_bulk(&mut out, 64));
    for (i, m) in out.iter_mut().enumerate() {
        let d = m.append(60 + i).unwrap();
        for (j, b) in d.iter_mut().enumerate() {
            *b = (i * 7 + j) as u8;
        }
    }
    let sent = txq.tx_burst(&mut out);
    assert_eq!(sent, 64);
    assert!(out.is_empty());
    let mut got = Vec::new();
    while got.len() < 64 {
        assert!(
            rxq.rx_burst(&mut got, 32) > 0,
            "net_ring loops tx back to rx"
        );
    }
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.len(), 60 + i);
        assert!(m
            .data()
            .iter()
            .enumerate()
            .all(|(j, b)| *b == (i * 7 + j) as u8));
    }

    // Refcounting: a clone shares the mbuf and makes it read-only.
    let mut a = got.pop().unwrap();
    let b = a.clone();
    assert_eq!(a.refcnt(), 2);
    assert!(a.data_mut().is_none() && a.append(1).is_none() && !a.adj(1));
    assert_eq!(a.data().as_ptr(), b.data().as_ptr(), "no copy");
    let handed_up = std::thread::spawn(move || b.data().len()).join().unwrap();
    assert_eq!(handed_up, a.len());
    assert_eq!(a.refcnt(), 1);
    assert!(a.adj(14) && a.trim(1));
    drop(a);
    drop(got);
    assert_eq!(pool.available(), avail0, "every mbuf went back to the pool");

    // A non-EAL thread gets an lcore id once registered.
    std::thread::spawn(move || {
        assert_eq!(lcore_id(), None);
        let reg = eal.register_thread().unwrap();
        let id = lcore_id().expect("registered thread has an lcore id");
        assert_ne!(id, 0);
        // Registered threads use the mempool like any lcore.
        let m = pool.alloc().unwrap();
        drop(m);
        drop(reg);
        assert_eq!(lcore_id(), None);
    })
    .join()
    .unwrap();

    let st = port.stats().unwrap();
    assert_eq!(st.opackets, 64);
    assert_eq!(st.ipackets, 64);
}
