#!/usr/bin/env python3
"""Runs pollmsgr's messenger benchmarks side by side, in one run.

The same request/reply workloads (in the style of Ceph's perf_msgr: one
connection, replies without data) run over each transport, server pinned to
one core and load generator to the other, and one table compares every
figure with its target and with Ceph 16.2's AsyncMessenger on this machine.

    bench/run.py [--transports kernel,tap,dpdk] [--modes crc,secure]
                 [--duration 5] [--scale-sessions 10000] [--out bench/results]
                 [--previous OLD_BIN] [--rados]

--previous runs every cell with a second build too (the previous main, built
from its commit with cargo build --release), alternating which goes first, and
the table gives each figure as a ratio to it. --rados adds the same-run anchors
bench/rados_bench.py produces (real `rados bench` against a real ceph-osd and
against pollmsgr endpoints), beside the Ceph column's recorded figures.

Writes RESULTS.json (every number, with the commands that produced it),
RESULTS.md (the table) and latency.svg (latency percentiles per transport)
into --out. Needs root for the tap and dpdk transports (namespaces).
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pollmsgr")
CRYPTO = os.path.join(ROOT, "target", "release", "crypto")

# Ceph 16.2 AsyncMessenger (ceph_perf_msgr_server/client), recorded on
# 2026-11-2x on an earlier host of this 2-core VM, not in the same run: hosts
# differ up to 10x. The same-run anchors are --rados's.
ANCHOR_NOTE = ("Ceph column: Ceph 16.2 AsyncMessenger (perf_msgr), recorded in an earlier session on "
               "another host of this 2-core VM, not in this run")
ANCHOR = {
    ("4k_d32", "crc"): "46k msgs/s",
    ("4k_d32", "secure"): "32k msgs/s",
    ("64k_d32", "crc"): "1.54 GB/s",
    ("64k_d32", "secure"): "1.19 GB/s",
    ("4k_d1", "crc"): "p50 113 us",
    ("4k_d1", "secure"): "p50 142 us",
}

WORKLOADS = [
    # name, size, depth
    ("4k_d32", 4096, 32),
    ("64k_d32", 65536, 32),
    ("4k_d1", 4096, 1),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def status_kb(pid, field):
    """A KiB figure (`VmRSS`, `VmPTE`, ...) of a live process from
    /proc/PID/status (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_kb(pid):
    """Resident set of a live process in KiB (None once it is gone)."""
    return status_kb(pid, "VmRSS")


def run_json(cmd, timeout=300):
    """Runs a command that prints one JSON line last; returns the parsed value."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    return json.loads(lines[-1])


class Cluster:
    """A throwaway mon-only cephx cluster (scripts/bench-cluster.sh) for secure mode."""

    def __init__(self, path):
        self.dir = path
        subprocess.run([os.path.join(ROOT, "scripts", "bench-cluster.sh"), "start", path, "7"],
                       check=True, capture_output=True, text=True)
        self.env = {}
        with open(os.path.join(path, "env.sh")) as f:
            for line in f:
                if line.startswith("export ") and "=" in line:
                    k, v = line[len("export "):].strip().split("=", 1)
                    self.env[k] = v.strip("'\"")

    def server_args(self):
        e = self.env
        return ["--auth", "cephx", "--mon", e["MON_V2_ADDR"], "--keyring", e["OSD_KEYRING"],
                "--mode", "prefer-crc"], e["OSD_ENTITY"]

    def client_args(self):
        e = self.env
        return ["--auth", "cephx", "--mon", e["MON_V2_ADDR"], "--keyring", e["ADMIN_KEYRING"]]

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "bench-cluster.sh"), "stop", self.dir],
                       capture_output=True)


class Server:
    """A `pollmsgr serve --osds N` process, stopped by pid."""

    def __init__(self, transport, osds, cluster=None, flags=()):
        extra, entity = cluster.server_args() if cluster else ([], "osd.0")
        self.cmd = [BIN, "serve", "--entity", entity, "--osds", str(osds),
                    "--listen", "v2:127.0.0.1:0/100", "--cores", "0",
                    "--transport", transport, *extra, *flags]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.proc.stdout.readline()
        if not first:
            err = self.proc.stderr.read()
            raise RuntimeError(f"{shlex.join(self.cmd)} did not start: {err[-2000:]}")
        hello = json.loads(first)
        self.endpoints = hello["endpoints"]
        # TAP: clients run in the server's namespace; DPDK: over its memif links.
        self.netns = hello.get("netns")
        self.memif = hello.get("memif") or []

    def client_prefix(self, cluster=None):
        # TAP without cephx: the whole client runs in the namespace.
        return ["ip", "netns", "exec", self.netns] if self.netns and not cluster else []

    def client_args(self, cluster=None):
        if self.memif:
            return ["--transport", "dpdk", "--memif", ",".join(self.memif)]
        # TAP with cephx: the client's mon session stays on the host's
        # loopback, its load connections open in the namespace (bench --netns).
        return ["--netns", self.netns] if self.netns and cluster else []

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        lines = [l for l in out.splitlines() if l.strip()]
        return json.loads(lines[-1]) if lines else None


def bench(server, size, depth, duration, conns=1, idle=0, mode="crc", cluster=None):
    cmd = server.client_prefix(cluster) + [
        BIN, "bench", "--connect", ",".join(server.endpoints), "--conns", str(conns),
        "--depth", str(depth), "--size", str(size), "--duration", str(duration),
        "--cores", "1", "--mode", mode, "--json", *server.client_args(cluster),
        *(cluster.client_args() if cluster else [])]
    if idle:
        cmd += ["--idle", str(idle)]
    r = run_json(cmd, timeout=duration + 300)
    r["command"] = shlex.join(cmd)
    return r


def fmt_rate(r):
    return f"{r['msgs_per_s'] / 1000:.1f}k msgs/s, {r['mb_per_s'] / 1000:.2f} GB/s"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transports", default="kernel,tap,dpdk")
    ap.add_argument("--modes", default="crc,secure")
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--scale-sessions", type=int, default=10000)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--previous", metavar="OLD_BIN",
                    help="a previous build's pollmsgr binary, run beside the current one in every cell")
    ap.add_argument("--rados", action="store_true",
                    help="also run bench/rados_bench.py (same-run anchors against a real ceph-osd)")
    args = ap.parse_args()

    if not args.no_build:
        log("building release binaries ...")
        subprocess.run(["cargo", "build", "--release", "--bin", "pollmsgr"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "-p", "pollmsgr-bench", "--bin", "crypto"],
                       cwd=ROOT, check=True)

    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "kernel": platform.release(), "cpu_model": cpu_model()},
        "previous": args.previous,
        "command": shlex.join([sys.argv[0]] + sys.argv[1:]),
        "runs": [],
        "previous_runs": [],
        "skipped": [],
    }

    log("crypto micro-benchmark (one core) ...")
    crypto = run_json([CRYPTO, "--json", "--secs", "0.5"])
    backend = crypto["defaults"]["aes_gcm"]
    aes_gbps = crypto["aes128gcm"][backend]["seal"]["64KiB"]
    results["crypto"] = {"aes_gcm_backend": backend, "aes_gcm_seal_64k_gbps": aes_gbps,
                         "crc32c_backend": crypto["defaults"]["crc32c"]}

    modes = args.modes.split(",")
    cluster = None
    if "secure" in modes:
        # Secure mode needs cephx keys: tickets and rotating keys from a real mon.
        try:
            cluster = Cluster(f"/tmp/pollmsgr-bench-cluster-{os.getpid()}")
        except subprocess.CalledProcessError as e:
            results["skipped"].append({"mode": "secure", "why": f"bench-cluster.sh: {e.stderr[-500:]}"})
            modes = [m for m in modes if m != "secure"]
    try:
        run_matrix(args, results, modes, cluster)
    finally:
        if cluster:
            cluster.stop()

    # Connection scaling and memory per idle session (kernel transport).
    scale(args, results)
    if args.rados:
        rados_anchor(args, results)
    write(args, results)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def rados_anchor(args, results):
    """Real `rados bench` against a real ceph-osd and pollmsgr endpoints, this run."""
    log("rados bench anchors (bench/rados_bench.py) ...")
    cmd = [sys.executable, os.path.join(ROOT, "bench", "rados_bench.py"), "--no-build", "--out", args.out]
    done = subprocess.run(cmd, capture_output=True, text=True)
    path = os.path.join(args.out, "rados_bench.json")
    if done.returncode != 0 or not os.path.exists(path):
        results["skipped"].append({"rados": "anchor", "why": done.stderr[-500:]})
        return
    with open(path) as f:
        doc = json.load(f)
    rows = []
    for c in doc["cases"]:
        for phase in ("write", "seq"):
            p = c.get(phase)
            if not p:
                continue
            rows.append({"case": c["label"], "phase": phase, "ops_per_s": p["ops_per_s"],
                         "latency_avg_us": p["latency_us"]["average"],
                         "client_cpu_us_per_op": p.get("window", {}).get("client_cpu_us_per_op"),
                         "server_cpu_us_per_op": p.get("window", {}).get("server_cpu_us_per_op")})
    shown = ["bench/rados_bench.py", *cmd[2:]]
    results["rados_anchor"] = {"command": shlex.join(shown), "file": "rados_bench.json", "rows": rows}


def run_matrix(args, results, modes, cluster):
    global BIN
    current = BIN
    builds = [("runs", current)] + ([("previous_runs", args.previous)] if args.previous else [])
    turn = 0
    for transport in args.transports.split(","):
        for mode in modes:
            # Alternate which build goes first, so drift weighs on both alike.
            order = builds if turn % 2 == 0 else builds[::-1]
            turn += 1
            for key, binary in order:
                BIN = binary
                try:
                    run_cell(args, results, key, transport, mode, cluster)
                finally:
                    BIN = current


def run_cell(args, results, key, transport, mode, cluster):
    """One transport and mode, every workload, with the build in BIN; rows go to results[key]."""
    label = "" if key == "runs" else " (previous)"
    # cephx for both modes when a cluster runs, so only the mode differs;
    # over TAP crc stays auth none (its client runs wholly in the namespace,
    # as older builds need) and secure opens its connections there with
    # bench --netns while its mon session stays on the host.
    c = cluster if cluster and (transport != "tap" or mode == "secure") else None
    try:
        server = Server(transport, 1, c)
    except RuntimeError as e:
        results["skipped"].append({"transport": transport, "mode": mode, "build": key,
                                   "why": str(e)[:500]})
        log(f"skip {transport}/{mode}{label}: {e}")
        return
    try:
        for name, size, depth in WORKLOADS:
            log(f"{transport} {mode} {name}{label} ...")
            try:
                r = bench(server, size, depth, args.duration, mode=mode, cluster=c)
            except RuntimeError as e:
                results["skipped"].append({"transport": transport, "mode": mode, "build": key,
                                           "workload": name, "why": str(e)[:500]})
                log(f"skip {transport}/{mode}/{name}{label}: {e}")
                continue
            r.update({"workload": name, "transport": transport, "client_transport": r.get("transport")})
            results[key].append(r)
            log(f"  {fmt_rate(r)}, p50 {r['latency_us']['p50']:.1f} us, "
                f"p99 {r['latency_us']['p99']:.1f} us")
    finally:
        server.stop()

def scale(args, results):
    """Connection scaling and memory per idle session, over kernel TCP and smoltcp/TAP."""
    if not args.scale_sessions:
        return
    for transport in ("kernel", "tap"):
        if transport in args.transports.split(","):
            scale_one(args, results, transport)


def scale_one(args, results, transport):
    log(f"scaling over {transport}: {args.scale_sessions} sessions, 1% active ...")
    key = "scale" if transport == "kernel" else f"scale_{transport}"
    try:
        server = Server(transport, 16)
        try:
            single = bench(server, 4096, 32, args.duration)
            rss_before = server.rss_kb()
            active = max(1, args.scale_sessions // 100)
            scaled = bench(server, 4096, 32, args.duration, conns=active,
                           idle=args.scale_sessions - active)
            rss_after = server.rss_kb()
        finally:
            summary = server.stop()
        results[key] = {
            "transport": transport,
            "sessions": scaled["sessions"], "active": active,
            "single_msgs_per_s": single["msgs_per_s"], "scaled_msgs_per_s": scaled["msgs_per_s"],
            "ratio": scaled["msgs_per_s"] / single["msgs_per_s"],
            "server_rss_kb_before": rss_before, "server_rss_kb_with_sessions": rss_after,
            "bytes_per_idle_session": (rss_after - rss_before) * 1024 / args.scale_sessions,
            "commands": [single["command"], scaled["command"]],
            "server_summary": {k: summary.get(k) for k in ("sessions", "messages")} if summary else None,
        }
    except RuntimeError as e:
        results["skipped"].append({"scale": transport, "why": str(e)[:500]})


def write(args, results):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "RESULTS.json"), "w") as f:
        json.dump(results, f, indent=1)
    table = render_table(results)
    with open(os.path.join(args.out, "RESULTS.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "latency.svg"), "w") as f:
        f.write(render_svg(results))
    print(table)


def find(results, transport, mode, workload, key="runs"):
    for r in results.get(key, []):
        if r["transport"] == transport and r["mode"] == mode and r["workload"] == workload:
            return r
    return None


def render_table(res):
    prev = res.get("previous")
    lines = [f"# pollmsgr benchmarks ({res['date']})", "",
             f"Command: `{res['command']}`. Server on core 0, load generator on core 1, "
             "one connection, replies without data.", "",
             f"Host: {res['host'].get('cpu_model', 'unknown')}, {res['host']['cpus']} cores, kernel "
             f"{res['host']['kernel']}. One-core AES-128-GCM ({res['crypto']['aes_gcm_backend']}, 64 KiB seal): "
             f"{res['crypto']['aes_gcm_seal_64k_gbps']:.2f} GB/s.", "",
             f"{ANCHOR_NOTE}."]
    if prev:
        lines += ["", f"previous: the same cell with `{prev}` in the same run (alternating which build "
                  "goes first); x previous: this build's msgs/s over the previous one's (for 4k_d1, "
                  "the previous p50 over this p50: above 1 is faster)."]
    lines += ["",
              "| workload | mode | transport | result | p50 / p99 / p99.9 us | previous | x previous "
              "| target | Ceph (recorded) | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    aes = res["crypto"]["aes_gcm_seal_64k_gbps"]
    for name, _, _ in WORKLOADS:
        for mode in ("crc", "secure"):
            crc_4k = {}
            for t in ("kernel", "tap", "dpdk"):
                r = find(res, t, mode, name)
                if not r:
                    continue
                lat = r["latency_us"]
                target, ok = target_for(res, t, mode, name, r, aes)
                result = (f"p50 {lat['p50']:.1f} us" if name == "4k_d1" else fmt_rate(r))
                old = find(res, t, mode, name, "previous_runs")
                before, ratio = "", ""
                if old and name == "4k_d1":
                    before = f"p50 {old['latency_us']['p50']:.1f} us"
                    ratio = f"{old['latency_us']['p50'] / max(lat['p50'], 1e-9):.2f}x"
                elif old:
                    before = fmt_rate(old)
                    ratio = f"{r['msgs_per_s'] / max(old['msgs_per_s'], 1e-9):.2f}x"
                elif prev:
                    before = "not run"
                lines.append(f"| {name} | {mode} | {t} | {result} | {lat['p50']:.1f} / {lat['p99']:.1f} / "
                             f"{lat['p999']:.1f} | {before} | {ratio} | {target} | "
                             f"{ANCHOR.get((name, mode), '')} | "
                             f"{'met' if ok else 'MISSED' if ok is not None else ''} |")
    for key in ("scale", "scale_tap"):
        if key not in res:
            continue
        s = res[key]
        t = s.get("transport", "kernel")
        lines += ["", f"Connection scaling ({t}): {s['sessions']} sessions, {s['active']} active: "
                  f"{s['scaled_msgs_per_s'] / 1000:.1f}k msgs/s vs {s['single_msgs_per_s'] / 1000:.1f}k "
                  f"single-session = {100 * s['ratio']:.0f}% (target >= 50%)."]
        if t == "kernel":
            lines.append(f"Server memory per idle session (outside kernel TCP buffers): "
                         f"{s['bytes_per_idle_session']:.0f} bytes (target <= 8192).")
    ra = res.get("rados_anchor")
    if ra:
        lines += ["", f"Same-run anchors: real `rados bench` 4 KiB x 16 (`{ra['command']}`; full table in "
                  f"{ra['file'].replace('.json', '.md')}):", "",
                  "| case | phase | ops/s | lat avg us | server CPU us/op | client CPU us/op |",
                  "|---|---|---|---|---|---|"]
        for row in ra["rows"]:
            cpu = [f"{v:.1f}" if isinstance(v, (int, float)) else "" for v in
                   (row["server_cpu_us_per_op"], row["client_cpu_us_per_op"])]
            lines.append(f"| {row['case']} | {row['phase']} | {row['ops_per_s']:.0f} | "
                         f"{row['latency_avg_us']:.0f} | {cpu[0]} | {cpu[1]} |")
    if res["skipped"]:
        lines += ["", "Not measured in this run:"]
        lines += [f"- {json.dumps(s)}" for s in res["skipped"]]
    return "\n".join(lines) + "\n"


def target_for(res, transport, mode, name, r, aes):
    """The issue's target for this figure, and whether it was met (None: no target)."""
    crc = find(res, transport, "crc", name)
    if transport == "dpdk":
        if name == "4k_d32" and mode == "crc":
            return ">= 300k msgs/s", r["msgs_per_s"] >= 300_000
        if name == "4k_d32" and mode == "secure" and crc:
            return ">= 0.7x crc", r["msgs_per_s"] >= 0.7 * crc["msgs_per_s"]
        if name == "64k_d32" and mode == "secure":
            return f">= 70% of AES {aes:.1f} GB/s", r["mb_per_s"] / 1000 >= 0.7 * aes
        if name == "4k_d1":
            lat = r["latency_us"]
            return "p50 <= 10, p99 <= 20 us", lat["p50"] <= 10 and lat["p99"] <= 20
    if transport == "kernel":
        anchors = {("4k_d32", "crc"): 46_000, ("4k_d32", "secure"): 32_000}
        if (name, mode) in anchors:
            return ">= Ceph", r["msgs_per_s"] >= anchors[(name, mode)]
        if name == "64k_d32":
            return ">= Ceph", r["mb_per_s"] / 1000 >= (1.54 if mode == "crc" else 1.19)
        if name == "4k_d1":
            return "p50 <= Ceph", r["latency_us"]["p50"] <= (113 if mode == "crc" else 142)
    return "", None


def render_svg(res):
    """Grouped bars: latency percentiles (4 KiB, 1 in flight) per transport and mode."""
    rows = [(f"{r['transport']}/{r['mode']}", r["latency_us"]) for r in res["runs"] if r["workload"] == "4k_d1"]
    keys = [("p50", "#4e79a7"), ("p99", "#f28e2b"), ("p999", "#e15759")]
    w, h, left, bottom = 760, 360, 60, 60
    vmax = max([lat[k] for _, lat in rows for k, _ in keys] + [1.0])
    group = (w - left - 20) / max(1, len(rows))
    bar = group / (len(keys) + 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
           f'<text x="{w / 2}" y="16" text-anchor="middle" font-size="13">Round-trip latency, 4 KiB, 1 in flight (us)</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - 10}" y2="{h - bottom}" stroke="black"/>',
           f'<line x1="{left}" y1="30" x2="{left}" y2="{h - bottom}" stroke="black"/>']
    for i in range(5):
        v = vmax * i / 4
        y = h - bottom - (h - bottom - 30) * i / 4
        out.append(f'<text x="{left - 5}" y="{y + 4}" text-anchor="end">{v:.0f}</text>')
    for gi, (label, lat) in enumerate(rows):
        x0 = left + gi * group + bar / 2
        for ki, (k, color) in enumerate(keys):
            v = lat[k]
            bh = (h - bottom - 30) * v / vmax
            x = x0 + ki * bar
            out.append(f'<rect x="{x:.1f}" y="{h - bottom - bh:.1f}" width="{bar * 0.9:.1f}" height="{bh:.1f}" fill="{color}"/>')
        out.append(f'<text x="{x0 + bar * 1.5:.1f}" y="{h - bottom + 15}" text-anchor="middle">{label}</text>')
    for ki, (k, color) in enumerate(keys):
        out.append(f'<rect x="{left + 10 + ki * 70}" y="{h - 25}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{left + 25 + ki * 70}" y="{h - 16}">{k}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
