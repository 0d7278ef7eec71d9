//! Tampering with the pre-auth handshake (msgr2 reference 7.3): two
//! in-memory connections, a cephx client and a cephx test mon (so there is a
//! real session key), joined by a relay that alters bytes of one chosen
//! frame in flight.
//!
//! * Flipping any byte of the banner, HELLO, AUTH_REQUEST, AUTH_REPLY_MORE,
//!   AUTH_REQUEST_MORE or AUTH_DONE never yields an established session.
//! * A "smart" man in the middle that re-encodes a modified frame with a
//!   valid crc (e.g. AUTH_REQUEST modes [secure, crc] → [crc]) is caught by
//!   the pre-auth signature.
//! * A client configured secure-only never accepts a crc AUTH_DONE.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pollmsgr::auth::cephx::{
    fixed_clock, CephxMonClient, CephxTestMon, CryptoKey, Keyring, TestMonAuthority, TicketStore,
    UTime,
};
use pollmsgr::auth::AuthError;
use pollmsgr::proto::frame::{Decoded, FrameDecoder, FrameEncoder, FrameLimits};
use pollmsgr::proto::{
    ConnError, Connection, ConnectionConfig, Event, PeerMisbehaved, Policies, Policy,
};
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::control::{AuthDoneFrame, AuthReplyMoreFrame, AuthRequestFrame, HelloFrame};
use pollmsgr::wire::entity::AuthEntityName as CxName;
use pollmsgr::wire::entity::EntityType;
use pollmsgr::wire::{ConMode, Revision, Tag};
use rand::rngs::StdRng;
use rand::SeedableRng;

const BANNER_LEN: usize = 26;
/// Direction index: connector → acceptor.
const C2S: usize = 0;
/// Direction index: acceptor → connector.
const S2C: usize = 1;

/// One unit of the pre-auth stream the relay can tamper with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Banner,
    Frame(u8),
}

/// A modification applied to the payload of one control frame, re-encoded
/// with a valid crc.
type Rewrite = fn(&[u8]) -> Vec<u8>;

#[derive(Clone, Copy)]
enum Tamper {
    None,
    /// XOR `mask` into byte `offset` of the first `unit` going `dir`.
    Flip {
        dir: usize,
        unit: Unit,
        offset: usize,
        mask: u8,
    },
    /// Replace the first frame `tag` going `dir` with a valid re-encoding of
    /// `rewrite(payload)`.
    Rewrite {
        dir: usize,
        tag: Tag,
        rewrite: Rewrite,
    },
}

/// One direction of the relay.
struct Pipe {
    buf: Vec<u8>,
    banner_done: bool,
    decoder: FrameDecoder,
    /// After AUTH_DONE the stream is (possibly) encrypted: just forward.
    passthrough: bool,
    /// Byte length of each unit seen, in order.
    seen: Vec<(Unit, usize)>,
}

struct Relay {
    rev: Revision,
    pipes: [Pipe; 2],
    tamper: Tamper,
    applied: bool,
}

impl Relay {
    fn new(rev: Revision, tamper: Tamper) -> Self {
        let pipe = || Pipe {
            buf: Vec::new(),
            banner_done: false,
            decoder: FrameDecoder::new(rev, FrameLimits::default()),
            passthrough: false,
            seen: Vec::new(),
        };
        Relay {
            rev,
            pipes: [pipe(), pipe()],
            tamper,
            applied: false,
        }
    }

    /// Takes bytes going `dir`; returns what reaches the other side.
    fn carry(&mut self, dir: usize, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.pipes[dir].buf.extend_from_slice(bytes);
        loop {
            let p = &mut self.pipes[dir];
            if p.passthrough {
                out.append(&mut p.buf);
                return out;
            }
            if !p.banner_done {
                if p.buf.len() < BANNER_LEN {
                    return out;
                }
                let mut unit: Vec<u8> = p.buf.drain(..BANNER_LEN).collect();
                p.banner_done = true;
                p.seen.push((Unit::Banner, BANNER_LEN));
                self.tamper_unit(dir, Unit::Banner, &mut unit);
                out.extend_from_slice(&unit);
                continue;
            }
            // Decode one whole frame from the untouched bytes; forward its
            // raw bytes (tampered or not) only once it is complete.
            let mut pos = 0;
            let frame = loop {
                match p.decoder.decode(&p.buf[pos..]) {
                    Ok((n, Decoded::Frame(f))) => {
                        pos += n;
                        break Some(f);
                    }
                    Ok((n, Decoded::NeedMore)) if n > 0 => pos += n,
                    Ok((_, Decoded::NeedMore)) => break None,
                    Ok((n, Decoded::Aborted)) => pos += n,
                    Err(e) => panic!("relay cannot parse untampered bytes: {e}"),
                }
            };
            let Some(frame) = frame else {
                // Not complete: the decoder keeps its stage, so rewind the
                // buffer view by re-creating the decoder next time.
                p.decoder = FrameDecoder::new(self.rev, FrameLimits::default());
                return out;
            };
            let mut raw: Vec<u8> = p.buf.drain(..pos).collect();
            p.seen.push((Unit::Frame(frame.tag), raw.len()));
            if frame.tag == Tag::AuthDone as u8 {
                self.pipes[C2S].passthrough = true;
                self.pipes[S2C].passthrough = true;
            }
            self.tamper_unit(dir, Unit::Frame(frame.tag), &mut raw);
            if let Tamper::Rewrite {
                dir: d,
                tag,
                rewrite,
            } = self.tamper
            {
                if d == dir && tag as u8 == frame.tag && !self.applied {
                    self.applied = true;
                    let payload = rewrite(&frame.segments[0]);
                    raw.clear();
                    FrameEncoder::new(self.rev)
                        .encode(tag, &[&payload], &mut raw)
                        .expect("re-encode");
                }
            }
            out.extend_from_slice(&raw);
        }
    }

    fn tamper_unit(&mut self, dir: usize, unit: Unit, bytes: &mut [u8]) {
        if let Tamper::Flip {
            dir: d,
            unit: u,
            offset,
            mask,
        } = self.tamper
        {
            if d == dir && u == unit && !self.applied {
                self.applied = true;
                if let Some(b) = bytes.get_mut(offset) {
                    *b ^= mask;
                }
            }
        }
    }
}

/// What happened in one run.
#[derive(Debug, Default)]
struct RunResult {
    established: [bool; 2],
    modes: Vec<ConMode>,
    errors: [Option<ConnError>; 2],
    /// The error that ended the handshake first (either side).
    first_error: Option<String>,
    seen: [Vec<(Unit, usize)>; 2],
    applied: bool,
}

fn mon_addr() -> EntityAddr {
    EntityAddr {
        ty: AddrType::Msgr2,
        nonce: 0,
        addr: Some("127.0.0.1:3300".parse().expect("literal")),
    }
}

struct World {
    authority: TestMonAuthority,
    admin_key: CryptoKey,
}

fn world() -> World {
    let mut r = StdRng::seed_from_u64(1);
    let now = UTime::from_secs(1_700_000_000);
    let admin_key = CryptoKey::generate(&mut r, now);
    let mut ring = Keyring::new();
    ring.add_key(CxName::new(EntityType::Client, "admin"), admin_key.clone());
    World {
        authority: TestMonAuthority::new(ring, &mut r, now),
        admin_key,
    }
}

/// Runs one cephx handshake (client.admin → test mon) through the relay.
fn run(
    w: &World,
    rev1: bool,
    client_modes: &[ConMode],
    mon_modes: &[ConMode],
    tamper: Tamper,
) -> RunResult {
    let clock = fixed_clock(UTime::from_secs(1_700_000_000));
    let start = Instant::now();
    let mut now = start;
    let mut ccfg = ConnectionConfig::new(EntityType::Client);
    let mut scfg = ConnectionConfig::new(EntityType::Mon);
    scfg.my_addrs = EntityAddrVec(vec![mon_addr()]);
    scfg.my_gid = 0;
    if !rev1 {
        ccfg.msgr2_supported = 0;
        scfg.msgr2_supported = 0;
    }
    let store = TicketStore::new(CxName::new(EntityType::Client, "admin"));
    let mut client = Connection::connect(
        ccfg,
        mon_addr(),
        EntityType::Mon,
        Policy::lossy_client(),
        Box::new(
            CephxMonClient::new(
                w.admin_key.clone(),
                store,
                Box::new(StdRng::seed_from_u64(2)),
                clock.clone(),
            )
            .with_modes(client_modes.to_vec()),
        ),
        Box::new(StdRng::seed_from_u64(3)),
        now,
    );
    let mut server = Connection::accept(
        scfg,
        "127.0.0.1:40000".parse().expect("literal"),
        Policies::default(),
        Box::new(
            CephxTestMon::new(
                w.authority.clone(),
                Box::new(StdRng::seed_from_u64(4)),
                clock,
            )
            .with_modes(mon_modes.to_vec()),
        ),
        Box::new(StdRng::seed_from_u64(5)),
        now,
    );
    let rev = if rev1 { Revision::V2_1 } else { Revision::V2_0 };
    let mut relay = Relay::new(rev, tamper);
    let mut res = RunResult::default();
    let mut closed = [false, false];
    for _ in 0..10_000 {
        let mut moved = false;
        for dir in [C2S, S2C] {
            let (from, to) = if dir == C2S {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            let pending = from.tx_pending().to_vec();
            if !pending.is_empty() {
                from.tx_consumed(pending.len());
                let out = relay.carry(dir, &pending);
                if !out.is_empty() {
                    to.handle_input(&out, now);
                }
                moved = true;
            }
        }
        for (side, conn) in [(0usize, &mut client), (1usize, &mut server)] {
            while let Some(ev) = conn.poll_event() {
                match ev {
                    Event::Established(e) => {
                        res.established[side] = true;
                        res.modes.push(e.mode);
                    }
                    Event::Closed { error, .. } => {
                        closed[side] = true;
                        let who = if side == 0 { "connector" } else { "acceptor" };
                        res.first_error
                            .get_or_insert_with(|| format!("{who}: {error}"));
                        if res.errors[side].is_none() {
                            res.errors[side] = Some(error);
                        }
                    }
                    Event::SessionRequest(_) => {
                        let _unapplied =
                            conn.decide_session(pollmsgr::proto::SessionDecision::NewSession);
                    }
                    _ => {}
                }
            }
        }
        // A closed side closes the TCP connection under the other one.
        if closed[0] && !closed[1] {
            server.handle_transport_closed("peer closed", now);
        }
        if closed[1] && !closed[0] {
            client.handle_transport_closed("peer closed", now);
        }
        if (closed[0] && closed[1]) || (res.established[0] && res.established[1]) {
            break;
        }
        if !moved {
            // Idle: let handshake deadlines fire.
            now += Duration::from_secs(1);
            client.handle_timeout(now);
            server.handle_timeout(now);
        }
    }
    res.seen = [
        std::mem::take(&mut relay.pipes[C2S].seen),
        std::mem::take(&mut relay.pipes[S2C].seen),
    ];
    res.applied = relay.applied || matches!(tamper, Tamper::None);
    res
}

const BOTH: [ConMode; 2] = [ConMode::Secure, ConMode::Crc];

fn assert_not_established(r: &RunResult, what: &str) {
    assert!(r.applied, "{what}: the tamper was never applied");
    assert!(
        !r.established[0] && !r.established[1],
        "{what}: a tampered handshake established a session: {r:?}"
    );
}

#[test]
fn tamper_relay_baseline_establishes_secure_and_crc() {
    let w = world();
    for rev1 in [true, false] {
        for mode in [ConMode::Secure, ConMode::Crc] {
            let r = run(&w, rev1, &[mode], &BOTH, Tamper::None);
            assert!(
                r.established[0] && r.established[1],
                "rev1={rev1} {mode:?}: {r:?}"
            );
            assert_eq!(r.modes, vec![mode, mode]);
            // The relay saw every pre-auth unit it is meant to tamper with.
            let units: Vec<Unit> = r.seen[C2S].iter().map(|(u, _)| *u).collect();
            assert_eq!(
                &units[..4],
                &[
                    Unit::Banner,
                    Unit::Frame(Tag::Hello as u8),
                    Unit::Frame(Tag::AuthRequest as u8),
                    Unit::Frame(Tag::AuthRequestMore as u8)
                ]
            );
            let units: Vec<Unit> = r.seen[S2C].iter().map(|(u, _)| *u).collect();
            assert_eq!(
                &units[..4],
                &[
                    Unit::Banner,
                    Unit::Frame(Tag::Hello as u8),
                    Unit::Frame(Tag::AuthReplyMore as u8),
                    Unit::Frame(Tag::AuthDone as u8)
                ]
            );
        }
    }
}

/// Every byte of every pre-auth unit, both revisions: never established.
#[test]
fn tamper_flipping_any_preauth_byte_never_establishes() {
    let w = world();
    for rev1 in [true, false] {
        let base = run(&w, rev1, &BOTH, &BOTH, Tamper::None);
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        let mut runs = 0;
        for dir in [C2S, S2C] {
            for &(unit, len) in base.seen[dir].iter() {
                // Only the crc-protected pre-auth units (AUTH_SIGNATURE and
                // later travel encrypted; that is secure mode's job).
                if matches!(unit, Unit::Frame(t) if t >= Tag::AuthSignature as u8) {
                    continue;
                }
                for offset in 0..len {
                    let t = Tamper::Flip {
                        dir,
                        unit,
                        offset,
                        mask: 0x01 << (offset % 8),
                    };
                    let r = run(&w, rev1, &BOTH, &BOTH, t);
                    runs += 1;
                    let what = format!("rev1={rev1} dir={dir} {unit:?} byte {offset}");
                    assert_not_established(&r, &what);
                    let err = r
                        .first_error
                        .clone()
                        .unwrap_or_else(|| panic!("{what}: no error at all: {r:?}"));
                    *outcomes.entry(classify(&err)).or_default() += 1;
                }
            }
        }
        eprintln!("rev1={rev1}: {runs} single-byte flips, first errors: {outcomes:?}");
        assert!(runs > 300, "too few flips tried: {runs}");
    }
}

fn classify(err: &str) -> String {
    let side = err.split(':').next().unwrap_or("");
    for k in [
        "crc",
        "signature",
        "banner",
        "authentication",
        "handshake did not complete",
        "malformed",
        "misbehaved",
        "secure mode",
    ] {
        if err.contains(k) {
            return format!("{side}: {k}");
        }
    }
    err.chars().take(70).collect()
}

fn only_crc(p: &[u8]) -> Vec<u8> {
    let mut f = AuthRequestFrame::parse(p).expect("AUTH_REQUEST parses");
    assert_eq!(
        f.preferred_modes,
        vec![2, 1],
        "the client offered [secure, crc]"
    );
    f.preferred_modes = vec![ConMode::Crc as u32];
    let mut out = Vec::new();
    f.emit(&mut out);
    out
}

fn done_says_crc(p: &[u8]) -> Vec<u8> {
    let mut f = AuthDoneFrame::parse(p).expect("AUTH_DONE parses");
    f.con_mode = ConMode::Crc as u32;
    let mut out = Vec::new();
    f.emit(&mut out);
    out
}

fn other_hello_addr(p: &[u8]) -> Vec<u8> {
    let mut f = HelloFrame::parse(p).expect("HELLO parses");
    f.peer_addr.nonce ^= 0x5a5a;
    let mut out = Vec::new();
    f.emit(&mut out);
    out
}

fn other_challenge(p: &[u8]) -> Vec<u8> {
    let mut f = AuthReplyMoreFrame::parse(p).expect("AUTH_REPLY_MORE parses");
    if let Some(b) = f.auth_payload.last_mut() {
        *b ^= 0x80;
    }
    let mut out = Vec::new();
    f.emit(&mut out);
    out
}

/// A man in the middle who re-encodes frames with a valid crc.
#[test]
fn tamper_smart_mitm_is_caught_by_the_preauth_signature() {
    let w = world();
    for rev1 in [true, false] {
        // Downgrade: AUTH_REQUEST modes [secure, crc] → [crc]. The mon picks
        // crc, which the client did offer, so only the signature can tell.
        let r = run(
            &w,
            rev1,
            &BOTH,
            &BOTH,
            Tamper::Rewrite {
                dir: C2S,
                tag: Tag::AuthRequest,
                rewrite: only_crc,
            },
        );
        assert_not_established(&r, "modes downgrade");
        assert!(
            matches!(
                r.errors[0],
                Some(ConnError::PeerMisbehaved(PeerMisbehaved::BadSignature))
            ),
            "rev1={rev1}: the client must detect the altered AUTH_REQUEST: {r:?}"
        );

        // A HELLO with a different address, valid crc.
        let r = run(
            &w,
            rev1,
            &BOTH,
            &BOTH,
            Tamper::Rewrite {
                dir: S2C,
                tag: Tag::Hello,
                rewrite: other_hello_addr,
            },
        );
        assert_not_established(&r, "HELLO rewrite");
        assert!(
            r.errors
                .iter()
                .flatten()
                .any(|e| matches!(e, ConnError::PeerMisbehaved(PeerMisbehaved::BadSignature))),
            "rev1={rev1}: {r:?}"
        );

        // AUTH_DONE claiming crc to a client that offered both: the modes
        // disagree, and the signatures cover the altered frame.
        let r = run(
            &w,
            rev1,
            &BOTH,
            &BOTH,
            Tamper::Rewrite {
                dir: S2C,
                tag: Tag::AuthDone,
                rewrite: done_says_crc,
            },
        );
        assert_not_established(&r, "AUTH_DONE mode rewrite");

        // A different mon challenge: the proof no longer verifies.
        let r = run(
            &w,
            rev1,
            &BOTH,
            &BOTH,
            Tamper::Rewrite {
                dir: S2C,
                tag: Tag::AuthReplyMore,
                rewrite: other_challenge,
            },
        );
        assert_not_established(&r, "challenge rewrite");
    }
}

#[test]
fn tamper_secure_only_client_never_accepts_crc() {
    let w = world();
    for rev1 in [true, false] {
        // A MITM rewrites AUTH_DONE to crc: the client refuses it outright.
        let r = run(
            &w,
            rev1,
            &[ConMode::Secure],
            &BOTH,
            Tamper::Rewrite {
                dir: S2C,
                tag: Tag::AuthDone,
                rewrite: done_says_crc,
            },
        );
        assert_not_established(&r, "secure-only vs crc AUTH_DONE");
        assert!(
            matches!(
                r.errors[0],
                Some(ConnError::Auth(AuthError::ModeNotOffered { got: 1 }))
                    | Some(ConnError::PeerMisbehaved(PeerMisbehaved::ModeNotOffered(1)))
            ),
            "rev1={rev1}: expected a mode-not-offered refusal, got {r:?}"
        );
        // A mon that only allows crc: AUTH_BAD_METHOD, and the client gives up.
        let r = run(&w, rev1, &[ConMode::Secure], &[ConMode::Crc], Tamper::None);
        assert!(!r.established[0] && !r.established[1], "{r:?}");
        assert!(
            matches!(
                r.errors[0],
                Some(ConnError::Auth(AuthError::NoAcceptableMethod { .. }))
            ),
            "{r:?}"
        );
    }
}
