//! cephx (method 2): keys, the cephx crypto envelope, the cephx wire
//! structures, and sans-IO auth handlers for both sides (msgr2 reference
//! section 8.2–8.5).
//!
//! * [`key`]: [`CryptoKey`] and keyring files.
//! * [`crypto`]: AES-128-CBC with Ceph's fixed IV, `enc_bl` / `encode_encrypt`,
//!   and the client proof.
//! * [`types`]: every cephx structure, each with `parse` / `emit`.
//! * [`client`]: [`CephxMonClient`] (AUTH_MODE_MON, reference 8.3) and
//!   [`CephxAuthorizerClient`] (AUTH_MODE_AUTHORIZER, reference 8.4), sharing a
//!   [`TicketStore`].
//! * [`server`]: [`CephxServiceServer`] (a daemon verifying authorizers with
//!   [`RotatingKeys`]).
//! * `test_mon` (test support, feature `test-support`): `CephxTestMon`, a
//!   mon-side acceptor that mints tickets, and its `TestMonAuthority`.
//! * [`mauth`]: MAuth / MAuthReply payloads and the cephx requests carried in
//!   them after the handshake (rotating keys, ticket renewal).
//!
//! Nothing here reads a clock or an OS RNG: time comes from a [`Clock`] and
//! randomness from a boxed `RngCore` given at construction. Keys never appear
//! in `Debug` output.
//!
//! Ceph sources used: `src/auth/cephx/CephxProtocol.{h,cc}`,
//! `CephxClientHandler.cc`, `CephxServiceHandler.cc`, `src/auth/Auth.h`,
//! `src/auth/Crypto.cc`, `src/messages/MAuth.h`, `MAuthReply.h`.

pub mod client;
pub mod crypto;
pub mod key;
pub mod mauth;
pub mod server;
#[cfg(any(test, feature = "test-support"))]
pub mod test_mon;
pub mod tickets;
pub mod types;

#[cfg(test)]
mod exchange_tests;

use std::sync::Arc;
use std::time::SystemTime;

use thiserror::Error;

use super::AuthError;
use crate::wire::entity::EntityType;
use crate::wire::DecodeError;

pub use client::{CephxAuthorizerClient, CephxMonClient};
pub use key::{CryptoKey, Keyring, KeyringEntry};
pub use server::{CephxServiceServer, ReplayCache, RotatingKeys};
#[cfg(any(test, feature = "test-support"))]
pub use test_mon::{CephxTestMon, TestMonAuthority};
pub use tickets::{ServiceTicket, TicketStore};

/// `CEPHX_GET_AUTH_SESSION_KEY`: authenticate with the principal key.
pub const CEPHX_GET_AUTH_SESSION_KEY: u16 = 0x0100;
/// `CEPHX_GET_PRINCIPAL_SESSION_KEY`: get (renew) service tickets.
pub const CEPHX_GET_PRINCIPAL_SESSION_KEY: u16 = 0x0200;
/// `CEPHX_GET_ROTATING_KEY`: a daemon fetches its service's rotating secrets.
pub const CEPHX_GET_ROTATING_KEY: u16 = 0x0400;

/// The magic inside every cephx encrypted envelope (`CephxProtocol.h`).
pub const AUTH_ENC_MAGIC: u64 = 0xff00_9cad_8826_aa55;

/// Longest opaque ticket blob accepted.
pub const MAX_TICKET_BLOB_LEN: usize = 64 * 1024;
/// Longest caps bufferlist accepted inside a ticket.
pub const MAX_CAPS_LEN: usize = 64 * 1024;
/// Longest encrypted envelope accepted (a ticket reply with a few tickets).
pub const MAX_ENCRYPTED_LEN: usize = 256 * 1024;
/// Most tickets accepted in one `CephXServiceTicketReply`.
pub const MAX_TICKETS: usize = 32;
/// Most rotating secrets accepted in one `RotatingSecrets`.
pub const MAX_ROTATING_SECRETS: usize = 64;
/// Longest connection secret accepted (`CEPH_MAX_CON_SECRET_LEN`, reference 8.5).
pub const MAX_CONNECTION_SECRET_LEN: usize = crate::crypto::CONNECTION_SECRET_LEN;

/// Ceph's `utime_t` (one type for the whole crate: [`crate::wire::utime`]),
/// used here both as a point in time and as a duration (ticket `validity`).
pub use crate::wire::utime::UTime;

/// The time source handed to handlers: the driver decides what "now" is.
///
/// Protocol code calls it only to stamp and check ticket lifetimes.
pub type Clock = Arc<dyn Fn() -> UTime + Send + Sync>;

/// A [`Clock`] reading the system wall clock, for drivers.
pub fn system_clock() -> Clock {
    Arc::new(|| UTime::from_system(SystemTime::now()))
}

/// A [`Clock`] that always returns `t`, for tests.
pub fn fixed_clock(t: UTime) -> Clock {
    Arc::new(move || t)
}

/// Ceph's name of a cephx service id, e.g. "osd" (`ceph_entity_type_name`).
pub fn type_name(service_id: u32) -> &'static str {
    EntityType::service_name(service_id)
}

/// What went wrong in cephx. Converts into [`AuthError`] for the connection.
#[derive(Debug, Error)]
pub enum CephxError {
    /// Bytes could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Ciphertext is not a non-empty multiple of 16 bytes, or its padding is wrong.
    #[error("bad cephx ciphertext: {0}")]
    Cipher(&'static str),
    /// A decrypted envelope did not start with `AUTH_ENC_MAGIC` (wrong key or tampering).
    #[error("bad magic in decrypted cephx envelope: {got:#x}")]
    BadMagic {
        /// The magic found.
        got: u64,
    },
    /// A key's encoding or base64 form is invalid.
    #[error("invalid key: {0}")]
    BadKey(&'static str),
    /// A keyring file could not be parsed.
    #[error("keyring line {line}: {reason}")]
    Keyring {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// No key for this entity.
    #[error("no key for {0}")]
    NoKey(String),
    /// No valid ticket for a service.
    #[error("no valid ticket for service {0}")]
    NoTicket(&'static str),
    /// No rotating secret to decrypt a ticket.
    #[error("no secret for service {service} secret_id {secret_id}")]
    NoSecret {
        /// Service name.
        service: &'static str,
        /// The secret id the ticket names.
        secret_id: u64,
    },
    /// A ticket had expired.
    #[error("ticket expired at {expires:?}, now {now:?}")]
    TicketExpired {
        /// When it expired.
        expires: UTime,
        /// Now.
        now: UTime,
    },
    /// The global id declared does not match the ticket's.
    #[error("global_id mismatch: declared {declared}, ticket {ticket}")]
    GlobalIdMismatch {
        /// Declared in the authorizer.
        declared: u64,
        /// Inside the ticket.
        ticket: u64,
    },
    /// The client proof (`key`) did not match.
    #[error("client proof does not match")]
    BadProof,
    /// A nonce or challenge answer was wrong or replayed.
    #[error("{0}")]
    Replay(&'static str),
    /// The peer returned a negative status.
    #[error("peer refused ({status}): {what}")]
    Status {
        /// errno.
        status: i32,
        /// Which request.
        what: &'static str,
    },
    /// The peer or request is not allowed.
    #[error("refused ({errno}): {reason}")]
    Refused {
        /// errno.
        errno: i32,
        /// Why.
        reason: String,
    },
}

pub use crate::wire::errno::{EACCES, EINVAL, EPERM};

impl From<CephxError> for AuthError {
    /// Bad bytes stay a decode error; everything else keeps its cephx cause
    /// ([`AuthError::refusal_errno`] says which are refusals).
    fn from(e: CephxError) -> AuthError {
        match e {
            CephxError::Decode(d) => AuthError::Decode(d),
            other => AuthError::Cephx(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::entity::AuthEntityName;
    use crate::wire::Reader;

    #[test]
    fn entity_name_round_trips_reference_bytes() {
        let n = AuthEntityName::parse_str("client.admin").expect("valid");
        let mut v = Vec::new();
        n.emit(&mut v);
        let mut want = vec![8, 0, 0, 0, 5, 0, 0, 0];
        want.extend_from_slice(b"admin");
        assert_eq!(v, want);
        let back = AuthEntityName::parse(&mut Reader::new(&v, "name")).expect("parse");
        assert_eq!(back, n);
        assert_eq!(back.to_string(), "client.admin");
        assert!(AuthEntityName::parse_str("bogus.x").is_none());
        assert!(AuthEntityName::parse_str("osd.").is_none());
        assert!(AuthEntityName::parse_str("any.x").is_none());
        assert!(AuthEntityName::parse_str(&format!("osd.{}", "9".repeat(257))).is_none());
        assert_eq!(
            AuthEntityName::parse_keyring_name("mon."),
            Some(AuthEntityName::new(EntityType::Mon, ""))
        );
        assert_eq!(type_name(EntityType::Osd.service_id()), "osd");
        assert_eq!(type_name(3), "unknown");
    }

    #[test]
    fn utime_arithmetic() {
        let t = UTime::new(10, 900_000_000);
        assert_eq!(
            t.saturating_add(UTime::new(1, 200_000_000)),
            UTime::new(12, 100_000_000)
        );
        assert_eq!(t.saturating_sub(UTime::new(11, 0)), UTime::ZERO);
        assert_eq!(UTime::from_secs(4).quarter(), UTime::from_secs(1));
        assert_eq!(
            UTime::new(u32::MAX, 0)
                .saturating_add(UTime::from_secs(5))
                .sec,
            u32::MAX
        );
    }
}
