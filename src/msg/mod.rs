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
//! From `src/mon/MonClient.cc` (`get_monmap_and_config`, `authenticate`,
//! `handle_monmap`) and `src/librados/RadosClient.cc` (`connect`):
//!
//! 1. `RadosClient::connect` first runs a throwaway bootstrap MonClient
//!    (`get_monmap_and_config`). It authenticates (msgr2 AUTH frames; auth
//!    none needs a non-zero global_id in AUTH_DONE), then sends
//!    [`MonSubscribe`] for `"monmap"` and `"config"`, and waits until it has
//!    **both** a monmap with `epoch >= 1` **and** an `MConfig`
//!    ([`ConfigMsg`], type 62, an empty map is fine). If the monmap's
//!    `persistent_features` lack mon FEATURE_MIMIC it skips the config wait;
//!    [`MonMap::new_single`] sets the Pacific persistent set, so send both.
//! 2. The monmap must contain the address the client dialed, exactly (type
//!    MSGR2, nonce 0, IP, port): `handle_monmap` drops and re-hunts a mon
//!    that is not in the new map. Its `fsid` should match the client's
//!    `ceph.conf` fsid, if that sets one.
//! 3. The real MonClient then connects again (new session, auth again),
//!    subscribes to `"monmap"` (and `"mgrmap"`, `"osdmap"` from the objecter);
//!    send [`MonMapMsg`] again. Unanswered `mgrmap`/`osdmap` subscriptions do
//!    not block mon commands. [`MonSubscribeAck`] is optional.
//! 4. Each [`MonCommand`] (type 50) must be answered with a
//!    [`MonCommandAck`] (type 51) carrying the same `tid` in header2, the
//!    command vector, `r`, `rs` and the output bytes in the data segment.
//!    The CLI starts with `{"prefix": "get_command_descriptions"}`, whose
//!    output is a JSON object describing the commands it may send; an
//!    answer of `r = 0` with `{}` makes the CLI reject other commands as
//!    unknown, so a fake mon should return descriptors for what it serves
//!    (or the client should use `ceph --no-...`/librados directly).
//!    **[unverified against a live CLI]**: items 3–4 come from reading the
//!    sources, not from a run.

pub mod mon_command;
pub mod monmap;
pub mod subscribe;
pub mod types;

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
pub(crate) fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

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
