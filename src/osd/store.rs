//! The object service behind hosted OSDs: a trait the op handler calls with
//! decoded operations, and an in-memory store as its default.
//!
//! The ops of one MOSDOp are one transaction (Ceph `PrimaryLogPG::do_osd_ops`):
//! they run in order on a copy of the object, and only if every op succeeds
//! is the result kept; the first failing op's error is the message's result.
//! Reads in a transaction see the writes before them.
//!
//! One [`MemStore`] serves every endpoint of a process, so an object stays
//! reachable when its placement moves between endpoints of the same process.
//! It is split into shards, each behind its own mutex: an endpoint's reactor
//! holds one shard's lock for the span of one op vector, and two reactors
//! contend only when their objects hash to the same shard.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use crate::wire::errno;
use crate::wire::utime::UTime;

/// An object's identity within the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId {
    /// Pool id.
    pub pool: i64,
    /// Namespace (empty for the default).
    pub namespace: Vec<u8>,
    /// Object name (any bytes).
    pub name: Vec<u8>,
}

/// One decoded operation on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Read `len` bytes at `offset` (0 means to the end).
    Read {
        /// Offset.
        offset: u64,
        /// Length, 0 for "to the end".
        len: u64,
    },
    /// Size and mtime.
    Stat,
    /// Write `data` at `offset`, growing the object as needed.
    Write {
        /// Offset.
        offset: u64,
        /// Bytes.
        data: Bytes,
    },
    /// Replace the whole object's data.
    WriteFull {
        /// Bytes.
        data: Bytes,
    },
    /// Append `data`.
    Append {
        /// Bytes.
        data: Bytes,
    },
    /// Set the size, zero-filling or cutting.
    Truncate {
        /// New size.
        size: u64,
    },
    /// Zero a range (within the current size).
    Zero {
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Create the object; `exclusive` fails with EEXIST if it exists.
    Create {
        /// Fail if it exists.
        exclusive: bool,
    },
    /// Remove the object.
    Delete,
    /// Fail with ENOENT unless the object exists.
    AssertExists,
    /// One extended attribute's value.
    GetXattr {
        /// Name (without Ceph's `_` prefix).
        name: Vec<u8>,
    },
    /// All extended attributes.
    GetXattrs,
    /// Set an extended attribute.
    SetXattr {
        /// Name.
        name: Vec<u8>,
        /// Value.
        value: Bytes,
    },
    /// Remove an extended attribute.
    RmXattr {
        /// Name.
        name: Vec<u8>,
    },
    /// Omap keys after `start_after`, at most `max`.
    OmapGetKeys {
        /// Exclusive start.
        start_after: Vec<u8>,
        /// Most keys returned.
        max: u64,
    },
    /// Omap entries after `start_after` whose key starts with `prefix`, at most `max`.
    OmapGetVals {
        /// Exclusive start.
        start_after: Vec<u8>,
        /// Most entries returned.
        max: u64,
        /// Key prefix filter.
        prefix: Vec<u8>,
    },
    /// The values of the given keys that exist.
    OmapGetValsByKeys {
        /// Keys.
        keys: Vec<Vec<u8>>,
    },
    /// Set omap entries.
    OmapSetVals {
        /// Entries.
        entries: Vec<(Vec<u8>, Bytes)>,
    },
    /// Remove omap keys.
    OmapRmKeys {
        /// Keys.
        keys: Vec<Vec<u8>>,
    },
    /// Remove every omap entry.
    OmapClear,
    /// The omap header.
    OmapGetHeader,
    /// Set the omap header.
    OmapSetHeader {
        /// Header bytes.
        data: Bytes,
    },
    /// Accepted and ignored (an allocation hint).
    Hint,
}

impl StoreOp {
    /// True if the op changes the object.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            StoreOp::Write { .. }
                | StoreOp::WriteFull { .. }
                | StoreOp::Append { .. }
                | StoreOp::Truncate { .. }
                | StoreOp::Zero { .. }
                | StoreOp::Create { .. }
                | StoreOp::Delete
                | StoreOp::SetXattr { .. }
                | StoreOp::RmXattr { .. }
                | StoreOp::OmapSetVals { .. }
                | StoreOp::OmapRmKeys { .. }
                | StoreOp::OmapClear
                | StoreOp::OmapSetHeader { .. }
                | StoreOp::Hint
        )
    }
}

/// What one op produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OpOutput {
    /// Nothing.
    #[default]
    None,
    /// Bytes (read data, an xattr value, the omap header).
    Data(Bytes),
    /// Size and mtime.
    Stat {
        /// Size in bytes.
        size: u64,
        /// Last modification.
        mtime: UTime,
    },
    /// Name → value pairs (xattrs, omap values), and whether more remain.
    Map {
        /// Entries in key order.
        entries: Vec<(Vec<u8>, Bytes)>,
        /// More entries exist past these.
        more: bool,
    },
    /// Keys (omap keys), and whether more remain.
    Keys {
        /// Keys in order.
        keys: Vec<Vec<u8>>,
        /// More keys exist past these.
        more: bool,
    },
}

/// One op's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpResult {
    /// 0 or a negative errno.
    pub rval: i32,
    /// What it produced.
    pub output: OpOutput,
}

/// The outcome of an op vector: the transaction's result (0 or the first
/// failing op's negative errno) and one [`OpResult`] per op run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxResult {
    /// 0 or a negative errno.
    pub result: i32,
    /// Per-op results (ops after a failure are not run and not listed).
    pub ops: Vec<OpResult>,
}

/// A position in a PG listing: (bit-reversed hash, namespace, name), the
/// order of `hobject_t` in a bitwise-sorted PG.
pub type ListKey = (u32, Vec<u8>, Vec<u8>);

/// An object as [`ObjectService::list`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The object.
    pub id: ObjectId,
    /// The placement hash the client computed (`hobject_t::hash`).
    pub hash: u32,
}

impl ListedObject {
    /// Its position in a listing.
    pub fn key(&self) -> ListKey {
        (
            self.hash.reverse_bits(),
            self.id.namespace.clone(),
            self.id.name.clone(),
        )
    }
}

/// Stores objects for the hosted OSDs. Implementations must be callable
/// from every reactor thread.
pub trait ObjectService: Send + Sync {
    /// Runs `ops` on `obj` as one transaction. `hash` is the client's
    /// placement hash of the object (kept for listing by PG).
    fn execute(&self, obj: &ObjectId, hash: u32, ops: &[StoreOp], now: UTime) -> TxResult;

    /// Up to `max` objects of `pool` for which `in_pg(hash)` holds, in
    /// [`ListedObject::key`] order (a bitwise-sorted PG's order), from `from`
    /// on (inclusive; `None`: from the start).
    fn list(
        &self,
        pool: i64,
        in_pg: &dyn Fn(u32) -> bool,
        from: Option<&ListKey>,
        max: usize,
    ) -> Vec<ListedObject>;
}

/// Most bytes one object may hold in [`MemStore`] (Ceph's default
/// `osd_max_object_size` is 128 MiB).
pub const MAX_OBJECT_SIZE: u64 = 128 << 20;

/// Most omap entries or xattrs one op returns.
pub const MAX_LISTED: u64 = 4096;

#[derive(Debug, Clone, Default)]
struct Object {
    data: Vec<u8>,
    mtime: UTime,
    xattrs: BTreeMap<Vec<u8>, Bytes>,
    omap: BTreeMap<Vec<u8>, Bytes>,
    omap_header: Bytes,
}

impl Object {
    /// Bytes the object holds for the store's limit: its name, data,
    /// xattrs, omap and omap header (not the maps' own overhead).
    fn footprint(&self, id: &ObjectId) -> u64 {
        let entries =
            |m: &BTreeMap<Vec<u8>, Bytes>| m.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        (id.name.len()
            + self.data.len()
            + entries(&self.xattrs)
            + entries(&self.omap)
            + self.omap_header.len()) as u64
    }
}

const SHARDS: usize = 32;

/// The in-memory [`ObjectService`].
pub struct MemStore {
    shards: Vec<Mutex<HashMap<ObjectId, (u32, Object)>>>,
    /// Most bytes the objects may hold ([`Object::footprint`]): a write past
    /// it fails with `ENOSPC`, as a full OSD's does, instead of growing the
    /// process until the kernel kills it.
    max_bytes: u64,
    /// Bytes the objects hold.
    used: AtomicU64,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore::with_limit(u64::MAX)
    }
}

impl MemStore {
    /// An empty store without a size limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose objects may hold at most `max_bytes`.
    pub fn with_limit(max_bytes: u64) -> Self {
        MemStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            max_bytes,
            used: AtomicU64::new(0),
        }
    }

    /// Bytes the objects hold (data, names, xattrs, omap).
    pub fn used_bytes(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Moves the used count from `old` to `new` bytes; false (and nothing
    /// moved) if growing would pass the limit.
    fn reserve(&self, old: u64, new: u64) -> bool {
        if new <= old {
            self.used.fetch_sub(old - new, Ordering::Relaxed);
            return true;
        }
        let grow = new - old;
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(grow).filter(|&n| n <= self.max_bytes)
            })
            .is_ok()
    }

    /// Number of objects held.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }

    /// True if no object is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, hash: u32, obj: &ObjectId) -> &Mutex<HashMap<ObjectId, (u32, Object)>> {
        // The placement hash spreads objects; mix the name in for clients
        // that send a zero hash.
        let mix = obj
            .name
            .iter()
            .fold(hash, |h, b| h.rotate_left(5) ^ u32::from(*b));
        &self.shards[mix as usize % SHARDS]
    }
}

impl ObjectService for MemStore {
    fn execute(&self, obj: &ObjectId, hash: u32, ops: &[StoreOp], now: UTime) -> TxResult {
        let Ok(mut shard) = self.shard(hash, obj).lock() else {
            return TxResult {
                result: -errno::EIO,
                ops: Vec::new(),
            };
        };
        let existing = shard.get(obj).map(|(_, o)| o.clone());
        let before = existing.as_ref().map_or(0, |o| o.footprint(obj));
        let mut tx = Tx {
            obj: existing,
            changed: false,
        };
        let mut out = TxResult::default();
        for op in ops {
            let r = tx.apply(op);
            let failed = r.rval < 0;
            if failed {
                out.result = r.rval;
            }
            out.ops.push(r);
            if failed {
                return out; // nothing of the transaction is kept
            }
        }
        if tx.changed {
            let after = tx.obj.as_ref().map_or(0, |o| o.footprint(obj));
            if !self.reserve(before, after) {
                out.result = -errno::ENOSPC;
                if let Some(last) = out.ops.last_mut() {
                    *last = err(errno::ENOSPC);
                }
                return out; // nothing of the transaction is kept
            }
            match tx.obj {
                Some(mut o) => {
                    o.mtime = now;
                    shard.insert(obj.clone(), (hash, o));
                }
                None => {
                    shard.remove(obj);
                }
            }
        }
        out
    }

    fn list(
        &self,
        pool: i64,
        in_pg: &dyn Fn(u32) -> bool,
        from: Option<&ListKey>,
        max: usize,
    ) -> Vec<ListedObject> {
        let mut all: Vec<(ListKey, ListedObject)> = Vec::new();
        for shard in &self.shards {
            if let Ok(m) = shard.lock() {
                all.extend(
                    m.iter()
                        .filter(|(id, (h, _))| id.pool == pool && in_pg(*h))
                        .map(|(id, (h, _))| ListedObject {
                            id: id.clone(),
                            hash: *h,
                        })
                        .map(|o| (o.key(), o))
                        .filter(|(k, _)| from.is_none_or(|f| k >= f)),
                );
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().take(max).map(|(_, o)| o).collect()
    }
}

/// One transaction's working copy.
struct Tx {
    obj: Option<Object>,
    changed: bool,
}

fn ok(output: OpOutput) -> OpResult {
    OpResult { rval: 0, output }
}

fn err(e: i32) -> OpResult {
    OpResult {
        rval: -e,
        output: OpOutput::None,
    }
}

/// `offset + len` as a size, if it fits the object size limit.
fn end_of(offset: u64, len: u64) -> Option<usize> {
    offset
        .checked_add(len)
        .filter(|&e| e <= MAX_OBJECT_SIZE)
        .and_then(|e| usize::try_from(e).ok())
}

impl Tx {
    fn existing(&self) -> Result<&Object, OpResult> {
        self.obj.as_ref().ok_or_else(|| err(errno::ENOENT))
    }

    fn write_target(&mut self) -> &mut Object {
        self.changed = true;
        self.obj.get_or_insert_with(Object::default)
    }

    fn apply(&mut self, op: &StoreOp) -> OpResult {
        match self.try_apply(op) {
            Ok(r) | Err(r) => r,
        }
    }

    fn try_apply(&mut self, op: &StoreOp) -> Result<OpResult, OpResult> {
        Ok(match op {
            StoreOp::Read { offset, len } => {
                let o = self.existing()?;
                let size = o.data.len() as u64;
                let start = (*offset).min(size) as usize;
                let end = if *len == 0 {
                    size
                } else {
                    offset.saturating_add(*len).min(size)
                } as usize;
                ok(OpOutput::Data(Bytes::copy_from_slice(
                    &o.data[start..end.max(start)],
                )))
            }
            StoreOp::Stat => {
                let o = self.existing()?;
                ok(OpOutput::Stat {
                    size: o.data.len() as u64,
                    mtime: o.mtime,
                })
            }
            StoreOp::Write { offset, data } => {
                let end = end_of(*offset, data.len() as u64).ok_or_else(|| err(errno::EFBIG))?;
                let o = self.write_target();
                if o.data.len() < end {
                    o.data.resize(end, 0);
                }
                let start = end - data.len();
                o.data[start..end].copy_from_slice(data);
                ok(OpOutput::None)
            }
            StoreOp::WriteFull { data } => {
                end_of(0, data.len() as u64).ok_or_else(|| err(errno::EFBIG))?;
                let o = self.write_target();
                o.data.clear();
                o.data.extend_from_slice(data);
                ok(OpOutput::None)
            }
            StoreOp::Append { data } => {
                let size = self.obj.as_ref().map_or(0, |o| o.data.len() as u64);
                end_of(size, data.len() as u64).ok_or_else(|| err(errno::EFBIG))?;
                self.write_target().data.extend_from_slice(data);
                ok(OpOutput::None)
            }
            StoreOp::Truncate { size } => {
                let end = end_of(*size, 0).ok_or_else(|| err(errno::EFBIG))?;
                self.write_target().data.resize(end, 0);
                ok(OpOutput::None)
            }
            StoreOp::Zero { offset, len } => {
                self.existing()?;
                let o = self.write_target();
                let size = o.data.len() as u64;
                let start = (*offset).min(size) as usize;
                let end = offset.saturating_add(*len).min(size) as usize;
                o.data[start..end.max(start)].fill(0);
                ok(OpOutput::None)
            }
            StoreOp::Create { exclusive } => {
                if self.obj.is_some() && *exclusive {
                    return Err(err(errno::EEXIST));
                }
                self.write_target();
                ok(OpOutput::None)
            }
            StoreOp::Delete => {
                self.existing()?;
                self.obj = None;
                self.changed = true;
                ok(OpOutput::None)
            }
            StoreOp::AssertExists => {
                self.existing()?;
                ok(OpOutput::None)
            }
            StoreOp::GetXattr { name } => {
                let o = self.existing()?;
                let v = o.xattrs.get(name).ok_or_else(|| err(errno::ENODATA))?;
                ok(OpOutput::Data(v.clone()))
            }
            StoreOp::GetXattrs => {
                let o = self.existing()?;
                ok(OpOutput::Map {
                    entries: o
                        .xattrs
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    more: false,
                })
            }
            StoreOp::SetXattr { name, value } => {
                self.write_target()
                    .xattrs
                    .insert(name.clone(), value.clone());
                ok(OpOutput::None)
            }
            StoreOp::RmXattr { name } => {
                self.existing()?;
                if self.write_target().xattrs.remove(name).is_none() {
                    return Err(err(errno::ENODATA));
                }
                ok(OpOutput::None)
            }
            StoreOp::OmapGetKeys { start_after, max } => {
                let o = self.existing()?;
                let max = (*max).min(MAX_LISTED) as usize;
                let mut keys: Vec<Vec<u8>> = o
                    .omap
                    .keys()
                    .filter(|k| k.as_slice() > start_after.as_slice())
                    .take(max + 1)
                    .cloned()
                    .collect();
                let more = keys.len() > max;
                keys.truncate(max);
                ok(OpOutput::Keys { keys, more })
            }
            StoreOp::OmapGetVals {
                start_after,
                max,
                prefix,
            } => {
                let o = self.existing()?;
                let max = (*max).min(MAX_LISTED) as usize;
                let mut entries: Vec<(Vec<u8>, Bytes)> = o
                    .omap
                    .iter()
                    .filter(|(k, _)| k.as_slice() > start_after.as_slice() && k.starts_with(prefix))
                    .take(max + 1)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let more = entries.len() > max;
                entries.truncate(max);
                ok(OpOutput::Map { entries, more })
            }
            StoreOp::OmapGetValsByKeys { keys } => {
                let o = self.existing()?;
                let entries = keys
                    .iter()
                    .filter_map(|k| o.omap.get(k).map(|v| (k.clone(), v.clone())))
                    .collect();
                ok(OpOutput::Map {
                    entries,
                    more: false,
                })
            }
            StoreOp::OmapSetVals { entries } => {
                let o = self.write_target();
                for (k, v) in entries {
                    o.omap.insert(k.clone(), v.clone());
                }
                ok(OpOutput::None)
            }
            StoreOp::OmapRmKeys { keys } => {
                self.existing()?;
                let o = self.write_target();
                for k in keys {
                    o.omap.remove(k);
                }
                ok(OpOutput::None)
            }
            StoreOp::OmapClear => {
                self.existing()?;
                self.write_target().omap.clear();
                ok(OpOutput::None)
            }
            StoreOp::OmapGetHeader => {
                let o = self.existing()?;
                ok(OpOutput::Data(o.omap_header.clone()))
            }
            StoreOp::OmapSetHeader { data } => {
                self.write_target().omap_header = data.clone();
                ok(OpOutput::None)
            }
            StoreOp::Hint => {
                // A hint on a missing object creates it, as Ceph's does.
                self.write_target();
                ok(OpOutput::None)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> ObjectId {
        ObjectId {
            pool: 1,
            namespace: Vec::new(),
            name: name.as_bytes().to_vec(),
        }
    }

    const T: UTime = UTime { sec: 100, nsec: 5 };

    /// A write that would take the store past its limit fails with ENOSPC
    /// and changes nothing; deleting and shrinking give the bytes back.
    #[test]
    fn a_full_store_refuses_writes_until_objects_go() {
        let s = MemStore::with_limit(10_000);
        let write = |n: usize| StoreOp::WriteFull {
            data: Bytes::from(vec![1u8; n]),
        };
        for name in ["a", "b"] {
            assert_eq!(s.execute(&id(name), 1, &[write(4_000)], T).result, 0);
        }
        assert_eq!(s.used_bytes(), 8_002);
        let full = s.execute(&id("c"), 1, &[write(4_000)], T);
        assert_eq!(full.result, -errno::ENOSPC);
        assert_eq!(full.ops[0].rval, -errno::ENOSPC);
        let r = s.execute(&id("c"), 1, &[StoreOp::Stat], T);
        assert_eq!(r.result, -errno::ENOENT, "a refused write left an object");
        // Growing an existing object past the limit fails too; it keeps its bytes.
        assert_eq!(
            s.execute(&id("a"), 1, &[write(6_000)], T).result,
            -errno::ENOSPC
        );
        let r = s.execute(&id("a"), 1, &[StoreOp::Stat], T);
        assert_eq!(
            r.ops[0].output,
            OpOutput::Stat {
                size: 4_000,
                mtime: T
            }
        );
        assert_eq!(s.execute(&id("b"), 1, &[StoreOp::Delete], T).result, 0);
        assert_eq!(s.used_bytes(), 4_001);
        assert_eq!(s.execute(&id("c"), 1, &[write(4_000)], T).result, 0);
        assert_eq!(s.execute(&id("a"), 1, &[write(10)], T).result, 0);
        assert_eq!(s.used_bytes(), 4_001 + 11);
    }

    #[test]
    fn write_read_stat_delete() {
        let s = MemStore::new();
        let o = id("a");
        let r = s.execute(&o, 1, &[StoreOp::Read { offset: 0, len: 0 }], T);
        assert_eq!(r.result, -errno::ENOENT);
        let w = StoreOp::WriteFull {
            data: Bytes::from_static(b"hello"),
        };
        assert_eq!(s.execute(&o, 1, &[w], T).result, 0);
        let w2 = StoreOp::Write {
            offset: 7,
            data: Bytes::from_static(b"!!"),
        };
        assert_eq!(s.execute(&o, 1, &[w2], T).result, 0);
        let r = s.execute(
            &o,
            1,
            &[StoreOp::Read { offset: 0, len: 0 }, StoreOp::Stat],
            T,
        );
        assert_eq!(
            r.ops[0].output,
            OpOutput::Data(Bytes::from_static(b"hello\0\0!!"))
        );
        assert_eq!(r.ops[1].output, OpOutput::Stat { size: 9, mtime: T });
        let r = s.execute(
            &o,
            1,
            &[StoreOp::Read {
                offset: 8,
                len: 100,
            }],
            T,
        );
        assert_eq!(r.ops[0].output, OpOutput::Data(Bytes::from_static(b"!")));
        assert_eq!(s.execute(&o, 1, &[StoreOp::Delete], T).result, 0);
        assert!(s.is_empty());
        assert_eq!(
            s.execute(&o, 1, &[StoreOp::Delete], T).result,
            -errno::ENOENT
        );
    }

    #[test]
    fn a_failing_op_rolls_back_the_transaction() {
        let s = MemStore::new();
        let o = id("b");
        let ops = [
            StoreOp::WriteFull {
                data: Bytes::from_static(b"x"),
            },
            StoreOp::GetXattr {
                name: b"nope".to_vec(),
            },
        ];
        let r = s.execute(&o, 1, &ops, T);
        assert_eq!(r.result, -errno::ENODATA);
        assert_eq!(r.ops.len(), 2);
        assert!(s.is_empty(), "the write before the failure was not kept");
    }

    #[test]
    fn xattrs_and_omap() {
        let s = MemStore::new();
        let o = id("c");
        let set = [
            StoreOp::SetXattr {
                name: b"k".to_vec(),
                value: Bytes::from_static(b"v"),
            },
            StoreOp::OmapSetVals {
                entries: vec![
                    (b"a".to_vec(), Bytes::from_static(b"1")),
                    (b"b".to_vec(), Bytes::from_static(b"2")),
                    (b"c".to_vec(), Bytes::from_static(b"3")),
                ],
            },
        ];
        assert_eq!(s.execute(&o, 1, &set, T).result, 0);
        let r = s.execute(
            &o,
            1,
            &[StoreOp::GetXattr {
                name: b"k".to_vec(),
            }],
            T,
        );
        assert_eq!(r.ops[0].output, OpOutput::Data(Bytes::from_static(b"v")));
        let r = s.execute(
            &o,
            1,
            &[StoreOp::OmapGetKeys {
                start_after: b"a".to_vec(),
                max: 1,
            }],
            T,
        );
        assert_eq!(
            r.ops[0].output,
            OpOutput::Keys {
                keys: vec![b"b".to_vec()],
                more: true
            }
        );
    }

    #[test]
    fn sizes_past_the_limit_are_refused() {
        let s = MemStore::new();
        let r = s.execute(&id("d"), 1, &[StoreOp::Truncate { size: u64::MAX }], T);
        assert_eq!(r.result, -errno::EFBIG);
        let r = s.execute(
            &id("d"),
            1,
            &[StoreOp::Write {
                offset: u64::MAX - 1,
                data: Bytes::from_static(b"ab"),
            }],
            T,
        );
        assert_eq!(r.result, -errno::EFBIG);
        assert!(s.is_empty());
    }

    #[test]
    fn listing_pages_in_hash_order() {
        let s = MemStore::new();
        for (i, h) in [30u32, 10, 20, 40].iter().enumerate() {
            let w = StoreOp::WriteFull {
                data: Bytes::from_static(b"x"),
            };
            s.execute(&id(&format!("o{i}")), *h, &[w], T);
        }
        let not_40 = |h: u32| h != 40;
        // Bit-reversed order: 20 (0b10100) < 10 (0b1010) < 30 (0b11110).
        let p1 = s.list(1, &not_40, None, 2);
        assert_eq!(p1.iter().map(|o| o.hash).collect::<Vec<_>>(), [20, 10]);
        let p2 = s.list(1, &not_40, Some(&p1[1].key()), 2);
        assert_eq!(p2.iter().map(|o| o.hash).collect::<Vec<_>>(), [10, 30]);
        assert!(s.list(2, &not_40, None, 10).is_empty());
    }
}
