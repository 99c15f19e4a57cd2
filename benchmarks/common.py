"""Helpers shared by the benchmark scripts: the data, PNG folders, timing child processes."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MNIST_ONNX_TEST_DATA", ROOT.parent / "shared" / "mnist-5k"))
sys.path.insert(0, str(ROOT))


def mnist_images() -> tuple[np.ndarray, np.ndarray]:
    """All 15,000 real digits we have (10k test + 5k train) with labels."""
    from mnist_onnx._idx import load_split

    xt, yt = load_split(DATA, "test")
    xr, yr = load_split(DATA, "train")
    return np.concatenate([xt, xr]), np.concatenate([yt, yr])


def _make_folder(folder: Path, n: int, draw) -> Path:
    """n PNGs drawn by draw(digit, rng) from real MNIST digits (cycling through the 15k we have), made once."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f".complete-{n}"
    if marker.exists():
        return folder
    x, _ = mnist_images()
    rng = np.random.default_rng(12)
    for i in range(n):
        draw(x[i % len(x)], rng).save(folder / f"{i:07d}.png")
    marker.touch()
    return folder


def make_png_folder(folder: Path, n: int) -> Path:
    """n 28x28 grayscale PNGs of real MNIST digits, made once."""
    return _make_folder(folder, n, lambda digit, rng: Image.fromarray(digit))


def user_like(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A digit as users' PNGs look (#12): 200x200 RGB, black ink on white, 80-150 px tall, off-centre."""
    side = int(rng.integers(80, 150))
    ink = np.clip(np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC), np.float32) / 255, 0, 1)
    page = np.full((200, 200), 255.0)
    y, x = int(rng.integers(0, 200 - side)), int(rng.integers(0, 200 - side))
    page[y : y + side, x : x + side] -= 255 * ink
    return Image.fromarray(np.clip(page, 0, 255).astype(np.uint8)).convert("RGB")


def large_rgba(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A drawing exported from a paint program (#19's `--workers` case): 1024x1024 RGBA, black ink whose
    alpha is the ink on a transparent canvas, the digit 300-700 px tall somewhere on it."""
    side = int(rng.integers(300, 700))
    ink = np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC))
    alpha = np.zeros((1024, 1024), np.uint8)
    y, x = int(rng.integers(0, 1024 - side)), int(rng.integers(0, 1024 - side))
    alpha[y : y + side, x : x + side] = ink
    rgba = np.zeros((1024, 1024, 4), np.uint8)
    rgba[..., 3] = alpha
    return Image.fromarray(rgba, "RGBA")


def make_large_folder(folder: Path, n: int) -> Path:
    """n large RGBA drawings (`large_rgba`), made once."""
    return _make_folder(folder, n, large_rgba)


def make_user_folder(folder: Path, n: int) -> Path:
    """n user-like 200x200 RGB PNGs (`user_like`), made once."""
    return _make_folder(folder, n, user_like)


def run_timed(cmd: list[str], ok: tuple[int, ...] = (0,), **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall seconds, peak RSS (MiB) of the child process, and the completed process; raise on a bad exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.perf_counter() - t0
    if proc.returncode not in ok:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024, proc


def cli() -> str:
    return str(Path(sys.executable).with_name("mnist-onnx"))


_RSS_WRAPPER = """
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mib(cmd: list[str], ok: tuple[int, ...] = (0,)) -> float:
    """Peak RSS of the largest process *cmd* starts (itself or a worker), measured from a fresh parent."""
    out = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *cmd], capture_output=True, text=True, check=True)
    code, kib = out.stdout.split()
    if int(code) not in ok:
        raise RuntimeError(f"{cmd[:3]} exited {code}")
    return int(kib) / 1024
