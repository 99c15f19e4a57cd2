"""The Classifier: one ONNX model, one session, predictions on arrays, PIL images or files."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, Union

import numpy as np
from PIL import Image

from ._batch import classify_chunks, classify_items
from ._calibration import softmax
from ._chunk import FileResult, Item, decode_chunk, item_name
from ._files import iter_files
from ._model import KIND_SEQUENCE, Ink, ModelInfo, Provider, open_session, read_contract, resolve_model
from ._clean import Invert
from ._defaults import CHUNK, DEFAULT_MIN_CONFIDENCE, MODEL_BATCH, READ_CHUNK
from ._formats import DEFAULT_MAX_PIXELS
from ._preprocess import PreprocessConfig
from .errors import ImageError, ModelError, Status, UsageError

if TYPE_CHECKING:  # the decoding processes' module (sockets, subprocesses) loads only when workers > 1
    from ._evaluate import Evaluation
    from ._read import Reading
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
        path, source = resolve_model(model)
        self.session, self.provider, self.provider_note = open_session(path, provider, device_id, threads)
        self.info: ModelInfo = read_contract(self.session, path, source, mean=mean, std=std, scale=scale, ink=model_ink)
        self.config = PreprocessConfig(invert, center, max_pixels)
        pre = self.info.preprocessing
        # Fold "to 0..255, times scale, minus mean, over std" into one multiply-add per pixel.
        self._mul = np.float32(255.0 * pre.scale / pre.std)
        self._add = np.float32(-pre.mean / pre.std)
        dims = [d if isinstance(d, int) else -1 for d in self.info.input_shape]
        self._shape = [-1, *dims[1:]]

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
        return self.info.kind == KIND_SEQUENCE

    def threshold(self, min_confidence: float | None = None, task: str = "classify") -> float:
        """The minimum confidence *task* ("classify" or "read") uses with this model: *min_confidence*
        checked, or by default the model's own (`decide_threshold`)."""
        return decide_threshold(min_confidence, self.min_confidence, self.reads_lines, task)

    def run_lines(self, lines: np.ndarray) -> np.ndarray:
        """A sequence reader's (N, frames, 11) probabilities for (N, 32, W) lines (`_line.to_input`)."""
        out = self.session.run([self.info.output_name], {self.info.input_name: np.ascontiguousarray(lines, np.float32)})[0]
        out = np.asarray(out, np.float32)
        if out.ndim != 3 or out.shape[0] != len(lines) or out.shape[2] != 11:
            raise ModelError(f"{self.model_path}: the reader returned shape {list(out.shape)} for {len(lines)} "
                             "lines; expected [N, frames, 11]")
        return softmax(out) if self.info.output_kind == "logits" else out

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

    def read_items(self, items: Sequence[Item], min_confidence: float | None = None) -> list[Reading]:
        """Read one chunk of items (paths, (name, bytes) uploads, PIL images) with this model: the sequence
        reader's lines, or the segmentation over a digit model. The server and the Ray actors call this."""
        threshold = self.threshold(min_confidence, "read")
        if self.reads_lines:
            from ._sequence import read_line_items

            return read_line_items(items, self.config, self._line_models(), threshold)
        from ._read import read_items

        return read_items(items, self.config, self.predict_pixels, threshold)

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
            out[start : start + batch_size] = self._run(x[start : start + batch_size])
        return out

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.info.preprocessing.ink == "black-on-white":
            x = 1.0 - x
        if self.info.input_dtype == np.uint8:
            feed = np.rint(x * 255.0).astype(np.uint8)
        else:
            feed = x * self._mul + self._add if (self._mul != 1 or self._add != 0) else x
        feed = np.ascontiguousarray(feed.reshape(self._shape), dtype=self.info.input_dtype)
        scores = self.session.run([self.info.output_name], {self.info.input_name: feed})[0].astype(np.float32)
        if scores.size != len(x) * 10:  # declared [N, 10], returned something else
            raise ModelError(f"{self.model_path}: the model returned shape {list(scores.shape)} for {len(x)} "
                             "images; expected [N, 10]")
        scores = scores.reshape(len(x), 10)
        kind = self.info.output_kind
        if kind == "logits" or (kind == "auto" and not _looks_like_probabilities(scores)):
            scores = softmax(scores)
        return scores

    # --- conveniences ----------------------------------------------------------------------------------

    def classify_files(self, paths: Iterable[str | Path] | str | Path, *, recursive: bool = False,
                       pattern: str | None = None, batch_size: int = CHUNK, workers: int = 1,
                       keep_probabilities: bool = False, keep_pixels: bool = False,
                       min_confidence: float | None = None) -> Iterator[FileResult]:
        """Yield a FileResult (digit, confidence or error) for every matching file under *paths*, in order.

        Streams: memory stays bounded whatever the number of files; a bad file gets an error, never an
        exception. *keep_pixels* keeps on each row the (28, 28) input the model saw. A digit read with less
        than *min_confidence* (default: the model's own, `min_confidence`) has status `unsure`."""
        _check_batch_size(batch_size)
        threshold = self.threshold(min_confidence)
        files = iter_files(path_list(paths), pattern, recursive)
        pool, private = self._pool(workers)
        rows = classify_chunks(files, self.config, self.predict_pixels, batch_size, pool, keep_probabilities,
                               keep_pixels, threshold)
        return _closing(rows, pool) if private and pool is not None else rows

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
        _check_batch_size(batch_size)
        threshold = self.threshold(min_confidence, "read")
        files = iter_files(path_list(paths), pattern, recursive)
        pool, private = self._pool(workers)
        from ._read import read_chunks

        if self.reads_lines:
            from ._sequence import LINES

            rows = read_chunks(files, self.config, self._line_models(), batch_size, pool, threshold, LINES)
        else:
            rows = read_chunks(files, self.config, self.predict_pixels, batch_size, pool, threshold)
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
        rows = classify_items([_item(items[i]) for i in files], self.config, self.predict_pixels,
                              keep_probabilities=True)
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


def decide_threshold(min_confidence: float | None, own: float, reads_lines: bool, task: str = "classify") -> float:
    """The one rule for the `unsure` threshold, wherever a model is used (here, the CLI, a Ray driver that
    checked the model elsewhere, the actors): *min_confidence* when given (checked: a probability), else the
    model's *own* (chosen by measurement when it was made) -- except that `read` with a digit model
    (segmentation) multiplies digit confidences, and uses 0.9 for that product."""
    if min_confidence is not None:
        return check_probability(min_confidence)
    if task == "read" and not reads_lines:
        return DEFAULT_MIN_CONFIDENCE
    return own


def check_probability(value: object, name: str = "min_confidence") -> float:
    """A threshold given by the caller: a number from 0 to 1 (NaN, -1, 2, None, 'abc' are a UsageError)."""
    if isinstance(value, bool) or not (isinstance(value, (int, float, np.floating, np.integer))
                                       and 0.0 <= float(value) <= 1.0):
        raise UsageError(f"{name} {value!r}: must be a probability from 0 to 1")
    return float(value)


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
        raise UsageError(f"batch_size {batch_size!r}: must be a whole number from 1 to {1 << 20:,}")


def _looks_like_probabilities(scores: np.ndarray) -> bool:
    return bool(scores.min() >= 0 and scores.max() <= 1 and np.allclose(scores.sum(1), 1, atol=1e-3))


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
