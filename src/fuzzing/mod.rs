//! Fuzz targets: every decoder of untrusted input, as plain functions that
//! must never panic, whatever the bytes.
//!
//! The nightly `fuzz/` crate (cargo fuzz, coverage-guided) and the stable
//! smoke test `tests/fuzz_smoke.rs` (seeded mutations of valid encodings, in
//! CI) call these same functions, so a crash found by either is replayable
//! with the other. [`seed_corpus`] gives valid encodings to mutate; the
//! same seeds are committed as `fuzz/corpus/<target>/seed-*`, where
//! `cargo fuzz run` starts (the smoke test replays them and regenerates them
//! on request).
//!
//! Besides "no panic", targets assert what their codecs promise: a decoded
//! value re-encodes to something that decodes to the same value, and the
//! OSD op path ([`osd_ops_exec`]) never lets a write through read-only caps
//! nor keeps anything of a failed transaction.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;

use crate::auth::cephx::types::*;
use crate::auth::none::{NoneClient, NoneServer};
use crate::conf::{normalize_key, parse_mon_host, AuthOption, CephConf, ModeOption};
use crate::crypto::{session_ciphers, Role};
use crate::msg::command::{MCommand, MCommandReply};
use crate::msg::osd_mon::{
    boot_feature_problems, parse_full_osdmap_header, parse_incremental_osdmap_header, MOsdBeacon,
    MOsdBoot, MOsdMap, MOsdMarkMeDown, MOsdPing, OsdSuperblock, SignedSpan,
};
use crate::msg::osd_op::{
    decode_string_map, decode_string_set, encode_string_map, encode_string_set, flag, op,
    op_is_write, op_type_exec, AllocHintArgs, HObject, ListObject, MOsdOp, MOsdOpReply,
    ObjectLocator, OmapGetKeysArgs, OmapGetValsArgs, OmapKeys, OmapVals, OsdOp, PgId,
    PgNlsResponse, RequestRedirect, SpgId, StatResult, NO_SHARD, OSD_OP_ARGS_LEN,
};
use crate::msg::{
    types, ConfigMsg, EncodedMessage, MessagePayload, MonCommand, MonCommandAck, MonGetVersion,
    MonGetVersionReply, MonMap, MonMapMsg, MonSubscribe,
};
use crate::osd::caps::{Need, OsdCaps};
use crate::osd::member::{ClusterView, PoolInfo};
use crate::osd::ops::{execute_ops, need_of, OpsOutcome};
use crate::osd::store::{ListedObject, MemStore, ObjectId, ObjectService, StoreOp, TxResult};
use crate::osdmap::crush::CrushMap;
use crate::proto::frame::{Decoded, FrameDecoder, FrameEncoder, FrameLimits};
use crate::proto::{Connection, ConnectionConfig, Event, Policies, Policy};
use crate::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use crate::wire::banner::{self, BannerRepr};
use crate::wire::control::ControlFrame;
use crate::wire::entity::{AuthEntityName, EntityType};
use crate::wire::errno;
use crate::wire::header2::MsgHeader2Repr;
use crate::wire::utime::UTime;
use crate::wire::{Put, Reader, Revision, Tag};

mod msgr_seeds;
use msgr_seeds::{cephx_seeds, message_seeds, monmap_seeds, secure_frames, test_secret};

/// A named fuzz target.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target.
/// The targets of the cluster-membership decoders and the op path (their
/// seeds are checked here and in the CI smoke).
pub const OSD_TARGETS: &[&str] = &[
    "osd_op",
    "osd_mon",
    "command",
    "conf",
    "caps",
    "osd_ops_exec",
    "osdmap_full",
    "osdmap_incremental",
];

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
    ("osd_op", osd_op),
    ("osd_mon", osd_mon),
    ("command", command),
    ("conf", conf),
    ("caps", caps),
    ("osd_ops_exec", osd_ops_exec),
    ("osdmap_full", osdmap_full),
    ("osdmap_incremental", osdmap_incremental),
    ("crush_map", crush_map),
];

/// Banner parsing.
pub fn banner(data: &[u8]) {
    let _ = banner::banner_len(data);
    let _ = BannerRepr::parse(data);
}

fn frames(data: &[u8], rev: Revision, secure: bool) {
    let mut dec = FrameDecoder::new(rev, FrameLimits::default());
    if secure {
        if let Ok((_, rx)) = session_ciphers(&test_secret(), Role::Acceptor, rev.into()) {
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
    let Some((kind, version, front, body)) = kind_version_cut(data) else {
        return;
    };
    let version = u16::from(version % 8);
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

// ---------------------------------------------------------------------------
// OSD messages and the OSD op path
// ---------------------------------------------------------------------------

/// Splits `[kind, version, front_len (u8), front, data]` (the [`messages`]
/// and [`command`] layout); a `front_len` beyond the input takes it all.
fn kind_version_cut(data: &[u8]) -> Option<(u8, u8, &[u8], &[u8])> {
    let [kind, version, cut, rest @ ..] = data else {
        return None;
    };
    let (front, body) = rest.split_at(usize::from(*cut).min(rest.len()));
    Some((*kind, *version, front, body))
}

/// Splits `[kind, version, front_len (le16), front, data]`; a `front_len`
/// beyond the input takes it all.
fn kind_version_segments(data: &[u8]) -> Option<(u8, u8, &[u8], &[u8])> {
    let [kind, version, lo, hi, rest @ ..] = data else {
        return None;
    };
    let cut = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
    let (front, body) = rest.split_at(cut);
    Some((*kind, *version, front, body))
}

/// MOSDOp / MOSDOpReply and the per-op payloads a hostile client or OSD
/// controls (`src/msg/osd_op.rs`). Input: `[kind, version, front_len (le16),
/// front, data]`; `kind % 4` picks
///
/// 0. [`MOsdOp::decode_bytes`]: a decoded request re-encoded with
///    [`MOsdOp::to_message`] (and with the copying [`MessagePayload`] codec)
///    must decode to the same value; every op's `indata` goes through the
///    decoders the OSD applies to it.
/// 1. [`MOsdOpReply::decode_bytes`], with the same round trip, and every
///    op's `outdata` through the decoders a client applies to it.
/// 2. The per-op payload decoders on `front` (PGNLS response, `hobject_t`,
///    STAT, omap arguments and results, string maps and sets), each with a
///    decode → encode → decode round trip.
/// 3. One op built from `front` (le16 code, 28-byte union) with `data` as
///    its `indata`: [`OsdOp::xattr_name_value`], [`OsdOp::pgnls_cursor`] and
///    the other views.
///
/// The header version is `version % 12` (8 is the one decoded).
pub fn osd_op(data: &[u8]) {
    let Some((kind, version, front, body)) = kind_version_segments(data) else {
        return;
    };
    let version = u16::from(version % 12);
    let body = Bytes::copy_from_slice(body);
    match kind % 4 {
        0 => {
            if let Ok(m) = MOsdOp::decode_bytes(version, front, body) {
                check_osd_op(&m);
            }
        }
        1 => {
            if let Ok(r) = MOsdOpReply::decode_bytes(version, front, body) {
                check_osd_op_reply(&r);
            }
        }
        2 => op_payloads(front),
        _ => {
            let mut o = OsdOp::new(u16::from_le_bytes([
                front.first().copied().unwrap_or(0),
                front.get(1).copied().unwrap_or(0),
            ]));
            let args = front.get(2..).unwrap_or_default();
            let n = args.len().min(OSD_OP_ARGS_LEN);
            o.args[..n].copy_from_slice(&args[..n]);
            o.indata = body;
            op_inputs(&o);
        }
    }
}

/// The round trips of a decoded MOSDOp, and its ops' inputs.
fn check_osd_op(m: &MOsdOp) {
    let back = MOsdOp::from_message(&m.to_message(7))
        .unwrap_or_else(|e| panic!("re-encoded MOSDOp does not decode: {e}"));
    assert_eq!(&back, m, "MOSDOp to_message / from_message round trip");
    let enc = MessagePayload::encode(m);
    let back = MOsdOp::decode_encoded(&enc)
        .unwrap_or_else(|e| panic!("MOSDOp encode() does not decode: {e}"));
    assert_eq!(&back, m, "MOSDOp encode / decode_encoded round trip");
    let _ = (m.may_read(), m.may_write(), m.is_pg_op(), need_of(m));
    for o in &m.ops {
        op_inputs(o);
    }
}

/// The round trip of a decoded MOSDOpReply, and its ops' outputs.
fn check_osd_op_reply(r: &MOsdOpReply) {
    let back = MOsdOpReply::from_message(&r.to_message(7))
        .unwrap_or_else(|e| panic!("re-encoded MOSDOpReply does not decode: {e}"));
    assert_eq!(&back, r, "MOSDOpReply to_message / from_message round trip");
    let enc = MessagePayload::encode(r);
    let back = MOsdOpReply::decode_encoded(&enc)
        .unwrap_or_else(|e| panic!("MOSDOpReply encode() does not decode: {e}"));
    assert_eq!(&back, r, "MOSDOpReply encode / decode_encoded round trip");
    for o in &r.ops {
        let _ = StatResult::decode(&o.outdata);
        let _ = PgNlsResponse::decode(&o.outdata);
        let _ = OmapVals::decode(&o.outdata);
        let _ = OmapKeys::decode(&o.outdata);
        let _ = decode_string_map(&o.outdata);
    }
}

/// Everything the OSD decodes from one op's union and `indata`, whatever
/// its code says (the checks are cheap, and a decoder must survive any
/// bytes).
fn op_inputs(o: &OsdOp) {
    let _ = (o.name(), o.extent(), o.cls(), o.pgls(), o.watch());
    let _ = (o.alloc_hint(), o.arg_u64(), o.assert_ver());
    if let Ok((name, value)) = o.xattr_name_value() {
        let x = o.xattr();
        assert_eq!(name.len(), x.name_len as usize, "xattr name length");
        assert_eq!(value.len(), x.value_len as usize, "xattr value length");
        assert!(
            name.len() + value.len() <= o.indata.len(),
            "xattr within indata"
        );
    }
    let _ = o.pgnls_cursor();
    let _ = OmapGetValsArgs::decode(&o.indata);
    let _ = OmapGetKeysArgs::decode(&o.indata);
    let _ = decode_string_map(&o.indata);
    let _ = decode_string_set(&o.indata);
}

/// `entries` in the order [`encode_string_map`] writes them (a stable sort
/// by key: duplicate keys keep their order).
fn sorted_map(mut entries: Vec<(Vec<u8>, Bytes)>) -> Vec<(Vec<u8>, Bytes)> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// The per-op payload decoders on `b`, with their round trips.
fn op_payloads(b: &[u8]) {
    let whole = Bytes::copy_from_slice(b);
    if let Ok(r) = PgNlsResponse::decode(b) {
        assert_eq!(
            PgNlsResponse::decode(&r.to_bytes()).as_ref(),
            Ok(&r),
            "pg_nls_response_t round trip"
        );
    }
    if let Ok(h) = HObject::decode(b) {
        let mut v = Vec::new();
        h.emit(&mut v);
        assert_eq!(HObject::decode(&v).as_ref(), Ok(&h), "hobject_t round trip");
    }
    if let Ok(s) = StatResult::decode(b) {
        assert_eq!(&s.to_bytes()[..], b, "STAT outdata re-encodes identically");
    }
    if let Ok(a) = OmapGetValsArgs::decode(b) {
        assert_eq!(
            OmapGetValsArgs::decode(&a.to_vec()).as_ref(),
            Ok(&a),
            "OMAPGETVALS indata round trip"
        );
    }
    if let Ok(a) = OmapGetKeysArgs::decode(b) {
        assert_eq!(
            OmapGetKeysArgs::decode(&a.to_vec()).as_ref(),
            Ok(&a),
            "OMAPGETKEYS indata round trip"
        );
    }
    if let Ok(m) = decode_string_map(&whole) {
        let mut v = Vec::new();
        encode_string_map(&m, &mut v);
        assert_eq!(
            decode_string_map(&Bytes::from(v)),
            Ok(sorted_map(m)),
            "map<string,bufferlist> round trip"
        );
    }
    if let Ok(mut keys) = decode_string_set(b) {
        let mut v = Vec::new();
        encode_string_set(&keys, &mut v);
        keys.sort();
        assert_eq!(decode_string_set(&v), Ok(keys), "set<string> round trip");
    }
    if let Ok(vals) = OmapVals::decode(&whole) {
        let want = OmapVals {
            entries: sorted_map(vals.entries.clone()),
            more: vals.more,
        };
        assert_eq!(
            OmapVals::decode(&vals.to_bytes()),
            Ok(want),
            "OMAPGETVALS outdata round trip"
        );
    }
    if let Ok(mut keys) = OmapKeys::decode(b) {
        let enc = keys.to_bytes();
        keys.keys.sort();
        assert_eq!(
            OmapKeys::decode(&enc),
            Ok(keys),
            "OMAPGETKEYS outdata round trip"
        );
    }
}

/// Decodes `front` as `P` and checks decode → encode → decode: the second
/// decode must succeed, re-encode to the same bytes, and (when `comparable`
/// says the value has no NaN) equal the first.
fn payload_round_trip<P: MessagePayload + PartialEq + Debug>(
    version: u16,
    front: &[u8],
    data: &[u8],
    comparable: fn(&P) -> bool,
) -> Option<P> {
    let v = P::decode(P::TYPE, version, 1, front, &[], data).ok()?;
    let name = types::type_name(P::TYPE);
    let enc = v.encode();
    let back = P::decode_encoded(&enc)
        .unwrap_or_else(|e| panic!("{name}: the re-encoding does not decode: {e}"));
    assert_eq!(back.encode(), enc, "{name}: encoding not stable");
    if comparable(&v) {
        assert_eq!(back, v, "{name}: decode -> encode -> decode differs");
    }
    Some(v)
}

fn always<T>(_: &T) -> bool {
    true
}

/// What an OSD hears from the mon and its heartbeat peers, and what the mon
/// hears from an OSD (`src/msg/osd_mon.rs`). Input: `[kind, version,
/// front...]`; `kind % 8` picks MOSDBoot, MOSDBeacon, MOSDMarkMeDown,
/// MOSDMap (whose map blobs then go through the osdmap header parsers),
/// MOSDPing, [`parse_full_osdmap_header`], [`parse_incremental_osdmap_header`]
/// or [`OsdSuperblock::parse`]; messages decode at header version
/// `version % 10` and must survive decode → encode → decode.
pub fn osd_mon(data: &[u8]) {
    let [kind, version, front @ ..] = data else {
        return;
    };
    let version = u16::from(*version % 10);
    match kind % 8 {
        0 => {
            let no_nan = |b: &MOsdBoot| !b.sb.weight.is_nan();
            if let Some(b) = payload_round_trip::<MOsdBoot>(version, front, &[], no_nan) {
                let _ = boot_feature_problems(b.osd_features);
            }
        }
        1 => drop(payload_round_trip::<MOsdBeacon>(
            version,
            front,
            &[],
            always,
        )),
        2 => drop(payload_round_trip::<MOsdMarkMeDown>(
            version,
            front,
            &[],
            always,
        )),
        3 => {
            if let Some(m) = payload_round_trip::<MOsdMap>(version, front, &[], always) {
                let _ = (m.first_epoch(), m.newest_epoch());
                for blob in m.maps.values() {
                    let _ = parse_full_osdmap_header(blob);
                }
                for blob in m.incremental_maps.values() {
                    let _ = parse_incremental_osdmap_header(blob);
                }
            }
        }
        4 => {
            if let Some(p) = payload_round_trip::<MOsdPing>(version, front, &[], always) {
                let now = SignedSpan::new(7, 8);
                let _ = p.reply_to(3, 2, now, 2000).encode();
                let _ = p.you_died(3, 2, now, 0).encode();
            }
        }
        5 => drop(parse_full_osdmap_header(front)),
        6 => drop(parse_incremental_osdmap_header(front)),
        _ => {
            let mut r = Reader::new(front, "fuzz OSDSuperblock");
            if let Ok(sb) = OsdSuperblock::parse(&mut r) {
                let mut v = Vec::new();
                sb.emit(&mut v);
                let back = OsdSuperblock::parse(&mut Reader::new(&v, "fuzz OSDSuperblock"))
                    .unwrap_or_else(|e| panic!("re-encoded OSDSuperblock does not decode: {e}"));
                let mut again = Vec::new();
                back.emit(&mut again);
                assert_eq!(again, v, "OSDSuperblock encoding not stable");
                if !sb.weight.is_nan() {
                    assert_eq!(back, sb, "OSDSuperblock round trip");
                }
            }
        }
    }
}

/// MCommand / MCommandReply (`ceph tell`, `src/msg/command.rs`). Input:
/// `[kind, version, cut, rest...]`: `kind % 2` picks the type, the header
/// version is `version % 4`, the front is the first `cut` bytes of `rest`
/// and the data segment the others. Decoded values must round-trip.
pub fn command(data: &[u8]) {
    let Some((kind, version, front, body)) = kind_version_cut(data) else {
        return;
    };
    let version = u16::from(version % 4);
    if kind & 1 == 0 {
        let _ = payload_round_trip::<MCommand>(version, front, body, always);
    } else {
        let _ = payload_round_trip::<MCommandReply>(version, front, body, always);
    }
}

/// `ceph.conf` text (`src/conf.rs`): [`CephConf::parse`] on the input (as
/// UTF-8, lossily), then every typed accessor and the metavariable
/// expansion of every setting, for an OSD, a client, a mon and a mgr; also
/// [`parse_mon_host`] on the whole input and on each line. Local input, but
/// a parser must not panic. Checks that each parsed key is normalised (so
/// that lookups, which normalise, find it).
pub fn conf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = parse_mon_host(&text);
    for line in text.lines().take(64) {
        let _ = parse_mon_host(line);
    }
    let Ok(conf) = CephConf::parse(&text) else {
        return;
    };
    let names = [
        AuthEntityName::new(EntityType::Osd, "3"),
        AuthEntityName::new(EntityType::Client, "admin"),
        AuthEntityName::new(EntityType::Mon, "a"),
        AuthEntityName::new(EntityType::Mgr, "x"),
    ];
    for s in conf.sections() {
        for e in &s.entries {
            assert_eq!(normalize_key(&e.key), e.key, "parsed key not normalised");
            assert!(
                conf.get_in(&s.name, &e.key).is_some(),
                "parsed setting {:?} of [{}] not found",
                e.key,
                s.name
            );
        }
    }
    for name in &names {
        let _ = conf.mon_host(name);
        for m in ModeOption::ALL {
            let _ = conf.con_modes(name, m);
        }
        for a in [AuthOption::Cluster, AuthOption::Service, AuthOption::Client] {
            let _ = conf.auth_methods(name, a);
        }
        let _ = (conf.public_addr(name), conf.cluster_addr(name));
        let _ = (conf.fsid(name), conf.keyring_paths(name));
        let _ = conf.expand(name, &text);
        let keys = conf.sections().iter().flat_map(|s| &s.entries);
        for e in keys.take(64) {
            let _ = conf.get_expanded(name, &e.key);
            let _ = conf.get_bool(name, &e.key);
            let _ = conf.get_parsed::<u64>(name, &e.key);
        }
    }
}

const NEEDS: [Need; 8] = {
    let mut n = [Need {
        read: false,
        write: false,
        exec: false,
    }; 8];
    let mut i = 0;
    while i < 8 {
        n[i] = Need {
            read: i & 1 != 0,
            write: i & 2 != 0,
            exec: i & 4 != 0,
        };
        i += 1;
    }
    n
};

/// OSD caps text as a cephx ticket carries it (`src/osd/caps.rs`):
/// [`OsdCaps::parse`] on the input (lossy UTF-8), then [`OsdCaps::allows`]
/// for every need on a grid of pools, namespaces and objects (some taken
/// from the text). Checks that a grant allowing a need allows every part of
/// it, and that caps whose text has no `w`, `*` or `profile` never allow a
/// write (nor, without `x`, `*`, `class-` or `profile`, an exec).
pub fn caps(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(caps) = OsdCaps::parse(&text) else {
        return;
    };
    let may_write = text.contains(['w', '*']) || text.contains("profile");
    let may_exec = text.contains(['x', '*']) || text.contains("class-") || text.contains("profile");
    let mut words: Vec<&str> = vec!["", "rbd", "ns", "rbd_data.1"];
    words.extend(
        text.split(|c: char| c.is_whitespace() || matches!(c, '=' | ',' | ';'))
            .map(|w| w.trim_matches(['"', '\'']))
            .filter(|w| !w.is_empty())
            .take(4),
    );
    for pool in std::iter::once(None).chain(words.iter().copied().map(Some)) {
        for ns in &words {
            for obj in &words {
                for need in NEEDS {
                    if !caps.allows(pool, ns, obj, need) {
                        continue;
                    }
                    assert!(!need.write || may_write, "{text:?} allows a write");
                    assert!(!need.exec || may_exec, "{text:?} allows an exec");
                    for part in NEEDS {
                        let sub = (!part.read || need.read)
                            && (!part.write || need.write)
                            && (!part.exec || need.exec);
                        if sub {
                            assert!(
                                caps.allows(pool, ns, obj, part),
                                "{text:?} allows {need:?} but not {part:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// A bounded reader of fuzz bytes that yields zeros once they run out.
struct Gen<'a> {
    data: &'a [u8],
}

impl<'a> Gen<'a> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[usize::from(self.byte()) % choices.len()]
    }

    /// Up to `max` bytes (the length is the next byte, modulo `max + 1`).
    fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = (usize::from(self.byte()) % (max + 1)).min(self.data.len());
        let (b, rest) = self.data.split_at(n);
        self.data = rest;
        b
    }

    /// An offset or length: usually small, sometimes at a limit.
    fn size(&mut self) -> u64 {
        const EDGES: [u64; 8] = [
            0,
            4096,
            crate::osd::store::MAX_OBJECT_SIZE,
            crate::osd::store::MAX_OBJECT_SIZE + 1,
            1 << 32,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ];
        match self.byte() {
            b @ 0..=239 => u64::from(b % 40),
            b => EDGES[usize::from(b - 240) % EDGES.len()],
        }
    }

    /// An xattr name or omap key: one of a few the populated store holds,
    /// or fuzz bytes.
    fn key(&mut self) -> Vec<u8> {
        match self.byte() % 5 {
            0 => b"user.a".to_vec(),
            1 => b"k1".to_vec(),
            2 => b"k2".to_vec(),
            3 => Vec::new(),
            _ => self.bytes(8).to_vec(),
        }
    }

    fn keys(&mut self) -> Vec<Vec<u8>> {
        (0..self.byte() % 4).map(|_| self.key()).collect()
    }
}

/// The op codes [`osd_ops_exec`] builds: everything `execute_ops`
/// implements, plus some it refuses.
const EXEC_OPS: &[u16] = &[
    op::READ,
    op::SYNC_READ,
    op::STAT,
    op::WRITE,
    op::WRITEFULL,
    op::APPEND,
    op::TRUNCATE,
    op::ZERO,
    op::CREATE,
    op::DELETE,
    op::SETALLOCHINT,
    op::GETXATTR,
    op::GETXATTRS,
    op::SETXATTR,
    op::RMXATTR,
    op::OMAPGETKEYS,
    op::OMAPGETVALS,
    op::OMAPGETVALSBYKEYS,
    op::OMAPSETVALS,
    op::OMAPRMKEYS,
    op::OMAPCLEAR,
    op::OMAPGETHEADER,
    op::OMAPSETHEADER,
    op::PGNLS,
    op::CALL,
    op::CMPXATTR,
    op::WATCH,
    op::TMAPUP,
    op::CACHE_FLUSH,
    op::ROLLBACK,
];

/// One op from fuzz bytes: well formed (through the `OsdOp` builders) or
/// with a raw union and `indata`.
fn gen_op(g: &mut Gen<'_>) -> OsdOp {
    let code = g.pick(EXEC_OPS);
    if g.byte() & 3 == 0 {
        let mut o = OsdOp::new(code);
        o.flags = u32::from(g.byte() % 4);
        for b in o.args.iter_mut() {
            *b = g.byte();
        }
        o.indata = Bytes::copy_from_slice(g.bytes(48));
        return o;
    }
    let data = |g: &mut Gen<'_>| Bytes::copy_from_slice(g.bytes(32));
    let mut o = match code {
        op::READ | op::SYNC_READ => OsdOp::read(g.size(), g.size()),
        op::STAT => OsdOp::stat(),
        op::WRITE => OsdOp::write(g.size(), data(g)),
        op::WRITEFULL => OsdOp::writefull(data(g)),
        op::APPEND => OsdOp::append(data(g)),
        op::TRUNCATE => OsdOp::truncate(g.size()),
        op::ZERO => OsdOp::zero(g.size(), g.size()),
        op::CREATE => OsdOp::create(g.byte() & 1 != 0),
        op::DELETE => OsdOp::delete(),
        op::GETXATTR | op::CMPXATTR => OsdOp::getxattr(&g.key()),
        op::GETXATTRS => OsdOp::getxattrs(),
        op::SETXATTR => OsdOp::setxattr(&g.key(), g.bytes(16)),
        op::RMXATTR => OsdOp::rmxattr(&g.key()),
        op::OMAPGETKEYS => OsdOp::omap_get_keys(&OmapGetKeysArgs {
            start_after: g.key(),
            max_return: g.size(),
        }),
        op::OMAPGETVALS => OsdOp::omap_get_vals(&OmapGetValsArgs {
            start_after: g.key(),
            max_return: g.size(),
            filter_prefix: g.key(),
        }),
        op::OMAPSETVALS => {
            let entries: Vec<(Vec<u8>, Bytes)> =
                g.keys().into_iter().map(|k| (k, data(g))).collect();
            OsdOp::omap_set_vals(&entries)
        }
        op::OMAPRMKEYS => OsdOp::omap_rm_keys(&g.keys()),
        op::OMAPGETVALSBYKEYS => {
            let mut o = OsdOp::omap_rm_keys(&g.keys());
            o.op = code;
            o
        }
        op::PGNLS => {
            let cursor = match g.byte() % 4 {
                0 => HObject::default(),
                1 => HObject::max_value(),
                _ => HObject {
                    oid: g.key(),
                    hash: g.u32(),
                    pool: 2,
                    ..HObject::default()
                },
            };
            OsdOp::pgnls(g.size(), 0, &cursor)
        }
        op::SETALLOCHINT => {
            let mut o = OsdOp::new(code);
            o.set_alloc_hint(AllocHintArgs {
                expected_object_size: g.size(),
                expected_write_size: g.size(),
                flags: 0,
            });
            o
        }
        _ => {
            let mut o = OsdOp::new(code);
            o.indata = data(g);
            o
        }
    };
    if code == op::OMAPSETHEADER {
        o.indata = data(g);
    }
    o
}

/// The placement hashes of the objects [`populated_store`] holds.
const OBJ_HASH: u32 = 0x4a5b_6c77;

/// The pool [`osd_ops_exec`]'s cluster view knows (pool 3 exists only in
/// the store).
const EXEC_POOL: i64 = 2;

/// A MOSDOp from fuzz bytes whose op vector is built op by op.
fn gen_request(g: &mut Gen<'_>, pg_num: u32) -> MOsdOp {
    let pool = g.pick(&[EXEC_POOL, EXEC_POOL, EXEC_POOL, 3]);
    let seed = u32::from(g.byte()) % (pg_num + 2);
    let oid: Vec<u8> = match g.byte() % 5 {
        0 | 1 => b"obj".to_vec(),
        2 => b"other".to_vec(),
        3 => Vec::new(),
        _ => g.bytes(12).to_vec(),
    };
    let nspace: &[u8] = g.pick(&[&b""[..], b"", b"ns", b"\x01"]);
    let flags = g.pick(&[
        flag::WRITE | flag::ONDISK,
        flag::READ,
        flag::READ | flag::PGOP | flag::IGNORE_OVERLAY,
        flag::WRITE | flag::RETURNVEC,
    ]);
    let hash = if g.byte() & 1 == 0 { OBJ_HASH } else { g.u32() };
    let ops = (0..g.byte() % 5).map(|_| gen_op(g)).collect();
    MOsdOp {
        spgid: SpgId {
            pgid: PgId { pool, seed },
            shard: NO_SHARD,
        },
        hash,
        osdmap_epoch: u32::from(g.byte() % 16),
        flags,
        mtime: if g.byte() & 1 == 0 {
            UTime::default()
        } else {
            UTime::new(1_700_000_100, 0)
        },
        locator: ObjectLocator::new(pool, nspace),
        oid,
        ops,
        retry_attempt: 0,
        ..MOsdOp::default()
    }
}

/// The fixed clock of [`osd_ops_exec`].
const EXEC_NOW: UTime = UTime::new(1_700_000_000, 0);

/// A fresh store with a few objects (data, xattrs, omap) in pools 2 and 3,
/// spread over the PGs so that listings page.
fn populated_store() -> MemStore {
    let store = MemStore::new();
    let id = |pool, ns: &[u8], name: &[u8]| ObjectId {
        pool,
        namespace: ns.to_vec(),
        name: name.to_vec(),
    };
    let full = [
        StoreOp::WriteFull {
            data: Bytes::from_static(b"hello world"),
        },
        StoreOp::SetXattr {
            name: b"user.a".to_vec(),
            value: Bytes::from_static(b"1"),
        },
        StoreOp::OmapSetVals {
            entries: vec![
                (b"k1".to_vec(), Bytes::from_static(b"v1")),
                (b"k2".to_vec(), Bytes::from_static(b"v2")),
                (b"k3".to_vec(), Bytes::from_static(b"")),
            ],
        },
        StoreOp::OmapSetHeader {
            data: Bytes::from_static(b"hdr"),
        },
    ];
    store.execute(&id(EXEC_POOL, b"", b"obj"), OBJ_HASH, &full, EXEC_NOW);
    store.execute(
        &id(EXEC_POOL, b"ns", b"obj"),
        OBJ_HASH,
        &full[..2],
        EXEC_NOW,
    );
    store.execute(&id(3, b"", b"obj"), OBJ_HASH, &full[..1], EXEC_NOW);
    for i in 0..6u32 {
        let name = format!("o{i}");
        let data = [StoreOp::Append {
            data: Bytes::from(name.clone().into_bytes()),
        }];
        let hash = i.wrapping_mul(0x2f6b_9e35);
        store.execute(&id(EXEC_POOL, b"", name.as_bytes()), hash, &data, EXEC_NOW);
    }
    store
}

/// Everything `pools` of `store` hold, read through the public interface.
fn store_snapshot(store: &MemStore, pools: &[i64]) -> (usize, Vec<(ListedObject, TxResult)>) {
    let read_all = [
        StoreOp::Stat,
        StoreOp::Read { offset: 0, len: 0 },
        StoreOp::GetXattrs,
        StoreOp::OmapGetHeader,
        StoreOp::OmapGetVals {
            start_after: Vec::new(),
            max: u64::MAX,
            prefix: Vec::new(),
        },
    ];
    let mut out = Vec::new();
    for &pool in pools {
        for obj in store.list(pool, &|_| true, None, usize::MAX) {
            let state = store.execute(&obj.id, obj.hash, &read_all, EXEC_NOW);
            out.push((obj, state));
        }
    }
    (store.len(), out)
}

/// Runs `req` against a fresh [`populated_store`]; returns the outcome and
/// whether the store changed.
fn exec_on_fresh_store(req: &MOsdOp, view: &ClusterView, caps: &OsdCaps) -> (OpsOutcome, bool) {
    let store = populated_store();
    let mut pools = vec![EXEC_POOL, 3, req.spgid.pgid.pool];
    pools.sort_unstable();
    pools.dedup();
    let before = store_snapshot(&store, &pools);
    let outcome = execute_ops(req, &store, view, caps, EXEC_NOW);
    let changed = store_snapshot(&store, &pools) != before;
    (outcome, changed)
}

/// The whole op path a hostile client reaches (`src/osd/ops.rs`): a MOSDOp
/// from the input through [`execute_ops`] against a fresh in-memory store
/// holding a few objects, with a cluster view that knows pool 2 (`rbd`).
///
/// Input: the first byte's bit 0 picks how the request is made — 0: the
/// rest is `[front_len (le16), front, data]` of a v8 MOSDOp decoded with
/// [`MOsdOp::decode_bytes`]; 1: the rest builds the request op by op
/// (codes from a table, unions and `indata` well formed or raw), then
/// goes through `to_message` / `from_message` like a received one. Bits 1-2
/// pick the pool's `pg_num` (1, 8, 12 or 64).
///
/// Each request runs three times, each on a fresh store:
/// - with `allow r` caps: the store must not change, and a request with a
///   write op (`op_is_write`) or an exec op must be refused (EPERM, or
///   ENXIO when the pool or PG does not exist);
/// - with `allow rwx pool=other`: refused, store unchanged;
/// - with all caps: a refused, unsupported, failed (negative result) or
///   read-only request must not change the store; a done request answers
///   every op; the reply built as the handler builds it must round-trip,
///   and, when the request succeeded, each op's output must decode with the
///   decoder a client uses for it.
pub fn osd_ops_exec(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let pg_num = [1, 8, 12, 64][usize::from(head >> 1) & 3];
    let req = if head & 1 == 0 {
        let [lo, hi, rest @ ..] = rest else {
            return;
        };
        let cut = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
        let (front, body) = rest.split_at(cut);
        match MOsdOp::decode_bytes(8, front, Bytes::copy_from_slice(body)) {
            Ok(m) => m,
            Err(_) => return,
        }
    } else {
        let built = gen_request(&mut Gen { data: rest }, pg_num);
        let req = MOsdOp::from_message(&built.to_message(1))
            .unwrap_or_else(|e| panic!("a built MOSDOp does not decode: {e}"));
        assert_eq!(req, built, "built MOSDOp round trip");
        req
    };
    let mut view = ClusterView {
        epoch: 10,
        ..ClusterView::default()
    };
    view.pools.insert(
        EXEC_POOL,
        PoolInfo {
            name: "rbd".into(),
            pg_num,
        },
    );
    let pool_ok = view
        .pools
        .get(&req.spgid.pgid.pool)
        .is_some_and(|p| req.spgid.pgid.seed < p.pg_num);

    // Read-only caps: nothing may change, writes and execs are refused.
    let read_only = OsdCaps::parse("allow r").expect("'allow r' parses");
    let (outcome, changed) = exec_on_fresh_store(&req, &view, &read_only);
    assert!(!changed, "'allow r' changed the store: {outcome:?}");
    if req
        .ops
        .iter()
        .any(|o| op_is_write(o.op) || op_type_exec(o.op))
    {
        match &outcome {
            OpsOutcome::Refused { errno: e, .. }
                if *e == errno::EPERM || (*e == errno::ENXIO && !pool_ok) => {}
            other => panic!("'allow r' let a write or exec through: {other:?}"),
        }
    }

    // Caps for another pool: refused.
    let other_pool = OsdCaps::parse("allow rwx pool=other").expect("pool caps parse");
    let (outcome, changed) = exec_on_fresh_store(&req, &view, &other_pool);
    assert!(!changed, "caps for another pool changed the store");
    assert!(
        matches!(outcome, OpsOutcome::Refused { .. }),
        "caps for another pool allowed {outcome:?}"
    );

    // Everything allowed.
    let (outcome, changed) = exec_on_fresh_store(&req, &view, &OsdCaps::allow_all());
    let (result, results) = match outcome {
        OpsOutcome::Done { result, ops } => {
            assert_eq!(ops.len(), req.ops.len(), "one result per op");
            assert!(
                !changed || (result >= 0 && req.may_write()),
                "store changed by a failed or read-only request (result {result})"
            );
            (result, ops)
        }
        OpsOutcome::Refused { errno: e, .. } => {
            assert!(!changed, "a refused request changed the store");
            (-e, Vec::new())
        }
        OpsOutcome::Unsupported { .. } => {
            assert!(!changed, "an unsupported request changed the store");
            (-errno::EOPNOTSUPP, Vec::new())
        }
    };
    if result >= 0 {
        for (o, (rval, out)) in req.ops.iter().zip(&results) {
            if *rval < 0 {
                continue;
            }
            let ok = match o.op {
                op::STAT => StatResult::decode(out).is_ok(),
                op::PGNLS => PgNlsResponse::decode(out).is_ok(),
                op::OMAPGETVALS => OmapVals::decode(out).is_ok(),
                op::OMAPGETKEYS => OmapKeys::decode(out).is_ok(),
                op::GETXATTRS | op::OMAPGETVALSBYKEYS => decode_string_map(out).is_ok(),
                _ => true,
            };
            assert!(ok, "{} output does not decode: {out:02x?}", o.name());
        }
    }
    let mut reply = MOsdOpReply::for_request(&req, result, 10, flag::ACK | flag::ONDISK);
    for (o, (rval, out)) in reply.ops.iter_mut().zip(results) {
        o.rval = rval;
        o.outdata = out;
    }
    check_osd_op_reply(&reply);
}

/// CRUSH map decode, then placement with every rule (up to 8) on a few
/// inputs with a small work budget: never a panic or a hang, never more
/// results than asked for.
pub fn crush_map(data: &[u8]) {
    let Ok(map) = CrushMap::parse(data) else {
        return;
    };
    // Some devices reweighted, one out, the rest in.
    let devices = usize::try_from(map.max_devices()).unwrap_or(0).min(4096);
    let weights: Vec<u32> = (0..devices)
        .map(|d| match d % 5 {
            1 => 0x8000,
            3 => 0,
            _ => 0x10000,
        })
        .collect();
    let pool = map.choose_args().keys().next().copied().unwrap_or(-1);
    for (rule, r) in map.rules().take(8) {
        let _ = map.find_rule(i32::from(r.mask.ruleset), r.mask.rule_type, 3);
        for x in [0u32, 0x9e37_79b9] {
            let out = map.do_rule_with_fuel(rule, x, 3, &weights, pool, 1 << 12);
            assert!(out.len() <= 3, "rule {rule} x {x}: {out:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// Seeds for the OSD targets
// ---------------------------------------------------------------------------

/// `[kind, version, front_len (le16), front, data]`, the [`osd_op`] layout.
fn with_segments(kind: u8, version: u16, front: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, version as u8];
    v.extend_from_slice(&u16::try_from(front.len()).unwrap_or(u16::MAX).to_le_bytes());
    v.extend_from_slice(front);
    v.extend_from_slice(data);
    v
}

/// Valid MOSDOps: every op kind the OSD implements, a PG listing, several
/// data-carrying ops in one message, a snap context.
fn sample_osd_ops() -> Vec<MOsdOp> {
    let base = |ops: Vec<OsdOp>| MOsdOp {
        spgid: SpgId {
            pgid: PgId {
                pool: EXEC_POOL,
                seed: 7,
            },
            shard: NO_SHARD,
        },
        hash: OBJ_HASH,
        osdmap_epoch: 9,
        flags: flag::WRITE | flag::ONDISK | flag::KNOWN_REDIR,
        locator: ObjectLocator::new(EXEC_POOL, b""),
        oid: b"obj".to_vec(),
        ops,
        mtime: UTime::new(1_700_000_000, 5),
        retry_attempt: 0,
        features: crate::wire::features::PACIFIC_SUPPORTED,
        ..MOsdOp::default()
    };
    let b = Bytes::from_static;
    let kv = vec![(b"k1".to_vec(), b(b"v1")), (b"k0".to_vec(), b(b"v0"))];
    let mut list = base(vec![OsdOp::pgnls(1024, 0, &HObject::default())]);
    list.oid.clear();
    list.flags = flag::READ | flag::PGOP | flag::IGNORE_OVERLAY | flag::KNOWN_REDIR;
    list.locator = ObjectLocator {
        hash: 7,
        ..ObjectLocator::new(EXEC_POOL, b"\x01")
    };
    list.hash = 7;
    let mut snaps = base(vec![OsdOp::read(0, 0), OsdOp::stat()]);
    snaps.snapid = 4;
    snaps.snap_seq = 5;
    snaps.snaps = vec![5, 4, 2];
    snaps.locator.nspace = b"ns".to_vec();
    vec![
        base(vec![OsdOp::writefull(b(b"hello"))]),
        snaps,
        base(vec![
            OsdOp::create(true),
            OsdOp::write(3, b(b"abc")),
            OsdOp::append(b(b"de")),
            OsdOp::setxattr(b"user.a", b"v"),
            OsdOp::getxattr(b"user.a"),
            OsdOp::rmxattr(b"user.b"),
            OsdOp::getxattrs(),
        ]),
        base(vec![
            OsdOp::omap_set_vals(&kv),
            OsdOp::omap_get_vals(&OmapGetValsArgs {
                start_after: b"k".to_vec(),
                max_return: 512,
                filter_prefix: b"k".to_vec(),
            }),
            OsdOp::omap_get_keys(&OmapGetKeysArgs {
                start_after: Vec::new(),
                max_return: 10,
            }),
            OsdOp::omap_rm_keys(&[b"k0".to_vec()]),
        ]),
        base(vec![OsdOp::truncate(4), OsdOp::zero(0, 2), OsdOp::delete()]),
        list,
    ]
}

/// Valid MOSDOpReplies: a write ack, reads with outdata, a PG listing, a
/// redirect.
fn sample_osd_op_replies() -> Vec<MOsdOpReply> {
    let reqs = sample_osd_ops();
    let mut out = Vec::new();
    let mut ack = MOsdOpReply::for_request(&reqs[0], 0, 9, flag::ACK | flag::ONDISK);
    ack.set_reply_versions(
        crate::msg::osd_op::EVersion {
            version: 5,
            epoch: 9,
        },
        5,
    );
    out.push(ack);
    let mut read = MOsdOpReply::for_request(&reqs[1], 0, 9, flag::ACK | flag::ONDISK);
    read.ops[0].outdata = Bytes::from_static(b"hello");
    read.ops[1].outdata = StatResult {
        size: 5,
        mtime: UTime::new(1_700_000_000, 5),
    }
    .to_bytes();
    out.push(read);
    let mut list = MOsdOpReply::for_request(&reqs[5], 1, 9, flag::ACK | flag::ONDISK);
    list.ops[0].outdata = sample_pgnls_response().to_bytes();
    out.push(list);
    let mut redirect = MOsdOpReply::for_request(&reqs[2], 0, 9, flag::ACK);
    redirect.redirect = Some(RequestRedirect {
        locator: ObjectLocator::new(4, b"ns"),
        object: b"obj2".to_vec(),
    });
    out.push(redirect);
    out
}

fn sample_pgnls_response() -> PgNlsResponse {
    PgNlsResponse {
        handle: HObject {
            oid: b"o3".to_vec(),
            hash: 0x4000_0000,
            pool: EXEC_POOL,
            snap: crate::msg::osd_op::CEPH_NOSNAP,
            ..HObject::default()
        },
        entries: vec![
            ListObject {
                oid: b"obj".to_vec(),
                ..ListObject::default()
            },
            ListObject {
                nspace: b"ns".to_vec(),
                oid: b"o1".to_vec(),
                locator: b"loc".to_vec(),
            },
        ],
    }
}

/// The per-op payloads [`osd_op`] kind 2 decodes.
fn sample_op_payloads() -> Vec<Vec<u8>> {
    let kv = vec![
        (b"k1".to_vec(), Bytes::from_static(b"v1")),
        (b"k2".to_vec(), Bytes::from_static(b"")),
    ];
    let mut map = Vec::new();
    encode_string_map(&kv, &mut map);
    let mut set = Vec::new();
    encode_string_set(&[b"a".to_vec(), b"bb".to_vec()], &mut set);
    let mut hobj = Vec::new();
    sample_pgnls_response().handle.emit(&mut hobj);
    vec![
        sample_pgnls_response().to_bytes().to_vec(),
        hobj,
        StatResult {
            size: 3,
            mtime: UTime::new(1, 2),
        }
        .to_bytes()
        .to_vec(),
        map,
        set,
        OmapGetValsArgs {
            start_after: b"k0".to_vec(),
            max_return: 512,
            filter_prefix: b"k".to_vec(),
        }
        .to_vec(),
        OmapGetKeysArgs {
            start_after: b"k0".to_vec(),
            max_return: 10,
        }
        .to_vec(),
        OmapVals {
            entries: kv,
            more: true,
        }
        .to_bytes()
        .to_vec(),
        OmapKeys {
            keys: vec![b"k1".to_vec()],
            more: false,
        }
        .to_bytes()
        .to_vec(),
    ]
}

fn osd_op_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for m in sample_osd_ops() {
        let msg = m.to_message(1);
        out.push(with_segments(0, msg.version, &msg.front, &msg.data));
    }
    for r in sample_osd_op_replies() {
        let msg = r.to_message(1);
        out.push(with_segments(1, msg.version, &msg.front, &msg.data));
    }
    for p in sample_op_payloads() {
        out.push(with_segments(2, 0, &p, &[]));
    }
    for o in [
        OsdOp::setxattr(b"user.a", b"value"),
        OsdOp::pgnls(16, 0, &sample_pgnls_response().handle),
    ] {
        let mut front = o.op.to_le_bytes().to_vec();
        front.extend_from_slice(&o.args);
        out.push(with_segments(3, 0, &front, &o.indata));
    }
    out
}

/// A full (`full` true) or incremental osdmap blob up to its header fields.
fn osdmap_blob(full: bool, epoch: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.put_versioned(8, 7, |outer| {
        outer.put_versioned(if full { 9 } else { 8 }, 1, |c| {
            c.put_slice(&[0x13; 16]);
            c.put_u32_le(epoch);
            UTime::new(1_700_000_000, 1).emit(c);
            if full {
                UTime::new(1_700_000_500, 2).emit(c);
            }
            c.put_u32_le(0); // the rest of the map, not decoded
        });
    });
    v
}

fn osd_mon_seeds() -> Vec<Vec<u8>> {
    let addrs = EntityAddrVec(vec![target_addr()]);
    let mut boot = MOsdBoot::for_osd([0x13; 16], [0x5a; 16], 3, 12, addrs.clone());
    boot.sb.weight = 1.5;
    boot.metadata = BTreeMap::from([
        ("hostname".to_owned(), "vm".to_owned()),
        ("osd_objectstore".to_owned(), "pollmsgr".to_owned()),
    ]);
    let beacon = MOsdBeacon {
        pgs: vec![
            crate::msg::osd_mon::PgId { pool: 2, seed: 7 },
            crate::msg::osd_mon::PgId { pool: 1, seed: 0 },
        ],
        ..MOsdBeacon::new(12)
    };
    let down = MOsdMarkMeDown::new([0x13; 16], 3, addrs, 12);
    let map = MOsdMap {
        fsid: [0x13; 16],
        incremental_maps: BTreeMap::from([(12, osdmap_blob(false, 12))]),
        maps: BTreeMap::from([(11, osdmap_blob(true, 11))]),
        cluster_osdmap_trim_lower_bound: 1,
        newest_map: 12,
    };
    let ping = MOsdPing {
        fsid: [0x13; 16],
        map_epoch: 12,
        op: crate::msg::osd_mon::ping_op::PING,
        ping_stamp: UTime::new(1_700_000_000, 3),
        mono_ping_stamp: SignedSpan::new(100, 5),
        mono_send_stamp: SignedSpan::new(100, 5),
        delta_ub: Some(SignedSpan::new(0, 7)),
        up_from: 10,
        min_message_size: 64,
    };
    let msg = |kind: u8, e: crate::msg::EncodedMessage| {
        let mut v = vec![kind, e.version as u8];
        v.extend_from_slice(&e.front);
        v
    };
    let mut sb = vec![7, 0];
    boot.sb.emit(&mut sb);
    let mut full = vec![5, 0];
    full.extend(osdmap_blob(true, 11));
    let mut inc = vec![6, 0];
    inc.extend(osdmap_blob(false, 12));
    vec![
        msg(0, boot.encode()),
        msg(1, beacon.encode()),
        msg(2, down.encode()),
        msg(3, map.encode()),
        msg(4, ping.encode()),
        full,
        inc,
        sb,
    ]
}

fn command_seeds() -> Vec<Vec<u8>> {
    let cmd = MCommand {
        fsid: [0x13; 16],
        cmd: vec![r#"{"prefix": "version"}"#.to_owned()],
        inbl: b"input".to_vec(),
    };
    let reply = MCommandReply {
        r: -22,
        rs: "invalid".to_owned(),
        outbl: b"{}".to_vec(),
    };
    [(0u8, cmd.encode()), (1, reply.encode())]
        .iter()
        .filter_map(|(kind, e)| with_cut_front(*kind, e))
        .collect()
}

/// `[kind, version, front_len (u8), front, data]` of an encoded message, the
/// [`kind_version_cut`] layout; `None` if its front is longer than a byte says.
fn with_cut_front(kind: u8, e: &EncodedMessage) -> Option<Vec<u8>> {
    let mut v = vec![kind, e.version as u8, u8::try_from(e.front.len()).ok()?];
    v.extend_from_slice(&e.front);
    v.extend_from_slice(&e.data);
    Some(v)
}

const CONF_SEEDS: &[&str] = &[
    "[global]\n\
     fsid = 6c7ed9a1-3f2b-4c1e-9a0f-1234567890ab\n\
     mon host = [v2:127.10.0.1:3300,v1:127.10.0.1:6789] 127.10.0.2, v2:[::1]:3300/7\n\
     auth cluster required = cephx\n\
     auth client required = cephx, none\n\
     ms_mon_client_mode = secure crc\n\
     public addr = 127.10.0.7:0\n\
     keyring = /etc/ceph/$cluster.$name.keyring ; comment\n\
     [osd]\n\
     osd data = /srv/$cluster-$id\n\
     osd beacon report interval = 300\n\
     [osd.3]\n\
     cluster_addr = [::1]:6801\n\
     ms crc data = false\n",
    "; no mon host: mon addr sections\n\
     [mon.a]\n\
     mon addr = 127.10.0.1\n\
     [mon.b]\n\
     mon addr = v2:127.10.0.2:3300\n\
     [client.admin]\n\
     log file = \"/var/log/ceph/$name.log\" # quoted\n\
     key = a\\#b \\\n  continued\n\
     loop = ${loop}$other\n\
     other = $loop\n",
];

const CAPS_SEEDS: &[&str] = &[
    "allow r",
    "allow rw pool=rbd, allow r pool logs",
    "allow rwx namespace=ns object_prefix rbd_; allow *  pool=x",
    "profile rbd pool=vms, profile rbd-read-only pool=images",
    "allow class-read object_prefix rbd_children, allow r pool=\"rbd\"",
    "profile osd",
];

fn osd_ops_exec_seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for m in sample_osd_ops() {
        let msg = m.to_message(1);
        // Bit 0 clear: decode; bits 1-2 = 1: pg_num 8.
        let mut v = vec![0b010];
        v.extend_from_slice(&u16::try_from(msg.front.len()).unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&msg.front);
        v.extend_from_slice(&msg.data);
        out.push(v);
    }
    // Bit 0 set: built op by op (see `gen_request`): pool 2 PG 1, object
    // "obj", writefull "hello" then stat; a getxattr "user.a"; a listing of
    // PG 3 (pg_num 12) in every namespace.
    out.push(vec![
        0b011, 0, 1, 0, 0, 0, 0, 2, 4, 1, 5, b'h', b'e', b'l', b'l', b'o', 2, 1, 9, 0,
    ]);
    out.push(vec![0b011, 0, 2, 0, 0, 1, 0, 1, 11, 1, 0, 9, 0]);
    out.push(vec![0b101, 0, 3, 3, 3, 2, 0, 1, 23, 1, 0, 30, 9, 0]);
    out
}

/// A full osdmap a Ceph 16.2.15 mon encoded (epoch 45 of the scenario in
/// `tests/osdmap_oracle.rs`: 9 OSD ids, 4 pools, upmaps, temp mappings).
const OSDMAP_FULL_SEED: &[u8] = include_bytes!("../../tests/data/osdmap/full-45.bin");

/// Incrementals of the same cluster: epoch 1 (carries a full map), OSD
/// boots, pool creation, CRUSH changes, upmap and temp mappings.
const OSDMAP_INC_SEEDS: &[&[u8]] = &[
    include_bytes!("../../tests/data/osdmap/inc-1.bin"),
    include_bytes!("../../tests/data/osdmap/inc-9.bin"),
    include_bytes!("../../tests/data/osdmap/inc-14.bin"),
    include_bytes!("../../tests/data/osdmap/inc-23.bin"),
    include_bytes!("../../tests/data/osdmap/inc-31.bin"),
    include_bytes!("../../tests/data/osdmap/inc-37.bin"),
    include_bytes!("../../tests/data/osdmap/inc-45.bin"),
];

/// Full `OSDMap` decoding ([`crate::osdmap::OsdMap::decode`]), with the crc
/// check skipped so mutations reach every field; a map that decodes is
/// queried and must decode again with the crc check unless its bytes changed.
pub fn osdmap_full(data: &[u8]) {
    use crate::osdmap::OsdMap;
    let Ok(m) = OsdMap::decode_inner(data, false) else {
        let _ = OsdMap::decode(data);
        return;
    };
    let _ = OsdMap::decode(data);
    for osd in [-1, 0, 1, i32::MAX] {
        let _ = (
            m.exists(osd),
            m.is_up(osd),
            m.is_in(osd),
            m.primary_addr(osd),
        );
    }
    // Place a few names in some pools (at most 8, so a map of thousands of
    // pools stays quick); a primary is always one of its set.
    for &pool in m.pools.keys().take(8) {
        for name in [&b"a"[..], b"rbd_data.1", b"\xff\x00"] {
            let Ok(pg) = m.object_to_pg(pool, name, b"ns", None) else {
                continue;
            };
            let ua = m.pg_to_up_acting(pg);
            assert!(ua.up_primary == -1 || ua.up.contains(&ua.up_primary));
        }
    }
}

/// `OSDMap::Incremental` decoding, and applying what decodes to the seed
/// full map (renumbered to precede it): must never panic, and a failed
/// apply leaves the map unchanged.
pub fn osdmap_incremental(data: &[u8]) {
    use crate::osdmap::{Incremental, OsdMap};
    let _ = Incremental::decode(data);
    let Ok(inc) = Incremental::decode_inner(data, false) else {
        return;
    };
    let Ok(mut base) = OsdMap::decode(OSDMAP_FULL_SEED) else {
        return;
    };
    base.epoch = inc.epoch.wrapping_sub(1);
    base.fsid = inc.fsid;
    // Debug text, not ==: a fuzzed ratio may be NaN, which is never equal.
    let before = format!("{base:?}");
    if base.apply_incremental(&inc).is_err() {
        assert!(
            format!("{base:?}") == before,
            "a failed apply_incremental changed the map"
        );
    }
}

/// Maps made by Ceph 16.2.15's crushtool (see `osdmap::crush`'s tests):
/// straw2 racks and hosts, device classes with choose_args and an erasure
/// rule, and every legacy bucket algorithm with legacy tunables.
const CRUSH_MAP_SEEDS: &[&[u8]] = &[
    include_bytes!("../osdmap/crush/testdata/build-straw2.bin"),
    include_bytes!("../osdmap/crush/testdata/classes-choose-args.bin"),
    include_bytes!("../osdmap/crush/testdata/legacy-algs.bin"),
];

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
        "frame_rev0_secure" => secure_frames(Revision::V2_0, &hello, &h),
        "frame_rev1_secure" => secure_frames(Revision::V2_1, &hello, &h),
        "monmap" => monmap_seeds(),
        "messages" => message_seeds(),
        "cephx" => cephx_seeds(),
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
        "osd_op" => osd_op_seeds(),
        "osd_mon" => osd_mon_seeds(),
        "command" => command_seeds(),
        "conf" => CONF_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect(),
        "caps" => CAPS_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect(),
        "osd_ops_exec" => osd_ops_exec_seeds(),
        "osdmap_full" => vec![OSDMAP_FULL_SEED.to_vec()],
        "osdmap_incremental" => OSDMAP_INC_SEEDS.iter().map(|s| s.to_vec()).collect(),
        "crush_map" => CRUSH_MAP_SEEDS.iter().map(|m| m.to_vec()).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments(seed: &[u8]) -> (u8, u16, &[u8], &[u8]) {
        let (kind, version, front, data) = kind_version_segments(seed).unwrap();
        (kind, u16::from(version), front, data)
    }

    #[test]
    fn osd_op_seeds_decode() {
        let seeds = osd_op_seeds();
        let mut kinds = [0; 4];
        for s in &seeds {
            let (kind, version, front, data) = segments(s);
            let data = Bytes::copy_from_slice(data);
            kinds[usize::from(kind)] += 1;
            match kind {
                0 => drop(MOsdOp::decode_bytes(version, front, data).unwrap()),
                1 => drop(MOsdOpReply::decode_bytes(version, front, data).unwrap()),
                _ => {}
            }
        }
        assert_eq!(kinds, [6, 4, 9, 2]);
        let p = sample_op_payloads();
        assert!(PgNlsResponse::decode(&p[0]).is_ok());
        assert!(HObject::decode(&p[1]).is_ok());
        assert!(StatResult::decode(&p[2]).is_ok());
        assert!(decode_string_map(&Bytes::from(p[3].clone())).is_ok());
        assert!(decode_string_set(&p[4]).is_ok());
        assert!(OmapVals::decode(&Bytes::from(p[7].clone())).is_ok());
        assert!(OmapKeys::decode(&p[8]).is_ok());
    }

    #[test]
    fn osd_mon_and_command_seeds_decode() {
        let s = osd_mon_seeds();
        let front = |i: usize| &s[i][2..];
        let v = |i: usize| u16::from(s[i][1]);
        MOsdBoot::decode(MOsdBoot::TYPE, v(0), 7, front(0), &[], &[]).unwrap();
        MOsdBeacon::decode(MOsdBeacon::TYPE, v(1), 1, front(1), &[], &[]).unwrap();
        MOsdMarkMeDown::decode(MOsdMarkMeDown::TYPE, v(2), 3, front(2), &[], &[]).unwrap();
        let map = MOsdMap::decode(MOsdMap::TYPE, v(3), 3, front(3), &[], &[]).unwrap();
        assert_eq!(parse_full_osdmap_header(&map.maps[&11]).unwrap().epoch, 11);
        let inc = parse_incremental_osdmap_header(&map.incremental_maps[&12]).unwrap();
        assert_eq!(inc.epoch, 12);
        MOsdPing::decode(MOsdPing::TYPE, v(4), 4, front(4), &[], &[]).unwrap();
        assert_eq!(parse_full_osdmap_header(front(5)).unwrap().epoch, 11);
        assert_eq!(parse_incremental_osdmap_header(front(6)).unwrap().epoch, 12);
        OsdSuperblock::parse(&mut Reader::new(front(7), "t")).unwrap();
        for (i, c) in command_seeds().iter().enumerate() {
            let [_, version, cut, rest @ ..] = &c[..] else {
                panic!("short seed")
            };
            let (front, data) = rest.split_at(usize::from(*cut));
            let version = u16::from(*version);
            if i == 0 {
                MCommand::decode(MCommand::TYPE, version, 1, front, &[], data).unwrap();
            } else {
                MCommandReply::decode(MCommandReply::TYPE, version, 1, front, &[], data).unwrap();
            }
        }
    }

    #[test]
    fn text_seeds_parse() {
        let osd = AuthEntityName::new(EntityType::Osd, "3");
        let c = CephConf::parse(CONF_SEEDS[0]).unwrap();
        assert_eq!(c.mon_host(&osd).unwrap().len(), 3);
        assert!(c.fsid(&osd).unwrap().is_some());
        let c = CephConf::parse(CONF_SEEDS[1]).unwrap();
        assert_eq!(c.mon_host(&osd).unwrap().len(), 2);
        for caps in CAPS_SEEDS {
            OsdCaps::parse(caps).unwrap();
        }
    }

    /// The built requests of the `osd_ops_exec` seeds are what their
    /// comment says.
    #[test]
    fn exec_seeds_build_the_intended_requests() {
        let seeds = osd_ops_exec_seeds();
        let wire = seeds.iter().filter(|s| s[0] & 1 == 0).count();
        assert_eq!(wire, sample_osd_ops().len());
        let built: Vec<MOsdOp> = seeds
            .iter()
            .filter(|s| s[0] & 1 == 1)
            .map(|s| gen_request(&mut Gen { data: &s[1..] }, 8))
            .collect();
        let codes = |m: &MOsdOp| m.ops.iter().map(|o| o.op).collect::<Vec<_>>();
        assert_eq!(codes(&built[0]), [op::WRITEFULL, op::STAT]);
        assert_eq!(&built[0].ops[0].indata[..], b"hello");
        assert_eq!(
            (built[0].oid.as_slice(), built[0].osdmap_epoch),
            (&b"obj"[..], 9)
        );
        assert_eq!(codes(&built[1]), [op::GETXATTR]);
        assert_eq!(
            built[1].ops[0].xattr_name_value().unwrap().0,
            &b"user.a"[..]
        );
        assert_eq!(codes(&built[2]), [op::PGNLS]);
        assert!(built[2].is_pg_op() && built[2].locator.nspace == b"\x01");
        assert_eq!(built[2].ops[0].pgls().count, 30);
    }

    /// The store snapshot sees a same-size overwrite, an xattr change and a
    /// new object: the "nothing changed" checks are not vacuous.
    #[test]
    fn exec_snapshot_sees_every_change() {
        let view = ClusterView {
            epoch: 10,
            pools: [(
                EXEC_POOL,
                PoolInfo {
                    name: "rbd".into(),
                    pg_num: 8,
                },
            )]
            .into(),
            ..ClusterView::default()
        };
        let mut req = sample_osd_ops().remove(0);
        req.ops = vec![OsdOp::write(0, Bytes::from_static(b"HELLO"))];
        let (outcome, changed) = exec_on_fresh_store(&req, &view, &OsdCaps::allow_all());
        assert!(matches!(outcome, OpsOutcome::Done { result: 0, .. }) && changed);
        req.ops = vec![OsdOp::setxattr(b"user.a", b"2")];
        assert!(exec_on_fresh_store(&req, &view, &OsdCaps::allow_all()).1);
        req.oid = b"new".to_vec();
        req.ops = vec![OsdOp::create(false)];
        assert!(exec_on_fresh_store(&req, &view, &OsdCaps::allow_all()).1);
        let (outcome, changed) =
            exec_on_fresh_store(&req, &view, &OsdCaps::parse("allow r").unwrap());
        assert!(!changed);
        assert!(matches!(
            outcome,
            OpsOutcome::Refused {
                errno: errno::EPERM,
                ..
            }
        ));
        req.ops = vec![OsdOp::read(0, 0)];
        req.oid = b"obj".to_vec();
        let (outcome, changed) =
            exec_on_fresh_store(&req, &view, &OsdCaps::parse("allow r").unwrap());
        assert!(!changed);
        let OpsOutcome::Done { result: 0, ops } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(&ops[0].1[..], b"hello world");
    }

    #[test]
    fn new_targets_run_their_seeds() {
        for &name in OSD_TARGETS {
            let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).unwrap();
            for s in seed_corpus(name) {
                target(&s);
            }
        }
    }
}
