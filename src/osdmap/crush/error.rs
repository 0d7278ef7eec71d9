//! Why a CRUSH map could not be decoded.

use thiserror::Error;

use crate::wire::DecodeError;

/// A CRUSH map that does not decode, or that Ceph's own decoder
/// (`CrushWrapper::decode`, `src/crush/CrushWrapper.cc`) would reject or
/// crash on. Every variant names the field that was wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CrushError {
    /// A field was truncated or a length/count exceeded its limit.
    #[error("crush map {field}: {source}")]
    Decode {
        /// The field being read.
        field: &'static str,
        /// What the cursor reported.
        source: DecodeError,
    },
    /// The map does not start with `CRUSH_MAGIC` (0x00010000).
    #[error("crush map magic: expected 0x00010000, found {found:#010x}")]
    BadMagic {
        /// The value found.
        found: u32,
    },
    /// A count in the header is negative or above our limit.
    #[error("crush map {field}: {value} is outside 0..={limit}")]
    CountOutOfRange {
        /// The header field.
        field: &'static str,
        /// The value read.
        value: i64,
        /// The largest value accepted.
        limit: u32,
    },
    /// A bucket's algorithm is none of uniform, list, tree, straw, straw2.
    #[error("crush map bucket slot {index}: unknown bucket algorithm {alg}")]
    UnknownBucketAlg {
        /// The bucket's slot (its id is `-1 - index`).
        index: usize,
        /// The algorithm number found.
        alg: u32,
    },
    /// The algorithm written before a bucket differs from the one inside it.
    #[error(
        "crush map bucket slot {index}: algorithm {outer} before the bucket but {inner} inside"
    )]
    BucketAlgMismatch {
        /// The bucket's slot.
        index: usize,
        /// The `__u32 alg` before the bucket.
        outer: u32,
        /// The bucket's own `__u8 alg`.
        inner: u8,
    },
    /// A bucket's id is not `-1 - slot`, the only place the mapper looks
    /// for it (`crush_add_bucket` in `src/crush/builder.c`).
    #[error("crush map bucket slot {index}: id {id} out of range (expected {expected})")]
    BucketIdOutOfRange {
        /// The bucket's slot.
        index: usize,
        /// The id it claims.
        id: i32,
        /// `-1 - index`.
        expected: i64,
    },
    /// A `choose_args` entry names a bucket slot past `max_buckets`
    /// (a `ceph_assert` in Ceph).
    #[error("crush map choose_args {choose_args}: bucket index {bucket_index} is not below max_buckets {max_buckets}")]
    ChooseArgBucketOutOfRange {
        /// The choose_args map's key (a pool id, or -1 for the default).
        choose_args: i64,
        /// The bucket slot named.
        bucket_index: u32,
        /// The map's `max_buckets`.
        max_buckets: usize,
    },
    /// A `choose_args` entry's `ids` do not match its bucket's size, or name
    /// an empty slot (a `ceph_assert` or a crash in Ceph).
    #[error("crush map choose_args {choose_args}: bucket index {bucket_index} has {ids} ids but the bucket has {bucket_size:?} items")]
    ChooseArgIdsSize {
        /// The choose_args map's key.
        choose_args: i64,
        /// The bucket slot named.
        bucket_index: u32,
        /// How many ids were given.
        ids: u32,
        /// The bucket's size, `None` if the slot is empty.
        bucket_size: Option<usize>,
    },
}

impl CrushError {
    /// Wraps a cursor error with the field being read.
    pub(crate) fn at(field: &'static str) -> impl Fn(DecodeError) -> CrushError {
        move |source| CrushError::Decode { field, source }
    }
}
