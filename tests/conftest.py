"""Shared fixtures. Tests use the real MNIST files in ../shared/mnist-5k (or $MNIST_ONNX_TEST_DATA)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("MNIST_ONNX_TEST_DATA", ROOT.parent / "shared" / "mnist-5k"))
THIRD_PARTY = Path(os.environ.get("MNIST_ONNX_THIRD_PARTY_MODEL", ROOT.parent / "shared" / "models" / "third-party-cnn.onnx"))
REALWORLD = Path(os.environ.get("MNIST_ONNX_REALWORLD", ROOT.parent / "shared" / "realworld-dev"))
sys.path.insert(0, str(ROOT))  # for benchmarks.styles

if not (DATA / "t10k-images-idx3-ubyte.gz").is_file():
    raise pytest.UsageError(f"MNIST test data not found in {DATA}; set MNIST_ONNX_TEST_DATA to the mnist-5k folder")


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Never read or write the real user's data/cache folders, and ignore a model set in the environment."""
    base = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("MNIST_ONNX_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("MNIST_ONNX_CACHE_DIR", str(base / "cache"))
    monkeypatch.delenv("MNIST_ONNX_MODEL", raising=False)
    monkeypatch.delenv("MNIST_ONNX_MIRRORS", raising=False)


@pytest.fixture(scope="session")
def realworld_dev() -> Path:
    """The 2,200 real (non-MNIST) handwritten digits in ../shared/realworld-dev."""
    if not (REALWORLD / "labels.csv").is_file():
        raise pytest.UsageError(f"real-world digits not found in {REALWORLD}; set MNIST_ONNX_REALWORLD")
    return REALWORLD


@pytest.fixture(scope="session")
def test_set():
    from mnist_onnx._idx import load_split

    return load_split(DATA, "test")


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """One real (short) training + export on the 5k subset, shared by the export tests."""
    from mnist_onnx_export import export_model

    out = tmp_path_factory.mktemp("export") / "model.onnx"
    lines: list[str] = []
    result = export_model(DATA, out, epochs=8, patience=8, seed=1, log=lines.append)
    result.log = lines
    return result


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed console script, as a user would (killed, failing the test, past *timeout*)."""
    exe = Path(sys.executable).with_name("mnist-onnx")
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


def save_png(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image

    im = Image.fromarray(array)
    (im.convert(mode) if mode else im).save(path)
    return path
