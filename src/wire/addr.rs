//! `entity_addr_t` and `entity_addrvec_t` (msgr2 reference section 1.3;
//! Ceph `src/msg/msg_types.h`, `entity_addr_t::encode/decode`,
//! `decode_legacy_addr_after_marker`, `entity_addrvec_t::decode` in
//! `src/msg/msg_types.cc`).
//!
//! We always *emit* the modern marker-1 form (msgr2 frames are encoded as if
//! the peer has `MSG_ADDR2 | SERVER_NAUTILUS`), and *accept* marker 1 and the
//! legacy marker 0.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::str::FromStr;

use super::entity::ParseNameError;
use super::{DecodeError, Put, Reader};

/// Most addresses we accept in one `entity_addrvec_t`.
pub const MAX_ADDRS: usize = 16;

/// Linux `AF_INET`, as Ceph puts it on the wire (host value, little-endian le16).
pub const AF_INET: u16 = 2;
/// Linux `AF_INET6`.
pub const AF_INET6: u16 = 10;

/// Size of Ceph's in-memory sockaddr union (`sizeof(sockaddr_in6)`), which is
/// what Ceph encodes for a blank (family 0) address.
const SOCKADDR_UNION_LEN: usize = 28;
/// Bytes of the legacy `sockaddr_storage`.
const LEGACY_SS_LEN: usize = 128;
/// Largest encoded `entity_addr_t` body we accept (12 + 4 + 28 is the real max).
const MAX_ADDR_BODY: usize = 64;

/// `entity_addr_t::TYPE_*` (reference 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u32)]
pub enum AddrType {
    /// `TYPE_NONE` = 0: a blank address.
    #[default]
    None = 0,
    /// `TYPE_LEGACY` = 1: msgr1 ("v1:").
    Legacy = 1,
    /// `TYPE_MSGR2` = 2: msgr2 ("v2:").
    Msgr2 = 2,
    /// `TYPE_ANY` = 3: either protocol ("any:"); clients advertise this.
    Any = 3,
}

impl AddrType {
    /// Maps a wire value to a type; `None` for unknown values (Ceph's `TYPE_CIDR` = 4
    /// appears only in blocklists and is not accepted here).
    pub fn from_u32(v: u32) -> Option<AddrType> {
        match v {
            0 => Some(AddrType::None),
            1 => Some(AddrType::Legacy),
            2 => Some(AddrType::Msgr2),
            3 => Some(AddrType::Any),
            _ => None,
        }
    }

    /// The text prefix Ceph uses (`entity_addr_t::get_type_name`).
    pub fn name(self) -> &'static str {
        match self {
            AddrType::None => "none",
            AddrType::Legacy => "v1",
            AddrType::Msgr2 => "v2",
            AddrType::Any => "any",
        }
    }
}

/// `entity_addr_t`: type, nonce and an optional IPv4/IPv6 socket address
/// (reference 1.3).
///
/// Equality and ordering follow Ceph's `memcmp` over the in-memory layout
/// (le32 type, le32 nonce, then the sockaddr with a host-order family and
/// network-order port and IP); see [`EntityAddr::memcmp_key`].
#[derive(Debug, Clone, Copy, Default)]
pub struct EntityAddr {
    /// Address type.
    pub ty: AddrType,
    /// Per-process nonce (mons use 0).
    pub nonce: u32,
    /// The socket address; `None` is a blank (`AF_UNSPEC`) address.
    pub addr: Option<SocketAddr>,
}

impl EntityAddr {
    /// A new address.
    pub fn new(ty: AddrType, addr: SocketAddr, nonce: u32) -> Self {
        EntityAddr {
            ty,
            nonce,
            addr: Some(addr),
        }
    }

    /// A msgr2 ("v2:") address.
    pub fn msgr2(addr: SocketAddr, nonce: u32) -> Self {
        Self::new(AddrType::Msgr2, addr, nonce)
    }

    /// True if there is no IP or it is the unspecified address (Ceph `is_blank_ip`).
    pub fn is_blank_ip(&self) -> bool {
        match self.addr {
            None => true,
            Some(a) => a.ip().is_unspecified(),
        }
    }

    /// The port, 0 if blank.
    pub fn port(&self) -> u16 {
        self.addr.map_or(0, |a| a.port())
    }

    /// The 26 bytes after the family field of the sockaddr union, plus the family.
    fn sockaddr_bytes(&self) -> (u16, [u8; SOCKADDR_UNION_LEN - 2]) {
        let mut d = [0u8; SOCKADDR_UNION_LEN - 2];
        match self.addr {
            None => (0, d),
            Some(SocketAddr::V4(a)) => {
                d[0..2].copy_from_slice(&a.port().to_be_bytes());
                d[2..6].copy_from_slice(&a.ip().octets());
                (AF_INET, d)
            }
            Some(SocketAddr::V6(a)) => {
                d[0..2].copy_from_slice(&a.port().to_be_bytes());
                d[2..6].copy_from_slice(&a.flowinfo().to_be_bytes());
                d[6..22].copy_from_slice(&a.ip().octets());
                d[22..26].copy_from_slice(&a.scope_id().to_le_bytes());
                (AF_INET6, d)
            }
        }
    }

    /// The 36 bytes Ceph `memcmp`s to compare addresses (reference 1.3).
    pub fn memcmp_key(&self) -> [u8; 36] {
        let mut k = [0u8; 36];
        k[0..4].copy_from_slice(&(self.ty as u32).to_le_bytes());
        k[4..8].copy_from_slice(&self.nonce.to_le_bytes());
        let (family, data) = self.sockaddr_bytes();
        k[8..10].copy_from_slice(&family.to_le_bytes());
        k[10..36].copy_from_slice(&data);
        k
    }

    /// The sockaddr length Ceph encodes (`get_sockaddr_len`): 16, 28, or 28 when blank.
    fn elen(&self) -> usize {
        match self.addr {
            Some(SocketAddr::V4(_)) => 16,
            Some(SocketAddr::V6(_)) | None => SOCKADDR_UNION_LEN,
        }
    }

    /// Decodes an address (marker 1 or legacy marker 0).
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            0 => Self::parse_legacy_after_marker(r),
            1 => Self::parse_after_marker(r),
            m => Err(DecodeError::InvalidValue {
                what: "entity_addr_t marker",
                value: u64::from(m),
            }),
        }
    }

    /// Decodes the marker-1 body (`ENCODE_START(1, 1)` onwards).
    fn parse_after_marker(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (_v, mut b) = r.versioned("entity_addr_t", 1, MAX_ADDR_BODY)?;
        let raw_ty = b.u32_le()?;
        let ty = AddrType::from_u32(raw_ty).ok_or(DecodeError::InvalidValue {
            what: "entity_addr_t type",
            value: u64::from(raw_ty),
        })?;
        let nonce = b.u32_le()?;
        let elen = b.len_le32(SOCKADDR_UNION_LEN)?;
        if elen == 0 {
            return Ok(EntityAddr {
                ty,
                nonce,
                addr: None,
            });
        }
        if elen < 2 {
            return Err(DecodeError::InvalidValue {
                what: "entity_addr_t sockaddr length",
                value: elen as u64,
            });
        }
        let family = b.u16_le()?;
        // Ceph rejects more bytes than the family's sockaddr holds and
        // zero-fills fewer.
        let max = if family == AF_INET { 14 } else { 26 };
        if elen - 2 > max {
            return Err(DecodeError::TooLong {
                what: "entity_addr_t sockaddr",
                len: elen as u64 - 2,
                limit: max,
            });
        }
        let mut data = [0u8; SOCKADDR_UNION_LEN - 2];
        data[..elen - 2].copy_from_slice(b.take(elen - 2)?);
        let addr = sockaddr_from(family, &data, "entity_addr_t family")?;
        Ok(EntityAddr { ty, nonce, addr })
    }

    /// Decodes the legacy form after its 0 marker: 3 pad bytes, le32 nonce,
    /// 128-byte `sockaddr_storage` with a big-endian family.
    fn parse_legacy_after_marker(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.take(3)?;
        let nonce = r.u32_le()?;
        let ss = r.take(LEGACY_SS_LEN)?;
        let family = u16::from_be_bytes([ss[0], ss[1]]);
        let mut data = [0u8; SOCKADDR_UNION_LEN - 2];
        data.copy_from_slice(&ss[2..SOCKADDR_UNION_LEN]);
        let addr = sockaddr_from(family, &data, "legacy entity_addr_t family")?;
        let ty = if addr.is_some() {
            AddrType::Legacy
        } else {
            AddrType::None
        };
        Ok(EntityAddr { ty, nonce, addr })
    }

    /// Encoded size in the marker-1 form (35 for IPv4, 47 for IPv6 or blank).
    pub fn buffer_len(&self) -> usize {
        1 + 6 + 12 + self.elen()
    }

    /// Appends the marker-1 encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_versioned(1, 1, |b| {
            b.put_u32_le(self.ty as u32);
            b.put_u32_le(self.nonce);
            let elen = self.elen();
            b.put_u32_le(elen as u32);
            let (family, data) = self.sockaddr_bytes();
            b.put_u16_le(family);
            b.put_slice(&data[..elen - 2]);
        });
    }
}

/// Interprets the sockaddr bytes after the family field.
fn sockaddr_from(
    family: u16,
    d: &[u8; SOCKADDR_UNION_LEN - 2],
    what: &'static str,
) -> Result<Option<SocketAddr>, DecodeError> {
    let port = u16::from_be_bytes([d[0], d[1]]);
    match family {
        0 => Ok(None),
        AF_INET => {
            let ip = Ipv4Addr::new(d[2], d[3], d[4], d[5]);
            Ok(Some(SocketAddr::V4(SocketAddrV4::new(ip, port))))
        }
        AF_INET6 => {
            let flow = u32::from_be_bytes([d[2], d[3], d[4], d[5]]);
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&d[6..22]);
            let scope = u32::from_le_bytes([d[22], d[23], d[24], d[25]]);
            Ok(Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            ))))
        }
        f => Err(DecodeError::InvalidValue {
            what,
            value: u64::from(f),
        }),
    }
}

impl PartialEq for EntityAddr {
    fn eq(&self, other: &Self) -> bool {
        self.memcmp_key() == other.memcmp_key()
    }
}
impl Eq for EntityAddr {}
impl Hash for EntityAddr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.memcmp_key().hash(state);
    }
}
impl PartialOrd for EntityAddr {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for EntityAddr {
    /// Ceph's `operator<` on `entity_addr_t`: `memcmp` of the layout (reference 1.3).
    fn cmp(&self, other: &Self) -> Ordering {
        self.memcmp_key().cmp(&other.memcmp_key())
    }
}

impl fmt::Display for EntityAddr {
    /// `v2:127.0.0.1:3300/0`, `any:[::1]:0/7`; a blank address prints its
    /// socket part as `-`, and a `TYPE_NONE` blank one as just `-` (as Ceph).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ty == AddrType::None && self.addr.is_none() && self.nonce == 0 {
            return f.write_str("-");
        }
        write!(f, "{}:", self.ty.name())?;
        match self.addr {
            Some(a) => write!(f, "{a}")?,
            None => f.write_str("-")?,
        }
        write!(f, "/{}", self.nonce)
    }
}

impl FromStr for EntityAddr {
    type Err = ParseNameError;

    /// Parses `[v1:|v2:|any:|none:]IP[:PORT][/NONCE]` (IPv6 in brackets when a
    /// port is given). Without a prefix the type is `Msgr2`; without a port or
    /// nonce they are 0. `-` is the blank address.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseNameError::new("entity address", s);
        if s == "-" {
            return Ok(EntityAddr::default());
        }
        let (ty, rest) = [
            AddrType::Legacy,
            AddrType::Msgr2,
            AddrType::Any,
            AddrType::None,
        ]
        .into_iter()
        .find_map(|t| {
            s.strip_prefix(t.name())
                .and_then(|r| r.strip_prefix(':'))
                .map(|r| (t, r))
        })
        .unwrap_or((AddrType::Msgr2, s));
        let (sock, nonce) = match rest.rsplit_once('/') {
            Some((a, n)) => (a, n.parse::<u32>().map_err(|_| err())?),
            None => (rest, 0),
        };
        let addr = if sock == "-" {
            None
        } else if let Ok(a) = sock.parse::<SocketAddr>() {
            Some(a)
        } else {
            let ip = sock
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| err())?;
            Some(SocketAddr::new(ip, 0))
        };
        Ok(EntityAddr { ty, nonce, addr })
    }
}

/// `entity_addrvec_t` (reference 1.3): all the addresses of one entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityAddrVec(pub Vec<EntityAddr>);

impl EntityAddrVec {
    /// A vector of one address.
    pub fn single(a: EntityAddr) -> Self {
        EntityAddrVec(vec![a])
    }

    /// The first `Msgr2` address (Ceph `msgr2_addr()`), if any.
    pub fn msgr2(&self) -> Option<&EntityAddr> {
        self.0.iter().find(|a| a.ty == AddrType::Msgr2)
    }

    /// True if `a` is one of the addresses, compared exactly (Ceph `contains`).
    pub fn contains(&self, a: &EntityAddr) -> bool {
        self.0.contains(a)
    }

    /// The first address, or a blank one (Ceph `front()`).
    pub fn front(&self) -> EntityAddr {
        self.0.first().copied().unwrap_or_default()
    }

    /// Decodes marker 2 (vector), 1 (single modern addr) or 0 (single legacy addr).
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.rest().first() {
            Some(0) | Some(1) => Ok(EntityAddrVec(vec![EntityAddr::parse(r)?])),
            Some(2) => {
                r.u8()?;
                // The smallest element is a marker-1 addr with elen 0: 19 bytes.
                let n = r.count_le32(MAX_ADDRS, 19)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(EntityAddr::parse(r)?);
                }
                Ok(EntityAddrVec(v))
            }
            Some(&m) => Err(DecodeError::InvalidValue {
                what: "entity_addrvec_t marker",
                value: u64::from(m),
            }),
            None => Err(DecodeError::Truncated {
                what: "entity_addrvec_t",
                needed: 1,
                available: 0,
            }),
        }
    }

    /// Encoded size in the marker-2 form.
    pub fn buffer_len(&self) -> usize {
        5 + self.0.iter().map(EntityAddr::buffer_len).sum::<usize>()
    }

    /// Appends the marker-2 encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(2);
        out.put_u32_le(self.0.len() as u32);
        for a in &self.0 {
            a.emit(out);
        }
    }
}

impl From<EntityAddr> for EntityAddrVec {
    fn from(a: EntityAddr) -> Self {
        Self::single(a)
    }
}

impl fmt::Display for EntityAddrVec {
    /// One address prints bare; otherwise `[a,b]` (as Ceph).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1 {
            return write!(f, "{}", self.0[0]);
        }
        f.write_str("[")?;
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}")?;
        }
        f.write_str("]")
    }
}

impl FromStr for EntityAddrVec {
    type Err = ParseNameError;

    /// Parses `[addr,addr,...]` or a single address.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseNameError::new("entity address vector", s);
        let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
            return Ok(EntityAddrVec::single(s.parse()?));
        };
        if inner.trim().is_empty() {
            return Ok(EntityAddrVec::default());
        }
        // Commas never appear inside one address, even IPv6 ("[::1]:3300").
        let v = inner
            .split(',')
            .map(|p| p.trim().parse::<EntityAddr>())
            .collect::<Result<Vec<_>, _>>()?;
        if v.len() > MAX_ADDRS {
            return Err(err());
        }
        Ok(EntityAddrVec(v))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn golden_v2_addr() {
        // test-vectors.txt: addr v2 127.0.0.1:3300 nonce 0
        let a: EntityAddr = "v2:127.0.0.1:3300/0".parse().unwrap();
        let mut v = Vec::new();
        a.emit(&mut v);
        assert_eq!(
            v,
            hex("0101011c00000002000000000000001000000002000ce47f0000010000000000000000")
        );
        assert_eq!(a.buffer_len(), 35);
        let mut r = Reader::new(&v, "t");
        assert_eq!(EntityAddr::parse(&mut r).unwrap(), a);
        r.expect_end().unwrap();
        assert_eq!(a.to_string(), "v2:127.0.0.1:3300/0");
    }

    #[test]
    fn golden_addrvec_any() {
        // test-vectors.txt: addrvec [any 127.0.0.1:0 nonce 0x01020304]
        let bytes =
            hex("02010000000101011c000000030000000403020110000000020000007f0000010000000000000000");
        let mut r = Reader::new(&bytes, "t");
        let av = EntityAddrVec::parse(&mut r).unwrap();
        r.expect_end().unwrap();
        assert_eq!(av.0.len(), 1);
        assert_eq!(av.0[0].ty, AddrType::Any);
        assert_eq!(av.0[0].nonce, 0x01020304);
        assert_eq!(av.0[0].addr, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(av.buffer_len(), 40);
        let mut out = Vec::new();
        av.emit(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(av.msgr2(), None);
        for cut in 0..bytes.len() {
            assert!(EntityAddrVec::parse(&mut Reader::new(&bytes[..cut], "t")).is_err());
        }
    }

    #[test]
    fn text_forms() {
        let av: EntityAddrVec = "[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]".parse().unwrap();
        assert_eq!(av.0.len(), 2);
        assert_eq!(av.msgr2().unwrap().port(), 3300);
        assert_eq!(av.0[1].ty, AddrType::Legacy);
        assert_eq!(av.to_string(), "[v2:1.2.3.4:3300/0,v1:1.2.3.4:6789/0]");
        let one: EntityAddrVec = "v2:1.2.3.4:3300".parse().unwrap();
        assert_eq!(one.0[0].nonce, 0);
        let any: EntityAddr = "any:[::1]:6800/77".parse().unwrap();
        assert_eq!(any.to_string(), "any:[::1]:6800/77");
        assert!("v2:nonsense".parse::<EntityAddr>().is_err());
        assert!("v2:1.2.3.4:3300/x".parse::<EntityAddr>().is_err());
        let blank: EntityAddr = "-".parse().unwrap();
        assert_eq!(blank.to_string(), "-");
        assert_eq!(
            "1.2.3.4".parse::<EntityAddr>().unwrap().to_string(),
            "v2:1.2.3.4:0/0"
        );
    }

    #[test]
    fn ordering_is_ceph_memcmp() {
        let a = |s: &str| s.parse::<EntityAddr>().unwrap();
        // type compares first (le32 bytes), then nonce as little-endian bytes.
        assert!(a("v1:9.9.9.9:9/9") < a("v2:1.1.1.1:1/0"));
        // nonce 256 = 00 01 .. sorts below nonce 1 = 01 00 .. in memcmp order.
        assert!(a("v2:1.1.1.1:1/256") < a("v2:1.1.1.1:1/1"));
        // Port is big-endian, so numeric order holds for ports.
        assert!(a("v2:9.9.9.9:1/0") < a("v2:1.1.1.1:2/0"));
        assert!(a("v2:1.1.1.1:2/0") < a("v2:1.1.1.2:2/0"));
        // IPv4 (family 2) < IPv6 (family 10).
        assert!(a("v2:255.1.1.1:2/0") < a("v2:[::]:0/0"));
        assert_eq!(a("v2:1.1.1.1:2/0"), a("v2:1.1.1.1:2/0"));
    }

    #[test]
    fn legacy_and_marker1_vec() {
        let mut v = vec![0u8, 0, 0, 0];
        v.extend_from_slice(&5u32.to_le_bytes());
        let mut ss = [0u8; 128];
        ss[0..2].copy_from_slice(&AF_INET.to_be_bytes());
        ss[2..4].copy_from_slice(&6789u16.to_be_bytes());
        ss[4..8].copy_from_slice(&[192, 0, 2, 1]);
        v.extend_from_slice(&ss);
        let mut r = Reader::new(&v, "t");
        let av = EntityAddrVec::parse(&mut r).unwrap();
        r.expect_end().unwrap();
        assert_eq!(av.to_string(), "v1:192.0.2.1:6789/5");

        let one: EntityAddr = "v2:192.0.2.1:3300/0".parse().unwrap();
        let mut m1 = Vec::new();
        one.emit(&mut m1);
        let mut r = Reader::new(&m1, "t");
        assert_eq!(EntityAddrVec::parse(&mut r).unwrap().0, vec![one]);
        r.expect_end().unwrap();
    }

    #[test]
    fn rejects_bad_input() {
        // marker 3
        assert!(EntityAddrVec::parse(&mut Reader::new(&[3], "t")).is_err());
        // too many addrs
        let mut v = vec![2u8];
        v.extend_from_slice(&17u32.to_le_bytes());
        v.extend_from_slice(&[0u8; 17 * 35]);
        assert!(matches!(
            EntityAddrVec::parse(&mut Reader::new(&v, "t")),
            Err(DecodeError::TooLong { .. })
        ));
        // IPv4 family with a 28-byte sockaddr
        let mut a = Vec::new();
        EntityAddr::msgr2("[::1]:1".parse().unwrap(), 0).emit(&mut a);
        a[19] = AF_INET as u8;
        assert!(EntityAddr::parse(&mut Reader::new(&a, "t")).is_err());
        // unknown family
        a[19] = 7;
        assert!(EntityAddr::parse(&mut Reader::new(&a, "t")).is_err());
    }

    #[test]
    fn blank_encodes_like_ceph() {
        let b = EntityAddr {
            ty: AddrType::Any,
            nonce: 3,
            addr: None,
        };
        let mut v = Vec::new();
        b.emit(&mut v);
        assert_eq!(v.len(), b.buffer_len());
        assert_eq!(v.len(), 47);
        assert_eq!(EntityAddr::parse(&mut Reader::new(&v, "t")).unwrap(), b);
        // elen 0 also decodes to blank.
        let mut z = Vec::new();
        z.put_u8(1);
        z.put_versioned(1, 1, |w| {
            w.put_u32_le(3);
            w.put_u32_le(3);
            w.put_u32_le(0);
        });
        assert_eq!(EntityAddr::parse(&mut Reader::new(&z, "t")).unwrap(), b);
    }

    pub(crate) fn arb_addr() -> impl Strategy<Value = EntityAddr> {
        let ty = prop_oneof![
            Just(AddrType::None),
            Just(AddrType::Legacy),
            Just(AddrType::Msgr2),
            Just(AddrType::Any)
        ];
        let sock = prop_oneof![
            Just(None),
            (any::<[u8; 4]>(), any::<u16>())
                .prop_map(|(ip, p)| Some(SocketAddr::from((Ipv4Addr::from(ip), p)))),
            (any::<[u8; 16]>(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(
                |(ip, p, fl, sc)| Some(SocketAddr::V6(SocketAddrV6::new(ip.into(), p, fl, sc)))
            ),
        ];
        (ty, any::<u32>(), sock).prop_map(|(ty, nonce, addr)| EntityAddr { ty, nonce, addr })
    }

    proptest! {
        #[test]
        fn addrvec_round_trips(v in proptest::collection::vec(arb_addr(), 0..4)) {
            let av = EntityAddrVec(v);
            let mut out = Vec::new();
            av.emit(&mut out);
            prop_assert_eq!(out.len(), av.buffer_len());
            let mut r = Reader::new(&out, "t");
            prop_assert_eq!(EntityAddrVec::parse(&mut r).unwrap(), av.clone());
            prop_assert!(r.expect_end().is_ok());
            let text = av.to_string();
            let plain_v6 = av.0.iter().all(|a| match a.addr {
                Some(SocketAddr::V6(s)) => s.flowinfo() == 0 && s.scope_id() == 0,
                _ => true,
            });
            if plain_v6 {
                prop_assert_eq!(text.parse::<EntityAddrVec>().unwrap(), av);
            }
        }

        #[test]
        fn addr_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = EntityAddrVec::parse(&mut Reader::new(&bytes, "t"));
        }
    }
}
