"""`mnist-onnx info`: the model card."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ..errors import MnistOnnxError
from ._app import (_console, app, fail)


@app.command()
def info(
    model: Annotated[Optional[str], typer.Argument(help="ONNX model (default: the one classify would use).", show_default=False, metavar="MODEL")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The model card: inputs/outputs, preprocessing contract, metrics, training config, data, versions."""
    from .._model import model_summary

    try:
        summary = model_summary(model)
    except MnistOnnxError as e:
        raise fail(str(e)) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    from rich.table import Table

    from .._model import card_sections

    console = _console()
    table = Table(title=f"{summary['path']} ({summary['source']})", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for section, rows in card_sections(summary):
        table.add_row(f"[underline]{section}[/underline]", "")
        for key, value in rows:
            table.add_row(f"  {key}", value)
    console.print(table)
