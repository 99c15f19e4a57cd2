"""A million files: memory, rate, and a run killed at a random moment then resumed (#19).

    python benchmarks/scale.py [--files 1000000] [--ray]

1. Makes FILES small PNGs (real MNIST digits, 1,000 per sub-folder), once.
2. `classify DIR -r -o rows.csv`: wall time, rows/s, peak RSS of the command (polled from /proc: its own
   high-water mark, VmHWM).
3. The same with `--resume` into a new file, killed with SIGKILL at a random point between 10 % and 90 % of
   step 2's time, then resumed: the resumed run's time against the share of files it had left, and the
   output checked -- every file exactly once, no torn row, and the same rows as step 2.
4. `--ray`: the driver's listing side by side -- the paths as Python dicts for `from_items` (0.4.0) against
   Arrow blocks put into the object store (now), each measured in a fresh process as its RSS growth --, then
   the whole `classify --engine ray` run with the driver's peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import cli, mnist_images

PER_FOLDER = 1000


def make_tree(root: Path, n: int) -> Path:
    """n 28x28 PNGs in sub-folders of 1,000, written once (a marker file says the tree is complete)."""
    done = root / f".complete-{n}"
    if done.exists():
        return root
    import io

    from PIL import Image

    x, _ = mnist_images()
    blobs = []
    for i in range(min(len(x), 1000)):
        b = io.BytesIO()
        Image.fromarray(x[i]).save(b, "PNG")
        blobs.append(b.getvalue())
    t0 = time.perf_counter()
    for i in range(n):
        folder = root / f"{i // PER_FOLDER:05d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{i:07d}.png", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, blobs[i % len(blobs)])
        os.close(fd)
    done.touch()
    print(f"made {n:,} PNGs in {time.perf_counter() - t0:.0f} s")
    return root


def run_watched(cmd: list[str], kill_after: float | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB of the command's own process, exit code); SIGKILL after *kill_after* s."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        if kill_after is not None and time.perf_counter() - t0 >= kill_after:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if kill_after is None and proc.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: {err[-2000:]}")
    return wall, peak / 1024, proc.returncode


def check_rows(path: Path, n: int) -> dict[str, tuple[str, ...]]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = {}
        for row in reader:
            assert len(row) == len(header), f"torn row in {path}: {row}"
            assert row[0] not in rows, f"{row[0]} twice in {path}"
            rows[row[0]] = tuple(row[1:])
    assert len(rows) == n, f"{path}: {len(rows):,} rows, expected {n:,}"
    return rows


_LISTING = """
import os, resource, sys
sys.path.insert(0, {root!r})
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
from mnist_onnx._files import iter_files
from mnist_onnx.ray import _listed
import ray, ray.data, pyarrow
ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
ray.data.from_items([{{"path": "x"}}]).count(), ray.data.from_arrow_refs(_listed(["x"], 8192)).count()  # warm up
before = rss()
if sys.argv[1] == "from_items":
    files = [str(f) for f in iter_files([{folder!r}], recursive=True)]
    ds = ray.data.from_items([{{"path": f}} for f in files])
else:
    ds = ray.data.from_arrow_refs(_listed(iter_files([{folder!r}], recursive=True), 8192))
print(rss() - before, ds.count())
"""


def listing_growth(folder: Path, how: str) -> tuple[float, int]:
    code = _LISTING.format(root=str(Path(__file__).resolve().parent.parent), folder=str(folder))
    out = subprocess.run([sys.executable, "-c", code, how], capture_output=True, text=True, check=True)
    grown, count = out.stdout.split()[-2:]
    return float(grown), int(count)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--ray", action="store_true", help="also the Ray driver's memory")
    ap.add_argument("--seed", type=int, default=None, help="for the kill point (default: random)")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-onnx-bench")
    args = ap.parse_args()
    n = args.files
    tree = make_tree(args.dir / f"tree{n}", n)
    full, resumed = args.dir / "scale.csv", args.dir / "scale-resumed.csv"
    for p in (full, resumed):
        p.unlink(missing_ok=True)

    wall, rss, _ = run_watched([cli(), "classify", str(tree), "-r", "-o", str(full), "-p", "cpu", "-q"])
    print(f"classify {n:,} files: {wall:.0f} s, {n / wall:,.0f} rows/s, peak RSS {rss:.0f} MiB")
    rows = check_rows(full, n)

    rng = random.Random(args.seed)
    kill_at = wall * rng.uniform(0.1, 0.9)
    cmd = [cli(), "classify", str(tree), "-r", "-o", str(resumed), "-p", "cpu", "-q", "--resume"]
    run_watched(cmd, kill_after=kill_at)
    kept = 0
    if resumed.exists():  # killed before the command had opened it: nothing kept, the resume starts afresh
        with open(resumed, "rb") as f:
            kept = max(0, sum(1 for _ in f) - 1)
    wall2, rss2, _ = run_watched(cmd)
    left = (n - kept) / n
    again = check_rows(resumed, n)
    same = again == rows
    print(f"killed (SIGKILL) after {kill_at:.0f} s with {kept:,} rows written; resumed: {wall2:.0f} s for the "
          f"{left:.0%} left = {wall2 / (wall * left) if left else 0:.2f}x the remaining share of the full run's time; "
          f"peak RSS {rss2:.0f} MiB; {n:,} rows, none twice, none torn, {'the same rows' if same else 'ROWS DIFFER'}")

    if args.ray:
        for how in ("from_items", "arrow blocks"):
            grown, count = listing_growth(tree, how)
            print(f"Ray driver listing {count:,} paths as {how}: RSS +{grown:.0f} MiB")
        ray_out = args.dir / "scale-ray.csv"
        wall3, rss3, _ = run_watched([cli(), "classify", str(tree), "-r", "-o", str(ray_out), "-q", "--engine", "ray"])
        check_rows(ray_out, n)
        print(f"classify --engine ray {n:,} files: {wall3:.0f} s, {n / wall3:,.0f} rows/s, driver peak RSS {rss3:.0f} MiB")


if __name__ == "__main__":
    main()
