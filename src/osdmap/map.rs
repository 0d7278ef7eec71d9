//! The full `OSDMap` as a Pacific (16.2) monitor encodes it for clients and
//! OSDs (`OSDMap::encode` / `OSDMap::decode` in `src/osd/OSDMap.cc`):
//!
//! ```text
//! ENCODE_START(8, 7)                 wrapper
//!   ENCODE_START(v, 1)               client-usable data (Pacific: v 9)
//!     fsid, epoch, created, modified, pools, pool_name, pool_max, flags,
//!     max_osd, osd_state, osd_weight, client_addrs, pg_temp, primary_temp,
//!     osd_primary_affinity, crush (bufferlist), erasure_code_profiles,
//!     pg_upmap, pg_upmap_items, crush_version, new_removed_snaps,
//!     new_purged_snaps, last_up_change, last_in_change, (v10) pg_upmap_primaries
//!   ENCODE_START(v, 1)               extended, osd-only data (Pacific: v 9, 10 in stretch mode)
//!     hb_back_addrs, osd_info, blocklist, cluster_addrs,
//!     cluster_snapshot_epoch, cluster_snapshot, osd_uuid, osd_xinfo,
//!     hb_front_addrs, nearfull/full/backfillfull ratios,
//!     require_min_compat_client, require_osd_release, removed_snaps_queue,
//!     crush_node_flags, device_class_flags, stretch mode (v10) ...
//!   crc32c (le32) of everything before it in the wrapper, and what follows it
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use super::codec;
use super::crush::CrushMap;
use super::error::{At, OsdMapError};
use super::pool::PgPool;
use crate::checksum::ceph_crc32c;
use crate::msg::osd_mon::PgId;
use crate::wire::addr::{EntityAddr, EntityAddrVec};
use crate::wire::utime::UTime;
use crate::wire::Reader;

/// Largest encoded map accepted (Ceph's own messages cap a map far below this).
pub const MAX_OSDMAP_LEN: usize = 64 << 20;
/// Most OSDs (`max_osd`). Ceph's `mon_max_osd` defaults to 10000.
pub const MAX_OSD: usize = 1 << 16;
/// Most pools in a map.
pub const MAX_POOLS: usize = 1 << 16;
/// Most entries of `pg_temp`, `primary_temp` and the upmap tables.
pub const MAX_PG_ENTRIES: usize = 1 << 22;
/// Most erasure-code profiles.
pub const MAX_EC_PROFILES: usize = 4096;
/// Most blocklist entries.
pub const MAX_BLOCKLIST: usize = 1 << 20;
/// Most CRUSH node / device class flag entries.
pub const MAX_CRUSH_FLAGS: usize = 1 << 16;
/// Most pools / intervals in the removed-snaps tables (read past, not kept).
pub const MAX_SNAP_POOLS: usize = 1 << 16;
/// Most intervals per pool in the removed-snaps tables.
pub const MAX_SNAP_INTERVALS: usize = 1 << 20;

/// `CEPH_OSD_*` state bits (`src/include/rados.h`).
pub mod state {
    /// The id is allocated.
    pub const EXISTS: u32 = 1 << 0;
    /// The OSD is up.
    pub const UP: u32 = 1 << 1;
    /// Marked out automatically.
    pub const AUTOOUT: u32 = 1 << 2;
    /// Created but never booted.
    pub const NEW: u32 = 1 << 3;
    /// Destroyed (`osd destroy`).
    pub const DESTROYED: u32 = 1 << 7;
    /// Stopped (`osd stop`).
    pub const STOP: u32 = 1 << 12;
}

/// `CEPH_OSDMAP_*` flag bits that decoding and `apply_incremental` adjust.
pub mod map_flag {
    /// `CEPH_OSDMAP_REQUIRE_JEWEL` (legacy).
    pub const REQUIRE_JEWEL: u32 = 1 << 16;
    /// `CEPH_OSDMAP_REQUIRE_KRAKEN` (legacy).
    pub const REQUIRE_KRAKEN: u32 = 1 << 17;
    /// `CEPH_OSDMAP_REQUIRE_LUMINOUS` (legacy).
    pub const REQUIRE_LUMINOUS: u32 = 1 << 18;
    /// `CEPH_OSDMAP_RECOVERY_DELETES`.
    pub const RECOVERY_DELETES: u32 = 1 << 19;
    /// `CEPH_OSDMAP_PGLOG_HARDLIMIT`.
    pub const PGLOG_HARDLIMIT: u32 = 1 << 22;
    /// `CEPH_OSDMAP_LEGACY_REQUIRE_FLAGS`.
    pub const LEGACY_REQUIRE_FLAGS: u32 = REQUIRE_JEWEL | REQUIRE_KRAKEN | REQUIRE_LUMINOUS;
}

/// `ceph_release_t` values compared against `require_osd_release`.
pub mod release {
    /// Luminous (12).
    pub const LUMINOUS: u8 = 12;
    /// Nautilus (14).
    pub const NAUTILUS: u8 = 14;

    /// `rel >= min` as `ceph_release_t` compares: a value with the top bit
    /// set (the old -1, "unset") is below every release.
    pub fn at_least(rel: u8, min: u8) -> bool {
        (min..0x80).contains(&rel)
    }
}

/// `CEPH_OSD_IN`: weight of an OSD that is fully in (1.0 in 16.16 fixed point).
pub const OSD_IN: u32 = 0x10000;
/// `CEPH_OSD_OUT`.
pub const OSD_OUT: u32 = 0;
/// `CEPH_OSD_DEFAULT_PRIMARY_AFFINITY` (1.0).
pub const DEFAULT_PRIMARY_AFFINITY: u32 = 0x10000;

/// `osd_info_t` (`src/osd/OSDMap.h`): an OSD's interval history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OsdInfo {
    /// Start of the last clean interval.
    pub last_clean_begin: u32,
    /// End of the last clean interval.
    pub last_clean_end: u32,
    /// Epoch the OSD last booted.
    pub up_from: u32,
    /// Epoch up to which it is known to have been up.
    pub up_thru: u32,
    /// Epoch it was last marked down.
    pub down_at: u32,
    /// Epoch it was marked lost.
    pub lost_at: u32,
}

impl OsdInfo {
    /// Encoded size: u8 struct_v + six epochs.
    pub const LEN: usize = 25;

    fn decode(r: &mut Reader<'_>) -> Result<OsdInfo, OsdMapError> {
        const F: &str = "OSDMap osd_info";
        r.u8().at(F)?;
        Ok(OsdInfo {
            last_clean_begin: r.u32_le().at(F)?,
            last_clean_end: r.u32_le().at(F)?,
            up_from: r.u32_le().at(F)?,
            up_thru: r.u32_le().at(F)?,
            down_at: r.u32_le().at(F)?,
            lost_at: r.u32_le().at(F)?,
        })
    }
}

/// `osd_xinfo_t` (`src/osd/OSDMap.h`), the fields kept; the rest is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OsdXInfo {
    /// When the OSD was last marked down.
    pub down_stamp: UTime,
    /// Laggy probability (fixed point, 0xffffffff = 1.0).
    pub laggy_probability: u32,
    /// Average laggy interval in seconds.
    pub laggy_interval: u32,
    /// Features of the OSD (v2+).
    pub features: u64,
    /// Weight before it was marked out automatically (v3+).
    pub old_weight: u32,
}

impl OsdXInfo {
    /// Decodes one `osd_xinfo_t` (`ENCODE_START(4, 1)`).
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<OsdXInfo, OsdMapError> {
        const F: &str = "osd_xinfo_t";
        let (v, mut b) = r.versioned(F, 4, 4096).at(F)?;
        let mut x = OsdXInfo {
            down_stamp: UTime::parse(&mut b).at(F)?,
            laggy_probability: b.u32_le().at(F)?,
            laggy_interval: b.u32_le().at(F)?,
            ..OsdXInfo::default()
        };
        if v >= 2 {
            x.features = b.u64_le().at(F)?;
        }
        if v >= 3 {
            x.old_weight = b.u32_le().at(F)?;
        }
        Ok(x)
    }
}

/// Everything the map holds about one OSD id (Ceph keeps these as parallel
/// vectors of `max_osd` entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsdEntry {
    /// `CEPH_OSD_*` bits ([`state`]).
    pub state: u32,
    /// Reweight, 16.16 fixed point: [`OSD_IN`] = in, [`OSD_OUT`] = out.
    pub weight: u32,
    /// Primary affinity, 16.16 fixed point.
    pub primary_affinity: u32,
    /// Public (client-facing) addresses.
    pub client_addrs: EntityAddrVec,
    /// Cluster (replication) addresses.
    pub cluster_addrs: EntityAddrVec,
    /// Back heartbeat addresses.
    pub hb_back_addrs: EntityAddrVec,
    /// Front heartbeat addresses.
    pub hb_front_addrs: EntityAddrVec,
    /// Interval history.
    pub info: OsdInfo,
    /// Extended info.
    pub xinfo: OsdXInfo,
    /// The OSD's uuid (`osd new UUID`).
    pub uuid: [u8; 16],
}

impl Default for OsdEntry {
    /// What `OSDMap::set_max_osd` gives a new id.
    fn default() -> Self {
        OsdEntry {
            state: 0,
            weight: OSD_OUT,
            primary_affinity: DEFAULT_PRIMARY_AFFINITY,
            client_addrs: EntityAddrVec::default(),
            cluster_addrs: EntityAddrVec::default(),
            hb_back_addrs: EntityAddrVec::default(),
            hb_front_addrs: EntityAddrVec::default(),
            info: OsdInfo::default(),
            xinfo: OsdXInfo::default(),
            uuid: [0; 16],
        }
    }
}

/// Stretch-mode state (osd-only section v10+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StretchMode {
    /// Stretch mode is on.
    pub enabled: bool,
    /// Number of stretch buckets.
    pub bucket_count: u32,
    /// Epoch degraded stretch mode began (0: not degraded).
    pub degraded: u32,
    /// Epoch recovery from degraded mode began.
    pub recovering: u32,
    /// CRUSH type id of the stretch bucket.
    pub mode_bucket: i32,
}

/// A decoded full `OSDMap`.
///
/// Comparing two maps (`==`) compares every kept field, so a map built by
/// [`OsdMap::apply_incremental`] can be checked against the full map the
/// monitor encodes for the same epoch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OsdMap {
    /// Cluster fsid.
    pub fsid: [u8; 16],
    /// Epoch.
    pub epoch: u32,
    /// Creation time.
    pub created: UTime,
    /// Time of this epoch.
    pub modified: UTime,
    /// Pool id → pool.
    pub pools: BTreeMap<i64, PgPool>,
    /// Pool id → name.
    pub pool_names: BTreeMap<i64, String>,
    /// Highest pool id ever allocated (an `int32_t` in `OSDMap`).
    pub pool_max: i32,
    /// `CEPH_OSDMAP_*` flags.
    pub flags: u32,
    /// One entry per OSD id `0..max_osd`.
    pub osds: Vec<OsdEntry>,
    /// PG → temporary acting set.
    pub pg_temp: BTreeMap<PgId, Vec<i32>>,
    /// PG → temporary primary.
    pub primary_temp: BTreeMap<PgId, i32>,
    /// The encoded CRUSH map (`CrushWrapper::encode`).
    pub crush_raw: Vec<u8>,
    /// `crush_raw` decoded, kept across incrementals that do not replace
    /// it (`None` only for a map built by hand without one).
    pub crush: Option<Arc<CrushMap>>,
    /// Erasure-code profile name → key/value settings.
    pub erasure_code_profiles: BTreeMap<String, BTreeMap<String, String>>,
    /// PG → explicit OSD list (`osd pg-upmap`).
    pub pg_upmap: BTreeMap<PgId, Vec<i32>>,
    /// PG → (from, to) OSD replacements (`osd pg-upmap-items`).
    pub pg_upmap_items: BTreeMap<PgId, Vec<(i32, i32)>>,
    /// PG → forced primary (client section v10+, Reef; empty from Pacific).
    pub pg_upmap_primaries: BTreeMap<PgId, i32>,
    /// Bumped on each CRUSH change.
    pub crush_version: i32,
    /// When an OSD last went up or down.
    pub last_up_change: UTime,
    /// When an OSD last went in or out.
    pub last_in_change: UTime,
    /// Blocklisted client address → expiry.
    pub blocklist: BTreeMap<EntityAddr, UTime>,
    /// Epoch of the cluster snapshot.
    pub cluster_snapshot_epoch: u32,
    /// Name of the cluster snapshot.
    pub cluster_snapshot: String,
    /// Fill ratio for the NEARFULL warning.
    pub nearfull_ratio: f32,
    /// Fill ratio at which writes stop.
    pub full_ratio: f32,
    /// Fill ratio at which backfill stops.
    pub backfillfull_ratio: f32,
    /// `ceph_release_t` clients must be at least.
    pub require_min_compat_client: u8,
    /// `ceph_release_t` OSDs must be at least (Pacific: 16).
    pub require_osd_release: u8,
    /// CRUSH node id → `CEPH_OSD_*` flags (noout etc. per bucket).
    pub crush_node_flags: BTreeMap<i32, u32>,
    /// Device class id → flags.
    pub device_class_flags: BTreeMap<i32, u32>,
    /// Stretch mode.
    pub stretch: StretchMode,
}

/// Reads the per-OSD vector `field` and checks it has `max_osd` entries.
fn osd_vec<T>(
    r: &mut Reader<'_>,
    field: &'static str,
    max_osd: usize,
    min_elem_len: usize,
    elem: impl FnMut(&mut Reader<'_>) -> Result<T, OsdMapError>,
) -> Result<Vec<T>, OsdMapError> {
    let v = codec::vec(r, field, MAX_OSD, min_elem_len, elem)?;
    if v.len() != max_osd {
        return Err(OsdMapError::OsdVectorLength {
            field,
            len: v.len(),
            max_osd,
        });
    }
    Ok(v)
}

fn addrvec_elem(
    field: &'static str,
) -> impl FnMut(&mut Reader<'_>) -> Result<EntityAddrVec, OsdMapError> {
    move |r| EntityAddrVec::parse(r).at(field)
}

/// Reads a struct_v >= 7 wrapper and returns its version, its body, and the
/// size of its 6-byte header (for the crc).
pub(crate) fn read_wrapper<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<(u8, Reader<'a>), OsdMapError> {
    match r.rest().first() {
        Some(&v) if v < 7 => {
            return Err(OsdMapError::ClassicEncoding { what, version: v });
        }
        _ => {}
    }
    r.versioned(what, 8, MAX_OSDMAP_LEN).at(what)
}

/// Checks the crc of a wrapper whose body started at `body_start` in
/// `blob`: crc32c over the blob up to the crc, continued over the bytes of
/// the body after it (`OSDMap::decode`).
pub(crate) fn check_crc(
    what: &'static str,
    blob: &[u8],
    body_end: usize,
    crc_at: usize,
    stored: u32,
) -> Result<(), OsdMapError> {
    let front = blob.get(..crc_at).unwrap_or_default();
    let tail = blob.get(crc_at + 4..body_end).unwrap_or_default();
    let computed = ceph_crc32c(ceph_crc32c(u32::MAX, front), tail);
    if computed != stored {
        return Err(OsdMapError::BadCrc {
            what,
            stored,
            computed,
        });
    }
    Ok(())
}

/// Decodes an encoded CRUSH map for the cache.
pub(crate) fn parse_crush(bytes: &[u8]) -> Result<Arc<CrushMap>, OsdMapError> {
    CrushMap::parse(bytes)
        .map(Arc::new)
        .map_err(OsdMapError::Crush)
}

impl OsdMap {
    /// The decoded CRUSH map.
    pub fn crush_map(&self) -> Option<&CrushMap> {
        self.crush.as_deref()
    }

    /// Decodes a full map as `OSDMap::decode` does, checking its crc.
    pub fn decode(bytes: &[u8]) -> Result<OsdMap, OsdMapError> {
        Self::decode_inner(bytes, true)
    }

    /// Decodes without checking the crc (fuzzing reaches past it this way).
    pub(crate) fn decode_inner(bytes: &[u8], verify_crc: bool) -> Result<OsdMap, OsdMapError> {
        const W: &str = "OSDMap";
        let mut r = Reader::new(bytes, W);
        let (v, mut body) = read_wrapper(&mut r, W)?;
        r.expect_end().at(W)?;
        let body_start = bytes.len() - body.remaining();
        let mut m = OsdMap::default();
        let max_osd = m.decode_client(&mut body)?;
        m.decode_osd_only(&mut body, max_osd)?;
        if v >= 8 {
            let crc_at = body_start + body.position();
            let stored = body.u32_le().at("OSDMap crc")?;
            if verify_crc {
                check_crc(W, bytes, bytes.len(), crc_at, stored)?;
            }
        }
        Ok(m)
    }

    /// The client-usable section; returns `max_osd`.
    fn decode_client(&mut self, outer: &mut Reader<'_>) -> Result<usize, OsdMapError> {
        const F: &str = "OSDMap client data";
        let (v, mut b) = outer.versioned(F, 10, MAX_OSDMAP_LEN).at(F)?;
        let b = &mut b;
        self.fsid = b.array().at("OSDMap fsid")?;
        self.epoch = b.u32_le().at("OSDMap epoch")?;
        self.created = UTime::parse(b).at("OSDMap created")?;
        self.modified = UTime::parse(b).at("OSDMap modified")?;
        self.pools = codec::map(b, "OSDMap pools", MAX_POOLS, 8 + 6, |r| {
            Ok((r.i64_le().at("OSDMap pools")?, PgPool::decode(r)?))
        })?;
        self.pool_names = codec::map(b, "OSDMap pool_name", MAX_POOLS, 12, |r| {
            Ok((
                r.i64_le().at("OSDMap pool_name")?,
                codec::string(r, "OSDMap pool_name")?,
            ))
        })?;
        self.pool_max = b.i32_le().at("OSDMap pool_max")?;
        self.flags = b.u32_le().at("OSDMap flags")?;
        let raw_max = b.i32_le().at("OSDMap max_osd")?;
        let max_osd = usize::try_from(raw_max)
            .ok()
            .filter(|&n| n <= MAX_OSD)
            .ok_or(OsdMapError::InvalidValue {
                field: "OSDMap max_osd",
                value: i64::from(raw_max),
            })?;
        let states = if v >= 5 {
            osd_vec(b, "OSDMap osd_state", max_osd, 4, |r| {
                r.u32_le().at("OSDMap osd_state")
            })?
        } else {
            osd_vec(b, "OSDMap osd_state", max_osd, 1, |r| {
                Ok(u32::from(r.u8().at("OSDMap osd_state")?))
            })?
        };
        let weights = osd_vec(b, "OSDMap osd_weight", max_osd, 4, |r| {
            r.u32_le().at("OSDMap osd_weight")
        })?;
        let client = osd_vec(
            b,
            "OSDMap client_addrs",
            max_osd,
            5,
            addrvec_elem("OSDMap client_addrs"),
        )?;
        self.osds = states
            .into_iter()
            .zip(weights)
            .zip(client)
            .map(|((state, weight), client_addrs)| OsdEntry {
                state,
                weight,
                client_addrs,
                ..OsdEntry::default()
            })
            .collect();
        self.pg_temp = codec::pg_osd_lists(b, "OSDMap pg_temp", MAX_PG_ENTRIES)?;
        self.primary_temp = codec::pg_osds(b, "OSDMap primary_temp", MAX_PG_ENTRIES)?;
        if v >= 2 {
            // Empty when no OSD has a non-default affinity.
            let aff = codec::vec(b, "OSDMap osd_primary_affinity", MAX_OSD, 4, |r| {
                r.u32_le().at("OSDMap osd_primary_affinity")
            })?;
            if !aff.is_empty() {
                if aff.len() != max_osd {
                    return Err(OsdMapError::OsdVectorLength {
                        field: "OSDMap osd_primary_affinity",
                        len: aff.len(),
                        max_osd,
                    });
                }
                for (o, a) in self.osds.iter_mut().zip(aff) {
                    o.primary_affinity = a;
                }
            }
        }
        self.crush_raw = b.bytes_le32(MAX_OSDMAP_LEN).at("OSDMap crush")?.to_vec();
        self.crush = Some(parse_crush(&self.crush_raw)?);
        if v >= 3 {
            self.erasure_code_profiles =
                codec::string_map_map(b, "OSDMap erasure_code_profiles", MAX_EC_PROFILES)?;
        }
        if v >= 4 {
            self.pg_upmap = codec::pg_osd_lists(b, "OSDMap pg_upmap", MAX_PG_ENTRIES)?;
            self.pg_upmap_items = codec::pg_osd_pairs(b, "OSDMap pg_upmap_items", MAX_PG_ENTRIES)?;
        }
        if v >= 6 {
            self.crush_version = b.i32_le().at("OSDMap crush_version")?;
        }
        if v >= 7 {
            for f in ["OSDMap new_removed_snaps", "OSDMap new_purged_snaps"] {
                codec::skip_pool_interval_sets(b, f, MAX_SNAP_POOLS, MAX_SNAP_INTERVALS)?;
            }
        }
        if v >= 9 {
            self.last_up_change = UTime::parse(b).at("OSDMap last_up_change")?;
            self.last_in_change = UTime::parse(b).at("OSDMap last_in_change")?;
        }
        if v >= 10 {
            self.pg_upmap_primaries =
                codec::pg_osds(b, "OSDMap pg_upmap_primaries", MAX_PG_ENTRIES)?;
        }
        Ok(max_osd)
    }

    /// The extended, osd-only section.
    fn decode_osd_only(
        &mut self,
        outer: &mut Reader<'_>,
        max_osd: usize,
    ) -> Result<(), OsdMapError> {
        const F: &str = "OSDMap osd-only data";
        let (v, mut b) = outer.versioned(F, 12, MAX_OSDMAP_LEN).at(F)?;
        let b = &mut b;
        let hb_back = osd_vec(
            b,
            "OSDMap hb_back_addrs",
            max_osd,
            5,
            addrvec_elem("OSDMap hb_back_addrs"),
        )?;
        let info = osd_vec(b, "OSDMap osd_info", max_osd, OsdInfo::LEN, OsdInfo::decode)?;
        self.blocklist = codec::addr_times(b, "OSDMap blocklist", MAX_BLOCKLIST)?;
        let cluster = osd_vec(
            b,
            "OSDMap cluster_addrs",
            max_osd,
            5,
            addrvec_elem("OSDMap cluster_addrs"),
        )?;
        self.cluster_snapshot_epoch = b.u32_le().at("OSDMap cluster_snapshot_epoch")?;
        self.cluster_snapshot = codec::string(b, "OSDMap cluster_snapshot")?;
        let uuids = osd_vec(b, "OSDMap osd_uuid", max_osd, 16, |r| {
            r.array().at("OSDMap osd_uuid")
        })?;
        let xinfo = osd_vec(b, "OSDMap osd_xinfo", max_osd, 6, OsdXInfo::decode)?;
        let hb_front = osd_vec(
            b,
            "OSDMap hb_front_addrs",
            max_osd,
            5,
            addrvec_elem("OSDMap hb_front_addrs"),
        )?;
        for (i, o) in self.osds.iter_mut().enumerate() {
            // Every vector has max_osd entries (checked by osd_vec).
            o.hb_back_addrs = hb_back.get(i).cloned().unwrap_or_default();
            o.info = info.get(i).copied().unwrap_or_default();
            o.cluster_addrs = cluster.get(i).cloned().unwrap_or_default();
            o.uuid = uuids.get(i).copied().unwrap_or_default();
            o.xinfo = xinfo.get(i).copied().unwrap_or_default();
            o.hb_front_addrs = hb_front.get(i).cloned().unwrap_or_default();
        }
        if v >= 2 {
            self.nearfull_ratio = codec::f32(b, "OSDMap nearfull_ratio")?;
            self.full_ratio = codec::f32(b, "OSDMap full_ratio")?;
        }
        if v >= 3 {
            self.backfillfull_ratio = codec::f32(b, "OSDMap backfillfull_ratio")?;
        }
        if v == 4 {
            codec::string(b, "OSDMap require_min_compat_client (string)")?;
        }
        if v >= 5 {
            self.require_min_compat_client = b.u8().at("OSDMap require_min_compat_client")?;
            self.require_osd_release = b.u8().at("OSDMap require_osd_release")?;
            self.adjust_flags_for_release();
        }
        if v >= 6 {
            codec::skip_pool_interval_sets(
                b,
                "OSDMap removed_snaps_queue",
                MAX_SNAP_POOLS,
                MAX_SNAP_INTERVALS,
            )?;
        }
        if v >= 8 {
            self.crush_node_flags =
                codec::i32_u32_map(b, "OSDMap crush_node_flags", MAX_CRUSH_FLAGS)?;
        }
        if v >= 9 {
            self.device_class_flags =
                codec::i32_u32_map(b, "OSDMap device_class_flags", MAX_CRUSH_FLAGS)?;
        }
        if v >= 10 {
            const S: &str = "OSDMap stretch mode";
            self.stretch = StretchMode {
                enabled: b.bool().at(S)?,
                bucket_count: b.u32_le().at(S)?,
                degraded: b.u32_le().at(S)?,
                recovering: b.u32_le().at(S)?,
                mode_bucket: b.i32_le().at(S)?,
            };
        }
        Ok(())
    }

    /// The flag fix-ups `OSDMap::decode` makes from `require_osd_release`.
    pub(crate) fn adjust_flags_for_release(&mut self) {
        let rel = self.require_osd_release;
        if release::at_least(rel, release::NAUTILUS) {
            self.flags |= map_flag::PGLOG_HARDLIMIT;
        }
        if release::at_least(rel, release::LUMINOUS) {
            self.flags &= !map_flag::LEGACY_REQUIRE_FLAGS;
            self.flags |= map_flag::RECOVERY_DELETES;
        }
    }

    /// `max_osd`.
    pub fn max_osd(&self) -> usize {
        self.osds.len()
    }

    /// The entry of OSD `osd`, if `0 <= osd < max_osd`.
    pub fn osd(&self, osd: i32) -> Option<&OsdEntry> {
        usize::try_from(osd).ok().and_then(|i| self.osds.get(i))
    }

    /// `OSDMap::exists`.
    pub fn exists(&self, osd: i32) -> bool {
        self.osd(osd).is_some_and(|o| o.state & state::EXISTS != 0)
    }

    /// `OSDMap::is_up`: exists and up.
    pub fn is_up(&self, osd: i32) -> bool {
        self.osd(osd)
            .is_some_and(|o| o.state & state::EXISTS != 0 && o.state & state::UP != 0)
    }

    /// `OSDMap::is_in`: exists with a non-zero weight.
    pub fn is_in(&self, osd: i32) -> bool {
        self.osd(osd)
            .is_some_and(|o| o.state & state::EXISTS != 0 && o.weight != OSD_OUT)
    }

    /// The pool id named `name`.
    pub fn pool_by_name(&self, name: &str) -> Option<i64> {
        self.pool_names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }

    /// The public addresses of OSD `osd`, if it exists and has any.
    pub fn primary_addr(&self, osd: i32) -> Option<&EntityAddrVec> {
        self.osd(osd)
            .filter(|o| o.state & state::EXISTS != 0 && !o.client_addrs.0.is_empty())
            .map(|o| &o.client_addrs)
    }
}
