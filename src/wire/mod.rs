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
