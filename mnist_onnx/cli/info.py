"""`mnist-onnx info`: the model card."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from ..errors import MnistOnnxError
from ._app import (rich_console, app, fail)


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
        raise fail(e) from None
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    from rich.table import Table

    console = rich_console()
    table = Table(title=f"{summary['path']} ({summary['source']})", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for section, rows in card_sections(summary):
        table.add_row(f"[underline]{section}[/underline]", "")
        for key, value in rows:
            table.add_row(f"  {key}", value)
    console.print(table)


def _calibration_text(key: str, value: object, applied: float) -> str:
    """A calibration record's value; its own threshold (chosen on held-out MNIST-style digits) is said not to
    be the one in force when the model's `unsure below` (chosen on real handwriting) differs (#31)."""
    if key == "min_confidence" and isinstance(value, (int, float)) and abs(float(value) - applied) > 1e-9:
        return (f"{value} (found on held-out training digits; not applied: `unsure below` {applied:g} applies, "
                "chosen where the model meets real handwriting)")
    return str(value)


def card_sections(summary: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    """`model_summary` as (section, [(key, text)]) for people: what `mnist-onnx info` lays out as a table."""
    model = [(f"{io['role']} {io['name']}", f"{io['type']} {io['shape']}") for io in summary["inputs"] + summary["outputs"]]
    model += [("output kind", summary["output_kind"]),
              ("size", f"{summary['bytes']:,} bytes, sha256 {summary['sha256'][:16]}…")]
    sections = [("model", model), ("preprocessing", [(k, str(v)) for k, v in summary["preprocessing"].items()])]
    card = summary.get("card")
    if not card:
        sections[-1][1].append(("model card", "none: not exported by mnist-onnx (flags --mean/--std/--model-ink set the contract)"))
        return sections

    def metric(v: object) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{a}={b:.3g}" if isinstance(b, float) else f"{a}={b}" for a, b in v.items())
        return f"{v:.2%}" if isinstance(v, float) and v <= 1 else str(v)

    data = card.get("data", {})
    sections += [
        ("model card", [("name", card.get("name", "")), ("architecture", card.get("architecture", ""))]),
        ("metrics", [(k, metric(v)) for k, v in card.get("metrics", {}).items()]),
        ("confidence", [("unsure below (applies)", f"{summary.get('min_confidence', 0):g}"
                         + (f" ({card['min_confidence'].get('chosen_on')})" if isinstance(card.get("min_confidence"), dict)
                            and card["min_confidence"].get("chosen_on") else "")),
                        *[(f"calibration {k}", _calibration_text(k, v, summary.get("min_confidence", 0)))
                          for k, v in (card.get("calibration") or {}).items()]]),
        *([("teacher", [(k, str(v)) for k, v in card["teacher"].items()])] if card.get("teacher") else []),
        ("training config", [(k, str(v)) for k, v in card.get("config", {}).items()]),
        ("data", [("source", str(data.get("source"))),
                  ("images", f"{data.get('train_images', 0):,} train (incl. validation) / {data.get('test_images', 0):,} test"),
                  *[(name, digest) for name, digest in data.get("sha256", {}).items()]]),
        ("versions", [*[(k, str(v)) for k, v in card.get("versions", {}).items()], ("created", str(card.get("created")))]),
    ]
    return sections
