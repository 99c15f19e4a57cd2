"""`mnist-onnx serve` under load, on loopback only, bounded in time and count.

For 1 and 16 concurrent clients, one image per request and 256 per request: requests/s, images/s and
p50/p99 latency; with request batching on (default) and off; beside `mnist-onnx classify`'s img/s on the
same files (whole process, start-up included, and its own reported rate).

    python benchmarks/serve.py [--seconds 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import cli, make_png_folder, run_timed  # noqa: E402
from benchmarks.styles import STYLES  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(*args: str) -> tuple[subprocess.Popen, str]:
    import requests  # the serve benchmarks' client; imported here so that importing this module needs nothing

    port = free_port()
    proc = subprocess.Popen([cli(), "serve", "--port", str(port), "-p", "cpu", "--max-files", "1000", "--max-upload-mb", "512", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(300):
        try:
            if requests.get(url + "healthz", timeout=1).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def load(url: str, files: list[bytes], clients: int, per_request: int, seconds: float, max_requests: int) -> dict:
    """Each client posts `per_request` files per request, round-robin over *files*, until time or count ends."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    counter = iter(range(max_requests))

    import requests

    def client(k: int) -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            start = (i * per_request) % len(files)
            batch = [files[(start + j) % len(files)] for j in range(per_request)]
            t0 = time.perf_counter()
            r = session.post(url + "v1/classify", files=[("files", (f"{j}.png", b, "image/png")) for j, b in enumerate(batch)], timeout=60)
            dt = time.perf_counter() - t0
            assert r.ok and len(r.json()["results"]) == per_request, r.text[:200]
            with lock:
                latencies.append(dt)

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"requests": len(lat), "rps": len(lat) / wall, "ips": len(lat) * per_request / wall,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    ap.add_argument("--max-requests", type=int, default=20000, help="per measurement")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pngs"
        make_png_folder(folder, 2048)
        # plus user-like photos: the server gets both kinds, like classify below
        from mnist_onnx._idx import load_split
        from benchmarks.common import DATA

        x, _ = load_split(DATA, "test")
        rng = np.random.default_rng(0)
        for i in range(256):
            STYLES["paper"](x[i], rng).save(folder / f"paper_{i:04d}.png")
        paths = sorted(folder.glob("*.png"))
        files = [p.read_bytes() for p in paths]

        wall, _, proc = run_timed([cli(), "classify", str(folder), "-o", str(Path(tmp) / "out.csv"), "-p", "cpu"])
        rate = float(re.search(r"\(([\d,]+) img/s\)", proc.stderr).group(1).replace(",", ""))
        print(f"classify on the same {len(paths)} files: {len(paths) / wall:,.0f} img/s for the whole process "
              f"(start-up included), {rate:,.0f} img/s as it reports")
        print()
        print("| batching | clients | images/request | requests/s | images/s | p50 ms | p99 ms |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for batching in ("--batching", "--no-batching"):
            server, url = start(batching)
            try:
                load(url, files, 4, 1, 1.0, 200)  # warm-up
                for clients in (1, 16):
                    for per_request in (1, 256):
                        m = load(url, files, clients, per_request, args.seconds, args.max_requests)
                        print(f"| {batching.strip('-')} | {clients} | {per_request} | {m['rps']:,.1f} | {m['ips']:,.0f} "
                              f"| {m['p50']:.1f} | {m['p99']:.1f} |", flush=True)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=10)


if __name__ == "__main__":
    main()
