//! Unit tests on maps a real Ceph 16.2.15 mon encoded (`tests/data/osdmap/`,
//! from the scenario of `tests/osdmap_oracle.rs`); the expected values are
//! what that scenario's commands set up.

use super::map::{state, OSD_IN};
use super::pool::{stable_mod, PgPool, TYPE_ERASURE, TYPE_REPLICATED};
use super::{Incremental, OsdMap, OsdMapError, PgId};

const FULL: &[u8] = include_bytes!("../../tests/data/osdmap/full-45.bin");
const INC_1: &[u8] = include_bytes!("../../tests/data/osdmap/inc-1.bin");
const INC_45: &[u8] = include_bytes!("../../tests/data/osdmap/inc-45.bin");

fn pg(pool: i64, seed: u32) -> PgId {
    PgId { pool, seed }
}

#[test]
fn real_full_map_decodes_with_the_scenario_settings() {
    let m = OsdMap::decode(FULL).unwrap();
    assert_eq!(m.epoch, 45);
    assert_eq!(m.max_osd(), 9);
    let names: Vec<&str> = m.pool_names.values().map(String::as_str).collect();
    assert_eq!(names, ["p8", "p12", "p32", "ec"]);
    let p12 = &m.pools[&2];
    assert_eq!((p12.pg_num, p12.pg_num_mask, p12.size), (12, 15, 2));
    assert_eq!((m.pools[&3].pg_num, m.pools[&3].pg_num_mask), (32, 31));
    let ec = &m.pools[&4];
    assert_eq!(ec.pool_type, TYPE_ERASURE);
    assert_eq!(ec.erasure_code_profile, "ec21");
    assert!(!ec.can_shift_osds() && p12.can_shift_osds());
    assert_eq!(m.pools[&1].pool_type, TYPE_REPLICATED);
    assert!(m.pools.values().all(PgPool::hashpspool));
    assert_eq!(m.pg_upmap[&pg(3, 9)], [5, 3, 0]);
    assert_eq!(m.pg_upmap_items[&pg(1, 1)], [(0, 5)]);
    assert_eq!(m.pg_temp[&pg(1, 3)], [4, 5, 3]);
    assert_eq!(m.primary_temp[&pg(1, 4)], 5);
    assert_eq!(m.osds[1].weight, OSD_IN / 2);
    assert_eq!(m.osds[2].weight, 0);
    assert!(m.is_up(2) && !m.is_in(2));
    assert!(m.exists(6) && !m.is_up(6));
    assert!(!m.exists(8));
    assert_eq!(m.erasure_code_profiles["ec21"]["k"], "2");
    assert!(m.primary_addr(0).is_some_and(|a| a.msgr2().is_some()));
    assert!(m.primary_addr(8).is_none() && m.primary_addr(-1).is_none());
    assert_eq!(m.pool_by_name("p32"), Some(3));
}

#[test]
fn truncated_or_corrupted_maps_are_errors() {
    for cut in 0..FULL.len() {
        assert!(OsdMap::decode(&FULL[..cut]).is_err(), "cut {cut}");
    }
    let mut bad = FULL.to_vec();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(OsdMap::decode(&bad).is_err());
    // A crc flip alone is a BadCrc that names the map.
    let mut bad = FULL.to_vec();
    let crc_at = bad.len() - 4;
    bad[crc_at] ^= 1;
    assert!(matches!(
        OsdMap::decode(&bad),
        Err(OsdMapError::BadCrc { what: "OSDMap", .. })
    ));
    for cut in 0..INC_45.len() {
        assert!(Incremental::decode(&INC_45[..cut]).is_err(), "cut {cut}");
    }
    // Pre-Luminous encodings are refused by name.
    assert!(matches!(
        OsdMap::decode(&[6, 0, 0, 0]),
        Err(OsdMapError::ClassicEncoding { version: 6, .. })
    ));
}

#[test]
fn epoch_one_incremental_carries_the_first_full_map() {
    let inc = Incremental::decode(INC_1).unwrap();
    assert_eq!(inc.epoch, 1);
    assert!(!inc.fullmap.is_empty());
    let mut m = OsdMap::default();
    m.apply_incremental(&inc).unwrap();
    assert_eq!(m.epoch, 1);
    assert_eq!(m.fsid, inc.fsid);
}

#[test]
fn apply_checks_epoch_fsid_and_osd_ids_and_leaves_the_map_unchanged() {
    let base = OsdMap::decode(FULL).unwrap();
    let inc = Incremental::decode(INC_45).unwrap();
    let mut m = base.clone();
    assert!(matches!(
        m.apply_incremental(&inc),
        Err(OsdMapError::EpochMismatch {
            map_epoch: 45,
            inc_epoch: 45
        })
    ));
    let mut next = Incremental {
        epoch: 46,
        fsid: base.fsid,
        ..Incremental::default()
    };
    next.fsid[0] ^= 1;
    assert_eq!(m.apply_incremental(&next), Err(OsdMapError::FsidMismatch));
    next.fsid = base.fsid;
    next.new_weight.insert(0, 0);
    next.new_state.insert(9, state::UP);
    assert!(matches!(
        m.apply_incremental(&next),
        Err(OsdMapError::OsdOutOfRange { osd: 9, .. })
    ));
    assert_eq!(m, base);
    // Growing max_osd makes the id valid; XOR takes the new OSD's UP bit on.
    next.new_max_osd = 10;
    m.apply_incremental(&next).unwrap();
    assert_eq!(m.max_osd(), 10);
    assert_eq!(m.osds[9].state, state::UP);
    assert_eq!(m.osds[0].weight, 0);
}

#[test]
fn destroying_an_osd_clears_it() {
    let base = OsdMap::decode(FULL).unwrap();
    let mut m = base.clone();
    let inc = Incremental {
        epoch: 46,
        fsid: base.fsid,
        new_state: [(6, state::EXISTS)].into_iter().collect(),
        ..Incremental::default()
    };
    m.apply_incremental(&inc).unwrap();
    assert_eq!(m.osds[6].state, 0);
    assert_eq!(m.osds[6].uuid, [0; 16]);
    assert!(!m.exists(6));
}

#[test]
fn stable_mod_and_masks_follow_ceph() {
    // ceph_stable_mod(x, 12, 15): values 12..15 of the mask fold onto 4..7.
    assert_eq!(stable_mod(13, 12, 15), 5);
    assert_eq!(stable_mod(11, 12, 15), 11);
    assert_eq!(stable_mod(0xffff_fffc, 12, 15), 4);
    let mut p = PgPool {
        pg_num: 1,
        pgp_num: 0,
        ..PgPool::default()
    };
    p.calc_pg_masks();
    assert_eq!((p.pg_num_mask, p.pgp_num_mask), (0, u32::MAX));
}

#[test]
fn placement_matches_osdmaptool_on_the_real_map() {
    // `osdmaptool full-45.bin --test-map-object hello --pool N` and
    // `--test-map-pgs-dump --pool 1` (acting set, acting primary).
    let m = OsdMap::decode(FULL).unwrap();
    let none = super::crush::CRUSH_ITEM_NONE;
    for (pool, pgid, acting) in [
        (1, pg(1, 6), vec![0]),
        (2, pg(2, 6), vec![4, 0]),
        (3, pg(3, 0x1e), vec![3, 5]),
        (4, pg(4, 6), vec![5, 3, none]),
    ] {
        let got = m.object_to_pg(pool, b"hello", b"", None).unwrap();
        assert_eq!(got, pgid, "pool {pool}");
        assert_eq!(m.pg_to_up_acting(got).acting, acting, "pool {pool}");
    }
    let temp = m.pg_to_up_acting(pg(1, 3));
    assert_eq!((temp.acting, temp.acting_primary), (vec![4, 5, 3], 4));
    let ptemp = m.pg_to_up_acting(pg(1, 4));
    assert_eq!((ptemp.acting, ptemp.acting_primary), (vec![0, 4, 3], 5));
    // A locator key replaces the name; a namespace changes the hash.
    let keyed = m.object_to_pg(3, b"other", b"", Some(b"hello")).unwrap();
    assert_eq!(keyed, pg(3, 0x1e));
    assert_eq!(m.object_to_pg(3, b"hello", b"", Some(b"")).unwrap(), keyed);
    let raw = m.object_to_raw_pg(3, b"hello", b"", None).unwrap();
    let in_ns = m.object_to_raw_pg(3, b"hello", b"ns", None).unwrap();
    assert_ne!(raw, in_ns);
    assert_eq!(m.raw_pg_to_pg(raw), pg(3, 0x1e));
    assert!(m.object_to_pg(99, b"hello", b"", None).is_err());
    let gone = m.pg_to_up_acting(pg(99, 0));
    assert!(gone.up.is_empty() && gone.up_primary == -1 && gone.acting_primary == -1);
}

#[test]
fn upmap_items_apply_after_nonexistent_osds_are_removed() {
    // _pg_to_raw_osds drops OSDs that do not exist before _apply_upmap, so
    // an item replacing such an OSD finds nothing to replace; an OSD that
    // exists but is down is still replaced.
    let mut m = OsdMap::decode(FULL).unwrap();
    let pool = m.pools[&1].clone();
    let target = (0..pool.pg_num)
        .map(|seed| pg(1, seed))
        .find(|&p| {
            let (raw, _) = m.pg_to_raw_osds(&pool, p);
            raw.contains(&6) && !raw.contains(&5)
        })
        .expect("a PG of pool 1 that CRUSH maps to osd.6 but not osd.5");
    m.pg_upmap_items.insert(target, vec![(6, 5)]);
    assert!(m.is_up(5) && m.exists(6) && !m.is_up(6));
    assert!(
        m.pg_to_up_acting(target).up.contains(&5),
        "down osd.6 is replaced"
    );
    m.osds[6].state = 0;
    assert!(
        !m.pg_to_up_acting(target).up.contains(&5),
        "gone osd.6 is not"
    );
}
