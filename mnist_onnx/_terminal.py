"""Draw in the terminal: the 28x28 model input (two pixels per character cell, with half blocks and
24-bit gray where the terminal has colour; an ASCII ramp where it does not) and probability bars."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.text import Text

_RAMP = " .:-=+*#%@"


def digit_text(pixels: np.ndarray, console: Console) -> Text:
    """The image the model receives, white ink on black, as the model sees it."""
    v = np.clip(pixels * 255, 0, 255).astype(int)
    text = Text()
    if console.color_system and console.is_terminal:
        for r in range(0, 28, 2):
            for c in range(28):
                top, bottom = v[r, c], v[r + 1, c]
                text.append("▀", style=f"rgb({top},{top},{top}) on rgb({bottom},{bottom},{bottom})")
            text.append("\n")
    else:  # plain text: one character per pixel, doubled horizontally to keep the aspect ratio
        for r in range(28):
            text.append("".join(_RAMP[min(len(_RAMP) - 1, x * len(_RAMP) // 256)] * 2 for x in v[r]).rstrip() + "\n")
    return text


def bars_text(probs: np.ndarray, width: int = 30) -> Text:
    best = int(probs.argmax())
    text = Text()
    for d, p in enumerate(probs):
        n = int(round(float(p) * width))
        style = "bold red" if d == best else "cyan"
        text.append(f"{d} ", style="bold" if d == best else "")
        text.append("█" * n + "·" * (width - n), style=style)
        text.append(f" {p:6.3f}" + ("  ◀" if d == best else "") + "\n", style="bold" if d == best else "")
    return text
