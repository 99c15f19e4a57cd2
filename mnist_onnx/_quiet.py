"""Silence C/C++ libraries that write straight to the process's stdout/stderr file descriptors.

TensorFlow's import and onnxruntime's `preload_dlls()` print start-up chatter that Python's own
redirection cannot catch; we point fds 1 and 2 at /dev/null for the duration and restore them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_fds(fds: tuple[int, ...] = (1, 2)) -> Iterator[None]:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = []
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        for fd in fds:
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(devnull, fd)
            except OSError:
                pass
        with contextlib.redirect_stdout(open(os.devnull, "w")) as out, contextlib.redirect_stderr(out):
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
