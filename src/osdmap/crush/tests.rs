//! Decode of real `crushtool` maps, typed errors for malformed maps, and a
//! mapper that neither hangs nor panics on hostile ones.
//!
//! The maps under `testdata/` were made by Ceph 16.2.15's crushtool
//! (`crushtool --build --num_osds 12 host straw2 3 rack straw2 2 root straw2
//! 0` and `crushtool -c` of the `.txt` files beside them); the values the
//! tests expect come from those inputs and from `crushtool --dump`.
//! `tests/crush_oracle.rs` compares decode and placement with crushtool at
//! test time.

use std::time::{Duration, Instant};

use super::*;
use crate::wire::Put;

pub(crate) const BUILD_STRAW2: &[u8] = include_bytes!("testdata/build-straw2.bin");
pub(crate) const CLASSES_CHOOSE_ARGS: &[u8] = include_bytes!("testdata/classes-choose-args.bin");
pub(crate) const LEGACY_ALGS: &[u8] = include_bytes!("testdata/legacy-algs.bin");

#[test]
fn crushtool_build_map_decodes() {
    let m = CrushMap::parse(BUILD_STRAW2).unwrap();
    assert_eq!(m.max_devices(), 12);
    // 4 hosts, 2 racks, 1 root, all straw2 (crushtool's default algorithm).
    assert_eq!(m.buckets().count(), 7);
    assert!(m.buckets().all(|b| b.alg() == bucket_alg::STRAW2));
    assert_eq!(m.item_name(-1), Some("host0"));
    assert_eq!(m.bucket(-1).unwrap().items, vec![0, 1, 2]);
    assert_eq!(m.bucket(-7).unwrap().bucket_type, 3);
    assert_eq!(m.type_name(3), Some("root"));
    assert_eq!(m.rule_id("replicated_rule"), Some(0));
    let rule = m.rule(0).unwrap();
    assert_eq!(
        rule.steps,
        vec![
            RuleStep {
                op: rule_op::TAKE,
                arg1: -7,
                arg2: 0
            },
            RuleStep {
                op: rule_op::CHOOSELEAF_FIRSTN,
                arg1: 0,
                arg2: 1
            },
            RuleStep {
                op: rule_op::EMIT,
                arg1: 0,
                arg2: 0
            },
        ]
    );
    // Pacific's default (jewel) tunables, as `crushtool -d` prints them.
    assert_eq!(
        *m.tunables(),
        Tunables {
            choose_local_tries: 0,
            choose_local_fallback_tries: 0,
            choose_total_tries: 50,
            chooseleaf_descend_once: 1,
            chooseleaf_vary_r: 1,
            chooseleaf_stable: 1,
            straw_calc_version: 1,
            allowed_bucket_algs: 54,
        }
    );
    assert!(m.choose_args().is_empty());
    // crushtool --test --rule 0 --num-rep 3 prints "CRUSH rule 0 x 0 [0,11,6]".
    assert_eq!(m.do_rule(0, 0, 3, &[0x10000; 12], 0), vec![0, 11, 6]);
    assert_eq!(m.do_rule(0, 1, 3, &[0x10000; 12], 0), vec![9, 0, 7]);
}

#[test]
fn classes_and_choose_args_decode() {
    let m = CrushMap::parse(CLASSES_CHOOSE_ARGS).unwrap();
    assert_eq!(m.device_class(0), Some("ssd"));
    assert_eq!(m.device_class(1), Some("hdd"));
    // The compiler adds a shadow tree per class: default~ssd is -8.
    assert_eq!(m.class_bucket(-1, "ssd"), Some(-8));
    assert_eq!(m.item_name(-8), Some("default~ssd"));
    assert_eq!(m.rule(1).unwrap().steps[0].arg1, -8);
    let args = &m.choose_args()[&0].args[&0];
    assert_eq!(args.ids, vec![-10, -11, -12]);
    assert_eq!(
        args.weight_set,
        vec![
            vec![0x10000, 0x20000, 0x8000],
            vec![0x8000, 0x10000, 0x10000]
        ]
    );
    // choose_args 5 names h0 (-2, slot 1), "0.1" as crushtool scales it.
    let five = &m.choose_args()[&5].args[&1];
    assert_eq!(five.weight_set, vec![vec![6553, 0x30000]]);
    // Pool 5 uses its own; pool 3 has none and there is no default (-1).
    assert!(m.choose_args_for(5).is_some());
    assert!(m.choose_args_for(3).is_none());
    let ec = m.rule_id("ec").unwrap();
    assert_eq!(m.find_rule(2, 3, 4), Some(ec));
    assert_eq!(m.find_rule(2, 3, 7), None);
    assert_eq!(m.find_rule(2, 1, 4), None);
    assert_eq!(m.find_rule(0, 1, 3), Some(0));
    // crushtool --test --rule 2 --num-rep 3: "CRUSH rule 2 x 1 [3,0,4]".
    assert_eq!(m.do_rule(2, 1, 3, &[0x10000; 6], 0), vec![3, 0, 4]);
}

#[test]
fn every_legacy_bucket_algorithm_decodes() {
    let m = CrushMap::parse(LEGACY_ALGS).unwrap();
    assert_eq!(*m.tunables(), Tunables::LEGACY);
    let algs: Vec<u8> = m.buckets().map(Bucket::alg).collect();
    use bucket_alg::*;
    assert_eq!(algs, vec![UNIFORM, LIST, TREE, STRAW, STRAW]);
    // Weights as `crushtool --dump` shows them (16.16 fixed point).
    let weights = |id: i32| -> Vec<u32> {
        let b = m.bucket(id).unwrap();
        (0..b.items.len())
            .map(|i| b.item_weight(i).unwrap())
            .collect()
    };
    assert_eq!(weights(-1), vec![65536, 65536]);
    assert_eq!(weights(-2), vec![65536, 131072]);
    assert_eq!(weights(-3), vec![32768, 98304]);
    assert_eq!(weights(-4), vec![65536, 196608]);
    assert_eq!(m.bucket(-5).unwrap().weight, 720896);
    match &m.bucket(-2).unwrap().kind {
        BucketKind::List { sum_weights, .. } => assert_eq!(sum_weights, &vec![65536, 196608]),
        other => panic!("{other:?}"),
    }
    assert_eq!(m.rule(1).unwrap().mask.rule_type, 3);
}

#[test]
fn bad_magic_and_unknown_algorithm_are_typed_errors() {
    let mut bad = BUILD_STRAW2.to_vec();
    bad[0] = 0xff;
    assert!(matches!(
        CrushMap::parse(&bad),
        Err(CrushError::BadMagic { .. })
    ));
    // The first bucket slot's alg word follows the 16-byte header.
    let mut bad = BUILD_STRAW2.to_vec();
    bad[16..20].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(
        CrushMap::parse(&bad),
        Err(CrushError::UnknownBucketAlg { index: 0, alg: 9 })
    );
    // The bucket's id (after its alg) must be -1 for slot 0.
    let mut bad = BUILD_STRAW2.to_vec();
    bad[20..24].copy_from_slice(&(-3i32).to_le_bytes());
    assert!(matches!(
        CrushMap::parse(&bad),
        Err(CrushError::BucketIdOutOfRange {
            index: 0,
            id: -3,
            ..
        })
    ));
    // A negative or huge max_buckets.
    let mut bad = BUILD_STRAW2.to_vec();
    bad[4..8].copy_from_slice(&(-1i32).to_le_bytes());
    assert!(matches!(
        CrushMap::parse(&bad),
        Err(CrushError::CountOutOfRange {
            field: "max_buckets",
            ..
        })
    ));
    let err = CrushMap::parse(&bad).unwrap_err().to_string();
    assert!(err.contains("max_buckets"), "{err}");
}

#[test]
fn every_truncation_fails_cleanly() {
    for map in [BUILD_STRAW2, CLASSES_CHOOSE_ARGS, LEGACY_ALGS] {
        for cut in 0..map.len() {
            // Prefixes that end between optional trailing sections are valid
            // maps; the rest must be typed errors. None may panic.
            if let Ok(m) = CrushMap::parse(&map[..cut]) {
                for (rule, _) in m.rules() {
                    m.do_rule(rule, 1, 3, &[0x10000; 16], 0);
                }
            }
        }
    }
}

/// (id, type, alg, hash, items, the per-algorithm words).
type TestBucket = (i32, u16, u8, u8, Vec<i32>, Vec<u32>);

/// A little encoder for hand-made (hostile) maps, in `CrushWrapper::encode`
/// order: buckets as (id, type, alg, hash, items, per-alg words), rules as
/// steps with a mask, tunables.
struct MapBuilder {
    buckets: Vec<Option<TestBucket>>,
    rules: Vec<Vec<(u32, i32, i32)>>,
    total_tries: u32,
    fallback_tries: u32,
}

impl MapBuilder {
    fn new() -> MapBuilder {
        MapBuilder {
            buckets: Vec::new(),
            rules: Vec::new(),
            total_tries: 50,
            fallback_tries: 0,
        }
    }

    /// A straw2 bucket at slot `-1 - id` with unit weights.
    fn straw2(self, id: i32, ty: u16, items: &[i32]) -> Self {
        let weights = vec![0x10000; items.len()];
        self.put(id, (id, ty, bucket_alg::STRAW2, 0, items.to_vec(), weights))
    }

    fn put(mut self, id: i32, b: TestBucket) -> Self {
        let slot = (-1 - id) as usize;
        if self.buckets.len() <= slot {
            self.buckets.resize(slot + 1, None);
        }
        self.buckets[slot] = Some(b);
        self
    }

    fn rule(mut self, steps: &[(u32, i32, i32)]) -> Self {
        self.rules.push(steps.to_vec());
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_u32_le(CRUSH_MAGIC);
        v.put_u32_le(self.buckets.len() as u32);
        v.put_u32_le(self.rules.len() as u32);
        v.put_u32_le(0);
        for b in &self.buckets {
            let Some((id, ty, alg, hash, items, words)) = b else {
                v.put_u32_le(0);
                continue;
            };
            v.put_u32_le(u32::from(*alg));
            v.put_u32_le(*id as u32);
            v.put_u16_le(*ty);
            v.put_u8(*alg);
            v.put_u8(*hash);
            v.put_u32_le(0x10000 * items.len() as u32);
            v.put_u32_le(items.len() as u32);
            for i in items {
                v.put_u32_le(*i as u32);
            }
            if *alg == bucket_alg::TREE {
                v.put_u8(words.len() as u8);
            }
            for w in words {
                v.put_u32_le(*w);
            }
        }
        for (i, steps) in self.rules.iter().enumerate() {
            v.put_u32_le(1);
            v.put_u32_le(steps.len() as u32);
            v.put_slice(&[i as u8, 1, 1, 10]);
            for (op, a1, a2) in steps {
                v.put_u32_le(*op);
                v.put_u32_le(*a1 as u32);
                v.put_u32_le(*a2 as u32);
            }
        }
        for _ in 0..3 {
            v.put_u32_le(0); // empty name maps
        }
        v.put_u32_le(0);
        v.put_u32_le(self.fallback_tries);
        v.put_u32_le(self.total_tries);
        v.put_u32_le(1);
        v.put_u8(1);
        v.put_u8(1);
        v.put_u32_le(54);
        v.put_u8(1);
        v
    }
}

use rule_op::{CHOOSELEAF_FIRSTN, CHOOSELEAF_INDEP, CHOOSE_FIRSTN, EMIT, TAKE};

/// Runs every rule of `map` on many inputs; must finish within `limit`.
fn maps_quickly(map: &CrushMap, weights: &[u32], limit: Duration) -> Vec<Vec<i32>> {
    let start = Instant::now();
    let mut all = Vec::new();
    for (rule, _) in map.rules() {
        for x in 0..2 {
            let out = map.do_rule(rule, x, 4, weights, -1);
            assert!(out.len() <= 4);
            all.push(out);
        }
    }
    assert!(start.elapsed() < limit, "took {:?}", start.elapsed());
    all
}

#[test]
fn bucket_cycles_do_not_hang() {
    // -1 (root) holds -2, -2 holds -3 and -3 holds -2 again: a descent that
    // looks for type 5 never arrives.
    let bytes = MapBuilder::new()
        .straw2(-1, 3, &[-2])
        .straw2(-2, 2, &[-3, 0])
        .straw2(-3, 1, &[-2, 1])
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_FIRSTN, 0, 5), (EMIT, 0, 0)])
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_INDEP, 0, 5), (EMIT, 0, 0)])
        .rule(&[(TAKE, -1, 0), (CHOOSE_FIRSTN, i32::MAX, 5), (EMIT, 0, 0)])
        .encode();
    let map = CrushMap::parse(&bytes).unwrap();
    maps_quickly(&map, &[0x10000; 2], Duration::from_secs(60));
}

#[test]
fn missing_buckets_and_devices_are_skipped() {
    // The root names bucket -7 (past max_buckets) and -4 (an empty slot);
    // firstn skips them, indep leaves holes.
    let bytes = MapBuilder::new()
        .straw2(-1, 2, &[-7, -4, -2, -3])
        .straw2(-2, 1, &[0, 1])
        .straw2(-3, 1, &[2, 3])
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_FIRSTN, 0, 1), (EMIT, 0, 0)])
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_INDEP, 0, 1), (EMIT, 0, 0)])
        // TAKE of a missing bucket leaves the working set empty.
        .rule(&[(TAKE, -4, 0), (CHOOSELEAF_FIRSTN, 0, 1), (EMIT, 0, 0)])
        .encode();
    let mut b = bytes;
    // Slot 3 (-4) stays empty: MapBuilder filled it with None.
    let map = CrushMap::parse(&b).unwrap();
    let all = maps_quickly(&map, &[0x10000; 4], Duration::from_secs(10));
    for out in &all {
        for &o in out {
            assert!(o == CRUSH_ITEM_NONE || (0..4).contains(&o), "{out:?}");
        }
    }
    assert!(map.do_rule(2, 0, 3, &[0x10000; 4], 0).is_empty());
    // Weights shorter than max_devices: the missing devices are out.
    let out = map.do_rule(0, 3, 2, &[0x10000; 2], 0);
    assert!(out.iter().all(|&o| o < 2), "{out:?}");
    b.truncate(b.len() - 1);
    CrushMap::parse(&b).unwrap();
}

#[test]
fn absurd_tries_and_all_devices_out_end_promptly() {
    let mut builder = MapBuilder::new()
        .straw2(-1, 2, &[-2, -3])
        .straw2(-2, 1, &[0, 1])
        .straw2(-3, 1, &[2, 3])
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_FIRSTN, 0, 1), (EMIT, 0, 0)])
        .rule(&[
            (rule_op::SET_CHOOSE_TRIES, i32::MAX, 0),
            (rule_op::SET_CHOOSELEAF_TRIES, i32::MAX, 0),
            (TAKE, -1, 0),
            (CHOOSELEAF_INDEP, 0, 1),
            (EMIT, 0, 0),
        ])
        .rule(&[
            (rule_op::SET_CHOOSE_LOCAL_FALLBACK_TRIES, i32::MAX, 0),
            (rule_op::SET_CHOOSE_LOCAL_TRIES, i32::MAX, 0),
            (rule_op::SET_CHOOSELEAF_VARY_R, 200, 0),
            (TAKE, -1, 0),
            (CHOOSE_FIRSTN, i32::MAX, 0),
            (EMIT, 0, 0),
        ]);
    builder.total_tries = u32::MAX - 1;
    builder.fallback_tries = u32::MAX;
    let map = CrushMap::parse(&builder.encode()).unwrap();
    let all = maps_quickly(&map, &[0; 4], Duration::from_secs(60));
    assert!(all.iter().all(|o| o.iter().all(|&d| d == CRUSH_ITEM_NONE)));
}

#[test]
fn malformed_trees_hash_types_and_rule_ids_do_not_panic() {
    // A tree with no nodes (Ceph would spin forever), one with too few,
    // and a bucket with an unknown hash type (every hash is 0).
    let bytes = MapBuilder::new()
        .straw2(-1, 2, &[-2, -3, -4])
        .put(-2, (-2, 1, bucket_alg::TREE, 0, vec![0, 1], vec![]))
        .put(
            -3,
            (-3, 1, bucket_alg::TREE, 0, vec![2, 3, 4], vec![7, 0x10000]),
        )
        .put(
            -4,
            (-4, 1, bucket_alg::STRAW2, 9, vec![5, 6], vec![0x10000, 0]),
        )
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_FIRSTN, 0, 1), (EMIT, 0, 0)])
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_INDEP, 0, 1), (EMIT, 0, 0)])
        .encode();
    let map = CrushMap::parse(&bytes).unwrap();
    maps_quickly(&map, &[0x10000; 8], Duration::from_secs(10));
    assert!(map.do_rule(7, 0, 3, &[], 0).is_empty());
    assert!(map.do_rule(-1, 0, 3, &[], 0).is_empty());
    assert!(map.do_rule(0, 0, 0, &[0x10000; 8], 0).is_empty());
    // result_max is clamped to a pool's largest size.
    assert!(map.do_rule(0, 0, usize::MAX, &[0x10000; 8], 0).len() <= MAX_RESULT);
    assert_eq!(map.find_rule(0, 1, usize::MAX), None);
}

#[test]
fn choose_args_for_missing_buckets_are_errors() {
    let mut bytes = MapBuilder::new()
        .straw2(-1, 1, &[0, 1])
        .rule(&[(TAKE, -1, 0), (CHOOSELEAF_FIRSTN, 0, 0), (EMIT, 0, 0)])
        .encode();
    // Empty class maps, then one choose_args map (key 3) for slot 5.
    for _ in 0..3 {
        bytes.put_u32_le(0);
    }
    bytes.put_u32_le(1);
    bytes.put_u64_le(3);
    bytes.put_u32_le(1);
    let base = bytes.len();
    bytes.put_u32_le(5);
    bytes.put_u32_le(0);
    bytes.put_u32_le(0);
    assert!(matches!(
        CrushMap::parse(&bytes),
        Err(CrushError::ChooseArgBucketOutOfRange {
            bucket_index: 5,
            ..
        })
    ));
    // Slot 0 with three ids for a two-item bucket.
    bytes.truncate(base);
    bytes.put_u32_le(0);
    bytes.put_u32_le(0);
    bytes.put_u32_le(3);
    bytes.put_vec_u32_le(&[]);
    assert!(matches!(
        CrushMap::parse(&bytes),
        Err(CrushError::ChooseArgIdsSize { ids: 3, .. })
    ));
}
