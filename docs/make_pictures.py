"""Regenerate the README's pictures with the project's own code and commands.

    python docs/make_pictures.py ../shared/mnist-5k
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from mnist_onnx import Classifier, load_image  # noqa: E402


def preprocessing_grid() -> None:
    """Each sample as stored (over a checkerboard where transparent) above what the model receives."""
    files = sorted((ROOT / "samples").glob("*.png"))
    clf = Classifier(provider="cpu")
    tile, pad, cap = 112, 8, 34
    im = Image.new("RGB", (len(files) * (tile + pad) + pad, 2 * tile + 3 * pad + cap), "white")
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=11)
    for k, path in enumerate(files):
        x0 = pad + k * (tile + pad)
        src = Image.open(path)
        src.seek(0)
        if src.mode.startswith("I"):  # 16-bit: Pillow's own conversion would clip it to white
            src = Image.fromarray((np.asarray(src, dtype=np.float32) / 257).astype(np.uint8))
        src = src.convert("RGBA")
        s = tile / max(src.size)
        src = src.resize((max(1, round(src.width * s)), max(1, round(src.height * s))),
                         Image.Resampling.NEAREST if s > 1 else Image.Resampling.LANCZOS)
        checker = Image.fromarray(((np.indices((tile, tile)).sum(0) // 8 % 2) * 40 + 180).astype(np.uint8)).convert("RGBA")
        checker.alpha_composite(src, ((tile - src.width) // 2, (tile - src.height) // 2))
        im.paste(checker.convert("RGB"), (x0, pad))
        seen = load_image(path)
        im.paste(Image.fromarray((seen * 255).astype(np.uint8)).resize((tile, tile), Image.Resampling.NEAREST), (x0, tile + 2 * pad))
        pred = clf.classify(path)
        draw.text((x0, 2 * tile + 2 * pad + 4), path.stem, font=font, fill="black")
        draw.text((x0, 2 * tile + 2 * pad + 18), f"-> {pred.digit} ({pred.confidence:.0%})", font=font, fill=(170, 0, 0))
    im.save(HERE / "preprocessing.png")


def main(data: str) -> None:
    preprocessing_grid()
    cli = str(Path(sys.executable).with_name("mnist-onnx"))
    subprocess.run([cli, "evaluate", data, "--report", str(HERE), "-p", "cpu"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cli, "show", str(ROOT / "samples" / "4_shaded.png"), "--save", str(HERE), "-p", "cpu"],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"pictures written to {HERE}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT.parent / "shared" / "mnist-5k"))
