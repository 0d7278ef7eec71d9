//! pollmsgr: a userspace, poll-mode messenger for Ceph's msgr2 protocol.
//!
//! Layers, each depending only on the ones below it (see `design.md`):
//! - [`wire`] (encodings, frames' fixed parts), [`crypto`] (crc32c, AES-GCM,
//!   every key and tag length) and [`auth`] (auth none, cephx);
//! - [`proto`]: the sans-IO msgr2 connection (bytes and time in, bytes and
//!   events out);
//! - [`net`]: transports (kernel TCP, smoltcp over TAP or DPDK), chosen
//!   through one `net::spec::TransportSpec`;
//! - [`reactor`]: the driver that moves bytes between a transport and
//!   connections, and the pinned reactor threads that run it;
//! - [`pool`]: many local endpoints on pinned reactors, sessions and policies;
//! - [`msg`]: Ceph message payloads; [`conf`]: ceph.conf and keyrings;
//! - above the pool: [`monc`] (mon sessions), [`osd`] (hosted OSD
//!   endpoints) and [`objecter`] (the RADOS client side).
//!
//! No unsafe code: it lives in the `dpdk-env` crate.

#![forbid(unsafe_code)]

pub mod auth;
pub mod conf;
pub mod crypto;
pub mod fuzzing;
pub mod monc;
pub mod msg;
pub mod net;
pub mod objecter;
pub mod osd;
pub mod osdmap;
pub mod pool;
pub mod proto;
pub mod reactor;
pub mod wire;
