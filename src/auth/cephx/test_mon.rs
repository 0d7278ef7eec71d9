//! A cephx monitor for tests: [`CephxTestMon`] (the mon side of reference
//! 8.3, AUTH_MODE_MON) and its key server [`TestMonAuthority`]. Test
//! support: compiled for unit tests and under the `test-support` feature.
//!
//! Ceph sources: `src/auth/cephx/CephxServiceHandler.cc` (`start_session`,
//! `handle_request`, `verify_old_ticket`), `CephxKeyServer.cc`
//! (`build_session_auth_info`, `get_rotating_encrypted`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::RngCore;
use zeroize::Zeroizing;

use super::crypto::{dec_bl, enc_bl, encode_encrypt, SecretBytes};
use super::key::{CryptoKey, Keyring};
use super::server::{nonzero_u64, random_secret, refused, RotatingKeys};
use super::types::{
    key_proof, AuthCapsInfo, AuthTicket, CephXAuthenticate, CephXAuthorizer, CephXRequestHeader,
    CephXResponseHeader, CephXServerChallenge, CephXServiceTicket, CephXServiceTicketInfo,
    CephXServiceTicketReply, CephXServiceTicketRequest, CephXTicketBlob, ExpiringCryptoKey,
    RotatingSecrets, TicketGrant, AUTH_UID_DEFAULT,
};
use super::{
    type_name, CephxError, Clock, UTime, CEPHX_GET_AUTH_SESSION_KEY,
    CEPHX_GET_PRINCIPAL_SESSION_KEY, CEPHX_GET_ROTATING_KEY, EACCES, EINVAL, EPERM,
};
use crate::auth::{
    AuthError, AuthOutcome, AuthServer, AuthServerStep, AUTH_MODE_MON, METHOD_CEPHX,
};
use crate::wire::entity::{AuthEntityName, EntityType};
use crate::wire::{ConMode, DecodeError, Put, Reader};

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
    EntityType::Auth.service_id(),
    EntityType::Mon.service_id(),
    EntityType::Osd.service_id(),
    EntityType::Mgr.service_id(),
    EntityType::Mds.service_id(),
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
        name: &AuthEntityName,
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
        let ttl = if service_id == EntityType::Auth.service_id() {
            g.mon_ticket_ttl
        } else {
            g.service_ticket_ttl
        };
        let caps_svc = if service_id == EntityType::Auth.service_id() {
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
        name: &AuthEntityName,
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
                    .get(&name.ty.service_id())
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
                let info = self.open_ticket(EntityType::Auth.service_id(), &az.ticket)?;
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
        name: AuthEntityName,
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
            .open_ticket(EntityType::Auth.service_id(), &req.old_ticket)
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

    /// Reads `u8 10 | AuthEntityName | le64 global_id` and sends the challenge.
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
        let name = AuthEntityName::parse(&mut r)?;
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
            .grant(
                EntityType::Auth.service_id(),
                &name,
                global_id,
                &mut *self.rng,
                now,
            )
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
