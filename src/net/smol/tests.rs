//! [`SmolTransport`] over smoltcp's in-memory `Loopback` (no root, no
//! kernel): both ends of every connection live in one interface.

use super::*;
use std::collections::BTreeMap;

const ME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

fn transport(backlog: usize) -> SmolTransport<Loopback> {
    let mut cfg = SmolConfig::new([2, 0, 0, 0, 0, 1], ME, 8);
    cfg.listen_backlog = backlog;
    cfg.rx_buffer = 64 * 1024;
    cfg.tx_buffer = 64 * 1024;
    cfg.random_seed = 42;
    SmolTransport::new(Loopback::new(Medium::Ethernet), cfg).expect("transport")
}

/// Everything the transport reported, and the bytes read per stream.
#[derive(Default)]
struct Seen {
    events: Vec<StreamEvent>,
    data: BTreeMap<StreamId, Vec<u8>>,
}

fn pump(t: &mut SmolTransport<Loopback>, seen: &mut Seen, rounds: usize) {
    let (mut ev, mut rd) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        t.poll(Instant::now(), &mut ev, &mut rd);
        seen.events.append(&mut ev);
        for id in rd.drain(..) {
            let buf = seen.data.entry(id).or_default();
            t.read(id, &mut |b| {
                buf.extend_from_slice(b);
                b.len()
            })
            .expect("read");
        }
    }
}

fn until(t: &mut SmolTransport<Loopback>, seen: &mut Seen, mut done: impl FnMut(&Seen) -> bool) {
    let t0 = Instant::now();
    while !done(seen) {
        pump(t, seen, 1);
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "stalled; events so far: {:?}",
            seen.events
        );
    }
}

fn accepted(seen: &Seen) -> Vec<(StreamId, SocketAddr, SocketAddr)> {
    seen.events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Accepted {
                stream,
                local,
                peer,
            } => Some((*stream, *local, *peer)),
            _ => None,
        })
        .collect()
}

fn closed(seen: &Seen, id: StreamId) -> Option<String> {
    seen.events.iter().find_map(|e| match e {
        StreamEvent::Closed { stream, reason } if *stream == id => Some(reason.clone()),
        _ => None,
    })
}

#[test]
fn exchange_both_ways_and_close() {
    let mut t = transport(4);
    let bound = t
        .listen("127.0.0.1:6800".parse().expect("literal"))
        .expect("listen");
    assert_eq!(bound, "127.0.0.1:6800".parse().expect("literal"));
    assert_eq!(t.name(), "loopback");
    let c = t.connect(bound).expect("connect");
    let mut seen = Seen::default();
    until(&mut t, &mut seen, |s| {
        !accepted(s).is_empty() && s.events.contains(&StreamEvent::Connected(c))
    });
    let (s, local, peer) = accepted(&seen)[0];
    assert_eq!(local, bound, "Accepted carries the address listen returned");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(ME));

    // 300 KB each way: more than the 64 KiB socket buffers, so writes are
    // partial and windows close. Loopback segments are as large as the whole
    // window, so a window update sent late (after the next ingress) loses
    // smoltcp's window-probe byte and stalls a full 1 s retransmit timeout:
    // the time bound below catches that.
    exchange(
        &mut t,
        &mut seen,
        (c, s),
        300_000,
        0,
        Duration::from_millis(500),
    );

    t.close(c);
    until(&mut t, &mut seen, |x| {
        closed(x, c).is_some() && closed(x, s).is_some()
    });
    assert_eq!(closed(&seen, c).as_deref(), Some("closed locally"));
    assert_eq!(
        closed(&seen, s).as_deref(),
        Some("peer closed the TCP connection")
    );
    assert!(t.write(c, b"x").is_err(), "a closed stream cannot write");
    // Closing sockets finish their FIN exchange and leave the set; the pool stays.
    let t0 = Instant::now();
    while t.socket_count() != 4 {
        pump(&mut t, &mut seen, 1);
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "closing sockets linger"
        );
    }
    assert_eq!(t.stream_count(), 0);
}

#[test]
fn connect_burst_is_all_accepted_with_small_pool() {
    // 64 SYNs arrive in one poll; a pool of 2 must be refilled packet by packet.
    let mut t = transport(2);
    let bound = t
        .listen("0.0.0.0:7000".parse().expect("literal"))
        .expect("listen");
    assert_eq!(bound, "0.0.0.0:7000".parse().expect("literal"));
    let ids: Vec<StreamId> = (0..64)
        .map(|_| {
            t.connect("127.0.0.1:7000".parse().expect("literal"))
                .expect("connect")
        })
        .collect();
    let mut seen = Seen::default();
    until(&mut t, &mut seen, |s| accepted(s).len() == 64);
    let connected = seen
        .events
        .iter()
        .filter(|e| matches!(e, StreamEvent::Connected(_)))
        .count();
    assert_eq!(connected, 64);
    for id in &ids {
        assert_eq!(closed(&seen, *id), None, "no connect was refused");
    }
    // Every peer port is distinct, and every accepted stream reports the bound address.
    let mut ports: Vec<u16> = accepted(&seen).iter().map(|a| a.2.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 64);
    assert!(accepted(&seen).iter().all(|a| a.1 == bound));
    assert!(t.stats().accepted == 64 && t.stats().connected == 64);
}

#[test]
fn connect_to_closed_port_fails() {
    let mut t = transport(1);
    let c = t
        .connect("127.0.0.1:9".parse().expect("literal"))
        .expect("connect");
    let mut seen = Seen::default();
    until(&mut t, &mut seen, |s| closed(s, c).is_some());
    assert!(
        closed(&seen, c)
            .unwrap_or_default()
            .starts_with("connect failed"),
        "{:?}",
        seen.events
    );
}

#[test]
fn port_chooser_hook_picks_the_local_port() {
    let mut t = transport(2);
    t.listen("127.0.0.1:7001".parse().expect("literal"))
        .expect("listen");
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = asked.clone();
    t.set_port_chooser(Box::new(
        move |local: Ipv4Addr, remote: SocketAddrV4, in_use: &dyn Fn(u16) -> bool| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(local, ME);
            assert_eq!(remote.port(), 7001);
            // Even ports only, as a queue-steering chooser might.
            (50000..60000).step_by(2).find(|p| !in_use(*p))
        },
    ));
    for _ in 0..3 {
        t.connect("127.0.0.1:7001".parse().expect("literal"))
            .expect("connect");
    }
    let mut seen = Seen::default();
    until(&mut t, &mut seen, |s| accepted(s).len() == 3);
    let mut ports: Vec<u16> = accepted(&seen).iter().map(|a| a.2.port()).collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![50000, 50002, 50004]);
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[test]
fn listen_checks_its_address() {
    let mut t = transport(1);
    let e = t
        .listen("169.254.9.9:1".parse().expect("literal"))
        .expect_err("foreign address");
    assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
    let e = t
        .listen("[::1]:1".parse().expect("literal"))
        .expect_err("v6");
    assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    let any = t
        .listen("127.0.0.1:0".parse().expect("literal"))
        .expect("port 0");
    assert!(any.port() >= 49152, "{any}");
    let e = t.listen(any).expect_err("same port twice");
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
    let bad = SmolConfig::new([1, 0, 0, 0, 0, 1], ME, 8);
    assert!(matches!(
        SmolTransport::new(Loopback::new(Medium::Ethernet), bad),
        Err(SmolError::InvalidConfig { what: "mac", .. })
    ));
}

#[test]
fn sequential_ports_skip_used_and_wrap() {
    let mut s = SequentialPorts::new(100, 103, 102);
    let r = SocketAddrV4::new(ME, 1);
    let used = |p: u16| p == 103;
    assert_eq!(s.choose(ME, r, &used), Some(102));
    assert_eq!(s.choose(ME, r, &used), Some(100));
    assert_eq!(s.choose(ME, r, &|_| true), None);
}

/// Listens on `addr`, connects to it, and returns the (client, server)
/// streams once both ends are up.
fn connected_pair(
    t: &mut SmolTransport<Loopback>,
    seen: &mut Seen,
    addr: &str,
) -> (StreamId, StreamId) {
    let bound = t.listen(addr.parse().expect("literal")).expect("listen");
    let c = t.connect(bound).expect("connect");
    until(t, seen, |s| {
        !accepted(s).is_empty() && s.events.contains(&StreamEvent::Connected(c))
    });
    (c, accepted(seen)[0].0)
}

/// Sends `len` bytes each way over the (client, server) streams and checks
/// they arrive intact and in order, within `within`.
fn exchange(
    t: &mut SmolTransport<Loopback>,
    seen: &mut Seen,
    (c, s): (StreamId, StreamId),
    len: usize,
    salt: u8,
    within: Duration,
) {
    let a: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7) ^ salt).collect();
    let b: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ salt)
        .collect();
    seen.data.clear();
    let (mut wa, mut wb) = (0, 0);
    let t0 = Instant::now();
    while seen.data.get(&s).map_or(0, Vec::len) < len || seen.data.get(&c).map_or(0, Vec::len) < len
    {
        wa += t.write(c, &a[wa..]).expect("write c");
        wb += t.write(s, &b[wb..]).expect("write s");
        pump(t, seen, 1);
        assert!(t0.elapsed() < within, "transfer stalled: {:?}", t.stats());
    }
    assert!(seen.data[&s] == a, "server got the client's bytes in order");
    assert!(seen.data[&c] == b, "client got the server's bytes in order");
}

#[test]
fn idle_streams_give_their_buffer_pages_back_and_stay_usable() {
    let mut t = transport(2);
    t.cfg.sweep_interval = Duration::from_millis(2);
    t.cfg.discard_idle_after = Some(Duration::from_millis(20));
    let mut seen = Seen::default();
    let (c, s) = connected_pair(&mut t, &mut seen, "127.0.0.1:6801");

    // While data flows, no ring is given back, however many sweeps pass
    // (at least 100 ms and 21 sweeps: on a loaded machine a pass can take
    // longer than the 2 ms sweep interval, so time alone does not bring them).
    let t0 = Instant::now();
    let mut round = 0u8;
    while t0.elapsed() < Duration::from_millis(100) || t.stats().sweeps <= 20 {
        exchange(
            &mut t,
            &mut seen,
            (c, s),
            20_000,
            round,
            Duration::from_secs(2),
        );
        round = round.wrapping_add(1);
    }
    assert!(t.stats().sweeps > 20, "sweeps ran: {:?}", t.stats());
    assert_eq!(
        t.stats().ring_bytes_discarded,
        0,
        "a busy stream lost its pages"
    );

    // Idle: both streams give back both 64 KiB rings, once.
    let ring: u64 = 64 * 1024;
    idle_until(&mut t, &mut seen, 4 * ring);
    assert_eq!(t.stats().ring_bytes_discarded, 4 * ring, "{:?}", t.stats());

    // The bytes sent afterwards arrive intact (the rings start from empty),
    // and a stream that was used again is given back again when it idles.
    exchange(
        &mut t,
        &mut seen,
        (c, s),
        150_000,
        0xa5,
        Duration::from_secs(2),
    );
    idle_until(&mut t, &mut seen, 8 * ring);
    assert_eq!(t.stats().ring_bytes_discarded, 8 * ring, "{:?}", t.stats());
}

/// Polls an idle transport for 100 ms, and on (up to 2 s) until `discarded`
/// bytes were given back: the sweeps that find the streams quiet need passes,
/// which a loaded machine spaces out.
fn idle_until(t: &mut SmolTransport<Loopback>, seen: &mut Seen, discarded: u64) {
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(100)
        || (t.stats().ring_bytes_discarded < discarded && quiet.elapsed() < Duration::from_secs(2))
    {
        pump(t, seen, 1);
    }
}

#[test]
fn rings_of_a_dropped_transport_serve_the_next_one() {
    let mut t = transport(3);
    // A size of its own, so other tests' rings do not count.
    t.cfg.rx_buffer = 48 * 1024;
    t.cfg.tx_buffer = 48 * 1024;
    t.listen("127.0.0.1:6802".parse().expect("literal"))
        .expect("listen");
    let before = smol_rings::pooled(48 * 1024);
    let sockets = t.socket_count();
    assert_eq!(sockets, 3);
    drop(t);
    assert!(
        smol_rings::pooled(48 * 1024) >= before + 2 * sockets,
        "rings not returned"
    );
}

#[test]
fn idle_sockets_skipped_by_egress_still_send_their_keepalives() {
    // smoltcp's egress passes by a socket whose own poll time has not come
    // (vendor/smoltcp/PATCHES.md): its timers must still fire on time.
    let mut t = transport(1);
    t.cfg.keep_alive = Some(Duration::from_millis(20));
    let mut seen = Seen::default();
    let (c, _) = connected_pair(&mut t, &mut seen, "127.0.0.1:6803");
    // Settle (handshake ACKs), then idle.
    pump(&mut t, &mut seen, 50);
    let before = t.stats().tx_frames;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(300) {
        pump(&mut t, &mut seen, 1);
    }
    // Two idle sockets, a keep-alive each every 20 ms (each answered): at
    // least a third of the ~30 expected, whatever the scheduling.
    let sent = t.stats().tx_frames - before;
    assert!(
        sent >= 10,
        "only {sent} frames in 300 ms of keep-alives every 20 ms"
    );
    assert!(closed(&seen, c).is_none(), "{:?}", seen.events);
}

/// A stream's description names its TCP state and its unread and unsent
/// bytes; a stream that is gone has none.
#[test]
fn describe_reports_a_streams_buffers() {
    let mut t = transport(2);
    let mut seen = Seen::default();
    let (c, s) = connected_pair(&mut t, &mut seen, "127.0.0.1:7003");
    // The client queues bytes; the server's side receives them but the
    // test does not read them (pump only records what was readable).
    assert_eq!(t.write(c, &[7; 1000]).expect("write"), 1000);
    let d = t.describe(c).expect("a smoltcp stream is described");
    assert!(d.starts_with("smoltcp ESTABLISHED: "), "{d}");
    assert!(d.contains("1000 of "), "queued bytes: {d}");
    t.close(c);
    until(&mut t, &mut seen, |x| closed(x, c).is_some());
    assert_eq!(t.describe(c), None);
    assert!(t.describe(s).is_some());
}
