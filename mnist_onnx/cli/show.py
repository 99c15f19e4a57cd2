"""`mnist-onnx show`: the 28x28 input the model sees, and its probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._app import (CenterOpt, InkOpt, InvertChoice, InvertOpt, MeanOpt, ModelOpt,
                   ProviderChoice, ProviderOpt, StdOpt, announce, app, fail,
                   make_classifier, note)


@app.command()
def show(
    images: Annotated[list[Path], typer.Argument(help="Image files.", show_default=False, metavar="IMAGE")],
    model: ModelOpt = None,
    provider: ProviderOpt = ProviderChoice.auto,
    save: Annotated[Optional[Path], typer.Option("--output", "-o", "--save", help="Folder for one PNG per image.")] = None,
    invert: InvertOpt = InvertChoice.auto,
    center: CenterOpt = True,
    mean: MeanOpt = None,
    std: StdOpt = None,
    model_ink: InkOpt = None,
) -> None:
    """Draw the 28x28 input the model actually receives, and its ten probabilities as bars."""
    from rich.columns import Columns  # rich draws only here and for progress: not imported by other commands
    from rich.console import Console

    from .._pictures import show_png
    from ..errors import Status
    from .._terminal import bars_text, digit_text

    if save is not None:  # a folder: checked before any work
        if save.exists() and not save.is_dir():
            raise fail(f"{save}: exists and is not a folder; --output takes a folder for the PNGs")
        try:
            save.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise fail(f"{save}: cannot create ({e.strerror or e})") from None
    clf = make_classifier(model, provider, 0, invert, center, mean, std, model_ink)
    announce(clf)
    console = Console()  # a drawing: laid out for a terminal's width (80 when piped), unlike tables
    failed = 0
    # The engine's own rows (classify's path: the same decoding, checks and error words), pixels kept.
    for path, r in zip(images, clf.classify_files([str(p) for p in images], keep_probabilities=True, keep_pixels=True)):
        if not r.ok or r.pixels is None or r.probabilities is None:
            note(f"error: {path}: {r.error}" if r.status is Status.ERROR else f"{path}: {r.error}")
            failed += 1
            continue
        pixels, probs = r.pixels, r.probabilities
        console.print(f"[bold]{path}[/bold]: [bold red]{int(probs.argmax())}[/bold red] ({probs.max():.1%})")
        console.print(Columns([digit_text(pixels, console), bars_text(probs)], padding=(0, 4)))
        if save is not None:
            try:
                out = show_png(pixels, probs, save / f"{path.stem}.show.png",
                               f"{path.name}: {int(probs.argmax())} ({probs.max():.1%})")
            except OSError as e:
                raise fail(f"{save / f'{path.stem}.show.png'}: cannot write ({e.strerror or e})") from None
            console.print(f"wrote {out}")
    raise typer.Exit(1 if failed else 0)
