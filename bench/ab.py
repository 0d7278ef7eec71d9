#!/usr/bin/env python3
"""Two pollmsgr builds side by side in one run: a change against the main it came from.

Runs bench/run.py's messenger workloads (one connection, perf_msgr-style request/reply,
server on core 0, load on core 1) with build A and build B alternately, ROUNDS times
each, so drift in the machine's load weighs on both alike, and prints per workload the
median of each build and B/A. For "behaviour unchanged, figures within noise": the
spread of A's own rounds is the noise the B/A ratio is read against.

    bench/ab.py OLD_BIN NEW_BIN [--transports kernel,dpdk] [--modes crc,secure]
                [--workloads 4k_d32,64k_d32,4k_d1] [--rounds 3] [--duration 3]
                [--out bench/results/ab.json]

Build the old one from a checkout of its commit (cargo build --release) and pass both
binaries; the CPU model and the one-core AES-GCM rate (target/release/crypto, if built)
go beside the results.
"""

import argparse
import datetime
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (Server, Cluster, bench, machine facts)


def metric(name, r):
    """The figure a workload is judged by: msgs/s for depth 32, p50 for depth 1."""
    if name.endswith("_d1"):
        return ("p50_us", r["latency_us"]["p50"])
    return ("msgs_per_s", r["msgs_per_s"])


def one(binary, transport, mode, size, depth, duration, cluster):
    run.BIN = binary
    s = run.Server(transport, 1, cluster if mode == "secure" else None)
    try:
        return run.bench(s, size, depth, duration, mode=mode,
                         cluster=cluster if mode == "secure" else None)
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--transports", default="kernel,dpdk")
    ap.add_argument("--modes", default="crc,secure")
    ap.add_argument("--workloads", default=",".join(w[0] for w in run.WORKLOADS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--out", default=os.path.join(run.ROOT, "bench", "results", "ab.json"))
    a = ap.parse_args()
    cluster = None
    if "secure" in a.modes.split(","):
        cluster = run.Cluster(f"/tmp/pollmsgr-ab-{os.getpid()}")
    rows = []
    try:
        for transport in a.transports.split(","):
            for mode in a.modes.split(","):
                for name, size, depth in run.WORKLOADS:
                    if name not in a.workloads.split(","):
                        continue
                    samples = {"A": [], "B": []}
                    try:
                        for i in range(a.rounds):
                            # Alternate which build goes first in each round.
                            order = ("A", "B") if i % 2 == 0 else ("B", "A")
                            for which in order:
                                binary = a.old if which == "A" else a.new
                                r = one(binary, transport, mode, size, depth, a.duration, cluster)
                                samples[which].append(metric(name, r)[1])
                    except RuntimeError as e:
                        # E.g. TAP x secure with a build older than `bench --netns`.
                        print(f"{transport:6} {mode:6} {name:8} skipped: {str(e)[-300:]}", flush=True)
                        rows.append({"transport": transport, "mode": mode, "workload": name,
                                     "skipped": str(e)[-1000:]})
                        continue
                    unit = metric(name, {"msgs_per_s": 0, "latency_us": {"p50": 0}})[0]
                    ma, mb = statistics.median(samples["A"]), statistics.median(samples["B"])
                    spread = (max(samples["A"]) - min(samples["A"])) / ma if ma else None
                    row = {"transport": transport, "mode": mode, "workload": name,
                           "unit": unit, "A": samples["A"], "B": samples["B"],
                           "median_A": ma, "median_B": mb,
                           "B_over_A": mb / ma if ma else None, "A_spread": spread}
                    rows.append(row)
                    print(f"{transport:6} {mode:6} {name:8} {unit:10} A {ma:10.1f}  B {mb:10.1f}"
                          f"  B/A {row['B_over_A']:.3f}  (A's own spread {spread:.1%})",
                          flush=True)
    finally:
        if cluster:
            cluster.stop()
    facts = {"cpus": os.cpu_count(), "cpu_model": run.cpu_model()}
    if os.path.exists(run.CRYPTO):
        crypto = run.run_json([run.CRYPTO, "--json", "--secs", "0.5"])
        backend = crypto["defaults"]["aes_gcm"]
        facts["aes_gcm_backend"] = backend
        facts["aes_gcm_seal_64k_gbps"] = crypto["aes128gcm"][backend]["seal"]["64KiB"]
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "old": a.old, "new": a.new, "rounds": a.rounds, "duration_s": a.duration,
           "machine": facts, "rows": rows}
    write_results(a.out, out)


def write_results(path, doc):
    """Writes a benchmark's JSON document to `path` and says where."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(json.dumps({"rows": len(doc["rows"]), "out": path}))


if __name__ == "__main__":
    main()
