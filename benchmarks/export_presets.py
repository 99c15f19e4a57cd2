"""`mnist-onnx export` for every preset: wall time and test accuracy beside the tutorial's own figure.

    python benchmarks/export_presets.py --data ../shared/mnist-full [--presets tutorial,softmax,...]

Each export runs as a user would run it (its own process, TensorFlow import, training, conversion, parity
check on the 10k test set, files written). The tutorials reported their accuracies after training on all
60,000 images: run it on the full MNIST to compare (the default --data is the 5k subset, for a quick look).
Targets on full data: each preset at or above its tutorial's figure; the default preset in <= 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import DATA, cli, run_timed

TUTORIAL_REPORTED = {"tutorial": 0.92, "softmax": 0.92, "mlp300": 0.968, "mlp200": 0.87, "sigmoid5": 0.93}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--presets", default=",".join(TUTORIAL_REPORTED))
    args = ap.parse_args()
    print(f"{'preset':<10} {'architecture':<42} {'epochs':>6} {'best':>5} {'test acc':>9} {'tutorial*':>9} {'wall':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            out = Path(tmp) / f"{preset}.onnx"
            wall, _, _ = run_timed([cli(), "export", "--data", str(args.data), "--output", str(out), "--preset", preset])
            card = json.loads(out.with_name(f"{preset}.card.json").read_text())
            m = card["metrics"]
            print(f"{preset:<10} {card['architecture']:<42} {m['epochs_run']:>6} {m['best_epoch']:>5} "
                  f"{m['test_accuracy']:>9.2%} {TUTORIAL_REPORTED[preset]:>9.1%} {wall:>6.1f}s")
    print("* accuracy the tutorial reported, trained on the full 60,000 images")


if __name__ == "__main__":
    main()
