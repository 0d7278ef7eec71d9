//! From a decoded MOSDOp to the object service and back: the placement
//! checks (pool and PG exist), the caps check, the translation of each
//! `ceph_osd_op` into a [`StoreOp`], PG listing (PGNLS), and the encoding of
//! each op's output as the client expects it (Ceph `PrimaryLogPG::do_osd_ops`
//! and `do_pg_op`).

use bytes::Bytes;

use super::caps::{Need, OsdCaps};
use super::member::ClusterView;
use super::store::{ListKey, ListedObject, ObjectId, ObjectService, OpOutput, StoreOp};
use crate::msg::osd_op::{
    decode_string_map, decode_string_set, encode_string_map, op, op_flag, op_is_read, op_is_write,
    op_type_exec, HObject, ListObject, MOsdOp, OmapGetKeysArgs, OmapGetValsArgs, OmapKeys,
    OmapVals, OsdOp, PgNlsResponse, StatResult,
};
use crate::wire::errno;
use crate::wire::utime::UTime;

/// Most objects one PGNLS reply lists (Ceph's `osd_max_pgls` is 1024).
pub const MAX_PGLS: u64 = 1024;

/// The namespace a listing uses to mean "every namespace" (librados
/// `all_nspaces`).
const ALL_NAMESPACES: &[u8] = b"\x01";

/// What became of an op vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsOutcome {
    /// Ran: the message's result and each op's `(rval, outdata)`.
    Done {
        /// 0, 1 (PGNLS at the end of a PG) or a negative errno.
        result: i32,
        /// Per op, in order.
        ops: Vec<(i32, Bytes)>,
    },
    /// Not run: the peer may not do this, or the target is not ours.
    Refused {
        /// The errno for the reply.
        errno: i32,
        /// Why, for the log.
        why: String,
    },
    /// Not run: an op we do not implement.
    Unsupported {
        /// Its code.
        code: u16,
    },
}

/// What a peer needs for the ops of `req` (the caps check).
pub fn need_of(req: &MOsdOp) -> Need {
    let mut n = Need::default();
    for o in &req.ops {
        n.read |= op_is_read(o.op) || req.is_pg_op();
        n.write |= op_is_write(o.op);
        n.exec |= op_type_exec(o.op);
    }
    n
}

/// `ceph_stable_mod`, shared with the osdmap's placement.
pub use crate::osdmap::pool::stable_mod;

/// Bits needed to hold `n` (`pg_pool_t::calc_bits_of`).
fn bits_of(n: u32) -> u32 {
    32 - n.leading_zeros()
}

/// The PG (seed) an object with placement hash `hash` belongs to.
pub fn pg_of(hash: u32, pg_num: u32) -> u32 {
    // `pg_num_mask`: all ones below the top bit of pg_num - 1 (u64 math:
    // pg_num above 2^31 needs a 32-bit mask).
    let mask = ((1u64 << bits_of(pg_num.saturating_sub(1))) - 1) as u32;
    stable_mod(hash, pg_num, mask)
}

/// The first object after PG `seed` in bitwise order (`pg_t::get_hobj_end`):
/// where a listing continues once this PG is exhausted.
pub fn pg_end(pool: i64, seed: u32, pg_num: u32) -> HObject {
    let split_bits = if pg_num <= 1 {
        0
    } else {
        let p = bits_of(pg_num);
        if seed % (1 << (p - 1)) < pg_num % (1 << (p - 1)) {
            p
        } else {
            p - 1
        }
    };
    let rev_start = u64::from(seed.reverse_bits());
    let rev_end = (rev_start | u64::from(0xffff_ffffu32.checked_shr(split_bits).unwrap_or(0))) + 1;
    if rev_end >= 1 << 32 {
        return HObject::max_value();
    }
    HObject {
        snap: crate::msg::osd_op::CEPH_NOSNAP,
        hash: (rev_end as u32).reverse_bits(),
        pool,
        ..HObject::default()
    }
}

/// Runs `req` against `store` if `caps` allow it and the target is a pool
/// and PG `view` knows (a view that is older than the request's map, or
/// empty, is trusted to be behind rather than the request wrong).
pub fn execute_ops(
    req: &MOsdOp,
    store: &dyn ObjectService,
    view: &ClusterView,
    caps: &OsdCaps,
    now: UTime,
) -> OpsOutcome {
    let pool_id = req.spgid.pgid.pool;
    let pool = view.pools.get(&pool_id);
    let view_current = view.epoch >= req.osdmap_epoch && !view.pools.is_empty();
    if view_current {
        match pool {
            None => {
                return OpsOutcome::Refused {
                    errno: errno::ENXIO,
                    why: format!("pool {pool_id} does not exist in epoch {}", view.epoch),
                }
            }
            Some(p) if req.spgid.pgid.seed >= p.pg_num => {
                return OpsOutcome::Refused {
                    errno: errno::ENXIO,
                    why: format!(
                        "pg {pool_id}.{:x} does not exist (pg_num {})",
                        req.spgid.pgid.seed, p.pg_num
                    ),
                }
            }
            _ => {}
        }
    }
    let need = need_of(req);
    let pool_name = pool.map(|p| p.name.as_str());
    let nspace = String::from_utf8_lossy(&req.locator.nspace);
    let object = String::from_utf8_lossy(&req.oid);
    if !caps.allows(pool_name, &nspace, &object, need) {
        return OpsOutcome::Refused {
            errno: errno::EPERM,
            why: format!(
                "caps do not allow {}{}{} on pool {} object {object:?}",
                if need.read { "r" } else { "" },
                if need.write { "w" } else { "" },
                if need.exec { "x" } else { "" },
                pool_name.map_or_else(|| pool_id.to_string(), str::to_owned),
            ),
        };
    }
    if req.is_pg_op() {
        return pg_ops(req, store, view);
    }
    let mut ops = Vec::with_capacity(req.ops.len());
    for o in &req.ops {
        match to_store_op(o) {
            Ok(s) => ops.push(s),
            Err(Translate::Unsupported) => return OpsOutcome::Unsupported { code: o.op },
            Err(Translate::Invalid) => {
                return OpsOutcome::Done {
                    result: -errno::EINVAL,
                    ops: vec![(-errno::EINVAL, Bytes::new()); req.ops.len()],
                }
            }
        }
    }
    let id = ObjectId {
        pool: pool_id,
        namespace: req.locator.nspace.clone(),
        name: req.oid.clone(),
    };
    let mtime = if req.mtime.sec == 0 && req.mtime.nsec == 0 {
        now
    } else {
        req.mtime
    };
    let tx = store.execute(&id, req.hash, &ops, mtime);
    let mut out: Vec<(i32, Bytes)> = tx
        .ops
        .into_iter()
        .zip(&req.ops)
        .map(|(r, o)| (r.rval, encode_output(o.op, r.output)))
        .collect();
    out.resize(req.ops.len(), (0, Bytes::new()));
    OpsOutcome::Done {
        result: tx.result,
        ops: out,
    }
}

enum Translate {
    Unsupported,
    Invalid,
}

fn to_store_op(o: &OsdOp) -> Result<StoreOp, Translate> {
    let ext = o.extent();
    let bad = |_| Translate::Invalid;
    Ok(match o.op {
        op::READ | op::SYNC_READ => StoreOp::Read {
            offset: ext.offset,
            len: ext.length,
        },
        op::STAT => StoreOp::Stat,
        op::WRITE => StoreOp::Write {
            offset: ext.offset,
            data: o.indata.slice(..(ext.length as usize).min(o.indata.len())),
        },
        op::WRITEFULL => StoreOp::WriteFull {
            data: o.indata.slice(..(ext.length as usize).min(o.indata.len())),
        },
        op::APPEND => StoreOp::Append {
            data: o.indata.slice(..(ext.length as usize).min(o.indata.len())),
        },
        op::TRUNCATE => StoreOp::Truncate { size: ext.offset },
        op::ZERO => StoreOp::Zero {
            offset: ext.offset,
            len: ext.length,
        },
        op::CREATE => StoreOp::Create {
            exclusive: o.flags & op_flag::EXCL != 0,
        },
        op::DELETE => StoreOp::Delete,
        op::SETALLOCHINT => StoreOp::Hint,
        op::GETXATTR => {
            let (name, _) = o.xattr_name_value().map_err(bad)?;
            StoreOp::GetXattr {
                name: name.to_vec(),
            }
        }
        op::GETXATTRS => StoreOp::GetXattrs,
        op::SETXATTR => {
            let (name, value) = o.xattr_name_value().map_err(bad)?;
            StoreOp::SetXattr {
                name: name.to_vec(),
                value,
            }
        }
        op::RMXATTR => {
            let (name, _) = o.xattr_name_value().map_err(bad)?;
            StoreOp::RmXattr {
                name: name.to_vec(),
            }
        }
        op::OMAPGETKEYS => {
            let a = OmapGetKeysArgs::decode(&o.indata).map_err(bad)?;
            StoreOp::OmapGetKeys {
                start_after: a.start_after,
                max: a.max_return,
            }
        }
        op::OMAPGETVALS => {
            let a = OmapGetValsArgs::decode(&o.indata).map_err(bad)?;
            StoreOp::OmapGetVals {
                start_after: a.start_after,
                max: a.max_return,
                prefix: a.filter_prefix,
            }
        }
        op::OMAPGETVALSBYKEYS => StoreOp::OmapGetValsByKeys {
            keys: decode_string_set(&o.indata).map_err(bad)?,
        },
        op::OMAPSETVALS => StoreOp::OmapSetVals {
            entries: decode_string_map(&o.indata).map_err(bad)?,
        },
        op::OMAPRMKEYS => StoreOp::OmapRmKeys {
            keys: decode_string_set(&o.indata).map_err(bad)?,
        },
        op::OMAPCLEAR => StoreOp::OmapClear,
        op::OMAPGETHEADER => StoreOp::OmapGetHeader,
        op::OMAPSETHEADER => StoreOp::OmapSetHeader {
            data: o.indata.clone(),
        },
        _ => return Err(Translate::Unsupported),
    })
}

/// Op `code`'s output in the encoding the client decodes for it:
/// OMAPGETVALS and OMAPGETKEYS end with `bool more`; GETXATTRS and
/// OMAPGETVALSBYKEYS are a bare `map<string, bufferlist>`.
fn encode_output(code: u16, out: OpOutput) -> Bytes {
    match out {
        OpOutput::None => Bytes::new(),
        OpOutput::Data(b) => b,
        OpOutput::Stat { size, mtime } => StatResult { size, mtime }.to_bytes(),
        OpOutput::Map { entries, more } if code == op::OMAPGETVALS => {
            OmapVals { entries, more }.to_bytes()
        }
        OpOutput::Map { entries, .. } => {
            let mut v = Vec::new();
            encode_string_map(&entries, &mut v);
            Bytes::from(v)
        }
        OpOutput::Keys { keys, more } => OmapKeys { keys, more }.to_bytes(),
    }
}

/// PG ops: PGNLS lists a PG's head objects from the cursor in its indata.
fn pg_ops(req: &MOsdOp, store: &dyn ObjectService, view: &ClusterView) -> OpsOutcome {
    let [o] = req.ops.as_slice() else {
        return OpsOutcome::Unsupported {
            code: req.ops.first().map_or(0, |o| o.op),
        };
    };
    if o.op != op::PGNLS {
        return OpsOutcome::Unsupported { code: o.op };
    }
    let pool = req.spgid.pgid.pool;
    let seed = req.spgid.pgid.seed;
    let Some(pg_num) = view.pools.get(&pool).map(|p| p.pg_num) else {
        return OpsOutcome::Refused {
            errno: errno::EAGAIN,
            why: format!("pool {pool} is not in our map yet (listing needs its pg_num)"),
        };
    };
    let cursor = match o.pgnls_cursor() {
        Ok(c) => c,
        Err(_) => {
            return OpsOutcome::Done {
                result: -errno::EINVAL,
                ops: vec![(-errno::EINVAL, Bytes::new())],
            }
        }
    };
    let count = o.pgls().count.clamp(1, MAX_PGLS) as usize;
    let nspace = req.locator.nspace.as_slice();
    let in_pg = |h: u32| pg_of(h, pg_num) == seed;
    let from: Option<ListKey> = (!cursor.is_min() && !cursor.max).then(|| {
        (
            cursor.hash.reverse_bits(),
            cursor.nspace.clone(),
            cursor.oid.clone(),
        )
    });
    let mut page: Vec<ListedObject> = store
        .list(pool, &in_pg, from.as_ref(), count + 1)
        .into_iter()
        .collect();
    if cursor.max {
        page.clear();
    }
    let next = (page.len() > count).then(|| page.remove(count));
    let entries = page
        .iter()
        .filter(|obj| nspace == ALL_NAMESPACES || obj.id.namespace == nspace)
        .map(|obj| ListObject {
            nspace: obj.id.namespace.clone(),
            oid: obj.id.name.clone(),
            locator: Vec::new(),
        })
        .collect();
    let (result, handle) = match next {
        Some(n) => (
            0,
            HObject {
                oid: n.id.name.clone(),
                snap: crate::msg::osd_op::CEPH_NOSNAP,
                hash: n.hash,
                nspace: n.id.namespace.clone(),
                pool,
                ..HObject::default()
            },
        ),
        None => (1, pg_end(pool, seed, pg_num)),
    };
    let out = PgNlsResponse { handle, entries }.to_bytes();
    OpsOutcome::Done {
        result,
        ops: vec![(0, out)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osd::member::PoolInfo;
    use crate::osd::store::MemStore;
    use std::collections::HashMap;

    fn view() -> ClusterView {
        ClusterView {
            epoch: 10,
            pools: HashMap::from([(
                3,
                PoolInfo {
                    name: "data".into(),
                    pg_num: 8,
                },
            )]),
            ..ClusterView::default()
        }
    }

    fn req(pool: i64, seed: u32, ops: Vec<OsdOp>) -> MOsdOp {
        let mut r = MOsdOp {
            oid: b"obj".to_vec(),
            ops,
            osdmap_epoch: 10,
            ..MOsdOp::default()
        };
        r.spgid.pgid.pool = pool;
        r.spgid.pgid.seed = seed;
        r.locator.pool = pool;
        r
    }

    const NOW: UTime = UTime { sec: 1, nsec: 2 };

    #[test]
    fn write_then_read_through_the_op_path() {
        let store = MemStore::new();
        let all = OsdCaps::allow_all();
        let w = req(3, 1, vec![OsdOp::writefull(Bytes::from_static(b"abc"))]);
        assert!(matches!(
            execute_ops(&w, &store, &view(), &all, NOW),
            OpsOutcome::Done { result: 0, .. }
        ));
        let r = req(3, 1, vec![OsdOp::read(0, 0), OsdOp::stat()]);
        let OpsOutcome::Done { result: 0, ops } = execute_ops(&r, &store, &view(), &all, NOW)
        else {
            panic!("read failed");
        };
        assert_eq!(ops[0].1, Bytes::from_static(b"abc"));
        assert_eq!(StatResult::decode(&ops[1].1).unwrap().size, 3);
    }

    #[test]
    fn refusals_and_errors_are_replies_not_panics() {
        let store = MemStore::new();
        let all = OsdCaps::allow_all();
        let v = view();
        // A pool the map does not have, and a PG past pg_num.
        let w = |pool, seed| req(pool, seed, vec![OsdOp::writefull(Bytes::from_static(b"x"))]);
        assert!(matches!(
            execute_ops(&w(99, 0), &store, &v, &all, NOW),
            OpsOutcome::Refused {
                errno: errno::ENXIO,
                ..
            }
        ));
        assert!(matches!(
            execute_ops(&w(3, 8), &store, &v, &all, NOW),
            OpsOutcome::Refused {
                errno: errno::ENXIO,
                ..
            }
        ));
        // Read-only caps refuse the write; nothing is stored.
        let ro = OsdCaps::parse("allow r").unwrap();
        assert!(matches!(
            execute_ops(&w(3, 0), &store, &v, &ro, NOW),
            OpsOutcome::Refused {
                errno: errno::EPERM,
                ..
            }
        ));
        assert!(store.is_empty());
        // An op code we do not implement, and a missing object.
        let unknown = req(3, 0, vec![OsdOp::new(op::CALL)]);
        assert!(matches!(
            execute_ops(&unknown, &store, &v, &all, NOW),
            OpsOutcome::Unsupported { code: op::CALL }
        ));
        let missing = req(3, 0, vec![OsdOp::stat()]);
        assert!(matches!(
            execute_ops(&missing, &store, &v, &all, NOW),
            OpsOutcome::Done { result, .. } if result == -errno::ENOENT
        ));
        // An xattr op whose lengths run past its data is EINVAL.
        let mut bad = OsdOp::setxattr(b"name", b"value");
        bad.indata = bad.indata.slice(..3);
        let r = req(3, 0, vec![bad]);
        assert!(matches!(
            execute_ops(&r, &store, &v, &all, NOW),
            OpsOutcome::Done { result, .. } if result == -errno::EINVAL
        ));
    }

    #[test]
    fn pgnls_lists_one_pg_and_ends_at_its_end() {
        let store = MemStore::new();
        let all = OsdCaps::allow_all();
        let v = view();
        // Objects with hashes in PG 1 (hash % 8 == 1) and PG 2.
        for (name, hash) in [("a", 1u32), ("b", 9), ("c", 2), ("d", 17)] {
            let mut w = req(
                3,
                hash % 8,
                vec![OsdOp::writefull(Bytes::from_static(b"x"))],
            );
            w.oid = name.as_bytes().to_vec();
            w.hash = hash;
            execute_ops(&w, &store, &v, &all, NOW);
        }
        let mut ls = req(3, 1, vec![OsdOp::pgnls(2, 10, &HObject::default())]);
        ls.oid.clear();
        ls.hash = 1;
        let OpsOutcome::Done { result, ops } = execute_ops(&ls, &store, &v, &all, NOW) else {
            panic!("pgnls refused");
        };
        let page = PgNlsResponse::decode(&ops[0].1).unwrap();
        assert_eq!(
            (result, page.entries.len()),
            (0, 2),
            "a full page, more to come"
        );
        let mut ls2 = ls.clone();
        ls2.ops = vec![OsdOp::pgnls(2, 10, &page.handle)];
        let OpsOutcome::Done { result, ops } = execute_ops(&ls2, &store, &v, &all, NOW) else {
            panic!("pgnls refused");
        };
        let page2 = PgNlsResponse::decode(&ops[0].1).unwrap();
        assert_eq!(
            (result, page2.entries.len()),
            (1, 1),
            "the rest, then the PG's end"
        );
        assert_eq!(page2.handle, pg_end(3, 1, 8));
        let mut names: Vec<Vec<u8>> = page
            .entries
            .iter()
            .chain(&page2.entries)
            .map(|e| e.oid.clone())
            .collect();
        names.sort();
        assert_eq!(names, [b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]);
    }

    #[test]
    fn pg_math_matches_ceph() {
        // pg_num 8: mask 7; pg_num 12: mask 15, seeds >= 12 fold to mask 7.
        assert_eq!(pg_of(0x6cf8_deff, 8), 7); // 'obj1' -> 1.7 (ceph osd map)
        assert_eq!(pg_of(13, 12), 5);
        assert_eq!(pg_of(11, 12), 11);
        assert_eq!(pg_of(12345, 1), 0);
        // Huge pg counts do not overflow the mask (found by fuzzing).
        assert_eq!(pg_of(5, u32::MAX), 5);
        assert_eq!(pg_of(u32::MAX, (1 << 31) + 1), u32::MAX >> 1);
        // The last PG in bitwise order ends at the max object.
        assert!(pg_end(1, 7, 8).max);
        let e = pg_end(1, 0, 8);
        assert!(!e.max);
        // seed 0 of 8 covers reversed hashes [0, 2^29): the end is 2^29 reversed.
        assert_eq!(e.hash, (1u32 << 29).reverse_bits());
        assert!(pg_end(1, 0, 1).max);
    }
}
