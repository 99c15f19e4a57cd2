"""`mnist-onnx classify`: one row per image file."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .._defaults import CLI_CHUNK
from ..errors import MnistOnnxError
from ._app import (ActorCpusOpt, ActorsOpt, CenterOpt, DeviceOpt, EngineChoice, EngineOpt, FormatChoice, FormatOpt,
                   InkOpt, InvertChoice, InvertOpt, MaxPixelsOpt, MeanOpt, MinConfidenceOpt, ModelOpt, PathsArg, PatternOpt,
                   ProviderChoice, ProviderOpt, QuietOpt, RayAddressOpt, RecursiveOpt, ResumeOpt, RowsOutputOpt,
                   StdOpt, announce, app, check_model_elsewhere, check_range, fail, make_classifier, note)
from ._rows import (check_inputs, check_some_files, file_count, keep_stdout_for_rows, no_files, open_stream,
                    output_path, parquet_rows, progress, rate, resume_into, start_ray, write_rows)


@app.command()
def classify(
    paths: PathsArg,
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    device_id: DeviceOpt = 0,
    recursive: RecursiveOpt = False,
    pattern: PatternOpt = None,
    fmt: FormatOpt = None,
    output: RowsOutputOpt = None,
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Also list the K most likely digits.")] = 0,
    min_confidence: MinConfidenceOpt = None,
    batch_size: Annotated[int, typer.Option(help="Images per inference batch.")] = CLI_CHUNK,
    workers: Annotated[int, typer.Option(help="Processes decoding images in parallel.")] = 1,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
    max_pixels: MaxPixelsOpt = 50_000_000,
    quiet: QuietOpt = False,
    resume: ResumeOpt = False,
    engine: EngineOpt = EngineChoice.local,
    ray_address: RayAddressOpt = None,
    actors: ActorsOpt = None,
    actor_cpus: ActorCpusOpt = 1.0,
) -> None:
    """Classify every image under PATHS: one row per file, a prediction or an error. Exit 1 if any file failed."""
    ray_engine = engine is EngineChoice.ray
    output = output_path(output)
    check_inputs(paths, ray_engine, workers, batch_size, ray_address, actors, actor_cpus, output, pattern, recursive)
    check_some_files(paths, pattern, recursive, resume)
    check_range("--top-k", top_k, 0, 10, "a count")
    check_range("--min-confidence", min_confidence, 0, 1, "a probability")  # None: the model's own
    from .._batch import inference_threads
    from .._model import small_job
    from .._files import iter_files
    from .._output import RowWriter, choose_format, csv_header

    clf: Any  # a Classifier, or for Ray what the driver needs of one
    if ray_engine:  # the actors run the model; it is checked up front in a process of its own
        clf = check_model_elsewhere(model, invert, center, mean, std, model_ink, device_id=device_id,
                                    max_pixels=max_pixels, threads=1)
    else:  # `auto` with a few named files stays on CPU: they are done before a CUDA context would be up
        here = ProviderChoice.cpu if provider is ProviderChoice.auto and small_job(paths) else provider
        clf = make_classifier(model, here, device_id, invert, center, mean, std, model_ink,
                              max_pixels=max_pixels, threads=inference_threads(workers))
    fmt = FormatChoice(choose_format(fmt.value if fmt else None, output, sys.stdout.isatty()))
    if fmt is FormatChoice.parquet and output is None:
        raise fail("Parquet goes to a file: add -o rows.parquet")
    announce(clf, quiet)
    threshold = clf._threshold(min_confidence)

    with contextlib.ExitStack() as stack:
        stack.callback(clf.close)  # decoding processes stop with the command, however it ends
        done = None
        if resume:
            done, stream, fresh = resume_into(stack, output, fmt.value, csv_header(top_k), "classify", top_k,
                                              clf.model_path)
        update = progress(stack, quiet, "classify", file_count(paths, pattern, recursive, done))
        ray_run = None
        if ray_engine:
            if output is None:
                keep_stdout_for_rows()
            start_ray(ray_address)
            from ..ray import classify_paths

            try:
                results = ray_run = classify_paths(
                    paths, clf.model_path, options=dataclasses.replace(clf.options, provider=provider.value),
                    recursive=recursive, pattern=pattern, batch_size=batch_size, concurrency=actors,
                    num_cpus=actor_cpus, keep_probabilities=top_k > 0, min_confidence=threshold, skip=done,
                    checked=True)
            except MnistOnnxError as e:
                raise fail(str(e)) from None
        else:
            # with --resume, the files listed once here, those already in the output skipped
            todo = done.skip(iter_files(paths, pattern, recursive)) if done is not None else paths
            results = clf.classify_files(todo, recursive=recursive, pattern=pattern, batch_size=batch_size,
                                         workers=workers, keep_probabilities=top_k > 0, min_confidence=threshold)
        # the output opens (and a CSV header is written) only once the engine stands: a Ray that cannot
        # be joined, or a wrong model, writes nothing
        parquet = None
        if fmt is FormatChoice.parquet:
            parquet = stream = stream if done is not None else parquet_rows(stack, output, "classify", top_k)
        elif done is None:
            stream, fresh = open_stream(stack, output), True

        def make_writer() -> Any:
            return parquet if parquet is not None else RowWriter(stream, fmt.value, top_k, header=fresh)

        c = write_rows(results, make_writer, stream, output, update, resume)
    n, failed, blank, secs = c.rows, c.failed, c.blank, c.seconds
    ran_on = ray_run.ran_on if ray_run is not None else clf.provider.upper()
    if not quiet:
        note(f"{n:,} image{'' if n == 1 else 's'}: {n - failed:,} classified"
             + (f" ({c.unsure:,} unsure, below {threshold:g})" if c.unsure else "") + ", "
             + (f"{blank:,} without a digit, " if blank else "") + f"{failed - blank:,} failed in {secs:.2f} s "
             f"({rate(n, secs)}) on {ran_on}, model {clf.model_path} ({clf.info.source})"
             + (f"; rows in {output}" if output else "")
             + (f" ({len(done):,} rows were there already)" if done is not None and len(done) else ""))
    if n == 0 and not (done is not None and len(done)):  # resuming a finished run: nothing left is fine
        no_files(paths, pattern, recursive)
    raise typer.Exit(1 if failed else 0)
