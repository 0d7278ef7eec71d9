//! Which of a transmit chain's pending bytes are replies to the peer's own
//! requests. Input is held for a peer that does not read only while its
//! unread bytes are replies to it: holding input that makes no replies
//! frees nothing, and two ends that both send bulk would each wait for the
//! other to read first (a deadlock).

use std::collections::VecDeque;

/// Ranges kept before the newest two merge (the bytes between them are
/// then counted as replies too: an overestimate, never an underestimate,
/// so a flooder is still held).
const MAX_RANGES: usize = 16;

/// Reply byte ranges by position in the chain's stream (bytes queued since
/// it was made), oldest first, none overlapping.
#[derive(Debug, Default)]
pub(super) struct ReplyMarks {
    ranges: VecDeque<(u64, u64)>,
    /// Reply bytes in `ranges` not written yet.
    pending: usize,
}

impl ReplyMarks {
    /// Marks stream positions `from..to` as reply bytes.
    pub(super) fn mark(&mut self, from: u64, to: u64) {
        let from = self.ranges.back().map_or(from, |&(_, end)| from.max(end));
        if to <= from {
            return;
        }
        let full = self.ranges.len() >= MAX_RANGES;
        match self.ranges.back_mut() {
            Some(last) if last.1 == from || full => {
                self.pending += (to - last.1) as usize;
                last.1 = to;
            }
            _ => {
                self.ranges.push_back((from, to));
                self.pending += (to - from) as usize;
            }
        }
    }

    /// The stream was written up to position `written`.
    pub(super) fn written(&mut self, written: u64) {
        while let Some(first) = self.ranges.front_mut() {
            if first.1 <= written {
                self.pending -= (first.1 - first.0) as usize;
                self.ranges.pop_front();
                continue;
            }
            if first.0 < written {
                self.pending -= (written - first.0) as usize;
                first.0 = written;
            }
            break;
        }
    }

    /// Reply bytes not written yet.
    pub(super) fn pending(&self) -> usize {
        self.pending
    }

    /// Forgets every mark (the pending bytes were dropped).
    pub(super) fn clear(&mut self) {
        self.ranges.clear();
        self.pending = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_reply_bytes_follow_marks_and_writes() {
        let mut m = ReplyMarks::default();
        m.mark(0, 100);
        m.mark(100, 150); // adjacent: merged
        m.mark(400, 500); // after 250 bytes of our own
        assert_eq!(m.pending(), 250);
        m.written(120);
        assert_eq!(m.pending(), 130);
        m.written(450);
        assert_eq!(m.pending(), 50);
        m.written(500);
        assert_eq!(m.pending(), 0);
        m.mark(500, 500);
        assert_eq!(m.pending(), 0);
    }

    #[test]
    fn too_many_ranges_merge_and_overcount_never_undercount() {
        let mut m = ReplyMarks::default();
        let mut exact = 0;
        for i in 0..100u64 {
            m.mark(i * 10, i * 10 + 5);
            exact += 5;
        }
        assert!(m.ranges.len() <= MAX_RANGES);
        assert!(m.pending() >= exact && m.pending() <= 1000);
        m.written(1000);
        assert_eq!(m.pending(), 0);
        m.mark(2000, 2100);
        m.clear();
        assert_eq!(m.pending(), 0);
    }
}
