//! The 32-byte frame preamble (reference section 3.1).
//!
//! ```text
//!  0 u8 tag | 1 u8 num_segments | 4 x (le32 length, le16 alignment) at 2, 8, 14, 20
//! 26 2 B reserved (Quincy+: byte 26 = flags) | 28 le32 crc = ceph_crc32c(0, bytes 0..28)
//! ```

#![deny(unsafe_code)]

use thiserror::Error;

use super::DecodeError;
use crate::checksum::ceph_crc32c;

/// Preamble length in every mode (reference 3.1).
pub const PREAMBLE_LEN: usize = 32;
/// Most segments a frame can have (reference 3.1).
pub const MAX_SEGMENTS: usize = 4;
/// Offset of the preamble CRC; it covers bytes `0..28`.
const CRC_OFFSET: usize = 28;

/// Why a preamble is invalid (reference 3.1). Checked in every mode; in secure
/// mode after decryption.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum PreambleError {
    /// The CRC in the preamble does not match its bytes.
    #[error("preamble crc mismatch: preamble carries {expected:#010x}, computed {got:#010x}")]
    Crc {
        /// The value carried in bytes 28..32.
        expected: u32,
        /// `ceph_crc32c(0, bytes 0..28)` of what arrived.
        got: u32,
    },
    /// `num_segments` is 0 or above 4.
    #[error("preamble announces {0} segments; must be 1..=4")]
    SegmentCount(u8),
    /// With more than one segment, the last one must be non-empty.
    #[error("preamble's last segment is empty (num_segments must end at the last non-empty one)")]
    EmptyLastSegment,
    /// A descriptor slot past `num_segments` is not all zero.
    #[error("preamble segment slot {index} is past num_segments but not zero")]
    UnusedSlotNotZero {
        /// The slot index (1..=3).
        index: usize,
    },
    /// Tag 0 is never valid.
    #[error("preamble tag is 0")]
    TagZero,
}

/// A read-only view over preamble bytes, in the manner of smoltcp's packet
/// views: [`Preamble::new_checked`] guarantees every accessor is in bounds.
#[derive(Debug, Clone)]
pub struct Preamble<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Preamble<T> {
    /// Wraps `buffer` if it holds at least 32 bytes (only the first 32 are read).
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let available = buffer.as_ref().len();
        if available < PREAMBLE_LEN {
            return Err(DecodeError::Truncated {
                what: "preamble",
                needed: PREAMBLE_LEN,
                available,
            });
        }
        Ok(Preamble { buffer })
    }

    fn bytes(&self) -> [u8; PREAMBLE_LEN] {
        let mut b = [0u8; PREAMBLE_LEN];
        if let Some(s) = self.buffer.as_ref().get(..PREAMBLE_LEN) {
            b.copy_from_slice(s);
        }
        b
    }

    /// The frame tag (reference 5).
    pub fn tag(&self) -> u8 {
        self.bytes()[0]
    }

    /// The announced segment count (unvalidated).
    pub fn num_segments(&self) -> u8 {
        self.bytes()[1]
    }

    /// Segment `index`'s logical length; 0 for `index >= 4`.
    pub fn segment_len(&self, index: usize) -> u32 {
        let b = self.bytes();
        match index {
            0..=3 => {
                let at = 2 + 6 * index;
                u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
            }
            _ => 0,
        }
    }

    /// Segment `index`'s alignment hint; 0 for `index >= 4`.
    pub fn segment_align(&self, index: usize) -> u16 {
        let b = self.bytes();
        match index {
            0..=3 => {
                let at = 6 + 6 * index;
                u16::from_le_bytes([b[at], b[at + 1]])
            }
            _ => 0,
        }
    }

    /// Byte 26: zero in Pacific; Quincy+ compression flags.
    pub fn flags(&self) -> u8 {
        self.bytes()[26]
    }

    /// The CRC carried in bytes 28..32.
    pub fn crc(&self) -> u32 {
        let b = self.bytes();
        u32::from_le_bytes([b[28], b[29], b[30], b[31]])
    }

    /// `ceph_crc32c(0, bytes 0..28)` over what is there.
    pub fn computed_crc(&self) -> u32 {
        ceph_crc32c(0, &self.bytes()[..CRC_OFFSET])
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// One segment descriptor (reference 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SegmentDesc {
    /// Logical (unpadded) length.
    pub len: u32,
    /// Receiver allocation hint (8 or 4096 as sent; never rejected).
    pub align: u16,
}

/// A validated preamble (reference 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PreambleRepr {
    /// The frame tag, never 0. Kept raw: the caller decides what an unknown tag means.
    pub tag: u8,
    /// 1..=4; slots at or past it are zero.
    pub num_segments: u8,
    /// The four descriptor slots.
    pub segments: [SegmentDesc; MAX_SEGMENTS],
}

impl PreambleRepr {
    /// Validates a preamble: CRC first, then tag != 0, `num_segments` in 1..=4,
    /// unused slots zero, and (for n > 1) a non-empty last segment.
    pub fn parse<T: AsRef<[u8]>>(p: &Preamble<T>) -> Result<PreambleRepr, PreambleError> {
        let (expected, got) = (p.crc(), p.computed_crc());
        if expected != got {
            return Err(PreambleError::Crc { expected, got });
        }
        if p.tag() == 0 {
            return Err(PreambleError::TagZero);
        }
        let n = p.num_segments();
        if n == 0 || usize::from(n) > MAX_SEGMENTS {
            return Err(PreambleError::SegmentCount(n));
        }
        let mut segments = [SegmentDesc::default(); MAX_SEGMENTS];
        for (i, s) in segments.iter_mut().enumerate() {
            *s = SegmentDesc {
                len: p.segment_len(i),
                align: p.segment_align(i),
            };
            if i >= usize::from(n) && (s.len != 0 || s.align != 0) {
                return Err(PreambleError::UnusedSlotNotZero { index: i });
            }
        }
        if n > 1 && segments[usize::from(n) - 1].len == 0 {
            return Err(PreambleError::EmptyLastSegment);
        }
        Ok(PreambleRepr {
            tag: p.tag(),
            num_segments: n,
            segments,
        })
    }

    /// The used descriptors.
    pub fn used(&self) -> &[SegmentDesc] {
        self.segments
            .get(..usize::from(self.num_segments))
            .unwrap_or(&self.segments)
    }

    /// The length [`PreambleRepr::emit`] writes: 32.
    pub const fn buffer_len(&self) -> usize {
        PREAMBLE_LEN
    }

    /// Writes the 32 bytes, computing the CRC. Reserved bytes are zero.
    pub fn emit(&self, buf: &mut [u8; PREAMBLE_LEN]) {
        buf.fill(0);
        buf[0] = self.tag;
        buf[1] = self.num_segments;
        for (i, s) in self.segments.iter().enumerate() {
            let at = 2 + 6 * i;
            buf[at..at + 4].copy_from_slice(&s.len.to_le_bytes());
            buf[at + 4..at + 6].copy_from_slice(&s.align.to_le_bytes());
        }
        let crc = ceph_crc32c(0, &buf[..CRC_OFFSET]);
        buf[CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const KEEPALIVE2: &str = "12010800000008000000000000000000000000000000000000000000d8d5f599";

    fn repr(n: u8, lens: [u32; 4]) -> PreambleRepr {
        let mut segments = [SegmentDesc::default(); 4];
        for i in 0..usize::from(n) {
            segments[i] = SegmentDesc {
                len: lens[i],
                align: 8,
            };
        }
        PreambleRepr {
            tag: 17,
            num_segments: n,
            segments,
        }
    }

    fn emit(r: &PreambleRepr) -> [u8; 32] {
        let mut b = [0u8; 32];
        r.emit(&mut b);
        b
    }

    #[test]
    fn keepalive2_golden() {
        let bytes = hex(KEEPALIVE2);
        let p = Preamble::new_checked(&bytes[..]).unwrap();
        assert_eq!((p.tag(), p.num_segments(), p.segment_len(0)), (18, 1, 8));
        assert_eq!(p.segment_align(0), 8);
        let r = PreambleRepr::parse(&p).unwrap();
        assert_eq!(r.used().len(), 1);
        assert_eq!(emit(&r).to_vec(), bytes);
    }

    #[test]
    fn rejects_bad_preambles() {
        let mut b = hex(KEEPALIVE2);
        b[5] ^= 0x10;
        let p = Preamble::new_checked(&b[..]).unwrap();
        assert!(matches!(
            PreambleRepr::parse(&p),
            Err(PreambleError::Crc {
                expected: 0x99f5d5d8,
                ..
            })
        ));
        for n in [0u8, 5] {
            let b = emit(&repr(n.min(4), [1, 1, 1, 1]));
            let mut b = b;
            b[1] = n;
            let crc = ceph_crc32c(0, &b[..28]);
            b[28..].copy_from_slice(&crc.to_le_bytes());
            let p = Preamble::new_checked(&b).unwrap();
            assert_eq!(PreambleRepr::parse(&p), Err(PreambleError::SegmentCount(n)));
        }
        let b = emit(&repr(3, [41, 5, 0, 0]));
        assert_eq!(
            PreambleRepr::parse(&Preamble::new_checked(&b).unwrap()),
            Err(PreambleError::EmptyLastSegment)
        );
        let mut r = repr(2, [41, 5, 0, 0]);
        r.segments[3].align = 8;
        let b = emit(&r);
        assert_eq!(
            PreambleRepr::parse(&Preamble::new_checked(&b).unwrap()),
            Err(PreambleError::UnusedSlotNotZero { index: 3 })
        );
        let mut r = repr(1, [0, 0, 0, 0]);
        r.tag = 0;
        let b = emit(&r);
        assert_eq!(
            PreambleRepr::parse(&Preamble::new_checked(&b).unwrap()),
            Err(PreambleError::TagZero)
        );
        assert!(Preamble::new_checked(&b[..31]).is_err());
    }
}
