"""The `mnist-onnx` command line: one module per command. Commands parse, call the library, print; the
logic lives in the library.

Every command module is imported to build `--help`, so each imports the library (numpy, Pillow, ONNX
Runtime), rich and the extras inside the command's function: `mnist-onnx --help` and a usage error stay
instant, and a command loads only what it uses."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

# Each module registers its command; the order here is the order in --help.
from . import export  # noqa: F401,I001
from . import classify  # noqa: F401
from . import read  # noqa: F401
from . import evaluate  # noqa: F401
from . import show  # noqa: F401
from . import info  # noqa: F401
from . import serve  # noqa: F401
from ._app import app

__all__ = ["app", "main"]


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends the command like Ctrl-C does: cleanup runs (no .part file, no orphan worker), exit 143."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)  # the command line owns this process; the library never does this
    if hasattr(signal, "SIGXFSZ"):  # past `ulimit -f`, a write should fail with EFBIG, not kill us mid-file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        app()
    except BrokenPipeError:  # `mnist-onnx classify ... | head -1`: the reader left; stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
