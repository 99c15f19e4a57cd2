"""Rows as Parquet (`-o rows.parquet`, the `parquet` extra): typed columns, written a row group at a time as
rows complete, so memory stays flat however many files; the file appears under its name only when the run
succeeds (written beside it as a `.part`, then renamed).

classify: path (string), digit (int8, null without one), confidence (float64, null), status, error (null),
and top_k (list of {digit, probability}) with --top-k. read: path, number (string: leading zeros kept),
confidence, status, error, digits (list of {digit, confidence, box: [left, top, right, bottom]}).
A file name that is not UTF-8 is written with \\xNN escapes (Parquet strings are UTF-8).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._chunk import FileResult
from ._read import Reading
from .errors import EngineError

ROW_GROUP = 4096


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise EngineError("Parquet output needs pyarrow: pip install \"mnist-onnx[parquet]\"") from None
    return pyarrow


def _text(s: str) -> str:
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class ParquetRows:
    """A writer for classify's FileResults or read's Readings (*kind*), used as a context manager."""

    def __init__(self, path: Path, kind: str, top_k: int = 0) -> None:
        pa = _pyarrow()
        self._pa, self.path, self.kind, self.top_k = pa, Path(path), kind, top_k
        common = [("path", pa.string()), ("status", pa.string()), ("error", pa.string())]
        if kind == "read":
            box = pa.list_(pa.int32())
            digit = pa.struct([("digit", pa.int8()), ("confidence", pa.float64()), ("box", box)])
            fields = [common[0], ("number", pa.string()), ("confidence", pa.float64()), *common[1:],
                      ("digits", pa.list_(digit))]
        else:
            fields = [common[0], ("digit", pa.int8()), ("confidence", pa.float64()), *common[1:]]
            if top_k:
                fields.append(("top_k", pa.list_(pa.struct([("digit", pa.int8()), ("probability", pa.float64())]))))
        self.schema = pa.schema(fields)
        self._rows: list[dict[str, Any]] = []
        self._writer: Any = None
        self._tmp = self.path.with_name(f".{self.path.name}.{os.urandom(4).hex()}.part")

    def __enter__(self) -> ParquetRows:
        import pyarrow.parquet as pq

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(str(self._tmp), self.schema)
        return self

    def write(self, r: FileResult | Reading) -> None:
        row: dict[str, Any] = {"path": _text(r.path), "status": r.status, "error": r.error}
        if isinstance(r, Reading):
            row.update(number=r.number, confidence=r.confidence,
                       digits=[{"digit": d.digit, "confidence": d.confidence, "box": list(d.box)} for d in r.digits])
        else:
            row.update(digit=r.digit, confidence=r.confidence)
            if self.top_k:
                probs = r.probabilities
                order: list[int] = [] if probs is None else (-probs).argsort(kind="stable")[: self.top_k].tolist()
                row["top_k"] = [{"digit": d, "probability": float(probs[d])} for d in order] if probs is not None else []
        self._rows.append(row)
        if len(self._rows) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        """Write the rows gathered so far as one row group."""
        if self._rows:
            self._writer.write_table(self._pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        try:
            if error is None:
                self.flush()
            self._writer.close()
            if error is None:
                os.replace(self._tmp, self.path)
        finally:
            if self._tmp.exists():
                self._tmp.unlink()
