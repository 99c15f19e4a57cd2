"""`mnist-onnx classify` through the installed console script, as a user runs it."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from conftest import ROOT, run_cli, save_png


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.slow
def test_samples_all_right():
    r = run_cli("classify", "samples/")
    assert r.returncode == 0, r.stderr
    truth = {row["file"]: row["label"] for row in csv.DictReader(open(ROOT / "samples" / "labels.csv"))}
    got = {row["path"].split("/")[-1]: row["digit"] for row in rows(r.stdout)}
    assert got == truth and len(got) >= 12
    assert "12 images: 12 classified, 0 failed" in r.stderr and "on CPU" in r.stderr


@pytest.mark.slow
def test_third_party_model_reads_the_samples(third_party):
    r = run_cli("classify", "samples/", "--model", str(third_party), "--mean", "0.1307", "--std", "0.3081", "-p", "cpu")
    assert r.returncode == 0, r.stderr
    assert all(row["path"].split("/")[-1][0] == row["digit"] for row in rows(r.stdout))


@pytest.fixture
def mixed(tmp_path, test_set):
    """A folder of good digits and every kind of broken file."""
    x, y = test_set
    d = tmp_path / "mixed"
    (d / "sub").mkdir(parents=True)
    for i in range(6):
        save_png(d / f"good_{i}.png", x[i])
    save_png(d / "sub" / "deep.png", 255 - x[6])
    (d / "empty.png").write_bytes(b"")
    (d / "text.png").write_text("definitely not a PNG")
    good = (d / "good_0.png").read_bytes()
    (d / "truncated.png").write_bytes(good[: len(good) // 2])
    Image.new("L", (3000, 3000), 255).save(d / "huge.png")
    (d / "notes.txt").write_text("ignored: does not match *.png")
    return d, y


@pytest.mark.slow
def test_mixed_folder_one_row_per_file(mixed):
    d, y = mixed
    r = run_cli("classify", str(d), "--max-pixels", "1000000")
    assert r.returncode == 1
    out = {row["path"].split("/")[-1]: row for row in rows(r.stdout)}
    assert sorted(out) == sorted(["empty.png", "good_0.png", "good_1.png", "good_2.png", "good_3.png", "good_4.png",
                                  "good_5.png", "huge.png", "text.png", "truncated.png"])
    assert out["empty.png"]["error"] == "empty file (0 bytes)"
    assert out["text.png"]["error"].startswith("not an image")
    assert out["truncated.png"]["error"].startswith("truncated or corrupt")
    assert out["huge.png"]["error"].startswith("too many pixels (3000x3000")
    for i in range(6):
        assert out[f"good_{i}.png"]["digit"] == str(y[i]) and out[f"good_{i}.png"]["status"] in ("ok", "unsure")
    assert "10 images: 6 classified, 4 failed" in r.stderr and "img/s" in r.stderr


@pytest.mark.slow
def test_recursive_pattern_and_deterministic_order(mixed):
    d, y = mixed
    r1 = run_cli("classify", str(d), "-r", "--pattern", "good_*.PNG", "-f", "csv")
    r2 = run_cli("classify", str(d), "-r", "--pattern", "*.png", "--workers", "2", "--batch-size", "3")
    names1 = [row["path"] for row in rows(r1.stdout)]
    assert names1 == sorted(names1) and len(names1) == 6 and r1.returncode == 0
    assert [row["path"].split("/")[-1] for row in rows(r2.stdout)][-1] == "deep.png"  # sub-folders after files
    deep = rows(r2.stdout)[-1]
    assert deep["digit"] == str(y[6])


@pytest.mark.slow
def test_workers_give_identical_rows(mixed):
    d, _ = mixed
    one = run_cli("classify", str(d), "-r", "--batch-size", "2", "-f", "jsonl")
    two = run_cli("classify", str(d), "-r", "--batch-size", "2", "-f", "jsonl", "--workers", "2")
    assert one.stdout == two.stdout and one.returncode == two.returncode == 1


@pytest.mark.slow
def test_output_file_formats_and_top_k(mixed, tmp_path):
    d, y = mixed
    out = tmp_path / "res.jsonl"
    r = run_cli("classify", str(d), "--output", str(out), "--top-k", "3")
    assert r.returncode == 1 and r.stdout == ""
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 10 and {"path", "digit", "confidence", "status", "error", "top_k"} <= set(lines[0])
    good = [obj for obj in lines if obj["status"] in ("ok", "unsure")][0]
    assert len(good["top_k"]) == 3 and good["top_k"][0]["digit"] == good["digit"]
    assert not list(tmp_path.glob(".res.jsonl.*"))  # no temporary file left behind
    t = run_cli("classify", str(d / "good_0.png"), "-f", "table", "-k", "2")
    assert t.stdout.splitlines()[0].split()[:3] == ["digit", "conf", "status"] and f"    {y[0]}  " in t.stdout


def test_output_is_atomic_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous complete results\n")
    r = run_cli("classify", "samples/", "--output", str(target), "--model", str(tmp_path / "missing.onnx"))
    assert r.returncode == 2 and target.read_text() == "previous complete results\n"


@pytest.mark.slow
def test_usage_and_model_errors_exit_2(tmp_path):
    r = run_cli("classify", "samples/", "--model", str(tmp_path / "missing.onnx"))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {tmp_path / 'missing.onnx'}: model file not found"
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    r = run_cli("classify", "samples/", "--model", str(tmp_path / "bad.onnx"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a loadable ONNX model" in r.stderr
    r = run_cli("classify", "samples/", "--provider", "tpu")
    assert r.returncode == 2


@pytest.mark.slow
@pytest.mark.gpu
def test_provider_cuda_without_gpu_is_one_honest_line():
    from mnist_onnx._model import cuda_problem

    if cuda_problem() is None:
        pytest.skip("CUDA works on this machine")
    r = run_cli("classify", "samples/", "--provider", "cuda")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: provider cuda cannot run here:")
    from mnist_onnx._model import gpu_present

    if not gpu_present():  # #31: no GPU, so no advice to download CUDA wheels that cannot help
        assert "no NVIDIA GPU or driver was found" in r.stderr and "mnist-onnx[cuda]" not in r.stderr
    else:
        assert "an NVIDIA GPU is here" in r.stderr and "mnist-onnx[cuda]" in r.stderr
    auto = run_cli("classify", "samples/")
    assert "[E:onnxruntime" not in auto.stderr and "Failed to load" not in auto.stderr


def test_missing_input_is_a_usage_error(tmp_path):
    """A typo in an argument stops before any work (exit 2, one line); a file that vanishes later gets a row."""
    r = run_cli("classify", str(tmp_path / "nope.png"), "samples/0_mnist.png")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == f"error: {tmp_path / 'nope.png'}: no such file or folder"


def test_python_dash_m_and_exported_model_is_found(tmp_path, monkeypatch):
    """A model at the export's default place is found (a copy of the bundled one serves: nothing to train)."""
    import subprocess
    import sys

    from mnist_onnx._model import bundled_model_path

    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(bundled_model_path(), data / "model.onnx")
    env = {"MNIST_ONNX_DATA_DIR": str(data)}
    import os

    r = subprocess.run([sys.executable, "-m", "mnist_onnx", "classify", "samples/0_mnist.png", "-f", "jsonl"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["digit"] == 0
    assert f"model {data / 'model.onnx'} (exported)" in r.stderr


def test_auto_keeps_a_few_named_files_on_cpu(tmp_path):
    """A one-file `classify` must not pay for a CUDA context: a few named files run on CPU under `auto`."""
    from mnist_onnx.cli._run import SMALL_JOB, small_job

    samples = sorted(str(p) for p in (ROOT / "samples").glob("*.png"))
    assert small_job(samples[:1]) and small_job(samples[:SMALL_JOB])
    assert not small_job([str(ROOT / "samples")])  # a folder may hold millions
    extra = [str(tmp_path / f"{i}.png") for i in range(SMALL_JOB + 1)]
    for f in extra:
        Path(f).write_bytes((ROOT / "samples" / "0_mnist.png").read_bytes())
    assert not small_job(extra)
