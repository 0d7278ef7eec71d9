//! A small monitor client for the control path (msgr2 reference 8.3, 9):
//! authenticate to a ceph-mon (auth none or cephx, any mode and revision),
//! fetch the monmap, run commands, fetch a daemon's rotating service secrets
//! and renew tickets.
//!
//! [`MonClient`] is blocking: each call drives its own [`KernelDriver`] until
//! the answer arrives or the timeout passes. A refused or lost session is
//! replaced by hunting among the monitors ([`hunt`]: Ceph's backoff, the
//! subscriptions renewed from the last epoch received, the pending request
//! resent). That is what a CLI verb or a
//! daemon's start-up needs; the data path never waits on it. The protocol
//! pieces (MAuth framing, the renewal schedule) live in [`proto`] and are
//! sans-IO.
//!
//! Ceph sources: `src/mon/MonClient.cc` (`_check_auth_rotating`,
//! `_check_auth_tickets`, `_reopen_session`, `_resend_mon_commands`), `src/auth/cephx/CephxClientHandler.cc`
//! (`build_rotating_request`, `build_request`).

pub mod hunt;
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
use crate::auth::cephx::{system_clock, CephxError, CephxMonClient, CryptoKey, TicketStore, UTime};
use crate::auth::none::NoneClient;
use crate::auth::{AuthClient, AuthError};
use crate::msg::osd_mon::MOsdMap;
use crate::msg::{self, from_message, to_message, MonCommand, MonCommandAck, MonGetMap, MonMap};
use crate::msg::{MonMapMsg, MonSubscribe};
use crate::net::kernel::KernelTransport;
use crate::net::transport::Transport;
use crate::proto::{ConnError, Connection, ConnectionConfig, Established, Event, Message, Policy};
use crate::reactor::driver::KernelDriver;
use crate::reactor::driver::{ConnId, Driver};
use crate::wire::addr::{AddrType, EntityAddr};
use crate::wire::banner::feature::REVISION_1;
use crate::wire::entity::{AuthEntityName, EntityType};
use crate::wire::{ConMode, DecodeError};

pub use hunt::{
    describe_attempts, monmap_v2_addrs, Backoff, HuntLog, HuntPolicy, MonAttempt, MonSubs,
};
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

/// Most unclaimed messages a [`MonClient`] keeps between calls.
pub const MAX_INBOX: usize = 4096;

/// Everything a [`MonClient`] needs.
#[derive(Debug, Clone)]
pub struct MonClientConfig {
    /// The mon's msgr2 address (nonce 0, as in the monmap): the first one
    /// tried when `mons` is empty, and afterwards the one in use.
    pub mon: EntityAddr,
    /// Every monitor to hunt among, in the order first tried (the conf's
    /// `mon_host`); empty: only `mon`. Replaced by the monmap's monitors
    /// once one arrives.
    pub mons: Vec<EntityAddr>,
    /// Who we are, e.g. `client.admin` or `osd.3`. Its type is also our HELLO type.
    pub name: AuthEntityName,
    /// Credentials.
    pub auth: MonAuth,
    /// Modes to offer, in order of preference (Ceph's `ms_mon_client_mode`).
    pub modes: Vec<ConMode>,
    /// Advertise msgr2.1 (`REVISION_1`); false forces msgr2.0.
    pub rev1: bool,
    /// Service tickets to ask for (cephx `other_keys`, e.g. MON|OSD|MGR).
    pub want_keys: u32,
    /// How long one call may wait for the mon, hunting included: a call that
    /// cannot get its answer by then fails with what each monitor answered.
    pub timeout: Duration,
    /// The address we present in CLIENT_IDENT (a daemon's public address,
    /// which the mon records for an OSD that boots); `None`: a client's
    /// random nonce and no address.
    pub my_addr: Option<EntityAddr>,
    /// How to hunt for a monitor after a refused or lost session.
    pub hunt: HuntPolicy,
}

impl MonClientConfig {
    /// Defaults: modes `[Secure, Crc]`, msgr2.1, tickets MON|OSD|MGR, 30 s,
    /// Ceph's hunt defaults.
    pub fn new(mon: EntityAddr, name: AuthEntityName, auth: MonAuth) -> Self {
        MonClientConfig {
            mon,
            mons: Vec::new(),
            name,
            auth,
            modes: vec![ConMode::Secure, ConMode::Crc],
            rev1: true,
            want_keys: DEFAULT_WANT_KEYS,
            timeout: Duration::from_secs(30),
            my_addr: None,
            hunt: HuntPolicy::default(),
        }
    }

    /// The monitors to hunt among: `mons`, or `mon` alone.
    pub fn hunt_list(&self) -> Vec<EntityAddr> {
        if self.mons.is_empty() {
            vec![self.mon]
        } else {
            self.mons.clone()
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
    /// The connection closed for a reason hunting cannot fix (the mon
    /// refused our credentials, no common mode), or closed while hunting
    /// was not wanted.
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
    /// Hunting found no monitor to deliver `what` to before the deadline.
    #[error(
        "{what}: no monitor reachable within {after:?} (tried: {})",
        describe_attempts(.tried)
    )]
    Unreachable {
        /// What could not be delivered (`session`, `command reply`, ...).
        what: &'static str,
        /// The deadline it had.
        after: Duration,
        /// Each monitor tried, with its attempts and last error.
        tried: Vec<MonAttempt>,
    },
}

impl MonClientError {
    /// True for failures another monitor or a later attempt cannot fix:
    /// a bad setup, or the mon refusing our credentials or every mode we
    /// offer. Everything else (refused or reset connections, a mon out of
    /// quorum closing the session, timeouts) makes the client hunt on.
    pub fn is_fatal(&self) -> bool {
        match self {
            MonClientError::Config(_) | MonClientError::NeedsCephx(_) => true,
            MonClientError::Closed(e) => {
                matches!(
                    e,
                    ConnError::PeerIncompatible(_)
                        | ConnError::Auth(AuthError::NoAcceptableMethod { .. })
                        | ConnError::Auth(AuthError::ModeNotOffered { .. })
                ) || matches!(e, ConnError::Auth(a) if rejects_credentials(a))
            }
            _ => false,
        }
    }
}

/// `-EACCES` or `-EPERM`: a real mon's answer to credentials it rejects.
fn rejects_credentials(e: &AuthError) -> bool {
    use crate::wire::errno::{EACCES, EPERM};
    matches!(e.refusal_errno(), Some(n) if n == -EACCES || n == -EPERM)
}

/// What one [`MonClient::hunt_round`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuntRound {
    /// A session is READY (its subscriptions renewed).
    Established,
    /// No monitor answered: try another round after this long.
    RetryAfter(Duration),
}

/// Shortest time one connection attempt gets, however little is left of a
/// call's deadline (a handshake needs a few round trips).
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

impl MonClientConfig {
    /// An empty ticket store for cephx (a first authentication), none for auth none.
    pub fn fresh_store(&self) -> Option<TicketStore> {
        match self.auth {
            MonAuth::Cephx(_) => Some(TicketStore::new(self.name.clone())),
            MonAuth::None => None,
        }
    }
}

/// A blocking client of the monitors, over kernel TCP by default or any
/// other [`Transport`] (e.g. smoltcp over TAP or DPDK).
///
/// It talks to one monitor at a time. When a session is refused or lost it
/// hunts as Ceph's `MonClient` does: it tries the monitors in turn (the
/// conf's list, then the monmap's), waits between rounds that found none
/// with [`HuntPolicy`]'s backoff, authenticates again (cephx: reclaiming its
/// global id with its AUTH ticket), renews its subscriptions from the last
/// epoch received + 1, and resends the request it was waiting on. A call
/// whose answer cannot be had by [`MonClientConfig::timeout`] fails with
/// [`MonClientError::Unreachable`] naming every monitor tried.
pub struct MonClient<T: Transport = KernelTransport> {
    cfg: MonClientConfig,
    driver: Driver<T>,
    id: Option<ConnId>,
    store: Option<TicketStore>,
    established: Established,
    inbox: VecDeque<Message>,
    next_tid: u64,
    monmap_epoch: u32,
    rng: StdRng,
    /// The monitors hunted among and the index of the one in use.
    mons: Vec<EntityAddr>,
    current: usize,
    subs: MonSubs,
    backoff: Backoff,
    /// Sessions established so far (the first included).
    sessions: u64,
    /// The failed attempts of the latest hunt.
    last_hunt: HuntLog,
}

impl<T: Transport> std::fmt::Debug for MonClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonClient")
            .field("mon", &self.cfg.mon)
            .field("mons", &self.mons)
            .field("name", &self.cfg.name)
            .field("mode", &self.established.mode)
            .field("revision", &self.established.revision)
            .field("global_id", &self.established.global_id)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl MonClient<KernelTransport> {
    /// Connects over kernel TCP and authenticates (hunting among
    /// [`MonClientConfig::hunt_list`]); returns once READY.
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

    /// Hunts among `mons` (in this order first) with `cfg` and `store`'s
    /// tickets (a fresh store if `None`), see [`MonClient::connect_with_store`].
    pub fn connect_first(
        mons: &[EntityAddr],
        cfg: &MonClientConfig,
        store: Option<TicketStore>,
    ) -> Result<Self, MonClientError> {
        let driver = KernelDriver::new().map_err(|source| MonClientError::Io {
            what: "poll setup",
            source,
        })?;
        MonClient::connect_first_over(driver, mons, cfg, store)
    }
}

impl<T: Transport> MonClient<T> {
    /// [`MonClient::connect_first`] over `driver`'s transport (any transport
    /// a `net::spec::TransportSpec` opens): hunts among `mons` (in this order
    /// first) with `cfg` and `store`'s tickets (a fresh store if `None`).
    pub fn connect_first_over(
        driver: Driver<T>,
        mons: &[EntityAddr],
        cfg: &MonClientConfig,
        store: Option<TicketStore>,
    ) -> Result<Self, MonClientError> {
        let mut c = cfg.clone();
        c.mons = mons.to_vec();
        if let Some(first) = mons.first() {
            c.mon = *first;
        } else {
            return Err(MonClientError::Config("no monitors configured".into()));
        }
        let store = store.or_else(|| c.fresh_store());
        MonClient::connect_over(driver, c, store)
    }
}

impl<T: Transport> MonClient<T> {
    /// Connects over `driver`'s transport and authenticates, hunting among
    /// [`MonClientConfig::hunt_list`]; returns once READY.
    pub fn connect_over(
        driver: Driver<T>,
        cfg: MonClientConfig,
        store: Option<TicketStore>,
    ) -> Result<Self, MonClientError> {
        let mons = cfg.hunt_list();
        let backoff = Backoff::new(cfg.hunt);
        let mut mc = MonClient {
            driver,
            id: None,
            store,
            established: placeholder_established(),
            inbox: VecDeque::new(),
            next_tid: 1,
            monmap_epoch: 0,
            rng: StdRng::from_entropy(),
            mons,
            current: 0,
            subs: MonSubs::default(),
            backoff,
            sessions: 0,
            last_hunt: HuntLog::default(),
            cfg,
        };
        let deadline = Instant::now() + mc.cfg.timeout;
        mc.hunt("session", deadline, 0)?;
        // Follow the monmap from the start, as Ceph's MonClient::init does,
        // so the hunt list becomes the quorum's even if only one mon was
        // configured (`note` replaces `mons` with each monmap's).
        let mut sub = MonSubscribe::default();
        sub.want("monmap", 0, 0);
        mc.subscribe(&sub);
        Ok(mc)
    }

    /// Authenticates again on a new connection with the same tickets
    /// (reclaiming the global id), e.g. to renew the AUTH ticket: the
    /// monitor in use first, then the others, as in a hunt.
    pub fn reconnect(&mut self) -> Result<(), MonClientError> {
        let deadline = Instant::now() + self.cfg.timeout;
        self.hunt("session", deadline, self.current)
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

    /// The monitor of the current session.
    pub fn current_mon(&self) -> EntityAddr {
        self.cfg.mon
    }

    /// The monitors hunted among (the conf's, then the latest monmap's).
    pub fn mons(&self) -> &[EntityAddr] {
        &self.mons
    }

    /// Sessions established so far, the first included: it grows by one
    /// with each successful hunt, so a caller that keeps state on the mon
    /// (a booted OSD) can tell that it talks to a new session.
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    /// The failed attempts of the latest hunt (empty if its first try won).
    pub fn last_hunt(&self) -> &HuntLog {
        &self.last_hunt
    }

    /// The subscriptions renewed on each new session.
    pub fn subscriptions(&self) -> &MonSubs {
        &self.subs
    }

    /// Asks for the monmap (MMonGetMap) and returns it; its monitors become
    /// the hunt list.
    pub fn get_monmap(&mut self) -> Result<MonMap, MonClientError> {
        let m = self.request(
            "monmap",
            || to_message(&MonGetMap, 0),
            |m| m.ty == msg::types::MON_MAP,
        )?;
        let map: MonMapMsg = from_message(&m).map_err(|source| MonClientError::Decode {
            what: "MMonMap",
            source,
        })?;
        Ok(map.monmap)
    }

    /// Subscribes to maps (MMonSubscribe), e.g. `osdmap` from epoch 0. The
    /// subscription is renewed on every new session from the last epoch
    /// received + 1 (osdmap and monmap epochs are tracked).
    pub fn subscribe(&mut self, sub: &MonSubscribe) {
        self.subs.want_all(sub);
        self.send(to_message(sub, 0));
    }

    /// Runs one command (JSON) with input `inbl`; returns the ack. The
    /// command is sent again on each new session until its ack arrives or
    /// the timeout passes (as Ceph's `_resend_mon_commands`).
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
        let m = self.request(
            "command reply",
            || to_message(&c, tid),
            |m| m.ty == msg::types::MON_COMMAND_ACK && m.tid == tid,
        )?;
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
        let epoch = self.monmap_epoch;
        let m = self.request(
            what,
            || mauth_message(payload.clone(), epoch),
            |m| m.ty == msg::types::AUTH_REPLY,
        )?;
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

    /// Queues a message on the mon session. Lossy: a message queued on a
    /// session that is then lost is gone (requests made through
    /// [`MonClient::command`] and the other calls are resent).
    pub fn send(&mut self, m: Message) {
        let Some(id) = self.id else { return };
        if let Some(c) = self.driver.conn_mut(id) {
            c.send_message(m);
        }
    }

    /// Sends `make()`, waits for the first message matching `pred`, and
    /// sends `make()` again on each new session a hunt opens meanwhile.
    fn request(
        &mut self,
        what: &'static str,
        make: impl Fn() -> Message,
        pred: impl Fn(&Message) -> bool,
    ) -> Result<Message, MonClientError> {
        let deadline = Instant::now() + self.cfg.timeout;
        loop {
            self.ensure_connected(what, deadline)?;
            self.send(make());
            if let Some(m) = self.wait_until(what, &pred, deadline, true)? {
                return Ok(m);
            }
        }
    }

    /// Waits for the first message matching `pred` (earlier unmatched ones
    /// are kept for later calls). A lost session is replaced by hunting
    /// (its subscriptions renewed) and the wait goes on, up to the timeout.
    pub fn wait_for(
        &mut self,
        what: &'static str,
        pred: impl Fn(&Message) -> bool,
    ) -> Result<Message, MonClientError> {
        let deadline = Instant::now() + self.cfg.timeout;
        loop {
            if let Some(m) = self.wait_until(what, &pred, deadline, false)? {
                return Ok(m);
            }
        }
    }

    /// Keeps a message nobody waited for, for [`MonClient::poll_messages`];
    /// beyond [`MAX_INBOX`] the oldest is dropped (a mon that floods an idle
    /// client cannot grow it without bound).
    fn stash(&mut self, m: Message) {
        if self.inbox.len() >= MAX_INBOX {
            self.inbox.pop_front();
        }
        self.inbox.push_back(m);
    }

    /// Waits until `deadline` for a message matching `pred`. On a lost
    /// session it hunts; then returns `None` if `resend` (the caller sends
    /// its request again) or else waits on.
    fn wait_until(
        &mut self,
        what: &'static str,
        pred: &impl Fn(&Message) -> bool,
        deadline: Instant,
        resend: bool,
    ) -> Result<Option<Message>, MonClientError> {
        if let Some(i) = self.inbox.iter().position(pred) {
            if let Some(m) = self.inbox.remove(i) {
                return Ok(Some(m));
            }
        }
        while Instant::now() < deadline {
            if !self.is_connected() {
                self.ensure_connected(what, deadline)?;
                if resend {
                    return Ok(None);
                }
            }
            // Every event of the poll is handled before returning: messages
            // after the one waited for go to the inbox, not away.
            let mut found = None;
            let mut lost = false;
            for ev in self.poll()? {
                match ev {
                    Event::Message(m) if found.is_none() && pred(&m) => found = Some(m),
                    Event::Message(m) => self.stash(m),
                    Event::Closed { error, .. } => {
                        self.hunt_after_loss(error, what, deadline)?;
                        lost = true;
                    }
                    _ => {}
                }
            }
            if found.is_some() {
                return Ok(found);
            }
            if lost && resend {
                return Ok(None);
            }
        }
        Err(MonClientError::Timeout {
            what,
            after: self.cfg.timeout,
        })
    }

    /// Drives the session for at most `wait` and returns the messages that
    /// arrived (with any kept by earlier calls), without waiting for one.
    /// A lost session is replaced by hunting (for up to the timeout; see
    /// [`MonClient::sessions`]); only a failed hunt is an error.
    pub fn poll_messages(&mut self, wait: Duration) -> Result<Vec<Message>, MonClientError> {
        self.poll_messages_inner(wait, true)
    }

    /// As [`MonClient::poll_messages`], but a lost session is returned as
    /// [`MonClientError::Closed`] instead of hunting (e.g. at shutdown, or
    /// to hunt a round at a time with [`MonClient::hunt_round`]); messages
    /// that arrived before the loss are kept for the next call.
    pub fn poll_messages_no_hunt(
        &mut self,
        wait: Duration,
    ) -> Result<Vec<Message>, MonClientError> {
        self.poll_messages_inner(wait, false)
    }

    fn poll_messages_inner(
        &mut self,
        wait: Duration,
        hunt: bool,
    ) -> Result<Vec<Message>, MonClientError> {
        if hunt && !self.is_connected() {
            self.ensure_connected("session", Instant::now() + self.cfg.timeout)?;
        }
        let mut out: Vec<Message> = self.inbox.drain(..).collect();
        for ev in self.poll_for(wait)? {
            match ev {
                Event::Message(m) => out.push(m),
                Event::Closed { error, .. } if hunt => {
                    let deadline = Instant::now() + self.cfg.timeout;
                    self.hunt_after_loss(error, "session", deadline)?;
                }
                Event::Closed { error, .. } => {
                    // Lossy: what was queued is gone; the inbox is kept.
                    for m in out {
                        self.stash(m);
                    }
                    if let Some(id) = self.id.take() {
                        self.driver.remove(id);
                    }
                    let lost = MonClientError::Closed(error);
                    let mut log = HuntLog::default();
                    log.failed(self.cfg.mon, format!("session lost: {lost}"));
                    self.last_hunt = log;
                    return Err(lost);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn poll(&mut self) -> Result<Vec<Event>, MonClientError> {
        self.poll_for(Duration::from_millis(100))
    }

    /// One driver pass: the current session's events. Maps and monmaps
    /// passing by are noted (subscription progress, hunt list).
    fn poll_for(&mut self, wait: Duration) -> Result<Vec<Event>, MonClientError> {
        let evs = self
            .driver
            .poll_once(wait)
            .map_err(|source| MonClientError::Io {
                what: "poll",
                source,
            })?;
        let Some(id) = self.id else {
            return Ok(Vec::new());
        };
        let evs: Vec<Event> = evs
            .into_iter()
            .filter(|(c, _)| *c == id)
            .map(|(_, e)| e)
            .collect();
        for ev in &evs {
            if let Event::Message(m) = ev {
                self.note(m);
            }
        }
        Ok(evs)
    }

    /// Records what a message tells the hunt: the epochs of subscribed maps
    /// received, and a monmap's monitors.
    fn note(&mut self, m: &Message) {
        match m.ty {
            msg::types::OSD_MAP if self.subs.get("osdmap").is_some() => {
                if let Ok(map) = from_message::<MOsdMap>(m) {
                    self.subs.got("osdmap", u64::from(map.newest_epoch()));
                }
            }
            msg::types::MON_MAP => {
                if let Ok(map) = from_message::<MonMapMsg>(m) {
                    self.monmap_epoch = map.monmap.epoch;
                    self.subs.got("monmap", u64::from(map.monmap.epoch));
                    let addrs = monmap_v2_addrs(&map.monmap);
                    if !addrs.is_empty() {
                        self.current = addrs.iter().position(|a| *a == self.cfg.mon).unwrap_or(0);
                        self.mons = addrs;
                    }
                }
            }
            _ => {}
        }
    }

    /// Hunts (from the monitor last used) if no session is open, e.g.
    /// after a failed hunt or a loss seen without hunting.
    fn ensure_connected(
        &mut self,
        what: &'static str,
        deadline: Instant,
    ) -> Result<(), MonClientError> {
        if self.is_connected() {
            return Ok(());
        }
        let log = std::mem::take(&mut self.last_hunt);
        self.hunt_with(what, deadline, self.current, log)
    }

    /// The session closed with `error`: hunt, starting after the monitor
    /// that was lost.
    fn hunt_after_loss(
        &mut self,
        error: ConnError,
        what: &'static str,
        deadline: Instant,
    ) -> Result<(), MonClientError> {
        let lost = MonClientError::Closed(error);
        if lost.is_fatal() {
            return Err(lost);
        }
        let mut log = HuntLog::default();
        log.failed(self.cfg.mon, format!("session lost: {lost}"));
        let first = (self.current + 1) % self.mons.len().max(1);
        self.hunt_with(what, deadline, first, log)
    }

    /// Hunts for a session, trying the monitors in turn from index
    /// `first`, until one is READY or `deadline` passes. On success the
    /// subscriptions are renewed.
    fn hunt(
        &mut self,
        what: &'static str,
        deadline: Instant,
        first: usize,
    ) -> Result<(), MonClientError> {
        self.hunt_with(what, deadline, first, HuntLog::default())
    }

    fn hunt_with(
        &mut self,
        what: &'static str,
        deadline: Instant,
        first: usize,
        mut log: HuntLog,
    ) -> Result<(), MonClientError> {
        let started = Instant::now();
        loop {
            let round = self.round(first, Some(deadline), &mut log);
            if !matches!(round, Ok(false)) {
                self.last_hunt = log;
                return round.map(|_| ());
            }
            let now = Instant::now();
            if now >= deadline {
                self.last_hunt = log.clone();
                return Err(MonClientError::Unreachable {
                    what,
                    after: deadline.saturating_duration_since(started),
                    tried: log.tried,
                });
            }
            let wait = self.backoff.round_failed(&mut self.rng);
            std::thread::sleep(wait.min(deadline - now));
        }
    }

    /// Drops the current session, if any, and tries each monitor once
    /// (starting after the one last used), without sleeping between
    /// rounds: for a caller that must not block for a whole hunt, such as
    /// a control loop that serves several sessions and signals. A failed
    /// round says when to try the next one (the backoff, jittered); its
    /// attempts are added to [`MonClient::last_hunt`]. On success the
    /// subscriptions are renewed, as in any hunt.
    pub fn hunt_round(&mut self) -> Result<HuntRound, MonClientError> {
        let mut log = if self.is_connected() {
            HuntLog::default()
        } else {
            std::mem::take(&mut self.last_hunt)
        };
        let first = (self.current + 1) % self.mons.len().max(1);
        let round = self.round(first, None, &mut log);
        self.last_hunt = log;
        match round? {
            true => Ok(HuntRound::Established),
            false => Ok(HuntRound::RetryAfter(
                self.backoff.round_failed(&mut self.rng),
            )),
        }
    }

    /// True while a session is open (false after a loss reported by
    /// [`MonClient::poll_messages_no_hunt`] or a failed hunt).
    pub fn is_connected(&self) -> bool {
        self.id.is_some()
    }

    /// One round of a hunt: each monitor once from index `first`, each
    /// attempt within the attempt timeout (and `deadline`, if any).
    /// `Ok(true)`: a session is READY and its subscriptions renewed;
    /// `Ok(false)`: none answered (failures recorded in `log`).
    fn round(
        &mut self,
        first: usize,
        deadline: Option<Instant>,
        log: &mut HuntLog,
    ) -> Result<bool, MonClientError> {
        if let Some(id) = self.id.take() {
            self.driver.remove(id);
        }
        let n = self.mons.len();
        if n == 0 {
            return Err(MonClientError::Config("no monitors configured".into()));
        }
        for k in 0..n {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                break;
            }
            let idx = (first + k) % n;
            let mon = self.mons[idx];
            let attempt = self.backoff.attempt_timeout().max(MIN_ATTEMPT);
            let until = match deadline {
                Some(d) => (now + attempt).min(d.max(now + MIN_ATTEMPT)),
                None => now + attempt,
            };
            match self.try_mon(mon, until) {
                Ok(est) => {
                    self.established = est;
                    self.current = idx;
                    self.cfg.mon = mon;
                    self.sessions += 1;
                    self.backoff.succeeded();
                    if !self.subs.is_empty() {
                        let renewal = self.subs.renewal();
                        self.send(to_message(&renewal, 0));
                    }
                    return Ok(true);
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => log.failed(mon, e.to_string()),
            }
        }
        Ok(false)
    }

    /// One connection attempt at `mon`, READY by `until` or an error (the
    /// connection is then removed).
    fn try_mon(&mut self, mon: EntityAddr, until: Instant) -> Result<Established, MonClientError> {
        let mut cfg = self.cfg.clone();
        cfg.mon = mon;
        let handshake = until.saturating_duration_since(Instant::now());
        let id = dial(
            &mut self.driver,
            &cfg,
            self.store.as_ref(),
            &mut self.rng,
            handshake,
        )?;
        self.id = Some(id);
        match self.wait_established(until) {
            Ok(est) => Ok(est),
            Err(e) => {
                self.driver.remove(id);
                self.id = None;
                Err(e)
            }
        }
    }

    fn wait_established(&mut self, until: Instant) -> Result<Established, MonClientError> {
        let started = Instant::now();
        while Instant::now() < until {
            let wait = until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            for ev in self.poll_for(wait)? {
                match ev {
                    Event::Established(e) => return Ok(e),
                    Event::Closed { error, .. } => return Err(MonClientError::Closed(error)),
                    Event::Message(m) => self.stash(m),
                    _ => {}
                }
            }
        }
        Err(MonClientError::Timeout {
            what: "session",
            after: until.saturating_duration_since(started),
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
                cfg.name.ty as u32,
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
    handshake_timeout: Duration,
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
    let my_type = cfg.name.ty;
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
    ccfg.handshake_timeout = handshake_timeout;
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
        "mon" => EntityType::Mon.service_id(),
        "osd" => EntityType::Osd.service_id(),
        "mgr" => EntityType::Mgr.service_id(),
        "mds" => EntityType::Mds.service_id(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback address where nothing listens (bound, then released).
    fn dead_addr() -> EntityAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        format!("v2:127.0.0.1:{port}/0").parse().expect("addr")
    }

    #[test]
    fn a_hunt_that_finds_no_monitor_names_each_one_after_the_deadline() {
        let (a, b) = (dead_addr(), dead_addr());
        let name = AuthEntityName::new(EntityType::Client, "admin");
        let mut cfg = MonClientConfig::new(a, name, MonAuth::None);
        cfg.modes = vec![ConMode::Crc];
        cfg.timeout = Duration::from_millis(1500);
        // Short rounds so that several happen within the deadline.
        cfg.hunt.interval = Duration::from_millis(200);
        let t = Instant::now();
        let err = MonClient::connect_first(&[a, b], &cfg, None).expect_err("nobody listens");
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
            "hunted until the deadline: {took:?}"
        );
        let MonClientError::Unreachable { what, tried, .. } = &err else {
            panic!("expected Unreachable, got {err}");
        };
        assert_eq!(*what, "session");
        let mons: Vec<EntityAddr> = tried.iter().map(|t| t.mon).collect();
        assert_eq!(mons, [a, b], "each mon, in the order tried");
        assert!(
            tried.iter().all(|t| t.attempts >= 2),
            "several rounds: {tried:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&a.to_string()) && text.contains(&b.to_string()),
            "{text}"
        );
        assert!(!err.is_fatal(), "a refused connection is worth hunting on");
    }

    #[test]
    fn refused_credentials_are_fatal_refused_connections_are_not() {
        let refused = MonClientError::Closed(ConnError::Auth(AuthError::Refused {
            errno: -13,
            reason: "bad key".into(),
        }));
        assert!(refused.is_fatal());
        let again = MonClientError::Closed(ConnError::Auth(AuthError::Refused {
            errno: -11,
            reason: "not in quorum".into(),
        }));
        assert!(!again.is_fatal());
        let reset = MonClientError::Closed(ConnError::TransportClosed("reset".into()));
        assert!(!reset.is_fatal());
    }
}
