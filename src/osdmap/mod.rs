//! Ceph's cluster map of OSDs and pools (`src/osd/OSDMap.{h,cc}`): the full
//! map, incrementals and how they apply, and (with the CRUSH map) where a
//! PG's replicas live.

mod codec;
pub mod error;
pub mod incremental;
pub mod map;
pub mod pool;

pub use crate::msg::osd_mon::PgId;
pub use error::OsdMapError;
pub use incremental::Incremental;
pub use map::{OsdEntry, OsdMap};
pub use pool::PgPool;

#[cfg(test)]
mod tests;
