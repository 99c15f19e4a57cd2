"""What a new user trips on (#31): outputs that load right in pandas and polars, library conveniences, a
machine without a GPU, a CPU-only install."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, run_cli, save_png


@pytest.fixture(scope="module")
def numbers(tmp_path_factory, test_set):
    """Numbers with leading zeros, written as a user would: three MNIST digits side by side."""
    x, y = test_set
    d = tmp_path_factory.mktemp("numbers")
    by_digit = {k: [i for i in range(200) if y[i] == k] for k in range(10)}
    for n, label in enumerate(["0042", "2024", "007"]):
        strip = np.concatenate([x[by_digit[int(c)][n]] for c in label], axis=1)
        Image.fromarray(255 - strip).resize((strip.shape[1] * 3, 84)).save(d / f"{n}.png")
    out = tmp_path_factory.mktemp("rows")
    for fmt in ("csv", "jsonl", "parquet"):
        r = run_cli("read", str(d), "-o", str(out / f"numbers.{fmt}"), "-p", "cpu")
        assert r.returncode == 0, r.stderr
    return out


@pytest.mark.slow
@pytest.mark.parquet
def test_pandas_recipes_keep_numbers_as_text_and_digits_as_lists(numbers):
    import pandas as pd
    import mnist_onnx

    csv_df = pd.read_csv(numbers / "numbers.csv", dtype={"number": "string"})
    csv_df["digits"] = csv_df["digits"].map(mnist_onnx.parse_digits)
    jsonl_df = pd.read_json(numbers / "numbers.jsonl", lines=True, dtype={"number": "string"})
    parquet_df = pd.read_parquet(numbers / "numbers.parquet")
    for df in (csv_df, jsonl_df, parquet_df):
        assert list(df["number"]) == ["0042", "2024", "007"]
    for csv_digits, json_digits in zip(csv_df["digits"], jsonl_df["digits"]):
        assert [set(d) for d in csv_digits] == [{"digit", "confidence", "box"}] * len(csv_digits)
        assert [(d["digit"], d["box"]) for d in csv_digits] == [(d["digit"], d["box"]) for d in json_digits]
        assert [d["confidence"] for d in csv_digits] == pytest.approx([d["confidence"] for d in json_digits])
    assert [d["digit"] for d in parquet_df["digits"][0]] == [0, 0, 4, 2]


@pytest.mark.slow
@pytest.mark.parquet
def test_polars_recipes_keep_numbers_as_text(numbers):
    import polars as pl
    frames = [pl.read_csv(numbers / "numbers.csv", schema_overrides={"number": pl.String}),
              pl.read_ndjson(numbers / "numbers.jsonl"), pl.read_parquet(numbers / "numbers.parquet")]
    for df in frames:
        assert df["number"].to_list() == ["0042", "2024", "007"]
    assert [d["digit"] for d in frames[1]["digits"][0]] == [0, 0, 4, 2]


def test_parse_digits_reads_back_what_the_csv_wrote():
    import mnist_onnx

    assert mnist_onnx.parse_digits("4:0.990000:1,2,30,40;2:0.500000:31,2,60,40") == [
        {"digit": 4, "confidence": 0.99, "box": [1, 2, 30, 40]}, {"digit": 2, "confidence": 0.5, "box": [31, 2, 60, 40]}]
    assert mnist_onnx.parse_digits("") == mnist_onnx.parse_digits(float("nan")) == mnist_onnx.parse_digits(None) == []


# --- the library -------------------------------------------------------------------------------------------

def test_a_prediction_has_a_status_and_accuracy_at_takes_one_share(test_set):
    import mnist_onnx

    x, y = test_set
    with mnist_onnx.Classifier(provider="cpu") as clf:
        assert clf.classify(str(ROOT / "samples" / "1_paper.png")).status == "ok"
        assert clf.classify(np.zeros((28, 28), np.uint8)).status in ("no-digit", "ok", "unsure")
        assert clf.classify(x[0], min_confidence=1.0).status == "unsure"
        ev = clf.evaluate(x[:300], y[:300])
    assert ev.accuracy_at(0.95) == ev.accuracy_at((0.95,))[0.95]
    with pytest.raises(mnist_onnx.UsageError):
        ev.accuracy_at(1.5)


# --- messages ---------------------------------------------------------------------------------------------

def test_info_says_which_threshold_applies():
    from mnist_onnx import Classifier

    r = run_cli("info")
    assert r.returncode == 0
    applies = f"not applied: `unsure below` {Classifier().min_confidence:g} applies"  # the bundled model's own
    assert "unsure below (applies)" in r.stdout and applies in " ".join(r.stdout.split())


def test_read_summary_names_its_threshold(tmp_path, test_set):
    x, _ = test_set
    save_png(tmp_path / "a.png", x[0])
    r = run_cli("read", str(tmp_path), "--min-confidence", "1", "-f", "csv")
    assert r.returncode == 0 and "(1 unsure, below 1)" in r.stderr


@pytest.mark.slow
def test_help_names_every_command_in_whole_lines():
    env = {"COLUMNS": "80"}
    top = run_cli("--help", env=env).stdout
    assert "classify" in top and "read" in top and "serve" in top
    assert "whole numbers (read)" in " ".join(top.split()) and "(serve)" in top
    assert "{PATH" not in run_cli("classify", "--help", env=env).stdout
    read_help = " ".join(run_cli("read", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "PATH..." in read_help
    assert "reader (the default)" in read_help and "mlp (the default)" not in read_help  # read's own --model
    assert "mlp (the default)" in " ".join(run_cli("classify", "--help", env={"COLUMNS": "200"}).stdout.split())
    assert "risk-coverage.png" in " ".join(run_cli("evaluate", "--help", env={"COLUMNS": "200"}).stdout.split())
    wide = run_cli("export", "--help", env={"COLUMNS": "120"}).stdout
    assert "sigmoid5" in wide  # a preset name is never split across lines
    for line in top.splitlines():  # the command list: no line ends early, as a docstring's line breaks made it
        text = line.strip("│ ")
        if text and not text.startswith(("╭", "╰", "Usage", "--")):
            assert len(line.rstrip()) > 40 or text.endswith((".", ")")), line


def test_extras_are_named_one_way():
    from mnist_onnx.errors import needs_extra

    assert needs_extra("Parquet output", "parquet", "pyarrow") == (
        'Parquet output needs the parquet extra (pyarrow is missing): pip install "mnist-onnx[parquet]"')
    for path in (ROOT / "mnist_onnx").rglob("*.py"):
        text = path.read_text()
        assert "pip install 'mnist-onnx[" not in text and "the server extra" not in text, path
    import re
    import tomllib

    from mnist_onnx.cli.export import _EXPORT_EXTRA

    export = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["export"]
    assert set(_EXPORT_EXTRA) == {re.split(r"[<>=\[;]", d)[0].strip() for d in export}  # `export` checks them all


@pytest.mark.ray
@pytest.mark.slow
def test_ray_address_auto_without_a_cluster_names_our_flag():
    r = run_cli("classify", str(ROOT / "samples"), "--engine", "ray", "--ray-address", "auto", timeout=120)
    assert r.returncode == 2 and "--address" not in r.stderr.replace("--ray-address", "")
    assert "no running Ray cluster was found" in r.stderr


# --- a CPU-only install -------------------------------------------------------------------------------------

def _requirements(lines: list[str]) -> set[str]:
    return {line.split(";")[0].strip() for line in lines if line.strip() and not line.strip().startswith("#")}


def test_the_cpu_requirements_are_the_runtime_dependencies_with_plain_onnxruntime():
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    cpu = (ROOT / "requirements-cpu.txt").read_text().splitlines()
    assert _requirements(cpu) == _requirements([d for d in deps if not d.startswith(("onnxruntime-gpu", "onnxruntime>="))]
                                               ) | {"onnxruntime>=1.20"}


@pytest.mark.slow
def test_classify_works_with_plain_onnxruntime(tmp_path):
    """The README's CPU-only install, in a fresh virtual environment: the same rows as this install."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    r = subprocess.run(pip + ["-r", str(ROOT / "requirements-cpu.txt")], capture_output=True, text=True, timeout=900)
    if r.returncode != 0 and ("Could not find a version" in r.stderr or "Network" in r.stderr or "connection" in r.stderr.lower()):
        pytest.skip(f"no package index reachable to install onnxruntime: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr
    r = subprocess.run(pip + ["--no-deps", str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "freeze"],
                            capture_output=True, text=True, timeout=120).stdout
    assert "onnxruntime==" in listed and "onnxruntime-gpu" not in listed
    here = run_cli("classify", str(ROOT / "samples"), "-f", "csv", "-p", "cpu", cwd=tmp_path)
    there = subprocess.run([str(venv / "bin" / "mnist-onnx"), "classify", str(ROOT / "samples"), "-f", "csv"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert there.returncode == 0, there.stderr
    digits = lambda text: [(r["path"], r["digit"], r["status"]) for r in csv.DictReader(text.splitlines())]  # noqa: E731
    assert digits(there.stdout) == digits(here.stdout) and len(digits(here.stdout)) == 12
    assert "on CPU" in there.stderr
    # `export` without the export extra: one line naming it, whichever path would have imported it first (with
    # no --data the download's pooch came first, and `--preset reader` raised a traceback)
    for args in ([], ["--preset", "reader"], ["--preset", "cnn", "--data", str(tmp_path)], ["--data", str(tmp_path)]):
        r = subprocess.run([str(venv / "bin" / "mnist-onnx"), "export", *args], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
        assert r.returncode == 2 and r.stdout == "", (args, r.stderr)
        assert r.stderr.strip().splitlines() == [
            'error: `mnist-onnx export` needs the export extra (tensorflow is missing): pip install "mnist-onnx[export]"'
        ], (args, r.stderr)


def test_the_cheap_emptiness_check_agrees_with_the_listing(tmp_path, test_set):
    """`classify emptydir` says so before any output (#31), from `has_files`: it must agree with `iter_files`."""
    from mnist_onnx._files import has_files, iter_files

    (tmp_path / "empty").mkdir()
    (tmp_path / "deep" / "a" / "b").mkdir(parents=True)
    save_png(tmp_path / "deep" / "a" / "b" / "x.png", test_set[0][0])
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "self").symlink_to(tmp_path / "loop")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_text("x")
    (tmp_path / "text" / ".rows.csv.0123abcd.part").write_text("ours")
    cases = [([tmp_path / "empty"], None, False), ([tmp_path / "deep"], None, False), ([tmp_path / "deep"], None, True),
             ([tmp_path / "loop"], None, True), ([tmp_path / "text"], None, False), ([tmp_path / "text"], "*", False),
             ([tmp_path / "missing.png"], None, False), ([tmp_path / "deep"], "*.jpg", True)]
    for paths, pattern, recursive in cases:
        listed = next(iter(iter_files(paths, pattern, recursive)), None) is not None
        assert has_files(paths, pattern, recursive) == listed, (paths, pattern, recursive)
