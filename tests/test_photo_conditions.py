"""#28's photo conditions, for classify and read alike: the same MNIST test digits and numbers on plain
paper and under a hand's hard shadow edge, a register cell (box, underline, tick), dotted guides, squared
paper (level, and turned 2-6 degrees), a speckled page, punch holes and a dark border (pages made by benchmarks/photo_conditions.py, with seeds the benchmark's own
tables do not use). Each condition must read as plain paper does: at most one digit of 30 and one number of
24 more missed than on plain paper (the 1- and 3-point targets are measured on 200 digits and 100 numbers by
the benchmark; one image here is 3-4 points)."""

import numpy as np
import pytest
from PIL import Image

from benchmarks.photo_conditions import CONDITIONS, number_ink, page


@pytest.fixture(scope="module")
def cases(test_set):
    x, y = test_set
    rng = np.random.default_rng(2028)
    picks = [int(rng.choice(np.flatnonzero(y == d % 10))) for d in range(30)]
    singles = [np.asarray(Image.fromarray(x[i]).resize((112, 112)), np.float32) / 255.0 for i in picks]
    labels = ["".join(str(d) for d in rng.integers(0, 10, int(rng.integers(3, 6)))) for _ in range(24)]
    return singles, [int(y[i]) for i in picks], [number_ink(x, y, t, rng) for t in labels], labels


def _scores(condition, cases, seed):
    from mnist_onnx import Classifier

    singles, digits, numbers, labels = cases
    rng = np.random.default_rng([seed, CONDITIONS.index(condition)])
    big = condition == "speckled page"
    one = [p.digit == d for p, d in zip(Classifier(provider="cpu").classify(
        [page(s, condition, rng, big) for s in singles], min_confidence=0), digits)]
    num = [r.number == t for r, t in zip(Classifier("reader", provider="cpu").read(
        [page(n, condition, rng, big) for n in numbers], min_confidence=0), labels)]
    return sum(one), sum(num)


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["hand shadow edge", "register cell", "dotted guides", "squared grey 45px",
                                       "speckled page", "punch holes", "dark border",
                                       "squared grey 45px tilted"])
def test_a_photo_condition_reads_as_plain_paper(condition, cases):
    plain_one, plain_num = _scores("plain", cases, 7)
    one, num = _scores(condition, cases, 7)
    assert plain_one >= 28 and plain_num >= 21, (plain_one, plain_num)
    assert one >= plain_one - 1 and num >= plain_num - 1, (condition, one, plain_one, num, plain_num)


def test_frames_and_flat_strokes_are_not_digits():
    """A register cell's box round a digit and an underline are not digits; a lone 1 (thin and upright) and a
    thin 4 whose bar and stem stand beside its other stroke (cut apart by squared paper's removed lines) are."""
    from PIL import ImageDraw

    from mnist_onnx.image.morphology import components, not_digits

    def marks(draw_them):
        im = Image.new("L", (240, 140), 0)
        draw_them(ImageDraw.Draw(im))
        x = np.asarray(im, np.float32) / 255
        labels, n, boxes, areas = components(x > 0.25)
        mass = np.bincount(labels.ravel(), weights=x.ravel(), minlength=n + 1)[1:]
        return boxes, not_digits(boxes, areas, mass, labels)

    def cell(d):
        d.rectangle([10, 10, 230, 130], outline=255, width=2)  # the box
        d.ellipse([40, 30, 80, 100], outline=255, width=7)  # a 0 inside
        d.line([(150, 30), (150, 100)], fill=255, width=7)  # a 1 inside
        d.line([(20, 115), (220, 115)], fill=255, width=3)  # an underline inside

    boxes, out = marks(cell)
    by_left = {int(b[1]): bool(o) for b, o in zip(boxes, out)}
    assert by_left[10] and by_left[20] and not by_left[40] and not by_left[147], by_left

    def thin_four(d):
        d.line([(60, 20), (44, 80)], fill=255, width=3)  # its first stroke, cut from the rest
        d.line([(48, 80), (160, 80)], fill=255, width=3)  # the bar
        d.line([(130, 20), (130, 130)], fill=255, width=3)  # the stem

    assert not marks(thin_four)[1].any()
