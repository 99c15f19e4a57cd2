"""The libspng fast path must give exactly what Pillow gives: the same pixels, or the same error words.

Every check decodes the same file twice, with the fast path and with it switched off (Pillow only), and
compares. Broken files come from a seeded mutator (flipped bytes, cut files, swapped chunks), so the
comparison covers the inputs where two decoders disagree most.
"""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from mnist_onnx.image import png as _png
from mnist_onnx.image import decode as P

# Skipped only where pyspng has no wheel (pyproject installs it everywhere else). MNIST_ONNX_PILLOW_ONLY in
# the environment switches the fast path off for users; here it is switched on, whatever the environment.
pyspng = pytest.importorskip("pyspng", reason="no pyspng wheel for this platform")


@pytest.fixture(autouse=True)
def fast_path_on(monkeypatch):
    monkeypatch.setattr(_png, "_spng", pyspng)


def _outcome(source, fast: bool, monkeypatch) -> object:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(_png, "_spng", None)
        try:
            g = P.decode(source)
            return (g.dtype.str, g.shape, g.tobytes())
        except Exception as e:  # noqa: BLE001
            return f"{type(e).__name__}: {e}"


def _same(source, monkeypatch) -> tuple[object, object]:
    return _outcome(source, True, monkeypatch), _outcome(source, False, monkeypatch)


def _pngs() -> list[bytes]:
    """Plain PNGs of every mode the fast path takes, with and without ancillary chunks, plus ones it
    must leave to Pillow (palette, 16-bit, tRNS)."""
    rng = np.random.default_rng(0)
    out = []
    for mode, shape in (("L", (28, 28)), ("LA", (40, 30, 2)), ("RGB", (50, 60, 3)), ("RGBA", (33, 47, 4))):
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        if mode in ("LA", "RGBA"):
            a[..., -1] = np.where(rng.random(shape[:2]) < 0.5, 255, a[..., -1])
        for kw in ({}, {"optimize": True}, {"interlace": 1}):
            b = io.BytesIO()
            info = PngImagePlugin.PngInfo()
            info.add_text("Software", "test")
            Image.fromarray(a, mode).save(b, "PNG", pnginfo=info, dpi=(72, 72), **kw)
            out.append(b.getvalue())
    for extra in ({"mode": "P"}, {"mode": "I;16"}, {"transparency": 0}):
        b = io.BytesIO()
        im = Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8))
        if extra.get("mode"):
            im = im.convert(extra["mode"])
        im.save(b, "PNG", **{k: v for k, v in extra.items() if k != "mode"})
        out.append(b.getvalue())
    return out


def test_plain_pngs_take_the_fast_path_and_match_pillow(monkeypatch, tmp_path: Path) -> None:
    fast = 0
    for i, data in enumerate(_pngs()):
        mode = _png.plain_mode(data)
        fast += mode is not None
        path = tmp_path / f"{i}.png"
        path.write_bytes(data)
        for source in (str(path), data):
            a, b = _same(source, monkeypatch)
            assert a == b, (i, mode)
    assert fast == 12  # the 4 plain modes x 3 variants; palette, 16-bit and tRNS go to Pillow


def _chunks(data: bytes) -> list[bytes]:
    pos, out = 8, []
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return out


def _mutate(data: bytes, rng: random.Random) -> bytes:
    kind = rng.randrange(6)
    b = bytearray(data)
    if kind == 0:  # flip a few bytes anywhere
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # cut the file
        b = b[: rng.randrange(8, len(b))]
    elif kind == 2:  # drop, duplicate or swap chunks
        ch = _chunks(data)
        i, j = rng.randrange(len(ch)), rng.randrange(len(ch))
        op = rng.randrange(3)
        if op == 0:
            del ch[i]
        elif op == 1:
            ch.insert(j, ch[i])
        else:
            ch[i], ch[j] = ch[j], ch[i]
        b = bytearray(data[:8] + b"".join(ch))
    elif kind == 3:  # a bit flip inside IHDR with the CRC fixed up: a valid-looking odd header
        pos = 16 + rng.randrange(13)
        b[pos] ^= 1 << rng.randrange(8)
        b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    elif kind == 4:  # garbage after IEND
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
    else:  # corrupt the compressed data but keep the chunk CRC valid
        ch = _chunks(data)
        k = next(i for i, c in enumerate(ch) if c[4:8] == b"IDAT")
        body = bytearray(ch[k][8:-4])
        body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        ch[k] = ch[k][:8] + bytes(body) + struct.pack(">I", zlib.crc32(b"IDAT" + bytes(body)))
        b = bytearray(data[:8] + b"".join(ch))
    return bytes(b)


def test_broken_pngs_give_the_same_errors_as_pillow(monkeypatch) -> None:
    rng = random.Random(12)
    seeds = _pngs()[:12]
    cases = [_mutate(seeds[rng.randrange(len(seeds))], rng) for _ in range(int(os.environ.get("FUZZ", 600)))]
    differ = [i for i, c in enumerate(cases) if (lambda ab: ab[0] != ab[1])(_same(c, monkeypatch))]
    assert differ == [], f"{len(differ)} of {len(cases)} mutated PNGs decode differently"


def test_the_fast_path_reads_real_digit_folders_identically(monkeypatch, realworld_dev: Path) -> None:
    files = sorted(realworld_dev.glob("*/*.png"))
    files = files[::4] if len(files) > 2000 else files  # every 4th of the whole set; all of tests/data's 80
    assert len(files) >= 80
    taken = sum(_png.plain_mode(f.read_bytes()) is not None for f in files)
    assert taken > 0.6 * len(files)  # the 28x28-and-smaller sources
    for f in files:
        a, b = _same(str(f), monkeypatch)
        assert a == b, f


@pytest.mark.slow
def test_cli_rows_are_byte_identical_with_and_without_the_fast_path(tmp_path, test_set):
    """The whole command, on MNIST PNGs, every sample style and hostile files: the same CSV either way."""
    import os as _os

    from conftest import ROOT, run_cli, save_png

    x, _ = test_set
    for i in range(300):
        save_png(tmp_path / f"d{i:04d}.png", x[i])
    for f in (ROOT / "samples").glob("*.png"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    good = (ROOT / "samples" / "0_mnist.png").read_bytes()
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "cut.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.png").write_text("no image")
    _os.mkfifo(tmp_path / "fifo.png")
    for i, data in enumerate(_pngs()):
        (tmp_path / f"mode{i}.png").write_bytes(data)
    rng = random.Random(3)
    for i in range(40):
        (tmp_path / f"mutant{i}.png").write_bytes(_mutate(_pngs()[i % 12], rng))
    fast = run_cli("classify", str(tmp_path), "-f", "csv", "-p", "cpu", env={"MNIST_ONNX_PILLOW_ONLY": ""})
    slow = run_cli("classify", str(tmp_path), "-f", "csv", "-p", "cpu", env={"MNIST_ONNX_PILLOW_ONLY": "1"})
    assert fast.stdout == slow.stdout and fast.stdout.count("\n") > 350
    assert "error" in fast.stdout and fast.returncode == slow.returncode == 1
