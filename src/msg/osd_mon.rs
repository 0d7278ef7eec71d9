//! What an OSD says to the monitors and to its heartbeat peers: MOSDBoot,
//! MOSDBeacon, MOSDMarkMeDown, MOSDMap and MOSDPing, with the
//! `OSDSuperblock` and `CompatSet` that MOSDBoot carries (Ceph Pacific
//! 16.2.15: `src/messages/MOSDBoot.h`, `MOSDBeacon.h`, `MOSDMarkMeDown.h`,
//! `MOSDMap.h`, `MOSDPing.h`, `PaxosServiceMessage.h`; `OSDSuperblock` in
//! `src/osd/osd_types.h/.cc`; `src/include/CompatSet.h`; `pg_t` in
//! `src/osd/osd_types.h`; `std::chrono` durations in
//! `src/include/encoding.h`).
//!
//! | message        | type | version | compat | starts with              |
//! |----------------|------|---------|--------|--------------------------|
//! | MOSDBoot       | 71   | 7       | 7      | PaxosServiceMessage      |
//! | MOSDBeacon     | 79   | 3       | 1      | PaxosServiceMessage      |
//! | MOSDMarkMeDown | 74   | 4       | 3      | PaxosServiceMessage      |
//! | MOSDMap        | 41   | 4       | 3      | fsid                     |
//! | MOSDPing       | 70   | 5       | 4      | fsid                     |
//!
//! # What the Pacific monitor checks (`src/mon/OSDMonitor.cc`)
//!
//! `preprocess_boot` drops an MOSDBoot silently (no reply) unless: the
//! session has `osd` cap `x`; `sb.cluster_fsid` is the monmap fsid; the
//! sender's address (from the msgr2 handshake, not from this payload) is not
//! a blank IP; `osd_features` has SERVER_LUMINOUS, SERVER_JEWEL,
//! SERVER_KRAKEN and OSD_RECOVERY_DELETES (see [`boot_feature_problems`]);
//! OSD_PGLOG_HARDLIMIT if the map has the `pglog_hardlimit` flag (new
//! clusters do); STRETCH_MODE if stretch mode is on; and, if the OSD id
//! exists with a non-zero uuid, `sb.osd_fsid` equals it (the uuid given to
//! `ceph osd new`). A boot whose `version` is older than the OSD's last
//! `up_from` (same addresses) or that hits `noup` gets maps from
//! `sb.current_epoch + 1` and nothing else. `prepare_boot` then requires the
//! id to be below `max_osd` (i.e. created by `osd new`/`osd create`), records
//! the connection's addresses as the public addresses, `cluster_addrs`,
//! `hb_back_addrs`, `hb_front_addrs`, `metadata`, `osd_features`, uses
//! `sb.weight` if non-zero, `sb.mounted`/`sb.clean_thru` for the last clean
//! interval and `sb.newest_map == 0` to mark a fresh OSD lost; once the
//! proposal commits it replies with incremental maps from
//! `sb.current_epoch + 1` (`_booted`).
//!
//! `preprocess_mark_me_down` needs `fsid` = monmap fsid, an OSD sender,
//! `target_osd` up, and `target_addrs` **equal** to the OSD's public
//! addresses in the map; otherwise it only acks (if `request_ack`).
//! `prepare_beacon` ignores a beacon unless the sender is an up OSD whose
//! map addresses `legacy_equals` the connection's; it records the time, the
//! beacon's `version` (map epoch), `osd_beacon_report_interval`, the
//! `min_last_epoch_clean` of each listed PG, and a newer
//! `last_purged_snaps_scrub`.

use std::collections::BTreeMap;

use super::mon_command::{put_paxos, read_paxos};
use super::{finish, types, MessagePayload, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::wire::addr::EntityAddrVec;
use crate::wire::features;
use crate::wire::utime::UTime;
use crate::wire::{DecodeError, Put, Reader};

/// Largest encoded `OSDSuperblock` we accept (a real one is ~700 bytes).
pub const MAX_SUPERBLOCK_LEN: usize = 64 * 1024;
/// Most features in one `CompatSet::FeatureSet` (ids are 1..=62).
pub const MAX_COMPAT_FEATURES: usize = 64;
/// Most entries of the legacy `pool_last_map_marked_full` superblock map.
pub const MAX_POOL_MARKED_FULL: usize = 1 << 16;
/// Most metadata entries in an MOSDBoot (a Pacific OSD sends about 80).
pub const MAX_METADATA_ENTRIES: usize = 4096;
/// Most PGs in one MOSDBeacon.
pub const MAX_BEACON_PGS: usize = 1 << 18;
/// Most epochs in each map of one MOSDMap (Ceph sends `osd_map_message_max`,
/// 40 by default).
pub const MAX_OSDMAP_EPOCHS: usize = 4096;
/// Largest single osdmap blob (full or incremental) in an MOSDMap. The
/// total is bounded by the front segment, which holds them all.
pub const MAX_OSDMAP_LEN: usize = 64 << 20;
/// Most pools in the (always empty since Octopus) MOSDMap v4
/// `gap_removed_snaps`.
pub const MAX_GAP_POOLS: usize = 1 << 16;
/// Most intervals per pool in `gap_removed_snaps`.
pub const MAX_GAP_INTERVALS: usize = 1 << 20;
/// Largest MOSDPing padding we accept (`osd_heartbeat_min_size` is 2000 by
/// default; jumbo-frame setups use about 9000).
pub const MAX_PING_PADDING: usize = 1 << 20;

/// Pacific's default `osd_heartbeat_min_size`: pings and replies are padded
/// to at least this many front bytes (see [`MOsdPing`]).
pub const OSD_HEARTBEAT_MIN_SIZE_DEFAULT: u32 = 2000;

/// Bytes of an MOSDPing front before the padding length: fsid (16),
/// map_epoch (4), op (1), ping_stamp (8). Ceph's `payload_mid_length`.
pub const PING_MID_LENGTH: u32 = 29;

/// Rewrites the `what` of length errors so they name the field being read.
/// Errors from nested structures that name a more specific part
/// (`InvalidValue`, `IncompatibleVersion`, `Trailing`) are kept as they are.
pub(crate) fn field(what: &'static str) -> impl Fn(DecodeError) -> DecodeError {
    move |e| match e {
        DecodeError::Truncated {
            needed, available, ..
        } => DecodeError::Truncated {
            what,
            needed,
            available,
        },
        DecodeError::TooLong { len, limit, .. } => DecodeError::TooLong { what, len, limit },
        DecodeError::InvalidUtf8 { .. } => DecodeError::InvalidUtf8 { what },
        other => other,
    }
}

/// Reads a 16-byte `uuid_d` / `ceph_fsid_t`.
fn read_uuid(r: &mut Reader<'_>, what: &'static str) -> Result<[u8; 16], DecodeError> {
    r.array().map_err(field(what))
}

fn read_u32(r: &mut Reader<'_>, what: &'static str) -> Result<u32, DecodeError> {
    r.u32_le().map_err(field(what))
}

fn read_i32(r: &mut Reader<'_>, what: &'static str) -> Result<i32, DecodeError> {
    r.i32_le().map_err(field(what))
}

fn read_utime(r: &mut Reader<'_>, what: &'static str) -> Result<UTime, DecodeError> {
    UTime::parse(r).map_err(field(what))
}

fn read_addrs(r: &mut Reader<'_>, what: &'static str) -> Result<EntityAddrVec, DecodeError> {
    EntityAddrVec::parse(r).map_err(field(what))
}

// ---------------------------------------------------------------------------
// CompatSet

/// One `CompatSet::FeatureSet` (`src/include/CompatSet.h`): a bit mask and
/// the name of every feature id.
///
/// `mask` is Ceph's in-memory value, which always has bit 0 set; the wire
/// carries it with bit 0 cleared. A decoded mask with bit 0 set comes from a
/// pre-Argonaut encoder and is rebuilt from the names, as Ceph does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureSet {
    /// `1 | (1 << id)` for every id.
    pub mask: u64,
    /// Feature id → name, in id order (Ceph's `std::map`).
    pub names: BTreeMap<u64, String>,
}

impl Default for FeatureSet {
    /// The empty set (`FeatureSet() : mask(1)`).
    fn default() -> Self {
        FeatureSet {
            mask: 1,
            names: BTreeMap::new(),
        }
    }
}

impl FeatureSet {
    /// Adds feature `id` (1..=62, as Ceph asserts); other ids are ignored
    /// and `false` is returned.
    pub fn insert(&mut self, id: u64, name: &str) -> bool {
        if !(1..63).contains(&id) {
            return false;
        }
        self.mask |= 1 << id;
        self.names.insert(id, name.to_owned());
        true
    }

    /// True if feature `id` is named in the set (`contains`).
    pub fn contains(&self, id: u64) -> bool {
        self.names.contains_key(&id)
    }

    fn parse(r: &mut Reader<'_>, what: &'static str) -> Result<Self, DecodeError> {
        let mask = r.u64_le().map_err(field(what))?;
        let n = r.count_le32(MAX_COMPAT_FEATURES, 12).map_err(field(what))?;
        let mut names = BTreeMap::new();
        for _ in 0..n {
            let id = r.u64_le().map_err(field(what))?;
            let name = r.string(MAX_NAME_LEN).map_err(field(what))?;
            names.insert(id, name.to_owned());
        }
        if mask & 1 != 0 {
            // Legacy mask (`mask |= id`): rebuild it from the names.
            let mut fs = FeatureSet::default();
            for (id, name) in &names {
                fs.insert(*id, name);
            }
            Ok(fs)
        } else {
            Ok(FeatureSet {
                mask: mask | 1,
                names,
            })
        }
    }

    fn emit(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.mask & !1);
        out.put_u32_le(self.names.len() as u32);
        for (id, name) in &self.names {
            out.put_u64_le(*id);
            out.put_bytes_le32(name.as_bytes());
        }
    }
}

/// `CompatSet`: compat, ro_compat and incompat feature sets, encoded back
/// to back without a version header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompatSet {
    /// Features an older reader may ignore.
    pub compat: FeatureSet,
    /// Features an older reader must know to write.
    pub ro_compat: FeatureSet,
    /// Features an older reader must know to read.
    pub incompat: FeatureSet,
}

/// `CEPH_OSD_FEATURE_INCOMPAT_*` ids and names (`src/osd/osd_types.h`).
pub mod osd_incompat {
    /// `BASE`.
    pub const BASE: (u64, &str) = (1, "initial feature set(~v.18)");
    /// `PGINFO`.
    pub const PGINFO: (u64, &str) = (2, "pginfo object");
    /// `OLOC`.
    pub const OLOC: (u64, &str) = (3, "object locator");
    /// `LEC`.
    pub const LEC: (u64, &str) = (4, "last_epoch_clean");
    /// `CATEGORIES`.
    pub const CATEGORIES: (u64, &str) = (5, "categories");
    /// `HOBJECTPOOL`.
    pub const HOBJECTPOOL: (u64, &str) = (6, "hobjectpool");
    /// `BIGINFO`.
    pub const BIGINFO: (u64, &str) = (7, "biginfo");
    /// `LEVELDBINFO`.
    pub const LEVELDBINFO: (u64, &str) = (8, "leveldbinfo");
    /// `LEVELDBLOG`.
    pub const LEVELDBLOG: (u64, &str) = (9, "leveldblog");
    /// `SNAPMAPPER`.
    pub const SNAPMAPPER: (u64, &str) = (10, "snapmapper");
    /// `SHARDS`: not in the initial set; an OSD adds it at run time.
    pub const SHARDS: (u64, &str) = (11, "sharded objects");
    /// `HINTS`.
    pub const HINTS: (u64, &str) = (12, "transaction hints");
    /// `PGMETA`.
    pub const PGMETA: (u64, &str) = (13, "pg meta object");
    /// `MISSING`.
    pub const MISSING: (u64, &str) = (14, "explicit missing set");
    /// `FASTINFO`.
    pub const FASTINFO: (u64, &str) = (15, "fastinfo pg attr");
    /// `RECOVERY_DELETES`.
    pub const RECOVERY_DELETES: (u64, &str) = (16, "deletes in missing set");
    /// `SNAPMAPPER2` (Octopus+).
    pub const SNAPMAPPER2: (u64, &str) = (17, "new snapmapper key structure");

    /// What `OSD::get_osd_initial_compat_set()` puts in `incompat`
    /// (`src/osd/OSD.cc`): every id above but SHARDS.
    pub const INITIAL: [(u64, &str); 16] = [
        BASE,
        PGINFO,
        OLOC,
        LEC,
        CATEGORIES,
        HOBJECTPOOL,
        BIGINFO,
        LEVELDBINFO,
        LEVELDBLOG,
        SNAPMAPPER,
        HINTS,
        PGMETA,
        MISSING,
        FASTINFO,
        RECOVERY_DELETES,
        SNAPMAPPER2,
    ];
}

impl CompatSet {
    /// The compat set a fresh Pacific OSD writes into its superblock
    /// (`OSD::get_osd_initial_compat_set()`): empty compat and ro_compat,
    /// [`osd_incompat::INITIAL`] as incompat.
    pub fn osd_initial() -> Self {
        let mut c = CompatSet::default();
        for (id, name) in osd_incompat::INITIAL {
            c.incompat.insert(id, name);
        }
        c
    }

    /// Decodes the three feature sets.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CompatSet {
            compat: FeatureSet::parse(r, "CompatSet compat")?,
            ro_compat: FeatureSet::parse(r, "CompatSet ro_compat")?,
            incompat: FeatureSet::parse(r, "CompatSet incompat")?,
        })
    }

    /// Appends the encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        self.compat.emit(out);
        self.ro_compat.emit(out);
        self.incompat.emit(out);
    }
}

// ---------------------------------------------------------------------------
// OSDSuperblock

/// The struct version we encode: Pacific 16.2.14+ (`ENCODE_START(10, 5)`,
/// v10 adding `cluster_osdmap_trim_lower_bound`). Mons from 16.2.0–16.2.13
/// know v9 and skip the extra field via the struct length.
pub const SUPERBLOCK_VERSION: u8 = 10;
/// The struct compat version we encode.
pub const SUPERBLOCK_COMPAT: u8 = 5;

/// `OSDSuperblock` (`src/osd/osd_types.cc`, `OSDSuperblock::encode`), as
/// MOSDBoot carries it.
///
/// Encoded (v10): `cluster_fsid`, `whoami` (s32), `current_epoch`,
/// `oldest_map`, `newest_map` (u32 each), `weight` (f64), `compat_features`,
/// `clean_thru`, `mounted` (u32), `osd_fsid`, a zero u32 (retired
/// `last_map_marked_full`), an empty map (retired
/// `pool_last_map_marked_full`), `purged_snaps_last` (u32),
/// `last_purged_snaps_scrub` (utime), `cluster_osdmap_trim_lower_bound`
/// (u32). Decoding accepts struct versions 5 and newer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OsdSuperblock {
    /// Cluster fsid; the mon ignores a boot whose fsid is not its own.
    pub cluster_fsid: [u8; 16],
    /// This OSD's id.
    pub whoami: i32,
    /// Newest osdmap epoch the OSD has processed; the mon replies to a boot
    /// with maps from `current_epoch + 1`.
    pub current_epoch: u32,
    /// Oldest osdmap the OSD stores.
    pub oldest_map: u32,
    /// Newest osdmap the OSD stores; 0 marks a fresh OSD.
    pub newest_map: u32,
    /// Weight hint; the mon applies it only if non-zero.
    pub weight: f64,
    /// On-disk feature set ([`CompatSet::osd_initial`] for a new OSD).
    pub compat_features: CompatSet,
    /// Last epoch the OSD was clean through.
    pub clean_thru: u32,
    /// Epoch of the last mount.
    pub mounted: u32,
    /// This OSD's uuid: must match the uuid given to `ceph osd new`.
    pub osd_fsid: [u8; 16],
    /// Last epoch whose purged snaps were recorded (v9+).
    pub purged_snaps_last: u32,
    /// When purged snaps were last scrubbed (v9+).
    pub last_purged_snaps_scrub: UTime,
    /// Lower bound of the cluster's osdmap trimming (v10+, Pacific 16.2.14+).
    pub cluster_osdmap_trim_lower_bound: u32,
}

impl OsdSuperblock {
    /// The superblock of a freshly created Pacific OSD (`OSD::mkfs`): ids
    /// and uuids set, every epoch 0, weight 0, the initial compat set.
    pub fn new_pacific(cluster_fsid: [u8; 16], osd_fsid: [u8; 16], whoami: i32) -> Self {
        OsdSuperblock {
            cluster_fsid,
            whoami,
            compat_features: CompatSet::osd_initial(),
            osd_fsid,
            ..OsdSuperblock::default()
        }
    }

    /// Decodes an `ENCODE_START`-framed superblock.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.rest().first() {
            Some(&v) if v < 5 => {
                // DECODE_START_LEGACY_COMPAT_LEN(.., 5, ..): no length before v5.
                return Err(DecodeError::InvalidValue {
                    what: "OSDSuperblock struct_v (need >= 5)",
                    value: u64::from(v),
                });
            }
            _ => {}
        }
        let (v, mut b) = r
            .versioned("OSDSuperblock", SUPERBLOCK_VERSION, MAX_SUPERBLOCK_LEN)
            .map_err(field("OSDSuperblock"))?;
        let cluster_fsid = read_uuid(&mut b, "OSDSuperblock cluster_fsid")?;
        let whoami = read_i32(&mut b, "OSDSuperblock whoami")?;
        let current_epoch = read_u32(&mut b, "OSDSuperblock current_epoch")?;
        let oldest_map = read_u32(&mut b, "OSDSuperblock oldest_map")?;
        let newest_map = read_u32(&mut b, "OSDSuperblock newest_map")?;
        let weight = f64::from_le_bytes(b.array().map_err(field("OSDSuperblock weight"))?);
        let compat_features = CompatSet::parse(&mut b)?;
        let clean_thru = read_u32(&mut b, "OSDSuperblock clean_thru")?;
        let mounted = read_u32(&mut b, "OSDSuperblock mounted")?;
        let osd_fsid = read_uuid(&mut b, "OSDSuperblock osd_fsid")?;
        if v >= 6 {
            read_u32(&mut b, "OSDSuperblock last_map_marked_full")?;
        }
        if v >= 7 {
            // map<int64_t, epoch_t>, retired: skip.
            let what = "OSDSuperblock pool_last_map_marked_full";
            let n = b
                .count_le32(MAX_POOL_MARKED_FULL, 12)
                .map_err(field(what))?;
            b.take(n * 12).map_err(field(what))?;
        }
        let mut sb = OsdSuperblock {
            cluster_fsid,
            whoami,
            current_epoch,
            oldest_map,
            newest_map,
            weight,
            compat_features,
            clean_thru,
            mounted,
            osd_fsid,
            ..OsdSuperblock::default()
        };
        if v >= 9 {
            sb.purged_snaps_last = read_u32(&mut b, "OSDSuperblock purged_snaps_last")?;
            sb.last_purged_snaps_scrub =
                read_utime(&mut b, "OSDSuperblock last_purged_snaps_scrub")?;
        }
        if v >= 10 {
            sb.cluster_osdmap_trim_lower_bound =
                read_u32(&mut b, "OSDSuperblock cluster_osdmap_trim_lower_bound")?;
        }
        // The Pacific layouts (v9, v10) must be consumed exactly; Ceph's
        // DECODE_FINISH skips the rest of other versions' bodies.
        if v == 9 || v == 10 {
            b.expect_end()?;
        }
        Ok(sb)
    }

    /// Appends the v10 encoding (`ENCODE_START(10, 5)`).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(SUPERBLOCK_VERSION, SUPERBLOCK_COMPAT, |b| {
            b.put_slice(&self.cluster_fsid);
            b.put_u32_le(self.whoami as u32);
            b.put_u32_le(self.current_epoch);
            b.put_u32_le(self.oldest_map);
            b.put_u32_le(self.newest_map);
            b.put_slice(&self.weight.to_le_bytes());
            self.compat_features.emit(b);
            b.put_u32_le(self.clean_thru);
            b.put_u32_le(self.mounted);
            b.put_slice(&self.osd_fsid);
            b.put_u32_le(0); // last_map_marked_full
            b.put_u32_le(0); // pool_last_map_marked_full: empty map
            b.put_u32_le(self.purged_snaps_last);
            self.last_purged_snaps_scrub.emit(b);
            b.put_u32_le(self.cluster_osdmap_trim_lower_bound);
        });
    }
}

// ---------------------------------------------------------------------------
// MOSDBoot

/// The features `OSDMonitor::preprocess_boot` (Pacific) insists on that
/// `osd_features` lacks, by Ceph's name; empty means the boot passes the
/// feature checks. OSD_PGLOG_HARDLIMIT is listed because every cluster
/// created on Nautilus or later has the `pglog_hardlimit` flag. (Stretch
/// mode, off by default, also needs STRETCH_MODE.) Sending
/// [`features::PACIFIC_SUPPORTED`] (`CEPH_FEATURES_ALL`), as `OSD::_send_boot`
/// does, passes.
pub fn boot_feature_problems(osd_features: u64) -> Vec<&'static str> {
    let mut missing = Vec::new();
    let checks: [(u64, &'static str); 5] = [
        (
            features::MASK_SERVER_LUMINOUS,
            "CEPH_FEATURE_SERVER_LUMINOUS",
        ),
        (features::SERVER_JEWEL, "CEPH_FEATURE_SERVER_JEWEL"),
        (
            features::SERVER_KRAKEN | features::INCARNATION_2,
            "CEPH_FEATURE_SERVER_KRAKEN",
        ),
        (
            features::OSD_RECOVERY_DELETES,
            "CEPH_FEATURE_OSD_RECOVERY_DELETES",
        ),
        (
            features::OSD_PGLOG_HARDLIMIT,
            "CEPH_FEATURE_OSD_PGLOG_HARDLIMIT",
        ),
    ];
    for (mask, name) in checks {
        if !features::has(osd_features, mask) {
            missing.push(name);
        }
    }
    missing
}

/// MOSDBoot (type 71, version 7, compat 7): an OSD asks the mon to mark it
/// up (`src/messages/MOSDBoot.h`).
///
/// Front: PaxosServiceMessage header (`version` = the osdmap epoch the OSD
/// has), superblock, `hb_back_addrs`, `cluster_addrs`, `boot_epoch`,
/// `hb_front_addrs`, `metadata` (`map<string,string>`), `osd_features`
/// (u64). The public addresses are not in the payload: the mon takes them
/// from the connection (msgr2 CLIENT_IDENT), so they must be the OSD's real,
/// non-blank addresses. Versions below 7 carry single legacy addresses,
/// which decode into one-element vectors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MOsdBoot {
    /// PaxosServiceMessage `version`: the OSD's current osdmap epoch.
    pub version: u64,
    /// The OSD's superblock.
    pub sb: OsdSuperblock,
    /// Back (cluster-network) heartbeat addresses.
    pub hb_back_addrs: EntityAddrVec,
    /// Cluster (replication) addresses.
    pub cluster_addrs: EntityAddrVec,
    /// Last epoch this daemon was marked up (0 if never); non-zero makes the
    /// mon count the restart as laggy.
    pub boot_epoch: u32,
    /// Front (public-network) heartbeat addresses.
    pub hb_front_addrs: EntityAddrVec,
    /// Free-form metadata shown by `ceph osd metadata`, in key order.
    pub metadata: BTreeMap<String, String>,
    /// The OSD's features; see [`boot_feature_problems`].
    pub osd_features: u64,
}

impl MOsdBoot {
    /// A boot message as `OSD::_send_boot` builds it: `version` =
    /// `sb.current_epoch`, `boot_epoch` 0, `osd_features` =
    /// [`features::PACIFIC_SUPPORTED`], no metadata.
    pub fn new(
        sb: OsdSuperblock,
        hb_back_addrs: EntityAddrVec,
        cluster_addrs: EntityAddrVec,
        hb_front_addrs: EntityAddrVec,
    ) -> Self {
        MOsdBoot {
            version: u64::from(sb.current_epoch),
            sb,
            hb_back_addrs,
            cluster_addrs,
            boot_epoch: 0,
            hb_front_addrs,
            metadata: BTreeMap::new(),
            osd_features: features::PACIFIC_SUPPORTED,
        }
    }
}

impl MOsdBoot {
    /// The boot of a pollmsgr-hosted OSD that holds osdmap `epoch` and
    /// serves every channel on `addrs`: a fresh superblock
    /// ([`OsdSuperblock::new_pacific`]) whose `current_epoch`, `oldest_map`
    /// and `newest_map` are `epoch`, and `addrs` as the heartbeat (back and
    /// front) and cluster addresses. The public addresses the mon records are
    /// those of the mon session's connection.
    pub fn for_osd(
        cluster_fsid: [u8; 16],
        osd_fsid: [u8; 16],
        whoami: i32,
        epoch: u32,
        addrs: EntityAddrVec,
    ) -> Self {
        let mut sb = OsdSuperblock::new_pacific(cluster_fsid, osd_fsid, whoami);
        sb.current_epoch = epoch;
        sb.oldest_map = epoch;
        sb.newest_map = epoch;
        MOsdBoot::new(sb, addrs.clone(), addrs.clone(), addrs)
    }
}

impl MessagePayload for MOsdBoot {
    const TYPE: u16 = types::OSD_BOOT;
    const HEAD_VERSION: u16 = 7;
    const COMPAT_VERSION: u16 = 7;

    fn encode_front(&self, out: &mut Vec<u8>) {
        put_paxos(out, self.version);
        self.sb.emit(out);
        self.hb_back_addrs.emit(out);
        self.cluster_addrs.emit(out);
        out.put_u32_le(self.boot_epoch);
        self.hb_front_addrs.emit(out);
        out.put_u32_le(self.metadata.len() as u32);
        for (k, v) in &self.metadata {
            out.put_bytes_le32(k.as_bytes());
            out.put_bytes_le32(v.as_bytes());
        }
        out.put_u64_le(self.osd_features);
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MOSDBoot");
        let pversion = read_paxos(&mut r).map_err(field("MOSDBoot paxos header"))?;
        let sb = OsdSuperblock::parse(&mut r)?;
        let hb_back_addrs = read_addrs(&mut r, "MOSDBoot hb_back_addrs")?;
        let cluster_addrs = read_addrs(&mut r, "MOSDBoot cluster_addrs")?;
        let boot_epoch = read_u32(&mut r, "MOSDBoot boot_epoch")?;
        let hb_front_addrs = read_addrs(&mut r, "MOSDBoot hb_front_addrs")?;
        let what = "MOSDBoot metadata";
        let n = r.count_le32(MAX_METADATA_ENTRIES, 8).map_err(field(what))?;
        let mut metadata = BTreeMap::new();
        for _ in 0..n {
            let k = r.string(MAX_NAME_LEN).map_err(field(what))?.to_owned();
            let v = r.string(MAX_TEXT_LEN).map_err(field(what))?.to_owned();
            metadata.insert(k, v);
        }
        let osd_features = r.u64_le().map_err(field("MOSDBoot osd_features"))?;
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MOsdBoot {
            version: pversion,
            sb,
            hb_back_addrs,
            cluster_addrs,
            boot_epoch,
            hb_front_addrs,
            metadata,
            osd_features,
        })
    }
}

// ---------------------------------------------------------------------------
// MOSDBeacon

/// `pg_t`: one type for the crate, in [`crate::msg::osd_op`].
pub use crate::msg::osd_op::PgId;

/// MOSDBeacon (type 79, version 3, compat 1): an active OSD's periodic
/// keep-alive to the mon, every `osd_beacon_report_interval` seconds
/// (`src/messages/MOSDBeacon.h`). Without one for `mon_osd_report_timeout`
/// (900 s) the mon marks the OSD down.
///
/// Front: PaxosServiceMessage header (`version` = the OSD's osdmap epoch),
/// `pgs` (`vector<pg_t>`), `min_last_epoch_clean` (u32),
/// `last_purged_snaps_scrub` (utime, v2+), `osd_beacon_report_interval`
/// (s32, v3+).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MOsdBeacon {
    /// PaxosServiceMessage `version`: the OSD's current osdmap epoch.
    pub version: u64,
    /// PGs this OSD is primary for, reported with `min_last_epoch_clean`.
    pub pgs: Vec<PgId>,
    /// Lowest last-epoch-clean over `pgs`.
    pub min_last_epoch_clean: u32,
    /// The superblock's `last_purged_snaps_scrub` (v2+).
    pub last_purged_snaps_scrub: UTime,
    /// The OSD's `osd_beacon_report_interval` in seconds (v3+; 300 by
    /// default), which the mon uses for this OSD's report timeout.
    pub osd_beacon_report_interval: i32,
}

/// Pacific's default `osd_beacon_report_interval`, in seconds.
pub const OSD_BEACON_REPORT_INTERVAL_DEFAULT: i32 = 300;

impl MOsdBeacon {
    /// The beacon of an OSD that is primary for no PG, as `OSD::send_beacon`
    /// builds it: `version` = `epoch`, no PGs, `min_last_epoch_clean` =
    /// `epoch` (the OSD's value when it has no PGs), no purged-snaps scrub
    /// yet, the default 300 s interval.
    pub fn new(epoch: u32) -> Self {
        MOsdBeacon {
            version: u64::from(epoch),
            pgs: Vec::new(),
            min_last_epoch_clean: epoch,
            last_purged_snaps_scrub: UTime::default(),
            osd_beacon_report_interval: OSD_BEACON_REPORT_INTERVAL_DEFAULT,
        }
    }
}

impl MessagePayload for MOsdBeacon {
    const TYPE: u16 = types::OSD_BEACON;
    const HEAD_VERSION: u16 = 3;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        put_paxos(out, self.version);
        out.put_u32_le(self.pgs.len() as u32);
        for pg in &self.pgs {
            pg.emit(out);
        }
        out.put_u32_le(self.min_last_epoch_clean);
        self.last_purged_snaps_scrub.emit(out);
        out.put_u32_le(self.osd_beacon_report_interval as u32);
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MOSDBeacon");
        let pversion = read_paxos(&mut r).map_err(field("MOSDBeacon paxos header"))?;
        let what = "MOSDBeacon pgs";
        let n = r
            .count_le32(MAX_BEACON_PGS, PgId::LEN)
            .map_err(field(what))?;
        let mut pgs = Vec::with_capacity(n);
        for _ in 0..n {
            pgs.push(PgId::parse(&mut r).map_err(field(what))?);
        }
        let min_last_epoch_clean = read_u32(&mut r, "MOSDBeacon min_last_epoch_clean")?;
        let mut b = MOsdBeacon {
            version: pversion,
            pgs,
            min_last_epoch_clean,
            ..MOsdBeacon::default()
        };
        if version >= 2 {
            b.last_purged_snaps_scrub = read_utime(&mut r, "MOSDBeacon last_purged_snaps_scrub")?;
        }
        if version >= 3 {
            b.osd_beacon_report_interval =
                read_i32(&mut r, "MOSDBeacon osd_beacon_report_interval")?;
        }
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(b)
    }
}

// ---------------------------------------------------------------------------
// MOSDMarkMeDown

/// MOSDMarkMeDown (type 74, version 4, compat 3): an OSD asks to be marked
/// down before it stops; the mon answers with the same message (`request_ack`
/// false) once the map is committed (`src/messages/MOSDMarkMeDown.h`).
///
/// Front: PaxosServiceMessage header, `fsid`, `target_osd` (s32),
/// `target_addrs`, `epoch` (u32), `request_ack` (u8), `down_and_dead` (u8,
/// v4+). Versions below 3 are refused, as Ceph asserts. Every Ceph
/// constructor (the OSD's request and the mon's ack) sets the
/// PaxosServiceMessage `version` to `epoch`, so it is encoded as `epoch`
/// and not kept when decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MOsdMarkMeDown {
    /// Cluster fsid; must be the mon's.
    pub fsid: [u8; 16],
    /// The OSD to mark down (the sender itself).
    pub target_osd: i32,
    /// Its public addresses, exactly as in the osdmap.
    pub target_addrs: EntityAddrVec,
    /// The sender's osdmap epoch.
    pub epoch: u32,
    /// Ask the mon to answer once done.
    pub request_ack: bool,
    /// Also record the OSD as dead (fast shutdown, v4+).
    pub down_and_dead: bool,
}

impl MOsdMarkMeDown {
    /// The request `OSDService::prepare_to_stop` sends: `request_ack` true,
    /// not dead.
    pub fn new(fsid: [u8; 16], target_osd: i32, target_addrs: EntityAddrVec, epoch: u32) -> Self {
        MOsdMarkMeDown {
            fsid,
            target_osd,
            target_addrs,
            epoch,
            request_ack: true,
            down_and_dead: false,
        }
    }
}

impl MessagePayload for MOsdMarkMeDown {
    const TYPE: u16 = types::OSD_MARK_ME_DOWN;
    const HEAD_VERSION: u16 = 4;
    const COMPAT_VERSION: u16 = 3;

    fn encode_front(&self, out: &mut Vec<u8>) {
        put_paxos(out, u64::from(self.epoch));
        out.put_slice(&self.fsid);
        out.put_u32_le(self.target_osd as u32);
        self.target_addrs.emit(out);
        out.put_u32_le(self.epoch);
        out.put_u8(u8::from(self.request_ack));
        out.put_u8(u8::from(self.down_and_dead));
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        if version < 3 {
            return Err(DecodeError::InvalidValue {
                what: "MOSDMarkMeDown header version (need >= 3)",
                value: u64::from(version),
            });
        }
        let mut r = Reader::new(front, "MOSDMarkMeDown");
        read_paxos(&mut r).map_err(field("MOSDMarkMeDown paxos header"))?;
        let fsid = read_uuid(&mut r, "MOSDMarkMeDown fsid")?;
        let target_osd = read_i32(&mut r, "MOSDMarkMeDown target_osd")?;
        let target_addrs = read_addrs(&mut r, "MOSDMarkMeDown target_addrs")?;
        let epoch = read_u32(&mut r, "MOSDMarkMeDown epoch")?;
        let request_ack = r.bool().map_err(field("MOSDMarkMeDown request_ack"))?;
        let down_and_dead = if version >= 4 {
            r.bool().map_err(field("MOSDMarkMeDown down_and_dead"))?
        } else {
            false
        };
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MOsdMarkMeDown {
            fsid,
            target_osd,
            target_addrs,
            epoch,
            request_ack,
            down_and_dead,
        })
    }
}

// ---------------------------------------------------------------------------
// MOSDMap

/// MOSDMap (type 41, version 4, compat 3): osdmaps from the mon or a peer
/// (`src/messages/MOSDMap.h`). The maps are kept as the encoded blobs.
///
/// Front: `fsid`, `incremental_maps` and `maps` (each
/// `map<epoch_t, bufferlist>`), then (v2+) `cluster_osdmap_trim_lower_bound`
/// (formerly `oldest_map`) and `newest_map`, then (v4+) the retired
/// `gap_removed_snaps` map, which Pacific encodes as an empty map (u32 0)
/// and which is skipped when decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MOsdMap {
    /// Cluster fsid.
    pub fsid: [u8; 16],
    /// Epoch → encoded `OSDMap::Incremental`.
    pub incremental_maps: BTreeMap<u32, Vec<u8>>,
    /// Epoch → encoded full `OSDMap`.
    pub maps: BTreeMap<u32, Vec<u8>>,
    /// Maps older than this may be trimmed (Pacific before 16.2.14 calls it
    /// `oldest_map`: the sender's oldest stored map). v2+.
    pub cluster_osdmap_trim_lower_bound: u32,
    /// The sender's newest epoch (may be above the ones carried). v2+.
    pub newest_map: u32,
}

impl MOsdMap {
    /// The lowest epoch carried, full or incremental; 0 if none (Ceph
    /// `get_first`).
    pub fn first_epoch(&self) -> u32 {
        let full = self.maps.keys().next().copied();
        let inc = self.incremental_maps.keys().next().copied();
        match (full, inc) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => 0,
        }
    }

    /// The highest epoch carried, full or incremental; 0 if none (Ceph
    /// `get_last`). [`MOsdMap::newest_map`] is the sender's newest, which
    /// may be higher.
    pub fn newest_epoch(&self) -> u32 {
        let full = self.maps.keys().next_back().copied().unwrap_or(0);
        let inc = self
            .incremental_maps
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0);
        full.max(inc)
    }
}

fn read_map_blobs(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<BTreeMap<u32, Vec<u8>>, DecodeError> {
    let n = r.count_le32(MAX_OSDMAP_EPOCHS, 8).map_err(field(what))?;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let e = r.u32_le().map_err(field(what))?;
        let blob = r.bytes_le32(MAX_OSDMAP_LEN).map_err(field(what))?;
        m.insert(e, blob.to_vec());
    }
    Ok(m)
}

fn put_map_blobs(out: &mut Vec<u8>, m: &BTreeMap<u32, Vec<u8>>) {
    out.put_u32_le(m.len() as u32);
    for (e, blob) in m {
        out.put_u32_le(*e);
        out.put_bytes_le32(blob);
    }
}

impl MessagePayload for MOsdMap {
    const TYPE: u16 = types::OSD_MAP;
    const HEAD_VERSION: u16 = 4;
    const COMPAT_VERSION: u16 = 3;

    fn encode_front(&self, out: &mut Vec<u8>) {
        out.put_slice(&self.fsid);
        put_map_blobs(out, &self.incremental_maps);
        put_map_blobs(out, &self.maps);
        out.put_u32_le(self.cluster_osdmap_trim_lower_bound);
        out.put_u32_le(self.newest_map);
        out.put_u32_le(0); // gap_removed_snaps: empty since Octopus
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MOSDMap");
        let fsid = read_uuid(&mut r, "MOSDMap fsid")?;
        let incremental_maps = read_map_blobs(&mut r, "MOSDMap incremental_maps")?;
        let maps = read_map_blobs(&mut r, "MOSDMap maps")?;
        let mut m = MOsdMap {
            fsid,
            incremental_maps,
            maps,
            ..MOsdMap::default()
        };
        if version >= 2 {
            m.cluster_osdmap_trim_lower_bound =
                read_u32(&mut r, "MOSDMap cluster_osdmap_trim_lower_bound")?;
            m.newest_map = read_u32(&mut r, "MOSDMap newest_map")?;
        }
        if version >= 4 {
            // map<int64_t, interval_set<snapid_t>>: le64 pool, then le32
            // count of (le64 start, le64 len) pairs. Skipped.
            let what = "MOSDMap gap_removed_snaps";
            let pools = r.count_le32(MAX_GAP_POOLS, 12).map_err(field(what))?;
            for _ in 0..pools {
                r.u64_le().map_err(field(what))?;
                let n = r.count_le32(MAX_GAP_INTERVALS, 16).map_err(field(what))?;
                r.take(n * 16).map_err(field(what))?;
            }
        }
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(m)
    }
}

/// The fields of an encoded osdmap that precede the pools: all a caller
/// needs to check a map's cluster and epoch without decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OsdMapHeader {
    /// Cluster fsid.
    pub fsid: [u8; 16],
    /// The map's epoch.
    pub epoch: u32,
    /// Creation time (full maps only; zero for incrementals).
    pub created: UTime,
    /// Modification time.
    pub modified: UTime,
}

/// Reads the outer `ENCODE_START(8, 7)` and the client-data
/// `ENCODE_START(v, 1)` headers of an osdmap blob and returns the client
/// section.
fn osdmap_client_section<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<Reader<'a>, DecodeError> {
    match r.rest().first() {
        Some(&v) if v < 7 => {
            // Pre-Luminous "classic" encodings start with a le16 version.
            return Err(DecodeError::InvalidValue {
                what: "osdmap struct_v (need >= 7)",
                value: u64::from(v),
            });
        }
        _ => {}
    }
    let (_v, mut outer) = r.versioned(what, 8, MAX_OSDMAP_LEN).map_err(field(what))?;
    let (_cv, client) = outer
        .versioned(what, u8::MAX, MAX_OSDMAP_LEN)
        .map_err(field(what))?;
    Ok(client)
}

/// Reads the header of a *full* encoded `OSDMap` (`OSDMap::encode`,
/// `src/osd/OSDMap.cc`): fsid, epoch, created, modified. Nothing past them
/// (pools, crush, ...) is decoded.
pub fn parse_full_osdmap_header(blob: &[u8]) -> Result<OsdMapHeader, DecodeError> {
    let mut r = Reader::new(blob, "OSDMap");
    let mut c = osdmap_client_section(&mut r, "OSDMap")?;
    Ok(OsdMapHeader {
        fsid: read_uuid(&mut c, "OSDMap fsid")?,
        epoch: read_u32(&mut c, "OSDMap epoch")?,
        created: read_utime(&mut c, "OSDMap created")?,
        modified: read_utime(&mut c, "OSDMap modified")?,
    })
}

/// Reads the header of an encoded `OSDMap::Incremental`
/// (`OSDMap::Incremental::encode`): fsid, epoch, modified (`created` is
/// left zero).
pub fn parse_incremental_osdmap_header(blob: &[u8]) -> Result<OsdMapHeader, DecodeError> {
    let mut r = Reader::new(blob, "OSDMap::Incremental");
    let mut c = osdmap_client_section(&mut r, "OSDMap::Incremental")?;
    Ok(OsdMapHeader {
        fsid: read_uuid(&mut c, "OSDMap::Incremental fsid")?,
        epoch: read_u32(&mut c, "OSDMap::Incremental epoch")?,
        created: UTime::default(),
        modified: read_utime(&mut c, "OSDMap::Incremental modified")?,
    })
}

// ---------------------------------------------------------------------------
// MOSDPing

/// `MOSDPing` ops (`src/messages/MOSDPing.h`).
pub mod ping_op {
    /// `HEARTBEAT` (unused since Luminous).
    pub const HEARTBEAT: u8 = 0;
    /// `START_HEARTBEAT`.
    pub const START_HEARTBEAT: u8 = 1;
    /// `YOU_DIED`: the receiver is down in the sender's map.
    pub const YOU_DIED: u8 = 2;
    /// `STOP_HEARTBEAT`.
    pub const STOP_HEARTBEAT: u8 = 3;
    /// `PING`: a heartbeat request.
    pub const PING: u8 = 4;
    /// `PING_REPLY`.
    pub const PING_REPLY: u8 = 5;
}

/// A `ceph::signedspan` (`std::chrono::duration<int64_t, nano>`) as
/// `src/include/encoding.h` puts it on the wire: 32-bit whole seconds
/// (truncated toward zero) and the 32-bit signed remainder in nanoseconds.
///
/// The two halves are kept as received, so an echoed stamp is byte-exact.
/// (Pacific decodes both halves as unsigned; newer releases as signed. The
/// bytes are the same; only negative spans differ in meaning, and OSD
/// monotonic stamps are never negative.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SignedSpan {
    /// Whole seconds.
    pub sec: i32,
    /// Remaining nanoseconds (same sign as the span).
    pub nsec: i32,
}

impl SignedSpan {
    /// Encoded size.
    pub const LEN: usize = 8;

    /// A span of `sec` seconds plus `nsec` nanoseconds, as on the wire.
    pub const fn new(sec: i32, nsec: i32) -> Self {
        SignedSpan { sec, nsec }
    }

    /// A span of `n` nanoseconds, split as Ceph's encoder does (seconds
    /// beyond the 32-bit range wrap, as Ceph's `int32_t` cast does).
    pub fn from_nanos(n: i64) -> Self {
        SignedSpan {
            sec: (n / 1_000_000_000) as i32,
            nsec: (n % 1_000_000_000) as i32,
        }
    }

    /// The span in nanoseconds.
    pub fn as_nanos(self) -> i64 {
        i64::from(self.sec) * 1_000_000_000 + i64::from(self.nsec)
    }

    /// Decodes 8 bytes.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedSpan {
            sec: r.i32_le()?,
            nsec: r.i32_le()?,
        })
    }

    /// Appends the 8-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u32_le(self.sec as u32);
        out.put_u32_le(self.nsec as u32);
    }
}

/// MOSDPing (type 70, version 5, compat 4): OSD-to-OSD heartbeats on the
/// front and back heartbeat connections (`src/messages/MOSDPing.h`).
///
/// Front: `fsid`, `map_epoch` (u32), `op` (u8), `ping_stamp` (utime) — 29
/// bytes, [`PING_MID_LENGTH`] — then a u32 padding length `s`, then (v5+)
/// `up_from` (u32), `mono_ping_stamp`, `mono_send_stamp` (signedspan),
/// `delta_ub` (`optional<signedspan>`: u8 present flag, then the span), and
/// finally `s` zero bytes. The encoder sets `s = min_message_size - 29` when
/// `min_message_size > 29`, else 0, so a padded message is
/// `min_message_size + 25` bytes (`+ 33` with `delta_ub`). The decoder skips
/// `s` bytes without looking at them and sets `min_message_size = s + 29`,
/// as Ceph does; the padding is all in the front segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MOsdPing {
    /// Cluster fsid; a ceph-osd drops pings whose fsid is not its cluster's.
    pub fsid: [u8; 16],
    /// The sender's osdmap epoch.
    pub map_epoch: u32,
    /// One of [`ping_op`].
    pub op: u8,
    /// Wall-clock time the PING was sent; echoed in the reply, where the
    /// pinger uses it to find the ping.
    pub ping_stamp: UTime,
    /// The pinger's monotonic send time; echoed in the reply (v5+).
    pub mono_ping_stamp: SignedSpan,
    /// The sender's own monotonic time of sending (v5+).
    pub mono_send_stamp: SignedSpan,
    /// Upper bound of the clock delta (v5+): in a PING, the pinger's last
    /// estimate if it has one; in a PING_REPLY, the replier's
    /// `now - ping.mono_send_stamp`.
    pub delta_ub: Option<SignedSpan>,
    /// The epoch the sender was last marked up (v5+).
    pub up_from: u32,
    /// Pad the front to this size (`osd_heartbeat_min_size`); decoded as
    /// padding + 29.
    pub min_message_size: u32,
}

impl MOsdPing {
    /// The PING_REPLY a Pacific ceph-osd sends for this PING
    /// (`OSD::handle_osd_ping`): `fsid` and `ping_stamp` / `mono_ping_stamp`
    /// echoed, `map_epoch` = the replier's osdmap epoch, `mono_send_stamp` =
    /// the replier's monotonic now, `up_from` = the replier's up epoch,
    /// `delta_ub` = `Some(mono_now - self.mono_send_stamp)` (always present),
    /// `min_message_size` = the replier's `osd_heartbeat_min_size`.
    ///
    /// The caller should first drop pings whose fsid is not its cluster's,
    /// as ceph-osd does. (Ceph sends `delta_ub` = 0 instead when the ping's
    /// `up_from` is older than one already seen from that peer.)
    pub fn reply_to(
        &self,
        my_epoch: u32,
        my_up_from: u32,
        mono_now: SignedSpan,
        min_message_size: u32,
    ) -> MOsdPing {
        let delta = mono_now
            .as_nanos()
            .saturating_sub(self.mono_send_stamp.as_nanos());
        MOsdPing {
            fsid: self.fsid,
            map_epoch: my_epoch,
            op: ping_op::PING_REPLY,
            ping_stamp: self.ping_stamp,
            mono_ping_stamp: self.mono_ping_stamp,
            mono_send_stamp: mono_now,
            delta_ub: Some(SignedSpan::from_nanos(delta)),
            up_from: my_up_from,
            min_message_size,
        }
    }

    /// The YOU_DIED a ceph-osd sends after its reply when the pinger is not
    /// up in its map and was marked down after the ping's `map_epoch`: like
    /// [`MOsdPing::reply_to`] but op YOU_DIED and no `delta_ub`.
    pub fn you_died(
        &self,
        my_epoch: u32,
        my_up_from: u32,
        mono_now: SignedSpan,
        min_message_size: u32,
    ) -> MOsdPing {
        MOsdPing {
            op: ping_op::YOU_DIED,
            delta_ub: None,
            ..self.reply_to(my_epoch, my_up_from, mono_now, min_message_size)
        }
    }
}

impl MessagePayload for MOsdPing {
    const TYPE: u16 = types::OSD_PING;
    const HEAD_VERSION: u16 = 5;
    const COMPAT_VERSION: u16 = 4;

    fn encode_front(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.put_slice(&self.fsid);
        out.put_u32_le(self.map_epoch);
        out.put_u8(self.op);
        self.ping_stamp.emit(out);
        let mid = (out.len() - start) as u32;
        let pad = self.min_message_size.saturating_sub(mid);
        out.put_u32_le(pad);
        out.put_u32_le(self.up_from);
        self.mono_ping_stamp.emit(out);
        self.mono_send_stamp.emit(out);
        match &self.delta_ub {
            Some(d) => {
                out.put_u8(1);
                d.emit(out);
            }
            None => out.put_u8(0),
        }
        out.resize(out.len() + pad as usize, 0);
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MOSDPing");
        let mut m = MOsdPing {
            fsid: read_uuid(&mut r, "MOSDPing fsid")?,
            map_epoch: read_u32(&mut r, "MOSDPing map_epoch")?,
            op: r.u8().map_err(field("MOSDPing op"))?,
            ping_stamp: read_utime(&mut r, "MOSDPing ping_stamp")?,
            ..MOsdPing::default()
        };
        let mid = r.position() as u32;
        let pad = r
            .len_le32(MAX_PING_PADDING)
            .map_err(field("MOSDPing padding length"))?;
        if version >= 5 {
            m.up_from = read_u32(&mut r, "MOSDPing up_from")?;
            m.mono_ping_stamp =
                SignedSpan::parse(&mut r).map_err(field("MOSDPing mono_ping_stamp"))?;
            m.mono_send_stamp =
                SignedSpan::parse(&mut r).map_err(field("MOSDPing mono_send_stamp"))?;
            m.delta_ub = if r.bool().map_err(field("MOSDPing delta_ub"))? {
                Some(SignedSpan::parse(&mut r).map_err(field("MOSDPing delta_ub"))?)
            } else {
                None
            };
        }
        r.take(pad).map_err(field("MOSDPing padding"))?;
        m.min_message_size = pad as u32 + mid;
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::addr::EntityAddr;
    use proptest::prelude::*;

    const FSID: [u8; 16] = [
        0x13, 0x84, 0x85, 0xf7, 0xef, 0x01, 0x46, 0x97, 0xbc, 0x06, 0x7b, 0xae, 0x9b, 0xc4, 0x53,
        0x3b,
    ];
    const OSD_FSID: [u8; 16] = [0x5a; 16];

    fn addrs(port: u16) -> EntityAddrVec {
        EntityAddrVec::single(EntityAddr::msgr2(
            format!("127.10.0.7:{port}").parse().unwrap(),
            4242,
        ))
    }

    /// Every proper prefix of the front fails to decode, without panicking.
    fn cuts_fail<T: MessagePayload + std::fmt::Debug>(enc: &EncodedLike) {
        for cut in 0..enc.front.len() {
            let r = T::decode(
                T::TYPE,
                enc.version,
                enc.compat_version,
                &enc.front[..cut],
                &[],
                &enc.data,
            );
            assert!(r.is_err(), "cut at {cut} of {} decoded", enc.front.len());
        }
    }
    type EncodedLike = super::super::EncodedMessage;

    fn round_trip<T: MessagePayload + std::fmt::Debug + PartialEq>(v: &T) -> EncodedLike {
        let enc = v.encode();
        let back = T::decode_encoded(&enc).unwrap();
        assert_eq!(&back, v);
        assert_eq!(back.encode(), enc);
        enc
    }

    /// The compat set written field by field from `CompatSet::encode`.
    fn compat_golden(out: &mut Vec<u8>) {
        // compat: empty, mask 1 encoded as 0
        out.put_u64_le(0);
        out.put_u32_le(0);
        // ro_compat: empty
        out.put_u64_le(0);
        out.put_u32_le(0);
        // incompat: ids 1..=10, 12..=17
        let ids: Vec<u64> = (1..=10).chain(12..=17).collect();
        let mask = ids.iter().fold(0u64, |m, i| m | (1 << i));
        assert_eq!(mask, 0x3_f7fe);
        out.put_u64_le(mask);
        out.put_u32_le(ids.len() as u32);
        let names = [
            "initial feature set(~v.18)",
            "pginfo object",
            "object locator",
            "last_epoch_clean",
            "categories",
            "hobjectpool",
            "biginfo",
            "leveldbinfo",
            "leveldblog",
            "snapmapper",
            "transaction hints",
            "pg meta object",
            "explicit missing set",
            "fastinfo pg attr",
            "deletes in missing set",
            "new snapmapper key structure",
        ];
        for (id, name) in ids.iter().zip(names) {
            out.put_u64_le(*id);
            out.put_bytes_le32(name.as_bytes());
        }
    }

    /// An `entity_addrvec_t` of one v2 IPv4 address, written by hand.
    fn addrvec_golden(out: &mut Vec<u8>, ip: [u8; 4], port: u16, nonce: u32) {
        out.put_u8(2); // vector marker
        out.put_u32_le(1);
        out.put_u8(1); // entity_addr_t marker
        out.put_u8(1); // ENCODE_START(1, 1)
        out.put_u8(1);
        out.put_u32_le(4 + 4 + 4 + 16);
        out.put_u32_le(2); // TYPE_MSGR2
        out.put_u32_le(nonce);
        out.put_u32_le(16); // sockaddr_in length
        out.put_u16_le(2); // AF_INET, host order
        out.put_slice(&port.to_be_bytes());
        out.put_slice(&ip);
        out.put_slice(&[0; 8]);
    }

    fn boot_golden() -> Vec<u8> {
        let mut f = Vec::new();
        // PaxosServiceMessage: version, session_mon, session_mon_tid
        f.put_u64_le(12);
        f.put_u16_le(0xffff);
        f.put_u64_le(0);
        // OSDSuperblock, ENCODE_START(10, 5)
        f.put_u8(10);
        f.put_u8(5);
        let len_at = f.len();
        f.put_u32_le(0);
        let body = f.len();
        f.put_slice(&FSID);
        f.put_u32_le(3); // whoami
        f.put_u32_le(12); // current_epoch
        f.put_u32_le(1); // oldest_map
        f.put_u32_le(12); // newest_map
        f.put_slice(&0.0f64.to_le_bytes()); // weight
        compat_golden(&mut f);
        f.put_u32_le(11); // clean_thru
        f.put_u32_le(9); // mounted
        f.put_slice(&OSD_FSID);
        f.put_u32_le(0); // last_map_marked_full
        f.put_u32_le(0); // pool_last_map_marked_full
        f.put_u32_le(12); // purged_snaps_last
        f.put_u32_le(1_700_000_000); // last_purged_snaps_scrub
        f.put_u32_le(5);
        f.put_u32_le(1); // cluster_osdmap_trim_lower_bound
        let body_len = (f.len() - body) as u32;
        f[len_at..len_at + 4].copy_from_slice(&body_len.to_le_bytes());
        addrvec_golden(&mut f, [127, 10, 0, 7], 6802, 4242); // hb_back
        addrvec_golden(&mut f, [127, 10, 0, 7], 6800, 4242); // cluster
        f.put_u32_le(0); // boot_epoch
        addrvec_golden(&mut f, [127, 10, 0, 7], 6803, 4242); // hb_front
        f.put_u32_le(2); // metadata, key order
        f.put_bytes_le32(b"hostname");
        f.put_bytes_le32(b"node7");
        f.put_bytes_le32(b"osd_objectstore");
        f.put_bytes_le32(b"pollmsgr");
        f.put_u64_le(features::PACIFIC_SUPPORTED);
        f
    }

    fn boot_value() -> MOsdBoot {
        let mut sb = OsdSuperblock::new_pacific(FSID, OSD_FSID, 3);
        sb.current_epoch = 12;
        sb.oldest_map = 1;
        sb.newest_map = 12;
        sb.clean_thru = 11;
        sb.mounted = 9;
        sb.purged_snaps_last = 12;
        sb.last_purged_snaps_scrub = UTime::new(1_700_000_000, 5);
        sb.cluster_osdmap_trim_lower_bound = 1;
        let mut b = MOsdBoot::new(sb, addrs(6802), addrs(6800), addrs(6803));
        b.metadata
            .insert("osd_objectstore".into(), "pollmsgr".into());
        b.metadata.insert("hostname".into(), "node7".into());
        b
    }

    #[test]
    fn boot_golden_bytes() {
        let golden = boot_golden();
        let b = MOsdBoot::decode(71, 7, 7, &golden, &[], &[]).unwrap();
        assert_eq!(b, boot_value());
        assert_eq!(b.version, 12);
        assert_eq!(b.sb.whoami, 3);
        assert_eq!(b.sb.compat_features, CompatSet::osd_initial());
        assert!(b.sb.compat_features.incompat.contains(17));
        assert!(!b.sb.compat_features.incompat.contains(11));
        assert_eq!(b.sb.compat_features.incompat.mask, 0x3_f7ff);
        assert_eq!(b.hb_front_addrs.to_string(), "v2:127.10.0.7:6803/4242");
        let enc = b.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (71, 7, 7));
        assert_eq!(enc.front, golden);
        assert!(boot_feature_problems(b.osd_features).is_empty());
        cuts_fail::<MOsdBoot>(&enc);
        // Newer senders may append fields; at our version they are refused.
        let mut long = golden.clone();
        long.push(0);
        assert!(MOsdBoot::decode(71, 7, 7, &long, &[], &[]).is_err());
        assert!(MOsdBoot::decode(71, 8, 7, &long, &[], &[]).is_ok());
        assert!(MOsdBoot::decode(71, 8, 8, &golden, &[], &[]).is_err());
    }

    #[test]
    fn boot_legacy_addrs_and_superblock_versions() {
        let b = boot_value();
        // A v6 boot (pre-Nautilus peer) carries single entity_addr_t's.
        let mut v6 = Vec::new();
        put_paxos(&mut v6, b.version);
        b.sb.emit(&mut v6);
        b.hb_back_addrs.front().emit(&mut v6);
        b.cluster_addrs.front().emit(&mut v6);
        v6.put_u32_le(b.boot_epoch);
        b.hb_front_addrs.front().emit(&mut v6);
        v6.put_u32_le(0);
        v6.put_u64_le(b.osd_features);
        let old = MOsdBoot::decode(71, 6, 6, &v6, &[], &[]).unwrap();
        assert_eq!(old.hb_front_addrs, b.hb_front_addrs);
        assert_eq!(old.cluster_addrs, b.cluster_addrs);

        // A v9 superblock (Pacific before 16.2.14) lacks the trim bound.
        let mut sb9 = Vec::new();
        b.sb.emit(&mut sb9);
        sb9[0] = 9;
        let cut = sb9.len() - 4;
        sb9.truncate(cut);
        let body_len = (sb9.len() - 6) as u32;
        sb9[2..6].copy_from_slice(&body_len.to_le_bytes());
        let sb = OsdSuperblock::parse(&mut Reader::new(&sb9, "t")).unwrap();
        assert_eq!(sb.cluster_osdmap_trim_lower_bound, 0);
        assert_eq!(sb.purged_snaps_last, 12);
        // An unknown v11 tail is skipped.
        let mut sb11 = Vec::new();
        b.sb.emit(&mut sb11);
        sb11[0] = 11;
        sb11.extend_from_slice(&[0, 0, 0, 0]);
        let body_len = (sb11.len() - 6) as u32;
        sb11[2..6].copy_from_slice(&body_len.to_le_bytes());
        assert_eq!(
            OsdSuperblock::parse(&mut Reader::new(&sb11, "t")).unwrap(),
            b.sb
        );
        // Too old, or too new a compat, is refused.
        let mut old = sb9.clone();
        old[0] = 4;
        assert!(OsdSuperblock::parse(&mut Reader::new(&old, "t")).is_err());
        let mut newer = sb11.clone();
        newer[1] = 11;
        assert!(matches!(
            OsdSuperblock::parse(&mut Reader::new(&newer, "t")),
            Err(DecodeError::IncompatibleVersion { .. })
        ));
    }

    #[test]
    fn compat_set_legacy_mask_is_rebuilt() {
        let mut bytes = Vec::new();
        bytes.put_u64_le(1 | 3); // buggy `mask |= id`
        bytes.put_u32_le(1);
        bytes.put_u64_le(3);
        bytes.put_bytes_le32(b"object locator");
        let fs = FeatureSet::parse(&mut Reader::new(&bytes, "t"), "t").unwrap();
        assert_eq!(fs.mask, 1 | (1 << 3));
        assert!(fs.contains(3));
        let mut fs2 = FeatureSet::default();
        assert!(!fs2.insert(63, "x"));
        assert!(!fs2.insert(0, "x"));
        assert!(fs2.insert(62, "x"));
    }

    #[test]
    fn boot_oversized_counts() {
        let golden = boot_golden();
        // The metadata count, found from the end: count, two entries, features.
        let tail = 4 + (4 + 8) + (4 + 5) + (4 + 15) + (4 + 8) + 8;
        let at = golden.len() - tail;
        assert_eq!(&golden[at..at + 4], &2u32.to_le_bytes());
        let mut big = golden.clone();
        big[at..at + 4].copy_from_slice(&(MAX_METADATA_ENTRIES as u32 + 1).to_le_bytes());
        assert!(matches!(
            MOsdBoot::decode(71, 7, 7, &big, &[], &[]),
            Err(DecodeError::TooLong {
                what: "MOSDBoot metadata",
                ..
            })
        ));
        // The incompat name count: first the compat set's third count.
        let mut cs = Vec::new();
        compat_golden(&mut cs);
        let at = cs.len() - (4 + 16 * 12 + names_len());
        assert_eq!(&cs[at..at + 4], &16u32.to_le_bytes());
        cs[at..at + 4].copy_from_slice(&(MAX_COMPAT_FEATURES as u32 + 1).to_le_bytes());
        assert!(matches!(
            CompatSet::parse(&mut Reader::new(&cs, "t")),
            Err(DecodeError::TooLong {
                what: "CompatSet incompat",
                ..
            })
        ));
    }

    fn names_len() -> usize {
        osd_incompat::INITIAL.iter().map(|(_, n)| n.len()).sum()
    }

    #[test]
    fn boot_feature_checks() {
        assert!(boot_feature_problems(features::PACIFIC_SUPPORTED).is_empty());
        assert_eq!(boot_feature_problems(0).len(), 5);
        let no_hardlimit = features::PACIFIC_SUPPORTED & !features::OSD_PGLOG_HARDLIMIT;
        assert_eq!(
            boot_feature_problems(no_hardlimit),
            ["CEPH_FEATURE_OSD_PGLOG_HARDLIMIT"]
        );
        // SERVER_LUMINOUS needs its incarnation bit too.
        let no_inc2 = features::PACIFIC_SUPPORTED & !features::INCARNATION_2;
        assert!(boot_feature_problems(no_inc2).contains(&"CEPH_FEATURE_SERVER_LUMINOUS"));
    }

    #[test]
    fn convenience_constructors() {
        let b = MOsdBeacon::new(33);
        assert_eq!((b.version, b.min_last_epoch_clean), (33, 33));
        assert_eq!(b.osd_beacon_report_interval, 300);
        assert!(b.pgs.is_empty());
        round_trip(&b);
        let boot = MOsdBoot::for_osd(FSID, OSD_FSID, 4, 21, addrs(6800));
        assert_eq!(boot.version, 21);
        assert_eq!(
            (
                boot.sb.current_epoch,
                boot.sb.oldest_map,
                boot.sb.newest_map
            ),
            (21, 21, 21)
        );
        assert_eq!(boot.sb.whoami, 4);
        assert_eq!(boot.sb.osd_fsid, OSD_FSID);
        assert_eq!(boot.cluster_addrs, addrs(6800));
        assert_eq!(boot.hb_back_addrs, addrs(6800));
        assert_eq!(boot.hb_front_addrs, addrs(6800));
        assert!(boot_feature_problems(boot.osd_features).is_empty());
        round_trip(&boot);
    }

    #[test]
    fn beacon_layout() {
        let b = MOsdBeacon {
            version: 30,
            pgs: vec![
                PgId { pool: 1, seed: 0 },
                PgId {
                    pool: 2,
                    seed: 0x1f,
                },
            ],
            min_last_epoch_clean: 28,
            last_purged_snaps_scrub: UTime::new(1_700_000_000, 7),
            osd_beacon_report_interval: 300,
        };
        let enc = round_trip(&b);
        assert_eq!((enc.ty, enc.version, enc.compat_version), (79, 3, 1));
        let mut want = Vec::new();
        want.put_u64_le(30);
        want.put_u16_le(0xffff);
        want.put_u64_le(0);
        want.put_u32_le(2);
        for (pool, seed) in [(1u64, 0u32), (2, 0x1f)] {
            want.put_u8(1);
            want.put_u64_le(pool);
            want.put_u32_le(seed);
            want.put_u32_le(0xffff_ffff);
        }
        want.put_u32_le(28);
        want.put_u32_le(1_700_000_000);
        want.put_u32_le(7);
        want.put_u32_le(300);
        assert_eq!(enc.front, want);
        cuts_fail::<MOsdBeacon>(&enc);
        // v1 and v2 senders stop early.
        let v2 = MOsdBeacon::decode(79, 2, 1, &want[..want.len() - 4], &[], &[]).unwrap();
        assert_eq!(v2.osd_beacon_report_interval, 0);
        assert_eq!(v2.last_purged_snaps_scrub, b.last_purged_snaps_scrub);
        let v1 = MOsdBeacon::decode(79, 1, 1, &want[..want.len() - 12], &[], &[]).unwrap();
        assert_eq!(v1.last_purged_snaps_scrub, UTime::default());
        // Oversized PG count.
        let mut big = want.clone();
        big[18..22].copy_from_slice(&(MAX_BEACON_PGS as u32 + 1).to_le_bytes());
        assert!(matches!(
            MOsdBeacon::decode(79, 3, 1, &big, &[], &[]),
            Err(DecodeError::TooLong {
                what: "MOSDBeacon pgs",
                ..
            })
        ));
    }

    #[test]
    fn mark_me_down_layout() {
        let m = MOsdMarkMeDown::new(FSID, 3, addrs(6801), 40);
        let enc = round_trip(&m);
        assert_eq!((enc.ty, enc.version, enc.compat_version), (74, 4, 3));
        let mut want = Vec::new();
        want.put_u64_le(40);
        want.put_u16_le(0xffff);
        want.put_u64_le(0);
        want.put_slice(&FSID);
        want.put_u32_le(3);
        addrvec_golden(&mut want, [127, 10, 0, 7], 6801, 4242);
        want.put_u32_le(40);
        want.put_u8(1);
        want.put_u8(0);
        assert_eq!(enc.front, want);
        cuts_fail::<MOsdMarkMeDown>(&enc);
        // v3 has no down_and_dead; v2 and older are refused.
        let v3 = MOsdMarkMeDown::decode(74, 3, 3, &want[..want.len() - 1], &[], &[]).unwrap();
        assert!(!v3.down_and_dead && v3.request_ack);
        assert!(MOsdMarkMeDown::decode(74, 2, 2, &want, &[], &[]).is_err());
        // An addrvec with too many addresses.
        let mut big = want.clone();
        big[18 + 16 + 4 + 1..18 + 16 + 4 + 5].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(
            MOsdMarkMeDown::decode(74, 4, 3, &big, &[], &[]),
            Err(DecodeError::TooLong {
                what: "MOSDMarkMeDown target_addrs",
                ..
            })
        ));
    }

    fn osdmap_blob(full: bool, epoch: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.put_versioned(8, 7, |o| {
            o.put_versioned(9, 1, |c| {
                c.put_slice(&FSID);
                c.put_u32_le(epoch);
                if full {
                    UTime::new(100, 1).emit(c);
                }
                UTime::new(200, 2).emit(c);
                c.put_slice(&[0xee; 40]); // pools and the rest
            });
            o.put_versioned(10, 1, |x| x.put_slice(&[0xdd; 10]));
            o.put_u32_le(0x1234_5678); // crc
        });
        b
    }

    #[test]
    fn osdmap_layout_and_headers() {
        let mut m = MOsdMap {
            fsid: FSID,
            cluster_osdmap_trim_lower_bound: 1,
            newest_map: 9,
            ..MOsdMap::default()
        };
        assert_eq!((m.first_epoch(), m.newest_epoch()), (0, 0));
        m.maps.insert(5, osdmap_blob(true, 5));
        m.incremental_maps.insert(6, osdmap_blob(false, 6));
        m.incremental_maps.insert(7, osdmap_blob(false, 7));
        assert_eq!((m.first_epoch(), m.newest_epoch()), (5, 7));
        let enc = round_trip(&m);
        assert_eq!((enc.ty, enc.version, enc.compat_version), (41, 4, 3));
        let mut want = Vec::new();
        want.put_slice(&FSID);
        want.put_u32_le(2);
        for e in [6u32, 7] {
            want.put_u32_le(e);
            want.put_bytes_le32(&osdmap_blob(false, e));
        }
        want.put_u32_le(1);
        want.put_u32_le(5);
        want.put_bytes_le32(&osdmap_blob(true, 5));
        want.put_u32_le(1);
        want.put_u32_le(9);
        want.put_u32_le(0);
        assert_eq!(enc.front, want);
        cuts_fail::<MOsdMap>(&enc);

        let h = parse_full_osdmap_header(&m.maps[&5]).unwrap();
        assert_eq!(
            h,
            OsdMapHeader {
                fsid: FSID,
                epoch: 5,
                created: UTime::new(100, 1),
                modified: UTime::new(200, 2),
            }
        );
        let h = parse_incremental_osdmap_header(&m.incremental_maps[&7]).unwrap();
        assert_eq!((h.epoch, h.modified), (7, UTime::new(200, 2)));
        let blob = &m.maps[&5];
        for cut in 0..6 + 6 + 16 + 4 + 16 {
            assert!(parse_full_osdmap_header(&blob[..cut]).is_err());
        }
        let mut classic = blob.clone();
        classic[0] = 6;
        assert!(parse_full_osdmap_header(&classic).is_err());

        // A v4 gap_removed_snaps with content is skipped; v3 has none; v1
        // has no epochs.
        let mut gap = want[..want.len() - 4].to_vec();
        gap.put_u32_le(1);
        gap.put_u64_le(3);
        gap.put_u32_le(1);
        gap.put_u64_le(10);
        gap.put_u64_le(2);
        assert_eq!(MOsdMap::decode(41, 4, 3, &gap, &[], &[]).unwrap(), m);
        let v3 = MOsdMap::decode(41, 3, 3, &want[..want.len() - 4], &[], &[]).unwrap();
        assert_eq!(v3, m);
        let v1 = MOsdMap::decode(41, 1, 1, &want[..want.len() - 12], &[], &[]).unwrap();
        assert_eq!((v1.newest_map, v1.newest_epoch()), (0, 7));

        // Oversized epoch count and blob length.
        let mut big = want.clone();
        big[16..20].copy_from_slice(&(MAX_OSDMAP_EPOCHS as u32 + 1).to_le_bytes());
        assert!(matches!(
            MOsdMap::decode(41, 4, 3, &big, &[], &[]),
            Err(DecodeError::TooLong {
                what: "MOSDMap incremental_maps",
                ..
            })
        ));
        let mut big = want.clone();
        big[24..28].copy_from_slice(&(MAX_OSDMAP_LEN as u32 + 1).to_le_bytes());
        assert!(matches!(
            MOsdMap::decode(41, 4, 3, &big, &[], &[]),
            Err(DecodeError::TooLong { .. })
        ));
    }

    /// A PING as a Pacific ceph-osd sends it (`OSD::heartbeat`), written
    /// field by field: osd_heartbeat_min_size 2000, with delta_ub.
    fn ping_golden() -> Vec<u8> {
        let mut f = Vec::new();
        f.put_slice(&FSID);
        f.put_u32_le(57); // map_epoch
        f.put_u8(4); // PING
        f.put_u32_le(1_700_000_123); // ping_stamp
        f.put_u32_le(456_000_000);
        assert_eq!(f.len(), 29);
        f.put_u32_le(2000 - 29); // padding length
        f.put_u32_le(50); // up_from
        f.put_u32_le(3600); // mono_ping_stamp
        f.put_u32_le(250_000_000);
        f.put_u32_le(3600); // mono_send_stamp
        f.put_u32_le(250_000_000);
        f.put_u8(1); // delta_ub present
        f.put_u32_le(0);
        f.put_u32_le(1_500);
        f.resize(f.len() + 1971, 0);
        f
    }

    #[test]
    fn ping_golden_bytes_and_reply() {
        let golden = ping_golden();
        assert_eq!(golden.len(), 2000 + 33);
        let p = MOsdPing::decode(70, 5, 4, &golden, &[], &[]).unwrap();
        assert_eq!(
            p,
            MOsdPing {
                fsid: FSID,
                map_epoch: 57,
                op: ping_op::PING,
                ping_stamp: UTime::new(1_700_000_123, 456_000_000),
                mono_ping_stamp: SignedSpan::new(3600, 250_000_000),
                mono_send_stamp: SignedSpan::new(3600, 250_000_000),
                delta_ub: Some(SignedSpan::from_nanos(1_500)),
                up_from: 50,
                min_message_size: 2000,
            }
        );
        let enc = p.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (70, 5, 4));
        assert_eq!(enc.front, golden);
        cuts_fail::<MOsdPing>(&enc);

        // The reply a Pacific OSD (epoch 60, up since 58, mono 7200.5 s)
        // sends: stamps echoed, ours after, delta_ub = now - their send.
        let now = SignedSpan::from_nanos(7_200_500_000_000);
        let r = p.reply_to(60, 58, now, OSD_HEARTBEAT_MIN_SIZE_DEFAULT);
        let mut want = Vec::new();
        want.put_slice(&FSID);
        want.put_u32_le(60);
        want.put_u8(5); // PING_REPLY
        want.put_u32_le(1_700_000_123);
        want.put_u32_le(456_000_000);
        want.put_u32_le(1971);
        want.put_u32_le(58);
        want.put_u32_le(3600); // mono_ping_stamp, echoed
        want.put_u32_le(250_000_000);
        want.put_u32_le(7200); // mono_send_stamp, ours
        want.put_u32_le(500_000_000);
        want.put_u8(1);
        want.put_u32_le(3600); // 7200.5 - 3600.25
        want.put_u32_le(250_000_000);
        want.resize(want.len() + 1971, 0);
        assert_eq!(r.encode().front, want);
        assert_eq!(MOsdPing::decode_encoded(&r.encode()).unwrap(), r);

        let d = p.you_died(60, 58, now, 0);
        assert_eq!((d.op, d.delta_ub, d.min_message_size), (2, None, 0));
        let enc = d.encode();
        assert_eq!(enc.front.len(), 29 + 4 + 4 + 16 + 1);
        // Unpadded messages decode with min_message_size 29 and re-encode
        // identically.
        let back = MOsdPing::decode_encoded(&enc).unwrap();
        assert_eq!(back.min_message_size, PING_MID_LENGTH);
        assert_eq!(back.encode().front, enc.front);
    }

    #[test]
    fn ping_v4_and_limits() {
        // A v4 ping: padding right after the length.
        let mut v4 = Vec::new();
        v4.put_slice(&FSID);
        v4.put_u32_le(3);
        v4.put_u8(ping_op::PING);
        v4.put_u32_le(1);
        v4.put_u32_le(2);
        v4.put_u32_le(10);
        v4.resize(v4.len() + 10, 0);
        let p = MOsdPing::decode(70, 4, 4, &v4, &[], &[]).unwrap();
        assert_eq!((p.min_message_size, p.up_from, p.delta_ub), (39, 0, None));
        // A newer sender's extra bytes after the padding are tolerated.
        let mut v6 = ping_golden();
        v6.extend_from_slice(&[1, 2, 3]);
        assert!(MOsdPing::decode(70, 6, 4, &v6, &[], &[]).is_ok());
        assert!(MOsdPing::decode(70, 5, 4, &v6, &[], &[]).is_err());
        // Oversized padding length.
        let mut big = ping_golden();
        big[29..33].copy_from_slice(&(MAX_PING_PADDING as u32 + 1).to_le_bytes());
        assert!(matches!(
            MOsdPing::decode(70, 5, 4, &big, &[], &[]),
            Err(DecodeError::TooLong {
                what: "MOSDPing padding length",
                ..
            })
        ));
        // Padding longer than the front.
        let mut short = ping_golden();
        short[29..33].copy_from_slice(&3000u32.to_le_bytes());
        assert!(matches!(
            MOsdPing::decode(70, 5, 4, &short, &[], &[]),
            Err(DecodeError::Truncated {
                what: "MOSDPing padding",
                ..
            })
        ));
    }

    #[test]
    fn signed_span_split() {
        for n in [0i64, 1, 999_999_999, 1_000_000_000, -1, -1_500_000_000] {
            assert_eq!(SignedSpan::from_nanos(n).as_nanos(), n);
        }
        let s = SignedSpan::from_nanos(-1_500_000_000);
        assert_eq!((s.sec, s.nsec), (-1, -500_000_000));
        let mut b = Vec::new();
        s.emit(&mut b);
        assert_eq!(b, [0xff, 0xff, 0xff, 0xff, 0x00, 0x9b, 0x32, 0xe2]);
    }

    fn arb_addrs() -> impl Strategy<Value = EntityAddrVec> {
        proptest::collection::vec(crate::wire::addr::tests::arb_addr(), 0..3)
            .prop_map(EntityAddrVec)
    }

    proptest! {
        #[test]
        fn boot_round_trips(whoami: i32, epochs: [u32; 6], weight in 0.0f64..10.0,
                            a in arb_addrs(), c in arb_addrs(), meta in proptest::collection::btree_map(".{0,8}", ".{0,8}", 0..4),
                            feats: u64, extra_compat in 1u64..63) {
            let mut sb = OsdSuperblock::new_pacific([1; 16], [2; 16], whoami);
            sb.current_epoch = epochs[0];
            sb.oldest_map = epochs[1];
            sb.newest_map = epochs[2];
            sb.clean_thru = epochs[3];
            sb.mounted = epochs[4];
            sb.cluster_osdmap_trim_lower_bound = epochs[5];
            sb.weight = weight;
            sb.compat_features.compat.insert(extra_compat, "x");
            let mut b = MOsdBoot::new(sb, a.clone(), c, a);
            b.metadata = meta;
            b.osd_features = feats;
            b.boot_epoch = epochs[0] ^ epochs[1];
            let enc = b.encode();
            prop_assert_eq!(MOsdBoot::decode_encoded(&enc).unwrap(), b);
        }

        #[test]
        fn ping_round_trips(epoch: u32, op in 0u8..6, s: u32, ns: u32, up: u32, a: (i32, i32), b: (i32, i32),
                            d: Option<(i32, i32)>, min in 30u32..5000) {
            let p = MOsdPing {
                fsid: [9; 16],
                map_epoch: epoch,
                op,
                ping_stamp: UTime::new(s, ns),
                mono_ping_stamp: SignedSpan { sec: a.0, nsec: a.1 },
                mono_send_stamp: SignedSpan { sec: b.0, nsec: b.1 },
                delta_ub: d.map(|(sec, nsec)| SignedSpan { sec, nsec }),
                up_from: up,
                min_message_size: min,
            };
            let enc = p.encode();
            prop_assert_eq!(enc.front.len(), min as usize + if d.is_some() { 33 } else { 25 });
            prop_assert_eq!(MOsdPing::decode_encoded(&enc).unwrap(), p);
        }

        #[test]
        fn never_panics(front in proptest::collection::vec(any::<u8>(), 0..200), v in 0u16..8) {
            let _ = MOsdBoot::decode(71, v, 1, &front, &[], &[]);
            let _ = MOsdBeacon::decode(79, v, 1, &front, &[], &[]);
            let _ = MOsdMarkMeDown::decode(74, v, 1, &front, &[], &[]);
            let _ = MOsdMap::decode(41, v, 1, &front, &[], &[]);
            let _ = MOsdPing::decode(70, v, 1, &front, &[], &[]);
            let _ = parse_full_osdmap_header(&front);
            let _ = parse_incremental_osdmap_header(&front);
            let _ = OsdSuperblock::parse(&mut Reader::new(&front, "fuzz"));
        }
    }
}
