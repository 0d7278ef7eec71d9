//! `crush_do_rule` (`src/crush/mapper.c`, Ceph 16.2) behind
//! `CrushWrapper::do_rule` and `CrushWrapper::find_rule`
//! (`src/crush/CrushWrapper.h`).
//!
//! The structure follows mapper.c closely, so each line can be checked
//! against it: the per-algorithm bucket choices, `is_out`,
//! `crush_choose_firstn`, `crush_choose_indep` and the step loop. Integer
//! arithmetic that can overflow in C (on `int` r values and unsigned try
//! counts) wraps here as it does there on two's-complement machines.
//!
//! Where the C code trusts the map we check: an item naming a missing
//! bucket is treated like one past `max_buckets` (skipped), tree buckets
//! with inconsistent node arrays fall back to their first item, and every
//! evaluation runs on a fuel budget so that bucket cycles or absurd retry
//! counts end with a (partial) result instead of a hang. Maps Ceph can
//! evaluate use a tiny fraction of the budget.

use super::ln::crush_ln;
use super::{
    bucket_alg, rule_op, Bucket, BucketKind, ChooseArg, ChooseArgMap, CrushMap, CRUSH_ITEM_NONE,
    CRUSH_ITEM_UNDEF,
};
use crate::osdmap::hash::{crush_hash32_2, crush_hash32_3, crush_hash32_4, CRUSH_HASH_RJENKINS1};

/// Results per evaluation at most: pool sizes are a `__u8` in Ceph.
pub const MAX_RESULT: usize = 256;

/// Work (item draws and descent steps) one [`CrushMap::do_rule`] may do.
/// A draw from a bucket costs its size plus one. Placing 3 replicas in a
/// flat 10,000-device bucket costs about 30,000, or 100 times that with
/// heavy retries; a map that needs more than this is hostile.
pub const DEFAULT_FUEL: u64 = 1 << 20;

/// Hashes as `crush_hash32_*(type, ...)`: rjenkins1, or 0 for a bucket with
/// an unknown hash type (as hash.c returns).
fn hash3(hash_type: u8, a: u32, b: u32, c: u32) -> u32 {
    if hash_type == CRUSH_HASH_RJENKINS1 {
        crush_hash32_3(a, b, c)
    } else {
        0
    }
}

fn hash4(hash_type: u8, a: u32, b: u32, c: u32, d: u32) -> u32 {
    if hash_type == CRUSH_HASH_RJENKINS1 {
        crush_hash32_4(a, b, c, d)
    } else {
        0
    }
}

/// `struct crush_work_bucket`: the permutation state of one bucket.
struct PermState {
    slot: usize,
    perm_x: u32,
    perm_n: u32,
    perm: Vec<u32>,
}

/// `struct crush_work` plus the fuel budget: scratch for one evaluation.
struct Work {
    fuel: u64,
    perms: Vec<PermState>,
}

impl Work {
    /// Takes the fuel for a draw from a bucket of `size` items; false once
    /// the budget is spent.
    fn burn(&mut self, size: usize) -> bool {
        let n = size as u64 + 1;
        if self.fuel < n {
            self.fuel = 0;
            return false;
        }
        self.fuel -= n;
        true
    }

    fn exhausted(&self) -> bool {
        self.fuel == 0
    }

    /// The bucket's permutation state, created as `crush_init_workspace`
    /// leaves it (perm_x 0, perm_n 0) on first use.
    fn perm_state(&mut self, slot: usize, size: usize) -> &mut PermState {
        let at = match self.perms.iter().position(|p| p.slot == slot) {
            Some(i) => i,
            None => {
                self.perms.push(PermState {
                    slot,
                    perm_x: 0,
                    perm_n: 0,
                    perm: vec![0; size],
                });
                self.perms.len() - 1
            }
        };
        &mut self.perms[at]
    }
}

/// Parameters fixed for one evaluation.
struct Ctx<'a> {
    map: &'a CrushMap,
    weights: &'a [u32],
    choose_args: Option<&'a ChooseArgMap>,
    x: i32,
}

impl Ctx<'_> {
    /// The bucket an item < 0 names, with its slot.
    fn bucket(&self, item: i32) -> Option<(usize, &Bucket)> {
        let slot = usize::try_from(-1i64 - i64::from(item)).ok()?;
        Some((slot, self.map.buckets.get(slot)?.as_ref()?))
    }

    /// The type of an item: 0 for devices, the bucket's type for buckets;
    /// `None` for a bucket id with no bucket (which mapper.c reads out of
    /// bounds and we treat as a bad item).
    fn item_type(&self, item: i32) -> Option<i32> {
        if item >= 0 {
            Some(0)
        } else {
            self.bucket(item).map(|(_, b)| i32::from(b.bucket_type))
        }
    }

    /// `is_out`: a device is out if its reweight (16.16) says so for this x.
    fn is_out(&self, item: i32) -> bool {
        let Ok(idx) = usize::try_from(item) else {
            // A "device" with a negative id is a bucket of type 0; it has
            // no weight to test (mapper.c would read before the array).
            return true;
        };
        let Some(&w) = self.weights.get(idx) else {
            return true;
        };
        if w >= 0x10000 {
            return false;
        }
        if w == 0 {
            return true;
        }
        (crush_hash32_2(self.x as u32, item as u32) & 0xffff) >= w
    }

    /// `bucket_perm_choose`: the r-th element of a hashed permutation.
    fn perm_choose(&self, work: &mut Work, slot: usize, b: &Bucket, r: i32) -> i32 {
        let size = b.items.len() as u32;
        if size == 0 {
            return 0;
        }
        let x = self.x as u32;
        let id = b.id as u32;
        let pr = (r as u32) % size;
        let st = work.perm_state(slot, b.items.len());
        if st.perm_x != x || st.perm_n == 0 {
            st.perm_x = x;
            if pr == 0 {
                // The common r = 0 case, without building the permutation.
                let s = hash3(b.hash, x, id, 0) % size;
                st.perm[0] = s;
                st.perm_n = 0xffff;
                return b.items.get(s as usize).copied().unwrap_or(0);
            }
            for (i, p) in st.perm.iter_mut().enumerate() {
                *p = i as u32;
            }
            st.perm_n = 0;
        } else if st.perm_n == 0xffff {
            // Clean up after the r = 0 shortcut.
            for (i, p) in st.perm.iter_mut().enumerate().skip(1) {
                *p = i as u32;
            }
            let first = st.perm[0] as usize;
            if let Some(p) = st.perm.get_mut(first) {
                *p = 0;
            }
            st.perm_n = 1;
        }
        while st.perm_n <= pr {
            let p = st.perm_n;
            if p < size - 1 {
                let i = hash3(b.hash, x, id, p) % (size - p);
                if i != 0 {
                    st.perm.swap((p + i) as usize, p as usize);
                }
            }
            st.perm_n += 1;
        }
        let s = st.perm[pr as usize];
        b.items.get(s as usize).copied().unwrap_or(0)
    }

    /// `crush_bucket_choose`: one draw from a non-empty bucket.
    fn bucket_choose(
        &self,
        work: &mut Work,
        slot: usize,
        b: &Bucket,
        r: i32,
        position: usize,
    ) -> i32 {
        let x = self.x as u32;
        let ru = r as u32;
        let first = b.items.first().copied().unwrap_or(0);
        match &b.kind {
            BucketKind::Uniform { .. } => self.perm_choose(work, slot, b, r),
            BucketKind::List {
                item_weights,
                sum_weights,
            } => {
                for (i, &item) in b.items.iter().enumerate().rev() {
                    let draw = u64::from(hash4(b.hash, x, item as u32, ru, b.id as u32) & 0xffff);
                    let sum = u64::from(sum_weights.get(i).copied().unwrap_or(0));
                    let w = u64::from(item_weights.get(i).copied().unwrap_or(0));
                    if (draw * sum) >> 16 < w {
                        return item;
                    }
                }
                first
            }
            BucketKind::Tree { node_weights } => tree_choose(b, node_weights, x, ru),
            BucketKind::Straw {
                item_weights: _,
                straws,
            } => {
                let mut high = 0;
                let mut high_draw = 0u64;
                for (i, &item) in b.items.iter().enumerate() {
                    let draw = u64::from(hash3(b.hash, x, item as u32, ru) & 0xffff)
                        * u64::from(straws.get(i).copied().unwrap_or(0));
                    if i == 0 || draw > high_draw {
                        high = i;
                        high_draw = draw;
                    }
                }
                b.items.get(high).copied().unwrap_or(first)
            }
            BucketKind::Straw2 { item_weights } => {
                let arg = self.choose_args.and_then(|m| m.args.get(&(slot as u32)));
                straw2_choose(b, item_weights, arg, x, ru, position)
            }
        }
    }

    /// `crush_choose_firstn`: up to `numrep` distinct items of type `ty`
    /// under `bucket`, written to `out[outpos..]`; returns the new outpos.
    #[allow(clippy::too_many_arguments)]
    fn choose_firstn(
        &self,
        work: &mut Work,
        bucket: usize,
        numrep: i32,
        ty: i32,
        out: &mut [i32],
        mut outpos: usize,
        out_size: usize,
        tries: u32,
        recurse_tries: u32,
        local_retries: u32,
        local_fallback_retries: u32,
        recurse_to_leaf: bool,
        vary_r: u32,
        stable: u32,
        mut out2: Option<&mut [i32]>,
        parent_r: i32,
    ) -> usize {
        let map = self.map;
        let mut count = out_size;
        let mut rep: i32 = if stable != 0 { 0 } else { outpos as i32 };
        while rep < numrep && count > 0 {
            if work.exhausted() {
                break;
            }
            // Keep trying until we get a non-out, non-colliding item.
            let mut ftotal: u32 = 0;
            let mut skip_rep = false;
            let mut item: i32 = 0;
            loop {
                let mut retry_descent = false;
                let mut in_slot = bucket;
                let mut flocal: u32 = 0;
                loop {
                    let mut retry_bucket = false;
                    let mut collide = false;
                    let mut reject = false;
                    let r = rep.wrapping_add(parent_r).wrapping_add(ftotal as i32);
                    let Some(inb) = map.buckets.get(in_slot).and_then(Option::as_ref) else {
                        skip_rep = true;
                        break;
                    };
                    if !work.burn(inb.items.len()) {
                        skip_rep = true;
                        break;
                    }
                    let in_size = inb.items.len() as u32;
                    if in_size == 0 {
                        reject = true;
                    } else {
                        item = if local_fallback_retries > 0
                            && flocal >= (in_size >> 1)
                            && flocal > local_fallback_retries
                        {
                            self.perm_choose(work, in_slot, inb, r)
                        } else {
                            self.bucket_choose(work, in_slot, inb, r, outpos)
                        };
                        if item >= map.max_devices {
                            skip_rep = true;
                            break;
                        }
                        let Some(itemtype) = self.item_type(item) else {
                            skip_rep = true;
                            break;
                        };
                        if itemtype != ty {
                            // Keep descending (only into buckets).
                            match self.bucket(item) {
                                Some((slot, _)) if item < 0 => {
                                    in_slot = slot;
                                    continue;
                                }
                                _ => {
                                    skip_rep = true;
                                    break;
                                }
                            }
                        }
                        collide = out.get(..outpos).is_some_and(|s| s.contains(&item));
                        if !collide && recurse_to_leaf {
                            if item < 0 {
                                let sub_r = if vary_r != 0 {
                                    r.wrapping_shr(vary_r - 1)
                                } else {
                                    0
                                };
                                let leaf_bucket = self.bucket(item).map(|(s, _)| s);
                                let got = match (leaf_bucket, out2.as_deref_mut()) {
                                    (Some(leaf_slot), Some(o2)) => self.choose_firstn(
                                        work,
                                        leaf_slot,
                                        if stable != 0 { 1 } else { outpos as i32 + 1 },
                                        0,
                                        o2,
                                        outpos,
                                        count,
                                        recurse_tries,
                                        0,
                                        local_retries,
                                        local_fallback_retries,
                                        false,
                                        vary_r,
                                        stable,
                                        None,
                                        sub_r,
                                    ),
                                    _ => outpos,
                                };
                                if got <= outpos {
                                    // Didn't get a leaf.
                                    reject = true;
                                }
                            } else if let Some(slot) =
                                out2.as_deref_mut().and_then(|o| o.get_mut(outpos))
                            {
                                // We already have a leaf.
                                *slot = item;
                            }
                        }
                        if !reject && !collide && itemtype == 0 {
                            reject = self.is_out(item);
                        }
                    }
                    if reject || collide {
                        ftotal = ftotal.wrapping_add(1);
                        flocal = flocal.wrapping_add(1);
                        if collide && flocal <= local_retries {
                            // Retry locally a few times.
                            retry_bucket = true;
                        } else if local_fallback_retries > 0
                            && flocal <= in_size.wrapping_add(local_fallback_retries)
                        {
                            // Exhaustive bucket search.
                            retry_bucket = true;
                        } else if ftotal < tries {
                            // Then retry the descent.
                            retry_descent = true;
                        } else {
                            // Else give up.
                            skip_rep = true;
                        }
                    }
                    if !retry_bucket {
                        break;
                    }
                }
                if !retry_descent || skip_rep {
                    break;
                }
            }
            if !skip_rep {
                if let Some(slot) = out.get_mut(outpos) {
                    *slot = item;
                    outpos += 1;
                    count -= 1;
                }
            }
            rep += 1;
        }
        outpos
    }

    /// `crush_choose_indep`: `left` items of type `ty` at fixed positions
    /// `outpos..outpos + left` (holes are [`CRUSH_ITEM_NONE`]).
    #[allow(clippy::too_many_arguments)]
    fn choose_indep(
        &self,
        work: &mut Work,
        bucket: usize,
        left: usize,
        numrep: i32,
        ty: i32,
        out: &mut [i32],
        outpos: usize,
        tries: u32,
        recurse_tries: u32,
        recurse_to_leaf: bool,
        mut out2: Option<&mut [i32]>,
        parent_r: i32,
    ) {
        let map = self.map;
        let endpos = (outpos + left).min(out.len());
        let mut left = endpos.saturating_sub(outpos);
        // Initially the result is undefined.
        out[outpos..endpos].fill(CRUSH_ITEM_UNDEF);
        if let Some(o2) = out2.as_deref_mut() {
            o2.iter_mut()
                .take(endpos)
                .skip(outpos)
                .for_each(|v| *v = CRUSH_ITEM_UNDEF);
        }
        let mut ftotal: u32 = 0;
        while left > 0 && ftotal < tries && !work.exhausted() {
            // Positions are r values too, so this indexes rather than iterates.
            #[allow(clippy::needless_range_loop)]
            for rep in outpos..endpos {
                if out[rep] != CRUSH_ITEM_UNDEF {
                    continue;
                }
                let mut in_slot = bucket;
                // Choose through intervening buckets.
                while let Some(inb) = map.buckets.get(in_slot).and_then(Option::as_ref) {
                    if !work.burn(inb.items.len()) {
                        break;
                    }
                    // The position, not the try, seeds the nested choice,
                    // so a bucket chosen for another position draws anew.
                    let mut r = (rep as i32).wrapping_add(parent_r);
                    let in_size = inb.items.len() as u32;
                    if inb.alg() == bucket_alg::UNIFORM && in_size.is_multiple_of(numrep as u32) {
                        r = r.wrapping_add(
                            (numrep as u32).wrapping_add(1).wrapping_mul(ftotal) as i32
                        );
                    } else {
                        r = r.wrapping_add((numrep as u32).wrapping_mul(ftotal) as i32);
                    }
                    if in_size == 0 {
                        break;
                    }
                    let item = self.bucket_choose(work, in_slot, inb, r, outpos);
                    let itemtype = if item >= map.max_devices {
                        None
                    } else {
                        self.item_type(item)
                    };
                    let Some(itemtype) = itemtype else {
                        out[rep] = CRUSH_ITEM_NONE;
                        if let Some(o2) = out2.as_deref_mut().and_then(|o| o.get_mut(rep)) {
                            *o2 = CRUSH_ITEM_NONE;
                        }
                        left -= 1;
                        break;
                    };
                    if itemtype != ty {
                        match self.bucket(item) {
                            Some((slot, _)) if item < 0 => {
                                in_slot = slot;
                                continue;
                            }
                            _ => {
                                out[rep] = CRUSH_ITEM_NONE;
                                if let Some(o2) = out2.as_deref_mut().and_then(|o| o.get_mut(rep)) {
                                    *o2 = CRUSH_ITEM_NONE;
                                }
                                left -= 1;
                                break;
                            }
                        }
                    }
                    if out[outpos..endpos].contains(&item) {
                        break;
                    }
                    if recurse_to_leaf {
                        if item < 0 {
                            if let (Some((leaf_slot, _)), Some(o2)) =
                                (self.bucket(item), out2.as_deref_mut())
                            {
                                self.choose_indep(
                                    work,
                                    leaf_slot,
                                    1,
                                    numrep,
                                    0,
                                    o2,
                                    rep,
                                    recurse_tries,
                                    0,
                                    false,
                                    None,
                                    r,
                                );
                            }
                            let placed = out2
                                .as_deref()
                                .and_then(|o| o.get(rep))
                                .is_some_and(|&v| v != CRUSH_ITEM_NONE);
                            if !placed {
                                // Placed nothing; no leaf.
                                break;
                            }
                        } else if let Some(o2) = out2.as_deref_mut().and_then(|o| o.get_mut(rep)) {
                            // We already have a leaf.
                            *o2 = item;
                        }
                    }
                    if itemtype == 0 && self.is_out(item) {
                        break;
                    }
                    out[rep] = item;
                    left -= 1;
                    break;
                }
            }
            ftotal = ftotal.wrapping_add(1);
        }
        let undef_to_none = |v: &mut i32| {
            if *v == CRUSH_ITEM_UNDEF {
                *v = CRUSH_ITEM_NONE;
            }
        };
        out[outpos..endpos].iter_mut().for_each(undef_to_none);
        if let Some(o2) = out2 {
            o2.iter_mut()
                .take(endpos)
                .skip(outpos)
                .for_each(undef_to_none);
        }
    }
}

/// `bucket_tree_choose`: descend the weight tree from the root. A tree
/// whose node array does not fit its items (Ceph would read out of bounds
/// or, with zero nodes, loop forever) yields its first item.
fn tree_choose(b: &Bucket, node_weights: &[u32], x: u32, r: u32) -> i32 {
    let first = b.items.first().copied().unwrap_or(0);
    let mut n = node_weights.len() >> 1;
    // Each step halves the subtree; 8 bits of num_nodes bound the depth.
    for _ in 0..32 {
        if n == 0 {
            return first;
        }
        if n & 1 == 1 {
            return b.items.get(n >> 1).copied().unwrap_or(first);
        }
        let Some(&w) = node_weights.get(n) else {
            return first;
        };
        let t = (u64::from(hash4(b.hash, x, n as u32, r, b.id as u32)) * u64::from(w)) >> 32;
        let h = n.trailing_zeros();
        let l = n - (1 << (h - 1));
        let Some(&lw) = node_weights.get(l) else {
            return first;
        };
        n = if t < u64::from(lw) {
            l
        } else {
            n + (1 << (h - 1))
        };
    }
    first
}

/// `bucket_straw2_choose`: the item with the largest weighted exponential
/// draw, with the choose_args' weights (for this position) and ids if any.
fn straw2_choose(
    b: &Bucket,
    item_weights: &[u32],
    arg: Option<&ChooseArg>,
    x: u32,
    r: u32,
    position: usize,
) -> i32 {
    let weights: &[u32] = match arg {
        Some(a) if !a.weight_set.is_empty() => {
            let pos = position.min(a.weight_set.len() - 1);
            &a.weight_set[pos]
        }
        _ => item_weights,
    };
    let ids: &[i32] = match arg {
        Some(a) if !a.ids.is_empty() => &a.ids,
        _ => &b.items,
    };
    let mut high = 0;
    let mut high_draw = 0i64;
    // Weights missing from a mis-sized weight set count as zero.
    let weights = weights.iter().copied().chain(std::iter::repeat(0));
    for (i, (w, &id)) in weights.zip(ids).take(b.items.len()).enumerate() {
        let draw = if w != 0 {
            let u = hash3(b.hash, x, id as u32, r) & 0xffff;
            // ln(u / 2^16) in 2^44 fixed point: negative, so a larger
            // weight gives a larger (less negative) draw. generate_
            // exponential_distribution takes the weight as an `int`.
            let ln = crush_ln(u) as i64 - 0x1_0000_0000_0000;
            ln.wrapping_div(i64::from(w as i32))
        } else {
            i64::MIN
        };
        if i == 0 || draw > high_draw {
            high = i;
            high_draw = draw;
        }
    }
    b.items.get(high).copied().unwrap_or(0)
}

impl CrushMap {
    /// `CrushWrapper::find_rule` as Pacific does it (`crush_find_rule`,
    /// `src/crush/mapper.c`): the first rule whose mask matches the pool's
    /// `crush_rule` (ruleset), type and size. `None` if there is none.
    pub fn find_rule(&self, ruleset: i32, pool_type: u8, size: usize) -> Option<i32> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        self.rules().find_map(|(id, rule)| {
            let m = &rule.mask;
            (i32::from(m.ruleset) == ruleset
                && m.rule_type == pool_type
                && i64::from(m.min_size) <= size
                && i64::from(m.max_size) >= size)
                .then_some(id)
        })
    }

    /// `CrushWrapper::do_rule`: `rule` is the rule id, `x` the placement
    /// seed (pps), `result_max` the pool size (at most [`MAX_RESULT`]),
    /// `weights` the OSDMap's osd_weight (16.16, index = osd id),
    /// `choose_args_index` the pool id (falls back to the default
    /// choose_args like Ceph). Returns the devices chosen, with
    /// [`CRUSH_ITEM_NONE`] holes from `indep` steps; empty for a missing rule.
    pub fn do_rule(
        &self,
        rule: i32,
        x: u32,
        result_max: usize,
        weights: &[u32],
        choose_args_index: i64,
    ) -> Vec<i32> {
        self.do_rule_with_fuel(
            rule,
            x,
            result_max,
            weights,
            choose_args_index,
            DEFAULT_FUEL,
        )
    }

    /// [`CrushMap::do_rule`] with an explicit work budget (the fuzz target
    /// uses a small one).
    pub fn do_rule_with_fuel(
        &self,
        rule: i32,
        x: u32,
        result_max: usize,
        weights: &[u32],
        choose_args_index: i64,
        fuel: u64,
    ) -> Vec<i32> {
        let result_max = result_max.min(MAX_RESULT);
        let Some(rule) = self.rule(rule) else {
            return Vec::new();
        };
        if result_max == 0 {
            return Vec::new();
        }
        let ctx = Ctx {
            map: self,
            weights,
            choose_args: self.choose_args_for(choose_args_index),
            x: x as i32,
        };
        let mut work = Work {
            fuel,
            perms: Vec::new(),
        };
        let t = &self.tunables;
        let mut result = Vec::with_capacity(result_max);
        // The scratch vectors of crush_do_rule, on the stack: w is the
        // working set, o the output of a choose step, c its leaves.
        let mut a = [0i32; MAX_RESULT];
        let mut b = [0i32; MAX_RESULT];
        let mut c = [0i32; MAX_RESULT];
        let mut w: &mut [i32] = &mut a[..result_max];
        let mut o: &mut [i32] = &mut b[..result_max];
        let c: &mut [i32] = &mut c[..result_max];
        let mut wsize = 0usize;
        // The original choose_total_tries counted retries, not tries.
        let mut choose_tries = t.choose_total_tries.wrapping_add(1);
        let mut choose_leaf_tries: u32 = 0;
        // The local tries were counted as retries and need no adjustment.
        let mut choose_local_retries = t.choose_local_tries;
        let mut choose_local_fallback_retries = t.choose_local_fallback_tries;
        let mut vary_r = u32::from(t.chooseleaf_vary_r);
        let mut stable = u32::from(t.chooseleaf_stable);

        for step in &rule.steps {
            let firstn = matches!(step.op, rule_op::CHOOSE_FIRSTN | rule_op::CHOOSELEAF_FIRSTN);
            match step.op {
                rule_op::TAKE => {
                    let a = step.arg1;
                    if (a >= 0 && a < self.max_devices) || self.bucket(a).is_some() {
                        w[0] = a;
                        wsize = 1;
                    }
                }
                rule_op::SET_CHOOSE_TRIES if step.arg1 > 0 => {
                    choose_tries = step.arg1 as u32;
                }
                rule_op::SET_CHOOSELEAF_TRIES if step.arg1 > 0 => {
                    choose_leaf_tries = step.arg1 as u32;
                }
                rule_op::SET_CHOOSE_LOCAL_TRIES if step.arg1 >= 0 => {
                    choose_local_retries = step.arg1 as u32;
                }
                rule_op::SET_CHOOSE_LOCAL_FALLBACK_TRIES if step.arg1 >= 0 => {
                    choose_local_fallback_retries = step.arg1 as u32;
                }
                rule_op::SET_CHOOSELEAF_VARY_R if step.arg1 >= 0 => {
                    vary_r = step.arg1 as u32;
                }
                rule_op::SET_CHOOSELEAF_STABLE if step.arg1 >= 0 => {
                    stable = step.arg1 as u32;
                }
                rule_op::CHOOSE_FIRSTN
                | rule_op::CHOOSE_INDEP
                | rule_op::CHOOSELEAF_FIRSTN
                | rule_op::CHOOSELEAF_INDEP => {
                    if wsize == 0 {
                        continue;
                    }
                    let recurse_to_leaf = matches!(
                        step.op,
                        rule_op::CHOOSELEAF_FIRSTN | rule_op::CHOOSELEAF_INDEP
                    );
                    let mut osize = 0usize;
                    for &wi in &w[..wsize] {
                        let mut numrep = step.arg1;
                        if numrep <= 0 {
                            numrep = numrep.saturating_add(result_max as i32);
                            if numrep <= 0 {
                                continue;
                            }
                        }
                        // Only buckets can be chosen from (wi may be a
                        // device or CRUSH_ITEM_NONE).
                        let Some((bno, _)) = ctx.bucket(wi).filter(|_| wi < 0) else {
                            continue;
                        };
                        let room = result_max - osize;
                        if firstn {
                            let recurse_tries = if choose_leaf_tries != 0 {
                                choose_leaf_tries
                            } else if t.chooseleaf_descend_once != 0 {
                                1
                            } else {
                                choose_tries
                            };
                            osize += ctx.choose_firstn(
                                &mut work,
                                bno,
                                numrep,
                                step.arg2,
                                &mut o[osize..],
                                0,
                                room,
                                choose_tries,
                                recurse_tries,
                                choose_local_retries,
                                choose_local_fallback_retries,
                                recurse_to_leaf,
                                vary_r,
                                stable,
                                Some(&mut c[osize..]),
                                0,
                            );
                        } else {
                            let out_size = (numrep as usize).min(room);
                            ctx.choose_indep(
                                &mut work,
                                bno,
                                out_size,
                                numrep,
                                step.arg2,
                                &mut o[osize..],
                                0,
                                choose_tries,
                                if choose_leaf_tries != 0 {
                                    choose_leaf_tries
                                } else {
                                    1
                                },
                                recurse_to_leaf,
                                Some(&mut c[osize..]),
                                0,
                            );
                            osize += out_size;
                        }
                    }
                    if recurse_to_leaf {
                        // Copy the final leaf values to the output set.
                        o[..osize].copy_from_slice(&c[..osize]);
                    }
                    std::mem::swap(&mut o, &mut w);
                    wsize = osize;
                }
                rule_op::EMIT => {
                    for &item in &w[..wsize] {
                        if result.len() >= result_max {
                            break;
                        }
                        result.push(item);
                    }
                    wsize = 0;
                }
                _ => {}
            }
        }
        result
    }
}
