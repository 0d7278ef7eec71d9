//! [`AnyTransport`]: every transport [`super::TransportSpec`] can open, as
//! one type, so a reactor, a driver or a `MonClient` is built once for all of
//! them. Each call is one predictable branch to the concrete transport.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smoltcp::phy::TunTapInterface;

use crate::net::dpdk::{DpdkSetTransport, DpdkTransport};
use crate::net::kernel::KernelTransport;
use crate::net::smol_set::SmolSet;
use crate::net::steer::Steered;
use crate::net::transport::{FrameCounts, StreamEvent, StreamId, Transport};

/// smoltcp over a (possibly shared, software-steered) TAP device, spread
/// over a set of interfaces.
pub type TapSetTransport = SmolSet<Steered<TunTapInterface>>;

/// One of the transports a [`super::TransportSpec`] opens.
// One value per reactor, kept for the reactor's life: its size does not
// matter, and boxing the big variants would add an indirection per call.
#[allow(clippy::large_enum_variant)]
pub enum AnyTransport {
    /// Kernel TCP.
    Kernel(KernelTransport),
    /// smoltcp over a TAP device.
    Tap(TapSetTransport),
    /// smoltcp over a DPDK port (net_memif or net_tap).
    Dpdk(DpdkTransport),
    /// smoltcp over a DPDK port, spread over several interfaces.
    DpdkSet(DpdkSetTransport),
}

/// Calls `$call` on whichever transport `$self` holds.
macro_rules! each {
    ($self:expr, $t:ident => $call:expr) => {
        match $self {
            AnyTransport::Kernel($t) => $call,
            AnyTransport::Tap($t) => $call,
            AnyTransport::Dpdk($t) => $call,
            AnyTransport::DpdkSet($t) => $call,
        }
    };
}

impl Transport for AnyTransport {
    fn name(&self) -> &'static str {
        each!(self, t => t.name())
    }

    fn listen(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        each!(self, t => t.listen(addr))
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<StreamId> {
        each!(self, t => t.connect(addr))
    }

    fn poll(
        &mut self,
        now: Instant,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) -> bool {
        each!(self, t => t.poll(now, events, readable))
    }

    fn read(
        &mut self,
        stream: StreamId,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize> {
        each!(self, t => t.read(stream, consume))
    }

    fn read_at_most(
        &mut self,
        stream: StreamId,
        max: usize,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize> {
        each!(self, t => t.read_at_most(stream, max, consume))
    }

    fn write(&mut self, stream: StreamId, data: &[u8]) -> io::Result<usize> {
        each!(self, t => t.write(stream, data))
    }

    fn write_vectored(&mut self, stream: StreamId, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        each!(self, t => t.write_vectored(stream, bufs))
    }

    fn writes_in_place(&self) -> bool {
        each!(self, t => t.writes_in_place())
    }

    fn wakes_when_writable(&self) -> bool {
        each!(self, t => t.wakes_when_writable())
    }

    fn write_into(
        &mut self,
        stream: StreamId,
        fill: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> io::Result<usize> {
        each!(self, t => t.write_into(stream, fill))
    }

    fn close(&mut self, stream: StreamId) {
        each!(self, t => t.close(stream))
    }

    fn wait(&mut self, timeout: Duration) -> io::Result<()> {
        each!(self, t => t.wait(timeout))
    }

    fn frames(&self) -> Option<FrameCounts> {
        each!(self, t => t.frames())
    }

    fn describe(&mut self, stream: StreamId) -> Option<String> {
        each!(self, t => t.describe(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes written on one kernel stream arrive on the other through the
    /// enum exactly as through the concrete transport.
    #[test]
    fn kernel_streams_carry_bytes_through_the_enum() {
        let mut t = AnyTransport::Kernel(KernelTransport::new().expect("kernel transport"));
        assert_eq!(t.name(), "kernel");
        let addr = t
            .listen("127.0.0.1:0".parse().expect("addr"))
            .expect("listen");
        let client = t.connect(addr).expect("connect");
        let (mut events, mut readable) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut server = None;
        let mut connected = false;
        while (server.is_none() || !connected) && Instant::now() < deadline {
            t.wait(Duration::from_millis(10)).expect("wait");
            t.poll(Instant::now(), &mut events, &mut readable);
            for e in events.drain(..) {
                match e {
                    StreamEvent::Accepted { stream, .. } => server = Some(stream),
                    StreamEvent::Connected(s) if s == client => connected = true,
                    _ => {}
                }
            }
        }
        let server = server.expect("accepted");
        assert!(connected, "connect completed");
        assert_eq!(t.write(client, b"hello").expect("write"), 5);
        let mut got = Vec::new();
        while got.len() < 5 && Instant::now() < deadline {
            t.wait(Duration::from_millis(10)).expect("wait");
            t.poll(Instant::now(), &mut events, &mut readable);
            t.read(server, &mut |b| {
                got.extend_from_slice(b);
                b.len()
            })
            .expect("read");
        }
        assert_eq!(got, b"hello");
    }
}
