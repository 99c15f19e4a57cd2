"""Exceptions raised by mnist-onnx: one hierarchy under `MnistOnnxError`.

    MnistOnnxError
    ├── DataError       a dataset file (IDX, labels CSV) is missing, malformed or inconsistent
    ├── ModelError      a model file is missing, corrupt, or breaks the MNIST contract (NaN scores too)
    ├── ProviderError   the execution provider asked for cannot really run the model
    ├── ImageError      one input image cannot be used (in a batch: its row's error, never an exception)
    ├── OutputError     an output cannot be written (also an OSError)
    ├── UsageError      an argument out of its range or of the wrong shape (also a ValueError)
    └── EngineError     a distributed engine (Ray) is missing, cannot be reached, or failed

Every message is one line that names the file (or setting) and the problem, so the command line can print
it as it is and a batch can record it against one file without stopping. An error about an argument names
it by its Python name and says so (`parameter`, set by `about`): only the command line turns it into its flag
(`--batch-size`, `--actors`). Anything else that escapes is a bug.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar


class MnistOnnxError(Exception):
    """Base class for every error this package raises on purpose. `parameter`: the argument it is about, by
    its Python name (None: a file, a model, the environment)."""

    parameter: str | None = None


E = TypeVar("E", bound=MnistOnnxError)


def about(error: E, parameter: str) -> E:
    """*error*, marked as being about the argument *parameter* (named in its message by that name)."""
    error.parameter = parameter
    return error


class DataError(MnistOnnxError):
    """A dataset file is missing, malformed, truncated or inconsistent."""


class ModelError(MnistOnnxError):
    """A model file is missing, corrupt or does not fit the MNIST contract."""


class ProviderError(MnistOnnxError):
    """The requested execution provider cannot actually run the model."""


class ImageError(MnistOnnxError):
    """One input image cannot be used (empty, truncated, not an image, too large, ...)."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class OutputError(MnistOnnxError, OSError):
    """An output (a CSV, a report, a picture) cannot be written where it was asked for."""


class UsageError(MnistOnnxError, ValueError):
    """An argument is out of its range or of the wrong shape (a ValueError too, as Python code expects)."""


class ParityError(MnistOnnxError):
    """An exported ONNX model does not reproduce the TensorFlow model closely enough: nothing is written."""


class EngineError(MnistOnnxError):
    """The Ray engine is not installed, cannot be reached, or its run failed."""


def missing_package(names: tuple[str, ...]) -> str | None:
    """The first of *names* (import names) that is not installed, looked up without importing it; None when
    all are: a command checks its extra before any work, not by a traceback from deep inside it."""
    from importlib.util import find_spec

    return next((name for name in names if find_spec(name) is None), None)


def needs_extra(what: str, extra: str, missing: str | None = None) -> str:
    """The one way a missing extra is named (#31): `WHAT needs the EXTRA extra (MISSING is missing): pip install
    "mnist-onnx[EXTRA]"`."""
    return f'{what} needs the {extra} extra{f" ({missing} is missing)" if missing else ""}: pip install "mnist-onnx[{extra}]"'


class Status(str, Enum):
    """A row's status (`FileResult`, `Reading`), written as its value: `ok`; `unsure` (answered below the
    minimum confidence: a person should look); `no-digit` (readable, nothing to read); `error` (unusable)."""

    OK = "ok"
    UNSURE = "unsure"
    NO_DIGIT = "no-digit"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Row:
    """What every result row has (`FileResult`, `Reading`): `error`, the words for a row that has no answer;
    `problem`, the same as a typed error (ImageError for the file, ModelError for a model's NaN scores);
    `blank` for a readable image with nothing to read; `unsure`. Fields live in the row classes."""

    __slots__ = ()
    error: str | None
    problem: MnistOnnxError | None
    blank: bool
    unsure: bool

    @property
    def status(self) -> Status:
        if self.error is None:
            return Status.UNSURE if self.unsure else Status.OK
        return Status.NO_DIGIT if self.blank else Status.ERROR

    @property
    def ok(self) -> bool:
        """Answered (`ok` or `unsure`): not an error, not a blank image."""
        return self.error is None
