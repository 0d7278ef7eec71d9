//! `utime_t` / `ceph_timespec`: le32 seconds + le32 nanoseconds (msgr2
//! reference section 1.1; Ceph `src/include/utime.h`).

use std::time::Duration;

use super::{DecodeError, Put, Reader};

/// A Ceph timestamp or duration: 8 bytes on the wire.
///
/// Keepalive stamps carry the sender's clock (reference 9); receivers echo
/// them unchanged, so no normalisation happens on decode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UTime {
    /// Seconds (since the Unix epoch for wall-clock stamps).
    pub sec: u32,
    /// Nanoseconds; normally below 1e9, but echoed as received.
    pub nsec: u32,
}

impl UTime {
    /// Encoded size.
    pub const LEN: usize = 8;

    /// A timestamp of `sec` seconds and `nsec` nanoseconds.
    pub const fn new(sec: u32, nsec: u32) -> Self {
        UTime { sec, nsec }
    }

    /// Decodes 8 bytes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(UTime {
            sec: r.u32_le()?,
            nsec: r.u32_le()?,
        })
    }

    /// Encoded size (always 8).
    pub fn buffer_len(&self) -> usize {
        Self::LEN
    }

    /// Appends the 8-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32_le(self.sec);
        out.put_u32_le(self.nsec);
    }

    /// The value as a `Duration` (nanoseconds beyond 1e9 carry into seconds).
    pub fn to_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.sec)) + Duration::from_nanos(u64::from(self.nsec))
    }

    /// Zero, which Ceph treats as "unset".
    pub const ZERO: UTime = UTime { sec: 0, nsec: 0 };

    /// Whole seconds.
    pub const fn from_secs(sec: u32) -> Self {
        UTime { sec, nsec: 0 }
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self == UTime::ZERO
    }

    /// `self + d`, saturating at the largest representable time.
    pub fn saturating_add(self, d: UTime) -> UTime {
        let nsec = u64::from(self.nsec % 1_000_000_000) + u64::from(d.nsec % 1_000_000_000);
        let carry = u32::from(nsec >= 1_000_000_000);
        let nsec = (nsec % 1_000_000_000) as u32;
        match self
            .sec
            .checked_add(d.sec)
            .and_then(|s| s.checked_add(carry))
        {
            Some(sec) => UTime { sec, nsec },
            None => UTime {
                sec: u32::MAX,
                nsec: 999_999_999,
            },
        }
    }

    /// `self - d`, saturating at zero.
    pub fn saturating_sub(self, d: UTime) -> UTime {
        let a = u64::from(self.sec) * 1_000_000_000 + u64::from(self.nsec % 1_000_000_000);
        let b = u64::from(d.sec) * 1_000_000_000 + u64::from(d.nsec % 1_000_000_000);
        let r = a.saturating_sub(b);
        UTime {
            sec: (r / 1_000_000_000) as u32,
            nsec: (r % 1_000_000_000) as u32,
        }
    }

    /// A quarter of this duration (tickets are renewed after 3/4 of their validity).
    pub fn quarter(self) -> UTime {
        let a = u64::from(self.sec) * 1_000_000_000 + u64::from(self.nsec % 1_000_000_000);
        let q = a / 4;
        UTime {
            sec: (q / 1_000_000_000) as u32,
            nsec: (q % 1_000_000_000) as u32,
        }
    }

    /// Converts a wall-clock time (for drivers building a [`Clock`]).
    pub fn from_system(t: std::time::SystemTime) -> UTime {
        let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        UTime {
            sec: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
            nsec: d.subsec_nanos(),
        }
    }

    /// Converts a `Duration` (for example time since the Unix epoch), saturating
    /// the seconds at `u32::MAX` (year 2106).
    pub fn from_duration(d: Duration) -> Self {
        UTime {
            sec: u32::try_from(d.as_secs()).unwrap_or(u32::MAX),
            nsec: d.subsec_nanos(),
        }
    }
}

impl From<Duration> for UTime {
    fn from(d: Duration) -> Self {
        Self::from_duration(d)
    }
}

impl From<UTime> for Duration {
    fn from(t: UTime) -> Self {
        t.to_duration()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_keepalive_vector() {
        // reference 3.9: KEEPALIVE2 payload utime {sec=1, nsec=2}
        let t = UTime::new(1, 2);
        let mut v = Vec::new();
        t.emit(&mut v);
        assert_eq!(v, [1, 0, 0, 0, 2, 0, 0, 0]);
        let mut r = Reader::new(&v, "t");
        assert_eq!(UTime::parse(&mut r).unwrap(), t);
        r.expect_end().unwrap();
        for cut in 0..8 {
            assert!(UTime::parse(&mut Reader::new(&v[..cut], "t")).is_err());
        }
    }

    #[test]
    fn duration_conversions() {
        let d = Duration::new(5, 7);
        assert_eq!(UTime::from(d), UTime::new(5, 7));
        assert_eq!(Duration::from(UTime::new(5, 7)), d);
        assert_eq!(
            UTime::new(1, 1_500_000_000).to_duration(),
            Duration::new(2, 500_000_000)
        );
        assert_eq!(UTime::from(Duration::from_secs(u64::MAX)).sec, u32::MAX);
    }
}
