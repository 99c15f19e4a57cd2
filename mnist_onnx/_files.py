"""Find the input files: explicit files as given, folders walked in sorted order, lazily."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def iter_files(inputs: Iterable[str | Path], pattern: str = "*.png", recursive: bool = False) -> Iterator[str]:
    """Yield every matching file once, deterministically: per folder, files sorted by name, then subfolders.

    The pattern is matched case-insensitively against file names (`*.png` also finds `SCAN.PNG`). Explicit
    file arguments are yielded whatever their name; a missing one is yielded too, so it gets its error row.
    Folders are read one at a time, so memory does not grow with the size of the tree.
    """
    match = re.compile(fnmatch.translate(pattern), re.IGNORECASE).match  # compiled once, not per file
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            yield from _walk(item, match, recursive)
        else:
            yield item


def _walk(folder: str, match: Callable[[str], object], recursive: bool) -> Iterator[str]:
    try:
        with os.scandir(folder) as it:
            entries = sorted((e.name, e.is_dir()) for e in it)
    except OSError:
        return
    subdirs = []
    for name, is_dir in entries:
        if is_dir:
            subdirs.append(name)
        elif match(name):
            yield os.path.join(folder, name)
    if recursive:
        for name in subdirs:
            yield from _walk(os.path.join(folder, name), match, recursive)
