//! A short run of `scripts/soak` (issue 8): a real ceph-mon and ceph-osd
//! injecting socket failures (1/500 and 1/50), `serve --osds 4 --join`,
//! `ping`, `mon-command` loops and lossless and lossy `bench` through
//! cutting relays. The script's own checks must hold: no lossless message
//! lost or duplicated, every lossy loss counted, every mon command answered,
//! and the daemons really injected failures (their logs say so).
//!
//! About 60 s in all. Skip it with `cargo nextest run -E 'not test(soak)'`;
//! the long run is `scripts/soak --seconds 1800` (README, "Soak").

mod common;

use std::process::Command;
use std::time::Instant;

/// Load seconds: with the cluster start and the join, the test stays under
/// 75 s.
const SOAK_SECONDS: &str = "50";

#[test]
fn interop_soak_smoke() {
    common::require_ceph();
    let t = Instant::now();
    let out = Command::new(common::repo_root().join("scripts/soak"))
        .args(["--seconds", SOAK_SECONDS, "--pollmsgr"])
        .arg(common::pollmsgr_bin())
        .output()
        .expect("run scripts/soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("soak printed no JSON ({e}): {stdout}\n{stderr}"));
    eprintln!("soak ({:?}): {v}", t.elapsed());
    assert!(out.status.success(), "soak failed: {v}\n{stderr}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["lossless_lost"], 0, "{v}");
    assert_eq!(v["lossless_duplicated"], 0, "{v}");
    assert_eq!(v["lossy_unaccounted"], 0, "{v}");
    let n = |p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    assert!(n("/injected_socket_failures/osd") > 0, "{v}");
    assert!(n("/ping/reconnects") > 0, "ping saw no reset: {v}");
    assert!(
        n("/bench_lossless/reconnects") > 0,
        "the relay cut nothing: {v}"
    );
    assert!(n("/mon_command/runs") > 0, "{v}");
    let rss = v["rss"].as_array().expect("rss samples");
    assert!(
        rss.iter().any(|p| p["process"] == "serve"),
        "serve's RSS was sampled: {v}"
    );
    for p in rss {
        assert!(
            p["slope_kib_per_min"].is_number(),
            "a slope per process: {v}"
        );
    }
}
