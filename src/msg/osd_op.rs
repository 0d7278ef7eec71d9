//! MOSDOp (type 42) and MOSDOpReply (type 43) as Ceph Pacific (16.2) encodes
//! them, plus the per-op payloads an OSD produces for `rados`
//! put/get/stat/rm/ls/bench/setxattr/getxattr.
//!
//! Sources read (Ceph, GitHub `ceph/ceph`): `src/messages/MOSDOp.h`
//! (`encode_payload` / `decode_payload` / `finish_decode`, HEAD_VERSION 8,
//! COMPAT_VERSION 3), `src/messages/MOSDOpReply.h` (Pacific: HEAD_VERSION 8,
//! COMPAT_VERSION 2; the qos/temperature fields of other branches are not in
//! Pacific), `src/include/rados.h` (`struct ceph_osd_op`, `CEPH_OSD_OP_*`,
//! `CEPH_OSD_FLAG_*`), `src/osd/osd_types.{h,cc}` (`pg_t`, `spg_t`,
//! `eversion_t`, `osd_reqid_t`, `object_locator_t`, `request_redirect_t`,
//! `OSDOp::{split,merge}_osd_op_vector_{in,out}_data`,
//! `pg_nls_response_t`), `src/common/hobject.{h,cc}`, `src/msg/Message.cc`
//! (`encode_trace`), `src/common/zipkin_trace.h` (`blkin_trace_info`),
//! `src/osd/PrimaryLogPG.cc` (`do_pg_op` PGNLS, `do_osd_ops` STAT/GETXATTR/
//! OMAP*).
//!
//! # MOSDOp v8 front (`MOSDOp::encode_payload`, the `RESEND_ON_SPLIT` branch)
//!
//! ```text
//! spg_t spgid          ENCODE_START(1,1) { pg_t{u8 1, u64 pool, u32 seed, i32 -1}, i8 shard }
//! u32   hash           the object's raw hash (hobj.get_hash())
//! u32   osdmap_epoch
//! u32   flags          CEPH_OSD_FLAG_*
//! osd_reqid_t reqid    ENCODE_START(2,2) { u8 type, u64 num, u64 tid, i32 inc }
//! blkin_trace_info     3 x i64, all zero when blkin is off
//! -- the OSD decodes the rest later (finish_decode) --
//! u32   client_inc
//! utime mtime          u32 sec, u32 nsec
//! object_locator_t     ENCODE_START(6, 3 or 6) { i64 pool, i32 -1, string key, string nspace, i64 hash }
//! string oid
//! u16   num_ops, then num_ops x ceph_osd_op (38 packed bytes each)
//! u64   snapid         (CEPH_NOSNAP for head)
//! u64   snap_seq
//! vector<u64> snaps
//! i32   retry_attempt
//! u64   features
//! ```
//!
//! The data segment holds every op's `indata` back to back, each exactly
//! its op's `payload_len` long (ops with `payload_len` 0 take nothing).
//!
//! # MOSDOpReply v8 front (`MOSDOpReply::encode_payload`)
//!
//! ```text
//! string oid, pg_t pgid, i64 flags, i32 result, eversion_t bad_replay_version,
//! u32 osdmap_epoch, u32 num_ops, num_ops x ceph_osd_op, i32 retry_attempt,
//! num_ops x i32 rval, eversion_t replay_version, u64 user_version,
//! bool do_redirect, [request_redirect_t if do_redirect], blkin_trace_info
//! ```
//!
//! `eversion_t` is `u64 version` then `u32 epoch` (a raw memcpy of the
//! struct's first two members), unlike the C `ceph_eversion` (epoch first).
//! The reply's data segment holds every op's `outdata` back to back, and
//! each reply op's `payload_len` is its `outdata` length (Pacific's
//! `merge_osd_op_vector_out_data` sets it unconditionally).
//!
//! # Zero copy
//!
//! [`MessagePayload::decode_segments`] receives the data segment as
//! `&[u8]`, which would force a copy. The types here therefore also offer
//! [`MOsdOp::decode_bytes`] / [`MOsdOp::from_message`] (and the same on
//! [`MOsdOpReply`]) which take the data segment as [`Bytes`] and hand each
//! op a `Bytes::slice` of it; [`MOsdOp::to_message`] builds the data segment
//! without copying when at most one op carries data (the common put/write
//! case). The [`MessagePayload`] implementations exist for the generic
//! helpers and tests and copy once.
//!
//! Strings that are user data in Ceph (object names, namespaces, locator
//! keys, xattr names, omap keys) are arbitrary bytes there, so they are
//! `Vec<u8>` here: a non-UTF-8 object name must not fail a decode.

use bytes::{Bytes, BytesMut};

use super::{types, EncodedMessage, MessagePayload};
use crate::proto::{Message, PRIO_DEFAULT};
use crate::wire::utime::UTime;
use crate::wire::{check_limit, DecodeError, Put, Reader};

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/// Longest object name we decode (Ceph's `osd_max_object_name_len` is 2048).
pub const MAX_OBJECT_NAME_LEN: usize = 4096;
/// Longest object locator key we decode (`osd_max_object_name_len` applies).
pub const MAX_LOCATOR_KEY_LEN: usize = 4096;
/// Longest object namespace we decode (`osd_max_object_namespace_len` is 256).
pub const MAX_NAMESPACE_LEN: usize = 4096;
/// Most ops in one MOSDOp / MOSDOpReply.
pub const MAX_OPS: usize = 64;
/// Most snapshot ids in a MOSDOp's snap context.
pub const MAX_SNAPS: usize = 1024;
/// Largest `payload_len` of one op (the OSD's `osd_max_write_size` is 90 MiB).
pub const MAX_OP_PAYLOAD_LEN: usize = 1 << 28;
/// Longest xattr name (Ceph's `osd_max_attr_name_len` is 100).
pub const MAX_XATTR_NAME_LEN: usize = 4096;
/// Longest key in an omap / xattr map or set.
pub const MAX_KEY_LEN: usize = 4096;
/// Longest value in an omap / xattr map.
pub const MAX_VALUE_LEN: usize = 1 << 28;
/// Most entries in an omap / xattr map or set.
pub const MAX_MAP_ENTRIES: usize = 1 << 20;
/// Most entries in one `pg_nls_response_t` (Ceph's `osd_max_pgls` is 1024).
pub const MAX_PGNLS_ENTRIES: usize = 1 << 16;
/// Largest body of a small versioned struct (`spg_t`, `osd_reqid_t`,
/// `object_locator_t`, `hobject_t`, `request_redirect_t`).
pub const MAX_STRUCT_LEN: usize = 1 << 16;

/// `CEPH_NOSNAP`: the head (live) version of an object.
pub const CEPH_NOSNAP: u64 = u64::MAX - 1;
/// `CEPH_SNAPDIR`.
pub const CEPH_SNAPDIR: u64 = u64::MAX;

/// Encoded size of `struct ceph_osd_op` (rados.h: 2 + 4 + 28 + 4, packed).
pub const OSD_OP_LEN: usize = 38;
/// Size of the `ceph_osd_op` argument union (its largest member, `extent`).
pub const OSD_OP_ARGS_LEN: usize = 28;
/// Encoded size of `blkin_trace_info` (three `int64_t`).
pub const TRACE_LEN: usize = 24;

// ---------------------------------------------------------------------------
// Op codes, modes, flags (rados.h)
// ---------------------------------------------------------------------------

/// `CEPH_OSD_OP_*` op codes and the mode/type bits they are built from
/// (rados.h `__CEPH_FORALL_OSD_OPS`: `mode | type | nr`).
pub mod op {
    /// `CEPH_OSD_OP_MODE` mask.
    pub const MODE: u16 = 0xf000;
    /// `CEPH_OSD_OP_MODE_RD`.
    pub const MODE_RD: u16 = 0x1000;
    /// `CEPH_OSD_OP_MODE_WR`.
    pub const MODE_WR: u16 = 0x2000;
    /// `CEPH_OSD_OP_MODE_RMW`.
    pub const MODE_RMW: u16 = 0x3000;
    /// `CEPH_OSD_OP_MODE_SUB`.
    pub const MODE_SUB: u16 = 0x4000;
    /// `CEPH_OSD_OP_MODE_CACHE`.
    pub const MODE_CACHE: u16 = 0x8000;
    /// `CEPH_OSD_OP_TYPE` mask.
    pub const TYPE: u16 = 0x0f00;
    /// `CEPH_OSD_OP_TYPE_DATA`.
    pub const TYPE_DATA: u16 = 0x0200;
    /// `CEPH_OSD_OP_TYPE_ATTR`.
    pub const TYPE_ATTR: u16 = 0x0300;
    /// `CEPH_OSD_OP_TYPE_EXEC`.
    pub const TYPE_EXEC: u16 = 0x0400;
    /// `CEPH_OSD_OP_TYPE_PG`.
    pub const TYPE_PG: u16 = 0x0500;

    const RD_DATA: u16 = MODE_RD | TYPE_DATA;
    const WR_DATA: u16 = MODE_WR | TYPE_DATA;
    const RMW_DATA: u16 = MODE_RMW | TYPE_DATA;
    const CACHE_DATA: u16 = MODE_CACHE | TYPE_DATA;
    const RD_ATTR: u16 = MODE_RD | TYPE_ATTR;
    const WR_ATTR: u16 = MODE_WR | TYPE_ATTR;
    const RD_PG: u16 = MODE_RD | TYPE_PG;

    /// `read`: extent in, data out.
    pub const READ: u16 = RD_DATA | 1;
    /// `stat`: out `u64 size, utime mtime`.
    pub const STAT: u16 = RD_DATA | 2;
    /// `mapext`.
    pub const MAPEXT: u16 = RD_DATA | 3;
    /// `masktrunc`.
    pub const MASKTRUNC: u16 = RD_DATA | 4;
    /// `sparse-read`.
    pub const SPARSE_READ: u16 = RD_DATA | 5;
    /// `notify`.
    pub const NOTIFY: u16 = RD_DATA | 6;
    /// `notify-ack`.
    pub const NOTIFY_ACK: u16 = RD_DATA | 7;
    /// `assert-version`.
    pub const ASSERT_VER: u16 = RD_DATA | 8;
    /// `list-watchers`.
    pub const LIST_WATCHERS: u16 = RD_DATA | 9;
    /// `list-snaps`.
    pub const LIST_SNAPS: u16 = RD_DATA | 10;
    /// `sync_read`.
    pub const SYNC_READ: u16 = RD_DATA | 11;
    /// `tmapget`.
    pub const TMAPGET: u16 = RD_DATA | 12;
    /// `omap-get-keys`.
    pub const OMAPGETKEYS: u16 = RD_DATA | 17;
    /// `omap-get-vals`.
    pub const OMAPGETVALS: u16 = RD_DATA | 18;
    /// `omap-get-header`.
    pub const OMAPGETHEADER: u16 = RD_DATA | 19;
    /// `omap-get-vals-by-keys`.
    pub const OMAPGETVALSBYKEYS: u16 = RD_DATA | 20;
    /// `omap-cmp`.
    pub const OMAP_CMP: u16 = RD_DATA | 25;
    /// `isdirty`.
    pub const ISDIRTY: u16 = RD_DATA | 29;
    /// `copy-get`.
    pub const COPY_GET: u16 = RD_DATA | 30;
    /// `checksum`.
    pub const CHECKSUM: u16 = RD_DATA | 31;
    /// `cmpext`.
    pub const CMPEXT: u16 = RD_DATA | 32;

    /// `write`: extent + data in.
    pub const WRITE: u16 = WR_DATA | 1;
    /// `writefull`: data in, replaces the object.
    pub const WRITEFULL: u16 = WR_DATA | 2;
    /// `truncate`: `extent.offset` is the new size.
    pub const TRUNCATE: u16 = WR_DATA | 3;
    /// `zero`.
    pub const ZERO: u16 = WR_DATA | 4;
    /// `delete`.
    pub const DELETE: u16 = WR_DATA | 5;
    /// `append`.
    pub const APPEND: u16 = WR_DATA | 6;
    /// `startsync`.
    pub const STARTSYNC: u16 = WR_DATA | 7;
    /// `settrunc`.
    pub const SETTRUNC: u16 = WR_DATA | 8;
    /// `trimtrunc`.
    pub const TRIMTRUNC: u16 = WR_DATA | 9;
    /// `tmapup`.
    pub const TMAPUP: u16 = RMW_DATA | 10;
    /// `tmapput`.
    pub const TMAPPUT: u16 = WR_DATA | 11;
    /// `create` (op flag `EXCL` for exclusive).
    pub const CREATE: u16 = WR_DATA | 13;
    /// `rollback`.
    pub const ROLLBACK: u16 = WR_DATA | 14;
    /// `watch`.
    pub const WATCH: u16 = WR_DATA | 15;
    /// `omap-set-vals`.
    pub const OMAPSETVALS: u16 = WR_DATA | 21;
    /// `omap-set-header`.
    pub const OMAPSETHEADER: u16 = WR_DATA | 22;
    /// `omap-clear`.
    pub const OMAPCLEAR: u16 = WR_DATA | 23;
    /// `omap-rm-keys`.
    pub const OMAPRMKEYS: u16 = WR_DATA | 24;
    /// `copy-from`.
    pub const COPY_FROM: u16 = WR_DATA | 26;
    /// `undirty`.
    pub const UNDIRTY: u16 = WR_DATA | 28;
    /// `cache-flush`.
    pub const CACHE_FLUSH: u16 = CACHE_DATA | 31;
    /// `cache-evict`.
    pub const CACHE_EVICT: u16 = CACHE_DATA | 32;
    /// `cache-try-flush`.
    pub const CACHE_TRY_FLUSH: u16 = CACHE_DATA | 33;
    /// `tmap2omap`.
    pub const TMAP2OMAP: u16 = RMW_DATA | 34;
    /// `set-alloc-hint` (sent by `rados bench write` before each write).
    pub const SETALLOCHINT: u16 = WR_DATA | 35;
    /// `cache-pin`.
    pub const CACHE_PIN: u16 = WR_DATA | 36;
    /// `cache-unpin`.
    pub const CACHE_UNPIN: u16 = WR_DATA | 37;
    /// `write-same`.
    pub const WRITESAME: u16 = WR_DATA | 38;
    /// `set-redirect`.
    pub const SET_REDIRECT: u16 = WR_DATA | 39;
    /// `set-chunk`.
    pub const SET_CHUNK: u16 = WR_DATA | 40;
    /// `tier-promote`.
    pub const TIER_PROMOTE: u16 = WR_DATA | 41;

    /// `getxattr`: name in, value out.
    pub const GETXATTR: u16 = RD_ATTR | 1;
    /// `getxattrs`: out `map<string, bufferlist>`.
    pub const GETXATTRS: u16 = RD_ATTR | 2;
    /// `cmpxattr`.
    pub const CMPXATTR: u16 = RD_ATTR | 3;
    /// `setxattr`: name then value in.
    pub const SETXATTR: u16 = WR_ATTR | 1;
    /// `setxattrs`.
    pub const SETXATTRS: u16 = WR_ATTR | 2;
    /// `resetxattrs`.
    pub const RESETXATTRS: u16 = WR_ATTR | 3;
    /// `rmxattr`: name in.
    pub const RMXATTR: u16 = WR_ATTR | 4;

    /// `call` (object class method). Its RD bit is wrong by design; see
    /// [`super::op_is_read`].
    pub const CALL: u16 = MODE_RD | TYPE_EXEC | 1;

    /// `pgls` (legacy listing).
    pub const PGLS: u16 = RD_PG | 1;
    /// `pgls-filter`.
    pub const PGLS_FILTER: u16 = RD_PG | 2;
    /// `pg-hitset-ls`.
    pub const PG_HITSET_LS: u16 = RD_PG | 3;
    /// `pg-hitset-get`.
    pub const PG_HITSET_GET: u16 = RD_PG | 4;
    /// `pgnls`: the listing `rados ls` uses.
    pub const PGNLS: u16 = RD_PG | 5;
    /// `pgnls-filter`.
    pub const PGNLS_FILTER: u16 = RD_PG | 6;
    /// `scrubls`.
    pub const SCRUBLS: u16 = RD_PG | 7;
}

/// Op codes and the names `ceph_osd_op_name` prints (rados.h).
const OP_NAMES: &[(u16, &str)] = &[
    (op::READ, "read"),
    (op::STAT, "stat"),
    (op::MAPEXT, "mapext"),
    (op::MASKTRUNC, "masktrunc"),
    (op::SPARSE_READ, "sparse-read"),
    (op::NOTIFY, "notify"),
    (op::NOTIFY_ACK, "notify-ack"),
    (op::ASSERT_VER, "assert-version"),
    (op::LIST_WATCHERS, "list-watchers"),
    (op::LIST_SNAPS, "list-snaps"),
    (op::SYNC_READ, "sync_read"),
    (op::TMAPGET, "tmapget"),
    (op::OMAPGETKEYS, "omap-get-keys"),
    (op::OMAPGETVALS, "omap-get-vals"),
    (op::OMAPGETHEADER, "omap-get-header"),
    (op::OMAPGETVALSBYKEYS, "omap-get-vals-by-keys"),
    (op::OMAP_CMP, "omap-cmp"),
    (op::ISDIRTY, "isdirty"),
    (op::COPY_GET, "copy-get"),
    (op::CHECKSUM, "checksum"),
    (op::CMPEXT, "cmpext"),
    (op::WRITE, "write"),
    (op::WRITEFULL, "writefull"),
    (op::TRUNCATE, "truncate"),
    (op::ZERO, "zero"),
    (op::DELETE, "delete"),
    (op::APPEND, "append"),
    (op::STARTSYNC, "startsync"),
    (op::SETTRUNC, "settrunc"),
    (op::TRIMTRUNC, "trimtrunc"),
    (op::TMAPUP, "tmapup"),
    (op::TMAPPUT, "tmapput"),
    (op::CREATE, "create"),
    (op::ROLLBACK, "rollback"),
    (op::WATCH, "watch"),
    (op::OMAPSETVALS, "omap-set-vals"),
    (op::OMAPSETHEADER, "omap-set-header"),
    (op::OMAPCLEAR, "omap-clear"),
    (op::OMAPRMKEYS, "omap-rm-keys"),
    (op::COPY_FROM, "copy-from"),
    (op::UNDIRTY, "undirty"),
    (op::CACHE_FLUSH, "cache-flush"),
    (op::CACHE_EVICT, "cache-evict"),
    (op::CACHE_TRY_FLUSH, "cache-try-flush"),
    (op::TMAP2OMAP, "tmap2omap"),
    (op::SETALLOCHINT, "set-alloc-hint"),
    (op::CACHE_PIN, "cache-pin"),
    (op::CACHE_UNPIN, "cache-unpin"),
    (op::WRITESAME, "write-same"),
    (op::SET_REDIRECT, "set-redirect"),
    (op::SET_CHUNK, "set-chunk"),
    (op::TIER_PROMOTE, "tier-promote"),
    (op::GETXATTR, "getxattr"),
    (op::GETXATTRS, "getxattrs"),
    (op::CMPXATTR, "cmpxattr"),
    (op::SETXATTR, "setxattr"),
    (op::SETXATTRS, "setxattrs"),
    (op::RESETXATTRS, "resetxattrs"),
    (op::RMXATTR, "rmxattr"),
    (op::CALL, "call"),
    (op::PGLS, "pgls"),
    (op::PGLS_FILTER, "pgls-filter"),
    (op::PG_HITSET_LS, "pg-hitset-ls"),
    (op::PG_HITSET_GET, "pg-hitset-get"),
    (op::PGNLS, "pgnls"),
    (op::PGNLS_FILTER, "pgnls-filter"),
    (op::SCRUBLS, "scrubls"),
];

/// The name Ceph prints for an op code (`ceph_osd_op_name`), `"???"` for
/// codes not listed in [`op`].
pub fn op_name(code: u16) -> &'static str {
    OP_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("???", |(_, n)| n)
}

/// `ceph_osd_op_mode_read`: the op may read. `CALL` carries the RD bit but
/// is excluded, as rados.h does (a class method may write).
pub fn op_is_read(code: u16) -> bool {
    code & op::MODE_RD != 0 && code != op::CALL
}

/// `ceph_osd_op_mode_modify`: the op may write (the WR bit; RMW ops too).
pub fn op_is_write(code: u16) -> bool {
    code & op::MODE_WR != 0
}

/// `ceph_osd_op_mode_cache`.
pub fn op_is_cache(code: u16) -> bool {
    code & op::MODE_CACHE != 0
}

/// `ceph_osd_op_type_data`.
pub fn op_type_data(code: u16) -> bool {
    code & op::TYPE == op::TYPE_DATA
}

/// `ceph_osd_op_type_attr`.
pub fn op_type_attr(code: u16) -> bool {
    code & op::TYPE == op::TYPE_ATTR
}

/// `ceph_osd_op_type_exec`.
pub fn op_type_exec(code: u16) -> bool {
    code & op::TYPE == op::TYPE_EXEC
}

/// `ceph_osd_op_type_pg`: the op addresses a PG, not an object (PGNLS).
pub fn op_type_pg(code: u16) -> bool {
    code & op::TYPE == op::TYPE_PG
}

/// `ceph_osd_op_uses_extent`: the op's argument union is an extent.
pub fn op_uses_extent(code: u16) -> bool {
    matches!(
        code,
        op::READ
            | op::MAPEXT
            | op::MASKTRUNC
            | op::SPARSE_READ
            | op::SYNC_READ
            | op::WRITE
            | op::WRITEFULL
            | op::TRUNCATE
            | op::ZERO
            | op::APPEND
            | op::TRIMTRUNC
            | op::CMPEXT
    )
}

/// `CEPH_OSD_FLAG_*`: message flags (MOSDOp `flags`, MOSDOpReply `flags`).
pub mod flag {
    /// Want (or is) an "ack" reply.
    pub const ACK: u32 = 0x0001;
    /// Want (or is) an "onnvram" reply.
    pub const ONNVRAM: u32 = 0x0002;
    /// Want (or is) an "ondisk" reply; Pacific clients always set it.
    pub const ONDISK: u32 = 0x0004;
    /// Resend attempt.
    pub const RETRY: u32 = 0x0008;
    /// The op may read.
    pub const READ: u32 = 0x0010;
    /// The op may write.
    pub const WRITE: u32 = 0x0020;
    /// EOLDSNAPC if the snap context is out of order.
    pub const ORDERSNAP: u32 = 0x0040;
    /// Deprecated.
    pub const PEERSTAT_OLD: u32 = 0x0080;
    /// Balance reads across replicas.
    pub const BALANCE_READS: u32 = 0x0100;
    /// Execute in parallel.
    pub const PARALLELEXEC: u32 = 0x0200;
    /// A PG op (no object): set with PGNLS.
    pub const PGOP: u32 = 0x0400;
    /// The op may exec.
    pub const EXEC: u32 = 0x0800;
    /// Deprecated.
    pub const EXEC_PUBLIC: u32 = 0x1000;
    /// Read from a nearby replica.
    pub const LOCALIZE_READS: u32 = 0x2000;
    /// Order with respect to concurrent reads.
    pub const RWORDERED: u32 = 0x4000;
    /// Ignore cache logic.
    pub const IGNORE_CACHE: u32 = 0x8000;
    /// Skip rw locks.
    pub const SKIPRWLOCKS: u32 = 0x10000;
    /// Ignore the pool overlay (set with PGNLS).
    pub const IGNORE_OVERLAY: u32 = 0x20000;
    /// Part of a flush.
    pub const FLUSH: u32 = 0x40000;
    /// Map a snap directly to a clone id.
    pub const MAP_SNAP_CLONE: u32 = 0x80000;
    /// Use the given snap context even if the pool uses pool snaps.
    pub const ENFORCE_SNAPC: u32 = 0x100000;
    /// The op has been redirected.
    pub const REDIRECTED: u32 = 0x200000;
    /// The redirect bit is authoritative (Objecter always sets it).
    pub const KNOWN_REDIR: u32 = 0x400000;
    /// Try the op despite the full flag.
    pub const FULL_TRY: u32 = 0x800000;
    /// Force the op despite the full flag.
    pub const FULL_FORCE: u32 = 0x1000000;
    /// Ignore redirection.
    pub const IGNORE_REDIRECT: u32 = 0x2000000;
    /// Return per-op rvals and outdata even for writes (Octopus+).
    pub const RETURNVEC: u32 = 0x4000000;
}

/// `CEPH_OSD_OP_FLAG_*`: per-op flags (`ceph_osd_op.flags`).
pub mod op_flag {
    /// Exclusive create.
    pub const EXCL: u32 = 0x1;
    /// Continue despite this op's failure.
    pub const FAILOK: u32 = 0x2;
    /// fadvise: random access.
    pub const FADVISE_RANDOM: u32 = 0x4;
    /// fadvise: sequential access.
    pub const FADVISE_SEQUENTIAL: u32 = 0x8;
    /// fadvise: needed soon.
    pub const FADVISE_WILLNEED: u32 = 0x10;
    /// fadvise: not needed soon.
    pub const FADVISE_DONTNEED: u32 = 0x20;
    /// fadvise: accessed once.
    pub const FADVISE_NOCACHE: u32 = 0x40;
}

/// `CEPH_OSD_CMPXATTR_OP_*` and `CEPH_OSD_CMPXATTR_MODE_*`.
pub mod cmpxattr {
    /// Equal.
    pub const OP_EQ: u8 = 1;
    /// Not equal.
    pub const OP_NE: u8 = 2;
    /// Greater than.
    pub const OP_GT: u8 = 3;
    /// Greater or equal.
    pub const OP_GTE: u8 = 4;
    /// Less than.
    pub const OP_LT: u8 = 5;
    /// Less or equal.
    pub const OP_LTE: u8 = 6;
    /// Compare as strings.
    pub const MODE_STRING: u8 = 1;
    /// Compare as u64.
    pub const MODE_U64: u8 = 2;
}

/// `CEPH_OSD_WATCH_OP_*` (`ceph_osd_op.watch.op`).
pub mod watch_op {
    /// Unwatch.
    pub const UNWATCH: u8 = 0;
    /// Legacy watch.
    pub const LEGACY_WATCH: u8 = 1;
    /// Watch.
    pub const WATCH: u8 = 3;
    /// Reconnect.
    pub const RECONNECT: u8 = 5;
    /// Ping.
    pub const PING: u8 = 7;
}

// ---------------------------------------------------------------------------
// A cursor whose errors name the field being read
// ---------------------------------------------------------------------------

/// Replaces the structure name carried by a [`DecodeError`] with `what`.
fn rename(e: DecodeError, what: &'static str) -> DecodeError {
    match e {
        DecodeError::Truncated {
            needed, available, ..
        } => DecodeError::Truncated {
            what,
            needed,
            available,
        },
        DecodeError::TooLong { len, limit, .. } => DecodeError::TooLong { what, len, limit },
        DecodeError::Trailing { trailing, .. } => DecodeError::Trailing { what, trailing },
        DecodeError::IncompatibleVersion {
            compat, supported, ..
        } => DecodeError::IncompatibleVersion {
            what,
            compat,
            supported,
        },
        DecodeError::InvalidValue { value, .. } => DecodeError::InvalidValue { what, value },
        DecodeError::InvalidUtf8 { .. } => DecodeError::InvalidUtf8 { what },
    }
}

/// A [`Reader`] whose every read names the field it reads.
struct Cur<'a> {
    r: Reader<'a>,
}

impl<'a> Cur<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Cur {
            r: Reader::new(buf, what),
        }
    }

    fn position(&self) -> usize {
        self.r.position()
    }

    fn remaining(&self) -> usize {
        self.r.remaining()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.r.take(n).map_err(|e| rename(e, what))
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.r.u8().map_err(|e| rename(e, what))
    }

    fn i8(&mut self, what: &'static str) -> Result<i8, DecodeError> {
        Ok(i8::from_le_bytes([self.u8(what)?]))
    }

    fn bool(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        Ok(self.u8(what)? != 0)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.r.u16_le().map_err(|e| rename(e, what))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.r.u32_le().map_err(|e| rename(e, what))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, DecodeError> {
        self.r.i32_le().map_err(|e| rename(e, what))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        self.r.u64_le().map_err(|e| rename(e, what))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        self.r.i64_le().map_err(|e| rename(e, what))
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        self.r.array().map_err(|e| rename(e, what))
    }

    /// A Ceph `string` / `bufferlist`: le32 length (checked against `limit`),
    /// then the bytes.
    fn bytes(&mut self, limit: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.r.bytes_le32(limit).map_err(|e| rename(e, what))
    }

    /// A le32 element count, checked against `limit` and the bytes left.
    fn count(
        &mut self,
        limit: usize,
        min_elem: usize,
        what: &'static str,
    ) -> Result<usize, DecodeError> {
        self.r
            .count_le32(limit, min_elem)
            .map_err(|e| rename(e, what))
    }

    /// `ENCODE_START` header; returns the struct version and its body.
    fn versioned(
        &mut self,
        what: &'static str,
        supported: u8,
        limit: usize,
    ) -> Result<(u8, Cur<'a>), DecodeError> {
        let (v, body) = self
            .r
            .versioned(what, supported, limit)
            .map_err(|e| rename(e, what))?;
        Ok((v, Cur { r: body }))
    }

    fn expect_end(&self, what: &'static str) -> Result<(), DecodeError> {
        self.r.expect_end().map_err(|e| rename(e, what))
    }
}

/// `whole[start..end]` as a refcounted slice; an out-of-range request (a bug,
/// never produced by the decoders here) is an error rather than a panic.
fn slice_of(
    whole: &Bytes,
    start: usize,
    end: usize,
    what: &'static str,
) -> Result<Bytes, DecodeError> {
    if start <= end && end <= whole.len() {
        Ok(whole.slice(start..end))
    } else {
        Err(DecodeError::Truncated {
            what,
            needed: end.saturating_sub(start),
            available: whole.len().saturating_sub(start),
        })
    }
}

/// Reads a `bufferlist` from `c` (a cursor over `whole`) as a slice of `whole`.
fn bytes_value(
    c: &mut Cur<'_>,
    whole: &Bytes,
    limit: usize,
    what: &'static str,
) -> Result<Bytes, DecodeError> {
    let v = c.bytes(limit, what)?;
    let end = c.position();
    slice_of(whole, end - v.len(), end, what)
}

/// Runs a field-naming decoder `f` on an external [`Reader`], advancing it
/// past what `f` consumed (the public `parse` functions below).
fn parse_with<'a, T>(
    r: &mut Reader<'a>,
    f: impl FnOnce(&mut Cur<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut c = Cur { r: r.clone() };
    let v = f(&mut c)?;
    *r = c.r;
    Ok(v)
}

/// Converts a local length to the le32 Ceph puts on the wire. Lengths here
/// come from our own structures; one beyond `u32::MAX` is a bug in this
/// process, so it saturates (and the peer will then reject the message)
/// rather than wrapping silently.
fn le32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// One op
// ---------------------------------------------------------------------------

/// `ceph_osd_op.extent` (read, write, writefull, truncate, zero, append, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extent {
    /// Byte offset.
    pub offset: u64,
    /// Length (a read of 0 reads to the end; the reply carries what was read).
    pub length: u64,
    /// Truncate size (CephFS).
    pub truncate_size: u64,
    /// Truncate sequence (CephFS).
    pub truncate_seq: u32,
}

/// `ceph_osd_op.xattr` (getxattr, setxattr, rmxattr, cmpxattr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XattrArgs {
    /// Length of the name at the start of `indata`.
    pub name_len: u32,
    /// Length of the value after the name in `indata` (set: the value; the
    /// OSD sets it to the value length in a getxattr reply).
    pub value_len: u32,
    /// [`cmpxattr`] `OP_*`.
    pub cmp_op: u8,
    /// [`cmpxattr`] `MODE_*`.
    pub cmp_mode: u8,
}

/// `ceph_osd_op.cls` (call): `indata` is class name, method name, then input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClsArgs {
    /// Class name length.
    pub class_len: u8,
    /// Method name length.
    pub method_len: u8,
    /// Unused argument count.
    pub argc: u8,
    /// Length of the method input after the names.
    pub indata_len: u32,
}

/// `ceph_osd_op.pgls` (pgls, pgnls). rados.h has no cookie here: the PGNLS
/// cursor travels in `indata` as an `hobject_t` ([`OsdOp::pgnls_cursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PglsArgs {
    /// Most entries wanted (the OSD caps it at `osd_max_pgls`).
    pub count: u64,
    /// Epoch the listing started in (0 on the first request).
    pub start_epoch: u32,
}

/// `ceph_osd_op.watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchArgs {
    /// Watch cookie.
    pub cookie: u64,
    /// No longer used.
    pub ver: u64,
    /// [`watch_op`].
    pub op: u8,
    /// Registration generation.
    pub gen: u32,
    /// Connection timeout (seconds).
    pub timeout: u32,
}

/// `ceph_osd_op.alloc_hint` (set-alloc-hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllocHintArgs {
    /// Expected object size.
    pub expected_object_size: u64,
    /// Expected write size.
    pub expected_write_size: u64,
    /// `CEPH_OSD_ALLOC_HINT_FLAG_*`.
    pub flags: u32,
}

/// One element of the ops vector: `struct ceph_osd_op` (rados.h, 38 packed
/// bytes: `le16 op, le32 flags, 28-byte union, le32 payload_len`) plus the
/// `OSDOp` members that travel outside it (osd_types.h): the per-op return
/// value (reply front) and the in/out data (data segment).
///
/// The union is kept as raw bytes ([`OsdOp::args`]); the typed views below
/// read and write it at the offsets rados.h gives. `payload_len` is not
/// stored: on the wire it is `indata.len()` in a request and
/// `outdata.len()` in a reply, and decoding slices exactly that much.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OsdOp {
    /// `CEPH_OSD_OP_*` ([`op`]).
    pub op: u16,
    /// `CEPH_OSD_OP_FLAG_*` ([`op_flag`]).
    pub flags: u32,
    /// The raw 28-byte argument union.
    pub args: [u8; OSD_OP_ARGS_LEN],
    /// The op's return value (MOSDOpReply only; 0 in requests).
    pub rval: i32,
    /// Input data (request data segment).
    pub indata: Bytes,
    /// Output data (reply data segment).
    pub outdata: Bytes,
}

fn get_u32(a: &[u8; OSD_OP_ARGS_LEN], off: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&a[off..off + 4]);
    u32::from_le_bytes(b)
}

fn get_u64(a: &[u8; OSD_OP_ARGS_LEN], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&a[off..off + 8]);
    u64::from_le_bytes(b)
}

fn set_u32(a: &mut [u8; OSD_OP_ARGS_LEN], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(a: &mut [u8; OSD_OP_ARGS_LEN], off: usize, v: u64) {
    a[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

impl OsdOp {
    /// An op with code `code` and a zeroed union (as `OSDOp(int)` does).
    pub fn new(code: u16) -> Self {
        OsdOp {
            op: code,
            ..Default::default()
        }
    }

    /// The op's name ([`op_name`]).
    pub fn name(&self) -> &'static str {
        op_name(self.op)
    }

    /// The union read as `extent` (offsets 0, 8, 16, 24).
    pub fn extent(&self) -> Extent {
        Extent {
            offset: get_u64(&self.args, 0),
            length: get_u64(&self.args, 8),
            truncate_size: get_u64(&self.args, 16),
            truncate_seq: get_u32(&self.args, 24),
        }
    }

    /// Writes the union as `extent`.
    pub fn set_extent(&mut self, e: Extent) {
        set_u64(&mut self.args, 0, e.offset);
        set_u64(&mut self.args, 8, e.length);
        set_u64(&mut self.args, 16, e.truncate_size);
        set_u32(&mut self.args, 24, e.truncate_seq);
    }

    /// The union read as `xattr` (offsets 0, 4, 8, 9).
    pub fn xattr(&self) -> XattrArgs {
        XattrArgs {
            name_len: get_u32(&self.args, 0),
            value_len: get_u32(&self.args, 4),
            cmp_op: self.args[8],
            cmp_mode: self.args[9],
        }
    }

    /// Writes the union as `xattr`.
    pub fn set_xattr(&mut self, x: XattrArgs) {
        set_u32(&mut self.args, 0, x.name_len);
        set_u32(&mut self.args, 4, x.value_len);
        self.args[8] = x.cmp_op;
        self.args[9] = x.cmp_mode;
    }

    /// The union read as `cls` (offsets 0, 1, 2, 3).
    pub fn cls(&self) -> ClsArgs {
        ClsArgs {
            class_len: self.args[0],
            method_len: self.args[1],
            argc: self.args[2],
            indata_len: get_u32(&self.args, 3),
        }
    }

    /// Writes the union as `cls`.
    pub fn set_cls(&mut self, c: ClsArgs) {
        self.args[0] = c.class_len;
        self.args[1] = c.method_len;
        self.args[2] = c.argc;
        set_u32(&mut self.args, 3, c.indata_len);
    }

    /// The union read as `pgls` (offsets 0, 8).
    pub fn pgls(&self) -> PglsArgs {
        PglsArgs {
            count: get_u64(&self.args, 0),
            start_epoch: get_u32(&self.args, 8),
        }
    }

    /// Writes the union as `pgls`.
    pub fn set_pgls(&mut self, p: PglsArgs) {
        set_u64(&mut self.args, 0, p.count);
        set_u32(&mut self.args, 8, p.start_epoch);
    }

    /// The union read as `watch` (offsets 0, 8, 16, 17, 21).
    pub fn watch(&self) -> WatchArgs {
        WatchArgs {
            cookie: get_u64(&self.args, 0),
            ver: get_u64(&self.args, 8),
            op: self.args[16],
            gen: get_u32(&self.args, 17),
            timeout: get_u32(&self.args, 21),
        }
    }

    /// Writes the union as `watch`.
    pub fn set_watch(&mut self, w: WatchArgs) {
        set_u64(&mut self.args, 0, w.cookie);
        set_u64(&mut self.args, 8, w.ver);
        self.args[16] = w.op;
        set_u32(&mut self.args, 17, w.gen);
        set_u32(&mut self.args, 21, w.timeout);
    }

    /// The union read as `alloc_hint` (offsets 0, 8, 16).
    pub fn alloc_hint(&self) -> AllocHintArgs {
        AllocHintArgs {
            expected_object_size: get_u64(&self.args, 0),
            expected_write_size: get_u64(&self.args, 8),
            flags: get_u32(&self.args, 16),
        }
    }

    /// Writes the union as `alloc_hint`.
    pub fn set_alloc_hint(&mut self, h: AllocHintArgs) {
        set_u64(&mut self.args, 0, h.expected_object_size);
        set_u64(&mut self.args, 8, h.expected_write_size);
        set_u32(&mut self.args, 16, h.flags);
    }

    /// The union read as `snap.snapid` (rollback) or `notify.cookie`: the
    /// first eight bytes.
    pub fn arg_u64(&self) -> u64 {
        get_u64(&self.args, 0)
    }

    /// `assert_ver.ver` (offset 8).
    pub fn assert_ver(&self) -> u64 {
        get_u64(&self.args, 8)
    }

    /// An extent op (`ObjectOperation::add_data`): the extent length is the
    /// data length unless `length` is given (reads).
    fn with_extent(code: u16, offset: u64, length: u64, indata: Bytes) -> Self {
        let mut o = OsdOp::new(code);
        o.set_extent(Extent {
            offset,
            length,
            ..Default::default()
        });
        o.indata = indata;
        o
    }

    /// READ of `length` bytes at `offset` (0 reads to the end).
    pub fn read(offset: u64, length: u64) -> Self {
        Self::with_extent(op::READ, offset, length, Bytes::new())
    }

    /// STAT.
    pub fn stat() -> Self {
        OsdOp::new(op::STAT)
    }

    /// WRITE of `data` at `offset`.
    pub fn write(offset: u64, data: Bytes) -> Self {
        Self::with_extent(op::WRITE, offset, data.len() as u64, data)
    }

    /// WRITEFULL with `data` (extent 0~len).
    pub fn writefull(data: Bytes) -> Self {
        Self::with_extent(op::WRITEFULL, 0, data.len() as u64, data)
    }

    /// APPEND of `data`.
    pub fn append(data: Bytes) -> Self {
        Self::with_extent(op::APPEND, 0, data.len() as u64, data)
    }

    /// TRUNCATE to `size` (`extent.offset`).
    pub fn truncate(size: u64) -> Self {
        Self::with_extent(op::TRUNCATE, size, 0, Bytes::new())
    }

    /// ZERO of `length` bytes at `offset`.
    pub fn zero(offset: u64, length: u64) -> Self {
        Self::with_extent(op::ZERO, offset, length, Bytes::new())
    }

    /// DELETE.
    pub fn delete() -> Self {
        OsdOp::new(op::DELETE)
    }

    /// CREATE, exclusive (`op_flag::EXCL`) or not.
    pub fn create(exclusive: bool) -> Self {
        let mut o = OsdOp::new(op::CREATE);
        if exclusive {
            o.flags = op_flag::EXCL;
        }
        o
    }

    /// An xattr op (`ObjectOperation::add_xattr`): `indata` = name ‖ value.
    fn with_xattr(code: u16, name: &[u8], value: &[u8]) -> Self {
        let mut o = OsdOp::new(code);
        o.set_xattr(XattrArgs {
            name_len: le32(name.len()),
            value_len: le32(value.len()),
            ..Default::default()
        });
        let mut d = BytesMut::with_capacity(name.len() + value.len());
        d.extend_from_slice(name);
        d.extend_from_slice(value);
        o.indata = d.freeze();
        o
    }

    /// GETXATTR `name`.
    pub fn getxattr(name: &[u8]) -> Self {
        Self::with_xattr(op::GETXATTR, name, &[])
    }

    /// GETXATTRS (all xattrs; out: [`decode_string_map`]).
    pub fn getxattrs() -> Self {
        OsdOp::new(op::GETXATTRS)
    }

    /// SETXATTR `name` = `value`.
    pub fn setxattr(name: &[u8], value: &[u8]) -> Self {
        Self::with_xattr(op::SETXATTR, name, value)
    }

    /// RMXATTR `name`.
    pub fn rmxattr(name: &[u8]) -> Self {
        Self::with_xattr(op::RMXATTR, name, &[])
    }

    /// PGNLS (`ObjectOperation::add_pgls`): `count` entries from `cursor`;
    /// the cursor travels encoded in `indata`.
    pub fn pgnls(count: u64, start_epoch: u32, cursor: &HObject) -> Self {
        let mut o = OsdOp::new(op::PGNLS);
        o.set_pgls(PglsArgs { count, start_epoch });
        let mut d = Vec::new();
        cursor.emit(&mut d);
        o.indata = d.into();
        o
    }

    /// An op whose `indata` is an encoded argument block, with
    /// `extent = {0, len}` as Objecter's omap helpers set it.
    fn with_arg_block(code: u16, block: Vec<u8>) -> Self {
        let len = block.len() as u64;
        Self::with_extent(code, 0, len, block.into())
    }

    /// OMAPGETVALS with `args`.
    pub fn omap_get_vals(args: &OmapGetValsArgs) -> Self {
        Self::with_arg_block(op::OMAPGETVALS, args.to_vec())
    }

    /// OMAPGETKEYS with `args`.
    pub fn omap_get_keys(args: &OmapGetKeysArgs) -> Self {
        Self::with_arg_block(op::OMAPGETKEYS, args.to_vec())
    }

    /// OMAPSETVALS of `entries`.
    pub fn omap_set_vals(entries: &[(Vec<u8>, Bytes)]) -> Self {
        let mut d = Vec::new();
        encode_string_map(entries, &mut d);
        Self::with_arg_block(op::OMAPSETVALS, d)
    }

    /// OMAPRMKEYS of `keys`.
    pub fn omap_rm_keys(keys: &[Vec<u8>]) -> Self {
        let mut d = Vec::new();
        encode_string_set(keys, &mut d);
        Self::with_arg_block(op::OMAPRMKEYS, d)
    }

    /// Splits a SETXATTR / GETXATTR / RMXATTR / CMPXATTR `indata` into the
    /// name (`xattr.name_len` bytes) and the value (`xattr.value_len` bytes
    /// after it), without copying. Fails if the lengths exceed `indata`.
    pub fn xattr_name_value(&self) -> Result<(Bytes, Bytes), DecodeError> {
        let x = self.xattr();
        check_limit("xattr name_len", u64::from(x.name_len), MAX_XATTR_NAME_LEN)?;
        check_limit("xattr value_len", u64::from(x.value_len), MAX_VALUE_LEN)?;
        let name_end = x.name_len as usize;
        let value_end = name_end + x.value_len as usize;
        let name = slice_of(&self.indata, 0, name_end, "xattr name")?;
        let value = slice_of(&self.indata, name_end, value_end, "xattr value")?;
        Ok((name, value))
    }

    /// Decodes a PGNLS `indata`: the `hobject_t` cursor to list from.
    /// Trailing bytes are ignored, as `PrimaryLogPG::do_pg_op` does.
    pub fn pgnls_cursor(&self) -> Result<HObject, DecodeError> {
        let mut c = Cur::new(&self.indata, "PGNLS cursor");
        HObject::read(&mut c)
    }

    /// Appends the 38-byte `ceph_osd_op` with the given `payload_len`.
    fn emit(&self, out: &mut Vec<u8>, payload_len: usize) {
        out.put_u16_le(self.op);
        out.put_u32_le(self.flags);
        out.put_slice(&self.args);
        out.put_u32_le(le32(payload_len));
    }

    /// Reads one `ceph_osd_op`; returns the op (no data yet) and its `payload_len`.
    fn read_raw(c: &mut Cur<'_>) -> Result<(OsdOp, u32), DecodeError> {
        let code = c.u16("ceph_osd_op op")?;
        let flags = c.u32("ceph_osd_op flags")?;
        let args = c.array::<OSD_OP_ARGS_LEN>("ceph_osd_op args")?;
        let payload_len = c.u32("ceph_osd_op payload_len")?;
        check_limit(
            "ceph_osd_op payload_len",
            u64::from(payload_len),
            MAX_OP_PAYLOAD_LEN,
        )?;
        Ok((
            OsdOp {
                op: code,
                flags,
                args,
                ..Default::default()
            },
            payload_len,
        ))
    }
}

/// Hands each op its slice of `data` (`OSDOp::split_osd_op_vector_{in,out}_data`):
/// op `i` takes the next `lens[i]` bytes. The lengths must fit `data`;
/// bytes left over are ignored, as Ceph's split does.
fn split_data(
    ops: &mut [OsdOp],
    lens: &[u32],
    data: &Bytes,
    out: bool,
    what: &'static str,
) -> Result<(), DecodeError> {
    let mut pos = 0usize;
    for (o, &len) in ops.iter_mut().zip(lens) {
        let len = len as usize;
        if len == 0 {
            continue;
        }
        let end = pos.saturating_add(len);
        if end > data.len() {
            return Err(DecodeError::Truncated {
                what,
                needed: len,
                available: data.len() - pos,
            });
        }
        let part = data.slice(pos..end);
        if out {
            o.outdata = part;
        } else {
            o.indata = part;
        }
        pos = end;
    }
    Ok(())
}

/// Joins the ops' data for the data segment without copying when at most
/// one op carries data (`merge_osd_op_vector_{in,out}_data`).
fn join_data<'a>(parts: impl Iterator<Item = &'a Bytes> + Clone) -> Bytes {
    let mut nonempty = parts.clone().filter(|b| !b.is_empty());
    match (nonempty.next(), nonempty.next()) {
        (None, _) => Bytes::new(),
        (Some(only), None) => only.clone(),
        _ => {
            let total: usize = parts.clone().map(Bytes::len).sum();
            let mut m = BytesMut::with_capacity(total);
            for p in parts {
                m.extend_from_slice(p);
            }
            m.freeze()
        }
    }
}

// ---------------------------------------------------------------------------
// Small structs (osd_types.h)
// ---------------------------------------------------------------------------

/// `pg_t` (osd_types.h): `u8 1, u64 pool, u32 seed, i32 -1` (the last was
/// `preferred`). 17 bytes, unversioned. Ordered by pool, then seed, as
/// Ceph's `pg_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PgId {
    /// Pool id (`m_pool`, a `uint64_t` in Ceph; pools are non-negative).
    pub pool: i64,
    /// Placement seed (`m_seed`).
    pub seed: u32,
}

impl PgId {
    /// Encoded size.
    pub const LEN: usize = 17;

    fn read(c: &mut Cur<'_>) -> Result<Self, DecodeError> {
        let _v = c.u8("pg_t version")?;
        let pool = c.i64("pg_t pool")?;
        let seed = c.u32("pg_t seed")?;
        let _preferred = c.i32("pg_t preferred")?;
        Ok(PgId { pool, seed })
    }

    /// Decodes a `pg_t` from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_with(r, Self::read)
    }

    /// Appends the 17-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u8(1);
        out.put_u64_le(self.pool as u64);
        out.put_u32_le(self.seed);
        out.put_u32_le(u32::MAX);
    }
}

/// `shard_id_t::NO_SHARD`: the shard of every replicated-pool PG.
pub const NO_SHARD: i8 = -1;

/// `spg_t` (osd_types.h): `ENCODE_START(1, 1) { pg_t pgid; i8 shard }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpgId {
    /// The PG.
    pub pgid: PgId,
    /// EC shard, [`NO_SHARD`] for replicated pools.
    pub shard: i8,
}

impl Default for SpgId {
    fn default() -> Self {
        SpgId {
            pgid: PgId::default(),
            shard: NO_SHARD,
        }
    }
}

impl SpgId {
    fn read(c: &mut Cur<'_>) -> Result<Self, DecodeError> {
        let (_v, mut b) = c.versioned("spg_t", 1, MAX_STRUCT_LEN)?;
        let pgid = PgId::read(&mut b)?;
        let shard = b.i8("spg_t shard")?;
        Ok(SpgId { pgid, shard })
    }

    /// Decodes an `spg_t` from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_with(r, Self::read)
    }

    /// Appends the 24-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(1, 1, |b| {
            self.pgid.emit(b);
            b.put_u8(self.shard as u8);
        });
    }
}

/// `eversion_t` (osd_types.h): `u64 version` then `u32 epoch` (12 bytes,
/// the raw struct without its padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EVersion {
    /// Version within the epoch.
    pub version: u64,
    /// Epoch.
    pub epoch: u32,
}

impl EVersion {
    /// Encoded size.
    pub const LEN: usize = 12;

    fn read(c: &mut Cur<'_>, what: &'static str) -> Result<Self, DecodeError> {
        let version = c.u64(what)?;
        let epoch = c.u32(what)?;
        Ok(EVersion { version, epoch })
    }

    /// Decodes an `eversion_t` from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_with(r, |c| Self::read(c, "eversion_t"))
    }

    /// Appends the 12-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.version);
        out.put_u32_le(self.epoch);
    }
}

/// `osd_reqid_t` (osd_types.h): `DENC_START(2, 2) { entity_name_t name;
/// u64 tid; i32 inc }`. The name is kept raw (`u8` type, `u64` num): a
/// Pacific Objecter sends the default `entity_name_t()` (type 0, num 0) and
/// the OSD substitutes the message source and header tid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ReqId {
    /// `entity_name_t` type (`CEPH_ENTITY_TYPE_*`, or 0 when unset).
    pub name_type: u8,
    /// `entity_name_t` num.
    pub name_num: u64,
    /// Client transaction id (0 when unset; the header tid is used).
    pub tid: u64,
    /// Client incarnation.
    pub inc: i32,
}

impl ReqId {
    fn read(c: &mut Cur<'_>) -> Result<Self, DecodeError> {
        let (_v, mut b) = c.versioned("osd_reqid_t", 2, MAX_STRUCT_LEN)?;
        Ok(ReqId {
            name_type: b.u8("osd_reqid_t name type")?,
            name_num: b.u64("osd_reqid_t name num")?,
            tid: b.u64("osd_reqid_t tid")?,
            inc: b.i32("osd_reqid_t inc")?,
        })
    }

    /// Decodes an `osd_reqid_t` from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_with(r, Self::read)
    }

    /// Appends the 27-byte encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(2, 2, |b| {
            b.put_u8(self.name_type);
            b.put_u64_le(self.name_num);
            b.put_u64_le(self.tid);
            b.put_u32_le(self.inc as u32);
        });
    }
}

/// `object_locator_t` (osd_types.cc): `ENCODE_START(6, compat) { i64 pool;
/// i32 preferred = -1; string key; string nspace; i64 hash }`, where compat
/// is 3, or 6 when `hash != -1` (`ENCODE_FINISH_NEW_COMPAT`). MOSDOp for a
/// PG op (PGNLS: empty object name) carries the PG's hash here, so compat 6.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectLocator {
    /// Pool id.
    pub pool: i64,
    /// Locator key (placement override), usually empty.
    pub key: Vec<u8>,
    /// Namespace.
    pub nspace: Vec<u8>,
    /// Explicit hash, -1 for none.
    pub hash: i64,
}

impl Default for ObjectLocator {
    fn default() -> Self {
        ObjectLocator {
            pool: -1,
            key: Vec::new(),
            nspace: Vec::new(),
            hash: -1,
        }
    }
}

impl ObjectLocator {
    /// A locator for `pool` and namespace `nspace`, no key, no hash.
    pub fn new(pool: i64, nspace: &[u8]) -> Self {
        ObjectLocator {
            pool,
            nspace: nspace.to_vec(),
            ..Default::default()
        }
    }

    fn read(c: &mut Cur<'_>) -> Result<Self, DecodeError> {
        let (v, mut b) = c.versioned("object_locator_t", 6, MAX_STRUCT_LEN)?;
        if v < 3 {
            // v1/v2 had no length field (DECODE_START_LEGACY_COMPAT_LEN) and
            // predate every client we talk to.
            return Err(DecodeError::InvalidValue {
                what: "object_locator_t struct_v (below 3)",
                value: u64::from(v),
            });
        }
        let pool = b.i64("object_locator_t pool")?;
        let _preferred = b.i32("object_locator_t preferred")?;
        let key = b
            .bytes(MAX_LOCATOR_KEY_LEN, "object_locator_t key")?
            .to_vec();
        let nspace = if v >= 5 {
            b.bytes(MAX_NAMESPACE_LEN, "object_locator_t nspace")?
                .to_vec()
        } else {
            Vec::new()
        };
        let hash = if v >= 6 {
            b.i64("object_locator_t hash")?
        } else {
            -1
        };
        Ok(ObjectLocator {
            pool,
            key,
            nspace,
            hash,
        })
    }

    /// Decodes an `object_locator_t` (versions 3 to 6) from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_with(r, Self::read)
    }

    /// Appends the encoding (version 6, compat 3 or 6).
    pub fn emit(&self, out: &mut Vec<u8>) {
        let compat = if self.hash != -1 { 6 } else { 3 };
        out.put_versioned(6, compat, |b| {
            b.put_u64_le(self.pool as u64);
            b.put_u32_le(u32::MAX);
            b.put_bytes_le32(&self.key);
            b.put_bytes_le32(&self.nspace);
            b.put_u64_le(self.hash as u64);
        });
    }
}

/// `request_redirect_t` (osd_types.cc): `ENCODE_START(1, 1) {
/// object_locator_t redirect_locator; string redirect_object; u32 0 }` (the
/// last is the length of the removed `osd_instructions` bufferlist; decode
/// skips that many bytes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestRedirect {
    /// Where to resend.
    pub locator: ObjectLocator,
    /// New object name, empty to keep the original.
    pub object: Vec<u8>,
}

impl RequestRedirect {
    fn read(c: &mut Cur<'_>) -> Result<Self, DecodeError> {
        let (_v, mut b) = c.versioned("request_redirect_t", 1, MAX_STRUCT_LEN)?;
        let locator = ObjectLocator::read(&mut b)?;
        let object = b
            .bytes(MAX_OBJECT_NAME_LEN, "request_redirect_t redirect_object")?
            .to_vec();
        let _legacy = b.bytes(MAX_STRUCT_LEN, "request_redirect_t osd_instructions")?;
        Ok(RequestRedirect { locator, object })
    }

    /// Decodes a `request_redirect_t` from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_with(r, Self::read)
    }

    /// Appends the encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(1, 1, |b| {
            self.locator.emit(b);
            b.put_bytes_le32(&self.object);
            b.put_u32_le(0);
        });
    }
}

/// Reads a `blkin_trace_info` (Message.cc `decode_trace`) and drops it.
fn skip_trace(c: &mut Cur<'_>) -> Result<(), DecodeError> {
    c.take(TRACE_LEN, "blkin_trace_info").map(|_| ())
}

/// Appends what `Message::encode_trace` writes without a trace: 24 zeros.
fn put_empty_trace(out: &mut Vec<u8>) {
    out.put_slice(&[0u8; TRACE_LEN]);
}

// ---------------------------------------------------------------------------
// MOSDOp
// ---------------------------------------------------------------------------

/// MOSDOp (type 42), header version 8, compat 3 (`src/messages/MOSDOp.h`):
/// a client's ops on one object (or one PG, for PGNLS). Layout: see the
/// module documentation.
///
/// The client's tid is the message header's tid, not part of the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MOsdOp {
    /// The PG the client targets (`spg_t`).
    pub spgid: SpgId,
    /// The object's full 32-bit hash (for PG ops: the PG seed).
    pub hash: u32,
    /// Client's osdmap epoch.
    pub osdmap_epoch: u32,
    /// `CEPH_OSD_FLAG_*` ([`flag`]).
    pub flags: u32,
    /// Request id (usually zero but for `inc`; see [`ReqId`]).
    pub reqid: ReqId,
    /// Client incarnation.
    pub client_inc: u32,
    /// Modification time for writes (zero for reads).
    pub mtime: UTime,
    /// Object locator (pool, key, namespace, hash).
    pub locator: ObjectLocator,
    /// Object name (empty for PG ops).
    pub oid: Vec<u8>,
    /// The ops, with their `indata` sliced from the data segment.
    pub ops: Vec<OsdOp>,
    /// Snapshot to read (`hobj.snap`), [`CEPH_NOSNAP`] for head.
    pub snapid: u64,
    /// Writer's snap context seq.
    pub snap_seq: u64,
    /// Writer's snap context snaps.
    pub snaps: Vec<u64>,
    /// 0 for the first attempt, -1 if unknown.
    pub retry_attempt: i32,
    /// Client's features (informational).
    pub features: u64,
}

impl Default for MOsdOp {
    fn default() -> Self {
        MOsdOp {
            spgid: SpgId::default(),
            hash: 0,
            osdmap_epoch: 0,
            flags: 0,
            reqid: ReqId::default(),
            client_inc: 0,
            mtime: UTime::default(),
            locator: ObjectLocator::default(),
            oid: Vec::new(),
            ops: Vec::new(),
            snapid: CEPH_NOSNAP,
            snap_seq: 0,
            snaps: Vec::new(),
            retry_attempt: -1,
            features: 0,
        }
    }
}

impl MOsdOp {
    /// True if any op is a PG op (PGNLS etc.: no object).
    pub fn is_pg_op(&self) -> bool {
        self.ops.iter().any(|o| op_type_pg(o.op))
    }

    /// True if any op may write.
    pub fn may_write(&self) -> bool {
        self.ops.iter().any(|o| op_is_write(o.op))
    }

    /// True if any op may read.
    pub fn may_read(&self) -> bool {
        self.ops.iter().any(|o| op_is_read(o.op))
    }

    /// Appends the v8 front segment. Each op's `payload_len` is its
    /// `indata` length.
    pub fn encode_front(&self, out: &mut Vec<u8>) {
        self.spgid.emit(out);
        out.put_u32_le(self.hash);
        out.put_u32_le(self.osdmap_epoch);
        out.put_u32_le(self.flags);
        self.reqid.emit(out);
        put_empty_trace(out);
        out.put_u32_le(self.client_inc);
        self.mtime.emit(out);
        self.locator.emit(out);
        out.put_bytes_le32(&self.oid);
        out.put_u16_le(u16::try_from(self.ops.len()).unwrap_or(u16::MAX));
        for o in &self.ops {
            o.emit(out, o.indata.len());
        }
        out.put_u64_le(self.snapid);
        out.put_u64_le(self.snap_seq);
        out.put_u32_le(le32(self.snaps.len()));
        for s in &self.snaps {
            out.put_u64_le(*s);
        }
        out.put_u32_le(self.retry_attempt as u32);
        out.put_u64_le(self.features);
    }

    /// An upper bound of the front segment's length, so that it is encoded
    /// into one allocation (it would grow six times from empty).
    fn front_len_bound(&self) -> usize {
        // Everything of fixed size (spgid, hash, epoch, flags, reqid, trace,
        // client_inc, mtime, the locator's fixed fields, counts, snapid,
        // snap_seq, retry_attempt, features) takes 175 bytes (the test
        // `the_front_is_encoded_in_one_allocation` pins the bound).
        const FIXED: usize = 192;
        FIXED
            .saturating_add(self.locator.key.len())
            .saturating_add(self.locator.nspace.len())
            .saturating_add(self.oid.len())
            .saturating_add(self.ops.len().saturating_mul(OSD_OP_LEN))
            .saturating_add(self.snaps.len().saturating_mul(8))
    }

    /// The data segment: every op's `indata` back to back (no copy when at
    /// most one op has data).
    pub fn data_segment(&self) -> Bytes {
        join_data(self.ops.iter().map(|o| &o.indata))
    }

    /// Decodes a MOSDOp of header version `version` from its front segment
    /// and data segment, slicing each op's `indata` out of `data` without
    /// copying. Only version 8 is decoded: what Pacific (and, per their
    /// sources, Quincy and Reef) clients send to a Nautilus+ OSD. Squid's v9
    /// adds an OpenTelemetry trace and is refused.
    pub fn decode_bytes(version: u16, front: &[u8], data: Bytes) -> Result<Self, DecodeError> {
        check_version(
            "MOSDOp",
            "MOSDOp header version (only 8 is decoded)",
            version,
            <Self as MessagePayload>::HEAD_VERSION,
        )?;
        let mut c = Cur::new(front, "MOSDOp");
        let spgid = SpgId::read(&mut c)?;
        let hash = c.u32("MOSDOp hash")?;
        let osdmap_epoch = c.u32("MOSDOp osdmap_epoch")?;
        let flags = c.u32("MOSDOp flags")?;
        let reqid = ReqId::read(&mut c)?;
        skip_trace(&mut c)?;
        let client_inc = c.u32("MOSDOp client_inc")?;
        let mtime = UTime {
            sec: c.u32("MOSDOp mtime")?,
            nsec: c.u32("MOSDOp mtime")?,
        };
        let locator = ObjectLocator::read(&mut c)?;
        let oid = c.bytes(MAX_OBJECT_NAME_LEN, "MOSDOp oid")?.to_vec();
        let num_ops = c.u16("MOSDOp num_ops")?;
        check_limit("MOSDOp num_ops", u64::from(num_ops), MAX_OPS)?;
        let (mut ops, lens) = read_ops(&mut c, usize::from(num_ops), "MOSDOp ops")?;
        let snapid = c.u64("MOSDOp snapid")?;
        let snap_seq = c.u64("MOSDOp snap_seq")?;
        let n = c.count(MAX_SNAPS, 8, "MOSDOp snaps")?;
        let mut snaps = Vec::with_capacity(n);
        for _ in 0..n {
            snaps.push(c.u64("MOSDOp snaps")?);
        }
        let retry_attempt = c.i32("MOSDOp retry_attempt")?;
        let features = c.u64("MOSDOp features")?;
        c.expect_end("MOSDOp")?;
        split_data(&mut ops, &lens, &data, false, "MOSDOp data segment")?;
        Ok(MOsdOp {
            spgid,
            hash,
            osdmap_epoch,
            flags,
            reqid,
            client_inc,
            mtime,
            locator,
            oid,
            ops,
            snapid,
            snap_seq,
            snaps,
            retry_attempt,
            features,
        })
    }

    /// Builds the [`Message`] (type 42, v8, compat 3, default priority,
    /// `data_off` 0) with transaction id `tid`. The data segment is not
    /// copied when at most one op carries data. Set `priority` on the result
    /// if a different one is wanted.
    pub fn to_message(&self, tid: u64) -> Message {
        let mut front = Vec::with_capacity(self.front_len_bound());
        self.encode_front(&mut front);
        build_message::<Self>(tid, front, self.data_segment())
    }

    /// Decodes a received [`Message`], checking type and compat version,
    /// without copying the data segment.
    pub fn from_message(m: &Message) -> Result<Self, DecodeError> {
        check_header::<Self>(m)?;
        Self::decode_bytes(m.version, &m.front, m.data.clone())
    }
}

/// Rejects every header version but `head` (the layouts differ in the
/// middle, so neither older nor newer encodings can be read as v8).
/// `what` names the message, `what_old` the error for an older version.
fn check_version(
    what: &'static str,
    what_old: &'static str,
    version: u16,
    head: u16,
) -> Result<(), DecodeError> {
    if version > head {
        Err(DecodeError::IncompatibleVersion {
            what,
            compat: u8::try_from(version).unwrap_or(u8::MAX),
            supported: u8::try_from(head).unwrap_or(u8::MAX),
        })
    } else if version < head {
        Err(DecodeError::InvalidValue {
            what: what_old,
            value: u64::from(version),
        })
    } else {
        Ok(())
    }
}

/// Per-op payload lengths of a decoded op vector (the first `n` count);
/// on the stack, as `n` is at most [`MAX_OPS`]: no allocation per message.
type OpLens = [u32; MAX_OPS];

/// Reads `n` ops (38 bytes each, checked against the bytes left first), and
/// their payload lengths. `n` past [`MAX_OPS`] is refused here too, though
/// both callers check their count first: the lengths array holds no more.
fn read_ops(
    c: &mut Cur<'_>,
    n: usize,
    what: &'static str,
) -> Result<(Vec<OsdOp>, OpLens), DecodeError> {
    check_limit(what, n as u64, MAX_OPS)?;
    let needed = n.saturating_mul(OSD_OP_LEN);
    if needed > c.remaining() {
        return Err(DecodeError::Truncated {
            what,
            needed,
            available: c.remaining(),
        });
    }
    let mut ops = Vec::with_capacity(n);
    let mut lens = [0u32; MAX_OPS];
    for len in lens.iter_mut().take(n) {
        let (o, l) = OsdOp::read_raw(c)?;
        ops.push(o);
        *len = l;
    }
    Ok((ops, lens))
}

fn check_header<P: MessagePayload>(m: &Message) -> Result<(), DecodeError> {
    if m.ty != P::TYPE {
        return Err(DecodeError::InvalidValue {
            what: "message type",
            value: u64::from(m.ty),
        });
    }
    if m.compat_version > P::HEAD_VERSION {
        return Err(DecodeError::IncompatibleVersion {
            what: types::type_name(m.ty),
            compat: u8::try_from(m.compat_version).unwrap_or(u8::MAX),
            supported: u8::try_from(P::HEAD_VERSION).unwrap_or(u8::MAX),
        });
    }
    Ok(())
}

fn build_message<P: MessagePayload>(tid: u64, front: Vec<u8>, data: Bytes) -> Message {
    Message {
        ty: P::TYPE,
        tid,
        priority: PRIO_DEFAULT,
        version: P::HEAD_VERSION,
        compat_version: P::COMPAT_VERSION,
        data_off: 0,
        seq: 0,
        front: front.into(),
        middle: Bytes::new(),
        data,
    }
}

/// The generic codec. `decode_segments` copies the data segment once (use
/// [`MOsdOp::from_message`] to avoid it); `encode` is overridden because
/// the data segment is assembled from the ops. `data()` is correct only
/// when at most one op carries data (otherwise it returns nothing), so
/// callers should use `encode`, [`MOsdOp::data_segment`] or
/// [`MOsdOp::to_message`].
impl MessagePayload for MOsdOp {
    const TYPE: u16 = types::OSD_OP;
    const HEAD_VERSION: u16 = 8;
    const COMPAT_VERSION: u16 = 3;

    fn encode_front(&self, out: &mut Vec<u8>) {
        MOsdOp::encode_front(self, out);
    }

    fn data(&self) -> &[u8] {
        single_data(self.ops.iter().map(|o| &o.indata))
    }

    fn encode(&self) -> EncodedMessage {
        let mut front = Vec::new();
        MOsdOp::encode_front(self, &mut front);
        EncodedMessage {
            ty: Self::TYPE,
            version: Self::HEAD_VERSION,
            compat_version: Self::COMPAT_VERSION,
            front,
            middle: Vec::new(),
            data: self.data_segment().to_vec(),
        }
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        data: &[u8],
    ) -> Result<Self, DecodeError> {
        Self::decode_bytes(version, front, Bytes::copy_from_slice(data))
    }
}

/// The only non-empty part, or an empty slice.
fn single_data<'a>(parts: impl Iterator<Item = &'a Bytes>) -> &'a [u8] {
    let mut nonempty = parts.filter(|b| !b.is_empty());
    match (nonempty.next(), nonempty.next()) {
        (Some(only), None) => only,
        _ => &[],
    }
}

// ---------------------------------------------------------------------------
// MOSDOpReply
// ---------------------------------------------------------------------------

/// MOSDOpReply (type 43), header version 8, compat 2, as a Pacific OSD
/// encodes it for a client with `NEW_OSDOPREPLY_ENCODING`
/// (`src/messages/MOSDOpReply.h`). Layout: see the module documentation.
///
/// The reply's header tid must be the request's tid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MOsdOpReply {
    /// Object name (the request's).
    pub oid: Vec<u8>,
    /// The request's PG (`spgid.pgid`).
    pub pgid: PgId,
    /// `CEPH_OSD_FLAG_*` (an `int64_t` on the wire).
    pub flags: u64,
    /// Overall result: 0 (or a non-negative count, e.g. 1 at the end of a
    /// PGNLS PG) or a negative errno.
    pub result: i32,
    /// Legacy version field (see [`MOsdOpReply::set_reply_versions`]).
    pub bad_replay_version: EVersion,
    /// OSD's osdmap epoch.
    pub osdmap_epoch: u32,
    /// The ops with `rval` and `outdata`.
    pub ops: Vec<OsdOp>,
    /// The request's `retry_attempt`.
    pub retry_attempt: i32,
    /// PG log version of a write.
    pub replay_version: EVersion,
    /// Object's user version.
    pub user_version: u64,
    /// `do_redirect` and the redirect; `None` for a normal reply.
    pub redirect: Option<RequestRedirect>,
}

impl Default for MOsdOpReply {
    fn default() -> Self {
        MOsdOpReply {
            oid: Vec::new(),
            pgid: PgId::default(),
            flags: 0,
            result: 0,
            bad_replay_version: EVersion::default(),
            osdmap_epoch: 0,
            ops: Vec::new(),
            retry_attempt: -1,
            replay_version: EVersion::default(),
            user_version: 0,
            redirect: None,
        }
    }
}

impl MOsdOpReply {
    /// A reply to `req` as `MOSDOpReply(req, result, epoch, acktype, ...)`
    /// builds it: the request's oid, PG and `retry_attempt`; flags = the
    /// request's without `ONDISK|ONNVRAM|ACK`, plus `ack_flags` (a Pacific
    /// OSD replies with `ACK | ONDISK` for reads and writes); the request's
    /// ops (code, flags, union) with `indata` dropped and `outdata` / `rval`
    /// empty for the caller to fill.
    ///
    /// A Pacific OSD drops every op's `outdata` on a successful write unless
    /// the request has [`flag::RETURNVEC`]; that policy is the caller's.
    pub fn for_request(req: &MOsdOp, result: i32, osdmap_epoch: u32, ack_flags: u32) -> Self {
        let keep = req.flags & !(flag::ONDISK | flag::ONNVRAM | flag::ACK);
        MOsdOpReply {
            oid: req.oid.clone(),
            pgid: req.spgid.pgid,
            flags: u64::from(keep | ack_flags),
            result,
            osdmap_epoch,
            ops: req
                .ops
                .iter()
                .map(|o| OsdOp {
                    op: o.op,
                    flags: o.flags,
                    args: o.args,
                    ..Default::default()
                })
                .collect(),
            retry_attempt: req.retry_attempt,
            ..Default::default()
        }
    }

    /// `set_reply_versions(v, uv)`: `replay_version = v`, `user_version =
    /// uv`, and `bad_replay_version = v` with its version replaced by `uv`
    /// when `uv` is non-zero (what pre-Firefly clients read).
    pub fn set_reply_versions(&mut self, v: EVersion, uv: u64) {
        self.replay_version = v;
        self.user_version = uv;
        self.bad_replay_version = v;
        if uv != 0 {
            self.bad_replay_version.version = uv;
        }
    }

    /// `set_enoent_reply_versions(v, uv)`: for a read that found nothing.
    pub fn set_enoent_reply_versions(&mut self, v: EVersion, uv: u64) {
        self.user_version = uv;
        self.bad_replay_version = v;
    }

    /// Appends the v8 front segment. Each op's `payload_len` is its
    /// `outdata` length.
    pub fn encode_front(&self, out: &mut Vec<u8>) {
        out.put_bytes_le32(&self.oid);
        self.pgid.emit(out);
        out.put_u64_le(self.flags);
        out.put_u32_le(self.result as u32);
        self.bad_replay_version.emit(out);
        out.put_u32_le(self.osdmap_epoch);
        out.put_u32_le(le32(self.ops.len()));
        for o in &self.ops {
            o.emit(out, o.outdata.len());
        }
        out.put_u32_le(self.retry_attempt as u32);
        for o in &self.ops {
            out.put_u32_le(o.rval as u32);
        }
        self.replay_version.emit(out);
        out.put_u64_le(self.user_version);
        match &self.redirect {
            Some(r) => {
                out.put_u8(1);
                r.emit(out);
            }
            None => out.put_u8(0),
        }
        put_empty_trace(out);
    }

    /// The data segment: every op's `outdata` back to back.
    pub fn data_segment(&self) -> Bytes {
        join_data(self.ops.iter().map(|o| &o.outdata))
    }

    /// Decodes a v8 MOSDOpReply, slicing each op's `outdata` out of `data`
    /// without copying.
    pub fn decode_bytes(version: u16, front: &[u8], data: Bytes) -> Result<Self, DecodeError> {
        check_version(
            "MOSDOpReply",
            "MOSDOpReply header version (only 8 is decoded)",
            version,
            <Self as MessagePayload>::HEAD_VERSION,
        )?;
        let mut c = Cur::new(front, "MOSDOpReply");
        let oid = c.bytes(MAX_OBJECT_NAME_LEN, "MOSDOpReply oid")?.to_vec();
        let pgid = PgId::read(&mut c)?;
        let flags = c.u64("MOSDOpReply flags")?;
        let result = c.i32("MOSDOpReply result")?;
        let bad_replay_version = EVersion::read(&mut c, "MOSDOpReply bad_replay_version")?;
        let osdmap_epoch = c.u32("MOSDOpReply osdmap_epoch")?;
        let n = c.count(MAX_OPS, OSD_OP_LEN, "MOSDOpReply num_ops")?;
        let (mut ops, lens) = read_ops(&mut c, n, "MOSDOpReply ops")?;
        let retry_attempt = c.i32("MOSDOpReply retry_attempt")?;
        for o in ops.iter_mut() {
            o.rval = c.i32("MOSDOpReply rval")?;
        }
        let replay_version = EVersion::read(&mut c, "MOSDOpReply replay_version")?;
        let user_version = c.u64("MOSDOpReply user_version")?;
        let redirect = if c.bool("MOSDOpReply do_redirect")? {
            Some(RequestRedirect::read(&mut c)?)
        } else {
            None
        };
        skip_trace(&mut c)?;
        c.expect_end("MOSDOpReply")?;
        split_data(&mut ops, &lens, &data, true, "MOSDOpReply data segment")?;
        Ok(MOsdOpReply {
            oid,
            pgid,
            flags,
            result,
            bad_replay_version,
            osdmap_epoch,
            ops,
            retry_attempt,
            replay_version,
            user_version,
            redirect,
        })
    }

    /// Builds the [`Message`] (type 43, v8, compat 2) with the request's `tid`.
    pub fn to_message(&self, tid: u64) -> Message {
        let mut front = Vec::with_capacity(self.front_len_bound());
        self.encode_front(&mut front);
        build_message::<Self>(tid, front, self.data_segment())
    }

    /// An upper bound of the front segment's length (one allocation, as
    /// [`MOsdOp`]'s).
    fn front_len_bound(&self) -> usize {
        // Fixed-size fields: 101 bytes; a redirect adds its locator's 34
        // and three lengths.
        const FIXED: usize = 128;
        const REDIRECT: usize = 64;
        let redirect = self.redirect.as_ref().map_or(0, |r| {
            REDIRECT
                .saturating_add(r.locator.key.len())
                .saturating_add(r.locator.nspace.len())
                .saturating_add(r.object.len())
        });
        FIXED
            .saturating_add(self.oid.len())
            .saturating_add(self.ops.len().saturating_mul(OSD_OP_LEN + 4))
            .saturating_add(redirect)
    }

    /// Decodes a received [`Message`] without copying the data segment.
    pub fn from_message(m: &Message) -> Result<Self, DecodeError> {
        check_header::<Self>(m)?;
        Self::decode_bytes(m.version, &m.front, m.data.clone())
    }
}

/// The generic codec; see the notes on `impl MessagePayload for MOsdOp`.
impl MessagePayload for MOsdOpReply {
    const TYPE: u16 = types::OSD_OPREPLY;
    const HEAD_VERSION: u16 = 8;
    const COMPAT_VERSION: u16 = 2;

    fn encode_front(&self, out: &mut Vec<u8>) {
        MOsdOpReply::encode_front(self, out);
    }

    fn data(&self) -> &[u8] {
        single_data(self.ops.iter().map(|o| &o.outdata))
    }

    fn encode(&self) -> EncodedMessage {
        let mut front = Vec::new();
        MOsdOpReply::encode_front(self, &mut front);
        EncodedMessage {
            ty: Self::TYPE,
            version: Self::HEAD_VERSION,
            compat_version: Self::COMPAT_VERSION,
            front,
            middle: Vec::new(),
            data: self.data_segment().to_vec(),
        }
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        data: &[u8],
    ) -> Result<Self, DecodeError> {
        Self::decode_bytes(version, front, Bytes::copy_from_slice(data))
    }
}

// ---------------------------------------------------------------------------
// Per-op payloads
// ---------------------------------------------------------------------------

/// STAT outdata (`PrimaryLogPG::do_osd_ops` `CEPH_OSD_OP_STAT`:
/// `encode(oi.size); encode(oi.mtime)`): `u64 size`, then `utime_t` (u32
/// sec, u32 nsec); librados decodes the time as `ceph::real_time`, which has
/// the same 8-byte encoding. A missing object is result `-ENOENT`, no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatResult {
    /// Object size in bytes.
    pub size: u64,
    /// Last modification time.
    pub mtime: UTime,
}

impl StatResult {
    /// Encoded size.
    pub const LEN: usize = 16;

    /// The 16-byte outdata.
    pub fn to_bytes(self) -> Bytes {
        let mut v = Vec::with_capacity(Self::LEN);
        v.put_u64_le(self.size);
        self.mtime.emit(&mut v);
        v.into()
    }

    /// Decodes the outdata (exactly 16 bytes).
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cur::new(b, "STAT outdata");
        let size = c.u64("STAT size")?;
        let mtime = UTime {
            sec: c.u32("STAT mtime")?,
            nsec: c.u32("STAT mtime")?,
        };
        c.expect_end("STAT outdata")?;
        Ok(StatResult { size, mtime })
    }
}

/// `hobject_t` (common/hobject.cc): `ENCODE_START(4, 3) { string key;
/// string oid; u64 snap; u32 hash; bool max; string nspace; i64 pool }`.
/// The PGNLS cursor and `pg_nls_response_t::handle`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HObject {
    /// Locator key (empty unless it differs from the name).
    pub key: Vec<u8>,
    /// Object name.
    pub oid: Vec<u8>,
    /// Snap id.
    pub snap: u64,
    /// Full 32-bit hash.
    pub hash: u32,
    /// The maximum object (sorts after everything).
    pub max: bool,
    /// Namespace.
    pub nspace: Vec<u8>,
    /// Pool (`i64::MIN` in the default, minimum object).
    pub pool: i64,
}

impl Default for HObject {
    /// `hobject_t()`: snap 0, hash 0, not max, pool `INT64_MIN` — the
    /// cursor a listing starts from.
    fn default() -> Self {
        HObject {
            key: Vec::new(),
            oid: Vec::new(),
            snap: 0,
            hash: 0,
            max: false,
            nspace: Vec::new(),
            pool: i64::MIN,
        }
    }
}

impl HObject {
    /// `hobject_t::get_max()`: the default object with `max` set.
    pub fn max_value() -> Self {
        HObject {
            max: true,
            ..Default::default()
        }
    }

    /// `hobject_t::is_min()`.
    pub fn is_min(&self) -> bool {
        self.snap == 0 && self.hash == 0 && !self.max && self.pool == i64::MIN
    }

    /// `hobject_t::get_bitwise_key_u32`: the bit-reversed hash, the order in
    /// which a bitwise-sorted PG lists its objects.
    pub fn bitwise_key(&self) -> u32 {
        self.hash.reverse_bits()
    }

    fn read(c: &mut Cur<'_>) -> Result<Self, DecodeError> {
        let (v, mut b) = c.versioned("hobject_t", 4, MAX_STRUCT_LEN)?;
        if v < 4 {
            return Err(DecodeError::InvalidValue {
                what: "hobject_t struct_v (below 4)",
                value: u64::from(v),
            });
        }
        Ok(HObject {
            key: b.bytes(MAX_LOCATOR_KEY_LEN, "hobject_t key")?.to_vec(),
            oid: b.bytes(MAX_OBJECT_NAME_LEN, "hobject_t oid")?.to_vec(),
            snap: b.u64("hobject_t snap")?,
            hash: b.u32("hobject_t hash")?,
            max: b.bool("hobject_t max")?,
            nspace: b.bytes(MAX_NAMESPACE_LEN, "hobject_t nspace")?.to_vec(),
            pool: b.i64("hobject_t pool")?,
        })
    }

    /// Decodes an `hobject_t` (version 4) from `r`.
    pub fn parse(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        parse_with(r, Self::read)
    }

    /// Decodes one `hobject_t` from `b`; trailing bytes are an error.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cur::new(b, "hobject_t");
        let h = Self::read(&mut c)?;
        c.expect_end("hobject_t")?;
        Ok(h)
    }

    /// Appends the encoding (version 4, compat 3).
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(4, 3, |b| {
            b.put_bytes_le32(&self.key);
            b.put_bytes_le32(&self.oid);
            b.put_u64_le(self.snap);
            b.put_u32_le(self.hash);
            b.put_u8(u8::from(self.max));
            b.put_bytes_le32(&self.nspace);
            b.put_u64_le(self.pool as u64);
        });
    }
}

/// `librados::ListObjectImpl` as `pg_nls_response_t` encodes it: three
/// strings, namespace, name, locator key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ListObject {
    /// Namespace.
    pub nspace: Vec<u8>,
    /// Object name.
    pub oid: Vec<u8>,
    /// Locator key (empty unless set).
    pub locator: Vec<u8>,
}

/// PGNLS outdata, `pg_nls_response_t` (osd_types.h): `ENCODE_START(1, 1) {
/// hobject_t handle; u32 n; n x (string nspace, string oid, string locator) }`.
///
/// What a Pacific OSD does (`PrimaryLogPG::do_pg_op`): it lists at most
/// `min(pgls.count, osd_max_pgls)` head objects of the PG from the cursor in
/// `indata`, in the request's namespace (`"\x01"`, librados `all_nspaces`,
/// matches every namespace). When the PG is exhausted it sets the reply's
/// `result` to 1 and `handle` to the PG's end (`pg_t::get_hobj_end`: the
/// first object of the next PG in bitwise order, or the max object for the
/// last one); otherwise `handle` is the next object to list. The reply's
/// op `rval` stays 0. Objecter moves to the next PG on result 1 or a max
/// handle. Decoding ignores bytes after the response (older OSDs appended
/// a filter's extra info, which Objecter skips).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgNlsResponse {
    /// Where the next request continues.
    pub handle: HObject,
    /// The objects listed.
    pub entries: Vec<ListObject>,
}

impl PgNlsResponse {
    /// Appends the encoding.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.put_versioned(1, 1, |b| {
            self.handle.emit(b);
            b.put_u32_le(le32(self.entries.len()));
            for e in &self.entries {
                b.put_bytes_le32(&e.nspace);
                b.put_bytes_le32(&e.oid);
                b.put_bytes_le32(&e.locator);
            }
        });
    }

    /// The encoding as outdata.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::new();
        self.emit(&mut v);
        v.into()
    }

    /// Decodes PGNLS outdata.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cur::new(b, "pg_nls_response_t");
        let (_v, mut body) = c.versioned("pg_nls_response_t", 1, MAX_VALUE_LEN)?;
        let handle = HObject::read(&mut body)?;
        let n = body.count(MAX_PGNLS_ENTRIES, 12, "pg_nls_response_t entries")?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            entries.push(ListObject {
                nspace: body
                    .bytes(MAX_NAMESPACE_LEN, "pg_nls_response_t nspace")?
                    .to_vec(),
                oid: body
                    .bytes(MAX_OBJECT_NAME_LEN, "pg_nls_response_t oid")?
                    .to_vec(),
                locator: body
                    .bytes(MAX_LOCATOR_KEY_LEN, "pg_nls_response_t locator")?
                    .to_vec(),
            });
        }
        Ok(PgNlsResponse { handle, entries })
    }
}

/// Appends a `map<string, bufferlist>` in key order (std::map order is
/// bytewise): GETXATTRS outdata, OMAPSETVALS indata, OMAPGETVALS and
/// OMAPGETVALSBYKEYS outdata. Keys should be distinct.
pub fn encode_string_map(entries: &[(Vec<u8>, Bytes)], out: &mut Vec<u8>) {
    let mut sorted: Vec<&(Vec<u8>, Bytes)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    out.put_u32_le(le32(sorted.len()));
    for (k, v) in sorted {
        out.put_bytes_le32(k);
        out.put_bytes_le32(v);
    }
}

/// Reads a `map<string, bufferlist>` from `c` (a cursor over `whole`),
/// values sliced from `whole`.
fn read_string_map(
    c: &mut Cur<'_>,
    whole: &Bytes,
    what: &'static str,
) -> Result<Vec<(Vec<u8>, Bytes)>, DecodeError> {
    let n = c.count(MAX_MAP_ENTRIES, 8, what)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let k = c.bytes(MAX_KEY_LEN, what)?.to_vec();
        let val = bytes_value(c, whole, MAX_VALUE_LEN, what)?;
        v.push((k, val));
    }
    Ok(v)
}

/// Decodes a whole `map<string, bufferlist>` (exactly; trailing bytes are
/// an error), values as slices of `b`.
pub fn decode_string_map(b: &Bytes) -> Result<Vec<(Vec<u8>, Bytes)>, DecodeError> {
    let mut c = Cur::new(b, "map<string,bufferlist>");
    let v = read_string_map(&mut c, b, "map<string,bufferlist>")?;
    c.expect_end("map<string,bufferlist>")?;
    Ok(v)
}

/// Appends a `set<string>` in order: OMAPRMKEYS and OMAPGETVALSBYKEYS
/// indata, OMAPGETKEYS outdata.
pub fn encode_string_set(keys: &[Vec<u8>], out: &mut Vec<u8>) {
    let mut sorted: Vec<&Vec<u8>> = keys.iter().collect();
    sorted.sort();
    out.put_u32_le(le32(sorted.len()));
    for k in sorted {
        out.put_bytes_le32(k);
    }
}

fn read_string_set(c: &mut Cur<'_>, what: &'static str) -> Result<Vec<Vec<u8>>, DecodeError> {
    let n = c.count(MAX_MAP_ENTRIES, 4, what)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(c.bytes(MAX_KEY_LEN, what)?.to_vec());
    }
    Ok(v)
}

/// Decodes a whole `set<string>` (exactly).
pub fn decode_string_set(b: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
    let mut c = Cur::new(b, "set<string>");
    let v = read_string_set(&mut c, "set<string>")?;
    c.expect_end("set<string>")?;
    Ok(v)
}

/// OMAPGETVALS indata (`ObjectOperation::omap_get_vals`): `string
/// start_after; u64 max_to_get; string filter_prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OmapGetValsArgs {
    /// List keys after this one.
    pub start_after: Vec<u8>,
    /// Most entries wanted.
    pub max_return: u64,
    /// Only keys with this prefix.
    pub filter_prefix: Vec<u8>,
}

impl OmapGetValsArgs {
    /// The encoded indata.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_bytes_le32(&self.start_after);
        v.put_u64_le(self.max_return);
        v.put_bytes_le32(&self.filter_prefix);
        v
    }

    /// Decodes the indata; trailing bytes are ignored, as the OSD does.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cur::new(b, "OMAPGETVALS indata");
        Ok(OmapGetValsArgs {
            start_after: c.bytes(MAX_KEY_LEN, "OMAPGETVALS start_after")?.to_vec(),
            max_return: c.u64("OMAPGETVALS max_return")?,
            filter_prefix: c.bytes(MAX_KEY_LEN, "OMAPGETVALS filter_prefix")?.to_vec(),
        })
    }
}

/// OMAPGETKEYS indata (`ObjectOperation::omap_get_keys`): `string
/// start_after; u64 max_to_get`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OmapGetKeysArgs {
    /// List keys after this one.
    pub start_after: Vec<u8>,
    /// Most keys wanted.
    pub max_return: u64,
}

impl OmapGetKeysArgs {
    /// The encoded indata.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.put_bytes_le32(&self.start_after);
        v.put_u64_le(self.max_return);
        v
    }

    /// Decodes the indata; trailing bytes are ignored, as the OSD does.
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cur::new(b, "OMAPGETKEYS indata");
        Ok(OmapGetKeysArgs {
            start_after: c.bytes(MAX_KEY_LEN, "OMAPGETKEYS start_after")?.to_vec(),
            max_return: c.u64("OMAPGETKEYS max_return")?,
        })
    }
}

/// OMAPGETVALS outdata (`PrimaryLogPG::do_osd_ops`): `map<string,
/// bufferlist>` then `bool more` (truncated at `max_return` or the OSD's
/// byte limit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OmapVals {
    /// Key/value pairs in key order.
    pub entries: Vec<(Vec<u8>, Bytes)>,
    /// More entries follow.
    pub more: bool,
}

impl OmapVals {
    /// The encoded outdata.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::new();
        encode_string_map(&self.entries, &mut v);
        v.put_u8(u8::from(self.more));
        v.into()
    }

    /// Decodes the outdata (exactly), values as slices of `b`.
    pub fn decode(b: &Bytes) -> Result<Self, DecodeError> {
        let mut c = Cur::new(b, "OMAPGETVALS outdata");
        let entries = read_string_map(&mut c, b, "OMAPGETVALS entries")?;
        let more = c.bool("OMAPGETVALS more")?;
        c.expect_end("OMAPGETVALS outdata")?;
        Ok(OmapVals { entries, more })
    }
}

/// OMAPGETKEYS outdata: `set<string>` then `bool more`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OmapKeys {
    /// Keys in order.
    pub keys: Vec<Vec<u8>>,
    /// More keys follow.
    pub more: bool,
}

impl OmapKeys {
    /// The encoded outdata.
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::new();
        encode_string_set(&self.keys, &mut v);
        v.put_u8(u8::from(self.more));
        v.into()
    }

    /// Decodes the outdata (exactly).
    pub fn decode(b: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cur::new(b, "OMAPGETKEYS outdata");
        let keys = read_string_set(&mut c, "OMAPGETKEYS keys")?;
        let more = c.bool("OMAPGETKEYS more")?;
        c.expect_end("OMAPGETKEYS outdata")?;
        Ok(OmapKeys { keys, more })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::hex;

    /// A MOSDOp writefull of "abc" to "obj" in pool 2 (PG 2.7), field by
    /// field from `MOSDOp::encode_payload` (v8) and the types it encodes.
    const WRITEFULL_FRONT: &str = concat!(
        // spg_t: ENCODE_START(1, 1, 18) pg_t{v 1, pool 2, seed 7, preferred -1}, shard -1
        "0101",
        "12000000",
        "01",
        "0200000000000000",
        "07000000",
        "ffffffff",
        "ff",
        // hash 0x4a5b6c77
        "776c5b4a",
        // osdmap_epoch 12
        "0c000000",
        // flags WRITE|ONDISK|KNOWN_REDIR
        "24004000",
        // osd_reqid_t: DENC_START(2, 2, 21) name{type 0, num 0}, tid 0, inc 0
        "0202",
        "15000000",
        "00",
        "0000000000000000",
        "0000000000000000",
        "00000000",
        // blkin_trace_info {0, 0, 0}
        "000000000000000000000000000000000000000000000000",
        // client_inc 0
        "00000000",
        // mtime 1700000000.500000000
        "00f15365",
        "0065cd1d",
        // object_locator_t: ENCODE_START(6, 3, 28) pool 2, preferred -1, key "", nspace "", hash -1
        "0603",
        "1c000000",
        "0200000000000000",
        "ffffffff",
        "00000000",
        "00000000",
        "ffffffffffffffff",
        // oid "obj"
        "03000000",
        "6f626a",
        // num_ops 1
        "0100",
        // ceph_osd_op: WRITEFULL 0x2202, flags 0, extent{0, 3, 0, 0}, payload_len 3
        "0222",
        "00000000",
        "0000000000000000",
        "0300000000000000",
        "0000000000000000",
        "00000000",
        "03000000",
        // snapid CEPH_NOSNAP, snap_seq 0, snaps []
        "feffffffffffffff",
        "0000000000000000",
        "00000000",
        // retry_attempt 0
        "00000000",
        // features 0x0123456789abcdef
        "efcdab8967452301",
    );

    /// The reply a Pacific OSD sends for it: ack|ondisk, result 0, the op
    /// with rval 0 and no outdata, versions 12'5 / uv 5.
    const WRITEFULL_REPLY_FRONT: &str = concat!(
        // oid "obj"
        "03000000",
        "6f626a",
        // pg_t {v 1, pool 2, seed 7, preferred -1}
        "01",
        "0200000000000000",
        "07000000",
        "ffffffff",
        // flags (i64) WRITE|KNOWN_REDIR|ACK|ONDISK
        "2500400000000000",
        // result 0
        "00000000",
        // bad_replay_version {version 5, epoch 12}
        "0500000000000000",
        "0c000000",
        // osdmap_epoch 12
        "0c000000",
        // num_ops 1 (u32)
        "01000000",
        // ceph_osd_op: WRITEFULL, flags 0, extent{0, 3, 0, 0}, payload_len 0
        "0222",
        "00000000",
        "0000000000000000",
        "0300000000000000",
        "0000000000000000",
        "00000000",
        "00000000",
        // retry_attempt 0
        "00000000",
        // rval[0] 0
        "00000000",
        // replay_version {5, 12}
        "0500000000000000",
        "0c000000",
        // user_version 5
        "0500000000000000",
        // do_redirect false
        "00",
        // blkin_trace_info
        "000000000000000000000000000000000000000000000000",
    );

    fn writefull_msg() -> MOsdOp {
        MOsdOp {
            spgid: SpgId {
                pgid: PgId { pool: 2, seed: 7 },
                shard: NO_SHARD,
            },
            hash: 0x4a5b_6c77,
            osdmap_epoch: 12,
            flags: flag::WRITE | flag::ONDISK | flag::KNOWN_REDIR,
            reqid: ReqId::default(),
            client_inc: 0,
            mtime: UTime::new(1_700_000_000, 500_000_000),
            locator: ObjectLocator::new(2, b""),
            oid: b"obj".to_vec(),
            ops: vec![OsdOp::writefull(Bytes::from_static(b"abc"))],
            snapid: CEPH_NOSNAP,
            snap_seq: 0,
            snaps: vec![],
            retry_attempt: 0,
            features: 0x0123_4567_89ab_cdef,
        }
    }

    /// `bound` holds an encoding of `len` bytes with at most `slack` to spare.
    fn assert_tight_bound(len: usize, bound: usize, slack: usize) {
        assert!(len <= bound, "{len} > {bound}");
        assert!(bound - len <= slack, "bound {bound} for {len}");
    }

    #[test]
    fn the_front_is_encoded_in_one_allocation() {
        let mut empty = writefull_msg();
        empty.oid.clear();
        empty.ops.clear();
        for m in [empty, writefull_msg(), sample_op()] {
            let mut front = Vec::new();
            m.encode_front(&mut front);
            assert_tight_bound(front.len(), m.front_len_bound(), 32);
            assert_eq!(&m.to_message(1).front[..], &front[..]);
        }
        let mut redirected = sample_reply();
        redirected.redirect = Some(RequestRedirect {
            locator: ObjectLocator {
                pool: 9,
                key: b"key".to_vec(),
                nspace: b"ns".to_vec(),
                hash: -1,
            },
            object: b"elsewhere".to_vec(),
        });
        let mut bare = sample_reply();
        bare.ops.clear();
        bare.oid.clear();
        for r in [bare, sample_reply(), redirected] {
            let mut front = Vec::new();
            r.encode_front(&mut front);
            assert_tight_bound(front.len(), r.front_len_bound(), 48);
            assert_eq!(&r.to_message(1).front[..], &front[..]);
        }
    }

    fn sample_op() -> MOsdOp {
        let mut m = writefull_msg();
        m.locator = ObjectLocator {
            pool: 2,
            key: b"k".to_vec(),
            nspace: b"ns".to_vec(),
            hash: -1,
        };
        m.oid = vec![0xff, 0x00, b'x'];
        m.snaps = vec![3, 2, 1];
        m.snap_seq = 3;
        let mut hint = OsdOp::new(op::SETALLOCHINT);
        hint.set_alloc_hint(AllocHintArgs {
            expected_object_size: 4 << 20,
            expected_write_size: 4 << 20,
            flags: 0,
        });
        m.ops = vec![
            OsdOp::create(true),
            hint,
            OsdOp::write(4096, Bytes::from_static(b"hello world")),
            OsdOp::setxattr(b"user.a", b"value"),
            OsdOp::stat(),
            OsdOp::omap_set_vals(&[(b"k1".to_vec(), Bytes::from_static(b"v1"))]),
        ];
        m
    }

    fn sample_reply() -> MOsdOpReply {
        let req = sample_op();
        let mut r = MOsdOpReply::for_request(&req, 0, 13, flag::ACK | flag::ONDISK);
        r.ops[2].rval = 0;
        r.ops[3].rval = -61;
        r.ops[4].outdata = StatResult {
            size: 11,
            mtime: UTime::new(5, 6),
        }
        .to_bytes();
        r.ops[5].outdata = Bytes::from_static(b"more-out");
        r.set_reply_versions(
            EVersion {
                version: 7,
                epoch: 13,
            },
            9,
        );
        r
    }

    #[test]
    fn writefull_golden_bytes() {
        let front = hex(WRITEFULL_FRONT);
        let m = MOsdOp::decode_bytes(8, &front, Bytes::from_static(b"abc")).unwrap();
        assert_eq!(m, writefull_msg());
        assert_eq!(m.ops[0].name(), "writefull");
        assert_eq!(
            m.ops[0].extent(),
            Extent {
                offset: 0,
                length: 3,
                truncate_size: 0,
                truncate_seq: 0
            }
        );
        assert_eq!(&m.ops[0].indata[..], b"abc");
        let enc = m.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (42, 8, 3));
        assert_eq!(enc.front, front);
        assert_eq!(enc.data, b"abc");
        assert!(m.may_write() && !m.may_read() && !m.is_pg_op());
        // The generic path agrees.
        assert_eq!(MOsdOp::decode_encoded(&enc).unwrap(), m);
    }

    #[test]
    fn writefull_reply_golden_bytes() {
        let req = writefull_msg();
        let mut r = MOsdOpReply::for_request(&req, 0, 12, flag::ACK | flag::ONDISK);
        r.set_reply_versions(
            EVersion {
                version: 5,
                epoch: 12,
            },
            5,
        );
        let enc = r.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (43, 8, 2));
        assert_eq!(enc.front, hex(WRITEFULL_REPLY_FRONT));
        assert!(enc.data.is_empty());
        let back = MOsdOpReply::decode_bytes(8, &enc.front, Bytes::new()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.oid, b"obj");
        assert_eq!(back.pgid, PgId { pool: 2, seed: 7 });
    }

    #[test]
    fn request_round_trip_many_ops() {
        let m = sample_op();
        let msg = m.to_message(77);
        assert_eq!(
            (msg.ty, msg.tid, msg.version, msg.compat_version),
            (42, 77, 8, 3)
        );
        assert_eq!(msg.data.len(), 11 + 6 + 5 + m.ops[5].indata.len());
        let back = MOsdOp::from_message(&msg).unwrap();
        assert_eq!(back, m);
        // Each op's indata is a slice of the received data segment.
        let base = msg.data.as_ptr() as usize;
        let w = back.ops[2].indata.as_ptr() as usize;
        assert!(w >= base && w < base + msg.data.len());
        let (name, value) = back.ops[3].xattr_name_value().unwrap();
        assert_eq!((&name[..], &value[..]), (&b"user.a"[..], &b"value"[..]));
        assert_eq!(back.ops[0].flags, op_flag::EXCL);
        assert_eq!(back.ops[1].alloc_hint().expected_object_size, 4 << 20);
        let vals = decode_string_map(&back.ops[5].indata).unwrap();
        assert_eq!(vals, [(b"k1".to_vec(), Bytes::from_static(b"v1"))]);
        // The generic codec copies once but agrees.
        assert_eq!(MOsdOp::decode_encoded(&m.encode()).unwrap(), m);
    }

    #[test]
    fn single_data_op_is_not_copied() {
        let data = Bytes::from(vec![7u8; 4096]);
        let mut m = writefull_msg();
        m.ops = vec![OsdOp::stat(), OsdOp::write(0, data.clone())];
        let seg = m.data_segment();
        assert_eq!(seg.as_ptr(), data.as_ptr());
        assert_eq!(<MOsdOp as MessagePayload>::data(&m).as_ptr(), data.as_ptr());
        m.ops.push(OsdOp::append(Bytes::from_static(b"zz")));
        assert_eq!(m.data_segment().len(), 4098);
        assert!(<MOsdOp as MessagePayload>::data(&m).is_empty());
    }

    #[test]
    fn reply_round_trip_with_outdata_and_redirect() {
        let r = sample_reply();
        assert_eq!(
            r.flags,
            u64::from(flag::WRITE | flag::KNOWN_REDIR | flag::ACK | flag::ONDISK)
        );
        assert_eq!(
            r.bad_replay_version,
            EVersion {
                version: 9,
                epoch: 13
            }
        );
        assert!(r.ops.iter().all(|o| o.indata.is_empty()));
        let msg = r.to_message(5);
        assert_eq!((msg.ty, msg.version, msg.compat_version), (43, 8, 2));
        let back = MOsdOpReply::from_message(&msg).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.ops[3].rval, -61);
        let st = StatResult::decode(&back.ops[4].outdata).unwrap();
        assert_eq!(st.size, 11);

        let mut red = r.clone();
        red.redirect = Some(RequestRedirect {
            locator: ObjectLocator {
                pool: 9,
                key: vec![],
                nspace: b"n".to_vec(),
                hash: 1234,
            },
            object: b"other".to_vec(),
        });
        let enc = red.encode();
        assert_eq!(MOsdOpReply::decode_encoded(&enc).unwrap(), red);
        cuts_fail_reply(&enc.front, &enc.data);
    }

    fn cuts_fail_op(front: &[u8], data: &[u8]) {
        for cut in 0..front.len() {
            assert!(
                MOsdOp::decode_bytes(8, &front[..cut], Bytes::copy_from_slice(data)).is_err(),
                "MOSDOp front cut at {cut} decoded"
            );
        }
        let mut long = front.to_vec();
        long.push(0);
        assert!(MOsdOp::decode_bytes(8, &long, Bytes::copy_from_slice(data)).is_err());
    }

    fn cuts_fail_reply(front: &[u8], data: &[u8]) {
        for cut in 0..front.len() {
            assert!(
                MOsdOpReply::decode_bytes(8, &front[..cut], Bytes::copy_from_slice(data)).is_err(),
                "MOSDOpReply front cut at {cut} decoded"
            );
        }
        let mut long = front.to_vec();
        long.push(0);
        assert!(MOsdOpReply::decode_bytes(8, &long, Bytes::copy_from_slice(data)).is_err());
    }

    #[test]
    fn every_truncation_fails() {
        let front = hex(WRITEFULL_FRONT);
        cuts_fail_op(&front, b"abc");
        let enc = sample_op().encode();
        cuts_fail_op(&enc.front, &enc.data);
        let enc = sample_reply().encode();
        cuts_fail_reply(&enc.front, &enc.data);
        // Data segment cuts: any shortfall is an error.
        for cut in 0..enc.data.len() {
            assert!(MOsdOpReply::decode_bytes(
                8,
                &enc.front,
                Bytes::copy_from_slice(&enc.data[..cut])
            )
            .is_err());
        }
    }

    #[test]
    fn payload_beyond_data_segment_fails() {
        let front = hex(WRITEFULL_FRONT);
        let err = MOsdOp::decode_bytes(8, &front, Bytes::from_static(b"ab")).unwrap_err();
        assert_eq!(
            err,
            DecodeError::Truncated {
                what: "MOSDOp data segment",
                needed: 3,
                available: 2
            }
        );
        // Two ops whose lengths together exceed the segment.
        let mut m = writefull_msg();
        m.ops.push(OsdOp::write(3, Bytes::from_static(b"defg")));
        let enc = m.encode();
        assert!(
            MOsdOp::decode_bytes(8, &enc.front, Bytes::copy_from_slice(&enc.data[..6])).is_err()
        );
        // Extra data after the last op is ignored, as Ceph's split does.
        let mut more = enc.data.clone();
        more.extend_from_slice(b"junk");
        assert_eq!(MOsdOp::decode_bytes(8, &enc.front, more.into()).unwrap(), m);
        // A payload_len above the limit is TooLong before any slicing.
        let mut f = front.clone();
        let at = f.len() - 8 - 4 - 4 - 8 - 8 - 4;
        f[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            MOsdOp::decode_bytes(8, &f, Bytes::new()),
            Err(DecodeError::TooLong {
                what: "ceph_osd_op payload_len",
                ..
            })
        ));
    }

    #[test]
    fn oversized_counts_and_names_are_too_long() {
        let front = hex(WRITEFULL_FRONT);
        // oid length at offset: spgid 24 + hash 4 + epoch 4 + flags 4 + reqid 27
        // + trace 24 + client_inc 4 + mtime 8 + locator 34 = 133.
        let oid_at = 133;
        assert_eq!(&front[oid_at..oid_at + 7], b"\x03\x00\x00\x00obj");
        let mut f = front.clone();
        f[oid_at..oid_at + 4].copy_from_slice(&(MAX_OBJECT_NAME_LEN as u32 + 1).to_le_bytes());
        assert_eq!(
            MOsdOp::decode_bytes(8, &f, Bytes::from_static(b"abc")).unwrap_err(),
            DecodeError::TooLong {
                what: "MOSDOp oid",
                len: MAX_OBJECT_NAME_LEN as u64 + 1,
                limit: MAX_OBJECT_NAME_LEN
            }
        );
        let ops_at = oid_at + 7;
        let mut f = front.clone();
        f[ops_at..ops_at + 2].copy_from_slice(&(MAX_OPS as u16 + 1).to_le_bytes());
        assert!(matches!(
            MOsdOp::decode_bytes(8, &f, Bytes::from_static(b"abc")),
            Err(DecodeError::TooLong {
                what: "MOSDOp num_ops",
                ..
            })
        ));
        let snaps_at = front.len() - 8 - 4 - 4;
        let mut f = front.clone();
        f[snaps_at..snaps_at + 4].copy_from_slice(&(MAX_SNAPS as u32 + 1).to_le_bytes());
        assert!(matches!(
            MOsdOp::decode_bytes(8, &f, Bytes::from_static(b"abc")),
            Err(DecodeError::TooLong {
                what: "MOSDOp snaps",
                ..
            })
        ));
        // Locator namespace length.
        let ns_at = 99 + 6 + 8 + 4 + 4;
        let mut f = front.clone();
        f[ns_at..ns_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            MOsdOp::decode_bytes(8, &f, Bytes::from_static(b"abc")),
            Err(DecodeError::TooLong {
                what: "object_locator_t nspace",
                ..
            })
        ));
        // Reply op count.
        let rf = hex(WRITEFULL_REPLY_FRONT);
        let n_at = 7 + 17 + 8 + 4 + 12 + 4;
        let mut f = rf.clone();
        f[n_at..n_at + 4].copy_from_slice(&(MAX_OPS as u32 + 1).to_le_bytes());
        assert!(matches!(
            MOsdOpReply::decode_bytes(8, &f, Bytes::new()),
            Err(DecodeError::TooLong {
                what: "MOSDOpReply num_ops",
                ..
            })
        ));
        // A huge map count fails without allocating.
        let huge = Bytes::from_static(&[0xff, 0xff, 0x0f, 0x00]);
        assert!(decode_string_map(&huge).is_err());
        assert!(decode_string_set(&huge).is_err());
    }

    #[test]
    fn versions_and_types_are_checked() {
        let front = hex(WRITEFULL_FRONT);
        assert!(matches!(
            MOsdOp::decode_bytes(7, &front, Bytes::new()),
            Err(DecodeError::InvalidValue { value: 7, .. })
        ));
        assert!(matches!(
            MOsdOp::decode_bytes(9, &front, Bytes::new()),
            Err(DecodeError::IncompatibleVersion {
                what: "MOSDOp",
                compat: 9,
                supported: 8
            })
        ));
        let mut msg = writefull_msg().to_message(1);
        msg.ty = types::OSD_OPREPLY;
        assert!(MOsdOp::from_message(&msg).is_err());
        msg.ty = types::OSD_OP;
        msg.compat_version = 9;
        assert!(MOsdOp::from_message(&msg).is_err());
        // A locator from a newer encoder with compat 7 is refused.
        let mut f = front.clone();
        f[100] = 7;
        assert!(matches!(
            MOsdOp::decode_bytes(8, &f, Bytes::from_static(b"abc")),
            Err(DecodeError::IncompatibleVersion {
                what: "object_locator_t",
                ..
            })
        ));
    }

    #[test]
    fn pg_op_locator_uses_compat_6() {
        let cursor = HObject::default();
        let mut m = writefull_msg();
        m.oid.clear();
        m.flags = flag::READ | flag::PGOP | flag::IGNORE_OVERLAY | flag::ONDISK | flag::KNOWN_REDIR;
        m.locator.hash = 7;
        m.hash = 7;
        m.mtime = UTime::default();
        m.ops = vec![OsdOp::pgnls(1024, 0, &cursor)];
        let enc = m.encode();
        assert_eq!(&enc.front[99..101], &[6, 6]);
        let back = MOsdOp::decode_encoded(&enc).unwrap();
        assert_eq!(back, m);
        assert!(back.is_pg_op() && back.may_read());
        assert_eq!(
            back.ops[0].pgls(),
            PglsArgs {
                count: 1024,
                start_epoch: 0
            }
        );
        let c = back.ops[0].pgnls_cursor().unwrap();
        assert!(c.is_min());
        assert_eq!(c, cursor);
    }

    #[test]
    fn hobject_golden_and_round_trip() {
        // hobject_t(): ENCODE_START(4, 3, 33) key "", oid "", snap 0, hash 0,
        // max false, nspace "", pool INT64_MIN.
        let min = hex(concat!(
            "0403",
            "21000000",
            "00000000",
            "00000000",
            "0000000000000000",
            "00000000",
            "00",
            "00000000",
            "0000000000000080",
        ));
        let mut v = Vec::new();
        HObject::default().emit(&mut v);
        assert_eq!(v, min);
        assert_eq!(HObject::decode(&min).unwrap(), HObject::default());
        let h = HObject {
            key: b"k".to_vec(),
            oid: b"obj".to_vec(),
            snap: CEPH_NOSNAP,
            hash: 0x8000_0001,
            max: false,
            nspace: b"ns".to_vec(),
            pool: 2,
        };
        assert_eq!(h.bitwise_key(), 0x8000_0001);
        let mut v = Vec::new();
        h.emit(&mut v);
        assert_eq!(HObject::decode(&v).unwrap(), h);
        for cut in 0..v.len() {
            assert!(HObject::decode(&v[..cut]).is_err());
        }
        assert!(HObject::max_value().max);
        let mut old = min.clone();
        old[0] = 3;
        assert!(HObject::decode(&old).is_err());
    }

    #[test]
    fn public_parsers_advance_the_reader() {
        let mut v = Vec::new();
        let s = SpgId {
            pgid: PgId { pool: 3, seed: 9 },
            shard: 2,
        };
        s.emit(&mut v);
        let e = EVersion {
            version: 1,
            epoch: 2,
        };
        e.emit(&mut v);
        let q = ReqId {
            name_type: 8,
            name_num: 4100,
            tid: 6,
            inc: 1,
        };
        q.emit(&mut v);
        let l = ObjectLocator::new(3, b"ns");
        l.emit(&mut v);
        let rr = RequestRedirect {
            locator: l.clone(),
            object: b"o".to_vec(),
        };
        rr.emit(&mut v);
        let h = HObject::max_value();
        h.emit(&mut v);
        PgId { pool: 4, seed: 5 }.emit(&mut v);
        assert_eq!(
            v.len(),
            24 + 12 + 27 + (6 + 30) + (6 + 36 + 5 + 4) + (6 + 33) + 17
        );
        let mut r = Reader::new(&v, "t");
        assert_eq!(SpgId::parse(&mut r).unwrap(), s);
        assert_eq!(EVersion::parse(&mut r).unwrap(), e);
        assert_eq!(ReqId::parse(&mut r).unwrap(), q);
        assert_eq!(ObjectLocator::parse(&mut r).unwrap(), l);
        assert_eq!(RequestRedirect::parse(&mut r).unwrap(), rr);
        assert_eq!(HObject::parse(&mut r).unwrap(), h);
        assert_eq!(PgId::parse(&mut r).unwrap(), PgId { pool: 4, seed: 5 });
        r.expect_end().unwrap();
        // A failed parse leaves the reader where it was.
        let mut r = Reader::new(&v[..10], "t");
        assert!(SpgId::parse(&mut r).is_err());
        assert_eq!(r.position(), 0);
        // Older object_locator_t versions decode without the newer fields.
        let mut old = Vec::new();
        old.put_versioned(4, 3, |b| {
            b.put_u64_le(7);
            b.put_u32_le(u32::MAX);
            b.put_bytes_le32(b"key");
        });
        let ol = ObjectLocator::parse(&mut Reader::new(&old, "t")).unwrap();
        assert_eq!(
            (ol.pool, &ol.key[..], ol.nspace.len(), ol.hash),
            (7, &b"key"[..], 0, -1)
        );
    }

    #[test]
    fn pgnls_response_round_trip() {
        let r = PgNlsResponse {
            handle: HObject {
                hash: 0x4000_0000,
                pool: 2,
                snap: CEPH_NOSNAP,
                ..Default::default()
            },
            entries: vec![
                ListObject {
                    nspace: vec![],
                    oid: b"a".to_vec(),
                    locator: vec![],
                },
                ListObject {
                    nspace: b"ns".to_vec(),
                    oid: b"bb".to_vec(),
                    locator: b"loc".to_vec(),
                },
            ],
        };
        let b = r.to_bytes();
        // ENCODE_START(1, 1, len) then the handle.
        assert_eq!(&b[..2], &[1, 1]);
        assert_eq!(&b[6..8], &[4, 3]);
        assert_eq!(PgNlsResponse::decode(&b).unwrap(), r);
        for cut in 0..b.len() {
            assert!(PgNlsResponse::decode(&b[..cut]).is_err());
        }
        // Legacy extra info after the response is ignored.
        let mut more = b.to_vec();
        more.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(PgNlsResponse::decode(&more).unwrap(), r);
        let empty = PgNlsResponse {
            handle: HObject::max_value(),
            entries: vec![],
        };
        assert_eq!(PgNlsResponse::decode(&empty.to_bytes()).unwrap(), empty);
    }

    #[test]
    fn stat_layout() {
        let s = StatResult {
            size: 3,
            mtime: UTime::new(1_700_000_000, 500_000_000),
        };
        let b = s.to_bytes();
        assert_eq!(&b[..], &hex("030000000000000000f153650065cd1d")[..]);
        assert_eq!(StatResult::decode(&b).unwrap(), s);
        assert!(StatResult::decode(&b[..15]).is_err());
        let mut long = b.to_vec();
        long.push(0);
        assert!(StatResult::decode(&long).is_err());
    }

    #[test]
    fn xattr_and_omap_payloads() {
        let g = OsdOp::getxattr(b"user.x");
        assert_eq!(g.xattr().name_len, 6);
        let (n, v) = g.xattr_name_value().unwrap();
        assert_eq!((&n[..], v.len()), (&b"user.x"[..], 0));
        let mut bad = OsdOp::setxattr(b"n", b"v");
        bad.set_xattr(XattrArgs {
            name_len: 1,
            value_len: 5,
            ..Default::default()
        });
        assert!(bad.xattr_name_value().is_err());
        bad.set_xattr(XattrArgs {
            name_len: u32::MAX,
            ..Default::default()
        });
        assert!(matches!(
            bad.xattr_name_value(),
            Err(DecodeError::TooLong {
                what: "xattr name_len",
                ..
            })
        ));

        // GETXATTRS outdata: map<string, bufferlist>, sorted by key.
        let xs = vec![
            (b"b".to_vec(), Bytes::from_static(b"2")),
            (b"a".to_vec(), Bytes::from_static(b"1")),
        ];
        let mut enc = Vec::new();
        encode_string_map(&xs, &mut enc);
        assert_eq!(
            enc,
            hex(concat!(
                "02000000",
                "0100000061",
                "0100000031",
                "0100000062",
                "0100000032"
            ))
        );
        let dec = decode_string_map(&Bytes::from(enc)).unwrap();
        assert_eq!(dec[0].0, b"a");
        assert_eq!(dec[1].1, Bytes::from_static(b"2"));

        let args = OmapGetValsArgs {
            start_after: b"k0".to_vec(),
            max_return: 512,
            filter_prefix: b"k".to_vec(),
        };
        let o = OsdOp::omap_get_vals(&args);
        assert_eq!(o.extent().length, o.indata.len() as u64);
        assert_eq!(OmapGetValsArgs::decode(&o.indata).unwrap(), args);
        let ka = OmapGetKeysArgs {
            start_after: vec![],
            max_return: 10,
        };
        assert_eq!(
            OmapGetKeysArgs::decode(&OsdOp::omap_get_keys(&ka).indata).unwrap(),
            ka
        );
        let vals = OmapVals {
            entries: vec![(b"k1".to_vec(), Bytes::from_static(b"v1"))],
            more: true,
        };
        assert_eq!(OmapVals::decode(&vals.to_bytes()).unwrap(), vals);
        let keys = OmapKeys {
            keys: vec![b"a".to_vec(), b"b".to_vec()],
            more: false,
        };
        assert_eq!(OmapKeys::decode(&keys.to_bytes()).unwrap(), keys);
        let rm = OsdOp::omap_rm_keys(&[b"z".to_vec(), b"a".to_vec()]);
        assert_eq!(
            decode_string_set(&rm.indata).unwrap(),
            [b"a".to_vec(), b"z".to_vec()]
        );
    }

    #[test]
    fn op_codes_modes_and_names() {
        assert_eq!(op::READ, 0x1201);
        assert_eq!(op::WRITEFULL, 0x2202);
        assert_eq!(op::PGNLS, 0x1505);
        assert_eq!(op::SETXATTR, 0x2301);
        assert_eq!(op::SETALLOCHINT, 0x2223);
        assert_eq!(op_name(op::SPARSE_READ), "sparse-read");
        assert_eq!(op_name(op::OMAPGETVALSBYKEYS), "omap-get-vals-by-keys");
        assert_eq!(op_name(0x7777), "???");
        for (code, _) in OP_NAMES {
            assert_eq!(OP_NAMES.iter().filter(|(c, _)| c == code).count(), 1);
        }
        assert!(op_is_read(op::READ) && !op_is_write(op::READ));
        assert!(op_is_write(op::DELETE) && !op_is_read(op::DELETE));
        assert!(op_is_read(op::TMAPUP) && op_is_write(op::TMAPUP));
        assert!(!op_is_read(op::CALL));
        assert!(op_type_pg(op::PGNLS) && !op_type_pg(op::READ));
        assert!(op_type_attr(op::GETXATTR) && op_type_exec(op::CALL) && op_type_data(op::STAT));
        assert!(op_is_cache(op::CACHE_FLUSH));
        assert!(op_uses_extent(op::WRITE) && !op_uses_extent(op::STAT));
    }

    #[test]
    fn union_views_use_rados_h_offsets() {
        let mut o = OsdOp::new(op::WATCH);
        o.set_watch(WatchArgs {
            cookie: 0x0102_0304_0506_0708,
            ver: 9,
            op: watch_op::WATCH,
            gen: 0x0a0b_0c0d,
            timeout: 30,
        });
        assert_eq!(o.args[16], 3);
        assert_eq!(&o.args[17..21], &[0x0d, 0x0c, 0x0b, 0x0a]);
        assert_eq!(o.watch().timeout, 30);
        assert_eq!(o.arg_u64(), 0x0102_0304_0506_0708);
        assert_eq!(o.assert_ver(), 9);
        let mut c = OsdOp::new(op::CALL);
        c.set_cls(ClsArgs {
            class_len: 3,
            method_len: 4,
            argc: 0,
            indata_len: 0x1122_3344,
        });
        assert_eq!(&c.args[..7], &[3, 4, 0, 0x44, 0x33, 0x22, 0x11]);
        assert_eq!(c.cls().indata_len, 0x1122_3344);
        let mut x = OsdOp::new(op::CMPXATTR);
        x.set_xattr(XattrArgs {
            name_len: 1,
            value_len: 2,
            cmp_op: cmpxattr::OP_EQ,
            cmp_mode: cmpxattr::MODE_STRING,
        });
        assert_eq!(&x.args[..10], &[1, 0, 0, 0, 2, 0, 0, 0, 1, 1]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(
            front in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            version in 0u16..12,
        ) {
            let data = Bytes::from(data);
            let _ = MOsdOp::decode_bytes(version, &front, data.clone());
            let _ = MOsdOpReply::decode_bytes(version, &front, data.clone());
            let _ = PgNlsResponse::decode(&front);
            let _ = HObject::decode(&front);
            let _ = StatResult::decode(&front);
            let fb = Bytes::from(front.clone());
            let _ = decode_string_map(&fb);
            let _ = decode_string_set(&front);
            let _ = OmapVals::decode(&fb);
            let _ = OmapKeys::decode(&front);
            let _ = OmapGetValsArgs::decode(&front);
            let _ = OmapGetKeysArgs::decode(&front);
            let mut o = OsdOp::new(op::SETXATTR);
            if front.len() >= OSD_OP_ARGS_LEN {
                o.args.copy_from_slice(&front[..OSD_OP_ARGS_LEN]);
            }
            o.indata = data;
            let _ = o.xattr_name_value();
            let _ = o.pgnls_cursor();
        }

        #[test]
        fn mutated_encodings_never_panic(
            edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..6),
            cut in proptest::prelude::any::<usize>(),
        ) {
            let req = sample_op().encode();
            let rep = sample_reply().encode();
            for (mut front, data) in [(req.front, req.data), (rep.front, rep.data)] {
                for (i, b) in &edits {
                    let n = front.len();
                    front[i % n] = *b;
                }
                let end = front.len() - cut % 8;
                let data = Bytes::from(data);
                let _ = MOsdOp::decode_bytes(8, &front[..end], data.clone());
                let _ = MOsdOpReply::decode_bytes(8, &front[..end], data);
            }
        }
    }
}
