//! The pool's bounds: back-pressure instead of unbounded queues, a cap on
//! connections, and reaping of idle ones.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pollmsgr::auth::none::{NoneClient, NoneServer};
use pollmsgr::proto::{ConnError, Connection, ConnectionConfig, Event, Message, Policies, Policy};
use pollmsgr::reactor::driver::DriverLimits;
use pollmsgr::reactor::driver::KernelDriver;
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::entity::EntityType;
use rand::SeedableRng;

fn rng() -> Box<rand::rngs::StdRng> {
    Box::new(rand::rngs::StdRng::seed_from_u64(9))
}

/// A kernel driver listening as osd.0 on an ephemeral loopback port.
fn server(limits: DriverLimits) -> (KernelDriver, EntityAddr) {
    let mut d = KernelDriver::new().expect("driver");
    d.set_limits(limits);
    let mut bound_addr = None;
    d.listen_bound("127.0.0.1:0".parse().expect("literal"), |bound| {
        let me = EntityAddr {
            ty: AddrType::Msgr2,
            nonce: 1,
            addr: Some(bound),
        };
        bound_addr = Some(me);
        let mut cfg = ConnectionConfig::new(EntityType::Osd);
        cfg.my_addrs = EntityAddrVec(vec![me]);
        cfg.my_gid = 0;
        (
            me,
            Box::new(move |peer: SocketAddr, now| {
                Connection::accept(
                    cfg.clone(),
                    peer,
                    Policies::osd(),
                    Box::new(NoneServer::new(10)),
                    rng(),
                    now,
                )
            }),
        )
    })
    .expect("listen");
    (d, bound_addr.expect("bound"))
}

fn client_conn(target: EntityAddr, cfg: ConnectionConfig) -> Connection {
    Connection::connect(
        cfg,
        target,
        EntityType::Osd,
        Policy::lossy_client(),
        Box::new(NoneClient::new(8, "admin", 0, false)),
        rng(),
        Instant::now(),
    )
}

/// Polls both drivers until `done` or the deadline; returns (server, client) events.
fn pump(
    s: &mut KernelDriver,
    c: &mut KernelDriver,
    secs: u64,
    mut done: impl FnMut(&[Event], &[Event]) -> bool,
) -> (Vec<Event>, Vec<Event>) {
    let (mut se, mut ce) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline && !done(&se, &ce) {
        se.extend(
            s.poll_once(Duration::from_millis(5))
                .expect("poll")
                .into_iter()
                .map(|e| e.1),
        );
        ce.extend(
            c.poll_once(Duration::from_millis(5))
                .expect("poll")
                .into_iter()
                .map(|e| e.1),
        );
    }
    (se, ce)
}

fn established(evs: &[Event]) -> usize {
    evs.iter()
        .filter(|e| matches!(e, Event::Established(_)))
        .count()
}

#[test]
fn try_send_refuses_past_the_byte_budget_when_the_peer_does_not_read() {
    let (mut s, target) = server(DriverLimits::default());
    let mut c = KernelDriver::new().expect("driver");
    let mut cfg = ConnectionConfig::new(EntityType::Client);
    cfg.max_pending_bytes = 1 << 20;
    let id = c
        .connect(target.addr.expect("ip"), client_conn(target, cfg))
        .expect("dial");
    pump(&mut s, &mut c, 10, |_, ce| established(ce) == 1);
    // Stop polling the server: it reads nothing, so the socket buffers fill
    // and the bytes stay queued in the connection.
    let mut accepted = 0usize;
    let mut refused = None;
    for i in 0..20_000 {
        let conn = c.conn_mut(id).expect("conn");
        match conn.try_send_message(Message::new(0x7f01, 1, vec![7u8; 64 * 1024])) {
            Ok(()) => accepted += 1,
            Err(back) => {
                assert_eq!(
                    back.front.len(),
                    64 * 1024,
                    "the message is handed back whole"
                );
                refused = Some(i);
                break;
            }
        }
        let _ = c.poll_once(Duration::ZERO).expect("poll");
    }
    assert!(refused.is_some(), "never refused after {accepted} messages");
    let pending = c.conn_mut(id).expect("conn").tx_pending().len();
    assert!(
        pending < (1 << 20) + 128 * 1024,
        "queued {pending} bytes past the budget"
    );
    assert!(!c.conn_mut(id).expect("conn").has_room());
}

#[test]
fn accepts_beyond_max_conns_are_refused() {
    let (mut s, target) = server(DriverLimits {
        max_conns: 3,
        idle_timeout: None,
        ..DriverLimits::default()
    });
    let mut c = KernelDriver::new().expect("driver");
    for _ in 0..5 {
        let cfg = ConnectionConfig::new(EntityType::Client);
        c.connect(target.addr.expect("ip"), client_conn(target, cfg))
            .expect("dial");
    }
    let (se, ce) = pump(&mut s, &mut c, 10, |se, ce| {
        established(se) == 3
            && ce
                .iter()
                .filter(|e| matches!(e, Event::Closed { .. }))
                .count()
                == 2
    });
    assert_eq!(established(&se), 3, "exactly max_conns sessions");
    assert_eq!(s.refused(), 2);
    assert_eq!(s.conn_count(), 3);
    assert_eq!(
        ce.iter()
            .filter(|e| matches!(e, Event::Closed { .. }))
            .count(),
        2,
        "the refused connectors see their transport close"
    );
}

#[test]
fn idle_connections_are_reaped() {
    let (mut s, target) = server(DriverLimits {
        max_conns: 100,
        idle_timeout: Some(Duration::from_millis(300)),
        ..DriverLimits::default()
    });
    let mut c = KernelDriver::new().expect("driver");
    let cfg = ConnectionConfig::new(EntityType::Client);
    c.connect(target.addr.expect("ip"), client_conn(target, cfg))
        .expect("dial");
    let started = Instant::now();
    let (se, _) = pump(&mut s, &mut c, 10, |se, _| {
        se.iter().any(|e| matches!(e, Event::Closed { .. }))
    });
    assert_eq!(established(&se), 1);
    let closed = se
        .iter()
        .find_map(|e| match e {
            Event::Closed { error, .. } => Some(error),
            _ => None,
        })
        .expect("reaped");
    // The driver reaps it: the transport closes under the connection, with
    // the driver's reason (free text by design).
    assert!(
        matches!(closed, ConnError::TransportClosed(why) if why.starts_with("idle")),
        "{closed}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(s.conn_count(), 0, "a lossy session is gone after reaping");
}
