//! msgr2 request/reply throughput over each transport, one JSON document:
//! one session (crc mode, auth none), 4 KiB data per message, 32 requests in
//! flight; the acceptor (`osd.0`) answers each request with a 4 KiB reply.
//! The client counts replies for `--seconds` after a 0.5 s warm-up.
//!
//! - `kernel_loopback`: `KernelDriver` both ends, 127.0.0.1, two threads.
//! - `smoltcp_tap`: acceptor on smoltcp over a kernel TAP; client: kernel TCP
//!   (`KernelDriver`) inside a namespace, this binary re-executed there.
//! - `smoltcp_dpdk_tap`: acceptor on smoltcp over DPDK `net_tap`; same client.
//! - `smoltcp_dpdk_memif`: smoltcp over DPDK memif at both ends, two threads
//!   (server and client role of one memif socket), both busy-polling.
//!
//! Needs root (TAP, namespaces). Addresses: 127.0.0.1, and link-local
//! 169.254.78.0/24 / 169.254.79.0/24 that exist only inside the namespaces
//! this program creates and removes (or only inside the smoltcp stacks).
//!
//! Usage: `transport_bench [--seconds S] [--only NAME,...]` (default 3 s, all).
#![deny(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dpdk_env::{Eal, EalConfig, Mempool};
use pollmsgr::auth::none::{NoneClient, NoneServer};
use pollmsgr::net::dpdk::{memif_vdev, open, tap_vdev, DpdkOptions, MemifRole};
use pollmsgr::net::tap::{tap_transport, unique_name, TapSetup};
use pollmsgr::net::transport::Transport;
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Message, Policies, Policy};
use pollmsgr::reactor::driver::Driver;
use pollmsgr::reactor::driver::KernelDriver;
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::entity::EntityType;
use rand::SeedableRng;
use serde_json::{json, Value};

const MSG_BYTES: usize = 4096;
const DEPTH: usize = 32;
const TY_REQ: u16 = 0x7101;
const TY_REP: u16 = 0x7102;
const NONCE: u32 = 4242;
const WARMUP: Duration = Duration::from_millis(500);

fn osd_addr(sock: SocketAddr) -> EntityAddr {
    EntityAddr {
        ty: AddrType::Msgr2,
        nonce: NONCE,
        addr: Some(sock),
    }
}

fn msg(ty: u16) -> Message {
    Message::new(ty, 1, Vec::new()).with_data(vec![0x5a; MSG_BYTES])
}

/// Listens as `osd.0` on `sock` and answers every request until `stop()`.
fn serve<T: Transport>(driver: &mut Driver<T>, sock: SocketAddr, mut stop: impl FnMut() -> bool) {
    let me = osd_addr(sock);
    let mut cfg = ConnectionConfig::new(EntityType::Osd);
    cfg.my_gid = 0;
    cfg.my_addrs = EntityAddrVec(vec![me]);
    cfg.my_nonce = NONCE;
    driver
        .listen(
            sock,
            me,
            Box::new(move |peer, now| {
                Connection::accept(
                    cfg.clone(),
                    peer,
                    Policies::osd(),
                    Box::new(NoneServer::new(4100)),
                    Box::new(rand::rngs::StdRng::seed_from_u64(1)),
                    now,
                )
            }),
        )
        .expect("listen");
    let reply = msg(TY_REP);
    while !stop() {
        let Ok(events) = driver.poll_once(Duration::from_millis(2)) else {
            return;
        };
        for (id, ev) in events {
            if let Event::Message(m) = ev {
                if m.ty == TY_REQ {
                    if let Some(c) = driver.conn_mut(id) {
                        c.send_message(reply.clone());
                    }
                }
            }
        }
    }
}

/// Dials `target`, keeps `DEPTH` requests in flight for `seconds` after the
/// warm-up, and returns the measured rates.
fn client<T: Transport>(driver: &mut Driver<T>, target: SocketAddr, seconds: f64) -> Value {
    let mut cfg = ConnectionConfig::new(EntityType::Client);
    cfg.my_nonce = std::process::id();
    let conn = Connection::connect(
        cfg,
        osd_addr(target),
        EntityType::Osd,
        Policy::lossy_client(),
        Box::new(NoneClient::new(8, "admin", 0, false)),
        Box::new(rand::rngs::StdRng::seed_from_u64(2)),
        Instant::now(),
    );
    let id = driver.connect(target, conn).expect("dial");
    let request = msg(TY_REQ);
    let t_start = Instant::now();
    let mut established: Option<Instant> = None;
    let (mut window_start, mut counted) = (None::<Instant>, 0u64);
    let mut end = None::<Instant>;
    loop {
        let events = driver
            .poll_once(Duration::from_millis(2))
            .expect("client poll");
        let now = Instant::now();
        for (_, ev) in events {
            match ev {
                Event::Established(_) => {
                    established = Some(now);
                    let c = driver.conn_mut(id).expect("conn");
                    for _ in 0..DEPTH {
                        c.send_message(request.clone());
                    }
                }
                Event::Message(m) if m.ty == TY_REP => {
                    if window_start.is_some() {
                        counted += 1;
                    }
                    if let Some(c) = driver.conn_mut(id) {
                        c.send_message(request.clone());
                    }
                }
                Event::Closed { error, .. } => {
                    return json!({ "error": format!("session closed: {error}") });
                }
                _ => {}
            }
        }
        if let Some(e) = established {
            if window_start.is_none() && now >= e + WARMUP {
                window_start = Some(now);
                end = Some(now + Duration::from_secs_f64(seconds));
            }
        } else if now.duration_since(t_start) > Duration::from_secs(10) {
            return json!({ "error": "no session within 10 s" });
        }
        if end.is_some_and(|e| now >= e) {
            break;
        }
    }
    let secs = window_start.map_or(0.0, |w| w.elapsed().as_secs_f64());
    let rate = counted as f64 / secs;
    json!({
        "round_trips_per_s": rate.round(),
        "msgs_per_s_both_ways": (2.0 * rate).round(),
        "payload_mib_per_s_each_way": ((rate * MSG_BYTES as f64) / (1 << 20) as f64 * 10.0).round() / 10.0,
        "round_trips": counted,
        "secs": (secs * 1000.0).round() / 1000.0,
        "mean_latency_us_at_depth": if rate > 0.0 { (DEPTH as f64 / rate * 1e6).round() } else { 0.0 },
    })
}

fn kernel_loopback(seconds: f64) -> Value {
    // A free port on 127.0.0.1: bind, read it, release.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let sock: SocketAddr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut d = KernelDriver::new().expect("driver");
            serve(&mut d, sock, || stop.load(Ordering::Relaxed));
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let mut d = KernelDriver::new().expect("driver");
    let r = client(&mut d, sock, seconds);
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    with_peer(r, "kernel TCP over loopback, both ends in this process")
}

fn with_peer(mut r: Value, what: &str) -> Value {
    if let Value::Object(m) = &mut r {
        m.insert("setup".into(), json!(what));
    }
    r
}

/// Runs the server over `driver` while a kernel client runs inside `ns`.
fn serve_for_child<T: Transport>(
    driver: &mut Driver<T>,
    netns: &str,
    sock: SocketAddr,
    seconds: f64,
) -> Value {
    let exe = std::env::current_exe().expect("exe");
    let mut child = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(exe)
        .args(["--client", &sock.to_string(), &seconds.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    let t0 = Instant::now();
    serve(driver, sock, || {
        matches!(child.try_wait(), Ok(Some(_))) || t0.elapsed() > Duration::from_secs(60)
    });
    // Our own child, by its handle.
    let _ = child.kill();
    let out = child.wait_with_output().expect("client output");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| json!({ "error": format!("client printed no result: {text}") }))
}

fn smoltcp_tap(seconds: f64) -> Value {
    let (setup, t) = tap_transport(|_| {}).expect("TAP + namespace");
    let sock = SocketAddr::new(setup.our_addr().into(), 6800);
    let mut d = Driver::with_transport(t);
    let r = serve_for_child(&mut d, setup.netns().name(), sock, seconds);
    let stats = d.transport().stats();
    with_peer(
        with_stats(r, format!("{stats:?}")),
        "acceptor: smoltcp over kernel TAP; client: kernel TCP in a namespace",
    )
}

fn with_stats(mut r: Value, stats: String) -> Value {
    if let Value::Object(m) = &mut r {
        m.insert("server_transport_stats".into(), json!(stats));
    }
    r
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--client") {
        // Kernel-side client, re-executed inside a namespace.
        let target: SocketAddr = args
            .get(1)
            .and_then(|s| s.parse().ok())
            .expect("--client ADDR SECONDS");
        let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
        let mut d = KernelDriver::new().expect("driver");
        let r = client(&mut d, target, seconds);
        println!("RESULT {r}");
        return;
    }
    let mut seconds = 3.0f64;
    let mut only: Option<Vec<String>> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--only" => only = it.next().map(|s| s.split(',').map(str::to_owned).collect()),
            _ => panic!("usage: transport_bench [--seconds S] [--only NAME,...]"),
        }
    }
    let want = |n: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == n));
    assert!(
        dpdk_env::testkit::is_root(),
        "transport_bench needs root (TAP devices, network namespaces)"
    );
    let mut results = serde_json::Map::new();
    if want("kernel_loopback") {
        results.insert("kernel_loopback".into(), kernel_loopback(seconds));
    }
    if want("smoltcp_tap") {
        results.insert("smoltcp_tap".into(), smoltcp_tap(seconds));
    }
    if want("smoltcp_dpdk_tap") || want("smoltcp_dpdk_memif") {
        let sock_path = format!("/run/{}.sock", unique_name("pmtbench"));
        let tap_if = unique_name("pmdtap");
        let cfg = EalConfig {
            memory_mb: 512,
            vdevs: vec![
                memif_vdev(0, MemifRole::Server, &sock_path),
                memif_vdev(1, MemifRole::Client, &sock_path),
                tap_vdev(0, &tap_if),
            ],
            log_level: Some("*:error".into()),
            ..EalConfig::default()
        };
        let eal = Eal::init(&cfg).expect("EAL init");
        let pool = Mempool::new(&eal, "tbench_pool", 32767, 256).expect("mempool");
        if want("smoltcp_dpdk_tap") {
            results.insert(
                "smoltcp_dpdk_tap".into(),
                dpdk_tap(&eal, pool, &tap_if, seconds),
            );
        }
        if want("smoltcp_dpdk_memif") {
            results.insert("smoltcp_dpdk_memif".into(), dpdk_memif(eal, pool, seconds));
        }
        let _ = std::fs::remove_file(&sock_path);
    }
    let doc = json!({
        "bench": "transport_bench",
        "workload": format!("msgr2 crc, auth none, 1 session, {MSG_BYTES} B data per message, {DEPTH} requests in flight, 1 reply per request"),
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "seconds": seconds,
        "results": Value::Object(results),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).expect("JSON of plain values")
    );
}

fn dpdk_tap(eal: &Eal, pool: Mempool, ifname: &str, seconds: f64) -> Value {
    let (kernel, ours) = (
        Ipv4Addr::new(169, 254, 78, 1),
        Ipv4Addr::new(169, 254, 78, 2),
    );
    let (_port, t) = open(
        eal,
        "net_tap0",
        pool,
        ours,
        24,
        &DpdkOptions::default(),
        |_| {},
    )
    .expect("net_tap transport");
    let setup = TapSetup::adopt(ifname, kernel, ours, 24).expect("namespace");
    let mut d = Driver::with_transport(t);
    let sock = SocketAddr::new(ours.into(), 6800);
    let r = serve_for_child(&mut d, setup.netns().name(), sock, seconds);
    let stats = d.transport().stats();
    with_peer(
        with_stats(r, format!("{stats:?}")),
        "acceptor: smoltcp over DPDK net_tap (busy poll); client: kernel TCP in a namespace",
    )
}

fn dpdk_memif(eal: Eal, pool: Mempool, seconds: f64) -> Value {
    let (a, b) = (
        Ipv4Addr::new(169, 254, 79, 1),
        Ipv4Addr::new(169, 254, 79, 2),
    );
    let opts = DpdkOptions {
        checksum_offload: false,
        ..DpdkOptions::default()
    };
    let (pa, ta) = open(&eal, "net_memif0", pool, a, 24, &opts, |_| {}).expect("memif0");
    let (pb, tb) = open(&eal, "net_memif1", pool, b, 24, &opts, |_| {}).expect("memif1");
    pa.wait_link_up(Duration::from_secs(5)).expect("memif link");
    pb.wait_link_up(Duration::from_secs(5)).expect("memif link");
    let sock = SocketAddr::new(a.into(), 6800);
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _reg = eal.register_thread().expect("register thread");
            let mut d = Driver::with_transport(ta);
            serve(&mut d, sock, || stop.load(Ordering::Relaxed));
            format!("{:?}", d.transport().stats())
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let _reg = eal.register_thread().ok();
    let mut d = Driver::with_transport(tb);
    let r = client(&mut d, sock, seconds);
    stop.store(true, Ordering::Relaxed);
    let stats = server.join().unwrap_or_default();
    with_peer(
        with_stats(r, stats),
        "smoltcp over DPDK memif at both ends, one busy-polling thread each (2 cores total)",
    )
}
