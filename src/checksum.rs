//! Ceph's CRC32-C flavour (msgr2 reference section 1.4): the leaf module
//! under both [`crate::wire`] (preamble crc) and the frame codec, imports
//! nothing from the crate.
//!
//! Ceph's `ceph_crc32c(seed, data)` is the reflected Castagnoli CRC with no pre-
//! or post-inversion: the register starts at `seed` and the raw register is the
//! result. With a standard library, `ceph(s, d) = !crc32c_append(!s, d)`.

/// One CRC32-C backend, in Ceph's flavour. Implemented by each candidate so
/// the micro-benchmark can compare them; [`ceph_crc32c`] uses [`DefaultCrc32c`].
pub trait Crc32cImpl {
    /// A short name for benchmark output.
    const NAME: &'static str;
    /// `ceph_crc32c(seed, data)` as defined in reference section 1.4.
    fn ceph_crc32c(seed: u32, data: &[u8]) -> u32;
}

/// The `crc32c` crate (SSE4.2 `crc32` instruction, three streams in parallel,
/// runtime-detected; portable fallback).
#[cfg(feature = "crc-crc32c")]
#[derive(Debug, Clone, Copy)]
pub struct Crc32cCrate;

#[cfg(feature = "crc-crc32c")]
impl Crc32cImpl for Crc32cCrate {
    const NAME: &'static str = "crc32c";
    #[inline]
    fn ceph_crc32c(seed: u32, data: &[u8]) -> u32 {
        !crc32c::crc32c_append(!seed, data)
    }
}

/// The `crc-fast` crate (carry-less multiply folding, runtime-detected).
#[derive(Debug, Clone, Copy)]
pub struct CrcFast;

impl Crc32cImpl for CrcFast {
    const NAME: &'static str = "crc-fast";
    #[inline]
    fn ceph_crc32c(seed: u32, data: &[u8]) -> u32 {
        // The digest state is the raw reflected register; `finalize` applies
        // the standard xorout of !0, which Ceph's flavour does not.
        let mut d =
            crc_fast::Digest::new_with_init_state(crc_fast::CrcAlgorithm::Crc32Iscsi, seed.into());
        d.update(data);
        !(d.finalize() as u32)
    }
}

/// The backend [`ceph_crc32c`] uses, chosen by `bench/src/bin/crypto.rs`.
pub type DefaultCrc32c = CrcFast;

/// Ceph's `ceph_crc32c(seed, data)`: no pre- or post-inversion (reference 1.4).
///
/// Frames use seed 0 for the preamble and seed `0xFFFFFFFF` for segments
/// (reference 3.1, 3.2, pitfall 11.1).
#[inline]
pub fn ceph_crc32c(seed: u32, data: &[u8]) -> u32 {
    DefaultCrc32c::ceph_crc32c(seed, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors<C: Crc32cImpl>() {
        assert_eq!(C::ceph_crc32c(0, b"foo bar baz"), 4119623852, "{}", C::NAME);
        assert_eq!(C::ceph_crc32c(1234, b"foo bar baz"), 881700046);
        assert_eq!(C::ceph_crc32c(0, b"whiz bang boom"), 2360230088);
        assert_eq!(C::ceph_crc32c(5678, b"whiz bang boom"), 3743019208);
        assert_eq!(C::ceph_crc32c(0xFFFF_FFFF, b"123456789"), 0x1cf96d7c);
        assert_eq!(C::ceph_crc32c(0xFFFF_FFFF, b""), 0xFFFF_FFFF);
        // Appending in pieces equals one pass (the seed chains).
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = C::ceph_crc32c(0xFFFF_FFFF, &data);
        let (a, b) = data.split_at(3333);
        assert_eq!(C::ceph_crc32c(C::ceph_crc32c(0xFFFF_FFFF, a), b), whole);
    }

    /// Bit-at-a-time reference: reflected poly 0x82F63B78, no inversion.
    fn bitwise(seed: u32, data: &[u8]) -> u32 {
        let mut crc = seed;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82F6_3B78
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn reference_vectors_default() {
        vectors::<DefaultCrc32c>();
        assert_eq!(ceph_crc32c(0, b"foo bar baz"), 4119623852);
        // Every length around the SIMD block boundaries, odd seeds.
        let data: Vec<u8> = (0..1100u32).map(|i| (i * 13 + 1) as u8).collect();
        for len in (0..300).chain([511, 512, 513, 1023, 1024, 1100]) {
            let seed = 0x9E37_79B9u32.wrapping_mul(len as u32 + 1);
            assert_eq!(
                ceph_crc32c(seed, &data[..len]),
                bitwise(seed, &data[..len]),
                "len {len}"
            );
        }
    }

    #[test]
    fn reference_vectors_crc_fast() {
        vectors::<CrcFast>();
    }

    #[cfg(feature = "crc-crc32c")]
    #[test]
    fn reference_vectors_crc32c_crate() {
        vectors::<Crc32cCrate>();
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 13) as u8).collect();
        assert_eq!(
            CrcFast::ceph_crc32c(0x1234_5678, &data),
            Crc32cCrate::ceph_crc32c(0x1234_5678, &data)
        );
    }
}
