//! Support for the DPDK tests and benchmarks: network namespaces and child processes
//! that clean up on drop, unique names, deterministic byte streams with SHA-256 digests,
//! a smoltcp stack wrapper, and the kernel-side peer (`dpdk-env-peer`).
//!
//! No `unsafe` here. Traffic only ever goes to addresses inside namespaces a test
//! creates (see [`LINK_NET`]).

use sha2::{Digest, Sha256};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Link-local /24 used between a test's DPDK stack and the kernel peer. It only ever
/// exists on interfaces inside a network namespace the test creates (and on no root
/// namespace interface), so no traffic can leave the machine.
pub const LINK_NET: [u8; 3] = [169, 254, 77];

/// Two smoltcp stacks on the ends of a ring pair named `name` (ring ports
/// pass mbufs by pointer; nothing reaches the kernel) with a TCP connection
/// from a (`.1`) to b (`.2`, port 7000) under way, each side with `buf`
/// bytes of socket buffer. Receive queues fill from `rx_pool`; each side
/// sends from its own pool of `tx_pools`.
pub fn ring_pair_stacks(
    eal: &crate::Eal,
    name: &str,
    rx_pool: crate::Mempool,
    tx_pools: [crate::Mempool; 2],
    buf: usize,
) -> crate::Result<[(Stack<crate::DpdkDevice>, SocketHandle); 2]> {
    let (a, b) = crate::ring_pair(eal, name, 1, 1024)?;
    let cfg = crate::PortConfig::default();
    let pa = crate::Port::start(eal, a, &cfg, &rx_pool)?;
    let pb = crate::Port::start(eal, b, &cfg, &rx_pool)?;
    let [ta, tb] = tx_pools;
    let flush = |d: &mut crate::DpdkDevice| {
        d.flush();
    };
    let mut sa = Stack::new(
        crate::DpdkDevice::new(&pa, 0, ta, 32)?,
        [2, 0, 0, 0, 0, 1],
        link_addr(1),
        flush,
    );
    let mut sb = Stack::new(
        crate::DpdkDevice::new(&pb, 0, tb, 32)?,
        [2, 0, 0, 0, 0, 2],
        link_addr(2),
        flush,
    );
    let ha = sa.add_tcp(buf);
    let hb = sb.add_tcp(buf);
    sb.tcp(hb)
        .listen(7000)
        .map_err(|e| crate::Error::Config(format!("listen: {e}")))?;
    sa.connect(ha, (link_addr(2), 7000), 49152)
        .map_err(|e| crate::Error::Config(format!("connect: {e}")))?;
    Ok([(sa, ha), (sb, hb)])
}

/// `169.254.77.host`.
pub fn link_addr(host: u8) -> Ipv4Address {
    Ipv4Address::new(LINK_NET[0], LINK_NET[1], LINK_NET[2], host)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique per process and call: `<prefix><pid>x<n>`, cut to 15 bytes (IFNAMSIZ).
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut s = format!("{prefix}{}x{n}", std::process::id());
    s.truncate(15);
    s
}

/// Runs a command, failing with its stderr when it exits non-zero.
pub fn run(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{:?} failed ({}): {}",
            cmd,
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS...`.
pub fn ip(args: &[&str]) -> io::Result<String> {
    run(Command::new("ip").args(args))
}

/// Whether this process may create namespaces and TAP devices (root).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// A network namespace, deleted on drop (with every virtual interface inside it).
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates `ip netns add <unique name>`.
    pub fn new(prefix: &str) -> io::Result<NetNs> {
        let name = unique_name(prefix);
        ip(&["netns", "add", &name])?;
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> io::Result<String> {
        let mut a = vec!["-n", &self.name];
        a.extend_from_slice(args);
        ip(&a)
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Moves root-namespace interface `ifname` into this namespace, gives it
    /// `addr/24` and brings it up.
    pub fn adopt(&self, ifname: &str, addr: Ipv4Address) -> io::Result<()> {
        ip(&["link", "set", ifname, "netns", &self.name])?;
        self.ip(&["addr", "add", &format!("{addr}/24"), "dev", ifname])?;
        self.ip(&["link", "set", ifname, "up"])?;
        Ok(())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// A child process killed (by its pid) and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    stdout: Option<BufReader<std::process::ChildStdout>>,
}

impl ChildGuard {
    /// Spawns `cmd` with stdout piped.
    pub fn spawn(mut cmd: Command) -> io::Result<ChildGuard> {
        let mut child = cmd.stdout(Stdio::piped()).spawn()?;
        let stdout = child.stdout.take().map(BufReader::new);
        Ok(ChildGuard {
            child: Some(child),
            stdout,
        })
    }

    /// Reads one stdout line (blocking).
    pub fn read_line(&mut self) -> io::Result<String> {
        let mut s = String::new();
        if let Some(r) = &mut self.stdout {
            r.read_line(&mut s)?;
        }
        Ok(s.trim_end().to_string())
    }

    /// Waits for exit with a timeout; returns the rest of stdout and success.
    pub fn wait(mut self, timeout: Duration) -> io::Result<(bool, String)> {
        let t0 = Instant::now();
        let mut child = self.child.take().expect("child present until wait");
        loop {
            if let Some(st) = child.try_wait()? {
                let mut rest = String::new();
                if let Some(r) = &mut self.stdout {
                    r.read_to_string(&mut rest)?;
                }
                return Ok((st.success(), rest));
            }
            if t0.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other("child timed out"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Deterministic byte stream: 8-byte blocks of splitmix64(seed, block index), so any
/// offset can be produced or checked without state.
#[derive(Debug, Clone, Copy)]
pub struct Pattern {
    seed: u64,
}

impl Pattern {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Pattern { seed }
    }

    fn block(&self, i: u64) -> [u8; 8] {
        let mut z = self
            .seed
            .wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Writes the stream bytes `[offset, offset + buf.len())` into `buf`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut off = offset;
        let mut i = 0;
        while i < buf.len() {
            let b = self.block(off / 8);
            let k = (off % 8) as usize;
            let n = (8 - k).min(buf.len() - i);
            buf[i..i + n].copy_from_slice(&b[k..k + n]);
            i += n;
            off += n as u64;
        }
    }

    /// Offset of the first byte in `buf` that differs from the stream at `offset`.
    pub fn first_mismatch(&self, offset: u64, buf: &[u8]) -> Option<u64> {
        let mut tmp = [0u8; 4096];
        for (ci, chunk) in buf.chunks(tmp.len()).enumerate() {
            let o = offset + (ci * tmp.len()) as u64;
            let t = &mut tmp[..chunk.len()];
            self.fill(o, t);
            if t != chunk {
                let j = t.iter().zip(chunk).position(|(a, b)| a != b).unwrap_or(0);
                return Some(o + j as u64);
            }
        }
        None
    }

    /// SHA-256 of the first `len` bytes, hex.
    pub fn digest(&self, len: u64) -> String {
        let mut src = StreamSource::new(self.seed, len);
        let mut buf = vec![0u8; 65536];
        loop {
            let n = src.fill(&mut buf);
            if n == 0 {
                return src.digest();
            }
        }
    }
}

/// Produces `total` bytes of a [`Pattern`], hashing what it produced.
#[derive(Debug, Clone)]
pub struct StreamSource {
    pattern: Pattern,
    offset: u64,
    total: u64,
    sha: Sha256,
}

impl StreamSource {
    /// `total` bytes of the stream for `seed`.
    pub fn new(seed: u64, total: u64) -> Self {
        StreamSource {
            pattern: Pattern::new(seed),
            offset: 0,
            total,
            sha: Sha256::new(),
        }
    }

    /// Bytes not produced yet.
    pub fn remaining(&self) -> u64 {
        self.total - self.offset
    }

    /// Fills up to `buf.len()` next bytes; returns how many.
    pub fn fill(&mut self, buf: &mut [u8]) -> usize {
        let n = (self.remaining().min(buf.len() as u64)) as usize;
        self.pattern.fill(self.offset, &mut buf[..n]);
        self.sha.update(&buf[..n]);
        self.offset += n as u64;
        n
    }

    /// SHA-256 of the bytes produced so far, hex.
    pub fn digest(&self) -> String {
        hex(&self.sha.clone().finalize())
    }
}

/// Checks received bytes against a [`Pattern`] and hashes them.
#[derive(Debug, Clone)]
pub struct StreamCheck {
    pattern: Pattern,
    received: u64,
    mismatch: Option<u64>,
    sha: Sha256,
}

impl StreamCheck {
    /// Expects the stream for `seed`.
    pub fn new(seed: u64) -> Self {
        StreamCheck {
            pattern: Pattern::new(seed),
            received: 0,
            mismatch: None,
            sha: Sha256::new(),
        }
    }

    /// Feeds received bytes.
    pub fn feed(&mut self, buf: &[u8]) {
        if self.mismatch.is_none() {
            self.mismatch = self.pattern.first_mismatch(self.received, buf);
        }
        self.sha.update(buf);
        self.received += buf.len() as u64;
    }

    /// Bytes received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Offset of the first wrong byte.
    pub fn mismatch(&self) -> Option<u64> {
        self.mismatch
    }

    /// SHA-256 of the bytes received, hex.
    pub fn digest(&self) -> String {
        hex(&self.sha.clone().finalize())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One smoltcp interface with its device and sockets.
pub struct Stack<D: Device> {
    /// The interface.
    pub iface: Interface,
    /// Its sockets.
    pub sockets: SocketSet<'static>,
    /// The device.
    pub dev: D,
    after_poll: fn(&mut D),
    epoch: Instant,
}

impl<D: Device> Stack<D> {
    /// An Ethernet interface with `addr/24`; `after_poll` runs after every poll
    /// (e.g. `DpdkDevice::flush`).
    pub fn new(mut dev: D, mac: [u8; 6], addr: Ipv4Address, after_poll: fn(&mut D)) -> Self {
        let epoch = Instant::now();
        let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        cfg.random_seed = u64::from(std::process::id()) ^ 0x5eed;
        let mut iface = Interface::new(cfg, &mut dev, SInstant::from_millis(0));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(addr.into(), 24))
                .expect("one address fits");
        });
        Stack {
            iface,
            sockets: SocketSet::new(vec![]),
            dev,
            after_poll,
            epoch,
        }
    }

    /// smoltcp time now.
    pub fn now(&self) -> SInstant {
        SInstant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    /// Polls the interface once; then runs the after-poll hook.
    pub fn poll(&mut self) {
        let now = self.now();
        self.iface.poll(now, &mut self.dev, &mut self.sockets);
        (self.after_poll)(&mut self.dev);
    }

    /// Adds a TCP socket with `buf`-byte rx and tx buffers.
    pub fn add_tcp(&mut self, buf: usize) -> SocketHandle {
        let rx = tcp::SocketBuffer::new(vec![0; buf]);
        let tx = tcp::SocketBuffer::new(vec![0; buf]);
        let mut s = tcp::Socket::new(rx, tx);
        s.set_nagle_enabled(false);
        s.set_ack_delay(None);
        self.sockets.add(s)
    }

    /// Connects TCP socket `h` from `local_port` to `remote`.
    pub fn connect(
        &mut self,
        h: SocketHandle,
        remote: (Ipv4Address, u16),
        local_port: u16,
    ) -> Result<(), tcp::ConnectError> {
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, remote, local_port)
    }

    /// The TCP socket `h`.
    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

/// Full-duplex byte-exact transfer on one smoltcp TCP socket: sends `send` bytes of
/// the pattern `send_seed`, then FIN; checks the incoming stream against `recv_seed`.
#[derive(Debug, Clone)]
pub struct TcpTransfer {
    /// Outgoing stream.
    pub src: StreamSource,
    /// Incoming stream.
    pub sink: StreamCheck,
    fin_sent: bool,
}

impl TcpTransfer {
    /// A transfer of `send` bytes out (seed `send_seed`), checking input as `recv_seed`.
    pub fn new(send: u64, send_seed: u64, recv_seed: u64) -> Self {
        TcpTransfer {
            src: StreamSource::new(send_seed, send),
            sink: StreamCheck::new(recv_seed),
            fin_sent: false,
        }
    }

    /// Moves data between the socket and the streams.
    pub fn pump(&mut self, s: &mut tcp::Socket) {
        while s.can_send() && self.src.remaining() > 0 {
            let n = s
                .send(|buf| {
                    let n = self.src.fill(buf);
                    (n, n)
                })
                .unwrap_or(0);
            if n == 0 {
                break;
            }
        }
        if self.src.remaining() == 0 && !self.fin_sent && s.may_send() {
            s.close();
            self.fin_sent = true;
        }
        while s.can_recv() {
            let sink = &mut self.sink;
            let n = s
                .recv(|buf| {
                    sink.feed(buf);
                    (buf.len(), buf.len())
                })
                .unwrap_or(0);
            if n == 0 {
                break;
            }
        }
    }

    /// All sent (FIN queued) and the peer closed its side.
    pub fn done(&self, s: &tcp::Socket) -> bool {
        self.fin_sent && !s.may_recv() && s.send_queue() == 0
    }
}

// ---------------------------------------------------------------------------------
// Kernel-side peer (`dpdk-env-peer`), run inside a namespace with `ip netns exec`.
// ---------------------------------------------------------------------------------

/// Arguments: `tcp-listen ADDR SEND SEND_SEED EXPECT EXPECT_SEED TIMEOUT_MS` or
/// `udp-flows DST FLOWS COUNT`. Prints `READY` once listening, then one result line.
pub fn peer_main(args: &[String]) -> io::Result<bool> {
    let get = |i: usize| -> io::Result<&str> {
        args.get(i)
            .map(|s| s.as_str())
            .ok_or_else(|| io::Error::other(format!("missing argument {i}: {args:?}")))
    };
    let num = |i: usize| -> io::Result<u64> {
        get(i)?
            .parse::<u64>()
            .map_err(|e| io::Error::other(format!("argument {i}: {e}")))
    };
    match get(0)? {
        "tcp-listen" => {
            let addr: SocketAddr = get(1)?.parse().map_err(io::Error::other)?;
            tcp_peer(addr, num(2)?, num(3)?, num(4)?, num(5)?, num(6)?)
        }
        "udp-flows" => {
            let dst: SocketAddr = get(1)?.parse().map_err(io::Error::other)?;
            let (flows, count) = (num(2)?, num(3)?);
            let mut sent = 0u64;
            for f in 0..flows {
                let s = UdpSocket::bind("0.0.0.0:0")?;
                for i in 0..count {
                    s.send_to(&[f as u8, i as u8, 0xab, 0xcd], dst)?;
                    sent += 1;
                }
            }
            println!("{{\"udp_sent\":{sent}}}");
            Ok(true)
        }
        other => Err(io::Error::other(format!("unknown peer mode {other:?}"))),
    }
}

fn tcp_peer(
    addr: SocketAddr,
    send: u64,
    send_seed: u64,
    expect: u64,
    expect_seed: u64,
    timeout_ms: u64,
) -> io::Result<bool> {
    let l = TcpListener::bind(addr)?;
    println!("READY");
    io::stdout().flush()?;
    let (mut s, _) = l.accept()?;
    let timeout = Some(Duration::from_millis(timeout_ms));
    s.set_read_timeout(timeout)?;
    s.set_write_timeout(timeout)?;
    let mut w = s.try_clone()?;
    let writer = std::thread::spawn(move || -> io::Result<String> {
        let mut src = StreamSource::new(send_seed, send);
        let mut buf = vec![0u8; 65536];
        loop {
            let n = src.fill(&mut buf);
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n])?;
        }
        w.shutdown(std::net::Shutdown::Write)?;
        Ok(src.digest())
    });
    let mut chk = StreamCheck::new(expect_seed);
    let mut buf = vec![0u8; 65536];
    let t0 = Instant::now();
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        chk.feed(&buf[..n]);
    }
    let secs = t0.elapsed().as_secs_f64();
    let tx = writer
        .join()
        .map_err(|_| io::Error::other("writer panicked"))??;
    let ok = chk.received() == expect && chk.mismatch().is_none();
    println!(
        "{{\"rx_bytes\":{},\"rx_sha256\":\"{}\",\"rx_mismatch\":{},\"tx_bytes\":{},\"tx_sha256\":\"{}\",\"secs\":{:.6}}}",
        chk.received(),
        chk.digest(),
        chk.mismatch().map_or("null".to_string(), |m| m.to_string()),
        send,
        tx,
        secs
    );
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_offset_addressable() {
        let p = Pattern::new(7);
        let mut whole = vec![0u8; 1000];
        p.fill(0, &mut whole);
        let mut part = vec![0u8; 77];
        p.fill(13, &mut part);
        assert_eq!(&whole[13..90], &part[..]);
        assert_eq!(p.first_mismatch(13, &part), None);
        part[5] ^= 1;
        assert_eq!(p.first_mismatch(13, &part), Some(18));
    }

    #[test]
    fn source_and_check_agree_across_chunking() {
        let mut src = StreamSource::new(3, 100_003);
        let mut chk = StreamCheck::new(3);
        let mut buf = vec![0u8; 4097];
        loop {
            let n = src.fill(&mut buf[..1 + (src.remaining() % 4096) as usize]);
            if n == 0 {
                break;
            }
            chk.feed(&buf[..n]);
        }
        assert_eq!(chk.received(), 100_003);
        assert_eq!(chk.mismatch(), None);
        assert_eq!(chk.digest(), src.digest());
        assert_eq!(Pattern::new(3).digest(100_003), src.digest());
    }

    #[test]
    fn unique_names_fit_ifnamsiz() {
        let a = unique_name("dtap");
        let b = unique_name("dtap");
        assert_ne!(a, b);
        assert!(a.len() <= 15);
    }
}
