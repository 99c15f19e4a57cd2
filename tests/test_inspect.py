"""`evaluate`, `show` and `info`: the numbers must match a plain onnxruntime evaluation, to the image."""

import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from conftest import DATA, run_cli, save_png
from mnist_onnx._model import bundled_model_path


def plain_predictions(model, x, mean=0.0, std=1.0):
    s = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    feed = ((x.astype(np.float32) / 255 - mean) / std).reshape([-1] + [d for d in inp.shape[1:]])
    return s.run(None, {inp.name: feed.astype(np.float32)})[0].argmax(1)


@pytest.mark.slow
def test_evaluate_idx_matches_plain_onnxruntime(test_set, tmp_path):
    x, y = test_set
    r = run_cli("evaluate", str(DATA), "--json", "--report", str(tmp_path / "rep"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    ref = plain_predictions(bundled_model_path(), x)
    assert out["accuracy"] == float((ref == y).mean())
    assert out["correct"] == int((ref == y).sum()) and out["images"] == 10000
    cm = np.array(out["confusion"])
    expected = np.zeros((10, 10), int)
    np.add.at(expected, (y, ref), 1)
    assert (cm == expected).all()
    for row in out["per_class"]:
        d = row["digit"]
        assert row["recall"] == pytest.approx(cm[d, d] / cm[d].sum())
        assert row["precision"] == pytest.approx(cm[d, d] / cm[:, d].sum())
    wrong = len(out["misclassified"])
    assert wrong == 10000 - out["correct"]
    assert {m["source"] for m in out["misclassified"]} == {f"idx:{i}" for i in np.flatnonzero(ref != y)}
    grid = Image.open(tmp_path / "rep" / "misclassified.png")
    shown = min(wrong, 100)
    assert grid.height == 36 + -(-shown // 10) * (28 * 3 + 18 + 8)  # one tile per misclassified image
    assert Image.open(tmp_path / "rep" / "confusion.png").size[0] > 400


@pytest.mark.slow
def test_evaluate_third_party_with_its_normalisation(test_set, third_party):
    x, y = test_set
    r = run_cli("evaluate", str(DATA), "--json", "-m", str(third_party), "--mean", "0.1307", "--std", "0.3081")
    ref = plain_predictions(third_party, x, 0.1307, 0.3081)
    assert json.loads(r.stdout)["accuracy"] == float((ref == y).mean())


@pytest.mark.slow
def test_evaluate_png_subfolders_and_unreadable(test_set, tmp_path):
    x, y = test_set
    for i in range(300):
        (tmp_path / str(y[i])).mkdir(exist_ok=True)
        save_png(tmp_path / str(y[i]) / f"{i:04d}.png", x[i])
    (tmp_path / "3" / "broken.png").write_bytes(b"nope")
    r = run_cli("evaluate", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    ref = plain_predictions(bundled_model_path(), x[:300])
    assert out["images"] == 300 and out["accuracy"] == float((ref == y[:300]).mean())  # PNGs are bit-exact
    assert out["unreadable"] == [{"path": str(tmp_path / "3" / "broken.png"), "error": "not an image (unrecognised format)"}]
    assert "warning:" in r.stderr and "broken.png" in r.stderr


@pytest.mark.slow
def test_evaluate_labels_csv_table():
    r = run_cli("evaluate", "samples/labels.csv")
    assert r.returncode == 0, r.stderr
    assert "100.00% accuracy (12 of 12)" in r.stdout and "confusion matrix" in r.stdout and "precision" in r.stdout


@pytest.mark.slow
def test_evaluate_errors(tmp_path):
    r = run_cli("evaluate", str(tmp_path))
    assert r.returncode == 2 and "no IDX test files" in r.stderr and r.stderr.count("\n") == 1
    (tmp_path / "l.csv").write_text("file,label\na.png,12\n")
    r = run_cli("evaluate", str(tmp_path / "l.csv"))
    assert r.returncode == 2 and "line 2" in r.stderr


def test_show_draws_what_the_model_sees(tmp_path, test_set):
    x, y = test_set
    save_png(tmp_path / "paper.png", 255 - x[0])  # black on white: show must display it inverted
    (tmp_path / "bad.png").write_bytes(b"")
    r = run_cli("show", str(tmp_path / "paper.png"), str(tmp_path / "bad.png"), "--save", str(tmp_path / "out"))
    assert r.returncode == 1  # one file failed, the other was shown
    assert f"paper.png: {y[0]}" in r.stdout and "empty file" in r.stderr
    art = [line for line in r.stdout.splitlines() if "@" in line]
    assert 10 < len(art) <= 28  # the inverted digit drawn as ink (ASCII ramp when not a terminal)
    bars = [line for line in r.stdout.splitlines() if line[:2].strip().isdigit() and ("█" in line or "·" in line)]
    assert len(bars) == 10 and "◀" in bars[y[0]]
    card = Image.open(tmp_path / "out" / "paper.show.png")
    left = np.asarray(card.convert("L"))[40 : 40 + 224, 10 : 10 + 224]
    small = left[::8, ::8] / 255.0
    assert np.corrcoef(small.ravel(), x[0].ravel())[0, 1] > 0.99  # the saved picture is the model input


@pytest.mark.slow
def test_info_json_and_table():
    r = run_cli("info", "--json")
    out = json.loads(r.stdout)
    assert out["source"] == "bundled" and out["card"]["metrics"]["test_accuracy"] >= 0.965
    assert out["inputs"][0]["shape"] == ["batch", 784] and out["preprocessing"]["ink"] == "white-on-black"
    assert len(out["card"]["data"]["sha256"]) == 4
    t = run_cli("info")
    shown = f"{out['card']['metrics']['test_accuracy']:.2%}"  # the card's own figure, as a person reads it
    assert "test_accuracy" in t.stdout and shown in t.stdout and "tensorflow" in t.stdout
    missing = run_cli("info", "nope.onnx")
    assert missing.returncode == 2 and "model file not found" in missing.stderr


def test_evaluate_with_nothing_readable_exits_1_with_one_summary(tmp_path):
    """Every file of the labels CSV missing: not "0.00 % (0 of 0)" and exit 0, nor a warning per row."""
    rows = "".join(f"missing_{i}.png,{i % 10}\n" for i in range(500))
    (tmp_path / "labels.csv").write_text("file,label\n" + rows)
    r = run_cli("evaluate", str(tmp_path / "labels.csv"), "-p", "cpu")
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 12 and "490 more files" in lines[10] and "nothing to evaluate" in lines[11], lines
    assert "accuracy" not in r.stdout


@pytest.mark.slow
def test_info_of_a_model_made_elsewhere(third_party):
    third = json.loads(run_cli("info", str(third_party), "--json").stdout)
    assert third["card"] is None and third["inputs"][0]["shape"] == ["batch_size", 1, 28, 28]
    assert "none: not exported by mnist-onnx" in run_cli("info", str(third_party)).stdout
