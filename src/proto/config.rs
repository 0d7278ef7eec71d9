//! Per-connection settings and per-peer-type policies (msgr2 reference 7, 9).

use std::time::Duration;

use super::frame::FrameLimits;
use crate::wire::addr::EntityAddrVec;
use crate::wire::banner::feature::REVISION_1;
use crate::wire::entity::EntityType;
use crate::wire::features;

/// How sessions with one type of peer behave (Ceph's `Messenger::Policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// No resend queue; any fault drops the session (clients of mons and OSDs).
    pub lossy: bool,
    /// This side never initiates a reconnect (it serves the peer).
    pub server: bool,
    /// A lossless session with nothing queued waits in STANDBY instead of reconnecting.
    pub standby: bool,
    /// Detect a peer restart (changed client cookie) and reset the session.
    pub resetcheck: bool,
    /// Ceph features the peer must have.
    pub features_required: u64,
}

impl Policy {
    /// A lossy client talking to a stateless server (mon/OSD ← client).
    pub const fn lossy_client() -> Self {
        Policy {
            lossy: true,
            server: false,
            standby: false,
            resetcheck: false,
            features_required: 0,
        }
    }

    /// A stateless server serving lossy clients.
    pub const fn stateless_server() -> Self {
        Policy {
            lossy: true,
            server: true,
            standby: false,
            resetcheck: false,
            features_required: 0,
        }
    }

    /// A lossless peer (OSD ↔ OSD): replay across reconnects, standby when idle.
    pub const fn lossless_peer() -> Self {
        Policy {
            lossy: false,
            server: false,
            standby: true,
            resetcheck: true,
            features_required: 0,
        }
    }
}

/// Policies keyed by the peer's entity type, with a default.
#[derive(Debug, Clone)]
pub struct Policies {
    /// Used for peer types with no entry of their own.
    pub default: Policy,
    /// Overrides by entity type.
    pub by_type: Vec<(EntityType, Policy)>,
}

impl Policies {
    /// The policy for a peer of type `ty`.
    pub fn for_peer(&self, ty: EntityType) -> Policy {
        self.by_type
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, p)| *p)
            .unwrap_or(self.default)
    }

    /// What an OSD uses: lossy clients, lossless OSD peers.
    pub fn osd() -> Self {
        Policies {
            default: Policy::stateless_server(),
            by_type: vec![(EntityType::Osd, Policy::lossless_peer())],
        }
    }
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            default: Policy::stateless_server(),
            by_type: Vec::new(),
        }
    }
}

/// Everything one connection needs to know about this side.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Our entity type, sent in HELLO.
    pub my_type: EntityType,
    /// Our entity number (osd id, mon rank) or global id; −1 if not yet known.
    pub my_gid: i64,
    /// Our addresses (acceptor: the ones peers may dial; connector: may be blank).
    pub my_addrs: EntityAddrVec,
    /// Our nonce, used when the connector learns its address from HELLO.
    pub my_nonce: u32,
    /// msgr2 banner features we support (REVISION_1, unless forced to msgr2.0).
    pub msgr2_supported: u64,
    /// msgr2 banner features we require.
    pub msgr2_required: u64,
    /// Ceph features we support (sent in IDENT frames).
    pub features_supported: u64,
    /// Ceph features we require (sent in IDENT frames).
    pub features_required: u64,
    /// READY must be reached within this time of the transport opening.
    pub handshake_timeout: Duration,
    /// Cap on each pre-auth transcript (bytes sent or received before AUTH_DONE).
    pub max_pre_auth_bytes: usize,
    /// Per-segment length limits.
    pub frame_limits: FrameLimits,
    /// First reconnect backoff; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest reconnect backoff, also used after WAIT.
    pub max_backoff: Duration,
    /// First global seq this connection uses (the messenger's counter).
    pub global_seq: u64,
    /// Back-pressure: [`super::Connection::try_send_message`] refuses a
    /// message while this many bytes wait to be written to the transport.
    pub max_pending_bytes: usize,
    /// Back-pressure: ... or while this many messages are queued or unacknowledged.
    pub max_pending_msgs: usize,
    /// A frame that stops arriving mid-way (part of it received, no byte for
    /// this long) closes the connection ([`super::ConnError::FrameStalled`]).
    pub frame_timeout: Option<Duration>,
    /// A READY session with no byte moving either way for this long is
    /// closed ([`super::ConnError::Idle`]); Ceph's `ms_connection_idle_timeout`.
    pub idle_timeout: Option<Duration>,
    /// Bytes queued for the peer that it does not read for this long close
    /// the connection ([`super::ConnError::PeerNotDraining`]).
    pub drain_timeout: Option<Duration>,
    /// Most frames handled per [`super::Connection::handle_input`] call; the
    /// rest wait for the next call (a flooding peer gets a bounded share of
    /// a reactor pass).
    pub max_frames_per_input: usize,
}

impl ConnectionConfig {
    /// Defaults for an entity of type `my_type`.
    pub fn new(my_type: EntityType) -> Self {
        ConnectionConfig {
            my_type,
            my_gid: -1,
            my_addrs: EntityAddrVec(Vec::new()),
            my_nonce: 0,
            msgr2_supported: REVISION_1,
            msgr2_required: 0,
            features_supported: features::PACIFIC_SUPPORTED,
            features_required: features::REQUIRED_DEFAULT,
            handshake_timeout: Duration::from_secs(10),
            max_pre_auth_bytes: 256 * 1024,
            frame_limits: FrameLimits::default(),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(15),
            global_seq: 1,
            max_pending_bytes: 64 << 20,
            max_pending_msgs: 4096,
            frame_timeout: Some(Duration::from_secs(30)),
            idle_timeout: None,
            drain_timeout: Some(Duration::from_secs(60)),
            max_frames_per_input: 256,
        }
    }
}
