//! Every class of bad input closes that one connection with the named error,
//! and leaves other connections running (issue: "msgr2 protocol core").
//!
//! Each test runs a healthy connection pair next to the victim and checks it
//! still exchanges messages after the victim is closed.

mod sim;

use std::time::{Duration, Instant};

use pollmsgr::auth::none::{NoneClient, NoneServer};
use pollmsgr::proto::frame::{FrameEncoder, FrameError};
use pollmsgr::proto::{
    ConnError, Connection, ConnectionConfig, Event, Message, PeerMisbehaved, Policies, Policy,
};
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::banner::{BannerError, BannerRepr};
use pollmsgr::wire::control::{HelloFrame, Keepalive2Frame};
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::utime::UTime;
use pollmsgr::wire::{DecodeError, Put, Revision, Tag};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sim::{acceptor_addr, FixedKeyClient, FixedKeyServer};

fn rng() -> Box<StdRng> {
    Box::new(StdRng::seed_from_u64(1))
}

fn acceptor_cfg() -> ConnectionConfig {
    let mut c = ConnectionConfig::new(EntityType::Osd);
    c.my_addrs = EntityAddrVec(vec![acceptor_addr()]);
    c.my_gid = 0;
    c
}

fn connector_cfg() -> ConnectionConfig {
    let mut c = ConnectionConfig::new(EntityType::Client);
    c.my_addrs = EntityAddrVec(vec![EntityAddr {
        ty: AddrType::Any,
        nonce: 5,
        addr: Some("127.0.0.1:40000".parse().expect("literal")),
    }]);
    c
}

fn acceptor(now: Instant) -> Connection {
    Connection::accept(
        acceptor_cfg(),
        "127.0.0.1:40000".parse().expect("literal"),
        Policies::default(),
        Box::new(NoneServer::new(10)),
        rng(),
        now,
    )
}

fn connector(now: Instant) -> Connection {
    Connection::connect(
        connector_cfg(),
        acceptor_addr(),
        EntityType::Osd,
        Policy::lossy_client(),
        Box::new(NoneClient::new(8, "admin", 0, false)),
        rng(),
        now,
    )
}

/// Moves bytes both ways until neither side has anything to send; answers
/// session requests with a new session. Returns all events, tagged by side.
fn pump(a: &mut Connection, b: &mut Connection, now: Instant) -> Vec<(bool, Event)> {
    let mut events = Vec::new();
    for _ in 0..1000 {
        let mut moved = false;
        let out = a.tx_pending().to_vec();
        if !out.is_empty() {
            a.tx_consumed(out.len());
            b.handle_input(&out, now);
            moved = true;
        }
        let out = b.tx_pending().to_vec();
        if !out.is_empty() {
            b.tx_consumed(out.len());
            a.handle_input(&out, now);
            moved = true;
        }
        for (is_a, c) in [(true, &mut *a), (false, &mut *b)] {
            while let Some(ev) = c.poll_event() {
                if let Event::SessionRequest(_) = ev {
                    let _ = c.decide_session(pollmsgr::proto::SessionDecision::NewSession);
                    moved = true;
                    continue;
                }
                events.push((is_a, ev));
            }
        }
        if !moved {
            break;
        }
    }
    events
}

/// A healthy pair brought to READY.
fn healthy_pair(now: Instant) -> (Connection, Connection) {
    let mut c = connector(now);
    let mut s = acceptor(now);
    pump(&mut c, &mut s, now);
    assert!(
        c.is_ready() && s.is_ready(),
        "healthy pair did not reach READY"
    );
    (c, s)
}

/// Checks the healthy pair still carries a message each way.
fn assert_still_healthy(pair: &mut (Connection, Connection), now: Instant) {
    pair.0.send_message(Message::new(0x7001, 1, &b"ping"[..]));
    pair.1.send_message(Message::new(0x7002, 1, &b"pong"[..]));
    let events = pump(&mut pair.0, &mut pair.1, now);
    let got: Vec<u16> = events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message(m) => Some(m.ty),
            _ => None,
        })
        .collect();
    assert!(
        got.contains(&0x7001) && got.contains(&0x7002),
        "healthy pair broke: {got:?}"
    );
}

/// Feeds `bytes` to `victim` and returns the error it closed with.
fn close_error(victim: &mut Connection, bytes: &[u8], now: Instant) -> ConnError {
    victim.handle_input(bytes, now);
    while let Some(ev) = victim.poll_event() {
        if let Event::Closed { error, .. } = ev {
            assert!(
                victim.is_closed() || !victim.is_ready(),
                "victim still ready after {error}"
            );
            return error;
        }
    }
    panic!("victim did not close; state {}", victim.state_name());
}

/// An acceptor that has already received a valid client banner (so frames follow).
fn acceptor_after_banner(now: Instant) -> Connection {
    let mut s = acceptor(now);
    s.handle_input(&banner(1, 0), now);
    s
}

fn banner(supported: u64, required: u64) -> Vec<u8> {
    let mut out = Vec::new();
    BannerRepr {
        supported,
        required,
    }
    .emit(&mut out);
    out
}

fn crc_frame(rev: Revision, tag: Tag, segments: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    FrameEncoder::new(rev)
        .encode(tag, segments, &mut out)
        .expect("test frame encodes");
    out
}

/// A 32-byte preamble with a valid CRC and arbitrary descriptors.
fn raw_preamble(tag: u8, segs: &[(u32, u16)]) -> Vec<u8> {
    let mut p = Vec::new();
    p.put_u8(tag);
    p.put_u8(segs.len() as u8);
    for i in 0..4 {
        let (len, align) = segs.get(i).copied().unwrap_or((0, 0));
        p.put_u32_le(len);
        p.put_u16_le(align);
    }
    p.put_u16_le(0);
    let crc = pollmsgr::checksum::ceph_crc32c(0, &p);
    p.put_u32_le(crc);
    p
}

fn run_case(
    name: &str,
    check: impl FnOnce(Instant) -> ConnError,
    expect: impl Fn(&ConnError) -> bool,
) {
    let now = Instant::now();
    let mut healthy = healthy_pair(now);
    let err = check(now);
    assert!(expect(&err), "{name}: unexpected error: {err} ({err:?})");
    // The message names what was wrong.
    assert!(!err.to_string().is_empty());
    assert_still_healthy(&mut healthy, now);
}

#[test]
fn bad_banner_is_refused() {
    run_case(
        "bad banner",
        |now| {
            close_error(
                &mut acceptor(now),
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                now,
            )
        },
        |e| matches!(e, ConnError::Banner(BannerError::NotMsgr2)),
    );
}

#[test]
fn msgr1_banner_is_named() {
    run_case(
        "msgr1 banner",
        |now| {
            close_error(
                &mut acceptor(now),
                b"ceph v027\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                now,
            )
        },
        |e| matches!(e, ConnError::Banner(BannerError::Msgr1Peer)),
    );
}

#[test]
fn missing_msgr2_features_are_refused() {
    run_case(
        "missing features",
        |now| close_error(&mut acceptor(now), &banner(1, 1 << 7), now),
        |e| matches!(e, ConnError::Banner(_)) && e.is_fatal(),
    );
}

#[test]
fn preamble_crc_mismatch() {
    run_case(
        "preamble crc",
        |now| {
            let mut f = raw_preamble(1, &[(36, 8)]);
            f[31] ^= 1;
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| matches!(e, ConnError::Frame(FrameError::PreambleCrc { .. })),
    );
}

#[test]
fn segment_count_out_of_range() {
    for n in [0usize, 5] {
        run_case(
            "segment count",
            |now| {
                let mut f = raw_preamble(1, &[(4, 8)]);
                f[1] = n as u8;
                let crc = pollmsgr::checksum::ceph_crc32c(0, &f[..28]);
                f[28..32].copy_from_slice(&crc.to_le_bytes());
                close_error(&mut acceptor_after_banner(now), &f, now)
            },
            |e| matches!(e, ConnError::Frame(FrameError::SegmentCount(c)) if usize::from(*c) == n),
        );
    }
}

#[test]
fn segment_longer_than_limit() {
    run_case(
        "segment too long",
        |now| {
            let f = raw_preamble(1, &[(200 << 20, 8)]);
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| {
            matches!(e, ConnError::Frame(FrameError::SegmentTooLong { index: 0, len, .. })
                if *len == 200 << 20)
        },
    );
}

#[test]
fn empty_last_segment() {
    run_case(
        "empty last segment",
        |now| {
            let f = raw_preamble(17, &[(41, 8), (0, 8)]);
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| matches!(e, ConnError::Frame(FrameError::EmptyLastSegment)),
    );
}

#[test]
fn unknown_tag() {
    run_case(
        "unknown tag",
        |now| {
            let f = crc_frame(Revision::V2_1, Tag::Hello, &[b"abcd"]);
            let mut f = f;
            f[0] = 99;
            let crc = pollmsgr::checksum::ceph_crc32c(0, &f[..28]);
            f[28..32].copy_from_slice(&crc.to_le_bytes());
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| matches!(e, ConnError::PeerMisbehaved(PeerMisbehaved::UnknownTag(99))),
    );
}

#[test]
fn tag_in_wrong_state() {
    run_case(
        "tag in wrong state",
        |now| {
            let mut payload = Vec::new();
            Keepalive2Frame {
                stamp: UTime { sec: 1, nsec: 2 },
            }
            .emit(&mut payload);
            let f = crc_frame(Revision::V2_1, Tag::Keepalive2, &[&payload]);
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| {
            matches!(
                e,
                ConnError::PeerMisbehaved(PeerMisbehaved::UnexpectedFrame {
                    tag: "KEEPALIVE2",
                    ..
                })
            )
        },
    );
}

#[test]
fn segment_crc_mismatch() {
    run_case(
        "segment crc",
        |now| {
            let mut payload = Vec::new();
            HelloFrame {
                entity_type: 8,
                peer_addr: acceptor_addr(),
            }
            .emit(&mut payload);
            let mut f = crc_frame(Revision::V2_1, Tag::Hello, &[&payload]);
            let last = f.len() - 1;
            f[last] ^= 0x10;
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| matches!(e, ConnError::Frame(FrameError::SegmentCrc { index: 0, .. })),
    );
}

#[test]
fn bad_late_status() {
    run_case(
        "bad late status",
        |now| {
            // A real MESSAGE frame (header + front) needs an epilogue in rev1.
            let now2 = now;
            let (mut c, mut s) = healthy_pair(now2);
            c.send_message(Message::new(0x7003, 1, &b"front"[..]));
            let mut bytes = c.tx_pending().to_vec();
            // rev1 crc epilogue: late_status then 3 crcs (13 bytes) at the end.
            let at = bytes.len() - 13;
            bytes[at] = 0x05;
            close_error(&mut s, &bytes, now)
        },
        |e| matches!(e, ConnError::Frame(FrameError::BadLateStatus(0x05))),
    );
}

#[test]
fn truncated_payload() {
    run_case(
        "truncated payload",
        |now| {
            let f = crc_frame(Revision::V2_1, Tag::Hello, &[&[8u8, 1, 1]]);
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| matches!(e, ConnError::Decode(DecodeError::Truncated { .. })),
    );
}

#[test]
fn incompatible_struct_version() {
    run_case(
        "incompatible struct version",
        |now| {
            let mut payload = Vec::new();
            HelloFrame {
                entity_type: 8,
                peer_addr: acceptor_addr(),
            }
            .emit(&mut payload);
            // The addr's ENCODE_START(1, 1): bump compat (byte after marker and version).
            payload[3] = 9;
            let f = crc_frame(Revision::V2_1, Tag::Hello, &[&payload]);
            close_error(&mut acceptor_after_banner(now), &f, now)
        },
        |e| {
            matches!(
                e,
                ConnError::Decode(DecodeError::IncompatibleVersion { compat: 9, .. })
            )
        },
    );
}

#[test]
fn bad_signature_when_keys_differ() {
    let now = Instant::now();
    let mut healthy = healthy_pair(now);
    // Both sides "authenticate", but with different session keys: the
    // pre-auth HMACs cannot match, so no session is established.
    struct OtherKeyServer(FixedKeyServer);
    impl pollmsgr::auth::AuthServer for OtherKeyServer {
        fn allowed_methods(&self, t: u8) -> Vec<u32> {
            self.0.allowed_methods(t)
        }
        fn allowed_modes(&self, t: u8, m: u32) -> Vec<pollmsgr::wire::ConMode> {
            self.0.allowed_modes(t, m)
        }
        fn handle_request(
            &mut self,
            t: u8,
            m: u32,
            mode: pollmsgr::wire::ConMode,
            p: &[u8],
        ) -> Result<pollmsgr::auth::AuthServerStep, pollmsgr::auth::AuthError> {
            self.0.handle_request(t, m, mode, p)
        }
        fn handle_request_more(
            &mut self,
            p: &[u8],
        ) -> Result<pollmsgr::auth::AuthServerStep, pollmsgr::auth::AuthError> {
            let step = self.0.handle_request_more(p)?;
            Ok(match step {
                pollmsgr::auth::AuthServerStep::Done {
                    mut outcome,
                    payload,
                } => {
                    outcome.session_key[0] ^= 0xff;
                    pollmsgr::auth::AuthServerStep::Done { outcome, payload }
                }
                more => more,
            })
        }
    }
    let modes = vec![pollmsgr::wire::ConMode::Crc];
    let mut c = Connection::connect(
        connector_cfg(),
        acceptor_addr(),
        EntityType::Osd,
        Policy::lossy_client(),
        Box::new(FixedKeyClient {
            modes: modes.clone(),
        }),
        rng(),
        now,
    );
    let mut s = Connection::accept(
        acceptor_cfg(),
        "127.0.0.1:40000".parse().expect("literal"),
        Policies::default(),
        Box::new(OtherKeyServer(FixedKeyServer {
            modes,
            chosen: None,
        })),
        rng(),
        now,
    );
    let events = pump(&mut c, &mut s, now);
    let bad_sig = events.iter().any(|(_, e)| {
        matches!(
            e,
            Event::Closed {
                error: ConnError::PeerMisbehaved(PeerMisbehaved::BadSignature),
                ..
            }
        )
    });
    assert!(bad_sig, "expected a signature mismatch: {events:?}");
    assert!(!c.is_ready() && !s.is_ready());
    assert!(events
        .iter()
        .all(|(_, e)| !matches!(e, Event::Established(_))));
    assert_still_healthy(&mut healthy, now);
}

#[test]
fn wrong_peer_type_and_wrong_target_address() {
    run_case(
        "wrong peer type",
        |now| {
            let mut c = Connection::connect(
                connector_cfg(),
                acceptor_addr(),
                EntityType::Mon,
                Policy::lossy_client(),
                Box::new(NoneClient::new(8, "admin", 0, true)),
                rng(),
                now,
            );
            let mut s = acceptor(now);
            let events = pump(&mut c, &mut s, now);
            events
                .into_iter()
                .find_map(|(is_c, e)| match e {
                    Event::Closed { error, .. } if is_c => Some(error),
                    _ => None,
                })
                .expect("connector must close")
        },
        |e| {
            matches!(
                e,
                ConnError::PeerMisbehaved(PeerMisbehaved::WrongPeerType { .. })
            )
        },
    );
    run_case(
        "wrong target address",
        |now| {
            let wrong = EntityAddr {
                nonce: 12345,
                ..acceptor_addr()
            };
            let mut c = Connection::connect(
                connector_cfg(),
                wrong,
                EntityType::Osd,
                Policy::lossy_client(),
                Box::new(NoneClient::new(8, "admin", 0, false)),
                rng(),
                now,
            );
            let mut s = acceptor(now);
            let events = pump(&mut c, &mut s, now);
            events
                .into_iter()
                .find_map(|(is_c, e)| match e {
                    Event::Closed { error, .. } if !is_c => Some(error),
                    _ => None,
                })
                .expect("acceptor must close")
        },
        |e| {
            matches!(
                e,
                ConnError::PeerMisbehaved(PeerMisbehaved::NotOurAddr { .. })
            )
        },
    );
}

#[test]
fn seq_gap() {
    run_case(
        "seq gap",
        |now| {
            let (mut c, mut s) = healthy_pair(now);
            // Send seq 1 normally, then forge a frame claiming seq 3.
            c.send_message(Message::new(0x7004, 1, &b"one"[..]));
            pump(&mut c, &mut s, now);
            let mut header = Vec::new();
            pollmsgr::wire::header2::MsgHeader2Repr {
                seq: 3,
                tid: 0,
                ty: 0x7004,
                priority: 127,
                version: 1,
                data_pre_padding_len: 0,
                data_off: 0,
                ack_seq: 0,
                flags: 0,
                compat_version: 1,
                reserved: 0,
            }
            .emit(&mut header);
            let f = crc_frame(Revision::V2_1, Tag::Message, &[&header, b"three"]);
            close_error(&mut s, &f, now)
        },
        |e| {
            matches!(
                e,
                ConnError::PeerMisbehaved(PeerMisbehaved::SeqGap {
                    expected: 2,
                    got: 3
                })
            )
        },
    );
}

#[test]
fn handshake_timeout() {
    run_case(
        "handshake timeout",
        |now| {
            let mut s = acceptor(now);
            let later = now + Duration::from_secs(11);
            assert!(s.poll_timeout().is_some_and(|d| d <= later));
            s.handle_timeout(later);
            let mut err = None;
            while let Some(ev) = s.poll_event() {
                if let Event::Closed { error, .. } = ev {
                    err = Some(error);
                }
            }
            err.expect("timeout must close")
        },
        |e| matches!(e, ConnError::HandshakeTimeout(_)),
    );
}

#[test]
fn oversized_pre_auth_transcript() {
    run_case(
        "oversized pre-auth transcript",
        |now| {
            // A peer that keeps the AUTH phase going forever (AUTH_REPLY_MORE
            // loops) is cut off by the transcript cap.
            let mut s = acceptor_after_banner(now);
            let mut hello = Vec::new();
            HelloFrame {
                entity_type: 8,
                peer_addr: acceptor_addr(),
            }
            .emit(&mut hello);
            let f = crc_frame(Revision::V2_1, Tag::Hello, &[&hello]);
            s.handle_input(&f, now);
            // Well-formed AUTH_REQUESTs for a method the server does not offer:
            // each is answered with AUTH_BAD_METHOD, so only the cap can end this.
            let mut req = Vec::new();
            req.put_u32_le(99);
            req.put_vec_u32_le(&[1]);
            req.put_bytes_le32(&vec![7u8; 60 * 1024]);
            let mut bytes = Vec::new();
            for _ in 0..6 {
                bytes.extend(crc_frame(Revision::V2_1, Tag::AuthRequest, &[&req]));
            }
            close_error(&mut s, &bytes, now)
        },
        |e| matches!(e, ConnError::PreAuthTooLarge { limit: 262_144 }),
    );
}

#[test]
fn pre_auth_frame_declaring_4_mib_is_refused_at_its_preamble() {
    run_case(
        "pre-auth frame declaring 4 MiB",
        |now| {
            let mut s = acceptor_after_banner(now);
            let mut hello = Vec::new();
            HelloFrame {
                entity_type: 8,
                peer_addr: acceptor_addr(),
            }
            .emit(&mut hello);
            s.handle_input(&crc_frame(Revision::V2_1, Tag::Hello, &[&hello]), now);
            // Only the 32-byte preamble: the refusal must not wait for the body.
            let pre = raw_preamble(Tag::AuthRequest as u8, &[(4 << 20, 8)]);
            close_error(&mut s, &pre, now)
        },
        |e| {
            matches!(e, ConnError::PreAuthFrameTooLarge { declared, limit: 262_144 }
                if *declared == (4 << 20) + 4)
        },
    );
}

#[test]
fn pre_auth_bytes_are_counted_as_they_arrive() {
    run_case(
        "pre-auth bytes counted on arrival",
        |now| {
            let mut s = acceptor_after_banner(now);
            let mut hello = Vec::new();
            HelloFrame {
                entity_type: 8,
                peer_addr: acceptor_addr(),
            }
            .emit(&mut hello);
            s.handle_input(&crc_frame(Revision::V2_1, Tag::Hello, &[&hello]), now);
            // A frame that fits the cap, with more bytes behind it in the same
            // read: the read as a whole is over the cap, refused before parsing.
            let mut bytes = crc_frame(Revision::V2_1, Tag::AuthRequest, &[&vec![7u8; 250 << 10]]);
            bytes.extend_from_slice(&[0u8; 20 << 10]);
            close_error(&mut s, &bytes, now)
        },
        |e| matches!(e, ConnError::PreAuthTooLarge { limit: 262_144 }),
    );
}

/// A READY pair whose acceptor serves lossless OSD peers, with `tune`
/// applied to the acceptor's config.
fn lossless_pair(
    now: Instant,
    tune: impl FnOnce(&mut ConnectionConfig),
) -> (Connection, Connection) {
    let mut ccfg = connector_cfg();
    ccfg.my_type = EntityType::Osd;
    let mut c = Connection::connect(
        ccfg,
        acceptor_addr(),
        EntityType::Osd,
        Policy::lossless_peer(),
        Box::new(NoneClient::new(4, "0", 0, false)),
        rng(),
        now,
    );
    let mut acfg = acceptor_cfg();
    tune(&mut acfg);
    let mut s = Connection::accept(
        acfg,
        "127.0.0.1:40000".parse().expect("literal"),
        Policies::osd(),
        Box::new(NoneServer::new(10)),
        rng(),
        now,
    );
    pump(&mut c, &mut s, now);
    assert!(
        c.is_ready() && s.is_ready(),
        "lossless pair did not reach READY"
    );
    while s.poll_event().is_some() {}
    (c, s)
}

/// Hands everything `from` has queued to `to` and parses it, its backlog
/// included (at most 1000 more calls).
fn deliver_all(from: &mut Connection, to: &mut Connection, now: Instant) {
    let bytes = from.tx_pending().to_vec();
    from.tx_consumed(bytes.len());
    to.handle_input(&bytes, now);
    for _ in 0..1000 {
        if !to.has_backlog() {
            break;
        }
        to.handle_input(&[], now);
    }
}

fn closed_with(c: &mut Connection) -> Option<ConnError> {
    let mut err = None;
    while let Some(ev) = c.poll_event() {
        if let Event::Closed { error, .. } = ev {
            err = Some(error);
        }
    }
    err
}

#[test]
fn keepalive_flood_is_answered_once_per_input_share() {
    let now = Instant::now();
    let (mut c, mut s) = lossless_pair(now, |_| {});
    // 10,000 KEEPALIVE2 frames; the acceptor's replies are never read.
    for i in 0..10_000u32 {
        assert!(c.send_keepalive(UTime { sec: i, nsec: 0 }));
    }
    deliver_all(&mut c, &mut s, now);
    assert!(!s.has_backlog(), "the flood was not parsed");
    // One KEEPALIVE2_ACK per input share (256 frames by default), not one
    // per keepalive: the replies the flood makes stay a few KiB.
    let one_reply = 64; // a KEEPALIVE2_ACK frame is well under this
    let shares = 10_000 / 256 + 1;
    let pending = s.tx_pending().len();
    assert!(
        pending > 0 && pending <= shares * one_reply,
        "{pending} bytes of replies to 10,000 keepalives"
    );
}

#[test]
fn request_flood_without_reading_is_back_pressured_then_closed() {
    let now = Instant::now();
    let mut healthy = healthy_pair(now);
    let (mut c, mut s) = lossless_pair(now, |cfg| {
        cfg.max_pending_bytes = 64 << 10;
        cfg.drain_timeout = Some(Duration::from_secs(5));
    });
    // 10,000 requests; the acceptor's application answers each with 256
    // bytes, and the flooder never reads.
    for tid in 0..10_000u64 {
        c.send_message(Message::new(1, 1, &b"request"[..]).with_tid(tid));
    }
    let flood = c.tx_pending().to_vec();
    c.tx_consumed(flood.len());
    let answer = |s: &mut Connection| {
        while let Some(ev) = s.poll_event() {
            if let Event::Message(m) = ev {
                s.send_message(Message::new(2, 1, vec![0u8; 256]).with_tid(m.tid));
            }
        }
    };
    s.handle_input(&flood, now);
    answer(&mut s);
    let mut rounds = 0;
    while s.has_backlog() && rounds < 1000 {
        s.handle_input(&[], now);
        answer(&mut s);
        rounds += 1;
    }
    // The replies stop at the bound: input waits, unparsed, and the
    // driver is told not to read.
    assert!(s.replies_held(), "replies not held at the bound");
    assert!(!s.wants_input());
    let one_reply = 512; // a 256-byte MESSAGE frame is well under this
    assert!(
        s.tx_pending().len() <= (64 << 10) + 256 * one_reply,
        "replies grew to {} bytes past the 64 KiB bound",
        s.tx_pending().len()
    );
    // The transport takes nothing: after the drain deadline, a named error.
    s.note_tx_blocked(now);
    let later = now + Duration::from_secs(6);
    assert!(s.poll_timeout().is_some_and(|d| d <= later));
    s.handle_timeout(later);
    let err = closed_with(&mut s).expect("flooder must be closed");
    assert!(
        matches!(err, ConnError::PeerNotDraining { pending, .. } if pending >= 64 << 10),
        "{err:?}"
    );
    // A lossless session outlives the transport, for the peer's reconnect.
    assert!(!s.is_closed(), "lossless session state was dropped");
    assert_still_healthy(&mut healthy, now);
}

/// Two ends that both send bulk: each one's transport is full because the
/// other is not reading yet. Input that makes no replies is read however
/// much of our own waits (holding it would have both ends wait for each
/// other for good); input whose replies back up is held.
#[test]
fn bulk_from_a_peer_is_read_while_our_own_bulk_waits_for_it() {
    let now = Instant::now();
    let (mut c, mut s) = lossless_pair(now, |_| {});
    // s queues 256 KiB of its own; its transport takes none of it.
    for tid in 0..64u64 {
        s.send_message(Message::new(1, 1, vec![7u8; 4096]).with_tid(tid));
    }
    s.note_tx_blocked(now);
    let later = now + Duration::from_millis(200);
    s.note_tx_blocked(later);
    assert!(s.tx_blocked_for() >= Duration::from_millis(200));
    assert!(!s.replies_held(), "held for bulk of its own");
    // c's bulk arrives; s's application answers none of it.
    for tid in 0..64u64 {
        c.send_message(Message::new(1, 1, vec![9u8; 4096]).with_tid(tid));
    }
    deliver_all(&mut c, &mut s, later);
    let requests: Vec<u64> = std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.tid),
            _ => None,
        })
        .collect();
    assert_eq!(requests.len(), 64, "the peer's bulk was not read");
    assert!(s.wants_input());
    // Now s answers them, 2 KiB each: 128 KiB of replies wait; held.
    for tid in requests {
        s.try_send_reply(Message::new(2, 1, vec![0u8; 2048]).with_tid(tid))
            .expect("under the 64 MiB bound");
    }
    assert!(
        s.replies_held(),
        "replies waiting on a blocked transport were not held"
    );
    // The transport takes everything, then blocks again on more bulk of
    // s's own: the written replies no longer count.
    while !s.tx_pending().is_empty() {
        let n = s.tx_pending().len();
        s.tx_consumed(n);
    }
    for tid in 64..128u64 {
        s.send_message(Message::new(1, 1, vec![7u8; 4096]).with_tid(tid));
    }
    s.note_tx_blocked(later);
    s.note_tx_blocked(later + Duration::from_millis(200));
    assert!(!s.replies_held(), "held for replies already written");
}

#[test]
fn frame_that_stops_arriving_is_closed_and_lossless_session_kept() {
    let now = Instant::now();
    let mut healthy = healthy_pair(now);
    let (_c, mut s) = lossless_pair(now, |cfg| cfg.frame_timeout = Some(Duration::from_secs(3)));
    // A MESSAGE declaring a 64 MiB data segment, then 1 MiB of it, then nothing.
    let mut bytes = raw_preamble(
        Tag::Message as u8,
        &[(41, 8), (0, 0), (0, 0), (64 << 20, 8)],
    );
    let header = [0u8; 41];
    bytes.extend_from_slice(&header);
    bytes.put_u32_le(pollmsgr::checksum::ceph_crc32c(0xFFFF_FFFF, &header));
    s.handle_input(&bytes, now);
    bytes = vec![0u8; 1 << 20];
    let t1 = now + Duration::from_secs(1);
    s.handle_input(&bytes, t1);
    // The deadline counts from the last byte, not from the frame's start.
    assert!(s
        .poll_timeout()
        .is_some_and(|d| d > now + Duration::from_secs(3)));
    let later = t1 + Duration::from_secs(3);
    assert!(s.poll_timeout().is_some_and(|d| d <= later));
    s.handle_timeout(later);
    let err = closed_with(&mut s).expect("stalled frame must close");
    assert!(
        matches!(err, ConnError::FrameStalled { declared_rest, .. } if declared_rest > 60 << 20),
        "{err:?}"
    );
    assert!(!s.is_closed(), "lossless session state was dropped");
    assert_still_healthy(&mut healthy, now);
}

#[test]
fn ready_session_that_moves_nothing_is_closed_as_idle() {
    let now = Instant::now();
    let (mut c, mut s) = lossless_pair(now, |cfg| cfg.idle_timeout = Some(Duration::from_secs(5)));
    // Traffic at +3 s moves the deadline.
    c.send_message(Message::new(0x7001, 1, &b"ping"[..]));
    let t3 = now + Duration::from_secs(3);
    pump(&mut c, &mut s, t3);
    assert!(s
        .poll_timeout()
        .is_some_and(|d| d >= t3 + Duration::from_secs(5)));
    s.handle_timeout(now + Duration::from_secs(6));
    assert!(s.is_ready(), "closed while not idle");
    s.handle_timeout(t3 + Duration::from_secs(5));
    let err = closed_with(&mut s).expect("idle session must close");
    assert!(matches!(err, ConnError::Idle(_)), "{err:?}");
}
