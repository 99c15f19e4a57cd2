"""Rows as Parquet (`-o rows.parquet`, the `parquet` extra): typed columns, written a row group at a time as
rows complete, so memory stays flat however many files; the file appears under its name only when the run
succeeds (written beside it as a `.part`, then renamed).

classify: path (string), digit (int8, null without one), confidence (float64, null), status, error (null),
and top_k (list of {digit, probability}) with --top-k. read: path, number (string: leading zeros kept),
confidence, status, error, digits (list of {digit, confidence, box: [left, top, right, bottom]}).
A file name that is not UTF-8 is written with \\xNN escapes (Parquet strings are UTF-8).

`--resume` (a Parquet file cannot be appended to, and one killed before its footer is written cannot be
read at all): rows go to a journal beside the output, `.NAME.parts/`, one small Parquet file per row group,
each written under a temporary name and renamed when whole, so a run killed at any moment (kill -9
included) keeps every part it finished. The next run reads the output and the parts for the files done,
and when it succeeds it merges output + parts, a row group at a time, into a new output (renamed into
place), then removes the journal. The merged file records the last part it holds (`mnist_onnx.parts` in its
key-value metadata), so parts left by a run killed between that rename and the removal are not counted twice.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from ._paths import beside
from ._resume import Done, path_key
from ._schema import Schema
from .errors import EngineError, OutputError, needs_extra

ROW_GROUP = 4096
PART_SECONDS = 30.0  # with --resume, rows are also written out at least this often: a kill loses no more
_MERGED = b"mnist_onnx.parts"  # metadata key: the number of the last journal part a merged output holds


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise EngineError(needs_extra("Parquet output", "parquet", "pyarrow")) from None
    return pyarrow


_ESCAPES = re.compile(r"\\\\|\\x[0-9a-fA-F]{2}")


def _text(s: str) -> str:
    """A file name as a Parquet (UTF-8) string, one to one: a name that is UTF-8 and holds nothing that reads
    as an escape is written as it is; any other has its backslashes doubled and its undecodable bytes written
    `\\xNN`. So a name that is not UTF-8 and a file literally named with its escape stay two files (#29)."""
    try:
        s.encode("utf-8")
        if "\\" not in s or not _ESCAPES.search(s):
            return s
    except UnicodeEncodeError:
        pass
    return s.replace("\\", "\\\\").encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class ParquetRows:
    """The Parquet writer (registered in `_writers.FILE_FORMATS` by its suffix): any task's rows, typed by
    its *schema* (`_schema`), used as a context manager; `done` is its resume reader."""

    name, suffixes = "parquet", (".parquet",)

    def __init__(self, path: Path, schema: Schema, resume: bool = False) -> None:
        pa = _pyarrow()
        self._pa, self.path, self.rows = pa, Path(path), schema
        self.schema = pa.schema(schema.arrow(pa))
        self._rows: list[dict[str, Any]] = []
        self._writer: Any = None
        self._file: Any = None  # pyarrow is handed open files, never path strings: a string is read as a URI
                                # (`s3://`, `file:`, `mock://`), and one that is not UTF-8 cannot be passed (#29)
        self._tmp = self.path.with_name(beside(self.path, f".{os.urandom(4).hex()}.part"))
        self.resume = resume
        self.journal = self.path.with_name(beside(self.path, ".parts"))
        self._merged = 0  # the last part the output holds
        self._next = 1  # the next part's number
        self._since = time.monotonic()

    def __enter__(self) -> ParquetRows:
        import pyarrow.parquet as pq

        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.resume:
            self._file = open(self._tmp, "wb")
            self._writer = pq.ParquetWriter(self._file, self.schema)
        return self

    # --- --resume: the journal ------------------------------------------------------------------------

    def done(self) -> Done:
        """The files the output and its journal hold (for --resume), after clearing what a killed run left:
        half-written parts, a half-written merge, parts the output already holds. An output that is not
        one of ours (other columns) is an OutputError, and nothing is touched."""
        keys: list[int] = []
        if self.path.exists():
            self._merged = self._read_keys(self.path, keys, outer=True)
        parts = []
        if self.journal.is_dir():
            for f in sorted(self.journal.iterdir()):
                number = _part_number(f)
                torn = f.name == "merging.tmp" or (f.name.endswith(".tmp") and _part_number(f.name[:-4]) is not None)
                if not (torn or number is not None) or f.is_dir() or f.is_symlink():
                    raise OutputError(f"{self.journal}: holds {f.name!r}, which is not a part of ours; cannot "
                                      "resume into it (move it away)")
                if torn or number is None or number <= self._merged:  # torn, a merge cut short, merged already
                    f.unlink()
                else:
                    parts.append((number, f))
        for number, f in parts:
            self._read_keys(f, keys)
        self._next = max([self._merged, *(n for n, _ in parts)]) + 1
        return Done(keys, name=_text)

    def _read_keys(self, f: Path, keys: list[int], outer: bool = False) -> int:
        with open(f, "rb") as fh:
            return self._keys_of(fh, f, keys, outer)

    def _keys_of(self, fh: Any, f: Path, keys: list[int], outer: bool) -> int:
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(fh)
        except Exception as e:  # noqa: BLE001 -- ArrowInvalid, OSError: not a Parquet file we can read
            raise OutputError(f"{f}: not a Parquet file of ours ({str(e).splitlines()[0][:200]}); cannot resume "
                              "into it") from None
        schema = pf.schema_arrow
        if schema.names != self.schema.names or not schema.equals(self.schema):
            raise OutputError(f"{f}: its columns are {schema.names}, not {self.schema.names}; cannot resume into it")
        for batch in pf.iter_batches(columns=["path"], batch_size=65536):
            keys.extend(path_key(p) for p in batch.column(0).to_pylist())
        meta = (pf.metadata.metadata or {}) if outer else {}
        merged = meta.get(_MERGED, b"0")
        if not merged.isdigit() or len(merged) > 12:
            raise OutputError(f"{f}: its {_MERGED.decode()} metadata is {merged[:40]!r}, not a part number; cannot "
                              "resume into it")
        return int(merged)

    def _write_part(self, table: Any) -> None:
        """One journal part, whole or not at all: written under .tmp, synced, renamed."""
        import pyarrow.parquet as pq

        self.journal.mkdir(parents=True, exist_ok=True)
        final = self.journal / f"part-{self._next:09d}.parquet"
        tmp = final.with_name(final.name + ".tmp")
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        self._next += 1
        self._since = time.monotonic()

    def _merge(self) -> None:
        """Output + parts -> a new output, a row group at a time (memory flat), renamed into place; then the
        journal goes."""
        import pyarrow.parquet as pq

        parts = sorted(f for f in self.journal.iterdir() if _part_number(f)) if self.journal.is_dir() else []
        if not parts and self.path.exists():  # nothing new: the output stands as it is
            shutil.rmtree(self.journal, ignore_errors=True)
            return
        last = max([self._merged, *(_part_number(f) or 0 for f in parts)])
        merging = self.journal / "merging.tmp"
        self.journal.mkdir(parents=True, exist_ok=True)
        schema = self.schema.with_metadata({_MERGED: str(last).encode()})
        with open(merging, "wb") as fh:
            with pq.ParquetWriter(fh, schema) as writer:
                for f in ([self.path] if self.path.exists() else []) + parts:
                    with open(f, "rb") as source:
                        pf = pq.ParquetFile(source)
                        for g in range(pf.num_row_groups):
                            writer.write_table(pf.read_row_group(g).replace_schema_metadata(schema.metadata))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(merging, self.path)
        shutil.rmtree(self.journal, ignore_errors=True)

    def write(self, r: Any) -> None:
        row = self.rows.record(r)
        row["path"] = _text(r.path)
        self._rows.append(row)
        if len(self._rows) >= ROW_GROUP:
            self.flush()

        elif self.resume and time.monotonic() - self._since >= PART_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the rows gathered so far as one row group (with --resume: one journal part)."""
        if self._rows:
            table = self._pa.Table.from_pylist(self._rows, schema=self.schema)
            if self.resume:
                self._write_part(table)
            else:
                self._writer.write_table(table)
            self._rows = []

    def finish(self) -> None:
        """The run succeeded: the last rows out, and with --resume the journal merged into the output."""
        self.flush()
        if self.resume:
            self._merge()

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        if self.resume:
            if error is not None:  # Ctrl-C, SIGTERM, a failure: the rows made so far stay in the journal
                try:
                    self.flush()
                except Exception:  # noqa: BLE001 -- the run's own error is the one to report
                    pass
            return
        try:
            if error is None:
                self.flush()
            self._writer.close()
            self._file.close()
            if error is None:
                os.replace(self._tmp, self.path)
        finally:
            if not self._file.closed:
                try:
                    self._file.close()
                except OSError:
                    pass
            if self._tmp.exists():
                self._tmp.unlink()


def _part_number(f: Path | str) -> int | None:
    """A finished journal part's number; None for anything else (a torn .tmp, a merge cut short)."""
    name = f if isinstance(f, str) else f.name
    if name.startswith("part-") and name.endswith(".parquet") and name[5:-8].isdigit():
        return int(name[5:-8])
    return None
