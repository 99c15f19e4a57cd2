"""Peak memory of `mnist-onnx classify` as the folder grows from 10k to 100k PNGs.

    python benchmarks/memory.py [--small 10000] [--large 100000]

Streaming means memory must not grow with the number of files: the figure for 100k should match 10k.
Peak RSS is of the largest process (the main one; workers are smaller). Target: <= 200 MB and flat.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from common import cli, make_png_folder, peak_rss_mib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--large", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-onnx-bench")
    args = ap.parse_args()
    out = args.dir / "mem.csv"
    print(f"{'files':>8} {'workers':>8} {'peak RSS':>10}")
    results = {}
    for n in (args.small, args.large):
        folder = make_png_folder(args.dir / f"png{n}", n)
        for workers in (1, 2):
            rss = peak_rss_mib([cli(), "classify", str(folder), "-o", str(out), "-p", "cpu", "--workers", str(workers)])
            results[n, workers] = rss
            print(f"{n:>8,} {workers:>8} {rss:>8.0f} MiB")
    for workers in (1, 2):
        grow = results[args.large, workers] / results[args.small, workers]
        print(f"workers={workers}: {args.large:,} / {args.small:,} files peak RSS ratio = {grow:.2f}  (flat = 1.00)")
    print(f"largest peak = {max(results.values()):.0f} MiB  (target <= 200 MB = 191 MiB)")


if __name__ == "__main__":
    main()
