"""MNIST for training: read IDX files from a folder, or download the canonical files into the user cache.

Downloads use pooch (checksum verification, download to a temporary file then rename, reuse of cached files);
we add a mirror list and one-line errors on top of it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_onnx._idx import find_split, load_split
from mnist_onnx._paths import user_cache_dir
from mnist_onnx.errors import DataError

# Canonical SHA-256 of the four files of the MNIST distribution.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# Tried in order. The original host at lecun.com has been unreliable for years, so it comes last.
MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRRORS_ENV = "MNIST_ONNX_MIRRORS"  # whitespace- or comma-separated base URLs; replaces MIRRORS


@dataclass
class Dataset:
    x_train: np.ndarray  # (N, 28, 28) uint8, white ink on black
    y_train: np.ndarray  # (N,) uint8
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # folder the files were read from
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256 of the bytes on disk


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def mirrors() -> list[str]:
    env = os.environ.get(MIRRORS_ENV)
    urls = env.replace(",", " ").split() if env else list(MIRRORS)
    return [u if u.endswith("/") else u + "/" for u in urls]


def download_mnist(cache_dir: str | Path | None = None, mirror_urls: list[str] | None = None,
                   files: dict[str, str] | None = None) -> Path:
    """Fetch the four canonical MNIST files into the cache (once) and return the folder.

    Each file is verified against its SHA-256 (*files*: name -> SHA-256, the canonical sums by default); a
    file that fails verification is never kept, and a verified cached file is not downloaded again.
    """
    import pooch
    import requests

    folder = Path(cache_dir) if cache_dir else user_cache_dir() / "mnist"
    urls = mirror_urls or mirrors()
    for name, sha in (files or MNIST_FILES).items():
        problems = []
        for base in urls:
            try:
                pooch.retrieve(url=base + name, known_hash=f"sha256:{sha}", fname=name, path=folder)
                break
            except ValueError as e:  # pooch's checksum mismatch (the bad download is deleted)
                problems.append(f"{base}{name}: SHA-256 mismatch" if "hash" in str(e).lower() else f"{base}{name}: {e}")
            except (requests.RequestException, OSError) as e:
                problems.append(f"{base}{name}: {type(e).__name__}")
        else:
            raise DataError(
                f"{name}: could not download from any mirror ({'; '.join(problems)}); "
                "if you are offline, pass --data DIR with the four MNIST IDX files"
            )
    return folder


def load_mnist(data_dir: str | Path | None = None) -> Dataset:
    """Train and test splits from *data_dir*, or from the download cache when it is None."""
    folder = Path(data_dir) if data_dir is not None else download_mnist()
    x_train, y_train = load_split(folder, "train")
    x_test, y_test = load_split(folder, "test")
    sha = {
        p.name: _sha256(p)
        for split in ("train", "test")
        for p in (find_split(folder, split, "images"), find_split(folder, split, "labels"))
    }
    return Dataset(x_train, y_train, x_test, y_test, source=str(folder), sha256=sha)


def stratified_split(labels: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train/validation indices with each class represented in proportion.

    The shuffle matters: the 5k subset is sorted by class, so a plain tail split would validate on nines only.
    """
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(len(idx) * val_fraction))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:])
    return rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(val_idx))
