"""`mnist-onnx read`: one row per image, the whole number written in it."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from typing import Annotated, Any, Optional

import typer

from .._defaults import READ_CHUNK
from ..errors import MnistOnnxError
from ._app import (ActorCpusOpt, ActorsOpt, DeviceOpt, EngineChoice, EngineOpt, FormatChoice, FormatOpt, InvertChoice,
                   InvertOpt, MaxPixelsOpt, ModelOpt, PathsArg, PatternOpt, ProviderChoice, ProviderOpt, QuietOpt,
                   RayAddressOpt, RecursiveOpt, ResumeOpt, RowsOutputOpt, announce, app, check_model_elsewhere,
                   check_range, fail, make_classifier, note)
from ._rows import (check_inputs, check_some_files, file_count, keep_stdout_for_rows, no_files, open_stream,
                    output_path, parquet_rows, progress, rate, resume_into, start_ray, write_rows)


@app.command()
def read(
    paths: PathsArg,
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    device_id: DeviceOpt = 0,
    recursive: RecursiveOpt = False,
    pattern: PatternOpt = None,
    fmt: FormatOpt = None,
    output: RowsOutputOpt = None,
    min_confidence: Annotated[Optional[float], typer.Option(show_default=False, help="Numbers read with a lower confidence get status unsure. Default: the reader's own, chosen on held-out strings (`mnist-onnx info --model reader`); 0.9 with --model mlp|cnn; 0: never unsure.")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per chunk: their digits share model calls (memory: up to ~1.6 MB an image).")] = READ_CHUNK,
    workers: Annotated[int, typer.Option(help="Processes decoding and segmenting images in parallel.")] = 1,
    invert: InvertOpt = InvertChoice.auto,
    max_pixels: MaxPixelsOpt = 50_000_000,
    quiet: QuietOpt = False,
    resume: ResumeOpt = False,
    engine: EngineOpt = EngineChoice.local,
    ray_address: RayAddressOpt = None,
    actors: ActorsOpt = None,
    actor_cpus: ActorCpusOpt = 1.0,
) -> None:
    """Read the handwritten number in every image under PATHS (a date, a postcode, a meter reading): one row
    per file with the digit string (leading zeros kept), its confidence, and each digit with its box.
    Read by the sequence reader (the bundled `reader`, or your last `export --preset reader`); --model mlp|cnn
    cuts the number into digits for a digit model instead. Exit 1 if any file failed."""
    ray_engine = engine is EngineChoice.ray
    output = output_path(output)
    check_inputs(paths, ray_engine, workers, batch_size, ray_address, actors, actor_cpus, output, pattern, recursive)
    check_some_files(paths, pattern, recursive, resume)
    check_range("--min-confidence", min_confidence, 0, 1, "a probability")
    from .._batch import inference_threads
    from .._model import small_job
    from .._files import iter_files
    from .._model import default_reader
    from .._output import READ_COLUMNS, ReadingWriter, choose_format

    model = model if model is not None else default_reader()

    clf: Any  # a Classifier, or for Ray what the driver needs of one
    if ray_engine:  # the actors run the model; it is checked up front in a process of its own
        clf = check_model_elsewhere(model, invert, device_id=device_id, max_pixels=max_pixels, threads=1, task="read")
    else:
        here = ProviderChoice.cpu if provider is ProviderChoice.auto and small_job(paths) else provider
        clf = make_classifier(model, here, device_id, invert, max_pixels=max_pixels, threads=inference_threads(workers),
                              task="read")
    min_confidence = clf._read_threshold(min_confidence)  # None: the reader's own (a segmentation: 0.9)
    fmt = FormatChoice(choose_format(fmt.value if fmt else None, output, sys.stdout.isatty()))
    if fmt is FormatChoice.parquet and output is None:
        raise fail("Parquet goes to a file: add -o rows.parquet")
    announce(clf, quiet)

    with contextlib.ExitStack() as stack:
        stack.callback(clf.close)  # decoding processes stop with the command, however it ends
        done = None
        if resume:
            done, stream, fresh = resume_into(stack, output, fmt.value, READ_COLUMNS, "read", 0, clf.model_path)
        update = progress(stack, quiet, "read", file_count(paths, pattern, recursive, done))
        ray_run = None
        if ray_engine:
            if output is None:
                keep_stdout_for_rows()
            start_ray(ray_address)
            from ..ray import read_paths

            try:
                results = ray_run = read_paths(
                    paths, clf.model_path, options=dataclasses.replace(clf.options, provider=provider.value),
                    recursive=recursive, pattern=pattern, batch_size=batch_size, concurrency=actors,
                    num_cpus=actor_cpus, min_confidence=min_confidence, skip=done,
                    checked=True)
            except MnistOnnxError as e:
                raise fail(str(e)) from None
        else:
            # with --resume, the files listed once here, those already in the output skipped
            todo = done.skip(iter_files(paths, pattern, recursive)) if done is not None else paths
            results = clf.read_files(todo, recursive=recursive, pattern=pattern, batch_size=batch_size,
                                     workers=workers, min_confidence=min_confidence)
        # the output opens (and a CSV header is written) only once the engine stands: a Ray that cannot
        # be joined, or a wrong model, writes nothing
        parquet = None
        if fmt is FormatChoice.parquet:
            parquet = stream = stream if done is not None else parquet_rows(stack, output, "read", 0)
        elif done is None:
            stream, fresh = open_stream(stack, output), True

        def make_writer() -> Any:
            return parquet if parquet is not None else ReadingWriter(stream, fmt.value, header=fresh)

        c = write_rows(results, make_writer, stream, output, update, resume)
    ran_on = ray_run.ran_on if ray_run is not None else clf.provider.upper()
    if not quiet:
        n, secs = c.rows, c.seconds
        note(f"{n:,} image{'' if n == 1 else 's'}: {n - c.failed:,} read"
             + (f" ({c.unsure:,} unsure, below {min_confidence:g})" if c.unsure else "") + ", "
             + (f"{c.blank:,} without a digit, " if c.blank else "") + f"{c.failed - c.blank:,} failed in {secs:.2f} s "
             f"({rate(n, secs)}) on {ran_on}, model {clf.model_path} ({clf.info.source})"
             + (f"; rows in {output}" if output else "")
             + (f" ({len(done):,} rows were there already)" if done is not None and len(done) else ""))
    if c.rows == 0 and not (done is not None and len(done)):  # resuming a finished run: nothing left is fine
        no_files(paths, pattern, recursive)
    raise typer.Exit(1 if c.failed else 0)
