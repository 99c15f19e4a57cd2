"""One file's start-up, side by side (#19, #30): `mnist-onnx classify ONE.png` as users run it (default
provider) against a bare `python -c "import numpy, PIL.Image, onnxruntime"` -- the floor any ONNX Runtime tool
pays -- interleaved, medians compared as ratios (each round in a random order). Run it with the Python of a plain `pip install .` (not an
editable install: its import hook costs ~15 ms), e.g.:

    python3 -m venv /tmp/installed && /tmp/installed/bin/pip install .
    /tmp/installed/bin/python benchmarks/startup.py [--repeat 6]

Prints a Markdown table (benchmarks/docs.py puts it in docs/benchmarks.md). Target: classify <= 1.3x floor.
"""

from __future__ import annotations

import argparse
import os
import sys

import random
import statistics

from classify_speed import IMPORTS
from common import ROOT, cli, run_timed


def race(contenders: dict[str, tuple[list[str], dict]], rounds: int) -> dict[str, float]:
    """Median wall seconds of each contender: every round runs each once, in a fresh random order (a fixed
    order favours or penalises whoever follows whom on a noisy machine)."""
    times: dict[str, list[float]] = {k: [] for k in contenders}
    rng = random.Random(0)
    for _ in range(rounds):
        order = list(contenders)
        rng.shuffle(order)
        for name in order:
            cmd, env = contenders[name]
            times[name].append(run_timed(cmd, cwd=ROOT, env=env)[0])
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=6, help="rounds of 15 interleaved runs each")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # as installed: .pyc cached
    one, number = ROOT / "samples" / "0_mnist.png", ROOT / "tests" / "data" / "numbers-dev" / "0001.png"
    med = race({"floor": ([sys.executable, "-c", IMPORTS], env),
                "classify": ([cli(), "classify", str(one)], env),
                "classify -p cpu": ([cli(), "classify", str(one), "-p", "cpu"], env),
                "read": ([cli(), "read", str(number)], env)}, 15 * args.repeat)
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    editable = any(name.startswith("__editable__") for name in os.listdir(site))
    print(f"| one file, {15 * args.repeat} interleaved runs each ({'editable' if editable else 'plain'} install) "
          "| median | vs the floor | target |")
    print("| --- | --- | --- | --- |")
    print(f"| `python -c \"{IMPORTS}\"` (the floor) | {med['floor'] * 1000:.0f} ms | 1.00 | |")
    for name, what, target in (("classify", "`mnist-onnx classify 0_mnist.png` (default provider)", "≤ 1.30"),
                               ("classify -p cpu", "`... -p cpu`", ""),
                               ("read", "`mnist-onnx read 0001.png` (the reader and the digit model)", "")):
        ratio = med[name] / med["floor"]
        mark = (" ✓" if ratio <= 1.3 else " ✗") if target else ""
        print(f"| {what} | {med[name] * 1000:.0f} ms | **{ratio:.2f}** | {target}{mark} |")


if __name__ == "__main__":
    main()
