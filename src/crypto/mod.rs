//! AES-128-GCM secure mode and pre-auth signatures; imports nothing from
//! the crate (Ceph's crc32c is the leaf [`crate::checksum`]).
//!
//! * [`session_ciphers`], [`TxCipher`], [`RxCipher`]: secure-mode AES-128-GCM
//!   with the msgr2.0 / msgr2.1 nonce schedules (reference section 4).
//! * [`hmac`]: the AUTH_SIGNATURE HMAC-SHA256 over the pre-auth transcript
//!   (reference section 7.3).
//!
//! The implementation behind the GCM entry points was chosen by measurement
//! (`bench/src/bin/crypto.rs`); the alternatives stay behind the
//! [`Aes128GcmImpl`] trait so the benchmark can compare them.

#![deny(unsafe_code)]

pub mod gcm;
pub mod hmac;
mod secure;

pub use gcm::{Aes128GcmImpl, AES128_KEY_LEN, NONCE_LEN, TAG_LEN};
pub use secure::{
    session_ciphers, NonceCounter, ReservedNonce, Role, RxCipher, Sealer, TxCipher,
    CONNECTION_SECRET_LEN, CONNECTION_SECRET_MIN_LEN,
};

use thiserror::Error;

/// Why a secure-mode operation failed (reference section 4).
///
/// Every one of these ends the connection; a new connection negotiates fresh keys.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// A GCM tag did not verify: the ciphertext was corrupted or forged, or the
    /// two sides disagree on key or nonce (reference 4.1/4.2).
    #[error("AES-GCM tag mismatch: frame corrupted or nonce/key out of step with the peer")]
    BadTag,
    /// The next nonce would repeat one already used with this key (CVE-2020-1759 guard,
    /// reference 4.2); reconnect to get fresh keys.
    #[error(
        "secure-mode nonces exhausted: refusing to reuse a GCM nonce; reconnect for fresh keys"
    )]
    NonceExhausted,
    /// The connection secret from authentication is shorter than the 40 bytes
    /// secure mode needs (key + two nonces, reference 4.1).
    #[error(
        "connection secret is {len} bytes; secure mode needs at least 40 (expected 64 from cephx)"
    )]
    BadSecretLength {
        /// The length we were given.
        len: usize,
    },
    /// AWS-LC's streaming decryption of a chunk received in pieces failed
    /// for a reason other than the tag (it could not start or process a
    /// piece); the connection ends, as for a bad tag.
    #[error("AES-GCM streaming decryption failed in the AES backend ({len}-byte piece)")]
    OpenFailed {
        /// The piece that failed (0 when starting a chunk).
        len: usize,
    },
    /// The AEAD backend refused to seal (only for inputs beyond GCM's ~64 GiB limit).
    #[error("AES-GCM seal failed: chunk of {len} bytes is beyond the AEAD limit")]
    SealFailed {
        /// The chunk length that was refused.
        len: usize,
    },
}
