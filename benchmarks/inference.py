"""Raw in-memory inference: our Classifier vs a bare onnxruntime session on the same model, batch 1024.

    python benchmarks/inference.py [--rounds 30]

Both get the same preprocessed (N, 28, 28) float32 test images; ours adds the contract handling (reshape,
scale/mean/std, output check). Interleaved rounds, best and median reported. Target: ours >= 0.9x bare.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort

from common import DATA  # noqa: F401  (sets sys.path)
from mnist_onnx import Classifier
from mnist_onnx._idx import load_split
from mnist_onnx._model import bundled_model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=1024)
    args = ap.parse_args()
    x, _ = load_split(DATA, "test")
    pixels = x.astype(np.float32) / 255
    clf = Classifier(provider="cpu")
    bare = ort.InferenceSession(str(bundled_model_path()), providers=["CPUExecutionProvider"])
    flat = pixels.reshape(-1, 784)

    def ours():
        for s in range(0, len(pixels), args.batch):
            clf.predict_pixels(pixels[s : s + args.batch], batch_size=args.batch)

    def plain():
        for s in range(0, len(flat), args.batch):
            bare.run(None, {"pixels": flat[s : s + args.batch]})

    assert np.allclose(clf.predict_pixels(pixels), bare.run(None, {"pixels": flat})[0], atol=1e-6)
    ours(), plain()  # warm up
    t_ours, t_bare = [], []
    for _ in range(args.rounds):
        for fn, acc in ((ours, t_ours), (plain, t_bare)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    n = len(pixels)
    for name, t in (("Classifier.predict_pixels", t_ours), ("bare InferenceSession.run", t_bare)):
        print(f"  {name:<26} median {n / statistics.median(t):10,.0f} img/s   best {n / min(t):10,.0f} img/s")
    print(f"ours / bare throughput (median) = {statistics.median(t_bare) / statistics.median(t_ours):.2f}   (target >= 0.90)")
    print(f"ours / bare throughput (best)   = {min(t_bare) / min(t_ours):.2f}")


if __name__ == "__main__":
    main()
