"""What `pip install .` ships: every runtime module, the bundled model and the page (an editable install,
as the tests use, would hide a package missing from pyproject.toml)."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.slow]


def test_wheel_holds_every_module_the_model_and_the_page(tmp_path):
    # build from a clean copy: a stale build/ folder beside the sources would hide a missing package
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", "build", "*.egg-info", ".git", "__pycache__",
                                                             ".pytest_cache", ".mypy_cache", "out", "docs"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    (wheel,) = tmp_path.glob("mnist_onnx-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(f.relative_to(ROOT)) for f in (ROOT / "mnist_onnx").rglob("*.py")}
    expected |= {f"mnist_onnx_export/{f.name}" for f in (ROOT / "export").glob("*.py")}
    expected |= {"mnist_onnx/models/default.onnx", "mnist_onnx/models/reader.onnx", "mnist_onnx/static/index.html", "mnist_onnx/py.typed",
                 "mnist_onnx_export/font_digits.npz", "mnist_onnx_export/NOTICE-fonts.md"}
    assert expected <= names, sorted(expected - names)
    metadata = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "License-Expression: MIT" in text and "Requires-Dist: rich" in text
