//! `CrushWrapper::decode` (`src/crush/CrushWrapper.cc`, Ceph 16.2): the
//! CRUSH map as `CrushWrapper::encode` writes it, inside an OSDMap or in a
//! `crushtool -o` file.
//!
//! Layout: magic, max_buckets, max_rules, max_devices; each bucket slot (alg,
//! then the bucket and its per-algorithm data); each rule slot; the type,
//! item and rule name maps; then optional trailing sections, each present
//! only if bytes remain: tunables (added over several releases), device
//! classes, choose_args. Bytes after the last known section are ignored, as
//! Pacific ignores fields a newer encoder appends.

use std::collections::BTreeMap;

use super::{
    bucket_alg, Bucket, BucketKind, ChooseArg, ChooseArgMap, CrushError, CrushMap, Rule, RuleMask,
    RuleStep, Tunables, CRUSH_MAGIC,
};
use crate::wire::Reader;

/// Most bucket slots (`max_buckets`) accepted.
pub const MAX_BUCKETS: u32 = 65_536;
/// Most rule slots (`max_rules`) accepted.
pub const MAX_RULES: u32 = 65_536;
/// Most items in one bucket.
pub const MAX_BUCKET_ITEMS: usize = 65_536;
/// Most steps in one rule (real rules have a handful).
pub const MAX_RULE_STEPS: usize = 1024;
/// Longest type, item, rule or class name.
pub const MAX_NAME_LEN: usize = 4096;
/// Most entries in one name or class map.
pub const MAX_MAP_ENTRIES: usize = 1 << 20;
/// Most choose_args maps (one per pool plus the default).
pub const MAX_CHOOSE_ARGS: usize = 65_536;
/// Most weight-set positions in one choose_arg (one per replica).
pub const MAX_WEIGHT_SET_POSITIONS: usize = 256;

type Result<T> = std::result::Result<T, CrushError>;

fn u32_at(r: &mut Reader<'_>, field: &'static str) -> Result<u32> {
    r.u32_le().map_err(CrushError::at(field))
}

fn i32_at(r: &mut Reader<'_>, field: &'static str) -> Result<i32> {
    r.i32_le().map_err(CrushError::at(field))
}

fn u8_at(r: &mut Reader<'_>, field: &'static str) -> Result<u8> {
    r.u8().map_err(CrushError::at(field))
}

/// A `le32` count of elements at least `min_elem_len` bytes long each.
fn count_at(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
    min_elem_len: usize,
) -> Result<usize> {
    r.count_le32(limit, min_elem_len)
        .map_err(CrushError::at(field))
}

/// `n` little-endian words, after checking they are all there.
fn u32s_at(r: &mut Reader<'_>, field: &'static str, n: usize) -> Result<Vec<u32>> {
    let bytes = r.take(n.saturating_mul(4)).map_err(CrushError::at(field))?;
    Ok(bytes
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect())
}

fn i32s_at(r: &mut Reader<'_>, field: &'static str, n: usize) -> Result<Vec<i32>> {
    Ok(u32s_at(r, field, n)?
        .into_iter()
        .map(|w| w as i32)
        .collect())
}

/// A header count (`__s32` or `__u32`) checked against `0..=limit`.
fn header_count(value: i64, field: &'static str, limit: u32) -> Result<usize> {
    if value < 0 || value > i64::from(limit) {
        return Err(CrushError::CountOutOfRange {
            field,
            value,
            limit,
        });
    }
    Ok(value as usize)
}

impl CrushMap {
    /// Decodes a CRUSH map as Pacific's `CrushWrapper::decode` does
    /// (`src/crush/CrushWrapper.cc`), then applies its post-decode fix-ups:
    /// `update_choose_args` (drops choose_args of missing or non-straw2
    /// buckets, resizes mis-sized weight sets) and `finalize` (recomputes
    /// `max_devices`).
    pub fn parse(bytes: &[u8]) -> Result<CrushMap> {
        let mut r = Reader::new(bytes, "crush map");
        let magic = u32_at(&mut r, "magic")?;
        if magic != CRUSH_MAGIC {
            return Err(CrushError::BadMagic { found: magic });
        }
        let max_buckets = i32_at(&mut r, "max_buckets")?;
        let max_buckets = header_count(max_buckets.into(), "max_buckets", MAX_BUCKETS)?;
        let max_rules = u32_at(&mut r, "max_rules")?;
        let max_rules = header_count(max_rules.into(), "max_rules", MAX_RULES)?;
        let encoded_max_devices = i32_at(&mut r, "max_devices")?;

        // Every slot is at least its 4-byte tag, so the vectors follow the
        // bytes present, not the declared counts.
        let mut buckets = Vec::with_capacity(max_buckets.min(r.remaining() / 4));
        for index in 0..max_buckets {
            buckets.push(decode_bucket(&mut r, index)?);
        }
        let mut rules = Vec::with_capacity(max_rules.min(r.remaining() / 4));
        for _ in 0..max_rules {
            rules.push(decode_rule(&mut r)?);
        }

        let type_names = decode_32_or_64_string_map(&mut r, "type_map")?;
        let item_names = decode_32_or_64_string_map(&mut r, "name_map")?;
        let rule_names = decode_32_or_64_string_map(&mut r, "rule_name_map")?;

        let mut tunables = Tunables::LEGACY;
        if r.remaining() > 0 {
            tunables.choose_local_tries = u32_at(&mut r, "choose_local_tries")?;
            tunables.choose_local_fallback_tries = u32_at(&mut r, "choose_local_fallback_tries")?;
            tunables.choose_total_tries = u32_at(&mut r, "choose_total_tries")?;
        }
        if r.remaining() > 0 {
            tunables.chooseleaf_descend_once = u32_at(&mut r, "chooseleaf_descend_once")?;
        }
        if r.remaining() > 0 {
            tunables.chooseleaf_vary_r = u8_at(&mut r, "chooseleaf_vary_r")?;
        }
        if r.remaining() > 0 {
            tunables.straw_calc_version = u8_at(&mut r, "straw_calc_version")?;
        }
        if r.remaining() > 0 {
            tunables.allowed_bucket_algs = u32_at(&mut r, "allowed_bucket_algs")?;
        }
        if r.remaining() > 0 {
            tunables.chooseleaf_stable = u8_at(&mut r, "chooseleaf_stable")?;
        }

        let mut class_map = BTreeMap::new();
        let mut class_names = BTreeMap::new();
        let mut class_buckets = BTreeMap::new();
        if r.remaining() > 0 {
            class_map = decode_i32_map(&mut r, "class_map")?;
            let n = count_at(&mut r, "class_name", MAX_MAP_ENTRIES, 8)?;
            for _ in 0..n {
                let id = i32_at(&mut r, "class_name id")?;
                let name = r
                    .bytes_le32(MAX_NAME_LEN)
                    .map_err(CrushError::at("class_name name"))?;
                class_names.insert(id, String::from_utf8_lossy(name).into_owned());
            }
            let n = count_at(&mut r, "class_bucket", MAX_MAP_ENTRIES, 8)?;
            for _ in 0..n {
                let bucket = i32_at(&mut r, "class_bucket bucket")?;
                let by_class = decode_i32_map(&mut r, "class_bucket classes")?;
                class_buckets.insert(bucket, by_class);
            }
        }

        let mut choose_args = BTreeMap::new();
        if r.remaining() > 0 {
            let n = count_at(&mut r, "choose_args", MAX_CHOOSE_ARGS, 12)?;
            for _ in 0..n {
                let key = r.i64_le().map_err(CrushError::at("choose_args index"))?;
                let map = decode_choose_arg_map(&mut r, key, &buckets)?;
                choose_args.insert(key, map);
            }
        }

        update_choose_args(&mut choose_args, &buckets);
        let max_devices = finalized_max_devices(&buckets, &item_names);
        Ok(CrushMap {
            buckets,
            rules,
            max_devices,
            encoded_max_devices,
            tunables,
            type_names,
            item_names,
            rule_names,
            class_map,
            class_names,
            class_buckets,
            choose_args,
        })
    }
}

/// `CrushWrapper::decode_crush_bucket`: one bucket slot.
fn decode_bucket(r: &mut Reader<'_>, index: usize) -> Result<Option<Bucket>> {
    let alg = u32_at(r, "bucket alg")?;
    if alg == 0 {
        return Ok(None);
    }
    if !(u32::from(bucket_alg::UNIFORM)..=u32::from(bucket_alg::STRAW2)).contains(&alg) {
        return Err(CrushError::UnknownBucketAlg { index, alg });
    }
    let id = i32_at(r, "bucket id")?;
    let expected = -1 - index as i64;
    if i64::from(id) != expected {
        return Err(CrushError::BucketIdOutOfRange {
            index,
            id,
            expected,
        });
    }
    let bucket_type = r.u16_le().map_err(CrushError::at("bucket type"))?;
    let inner_alg = u8_at(r, "bucket alg")?;
    if u32::from(inner_alg) != alg {
        return Err(CrushError::BucketAlgMismatch {
            index,
            outer: alg,
            inner: inner_alg,
        });
    }
    let hash = u8_at(r, "bucket hash")?;
    let weight = u32_at(r, "bucket weight")?;
    let size = count_at(r, "bucket size", MAX_BUCKET_ITEMS, 4)?;
    let items = i32s_at(r, "bucket items", size)?;
    let kind = match inner_alg {
        bucket_alg::UNIFORM => BucketKind::Uniform {
            item_weight: u32_at(r, "uniform item_weight")?,
        },
        bucket_alg::LIST => {
            let pairs = u32s_at(r, "list item_weights/sum_weights", size.saturating_mul(2))?;
            BucketKind::List {
                item_weights: pairs.iter().step_by(2).copied().collect(),
                sum_weights: pairs.iter().skip(1).step_by(2).copied().collect(),
            }
        }
        bucket_alg::TREE => {
            // `__u8 num_nodes` in struct crush_bucket_tree.
            let num_nodes = u8_at(r, "tree num_nodes")?;
            BucketKind::Tree {
                node_weights: u32s_at(r, "tree node_weights", num_nodes.into())?,
            }
        }
        bucket_alg::STRAW => {
            let pairs = u32s_at(r, "straw item_weights/straws", size.saturating_mul(2))?;
            BucketKind::Straw {
                item_weights: pairs.iter().step_by(2).copied().collect(),
                straws: pairs.iter().skip(1).step_by(2).copied().collect(),
            }
        }
        _ => BucketKind::Straw2 {
            item_weights: u32s_at(r, "straw2 item_weights", size)?,
        },
    };
    Ok(Some(Bucket {
        id,
        bucket_type,
        hash,
        weight,
        items,
        kind,
    }))
}

/// One rule slot: present flag, length, mask, steps.
fn decode_rule(r: &mut Reader<'_>) -> Result<Option<Rule>> {
    if u32_at(r, "rule present")? == 0 {
        return Ok(None);
    }
    let len = count_at(r, "rule len", MAX_RULE_STEPS, 12)?;
    let mask = RuleMask {
        ruleset: u8_at(r, "rule ruleset")?,
        rule_type: u8_at(r, "rule type")?,
        min_size: u8_at(r, "rule min_size")?,
        max_size: u8_at(r, "rule max_size")?,
    };
    let mut steps = Vec::with_capacity(len);
    for _ in 0..len {
        steps.push(RuleStep {
            op: u32_at(r, "rule step op")?,
            arg1: i32_at(r, "rule step arg1")?,
            arg2: i32_at(r, "rule step arg2")?,
        });
    }
    Ok(Some(Rule { mask, steps }))
}

/// `decode_32_or_64_string_map`: Ceph once encoded these keys as 64 bits, so
/// a zero "length" means the key had four more bytes and the length follows.
/// (Names are never empty, which is what makes this work.)
fn decode_32_or_64_string_map(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<BTreeMap<i32, String>> {
    let n = count_at(r, field, MAX_MAP_ENTRIES, 8)?;
    let mut map = BTreeMap::new();
    for _ in 0..n {
        let key = i32_at(r, field)?;
        let mut len = r.len_le32(MAX_NAME_LEN).map_err(CrushError::at(field))?;
        if len == 0 {
            len = r.len_le32(MAX_NAME_LEN).map_err(CrushError::at(field))?;
        }
        let name = r.take(len).map_err(CrushError::at(field))?;
        map.insert(key, String::from_utf8_lossy(name).into_owned());
    }
    Ok(map)
}

/// A `map<int32_t, int32_t>`.
fn decode_i32_map(r: &mut Reader<'_>, field: &'static str) -> Result<BTreeMap<i32, i32>> {
    let n = count_at(r, field, MAX_MAP_ENTRIES, 8)?;
    let mut map = BTreeMap::new();
    for _ in 0..n {
        let k = i32_at(r, field)?;
        let v = i32_at(r, field)?;
        map.insert(k, v);
    }
    Ok(map)
}

/// One choose_args map: a count, then per bucket slot its weight sets and
/// ids.
fn decode_choose_arg_map(
    r: &mut Reader<'_>,
    key: i64,
    buckets: &[Option<Bucket>],
) -> Result<ChooseArgMap> {
    let n = count_at(r, "choose_args size", MAX_BUCKETS as usize, 12)?;
    let mut map = ChooseArgMap::default();
    for _ in 0..n {
        let bucket_index = u32_at(r, "choose_args bucket index")?;
        let bucket = match buckets.get(bucket_index as usize) {
            Some(b) => b.as_ref(),
            None => {
                return Err(CrushError::ChooseArgBucketOutOfRange {
                    choose_args: key,
                    bucket_index,
                    max_buckets: buckets.len(),
                })
            }
        };
        let positions = count_at(
            r,
            "choose_args weight_set_positions",
            MAX_WEIGHT_SET_POSITIONS,
            4,
        )?;
        let mut weight_set = Vec::with_capacity(positions);
        for _ in 0..positions {
            let size = count_at(r, "choose_args weight_set size", MAX_BUCKET_ITEMS, 4)?;
            weight_set.push(u32s_at(r, "choose_args weights", size)?);
        }
        let ids_size = u32_at(r, "choose_args ids_size")?;
        let mut ids = Vec::new();
        if ids_size > 0 {
            let bucket_size = bucket.map(|b| b.items.len());
            if bucket_size != Some(ids_size as usize) {
                return Err(CrushError::ChooseArgIdsSize {
                    choose_args: key,
                    bucket_index,
                    ids: ids_size,
                    bucket_size,
                });
            }
            ids = i32s_at(r, "choose_args ids", ids_size as usize)?;
        }
        // A later entry for the same slot replaces the earlier, as Ceph's
        // decode into the slot's struct does.
        map.args.insert(bucket_index, ChooseArg { ids, weight_set });
    }
    Ok(map)
}

/// `CrushWrapper::update_choose_args(nullptr)`, run at the end of decode:
/// choose_args only apply to straw2 buckets; a weight set whose length is
/// not the bucket's is cut or zero-padded to it, unless the bucket's number
/// of positions differs from the map's (then Ceph leaves it as it is, and
/// our mapper reads missing weights as zero).
fn update_choose_args(choose_args: &mut BTreeMap<i64, ChooseArgMap>, buckets: &[Option<Bucket>]) {
    for map in choose_args.values_mut() {
        // get_choose_args_positions: the first bucket with positions sets it.
        let positions = map
            .args
            .values()
            .map(|a| a.weight_set.len())
            .find(|&p| p != 0)
            .unwrap_or(1);
        map.args.retain(|&slot, arg| {
            let Some(Some(bucket)) = buckets.get(slot as usize) else {
                return false;
            };
            if bucket.alg() != bucket_alg::STRAW2 {
                return false;
            }
            if arg.weight_set.len() == positions {
                for weights in &mut arg.weight_set {
                    weights.resize(bucket.items.len(), 0);
                }
            }
            true
        });
    }
}

/// `crush_finalize` (`src/crush/builder.c`) and `CrushWrapper::finalize`:
/// one past the largest device in any bucket, raised to one past the largest
/// named item. Ceph computes `item + 1` in `int`; it wraps the same way here.
fn finalized_max_devices(buckets: &[Option<Bucket>], names: &BTreeMap<i32, String>) -> i32 {
    let mut max_devices: i32 = 0;
    for bucket in buckets.iter().flatten() {
        for &item in &bucket.items {
            if item >= max_devices {
                max_devices = item.wrapping_add(1);
            }
        }
    }
    if let Some((&last, _)) = names.last_key_value() {
        if last >= max_devices {
            max_devices = last.wrapping_add(1);
        }
    }
    max_devices
}
