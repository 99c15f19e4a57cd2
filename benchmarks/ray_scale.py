"""The Ray engine against the local engine on the same folders, and how it grows from 1 to 2 actors.

    python benchmarks/ray_scale.py [--files 30000] [--user-files 3000] [--repeat 2]

Each run is its own `mnist-onnx classify` process (a fresh local Ray each time, as a user would start it),
interleaved, medians compared as ratios:
  local      classify DIR -o out.csv -p cpu
  ray1       the same with --engine ray --actors 1
  ray2       the same with --engine ray --actors 2   (on 2 cores the actors then share the driver's CPUs)
  startup    --engine ray on one file: starting Ray and an actor, paid once per run
Two folders: 30k 28x28 MNIST PNGs (decoding is cheap, so per-row overhead shows) and 3k user-like 200x200
PNGs (preprocessing dominates, so added actors show). Every Ray CSV must equal the local CSV byte for byte.
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

    def classify(folder: Path, *extra: str) -> list[str]:
        return [cli(), "classify", str(folder), "-o", str(out), "-p", "cpu", *extra]

    one = ROOT / "samples" / "0_mnist.png"
    startup = []
    for label, folder, n in (("28x28", make_png_folder(args.dir / f"png{args.files}", args.files), args.files),
                             ("200x200", make_user_folder(args.dir / f"user{args.user_files}", args.user_files), args.user_files)):
        runs = {"local": classify(folder), "ray1": classify(folder, "--engine", "ray", "--actors", "1"),
                "ray2": classify(folder, "--engine", "ray", "--actors", "2")}
        reference = None
        for name, cmd in runs.items():  # same rows first (and a warm page cache)
            run_timed(cmd, cwd=ROOT)
            data = out.read_bytes()
            reference = reference or data
            if data != reference:
                raise SystemExit(f"{label}: {name} wrote different rows than the local engine")
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeat):
            for name, cmd in runs.items():
                times[name].append(run_timed(cmd, cwd=ROOT)[0])
            startup.append(run_timed([cli(), "classify", str(one), "-p", "cpu", "--engine", "ray"], cwd=ROOT)[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        s = statistics.median(startup)
        print(f"{label}: {n:,} files, rows identical in all three; median of {args.repeat} interleaved runs")
        for k, v in med.items():
            work = v - s if k != "local" else v
            print(f"  {k:<6} {v:7.2f} s  {n / v:8,.0f} img/s   {v / med['local']:5.2f}x local"
                  + (f"   without start-up: {work:6.2f} s, {n / work:8,.0f} img/s" if k != "local" else ""))
        print(f"  ray1 / local = {med['ray1'] / med['local']:.2f}, without Ray's start-up "
              f"{(med['ray1'] - s) / med['local']:.2f};  2 actors vs 1: {(med['ray1'] - s) / (med['ray2'] - s):.2f}x")
    print(f"start-up (Ray + one actor, one file): median {statistics.median(startup):.2f} s")


if __name__ == "__main__":
    main()
