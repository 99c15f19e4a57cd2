"""Per-user directories (via platformdirs) and atomic file writes.

Environment variables override the locations so tests and CI never touch a real user's home.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import platformdirs

APP = "mnist-onnx"
MODEL_ENV = "MNIST_ONNX_MODEL"
DATA_DIR_ENV = "MNIST_ONNX_DATA_DIR"
CACHE_DIR_ENV = "MNIST_ONNX_CACHE_DIR"


_UMASK = os.umask(0)
os.umask(_UMASK)


def user_data_dir() -> Path:
    """Where `export` puts the model when no `--out` is given, and where `classify` looks for it."""
    return Path(os.environ.get(DATA_DIR_ENV) or platformdirs.user_data_dir(APP))


def user_cache_dir() -> Path:
    """Where downloaded datasets are kept."""
    return Path(os.environ.get(CACHE_DIR_ENV) or platformdirs.user_cache_dir(APP))


def default_export_path() -> Path:
    return user_data_dir() / "model.onnx"


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Write to a temporary file beside *path*, then rename it into place only if the block succeeds.

    A crash or an exception never leaves a half-written file under the final name; the temporary file is
    removed on failure.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; the result should look like any new file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_writable(path: str | Path) -> Path:
    """Fail early (before any expensive work) if *path* cannot be created."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise PermissionError(f"{path}: is a directory, expected a file path")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(f"{path}: cannot create directory {parent} ({e.strerror or e})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise PermissionError(f"{path}: not writable ({e.strerror or e})") from None
    return path
