//! A deterministic two-peer simulation of msgr2 connections, in memory.
//!
//! Two sans-IO [`Connection`]s are joined by a byte link with fault
//! injection. Breakpoints fire when a side *enters* a named state (every
//! handshake and session step, in both roles), and apply an action in the
//! manner of crimson's messenger tests: continue, fault (cut the link),
//! corrupt a byte in flight, or stall delivery. The clock is simulated.
//!
//! The acceptor side plays the messenger: it keeps lossless sessions by
//! peer address across transports and answers session requests with the
//! Pacific rules of reference section 9.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use pollmsgr::auth::none::{NoneClient, NoneServer};
use pollmsgr::auth::{
    AuthClient, AuthError, AuthOutcome, AuthServer, AuthServerStep, METHOD_CEPHX, METHOD_NONE,
};
use pollmsgr::proto::{
    ConnError, Connection, ConnectionConfig, Event, Message, Outgoing, Policies, Policy,
    SessionRegistry,
};
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::utime::UTime;
use pollmsgr::wire::ConMode;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use zeroize::Zeroizing;

/// A fixed-key auth method for secure-mode tests: both sides derive the same
/// session key and 64-byte connection secret from a constant.
pub struct FixedKeyClient {
    pub modes: Vec<ConMode>,
}

/// Server half of [`FixedKeyClient`].
pub struct FixedKeyServer {
    pub modes: Vec<ConMode>,
    /// The mode the connection chose, remembered from AUTH_REQUEST.
    pub chosen: Option<ConMode>,
}

fn fixed_outcome(mode: ConMode) -> AuthOutcome {
    AuthOutcome {
        global_id: 4242,
        session_key: Zeroizing::new((100u8..116).collect()),
        connection_secret: Zeroizing::new(if mode == ConMode::Secure {
            (0u8..64).collect()
        } else {
            Vec::new()
        }),
        peer: None,
    }
}

impl AuthClient for FixedKeyClient {
    fn method_and_modes(&self) -> (u32, Vec<ConMode>) {
        (METHOD_CEPHX, self.modes.clone())
    }
    fn request(&mut self) -> Result<Vec<u8>, AuthError> {
        Ok(b"fixed-key-hello".to_vec())
    }
    fn handle_reply_more(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        // One extra round trip, so the simulation covers AUTH_REPLY_MORE.
        let mut out = payload.to_vec();
        out.reverse();
        Ok(out)
    }
    fn handle_bad_method(
        &mut self,
        _: u32,
        _: i32,
        m: &[u32],
        md: &[u32],
    ) -> Result<(), AuthError> {
        Err(AuthError::NoAcceptableMethod {
            methods: m.to_vec(),
            modes: md.to_vec(),
        })
    }
    fn handle_done(&mut self, _: u64, mode: ConMode, _: &[u8]) -> Result<AuthOutcome, AuthError> {
        Ok(fixed_outcome(mode))
    }
}

impl AuthServer for FixedKeyServer {
    fn allowed_methods(&self, _: u8) -> Vec<u32> {
        vec![METHOD_CEPHX]
    }
    fn allowed_modes(&self, _: u8, _: u32) -> Vec<ConMode> {
        self.modes.clone()
    }
    fn handle_request(
        &mut self,
        _: u8,
        _: u32,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthServerStep, AuthError> {
        self.chosen = Some(mode);
        if payload != b"fixed-key-hello" {
            return Err(AuthError::Crypto("bad fixed-key hello".into()));
        }
        Ok(AuthServerStep::More(b"challenge".to_vec()))
    }
    fn handle_request_more(&mut self, payload: &[u8]) -> Result<AuthServerStep, AuthError> {
        if payload != b"egnellahc" {
            return Err(AuthError::Crypto("bad fixed-key proof".into()));
        }
        let mode = self
            .chosen
            .ok_or(AuthError::UnexpectedStep("proof before hello"))?;
        Ok(AuthServerStep::Done {
            outcome: fixed_outcome(mode),
            payload: Vec::new(),
        })
    }
}

/// Which auth the simulated peers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimAuth {
    /// auth none (crc only).
    None,
    /// fixed keys in the given mode.
    Fixed(ConMode),
}

/// One simulation scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub auth: SimAuth,
    pub lossless: bool,
    /// Advertise REVISION_1 (msgr2.1) or not (msgr2.0).
    pub rev1: bool,
    pub messages_each_way: usize,
    pub max_payload: usize,
    /// Probability per delivery step of a random cut (0.0 = none).
    pub random_cut: f64,
    /// Breakpoints on entering states.
    pub breakpoints: Vec<Breakpoint>,
    /// Write through `Connection::tx_fill` into windows of random size, as a
    /// driver over a userspace TCP stack does (large secure payloads are
    /// then sealed in the window); otherwise through `tx_pending`.
    pub seal_in_transport: bool,
}

impl Scenario {
    pub fn new(seed: u64) -> Self {
        Scenario {
            seed,
            auth: SimAuth::None,
            lossless: true,
            rev1: true,
            messages_each_way: 50,
            max_payload: 3000,
            random_cut: 0.0,
            breakpoints: Vec::new(),
            seal_in_transport: false,
        }
    }
}

/// What to do when a side enters a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Cut the link (both transports close).
    Fault,
    /// Flip one byte of what this side sends next.
    Corrupt,
    /// Stop delivering this side's output for the given simulated time.
    Stall(Duration),
}

/// A breakpoint: when `connector` (or the acceptor) enters `state`, apply `action`, `times` times.
#[derive(Debug, Clone)]
pub struct Breakpoint {
    pub connector: bool,
    pub state: &'static str,
    pub action: Action,
    pub times: usize,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Payload digests in delivery order at the acceptor (sent by the connector).
    pub at_acceptor: Vec<u64>,
    /// Payload digests in delivery order at the connector.
    pub at_connector: Vec<u64>,
    pub sent_by_connector: Vec<u64>,
    pub sent_by_acceptor: Vec<u64>,
    pub errors: Vec<String>,
    pub establishments: usize,
    pub remote_resets: usize,
    pub faults_injected: usize,
    /// The connector's `take_tx_copies` summed: payload bytes encoded, and
    /// bytes of them copied into its own buffers.
    pub connector_tx_payload: u64,
    pub connector_tx_copied: u64,
}

fn event_name(e: &Event) -> String {
    match e {
        Event::Message(m) => format!("msg seq {}", m.seq),
        Event::Established(est) => format!("established reconnected={}", est.reconnected),
        Event::Closed { error, reconnect } => format!("closed({error}, reconnect={reconnect})"),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

pub fn digest(m: &Message) -> u64 {
    // FNV-1a over type and payload: cheap and order-sensitive.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in
        m.ty.to_le_bytes()
            .iter()
            .chain(m.front.iter())
            .chain(m.data.iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub fn acceptor_addr() -> EntityAddr {
    EntityAddr {
        ty: AddrType::Msgr2,
        nonce: 77,
        addr: Some("127.0.0.1:6800".parse().expect("literal")),
    }
}

fn connector_addrs() -> EntityAddrVec {
    EntityAddrVec(vec![EntityAddr {
        ty: AddrType::Msgr2,
        nonce: 99,
        addr: Some("127.0.0.1:6801".parse().expect("literal")),
    }])
}

fn config(my_type: EntityType, addrs: EntityAddrVec, rev1: bool) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(my_type);
    c.my_addrs = addrs;
    c.my_gid = if my_type == EntityType::Osd { 1 } else { -1 };
    if !rev1 {
        c.msgr2_supported = 0;
    }
    c.initial_backoff = Duration::from_millis(10);
    c.max_backoff = Duration::from_millis(80);
    c.handshake_timeout = Duration::from_secs(2);
    c
}

fn client_auth(auth: SimAuth) -> Box<dyn AuthClient> {
    match auth {
        SimAuth::None => Box::new(NoneClient::new(4, "0", 0, false)),
        SimAuth::Fixed(mode) => Box::new(FixedKeyClient { modes: vec![mode] }),
    }
}

fn server_auth(auth: SimAuth) -> Box<dyn AuthServer> {
    match auth {
        SimAuth::None => Box::new(NoneServer::new(1000)),
        SimAuth::Fixed(mode) => Box::new(FixedKeyServer {
            modes: vec![mode],
            chosen: None,
        }),
    }
}

/// Runs a scenario to completion (or until its simulated time budget ends).
pub fn run(sc: &Scenario) -> Outcome {
    let mut rng = StdRng::seed_from_u64(sc.seed);
    let start = Instant::now();
    let mut now = start;
    let end = start + Duration::from_secs(120);
    // Standby off: the acceptor here never dials, so an idle connector in
    // standby would leave the acceptor's messages waiting forever (that is
    // Ceph's semantics; standby has its own test).
    let policy = if sc.lossless {
        Policy {
            standby: false,
            ..Policy::lossless_peer()
        }
    } else {
        Policy::lossy_client()
    };
    let policies = Policies {
        default: if sc.lossless {
            Policy {
                server: true,
                ..Policy::lossless_peer()
            }
        } else {
            Policy::stateless_server()
        },
        by_type: Vec::new(),
    };
    let acceptor_cfg = config(
        EntityType::Osd,
        EntityAddrVec(vec![acceptor_addr()]),
        sc.rev1,
    );
    let connector_cfg = config(EntityType::Osd, connector_addrs(), sc.rev1);
    let sub_rng = |rng: &mut StdRng| -> Box<dyn RngCore + Send> {
        Box::new(StdRng::seed_from_u64(rng.gen()))
    };

    let mut out = Outcome::default();
    let mut table = SessionRegistry::new();
    let mut client = Connection::connect(
        connector_cfg,
        acceptor_addr(),
        EntityType::Osd,
        policy,
        client_auth(sc.auth),
        sub_rng(&mut rng),
        now,
    );
    client.set_seal_in_transport(sc.seal_in_transport);
    let new_server = |rng: &mut StdRng, now| {
        let mut s = Connection::accept(
            acceptor_cfg.clone(),
            "127.0.0.1:6801".parse().expect("literal"),
            policies.clone(),
            server_auth(sc.auth),
            sub_rng(rng),
            now,
        );
        s.set_seal_in_transport(sc.seal_in_transport);
        s
    };
    let mut server = Some(new_server(&mut rng, now));
    let mut breakpoints = sc.breakpoints.clone();
    let mut stalled_until = [start, start]; // [connector output, acceptor output]
    let mut corrupt_next = [false, false];
    let mut last_state = ["", ""];
    let mut to_send_c: Vec<Message> = (0..sc.messages_each_way)
        .map(|i| make_message(&mut rng, i, sc.max_payload))
        .collect();
    let mut to_send_s: Vec<Message> = (0..sc.messages_each_way)
        .map(|i| make_message(&mut rng, i, sc.max_payload))
        .collect();
    to_send_c.reverse();
    to_send_s.reverse();
    let trace = std::env::var("SIM_TRACE").is_ok();

    while now < end {
        // Feed new application messages a few at a time.
        for _ in 0..rng.gen_range(0..4) {
            if let Some(m) = to_send_c.pop() {
                out.sent_by_connector.push(digest(&m));
                client.send_message(m);
            }
        }
        if let Some(s) = server.as_mut() {
            // Like a messenger, hand messages to the acceptor's session once it is live.
            if s.is_ready() {
                for _ in 0..rng.gen_range(0..4) {
                    if let Some(m) = to_send_s.pop() {
                        out.sent_by_acceptor.push(digest(&m));
                        s.send_message(m);
                    }
                }
            }
        }

        // Move bytes both ways (in random-sized chunks) unless stalled.
        let mut cut = false;
        if let Some(s) = server.as_mut() {
            if now >= stalled_until[0] {
                cut |= transfer(&mut client, s, &mut rng, &mut corrupt_next[0], now);
                let (payload, copied) = client.take_tx_copies();
                out.connector_tx_payload += payload;
                out.connector_tx_copied += copied;
            }
            if now >= stalled_until[1] {
                cut |= transfer_rev(s, &mut client, &mut rng, &mut corrupt_next[1], now);
            }
        }
        if sc.random_cut > 0.0 && rng.gen_bool(sc.random_cut) {
            cut = true;
            out.faults_injected += 1;
        }

        // Breakpoints on state entry.
        let states = [
            client.state_name(),
            server.as_ref().map_or("", |s| s.state_name()),
        ];
        for side in 0..2 {
            if states[side] != last_state[side] {
                last_state[side] = states[side];
                for bp in breakpoints.iter_mut() {
                    if bp.times > 0 && bp.connector == (side == 0) && bp.state == states[side] {
                        bp.times -= 1;
                        out.faults_injected += 1;
                        match bp.action {
                            Action::Fault => cut = true,
                            Action::Corrupt => corrupt_next[side] = true,
                            Action::Stall(d) => stalled_until[side] = now + d,
                        }
                    }
                }
            }
        }

        if cut {
            client.handle_transport_closed("simulated link cut", now);
            if let Some(s) = server.as_mut() {
                s.handle_transport_closed("simulated link cut", now);
            }
        }

        // Events.
        while let Some(ev) = client.poll_event() {
            if trace {
                let ss = client.session();
                eprintln!(
                    "C {:?} ev={} in={} out={} sent={} q={}",
                    now - start,
                    event_name(&ev),
                    ss.in_seq,
                    ss.out_seq,
                    ss.sent.len(),
                    ss.out_queue.len()
                );
            }
            match ev {
                Event::Message(m) => out.at_connector.push(digest(&m)),
                Event::Established(_) => out.establishments += 1,
                Event::Closed { error, .. } => {
                    out.errors.push(format!("connector: {error}"));
                    if let Some(s) = server.as_mut() {
                        s.handle_transport_closed("peer closed", now);
                    }
                }
                Event::ReconnectDue => {
                    // A fresh transport: the acceptor side gets a new connection.
                    client.reconnect(now);
                    retire_server(&mut server, &mut table, &mut out);
                    server = Some(new_server(&mut rng, now));
                    stalled_until = [now, now];
                }
                Event::RemoteReset => out.remote_resets += 1,
                _ => {}
            }
        }
        if let Some(s) = server.as_mut() {
            while let Some(ev) = s.poll_event() {
                if trace {
                    let ss = s.session();
                    eprintln!(
                        "S {:?} ev={} in={} out={} sent={} q={}",
                        now - start,
                        event_name(&ev),
                        ss.in_seq,
                        ss.out_seq,
                        ss.sent.len(),
                        ss.out_queue.len()
                    );
                }
                match ev {
                    Event::Message(m) => out.at_acceptor.push(digest(&m)),
                    Event::SessionRequest(req) => {
                        let d = table.decide(&req, &acceptor_addr(), Outgoing::None, true);
                        if trace {
                            eprintln!(
                                "S decision -> {}",
                                format!("{d:?}").chars().take(40).collect::<String>()
                            );
                        }
                        if let Some(unapplied) = s.decide_session(d) {
                            table.park(req.peer_addrs(), *unapplied, true);
                        }
                    }
                    Event::Closed { error, .. } => {
                        out.errors.push(format!("acceptor: {error}"));
                        client.handle_transport_closed("peer closed", now);
                    }
                    _ => {}
                }
            }
        }

        // Done when everything arrived and nothing is in flight.
        let done = to_send_c.is_empty()
            && to_send_s.is_empty()
            && out.at_acceptor.len() >= out.sent_by_connector.len()
            && out.at_connector.len() >= out.sent_by_acceptor.len()
            && !sc.lossless_pending(&client);
        if done && client.is_ready() {
            break;
        }
        if !sc.lossless && client.is_closed() {
            break;
        }

        // Advance the clock: to the next deadline if idle, else a small step.
        let idle = !client.has_tx_pending() && server.as_ref().is_none_or(|s| !s.has_tx_pending());
        let step = if idle {
            let deadlines = [
                client.poll_timeout(),
                server.as_ref().and_then(|s| s.poll_timeout()),
                Some(stalled_until[0].max(stalled_until[1])).filter(|t| *t > now),
            ];
            deadlines
                .iter()
                .flatten()
                .map(|d| d.saturating_duration_since(now))
                .min()
                .unwrap_or(Duration::from_millis(1))
                .max(Duration::from_micros(100))
                .min(Duration::from_millis(50))
        } else {
            Duration::from_micros(100)
        };
        now += step;
        client.handle_timeout(now);
        if let Some(s) = server.as_mut() {
            s.handle_timeout(now);
        }
        let _ = s_keepalive(&mut client, now, start);
    }
    out
}

impl Scenario {
    fn lossless_pending(&self, c: &Connection) -> bool {
        self.lossless && !c.session().sent.is_empty() && !c.is_ready()
    }
}

fn s_keepalive(c: &mut Connection, now: Instant, start: Instant) -> bool {
    let t = now.duration_since(start);
    c.send_keepalive(UTime {
        sec: t.as_secs() as u32,
        nsec: t.subsec_nanos(),
    })
}

/// Keeps a faulted lossless acceptor session for the peer's reconnect.
fn retire_server(server: &mut Option<Connection>, table: &mut SessionRegistry, out: &mut Outcome) {
    if let Some(mut s) = server.take() {
        while let Some(ev) = s.poll_event() {
            if let Event::Message(m) = ev {
                out.at_acceptor.push(digest(&m));
            }
        }
        if let Some(est) = s.established().cloned() {
            if !est.lossy {
                let addrs = est.peer_addrs.clone();
                table.park(&addrs, s.take_session(), true);
            }
        }
    }
}

fn make_message(rng: &mut StdRng, i: usize, max_payload: usize) -> Message {
    let len = rng.gen_range(0..=max_payload);
    let mut front = vec![0u8; len];
    rng.fill_bytes(&mut front);
    let mut m = Message::new(0x4000 + (i as u16 % 7), 1, front);
    if i.is_multiple_of(3) {
        let mut data = vec![0u8; rng.gen_range(1..=max_payload.max(1))];
        rng.fill_bytes(&mut data);
        m = m.with_data(data);
    }
    m
}

/// Moves a random-sized chunk from `a`'s output to `b`'s input. Returns true on a cut.
fn transfer(
    a: &mut Connection,
    b: &mut Connection,
    rng: &mut StdRng,
    corrupt: &mut bool,
    now: Instant,
) -> bool {
    if !a.has_tx_pending() {
        return false;
    }
    let mut chunk = if a.seals_in_transport() {
        // A send buffer's free space: often smaller than a sealed chunk
        // (which is then sealed in the connection's buffer), sometimes larger.
        let limit = if rng.gen_bool(0.5) { 4096 } else { 200_000 };
        let mut window = vec![0u8; rng.gen_range(1..=limit)];
        let n = a.tx_fill(&mut window, now);
        window.truncate(n);
        window
    } else {
        let pending = a.tx_pending();
        let n = rng.gen_range(1..=pending.len().min(4096));
        let chunk = pending[..n].to_vec();
        a.tx_consumed(n);
        chunk
    };
    if chunk.is_empty() {
        return false;
    }
    if *corrupt {
        *corrupt = false;
        let i = rng.gen_range(0..chunk.len());
        chunk[i] ^= 0x40;
    }
    b.handle_input(&chunk, now);
    false
}

fn transfer_rev(
    a: &mut Connection,
    b: &mut Connection,
    rng: &mut StdRng,
    corrupt: &mut bool,
    now: Instant,
) -> bool {
    transfer(a, b, rng, corrupt, now)
}

/// Describes how `got` departs from `want` (first divergence, lengths).
fn divergence(got: &[u64], want: &[u64]) -> String {
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    let describe = |d: &u64| want.iter().position(|w| w == d).map_or(-1, |i| i as i64);
    match first {
        Some(i) => format!(
            "first divergence at {i}: got sent-index {} want {}; lengths got {} want {}",
            describe(&got[i]),
            i,
            got.len(),
            want.len()
        ),
        None => format!("lengths got {} want {}", got.len(), want.len()),
    }
}

/// Asserts the lossless guarantee: each direction delivered exactly what was sent, in order.
pub fn assert_exactly_once_in_order(o: &Outcome, seed: u64) {
    if o.at_acceptor != o.sent_by_connector || o.at_connector != o.sent_by_acceptor {
        panic!(
            "seed {seed}: lossless delivery broken. connector→acceptor: {}; acceptor→connector: {}; errors: {:?}",
            divergence(&o.at_acceptor, &o.sent_by_connector),
            divergence(&o.at_connector, &o.sent_by_acceptor),
            o.errors.iter().rev().take(6).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        o.at_acceptor, o.sent_by_connector,
        "seed {seed}: connector→acceptor lost, duplicated or reordered messages; errors: {:?}",
        o.errors
    );
    assert_eq!(
        o.at_connector, o.sent_by_acceptor,
        "seed {seed}: acceptor→connector lost, duplicated or reordered messages; errors: {:?}",
        o.errors
    );
}

/// Error strings that name `what`.
pub fn errors_mention(o: &Outcome, what: &str) -> bool {
    o.errors.iter().any(|e| e.contains(what))
}

/// Converts a ConnError to its display string (helper for tests).
pub fn show(e: &ConnError) -> String {
    e.to_string()
}

pub const ALL_HANDSHAKE_STATES: &[&str] = &[
    "expecting the banner",
    "expecting HELLO",
    "expecting an auth reply",
    "expecting AUTH_REQUEST",
    "expecting AUTH_REQUEST_MORE",
    "expecting AUTH_SIGNATURE",
    "expecting SERVER_IDENT",
    "expecting a reconnect reply",
    "expecting CLIENT_IDENT or SESSION_RECONNECT",
    "ready",
];

pub fn method_none() -> u32 {
    METHOD_NONE
}
