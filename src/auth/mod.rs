//! Authentication: the sans-IO auth traits the connection drives, auth none,
//! and cephx (msgr2 reference section 8).
//!
//! A connection owns one boxed [`AuthClient`] (connector) or [`AuthServer`]
//! (acceptor). The connection moves the opaque `auth_payload` bytes of the
//! AUTH_* frames in and out; the handler never sees a socket or a clock, and
//! takes randomness from the source it was built with.

pub mod cephx;
pub mod none;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::wire::{ConMode, DecodeError};

/// `CEPH_AUTH_NONE`.
pub const METHOD_NONE: u32 = 1;
/// `CEPH_AUTH_CEPHX`.
pub const METHOD_CEPHX: u32 = 2;

/// First byte of an AUTH_REQUEST payload toward a daemon (`AUTH_MODE_AUTHORIZER`).
pub const AUTH_MODE_AUTHORIZER: u8 = 1;
/// First byte of an AUTH_REQUEST payload toward a monitor (`AUTH_MODE_MON`).
pub const AUTH_MODE_MON: u8 = 10;

/// What a finished authentication yields for the connection.
///
/// Both secrets are zeroized on drop and never printed.
pub struct AuthOutcome {
    /// The global id the server assigned or confirmed.
    pub global_id: u64,
    /// Key of the pre-auth HMAC-SHA256 signatures; empty for auth none.
    pub session_key: Zeroizing<Vec<u8>>,
    /// The connection secret keying secure mode (64 bytes); empty in crc mode.
    pub connection_secret: Zeroizing<Vec<u8>>,
    /// On the accepting side: who the peer proved to be and its caps for our
    /// service (cephx tickets carry them); `None` for auth none and connectors.
    pub peer: Option<PeerAuth>,
}

/// An authenticated peer as a service sees it: the entity its ticket names
/// and the caps the mon granted it for this service (Ceph `AuthCapsInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerAuth {
    /// The ticket's entity, e.g. `client.admin`.
    pub entity: String,
    /// The ticket grants everything (`allow_all`, set for service daemons).
    pub allow_all: bool,
    /// The caps text for our service, e.g. `allow rw pool=rbd`.
    pub caps: String,
}

impl std::fmt::Debug for AuthOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthOutcome")
            .field("global_id", &self.global_id)
            .field(
                "session_key",
                &format_args!("<{} bytes>", self.session_key.len()),
            )
            .field(
                "connection_secret",
                &format_args!("<{} bytes>", self.connection_secret.len()),
            )
            .finish()
    }
}

/// Why authentication failed. Every variant ends the connection.
#[derive(Debug, Error)]
pub enum AuthError {
    /// An auth payload from the peer could not be decoded.
    #[error("malformed auth payload: {0}")]
    Decode(#[from] DecodeError),
    /// The peer offered no method and mode this side accepts.
    #[error("no acceptable auth method: peer allows methods {methods:?} and modes {modes:?}")]
    NoAcceptableMethod { methods: Vec<u32>, modes: Vec<u32> },
    /// The peer refused our credentials or request (negative errno from the peer or ours).
    #[error("authentication refused ({errno}): {reason}")]
    Refused { errno: i32, reason: String },
    /// The server asked for a mode this client never offered.
    #[error("server chose connection mode {got}, which this client did not offer")]
    ModeNotOffered { got: u32 },
    /// A cryptographic check failed (bad proof, bad magic, wrong nonce+1, ...).
    #[error("auth crypto check failed: {0}")]
    Crypto(String),
    /// The exchange went on past where this method ends, or out of order.
    #[error("unexpected auth step: {0}")]
    UnexpectedStep(&'static str),
    /// cephx refused the exchange or one of its checks failed; the cephx
    /// error says which (a bad proof, a replayed authorizer, a global id
    /// mismatch, a missing key or ticket, the peer's refusal...).
    #[error("cephx: {0}")]
    Cephx(cephx::CephxError),
}

impl AuthError {
    /// The errno of a refusal (negative, as the peer sent it or as cephx
    /// maps a missing key or ticket: `-EACCES`); `None` for failures that
    /// are not a refusal of our credentials (bad bytes, failed crypto
    /// checks, a replay, protocol steps).
    pub fn refusal_errno(&self) -> Option<i32> {
        use crate::wire::errno::EACCES;
        use cephx::CephxError as C;
        match self {
            AuthError::Refused { errno, .. } => Some(*errno),
            AuthError::Cephx(C::Status { status, .. }) => Some(*status),
            AuthError::Cephx(C::Refused { errno, .. }) => Some(-errno.abs()),
            AuthError::Cephx(
                C::Keyring { .. }
                | C::NoKey(_)
                | C::NoTicket(_)
                | C::NoSecret { .. }
                | C::TicketExpired { .. }
                | C::GlobalIdMismatch { .. },
            ) => Some(-EACCES),
            _ => None,
        }
    }
}

/// The connector side of one authentication exchange.
///
/// Call order: [`AuthClient::request`] once, then for each server frame
/// `handle_reply_more` (which returns the AUTH_REQUEST_MORE payload),
/// `handle_bad_method` (which may pick another method, after which
/// `request` is called again) or `handle_done` (which ends it).
pub trait AuthClient: Send {
    /// The auth method id and the modes to offer, in order of preference.
    fn method_and_modes(&self) -> (u32, Vec<ConMode>);
    /// The `auth_payload` of the (next) AUTH_REQUEST.
    fn request(&mut self) -> Result<Vec<u8>, AuthError>;
    /// Answers an AUTH_REPLY_MORE with the payload of AUTH_REQUEST_MORE.
    fn handle_reply_more(&mut self, payload: &[u8]) -> Result<Vec<u8>, AuthError>;
    /// Handles AUTH_BAD_METHOD: `Ok` if another method or mode list was
    /// chosen (the connection then sends a new AUTH_REQUEST), else the error.
    fn handle_bad_method(
        &mut self,
        method: u32,
        result: i32,
        allowed_methods: &[u32],
        allowed_modes: &[u32],
    ) -> Result<(), AuthError>;
    /// Handles AUTH_DONE and yields the keys of this connection.
    fn handle_done(
        &mut self,
        global_id: u64,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthOutcome, AuthError>;
    /// Replaces the modes offered from the next AUTH_REQUEST on (a runtime
    /// policy change). Returns false if this method cannot offer them (the
    /// default: the modes are fixed).
    fn set_modes(&mut self, modes: Vec<ConMode>) -> bool {
        let _ = modes;
        false
    }
}

/// What the acceptor's auth handler wants sent next.
pub enum AuthServerStep {
    /// Send AUTH_REPLY_MORE with this payload and wait for AUTH_REQUEST_MORE.
    More(Vec<u8>),
    /// Send AUTH_DONE with this payload; the connection is authenticated.
    Done {
        /// The outcome, including a connection secret sized for the chosen mode.
        outcome: AuthOutcome,
        /// The AUTH_DONE `auth_payload`.
        payload: Vec<u8>,
    },
}

/// The acceptor side of authentication for one connection.
///
/// Call order: the connection picks the mode from [`AuthServer::allowed_modes`]
/// and the client's list, then calls `handle_request` for AUTH_REQUEST and
/// `handle_request_more` for each AUTH_REQUEST_MORE until `Done`.
pub trait AuthServer: Send {
    /// Methods this server accepts from a peer of `peer_type` (entity type byte).
    fn allowed_methods(&self, peer_type: u8) -> Vec<u32>;
    /// Modes this server allows for `method` from a peer of `peer_type`, in order of preference.
    fn allowed_modes(&self, peer_type: u8, method: u32) -> Vec<ConMode>;
    /// Handles the AUTH_REQUEST payload for `method`, with the mode already chosen.
    fn handle_request(
        &mut self,
        peer_type: u8,
        method: u32,
        mode: ConMode,
        payload: &[u8],
    ) -> Result<AuthServerStep, AuthError>;
    /// Handles an AUTH_REQUEST_MORE payload.
    fn handle_request_more(&mut self, payload: &[u8]) -> Result<AuthServerStep, AuthError>;
}
