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
pub mod reactor;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use rand::SeedableRng;

use crate::net::driver::{AcceptFn, ConnId, Driver};
use crate::net::transport::Transport;
use crate::proto::{Connection, ConnectionConfig, Established, Event, Message, Policies};
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::entity::EntityName;
use auth::ServerAuth;
use reactor::ReactorApp;

/// Handles the messages of one endpoint, on its reactor's thread.
pub trait Handler: Send + 'static {
    /// A message arrived on connection `conn`; answer with `reply`.
    fn handle_message(&mut self, msg: Message, reply: &mut Replier<'_>);
    /// A session was established with this endpoint.
    fn established(&mut self, _est: &Established) {}
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
            Some(c) => c.try_send_message(msg).is_ok(),
            None => false,
        }
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
}

struct Endpoint {
    spec_name: EntityName,
    listen: SocketAddr,
    nonce: u32,
    policies: Policies,
    handler: Box<dyn Handler>,
    stats: EndpointStats,
    bound: Option<SocketAddr>,
}

/// The app of a serving reactor: the endpoints assigned to it.
pub struct EndpointsApp {
    endpoints: Vec<Endpoint>,
    /// Which endpoint each accepted connection belongs to.
    conn_endpoint: HashMap<ConnId, usize>,
    /// bound address → endpoint index.
    by_addr: HashMap<SocketAddr, usize>,
    base_config: ConnectionConfig,
    global_ids: Arc<AtomicU64>,
    /// How accepted peers authenticate (shared by all endpoints of the app).
    auth: ServerAuth,
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
                })
                .collect(),
            conn_endpoint: HashMap::new(),
            by_addr: HashMap::new(),
            base_config: base,
            global_ids: Arc::new(AtomicU64::new(4100)),
            auth: ServerAuth::None,
        }
    }

    /// Authenticates accepted peers with `auth` instead of auth none (e.g.
    /// cephx with rotating secrets shared by every endpoint and reactor).
    pub fn with_auth(mut self, auth: ServerAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Per-endpoint names, bound addresses and counters.
    pub fn stats(&self) -> Vec<(EntityName, Option<SocketAddr>, EndpointStats)> {
        self.endpoints
            .iter()
            .map(|e| (e.spec_name, e.bound, e.stats.clone()))
            .collect()
    }
}

impl<T: Transport + 'static> ReactorApp<T> for EndpointsApp {
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
            let bound = driver.listen_bound(ep.listen, move |bound| {
                // The address peers dial: the bound address with our nonce.
                let my_addr = EntityAddr {
                    ty: AddrType::Msgr2,
                    nonce,
                    addr: Some(bound),
                };
                cfg.my_addrs = EntityAddrVec(vec![my_addr]);
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
                (my_addr, accept)
            })?;
            ep.bound = Some(bound);
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
            }
            Event::Message(msg) => {
                ep.stats.messages += 1;
                let mut reply = Replier {
                    conn: driver.conn_mut(conn),
                };
                ep.handler.handle_message(msg, &mut reply);
            }
            Event::Closed { reconnect, .. } => {
                ep.stats.closed += 1;
                if !reconnect {
                    self.conn_endpoint.remove(&conn);
                }
            }
            _ => {}
        }
    }
}
