//! msgr2 request/reply throughput over each transport, one JSON document:
//! one session (crc mode, auth none), 4 KiB data per message, 32 requests in
//! flight; the acceptor (`osd.0`) answers each request with a 4 KiB reply.
//! The client counts replies for `--seconds` after a 0.5 s warm-up.
//!
//! Every case opens its transports through `pollmsgr::net::spec` (one
//! [`TransportSpec`] each, chosen in [`spec_of`]) and runs in its own
//! process, this binary re-executed with `--case NAME SECONDS` (the DPDK EAL
//! initializes once per process):
//! - `kernel_loopback`: kernel TCP both ends, 127.0.0.1, two threads.
//! - `smoltcp_tap`: acceptor on smoltcp over a kernel TAP; client: kernel TCP
//!   inside the TAP's namespace, this binary re-executed there.
//! - `smoltcp_dpdk_tap`: acceptor on smoltcp over DPDK `net_tap`; same client.
//! - `smoltcp_dpdk_memif`: smoltcp over DPDK memif at both ends, two threads
//!   (server and client port of one memif socket), both busy-polling.
//!
//! Needs root (TAP, namespaces). Addresses: 127.0.0.1, and link-local
//! 169.254.78.0/24 / 169.254.120.0/24 that exist only inside the namespaces
//! this program creates and removes (or only inside the smoltcp stacks).
//!
//! Usage: `transport_bench [--seconds S] [--only NAME,...]` (default 3 s, all).
#![deny(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pollmsgr::auth::none::{NoneClient, NoneServer};
use pollmsgr::net::spec::{AnyTransport, DpdkTapSpec, Netns, TapSpec, TransportSpec, CLIENT_LINK};
use pollmsgr::net::transport::Transport;
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Message, Policies, Policy};
use pollmsgr::reactor::driver::Driver;
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

/// The cases, in the order they run.
const CASES: [&str; 4] = [
    "kernel_loopback",
    "smoltcp_tap",
    "smoltcp_dpdk_tap",
    "smoltcp_dpdk_memif",
];

/// How a case runs: both ends in this process, or the acceptor here and a
/// kernel client in the transport's namespace.
enum Layout {
    TwoReactors,
    KernelPeer,
}

/// The one place a case's transport is chosen: its spec, layout and setup
/// description.
fn spec_of(case: &str) -> Option<(TransportSpec, Layout, &'static str)> {
    Some(match case {
        "kernel_loopback" => (
            TransportSpec::Kernel,
            Layout::TwoReactors,
            "kernel TCP over loopback, both ends in this process",
        ),
        "smoltcp_tap" => (
            TransportSpec::Tap(TapSpec {
                netns: Netns::Create,
                link: CLIENT_LINK,
                gateway: false,
                interfaces: 1,
            }),
            Layout::KernelPeer,
            "acceptor: smoltcp over kernel TAP; client: kernel TCP in a namespace",
        ),
        "smoltcp_dpdk_tap" => (
            TransportSpec::DpdkTap(DpdkTapSpec {
                netns: Netns::Create,
                link: CLIENT_LINK,
                gateway: false,
                checksum_offload: true,
            }),
            Layout::KernelPeer,
            "acceptor: smoltcp over DPDK net_tap (busy poll); client: kernel TCP in a namespace",
        ),
        "smoltcp_dpdk_memif" => (
            TransportSpec::DpdkMemifPair,
            Layout::TwoReactors,
            "smoltcp over DPDK memif at both ends, one busy-polling thread each (2 cores total)",
        ),
        _ => return None,
    })
}

/// Runs `case` in this process.
fn run_case(case: &str, seconds: f64) -> Result<Value, String> {
    let (spec, layout, setup) = spec_of(case).ok_or_else(|| format!("no case {case}"))?;
    let r = match layout {
        Layout::TwoReactors => two_reactors(&spec, seconds)?,
        Layout::KernelPeer => against_kernel_peer(&spec, seconds)?,
    };
    Ok(with_peer(r, setup))
}

/// Reactor 0 serves on its own thread, reactor 1 (this thread) loads.
fn two_reactors(spec: &TransportSpec, seconds: f64) -> Result<Value, String> {
    // A free port on 127.0.0.1 (bind, read it, release): loopback is shared
    // with the machine. smoltcp stacks use the same port on their own link.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    let sock = spec
        .listen_addr(0, 0, SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port))
        .map_err(|e| e.to_string())?;
    let mut transports = spec
        .prepare(2, [(sock.port(), 0)])
        .map_err(|e| format!("prepare: {e}"))?;
    let open_server = transports.factory(0).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let (opened_tx, opened_rx) = mpsc::channel();
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let t = match open_server() {
                Ok(t) => t,
                Err(e) => {
                    let _ = opened_tx.send(Err(format!("opening the server: {e}")));
                    return None;
                }
            };
            let _ = opened_tx.send(Ok(()));
            let mut d = Driver::with_transport(t);
            serve(&mut d, sock, || stop.load(Ordering::Relaxed));
            server_stats(d.transport())
        })
    };
    // The client's port opens after the server's (a memif client connects
    // to the server's socket).
    opened_rx
        .recv()
        .map_err(|_| "the server thread ended".to_owned())??;
    std::thread::sleep(Duration::from_millis(50));
    let opened = transports
        .open(1)
        .map_err(|e| format!("opening the client: {e}"));
    let r = opened.map(|t| client(&mut Driver::with_transport(t), sock, seconds));
    stop.store(true, Ordering::Relaxed);
    let stats = server
        .join()
        .map_err(|_| "the server panicked".to_owned())?;
    Ok(with_stats(r?, stats))
}

/// The acceptor over `spec` here, a kernel client in its namespace.
fn against_kernel_peer(spec: &TransportSpec, seconds: f64) -> Result<Value, String> {
    let sock = spec
        .listen_addr(0, 0, SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 6800))
        .map_err(|e| e.to_string())?;
    let mut transports = spec
        .prepare(1, [(sock.port(), 0)])
        .map_err(|e| format!("prepare: {e}"))?;
    let t = transports
        .open(0)
        .map_err(|e| format!("opening the server: {e}"))?;
    let netns = transports
        .netns()
        .ok_or("the transport has no namespace")?
        .name()
        .to_owned();
    let mut d = Driver::with_transport(t);
    let r = serve_for_child(&mut d, &netns, sock, seconds)?;
    Ok(with_stats(r, server_stats(d.transport())))
}

/// The server's smoltcp counters (summed over a TAP set's interfaces).
fn server_stats(t: &AnyTransport) -> Option<String> {
    match t {
        AnyTransport::Kernel(_) => None,
        AnyTransport::Tap(t) => Some(format!("{:?}", t.stats())),
        AnyTransport::Dpdk(t) => Some(format!("{:?}", t.stats())),
        AnyTransport::DpdkSet(t) => Some(format!("{:?}", t.stats())),
    }
}

fn with_peer(mut r: Value, what: &str) -> Value {
    if let Value::Object(m) = &mut r {
        m.insert("setup".into(), json!(what));
    }
    r
}

fn with_stats(mut r: Value, stats: Option<String>) -> Value {
    if let (Value::Object(m), Some(stats)) = (&mut r, stats) {
        m.insert("server_transport_stats".into(), json!(stats));
    }
    r
}

/// The JSON a child printed on its `RESULT ` line.
fn result_of(child: Child) -> Result<Value, String> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("child output: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|j| serde_json::from_str(j).ok())
        .ok_or_else(|| format!("child printed no result ({}): {text}", out.status))
}

/// Runs the server over `driver` while a kernel client runs inside `netns`.
fn serve_for_child(
    driver: &mut Driver<AnyTransport>,
    netns: &str,
    sock: SocketAddr,
    seconds: f64,
) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| format!("exe: {e}"))?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(exe)
        .args(["--client", &sock.to_string(), &seconds.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn the client: {e}"))?;
    let t0 = Instant::now();
    serve(driver, sock, || {
        matches!(child.try_wait(), Ok(Some(_))) || t0.elapsed() > Duration::from_secs(60)
    });
    // Our own child, by its handle.
    let _ = child.kill();
    result_of(child)
}

/// Prints `r` (or its error) as the `RESULT ` line a parent reads.
fn print_result(r: Result<Value, String>) {
    let r = r.unwrap_or_else(|e| json!({ "error": e }));
    println!("RESULT {r}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds_at = |i: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    match args.first().map(String::as_str) {
        Some("--client") => {
            // Kernel-side client, re-executed inside a namespace.
            let target: SocketAddr = args
                .get(1)
                .and_then(|s| s.parse().ok())
                .expect("--client ADDR SECONDS");
            let seconds = seconds_at(2);
            let opened = TransportSpec::Kernel
                .prepare(1, [])
                .and_then(|mut ts| ts.open(0))
                .map_err(|e| format!("kernel transport: {e}"));
            print_result(opened.map(|t| client(&mut Driver::with_transport(t), target, seconds)));
            return;
        }
        Some("--case") => {
            let case = args.get(1).expect("--case NAME SECONDS");
            print_result(run_case(case, seconds_at(2)));
            return;
        }
        _ => {}
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
    let exe = std::env::current_exe().expect("exe");
    let mut results = serde_json::Map::new();
    for case in CASES.into_iter().filter(|c| want(c)) {
        let r = Command::new(&exe)
            .args(["--case", case, &seconds.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn the case: {e}"))
            .and_then(result_of);
        results.insert(case.into(), r.unwrap_or_else(|e| json!({ "error": e })));
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
