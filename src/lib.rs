//! pollmsgr: a userspace, poll-mode messenger for Ceph's msgr2 protocol.
//!
//! Modules are listed bottom-up; each uses only modules listed above it
//! (see `design.md`):
//! - [`checksum`]: Ceph's crc32c; the leaf, imports nothing from the crate;
//! - [`wire`]: encodings and frames' fixed parts (uses `checksum` for the
//!   preamble crc);
//! - [`crypto`]: AES-GCM secure mode, HMAC, every key, nonce and tag length
//!   (imports nothing from the crate: it takes a [`crypto::NonceCounter`],
//!   not a frame revision);
//! - [`auth`]: auth none and cephx (on `wire` and `crypto`);
//! - [`proto`]: the sans-IO msgr2 connection (bytes and time in, bytes and
//!   events out) and the frame codec;
//! - [`msg`]: Ceph message payloads; [`osdmap`]: OSDMap and CRUSH;
//!   [`conf`]: ceph.conf and keyrings;
//! - [`net`]: transports (kernel TCP, smoltcp over TAP or DPDK), chosen
//!   through one `net::spec::TransportSpec`;
//! - [`reactor`]: the driver that moves bytes between a transport and
//!   connections, and the pinned reactor threads that run it;
//! - [`monc`]: mon sessions (over any transport); [`pool`]: many local
//!   endpoints on pinned reactors, sessions and policies;
//! - [`osd`] (hosted OSD endpoints) and [`objecter`] (the RADOS client side);
//! - `fuzzing`: fuzz target entry points (test support: compiled for unit
//!   tests and under the `test-support` feature).
//!
//! `tests/layering.rs` checks that every `crate::` path in library code
//! points down this list.
//!
//! No unsafe code: it lives in the `dpdk-env` and `gcm-gather` crates.

#![forbid(unsafe_code)]

// Bottom-up, one layer per group (rustfmt sorts only within a group).
pub mod checksum;

pub mod wire;

pub mod crypto;

pub mod auth;

pub mod proto;

pub mod msg;
pub mod osdmap;

pub mod conf;

pub mod net;

pub mod reactor;

pub mod monc;

pub mod pool;

pub mod objecter;
pub mod osd;

#[cfg(any(test, feature = "test-support"))]
pub mod fuzzing;
