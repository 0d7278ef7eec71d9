//! Shared test harness for pollmsgr's integration tests.
//!
//! Include it from an integration test with `mod common;` and use, e.g.:
//!
//! ```ignore
//! mod common;
//! use common::ceph::{Auth, CephCluster, ClusterOpts};
//!
//! let c = CephCluster::start(ClusterOpts { auth: Auth::Cephx, with_osd: true, ..Default::default() }).unwrap();
//! // c.mon_addr = "v2:127.a.b.c:PORT", c.osd0_addr = Some("v2:127.a.b.c:6800/NONCE") ...
//! ```
//!
//! Each integration test binary uses a different subset of the harness, hence the
//! `dead_code` / `unused_imports` allowance.
#![allow(dead_code, unused_imports)]

pub mod ceph;
pub mod monc;
pub mod netns;
pub mod pollmsgr;
pub mod relay;

pub use ceph::{
    free_port, pollmsgr_bin, repo_root, require_ceph, unique_loopback_ip, Auth, CephCluster,
    ClusterOpts, HarnessError,
};
