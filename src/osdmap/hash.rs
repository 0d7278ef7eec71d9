//! Ceph's hash functions: the object-name hashes of `src/common/ceph_hash.cc`
//! (object → placement seed) and CRUSH's `rjenkins1` integer hashes of
//! `src/crush/hash.c` (every pseudo-random draw the mapper makes).
//!
//! All arithmetic is on `u32` and wraps, as the C code's unsigned arithmetic does.

/// `CEPH_STR_HASH_LINUX` (`src/include/ceph_hash.h`): the Linux dcache hash.
pub const CEPH_STR_HASH_LINUX: u8 = 1;
/// `CEPH_STR_HASH_RJENKINS` (`src/include/ceph_hash.h`): Robert Jenkins' hash,
/// what every Ceph pool uses for object names.
pub const CEPH_STR_HASH_RJENKINS: u8 = 2;

/// `CRUSH_HASH_RJENKINS1` (`src/crush/hash.h`): the only CRUSH hash type.
pub const CRUSH_HASH_RJENKINS1: u8 = 0;

/// Robert Jenkins' 96-bit mix, the `mix` macro of `ceph_hash.cc` and
/// `crush_hashmix` of `hash.c` (the two are the same). A macro rather than a
/// function so that unoptimized test builds, which place millions of
/// inputs against crushtool, do not pay a call per mix.
macro_rules! mix {
    ($a:ident, $b:ident, $c:ident) => {
        $a = $a.wrapping_sub($b).wrapping_sub($c) ^ ($c >> 13);
        $b = $b.wrapping_sub($c).wrapping_sub($a) ^ ($a << 8);
        $c = $c.wrapping_sub($a).wrapping_sub($b) ^ ($b >> 13);
        $a = $a.wrapping_sub($b).wrapping_sub($c) ^ ($c >> 12);
        $b = $b.wrapping_sub($c).wrapping_sub($a) ^ ($a << 16);
        $c = $c.wrapping_sub($a).wrapping_sub($b) ^ ($b >> 5);
        $a = $a.wrapping_sub($b).wrapping_sub($c) ^ ($c >> 3);
        $b = $b.wrapping_sub($c).wrapping_sub($a) ^ ($a << 10);
        $c = $c.wrapping_sub($a).wrapping_sub($b) ^ ($b >> 15);
    };
}

/// Little-endian word from up to four bytes (missing bytes count as zero).
fn word(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .enumerate()
        .fold(0u32, |w, (i, &b)| w | (u32::from(b) << (8 * i)))
}

/// `ceph_str_hash_rjenkins` (`src/common/ceph_hash.cc`): the hash of an
/// object name that `ceph osd map` prints as the raw placement seed.
pub fn ceph_str_hash_rjenkins(data: &[u8]) -> u32 {
    let mut a: u32 = 0x9e37_79b9;
    let mut b: u32 = a;
    let mut c: u32 = 0;
    let mut chunks = data.chunks_exact(12);
    for k in &mut chunks {
        a = a.wrapping_add(word(&k[0..4]));
        b = b.wrapping_add(word(&k[4..8]));
        c = c.wrapping_add(word(&k[8..12]));
        mix!(a, b, c);
    }
    let tail = chunks.remainder();
    // The C code adds the length as a u32 (`unsigned length`), so it wraps.
    c = c.wrapping_add(data.len() as u32);
    // The last 11 bytes: a takes bytes 0..4, b 4..8, c 8..11 shifted up one
    // byte, because c's low byte is reserved for the length.
    a = a.wrapping_add(word(tail.get(0..tail.len().min(4)).unwrap_or(&[])));
    if tail.len() > 4 {
        b = b.wrapping_add(word(tail.get(4..tail.len().min(8)).unwrap_or(&[])));
    }
    if tail.len() > 8 {
        c = c.wrapping_add(word(tail.get(8..).unwrap_or(&[])) << 8);
    }
    mix!(a, b, c);
    c
}

/// `ceph_str_hash_linux` (`src/common/ceph_hash.cc`): the Linux dcache hash.
pub fn ceph_str_hash_linux(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |hash, &c| {
        let c = u32::from(c);
        hash.wrapping_add(c << 4)
            .wrapping_add(c >> 4)
            .wrapping_mul(11)
    })
}

/// `ceph_str_hash` (`src/common/ceph_hash.cc`): the pool's object hash by its
/// type ([`CEPH_STR_HASH_LINUX`] or [`CEPH_STR_HASH_RJENKINS`]); `None` for
/// any other type (where Ceph returns -1).
pub fn ceph_str_hash(hash_type: u8, data: &[u8]) -> Option<u32> {
    match hash_type {
        CEPH_STR_HASH_LINUX => Some(ceph_str_hash_linux(data)),
        CEPH_STR_HASH_RJENKINS => Some(ceph_str_hash_rjenkins(data)),
        _ => None,
    }
}

const CRUSH_HASH_SEED: u32 = 1_315_423_911;
const X0: u32 = 231_232;
const Y0: u32 = 1232;

/// `crush_hash32_rjenkins1` (`src/crush/hash.c`).
pub fn crush_hash32(a: u32) -> u32 {
    let mut hash = CRUSH_HASH_SEED ^ a;
    let (mut a, mut b, mut x, mut y) = (a, a, X0, Y0);
    mix!(b, x, hash);
    mix!(y, a, hash);
    hash
}

/// `crush_hash32_rjenkins1_2` (`src/crush/hash.c`).
pub fn crush_hash32_2(a: u32, b: u32) -> u32 {
    let mut hash = CRUSH_HASH_SEED ^ a ^ b;
    let (mut a, mut b, mut x, mut y) = (a, b, X0, Y0);
    mix!(a, b, hash);
    mix!(x, a, hash);
    mix!(b, y, hash);
    hash
}

/// `crush_hash32_rjenkins1_3` (`src/crush/hash.c`).
pub fn crush_hash32_3(a: u32, b: u32, c: u32) -> u32 {
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c;
    let (mut a, mut b, mut c, mut x, mut y) = (a, b, c, X0, Y0);
    mix!(a, b, hash);
    mix!(c, x, hash);
    mix!(y, a, hash);
    mix!(b, x, hash);
    mix!(y, c, hash);
    hash
}

/// `crush_hash32_rjenkins1_4` (`src/crush/hash.c`).
pub fn crush_hash32_4(a: u32, b: u32, c: u32, d: u32) -> u32 {
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d;
    let (mut a, mut b, mut c, mut d, mut x, mut y) = (a, b, c, d, X0, Y0);
    mix!(a, b, hash);
    mix!(c, d, hash);
    mix!(a, x, hash);
    mix!(y, b, hash);
    mix!(c, x, hash);
    mix!(y, d, hash);
    hash
}

/// `crush_hash32_rjenkins1_5` (`src/crush/hash.c`).
pub fn crush_hash32_5(a: u32, b: u32, c: u32, d: u32, e: u32) -> u32 {
    let mut hash = CRUSH_HASH_SEED ^ a ^ b ^ c ^ d ^ e;
    let (mut a, mut b, mut c, mut d, mut e, mut x, mut y) = (a, b, c, d, e, X0, Y0);
    mix!(a, b, hash);
    mix!(c, d, hash);
    mix!(e, x, hash);
    mix!(y, a, hash);
    mix!(b, x, hash);
    mix!(y, c, hash);
    mix!(d, x, hash);
    mix!(y, e, hash);
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Object names and the placement seeds real Ceph 16.2.15 gives them:
    /// with the map of `osdmaptool --createsimple 2 --pg-bits 30
    /// --with-default-pool om`, `osdmaptool om --test-map-object NAME --pool 1`
    /// prints the low 30 bits of the rjenkins hash as the pg (`1.3fc1f406`
    /// for "foo"). `tests/crush_oracle.rs` checks many more names against
    /// osdmaptool at test time.
    const OSDMAPTOOL_LOW30: &[(&str, u32)] = &[
        ("foo", 0x3fc1f406),
        ("bar", 0x2fe6384b),
        ("a", 0x29eec818),
        ("abcdefghijkl", 0x0b1b3ea5),
        ("abcdefghijklmnopqrstuvwxyz0123456789", 0x12c983c7),
        ("rbd_data.1234.0000000000000001", 0x12d04153),
    ];

    #[test]
    fn rjenkins_matches_osdmaptool_placement_seeds() {
        for &(name, low30) in OSDMAPTOOL_LOW30 {
            assert_eq!(
                ceph_str_hash_rjenkins(name.as_bytes()) & 0x3fff_ffff,
                low30,
                "{name}"
            );
        }
        assert_eq!(
            ceph_str_hash(CEPH_STR_HASH_RJENKINS, b"foo"),
            Some(ceph_str_hash_rjenkins(b"foo"))
        );
    }

    #[test]
    fn linux_hash_follows_the_dcache_formula() {
        // Worked by hand from `hash = (hash + (c << 4) + (c >> 4)) * 11`:
        // "a" = 0x61: (0x610 + 0x6) * 11 = 17138; "ab": (17138 + 0x620 + 6) * 11.
        assert_eq!(ceph_str_hash_linux(b""), 0);
        assert_eq!(ceph_str_hash_linux(b"a"), 17_138);
        assert_eq!(ceph_str_hash_linux(b"ab"), (17_138 + 0x620 + 6) * 11);
        assert_eq!(ceph_str_hash(CEPH_STR_HASH_LINUX, b"a"), Some(17_138));
        assert_eq!(ceph_str_hash(3, b"a"), None);
        assert_eq!(ceph_str_hash(0, b"a"), None);
    }
}
