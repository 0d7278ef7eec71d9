//! MMonMap and the `MonMap` it carries (Ceph `src/messages/MMonMap.h`,
//! `src/mon/MonMap.cc` `MonMap::encode/decode` and `mon_info_t`,
//! `src/mon/mon_types.h` `mon_feature_t`).
//!
//! We speak the Nautilus+ encoding only (`ENCODE_START(9, 6)`), which is
//! what a Pacific mon sends to any peer with `SERVER_NAUTILUS | MONENC`.
//! Decoding accepts struct versions 6 and newer and skips fields added after
//! version 9 via the struct length. The golden test uses a map written by
//! Pacific 16.2.15 `monmaptool`, which encodes with `CEPH_FEATURES_ALL`.

use super::{finish, put_strings, read_strings, types, MessagePayload, MAX_NAME_LEN};
use crate::wire::addr::EntityAddrVec;
use crate::wire::utime::UTime;
use crate::wire::{DecodeError, Put, Reader};

/// Most monitors we accept in a map.
pub const MAX_MONS: usize = 64;
/// Most crush location entries per monitor.
pub const MAX_CRUSH_LOC: usize = 64;
/// Largest encoded monmap we accept.
pub const MAX_MONMAP_LEN: usize = 1 << 20;

/// Mon feature bits (`ceph::features::mon`, `src/mon/mon_types.h`).
pub mod mon_features {
    /// `FEATURE_KRAKEN`.
    pub const KRAKEN: u64 = 1 << 0;
    /// `FEATURE_LUMINOUS`.
    pub const LUMINOUS: u64 = 1 << 1;
    /// `FEATURE_MIMIC`: clients wait for MConfig only if the map has it.
    pub const MIMIC: u64 = 1 << 2;
    /// `FEATURE_OSDMAP_PRUNE`.
    pub const OSDMAP_PRUNE: u64 = 1 << 3;
    /// `FEATURE_NAUTILUS`.
    pub const NAUTILUS: u64 = 1 << 4;
    /// `FEATURE_OCTOPUS`.
    pub const OCTOPUS: u64 = 1 << 5;
    /// `FEATURE_PACIFIC`.
    pub const PACIFIC: u64 = 1 << 6;
    /// `FEATURE_PINGING` (elector connectivity mode).
    pub const PINGING: u64 = 1 << 7;
    /// Pacific's `get_persistent()`: what a Pacific quorum sets in its map.
    pub const PACIFIC_PERSISTENT: u64 = 0xff;
}

/// `ceph_release_t::pacific`.
pub const RELEASE_PACIFIC: u8 = 16;

/// One monitor of the map (`mon_info_t`, `ENCODE_START(5, 1)`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonInfo {
    /// Monitor name ("a").
    pub name: String,
    /// Its public addresses (v2 and/or v1).
    pub public_addrs: EntityAddrVec,
    /// Priority for client connection choice (v2+).
    pub priority: u16,
    /// Weight for client connection choice (v4+).
    pub weight: u16,
    /// CRUSH location for stretch mode (v5+), in key order.
    pub crush_loc: Vec<(String, String)>,
}

impl MonInfo {
    fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (v, mut b) = r.versioned("mon_info_t", 5, MAX_MONMAP_LEN)?;
        let name = b.string(MAX_NAME_LEN)?.to_owned();
        let public_addrs = EntityAddrVec::parse(&mut b)?;
        let priority = if v >= 2 { b.u16_le()? } else { 0 };
        let weight = if v >= 4 { b.u16_le()? } else { 0 };
        let mut crush_loc = Vec::new();
        if v >= 5 {
            let n = b.count_le32(MAX_CRUSH_LOC, 8)?;
            for _ in 0..n {
                let k = b.string(MAX_NAME_LEN)?.to_owned();
                let val = b.string(MAX_NAME_LEN)?.to_owned();
                crush_loc.push((k, val));
            }
        }
        Ok(MonInfo {
            name,
            public_addrs,
            priority,
            weight,
            crush_loc,
        })
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(5, 1, |b| {
            b.put_bytes_le32(self.name.as_bytes());
            self.public_addrs.emit(b);
            b.put_u16_le(self.priority);
            b.put_u16_le(self.weight);
            b.put_u32_le(self.crush_loc.len() as u32);
            for (k, v) in &self.crush_loc {
                b.put_bytes_le32(k.as_bytes());
                b.put_bytes_le32(v.as_bytes());
            }
        });
    }
}

/// The monitor map (`MonMap`), Nautilus+ encoding v9.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonMap {
    /// Cluster fsid.
    pub fsid: [u8; 16],
    /// Map epoch; clients wait for `>= 1`.
    pub epoch: u32,
    /// Last change.
    pub last_changed: UTime,
    /// Creation time.
    pub created: UTime,
    /// `mon_feature_t` persistent features ([`mon_features`]).
    pub persistent_features: u64,
    /// `mon_feature_t` optional features.
    pub optional_features: u64,
    /// Monitors, sorted by name (the encoding is a `map<string, mon_info_t>`).
    pub mons: Vec<MonInfo>,
    /// Monitor names in rank order.
    pub ranks: Vec<String>,
    /// `ceph_release_t` (v7+); 16 = pacific.
    pub min_mon_release: u8,
    /// Removed ranks (v8+).
    pub removed_ranks: Vec<i32>,
    /// Election strategy (v8+): 1 classic, 2 disallow, 3 connectivity.
    pub strategy: u8,
    /// Names that may not lead (v8+).
    pub disallowed_leaders: Vec<String>,
    /// Stretch mode on (v9+).
    pub stretch_mode_enabled: bool,
    /// Tiebreaker monitor (v9+).
    pub tiebreaker_mon: String,
    /// Monitors marked down by stretch mode (v9+).
    pub stretch_marked_down_mons: Vec<String>,
}

impl MonMap {
    /// A one-monitor Pacific map at epoch 1: what a fake mon can send.
    pub fn new_single(fsid: [u8; 16], name: &str, addrs: EntityAddrVec, now: UTime) -> Self {
        MonMap {
            fsid,
            epoch: 1,
            last_changed: now,
            created: now,
            persistent_features: mon_features::PACIFIC_PERSISTENT,
            optional_features: 0,
            mons: vec![MonInfo {
                name: name.to_owned(),
                public_addrs: addrs,
                ..MonInfo::default()
            }],
            ranks: vec![name.to_owned()],
            min_mon_release: RELEASE_PACIFIC,
            strategy: 1,
            ..MonMap::default()
        }
    }

    /// The monitor named `name`.
    pub fn mon(&self, name: &str) -> Option<&MonInfo> {
        self.mons.iter().find(|m| m.name == name)
    }

    /// The monitor of rank `rank`.
    pub fn by_rank(&self, rank: usize) -> Option<&MonInfo> {
        self.ranks.get(rank).and_then(|n| self.mon(n))
    }

    /// Decodes an encoded monmap (the contents of the MMonMap bufferlist).
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let (v, mut b) = r.versioned("MonMap", 9, MAX_MONMAP_LEN)?;
        if v < 6 {
            // Pre-Nautilus layouts (mon_addr maps, 16-bit versions) are not spoken.
            return Err(DecodeError::InvalidValue {
                what: "MonMap struct_v (need >= 6)",
                value: u64::from(v),
            });
        }
        let fsid = b.array()?;
        let epoch = b.u32_le()?;
        let last_changed = UTime::parse(&mut b)?;
        let created = UTime::parse(&mut b)?;
        let persistent_features = mon_feature(&mut b)?;
        let optional_features = mon_feature(&mut b)?;
        let n = b.count_le32(MAX_MONS, 10)?;
        let mut mons: Vec<MonInfo> = Vec::with_capacity(n);
        for _ in 0..n {
            let key = b.string(MAX_NAME_LEN)?;
            let mut info = MonInfo::parse(&mut b)?;
            if info.name.is_empty() {
                info.name = key.to_owned();
            }
            mons.push(info);
        }
        let ranks = read_strings(&mut b, MAX_MONS, MAX_NAME_LEN)?;
        let mut m = MonMap {
            fsid,
            epoch,
            last_changed,
            created,
            persistent_features,
            optional_features,
            mons,
            ranks,
            ..MonMap::default()
        };
        if v >= 7 {
            m.min_mon_release = b.u8()?;
        }
        if v >= 8 {
            let n = b.count_le32(MAX_MONS, 4)?;
            m.removed_ranks = (0..n).map(|_| b.i32_le()).collect::<Result<_, _>>()?;
            m.strategy = b.u8()?;
            m.disallowed_leaders = read_strings(&mut b, MAX_MONS, MAX_NAME_LEN)?;
        }
        if v >= 9 {
            m.stretch_mode_enabled = b.bool()?;
            m.tiebreaker_mon = b.string(MAX_NAME_LEN)?.to_owned();
            m.stretch_marked_down_mons = read_strings(&mut b, MAX_MONS, MAX_NAME_LEN)?;
        }
        if v <= 9 {
            b.expect_end()?;
        }
        Ok(m)
    }

    /// Appends the v9 encoding (`ENCODE_START(9, 6)`). Monitors are written
    /// in name order, as Ceph's `std::map` does.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(9, 6, |b| {
            b.put_slice(&self.fsid);
            b.put_u32_le(self.epoch);
            self.last_changed.emit(b);
            self.created.emit(b);
            put_mon_feature(b, self.persistent_features);
            put_mon_feature(b, self.optional_features);
            let mut mons: Vec<&MonInfo> = self.mons.iter().collect();
            mons.sort_by(|a, c| a.name.as_bytes().cmp(c.name.as_bytes()));
            b.put_u32_le(mons.len() as u32);
            for m in mons {
                b.put_bytes_le32(m.name.as_bytes());
                m.emit(b);
            }
            put_strings(b, &self.ranks);
            b.put_u8(self.min_mon_release);
            b.put_u32_le(self.removed_ranks.len() as u32);
            for r in &self.removed_ranks {
                b.put_u32_le(*r as u32);
            }
            b.put_u8(self.strategy);
            put_strings(b, &self.disallowed_leaders);
            b.put_u8(u8::from(self.stretch_mode_enabled));
            b.put_bytes_le32(self.tiebreaker_mon.as_bytes());
            put_strings(b, &self.stretch_marked_down_mons);
        });
    }

    /// Encodes into a new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.emit(&mut v);
        v
    }
}

/// `mon_feature_t`: `ENCODE_START(1, 1)` around a le64.
fn mon_feature(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let (_v, mut b) = r.versioned("mon_feature_t", 1, 64)?;
    b.u64_le()
}

fn put_mon_feature(out: &mut Vec<u8>, f: u64) {
    out.put_versioned(1, 1, |b| b.put_u64_le(f));
}

/// MMonMap (type 4): front = `bl(monmap)`; header version 1.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonMapMsg {
    /// The map.
    pub monmap: MonMap,
}

impl MessagePayload for MonMapMsg {
    const TYPE: u16 = types::MON_MAP;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        out.put_bytes_le32(&self.monmap.to_vec());
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MMonMap");
        let bl = r.bytes_le32(MAX_MONMAP_LEN)?;
        finish(&r, version, Self::HEAD_VERSION)?;
        let mut m = Reader::new(bl, "MonMap");
        let monmap = MonMap::parse(&mut m)?;
        m.expect_end()?;
        Ok(MonMapMsg { monmap })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{fsid_to_string, hex};

    /// `monmaptool --create --fsid 6c7ed9a1-3f2b-4c1e-9a0f-1234567890ab
    /// --addv a '[v2:127.0.0.1:3300/0,v1:127.0.0.1:6789/0]'
    /// --addv b '[v2:127.0.0.2:3300/0]'` (Ceph 16.2.15).
    const MONMAPTOOL: &str = "0906080100006c7ed9a13f2b4c1e9a0f1234567890ab00000000350e076bbfbb0c20350e076bbfbb0c2001010800000000000000000000000101080000000000000000000000020000000100000061050158000000010000006102020000000101011c00000002000000000000001000000002000ce47f00000100000000000000000101011c00000001000000000000001000000002001a857f000001000000000000000000000000000000000100000062050135000000010000006202010000000101011c00000002000000000000001000000002000ce47f00000200000000000000000000000000000000020000000100000061010000006200000000000100000000000000000000000000";

    #[test]
    fn decodes_and_reencodes_monmaptool_output() {
        let bytes = hex(MONMAPTOOL);
        let mut r = Reader::new(&bytes, "t");
        let m = MonMap::parse(&mut r).unwrap();
        r.expect_end().unwrap();
        assert_eq!(
            fsid_to_string(&m.fsid),
            "6c7ed9a1-3f2b-4c1e-9a0f-1234567890ab"
        );
        assert_eq!(m.epoch, 0);
        assert_eq!(m.ranks, ["a", "b"]);
        assert_eq!(
            m.mon("a").unwrap().public_addrs.to_string(),
            "[v2:127.0.0.1:3300/0,v1:127.0.0.1:6789/0]"
        );
        assert_eq!(
            m.by_rank(1)
                .unwrap()
                .public_addrs
                .msgr2()
                .unwrap()
                .to_string(),
            "v2:127.0.0.2:3300/0"
        );
        assert_eq!(m.strategy, 1);
        assert_eq!(m.to_vec(), bytes);
        for cut in 0..bytes.len() {
            assert!(MonMap::parse(&mut Reader::new(&bytes[..cut], "t")).is_err());
        }
    }

    #[test]
    fn message_round_trip_and_newer_version_tolerated() {
        let addrs: EntityAddrVec = "v2:127.0.77.1:40000/0".parse().unwrap();
        let m = MonMap::new_single([7; 16], "a", addrs, UTime::new(1, 2));
        let msg = MonMapMsg { monmap: m.clone() };
        let enc = msg.encode();
        assert_eq!((enc.ty, enc.version), (4, 1));
        assert_eq!(MonMapMsg::decode_encoded(&enc).unwrap(), msg);
        // A v10 map with one extra trailing field still decodes.
        let mut body = m.to_vec();
        body[0] = 10;
        body.push(0xee);
        let len = u32::from_le_bytes([body[2], body[3], body[4], body[5]]) + 1;
        body[2..6].copy_from_slice(&len.to_le_bytes());
        let back = MonMap::parse(&mut Reader::new(&body, "t")).unwrap();
        assert_eq!(back, m);
        // Compat 10 is refused.
        body[1] = 10;
        assert!(matches!(
            MonMap::parse(&mut Reader::new(&body, "t")),
            Err(DecodeError::IncompatibleVersion { .. })
        ));
    }
}
