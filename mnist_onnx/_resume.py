"""Resume an interrupted run: which files an output already holds, after cutting off a torn last row.

A run with `--resume -o FILE` appends to FILE as rows complete, so a run killed at any moment (kill -9
included) leaves every finished row and at most one torn one. The next run reads FILE, truncates it after
its last complete row, skips the files it holds and appends the rest: every file exactly once.

Files are remembered as 8-byte hashes of their path in one sorted array (8 MB for a million files), never as
a set of strings.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import OutputError


def path_key(path: str) -> int:
    """A file's identity in an output: the first 8 bytes of the BLAKE2b hash of its path."""
    data = path.encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class Done:
    """The files an output already holds. *name*: how the output spells a file's path (Parquet's strings
    are UTF-8, so a name that is not is written with escapes); a path is looked up by that spelling."""

    def __init__(self, keys: Iterable[int], name: Callable[[str], str] | None = None) -> None:
        self._keys = np.unique(np.fromiter(keys, dtype=np.uint64))
        self._name = name

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, path: object) -> bool:
        if not len(self._keys):
            return False
        name = str(path)
        key = np.uint64(path_key(self._name(name) if self._name is not None else name))
        at = int(np.searchsorted(self._keys, key))
        return at < len(self._keys) and self._keys[at] == key

    def skip(self, paths: Iterable[str]) -> Iterator[str]:
        return (p for p in paths if p not in self)


class _Lines:
    """Lines of a binary file as text (names that are not UTF-8 round-trip), with the byte offset after
    the last one handed out and whether it ended with a newline."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.offset = 0
        self.complete = True

    def __iter__(self) -> Iterator[str]:
        for raw in self._f:
            self.offset += len(raw)
            self.complete = raw.endswith(b"\n")
            yield raw.decode("utf-8", "surrogateescape")


def read_done(path: Path, fmt: str, header: list[str]) -> Done:
    """The files *path* holds, a CSV with *header* or JSON Lines; a torn last row is cut off (the file is
    truncated after the last complete row, and to nothing when even the CSV header is torn). An output that
    is not one of ours is an OutputError: it is never truncated."""
    if not path.exists() or path.stat().st_size == 0:
        return Done(())
    keys: list[int] = []
    end = 0
    try:
        with open(path, "rb") as f:
            lines = _Lines(f)
            if fmt == "jsonl":
                for n, line in enumerate(lines, start=1):
                    if not lines.complete:
                        break
                    try:
                        keys.append(path_key(json.loads(line)["path"]))
                    except (ValueError, KeyError, TypeError):
                        raise OutputError(f"{path}: line {n} is not a row of ours; cannot resume into it") from None
                    end = lines.offset
            else:
                reader = csv.reader(lines)
                first = next(reader, None)
                if lines.complete:
                    if first != header:
                        raise OutputError(f"{path}: its columns are {first}, not {header}; cannot resume into it")
                    end = lines.offset
                    for row in reader:
                        if not lines.complete:
                            break
                        if not row:
                            raise OutputError(f"{path}: an empty line; cannot resume into it")
                        keys.append(path_key(row[0]))
                        end = lines.offset
    except csv.Error as e:
        raise OutputError(f"{path}: not a CSV of ours ({e}); cannot resume into it") from None
    except OSError as e:
        raise OutputError(f"{path}: cannot read ({e.strerror or e})") from None
    if end < path.stat().st_size:  # a torn last row (the run was killed while writing it)
        os.truncate(path, end)
    return Done(keys)
