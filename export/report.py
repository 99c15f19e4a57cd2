"""Pictures written next to the model: training curves and a confusion matrix (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mnist_onnx.parts import atomic_write  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_curves(history, path: Path, title: str) -> None:
    """Train vs validation accuracy and loss per epoch, like the tutorials' plots, best epoch marked."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, train, val, name in ((ax_acc, history.accuracy, history.val_accuracy, "accuracy"),
                                 (ax_loss, history.loss, history.val_loss, "loss")):
        ax.plot(history.epoch, train, label=f"train {name}")
        ax.plot(history.epoch, val, label=f"validation {name}")
        ax.axvline(history.best_epoch, color="grey", linestyle=":", label=f"best epoch ({history.best_epoch})")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = 10) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (y_true.astype(int), y_pred.astype(int)), 1)
    return cm


def plot_confusion(cm: np.ndarray, path: Path, title: str) -> None:
    """Counts per (true, predicted) pair; the diagonal is what the model got right."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    shown = np.log1p(cm)
    ax.imshow(shown, cmap="Blues")
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > shown.max() * 0.6 else "black")
    ax.set_xticks(range(cm.shape[1]))
    ax.set_yticks(range(cm.shape[0]))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(title)
    _save(fig, path)
