"""What `classify` and `read` share: checking paths and engine flags, the output stream (atomic with -o),
the progress display, and writing rows while counting what happened to them."""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TextIO

import typer

from ..errors import MnistOnnxError, OutputError, Status
from ._app import check_range, fail

if TYPE_CHECKING:
    from .._schema import Schema


def check_inputs(paths: list[str], ray_engine: bool, workers: int, batch_size: int, ray_address: Optional[str],
                 actors: Optional[int], actor_cpus: float, output: Optional[Path], pattern: Optional[str] = None,
                 recursive: bool = False) -> None:
    """Usage errors before any work: exit 2 with one line."""
    if not ray_engine and (ray_address or actors is not None):
        raise fail("--ray-address and --actors need --engine ray")
    for path in paths:  # a typo in an argument is a usage error, not a row
        if ray_engine and "://" in path:
            continue  # read by Ray Data
        if not os.path.lexists(path):
            raise fail(f"{path}: no such file or folder")
    check_range("--batch-size", batch_size, 1, 1 << 20, "a count")
    check_range("--workers", workers, 1, max(4, 4 * (os.cpu_count() or 1)), "a process count")
    if ray_engine:
        check_range("--actors", actors, 1, 100_000, "an actor count")
        if not 0 < actor_cpus <= 1024:
            raise fail(f"--actor-cpus must be a CPU count above 0, got {actor_cpus}")
        if workers != 1:
            raise fail("--workers is for the local engine; with --engine ray use --actors")
    if output is not None:
        if _URI.match(str(output)):  # typer made it a Path: `s3://b/x` reads `s3:/b/x` by now
            given = next((a for a in sys.argv if a != str(output) and str(Path(a)) == str(output)), str(output))
            raise fail(f"{given}: looks like a URI; rows are written to local files only (write them here, then "
                       "copy the file)")
        _not_an_input(output, paths, pattern, recursive)
        from .._paths import check_writable

        try:
            check_writable(output)
        except OutputError as e:
            raise fail(e) from None


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/")  # s3:/, gs:/, hdfs:/, file:/, mock:/ -- not a drive letter (C:/)


def _not_an_input(output: Path, paths: list[str], pattern: Optional[str], recursive: bool) -> None:
    """-o must not be one of the inputs (an image overwritten with CSV), nor a file the folder walk would
    list (--pattern '*' with -o inside the folder: the run would read its own output)."""
    from .._files import matches

    target = os.path.realpath(output)
    for path in paths:
        if "://" in path:
            continue
        real = os.path.realpath(path)
        if os.path.isdir(real):
            folder = os.path.dirname(target)
            inside = folder == real or (recursive and folder.startswith(real.rstrip(os.sep) + os.sep))
            if inside and matches(os.path.basename(target), pattern):
                raise fail(f"{output}: inside the input folder {path} and matching its files: the run would read "
                           "its own output (write it elsewhere, or narrow --pattern)")
        elif real == target:
            raise fail(f"{output}: is one of the inputs; it would be overwritten (write the rows elsewhere)")


def output_path(output: Optional[Path]) -> Optional[Path]:
    """`-o -` is standard output, as for most tools; anything else is a file path."""
    return None if output is not None and str(output) == "-" else output


def parquet_rows(stack: contextlib.ExitStack, output: Optional[Path], schema: Schema) -> Any:
    """`-f parquet` / `-o rows.parquet`: a writer of typed columns, a row group at a time, renamed into place
    when the run succeeds. It is its own stream (flush writes a row group)."""
    from .._parquet import ParquetRows

    assert output is not None  # checked with the arguments
    try:
        return stack.enter_context(ParquetRows(output, schema))
    except MnistOnnxError as e:
        raise fail(e) from None


def open_stream(stack: contextlib.ExitStack, output: Optional[Path]) -> TextIO:
    """-o FILE: written atomically (a `.part` renamed at the end; nothing is left if the run fails); else
    stdout. File names are bytes: one that is not UTF-8 is written back as the same bytes (CSV, table) or
    as a \\udcXX escape (JSON Lines), so that every name round-trips."""
    if output is not None:
        from .._paths import atomic_write

        try:
            return stack.enter_context(atomic_write(output, newline="", encoding="utf-8",  # type: ignore[return-value]
                                                    errors="surrogateescape"))
        except OutputError as e:
            raise fail(e) from None
    from ._app import closed_streams

    if "stdout" in closed_streams:
        raise fail("standard output is closed (>&-): write the rows to a file with -o FILE")
    stream = _rows_stdout or sys.stdout
    if isinstance(stream, io.TextIOWrapper):
        with contextlib.suppress(ValueError):
            stream.reconfigure(errors="surrogateescape")
    return stream


_rows_stdout: TextIO | None = None  # stdout kept for the rows alone (`keep_stdout_for_rows`)


def keep_stdout_for_rows() -> None:
    """Rows to stdout with Ray: stdout is kept for the rows alone. Ray prints cluster messages (`(raylet)
    Raylet is terminated`, `The node ... has been marked dead`) to the process's stdout whatever
    `log_to_driver` says; they go to stderr from here on -- Python's `print` and C's writes to descriptor 1
    alike -- while the rows go to the original stdout through a descriptor of their own (#32)."""
    global _rows_stdout
    if _rows_stdout is not None:
        return
    sys.stdout.flush()
    rows = os.dup(1)
    os.dup2(2, 1)
    _rows_stdout = io.TextIOWrapper(os.fdopen(rows, "wb"), encoding=sys.stdout.encoding or "utf-8",
                                    errors="surrogateescape", newline="", write_through=False)
    sys.stdout = sys.stderr


def resume_into(stack: contextlib.ExitStack, output: Optional[Path], fmt: str, schema: Schema,
                model: Path) -> tuple[Any, Any, bool]:
    """--resume: (the files OUTPUT already holds, OUTPUT opened for appending, whether it needs a header).
    OUTPUT is claimed first (`_resume.claim`: one run at a time, one *model* per output). A torn last row,
    left by a run killed while writing it, is cut off. Parquet: the stream is the Parquet writer, its rows
    journalled beside OUTPUT until the run succeeds (`_parquet`)."""
    if output is None:
        raise fail("--resume needs --output FILE (the rows of the interrupted run)")
    from .._writers import WRITERS

    if not (fmt == "parquet" or WRITERS[fmt].resumable):
        resumable = [name for name, w in WRITERS.items() if w.resumable] + ["parquet"]
        raise fail(f"--resume works with {', '.join(resumable[:-1])} and {resumable[-1]} output, not {fmt}")
    from .._resume import claim, model_digest

    try:
        stack.enter_context(claim(output, schema.task, model_digest(model)))
    except MnistOnnxError as e:
        raise fail(e) from None
    if fmt == "parquet":
        from .._parquet import ParquetRows

        try:
            rows = stack.enter_context(ParquetRows(output, schema, resume=True))
            return rows.done(), rows, False
        except MnistOnnxError as e:
            raise fail(e) from None
    try:
        done = WRITERS[fmt].done(output, schema)
    except MnistOnnxError as e:
        raise fail(e) from None
    fresh = not output.exists() or output.stat().st_size == 0
    output.parent.mkdir(parents=True, exist_ok=True)
    stream = open(output, "a", newline="", encoding="utf-8", errors="surrogateescape")

    def close(kind: object, error: object, tb: object) -> None:
        if error is None:
            stream.close()
        else:  # closing flushes again: on a full disk (or past ulimit -f) that fails again; the first error is told
            with contextlib.suppress(OSError):
                stream.close()

    stack.push(close)
    return done, stream, fresh


def shows_progress(quiet: bool) -> bool:
    """A bar is drawn: stderr is a terminal and --quiet was not given."""
    return sys.stderr.isatty() and not quiet


def progress(stack: contextlib.ExitStack, quiet: bool, what: str,
             count: Callable[[], int] | None = None) -> Callable[[int, float], None] | None:
    """A live count, rate and -- once *count* (run on a thread beside the work: listing a million files
    takes seconds, and the rows should not wait for it) has said how many files there are -- a bar and the
    time left, on a terminal's stderr. Nothing when piped or quiet. Call it with (rows, seconds)."""
    if not shows_progress(quiet):
        return None
    import threading

    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    bar = stack.enter_context(Progress(
        SpinnerColumn(), BarColumn(), TextColumn("{task.completed:,}{task.fields[of]} images"),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
        # stdout is the rows' (a file or pipe even when stderr is a terminal: `classify dir > out.csv`): the
        # bar never redirects it -- rich's redirect would swallow every row into the terminal (#29)
        console=Console(stderr=True), transient=True, redirect_stdout=False))
    task = bar.add_task(what, total=None, rate="", of="")

    def counted() -> None:
        try:
            total = count()  # type: ignore[misc]
        except Exception:  # noqa: BLE001 -- only the bar would miss it; the run itself lists the files again
            return
        bar.update(task, total=max(total, 1), of=f" of {total:,}")

    if count is not None:
        threading.Thread(target=counted, name="mnist-onnx-count", daemon=True).start()
    return lambda n, secs: bar.update(task, completed=n, rate=rate(n, secs))


def rate(n: int, seconds: float) -> str:
    """Images a second, with the digits that say something: 9,865 / 12.4 / 0.41 (never "0 img/s")."""
    r = n / seconds if seconds > 0 else 0.0
    return f"{r:,.0f} img/s" if r >= 100 else f"{r:.3g} img/s"


def file_count(paths: list[str], pattern: Optional[str], recursive: bool, done: Any = None) -> Callable[[], int] | None:
    """How many files the run has to do (for the progress bar's total): the same listing the engine makes,
    less those an interrupted run already wrote (`--resume`). None for URIs, which Ray lists itself. A walk
    of its own: for the Ray engine, which lists the files again in its own way (`listing` serves a local run)."""
    from .._files import is_uri, iter_files

    if any(is_uri(p) for p in paths):
        return None

    def count() -> int:
        files = iter_files(paths, pattern, recursive)
        return sum(1 for _ in (done.skip(files) if done is not None else files))

    return count


def listing(stack: contextlib.ExitStack, paths: list[str], pattern: Optional[str], recursive: bool,
            done: Any = None) -> Any:
    """The files of a local run with a bar, listed once (`_files.Listing`): the engine reads them as the walk
    finds them, and the bar's total comes from the same walk -- not a second walk of the folders beside the
    run. Files an interrupted run already wrote are left out here (`--resume`)."""
    from .._files import Listing, iter_files

    files = iter_files(paths, pattern, recursive)
    return stack.enter_context(contextlib.closing(Listing(done.skip(files) if done is not None else files)))


@dataclass
class Counts:
    rows: int = 0
    failed: int = 0  # error or no-digit
    blank: int = 0  # no-digit
    unsure: int = 0
    seconds: float = 0.0


def write_rows(results: Iterable[Any], make_writer: Callable[[], Any], stream: TextIO, output: Optional[Path],
               update: Callable[[int, float], None] | None, resume: bool = False) -> Counts:
    """Write every row as it comes; count them. A model that misbehaves, or an output that cannot be
    written (disk full, ulimit -f) -- from its header on -- ends the run with one line and exit 2; nothing
    half-written is kept."""
    counts = Counts()
    t0 = time.perf_counter()
    try:
        writer = make_writer()  # a CSV or table header is the first write
        for r in results:
            writer.write(r)
            counts.rows += 1
            counts.failed += not r.ok
            status = r.status
            counts.blank += status is Status.NO_DIGIT
            counts.unsure += status is Status.UNSURE
            if update is not None and counts.rows % 256 == 0:
                update(counts.rows, time.perf_counter() - t0)
        finish = getattr(stream, "finish", None)  # Parquet: the last row group, and --resume's merge
        finish() if finish is not None else stream.flush()
    except MnistOnnxError as e:  # the model itself misbehaves: nothing after this can be right
        raise fail(e) from None
    except BrokenPipeError:  # `| head`, or a FIFO's reader gone: the reader has what it wanted; stop quietly
        with contextlib.suppress(OSError, ValueError, AttributeError):  # the last flush (at exit) goes nowhere, not to a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        raise typer.Exit(0) from None
    except OSError as e:  # disk full, file size limit (ulimit -f), I/O error: the output, not the input
        if output is None:  # what went before is already out there: say so, not "nothing was kept"
            raise fail(f"standard output: cannot write ({e.strerror or e}) after {counts.rows:,} rows") from None
        kept = "the rows written so far are kept for --resume" if resume else "nothing was kept"
        raise fail(f"{output}: cannot write ({e.strerror or e}); {kept}") from None
    counts.seconds = time.perf_counter() - t0
    return counts


def no_files(paths: list[str], pattern: Optional[str], recursive: bool) -> None:
    """Exit 2 with one line when nothing matched: a usage error, like a path that does not exist."""
    what = f"matching {pattern!r}" if pattern else "with an image extension"
    raise fail(f"no files {what} in {', '.join(map(str, paths))}" + ("" if recursive else " (add -r for sub-folders)"))


def check_some_files(paths: list[str], pattern: Optional[str], recursive: bool, resume: bool) -> None:
    """Before the model loads and before any output is opened (no CSV header, no "0 images" summary): local
    inputs that list no file at all are one line, exit 2."""
    from .._files import has_files, is_uri

    if resume or any(is_uri(p) for p in paths):
        return  # resuming a finished run lists nothing and is fine; URIs are listed with the run
    if not has_files(paths, pattern, recursive):  # stops at the first file: a big folder is not listed twice
        no_files(paths, pattern, recursive)


def start_ray(address: Optional[str]) -> None:
    """Start or join Ray for this command (the library leaves that to its caller): no dashboard, no INFO
    lines. A Ray that cannot be started or joined is one line, exit 2."""
    import logging

    quiet_ray()
    try:
        import ray
    except ImportError:
        return  # the engine says what to install
    if not ray.is_initialized():
        _reachable(address)
        _filter_stderr(_RAY_NOISE)
        ours = signal.getsignal(signal.SIGTERM)
        try:
            ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        except Exception as e:  # noqa: BLE001 -- ConnectionError, ValueError, RuntimeError...: all one line
            first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__).strip()
            if "Could not find any running Ray instance" in first:  # Ray's words name Ray's own flag (#31)
                first = ("no running Ray cluster was found on this machine (start one with `ray start --head`, "
                         "or leave --ray-address out to run a local Ray for this command)")
            first = first.replace("`--address` flag", "--ray-address").replace("--address flag", "--ray-address")
            if _seen_auth_refusal.wait(0.5):  # Ray's own words were 20 lines of retries, now dropped (#32)
                first = ("the cluster requires token authentication: set RAY_AUTH_MODE=token, with the cluster's "
                         "token in $RAY_AUTH_TOKEN or ~/.ray/auth_token (`ray get-auth-token` on the head node); an "
                         "explicit address never turns token mode on by itself, `auto` does where a token is at hand")
            raise fail(f"cannot start or join Ray{f' at {address}' if address else ''}: {first[:300]}") from None
        finally:
            # Ray installs its own SIGTERM handler (a C stack dump and exit 15); the command's own ends the run
            # like Ctrl-C does: cleanup, no .part file, exit 143, as with the local engine
            if callable(ours):
                signal.signal(signal.SIGTERM, ours)


# Lines Ray's C++ core prints at error level on every successful run, about its own design, not the run:
# "core_worker.cc:2465: Actor with class name ... has constructor arguments in the object store and
# max_restarts > 0 ... ray-project/ray/issues/53727". Dropped from a command's stderr (#29).
_RAY_NOISE = re.compile(rb"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in the object store"
                        rb"|gcs_client\.cc:\d+: Failed to get cluster ID from GCS server: Unauthenticated")
_AUTH_REFUSED = re.compile(rb"Unauthenticated|InvalidAuthToken")
_seen_auth_refusal = threading.Event()  # the stderr filter saw the cluster refuse us for want of a token


def _filter_stderr(drop: re.Pattern) -> None:
    """Pass the process's stderr (file descriptor 2: Python's and C++'s writes alike) through a thread that
    drops the lines matching *drop*. At exit, everything written before is passed on first."""
    import atexit

    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return  # no filter: the line stays, nothing else changes
    marker = b"\0mnist-onnx: stderr drained\0\n"
    drained = threading.Event()

    def forward() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as lines, contextlib.suppress(OSError):
            pending = b""
            while chunk := lines.read(65536):
                pending += chunk
                *whole, pending = pending.split(b"\n")
                for line in whole:
                    if line + b"\n" == marker:
                        drained.set()
                        continue
                    if _AUTH_REFUSED.search(line):
                        _seen_auth_refusal.set()
                    if not drop.search(line):
                        os.write(saved, line + b"\n")
            if pending:
                os.write(saved, pending)

    def drain() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
            os.write(2, marker)
            drained.wait(5)

    threading.Thread(target=forward, name="mnist-onnx-stderr", daemon=True).start()
    atexit.register(drain)


def _reachable(address: Optional[str]) -> None:
    """An explicit `host:port` (or `ray://host:port`) where nothing listens fails in seconds, not after Ray's
    own retries (minutes for a GCS address, 30 s for a client one)."""
    import socket

    if not address or address == "auto":
        return
    where = address.split("://", 1)[-1]
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        return  # Ray says what is wrong with the address itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as e:
        raise fail(f"cannot join Ray at {address}: nothing answers there ({e.strerror or e})") from None


def quiet_ray() -> None:
    """Ray Data logs each execution at INFO and draws its own progress bars; the command has its own
    progress and summary line, and its stdout may be the rows. Ray's detailed logs stay in /tmp/ray.
    (A command owns its process; the library never changes these.)"""
    import logging

    try:
        import ray.data
    except ImportError:
        return  # the engine says what to install
    for name in ("ray", "ray.data"):  # after the import: importing ray.data installs its logging config
        logging.getLogger(name).setLevel(logging.ERROR)
    ray.data.DataContext.get_current().enable_progress_bars = False
