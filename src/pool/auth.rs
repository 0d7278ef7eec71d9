//! Authentication for the messenger's endpoints and load connections (msgr2
//! reference section 8): which [`AuthServer`] an accepted connection gets,
//! which [`AuthClient`] a load connection dials with, and a service identity
//! that keeps its rotating cephx secrets fresh from a real monitor.
//!
//! # Sharing across reactors
//!
//! Rotating service secrets are per service *type* (every OSD opens OSD
//! tickets with the same secrets), so all endpoints of a process share one
//! [`RotatingKeys`] and one [`ReplayCache`], and the connectors of a load
//! generator share one [`TicketStore`]. These are `Arc` handles around an
//! `RwLock` / `Mutex`; reactor threads take those locks only inside the AUTH
//! exchange of a new connection (the control path), never per message, so
//! the data path stays lock-free (design: "reactor"; style card 7).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::RngCore;
use thiserror::Error;

use crate::auth::cephx::types::RotatingSecrets;
use crate::auth::cephx::{
    system_clock, CephxAuthorizerClient, CephxServiceServer, Clock, CryptoKey, ReplayCache,
    RotatingKeys, TicketStore,
};
use crate::auth::none::{NoneClient, NoneServer};
use crate::auth::{AuthClient, AuthServer};
use crate::monc::{MonAuth, MonClient, MonClientConfig, MonClientError};
use crate::wire::entity::{AuthEntityName, EntityType};
use crate::wire::ConMode;

/// How endpoints authenticate the peers that connect to them.
#[derive(Clone, Default)]
pub enum ServerAuth {
    /// auth none (crc mode only); each connection gets a fresh global id.
    #[default]
    None,
    /// cephx authorizers verified with shared rotating service secrets.
    Cephx(CephxServerAuth),
}

/// The shared state of a cephx service side: see the module docs on locking.
#[derive(Clone)]
pub struct CephxServerAuth {
    /// The service id tickets must be for (`EntityType::Osd.service_id()`, ...).
    pub service: u32,
    /// Rotating secrets of that service, refreshed by [`RotatingKeyService`].
    pub keys: RotatingKeys,
    /// Authorizer nonces seen by any endpoint of this process.
    pub replay: ReplayCache,
    /// Modes allowed, in order of preference (Ceph's `ms_service_mode`).
    pub modes: Vec<ConMode>,
    /// The service identity's own key (tickets with `secret_id == u64::MAX`).
    pub own_key: Option<CryptoKey>,
    /// Time source for ticket expiry checks.
    pub clock: Clock,
}

impl std::fmt::Debug for ServerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerAuth::None => f.write_str("ServerAuth::None"),
            ServerAuth::Cephx(c) => f
                .debug_struct("ServerAuth::Cephx")
                .field("service", &crate::auth::cephx::type_name(c.service))
                .field("modes", &c.modes)
                .finish_non_exhaustive(),
        }
    }
}

impl ServerAuth {
    /// The handler for one accepted connection. `next_global_id` numbers
    /// auth-none peers; `rng` makes cephx challenges and connection secrets.
    pub fn server(
        &self,
        next_global_id: &AtomicU64,
        rng: Box<dyn RngCore + Send>,
    ) -> Box<dyn AuthServer> {
        match self {
            ServerAuth::None => Box::new(NoneServer::new(
                next_global_id.fetch_add(1, Ordering::Relaxed),
            )),
            ServerAuth::Cephx(c) => {
                let mut s = CephxServiceServer::new(
                    c.service,
                    c.keys.clone(),
                    c.replay.clone(),
                    rng,
                    c.clock.clone(),
                )
                .with_modes(c.modes.clone());
                if let Some(k) = &c.own_key {
                    s = s.with_own_key(k.clone());
                }
                Box::new(s)
            }
        }
    }

    /// `"none"` or `"cephx"`, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            ServerAuth::None => "none",
            ServerAuth::Cephx(_) => "cephx",
        }
    }
}

/// How load connections authenticate to the endpoints they dial.
#[derive(Clone, Default)]
pub enum ClientAuth {
    /// auth none as `client.bench` (crc mode only).
    #[default]
    None,
    /// cephx authorizers built from tickets a monitor issued.
    Cephx {
        /// The service the tickets are for (`EntityType::Osd.service_id()`).
        service: u32,
        /// Tickets (shared; renewed by whoever holds the mon session).
        store: TicketStore,
        /// Modes to offer, in order of preference.
        modes: Vec<ConMode>,
        /// Time source for ticket validity.
        clock: Clock,
    },
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientAuth::None => f.write_str("ClientAuth::None"),
            ClientAuth::Cephx { service, modes, .. } => f
                .debug_struct("ClientAuth::Cephx")
                .field("service", &crate::auth::cephx::type_name(*service))
                .field("modes", modes)
                .finish_non_exhaustive(),
        }
    }
}

impl ClientAuth {
    /// cephx toward `service` with the tickets in `store` and the system clock.
    pub fn cephx(service: u32, store: TicketStore, modes: Vec<ConMode>) -> Self {
        ClientAuth::Cephx {
            service,
            store,
            modes,
            clock: system_clock(),
        }
    }

    /// The handler for one new connection.
    pub fn client(&self, rng: Box<dyn RngCore + Send>) -> Box<dyn AuthClient> {
        match self {
            ClientAuth::None => Box::new(NoneClient::new(
                crate::wire::entity::EntityType::Client as u32,
                "bench",
                0,
                false,
            )),
            ClientAuth::Cephx {
                service,
                store,
                modes,
                clock,
            } => Box::new(
                CephxAuthorizerClient::new(*service, store.clone(), rng, clock.clone())
                    .with_modes(modes.clone()),
            ),
        }
    }

    /// The global id the monitor assigned (cephx), for our IDENT gid.
    pub fn global_id(&self) -> Option<u64> {
        match self {
            ClientAuth::None => None,
            ClientAuth::Cephx { store, .. } => Some(store.global_id()),
        }
    }
}

/// Why a service identity could not get or refresh its rotating secrets.
#[derive(Debug, Error)]
pub enum ServiceAuthError {
    /// The identity is not a daemon type that has rotating secrets.
    #[error("{0} is not a service identity (expected osd.N, mgr.X, mds.X)")]
    NotAService(AuthEntityName),
    /// A monitor call failed.
    #[error("{what} from the monitor: {source}")]
    Mon {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: MonClientError,
    },
}

/// A daemon identity (e.g. `osd.7`) registered in a real monitor: it holds a
/// mon session, fetches its service's rotating secrets
/// (`CEPHX_GET_ROTATING_KEY`) into a shared [`RotatingKeys`], and refreshes
/// them when asked. Blocking: call it from a control thread, not a reactor.
pub struct RotatingKeyService {
    mc: MonClient,
    keys: RotatingKeys,
    replay: ReplayCache,
    service: u32,
    own_key: CryptoKey,
    refreshed: Instant,
}

impl std::fmt::Debug for RotatingKeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatingKeyService")
            .field("service", &crate::auth::cephx::type_name(self.service))
            .field("global_id", &self.mc.global_id())
            .finish_non_exhaustive()
    }
}

impl RotatingKeyService {
    /// Authenticates as `cfg.name` (whose key must be `MonAuth::Cephx`) and
    /// fetches the rotating secrets once.
    pub fn start(cfg: MonClientConfig) -> Result<Self, ServiceAuthError> {
        let service = cfg.name.ty.service_id();
        if !matches!(
            cfg.name.ty,
            EntityType::Osd | EntityType::Mgr | EntityType::Mds | EntityType::Mon
        ) {
            return Err(ServiceAuthError::NotAService(cfg.name.clone()));
        }
        let MonAuth::Cephx(own_key) = cfg.auth.clone() else {
            return Err(ServiceAuthError::Mon {
                what: "rotating keys",
                source: MonClientError::NeedsCephx("a service identity"),
            });
        };
        let mc = MonClient::connect(cfg).map_err(|source| ServiceAuthError::Mon {
            what: "authentication",
            source,
        })?;
        let mut svc = RotatingKeyService {
            mc,
            keys: RotatingKeys::new(),
            replay: ReplayCache::default(),
            service,
            own_key,
            refreshed: Instant::now(),
        };
        svc.refresh()?;
        Ok(svc)
    }

    /// Fetches the rotating secrets again (re-authenticating once if the
    /// lossy mon session dropped) and returns what was installed.
    pub fn refresh(&mut self) -> Result<RotatingSecrets, ServiceAuthError> {
        let secrets = match self.mc.fetch_rotating_keys() {
            Ok(s) => s,
            Err(_) => {
                self.mc
                    .reconnect()
                    .map_err(|source| ServiceAuthError::Mon {
                        what: "re-authentication",
                        source,
                    })?;
                self.mc
                    .fetch_rotating_keys()
                    .map_err(|source| ServiceAuthError::Mon {
                        what: "rotating keys",
                        source,
                    })?
            }
        };
        self.keys.set(self.service, secrets.clone());
        self.refreshed = Instant::now();
        Ok(secrets)
    }

    /// Refreshes if `every` has passed since the last attempt. A failed
    /// attempt also restarts the interval (the old secrets stay installed).
    pub fn refresh_if_due(
        &mut self,
        every: Duration,
    ) -> Option<Result<RotatingSecrets, ServiceAuthError>> {
        if self.refreshed.elapsed() < every {
            return None;
        }
        let r = self.refresh();
        self.refreshed = Instant::now();
        Some(r)
    }

    /// The service id (`EntityType::Osd.service_id()`, ...).
    pub fn service(&self) -> u32 {
        self.service
    }

    /// The global id the monitor gave this identity.
    pub fn global_id(&self) -> u64 {
        self.mc.global_id()
    }

    /// The rotating secrets (shared handle).
    pub fn keys(&self) -> &RotatingKeys {
        &self.keys
    }

    /// The replay cache (shared handle).
    pub fn replay(&self) -> &ReplayCache {
        &self.replay
    }

    /// The acceptor settings for endpoints of this service, allowing `modes`.
    pub fn server_auth(&self, modes: Vec<ConMode>) -> ServerAuth {
        ServerAuth::Cephx(CephxServerAuth {
            service: self.service,
            keys: self.keys.clone(),
            replay: self.replay.clone(),
            modes,
            own_key: Some(self.own_key.clone()),
            clock: system_clock(),
        })
    }
}
