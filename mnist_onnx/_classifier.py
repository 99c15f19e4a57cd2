"""The Classifier: the library's façade over one model (`_model.Model`, opened by `open_model`) and the
engine's tasks (`task`): predictions on arrays, PIL images or files, numbers read, files streamed."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

import numpy as np
from PIL import Image

from ._chunk import Classify, Item, decode_chunk, item_name
from ._schema import FileResult
from ._engine import Task, run_chunks, run_items
from ._files import iter_files
from ._model import Ink, ModelInfo, Provider, open_model
from .image.levels import Invert
from ._defaults import CHUNK, MODEL_BATCH, READ_CHUNK
from ._formats import DEFAULT_MAX_PIXELS
from .image.normal import PreprocessConfig
from .errors import ImageError, ModelError, Status, UsageError, about

if TYPE_CHECKING:  # the decoding processes' module (sockets, subprocesses) loads only when workers > 1
    from ._evaluate import Evaluation
    from ._schema import Reading
    from ._workers import DecoderPool

T = TypeVar("T")
ImageLike = Union[str, Path, Image.Image]
Inputs = Union[np.ndarray, ImageLike, Sequence[Union[np.ndarray, ImageLike]]]


@dataclass(frozen=True)
class Prediction:
    """The model's reading of one image. `digit` is None (confidence 0) when preprocessing found no digit in
    an image or file (a blank page): such an image is not classified, whatever the model would say."""

    digit: int | None
    confidence: float
    probabilities: np.ndarray  # (10,)
    unsure: bool = False  # below the minimum confidence: the digit is the model's best guess, check it

    @property
    def status(self) -> Status:
        """As rows and Readings say it: `ok`, `unsure` (read, below the minimum confidence) or `no-digit`."""
        return Status.NO_DIGIT if self.digit is None else (Status.UNSURE if self.unsure else Status.OK)

    def top_k(self, k: int) -> list[tuple[int, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(int(d), float(self.probabilities[d])) for d in order]


@dataclass(frozen=True)
class Options:
    """Everything a Classifier is made of besides its model file: one value that the library, the command
    line, the server and the Ray actors share, so that no front end lists the options again (or drops one).
    `Classifier(model, **dataclasses.asdict(options))` makes the same Classifier."""

    provider: Provider = "auto"
    device_id: int = 0
    invert: Invert = "auto"
    center: bool = True
    mean: float | None = None
    std: float | None = None
    scale: float | None = None
    model_ink: Ink | None = None
    threads: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS


class Classifier:
    """Classify handwritten digits with an ONNX model.

    >>> clf = Classifier()                      # bundled model, CUDA if it really works, else CPU
    >>> clf.predict(x_test[:5]).argmax(1)       # MNIST arrays: (N, 28, 28) uint8, white on black
    >>> clf.classify("samples/seven.png")       # files and PIL images go through the full preprocessing

    Arrays are taken to be MNIST-style already (white ink on black, 0..255 uint8 or 0..1 float); files and
    PIL images are decoded, polarity-corrected and brought to MNIST's normal form (see `load_image`).
    """

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        provider: Provider = "auto",
        device_id: int = 0,
        invert: Invert = "auto",
        center: bool = True,
        mean: float | None = None,
        std: float | None = None,
        scale: float | None = None,
        model_ink: Ink | None = None,
        threads: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        self._decoders: DecoderPool | None = None
        self._digit_model: Classifier | None = None  # a reader's companion for one-digit lines (_line_models)
        self._lock = threading.Lock()  # one Classifier may serve several threads
        self.options = Options(provider, device_id, invert, center, mean, std, scale, model_ink, threads, max_pixels)
        self.model = open_model(model, provider=provider, device_id=device_id, threads=threads, mean=mean, std=std,
                                scale=scale, ink=model_ink)
        self.session, self.provider, self.provider_note = self.model.session, self.model.provider, self.model.provider_note
        self.info: ModelInfo = self.model.info
        self.config = PreprocessConfig(invert, center, max_pixels)

    @property
    def model_path(self) -> Path:
        return self.info.path

    @property
    def invert(self) -> Invert:
        return self.config.invert

    @property
    def center(self) -> bool:
        return self.config.center

    @property
    def max_pixels(self) -> int:
        return self.config.max_pixels

    @property
    def min_confidence(self) -> float:
        """The default threshold for `unsure`: the model's own (its card says how it was chosen), else 0."""
        return self.info.min_confidence

    @property
    def reads_lines(self) -> bool:
        """A sequence reader (`reader`): reads a number's whole line; `read` only."""
        return self.model.reads_lines

    def threshold(self, min_confidence: float | None = None, task: str = "classify") -> float:
        """The minimum confidence *task* ("classify" or "read") uses with this model: *min_confidence*
        checked, or by default the model's own (`_model.decide_threshold`)."""
        return self.model.threshold(min_confidence, task)

    def run_lines(self, lines: np.ndarray) -> np.ndarray:
        """A sequence reader's (N, frames, 11) probabilities for (N, 32, W) lines (`image.line.to_input`)."""
        return self.model.run_lines(lines)

    def _line_models(self):
        """The sequence reader and, for lines of one digit, classify's model (the default one, as `classify`
        would open it, with this Classifier's options), opened on first use."""
        from ._sequence import LineModels

        with self._lock:
            if self._digit_model is None:
                self._digit_model = Classifier(None, **asdict(self.options))
                if self._digit_model.reads_lines:  # $MNIST_ONNX_MODEL names a reader: the bundled MLP then
                    self._digit_model = Classifier("mlp", **asdict(self.options))
        return LineModels(self.run_lines, self._digit_model.predict_pixels)

    def task(self, name: str, min_confidence: float | None = None, **options: bool) -> tuple[Task, Any]:
        """The engine's task *name* with this model (`"classify"`: *options* keep_probabilities, keep_pixels;
        `"read"`: the sequence reader's lines, or the segmentation over a digit model) at its threshold
        (`threshold`), and the model it runs. The one place a task meets a model kind: every front end gets
        its work from here."""
        threshold = self.threshold(min_confidence, name)
        if name == "classify":
            return Classify(threshold, **options), self.predict_pixels
        if name != "read":
            raise UsageError(f"task {name!r}: choose classify or read")
        if self.reads_lines:
            from ._sequence import Lines

            return Lines(threshold), self._line_models()
        from ._read import Segment

        return Segment(threshold), self.predict_pixels

    def read_items(self, items: Sequence[Item], min_confidence: float | None = None) -> list[Reading]:
        """Read one chunk of items (paths, (name, bytes) uploads, PIL images) with this model: the sequence
        reader's lines, or the segmentation over a digit model. The server and the Ray actors call this."""
        task, model = self.task("read", min_confidence)
        return run_items(items, task, self.config, model)

    def __repr__(self) -> str:
        return f"Classifier(model={str(self.model_path)!r}, provider={self.provider!r})"

    # --- core: (N, 28, 28) [0, 1] white-on-black -> (N, 10) probabilities ---------------------------------

    def predict_pixels(self, x: np.ndarray, batch_size: int = MODEL_BATCH) -> np.ndarray:
        """Probabilities for images already preprocessed to (N, 28, 28) float32 in [0, 1], white on black."""
        if self.reads_lines:
            raise UsageError(f"{self.model_path} is a number reader (a sequence model): it reads whole numbers "
                             "(read), not single digits; classify with a digit model (mlp, cnn)")
        x = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28)
        out = np.empty((len(x), 10), np.float32)
        for start in range(0, len(x), batch_size):
            out[start : start + batch_size] = self.model.predict(x[start : start + batch_size])
        return out

    # --- conveniences ----------------------------------------------------------------------------------

    def classify_files(self, paths: Iterable[str | Path] | str | Path, *, recursive: bool = False,
                       pattern: str | None = None, batch_size: int = CHUNK, workers: int = 1,
                       keep_probabilities: bool = False, keep_pixels: bool = False,
                       min_confidence: float | None = None) -> Iterator[FileResult]:
        """Yield a FileResult (digit, confidence or error) for every matching file under *paths*, in order.

        Streams: memory stays bounded whatever the number of files; a bad file gets an error, never an
        exception. *keep_pixels* keeps on each row the (28, 28) input the model saw. A digit read with less
        than *min_confidence* (default: the model's own, `min_confidence`) has status `unsure`."""
        return self.run_files("classify", paths, recursive=recursive, pattern=pattern, batch_size=batch_size,
                              workers=workers, min_confidence=min_confidence, keep_probabilities=keep_probabilities,
                              keep_pixels=keep_pixels)

    def read(self, inputs: ImageLike | bytes | Sequence[ImageLike | bytes], *,
             min_confidence: float | None = None) -> Reading | list[Reading]:
        """Read the whole number in an image -- a path, a PIL image or an image file's bytes: one Reading
        (`number`, `confidence`, `status`, `digits` with their boxes), or a list of them for a list.

        With the sequence reader (`Classifier("reader")`) each image's line is read whole; with a digit
        model the number is cut into candidate digits, the digits of all the images sharing the model's calls
        (an image of one digit then reads as exactly `classify`'s digit). *min_confidence*: None is the
        reader's own threshold (0.9 for a digit model's segmentation). Never raises for a bad image: its
        Reading has the error."""
        threshold = self.threshold(min_confidence, "read")
        if isinstance(inputs, np.ndarray) or not isinstance(inputs, (str, Path, Image.Image, bytes, bytearray,
                                                                      memoryview, Sequence)):
            raise UsageError(f"inputs: a {type(inputs).__name__}; read takes a path, a PIL image or an image "
                             "file's bytes, or a list of them (an array: PIL.Image.fromarray(a))")
        single = isinstance(inputs, (str, Path, Image.Image, bytes, bytearray, memoryview))
        items = [inputs] if single else list(inputs)  # type: ignore[arg-type]
        work = [("<bytes>", bytes(i)) if isinstance(i, (bytes, bytearray, memoryview)) else
                i if isinstance(i, Image.Image) else str(i) for i in items]
        out = self.read_items(work, threshold)
        return out[0] if single else out

    def read_files(self, paths: Iterable[str | Path] | str | Path, *, recursive: bool = False,
                   pattern: str | None = None, batch_size: int = READ_CHUNK, workers: int = 1,
                   min_confidence: float | None = None) -> Iterator[Reading]:
        """Yield a Reading for every matching file under *paths*, in order, like `classify_files`: memory
        bounded whatever the number of files; a bad file gets an error, never an exception."""
        return self.run_files("read", paths, recursive=recursive, pattern=pattern, batch_size=batch_size,
                              workers=workers, min_confidence=min_confidence)

    def run_files(self, name: str, paths: Iterable[str | Path] | str | Path, *, recursive: bool = False,
                  pattern: str | None = None, batch_size: int = CHUNK, workers: int = 1,
                  min_confidence: float | None = None, **options: bool) -> Iterator[Any]:
        """Task *name*'s rows ("classify": FileResults, with *options* keep_probabilities and keep_pixels;
        "read": Readings) for every matching file, streamed by the engine (`_engine.run_chunks`):
        `classify_files` and `read_files` are this with their task."""
        _check_batch_size(batch_size)
        task, model = self.task(name, min_confidence, **options)
        files = iter_files(path_list(paths), pattern, recursive)
        pool, private = self._pool(workers)
        rows = run_chunks(files, task, self.config, model, batch_size, pool)
        return _closing(rows, pool) if private and pool is not None else rows

    def _pool(self, workers: int) -> tuple[DecoderPool | None, bool]:
        """The decoding processes for *workers* > 1, and whether they are this call's own. The Classifier
        keeps one pool, started on first use and reused by later calls (see `close`); a call that asks for
        another size while it exists -- another thread's run, say -- gets a pool of its own, closed when
        that call's rows are done, instead of closing one that may be in use."""
        if workers <= 1:
            return None, False
        from ._workers import DecoderPool  # sockets and subprocesses: loaded only when workers are asked for

        with self._lock:
            if self._decoders is None or self._decoders.closed:
                self._decoders = DecoderPool(workers)
            if self._decoders.size == workers:
                return self._decoders, False
        return DecoderPool(workers), True

    def close(self) -> None:
        """Stop the decoding processes, if any (they also stop when the Classifier is garbage-collected or
        the program exits). The Classifier stays usable; a later call starts them again."""
        with self._lock:
            decoders, self._decoders = self._decoders, None
        if decoders is not None:
            decoders.close()

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 -- interpreter shutdown
            pass

    def preprocess(self, inputs: Inputs) -> np.ndarray:
        """What the model sees: (N, 28, 28) float32 [0, 1] for any supported input. Files and PIL images go
        through the engine's own decoding (`_chunk.decode_chunk`); a file that cannot be read raises
        ImageError."""
        if isinstance(inputs, np.ndarray):
            return _array_to_pixels(inputs)
        items = [inputs] if isinstance(inputs, (str, Path, Image.Image)) else list(inputs)
        out = np.zeros((len(items), 28, 28), np.float32)
        files = []
        for i, item in enumerate(items):
            if isinstance(item, np.ndarray):
                pixels = _array_to_pixels(item)
                if len(pixels) != 1:
                    raise UsageError(f"item {i}: one image per list item, got an array of {len(pixels)}")
                out[i] = pixels[0]
            else:
                files.append(i)
        if files:
            work = [_item(items[i]) for i in files]
            decoded = decode_chunk(work, self.config)
            for i, error in zip(files, decoded.errors):
                if error is not None:
                    raise ImageError(item_name(_item(items[i])), error)
            out[files] = decoded.pixels
        return out

    def predict(self, inputs: Inputs, batch_size: int = MODEL_BATCH) -> np.ndarray:
        """(N, 10) class probabilities, like Keras' `Model.predict`. An array is converted a batch at a time:
        a 750 MiB uint8 array never becomes a 3 GiB float copy."""
        if not isinstance(inputs, np.ndarray):
            return self.predict_pixels(self.preprocess(inputs), batch_size)
        _check_batch_size(batch_size)
        flat = _array_to_pixels(inputs[:0] if inputs.ndim else inputs)  # the shape and dtype checks, at once
        del flat
        images = inputs.reshape(-1, 28, 28)
        out = np.empty((len(images), 10), np.float32)
        for start in range(0, len(images), batch_size):
            out[start : start + batch_size] = self.predict_pixels(_array_to_pixels(images[start : start + batch_size]))
        return out

    def evaluate(self, x: np.ndarray, y: np.ndarray, keep_pixels: bool = False, dataset: str = "", *,
                 min_confidence: float | None = None) -> Evaluation:
        """Accuracy, confusion matrix, per-class scores and calibration on MNIST-style arrays, like Keras'
        `evaluate`. Answers below *min_confidence* (default: the model's own) count as unsure.

        For labelled PNG folders or CSVs, see `mnist_onnx.evaluate`."""
        from ._evaluate import evaluate_arrays

        return evaluate_arrays(self, x, y, keep_pixels, dataset, self.threshold(min_confidence))

    def classify(self, inputs: Inputs, *, min_confidence: float | None = None) -> Prediction | list[Prediction]:
        """Predictions with digit and confidence; one for a single image, a list for many. Files and PIL
        images take the engine's path (`classify_files`' rows): no digit gives digit None; an unreadable
        file raises ImageError, NaN scores ModelError. `unsure` is set below *min_confidence* (default:
        the model's own)."""
        threshold = self.threshold(min_confidence)
        single = isinstance(inputs, (str, Path, Image.Image)) or (
            isinstance(inputs, np.ndarray) and inputs.shape in ((28, 28), (784,)))

        def prediction(p: np.ndarray) -> Prediction:
            return Prediction(int(p.argmax()), float(p.max()), p, unsure=float(p.max()) < threshold)

        if isinstance(inputs, np.ndarray):
            preds = [prediction(p) for p in self.predict_pixels(_array_to_pixels(inputs))]
            return preds[0] if single else preds
        items: list = [inputs] if single else list(inputs)  # type: ignore[arg-type]
        out: list[Prediction | None] = [None] * len(items)
        arrays = [i for i, item in enumerate(items) if isinstance(item, np.ndarray)]
        if arrays:
            probs = self.predict_pixels(self.preprocess([items[i] for i in arrays]))
            for i, p in zip(arrays, probs):
                out[i] = prediction(p)
        files = [i for i in range(len(items)) if out[i] is None]
        task, model = self.task("classify", keep_probabilities=True)
        rows = run_items([_item(items[i]) for i in files], task, self.config, model)
        blank: np.ndarray | None = None
        for i, r in zip(files, rows):
            if r.status is Status.ERROR:
                if isinstance(r.problem, ModelError):
                    raise ModelError(f"{self.model_path}: {r.problem}")
                raise r.problem or ImageError(r.path, r.error or "")
            if r.status is Status.NO_DIGIT:
                if blank is None:  # what the model says of an empty input: kept for `top_k`
                    blank = self.predict_pixels(np.zeros((1, 28, 28), np.float32))[0]
                out[i] = Prediction(None, 0.0, blank)
            else:
                assert r.digit is not None and r.confidence is not None and r.probabilities is not None
                out[i] = prediction(r.probabilities)
        preds = [p for p in out if p is not None]
        return preds[0] if single else preds


def _closing(rows: Iterator[T], pool: DecoderPool) -> Iterator[T]:
    """*rows*, then *pool* closed: however the reader stops (done, an error, or dropping the iterator)."""
    try:
        yield from rows
    finally:
        pool.close()


def _item(item: object) -> Item:
    """A path (str or Path) or PIL image as the engine takes it."""
    return item if isinstance(item, Image.Image) else str(item)


def path_list(paths: object) -> Iterable[str | Path]:
    """*paths* as `classify_files`/`read_files` take it: one path (str, bytes, os.PathLike) or an iterable of
    them. A memoryview, a bytearray or an array is refused: iterated, it would be one "file" per byte or row."""
    if isinstance(paths, (str, Path, bytes)) or hasattr(paths, "__fspath__"):
        return [os.fsdecode(paths) if isinstance(paths, bytes) else paths]  # type: ignore[list-item]
    if isinstance(paths, (memoryview, bytearray, np.ndarray)) or not hasattr(paths, "__iter__"):
        raise UsageError(f"paths: a {type(paths).__name__} is not a path or a list of paths")
    return paths


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or not 1 <= batch_size <= 1 << 20:
        raise about(UsageError(f"batch_size {batch_size!r}: must be a whole number from 1 to {1 << 20:,}"), "batch_size")


def _array_to_pixels(a: np.ndarray) -> np.ndarray:
    """MNIST-style arrays of any common shape -> (N, 28, 28) float32 [0, 1]. The scale follows the dtype,
    for the whole call and never from the values: integers are 0..255 (uint8, as MNIST stores them), floats
    and booleans 0..1. Anything else -- a float array in 0..255, NaN, a pixel of 300 -- is a UsageError, not
    a silent rescaling of every other image in the batch."""
    a = np.asarray(a)
    if a.ndim == 0 or (a.shape[-2:] != (28, 28) and a.shape[-1] != 784):
        raise UsageError(f"array of shape {a.shape}: expected (28, 28), (N, 28, 28), (N, 1, 28, 28), (784,) or (N, 784)")
    x = a.reshape(-1, 28, 28)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255)
    if x.dtype.kind in "iu":
        if x.size and (x.min() < 0 or x.max() > 255):
            raise UsageError(f"integer array with values from {x.min()} to {x.max()}: integers are pixel levels 0..255")
        return x.astype(np.float32) / np.float32(255)
    if x.dtype.kind not in "fb":
        raise UsageError(f"array of dtype {x.dtype}: expected uint8 (0..255) or float (0..1) pixels")
    x = x.astype(np.float32)
    if x.size:
        finite = np.isfinite(x).reshape(len(x), -1).all(1)
        if not finite.all():
            raise UsageError(f"image {int(np.flatnonzero(~finite)[0])} of the array holds NaN or infinite pixels")
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 1:
            raise UsageError(f"float array with values from {low:g} to {high:g}: float pixels are 0..1 "
                             "(divide 0..255 values by 255, or pass uint8)")
    return x
