//! cephx acceptor sides: a daemon verifying authorizers
//! ([`CephxServiceServer`], reference 8.4) and a test monitor that mints
//! tickets ([`CephxTestMon`] + [`TestMonAuthority`], reference 8.3).
//!
//! Ceph sources: `src/auth/cephx/CephxProtocol.cc` (`cephx_verify_authorizer`,
//! `cephx_build_service_ticket_blob/_reply`), `CephxServiceHandler.cc`
//! (`start_session`, `handle_request`, `verify_old_ticket`),
//! `CephxKeyServer.cc` (`build_session_auth_info`, `get_rotating_encrypted`),
//! `src/mon/MonClient.cc` (`handle_auth_request`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rand::RngCore;
use zeroize::Zeroizing;

use super::crypto::{dec_bl, enc_bl, encode_encrypt, SecretBytes};
use super::key::{CryptoKey, Keyring};
use super::types::{
    key_proof, AuthCapsInfo, AuthTicket, CephXAuthenticate, CephXAuthorizeChallenge,
    CephXAuthorizeReply, CephXAuthorizer, CephXRequestHeader, CephXResponseHeader,
    CephXServerChallenge, CephXServiceTicket, CephXServiceTicketInfo, CephXServiceTicketReply,
    CephXServiceTicketRequest, CephXTicketBlob, ExpiringCryptoKey, RotatingSecrets, TicketGrant,
    AUTH_UID_DEFAULT,
};
use super::{
    entity_type, type_name, CephxError, Clock, EntityName, UTime, CEPHX_GET_AUTH_SESSION_KEY,
    CEPHX_GET_PRINCIPAL_SESSION_KEY, CEPHX_GET_ROTATING_KEY, EACCES, EINVAL, EPERM,
    SECURE_CONNECTION_SECRET_LEN,
};
use crate::auth::{
    AuthError, AuthOutcome, AuthServer, AuthServerStep, AUTH_MODE_AUTHORIZER, AUTH_MODE_MON,
    METHOD_CEPHX,
};
use crate::wire::{ConMode, DecodeError, Put, Reader};

/// `secret_id` meaning "encrypted with the service's own key".
pub const SECRET_ID_OWN_KEY: u64 = u64::MAX;

/// The connection-secret length for a mode (reference 8.5).
pub fn connection_secret_len(mode: ConMode) -> usize {
    match mode {
        ConMode::Crc => 0,
        ConMode::Secure => SECURE_CONNECTION_SECRET_LEN,
    }
}

fn random_secret(rng: &mut dyn RngCore, mode: ConMode) -> Zeroizing<Vec<u8>> {
    let mut s = Zeroizing::new(vec![0u8; connection_secret_len(mode)]);
    rng.fill_bytes(&mut s);
    s
}

fn nonzero_u64(rng: &mut dyn RngCore) -> u64 {
    loop {
        let v = rng.next_u64();
        if v != 0 {
            return v;
        }
    }
}

fn refused(errno: i32, reason: impl Into<String>) -> CephxError {
    CephxError::Refused {
        errno,
        reason: reason.into(),
    }
}

/// Rotating service secrets: service id → secret id → key. A cheap shared
/// handle; the driver refreshes it from `CEPHX_GET_ROTATING_KEY` replies
/// ([`super::mauth::handle_rotating_key_reply`]).
#[derive(Debug, Clone, Default)]
pub struct RotatingKeys {
    inner: Arc<RwLock<BTreeMap<u32, RotatingSecrets>>>,
}

impl RotatingKeys {
    /// Empty.
    pub fn new() -> Self {
        RotatingKeys::default()
    }

    /// Replaces the secrets of `service_id` with a decoded `RotatingSecrets`.
    pub fn set(&self, service_id: u32, secrets: RotatingSecrets) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(service_id, secrets);
    }

    /// The secret `secret_id` of `service_id`.
    pub fn get(&self, service_id: u32, secret_id: u64) -> Option<CryptoKey> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&service_id)
            .and_then(|s| s.secrets.get(&secret_id))
            .map(|k| k.key.clone())
    }

    /// A copy of the secrets of `service_id`.
    pub fn secrets(&self, service_id: u32) -> Option<RotatingSecrets> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&service_id)
            .cloned()
    }
}

/// Seen (global id, nonce) pairs, oldest first in `order`, at most `cap`.
type ReplayState = (HashSet<(u64, u64)>, VecDeque<(u64, u64)>, usize);

/// Authorizers seen recently, by (global id, nonce), shared by the handlers of
/// one daemon: a fresh handler refuses an authorizer whose nonce it has seen,
/// on top of the challenge round that already defeats replays.
#[derive(Debug, Clone)]
pub struct ReplayCache {
    inner: Arc<Mutex<ReplayState>>,
}

impl ReplayCache {
    /// Remembers the last `capacity` authorizers.
    pub fn new(capacity: usize) -> Self {
        ReplayCache {
            inner: Arc::new(Mutex::new((
                HashSet::new(),
                VecDeque::new(),
                capacity.max(1),
            ))),
        }
    }

    /// Records (global_id, nonce); `false` if it was already there.
    pub fn check_and_insert(&self, global_id: u64, nonce: u64) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order, cap) = &mut *g;
        if !set.insert((global_id, nonce)) {
            return false;
        }
        order.push_back((global_id, nonce));
        while order.len() > *cap {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

impl Default for ReplayCache {
    fn default() -> Self {
        ReplayCache::new(4096)
    }
}

/// Who authenticated on a service connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The ticket's entity name.
    pub name: EntityName,
    /// Its global id.
    pub global_id: u64,
    /// Its caps for this service.
    pub caps: AuthCapsInfo,
}

/// Where a service-side exchange stands.
enum SrvState {
    ExpectAuthorizer,
    ExpectAnswer {
        mode: ConMode,
        challenge: u64,
        nonce: u64,
        global_id: u64,
    },
    Done,
}

/// A daemon's acceptor for cephx authorizers (AUTH_MODE_AUTHORIZER).
///
/// Always runs the challenge round (CVE-2020-25660), checks the ticket's
/// global id and expiry against the injected clock, refuses nonces seen by
/// the shared [`ReplayCache`], and answers with a connection secret of 64
/// bytes (secure) or none (crc).
pub struct CephxServiceServer {
    service_id: u32,
    keys: RotatingKeys,
    own_key: Option<CryptoKey>,
    modes: Vec<ConMode>,
    replay: ReplayCache,
    rng: Box<dyn RngCore + Send>,
    clock: Clock,
    state: SrvState,
    peer: Option<PeerIdentity>,
}

impl std::fmt::Debug for CephxServiceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephxServiceServer")
            .field("service", &type_name(self.service_id))
            .field("modes", &self.modes)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl CephxServiceServer {
    /// An acceptor for a daemon of type `service_id` (e.g. OSD) verifying
    /// tickets with `keys`. Modes default to `[Crc, Secure]`.
    pub fn new(
        service_id: u32,
        keys: RotatingKeys,
        replay: ReplayCache,
        rng: Box<dyn RngCore + Send>,
        clock: Clock,
    ) -> Self {
        CephxServiceServer {
            service_id,
            keys,
            own_key: None,
            modes: vec![ConMode::Crc, ConMode::Secure],
            replay,
            rng,
            clock,
            state: SrvState::ExpectAuthorizer,
            peer: None,
        }
    }

    /// The daemon's own key, for tickets with `secret_id == u64::MAX`.
    pub fn with_own_key(mut self, key: CryptoKey) -> Self {
        self.own_key = Some(key);
        self
    }

    /// Sets the modes allowed, in order of preference.
    pub fn with_modes(mut self, modes: Vec<ConMode>) -> Self {
        self.modes = modes;
        self
    }

    /// The authenticated peer, once `Done`.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    /// Decodes the authorizer and its ticket, checks service, global id and
    /// expiry, and decrypts the `CephXAuthorize`.
    fn open(
        &self,
        payload: &[u8],
    ) -> Result<(CephXServiceTicketInfo, super::types::CephXAuthorize), CephxError> {
        let mut r = Reader::new(payload, "cephx authorizer");
        let az = CephXAuthorizer::parse(&mut r)?;
        if az.service_id != self.service_id {
            return Err(refused(
                EACCES,
                format!(
                    "authorizer for service {} presented to {}",
                    type_name(az.service_id),
                    type_name(self.service_id)
                ),
            ));
        }
        let secret = if az.ticket.secret_id == SECRET_ID_OWN_KEY {
            self.own_key.clone()
        } else {
            self.keys.get(az.service_id, az.ticket.secret_id)
        }
        .ok_or(CephxError::NoSecret {
            service: type_name(az.service_id),
            secret_id: az.ticket.secret_id,
        })?;
        let info: CephXServiceTicketInfo = dec_bl(&secret, &az.ticket.blob)?;
        if info.ticket.global_id != az.global_id {
            return Err(CephxError::GlobalIdMismatch {
                declared: az.global_id,
                ticket: info.ticket.global_id,
            });
        }
        let now = (self.clock)();
        if now >= info.ticket.expires {
            return Err(CephxError::TicketExpired {
                expires: info.ticket.expires,
                now,
            });
        }
        let msg = az.authorize(&info.session_key)?;
        Ok((info, msg))
    }
}

impl AuthServer for CephxServiceServer {
    fn allowed_methods(&self, _peer_type: u8) -> Vec<u32> {
        vec![METHOD_CEPHX]
    }

    fn allowed_modes(&self, _peer_type: u8, _method: u32) -> Vec<ConMode> {
        self.modes.clone()
    }

    /// Verifies the authorizer and always answers with an encrypted challenge.
    fn handle_request(
        &mut self,
        _peer_type: u8,
        method: u32,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthServerStep, AuthError> {
        if method != METHOD_CEPHX {
            return Err(refused(EACCES, format!("auth method {method} is not cephx")).into());
        }
        if !matches!(self.state, SrvState::ExpectAuthorizer) {
            return Err(AuthError::UnexpectedStep(
                "a second AUTH_REQUEST on one cephx service exchange",
            ));
        }
        self.state = SrvState::Done;
        if payload.first() != Some(&AUTH_MODE_AUTHORIZER) {
            return Err(refused(EACCES, "not an authorizer (auth mode != 1)").into());
        }
        let (info, msg) = self.open(payload)?;
        if !self
            .replay
            .check_and_insert(info.ticket.global_id, msg.nonce)
        {
            return Err(CephxError::Replay("authorizer nonce already seen (replay)").into());
        }
        // Challenge even if the authorizer claims to answer one: it cannot
        // answer a challenge this handler has not issued yet.
        let challenge = nonzero_u64(&mut *self.rng);
        self.state = SrvState::ExpectAnswer {
            mode,
            challenge,
            nonce: msg.nonce,
            global_id: info.ticket.global_id,
        };
        Ok(AuthServerStep::More(enc_bl(
            &info.session_key,
            &CephXAuthorizeChallenge {
                server_challenge: challenge,
            },
        )))
    }

    /// Checks the answer (same nonce, challenge + 1) and finishes.
    fn handle_request_more(&mut self, payload: &[u8]) -> Result<AuthServerStep, AuthError> {
        let SrvState::ExpectAnswer {
            mode,
            challenge,
            nonce,
            global_id,
        } = std::mem::replace(&mut self.state, SrvState::Done)
        else {
            return Err(AuthError::UnexpectedStep(
                "AUTH_REQUEST_MORE with no cephx challenge outstanding",
            ));
        };
        let (info, msg) = self.open(payload)?;
        if info.ticket.global_id != global_id || msg.nonce != nonce {
            return Err(CephxError::Replay("challenge answered by a different authorizer").into());
        }
        if !msg.have_challenge || msg.server_challenge_plus_one != challenge.wrapping_add(1) {
            return Err(CephxError::Replay("wrong server_challenge + 1").into());
        }
        let reply = CephXAuthorizeReply {
            nonce_plus_one: nonce.wrapping_add(1),
            connection_secret: random_secret(&mut *self.rng, mode),
        };
        let mut out = Vec::new();
        encode_encrypt(&info.session_key, &reply, &mut out);
        self.peer = Some(PeerIdentity {
            name: info.ticket.name.clone(),
            global_id,
            caps: info.ticket.caps.clone(),
        });
        Ok(AuthServerStep::Done {
            outcome: AuthOutcome {
                global_id,
                session_key: Zeroizing::new(info.session_key.secret().to_vec()),
                connection_secret: reply.connection_secret,
                peer: Some(crate::auth::PeerAuth {
                    entity: info.ticket.name.to_string(),
                    allow_all: info.ticket.caps.allow_all,
                    caps: info.ticket.caps.text(),
                }),
            },
            payload: out,
        })
    }
}

/// Ticket lifetimes and secrets of a [`CephxTestMon`], shared by all its
/// connections.
struct Authority {
    keyring: Keyring,
    rotating: BTreeMap<u32, RotatingSecrets>,
    next_global_id: u64,
    mon_ticket_ttl: UTime,
    service_ticket_ttl: UTime,
}

/// The key server behind [`CephxTestMon`]: client keys from a keyring, and
/// rotating secrets for AUTH, MON, OSD, MGR and MDS that it generates. A
/// cheap shared handle.
#[derive(Clone)]
pub struct TestMonAuthority {
    inner: Arc<Mutex<Authority>>,
}

impl std::fmt::Debug for TestMonAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        f.debug_struct("TestMonAuthority")
            .field("entities", &g.keyring.len())
            .field("next_global_id", &g.next_global_id)
            .finish_non_exhaustive()
    }
}

/// Services the test mon keeps rotating secrets for.
const TEST_MON_SERVICES: [u32; 5] = [
    entity_type::AUTH,
    entity_type::MON,
    entity_type::OSD,
    entity_type::MGR,
    entity_type::MDS,
];

impl TestMonAuthority {
    /// A key server for the entities in `keyring`, with three rotating secrets
    /// per service created at `now` (Ceph's defaults: mon tickets 12 h,
    /// service tickets 1 h).
    pub fn new(keyring: Keyring, rng: &mut dyn RngCore, now: UTime) -> Self {
        let ttl = UTime::from_secs(3600);
        let mut rotating = BTreeMap::new();
        for svc in TEST_MON_SERVICES {
            let mut rs = RotatingSecrets::default();
            let mut exp = now;
            for _ in 0..3 {
                exp = exp.saturating_add(ttl);
                rs.add(ExpiringCryptoKey {
                    key: CryptoKey::generate(rng, now),
                    expiration: exp,
                });
            }
            rotating.insert(svc, rs);
        }
        TestMonAuthority {
            inner: Arc::new(Mutex::new(Authority {
                keyring,
                rotating,
                next_global_id: 4100,
                mon_ticket_ttl: UTime::from_secs(43200),
                service_ticket_ttl: ttl,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Authority> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `auth_mon_ticket_ttl` and `auth_service_ticket_ttl`.
    pub fn set_ticket_ttls(&self, mon: UTime, service: UTime) {
        let mut g = self.lock();
        g.mon_ticket_ttl = mon;
        g.service_ticket_ttl = service;
    }

    /// The rotating secrets of one service.
    pub fn rotating_secrets(&self, service_id: u32) -> Option<RotatingSecrets> {
        self.lock().rotating.get(&service_id).cloned()
    }

    /// A [`RotatingKeys`] holding every service's secrets (what daemons would
    /// fetch with `CEPHX_GET_ROTATING_KEY`).
    pub fn rotating_keys(&self) -> RotatingKeys {
        let keys = RotatingKeys::new();
        for (svc, rs) in self.lock().rotating.iter() {
            keys.set(*svc, rs.clone());
        }
        keys
    }

    fn next_global_id(&self) -> u64 {
        let mut g = self.lock();
        let id = g.next_global_id;
        g.next_global_id += 1;
        id
    }

    /// Mints a ticket for `service_id` under `parent` (name, global id)
    /// (`KeyServer::build_session_auth_info` + `cephx_build_service_ticket_blob`).
    fn grant(
        &self,
        service_id: u32,
        name: &EntityName,
        global_id: u64,
        rng: &mut dyn RngCore,
        now: UTime,
    ) -> Option<(TicketGrant, CryptoKey)> {
        let g = self.lock();
        let (secret_id, secret) = g
            .rotating
            .get(&service_id)?
            .current()
            .map(|(id, k)| (id, k.key.clone()))?;
        let ttl = if service_id == entity_type::AUTH {
            g.mon_ticket_ttl
        } else {
            g.service_ticket_ttl
        };
        let caps_svc = if service_id == entity_type::AUTH {
            "mon"
        } else {
            type_name(service_id)
        };
        let mut caps = Vec::new();
        if let Some(c) = g.keyring.entry(name).and_then(|e| e.caps.get(caps_svc)) {
            caps.put_bytes_le32(c.as_bytes());
        }
        drop(g);
        let session_key = CryptoKey::generate(rng, now);
        let info = CephXServiceTicketInfo {
            ticket: AuthTicket {
                name: name.clone(),
                global_id,
                auid: AUTH_UID_DEFAULT,
                created: now,
                expires: now.saturating_add(ttl),
                caps: AuthCapsInfo {
                    allow_all: false,
                    caps,
                },
                flags: 0,
            },
            session_key: session_key.clone(),
        };
        let grant = TicketGrant {
            service_id,
            service_ticket: CephXServiceTicket {
                session_key: session_key.clone(),
                validity: ttl,
            },
            ticket: CephXTicketBlob {
                secret_id,
                blob: enc_bl(&secret, &info),
            },
        };
        Some((grant, session_key))
    }

    /// Decrypts a ticket for `service_id` with this authority's secrets.
    fn open_ticket(
        &self,
        service_id: u32,
        ticket: &CephXTicketBlob,
    ) -> Result<CephXServiceTicketInfo, CephxError> {
        let secret = self
            .lock()
            .rotating
            .get(&service_id)
            .and_then(|rs| rs.secrets.get(&ticket.secret_id))
            .map(|k| k.key.clone())
            .ok_or(CephxError::NoSecret {
                service: type_name(service_id),
                secret_id: ticket.secret_id,
            })?;
        dec_bl(&secret, &ticket.blob)
    }

    /// Serves a cephx MAuth request after the handshake, as the mon's
    /// `CephxServiceHandler::handle_request` does for the connection of
    /// `name`: `CEPHX_GET_ROTATING_KEY` (daemons) and
    /// `CEPHX_GET_PRINCIPAL_SESSION_KEY` (ticket renewal). Returns the
    /// MAuthReply `result_bl`.
    pub fn handle_mauth(
        &self,
        name: &EntityName,
        payload: &[u8],
        rng: &mut dyn RngCore,
        now: UTime,
    ) -> Result<Vec<u8>, CephxError> {
        let mut r = Reader::new(payload, "cephx MAuth request");
        let hdr = CephXRequestHeader::parse(&mut r)?;
        let mut out = Vec::new();
        match hdr.request_type {
            CEPHX_GET_ROTATING_KEY => {
                let g = self.lock();
                let key = g
                    .keyring
                    .get(name)
                    .cloned()
                    .ok_or_else(|| CephxError::NoKey(name.to_string()))?;
                let rs = g
                    .rotating
                    .get(&name.ty)
                    .cloned()
                    .ok_or_else(|| refused(EPERM, format!("{name} has no rotating keys")))?;
                drop(g);
                CephXResponseHeader {
                    request_type: hdr.request_type,
                    status: 0,
                }
                .emit(&mut out);
                encode_encrypt(&key, &rs, &mut out);
            }
            CEPHX_GET_PRINCIPAL_SESSION_KEY => {
                let az = CephXAuthorizer::parse(&mut r)?;
                let info = self.open_ticket(entity_type::AUTH, &az.ticket)?;
                if info.ticket.global_id != az.global_id {
                    return Err(CephxError::GlobalIdMismatch {
                        declared: az.global_id,
                        ticket: info.ticket.global_id,
                    });
                }
                if now >= info.ticket.expires {
                    return Err(CephxError::TicketExpired {
                        expires: info.ticket.expires,
                        now,
                    });
                }
                az.authorize(&info.session_key)?;
                let req = CephXServiceTicketRequest::parse(&mut r)?;
                let grants: Vec<TicketGrant> = (0..32)
                    .map(|b| 1u32 << b)
                    .filter(|bit| req.keys & bit != 0)
                    .filter_map(|svc| {
                        self.grant(svc, &info.ticket.name, info.ticket.global_id, rng, now)
                    })
                    .map(|(g, _)| g)
                    .collect();
                CephXResponseHeader {
                    request_type: hdr.request_type,
                    status: 0,
                }
                .emit(&mut out);
                CephXServiceTicketReply::build(&info.session_key, &grants, None).emit(&mut out);
            }
            other => {
                return Err(refused(EINVAL, format!("unknown cephx request {other:#x}")));
            }
        }
        Ok(out)
    }
}

/// Where a test-mon exchange stands.
enum MonSrvState {
    ExpectRequest,
    ExpectAuthenticate {
        mode: ConMode,
        name: EntityName,
        global_id: u64,
        is_new: bool,
        challenge: u64,
    },
    Done,
}

/// The mon side of reference 8.3 (AUTH_MODE_MON), for tests: challenge,
/// proof check, global_id reclaim with the old ticket (insecure reclaim
/// refused, as with `auth_allow_insecure_global_id_reclaim=false`), the AUTH
/// ticket, the connection secret and the tickets asked for in `other_keys`.
///
/// Unlike a real mon it does not require the entity to have mon caps.
pub struct CephxTestMon {
    authority: TestMonAuthority,
    modes: Vec<ConMode>,
    rng: Box<dyn RngCore + Send>,
    clock: Clock,
    state: MonSrvState,
}

impl std::fmt::Debug for CephxTestMon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephxTestMon")
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

impl CephxTestMon {
    /// One connection's acceptor. Modes default to `[Secure, Crc]`.
    pub fn new(authority: TestMonAuthority, rng: Box<dyn RngCore + Send>, clock: Clock) -> Self {
        CephxTestMon {
            authority,
            modes: vec![ConMode::Secure, ConMode::Crc],
            rng,
            clock,
            state: MonSrvState::ExpectRequest,
        }
    }

    /// Sets the modes allowed, in order of preference.
    pub fn with_modes(mut self, modes: Vec<ConMode>) -> Self {
        self.modes = modes;
        self
    }

    /// `verify_old_ticket`: the key to encrypt the new ticket with, if any.
    fn verify_old_ticket(
        &self,
        req: &CephXAuthenticate,
        global_id: u64,
        is_new: bool,
    ) -> Result<Option<CryptoKey>, CephxError> {
        if is_new {
            if !req.old_ticket.blob.is_empty() {
                return Err(refused(
                    EINVAL,
                    "superfluous old ticket with a new global_id",
                ));
            }
            return Ok(None);
        }
        if req.old_ticket.blob.is_empty() {
            return Err(refused(
                EACCES,
                format!("attempt to reclaim global_id {global_id} without presenting a ticket"),
            ));
        }
        let old = self
            .authority
            .open_ticket(entity_type::AUTH, &req.old_ticket)
            .map_err(|e| refused(EACCES, format!("reclaim with a bad ticket: {e}")))?;
        if old.ticket.global_id != global_id {
            return Err(refused(
                EACCES,
                format!("attempt to reclaim global_id {global_id} with a mismatching ticket"),
            ));
        }
        Ok(Some(old.session_key))
    }
}

impl AuthServer for CephxTestMon {
    fn allowed_methods(&self, _peer_type: u8) -> Vec<u32> {
        vec![METHOD_CEPHX]
    }

    fn allowed_modes(&self, _peer_type: u8, _method: u32) -> Vec<ConMode> {
        self.modes.clone()
    }

    /// Reads `u8 10 | EntityName | le64 global_id` and sends the challenge.
    fn handle_request(
        &mut self,
        _peer_type: u8,
        method: u32,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthServerStep, AuthError> {
        if method != METHOD_CEPHX {
            return Err(refused(EACCES, format!("auth method {method} is not cephx")).into());
        }
        if !matches!(self.state, MonSrvState::ExpectRequest) {
            return Err(AuthError::UnexpectedStep(
                "a second AUTH_REQUEST to the mon",
            ));
        }
        self.state = MonSrvState::Done;
        let mut r = Reader::new(payload, "cephx mon auth request");
        let auth_mode = r.u8()?;
        if auth_mode != AUTH_MODE_MON {
            return Err(DecodeError::InvalidValue {
                what: "auth mode toward the test mon",
                value: u64::from(auth_mode),
            }
            .into());
        }
        let name = EntityName::parse(&mut r)?;
        let requested = r.u64_le()?;
        let (global_id, is_new) = if requested == 0 {
            (self.authority.next_global_id(), true)
        } else {
            (requested, false)
        };
        let challenge = nonzero_u64(&mut *self.rng);
        self.state = MonSrvState::ExpectAuthenticate {
            mode,
            name,
            global_id,
            is_new,
            challenge,
        };
        let mut out = Vec::with_capacity(9);
        CephXServerChallenge {
            server_challenge: challenge,
        }
        .emit(&mut out);
        Ok(AuthServerStep::More(out))
    }

    /// Verifies the proof and old ticket, then issues the tickets.
    fn handle_request_more(&mut self, payload: &[u8]) -> Result<AuthServerStep, AuthError> {
        let MonSrvState::ExpectAuthenticate {
            mode,
            name,
            global_id,
            is_new,
            challenge,
        } = std::mem::replace(&mut self.state, MonSrvState::Done)
        else {
            return Err(AuthError::UnexpectedStep(
                "AUTH_REQUEST_MORE to the mon with no challenge outstanding",
            ));
        };
        let mut r = Reader::new(payload, "cephx mon authenticate");
        let hdr = CephXRequestHeader::parse(&mut r)?;
        if hdr.request_type != CEPHX_GET_AUTH_SESSION_KEY {
            return Err(refused(
                EINVAL,
                format!("expected get_auth_session_key, got {:#x}", hdr.request_type),
            )
            .into());
        }
        let req = CephXAuthenticate::parse(&mut r)?;
        let principal = self
            .authority
            .lock()
            .keyring
            .get(&name)
            .cloned()
            .ok_or_else(|| refused(EPERM, format!("couldn't find entity name: {name}")))?;
        if key_proof(&principal, challenge, req.client_challenge) != req.key {
            return Err(refused(EPERM, format!("bad cephx proof from {name}")).into());
        }
        let enc_key = self.verify_old_ticket(&req, global_id, is_new)?;
        let now = (self.clock)();
        let (auth_grant, session_key) = self
            .authority
            .grant(entity_type::AUTH, &name, global_id, &mut *self.rng, now)
            .ok_or_else(|| refused(EACCES, "no auth service secret"))?;

        let mut out = Vec::new();
        CephXResponseHeader {
            request_type: CEPHX_GET_AUTH_SESSION_KEY,
            status: 0,
        }
        .emit(&mut out);
        CephXServiceTicketReply::build(&principal, &[auth_grant], enc_key.as_ref()).emit(&mut out);
        let mut connection_secret = Zeroizing::new(Vec::new());
        if req.other_keys != 0 {
            connection_secret = random_secret(&mut *self.rng, mode);
            let mut cbl = Vec::new();
            encode_encrypt(
                &session_key,
                &SecretBytes(connection_secret.clone()),
                &mut cbl,
            );
            out.put_bytes_le32(&cbl);
            let grants: Vec<TicketGrant> = (0..32)
                .map(|b| 1u32 << b)
                .filter(|bit| req.other_keys & bit != 0)
                .filter_map(|svc| {
                    self.authority
                        .grant(svc, &name, global_id, &mut *self.rng, now)
                })
                .map(|(g, _)| g)
                .collect();
            let mut extra = Vec::new();
            if !grants.is_empty() {
                CephXServiceTicketReply::build(&session_key, &grants, None).emit(&mut extra);
            }
            out.put_bytes_le32(&extra);
        }
        Ok(AuthServerStep::Done {
            outcome: AuthOutcome {
                global_id,
                session_key: Zeroizing::new(session_key.secret().to_vec()),
                connection_secret,
                peer: None,
            },
            payload: out,
        })
    }
}
