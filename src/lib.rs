//! pollmsgr: a userspace, poll-mode messenger for Ceph's msgr2 protocol.
//!
//! Layers, each depending only on the ones below it (see `design.md`):
//! [`net`] drives [`proto`] connections; [`proto`] uses [`auth`], [`crypto`]
//! and [`wire`]; [`msg`] holds Ceph message payloads above the wire codecs.

pub mod auth;
pub mod conf;
pub mod crypto;
pub mod fuzzing;
pub mod monc;
pub mod msg;
pub mod net;
pub mod osd;
pub mod osdmap;
pub mod pool;
pub mod proto;
pub mod wire;
