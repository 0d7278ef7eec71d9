//! Two in-memory OSDs with a lossless cephx session (osd.1 → osd.2): the
//! connector builds authorizers from tickets a [`TestMonAuthority`] minted,
//! the acceptor verifies them with the authority's rotating keys. Every
//! transport negotiates fresh keys, and the connection secrets are recorded
//! so tests can check that.
//!
//! The pump plays both messengers: it moves bytes, answers session requests
//! with a [`SessionRegistry`], parks the acceptor's session when its
//! transport dies and opens a new acceptor when the connector reconnects.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pollmsgr::auth::cephx::{
    fixed_clock, CephxAuthorizerClient, CephxMonClient, CephxServiceServer, CephxTestMon, Clock,
    CryptoKey, Keyring, ReplayCache, TestMonAuthority, TicketStore, UTime,
};
use pollmsgr::auth::{AuthClient, AuthError, AuthOutcome, AuthServer, AuthServerStep};
use pollmsgr::proto::{
    ConnError, Connection, ConnectionConfig, Established, Event, Message, Outgoing, Policies,
    Policy, SessionRegistry,
};
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::entity::AuthEntityName as CxName;
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::ConMode;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

pub const T0: u32 = 1_700_000_000;

/// Connection secrets seen, one per finished authentication.
pub type Secrets = Arc<Mutex<Vec<Vec<u8>>>>;

/// Records the connection secret of every exchange it finishes.
pub struct RecordingClient {
    pub inner: Box<dyn AuthClient>,
    pub secrets: Secrets,
}

impl AuthClient for RecordingClient {
    fn method_and_modes(&self) -> (u32, Vec<ConMode>) {
        self.inner.method_and_modes()
    }
    fn request(&mut self) -> Result<Vec<u8>, AuthError> {
        self.inner.request()
    }
    fn handle_reply_more(&mut self, p: &[u8]) -> Result<Vec<u8>, AuthError> {
        self.inner.handle_reply_more(p)
    }
    fn handle_bad_method(
        &mut self,
        method: u32,
        result: i32,
        methods: &[u32],
        modes: &[u32],
    ) -> Result<(), AuthError> {
        self.inner.handle_bad_method(method, result, methods, modes)
    }
    fn handle_done(
        &mut self,
        global_id: u64,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthOutcome, AuthError> {
        let o = self.inner.handle_done(global_id, mode, payload)?;
        if let Ok(mut g) = self.secrets.lock() {
            g.push(o.connection_secret.to_vec());
        }
        Ok(o)
    }
    fn set_modes(&mut self, modes: Vec<ConMode>) -> bool {
        self.inner.set_modes(modes)
    }
}

fn addr(port: u16, nonce: u32) -> EntityAddr {
    EntityAddr {
        ty: AddrType::Msgr2,
        nonce,
        addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
    }
}

pub fn acceptor_addr() -> EntityAddr {
    addr(6802, 2)
}

/// Keys, tickets and the authority of a two-OSD world.
pub struct World {
    pub authority: TestMonAuthority,
    /// osd.1's tickets (it is the connector).
    pub store: TicketStore,
    pub clock: Clock,
}

/// osd.1 logs in to the test mon (handler calls, no transport) and holds an OSD ticket.
pub fn world() -> World {
    let mut r = StdRng::seed_from_u64(1);
    let now = UTime::from_secs(T0);
    let osd1 = CxName::new(EntityType::Osd, "1");
    let key = CryptoKey::generate(&mut r, now);
    let mut ring = Keyring::new();
    ring.add_key(osd1.clone(), key.clone());
    let authority = TestMonAuthority::new(ring, &mut r, now);
    let clock = fixed_clock(now);
    let store = TicketStore::new(osd1);
    let mut c = CephxMonClient::new(
        key,
        store.clone(),
        Box::new(StdRng::seed_from_u64(2)),
        clock.clone(),
    );
    let mut s = CephxTestMon::new(
        authority.clone(),
        Box::new(StdRng::seed_from_u64(3)),
        clock.clone(),
    );
    let req = c.request().expect("request");
    let AuthServerStep::More(ch) = s.handle_request(4, 2, ConMode::Secure, &req).expect("ch")
    else {
        panic!("challenge first");
    };
    let proof = c.handle_reply_more(&ch).expect("proof");
    let AuthServerStep::Done { outcome, payload } = s.handle_request_more(&proof).expect("done")
    else {
        panic!("done");
    };
    c.handle_done(outcome.global_id, ConMode::Secure, &payload)
        .expect("tickets");
    assert!(
        store.get(EntityType::Osd.service_id()).is_some(),
        "an OSD ticket"
    );
    World {
        authority,
        store,
        clock,
    }
}

/// Things a test can do to the pair between pump steps.
pub struct Pair {
    pub client: Connection,
    pub server: Option<Connection>,
    /// Modes the next acceptor allows (a runtime policy change edits this).
    pub server_modes: Vec<ConMode>,
    pub rev1: bool,
    pub now: Instant,
    pub rng: StdRng,
    pub table: SessionRegistry,
    pub world: World,
    pub replay: ReplayCache,
    pub client_secrets: Secrets,
    /// Payloads delivered at each side, in order.
    pub at_acceptor: Vec<Vec<u8>>,
    pub at_connector: Vec<Vec<u8>>,
    /// Established events: (connector?, facts).
    pub established: Vec<(bool, Established)>,
    /// Close reasons: (connector?, error).
    pub closes: Vec<(bool, ConnError)>,
    /// Messages queued so far by the connector / the acceptor.
    pub sent_c: usize,
    pub sent_s: usize,
}

fn config(rev1: bool, port: u16, nonce: u32) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(EntityType::Osd);
    c.my_addrs = EntityAddrVec(vec![addr(port, nonce)]);
    c.my_gid = i64::from(port) - 6800;
    if !rev1 {
        c.msgr2_supported = 0;
    }
    c.initial_backoff = Duration::from_millis(10);
    c.max_backoff = Duration::from_millis(80);
    c
}

impl Pair {
    /// osd.1 dials osd.2 offering `client_modes`; osd.2 allows `server_modes`.
    pub fn new(rev1: bool, client_modes: Vec<ConMode>, server_modes: Vec<ConMode>) -> Self {
        let world = world();
        let mut rng = StdRng::seed_from_u64(42);
        let now = Instant::now();
        let client_secrets: Secrets = Arc::default();
        let auth = CephxAuthorizerClient::new(
            EntityType::Osd.service_id(),
            world.store.clone(),
            Box::new(StdRng::seed_from_u64(rng.gen())),
            world.clock.clone(),
        )
        .with_modes(client_modes);
        let client = Connection::connect(
            config(rev1, 6801, 1),
            acceptor_addr(),
            EntityType::Osd,
            Policy {
                standby: false,
                ..Policy::lossless_peer()
            },
            Box::new(RecordingClient {
                inner: Box::new(auth),
                secrets: client_secrets.clone(),
            }),
            Box::new(StdRng::seed_from_u64(rng.gen())),
            now,
        );
        let mut p = Pair {
            client,
            server: None,
            server_modes,
            rev1,
            now,
            rng,
            table: SessionRegistry::new(),
            world,
            replay: ReplayCache::default(),
            client_secrets,
            at_acceptor: Vec::new(),
            at_connector: Vec::new(),
            established: Vec::new(),
            closes: Vec::new(),
            sent_c: 0,
            sent_s: 0,
        };
        p.server = Some(p.new_server());
        p
    }

    fn new_server(&mut self) -> Connection {
        let auth = CephxServiceServer::new(
            EntityType::Osd.service_id(),
            self.world.authority.rotating_keys(),
            self.replay.clone(),
            Box::new(StdRng::seed_from_u64(self.rng.gen())),
            self.world.clock.clone(),
        )
        .with_modes(self.server_modes.clone());
        Connection::accept(
            config(self.rev1, 6802, 2),
            "127.0.0.1:6801".parse().expect("literal"),
            Policies {
                default: Policy {
                    server: true,
                    ..Policy::lossless_peer()
                },
                by_type: Vec::new(),
            },
            Box::new(auth),
            Box::new(StdRng::seed_from_u64(self.rng.gen())),
            self.now,
        )
    }

    /// Runs the pair for `steps` pump steps (bytes, events, time).
    pub fn pump(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step();
        }
    }

    /// Pumps until `done(self)` or the step budget runs out; true if done.
    pub fn pump_until(&mut self, steps: usize, done: impl Fn(&Pair) -> bool) -> bool {
        for _ in 0..steps {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    fn step(&mut self) {
        let now = self.now;
        let mut moved = false;
        if let Some(s) = self.server.as_mut() {
            let p = self.client.tx_pending().to_vec();
            if !p.is_empty() {
                self.client.tx_consumed(p.len());
                s.handle_input(&p, now);
                moved = true;
            }
            let p = s.tx_pending().to_vec();
            if !p.is_empty() {
                s.tx_consumed(p.len());
                self.client.handle_input(&p, now);
                moved = true;
            }
        }
        while let Some(ev) = self.client.poll_event() {
            match ev {
                Event::Message(m) => self.at_connector.push(m.front.to_vec()),
                Event::Established(e) => self.established.push((true, e)),
                Event::Closed { error, .. } => {
                    self.closes.push((true, error));
                    if let Some(s) = self.server.as_mut() {
                        s.handle_transport_closed("peer closed", now);
                    }
                }
                Event::ReconnectDue => {
                    self.client.reconnect(now);
                    self.retire_server();
                    self.server = Some(self.new_server());
                }
                _ => {}
            }
        }
        if let Some(s) = self.server.as_mut() {
            let mut peer_closed = false;
            while let Some(ev) = s.poll_event() {
                match ev {
                    Event::Message(m) => self.at_acceptor.push(m.front.to_vec()),
                    Event::Established(e) => self.established.push((false, e)),
                    Event::SessionRequest(req) => {
                        let d = self
                            .table
                            .decide(&req, &acceptor_addr(), Outgoing::None, true);
                        if let Some(unapplied) = s.decide_session(d) {
                            self.table.park(req.peer_addrs(), *unapplied, true);
                        }
                    }
                    Event::Closed { error, .. } => {
                        self.closes.push((false, error));
                        peer_closed = true;
                    }
                    _ => {}
                }
            }
            if peer_closed {
                self.client.handle_transport_closed("peer closed", now);
            }
        }
        let step = if moved {
            Duration::from_micros(100)
        } else {
            Duration::from_millis(5)
        };
        self.now += step;
        self.client.handle_timeout(self.now);
        if let Some(s) = self.server.as_mut() {
            s.handle_timeout(self.now);
        }
    }

    /// Keeps a faulted lossless acceptor session for the peer's reconnect.
    fn retire_server(&mut self) {
        if let Some(mut s) = self.server.take() {
            while let Some(ev) = s.poll_event() {
                if let Event::Message(m) = ev {
                    self.at_acceptor.push(m.front.to_vec());
                }
            }
            if let Some(est) = s.established().cloned() {
                if !est.lossy && !s.is_closed() {
                    self.table.park(&est.peer_addrs, s.take_session(), true);
                }
            }
        }
    }

    /// True when no byte is in flight either way (every frame sent was read).
    pub fn quiet(&self) -> bool {
        self.client.tx_pending().is_empty()
            && self
                .server
                .as_ref()
                .is_none_or(|s| s.tx_pending().is_empty())
    }

    /// True once both sides are READY on the current transports.
    pub fn both_ready(&self) -> bool {
        self.client.is_ready() && self.server.as_ref().is_some_and(|s| s.is_ready())
    }

    /// Queues the next connector message (payload "c<i>:" + random bytes)
    /// and, if the acceptor is READY, the next acceptor message ("s<j>").
    pub fn send_both(&mut self) {
        let mut payload = format!("c{}:", self.sent_c).into_bytes();
        let mut pad = vec![0u8; self.rng.gen_range(0..200)];
        self.rng.fill_bytes(&mut pad);
        payload.extend_from_slice(&pad);
        self.client.send_message(Message::new(0x4000, 1, payload));
        self.sent_c += 1;
        if let Some(s) = self.server.as_mut().filter(|s| s.is_ready()) {
            s.send_message(Message::new(0x4001, 1, format!("s{}", self.sent_s)));
            self.sent_s += 1;
        }
    }

    /// Everything queued was delivered, exactly once and in order, both ways.
    pub fn assert_lossless(&self) {
        let want_c: Vec<usize> = (0..self.sent_c).collect();
        let want_s: Vec<usize> = (0..self.sent_s).collect();
        assert_eq!(
            indices(&self.at_acceptor, 'c'),
            want_c,
            "connector→acceptor lost, duplicated or reordered; closes: {:?}",
            self.closes
        );
        assert_eq!(
            indices(&self.at_connector, 's'),
            want_s,
            "acceptor→connector lost, duplicated or reordered; closes: {:?}",
            self.closes
        );
    }

    /// True when both sides delivered everything queued.
    pub fn all_delivered(&self) -> bool {
        self.at_acceptor.len() >= self.sent_c && self.at_connector.len() >= self.sent_s
    }
}

/// The message indices in delivered payloads with prefix `prefix` ("c" or "s").
pub fn indices(delivered: &[Vec<u8>], prefix: char) -> Vec<usize> {
    delivered
        .iter()
        .map(|p| {
            let s = String::from_utf8_lossy(p);
            let body = s.strip_prefix(prefix).unwrap_or("x");
            body.split(':')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX)
        })
        .collect()
}
