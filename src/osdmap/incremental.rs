//! `OSDMap::Incremental` (`src/osd/OSDMap.{h,cc}`): the difference between
//! epoch e-1 and e, as the monitor sends it, and `OSDMap::apply_incremental`.
//!
//! ```text
//! ENCODE_START(8, 7)                 wrapper
//!   ENCODE_START(v, 1)               client-usable data (Pacific: v 8)
//!     fsid, epoch, modified, new_pool_max, new_flags, fullmap, crush,
//!     new_max_osd, new_pools, new_pool_names, old_pools, new_up_client,
//!     new_state, new_weight, new_pg_temp, new_primary_temp,
//!     new_primary_affinity, new/old_erasure_code_profiles,
//!     new/old_pg_upmap, new/old_pg_upmap_items, new_removed_snaps,
//!     new_purged_snaps, new_last_up_change, new_last_in_change,
//!     (v9) new/old_pg_upmap_primary
//!   ENCODE_START(v, 1)               extended, osd-only data (Pacific: v 9)
//!     new_hb_back_up, new_up_thru, new_last_clean_interval, new_lost,
//!     new_blocklist, old_blocklist, new_up_cluster, cluster_snapshot,
//!     new_uuid, new_xinfo, new_hb_front_up, encode_features, ratios,
//!     new_require_min_compat_client, new_require_osd_release,
//!     new_crush_node_flags, new_device_class_flags, stretch mode (v10)
//!   inc_crc (le32), full_crc (le32)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use super::codec;
use super::crush::CrushMap;
use super::error::{At, OsdMapError};
use super::map::{
    check_crc, map_flag, parse_crush, read_wrapper, release, state, OsdEntry, OsdMap, OsdXInfo,
    StretchMode, DEFAULT_PRIMARY_AFFINITY, MAX_BLOCKLIST, MAX_CRUSH_FLAGS, MAX_EC_PROFILES,
    MAX_OSD, MAX_OSDMAP_LEN, MAX_PG_ENTRIES, MAX_POOLS, MAX_SNAP_INTERVALS, MAX_SNAP_POOLS,
};
use super::pool::PgPool;
use crate::msg::osd_mon::PgId;
use crate::wire::addr::{EntityAddr, EntityAddrVec};
use crate::wire::utime::UTime;
use crate::wire::Reader;

/// A decoded `OSDMap::Incremental`. Field names follow Ceph's; "unset"
/// values are Ceph's (-1 for `new_pool_max`, `new_flags`, `new_max_osd`
/// and the ratios, 0xff for the release fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Incremental {
    /// Cluster fsid.
    pub fsid: [u8; 16],
    /// The epoch this incremental produces.
    pub epoch: u32,
    /// Time of the new epoch.
    pub modified: UTime,
    /// New `pool_max`, or -1.
    pub new_pool_max: i64,
    /// New flags, or -1.
    pub new_flags: i32,
    /// A whole encoded map replacing the old one (empty if none).
    pub fullmap: Vec<u8>,
    /// A new encoded CRUSH map (empty if unchanged).
    pub crush: Vec<u8>,
    /// New `max_osd`, or -1.
    pub new_max_osd: i32,
    /// Pools created or changed.
    pub new_pools: BTreeMap<i64, PgPool>,
    /// Pool names set.
    pub new_pool_names: BTreeMap<i64, String>,
    /// Pools deleted.
    pub old_pools: Vec<i64>,
    /// OSDs that came up, with their public addresses.
    pub new_up_client: BTreeMap<i32, EntityAddrVec>,
    /// OSD state bits to toggle (XOR; 0 means `CEPH_OSD_UP`).
    pub new_state: BTreeMap<i32, u32>,
    /// New reweights.
    pub new_weight: BTreeMap<i32, u32>,
    /// `pg_temp` changes (an empty list removes the entry).
    pub new_pg_temp: BTreeMap<PgId, Vec<i32>>,
    /// `primary_temp` changes (-1 removes the entry).
    pub new_primary_temp: BTreeMap<PgId, i32>,
    /// New primary affinities.
    pub new_primary_affinity: BTreeMap<i32, u32>,
    /// Erasure-code profiles set.
    pub new_erasure_code_profiles: BTreeMap<String, BTreeMap<String, String>>,
    /// Erasure-code profiles removed.
    pub old_erasure_code_profiles: Vec<String>,
    /// `pg_upmap` entries set.
    pub new_pg_upmap: BTreeMap<PgId, Vec<i32>>,
    /// `pg_upmap` entries removed.
    pub old_pg_upmap: Vec<PgId>,
    /// `pg_upmap_items` entries set.
    pub new_pg_upmap_items: BTreeMap<PgId, Vec<(i32, i32)>>,
    /// `pg_upmap_items` entries removed.
    pub old_pg_upmap_items: Vec<PgId>,
    /// `pg_upmap_primaries` entries set (v9+, Reef).
    pub new_pg_upmap_primary: BTreeMap<PgId, i32>,
    /// `pg_upmap_primaries` entries removed (v9+, Reef).
    pub old_pg_upmap_primary: Vec<PgId>,
    /// New `last_up_change` (zero: unchanged).
    pub new_last_up_change: UTime,
    /// New `last_in_change` (zero: unchanged).
    pub new_last_in_change: UTime,
    /// Back heartbeat addresses of OSDs that came up.
    pub new_hb_back_up: BTreeMap<i32, EntityAddrVec>,
    /// New `up_thru` epochs.
    pub new_up_thru: BTreeMap<i32, u32>,
    /// New last clean intervals (begin, end).
    pub new_last_clean_interval: BTreeMap<i32, (u32, u32)>,
    /// OSDs marked lost, with the epoch.
    pub new_lost: BTreeMap<i32, u32>,
    /// Addresses blocklisted, with expiry.
    pub new_blocklist: BTreeMap<EntityAddr, UTime>,
    /// Addresses removed from the blocklist.
    pub old_blocklist: Vec<EntityAddr>,
    /// Cluster addresses of OSDs that came up.
    pub new_up_cluster: BTreeMap<i32, EntityAddrVec>,
    /// Cluster snapshot name (empty: none).
    pub cluster_snapshot: String,
    /// OSD uuids set.
    pub new_uuid: BTreeMap<i32, [u8; 16]>,
    /// Extended OSD info set.
    pub new_xinfo: BTreeMap<i32, OsdXInfo>,
    /// Front heartbeat addresses of OSDs that came up.
    pub new_hb_front_up: BTreeMap<i32, EntityAddrVec>,
    /// Features the encoder used.
    pub encode_features: u64,
    /// New nearfull ratio, or negative.
    pub new_nearfull_ratio: f32,
    /// New full ratio, or negative.
    pub new_full_ratio: f32,
    /// New backfillfull ratio, or negative.
    pub new_backfillfull_ratio: f32,
    /// New `require_min_compat_client`, or 0xff.
    pub new_require_min_compat_client: u8,
    /// New `require_osd_release`, or 0xff.
    pub new_require_osd_release: u8,
    /// CRUSH node flags set (0 removes).
    pub new_crush_node_flags: BTreeMap<i32, u32>,
    /// Device class flags set (0 removes).
    pub new_device_class_flags: BTreeMap<i32, u32>,
    /// The stretch-mode fields below replace the map's.
    pub change_stretch_mode: bool,
    /// New stretch mode (applied when `change_stretch_mode`).
    pub stretch: StretchMode,
}

impl Default for Incremental {
    /// An empty incremental (`OSDMap::Incremental()`).
    fn default() -> Self {
        Incremental {
            fsid: [0; 16],
            epoch: 0,
            modified: UTime::default(),
            new_pool_max: -1,
            new_flags: -1,
            fullmap: Vec::new(),
            crush: Vec::new(),
            new_max_osd: -1,
            new_pools: BTreeMap::new(),
            new_pool_names: BTreeMap::new(),
            old_pools: Vec::new(),
            new_up_client: BTreeMap::new(),
            new_state: BTreeMap::new(),
            new_weight: BTreeMap::new(),
            new_pg_temp: BTreeMap::new(),
            new_primary_temp: BTreeMap::new(),
            new_primary_affinity: BTreeMap::new(),
            new_erasure_code_profiles: BTreeMap::new(),
            old_erasure_code_profiles: Vec::new(),
            new_pg_upmap: BTreeMap::new(),
            old_pg_upmap: Vec::new(),
            new_pg_upmap_items: BTreeMap::new(),
            old_pg_upmap_items: Vec::new(),
            new_pg_upmap_primary: BTreeMap::new(),
            old_pg_upmap_primary: Vec::new(),
            new_last_up_change: UTime::default(),
            new_last_in_change: UTime::default(),
            new_hb_back_up: BTreeMap::new(),
            new_up_thru: BTreeMap::new(),
            new_last_clean_interval: BTreeMap::new(),
            new_lost: BTreeMap::new(),
            new_blocklist: BTreeMap::new(),
            old_blocklist: Vec::new(),
            new_up_cluster: BTreeMap::new(),
            cluster_snapshot: String::new(),
            new_uuid: BTreeMap::new(),
            new_xinfo: BTreeMap::new(),
            new_hb_front_up: BTreeMap::new(),
            encode_features: 0,
            new_nearfull_ratio: -1.0,
            new_full_ratio: -1.0,
            new_backfillfull_ratio: -1.0,
            new_require_min_compat_client: 0xff,
            new_require_osd_release: 0xff,
            new_crush_node_flags: BTreeMap::new(),
            new_device_class_flags: BTreeMap::new(),
            change_stretch_mode: false,
            stretch: StretchMode::default(),
        }
    }
}

/// Reads a `map<int32_t, epoch_t>`.
fn osd_epochs(r: &mut Reader<'_>, field: &'static str) -> Result<BTreeMap<i32, u32>, OsdMapError> {
    codec::i32_u32_map(r, field, MAX_OSD)
}

impl Incremental {
    /// Decodes an encoded incremental as `OSDMap::Incremental::decode`
    /// does, checking its crc.
    pub fn decode(bytes: &[u8]) -> Result<Incremental, OsdMapError> {
        Self::decode_inner(bytes, true)
    }

    /// Decodes without checking the crc (fuzzing reaches past it this way).
    pub(crate) fn decode_inner(bytes: &[u8], verify_crc: bool) -> Result<Incremental, OsdMapError> {
        const W: &str = "OSDMap::Incremental";
        let mut r = Reader::new(bytes, W);
        let (v, mut body) = read_wrapper(&mut r, W)?;
        r.expect_end().at(W)?;
        let body_start = bytes.len() - body.remaining();
        let mut inc = Incremental::default();
        inc.decode_client(&mut body)?;
        inc.decode_osd_only(&mut body)?;
        if v >= 8 {
            let crc_at = body_start + body.position();
            let stored = body.u32_le().at("OSDMap::Incremental inc_crc")?;
            body.u32_le().at("OSDMap::Incremental full_crc")?;
            if verify_crc {
                check_crc(W, bytes, bytes.len(), crc_at, stored)?;
            }
        }
        Ok(inc)
    }

    fn decode_client(&mut self, outer: &mut Reader<'_>) -> Result<(), OsdMapError> {
        const F: &str = "OSDMap::Incremental client data";
        let (v, mut b) = outer.versioned(F, 9, MAX_OSDMAP_LEN).at(F)?;
        let b = &mut b;
        self.fsid = b.array().at("Incremental fsid")?;
        self.epoch = b.u32_le().at("Incremental epoch")?;
        self.modified = UTime::parse(b).at("Incremental modified")?;
        self.new_pool_max = b.i64_le().at("Incremental new_pool_max")?;
        self.new_flags = b.i32_le().at("Incremental new_flags")?;
        self.fullmap = b
            .bytes_le32(MAX_OSDMAP_LEN)
            .at("Incremental fullmap")?
            .to_vec();
        self.crush = b
            .bytes_le32(MAX_OSDMAP_LEN)
            .at("Incremental crush")?
            .to_vec();
        self.new_max_osd = b.i32_le().at("Incremental new_max_osd")?;
        self.new_pools = codec::map(b, "Incremental new_pools", MAX_POOLS, 8 + 6, |r| {
            Ok((r.i64_le().at("Incremental new_pools")?, PgPool::decode(r)?))
        })?;
        self.new_pool_names = codec::map(b, "Incremental new_pool_names", MAX_POOLS, 12, |r| {
            Ok((
                r.i64_le().at("Incremental new_pool_names")?,
                codec::string(r, "Incremental new_pool_names")?,
            ))
        })?;
        self.old_pools = codec::vec(b, "Incremental old_pools", MAX_POOLS, 8, |r| {
            r.i64_le().at("Incremental old_pools")
        })?;
        self.new_up_client = codec::osd_addrvecs(b, "Incremental new_up_client", MAX_OSD)?;
        self.new_state = if v >= 5 {
            codec::i32_u32_map(b, "Incremental new_state", MAX_OSD)?
        } else {
            codec::map(b, "Incremental new_state", MAX_OSD, 5, |r| {
                Ok((
                    r.i32_le().at("Incremental new_state")?,
                    u32::from(r.u8().at("Incremental new_state")?),
                ))
            })?
        };
        self.new_weight = codec::i32_u32_map(b, "Incremental new_weight", MAX_OSD)?;
        self.new_pg_temp = codec::pg_osd_lists(b, "Incremental new_pg_temp", MAX_PG_ENTRIES)?;
        self.new_primary_temp = codec::pg_osds(b, "Incremental new_primary_temp", MAX_PG_ENTRIES)?;
        if v >= 2 {
            self.new_primary_affinity =
                codec::i32_u32_map(b, "Incremental new_primary_affinity", MAX_OSD)?;
        }
        if v >= 3 {
            self.new_erasure_code_profiles =
                codec::string_map_map(b, "Incremental new_erasure_code_profiles", MAX_EC_PROFILES)?;
            self.old_erasure_code_profiles = codec::vec(
                b,
                "Incremental old_erasure_code_profiles",
                MAX_EC_PROFILES,
                4,
                |r| codec::string(r, "Incremental old_erasure_code_profiles"),
            )?;
        }
        if v >= 4 {
            self.new_pg_upmap = codec::pg_osd_lists(b, "Incremental new_pg_upmap", MAX_PG_ENTRIES)?;
            self.old_pg_upmap = codec::pg_set(b, "Incremental old_pg_upmap", MAX_PG_ENTRIES)?;
            self.new_pg_upmap_items =
                codec::pg_osd_pairs(b, "Incremental new_pg_upmap_items", MAX_PG_ENTRIES)?;
            self.old_pg_upmap_items =
                codec::pg_set(b, "Incremental old_pg_upmap_items", MAX_PG_ENTRIES)?;
        }
        if v >= 6 {
            for f in [
                "Incremental new_removed_snaps",
                "Incremental new_purged_snaps",
            ] {
                codec::skip_pool_interval_sets(b, f, MAX_SNAP_POOLS, MAX_SNAP_INTERVALS)?;
            }
        }
        if v >= 8 {
            self.new_last_up_change = UTime::parse(b).at("Incremental new_last_up_change")?;
            self.new_last_in_change = UTime::parse(b).at("Incremental new_last_in_change")?;
        }
        if v >= 9 {
            self.new_pg_upmap_primary =
                codec::pg_osds(b, "Incremental new_pg_upmap_primary", MAX_PG_ENTRIES)?;
            self.old_pg_upmap_primary =
                codec::pg_set(b, "Incremental old_pg_upmap_primary", MAX_PG_ENTRIES)?;
        }
        Ok(())
    }

    fn decode_osd_only(&mut self, outer: &mut Reader<'_>) -> Result<(), OsdMapError> {
        const F: &str = "OSDMap::Incremental osd-only data";
        let (v, mut b) = outer.versioned(F, 12, MAX_OSDMAP_LEN).at(F)?;
        let b = &mut b;
        self.new_hb_back_up = codec::osd_addrvecs(b, "Incremental new_hb_back_up", MAX_OSD)?;
        self.new_up_thru = osd_epochs(b, "Incremental new_up_thru")?;
        self.new_last_clean_interval =
            codec::map(b, "Incremental new_last_clean_interval", MAX_OSD, 12, |r| {
                const L: &str = "Incremental new_last_clean_interval";
                Ok((r.i32_le().at(L)?, (r.u32_le().at(L)?, r.u32_le().at(L)?)))
            })?;
        self.new_lost = osd_epochs(b, "Incremental new_lost")?;
        self.new_blocklist = codec::addr_times(b, "Incremental new_blocklist", MAX_BLOCKLIST)?;
        self.old_blocklist = codec::vec(b, "Incremental old_blocklist", MAX_BLOCKLIST, 19, |r| {
            EntityAddr::parse(r).at("Incremental old_blocklist")
        })?;
        self.new_up_cluster = codec::osd_addrvecs(b, "Incremental new_up_cluster", MAX_OSD)?;
        self.cluster_snapshot = codec::string(b, "Incremental cluster_snapshot")?;
        self.new_uuid = codec::map(b, "Incremental new_uuid", MAX_OSD, 20, |r| {
            Ok((
                r.i32_le().at("Incremental new_uuid")?,
                r.array().at("Incremental new_uuid")?,
            ))
        })?;
        self.new_xinfo = codec::map(b, "Incremental new_xinfo", MAX_OSD, 10, |r| {
            Ok((
                r.i32_le().at("Incremental new_xinfo")?,
                OsdXInfo::decode(r)?,
            ))
        })?;
        self.new_hb_front_up = codec::osd_addrvecs(b, "Incremental new_hb_front_up", MAX_OSD)?;
        if v >= 2 {
            self.encode_features = b.u64_le().at("Incremental encode_features")?;
        }
        if v >= 3 {
            self.new_nearfull_ratio = codec::f32(b, "Incremental new_nearfull_ratio")?;
            self.new_full_ratio = codec::f32(b, "Incremental new_full_ratio")?;
        }
        if v >= 4 {
            self.new_backfillfull_ratio = codec::f32(b, "Incremental new_backfillfull_ratio")?;
        }
        if v == 5 {
            codec::string(b, "Incremental new_require_min_compat_client (string)")?;
        }
        if v >= 6 {
            self.new_require_min_compat_client =
                b.u8().at("Incremental new_require_min_compat_client")?;
            self.new_require_osd_release = b.u8().at("Incremental new_require_osd_release")?;
        }
        if v >= 8 {
            self.new_crush_node_flags =
                codec::i32_u32_map(b, "Incremental new_crush_node_flags", MAX_CRUSH_FLAGS)?;
        }
        if v >= 9 {
            self.new_device_class_flags =
                codec::i32_u32_map(b, "Incremental new_device_class_flags", MAX_CRUSH_FLAGS)?;
        }
        if v >= 10 {
            const S: &str = "Incremental stretch mode";
            self.change_stretch_mode = b.bool().at(S)?;
            self.stretch.bucket_count = b.u32_le().at(S)?;
            self.stretch.degraded = b.u32_le().at(S)?;
            self.stretch.recovering = b.u32_le().at(S)?;
            self.stretch.mode_bucket = b.i32_le().at(S)?;
            self.stretch.enabled = b.bool().at(S)?;
        }
        Ok(())
    }

    /// Checks that every OSD id the incremental touches is below `max_osd`
    /// (Ceph indexes its vectors with them unchecked).
    fn check_osd_ids(&self, max_osd: usize) -> Result<(), OsdMapError> {
        fn check<'a>(
            field: &'static str,
            ids: impl Iterator<Item = &'a i32>,
            max_osd: usize,
        ) -> Result<(), OsdMapError> {
            for &osd in ids {
                if usize::try_from(osd).map_or(true, |i| i >= max_osd) {
                    return Err(OsdMapError::OsdOutOfRange {
                        field,
                        osd,
                        max_osd,
                    });
                }
            }
            Ok(())
        }
        check("Incremental new_weight", self.new_weight.keys(), max_osd)?;
        check(
            "Incremental new_primary_affinity",
            self.new_primary_affinity.keys(),
            max_osd,
        )?;
        check("Incremental new_state", self.new_state.keys(), max_osd)?;
        check(
            "Incremental new_up_client",
            self.new_up_client.keys(),
            max_osd,
        )?;
        check(
            "Incremental new_up_cluster",
            self.new_up_cluster.keys(),
            max_osd,
        )?;
        check("Incremental new_up_thru", self.new_up_thru.keys(), max_osd)?;
        check(
            "Incremental new_last_clean_interval",
            self.new_last_clean_interval.keys(),
            max_osd,
        )?;
        check("Incremental new_lost", self.new_lost.keys(), max_osd)?;
        check("Incremental new_xinfo", self.new_xinfo.keys(), max_osd)?;
        check("Incremental new_uuid", self.new_uuid.keys(), max_osd)?;
        Ok(())
    }
}

impl OsdMap {
    /// `OSDMap::set_max_osd`: grows (with empty, non-existent OSDs) or
    /// shrinks the per-OSD table.
    pub fn set_max_osd(&mut self, max_osd: usize) {
        self.osds.resize(max_osd, OsdEntry::default());
    }

    /// Applies `inc` as `OSDMap::apply_incremental` does. `inc.epoch` must
    /// be `self.epoch + 1` and its fsid this map's (epoch 1 sets the fsid).
    /// On error the map is unchanged.
    pub fn apply_incremental(&mut self, inc: &Incremental) -> Result<(), OsdMapError> {
        if inc.epoch != 1 && inc.fsid != self.fsid {
            return Err(OsdMapError::FsidMismatch);
        }
        if Some(inc.epoch) != self.epoch.checked_add(1) {
            return Err(OsdMapError::EpochMismatch {
                map_epoch: self.epoch,
                inc_epoch: inc.epoch,
            });
        }
        if !inc.fullmap.is_empty() {
            let full =
                OsdMap::decode(&inc.fullmap).map_err(|e| OsdMapError::FullMap(Box::new(e)))?;
            *self = full;
            return Ok(());
        }
        let max_osd = if inc.new_max_osd >= 0 {
            let n = usize::try_from(inc.new_max_osd).unwrap_or(usize::MAX);
            if n > MAX_OSD {
                return Err(OsdMapError::InvalidValue {
                    field: "Incremental new_max_osd",
                    value: i64::from(inc.new_max_osd),
                });
            }
            n
        } else {
            self.max_osd()
        };
        inc.check_osd_ids(max_osd)?;
        let crush = if inc.crush.is_empty() {
            None
        } else {
            Some(parse_crush(&inc.crush)?)
        };
        // Nothing below fails, so the map is never left half-applied.
        self.apply_checked(inc, max_osd, crush);
        Ok(())
    }

    /// The body of `apply_incremental`, after every id was checked.
    fn apply_checked(&mut self, inc: &Incremental, max_osd: usize, crush: Option<Arc<CrushMap>>) {
        self.fsid = inc.fsid;
        self.epoch = inc.epoch;
        self.modified = inc.modified;
        let epoch = self.epoch;
        if inc.new_flags >= 0 {
            self.flags = inc.new_flags as u32;
            // A newly upgraded luminous mon cluster's legacy require flags.
            let rel = self.require_osd_release;
            let unknown = rel >= 0x80;
            if self.flags & map_flag::REQUIRE_KRAKEN != 0 {
                if unknown || rel < 11 {
                    self.require_osd_release = 11;
                }
            } else if self.flags & map_flag::REQUIRE_JEWEL != 0 && (unknown || rel < 10) {
                self.require_osd_release = 10;
            }
        }
        if inc.new_max_osd >= 0 {
            self.set_max_osd(max_osd);
        }
        if inc.new_pool_max != -1 {
            // OSDMap keeps an int32_t; Ceph assigns the int64_t as is.
            self.pool_max = inc.new_pool_max as i32;
        }
        for (&id, pool) in &inc.new_pools {
            let mut p = pool.clone();
            p.last_change = epoch;
            self.pools.insert(id, p);
        }
        if !inc.new_last_up_change.is_zero() {
            self.last_up_change = inc.new_last_up_change;
        }
        if !inc.new_last_in_change.is_zero() {
            self.last_in_change = inc.new_last_in_change;
        }
        for (&id, name) in &inc.new_pool_names {
            self.pool_names.insert(id, name.clone());
        }
        for id in &inc.old_pools {
            self.pools.remove(id);
            self.pool_names.remove(id);
        }
        // Ids were checked against max_osd, so the indexing below is in range.
        for (&osd, &w) in &inc.new_weight {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.weight = w;
                if w != 0 {
                    // set_weight marks the id as existing; marking in clears
                    // AUTOOUT and NEW and the remembered weight.
                    o.state |= state::EXISTS;
                    o.state &= !(state::AUTOOUT | state::NEW);
                    o.xinfo.old_weight = 0;
                }
            }
        }
        for (&osd, &a) in &inc.new_primary_affinity {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.primary_affinity = a;
            }
        }
        for name in &inc.old_erasure_code_profiles {
            self.erasure_code_profiles.remove(name);
        }
        for (name, profile) in &inc.new_erasure_code_profiles {
            self.erasure_code_profiles
                .insert(name.clone(), profile.clone());
        }
        // up/down: XOR the bits; 0 means UP. An OSD that exists and has
        // EXISTS toggled is destroyed: everything about it is cleared.
        for (&osd, &bits) in &inc.new_state {
            let s = if bits == 0 { state::UP } else { bits };
            let modified = self.modified;
            if let Some(o) = self.osds.get_mut(osd as usize) {
                if o.state & state::UP != 0 && s & state::UP != 0 {
                    o.info.down_at = epoch;
                    o.xinfo.down_stamp = modified;
                }
                if o.state & state::EXISTS != 0 && s & state::EXISTS != 0 {
                    let weight = o.weight;
                    *o = OsdEntry {
                        weight,
                        primary_affinity: DEFAULT_PRIMARY_AFFINITY,
                        ..OsdEntry::default()
                    };
                } else {
                    o.state ^= s;
                }
            }
        }
        for (&osd, addrs) in &inc.new_up_client {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.state |= state::EXISTS | state::UP;
                o.state &= !state::STOP;
                o.client_addrs = addrs.clone();
                o.hb_back_addrs = inc.new_hb_back_up.get(&osd).cloned().unwrap_or_default();
                o.hb_front_addrs = inc.new_hb_front_up.get(&osd).cloned().unwrap_or_default();
                o.info.up_from = epoch;
            }
        }
        for (&osd, addrs) in &inc.new_up_cluster {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.cluster_addrs = addrs.clone();
            }
        }
        for (&osd, &e) in &inc.new_up_thru {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.info.up_thru = e;
            }
        }
        for (&osd, &(begin, end)) in &inc.new_last_clean_interval {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.info.last_clean_begin = begin;
                o.info.last_clean_end = end;
            }
        }
        for (&osd, &e) in &inc.new_lost {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.info.lost_at = e;
            }
        }
        for (&osd, x) in &inc.new_xinfo {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.xinfo = *x;
            }
        }
        for (&osd, u) in &inc.new_uuid {
            if let Some(o) = self.osds.get_mut(osd as usize) {
                o.uuid = *u;
            }
        }
        for (pg, osds) in &inc.new_pg_temp {
            if osds.is_empty() {
                self.pg_temp.remove(pg);
            } else {
                self.pg_temp.insert(*pg, osds.clone());
            }
        }
        for (pg, &osd) in &inc.new_primary_temp {
            if osd == -1 {
                self.primary_temp.remove(pg);
            } else {
                self.primary_temp.insert(*pg, osd);
            }
        }
        for (pg, osds) in &inc.new_pg_upmap {
            self.pg_upmap.insert(*pg, osds.clone());
        }
        for pg in &inc.old_pg_upmap {
            self.pg_upmap.remove(pg);
        }
        for (pg, items) in &inc.new_pg_upmap_items {
            self.pg_upmap_items.insert(*pg, items.clone());
        }
        for pg in &inc.old_pg_upmap_items {
            self.pg_upmap_items.remove(pg);
        }
        for (pg, &osd) in &inc.new_pg_upmap_primary {
            self.pg_upmap_primaries.insert(*pg, osd);
        }
        for pg in &inc.old_pg_upmap_primary {
            self.pg_upmap_primaries.remove(pg);
        }
        for (a, t) in &inc.new_blocklist {
            self.blocklist.insert(*a, *t);
        }
        for a in &inc.old_blocklist {
            self.blocklist.remove(a);
        }
        for (&id, &f) in &inc.new_crush_node_flags {
            if f != 0 {
                self.crush_node_flags.insert(id, f);
            } else {
                self.crush_node_flags.remove(&id);
            }
        }
        for (&id, &f) in &inc.new_device_class_flags {
            if f != 0 {
                self.device_class_flags.insert(id, f);
            } else {
                self.device_class_flags.remove(&id);
            }
        }
        if inc.cluster_snapshot.is_empty() {
            self.cluster_snapshot.clear();
            self.cluster_snapshot_epoch = 0;
        } else {
            self.cluster_snapshot = inc.cluster_snapshot.clone();
            self.cluster_snapshot_epoch = inc.epoch;
        }
        if inc.new_nearfull_ratio >= 0.0 {
            self.nearfull_ratio = inc.new_nearfull_ratio;
        }
        if inc.new_backfillfull_ratio >= 0.0 {
            self.backfillfull_ratio = inc.new_backfillfull_ratio;
        }
        if inc.new_full_ratio >= 0.0 {
            self.full_ratio = inc.new_full_ratio;
        }
        // ceph_release_t treats values with the top bit set as "unset".
        let compat = inc.new_require_min_compat_client;
        if compat > 0 && compat < 0x80 {
            self.require_min_compat_client = compat;
        }
        if inc.new_require_osd_release < 0x80 {
            self.require_osd_release = inc.new_require_osd_release;
            self.adjust_flags_for_release();
        }
        // The new CRUSH map last, after the up/down changes.
        if let Some(crush) = crush {
            // Flags of device classes the new map no longer has go.
            self.device_class_flags
                .retain(|id, _| crush.class_names().contains_key(id));
            self.crush = Some(crush);
            self.crush_raw = inc.crush.clone();
            if release::at_least(self.require_osd_release, release::LUMINOUS) {
                self.crush_version = self.crush_version.wrapping_add(1);
            }
        }
        if inc.change_stretch_mode {
            self.stretch = inc.stretch;
        }
    }
}
