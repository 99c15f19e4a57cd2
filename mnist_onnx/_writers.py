"""The output formats, one writer each, registered by name and suffix (`WRITERS`, `choose_format`): CSV,
JSON Lines and the aligned table here, Parquet in `_parquet` (the `parquet` extra). A writer takes any task's
rows through the task's `Schema`, writes each row as soon as it is known, and has its resume reader beside it
(`done`: the files an output already holds, a torn last row cut off) where the format can be resumed.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from ._schema import Schema
from .errors import OutputError, UsageError, about

if TYPE_CHECKING:  # the resume readers' helpers (and hashlib) load only when a run resumes
    from ._resume import Done, Lines


class Writer:
    """A format. *header*: False when appending to an output that has one (`--resume`). `done(path,
    schema)`: the resume reader, where the format can be resumed (`resumable`)."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()
    resumable: ClassVar[bool] = False

    @classmethod
    def done(cls, path: Path, schema: Schema) -> Done:
        """The files an output of this format already holds (`--resume`)."""
        raise about(UsageError(f"resume: {cls.name} output cannot be resumed"), "resume")

    def __init__(self, stream: TextIO, schema: Schema, header: bool = True) -> None:
        self.stream, self.schema = stream, schema

    def write(self, r: Any) -> None:
        raise NotImplementedError


def _read_csv(path: Path, schema: Schema) -> Done:
    from ._resume import path_key

    header = schema.columns

    def keys(lines: Lines) -> list[int]:
        out: list[int] = []
        reader = csv.reader(lines)
        first = next(reader, None)
        if not lines.complete:
            return out
        if first != header:
            raise OutputError(f"{path}: its columns are {first}, not {header}; cannot resume into it")
        lines.keep()
        for row in reader:
            if not lines.complete:
                break
            if not row:
                raise OutputError(f"{path}: an empty line; cannot resume into it")
            out.append(path_key(row[0]))
            lines.keep()
        return out

    try:
        return _resumed(path, keys)
    except csv.Error as e:
        raise OutputError(f"{path}: not a CSV of ours ({e}); cannot resume into it") from None


def _read_jsonl(path: Path, schema: Schema) -> Done:
    from ._resume import path_key

    columns = set(schema.columns)

    def keys(lines: Lines) -> list[int]:
        out: list[int] = []
        for n, line in enumerate(lines, start=1):
            if not lines.complete:
                break
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                row = None
            # ours: an object with exactly our columns (another tool's rows, or `read` rows resumed by
            # `classify`, are not), its path a string
            if not (isinstance(row, dict) and set(row) == columns and isinstance(row["path"], str)):
                raise OutputError(f"{path}: line {n} is not a row of ours; cannot resume into it")
            out.append(path_key(row["path"]))
            lines.keep()
        return out

    return _resumed(path, keys)


def _resumed(path: Path, keys: Callable[[Lines], list[int]]) -> Done:
    """The files *path* holds, by *keys* (a format's reader over its lines, marking each complete row with
    `lines.keep()`); a torn last row is cut off (the file is truncated after the last complete row, and to
    nothing when even a CSV header is torn). An output that is not one of ours is an OutputError: it is never
    truncated."""
    from ._resume import Done, Lines
    if not path.exists() or path.stat().st_size == 0:
        return Done(())
    try:
        with open(path, "rb") as f:
            lines = Lines(f)
            found = keys(lines)
    except OutputError:
        raise  # already one line (an OutputError is an OSError too: not wrapped again)
    except OSError as e:
        raise OutputError(f"{path}: cannot read ({e.strerror or e})") from None
    if lines.kept < path.stat().st_size:  # a torn last row (the run was killed while writing it)
        os.truncate(path, lines.kept)
    return Done(found)


class CsvWriter(Writer):
    name, suffixes, resumable = "csv", (".csv",), True

    @classmethod
    def done(cls, path: Path, schema: Schema) -> Done:
        return _read_csv(path, schema)

    def __init__(self, stream: TextIO, schema: Schema, header: bool = True) -> None:
        super().__init__(stream, schema)
        self._csv = csv.writer(stream, lineterminator="\n")
        # csv quotes a field with "\n" but not one with a lone "\r", which readers then split: quote all of such rows
        self._csv_all = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL)
        if header:
            self._csv.writerow(schema.columns)

    def write(self, r: Any) -> None:
        if (line := self.schema.csv_line(r)) is not None:  # the common row, formatted directly
            self.stream.write(line)
            return
        (self._csv_all if "\r" in r.path or "\r" in (r.error or "") else self._csv).writerow(self.schema.csv(r))


class JsonlWriter(Writer):
    name, suffixes, resumable = "jsonl", (".jsonl",), True

    @classmethod
    def done(cls, path: Path, schema: Schema) -> Done:
        return _read_jsonl(path, schema)

    def write(self, r: Any) -> None:
        self.stream.write(json.dumps(self.schema.json(r)) + "\n")


class TableWriter(Writer):
    """Aligned columns for a person at a terminal (control characters in names escaped)."""

    name = "table"

    def __init__(self, stream: TextIO, schema: Schema, header: bool = True) -> None:
        super().__init__(stream, schema)
        stream.write(schema.table_header + "\n")

    def write(self, r: Any) -> None:
        self.stream.write(self.schema.table(r) + "\n")


WRITERS: dict[str, type[Writer]] = {w.name: w for w in (TableWriter, CsvWriter, JsonlWriter)}
FILE_FORMATS = {".parquet": "parquet"}  # formats written to a path, not a stream (`_parquet.ParquetRows`)
SUFFIXES = {suffix: w.name for w in WRITERS.values() for suffix in w.suffixes} | FILE_FORMATS


def choose_format(fmt: str | None, output: str | os.PathLike | None, terminal: bool) -> str:
    """The format asked for; else from the output file's suffix (.csv, .jsonl, .parquet); else a table for a
    person at a terminal and CSV for a program or file."""
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower() if output else ""
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    return "table" if output is None and terminal else "csv"


def writer(fmt: str, stream: TextIO, schema: Schema, header: bool = True) -> Writer:
    """The writer of format *fmt* on *stream*."""
    if fmt not in WRITERS:
        raise about(UsageError(f"format {fmt!r}: choose {', '.join(WRITERS)}"), "format")
    return WRITERS[fmt](stream, schema, header=header)
