//! Keeping a client's osdmap current from the mon's MOSDMaps, and the
//! objecter's view of it ([`Placement`] for an [`OsdMap`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{OpTarget, Placement};
use crate::msg::osd_mon::MOsdMap;
use crate::msg::osd_op::{ObjectLocator, PgId};
use crate::osdmap::{Incremental, OsdMap, OsdMapError};
use crate::wire::addr::EntityAddr;

/// A client's osdmap: the newest full map the mon sent, moved forward by
/// every incremental after it.
#[derive(Default)]
pub struct MapTracker {
    map: Option<Arc<OsdMap>>,
}

/// Why an MOSDMap could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// A map in it does not decode (or does not apply).
    #[error("osdmap epoch {epoch}: {source}")]
    Map {
        /// The epoch of the offending map.
        epoch: u32,
        /// What was wrong.
        #[source]
        source: OsdMapError,
    },
    /// The first message carried no full map to start from.
    #[error("no full osdmap to start from (the message carries epochs {0:?})")]
    NoBase(Vec<u32>),
}

impl MapTracker {
    /// No map yet.
    pub fn new() -> Self {
        MapTracker::default()
    }

    /// The current epoch (0 before the first map).
    pub fn epoch(&self) -> u32 {
        self.map.as_ref().map_or(0, |m| m.epoch)
    }

    /// The current map.
    pub fn map(&self) -> Option<&Arc<OsdMap>> {
        self.map.as_ref()
    }

    /// Applies what `m` carries, oldest first: a full map for the epoch
    /// after ours (or newer, if we have none or fell behind the
    /// incrementals), else the incremental for our epoch + 1. Returns true if
    /// the map moved forward.
    pub fn handle(&mut self, m: &MOsdMap) -> Result<bool, MapError> {
        let before = self.epoch();
        let newest = m
            .maps
            .keys()
            .chain(m.incremental_maps.keys())
            .copied()
            .max()
            .unwrap_or(0);
        let mut current: Option<OsdMap> = None;
        let mut epoch = before;
        while epoch < newest {
            let next = epoch + 1;
            let base = current
                .take()
                .or_else(|| self.map.as_ref().map(|a| OsdMap::clone(a)));
            match (base, m.incremental_maps.get(&next), m.maps.get(&next)) {
                (Some(mut map), Some(inc), _) => {
                    let inc = Incremental::decode(inc).map_err(|source| MapError::Map {
                        epoch: next,
                        source,
                    })?;
                    map.apply_incremental(&inc)
                        .map_err(|source| MapError::Map {
                            epoch: next,
                            source,
                        })?;
                    current = Some(map);
                }
                (_, _, Some(full)) => {
                    let map = OsdMap::decode(full).map_err(|source| MapError::Map {
                        epoch: next,
                        source,
                    })?;
                    current = Some(map);
                }
                (base, _, None) => {
                    // A gap: jump to the oldest full map after it, if any.
                    match m.maps.range(next..).next() {
                        Some((&e, full)) => {
                            let map = OsdMap::decode(full)
                                .map_err(|source| MapError::Map { epoch: e, source })?;
                            epoch = e;
                            current = Some(map);
                            continue;
                        }
                        None if base.is_none() => {
                            let mut epochs: Vec<u32> = m.maps.keys().copied().collect();
                            epochs.extend(m.incremental_maps.keys());
                            return Err(MapError::NoBase(epochs));
                        }
                        None => {
                            current = base;
                            break;
                        }
                    }
                }
            }
            epoch = next;
        }
        if let Some(map) = current {
            if map.epoch > before {
                self.map = Some(Arc::new(map));
            }
        }
        Ok(self.epoch() > before)
    }

    /// The pool named `name`.
    pub fn pool_id(&self, name: &str) -> Option<i64> {
        self.map.as_ref()?.pool_by_name(name)
    }

    /// The objecter's view of the current map.
    pub fn placement(&self) -> Option<Arc<dyn Placement>> {
        let map = Arc::clone(self.map.as_ref()?);
        Some(Arc::new(MapPlacement {
            map,
            primaries: Mutex::new(HashMap::new()),
        }))
    }
}

/// PGs whose primary one [`MapPlacement`] remembers; past this the memo
/// starts again (a client touching more PGs than this pays CRUSH per op).
const PRIMARY_MEMO_MAX: usize = 1 << 16;

/// An osdmap as the objecter sees it.
struct MapPlacement {
    map: Arc<OsdMap>,
    /// Each PG's acting primary and its address, computed once per map:
    /// CRUSH and the up/acting rules otherwise run for every op.
    primaries: Mutex<HashMap<PgId, (i32, Option<EntityAddr>)>>,
}

impl MapPlacement {
    fn target(&self, pg: PgId, hash: u32) -> OpTarget {
        let memo = self.primaries.lock().ok().and_then(|m| m.get(&pg).copied());
        let (primary, addr) = memo.unwrap_or_else(|| {
            let found = self.primary(pg);
            if let Ok(mut m) = self.primaries.lock() {
                if m.len() >= PRIMARY_MEMO_MAX {
                    m.clear();
                }
                m.insert(pg, found);
            }
            found
        });
        OpTarget {
            pgid: pg,
            hash,
            primary,
            addr,
        }
    }

    fn primary(&self, pg: PgId) -> (i32, Option<EntityAddr>) {
        let map = &self.map;
        let primary = map.pg_to_up_acting(pg).acting_primary;
        let addr = if primary >= 0 && map.is_up(primary) {
            map.primary_addr(primary).and_then(|v| v.msgr2().copied())
        } else {
            None
        };
        (primary, addr)
    }
}

impl Placement for MapPlacement {
    fn epoch(&self) -> u32 {
        self.map.epoch
    }

    fn target_object(&self, loc: &ObjectLocator, oid: &[u8]) -> Option<OpTarget> {
        let key = (!loc.key.is_empty()).then_some(&loc.key[..]);
        let raw = self
            .map
            .object_to_raw_pg(loc.pool, oid, &loc.nspace, key)
            .ok()?;
        let pg = self.map.raw_pg_to_pg(raw);
        Some(self.target(pg, raw.seed))
    }

    fn target_pg(&self, pg: PgId) -> Option<OpTarget> {
        self.map.pools.get(&pg.pool)?;
        Some(self.target(pg, pg.seed))
    }
}
