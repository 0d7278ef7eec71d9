//! The classic 64-bit `CEPH_FEATURE_*` bits carried in CLIENT_IDENT /
//! SERVER_IDENT (msgr2 reference sections 5 and 11.8). They do not affect
//! msgr2 frames, only how *messages* are encoded toward a peer.
//!
//! Bit numbers are from Ceph's `src/include/ceph_features.h` (Pacific,
//! `DEFINE_CEPH_FEATURE(bit, incarnation, NAME)`). Reused bits have an
//! *incarnation*: a feature is present only if its bit **and** its
//! incarnation marker bits are set; use [`has`] with a `MASK_*` constant for
//! those. (The msgr2 banner feature bits live in `wire::banner`.)

/// `CEPH_FEATURE_INCARNATION_2`: the SERVER_JEWEL bit (57).
pub const INCARNATION_2: u64 = 1 << 57;
/// `CEPH_FEATURE_INCARNATION_3`: SERVER_JEWEL | SERVER_MIMIC (bits 57, 28).
pub const INCARNATION_3: u64 = (1 << 57) | (1 << 28);

/// Bit 0.
pub const UID: u64 = 1 << 0;
/// Bit 1.
pub const NOSRCADDR: u64 = 1 << 1;
/// Bit 2 (incarnation 3).
pub const SERVER_NAUTILUS: u64 = 1 << 2;
/// Bit 3.
pub const FLOCK: u64 = 1 << 3;
/// Bit 4.
pub const SUBSCRIBE2: u64 = 1 << 4;
/// Bit 5.
pub const MONNAMES: u64 = 1 << 5;
/// Bit 6.
pub const RECONNECT_SEQ: u64 = 1 << 6;
/// Bit 7.
pub const DIRLAYOUTHASH: u64 = 1 << 7;
/// Bit 8.
pub const OBJECTLOCATOR: u64 = 1 << 8;
/// Bit 9.
pub const PGID64: u64 = 1 << 9;
/// Bit 10.
pub const INCSUBOSDMAP: u64 = 1 << 10;
/// Bit 11.
pub const PGPOOL3: u64 = 1 << 11;
/// Bit 12.
pub const OSDREPLYMUX: u64 = 1 << 12;
/// Bit 13.
pub const OSDENC: u64 = 1 << 13;
/// Bit 14 (incarnation 2).
pub const SERVER_KRAKEN: u64 = 1 << 14;
/// Bit 15.
pub const MONENC: u64 = 1 << 15;
/// Bit 16 (incarnation 3).
pub const SERVER_OCTOPUS: u64 = 1 << 16;
/// Bit 16 (incarnation 3), same bit as SERVER_OCTOPUS.
pub const OSD_REPOP_MLCOD: u64 = 1 << 16;
/// Bit 17 (incarnation 3).
pub const OS_PERF_STAT_NS: u64 = 1 << 17;
/// Bit 18.
pub const CRUSH_TUNABLES: u64 = 1 << 18;
/// Bit 19 (incarnation 2).
pub const OSD_PGLOG_HARDLIMIT: u64 = 1 << 19;
/// Bit 20 (incarnation 3).
pub const SERVER_PACIFIC: u64 = 1 << 20;
/// Bit 21 (incarnation 2); RESEND_ON_SPLIT, RADOS_BACKOFF, OSDMAP_PG_UPMAP and
/// CRUSH_CHOOSE_ARGS share it.
pub const SERVER_LUMINOUS: u64 = 1 << 21;
/// Bit 22 (incarnation 2).
pub const OSD_FIXED_COLLECTION_LIST: u64 = 1 << 22;
/// Bit 23.
pub const MSG_AUTH: u64 = 1 << 23;
/// Bit 24 (incarnation 2).
pub const RECOVERY_RESERVATION_2: u64 = 1 << 24;
/// Bit 25.
pub const CRUSH_TUNABLES2: u64 = 1 << 25;
/// Bit 26.
pub const CREATEPOOLID: u64 = 1 << 26;
/// Bit 27.
pub const REPLY_CREATE_INODE: u64 = 1 << 27;
/// Bit 28 (incarnation 2).
pub const SERVER_MIMIC: u64 = 1 << 28;
/// Bit 29.
pub const MDSENC: u64 = 1 << 29;
/// Bit 30.
pub const OSDHASHPSPOOL: u64 = 1 << 30;
/// Bit 31 (deprecated, still advertised).
pub const MON_SINGLE_PAXOS: u64 = 1 << 31;
/// Bit 32 (incarnation 3).
pub const STRETCH_MODE: u64 = 1 << 32;
/// Bit 34 (incarnation 3): CIDR range blocklists, backported to Pacific 16.2
/// (present in the observed 16.2.15 set; absent from older Pacific headers).
pub const RANGE_BLOCKLIST: u64 = 1 << 34;
/// Bit 35.
pub const OSD_CACHEPOOL: u64 = 1 << 35;
/// Bit 36.
pub const CRUSH_V2: u64 = 1 << 36;
/// Bit 37.
pub const EXPORT_PEER: u64 = 1 << 37;
/// Bit 39.
pub const OSDMAP_ENC: u64 = 1 << 39;
/// Bit 40.
pub const MDS_INLINE_DATA: u64 = 1 << 40;
/// Bit 41 (OSD_PRIMARY_AFFINITY shares it).
pub const CRUSH_TUNABLES3: u64 = 1 << 41;
/// Bit 42.
pub const MSGR_KEEPALIVE2: u64 = 1 << 42;
/// Bit 43.
pub const OSD_POOLRESEND: u64 = 1 << 43;
/// Bit 46.
pub const OSD_FADVISE_FLAGS: u64 = 1 << 46;
/// Bit 47.
pub const MDS_QUOTA: u64 = 1 << 47;
/// Bit 48.
pub const CRUSH_V4: u64 = 1 << 48;
/// Bit 56.
pub const NEW_OSDOP_ENCODING: u64 = 1 << 56;
/// Bit 57 (SERVER_JEWEL shares it).
pub const MON_STATEFUL_SUB: u64 = 1 << 57;
/// Bit 57.
pub const SERVER_JEWEL: u64 = 1 << 57;
/// Bit 58 (NEW_OSDOPREPLY_ENCODING and FS_FILE_LAYOUT_V2 share it).
pub const CRUSH_TUNABLES5: u64 = 1 << 58;
/// Bit 58.
pub const NEW_OSDOPREPLY_ENCODING: u64 = 1 << 58;
/// Bit 59 (FS_BTIME and FS_CHANGE_ATTR share it): addresses in the modern
/// marker-1 form. Every msgr2 peer must require it (reference 11.8).
pub const MSG_ADDR2: u64 = 1 << 59;
/// Bit 60.
pub const OSD_RECOVERY_DELETES: u64 = 1 << 60;
/// Bit 61.
pub const CEPHX_V2: u64 = 1 << 61;

/// SERVER_NAUTILUS with its incarnation-3 marker bits.
pub const MASK_SERVER_NAUTILUS: u64 = SERVER_NAUTILUS | INCARNATION_3;
/// SERVER_OCTOPUS with its incarnation-3 marker bits.
pub const MASK_SERVER_OCTOPUS: u64 = SERVER_OCTOPUS | INCARNATION_3;
/// SERVER_PACIFIC with its incarnation-3 marker bits.
pub const MASK_SERVER_PACIFIC: u64 = SERVER_PACIFIC | INCARNATION_3;
/// SERVER_LUMINOUS with its incarnation-2 marker bit.
pub const MASK_SERVER_LUMINOUS: u64 = SERVER_LUMINOUS | INCARNATION_2;
/// SERVER_MIMIC with its incarnation-2 marker bit.
pub const MASK_SERVER_MIMIC: u64 = SERVER_MIMIC | INCARNATION_2;

/// Ceph's `HAVE_FEATURE(x, name)`: every bit of `mask` (feature and
/// incarnation markers) is set in `features`.
pub const fn has(features: u64, mask: u64) -> bool {
    features & mask == mask
}

/// What Pacific 16.2 daemons and librados advertise (`CEPH_FEATURES_ALL`),
/// observed live as `0x3f01cfbdfffdffff` (reference 11.8).
pub const PACIFIC_SUPPORTED: u64 = 0x3f01_cfbd_fffd_ffff;

/// The Linux kernel client's `CEPH_FEATURES_SUPPORTED_DEFAULT` (with
/// MDS_INLINE_DATA), a good set for a client (reference 11.8).
pub const KERNEL_SUPPORTED_DEFAULT: u64 = 0x2f01_8fb8_7aa4_aafe;

/// The required set to send in CLIENT_IDENT / SERVER_IDENT: userland always
/// requires MSG_ADDR2 (reference 11.8). (Pacific librados was captured
/// sending `MSG_ADDR2 | OSDREPLYMUX` = `0x0800000000001000` toward a mon.)
pub const REQUIRED_DEFAULT: u64 = MSG_ADDR2;

#[cfg(test)]
mod tests {
    use super::*;

    /// Pacific's `CEPH_FEATURES_ALL`, rebuilt from the bits above.
    const ALL: u64 = UID
        | NOSRCADDR
        | FLOCK
        | SUBSCRIBE2
        | MONNAMES
        | RECONNECT_SEQ
        | DIRLAYOUTHASH
        | OBJECTLOCATOR
        | PGID64
        | INCSUBOSDMAP
        | PGPOOL3
        | OSDREPLYMUX
        | OSDENC
        | MONENC
        | CRUSH_TUNABLES
        | MSG_AUTH
        | CRUSH_TUNABLES2
        | CREATEPOOLID
        | REPLY_CREATE_INODE
        | MDSENC
        | OSDHASHPSPOOL
        | NEW_OSDOP_ENCODING
        | NEW_OSDOPREPLY_ENCODING
        | MON_SINGLE_PAXOS
        | OSD_CACHEPOOL
        | CRUSH_V2
        | EXPORT_PEER
        | OSDMAP_ENC
        | MDS_INLINE_DATA
        | CRUSH_TUNABLES3
        | MSGR_KEEPALIVE2
        | OSD_POOLRESEND
        | OSD_FADVISE_FLAGS
        | MDS_QUOTA
        | CRUSH_V4
        | MON_STATEFUL_SUB
        | CRUSH_TUNABLES5
        | SERVER_JEWEL
        | SERVER_KRAKEN
        | MSG_ADDR2
        | SERVER_LUMINOUS
        | OSD_RECOVERY_DELETES
        | SERVER_MIMIC
        | RECOVERY_RESERVATION_2
        | SERVER_NAUTILUS
        | CEPHX_V2
        | OSD_PGLOG_HARDLIMIT
        | MASK_SERVER_OCTOPUS
        | STRETCH_MODE
        | RANGE_BLOCKLIST
        | INCARNATION_3
        | MASK_SERVER_PACIFIC
        | OSD_FIXED_COLLECTION_LIST;

    #[test]
    fn bits_rebuild_the_observed_pacific_set() {
        assert_eq!(ALL, PACIFIC_SUPPORTED);
        assert!(has(PACIFIC_SUPPORTED, MASK_SERVER_PACIFIC));
        assert!(has(PACIFIC_SUPPORTED, MASK_SERVER_NAUTILUS));
        assert!(has(KERNEL_SUPPORTED_DEFAULT, MSG_ADDR2));
        assert!(has(KERNEL_SUPPORTED_DEFAULT, MASK_SERVER_NAUTILUS));
        assert!(!has(KERNEL_SUPPORTED_DEFAULT, MASK_SERVER_PACIFIC));
        // Observed Pacific required mask: MSG_ADDR2 plus CRUSH tunables.
        let observed_required = 0x0c01_0200_0204_0000u64;
        assert_eq!(
            observed_required,
            MSG_ADDR2
                | CRUSH_TUNABLES
                | CRUSH_TUNABLES2
                | CRUSH_TUNABLES3
                | CRUSH_V4
                | CRUSH_TUNABLES5
        );
    }
}
