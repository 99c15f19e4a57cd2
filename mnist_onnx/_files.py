"""Find the input files: explicit files as given, folders walked in sorted order, lazily."""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from ._formats import EXTENSIONS


def iter_files(inputs: Iterable[str | Path], pattern: str | None = None, recursive: bool = False) -> Iterator[str]:
    """Yield every matching file once, deterministically: per folder, files sorted by name, then subfolders.

    *pattern* is matched case-insensitively against file names (`*.png` also finds `SCAN.PNG`); None means
    any of the image formats we read (PNG, JPEG, GIF, BMP, TIFF, WebP, PNM). Explicit file arguments are
    yielded whatever their name; a missing one is yielded too, so it gets its error row, and so is a folder
    that cannot be listed (unreadable, path too long): its row says why, nothing vanishes silently. Each
    folder is visited once even through symbolic-link loops, and a file reached through several links once.
    Folders are read one at a time, so memory does not grow with the size of the tree.
    """
    match = _matcher(pattern)
    seen_dirs: set[tuple[int, int]] = set()
    seen_links: set[tuple[int, int]] = set()
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            yield from _walk(item, match, recursive, seen_dirs, seen_links)
        else:
            yield item


def has_files(inputs: Iterable[str | Path], pattern: str | None = None, recursive: bool = False) -> bool:
    """Whether `iter_files` would yield anything, found cheaply: a file named outright, an unlistable
    folder (it gets a row) or the first matching name met in a folder -- no sorting, no full listing."""
    match = _matcher(pattern)
    seen: set[tuple[int, int]] = set()
    stack = [os.fspath(item) for item in inputs]
    while stack:
        item = stack.pop()
        try:
            st = os.stat(item)
        except OSError:
            return True  # missing or unreadable: its row says so
        if not stat.S_ISDIR(st.st_mode):
            return True
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            for entry, is_dir in _scan(item, match):
                if not is_dir:
                    return True
                if recursive:
                    stack.append(entry.path)
        except OSError:
            return True
    return False


def matches(name: str, pattern: str | None = None) -> bool:
    """Whether a folder walk with *pattern* would list a file called *name*."""
    return bool(_matcher(pattern)(name)) and not _OURS.match(name)


# Our own files beside an output (`atomic_write`'s `.NAME.XXXXXXXX.part`, `check_writable`'s probes, the
# `--resume` record `.NAME.resume`): never inputs.
_OURS = re.compile(r"\..+\.([0-9a-f]{8}\.part|[^.]+\.probe|resume)\Z", re.DOTALL)


def _matcher(pattern: str | None) -> Callable[[str], object]:
    if pattern is None:
        return re.compile(r".*\.(" + "|".join(EXTENSIONS) + r")\Z", re.IGNORECASE | re.DOTALL).match
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE).match  # compiled once, not per file


def _walk(top: str, match: Callable[[str], object], recursive: bool, seen_dirs: set, seen_links: set
          ) -> Iterator[str]:
    """Depth first, files before sub-folders, without recursion: a tree a thousand folders deep (still
    under PATH_MAX) is walked like any other. The stack holds the sub-folders still to visit."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            yield folder  # its row will say what is wrong
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:  # a symbolic-link loop, or the same folder reached twice
            continue
        seen_dirs.add(key)
        listing = _sorted_listing(folder, match)
        if listing is None:
            yield folder
            continue
        names, subdirs, links = listing
        for name in names:
            path = os.path.join(folder, os.fsdecode(name.tobytes().rstrip(b"\0")))
            if name.tobytes().rstrip(b"\0") in links:
                with contextlib.suppress(OSError):
                    target = os.stat(path)
                    if (target.st_dev, target.st_ino) in seen_links:
                        continue
                    seen_links.add((target.st_dev, target.st_ino))
            yield path
        del names
        if recursive:
            stack.extend(os.path.join(folder, name) for name in reversed(subdirs))


def _scan(folder: str, match: Callable[[str], object]) -> Iterator[tuple[os.DirEntry, bool]]:
    """A folder's sub-folders and matching files (never our own temporary files), in the order the system
    lists them, as (entry, is it a folder). OSError if the folder cannot be listed."""
    with os.scandir(folder) as it:
        for entry in it:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                yield entry, True
            elif match(entry.name) and not _OURS.match(entry.name):
                yield entry, False


def _sorted_listing(folder: str, match: Callable[[str], object]) -> tuple[np.ndarray, list[str], set[bytes]] | None:
    """Matching file names, sorted, as one compact fixed-width byte array (about 20 bytes a file instead
    of ~120 for Python strings in a list), the sorted sub-folder names, and which files are symbolic
    links. None if the folder cannot be listed.

    Sorting UTF-8 bytes gives the same order as sorting the strings (code-point order).
    """
    chunks: list[np.ndarray] = []
    pending: list[bytes] = []
    subdirs: list[str] = []
    links: set[bytes] = set()
    try:
        for entry, is_dir in _scan(folder, match):
            if is_dir:
                subdirs.append(entry.name)
                continue
            raw = os.fsencode(entry.name)
            pending.append(raw)
            if entry.is_symlink():
                links.add(raw)
            if len(pending) >= 8192:
                chunks.append(np.array(pending))
                pending = []
    except OSError:
        return None
    if pending:
        chunks.append(np.array(pending))
    names = np.concatenate(chunks) if chunks else np.array([], dtype="S1")
    names.sort()
    return names, sorted(subdirs), links


def is_uri(path: str | os.PathLike) -> bool:
    """`s3://…`, `gs://…`, `abfs://…`, … : read by Ray Data itself rather than listed by `iter_files`."""
    return "://" in str(path)


class Listing:
    """Files listed once and read back as they come: a thread walks *files* into an unlinked temporary file
    (NUL-separated names) and counts them, while the engine reads them back in order -- so the progress bar's
    total and the run share one walk of the folders, in memory that does not grow with the number of files
    (the temporary file does: ~60 bytes a file). `total()` waits for the walk; an error in it is raised to
    the reader."""

    def __init__(self, files: Iterable[str]) -> None:
        import tempfile
        import threading

        fd, name = tempfile.mkstemp(prefix="mnist-onnx-listing-")
        self._w = os.fdopen(fd, "wb")
        self._r = open(name, "rb")
        os.unlink(name)
        self._cond = threading.Condition()
        self._listed = 0
        self._done = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._walk, args=(files,), name="mnist-onnx-listing", daemon=True)
        self._thread.start()

    def _walk(self, files: Iterable[str]) -> None:
        try:
            for f in files:
                self._w.write(os.fsencode(f) + b"\0")
                self._w.flush()
                with self._cond:
                    self._listed += 1
                    self._cond.notify_all()
        except BaseException as e:  # noqa: BLE001 -- handed to the reader, which raises it
            self._error = e
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def total(self) -> int:
        """How many files the walk found (waits for it to end)."""
        with self._cond:
            while not self._done:
                self._cond.wait()
            return self._listed

    def __iter__(self) -> Iterator[str]:
        read, rest = 0, b""
        while True:
            with self._cond:
                while read >= self._listed and not self._done:
                    self._cond.wait()
                available, done = self._listed, self._done
            if read >= available and done:
                if self._error is not None:
                    raise self._error
                return
            while read < available:
                chunk = self._r.read(1 << 16)
                if not chunk:
                    break
                names = (rest + chunk).split(b"\0")
                rest = names.pop()
                for raw in names:
                    read += 1
                    yield os.fsdecode(raw)

    def close(self) -> None:
        self._r.close()
        with contextlib.suppress(OSError):  # the walker may still be writing: its next write fails, quietly
            self._w.close()
