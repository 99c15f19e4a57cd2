"""The command line's rows, outputs and exit codes, byte for byte, against the answers stored in
tests/data/golden: the samples, the real digits and numbers of tests/data, and hostile files, through
classify and read in every output format, with workers, --top-k, --model mlp, a bad file alone and a
missing path. A refactor must leave every answer as it was; a change of answers on purpose (a retrained
model, a new rule) rewrites them with `python tests/test_golden.py --write` and shows the diff in review.

Timings in the summary line are blanked. Everything else must match byte for byte, except numbers written
with three or more decimals (confidences, pixels), which may move by up to 0.02: a Pillow or ONNX Runtime
release rounds a resize or a sum a little differently (Pillow 13 moved the hostile page's confidence
0.4372 -> 0.4442) without changing an answer. Digits, numbers, statuses, boxes, errors and exit codes stay
exact, so an answer that changes still fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOLDEN = HERE / "data" / "golden"
CLI = str(Path(sys.executable).with_name("mnist-onnx"))
_TIMING = re.compile(r"in [0-9.]+ s \([^)]*\)")
_DECIMAL = re.compile(r"(-?[0-9]+\.[0-9]{3,}(?:e-?[0-9]+)?)")
TOLERANCE = 0.02


def same_answers(got: str, want: str) -> str | None:
    """None when *got* gives *want*'s answers; else the first line that differs, both ways."""
    if got == want:
        return None
    for i, (g, w) in enumerate(zip(got.splitlines(), want.splitlines(), strict=False), 1):
        gs, ws = _DECIMAL.split(g), _DECIMAL.split(w)
        ok = len(gs) == len(ws) and all(
            a == b if k % 2 == 0 else abs(float(a) - float(b)) <= TOLERANCE for k, (a, b) in enumerate(zip(gs, ws)))
        if not ok:
            return f"line {i}:\n  got  {g[:300]}\n  want {w[:300]}"
    if len(got.splitlines()) != len(want.splitlines()):
        return f"{len(got.splitlines())} lines, stored {len(want.splitlines())}"
    return None

# name -> arguments (run in a folder holding `in/`; `OUT` is a file the command writes, read back after it)
CASES: dict[str, list[str]] = {}
for cmd in ("classify", "read"):
    CASES |= {
        f"{cmd}.csv": [cmd, "in", "-r", "-f", "csv"],
        f"{cmd}.jsonl": [cmd, "in", "-r", "-f", "jsonl"],
        f"{cmd}.table": [cmd, "in", "-r", "-f", "table"],
        f"{cmd}.workers": [cmd, "in/num", "in/rw", "-r", "-o", "OUT.csv", "--workers", "2", "--batch-size", "7"],
        f"{cmd}.one-bad": [cmd, "in/bad/empty.png", "-f", "csv"],
        f"{cmd}.missing": [cmd, "in/nothing-here", "-f", "csv"],
        f"{cmd}.hostile": [cmd, "in/bad", "in/hostile", "-f", "jsonl"],
        f"{cmd}.parquet": [cmd, "in", "-r", "-o", "OUT.parquet"],
    }
CASES |= {
    "classify.top-k": ["classify", "in/rw", "-r", "-f", "csv", "-k", "3", "--min-confidence", "0.95"],
    "read.mlp": ["read", "in/num", "-f", "csv", "--model", "mlp"],
    "read.cnn-jsonl": ["read", "in/num", "-f", "jsonl", "--model", "cnn", "--min-confidence", "0.5"],
}


def make_inputs(base: Path) -> Path:
    """The inputs, under *base*/in: samples, tests/data's real digits and numbers, bad and hostile files."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.hostile import dithered_page, many_marks

    src = base / "in"
    shutil.copytree(ROOT / "samples", src / "samples", ignore=shutil.ignore_patterns("*.py", "*.csv"))
    shutil.copytree(HERE / "data" / "realworld-dev", src / "rw", ignore=shutil.ignore_patterns("*.csv"))
    shutil.copytree(HERE / "data" / "numbers-dev", src / "num", ignore=shutil.ignore_patterns("*.csv"))
    bad = src / "bad"
    bad.mkdir()
    (bad / "empty.png").write_bytes(b"")
    (bad / "text.png").write_text("hello\n")
    (bad / "truncated.png").write_bytes((ROOT / "samples" / "4_shaded.png").read_bytes()[:300])
    Image.new("L", (1, 1), 255).save(bad / "one-pixel.png")
    Image.new("L", (64, 64), 255).save(bad / "white.png")
    hostile = src / "hostile"
    hostile.mkdir()
    many_marks(hostile / "marks.png")
    dithered_page(hostile / "page.png")
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((300, 300)) > 0.5).astype(np.uint8) * 255).save(hostile / "noise.png")
    Image.new("L", (4000, 3), 0).save(hostile / "wire.png")
    return src


def run_case(args: list[str], cwd: Path) -> str:
    """What the command gives: stdout, the file it wrote, stderr (timings blanked) and the exit code."""
    args = [a.replace("OUT", str(cwd / "out")) for a in args]
    env = {**os.environ, "MNIST_ONNX_DATA_DIR": str(cwd / ".user" / "data"),  # no model exported by the user
           "MNIST_ONNX_CACHE_DIR": str(cwd / ".user" / "cache")}
    env.pop("MNIST_ONNX_MODEL", None)
    r = subprocess.run([CLI, *args, "--provider", "cpu"], capture_output=True, text=True, cwd=cwd, env=env,
                       timeout=300)
    written = ""
    for f in sorted(cwd.glob("out*")):
        if f.suffix == ".parquet":  # its rows, typed, one JSON object a line
            import json

            import pyarrow.parquet as pq

            table = pq.read_table(f)
            text = f"{table.schema}\n" + "".join(json.dumps(row) + "\n" for row in table.to_pylist())
        else:
            text = f.read_text()
        written += f"--- {f.name}\n{text}"
        f.unlink()
    import mnist_onnx

    stderr = _TIMING.sub("in T s (R)", r.stderr).replace(str(cwd) + os.sep, "")
    stderr = stderr.replace(str(Path(mnist_onnx.__file__).parent), "<package>")
    return f"{r.stdout}{written}--- stderr\n{stderr}--- exit {r.returncode}\n"


# the HTTP API: name -> (endpoint, the folders under `in/` whose files one request sends, query)
API: dict[str, tuple[str, list[str], dict[str, str]]] = {
    "serve.classify": ("v1/classify", ["samples", "rw", "bad", "hostile"], {}),
    "serve.pixels": ("v1/classify", ["samples"], {"pixels": "true", "min_confidence": "0.99"}),
    "serve.read": ("v1/read", ["num", "bad", "hostile"], {}),
    "serve.read-0.5": ("v1/read", ["num"], {"min_confidence": "0.5"}),
}


def api_cases(cwd: Path, names: list[str]) -> dict[str, str]:
    """What `mnist-onnx serve` answers for each of *names* (one server for all), as the JSON text it sent."""
    import socket
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MNIST_ONNX_DATA_DIR": str(cwd / ".user" / "data"),
           "MNIST_ONNX_CACHE_DIR": str(cwd / ".user" / "cache")}
    env.pop("MNIST_ONNX_MODEL", None)
    proc = subprocess.Popen([CLI, "serve", "--port", str(port), "--provider", "cpu"], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the server did not come up") from None
                time.sleep(0.2)
        out = {}
        for name in names:
            endpoint, folders, query = API[name]
            files = [("files", (p.relative_to(cwd / "in").as_posix(), p.read_bytes(), "image/png"))
                     for folder in folders for p in sorted((cwd / "in" / folder).rglob("*.*"))]
            r = requests.post(url + endpoint, files=files, params=query, timeout=120)
            out[name] = f"--- {r.status_code}\n{r.text}\n"
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("golden")
    make_inputs(base)
    return base


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.parquet) if n.endswith(".parquet") else n
                                  for n in sorted(CASES)])
def test_the_command_line_answers_exactly_as_stored(name, inputs):
    want = (GOLDEN / f"{name}.txt").read_text()
    got = run_case(CASES[name], inputs)
    diff = same_answers(got, want)
    assert diff is None, f"{name}: the output differs from tests/data/golden/{name}.txt, {diff}"


@pytest.mark.slow
@pytest.mark.serve
def test_the_http_api_answers_exactly_as_stored(inputs):
    got = api_cases(inputs, sorted(API))
    for name, text in got.items():
        diff = same_answers(text, (GOLDEN / f"{name}.txt").read_text())
        assert diff is None, f"{name}: differs from tests/data/golden/{name}.txt, {diff}"


def test_confidences_may_move_a_little_but_no_answer_may_change():
    want = (GOLDEN / "read.csv.txt").read_text()
    assert same_answers(want, want) is None
    first = _DECIMAL.search(want)
    nudged = want[:first.start()] + f"{float(first.group()) + 0.01:.{len(first.group().split('.')[1])}f}" + \
        want[first.end():]
    assert nudged != want and same_answers(nudged, want) is None  # a Pillow release's rounding
    far = want[:first.start()] + f"{float(first.group()) + 0.05:.4f}" + want[first.end():]
    assert same_answers(far, want) is not None
    lines = want.splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if ",ok," in line)
    changed = lines[row].replace(",ok,", ",unsure,", 1)
    assert same_answers("".join(lines[:row] + [changed] + lines[row + 1:]), want) is not None
    digits = re.sub(r"^([^,]*),(\d)", lambda m: f"{m.group(1)},{(int(m.group(2)) + 1) % 10}", lines[row], count=1)
    assert digits != lines[row]
    assert same_answers("".join(lines[:row] + [digits] + lines[row + 1:]), want) is not None
    assert same_answers(want + "extra\n", want) is not None


def test_every_case_has_its_stored_answer():
    assert sorted(p.stem for p in GOLDEN.glob("*.txt")) == sorted([*CASES, *API])


if __name__ == "__main__":  # python tests/test_golden.py --write
    import tempfile

    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_golden.py --write   (rewrites tests/data/golden from this tree)")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for old in GOLDEN.glob("*.txt"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        make_inputs(Path(tmp))
        for name, args in sorted(CASES.items()):
            (GOLDEN / f"{name}.txt").write_text(run_case(args, Path(tmp)))
            print("wrote", name)
        for name, text in api_cases(Path(tmp), sorted(API)).items():
            (GOLDEN / f"{name}.txt").write_text(text)
            print("wrote", name)
