//! The hosted side of cluster membership: each endpoint is a real `osd.N`
//! of a Ceph cluster (design: "Cluster membership and the RADOS path").
//!
//! - [`join`]: ids, UUIDs and keys (`osd new`, a state dir) and CRUSH placement;
//! - [`member`]: the control thread's mon sessions, one per hosted OSD: boot
//!   (MOSDBoot), the osdmap subscription, beacons, ticket renewal, and
//!   MOSDMarkMeDown on shutdown;
//! - [`handler`]: the per-endpoint message handler on the reactors: object
//!   ops (MOSDOp) on an [`store::ObjectService`], `ceph tell` (MCommand),
//!   heartbeats (MOSDPing), and authorization of every message by the peer's
//!   role and cephx caps ([`caps`]);
//! - [`store`]: the object-service trait and its in-memory default.
//!
//! The control thread is not a reactor: its mon calls may wait on the network
//! without holding up any data session. It reaches the reactors only through
//! their mailboxes and the channels the handlers drain.

pub mod auth;
pub mod caps;
pub mod handler;
pub mod heartbeat;
pub mod join;
pub mod member;
pub mod ops;
pub mod store;
pub mod tell;

use thiserror::Error;

/// Why joining or staying in the cluster failed.
#[derive(Debug, Error)]
pub enum OsdError {
    /// The state dir could not be read or written, or holds another cluster's ids.
    #[error("state dir: {0}")]
    State(String),
    /// The monitor could not be reached or answered something unusable.
    #[error("monitor: {0}")]
    Mon(String),
    /// The monitor refused a command.
    #[error("monitor refused {cmd}: error {r} {rs}")]
    Refused {
        /// The command JSON.
        cmd: String,
        /// Negative errno.
        r: i32,
        /// The mon's explanation.
        rs: String,
    },
    /// The cluster did not mark an OSD up (or down) in time.
    #[error("{0}")]
    Timeout(String),
}
