//! smoltcp TCP behind the [`Transport`] trait, over any smoltcp `phy::Device`:
//! a TAP device ([`tap`](super::tap), `phy::TunTapInterface`), a DPDK queue
//! ([`dpdk`](super::dpdk), `dpdk_env::DpdkDevice`) or smoltcp's `Loopback`
//! (unit tests).
//!
//! One [`SmolTransport`] owns one Ethernet [`Interface`] with one IPv4 address
//! (optionally a default gateway) and one [`SocketSet`]; a reactor drives it
//! from one thread (design.md, "Data path").
//!
//! - **Listening** keeps a pool of `listen_backlog` sockets in `LISTEN` per
//!   address, because smoltcp has no accept queue: one listening socket takes
//!   one SYN. A socket that leaves `LISTEN` is replaced right after the packet
//!   that moved it (ingress runs one packet at a time), so a burst of SYNs in
//!   one poll is never refused. A stream is reported `Accepted` once its
//!   socket is established; `local` is the address `listen` returned.
//! - **Connecting** picks the local port with a [`LocalPortChooser`] (default
//!   [`SequentialPorts`]); a multi-queue reactor plugs in one that picks a
//!   port whose RSS hash maps back to its queue (design.md, "Flow steering").
//! - **Reading** lends the socket's receive ring in place (`recv`), no copy;
//!   **writing** copies into the transmit ring (`send_slice`).
//! - `Closed` follows a reset, a timeout (socket `timeout` + `keep_alive`), the
//!   peer's FIN once every byte before it was read, or a local `close`.
//!
//! # Cost per packet (what is O(1), what is still O(n))
//!
//! Unpatched smoltcp's `Interface::poll` dispatches every socket of the set
//! for egress on every call, and each walk sends at most one segment per
//! socket; measured, 10k idle sockets cut the message rate 83x. What this
//! module does about it:
//!
//! - Our own bookkeeping is O(1) per packet: a device wrapper
//!   ([`flow::Observed`]) reads the flow (our port, peer address) of every
//!   frame smoltcp consumes, and ingress runs one packet at a time
//!   (`poll_ingress_single`), so after each packet we look at exactly the one
//!   stream (hash map) or listener pool (at most `listen_backlog` sockets plus
//!   handshakes in flight) it touched. No per-poll scan of our streams.
//! - Egress (`poll_egress`) runs only when there is something to do: a packet
//!   came in (ACKs), the caller wrote, read (window updates), connected or
//!   closed, or `timer_tick` passed (retransmits, keep-alives). An idle
//!   busy-polling DPDK loop therefore costs one `rx_burst` and a clock read,
//!   not a walk over every socket.
//! - A full scan of our streams (timeouts, closing sockets) runs every
//!   `sweep_interval` (default 50 ms): O(n), amortized.
//!
//! Inside smoltcp (0.14, vendored with `vendor/smoltcp/egress-skip.patch`):
//!
//! - **Egress** passes by a TCP socket that nothing touched since its last
//!   dispatch and whose own poll time (timers) has not come, so idle sockets
//!   cost a comparison each, not a dispatch. It still emits at most one
//!   segment per socket per walk.
//! - **Ingress demux** is still O(n): `process_tcp` finds the socket for a
//!   segment by a linear search in slot order (each packet costs
//!   O(position of its socket)).
//! - `SocketSet::add` scans for a free slot (per connect/accept, not per
//!   packet), and `poll_delay` (used by [`Transport::wait`] on TAP only) walks
//!   every socket once per sleep.
//!
//! A flow-indexed socket table would cure the ingress search; until then
//! the sockets of one interface should stay in the hundreds
//! ([`super::smol_set`] shards them).
//!
//! smoltcp also keeps a small fixed neighbor (ARP) cache (8 entries by
//! default): plenty for a NIC queue that talks through a gateway or to a few
//! peers, not for a flat /16 of peers.
#![deny(unsafe_code)]

pub mod flow;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{Device, Loopback, Medium, TunTapInterface};
use smoltcp::socket::tcp::{self, State};
use smoltcp::socket::Socket;
use smoltcp::time::{Duration as SDuration, Instant as SInstant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpListenEndpoint};

use self::flow::{FlowKey, Observed};
use super::smol_rings;
use super::transport::{FrameCounts, StreamEvent, StreamId, Transport, TxShortfalls};

/// Longest an idle stack goes without running egress (see
/// `SmolTransport::next_timer`): a bound on any timer smoltcp might not
/// report.
const IDLE_TICK_MAX: Duration = Duration::from_secs(1);

/// Errors building a transport (the data path reports `io::Error`s, as the
/// [`Transport`] trait asks).
#[derive(Debug, thiserror::Error)]
pub enum SmolError {
    /// A configuration value is unusable.
    #[error("invalid transport configuration: {what}: {detail}")]
    InvalidConfig {
        /// The setting.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// Opening or setting up a device failed.
    #[error("{what}: {source}")]
    Device {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An external command (`ip ...`) failed.
    #[error("`{cmd}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// DPDK refused something.
    #[error("DPDK: {0}")]
    Dpdk(#[from] dpdk_env::Error),
}

/// A smoltcp device the transport can drive: what to do after each poll, and
/// how to sleep.
pub trait SmolDevice: Device {
    /// The transport's name in reports ("tap", "dpdk", ...).
    const NAME: &'static str;
    /// True if the device is busy-polled: [`SmolDevice::wait`] returns at once
    /// and the transport skips computing smoltcp's poll delay (an O(n) walk).
    const BUSY_POLL: bool;

    /// Runs after every poll of the interface (DPDK: send the batched burst).
    fn after_poll(&mut self) {}

    /// Sleeps until a frame may be ready or `timeout` passes.
    fn wait(&mut self, timeout: Duration) -> io::Result<()>;

    /// Times the device had no buffer for a frame: (smoltcp told to wait,
    /// frames built and lost). Devices with buffers to run out of count them.
    fn tx_buffer_shortfalls(&self) -> TxShortfalls {
        TxShortfalls::default()
    }
}

impl SmolDevice for TunTapInterface {
    const NAME: &'static str = "tap";
    const BUSY_POLL: bool = false;

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        match smoltcp::phy::wait(self.as_raw_fd(), Some(SDuration::from(timeout))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            other => other,
        }
    }
}

impl SmolDevice for Loopback {
    const NAME: &'static str = "loopback";
    const BUSY_POLL: bool = true;

    fn wait(&mut self, _timeout: Duration) -> io::Result<()> {
        std::thread::yield_now();
        Ok(())
    }
}

/// Chooses the local port of an outgoing connection.
///
/// `in_use(port)` says whether a port is taken (listening, or used by another
/// connection of this transport). A multi-queue reactor returns a free port
/// whose RSS hash of (`local`, port, `remote`) selects its own queue.
pub trait LocalPortChooser: Send {
    /// A free port for a connection from `local` to `remote`, or `None` if
    /// there is none.
    fn choose(
        &mut self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        in_use: &dyn Fn(u16) -> bool,
    ) -> Option<u16>;
}

impl<F> LocalPortChooser for F
where
    F: FnMut(Ipv4Addr, SocketAddrV4, &dyn Fn(u16) -> bool) -> Option<u16> + Send,
{
    fn choose(
        &mut self,
        local: Ipv4Addr,
        remote: SocketAddrV4,
        in_use: &dyn Fn(u16) -> bool,
    ) -> Option<u16> {
        self(local, remote, in_use)
    }
}

/// The default chooser: the next free port of a range, round robin, so a
/// port is reused as late as possible.
#[derive(Debug, Clone)]
pub struct SequentialPorts {
    first: u16,
    last: u16,
    next: u16,
}

impl SequentialPorts {
    /// The IANA ephemeral range 49152..=65535.
    pub const EPHEMERAL: (u16, u16) = (49152, 65535);

    /// Ports `first..=last`, starting at `start` (clamped into the range).
    pub fn new(first: u16, last: u16, start: u16) -> Self {
        let (first, last) = (first.max(1).min(last.max(1)), last.max(first).max(1));
        SequentialPorts {
            first,
            last,
            next: start.clamp(first, last),
        }
    }
}

impl SequentialPorts {
    /// The ephemeral range, from its start.
    pub fn ephemeral() -> Self {
        Self::new(Self::EPHEMERAL.0, Self::EPHEMERAL.1, Self::EPHEMERAL.0)
    }

    /// The next port of the range, round robin, that `accept` takes; `None`
    /// after one full turn without one. Choosers with a steering rule (a
    /// reactor's ports, an RSS queue) walk the range through this.
    pub fn next_matching(&mut self, accept: impl Fn(u16) -> bool) -> Option<u16> {
        let span = u32::from(self.last - self.first) + 1;
        for _ in 0..span {
            let p = self.next;
            self.next = if p >= self.last { self.first } else { p + 1 };
            if accept(p) {
                return Some(p);
            }
        }
        None
    }
}

impl LocalPortChooser for SequentialPorts {
    fn choose(
        &mut self,
        _local: Ipv4Addr,
        _remote: SocketAddrV4,
        in_use: &dyn Fn(u16) -> bool,
    ) -> Option<u16> {
        self.next_matching(|p| !in_use(p))
    }
}

/// How a [`SmolTransport`] is set up.
#[derive(Debug, Clone)]
pub struct SmolConfig {
    /// Our Ethernet address (unicast).
    pub mac: [u8; 6],
    /// Our IPv4 address.
    pub addr: Ipv4Addr,
    /// Prefix length of our subnet.
    pub prefix_len: u8,
    /// Default gateway, if peers are off-link.
    pub gateway: Option<Ipv4Addr>,
    /// Receive buffer per socket, bytes (default 256 KiB).
    pub rx_buffer: usize,
    /// Transmit buffer per socket, bytes (default 256 KiB).
    pub tx_buffer: usize,
    /// Listening sockets kept per listen address (default 16).
    pub listen_backlog: usize,
    /// Most packets taken in per poll before egress runs (default 64).
    pub ingress_batch: usize,
    /// Egress runs at least this often even when idle: retransmits and
    /// keep-alives (default 5 ms).
    pub timer_tick: Duration,
    /// Period of the full scan of streams and closing sockets (default 50 ms).
    pub sweep_interval: Duration,
    /// TCP keep-alive interval (default 5 s).
    pub keep_alive: Option<Duration>,
    /// A connection that hears nothing from its peer this long is dropped
    /// (default 30 s; with keep-alives this only kills dead peers).
    pub timeout: Option<Duration>,
    /// How long a locally closed socket may take to finish its FIN exchange
    /// before it is reset (default 5 s).
    pub close_linger: Duration,
    /// Seed of smoltcp's initial sequence numbers and of the first ephemeral port.
    pub random_seed: u64,
    /// An established stream that has received nothing this long and holds
    /// no data gives its buffers' pages back to the system (checked by the
    /// sweep; default 1 s; `None` keeps them). See [`super::smol_rings`].
    pub discard_idle_after: Option<Duration>,
}

impl SmolConfig {
    /// Defaults for an interface with `addr/prefix_len` and Ethernet address `mac`.
    pub fn new(mac: [u8; 6], addr: Ipv4Addr, prefix_len: u8) -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        SmolConfig {
            mac,
            addr,
            prefix_len,
            gateway: None,
            rx_buffer: 256 * 1024,
            tx_buffer: 256 * 1024,
            listen_backlog: 16,
            ingress_batch: 64,
            timer_tick: Duration::from_millis(5),
            sweep_interval: Duration::from_millis(50),
            keep_alive: Some(Duration::from_secs(5)),
            timeout: Some(Duration::from_secs(30)),
            close_linger: Duration::from_secs(5),
            random_seed: t ^ u64::from(std::process::id()).rotate_left(32),
            discard_idle_after: Some(Duration::from_secs(1)),
        }
    }

    fn validate(&self) -> Result<(), SmolError> {
        let bad = |what, detail: String| Err(SmolError::InvalidConfig { what, detail });
        if self.prefix_len > 32 {
            return bad("prefix_len", format!("{} is more than 32", self.prefix_len));
        }
        if self.mac[0] & 1 != 0 || self.mac == [0; 6] {
            return bad("mac", format!("{:02x?} is not a unicast address", self.mac));
        }
        if self.addr.is_unspecified() || self.addr.is_multicast() || self.addr.is_broadcast() {
            return bad("addr", format!("{} is not a host address", self.addr));
        }
        if self.rx_buffer == 0 || self.tx_buffer == 0 {
            return bad("rx_buffer/tx_buffer", "must not be zero".into());
        }
        if self.listen_backlog == 0 || self.ingress_batch == 0 {
            return bad("listen_backlog/ingress_batch", "must not be zero".into());
        }
        Ok(())
    }
}

/// Counters of one transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmolStats {
    /// Frames smoltcp took in.
    pub rx_frames: u64,
    /// Frames smoltcp sent.
    pub tx_frames: u64,
    /// `poll_egress` calls (each walks every socket).
    pub egress_walks: u64,
    /// Full scans of our streams.
    pub sweeps: u64,
    /// Streams accepted.
    pub accepted: u64,
    /// Outgoing connects completed.
    pub connected: u64,
    /// Listening sockets added to keep the pools full.
    pub listen_refills: u64,
    /// Handshakes dropped: a retransmitted SYN that a second listening socket
    /// took, or a handshake that never completed.
    pub handshakes_dropped: u64,
    /// Socket buffer bytes given back to the system (idle streams, retired
    /// sockets).
    pub ring_bytes_discarded: u64,
    /// The device's transmit buffer shortfalls.
    pub tx_shortfalls: TxShortfalls,
}

impl SmolStats {
    /// The frame counts a [`Transport::frames`] reports.
    pub fn frames(&self) -> FrameCounts {
        FrameCounts {
            rx: self.rx_frames,
            tx: self.tx_frames,
            tx_shortfalls: self.tx_shortfalls,
        }
    }
}

/// Sums counters (of the interfaces of a set).
impl std::ops::Add for SmolStats {
    type Output = SmolStats;
    fn add(self, b: SmolStats) -> SmolStats {
        SmolStats {
            rx_frames: self.rx_frames + b.rx_frames,
            tx_frames: self.tx_frames + b.tx_frames,
            egress_walks: self.egress_walks + b.egress_walks,
            sweeps: self.sweeps + b.sweeps,
            accepted: self.accepted + b.accepted,
            connected: self.connected + b.connected,
            listen_refills: self.listen_refills + b.listen_refills,
            handshakes_dropped: self.handshakes_dropped + b.handshakes_dropped,
            ring_bytes_discarded: self.ring_bytes_discarded + b.ring_bytes_discarded,
            tx_shortfalls: self.tx_shortfalls + b.tx_shortfalls,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Open,
}

#[derive(Debug)]
struct Stream {
    handle: SocketHandle,
    key: FlowKey,
    phase: Phase,
    /// Whether the local port is counted in `ports_in_use` (outgoing streams).
    owns_port: bool,
    /// Queued in `recheck`.
    queued: bool,
    /// Poll generation in which the stream was last reported readable.
    readable_gen: u64,
    /// Poll generation in which its buffers' pages were last given back
    /// (0: never); again only after it has been readable since.
    discarded_gen: u64,
}

#[derive(Debug)]
struct Listener {
    bound: SocketAddr,
    endpoint: IpListenEndpoint,
    /// Sockets in LISTEN.
    listening: Vec<SocketHandle>,
    /// Sockets mid-handshake, with when they left LISTEN.
    embryonic: Vec<(SocketHandle, Instant)>,
}

#[derive(Debug)]
struct Closing {
    handle: SocketHandle,
    deadline: Instant,
    port: Option<u16>,
    aborted: bool,
}

enum Release {
    /// Drop the socket now (it is closed already).
    Drop,
    /// Close gracefully (FIN), then drop.
    Close,
}

/// A [`Transport`] over smoltcp TCP on device `D`.
pub struct SmolTransport<D: SmolDevice> {
    iface: Interface,
    sockets: SocketSet<'static>,
    dev: Observed<D>,
    cfg: SmolConfig,
    epoch: Instant,
    streams: Vec<Option<Stream>>,
    free_ids: Vec<StreamId>,
    flows: HashMap<FlowKey, StreamId>,
    listeners: Vec<Listener>,
    listener_by_port: HashMap<u16, usize>,
    /// Local ports of outgoing streams and closing sockets, with use counts.
    ports_in_use: HashMap<u16, u32>,
    chooser: Box<dyn LocalPortChooser>,
    closing: Vec<Closing>,
    /// Closed sockets kept for reuse (their buffers' pages given back).
    spare: Vec<tcp::Socket<'static>>,
    /// (when, poll generation) of the sweep that opened the current idle
    /// period; `idle_horizon` is the generation of the one before: streams
    /// not readable since then have been quiet at least `discard_idle_after`.
    idle_mark: (Instant, u64),
    idle_horizon: u64,
    /// Events raised outside `poll` (local close), reported by the next poll.
    pending: Vec<StreamEvent>,
    /// Streams to look at on the next poll (read left bytes or saw a FIN).
    recheck: Vec<StreamId>,
    /// Ids of locally closed streams, free once their `Closed` is reported
    /// (so a new stream never takes an id whose `Closed` is still pending).
    free_after_report: Vec<StreamId>,
    egress_due: bool,
    /// A read drained a nearly full receive buffer: advertise the open window
    /// before taking in more segments (see `poll`).
    window_update_due: bool,
    next_tick: Instant,
    next_sweep: Instant,
    gen: u64,
    stats: SmolStats,
}

fn to_smol(d: Duration) -> SDuration {
    SDuration::from(d)
}

/// smoltcp's timestamp for `now`, counted from `epoch`: taken from the
/// caller's clock reading, since smoltcp's own `Instant::now` reads the wall
/// clock again.
pub(super) fn stamp(epoch: Instant, now: Instant) -> SInstant {
    SInstant::from_micros(now.saturating_duration_since(epoch).as_micros() as i64)
}

fn v4(ep: IpAddress) -> Option<Ipv4Addr> {
    #[allow(unreachable_patterns)]
    match ep {
        IpAddress::Ipv4(a) => Some(a),
        _ => None,
    }
}

fn err(kind: io::ErrorKind, msg: &str) -> io::Error {
    io::Error::new(kind, msg.to_owned())
}

impl<D: SmolDevice> SmolTransport<D> {
    /// A transport over `dev` configured by `cfg`.
    pub fn new(dev: D, cfg: SmolConfig) -> Result<Self, SmolError> {
        cfg.validate()?;
        let medium = dev.capabilities().medium;
        if medium != Medium::Ethernet {
            return Err(SmolError::InvalidConfig {
                what: "device",
                detail: format!("medium {medium:?} is not Ethernet"),
            });
        }
        let mut dev = Observed::new(dev);
        let mut icfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(cfg.mac)));
        icfg.random_seed = cfg.random_seed;
        let mut iface = Interface::new(icfg, &mut dev, SInstant::from_micros(0));
        let mut pushed = Ok(());
        iface.update_ip_addrs(|a| {
            pushed = a
                .push(IpCidr::new(cfg.addr.into(), cfg.prefix_len))
                .map_err(|_| ());
        });
        if pushed.is_err() {
            return Err(SmolError::InvalidConfig {
                what: "addr",
                detail: "the interface has no room for an address".into(),
            });
        }
        if let Some(gw) = cfg.gateway {
            iface.routes_mut().add_default_ipv4_route(gw).map_err(|_| {
                SmolError::InvalidConfig {
                    what: "gateway",
                    detail: "route table full".into(),
                }
            })?;
        }
        let span = u64::from(SequentialPorts::EPHEMERAL.1 - SequentialPorts::EPHEMERAL.0);
        let start = SequentialPorts::EPHEMERAL.0 + (cfg.random_seed % span) as u16;
        let now = Instant::now();
        Ok(SmolTransport {
            iface,
            sockets: SocketSet::new(Vec::new()),
            dev,
            epoch: now,
            streams: Vec::new(),
            free_ids: Vec::new(),
            flows: HashMap::new(),
            listeners: Vec::new(),
            listener_by_port: HashMap::new(),
            ports_in_use: HashMap::new(),
            chooser: Box::new(SequentialPorts::new(
                SequentialPorts::EPHEMERAL.0,
                SequentialPorts::EPHEMERAL.1,
                start,
            )),
            closing: Vec::new(),
            spare: Vec::new(),
            idle_mark: (now, 0),
            idle_horizon: 0,
            pending: Vec::new(),
            recheck: Vec::new(),
            free_after_report: Vec::new(),
            egress_due: true,
            window_update_due: false,
            next_tick: now,
            next_sweep: now + cfg.sweep_interval,
            gen: 0,
            stats: SmolStats::default(),
            cfg,
        })
    }

    /// Replaces the local port chooser (see [`LocalPortChooser`]).
    pub fn set_port_chooser(&mut self, chooser: Box<dyn LocalPortChooser>) {
        self.chooser = chooser;
    }

    /// The configuration in use.
    pub fn config(&self) -> &SmolConfig {
        &self.cfg
    }

    /// Our IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.cfg.addr
    }

    /// The device underneath (e.g. for DPDK counters).
    pub fn device(&mut self) -> &mut D {
        &mut self.dev.inner
    }

    /// Counters.
    pub fn stats(&self) -> SmolStats {
        SmolStats {
            tx_frames: self.dev.tx_frames,
            tx_shortfalls: self.dev.inner.tx_buffer_shortfalls(),
            ..self.stats
        }
    }

    /// Sockets in the set: streams, listening pools, handshakes, closing.
    pub fn socket_count(&self) -> usize {
        self.sockets.iter().count()
    }

    /// Runs `send` on `stream`'s socket once it may send; a send error
    /// (the connection can no longer send) is reported as `BrokenPipe` and
    /// the stream rechecked, so its `Closed` event follows.
    fn send_with(
        &mut self,
        stream: StreamId,
        send: impl FnOnce(&mut tcp::Socket<'static>) -> Result<usize, tcp::SendError>,
    ) -> io::Result<usize> {
        let Some(Some(st)) = self.streams.get(stream) else {
            return Err(err(io::ErrorKind::NotConnected, "no such stream"));
        };
        let sock = self.sockets.get_mut::<tcp::Socket>(st.handle);
        if matches!(sock.state(), State::SynSent | State::SynReceived) {
            return Ok(0);
        }
        match send(sock) {
            Ok(n) => {
                if n > 0 {
                    self.egress_due = true;
                }
                Ok(n)
            }
            Err(_) => {
                self.queue_recheck(stream);
                Err(err(
                    io::ErrorKind::BrokenPipe,
                    "the TCP connection can no longer send",
                ))
            }
        }
    }

    /// Open streams.
    pub fn stream_count(&self) -> usize {
        self.flows.len()
    }

    fn stamp(&self, now: Instant) -> SInstant {
        stamp(self.epoch, now)
    }

    fn new_socket(&mut self) -> SocketHandle {
        let s = self.spare.pop().unwrap_or_else(|| {
            let mut s = tcp::Socket::new(
                smol_rings::take(self.cfg.rx_buffer),
                smol_rings::take(self.cfg.tx_buffer),
            );
            s.set_nagle_enabled(false);
            s.set_ack_delay(None);
            s
        });
        let mut s = s;
        s.set_timeout(self.cfg.timeout.map(to_smol));
        s.set_keep_alive(self.cfg.keep_alive.map(to_smol));
        self.sockets.add(s)
    }

    /// Removes a socket from the set without sending anything; keeps it for reuse.
    fn drop_socket(&mut self, handle: SocketHandle) {
        let Socket::Tcp(mut s) = self.sockets.remove(handle);
        if self.spare.len() < 2 * self.cfg.listen_backlog {
            // Out of the set, abort() only resets the state; listen/connect reset the rest.
            s.abort();
            // Closed: the buffers always qualify.
            let n = smol_rings::discard_idle(&mut s).unwrap_or(0);
            self.stats.ring_bytes_discarded += n as u64;
            self.spare.push(s);
        } else {
            retire(s);
        }
    }

    /// Gives back the buffer pages of streams that have received nothing
    /// since the idle horizon and hold no data (from the sweep).
    fn discard_idle(&mut self, now: Instant) {
        let Some(after) = self.cfg.discard_idle_after else {
            return;
        };
        if now.saturating_duration_since(self.idle_mark.0) >= after {
            self.idle_horizon = self.idle_mark.1;
            self.idle_mark = (now, self.gen);
        }
        let horizon = self.idle_horizon;
        let mut given = 0;
        for st in self.streams.iter_mut().flatten() {
            let quiet = st.readable_gen < horizon && st.discarded_gen <= st.readable_gen;
            if st.phase != Phase::Open || !quiet {
                continue;
            }
            let sock = self.sockets.get_mut::<tcp::Socket>(st.handle);
            if let Some(n) = smol_rings::discard_idle(sock) {
                given += n;
                st.discarded_gen = self.gen;
            }
        }
        self.stats.ring_bytes_discarded += given as u64;
    }

    fn alloc_id(&mut self, stream: Stream) -> StreamId {
        match self.free_ids.pop() {
            Some(id) => {
                self.streams[id] = Some(stream);
                id
            }
            None => {
                self.streams.push(Some(stream));
                self.streams.len() - 1
            }
        }
    }

    fn port_used(&mut self, port: u16) {
        *self.ports_in_use.entry(port).or_insert(0) += 1;
    }

    fn port_freed(&mut self, port: u16) {
        if let Some(n) = self.ports_in_use.get_mut(&port) {
            *n -= 1;
            if *n == 0 {
                self.ports_in_use.remove(&port);
            }
        }
    }

    /// Forgets stream `id` and disposes of its socket. The id is free for
    /// reuse at once, or (`free_now` false) after the next poll reports it.
    fn release(&mut self, id: StreamId, how: Release, free_now: bool) {
        let Some(st) = self.streams.get_mut(id).and_then(Option::take) else {
            return;
        };
        if free_now {
            self.free_ids.push(id);
        } else {
            self.free_after_report.push(id);
        }
        if self.flows.get(&st.key) == Some(&id) {
            self.flows.remove(&st.key);
        }
        let port = st.owns_port.then_some(st.key.local_port);
        match how {
            Release::Drop => {
                self.drop_socket(st.handle);
                if let Some(p) = port {
                    self.port_freed(p);
                }
            }
            Release::Close => {
                self.sockets.get_mut::<tcp::Socket>(st.handle).close();
                self.egress_due = true;
                self.closing.push(Closing {
                    handle: st.handle,
                    deadline: Instant::now() + self.cfg.close_linger,
                    port,
                    aborted: false,
                });
            }
        }
    }

    fn queue_recheck(&mut self, id: StreamId) {
        if let Some(Some(st)) = self.streams.get_mut(id) {
            if !st.queued {
                st.queued = true;
                self.recheck.push(id);
            }
        }
    }

    /// Reports what changed on stream `id`: connected, readable, closed.
    fn check_stream(
        &mut self,
        id: StreamId,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) {
        let gen = self.gen;
        let Some(Some(st)) = self.streams.get_mut(id) else {
            return;
        };
        let sock = self.sockets.get::<tcp::Socket>(st.handle);
        let state = sock.state();
        if state == State::Closed {
            let reason = match st.phase {
                Phase::Connecting => "connect failed: refused, reset or timed out",
                Phase::Open => "TCP connection reset or timed out",
            };
            events.push(StreamEvent::Closed {
                stream: id,
                reason: reason.into(),
            });
            self.release(id, Release::Drop, true);
            return;
        }
        if st.phase == Phase::Connecting && !matches!(state, State::SynSent | State::SynReceived) {
            st.phase = Phase::Open;
            self.stats.connected += 1;
            events.push(StreamEvent::Connected(id));
        }
        if st.phase != Phase::Open {
            return;
        }
        if sock.can_recv() {
            if st.readable_gen != gen {
                st.readable_gen = gen;
                readable.push(id);
            }
        } else if !sock.may_recv() {
            // The peer's FIN, and every byte before it has been read.
            events.push(StreamEvent::Closed {
                stream: id,
                reason: "peer closed the TCP connection".into(),
            });
            self.release(id, Release::Close, true);
        }
    }

    /// Moves listener `li`'s sockets along: LISTEN -> handshake -> accepted
    /// stream; refills the pool. Bounded by the pool plus handshakes in flight.
    fn check_listener(
        &mut self,
        li: usize,
        now: Instant,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) {
        let Some(l) = self.listeners.get_mut(li) else {
            return;
        };
        let endpoint = l.endpoint;
        let bound = l.bound;
        let mut listening = std::mem::take(&mut l.listening);
        let mut embryonic = std::mem::take(&mut l.embryonic);

        let mut i = 0;
        while i < listening.len() {
            let h = listening[i];
            let sock = self.sockets.get_mut::<tcp::Socket>(h);
            match sock.state() {
                State::Listen => i += 1,
                State::Closed | State::TimeWait => {
                    let _ = sock.listen(endpoint);
                    i += 1;
                }
                _ => {
                    listening.swap_remove(i);
                    let remote = sock.remote_endpoint();
                    // A retransmitted SYN taken by a second listening socket
                    // duplicates a handshake we already have: drop the copy
                    // silently (before egress, so it never answers).
                    let dup = remote.is_some_and(|r| {
                        let key = v4(r.addr).map(|a| FlowKey {
                            local_port: endpoint.port,
                            remote: SocketAddrV4::new(a, r.port),
                        });
                        key.is_some_and(|k| self.flows.contains_key(&k))
                            || embryonic.iter().any(|(eh, _)| {
                                self.sockets.get::<tcp::Socket>(*eh).remote_endpoint() == Some(r)
                            })
                    });
                    if dup {
                        self.stats.handshakes_dropped += 1;
                        self.drop_socket(h);
                    } else {
                        embryonic.push((h, now));
                    }
                }
            }
        }

        let mut i = 0;
        while i < embryonic.len() {
            let (h, _) = embryonic[i];
            let sock = self.sockets.get::<tcp::Socket>(h);
            match sock.state() {
                State::SynReceived | State::Listen => i += 1,
                State::Closed | State::TimeWait => {
                    embryonic.swap_remove(i);
                    self.stats.handshakes_dropped += 1;
                    self.drop_socket(h);
                }
                _ => {
                    embryonic.swap_remove(i);
                    let key = match (sock.local_endpoint(), sock.remote_endpoint()) {
                        (Some(local), Some(remote)) => v4(remote.addr).map(|a| FlowKey {
                            local_port: local.port,
                            remote: SocketAddrV4::new(a, remote.port),
                        }),
                        _ => None,
                    };
                    let Some(key) = key.filter(|k| !self.flows.contains_key(k)) else {
                        self.stats.handshakes_dropped += 1;
                        self.drop_socket(h);
                        continue;
                    };
                    let id = self.alloc_id(Stream {
                        handle: h,
                        key,
                        phase: Phase::Open,
                        owns_port: false,
                        queued: false,
                        readable_gen: 0,
                        discarded_gen: 0,
                    });
                    self.flows.insert(key, id);
                    self.stats.accepted += 1;
                    events.push(StreamEvent::Accepted {
                        stream: id,
                        local: bound,
                        peer: SocketAddr::V4(key.remote),
                    });
                    self.check_stream(id, events, readable);
                }
            }
        }

        while listening.len() < self.cfg.listen_backlog {
            let h = self.new_socket();
            if self
                .sockets
                .get_mut::<tcp::Socket>(h)
                .listen(endpoint)
                .is_err()
            {
                self.drop_socket(h);
                break;
            }
            self.stats.listen_refills += 1;
            listening.push(h);
        }
        if let Some(l) = self.listeners.get_mut(li) {
            l.listening = listening;
            l.embryonic = embryonic;
        }
    }

    /// What one received frame of flow `key` changed.
    fn on_flow(
        &mut self,
        key: FlowKey,
        now: Instant,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) {
        if let Some(&id) = self.flows.get(&key) {
            self.check_stream(id, events, readable);
        } else if let Some(&li) = self.listener_by_port.get(&key.local_port) {
            self.check_listener(li, now, events, readable);
        }
    }

    /// The periodic O(n) pass: timeouts, stale handshakes, closing sockets.
    fn sweep(&mut self, now: Instant, events: &mut Vec<StreamEvent>, readable: &mut Vec<StreamId>) {
        self.stats.sweeps += 1;
        for id in 0..self.streams.len() {
            self.check_stream(id, events, readable);
        }
        self.discard_idle(now);
        let stale = self.cfg.timeout.unwrap_or(Duration::from_secs(30));
        for li in 0..self.listeners.len() {
            self.check_listener(li, now, events, readable);
            let mut dropped = Vec::new();
            if let Some(l) = self.listeners.get_mut(li) {
                l.embryonic.retain(|&(h, t0)| {
                    let keep = now.saturating_duration_since(t0) < stale;
                    if !keep {
                        dropped.push(h);
                    }
                    keep
                });
            }
            for h in dropped {
                self.stats.handshakes_dropped += 1;
                self.drop_socket(h);
            }
        }
        let mut i = 0;
        while i < self.closing.len() {
            let c = &mut self.closing[i];
            let state = self.sockets.get_mut::<tcp::Socket>(c.handle).state();
            let done = matches!(state, State::Closed | State::TimeWait) || c.aborted;
            if done {
                let c = self.closing.swap_remove(i);
                self.drop_socket(c.handle);
                if let Some(p) = c.port {
                    self.port_freed(p);
                }
                continue;
            }
            if now >= c.deadline {
                // The peer never finished the close: reset (the RST goes out
                // on the next egress), drop on the next sweep.
                self.sockets.get_mut::<tcp::Socket>(c.handle).abort();
                c.aborted = true;
                self.egress_due = true;
            }
            i += 1;
        }
    }

    /// Runs egress until nothing more goes out; true if anything did.
    fn egress(&mut self, now: Instant, ts: SInstant) -> bool {
        self.egress_due = false;
        self.window_update_due = false;
        self.next_tick = now + self.cfg.timer_tick;
        let mut sent = false;
        loop {
            self.stats.egress_walks += 1;
            match self.iface.poll_egress(ts, &mut self.dev, &mut self.sockets) {
                PollResult::SocketStateChanged => sent = true,
                PollResult::None => return sent,
            }
        }
    }

    /// When an idle stack (a timer tick found nothing to send) must run
    /// egress next: at smoltcp's earliest socket timer (retransmit, delayed
    /// ACK, keep-alive, close), no sooner than a tick and no later than
    /// [`IDLE_TICK_MAX`]. New traffic, writes, connects and closes set
    /// `egress_due` or bring frames, which run egress at once anyway. Without
    /// this, every interface walked all its sockets every tick: with 10,000
    /// idle sessions smoltcp's socket walks were 25-30% of a DPDK reactor's
    /// profile.
    fn next_timer(&mut self, now: Instant, ts: SInstant) -> Instant {
        let wait = match self.iface.poll_at(ts, &self.sockets) {
            Some(at) if at > ts => Duration::from_micros((at - ts).total_micros()),
            Some(_) => Duration::ZERO,
            None => IDLE_TICK_MAX,
        };
        now + wait.clamp(self.cfg.timer_tick, IDLE_TICK_MAX)
    }

    fn in_use(&self, port: u16, remote: SocketAddrV4) -> bool {
        port == 0
            || self.ports_in_use.contains_key(&port)
            || self.listener_by_port.contains_key(&port)
            || self.flows.contains_key(&FlowKey {
                local_port: port,
                remote,
            })
    }
}

impl<D: SmolDevice> Transport for SmolTransport<D> {
    fn name(&self) -> &'static str {
        D::NAME
    }

    fn listen(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let SocketAddr::V4(a) = addr else {
            return Err(err(
                io::ErrorKind::Unsupported,
                "smoltcp transport: IPv4 only",
            ));
        };
        if !a.ip().is_unspecified() && *a.ip() != self.cfg.addr {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "{} is not this interface's address {}",
                    a.ip(),
                    self.cfg.addr
                ),
            ));
        }
        let port = if a.port() == 0 {
            let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
            let taken = |p: u16| self.in_use(p, any);
            let mut seq = SequentialPorts::new(
                SequentialPorts::EPHEMERAL.0,
                SequentialPorts::EPHEMERAL.1,
                SequentialPorts::EPHEMERAL.0
                    + (self.cfg.random_seed % 16000) as u16
                    + self.listeners.len() as u16,
            );
            seq.choose(self.cfg.addr, any, &taken)
                .ok_or_else(|| err(io::ErrorKind::AddrNotAvailable, "no free port to listen on"))?
        } else {
            a.port()
        };
        if self.listener_by_port.contains_key(&port) || self.ports_in_use.contains_key(&port) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("port {port} is in use"),
            ));
        }
        let endpoint = IpListenEndpoint {
            addr: (!a.ip().is_unspecified()).then(|| IpAddress::Ipv4(*a.ip())),
            port,
        };
        let bound = SocketAddr::V4(SocketAddrV4::new(*a.ip(), port));
        let li = self.listeners.len();
        self.listeners.push(Listener {
            bound,
            endpoint,
            listening: Vec::new(),
            embryonic: Vec::new(),
        });
        self.listener_by_port.insert(port, li);
        let (mut ev, mut rd) = (Vec::new(), Vec::new());
        self.check_listener(li, Instant::now(), &mut ev, &mut rd);
        Ok(bound)
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<StreamId> {
        let SocketAddr::V4(remote) = addr else {
            return Err(err(
                io::ErrorKind::Unsupported,
                "smoltcp transport: IPv4 only",
            ));
        };
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot connect to {remote}"),
            ));
        }
        let local = self.cfg.addr;
        let mut chooser =
            std::mem::replace(&mut self.chooser, Box::new(SequentialPorts::new(1, 1, 1)));
        let port = chooser.choose(local, remote, &|p| self.in_use(p, remote));
        self.chooser = chooser;
        let port = port.ok_or_else(|| {
            err(
                io::ErrorKind::AddrNotAvailable,
                "no free local port for a connection",
            )
        })?;
        if self.in_use(port, remote) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("the port chooser returned port {port}, which is in use"),
            ));
        }
        let h = self.new_socket();
        let cx = self.iface.context();
        if let Err(e) = self.sockets.get_mut::<tcp::Socket>(h).connect(
            cx,
            (IpAddress::Ipv4(*remote.ip()), remote.port()),
            port,
        ) {
            self.drop_socket(h);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("connect to {remote}: {e}"),
            ));
        }
        let key = FlowKey {
            local_port: port,
            remote,
        };
        let id = self.alloc_id(Stream {
            handle: h,
            key,
            phase: Phase::Connecting,
            owns_port: true,
            queued: false,
            readable_gen: 0,
            discarded_gen: 0,
        });
        self.flows.insert(key, id);
        self.port_used(port);
        self.egress_due = true;
        Ok(id)
    }

    fn poll(
        &mut self,
        now: Instant,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) -> bool {
        self.gen += 1;
        let (ev0, rd0) = (events.len(), readable.len());
        events.append(&mut self.pending);
        self.free_ids.append(&mut self.free_after_report);
        let mut recheck = std::mem::take(&mut self.recheck);
        for id in recheck.drain(..) {
            if let Some(Some(st)) = self.streams.get_mut(id) {
                st.queued = false;
            }
            self.check_stream(id, events, readable);
        }
        if self.recheck.is_empty() {
            self.recheck = recheck;
        }

        let ts = self.stamp(now);
        let mut sent = false;
        if self.window_update_due {
            // smoltcp judges a segment against the window it last advertised.
            // After a read emptied a (nearly) full buffer, tell the peer first:
            // otherwise segments already on their way are dropped against the
            // stale zero window, and a smoltcp peer's window-probe byte is
            // then lost until its retransmit timeout (1 s).
            sent |= self.egress(now, ts);
        }
        let mut frames = 0usize;
        while frames < self.cfg.ingress_batch {
            match self
                .iface
                .poll_ingress_single(ts, &mut self.dev, &mut self.sockets)
            {
                PollIngressSingleResult::None => break,
                _ => {
                    frames += 1;
                    if let Some(key) = self.dev.last.take() {
                        self.on_flow(key, now, events, readable);
                    }
                }
            }
        }
        self.stats.rx_frames += frames as u64;

        let tick_only = frames == 0 && !self.egress_due && now >= self.next_tick;
        if frames > 0 || self.egress_due || now >= self.next_tick {
            let sent_now = self.egress(now, ts);
            sent |= sent_now;
            if tick_only && !sent_now {
                self.next_tick = self.next_timer(now, ts);
            }
        }
        self.dev.inner.after_poll();

        if now >= self.next_sweep {
            self.next_sweep = now + self.cfg.sweep_interval;
            self.sweep(now, events, readable);
        }
        frames > 0 || sent || events.len() > ev0 || readable.len() > rd0
    }

    fn read(
        &mut self,
        stream: StreamId,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize> {
        let Some(Some(st)) = self.streams.get(stream) else {
            return Ok(0);
        };
        let sock = self.sockets.get_mut::<tcp::Socket>(st.handle);
        let nearly_full = sock.recv_queue() * 2 >= sock.recv_capacity();
        let mut total = 0;
        loop {
            let r = sock.recv(|buf| {
                if buf.is_empty() {
                    return (0, (0, false));
                }
                let n = consume(buf).min(buf.len());
                (n, (n, n == buf.len()))
            });
            match r {
                Ok((n, all)) => {
                    total += n;
                    if n == 0 || !all {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        // Bytes left over, or the peer's FIN now reachable: look again next poll.
        let again = sock.can_recv() || !sock.may_recv();
        if total > 0 {
            self.egress_due = true; // window update
            self.window_update_due |= nearly_full;
        }
        if again {
            self.queue_recheck(stream);
        }
        Ok(total)
    }

    fn write(&mut self, stream: StreamId, data: &[u8]) -> io::Result<usize> {
        self.send_with(stream, |sock| sock.send_slice(data))
    }

    fn writes_in_place(&self) -> bool {
        true
    }

    fn write_into(
        &mut self,
        stream: StreamId,
        fill: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> io::Result<usize> {
        self.send_with(stream, |sock| {
            sock.send(|window| {
                let n = fill(window).min(window.len());
                (n, n)
            })
        })
    }

    fn close(&mut self, stream: StreamId) {
        if self.streams.get(stream).is_some_and(Option::is_some) {
            self.release(stream, Release::Close, false);
            self.pending.push(StreamEvent::Closed {
                stream,
                reason: "closed locally".into(),
            });
        }
    }

    fn frames(&self) -> Option<FrameCounts> {
        Some(self.stats().frames())
    }

    fn describe(&mut self, stream: StreamId) -> Option<String> {
        let frames = self.stats().frames();
        let st = self.streams.get(stream)?.as_ref()?;
        // `get`, not `get_mut`: looking must not wake a socket egress skips.
        let sock = self.sockets.get::<tcp::Socket>(st.handle);
        Some(format!(
            "smoltcp {}: {} of {} bytes received and unread, {} of {} queued to send \
             (may receive {}, may send {}), {} frames in, {} out on this interface",
            sock.state(),
            sock.recv_queue(),
            sock.recv_capacity(),
            sock.send_queue(),
            sock.send_capacity(),
            sock.may_recv(),
            sock.may_send(),
            frames.rx,
            frames.tx,
        ))
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if D::BUSY_POLL {
            return self.dev.inner.wait(Duration::ZERO);
        }
        if !self.pending.is_empty() || !self.recheck.is_empty() || self.egress_due {
            return Ok(());
        }
        let now = Instant::now();
        let ts = self.stamp(now);
        let mut d = timeout.min(self.next_sweep.saturating_duration_since(now));
        if let Some(delay) = self.iface.poll_delay(ts, &self.sockets) {
            d = d.min(delay.into());
        }
        self.dev.inner.wait(d)?;
        // Timers may be due now.
        self.egress_due = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// Returns a socket's buffers to the process-wide pool.
fn retire(sock: tcp::Socket<'static>) {
    let (rx, tx) = sock.into_buffers();
    smol_rings::give_back(rx);
    smol_rings::give_back(tx);
}

impl<D: SmolDevice> Drop for SmolTransport<D> {
    /// Every socket's buffers go back to the pool for the next transport.
    fn drop(&mut self) {
        let handles: Vec<SocketHandle> = self.sockets.iter().map(|(h, _)| h).collect();
        for h in handles {
            let Socket::Tcp(s) = self.sockets.remove(h);
            retire(s);
        }
        self.spare.drain(..).for_each(retire);
    }
}
