//! A smoltcp `phy::Device` over one (port, queue).
//!
//! - rx: packets are pulled from the queue in bursts; each `RxToken` owns its mbuf and
//!   hands smoltcp the mbuf's bytes in place (no copy).
//! - tx: each `TxToken` carries a fresh mbuf and lets smoltcp write the frame straight
//!   into it; frames are batched and sent in bursts. When the pool is empty, `transmit`
//!   flushes the batch (a driver that copies frees its mbufs then) and otherwise refuses:
//!   smoltcp keeps the data and sends it on a later poll instead of building a frame that
//!   would be dropped and retransmitted. Call [`DpdkDevice::flush`] after
//!   every `Interface::poll` (it also flushes by itself when a burst is full and
//!   whenever a receive poll finds the queue empty).
//! - capabilities follow the port's enabled checksum offloads.

use crate::mbuf::{Mbuf, Mempool};
use crate::port::{Port, RxOffloads, RxQueue, TxOffloads, TxQueue};
use crate::Result;
use dpdk_sys as sys;
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv4Address, Ipv4Packet, TcpPacket, UdpPacket};

/// Ethernet header bytes in a frame (no VLAN tag).
const ETHERNET_HEADER_LEN: usize = 14;

/// Counters of one device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Packets handed to smoltcp.
    pub rx_packets: u64,
    /// Packets received but dropped (bad checksum reported or found, multi-segment).
    pub rx_dropped: u64,
    /// Packets accepted by the driver.
    pub tx_packets: u64,
    /// Frames lost because no mbuf was free when smoltcp answered a received
    /// frame at once (its reply token is taken before it knows whether it
    /// will reply, so it cannot be refused up front).
    pub tx_no_mbuf: u64,
    /// Times smoltcp was told to wait because the pool had no free mbuf even
    /// after a flush (back-pressure: the frame is built later, nothing lost).
    pub tx_pool_empty: u64,
    /// `tx_burst` calls.
    pub tx_bursts: u64,
    /// `rx_burst` calls that returned packets.
    pub rx_bursts: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct TxOffload {
    ipv4: bool,
    tcp: bool,
    udp: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct RxOffload {
    ipv4: bool,
    tcp: bool,
    udp: bool,
}

/// Transmit side, borrowed by `TxToken`s.
struct TxSide {
    q: TxQueue,
    pool: Mempool,
    batch: Vec<Mbuf>,
    burst: usize,
    scratch: Vec<u8>,
    /// The mbuf `transmit` made sure of before handing out a token (kept
    /// for the next frame when a token goes unused, as a reply token
    /// usually does).
    spare: Option<Mbuf>,
    offload: TxOffload,
    stats: DeviceStats,
}

impl TxSide {
    fn flush(&mut self) -> usize {
        if self.batch.is_empty() {
            return 0;
        }
        self.stats.tx_bursts += 1;
        let n = self.q.tx_burst(&mut self.batch);
        self.stats.tx_packets += n as u64;
        n
    }
}

/// smoltcp device for one (port, rx queue, tx queue).
pub struct DpdkDevice {
    rx: RxQueue,
    /// Received mbufs not yet handed out, in reverse order (pop = oldest).
    rx_pending: Vec<Mbuf>,
    tx: TxSide,
    rx_offload: RxOffload,
    caps: DeviceCapabilities,
}

impl std::fmt::Debug for DpdkDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpdkDevice")
            .field("rx", &self.rx)
            .field("tx", &self.tx.q)
            .field("stats", &self.tx.stats)
            .finish()
    }
}

fn checksum(rx_off: bool, tx_off: bool) -> Checksum {
    match (rx_off, tx_off) {
        (false, false) => Checksum::Both,
        (true, false) => Checksum::Tx,
        (false, true) => Checksum::Rx,
        (true, true) => Checksum::None,
    }
}

impl DpdkDevice {
    /// Default burst size.
    pub const DEFAULT_BURST: usize = 32;

    /// A device on queue `queue` of `port` (rx and tx queue of the same number), with
    /// transmit mbufs from `pool` and bursts of `burst` packets.
    pub fn new(port: &Port, queue: u16, pool: Mempool, burst: usize) -> Result<DpdkDevice> {
        let rx = port.rx_queue(queue)?;
        let tx = port.tx_queue(queue)?;
        let burst = burst.clamp(1, 512);
        let mtu = port.mtu().unwrap_or(1500) as usize;
        let rxo = port.rx_offloads();
        let txo = port.tx_offloads();
        let rx_offload = RxOffload {
            ipv4: rxo.contains(RxOffloads::IPV4_CKSUM),
            tcp: rxo.contains(RxOffloads::TCP_CKSUM),
            udp: rxo.contains(RxOffloads::UDP_CKSUM),
        };
        let offload = TxOffload {
            ipv4: txo.contains(TxOffloads::IPV4_CKSUM),
            tcp: txo.contains(TxOffloads::TCP_CKSUM),
            udp: txo.contains(TxOffloads::UDP_CKSUM),
        };
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // No fixed burst limit: mbufs are allocated per frame. (A Some(n) here would make
        // smoltcp's TCP shrink its window to n segments.)
        caps.max_burst_size = None;
        let mut ck = ChecksumCapabilities::default();
        ck.ipv4 = checksum(rx_offload.ipv4, offload.ipv4);
        ck.tcp = checksum(rx_offload.tcp, offload.tcp);
        ck.udp = checksum(rx_offload.udp, offload.udp);
        caps.checksum = ck;
        let mut dev = DpdkDevice {
            rx,
            rx_pending: Vec::with_capacity(burst),
            tx: TxSide {
                q: tx,
                pool,
                batch: Vec::with_capacity(burst * 2),
                burst,
                scratch: vec![0; pool.frame_room()],
                spare: None,
                offload,
                stats: DeviceStats::default(),
            },
            rx_offload,
            caps,
        };
        dev.set_mtu(mtu);
        Ok(dev)
    }

    /// Neither computes nor verifies IPv4/TCP/UDP checksums, for a link that
    /// cannot corrupt a frame and whose peer does the same (memif: shared
    /// memory between two processes of ours). Both ends must agree: a peer
    /// that verifies drops every frame.
    pub fn skip_checksums(&mut self) {
        self.caps.checksum = ChecksumCapabilities::ignored();
    }

    /// Sets the IP MTU smoltcp builds frames for (and derives its TCP MSS
    /// from), up to what one mbuf of the transmit pool holds; returns the MTU
    /// in effect. For links whose both ends take larger frames than the port
    /// reports (memif between two processes that both set it).
    pub fn set_mtu(&mut self, mtu: usize) -> usize {
        // A frame must fit one mbuf.
        let room = self.tx.pool.frame_room();
        self.caps.max_transmission_unit = (mtu + ETHERNET_HEADER_LEN).min(room);
        self.caps
            .max_transmission_unit
            .saturating_sub(ETHERNET_HEADER_LEN)
    }

    /// Sends every batched frame the queue accepts now; returns how many went out.
    pub fn flush(&mut self) -> usize {
        self.tx.flush()
    }

    /// Frames batched but not yet accepted by the driver.
    pub fn tx_pending(&self) -> usize {
        self.tx.batch.len()
    }

    /// Counters.
    pub fn stats(&self) -> DeviceStats {
        self.tx.stats
    }

    fn refill(&mut self) {
        debug_assert!(self.rx_pending.is_empty());
        let n = self.rx.rx_burst(&mut self.rx_pending, self.tx.burst);
        if n > 0 {
            self.tx.stats.rx_bursts += 1;
            self.rx_pending.reverse();
        }
    }

    /// Whether the rx checksum offload result lets this packet through. Packets the
    /// port marked BAD are dropped; UNKNOWN ones are verified here in software when
    /// smoltcp was told not to.
    fn rx_checksum_ok(&self, m: &Mbuf) -> bool {
        let o = self.rx_offload;
        if !(o.ipv4 || o.tcp || o.udp) {
            return true;
        }
        let fl = m.ol_flags();
        let ip = fl & sys::RTE_MBUF_F_RX_IP_CKSUM_MASK as u64;
        let l4 = fl & sys::RTE_MBUF_F_RX_L4_CKSUM_MASK as u64;
        if (o.ipv4 && ip == sys::RTE_MBUF_F_RX_IP_CKSUM_BAD as u64)
            || ((o.tcp || o.udp) && l4 == sys::RTE_MBUF_F_RX_L4_CKSUM_BAD as u64)
        {
            return false;
        }
        let ip_unknown = o.ipv4 && ip == sys::RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN as u64;
        let l4_unknown = (o.tcp || o.udp) && l4 == sys::RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN as u64;
        if ip_unknown || l4_unknown {
            return software_checksum_ok(m.data(), ip_unknown, l4_unknown);
        }
        true
    }
}

/// Verifies IPv4 / TCP / UDP checksums of an Ethernet frame in software.
fn software_checksum_ok(frame: &[u8], ip: bool, l4: bool) -> bool {
    if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
        return true; // not IPv4: nothing offloaded
    }
    let Ok(p) = Ipv4Packet::new_checked(&frame[14..]) else {
        return true; // smoltcp will reject it itself
    };
    if ip && !p.verify_checksum() {
        return false;
    }
    if !l4 {
        return true;
    }
    let (src, dst): (Ipv4Address, Ipv4Address) = (p.src_addr(), p.dst_addr());
    match p.next_header() {
        IpProtocol::Tcp => TcpPacket::new_checked(p.payload())
            .map(|t| t.verify_checksum(&src.into(), &dst.into()))
            .unwrap_or(true),
        IpProtocol::Udp => UdpPacket::new_checked(p.payload())
            .map(|u| u.verify_checksum(&src.into(), &dst.into()))
            .unwrap_or(true),
        _ => true,
    }
}

/// Receive token: owns the received mbuf.
pub struct RxToken {
    mbuf: Mbuf,
}

impl RxToken {
    /// The mbuf itself, e.g. to hand upward without copying.
    pub fn into_mbuf(self) -> Mbuf {
        self.mbuf
    }
}

impl phy::RxToken for RxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.mbuf.data())
    }
}

/// Transmit token: writes one frame into a fresh mbuf and queues it for the next burst.
pub struct TxToken<'a> {
    tx: &'a mut TxSide,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let tx = self.tx;
        let mut m = match tx.spare.take().or_else(|| tx.pool.alloc()) {
            Some(m) if m.tailroom() >= len => m,
            _ => {
                // No mbuf (or frame larger than one): let smoltcp build the frame into
                // scratch space and drop it; TCP retransmits.
                tx.stats.tx_no_mbuf += 1;
                if tx.scratch.len() < len {
                    tx.scratch.resize(len, 0);
                }
                return f(&mut tx.scratch[..len]);
            }
        };
        let buf = m
            .append(len)
            .expect("fresh mbuf with tailroom checked above");
        let r = f(buf);
        let o = tx.offload;
        if o.ipv4 || o.tcp || o.udp {
            apply_tx_offload(&mut m, o);
        }
        tx.batch.push(m);
        if tx.batch.len() >= tx.burst {
            tx.flush();
        }
        r
    }
}

/// Sets the mbuf offload flags (and the pseudo-header checksum DPDK expects in the L4
/// checksum field) for an IPv4 frame smoltcp built without checksums.
fn apply_tx_offload(m: &mut Mbuf, o: TxOffload) {
    let Some(d) = m.data_mut() else { return };
    if d.len() < 14 + 20 || d[12..14] != [0x08, 0x00] {
        return;
    }
    let ihl = ((d[14] & 0x0f) as usize) * 4;
    if ihl < 20 || d.len() < 14 + ihl {
        return;
    }
    let proto = d[14 + 9];
    let mut flags = 0u64;
    if o.ipv4 {
        flags |= sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_IP_CKSUM;
        d[14 + 10] = 0;
        d[14 + 11] = 0;
    }
    let l4_off = 14 + ihl;
    let ck_field = match proto {
        6 if o.tcp && d.len() >= l4_off + 20 => {
            flags |= sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_TCP_CKSUM;
            Some(l4_off + 16)
        }
        17 if o.udp && d.len() >= l4_off + 8 => {
            flags |= sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_UDP_CKSUM;
            Some(l4_off + 6)
        }
        _ => None,
    };
    if let Some(at) = ck_field {
        // SAFETY: d[14..14+ihl] is a complete IPv4 header (length checked above);
        // rte_ipv4_phdr_cksum only reads it.
        let ph = unsafe { sys::pm_rte_ipv4_phdr_cksum(d[14..].as_ptr().cast(), flags) };
        // The value is in network byte order already (DPDK returns it as stored).
        d[at..at + 2].copy_from_slice(&ph.to_ne_bytes());
    }
    if flags != 0 {
        m.set_tx_offload(flags, 14, ihl as u16);
    }
}

impl phy::Device for DpdkDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken, TxToken<'_>)> {
        loop {
            if self.rx_pending.is_empty() {
                // Nothing buffered: push out what smoltcp queued, then poll the NIC.
                self.tx.flush();
                self.refill();
            }
            let m = self.rx_pending.pop()?;
            if m.nb_segs() != 1 || !self.rx_checksum_ok(&m) {
                self.tx.stats.rx_dropped += 1;
                continue;
            }
            self.tx.stats.rx_packets += 1;
            return Some((RxToken { mbuf: m }, TxToken { tx: &mut self.tx }));
        }
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        if self.tx.batch.len() >= self.tx.burst {
            self.tx.flush();
            if self.tx.batch.len() >= self.tx.burst {
                // The queue is full: back-pressure smoltcp until it drains.
                return None;
            }
        }
        if self.tx.spare.is_none() {
            self.tx.spare = self.tx.pool.alloc().or_else(|| {
                self.tx.flush();
                self.tx.pool.alloc()
            });
            if self.tx.spare.is_none() {
                self.tx.stats.tx_pool_empty += 1;
                return None;
            }
        }
        Some(TxToken { tx: &mut self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

impl Drop for DpdkDevice {
    fn drop(&mut self) {
        // Best effort: give batched frames one chance, then free the rest (Vec drop).
        self.tx.flush();
    }
}
