//! A set of smoltcp interfaces over one device in one reactor, which spreads
//! its sockets over them so the per-packet work follows the sockets of one
//! member interface, not all of them (issue: "Connection scaling ... needs a design that keeps
//! per-packet work independent of the session count").
//!
//! smoltcp 0.14 walks every socket of an interface on egress and when it
//! looks up the socket of an incoming segment. [`SmolSet`] splits
//! the sockets over `k` interfaces sharing the device's MAC and IP address,
//! routes each received frame to the member owning its flow, and polls only
//! the members that have work (plus all of them on the timer tick):
//!
//! - a segment to a listening port goes to member `hash(peer) % k`; every
//!   member listens (with a small backlog) on every listening port;
//! - a connection we dial from member `s` uses a local port `p` with
//!   `(p / reactors) % k == s` (and `p % reactors` = this reactor under
//!   software steering), so its segments come back to `s`;
//! - ARP replies (and anything else not TCP) go to every member, so each
//!   learns its neighbours; ARP requests go to member 0 alone, which answers.

use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant as SInstant;

use super::smol::flow::inbound_flow;
use super::smol::{
    stamp, LocalPortChooser, SequentialPorts, SmolConfig, SmolDevice, SmolError, SmolStats,
    SmolTransport,
};
use super::steer::Frame;
use super::transport::{FrameCounts, StreamEvent, StreamId, Transport};

/// Frames taken from the device per poll before the members run.
const INGRESS_BATCH: usize = 256;
/// Every member is polled at least this often (smoltcp's timers).
const TIMER_TICK: Duration = Duration::from_millis(5);

/// Frames between the device and the members, on the reactor's thread.
#[derive(Default)]
struct Queues {
    rx: Vec<VecDeque<Frame>>,
    tx: VecDeque<Frame>,
    /// Frame buffers to reuse: a frame crosses the set in one of these
    /// instead of a fresh allocation per frame each way.
    free: Vec<Frame>,
}

/// Most frame buffers kept for reuse.
const FREE_FRAMES: usize = 512;

impl Queues {
    fn take_buf(&mut self) -> Frame {
        let mut b = self.free.pop().unwrap_or_default();
        b.clear();
        b
    }

    fn give_back(&mut self, frame: Frame) {
        if self.free.len() < FREE_FRAMES {
            self.free.push(frame);
        }
    }
}

/// One member's device: frames from the router, frames out to the device.
pub struct MemberDevice {
    index: usize,
    queues: Rc<RefCell<Queues>>,
    caps: DeviceCapabilities,
}

/// A frame a member sends.
pub struct MemberTx {
    queues: Rc<RefCell<Queues>>,
}

impl TxToken for MemberTx {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut frame = self.queues.borrow_mut().take_buf();
        frame.resize(len, 0);
        let r = f(&mut frame);
        self.queues.borrow_mut().tx.push_back(frame);
        r
    }
}

/// A frame a member receives; its buffer goes back for reuse.
pub struct MemberRx {
    frame: Frame,
    queues: Rc<RefCell<Queues>>,
}

impl RxToken for MemberRx {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.frame);
        self.queues.borrow_mut().give_back(self.frame);
        r
    }
}

impl Device for MemberDevice {
    type RxToken<'a>
        = MemberRx
    where
        Self: 'a;
    type TxToken<'a>
        = MemberTx
    where
        Self: 'a;

    fn receive(&mut self, _ts: SInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self
            .queues
            .borrow_mut()
            .rx
            .get_mut(self.index)?
            .pop_front()?;
        Some((
            MemberRx {
                frame,
                queues: Rc::clone(&self.queues),
            },
            MemberTx {
                queues: Rc::clone(&self.queues),
            },
        ))
    }

    fn transmit(&mut self, _ts: SInstant) -> Option<Self::TxToken<'_>> {
        Some(MemberTx {
            queues: Rc::clone(&self.queues),
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

impl SmolDevice for MemberDevice {
    const NAME: &'static str = "member";
    // The set sleeps on the real device; a member never does.
    const BUSY_POLL: bool = true;

    fn wait(&mut self, _timeout: Duration) -> io::Result<()> {
        Ok(())
    }
}

/// Dials from ports that route back to one member (and, under software
/// steering, to this reactor).
struct MemberPorts {
    member: usize,
    members: usize,
    /// (reactors, this reactor): port `p` belongs to reactor `p % reactors`
    /// and to member `(p / reactors) % members`, so the two do not collide.
    steering: (usize, usize),
    listening: Arc<Mutex<HashSet<u16>>>,
    ports: SequentialPorts,
}

impl LocalPortChooser for MemberPorts {
    fn choose(
        &mut self,
        _local: Ipv4Addr,
        _remote: SocketAddrV4,
        in_use: &dyn Fn(u16) -> bool,
    ) -> Option<u16> {
        let listening = self.listening.lock().ok()?;
        let (member, members, (reactors, reactor)) = (self.member, self.members, self.steering);
        self.ports.next_matching(|p| {
            let p_ = usize::from(p);
            p_ % reactors == reactor
                && (p_ / reactors) % members == member
                && !listening.contains(&p)
                && !in_use(p)
        })
    }
}

/// Members with work: a flag each and the list of those set, so a busy-polling
/// pass costs the members with work, not all of them (with 256 members, the
/// set's poll, flag scan included, was 27% of a DPDK reactor's profile).
struct DirtyMembers {
    flag: Vec<bool>,
    list: Vec<usize>,
}

impl DirtyMembers {
    /// Every one of `n` members has work.
    fn all(n: usize) -> Self {
        DirtyMembers {
            flag: vec![true; n],
            list: (0..n).collect(),
        }
    }

    fn mark(&mut self, s: usize) {
        if let Some(f) = self.flag.get_mut(s) {
            if !*f {
                *f = true;
                self.list.push(s);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The members with work, in `into` (cleared first); none is left.
    fn take(&mut self, mut into: Vec<usize>) -> Vec<usize> {
        into.clear();
        std::mem::swap(&mut into, &mut self.list);
        for &s in &into {
            self.flag[s] = false;
        }
        into
    }
}

/// A smoltcp transport split into members over one device `D`.
pub struct SmolSet<D: SmolDevice> {
    dev: D,
    members: Vec<SmolTransport<MemberDevice>>,
    queues: Rc<RefCell<Queues>>,
    listening: Arc<Mutex<HashSet<u16>>>,
    /// Reactors sharing the device (software steering); 1 without.
    reactors: usize,
    medium: Medium,
    /// Global stream id → (member, the member's stream id).
    streams: Vec<Option<(usize, StreamId)>>,
    /// Per member: its stream id → global id.
    globals: Vec<FxHashMap<StreamId, StreamId>>,
    free: Vec<StreamId>,
    /// Members with work, listed so a pass visits only them.
    dirty: DirtyMembers,
    /// The list a pass walked, kept for its allocation.
    spare_due: Vec<usize>,
    next_dial: usize,
    last_tick: Instant,
    /// Where the devices' timestamps count from.
    epoch: Instant,
    events: Vec<StreamEvent>,
    readable: Vec<StreamId>,
}

impl<D: SmolDevice> SmolSet<D> {
    /// `members` interfaces over `dev`, each set up from `cfg` (the listen
    /// backlog is per member, so keep it small). Under software steering
    /// ([`super::steer`]), `steering` is (reactors, this reactor): our ports
    /// are then also chosen to steer back to this reactor.
    pub fn new(
        dev: D,
        cfg: SmolConfig,
        members: usize,
        steering: Option<(usize, usize)>,
    ) -> Result<Self, SmolError> {
        let steering = steering.unwrap_or((1, 0));
        let members = members.max(1);
        let caps = dev.capabilities();
        let queues = Rc::new(RefCell::new(Queues {
            rx: (0..members).map(|_| VecDeque::new()).collect(),
            tx: VecDeque::new(),
            free: Vec::new(),
        }));
        let listening = Arc::new(Mutex::new(HashSet::new()));
        let mut list = Vec::new();
        for i in 0..members {
            let mut c = cfg.clone();
            c.random_seed = cfg.random_seed.wrapping_add(i as u64 * 0x9e37_79b9);
            let dev = MemberDevice {
                index: i,
                queues: Rc::clone(&queues),
                caps: caps.clone(),
            };
            let mut t = SmolTransport::new(dev, c)?;
            t.set_port_chooser(Box::new(MemberPorts {
                member: i,
                members,
                steering,
                listening: Arc::clone(&listening),
                ports: SequentialPorts::ephemeral(),
            }));
            list.push(t);
        }
        Ok(SmolSet {
            reactors: steering.0.max(1),
            medium: caps.medium,
            dev,
            members: list,
            queues,
            listening,
            streams: Vec::new(),
            globals: (0..members).map(|_| FxHashMap::default()).collect(),
            free: Vec::new(),
            dirty: DirtyMembers::all(members),
            spare_due: Vec::new(),
            next_dial: 0,
            last_tick: Instant::now(),
            epoch: Instant::now(),
            events: Vec::new(),
            readable: Vec::new(),
        })
    }

    /// Number of members.
    pub fn interface_count(&self) -> usize {
        self.members.len()
    }

    /// The members' counters, summed.
    pub fn stats(&self) -> SmolStats {
        let own = SmolStats {
            tx_shortfalls: self.dev.tx_buffer_shortfalls(),
            ..SmolStats::default()
        };
        self.members
            .iter()
            .map(SmolTransport::stats)
            .fold(own, |a, b| a + b)
    }

    fn global(&mut self, member: usize, local: StreamId) -> StreamId {
        if let Some(g) = self.globals[member].get(&local) {
            return *g;
        }
        let g = match self.free.pop() {
            Some(g) => g,
            None => {
                self.streams.push(None);
                self.streams.len() - 1
            }
        };
        self.streams[g] = Some((member, local));
        self.globals[member].insert(local, g);
        g
    }

    fn route(&self, frame: &[u8]) -> Route {
        let k = self.members.len();
        if let Some(flow) = inbound_flow(frame, self.medium) {
            let listening = self
                .listening
                .lock()
                .map(|l| l.contains(&flow.local_port))
                .unwrap_or(false);
            return Route::One(if listening {
                let ip = u32::from(*flow.remote.ip());
                let h =
                    ip.rotate_left(13) ^ u32::from(flow.remote.port()).wrapping_mul(0x9e37_79b9);
                (h as usize) % k
            } else {
                (usize::from(flow.local_port) / self.reactors) % k
            });
        }
        // ARP request (EtherType 0x0806, opcode 1): one member answers.
        if frame.get(12..14) == Some(&[0x08, 0x06]) && frame.get(20..22) == Some(&[0, 1]) {
            return Route::One(0);
        }
        Route::All
    }

    /// Takes frames from the device and queues them for their members.
    fn ingress(&mut self, ts: SInstant) -> bool {
        let mut any = false;
        for _ in 0..INGRESS_BATCH {
            let Some((rx, _)) = self.dev.receive(ts) else {
                break;
            };
            let mut frame = self.queues.borrow_mut().take_buf();
            rx.consume(|b| frame.extend_from_slice(b));
            any = true;
            match self.route(&frame) {
                Route::One(s) => {
                    self.queues.borrow_mut().rx[s].push_back(frame);
                    self.dirty.mark(s);
                }
                Route::All => {
                    let mut q = self.queues.borrow_mut();
                    for (s, rx) in q.rx.iter_mut().enumerate() {
                        rx.push_back(frame.clone());
                        self.dirty.mark(s);
                    }
                }
            }
        }
        any
    }

    /// Sends what the members queued.
    fn egress(&mut self, ts: SInstant) {
        loop {
            let Some(frame) = self.queues.borrow_mut().tx.pop_front() else {
                break;
            };
            match self.dev.transmit(ts) {
                Some(tok) => {
                    tok.consume(frame.len(), |b| b.copy_from_slice(&frame));
                    self.queues.borrow_mut().give_back(frame);
                }
                None => {
                    self.queues.borrow_mut().tx.push_front(frame);
                    break;
                }
            }
        }
        self.dev.after_poll();
    }

    fn member_of(&self, stream: StreamId) -> io::Result<(usize, StreamId)> {
        self.streams
            .get(stream)
            .copied()
            .flatten()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no such stream"))
    }

    /// The member holding `stream` and its id there, marked dirty: a read,
    /// write or close there has work for the member's next poll.
    fn touch(
        &mut self,
        stream: StreamId,
    ) -> io::Result<(&mut SmolTransport<MemberDevice>, StreamId)> {
        let (s, local) = self.member_of(stream)?;
        self.dirty.mark(s);
        Ok((&mut self.members[s], local))
    }
}

enum Route {
    One(usize),
    All,
}

impl<D: SmolDevice> Transport for SmolSet<D> {
    fn name(&self) -> &'static str {
        D::NAME
    }

    fn listen(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        if let Ok(mut l) = self.listening.lock() {
            l.insert(addr.port());
        }
        let mut bound = addr;
        for s in &mut self.members {
            bound = s.listen(addr)?;
        }
        Ok(bound)
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<StreamId> {
        let s = self.next_dial % self.members.len();
        self.next_dial = self.next_dial.wrapping_add(1);
        let local = self.members[s].connect(addr)?;
        self.dirty.mark(s);
        Ok(self.global(s, local))
    }

    fn poll(
        &mut self,
        now: Instant,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) -> bool {
        // From the caller's clock: smoltcp's `Instant::now` reads the wall
        // clock, a second clock read per pass (10% of a busy-polling
        // reactor's profile with 10,000 idle sessions).
        let ts = stamp(self.epoch, now);
        let mut progress = self.ingress(ts);
        let tick = now.saturating_duration_since(self.last_tick) >= TIMER_TICK;
        if tick {
            self.last_tick = now;
        }
        let mut due = self.dirty.take(std::mem::take(&mut self.spare_due));
        if tick {
            due.clear();
            due.extend(0..self.members.len());
        }
        for &s in &due {
            self.events.clear();
            self.readable.clear();
            progress |= self.members[s].poll(now, &mut self.events, &mut self.readable);
            let (evs, rds) = (
                std::mem::take(&mut self.events),
                std::mem::take(&mut self.readable),
            );
            for ev in &evs {
                let global_ev = match ev {
                    StreamEvent::Accepted {
                        stream,
                        local,
                        peer,
                    } => StreamEvent::Accepted {
                        stream: self.global(s, *stream),
                        local: *local,
                        peer: *peer,
                    },
                    StreamEvent::Connected(l) => StreamEvent::Connected(self.global(s, *l)),
                    StreamEvent::Closed { stream, reason } => {
                        let g = self.global(s, *stream);
                        self.globals[s].remove(stream);
                        self.streams[g] = None;
                        self.free.push(g);
                        StreamEvent::Closed {
                            stream: g,
                            reason: reason.clone(),
                        }
                    }
                    StreamEvent::AcceptFailed { local, error } => StreamEvent::AcceptFailed {
                        local: *local,
                        error: error.clone(),
                    },
                };
                events.push(global_ev);
            }
            for l in &rds {
                if let Some(g) = self.globals[s].get(l) {
                    readable.push(*g);
                }
            }
            self.events = evs;
            self.readable = rds;
            // Frames the member could not take yet keep it dirty.
            if !self.queues.borrow().rx[s].is_empty() {
                self.dirty.mark(s);
            }
        }
        self.spare_due = due;
        self.egress(ts);
        progress
    }

    fn read(
        &mut self,
        stream: StreamId,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize> {
        let (member, local) = self.touch(stream)?;
        member.read(local, consume)
    }

    fn write(&mut self, stream: StreamId, data: &[u8]) -> io::Result<usize> {
        let (member, local) = self.touch(stream)?;
        member.write(local, data)
    }

    fn writes_in_place(&self) -> bool {
        true
    }

    fn write_into(
        &mut self,
        stream: StreamId,
        fill: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> io::Result<usize> {
        let (member, local) = self.touch(stream)?;
        member.write_into(local, fill)
    }

    fn close(&mut self, stream: StreamId) {
        if let Ok((member, local)) = self.touch(stream) {
            member.close(local);
        }
    }

    fn frames(&self) -> Option<FrameCounts> {
        Some(self.stats().frames())
    }

    fn describe(&mut self, stream: StreamId) -> Option<String> {
        let (s, local) = self.member_of(stream).ok()?;
        let inner = self.members[s].describe(local)?;
        Some(format!("{inner} (interface {s} of the set)"))
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        if !self.dirty.is_empty() || !self.queues.borrow().tx.is_empty() {
            return Ok(());
        }
        self.dev.wait(timeout.min(TIMER_TICK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::phy::Loopback;

    const ME: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

    impl SmolSet<Loopback> {
        fn member_streams(&self) -> Vec<usize> {
            self.members.iter().map(|s| s.stream_count()).collect()
        }
    }

    /// 48 connections over 4 members on one loopback interface: all accepted,
    /// spread over the members, and every byte arrives on its stream.
    #[test]
    fn connections_spread_over_members_and_carry_their_bytes() {
        let mut cfg = SmolConfig::new([2, 0, 0, 0, 0, 1], ME, 8);
        cfg.listen_backlog = 4;
        cfg.rx_buffer = 16 * 1024;
        cfg.tx_buffer = 16 * 1024;
        let mut t = SmolSet::new(Loopback::new(Medium::Ethernet), cfg, 4, None).expect("transport");
        let addr = SocketAddr::from((ME, 6800));
        t.listen(addr).expect("listen");
        let dialed: Vec<StreamId> = (0..48).map(|_| t.connect(addr).expect("connect")).collect();
        let (mut ev, mut rd) = (Vec::new(), Vec::new());
        let mut accepted = Vec::new();
        let mut connected = HashSet::new();
        let mut got: std::collections::HashMap<StreamId, Vec<u8>> = Default::default();
        let t0 = Instant::now();
        while (accepted.len() < 48 || connected.len() < 48)
            && t0.elapsed() < Duration::from_secs(10)
        {
            t.poll(Instant::now(), &mut ev, &mut rd);
            for e in ev.drain(..) {
                match e {
                    StreamEvent::Accepted { stream, .. } => accepted.push(stream),
                    StreamEvent::Connected(s) => {
                        connected.insert(s);
                    }
                    StreamEvent::Closed { stream, reason } => panic!("{stream} closed: {reason}"),
                    StreamEvent::AcceptFailed { local, error } => {
                        panic!("accept on {local} failed: {error}")
                    }
                }
            }
            rd.clear();
        }
        assert_eq!(accepted.len(), 48, "all connects accepted");
        assert_eq!(connected.len(), 48);
        let per_member = t.member_streams();
        assert!(
            per_member.iter().all(|n| *n >= 8),
            "connections spread over every member: {per_member:?}"
        );
        // Each dialed stream sends its own index; the accepted side gets it.
        for (i, s) in dialed.iter().enumerate() {
            let msg = format!("stream {i:03}");
            assert_eq!(t.write(*s, msg.as_bytes()).expect("write"), msg.len());
        }
        let t0 = Instant::now();
        while got.values().map(Vec::len).sum::<usize>() < 48 * 10
            && t0.elapsed() < Duration::from_secs(10)
        {
            t.poll(Instant::now(), &mut ev, &mut rd);
            ev.clear();
            for id in rd.drain(..) {
                let buf = got.entry(id).or_default();
                t.read(id, &mut |b| {
                    buf.extend_from_slice(b);
                    b.len()
                })
                .expect("read");
            }
        }
        let mut texts: Vec<String> = accepted
            .iter()
            .map(|a| {
                String::from_utf8_lossy(got.get(a).map_or(&[][..], Vec::as_slice)).into_owned()
            })
            .collect();
        texts.sort();
        let want: Vec<String> = (0..48).map(|i| format!("stream {i:03}")).collect();
        assert_eq!(texts, want);
    }
}
