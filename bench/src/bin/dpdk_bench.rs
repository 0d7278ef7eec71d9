//! DPDK benchmark, one run, one JSON document on stdout:
//!
//! - raw bursts (64-byte frames, one tx and one rx thread) over a memif pair and a ring
//!   pair: packets/s;
//! - TCP throughput (one direction, one connection) of smoltcp over DPDK memif (two
//!   stacks, one thread each), smoltcp over DPDK `net_tap` to a kernel peer, smoltcp over
//!   a kernel TAP (`phy::TunTapInterface`) to the same kind of kernel peer, and kernel TCP
//!   over loopback.
//!
//! Needs root (TAP, namespaces). Kernel peers run inside a network namespace this
//! program creates and removes; addresses are link-local 169.254.77.0/24 inside it.
//!
//! Usage: `dpdk_bench [--seconds S] [--mib M]` (defaults 2 s, 64 MiB).
#![deny(unsafe_code)]

use dpdk_env::testkit::{
    is_root, link_addr, peer_main, unique_name, ChildGuard, NetNs, Stack, StreamCheck,
    StreamSource, TcpTransfer,
};
use dpdk_env::*;
use serde_json::{json, Value};
use smoltcp::phy::{Medium, TunTapInterface};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--peer") {
        // Kernel-side peer, re-executed inside the namespace.
        let ok = peer_main(&args[1..]).unwrap_or_else(|e| {
            eprintln!("peer: {e}");
            false
        });
        std::process::exit(if ok { 0 } else { 1 });
    }
    let mut seconds = 2.0f64;
    let mut mib = 64u64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--mib" => mib = it.next().and_then(|s| s.parse().ok()).expect("--mib M"),
            _ => panic!("usage: dpdk_bench [--seconds S] [--mib M]"),
        }
    }
    assert!(
        is_root(),
        "dpdk_bench needs root (TAP devices, network namespaces)"
    );
    let bytes = mib << 20;

    let sock = format!("/run/{}.sock", unique_name("pmbench"));
    let tap_if = unique_name("dtap");
    let cfg = EalConfig {
        memory_mb: 512,
        vdevs: vec![
            format!("net_memif0,role=server,id=0,socket={sock}"),
            format!("net_memif1,role=client,id=0,socket={sock}"),
            format!("net_tap0,iface={tap_if}"),
        ],
        log_level: Some("*:error".into()),
        ..EalConfig::default()
    };
    let eal = Eal::init(&cfg).expect("EAL init");
    let pool = Mempool::new(&eal, "bench_pool", 32767, 256).expect("mempool");
    let mut results = serde_json::Map::new();

    // Raw bursts over memif, then over a ring pair.
    let start = |id: u16| Port::start(&eal, id, &PortConfig::default(), &pool).expect("port");
    let m0 = start(port_by_name(&eal, "net_memif0").unwrap());
    let m1 = start(port_by_name(&eal, "net_memif1").unwrap());
    m0.wait_link_up(Duration::from_secs(5)).expect("memif link");
    m1.wait_link_up(Duration::from_secs(5)).expect("memif link");
    put(
        &mut results,
        "raw_burst_memif",
        raw_burst(eal, &m0, &m1, pool, seconds),
    );
    let (ra, rb) = ring_pair(&eal, "bench", 1, 4096).unwrap();
    let (r0, r1) = (start(ra), start(rb));
    put(
        &mut results,
        "raw_burst_ring",
        raw_burst(eal, &r0, &r1, pool, seconds),
    );

    // TCP: smoltcp over DPDK memif, two stacks on two threads.
    put(
        &mut results,
        "tcp_smoltcp_dpdk_memif",
        tcp_two_stacks(&m0, &m1, pool, bytes),
    );

    // TCP to a kernel peer inside a namespace: via DPDK net_tap, then via a kernel TAP.
    let ns = NetNs::new("pmbench").expect("netns");
    let tap = start(port_by_name(&eal, "net_tap0").unwrap());
    let tap_mac = tap.mac().unwrap();
    let dev = DpdkDevice::new(&tap, 0, pool, 32).unwrap();
    ns.adopt(&tap_if, link_addr(2)).unwrap();
    let st = Stack::new(dev, tap_mac, link_addr(1), |d| {
        d.flush();
    });
    put(
        &mut results,
        "tcp_smoltcp_dpdk_tap_to_kernel",
        tcp_to_kernel_peer(st, &ns, 7101, bytes),
    );
    drop(ns);
    // Same kind of kernel peer, in its own namespace, reached through a kernel TAP.
    let ns = NetNs::new("pmbench").expect("netns");
    let tt_if = unique_name("ttap");
    let tt = TunTapInterface::new(&tt_if, Medium::Ethernet).expect("TunTapInterface");
    ns.adopt(&tt_if, link_addr(2)).unwrap();
    let st = Stack::new(tt, [2, 0, 0, 0, 0, 9], link_addr(1), |_| {});
    put(
        &mut results,
        "tcp_smoltcp_tuntap_to_kernel",
        tcp_to_kernel_peer(st, &ns, 7102, bytes),
    );
    drop(ns);

    put(&mut results, "tcp_kernel_loopback", kernel_loopback(bytes));
    let doc = json!({
        "bench": "dpdk_bench",
        "dpdk": "22.11 (Debian libdpdk-dev)",
        "eal_no_huge": eal.no_huge(),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "seconds": seconds,
        "tcp_bytes": bytes,
        "results": Value::Object(results),
    });
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}

/// 64-byte frames (60 + FCS) from one thread on `a`, counted on `b` by another.
fn raw_burst(eal: Eal, a: &Port, b: &Port, pool: Mempool, seconds: f64) -> Value {
    let stop = Arc::new(AtomicBool::new(false));
    let rx_count = Arc::new(AtomicU64::new(0));
    let mut txq = a.tx_queue(0).unwrap();
    let mut rxq = b.rx_queue(0).unwrap();
    let rx = {
        let (stop, rx_count) = (stop.clone(), rx_count.clone());
        std::thread::spawn(move || {
            let _reg = eal.register_thread().unwrap();
            let mut v = Vec::with_capacity(64);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += rxq.rx_burst(&mut v, 32) as u64;
                v.clear();
            }
            // drain
            for _ in 0..1000 {
                n += rxq.rx_burst(&mut v, 32) as u64;
                v.clear();
            }
            rx_count.store(n, Ordering::Relaxed);
        })
    };
    let tx = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _reg = eal.register_thread().unwrap();
            let mut v = Vec::with_capacity(64);
            let (mut sent, mut dropped) = (0u64, 0u64);
            let mut frame = [0u8; 60];
            frame[..6].copy_from_slice(&[0xff; 6]);
            frame[12..14].copy_from_slice(&[0x88, 0xb5]); // local experimental ethertype
            while !stop.load(Ordering::Relaxed) {
                // Top the burst up to 32 fresh frames; unsent ones are retried, not
                // dropped, so a full ring costs no mempool churn.
                let have = v.len();
                if have < 32 && pool.alloc_bulk(&mut v, 32 - have) {
                    for m in v[have..].iter_mut() {
                        m.append(60).unwrap().copy_from_slice(&frame);
                    }
                }
                let n = txq.tx_burst(&mut v) as u64;
                sent += n;
                if n == 0 {
                    dropped += 1; // counts ring-full retries
                }
            }
            drop(v);
            (sent, dropped)
        })
    };
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let (sent, dropped) = tx.join().unwrap();
    rx.join().unwrap();
    let got = rx_count.load(Ordering::Relaxed);
    json!({
        "frame_bytes": 64,
        "burst": 32,
        "tx_pps": (sent as f64 / seconds).round(),
        "rx_pps": (got as f64 / seconds).round(),
        "tx_ring_full_retries": dropped,
        "received": got,
    })
}

fn put(m: &mut serde_json::Map<String, Value>, k: &str, v: Value) {
    eprintln!("dpdk_bench: {k}: {v}");
    m.insert(k.to_string(), v);
}

fn rate(bytes: u64, secs: f64) -> Value {
    json!({ "bytes": bytes, "secs": secs, "gbit_per_s": bytes as f64 * 8.0 / secs / 1e9 })
}

/// One-way TCP stream between two smoltcp stacks on ports `a` and `b`, one thread each.
fn tcp_two_stacks(a: &Port, b: &Port, pool: Mempool, bytes: u64) -> Value {
    let (ma, mb) = (a.mac().unwrap(), b.mac().unwrap());
    let da = DpdkDevice::new(a, 0, pool, 32).unwrap();
    let db = DpdkDevice::new(b, 0, pool, 32).unwrap();
    let server = std::thread::spawn(move || {
        let mut s = Stack::new(db, mb, link_addr(2), |d| {
            d.flush();
        });
        let h = s.add_tcp(4 << 20);
        s.tcp(h).listen(7000).unwrap();
        let mut t = TcpTransfer::new(0, 0, 77);
        let mut first: Option<Instant> = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while t.sink.received() < bytes && Instant::now() < deadline {
            s.poll();
            t.pump(s.tcp(h));
            if first.is_none() && t.sink.received() > 0 {
                first = Some(Instant::now());
            }
        }
        let secs = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
        // keep acking until the client is done
        let end = Instant::now() + Duration::from_millis(200);
        while Instant::now() < end {
            s.poll();
            t.pump(s.tcp(h));
        }
        (t.sink, secs)
    });
    let client = std::thread::spawn(move || {
        let mut s = Stack::new(da, ma, link_addr(1), |d| {
            d.flush();
        });
        let h = s.add_tcp(4 << 20);
        s.connect(h, (link_addr(2), 7000), 50000).unwrap();
        let mut t = TcpTransfer::new(bytes, 77, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.done(s.tcp(h)) && Instant::now() < deadline {
            s.poll();
            t.pump(s.tcp(h));
        }
        s.dev.stats()
    });
    let stats = client.join().unwrap();
    let (sink, secs): (StreamCheck, f64) = server.join().unwrap();
    let mut v = rate(sink.received(), secs);
    v["byte_exact"] = json!(sink.received() == bytes && sink.mismatch().is_none());
    v["client_device"] = json!(format!("{stats:?}"));
    v
}

/// One-way TCP stream from a smoltcp stack to a kernel sink in the namespace.
fn tcp_to_kernel_peer<D: smoltcp::phy::Device>(
    mut st: Stack<D>,
    ns: &NetNs,
    port: u16,
    bytes: u64,
) -> Value {
    let peer = link_addr(2);
    let exe = std::env::current_exe().unwrap();
    let mut c = ns.command(exe.to_str().unwrap());
    c.args(["--peer", "tcp-listen", &format!("{peer}:{port}"), "0", "0"]);
    c.args([bytes.to_string(), "88".into(), "60000".into()]);
    let mut child = ChildGuard::spawn(c).expect("peer");
    assert_eq!(child.read_line().unwrap(), "READY");
    let h = st.add_tcp(4 << 20);
    st.connect(h, (peer, port), 51000).unwrap();
    let mut t = TcpTransfer::new(bytes, 88, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !t.done(st.tcp(h)) && Instant::now() < deadline {
        st.poll();
        t.pump(st.tcp(h));
    }
    let end = Instant::now() + Duration::from_millis(100);
    while Instant::now() < end {
        st.poll();
    }
    let (ok, out) = child.wait(Duration::from_secs(30)).expect("peer exit");
    // The peer times from accept to EOF.
    let line = out.lines().last().unwrap_or("{}");
    let peer_json: Value = serde_json::from_str(line).unwrap_or(json!({}));
    let secs = peer_json["secs"].as_f64().unwrap_or(0.0);
    let mut v = rate(peer_json["rx_bytes"].as_u64().unwrap_or(0), secs);
    v["byte_exact"] = json!(ok && peer_json["rx_sha256"] == json!(t.src.digest()));
    v
}

/// Kernel TCP over 127.0.0.1, one connection, two threads.
fn kernel_loopback(bytes: u64) -> Value {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let rx = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut chk = StreamCheck::new(99);
        let mut buf = vec![0u8; 1 << 16];
        let t0 = Instant::now();
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            chk.feed(&buf[..n]);
        }
        (chk, t0.elapsed().as_secs_f64())
    });
    let mut s = TcpStream::connect(addr).unwrap();
    let mut src = StreamSource::new(99, bytes);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = src.fill(&mut buf);
        if n == 0 {
            break;
        }
        s.write_all(&buf[..n]).unwrap();
    }
    drop(s);
    let (chk, secs) = rx.join().unwrap();
    let mut v = rate(chk.received(), secs);
    v["byte_exact"] = json!(chk.received() == bytes && chk.mismatch().is_none());
    v
}
