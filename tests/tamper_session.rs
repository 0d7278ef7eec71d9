//! A byte flipped inside an established lossless peer session, end to end
//! (issue 8, item 8): a real ceph-mon with cephx, `pollmsgr serve --osds 2
//! --join` endpoints, and `pollmsgr bench --peer-osd A --auth cephx` (osd.A's
//! own tickets) loading osd.B through a relay written here. Once traffic
//! flows, the relay flips one bit of one byte on a connection, in one
//! direction; each new connection may be tampered with again, up to
//! `FLIPS` times a run.
//!
//! * Secure mode: the relay cannot see frame boundaries (everything after
//!   AUTH_DONE is AES-GCM ciphertext), so it flips a byte past the first
//!   `AFTER_BYTES`, well after the handshake; every such byte is covered by
//!   a GCM tag (preamble, segments, padding and epilogue alike).
//! * crc mode, for contrast: the relay parses the plaintext frames and flips
//!   a byte inside segment 0 (the message header) of a MESSAGE frame, which
//!   crc32c covers.
//!
//! Cases: client → server (the endpoint detects the flip) and server →
//! client (bench detects it), in both modes over msgr2.1, and one each over
//! msgr2.0. For each run the test checks: the receiver closed the
//! connection on an integrity failure (a typed crc or GCM-tag error counted
//! by bench's `integrity_faults` or by the endpoint's `messenger status`,
//! not a timeout, and within `CLOSE_BOUND` of the flip); the session reconnected once
//! per flip and replayed; bench sent as many requests as were answered,
//! every reply matched the oldest request in flight (nothing lost,
//! duplicated or reordered), and the endpoint handled each request exactly
//! once (its `messages.bench` grew by `sent`); in secure mode every
//! transport authenticated anew with a connection secret no earlier
//! transport used (bench's `secure_auths` and `secure_secret_repeats`: each
//! msgr2 reconnect runs a new cephx authorizer exchange whose AUTH_DONE
//! carries a connection secret the endpoint drew at random, from which the
//! AES-GCM keys and nonces derive).
//!
//! `tampered_crc_peer_sessions_without_ceph_lose_nothing` runs the crc
//! cases without a cluster (auth none, `serve --entity osd.0`), as a fast
//! check.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::pollmsgr::{run_json, Serve};
use common::relay;
use common::{Auth, CephCluster, ClusterOpts};
use pollmsgr::proto::frame::{Decoded, FrameDecoder, FrameLimits};
use pollmsgr::wire::{Revision, Tag};
use serde_json::Value;

/// Flips per run (each on its own connection).
const FLIPS: u64 = 3;
/// Bytes a connection carries in the tampered direction before its flip:
/// far more than the handshake (about 1-2 KiB each way), so the flip lands
/// in an established session with requests in flight.
const AFTER_BYTES: u64 = 20_000;
/// How soon a tampered connection must close: far below the 10 s handshake
/// deadline or any keepalive, so it was the flip, not a timeout, that closed
/// it (with room for a loaded 2-core machine).
const CLOSE_BOUND: Duration = Duration::from_secs(5);
/// The banner: "ceph v2\n", then a le16 payload length (reference 2).
const BANNER_PREFIX: usize = 10;
/// A crc-mode preamble (reference 3.1), after which segment 0 begins.
const PREAMBLE_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ClientToServer,
    ServerToClient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Secure,
    Crc,
}

impl Mode {
    fn flag(self) -> &'static str {
        match self {
            Mode::Secure => "secure",
            Mode::Crc => "crc",
        }
    }
}

/// What the relay did.
#[derive(Default)]
struct RelayStats {
    /// Flips applied so far (also the budget: at most [`FLIPS`]).
    flips: AtomicU64,
    /// TCP connections relayed.
    connections: AtomicU64,
    /// For each flip: what was flipped and how long until its connection
    /// closed.
    flip_log: Mutex<Vec<(String, Duration)>>,
    /// Anything the relay could not do (a crc-mode stream it could not parse).
    problems: Mutex<Vec<String>>,
}

impl RelayStats {
    /// Takes one flip from the budget; false once it is spent.
    fn take_flip(&self) -> bool {
        self.flips
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < FLIPS).then_some(n + 1)
            })
            .is_ok()
    }
}

/// Relays to `upstream`, tampering with `dir` as described in the module docs.
fn tamper_relay(
    upstream: SocketAddr,
    mode: Mode,
    rev: Revision,
    dir: Dir,
    stop: Arc<AtomicBool>,
) -> (SocketAddr, Arc<RelayStats>) {
    let stats = Arc::new(RelayStats::default());
    let st = Arc::clone(&stats);
    let addr = relay::start(upstream, stop, true, move |_| {
        st.connections.fetch_add(1, Ordering::Relaxed);
        let (c2s, s2c) = match dir {
            Dir::ClientToServer => (Some(mode), None),
            Dir::ServerToClient => (None, Some(mode)),
        };
        (
            Box::new(Tamper::new(c2s, rev, Arc::clone(&st))),
            Box::new(Tamper::new(s2c, rev, Arc::clone(&st))),
        )
    });
    (addr, stats)
}

/// One direction of a relayed connection; with `mode`, flips one byte
/// (once, if the budget allows) as the module docs describe.
struct Tamper {
    mode: Option<Mode>,
    crc: Option<CrcFrames>,
    moved: u64,
    flipped: Option<(String, Instant)>,
    stats: Arc<RelayStats>,
}

impl Tamper {
    fn new(mode: Option<Mode>, rev: Revision, stats: Arc<RelayStats>) -> Self {
        Tamper {
            mode,
            crc: mode
                .filter(|m| *m == Mode::Crc)
                .map(|_| CrcFrames::new(rev)),
            moved: 0,
            flipped: None,
            stats,
        }
    }
}

impl relay::Filter for Tamper {
    fn chunk(&mut self, chunk: &mut Vec<u8>) -> relay::Flow {
        let n = chunk.len() as u64;
        match (&mut self.crc, self.mode) {
            (Some(frames), _) => {
                let out = frames.carry(chunk, &mut self.flipped, &self.stats);
                *chunk = out;
            }
            (None, Some(Mode::Secure)) => {
                let end = self.moved + n;
                if self.flipped.is_none() && end > AFTER_BYTES && self.stats.take_flip() {
                    let at = AFTER_BYTES.saturating_sub(self.moved) as usize;
                    chunk[at] ^= 0x10;
                    let what = format!("secure stream byte {}", self.moved + at as u64);
                    self.flipped = Some((what, Instant::now()));
                }
            }
            _ => {}
        }
        self.moved += n;
        relay::Flow::Forward
    }

    fn finished(&mut self) {
        if let Some((what, at)) = self.flipped.take() {
            self.stats
                .flip_log
                .lock()
                .expect("flip log")
                .push((what, at.elapsed()));
        }
    }
}

/// One direction of a crc-mode stream, cut into banner and whole frames
/// (forwarded only once complete, so one can be altered).
struct CrcFrames {
    pending: Vec<u8>,
    banner_done: bool,
    decoder: FrameDecoder,
    /// Bytes of `pending` the decoder consumed (stages of the current frame).
    consumed: usize,
    /// Bytes forwarded so far.
    forwarded: u64,
    /// The stream could not be parsed: forward the rest untouched.
    passthrough: bool,
}

impl CrcFrames {
    /// A parser of frames of revision `rev` (the one the session negotiates).
    fn new(rev: Revision) -> Self {
        CrcFrames {
            pending: Vec::new(),
            banner_done: false,
            decoder: FrameDecoder::new(rev, FrameLimits::default()),
            consumed: 0,
            forwarded: 0,
            passthrough: false,
        }
    }

    /// Takes `input`; returns what to forward.
    fn carry(
        &mut self,
        input: &[u8],
        flipped: &mut Option<(String, Instant)>,
        stats: &RelayStats,
    ) -> Vec<u8> {
        self.pending.extend_from_slice(input);
        let mut out = Vec::new();
        loop {
            if self.passthrough {
                self.forwarded += self.pending.len() as u64;
                out.append(&mut self.pending);
                return out;
            }
            if !self.banner_done {
                if self.pending.len() < BANNER_PREFIX {
                    return out;
                }
                let len = BANNER_PREFIX
                    + usize::from(u16::from_le_bytes([self.pending[8], self.pending[9]]));
                if self.pending.len() < len {
                    return out;
                }
                out.extend(self.pending.drain(..len));
                self.forwarded += len as u64;
                self.banner_done = true;
                continue;
            }
            let frame = match self.decoder.decode(&self.pending[self.consumed..]) {
                Ok((n, Decoded::Frame(f))) => {
                    self.consumed += n;
                    Some(f)
                }
                Ok((n, Decoded::Aborted)) => {
                    self.consumed += n;
                    None
                }
                Ok((0, Decoded::NeedMore)) => return out,
                Ok((n, Decoded::NeedMore)) => {
                    self.consumed += n;
                    continue;
                }
                Err(e) => {
                    stats
                        .problems
                        .lock()
                        .expect("problems")
                        .push(format!("relay cannot parse the crc stream: {e}"));
                    self.passthrough = true;
                    continue;
                }
            };
            let mut raw: Vec<u8> = self.pending.drain(..self.consumed).collect();
            self.consumed = 0;
            self.forwarded += raw.len() as u64;
            let end = self.forwarded;
            if let Some(f) = frame {
                let seg0 = f.segments[0].len();
                if f.tag == Tag::Message as u8
                    && flipped.is_none()
                    && end > AFTER_BYTES
                    && raw.len() > PREAMBLE_LEN + seg0
                    && seg0 > 0
                    && stats.take_flip()
                {
                    let at = PREAMBLE_LEN + seg0 / 2;
                    raw[at] ^= 0x10;
                    let what = format!("crc MESSAGE frame: byte {at} (segment 0 of {seg0} bytes)");
                    *flipped = Some((what, Instant::now()));
                }
            }
            out.extend_from_slice(&raw);
        }
    }
}

fn cluster() -> CephCluster {
    common::require_ceph();
    CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd: false,
        extra_conf: "",
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"))
}

/// `ceph tell osd.ID messenger status`.
fn messenger_status(c: &CephCluster, id: u64) -> Value {
    let s = c
        .ceph_ok(&["tell", &format!("osd.{id}"), "messenger", "status"])
        .expect("messenger status");
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("status JSON ({e}): {s}"))
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("no counter {k} in {v}"))
}

/// The endpoint's own counters that a run changes.
#[derive(Debug, Clone, Copy)]
struct EndpointCounts {
    bench: u64,
    integrity_faults: u64,
}

fn endpoint_counts(c: &CephCluster, id: u64) -> EndpointCounts {
    let s = messenger_status(c, id);
    EndpointCounts {
        bench: s["messages"]["bench"].as_u64().unwrap_or(0),
        integrity_faults: n(&s, "integrity_faults"),
    }
}

/// What one bench run needs.
struct Setup<'a> {
    c: &'a CephCluster,
    /// bench's identity: osd.`me` with its key in `keyring`.
    me: u64,
    keyring: String,
    /// The loaded endpoint: osd.`target` at `endpoint`.
    target: u64,
    endpoint: String,
}

/// One tampered bench run over msgr2.`rev` (1 or 0); returns the
/// endpoint's counters after it.
fn run_case(
    s: &Setup<'_>,
    mode: Mode,
    rev: u8,
    dir: Dir,
    before: EndpointCounts,
) -> EndpointCounts {
    let what = format!("{mode:?} msgr2.{rev} {dir:?}");
    let upstream: SocketAddr = s
        .endpoint
        .trim_start_matches("v2:")
        .rsplit_once('/')
        .map(|(a, _)| a)
        .unwrap_or("")
        .parse()
        .expect("endpoint socket");
    let stop = Arc::new(AtomicBool::new(false));
    let revision = if rev == 1 {
        Revision::V2_1
    } else {
        Revision::V2_0
    };
    let (relay, stats) = tamper_relay(upstream, mode, revision, dir, Arc::clone(&stop));
    let (me, relay) = (s.me.to_string(), relay.to_string());
    let name = format!("osd.{}", s.me);
    let t = Instant::now();
    let r = run_json(&[
        "bench",
        "--connect",
        &s.endpoint,
        "--via",
        &relay,
        "--peer-osd",
        &me,
        "--auth",
        "cephx",
        "--mon",
        &s.c.mon_addr,
        "--name",
        &name,
        "--keyring",
        &s.keyring,
        "--mode",
        mode.flag(),
        "--conns",
        "2",
        "--depth",
        "8",
        "--size",
        "3000",
        "--duration",
        "3",
        "--msgr-rev",
        &rev.to_string(),
        "--json",
    ]);
    stop.store(true, Ordering::Relaxed);
    let after = endpoint_counts(s.c, s.target);
    let flips = stats.flips.load(Ordering::SeqCst);
    let log = stats.flip_log.lock().expect("flip log").clone();
    let problems = stats.problems.lock().expect("problems").clone();
    eprintln!(
        "{what}: {:.1} s, {} relayed connections, flips {log:?}\nbench: {r}\nendpoint: {before:?} -> {after:?}",
        t.elapsed().as_secs_f64(),
        stats.connections.load(Ordering::Relaxed),
    );
    assert!(problems.is_empty(), "{what}: relay: {problems:?}");
    assert_eq!(flips, FLIPS, "{what}: the relay must have flipped: {r}");

    // Nothing lost, duplicated or reordered.
    let sent = n(&r, "sent");
    assert!(n(&r, "completed") > 100, "{what}: too little traffic: {r}");
    assert_eq!(
        n(&r, "completed"),
        sent,
        "{what}: every request answered: {r}"
    );
    assert_eq!(n(&r, "mismatches"), 0, "{what}: replies out of order: {r}");
    assert_eq!(n(&r, "errors"), 0, "{what}: a lossless session ended: {r}");
    assert_eq!(
        after.bench - before.bench,
        sent,
        "{what}: the endpoint must handle each request exactly once: {r}"
    );

    // Each flip faulted its connection on an integrity failure, detected by
    // the receiver, at once (not a timeout), and the session resumed.
    assert_eq!(log.len() as u64, FLIPS, "{what}: {log:?}");
    for (flip, closed_after) in &log {
        assert!(
            *closed_after < CLOSE_BOUND,
            "{what}: {flip}: the connection lived on for {closed_after:?}"
        );
    }
    assert!(
        n(&r, "reconnects") >= FLIPS,
        "{what}: no resume per flip: {r}"
    );
    assert_eq!(n(&r, "sessions"), 2, "{what}: sessions were reset: {r}");
    let endpoint_detected = after.integrity_faults - before.integrity_faults;
    let bench_detected = n(&r, "integrity_faults");
    let first_fault = r["first_fault"].as_str().unwrap_or("");
    match dir {
        Dir::ClientToServer => {
            assert_eq!(endpoint_detected, FLIPS, "{what}: endpoint: {after:?}");
            assert_eq!(bench_detected, 0, "{what}: {r}");
            // bench only sees the endpoint hang up.
            assert!(first_fault.contains("transport closed"), "{what}: {r}");
        }
        Dir::ServerToClient => {
            assert_eq!(bench_detected, FLIPS, "{what}: {r}");
            assert_eq!(endpoint_detected, 0, "{what}: endpoint: {after:?}");
            // msgr2.0 secure mode decrypts the preamble before the frame's
            // one GCM tag is checked (reference 3.5), so a flip there shows
            // as the (encrypted) preamble's crc mismatch first.
            let want: &[&str] = match (mode, rev) {
                (Mode::Secure, 1) => &["AES-GCM tag mismatch"],
                (Mode::Secure, _) => &["AES-GCM tag mismatch", "preamble crc mismatch"],
                (Mode::Crc, _) => &["segment 0 crc mismatch"],
            };
            assert!(
                want.iter().any(|w| first_fault.contains(w)),
                "{what}: want one of {want:?}: {r}"
            );
        }
    }

    // Fresh keys: one secure authentication per transport (the first two
    // and one per reconnect), none reusing an earlier connection secret.
    let transports = n(&r, "sessions") + n(&r, "reconnects");
    match mode {
        Mode::Secure => {
            assert_eq!(r["mode"], "secure", "{what}: {r}");
            // At least: a handshake that authenticated and then lost a
            // session race (WAIT, RETRY) is counted too, never established.
            assert!(n(&r, "secure_auths") >= transports, "{what}: {r}");
            assert_eq!(n(&r, "secure_secret_repeats"), 0, "{what}: {r}");
        }
        Mode::Crc => {
            assert_eq!(r["mode"], "crc", "{what}: {r}");
            assert_eq!(n(&r, "secure_auths"), 0, "{what}: {r}");
        }
    }
    after
}

#[test]
fn ceph_tampered_lossless_sessions_reconnect_with_fresh_keys_and_replay() {
    let c = cluster();
    let state = c.dir.join("pollmsgr-state");
    let conf = c.conf_path.display().to_string();
    let state_arg = state.display().to_string();
    let (_serve, ready) = Serve::start(&[
        "--osds",
        "2",
        "--join",
        "-c",
        &conf,
        "--state-dir",
        &state_arg,
        "--cores",
        "0",
        "--mode",
        "prefer-secure",
    ]);
    let ids: Vec<u64> = ready["osds"]
        .as_array()
        .expect("osds in the ready line")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let endpoints = common::pollmsgr::strings(&ready, "endpoints");
    assert_eq!((ids.len(), endpoints.len()), (2, 2), "{ready}");
    // bench is the first endpoint's peer (its osd key from the state file)
    // and loads the second.
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string(state.join("pollmsgr-osds.json")).expect("state file"),
    )
    .expect("state JSON");
    let me = &saved["osds"][0];
    let my_id = me["id"].as_u64().expect("id");
    let keyring = c.dir.join("peer.keyring");
    std::fs::write(
        &keyring,
        format!(
            "[osd.{my_id}]\n\tkey = {}\n",
            me["key"].as_str().expect("key")
        ),
    )
    .expect("keyring");
    let target = ids
        .iter()
        .position(|&i| i != my_id)
        .expect("another endpoint");
    let setup = Setup {
        c: &c,
        me: my_id,
        keyring: keyring.display().to_string(),
        target: ids[target],
        endpoint: endpoints[target].clone(),
    };
    let t = Instant::now();
    let mut counts = endpoint_counts(&c, setup.target);
    // Both directions over msgr2.1; one each over msgr2.0, whose secure
    // mode frames differently (reference 3.5) and whose crc frames the
    // relay parses as 2.0 (a session that negotiated 2.1 would not parse).
    let cases = [
        (Mode::Secure, 1, Dir::ClientToServer),
        (Mode::Secure, 1, Dir::ServerToClient),
        (Mode::Crc, 1, Dir::ClientToServer),
        (Mode::Crc, 1, Dir::ServerToClient),
        (Mode::Secure, 0, Dir::ServerToClient),
        (Mode::Crc, 0, Dir::ClientToServer),
    ];
    for (mode, rev, dir) in cases {
        counts = run_case(&setup, mode, rev, dir, counts);
    }
    eprintln!("{} tampered runs in {:?}", cases.len(), t.elapsed());
}

/// The crc cases against `serve --entity osd.0` with auth none (no cluster):
/// each flip faults and resumes the session, and the endpoint handled
/// every request exactly once (its `messages` are the requests plus one
/// `version` probe per new session).
#[test]
fn tampered_crc_peer_sessions_without_ceph_lose_nothing() {
    let (mut serve, hello) = Serve::start(&[
        "--entity",
        "osd.0",
        "--osds",
        "1",
        "--listen",
        "v2:127.0.0.1:0/701",
        "--cores",
        "0",
    ]);
    let endpoint = hello["endpoints"][0].as_str().expect("endpoint").to_owned();
    let upstream: SocketAddr = endpoint
        .trim_start_matches("v2:")
        .rsplit_once('/')
        .map(|(a, _)| a)
        .unwrap_or("")
        .parse()
        .expect("endpoint socket");
    let mut expected_messages = 0;
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        let stop = Arc::new(AtomicBool::new(false));
        let (relay, stats) =
            tamper_relay(upstream, Mode::Crc, Revision::V2_1, dir, Arc::clone(&stop));
        let r = run_json(&[
            "bench",
            "--connect",
            &endpoint,
            "--via",
            &relay.to_string(),
            "--peer-osd",
            "100",
            "--conns",
            "2",
            "--depth",
            "8",
            "--size",
            "3000",
            "--duration",
            "2",
            "--json",
        ]);
        stop.store(true, Ordering::Relaxed);
        let what = format!("{dir:?}");
        let problems = stats.problems.lock().expect("problems").clone();
        assert!(problems.is_empty(), "{what}: relay: {problems:?}");
        assert_eq!(stats.flips.load(Ordering::SeqCst), FLIPS, "{what}: {r}");
        let sent = n(&r, "sent");
        assert!(n(&r, "completed") > 100, "{what}: too little traffic: {r}");
        assert_eq!(n(&r, "completed"), sent, "{what}: {r}");
        assert_eq!(n(&r, "mismatches"), 0, "{what}: {r}");
        assert_eq!(n(&r, "errors"), 0, "{what}: {r}");
        assert!(n(&r, "reconnects") >= FLIPS, "{what}: {r}");
        let bench_detected = n(&r, "integrity_faults");
        match dir {
            Dir::ClientToServer => assert_eq!(bench_detected, 0, "{what}: {r}"),
            Dir::ServerToClient => assert_eq!(bench_detected, FLIPS, "{what}: {r}"),
        }
        expected_messages += sent + n(&r, "sessions");
    }
    let (out, err) = serve.stop();
    let summary: Value = serde_json::from_str(out.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("no serve summary ({e}): {out}\n{err}"));
    assert_eq!(
        summary["messages"].as_u64(),
        Some(expected_messages),
        "the endpoint saw each request exactly once: {summary}"
    );
}
