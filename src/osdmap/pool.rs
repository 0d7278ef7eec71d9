//! `pg_pool_t` (`src/osd/osd_types.h`, `pg_pool_t::encode/decode` in
//! `src/osd/osd_types.cc`): one pool of an osdmap.

use std::collections::BTreeMap;

use super::codec;
use super::error::{At, OsdMapError};
use crate::wire::utime::UTime;
use crate::wire::Reader;

/// Largest encoded `pg_pool_t` accepted (a real one is about 320 bytes plus
/// snapshots and metadata).
pub const MAX_POOL_LEN: usize = 16 << 20;
/// Most pool snapshots (`snaps`) in one pool.
pub const MAX_POOL_SNAPS: usize = 1 << 20;
/// Most intervals in a pool's legacy `removed_snaps`.
pub const MAX_REMOVED_SNAP_INTERVALS: usize = 1 << 20;
/// Most tiers of one pool.
pub const MAX_TIERS: usize = 1 << 16;

/// `pg_pool_t::TYPE_REPLICATED`.
pub const TYPE_REPLICATED: u8 = 1;
/// `pg_pool_t::TYPE_ERASURE`.
pub const TYPE_ERASURE: u8 = 3;

/// `pg_pool_t::FLAG_*` bits this crate uses.
pub mod flag {
    /// `FLAG_HASHPSPOOL`: the placement seed is hashed with the pool id.
    pub const HASHPSPOOL: u64 = 1 << 0;
    /// `FLAG_POOL_SNAPS`: the pool has pool snapshots.
    pub const POOL_SNAPS: u64 = 1 << 14;
    /// `FLAG_SELFMANAGED_SNAPS`: the pool has self-managed snapshots.
    pub const SELFMANAGED_SNAPS: u64 = 1 << 13;
}

/// `ceph_str_hash` kinds (`src/include/ceph_hash.h`) a pool's `object_hash` names.
pub mod object_hash {
    /// `CEPH_STR_HASH_LINUX`: the Linux dcache hash.
    pub const LINUX: u8 = 1;
    /// `CEPH_STR_HASH_RJENKINS`: Bob Jenkins' hash (the default).
    pub const RJENKINS: u8 = 2;
}

/// One pool (`pg_pool_t`), with the fields placement and clients use. Fields
/// after `struct_v` 29 are skipped by the versioned envelope; snapshots,
/// hit sets, pool options and merge metadata are read past, not kept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgPool {
    /// `TYPE_REPLICATED` (1) or `TYPE_ERASURE` (3).
    pub pool_type: u8,
    /// Replicas (or k+m shards).
    pub size: u8,
    /// Fewest replicas for I/O.
    pub min_size: u8,
    /// CRUSH rule (a ruleset id, matched by `find_rule`).
    pub crush_rule: u8,
    /// `ceph_str_hash` kind for object names ([`object_hash`]).
    pub object_hash: u8,
    /// Number of PGs.
    pub pg_num: u32,
    /// Number of PGs used for placement.
    pub pgp_num: u32,
    /// `(1 << cbits(pg_num - 1)) - 1`, as `pg_pool_t::calc_pg_masks`.
    pub pg_num_mask: u32,
    /// `(1 << cbits(pgp_num - 1)) - 1`.
    pub pgp_num_mask: u32,
    /// Epoch of the last change.
    pub last_change: u32,
    /// Pool snapshot sequence.
    pub snap_seq: u64,
    /// Epoch of the last snapshot change.
    pub snap_epoch: u32,
    /// Retired owner id.
    pub auid: u64,
    /// `FLAG_*` bits ([`flag`]).
    pub flags: u64,
    /// Byte quota (0: none).
    pub quota_max_bytes: u64,
    /// Object quota (0: none).
    pub quota_max_objects: u64,
    /// Cache tiers of this pool.
    pub tiers: Vec<u64>,
    /// The base pool if this is a tier, else -1.
    pub tier_of: i64,
    /// Cache mode (`cache_mode_t`).
    pub cache_mode: u8,
    /// Read tier pool or -1.
    pub read_tier: i64,
    /// Write tier pool or -1.
    pub write_tier: i64,
    /// EC stripe width in bytes.
    pub stripe_width: u32,
    /// Name of the erasure-code profile (EC pools).
    pub erasure_code_profile: String,
    /// Application name → key/value metadata (v26+).
    pub application_metadata: BTreeMap<String, BTreeMap<String, String>>,
    /// Creation time (v27+).
    pub create_time: UTime,
    /// `pg_num` being converged to (v28+; else `pg_num`).
    pub pg_num_target: u32,
    /// `pgp_num` being converged to (v28+; else `pgp_num`).
    pub pgp_num_target: u32,
    /// `pg_num` being merged down to (v28+; else `pg_num`).
    pub pg_num_pending: u32,
    /// Epoch from which clients must resend ops (v28+).
    pub last_force_op_resend: u32,
    /// `pg_autoscale_mode_t` (v28+).
    pub pg_autoscale_mode: u8,
    /// The encoding's `struct_v`.
    pub struct_v: u8,
}

/// `cbits`: bits needed to hold `v` (0 for 0).
fn cbits(v: u32) -> u32 {
    32 - v.leading_zeros()
}

/// `(1 << cbits(n - 1)) - 1` without overflow (`pg_num` 0 gives all ones).
fn pg_mask(n: u32) -> u32 {
    ((1u64 << cbits(n.wrapping_sub(1))) - 1) as u32
}

/// `ceph_stable_mod` (`src/include/rados.h`): maps `x` into `0..b` so that
/// growing `b` moves as few values as possible; `bmask` is the mask of `b`.
pub fn stable_mod(x: u32, b: u32, bmask: u32) -> u32 {
    if (x & bmask) < b {
        x & bmask
    } else {
        x & (bmask >> 1)
    }
}

impl PgPool {
    /// Decodes one `pg_pool_t` (`DECODE_START_LEGACY_COMPAT_LEN(29, 5, 5)`;
    /// versions below 5 predate the length header and are rejected).
    pub fn decode(r: &mut Reader<'_>) -> Result<PgPool, OsdMapError> {
        const F: &str = "pg_pool_t";
        let (v, mut b) = r.versioned(F, 29, MAX_POOL_LEN).at(F)?;
        if v < 5 {
            return Err(OsdMapError::InvalidValue {
                field: "pg_pool_t struct_v (need >= 5)",
                value: i64::from(v),
            });
        }
        let b = &mut b;
        let mut p = PgPool {
            struct_v: v,
            pool_type: b.u8().at("pg_pool_t type")?,
            size: b.u8().at("pg_pool_t size")?,
            crush_rule: b.u8().at("pg_pool_t crush_rule")?,
            object_hash: b.u8().at("pg_pool_t object_hash")?,
            pg_num: b.u32_le().at("pg_pool_t pg_num")?,
            pgp_num: b.u32_le().at("pg_pool_t pgp_num")?,
            ..PgPool::default()
        };
        b.take(8).at("pg_pool_t lpg_num")?;
        p.last_change = b.u32_le().at("pg_pool_t last_change")?;
        p.snap_seq = b.u64_le().at("pg_pool_t snap_seq")?;
        p.snap_epoch = b.u32_le().at("pg_pool_t snap_epoch")?;
        // snaps: map<snapid_t, pool_snap_info_t>, each value ENCODE_START'ed.
        let snaps = codec::count(b, "pg_pool_t snaps", MAX_POOL_SNAPS, 8 + 6)?;
        for _ in 0..snaps {
            b.u64_le().at("pg_pool_t snaps")?;
            b.versioned("pool_snap_info_t", u8::MAX, MAX_POOL_LEN)
                .at("pg_pool_t snaps")?;
        }
        let removed = codec::count(b, "pg_pool_t removed_snaps", MAX_REMOVED_SNAP_INTERVALS, 16)?;
        b.take(removed * 16).at("pg_pool_t removed_snaps")?;
        p.auid = b.u64_le().at("pg_pool_t auid")?;
        p.flags = b.u64_le().at("pg_pool_t flags")?;
        b.u32_le().at("pg_pool_t crash_replay_interval")?;
        // Pre-selfmanaged upgrade path, as pg_pool_t::decode does it.
        if p.snap_seq > 0 && p.flags & (flag::SELFMANAGED_SNAPS | flag::POOL_SNAPS) == 0 {
            p.flags |= if removed > 0 {
                flag::SELFMANAGED_SNAPS
            } else {
                flag::POOL_SNAPS
            };
        }
        p.min_size = if v >= 7 {
            b.u8().at("pg_pool_t min_size")?
        } else {
            p.size - p.size / 2
        };
        if v >= 8 {
            p.quota_max_bytes = b.u64_le().at("pg_pool_t quota_max_bytes")?;
            p.quota_max_objects = b.u64_le().at("pg_pool_t quota_max_objects")?;
        }
        p.tier_of = -1;
        p.read_tier = -1;
        p.write_tier = -1;
        if v >= 9 {
            p.tiers = codec::vec(b, "pg_pool_t tiers", MAX_TIERS, 8, |r| {
                r.u64_le().at("pg_pool_t tiers")
            })?;
            p.tier_of = b.i64_le().at("pg_pool_t tier_of")?;
            p.cache_mode = b.u8().at("pg_pool_t cache_mode")?;
            p.read_tier = b.i64_le().at("pg_pool_t read_tier")?;
            p.write_tier = b.i64_le().at("pg_pool_t write_tier")?;
        }
        if v >= 10 {
            codec::string_map(b, "pg_pool_t properties")?;
        }
        if v >= 11 {
            b.versioned("HitSet::Params", u8::MAX, MAX_POOL_LEN)
                .at("pg_pool_t hit_set_params")?;
            b.take(8).at("pg_pool_t hit_set_period/count")?;
        }
        if v >= 12 {
            p.stripe_width = b.u32_le().at("pg_pool_t stripe_width")?;
        }
        if v >= 13 {
            // target_max_bytes, target_max_objects (u64), then four u32s.
            b.take(16 + 16).at("pg_pool_t cache targets")?;
        }
        if v >= 14 {
            p.erasure_code_profile = codec::string(b, "pg_pool_t erasure_code_profile")?;
        }
        if v >= 15 {
            b.u32_le()
                .at("pg_pool_t last_force_op_resend_preluminous")?;
        }
        if v >= 16 {
            b.u32_le().at("pg_pool_t min_read_recency_for_promote")?;
        }
        if v >= 17 {
            b.u64_le().at("pg_pool_t expected_num_objects")?;
        }
        if v >= 19 {
            b.u32_le()
                .at("pg_pool_t cache_target_dirty_high_ratio_micro")?;
        }
        if v >= 20 {
            b.u32_le().at("pg_pool_t min_write_recency_for_promote")?;
        }
        if v >= 21 {
            b.u8().at("pg_pool_t use_gmt_hitset")?;
        }
        if v >= 22 {
            b.u8().at("pg_pool_t fast_read")?;
        }
        if v >= 23 {
            b.take(8).at("pg_pool_t hit_set_grade_decay_rate")?;
        }
        if v >= 24 {
            b.versioned("pool_opts_t", u8::MAX, MAX_POOL_LEN)
                .at("pg_pool_t opts")?;
        }
        let mut resend_prenautilus = 0;
        if v >= 25 {
            resend_prenautilus = b
                .u32_le()
                .at("pg_pool_t last_force_op_resend_prenautilus")?;
        }
        if v >= 26 {
            p.application_metadata =
                codec::string_map_map(b, "pg_pool_t application_metadata", 1024)?;
        }
        if v >= 27 {
            p.create_time = UTime::parse(b).at("pg_pool_t create_time")?;
        }
        if v >= 28 {
            p.pg_num_target = b.u32_le().at("pg_pool_t pg_num_target")?;
            p.pgp_num_target = b.u32_le().at("pg_pool_t pgp_num_target")?;
            p.pg_num_pending = b.u32_le().at("pg_pool_t pg_num_pending")?;
            b.take(8).at("pg_pool_t pg_num_dec_last_epoch")?;
            p.last_force_op_resend = b.u32_le().at("pg_pool_t last_force_op_resend")?;
            p.pg_autoscale_mode = b.u8().at("pg_pool_t pg_autoscale_mode")?;
            if v >= 29 {
                b.versioned("pg_merge_meta_t", u8::MAX, MAX_POOL_LEN)
                    .at("pg_pool_t last_pg_merge_meta")?;
            }
        } else {
            p.pg_num_target = p.pg_num;
            p.pgp_num_target = p.pgp_num;
            p.pg_num_pending = p.pg_num;
            p.last_force_op_resend = resend_prenautilus;
        }
        p.calc_pg_masks();
        Ok(p)
    }

    /// `pg_pool_t::calc_pg_masks`.
    pub fn calc_pg_masks(&mut self) {
        self.pg_num_mask = pg_mask(self.pg_num);
        self.pgp_num_mask = pg_mask(self.pgp_num);
    }

    /// True if `FLAG_HASHPSPOOL` is set.
    pub fn hashpspool(&self) -> bool {
        self.flags & flag::HASHPSPOOL != 0
    }

    /// `pg_pool_t::can_shift_osds`: replicated pools drop missing OSDs from
    /// a mapping; erasure pools keep their position as `CRUSH_ITEM_NONE`.
    pub fn can_shift_osds(&self) -> bool {
        self.pool_type == TYPE_REPLICATED
    }

    /// `pg_pool_t::raw_pg_to_pg`: folds a raw placement seed into `0..pg_num`.
    pub fn raw_seed_to_seed(&self, ps: u32) -> u32 {
        stable_mod(ps, self.pg_num, self.pg_num_mask)
    }
}
