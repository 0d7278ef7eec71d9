//! MMonCommand / MMonCommandAck (Ceph `src/messages/MMonCommand.h`,
//! `MMonCommandAck.h`, `PaxosServiceMessage.h`).
//!
//! Both start with the PaxosServiceMessage header: `le64 version`,
//! `s16 deprecated_session_mon` (−1), `le64 deprecated_session_mon_tid` (0).
//! Neither sets a HEAD_VERSION, so the header version is 1 (and compat 1, as
//! userland fills compat from version).

use super::{finish, put_strings, read_strings, types, MessagePayload, MAX_TEXT_LEN};
use crate::wire::{DecodeError, Put, Reader};

/// Most command-vector entries we accept.
pub const MAX_CMD_ARGS: usize = 256;

/// `PaxosServiceMessage` header fields.
pub(crate) fn put_paxos(out: &mut Vec<u8>, version: u64) {
    out.put_u64_le(version);
    out.put_u16_le(-1i16 as u16);
    out.put_u64_le(0);
}

/// Reads the `PaxosServiceMessage` header and returns its `version`.
pub(crate) fn read_paxos(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let version = r.u64_le()?;
    let _session_mon = r.u16_le()?;
    let _session_mon_tid = r.u64_le()?;
    Ok(version)
}

/// MMonCommand (type 50): a command for the monitor, as a vector of JSON
/// strings (usually one), with input bytes in the data segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonCommand {
    /// Cluster fsid (zero is accepted by mons).
    pub fsid: [u8; 16],
    /// The command, e.g. `[r#"{"prefix": "status", "format": "json"}"#]`.
    pub cmd: Vec<String>,
    /// Input data (`-i file`), carried in the data segment.
    pub inbl: Vec<u8>,
}

impl MessagePayload for MonCommand {
    const TYPE: u16 = types::MON_COMMAND;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        put_paxos(out, 0);
        out.put_slice(&self.fsid);
        put_strings(out, &self.cmd);
    }

    fn data(&self) -> &[u8] {
        &self.inbl
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MMonCommand");
        read_paxos(&mut r)?;
        let fsid = r.array()?;
        let cmd = read_strings(&mut r, MAX_CMD_ARGS, MAX_TEXT_LEN)?;
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MonCommand {
            fsid,
            cmd,
            inbl: data.to_vec(),
        })
    }
}

/// MMonCommandAck (type 51): the result of a [`MonCommand`], matched by the
/// header `tid`. Output bytes travel in the data segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonCommandAck {
    /// Result: 0 or a negative errno.
    pub r: i32,
    /// Status text (shown by the CLI on stderr).
    pub rs: String,
    /// The command being answered.
    pub cmd: Vec<String>,
    /// Output data.
    pub outbl: Vec<u8>,
}

impl MessagePayload for MonCommandAck {
    const TYPE: u16 = types::MON_COMMAND_ACK;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        put_paxos(out, 0);
        out.put_u32_le(self.r as u32);
        out.put_bytes_le32(self.rs.as_bytes());
        put_strings(out, &self.cmd);
    }

    fn data(&self) -> &[u8] {
        &self.outbl
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MMonCommandAck");
        read_paxos(&mut r)?;
        let res = r.i32_le()?;
        let rs = r.string(MAX_TEXT_LEN)?.to_owned();
        let cmd = read_strings(&mut r, MAX_CMD_ARGS, MAX_TEXT_LEN)?;
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MonCommandAck {
            r: res,
            rs,
            cmd,
            outbl: data.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn command_layout() {
        let c = MonCommand {
            fsid: [0xab; 16],
            cmd: vec![r#"{"prefix":"status"}"#.into()],
            inbl: b"in".to_vec(),
        };
        let m = c.encode();
        assert_eq!((m.ty, m.version, m.compat_version), (50, 1, 1));
        // version 0 | session_mon -1 | session_mon_tid 0 | fsid | vec<string>
        let mut want = vec![0u8; 8];
        want.extend_from_slice(&[0xff, 0xff]);
        want.extend_from_slice(&[0u8; 8]);
        want.extend_from_slice(&[0xab; 16]);
        want.extend_from_slice(&1u32.to_le_bytes());
        want.extend_from_slice(&19u32.to_le_bytes());
        want.extend_from_slice(br#"{"prefix":"status"}"#);
        assert_eq!(m.front, want);
        assert_eq!(m.data, b"in");
        assert_eq!(MonCommand::decode_encoded(&m).unwrap(), c);
        for cut in 0..m.front.len() {
            assert!(MonCommand::decode(50, 1, 1, &m.front[..cut], &[], &[]).is_err());
        }
        let mut long = m.front.clone();
        long.push(0);
        assert!(MonCommand::decode(50, 1, 1, &long, &[], &[]).is_err());
        // A newer encoder's extra fields are tolerated.
        assert!(MonCommand::decode(50, 2, 1, &long, &[], &[]).is_ok());
        // Wrong type or too-new compat is refused.
        assert!(MonCommand::decode(51, 1, 1, &m.front, &[], &[]).is_err());
        assert!(MonCommand::decode(50, 2, 2, &m.front, &[], &[]).is_err());
    }

    #[test]
    fn ack_round_trip_and_truncation() {
        let a = MonCommandAck {
            r: -22,
            rs: "invalid".into(),
            cmd: vec!["{}".into()],
            outbl: b"{\"ok\":1}".to_vec(),
        };
        let m = a.encode();
        assert_eq!(&m.front[18..22], &(-22i32).to_le_bytes());
        assert_eq!(MonCommandAck::decode_encoded(&m).unwrap(), a);
        for cut in 0..m.front.len() {
            assert!(MonCommandAck::decode(51, 1, 1, &m.front[..cut], &[], &[]).is_err());
        }
    }

    proptest! {
        #[test]
        fn round_trips(fsid: [u8; 16], cmd in proptest::collection::vec(".{0,20}", 0..4),
                       data in proptest::collection::vec(any::<u8>(), 0..32), r: i32, rs in ".{0,20}") {
            let c = MonCommand { fsid, cmd: cmd.clone(), inbl: data.clone() };
            prop_assert_eq!(MonCommand::decode_encoded(&c.encode()).unwrap(), c);
            let a = MonCommandAck { r, rs, cmd, outbl: data };
            prop_assert_eq!(MonCommandAck::decode_encoded(&a.encode()).unwrap(), a);
        }

        #[test]
        fn never_panics(front in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = MonCommand::decode(50, 1, 1, &front, &[], &[]);
            let _ = MonCommandAck::decode(51, 1, 1, &front, &[], &[]);
        }
    }
}
