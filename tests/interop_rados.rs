//! `pollmsgr rados` against a real Ceph 16.2 cluster (a ceph-mon and a
//! memstore ceph-osd, cephx): objects written by pollmsgr read back
//! byte-identical with the real `rados` and the reverse, in crc and secure
//! mode, msgr2.1 and 2.0; `bench` objects cross-read by the other tool with
//! content checks; and a bench that survives the OSD being stopped and
//! restarted with every op completed exactly once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{pollmsgr_bin, require_ceph, Auth, CephCluster, ClusterOpts};
use serde_json::Value;

fn cluster() -> CephCluster {
    cluster_with("")
}

fn cluster_with(extra_conf: &'static str) -> CephCluster {
    require_ceph();
    CephCluster::start(ClusterOpts {
        auth: Auth::Cephx,
        with_osd: true,
        extra_conf,
    })
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"))
}

fn make_pool(c: &CephCluster, name: &str, pg_num: u32) {
    c.ceph_ok(&["osd", "pool", "create", name, &pg_num.to_string()])
        .expect("pool create");
}

/// A copy of the cluster's conf with `extra` lines added to [global].
fn conf_with(c: &CephCluster, tag: &str, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(&c.conf_path).expect("read conf");
    let text = text.replacen("[global]", &format!("[global]\n{extra}"), 1);
    let p = c.dir.join(format!("ceph-{tag}.conf"));
    std::fs::write(&p, text).expect("write conf");
    p
}

/// `pollmsgr rados -c CONF ARGS`, bounded in time.
fn pm(conf: &Path, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-k", "5", "120"])
        .arg(pollmsgr_bin())
        .arg("rados")
        .arg("-c")
        .arg(conf)
        .args(args)
        .env_remove("CEPH_CONF")
        .stdin(Stdio::null())
        .output()
        .expect("run pollmsgr rados")
}

fn pm_ok(conf: &Path, args: &[&str]) -> String {
    let out = pm(conf, args);
    assert!(
        out.status.success(),
        "pollmsgr rados {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The real `rados -c CONF ARGS`.
fn real_ok(conf: &Path, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["-k", "5", "120", "rados", "-c"])
        .arg(conf)
        .args(args)
        .env_remove("CEPH_ARGS")
        .env_remove("CEPH_CONF")
        .stdin(Stdio::null())
        .output()
        .expect("run rados");
    assert!(
        out.status.success(),
        "rados {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Both directions for every size, under one conf (mode) and revision.
fn round_trips(c: &CephCluster, conf: &Path, pool: &str, rev: &str, tag: &str) {
    for (i, size) in [1usize, 4097, 1 << 20, 16 << 20].into_iter().enumerate() {
        let data = random_bytes(size, i as u64 + 1);
        let src = c.dir.join(format!("{tag}-{size}-src"));
        let back = c.dir.join(format!("{tag}-{size}-back"));
        std::fs::write(&src, &data).expect("write src");
        let (s, b) = (src.display().to_string(), back.display().to_string());
        // pollmsgr writes, the real rados reads.
        let obj = format!("{tag}-pm-{size}");
        pm_ok(conf, &["--msgr-rev", rev, "-p", pool, "put", &obj, &s]);
        real_ok(conf, &["-p", pool, "get", &obj, &b]);
        assert!(
            std::fs::read(&back).expect("read back") == data,
            "{tag}: {size} bytes put by pollmsgr differ when read by rados"
        );
        // The real rados writes, pollmsgr reads.
        let obj = format!("{tag}-real-{size}");
        real_ok(conf, &["-p", pool, "put", &obj, &s]);
        std::fs::remove_file(&back).ok();
        pm_ok(conf, &["--msgr-rev", rev, "-p", pool, "get", &obj, &b]);
        assert!(
            std::fs::read(&back).expect("read back") == data,
            "{tag}: {size} bytes put by rados differ when read by pollmsgr"
        );
        let stat: Value = serde_json::from_str(&pm_ok(
            conf,
            &["--msgr-rev", rev, "-p", pool, "--json", "stat", &obj],
        ))
        .expect("stat JSON");
        assert_eq!(stat["size"].as_u64(), Some(size as u64), "{stat}");
    }
}

#[test]
fn interop_rados_put_get_both_ways_crc_and_secure_rev1_and_rev0() {
    let c = cluster();
    make_pool(&c, "rt", 12);
    let crc = conf_with(&c, "crc", "ms_client_mode = crc");
    let secure = conf_with(
        &c,
        "secure",
        "ms_client_mode = secure\nms_mon_client_mode = secure",
    );
    round_trips(&c, &crc, "rt", "1", "crc1");
    round_trips(&c, &secure, "rt", "1", "sec1");
    round_trips(&c, &secure, "rt", "0", "sec0");
    round_trips(&c, &crc, "rt", "0", "crc0");

    // ls agrees with the real tool; rm removes; stat of a missing object fails.
    let mut ours: Vec<String> =
        serde_json::from_str(&pm_ok(&crc, &["-p", "rt", "--json", "ls"])).expect("ls JSON");
    let mut theirs: Vec<String> = real_ok(&crc, &["-p", "rt", "ls"])
        .lines()
        .map(str::to_owned)
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours.len(), 32, "{ours:?}");
    assert_eq!(ours, theirs);
    pm_ok(&crc, &["-p", "rt", "rm", "crc1-pm-1"]);
    let gone = pm(&crc, &["-p", "rt", "stat", "crc1-pm-1"]);
    assert!(!gone.status.success(), "stat after rm succeeded");
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("No such file"),
        "{gone:?}"
    );
    let theirs = real_ok(&crc, &["-p", "rt", "ls"]);
    assert!(!theirs.lines().any(|l| l == "crc1-pm-1"), "{theirs}");
}

/// A number from `rados bench`'s closing block, e.g. "Total reads made:".
fn total(report: &str, key: &str) -> Option<u64> {
    report
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn interop_rados_bench_objects_cross_read_by_the_other_tool() {
    let c = cluster();
    make_pool(&c, "bench", 8);
    let conf = c.conf_path.clone();
    // pollmsgr writes; the real rados reads them back and checks contents.
    let w: Value = serde_json::from_str(&pm_ok(
        &conf,
        &[
            "-p",
            "bench",
            "--json",
            "bench",
            "3",
            "write",
            "-b",
            "4096",
            "-t",
            "16",
            "--no-cleanup",
        ],
    ))
    .expect("bench JSON");
    let written = w["total_ops"].as_u64().unwrap_or(0);
    assert!(written > 100, "{w}");
    assert_eq!(w["errors"].as_u64(), Some(0), "{w}");
    let seq = real_ok(&conf, &["-p", "bench", "bench", "30", "seq", "-t", "16"]);
    let reads = total(&seq, "Total reads made:").unwrap_or(0);
    assert_eq!(
        reads, written,
        "rados bench seq read a different count:\n{seq}"
    );
    real_ok(&conf, &["-p", "bench", "cleanup"]);

    // One process, several objecter runs (the bench, then its metadata
    // write) under one client name: with a single PG, a reused tid would be
    // answered from the PG log as a resend of the bench's first write and
    // the metadata object would never exist.
    make_pool(&c, "onepg", 1);
    pm_ok(
        &conf,
        &[
            "-p",
            "onepg",
            "bench",
            "1",
            "write",
            "-b",
            "16",
            "-t",
            "1",
            "--no-cleanup",
        ],
    );
    let meta = c.dir.join("onepg-meta");
    let m = meta.display().to_string();
    real_ok(
        &conf,
        &["-p", "onepg", "get", "benchmark_last_metadata", &m],
    );
    assert_eq!(std::fs::metadata(&meta).map(|x| x.len()).ok(), Some(24));

    // The real rados writes; pollmsgr reads them in order and at random.
    let out = real_ok(
        &conf,
        &[
            "-p",
            "bench",
            "bench",
            "3",
            "write",
            "-b",
            "4096",
            "-t",
            "16",
            "--no-cleanup",
        ],
    );
    let made = total(&out, "Total writes made:").expect("Total writes made");
    let s: Value = serde_json::from_str(&pm_ok(
        &conf,
        &["-p", "bench", "--json", "bench", "30", "seq", "-t", "16"],
    ))
    .expect("seq JSON");
    assert_eq!(s["total_ops"].as_u64(), Some(made), "{s}");
    assert_eq!(s["verify_failures"].as_u64(), Some(0), "{s}");
    let r: Value = serde_json::from_str(&pm_ok(
        &conf,
        &["-p", "bench", "--json", "bench", "2", "rand", "-t", "16"],
    ))
    .expect("rand JSON");
    assert!(r["total_ops"].as_u64().unwrap_or(0) > 0, "{r}");
    assert_eq!(r["verify_failures"].as_u64(), Some(0), "{r}");
    // Text output has Ceph's shape.
    let text = pm_ok(&conf, &["-p", "bench", "bench", "1", "seq", "-t", "4"]);
    for key in [
        "Total time run:",
        "Total reads made:",
        "Average IOPS:",
        "Max latency(s):",
    ] {
        assert!(text.contains(key), "missing {key}:\n{text}");
    }
}

/// Stops osd.0 (SIGTERM) and starts it again with the command line it was
/// started with; returns its new pid. SIGTERM rather than SIGKILL: the
/// test cluster's memstore writes its contents out only when it unmounts,
/// so an OSD killed with SIGKILL (or stopped with Pacific's default
/// `osd_fast_shutdown`, which skips the unmount) comes back without its PGs
/// and no client, Ceph's own included, gets an answer from it again.
fn restart_osd(c: &CephCluster, pid: u32) -> u32 {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("osd cmdline");
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // The pid is the harness's own osd.0 (from its pid file).
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(
        CephCluster::wait_until(Duration::from_secs(30), || !common::ceph::pid_running(pid)),
        "osd.0 did not die"
    );
    std::thread::sleep(Duration::from_secs(2));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(c.dir.join("log/osd.0.restart.out"))
        .expect("log");
    let child = Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("restart ceph-osd");
    let new_pid = child.id();
    std::fs::write(c.dir.join("pids/osd.0"), new_pid.to_string()).expect("pid file");
    // Reaped by the harness's stop (and init once we exit); not waited here.
    std::mem::forget(child);
    new_pid
}

#[test]
fn interop_rados_bench_survives_osd_stop_and_restart() {
    // A 12 s 4 KiB write bench on a fast machine writes ~300 MB: past the
    // harness's 256 MiB memstore the OSD goes full and (rightly) stops
    // applying writes, so this test's store is larger.
    let c = cluster_with("osd fast shutdown = false\nmemstore device bytes = 2147483648");
    make_pool(&c, "survive", 8);
    let conf = c.conf_path.clone();
    let osd_pid = c
        .daemon_pids()
        .into_iter()
        .find(|(n, _)| n == "osd.0")
        .map(|(_, p)| p)
        .expect("osd.0 pid");
    let started = Instant::now();
    let bench = Command::new("timeout")
        .args(["-k", "5", "120"])
        .arg(pollmsgr_bin())
        .args(["rados", "-c"])
        .arg(&conf)
        .args([
            "-p",
            "survive",
            "--json",
            "--op-timeout",
            "60",
            "bench",
            "12",
            "write",
            "-b",
            "4096",
            "-t",
            "16",
            "--no-cleanup",
        ])
        .env_remove("CEPH_CONF")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start bench");
    std::thread::sleep(Duration::from_secs(3));
    let new_pid = restart_osd(&c, osd_pid);
    eprintln!(
        "osd.0 restarted as pid {new_pid} {:?} into the run",
        started.elapsed()
    );
    let out = bench.wait_with_output().expect("bench output");
    assert!(
        out.status.success(),
        "bench failed across the restart: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let w: Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    eprintln!("{w}");
    let written = w["total_ops"].as_u64().unwrap_or(0);
    assert_eq!(w["errors"].as_u64(), Some(0), "{w}");
    let ob = &w["objecter"];
    assert!(
        ob["resends"].as_u64().unwrap_or(0) > 0,
        "no op was resent across the restart: {w}"
    );
    assert_eq!(
        ob["replied"].as_u64(),
        Some(written),
        "every op completed exactly once: {w}"
    );
    // Every written object is there with its contents (a real rados read).
    let s: Value = serde_json::from_str(&pm_ok(
        &conf,
        &["-p", "survive", "--json", "bench", "60", "seq", "-t", "16"],
    ))
    .expect("seq JSON");
    assert_eq!(s["total_ops"].as_u64(), Some(written), "{s}");
    assert_eq!(s["verify_failures"].as_u64(), Some(0), "{s}");
    let ls = real_ok(&conf, &["-p", "survive", "ls"]);
    let objects = ls
        .lines()
        .filter(|l| l.starts_with("benchmark_data"))
        .count();
    assert_eq!(objects as u64, written, "objects listed by rados");
}
