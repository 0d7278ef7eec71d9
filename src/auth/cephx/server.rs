//! The cephx acceptor of a daemon: verifying authorizers
//! ([`CephxServiceServer`], reference 8.4). The test monitor that mints
//! tickets is `super::test_mon` (test support).
//!
//! Ceph sources: `src/auth/cephx/CephxProtocol.cc` (`cephx_verify_authorizer`,
//! `cephx_build_service_ticket_blob/_reply`), `CephxServiceHandler.cc`
//! (`start_session`, `handle_request`, `verify_old_ticket`),
//! `CephxKeyServer.cc` (`build_session_auth_info`, `get_rotating_encrypted`),
//! `src/mon/MonClient.cc` (`handle_auth_request`).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use rand::RngCore;
use zeroize::Zeroizing;

use super::crypto::{dec_bl, enc_bl, encode_encrypt};
use super::key::CryptoKey;
use super::types::{
    AuthCapsInfo, CephXAuthorizeChallenge, CephXAuthorizeReply, CephXAuthorizer,
    CephXServiceTicketInfo, RotatingSecrets,
};
use super::{type_name, CephxError, Clock, EACCES};
use crate::auth::{
    AuthError, AuthOutcome, AuthServer, AuthServerStep, AUTH_MODE_AUTHORIZER, METHOD_CEPHX,
};
use crate::crypto::CONNECTION_SECRET_LEN;
use crate::wire::entity::AuthEntityName;
use crate::wire::{ConMode, Reader};

/// `secret_id` meaning "encrypted with the service's own key".
pub const SECRET_ID_OWN_KEY: u64 = u64::MAX;

/// The connection-secret length for a mode (reference 8.5).
pub fn connection_secret_len(mode: ConMode) -> usize {
    match mode {
        ConMode::Crc => 0,
        ConMode::Secure => CONNECTION_SECRET_LEN,
    }
}

pub(super) fn random_secret(rng: &mut dyn RngCore, mode: ConMode) -> Zeroizing<Vec<u8>> {
    let mut s = Zeroizing::new(vec![0u8; connection_secret_len(mode)]);
    rng.fill_bytes(&mut s);
    s
}

pub(super) fn nonzero_u64(rng: &mut dyn RngCore) -> u64 {
    loop {
        let v = rng.next_u64();
        if v != 0 {
            return v;
        }
    }
}

pub(super) fn refused(errno: i32, reason: impl Into<String>) -> CephxError {
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
    pub name: AuthEntityName,
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
