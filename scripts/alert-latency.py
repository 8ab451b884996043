#!/usr/bin/env python3
"""Alert latency in steady state, as README "Performance" describes it, for one or more daemon builds.

Each run starts the daemon afresh (its own write-ahead log folder; Redis flushed), creates the series with a
warm-up load, then sends the measured load and takes the difference of the daemon's /metrics before and after:
ingest_alert_latency_seconds (buckets), dotnet_gc_pause_time_seconds_total, collections per generation,
bytes allocated and process CPU. Builds are alternated run by run (A B, then B A, ...) so that drift on a shared
machine falls on both. influxd and redis-server must be running; nothing else is started.

  scripts/alert-latency.py --build old=/path/Ingest.dll --build new=/path/Ingest.dll \\
      --influx http://127.0.0.1:8086 --redis 127.0.0.1:6379 --load src/Ingest.LoadGen/bin/Release/net10.0/ingest-load \\
      [--rounds 3] [--series 100000] [--rate 100000] [--warmup 2000000] [--points 4000000] [--set Key=Value ...]
      [--env NAME:VAR=VALUE ...]

The same Ingest.dll may be given twice under two names, e.g. with different --env (runtime settings such as
DOTNET_gcServer) or --set NAME:Key=Value (daemon settings for that build only).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url):
    text = urllib.request.urlopen(url + "/metrics", timeout=30).read().decode()
    m = {"buckets": {}, "gc_pause": 0.0, "gc": {}, "allocated": 0.0, "cpu": 0.0, "events": 0.0, "live_writes": 0.0}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        if name.startswith("ingest_alert_latency_seconds_bucket"):
            le = re.search(r'le="([^"]+)"', name).group(1)
            key = float("inf") if le == "+Inf" else float(le)
            m["buckets"][key] = m["buckets"].get(key, 0.0) + v
        elif name.startswith("ingest_alert_latency_seconds_count"):
            m["events"] += v
        elif name.startswith("dotnet_gc_pause_time_seconds_total"):
            m["gc_pause"] += v
        elif name.startswith("dotnet_gc_collections_total"):
            gen = re.search(r'gc_heap_generation="([^"]+)"', name).group(1)
            m["gc"][gen] = m["gc"].get(gen, 0.0) + v
        elif name.startswith("dotnet_gc_heap_total_allocated_bytes_total"):
            m["allocated"] += v
        elif name.startswith("dotnet_process_cpu_time_seconds_total"):
            m["cpu"] += v
        elif name.startswith("ingest_live_writes_total"):
            m["live_writes"] += v
    return m


def difference(before, after):
    d = {k: after[k] - before[k] for k in ("gc_pause", "allocated", "cpu", "events", "live_writes")}
    d["buckets"] = {b: after["buckets"].get(b, 0.0) - before["buckets"].get(b, 0.0) for b in after["buckets"]}
    d["gc"] = {g: after["gc"].get(g, 0.0) - before["gc"].get(g, 0.0) for g in after["gc"]}
    return d


def percentile(buckets, total, q):
    """Linear interpolation inside the bucket that holds the q-th fraction, as Prometheus' histogram_quantile."""
    target = q * total
    lower, below = 0.0, 0.0
    for bound in sorted(buckets):
        count = buckets[bound]
        if count >= target:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (target - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return float("nan")


def wait_http(url, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return
        except Exception:
            time.sleep(0.2)
    raise RuntimeError(f"{url}/health did not answer in {seconds} s")


def load(args, url, points, label):
    cmd = [args.load, "--url", url, "--db", "alertlat", "--series", str(args.series), "--points", str(points),
           "--batch-size", "1000", "--rate", str(args.rate), "--interval", "1s", "--start", str(int(time.time())),
           "--concurrency", "8", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{label}: ingest-load failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_once(args, name, dll):
    env = dict(os.environ)
    for e in args.env:
        build, _, kv = e.partition(":")
        if build == name:
            k, _, v = kv.partition("=")
            env[k] = v
    work = tempfile.mkdtemp(prefix="alertlat-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    host, _, rport = args.redis.rpartition(":")
    subprocess.run(["redis-cli", "-h", host, "-p", rport, "FLUSHALL"], check=True, capture_output=True)
    settings = {
        "Influx:Url": args.influx,
        "Redis:Configuration": args.redis,
        "Wal:Directory": os.path.join(work, "wal"),
        "Pipeline:RawExclude:0": "*",
        "Downsample:Tiers:0:Name": "1m",
        "Downsample:Tiers:0:Interval": "1m",
        # About 1 000 transitions/s at 100 000 points/s: a quarter of the series are mem, used_percent is uniform
        # in 5..99, so above 97 about one point in 47 and back below 50 soon after.
        "Thresholds:Rules:0:Name": "mem_high",
        "Thresholds:Rules:0:Measurement": "mem",
        "Thresholds:Rules:0:Field": "used_percent",
        "Thresholds:Rules:0:Warn": "97",
        "Thresholds:Rules:0:WarnReset": "50",
    }
    for kv in args.set:
        if ":" in kv.split("=", 1)[0] and kv.split(":", 1)[0] in args.names:
            build, _, kv = kv.partition(":")
            if build != name:
                continue
        k, _, v = kv.partition("=")
        settings[k] = v
    cmd = ["dotnet", dll, "--urls", url, "--config", os.path.join(os.path.dirname(dll), "ingest.json")]
    cmd += [f"--{k}={v}" for k, v in settings.items()]
    log = open(os.path.join(work, "daemon.log"), "w")
    daemon = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        wait_http(url, 60)
        load(args, url, args.warmup, f"{name} warm-up")
        time.sleep(2)
        before = scrape(url)
        started = time.time()
        result = load(args, url, args.points, name)
        elapsed = time.time() - started
        after = scrape(url)
        d = difference(before, after)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
        log.close()
    total = d["events"]
    b = d["buckets"]
    row = {
        "build": name,
        "events": int(total),
        "within_1ms": b.get(0.001, 0) / total if total else float("nan"),
        "within_2_5ms": b.get(0.0025, 0) / total if total else float("nan"),
        "within_5ms": b.get(0.005, 0) / total if total else float("nan"),
        "p99_ms": percentile(b, total, 0.99) * 1000 if total else float("nan"),
        "gc_pause_s": d["gc_pause"],
        "gc": {g: int(c) for g, c in sorted(d["gc"].items())},
        "allocated_mb": d["allocated"] / 1e6,
        "live_writes": int(d["live_writes"]),
        "cpu_s": d["cpu"],
        "seconds": elapsed,
        "accepted_pps": result.get("acceptedPointsPerSecond") or result.get("accepted_points_per_second"),
        "load": os.getloadavg()[0],
    }
    if args.keep_logs:
        row["log"] = os.path.join(work, "daemon.log")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", action="append", required=True, help="NAME=PATH/Ingest.dll (repeat)")
    p.add_argument("--influx", required=True)
    p.add_argument("--redis", required=True, help="HOST:PORT of a redis-server this script may FLUSHALL")
    p.add_argument("--load", required=True, help="the ingest-load executable")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--series", type=int, default=100_000)
    p.add_argument("--rate", type=int, default=100_000)
    p.add_argument("--warmup", type=int, default=2_000_000)
    p.add_argument("--points", type=int, default=4_000_000)
    p.add_argument("--set", action="append", default=[], help="Key=Value daemon setting for every build, or NAME:Key=Value for one (repeat)")
    p.add_argument("--env", action="append", default=[], help="NAME:VAR=VALUE environment variable for one build (repeat)")
    p.add_argument("--keep-logs", action="store_true")
    args = p.parse_args()
    builds = [tuple(b.split("=", 1)) for b in args.build]
    args.names = {name for name, _ in builds}
    rows = []
    for r in range(args.rounds):
        order = builds if r % 2 == 0 else list(reversed(builds))
        for name, dll in order:
            row = run_once(args, name, dll)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\nbuild  runs  within 1 ms  within 5 ms  p99 (ms)  GC pause (s)   [medians]")
    for name, _ in builds:
        mine = [x for x in rows if x["build"] == name]
        med = lambda k: statistics.median(x[k] for x in mine)
        print(f"{name:6} {len(mine):4}  {med('within_1ms') * 100:10.1f}%  {med('within_5ms') * 100:10.2f}%  "
              f"{med('p99_ms'):8.2f}  {med('gc_pause_s'):12.2f}")


if __name__ == "__main__":
    sys.exit(main())
