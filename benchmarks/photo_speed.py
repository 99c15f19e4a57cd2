"""Phone photos (#19): `mnist-onnx classify` on 3000x4000 JPEGs against a loop that only decodes them the
cheapest way Pillow can (`draft('L', (512, 512))`, then load).

    python benchmarks/photo_speed.py [--photos 40] [--repeat 3]

The photos: one real MNIST digit each, drawn 1,400 px tall somewhere on a 3000x4000 page with uneven light
and sensor noise, saved as quality-90 JPEG (made once). Each contender is its own process, interleaved,
medians compared. Target (#19): classify <= 1.5x the draft loop. Also printed: what classify read.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from common import ROOT, cli, mnist_images, run_timed

DRAFT = r"""
import os, sys
from PIL import Image
d = sys.argv[1]
n = 0
for name in sorted(os.listdir(d)):
    if name.endswith(".jpg"):
        im = Image.open(os.path.join(d, name))
        im.draft("L", (512, 512))
        im.load()
        n += 1
print(n)
"""


def make_photos(folder: Path, n: int) -> tuple[Path, list[int]]:
    x, y = mnist_images()
    labels = [int(v) for v in y[:n]]
    if (folder / ".complete").exists():
        return folder, labels
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    h, w = 4000, 3000
    yy, xx = np.mgrid[0:h:8, 0:w:8]
    light = (200 + 30 * np.sin(xx / 700.0) + 20 * np.cos(yy / 900.0)).astype(np.float32)
    page0 = np.asarray(Image.fromarray(light, "F").resize((w, h)), np.float32)
    for i in range(n):
        ink = np.asarray(Image.fromarray(x[i]).resize((1400, 1400), Image.Resampling.BICUBIC), np.float32) / 255
        page = page0 + rng.normal(0, 6, page0.shape).astype(np.float32)
        t, left = int(rng.integers(500, 2400)), int(rng.integers(300, 1400))
        page[t : t + 1400, left : left + 1400] -= 170 * ink
        im = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).convert("RGB")
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90)
        (folder / f"{i:03d}.jpg").write_bytes(buf.getvalue())
    (folder / ".complete").touch()
    return folder, labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "mnist-onnx-bench")
    args = ap.parse_args()
    folder, labels = make_photos(args.dir / f"photos{args.photos}", args.photos)
    out = args.dir / "photos.csv"
    contenders = {
        "draft loop": [sys.executable, "-c", DRAFT, str(folder)],
        "classify": [cli(), "classify", str(folder), "-o", str(out), "-p", "cpu"],
    }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.repeat):
        for name, cmd in contenders.items():
            wall, _, _ = run_timed(cmd, cwd=ROOT)
            times[name].append(wall)
    floor = statistics.median(times["draft loop"])
    for name, t in times.items():
        print(f"{name:<12} {statistics.median(t):6.2f} s   {statistics.median(t) / floor:.2f}x the draft loop")
    digits = [line.split(",")[1] for line in out.read_text().splitlines()[1:]]
    right = sum(d == str(label) for d, label in zip(digits, labels))
    print(f"classify read {right} of {len(labels)} photos right")


if __name__ == "__main__":
    main()
