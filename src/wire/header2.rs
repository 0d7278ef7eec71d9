//! `ceph_msg_header2`: segment 0 of a MESSAGE frame, 41 packed bytes
//! (msgr2 reference section 6; Ceph `src/include/msgr.h`).
//!
//! Two shapes, as in smoltcp: the [`MsgHeader2`] view over bytes and the
//! [`MsgHeader2Repr`] value.

use super::{DecodeError, Put};

/// `CEPH_MSG_PRIO_LOW`.
pub const PRIO_LOW: u16 = 64;
/// `CEPH_MSG_PRIO_DEFAULT`.
pub const PRIO_DEFAULT: u16 = 127;
/// `CEPH_MSG_PRIO_HIGH` (mon replies were observed with it, reference 6).
pub const PRIO_HIGH: u16 = 196;
/// `CEPH_MSG_PRIO_HIGHEST`.
pub const PRIO_HIGHEST: u16 = 255;

/// Footer flags userland puts in `header2.flags` (`CEPH_MSG_FOOTER_COMPLETE |
/// CEPH_MSG_FOOTER_NOCRC`, reference 6 and 11.18). Receivers ignore the field.
pub const FLAGS_USERLAND: u8 = 0x03;

mod field {
    use std::ops::Range;
    pub const SEQ: Range<usize> = 0..8;
    pub const TID: Range<usize> = 8..16;
    pub const TYPE: Range<usize> = 16..18;
    pub const PRIORITY: Range<usize> = 18..20;
    pub const VERSION: Range<usize> = 20..22;
    pub const DATA_PRE_PADDING_LEN: Range<usize> = 22..26;
    pub const DATA_OFF: Range<usize> = 26..28;
    pub const ACK_SEQ: Range<usize> = 28..36;
    pub const FLAGS: usize = 36;
    pub const COMPAT_VERSION: Range<usize> = 37..39;
    pub const RESERVED: Range<usize> = 39..41;
}

/// Length of `ceph_msg_header2`.
pub const HEADER2_LEN: usize = 41;

/// A read-only view of a `ceph_msg_header2` in a buffer of exactly 41 bytes.
#[derive(Debug, Clone, Copy)]
pub struct MsgHeader2<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> MsgHeader2<T> {
    /// Wraps `buf`, which must be exactly [`HEADER2_LEN`] bytes (segment 0 of
    /// a MESSAGE frame has no other content).
    pub fn new_checked(buf: T) -> Result<Self, DecodeError> {
        let len = buf.as_ref().len();
        if len < HEADER2_LEN {
            return Err(DecodeError::Truncated {
                what: "ceph_msg_header2",
                needed: HEADER2_LEN,
                available: len,
            });
        }
        if len > HEADER2_LEN {
            return Err(DecodeError::Trailing {
                what: "ceph_msg_header2",
                trailing: len - HEADER2_LEN,
            });
        }
        Ok(MsgHeader2 { buf })
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buf
    }

    fn arr<const N: usize>(&self, r: std::ops::Range<usize>) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf.as_ref()[r]);
        out
    }

    /// Per-session message sequence number.
    pub fn seq(&self) -> u64 {
        u64::from_le_bytes(self.arr(field::SEQ))
    }
    /// Transaction id.
    pub fn tid(&self) -> u64 {
        u64::from_le_bytes(self.arr(field::TID))
    }
    /// Message type (`crate::msg::types`).
    pub fn ty(&self) -> u16 {
        u16::from_le_bytes(self.arr(field::TYPE))
    }
    /// Priority (`PRIO_*`).
    pub fn priority(&self) -> u16 {
        u16::from_le_bytes(self.arr(field::PRIORITY))
    }
    /// Payload encoding version.
    pub fn version(&self) -> u16 {
        u16::from_le_bytes(self.arr(field::VERSION))
    }
    /// Unused, always 0.
    pub fn data_pre_padding_len(&self) -> u32 {
        u32::from_le_bytes(self.arr(field::DATA_PRE_PADDING_LEN))
    }
    /// Data offset hint.
    pub fn data_off(&self) -> u16 {
        u16::from_le_bytes(self.arr(field::DATA_OFF))
    }
    /// Piggy-backed ACK: the sender's in_seq.
    pub fn ack_seq(&self) -> u64 {
        u64::from_le_bytes(self.arr(field::ACK_SEQ))
    }
    /// Footer flags (0x03 from userland, 0 from the kernel; ignore).
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[field::FLAGS]
    }
    /// Oldest decoder version able to read the payload.
    pub fn compat_version(&self) -> u16 {
        u16::from_le_bytes(self.arr(field::COMPAT_VERSION))
    }
    /// Reserved, 0.
    pub fn reserved(&self) -> u16 {
        u16::from_le_bytes(self.arr(field::RESERVED))
    }
}

/// The decoded fields of `ceph_msg_header2` (reference section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MsgHeader2Repr {
    /// Per-session message sequence number (first message = 1).
    pub seq: u64,
    /// Transaction id (0 if unused).
    pub tid: u64,
    /// Message type.
    pub ty: u16,
    /// Priority (`PRIO_*`).
    pub priority: u16,
    /// Payload encoding version.
    pub version: u16,
    /// Always 0.
    pub data_pre_padding_len: u32,
    /// Data offset hint.
    pub data_off: u16,
    /// Piggy-backed ACK.
    pub ack_seq: u64,
    /// Footer flags (`FLAGS_USERLAND` when sending as userland does).
    pub flags: u8,
    /// Oldest decoder version.
    pub compat_version: u16,
    /// Reserved, 0.
    pub reserved: u16,
}

impl MsgHeader2Repr {
    /// Reads every field from a checked view.
    pub fn from_view<T: AsRef<[u8]>>(h: &MsgHeader2<T>) -> Self {
        MsgHeader2Repr {
            seq: h.seq(),
            tid: h.tid(),
            ty: h.ty(),
            priority: h.priority(),
            version: h.version(),
            data_pre_padding_len: h.data_pre_padding_len(),
            data_off: h.data_off(),
            ack_seq: h.ack_seq(),
            flags: h.flags(),
            compat_version: h.compat_version(),
            reserved: h.reserved(),
        }
    }

    /// Parses exactly 41 bytes.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self::from_view(&MsgHeader2::new_checked(buf)?))
    }

    /// Always [`HEADER2_LEN`].
    pub fn buffer_len(&self) -> usize {
        HEADER2_LEN
    }

    /// Appends the 41-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.seq);
        out.put_u64_le(self.tid);
        out.put_u16_le(self.ty);
        out.put_u16_le(self.priority);
        out.put_u16_le(self.version);
        out.put_u32_le(self.data_pre_padding_len);
        out.put_u16_le(self.data_off);
        out.put_u64_le(self.ack_seq);
        out.put_u8(self.flags);
        out.put_u16_le(self.compat_version);
        out.put_u16_le(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_from_message_vector() {
        // test-vectors.txt msg_rev1_crc: header2 follows the 32-byte preamble.
        let h = [
            0x01, 0, 0, 0, 0, 0, 0, 0, // seq 1
            0, 0, 0, 0, 0, 0, 0, 0, // tid 0
            0x13, 0x00, // type 19 MON_GET_VERSION
            0x7f, 0x00, // prio 127
            0x01, 0x00, // version 1
            0, 0, 0, 0, // pre-padding
            0, 0, // data_off
            0, 0, 0, 0, 0, 0, 0, 0,    // ack_seq
            0x00, // flags
            0x01, 0x00, // compat 1
            0, 0, // reserved
        ];
        let r = MsgHeader2Repr::parse(&h).unwrap();
        assert_eq!(r.seq, 1);
        assert_eq!(r.ty, 19);
        assert_eq!(r.priority, PRIO_DEFAULT);
        assert_eq!(r.version, 1);
        assert_eq!(r.compat_version, 1);
        let mut out = Vec::new();
        r.emit(&mut out);
        assert_eq!(out, h);
        for cut in 0..HEADER2_LEN {
            assert!(MsgHeader2Repr::parse(&h[..cut]).is_err());
        }
        let mut long = h.to_vec();
        long.push(0);
        assert!(matches!(
            MsgHeader2Repr::parse(&long),
            Err(DecodeError::Trailing { .. })
        ));
    }

    proptest! {
        #[test]
        fn round_trips(seq: u64, tid: u64, ty: u16, priority: u16, version: u16,
                       pad: u32, data_off: u16, ack_seq: u64, flags: u8, compat: u16, res: u16) {
            let r = MsgHeader2Repr { seq, tid, ty, priority, version, data_pre_padding_len: pad,
                data_off, ack_seq, flags, compat_version: compat, reserved: res };
            let mut out = Vec::new();
            r.emit(&mut out);
            prop_assert_eq!(out.len(), r.buffer_len());
            prop_assert_eq!(MsgHeader2Repr::parse(&out).unwrap(), r);
        }
    }
}
