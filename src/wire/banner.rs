//! The msgr2 banner (reference section 2): `"ceph v2\n"`, le16 payload length,
//! le64 supported and le64 required msgr2 feature bits.

#![deny(unsafe_code)]

use thiserror::Error;

use super::{Put, Revision};

/// The 8-byte msgr2 banner prefix (reference 2).
pub const BANNER_PREFIX: &[u8; 8] = b"ceph v2\n";
/// What a msgr1 peer sends instead (reference 2).
pub const MSGR1_PREFIX: &[u8; 9] = b"ceph v027";
/// The fixed part a receiver reads first: prefix plus le16 payload length.
pub const BANNER_HEAD_LEN: usize = 10;
/// The payload length this side sends: two le64 feature masks.
pub const BANNER_PAYLOAD_LEN: u16 = 16;
/// The whole banner as we send it: 26 bytes (reference 13).
pub const BANNER_LEN: usize = BANNER_HEAD_LEN + BANNER_PAYLOAD_LEN as usize;
/// The longest peer payload we tolerate (a newer peer may append fields).
pub const MAX_BANNER_PAYLOAD_LEN: u16 = 4096;

/// msgr2 feature bits carried in the banner (reference 2); their own namespace,
/// unrelated to the classic `CEPH_FEATURE_*` bits.
pub mod feature {
    /// msgr2.1 frame formats and the 64-bit GCM nonce counter.
    pub const REVISION_1: u64 = 1;
    /// On-wire compression (Quincy+; never advertised to Pacific).
    pub const COMPRESSION: u64 = 2;
}

/// Why a peer's banner is unacceptable (reference 2). Every case closes the
/// connection without sending a frame.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum BannerError {
    /// The peer is a msgr1 endpoint ("ceph v027"): point it at a msgr2 port (3300 for mons).
    #[error("peer speaks msgr1 (banner \"ceph v027\"); connect to its msgr2 address instead")]
    Msgr1Peer,
    /// The first bytes are not a Ceph banner at all.
    #[error("not a msgr2 peer: banner does not start with \"ceph v2\\n\"")]
    NotMsgr2,
    /// The payload length is below 16 or above our bound.
    #[error("banner payload length {len} outside {min}..={max}")]
    BadLength {
        /// The length the peer announced.
        len: u16,
        /// The smallest accepted (16).
        min: u16,
        /// The largest accepted.
        max: u16,
    },
    /// Fewer bytes than the banner needs were supplied.
    #[error("banner truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Total bytes needed so far.
        needed: usize,
        /// Bytes supplied.
        available: usize,
    },
    /// Feature negotiation failed. `ours_missing`: bits the peer requires that
    /// we do not support; `theirs_missing`: bits we require that the peer does
    /// not support.
    #[error(
        "msgr2 feature mismatch: peer requires {ours_missing:#x} that we lack, \
         we require {theirs_missing:#x} that the peer lacks"
    )]
    MissingFeatures {
        /// Peer-required bits we do not support.
        ours_missing: u64,
        /// Our required bits the peer does not support.
        theirs_missing: u64,
    },
}

/// A read-only view over banner bytes (reference 2), in the manner of
/// smoltcp's packet views. [`Banner::new_checked`] guarantees every accessor is
/// in bounds.
#[derive(Debug, Clone)]
pub struct Banner<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Banner<T> {
    /// Wraps `buffer`, checking the prefix, the length bounds and that the
    /// whole announced payload is present.
    pub fn new_checked(buffer: T) -> Result<Self, BannerError> {
        let total = banner_len(buffer.as_ref())?;
        let available = buffer.as_ref().len();
        if available < total {
            return Err(BannerError::Truncated {
                needed: total,
                available,
            });
        }
        Ok(Banner { buffer })
    }

    /// The announced payload length.
    pub fn payload_len(&self) -> u16 {
        le16_at(self.buffer.as_ref(), 8)
    }

    /// The peer's supported msgr2 features.
    pub fn supported(&self) -> u64 {
        le64_at(self.buffer.as_ref(), 10)
    }

    /// The peer's required msgr2 features.
    pub fn required(&self) -> u64 {
        le64_at(self.buffer.as_ref(), 18)
    }

    /// The banner's total length on the wire (10 + payload length).
    pub fn total_len(&self) -> usize {
        BANNER_HEAD_LEN + usize::from(self.payload_len())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

fn le16_at(b: &[u8], at: usize) -> u16 {
    let mut v = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        v.copy_from_slice(s);
    }
    u16::from_le_bytes(v)
}

fn le64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        v.copy_from_slice(s);
    }
    u64::from_le_bytes(v)
}

/// Looks at the first bytes of a peer banner and returns the banner's total
/// length (10 + payload length), so a driver can read exactly that much
/// (reference 2: "read the first 10 bytes ... then read payload length").
///
/// Distinguishes a msgr1 peer from garbage as soon as enough bytes are there;
/// with fewer than 10 bytes it reports [`BannerError::Truncated`].
pub fn banner_len(head: &[u8]) -> Result<usize, BannerError> {
    if head.starts_with(MSGR1_PREFIX) {
        return Err(BannerError::Msgr1Peer);
    }
    let is_prefix_of =
        |full: &[u8]| full.starts_with(head.get(..head.len().min(full.len())).unwrap_or(&[]));
    // A short head that could still become "ceph v027" waits for more bytes.
    let maybe_msgr1 = head.len() < MSGR1_PREFIX.len() && is_prefix_of(MSGR1_PREFIX);
    if !is_prefix_of(BANNER_PREFIX) && !maybe_msgr1 {
        return Err(BannerError::NotMsgr2);
    }
    if head.len() < BANNER_HEAD_LEN {
        return Err(BannerError::Truncated {
            needed: BANNER_HEAD_LEN,
            available: head.len(),
        });
    }
    let len = le16_at(head, 8);
    if !(BANNER_PAYLOAD_LEN..=MAX_BANNER_PAYLOAD_LEN).contains(&len) {
        return Err(BannerError::BadLength {
            len,
            min: BANNER_PAYLOAD_LEN,
            max: MAX_BANNER_PAYLOAD_LEN,
        });
    }
    Ok(BANNER_HEAD_LEN + usize::from(len))
}

/// A banner's content: the two msgr2 feature masks (reference 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BannerRepr {
    /// msgr2 features this side supports ([`feature`] bits).
    pub supported: u64,
    /// msgr2 features this side requires of the peer.
    pub required: u64,
}

impl BannerRepr {
    /// What Pacific sends: supported = REVISION_1, required = 0 (reference 2).
    pub const PACIFIC: BannerRepr = BannerRepr {
        supported: feature::REVISION_1,
        required: 0,
    };

    /// Parses a complete banner from the start of `buf` and returns it with
    /// the number of bytes it occupies (longer payloads are tolerated up to
    /// [`MAX_BANNER_PAYLOAD_LEN`]; extra payload bytes are ignored).
    pub fn parse(buf: &[u8]) -> Result<(BannerRepr, usize), BannerError> {
        let view = Banner::new_checked(buf)?;
        Ok((
            BannerRepr {
                supported: view.supported(),
                required: view.required(),
            },
            view.total_len(),
        ))
    }

    /// The length [`BannerRepr::emit`] writes: 26.
    pub const fn buffer_len(&self) -> usize {
        BANNER_LEN
    }

    /// Appends the 26-byte banner.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_slice(BANNER_PREFIX);
        out.put_u16_le(BANNER_PAYLOAD_LEN);
        out.put_u64_le(self.supported);
        out.put_u64_le(self.required);
    }

    /// Checks feature compatibility of our banner (`self`) with the peer's,
    /// and picks the frame revision (reference 2): msgr2.1 iff the peer
    /// advertised [`feature::REVISION_1`] and so did we. A Pacific peer talks
    /// msgr2.0 to a side that does not advertise it (checked live), so a side
    /// that leaves the bit out must speak msgr2.0 too.
    pub fn negotiate(&self, peer: &BannerRepr) -> Result<Revision, BannerError> {
        let ours_missing = peer.required & !self.supported;
        let theirs_missing = self.required & !peer.supported;
        if ours_missing != 0 || theirs_missing != 0 {
            return Err(BannerError::MissingFeatures {
                ours_missing,
                theirs_missing,
            });
        }
        Ok(
            if peer.supported & self.supported & feature::REVISION_1 != 0 {
                Revision::V2_1
            } else {
                Revision::V2_0
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACIFIC: &str = "636570682076320a100001000000000000000000000000000000";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn pacific_golden_bytes() {
        let bytes = hex(PACIFIC);
        let mut out = Vec::new();
        BannerRepr::PACIFIC.emit(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(out.len(), BannerRepr::PACIFIC.buffer_len());
        let (repr, used) = BannerRepr::parse(&bytes).unwrap();
        assert_eq!(repr, BannerRepr::PACIFIC);
        assert_eq!(used, 26);
        let v = Banner::new_checked(&bytes[..]).unwrap();
        assert_eq!((v.payload_len(), v.supported(), v.required()), (16, 1, 0));
    }

    #[test]
    fn longer_payload_is_tolerated_and_bounded() {
        let mut b = hex(PACIFIC);
        b[8] = 24;
        b.extend_from_slice(&[0xEE; 8]);
        b.push(0x77); // the next thing on the wire
        let (repr, used) = BannerRepr::parse(&b).unwrap();
        assert_eq!((repr, used), (BannerRepr::PACIFIC, 34));
        let mut b = hex(PACIFIC);
        b[8..10].copy_from_slice(&5000u16.to_le_bytes());
        assert!(matches!(
            BannerRepr::parse(&b),
            Err(BannerError::BadLength { len: 5000, .. })
        ));
        b[8..10].copy_from_slice(&15u16.to_le_bytes());
        assert!(matches!(
            BannerRepr::parse(&b),
            Err(BannerError::BadLength { len: 15, .. })
        ));
        // Announced but not yet arrived.
        let mut b = hex(PACIFIC);
        b[8] = 24;
        assert_eq!(
            BannerRepr::parse(&b),
            Err(BannerError::Truncated {
                needed: 34,
                available: 26
            })
        );
    }

    #[test]
    fn msgr1_and_garbage_are_told_apart() {
        assert_eq!(
            BannerRepr::parse(
                b"ceph v027\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
            ),
            Err(BannerError::Msgr1Peer)
        );
        assert_eq!(
            banner_len(b"GET / HTTP/1.1\r\n"),
            Err(BannerError::NotMsgr2)
        );
        assert_eq!(banner_len(b"ceph v3\n\x10\x00"), Err(BannerError::NotMsgr2));
        assert!(matches!(
            banner_len(b"ceph "),
            Err(BannerError::Truncated { .. })
        ));
        // Could still become "ceph v027": wait for more rather than misreport.
        assert!(matches!(
            banner_len(b"ceph v02"),
            Err(BannerError::Truncated { .. })
        ));
        assert_eq!(banner_len(&hex(PACIFIC)[..10]), Ok(26));
    }

    #[test]
    fn negotiation_picks_revision_and_checks_required() {
        let kernel = BannerRepr {
            supported: 1,
            required: 1,
        };
        let old = BannerRepr {
            supported: 0,
            required: 0,
        };
        assert_eq!(BannerRepr::PACIFIC.negotiate(&kernel), Ok(Revision::V2_1));
        assert_eq!(BannerRepr::PACIFIC.negotiate(&old), Ok(Revision::V2_0));
        // Not advertising REVISION_1 ourselves means msgr2.0, whatever the peer offers.
        assert_eq!(old.negotiate(&BannerRepr::PACIFIC), Ok(Revision::V2_0));
        assert_eq!(
            old.negotiate(&kernel),
            Err(BannerError::MissingFeatures {
                ours_missing: 1,
                theirs_missing: 0
            })
        );
        assert_eq!(
            kernel.negotiate(&old),
            Err(BannerError::MissingFeatures {
                ours_missing: 0,
                theirs_missing: 1
            })
        );
        let err = kernel.negotiate(&old).unwrap_err().to_string();
        assert!(err.contains("0x1"), "{err}");
    }
}
