#!/usr/bin/env python3
"""Idle sessions beside one active one over DPDK memif, sharded and not, in one run.

One `serve --transport dpdk` (core 0) and one `bench` (core 1) over memif: a depth-1
4 KiB request/reply connection, with N more sessions established and idle, for each
(smoltcp interfaces per reactor, idle sessions) case. Both ends get the same
--smol-shards. Prints a line per case and writes JSON (issue 11: "idle sessions cost
nothing per packet", "10,000 idle sessions in <= 100 MiB"). Both processes' RSS
is sampled every 0.2 s: the server's before the client starts, the peak of
each, and each one's last sample while the client still ran (its sessions
established and idle by then, if the duration is long enough: pages of idle
sessions are given back after about 1-2 s of quiet).

    bench/idle_memif.py [--cases 1:0,1:1000,64:0,64:1000,256:0,256:10000] [--duration 4]
                        [--out FILE] [--bin PATH]

Results go to --out (default /tmp/idle_memif.json: scratch runs never overwrite
a committed result; pass a bench/results/ path to record one).
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402
from ab import write_results  # noqa: E402


def rss_kb(pid):
    """Resident set of a live process in KiB (0 once it is gone)."""
    return run.rss_kb(pid) or 0


def pte_kb(pid):
    """Page tables of a live process in KiB (VmPTE; 0 once it is gone)."""
    return run.status_kb(pid, "VmPTE") or 0


def one(shards, idle, duration):
    flags = ["--smol-shards", str(shards)]
    cmd = [run.BIN, "serve", "--entity", "osd.0", "--osds", "1",
           "--listen", "v2:127.0.0.1:0/100", "--cores", "0", "--transport", "dpdk", *flags]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        if not first:
            raise RuntimeError(f"{shlex.join(cmd)} did not start: {server.stderr.read()[-2000:]}")
        hello = json.loads(first)
        load = [run.BIN, "bench", "--connect", ",".join(hello["endpoints"]), "--conns", "1",
                "--depth", "1", "--size", "4096", "--duration", str(duration), "--cores", "1",
                "--json", "--transport", "dpdk", "--memif", ",".join(hello["memif"]), *flags]
        if idle:
            load += ["--idle", str(idle)]
        rss = {"server_idle_kb": rss_kb(server.pid), "server_peak_kb": 0, "client_peak_kb": 0}
        client = subprocess.Popen(load, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + duration + 600
        while client.poll() is None and time.monotonic() < deadline:
            s, c = rss_kb(server.pid), rss_kb(client.pid)
            if client.poll() is None and c:
                rss["server_last_kb"], rss["client_last_kb"] = s, c
                rss["server_last_pte_kb"] = pte_kb(server.pid)
                rss["client_last_pte_kb"] = pte_kb(client.pid)
            rss["server_peak_kb"] = max(rss["server_peak_kb"], s)
            rss["client_peak_kb"] = max(rss["client_peak_kb"], c)
            time.sleep(0.2)
        out, err = client.communicate(timeout=60)
        if client.returncode != 0:
            raise RuntimeError(f"{shlex.join(load)} failed ({client.returncode}): {err[-2000:]}")
        r = json.loads([line for line in out.splitlines() if line.strip()][-1])
        r["rss"] = rss
        r["command"] = shlex.join(load)
        r["server_command"] = shlex.join(cmd)
        return r
    finally:
        server.terminate()
        server.communicate(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="1:0,1:1000,64:0,64:1000,256:0,256:10000")
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--out", default="/tmp/idle_memif.json")
    ap.add_argument("--bin", default=run.BIN, help="the pollmsgr binary (both ends)")
    a = ap.parse_args()
    run.BIN = a.bin
    rows = []
    for case in a.cases.split(","):
        shards, idle = (int(x) for x in case.split(":"))
        r = one(shards, idle, a.duration)
        row = {"smol_shards": shards, "idle": idle, "round_trips_per_s": r["msgs_per_s"],
               "p50_us": r["latency_us"]["p50"], "p99_us": r["latency_us"]["p99"],
               "rss_kb": r["rss"],
               "command": r["command"], "server_command": r["server_command"]}
        rows.append(row)
        print(f"shards {shards:5} idle {idle:6}: {row['round_trips_per_s']:9.0f} round trips/s,"
              f" p50 {row['p50_us']:7.1f} us, p99 {row['p99_us']:7.1f} us; RSS KiB server"
              f" {r['rss']['server_idle_kb']} idle, {r['rss'].get('server_last_kb')} last,"
              f" {r['rss']['server_peak_kb']} peak; client {r['rss'].get('client_last_kb')} last,"
              f" {r['rss']['client_peak_kb']} peak; page tables KiB server"
              f" {r['rss'].get('server_last_pte_kb')}, client {r['rss'].get('client_last_pte_kb')}",
              flush=True)
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "cpu_model": run.cpu_model()},
           "binary": a.bin, "duration_s": a.duration, "rows": rows}
    write_results(a.out, out)


if __name__ == "__main__":
    main()
