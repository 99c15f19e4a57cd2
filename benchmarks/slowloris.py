"""Slowloris against `mnist-onnx serve` (#20): N connections that send half a request head and stop, then
new clients -- are they served, how fast, and what does the server hold?

    python benchmarks/slowloris.py [--connections 20000] [--max-connections 1000]

The slow connections are opened by helper processes (each below its own descriptor limit) as fast as they
can, and kept open. Meanwhile and after, a new client asks `/healthz` and classifies a sample every 0.2 s;
reported: how many of those got 200 (not 503, not a timeout), their p50/p99 latency, and the server's open
descriptors and RSS at the peak.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent

_HOLDER = """
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nX-Slow: ")
        held.append(s)
    except OSError:
        pass
print(len(held), flush=True)
time.sleep(3600)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=20_000)
    ap.add_argument("--max-connections", type=int, default=1000)
    ap.add_argument("--per-process", type=int, default=5000)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = str(Path(sys.executable).with_name("mnist-onnx"))
    server = subprocess.Popen([exe, "serve", "--port", str(port), "-p", "cpu", "--max-connections",
                               str(args.max_connections)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    sample = (ROOT / "samples" / "1_paper.png").read_bytes()
    for _ in range(300):
        try:
            if requests.get(url + "healthz", timeout=1).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    holders = []
    try:
        left = args.connections
        t0 = time.perf_counter()
        while left > 0:
            n = min(left, args.per_process)
            holders.append(subprocess.Popen([sys.executable, "-c", _HOLDER, str(port), str(n)],
                                            stdout=subprocess.PIPE, text=True))
            left -= n
        latencies, codes, peak_fds, peak_rss = [], [], 0, 0
        opened = None
        while time.perf_counter() - t0 < 60:
            t = time.perf_counter()
            try:
                a = requests.get(url + "healthz", timeout=5)
                b = requests.post(url + "v1/classify", files=[("files", ("1.png", sample, "image/png"))], timeout=5)
                codes.append(a.status_code if a.status_code != 200 else b.status_code)
            except requests.RequestException as e:
                codes.append(type(e).__name__)
            latencies.append((time.perf_counter() - t) * 1000)
            peak_fds = max(peak_fds, len(os.listdir(f"/proc/{server.pid}/fd")))
            with open(f"/proc/{server.pid}/status") as f:
                peak_rss = max(peak_rss, next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) // 1024)
            if opened is None and all(h.poll() is None for h in holders):
                import select

                ready = [h for h in holders if select.select([h.stdout], [], [], 0)[0]]
                if len(ready) == len(holders):
                    opened = sum(int(h.stdout.readline()) for h in holders)
                    opened_at = time.perf_counter() - t0
                    t_end = time.perf_counter() + 10  # ten more seconds of clients with every slow connection open
            if opened is not None and time.perf_counter() > t_end:
                break
            time.sleep(0.2)
        served = sum(c == 200 for c in codes)
        lat = sorted(latencies)
        print(f"{opened if opened is not None else '?':,} slow connections opened (of {args.connections:,}, "
              f"in {opened_at if opened is not None else float('nan'):.0f} s), --max-connections {args.max_connections}")
        print(f"new clients: {served} of {len(codes)} served (healthz + classify), p50 {statistics.median(lat):.0f} ms, "
              f"p99 {lat[int(0.99 * (len(lat) - 1))]:.0f} ms; others: {sorted(set(c for c in codes if c != 200), key=str)}")
        print(f"server: at most {peak_fds:,} open descriptors, {peak_rss} MiB RSS")
    finally:
        for h in holders:
            h.kill()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("server: still running 30 s after SIGTERM; killed")
            server.kill()
            server.wait()
        err = server.stderr.read().decode(errors="replace") if server.stderr else ""
        print(f"server log: {len(err.splitlines())} lines" + (f" (last: {err.splitlines()[-1][:200]})" if err.strip() else ""))


if __name__ == "__main__":
    main()
