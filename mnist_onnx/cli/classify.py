"""`mnist-onnx classify`: one row per image file."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional, TextIO

import typer

from ..errors import MnistOnnxError
from ._app import (CenterOpt, DeviceOpt, EngineChoice, FormatChoice, InkOpt, InvertChoice, InvertOpt, MeanOpt, ModelOpt,
                   ProviderChoice, ProviderOpt, StdOpt, announce, app, check_range, fail,
                   make_classifier, note)


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Image files and/or folders (with --engine ray also s3://, gs://, ... URIs).", show_default=False, metavar="PATH")],
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    device_id: DeviceOpt = 0,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")] = False,
    pattern: Annotated[Optional[str], typer.Option(help="File-name pattern inside folders, case-insensitive. Default: any image (png, jpg, jpeg, gif, bmp, tif, tiff, webp, ppm, pgm, pbm).", show_default=False)] = None,
    fmt: Annotated[Optional[FormatChoice], typer.Option("--format", "-f", help="Default: table on a terminal, else csv (or from --output's suffix).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write rows here (atomically) instead of stdout.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Also list the K most likely digits.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Images per inference batch.")] = 1024,
    workers: Annotated[int, typer.Option(help="Processes decoding images in parallel.")] = 1,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
    max_pixels: Annotated[int, typer.Option(help="Reject images with more pixels (decompression-bomb guard).")] = 50_000_000,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line, no notes.")] = False,
    engine: Annotated[EngineChoice, typer.Option(help="local: this machine; ray: Ray Data actors, here or on a cluster (needs the ray extra).")] = EngineChoice.local,
    ray_address: Annotated[Optional[str], typer.Option(help="Ray cluster to join (e.g. ray://head:10001 or auto). Default: $RAY_ADDRESS, else a local Ray.", show_default=False)] = None,
    actors: Annotated[Optional[int], typer.Option(help="Ray actors (model copies). Default: one per GPU with --provider cuda, else the cluster's CPUs minus one.", show_default=False)] = None,
    actor_cpus: Annotated[float, typer.Option(help="CPUs Ray reserves per actor.")] = 1.0,
) -> None:
    """Classify every image under PATHS: one row per file, a prediction or an error. Exit 1 if any file failed."""
    ray_engine = engine is EngineChoice.ray
    if not ray_engine and (ray_address or actors is not None):
        raise fail("--ray-address and --actors need --engine ray")
    for path in paths:  # a typo in an argument is a usage error, not a row
        if ray_engine and "://" in path:
            continue  # read by Ray Data
        if not os.path.lexists(path):
            raise fail(f"{path}: no such file or folder")
    check_range("--top-k", top_k, 0, 10, "a count")
    check_range("--batch-size", batch_size, 1, 1 << 20, "a count")
    check_range("--workers", workers, 1, max(4, 4 * (os.cpu_count() or 1)), "a process count")
    if ray_engine:
        check_range("--actors", actors, 1, 100_000, "an actor count")
        if not 0 < actor_cpus <= 1024:
            raise fail(f"--actor-cpus must be a CPU count above 0, got {actor_cpus}")
        if workers != 1:
            raise fail("--workers is for the local engine; with --engine ray use --actors")
    from .._output import RowWriter
    from .._paths import atomic_write


    if output is not None:
        try:
            from .._paths import check_writable

            check_writable(output)
        except PermissionError as e:
            raise fail(str(e)) from None
    from .._batch import inference_threads
    from .._model import small_job
    from .._output import choose_format

    # With Ray the actors run the model; this one on the driver checks the model and options up front.
    # `auto` with a few named files stays on CPU: they are done before a CUDA context would be up.
    here = ProviderChoice.cpu if ray_engine or (provider is ProviderChoice.auto and small_job(paths)) else provider
    clf = make_classifier(model, here, device_id, invert, center, mean, std, model_ink,
                          max_pixels=max_pixels, threads=inference_threads(workers))
    fmt = FormatChoice(choose_format(fmt.value if fmt else None, output, sys.stdout.isatty()))
    announce(clf, quiet)

    n = failed = blank = 0
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        stack.callback(clf.close)  # decoding processes stop with the command, however it ends
        progress = None
        if sys.stderr.isatty() and not quiet:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            progress = stack.enter_context(Progress(
                SpinnerColumn(), TextColumn("{task.completed:,} images"), TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(), console=Console(stderr=True), transient=True, redirect_stdout=True))
            task = progress.add_task("classify", total=None, rate="")
        # File names are bytes: one that is not UTF-8 is written back as the same bytes (CSV, table) or as
        # a \udcXX escape (JSON Lines), so that every name round-trips.
        stream: TextIO = (stack.enter_context(atomic_write(output, newline="", encoding="utf-8",  # type: ignore[assignment]
                                                           errors="surrogateescape")) if output else sys.stdout)
        if stream is sys.stdout and isinstance(sys.stdout, io.TextIOWrapper):
            with contextlib.suppress(ValueError):
                sys.stdout.reconfigure(errors="surrogateescape")
        writer = RowWriter(stream, fmt.value, top_k)
        ray_run = None
        if ray_engine:
            _quiet_ray()
            from ..ray import classify_files as ray_classify_files

            try:
                results = ray_run = ray_classify_files(
                    paths, clf.model_path, address=ray_address, recursive=recursive, pattern=pattern,
                    batch_size=batch_size, concurrency=actors, num_cpus=actor_cpus, keep_probabilities=top_k > 0,
                    provider=provider.value, device_id=device_id, invert=invert.value, center=center, mean=mean,
                    std=std, model_ink=model_ink.value if model_ink else None, max_pixels=max_pixels)
            except MnistOnnxError as e:
                raise fail(str(e)) from None
        else:
            results = clf.classify_files(paths, recursive=recursive, pattern=pattern, batch_size=batch_size,
                                         workers=workers, keep_probabilities=top_k > 0)
        try:
            for r in results:
                writer.write(r)
                n += 1
                failed += not r.ok
                blank += r.status == "no-digit"
                if progress is not None and n % 256 == 0:
                    progress.update(task, completed=n, rate=f"{n / (time.perf_counter() - t0):,.0f} img/s")
            stream.flush()
        except MnistOnnxError as e:  # the model itself misbehaves: nothing after this can be right
            raise fail(str(e)) from None
        except BrokenPipeError:
            raise
        except OSError as e:  # disk full, file size limit (ulimit -f), I/O error: the output, not the input
            raise fail(f"{output or 'standard output'}: cannot write ({e.strerror or e}); nothing was kept") from None
    secs = time.perf_counter() - t0
    ran_on = ray_run.ran_on if ray_run is not None else clf.provider.upper()
    if not quiet:
        note(f"{n:,} image{'' if n == 1 else 's'}: {n - failed:,} classified, "
             + (f"{blank:,} without a digit, " if blank else "") + f"{failed - blank:,} failed in {secs:.2f} s "
             f"({n / secs if secs else 0:,.0f} img/s) on {ran_on}, model {clf.model_path} ({clf.info.source})"
             + (f"; rows in {output}" if output else ""))
    if n == 0:
        what = f"matching {pattern!r}" if pattern else "with an image extension"
        raise fail(f"no files {what} in {', '.join(map(str, paths))}" + ("" if recursive else " (add -r for sub-folders)"), 1)
    raise typer.Exit(1 if failed else 0)


def _quiet_ray() -> None:
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
