"""The progress bar (#19): on a terminal, the count, the total once the files are counted, the rate and the
time left; nothing of it when stderr is not a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from PIL import Image

from conftest import run_cli


def _folder(tmp_path: Path, test_set, n: int) -> Path:
    x, _ = test_set
    d = tmp_path / "digits"
    d.mkdir()
    for i in range(n):
        Image.fromarray(x[i]).save(d / f"{i:04d}.png")
    return d


@pytest.mark.slow
def test_a_terminal_gets_a_bar_with_total_rate_and_time_left(tmp_path, test_set):
    folder = _folder(tmp_path, test_set, 700)
    rc, text = _on_a_terminal(["classify", str(folder), "--batch-size", "16", "-o", str(tmp_path / "rows.csv"),
                               "--provider", "cpu"], subprocess.DEVNULL)
    assert rc == 0
    assert "of 700 images" in text and "img/s" in text and "left" in text, text[-2000:]
    assert "700 images: 700 classified" in text
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == 701


def test_piped_stderr_gets_only_the_summary(tmp_path, test_set):
    folder = _folder(tmp_path, test_set, 300)
    r = run_cli("classify", str(folder), "--batch-size", "16", "-o", str(tmp_path / "rows.csv"), "--provider", "cpu")
    assert r.returncode == 0 and r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert "left" not in r.stderr and r.stderr.startswith("300 images: 300 classified")


def _on_a_terminal(args: list[str], stdout, program: list[str] | None = None) -> tuple[int, str]:
    """Run the command (*program*: another command line than `mnist-onnx`) with stderr on a terminal (as from
    an interactive shell) and stdout where the test says; return the exit code and what the terminal showed."""
    exe = [str(Path(sys.executable).with_name("mnist-onnx"))] if program is None else program
    controller, terminal = pty.openpty()
    proc = subprocess.Popen([*exe, *args], stdin=subprocess.DEVNULL, stdout=stdout, stderr=terminal,
                            env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    return proc.wait(timeout=120), seen.decode("utf-8", "replace")


@pytest.mark.slow
def test_rows_go_to_redirected_stdout_when_stderr_is_a_terminal(tmp_path, test_set):
    """#29: `mnist-onnx classify dir > out.csv` from an interactive shell: every row in the file, none on the
    terminal (the bar's console used to swallow stdout)."""
    folder = _folder(tmp_path, test_set, 300)
    out = tmp_path / "out.csv"
    with open(out, "wb") as f:
        rc, shown = _on_a_terminal(["classify", str(folder), "--provider", "cpu"], f)
    assert rc == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("path,") and len(lines) == 301
    assert "0000.png," not in shown


@pytest.mark.slow
def test_read_rows_go_to_a_pipe_when_stderr_is_a_terminal(tmp_path, test_set):
    folder = _folder(tmp_path, test_set, 40)
    r, w = os.pipe()
    rc, shown = _on_a_terminal(["read", str(folder), "-f", "jsonl"], w)
    os.close(w)
    with os.fdopen(r) as f:
        lines = f.read().splitlines()
    assert rc == 0 and len(lines) == 40 and all(line.startswith('{"path"') for line in lines)
    assert '"path"' not in shown


@pytest.mark.slow
def test_a_folder_is_walked_once_for_the_bar_and_the_run(tmp_path, test_set):
    """#30: on a terminal the bar's total and the run come from one walk of the folder (`_files.Listing`),
    not a second walk beside the run; the rows are every file's, in order, and --resume's skip still holds."""
    folder = _folder(tmp_path, test_set, 300)
    out, log = tmp_path / "rows.csv", tmp_path / "walks.txt"
    code = (
        "import atexit, sys\n"
        "import mnist_onnx._files as F\n"
        "calls = []\n"
        "walk = F._walk\n"
        "def counted(folder, *a, **k):\n"
        "    calls.append(folder)\n"
        "    yield from walk(folder, *a, **k)\n"
        "F._walk = counted\n"
        f"atexit.register(lambda: open({str(log)!r}, 'w').write(str(calls.count({str(folder)!r}))))\n"
        "from mnist_onnx.cli import app\n"
        f"sys.argv = ['mnist-onnx', 'classify', {str(folder)!r}, '-o', {str(out)!r}, '--provider', 'cpu', '--resume']\n"
        "app()\n")
    first = (tmp_path / "first.csv")
    r = run_cli("classify", str(folder), "--provider", "cpu", "-o", str(first))
    assert r.returncode == 0
    out.write_text("".join(first.read_text().splitlines(keepends=True)[:101]))  # 100 rows done already
    rc, text = _on_a_terminal([], subprocess.DEVNULL, program=[sys.executable, "-c", code])
    assert rc == 0, text[-2000:]
    assert "of 200 images" in text and "200 images: 200 classified" in text, text[-2000:]
    assert log.read_text() == "1"  # 0.7.0 and before: 2 (one walk for the bar's total, one for the run)
    assert out.read_text() == first.read_text()
