//! What protects a process that serves hostile peers: a memory budget
//! shared by every driver (reactor) and endpoint, per-reason counters of
//! refused, timed-out and failed connections, and a rate-limited log of them.
//!
//! The budget follows Ceph's `ms_dispatch_throttle_bytes` idea: bytes held
//! by connections (received and not yet handled, queued to send) count
//! against one process-wide total; over it, connections holding more than a
//! fair floor are not read until the total falls (back-pressure), and the
//! driver closes one that stays over past its deadline. Everything here is
//! atomics: drivers on different reactor threads share it without a lock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Reasons a connection can be refused, closed or fail, in counter order:
/// every [`crate::proto::ConnError::reason`] plus the driver's own.
pub const REASONS: [&str; 25] = [
    "decode",
    "frame",
    "banner",
    "peer_misbehaved",
    "peer_incompatible",
    "auth",
    "crypto",
    "handshake_timeout",
    "pre_auth_too_large",
    "frame_stalled",
    "idle",
    "peer_not_draining",
    "over_budget",
    "transport_closed",
    "session_reset",
    "marked_down",
    "policy_changed",
    // msgr2 WAIT (a connect race the peer won) and a session replaced by a
    // newer connection: ordinary ends, like transport_closed.
    "wait",
    "session_replaced",
    // A local bug caught instead of a panic (the connection is closed).
    "internal",
    // Driver: an accepted stream closed at once because of `max_conns`.
    "refused_max_conns",
    // Transport: accept failed for want of descriptors or memory (EMFILE,
    // ENFILE, ENOBUFS, ENOMEM); the listener is retried.
    "accept_failed",
    // Driver: reads of a connection stopped for a memory budget (not a close).
    "read_paused",
    // Driver: reads of a connection stopped until it drains its replies.
    "read_held_for_replies",
    "other",
];

/// Reasons that are an ordinary end of a connection, not logged.
const QUIET: [&str; 6] = [
    "transport_closed",
    "marked_down",
    "session_reset",
    "policy_changed",
    "wait",
    "session_replaced",
];

/// Bytes connections must have let go of before memory is given back.
pub const TRIM_AFTER_BYTES: usize = 1 << 20;
/// At most one give-back per this many milliseconds, process-wide.
pub const TRIM_EVERY_MS: u64 = 1000;

/// Log lines per second, process-wide, before lines are suppressed.
pub const LOG_LINES_PER_SEC: u64 = 20;

/// The process-wide memory budget, counters and log limiter.
#[derive(Debug)]
pub struct Guard {
    budget: usize,
    used: AtomicUsize,
    peak: AtomicUsize,
    /// Highest `used` since memory was last given back to the system.
    peak_since_trim: AtomicUsize,
    /// When memory was last given back (ms since `epoch`).
    last_trim_ms: AtomicU64,
    trims: AtomicU64,
    counts: [AtomicU64; REASONS.len()],
    epoch: Instant,
    log_second: AtomicU64,
    log_lines: AtomicU64,
    suppressed: AtomicU64,
}

impl Guard {
    /// A guard whose connections may hold `budget` bytes in total.
    pub fn new(budget: usize) -> Self {
        Guard {
            budget,
            used: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            peak_since_trim: AtomicUsize::new(0),
            last_trim_ms: AtomicU64::new(0),
            trims: AtomicU64::new(0),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            epoch: Instant::now(),
            log_second: AtomicU64::new(0),
            log_lines: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// The process budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes connections hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// True while connections hold more than the budget.
    pub fn over(&self) -> bool {
        self.used() > self.budget
    }

    /// Moves a connection's accounted bytes from `old` to `new`.
    pub fn reaccount(&self, old: usize, new: usize) {
        if new > old {
            let now = self.used.fetch_add(new - old, Ordering::Relaxed) + (new - old);
            self.peak.fetch_max(now, Ordering::Relaxed);
            self.peak_since_trim.fetch_max(now, Ordering::Relaxed);
        } else if old > new {
            self.used.fetch_sub(old - new, Ordering::Relaxed);
        }
    }

    /// True (to one caller) when connections have let go of at least
    /// [`TRIM_AFTER_BYTES`] since memory was last given back to the system,
    /// at most once per [`TRIM_EVERY_MS`]: the idle reactor then returns the
    /// allocator's free pages ([`crate::net::heap::release_free_memory`]).
    pub fn trim_due(&self) -> bool {
        let peak = self.peak_since_trim.load(Ordering::Relaxed);
        if peak.saturating_sub(self.used()) < TRIM_AFTER_BYTES {
            return false;
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_trim_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < TRIM_EVERY_MS {
            return false;
        }
        if self
            .last_trim_ms
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return false; // another reactor is trimming
        }
        self.peak_since_trim.store(self.used(), Ordering::Relaxed);
        self.trims.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Counts one event of `reason` (one of [`REASONS`]; others count as "other").
    pub fn count(&self, reason: &str) {
        let i = REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(REASONS.len() - 1);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The count of `reason`.
    pub fn count_of(&self, reason: &str) -> u64 {
        REASONS
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.counts[i].load(Ordering::Relaxed))
    }

    /// Counts `reason` and, unless it is an ordinary close, logs one line
    /// naming the peer and what happened, at most [`LOG_LINES_PER_SEC`] a
    /// second (the number of suppressed lines is logged with the next one).
    pub fn record(&self, reason: &str, peer: Option<SocketAddr>, what: std::fmt::Arguments<'_>) {
        self.count(reason);
        if QUIET.contains(&reason) {
            return;
        }
        let second = self.epoch.elapsed().as_secs();
        if self.log_second.swap(second, Ordering::Relaxed) != second {
            self.log_lines.store(0, Ordering::Relaxed);
        }
        if self.log_lines.fetch_add(1, Ordering::Relaxed) >= LOG_LINES_PER_SEC {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let skipped = self.suppressed.swap(0, Ordering::Relaxed);
        let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
        if skipped > 0 {
            eprintln!(
                "pollmsgr: connection {peer}: {reason}: {what} ({skipped} similar lines suppressed)"
            );
        } else {
            eprintln!("pollmsgr: connection {peer}: {reason}: {what}");
        }
    }

    /// The counters and budget as JSON: `{"budget_bytes", "held_bytes",
    /// "peak_held_bytes", "reasons": {reason: count, ...}}` (zero counts left out).
    pub fn report(&self) -> serde_json::Value {
        let reasons: serde_json::Map<String, serde_json::Value> = REASONS
            .iter()
            .zip(&self.counts)
            .filter_map(|(r, c)| {
                let n = c.load(Ordering::Relaxed);
                (n > 0).then(|| ((*r).to_string(), n.into()))
            })
            .collect();
        serde_json::json!({
            "budget_bytes": self.budget,
            "held_bytes": self.used(),
            "peak_held_bytes": self.peak.load(Ordering::Relaxed),
            "memory_trims": self.trims.load(Ordering::Relaxed),
            "reasons": reasons,
        })
    }
}

/// Descriptors kept free below the open-file limit for what is not an
/// accepted connection: outgoing connections (heartbeats, peers), mon
/// sessions, listeners, epoll, files.
pub fn nofile_headroom(nofile: u64) -> u64 {
    // At least room for one poll's accepts on a few listeners, which the
    // driver refuses (closes) only after they are taken.
    (nofile / 8).clamp(64, 4096)
}

/// The accepted-connection cap of each of `reactors` drivers for an
/// open-file limit of `nofile`: below the limit by [`nofile_headroom`], so
/// the cap refuses (and logs) a connection before `accept` fails for want of
/// a descriptor. At least 1.
pub fn conn_cap(nofile: u64, reactors: usize) -> usize {
    let usable = nofile.saturating_sub(nofile_headroom(nofile));
    let per = usable / (reactors.max(1) as u64);
    usize::try_from(per).unwrap_or(usize::MAX).max(1)
}

/// Raises the soft open-file limit to the hard limit (as Ceph daemons do
/// with `max_open_files`); returns the soft limit in force afterwards
/// (unlimited reads as `u64::MAX`).
pub fn raise_nofile_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let lim = getrlimit(Resource::Nofile);
    if lim.current != lim.maximum {
        let raised = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return lim.maximum.unwrap_or(u64::MAX);
        }
    }
    lim.current.unwrap_or(u64::MAX)
}

impl Default for Guard {
    /// A 1 GiB budget.
    fn default() -> Self {
        Guard::new(1 << 30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conn_error_reason_has_a_counter() {
        use crate::proto::ConnError;
        let errs = [
            ConnError::HandshakeTimeout(std::time::Duration::ZERO),
            ConnError::PreAuthTooLarge { limit: 1 },
            ConnError::Idle(std::time::Duration::ZERO),
            ConnError::MarkedDown,
            ConnError::SessionReset,
            ConnError::TransportClosed(String::new()),
            ConnError::Wait,
            ConnError::SessionReplaced,
            ConnError::Internal("test"),
        ];
        for e in errs {
            assert!(REASONS.contains(&e.reason()), "{}", e.reason());
        }
        let g = Guard::new(10);
        g.count("frame_stalled");
        g.count("no such reason");
        assert_eq!(g.count_of("frame_stalled"), 1);
        assert_eq!(g.count_of("other"), 1);
        g.reaccount(0, 12);
        assert!(g.over());
        g.reaccount(12, 4);
        assert_eq!(
            (g.used(), g.report()["peak_held_bytes"].as_u64()),
            (4, Some(12))
        );
    }

    #[test]
    fn conn_cap_stays_below_the_descriptor_limit() {
        for (nofile, reactors) in [(20_000u64, 2usize), (1024, 1), (256, 2), (1 << 20, 1)] {
            let cap = conn_cap(nofile, reactors) as u64;
            assert!(
                cap * reactors as u64 + 32 <= nofile,
                "{nofile} {reactors} {cap}"
            );
        }
        // The case: a 20,000 limit, two reactors.
        assert!(conn_cap(20_000, 2) * 2 < 20_000);
        assert_eq!(conn_cap(10, 4), 1, "never zero");
    }
}
