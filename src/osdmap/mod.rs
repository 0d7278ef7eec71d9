//! The cluster map a RADOS client places objects with (`src/osd/OSDMap.{h,cc}`,
//! Ceph 16.2 Pacific): Ceph's hashes ([`hash`], `src/common/ceph_hash.cc` and
//! `src/crush/hash.c`), the CRUSH map with its rule evaluation ([`crush`],
//! `src/crush/`), the full osdmap ([`map`], [`pool`]), incrementals and how
//! they apply ([`incremental`]), and where an object's PG and a PG's
//! replicas live ([`placement`]).

mod codec;
pub mod crush;
pub mod error;
pub mod hash;
pub mod incremental;
pub mod map;
pub mod placement;
pub mod pool;

pub use crate::msg::osd_mon::PgId;
pub use error::OsdMapError;
pub use incremental::Incremental;
pub use map::{OsdEntry, OsdMap};
pub use placement::{PlacementError, UpActing};
pub use pool::PgPool;

#[cfg(test)]
mod tests;
