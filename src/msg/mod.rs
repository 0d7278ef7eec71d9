//! Payload codecs of the Ceph messages pollmsgr sends and understands.
//!
//! A Ceph message travels in a MESSAGE frame (msgr2 reference section 6):
//! `ceph_msg_header2` carries the type, `version` and `compat_version`; the
//! payload is split into *front*, *middle* and *data* segments. Each type
//! here implements [`MessagePayload`]: it knows its type number and header
//! versions, encodes into an [`EncodedMessage`], and decodes from the three
//! segments given the header version it arrived with.
//!
//! Decoders never panic, check every count and length against a limit, and
//! fail with [`DecodeError`]. A payload encoded at a version we know must be
//! consumed exactly; one from a *newer* encoder may carry trailing fields,
//! which are ignored as Ceph's own decoders do. A header `compat_version`
//! above our version is refused.
//!
//! # What a fake mon must send to a real `ceph` CLI (Pacific)
//!
//! Observed by capturing (strace, auth none, crc) `ceph osd dump` against a
//! 16.2.15 mon, and read in `src/mon/MonClient.cc` (`get_monmap_and_config`,
//! `handle_monmap`) and `src/librados/RadosClient.cc` (`connect`):
//!
//! 1. The CLI opens **two** mon sessions. The first is librados' bootstrap
//!    MonClient (`get_monmap_and_config`): after auth (auth none: AUTH_DONE
//!    with a non-zero global_id, crc) it sends [`MonGetMap`] and
//!    [`MonSubscribe`] `{config, monmap}` and waits until it has **both** a
//!    monmap with `epoch >= 1` **and** an `MConfig` ([`ConfigMsg`], type 62;
//!    the real mon sent an empty map). The mon answered MonMap, MConfig,
//!    MonMap. (If the monmap's `persistent_features` lack mon FEATURE_MIMIC
//!    the client skips the config wait; [`MonMap::new_single`] sets the
//!    Pacific set, so send both.)
//! 2. The monmap must list the address the client dialed, exactly (type
//!    MSGR2, nonce 0, IP, port): `handle_monmap` re-hunts if its mon is not
//!    in the new map. Its `fsid` should be the `ceph.conf` fsid; the CLI
//!    copies it into every [`MonCommand`].
//! 3. The second session repeats MonGetMap + subscribe `{config, monmap}`,
//!    then subscribes `mgrmap` and `osdmap` (onetime). The real mon also sent
//!    MgrMap (0x704) and OSDMap (41); these are not needed for mon commands.
//!    [`MonSubscribeAck`] was not sent by the mon to this msgr2 client.
//! 4. Then [`MonCommand`]s (type 50, header tid 1, 2, ...): first
//!    `{"prefix": "get_command_descriptions"}`, answered with a
//!    [`MonCommandAck`] whose data is a JSON object of command signatures
//!    (73 KB from a real mon); the CLI checks the user's command against it
//!    before sending it as tid 2. Each ack must carry the request's tid in
//!    header2, the same `cmd`, `r`, `rs`, and the output in the data segment.
//!    A fake mon must therefore return descriptors for the commands it serves.

pub mod command;
mod envelope;
pub mod mon_command;
pub mod monmap;
pub mod osd_mon;
pub mod osd_op;
pub mod subscribe;
pub mod types;

pub use envelope::{from_message, to_message};
pub use mon_command::{MonCommand, MonCommandAck};
pub use monmap::{MonInfo, MonMap, MonMapMsg};
pub use subscribe::{
    ConfigMsg, MonGetMap, MonGetVersion, MonGetVersionReply, MonSubscribe, MonSubscribeAck,
    SubscribeItem,
};

use crate::wire::{DecodeError, Put, Reader};

/// Longest generic string we accept inside a message (names, keys).
pub const MAX_NAME_LEN: usize = 4096;
/// Longest free-form string (command JSON, status text, config values).
pub const MAX_TEXT_LEN: usize = 1 << 20;

/// A message's encoded segments plus the header fields its type decides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncodedMessage {
    /// Message type (`header2.type`, [`types`]).
    pub ty: u16,
    /// `header2.version`.
    pub version: u16,
    /// `header2.compat_version`.
    pub compat_version: u16,
    /// Segment 1.
    pub front: Vec<u8>,
    /// Segment 2.
    pub middle: Vec<u8>,
    /// Segment 3.
    pub data: Vec<u8>,
}

/// A Ceph message type whose payload we encode and decode.
pub trait MessagePayload: Sized {
    /// Message type number ([`types`]).
    const TYPE: u16;
    /// The header `version` we encode (Ceph `HEAD_VERSION`).
    const HEAD_VERSION: u16;
    /// The header `compat_version` we encode. Ceph's userland puts
    /// `version` here when a message leaves it 0 (reference 6).
    const COMPAT_VERSION: u16;

    /// Appends the front segment.
    fn encode_front(&self, out: &mut Vec<u8>);

    /// The data segment (empty for most types).
    fn data(&self) -> &[u8] {
        &[]
    }

    /// Decodes from the segments; `version` is the header version it came with.
    fn decode_segments(
        version: u16,
        front: &[u8],
        middle: &[u8],
        data: &[u8],
    ) -> Result<Self, DecodeError>;

    /// Encodes into segments with this type's header fields.
    fn encode(&self) -> EncodedMessage {
        let mut front = Vec::new();
        self.encode_front(&mut front);
        EncodedMessage {
            ty: Self::TYPE,
            version: Self::HEAD_VERSION,
            compat_version: Self::COMPAT_VERSION,
            front,
            middle: Vec::new(),
            data: self.data().to_vec(),
        }
    }

    /// Decodes a received message after checking its type and compat version.
    fn decode(
        ty: u16,
        version: u16,
        compat_version: u16,
        front: &[u8],
        middle: &[u8],
        data: &[u8],
    ) -> Result<Self, DecodeError> {
        if ty != Self::TYPE {
            return Err(DecodeError::InvalidValue {
                what: "message type",
                value: u64::from(ty),
            });
        }
        if compat_version > Self::HEAD_VERSION {
            return Err(DecodeError::IncompatibleVersion {
                what: types::type_name(ty),
                compat: u8::try_from(compat_version).unwrap_or(u8::MAX),
                supported: u8::try_from(Self::HEAD_VERSION).unwrap_or(u8::MAX),
            });
        }
        Self::decode_segments(version, front, middle, data)
    }

    /// Decodes an [`EncodedMessage`] (handy in tests and loopback).
    fn decode_encoded(m: &EncodedMessage) -> Result<Self, DecodeError> {
        Self::decode(
            m.ty,
            m.version,
            m.compat_version,
            &m.front,
            &m.middle,
            &m.data,
        )
    }
}

/// Ends a front decode: strict unless the sender's `version` is newer than
/// ours (newer encoders append fields).
pub(crate) fn finish(r: &Reader<'_>, version: u16, head: u16) -> Result<(), DecodeError> {
    if version > head {
        Ok(())
    } else {
        r.expect_end()
    }
}

/// Reads a `vector<string>` / `set<string>` with at most `max` entries of at
/// most `max_len` bytes each.
pub(crate) fn read_strings(
    r: &mut Reader<'_>,
    max: usize,
    max_len: usize,
) -> Result<Vec<String>, DecodeError> {
    let n = r.count_le32(max, 4)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(r.string(max_len)?.to_owned());
    }
    Ok(v)
}

/// Appends a `vector<string>`.
pub(crate) fn put_strings(out: &mut Vec<u8>, v: &[String]) {
    out.put_u32_le(v.len() as u32);
    for s in v {
        out.put_bytes_le32(s.as_bytes());
    }
}

/// Formats a 16-byte fsid as the usual `8-4-4-4-12` hex UUID.
pub fn fsid_to_string(fsid: &[u8; 16]) -> String {
    let h: String = fsid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Parses a UUID string (with or without dashes) into 16 bytes.
pub fn parse_fsid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|&c| c != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let txt = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(txt, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
pub(crate) use crate::wire::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsid_text() {
        let s = "6c7ed9a1-3f2b-4c1e-9a0f-1234567890ab";
        let f = parse_fsid(s).unwrap();
        assert_eq!(f[0], 0x6c);
        assert_eq!(fsid_to_string(&f), s);
        assert!(parse_fsid("zz").is_none());
        assert!(parse_fsid("6c7ed9a1-3f2b-4c1e-9a0f-1234567890ag").is_none());
    }
}

/// Message payloads captured (strace, crc mode, auth none) between a
/// Pacific 16.2.15 `ceph osd dump` and a 16.2.15 mon on loopback.
#[cfg(test)]
mod pacific_capture {
    use super::*;

    const FSID: &str = "138485f7-ef01-4697-bc06-7bae9bc4533b";

    fn check<T: MessagePayload + std::fmt::Debug>(version: u16, compat: u16, front: &str) -> T {
        let bytes = hex(front);
        let v = T::decode(T::TYPE, version, compat, &bytes, &[], &[]).unwrap();
        let enc = v.encode();
        assert_eq!((enc.version, enc.compat_version), (version, compat));
        assert_eq!(
            enc.front,
            bytes,
            "{} re-encodes differently",
            types::type_name(T::TYPE)
        );
        v
    }

    #[test]
    fn client_to_mon() {
        let c: MonCommand = check(1, 1, "0000000000000000ffff0000000000000000138485f7ef014697bc067bae9bc4533b01000000280000007b22707265666978223a20226f73642064756d70222c2022666f726d6174223a20226a736f6e227d");
        assert_eq!(fsid_to_string(&c.fsid), FSID);
        assert_eq!(c.cmd, [r#"{"prefix": "osd dump", "format": "json"}"#]);
        let s: MonSubscribe = check(3, 1, "0200000006000000636f6e666967000000000000000000060000006d6f6e6d617000000000000000000002000000766d");
        assert_eq!(s.get("config"), Some(SubscribeItem::default()));
        assert_eq!(s.get("monmap"), Some(SubscribeItem::default()));
        assert_eq!(s.hostname, "vm");
        let o: MonSubscribe = check(
            3,
            1,
            "01000000060000006f73646d617000000000000000000102000000766d",
        );
        assert_eq!(o.get("osdmap").unwrap().flags, subscribe::SUBSCRIBE_ONETIME);
        let _: MonGetMap = check(1, 1, "");
    }

    #[test]
    fn mon_to_client() {
        // The ack's PaxosServiceMessage version (7 here: the osdmap epoch) is
        // not kept; clients ignore it and we encode 0.
        let mut ack = hex("0700000000000000ffff0000000000000000000000000000000001000000280000007b22707265666978223a20226f73642064756d70222c2022666f726d6174223a20226a736f6e227d");
        let a = MonCommandAck::decode(51, 1, 1, &ack, &[], b"{}").unwrap();
        assert_eq!(
            (a.r, a.rs.as_str(), a.outbl.as_slice()),
            (0, "", &b"{}"[..])
        );
        assert_eq!(a.cmd, [r#"{"prefix": "osd dump", "format": "json"}"#]);
        ack[0] = 0;
        assert_eq!(a.encode().front, ack);
        let _: ConfigMsg = check(1, 1, "00000000");
        let m: MonMapMsg = check(1, 1, "c90000000906c3000000138485f7ef014697bc067bae9bc4533b01000000da0e076bb78bc300da0e076bb78bc300010108000000ff000000000000000101080000000000000000000000010000000100000061050158000000010000006102020000000101011c00000002000000000000001000000002009c407f004d0100000000000000000101011c0000000100000000000000100000000200a9e17f004d010000000000000000000000000000000001000000010000006110000000000100000000000000000000000000");
        let mm = &m.monmap;
        assert_eq!(fsid_to_string(&mm.fsid), FSID);
        assert_eq!(mm.epoch, 1);
        assert_eq!(
            mm.persistent_features,
            monmap::mon_features::PACIFIC_PERSISTENT
        );
        assert_eq!(mm.optional_features, 0);
        assert_eq!(
            (mm.min_mon_release, mm.strategy),
            (monmap::RELEASE_PACIFIC, 1)
        );
        assert_eq!(
            mm.by_rank(0).unwrap().public_addrs.to_string(),
            "[v2:127.0.77.1:40000/0,v1:127.0.77.1:43489/0]"
        );
        // What a fake mon builds for the same cluster encodes identically.
        let fake = MonMap::new_single(mm.fsid, "a", mm.mons[0].public_addrs.clone(), mm.created);
        assert_eq!(fake.to_vec(), mm.to_vec());
    }
}
