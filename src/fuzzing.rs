//! Fuzz targets: every decoder of untrusted input, as plain functions that
//! must never panic, whatever the bytes.
//!
//! The nightly `fuzz/` crate (cargo fuzz, coverage-guided) and the stable
//! smoke test `tests/fuzz_smoke.rs` (seeded mutations of valid encodings, in
//! CI) call these same functions, so a crash found by either is replayable
//! with the other. [`seed_corpus`] gives valid encodings to mutate.

use std::time::{Duration, Instant};

use rand::SeedableRng;

use crate::auth::cephx::types::*;
use crate::auth::none::{NoneClient, NoneServer};
use crate::crypto::{session_ciphers, Role};
use crate::msg::{
    ConfigMsg, MessagePayload, MonCommand, MonCommandAck, MonGetVersion, MonGetVersionReply,
    MonMap, MonMapMsg, MonSubscribe,
};
use crate::proto::frame::{Decoded, FrameDecoder, FrameEncoder, FrameLimits};
use crate::proto::{Connection, ConnectionConfig, Event, Policies, Policy};
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::banner::{self, BannerRepr};
use crate::wire::control::ControlFrame;
use crate::wire::entity::EntityType;
use crate::wire::header2::MsgHeader2Repr;
use crate::wire::{Reader, Revision, Tag};

/// A named fuzz target.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    ("banner", banner),
    ("frame_rev0_crc", frame_rev0_crc),
    ("frame_rev1_crc", frame_rev1_crc),
    ("frame_rev0_secure", frame_rev0_secure),
    ("frame_rev1_secure", frame_rev1_secure),
    ("control", control),
    ("header2", header2),
    ("addrvec", addrvec),
    ("monmap", monmap),
    ("messages", messages),
    ("cephx", cephx),
    ("connection_acceptor", connection_acceptor),
    ("connection_connector", connection_connector),
];

/// Banner parsing.
pub fn banner(data: &[u8]) {
    let _ = banner::banner_len(data);
    let _ = BannerRepr::parse(data);
}

fn frames(data: &[u8], rev: Revision, secure: bool) {
    let mut dec = FrameDecoder::new(rev, FrameLimits::default());
    if secure {
        let secret: Vec<u8> = (0u8..64).collect();
        if let Ok((_, rx)) = session_ciphers(&secret, Role::Acceptor, rev) {
            dec.set_cipher(rx);
        }
    }
    let mut rest = data;
    // Feed in two uneven pieces to exercise the partial-stage paths too.
    let split = rest.len() / 3;
    let mut buf: Vec<u8> = rest[..split].to_vec();
    rest = &rest[split..];
    for _ in 0..10_000 {
        match dec.decode(&buf) {
            Ok((n, d)) => {
                buf.drain(..n.min(buf.len()));
                if matches!(d, Decoded::NeedMore) && n == 0 {
                    if rest.is_empty() {
                        return;
                    }
                    buf.extend_from_slice(rest);
                    rest = &[];
                }
            }
            Err(_) => return,
        }
    }
}

/// The msgr2.0 crc frame decoder.
pub fn frame_rev0_crc(data: &[u8]) {
    frames(data, Revision::V2_0, false)
}
/// The msgr2.1 crc frame decoder.
pub fn frame_rev1_crc(data: &[u8]) {
    frames(data, Revision::V2_1, false)
}
/// The msgr2.0 secure frame decoder (fixed test keys).
pub fn frame_rev0_secure(data: &[u8]) {
    frames(data, Revision::V2_0, true)
}
/// The msgr2.1 secure frame decoder (fixed test keys).
pub fn frame_rev1_secure(data: &[u8]) {
    frames(data, Revision::V2_1, true)
}

/// Control payloads: the first byte picks the tag.
pub fn control(data: &[u8]) {
    let Some((&t, payload)) = data.split_first() else {
        return;
    };
    if let Some(tag) = Tag::from_u8(t % 21) {
        let _ = ControlFrame::parse(tag, payload);
    }
}

/// `ceph_msg_header2`.
pub fn header2(data: &[u8]) {
    let _ = MsgHeader2Repr::parse(data);
}

/// Addresses and address vectors.
pub fn addrvec(data: &[u8]) {
    let _ = EntityAddrVec::parse(&mut Reader::new(data, "fuzz addrvec"));
    let _ = EntityAddr::parse(&mut Reader::new(data, "fuzz addr"));
}

/// The monitor map.
pub fn monmap(data: &[u8]) {
    let _ = MonMap::parse(&mut Reader::new(data, "fuzz monmap"));
}

fn decode_as<P: MessagePayload>(version: u16, front: &[u8], data: &[u8]) {
    let _ = P::decode(P::TYPE, version, 1, front, &[], data);
}

/// Message payloads: the first byte picks the type, the second the version,
/// the third how long the front is (the rest is the data segment).
pub fn messages(data: &[u8]) {
    let [kind, version, cut, rest @ ..] = data else {
        return;
    };
    let (front, body) = rest.split_at(usize::from(*cut).min(rest.len()));
    let version = u16::from(*version % 8);
    match kind % 7 {
        0 => decode_as::<MonCommand>(version, front, body),
        1 => decode_as::<MonCommandAck>(version, front, body),
        2 => decode_as::<MonMapMsg>(version, front, body),
        3 => decode_as::<MonSubscribe>(version, front, body),
        4 => decode_as::<MonGetVersion>(version, front, body),
        5 => decode_as::<MonGetVersionReply>(version, front, body),
        _ => decode_as::<ConfigMsg>(version, front, body),
    }
}

/// cephx structures: the first byte picks the structure.
pub fn cephx(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let r = &mut Reader::new(rest, "fuzz cephx");
    match kind % 14 {
        0 => drop(CephXServerChallenge::parse(r)),
        1 => drop(CephXRequestHeader::parse(r)),
        2 => drop(CephXResponseHeader::parse(r)),
        3 => drop(CephXTicketBlob::parse(r)),
        4 => drop(CephXAuthenticate::parse(r)),
        5 => drop(CephXServiceTicket::parse(r)),
        6 => drop(CephXServiceTicketReply::parse(r)),
        7 => drop(AuthTicket::parse(r)),
        8 => drop(CephXServiceTicketInfo::parse(r)),
        9 => drop(CephXAuthorize::parse(r)),
        10 => drop(CephXAuthorizeChallenge::parse(r)),
        11 => drop(CephXAuthorizeReply::parse(r)),
        12 => drop(CephXAuthorizer::parse(r)),
        _ => drop(RotatingSecrets::parse(r)),
    }
}

fn target_addr() -> EntityAddr {
    EntityAddr {
        ty: AddrType::Msgr2,
        nonce: 1,
        addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 6800))),
    }
}

/// Drives a connection with `data` as everything its peer sends, in chunks,
/// with a deadline pass at the end: it may close, it must not panic.
fn drive(mut conn: Connection, data: &[u8], now: Instant) {
    for chunk in data.chunks(97) {
        conn.handle_input(chunk, now);
        conn.tx_consumed(conn.tx_pending().len());
        while let Some(ev) = conn.poll_event() {
            if let Event::SessionRequest(_) = ev {
                let _ = conn.decide_session(crate::proto::SessionDecision::NewSession);
            }
        }
    }
    conn.handle_timeout(now + Duration::from_secs(60));
    while conn.poll_event().is_some() {}
}

/// A whole acceptor fed arbitrary bytes.
pub fn connection_acceptor(data: &[u8]) {
    let now = Instant::now();
    let mut cfg = ConnectionConfig::new(EntityType::Osd);
    cfg.my_addrs = EntityAddrVec(vec![target_addr()]);
    let conn = Connection::accept(
        cfg,
        std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
        Policies::osd(),
        Box::new(NoneServer::new(1)),
        Box::new(rand::rngs::StdRng::seed_from_u64(1)),
        now,
    );
    drive(conn, data, now);
}

/// A whole connector fed arbitrary bytes.
pub fn connection_connector(data: &[u8]) {
    let now = Instant::now();
    let conn = Connection::connect(
        ConnectionConfig::new(EntityType::Client),
        target_addr(),
        EntityType::Osd,
        Policy::lossless_peer(),
        Box::new(NoneClient::new(8, "fuzz", 0, false)),
        Box::new(rand::rngs::StdRng::seed_from_u64(1)),
        now,
    );
    drive(conn, data, now);
}

/// Valid encodings for `target`, for mutation-based fuzzing.
pub fn seed_corpus(target: &str) -> Vec<Vec<u8>> {
    let frame = |rev, tag, segs: &[&[u8]]| {
        let mut out = Vec::new();
        let _ = FrameEncoder::new(rev).encode(tag, segs, &mut out);
        out
    };
    let mut hello = Vec::new();
    crate::wire::control::HelloFrame {
        entity_type: 8,
        peer_addr: target_addr(),
    }
    .emit(&mut hello);
    let mut banner_bytes = Vec::new();
    BannerRepr::PACIFIC.emit(&mut banner_bytes);
    let header = MsgHeader2Repr {
        seq: 1,
        tid: 2,
        ty: 42,
        priority: 127,
        version: 1,
        data_pre_padding_len: 0,
        data_off: 0,
        ack_seq: 0,
        flags: 3,
        compat_version: 1,
        reserved: 0,
    };
    let mut h = Vec::new();
    header.emit(&mut h);
    match target {
        "banner" => vec![banner_bytes],
        "frame_rev0_crc" | "frame_rev1_crc" => {
            let rev = if target.contains("rev0") {
                Revision::V2_0
            } else {
                Revision::V2_1
            };
            vec![
                frame(rev, Tag::Hello, &[&hello]),
                frame(rev, Tag::Message, &[&h, b"front", b"", b"data"]),
            ]
        }
        "control" => {
            let mut v = vec![Tag::Hello as u8];
            v.extend_from_slice(&hello);
            vec![v]
        }
        "header2" => vec![h],
        "addrvec" => {
            let mut v = Vec::new();
            EntityAddrVec(vec![target_addr()]).emit(&mut v);
            vec![v]
        }
        "connection_acceptor" | "connection_connector" => {
            let mut v = banner_bytes;
            v.extend(frame(Revision::V2_1, Tag::Hello, &[&hello]));
            vec![v]
        }
        _ => Vec::new(),
    }
}
