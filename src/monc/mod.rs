//! A small monitor client for the control path (msgr2 reference 8.3, 9):
//! authenticate to a ceph-mon (auth none or cephx, any mode and revision),
//! fetch the monmap, run commands, fetch a daemon's rotating service secrets
//! and renew tickets.
//!
//! [`MonClient`] is blocking: each call drives its own [`KernelDriver`] until
//! the answer arrives or the timeout passes. That is what a CLI verb or a
//! daemon's start-up needs; the data path never waits on it. The protocol
//! pieces (MAuth framing, the renewal schedule) live in [`proto`] and are
//! sans-IO.
//!
//! Ceph sources: `src/mon/MonClient.cc` (`_check_auth_rotating`,
//! `_check_auth_tickets`), `src/auth/cephx/CephxClientHandler.cc`
//! (`build_rotating_request`, `build_request`).

pub mod proto;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use thiserror::Error;

use crate::auth::cephx::client::DEFAULT_WANT_KEYS;
use crate::auth::cephx::mauth::{
    build_rotating_key_request, build_ticket_renewal_request, handle_rotating_key_reply,
    handle_ticket_renewal_reply, MAuthReply,
};
use crate::auth::cephx::types::RotatingSecrets;
use crate::auth::cephx::{
    entity_type, system_clock, CephxError, CephxMonClient, CryptoKey, EntityName, TicketStore,
    UTime,
};
use crate::auth::none::NoneClient;
use crate::auth::AuthClient;
use crate::msg::{self, from_message, to_message, MonCommand, MonCommandAck, MonGetMap, MonMap};
use crate::msg::{MonMapMsg, MonSubscribe};
use crate::net::driver::{ConnId, Driver};
use crate::net::kernel::KernelDriver;
use crate::net::kernel::KernelTransport;
use crate::net::transport::Transport;
use crate::proto::{ConnError, Connection, ConnectionConfig, Established, Event, Message, Policy};
use crate::wire::addr::{AddrType, EntityAddr};
use crate::wire::banner::feature::REVISION_1;
use crate::wire::entity::EntityType;
use crate::wire::{ConMode, DecodeError};

pub use proto::{mauth_message, next_renewal, parse_mauth_reply, renewal_plan, RenewalPlan};

/// How the client proves who it is.
#[derive(Clone)]
pub enum MonAuth {
    /// auth none (crc mode only).
    None,
    /// cephx with this entity's keyring key.
    Cephx(CryptoKey),
}

impl std::fmt::Debug for MonAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MonAuth::None => "MonAuth::None",
            MonAuth::Cephx(_) => "MonAuth::Cephx(<key redacted>)",
        })
    }
}

/// Everything a [`MonClient`] needs.
#[derive(Debug, Clone)]
pub struct MonClientConfig {
    /// The mon's msgr2 address (nonce 0, as in the monmap).
    pub mon: EntityAddr,
    /// Who we are, e.g. `client.admin` or `osd.3`. Its type is also our HELLO type.
    pub name: EntityName,
    /// Credentials.
    pub auth: MonAuth,
    /// Modes to offer, in order of preference (Ceph's `ms_mon_client_mode`).
    pub modes: Vec<ConMode>,
    /// Advertise msgr2.1 (`REVISION_1`); false forces msgr2.0.
    pub rev1: bool,
    /// Service tickets to ask for (cephx `other_keys`, e.g. MON|OSD|MGR).
    pub want_keys: u32,
    /// How long one call may wait for the mon.
    pub timeout: Duration,
    /// The address we present in CLIENT_IDENT (a daemon's public address,
    /// which the mon records for an OSD that boots); `None`: a client's
    /// random nonce and no address.
    pub my_addr: Option<EntityAddr>,
}

impl MonClientConfig {
    /// Defaults: modes `[Secure, Crc]`, msgr2.1, tickets MON|OSD|MGR, 30 s.
    pub fn new(mon: EntityAddr, name: EntityName, auth: MonAuth) -> Self {
        MonClientConfig {
            mon,
            name,
            auth,
            modes: vec![ConMode::Secure, ConMode::Crc],
            rev1: true,
            want_keys: DEFAULT_WANT_KEYS,
            timeout: Duration::from_secs(30),
            my_addr: None,
        }
    }
}

/// Why a monitor call failed.
#[derive(Debug, Error)]
pub enum MonClientError {
    /// The configuration cannot work (no address, secure with auth none, ...).
    #[error("bad monitor client setup: {0}")]
    Config(String),
    /// A socket or poll error.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The connection closed (authentication refused, bad frame, mon gone).
    #[error("connection to the monitor closed: {0}")]
    Closed(#[source] ConnError),
    /// No answer in time.
    #[error("no {what} from the monitor within {after:?}")]
    Timeout {
        /// What we waited for.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// A reply did not decode.
    #[error("cannot decode {what}: {source}")]
    Decode {
        /// Which message.
        what: &'static str,
        /// The error.
        source: DecodeError,
    },
    /// The mon refused an MAuth request.
    #[error("monitor refused {what}: {result} {msg}")]
    Refused {
        /// Which request.
        what: &'static str,
        /// Negative errno.
        result: i32,
        /// The mon's text.
        msg: String,
    },
    /// A cephx reply failed to verify or decrypt.
    #[error("cephx: {0}")]
    Cephx(#[from] CephxError),
    /// This call needs cephx.
    #[error("{0} needs cephx")]
    NeedsCephx(&'static str),
    /// No monitor of the list could be reached and authenticated with.
    #[error("no monitor answered: {0}")]
    NoMonitor(String),
}

impl MonClientConfig {
    /// An empty ticket store for cephx (a first authentication), none for auth none.
    pub fn fresh_store(&self) -> Option<TicketStore> {
        match self.auth {
            MonAuth::Cephx(_) => Some(TicketStore::new(self.name.clone())),
            MonAuth::None => None,
        }
    }
}

/// A blocking client of one monitor, over kernel TCP by default or any
/// other [`Transport`] (e.g. smoltcp over TAP or DPDK).
pub struct MonClient<T: Transport = KernelTransport> {
    cfg: MonClientConfig,
    driver: Driver<T>,
    id: ConnId,
    store: Option<TicketStore>,
    established: Established,
    inbox: VecDeque<Message>,
    next_tid: u64,
    monmap_epoch: u32,
    rng: StdRng,
}

impl<T: Transport> std::fmt::Debug for MonClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonClient")
            .field("mon", &self.cfg.mon)
            .field("name", &self.cfg.name)
            .field("mode", &self.established.mode)
            .field("revision", &self.established.revision)
            .field("global_id", &self.established.global_id)
            .finish_non_exhaustive()
    }
}

impl MonClient<KernelTransport> {
    /// Connects over kernel TCP and authenticates; returns once READY.
    pub fn connect(cfg: MonClientConfig) -> Result<Self, MonClientError> {
        let store = cfg.fresh_store();
        Self::connect_with_store(cfg, store)
    }

    /// Connects with an existing ticket store: its global id and AUTH ticket
    /// are presented (CephXAuthenticate v3 global_id reclaim).
    pub fn connect_with_store(
        cfg: MonClientConfig,
        store: Option<TicketStore>,
    ) -> Result<Self, MonClientError> {
        let driver = KernelDriver::new().map_err(|source| MonClientError::Io {
            what: "poll setup",
            source,
        })?;
        MonClient::connect_over(driver, cfg, store)
    }

    /// Connects to the first of `mons` that answers, with `cfg` (its `mon`
    /// replaced by each in turn) and `store`'s tickets (see
    /// [`MonClient::connect_with_store`]).
    pub fn connect_first(
        mons: &[EntityAddr],
        cfg: &MonClientConfig,
        store: Option<TicketStore>,
    ) -> Result<Self, MonClientError> {
        let mut errors = Vec::new();
        for mon in mons {
            let mut c = cfg.clone();
            c.mon = *mon;
            let store = store.clone().or_else(|| c.fresh_store());
            match MonClient::connect_with_store(c, store) {
                Ok(mc) => return Ok(mc),
                Err(e) => errors.push(format!("{mon}: {e}")),
            }
        }
        if errors.is_empty() {
            errors.push("no monitors configured".into());
        }
        Err(MonClientError::NoMonitor(errors.join("; ")))
    }
}

impl<T: Transport> MonClient<T> {
    /// Connects over `driver`'s transport and authenticates; returns once READY.
    pub fn connect_over(
        mut driver: Driver<T>,
        cfg: MonClientConfig,
        store: Option<TicketStore>,
    ) -> Result<Self, MonClientError> {
        let mut rng = StdRng::from_entropy();
        let id = dial(&mut driver, &cfg, store.as_ref(), &mut rng)?;
        let mut mc = MonClient {
            cfg,
            driver,
            id,
            store,
            established: placeholder_established(),
            inbox: VecDeque::new(),
            next_tid: 1,
            monmap_epoch: 0,
            rng,
        };
        mc.established = mc.wait_established()?;
        Ok(mc)
    }

    /// Authenticates again on a new connection with the same tickets
    /// (reclaiming the global id), e.g. to renew the AUTH ticket.
    pub fn reconnect(&mut self) -> Result<(), MonClientError> {
        self.driver.remove(self.id);
        self.id = dial(
            &mut self.driver,
            &self.cfg,
            self.store.as_ref(),
            &mut self.rng,
        )?;
        self.inbox.clear();
        self.established = self.wait_established()?;
        Ok(())
    }

    /// The facts of the mon session (mode, revision, global id).
    pub fn established(&self) -> &Established {
        &self.established
    }

    /// The global id the mon assigned.
    pub fn global_id(&self) -> u64 {
        self.established.global_id
    }

    /// The cephx tickets (None with auth none).
    pub fn tickets(&self) -> Option<&TicketStore> {
        self.store.as_ref()
    }

    /// Asks for the monmap (MMonGetMap) and returns it.
    pub fn get_monmap(&mut self) -> Result<MonMap, MonClientError> {
        self.send(to_message(&MonGetMap, 0));
        let m = self.wait_for("monmap", |m| m.ty == msg::types::MON_MAP)?;
        let map: MonMapMsg = from_message(&m).map_err(|source| MonClientError::Decode {
            what: "MMonMap",
            source,
        })?;
        self.monmap_epoch = map.monmap.epoch;
        Ok(map.monmap)
    }

    /// Subscribes to maps (MMonSubscribe), e.g. `osdmap` from epoch 0.
    pub fn subscribe(&mut self, sub: &MonSubscribe) {
        self.send(to_message(sub, 0));
    }

    /// Runs one command (JSON) with input `inbl`; returns the ack.
    pub fn command(
        &mut self,
        fsid: [u8; 16],
        cmd: &str,
        inbl: Vec<u8>,
    ) -> Result<MonCommandAck, MonClientError> {
        let tid = self.next_tid;
        self.next_tid += 1;
        let c = MonCommand {
            fsid,
            cmd: vec![cmd.to_owned()],
            inbl,
        };
        self.send(to_message(&c, tid));
        let m = self.wait_for("command reply", |m| {
            m.ty == msg::types::MON_COMMAND_ACK && m.tid == tid
        })?;
        from_message(&m).map_err(|source| MonClientError::Decode {
            what: "MMonCommandAck",
            source,
        })
    }

    /// Fetches this daemon's rotating service secrets (cephx
    /// `CEPHX_GET_ROTATING_KEY` in an MAuth), decrypted with its own key.
    /// The name must be a service identity (osd.N, mgr.X, ...).
    pub fn fetch_rotating_keys(&mut self) -> Result<RotatingSecrets, MonClientError> {
        let MonAuth::Cephx(key) = self.cfg.auth.clone() else {
            return Err(MonClientError::NeedsCephx("fetching rotating keys"));
        };
        let reply = self.mauth_round_trip(build_rotating_key_request(), "rotating keys")?;
        Ok(handle_rotating_key_reply(&key, &reply.result_bl)?)
    }

    /// Renews (or fetches) the service tickets in `services` with a
    /// `CEPHX_GET_PRINCIPAL_SESSION_KEY` MAuth. Returns the services renewed.
    pub fn renew_tickets(&mut self, services: u32) -> Result<u32, MonClientError> {
        let store = self
            .store
            .clone()
            .ok_or(MonClientError::NeedsCephx("ticket renewal"))?;
        let now = UTime::from_system(std::time::SystemTime::now());
        let payload = build_ticket_renewal_request(&store, services, &mut self.rng, now)?;
        let reply = self.mauth_round_trip(payload, "ticket renewal")?;
        Ok(handle_ticket_renewal_reply(&store, &reply.result_bl, now)?)
    }

    /// Does whatever [`renewal_plan`] says is due now: a new authentication
    /// if the AUTH ticket is past 3/4 of its validity, then an MAuth renewal
    /// of the due service tickets. Returns the plan it carried out.
    pub fn renew_if_due(&mut self) -> Result<RenewalPlan, MonClientError> {
        let Some(store) = self.store.clone() else {
            return Ok(RenewalPlan::default());
        };
        let now = UTime::from_system(std::time::SystemTime::now());
        let plan = renewal_plan(&store, self.cfg.want_keys, now);
        if plan.reauthenticate {
            self.reconnect()?;
        }
        if plan.services != 0 {
            self.renew_tickets(plan.services)?;
        }
        Ok(plan)
    }

    fn mauth_round_trip(
        &mut self,
        payload: Vec<u8>,
        what: &'static str,
    ) -> Result<MAuthReply, MonClientError> {
        self.send(mauth_message(payload, self.monmap_epoch));
        let m = self.wait_for(what, |m| m.ty == msg::types::AUTH_REPLY)?;
        let reply = parse_mauth_reply(&m)
            .ok_or(MonClientError::Timeout {
                what,
                after: self.cfg.timeout,
            })?
            .map_err(|source| MonClientError::Decode {
                what: "MAuthReply",
                source,
            })?;
        if reply.result < 0 {
            return Err(MonClientError::Refused {
                what,
                result: reply.result,
                msg: reply.result_msg,
            });
        }
        Ok(reply)
    }

    /// Queues a message on the mon session.
    pub fn send(&mut self, m: Message) {
        if let Some(c) = self.driver.conn_mut(self.id) {
            c.send_message(m);
        }
    }

    /// Waits for the first message matching `pred` (earlier unmatched ones
    /// are kept for later calls).
    pub fn wait_for(
        &mut self,
        what: &'static str,
        pred: impl Fn(&Message) -> bool,
    ) -> Result<Message, MonClientError> {
        if let Some(i) = self.inbox.iter().position(&pred) {
            if let Some(m) = self.inbox.remove(i) {
                return Ok(m);
            }
        }
        let deadline = Instant::now() + self.cfg.timeout;
        while Instant::now() < deadline {
            for ev in self.poll()? {
                match ev {
                    Event::Message(m) if pred(&m) => return Ok(m),
                    Event::Message(m) => self.inbox.push_back(m),
                    Event::Closed { error, .. } => return Err(MonClientError::Closed(error)),
                    _ => {}
                }
            }
        }
        Err(MonClientError::Timeout {
            what,
            after: self.cfg.timeout,
        })
    }

    /// Drives the session for at most `wait` and returns the messages that
    /// arrived (with any kept by earlier calls), without waiting for one.
    /// A closed session is an error; [`MonClient::reconnect`] starts anew.
    pub fn poll_messages(&mut self, wait: Duration) -> Result<Vec<Message>, MonClientError> {
        let mut out: Vec<Message> = self.inbox.drain(..).collect();
        for ev in self.poll_for(wait)? {
            match ev {
                Event::Message(m) => out.push(m),
                Event::Closed { error, .. } => return Err(MonClientError::Closed(error)),
                _ => {}
            }
        }
        Ok(out)
    }

    fn poll(&mut self) -> Result<Vec<Event>, MonClientError> {
        self.poll_for(Duration::from_millis(100))
    }

    fn poll_for(&mut self, wait: Duration) -> Result<Vec<Event>, MonClientError> {
        let evs = self
            .driver
            .poll_once(wait)
            .map_err(|source| MonClientError::Io {
                what: "poll",
                source,
            })?;
        Ok(evs
            .into_iter()
            .filter(|(id, _)| *id == self.id)
            .map(|(_, e)| e)
            .collect())
    }

    fn wait_established(&mut self) -> Result<Established, MonClientError> {
        let deadline = Instant::now() + self.cfg.timeout;
        while Instant::now() < deadline {
            for ev in self.poll()? {
                match ev {
                    Event::Established(e) => return Ok(e),
                    Event::Closed { error, .. } => return Err(MonClientError::Closed(error)),
                    Event::Message(m) => self.inbox.push_back(m),
                    _ => {}
                }
            }
        }
        Err(MonClientError::Timeout {
            what: "session",
            after: self.cfg.timeout,
        })
    }
}

/// The auth client for one mon connection.
fn auth_client(
    cfg: &MonClientConfig,
    store: Option<&TicketStore>,
    rng: &mut StdRng,
) -> Result<Box<dyn AuthClient>, MonClientError> {
    match (&cfg.auth, store) {
        (MonAuth::None, _) => {
            if !cfg.modes.contains(&ConMode::Crc) {
                return Err(MonClientError::Config(
                    "secure mode needs cephx: auth none yields no key".into(),
                ));
            }
            Ok(Box::new(NoneClient::new(
                cfg.name.ty,
                &cfg.name.id,
                0,
                true,
            )))
        }
        (MonAuth::Cephx(key), Some(store)) => Ok(Box::new(
            CephxMonClient::new(
                key.clone(),
                store.clone(),
                Box::new(StdRng::seed_from_u64(rng.next_u64())),
                system_clock(),
            )
            .with_modes(cfg.modes.clone())
            .with_want_keys(cfg.want_keys),
        )),
        (MonAuth::Cephx(_), None) => {
            Err(MonClientError::Config("cephx needs a ticket store".into()))
        }
    }
}

fn dial<T: Transport>(
    driver: &mut Driver<T>,
    cfg: &MonClientConfig,
    store: Option<&TicketStore>,
    rng: &mut StdRng,
) -> Result<ConnId, MonClientError> {
    if cfg.mon.ty != AddrType::Msgr2 {
        return Err(MonClientError::Config(format!(
            "{} is not a v2 address",
            cfg.mon
        )));
    }
    let sock = cfg
        .mon
        .addr
        .ok_or_else(|| MonClientError::Config(format!("{} has no IP address", cfg.mon)))?;
    if cfg.modes.is_empty() {
        return Err(MonClientError::Config("no connection mode allowed".into()));
    }
    let my_type = EntityType::from_u32(cfg.name.ty)
        .ok_or_else(|| MonClientError::Config(format!("entity type of {}", cfg.name)))?;
    let mut ccfg = ConnectionConfig::new(my_type);
    ccfg.my_nonce = rng.next_u32();
    // A daemon's messenger is named after it (`osd.3` has num 3): the mon
    // takes the OSD id of an MOSDBoot from the connection's name (the IDENT
    // gid). A Pacific mon given an OSD boot from `osd.-1` indexes its
    // osdmap with -1 and crashes (seen here: SIGSEGV in
    // OSDMap::apply_incremental).
    if my_type == EntityType::Osd {
        if let Ok(n) = cfg.name.id.parse::<i64>() {
            ccfg.my_gid = n;
        }
    }
    if let Some(a) = cfg.my_addr {
        ccfg.my_nonce = a.nonce;
        ccfg.my_addrs = crate::wire::addr::EntityAddrVec(vec![a]);
    }
    ccfg.msgr2_supported = if cfg.rev1 { REVISION_1 } else { 0 };
    ccfg.handshake_timeout = cfg.timeout;
    let auth = auth_client(cfg, store, rng)?;
    let conn = Connection::connect(
        ccfg,
        cfg.mon,
        EntityType::Mon,
        Policy::lossy_client(),
        auth,
        Box::new(StdRng::seed_from_u64(rng.next_u64())),
        Instant::now(),
    );
    driver
        .connect(sock, conn)
        .map_err(|source| MonClientError::Io {
            what: "connect to the monitor",
            source,
        })
}

fn placeholder_established() -> Established {
    Established {
        peer_name: crate::wire::entity::EntityName::new(EntityType::Mon, 0),
        peer_addrs: crate::wire::addr::EntityAddrVec(Vec::new()),
        mode: ConMode::Crc,
        revision: crate::wire::Revision::V2_1,
        features: 0,
        lossy: true,
        global_id: 0,
        reconnected: false,
        peer_auth: None,
    }
}

/// Ticket bitmask for a service entity type name (`mon`, `osd`, `mgr`, `mds`).
pub fn service_bit(name: &str) -> Option<u32> {
    Some(match name {
        "mon" => entity_type::MON,
        "osd" => entity_type::OSD,
        "mgr" => entity_type::MGR,
        "mds" => entity_type::MDS,
        _ => return None,
    })
}
