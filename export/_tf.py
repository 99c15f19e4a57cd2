"""TensorFlow, imported once and quietly: its C++ start-up chatter (no CUDA here, oneDNN notes) is not for
our users. The environment defaults are set only if the user has not chosen otherwise.

This is the one place the project points file descriptors 1 and 2 at /dev/null (C++ code writes to them
directly, past Python's sys.stdout): once, on the export side, while TensorFlow is imported. The runtime
never does this.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


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


with quiet_fds():  # absl prints "cudart_stub ... GPU will not be used" at import, whatever the log level
    import tensorflow as tf  # noqa: E402

__all__ = ["tf"]
