//! Frame epilogues (reference section 3.2): the four variants and the late
//! status byte.
//!
//! | variant | layout | size |
//! |---|---|---|
//! | crc rev0 | u8 late_flags, le32 crc\[4\] | 17 |
//! | crc rev1 | u8 late_status, le32 crc\[3\] (segments 1..3) | 13 |
//! | secure rev0 | u8 late_flags, 15 zero bytes (then the GCM tag) | 16 |
//! | secure rev1 | u8 late_status, 15 zero bytes (then the GCM tag) | 16 |

#![deny(unsafe_code)]

use super::{DecodeError, Put, Revision};

/// msgr2.0 `late_flags` bit 0: the frame was aborted (reference 3.2).
pub const LATE_FLAG_ABORTED: u8 = 0x01;
/// msgr2.1 `late_status` for a complete frame, as senders put it (high nibble 0).
pub const LATE_STATUS_COMPLETE: u8 = 0x0E;
/// msgr2.1 `late_status` for an aborted frame.
pub const LATE_STATUS_ABORTED: u8 = 0x01;

/// The four epilogue layouts (reference 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpilogueKind {
    /// msgr2.0 crc: late_flags + 4 CRCs, 17 bytes.
    CrcRev0,
    /// msgr2.1 crc: late_status + CRCs of segments 1..3, 13 bytes.
    CrcRev1,
    /// msgr2.0 secure: late_flags + 15 zero bytes, 16 bytes (encrypted).
    SecureRev0,
    /// msgr2.1 secure: late_status + 15 zero bytes, 16 bytes (encrypted).
    SecureRev1,
}

impl EpilogueKind {
    /// The layout a connection of revision `rev` in crc or secure mode uses.
    pub fn new(rev: Revision, secure: bool) -> Self {
        match (rev, secure) {
            (Revision::V2_0, false) => EpilogueKind::CrcRev0,
            (Revision::V2_1, false) => EpilogueKind::CrcRev1,
            (Revision::V2_0, true) => EpilogueKind::SecureRev0,
            (Revision::V2_1, true) => EpilogueKind::SecureRev1,
        }
    }

    /// Bytes on the wire (excluding a GCM tag).
    pub const fn wire_len(self) -> usize {
        match self {
            EpilogueKind::CrcRev0 => 17,
            EpilogueKind::CrcRev1 => 13,
            EpilogueKind::SecureRev0 | EpilogueKind::SecureRev1 => 16,
        }
    }

    /// Number of CRC slots carried (4, 3, 0, 0).
    pub const fn crc_slots(self) -> usize {
        match self {
            EpilogueKind::CrcRev0 => 4,
            EpilogueKind::CrcRev1 => 3,
            EpilogueKind::SecureRev0 | EpilogueKind::SecureRev1 => 0,
        }
    }

    fn is_rev0(self) -> bool {
        matches!(self, EpilogueKind::CrcRev0 | EpilogueKind::SecureRev0)
    }
}

/// How the sender finished the frame (reference 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LateStatus {
    /// A normal frame.
    Complete,
    /// The sender revoked it mid-send; read, verify and drop it.
    Aborted,
}

/// Interprets the late byte: rev0 `late_flags` (bit 0 = aborted, other bits
/// ignored) or rev1 `late_status` (low nibble 0xE complete, 0x1 aborted;
/// anything else is returned as `Err(byte)`, a protocol error).
pub fn late_status(kind: EpilogueKind, byte: u8) -> Result<LateStatus, u8> {
    if kind.is_rev0() {
        return Ok(if byte & LATE_FLAG_ABORTED != 0 {
            LateStatus::Aborted
        } else {
            LateStatus::Complete
        });
    }
    match byte & 0x0F {
        0x0E => Ok(LateStatus::Complete),
        0x01 => Ok(LateStatus::Aborted),
        _ => Err(byte),
    }
}

/// A read-only view over epilogue bytes of a given kind.
#[derive(Debug, Clone)]
pub struct Epilogue<T: AsRef<[u8]>> {
    buffer: T,
    kind: EpilogueKind,
}

impl<T: AsRef<[u8]>> Epilogue<T> {
    /// Wraps `buffer` if it holds at least `kind.wire_len()` bytes.
    pub fn new_checked(buffer: T, kind: EpilogueKind) -> Result<Self, DecodeError> {
        let available = buffer.as_ref().len();
        if available < kind.wire_len() {
            return Err(DecodeError::Truncated {
                what: "epilogue",
                needed: kind.wire_len(),
                available,
            });
        }
        Ok(Epilogue { buffer, kind })
    }

    /// The layout.
    pub fn kind(&self) -> EpilogueKind {
        self.kind
    }

    /// The raw late_flags / late_status byte.
    pub fn late_byte(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }

    /// CRC slot `slot` (rev0: segment `slot`; rev1: segment `slot + 1`);
    /// `None` past the kind's slots.
    pub fn crc(&self, slot: usize) -> Option<u32> {
        if slot >= self.kind.crc_slots() {
            return None;
        }
        let at = 1 + 4 * slot;
        let b = self.buffer.as_ref().get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// An epilogue's content (reference 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpilogueRepr {
    /// The layout.
    pub kind: EpilogueKind,
    /// late_flags (rev0) or late_status (rev1).
    pub late: u8,
    /// CRC slots; only the first `kind.crc_slots()` are carried, the rest are 0.
    pub crc: [u32; 4],
}

impl EpilogueRepr {
    /// A complete (not aborted) epilogue with the given CRCs.
    pub fn complete(kind: EpilogueKind, crc: [u32; 4]) -> Self {
        let late = if kind.is_rev0() {
            0
        } else {
            LATE_STATUS_COMPLETE
        };
        EpilogueRepr { kind, late, crc }
    }

    /// Parses `buf` (at least `kind.wire_len()` bytes). Padding bytes are not checked.
    pub fn parse(kind: EpilogueKind, buf: &[u8]) -> Result<Self, DecodeError> {
        let v = Epilogue::new_checked(buf, kind)?;
        let mut crc = [0u32; 4];
        for (slot, c) in crc.iter_mut().enumerate() {
            *c = v.crc(slot).unwrap_or(0);
        }
        Ok(EpilogueRepr {
            kind,
            late: v.late_byte(),
            crc,
        })
    }

    /// The late status, or `Err(byte)` for a rev1 byte that is neither.
    pub fn status(&self) -> Result<LateStatus, u8> {
        late_status(self.kind, self.late)
    }

    /// Bytes [`EpilogueRepr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        self.kind.wire_len()
    }

    /// Appends the epilogue.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(self.late);
        match self.kind.crc_slots() {
            0 => out.put_slice(&[0u8; 15]),
            n => {
                for c in self.crc.iter().take(n) {
                    out.put_u32_le(*c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_golden_bytes() {
        for (kind, len) in [
            (EpilogueKind::CrcRev0, 17),
            (EpilogueKind::CrcRev1, 13),
            (EpilogueKind::SecureRev0, 16),
            (EpilogueKind::SecureRev1, 16),
        ] {
            let r = EpilogueRepr::complete(kind, [0xffff_ffff, 0, 0, 0]);
            let mut out = Vec::new();
            r.emit(&mut out);
            assert_eq!(out.len(), len);
            assert_eq!(r.buffer_len(), len);
            let back = EpilogueRepr::parse(kind, &out).unwrap();
            assert_eq!(back.status(), Ok(LateStatus::Complete));
            assert_eq!(back.late, r.late);
        }
        // WAIT rev0 crc epilogue from the reference: 00 ffffffff 0*12.
        let mut out = Vec::new();
        EpilogueRepr::complete(EpilogueKind::CrcRev0, [0xffff_ffff, 0, 0, 0]).emit(&mut out);
        assert_eq!(out[..5], [0, 0xff, 0xff, 0xff, 0xff]);
        assert!(out[5..].iter().all(|&b| b == 0));
    }

    #[test]
    fn late_status_rules() {
        use EpilogueKind::*;
        assert_eq!(late_status(CrcRev1, 0x0E), Ok(LateStatus::Complete));
        assert_eq!(late_status(CrcRev1, 0xEE), Ok(LateStatus::Complete));
        assert_eq!(late_status(SecureRev1, 0x11), Ok(LateStatus::Aborted));
        assert_eq!(late_status(CrcRev1, 0x00), Err(0x00));
        assert_eq!(late_status(SecureRev1, 0x0F), Err(0x0F));
        assert_eq!(late_status(CrcRev0, 0x00), Ok(LateStatus::Complete));
        assert_eq!(late_status(SecureRev0, 0x01), Ok(LateStatus::Aborted));
        assert!(Epilogue::new_checked(&[0u8; 12][..], CrcRev1).is_err());
    }
}
