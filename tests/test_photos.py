"""The failure modes seen on real phone photos, scans and tiny sources, one synthetic case each
(benchmarks/photos.py): what the model receives must look like an MNIST digit, and be read as one."""

import numpy as np
import pytest

from benchmarks.photos import CASES, blank_images
from conftest import run_cli
from mnist_onnx import Classifier
from mnist_onnx.image.morphology import stroke_width
from mnist_onnx.image.normal import NO_DIGIT, is_normal_form, no_digit

N = 40


@pytest.fixture(scope="module")
def clf():
    return Classifier(provider="cpu")


@pytest.fixture(scope="module")
def digits(test_set, clf):
    """The first N test digits the bundled model reads right as plain arrays: a failure is the case's fault."""
    x, y = test_set
    right = np.flatnonzero(clf.predict(x[:200]).argmax(1) == y[:200])[:N]
    return x[right], y[right]


@pytest.fixture(scope="module")
def seen(digits, clf):
    """case -> (the images, what the model receives, its predictions)."""
    x, _ = digits
    out = {}
    for name, make in CASES.items():
        rng = np.random.default_rng(7)
        images = [make(d, rng) for d in x]
        pixels = clf.preprocess(images)
        out[name] = (images, pixels, clf.predict_pixels(pixels).argmax(1))
    return out


# Accuracy on the N digits the model reads right as arrays. Dark photos, grid paper and clutter must be as
# good as clean paper; tiny sources and filled boxes lose detail for good (8x8 pixels), thin pens keep little.
BARS = {"dark_photo": 0.95, "pasted_crop": 0.85, "grid_paper": 0.95, "thin_pen": 0.85, "tiny_source": 0.75,
        "filled_box": 0.75, "clutter": 0.92}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_case_is_read_like_mnist(name, seen, digits):
    images, pixels, pred = seen[name]
    _, y = digits
    assert not no_digit(pixels).any(), f"{name}: a digit was taken for a blank image"
    assert is_normal_form(pixels).mean() >= 0.9, f"{name}: not fitted to 20 px and centred like MNIST"
    ink = (pixels > 0.5).reshape(len(pixels), -1).mean(1)
    assert np.median(ink) < 0.3, f"{name}: the model sees a blob or a rectangle, not strokes"
    acc = (pred == y).mean()
    assert acc >= BARS[name], f"{name}: {acc:.0%} < {BARS[name]:.0%}"


def test_dark_photo_is_not_all_black(seen):
    """1. Paper at ~100/255 and ink at ~25 used to reach the model as an all-black image."""
    _, pixels, _ = seen["dark_photo"]
    assert pixels.max(axis=(1, 2)).min() == pytest.approx(1.0)


def test_pasted_crop_patch_is_not_ink(seen, digits, clf):
    """2. The grey patch on a white square used to be taken for ink: the model saw a rectangle."""
    _, pixels, _ = seen["pasted_crop"]
    assert _median_correlation_with_clean_paper(pixels, digits, clf) > 0.8
    ink = pixels > 0.2
    assert ink.mean(2).max() < 0.75 and ink.mean(1).max() < 0.75  # no edge of the patch left as a line


def test_grid_lines_are_gone(seen):
    """3. Grid lines used to stretch the bounding box so the digit ended up tiny."""
    _, pixels, _ = seen["grid_paper"]
    rows = (pixels > 0.2).mean(2)  # a surviving line is a row with ink across most of the image
    assert rows.max() < 0.75


def test_thin_pen_gets_mnist_strokes(seen):
    """4. A thin pen on a 1,280 px photo used to end as faint 1 px strokes."""
    _, pixels, _ = seen["thin_pen"]
    widths = [stroke_width(p[4:24, 4:24]) for p in pixels]
    assert np.median(widths) >= 1.4 and pixels.max(axis=(1, 2)).min() == pytest.approx(1.0)


def test_tiny_sources_are_not_blobs(seen):
    """5. 8x8/16x16 sources scaled up used to give 5-8 px strokes with their loops filled."""
    _, pixels, _ = seen["tiny_source"]
    assert np.median([stroke_width(p[4:24, 4:24]) for p in pixels]) <= 3.5


def test_digit_filling_its_box_is_kept(seen):
    """6. A digit covering half its 16x16 box used to be taken for the background and erased."""
    images, pixels, _ = seen["filled_box"]
    assert all(np.asarray(im).size == 256 for im in images)
    assert (pixels.reshape(len(pixels), -1).sum(1) > 30).all()


def test_clutter_is_dropped(seen, digits, clf):
    """7. Specks, a shadow, a frame edge and a second mark: what the model sees matches the clean digit."""
    _, pixels, _ = seen["clutter"]
    assert _median_correlation_with_clean_paper(pixels, digits, clf) > 0.8


def _median_correlation_with_clean_paper(pixels, digits, clf) -> float:
    from benchmarks.styles import paper

    x, _ = digits
    rng = np.random.default_rng(7)
    clean = clf.preprocess([paper(d, rng) for d in x])
    return float(np.median([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(clean, pixels)]))


def test_blank_images_are_no_digit(clf, tmp_path):
    """8. An image without ink used to get a confident-looking digit with status ok."""
    blanks = blank_images(np.random.default_rng(0))
    assert no_digit(clf.preprocess(list(blanks.values()))).all()
    preds = clf.classify(list(blanks.values()))
    assert all(p.digit is None and p.confidence == 0.0 for p in preds)
    for name, im in blanks.items():
        im.save(tmp_path / f"{name}.png")
    r = run_cli("classify", str(tmp_path), "--format", "csv")
    assert r.returncode == 1, r.stderr
    lines = r.stdout.strip().splitlines()[1:]
    assert len(lines) == len(blanks) and all(f",,,no-digit,\"{NO_DIGIT}\"" in line for line in lines)
    assert f"0 classified, {len(blanks)} without a digit, 0 failed" in r.stderr
