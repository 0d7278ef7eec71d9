//! The messenger over kernel TCP (issue: reactors, pool, many OSD endpoints):
//! 2 serving reactors × 16 OSD endpoints × 200 client connections, every
//! request answered and every reply checked; and a lossless OSD↔OSD session
//! that survives a link which keeps getting cut, losing, duplicating and
//! reordering nothing.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pollmsgr::auth::none::NoneClient;
use pollmsgr::net::kernel::KernelTransport;
use pollmsgr::pool::load::{EchoHandler, LoadApp, LoadConfig, LoadCounters};
use pollmsgr::pool::{EndpointSpec, EndpointsApp, Handler, Replier};
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Message, Policies, Policy};
use pollmsgr::reactor::driver::KernelDriver;
use pollmsgr::reactor::{self, IdlePolicy};
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::entity::{EntityName, EntityType};
use rand::SeedableRng;

fn endpoints(
    count: usize,
    first: u64,
    handler: impl Fn() -> Box<dyn Handler>,
) -> Vec<EndpointSpec> {
    (0..count)
        .map(|i| EndpointSpec {
            name: EntityName {
                ty: EntityType::Osd,
                num: first + i as u64,
            },
            listen: "127.0.0.1:0".parse().expect("literal"),
            nonce: 7000 + first as u32 + i as u32,
            policies: Policies::osd(),
            handler: handler(),
        })
        .collect()
}

/// Starts serving reactors and returns them with their endpoints' exact addresses.
fn serve(
    reactors: usize,
    per_reactor: usize,
    handler: impl Fn() -> Box<dyn Handler>,
) -> (
    Vec<reactor::ReactorHandle<KernelTransport, EndpointsApp>>,
    Vec<EntityAddr>,
) {
    let mut handles = Vec::new();
    for r in 0..reactors {
        let app = EndpointsApp::new(
            endpoints(per_reactor, (r * per_reactor) as u64, &handler),
            ConnectionConfig::new(EntityType::Osd),
        );
        handles.push(
            reactor::spawn(
                format!("test-serve-{r}"),
                Some(r % 2),
                IdlePolicy::Sleep(Duration::from_millis(5)),
                KernelTransport::new,
                app,
            )
            .expect("spawn reactor"),
        );
    }
    let (tx, rx) = crossbeam::channel::unbounded();
    for h in &handles {
        let tx = tx.clone();
        h.post(move |_, app: &mut EndpointsApp| {
            let _ = tx.send(app.stats());
        });
    }
    let mut addrs = Vec::new();
    for _ in 0..reactors {
        for (name, bound, _) in rx
            .recv_timeout(Duration::from_secs(10))
            .expect("reactor up")
        {
            addrs.push(EntityAddr {
                ty: AddrType::Msgr2,
                nonce: 7000 + name.num as u32,
                addr: bound,
            });
        }
    }
    (handles, addrs)
}

#[test]
fn two_reactors_sixteen_endpoints_two_hundred_connections_all_answered() {
    let (servers, targets) = serve(2, 8, || Box::new(EchoHandler::new(128)));
    assert_eq!(targets.len(), 16);
    let counters = Arc::new(LoadCounters::default());
    let mut loads = Vec::new();
    for i in 0..2 {
        let cfg = LoadConfig {
            targets: targets.clone(),
            conns: 100,
            idle: 0,
            depth: 2,
            size: 512,
            duration: Duration::from_millis(1500),
            base: ConnectionConfig::new(EntityType::Client),
            first_target: i * 8,
            peer_osd: None,
            via: None,
            auth: Default::default(),
        };
        let app = LoadApp::new(cfg, Arc::clone(&counters)).expect("load app");
        loads.push(
            reactor::spawn(
                format!("test-load-{i}"),
                Some(i),
                IdlePolicy::Sleep(Duration::from_millis(1)),
                KernelTransport::new,
                app,
            )
            .expect("spawn load"),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !loads.iter().all(|h| h.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for l in loads {
        l.join().expect("load reactor");
    }
    let mut served = 0u64;
    let mut sessions_per_endpoint = Vec::new();
    for s in servers {
        for (_, _, st) in s.join().expect("server reactor").stats() {
            served += st.messages;
            sessions_per_endpoint.push(st.sessions);
        }
    }
    let completed = counters.completed.load(Ordering::Relaxed);
    assert_eq!(
        counters.sessions.load(Ordering::Relaxed),
        200,
        "all 200 sessions"
    );
    assert_eq!(
        counters.errors.load(Ordering::Relaxed),
        0,
        "no connection errors"
    );
    assert_eq!(
        counters.mismatches.load(Ordering::Relaxed),
        0,
        "every reply matched its request"
    );
    assert!(completed > 1000, "too little load: {completed}");
    assert_eq!(
        completed,
        counters.sent.load(Ordering::Relaxed),
        "every request was answered"
    );
    assert_eq!(served, completed, "servers saw exactly the requests sent");
    // 200 connections over 16 endpoints: each endpoint got its share.
    assert_eq!(sessions_per_endpoint.iter().sum::<u64>(), 200);
    assert!(
        sessions_per_endpoint.iter().all(|s| *s >= 12),
        "{sessions_per_endpoint:?}"
    );
}

/// A TCP relay that cuts every connection after a random number of bytes.
fn cutting_proxy(upstream: SocketAddr, stop: Arc<AtomicBool>, cuts: Arc<AtomicU64>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let mut seed = 1u64;
        while !stop.load(Ordering::Relaxed) {
            let Ok((client, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Cut after 20..120 KiB in the client→server direction.
            let budget = 20_000 + (seed >> 33) % 100_000;
            let cuts = Arc::clone(&cuts);
            let (c2, s2) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            std::thread::spawn(move || pump(client, server, Some(budget), cuts));
            std::thread::spawn(move || pump(s2, c2, None, Arc::new(AtomicU64::new(0))));
        }
    });
    addr
}

fn pump(mut from: TcpStream, mut to: TcpStream, budget: Option<u64>, cuts: Arc<AtomicU64>) {
    let mut buf = [0u8; 8192];
    let mut moved = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if budget.is_some_and(|b| moved + n as u64 > b) {
            cuts.fetch_add(1, Ordering::Relaxed);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        moved += n as u64;
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Replies to each request with its own front, so order and content can be checked.
struct Mirror;
impl Handler for Mirror {
    fn handle_message(&mut self, msg: Message, reply: &mut Replier<'_>) {
        reply.send(Message::new(0x7f02, 1, msg.front.clone()).with_tid(msg.tid));
    }
}

#[test]
fn lossless_osd_session_survives_a_link_that_keeps_being_cut() {
    let (servers, targets) = serve(1, 1, || Box::new(Mirror));
    let target = targets[0];
    let stop = Arc::new(AtomicBool::new(false));
    let cuts = Arc::new(AtomicU64::new(0));
    let proxy = cutting_proxy(
        target.addr.expect("ip"),
        Arc::clone(&stop),
        Arc::clone(&cuts),
    );

    // osd.100 dials osd.0 through the proxy as a lossless peer.
    let mut cfg = ConnectionConfig::new(EntityType::Osd);
    cfg.my_gid = 100;
    cfg.my_nonce = 4242;
    cfg.my_addrs = EntityAddrVec(vec![EntityAddr {
        ty: AddrType::Msgr2,
        nonce: 4242,
        addr: Some("127.0.0.1:1".parse().expect("literal")),
    }]);
    cfg.initial_backoff = Duration::from_millis(5);
    cfg.max_backoff = Duration::from_millis(50);
    let conn = Connection::connect(
        cfg,
        target,
        EntityType::Osd,
        Policy::lossless_peer(),
        Box::new(NoneClient::new(EntityType::Osd as u32, "100", 0, false)),
        Box::new(rand::rngs::StdRng::seed_from_u64(3)),
        Instant::now(),
    );
    let mut driver = KernelDriver::new().expect("driver");
    let id = driver.connect(proxy, conn).expect("dial proxy");
    const COUNT: u64 = 3000;
    for i in 1..=COUNT {
        let front = Bytes::from(format!("message {i:06}").repeat(20));
        driver
            .conn_mut(id)
            .expect("conn")
            .send_message(Message::new(0x7f01, 1, front).with_tid(i));
    }
    let mut got = Vec::new();
    let mut sessions = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while (got.len() as u64) < COUNT && Instant::now() < deadline {
        for (_, ev) in driver.poll_once(Duration::from_millis(20)).expect("poll") {
            match ev {
                Event::Message(m) => {
                    assert_eq!(
                        m.front,
                        Bytes::from(format!("message {:06}", m.tid).repeat(20)),
                        "reply content"
                    );
                    got.push(m.tid);
                }
                Event::Established(_) => sessions += 1,
                Event::Closed { reconnect, error } => {
                    assert!(reconnect, "a lossless peer session must reconnect: {error}")
                }
                _ => {}
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let want: Vec<u64> = (1..=COUNT).collect();
    assert_eq!(got, want, "replies lost, duplicated or reordered");
    assert!(
        cuts.load(Ordering::Relaxed) >= 3,
        "the proxy must have cut the link"
    );
    assert!(
        sessions >= 3,
        "the session must have reconnected: {sessions}"
    );
    for s in servers {
        s.join().expect("server");
    }
}

/// Records the front of every message an endpoint receives.
struct Record(Arc<std::sync::Mutex<Vec<String>>>);
impl Handler for Record {
    fn handle_message(&mut self, msg: Message, _reply: &mut Replier<'_>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(String::from_utf8_lossy(&msg.front).into_owned());
        }
    }
}

#[test]
fn two_endpoints_dialing_each_other_settle_on_one_session_and_lose_nothing() {
    let got: Vec<Arc<std::sync::Mutex<Vec<String>>>> = (0..2)
        .map(|_| Arc::new(std::sync::Mutex::new(Vec::new())))
        .collect();
    let specs: Vec<EndpointSpec> = (0..2)
        .map(|i| EndpointSpec {
            name: EntityName {
                ty: EntityType::Osd,
                num: i as u64,
            },
            listen: "127.0.0.1:0".parse().expect("literal"),
            nonce: 9100 + i as u32,
            policies: Policies::osd(),
            handler: Box::new(Record(Arc::clone(&got[i]))),
        })
        .collect();
    let h = reactor::spawn(
        "test-race".into(),
        None,
        IdlePolicy::Sleep(Duration::from_millis(2)),
        KernelTransport::new,
        EndpointsApp::new(specs, ConnectionConfig::new(EntityType::Osd)),
    )
    .expect("spawn");
    let (tx, rx) = crossbeam::channel::unbounded();
    h.post(move |_, app: &mut EndpointsApp| {
        let _ = tx.send(app.stats());
    });
    let addrs: Vec<EntityAddr> = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("started")
        .iter()
        .map(|(name, bound, _)| EntityAddr {
            ty: AddrType::Msgr2,
            nonce: 9100 + name.num as u32,
            addr: *bound,
        })
        .collect();
    // Both endpoints dial each other in the same pass: a connect race.
    let (a, b) = (addrs[0], addrs[1]);
    h.post(move |driver, app: &mut EndpointsApp| {
        for i in 0..50 {
            let to_b = Message::new(0x7f10, 1, Bytes::from(format!("0->1 {i:02}")));
            let to_a = Message::new(0x7f10, 1, Bytes::from(format!("1->0 {i:02}")));
            app.send_to(driver, 0, b, EntityType::Osd, to_b)
                .expect("send 0->1");
            app.send_to(driver, 1, a, EntityType::Osd, to_a)
                .expect("send 1->0");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let len = |i: usize| got[i].lock().map(|v| v.len()).unwrap_or(0);
    while (len(0) < 50 || len(1) < 50) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let want = |from: usize, to: usize| -> Vec<String> {
        (0..50).map(|i| format!("{from}->{to} {i:02}")).collect()
    };
    assert_eq!(
        *got[1].lock().expect("lock"),
        want(0, 1),
        "osd.1 lost, duplicated or reordered"
    );
    assert_eq!(
        *got[0].lock().expect("lock"),
        want(1, 0),
        "osd.0 lost, duplicated or reordered"
    );
    // One more message each way goes over the settled pool, not a new dial.
    let (ptx, prx) = crossbeam::channel::unbounded();
    h.post(move |driver, app: &mut EndpointsApp| {
        let before = driver.conn_count();
        let m = Message::new(0x7f10, 1, Bytes::from_static(b"again"));
        app.send_to(driver, 0, b, EntityType::Osd, m).expect("send");
        let _ = ptx.send((before, driver.conn_count(), app.pooled()));
    });
    let (before, after, pooled) = prx
        .recv_timeout(Duration::from_secs(5))
        .expect("pool state");
    assert_eq!(before, after, "a settled pool must not dial again");
    assert_eq!(pooled, 2, "one pooled connection per (endpoint, peer)");
    h.join().expect("reactor");
}
