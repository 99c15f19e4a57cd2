"""Write classification rows as an aligned table, CSV or JSON Lines, one row as soon as it is known."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ._batch import FileResult
from .errors import UsageError

if TYPE_CHECKING:
    from ._read import Reading

FORMATS = ("table", "csv", "jsonl")
_NEEDS_QUOTES = re.compile(r'[",\r\n]|^\s|\s$')
# What a terminal would act on: C0 and C1 controls, DEL, and bytes of a non-UTF-8 name (surrogate escapes,
# which a table written with surrogateescape would send raw: 0x9b is a CSI on 8-bit terminals).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff]")


def shown(text: str) -> str:
    """*text* safe to print on a terminal: control characters as \\xNN escapes. For the table format only;
    CSV and JSON Lines keep names exactly (they round-trip)."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()) & 0xFF:02x}", text)
COLUMNS = ["path", "digit", "confidence", "status", "error"]


def csv_header(top_k: int = 0) -> list[str]:
    """classify's CSV columns."""
    return COLUMNS + (["top_k"] if top_k else [])


def choose_format(fmt: str | None, output: str | os.PathLike | None, terminal: bool) -> str:
    """The format asked for; else from the output file's suffix (.csv, .jsonl, .parquet); else a table for a person at
    a terminal and CSV for a program or file."""
    if fmt:
        return fmt
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    if suffix in ("csv", "jsonl", "parquet"):
        return suffix
    return "table" if output is None and terminal else "csv"


def _top_k(r: FileResult, k: int) -> list[tuple[int, float]]:
    if not k or r.probabilities is None:
        return []
    order = (-r.probabilities).argsort(kind="stable")[:k]
    return [(int(d), round(float(r.probabilities[d]), 6)) for d in order]


class RowWriter:
    """classify's rows. *header*: False when appending to an output that has one (`--resume`)."""

    def __init__(self, stream: TextIO, fmt: str, top_k: int = 0, header: bool = True) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose {', '.join(FORMATS)}")
        self.stream, self.fmt, self.top_k = stream, fmt, top_k
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        # csv quotes a field with "\n" but not one with a lone "\r", which readers then split: quote all of such rows
        self._csv_all = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL) if fmt == "csv" else None
        if self._csv and header:
            self._csv.writerow(csv_header(top_k))
        elif fmt == "table":
            stream.write(f"{'digit':>5}  {'conf':>6}  {'status':<6}  path" + ("  top-k" if top_k else "") + "\n")

    def write(self, r: FileResult) -> None:
        if self._csv and r.error is None and not self.top_k and not _NEEDS_QUOTES.search(r.path):
            # the common row, formatted directly: identical to what csv.writer would write, 3x cheaper
            self.stream.write(f"{r.path},{r.digit},{r.confidence:.6f},{'unsure' if r.unsure else 'ok'},\n")
            return
        top = _top_k(r, self.top_k)
        if self._csv:
            row = [r.path, "" if r.digit is None else r.digit,
                   "" if r.confidence is None else f"{r.confidence:.6f}", r.status, r.error or ""]
            if self.top_k:
                row.append(";".join(f"{d}:{p:.6f}" for d, p in top))
            writer = self._csv_all if "\r" in r.path or "\r" in (r.error or "") else self._csv
            assert writer is not None
            writer.writerow(row)
        elif self.fmt == "jsonl":
            obj: dict[str, object] = {"path": r.path, "digit": r.digit,
                   "confidence": None if r.confidence is None else round(r.confidence, 6),
                   "status": r.status, "error": r.error}
            if self.top_k:
                obj["top_k"] = [{"digit": d, "probability": p} for d, p in top]
            self.stream.write(json.dumps(obj) + "\n")
        else:
            digit = "-" if r.digit is None else str(r.digit)
            conf = "-" if r.confidence is None else f"{r.confidence:.4f}"
            tail = f"  ({shown(r.error)})" if r.error else ""
            extra = "  " + " ".join(f"{d}:{p:.3f}" for d, p in top) if top else ""
            self.stream.write(f"{digit:>5}  {conf:>6}  {r.status:<6}  {shown(r.path)}{extra}{tail}\n")


READ_COLUMNS = ["path", "number", "confidence", "status", "error", "digits"]


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


class ReadingWriter:
    """`read`'s rows, in the same three formats as classify's and with the same quoting rules."""

    def __init__(self, stream: TextIO, fmt: str, header: bool = True) -> None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose {', '.join(FORMATS)}")
        self.stream, self.fmt = stream, fmt
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        self._csv_all = csv.writer(stream, lineterminator="\n", quoting=csv.QUOTE_ALL) if fmt == "csv" else None
        if self._csv and header:
            self._csv.writerow(READ_COLUMNS)
        elif fmt == "table":
            stream.write(f"{'number':>12}  {'conf':>6}  {'status':<8}  path\n")

    def write(self, r: Reading) -> None:
        conf = None if r.confidence is None else round(r.confidence, 6)
        if self._csv and self._csv_all:
            row = [r.path, r.number or "", "" if r.confidence is None else f"{r.confidence:.6f}", r.status,
                   r.error or "", digits_field(r)]
            (self._csv_all if "\r" in r.path or "\r" in (r.error or "") else self._csv).writerow(row)
        elif self.fmt == "jsonl":
            self.stream.write(json.dumps({
                "path": r.path, "number": r.number, "confidence": conf, "status": r.status, "error": r.error,
                "digits": [{"digit": d.digit, "confidence": round(d.confidence, 6), "box": list(d.box)}
                           for d in r.digits]}) + "\n")
        else:
            number = r.number or "-"
            conf_text = "-" if r.confidence is None else f"{r.confidence:.4f}"
            tail = f"  ({shown(r.error)})" if r.error else ""
            self.stream.write(f"{number:>12}  {conf_text:>6}  {r.status:<8}  {shown(r.path)}{tail}\n")
