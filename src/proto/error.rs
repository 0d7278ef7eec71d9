//! Why a connection ended: a taxonomy, not strings (style card 5).

use thiserror::Error;

use super::frame::FrameError;
use crate::auth::AuthError;
use crate::crypto::CryptoError;
use crate::wire::banner::BannerError;
use crate::wire::{DecodeError, Tag};

/// The peer sent something the protocol forbids at this point.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PeerMisbehaved {
    /// A frame whose tag is not valid in the current state.
    #[error("frame {tag} is not allowed while {state}")]
    UnexpectedFrame {
        tag: &'static str,
        state: &'static str,
    },
    /// A tag byte this side does not know.
    #[error("unknown frame tag {0}")]
    UnknownTag(u8),
    /// The peer's HELLO names another entity type than the one we dialed.
    #[error("peer says it is a {got}, but we dialed a {expected}")]
    WrongPeerType {
        expected: &'static str,
        got: &'static str,
    },
    /// SERVER_IDENT does not list the address we dialed.
    #[error("peer's addresses {addrs} do not include the address we dialed, {target}")]
    WrongPeerAddr { target: String, addrs: String },
    /// CLIENT_IDENT targets an address that is not ours.
    #[error("peer dialed {target}, which is not one of our addresses {ours}")]
    NotOurAddr { target: String, ours: String },
    /// CLIENT_IDENT carries no usable address.
    #[error("peer's CLIENT_IDENT has no address")]
    NoPeerAddr,
    /// The peer's AUTH_SIGNATURE does not match the bytes we sent.
    #[error("pre-auth signature mismatch: the handshake bytes were altered in transit")]
    BadSignature,
    /// A message arrived with a sequence number past the next expected one.
    #[error("message seq {got} skips ahead of the expected {expected}")]
    SeqGap { expected: u64, got: u64 },
    /// The acceptor chose a mode this connector never offered.
    #[error("server chose connection mode {0}, which we did not offer")]
    ModeNotOffered(u32),
    /// The peer acknowledged a message we never sent.
    #[error("peer acknowledged seq {acked}, but we only sent up to {sent}")]
    AckFromFuture { acked: u64, sent: u64 },
    /// The peer sent a zero-length or malformed value where one is required.
    #[error("{0}")]
    Invalid(&'static str),
}

/// The peer and this side cannot talk: nothing to retry with the same settings.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PeerIncompatible {
    /// The peer requires Ceph features we do not support.
    #[error("peer requires features {missing:#x} that we do not support")]
    MissingFeatures { missing: u64 },
    /// We require Ceph features the peer lacks.
    #[error("peer lacks features {missing:#x} that we require")]
    PeerLacksFeatures { missing: u64 },
}

/// Why a connection closed. Each error is either a *fault* (the session may
/// reconnect per policy) or *fatal* (the session is marked down).
#[derive(Debug, Error)]
pub enum ConnError {
    /// Bytes that do not parse as the structure expected.
    #[error("malformed input: {0}")]
    Decode(#[from] DecodeError),
    /// A malformed or corrupt frame.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    /// A bad or incompatible banner.
    #[error("bad banner: {0}")]
    Banner(#[from] BannerError),
    /// A protocol violation.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// The peers cannot agree on features.
    #[error("peer incompatible: {0}")]
    PeerIncompatible(#[from] PeerIncompatible),
    /// Authentication failed.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// A secure-mode operation failed (bad tag, nonces exhausted).
    #[error("secure mode: {0}")]
    Crypto(#[from] CryptoError),
    /// The handshake did not reach READY before its deadline.
    #[error("handshake did not complete within {0:?}")]
    HandshakeTimeout(std::time::Duration),
    /// The pre-auth transcript grew past its cap (a peer stalling authentication).
    #[error("pre-auth transcript exceeded {limit} bytes")]
    PreAuthTooLarge { limit: usize },
    /// Before authentication, a frame's preamble declared more bytes than
    /// the pre-auth cap leaves room for; refused before any of it is buffered.
    #[error("pre-auth frame declares {declared} more bytes, over the pre-auth cap of {limit}")]
    PreAuthFrameTooLarge {
        /// On-wire bytes the frame still declares after its preamble.
        declared: usize,
        /// The pre-auth cap.
        limit: usize,
    },
    /// Part of a frame arrived and then nothing more for too long.
    #[error(
        "frame stalled: no byte for {waited:?} with {declared_rest} declared bytes still to come"
    )]
    FrameStalled {
        /// How long nothing arrived.
        waited: std::time::Duration,
        /// On-wire bytes the frame still declared (0: a partial preamble or banner).
        declared_rest: usize,
    },
    /// A READY session moved no byte either way for too long.
    #[error("session idle: no byte sent or received for {0:?}")]
    Idle(std::time::Duration),
    /// The peer does not read what we queued for it (e.g. replies to its
    /// own KEEPALIVE2 flood).
    #[error("peer did not read for {waited:?}: {pending} bytes queued for it")]
    PeerNotDraining {
        /// How long the transport took none of our bytes.
        waited: std::time::Duration,
        /// Bytes still queued.
        pending: usize,
    },
    /// The connection stayed over its memory budget (or the process over
    /// its shared one, with this connection holding more than its share)
    /// while it was not being read.
    #[error("held {held} bytes, over the memory budget of {budget}, for {waited:?}")]
    OverBudget {
        /// Bytes the connection held (received, buffered and queued).
        held: usize,
        /// The budget that applied.
        budget: usize,
        /// How long it stayed over.
        waited: std::time::Duration,
    },
    /// The transport closed or failed underneath the connection.
    #[error("transport closed: {0}")]
    TransportClosed(String),
    /// The acceptor answered WAIT: its own connection to us wins the
    /// connect race (reference 9). A fault: a lossless connector reconnects
    /// after the longest backoff, by when the peer's connection has won.
    #[error(
        "peer asked us to WAIT: its own connection to us wins the race; retrying after the longest backoff"
    )]
    Wait,
    /// The messenger closed this transport because another transport of
    /// the same peer carries (or will carry) the session
    /// ([`super::SessionDecision::Close`]).
    #[error("replaced by another connection of the same peer")]
    SessionReplaced,
    /// A bug on this side (a state or decision the connection cannot be
    /// in): the connection is closed rather than the process; report it.
    #[error("internal error (a pollmsgr bug, please report it): {0}")]
    Internal(&'static str),
    /// The session was reset by the peer (SESSION_RESET) or locally.
    #[error("session reset by peer")]
    SessionReset,
    /// The connection was marked down locally.
    #[error("connection marked down")]
    MarkedDown,
    /// The mode policy changed and no longer allows this connection's mode;
    /// a lossless session reconnects under the new policy.
    #[error(
        "connection mode {mode} is no longer allowed by policy; reconnecting in an allowed mode"
    )]
    PolicyChanged {
        /// The mode the closed connection used.
        mode: &'static str,
    },
}

impl PeerMisbehaved {
    /// Frame `tag` arrived while `state` does not allow it.
    pub fn unexpected(tag: Tag, state: &'static str) -> Self {
        PeerMisbehaved::UnexpectedFrame {
            tag: tag.name(),
            state,
        }
    }
}

impl ConnError {
    /// A short, stable name of the error's class, for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            ConnError::Decode(_) => "decode",
            ConnError::Frame(_) => "frame",
            ConnError::Banner(_) => "banner",
            ConnError::PeerMisbehaved(_) => "peer_misbehaved",
            ConnError::PeerIncompatible(_) => "peer_incompatible",
            ConnError::Auth(_) => "auth",
            ConnError::Crypto(_) => "crypto",
            ConnError::HandshakeTimeout(_) => "handshake_timeout",
            ConnError::PreAuthTooLarge { .. } | ConnError::PreAuthFrameTooLarge { .. } => {
                "pre_auth_too_large"
            }
            ConnError::FrameStalled { .. } => "frame_stalled",
            ConnError::Idle(_) => "idle",
            ConnError::PeerNotDraining { .. } => "peer_not_draining",
            ConnError::OverBudget { .. } => "over_budget",
            ConnError::TransportClosed(_) => "transport_closed",
            ConnError::Wait => "wait",
            ConnError::SessionReplaced => "session_replaced",
            ConnError::Internal(_) => "internal",
            ConnError::SessionReset => "session_reset",
            ConnError::MarkedDown => "marked_down",
            ConnError::PolicyChanged { .. } => "policy_changed",
        }
    }

    /// True if the connection was closed for not moving (a stalled frame,
    /// an idle session, a peer that does not read): the transport's view of
    /// the stream is worth logging beside it.
    pub fn is_stall(&self) -> bool {
        matches!(
            self,
            ConnError::FrameStalled { .. } | ConnError::Idle(_) | ConnError::PeerNotDraining { .. }
        )
    }

    /// True if the session must be marked down rather than reconnected.
    ///
    /// Incompatibility and authentication failures will fail the same way on
    /// every retry; everything else (corrupt bytes, timeouts, a closed
    /// transport) is a fault that a lossless session survives by reconnecting.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ConnError::PeerIncompatible(_)
                | ConnError::Auth(_)
                | ConnError::Banner(BannerError::MissingFeatures { .. } | BannerError::Msgr1Peer)
                | ConnError::MarkedDown
        )
    }

    /// True if received bytes failed an integrity check: a crc32c mismatch
    /// of a preamble or segment (crc mode), an AES-GCM tag that does not
    /// verify (secure mode), or a pre-auth signature that does not match the
    /// transcript (reference 4, 6, 7.3). Such a stream was corrupted or
    /// tampered with in transit; a timeout, a closed transport or a
    /// well-formed protocol violation is not an integrity failure.
    pub fn is_integrity_failure(&self) -> bool {
        matches!(
            self,
            ConnError::Frame(
                FrameError::PreambleCrc { .. }
                    | FrameError::SegmentCrc { .. }
                    | FrameError::Crypto(CryptoError::BadTag)
            ) | ConnError::Crypto(CryptoError::BadTag)
                | ConnError::PeerMisbehaved(PeerMisbehaved::BadSignature)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_failures_are_crc_tag_and_signature_mismatches() {
        let yes = [
            ConnError::Frame(FrameError::PreambleCrc {
                expected: 1,
                got: 2,
            }),
            ConnError::Frame(FrameError::SegmentCrc {
                index: 3,
                expected: 1,
                got: 2,
            }),
            ConnError::Frame(FrameError::Crypto(CryptoError::BadTag)),
            ConnError::Crypto(CryptoError::BadTag),
            ConnError::PeerMisbehaved(PeerMisbehaved::BadSignature),
        ];
        for e in &yes {
            assert!(e.is_integrity_failure(), "{e}");
            assert!(!e.is_fatal(), "{e}: a lossless session must survive it");
        }
        let no = [
            ConnError::TransportClosed("peer closed".into()),
            ConnError::HandshakeTimeout(std::time::Duration::from_secs(10)),
            ConnError::Frame(FrameError::TagZero),
            ConnError::Crypto(CryptoError::NonceExhausted),
            ConnError::PeerMisbehaved(PeerMisbehaved::SeqGap {
                expected: 2,
                got: 5,
            }),
            ConnError::MarkedDown,
            ConnError::Wait,
            ConnError::SessionReplaced,
            ConnError::Internal("test"),
        ];
        for e in &no {
            assert!(!e.is_integrity_failure(), "{e}");
        }
    }

    #[test]
    fn wait_replacement_and_local_bugs_are_typed_faults() {
        let errs = [
            (ConnError::Wait, "wait", "WAIT"),
            (ConnError::SessionReplaced, "session_replaced", "replaced"),
            (ConnError::Internal("no encoder"), "internal", "no encoder"),
        ];
        for (e, reason, says) in &errs {
            assert_eq!(e.reason(), *reason);
            assert!(e.to_string().contains(says), "{e}");
            assert!(!e.is_fatal(), "{e}: a lossless session must survive it");
        }
    }
}
