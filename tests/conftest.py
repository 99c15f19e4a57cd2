"""Shared fixtures. Tests use the real MNIST files in ../shared/mnist-5k (or $MNIST_ONNX_TEST_DATA)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = ROOT / "tests" / "data"  # small real samples with their licences (tests/data/README.md)
CI = bool(os.environ.get("CI"))  # CI has ../shared and Chromium: there every test must run, none may skip
sys.path.insert(0, str(ROOT))  # for benchmarks.styles


class lazy:
    """An optional package (an extra's: onnx, requests, ray, ...) imported on first use, not when the test
    module is collected: `pytest -m "not export and not serve ..."` runs on a runtime-only install, while a
    test that uses a missing package fails (it is never skipped)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str):
        import importlib

        module = importlib.import_module(self._name)
        try:
            return getattr(module, attr)
        except AttributeError:  # a submodule not imported yet (ray.data)
            return importlib.import_module(f"{self._name}.{attr}")


def _data(env: str, name: str) -> Path:
    return Path(os.environ.get(env, SHARED / name))


THIRD_PARTY = _data("MNIST_ONNX_THIRD_PARTY_MODEL", "models/third-party-cnn.onnx")
FULL = _data("MNIST_ONNX_FULL_DATA", "mnist-full")
REALWORLD_ALL = _data("MNIST_ONNX_REALWORLD", "realworld-dev")
NUMBERS_ALL = _data("MNIST_ONNX_NUMBERS", "numbers-dev")
# the whole sets where they are, else the small samples shipped in tests/data
REALWORLD = REALWORLD_ALL if (REALWORLD_ALL / "labels.csv").is_file() else SAMPLES / "realworld-dev"
NUMBERS = NUMBERS_ALL if (NUMBERS_ALL / "labels.csv").is_file() else SAMPLES / "numbers-dev"


def needs(path: Path, what: str, env: str) -> Path:
    """*path*, or the test is skipped with one line saying what to set -- except on CI, where it fails."""
    if path.exists():
        return path
    message = f"needs {what} (not found at {path}; set {env})"
    if CI:
        pytest.fail(message + ": CI must run every test")
    pytest.skip(message)


def _mnist() -> tuple[Path | None, str]:
    """The MNIST folder the tests use: $MNIST_ONNX_TEST_DATA, else ../shared/mnist-5k, else -- a contributor's
    clone without ../shared -- MNIST fetched by the project's own downloader into the user cache, with a
    5,000-digit training subset (500 of each digit) made from it beside the official test set."""
    given = os.environ.get("MNIST_ONNX_TEST_DATA")
    folder = Path(given) if given else SHARED / "mnist-5k"
    if (folder / "t10k-images-idx3-ubyte.gz").is_file():
        return folder, ""
    if given or CI:
        return None, f"MNIST test data not found in {folder}; set MNIST_ONNX_TEST_DATA to the mnist-5k folder"
    from mnist_onnx._paths import user_cache_dir

    made = user_cache_dir() / "test-data" / "mnist-5k"
    if (made / ".complete").is_file():
        return made, ""
    try:
        from mnist_onnx._idx import load_split
        from mnist_onnx_export.data import download_mnist

        full = download_mnist()
        x, y = load_split(full, "train")
    except Exception as e:  # noqa: BLE001 -- no export extra, no network: say so once
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, (f"no ../shared/mnist-5k and MNIST could not be downloaded ({first[:160]}); set "
                      "MNIST_ONNX_TEST_DATA to an MNIST IDX folder")
    import gzip
    import shutil

    made.mkdir(parents=True, exist_ok=True)
    keep = np.concatenate([np.flatnonzero(y == d)[:500] for d in range(10)])
    for kind, array, magic in (("images", x[keep], 0x0803), ("labels", y[keep], 0x0801)):
        header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
        with gzip.open(made / f"train-{kind}-idx{array.ndim}-ubyte.gz", "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copyfile(full / name, made / name)
    (made / ".complete").touch()
    return made, ""


_found, _missing = _mnist()
if _found is None and CI:
    raise pytest.UsageError(_missing)
DATA = _found if _found is not None else SHARED / "mnist-5k"


def pytest_collection_modifyitems(config, items):
    """Without any MNIST (no ../shared, no network, no export extra) nothing here can run: one line says so."""
    if _found is None:
        skip = pytest.mark.skip(reason=_missing)
        for item in items:
            item.add_marker(skip)


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
    """Real (non-MNIST) handwritten digits: the 2,200 of ../shared/realworld-dev, else the 80 in tests/data."""
    return REALWORLD


@pytest.fixture(scope="session")
def realworld_dev_all() -> Path:
    """All of ../shared/realworld-dev, for tests that measure on the whole set."""
    return needs(REALWORLD_ALL / "labels.csv", "the 2,200 digits of ../shared/realworld-dev", "MNIST_ONNX_REALWORLD").parent


@pytest.fixture(scope="session")
def numbers_dev_all() -> Path:
    """All 360 numbers of ../shared/numbers-dev, for tests that measure on the whole set."""
    return needs(NUMBERS_ALL / "labels.csv", "the 360 numbers of ../shared/numbers-dev", "MNIST_ONNX_NUMBERS").parent


@pytest.fixture(scope="session")
def third_party() -> Path:
    """The third-party ONNX model of ../shared/models (not redistributable here: no licence stated)."""
    return needs(THIRD_PARTY, "the third-party model of ../shared/models", "MNIST_ONNX_THIRD_PARTY_MODEL")


@pytest.fixture(scope="session")
def mnist_full() -> Path:
    """The complete MNIST of ../shared/mnist-full."""
    return needs(FULL / "train-images-idx3-ubyte.gz", "the full MNIST of ../shared/mnist-full", "MNIST_ONNX_FULL_DATA").parent


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


def digit_folder(folder: Path, images: np.ndarray, n: int) -> Path:
    """*folder* with *n* PNGs of MNIST digits (cycling through *images*), named 00000.png, 00001.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save_png(folder / f"{i:05d}.png", images[i % len(images)])
    return folder


def csv_rows(text: str) -> list[dict]:
    import csv
    import io

    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture
def digits(tmp_path, test_set):
    """Three MNIST digits as PNGs, 0.png to 2.png."""
    x, _ = test_set
    d = tmp_path / "digits"
    d.mkdir()
    for i in range(3):
        save_png(d / f"{i}.png", x[i])
    return d
