"""`mnist-onnx export`: train, convert, verify, write the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import MnistOnnxError, missing_package, needs_extra
from ._app import PresetChoice, app, fail


@app.command()
def export(
    data: Annotated[Optional[Path], typer.Option("--data", "-d", help="Folder with MNIST IDX files (gz or raw). Default: download the official files into the user cache.")] = None,
    out: Annotated[Optional[Path], typer.Option("--output", "-o", "--out", help="Model file to write. Default: the user data folder, where `classify` finds it.")] = None,
    preset: Annotated[PresetChoice, typer.Option(show_choices=False, help="Network and optimiser of a tutorial: tutorial, softmax, mlp300, mlp200, sigmoid5 or cnn; or reader, the sequence reader `read` uses.")] = PresetChoice.tutorial,
    hidden: Annotated[Optional[str], typer.Option(help="Hidden layer widths, e.g. 512,256,128 ('' for none).")] = None,
    activation: Annotated[Optional[str], typer.Option(help="relu, sigmoid or tanh.")] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Dropout before the output layer.")] = None,
    optimizer: Annotated[Optional[str], typer.Option(help="adam or sgd.")] = None,
    lr: Annotated[Optional[float], typer.Option("--lr", help="Learning rate.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Training batch size.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Maximum epochs (early stopping may end sooner).")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Epochs without validation improvement before stopping.")] = None,
    augment: Annotated[Optional[bool], typer.Option("--augment/--no-augment", help="Random small rotations/shifts/zooms while training.")] = None,
    digit_styles: Annotated[Optional[bool], typer.Option("--digit-styles/--no-digit-styles", help="Also train on handwriting-font digits, 1s with a flag, hooked 7s and long-tailed or hooked 9s. Default: on for handwritten digits (the bundled MLP reads the data as labelled), off for other data, which then trains with the plain recipe.")] = None,
    font_share: Annotated[Optional[float], typer.Option(help="Handwriting-font digits added, as a share of the training images (0: none).")] = None,
    extra_data: Annotated[Optional[Path], typer.Option("--extra-data", help="Your own labelled digits to train on as well: sub-folders 0 ... 9 of images, or a labels.csv with file,label.")] = None,
    teacher: Annotated[Optional[str], typer.Option(help="Distil from this ONNX model (a path, or `cnn` for the bundled CNN): learn its soft targets as well as the labels.")] = None,
    distill_temperature: Annotated[Optional[float], typer.Option(help="Temperature softening the teacher's probabilities.")] = None,
    distill_weight: Annotated[Optional[float], typer.Option(help="Share of the loss from the teacher (0..1).")] = None,
    calibrate: Annotated[Optional[bool], typer.Option("--calibrate/--no-calibrate", help="Fit a softmax temperature on held-out digits so confidences mean what they say.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (same seed, same model on CPU).")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    steps: Annotated[Optional[int], typer.Option(help="--preset reader: training steps (batches of fresh synthetic strings).")] = None,
) -> None:
    """Train the MLP (or --preset cnn, the CNN; --preset reader, the sequence reader `read` uses) in
    TensorFlow, export it to ONNX, verify it against TensorFlow, write model + card + plots."""
    _require_export_extra()
    try:
        from mnist_onnx_export import make_config, validate
    except ImportError as e:
        raise fail(needs_extra("`mnist-onnx export`", "export", e.name)) from None
    widths = None
    if hidden is not None:
        try:
            widths = tuple(int(w) for w in hidden.replace(" ", "").split(",") if w)
        except ValueError:
            raise fail(f"--hidden {hidden!r}: expected comma-separated integers like 512,256,128") from None
    if preset is PresetChoice.reader:
        _export_reader(data, out, opset, seed=seed, batch_size=batch_size, lr=lr, steps=steps,
                       others=dict(hidden=hidden, activation=activation, dropout=dropout, optimizer=optimizer,
                                   epochs=epochs, patience=patience, augment=augment, digit_styles=digit_styles,
                                   font_share=font_share, extra_data=extra_data, teacher=teacher, distill_temperature=distill_temperature,
                                   distill_weight=distill_weight, calibrate=calibrate))
        return
    if steps is not None:
        raise fail("--steps: an option of --preset reader (the MLP and CNN train by --epochs)")
    options = dict(hidden=widths, activation=activation, dropout=dropout, optimizer=optimizer, learning_rate=lr,
                   batch_size=batch_size, epochs=epochs, patience=patience, augment=augment, seed=seed,
                   digit_styles=digit_styles, font_share=font_share, teacher=teacher,
                   distill_temperature=distill_temperature, distill_weight=distill_weight, calibrate=calibrate)
    try:  # every option, before TensorFlow is imported
        validate(make_config(preset.value, **options), opset)
    except ValueError as e:
        raise fail(e) from None
    _check_before_tensorflow(data, out, None, teacher=teacher)
    if extra_data is not None and not extra_data.is_dir():
        raise fail(f"--extra-data {extra_data}: not a folder (sub-folders 0 ... 9 of images, or labels.csv)")
    try:
        from mnist_onnx_export import export_model
    except ImportError as e:
        raise fail(needs_extra("`mnist-onnx export`", "export", e.name)) from None
    try:
        result = export_model(data, out, preset=preset.value, opset=opset, extra_data=extra_data, **options)
    except (MnistOnnxError, ValueError) as e:
        raise fail(e) from None
    m = result.card["metrics"]
    typer.echo(f"model: {result.model_path}  test accuracy {m['test_accuracy']:.2%}  validation {m['validation_accuracy']:.2%}")


# the export extra's packages (pyproject.toml), by import name: looked up, not imported, so a missing one is
# named before any work starts -- whichever path (a download, the reader, the MLP) would import it first
_EXPORT_EXTRA = ("tensorflow", "tf2onnx", "onnx", "matplotlib", "pooch", "requests")


def _require_export_extra() -> None:
    missing = missing_package(_EXPORT_EXTRA)
    if missing:
        raise fail(needs_extra("`mnist-onnx export`", "export", missing))


def _export_reader(data, out, opset, *, seed, batch_size, lr, steps, others) -> None:
    """`export --preset reader`: the sequence reader, its own few options checked before TensorFlow loads."""
    given = [name for name, value in others.items() if value is not None]
    if given:
        raise fail(f"--{given[0].replace('_', '-')}: not an option of --preset reader (it takes --steps, "
                   "--batch-size, --lr, --seed, --data, --output, --opset)")
    for flag, value, low, high in (("--steps", steps, 1, 10**7), ("--batch-size", batch_size, 1, 4096),
                                   ("--lr", lr, 1e-6, 1.0), ("--seed", seed, 0, 2**31 - 1)):
        if value is not None and not low <= value <= high:
            raise fail(f"{flag} {value}: must be from {low:g} to {high:g}")
    if opset not in range(13, 19):
        raise fail(f"--opset {opset}: must be from 13 to 18")
    _check_before_tensorflow(data, out, "reader.onnx")
    try:
        import dataclasses

        from mnist_onnx_export import ReaderConfig, export_reader
    except ImportError as e:
        raise fail(needs_extra("`mnist-onnx export`", "export", e.name)) from None
    cfg = ReaderConfig()
    cfg = dataclasses.replace(cfg, **{k: v for k, v in dict(seed=seed, batch_size=batch_size, learning_rate=lr,
                                                             steps=steps).items() if v is not None})
    try:
        path, card = export_reader(data, out, opset=opset, cfg=cfg)
    except (MnistOnnxError, ValueError) as e:
        raise fail(e) from None
    typer.echo(f"model: {path}  held-out exact {card['metrics']['held_out_exact']:.2%}")


def _check_before_tensorflow(data, out, default_name: str | None, teacher=None) -> None:
    """The output, the teacher and the data (a missing folder or file, a wrong header): said in one line
    before TensorFlow takes its seconds to import."""
    from .._paths import check_writable, default_export_path  # not for --help

    try:
        default = default_export_path()
        check_writable(out if out is not None else default.with_name(default_name) if default_name else default)
        if teacher is not None:
            from mnist_onnx_export import resolve_teacher

            resolve_teacher(teacher)
        if data is not None:
            from .._idx import find_split, load_split  # numpy: not for --help

            load_split(data, "test")
            find_split(data, "train", "images")
            find_split(data, "train", "labels")
    except MnistOnnxError as e:
        raise fail(e) from None
