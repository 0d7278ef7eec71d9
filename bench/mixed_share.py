#!/usr/bin/env python3
"""A bulk stream and a latency-bound client on one reactor, per heavy share, in one run.

`serve --transport kernel --osds 2 --cores 0` with each `--heavy-share-percent` given;
`bench` 64 KiB x 32 against the first endpoint and, from 0.5 s later, `bench` 4 KiB x 1
against the second (both clients on core 1). Shows what the heavy share trades: the
bulk stream's rate against the latency-bound client's rate and tail while both run.

    bench/mixed_share.py [--shares 20,30,100] [--rounds 2] [--duration 6] [--out FILE]

Prints a line per case and writes JSON (default /tmp/mixed_share.json).
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (Server, BIN, cpu_model)


def case(share, duration):
    srv = run.Server("kernel", 2, flags=["--heavy-share-percent", str(share)])
    try:
        eps = srv.endpoints

        def client(ep, size, depth, secs):
            cmd = [run.BIN, "bench", "--connect", ep, "--conns", "1", "--depth", str(depth),
                   "--size", str(size), "--duration", str(secs), "--cores", "1", "--json"]
            return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

        bulk = client(eps[0], 65536, 32, duration)
        time.sleep(0.5)
        light = client(eps[1], 4096, 1, duration - 1)
        b = json.loads(bulk.communicate()[0].strip().splitlines()[-1])
        l = json.loads(light.communicate()[0].strip().splitlines()[-1])
    finally:
        srv.stop()
    return {"share": share, "bulk_msgs_per_s": b["msgs_per_s"], "bulk_gb_per_s": b["mb_per_s"] / 1000,
            "light_round_trips_per_s": l["msgs_per_s"], "light_p50_us": l["latency_us"]["p50"],
            "light_p99_us": l["latency_us"]["p99"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shares", default="20,30,100")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--out", default="/tmp/mixed_share.json")
    a = ap.parse_args()
    rows = []
    for _ in range(a.rounds):
        for share in [int(s) for s in a.shares.split(",")]:
            r = case(share, a.duration)
            rows.append(r)
            print(f"share {share:3}%: bulk {r['bulk_msgs_per_s'] / 1000:6.1f}k msgs/s "
                  f"({r['bulk_gb_per_s']:.2f} GB/s); latency-bound {r['light_round_trips_per_s']:7.0f} "
                  f"round trips/s, p50 {r['light_p50_us']:.1f} us, p99 {r['light_p99_us']:.1f} us",
                  flush=True)
    doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": " ".join(sys.argv), "cpu_model": run.cpu_model(), "rows": rows}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(json.dumps({"rows": len(rows), "out": a.out}))


if __name__ == "__main__":
    main()
