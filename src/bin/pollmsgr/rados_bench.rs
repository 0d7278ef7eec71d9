//! `pollmsgr rados bench SECONDS write|seq|rand`: Ceph's `rados bench`
//! (`src/common/obj_bencher.cc`) on the objecter: the same object names
//! (`benchmark_data_HOST_PID_objectN`), contents ("I'm the %16dth op!"
//! padded with 'z') and metadata object (`benchmark_last_metadata`), so a
//! real `rados bench seq` reads what `pollmsgr rados bench write
//! --no-cleanup` wrote and the reverse; the same per-second lines and
//! totals, plus latency percentiles and client CPU per op.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args as ClapArgs;
use hdrhistogram::Histogram;
use rand::Rng;

use pollmsgr::msg::osd_op::{ObjectLocator, OsdOp};
use pollmsgr::objecter::app::Workload;
use pollmsgr::objecter::{Completion, ObjectRequest};
use pollmsgr::pool::cpu::CpuTimer;

use crate::rados::{Batch, BenchKind};
use crate::rados_cluster::Cluster;

/// Flags of `rados bench`.
#[derive(ClapArgs, Debug)]
pub struct BenchArgs {
    /// How long to run, in seconds.
    pub seconds: f64,
    /// write, seq or rand.
    #[arg(value_enum)]
    pub kind: BenchKind,
    /// Bytes per op (and per object).
    #[arg(short = 'b', long = "block-size", default_value_t = 4 << 20)]
    pub block_size: usize,
    /// Ops in flight.
    #[arg(short = 't', long = "concurrent-ios", default_value_t = 16)]
    pub concurrency: usize,
    /// Keep the written objects (for a later seq or rand run).
    #[arg(long)]
    pub no_cleanup: bool,
    /// The metadata object's name (default benchmark_last_metadata).
    #[arg(long, default_value = "benchmark_last_metadata")]
    pub run_name: String,
    /// Do not check the contents read back.
    #[arg(long)]
    pub no_verify: bool,
}

/// Counters the progress line reads while the reactor runs.
#[derive(Default)]
struct Live {
    started: AtomicU64,
    finished: AtomicU64,
    last_lat_ns: AtomicU64,
    total_lat_ns: AtomicU64,
}

/// The bench workload on the reactor.
struct BenchLoad {
    kind: BenchKind,
    locator: ObjectLocator,
    prefix: String,
    op_size: usize,
    concurrency: usize,
    /// Objects a read run may pick from.
    num_objects: u64,
    deadline: Option<Instant>,
    duration: Duration,
    verify: bool,
    in_flight: usize,
    next_object: u64,
    live: Arc<Live>,
    hist: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
    verify_failures: u64,
    finished_at: Option<Instant>,
    started_at: Option<Instant>,
    /// ops completed in each whole second since the start.
    per_second: Vec<u64>,
}

/// `n` in decimal: the digits are `buf[start..]`. The bench formats two
/// numbers per op (its object name and its contents); `write!` with a field
/// width cost 5% of the client's CPU per 4 KiB op (perf, `rados bench write`).
fn decimal(mut n: u64) -> ([u8; 20], usize) {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return (buf, start);
        }
    }
}

/// The text obj_bencher writes at the start of op `n`'s object:
/// `snprintf("I'm the %16dth op!")`, as (bytes, length).
fn contents_text(n: u64) -> ([u8; 40], usize) {
    const LEAD: &[u8] = b"I'm the ";
    const TAIL: &[u8] = b"th op!";
    let (digits, start) = decimal(n);
    let digits = &digits[start..];
    let mut text = [b' '; 40];
    // Right-aligned in 16 columns, as %16d (a longer number takes more).
    let at = LEAD.len() + 16usize.saturating_sub(digits.len());
    text[..LEAD.len()].copy_from_slice(LEAD);
    text[at..at + digits.len()].copy_from_slice(digits);
    let end = at + digits.len() + TAIL.len();
    text[end - TAIL.len()..end].copy_from_slice(TAIL);
    (text, end)
}

/// "I'm the %16dth op!" followed by a NUL and 'z' up to `size` bytes, as
/// obj_bencher writes (snprintf truncates to `size - 1` characters).
fn contents(n: u64, size: usize) -> Bytes {
    let mut v = vec![b'z'; size];
    if size > 0 {
        let (text, len) = contents_text(n);
        let keep = len.min(size - 1);
        v[..keep].copy_from_slice(&text[..keep]);
        v[keep] = 0;
    }
    Bytes::from(v)
}

/// Whether `got` is what [`contents`] writes for op `n` at `size` bytes,
/// checked in place (a read run verifies every op).
fn contents_match(got: &[u8], n: u64, size: usize) -> bool {
    if got.len() != size {
        return false;
    }
    if size == 0 {
        return true;
    }
    // Compared a block at a time (memcmp): a byte loop nearly doubled the
    // client's user time per 4 KiB op in a read run.
    const FILL: [u8; 512] = [b'z'; 512];
    let (text, len) = contents_text(n);
    let keep = len.min(size - 1);
    got[..keep] == text[..keep]
        && got[keep] == 0
        && got[keep + 1..]
            .chunks(FILL.len())
            .all(|c| c == &FILL[..c.len()])
}

fn object_name(prefix: &str, n: u64) -> String {
    let (digits, start) = decimal(n);
    // Sized once: "_object" and up to 20 digits.
    let mut name = String::with_capacity(prefix.len() + 27);
    name.push_str(prefix);
    name.push_str("_object");
    // ASCII digits: always UTF-8.
    name.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
    name
}

/// `benchmark_data_HOST_PID` (the hostname cut to 28 bytes as Ceph's
/// 30-byte buffer does).
fn object_prefix(pid: u32) -> String {
    let host = crate::common::hostname();
    let host = if host.is_empty() { "localhost" } else { &host };
    let host: String = host.chars().take(28).collect();
    format!("benchmark_data_{host}_{pid}")
}

impl BenchLoad {
    fn object_for_next(&mut self) -> Option<u64> {
        match self.kind {
            BenchKind::Write => Some(self.next_object),
            BenchKind::Seq => (self.next_object < self.num_objects).then_some(self.next_object),
            BenchKind::Rand => Some(rand::thread_rng().gen_range(0..self.num_objects.max(1))),
        }
    }
}

impl Workload for BenchLoad {
    fn next_request(&mut self, now: Instant) -> Option<(ObjectRequest, u64)> {
        let deadline = *self.deadline.get_or_insert(now + self.duration);
        self.started_at.get_or_insert(now);
        if now >= deadline || self.in_flight >= self.concurrency {
            return None;
        }
        let n = self.object_for_next()?;
        self.next_object += 1;
        let name = object_name(&self.prefix, n);
        let op = match self.kind {
            BenchKind::Write => OsdOp::write(0, contents(n, self.op_size)),
            _ => OsdOp::read(0, self.op_size as u64),
        };
        self.in_flight += 1;
        self.live.started.fetch_add(1, Ordering::Relaxed);
        let req = ObjectRequest::new(self.locator.clone(), name.into_bytes(), vec![op]);
        Some((req, n))
    }

    fn peek_bytes(&self) -> usize {
        match self.kind {
            BenchKind::Write => self.op_size,
            _ => 0,
        }
    }

    fn complete(&mut self, c: Completion, now: Instant) {
        self.in_flight -= 1;
        let ns = now.saturating_duration_since(c.submitted).as_nanos() as u64;
        let _ = self.hist.record(ns.clamp(1_000, 60_000_000_000));
        match &c.result {
            Ok(r) if r.result >= 0 => {
                if self.verify && self.kind != BenchKind::Write {
                    let got = r.ops.first().map(|o| &o.outdata[..]).unwrap_or_default();
                    if !contents_match(got, c.token, self.op_size) {
                        self.verify_failures += 1;
                    }
                }
            }
            Ok(r) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| {
                    format!(
                        "object {}: {}",
                        c.token,
                        std::io::Error::from_raw_os_error(-r.result)
                    )
                });
            }
            Err(e) => {
                self.errors += 1;
                self.first_error
                    .get_or_insert_with(|| format!("object {}: {e}", c.token));
            }
        }
        self.live.finished.fetch_add(1, Ordering::Relaxed);
        self.live.last_lat_ns.store(ns, Ordering::Relaxed);
        self.live.total_lat_ns.fetch_add(ns, Ordering::Relaxed);
        if let Some(start) = self.started_at {
            let sec = now.saturating_duration_since(start).as_secs() as usize;
            if self.per_second.len() <= sec {
                self.per_second.resize(sec + 1, 0);
            }
            self.per_second[sec] += 1;
        }
        self.finished_at = Some(now);
    }

    fn done(&self) -> bool {
        let out_of_work = match self.kind {
            BenchKind::Seq => self.next_object >= self.num_objects,
            _ => false,
        };
        let over = self.deadline.is_some_and(|d| Instant::now() >= d);
        (over || out_of_work) && self.in_flight == 0
    }
}

/// The metadata record obj_bencher writes after a write run: object size
/// (u64), ops written (i32), the writer's pid (i32), op size (u64).
fn metadata(object_size: u64, ops: u64, pid: u32, op_size: u64) -> Bytes {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&object_size.to_le_bytes());
    v.extend_from_slice(&(ops.min(i32::MAX as u64) as i32).to_le_bytes());
    v.extend_from_slice(&(pid as i32).to_le_bytes());
    v.extend_from_slice(&op_size.to_le_bytes());
    Bytes::from(v)
}

/// (object size, ops, pid, op size) from a metadata record.
fn parse_metadata(b: &[u8]) -> Option<(u64, u64, u32, u64)> {
    let object_size = u64::from_le_bytes(b.get(..8)?.try_into().ok()?);
    let ops = i32::from_le_bytes(b.get(8..12)?.try_into().ok()?);
    let pid = i32::from_le_bytes(b.get(12..16)?.try_into().ok()?);
    let op_size = match b.get(16..24) {
        Some(s) => u64::from_le_bytes(s.try_into().ok()?),
        None => object_size,
    };
    Some((object_size, u64::try_from(ops).ok()?, pid as u32, op_size))
}

/// Runs the bench and prints its report; returns the exit status.
pub fn run(
    cluster: &mut Cluster,
    locator: ObjectLocator,
    args: &BenchArgs,
    json: bool,
) -> Result<i32, String> {
    if args.concurrency == 0 || args.block_size == 0 {
        return Err("-t and -b must be at least 1".into());
    }
    let (prefix, op_size, num_objects) = match args.kind {
        BenchKind::Write => (object_prefix(std::process::id()), args.block_size, 0),
        _ => {
            let req = ObjectRequest::new(
                locator.clone(),
                args.run_name.as_bytes(),
                vec![OsdOp::read(0, 0)],
            );
            let reply = cluster.one(req)?;
            if reply.result < 0 {
                return Err("Must write data before running a read benchmark!".into());
            }
            let data = reply
                .ops
                .first()
                .map(|o| o.outdata.clone())
                .unwrap_or_default();
            let (object_size, ops, pid, op_size) =
                parse_metadata(&data).ok_or("the bench metadata object is too short")?;
            let per_object = (object_size / op_size.max(1)).max(1);
            let op_size = usize::try_from(op_size).map_err(|_| "op size too large")?;
            (object_prefix(pid), op_size, ops.div_ceil(per_object))
        }
    };
    let live = Arc::new(Live::default());
    let load = BenchLoad {
        kind: args.kind,
        locator: locator.clone(),
        prefix: prefix.clone(),
        op_size,
        concurrency: args.concurrency,
        num_objects,
        deadline: None,
        duration: Duration::from_secs_f64(args.seconds.max(0.1)),
        verify: !args.no_verify,
        in_flight: 0,
        next_object: 0,
        live: Arc::clone(&live),
        hist: Histogram::new_with_bounds(1_000, 60_000_000_000, 3)
            .map_err(|e| format!("histogram: {e}"))?,
        errors: 0,
        first_error: None,
        verify_failures: 0,
        finished_at: None,
        started_at: None,
        per_second: Vec::new(),
    };
    if !json {
        match args.kind {
            BenchKind::Write => println!(
                "hints = 1\nMaintaining {} concurrent writes of {op_size} bytes to objects of \
                 size {op_size} for up to {} seconds or 0 objects\nObject prefix: {prefix}",
                args.concurrency, args.seconds
            ),
            _ => println!("hints = 1"),
        }
        println!(
            "{:>5}{:>8}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
            "sec",
            "Cur ops",
            "started",
            "finished",
            "avg MB/s",
            "cur MB/s",
            "last lat(s)",
            "avg lat(s)"
        );
    }
    let cpu = CpuTimer::start();
    let mut prev_finished = 0u64;
    let app = cluster.run(load, |elapsed| {
        if json {
            return;
        }
        let started = live.started.load(Ordering::Relaxed);
        let finished = live.finished.load(Ordering::Relaxed);
        let mb = |ops: u64, secs: f64| ops as f64 * op_size as f64 / (1 << 20) as f64 / secs;
        let avg_lat = live.total_lat_ns.load(Ordering::Relaxed) as f64 / finished.max(1) as f64;
        println!(
            "{:>5} {:>7} {:>9} {:>9} {:>9.4} {:>9.4} {:>9.6} {:>9.6}",
            elapsed.as_secs().saturating_sub(1),
            started - finished,
            started,
            finished,
            mb(finished, elapsed.as_secs_f64()),
            mb(finished - prev_finished, 1.0),
            live.last_lat_ns.load(Ordering::Relaxed) as f64 / 1e9,
            avg_lat / 1e9,
        );
        prev_finished = finished;
    })?;
    let cpu_s = cpu.elapsed();
    let stats = app.stats;
    let load = app.workload;
    let ops = load.hist.len();
    let run_time = match (load.started_at, load.finished_at) {
        (Some(s), Some(f)) => f.saturating_duration_since(s).as_secs_f64(),
        _ => 0.0,
    }
    .max(1e-9);
    let lat = |q: f64| load.hist.value_at_quantile(q) as f64 / 1e9;
    let whole: &[u64] = match load.per_second.split_last() {
        Some((_, rest)) if !rest.is_empty() => rest,
        _ => &load.per_second,
    };
    let (iops_max, iops_min) = (
        whole.iter().copied().max().unwrap_or(0),
        whole.iter().copied().min().unwrap_or(0),
    );
    let mean = whole.iter().sum::<u64>() as f64 / whole.len().max(1) as f64;
    let stddev = if whole.len() > 1 {
        (whole
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / (whole.len() - 1) as f64)
            .sqrt()
    } else {
        0.0
    };
    let to_mb = |x: f64| x * op_size as f64 / (1 << 20) as f64;
    let report = serde_json::json!({
        "kind": match args.kind { BenchKind::Write => "write", BenchKind::Seq => "seq", BenchKind::Rand => "rand" },
        "total_time_run": run_time,
        "total_ops": ops,
        "op_size": op_size,
        "concurrency": args.concurrency,
        "bandwidth_mb_s": to_mb(ops as f64 / run_time),
        "stddev_bandwidth": to_mb(stddev),
        "max_bandwidth": to_mb(iops_max as f64),
        "min_bandwidth": to_mb(iops_min as f64),
        "average_iops": ops as f64 / run_time,
        "stddev_iops": stddev,
        "max_iops": iops_max,
        "min_iops": iops_min,
        "average_latency_s": load.hist.mean() / 1e9,
        "stddev_latency_s": load.hist.stdev() / 1e9,
        "max_latency_s": load.hist.max() as f64 / 1e9,
        "min_latency_s": load.hist.min() as f64 / 1e9,
        "latency_us": { "p50": lat(0.5) * 1e6, "p99": lat(0.99) * 1e6, "p999": lat(0.999) * 1e6 },
        "client_cpu_s": cpu_s,
        "client_cpu_us_per_op": cpu_s.map(|c| c * 1e6 / ops.max(1) as f64),
        "errors": load.errors,
        "first_error": load.first_error,
        "verify_failures": load.verify_failures,
        "objecter": stats,
        "transport": cluster.data_transport(),
    });
    if json {
        println!("{report}");
    } else {
        print_totals(&report, args.kind);
    }
    if args.kind == BenchKind::Write {
        let written = load.next_object;
        let meta = metadata(op_size as u64, written, std::process::id(), op_size as u64);
        let req = ObjectRequest::new(
            locator.clone(),
            args.run_name.as_bytes(),
            vec![OsdOp::writefull(meta)],
        );
        cluster.one(req)?;
        if !args.no_cleanup {
            cleanup(cluster, &locator, &prefix, written, &args.run_name)?;
        }
    }
    if load.errors > 0 || load.verify_failures > 0 {
        return Err(format!(
            "{} ops failed, {} read back wrong contents (first error: {})",
            load.errors,
            load.verify_failures,
            load.first_error.as_deref().unwrap_or("none")
        ));
    }
    Ok(0)
}

/// Removes the run's objects and its metadata object.
fn cleanup(
    cluster: &mut Cluster,
    locator: &ObjectLocator,
    prefix: &str,
    written: u64,
    run_name: &str,
) -> Result<(), String> {
    let mut reqs: Vec<ObjectRequest> = (0..written)
        .map(|n| {
            ObjectRequest::new(
                locator.clone(),
                object_name(prefix, n).into_bytes(),
                vec![OsdOp::delete()],
            )
        })
        .collect();
    reqs.push(ObjectRequest::new(
        locator.clone(),
        run_name.as_bytes(),
        vec![OsdOp::delete()],
    ));
    let app = cluster.run(Batch::new(reqs), |_| {})?;
    let failed = app
        .workload
        .results
        .iter()
        .filter(|c| !matches!(c, Some(Completion { result: Ok(r), .. }) if r.result >= 0))
        .count();
    if failed > 0 {
        eprintln!("rados bench: {failed} objects could not be removed in cleanup");
    }
    Ok(())
}

fn print_totals(r: &serde_json::Value, kind: BenchKind) {
    let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
    let u = |k: &str| r[k].as_u64().unwrap_or(0);
    let what = match kind {
        BenchKind::Write => ("writes", "Write"),
        _ => ("reads", "Read"),
    };
    println!("Total time run:         {:.4}", f("total_time_run"));
    println!("Total {} made:      {}", what.0, u("total_ops"));
    println!("{} size:             {}", what.1, u("op_size"));
    println!("Object size:            {}", u("op_size"));
    println!("Bandwidth (MB/sec):     {:.4}", f("bandwidth_mb_s"));
    if kind == BenchKind::Write {
        println!("Stddev Bandwidth:       {:.4}", f("stddev_bandwidth"));
        println!("Max bandwidth (MB/sec): {:.4}", f("max_bandwidth"));
        println!("Min bandwidth (MB/sec): {:.4}", f("min_bandwidth"));
    }
    println!("Average IOPS:           {:.0}", f("average_iops"));
    println!("Stddev IOPS:            {:.4}", f("stddev_iops"));
    println!("Max IOPS:               {}", u("max_iops"));
    println!("Min IOPS:               {}", u("min_iops"));
    println!("Average Latency(s):     {:.6}", f("average_latency_s"));
    if kind == BenchKind::Write {
        println!("Stddev Latency(s):      {:.6}", f("stddev_latency_s"));
    }
    println!("Max latency(s):         {:.6}", f("max_latency_s"));
    println!("Min latency(s):         {:.6}", f("min_latency_s"));
    let p = &r["latency_us"];
    println!(
        "Latency p50/p99/p99.9 (us): {:.1} / {:.1} / {:.1}",
        p["p50"].as_f64().unwrap_or(0.0),
        p["p99"].as_f64().unwrap_or(0.0),
        p["p999"].as_f64().unwrap_or(0.0)
    );
    if let Some(c) = r["client_cpu_us_per_op"].as_f64() {
        println!("Client CPU per op (us): {c:.2}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_match_obj_benchers_snprintf() {
        let c = contents(7, 40);
        assert_eq!(&c[..30], b"I'm the                7th op!");
        assert_eq!(c[30], 0);
        assert!(c[31..].iter().all(|&b| b == b'z'));
        // Shorter than the text: cut to size - 1 and NUL-terminated.
        let short = contents(7, 5);
        assert_eq!(&short[..], b"I'm \0");
    }

    /// The hand-written formatting agrees with `format!` (what snprintf's
    /// `%16d` gives) for every width and numbers of every length.
    #[test]
    fn contents_and_names_agree_with_format() {
        let numbers = [0, 7, 42, 999_999, 1 << 40, 9_999_999_999_999_999, u64::MAX];
        for n in numbers {
            let text = format!("I'm the {n:16}th op!");
            for size in [0usize, 1, 5, 23, 24, 25, 40, 64, 4096] {
                let mut want = vec![b'z'; size];
                if size > 0 {
                    let keep = text.len().min(size - 1);
                    want[..keep].copy_from_slice(&text.as_bytes()[..keep]);
                    want[keep] = 0;
                }
                let got = contents(n, size);
                assert_eq!(&got[..], &want[..], "n {n} size {size}");
                assert!(contents_match(&got, n, size));
                if size > 0 {
                    let mut bad = want.clone();
                    bad[size - 1] ^= 1;
                    assert!(!contents_match(&bad, n, size), "n {n} size {size}");
                    if size > text.len() {
                        assert!(
                            !contents_match(&want, n.wrapping_add(1), size),
                            "n {n} size {size}"
                        );
                    }
                }
                assert!(!contents_match(&want[..size.saturating_sub(1)], n, size) || size == 0);
            }
            assert_eq!(
                object_name("benchmark_data_h_1", n),
                format!("benchmark_data_h_1_object{n}")
            );
        }
    }

    #[test]
    fn metadata_round_trips() {
        let m = metadata(4096, 1234, 42, 4096);
        assert_eq!(parse_metadata(&m), Some((4096, 1234, 42, 4096)));
        assert_eq!(parse_metadata(&m[..16]), Some((4096, 1234, 42, 4096)));
        assert_eq!(parse_metadata(&m[..10]), None);
    }
}
