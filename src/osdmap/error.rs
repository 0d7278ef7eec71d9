//! The one error type of the osdmap decoders, `apply_incremental` and placement.

use thiserror::Error;

use super::crush::CrushError;
use crate::wire::DecodeError;

/// Why an encoded `OSDMap` / `OSDMap::Incremental` could not be decoded or
/// applied. Every variant names the field (as Ceph names it in
/// `src/osd/OSDMap.cc` / `src/osd/osd_types.cc`) that was wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum OsdMapError {
    /// The bytes of a field were malformed (truncated, too long, bad marker...).
    #[error("{field}: {source}")]
    Decode {
        /// The field being decoded, e.g. `"OSDMap pools"` or `"pg_pool_t pg_num"`.
        field: &'static str,
        /// What the cursor found wrong.
        source: DecodeError,
    },
    /// A field holds a value the map cannot have.
    #[error("{field}: invalid value {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A per-OSD vector does not have `max_osd` entries.
    #[error("{field}: {len} entries, but max_osd is {max_osd}")]
    OsdVectorLength {
        /// The vector (`osd_state`, `osd_weight`, ...).
        field: &'static str,
        /// Its length.
        len: usize,
        /// The map's `max_osd`.
        max_osd: usize,
    },
    /// An incremental names an OSD id outside `0..max_osd` (Ceph would index
    /// past the end of its vectors).
    #[error("{field}: osd id {osd} is outside 0..{max_osd}")]
    OsdOutOfRange {
        /// The incremental's field.
        field: &'static str,
        /// The id.
        osd: i32,
        /// The map's `max_osd` after `new_max_osd`.
        max_osd: usize,
    },
    /// The stored crc32c of a map or incremental does not match its bytes.
    #[error("{what}: crc32c {computed:#010x} does not match the stored {stored:#010x}")]
    BadCrc {
        /// `"OSDMap"` or `"OSDMap::Incremental"`.
        what: &'static str,
        /// The crc in the encoding.
        stored: u32,
        /// The crc of the bytes.
        computed: u32,
    },
    /// An encoding older than Luminous's (struct_v < 7, "classic"), which
    /// no Pacific mon sends.
    #[error("{what}: struct_v {version} is a pre-Luminous encoding (need >= 7)")]
    ClassicEncoding {
        /// `"OSDMap"` or `"OSDMap::Incremental"`.
        what: &'static str,
        /// The version found.
        version: u8,
    },
    /// `apply_incremental` got an incremental that does not follow this map.
    #[error("incremental for epoch {inc_epoch} cannot follow map epoch {map_epoch}")]
    EpochMismatch {
        /// This map's epoch.
        map_epoch: u32,
        /// The incremental's epoch.
        inc_epoch: u32,
    },
    /// `apply_incremental` got an incremental of another cluster.
    #[error("incremental fsid differs from the map's fsid")]
    FsidMismatch,
    /// The map's CRUSH map (`crush`) does not decode.
    #[error("OSDMap crush: {0}")]
    Crush(CrushError),
    /// The full map embedded in an incremental (`fullmap`) is malformed.
    #[error("OSDMap::Incremental fullmap: {0}")]
    FullMap(Box<OsdMapError>),
}

/// Attaches the field name to a cursor error.
pub(crate) trait At<T> {
    /// `Err(e)` becomes `OsdMapError::Decode { field, source: e }`.
    fn at(self, field: &'static str) -> Result<T, OsdMapError>;
}

impl<T> At<T> for Result<T, DecodeError> {
    fn at(self, field: &'static str) -> Result<T, OsdMapError> {
        self.map_err(|source| OsdMapError::Decode { field, source })
    }
}
