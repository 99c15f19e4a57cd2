"""`--resume`: a run killed at any moment (kill -9 included) and resumed gives every file exactly once, with
no torn row, for classify and read, CSV, JSON Lines and Parquet."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import NUMBERS, ROOT, run_cli, save_png



def _rows_after_resume_check(path: Path, fmt: str) -> list[str]:
    """The complete rows of a killed run's output (its torn last row, if any, left out)."""
    data = path.read_bytes()
    return _parse(data[: data.rfind(b"\n") + 1].decode("utf-8", "surrogateescape"), fmt)


def _parse(text: str, fmt: str) -> list[str]:
    if fmt == "jsonl":
        return [json.loads(line)["path"] for line in text.splitlines()]
    return [row["path"] for row in csv.DictReader(io.StringIO(text))]


def _rows(path: Path, fmt: str) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    if fmt == "jsonl":
        return [json.loads(line)["path"] for line in text.splitlines()]
    return [row["path"] for row in csv.DictReader(io.StringIO(text))]


def _kill_when(args: list[str], out: Path, ready) -> bool:
    """Start a resumed run into *out* and kill -9 it as soon as *ready()* holds: mid-run. False if it
    finished first."""
    exe = Path(sys.executable).with_name("mnist-onnx")
    proc = subprocess.Popen([str(exe), *args, "-o", str(out), "--resume"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    return False


def _start_and_kill(args: list[str], out: Path, grow: int) -> bool:
    """Killed once the output has grown by *grow* bytes: wherever the buffered writer happens to be (in the
    middle of a row, often)."""
    start = out.stat().st_size if out.exists() else 0
    return _kill_when(args, out, lambda: out.exists() and out.stat().st_size >= start + grow)


@pytest.mark.slow
@pytest.mark.parametrize("command,fmt", [("classify", "csv"), ("read", "jsonl")])
def test_killed_at_any_moment_then_resumed_every_file_exactly_once(command, fmt, tmp_path, test_set):
    folder = tmp_path / "in"
    folder.mkdir()
    if command == "classify":
        x, _ = test_set
        for i in range(4000):
            save_png(folder / f"{i:05d}.png", x[i % len(x)])
    else:
        numbers = sorted(NUMBERS.glob("*.png"))
        for k in range(-(-1080 // len(numbers))):  # ~1,000 files, from the whole set or the samples in tests/data
            for f in numbers:
                os.link(f, folder / f"{k}_{f.name}")
    expected = sorted(str(p) for p in folder.iterdir())
    out = tmp_path / f"rows.{fmt}"
    args = [command, str(folder), "-f", fmt, "-p", "cpu"]
    for grow in (30_000, 20_000):  # killed twice, mid-run
        assert _start_and_kill(args, out, grow), "the run finished before it could be killed"
    assert 0 < len(_rows_after_resume_check(out, fmt)) < len(expected)
    r = run_cli(*args, "-o", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    got = _rows(out, fmt)
    assert sorted(got) == expected  # every file once: nothing lost, nothing twice
    assert out.read_bytes().endswith(b"\n")
    assert "rows were there already" in r.stderr


def _kill_at_parts(args: list[str], out: Path, parts: int) -> bool:
    """A Parquet run killed once its journal holds *parts* finished parts (busy with the next: rows made and
    not yet written are lost, and redone)."""
    journal = out.with_name(f".{out.name}.parts")
    return _kill_when(args, out, lambda: journal.is_dir() and len(list(journal.glob("part-*.parquet"))) >= parts)


@pytest.mark.slow
@pytest.mark.parquet
def test_parquet_killed_then_resumed_every_file_exactly_once(tmp_path, test_set):
    """Parquet cannot be appended to: --resume journals row groups beside the output (`_parquet`). Killed
    twice mid-run, then resumed: every file once, typed columns, the journal gone, and the rows those of an
    uninterrupted run."""
    import pyarrow.parquet as pq

    folder = tmp_path / "in"
    folder.mkdir()
    x, _ = test_set
    for i in range(3000):
        save_png(folder / f"0_{i:05d}.png", x[i])
        for k in range(1, 5):
            os.link(folder / f"0_{i:05d}.png", folder / f"{k}_{i:05d}.png")
    out = tmp_path / "rows.parquet"
    args = ["classify", str(folder), "-p", "cpu"]
    assert _kill_at_parts(args, out, 1) and not out.exists()
    assert _kill_at_parts(args, out, 2), "the run finished before it could be killed"
    journal = out.with_name(".rows.parquet.parts")
    assert len(list(journal.glob("part-*.parquet"))) >= 2
    r = run_cli(*args, "-o", str(out), "--resume")
    assert r.returncode == 0, r.stderr
    assert "rows were there already" in r.stderr and not journal.exists()
    got = pq.read_table(out)
    assert sorted(got.column("path").to_pylist()) == sorted(str(p) for p in folder.iterdir())
    whole = tmp_path / "whole.csv"
    assert run_cli(*args, "-o", str(whole)).returncode == 0
    expected = {row["path"]: int(row["digit"]) for row in csv.DictReader(io.StringIO(whole.read_text()))}
    assert dict(zip(got.column("path").to_pylist(), got.column("digit").to_pylist())) == expected
    again = run_cli(*args, "-o", str(out), "--resume")  # finished: nothing to do, the output as it was
    assert again.returncode == 0 and f"{len(expected):,} rows were there already" in again.stderr
    assert pq.read_table(out).num_rows == len(expected)


@pytest.mark.slow
@pytest.mark.parquet
def test_parquet_resume_merges_a_journal_and_drops_what_the_output_holds(tmp_path):
    """What a kill leaves at each moment: a torn part (.tmp), parts merged into the output but not yet
    removed (killed between the rename and the removal). Neither counts twice; another output's columns
    are refused, nothing touched."""
    import pyarrow.parquet as pq

    out = tmp_path / "rows.parquet"
    args = ["classify", str(ROOT / "samples"), "-o", str(out), "--resume", "-p", "cpu"]
    journal = tmp_path / ".rows.parquet.parts"
    journal.mkdir()
    (journal / "part-000000007.parquet.tmp").write_bytes(b"PAR1 torn")
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert pq.read_table(out).num_rows == 12 and not journal.exists()
    assert pq.ParquetFile(out).metadata.metadata[b"mnist_onnx.parts"] == b"1"
    journal.mkdir()  # the merge renamed into place, then killed before the journal went
    import shutil
    shutil.copy(out, journal / "part-000000001.parquet")
    r = run_cli(*args)
    assert r.returncode == 0 and "12 rows were there already" in r.stderr and not journal.exists()
    assert pq.read_table(out).num_rows == 12
    read_out = tmp_path / "numbers.parquet"
    shutil.copy(out, read_out)
    r = run_cli("read", str(NUMBERS / "0002.png"), "-o", str(read_out), "--resume", "-p", "cpu")
    assert r.returncode == 2 and "cannot resume into it" in r.stderr and r.stderr.count("\n") == 1
    assert read_out.read_bytes() == out.read_bytes()


@pytest.mark.slow
def test_resume_checks_its_output(tmp_path):
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    r = run_cli("classify", str(ROOT / "samples"), "-o", str(tmp_path / "other.csv"), "--resume", "-p", "cpu")
    assert r.returncode == 2 and "cannot resume into it" in r.stderr and r.stderr.count("\n") == 1
    assert (tmp_path / "other.csv").read_text() == "a,b\n1,2\n"  # never truncated
    r = run_cli("classify", str(ROOT / "samples"), "--resume", "-p", "cpu")
    assert r.returncode == 2 and "--resume needs --output" in r.stderr
    r = run_cli("classify", str(ROOT / "samples"), "-o", str(tmp_path / "t.txt"), "-f", "table", "--resume")
    assert r.returncode == 2 and "csv, jsonl and parquet" in r.stderr
    done = tmp_path / "done.csv"
    first = run_cli("classify", str(ROOT / "samples"), "-o", str(done), "--resume", "-p", "cpu")
    again = run_cli("classify", str(ROOT / "samples"), "-o", str(done), "--resume", "-p", "cpu")
    assert first.returncode == again.returncode == 0 and "12 rows were there already" in again.stderr
    assert len(_rows(done, "csv")) == 12
    torn = done.read_bytes()[:-7]  # a row cut mid-way, as a kill leaves it
    done.write_bytes(torn)
    r = run_cli("classify", str(ROOT / "samples"), "-o", str(done), "--resume", "-p", "cpu")
    assert r.returncode == 0 and sorted(_rows(done, "csv")) == sorted(str(p) for p in (ROOT / "samples").glob("*.png"))


@pytest.mark.slow
@pytest.mark.parquet
def test_parquet_rows_are_the_csv_rows_typed_and_written_in_row_groups(tmp_path, test_set):
    """`-o rows.parquet`: the CSV's rows with typed columns (digit a nullable integer), a row group per 4,096
    rows (memory flat), nothing left under the name when the run fails."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "in"
    folder.mkdir()
    x, _ = test_set
    for i in range(5000):
        save_png(folder / f"{i:05d}.png", x[i])
    (folder / "zz_empty.png").write_bytes(b"")
    csv_out, pq_out = tmp_path / "rows.csv", tmp_path / "rows.parquet"
    assert run_cli("classify", str(folder), "-o", str(csv_out), "-p", "cpu").returncode == 1
    r = run_cli("classify", str(folder), "-o", str(pq_out), "-p", "cpu")
    assert r.returncode == 1, r.stderr
    table = pq.read_table(pq_out)
    assert table.schema.field("digit").type == pa.int8() and table.schema.field("confidence").type == pa.float64()
    assert pq.ParquetFile(pq_out).metadata.num_row_groups == 2  # 5,001 rows: 4,096 + 905
    rows = list(csv.DictReader(io.StringIO(csv_out.read_text())))
    got = table.to_pylist()
    assert [g["path"] for g in got] == [row["path"] for row in rows]
    assert [g["digit"] for g in got] == [int(row["digit"]) if row["digit"] else None for row in rows]
    assert got[-1]["status"] == "error" and got[-1]["digit"] is None and got[-1]["error"] == "empty file (0 bytes)"
    numbers = tmp_path / "numbers.parquet"
    assert run_cli("read", str(NUMBERS / "0002.png"), str(NUMBERS / "0037.png"), "-o", str(numbers), "-p", "cpu").returncode == 0
    read = pq.read_table(numbers).to_pylist()
    assert read[0]["number"] == "9733" and len(read[0]["digits"]) == 4 and read[1]["number"].startswith("0")
    bad = tmp_path / "never.parquet"
    r = run_cli("classify", str(folder), "-o", str(bad), "--model", str(tmp_path / "missing.onnx"))
    assert r.returncode == 2 and not bad.exists() and not list(tmp_path.glob(".never*"))
    r = run_cli("classify", str(folder), "-f", "parquet")
    assert r.returncode == 2 and "add -o rows.parquet" in r.stderr
