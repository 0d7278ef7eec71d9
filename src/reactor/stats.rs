//! A driver's counters: where received bytes went above the transport, how
//! many passes found work, and the transport's frames (issue 11's "counters
//! that prove it": copies per payload byte, packets per message, idle
//! passes).

use crate::net::transport::FrameCounts;

/// Counters of one [`super::driver::Driver`], summed over reactors with
/// [`DriverStats::add`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Bytes handed to connections by the transport.
    pub rx_bytes: u64,
    /// Bytes copied a second time: into a connection's receive buffer first
    /// (a partial banner, preamble or epilogue, or a backlog), or out of a
    /// decrypted chunk into a later segment's buffer; the rest went straight
    /// from the transport's buffer into the buffer they end in.
    pub rx_buffered_bytes: u64,
    /// Message payload bytes encoded for sending.
    pub tx_payload_bytes: u64,
    /// Of those, bytes copied into a connection's own frame buffers (crc
    /// segments under the lending threshold; in secure mode the encryption
    /// pass, which is the copy); the rest went to the transport by reference.
    pub tx_copied_bytes: u64,
    /// Reactor passes (`poll_once` runs one, or two around a wait).
    pub passes: u64,
    /// Passes that found nothing to do: no bytes, events or timers.
    pub idle_passes: u64,
    /// Frames the transport received and sent (userspace stacks only).
    pub frames: Option<FrameCounts>,
}

impl DriverStats {
    /// Counts one pass, idle unless it did something.
    pub fn count_pass(&mut self, busy: bool) {
        self.passes += 1;
        if !busy {
            self.idle_passes += 1;
        }
    }

    /// Adds `other`'s counts.
    pub fn add(&mut self, other: DriverStats) {
        self.rx_bytes += other.rx_bytes;
        self.rx_buffered_bytes += other.rx_buffered_bytes;
        self.tx_payload_bytes += other.tx_payload_bytes;
        self.tx_copied_bytes += other.tx_copied_bytes;
        self.passes += other.passes;
        self.idle_passes += other.idle_passes;
        self.frames = match (self.frames, other.frames) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// Copies above the transport per received byte: 1 when nothing is
    /// buffered (the copy into the segment), 2 when everything is.
    pub fn rx_copies_per_byte(&self) -> f64 {
        1.0 + self.rx_buffered_bytes as f64 / self.rx_bytes.max(1) as f64
    }

    /// Payload bytes copied above the transport per payload byte sent: 0
    /// when every payload was lent, 1 when every byte was copied (or
    /// encrypted) once. The transport's own copy (into smoltcp's ring, or
    /// the kernel's) is the TCP stack's and is not counted.
    pub fn tx_copies_per_byte(&self) -> f64 {
        self.tx_copied_bytes as f64 / self.tx_payload_bytes.max(1) as f64
    }

    /// Share of passes that found no work (busy-polling transports spin
    /// through many).
    pub fn idle_pass_share(&self) -> f64 {
        self.idle_passes as f64 / self.passes.max(1) as f64
    }

    /// Frames received and sent per message, given how many messages went
    /// through; `None` without frame counts.
    pub fn frames_per_message(&self, messages: u64) -> Option<(f64, f64)> {
        let f = self.frames?;
        let m = messages.max(1) as f64;
        Some((f.rx as f64 / m, f.tx as f64 / m))
    }

    /// The counters as JSON fields for a summary.
    pub fn to_json(&self, messages: u64) -> serde_json::Value {
        let per = self.frames_per_message(messages);
        serde_json::json!({
            "rx_bytes": self.rx_bytes,
            "rx_buffered_bytes": self.rx_buffered_bytes,
            "rx_copies_per_byte": self.rx_copies_per_byte(),
            "tx_payload_bytes": self.tx_payload_bytes,
            "tx_copied_bytes": self.tx_copied_bytes,
            "tx_copies_per_byte": self.tx_copies_per_byte(),
            "passes": self.passes,
            "idle_pass_share": self.idle_pass_share(),
            "rx_frames": self.frames.map(|f| f.rx),
            "tx_frames": self.frames.map(|f| f.tx),
            "tx_frame_waits": self.frames.map(|f| f.tx_shortfalls.waits),
            "tx_frames_lost": self.frames.map(|f| f.tx_shortfalls.lost),
            "rx_frames_per_message": per.map(|p| p.0),
            "tx_frames_per_message": per.map(|p| p.1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::transport::TxShortfalls;

    #[test]
    fn ratios_and_sums() {
        let mut a = DriverStats::default();
        a.count_pass(true);
        a.count_pass(false);
        a.rx_bytes = 1000;
        a.rx_buffered_bytes = 250;
        a.tx_payload_bytes = 4000;
        a.tx_copied_bytes = 1000;
        let b = DriverStats {
            tx_payload_bytes: 4000,
            passes: 2,
            idle_passes: 1,
            frames: Some(FrameCounts {
                rx: 30,
                tx: 10,
                tx_shortfalls: TxShortfalls { waits: 2, lost: 1 },
            }),
            ..DriverStats::default()
        };
        a.add(b);
        a.add(b);
        let json = a.to_json(20);
        assert_eq!(
            (
                json["tx_frame_waits"].as_u64(),
                json["tx_frames_lost"].as_u64()
            ),
            (Some(4), Some(2))
        );
        assert_eq!((a.passes, a.idle_passes), (6, 3));
        assert_eq!(a.idle_pass_share(), 0.5);
        assert_eq!(a.tx_copies_per_byte(), 1.0 / 12.0);
        assert_eq!(a.rx_copies_per_byte(), 1.25);
        assert_eq!(a.frames_per_message(10), Some((6.0, 2.0)));
        assert_eq!(DriverStats::default().frames_per_message(10), None);
        // No traffic: no division by zero.
        assert_eq!(DriverStats::default().rx_copies_per_byte(), 1.0);
    }
}
