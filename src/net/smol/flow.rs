//! Which TCP flow the last received frame belonged to.
//!
//! smoltcp does not say which socket a packet touched. [`Observed`] wraps the
//! device and reads the IPv4/TCP header of every frame smoltcp consumes (a
//! few fixed-offset loads, no copy), so the transport can look at exactly the
//! one stream a packet changed instead of scanning all of them.

use std::net::{Ipv4Addr, SocketAddrV4};

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// A TCP flow as seen from our side: our port and the peer's address.
/// (The interface has one IPv4 address, so our address is implied.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    /// Our port.
    pub local_port: u16,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

impl FlowKey {
    /// The whole key in one word: our port, the peer's port, its address.
    fn packed(&self) -> u64 {
        (u64::from(self.local_port) << 48)
            | (u64::from(self.remote.port()) << 32)
            | u64::from(u32::from(*self.remote.ip()))
    }
}

/// Peers choose their addresses and ports, so flow tables keep std's keyed
/// SipHash; the key goes in as one word (the derived impl made four writes,
/// and hashing was about 7% of a 4 KiB DPDK server's time).
impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.packed());
    }
}

/// Parses the flow of an inbound IPv4/TCP frame (`Ethernet` or raw `Ip`
/// medium). Returns `None` for anything else or a truncated header; never
/// panics on arbitrary bytes.
pub fn inbound_flow(frame: &[u8], medium: Medium) -> Option<FlowKey> {
    let ip = match medium {
        Medium::Ethernet => {
            if frame.get(12..14)? != [0x08, 0x00] {
                return None;
            }
            frame.get(14..)?
        }
        #[allow(unreachable_patterns)]
        _ => frame,
    };
    let first = *ip.first()?;
    if first >> 4 != 4 || *ip.get(9)? != 6 {
        return None;
    }
    // Later fragments carry no TCP header.
    let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
    if frag & 0x1fff != 0 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let src = ip.get(12..16)?;
    let tcp = ip.get(ihl..ihl + 4)?;
    Some(FlowKey {
        local_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        remote: SocketAddrV4::new(
            Ipv4Addr::new(src[0], src[1], src[2], src[3]),
            u16::from_be_bytes([tcp[0], tcp[1]]),
        ),
    })
}

/// A device wrapper that records the flow of the last frame received and
/// counts the frames sent.
#[derive(Debug)]
pub struct Observed<D> {
    /// The wrapped device.
    pub inner: D,
    /// Flow of the last frame smoltcp consumed (taken by the transport).
    pub last: Option<FlowKey>,
    /// Frames smoltcp has sent through this device.
    pub tx_frames: u64,
    medium: Medium,
}

impl<D: Device> Observed<D> {
    /// Wraps `inner`.
    pub fn new(inner: D) -> Self {
        let medium = inner.capabilities().medium;
        Observed {
            inner,
            last: None,
            tx_frames: 0,
            medium,
        }
    }
}

/// Receive token that records the frame's flow when smoltcp consumes it.
pub struct ObservedRx<'a, R> {
    rx: R,
    last: &'a mut Option<FlowKey>,
    medium: Medium,
}

impl<R: phy::RxToken> phy::RxToken for ObservedRx<'_, R> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        let last = self.last;
        let medium = self.medium;
        self.rx.consume(|frame| {
            *last = inbound_flow(frame, medium);
            f(frame)
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.rx.meta()
    }
}

/// Transmit token that counts the frame when smoltcp fills it.
pub struct ObservedTx<'a, T> {
    tx: T,
    sent: &'a mut u64,
}

impl<T: phy::TxToken> phy::TxToken for ObservedTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        *self.sent += 1;
        self.tx.consume(len, f)
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.tx.set_meta(meta);
    }
}

impl<D: Device> Device for Observed<D> {
    type RxToken<'a>
        = ObservedRx<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = ObservedTx<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let Observed {
            inner,
            last,
            tx_frames,
            medium,
        } = self;
        let (rx, tx) = inner.receive(timestamp)?;
        Some((
            ObservedRx {
                rx,
                last,
                medium: *medium,
            },
            ObservedTx {
                tx,
                sent: tx_frames,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let Observed {
            inner, tx_frames, ..
        } = self;
        let tx = inner.transmit(timestamp)?;
        Some(ObservedTx {
            tx,
            sent: tx_frames,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(src: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08;
        f[13] = 0x00;
        f[14] = 0x45;
        f[14 + 9] = 6;
        f[14 + 12..14 + 16].copy_from_slice(&src);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn parses_tcp_over_ethernet() {
        let f = frame([169, 254, 1, 1], 40000, 6800);
        assert_eq!(
            inbound_flow(&f, Medium::Ethernet),
            Some(FlowKey {
                local_port: 6800,
                remote: "169.254.1.1:40000".parse().expect("literal"),
            })
        );
    }

    #[test]
    fn ignores_non_tcp_fragments_and_garbage() {
        let mut arp = frame([1, 2, 3, 4], 1, 2);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(inbound_flow(&arp, Medium::Ethernet), None);
        let mut udp = frame([1, 2, 3, 4], 1, 2);
        udp[14 + 9] = 17;
        assert_eq!(inbound_flow(&udp, Medium::Ethernet), None);
        let mut frag = frame([1, 2, 3, 4], 1, 2);
        frag[14 + 7] = 1;
        assert_eq!(inbound_flow(&frag, Medium::Ethernet), None);
        let mut bad_ihl = frame([1, 2, 3, 4], 1, 2);
        bad_ihl[14] = 0x41;
        assert_eq!(inbound_flow(&bad_ihl, Medium::Ethernet), None);
        let f = frame([1, 2, 3, 4], 1, 2);
        for n in 0..f.len() {
            // Every truncation is handled without a panic.
            let _ = inbound_flow(&f[..n], Medium::Ethernet);
        }
        assert_eq!(inbound_flow(&f[..37], Medium::Ethernet), None);
    }
}
