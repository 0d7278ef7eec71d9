//! The bytes a connection has to send: a chain of owned chunks (preambles,
//! control frames, CRCs, secure frames) and lent chunks (large message
//! payloads, refcounted), so a crc-mode message goes from the handler's
//! buffer to the transport without a copy above the TCP stack.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;

use super::frame::{FrameError, FrameOut};

/// Payload segments at least this long are lent rather than copied: below
/// it, copying costs less than the extra transport write a separate chunk
/// takes (a kernel `write` per chunk).
pub const LEND_THRESHOLD: usize = 16 * 1024;

#[derive(Debug)]
enum Chunk {
    Owned(Vec<u8>),
    Lent(Bytes),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Lent(b) => b,
        }
    }
}

/// Pending transmit bytes, in order.
#[derive(Debug, Default)]
pub struct TxChain {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    front_done: usize,
    /// Pending bytes in all chunks.
    len: usize,
    /// Payloads of the message being encoded, by segment index, that may be lent.
    lendable: [Option<Bytes>; 4],
    /// Payload bytes lent (not copied) since [`TxChain::take_lent`].
    lent: u64,
}

impl TxChain {
    /// The next bytes to write (the unwritten part of the front chunk).
    pub fn pending(&self) -> &[u8] {
        self.chunks
            .front()
            .map_or(&[][..], |c| c.bytes().get(self.front_done..).unwrap_or(&[]))
    }

    /// Fills `out` with the pending bytes in order (the unwritten part of
    /// the front chunk, then whole chunks), as many chunks as fit; returns
    /// how many it filled. For a vectored write.
    pub fn pending_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let front = std::iter::once(self.pending());
        let rest = self.chunks.iter().skip(1).map(Chunk::bytes);
        let mut n = 0;
        for (slot, b) in out.iter_mut().zip(front.chain(rest)) {
            if b.is_empty() {
                break;
            }
            *slot = IoSlice::new(b);
            n += 1;
        }
        n
    }

    /// Marks the first `n` pending bytes as written (they may span chunks,
    /// after a vectored write).
    pub fn consumed(&mut self, n: usize) {
        let n = n.min(self.len);
        self.front_done += n;
        self.len -= n;
        // No exhausted chunk stays in front: `pending` is always the next bytes.
        while let Some(f) = self.chunks.front() {
            let flen = f.bytes().len();
            if self.front_done < flen {
                break;
            }
            self.front_done -= flen;
            self.chunks.pop_front();
        }
    }

    /// Pending bytes in all chunks.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Drops everything pending (the transport is gone).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.front_done = 0;
        self.len = 0;
    }

    /// The owned chunk at the end, to append to (a new one after a lent chunk).
    pub fn tail(&mut self) -> &mut Vec<u8> {
        if !matches!(self.chunks.back(), Some(Chunk::Owned(_))) {
            self.chunks.push_back(Chunk::Owned(Vec::new()));
        }
        match self.chunks.back_mut() {
            Some(Chunk::Owned(v)) => v,
            // Just ensured above; an empty chain gets a chunk too.
            _ => unreachable!("tail chunk is owned"),
        }
    }

    /// Appends bytes the caller wrote into [`TxChain::tail`] to the length.
    fn grew(&mut self, by: usize) {
        self.len += by;
    }

    /// Appends owned bytes.
    pub fn push(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        self.tail().extend_from_slice(b);
        self.grew(b.len());
    }

    /// Runs `encode` with the owned tail, accounting for what it appends.
    pub fn with_tail<R>(&mut self, encode: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let tail = self.tail();
        let before = tail.len();
        let r = encode(tail);
        let after = tail.len();
        if after == 0 {
            // Nothing was written (an error truncated it): no empty chunk stays.
            self.chunks.pop_back();
        }
        // Encoders only append, or truncate back to where they started.
        self.len = self.len + after - before.min(after);
        r
    }

    /// Payload bytes lent to the transport since the last call.
    pub fn take_lent(&mut self) -> u64 {
        std::mem::take(&mut self.lent)
    }

    /// Offers the payloads of the next message for lending, by segment index.
    pub fn lend(&mut self, segments: [Option<Bytes>; 4]) {
        self.lendable = segments;
    }
}

impl FrameOut for TxChain {
    fn bytes(&mut self, b: &[u8]) {
        self.push(b);
    }

    fn segment(&mut self, index: usize, s: &[u8]) {
        let lent = self
            .lendable
            .get_mut(index)
            .and_then(Option::take)
            .filter(|b| {
                s.len() >= LEND_THRESHOLD && b.as_ptr() == s.as_ptr() && b.len() == s.len()
            });
        match lent {
            Some(b) => {
                self.len += b.len();
                self.lent += b.len() as u64;
                self.chunks.push_back(Chunk::Lent(b));
            }
            None => self.push(s),
        }
    }

    fn with_owned(
        &mut self,
        f: &mut dyn FnMut(&mut Vec<u8>) -> Result<(), FrameError>,
    ) -> Result<(), FrameError> {
        self.with_tail(|v| f(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_segments_are_lent_small_ones_copied_order_kept() {
        let big = Bytes::from(vec![7u8; LEND_THRESHOLD]);
        let small = Bytes::from_static(b"small");
        let mut c = TxChain::default();
        c.push(b"head");
        c.lend([None, Some(small.clone()), None, Some(big.clone())]);
        c.segment(1, &small);
        c.segment(3, &big);
        c.bytes(b"tail");
        assert_eq!(c.len(), 4 + 5 + LEND_THRESHOLD + 4);
        let mut out = Vec::new();
        let mut chunks = 0;
        while c.len() > 0 {
            let p = c.pending().to_vec();
            out.extend_from_slice(&p);
            c.consumed(p.len());
            chunks += 1;
        }
        assert_eq!(chunks, 3, "head+small, big (lent), tail");
        let mut want = b"headsmall".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"tail");
        assert_eq!(out, want);
    }

    #[test]
    fn lent_chunk_points_at_the_callers_buffer() {
        let big = Bytes::from(vec![1u8; LEND_THRESHOLD * 2]);
        let mut c = TxChain::default();
        c.lend([None, None, None, Some(big.clone())]);
        c.segment(3, &big);
        assert_eq!(
            c.pending().as_ptr(),
            big.as_ptr(),
            "no copy above the transport"
        );
        c.consumed(100);
        assert_eq!(c.pending().len(), big.len() - 100);
    }

    /// A vectored write sees every chunk in order, and a count that ends
    /// inside a later chunk leaves exactly the rest pending.
    #[test]
    fn vectored_writes_span_chunks_and_partial_counts_resume() {
        let big = Bytes::from((0..LEND_THRESHOLD).map(|i| i as u8).collect::<Vec<u8>>());
        let mut c = TxChain::default();
        c.push(b"head");
        c.lend([None, None, None, Some(big.clone())]);
        c.segment(3, &big);
        c.bytes(b"tail");
        let mut want = b"head".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"tail");
        let mut iov = [IoSlice::new(&[]); 8];
        assert_eq!(c.pending_slices(&mut iov), 3);
        assert_eq!(iov[1].as_ptr(), big.as_ptr(), "the lent chunk is lent");
        // Too few slots: as many as fit.
        assert_eq!(c.pending_slices(&mut iov[..2]), 2);
        let mut out = Vec::new();
        // Writes of 7 bytes, then 9,000, then the rest: each ends mid-chunk.
        for n in [7usize, 9_000, usize::MAX] {
            let mut iov = [IoSlice::new(&[]); 8];
            let k = c.pending_slices(&mut iov);
            let flat: Vec<u8> = iov[..k].iter().flat_map(|s| s.iter().copied()).collect();
            let n = n.min(flat.len());
            out.extend_from_slice(&flat[..n]);
            c.consumed(n);
        }
        assert_eq!(out, want);
        let mut none = [IoSlice::new(&[]); 8];
        assert_eq!((c.len(), c.pending_slices(&mut none)), (0, 0));
    }
}
