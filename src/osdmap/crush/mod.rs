//! CRUSH: the map of buckets, devices and rules that places every placement
//! group, and the rule evaluation that computes where.
//!
//! [`CrushMap::parse`] decodes the map exactly as Ceph 16.2 (Pacific)
//! `CrushWrapper::encode` writes it (`src/crush/CrushWrapper.cc`, structures
//! of `src/crush/crush.h`) and applies what `CrushWrapper::decode` does after
//! reading (`update_choose_args`, `finalize`). [`CrushMap::do_rule`] is
//! `CrushWrapper::do_rule` over `crush_do_rule` (`src/crush/mapper.c`),
//! bit-exact, with every bucket algorithm and tunable; `tests/crush_oracle.rs`
//! checks it against the real `crushtool`.
//!
//! Ceph trusts its maps; we do not. A map that Ceph's decoder would throw
//! on, assert on or crash on is a [`CrushError`]; a map that decodes but is
//! nonsense (bucket cycles, items naming missing buckets, absurd retry
//! counts) maps without hanging or panicking: missing buckets are skipped as
//! `crush_do_rule` skips out-of-range ones, and each evaluation has a bounded
//! amount of work.

mod decode;
mod error;
mod ln;
mod mapper;

use std::collections::BTreeMap;

pub use decode::{
    MAX_BUCKETS, MAX_BUCKET_ITEMS, MAX_CHOOSE_ARGS, MAX_MAP_ENTRIES, MAX_NAME_LEN, MAX_RULES,
    MAX_RULE_STEPS, MAX_WEIGHT_SET_POSITIONS,
};
pub use error::CrushError;
pub use ln::crush_ln;
pub use mapper::{DEFAULT_FUEL, MAX_RESULT};

/// `CRUSH_MAGIC` (`src/crush/crush.h`): the first word of every encoded map.
pub const CRUSH_MAGIC: u32 = 0x0001_0000;

/// `CRUSH_ITEM_NONE` (`src/crush/crush.h`): the hole an `indep` rule leaves
/// where it found no device, so later positions keep their place.
pub const CRUSH_ITEM_NONE: i32 = 0x7fff_ffff;

/// `CRUSH_ITEM_UNDEF`: a position an `indep` choice has not filled yet.
pub(crate) const CRUSH_ITEM_UNDEF: i32 = 0x7fff_fffe;

/// `CrushWrapper::DEFAULT_CHOOSE_ARGS`: the choose_args used by pools that
/// have none of their own.
pub const DEFAULT_CHOOSE_ARGS: i64 = -1;

/// Bucket algorithms (`CRUSH_BUCKET_*`, `src/crush/crush.h`).
pub mod bucket_alg {
    /// Every item has the same weight; a hashed permutation picks.
    pub const UNIFORM: u8 = 1;
    /// Items in a list, each compared against the weight of those after it.
    pub const LIST: u8 = 2;
    /// A binary tree of weights.
    pub const TREE: u8 = 3;
    /// The original straw draw (straws precomputed by the builder).
    pub const STRAW: u8 = 4;
    /// Exponentially distributed draws scaled by weight; the default.
    pub const STRAW2: u8 = 5;
}

/// Rule step operations (`CRUSH_RULE_*`, `src/crush/crush.h`).
pub mod rule_op {
    /// Does nothing.
    pub const NOOP: u32 = 0;
    /// Start from an item (arg1).
    pub const TAKE: u32 = 1;
    /// Choose arg1 distinct items of type arg2, first-n style.
    pub const CHOOSE_FIRSTN: u32 = 2;
    /// Choose arg1 items of type arg2 at stable positions (erasure codes).
    pub const CHOOSE_INDEP: u32 = 3;
    /// Append the working set to the result.
    pub const EMIT: u32 = 4;
    /// Like CHOOSE_FIRSTN, then one device under each chosen item.
    pub const CHOOSELEAF_FIRSTN: u32 = 6;
    /// Like CHOOSE_INDEP, then one device under each chosen item.
    pub const CHOOSELEAF_INDEP: u32 = 7;
    /// Override choose_total_tries (+1) for later steps.
    pub const SET_CHOOSE_TRIES: u32 = 8;
    /// Set the tries of the recursive chooseleaf descent.
    pub const SET_CHOOSELEAF_TRIES: u32 = 9;
    /// Override choose_local_tries.
    pub const SET_CHOOSE_LOCAL_TRIES: u32 = 10;
    /// Override choose_local_fallback_tries.
    pub const SET_CHOOSE_LOCAL_FALLBACK_TRIES: u32 = 11;
    /// Override chooseleaf_vary_r.
    pub const SET_CHOOSELEAF_VARY_R: u32 = 12;
    /// Override chooseleaf_stable.
    pub const SET_CHOOSELEAF_STABLE: u32 = 13;
}

/// A bucket's algorithm and the per-algorithm data the encoding carries
/// (`struct crush_bucket_*`, `src/crush/crush.h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketKind {
    /// `crush_bucket_uniform`: one weight for all items.
    Uniform {
        /// The weight of each item (16.16 fixed point).
        item_weight: u32,
    },
    /// `crush_bucket_list`.
    List {
        /// Each item's weight.
        item_weights: Vec<u32>,
        /// Running sums of the weights up to each item.
        sum_weights: Vec<u32>,
    },
    /// `crush_bucket_tree`: `num_nodes` is `node_weights.len()` (a `__u8`
    /// on the wire).
    Tree {
        /// Weights of the tree's nodes, leaves at odd indexes.
        node_weights: Vec<u32>,
    },
    /// `crush_bucket_straw`.
    Straw {
        /// Each item's weight.
        item_weights: Vec<u32>,
        /// Each item's straw length, computed by the map's builder.
        straws: Vec<u32>,
    },
    /// `crush_bucket_straw2`.
    Straw2 {
        /// Each item's weight.
        item_weights: Vec<u32>,
    },
}

/// A bucket (`struct crush_bucket`): an interior node of the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket's id, always negative: `-1 - slot`.
    pub id: i32,
    /// Its type (host, rack, ...; names in [`CrushMap::type_name`]).
    pub bucket_type: u16,
    /// The hash function (0 = rjenkins1; Ceph's hashes return 0 for others).
    pub hash: u8,
    /// Total weight (16.16 fixed point).
    pub weight: u32,
    /// Children: devices (>= 0) and buckets (< 0).
    pub items: Vec<i32>,
    /// The algorithm and its data.
    pub kind: BucketKind,
}

impl Bucket {
    /// The `CRUSH_BUCKET_*` number of the bucket's algorithm.
    pub fn alg(&self) -> u8 {
        match self.kind {
            BucketKind::Uniform { .. } => bucket_alg::UNIFORM,
            BucketKind::List { .. } => bucket_alg::LIST,
            BucketKind::Tree { .. } => bucket_alg::TREE,
            BucketKind::Straw { .. } => bucket_alg::STRAW,
            BucketKind::Straw2 { .. } => bucket_alg::STRAW2,
        }
    }

    /// The weight of the item at `pos`, as `crush_get_bucket_item_weight`
    /// (`src/crush/crush.c`) reads it; `None` past the end.
    pub fn item_weight(&self, pos: usize) -> Option<u32> {
        if pos >= self.items.len() {
            return None;
        }
        match &self.kind {
            BucketKind::Uniform { item_weight } => Some(*item_weight),
            BucketKind::List { item_weights, .. }
            | BucketKind::Straw { item_weights, .. }
            | BucketKind::Straw2 { item_weights } => item_weights.get(pos).copied(),
            BucketKind::Tree { node_weights } => {
                // crush_calc_tree_node: leaf i sits at node 2i + 1.
                node_weights
                    .get(pos.checked_mul(2)?.checked_add(1)?)
                    .copied()
            }
        }
    }
}

/// `struct crush_rule_mask` as Pacific keeps it: which pools may use a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleMask {
    /// The ruleset pools name (`pg_pool_t::crush_rule`).
    pub ruleset: u8,
    /// The pool type (1 replicated, 3 erasure).
    pub rule_type: u8,
    /// Smallest pool size the rule serves.
    pub min_size: u8,
    /// Largest pool size the rule serves.
    pub max_size: u8,
}

/// `struct crush_rule_step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleStep {
    /// One of [`rule_op`].
    pub op: u32,
    /// First argument (item for TAKE, count for CHOOSE*, value for SET_*).
    pub arg1: i32,
    /// Second argument (type for CHOOSE*).
    pub arg2: i32,
}

/// `struct crush_rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Which pools may use it.
    pub mask: RuleMask,
    /// The steps, run in order.
    pub steps: Vec<RuleStep>,
}

/// The map's tunables (`struct crush_map` fields, `src/crush/crush.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunables {
    /// Local retries after a collision before re-descending.
    pub choose_local_tries: u32,
    /// Local retries through a fallback permutation.
    pub choose_local_fallback_tries: u32,
    /// Descents before giving up (the mapper uses this + 1).
    pub choose_total_tries: u32,
    /// Recursive chooseleaf firstn descends once.
    pub chooseleaf_descend_once: u32,
    /// Feed r (shifted by vary_r - 1) into chooseleaf.
    pub chooseleaf_vary_r: u8,
    /// Chooseleaf firstn starts each recursion at rep 0.
    pub chooseleaf_stable: u8,
    /// Which straw builder computed the straws (informational here).
    pub straw_calc_version: u8,
    /// Bitmask of `1 << CRUSH_BUCKET_*` the cluster may create.
    pub allowed_bucket_algs: u32,
}

impl Tunables {
    /// `CrushWrapper::set_tunables_legacy`: what a map without tunables has.
    pub const LEGACY: Tunables = Tunables {
        choose_local_tries: 2,
        choose_local_fallback_tries: 5,
        choose_total_tries: 19,
        chooseleaf_descend_once: 0,
        chooseleaf_vary_r: 0,
        chooseleaf_stable: 0,
        straw_calc_version: 0,
        // CRUSH_LEGACY_ALLOWED_BUCKET_ALGS: uniform, list, straw.
        allowed_bucket_algs: (1 << bucket_alg::UNIFORM)
            | (1 << bucket_alg::LIST)
            | (1 << bucket_alg::STRAW),
    };
}

/// `struct crush_choose_arg`: per-bucket overrides for straw2 draws.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChooseArg {
    /// Ids hashed in place of the items (empty: the items themselves).
    pub ids: Vec<i32>,
    /// One weight vector per result position (empty: the item weights).
    /// Positions past the last use the last.
    pub weight_set: Vec<Vec<u32>>,
}

/// `struct crush_choose_arg_map`: choose_args for some buckets, by slot
/// (`-1 - bucket id`); buckets without an entry use their own weights.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChooseArgMap {
    /// Overrides by bucket slot.
    pub args: BTreeMap<u32, ChooseArg>,
}

/// A decoded CRUSH map (`CrushWrapper`, `src/crush/CrushWrapper.h`, around
/// `struct crush_map`, `src/crush/crush.h`).
///
/// Decode with [`CrushMap::parse`]; place with [`CrushMap::find_rule`] and
/// [`CrushMap::do_rule`] (in `mapper.rs`, after `src/crush/mapper.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrushMap {
    /// Buckets by slot: bucket id `-1 - slot`.
    buckets: Vec<Option<Bucket>>,
    /// Rules by rule id.
    rules: Vec<Option<Rule>>,
    /// `max_devices` after `CrushWrapper::finalize`, which the mapper uses.
    max_devices: i32,
    /// `max_devices` as encoded.
    encoded_max_devices: i32,
    tunables: Tunables,
    type_names: BTreeMap<i32, String>,
    item_names: BTreeMap<i32, String>,
    rule_names: BTreeMap<i32, String>,
    class_map: BTreeMap<i32, i32>,
    class_names: BTreeMap<i32, String>,
    class_buckets: BTreeMap<i32, BTreeMap<i32, i32>>,
    choose_args: BTreeMap<i64, ChooseArgMap>,
}

impl CrushMap {
    /// Devices the mapper accepts: ids `0..max_devices()`. As
    /// `CrushWrapper::finalize` computes it: one past the largest device in
    /// any bucket or named in the map (the encoded value is not used).
    pub fn max_devices(&self) -> i32 {
        self.max_devices
    }

    /// `max_devices` as it was encoded.
    pub fn encoded_max_devices(&self) -> i32 {
        self.encoded_max_devices
    }

    /// Bucket slots: bucket ids run from -1 down to `-max_buckets()`.
    pub fn max_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Rule slots: rule ids run from 0 to `max_rules() - 1`.
    pub fn max_rules(&self) -> usize {
        self.rules.len()
    }

    /// The bucket with this (negative) id.
    pub fn bucket(&self, id: i32) -> Option<&Bucket> {
        let slot = usize::try_from(-1i64 - i64::from(id)).ok()?;
        self.buckets.get(slot)?.as_ref()
    }

    /// Every bucket, in slot order (ids -1, -2, ...).
    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter().flatten()
    }

    /// The rule with this id.
    pub fn rule(&self, id: i32) -> Option<&Rule> {
        self.rules.get(usize::try_from(id).ok()?)?.as_ref()
    }

    /// Every rule with its id.
    pub fn rules(&self) -> impl Iterator<Item = (i32, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((i32::try_from(i).ok()?, r.as_ref()?)))
    }

    /// The id of the rule with this name.
    pub fn rule_id(&self, name: &str) -> Option<i32> {
        self.rule_names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }

    /// A rule's name.
    pub fn rule_name(&self, id: i32) -> Option<&str> {
        self.rule_names.get(&id).map(String::as_str)
    }

    /// The name of a device or bucket.
    pub fn item_name(&self, id: i32) -> Option<&str> {
        self.item_names.get(&id).map(String::as_str)
    }

    /// The id of the device or bucket with this name.
    pub fn item_id(&self, name: &str) -> Option<i32> {
        self.item_names
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }

    /// The name of a bucket type (0 is the device type, usually "osd").
    pub fn type_name(&self, bucket_type: i32) -> Option<&str> {
        self.type_names.get(&bucket_type).map(String::as_str)
    }

    /// The map's tunables.
    pub fn tunables(&self) -> &Tunables {
        &self.tunables
    }

    /// The device class of a device ("hdd", "ssd", ...).
    pub fn device_class(&self, device: i32) -> Option<&str> {
        let class = self.class_map.get(&device)?;
        self.class_names.get(class).map(String::as_str)
    }

    /// `class_map`: device (or bucket) id → class id.
    pub fn class_map(&self) -> &BTreeMap<i32, i32> {
        &self.class_map
    }

    /// `class_name`: class id → name.
    pub fn class_names(&self) -> &BTreeMap<i32, String> {
        &self.class_names
    }

    /// `class_bucket`: bucket id → (class id → that class's shadow bucket).
    pub fn class_buckets(&self) -> &BTreeMap<i32, BTreeMap<i32, i32>> {
        &self.class_buckets
    }

    /// The shadow bucket holding only `class`'s devices under `bucket`
    /// (what a `step take default class ssd` rule takes).
    pub fn class_bucket(&self, bucket: i32, class: &str) -> Option<i32> {
        let class_id = self
            .class_names
            .iter()
            .find(|(_, n)| n.as_str() == class)
            .map(|(id, _)| *id)?;
        self.class_buckets.get(&bucket)?.get(&class_id).copied()
    }

    /// Every choose_args map, by key (pool id, or [`DEFAULT_CHOOSE_ARGS`]).
    pub fn choose_args(&self) -> &BTreeMap<i64, ChooseArgMap> {
        &self.choose_args
    }

    /// `CrushWrapper::choose_args_get_with_fallback`: the pool's own
    /// choose_args, else the default ones, else none.
    pub fn choose_args_for(&self, index: i64) -> Option<&ChooseArgMap> {
        self.choose_args
            .get(&index)
            .or_else(|| self.choose_args.get(&DEFAULT_CHOOSE_ARGS))
    }
}

#[cfg(test)]
mod tests;
