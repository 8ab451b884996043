#!/usr/bin/env python3
"""Slow gzip uploads against a running daemon, reporting its resident memory.

Each of --connections clients posts a gzip body that expands to --expanded-mb MB of line protocol, sends only
its first --send-kb KB, then holds the connection open for --hold seconds before closing it. Meanwhile the
daemon's RSS (from /proc/PID/status) is sampled; after the clients close, sampling goes on for --after seconds
to show whether the memory is given back. With --metrics, ingest_http_body_memory_bytes is sampled too.

    python3 scripts/gzip-hold.py --port 8186 --pid $(pgrep -f 'Ingest.dll' | head -1)
"""
import argparse
import gzip
import re
import socket
import sys
import time
import urllib.request


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def in_flight(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            m = re.search(rb"^ingest_http_body_memory_bytes\S* (\S+)$", r.read(), re.M)
            return float(m.group(1)) / 1e6 if m else None
    except OSError:
        return None


def body(expanded_mb):
    # Points with 64 KB string values of one repeated byte compress about 1000:1: a gzip bomb in its
    # mildest form, still valid line protocol.
    line = b'blob,host=a s="' + b"x" * 65000 + b'"\n'
    return gzip.compress(line * (expanded_mb * 1_000_000 // len(line)), compresslevel=9)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=8186)
    p.add_argument("--pid", type=int, required=True, help="the daemon's process id, for its RSS")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--expanded-mb", type=int, default=20)
    p.add_argument("--send-kb", type=int, default=19)
    p.add_argument("--hold", type=float, default=30)
    p.add_argument("--after", type=float, default=60)
    p.add_argument("--metrics", action="store_true", help="also sample ingest_http_body_memory_bytes")
    a = p.parse_args()

    gz = body(a.expanded_mb)
    part = gz[: min(a.send_kb * 1024, len(gz) - 1)]
    head = (f"POST /write?db=attack HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nContent-Encoding: gzip\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(gz)}\r\n\r\n").encode()
    print(f"gzip body {len(gz)} bytes expanding to {a.expanded_mb} MB; each of {a.connections} clients sends "
          f"{len(part)} bytes and holds {a.hold:.0f} s", flush=True)

    base = rss_mb(a.pid)
    peak = base
    t0 = time.monotonic()

    def sample(label):
        nonlocal peak
        r = rss_mb(a.pid)
        peak = max(peak, r)
        extra = ""
        if a.metrics:
            f = in_flight(a.port)
            extra = f"  in-flight {f:8.1f} MB" if f is not None else "  in-flight   (none)"
        print(f"{time.monotonic() - t0:6.1f} s  {label:<8} RSS {r:8.1f} MB{extra}", flush=True)

    sample("before")
    socks = []
    for _ in range(a.connections):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(head + part)
        socks.append(s)
    end = time.monotonic() + a.hold
    while time.monotonic() < end:
        sample("holding")
        time.sleep(1)
    answered = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK):
                answered += 1
        except (BlockingIOError, OSError):
            pass
        s.close()
    print(f"closed the clients ({answered} of {a.connections} had been answered)", flush=True)
    end = time.monotonic() + a.after
    while time.monotonic() < end:
        sample("after")
        time.sleep(5)
    sample("end")
    print(f"RSS before {base:.0f} MB, peak {peak:.0f} MB, end {rss_mb(a.pid):.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
