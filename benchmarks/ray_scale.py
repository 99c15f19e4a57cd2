"""The Ray engine against the local engine on the same folders, and how it grows from 1 to 2 actors.

    python benchmarks/ray_scale.py [--files 30000] [--user-files 3000] [--repeat 2]

Each run is its own `mnist-onnx classify` process (a fresh local Ray each time, as a user starts it),
interleaved, medians compared as ratios:
  local      classify DIR -o out.csv -p cpu
  ray1       the same with --engine ray --actors 1
  ray2       the same with --engine ray --actors 2   (on 2 cores the two actors share them with the driver)
Start-up and throughput are separated by running each on a folder and on a third of it: the difference is
the per-file cost (throughput = files added / seconds added), what is left at zero files the start-up.
Two folders: 28x28 MNIST PNGs (decoding is cheap, so per-row overhead shows) and user-like 200x200 PNGs
(preprocessing dominates, so added actors show). Every Ray CSV must equal the local CSV byte for byte.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from common import ROOT, cli, make_png_folder, make_user_folder, run_timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=30000)
    ap.add_argument("--user-files", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-onnx-bench")
    args = ap.parse_args()
    out = args.dir / "ray.csv"
    variants = {"local": (), "ray1": ("--engine", "ray", "--actors", "1"), "ray2": ("--engine", "ray", "--actors", "2")}

    for label, make, n in (("28x28", make_png_folder, args.files), ("200x200", make_user_folder, args.user_files)):
        small_n = n // 3
        folders = {n: make(args.dir / f"{'png' if make is make_png_folder else 'user'}{n}", n),
                   small_n: make(args.dir / f"{'png' if make is make_png_folder else 'user'}{small_n}", small_n)}
        for size, folder in folders.items():  # same rows first (this also warms the page cache)
            reference = None
            for name, extra in variants.items():
                run_timed([cli(), "classify", str(folder), "-o", str(out), "-p", "cpu", *extra], cwd=ROOT)
                data = out.read_bytes()
                reference = reference or data
                if data != reference:
                    raise SystemExit(f"{label}, {size:,} files: {name} wrote different rows than the local engine")
        times: dict[tuple[str, int], list[float]] = {(k, s): [] for k in variants for s in folders}
        for _ in range(args.repeat):
            for size, folder in folders.items():
                for name, extra in variants.items():
                    cmd = [cli(), "classify", str(folder), "-o", str(out), "-p", "cpu", *extra]
                    times[name, size].append(run_timed(cmd, cwd=ROOT)[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{label}: {small_n:,} and {n:,} files, rows identical in every run; medians of {args.repeat} interleaved runs")
        rate = {}
        for name in variants:
            big, small = med[name, n], med[name, small_n]
            rate[name] = (n - small_n) / max(big - small, 1e-9)
            start = small - small_n / rate[name]
            print(f"  {name:<6} {n:,} files {big:7.2f} s ({big / med['local', n]:5.2f}x local)   "
                  f"throughput {rate[name]:8,.0f} img/s ({rate[name] / rate['local']:4.2f}x local)   start-up {start:5.2f} s")
        print(f"  2 actors vs 1: {rate['ray2'] / rate['ray1']:.2f}x the throughput")


if __name__ == "__main__":
    main()
