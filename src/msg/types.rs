//! Message type numbers (`header2.type`), from Ceph `src/include/ceph_fs.h`
//! (`CEPH_MSG_*`) and `src/msg/Message.h` (`MSG_*`).

/// `CEPH_MSG_SHUTDOWN`.
pub const SHUTDOWN: u16 = 1;
/// `CEPH_MSG_PING`.
pub const PING: u16 = 2;
/// `CEPH_MSG_MON_MAP`: MMonMap.
pub const MON_MAP: u16 = 4;
/// `CEPH_MSG_MON_GET_MAP`: MMonGetMap.
pub const MON_GET_MAP: u16 = 5;
/// `CEPH_MSG_MON_GET_OSDMAP`.
pub const MON_GET_OSDMAP: u16 = 6;
/// `CEPH_MSG_MON_METADATA`.
pub const MON_METADATA: u16 = 7;
/// `CEPH_MSG_STATFS`.
pub const STATFS: u16 = 13;
/// `CEPH_MSG_STATFS_REPLY`.
pub const STATFS_REPLY: u16 = 14;
/// `CEPH_MSG_MON_SUBSCRIBE`: MMonSubscribe.
pub const MON_SUBSCRIBE: u16 = 15;
/// `CEPH_MSG_MON_SUBSCRIBE_ACK`: MMonSubscribeAck.
pub const MON_SUBSCRIBE_ACK: u16 = 16;
/// `CEPH_MSG_AUTH`: MAuth.
pub const AUTH: u16 = 17;
/// `CEPH_MSG_AUTH_REPLY`: MAuthReply.
pub const AUTH_REPLY: u16 = 18;
/// `CEPH_MSG_MON_GET_VERSION`: MMonGetVersion.
pub const MON_GET_VERSION: u16 = 19;
/// `CEPH_MSG_MON_GET_VERSION_REPLY`: MMonGetVersionReply.
pub const MON_GET_VERSION_REPLY: u16 = 20;
/// `CEPH_MSG_MDS_MAP`.
pub const MDS_MAP: u16 = 21;
/// `CEPH_MSG_OSD_MAP`: MOSDMap.
pub const OSD_MAP: u16 = 41;
/// `CEPH_MSG_OSD_OP`: MOSDOp.
pub const OSD_OP: u16 = 42;
/// `CEPH_MSG_OSD_OPREPLY`: MOSDOpReply.
pub const OSD_OPREPLY: u16 = 43;
/// `CEPH_MSG_WATCH_NOTIFY`.
pub const WATCH_NOTIFY: u16 = 44;
/// `CEPH_MSG_FS_MAP`.
pub const FS_MAP: u16 = 45;
/// `CEPH_MSG_POOLOP_REPLY`.
pub const POOLOP_REPLY: u16 = 48;
/// `CEPH_MSG_POOLOP`.
pub const POOLOP: u16 = 49;
/// `MSG_MON_COMMAND`: MMonCommand.
pub const MON_COMMAND: u16 = 50;
/// `MSG_MON_COMMAND_ACK`: MMonCommandAck.
pub const MON_COMMAND_ACK: u16 = 51;
/// `MSG_LOG`.
pub const LOG: u16 = 52;
/// `MSG_LOGACK`.
pub const LOGACK: u16 = 53;
/// `MSG_GETPOOLSTATS`.
pub const GETPOOLSTATS: u16 = 58;
/// `MSG_GETPOOLSTATSREPLY`.
pub const GETPOOLSTATSREPLY: u16 = 59;
/// `CEPH_MSG_OSD_BACKOFF`.
pub const OSD_BACKOFF: u16 = 61;
/// `MSG_CONFIG`: MConfig (mon → client configuration).
pub const CONFIG: u16 = 62;
/// `MSG_GET_CONFIG`: MGetConfig.
pub const GET_CONFIG: u16 = 63;
/// `MSG_OSD_PING`.
pub const OSD_PING: u16 = 70;
/// `MSG_OSD_BOOT`.
pub const OSD_BOOT: u16 = 71;
/// `MSG_OSD_FAILURE`.
pub const OSD_FAILURE: u16 = 72;
/// `MSG_OSD_ALIVE`.
pub const OSD_ALIVE: u16 = 73;
/// `MSG_OSD_MARK_ME_DOWN`.
pub const OSD_MARK_ME_DOWN: u16 = 74;
/// `MSG_OSD_BEACON`.
pub const OSD_BEACON: u16 = 79;
/// `MSG_COMMAND`.
pub const COMMAND: u16 = 97;
/// `MSG_COMMAND_REPLY`.
pub const COMMAND_REPLY: u16 = 98;
/// `MSG_OSD_REPOP`.
pub const OSD_REPOP: u16 = 112;
/// `MSG_OSD_REPOPREPLY`.
pub const OSD_REPOPREPLY: u16 = 113;
/// `MSG_MGR_OPEN`.
pub const MGR_OPEN: u16 = 0x700;
/// `MSG_MGR_CONFIGURE`.
pub const MGR_CONFIGURE: u16 = 0x701;
/// `MSG_MGR_REPORT`.
pub const MGR_REPORT: u16 = 0x702;
/// `MSG_MGR_MAP`.
pub const MGR_MAP: u16 = 0x704;
/// `MSG_MGR_COMMAND`.
pub const MGR_COMMAND: u16 = 0x709;
/// `MSG_MGR_COMMAND_REPLY`.
pub const MGR_COMMAND_REPLY: u16 = 0x70a;

/// pollmsgr's benchmark request (not a Ceph message: measures the messenger alone).
pub const POLLMSGR_BENCH_REQUEST: u16 = 0x7f01;
/// pollmsgr's benchmark reply.
pub const POLLMSGR_BENCH_REPLY: u16 = 0x7f02;

/// A short lower-case name for logs and counters (Ceph's `get_type_name`
/// where there is one); `"unknown"` for other types.
pub fn type_name(ty: u16) -> &'static str {
    match ty {
        POLLMSGR_BENCH_REQUEST => "pollmsgr_bench_request",
        POLLMSGR_BENCH_REPLY => "pollmsgr_bench_reply",
        SHUTDOWN => "shutdown",
        PING => "ping",
        MON_MAP => "mon_map",
        MON_GET_MAP => "mon_get_map",
        MON_GET_OSDMAP => "mon_get_osdmap",
        MON_METADATA => "mon_metadata",
        STATFS => "statfs",
        STATFS_REPLY => "statfs_reply",
        MON_SUBSCRIBE => "mon_subscribe",
        MON_SUBSCRIBE_ACK => "mon_subscribe_ack",
        AUTH => "auth",
        AUTH_REPLY => "auth_reply",
        MON_GET_VERSION => "mon_get_version",
        MON_GET_VERSION_REPLY => "mon_get_version_reply",
        MDS_MAP => "mds_map",
        OSD_MAP => "osd_map",
        OSD_OP => "osd_op",
        OSD_OPREPLY => "osd_op_reply",
        WATCH_NOTIFY => "watch_notify",
        FS_MAP => "fs_map",
        POOLOP_REPLY => "poolop_reply",
        POOLOP => "poolop",
        MON_COMMAND => "mon_command",
        MON_COMMAND_ACK => "mon_command_ack",
        LOG => "log",
        LOGACK => "log_ack",
        GETPOOLSTATS => "getpoolstats",
        GETPOOLSTATSREPLY => "getpoolstatsreply",
        OSD_BACKOFF => "osd_backoff",
        CONFIG => "config",
        GET_CONFIG => "get_config",
        OSD_PING => "osd_ping",
        OSD_BOOT => "osd_boot",
        OSD_FAILURE => "osd_failure",
        OSD_ALIVE => "osd_alive",
        OSD_MARK_ME_DOWN => "osd_mark_me_down",
        OSD_BEACON => "osd_beacon",
        COMMAND => "command",
        COMMAND_REPLY => "command_reply",
        OSD_REPOP => "osd_repop",
        OSD_REPOPREPLY => "osd_repop_reply",
        MGR_OPEN => "mgr_open",
        MGR_CONFIGURE => "mgr_configure",
        MGR_REPORT => "mgr_report",
        MGR_MAP => "mgr_map",
        MGR_COMMAND => "mgr_command",
        MGR_COMMAND_REPLY => "mgr_command_reply",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(type_name(MON_COMMAND), "mon_command");
        assert_eq!(type_name(CONFIG), "config");
        assert_eq!(type_name(9999), "unknown");
        // Every named type has a distinct name.
        let mut seen = std::collections::HashSet::new();
        for t in 0..=0x800u16 {
            let n = type_name(t);
            if n != "unknown" {
                assert!(seen.insert(n), "{n}");
            }
        }
    }
}
