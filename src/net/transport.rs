//! The one small trait every byte-stream transport implements: kernel TCP,
//! smoltcp over a TAP device, smoltcp over a DPDK queue.
//!
//! A transport owns its sockets and is driven by one thread (a reactor). It
//! never blocks except in [`Transport::wait`]. Reads are closure-based, like
//! smoltcp's socket API: the bytes are lent in place (from the socket ring or
//! the kernel read buffer) and the closure says how many it consumed, so the
//! transport never copies received data on the connection's behalf. Writes
//! take a slice: the one copy into the stack's transmit ring is the one the
//! stack needs anyway.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Identifies one stream of a transport; reused after [`StreamEvent::Closed`].
pub type StreamId = usize;

/// A change in a stream's life, reported by [`Transport::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A listener accepted a stream from `peer` on our address `local`.
    Accepted {
        /// The new stream.
        stream: StreamId,
        /// Our address it arrived on (selects the endpoint).
        local: SocketAddr,
        /// The peer's address.
        peer: SocketAddr,
    },
    /// An outgoing connect completed.
    Connected(StreamId),
    /// The stream closed or failed; its id may be reused.
    Closed {
        /// The stream.
        stream: StreamId,
        /// What happened, for logs.
        reason: String,
    },
    /// A listener could not accept for want of descriptors or memory
    /// (EMFILE, ENFILE, ENOBUFS, ENOMEM); the transport retries it, at the
    /// latest when one of its streams closes, so queued peers are not stranded.
    AcceptFailed {
        /// The listener's address.
        local: SocketAddr,
        /// The error.
        error: String,
    },
}

/// How a reactor waits when idle; a property of its transport (see
/// `net::spec::TransportSpec::idle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdlePolicy {
    /// Never sleep (DPDK): poll the device continuously.
    BusyPoll,
    /// Sleep in the transport's wait for up to this long when nothing happens.
    Sleep(Duration),
}

/// Frames a userspace TCP stack took in and sent out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameCounts {
    /// Frames received.
    pub rx: u64,
    /// Frames sent.
    pub tx: u64,
    /// Times the device had no transmit buffer for a frame.
    pub tx_shortfalls: TxShortfalls,
}

/// Sums counts (of several transports).
impl std::ops::Add for FrameCounts {
    type Output = FrameCounts;
    fn add(self, b: FrameCounts) -> FrameCounts {
        FrameCounts {
            rx: self.rx + b.rx,
            tx: self.tx + b.tx,
            tx_shortfalls: self.tx_shortfalls + b.tx_shortfalls,
        }
    }
}

/// A device's transmit buffer shortfalls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxShortfalls {
    /// Times the stack was told to wait to build a frame (DPDK: mempool
    /// empty; back-pressure, nothing lost).
    pub waits: u64,
    /// Frames built and lost for want of a buffer (TCP resends them).
    pub lost: u64,
}

/// Sums shortfalls (of several devices).
impl std::ops::Add for TxShortfalls {
    type Output = TxShortfalls;
    fn add(self, b: TxShortfalls) -> TxShortfalls {
        TxShortfalls {
            waits: self.waits + b.waits,
            lost: self.lost + b.lost,
        }
    }
}

/// A byte-stream transport driven by one thread.
pub trait Transport {
    /// A short name for reports ("kernel", "tap", "dpdk").
    fn name(&self) -> &'static str;

    /// Starts listening on `addr`; returns the bound address.
    fn listen(&mut self, addr: SocketAddr) -> io::Result<SocketAddr>;

    /// Starts a connection to `addr`; completion is reported as [`StreamEvent::Connected`].
    fn connect(&mut self, addr: SocketAddr) -> io::Result<StreamId>;

    /// Runs the stack once without blocking: receives, transmits and fires
    /// timers. Appends lifecycle events to `events` and the streams that may
    /// have bytes to read to `readable`. Returns true if anything happened.
    fn poll(
        &mut self,
        now: Instant,
        events: &mut Vec<StreamEvent>,
        readable: &mut Vec<StreamId>,
    ) -> bool;

    /// Lends the received bytes of `stream` to `consume`, which returns how
    /// many it took; repeats while bytes remain and `consume` takes them all.
    /// Returns the total consumed. End of stream is reported by `poll`.
    fn read(
        &mut self,
        stream: StreamId,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize>;

    /// Like [`Transport::read`], but lends at most `max` bytes in all, so a
    /// driver can give each stream a bounded share of a pass; bytes past
    /// `max` stay in the stack (or kernel) until the next call.
    fn read_at_most(
        &mut self,
        stream: StreamId,
        max: usize,
        consume: &mut dyn FnMut(&[u8]) -> usize,
    ) -> io::Result<usize> {
        let mut left = max;
        self.read(stream, &mut |b| {
            let used = consume(b.get(..left.min(b.len())).unwrap_or(&[]));
            left -= used.min(left);
            used
        })
    }

    /// Queues as much of `data` as fits for transmission; returns how much.
    fn write(&mut self, stream: StreamId, data: &[u8]) -> io::Result<usize>;

    /// Writes `bufs` in order, as [`Transport::write`] does each, stopping at
    /// the first short write; returns the bytes taken. Kernel TCP overrides
    /// it with one `writev` (a crc message with a lent payload is three
    /// chunks: three syscalls without it).
    fn write_vectored(&mut self, stream: StreamId, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut done = 0;
        for b in bufs {
            let n = self.write(stream, b)?;
            done += n;
            if n < b.len() {
                break;
            }
        }
        Ok(done)
    }

    /// True if a stream whose writes were refused is reported in `poll`'s
    /// `readable` once it takes bytes again (the kernel's edge-triggered
    /// writable events): the driver then retries it only then, not every
    /// pass (a peer that reads nothing would cost a refused write per pass).
    fn wakes_when_writable(&self) -> bool {
        false
    }

    /// True if the transport has a send buffer of its own to lend through
    /// [`Transport::write_into`] (the userspace TCP stacks' socket rings).
    fn writes_in_place(&self) -> bool {
        false
    }

    /// Lends `fill` the contiguous free part of `stream`'s send buffer; it
    /// writes there and returns how many bytes it wrote, which are queued
    /// for transmission; returns that count. Lets a secure-mode sender seal
    /// straight into the buffer instead of copying sealed bytes into it.
    /// Only for transports that [`Transport::writes_in_place`]; the others
    /// (kernel TCP: use [`Transport::write_vectored`]) refuse with
    /// `Unsupported`.
    fn write_into(
        &mut self,
        stream: StreamId,
        fill: &mut dyn FnMut(&mut [u8]) -> usize,
    ) -> io::Result<usize> {
        let _ = (stream, fill);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this transport has no send buffer to lend; use write_vectored",
        ))
    }

    /// Closes `stream` gracefully; a `Closed` event follows.
    fn close(&mut self, stream: StreamId);

    /// Sleeps until I/O may be ready or `timeout` passes. A busy-polling
    /// transport (DPDK) returns at once; kernel and TAP transports sleep, so an
    /// idle reactor does not burn its core.
    fn wait(&mut self, timeout: Duration) -> io::Result<()>;

    /// Frames (packets) received and sent so far, where this transport sees
    /// them (the userspace TCP stacks); `None` for kernel TCP.
    fn frames(&self) -> Option<FrameCounts> {
        None
    }

    /// What the stack holds of `stream` (TCP state, buffered and queued
    /// bytes), for the log line of a connection closed for stalling; `None`
    /// where the stack is the kernel's (`ss -tmi` shows it there).
    fn describe(&mut self, stream: StreamId) -> Option<String> {
        let _ = stream;
        None
    }
}
