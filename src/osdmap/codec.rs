//! Decoding helpers for the containers `OSDMap` uses (`src/include/encoding.h`):
//! every `map`, `set` and `vector` is a le32 count followed by the elements,
//! and every count is checked against a limit and against the bytes left
//! (given the smallest encoding of one element) before anything is allocated.

use std::collections::BTreeMap;

use super::error::{At, OsdMapError};
use crate::msg::osd_mon::PgId;
use crate::wire::addr::{EntityAddr, EntityAddrVec};
use crate::wire::utime::UTime;
use crate::wire::Reader;

/// Longest string (pool name, profile key or value, snapshot name) accepted.
pub const MAX_STRING: usize = 64 * 1024;
/// Most entries in one `map<string,string>` (an EC profile, pool properties).
pub const MAX_STRING_MAP: usize = 4096;
/// Most OSD ids in one PG mapping (`pg_temp`, `pg_upmap`): pool sizes are a `u8`.
pub const MAX_PG_OSDS: usize = 256;

/// Reads a le32 element count bounded by `limit` and by the bytes left.
pub fn count(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
    min_elem_len: usize,
) -> Result<usize, OsdMapError> {
    r.count_le32(limit, min_elem_len).at(field)
}

/// Reads a `vector<T>` / `set<T>` / `list<T>` into a `Vec`.
pub fn vec<T>(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
    min_elem_len: usize,
    mut elem: impl FnMut(&mut Reader<'_>) -> Result<T, OsdMapError>,
) -> Result<Vec<T>, OsdMapError> {
    let n = count(r, field, limit, min_elem_len)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(elem(r)?);
    }
    Ok(v)
}

/// Reads a `map<K,V>`; a repeated key keeps the last value, as Ceph's decoder does.
pub fn map<K: Ord, V>(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
    min_elem_len: usize,
    mut elem: impl FnMut(&mut Reader<'_>) -> Result<(K, V), OsdMapError>,
) -> Result<BTreeMap<K, V>, OsdMapError> {
    let n = count(r, field, limit, min_elem_len)?;
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let (k, v) = elem(r)?;
        m.insert(k, v);
    }
    Ok(m)
}

/// Reads a `string`. Ceph strings are bytes; names that are not UTF-8 are
/// kept with replacement characters rather than failing the whole map.
pub fn string(r: &mut Reader<'_>, field: &'static str) -> Result<String, OsdMapError> {
    let b = r.bytes_le32(MAX_STRING).at(field)?;
    Ok(String::from_utf8_lossy(b).into_owned())
}

/// Reads a `map<string,string>`.
pub fn string_map(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<BTreeMap<String, String>, OsdMapError> {
    map(r, field, MAX_STRING_MAP, 8, |r| {
        Ok((string(r, field)?, string(r, field)?))
    })
}

/// Reads a `map<string, map<string,string>>` (erasure-code profiles,
/// pool application metadata).
pub fn string_map_map(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, OsdMapError> {
    map(r, field, limit, 8, |r| {
        Ok((string(r, field)?, string_map(r, field)?))
    })
}

/// Reads a `pg_t`.
pub fn pg(r: &mut Reader<'_>, field: &'static str) -> Result<PgId, OsdMapError> {
    PgId::parse(r).at(field)
}

/// Reads a `vector<int32_t>` of OSD ids.
pub fn osd_list(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<i32>, OsdMapError> {
    vec(r, field, MAX_PG_OSDS, 4, |r| r.i32_le().at(field))
}

/// Reads a `map<pg_t, vector<int32_t>>` (`pg_temp`, `pg_upmap`).
pub fn pg_osd_lists(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<BTreeMap<PgId, Vec<i32>>, OsdMapError> {
    map(r, field, limit, PgId::LEN + 4, |r| {
        Ok((pg(r, field)?, osd_list(r, field)?))
    })
}

/// Reads a `map<pg_t, int32_t>` (`primary_temp`, `pg_upmap_primaries`).
pub fn pg_osds(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<BTreeMap<PgId, i32>, OsdMapError> {
    map(r, field, limit, PgId::LEN + 4, |r| {
        Ok((pg(r, field)?, r.i32_le().at(field)?))
    })
}

/// Reads a `map<pg_t, vector<pair<int32_t,int32_t>>>` (`pg_upmap_items`).
pub fn pg_osd_pairs(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<BTreeMap<PgId, Vec<(i32, i32)>>, OsdMapError> {
    map(r, field, limit, PgId::LEN + 4, |r| {
        let pg = pg(r, field)?;
        let pairs = vec(r, field, MAX_PG_OSDS, 8, |r| {
            Ok((r.i32_le().at(field)?, r.i32_le().at(field)?))
        })?;
        Ok((pg, pairs))
    })
}

/// Reads a `set<pg_t>` / `vector<pg_t>`.
pub fn pg_set(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<Vec<PgId>, OsdMapError> {
    vec(r, field, limit, PgId::LEN, |r| pg(r, field))
}

/// Skips an `interval_set<snapid_t>`: le32 count of (le64 start, le64 len).
pub fn skip_interval_set(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<(), OsdMapError> {
    let n = count(r, field, limit, 16)?;
    r.take(n * 16).at(field)?;
    Ok(())
}

/// Skips a `map<int64_t, interval_set<snapid_t>>` (removed / purged snaps).
pub fn skip_pool_interval_sets(
    r: &mut Reader<'_>,
    field: &'static str,
    pools: usize,
    intervals: usize,
) -> Result<(), OsdMapError> {
    let n = count(r, field, pools, 12)?;
    for _ in 0..n {
        r.i64_le().at(field)?;
        skip_interval_set(r, field, intervals)?;
    }
    Ok(())
}

/// Reads a `map<int32_t, u32>` keyed by OSD, CRUSH node or class id.
pub fn i32_u32_map(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<BTreeMap<i32, u32>, OsdMapError> {
    map(r, field, limit, 8, |r| {
        Ok((r.i32_le().at(field)?, r.u32_le().at(field)?))
    })
}

/// Reads a `map<int32_t, entity_addrvec_t>` keyed by OSD.
pub fn osd_addrvecs(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<BTreeMap<i32, EntityAddrVec>, OsdMapError> {
    // The smallest addrvec is a marker-2 vector with no entries: 5 bytes.
    map(r, field, limit, 4 + 5, |r| {
        Ok((r.i32_le().at(field)?, EntityAddrVec::parse(r).at(field)?))
    })
}

/// Reads a `map<entity_addr_t, utime_t>` (the blocklist).
pub fn addr_times(
    r: &mut Reader<'_>,
    field: &'static str,
    limit: usize,
) -> Result<BTreeMap<EntityAddr, UTime>, OsdMapError> {
    // The smallest entity_addr_t is a marker-1 one with an empty sockaddr: 19 bytes.
    map(r, field, limit, 19 + UTime::LEN, |r| {
        Ok((EntityAddr::parse(r).at(field)?, UTime::parse(r).at(field)?))
    })
}

/// Reads a `float` (IEEE-754 single precision, little-endian).
pub fn f32(r: &mut Reader<'_>, field: &'static str) -> Result<f32, OsdMapError> {
    Ok(f32::from_bits(r.u32_le().at(field)?))
}
