//! Where objects and PGs live (`OSDMap::object_locator_to_pg`,
//! `raw_pg_to_pg`, `_pg_to_raw_osds`, `_apply_upmap`, `_raw_to_up_osds`,
//! `_apply_primary_affinity`, `_get_temp_osds`, `_pg_to_up_acting_osds` in
//! `src/osd/OSDMap.cc`; `pg_pool_t::hash_key` / `raw_pg_to_pps` in
//! `src/osd/osd_types.cc`), as Ceph 16.2 computes them.
//!
//! An object name hashes (with its namespace and locator key) to a *raw* PG
//! seed; `ceph_stable_mod` folds it into the pool's `pg_num`. The PG's
//! placement seed (`pps`) feeds the pool's CRUSH rule, whose result is
//! filtered (nonexistent OSDs), overridden (`pg_upmap`, `pg_upmap_items`),
//! filtered again (down OSDs) and reordered (primary affinity) into the
//! *up* set; `pg_temp` / `primary_temp` replace it as the *acting* set.

use thiserror::Error;

use super::crush::CRUSH_ITEM_NONE;
use super::hash::{ceph_str_hash, crush_hash32_2};
use super::map::{OsdMap, DEFAULT_PRIMARY_AFFINITY};
use super::pool::{stable_mod, PgPool};
use crate::msg::osd_mon::PgId;

/// `CEPH_OSD_MAX_PRIMARY_AFFINITY` (1.0 in 16.16 fixed point).
const MAX_PRIMARY_AFFINITY: u32 = 0x10000;

/// Why an object could not be mapped to a PG.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// The pool is not in the map (`-ENOENT` in Ceph).
    #[error("pool {0} does not exist in the osdmap")]
    NoSuchPool(i64),
}

/// A PG's OSDs (`pg_to_up_acting_osds`): the up set CRUSH and the upmaps
/// give, and the acting set that serves I/O (the up set unless a temp
/// mapping overrides it). Erasure pools keep positions: a missing shard is
/// [`CRUSH_ITEM_NONE`]. A primary of -1 means none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpActing {
    /// The up set.
    pub up: Vec<i32>,
    /// The up set's primary, or -1.
    pub up_primary: i32,
    /// The acting set.
    pub acting: Vec<i32>,
    /// The acting primary (where a client sends ops), or -1.
    pub acting_primary: i32,
}

impl UpActing {
    fn none() -> UpActing {
        UpActing {
            up: Vec::new(),
            up_primary: -1,
            acting: Vec::new(),
            acting_primary: -1,
        }
    }
}

impl PgPool {
    /// `pg_pool_t::hash_key`: the pool's `ceph_str_hash` of `key`, or of
    /// `nspace + '\x1f' + key` when the namespace is not empty. An unknown
    /// hash type hashes to 0xffffffff, as Ceph's -1.
    pub fn hash_key(&self, key: &[u8], nspace: &[u8]) -> u32 {
        let hash = |b: &[u8]| ceph_str_hash(self.object_hash, b).unwrap_or(u32::MAX);
        if nspace.is_empty() {
            return hash(key);
        }
        let mut buf = Vec::with_capacity(nspace.len() + 1 + key.len());
        buf.extend_from_slice(nspace);
        buf.push(0x1f);
        buf.extend_from_slice(key);
        hash(&buf)
    }

    /// `pg_pool_t::raw_pg_to_pps`: the placement seed CRUSH gets for PG
    /// seed `ps` of pool `pool_id`. With `FLAG_HASHPSPOOL` the pool id is
    /// hashed in, so pools do not overlap; otherwise it is added (Ceph's
    /// `pg.pool()` is truncated to 32 bits in both cases).
    pub fn raw_pg_to_pps(&self, pool_id: i64, ps: u32) -> u32 {
        let folded = stable_mod(ps, self.pgp_num, self.pgp_num_mask);
        if self.hashpspool() {
            crush_hash32_2(folded, pool_id as u32)
        } else {
            folded.wrapping_add(pool_id as u32)
        }
    }
}

impl OsdMap {
    /// The raw PG of an object (`OSDMap::map_to_pg`): the seed is the full
    /// 32-bit hash of its locator `key` (when given and not empty, as
    /// Ceph) or of its `name`, within namespace `nspace`.
    pub fn object_to_raw_pg(
        &self,
        pool: i64,
        name: &[u8],
        nspace: &[u8],
        key: Option<&[u8]>,
    ) -> Result<PgId, PlacementError> {
        let p = self
            .pools
            .get(&pool)
            .ok_or(PlacementError::NoSuchPool(pool))?;
        let hashed = match key {
            Some(k) if !k.is_empty() => k,
            _ => name,
        };
        Ok(PgId {
            pool,
            seed: p.hash_key(hashed, nspace),
        })
    }

    /// The PG an object belongs to: [`OsdMap::object_to_raw_pg`] folded
    /// into `0..pg_num` ([`OsdMap::raw_pg_to_pg`]), the `pgid` `ceph osd
    /// map` prints.
    pub fn object_to_pg(
        &self,
        pool: i64,
        name: &[u8],
        nspace: &[u8],
        key: Option<&[u8]>,
    ) -> Result<PgId, PlacementError> {
        let raw = self.object_to_raw_pg(pool, name, nspace, key)?;
        Ok(self.raw_pg_to_pg(raw))
    }

    /// `OSDMap::raw_pg_to_pg`: folds a raw seed into the pool's `pg_num`
    /// (unchanged if the pool does not exist).
    pub fn raw_pg_to_pg(&self, pg: PgId) -> PgId {
        match self.pool_of(pg) {
            Some(p) => PgId {
                pool: pg.pool,
                seed: p.raw_seed_to_seed(pg.seed),
            },
            None => pg,
        }
    }

    fn pool_of(&self, pg: PgId) -> Option<&PgPool> {
        self.pools.get(&pg.pool)
    }

    fn weight_of(&self, osd: i32) -> Option<u32> {
        self.osd(osd).map(|o| o.weight)
    }

    /// `OSDMap::_pg_to_raw_osds`: the pool's CRUSH rule (found by ruleset,
    /// type and size) evaluated for the PG's placement seed with the OSD
    /// reweights, minus nonexistent OSDs; also returns the seed.
    pub fn pg_to_raw_osds(&self, pool: &PgPool, pg: PgId) -> (Vec<i32>, u32) {
        let pps = pool.raw_pg_to_pps(pg.pool, pg.seed);
        let size = usize::from(pool.size);
        let mut osds = Vec::new();
        if let Some(crush) = self.crush_map() {
            if let Some(rule) = crush.find_rule(i32::from(pool.crush_rule), pool.pool_type, size) {
                let weights: Vec<u32> = self.osds.iter().map(|o| o.weight).collect();
                osds = crush.do_rule(rule, pps, size, &weights, pg.pool);
            }
        }
        self.remove_nonexistent_osds(pool, &mut osds);
        (osds, pps)
    }

    /// `_remove_nonexistent_osds`: replicated pools drop them, erasure
    /// pools keep the slot as `CRUSH_ITEM_NONE`.
    fn remove_nonexistent_osds(&self, pool: &PgPool, osds: &mut Vec<i32>) {
        if pool.can_shift_osds() {
            osds.retain(|&o| self.exists(o));
        } else {
            for o in osds.iter_mut() {
                if !self.exists(*o) {
                    *o = CRUSH_ITEM_NONE;
                }
            }
        }
    }

    /// True if `osd` is a valid id whose reweight is 0 (marked out).
    fn is_marked_out(&self, osd: i32) -> bool {
        osd != CRUSH_ITEM_NONE && self.weight_of(osd) == Some(0)
    }

    /// `OSDMap::_apply_upmap`: `pg_upmap` replaces the set (unless one of
    /// its OSDs is out), then each `pg_upmap_items` pair replaces `from`
    /// with `to` if `to` is not already there and not out, then
    /// `pg_upmap_primaries` (Reef) swaps in a primary.
    fn apply_upmap(&self, pool: &PgPool, raw_pg: PgId, raw: &mut Vec<i32>) {
        let pg = PgId {
            pool: raw_pg.pool,
            seed: pool.raw_seed_to_seed(raw_pg.seed),
        };
        if let Some(targets) = self.pg_upmap.get(&pg) {
            if targets.iter().any(|&o| self.is_marked_out(o)) {
                return;
            }
            raw.clone_from(targets);
        }
        if let Some(items) = self.pg_upmap_items.get(&pg) {
            for &(from, to) in items {
                let mut exists = false;
                let mut pos = None;
                for (i, &osd) in raw.iter().enumerate() {
                    if osd == to {
                        exists = true;
                        break;
                    }
                    if osd == from && pos.is_none() && !self.is_marked_out(to) {
                        pos = Some(i);
                    }
                }
                if let (false, Some(i)) = (exists, pos) {
                    raw[i] = to;
                }
            }
        }
        if let Some(&prim) = self.pg_upmap_primaries.get(&pg) {
            let valid = prim != CRUSH_ITEM_NONE && self.weight_of(prim).is_some_and(|w| w != 0);
            if valid {
                if let Some(i) = raw.iter().skip(1).position(|&o| o == prim) {
                    raw.swap(0, i + 1);
                }
            }
        }
    }

    /// `OSDMap::_raw_to_up_osds`: drops (replicated) or blanks (erasure)
    /// OSDs that are down or gone.
    fn raw_to_up_osds(&self, pool: &PgPool, raw: &[i32]) -> Vec<i32> {
        if pool.can_shift_osds() {
            raw.iter().copied().filter(|&o| self.is_up(o)).collect()
        } else {
            raw.iter()
                .map(|&o| if self.is_up(o) { o } else { CRUSH_ITEM_NONE })
                .collect()
        }
    }

    /// `OSDMap::_apply_primary_affinity`: an OSD with affinity below 1.0
    /// declines to be primary for a proportional share of PGs (by a hash
    /// of the seed and the OSD); the first that accepts (or else the first
    /// that declined) becomes primary, moved to the front in replicated
    /// pools.
    fn apply_primary_affinity(
        &self,
        seed: u32,
        pool: &PgPool,
        osds: &mut [i32],
        primary: &mut i32,
    ) {
        let affinity = |o: i32| {
            self.osd(o)
                .map_or(DEFAULT_PRIMARY_AFFINITY, |e| e.primary_affinity)
        };
        if !osds
            .iter()
            .any(|&o| o != CRUSH_ITEM_NONE && affinity(o) != DEFAULT_PRIMARY_AFFINITY)
        {
            return;
        }
        let mut pos = None;
        for (i, &o) in osds.iter().enumerate() {
            if o == CRUSH_ITEM_NONE {
                continue;
            }
            let a = affinity(o);
            if a < MAX_PRIMARY_AFFINITY && (crush_hash32_2(seed, o as u32) >> 16) >= a {
                // Declined; the fallback if nobody accepts.
                pos.get_or_insert(i);
            } else {
                pos = Some(i);
                break;
            }
        }
        let Some(pos) = pos else {
            return;
        };
        *primary = osds[pos];
        if pool.can_shift_osds() && pos > 0 {
            osds[..=pos].rotate_right(1);
        }
    }

    /// `OSDMap::_get_temp_osds`: the `pg_temp` set (down or gone OSDs
    /// dropped, or blanked in erasure pools) and the primary from
    /// `primary_temp`, else the temp set's first OSD, else -1.
    fn get_temp_osds(&self, pool: &PgPool, pg: PgId) -> (Vec<i32>, i32) {
        let pg = PgId {
            pool: pg.pool,
            seed: pool.raw_seed_to_seed(pg.seed),
        };
        let mut temp = Vec::new();
        if let Some(list) = self.pg_temp.get(&pg) {
            for &o in list {
                if self.is_up(o) {
                    temp.push(o);
                } else if !pool.can_shift_osds() {
                    temp.push(CRUSH_ITEM_NONE);
                }
            }
        }
        let primary = match self.primary_temp.get(&pg) {
            Some(&p) => p,
            None => temp
                .iter()
                .copied()
                .find(|&o| o != CRUSH_ITEM_NONE)
                .unwrap_or(-1),
        };
        (temp, primary)
    }

    /// `OSDMap::pg_to_up_acting_osds`: the up and acting sets of `pg` (a
    /// raw seed is folded as Ceph does). A PG of a missing pool maps to
    /// nothing.
    pub fn pg_to_up_acting(&self, pg: PgId) -> UpActing {
        let Some(pool) = self.pool_of(pg) else {
            return UpActing::none();
        };
        let (temp, mut acting_primary) = self.get_temp_osds(pool, pg);
        let (mut raw, pps) = self.pg_to_raw_osds(pool, pg);
        self.apply_upmap(pool, pg, &mut raw);
        let mut up = self.raw_to_up_osds(pool, &raw);
        let mut up_primary = first_osd(&up);
        self.apply_primary_affinity(pps, pool, &mut up, &mut up_primary);
        let acting = if temp.is_empty() {
            if acting_primary == -1 {
                acting_primary = up_primary;
            }
            up.clone()
        } else {
            temp
        };
        UpActing {
            up,
            up_primary,
            acting,
            acting_primary,
        }
    }
}

/// `OSDMap::_pick_primary`: the first OSD that is not `CRUSH_ITEM_NONE`.
fn first_osd(osds: &[i32]) -> i32 {
    osds.iter()
        .copied()
        .find(|&o| o != CRUSH_ITEM_NONE)
        .unwrap_or(-1)
}
