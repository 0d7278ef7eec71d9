//! Seeds for the msgr2 and monitor targets whose inputs are not a plain
//! encoding: secure frames (sealed with the targets' fixed test keys), the
//! monmap, monitor message payloads and cephx structures, each in the
//! framing its target expects (a selector byte first where it picks one).

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::{target_addr, with_cut_front};
use crate::auth::cephx::types::*;
use crate::auth::cephx::CryptoKey;
use crate::crypto::{session_ciphers, Role};
use crate::msg::subscribe::SubscribeItem;
use crate::msg::{
    ConfigMsg, EncodedMessage, MessagePayload, MonCommand, MonCommandAck, MonGetVersion,
    MonGetVersionReply, MonMap, MonMapMsg, MonSubscribe,
};
use crate::proto::frame::FrameEncoder;
use crate::wire::addr::EntityAddrVec;
use crate::wire::entity::{AuthEntityName, EntityType};
use crate::wire::utime::UTime;
use crate::wire::{Revision, Tag};

/// The connection secret the secure frame targets decrypt with (the one of
/// `test-vectors.txt`: bytes 0..64).
pub(super) fn test_secret() -> Vec<u8> {
    (0u8..64).collect()
}

/// Frames the connector sends to the secure targets' acceptor: a
/// KEEPALIVE2, then a message and a KEEPALIVE2 in one stream (so the nonce
/// counter advances), sealed with [`test_secret`].
pub(super) fn secure_frames(rev: Revision, hello: &[u8], header: &[u8]) -> Vec<Vec<u8>> {
    let sealed = |frames: &[(Tag, &[&[u8]])]| {
        let Ok((tx, _)) = session_ciphers(&test_secret(), Role::Connector, rev.into()) else {
            return Vec::new();
        };
        let mut enc = FrameEncoder::new(rev);
        enc.set_cipher(tx);
        let mut out = Vec::new();
        for (tag, segs) in frames {
            let _ = enc.encode(*tag, segs, &mut out);
        }
        out
    };
    let keepalive = [0u8; 12];
    vec![
        sealed(&[(Tag::Keepalive2, &[&keepalive])]),
        sealed(&[(Tag::Hello, &[hello])]),
        sealed(&[
            (Tag::Message, &[header, b"front", b"", b"data"]),
            (Tag::Keepalive2, &[&keepalive]),
        ]),
    ]
}

fn sample_monmap() -> MonMap {
    let now = UTime {
        sec: 1_700_000_000,
        nsec: 5,
    };
    MonMap::new_single([0x42; 16], "a", EntityAddrVec(vec![target_addr()]), now)
}

/// An encoded monmap (`MonMap::parse`'s input).
pub(super) fn monmap_seeds() -> Vec<Vec<u8>> {
    vec![sample_monmap().to_vec()]
}

/// `[kind, version, front_len (u8), front, data]` for each monitor message
/// the `messages` target decodes (`kind` is its `% 7` selector).
pub(super) fn message_seeds() -> Vec<Vec<u8>> {
    let mut subscribe = MonSubscribe {
        hostname: "fuzz".to_owned(),
        ..MonSubscribe::default()
    };
    subscribe.want("osdmap", 3, 0);
    subscribe
        .what
        .push(("monmap".to_owned(), SubscribeItem { start: 0, flags: 1 }));
    let encoded: Vec<(u8, EncodedMessage)> = vec![
        (
            0,
            MonCommand {
                fsid: [0x42; 16],
                cmd: vec![r#"{"prefix": "osd dump"}"#.to_owned()],
                inbl: b"in".to_vec(),
            }
            .encode(),
        ),
        (
            1,
            MonCommandAck {
                r: -2,
                rs: "no such pool".to_owned(),
                cmd: vec![r#"{"prefix": "osd pool get"}"#.to_owned()],
                outbl: b"{}".to_vec(),
            }
            .encode(),
        ),
        (
            2,
            MonMapMsg {
                monmap: sample_monmap(),
            }
            .encode(),
        ),
        (3, subscribe.encode()),
        (
            4,
            MonGetVersion {
                handle: 7,
                what: "osdmap".to_owned(),
            }
            .encode(),
        ),
        (
            5,
            MonGetVersionReply {
                handle: 7,
                version: 45,
                oldest_version: 1,
            }
            .encode(),
        ),
        (
            6,
            ConfigMsg {
                config: vec![("ms_mode".to_owned(), "secure".to_owned())],
            }
            .encode(),
        ),
    ];
    encoded
        .iter()
        .filter_map(|(kind, e)| with_cut_front(*kind, e))
        .collect()
}

/// `[kind, encoding]` for each cephx structure the `cephx` target decodes
/// (`kind` is its `% 14` selector).
pub(super) fn cephx_seeds() -> Vec<Vec<u8>> {
    let t0 = UTime {
        sec: 1_700_000_000,
        nsec: 0,
    };
    let t1 = UTime {
        sec: 1_700_003_600,
        nsec: 0,
    };
    let key = CryptoKey::new(*b"0123456789abcdef", t0);
    let blob = CephXTicketBlob {
        secret_id: 3,
        blob: vec![0xab; 48],
    };
    let ticket = AuthTicket {
        name: AuthEntityName {
            ty: EntityType::Client,
            id: "admin".to_owned(),
        },
        global_id: 4242,
        auid: u64::MAX,
        created: t0,
        expires: t1,
        caps: AuthCapsInfo {
            allow_all: false,
            caps: b"allow *".to_vec(),
        },
        flags: 0,
    };
    let mut rotating = RotatingSecrets {
        secrets: BTreeMap::new(),
        max_ver: 2,
    };
    for v in 1..=2 {
        rotating.secrets.insert(
            v,
            ExpiringCryptoKey {
                key: key.clone(),
                expiration: t1,
            },
        );
    }
    let mut seeds: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut add = |kind: u8, emit: &dyn Fn(&mut Vec<u8>)| {
        let mut v = vec![kind];
        emit(&mut v);
        seeds.push((kind, v));
    };
    add(0, &|o| {
        CephXServerChallenge {
            server_challenge: 0x1111_1111_1111_1111,
        }
        .emit(o)
    });
    add(1, &|o| {
        CephXRequestHeader {
            request_type: 0x0100,
        }
        .emit(o)
    });
    add(2, &|o| {
        CephXResponseHeader {
            request_type: 0x0100,
            status: 0,
        }
        .emit(o)
    });
    add(3, &|o| blob.emit(o));
    add(4, &|o| {
        CephXAuthenticate {
            struct_v: 3,
            client_challenge: 0x2222_2222_2222_2222,
            key: 0xf59b_42a5_71d2_6a95,
            old_ticket: blob.clone(),
            other_keys: 0x21,
        }
        .emit(o)
    });
    add(5, &|o| {
        CephXServiceTicket {
            session_key: key.clone(),
            validity: UTime { sec: 3600, nsec: 0 },
        }
        .emit(o)
    });
    add(6, &|o| {
        CephXServiceTicketReply {
            entries: vec![ServiceTicketReplyEntry {
                service_id: 32,
                enc_service_ticket: vec![0xcd; 64],
                ticket_enc: false,
                ticket: {
                    let mut t = Vec::new();
                    blob.emit(&mut t);
                    t
                },
            }],
        }
        .emit(o)
    });
    add(7, &|o| ticket.emit(o));
    add(8, &|o| {
        CephXServiceTicketInfo {
            ticket: ticket.clone(),
            session_key: key.clone(),
        }
        .emit(o)
    });
    add(9, &|o| {
        CephXAuthorize {
            nonce: 99,
            have_challenge: true,
            server_challenge_plus_one: 0x3333,
        }
        .emit(o)
    });
    add(10, &|o| {
        CephXAuthorizeChallenge {
            server_challenge: 0x3332,
        }
        .emit(o)
    });
    add(11, &|o| {
        CephXAuthorizeReply {
            nonce_plus_one: 100,
            connection_secret: Zeroizing::new((0u8..64).collect()),
        }
        .emit(o)
    });
    add(12, &|o| {
        CephXAuthorizer {
            global_id: 4242,
            service_id: 4,
            ticket: blob.clone(),
            enc_authorize: vec![0xef; 48],
        }
        .emit(o)
    });
    add(13, &|o| rotating.emit(o));
    seeds.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::{Decoded, FrameDecoder, FrameLimits};
    use crate::wire::Reader;

    #[test]
    fn secure_seeds_open_with_the_targets_keys() {
        let seeds = super::super::seed_corpus("frame_rev1_secure");
        assert_eq!(seeds.len(), 3);
        for (rev, name) in [
            (Revision::V2_0, "frame_rev0_secure"),
            (Revision::V2_1, "frame_rev1_secure"),
        ] {
            for seed in super::super::seed_corpus(name) {
                let (_, rx) = session_ciphers(&test_secret(), Role::Acceptor, rev.into()).unwrap();
                let mut dec = FrameDecoder::new(rev, FrameLimits::default());
                dec.set_cipher(rx);
                let (mut at, mut frames) = (0, 0);
                while at < seed.len() {
                    let (n, d) = dec.decode(&seed[at..]).unwrap();
                    at += n;
                    if matches!(d, Decoded::Frame(_)) {
                        frames += 1;
                    } else if n == 0 {
                        break;
                    }
                }
                assert_eq!(at, seed.len(), "{name}: seed not consumed whole");
                assert!(frames >= 1, "{name}: no frame opened");
            }
        }
    }

    #[test]
    fn monitor_and_cephx_seeds_decode() {
        for v in monmap_seeds() {
            assert_eq!(
                MonMap::parse(&mut Reader::new(&v, "seed")).unwrap(),
                sample_monmap()
            );
        }
        let messages = message_seeds();
        assert_eq!(messages.len(), 7, "a message seed's front outgrew one byte");
        let mon_command = &messages[0];
        let front_len = usize::from(mon_command[2]);
        let front = &mon_command[3..3 + front_len];
        assert!(MonCommand::decode_segments(1, front, &[], &mon_command[3 + front_len..]).is_ok());
        let cephx = cephx_seeds();
        assert_eq!(cephx.len(), 14);
        let (first, rest) = cephx[4].split_first().unwrap();
        assert_eq!(*first, 4);
        assert!(CephXAuthenticate::parse(&mut Reader::new(rest, "seed")).is_ok());
        let (_, rest) = cephx[13].split_first().unwrap();
        assert_eq!(
            RotatingSecrets::parse(&mut Reader::new(rest, "seed"))
                .unwrap()
                .secrets
                .len(),
            2
        );
    }
}
