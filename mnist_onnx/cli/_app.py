"""What every command shares: the Typer app, option types, one-line errors, opening a classifier."""

from __future__ import annotations

import contextlib
import io
import math
import re
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, Optional

import typer

from .._version import __version__
from ..errors import MnistOnnxError


def rich_console(stderr: bool = False):
    """A rich console that wraps only on a terminal: piped into a file or program, lines stay whole."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 100_000, soft_wrap=not stream.isatty())


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mnist-onnx {__version__}")
        raise typer.Exit()


def _plain_usage() -> None:
    """Typer writes a required argument as `{PATH...}` in usage lines; the usual `PATH...` reads better (#31).
    The command line owns its process, so its Typer may be adjusted here; the library never does this."""
    from typer.core import TyperArgument

    made = TyperArgument.make_metavar
    if getattr(made, "_mnist_onnx", False):
        return

    def make_metavar(self: Any, *args: Any, **kwargs: Any) -> str:
        var = made(self, *args, **kwargs)
        return var[1:-1] if var.startswith("{") and var.endswith("}") else var

    make_metavar._mnist_onnx = True  # type: ignore[attr-defined]
    TyperArgument.make_metavar = make_metavar  # type: ignore[method-assign]


_plain_usage()

_ABOUT = ("Read handwritten digits (classify) and whole numbers (read) with ONNX Runtime on CUDA or CPU, from the "
          "command line or a page and HTTP API (serve); train the MNIST MLP in TensorFlow and export it to ONNX.")

app = typer.Typer(
    help=_ABOUT,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """Read handwritten digits (classify) and whole numbers (read) with ONNX Runtime on CUDA or CPU, from the
    command line or a page and HTTP API (serve); train the MNIST MLP in TensorFlow and export it to ONNX."""


class ProviderChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class EngineChoice(str, Enum):
    local = "local"
    ray = "ray"


class InvertChoice(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class FormatChoice(str, Enum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


class InkChoice(str, Enum):
    white_on_black = "white-on-black"
    black_on_white = "black-on-white"


class PresetChoice(str, Enum):
    tutorial = "tutorial"
    softmax = "softmax"
    mlp300 = "mlp300"
    mlp200 = "mlp200"
    sigmoid5 = "sigmoid5"
    cnn = "cnn"
    reader = "reader"


closed_streams: set[str] = set()  # standard streams the command was started without (`>&-`), now /dev/null


_FLAGS = {"learning_rate": "--lr", "concurrency": "--actors"}  # where a flag is not the parameter's name


def flagged(error: BaseException) -> str:
    """An error's one line as the command line says it: the argument it is about (`parameter`) by its flag --
    the library names `batch_size` or `concurrency`, the command line `--batch-size` or `--actors`."""
    text, name = str(error), getattr(error, "parameter", None)
    if name:  # named at the start (`batch_size 0: ...`) or in parentheses (`... (resume); ...`)
        flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
        text = re.sub(rf"^{re.escape(name)}(?= )", flag, text)
        head, found, tail = text.rpartition(f"({name})")  # the last: a path, which comes first, may hold anything
        text = f"{head}({flag}){tail}" if found else text
    return text


def fail(message: str | BaseException, code: int = 2) -> typer.Exit:
    """Print one line on stderr (an error: `flagged`) and return the Exit to raise."""
    typer.echo(f"error: {message if isinstance(message, str) else flagged(message)}", err=True)
    return typer.Exit(code)


def note(message: str) -> None:
    typer.echo(message, err=True)


# --- shared options -----------------------------------------------------------------------------------

ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", show_default=False, help="ONNX model file, or a bundled model by name: mlp (the default) or cnn. Default: $MNIST_ONNX_MODEL, else your last `export`, else the bundled mlp.")]
ReadModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", show_default=False, help="ONNX model file, or a bundled model by name: reader (the default), or mlp or cnn to cut the number into digits. Default: your last `export --preset reader`, else the bundled reader ($MNIST_ONNX_MODEL is classify's).")]
MinConfidenceOpt = Annotated[Optional[float], typer.Option("--min-confidence", help="Digits read with a lower confidence get status unsure (the digit is still given). Default: the model's own, chosen by measurement (`mnist-onnx info`); 0: never unsure.")]
ProviderOpt = Annotated[ProviderChoice, typer.Option("--provider", "-p", help="auto: CUDA if it really works, else CPU.")]
DeviceOpt = Annotated[int, typer.Option("--device-id", help="CUDA device number.")]
InvertOpt = Annotated[InvertChoice, typer.Option("--invert", help="Ink polarity: auto decides per image (paper drawings and MNIST-style both work).")]
CenterOpt = Annotated[bool, typer.Option("--center/--no-center", help="Crop, fit to 20x20 and centre by mass, as MNIST was made.")]
MeanOpt = Annotated[Optional[float], typer.Option("--mean", help="Override the model's input mean (after scaling to 0..1).")]
StdOpt = Annotated[Optional[float], typer.Option("--std", help="Override the model's input standard deviation.")]
InkOpt = Annotated[Optional[InkChoice], typer.Option("--model-ink", help="Override the ink polarity the model expects.")]

# --- what classify and read share -------------------------------------------------------------------

PathsArg = Annotated[list[str], typer.Argument(help="Image files and/or folders (with --engine ray also s3://, gs://, ... URIs).", show_default=False, metavar="PATH...")]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders.")]
PatternOpt = Annotated[Optional[str], typer.Option(help="File-name pattern inside folders, case-insensitive. Default: any image (png, jpg, jpeg, gif, bmp, tif, tiff, webp, ppm, pgm, pbm).", show_default=False)]
FormatOpt = Annotated[Optional[FormatChoice], typer.Option("--format", "-f", help="Default: table on a terminal, else csv (or from --output's suffix: .csv, .jsonl, .parquet). parquet needs the parquet extra and -o.")]
RowsOutputOpt = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write rows here (atomically) instead of stdout (- is stdout).")]
MaxPixelsOpt = Annotated[int, typer.Option(help="Reject images with more pixels (decompression-bomb guard).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No summary line, no notes.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: keep the rows already in --output (a torn last row is cut off; Parquet: journalled beside it), skip their files, append the rest.")]
EngineOpt = Annotated[EngineChoice, typer.Option(help="local: this machine; ray: Ray Data actors, here or on a cluster (needs the ray extra).")]
RayAddressOpt = Annotated[Optional[str], typer.Option(help="Ray cluster to join (e.g. ray://head:10001 or auto). Default: $RAY_ADDRESS, else a local Ray.", show_default=False)]
ActorsOpt = Annotated[Optional[int], typer.Option(help="Ray actors (model copies). Default: one per GPU with --provider cuda, else the cluster's CPUs minus one.", show_default=False)]
ActorCpusOpt = Annotated[float, typer.Option(help="CPUs Ray reserves per actor.")]


def check_range(flag: str, value: float | None, low: float, high: float, what: str = "") -> None:
    """Exit 2 with one line naming the flag and its allowed range, before any work."""
    if value is None:
        return
    if not (math.isfinite(value) and low <= value <= high):
        def show(v: float) -> str:
            return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"

        raise fail(f"{flag} {value}: must be {what or 'a number'} from {show(low)} to {show(high)}")


def make_classifier(model, provider, device_id=0, invert=InvertChoice.auto, center=True, mean=None, std=None,
                    model_ink=None, task="classify", **kwargs):
    """Open the model, or print one line and exit 2 (missing/corrupt/incompatible model, unusable provider,
    a number reader where digits are classified). *task*: `classify` takes digit models; `read` any."""
    from .._classifier import Classifier

    check_range("--mean", mean, -1e6, 1e6)
    check_range("--std", std, 1e-6, 1e6, "a positive number")
    check_range("--device-id", device_id, 0, 1024, "a device number")
    check_range("--max-pixels", kwargs.get("max_pixels"), 1, 10**12, "a pixel count")
    if provider is not ProviderChoice.cpu:
        from .._model import gpu_present, preload_cuda_dlls

        if gpu_present():  # onnxruntime prints what it cannot load; we say it in one line (this process is ours)
            with contextlib.redirect_stdout(io.StringIO()):
                preload_cuda_dlls()
    try:
        clf = Classifier(model, provider=provider.value, device_id=device_id, invert=invert.value, center=center,
                         mean=mean, std=std, model_ink=model_ink.value if model_ink else None, **kwargs)
    except MnistOnnxError as e:
        raise fail(e) from None
    if task == "classify" and clf.reads_lines:
        raise fail(reader_refused(clf.model_path))
    return clf


def reader_refused(path: Any) -> str:
    return (f"{path} is a number reader (a sequence model): it reads whole numbers with `mnist-onnx read`; "
            "single digits take a digit model (mlp, cnn)")


@dataclass(frozen=True)
class CheckedModel:
    """A model opened and checked in a short-lived process of its own, for a Ray run: what the driver needs
    (the path, the options, the model's threshold and where it came from) without ONNX Runtime and a session
    in the driver (~35 MiB of a driver whose memory should follow the listing, not the model)."""

    model_path: Path
    options: Any
    min_confidence: float
    source: str
    provider: str = "cpu"
    provider_note: Optional[str] = None
    threshold_note: Optional[str] = None
    reads_lines: bool = False

    @property
    def info(self) -> SimpleNamespace:
        return SimpleNamespace(source=self.source)

    def threshold(self, min_confidence: Optional[float] = None, task: str = "classify") -> float:
        from .._model import decide_threshold

        return decide_threshold(min_confidence, self.min_confidence, self.reads_lines, task)  # the same rule

    def close(self) -> None:
        pass


def _check_model(model: Any, kwargs: dict[str, Any], task: str = "classify") -> tuple[str, Any]:
    """In the checking process: ("ok", CheckedModel) or ("error", the one line)."""
    from .._classifier import Classifier

    try:
        clf = Classifier(model, **kwargs)
    except MnistOnnxError as e:
        return "error", str(e)
    try:
        if task == "classify" and clf.reads_lines:
            return "error", reader_refused(clf.model_path)
        return "ok", CheckedModel(clf.model_path, clf.options, clf.min_confidence, clf.info.source,
                                  threshold_note=clf.info.threshold_note, reads_lines=clf.reads_lines)
    finally:
        clf.close()


def check_model_elsewhere(model, invert=InvertChoice.auto, center=True, mean=None, std=None, model_ink=None,
                          task="classify", **kwargs) -> CheckedModel:
    """`make_classifier` for a Ray run (CPU, in a spawned process): one line and exit 2 if the model or an
    option is wrong, before Ray starts."""
    import concurrent.futures
    import multiprocessing

    check_range("--mean", mean, -1e6, 1e6)
    check_range("--std", std, 1e-6, 1e6, "a positive number")
    check_range("--max-pixels", kwargs.get("max_pixels"), 1, 10**12, "a pixel count")
    options = dict(provider="cpu", invert=invert.value, center=center, mean=mean, std=std,
                   model_ink=model_ink.value if model_ink else None, **kwargs)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        status, value = pool.submit(_check_model, model, options, task).result()
    if status == "error":
        raise fail(value)
    return value


def announce(clf, quiet: bool = False) -> None:
    """The provider note (e.g. CUDA fell back to CPU), printed once the job is under way, not before an error."""
    if clf.provider_note and not quiet:
        note(f"note: {clf.provider_note}")
    threshold_note = getattr(clf, "threshold_note", None) or getattr(getattr(clf, "info", None), "threshold_note", None)
    if threshold_note and not quiet:
        note(f"note: {threshold_note}")
