#!/usr/bin/env python3
"""Real `rados bench` against a real Ceph OSD and against pollmsgr's OSD endpoints.

One run, three cases side by side, each on its own throwaway Ceph 16.2 cluster
(scripts/ceph-cluster.sh, cephx, msgr2 only, its own 127.x.y.z loopback address):

  a. a real memstore ceph-osd (mon + osd), pinned to core 0
  b. one pollmsgr endpoint:   `pollmsgr serve --osds 1 --join`, pinned to core 0
  c. 16 pollmsgr endpoints in one process: `--osds 16`, pinned to core 0

Each case: a pool with pg_num 32 (size 1) whose PGs all map to the case's OSDs,
a 1 s warm-up write, then the real `rados bench` (4 KiB, 16 in flight) pinned to
core 1: `write --no-cleanup`, then `seq` over what it wrote. Reported per phase:
ops/s, average/max latency (rados bench's own figures, every op), server and
client CPU per op and per cent of one core, and which side is the limit.

rados bench prints no percentiles. p50/p99 come from a second, separate pass of
each phase with the client's messenger log on (`--debug-ms 1`, microsecond
timestamps): for every osd_op, the time from the client queueing the request to
the client reading its osd_op_reply, matched by tid. Logging costs client CPU,
so that pass runs slower; its own ops/s and average are reported beside it.

    bench/rados_bench.py [--seconds 10] [--quick] [--cases a,b,c] [--out bench/results]
                         [--wait-idle S]   # on a shared machine: wait for idle cores first

Writes rados_bench.json (every figure, with the commands) and rados_bench.md
(the table) into --out and prints the table. Needs root (ceph daemons), the
Debian ceph packages (scripts/install-deps.sh) and two or more cores.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import resource
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "pollmsgr")
CRYPTO = os.path.join(ROOT, "target", "release", "crypto")
CLUSTER = os.path.join(ROOT, "scripts", "ceph-cluster.sh")

SERVER_CORE = 0
CLIENT_CORE = 1
BLOCK = 4096
DEPTH = 16
PG_NUM = 32
TICK = os.sysconf("SC_CLK_TCK")

CASES = {
    # key: (label, pollmsgr endpoints or 0 for a real ceph-osd)
    "a": ("ceph-osd (memstore)", 0),
    "b": ("pollmsgr, 1 endpoint", 1),
    "c": ("pollmsgr, 16 endpoints", 16),
}

# memstore's default 256 MiB fills up (OSD full, writes block) after ~60k 4 KiB objects.
EXTRA_CONF = "memstore device bytes = 8589934592"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def die_with_parent():
    """preexec_fn: the child gets SIGTERM if this script dies (PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass


def run(cmd, timeout=120, env=None, check=True):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                         preexec_fn=die_with_parent)
    if check and out.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({out.returncode}): "
                           f"{(out.stderr or out.stdout)[-2000:]}")
    return out


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def core_times():
    """{core: {"busy", "irq", "total"}} jiffies from /proc/stat (irq includes softirq)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                v = [int(x) for x in parts[1:9]] + [0] * (8 - len(parts[1:9]))
                total = sum(v)
                out[int(parts[0][3:])] = {"busy": total - v[3] - v[4], "irq": v[5] + v[6], "total": total}
    return out


def core_delta(c0, c1, core):
    """busy % and irq+softirq % of one core between two core_times() samples."""
    a, b = c0.get(core), c1.get(core)
    if not a or not b or b["total"] == a["total"]:
        return None
    dt = b["total"] - a["total"]
    return {"busy": 100.0 * (b["busy"] - a["busy"]) / dt, "irq": 100.0 * (b["irq"] - a["irq"]) / dt}


def host_info():
    model, flags = None, ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model is None:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    flags = set(flags.split())
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    versions = {}
    for b in ("ceph", "ceph-osd", "rados"):
        try:
            versions[b] = run([b, "--version"], timeout=30).stdout.strip()
        except Exception as e:  # noqa: BLE001 - recorded, not fatal
            versions[b] = f"unknown ({e})"
    return {
        "cpu_model": model, "cores": os.cpu_count(),
        "cpu_flags": sorted(flags & {"aes", "pclmulqdq", "avx2", "avx512f", "vaes", "vpclmulqdq", "sse4_2"}),
        "kernel": platform.release(), "loadavg_at_start": [float(x) for x in load],
        "ceph_versions": versions,
    }


def crypto_rate():
    """One-core AES-128-GCM seal rate of the default backend (bench/src/bin/crypto.rs)."""
    try:
        out = run([CRYPTO, "--json", "--secs", "0.5"], timeout=300).stdout
        d = json.loads([l for l in out.splitlines() if l.strip()][-1])
        backend = d["defaults"]["aes_gcm"]
        seal = d["aes128gcm"][backend]["seal"]
        return {"aes_gcm_backend": backend, "seal_4k_gbps": seal.get("4KiB"),
                "seal_64k_gbps": seal.get("64KiB"), "command": f"{CRYPTO} --json --secs 0.5",
                "note": "the rados sessions here run in crc mode (ms_client_mode default "
                        "'crc secure'), so AES-GCM is context, not on the data path"}
    except Exception as e:  # noqa: BLE001
        return {"error": f"crypto micro-benchmark failed: {e}"[:500]}


class Cluster:
    """scripts/ceph-cluster.sh start|start-mon DIR cephx IP PORT; stopped with stop DIR."""

    def __init__(self, path, ip, port, with_osd):
        self.dir = path
        self.cmd = [CLUSTER, "start" if with_osd else "start-mon", path, "cephx", ip, str(port)]
        env = dict(os.environ, CEPH_OWNER_PID=str(os.getpid()), CEPH_EXTRA_CONF=EXTRA_CONF)
        self.started = True
        run(self.cmd, timeout=180, env=env)
        self.env = {}
        with open(os.path.join(path, "env.sh")) as f:
            for line in f:
                if line.startswith("export ") and "=" in line:
                    k, v = line[len("export "):].strip().split("=", 1)
                    self.env[k] = v.strip("'\"")
        self.conf = self.env["CEPH_CONF"]

    def ceph(self, *args, timeout=60):
        return run(["ceph", "-c", self.conf, "--connect-timeout", "30", *args], timeout=timeout)

    def osd_pid(self):
        with open(os.path.join(self.dir, "pids", "osd.0")) as f:
            return int(f.read().strip())

    def stop(self):
        run([CLUSTER, "stop", self.dir], timeout=120, check=False)


class Serve:
    """`pollmsgr serve --osds N --join`, pinned to the server core; stopped by pid."""

    def __init__(self, cluster, osds, state_dir, crush_host, stderr_path, extra=()):
        self.cmd = ["taskset", "-c", str(SERVER_CORE), BIN, "serve", "--osds", str(osds), "--join",
                    "-c", cluster.conf, "--state-dir", state_dir, "--cores", str(SERVER_CORE),
                    "--crush-host", crush_host, *extra]
        self.stderr_path = stderr_path
        self.err = open(stderr_path, "w")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     preexec_fn=die_with_parent)
        self.pid = self.proc.pid
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"{shlex.join(self.cmd)} gave no ready line: {self.stderr_tail()}")
        self.hello = json.loads(line)

    def stderr_tail(self, n=4000):
        if not self.err.closed:
            self.err.flush()
        with open(self.stderr_path, errors="replace") as f:
            return f.read()[-n:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        self.err.close()
        lines = [l for l in (out or "").splitlines() if l.strip()]
        try:
            return json.loads(lines[-1]) if lines else None
        except json.JSONDecodeError:
            return {"unparsed": lines[-1][:2000]}


PER_SECOND = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s*$")


def parse_summary(lines):
    """rados bench's closing block ("Total time run:  10.0", "Average IOPS:  6575", ...)."""
    out = {}
    for line in lines:
        k, sep, v = line.partition(":")
        if sep:
            try:
                out[k.strip()] = float(v.strip())
            except ValueError:
                pass
    return out


def background_busy(secs=2.0):
    """Per-core busy % over a few idle seconds: load from outside this benchmark."""
    c0 = core_times()
    time.sleep(secs)
    c1 = core_times()
    out = {}
    for k in (SERVER_CORE, CLIENT_CORE):
        d = core_delta(c0, c1, k)
        if d:
            out[f"core{k}"] = round(d["busy"], 1)
    return out


def wait_idle(max_wait, threshold=25.0):
    """Waits (up to max_wait s) until both cores are below threshold% busy from other load."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = background_busy()
        if max(busy.values()) < threshold or time.monotonic() >= deadline:
            return busy
        log(f"  cores busy {busy} from other load; waiting ...")
        time.sleep(5)


class Sample:
    """Counters at one moment: server and client CPU seconds, per-core jiffies."""

    def __init__(self, server_pid, client_pid=None):
        self.t = time.monotonic()
        self.server = proc_cpu_s(server_pid)
        self.client = None
        if client_pid:
            try:
                self.client = proc_cpu_s(client_pid)
            except OSError:
                pass
        self.cores = core_times()


def rados_bench(conf, pool, seconds, mode, run_name, server_pid, log_file=None):
    """One `rados bench` phase on the client core.

    rados prints one progress line per second as it goes; at each, both processes'
    CPU and the cores' jiffies are sampled, so CPU per op and % of core cover the
    steady part (first to last progress line), not the client's start-up and exit."""
    cmd = ["taskset", "-c", str(CLIENT_CORE), "rados", "-c", conf, "-p", pool, "bench", str(seconds), mode]
    if mode == "write":
        cmd += ["-b", str(BLOCK)]
    cmd += ["-t", str(DEPTH)]
    if mode == "write":
        cmd += ["--no-cleanup"]
    cmd += ["--run-name", run_name]
    if log_file:
        cmd += ["--debug-ms", "1", "--log-coarse-timestamps=false", "--log-file", log_file]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = Sample(server_pid)
    err_path = os.path.join("/dev/shm", f"pollmsgr-rados-bench-{os.getpid()}.stderr")
    with open(err_path, "w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                                preexec_fn=die_with_parent)
        progress, rest = [], []  # (sec, finished, Sample)
        try:
            for line in proc.stdout:
                m = PER_SECOND.match(line)
                if m and not rest:
                    progress.append((int(m.group(1)), int(m.group(4)), Sample(server_pid, proc.pid)))
                elif progress:
                    rest.append(line)
            proc.wait(timeout=seconds + 180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read()
    os.unlink(err_path)
    end = Sample(server_pid)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed ({proc.returncode}): {stderr[-2000:]}")
    b = parse_summary(rest)
    ops = int(b.get("Total writes made") or b.get("Total reads made") or 0)
    bench_s = b.get("Total time run") or 0.0
    r = {
        "command": shlex.join(cmd),
        "ops": ops,
        "bench_seconds": bench_s,
        "ops_per_s": ops / bench_s if ops and bench_s else 0.0,
        "rados_average_iops": b.get("Average IOPS"),
        "mb_per_s": b.get("Bandwidth (MB/sec)"),
        "latency_us": {k: 1e6 * b[f"{name}(s)"] for k, name in
                       (("average", "Average Latency"), ("stddev", "Stddev Latency"),
                        ("max", "Max latency"), ("min", "Min latency")) if f"{name}(s)" in b},
        "process_wall_s": end.t - start.t,
        "client_cpu_s_whole_process": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
        "server_cpu_s_whole_process": end.server - start.server,
        "rados_stderr": stderr.strip()[-1000:],
        "per_second": [{"sec": sec, "finished": fin} for sec, fin, _ in progress],
    }
    # The steady window: first to last progress line (at least one second apart).
    if len(progress) >= 2 and progress[-1][2].client is not None and progress[0][2].client is not None:
        (_, f0, a), (_, f1, z) = progress[0], progress[-1]
        dt, wops = z.t - a.t, f1 - f0
        w = {"seconds": dt, "ops": wops, "ops_per_s": wops / dt,
             "server_cpu_s": z.server - a.server, "client_cpu_s": z.client - a.client}
        w["server_core_pct"] = 100.0 * w["server_cpu_s"] / dt
        w["client_core_pct"] = 100.0 * w["client_cpu_s"] / dt
        w["server_cpu_us_per_op"] = 1e6 * w["server_cpu_s"] / wops if wops else None
        w["client_cpu_us_per_op"] = 1e6 * w["client_cpu_s"] / wops if wops else None
        for side, core in (("server", SERVER_CORE), ("client", CLIENT_CORE)):
            d = core_delta(a.cores, z.cores, core)
            if d:
                own = w[f"{side}_core_pct"]
                w[f"core{core}"] = {"busy_pct": d["busy"], "irq_softirq_pct": d["irq"],
                                    f"{side}_pct": own,
                                    "other_pct": max(0.0, d["busy"] - own - d["irq"])}
        r["window"] = w
        r["limit"] = limit(w)
    return r


def limit(w):
    """Which side's one core ran out. Each side runs alone on its core, so a core
    >= 90% busy (its process, plus the softirq work of loopback TCP that runs there
    and the kernel charges partly to the process and partly to the core) is the
    limit. CPU on a core beyond its process and softirq (another process, the mon)
    is flagged as other load."""
    busy, notes = {}, []
    for side, core in (("server", SERVER_CORE), ("client", CLIENT_CORE)):
        c = w.get(f"core{core}") or {}
        busy[side] = c.get("busy_pct", 0.0)
        if c.get("other_pct", 0.0) >= 10:
            notes.append(f"other load {c['other_pct']:.0f}% on core{core}")
    sat = [side for side in ("server", "client") if busy[side] >= 90]
    if len(sat) == 2:
        verdict = "both"
    elif sat:
        verdict = sat[0]
    else:
        verdict = "neither core saturated"
    return verdict + (f" ({'; '.join(notes)})" if notes else "")


_TS_CACHE = {}


def ts_seconds(tok):
    """'2026-12-03T17:35:05.102720+0000' -> seconds (any fixed epoch)."""
    date, _, rest = tok.partition("T")
    day = _TS_CACHE.get(date)
    if day is None:
        day = _TS_CACHE[date] = datetime.date.fromisoformat(date).toordinal() * 86400
    hms = rest[:15]  # HH:MM:SS.ffffff
    return day + int(hms[0:2]) * 3600 + int(hms[3:5]) * 60 + float(hms[6:])


SEND = re.compile(r" --> \S+ -- osd_op\(\S+:(\d+) ")
RECV = re.compile(r" <== osd\.\d+ \S+ \d+ ==== osd_op_reply\((\d+) ")


def latencies_from_log(path):
    """Per-op client latency (us): osd_op queued -> osd_op_reply read, by tid."""
    sent, lat = {}, []
    with open(path, errors="replace") as f:
        for line in f:
            if "osd_op" not in line:
                continue
            m = SEND.search(line)
            if m:
                sent.setdefault(int(m.group(1)), ts_seconds(line.split(" ", 1)[0]))
                continue
            m = RECV.search(line)
            if m:
                t = sent.pop(int(m.group(1)), None)
                if t is not None:
                    lat.append(1e6 * (ts_seconds(line.split(" ", 1)[0]) - t))
    return lat, len(sent)


def percentiles(values):
    if not values:
        return None
    v = sorted(values)

    def p(q):
        return v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))]

    return {"count": len(v), "p50": p(0.50), "p90": p(0.90), "p99": p(0.99), "p999": p(0.999),
            "max": v[-1], "mean": sum(v) / len(v)}


def latency_pass(conf, pool, seconds, server_pid, tmp):
    """Write then seq again, with the client's messenger log: percentiles per phase."""
    out = {}
    for mode in ("write", "seq"):
        log_file = os.path.join(tmp, f"client-{mode}.log")
        r = rados_bench(conf, pool, seconds, mode, "lat", server_pid, log_file=log_file)
        lat, unmatched = latencies_from_log(log_file)
        os.unlink(log_file)
        out[mode] = {"command": r["command"], "ops_per_s": r["ops_per_s"],
                     "rados_latency_us": r["latency_us"], "window": r.get("window"),
                     "unmatched_requests": unmatched,
                     "latency_us": percentiles(lat)}
    return out


def run_case(key, args, base, tmp_root, results):
    label, osds = CASES[key]
    ip = f"127.{77}.{base}.{ord(key) - ord('a') + 1}"
    port = 3300
    case_dir = os.path.join(tmp_root, key)
    os.makedirs(case_dir, exist_ok=True)
    pool = f"rb{os.getpid()}{key}"
    res = {"case": key, "label": label, "server_core": SERVER_CORE, "client_core": CLIENT_CORE,
           "address": ip, "pool": pool, "pg_num": PG_NUM, "size": 1, "commands": []}
    results["cases"].append(res)
    cluster = serve = None
    try:
        log(f"[{key}] {label}: cluster on v2:{ip}:{port} ...")
        cluster = Cluster(os.path.join(case_dir, "cluster"), ip, port, with_osd=osds == 0)
        res["commands"].append(shlex.join(cluster.cmd) + f"   # CEPH_EXTRA_CONF='{EXTRA_CONF}'")
        # Every daemon logs each message at debug ms 1 (the cluster script's [mon]/[osd]
        # sections); the benchmark runs at Ceph's default, 0/0.
        cluster.ceph("tell", "mon.a", "config", "set", "debug_ms", "0/0")
        if osds == 0:
            pid = cluster.osd_pid()
            cluster.ceph("tell", "osd.0", "config", "set", "debug_ms", "0/0")
            pin = ["taskset", "-a", "-p", "-c", str(SERVER_CORE), str(pid)]
            run(pin)
            res["commands"].append(shlex.join(pin))
            res["server"] = {"process": "ceph-osd -i 0 (memstore)", "pid": pid, "osds": [0],
                             "threads": len(os.listdir(f"/proc/{pid}/task"))}
        else:
            serve = Serve(cluster, osds, os.path.join(case_dir, "state"), f"rb-{os.getpid()}-{key}",
                          os.path.join(case_dir, "serve.stderr"))
            pid = serve.pid
            res["commands"].append(shlex.join(serve.cmd))
            res["server"] = {"process": "pollmsgr serve --join", "pid": pid,
                             "osds": serve.hello.get("osds"), "endpoints": serve.hello.get("endpoints"),
                             "crush_host": serve.hello.get("crush_host"),
                             "transport": serve.hello.get("transport"),
                             "threads": len(os.listdir(f"/proc/{pid}/task"))}
        create = ["osd", "pool", "create", pool, str(PG_NUM), str(PG_NUM)]
        cluster.ceph(*create)
        res["commands"].append(shlex.join(["ceph", "-c", cluster.conf, *create]))
        # Which OSDs the PGs map to (the pool's PGs must all land on this case's server).
        dump = json.loads(cluster.ceph("osd", "dump", "-f", "json").stdout)
        pool_id = next(p["pool"] for p in dump["pools"] if p["pool_name"] == pool)
        res["pool_id"] = pool_id
        res["osdmap_osds_up"] = [o["osd"] for o in dump["osds"] if o["up"]]
        primaries = pg_primaries(cluster, pool_id, case_dir)
        res["pg_primaries"] = {str(k): v for k, v in sorted(primaries.items())}
        if not primaries or set(primaries) - set(res["server"]["osds"] or []):
            raise RuntimeError(f"pool {pool}'s PGs map to OSDs {sorted(primaries)}, not only "
                               f"the case's {res['server']['osds']}")
        log(f"[{key}] pool {pool}: {PG_NUM} PGs over OSDs {sorted(primaries)}; warm-up ...")
        # Warm-up: the PGs peer (ceph-osd) and both sides fault in their code paths.
        warm = rados_bench(cluster.conf, pool, 1, "write", "warmup", pid)
        res["warmup"] = {"command": warm["command"], "ops_per_s": warm["ops_per_s"]}
        res["background_core_busy_pct"] = (wait_idle(args.wait_idle) if args.wait_idle
                                           else background_busy())
        for mode in ("write", "seq"):
            log(f"[{key}] rados bench {args.seconds} {mode} ...")
            r = rados_bench(cluster.conf, pool, args.seconds, mode, "main", pid)
            res[mode] = r
            w = r.get("window") or {}
            log(f"[{key}]   {r['ops_per_s']:.0f} ops/s, avg {r['latency_us'].get('average', 0):.0f} us, "
                f"server process/core {core_cell(w, 'server', SERVER_CORE)}, "
                f"client {core_cell(w, 'client', CLIENT_CORE)} -> "
                f"{r.get('limit')}")
        if not args.no_latency_pass:
            log(f"[{key}] latency pass (client --debug-ms 1) ...")
            shm = f"/dev/shm/pollmsgr-rados-bench-{os.getpid()}-{key}"  # the log on tmpfs: no disk I/O
            os.makedirs(shm, exist_ok=True)
            try:
                res["latency_pass"] = latency_pass(cluster.conf, pool, args.seconds, pid, shm)
            finally:
                shutil.rmtree(shm, ignore_errors=True)
            for mode in ("write", "seq"):
                lp = res["latency_pass"][mode]
                if lp["latency_us"]:
                    log(f"[{key}]   {mode}: p50 {lp['latency_us']['p50']:.0f} us, "
                        f"p99 {lp['latency_us']['p99']:.0f} us ({lp['ops_per_s']:.0f} ops/s logged)")
        if osds == 0:
            res["server"]["threads_after"] = len(os.listdir(f"/proc/{pid}/task"))
    except Exception as e:  # noqa: BLE001 - recorded; the other cases still run
        res["error"] = str(e)[:3000]
        log(f"[{key}] FAILED: {e}")
    finally:
        try:
            if serve:
                res["serve_summary"] = serve.stop()
                text = serve.stderr_tail(200000)
                res["serve_stderr_lines"] = len(text.splitlines())
                res["serve_stderr_notable"] = [
                    l for l in text.splitlines()
                    if re.search(r"error|fail|warn|panic|lost|refus|drop", l, re.I)][:40]
                res["serve_stderr_tail"] = text[-3000:]
            if cluster and osds == 0:
                res["ceph_osd_log_errors"] = grep_log(os.path.join(cluster.dir, "log", "osd.0.log"))
        except Exception as e:  # noqa: BLE001
            res.setdefault("cleanup_error", str(e)[:500])
        finally:
            if cluster:
                cluster.stop()


def pg_primaries(cluster, pool_id, tmp):
    """{osd: PGs it is primary for} of the pool, from the current osdmap (osdmaptool)."""
    path = os.path.join(tmp, "osdmap.bin")
    cluster.ceph("osd", "getmap", "-o", path)
    out = run(["osdmaptool", path, "--test-map-pgs-dump", "--pool", str(pool_id)], timeout=60).stdout
    counts = {}
    # lines like "2.1f	[3]	3": pg, up set, primary
    for line in out.splitlines():
        m = re.match(rf"^{pool_id}\.[0-9a-f]+\s+\[[^\]]*\]\s+(-?\d+)\s*$", line)
        if m:
            counts[int(m.group(1))] = counts.get(int(m.group(1)), 0) + 1
    return counts


def grep_log(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            if re.search(r" (error|ERR|fail)", line) and "ms_handle" not in line:
                out.append(line.strip()[:300])
                if len(out) >= 20:
                    break
    return out


def fmt(v, spec=".0f"):
    return "" if v is None else format(v, spec)


def core_cell(w, side, core):
    """'41% / 60%': the side's process, and the whole core busy, in % of the core."""
    if not w:
        return ""
    c = w.get(f"core{core}") or {}
    return f"{w[f'{side}_core_pct']:.0f}% / {c.get('busy_pct', 0):.0f}%"


def render(res):
    h = res["host"]
    c = res.get("crypto", {})
    aes = (f"{c['seal_4k_gbps']} GB/s (4 KiB), {c['seal_64k_gbps']} GB/s (64 KiB), {c['aes_gcm_backend']}"
           if "seal_64k_gbps" in c else c.get("error", "not measured"))
    lines = [
        f"# rados bench: ceph-osd vs pollmsgr ({res['date']})", "",
        f"Command: `{res['command']}`. Real `rados bench` (Ceph {res['ceph_short']}), {BLOCK} B objects, "
        f"{DEPTH} in flight, `write --no-cleanup` then `seq`, {res['seconds']} s each; "
        f"server pinned to core {SERVER_CORE}, rados to core {CLIENT_CORE}; one pool of {PG_NUM} PGs, size 1, "
        "cephx, msgr2 crc mode, kernel TCP over loopback.", "",
        f"Host: {h['cpu_model']}, {h['cores']} cores, kernel {h['kernel']}, load average at start "
        f"{' '.join(str(x) for x in h['loadavg_at_start'])}. One-core AES-128-GCM seal: {aes}.", "",
        "| case | phase | ops/s | MB/s | lat avg / max us (all ops) | lat p50 / p99 us (logged pass) "
        f"| server CPU us/op | client CPU us/op | server core{SERVER_CORE}: process / busy | "
        f"client core{CLIENT_CORE}: process / busy | limit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in res["cases"]:
        if case.get("error") and "write" not in case:
            lines.append(f"| {case['label']} | - | failed: {case['error'][:200]} |  |  |  |  |  |  |  |  |")
            continue
        for mode in ("write", "seq"):
            r = case.get(mode)
            if not r:
                continue
            lp = (case.get("latency_pass") or {}).get(mode) or {}
            pl = lp.get("latency_us")
            pct = (f"{fmt(pl['p50'])} / {fmt(pl['p99'])} ({fmt(lp['ops_per_s'])} ops/s)" if pl else "")
            lat = r["latency_us"]
            w = r.get("window") or {}
            lines.append(
                f"| {case['label']} | {mode} | {r['ops_per_s']:.0f} | {fmt(r['mb_per_s'], '.1f')} | "
                f"{fmt(lat.get('average'))} / {fmt(lat.get('max'))} | {pct} | "
                f"{fmt(w.get('server_cpu_us_per_op'), '.1f')} | {fmt(w.get('client_cpu_us_per_op'), '.1f')} | "
                f"{core_cell(w, 'server', SERVER_CORE)} | {core_cell(w, 'client', CLIENT_CORE)} | "
                f"{r.get('limit', '')} |")
    lines += ["",
              "- ops/s, MB/s, average and max latency: rados bench's own summary over every op of the "
              "phase (ops/s = ops completed / rados' total_time_run).",
              "- p50/p99: a second, separate run of the same phase with the client's messenger log on "
              "(`--debug-ms 1 --log-coarse-timestamps=false`, log on tmpfs): per osd_op, client queues the request -> "
              "client reads the osd_op_reply, matched by tid. The log costs client CPU, so that run is "
              "slower (its ops/s in brackets).",
              "- CPU: utime+stime (/proc/PID/stat, all threads) of the server process and of the rados "
              "process, and the cores' jiffies (/proc/stat), sampled as each of rados' per-second progress "
              "lines arrives; CPU per op and % of core cover the first to the last progress line (not the "
              "client's start-up and exit), ops from the progress lines' `finished` counts. process: that "
              "side's process in % of its core; busy: the whole core (the process, plus loopback TCP's "
              "softirq work that the kernel does not always charge to it, plus anything else running there).",
              "- limit: the side whose core is >= 90% busy (each side runs alone on its core); 'other "
              "load' flags >= 10% of a core used by neither the process nor softirq (another process, the "
              "mon).",
              "- Background: busy % of the two cores over 2 s idle before each case (other load on the "
              "machine): " + "; ".join(f"{c['label']}: {c.get('background_core_busy_pct')}" for c in res["cases"])
              + ".",
              "- seq reads back the objects write made and stops when they run out, so it may be shorter "
              "than the write phase.",
              ]
    for case in res["cases"]:
        notes = []
        if case.get("error"):
            notes.append(f"error: {case['error'][:300]}")
        if case.get("serve_stderr_notable"):
            notes.append(f"serve stderr: {len(case['serve_stderr_notable'])} notable lines, e.g. "
                         f"`{case['serve_stderr_notable'][0][:200]}`")
        for mode in ("write", "seq"):
            r = case.get(mode) or {}
            if r.get("rados_stderr") and r["rados_stderr"] != "hints = 1":
                notes.append(f"rados {mode} stderr: `{r['rados_stderr'][:200]}`")
        if notes:
            lines.append(f"- {case['label']}: " + "; ".join(notes))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="seconds per rados bench phase (default 10)")
    ap.add_argument("--quick", action="store_true", help="3 s phases (a smoke run)")
    ap.add_argument("--cases", default="a,b,c", help="a: ceph-osd, b: pollmsgr 1 endpoint, c: 16 endpoints")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-latency-pass", action="store_true", help="skip the logged p50/p99 pass")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="S",
                    help="before each case, wait up to S s for both cores to be < 25%% busy from other load")
    ap.add_argument("--keep", action="store_true", help="keep the temporary cluster directories")
    args = ap.parse_args()
    if args.quick:
        args.seconds = 3
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c!r}")
    if os.cpu_count() < 2:
        sys.exit("needs at least 2 cores (server on core 0, rados on core 1)")
    for b in ("ceph", "rados", "ceph-osd", "ceph-mon", "taskset"):
        if not shutil.which(b):
            sys.exit(f"{b} not found: run scripts/install-deps.sh")
    # SIGTERM/SIGHUP run the finally blocks like Ctrl-C does.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(f"stopped by signal"))

    if not args.no_build:
        log("building release binaries ...")
        subprocess.run(["cargo", "build", "--release", "--bin", "pollmsgr"], cwd=ROOT, check=True)
        subprocess.run(["cargo", "build", "--release", "-p", "pollmsgr-bench", "--bin", "crypto"],
                       cwd=ROOT, check=True)

    host = host_info()
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["bench/rados_bench.py"] + sys.argv[1:]),
        "seconds": args.seconds, "block_size": BLOCK, "in_flight": DEPTH, "pg_num": PG_NUM,
        "host": host,
        "ceph_short": re.sub(r"^ceph version (\S+).*", r"\1", host["ceph_versions"].get("ceph", "")),
        "extra_conf": EXTRA_CONF,
        "cases": [],
    }
    log("crypto micro-benchmark (one core) ...")
    results["crypto"] = crypto_rate()

    tmp_root = f"/tmp/pollmsgr-rados-bench-{os.getpid()}"
    os.makedirs(tmp_root, exist_ok=True)
    base = os.getpid() % 250 + 1  # 127.77.BASE.x: this run's own loopback addresses
    try:
        for key in cases:
            run_case(key, args, base, tmp_root, results)
    finally:
        if not args.keep:
            shutil.rmtree(tmp_root, ignore_errors=True)
    with open("/proc/loadavg") as f:
        results["host"]["loadavg_at_end"] = [float(x) for x in f.read().split()[:3]]

    os.makedirs(args.out, exist_ok=True)
    jpath = os.path.join(args.out, "rados_bench.json")
    with open(jpath, "w") as f:
        json.dump(results, f, indent=1)
    table = render(results)
    with open(os.path.join(args.out, "rados_bench.md"), "w") as f:
        f.write(table)
    print(table)
    print(f"JSON: {jpath}")
    if any(c.get("error") for c in results["cases"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
