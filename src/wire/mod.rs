//! Pure codecs for msgr2 and Ceph's encodings: no I/O, no clock, no crypto.
//!
//! Fixed layouts get a view (`new_checked` plus accessors); everything gets a
//! validated `Repr` with `parse` / `buffer_len` / `emit`, in the manner of
//! smoltcp's `wire` module. Variable-length encodings go through [`Reader`].

mod cursor;
mod error;
mod tag;

pub mod addr;
pub mod banner;
pub mod control;
pub mod entity;
pub mod epilogue;
pub mod errno;
pub mod features;
pub mod header2;
pub mod preamble;
pub mod utime;

pub use cursor::{check_limit, Put, Reader};
pub use error::DecodeError;
pub use tag::{ConMode, Revision, Tag};

/// Test helper: bytes from a hex string (the form of `test-vectors.txt`).
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
