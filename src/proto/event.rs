//! What a [`super::Connection`] tells its driver and what it asks of its
//! messenger (msgr2 reference sections 7.1 and 9).

use super::error::ConnError;
use super::message::Message;
use super::session::Session;
use crate::wire::addr::EntityAddrVec;
use crate::wire::entity::{EntityName, EntityType};
use crate::wire::utime::UTime;
use crate::wire::{ConMode, Revision};

/// What the connection tells its driver.
#[derive(Debug)]
pub enum Event {
    /// The handshake finished: messages flow.
    Established(Established),
    /// A message arrived, in order, exactly once.
    Message(Message),
    /// The peer answered our KEEPALIVE2 with this stamp.
    KeepaliveAck {
        /// The stamp we sent.
        stamp: UTime,
    },
    /// Acceptor only: the peer asks for a session; answer with `decide_session`.
    SessionRequest(SessionRequest),
    /// The peer reset our session (full): queued messages were dropped.
    RemoteReset,
    /// The transport must be closed. With `reconnect`, the session lives on
    /// and a [`Event::ReconnectDue`] follows after backoff.
    Closed {
        /// Why.
        error: ConnError,
        /// True if the session will reconnect (lossless connector).
        reconnect: bool,
    },
    /// Time to open a new transport and call [`super::Connection::reconnect`].
    ReconnectDue,
}

/// Facts about an established session.
#[derive(Debug, Clone)]
pub struct Established {
    /// The peer's name: its HELLO type and IDENT gid.
    pub peer_name: EntityName,
    /// The peer's addresses from its IDENT frame.
    pub peer_addrs: EntityAddrVec,
    /// The negotiated connection mode.
    pub mode: ConMode,
    /// The frame revision in use.
    pub revision: Revision,
    /// Ceph features both sides support.
    pub features: u64,
    /// True if the session is lossy.
    pub lossy: bool,
    /// The global id authentication yielded.
    pub global_id: u64,
    /// True if this resumed an existing session (SESSION_RECONNECT).
    pub reconnected: bool,
    /// Accepting side: the peer's authenticated entity and caps for our
    /// service (cephx); `None` for auth none and on the connecting side.
    pub peer_auth: Option<crate::auth::PeerAuth>,
}

/// An acceptor's question to the messenger: which session does this peer get?
#[derive(Debug, Clone)]
pub enum SessionRequest {
    /// CLIENT_IDENT: the peer wants a (new) session.
    Ident {
        /// The peer's name (HELLO type, IDENT gid).
        peer_name: EntityName,
        /// The peer's addresses.
        peer_addrs: EntityAddrVec,
        /// The peer's global seq.
        global_seq: u64,
        /// The peer's client cookie.
        client_cookie: u64,
    },
    /// SESSION_RECONNECT: the peer wants to resume a session.
    Reconnect {
        /// The peer's name (HELLO type, gid unknown).
        peer_type: EntityType,
        /// The peer's addresses.
        peer_addrs: EntityAddrVec,
        /// The peer's client cookie.
        client_cookie: u64,
        /// Our cookie as the peer remembers it.
        server_cookie: u64,
        /// The peer's global seq.
        global_seq: u64,
        /// The peer's connect seq.
        connect_seq: u64,
        /// The last seq the peer received from us.
        msg_seq: u64,
    },
}

impl SessionRequest {
    /// The peer's addresses, the key of its session.
    pub fn peer_addrs(&self) -> &EntityAddrVec {
        match self {
            SessionRequest::Ident { peer_addrs, .. }
            | SessionRequest::Reconnect { peer_addrs, .. } => peer_addrs,
        }
    }
}

/// The messenger's answer to a [`SessionRequest`] (reference section 9).
#[derive(Debug)]
pub enum SessionDecision {
    /// Start a fresh session (CLIENT_IDENT only).
    NewSession,
    /// Move this existing session onto the new transport.
    Adopt(Box<Session>),
    /// SESSION_RESET: the client must start over with CLIENT_IDENT.
    Reset {
        /// Full reset (drop queues) or just the cookies and seqs.
        full: bool,
    },
    /// SESSION_RETRY with our connect seq.
    Retry {
        /// Our current connect seq.
        connect_seq: u64,
    },
    /// SESSION_RETRY_GLOBAL with the peer global seq we already saw.
    RetryGlobal {
        /// The peer global seq we hold.
        global_seq: u64,
    },
    /// WAIT: our own connection to the peer is about to win a race.
    Wait,
    /// Close this transport (stale connection).
    Close,
}
