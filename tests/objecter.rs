//! The objecter against pollmsgr's own OSD endpoints (the OSD handler over
//! an in-memory store, on kernel TCP over loopback), with placements the
//! test controls: resend when a new map moves the primary, resend when the
//! session resets, per-op timeout, unknown pool, and one completion per op.
//! The real-Ceph side of the same behaviour is in `interop_rados.rs`.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pollmsgr::msg::osd_op::{MOsdOp, MOsdOpReply};
use pollmsgr::msg::osd_op::{ObjectLocator, OsdOp, PgId};
use pollmsgr::net::kernel::KernelTransport;
use pollmsgr::objecter::app::{RadosApp, Workload};
use pollmsgr::objecter::{
    Completion, ObjectRequest, Objecter, ObjecterConfig, OpError, OpTarget, Placement,
};
use pollmsgr::osd::handler::{OsdHandler, OsdIdentity};
use pollmsgr::osd::member::{ClusterView, PoolInfo};
use pollmsgr::osd::store::{MemStore, ObjectService};
use pollmsgr::pool::auth::ClientAuth;
use pollmsgr::pool::{EndpointSpec, EndpointsApp, Handler, Replier};
use pollmsgr::proto::Message;
use pollmsgr::proto::{ConnectionConfig, Policies};
use pollmsgr::reactor::{self, IdlePolicy, ReactorHandle};
use pollmsgr::wire::addr::EntityAddr;
use pollmsgr::wire::entity::{EntityName, EntityType};

const POOL: i64 = 3;

/// Every object of the test's pool goes to `primary` at `addr`.
struct FixedMap {
    epoch: u32,
    primary: i32,
    addr: EntityAddr,
}

impl Placement for FixedMap {
    fn epoch(&self) -> u32 {
        self.epoch
    }
    fn target_object(&self, loc: &ObjectLocator, oid: &[u8]) -> Option<OpTarget> {
        (loc.pool == POOL).then(|| {
            let hash = oid
                .iter()
                .fold(0u32, |h, &b| h.wrapping_mul(31) ^ u32::from(b));
            OpTarget {
                pgid: PgId {
                    pool: POOL,
                    seed: hash % 8,
                },
                hash,
                primary: self.primary,
                addr: Some(self.addr),
            }
        })
    }
    fn target_pg(&self, pg: PgId) -> Option<OpTarget> {
        (pg.pool == POOL).then_some(OpTarget {
            pgid: pg,
            hash: pg.seed,
            primary: self.primary,
            addr: Some(self.addr),
        })
    }
}

/// One pollmsgr OSD endpoint (osd.ID) on its own reactor.
struct Endpoint {
    addr: EntityAddr,
    _handle: ReactorHandle<KernelTransport, EndpointsApp>,
}

fn free_port() -> SocketAddr {
    let ip = Ipv4Addr::LOCALHOST;
    SocketAddr::from((ip, common::free_port(ip).expect("a free port")))
}

/// An OSD that answers every op wrongly: first a reply for a tid that was
/// never sent, then a reply with no ops for the request's tid.
struct WrongReplies;

impl Handler for WrongReplies {
    fn handle_message(&mut self, msg: Message, reply: &mut Replier<'_>) {
        let Ok(req) = MOsdOp::from_message(&msg) else {
            return;
        };
        let mut r = MOsdOpReply::for_request(&req, 0, 1, 0);
        reply.send(r.to_message(msg.tid + 1_000_000));
        r.ops.clear();
        reply.send(r.to_message(msg.tid));
    }
}

fn serve_handler(id: u64, handler: Box<dyn Handler>) -> Endpoint {
    let listen = free_port();
    let nonce = 1000 + id as u32;
    let spec = EndpointSpec {
        name: EntityName::new(EntityType::Osd, id),
        listen,
        nonce,
        policies: Policies::osd(),
        handler,
    };
    let app = EndpointsApp::new(vec![spec], ConnectionConfig::new(EntityType::Osd));
    let handle = reactor::spawn(
        format!("osd-{id}"),
        None,
        IdlePolicy::Sleep(Duration::from_millis(1)),
        KernelTransport::new,
        app,
    )
    .expect("spawn endpoint");
    // The reactor binds its listener on its own thread: wait for it, so a
    // test's first dial is not refused (that would be a reset and resends).
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(listen).is_err() {
        assert!(
            Instant::now() < deadline,
            "osd.{id} is not listening on {listen}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    Endpoint {
        addr: EntityAddr::msgr2(listen, nonce),
        _handle: handle,
    }
}

fn endpoint(id: u64, store: Arc<dyn ObjectService>) -> Endpoint {
    let (tx, rx) = crossbeam::channel::bounded(4);
    let mut pools = HashMap::new();
    pools.insert(
        POOL,
        PoolInfo {
            name: "objecter".into(),
            pg_num: 8,
        },
    );
    tx.send(Arc::new(ClusterView {
        epoch: 1,
        pools,
        heartbeat_peers: Vec::new(),
    }))
    .expect("view");
    let me = OsdIdentity {
        id,
        fsid: [7; 16],
        uuid: [id as u8; 16],
        heartbeat_interval: Duration::from_secs(3600),
    };
    // Keep the view sender alive for the handler's lifetime.
    std::mem::forget(tx);
    serve_handler(id, Box::new(OsdHandler::new(me, store, rx)))
}

/// A peer that accepts TCP connections and never says anything.
fn silent_peer() -> (TcpListener, EntityAddr) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    (l, EntityAddr::msgr2(a, 9))
}

/// Writes `n` objects, then reads each back; records every completion.
struct WriteRead {
    n: u64,
    next: u64,
    phase_read: bool,
    outstanding: usize,
    completions: Vec<Completion>,
}

impl WriteRead {
    fn new(n: u64) -> Self {
        WriteRead {
            n,
            next: 0,
            phase_read: false,
            outstanding: 0,
            completions: Vec::new(),
        }
    }
}

fn payload(i: u64) -> Bytes {
    Bytes::from(format!("object {i} payload").into_bytes())
}

impl Workload for WriteRead {
    fn next_request(&mut self, _now: Instant) -> Option<(ObjectRequest, u64)> {
        if self.next >= self.n {
            if self.phase_read || self.outstanding > 0 {
                return None;
            }
            self.phase_read = true;
            self.next = 0;
        }
        let i = self.next;
        self.next += 1;
        self.outstanding += 1;
        let loc = ObjectLocator::new(POOL, b"");
        let name = format!("obj-{i}");
        let op = if self.phase_read {
            OsdOp::read(0, 0)
        } else {
            OsdOp::writefull(payload(i))
        };
        let token = i + if self.phase_read { 1 << 32 } else { 0 };
        Some((ObjectRequest::new(loc, name, vec![op]), token))
    }
    fn complete(&mut self, c: Completion, _now: Instant) {
        self.outstanding -= 1;
        self.completions.push(c);
    }
    fn done(&self) -> bool {
        self.phase_read && self.next >= self.n && self.outstanding == 0
    }
}

fn objecter(timeout: Duration) -> Objecter {
    let mut cfg = ObjecterConfig::new(
        ConnectionConfig::new(EntityType::Client),
        ClientAuth::None,
        4242,
    );
    cfg.op_timeout = timeout;
    Objecter::new(cfg)
}

fn run<W: Workload>(
    w: W,
    timeout: Duration,
    maps: Vec<(Duration, Arc<dyn Placement>)>,
) -> RadosApp<W> {
    let handle = reactor::spawn(
        "objecter".into(),
        None,
        IdlePolicy::Sleep(Duration::from_millis(1)),
        KernelTransport::new,
        RadosApp::new(objecter(timeout), w),
    )
    .expect("spawn objecter");
    let start = Instant::now();
    for (at, map) in maps {
        if let Some(wait) = at.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        handle.post(move |d, app: &mut RadosApp<W>| app.set_map(d, map, Instant::now()));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(handle.is_finished(), "the workload did not finish in 30 s");
    handle.join().expect("objecter reactor")
}

fn check_all_written_and_read(app: &RadosApp<WriteRead>, n: u64) {
    let w = &app.workload;
    assert_eq!(w.completions.len() as u64, 2 * n, "one completion per op");
    let mut tokens: Vec<u64> = w.completions.iter().map(|c| c.token).collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len() as u64, 2 * n, "a token completed twice");
    for c in &w.completions {
        let r = c.result.as_ref().expect("op failed");
        assert_eq!(r.result, 0, "op {} answered {}", c.token, r.result);
        if c.token >= 1 << 32 {
            let i = c.token - (1 << 32);
            assert_eq!(r.ops[0].outdata, payload(i), "object {i} read back wrong");
        }
    }
}

#[test]
fn ops_reach_the_primary_and_complete_once() {
    let store: Arc<dyn ObjectService> = Arc::new(MemStore::new());
    let a = endpoint(0, Arc::clone(&store));
    let map: Arc<dyn Placement> = Arc::new(FixedMap {
        epoch: 1,
        primary: 0,
        addr: a.addr,
    });
    let app = run(
        WriteRead::new(200),
        Duration::from_secs(10),
        vec![(Duration::ZERO, map)],
    );
    check_all_written_and_read(&app, 200);
    let s = app.objecter.stats();
    assert_eq!(s.resends, 0, "{s:?}");
    assert_eq!(s.sessions, 1, "{s:?}");
}

#[test]
fn a_new_map_moves_stuck_ops_to_the_new_primary() {
    let store: Arc<dyn ObjectService> = Arc::new(MemStore::new());
    let b = endpoint(1, Arc::clone(&store));
    let (_silent, silent_addr) = silent_peer();
    let stuck: Arc<dyn Placement> = Arc::new(FixedMap {
        epoch: 5,
        primary: 0,
        addr: silent_addr,
    });
    let moved: Arc<dyn Placement> = Arc::new(FixedMap {
        epoch: 6,
        primary: 1,
        addr: b.addr,
    });
    let app = run(
        WriteRead::new(50),
        Duration::from_secs(10),
        vec![(Duration::ZERO, stuck), (Duration::from_millis(500), moved)],
    );
    check_all_written_and_read(&app, 50);
    let s = app.objecter.stats();
    assert!(
        s.map_resends >= 1,
        "nothing was resent on the new map: {s:?}"
    );
    assert_eq!(s.failed, 0, "{s:?}");
}

#[test]
fn a_reset_session_resends_and_an_op_without_reply_times_out() {
    // A peer that accepts and closes at once: every session resets, ops are
    // resent until their attempts run out or they time out.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = EntityAddr::msgr2(l.local_addr().expect("addr"), 3);
    std::thread::spawn(move || {
        for s in l.incoming().flatten().take(10_000) {
            drop(s);
        }
    });
    let map: Arc<dyn Placement> = Arc::new(FixedMap {
        epoch: 1,
        primary: 0,
        addr,
    });
    let app = run(
        WriteRead::new(4),
        Duration::from_millis(800),
        vec![(Duration::ZERO, map)],
    );
    let s = app.objecter.stats();
    assert!(s.session_resets >= 1 && s.reset_resends >= 1, "{s:?}");
    let w = &app.workload;
    assert_eq!(w.completions.len(), 8, "one completion per op");
    for c in &w.completions {
        match &c.result {
            Err(OpError::TimedOut(_)) | Err(OpError::TooManyAttempts(_)) => {}
            other => panic!("op {} ended with {other:?}", c.token),
        }
    }
}

#[test]
fn ops_to_a_silent_osd_time_out_each_after_the_op_timeout() {
    // A peer that accepts and never answers: no session, no reply; every op
    // ends with TimedOut, once, no sooner than the timeout.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = EntityAddr::msgr2(l.local_addr().expect("addr"), 3);
    std::thread::spawn(move || {
        let held: Vec<_> = l.incoming().flatten().take(64).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let map: Arc<dyn Placement> = Arc::new(FixedMap {
        epoch: 1,
        primary: 0,
        addr,
    });
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let app = run(WriteRead::new(3), timeout, vec![(Duration::ZERO, map)]);
    assert!(start.elapsed() >= timeout, "finished before the op timeout");
    let w = &app.workload;
    assert_eq!(w.completions.len(), 6, "one completion per op");
    for c in &w.completions {
        assert!(
            matches!(c.result, Err(OpError::TimedOut(t)) if t == timeout),
            "op {} ended with {:?}",
            c.token,
            c.result
        );
    }
}

#[test]
fn an_unknown_pool_fails_the_op_with_a_typed_error() {
    // The pool check happens before any connection is made.
    let batch = vec![ObjectRequest::new(
        ObjectLocator::new(POOL + 1, b""),
        "x",
        vec![OsdOp::stat()],
    )];
    struct One(Vec<ObjectRequest>, Vec<Completion>);
    impl Workload for One {
        fn next_request(&mut self, _: Instant) -> Option<(ObjectRequest, u64)> {
            self.0.pop().map(|r| (r, 1))
        }
        fn complete(&mut self, c: Completion, _: Instant) {
            self.1.push(c);
        }
        fn done(&self) -> bool {
            self.0.is_empty() && !self.1.is_empty()
        }
    }
    let (_silent, addr) = silent_peer();
    let map: Arc<dyn Placement> = Arc::new(FixedMap {
        epoch: 1,
        primary: 0,
        addr,
    });
    let app = run(
        One(batch, Vec::new()),
        Duration::from_secs(5),
        vec![(Duration::ZERO, map)],
    );
    let c = &app.workload.1[0];
    assert_eq!(c.result.as_ref().err(), Some(&OpError::NoPool(POOL + 1)));
}

#[test]
fn replies_for_unknown_tids_are_dropped_and_a_wrong_op_count_is_a_typed_error() {
    let bad = serve_handler(7, Box::new(WrongReplies));
    let map: Arc<dyn Placement> = Arc::new(FixedMap {
        epoch: 1,
        primary: 7,
        addr: bad.addr,
    });
    let app = run(
        WriteRead::new(3),
        Duration::from_secs(5),
        vec![(Duration::ZERO, map)],
    );
    let w = &app.workload;
    assert_eq!(w.completions.len(), 6, "one completion per op");
    for c in &w.completions {
        assert_eq!(
            c.result.as_ref().err(),
            Some(&OpError::OpCountMismatch {
                osd: 7,
                sent: 1,
                got: 0
            }),
            "op {}",
            c.token
        );
    }
    let s = app.objecter.stats();
    assert_eq!(s.unknown_replies, 6, "{s:?}");
    assert_eq!(s.failed, 6, "{s:?}");
}
