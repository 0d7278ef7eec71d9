//! A Ceph message as the connection carries it (msgr2 reference section 6).

use bytes::Bytes;

/// Default message priority (`CEPH_MSG_PRIO_DEFAULT`).
pub const PRIO_DEFAULT: u16 = 127;
/// High message priority (`CEPH_MSG_PRIO_HIGH`).
pub const PRIO_HIGH: u16 = 196;

/// userland's msgr1 footer flags (COMPLETE | NOCRC), sent in header2.flags (reference 11.18).
pub const HEADER2_FLAGS_USERLAND: u8 = 0x03;

/// One Ceph message: the header fields a sender chooses and its three payloads.
///
/// `seq` and `ack_seq` are assigned by the connection when it sends. The
/// payloads are refcounted, so a lossless connection keeps a message for
/// replay without copying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message type (`CEPH_MSG_*`, `MSG_*`).
    pub ty: u16,
    /// Transaction id, 0 if unused.
    pub tid: u64,
    /// Priority (127 default).
    pub priority: u16,
    /// Payload encoding version.
    pub version: u16,
    /// Oldest decoder version that understands the payload.
    pub compat_version: u16,
    /// Data offset hint.
    pub data_off: u16,
    /// Sequence number: assigned on send; the peer's value on receive.
    pub seq: u64,
    /// Front payload (segment 1).
    pub front: Bytes,
    /// Middle payload (segment 2).
    pub middle: Bytes,
    /// Data payload (segment 3).
    pub data: Bytes,
}

impl Message {
    /// A message of type `ty` with encoding `version` (= compat) and a front payload.
    pub fn new(ty: u16, version: u16, front: impl Into<Bytes>) -> Self {
        Message {
            ty,
            tid: 0,
            priority: PRIO_DEFAULT,
            version,
            compat_version: version,
            data_off: 0,
            seq: 0,
            front: front.into(),
            middle: Bytes::new(),
            data: Bytes::new(),
        }
    }

    /// Sets the data payload.
    pub fn with_data(mut self, data: impl Into<Bytes>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets the transaction id.
    pub fn with_tid(mut self, tid: u64) -> Self {
        self.tid = tid;
        self
    }

    /// Total payload bytes (front + middle + data).
    pub fn payload_len(&self) -> usize {
        self.front.len() + self.middle.len() + self.data.len()
    }
}
