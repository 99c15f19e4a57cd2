"""Training-time augmentation: make MNIST digits vary the way real handwriting does.

MNIST was written with one kind of pen, scanned one way and normalised one way. Real digits come from thin
and thick pens, from tiny 8x8 or 16x16 sources scaled back up, blurred phone photos and wobbly hands. Two
parts, both cheap enough for 2 CPU cores:

* `lowres_variants` (NumPy, once before training): each training digit re-made the way small data sets store
  digits (shrunk to 8x8 or 16x16, often stretched to fill the box, some with few grey levels or binarised),
  then brought back to 28x28 by **the runtime's own preprocessing** -- so the model learns exactly what
  `classify` will hand it for such images.
* `style_variants` (NumPy, once): 1s with a flag (short or long) and base, 7s with a crossbar or a hooked
  top, 9s with a long or hooked tail, as much of the world writes them and MNIST's writers rarely did.
* `augment` (TensorFlow, in the graph, per batch): elastic distortion (Simard et al. 2003) combined with a
  small random rotation/shear/zoom/shift, stroke thickness (thinner and thicker pens), blur, contrast and noise.

`docs/augmentation.png` shows what each does (made by `docs/make_pictures.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ._tf import tf
from PIL import Image

from mnist_onnx.parts import to_mnist


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly each kind of variation is applied. Probabilities are per image."""

    elastic_alpha: float = 4.0  # largest displacement, pixels (twice the amplitude of the random field)
    elastic_sigma: float = 5.0  # smoothness: one random displacement per this many pixels, upsampled
    max_degrees: float = 12.0  # rotation
    max_shear: float = 0.25  # horizontal shear (slant), as a fraction of the height
    max_zoom: float = 0.12  # isotropic scale, +-
    max_aspect: float = 0.15  # anisotropic scale, +-
    max_shift: float = 2.0  # translation, pixels
    p_thick: float = 0.15  # dilate: a thicker pen
    p_thin: float = 0.1  # erode: a thinner pen
    p_blur: float = 0.1  # Gaussian blur (out-of-focus photo, soft marker)
    p_contrast: float = 0.15  # faint ink: scale the ink down
    p_noise: float = 0.1  # sensor noise
    p_lowres: float = 0.3  # use the low-resolution variant of the digit instead of the original
    p_style: float = 0.4  # use the regional-style variant (a 1 with a flag and base, a 7 with a bar)


# --- low-resolution sources (NumPy, once) --------------------------------------------------------------

def _lowres_one(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One 28x28 uint8 digit -> as an 8x8/16x16 data set would store it -> the runtime's 28x28 float input."""
    rows, cols = np.flatnonzero(img.any(1)), np.flatnonzero(img.any(0))
    if len(rows) == 0:
        return img.astype(np.float32) / 255.0
    crop = img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = int(rng.choice([8, 12, 16]))
    h, w = crop.shape
    if rng.random() < 0.6:  # size-normalised: stretched to fill the box (USPS, Semeion, optdigits)
        size = (side, side)
    else:  # aspect kept, fitted into the box
        s = side / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BOX), dtype=np.float32)
    small = small / max(float(small.max()), 1.0) * 255.0
    levels = rng.choice(["gray", "17", "binary"], p=[0.4, 0.3, 0.3])
    if levels == "17":
        small = np.round(small / 255.0 * 16) * (255.0 / 16)
    elif levels == "binary":
        small = np.where(small >= rng.uniform(70, 160), 255.0, 0.0)
    pad = np.zeros((small.shape[0] + 2, small.shape[1] + 2), np.uint8)  # a margin, as stored images have
    pad[1:-1, 1:-1] = small.astype(np.uint8)
    return to_mnist(pad, invert="never")


def lowres_variants(x: np.ndarray, seed: int) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 784) float32: each digit as a tiny source, through the runtime preprocessing."""
    rng = np.random.default_rng(seed)
    return np.stack([_lowres_one(img, rng) for img in x]).reshape(len(x), 784).astype(np.float32)


# --- regional digit styles (NumPy, once) ---------------------------------------------------------------

def _style_one(img: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """A 1, 7 or 9 as much of the world writes it: a 1 with a flag (short, or long and shallow: the continental
    1 read as 7) and often a base; a 7 with a crossbar or a hooked top (read as 1 in real numbers more than any
    other digit); a 9 with a long tail or one hooked back left under the loop. MNIST's writers (US census staff and students) rarely did; most
    real-world misreads of 1s come from this. Other digits come back unchanged. Result: the runtime's 28x28
    float input."""
    from PIL import ImageDraw

    if label not in (1, 7, 9) or not img.any():
        return img.astype(np.float32) / 255.0
    scale = 4  # draw at 4x for smooth edges
    big = Image.fromarray(img).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    ink = np.asarray(big) > 128
    rows = np.flatnonzero(ink.any(1))
    r0, r1 = int(rows[0]), int(rows[-1])
    height = r1 - r0 + 1
    width = max(2 * scale, int(round(np.count_nonzero(ink) / max(height, 1) * (0.8 if label == 1 else 0.5))))
    level = int(np.percentile(np.asarray(big)[ink], 90))
    top_cols = np.flatnonzero(ink[r0 : r0 + max(2, height // 12)].any(0))
    bottom_cols = np.flatnonzero(ink[r1 - max(2, height // 12) : r1 + 1].any(0))
    if label == 9:  # the tail carried on below the loop, often curling left
        big = Image.fromarray(np.pad(np.asarray(big), ((0, 20 * scale), (0, 0))))
    draw = ImageDraw.Draw(big)
    if label == 1:
        c0 = float(top_cols.mean())
        if rng.random() < 0.4:  # long and shallow
            length, angle = height * rng.uniform(0.45, 0.75), np.radians(rng.uniform(25, 45))
        else:
            length, angle = height * rng.uniform(0.25, 0.45), np.radians(rng.uniform(20, 55))  # below horizontal
        draw.line([(c0, r0), (c0 - length * np.cos(angle), r0 + length * np.sin(angle))], fill=level, width=width)
        if rng.random() < 0.4:
            c1, half = float(bottom_cols.mean()), height * rng.uniform(0.15, 0.3)
            draw.line([(c1 - half, r1), (c1 + half, r1)], fill=level, width=width)
    elif label == 7 and rng.random() < 0.5:  # a hook down from the left end of the top bar
        x0, drop = float(top_cols[0]), height * rng.uniform(0.15, 0.35)
        draw.line([(x0, r0), (x0 - rng.uniform(0, 0.05) * height, r0 + drop)], fill=level, width=width)
    elif label == 7:
        mid = r0 + height * rng.uniform(0.45, 0.6)
        cols = np.flatnonzero(ink[int(mid)])
        if len(cols):
            c, half = float(cols.mean()), height * rng.uniform(0.15, 0.25)
            draw.line([(c - half, mid), (c + half, mid)], fill=level, width=width)
    elif rng.random() < 0.5:
        c1, tail = float(bottom_cols.mean()), height * rng.uniform(0.15, 0.4)
        curl = height * rng.uniform(0.0, 0.2)
        draw.line([(c1, r1), (c1 - curl * 0.3, r1 + tail * 0.7), (c1 - curl, r1 + tail)], fill=level, width=width,
                  joint="curve")
    else:  # the tail hooked back left under the loop (a typeset 9, or a 9 squeezed into a box: read as 3)
        c1, reach, dip = float(bottom_cols.mean()), height * rng.uniform(0.3, 0.55), height * rng.uniform(0.05, 0.15)
        rise = height * rng.uniform(0.0, 0.15)
        draw.line([(c1, r1 - dip), (c1 - reach * 0.2, r1 + dip * 0.6), (c1 - reach * 0.55, r1 + dip * 0.7),
                   (c1 - reach * 0.85, r1 + dip * 0.1), (c1 - reach, r1 - rise)], fill=level, width=width, joint="curve")
    small = np.asarray(big.resize((28, big.height // scale), Image.Resampling.BOX))
    return to_mnist(small, invert="never")


def style_variants(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """(N, 28, 28) uint8 and labels -> (N, 784) float32: 1s and 7s in regional styles, others unchanged."""
    rng = np.random.default_rng(seed + 1)
    return np.stack([_style_one(img, int(label), rng) for img, label in zip(x, y)]).reshape(len(x), 784).astype(np.float32)


# --- per-batch augmentation (TensorFlow) ---------------------------------------------------------------

def _gaussian_kernel(sigma: float, radius: int) -> tf.Tensor:
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return tf.constant(k / k.sum(), tf.float32)


def _smooth(field: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of (n, 28, 28, c) fields, zero padding."""
    radius = min(13, int(math.ceil(3 * sigma)))
    k = _gaussian_kernel(sigma, radius)
    c = field.shape[-1]
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, c, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, c, 1])
    field = tf.nn.depthwise_conv2d(field, kx, [1, 1, 1, 1], "SAME")
    return tf.nn.depthwise_conv2d(field, ky, [1, 1, 1, 1], "SAME")


def _bilinear(images: tf.Tensor, ys: tf.Tensor, xs: tf.Tensor) -> tf.Tensor:
    """Sample (n, 28, 28) images at float coordinates (n, 28, 28); outside the image is 0."""
    n = tf.shape(images)[0]
    padded = tf.reshape(tf.pad(images, [[0, 0], [1, 1], [1, 1]]), [-1])  # 30x30, zero border
    ys = tf.clip_by_value(ys + 1.0, 0.0, 28.999)
    xs = tf.clip_by_value(xs + 1.0, 0.0, 28.999)
    y0, x0 = tf.floor(ys), tf.floor(xs)
    wy, wx = ys - y0, xs - x0
    base = tf.reshape(tf.range(n) * 900, [-1, 1, 1])
    y0i, x0i = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)

    def at(dy: int, dx: int) -> tf.Tensor:
        return tf.gather(padded, base + (y0i + dy) * 30 + (x0i + dx))

    top = at(0, 0) * (1 - wx) + at(0, 1) * wx
    bottom = at(1, 0) * (1 - wx) + at(1, 1) * wx
    return top * (1 - wy) + bottom * wy


def _chance(n: tf.Tensor, p: float) -> tf.Tensor:
    """(n, 1, 1, 1) boolean mask: which images get a treatment."""
    return tf.random.uniform([n, 1, 1, 1]) < p


def vary(x: tf.Tensor, x_lowres: tf.Tensor, x_style: tf.Tensor, cfg: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """Per image, the original, its low-resolution or its regional-style variant (flat (n, 784) each), then
    `augment`: one training batch as the model sees it, and the held-out digits calibration is fitted on."""
    r = tf.random.uniform([tf.shape(x)[0], 1])
    x = tf.where(r < cfg.p_lowres, x_lowres, tf.where(r < cfg.p_lowres + cfg.p_style, x_style, x))
    return augment(x, cfg)


def augment(x: tf.Tensor, cfg: AugmentConfig = AugmentConfig()) -> tf.Tensor:
    """A batch of flat (n, 784) [0, 1] digits -> a randomly varied batch of the same shape."""
    n = tf.shape(x)[0]
    images = tf.reshape(x, [n, 28, 28])

    # Geometry: one sampling grid per image = affine map about the centre + a smooth random displacement.
    u = lambda: tf.random.uniform([n, 1, 1], -1.0, 1.0)  # noqa: E731
    angle = u() * (cfg.max_degrees * math.pi / 180)
    shear = u() * cfg.max_shear
    zoom = 1.0 + u() * cfg.max_zoom
    sy, sx = zoom * (1.0 + u() * cfg.max_aspect), zoom * (1.0 + u() * cfg.max_aspect)
    ty, tx = u() * cfg.max_shift, u() * cfg.max_shift
    grid = tf.range(28, dtype=tf.float32) - 13.5
    gy, gx = tf.meshgrid(grid, grid, indexing="ij")
    gy, gx = gy[None] - ty, gx[None] - tx
    cos, sin = tf.cos(angle), tf.sin(angle)
    # output -> input: undo the shift, rotation, shear and scale in turn
    ry, rx = cos * gy - sin * gx, sin * gy + cos * gx
    rx = rx - shear * ry
    ys, xs = ry / sy + 13.5, rx / sx + 13.5
    # Smooth random displacement: random vectors on a coarse grid (one per elastic_sigma pixels), upsampled.
    if cfg.elastic_alpha > 0:
        coarse = max(2, round(28 / max(cfg.elastic_sigma, 1.0)))
        field = tf.image.resize(tf.random.uniform([n, coarse, coarse, 2], -1.0, 1.0), [28, 28], "bicubic")
        field = field * (cfg.elastic_alpha * 0.5)
        ys, xs = ys + field[..., 0], xs + field[..., 1]
    images = _bilinear(images, ys, xs)

    # Pen: thicker (dilate) or thinner (erode), then blur, contrast and noise.
    img = images[..., None]
    thick = tf.nn.max_pool2d(img, 2, 1, "SAME")
    thick = tf.where(_chance(n, 0.5), thick, tf.nn.max_pool2d(img, 3, 1, "SAME"))
    thin = -tf.nn.max_pool2d(-img, 2, 1, "SAME")
    thin = tf.maximum(thin, img * 0.35)  # never erase a stroke entirely
    r = tf.random.uniform([n, 1, 1, 1])
    img = tf.where(r < cfg.p_thick, thick, tf.where(r < cfg.p_thick + cfg.p_thin, thin, img))
    blurred = _smooth(img, 0.8)
    img = tf.where(_chance(n, cfg.p_blur), blurred / (tf.reduce_max(blurred, [1, 2, 3], keepdims=True) + 1e-6), img)
    img = tf.where(_chance(n, cfg.p_contrast), img * tf.random.uniform([n, 1, 1, 1], 0.45, 0.9), img)
    noise = tf.random.normal(tf.shape(img), stddev=0.06)
    img = tf.where(_chance(n, cfg.p_noise), tf.clip_by_value(img + noise, 0.0, 1.0), img)
    return tf.reshape(img, [n, 784])
