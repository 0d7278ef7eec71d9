//! Micro-benchmark for the crypto and frame layers (one core, no I/O).
//!
//! Measures, in GB/s of payload:
//! * `seal_in_place` of every AES-128-GCM backend on 4 KiB and 64 KiB buffers,
//! * every Ceph-flavoured crc32c backend on 4 KiB and 64 KiB,
//! * sealing a chunk `head | payload | tail` from where it lies into another
//!   buffer (a transport's send buffer): copy then seal in place (aws-lc-rs)
//!   against one gathered pass (`gcm-gather`, AWS-LC's streaming API),
//! * frame encode and decode of a MESSAGE (41-byte header2 + data segment of
//!   4 KiB / 64 KiB) in msgr2.1 crc and secure modes.
//!
//! Prints a table, then one JSON object as the last stdout line.
//! `--json` prints only the JSON; `--secs S` sets the time per measurement.
//!
//! Run: `cargo run --release -p pollmsgr-bench --bin crypto`

use std::hint::black_box;
use std::time::{Duration, Instant};

use gcm_gather::GatherSealer;
use pollmsgr::checksum::{Crc32cCrate, Crc32cImpl, CrcFast, DefaultCrc32c};
use pollmsgr::crypto::gcm::{AwsLcGcm, DefaultAes128Gcm, RingGcm, RustCryptoGcm};
use pollmsgr::crypto::{session_ciphers, Aes128GcmImpl, Role};
use pollmsgr::proto::frame::{Decoded, FrameDecoder, FrameEncoder, FrameLimits};
use pollmsgr::wire::{Revision, Tag};
use serde_json::{json, Value};

const SIZES: [usize; 2] = [4 << 10, 64 << 10];

/// GB/s for each entry of [`SIZES`].
type PerSize = Vec<(usize, f64)>;
/// AES-GCM results: seal per size, copy+open per size, seal ns on 80 bytes.
type GcmRow = (PerSize, PerSize, f64);
/// crc32c results: throughput per size, ns on a 28-byte preamble.
type CrcRow = (PerSize, f64);

/// Runs `f` (which processes `bytes` payload bytes per call) repeatedly for
/// about `secs`, in three rounds, and returns the best GB/s.
fn measure(secs: f64, bytes: usize, mut f: impl FnMut()) -> f64 {
    // Warm up (page faults, CPU feature detection, caches).
    for _ in 0..16 {
        f();
    }
    let round = Duration::from_secs_f64(secs / 3.0);
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let mut iters = 0u64;
        while start.elapsed() < round {
            for _ in 0..8 {
                f();
            }
            iters += 8;
        }
        let gbps = (iters as f64 * bytes as f64) / start.elapsed().as_secs_f64() / 1e9;
        best = best.max(gbps);
    }
    best
}

/// Small-chunk cost: nanoseconds per call on an 80-byte buffer (the msgr2.1
/// secure preamble block, sealed once per frame).
fn ns_per_op(secs: f64, bytes: usize, f: impl FnMut()) -> f64 {
    let gbps = measure(secs, bytes, f);
    bytes as f64 / gbps
}

/// Sealing `48 B head | payload | 16 B tail` into a separate buffer, GB/s of
/// payload per size: (copy then seal in place, one gathered pass).
fn seal_into_other_buffer(secs: f64) -> (PerSize, PerSize) {
    let key = [7u8; 16];
    let aead = AwsLcGcm::new(&key);
    let gather = GatherSealer::new(&key).expect("AWS-LC cipher context");
    let nonce = [3u8; 12];
    let (head, tail) = ([1u8; 48], [2u8; 16]);
    let (mut copied, mut gathered) = (Vec::new(), Vec::new());
    for size in SIZES {
        let payload = vec![5u8; size];
        let mut out = vec![0u8; 48 + size + 16];
        copied.push((
            size,
            measure(secs, size, || {
                out[..48].copy_from_slice(&head);
                out[48..48 + size].copy_from_slice(&payload);
                out[48 + size..].copy_from_slice(&tail);
                black_box(aead.seal_in_place(&nonce, &mut out).expect("seal"));
            }),
        ));
        gathered.push((
            size,
            measure(secs, size, || {
                let parts: [&[u8]; 3] = [&head, &payload, &tail];
                black_box(gather.seal_gather(&nonce, &parts, &mut out).expect("seal"));
            }),
        ));
    }
    (copied, gathered)
}

/// (seal GB/s per size, open-with-copy GB/s per size, seal ns on 80 bytes).
fn gcm<G: Aes128GcmImpl>(secs: f64) -> GcmRow {
    let key = [7u8; 16];
    let g = G::new(&key);
    let nonce_for = |ctr: u64| {
        let mut nonce = [1u8; 12];
        nonce[4..].copy_from_slice(&ctr.to_le_bytes());
        nonce
    };
    let seal = SIZES
        .iter()
        .map(|&size| {
            let mut buf = vec![0x5au8; size];
            let mut ctr = 0u64;
            let gbps = measure(secs, size, || {
                ctr += 1;
                black_box(g.seal_in_place(&nonce_for(ctr), &mut buf).ok());
            });
            (size, gbps)
        })
        .collect();
    // Open needs fresh ciphertext each time: copy it in first (as the frame
    // decoder does when it moves bytes from the receive buffer).
    let open = SIZES
        .iter()
        .map(|&size| {
            let mut ct = vec![0x5au8; size];
            let tag = g.seal_in_place(&nonce_for(0), &mut ct).expect("seal");
            let mut buf = vec![0u8; size];
            let gbps = measure(secs, size, || {
                buf.copy_from_slice(&ct);
                g.open_in_place(&nonce_for(0), &mut buf, &tag)
                    .expect("open");
                black_box(&buf);
            });
            (size, gbps)
        })
        .collect();
    let mut small = [0u8; 80];
    let mut ctr = 0u64;
    let ns = ns_per_op(secs / 2.0, small.len(), || {
        ctr += 1;
        black_box(g.seal_in_place(&nonce_for(ctr), &mut small).ok());
    });
    (seal, open, ns)
}

/// (GB/s per size, ns per 28-byte preamble CRC).
fn crc<C: Crc32cImpl>(secs: f64) -> CrcRow {
    let per = SIZES
        .iter()
        .map(|&size| {
            let buf: Vec<u8> = (0..size).map(|i| (i * 31) as u8).collect();
            let gbps = measure(secs, size, || {
                black_box(C::ceph_crc32c(0xFFFF_FFFF, black_box(&buf)));
            });
            (size, gbps)
        })
        .collect();
    let pre = [0x11u8; 28];
    let ns = ns_per_op(secs / 2.0, pre.len(), || {
        black_box(C::ceph_crc32c(0, black_box(&pre)));
    });
    (per, ns)
}

/// (encode GB/s, decode GB/s, encode+decode GB/s) for one mode and size.
fn frames(secure: bool, size: usize, secs: f64) -> (f64, f64, f64) {
    let secret: Vec<u8> = (0u8..64).collect();
    let rev = Revision::V2_1;
    let make = || {
        let mut e = FrameEncoder::new(rev);
        let mut d = FrameDecoder::new(rev, FrameLimits::default());
        if secure {
            let (tx, _) = session_ciphers(&secret, Role::Connector, rev.into()).expect("secret");
            let (_, rx) = session_ciphers(&secret, Role::Acceptor, rev.into()).expect("secret");
            e.set_cipher(tx);
            d.set_cipher(rx);
        }
        (e, d)
    };
    let header = [0u8; 41];
    let data = vec![0xa5u8; size];
    let segs: [&[u8]; 4] = [&header, &[], &[], &data];
    let mut wire = Vec::with_capacity(size + 4096);

    let (mut e, _) = make();
    let enc = measure(secs, size, || {
        wire.clear();
        e.encode(Tag::Message, &segs, &mut wire).expect("encode");
        black_box(&wire);
    });

    // Decode: a pre-encoded stream of frames, replayed in order (nonces advance).
    let (mut e, mut d) = make();
    let batch = 64;
    let mut stream = Vec::new();
    let mut offsets = Vec::new();
    let mut dec_round = |e: &mut FrameEncoder, d: &mut FrameDecoder| {
        stream.clear();
        offsets.clear();
        for _ in 0..batch {
            offsets.push(stream.len());
            e.encode(Tag::Message, &segs, &mut stream).expect("encode");
        }
        let start = Instant::now();
        let mut pos = 0;
        while pos < stream.len() {
            let (used, r) = d.decode(&stream[pos..]).expect("decode");
            pos += used;
            if let Decoded::Frame(f) = r {
                d.recycle(black_box(f));
            }
        }
        start.elapsed()
    };
    let mut spent = Duration::ZERO;
    let mut frames_done = 0u64;
    let budget = Duration::from_secs_f64(secs);
    while spent < budget {
        spent += dec_round(&mut e, &mut d);
        frames_done += batch as u64;
    }
    let dec = frames_done as f64 * size as f64 / spent.as_secs_f64() / 1e9;

    let (mut e, mut d) = make();
    let both = measure(secs, size, || {
        wire.clear();
        e.encode(Tag::Message, &segs, &mut wire).expect("encode");
        let (_, r) = d.decode(&wire).expect("decode");
        if let Decoded::Frame(f) = r {
            d.recycle(black_box(f));
        }
    });
    (enc, dec, both)
}

fn label(size: usize) -> String {
    format!("{}KiB", size >> 10)
}

fn main() {
    let mut json_only = false;
    let mut secs = 0.6f64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json_only = true,
            "--secs" => secs = args.next().and_then(|s| s.parse().ok()).unwrap_or(secs),
            "--bench" => {} // passed by `cargo bench`-style runners
            other => {
                eprintln!("usage: crypto [--json] [--secs S]   (unknown argument {other:?})");
                std::process::exit(2);
            }
        }
    }

    let gcm_results: Vec<(&str, GcmRow)> = vec![
        (RustCryptoGcm::NAME, gcm::<RustCryptoGcm>(secs)),
        (RingGcm::NAME, gcm::<RingGcm>(secs)),
        (AwsLcGcm::NAME, gcm::<AwsLcGcm>(secs)),
    ];
    let crc_results: Vec<(&str, CrcRow)> = vec![
        (Crc32cCrate::NAME, crc::<Crc32cCrate>(secs)),
        (CrcFast::NAME, crc::<CrcFast>(secs)),
    ];
    let (seal_copied, seal_gathered) = seal_into_other_buffer(secs);
    let mut frame_results = Vec::new();
    for secure in [false, true] {
        for size in SIZES {
            frame_results.push((secure, size, frames(secure, size, secs)));
        }
    }

    if !json_only {
        println!(
            "{:<34} {:>9} {:>9} {:>12}",
            "GB/s (one core)", "4KiB", "64KiB", "small op"
        );
        for (name, (seal, open, ns)) in &gcm_results {
            println!(
                "{:<34} {:>9.2} {:>9.2} {:>9.1} ns  (80 B)",
                format!("aes-128-gcm seal {name}"),
                seal[0].1,
                seal[1].1,
                ns
            );
            println!(
                "{:<34} {:>9.2} {:>9.2}",
                format!("aes-128-gcm copy+open {name}"),
                open[0].1,
                open[1].1
            );
        }
        for (what, r) in [
            ("copy + seal in place", &seal_copied),
            ("seal gathered (gcm-gather)", &seal_gathered),
        ] {
            println!("{:<34} {:>9.2} {:>9.2}", what, r[0].1, r[1].1);
        }
        for (name, (r, ns)) in &crc_results {
            println!(
                "{:<34} {:>9.2} {:>9.2} {:>9.1} ns  (28 B)",
                format!("crc32c {name}"),
                r[0].1,
                r[1].1,
                ns
            );
        }
        for (what, pick) in [("encode", 0), ("decode", 1), ("encode+decode", 2)] {
            for secure in [false, true] {
                let row: Vec<f64> = frame_results
                    .iter()
                    .filter(|(s, _, _)| *s == secure)
                    .map(|(_, _, t)| [t.0, t.1, t.2][pick])
                    .collect();
                println!(
                    "{:<34} {:>9.2} {:>9.2}",
                    format!(
                        "frame rev1 {} {what}",
                        if secure { "secure" } else { "crc" }
                    ),
                    row[0],
                    row[1]
                );
            }
        }
        println!(
            "defaults: aes-gcm = {}, crc32c = {}",
            DefaultAes128Gcm::NAME,
            DefaultCrc32c::NAME
        );
    }

    let per_size = |r: &PerSize| -> Value {
        r.iter()
            .map(|(s, g)| (label(*s), json!((g * 100.0).round() / 100.0)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let round2 = |g: f64| (g * 100.0).round() / 100.0;
    let out = json!({
        "bench": "crypto",
        "unit": "GB/s",
        "secs_per_measurement": secs,
        "defaults": { "aes_gcm": DefaultAes128Gcm::NAME, "crc32c": DefaultCrc32c::NAME },
        "aes128gcm": gcm_results.iter().map(|(n, (seal, open, ns))| (n.to_string(), json!({
            "seal": per_size(seal),
            "copy_open": per_size(open),
            "seal_80B_ns": round2(*ns),
        }))).collect::<serde_json::Map<_, _>>(),
        "seal_into_other_buffer": {
            "copy_then_seal_in_place": per_size(&seal_copied),
            "gathered": per_size(&seal_gathered),
        },
        "crc32c": crc_results.iter().map(|(n, (r, ns))| (n.to_string(), json!({
            "throughput": per_size(r),
            "preamble_28B_ns": round2(*ns),
        }))).collect::<serde_json::Map<_, _>>(),
        "frame_rev1": frame_results.iter().map(|(secure, size, (e, d, b))| json!({
            "mode": if *secure { "secure" } else { "crc" },
            "payload": label(*size),
            "encode": round2(*e),
            "decode": round2(*d),
            "encode_decode": round2(*b),
        })).collect::<Vec<_>>(),
    });
    println!("{out}");
}
