//! What the objecter is asked to do and what it answers: requests,
//! completions and their errors.

use std::time::{Duration, Instant};

use crate::msg::osd_op::{flag, op_is_write, ObjectLocator, OsdOp, PgId};
use crate::wire::utime::UTime;

/// One object operation (or one PG operation such as PGNLS) as the
/// application submits it: the ops of one MOSDOp.
#[derive(Debug, Clone)]
pub struct ObjectRequest {
    /// Pool, namespace and locator key.
    pub locator: ObjectLocator,
    /// Object name (empty for PG ops).
    pub oid: Vec<u8>,
    /// The ops, applied by the primary as one transaction.
    pub ops: Vec<OsdOp>,
    /// For PG ops: the PG to address (the object name is not hashed).
    pub pg: Option<PgId>,
    /// Modification time stamped on writes.
    pub mtime: UTime,
    /// Extra `CEPH_OSD_FLAG_*` bits (the read/write bits are derived).
    pub extra_flags: u32,
}

impl ObjectRequest {
    /// A request on object `oid` in `locator`.
    pub fn new(locator: ObjectLocator, oid: impl Into<Vec<u8>>, ops: Vec<OsdOp>) -> Self {
        ObjectRequest {
            locator,
            oid: oid.into(),
            ops,
            pg: None,
            mtime: UTime::ZERO,
            extra_flags: 0,
        }
    }

    /// True if any op modifies the object.
    pub fn is_write(&self) -> bool {
        self.ops.iter().any(|o| op_is_write(o.op))
    }

    /// The MOSDOp flags a Pacific client sets: `WRITE|ONDISK` for writes,
    /// `READ` otherwise, and `KNOWN_REDIR` always (Objecter::_prepare_osd_op).
    pub fn flags(&self) -> u32 {
        let rw = if self.is_write() {
            flag::WRITE | flag::ONDISK
        } else {
            flag::READ
        };
        rw | flag::KNOWN_REDIR | self.extra_flags
    }

    /// Payload bytes the request carries (what the bytes budget counts).
    pub fn data_len(&self) -> usize {
        self.ops.iter().map(|o| o.indata.len()).sum()
    }
}

/// The primary's answer to a request.
#[derive(Debug, Clone)]
pub struct OpReply {
    /// The reply's result (0 or a negative errno).
    pub result: i32,
    /// The ops with their `rval` and `outdata`.
    pub ops: Vec<OsdOp>,
    /// The object's user version after the op.
    pub user_version: u64,
    /// The OSD's map epoch when it replied.
    pub epoch: u32,
    /// The OSD that answered.
    pub osd: i32,
}

/// Why a request did not get a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// No reply within the per-op timeout (the op may or may not have been applied).
    #[error("no reply within {0:?} (op timeout)")]
    TimedOut(Duration),
    /// The pool is not in the osdmap.
    #[error("pool {0} does not exist in the osdmap")]
    NoPool(i64),
    /// The reply does not describe the request.
    #[error("reply from osd.{osd} has {got} ops, the request had {sent}")]
    OpCountMismatch {
        /// The OSD that replied.
        osd: i32,
        /// Ops in the request.
        sent: usize,
        /// Ops in the reply.
        got: usize,
    },
    /// The reply did not decode.
    #[error("reply from osd.{osd} does not decode: {why}")]
    BadReply {
        /// The OSD that replied.
        osd: i32,
        /// The decode error.
        why: String,
    },
    /// Resent more times than allowed (connections keep failing).
    #[error("gave up after {0} attempts")]
    TooManyAttempts(u32),
    /// The objecter is shutting down.
    #[error("objecter shut down with the op in flight")]
    Shutdown,
}

/// A finished request, returned by [`super::Objecter::poll_completion`].
#[derive(Debug)]
pub struct Completion {
    /// The application's token given at submit.
    pub token: u64,
    /// The tid the objecter gave the request.
    pub tid: u64,
    /// When it was submitted.
    pub submitted: Instant,
    /// How many times it was sent.
    pub attempts: u32,
    /// The reply, or why there is none.
    pub result: Result<OpReply, OpError>,
}
