"""What a row is, per task: the row types (`FileResult` for classify, `Reading` for read), the rows without
an answer (`failed`, `blank`, `nan_scores`), and one `Schema` per task that says how its row is spelled
everywhere a row goes -- CSV fields, a JSON Lines object, a table line, Parquet's typed columns, the HTTP
API's JSON, Ray's numpy columns and back. The writers (`_writers`, `_parquet`), the server and the Ray
adapter take a schema and never look at a row's type.

A leaf: numpy and the error types only, so decoding processes may build rows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .image.levels import NO_DIGIT
from .errors import ImageError, MnistOnnxError, ModelError, Row, Status

NAN_SCORES = "model returned NaN or infinite scores"
# What a terminal would act on: C0 and C1 controls, DEL, and bytes of a non-UTF-8 name (surrogate escapes,
# which a table written with surrogateescape would send raw: 0x9b is a CSI on 8-bit terminals).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff]")


def shown(text: str) -> str:
    """*text* safe to print on a terminal: control characters as \\xNN escapes. For the table format only;
    CSV and JSON Lines keep names exactly (they round-trip)."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()) & 0xFF:02x}", text)


# --- the rows ----------------------------------------------------------------------------------------------

@dataclass(slots=True)
class FileResult(Row):
    """One image's digit. `status` (a `Status`): `ok`; `unsure` (classified below the minimum confidence: a
    person should look); `no-digit` (readable, but nothing to classify) or `error` (unusable, `error` says
    why and `problem` is the typed error)."""

    path: str
    digit: int | None = None
    confidence: float | None = None
    probabilities: np.ndarray | None = None
    pixels: np.ndarray | None = None  # the (28, 28) input the model saw, when asked for (keep_pixels)
    error: str | None = None
    unsure: bool = False  # classified, but below the minimum confidence: the digit is given, check it
    blank: bool = False  # readable, no digit in it (`error` says so)
    problem: MnistOnnxError | None = None


@dataclass(frozen=True)
class DigitBox:
    """One digit of a reading: the digit, the model's confidence in it, and where it is in the image."""

    digit: int
    confidence: float
    box: tuple[int, int, int, int]  # left, top, right, bottom (exclusive), in the image's own pixels


@dataclass(slots=True)
class Reading(Row):
    """The number read in one image. `number` keeps leading zeros ("0042"); `confidence` is the chance that
    the whole string is right: the sequence reader's probability of the string (every alignment of it), or,
    read by segmentation, the product of its digits' confidences.
    `status` (a `Status`): `ok`; `unsure` (read, but below the minimum confidence: check it); `no-digit`;
    `error` (`error` says why, `problem` is the typed error)."""

    path: str
    number: str | None = None
    confidence: float | None = None
    digits: list[DigitBox] = field(default_factory=list)
    error: str | None = None
    unsure: bool = False
    blank: bool = False  # readable, no digit in it (`error` says so)
    problem: MnistOnnxError | None = None


def failed(row_type: type, name: str, error: str) -> Any:
    """A row (of *row_type*) for a file that cannot be used: its words and its ImageError."""
    return row_type(name, error=error, problem=ImageError(name, error))


def blank(row_type: type, name: str) -> Any:
    """A row for a readable image with nothing to read in it: status `no-digit`."""
    return row_type(name, error=NO_DIGIT, blank=True, problem=ImageError(name, NO_DIGIT))


def nan_scores(row_type: type, name: str) -> Any:
    """A row whose model answered NaN or infinite scores: a fault of the model (or its normalisation), never
    an `ok` row with confidence nan."""
    return row_type(name, error=NAN_SCORES, problem=ModelError(f"{NAN_SCORES} for {name}"))


def unanswered(row_type: type, name: str, status: str, error: str) -> Any:
    """A row without an answer from its status and words, as they crossed a process boundary (Ray)."""
    if status == Status.NO_DIGIT:
        return blank(row_type, name)
    return nan_scores(row_type, name) if error == NAN_SCORES else failed(row_type, name, error)


def _conf(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _object_column(values: Sequence[Any]) -> np.ndarray:
    return np.asarray(values, dtype=object)


# --- one schema per task -----------------------------------------------------------------------------------

class Schema:
    """How a task's row is spelled in every output. `columns`: CSV's header and JSON Lines' keys, in order."""

    task: str
    row_type: type
    columns: list[str]
    table_header: str

    def csv(self, r: Any) -> list[Any]:
        raise NotImplementedError

    def csv_line(self, r: Any) -> str | None:
        """The row's CSV line written directly (what csv.writer would write), or None to use csv.writer."""
        return None

    def json(self, r: Any) -> dict[str, Any]:
        raise NotImplementedError

    def table(self, r: Any) -> str:
        raise NotImplementedError

    def arrow(self, pa: Any) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def record(self, r: Any) -> dict[str, Any]:
        """The row's typed values for Parquet (path and names as the writer escapes them are its own)."""
        raise NotImplementedError

    def api(self, r: Any, pixels: bool = False) -> dict[str, Any]:
        """The row as the HTTP API answers it."""
        raise NotImplementedError

    def to_ray(self, rows: Sequence[Any]) -> dict[str, np.ndarray]:
        """A batch of rows as Ray Data's numpy columns (no nulls there: -1, NaN and "" stand for none)."""
        raise NotImplementedError

    def from_ray(self, batch: dict[str, np.ndarray]) -> Iterator[Any]:
        """The rows of a batch an actor made (`to_ray`), back as rows."""
        raise NotImplementedError


class ClassifySchema(Schema):
    """classify's rows; *top_k* > 0 adds the K most likely digits (CSV, JSON Lines, table, Parquet) and
    keeps every probability (Ray)."""

    task = "classify"
    row_type = FileResult

    def __init__(self, top_k: int = 0) -> None:
        self.top_k = top_k
        self.columns = ["path", "digit", "confidence", "status", "error"] + (["top_k"] if top_k else [])
        self.table_header = f"{'digit':>5}  {'conf':>6}  {'status':<6}  path" + ("  top-k" if top_k else "")

    def _top(self, r: FileResult) -> list[tuple[int, float]]:
        if not self.top_k or r.probabilities is None:
            return []
        order = (-r.probabilities).argsort(kind="stable")[: self.top_k]
        return [(int(d), round(float(r.probabilities[d]), 6)) for d in order]

    def csv_line(self, r: FileResult) -> str | None:
        if r.error is None and not self.top_k and not _NEEDS_QUOTES.search(r.path):
            # the common row, formatted directly: identical to what csv.writer would write, 3x cheaper
            return f"{r.path},{r.digit},{r.confidence:.6f},{'unsure' if r.unsure else 'ok'},\n"
        return None

    def csv(self, r: FileResult) -> list[Any]:
        row = [r.path, "" if r.digit is None else r.digit, _conf(r.confidence), r.status, r.error or ""]
        if self.top_k:
            row.append(";".join(f"{d}:{p:.6f}" for d, p in self._top(r)))
        return row

    def json(self, r: FileResult) -> dict[str, Any]:
        obj: dict[str, Any] = {"path": r.path, "digit": r.digit, "confidence": _round(r.confidence),
                               "status": r.status, "error": r.error}
        if self.top_k:
            obj["top_k"] = [{"digit": d, "probability": p} for d, p in self._top(r)]
        return obj

    def table(self, r: FileResult) -> str:
        digit = "-" if r.digit is None else str(r.digit)
        conf = "-" if r.confidence is None else f"{r.confidence:.4f}"
        tail = f"  ({shown(r.error)})" if r.error else ""
        top = self._top(r)
        extra = "  " + " ".join(f"{d}:{p:.3f}" for d, p in top) if top else ""
        return f"{digit:>5}  {conf:>6}  {r.status:<6}  {shown(r.path)}{extra}{tail}"

    def arrow(self, pa: Any) -> list[tuple[str, Any]]:
        fields = [("path", pa.string()), ("digit", pa.int8()), ("confidence", pa.float64()),
                  ("status", pa.string()), ("error", pa.string())]
        if self.top_k:
            fields.append(("top_k", pa.list_(pa.struct([("digit", pa.int8()), ("probability", pa.float64())]))))
        return fields

    def record(self, r: FileResult) -> dict[str, Any]:
        row: dict[str, Any] = {"status": r.status, "error": r.error, "digit": r.digit, "confidence": r.confidence}
        if self.top_k:
            probs = r.probabilities
            order: list[int] = [] if probs is None else (-probs).argsort(kind="stable")[: self.top_k].tolist()
            row["top_k"] = [{"digit": d, "probability": float(probs[d])} for d in order] if probs is not None else []
        return row

    def api(self, r: FileResult, pixels: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "filename": r.path,
            "digit": r.digit,
            "confidence": r.confidence,
            "probabilities": None if r.probabilities is None or r.digit is None else [float(p) for p in r.probabilities],
            "status": r.status,
            "error": r.error,
        }
        if pixels:
            out["pixels"] = None if r.pixels is None else np.round(r.pixels, 3).tolist()
        return out

    def to_ray(self, rows: Sequence[FileResult]) -> dict[str, np.ndarray]:
        out = {
            "path": _object_column([r.path for r in rows]),
            "digit": np.asarray([-1 if r.digit is None else r.digit for r in rows], np.int64),
            "confidence": np.asarray([math.nan if r.confidence is None else r.confidence for r in rows], np.float64),
            "status": _object_column([r.status.value for r in rows]),
            "error": _object_column([r.error or "" for r in rows]),
        }
        if self.top_k:
            out["probabilities"] = np.stack([r.probabilities if r.probabilities is not None
                                             else np.full(10, np.nan, np.float32) for r in rows])
        return out

    def from_ray(self, batch: dict[str, np.ndarray]) -> Iterator[FileResult]:
        probs = batch.get("probabilities") if self.top_k else None
        for i, (path, status, digit, conf, error) in enumerate(zip(
                batch["path"].tolist(), batch["status"].tolist(), batch["digit"].tolist(),
                batch["confidence"].tolist(), batch["error"].tolist())):
            if status in ("ok", "unsure"):
                yield FileResult(str(path), digit=int(digit), confidence=float(conf), unsure=status == "unsure",
                                 probabilities=None if probs is None else np.asarray(probs[i], np.float32))
            else:
                yield unanswered(FileResult, str(path), status, str(error))


def digits_field(r: Reading) -> str:
    """A reading's digits in one CSV field: `digit:confidence:left,top,right,bottom`, `;` between digits."""
    return ";".join(f"{d.digit}:{d.confidence:.6f}:{','.join(map(str, d.box))}" for d in r.digits)


def parse_digits(field: object) -> list[dict]:
    """A CSV `digits` field back as JSON Lines and Parquet give it: a list of {"digit", "confidence", "box"}
    (an empty or missing field -- NaN in pandas, None in polars -- is []). For pandas:
    `df["digits"] = df["digits"].map(mnist_onnx.parse_digits)`."""
    if not isinstance(field, str) or not field:
        return []
    out = []
    for part in field.split(";"):
        digit, confidence, box = part.split(":")
        out.append({"digit": int(digit), "confidence": float(confidence), "box": [int(v) for v in box.split(",")]})
    return out


def _digits_json(r: Reading, rounded: bool) -> list[dict[str, Any]]:
    return [{"digit": d.digit, "confidence": round(d.confidence, 6) if rounded else d.confidence, "box": list(d.box)}
            for d in r.digits]


class ReadSchema(Schema):
    """read's rows: the number (a string: leading zeros kept), its confidence, and its digits with boxes."""

    task = "read"
    row_type = Reading
    columns = ["path", "number", "confidence", "status", "error", "digits"]
    table_header = f"{'number':>12}  {'conf':>6}  {'status':<8}  path"
    top_k = 0

    def csv(self, r: Reading) -> list[Any]:
        return [r.path, r.number or "", _conf(r.confidence), r.status, r.error or "", digits_field(r)]

    def json(self, r: Reading) -> dict[str, Any]:
        return {"path": r.path, "number": r.number, "confidence": _round(r.confidence), "status": r.status,
                "error": r.error, "digits": _digits_json(r, rounded=True)}

    def table(self, r: Reading) -> str:
        conf = "-" if r.confidence is None else f"{r.confidence:.4f}"
        tail = f"  ({shown(r.error)})" if r.error else ""
        return f"{r.number or '-':>12}  {conf:>6}  {r.status:<8}  {shown(r.path)}{tail}"

    def arrow(self, pa: Any) -> list[tuple[str, Any]]:
        digit = pa.struct([("digit", pa.int8()), ("confidence", pa.float64()), ("box", pa.list_(pa.int32()))])
        return [("path", pa.string()), ("number", pa.string()), ("confidence", pa.float64()),
                ("status", pa.string()), ("error", pa.string()), ("digits", pa.list_(digit))]

    def record(self, r: Reading) -> dict[str, Any]:
        return {"status": r.status, "error": r.error, "number": r.number, "confidence": r.confidence,
                "digits": _digits_json(r, rounded=False)}

    def api(self, r: Reading, pixels: bool = False) -> dict[str, Any]:
        return {"filename": r.path, "number": r.number, "confidence": r.confidence, "status": r.status,
                "error": r.error, "digits": _digits_json(r, rounded=False)}

    def to_ray(self, rows: Sequence[Reading]) -> dict[str, np.ndarray]:
        return {
            "path": _object_column([r.path for r in rows]),
            "number": _object_column([r.number or "" for r in rows]),
            "confidence": np.asarray([math.nan if r.confidence is None else r.confidence for r in rows], np.float64),
            "status": _object_column([r.status.value for r in rows]),
            "error": _object_column([r.error or "" for r in rows]),
            "digits": _object_column([json.dumps(_digits_json(r, rounded=False)) for r in rows]),
        }

    def from_ray(self, batch: dict[str, np.ndarray]) -> Iterator[Reading]:
        for path, number, conf, status, error, digits in zip(
                batch["path"].tolist(), batch["number"].tolist(), batch["confidence"].tolist(),
                batch["status"].tolist(), batch["error"].tolist(), batch["digits"].tolist()):
            if status in ("ok", "unsure"):
                boxes = [DigitBox(d["digit"], d["confidence"], tuple(d["box"])) for d in json.loads(digits)]
                yield Reading(str(path), str(number), float(conf), boxes, unsure=status == "unsure")
            else:
                yield unanswered(Reading, str(path), status, str(error))


_NEEDS_QUOTES = re.compile(r'[",\r\n]|^\s|\s$')


def schema(task: str, top_k: int = 0) -> Schema:
    """The schema of *task*'s rows ("classify", with its --top-k; "read")."""
    return ClassifySchema(top_k) if task == "classify" else ReadSchema()
