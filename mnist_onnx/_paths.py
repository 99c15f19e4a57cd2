"""Per-user directories (via platformdirs) and atomic file writes.

Environment variables override the locations so tests and CI never touch a real user's home.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import platformdirs

from .errors import OutputError

APP = "mnist-onnx"
MODEL_ENV = "MNIST_ONNX_MODEL"
DATA_DIR_ENV = "MNIST_ONNX_DATA_DIR"
CACHE_DIR_ENV = "MNIST_ONNX_CACHE_DIR"


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
    removed on failure. A symbolic link is written through (its target is replaced, the link stays), and a
    device, FIFO or socket (`/dev/null`, `/dev/stdout`) is written to directly: atomic replacement is for
    regular files only, and replacing `/dev/null` would break the machine.
    """
    path = Path(path)
    try:
        special = not stat.S_ISREG(os.stat(path).st_mode)  # follows links: what would be written to
    except OSError:  # not there yet (or a dangling link): a regular file is made
        special = False
    if special:
        # Written to as it is: a write error (ENOSPC, a FIFO's reader gone: BrokenPipeError) reaches the
        # caller as it is, and a special file that cannot be opened (a socket, a device without a driver) is
        # an OutputError -- never replaced by a regular file (#29)
        try:
            f = open(path, mode, **kwargs)
        except OSError as e:
            raise OutputError(f"{path}: cannot be written to ({e.strerror or e}; it is not a regular file)") from None
        try:
            yield f
        except BaseException:
            with contextlib.suppress(OSError):  # closing flushes again: the write's own error is the one to tell
                f.close()
            raise
        f.close()
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    folder = path.parent if str(path.parent) else Path(".")
    made = _make_folders(folder)
    for _ in range(100):  # a fresh name; created with 0o666 so the umask applies as to any new file
        tmp = folder / beside(path, f".{os.urandom(4).hex()}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"{path}: no free temporary name beside it")
    f = os.fdopen(fd, mode, **kwargs)
    try:
        yield f
        f.flush()
        os.fsync(f.fileno())
        f.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # closing flushes again: on a full disk that fails again
            f.close()
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        for created in made:  # deepest first; only what this write made, and only if still empty
            with contextlib.suppress(OSError):
                created.rmdir()
        raise


def beside(path: Path, suffix: str) -> str:
    """The name of a hidden file of ours beside *path* (`.NAME` + *suffix*): a temporary file, a probe, a
    journal. A legal name of up to 255 bytes is shortened to leave room for the suffix (#29)."""
    stem = path.name
    while len(os.fsencode(f".{stem}{suffix}")) > 255 and stem:
        stem = stem[:-1]
    return f".{stem}{suffix}"


def _make_folders(folder: Path) -> list[Path]:
    """Create *folder* and its missing parents; return the ones created, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        created.mkdir()
    return missing


def check_writable(path: str | Path) -> Path:
    """Fail early (before any expensive work) if *path* cannot be written. Creates nothing: folders that do
    not exist yet are made by `atomic_write` when the rows are ready, and removed again if the run fails."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{path}: is a directory, expected a file path")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: cannot create directory {parent} ({existing} is not a directory)")
    try:
        import tempfile  # only for this check: its import pulls in random and hashlib

        with tempfile.NamedTemporaryFile(dir=existing, prefix=beside(path, ".12345678.probe")[:-14], suffix=".probe"):
            pass
    except OSError as e:
        what = "not writable" if existing == parent else f"cannot create directory {parent}"
        raise OutputError(f"{path}: {what} ({e.strerror or e})") from None
    return path
