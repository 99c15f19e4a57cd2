"""MNIST for training: read IDX files from a folder, or download the canonical files into the user cache.

Downloads use pooch (checksum verification, download to a temporary file then rename, reuse of cached files);
we add a mirror list and one-line errors on top of it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_onnx.parts import find_split, load_split, user_cache_dir
from mnist_onnx.errors import DataError, about

# Canonical SHA-256 of the four files of the MNIST distribution.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# SHA-256 of their uncompressed content: a mirror that re-compressed the same files is just as good.
MNIST_CONTENT = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
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


def _content_sha256(path: Path, limit: int = 1 << 27) -> str | None:
    """SHA-256 of a gzip file's uncompressed content (None if it is not gzip, is corrupt, or inflates past
    *limit* bytes: a hostile mirror's gzip bomb is cut off, not inflated)."""
    h, total = hashlib.sha256(), 0
    try:
        with gzip.open(path, "rb") as f:
            while block := f.read(1 << 20):
                total += len(block)
                if total > limit:
                    return None
                h.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return h.hexdigest()


def _verified(path: Path, sums: tuple[str, ...]) -> bool:
    """The file itself, or its uncompressed content, has one of the accepted SHA-256 sums."""
    return _sha256(path) in sums or _content_sha256(path) in sums


def download_mnist(cache_dir: str | Path | None = None, mirror_urls: list[str] | None = None,
                   files: dict[str, str | tuple[str, ...]] | None = None) -> Path:
    """Fetch the four canonical MNIST files into the cache (once) and return the folder.

    *files* maps each name to the SHA-256 sums it may have (by default the canonical .gz sum and the sum of
    the uncompressed content, so that mirrors serving the same data re-compressed work too). A download is
    made into a temporary folder inside the cache and moved into place only once verified: the cache never
    holds an unverified or half-written file. A cached file is verified again before it is reused.
    """
    folder = Path(cache_dir) if cache_dir else user_cache_dir() / "mnist"
    urls = mirror_urls or mirrors()
    wanted = files or {name: (sha, MNIST_CONTENT[name]) for name, sha in MNIST_FILES.items()}
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create the download cache ({e.strerror}); "
                        f"set MNIST_ONNX_CACHE_DIR or pass --data DIR") from None
    for stale in folder.glob(".incoming-*"):  # left by a run that was killed mid-download
        shutil.rmtree(stale, ignore_errors=True)
    for name, accepted in wanted.items():
        sums = (accepted,) if isinstance(accepted, str) else tuple(accepted)
        fetch_verified(folder, name, sums, [base + name for base in urls],
                       "if you are offline, pass --data DIR with the four MNIST IDX files")
    return folder


def fetch_verified(folder: Path, name: str, sums: tuple[str, ...], urls: list[str], offline_hint: str) -> Path:
    """*folder*/*name*, downloaded from the first of *urls* whose bytes (or gzip content) have one of the
    SHA-256 *sums*, unless already cached and verified. Made in a temporary folder and moved into place only
    once verified. Every URL failing: one DataError listing each problem, ending with *offline_hint*."""
    import pooch
    import requests

    target = folder / name
    if target.is_file() and _verified(target, sums):
        return target
    problems = []
    for url in urls:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".incoming-") as tmp:
            try:
                got = Path(pooch.retrieve(url=url, known_hash=None, fname=name, path=tmp,
                                          downloader=_BoundedDownload()))
            except _Bounded as e:
                problems.append(f"{url}: {e}")
                continue
            except (requests.RequestException, OSError, ValueError) as e:
                problems.append(f"{url}: {_http_problem(e)}")
                continue
            if _verified(got, sums):
                os.replace(got, target)
                return target
            problems.append(f"{url}: SHA-256 mismatch (not the pinned file)")
    raise DataError(f"{name}: could not download from any mirror ({'; '.join(problems)}); {offline_hint}")


MAX_BYTES = 64 << 20  # the largest MNIST file is 9.9 MB compressed (47 MB raw, if a mirror serves it so)
DEADLINE_S = 600.0  # per file, whole download; each read also times out after 30 s of silence


class _Bounded(Exception):
    """A download broke a bound: too large, or too slow."""


class _BoundedDownload:
    """pooch downloader with an overall deadline and a size cap (pooch's own has neither): a mirror that
    trickles a byte every few seconds, or never stops sending, is cut off and nothing is kept."""

    def __init__(self, max_bytes: int | None = None, deadline_s: float | None = None) -> None:
        self.max_bytes = max_bytes or int(os.environ.get("MNIST_ONNX_DOWNLOAD_MAX_BYTES", MAX_BYTES))
        self.deadline_s = deadline_s or float(os.environ.get("MNIST_ONNX_DOWNLOAD_DEADLINE", DEADLINE_S))

    def __call__(self, url: str, output_file, pooch_obj, check_only: bool = False) -> bool | None:
        import time

        import requests

        if check_only:
            return True
        start = time.monotonic()
        with requests.get(url, stream=True, timeout=(10, 30)) as r:
            r.raise_for_status()
            size = 0
            with open(output_file, "wb") if isinstance(output_file, (str, Path)) else contextlib.nullcontext(output_file) as f:
                for chunk in r.iter_content(1 << 16):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise _Bounded(f"more than {self.max_bytes:,} bytes: not MNIST, stopped")
                    if time.monotonic() - start > self.deadline_s:
                        raise _Bounded(f"still downloading after {self.deadline_s:g} s, stopped")
                    f.write(chunk)
        return None


def _http_problem(e: Exception) -> str:
    response = getattr(e, "response", None)
    if response is not None and getattr(response, "status_code", None):
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    return type(e).__name__


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


DIGITS_AGREEMENT = 0.9  # share of sampled training images the bundled MLP must read as their labels


def looks_like_digits(data: Dataset, sample: int = 1000) -> tuple[bool, str]:
    """Whether the training images are handwritten digits labelled 0-9 (MNIST, a subset of it, a user's own
    digits in MNIST's form): only then do the digit-only training materials (fonts, 1s with a flag, hooked 7s)
    and handwriting's variations belong in training. Decided by content, not by checksum: the bundled MLP reads
    up to *sample* training images as they are; Fashion-MNIST (or any other IDX set) agrees with its labels
    about one time in ten. Returns the decision and why, for the log and the card."""
    import onnxruntime as ort

    from mnist_onnx.parts import named_model

    rng = np.random.default_rng(0)
    idx = rng.choice(len(data.x_train), size=min(sample, len(data.x_train)), replace=False)
    x = data.x_train[idx].reshape(len(idx), 784).astype(np.float32) / 255.0
    session = ort.InferenceSession(str(named_model("mlp")), providers=["CPUExecutionProvider"])
    agreed = float((session.run(None, {session.get_inputs()[0].name: x})[0].argmax(1) == data.y_train[idx]).mean())
    verdict = agreed >= DIGITS_AGREEMENT
    return verdict, f"the bundled MLP reads {agreed:.0%} of {len(idx)} training images as labelled"


def load_extra(folder: str | Path, log=print) -> tuple[np.ndarray, np.ndarray]:
    """A user's own labelled digits for `export --extra-data DIR`: sub-folders `0` ... `9` of images, or a
    `labels.csv` with the columns `file,label` (file relative to DIR). Each image goes through the runtime's
    own decoding and normal form, as `classify` would see it. A file that cannot be read is named in one line
    and left out; none readable (or no labels at all) is a DataError. Returns (N, 28, 28) uint8 and labels."""
    import csv

    from mnist_onnx.parts import load_image
    from mnist_onnx.errors import ImageError

    root = Path(folder)
    if not root.is_dir():
        raise about(DataError(f"extra_data {folder}: not a folder"), "extra_data")
    items: list[tuple[Path, int]] = []
    table = root / "labels.csv"
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.DictReader(f), start=2):
                label = (row.get("label") or "").strip()
                if not row.get("file") or label not in tuple("0123456789"):
                    raise DataError(f"{table}:{n}: needs a file and a label 0-9 (columns file,label)")
                items.append((root / row["file"], int(label)))
    else:
        for d in range(10):
            sub = root / str(d)
            if sub.is_dir():
                items += [(p, d) for p in sorted(sub.iterdir()) if p.is_file() and not p.name.startswith(".")]
    if not items:
        raise about(DataError(f"extra_data {folder}: no labelled images (sub-folders 0 ... 9, or labels.csv with file,label)"), "extra_data")
    xs, ys, skipped = [], [], 0
    for path, label in items:
        try:
            xs.append(np.round(load_image(path) * 255).astype(np.uint8))
            ys.append(label)
        except (ImageError, OSError) as e:
            skipped += 1
            log(f"{path}: left out ({getattr(e, 'problem', None) or e})")
    if not xs:
        raise about(DataError(f"extra_data {folder}: none of its {len(items)} images could be read"), "extra_data")
    log(f"extra data: {len(xs)} labelled digits from {folder}" + (f" ({skipped} left out)" if skipped else ""))
    return np.stack(xs), np.array(ys, np.uint8)


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
