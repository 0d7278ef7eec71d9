//! cephx connector sides: toward a monitor ([`CephxMonClient`], reference 8.3)
//! and toward an OSD/MGR/MDS ([`CephxAuthorizerClient`], reference 8.4).
//!
//! Both share a [`TicketStore`]: the mon client fills it with the AUTH ticket
//! and the service tickets asked for in `other_keys`; authorizer clients read
//! the service ticket they need from it. A reconnect to a mon presents the
//! stored global id and AUTH ticket (global_id reclaim, CVE-2021-20288).
//!
//! Ceph sources: `src/auth/cephx/CephxClientHandler.cc` (`build_request`,
//! `handle_response`), `src/mon/MonClient.cc` (`MonConnection::
//! get_auth_request`), `CephxProtocol.cc` (`build_authorizer`,
//! `CephXAuthorizer::add_challenge`, `verify_reply`).

use rand::RngCore;
use zeroize::Zeroizing;

use super::crypto::{dec_bl, decode_decrypt, SecretBytes};
use super::key::CryptoKey;
use super::tickets::{ServiceTicket, TicketStore};
use super::types::{
    key_proof, CephXAuthenticate, CephXAuthorize, CephXAuthorizeChallenge, CephXAuthorizeReply,
    CephXAuthorizer, CephXRequestHeader, CephXResponseHeader, CephXServerChallenge,
    CephXServiceTicketReply,
};
use super::{type_name, CephxError, Clock, CEPHX_GET_AUTH_SESSION_KEY, MAX_ENCRYPTED_LEN};
use crate::auth::{AuthClient, AuthError, AuthOutcome, AUTH_MODE_MON, METHOD_CEPHX};
use crate::crypto::CONNECTION_SECRET_MIN_LEN;
use crate::wire::entity::{AuthEntityName, EntityType};
use crate::wire::{ConMode, Put, Reader};

/// Service tickets a mon client asks for by default: MON | OSD | MGR.
///
/// Must be non-zero: a mon hands out a connection secret only to clients that
/// ask for at least one extra ticket (reference 8.3). librados asks for what
/// its `want_keys` says (MON|OSD|MGR, plus MDS for CephFS clients).
pub const DEFAULT_WANT_KEYS: u32 =
    EntityType::Mon.service_id() | EntityType::Osd.service_id() | EntityType::Mgr.service_id();

/// `EOPNOTSUPP`: what AUTH_BAD_METHOD carries when method or modes do not match.
use crate::wire::errno::EOPNOTSUPP;

/// Keeps `preferred` in order, minus modes the server does not allow.
fn modes_allowed_by(preferred: &[ConMode], allowed: &[u32]) -> Vec<ConMode> {
    preferred
        .iter()
        .copied()
        .filter(|m| allowed.contains(&(*m as u32)))
        .collect()
}

/// The common AUTH_BAD_METHOD policy: retry cephx with our modes that the
/// server allows, if that changes anything; otherwise fail.
fn retry_modes(
    modes: &mut Vec<ConMode>,
    result: i32,
    allowed_methods: &[u32],
    allowed_modes: &[u32],
) -> Result<(), AuthError> {
    let narrowed = modes_allowed_by(modes, allowed_modes);
    // Method and modes were fine: the server refused the credentials
    // themselves (a real mon answers a bad proof with -EACCES/-EPERM here).
    if result != -EOPNOTSUPP
        && allowed_methods.contains(&METHOD_CEPHX)
        && !narrowed.is_empty()
        && narrowed == *modes
    {
        return Err(AuthError::Refused {
            errno: result,
            reason: format!("server refused the cephx credentials ({result})"),
        });
    }
    if !allowed_methods.contains(&METHOD_CEPHX) || narrowed.is_empty() || narrowed == *modes {
        return Err(AuthError::NoAcceptableMethod {
            methods: allowed_methods.to_vec(),
            modes: allowed_modes.to_vec(),
        });
    }
    *modes = narrowed;
    Ok(())
}

/// Checks the server's mode choice and the secret's length for that mode.
fn check_mode_and_secret(modes: &[ConMode], mode: ConMode, secret: &[u8]) -> Result<(), AuthError> {
    if !modes.contains(&mode) {
        return Err(AuthError::ModeNotOffered { got: mode as u32 });
    }
    if mode == ConMode::Secure && secret.len() < CONNECTION_SECRET_MIN_LEN {
        return Err(AuthError::Crypto(format!(
            "secure mode needs a connection secret of at least {CONNECTION_SECRET_MIN_LEN} bytes, got {}",
            secret.len()
        )));
    }
    Ok(())
}

/// Where a mon exchange stands.
#[derive(Debug)]
enum MonState {
    /// `request` not called yet (or to be called again after BAD_METHOD).
    Start,
    /// AUTH_REQUEST sent; the mon's challenge comes next.
    ExpectChallenge,
    /// CephXAuthenticate sent; AUTH_DONE comes next. Holds the AUTH session
    /// key held before, which decrypts a ticket sent with `ticket_enc`.
    ExpectDone { old_auth_key: Option<CryptoKey> },
    /// Finished (successfully or not).
    Done,
}

/// The connector side of cephx toward a monitor (AUTH_MODE_MON).
///
/// Call order as for every [`AuthClient`]: `request`, `handle_reply_more`
/// (the mon's challenge), `handle_done`. After success the store holds the
/// global id, the AUTH ticket and the service tickets asked for.
pub struct CephxMonClient {
    name: AuthEntityName,
    key: CryptoKey,
    modes: Vec<ConMode>,
    want_keys: u32,
    store: TicketStore,
    rng: Box<dyn RngCore + Send>,
    clock: Clock,
    state: MonState,
}

impl std::fmt::Debug for CephxMonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephxMonClient")
            .field("name", &self.name)
            .field("modes", &self.modes)
            .field("want_keys", &format_args!("{:#x}", self.want_keys))
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl CephxMonClient {
    /// A mon client for the store's entity, proving itself with `key` (its
    /// keyring key). Modes default to `[Secure, Crc]` (`ms_mon_client_mode`),
    /// wanted tickets to [`DEFAULT_WANT_KEYS`].
    pub fn new(
        key: CryptoKey,
        store: TicketStore,
        rng: Box<dyn RngCore + Send>,
        clock: Clock,
    ) -> Self {
        CephxMonClient {
            name: store.name(),
            key,
            modes: vec![ConMode::Secure, ConMode::Crc],
            want_keys: DEFAULT_WANT_KEYS,
            store,
            rng,
            clock,
            state: MonState::Start,
        }
    }

    /// Sets the modes to offer, in order of preference.
    pub fn with_modes(mut self, modes: Vec<ConMode>) -> Self {
        self.modes = modes;
        self
    }

    /// Sets the bitmask of service tickets to ask for (`other_keys`); 0 is
    /// replaced by [`DEFAULT_WANT_KEYS`] since the mon sends no connection
    /// secret without it.
    pub fn with_want_keys(mut self, want_keys: u32) -> Self {
        self.want_keys = if want_keys == 0 {
            DEFAULT_WANT_KEYS
        } else {
            want_keys
        };
        self
    }

    /// The ticket store this client fills.
    pub fn store(&self) -> &TicketStore {
        &self.store
    }

    fn build_authenticate(&mut self, payload: &[u8]) -> Result<Vec<u8>, CephxError> {
        let mut r = Reader::new(payload, "CephXServerChallenge");
        let ch = CephXServerChallenge::parse(&mut r)?;
        let client_challenge = self.rng.next_u64();
        let old = self.store.get(EntityType::Auth.service_id());
        let req = CephXAuthenticate {
            struct_v: 3,
            client_challenge,
            key: key_proof(&self.key, ch.server_challenge, client_challenge),
            old_ticket: old.as_ref().map(|t| t.ticket.clone()).unwrap_or_default(),
            other_keys: self.want_keys,
        };
        let mut out = Vec::with_capacity(64);
        CephXRequestHeader {
            request_type: CEPHX_GET_AUTH_SESSION_KEY,
        }
        .emit(&mut out);
        req.emit(&mut out);
        self.state = MonState::ExpectDone {
            old_auth_key: old.map(|t| t.session_key),
        };
        Ok(out)
    }

    fn finish(
        &mut self,
        global_id: u64,
        mode: ConMode,
        payload: &[u8],
        old_auth_key: Option<CryptoKey>,
    ) -> Result<AuthOutcome, AuthError> {
        let now = (self.clock)();
        let mut r = Reader::new(payload, "cephx AUTH_DONE");
        let hdr = CephXResponseHeader::parse(&mut r)?;
        if hdr.request_type != CEPHX_GET_AUTH_SESSION_KEY {
            return Err(AuthError::UnexpectedStep(
                "AUTH_DONE answers another cephx request type",
            ));
        }
        if hdr.status < 0 {
            return Err(CephxError::Status {
                status: hdr.status,
                what: "get_auth_session_key",
            }
            .into());
        }
        let reply = CephXServiceTicketReply::parse(&mut r)?;
        let old = old_auth_key.clone();
        let tickets = reply.decrypt(&self.key, |svc| {
            if svc == EntityType::Auth.service_id() {
                old.clone()
            } else {
                None
            }
        })?;
        let mut auth = None;
        for t in tickets {
            let t = ServiceTicket::from_decoded(t, now);
            if t.service_id == EntityType::Auth.service_id() {
                auth = Some(t.clone());
            }
            self.store.insert(t);
        }
        let auth = auth.ok_or(CephxError::NoTicket("auth"))?;
        let session_key = auth.session_key.clone();

        let mut connection_secret = Zeroizing::new(Vec::new());
        if r.remaining() > 0 {
            let cbl = r.bytes_le32(MAX_ENCRYPTED_LEN)?;
            let extra = r.bytes_le32(MAX_ENCRYPTED_LEN)?;
            if !cbl.is_empty() {
                let SecretBytes(s) =
                    decode_decrypt(&session_key, &mut Reader::new(cbl, "connection secret"))?;
                connection_secret = s;
            }
            if !extra.is_empty() {
                let extra =
                    CephXServiceTicketReply::parse(&mut Reader::new(extra, "cephx extra tickets"))?;
                for t in extra.decrypt(&session_key, |_| None)? {
                    self.store.insert(ServiceTicket::from_decoded(t, now));
                }
            }
        }
        check_mode_and_secret(&self.modes, mode, &connection_secret)?;
        self.store.set_global_id(global_id);
        Ok(AuthOutcome {
            global_id,
            session_key: Zeroizing::new(session_key.secret().to_vec()),
            connection_secret,
            peer: None,
        })
    }
}

impl AuthClient for CephxMonClient {
    fn method_and_modes(&self) -> (u32, Vec<ConMode>) {
        (METHOD_CEPHX, self.modes.clone())
    }

    /// `u8 10 | AuthEntityName | le64 global_id` (0, or the stored id to reclaim it).
    fn request(&mut self) -> Result<Vec<u8>, AuthError> {
        let mut out = Vec::with_capacity(32);
        out.put_u8(AUTH_MODE_MON);
        self.name.emit(&mut out);
        out.put_u64_le(self.store.global_id());
        self.state = MonState::ExpectChallenge;
        Ok(out)
    }

    /// Answers the mon's `CephXServerChallenge` with header 0x0100 and a v3
    /// `CephXAuthenticate` (proof, old AUTH ticket, `other_keys`).
    fn handle_reply_more(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        match self.state {
            MonState::ExpectChallenge => {
                self.state = MonState::Done;
                Ok(self.build_authenticate(payload)?)
            }
            _ => Err(AuthError::UnexpectedStep(
                "AUTH_REPLY_MORE from a mon when no challenge was expected",
            )),
        }
    }

    fn handle_bad_method(
        &mut self,
        _method: u32,
        result: i32,
        allowed_methods: &[u32],
        allowed_modes: &[u32],
    ) -> Result<(), AuthError> {
        retry_modes(&mut self.modes, result, allowed_methods, allowed_modes)?;
        self.state = MonState::Start;
        Ok(())
    }

    /// Decrypts the AUTH ticket with the client key, the connection secret
    /// and extra tickets with the AUTH session key, and stores every ticket.
    fn handle_done(
        &mut self,
        global_id: u64,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthOutcome, AuthError> {
        match std::mem::replace(&mut self.state, MonState::Done) {
            MonState::ExpectDone { old_auth_key } => {
                self.finish(global_id, mode, payload, old_auth_key)
            }
            _ => Err(AuthError::UnexpectedStep(
                "AUTH_DONE from a mon before the cephx challenge was answered",
            )),
        }
    }

    fn set_modes(&mut self, modes: Vec<ConMode>) -> bool {
        if modes.is_empty() {
            return false;
        }
        self.modes = modes;
        true
    }
}

/// Where an authorizer exchange stands.
#[derive(Debug)]
enum AzState {
    Start,
    /// Authorizer sent; a challenge (or, from a pre-CEPHX_V2 peer, AUTH_DONE) comes next.
    ExpectChallenge {
        nonce: u64,
        ticket: ServiceTicket,
    },
    /// Challenge answered; AUTH_DONE comes next.
    ExpectDone {
        nonce: u64,
        ticket: ServiceTicket,
    },
    Done,
}

/// The connector side of cephx toward an OSD, MGR or MDS (AUTH_MODE_AUTHORIZER).
///
/// Call order: `request` (authorizer with a fresh nonce), `handle_reply_more`
/// (answers the service's challenge with the same nonce), `handle_done`
/// (checks nonce + 1 and takes the connection secret).
pub struct CephxAuthorizerClient {
    service_id: u32,
    store: TicketStore,
    modes: Vec<ConMode>,
    rng: Box<dyn RngCore + Send>,
    clock: Clock,
    state: AzState,
}

impl std::fmt::Debug for CephxAuthorizerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CephxAuthorizerClient")
            .field("service", &type_name(self.service_id))
            .field("modes", &self.modes)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl CephxAuthorizerClient {
    /// A client toward a daemon of type `service_id` (e.g. `EntityType::Osd.service_id()`)
    /// using the ticket for it in `store`. Modes default to `[Crc, Secure]`
    /// (`ms_client_mode`).
    pub fn new(
        service_id: u32,
        store: TicketStore,
        rng: Box<dyn RngCore + Send>,
        clock: Clock,
    ) -> Self {
        CephxAuthorizerClient {
            service_id,
            store,
            modes: vec![ConMode::Crc, ConMode::Secure],
            rng,
            clock,
            state: AzState::Start,
        }
    }

    /// Sets the modes to offer, in order of preference.
    pub fn with_modes(mut self, modes: Vec<ConMode>) -> Self {
        self.modes = modes;
        self
    }

    fn authorizer(&self, ticket: &ServiceTicket, nonce: u64, challenge: Option<u64>) -> Vec<u8> {
        CephXAuthorizer::build(
            self.store.global_id(),
            self.service_id,
            ticket.ticket.clone(),
            &ticket.session_key,
            &CephXAuthorize {
                nonce,
                have_challenge: challenge.is_some(),
                server_challenge_plus_one: challenge.map_or(0, |c| c.wrapping_add(1)),
            },
        )
        .to_vec()
    }

    fn finish(
        &self,
        global_id: u64,
        mode: ConMode,
        payload: &[u8],
        nonce: u64,
        ticket: ServiceTicket,
    ) -> Result<AuthOutcome, AuthError> {
        let reply: CephXAuthorizeReply = decode_decrypt(
            &ticket.session_key,
            &mut Reader::new(payload, "CephXAuthorizeReply"),
        )?;
        if reply.nonce_plus_one != nonce.wrapping_add(1) {
            return Err(CephxError::Replay("authorizer reply has a wrong nonce + 1").into());
        }
        check_mode_and_secret(&self.modes, mode, &reply.connection_secret)?;
        Ok(AuthOutcome {
            global_id,
            session_key: Zeroizing::new(ticket.session_key.secret().to_vec()),
            connection_secret: reply.connection_secret,
            peer: None,
        })
    }
}

impl AuthClient for CephxAuthorizerClient {
    fn method_and_modes(&self) -> (u32, Vec<ConMode>) {
        (METHOD_CEPHX, self.modes.clone())
    }

    /// The authorizer (`u8 1 | global_id | service_id | ticket |
    /// encode_encrypt(CephXAuthorize{nonce})`); fails if no valid ticket.
    fn request(&mut self) -> Result<Vec<u8>, AuthError> {
        let now = (self.clock)();
        let ticket = self
            .store
            .valid(self.service_id, now)
            .ok_or(CephxError::NoTicket(type_name(self.service_id)))?;
        let nonce = self.rng.next_u64();
        let out = self.authorizer(&ticket, nonce, None);
        self.state = AzState::ExpectChallenge { nonce, ticket };
        Ok(out)
    }

    /// Decrypts `CephXAuthorizeChallenge` (raw `enc_bl`, no length) and
    /// rebuilds the authorizer with the same nonce and challenge + 1.
    fn handle_reply_more(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError> {
        match std::mem::replace(&mut self.state, AzState::Done) {
            AzState::ExpectChallenge { nonce, ticket } => {
                let ch: CephXAuthorizeChallenge = dec_bl(&ticket.session_key, payload)?;
                let out = self.authorizer(&ticket, nonce, Some(ch.server_challenge));
                self.state = AzState::ExpectDone { nonce, ticket };
                Ok(out)
            }
            _ => Err(AuthError::UnexpectedStep(
                "AUTH_REPLY_MORE from a daemon when no challenge was expected",
            )),
        }
    }

    fn handle_bad_method(
        &mut self,
        _method: u32,
        result: i32,
        allowed_methods: &[u32],
        allowed_modes: &[u32],
    ) -> Result<(), AuthError> {
        retry_modes(&mut self.modes, result, allowed_methods, allowed_modes)?;
        self.state = AzState::Start;
        Ok(())
    }

    fn handle_done(
        &mut self,
        global_id: u64,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthOutcome, AuthError> {
        match std::mem::replace(&mut self.state, AzState::Done) {
            AzState::ExpectChallenge { nonce, ticket } | AzState::ExpectDone { nonce, ticket } => {
                self.finish(global_id, mode, payload, nonce, ticket)
            }
            _ => Err(AuthError::UnexpectedStep(
                "AUTH_DONE from a daemon before an authorizer was sent",
            )),
        }
    }

    fn set_modes(&mut self, modes: Vec<ConMode>) -> bool {
        if modes.is_empty() {
            return false;
        }
        self.modes = modes;
        true
    }
}
