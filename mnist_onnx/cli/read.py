"""`mnist-onnx read`: one row per image, the whole number written in it."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .._defaults import READ_CHUNK
from ._app import InvertChoice, InvertOpt, ReadModelOpt, app, check_range
from ._run import Run, Task, open_model, rows_command, run_rows


@app.command()
@rows_command
def read(
    run: Run,
    model: ReadModelOpt,
    min_confidence: Annotated[Optional[float], typer.Option(show_default=False, help="Numbers read with a lower confidence get status unsure. Default: the reader's own, chosen on held-out strings (`mnist-onnx info reader`); 0.9 with --model mlp|cnn; 0: never unsure.")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per chunk: their digits share model calls (memory: up to ~1.6 MB an image).")] = READ_CHUNK,
    workers: Annotated[int, typer.Option(help="Processes decoding and segmenting images in parallel.")] = 1,
    invert: InvertOpt = InvertChoice.auto,
) -> None:
    """Read the handwritten number in every image under PATHS (a date, a postcode, a meter reading): one row
    per file with the digit string (leading zeros kept), its confidence, and each digit with its box.
    Read by the sequence reader (the bundled `reader`, or your last `export --preset reader`); --model mlp|cnn
    cuts the number into digits for a digit model instead. Exit 1 if any file failed."""
    check_range("--min-confidence", min_confidence, 0, 1, "a probability")
    from .._model import default_reader
    from .._schema import ReadSchema

    clf = open_model(run, model if model is not None else default_reader(), "read", invert=invert)
    run_rows(Task("read", "read", ReadSchema()), run, clf, clf.threshold(min_confidence, "read"))  # None: the
    # reader's own (a segmentation: 0.9)
