//! The one error type of every decoder in `wire`.

use thiserror::Error;

/// Why bytes from the wire could not be decoded.
///
/// Every variant names the structure (`what`) being decoded, so a closed
/// connection's log line says which field of which frame was wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes remain than the structure needs.
    #[error("{what}: truncated, needed {needed} more bytes but only {available} remain")]
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// A length or count read from the wire exceeds the limit we accept.
    #[error("{what}: length {len} exceeds the limit of {limit}")]
    TooLong {
        what: &'static str,
        len: u64,
        limit: usize,
    },
    /// Bytes remained after a structure that must fill its buffer exactly.
    #[error("{what}: {trailing} unexpected trailing bytes")]
    Trailing { what: &'static str, trailing: usize },
    /// A versioned struct's compat version is newer than this decoder.
    #[error(
        "{what}: struct compat version {compat} is newer than the supported version {supported}"
    )]
    IncompatibleVersion {
        what: &'static str,
        compat: u8,
        supported: u8,
    },
    /// A field holds a value outside its allowed set.
    #[error("{what}: invalid value {value:#x}")]
    InvalidValue { what: &'static str, value: u64 },
    /// A string field is not valid UTF-8.
    #[error("{what}: string is not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
}
