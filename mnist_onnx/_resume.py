"""Resume an interrupted run: which files an output already holds, after cutting off a torn last row.

A run with `--resume -o FILE` appends to FILE as rows complete, so a run killed at any moment (kill -9
included) leaves every finished row and at most one torn one. The next run reads FILE, truncates it after
its last complete row, skips the files it holds and appends the rest: every file exactly once.

Files are remembered as 8-byte hashes of their path in one sorted array (8 MB for a million files), never as
a set of strings. Each format's reader of an output (the rows it holds) lives beside its writer
(`_writers`, `_parquet`); this module holds what they share.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._paths import beside
from .errors import OutputError, about

RECORD = ".resume"  # beside the output: `.NAME.resume`, the run's lock and the model its rows came from


def model_digest(path: Path) -> str:
    """The SHA-256 of a model file, as `info` shows it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@contextlib.contextmanager
def claim(output: Path, task: str, model_sha256: str) -> Iterator[None]:
    """One writer per output, and one model per output (#29). `--resume` holds an exclusive lock on a small
    record beside OUTPUT (`.NAME.resume`: the task and the SHA-256 of the model that made its rows) for the
    whole run: a second run on the same output is refused with one line, and a run with another model (or
    the other task) is refused instead of mixing answers. An output without a record (written by 0.7.0, or
    without --resume) is taken as it is and the record made. Files are identified by their path as given
    (`dir`, `./dir` and `$PWD/dir` are different files to it): resume with the same paths."""
    output = Path(output)
    record = output.with_name(beside(output, RECORD))
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(record, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise OutputError(f"{record}: cannot open the resume record ({e.strerror or e})") from None
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; one run at a time is then the user's to keep
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise about(OutputError(f"{output}: another run is writing it (resume); wait for it to end, or write "
                                        "elsewhere"), "resume") from None
        with os.fdopen(os.dup(fd), "rb") as f:
            raw = f.read(4096)
        try:
            held = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            held = None  # torn or not ours: made again below
        if not isinstance(held, dict) or not isinstance(held.get("model_sha256"), str):
            held = None
        if held is not None and output.exists():
            if held.get("task") != task:
                raise OutputError(f"{output}: holds rows of `{held.get('task')}`, not `{task}`; cannot resume into it")
            if held["model_sha256"] != model_sha256:
                raise OutputError(f"{output}: its rows were made by another model (sha256 "
                                  f"{held['model_sha256'][:16]}…, this one {model_sha256[:16]}…); resume with that "
                                  "model, or write elsewhere")
        else:
            data = json.dumps({"task": task, "model_sha256": model_sha256}).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data + b"\n", 0)
            os.fsync(fd)
        yield
    finally:
        os.close(fd)  # the lock goes with it


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


class Lines:
    """Lines of a binary file as text (names that are not UTF-8 round-trip): whether the last one handed out
    ended with a newline (`complete`), and the byte offset after the last line a reader marked as a whole
    row (`keep()`, `kept`): a resume reader truncates the file there."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.offset = 0
        self.kept = 0
        self.complete = True

    def __iter__(self) -> Iterator[str]:
        for raw in self._f:
            self.offset += len(raw)
            self.complete = raw.endswith(b"\n")
            yield raw.decode("utf-8", "surrogateescape")

    def keep(self) -> None:
        self.kept = self.offset
