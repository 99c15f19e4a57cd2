"""The package ships py.typed: its annotations must hold (mypy, configured in pyproject.toml)."""

import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.dev]


def test_mypy_is_clean():
    p = subprocess.run([sys.executable, "-m", "mypy"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-1000:]
