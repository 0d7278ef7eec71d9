#!/usr/bin/env python3
"""librados (the real `rados bench`) against `pollmsgr rados bench`, same OSD, same run.

Issue 9's client-side comparison: one throwaway Ceph 16.2 cluster (a mon and a
memstore ceph-osd pinned to core 0, cephx, msgr2, crc mode), one pool (pg_num 32,
size 1), and both clients on core 1 with the same parameters:

  real:     rados         bench S write -b 4096 -t 16 --no-cleanup, then seq
  pollmsgr: pollmsgr rados bench S write -b 4096 -t 16 --no-cleanup, then seq

Reported per client and phase: ops/s, latency p50/p99 (pollmsgr: hdrhistogram over
every op; rados prints no percentiles, so its p50/p99 come from a second pass with
the client's messenger log on, as bench/rados_bench.py does), average latency, and
client CPU per op: the whole client process (rusage, start-up and mon session
included, for both tools alike) and, for rados, also its steady window. The OSD's
CPU per op is beside it: the same server under both clients.

With --endpoints, a second cluster runs the same pollmsgr client against one
pollmsgr OSD endpoint (`serve --osds 1 --join`, core 0) over kernel TCP: pollmsgr
at both ends with the real message shape. With --memif, a third does the same over
a DPDK memif link (`serve --transport dpdk --join`, `rados --transport dpdk --memif`;
both ends busy-poll, so their CPU per op is a core's time over the ops, not work).

    bench/rados_client_bench.py [--seconds 20] [--quick] [--endpoints] [--memif]
                                [--out bench/results]

Writes rados_client_bench.json and rados_client_bench.md into --out and prints the
table. Needs root, the Debian ceph packages (scripts/install-deps.sh), 2+ cores.
"""

import argparse
import datetime
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import re

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rados_bench as rb  # noqa: E402  (the cluster, server and sampling helpers)

PG_NUM = 32


def pollmsgr_bench(conf, pool, seconds, mode, run_name, server_pid, net=()):
    """One `pollmsgr rados bench` phase on the client core (over `net`'s
    transport flags); its JSON plus the whole-process client CPU (rusage) and
    the server's CPU over the run."""
    cmd = ["taskset", "-c", str(rb.CLIENT_CORE), rb.BIN, "rados", "-c", conf, "-p", pool,
           "--core", str(rb.CLIENT_CORE), *net, "--json", "bench", str(seconds), mode,
           "-t", str(rb.DEPTH), "--run-name", run_name]
    if mode == "write":
        cmd += ["-b", str(rb.BLOCK), "--no-cleanup"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s0 = rb.proc_cpu_s(server_pid)
    out = rb.run(cmd, timeout=seconds + 180)
    s1 = rb.proc_cpu_s(server_pid)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    j = json.loads([l for l in out.stdout.splitlines() if l.strip()][-1])
    ops = j.get("total_ops") or 0
    client_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return {
        "command": shlex.join(cmd),
        "ops": ops,
        "ops_per_s": j.get("average_iops"),
        "latency_us": {"p50": j["latency_us"]["p50"], "p99": j["latency_us"]["p99"],
                       "average": 1e6 * j.get("average_latency_s", 0.0),
                       "max": 1e6 * j.get("max_latency_s", 0.0)},
        "client_cpu_s_whole_process": client_s,
        "client_cpu_us_per_op": 1e6 * client_s / ops if ops else None,
        "client_cpu_us_per_op_own_report": j.get("client_cpu_us_per_op"),
        "server_cpu_us_per_op": 1e6 * (s1 - s0) / ops if ops else None,
        "errors": j.get("errors"),
        "verify_failures": j.get("verify_failures"),
        "objecter": j.get("objecter"),
        "transport": j.get("transport"),
    }


def real_bench(conf, pool, seconds, mode, run_name, server_pid):
    r = rb.rados_bench(conf, pool, seconds, mode, run_name, server_pid)
    ops = r["ops"]
    w = r.get("window") or {}
    return {
        "command": r["command"],
        "ops": ops,
        "ops_per_s": r["ops_per_s"],
        "latency_us": dict(r["latency_us"]),
        "client_cpu_s_whole_process": r["client_cpu_s_whole_process"],
        "client_cpu_us_per_op": (1e6 * r["client_cpu_s_whole_process"] / ops) if ops else None,
        "client_cpu_us_per_op_steady_window": w.get("client_cpu_us_per_op"),
        "server_cpu_us_per_op": (1e6 * r["server_cpu_s_whole_process"] / ops) if ops else None,
    }


def run_cluster(key, label, args, base, tmp_root, with_osd, memif=False):
    ip = f"127.78.{base}.{3 if memif else (1 if with_osd else 2)}"
    case_dir = os.path.join(tmp_root, key)
    os.makedirs(case_dir, exist_ok=True)
    res = {"case": key, "label": label, "address": ip, "phases": {}}
    cluster = serve = None
    try:
        rb.log(f"[{key}] {label}: cluster on v2:{ip}:3300 ...")
        cluster = rb.Cluster(os.path.join(case_dir, "cluster"), ip, 3300, with_osd=with_osd)
        cluster.ceph("tell", "mon.a", "config", "set", "debug_ms", "0/0")
        if with_osd:
            pid = cluster.osd_pid()
            cluster.ceph("tell", "osd.0", "config", "set", "debug_ms", "0/0")
            rb.run(["taskset", "-a", "-p", "-c", str(rb.SERVER_CORE), str(pid)])
            res["server"] = "ceph-osd -i 0 (memstore), core 0"
        else:
            extra = ["--transport", "dpdk"] if memif else []
            serve = rb.Serve(cluster, 1, os.path.join(case_dir, "state"), f"rcb-{os.getpid()}",
                             os.path.join(case_dir, "serve.stderr"), extra)
            pid = serve.pid
            res["server"] = (f"pollmsgr serve --osds 1 --join {' '.join(extra)}, core 0 "
                             f"({serve.hello.get('endpoints')})")
        net = []
        if memif:
            net = ["--transport", "dpdk", "--memif", ",".join(serve.hello.get("memif") or [])]
        pool = f"rcb{os.getpid()}{key}"
        cluster.ceph("osd", "pool", "create", pool, str(PG_NUM), str(PG_NUM))
        if memif:
            # The real rados cannot reach a memif address: pollmsgr warms up.
            warm = pollmsgr_bench(cluster.conf, pool, 1, "write", "warmup", pid, net)
        else:
            warm = rb.rados_bench(cluster.conf, pool, 1, "write", "warmup", pid)
        res["warmup_ops_per_s"] = warm["ops_per_s"]
        clients = [("pollmsgr", lambda *a: pollmsgr_bench(*a, net=net))]
        if with_osd:
            clients.insert(0 if args.first == "rados" else 1, ("rados", real_bench))
        for name, fn in clients:
            for mode in ("write", "seq"):
                rb.log(f"[{key}] {name} bench {args.seconds} {mode} ...")
                r = fn(cluster.conf, pool, args.seconds, mode, f"{name}-run", pid)
                res["phases"][f"{name}/{mode}"] = r
                rb.log(f"[{key}]   {r['ops_per_s'] or 0:.0f} ops/s, client "
                       f"{r['client_cpu_us_per_op'] or 0:.1f} us/op, server "
                       f"{r['server_cpu_us_per_op'] or 0:.1f} us/op")
        if with_osd and not args.no_latency_pass:
            rb.log(f"[{key}] rados latency pass (client --debug-ms 1) ...")
            shm = f"/dev/shm/pollmsgr-rcb-{os.getpid()}-{key}"
            os.makedirs(shm, exist_ok=True)
            try:
                lp = rb.latency_pass(cluster.conf, pool, args.seconds, pid, shm)
            finally:
                shutil.rmtree(shm, ignore_errors=True)
            for mode in ("write", "seq"):
                p = lp[mode]["latency_us"] or {}
                ph = res["phases"][f"rados/{mode}"]
                ph["latency_us"]["p50"] = p.get("p50")
                ph["latency_us"]["p99"] = p.get("p99")
                ph["latency_pass"] = {"command": lp[mode]["command"],
                                      "ops_per_s_logged": lp[mode]["ops_per_s"]}
    except Exception as e:  # noqa: BLE001 - recorded; the rest still runs
        res["error"] = str(e)[:3000]
        rb.log(f"[{key}] FAILED: {e}")
    finally:
        if serve:
            res["serve_summary"] = serve.stop()
        if cluster:
            cluster.stop()
    return res


def fmt(v, spec=".0f"):
    return "–" if v is None else format(v, spec)


def render(results):
    lines = [
        f"# librados vs pollmsgr rados bench ({results['date']})", "",
        f"`{results['command']}` · {results['seconds']} s phases · 4 KiB · 16 in flight · "
        f"CPU {results['host']['cpu_model']} · ceph {results['ceph_short']} · one-core AES-GCM "
        f"seal (4 KiB) {fmt((results.get('crypto') or {}).get('seal_4k_gbps'), '.2f')} GB/s", "",
        "| server | client | phase | ops/s | p50 µs | p99 µs | avg µs | client CPU µs/op | "
        "server CPU µs/op |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for case in results["cases"]:
        if case.get("error"):
            lines.append(f"| {case['label']} | – | – | FAILED: {case['error'][:120]} | | | | | |")
        for key, r in case["phases"].items():
            client, mode = key.split("/")
            lat = r["latency_us"]
            lines.append(
                f"| {case['label']} | {client} | {mode} | {fmt(r['ops_per_s'])} | "
                f"{fmt(lat.get('p50'))} | {fmt(lat.get('p99'))} | {fmt(lat.get('average'))} | "
                f"{fmt(r['client_cpu_us_per_op'], '.1f')} | {fmt(r['server_cpu_us_per_op'], '.1f')} |")
    ratio = results.get("ratios") or {}
    if ratio:
        lines += ["", "pollmsgr / rados on the same ceph-osd: " + ", ".join(
            f"{k} {fmt(v, '.2f')}" for k, v in ratio.items())]
    lines += ["", "Client CPU per op is the whole client process (rusage) divided by its ops; "
              "rados p50/p99 come from a separate pass with its messenger log on."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="3 s phases (a smoke run)")
    ap.add_argument("--endpoints", action="store_true",
                    help="also run pollmsgr rados bench against a pollmsgr OSD endpoint")
    ap.add_argument("--memif", action="store_true",
                    help="also against a pollmsgr OSD endpoint over DPDK memif")
    ap.add_argument("--no-latency-pass", action="store_true")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--first", choices=("rados", "pollmsgr"), default="rados",
                    help="which client runs first against the ceph-osd")
    ap.add_argument("--out", default=os.path.join(rb.ROOT, "bench", "results"))
    args = ap.parse_args()
    if args.quick:
        args.seconds = 3
    if not args.no_build:
        rb.log("building release binaries ...")
        subprocess.run(["cargo", "build", "--release", "--bin", "pollmsgr"], cwd=rb.ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "-p", "pollmsgr-bench", "--bin", "crypto"],
                       cwd=rb.ROOT, check=True)
    host = rb.host_info()
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["bench/rados_client_bench.py"] + sys.argv[1:]),
        "seconds": args.seconds, "block_size": rb.BLOCK, "in_flight": rb.DEPTH, "pg_num": PG_NUM,
        "host": host,
        "ceph_short": re.sub(r"^ceph version (\S+).*", r"\1", host["ceph_versions"].get("ceph", "")),
        "crypto": rb.crypto_rate(),
        "cases": [],
    }
    tmp_root = f"/tmp/pollmsgr-rcb-{os.getpid()}"
    os.makedirs(tmp_root, exist_ok=True)
    base = os.getpid() % 250 + 1
    try:
        results["cases"].append(run_cluster("osd", "ceph-osd", args, base, tmp_root, True))
        if args.endpoints:
            results["cases"].append(run_cluster("ep", "pollmsgr endpoint", args, base, tmp_root,
                                                False))
        if args.memif:
            results["cases"].append(run_cluster("memif", "pollmsgr endpoint, DPDK memif", args,
                                                base, tmp_root, False, memif=True))
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    ph = results["cases"][0]["phases"]
    ratios = {}
    for mode in ("write", "seq"):
        a, b = ph.get(f"rados/{mode}"), ph.get(f"pollmsgr/{mode}")
        if a and b and a.get("ops_per_s") and b.get("ops_per_s"):
            ratios[f"{mode} ops/s"] = b["ops_per_s"] / a["ops_per_s"]
            if a.get("client_cpu_us_per_op") and b.get("client_cpu_us_per_op"):
                ratios[f"{mode} client CPU/op"] = b["client_cpu_us_per_op"] / a["client_cpu_us_per_op"]
    results["ratios"] = ratios
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "rados_client_bench.json"), "w") as f:
        json.dump(results, f, indent=1)
    table = render(results)
    with open(os.path.join(args.out, "rados_client_bench.md"), "w") as f:
        f.write(table)
    print(table)
    if any(c.get("error") for c in results["cases"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
