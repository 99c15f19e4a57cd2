"""Score a model on labelled data: an IDX dataset folder, PNGs in digit sub-folders, or PNGs + labels CSV.

The numbers are computed from the same predictions `classify` would make, so a user can trust that what
`evaluate` reports is what they will get.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol, overload

import numpy as np

from ._calibration import COVERAGES, accuracy_at_coverage, expected_calibration_error
from ._schema import FileResult
from ._files import iter_files
from ._idx import find_split, load_split
from .errors import DataError, UsageError


_LABEL = re.compile("[0-9]")  # ASCII only


class Model(Protocol):
    """What evaluating needs of a Classifier (typed structurally: this module does not import it)."""

    @property
    def min_confidence(self) -> float: ...

    def preprocess(self, inputs: np.ndarray) -> np.ndarray: ...

    def predict_pixels(self, x: np.ndarray, batch_size: int = ...) -> np.ndarray: ...

    def classify_files(self, paths: Iterable[str], *, workers: int = ..., keep_probabilities: bool = ...,
                       keep_pixels: bool = ...) -> Iterator[FileResult]: ...


@dataclass
class Evaluation:
    labels: np.ndarray  # (N,) true digits of the images that could be read
    predictions: np.ndarray  # (N,)
    confidences: np.ndarray  # (N,)
    sources: list[str]  # file path, or "idx:<index>" for IDX data
    pixels: np.ndarray | None = None  # (N, 28, 28) model inputs, kept only for the misclassified grid
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, problem)
    dataset: str = ""
    min_confidence: float = 0.0  # digits below it are `unsure` (still counted in `accuracy`)

    @property
    def accuracy(self) -> float:
        """Right answers among every image read, unsure ones included: the model's accuracy."""
        return float((self.labels == self.predictions).mean()) if len(self.labels) else 0.0

    @property
    def sure(self) -> np.ndarray:
        """Which answers are `ok` (at or above `min_confidence`), not `unsure`."""
        return self.confidences >= self.min_confidence

    @property
    def sure_accuracy(self) -> float:
        """Right answers among the `ok` ones: what a user who trusts only `ok` rows gets."""
        sure = self.sure
        return float((self.labels[sure] == self.predictions[sure]).mean()) if sure.any() else 0.0

    @property
    def coverage(self) -> float:
        """The share of answers that are `ok`."""
        return float(self.sure.mean()) if len(self.labels) else 0.0

    @property
    def calibration_error(self) -> float:
        """Expected calibration error: how far confidence is from accuracy (0: it means what it says)."""
        return expected_calibration_error(self.confidences, self.labels == self.predictions)

    @overload
    def accuracy_at(self, coverages: float) -> float: ...

    @overload
    def accuracy_at(self, coverages: tuple[float, ...] = COVERAGES) -> dict[float, float]: ...

    def accuracy_at(self, coverages: float | tuple[float, ...] = COVERAGES) -> float | dict[float, float]:
        """Accuracy of the most confident share of answers, for each share: what rejecting the rest buys.
        One share (`accuracy_at(0.95)`) gives its accuracy; several (a tuple) give {share: accuracy}."""
        if isinstance(coverages, (int, float)):
            if not 0 < coverages <= 1:
                raise UsageError(f"coverage {coverages!r}: must be a share above 0 and at most 1")
            return accuracy_at_coverage(self.confidences, self.labels == self.predictions, (float(coverages),))[float(coverages)]
        return accuracy_at_coverage(self.confidences, self.labels == self.predictions, coverages)

    @property
    def confusion(self) -> np.ndarray:
        """confusion[true, predicted] counts."""
        cm = np.zeros((10, 10), np.int64)
        np.add.at(cm, (self.labels.astype(int), self.predictions.astype(int)), 1)
        return cm

    def per_class(self) -> list[dict]:
        cm = self.confusion
        rows = []
        for d in range(10):
            tp, predicted, actual = cm[d, d], cm[:, d].sum(), cm[d, :].sum()
            precision = tp / predicted if predicted else 0.0
            recall = tp / actual if actual else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append({"digit": d, "support": int(actual), "precision": float(precision),
                         "recall": float(recall), "f1": float(f1)})
        return rows

    def misclassified(self) -> np.ndarray:
        return np.flatnonzero(self.labels != self.predictions)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "images": int(len(self.labels)),
            "correct": int((self.labels == self.predictions).sum()),
            "unreadable": [{"path": p, "error": e} for p, e in self.unreadable],
            "dataset": self.dataset,
            "min_confidence": self.min_confidence,
            "ok": int(self.sure.sum()),
            "unsure": int((~self.sure).sum()),
            "ok_accuracy": self.sure_accuracy,
            "coverage": self.coverage,
            "calibration_error": self.calibration_error,
            "accuracy_at_coverage": {f"{c:.2f}": a for c, a in self.accuracy_at().items()},
            "per_class": self.per_class(),
            "confusion": self.confusion.tolist(),
            "misclassified": [{"source": self.sources[i], "label": int(self.labels[i]),
                               "predicted": int(self.predictions[i]),
                               "confidence": round(float(self.confidences[i]), 6)} for i in self.misclassified()],
        }


def labelled_files(folder: Path) -> list[tuple[str, int]]:
    """PNGs in digit sub-folders `0/`..`9/`, or listed in a labels CSV (columns file,label) in *folder*."""
    subdirs = [folder / str(d) for d in range(10) if (folder / str(d)).is_dir()]
    if subdirs:
        return [(p, int(Path(p).parent.name)) for sub in subdirs for p in iter_files([sub], recursive=True)]
    for name in ("labels.csv", "labels.CSV"):
        if (folder / name).is_file():
            return _read_labels_csv(folder / name)
    raise DataError(f"{folder}: no IDX test files, no digit sub-folders 0/..9/ and no labels.csv")


def _read_labels_csv(path: Path) -> list[tuple[str, int]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # a BOM is not part of the first file's name
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:  # csv.Error: a field over the 128 KiB limit, a NUL
        raise DataError(f"{path}: cannot read ({e})") from None
    first = 1
    if rows and rows[0] and not _LABEL.fullmatch(rows[0][-1].strip()):
        rows, first = rows[1:], 2  # header
    out = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows, start=first):
        if not row:
            continue
        if len(row) < 2 or not _LABEL.fullmatch(row[1].strip()):  # "²" is a digit to str.isdigit, not to int
            raise DataError(f"{path}: line {n}: expected 'file,label' with a label 0-9, got {','.join(row)!r}")
        file = os.path.join(path.parent, row[0].strip())
        if os.path.isdir(file):
            raise DataError(f"{path}: line {n}: {row[0].strip()!r} is a folder; list image files, one per line")
        key = os.path.normpath(file)
        if key in seen:  # merging would silently count one image twice, or with two labels
            raise DataError(f"{path}: line {n}: {row[0].strip()!r} is already listed on line {seen[key]}")
        seen[key] = n
        out.append((file, int(row[1])))
    if not out:
        raise DataError(f"{path}: no labelled files")
    return out


def evaluate_arrays(clf: Model, x: np.ndarray, y: np.ndarray, keep_pixels: bool = False,
                    dataset: str = "", min_confidence: float = 0.0) -> Evaluation:
    """Evaluate on MNIST-style arrays (what `Classifier.evaluate` does)."""
    pixels = clf.preprocess(np.asarray(x))
    probs = clf.predict_pixels(pixels)
    return Evaluation(np.asarray(y, dtype=np.int64).reshape(-1), probs.argmax(1), probs.max(1),
                      [f"idx:{i}" for i in range(len(pixels))], pixels if keep_pixels else None, dataset=dataset,
                      min_confidence=min_confidence)


def evaluate(clf: Model, path: str | Path, keep_pixels: bool = True, workers: int = 1,
             min_confidence: float | None = None) -> Evaluation:
    """Evaluate *clf* on the labelled data at *path* (see module docstring): the rows `classify` gives,
    with the model's inputs kept for the misclassified images (for the report's picture). Answers below
    *min_confidence* (default: the model's own) count as `unsure` (`Evaluation.sure_accuracy`, `coverage`);
    `accuracy` counts all."""
    if min_confidence is None:
        min_confidence = clf.min_confidence
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found")
    if path.is_dir():
        try:
            find_split(path, "test", "images")
            is_idx = True
        except DataError:
            is_idx = False
        if is_idx:
            x, y = load_split(path, "test")
            return evaluate_arrays(clf, x, y, keep_pixels=keep_pixels, dataset=f"{path} (IDX test split)",
                                   min_confidence=min_confidence)
        items = labelled_files(path)
    elif path.suffix.lower() == ".csv":
        items = _read_labels_csv(path)
    else:
        raise DataError(f"{path}: expected an IDX folder, a folder of digit sub-folders, or a labels CSV")

    truth = dict(items)
    labels: list[int] = []
    preds: list[int | None] = []
    confs: list[float | None] = []
    sources: list[str] = []
    bad: list[tuple[str, str]] = []
    wrong: dict[int, np.ndarray] = {}
    for r in clf.classify_files([p for p, _ in items], workers=workers, keep_probabilities=False,
                                keep_pixels=keep_pixels):
        if not r.ok:
            bad.append((r.path, r.error or ""))
            continue
        if keep_pixels and r.digit != truth[r.path] and r.pixels is not None:
            wrong[len(labels)] = r.pixels
        labels.append(truth[r.path])
        preds.append(r.digit)
        confs.append(r.confidence)
        sources.append(r.path)
    ev = Evaluation(np.array(labels, dtype=np.int64), np.array(preds, dtype=np.int64), np.array(confs),
                    sources, unreadable=bad, dataset=str(path), min_confidence=min_confidence)
    if wrong:
        ev.pixels = np.zeros((len(labels), 28, 28), np.float32)
        for i, pixels in wrong.items():
            ev.pixels[i] = pixels
    return ev
