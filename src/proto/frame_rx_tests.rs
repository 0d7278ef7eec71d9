//! The receive path of [`super::frame::FrameDecoder`] under arbitrary
//! chunking: segments (crc) and encrypted chunks (secure) go straight into
//! the buffers they end in, whatever the transport's chunk boundaries; the
//! caller only ever buffers a small stage; recycled buffers never show an
//! earlier frame's bytes.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::frame::tests::{encode, pair, Format, FORMATS};
use super::frame::{
    Decoded, Frame, FrameDecoder, FrameError, FrameLimits, SECURE_REV1_PREAMBLE_BLOCK_LEN,
};
use crate::crypto::CryptoError;
use crate::wire::{Revision, Tag};

/// The largest stage a caller may have to hold: the msgr2.1 secure preamble block.
const LARGEST_SMALL_STAGE: usize = SECURE_REV1_PREAMBLE_BLOCK_LEN;

fn limits() -> FrameLimits {
    FrameLimits {
        max_segment_len: [u32::MAX; 4],
        ..FrameLimits::default()
    }
}

/// What feeding one stream in chunks cost the caller.
struct Fed {
    frames: Vec<Frame>,
    /// Bytes the caller had to keep because the decoder did not take them.
    held: usize,
    /// Plaintext the decoder copied a second time.
    recopied: u64,
}

/// Feeds `wire` as a transport would hand it over, in chunks ending at
/// `cuts`, holding only what the decoder leaves (as `Connection` does), and
/// checks after every call that what is left is a part of a small stage.
fn feed(d: &mut FrameDecoder, wire: &[u8], cuts: &[usize]) -> Fed {
    let mut fed = Fed {
        frames: Vec::new(),
        held: 0,
        recopied: 0,
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&wire.len())) {
        pending.extend_from_slice(&wire[from..to]);
        from = to;
        loop {
            let (used, r) = d.decode(&pending).expect("a valid stream decodes");
            pending.drain(..used);
            fed.recopied += d.take_recopied();
            match r {
                Decoded::Frame(f) => fed.frames.push(f),
                Decoded::Aborted => panic!("nothing was aborted"),
                Decoded::NeedMore => break,
            }
        }
        if !pending.is_empty() {
            assert!(
                !d.takes_partial_input(),
                "a piecewise stage left {} bytes with the caller",
                pending.len()
            );
            assert!(pending.len() < d.next_need() && d.next_need() <= LARGEST_SMALL_STAGE);
        }
        fed.held += pending.len();
    }
    assert!(pending.is_empty() && d.at_frame_boundary());
    fed
}

/// Message-shaped frames: header, optional front, empty middle, data.
fn message(rng: &mut StdRng, front: bool, data_len: usize) -> Vec<Vec<u8>> {
    let front_len = if front { rng.gen_range(1..300) } else { 0 };
    let mut fill = |n: usize| (0..n).map(|_| rng.gen::<u8>()).collect::<Vec<u8>>();
    vec![fill(41), fill(front_len), Vec::new(), fill(data_len)]
}

fn check_stream(f: Format, seed: u64, messages: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut e, mut d) = pair(f, limits());
    let mut sent = Vec::new();
    let mut wire = Vec::new();
    for _ in 0..messages {
        let data_len = match rng.gen_range(0..4) {
            0 => 0,
            1 => rng.gen_range(1..64),
            2 => rng.gen_range(64..5000),
            _ => rng.gen_range(60_000..140_000),
        };
        let front = rng.gen_bool(0.5);
        let segs = message(&mut rng, front, data_len);
        let refs: Vec<&[u8]> = segs.iter().map(Vec::as_slice).collect();
        wire.extend_from_slice(&encode(&mut e, Tag::Message, &refs));
        sent.push(segs);
    }
    // Cuts anywhere: inside preambles, tags, segments and epilogues alike.
    let mut cuts: Vec<usize> = (0..rng.gen_range(1..400))
        .map(|_| rng.gen_range(0..wire.len()))
        .collect();
    cuts.sort_unstable();
    let fed = feed(&mut d, &wire, &cuts);
    assert_eq!(fed.frames.len(), sent.len());
    let mut expect_recopied = 0u64;
    for (got, segs) in fed.frames.iter().zip(&sent) {
        for (i, seg) in segs.iter().enumerate() {
            assert_eq!(got.segment(i), &seg[..], "{f:?} seed {seed} segment {i}");
        }
        expect_recopied += match f {
            Format::Crc(_) => 0,
            // msgr2.0 secure decrypts the whole frame in one buffer.
            Format::Secure(Revision::V2_0) => segs.iter().map(|s| s.len() as u64).sum(),
            // msgr2.1 secure: the tail decrypts in the first non-empty
            // segment's buffer; later segments are moved out of it.
            Format::Secure(Revision::V2_1) => {
                let owner = (1..4).find(|&i| !segs[i].is_empty());
                owner.map_or(0, |o| segs[o + 1..].iter().map(|s| s.len() as u64).sum())
            }
        };
    }
    assert_eq!(fed.recopied, expect_recopied, "{f:?} seed {seed}");
    // At most a small stage per cut stays with the caller.
    assert!(fed.held <= (cuts.len() + 1) * LARGEST_SMALL_STAGE);
}

#[test]
fn chunk_boundaries_anywhere_in_all_four_formats() {
    for f in FORMATS {
        for seed in 0..6 {
            check_stream(f, seed, 12);
        }
    }
}

#[test]
fn a_64k_data_segment_in_msgr21_secure_is_gathered_and_decrypted_in_its_own_buffer() {
    let f = Format::Secure(Revision::V2_1);
    let (mut e, mut d) = pair(f, limits());
    let data = vec![0x5au8; 64 << 10];
    let wire = encode(&mut e, Tag::Message, &[&[1u8; 41], &[], &[], &data]);
    // Packet-sized pieces, as a TCP stack hands them over.
    let cuts: Vec<usize> = (1..wire.len() / 1448 + 1).map(|i| i * 1448).collect();
    let fed = feed(&mut d, &wire, &cuts);
    assert_eq!(fed.frames[0].segment(3), &data[..]);
    assert_eq!(
        fed.recopied, 0,
        "no plaintext is copied out of the data buffer"
    );
    // Only the preamble block can straddle a cut.
    assert!(fed.held < 2 * LARGEST_SMALL_STAGE, "held {}", fed.held);
}

/// A msgr2.1 chunk decrypted piece by piece as it arrives is still
/// authenticated whole: one flipped bit anywhere in it (ciphertext or tag,
/// with the cuts anywhere) fails it with `BadTag` and yields no frame.
#[test]
fn a_chunk_decrypted_in_pieces_fails_its_tag_on_any_flipped_bit() {
    let f = Format::Secure(Revision::V2_1);
    let mut rng = StdRng::seed_from_u64(9);
    let data: Vec<u8> = (0..70_000).map(|_| rng.gen()).collect();
    let (mut e, _) = pair(f, limits());
    let wire = encode(&mut e, Tag::Message, &[&[1u8; 41], &[7u8; 100], &[], &data]);
    // Past the preamble block: the tail chunk (front, data, epilogue, tag).
    let tail = SECURE_REV1_PREAMBLE_BLOCK_LEN..wire.len();
    for flip in [
        tail.start,
        tail.start + 5000,
        wire.len() - 17,
        wire.len() - 9,
        wire.len() - 1,
    ] {
        for seed in 0..3u64 {
            let mut bad = wire.clone();
            bad[flip] ^= 0x10;
            let (_, mut d) = pair(f, limits());
            let mut rng = StdRng::seed_from_u64(seed);
            let mut cuts: Vec<usize> = (0..20).map(|_| rng.gen_range(tail.clone())).collect();
            cuts.sort_unstable();
            let mut pending = Vec::new();
            let mut from = 0;
            let mut result = Ok(());
            'feed: for &to in cuts.iter().chain(std::iter::once(&bad.len())) {
                pending.extend_from_slice(&bad[from..to]);
                from = to;
                // Until the tag fails, every input leaves the frame incomplete.
                match d.decode(&pending) {
                    Err(err) => {
                        result = Err(err);
                        break 'feed;
                    }
                    Ok((used, Decoded::NeedMore)) => {
                        pending.drain(..used);
                    }
                    Ok((_, other)) => panic!("flip at {flip} yielded {other:?}"),
                }
            }
            assert_eq!(
                result,
                Err(FrameError::Crypto(CryptoError::BadTag)),
                "flip at {flip} seed {seed}"
            );
        }
    }
}

#[test]
fn recycled_buffers_never_show_an_earlier_frames_bytes() {
    for f in FORMATS {
        let (mut e, mut d) = pair(f, limits());
        let big: Vec<&[u8]> = vec![&[0xee; 200], &[0xee; 3000], &[0xee; 70], &[0xee; 90_000]];
        let wire = encode(&mut e, Tag::Message, &big);
        let mut fed = feed(&mut d, &wire, &[]);
        d.recycle(fed.frames.remove(0));
        for (i, len) in [(1u8, 10usize), (2, 1), (3, 47), (4, 49), (5, 5000)] {
            let small: Vec<u8> = vec![i; len];
            let segs: Vec<&[u8]> = vec![&small, &small, &[], &small];
            let wire = encode(&mut e, Tag::Message, &segs);
            let mut fed = feed(&mut d, &wire, &[len / 2]);
            let got = fed.frames.remove(0);
            for (j, seg) in segs.iter().enumerate() {
                assert_eq!(got.segment(j), *seg, "{f:?} frame {i} segment {j}");
            }
            d.recycle(got);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Seeded streams and cuts, all four formats.
    #[test]
    fn prop_chunk_boundaries_anywhere(seed in any::<u64>()) {
        for f in FORMATS {
            check_stream(f, seed, 4);
        }
    }
}
