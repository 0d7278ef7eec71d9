//! The messenger: many local endpoints (osd.0 … osd.N) in one process,
//! spread over pinned reactors, each endpoint with its own name, address
//! (port and nonce), policies and message handler (design: "pool").
//!
//! Every endpoint listens on its own address. A reactor owns the endpoints
//! assigned to it, their listeners, their connections and their session
//! registries; handlers run on the reactor thread and answer through a
//! [`Replier`] that queues on the very connection the request came from.

pub mod auth;
pub mod cpu;
pub mod load;

use rustc_hash::FxHashMap;
use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;

use crate::net::transport::Transport;
use crate::proto::{
    Connection, ConnectionConfig, Established, Event, Message, Policies, SessionRegistry,
};
use crate::reactor::driver::{AcceptFn, ConnId, Driver, DriverStats, Listening};
use crate::reactor::ReactorApp;
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::entity::{EntityName, EntityType};
use auth::ServerAuth;

/// Handles the messages of one endpoint, on its reactor's thread.
pub trait Handler: Send + 'static {
    /// A message arrived on connection `conn`; answer with `reply`.
    fn handle_message(&mut self, msg: Message, reply: &mut Replier<'_>);
    /// A session was established with this endpoint.
    fn established(&mut self, _est: &Established) {}
    /// A connection of this endpoint closed (`reconnect`: a lossless
    /// session that will resume).
    fn closed(&mut self, _error: &crate::proto::ConnError, _reconnect: bool) {}
    /// Messages the handler wants sent to other daemons (e.g. heartbeats to
    /// its peers), collected by the pool every [`OUTGOING_EVERY`] on the
    /// reactor and sent with [`EndpointsApp::send_to_with`].
    fn poll_outgoing(&mut self, _now: Instant, _out: &mut Vec<Outgoing>) {}
    /// What the handler reports in the endpoint's stats (read when the
    /// reactor stops or on request; `Null` for nothing).
    fn report(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// How often the pool asks handlers for [`Handler::poll_outgoing`].
pub const OUTGOING_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// A message a handler sends on its own initiative.
#[derive(Debug)]
pub struct Outgoing {
    /// The peer's address (the pool reuses or dials a connection to it).
    pub to: EntityAddr,
    /// The peer's type (for the policy and HELLO checks).
    pub peer_type: EntityType,
    /// Dial a lossy session (heartbeats) instead of the endpoint's policy.
    pub lossy: bool,
    /// The message.
    pub msg: Message,
}

/// Sends messages back on the connection a request arrived on.
pub struct Replier<'a> {
    conn: Option<&'a mut Connection>,
}

impl Replier<'_> {
    /// Queues `msg` on the requesting connection. Returns false if it could
    /// not be queued: the connection is gone, or over its back-pressure
    /// bounds (the peer is not reading), in which case the reply is dropped
    /// rather than queued without limit.
    pub fn send(&mut self, msg: Message) -> bool {
        match self.conn.as_mut() {
            Some(c) => c.try_send_reply(msg).is_ok(),
            None => false,
        }
    }

    /// Closes the requesting connection (a message that does not decode
    /// faults its connection, as in a Ceph messenger).
    pub fn mark_down(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            c.mark_down();
        }
    }

    /// The session the request arrived on: the peer's name, mode and (cephx)
    /// authenticated entity and caps.
    pub fn peer(&self) -> Option<&Established> {
        self.conn.as_ref().and_then(|c| c.established())
    }
}

/// One local entity served by the messenger.
pub struct EndpointSpec {
    /// Our name, e.g. osd.3.
    pub name: EntityName,
    /// The socket address to listen on.
    pub listen: SocketAddr,
    /// Our nonce (part of our msgr2 address).
    pub nonce: u32,
    /// Policies by peer type.
    pub policies: Policies,
    /// The message handler.
    pub handler: Box<dyn Handler>,
}

/// Counters one endpoint keeps (read when the reactor stops).
#[derive(Debug, Default, Clone)]
pub struct EndpointStats {
    /// Sessions established.
    pub sessions: u64,
    /// Connections closed.
    pub closed: u64,
    /// Messages received.
    pub messages: u64,
    /// The handler's own report ([`Handler::report`]).
    pub report: serde_json::Value,
}

struct Endpoint {
    spec_name: EntityName,
    listen: SocketAddr,
    nonce: u32,
    policies: Policies,
    handler: Box<dyn Handler>,
    stats: EndpointStats,
    bound: Option<SocketAddr>,
    /// Connection settings for dialing peers (our addresses filled in at start).
    dial_config: Option<ConnectionConfig>,
}

/// The app of a serving reactor: the endpoints assigned to it.
pub struct EndpointsApp {
    endpoints: Vec<Endpoint>,
    /// Which endpoint each accepted connection belongs to.
    conn_endpoint: FxHashMap<ConnId, usize>,
    /// bound address → endpoint index.
    by_addr: HashMap<SocketAddr, usize>,
    base_config: ConnectionConfig,
    global_ids: Arc<AtomicU64>,
    /// How accepted peers authenticate (shared by all endpoints of the app).
    auth: ServerAuth,
    /// The pool: the connection each endpoint uses toward each peer address,
    /// whichever side dialed it (one per pair once races settle).
    peers: HashMap<(usize, EntityAddr), ConnId>,
    /// Connections this app dialed (the rest were accepted).
    dialed: HashSet<ConnId>,
    /// How each endpoint authenticates when it dials (cephx tickets of its
    /// own identity); endpoints without one dial with auth none.
    dial_auth: HashMap<EntityName, auth::ClientAuth>,
    /// When handlers were last asked for outgoing messages.
    last_outgoing: Option<Instant>,
    /// Outgoing messages being sent (kept to reuse its allocation).
    outgoing: Vec<Outgoing>,
    /// The reactor's driver counters, taken when it stops.
    driver_stats: DriverStats,
}

impl EndpointsApp {
    /// An app serving `endpoints`, each with connections configured from `base`.
    pub fn new(endpoints: Vec<EndpointSpec>, base: ConnectionConfig) -> Self {
        EndpointsApp {
            endpoints: endpoints
                .into_iter()
                .map(|s| Endpoint {
                    spec_name: s.name,
                    listen: s.listen,
                    nonce: s.nonce,
                    policies: s.policies,
                    handler: s.handler,
                    stats: EndpointStats::default(),
                    bound: None,
                    dial_config: None,
                })
                .collect(),
            conn_endpoint: FxHashMap::default(),
            by_addr: HashMap::new(),
            base_config: base,
            global_ids: Arc::new(AtomicU64::new(4100)),
            auth: ServerAuth::None,
            peers: HashMap::new(),
            dialed: HashSet::new(),
            dial_auth: HashMap::new(),
            last_outgoing: None,
            outgoing: Vec::new(),
            driver_stats: DriverStats::default(),
        }
    }

    /// Endpoints named in `auth` dial with that authentication (e.g. cephx
    /// with the OSD's own tickets); names this app does not host are ignored.
    pub fn with_dial_auth(mut self, auth: HashMap<EntityName, auth::ClientAuth>) -> Self {
        self.dial_auth = auth;
        self
    }

    /// Authenticates accepted peers with `auth` instead of auth none (e.g.
    /// cephx with rotating secrets shared by every endpoint and reactor).
    pub fn with_auth(mut self, auth: ServerAuth) -> Self {
        self.auth = auth;
        self
    }

    /// The reactor's driver counters, once it has stopped.
    pub fn driver_stats(&self) -> DriverStats {
        self.driver_stats
    }

    /// Per-endpoint names, bound addresses and counters.
    pub fn stats(&self) -> Vec<(EntityName, Option<SocketAddr>, EndpointStats)> {
        self.endpoints
            .iter()
            .map(|e| {
                let mut stats = e.stats.clone();
                stats.report = e.handler.report();
                (e.spec_name, e.bound, stats)
            })
            .collect()
    }
}

impl EndpointsApp {
    /// Sends `msg` from endpoint `endpoint` to the peer at `peer`: on the
    /// pool's connection to it if there is one (dialed or accepted), else on a
    /// new connection under the endpoint's policy for `peer_type` (lossless
    /// toward OSDs). A new connection authenticates with the endpoint's dial
    /// auth ([`EndpointsApp::with_dial_auth`]), or auth none where the
    /// endpoints accept auth none.
    pub fn send_to<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        endpoint: usize,
        peer: EntityAddr,
        peer_type: EntityType,
        msg: Message,
    ) -> io::Result<ConnId> {
        self.send_to_with(driver, endpoint, peer, peer_type, None, msg)
    }

    /// [`EndpointsApp::send_to`], dialing under `policy` instead of the
    /// endpoint's policy for the peer type when given.
    pub fn send_to_with<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        endpoint: usize,
        peer: EntityAddr,
        peer_type: EntityType,
        policy: Option<crate::proto::Policy>,
        msg: Message,
    ) -> io::Result<ConnId> {
        if let Some(&id) = self.peers.get(&(endpoint, peer)) {
            if let Some(c) = driver.conn_mut(id).filter(|c| !c.is_closed()) {
                c.send_message(msg);
                return Ok(id);
            }
            self.peers.remove(&(endpoint, peer));
        }
        let ep = self
            .endpoints
            .get(endpoint)
            .ok_or_else(|| io::Error::other(format!("no endpoint {endpoint}")))?;
        let dial_auth = self.dial_auth.get(&ep.spec_name);
        if dial_auth.is_none() && !matches!(self.auth, ServerAuth::None) {
            return Err(io::Error::other(format!(
                "{} has no cephx tickets to dial with (with_dial_auth)",
                ep.spec_name
            )));
        }
        let cfg = ep
            .dial_config
            .clone()
            .ok_or_else(|| io::Error::other("the endpoint has not started"))?;
        let sock = peer
            .addr
            .ok_or_else(|| io::Error::other(format!("{peer} has no IP address")))?;
        let auth: Box<dyn crate::auth::AuthClient> = match dial_auth {
            Some(a) if !matches!(a, auth::ClientAuth::None) => {
                a.client(Box::new(rand::rngs::StdRng::from_entropy()))
            }
            _ => Box::new(crate::auth::none::NoneClient::new(
                ep.spec_name.ty as u32,
                &ep.spec_name.num.to_string(),
                0,
                false,
            )),
        };
        let mut conn = Connection::connect(
            cfg,
            peer,
            peer_type,
            policy.unwrap_or_else(|| ep.policies.for_peer(peer_type)),
            auth,
            Box::new(rand::rngs::StdRng::from_entropy()),
            Instant::now(),
        );
        conn.send_message(msg);
        let id = driver.connect(sock, conn)?;
        self.peers.insert((endpoint, peer), id);
        self.conn_endpoint.insert(id, endpoint);
        self.dialed.insert(id);
        Ok(id)
    }

    /// Number of connections in the pool.
    pub fn pooled(&self) -> usize {
        self.peers.len()
    }

    /// An accepted session with `peer` is established: it becomes the pool's
    /// connection to that peer. If our own dial to it lost the connect race
    /// (still not READY), its queued messages move to this connection, in
    /// order, and the dial is dropped.
    fn adopt_incoming<T: Transport>(
        &mut self,
        driver: &mut Driver<T>,
        endpoint: usize,
        peer: EntityAddr,
        incoming: ConnId,
    ) {
        if let Some(&out) = self.peers.get(&(endpoint, peer)) {
            if out != incoming && self.dialed.contains(&out) {
                let Some(c) = driver.conn_mut(out) else {
                    return;
                };
                if c.is_ready() {
                    return; // our dial won; the peer will drop its own
                }
                let mut session = c.take_session();
                session.requeue_sent();
                driver.remove(out);
                self.dialed.remove(&out);
                self.conn_endpoint.remove(&out);
                if let Some(inc) = driver.conn_mut(incoming) {
                    for m in session.out_queue {
                        inc.send_message(m);
                    }
                }
            }
        }
        self.peers.insert((endpoint, peer), incoming);
    }
}

impl EndpointsApp {
    /// Asks every handler for its outgoing messages and sends them.
    fn send_outgoing<T: Transport>(&mut self, driver: &mut Driver<T>, now: Instant) {
        let mut out = std::mem::take(&mut self.outgoing);
        for i in 0..self.endpoints.len() {
            self.endpoints[i].handler.poll_outgoing(now, &mut out);
            for o in out.drain(..) {
                let policy = o.lossy.then(crate::proto::Policy::lossy_client);
                if let Err(e) = self.send_to_with(driver, i, o.to, o.peer_type, policy, o.msg) {
                    eprintln!(
                        "{}: cannot send to {}: {e}",
                        self.endpoints[i].spec_name, o.to
                    );
                }
            }
        }
        self.outgoing = out;
    }
}

impl<T: Transport + 'static> ReactorApp<T> for EndpointsApp {
    fn stopped(&mut self, driver: &mut Driver<T>) {
        self.driver_stats = driver.stats();
    }

    fn on_tick(&mut self, driver: &mut Driver<T>, now: Instant) {
        if self
            .last_outgoing
            .is_none_or(|t| now.duration_since(t) >= OUTGOING_EVERY)
        {
            self.last_outgoing = Some(now);
            self.send_outgoing(driver, now);
        }
    }

    fn start(&mut self, driver: &mut Driver<T>, _now: Instant) -> io::Result<()> {
        for (i, ep) in self.endpoints.iter_mut().enumerate() {
            let mut cfg = self.base_config.clone();
            cfg.my_type = ep.spec_name.ty;
            cfg.my_gid = ep.spec_name.num as i64;
            cfg.my_nonce = ep.nonce;
            let policies = ep.policies.clone();
            let ids = Arc::clone(&self.global_ids);
            let auth = self.auth.clone();
            let nonce = ep.nonce;
            let mut dial_config = None;
            // Each endpoint keeps its own sessions under Pacific's rules.
            let bound = driver.listen_with(ep.listen, |bound| {
                // The address peers dial: the bound address with our nonce.
                let my_addr = EntityAddr {
                    ty: AddrType::Msgr2,
                    nonce,
                    addr: Some(bound),
                };
                cfg.my_addrs = EntityAddrVec(vec![my_addr]);
                dial_config = Some(cfg.clone());
                let accept: AcceptFn = Box::new(move |peer, now| {
                    Connection::accept(
                        cfg.clone(),
                        peer,
                        policies.clone(),
                        auth.server(&ids, Box::new(rand::rngs::StdRng::from_entropy())),
                        Box::new(rand::rngs::StdRng::from_entropy()),
                        now,
                    )
                });
                Listening {
                    my_addr,
                    accept,
                    sessions: Box::new(SessionRegistry::new()),
                }
            })?;
            ep.bound = Some(bound);
            ep.dial_config = dial_config;
            self.by_addr.insert(bound, i);
        }
        Ok(())
    }

    fn on_event(&mut self, driver: &mut Driver<T>, conn: ConnId, event: Event, _now: Instant) {
        let index = match self.conn_endpoint.get(&conn) {
            Some(i) => *i,
            None => match driver
                .listener_addr(conn)
                .and_then(|a| self.by_addr.get(&a))
            {
                Some(i) => {
                    self.conn_endpoint.insert(conn, *i);
                    *i
                }
                None => return,
            },
        };
        let Some(ep) = self.endpoints.get_mut(index) else {
            return;
        };
        match event {
            Event::Established(est) => {
                ep.stats.sessions += 1;
                ep.handler.established(&est);
                if !self.dialed.contains(&conn) {
                    if let Some(peer) = est.peer_addrs.msgr2().copied() {
                        self.adopt_incoming(driver, index, peer, conn);
                    }
                }
            }
            Event::Message(msg) => {
                ep.stats.messages += 1;
                // On a heavy peer's share of the reactor (`reactor::run`
                // charges the app's work on its events).
                let mut reply = Replier {
                    conn: driver.conn_mut(conn),
                };
                ep.handler.handle_message(msg, &mut reply);
            }
            Event::Closed { reconnect, error } => {
                ep.stats.closed += 1;
                ep.handler.closed(&error, reconnect);
                if !reconnect {
                    self.conn_endpoint.remove(&conn);
                    self.dialed.remove(&conn);
                    self.peers.retain(|_, c| *c != conn);
                }
            }
            _ => {}
        }
    }
}
