//! Small mon-client messages: MMonSubscribe(+Ack), MMonGetVersion(+Reply),
//! MMonGetMap and MConfig (Ceph `src/messages/MMonSubscribe.h`,
//! `MMonSubscribeAck.h`, `MMonGetVersion.h`, `MMonGetVersionReply.h`,
//! `MMonGetMap.h`, `MConfig.h`; `ceph_mon_subscribe_item` in
//! `src/include/ceph_fs.h`).

use super::{finish, types, MessagePayload, MAX_NAME_LEN, MAX_TEXT_LEN};
use crate::wire::{DecodeError, Put, Reader};

/// Most subscription entries we accept.
pub const MAX_SUBS: usize = 64;
/// Most config entries we accept in MConfig.
pub const MAX_CONFIG_KEYS: usize = 16 * 1024;

/// `CEPH_SUBSCRIBE_ONETIME`: send once, then drop the subscription.
pub const SUBSCRIBE_ONETIME: u8 = 1;

/// `ceph_mon_subscribe_item`: le64 start + u8 flags (9 packed bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubscribeItem {
    /// First epoch wanted (0 = the latest).
    pub start: u64,
    /// [`SUBSCRIBE_ONETIME`] or 0.
    pub flags: u8,
}

/// MMonSubscribe (type 15, version 3, compat 1): `map<string,
/// ceph_mon_subscribe_item>` then (v3) the client's hostname.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonSubscribe {
    /// What to subscribe to ("monmap", "config", "osdmap", "mgrmap", ...),
    /// kept sorted by name as Ceph's `std::map` encodes it.
    pub what: Vec<(String, SubscribeItem)>,
    /// Sender's hostname (v3+).
    pub hostname: String,
}

impl MonSubscribe {
    /// Adds or replaces one subscription, keeping the list sorted.
    pub fn want(&mut self, name: &str, start: u64, flags: u8) {
        let item = SubscribeItem { start, flags };
        match self
            .what
            .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
        {
            Ok(i) => self.what[i].1 = item,
            Err(i) => self.what.insert(i, (name.to_owned(), item)),
        }
    }

    /// The subscription for `name`.
    pub fn get(&self, name: &str) -> Option<SubscribeItem> {
        self.what.iter().find(|(n, _)| n == name).map(|(_, i)| *i)
    }
}

impl MessagePayload for MonSubscribe {
    const TYPE: u16 = types::MON_SUBSCRIBE;
    const HEAD_VERSION: u16 = 3;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        let mut what: Vec<&(String, SubscribeItem)> = self.what.iter().collect();
        what.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out.put_u32_le(what.len() as u32);
        for (name, item) in what {
            out.put_bytes_le32(name.as_bytes());
            out.put_u64_le(item.start);
            out.put_u8(item.flags);
        }
        out.put_bytes_le32(self.hostname.as_bytes());
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MMonSubscribe");
        let n = r.count_le32(MAX_SUBS, 13)?;
        let mut what = Vec::with_capacity(n);
        for _ in 0..n {
            let name = r.string(MAX_NAME_LEN)?.to_owned();
            let item = if version < 2 {
                // ceph_mon_subscribe_item_old: le64 unused, le64 have, u8 onetime.
                let _unused = r.u64_le()?;
                let have = r.u64_le()?;
                let onetime = r.u8()?;
                SubscribeItem {
                    start: if have != 0 { have.saturating_add(1) } else { 0 },
                    flags: if onetime != 0 { SUBSCRIBE_ONETIME } else { 0 },
                }
            } else {
                SubscribeItem {
                    start: r.u64_le()?,
                    flags: r.u8()?,
                }
            };
            what.push((name, item));
        }
        let hostname = if version >= 3 {
            r.string(MAX_NAME_LEN)?.to_owned()
        } else {
            String::new()
        };
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MonSubscribe { what, hostname })
    }
}

/// MMonSubscribeAck (type 16, version 1): renewal interval and fsid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonSubscribeAck {
    /// Seconds until the client should renew.
    pub interval: u32,
    /// Cluster fsid.
    pub fsid: [u8; 16],
}

impl MessagePayload for MonSubscribeAck {
    const TYPE: u16 = types::MON_SUBSCRIBE_ACK;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        out.put_u32_le(self.interval);
        out.put_slice(&self.fsid);
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MMonSubscribeAck");
        let v = MonSubscribeAck {
            interval: r.u32_le()?,
            fsid: r.array()?,
        };
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(v)
    }
}

/// MMonGetVersion (type 19, version 1): ask for the latest epoch of a map.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonGetVersion {
    /// Client-chosen handle echoed in the reply.
    pub handle: u64,
    /// Map name: "osdmap", "mdsmap", "monmap", ...
    pub what: String,
}

impl MessagePayload for MonGetVersion {
    const TYPE: u16 = types::MON_GET_VERSION;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.handle);
        out.put_bytes_le32(self.what.as_bytes());
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MMonGetVersion");
        let v = MonGetVersion {
            handle: r.u64_le()?,
            what: r.string(MAX_NAME_LEN)?.to_owned(),
        };
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(v)
    }
}

/// MMonGetVersionReply (type 20, version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonGetVersionReply {
    /// The request's handle.
    pub handle: u64,
    /// Latest epoch.
    pub version: u64,
    /// Oldest epoch still available (v2+).
    pub oldest_version: u64,
}

impl MessagePayload for MonGetVersionReply {
    const TYPE: u16 = types::MON_GET_VERSION_REPLY;
    const HEAD_VERSION: u16 = 2;
    // MMonGetVersionReply sets no compat; userland then sends compat = 2
    // (observed, reference 6).
    const COMPAT_VERSION: u16 = 2;

    fn encode_front(&self, out: &mut Vec<u8>) {
        out.put_u64_le(self.handle);
        out.put_u64_le(self.version);
        out.put_u64_le(self.oldest_version);
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MMonGetVersionReply");
        let handle = r.u64_le()?;
        let ver = r.u64_le()?;
        let oldest_version = if version >= 2 { r.u64_le()? } else { 0 };
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(MonGetVersionReply {
            handle,
            version: ver,
            oldest_version,
        })
    }
}

/// MMonGetMap (type 5, version 1): an empty request for the monmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonGetMap;

impl MessagePayload for MonGetMap {
    const TYPE: u16 = types::MON_GET_MAP;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, _out: &mut Vec<u8>) {}

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        finish(
            &Reader::new(front, "MMonGetMap"),
            version,
            Self::HEAD_VERSION,
        )?;
        Ok(MonGetMap)
    }
}

/// MConfig (type 62, version 1, compat 1): the mon's configuration for this
/// client, `map<string, string>` in key order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigMsg {
    /// Option name → value.
    pub config: Vec<(String, String)>,
}

impl MessagePayload for ConfigMsg {
    const TYPE: u16 = types::CONFIG;
    const HEAD_VERSION: u16 = 1;
    const COMPAT_VERSION: u16 = 1;

    fn encode_front(&self, out: &mut Vec<u8>) {
        let mut kv: Vec<&(String, String)> = self.config.iter().collect();
        kv.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        out.put_u32_le(kv.len() as u32);
        for (k, v) in kv {
            out.put_bytes_le32(k.as_bytes());
            out.put_bytes_le32(v.as_bytes());
        }
    }

    fn decode_segments(
        version: u16,
        front: &[u8],
        _middle: &[u8],
        _data: &[u8],
    ) -> Result<Self, DecodeError> {
        let mut r = Reader::new(front, "MConfig");
        let n = r.count_le32(MAX_CONFIG_KEYS, 8)?;
        let mut config = Vec::with_capacity(n);
        for _ in 0..n {
            let k = r.string(MAX_NAME_LEN)?.to_owned();
            let v = r.string(MAX_TEXT_LEN)?.to_owned();
            config.push((k, v));
        }
        finish(&r, version, Self::HEAD_VERSION)?;
        Ok(ConfigMsg { config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{hex, EncodedMessage};

    fn cuts_fail<T: MessagePayload + std::fmt::Debug>(m: &EncodedMessage) {
        for cut in 0..m.front.len() {
            assert!(
                T::decode(m.ty, m.version, m.compat_version, &m.front[..cut], &[], &[]).is_err(),
                "{} cut {cut}",
                types::type_name(m.ty)
            );
        }
        let mut long = m.front.clone();
        long.push(0);
        assert!(T::decode(m.ty, m.version, m.compat_version, &long, &[], &[]).is_err());
    }

    #[test]
    fn get_version_matches_vector() {
        // test-vectors.txt msg_rev1_crc: front of MMonGetVersion{handle 7, "osdmap"}.
        let front = hex("0700000000000000060000006f73646d6170");
        let g = MonGetVersion::decode(19, 1, 1, &front, &[], &[]).unwrap();
        assert_eq!(g.handle, 7);
        assert_eq!(g.what, "osdmap");
        let enc = g.encode();
        assert_eq!(enc.front, front);
        cuts_fail::<MonGetVersion>(&enc);
    }

    #[test]
    fn get_version_reply_versions() {
        let r = MonGetVersionReply {
            handle: 7,
            version: 12,
            oldest_version: 1,
        };
        let enc = r.encode();
        assert_eq!((enc.version, enc.compat_version), (2, 2));
        assert_eq!(MonGetVersionReply::decode_encoded(&enc).unwrap(), r);
        cuts_fail::<MonGetVersionReply>(&enc);
        // v1 has no oldest_version.
        let v1 = MonGetVersionReply::decode(20, 1, 1, &enc.front[..16], &[], &[]).unwrap();
        assert_eq!(v1.oldest_version, 0);
    }

    #[test]
    fn subscribe_layout_and_legacy() {
        let mut s = MonSubscribe {
            hostname: "host".into(),
            ..Default::default()
        };
        s.want("osdmap", 0, 0);
        s.want("config", 0, 0);
        s.want("monmap", 2, SUBSCRIBE_ONETIME);
        assert_eq!(s.what[0].0, "config");
        let enc = s.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (15, 3, 1));
        let mut want = Vec::new();
        want.put_u32_le(3);
        for (n, st, f) in [("config", 0u64, 0u8), ("monmap", 2, 1), ("osdmap", 0, 0)] {
            want.put_bytes_le32(n.as_bytes());
            want.put_u64_le(st);
            want.put_u8(f);
        }
        want.put_bytes_le32(b"host");
        assert_eq!(enc.front, want);
        assert_eq!(MonSubscribe::decode_encoded(&enc).unwrap(), s);
        cuts_fail::<MonSubscribe>(&enc);

        let mut old = Vec::new();
        old.put_u32_le(1);
        old.put_bytes_le32(b"monmap");
        old.put_u64_le(0);
        old.put_u64_le(4);
        old.put_u8(1);
        let o = MonSubscribe::decode(15, 1, 1, &old, &[], &[]).unwrap();
        assert_eq!(
            o.get("monmap"),
            Some(SubscribeItem {
                start: 5,
                flags: SUBSCRIBE_ONETIME
            })
        );
    }

    #[test]
    fn small_messages_round_trip() {
        let a = MonSubscribeAck {
            interval: 300,
            fsid: [3; 16],
        };
        let enc = a.encode();
        assert_eq!(enc.front.len(), 20);
        assert_eq!(MonSubscribeAck::decode_encoded(&enc).unwrap(), a);
        cuts_fail::<MonSubscribeAck>(&enc);

        let g = MonGetMap.encode();
        assert!(g.front.is_empty());
        assert_eq!(MonGetMap::decode_encoded(&g).unwrap(), MonGetMap);
        assert!(MonGetMap::decode(5, 1, 1, &[0], &[], &[]).is_err());

        let c = ConfigMsg {
            config: vec![("log_to_stderr".into(), "false".into())],
        };
        let enc = c.encode();
        assert_eq!((enc.ty, enc.version, enc.compat_version), (62, 1, 1));
        assert_eq!(ConfigMsg::decode_encoded(&enc).unwrap(), c);
        cuts_fail::<ConfigMsg>(&enc);
        assert_eq!(ConfigMsg::default().encode().front, [0, 0, 0, 0]);
    }

    #[test]
    fn huge_counts_fail_without_allocating() {
        let front = [0xff, 0xff, 0xff, 0x7f];
        assert!(MonSubscribe::decode(15, 3, 1, &front, &[], &[]).is_err());
        assert!(ConfigMsg::decode(62, 1, 1, &front, &[], &[]).is_err());
    }
}
