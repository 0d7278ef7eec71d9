//! The bytes a connection has to send: a chain of owned chunks (preambles,
//! control frames, CRCs, secure frames), lent chunks (large crc-mode message
//! payloads, refcounted), and, where the transport has a send buffer to seal
//! in, secure chunks with a large payload queued unsealed ([`SealRun`]). A
//! crc-mode message goes from the handler's buffer to the transport without
//! a copy above the TCP stack; a secure one is copied into the transport's
//! send buffer and encrypted there.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;

use super::frame::{FrameError, FrameOut};
use super::reply_marks::ReplyMarks;
use super::seal_run::SealRun;
use crate::crypto::CryptoError;

/// Payload segments at least this long are lent rather than copied: below
/// it, copying costs less than the extra transport write a separate chunk
/// takes (a kernel `write` per chunk).
pub const LEND_THRESHOLD: usize = 16 * 1024;

#[derive(Debug)]
enum Chunk {
    Owned(Vec<u8>),
    Lent(Bytes),
    /// Not sealed yet: no bytes until [`TxChain::fill`] seals it into the
    /// transport's buffer or [`TxChain::seal_all`] into an owned chunk.
    Unsealed(Box<SealRun>),
}

impl Chunk {
    /// The chunk's bytes; none for an unsealed chunk.
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Lent(b) => b,
            Chunk::Unsealed(_) => &[],
        }
    }

    /// Bytes the chunk puts on the wire (an unsealed one, once sealed).
    fn wire_len(&self) -> usize {
        match self {
            Chunk::Unsealed(run) => run.wire_len(),
            other => other.bytes().len(),
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
    /// Queue large secure payloads unsealed (the transport seals into its
    /// send buffer with [`TxChain::fill`]).
    seal_late: bool,
    /// Payload bytes of unsealed chunks that were sealed into owned chunks
    /// after all (counted as lent when queued), since [`TxChain::take_resealed`].
    resealed: u64,
    /// Owned bytes the frame being encoded will append ([`TxChain::expect`]).
    expected: usize,
    /// Bytes written since the chain was made: the stream position of the
    /// first pending byte.
    written: u64,
    /// Which pending bytes are replies to the peer ([`TxChain::mark_replies`]).
    replies: ReplyMarks,
    /// The last written owned chunk's buffer, emptied, for the next tail:
    /// a busy connection appends its frames without a malloc/free per frame.
    spare: Vec<u8>,
}

/// Owned chunks from this capacity up to [`MAX_SPARE_CAPACITY`] are kept as
/// [`TxChain`]'s spare. Smaller ones are freed: malloc serves them from its
/// per-thread cache quickly, and a session that only shook hands and idles
/// keeps no buffer (idle sessions are held to a few KiB each).
const MIN_SPARE_CAPACITY: usize = 2 << 10;
/// A larger owned chunk (a big front, a sealed 64 KiB frame) is freed once
/// written rather than held by the connection.
const MAX_SPARE_CAPACITY: usize = 64 << 10;

impl TxChain {
    /// A chain that queues large secure payloads unsealed when `seal_late`
    /// (its driver writes with [`TxChain::fill`]).
    pub fn new(seal_late: bool) -> Self {
        TxChain {
            seal_late,
            ..TxChain::default()
        }
    }

    /// Whether new secure frames queue large payloads unsealed.
    pub fn set_seal_late(&mut self, on: bool) {
        self.seal_late = on;
    }

    /// The next bytes to write (the unwritten part of the front chunk;
    /// nothing while an unsealed chunk is in front: see [`TxChain::seal_all`]).
    pub fn pending(&self) -> &[u8] {
        self.chunks
            .front()
            .map_or(&[][..], |c| c.bytes().get(self.front_done..).unwrap_or(&[]))
    }

    /// Fills `out` with the pending bytes in order (the unwritten part of
    /// the front chunk, then whole chunks), as many chunks as fit, up to an
    /// unsealed chunk; returns how many it filled. For a vectored write.
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
        self.written += n as u64;
        self.replies.written(self.written);
        // No exhausted chunk stays in front: `pending` is always the next bytes.
        while let Some(f) = self.chunks.front() {
            let flen = f.wire_len();
            if self.front_done < flen {
                break;
            }
            self.front_done -= flen;
            if let Some(Chunk::Owned(v)) = self.chunks.pop_front() {
                self.keep_spare(v);
            }
        }
    }

    /// Pending bytes in all chunks (unsealed ones at their sealed length).
    pub fn len(&self) -> usize {
        self.len
    }

    /// The stream position after the last byte queued (bytes ever queued).
    pub fn queued(&self) -> u64 {
        self.written + self.len as u64
    }

    /// Marks the bytes queued since stream position `from` (an earlier
    /// [`TxChain::queued`]) as replies to the peer's requests.
    pub fn mark_replies(&mut self, from: u64) {
        let to = self.queued();
        self.replies.mark(from, to);
    }

    /// Pending bytes that are replies to the peer's requests.
    pub fn replies_pending(&self) -> usize {
        self.replies.pending().min(self.len)
    }

    /// Seals every unsealed chunk into an owned one, so [`TxChain::pending`]
    /// and [`TxChain::pending_slices`] cover everything (for a transport
    /// without a send buffer to seal in).
    pub fn seal_all(&mut self) -> Result<(), CryptoError> {
        for c in self.chunks.iter_mut() {
            if let Chunk::Unsealed(run) = c {
                self.resealed += run.body_len() as u64;
                *c = Chunk::Owned(run.seal_to_vec()?);
            }
        }
        Ok(())
    }

    /// Writes pending bytes into `window` (a transport's free send space)
    /// and marks them written; returns how many. An unsealed chunk that fits
    /// is copied in and sealed there; one that does not is sealed into an
    /// owned chunk first and written in part. The bytes written before an
    /// error are valid and counted.
    pub fn fill(&mut self, window: &mut [u8]) -> (usize, Result<(), CryptoError>) {
        let mut at = 0;
        while at < window.len() {
            let free = window.len() - at;
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if let Chunk::Unsealed(run) = front {
                let need = run.wire_len();
                if need <= free {
                    if let Err(e) = run.seal_into(&mut window[at..at + need]) {
                        return (at, Err(e));
                    }
                    at += need;
                    self.consumed(need);
                    continue;
                }
                self.resealed += run.body_len() as u64;
                match run.seal_to_vec() {
                    Ok(v) => *front = Chunk::Owned(v),
                    Err(e) => return (at, Err(e)),
                }
            }
            let src = self.pending();
            let n = src.len().min(free);
            window[at..at + n].copy_from_slice(&src[..n]);
            at += n;
            self.consumed(n);
        }
        (at, Ok(()))
    }

    /// Payload bytes that were queued unsealed and then sealed into owned
    /// chunks (a second copy after all) since the last call.
    pub fn take_resealed(&mut self) -> u64 {
        std::mem::take(&mut self.resealed)
    }

    /// Drops everything pending (the transport is gone).
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.front_done = 0;
        self.written += self.len as u64;
        self.len = 0;
        self.replies.clear();
    }

    /// The owned chunk at the end, to append to (a new one after a lent chunk).
    pub fn tail(&mut self) -> &mut Vec<u8> {
        let expected = std::mem::take(&mut self.expected);
        if !matches!(self.chunks.back(), Some(Chunk::Owned(_))) {
            // `spare` is empty (cleared when kept); `reserve` below sizes it.
            let spare = std::mem::take(&mut self.spare);
            self.chunks.push_back(Chunk::Owned(spare));
        }
        match self.chunks.back_mut() {
            Some(Chunk::Owned(v)) => {
                v.reserve(expected);
                v
            }
            // Just ensured above; an empty chain gets a chunk too.
            _ => unreachable!("tail chunk is owned"),
        }
    }

    /// Keeps a written owned chunk's buffer for the next tail if it is the
    /// largest seen within [`MIN_SPARE_CAPACITY`]..=[`MAX_SPARE_CAPACITY`].
    fn keep_spare(&mut self, mut v: Vec<u8>) {
        let cap = v.capacity();
        if cap > self.spare.capacity() && (MIN_SPARE_CAPACITY..=MAX_SPARE_CAPACITY).contains(&cap) {
            v.clear();
            self.spare = v;
        }
    }

    /// Says that about `n` owned bytes are about to be appended (one frame),
    /// so the tail grows once for them rather than once per segment. Taken
    /// by the next append; reserves nothing by itself.
    pub fn expect(&mut self, n: usize) {
        self.expected = n;
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
            if let Some(Chunk::Owned(v)) = self.chunks.pop_back() {
                self.keep_spare(v);
            }
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

    /// The offered payload of segment `index`, if `s` is it and it is long
    /// enough to be worth a chunk of its own.
    fn take_lendable(&mut self, index: usize, s: &[u8]) -> Option<Bytes> {
        self.lendable
            .get_mut(index)
            .and_then(Option::take)
            .filter(|b| s.len() >= LEND_THRESHOLD && b.as_ptr() == s.as_ptr() && b.len() == s.len())
    }
}

impl FrameOut for TxChain {
    fn bytes(&mut self, b: &[u8]) {
        self.push(b);
    }

    fn segment(&mut self, index: usize, s: &[u8]) {
        match self.take_lendable(index, s) {
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

    fn lendable(&mut self, index: usize, s: &[u8]) -> Option<Bytes> {
        if !self.seal_late {
            return None;
        }
        self.take_lendable(index, s)
    }

    fn seal_later(&mut self, run: SealRun) -> Result<(), FrameError> {
        self.len += run.wire_len();
        self.lent += run.body_len() as u64;
        self.chunks.push_back(Chunk::Unsealed(Box::new(run)));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::crypto::{session_ciphers, NonceCounter, Role};
    use crate::proto::frame::FrameEncoder;
    use crate::wire::{Revision, Tag};

    /// An encoder whose cipher is the same as every other one built here.
    fn secure_encoder(rev: Revision) -> FrameEncoder {
        let counter = match rev {
            Revision::V2_0 => NonceCounter::Le32At0,
            Revision::V2_1 => NonceCounter::Le64At4,
        };
        let (tx, _) = session_ciphers(&[0x5A; 64], Role::Connector, counter).expect("ciphers");
        let mut e = FrameEncoder::new(rev);
        e.set_cipher(tx);
        e
    }

    /// Messages with payloads on both sides of the lending threshold, and a
    /// control frame between them: (tag, [header, front, middle, data]).
    fn frames() -> Vec<(Tag, [Bytes; 4])> {
        let b = |n: usize, v: u8| Bytes::from(vec![v; n]);
        vec![
            (Tag::Message, [b(41, 1), b(100, 2), b(0, 0), b(70_000, 3)]),
            (Tag::Keepalive2, [b(12, 4), b(0, 0), b(0, 0), b(0, 0)]),
            (
                Tag::Message,
                [b(41, 5), b(0, 0), b(0, 0), b(LEND_THRESHOLD, 6)],
            ),
            (Tag::Message, [b(41, 7), b(300, 8), b(0, 0), b(4096, 9)]),
            (
                Tag::Message,
                [b(41, 10), b(20_000, 11), b(5, 12), b(17_000, 13)],
            ),
        ]
    }

    /// Payload bytes [`frames`] queues unsealed: the first large segment of
    /// each message (70 KB, 16 KiB, and the last one's 20 KB front; its
    /// 17 KB data segment is sealed with it, copied).
    const UNSEALED: u64 = 70_000 + LEND_THRESHOLD as u64 + 20_000;

    fn encode_all(rev: Revision, chain: &mut TxChain) {
        let mut e = secure_encoder(rev);
        for (tag, segs) in frames() {
            chain.lend([
                None,
                Some(segs[1].clone()),
                Some(segs[2].clone()),
                Some(segs[3].clone()),
            ]);
            let refs: Vec<&[u8]> = segs.iter().map(|s| &s[..]).collect();
            e.encode_to(tag, &refs, chain).expect("encode");
            chain.lend(Default::default());
        }
    }

    /// Secure frames queued unsealed and sealed into windows of any size
    /// (some too small for a chunk, which is then sealed in an owned
    /// buffer) put exactly the bytes on the wire that sealing at encode
    /// time does, in both revisions; so does `seal_all`.
    #[test]
    fn chunks_sealed_in_the_window_match_chunks_sealed_when_queued() {
        for rev in [Revision::V2_0, Revision::V2_1] {
            let mut e = secure_encoder(rev);
            let mut want = Vec::new();
            for (tag, segs) in frames() {
                let refs: Vec<&[u8]> = segs.iter().map(|s| &s[..]).collect();
                e.encode(tag, &refs, &mut want).expect("encode");
            }
            for seed in 0..20u64 {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
                let mut chain = TxChain::new(true);
                encode_all(rev, &mut chain);
                assert_eq!(chain.len(), want.len(), "{rev:?}");
                assert_eq!(chain.take_lent(), UNSEALED);
                let mut got = Vec::new();
                while chain.len() > 0 {
                    let limit = if rng.gen_bool(0.5) { 5000 } else { 120_000 };
                    let mut window = vec![0u8; rng.gen_range(1..=limit)];
                    let (n, res) = chain.fill(&mut window);
                    res.expect("seal");
                    assert!(n > 0, "{rev:?} seed {seed}: a window took nothing");
                    got.extend_from_slice(&window[..n]);
                }
                assert!(got == want, "{rev:?} seed {seed}: bytes differ");
                assert!(chain.take_resealed() <= UNSEALED);
            }
            let mut chain = TxChain::new(true);
            encode_all(rev, &mut chain);
            assert!(
                chain.pending().len() < want.len(),
                "stops at an unsealed chunk"
            );
            chain.seal_all().expect("seal");
            assert_eq!(chain.take_resealed(), UNSEALED);
            let mut got = Vec::new();
            while chain.len() > 0 {
                let p = chain.pending().to_vec();
                got.extend_from_slice(&p);
                chain.consumed(p.len());
            }
            assert!(got == want, "{rev:?} seal_all: bytes differ");
        }
    }

    /// A frame announced with `expect` is appended into one allocation, and
    /// the announcement is used once: it changes no byte.
    #[test]
    fn an_expected_frame_grows_the_tail_once() {
        let mut chain = TxChain::default();
        chain.expect(4096 + 100);
        chain.push(&[1; 32]);
        let at = chain.tail().as_ptr();
        for piece in [&[2u8; 41][..], &[3; 27], &[4; 4096]] {
            chain.push(piece);
        }
        assert_eq!(chain.tail().as_ptr(), at, "the tail was reallocated");
        assert_eq!(chain.len(), 32 + 41 + 27 + 4096);
        assert_eq!(chain.pending()[..32], [1; 32]);
        assert_eq!(chain.pending()[chain.len() - 1], 4);
        assert_eq!(chain.expected, 0);
    }

    /// A window that holds a whole unsealed chunk gets it sealed in place:
    /// nothing is sealed into an owned buffer.
    #[test]
    fn a_window_that_fits_seals_in_place() {
        let mut chain = TxChain::new(true);
        encode_all(Revision::V2_1, &mut chain);
        let mut window = vec![0u8; chain.len()];
        let (n, res) = chain.fill(&mut window);
        res.expect("seal");
        assert_eq!(n, window.len());
        assert_eq!(chain.take_resealed(), 0);
    }

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

    /// A written owned chunk of a few KiB is reused for the next frame
    /// (no malloc per frame), shows none of its old bytes, and small or
    /// huge chunks are not kept.
    #[test]
    fn written_tail_buffers_are_reused_without_old_bytes() {
        let mut c = TxChain::default();
        c.push(&[0xAA; 4096]);
        let first = c.pending().as_ptr();
        c.consumed(4096);
        c.push(b"next");
        assert_eq!(c.pending(), b"next", "no byte of the previous frame");
        assert_eq!(c.pending().as_ptr(), first, "the same buffer, reused");
        c.consumed(4);

        // A handshake-sized chunk is freed, not kept.
        let mut small = TxChain::default();
        small.push(&[1; 300]);
        small.consumed(300);
        assert_eq!(small.spare.capacity(), 0);
        // So is a chunk past the cap.
        let mut big = TxChain::default();
        big.push(&vec![2; MAX_SPARE_CAPACITY + 1]);
        big.consumed(MAX_SPARE_CAPACITY + 1);
        assert_eq!(big.spare.capacity(), 0);
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
