"""`mnist-onnx classify`: one row per image file."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .._defaults import CLI_CHUNK
from ._app import CenterOpt, InkOpt, InvertChoice, InvertOpt, MeanOpt, MinConfidenceOpt, StdOpt, app, check_range
from ._run import Run, Task, open_model, rows_command, run_rows


@app.command()
@rows_command
def classify(
    run: Run,
    model: Optional[str],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="Also list the K most likely digits.")] = 0,
    min_confidence: MinConfidenceOpt = None,
    batch_size: Annotated[int, typer.Option(help="Images per chunk: decoded together, then given to the model in one pass.")] = CLI_CHUNK,
    workers: Annotated[int, typer.Option(help="Processes decoding images in parallel.")] = 1,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
) -> None:
    """Classify every image under PATHS: one row per file, a prediction or an error. Exit 1 if any file failed."""
    check_range("--top-k", top_k, 0, 10, "a count")
    check_range("--min-confidence", min_confidence, 0, 1, "a probability")  # None: the model's own
    from .._schema import ClassifySchema

    clf = open_model(run, model, "classify", invert=invert, center=center, mean=mean, std=std, model_ink=model_ink)
    task = Task("classify", "classified", ClassifySchema(top_k), {"keep_probabilities": top_k > 0})
    run_rows(task, run, clf, clf.threshold(min_confidence))
