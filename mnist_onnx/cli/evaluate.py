"""`mnist-onnx evaluate`: accuracy and confusion on labelled digits."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import MnistOnnxError
from ._app import (CenterOpt, InkOpt, InvertChoice, InvertOpt, MeanOpt, MinConfidenceOpt, ModelOpt,
                   ProviderChoice, ProviderOpt, StdOpt, rich_console, announce, app, check_range, fail,
                   make_classifier, note)


_SHOWN = 10  # unreadable files named one by one on stderr; the rest are counted


@app.command()
def evaluate(
    path: Annotated[Path, typer.Argument(help="IDX dataset folder (its test split), a folder of images in digit sub-folders 0/..9/, or a labels CSV (file,label).", show_default=False, metavar="PATH")],
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON (accuracy at the top level).")] = False,
    report: Annotated[Optional[Path], typer.Option("--output", "-o", "--report", help="Folder for the pictures: confusion.png, misclassified.png and risk-coverage.png.")] = None,
    workers: Annotated[int, typer.Option(help="Processes decoding PNGs in parallel.")] = 1,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
    min_confidence: MinConfidenceOpt = None,
) -> None:
    """Accuracy, per-class precision/recall, the confusion matrix and how far the confidence can be trusted
    (calibration error, accuracy of the ok answers, accuracy at 100/98/95/90 % of the answers kept)."""
    from .._evaluate import evaluate as evaluate_labelled

    check_range("--workers", workers, 1, max(4, 4 * (os.cpu_count() or 1)), "a process count")
    check_range("--min-confidence", min_confidence, 0, 1, "a probability")
    if report is not None:
        _not_inside(report, path)
    clf = make_classifier(model, provider, 0, invert, center, mean, std, model_ink)
    try:
        ev = evaluate_labelled(clf, path, keep_pixels=report is not None, workers=workers,
                               min_confidence=min_confidence)
    except MnistOnnxError as e:
        raise fail(e) from None
    finally:
        clf.close()
    announce(clf)
    for p, err in ev.unreadable[:_SHOWN]:
        note(f"warning: {p}: {err}")
    if len(ev.unreadable) > _SHOWN:  # a million missing files are one line, not a million
        note(f"warning: ... and {len(ev.unreadable) - _SHOWN:,} more files could not be read or had no digit "
             f"({len(ev.unreadable):,} in all; --json lists them)")
    if len(ev.labels) == 0:
        raise fail(f"{path}: nothing to evaluate: none of the {len(ev.unreadable):,} labelled files could be read", 1)
    written: list[Path] = []
    if report is not None:
        from .._pictures import write_report

        try:
            written = write_report(ev, report, clf.model_path.name)
        except OSError as e:
            raise fail(f"{report}: cannot write the report ({e.strerror or e})") from None
    if as_json:
        out = {**ev.to_dict(), "model": str(clf.model_path), "provider": clf.provider,
               "report": [str(p) for p in written]}
        typer.echo(json.dumps(out, indent=2))
        return
    from rich.table import Table

    console = rich_console()
    console.print(f"[bold]{ev.accuracy:.2%}[/bold] accuracy ({int((ev.labels == ev.predictions).sum()):,} of "
                  f"{len(ev.labels):,}) on {ev.dataset} with {clf.model_path} ({clf.info.source}, {clf.provider.upper()})")
    if ev.min_confidence > 0:
        console.print(f"ok (confidence >= {ev.min_confidence:g}): {int(ev.sure.sum()):,} answers ({ev.coverage:.1%}), "
                      f"[bold]{ev.sure_accuracy:.2%}[/bold] of them right; {int((~ev.sure).sum()):,} unsure")
    console.print(f"calibration error (ECE) {ev.calibration_error:.4f}; accuracy keeping the most confident "
                  + ", ".join(f"{c:.0%}: {a:.2%}" for c, a in ev.accuracy_at().items()))
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
    for picture in written:
        console.print(f"wrote {picture}")


def _not_inside(report: Path, data: Path) -> None:
    """The report's pictures must not land in a folder of labelled images: the next evaluation would count
    them as digits (`classify` has the same guard for -o). An IDX folder is only read through its IDX files."""
    if not data.is_dir() or any(data.glob("*idx3-ubyte*")):
        return
    folder, top = os.path.realpath(report), os.path.realpath(data)
    if folder == top or folder.startswith(top.rstrip(os.sep) + os.sep):
        raise fail(f"{report}: inside the evaluated images {data}; its pictures would be counted by the next "
                   "evaluation (write the report elsewhere)")
