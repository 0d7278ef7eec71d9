//! The state of one transport under a connection: its receive buffer, its
//! transmit chain and the clocks its deadlines count from. A reconnect
//! builds a new one.

use std::time::{Duration, Instant};

use super::tx::TxChain;

/// Per-transport buffers and clocks, rebuilt on every reconnect.
pub(super) struct Link {
    /// Received bytes; `rx[rx_pos..]` are not parsed yet.
    pub(super) rx: Vec<u8>,
    pub(super) rx_pos: usize,
    /// Bytes to send.
    pub(super) tx: TxChain,
    /// When the transport opened (the handshake deadline counts from it).
    pub(super) opened: Instant,
    /// Received bytes were left unparsed: the per-call frame cap was reached,
    /// or replies are over the back-pressure bound.
    pub(super) backlog: bool,
    /// When a byte last arrived (the frame-progress deadline counts from it).
    pub(super) last_rx: Instant,
    /// When a byte last moved either way (the idle deadline counts from it).
    pub(super) last_activity: Instant,
    /// Since when the transport has taken none of our pending bytes.
    pub(super) tx_blocked_since: Option<Instant>,
    /// The last time the transport was found blocked.
    pub(super) tx_blocked_seen: Instant,
    /// The driver stopped reading us (memory budget): the frame-progress
    /// deadline does not run, the driver's own budget deadline does.
    pub(super) input_paused: bool,
    /// Received bytes copied a second time since the driver last took the
    /// count: into `rx` (not parsed straight from the transport's bytes), or
    /// out of a decrypted chunk into another segment's buffer.
    pub(super) rx_buffered: u64,
    /// Message payload bytes encoded for sending since the driver last took
    /// the count, and how many of them were copied into owned frame buffers
    /// (crc segments under the lending threshold, secure payloads sealed in
    /// the connection's buffer); the rest were lent (crc) or are sealed in
    /// the transport's send buffer (secure, [`super::tx::TxChain::fill`]),
    /// where the copy and the encryption are the write into the transport.
    pub(super) tx_payload: u64,
    pub(super) tx_copied: u64,
}

impl Link {
    /// `seal_late`: queue large secure payloads unsealed ([`TxChain::new`]).
    pub(super) fn new(now: Instant, seal_late: bool) -> Self {
        Link {
            rx: Vec::new(),
            rx_pos: 0,
            tx: TxChain::new(seal_late),
            opened: now,
            backlog: false,
            last_rx: now,
            last_activity: now,
            tx_blocked_since: None,
            tx_blocked_seen: now,
            input_paused: false,
            rx_buffered: 0,
            tx_payload: 0,
            tx_copied: 0,
        }
    }

    /// Copies `data` into the receive buffer, counting the copy.
    pub(super) fn buffer(&mut self, data: &[u8]) {
        self.rx_buffered += data.len() as u64;
        self.rx.extend_from_slice(data);
    }

    /// The transport took `n` bytes at `now`: a write that took any ends a
    /// blocked spell, and the idle deadline counts from it.
    pub(super) fn wrote(&mut self, n: usize, now: Instant) {
        if n > 0 {
            self.tx_blocked_since = None;
            self.last_activity = now;
        }
    }

    /// Received bytes not parsed yet.
    pub(super) fn unparsed(&self) -> usize {
        self.rx.len() - self.rx_pos
    }
}

/// How long the transport has taken none of our pending bytes, as of the
/// last attempt; zero if it is not blocked.
pub(super) fn blocked_for(link: &Link) -> Duration {
    link.tx_blocked_since.map_or(Duration::ZERO, |since| {
        link.tx_blocked_seen.saturating_duration_since(since)
    })
}
