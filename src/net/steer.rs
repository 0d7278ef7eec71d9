//! Software flow steering for a device with one queue (TAP, a one-queue
//! vdev) shared by several reactors (design: "Flow steering across cores").
//!
//! Reactor 0 owns the device queue and runs a [`Switch`] around it: every
//! received TCP frame goes to the reactor that owns its flow, and everything
//! else (ARP above all) goes to every reactor, so each smoltcp stack learns
//! its neighbours. The other reactors run a [`SteeredPort`]: frames arrive
//! and leave through channels; the switch transmits their frames on the
//! device. All reactors share the device's MAC and IP address.
//!
//! A flow's owner is decided by our local port ([`SteerTable`]): a listening
//! endpoint's port belongs to the reactor serving it, and any other port `p`
//! to reactor `p % reactors`. Outgoing connections pick their local port with
//! [`SteeredPorts`], so replies come back to the dialing reactor: the
//! software counterpart of choosing a port whose RSS hash maps to the
//! dialing core's queue.
//!
//! The switch copies each received frame once (the fallback path for
//! devices without RSS); queues toward reactors are bounded, and a frame that
//! does not fit is dropped, which TCP recovers from.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Select, Sender};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant as SInstant;

use super::smol::flow::inbound_flow;
use super::smol::{LocalPortChooser, SequentialPorts, SmolDevice};
use super::transport::TxShortfalls;

/// One Ethernet frame.
pub type Frame = Vec<u8>;

/// Most frames queued toward one reactor (or from all of them to the switch).
const QUEUE_FRAMES: usize = 8192;
/// Longest the switch's reactor sleeps in the device while other reactors
/// may have frames for it to send.
const SWITCH_MAX_SLEEP: Duration = Duration::from_millis(1);

/// Which reactor owns a TCP flow, from our local port.
#[derive(Debug, Clone)]
pub struct SteerTable {
    reactors: usize,
    listeners: Arc<HashMap<u16, usize>>,
}

impl SteerTable {
    /// A table for `reactors` reactors, with listening ports and their reactor.
    pub fn new(reactors: usize, listeners: impl IntoIterator<Item = (u16, usize)>) -> Self {
        SteerTable {
            reactors: reactors.max(1),
            listeners: Arc::new(listeners.into_iter().collect()),
        }
    }

    /// Number of reactors.
    pub fn reactors(&self) -> usize {
        self.reactors
    }

    /// The reactor owning flows on our `local_port`.
    pub fn owner(&self, local_port: u16) -> usize {
        match self.listeners.get(&local_port) {
            Some(r) => *r,
            None => usize::from(local_port) % self.reactors,
        }
    }
}

/// Picks ephemeral ports that [`SteerTable`] maps back to `reactor`.
#[derive(Debug)]
pub struct SteeredPorts {
    reactor: usize,
    table: SteerTable,
    ports: SequentialPorts,
}

impl SteeredPorts {
    /// Ports owned by `reactor`.
    pub fn new(reactor: usize, table: SteerTable) -> Self {
        SteeredPorts {
            reactor,
            table,
            ports: SequentialPorts::ephemeral(),
        }
    }
}

impl LocalPortChooser for SteeredPorts {
    fn choose(
        &mut self,
        _local: Ipv4Addr,
        _remote: SocketAddrV4,
        in_use: &dyn Fn(u16) -> bool,
    ) -> Option<u16> {
        let (table, reactor) = (&self.table, self.reactor);
        self.ports
            .next_matching(|p| table.owner(p) == reactor && !in_use(p))
    }
}

/// A received frame owned by the token.
pub struct OwnedRx(Frame);

impl OwnedRx {
    /// A token owning `frame`.
    pub fn new(frame: Frame) -> Self {
        OwnedRx(frame)
    }
}

impl RxToken for OwnedRx {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

/// The channels of reactor 0's switch, made before the reactors start.
pub struct SwitchLinks {
    table: SteerTable,
    to: Vec<Sender<Frame>>,
    from: Receiver<Frame>,
    caps: Vec<Sender<DeviceCapabilities>>,
}

/// The channels of one other reactor's port.
pub struct PortLinks {
    rx: Receiver<Frame>,
    tx: Sender<Frame>,
    caps: Receiver<DeviceCapabilities>,
}

/// Makes the links for `table.reactors()` reactors: the switch's (reactor 0)
/// and one port's for each other reactor (index 0 is reactor 1).
pub fn links(table: SteerTable) -> (SwitchLinks, Vec<PortLinks>) {
    let (tx_up, rx_up) = channel::bounded(QUEUE_FRAMES);
    let mut to = Vec::new();
    let mut caps = Vec::new();
    let mut ports = Vec::new();
    for _ in 1..table.reactors() {
        let (t, r) = channel::bounded(QUEUE_FRAMES);
        let (ct, cr) = channel::bounded(1);
        to.push(t);
        caps.push(ct);
        ports.push(PortLinks {
            rx: r,
            tx: tx_up.clone(),
            caps: cr,
        });
    }
    (
        SwitchLinks {
            table,
            to,
            from: rx_up,
            caps,
        },
        ports,
    )
}

/// Reactor 0's device: the real device `D` plus the switch.
pub struct Switch<D> {
    inner: D,
    table: SteerTable,
    /// Toward reactor r is `to[r - 1]`.
    to: Vec<Sender<Frame>>,
    from: Receiver<Frame>,
    local: VecDeque<Frame>,
    pending_tx: VecDeque<Frame>,
    medium: Medium,
    /// Frames dropped because a reactor's queue was full.
    pub dropped: u64,
}

impl<D: Device> Switch<D> {
    /// Wraps `inner` and tells the other reactors its capabilities.
    pub fn new(inner: D, links: SwitchLinks) -> Self {
        let caps = inner.capabilities();
        for c in &links.caps {
            let _ = c.send(caps.clone());
        }
        Switch {
            medium: caps.medium,
            inner,
            table: links.table,
            to: links.to,
            from: links.from,
            local: VecDeque::new(),
            pending_tx: VecDeque::new(),
            dropped: 0,
        }
    }

    fn send_to(&mut self, reactor: usize, frame: Frame) {
        let sent = reactor
            .checked_sub(1)
            .and_then(|i| self.to.get(i))
            .is_some_and(|t| t.try_send(frame).is_ok());
        if !sent {
            self.dropped += 1;
        }
    }

    /// Sends the other reactors' frames on the device.
    fn forward_tx(&mut self, ts: SInstant) {
        while let Some(frame) = self
            .pending_tx
            .pop_front()
            .or_else(|| self.from.try_recv().ok())
        {
            match self.inner.transmit(ts) {
                Some(tok) => tok.consume(frame.len(), |buf| buf.copy_from_slice(&frame)),
                None => {
                    self.pending_tx.push_front(frame);
                    return;
                }
            }
        }
    }

    /// Moves received frames to their reactors until one is ours.
    fn pull(&mut self, ts: SInstant) {
        while self.local.is_empty() {
            let Some((rx, _)) = self.inner.receive(ts) else {
                return;
            };
            let frame: Frame = rx.consume(|b| b.to_vec());
            match inbound_flow(&frame, self.medium) {
                Some(flow) => match self.table.owner(flow.local_port) {
                    0 => self.local.push_back(frame),
                    r => self.send_to(r, frame),
                },
                None => {
                    // ARP and the rest: every reactor's stack needs to see them.
                    for r in 1..self.table.reactors() {
                        self.send_to(r, frame.clone());
                    }
                    self.local.push_back(frame);
                }
            }
        }
    }
}

impl<D: Device> Device for Switch<D> {
    type RxToken<'a>
        = OwnedRx
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, ts: SInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.forward_tx(ts);
        self.pull(ts);
        let frame = self.local.pop_front()?;
        let Some(tx) = self.inner.transmit(ts) else {
            self.local.push_front(frame);
            return None;
        };
        Some((OwnedRx(frame), tx))
    }

    fn transmit(&mut self, ts: SInstant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(ts)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

impl<D: SmolDevice> SmolDevice for Switch<D> {
    const NAME: &'static str = D::NAME;
    const BUSY_POLL: bool = D::BUSY_POLL;

    fn after_poll(&mut self) {
        self.forward_tx(SInstant::now());
        self.inner.after_poll();
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if !self.from.is_empty() || !self.local.is_empty() || !self.pending_tx.is_empty() {
            return Ok(());
        }
        self.inner.wait(timeout.min(SWITCH_MAX_SLEEP))
    }

    fn tx_buffer_shortfalls(&self) -> TxShortfalls {
        self.inner.tx_buffer_shortfalls()
    }
}

/// Another reactor's device: frames in from the switch, out to it.
pub struct SteeredPort {
    rx: Receiver<Frame>,
    tx: Sender<Frame>,
    caps: DeviceCapabilities,
}

impl PortLinks {
    /// Waits for the switch's device capabilities and makes the port.
    pub fn into_port(self, timeout: Duration) -> io::Result<SteeredPort> {
        let caps = self.caps.recv_timeout(timeout).map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the reactor owning the device did not start",
            )
        })?;
        Ok(SteeredPort {
            rx: self.rx,
            tx: self.tx,
            caps,
        })
    }
}

/// A frame to hand to the switch.
pub struct ChannelTx<'a> {
    tx: &'a Sender<Frame>,
}

impl TxToken for ChannelTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        // A full queue drops the frame; TCP retransmits it.
        let _ = self.tx.try_send(frame);
        r
    }
}

impl Device for SteeredPort {
    type RxToken<'a>
        = OwnedRx
    where
        Self: 'a;
    type TxToken<'a>
        = ChannelTx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _ts: SInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.rx.try_recv().ok()?;
        Some((OwnedRx(frame), ChannelTx { tx: &self.tx }))
    }

    fn transmit(&mut self, _ts: SInstant) -> Option<Self::TxToken<'_>> {
        Some(ChannelTx { tx: &self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

impl SmolDevice for SteeredPort {
    const NAME: &'static str = "steered";
    const BUSY_POLL: bool = false;

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        let mut sel = Select::new();
        sel.recv(&self.rx);
        let _ = sel.ready_timeout(timeout);
        Ok(())
    }
}

/// Either side of steering, so every reactor runs one transport type.
pub enum Steered<D> {
    /// Reactor 0: the device and the switch.
    Switch(Switch<D>),
    /// Any other reactor.
    Port(SteeredPort),
}

/// The transmit token of [`Steered`].
pub enum SteeredTx<'a, T> {
    /// Straight to the device (reactor 0).
    Device(T),
    /// Through the switch (other reactors).
    Channel(ChannelTx<'a>),
}

impl<T: TxToken> TxToken for SteeredTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        match self {
            SteeredTx::Device(t) => t.consume(len, f),
            SteeredTx::Channel(t) => t.consume(len, f),
        }
    }
}

impl<D: Device> Device for Steered<D> {
    type RxToken<'a>
        = OwnedRx
    where
        Self: 'a;
    type TxToken<'a>
        = SteeredTx<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, ts: SInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        match self {
            Steered::Switch(s) => s.receive(ts).map(|(rx, tx)| (rx, SteeredTx::Device(tx))),
            Steered::Port(p) => p.receive(ts).map(|(rx, tx)| (rx, SteeredTx::Channel(tx))),
        }
    }

    fn transmit(&mut self, ts: SInstant) -> Option<Self::TxToken<'_>> {
        match self {
            Steered::Switch(s) => s.transmit(ts).map(SteeredTx::Device),
            Steered::Port(p) => p.transmit(ts).map(SteeredTx::Channel),
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        match self {
            Steered::Switch(s) => s.capabilities(),
            Steered::Port(p) => p.capabilities(),
        }
    }
}

impl<D: SmolDevice> SmolDevice for Steered<D> {
    const NAME: &'static str = D::NAME;
    // Reactors on a port sleep on their channel; the switch side busy-polls
    // if its device does (its wait returns at once).
    const BUSY_POLL: bool = false;

    fn after_poll(&mut self) {
        if let Steered::Switch(s) = self {
            s.after_poll();
        }
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        match self {
            Steered::Switch(s) => s.wait(timeout),
            Steered::Port(p) => p.wait(timeout),
        }
    }

    fn tx_buffer_shortfalls(&self) -> TxShortfalls {
        match self {
            Steered::Switch(s) => s.tx_buffer_shortfalls(),
            Steered::Port(_) => TxShortfalls::default(),
        }
    }
}

/// What one reactor needs to join steering.
pub enum Links {
    /// Reactor 0: owns the device.
    Switch(SwitchLinks),
    /// Another reactor.
    Port(PortLinks),
}

/// The links of every reactor, in reactor order.
pub fn all_links(table: SteerTable) -> Vec<Links> {
    let (sw, ports) = links(table);
    std::iter::once(Links::Switch(sw))
        .chain(ports.into_iter().map(Links::Port))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_keep_their_reactor_and_chosen_ports_come_back() {
        let table = SteerTable::new(3, [(6800, 2), (6801, 0)]);
        assert_eq!(table.owner(6800), 2);
        assert_eq!(table.owner(6801), 0);
        for r in 0..3 {
            let mut ports = SteeredPorts::new(r, table.clone());
            let remote = SocketAddrV4::new(Ipv4Addr::new(169, 254, 1, 1), 6800);
            for _ in 0..50 {
                let p = ports
                    .choose(Ipv4Addr::UNSPECIFIED, remote, &|_| false)
                    .expect("a port");
                assert_eq!(table.owner(p), r, "port {p} would steer elsewhere");
                assert!(p >= SequentialPorts::EPHEMERAL.0);
            }
        }
        // Ports in use are skipped, and a full range says so.
        let mut ports = SteeredPorts::new(1, table.clone());
        let remote = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        assert_eq!(ports.choose(Ipv4Addr::UNSPECIFIED, remote, &|_| true), None);
    }

    /// A loopback-like device: what is transmitted is received.
    struct Wire {
        frames: VecDeque<Frame>,
    }

    struct WireTx<'a>(&'a mut VecDeque<Frame>);

    impl TxToken for WireTx<'_> {
        fn consume<R, F>(self, len: usize, f: F) -> R
        where
            F: FnOnce(&mut [u8]) -> R,
        {
            let mut v = vec![0u8; len];
            let r = f(&mut v);
            self.0.push_back(v);
            r
        }
    }

    impl Device for Wire {
        type RxToken<'a> = OwnedRx;
        type TxToken<'a> = WireTx<'a>;
        fn receive(&mut self, _: SInstant) -> Option<(OwnedRx, WireTx<'_>)> {
            let f = self.frames.pop_front()?;
            Some((OwnedRx(f), WireTx(&mut self.frames)))
        }
        fn transmit(&mut self, _: SInstant) -> Option<WireTx<'_>> {
            Some(WireTx(&mut self.frames))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut c = DeviceCapabilities::default();
            c.medium = Medium::Ethernet;
            c.max_transmission_unit = 1514;
            c
        }
    }

    impl SmolDevice for Wire {
        const NAME: &'static str = "wire";
        const BUSY_POLL: bool = true;
        fn wait(&mut self, _: Duration) -> io::Result<()> {
            Ok(())
        }
    }

    /// An Ethernet/IPv4/TCP frame to our `local_port`.
    fn tcp_frame(local_port: u16) -> Frame {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[14 + 12..14 + 16].copy_from_slice(&[169, 254, 1, 1]);
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&local_port.to_be_bytes());
        f
    }

    #[test]
    fn frames_reach_their_owner_and_arp_reaches_everyone() {
        let table = SteerTable::new(2, [(6800, 0), (6801, 1)]);
        let (sl, mut ports) = links(table);
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let wire = Wire {
            frames: VecDeque::from([tcp_frame(6801), tcp_frame(6800), arp.clone()]),
        };
        let mut sw = Switch::new(wire, sl);
        let mut port = ports
            .remove(0)
            .into_port(Duration::from_secs(1))
            .expect("caps");
        let now = SInstant::from_millis(0);
        // Reactor 0 gets its flow and the ARP frame; reactor 1 its flow and the ARP copy.
        let (rx, _) = sw.receive(now).expect("frame for reactor 0");
        assert_eq!(rx.consume(|b| b.to_vec()), tcp_frame(6800));
        let (rx, _) = sw.receive(now).expect("ARP for reactor 0");
        assert_eq!(rx.consume(|b| b.to_vec()), arp);
        let (rx, _) = port.receive(now).expect("frame for reactor 1");
        assert_eq!(rx.consume(|b| b.to_vec()), tcp_frame(6801));
        let (rx, _) = port.receive(now).expect("ARP copy for reactor 1");
        assert_eq!(rx.consume(|b| b.to_vec()), arp);
        // Reactor 1's transmit goes out on the device through the switch.
        port.transmit(now)
            .expect("token")
            .consume(4, |b| b.copy_from_slice(b"ping"));
        sw.after_poll();
        assert_eq!(
            sw.inner.frames.back().map(Vec::as_slice),
            Some(&b"ping"[..])
        );
        assert_eq!(sw.dropped, 0);
    }
}
