"""The `mnist-onnx` command line. Commands parse, call the library, print; logic lives in the library."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from .errors import MnistOnnxError

def _plain_type(self, ctx) -> str | None:
    """Help without Typer's `<bool>`/`<list[Path]>` labels: flags show none, values their plain name."""
    if getattr(self, "is_flag", False):
        return None
    text = _typed(self, ctx)
    if not text:
        return text
    text = text.replace("<", "").replace(">", "").replace("list[", "").replace("]", "")
    return text if "|" in text else text.upper()  # choices as typed: auto|cpu|cuda


_typed = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = _plain_type  # type: ignore[method-assign]
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]  # metavar says it


def _console(stderr: bool = False):
    """A rich console that wraps only on a terminal: piped into a file or program, lines stay whole."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 100_000, soft_wrap=not stream.isatty())


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"mnist-onnx {__version__}")
        raise typer.Exit()


app = typer.Typer(
    help="Train the MNIST MLP and export it to ONNX; classify digit images with ONNX Runtime (CUDA or CPU).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Train the MNIST MLP and export it to ONNX; classify digit images with ONNX Runtime (CUDA or CPU)."""


class ProviderChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class InvertChoice(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class FormatChoice(str, Enum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"


class InkChoice(str, Enum):
    white_on_black = "white-on-black"
    black_on_white = "black-on-white"


class PresetChoice(str, Enum):
    tutorial = "tutorial"
    softmax = "softmax"
    mlp300 = "mlp300"
    mlp200 = "mlp200"
    sigmoid5 = "sigmoid5"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def note(message: str) -> None:
    typer.echo(message, err=True)


# --- shared options -----------------------------------------------------------------------------------

ModelOpt = Annotated[Optional[Path], typer.Option("--model", "-m", help="ONNX model. Default: $MNIST_ONNX_MODEL, else your last `export`, else the bundled model.")]
ProviderOpt = Annotated[ProviderChoice, typer.Option("--provider", "-p", help="auto: CUDA if it really works, else CPU.")]
DeviceOpt = Annotated[int, typer.Option("--device-id", help="CUDA device number.")]
InvertOpt = Annotated[InvertChoice, typer.Option("--invert", help="Ink polarity: auto decides per image (paper drawings and MNIST-style both work).")]
CenterOpt = Annotated[bool, typer.Option("--center/--no-center", help="Crop, fit to 20x20 and centre by mass, as MNIST was made.")]
MeanOpt = Annotated[Optional[float], typer.Option("--mean", help="Override the model's input mean (after scaling to 0..1).")]
StdOpt = Annotated[Optional[float], typer.Option("--std", help="Override the model's input standard deviation.")]
InkOpt = Annotated[Optional[InkChoice], typer.Option("--model-ink", help="Override the ink polarity the model expects.")]


def check_range(flag: str, value: float | None, low: float, high: float, what: str = "") -> None:
    """Exit 2 with one line naming the flag and its allowed range, before any work."""
    import math

    if value is None:
        return
    if not (math.isfinite(value) and low <= value <= high):
        def show(v: float) -> str:
            return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"

        raise fail(f"{flag} {value}: must be {what or 'a number'} from {show(low)} to {show(high)}")


def make_classifier(model, provider, device_id=0, invert=InvertChoice.auto, center=True, mean=None, std=None,
                    model_ink=None, **kwargs):
    """Open the model, or print one line and exit 2 (missing/corrupt/incompatible model, unusable provider)."""
    from ._classifier import Classifier

    check_range("--mean", mean, -1e6, 1e6)
    check_range("--std", std, 1e-6, 1e6, "a positive number")
    check_range("--device-id", device_id, 0, 1024, "a device number")
    check_range("--max-pixels", kwargs.get("max_pixels"), 1, 10**12, "a pixel count")
    try:
        return Classifier(model, provider=provider.value, device_id=device_id, invert=invert.value, center=center,
                          mean=mean, std=std, model_ink=model_ink.value if model_ink else None, **kwargs)
    except MnistOnnxError as e:
        raise fail(str(e)) from None


def announce(clf, quiet: bool = False) -> None:
    """The provider note (e.g. CUDA fell back to CPU), printed once the job is under way, not before an error."""
    if clf.provider_note and not quiet:
        note(f"note: {clf.provider_note}")


# --- export -------------------------------------------------------------------------------------------

@app.command()
def export(
    data: Annotated[Optional[Path], typer.Option("--data", "-d", help="Folder with MNIST IDX files (gz or raw). Default: download the official files into the user cache.")] = None,
    out: Annotated[Optional[Path], typer.Option("--output", "-o", "--out", help="Model file to write. Default: the user data folder, where `classify` finds it.")] = None,
    preset: Annotated[PresetChoice, typer.Option(help="Network and optimiser of a tutorial.")] = PresetChoice.tutorial,
    hidden: Annotated[Optional[str], typer.Option(help="Hidden layer widths, e.g. 512,256,128 ('' for none).")] = None,
    activation: Annotated[Optional[str], typer.Option(help="relu, sigmoid or tanh.")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Dropout before the output layer.")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adam or sgd.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Training batch size.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (early stopping may end sooner).")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Epochs without validation improvement before stopping.")] = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment", help="Random small rotations/shifts/zooms while training.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same model on CPU).")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
) -> None:
    """Train the MLP in TensorFlow, export it to ONNX, verify it against TensorFlow, write model + card + plots."""
    try:
        from mnist_onnx_export import make_config, validate
    except ImportError as e:
        raise fail(f"`mnist-onnx export` needs the export extra (missing {e.name}): pip install 'mnist-onnx[export]'") from None
    widths = None
    if hidden is not None:
        try:
            widths = tuple(int(w) for w in hidden.replace(" ", "").split(",") if w)
        except ValueError:
            raise fail(f"--hidden {hidden!r}: expected comma-separated integers like 512,256,128") from None
    options = dict(hidden=widths, activation=activation, dropout=dropout, optimizer=optimizer, learning_rate=lr,
                   batch_size=batch_size, epochs=epochs, patience=patience, augment=augment, seed=seed)
    try:  # every option, before TensorFlow is imported
        validate(make_config(preset.value, **options), opset)
    except ValueError as e:
        raise fail(str(e)) from None
    try:
        from mnist_onnx_export import export_model
    except ImportError as e:
        raise fail(f"`mnist-onnx export` needs the export extra (missing {e.name}): pip install 'mnist-onnx[export]'") from None
    try:
        result = export_model(data, out, preset=preset.value, opset=opset, **options)
    except (MnistOnnxError, PermissionError, ValueError) as e:
        raise fail(str(e)) from None
    m = result.card["metrics"]
    typer.echo(f"model: {result.model_path}  test accuracy {m['test_accuracy']:.2%}  validation {m['validation_accuracy']:.2%}")


# --- classify -----------------------------------------------------------------------------------------

@app.command()
def classify(
    paths: Annotated[list[Path], typer.Argument(help="Image files and/or folders.", show_default=False, metavar="PATH")],
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
) -> None:
    """Classify every image under PATHS: one row per file, a prediction or an error. Exit 1 if any file failed."""
    for path in paths:  # a typo in an argument is a usage error, not a row
        if not os.path.lexists(path):
            raise fail(f"{path}: no such file or folder")
    check_range("--top-k", top_k, 0, 10, "a count")
    check_range("--batch-size", batch_size, 1, 1 << 20, "a count")
    check_range("--workers", workers, 1, max(4, 4 * (os.cpu_count() or 1)), "a process count")
    from ._output import RowWriter
    from ._paths import atomic_write


    if output is not None:
        try:
            from ._paths import check_writable

            check_writable(output)
        except PermissionError as e:
            raise fail(str(e)) from None
    # Decoding is the bottleneck: leave it its core(s) and give inference the rest (at least one thread).
    threads = max(1, (os.cpu_count() or 1) - workers)
    clf = make_classifier(model, provider, device_id, invert, center, mean, std, model_ink,
                          max_pixels=max_pixels, threads=threads)
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output else ""
        fmt = FormatChoice(suffix) if suffix in ("csv", "jsonl") else (
            FormatChoice.table if output is None and sys.stdout.isatty() else FormatChoice.csv)
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
        stream = stack.enter_context(atomic_write(output, newline="", encoding="utf-8", errors="surrogateescape")) if output else sys.stdout
        if stream is sys.stdout:
            with contextlib.suppress(AttributeError, ValueError):
                sys.stdout.reconfigure(errors="surrogateescape")
        writer = RowWriter(stream, fmt.value, top_k)
        try:
            for r in clf.classify_files(paths, recursive=recursive, pattern=pattern, batch_size=batch_size,
                                        workers=workers, keep_probabilities=top_k > 0):
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
    if not quiet:
        note(f"{n:,} image{'' if n == 1 else 's'}: {n - failed:,} classified, "
             + (f"{blank:,} without a digit, " if blank else "") + f"{failed - blank:,} failed in {secs:.2f} s "
             f"({n / secs if secs else 0:,.0f} img/s) on {clf.provider.upper()}, model {clf.model_path} ({clf.info.source})"
             + (f"; rows in {output}" if output else ""))
    if n == 0:
        what = f"matching {pattern!r}" if pattern else "with an image extension"
        raise fail(f"no files {what} in {', '.join(map(str, paths))}" + ("" if recursive else " (add -r for sub-folders)"), 1)
    raise typer.Exit(1 if failed else 0)


# --- evaluate -----------------------------------------------------------------------------------------

@app.command()
def evaluate(
    path: Annotated[Path, typer.Argument(help="IDX dataset folder (its test split), a folder of images in digit sub-folders 0/..9/, or a labels CSV (file,label).", show_default=False, metavar="PATH")],
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON (accuracy at the top level).")] = False,
    report: Annotated[Optional[Path], typer.Option("--output", "-o", "--report", help="Folder for the confusion-matrix and misclassified-images PNGs.")] = None,
    workers: Annotated[int, typer.Option(help="Processes decoding PNGs in parallel.")] = 1,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
) -> None:
    """Accuracy, per-class precision/recall and the confusion matrix of a model on labelled digits."""
    import json

    from ._evaluate import evaluate_path

    check_range("--workers", workers, 1, max(4, 4 * (os.cpu_count() or 1)), "a process count")
    clf = make_classifier(model, provider, 0, invert, center, mean, std, model_ink)
    try:
        ev = evaluate_path(clf, path, keep_pixels=report is not None, workers=workers)
    except MnistOnnxError as e:
        raise fail(str(e)) from None
    finally:
        clf.close()
    announce(clf)
    for p, err in ev.unreadable:
        note(f"warning: {p}: {err}")
    written = []
    if report is not None:
        from ._pictures import confusion_png, misclassified_png

        wrong = ev.misclassified()
        try:
            report.mkdir(parents=True, exist_ok=True)
            written.append(confusion_png(ev.confusion, report / "confusion.png",
                                         f"{ev.accuracy:.2%} of {len(ev.labels):,} correct: {clf.model_path.name}"))
            written.append(misclassified_png(
                ev.pixels[wrong] if ev.pixels is not None else np.zeros((0, 28, 28)), ev.labels[wrong],
                ev.predictions[wrong], ev.confidences[wrong], report / "misclassified.png",
                f"{len(wrong):,} misclassified (true->predicted, confidence)" + (", first 100" if len(wrong) > 100 else "")))
        except OSError as e:
            raise fail(f"{report}: cannot write the report ({e.strerror or e})") from None
    if as_json:
        out = {**ev.to_dict(), "model": str(clf.model_path), "provider": clf.provider,
               "report": [str(p) for p in written]}
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{ev.accuracy:.2%}[/bold] accuracy ({int((ev.labels == ev.predictions).sum()):,} of "
                  f"{len(ev.labels):,}) on {ev.dataset} with {clf.model_path} ({clf.info.source}, {clf.provider.upper()})")
    per = Table(title="per class", title_justify="left")
    for col in ("digit", "support", "precision", "recall", "f1"):
        per.add_column(col, justify="right")
    for row in ev.per_class():
        per.add_row(str(row["digit"]), f"{row['support']:,}", f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}")
    console.print(per)
    cm_table = Table(title="confusion matrix (rows: true digit, columns: predicted)", title_justify="left")
    cm_table.add_column("", justify="right", style="bold")
    for d in range(10):
        cm_table.add_column(str(d), justify="right")
    for i, row in enumerate(ev.confusion):
        cm_table.add_row(str(i), *[f"[green]{v}[/green]" if i == j else (f"[red]{v}[/red]" if v else "·")
                                   for j, v in enumerate(row)])
    console.print(cm_table)
    for p in written:
        console.print(f"wrote {p}")


# --- show ---------------------------------------------------------------------------------------------

@app.command()
def show(
    images: Annotated[list[Path], typer.Argument(help="Image files.", show_default=False, metavar="IMAGE")],
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    save: Annotated[Optional[Path], typer.Option("--output", "-o", "--save", help="Folder for one PNG per image.")] = None,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
) -> None:
    """Draw the 28x28 input the model actually receives, and its ten probabilities as bars."""
    from rich.columns import Columns
    from rich.console import Console

    from .errors import ImageError

    if save is not None:  # a folder: checked before any work
        if save.exists() and not save.is_dir():
            raise fail(f"{save}: exists and is not a folder; --output takes a folder for the PNGs")
        try:
            save.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise fail(f"{save}: cannot create ({e.strerror or e})") from None
    clf = make_classifier(model, provider, 0, invert, center, mean, std, model_ink)
    announce(clf)
    console = Console()  # a drawing: laid out for a terminal's width (80 when piped), unlike tables
    failed = 0
    for path in images:
        try:
            pixels = clf.preprocess(path)[0]  # exactly what classify feeds the model
        except ImageError as e:
            note(f"error: {e}")
            failed += 1
            continue
        probs = clf.predict_pixels(pixels[None])[0]
        from ._preprocess import NO_DIGIT, no_digit
        from ._terminal import bars_text, digit_text

        if no_digit(pixels[None])[0]:
            note(f"{path}: {NO_DIGIT}")
            failed += 1
            continue

        console.print(f"[bold]{path}[/bold]: [bold red]{int(probs.argmax())}[/bold red] ({probs.max():.1%})")
        console.print(Columns([digit_text(pixels, console), bars_text(probs)], padding=(0, 4)))
        if save is not None:
            from ._pictures import show_png

            try:
                out = show_png(pixels, probs, save / f"{path.stem}.show.png",
                               f"{path.name}: {int(probs.argmax())} ({probs.max():.1%})")
            except OSError as e:
                raise fail(f"{save / f'{path.stem}.show.png'}: cannot write ({e.strerror or e})") from None
            console.print(f"wrote {out}")
    raise typer.Exit(1 if failed else 0)


# --- info ---------------------------------------------------------------------------------------------

@app.command()
def info(
    model: Annotated[Optional[Path], typer.Argument(help="ONNX model (default: the one classify would use).", show_default=False, metavar="MODEL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The model card: inputs/outputs, preprocessing contract, metrics, training config, data, versions."""
    import json

    from ._model import model_summary

    try:
        summary = model_summary(model)
    except MnistOnnxError as e:
        raise fail(str(e)) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = _console()
    table = Table(title=f"{summary['path']} ({summary['source']})", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()

    def section(name: str) -> None:
        table.add_row(f"[underline]{name}[/underline]", "")

    section("model")
    for io in summary["inputs"] + summary["outputs"]:
        table.add_row(f"  {io['role']} {io['name']}", f"{io['type']} {io['shape']}")
    table.add_row("  output kind", summary["output_kind"])
    table.add_row("  size", f"{summary['bytes']:,} bytes, sha256 {summary['sha256'][:16]}…")
    section("preprocessing")
    for k, v in summary["preprocessing"].items():
        table.add_row(f"  {k}", str(v))
    card = summary.get("card")
    if not card:
        table.add_row("  model card", "none: not exported by mnist-onnx (flags --mean/--std/--model-ink set the contract)")
    else:
        section("model card")
        table.add_row("  name", card.get("name", ""))
        table.add_row("  architecture", card.get("architecture", ""))
        section("metrics")
        for k, v in card.get("metrics", {}).items():
            if isinstance(v, dict):
                v = ", ".join(f"{a}={b:.3g}" if isinstance(b, float) else f"{a}={b}" for a, b in v.items())
            elif isinstance(v, float) and v <= 1:
                v = f"{v:.2%}"
            table.add_row(f"  {k}", str(v))
        section("training config")
        for k, v in card.get("config", {}).items():
            table.add_row(f"  {k}", str(v))
        section("data")
        data = card.get("data", {})
        table.add_row("  source", str(data.get("source")))
        table.add_row("  images", f"{data.get('train_images', 0):,} train (incl. validation) / {data.get('test_images', 0):,} test")
        for name, digest in data.get("sha256", {}).items():
            table.add_row(f"  {name}", digest)
        section("versions")
        for k, v in card.get("versions", {}).items():
            table.add_row(f"  {k}", str(v))
        table.add_row("  created", str(card.get("created")))
    console.print(table)


# --- serve --------------------------------------------------------------------------------------------

@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    device_id: DeviceOpt = 0,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
    max_pixels: Annotated[int, typer.Option(help="Reject images with more pixels (decompression-bomb guard).")] = 50_000_000,
    max_upload_mb: Annotated[float, typer.Option(help="Largest request body, MiB (413 beyond).")] = 16.0,
    max_files: Annotated[int, typer.Option(help="Most files in one request (413 beyond).")] = 1000,
    batching: Annotated[bool, typer.Option("--batching/--no-batching", help="Merge concurrent requests into shared model calls.")] = True,
) -> None:
    """Serve a drawing page and an HTTP API (POST /v1/classify) until Ctrl-C or SIGTERM."""
    check_range("--port", port, 1, 65535, "a port number")
    check_range("--max-upload-mb", max_upload_mb, 0.001, 1 << 20, "a size in MiB")
    check_range("--max-files", max_files, 1, 1 << 20, "a count")
    try:
        from ._server import run
    except ImportError as e:
        raise fail(f"serve needs the server extra ({e.name} is missing): pip install \"mnist-onnx[serve]\"") from None
    import socket

    try:  # one clear line for a port in use, before the model loads
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as e:
        raise fail(f"cannot listen on {host}:{port} ({e.strerror})") from None
    clf = make_classifier(model, provider, device_id, invert, center, mean, std, model_ink, max_pixels=max_pixels)
    announce(clf)
    run(clf, host, port, max_upload_mb=max_upload_mb, max_files=max_files, batching=batching,
        on_ready=lambda url: note(f"serving {url} (model {clf.model_path}, {clf.provider.upper()}); Ctrl-C to stop"))


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends the command like Ctrl-C does: cleanup runs (no .part file, no orphan worker), exit 143."""
    raise SystemExit(128 + signum)


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)  # the command line owns this process; the library never does this
    if hasattr(signal, "SIGXFSZ"):  # past `ulimit -f`, a write should fail with EFBIG, not kill us mid-file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        app()
    except BrokenPipeError:  # `mnist-onnx classify ... | head -1`: the reader left; stop quietly
        import os

        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
