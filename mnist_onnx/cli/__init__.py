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


def _only_the_command_run(argv: list[str]) -> None:
    """Typer builds every registered command's parameters (annotations, defaults, help) before it runs one:
    ~25 ms of a one-file `classify`. When argv names a command, only that one is built; `--help`, a typo
    or no command at all still see them all."""
    name = argv[1] if len(argv) > 1 else None
    run = [c for c in app.registered_commands
           if (c.name or getattr(c.callback, "__name__", "").replace("_", "-")) == name]
    if run:
        app.registered_commands[:] = run


def _closed_streams() -> None:
    """`2>&-` or `>&-`: a closed standard stream gets /dev/null in its place (its descriptor taken, so no file
    the command opens can land on it and receive rows or notes). Rows meant for a closed stdout are refused
    with one line (`_app.stdout_closed`); notes meant for a closed stderr go nowhere (#29)."""
    from . import _app

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if null != fd:  # the lowest free descriptor is the closed one; be sure
            os.dup2(null, fd)
            os.close(null)
        if fd:
            setattr(sys, name, open(fd, "w", encoding="utf-8", errors="surrogateescape", closefd=False))
        _app.closed_streams.add(name)


def _unwrapped_help() -> None:
    """Docstrings are wrapped for the source; --help wraps for the terminal. Each paragraph becomes one line
    first, so the command list and each command's help are not wrapped twice (ragged) at any width."""
    import inspect
    import re

    for c in app.registered_commands:
        doc = c.help or inspect.getdoc(c.callback) or ""
        c.help = "\n\n".join(re.sub(r"\s*\n\s*", " ", p).strip() for p in doc.split("\n\n"))


def main() -> None:
    _closed_streams()
    _only_the_command_run(sys.argv)
    _unwrapped_help()
    signal.signal(signal.SIGTERM, _terminate)  # the command line owns this process; the library never does this
    if hasattr(signal, "SIGXFSZ"):  # past `ulimit -f`, a write should fail with EFBIG, not kill us mid-file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        app()
    except BrokenPipeError:  # `mnist-onnx classify ... | head -1`: the reader left; stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except SystemExit as done:
        _exit_now(done.code)
        raise


_FAST_EXIT = {"classify", "read"}  # commands whose every resource is closed by the time they return


def _exit_now(code: object) -> None:
    """End a finished `classify` or `read` without the interpreter's teardown: finalising numpy, Pillow and
    the ONNX Runtime session costs ~35 ms, a tenth of a one-file run. By now the command has closed and
    renamed its output and stopped its decoding processes; only the standard streams are flushed here.
    Not after Ray was used (its exit handler stops the local cluster), nor for other commands."""
    if len(sys.argv) < 2 or sys.argv[1] not in _FAST_EXIT or "ray" in sys.modules:
        return
    if code is not None and not isinstance(code, int):
        return  # a message to print: the normal way
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # let the normal exit report or ignore it, as it would have
    os._exit(code or 0)
