"""Hostile and unlucky inputs (the hardening issue): nothing hangs, nothing is lost, one clear line each."""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, csv_rows, run_cli, save_png

CLI = str(Path(sys.executable).with_name("mnist-onnx"))


# --- outputs --------------------------------------------------------------------------------------------

def test_output_through_a_symlink_keeps_the_link(digits, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    r = run_cli("classify", str(digits), "-o", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(csv_rows(target.read_text())) == 3


def test_output_to_a_fifo_writes_through(digits, tmp_path):
    """Devices and FIFOs (`-o /dev/null`, `-o /dev/stdout`) are written to, never replaced by a file."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    r = run_cli("classify", str(digits), "-o", str(fifo), "-f", "csv")
    reader.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert fifo.is_fifo() and len(csv_rows(got[0])) == 3
    assert not list(tmp_path.glob(".out.fifo.*"))


@pytest.mark.slow
def test_non_utf8_and_carriage_return_names_round_trip(digits, tmp_path):
    raw = os.fsencode(tmp_path / "digits") + b"/caf\xe9.png"
    os.rename(digits / "0.png", raw)
    os.rename(digits / "1.png", digits / "a\rb.png")
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"out.{fmt}"
        r = run_cli("classify", str(digits), "-o", str(out))
        assert r.returncode == 0, r.stderr
        text = out.read_bytes().decode("utf-8", "surrogateescape")
        if fmt == "csv":
            paths = [row["path"] for row in csv.DictReader(io.StringIO(text, newline=""))]
        else:
            paths = [json.loads(line)["path"] for line in text.splitlines()]
        assert len(paths) == 3
        assert {os.fsencode(p) for p in paths} == {raw, os.fsencode(digits / "a\rb.png"), os.fsencode(digits / "2.png")}
    p = subprocess.run([CLI, "classify", str(digits), "-f", "csv"], capture_output=True, timeout=120)
    assert p.returncode == 0 and raw in p.stdout  # to a pipe: the same bytes come back


def test_head_closes_the_pipe_quietly(tmp_path, test_set):
    x, _ = test_set
    for i in range(300):
        save_png(tmp_path / f"{i:03d}.png", x[i])
    p = subprocess.run(f"{CLI} classify {tmp_path} -f csv --batch-size 16 | head -1", shell=True,
                       capture_output=True, text=True, timeout=120)
    assert p.stdout == "path,digit,confidence,status,error\n"
    assert "Traceback" not in p.stderr and "Broken pipe" not in p.stderr


# --- inputs that used to hang or vanish -----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_fifo_and_devices_get_a_row_not_a_hang(digits, tmp_path, workers):
    os.mkfifo(digits / "x.png")
    (digits / "zero.png").symlink_to("/dev/zero")
    r = run_cli("classify", str(digits), "-f", "csv", "--workers", workers)
    assert r.returncode == 1
    rows = {Path(row["path"]).name: row for row in csv_rows(r.stdout)}
    assert rows["x.png"]["error"] == "not a regular file (a FIFO)"
    assert rows["zero.png"]["error"] == "not a regular file (a character device)"
    assert all(rows[f"{i}.png"]["status"] in ("ok", "unsure") for i in range(3))


def test_symlink_loops_visit_each_file_once(digits):
    (digits / "loop").symlink_to(digits)
    sub = digits / "sub"
    sub.mkdir()
    save_png(sub / "s.png", np.zeros((28, 28), np.uint8) + 255)
    (sub / "up").symlink_to(digits)
    (sub / "again").symlink_to(sub)
    (digits / "alias.png").symlink_to(digits / "sub" / "s.png")
    (sub / "alias2.png").symlink_to(sub / "s.png")
    r = run_cli("classify", str(digits), "-r", "-f", "csv")
    names = [Path(row["path"]).name for row in csv_rows(r.stdout)]
    assert sorted(names).count("0.png") == 1 and len(names) == 5, names  # 0,1,2, one of the s.png links, s.png


def test_folder_past_path_max_gets_a_row(digits):
    deep = os.fsencode(digits)
    fd = os.open(deep, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 characters: well past PATH_MAX (4096)
            os.mkdir(b"d" * 250, dir_fd=fd)
            nxt = os.open(b"d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    r = run_cli("classify", str(digits), "-r", "-f", "csv")
    assert r.returncode == 1
    rows = csv_rows(r.stdout)
    assert len(rows) == 4 and rows[-1]["status"] == "error" and "too long" in rows[-1]["error"]


@pytest.mark.slow
def test_empty_folder_and_wrong_pattern_say_so(tmp_path, test_set):
    empty = tmp_path / "empty"
    empty.mkdir()
    for command in ("classify", "read"):  # one line, exit 2: no CSV header, no "0 images" summary (#31)
        r = run_cli(command, str(empty), "-f", "csv")
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr == f"error: no files with an image extension in {empty} (add -r for sub-folders)\n"
    Image.fromarray(255 - test_set[0][0]).save(tmp_path / "photo.jpg")
    r = run_cli("classify", str(tmp_path), "--pattern", "*.png")
    assert r.returncode == 2 and r.stderr.strip() == f"error: no files matching '*.png' in {tmp_path} (add -r for sub-folders)"
    r = run_cli("classify", str(tmp_path), "-f", "csv")  # photos arrive as JPEG: taken by default
    assert r.returncode == 0 and csv_rows(r.stdout)[0]["digit"] == str(test_set[1][0])


def test_eps_never_reaches_ghostscript(tmp_path):
    eps = tmp_path / "evil.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n")
    r = run_cli("classify", str(eps), "-f", "csv")
    assert r.returncode == 1 and csv_rows(r.stdout)[0]["error"] == "not an image (unrecognised format)"


# --- memory ---------------------------------------------------------------------------------------------

def _peak_rss_mib(code: str) -> float:
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the (large) pytest parent across exec
    script = (f"{code}\nprint([int(line.split()[1]) / 1024 for line in open('/proc/self/status') "
              f"if line.startswith('VmHWM')][0])")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return float(p.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_memory_follows_file_count_not_image_size(tmp_path):
    """Large RGBA images are preprocessed one by one and reduced before any float copy."""
    folder = tmp_path / "big"
    folder.mkdir()
    rgba = np.zeros((1024, 1024, 4), np.uint8)
    rgba[300:700, 480:540] = (0, 0, 0, 255)  # a 1
    for i in range(150):
        Image.fromarray(rgba, "RGBA").save(folder / f"{i:03d}.png", compress_level=1)
    Image.fromarray(np.zeros((7000, 7000, 4), np.uint8), "RGBA").save(tmp_path / "huge.png", compress_level=1)
    run = "from mnist_onnx import Classifier\nrows = list(Classifier(provider='cpu').classify_files([{!r}], batch_size=1024))\n"
    many = run.format(str(folder)) + "assert len(rows) == 150 and all(r.digit == 1 for r in rows), rows[0]"
    assert _peak_rss_mib(many) < 300
    one = run.format(str(tmp_path / "huge.png")) + "assert rows[0].status == 'no-digit', rows[0]"
    assert _peak_rss_mib(one) < 300


@pytest.mark.slow
def test_idx_gzip_bomb_is_cut_off(tmp_path):
    from mnist_onnx._idx import read_idx
    from mnist_onnx.errors import DataError

    header = bytes([0, 0, 8, 3]) + (10_000_000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (tmp_path / "promise.gz").write_bytes(gzip.compress(header))
    with pytest.raises(DataError, match="over the 1,073,741,824-byte limit"):
        read_idx(tmp_path / "promise.gz")
    small = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big")
    bomb = tmp_path / "bomb.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        f.write(small)
        block = bytes(1 << 20)
        for _ in range(512):  # inflates to 512 MiB
            f.write(block)
    code = (f"from mnist_onnx._idx import read_idx\nfrom mnist_onnx.errors import DataError\n"
            f"try:\n    read_idx({str(bomb)!r})\nexcept DataError as e:\n    assert 'trailing' in str(e), e\n"
            f"else:\n    raise SystemExit('accepted')")
    assert _peak_rss_mib(code) < 150


# --- one clear line, exit 2, before any work ------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["--epochs", "0"], "--epochs 0: must be from 1"),
    (["--batch-size", "0"], "--batch-size 0: must be from 1"),
    (["--lr", "-1"], "--lr -1.0: must be a positive number"),
    (["--dropout", "1.5"], "--dropout 1.5: must be at least 0 and below 1"),
    (["--dropout", "1.0"], "--dropout 1.0: must be at least 0 and below 1"),
    (["--hidden", "0"], "--hidden 0: each layer width must be an integer from 1"),
    (["--patience", "-1"], "--patience -1: must be from 1"),
    (["--opset", "5"], "--opset 5: must be from 13 to 18"),
    (["--activation", "gelu"], "--activation gelu: choose relu, sigmoid, tanh"),
])
def test_export_options_checked_before_tensorflow(args, words, tmp_path):
    import time

    t0 = time.monotonic()
    r = run_cli("export", "--data", str(tmp_path), "--out", str(tmp_path / "m.onnx"), *args)
    assert r.returncode == 2 and r.stderr == f"error: {r.stderr[7:]}" and r.stderr.count("\n") == 1
    assert words in r.stderr, r.stderr
    assert time.monotonic() - t0 < 8  # no TensorFlow import, no data read, no training
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow
@pytest.mark.parametrize("args, words", [
    (["--max-pixels", "0"], "--max-pixels 0: must be a pixel count from 1"),
    (["--workers", "1000"], "--workers 1000: must be a process count from 1 to"),
    (["--top-k", "11"], "--top-k 11: must be a count from 0 to 10"),
    (["--batch-size", "0"], "--batch-size 0: must be a count from 1"),
    (["--std", "nan"], "--std nan: must be a positive number"),
    (["--std", "-1"], "--std -1.0: must be a positive number"),
    (["--mean", "inf"], "--mean inf: must be a number"),
])
def test_classify_options_checked_up_front(args, words):
    r = run_cli("classify", "samples", *args)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and words in r.stderr, r.stderr


def _model_with_metadata(path, meta):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    w = helper.make_tensor("w", TensorProto.FLOAT, [784, 10], np.zeros(7840, np.float32))
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("meta", [
    {"preprocessing": '{"std": NaN}'},
    {"preprocessing": '{"std": -1}'},
    {"preprocessing": "[1, 2, 3]"},
    {"preprocessing": '{"mean": "zero"}'},
    {"preprocessing": "[" * 100_000 + "]" * 100_000},
    {"labels": '"0123456789"'},
])
@pytest.mark.export
def test_hostile_model_metadata_is_one_line(meta, tmp_path):
    model = _model_with_metadata(tmp_path / "m.onnx", meta)
    r = run_cli("classify", "samples", "-m", str(model), "-p", "cpu")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {model}: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr


# --- worker processes: killed, terminated, interrupted; a library script without a __main__ guard ---------

def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def many(tmp_path_factory, test_set):
    x, _ = test_set
    d = tmp_path_factory.mktemp("many")
    for i in range(3000):
        Image.fromarray(255 - x[i % 500]).resize((64, 64)).save(d / f"{i:05d}.png", compress_level=1)
    return d


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([CLI, "classify", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_workers(proc: subprocess.Popen, n: int = 2) -> list[int]:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = [k for k in _children(proc.pid) if _alive(k)]
        if len(kids) >= n:
            time.sleep(0.5)  # let them get to work
            return kids
        time.sleep(0.05)
    raise AssertionError("workers did not start")


@pytest.mark.slow
def test_killed_worker_costs_its_chunk_not_the_run(many, tmp_path):
    import signal as sig

    out = tmp_path / "rows.csv"
    proc = _start([str(many), "--workers", "2", "--batch-size", "50", "-o", str(out), "-p", "cpu"])
    victim = _wait_for_workers(proc)[0]
    os.kill(victim, sig.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    rows = csv_rows(out.read_text())
    assert len(rows) == 3000 and len({r["path"] for r in rows}) == 3000  # none lost, none doubled
    died = [r for r in rows if r["status"] == "error"]
    assert 0 < len(died) <= 100 and all("decoding worker died (killed by SIGKILL)" in r["error"] for r in died)
    assert sum(r["status"] in ("ok", "unsure") for r in rows) >= 2900


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_terminated_run_leaves_no_part_file_and_no_worker(many, tmp_path, signame):
    import signal as sig
    import time

    out = tmp_path / "rows.csv"
    proc = _start([str(many), "--workers", "2", "--batch-size", "20", "-o", str(out), "-p", "cpu"])
    kids = _wait_for_workers(proc)
    proc.send_signal(getattr(sig, signame))
    proc.communicate(timeout=30)
    assert proc.returncode != 0
    time.sleep(0.5)
    assert not any(_alive(k) for k in kids), "orphaned worker"
    assert not out.exists() and not list(tmp_path.glob(".rows.csv*"))


@pytest.mark.slow
def test_library_workers_in_a_script_without_main_guard(tmp_path, digits):
    """The README's snippet, saved as a plain script: workers must not re-run it."""
    script = tmp_path / "plain.py"
    script.write_text(
        "import mnist_onnx\n"
        "print('script ran')\n"
        "clf = mnist_onnx.Classifier(provider='cpu')\n"
        f"for r in clf.classify_files({str(digits)!r}, recursive=True, workers=2):\n"
        "    print(r.path, r.digit, r.confidence, r.error)\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("script ran") == 1 and p.stdout.count(".png") == 3


# --- tracebacks that became one line --------------------------------------------------------------------

@pytest.mark.slow
def test_thin_strip_image_and_show_onto_a_file(tmp_path):
    strip = np.full((4, 6000), 255, np.uint8)
    strip[:, 2000:2100] = 0
    Image.fromarray(strip).save(tmp_path / "strip.png")
    r = run_cli("classify", str(tmp_path / "strip.png"), "-f", "csv")
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(csv_rows(r.stdout)) == 1
    assert csv_rows(r.stdout)[0]["status"] == "no-digit"  # 4 px high: no digit to see
    (tmp_path / "taken").write_text("a file")
    r = run_cli("show", "samples/0_mnist.png", "--output", str(tmp_path / "taken"))
    assert r.returncode == 2 and "exists and is not a folder" in r.stderr and r.stderr.count("\n") == 1


def test_report_into_an_unwritable_place(tmp_path):
    (tmp_path / "file").write_text("x")
    r = run_cli("evaluate", "samples/labels.csv", "--output", str(tmp_path / "file" / "report"))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


def test_output_past_the_file_size_limit(digits, tmp_path):
    """`ulimit -f`: the write fails (EFBIG), the command says so in one line and leaves no half file."""
    out = tmp_path / "rows.csv"
    p = subprocess.run(f"ulimit -f 0; {CLI} classify {digits} -o {out}", shell=True, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "cannot write (File too large)" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists() and not list(tmp_path.glob(".rows.csv*"))


@pytest.mark.export
def test_model_output_shape_contradicting_its_declaration(tmp_path):
    """Declares [N, 10], returns [N, 5] (the slice end is only known at run time)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    nodes = [helper.make_node("ReduceMin", ["x"], ["m"], keepdims=0),
             helper.make_node("Cast", ["m"], ["mi"], to=TensorProto.INT64),
             helper.make_node("Add", ["mi", "five"], ["end"]),
             helper.make_node("Slice", ["x", "zero", "end", "one"], ["y"])]
    init = [helper.make_tensor("five", TensorProto.INT64, [1], [5]), helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
            helper.make_tensor("one", TensorProto.INT64, [1], [1])]
    model = helper.make_model(helper.make_graph(nodes, "liar", [x], [y], init), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "liar.onnx")
    r = run_cli("classify", "samples", "-m", str(tmp_path / "liar.onnx"), "-p", "cpu")
    assert r.returncode == 2 and "returned shape [" in r.stderr and "expected [N, 10]" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.slow
def test_labels_csv_with_a_folder_row_or_duplicates(tmp_path):
    import shutil

    shutil.copy(ROOT / "samples" / "0_mnist.png", tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "folder.csv").write_text("file,label\na.png,0\nsub,3\n")
    r = run_cli("evaluate", str(tmp_path / "folder.csv"))
    assert r.returncode == 2 and "line 3: 'sub' is a folder" in r.stderr
    (tmp_path / "dupes.csv").write_text("file,label\na.png,0\n./a.png,5\n")
    r = run_cli("evaluate", str(tmp_path / "dupes.csv"))
    assert r.returncode == 2 and "line 3: './a.png' is already listed on line 2" in r.stderr


def test_directory_given_as_model(tmp_path):
    r = run_cli("classify", "samples", "-m", str(tmp_path))
    assert r.returncode == 2 and "is a folder, not a model file" in r.stderr


# --- the command line as the ecosystem expects ----------------------------------------------------------

@pytest.mark.slow
def test_version_help_and_bare_command():
    from mnist_onnx import __version__

    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"mnist-onnx {__version__}"
    bare = run_cli()
    assert "Usage: mnist-onnx" in bare.stdout + bare.stderr and "classify" in bare.stdout + bare.stderr
    for command in ("export", "classify", "evaluate", "show", "info", "serve"):
        h = run_cli(command, "--help", env={"COLUMNS": "200"})
        assert h.returncode == 0 and "<bool>" not in h.stdout and "list[" not in h.stdout, command
        if command in ("export", "classify", "evaluate", "show"):
            assert "--output" in h.stdout, command  # one spelling for where results go


def test_piped_tables_are_not_wrapped(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 6)
    deep.mkdir()
    model = deep / "model.onnx"
    model.write_bytes((ROOT / "mnist_onnx" / "models" / "default.onnx").read_bytes())
    r = run_cli("info", str(model), env={"COLUMNS": "80"})
    assert r.returncode == 0 and any(str(model) in line for line in r.stdout.splitlines())


def test_symlink_loop_file_is_named_as_such(tmp_path):
    (tmp_path / "self.png").symlink_to(tmp_path / "self.png")
    r = run_cli("classify", str(tmp_path / "self.png"), "-f", "csv")
    assert r.returncode == 1 and csv_rows(r.stdout)[0]["error"] == "unreadable (too many levels of symbolic links)"


@pytest.mark.export
def test_nan_scores_are_an_error_row_never_ok(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    nodes = [helper.make_node("Slice", ["x", "zero", "ten", "one"], ["s"]),
             helper.make_node("Neg", ["s"], ["n"]), helper.make_node("Log", ["n"], ["y"])]  # log of <= 0: NaN, -inf
    init = [helper.make_tensor("zero", TensorProto.INT64, [1], [0]), helper.make_tensor("ten", TensorProto.INT64, [1], [10]),
            helper.make_tensor("one", TensorProto.INT64, [1], [1])]
    model = helper.make_model(helper.make_graph(nodes, "nan", [x], [y], init), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "nan.onnx")
    r = run_cli("classify", "samples", "-m", str(tmp_path / "nan.onnx"), "-p", "cpu", "-f", "csv")
    rows = csv_rows(r.stdout)
    assert r.returncode == 1 and len(rows) == 12
    assert all(row["status"] == "error" and row["error"] == "model returned NaN or infinite scores" for row in rows)


@pytest.mark.slow
def test_a_thousand_folders_deep_is_walked_not_recursed(tmp_path):
    """~1,000 nested levels (under PATH_MAX): every file gets its row, in the usual order; no RecursionError."""
    deep = tmp_path / "top"
    deep.mkdir()
    save_png(deep / "a_first.png", np.zeros((28, 28), np.uint8))
    levels = [str(deep)]
    for _ in range(1000):  # os.makedirs and shutil.rmtree recurse: made and removed one level at a time
        levels.append(os.path.join(levels[-1], "d"))
        os.mkdir(levels[-1])
    save_png(Path(levels[-1]) / "bottom.png", np.zeros((28, 28), np.uint8))
    save_png(deep / "z_last.png", np.zeros((28, 28), np.uint8))
    try:
        r = run_cli("classify", str(deep), "-r", "-f", "csv", "-p", "cpu")
        assert "Traceback" not in r.stderr and r.returncode == 1, r.stderr  # blank images: no digit
        names = [Path(row["path"]).name for row in csv_rows(r.stdout)]
        assert names == ["a_first.png", "z_last.png", "bottom.png"]
    finally:
        os.unlink(Path(levels[-1]) / "bottom.png")
        for level in reversed(levels[1:]):
            os.rmdir(level)


@pytest.mark.slow
def test_table_output_escapes_what_a_terminal_would_obey(tmp_path, test_set):
    """A file name can carry escape sequences: the table (the terminal's format) shows them as \\xNN, CSV and
    JSON Lines keep the name exactly."""
    name = "a\x1b]0;owned\x07\x1b[2Jb.png"
    save_png(tmp_path / name, test_set[0][0])
    for command in ("classify", "read"):
        table = run_cli(command, str(tmp_path), "-f", "table", "-p", "cpu")
        assert table.returncode == 0 and "\x1b" not in table.stdout and "\x07" not in table.stdout
        assert "a\\x1b]0;owned\\x07\\x1b[2Jb.png" in table.stdout
        csv_out = run_cli(command, str(tmp_path), "-f", "csv", "-p", "cpu")
        assert Path(csv_rows(csv_out.stdout)[0]["path"]).name == name


@pytest.mark.slow
def test_output_dash_is_stdout_and_a_failed_run_leaves_no_new_folders(tmp_path):
    r = run_cli("classify", str(ROOT / "samples" / "0_mnist.png"), "-o", "-", "-p", "cpu", cwd=tmp_path)
    assert r.returncode == 0 and csv_rows(r.stdout)[0]["digit"] == "0" and not (tmp_path / "-").exists()
    target = tmp_path / "new" / "deeper" / "rows.csv"
    r = run_cli("classify", str(ROOT / "samples"), "-o", str(target), "--model", str(tmp_path / "missing.onnx"))
    assert r.returncode == 2 and not (tmp_path / "new").exists()  # the run failed: no folder left behind
    r = run_cli("classify", str(ROOT / "samples"), "-o", str(target), "-p", "cpu")
    assert r.returncode == 0 and len(csv_rows(target.read_text())) == 12


@pytest.mark.slow
def test_odd_inputs_are_one_line_or_a_row(tmp_path, test_set):
    """#20's tracebacks on odd input: a superscript label, a CSV field over 128 KiB, a BOM without a header,
    /dev/zero as a model, a 0x0 PIL image; float TIFFs in 0..1 and with a few NaN pixels are read."""
    from mnist_onnx import Classifier, ImageError

    x, y = test_set
    save_png(tmp_path / "a.png", x[0])
    (tmp_path / "sup.csv").write_text("file,label\na.png,\u00b2\n", encoding="utf-8")
    (tmp_path / "huge.csv").write_text("file,label\n" + "a" * 200_000 + ".png,7\n")
    (tmp_path / "bom.csv").write_text("\ufeffa.png,%d\n" % y[0], encoding="utf-8")
    for name, words in (("sup.csv", "expected 'file,label' with a label 0-9"), ("huge.csv", "cannot read")):
        r = run_cli("evaluate", str(tmp_path / name), "-p", "cpu")
        assert r.returncode == 2 and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
    r = run_cli("evaluate", str(tmp_path / "bom.csv"), "-p", "cpu", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["accuracy"] == 1.0, r.stderr
    r = run_cli("info", "/dev/zero")
    assert r.returncode == 2 and "not a regular file" in r.stderr and r.stderr.count("\n") == 1
    clf = Classifier(provider="cpu")
    with pytest.raises(ImageError, match="image has no pixels"):
        clf.classify(Image.new("L", (0, 0)))
    digit = x[0].astype(np.float32) / 255  # white ink on black, 0..1
    Image.fromarray(digit, mode="F").save(tmp_path / "unit.tif")
    holes = np.asarray(Image.fromarray(digit, mode="F").resize((112, 112)), dtype=np.float32).copy()
    holes[:3, :3] = np.nan
    Image.fromarray(holes, mode="F").save(tmp_path / "nan.tif")
    for name in ("unit.tif", "nan.tif"):
        assert clf.classify(str(tmp_path / name)).digit == y[0], name


@pytest.mark.slow
def test_a_long_thin_strip_costs_what_its_header_says_not_what_it_claims(tmp_path):
    """A 76 KiB PNG of 1 x 40,000,000 pixels took 46-50 s and ~900 MB: now an error row from the header
    (here 1 x 200,000 and 200,000 x 1, same rule); a merely long image (600 x 60,000) is reduced per axis."""
    tall = np.full((200_000, 1), 255, np.uint8)
    tall[1000:1100] = 0
    Image.fromarray(tall).save(tmp_path / "tall.png")
    Image.fromarray(np.ascontiguousarray(tall.T)).save(tmp_path / "wide.png")
    long = np.full((600, 60_000), 255, np.uint8)
    long[100:500, 30_000:30_300] = 0
    Image.fromarray(long).save(tmp_path / "long.png")
    t0 = time.perf_counter()
    r = run_cli("classify", str(tmp_path), "-f", "csv", "-p", "cpu")
    rows = {Path(row["path"]).name: row for row in csv_rows(r.stdout)}
    assert r.returncode == 1 and time.perf_counter() - t0 < 20
    for name in ("tall.png", "wide.png"):
        assert rows[name]["status"] == "error" and rows[name]["error"].startswith("extreme shape ("), rows[name]
    assert rows["long.png"]["status"] in ("ok", "unsure", "no-digit")  # decoded and reduced, not refused


@pytest.mark.slow
def test_one_classifier_shared_by_threads_with_different_worker_counts(tmp_path, test_set):
    """Two threads, workers=2 and workers=3, on one Classifier: every row right, no pool closed under
    another thread, and no worker process left after close()."""
    from mnist_onnx import Classifier

    x, y = test_set
    for i in range(120):
        save_png(tmp_path / f"{i:03d}.png", x[i])
    before = _my_children()
    clf = Classifier(provider="cpu")
    results: dict[int, list] = {}

    def run(workers: int) -> None:
        results[workers] = list(clf.classify_files(tmp_path, workers=workers, batch_size=16))

    threads = [threading.Thread(target=run, args=(w,)) for w in (2, 3, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for workers in (2, 3):
        rows = results[workers]
        assert [r.error for r in rows] == [None] * 120, {r.error for r in rows}
        assert [r.digit for r in rows] == [int(v) for v in y[:120]] or np.mean([r.digit == v for r, v in zip(rows, y)]) > 0.97
    clf.close()
    time.sleep(0.5)
    assert _my_children() - before == set()


def _my_children() -> set[str]:
    return {p for p in os.listdir("/proc") if p.isdigit() and _parent(p) == os.getpid()}


def _parent(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


@pytest.mark.slow
def test_workers_share_a_folder_smaller_than_one_chunk(tmp_path, test_set):
    """300 photos fit in one 1,024-file chunk: the chunk is split across the workers (classify and read), and
    the rows are the one-process rows."""
    from mnist_onnx import Classifier

    x, _ = test_set
    for i in range(40):
        save_png(tmp_path / f"{i:02d}.png", 255 - np.kron(x[i], np.ones((4, 4), np.uint8)))
    clf = Classifier(provider="cpu")
    one = [(r.path, r.digit, r.error) for r in clf.classify_files(tmp_path, batch_size=1024)]
    one_read = [(r.path, r.number) for r in clf.read_files(tmp_path, batch_size=1024)]
    list(clf.classify_files(tmp_path, workers=2, batch_size=1024))  # starts the pool
    pool = clf._decoders
    sizes: list[tuple[str, int]] = []
    submit = pool.submit

    def spy(items, config, job="decode"):
        sizes.append((job, len(items)))
        return submit(items, config, job)

    pool.submit = spy
    two = [(r.path, r.digit, r.error) for r in clf.classify_files(tmp_path, workers=2, batch_size=1024)]
    two_read = [(r.path, r.number) for r in clf.read_files(tmp_path, workers=2, batch_size=1024)]
    clf.close()
    assert two == one and two_read == one_read
    assert sizes == [("decode", 20), ("decode", 20), ("plan", 20), ("plan", 20)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["16-bit PNG", "1-bit PNG", "CMYK JPEG"])
def test_a_huge_image_of_any_mode_stays_under_300_mb(kind, tmp_path):
    """7000x7000 16-bit, 1-bit and CMYK images peaked at 361-553 MB (converted to float at full size): now
    reduced a strip at a time (16-bit, 1-bit) or decoded smaller (JPEG), with the same pixels."""
    if kind == "16-bit PNG":
        a = np.full((7000, 7000), 60000, np.uint16)
        a[3000:4000, 3400:3600] = 1000
        image = Image.fromarray(a)
    elif kind == "1-bit PNG":
        image = Image.new("1", (7000, 7000), 1)
        image.paste(0, (3400, 3000, 3600, 4000))
    else:
        image = Image.new("CMYK", (7000, 7000), (0, 0, 0, 0))
        image.paste((0, 0, 0, 255), (3400, 3000, 3600, 4000))
    path = tmp_path / ("big.jpg" if "JPEG" in kind else "big.png")
    image.save(path)
    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(p.stdout.splitlines()[-1], resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    exe = str(Path(sys.executable).with_name("mnist-onnx"))
    out = subprocess.run([sys.executable, "-c", wrapper, exe, "classify", str(path), "-f", "csv", "-p", "cpu"],
                         capture_output=True, text=True, timeout=120).stdout.split()
    row, peak_mib = out[0], int(out[1]) / 1024
    assert row.split(",")[1] == "1" and peak_mib < 300, (row, peak_mib)


@pytest.mark.slow
def test_output_onto_an_input_is_refused_and_our_temporary_files_are_never_inputs(tmp_path):
    """`classify d -o d/7_mnist.png` overwrote the image with CSV; with --pattern '*' and -o inside the
    folder, the run classified its own .part file. Both refused up front; .part files are never listed."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "7_mnist.png").write_bytes((ROOT / "samples" / "7_mnist.png").read_bytes())
    for args in (("-o", str(d / "7_mnist.png")), ("--pattern", "*", "-o", str(d / "rows.csv"))):
        r = run_cli("classify", str(d), *args)
        assert r.returncode == 2 and "its own output" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert (d / "7_mnist.png").read_bytes() == (ROOT / "samples" / "7_mnist.png").read_bytes()
    r = run_cli("read", str(d / "7_mnist.png"), "-o", str(d / "7_mnist.png"))
    assert r.returncode == 2 and "is one of the inputs" in r.stderr
    (d / ".rows.csv.0123abcd.part").write_text("path,digit\n")
    r = run_cli("classify", str(d), "--pattern", "*", "-f", "csv", "-p", "cpu")
    assert [Path(row["path"]).name for row in csv_rows(r.stdout)] == ["7_mnist.png"]


def test_a_full_disk_on_stdout_does_not_claim_nothing_was_kept():
    with open("/dev/full", "w") as full:
        r = subprocess.run([str(Path(sys.executable).with_name("mnist-onnx")), "classify", str(ROOT / "samples"),
                            "-f", "csv", "-p", "cpu"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 2 and "standard output: cannot write" in r.stderr and "nothing was kept" not in r.stderr
