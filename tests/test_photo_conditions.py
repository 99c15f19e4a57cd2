"""#28's photo conditions, for classify and read alike: the same MNIST test digits and numbers on plain
paper and under a hand's hard shadow edge, a register cell (box, underline, tick), dotted guides, squared
paper and a speckled page (pages made by benchmarks/photo_conditions.py, with seeds the benchmark's own
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


@pytest.mark.parametrize("condition", ["hand shadow edge", "register cell", "dotted guides", "squared grey 45px",
                                       "speckled page"])
def test_a_photo_condition_reads_as_plain_paper(condition, cases):
    plain_one, plain_num = _scores("plain", cases, 7)
    one, num = _scores(condition, cases, 7)
    assert plain_one >= 28 and plain_num >= 21, (plain_one, plain_num)
    assert one >= plain_one - 1 and num >= plain_num - 1, (condition, one, plain_one, num, plain_num)


def test_frames_and_flat_strokes_are_not_digits():
    """A register cell's box holding a digit, an underline and a lone 1 (thin and upright: a digit)."""
    from mnist_onnx._morphology import not_digits

    boxes = np.array([[10, 10, 110, 210],  # a box (frame) round the others
                      [30, 40, 90, 70],  # a digit inside it
                      [95, 20, 98, 200],  # an underline
                      [30, 120, 90, 126]])  # a 1: thin, upright, a digit
    areas = np.array([2 * (100 + 200) * 2, 900, 540, 360])
    mass = areas * 0.9
    assert not_digits(boxes, areas, mass).tolist() == [True, False, True, False]
    # a drawn 0 holding a speck is not a frame: the speck is too light, and the 0 is not sparse enough
    assert not not_digits(np.array([[0, 0, 60, 40], [28, 18, 31, 21]]), np.array([700, 9]), np.array([700.0, 9.0]))[0]
