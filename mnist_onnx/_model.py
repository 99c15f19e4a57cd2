"""Find a model, open an ONNX Runtime session on the provider that really works, and read the model's
contract (input layout and dtype, output kind, preprocessing) from the model itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import math
import os
import re
import shutil
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._defaults import DEFAULT_MIN_CONFIDENCE
from ._contract import INKS, LINE_CLASSES, LINE_HEIGHT, KEY_LABELS, KEY_MIN_CONFIDENCE, KEY_MODEL_CARD, KEY_OUTPUT, KEY_PREPROCESSING, LABELS
from ._paths import MODEL_ENV, default_export_path
from .errors import ModelError, ProviderError

if TYPE_CHECKING:
    import onnxruntime as ort


def _ort() -> Any:
    """ONNX Runtime, imported when a session is made: a Ray driver that only lists files and hands the model
    to its actors never loads it (~18 MiB), nor does `info` on a model card."""
    import onnxruntime

    return onnxruntime

Provider = Literal["auto", "cpu", "cuda"]
Ink = Literal["white-on-black", "black-on-white"]


def bundled_model_path() -> Path:
    return Path(__file__).resolve().parent / "models" / "default.onnx"  # package data is a plain file


BUNDLED = {"mlp": "default.onnx", "cnn": "cnn.onnx", "reader": "reader.onnx"}  # shipped in the package, by name
KIND_DIGIT, KIND_SEQUENCE = "digit", "sequence"  # one digit per 28x28 input; a line of digits (CTC) per input


def named_model(name: str | Path) -> Path | None:
    """The bundled model called *name* (`mlp`, `cnn`: a bare name, as typed), unless a *file* of that name
    is here: a file wins, a folder does not, and `./cnn` or `dir/cnn` are paths, never a bundled name."""
    if isinstance(name, str) and name in BUNDLED and not Path(name).is_file():
        return bundled_model_path().with_name(BUNDLED[name])
    return None


def default_reader() -> str:
    """What `read` reads with when no model is named: the reader last exported to the default place
    (`export --preset reader`), else the bundled `reader`."""
    exported = default_export_path().with_name(BUNDLED["reader"])
    return str(exported) if exported.is_file() else "reader"


def resolve_model(model: str | Path | None = None) -> tuple[Path, str]:
    """Explicit path or bundled name > $MNIST_ONNX_MODEL (a path or a bundled name) > the model last exported
    to the default place > the bundled MLP."""
    if model is not None:
        named = named_model(model)
        return (named, f"bundled {model}") if named is not None else (Path(model), "given")
    if os.environ.get(MODEL_ENV):
        value = os.environ[MODEL_ENV]
        named = named_model(value)
        return (named, f"bundled {value} via ${MODEL_ENV}") if named is not None else (Path(value), f"${MODEL_ENV}")
    exported = default_export_path()
    if exported.is_file():
        return exported, "exported"
    return bundled_model_path(), "bundled"


@dataclass(frozen=True)
class Preprocessing:
    """How [0, 1] white-on-black pixels become model input: `(pixel255 * scale - mean) / std`."""

    scale: float = 1 / 255
    mean: float = 0.0
    std: float = 1.0
    ink: Ink = "white-on-black"


@dataclass
class ModelInfo:
    path: Path
    source: str  # given | $MNIST_ONNX_MODEL | exported | bundled
    input_name: str
    input_shape: list  # as declared, e.g. ["batch", 784]
    input_dtype: type  # np.float32 or np.uint8
    output_name: str
    output_kind: str  # probabilities | logits | auto (decided per batch)
    preprocessing: Preprocessing
    labels: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])
    metadata: dict[str, str] = field(default_factory=dict)
    kind: str = KIND_DIGIT  # digit: [N, 784]-like in, [N, 10] out; sequence: [N, 32, W] lines in, [N, W/4, 11] out

    @property
    def min_confidence(self) -> float:
        """The model's own default threshold for `unsure` (chosen by measurement when it was made), or 0 --
        never unsure -- for a model that names none: its confidences mean nothing we have measured."""
        try:
            value = float(self.metadata.get(KEY_MIN_CONFIDENCE, "0"))
        except ValueError:
            return 0.0
        return value if 0.0 <= value <= 1.0 else 0.0

    @property
    def threshold_note(self) -> str | None:
        """What is wrong with the model's own threshold, when it names one that is not a probability (NaN, 5,
        -1, inf): it is then ignored -- no digit is unsure unless a min_confidence is given -- and said (#29)."""
        raw = self.metadata.get(KEY_MIN_CONFIDENCE)
        if raw is None:
            return None
        try:
            if 0.0 <= float(raw) <= 1.0:
                return None
        except ValueError:
            pass
        return (f"{self.path}: its {KEY_MIN_CONFIDENCE} metadata {raw[:40]!r} is not a probability from 0 to 1; "
                "ignored, so nothing is unsure unless a minimum confidence is given")

    @property
    def card(self) -> dict | None:
        try:
            return json.loads(self.metadata[KEY_MODEL_CARD])
        except (KeyError, ValueError):
            return None


# --- providers -----------------------------------------------------------------------------------------

_preloaded = False
_preload_lock = threading.Lock()
_CUDA_HINT = 'pip install "mnist-onnx[cuda]" brings CUDA and cuDNN as wheels, or install CUDA {major} and cuDNN 9'


def _cuda_hint(problem: str | None) -> str:
    """Name the CUDA major version the installed onnxruntime-gpu wants (from the missing library's soname)."""
    found = re.search(r"\.so\.(\d+)", problem or "")
    return _CUDA_HINT.format(major=found.group(1) if found else "12 or later")


def _no_cuda(problem: str | None) -> str:
    """Why `cuda` cannot run, the first thing first: whether this machine has an NVIDIA GPU and driver at all.
    Without one no download can help (CPU is the answer); with one, what is missing and what brings it."""
    if not gpu_present():
        return "no NVIDIA GPU or driver was found on this machine; use the CPU (provider cpu or auto)"
    return f"an NVIDIA GPU is here, but {problem} ({_cuda_hint(problem)})"


def gpu_present() -> bool:
    """An NVIDIA GPU and driver on this machine (whether or not CUDA works for us): only then is falling
    back to CPU worth a note. Without a GPU, CPU is simply the right choice, and silence the right answer."""
    if os.path.exists("/dev/nvidiactl") or os.path.isdir("/proc/driver/nvidia/gpus"):
        return True
    return shutil.which("nvidia-smi") is not None


def preload_cuda_dlls() -> None:
    """Let CUDA/cuDNN installed from pip (nvidia-* wheels) be found, once per process.

    onnxruntime print()s each library it cannot find. The library leaves that as it is (swapping
    sys.stdout would touch the whole process); the command line, which owns its process, calls this first
    with its stdout captured and reports the missing piece itself, in one line."""
    global _preloaded
    ort = _ort()
    with _preload_lock:
        if _preloaded or not hasattr(ort, "preload_dlls"):
            return
        _preloaded = True
        # Only with the nvidia-* wheels (the `cuda` extra) is there anything to preload; without them
        # onnxruntime would just print a line per library it cannot find (a system CUDA loads as usual).
        if importlib.util.find_spec("nvidia") is None:
            return
        with contextlib.suppress(Exception):
            ort.preload_dlls()


def cuda_problem() -> str | None:
    """Why CUDA cannot work in this process, or None when its libraries load.

    onnxruntime-gpu lists CUDAExecutionProvider as available even when the CUDA libraries are missing, then
    falls back to CPU; loading the provider library ourselves tells the real reason.
    """
    ort = _ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"this onnxruntime ({ort.__version__}) has no CUDA support; install onnxruntime-gpu"
    preload_cuda_dlls()
    capi = Path(ort.__file__).parent / "capi"
    name = "onnxruntime_providers_cuda.dll" if os.name == "nt" else "libonnxruntime_providers_cuda.so"
    try:
        ctypes.CDLL(str(capi / name))
    except OSError as e:
        missing = str(e).split(":")[0].strip() if ": cannot open" in str(e) else str(e).splitlines()[0]
        return f"CUDA library {missing} not found"
    if os.name != "nt":
        try:
            ctypes.CDLL("libcuda.so.1")
        except OSError:
            return "no NVIDIA driver (libcuda.so.1 not found)"
    return None


def _session_options(threads: int | None) -> ort.SessionOptions:
    ort = _ort()
    so = ort.SessionOptions()
    so.log_severity_level = 3  # errors only; warnings about unused initialisers etc. are noise to users
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads:  # the CLI leaves one core per decoding process, so spinning threads never steal them
        so.intra_op_num_threads = threads
    return so


def open_session(path: Path, provider: Provider = "auto", device_id: int = 0,
                 threads: int | None = None) -> tuple[ort.InferenceSession, str, str | None]:
    """Return (session, provider actually used, note for the user or None).

    `cuda` that cannot really run on CUDA raises ProviderError; `auto` falls back to CPU with a note.
    """
    if provider not in ("auto", "cpu", "cuda"):
        raise ProviderError(f"unknown provider {provider!r}; choose auto, cpu or cuda")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not a model file")
    if not path.is_file():
        if path.exists():  # /dev/zero, a FIFO: never opened (one would not end, the other would block)
            raise ModelError(f"{path}: not a regular file, not a model file")
        raise ModelError(f"{path}: model file not found")
    from ._modelsize import check_size

    check_size(path)  # a model and its external data past the limit are refused before they are loaded
    so = _session_options(threads)
    note = None
    want_cuda = provider in ("auto", "cuda")
    problem = cuda_problem() if want_cuda else None
    if want_cuda and problem is None:
        providers = [("CUDAExecutionProvider", {"device_id": device_id}), "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
        if provider == "cuda":
            raise ProviderError(f"provider cuda cannot run here: {_no_cuda(problem)}")
    try:
        session = _ort().InferenceSession(str(path), so, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for corrupt models
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({first[:200]})") from None
    used = session.get_providers()[0]
    if want_cuda and used != "CUDAExecutionProvider":
        reason = problem or f"onnxruntime could not start CUDA on device {device_id} (no usable GPU?)"
        if provider == "cuda":
            raise ProviderError(f"provider cuda cannot run here: {_no_cuda(reason)}")
        if "no CUDA support" not in reason and gpu_present():  # no GPU, or a CPU-only onnxruntime: nothing to say
            note = f"CUDA unavailable ({reason}), using CPU; {_cuda_hint(problem)}"
    return session, ("cuda" if used == "CUDAExecutionProvider" else "cpu"), note


# --- contract ------------------------------------------------------------------------------------------

_DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8}
_LAYOUTS = ([784], [28, 28], [1, 28, 28])


def read_contract(session: ort.InferenceSession, path: Path, source: str, *, mean: float | None = None,
                  std: float | None = None, scale: float | None = None, ink: Ink | None = None) -> ModelInfo:
    """Check the model fits the MNIST contract and collect how to feed it; flags override metadata."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelError(f"{path}: incompatible model: {len(inputs)} inputs, expected 1 image input")
    inp, out = inputs[0], outputs[0]
    dims = [d if isinstance(d, int) else None for d in inp.shape]
    if _is_sequence(dims, out.shape, inp.type):
        meta = dict(session.get_modelmeta().custom_metadata_map)
        kind = meta.get(KEY_OUTPUT, "probabilities")
        return ModelInfo(path=path, source=source, input_name=inp.name, input_shape=list(inp.shape),
                         input_dtype=np.float32, output_name=out.name,
                         output_kind=kind if kind in ("probabilities", "logits") else "probabilities",
                         preprocessing=Preprocessing(), metadata=meta, kind=KIND_SEQUENCE)
    if not dims or dims[1:] not in _LAYOUTS:
        raise ModelError(f"{path}: incompatible model: input shape {inp.shape}; expected [N,784], [N,28,28] or [N,1,28,28]")
    if inp.type not in _DTYPES:
        raise ModelError(f"{path}: incompatible model: input type {inp.type}; expected float32 or uint8")
    if not out.shape or out.shape[-1] != 10:
        raise ModelError(f"{path}: incompatible model: output shape {out.shape}; expected [N,10]")

    meta = dict(session.get_modelmeta().custom_metadata_map)
    try:
        contract = json.loads(meta.get(KEY_PREPROCESSING, "{}"))
        labels = json.loads(meta[KEY_LABELS]) if KEY_LABELS in meta else list(LABELS)
    except (ValueError, RecursionError):
        raise ModelError(f"{path}: model metadata is not valid JSON") from None
    try:
        if not isinstance(contract, dict):
            raise TypeError("not an object")
        pre = Preprocessing(
            scale=float(contract.get("scale", 1 / 255)),
            mean=float(contract.get("mean", 0.0)),
            std=float(contract.get("std", 1.0)),
            ink=contract.get("ink", "white-on-black"),
        )
        if pre.ink not in INKS:
            raise ValueError(f"ink {pre.ink!r}")
        if not isinstance(labels, list) or len(labels) != 10:
            raise ValueError("labels must be a list of 10")
    except (TypeError, ValueError, RecursionError) as e:
        raise ModelError(f"{path}: model metadata does not fit the contract (preprocessing/labels: {e})") from None
    overrides: dict = {k: v for k, v in dict(mean=mean, std=std, scale=scale, ink=ink).items() if v is not None}
    pre = replace(pre, **overrides)
    if not (math.isfinite(pre.mean) and math.isfinite(pre.scale) and math.isfinite(pre.std) and pre.std > 0):
        raise ModelError(f"{path}: preprocessing mean {pre.mean}, std {pre.std}, scale {pre.scale}: "
                         "need finite numbers and a positive std")
    kind = meta.get(KEY_OUTPUT, "auto")
    return ModelInfo(path=path, source=source, input_name=inp.name, input_shape=list(inp.shape),
                     input_dtype=_DTYPES[inp.type], output_name=out.name,
                     output_kind=kind if kind in ("probabilities", "logits") else "auto",
                     preprocessing=pre, labels=[str(label) for label in labels], metadata=meta)


def _is_sequence(dims: list, out_shape: list, dtype: str) -> bool:
    """A sequence reader: float lines [N, 32, W] in, [N, frames, 11] (0-9 and CTC's blank) out."""
    return (len(dims) == 3 and dims[1] == LINE_HEIGHT and dims[2] is None and dtype == "tensor(float)"
            and len(out_shape) == 3 and out_shape[-1] == LINE_CLASSES)


def model_summary(model: str | Path | None = None) -> dict:
    """Everything `info` shows, as plain data: I/O, contract, checksum and the embedded model card."""
    import hashlib  # only `info` hashes: not on the run path

    path, source = resolve_model(model)
    session, _, _ = open_session(path, "cpu")
    info = read_contract(session, path, source)
    return {
        "path": str(path),
        "source": source,
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "inputs": [{"role": "input", "name": i.name, "type": i.type, "shape": i.shape} for i in session.get_inputs()],
        "outputs": [{"role": "output", "name": o.name, "type": o.type, "shape": o.shape} for o in session.get_outputs()],
        "output_kind": info.output_kind,
        "preprocessing": {**(asdict(info.preprocessing) if info.kind == KIND_DIGIT else {}),
                          **json.loads(info.metadata.get(KEY_PREPROCESSING, "{}"))},
        "labels": info.labels,
        "metadata_keys": sorted(info.metadata),
        "min_confidence": info.min_confidence,
        "card": info.card,
    }


class Model:
    """One ONNX model, opened (`open_model`): its session on the provider that really works, its contract
    (`info`), what it computes -- `predict` for a digit model ((N, 28, 28) [0, 1] white on black -> (N, 10)
    probabilities), `run_lines` for a sequence reader -- and `threshold`, the one rule for `unsure`. The
    `Classifier` is a façade over a Model and the engine's tasks."""

    def __init__(self, path: Path, source: str, session: Any, provider: str, provider_note: str | None,
                 info: ModelInfo) -> None:
        self.path, self.source, self.session, self.info = path, source, session, info
        self.provider, self.provider_note = provider, provider_note
        pre = info.preprocessing
        # Fold "to 0..255, times scale, minus mean, over std" into one multiply-add per pixel.
        self._mul = np.float32(255.0 * pre.scale / pre.std)
        self._add = np.float32(-pre.mean / pre.std)
        dims = [d if isinstance(d, int) else -1 for d in info.input_shape]
        self._shape = [-1, *dims[1:]]

    @property
    def reads_lines(self) -> bool:
        """A sequence reader (`reader`): reads a number's whole line; `read` only."""
        return self.info.kind == KIND_SEQUENCE

    def threshold(self, min_confidence: float | None = None, task: str = "classify") -> float:
        """The minimum confidence *task* ("classify" or "read") uses with this model (`decide_threshold`)."""
        return decide_threshold(min_confidence, self.info.min_confidence, self.reads_lines, task)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, 10) probabilities for (N, 28, 28) float32 inputs in [0, 1], white on black, in one call."""
        from ._calibration import softmax

        if self.info.preprocessing.ink == "black-on-white":
            x = 1.0 - x
        if self.info.input_dtype == np.uint8:
            feed = np.rint(x * 255.0).astype(np.uint8)
        else:
            feed = x * self._mul + self._add if (self._mul != 1 or self._add != 0) else x
        feed = np.ascontiguousarray(feed.reshape(self._shape), dtype=self.info.input_dtype)
        scores = self.session.run([self.info.output_name], {self.info.input_name: feed})[0].astype(np.float32)
        if scores.size != len(x) * 10:  # declared [N, 10], returned something else
            raise ModelError(f"{self.path}: the model returned shape {list(scores.shape)} for {len(x)} "
                             "images; expected [N, 10]")
        scores = scores.reshape(len(x), 10)
        kind = self.info.output_kind
        if kind == "logits" or (kind == "auto" and not _looks_like_probabilities(scores)):
            scores = softmax(scores)
        return scores

    def run_lines(self, lines: np.ndarray) -> np.ndarray:
        """A sequence reader's (N, frames, 11) probabilities for (N, 32, W) lines (`image.line.to_input`)."""
        from ._calibration import softmax

        out = self.session.run([self.info.output_name], {self.info.input_name: np.ascontiguousarray(lines, np.float32)})[0]
        out = np.asarray(out, np.float32)
        if out.ndim != 3 or out.shape[0] != len(lines) or out.shape[2] != 11:
            raise ModelError(f"{self.path}: the reader returned shape {list(out.shape)} for {len(lines)} "
                             "lines; expected [N, frames, 11]")
        return softmax(out) if self.info.output_kind == "logits" else out


def open_model(model: str | Path | None = None, *, provider: Provider = "auto", device_id: int = 0,
               threads: int | None = None, mean: float | None = None, std: float | None = None,
               scale: float | None = None, ink: Ink | None = None) -> Model:
    """The factory: find *model* (`resolve_model`), open its session (`open_session`), read its contract
    (`read_contract`, with the caller's normalisation overrides)."""
    path, source = resolve_model(model)
    session, used, note = open_session(path, provider, device_id, threads)
    info = read_contract(session, path, source, mean=mean, std=std, scale=scale, ink=ink)
    return Model(path, source, session, used, note, info)


def _looks_like_probabilities(scores: np.ndarray) -> bool:
    return bool(scores.min() >= 0 and scores.max() <= 1 and np.allclose(scores.sum(1), 1, atol=1e-3))


def decide_threshold(min_confidence: float | None, own: float, reads_lines: bool, task: str = "classify") -> float:
    """The one rule for the `unsure` threshold, wherever a model is used (the Classifier, the CLI, a Ray
    driver that checked the model elsewhere, the actors): *min_confidence* when given (checked: a
    probability), else the model's *own* (chosen by measurement when it was made) -- except that `read` with a
    digit model (segmentation) multiplies digit confidences, and uses 0.9 for that product."""
    if min_confidence is not None:
        return check_probability(min_confidence)
    if task == "read" and not reads_lines:
        return DEFAULT_MIN_CONFIDENCE
    return own


def check_probability(value: object, name: str = "min_confidence") -> float:
    """A threshold given by the caller: a number from 0 to 1 (NaN, -1, 2, None, 'abc' are a UsageError)."""
    from .errors import UsageError, about

    if isinstance(value, bool) or not (isinstance(value, (int, float, np.floating, np.integer))
                                       and 0.0 <= float(value) <= 1.0):
        raise about(UsageError(f"{name} {value!r}: must be a probability from 0 to 1"), name)
    return float(value)
