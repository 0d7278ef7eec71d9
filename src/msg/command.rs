//! MCommand / MCommandReply: `ceph tell osd.N ...` (Ceph Pacific 16.2.15
//! `src/messages/MCommand.h`, `src/messages/MCommandReply.h`; the OSD side
//! is `OSD::handle_command` in `src/osd/OSD.cc`, which hands the command to
//! the admin socket's `queue_tell_command`).
//!
//! The `ceph` CLI (librados `Objecter::osd_command`) sends an MCommand to the
//! OSD's public address; the OSD answers with an MCommandReply carrying the
//! request's header `tid`. Neither message sets a HEAD_VERSION, so both are
//! version 1 (compat 1 after userland fills it in). Neither starts with a
//! PaxosServiceMessage header.

use super::mon_command::MAX_CMD_ARGS;
use super::osd_mon::field;
use super::{finish, put_strings, read_strings, types, MessagePayload, MAX_TEXT_LEN};
use crate::wire::{DecodeError, Put, Reader};

/// MCommand (type 97, version 1): a command for a daemon.
///
/// Front: `fsid` (16 bytes), `cmd` (`vector<string>`, usually one JSON
/// object such as `{"prefix": "version"}`). Data segment: the input
/// (`inbl`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MCommand {
    /// Cluster fsid (the CLI sends the monmap's).
    pub fsid: [u8; 16],
    /// The command strings.
    pub cmd: Vec<String>,
    /// Input bytes, carried in the data segment.
    pub inbl: Vec<u8>,
}

impl MessagePayload for MCommand {
    const TYPE: u16 = types::COMMAND;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
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
        let mut r = Reader::new(front, "MCommand");
        let fsid = r.array().map_err(field("MCommand fsid"))?;
        let cmd =
            read_strings(&mut r, MAX_CMD_ARGS, MAX_TEXT_LEN).map_err(field("MCommand cmd"))?;
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MCommand {
            fsid,
            cmd,
            inbl: data.to_vec(),
        })
    }
}

/// MCommandReply (type 98, version 1): the answer to an [`MCommand`],
/// matched by the request's header `tid`, which the reply must carry.
///
/// Front: `r` (`errorcode32_t`: a negative errno, encoded with Linux
/// numbers), `rs` (status string, printed by the CLI on stderr). Data
/// segment: the output (`outbl`, printed on stdout).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MCommandReply {
    /// 0 or a negative Linux errno (e.g. −22 for EINVAL).
    pub r: i32,
    /// Status text.
    pub rs: String,
    /// Output bytes, carried in the data segment.
    pub outbl: Vec<u8>,
}

impl MessagePayload for MCommandReply {
    const TYPE: u16 = types::COMMAND_REPLY;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        out.put_u32_le(self.r as u32);
        out.put_bytes_le32(self.rs.as_bytes());
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
        let mut r = Reader::new(front, "MCommandReply");
        let res = r.i32_le().map_err(field("MCommandReply r"))?;
        let rs = r
            .string(MAX_TEXT_LEN)
            .map_err(field("MCommandReply rs"))?
            .to_owned();
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MCommandReply {
            r: res,
            rs,
            outbl: data.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn command_golden_bytes() {
        let json = br#"{"prefix": "version"}"#;
        let mut front = Vec::new();
        front.extend_from_slice(&[0x13; 16]); // fsid
        front.extend_from_slice(&1u32.to_le_bytes()); // vector<string> count
        front.extend_from_slice(&(json.len() as u32).to_le_bytes());
        front.extend_from_slice(json);
        let c = MCommand::decode(97, 1, 1, &front, &[], b"input").unwrap();
        assert_eq!(c.fsid, [0x13; 16]);
        assert_eq!(c.cmd, [r#"{"prefix": "version"}"#]);
        assert_eq!(c.inbl, b"input");
        let enc = c.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (97, 1, 1));
        assert_eq!(enc.front, front);
        assert_eq!(enc.data, b"input");
        assert!(enc.middle.is_empty());
        for cut in 0..front.len() {
            assert!(MCommand::decode(97, 1, 1, &front[..cut], &[], &[]).is_err());
        }
        // Trailing bytes: refused at version 1, tolerated from a newer sender.
        let mut long = front.clone();
        long.push(0);
        assert!(MCommand::decode(97, 1, 1, &long, &[], &[]).is_err());
        assert!(MCommand::decode(97, 2, 1, &long, &[], &[]).is_ok());
        assert!(MCommand::decode(98, 1, 1, &front, &[], &[]).is_err());
        assert!(MCommand::decode(97, 2, 2, &front, &[], &[]).is_err());
        // Oversized count.
        let mut big = front.clone();
        big[16..20].copy_from_slice(&(MAX_CMD_ARGS as u32 + 1).to_le_bytes());
        assert!(matches!(
            MCommand::decode(97, 1, 1, &big, &[], &[]),
            Err(DecodeError::TooLong {
                what: "MCommand cmd",
                ..
            })
        ));
    }

    #[test]
    fn reply_golden_bytes() {
        let mut front = Vec::new();
        front.extend_from_slice(&(-22i32).to_le_bytes());
        front.extend_from_slice(&7u32.to_le_bytes());
        front.extend_from_slice(b"invalid");
        let r = MCommandReply::decode(98, 1, 1, &front, &[], b"{}").unwrap();
        assert_eq!(
            r,
            MCommandReply {
                r: -22,
                rs: "invalid".into(),
                outbl: b"{}".to_vec(),
            }
        );
        let enc = r.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (98, 1, 1));
        assert_eq!(enc.front, front);
        assert_eq!(enc.data, b"{}");
        for cut in 0..front.len() {
            assert!(MCommandReply::decode(98, 1, 1, &front[..cut], &[], &[]).is_err());
        }
        let mut big = front.clone();
        big[4..8].copy_from_slice(&(MAX_TEXT_LEN as u32 + 1).to_le_bytes());
        assert!(matches!(
            MCommandReply::decode(98, 1, 1, &big, &[], &[]),
            Err(DecodeError::TooLong {
                what: "MCommandReply rs",
                ..
            })
        ));
        let mut bad = front.clone();
        bad[8] = 0xff;
        assert_eq!(
            MCommandReply::decode(98, 1, 1, &bad, &[], &[]),
            Err(DecodeError::InvalidUtf8 {
                what: "MCommandReply rs"
            })
        );
    }

    proptest! {
        #[test]
        fn round_trips(fsid: [u8; 16], cmd in proptest::collection::vec(".{0,20}", 0..4),
                       data in proptest::collection::vec(any::<u8>(), 0..32), r: i32, rs in ".{0,20}") {
            let c = MCommand { fsid, cmd, inbl: data.clone() };
            prop_assert_eq!(MCommand::decode_encoded(&c.encode()).unwrap(), c);
            let a = MCommandReply { r, rs, outbl: data };
            prop_assert_eq!(MCommandReply::decode_encoded(&a.encode()).unwrap(), a);
        }

        #[test]
        fn never_panics(front in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = MCommand::decode(97, 1, 1, &front, &[], &[]);
            let _ = MCommandReply::decode(98, 1, 1, &front, &[], &[]);
        }
    }
}
