//! Shared by the transport tests (`transport_tap`, `transport_dpdk`): an
//! msgr2 acceptor (`osd.0`, auth none) driven over any [`Transport`], and the
//! kernel-side peer that the test binary runs as, re-executed inside the
//! test's network namespace with `ip netns exec NS <test exe> --exact
//! kernel_peer_helper --nocapture` and [`PEER_ENV`] set.
//!
//! Peer modes (the [`PEER_ENV`] value, words separated by spaces):
//! - `msgr2 ADDR NONCE CONNS MSGS`: a `KernelDriver` dials `CONNS` msgr2
//!   sessions to `v2:ADDR/NONCE` at once, sends `MSGS` messages on each,
//!   checks the `MSGS` it receives on each, and exits once the acceptor has
//!   closed every session.
//! - `raw ADDR BYTES`: kernel TCP; sends `BYTES` of pattern 11 while checking
//!   `BYTES` of pattern 22 until EOF.
//!
//! The peer prints one `RESULT {json}` line and exits 0 only if all checks held.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dpdk_env::testkit::{Pattern, StreamCheck, StreamSource};
use pollmsgr::auth::none::{NoneClient, NoneServer};
use pollmsgr::net::spec::TransportSpec;
use pollmsgr::net::transport::{StreamEvent, Transport};
use pollmsgr::proto::{Connection, ConnectionConfig, Event, Message, Policies, Policy};
use pollmsgr::reactor::driver::KernelDriver;
use pollmsgr::reactor::driver::{AcceptFn, ConnId, Driver};
use pollmsgr::wire::addr::{AddrType, EntityAddr, EntityAddrVec};
use pollmsgr::wire::entity::EntityType;
use rand::SeedableRng;

/// Set in the re-executed peer: its mode and arguments.
pub const PEER_ENV: &str = "POLLMSGR_TRANSPORT_PEER";
/// Message type the connector sends; the acceptor sends `TY_C2S + 1`.
pub const TY_C2S: u16 = 0x7001;
/// The connector's last message on a session: "I got all of yours".
pub const TY_DONE: u16 = 0x7003;

/// The `i`th message a side sends: sizes from 0 to ~96 KiB (many TCP
/// segments, often more than a socket buffer), content from a pattern.
pub fn message(from_connector: bool, i: u64) -> Message {
    let seed = if from_connector { 1000 + i } else { 5000 + i };
    let len = ((i * 7919) % 98_304) as usize;
    let mut front = vec![0u8; len];
    Pattern::new(seed).fill(0, &mut front);
    let ty = if from_connector { TY_C2S } else { TY_C2S + 1 };
    Message::new(ty, 1, front).with_tid(i + 1)
}

/// FNV-1a over type, tid and payload.
pub fn digest(m: &Message) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in
        m.ty.to_le_bytes()
            .iter()
            .chain(m.tid.to_le_bytes().iter())
            .chain(m.front.iter())
            .chain(m.middle.iter())
            .chain(m.data.iter())
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The acceptor's msgr2 address.
pub fn osd_addr(sock: SocketAddr, nonce: u32) -> EntityAddr {
    EntityAddr {
        ty: AddrType::Msgr2,
        nonce,
        addr: Some(sock),
    }
}

/// Builds `osd.0` acceptor connections (auth none).
pub fn osd_acceptor(me: EntityAddr) -> AcceptFn {
    let mut cfg = ConnectionConfig::new(EntityType::Osd);
    cfg.my_gid = 0;
    cfg.my_addrs = EntityAddrVec(vec![me]);
    cfg.my_nonce = me.nonce;
    let mut gid = 4100;
    Box::new(move |peer, now| {
        gid += 1;
        Connection::accept(
            cfg.clone(),
            peer,
            Policies::osd(),
            Box::new(NoneServer::new(gid)),
            Box::new(rand::rngs::StdRng::seed_from_u64(gid)),
            now,
        )
    })
}

/// Per-connection progress of one side.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub established: bool,
    pub received: u64,
    pub bad: Vec<String>,
    /// Acceptor: the connector said it got everything. Connector: we said so.
    pub done: bool,
}

impl Tally {
    /// Checks message number `received` from the other side.
    fn check(&mut self, m: &Message, from_connector: bool) {
        let want = message(from_connector, self.received);
        if digest(m) != digest(&want) {
            self.bad.push(format!(
                "message {}: got ty {:#x} tid {} len {} digest {:x}, want len {} digest {:x}",
                self.received,
                m.ty,
                m.tid,
                m.front.len(),
                digest(m),
                want.front.len(),
                digest(&want)
            ));
        }
        self.received += 1;
    }
}

/// The re-executed kernel peer, running inside the namespace.
pub struct Peer {
    child: Option<Child>,
    exited: Option<bool>,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    /// Spawns the current test binary inside namespace `netns` as the peer in `mode`.
    pub fn spawn(netns: &str, mode: &str) -> Peer {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns])
            .arg(exe)
            .args(["--exact", "kernel_peer_helper", "--nocapture"])
            .env(PEER_ENV, mode)
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the kernel peer");
        let out = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Peer {
            child: Some(child),
            exited: None,
            lines,
        }
    }

    /// The exit status if the peer has exited.
    pub fn try_exit(&mut self) -> Option<bool> {
        if self.exited.is_some() {
            return self.exited;
        }
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(Some(st)) => {
                self.child = None;
                self.exited = Some(st.success());
                self.exited
            }
            _ => None,
        }
    }

    /// Waits for the peer to exit; returns success and its `RESULT` JSON.
    pub fn finish(mut self, timeout: Duration) -> (bool, serde_json::Value) {
        let t0 = Instant::now();
        let ok = loop {
            if let Some(ok) = self.try_exit() {
                break ok;
            }
            if self.child.is_none() {
                break false;
            }
            assert!(t0.elapsed() < timeout, "kernel peer did not exit in time");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut result = serde_json::Value::Null;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            eprintln!("peer: {line}");
            if let Some(j) = line.strip_prefix("RESULT ") {
                result = serde_json::from_str(j).unwrap_or(serde_json::Value::Null);
            }
        }
        (ok, result)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // Our own child, by its handle (pid).
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Opens reactor 0's transport from `spec` (which must put a TAP's kernel
/// side in a namespace it creates), serves `osd.0` on it and checks that a
/// kernel peer inside that namespace gets `conns` sessions of `msgs`
/// messages each way through it, byte-exact and in order. Returns the
/// transport's name.
pub fn msgr2_over_spec(spec: &TransportSpec, conns: usize, msgs: u64) -> &'static str {
    let base: SocketAddr = "0.0.0.0:6800".parse().expect("addr");
    let sock = spec.listen_addr(0, 0, base).expect("listen address");
    let mut transports = spec.prepare(1, [(sock.port(), 0)]).expect("prepare");
    let name = transports.name();
    let netns = transports.netns().expect("a namespace").name().to_owned();
    let mut driver = Driver::with_transport(transports.open(0).expect("open"));
    let me = osd_addr(sock, 4242);
    let bound = driver
        .listen(sock, me, osd_acceptor(me))
        .expect("listen through the spec's transport");
    assert_eq!(bound, sock);
    let mut peer = Peer::spawn(&netns, &format!("msgr2 {sock} 4242 {conns} {msgs}"));
    let tally = serve_msgr2(&mut driver, &mut peer, conns, msgs, Duration::from_secs(60));
    assert_eq!(tally.len(), conns);
    for (id, t) in &tally {
        assert!(t.bad.is_empty(), "conn {id}: {:?}", t.bad);
        assert_eq!(t.received, msgs, "conn {id}");
    }
    let (ok, result) = peer.finish(Duration::from_secs(20));
    assert!(ok, "kernel client failed: {result}");
    assert_eq!(result["established"], conns);
    assert_eq!(result["received"], msgs * conns as u64);
    drop(driver);
    drop(transports);
    name
}

/// Runs the acceptor side over `driver` until `conns` sessions each received
/// `msgs` messages (and sent `msgs`), then closes them all. Returns the tallies.
pub fn serve_msgr2<T: Transport>(
    driver: &mut Driver<T>,
    peer: &mut Peer,
    conns: usize,
    msgs: u64,
    timeout: Duration,
) -> BTreeMap<ConnId, Tally> {
    let t0 = Instant::now();
    let mut tally: BTreeMap<ConnId, Tally> = BTreeMap::new();
    loop {
        let events = driver
            .poll_once(Duration::from_millis(5))
            .expect("driver poll");
        for (id, ev) in events {
            match ev {
                Event::Established(e) => {
                    assert_eq!(e.peer_name.ty, EntityType::Client);
                    let t = tally.entry(id).or_default();
                    t.established = true;
                    let conn = driver.conn_mut(id).expect("established conn");
                    for i in 0..msgs {
                        conn.send_message(message(false, i));
                    }
                }
                Event::Message(m) if m.ty == TY_DONE => tally.entry(id).or_default().done = true,
                Event::Message(m) => tally.entry(id).or_default().check(&m, true),
                Event::Closed { error, .. } => {
                    panic!("acceptor conn {id} closed early: {error}; tallies {tally:?}")
                }
                _ => {}
            }
        }
        let done = tally.len() == conns
            && tally
                .values()
                .all(|t| t.established && t.received >= msgs && t.done);
        if done {
            break;
        }
        if let Some(ok) = peer.try_exit() {
            panic!("kernel peer exited early (success {ok}); tallies {tally:?}");
        }
        assert!(
            t0.elapsed() < timeout,
            "timed out: {} of {conns} sessions; tallies {tally:?}",
            tally.len()
        );
    }
    // Everything went both ways: close every session.
    for id in driver.conn_ids() {
        driver.remove(id);
    }
    let t1 = Instant::now();
    while peer.try_exit().is_none() && t1.elapsed() < Duration::from_secs(10) {
        let _ = driver.poll_once(Duration::from_millis(5));
    }
    tally
}

/// Serves the raw 4 MiB-each-way check directly over the [`Transport`] API:
/// sends `bytes` of pattern 22, checks `bytes` of pattern 11, then closes.
/// Returns (what was received, the digest sent).
pub fn serve_raw<T: Transport>(
    t: &mut T,
    listen: SocketAddr,
    peer: &mut Peer,
    bytes: u64,
    timeout: Duration,
) -> (StreamCheck, String) {
    let bound = t.listen(listen).expect("listen");
    assert_eq!(bound, listen);
    let (mut events, mut readable) = (Vec::new(), Vec::new());
    let mut stream = None;
    let mut src = StreamSource::new(22, bytes);
    let mut chk = StreamCheck::new(11);
    let mut out = vec![0u8; 64 * 1024];
    let (mut have, mut sent_at) = (0usize, 0usize);
    let t0 = Instant::now();
    loop {
        let progressed = t.poll(Instant::now(), &mut events, &mut readable);
        for ev in events.drain(..) {
            match ev {
                StreamEvent::Accepted {
                    stream: s, local, ..
                } => {
                    assert_eq!(local, bound);
                    assert!(stream.is_none(), "one connection expected");
                    stream = Some(s);
                }
                StreamEvent::Closed { reason, .. } => {
                    panic!("stream closed early: {reason}; got {}", chk.received())
                }
                StreamEvent::Connected(_) => panic!("nothing was dialed"),
                StreamEvent::AcceptFailed { error, .. } => panic!("accept failed: {error}"),
            }
        }
        if let Some(s) = stream {
            for r in readable.drain(..) {
                assert_eq!(r, s);
                t.read(s, &mut |b| {
                    chk.feed(b);
                    b.len()
                })
                .expect("read");
            }
            loop {
                if sent_at == have {
                    have = src.fill(&mut out);
                    sent_at = 0;
                    if have == 0 {
                        break;
                    }
                }
                let n = t.write(s, &out[sent_at..have]).expect("write");
                sent_at += n;
                if n == 0 {
                    break;
                }
            }
            if chk.received() >= bytes && src.remaining() == 0 && sent_at == have {
                eprintln!("raw: {} bytes each way in {:?}", bytes, t0.elapsed());
                t.close(s);
                break;
            }
        }
        if !progressed {
            t.wait(Duration::from_millis(5)).expect("wait");
        }
        if let Some(ok) = peer.try_exit() {
            panic!(
                "kernel peer exited early (success {ok}); got {}",
                chk.received()
            );
        }
        assert!(
            t0.elapsed() < timeout,
            "raw transfer stalled: got {} sent {}",
            chk.received(),
            bytes - src.remaining()
        );
    }
    // Keep the stack running while the FIN and the last bytes go out.
    let t1 = Instant::now();
    while peer.try_exit().is_none() && t1.elapsed() < Duration::from_secs(10) {
        t.poll(Instant::now(), &mut events, &mut readable);
        events.clear();
        readable.clear();
        t.wait(Duration::from_millis(2)).expect("wait");
    }
    (chk, src.digest())
}

/// The peer's entry point: runs the mode in [`PEER_ENV`], prints `RESULT`,
/// exits the process. Does nothing when the variable is unset.
pub fn peer_main() {
    let Ok(mode) = std::env::var(PEER_ENV) else {
        return;
    };
    let words: Vec<&str> = mode.split_whitespace().collect();
    let ok = match words.as_slice() {
        ["msgr2", addr, nonce, conns, msgs] => peer_msgr2(
            addr.parse().expect("addr"),
            nonce.parse().expect("nonce"),
            conns.parse().expect("conns"),
            msgs.parse().expect("msgs"),
        ),
        ["raw", addr, bytes] => {
            peer_raw(addr.parse().expect("addr"), bytes.parse().expect("bytes"))
        }
        other => panic!("unknown peer mode {other:?}"),
    };
    std::io::stdout().flush().expect("flush");
    std::process::exit(if ok { 0 } else { 1 });
}

fn peer_msgr2(addr: SocketAddr, nonce: u32, conns: usize, msgs: u64) -> bool {
    let target = osd_addr(addr, nonce);
    let mut driver = KernelDriver::new().expect("kernel driver");
    let now = Instant::now();
    let mut tally: BTreeMap<ConnId, Tally> = BTreeMap::new();
    // Every SYN goes out before any handshake runs: a connect burst.
    for k in 0..conns {
        let mut cfg = ConnectionConfig::new(EntityType::Client);
        cfg.my_nonce = std::process::id() ^ (k as u32) << 20;
        let conn = Connection::connect(
            cfg,
            target,
            EntityType::Osd,
            Policy::lossy_client(),
            Box::new(NoneClient::new(8, "admin", 0, false)),
            Box::new(rand::rngs::StdRng::seed_from_u64(k as u64)),
            now,
        );
        let id = driver.connect(addr, conn).expect("dial");
        tally.insert(id, Tally::default());
    }
    let t0 = Instant::now();
    let mut closed = 0usize;
    let mut errors = Vec::new();
    while closed < conns && t0.elapsed() < Duration::from_secs(60) {
        for (id, ev) in driver
            .poll_once(Duration::from_millis(10))
            .expect("kernel poll")
        {
            let t = tally.entry(id).or_default();
            match ev {
                Event::Established(e) => {
                    assert_eq!(e.peer_name.ty, EntityType::Osd);
                    t.established = true;
                    let conn = driver.conn_mut(id).expect("conn");
                    for i in 0..msgs {
                        conn.send_message(message(true, i));
                    }
                }
                Event::Message(m) => {
                    t.check(&m, false);
                    if t.received == msgs && !t.done {
                        t.done = true;
                        let conn = driver.conn_mut(id).expect("conn");
                        conn.send_message(Message::new(TY_DONE, 1, &b"done"[..]));
                    }
                }
                Event::Closed { error, .. } => {
                    closed += 1;
                    if t.received < msgs {
                        errors.push(format!("conn {id} closed after {}: {error}", t.received));
                    }
                }
                _ => {}
            }
        }
    }
    let established = tally.values().filter(|t| t.established).count();
    let received: u64 = tally.values().map(|t| t.received).sum();
    let bad: Vec<&String> = tally.values().flat_map(|t| t.bad.iter()).collect();
    let ok = established == conns
        && received == msgs * conns as u64
        && bad.is_empty()
        && errors.is_empty()
        && closed == conns;
    println!(
        "RESULT {}",
        serde_json::json!({
            "established": established,
            "received": received,
            "closed": closed,
            "bad": bad,
            "errors": errors,
        })
    );
    ok
}

fn peer_raw(addr: SocketAddr, bytes: u64) -> bool {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut w = s.try_clone().expect("clone");
    let writer = std::thread::spawn(move || {
        let mut src = StreamSource::new(11, bytes);
        let mut buf = vec![0u8; 65536];
        loop {
            let n = src.fill(&mut buf);
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).expect("write");
        }
        src.digest()
    });
    let mut r = s;
    let mut chk = StreamCheck::new(22);
    let mut buf = vec![0u8; 65536];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => chk.feed(&buf[..n]),
            Err(e) => {
                eprintln!("peer read: {e}");
                break;
            }
        }
    }
    let sent = writer.join().expect("writer");
    println!(
        "RESULT {}",
        serde_json::json!({
            "rx_bytes": chk.received(),
            "rx_mismatch": chk.mismatch(),
            "rx_sha256": chk.digest(),
            "tx_sha256": sent,
        })
    );
    chk.received() == bytes && chk.mismatch().is_none()
}
