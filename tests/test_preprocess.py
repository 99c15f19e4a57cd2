"""Preprocessing real PNGs: every mode decodes, polarity and layout are fixed, bad files give one line."""

import numpy as np
import pytest
from PIL import Image

from benchmarks.styles import STYLES
from conftest import save_png
from mnist_onnx import Classifier, load_image
from mnist_onnx.image.decode import decode
from mnist_onnx.image.normal import is_normal_form, normalize, to_mnist, to_mnist_batch
from mnist_onnx.errors import ImageError


@pytest.fixture(scope="module")
def clf():
    return Classifier(provider="cpu")


def corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_mnist_pngs_pass_through_bit_exact(tmp_path, test_set):
    x, _ = test_set
    for i in range(50):
        path = save_png(tmp_path / f"{i}.png", x[i])
        assert np.array_equal(load_image(path), x[i].astype(np.float32) / 255), i


def test_every_test_digit_is_already_in_normal_form(test_set):
    x, _ = test_set
    assert is_normal_form(x.astype(np.float32) / 255).mean() > 0.999


def test_normalize_reproduces_mnist_layout(test_set, clf):
    """Digits blown up on a big off-centre canvas come back laid out as MNIST drew them (up to a pixel)."""
    x, _ = test_set
    back = []
    for i in range(100):
        big = np.zeros((300, 400), np.float32)
        digit = np.asarray(Image.fromarray(x[i]).resize((224, 224), Image.Resampling.BICUBIC), np.float32) / 255
        big[40:264, 150:374] = np.clip(digit, 0, 1)
        back.append(normalize(big))
    back = np.stack(back)
    assert np.mean([corr(b, a / 255.0) for a, b in zip(x[:100], back)]) > 0.93
    assert is_normal_form(back).mean() > 0.95
    agree = (clf.predict_pixels(back).argmax(1) == clf.predict(x[:100]).argmax(1)).mean()
    assert agree >= 0.97


MODES = {
    "1": lambda im: im.convert("1", dither=Image.Dither.NONE),
    "L": lambda im: im.convert("L"),
    "P": lambda im: im.convert("P", palette=Image.Palette.ADAPTIVE, colors=32),
    "RGB": lambda im: im.convert("RGB"),
    "CMYK-ish RGB": lambda im: im.convert("CMYK").convert("RGB"),
    "I;16": lambda im: Image.fromarray(np.asarray(im.convert("L"), np.uint16) * 257),
    "LA": lambda im: im.convert("LA"),
    "RGBA": lambda im: im.convert("RGBA"),
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_every_png_mode(mode, tmp_path, test_set, clf):
    x, y = test_set
    rng = np.random.default_rng(0)
    for i in range(3):
        im = MODES[mode](STYLES["paper"](x[i], rng))
        im.save(tmp_path / "d.png")
        seen = load_image(tmp_path / "d.png")
        assert seen.shape == (28, 28) and seen.dtype == np.float32 and 0 <= seen.min() and seen.max() <= 1
        assert corr(seen, x[i] / 255.0) > 0.8, (mode, i)
        assert clf.classify(tmp_path / "d.png").digit == y[i]


def test_palette_with_transparency_and_gray_alpha(tmp_path, test_set, clf):
    x, y = test_set
    ink = x[0]
    la = Image.fromarray(np.stack([np.full_like(ink, 255), ink], -1), "LA")  # white ink, transparent paper
    la.save(tmp_path / "la.png")
    assert corr(load_image(tmp_path / "la.png"), ink / 255.0) > 0.95
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = ink  # black ink on transparency
    # a palette whose entries carry alpha (tRNS per index), as image editors and quantisers write it
    Image.fromarray(rgba, "RGBA").quantize(colors=64, method=Image.Quantize.FASTOCTREE).save(tmp_path / "pt.png")
    assert isinstance(Image.open(tmp_path / "pt.png").info.get("transparency"), bytes)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("rgba.png", "pt.png"):
        assert corr(load_image(tmp_path / name), ink / 255.0) > 0.95, name
        assert clf.classify(tmp_path / name).digit == y[0], name
    # one fully transparent index, the rest opaque: the anti-aliased edge is gone from the file itself
    Image.fromarray(rgba, "RGBA").convert("P").save(tmp_path / "p1.png", transparency=0)
    assert corr(load_image(tmp_path / "p1.png"), ink / 255.0) > 0.85
    assert clf.classify(tmp_path / "p1.png").digit == y[0]


def test_animated_png_uses_first_frame(tmp_path, test_set, clf):
    x, y = test_set
    frames = [Image.fromarray(x[i]) for i in (0, 1, 2)]  # 7, 2, 1
    frames[0].save(tmp_path / "a.png", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(tmp_path / "a.png").n_frames == 3
    assert clf.classify(tmp_path / "a.png").digit == y[0]


def test_polarity(tmp_path, test_set):
    x, _ = test_set
    paper = 255 - x[0]  # black on white
    save_png(tmp_path / "paper.png", paper)
    assert np.array_equal(load_image(tmp_path / "paper.png"), x[0] / np.float32(255))  # auto inverts
    assert np.array_equal(load_image(tmp_path / "paper.png", invert="always"), x[0] / np.float32(255))
    never = load_image(tmp_path / "paper.png", invert="never")
    assert never.sum() < 0.1 * (x[0] / 255.0).sum()  # taken as white-on-black, the paper is background: no digit
    save_png(tmp_path / "mnist.png", x[0])
    assert np.array_equal(load_image(tmp_path / "mnist.png", invert="never"), x[0] / np.float32(255))


def test_no_center_keeps_layout(tmp_path, test_set):
    canvas = np.zeros((28, 28), np.uint8)
    canvas[:14, :14] = np.asarray(Image.fromarray(test_set[0][0]).resize((14, 14)))
    save_png(tmp_path / "c.png", canvas)
    assert load_image(tmp_path / "c.png", center=False)[14:, 14:].max() == 0  # left in its corner
    centred = load_image(tmp_path / "c.png")
    assert centred[14:, 14:].max() > 0


def test_batch_fast_path_equals_single_path(test_set):
    x, _ = test_set
    rng = np.random.default_rng(1)
    grays = [x[i] for i in range(20)] + [255 - x[20], np.roll(x[21], 5, axis=1), np.asarray(STYLES["shaded"](x[22], rng))]
    batch = to_mnist_batch(grays)
    from mnist_onnx.image.normal import to_mnist

    for g, b in zip(grays, batch):
        assert np.allclose(to_mnist(g), b)


@pytest.mark.parametrize("content,problem", [
    (b"", "empty file (0 bytes)"),
    (b"hello, not an image", "not an image"),
    (None, "truncated or corrupt"),
])
def test_bad_files_one_line(tmp_path, content, problem, test_set):
    path = tmp_path / "bad.png"
    if content is None:
        save_png(path, np.asarray(STYLES["paper"](test_set[0][0], np.random.default_rng(0))))
        path.write_bytes(path.read_bytes()[:400])
    else:
        path.write_bytes(content)
    with pytest.raises(ImageError) as e:
        decode(path)
    assert problem in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_pixel_limit_and_missing(tmp_path):
    Image.new("L", (300, 300), 255).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match=r"too many pixels \(300x300 > 10,000 limit\)"):
        decode(tmp_path / "big.png", max_pixels=10_000)
    with pytest.raises(ImageError, match="vanished after listing"):
        decode(tmp_path / "gone.png")
    with pytest.raises(ImageError, match="is a directory"):
        decode(tmp_path)


@pytest.mark.slow
def test_real_world_styles_keep_accuracy(test_set, clf):
    """A small-sample check of the benchmark's claim (benchmarks/style_accuracy.py measures all 10k)."""
    x, y = test_set
    idx = np.random.default_rng(0).choice(len(x), 300, replace=False)
    base = (clf.predict(x[idx]).argmax(1) == y[idx]).mean()
    for name, style in STYLES.items():
        rng = np.random.default_rng(1)
        acc = (clf.predict([style(x[i], rng) for i in idx]).argmax(1) == y[idx]).mean()
        assert acc >= base - 0.03, (name, acc, base)


# --- noise, blots and blocks are not digits -------------------------------------------------------------

def _noise(rng, side, ink):
    return np.where(rng.random((side, side)) < ink, 0, 255).astype(np.uint8)  # black dots on white


@pytest.mark.parametrize("side", [100, 300])
@pytest.mark.parametrize("ink", [0.3, 0.5])
def test_a_page_of_random_dots_is_no_digit(side, ink):
    """0.7.0 read 300x300 random dots as `1`, ok, at 0.97: the dots join into one component filling its box."""
    assert not to_mnist(_noise(np.random.default_rng(side), side, ink)).any()


def test_a_solid_block_or_blot_is_no_digit():
    page = np.full((200, 200), 255, np.uint8)
    page[40:160, 50:150] = 0
    assert not to_mnist(page).any()


@pytest.mark.slow
def test_bold_blurred_and_dithered_digits_are_still_digits(realworld_dev, monkeypatch):
    """The other side of the blot rule: real digits as they are, drawn with a fat pen and blurred, or dithered
    to black and white, keep their strokes' gaps: preprocessing gives what it gives with the rule off."""
    from PIL import ImageFilter

    import mnist_onnx.image.clutter as clutter

    files = sorted(realworld_dev.glob("*/*.png"))
    files = files[:: max(1, len(files) // 150)]
    assert len(files) >= 20
    images = []
    for f in files:
        im = Image.open(f).convert("L")
        images.append(np.asarray(im))
        images.append(np.asarray(im.resize((112, 112)).filter(ImageFilter.MinFilter(5)).filter(ImageFilter.GaussianBlur(2))))
        faint = np.asarray(im.resize((im.width * 4, im.height * 4), Image.Resampling.BICUBIC), np.float32)
        images.append(np.asarray(Image.fromarray((255 - (255 - faint) * 0.45).astype(np.uint8)).convert("1").convert("L")))
    ruled = [to_mnist(g) for g in images]
    monkeypatch.setattr(clutter, "_BLOT_COVER", 1.01)  # the rule off
    assert all(np.array_equal(a, to_mnist(g)) for a, g in zip(ruled, images))
    assert sum(a.any() for a in ruled) >= 0.95 * len(images)


@pytest.mark.slow
def test_classify_and_read_say_no_digit_for_noise(tmp_path):
    from conftest import csv_rows, run_cli

    Image.fromarray(_noise(np.random.default_rng(0), 300, 0.5)).save(tmp_path / "noise.png")
    for command, field in (("classify", "digit"), ("read", "number")):
        r = run_cli(command, str(tmp_path / "noise.png"), "-f", "csv")
        row = csv_rows(r.stdout)[0]
        assert r.returncode == 1 and row["status"] == "no-digit" and row[field] == "", (command, row)
