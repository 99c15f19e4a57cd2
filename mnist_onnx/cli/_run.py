"""The runner `classify` and `read` share once their options are parsed: the model opened where it will run
(here, or checked apart for Ray's actors), the engine (local with its pool, or Ray), resume, the output in
its format, progress, the summary line and the exit code. Each command says only what its task is (`Task`):
the engine's task by name, and its rows' schema."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from ..errors import MnistOnnxError
from ._app import (ActorCpusOpt, ActorsOpt, DeviceOpt, EngineChoice, EngineOpt, FormatChoice, FormatOpt,
                   MaxPixelsOpt, ModelOpt, PathsArg, PatternOpt, ProviderChoice, ProviderOpt, QuietOpt,
                   RayAddressOpt, RecursiveOpt, ResumeOpt, RowsOutputOpt, announce, check_model_elsewhere, fail,
                   make_classifier, note)
from ._rows import (check_inputs, check_some_files, file_count, keep_stdout_for_rows, listing, no_files, open_stream,
                    output_path, parquet_rows, progress, rate, resume_into, shows_progress, start_ray, write_rows)

if TYPE_CHECKING:
    from .._engines import Engine
    from .._schema import Schema


@dataclass(frozen=True)
class Task:
    """What one command makes of the files: the engine's task by name ("classify" | "read"), the summary's
    verb, its rows' schema (`_schema`: every format's columns and the resume check) and the task's options."""

    name: str
    done: str  # "classified" | "read"
    rows: Schema
    options: dict[str, bool] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """The options every rows command takes, as parsed."""

    paths: list[str]
    provider: ProviderChoice
    device_id: int
    recursive: bool
    pattern: Optional[str]
    fmt: Optional[FormatChoice]
    output: Optional[Path]
    batch_size: int
    workers: int
    max_pixels: int
    quiet: bool
    resume: bool
    engine: EngineChoice
    ray_address: Optional[str]
    actors: Optional[int]
    actor_cpus: float

    @property
    def ray_engine(self) -> bool:
        return self.engine is EngineChoice.ray


_FIRST = [("paths", PathsArg, inspect.Parameter.empty), ("model", ModelOpt, None),
          ("provider", ProviderOpt, ProviderChoice.auto), ("device_id", DeviceOpt, 0),
          ("recursive", RecursiveOpt, False), ("pattern", PatternOpt, None), ("fmt", FormatOpt, None),
          ("output", RowsOutputOpt, None)]
_LAST = [("max_pixels", MaxPixelsOpt, 50_000_000), ("quiet", QuietOpt, False), ("resume", ResumeOpt, False),
         ("engine", EngineOpt, EngineChoice.local), ("ray_address", RayAddressOpt, None), ("actors", ActorsOpt, None),
         ("actor_cpus", ActorCpusOpt, 1.0)]


def rows_command(func: Callable[..., None]) -> Callable[..., None]:
    """A rows command (`classify`, `read`) written as `func(run, model, <its own options>)`: Typer sees the
    options every rows command takes (`Run`'s, and --model) around the command's own, declared once here.
    *model* may carry its own option (an `Annotated` type: its help); else the digit models' `ModelOpt`.
    The command's own options must include `batch_size` and `workers` (their defaults and help differ)."""
    signature = list(inspect.signature(func, eval_str=True).parameters.values())
    own = signature[2:]  # after (run, model)
    model_opt = signature[1].annotation if hasattr(signature[1].annotation, "__metadata__") else ModelOpt
    fields = {f.name for f in dataclasses.fields(Run)}
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=model_opt if name == "model" else kind, default=default)
              for name, kind, default in _FIRST] + own + \
             [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=kind, default=default)
              for name, kind, default in _LAST]

    def command(**options: Any) -> None:
        run = check(Run(**{name: options.pop(name) for name in list(options) if name in fields}))
        func(run, options.pop("model"), **options)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__, command.__qualname__, command.__doc__ = func.__name__, func.__qualname__, func.__doc__
    command.__module__ = func.__module__
    return command


def check(run: Run) -> Run:
    """The checks before any model opens; returns the run with its output path resolved."""
    run = dataclasses.replace(run, output=output_path(run.output))
    check_inputs(run.paths, run.ray_engine, run.workers, run.batch_size, run.ray_address, run.actors, run.actor_cpus,
                 run.output, run.pattern, run.recursive)
    check_some_files(run.paths, run.pattern, run.recursive, run.resume)
    return run


SMALL_JOB = 16  # files: CUDA's start-up (a context, cuBLAS, cuDNN: about a second) costs more than CPU takes


def small_job(paths: list[str]) -> bool:
    """A few files named one by one (no folder): `auto` runs them on CPU rather than start CUDA."""
    return len(paths) <= SMALL_JOB and all(os.path.isfile(p) for p in paths)


def open_model(run: Run, model: Optional[str], task: str, **prep: Any) -> Any:
    """The Classifier (local), or for Ray what the driver needs of one, checked in a process of its own (the
    actors run the model). `auto` with a few named files stays on CPU: they are done before a CUDA context
    would be up."""
    from .._engine import inference_threads

    if run.ray_engine:
        return check_model_elsewhere(model, device_id=run.device_id, max_pixels=run.max_pixels, threads=1, task=task,
                                     **prep)
    here = ProviderChoice.cpu if run.provider is ProviderChoice.auto and small_job(run.paths) else run.provider
    return make_classifier(model, here, run.device_id, max_pixels=run.max_pixels,
                           threads=inference_threads(run.workers), task=task, **prep)


def open_engine(run: Run, clf: Any) -> Engine:
    """The engine --engine names: here, *clf* with its decoding processes; or Ray's actors (started or
    joined here, stdout kept for the rows alone)."""
    if not run.ray_engine:
        from .._engines import LocalEngine

        return LocalEngine(clf, run.workers)
    from ..ray import RayEngine

    if run.output is None:
        keep_stdout_for_rows()
    start_ray(run.ray_address)
    return RayEngine(clf.model_path, dataclasses.replace(clf.options, provider=run.provider.value),
                     actors=run.actors, num_cpus=run.actor_cpus, checked=True)


def run_rows(task: Task, run: Run, clf: Any, threshold: float) -> None:
    """Run *task* over the files with *clf* at *threshold*, write the rows, print the summary, exit."""
    from .._writers import choose_format, writer

    fmt = FormatChoice(choose_format(run.fmt.value if run.fmt else None, run.output, sys.stdout.isatty()))
    if fmt is FormatChoice.parquet and run.output is None:
        raise fail("Parquet goes to a file: add -o rows.parquet")
    announce(clf, run.quiet)

    with contextlib.ExitStack() as stack:
        stack.callback(clf.close)  # decoding processes stop with the command, however it ends
        done = None
        if run.resume:
            done, stream, fresh = resume_into(stack, run.output, fmt.value, task.rows, clf.model_path)
        paths: Any = run.paths
        skip = done
        count = file_count(run.paths, run.pattern, run.recursive, done)
        if count is not None and not run.ray_engine and shows_progress(run.quiet):  # one walk for the bar and the run
            paths = listing(stack, run.paths, run.pattern, run.recursive, done)
            count, skip = paths.total, None
        update = progress(stack, run.quiet, task.name, count)
        engine = open_engine(run, clf)
        try:
            results = engine.rows(task.name, paths, recursive=run.recursive, pattern=run.pattern,
                                  batch_size=run.batch_size, min_confidence=threshold, skip=skip, **task.options)
        except MnistOnnxError as e:
            raise fail(e) from None
        # the output opens (and a CSV header is written) only once the engine stands: a Ray that cannot
        # be joined, or a wrong model, writes nothing
        parquet = None
        if fmt is FormatChoice.parquet:
            parquet = stream = stream if done is not None else parquet_rows(stack, run.output, task.rows)
        elif done is None:
            stream, fresh = open_stream(stack, run.output), True

        def make_writer() -> Any:
            return parquet if parquet is not None else writer(fmt.value, stream, task.rows, header=fresh)

        c = write_rows(results, make_writer, stream, run.output, update, run.resume)
    ran_on = engine.ran_on
    if not run.quiet:
        n, secs = c.rows, c.seconds
        note(f"{n:,} image{'' if n == 1 else 's'}: {n - c.failed:,} {task.done}"
             + (f" ({c.unsure:,} unsure, below {threshold:g})" if c.unsure else "") + ", "
             + (f"{c.blank:,} without a digit, " if c.blank else "") + f"{c.failed - c.blank:,} failed in {secs:.2f} s "
             f"({rate(n, secs)}) on {ran_on}, model {clf.model_path} ({clf.info.source})"
             + (f"; rows in {run.output}" if run.output else "")
             + (f" ({len(done):,} rows were there already)" if done is not None and len(done) else ""))
    if c.rows == 0 and not (done is not None and len(done)):  # resuming a finished run: nothing left is fine
        no_files(run.paths, run.pattern, run.recursive)
    raise typer.Exit(1 if c.failed else 0)
