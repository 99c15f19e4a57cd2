"""The clean-up's building blocks against plain reference implementations: the shortcuts taken for speed
(0.7.0) must give the same answers as the slow, obvious way, on random inputs of every density."""

from collections import deque

import numpy as np
import pytest
from PIL import Image

from mnist_onnx.image.levels import _block_floor, _ring, _ring_levels
from mnist_onnx.image.levels import levels
from mnist_onnx.image.morphology import sliding, components, components_or_one, may_hold_window
from mnist_onnx.image.normal import _MATRIX_SIDE, _lanczos


def _masks(n: int, seed: int = 0, side: int = 40):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        h, w = (int(v) for v in rng.integers(1, side, 2))
        yield rng.random((h, w)) < rng.random()


def _reference_components(mask: np.ndarray):
    """Breadth-first 8-connected labelling, numbered in row-major order of first pixel."""
    h, w = mask.shape
    labels = np.zeros((h, w), np.int32)
    boxes, areas = [], []
    for y in range(h):
        for x in range(w):
            if mask[y, x] and not labels[y, x]:
                n = len(boxes) + 1
                labels[y, x] = n
                queue, box, area = deque([(y, x)]), [y, x, y + 1, x + 1], 0
                while queue:
                    cy, cx = queue.popleft()
                    area += 1
                    box = [min(box[0], cy), min(box[1], cx), max(box[2], cy + 1), max(box[3], cx + 1)]
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = cy + dy, cx + dx
                            if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not labels[ny, nx]:
                                labels[ny, nx] = n
                                queue.append((ny, nx))
                boxes.append(box)
                areas.append(area)
    return labels, len(boxes), np.array(boxes, np.int64).reshape(-1, 4), np.array(areas, np.int64)


def test_components_match_a_breadth_first_labelling():
    singles = 0
    for mask in _masks(400):
        labels, n, boxes, areas = components(mask)
        ref = _reference_components(mask)
        assert n == ref[1]
        assert labels.dtype == np.int32 and np.array_equal(labels, ref[0])
        assert np.array_equal(boxes, ref[2]) and np.array_equal(areas, ref[3])
        lazy, n2, boxes2, areas2 = components_or_one(mask)
        assert (lazy is None) == (n == 1) and n2 == n
        assert np.array_equal(boxes2, boxes) and np.array_equal(areas2, areas)
        singles += n == 1
    assert singles > 20  # the one-component shortcut was exercised


def test_components_of_spirals_and_combs():
    """Shapes that need many union rounds: a spiral (one long path) and a comb joined at the bottom."""
    spiral = np.zeros((41, 41), bool)
    t, l, b, r = 0, 0, 40, 40
    while t <= b and l <= r:
        spiral[t, l : r + 1] = True
        spiral[t : b + 1, r] = True
        spiral[b, l : r + 1] = True
        spiral[t + 2 : b + 1, l] = True
        t, l, b, r = t + 2, l + 2, b - 2, r - 2
        if t <= b:
            spiral[t, l - 2 : l] = True
    comb = np.zeros((30, 40), bool)
    comb[:, ::3] = True
    comb[-1] = True
    for mask in (spiral, comb, ~comb, np.ones((5, 7), bool), np.zeros((3, 3), bool)):
        labels, n, boxes, areas = components(mask)
        ref = _reference_components(mask)
        assert n == ref[1] and np.array_equal(labels, ref[0]) and np.array_equal(boxes, ref[2])


def test_sliding_filters_match_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        x = rng.random((h, w)).astype(np.float32)
        k = int(rng.integers(1, 12)) | 1
        p = np.pad(x, k // 2, mode="edge")
        for reduce, fn in ((np.minimum, np.min), (np.maximum, np.max)):
            want = np.array([[fn(p[i : i + k, j : j + k]) for j in range(w)] for i in range(h)])
            assert np.array_equal(sliding(x, k, reduce), want)


def test_may_hold_window_never_rules_out_a_real_window():
    rng = np.random.default_rng(2)
    ruled_out = found = 0
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(5, 40, 2))
        mask = rng.random((h, w)) < rng.uniform(0.6, 1.0)
        if rng.random() < 0.5:  # a margin of paper: only whole windows inside can be all True
            mask = np.pad(mask | (rng.random((h, w)) < 0.5), int(rng.integers(1, 4)))
        k = int(rng.integers(2, 12)) | 1
        exists = bool(sliding(mask, k, np.minimum).any())
        if not may_hold_window(mask, k):
            ruled_out += 1
            assert not exists
        found += exists
    assert ruled_out > 30 and found > 30


def test_ring_levels_equal_numpy_medians():
    rng = np.random.default_rng(3)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(2, 80, 2))
        gray = rng.integers(int(rng.integers(0, 200)), 256, (h, w), dtype=np.uint8)
        ring = _ring(gray.astype(np.float32))
        background = float(np.median(ring))
        low, high = np.percentile(ring, [10, 90], method="inverted_cdf")
        assert _ring_levels(gray) == (background, float(np.median(np.abs(ring - background))), float(high - low))


@pytest.mark.slow
def test_levels_same_for_uint8_and_float_input():
    """The uint8 shortcuts (histogram medians, one minimum for the polarity on white paper) against the
    float path, which computes everything in full."""
    rng = np.random.default_rng(4)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(10, 120, 2))
        paper = int(rng.choice([0, 40, 128, 200, 255]))
        gray = np.full((h, w), paper, np.uint8)
        y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        gray[y : y + h // 3, x : x + w // 3] = rng.integers(0, 256)
        gray = np.clip(gray + rng.normal(0, rng.uniform(0, 12), (h, w)), 0, 255).astype(np.uint8)
        for invert in ("auto", "always", "never"):
            assert np.array_equal(levels(gray, invert), levels(gray.astype(np.float32), invert))


def _percentile_floor(x: np.ndarray, n: int = 4) -> np.ndarray:
    h, w = x.shape
    bh, bw = h // n, w // n
    blocks = x[: bh * n, : bw * n].reshape(n, bh, n, bw).transpose(0, 2, 1, 3).reshape(n, n, -1)
    p2, p16 = np.percentile(blocks, [2.3, 15.9], axis=2)
    return p16 + 4.0 * np.maximum(p16 - p2, 0.0)


def test_block_floor_shortcut_only_when_the_floor_is_zero():
    rng = np.random.default_rng(5)
    shortcuts = 0
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(48, 160, 2))
        x = np.where(rng.random((h, w)) < rng.uniform(0.3, 1.0), rng.random((h, w)) * 255, 0).astype(np.float32)
        floor = _block_floor(x)
        if isinstance(floor, float):
            shortcuts += 1
            assert floor == 0.0 and not _percentile_floor(x).any()
    assert 20 < shortcuts < 180


@pytest.mark.parametrize("big", [False, True])
def test_lanczos_matches_pillow(big):
    """The matrix resize is Pillow's filter, summed in another order: equal to the last bit or two."""
    rng = np.random.default_rng(6)
    for _ in range(8 if big else 300):
        lo, hi = (_MATRIX_SIDE + 1, _MATRIX_SIDE + 300) if big else (1, 200)
        h, w = (int(v) for v in rng.integers(lo, hi, 2))
        crop = (rng.random((h, w)) * (rng.random((h, w)) < 0.4)).astype(np.float32)
        s = 20.0 / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        pillow = np.asarray(Image.fromarray(crop, mode="F").resize((nw, nh), Image.Resampling.LANCZOS))
        ours = _lanczos(crop, nh, nw)
        assert ours.shape == (nh, nw) and ours.dtype == np.float32
        if big:
            assert np.array_equal(ours, pillow)  # large crops go through Pillow itself
        else:
            assert np.abs(ours - pillow).max() <= 3e-7
