//! Two in-memory connections pumped into each other: the session outcomes
//! that end a transport with a typed error (WAIT, replacement).

use std::net::SocketAddr;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::{
    ConnError, Connection, ConnectionConfig, Event, Policies, Policy, SessionDecision,
    SessionRequest,
};
use crate::auth::none::{NoneClient, NoneServer};
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::entity::EntityType;

fn server_addr() -> EntityAddr {
    let socket: SocketAddr = "127.0.0.1:6800".parse().unwrap_or_else(|_| unreachable!());
    EntityAddr {
        ty: AddrType::Msgr2,
        nonce: 7,
        addr: Some(socket),
    }
}

fn pair(now: Instant) -> (Connection, Connection) {
    let mut server_cfg = ConnectionConfig::new(EntityType::Osd);
    server_cfg.my_gid = 1;
    server_cfg.my_addrs = EntityAddrVec(vec![server_addr()]);
    let mut client_cfg = ConnectionConfig::new(EntityType::Osd);
    client_cfg.my_gid = 2;
    client_cfg.my_nonce = 9;
    let client = Connection::connect(
        client_cfg,
        server_addr(),
        EntityType::Osd,
        Policy::lossless_peer(),
        Box::new(NoneClient::new(4, "2", 0, false)),
        Box::new(StdRng::seed_from_u64(1)),
        now,
    );
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!());
    let server = Connection::accept(
        server_cfg,
        peer,
        Policies::osd(),
        Box::new(NoneServer::new(100)),
        Box::new(StdRng::seed_from_u64(2)),
        now,
    );
    (client, server)
}

/// Moves bytes both ways until neither side has any to send; returns the
/// events seen (client's, server's).
fn pump(a: &mut Connection, b: &mut Connection, now: Instant) -> (Vec<Event>, Vec<Event>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    loop {
        let ab = a.tx_pending().to_vec();
        a.tx_consumed(ab.len());
        let ba = b.tx_pending().to_vec();
        b.tx_consumed(ba.len());
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        b.handle_input(&ab, now);
        a.handle_input(&ba, now);
        ea.extend(std::iter::from_fn(|| a.poll_event()));
        eb.extend(std::iter::from_fn(|| b.poll_event()));
    }
    (ea, eb)
}

/// A pair brought to READY on a new session.
fn ready_pair(now: Instant) -> (Connection, Connection) {
    let (mut client, mut server) = pair(now);
    pump(&mut client, &mut server, now);
    assert!(server.decide_session(SessionDecision::NewSession).is_none());
    pump(&mut client, &mut server, now);
    assert!(client.is_ready() && server.is_ready());
    (client, server)
}

fn closed_with(events: &[Event]) -> Option<(&ConnError, bool)> {
    events.iter().find_map(|e| match e {
        Event::Closed { error, reconnect } => Some((error, *reconnect)),
        _ => None,
    })
}

#[test]
fn established_pair_exchanges_a_message() {
    let now = Instant::now();
    let (mut client, mut server) = pair(now);
    let (_, server_events) = pump(&mut client, &mut server, now);
    assert!(matches!(
        server_events.as_slice(),
        [Event::SessionRequest(SessionRequest::Ident { .. })]
    ));
    assert!(server.decide_session(SessionDecision::NewSession).is_none());
    let (client_events, _) = pump(&mut client, &mut server, now);
    assert!(matches!(client_events.as_slice(), [Event::Established(_)]));
    assert!(client.is_ready() && server.is_ready());
    client.send_message(super::Message::new(1, 1, &b"ping"[..]));
    let (_, server_events) = pump(&mut client, &mut server, now);
    assert!(
        matches!(server_events.as_slice(), [Event::Message(m)] if &m.front[..] == b"ping"),
        "{server_events:?}"
    );
}

#[test]
fn wait_closes_the_connector_with_the_wait_error_and_a_long_backoff() {
    let now = Instant::now();
    let (mut client, mut server) = pair(now);
    pump(&mut client, &mut server, now);
    // Something queued, so the lossless connector re-dials rather than standing by.
    client.send_message(super::Message::new(1, 1, &b"queued"[..]));
    assert!(server.decide_session(SessionDecision::Wait).is_none());
    let (client_events, server_events) = pump(&mut client, &mut server, now);
    let (error, reconnect) = closed_with(&client_events).expect("the connector closes");
    assert!(matches!(error, ConnError::Wait), "{error}");
    assert!(reconnect, "a lossless connector reconnects after WAIT");
    assert!(server_events.is_empty(), "{server_events:?}");
    assert_eq!(
        client.poll_timeout(),
        Some(now + client_config_max_backoff()),
        "after WAIT the longest backoff applies"
    );
}

fn client_config_max_backoff() -> std::time::Duration {
    ConnectionConfig::new(EntityType::Osd).max_backoff
}

#[test]
fn close_decision_ends_the_acceptor_as_replaced() {
    let now = Instant::now();
    let (mut client, mut server) = pair(now);
    pump(&mut client, &mut server, now);
    assert!(server.decide_session(SessionDecision::Close).is_none());
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    let (error, reconnect) = closed_with(&events).expect("the acceptor closes");
    assert!(matches!(error, ConnError::SessionReplaced), "{error}");
    assert!(!reconnect);
}

#[test]
fn a_reconnect_only_decision_for_client_ident_is_an_internal_error() {
    let now = Instant::now();
    let (mut client, mut server) = pair(now);
    pump(&mut client, &mut server, now);
    let decision = SessionDecision::Retry { connect_seq: 3 };
    assert!(server.decide_session(decision).is_none());
    let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
    let (error, _) = closed_with(&events).expect("the acceptor closes");
    assert!(matches!(error, ConnError::Internal(_)), "{error}");
}

#[test]
fn transmit_copies_count_what_was_not_lent() {
    let now = Instant::now();
    let (mut client, mut server) = ready_pair(now);
    // A crc-mode payload over the lending threshold goes by reference; a
    // small front is copied into the frame.
    let big = vec![7u8; super::tx::LEND_THRESHOLD + 1000];
    client.send_message(super::Message::new(1, 1, &b"ping"[..]).with_data(big.clone()));
    assert_eq!(client.take_tx_copies(), (4 + big.len() as u64, 4));
    client.send_message(super::Message::new(1, 1, &b"small"[..]).with_data(vec![1u8; 100]));
    assert_eq!(client.take_tx_copies(), (105, 105));
    let (_, server_events) = pump(&mut client, &mut server, now);
    let datas: Vec<usize> = server_events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.data.len()),
            _ => None,
        })
        .collect();
    assert_eq!(datas, [big.len(), 100]);
    assert_eq!(client.take_tx_copies(), (0, 0), "taken once");
}

#[test]
fn keepalives_in_one_input_get_one_ack_with_the_latest_stamp() {
    use crate::wire::utime::UTime;
    let now = Instant::now();
    let (mut client, mut server) = ready_pair(now);
    for sec in 1..=100 {
        assert!(client.send_keepalive(UTime { sec, nsec: 5 }));
    }
    let (client_events, _) = pump(&mut client, &mut server, now);
    let acks: Vec<UTime> = client_events
        .iter()
        .filter_map(|e| match e {
            Event::KeepaliveAck { stamp } => Some(*stamp),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [UTime { sec: 100, nsec: 5 }], "{client_events:?}");
    // One at a time, each is answered with its own stamp.
    for sec in 200..203 {
        assert!(client.send_keepalive(UTime { sec, nsec: 0 }));
        let (events, _) = pump(&mut client, &mut server, now);
        assert!(
            matches!(events.as_slice(), [Event::KeepaliveAck { stamp }] if stamp.sec == sec),
            "{events:?}"
        );
    }
}
