//! A short, seeded fuzz run of every decoder (the CI part of fuzzing; the
//! coverage-guided runs are `fuzz/`, nightly): random bytes and mutations of
//! valid encodings must never panic.
//!
//! Replay a failing case with `FUZZ_SEED=<seed> cargo nextest run fuzz_smoke`.
//! `FUZZ_ITERS=<n>` (default 1500) sets the cases per target and
//! `FUZZ_TARGETS=a,b` limits the run to some targets, for longer runs on a
//! stable toolchain. The committed seed corpus of `fuzz/corpus/<target>/`
//! (also where `cargo fuzz run` starts) is replayed too; regenerate it with
//! `cargo test --test fuzz_smoke -- --ignored write_fuzz_corpus`, and add a
//! crashing input there as `regression-<name>` once its bug is fixed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use pollmsgr::fuzzing::{seed_corpus, Target, TARGETS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Cases per target unless `FUZZ_ITERS` says otherwise.
const DEFAULT_ITERS: usize = 1500;

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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The targets to run: all, or those `FUZZ_TARGETS` names.
fn selected_targets() -> Vec<&'static Target> {
    let only = std::env::var("FUZZ_TARGETS").ok();
    let only: Option<Vec<&str>> = only.as_deref().map(|s| s.split(',').collect());
    let picked: Vec<&Target> = TARGETS
        .iter()
        .filter(|(name, _)| only.as_ref().is_none_or(|o| o.contains(name)))
        .collect();
    assert!(!picked.is_empty(), "FUZZ_TARGETS names no target");
    picked
}

#[test]
fn fuzz_smoke_every_decoder_survives_random_and_mutated_input() {
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let iters: usize = std::env::var("FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ITERS);
    eprintln!("fuzz smoke seed {seed} (replay with FUZZ_SEED={seed}), {iters} cases per target");
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, target) in selected_targets() {
        let corpus = seed_corpus(name);
        let start = Instant::now();
        for i in 0..iters {
            let input = if corpus.is_empty() || i % 3 == 0 {
                let len = rng.gen_range(0..512);
                (0..len).map(|_| rng.gen()).collect()
            } else {
                mutate(&mut rng, &corpus[i % corpus.len()])
            };
            let result = std::panic::catch_unwind(|| target(&input));
            assert!(
                result.is_ok(),
                "target {name} panicked (seed {seed}, case {i}) on input {}",
                hex(&input)
            );
        }
        eprintln!("  {name}: {iters} cases in {:.2?}", start.elapsed());
    }
}

#[test]
fn fuzz_smoke_seed_corpora_are_valid() {
    // The corpora must decode, or mutation fuzzing starts from garbage
    // (the OSD targets' seeds are checked in `pollmsgr::fuzzing`'s tests).
    assert!(!seed_corpus("frame_rev1_crc").is_empty());
    assert!(!seed_corpus("connection_acceptor").is_empty());
    for v in seed_corpus("header2") {
        assert!(pollmsgr::wire::header2::MsgHeader2Repr::parse(&v).is_ok());
    }
    for &name in pollmsgr::fuzzing::OSD_TARGETS {
        assert!(!seed_corpus(name).is_empty(), "{name} has no seeds");
    }
    let crush_seeds = seed_corpus("crush_map");
    assert!(!crush_seeds.is_empty());
    for v in crush_seeds {
        let map = pollmsgr::osdmap::crush::CrushMap::parse(&v).unwrap();
        assert!(map.rules().count() > 0);
    }
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
}

#[test]
fn fuzz_smoke_committed_corpus_replays() {
    // Every committed seed and regression input of every target must pass,
    // and every target has seeds, committed for cargo fuzz.
    for (name, target) in TARGETS {
        let dir = corpus_root().join(name);
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        assert!(!seed_corpus(name).is_empty(), "{name} has no seeds");
        assert!(
            !files.is_empty(),
            "{} has no committed corpus: run `cargo test --test fuzz_smoke -- --ignored write_fuzz_corpus`",
            dir.display()
        );
        for f in files {
            let input = std::fs::read(&f).unwrap();
            let result = std::panic::catch_unwind(|| target(&input));
            assert!(
                result.is_ok(),
                "target {name} panicked on {} ({})",
                f.display(),
                hex(&input)
            );
        }
    }
}

/// Writes `fuzz/corpus/<target>/seed-<n>` from [`seed_corpus`], replacing
/// the old seeds (other files, such as `regression-*`, stay).
#[test]
#[ignore = "regenerates the committed corpus"]
fn write_fuzz_corpus() {
    for (name, _) in TARGETS {
        let seeds = seed_corpus(name);
        if seeds.is_empty() {
            continue;
        }
        let dir = corpus_root().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let stale = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"));
            if stale {
                std::fs::remove_file(p).unwrap();
            }
        }
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
        }
        eprintln!("{}: {} seeds", dir.display(), seeds.len());
    }
}
