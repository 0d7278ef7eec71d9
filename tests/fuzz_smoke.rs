//! A short, seeded fuzz run of every decoder (the CI part of fuzzing; the
//! coverage-guided runs are `fuzz/`, nightly): random bytes and mutations of
//! valid encodings must never panic.
//!
//! Replay a failing case with `FUZZ_SEED=<seed> cargo nextest run fuzz_smoke`.

use pollmsgr::fuzzing::{seed_corpus, TARGETS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        match rng.gen_range(0..5) {
            0 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] = [0x00, 0xff, 0x7f, 0x80][rng.gen_range(0..4)];
            }
            2 if !v.is_empty() => v.truncate(rng.gen_range(0..v.len())),
            3 => {
                let i = rng.gen_range(0..=v.len());
                let extra: Vec<u8> = (0..rng.gen_range(1..16)).map(|_| rng.gen()).collect();
                v.splice(i..i, extra);
            }
            _ if v.len() >= 4 => {
                // Overwrite a would-be length field with a large value.
                let i = rng.gen_range(0..v.len() - 3);
                v[i..i + 4].copy_from_slice(&rng.gen_range(0x1000u32..=u32::MAX).to_le_bytes());
            }
            _ => v.push(rng.gen()),
        }
    }
    v
}

#[test]
fn fuzz_smoke_every_decoder_survives_random_and_mutated_input() {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("fuzz smoke seed {seed} (replay with FUZZ_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, target) in TARGETS {
        let corpus = seed_corpus(name);
        for i in 0..1500 {
            let input = if corpus.is_empty() || i % 3 == 0 {
                let len = rng.gen_range(0..512);
                (0..len).map(|_| rng.gen()).collect()
            } else {
                mutate(&mut rng, &corpus[i % corpus.len()])
            };
            let result = std::panic::catch_unwind(|| target(&input));
            assert!(
                result.is_ok(),
                "target {name} panicked (seed {seed}, case {i}) on input {:02x?}",
                input
            );
        }
    }
}

#[test]
fn fuzz_smoke_seed_corpora_are_valid() {
    // The corpora must decode, or mutation fuzzing starts from garbage.
    assert!(!seed_corpus("frame_rev1_crc").is_empty());
    assert!(!seed_corpus("connection_acceptor").is_empty());
    for v in seed_corpus("header2") {
        assert!(pollmsgr::wire::header2::MsgHeader2Repr::parse(&v).is_ok());
    }
}
