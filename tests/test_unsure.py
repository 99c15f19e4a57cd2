"""`unsure` and calibration (#16): the measures themselves, the threshold on every front end, and the bundled
models by name. The server's side is in test_serve.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_cli
from mnist_onnx import Classifier
from mnist_onnx._calibration import accuracy_at_coverage, expected_calibration_error, risk_coverage, threshold_for
from mnist_onnx._model import BUNDLED, bundled_model_path, resolve_model
from mnist_onnx.errors import UsageError

SAMPLES = ROOT / "samples"


# --- the measures ----------------------------------------------------------------------------------------

def test_calibration_error_is_zero_when_confidence_means_what_it_says():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 200_000)
    right = rng.random(len(conf)) < conf  # right exactly as often as claimed
    assert expected_calibration_error(conf, right) < 0.005
    # overconfident by 10 points: the error says so
    assert abs(expected_calibration_error(np.minimum(conf + 0.1, 1.0), right) - 0.1) < 0.02


def test_accuracy_at_coverage_and_threshold():
    conf = np.array([0.99, 0.98, 0.97, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    right = np.array([1, 1, 1, 1, 0, 1, 1, 0, 0, 1], bool)
    cov, acc, last = risk_coverage(conf, right)
    assert cov[-1] == 1.0 and acc[-1] == 0.7 and last[0] == 0.99
    at = accuracy_at_coverage(conf, right, (1.0, 0.5, 0.4))
    assert at == {1.0: 0.7, 0.5: 0.8, 0.4: 1.0}
    assert threshold_for(conf, right, 0.99) == 0.9  # the four most confident are all right
    assert threshold_for(conf, right, 0.7) == 0.3  # every answer
    assert threshold_for(conf[4:5], right[4:5], 0.99) == 1.0  # nothing reaches it: nothing is ok
    # ties: a threshold keeps every answer of its confidence, so a tie with a wrong one is not a cut point
    assert threshold_for(np.array([0.9, 0.9, 0.5]), np.array([True, False, True]), 0.99) == 1.0


# --- the threshold on each front end --------------------------------------------------------------------

@pytest.fixture(scope="module")
def clf():
    return Classifier(provider="cpu")


def test_the_bundled_model_names_its_threshold(clf):
    card = clf.info.card
    assert 0.5 < clf.min_confidence < 1.0
    assert card["min_confidence"]["value"] == pytest.approx(clf.min_confidence, abs=1e-4)
    assert "realworld-dev" in card["min_confidence"]["chosen_on"]


def test_library_marks_unsure_below_the_threshold(clf, test_set):
    x, _ = test_set
    preds = clf.classify(x[:50], min_confidence=1.0)
    assert [p.unsure for p in preds] == [p.confidence < 1.0 for p in preds] and any(p.unsure for p in preds)
    assert all(p.digit is not None for p in preds)  # the digit is still given
    assert not any(p.unsure for p in clf.classify(x[:50], min_confidence=0))
    default = clf.classify(x[:200])
    assert [p.unsure for p in default] == [p.confidence < clf.min_confidence for p in default]
    files = list(clf.classify_files(SAMPLES, min_confidence=0.999999))
    assert [r.status for r in files] == ["unsure" if r.confidence < 0.999999 else "ok" for r in files]
    assert "unsure" in {r.status for r in files} and all(r.ok for r in files)
    with pytest.raises(UsageError, match="min_confidence 1.5"):
        clf.classify(x[:1], min_confidence=1.5)


@pytest.mark.slow
def test_classify_command_unsure_rows_exit_code_and_summary(tmp_path):
    out = tmp_path / "rows.csv"
    r = run_cli("classify", str(SAMPLES), "--min-confidence", "0.9999", "-o", str(out), "--provider", "cpu")
    assert r.returncode == 0, r.stderr  # unsure is an answer to check, not a failure
    rows = list(csv.DictReader(out.open()))
    unsure = [row for row in rows if row["status"] == "unsure"]
    assert unsure and all(row["digit"] and float(row["confidence"]) < 0.9999 for row in unsure)
    assert all(float(row["confidence"]) >= 0.9999 for row in rows if row["status"] == "ok")
    assert f"({len(unsure)} unsure, below 0.9999)" in r.stderr
    r = run_cli("classify", str(SAMPLES), "--min-confidence", "0", "-f", "jsonl", "--provider", "cpu")
    assert {json.loads(line)["status"] for line in r.stdout.splitlines()} == {"ok"}
    assert "unsure" not in r.stderr
    r = run_cli("classify", str(SAMPLES), "--min-confidence", "1.5")
    assert r.returncode == 2 and "--min-confidence" in r.stderr and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_evaluate_reports_calibration_coverage_and_the_picture(tmp_path, test_set):
    from PIL import Image

    x, y = test_set
    with open(tmp_path / "labels.csv", "w") as f:
        f.write("file,label\n")
        for i in range(300):
            Image.fromarray(255 - x[i]).resize((84, 84)).save(tmp_path / f"{i}.png")
            f.write(f"{i}.png,{y[i]}\n")
    r = run_cli("evaluate", str(tmp_path / "labels.csv"), "--json", "--min-confidence", "0.99",
                "-o", str(tmp_path / "report"), "--provider", "cpu")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["min_confidence"] == 0.99 and d["ok"] + d["unsure"] == d["images"] == 300
    assert d["ok_accuracy"] >= d["accuracy"] and 0 < d["coverage"] <= 1
    assert 0 <= d["calibration_error"] < 0.1
    assert list(d["accuracy_at_coverage"]) == ["1.00", "0.98", "0.95", "0.90"]
    assert d["accuracy_at_coverage"]["1.00"] == pytest.approx(d["accuracy"])
    assert (tmp_path / "report" / "risk-coverage.png").read_bytes()[:4] == b"\x89PNG"
    r = run_cli("evaluate", str(tmp_path / "labels.csv"), "--min-confidence", "0.99", "--provider", "cpu")
    assert "ok (confidence >= 0.99)" in r.stdout and "calibration error (ECE)" in r.stdout


# --- bundled models by name -------------------------------------------------------------------------------

def test_bundled_models_by_name(tmp_path, monkeypatch, clf, test_set):
    assert resolve_model("mlp") == (bundled_model_path(), "bundled mlp")
    path, source = resolve_model("cnn")
    assert path.name == BUNDLED["cnn"] and path.is_file() and path.stat().st_size <= 5 << 20
    cnn = Classifier("cnn", provider="cpu")
    assert cnn.info.card["config"]["arch"] == "cnn"
    x, y = test_set
    assert (cnn.predict(x[:500]).argmax(1) == y[:500]).mean() >= 0.98
    monkeypatch.chdir(tmp_path)  # a file called `cnn` here is a path, and wins over the name
    (tmp_path / "cnn").write_bytes(b"not a model")
    assert resolve_model("cnn") == (Path("cnn"), "given")
    r = run_cli("classify", str(SAMPLES / "7_mnist.png"), "--model", "cnn", "-f", "csv", cwd=ROOT)
    assert r.returncode == 0 and r.stdout.splitlines()[1].split(",")[1] == "7", r.stderr


def test_digit_material_only_for_digits_decided_by_content():
    from conftest import DATA

    from mnist_onnx_export.data import load_mnist, looks_like_digits

    data = load_mnist(DATA)
    digits, why = looks_like_digits(data)
    assert digits and "reads 9" in why  # the 5k subset is MNIST's digits: it counts as MNIST
    data.y_train = (data.y_train + 3) % 10  # images that are not what their labels say
    assert looks_like_digits(data)[0] is False


