import gzip

import numpy as np
import pytest

from conftest import DATA
from mnist_onnx._idx import load_split, read_idx
from mnist_onnx.errors import DataError


def test_reads_official_test_set(test_set):
    x, y = test_set
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,)
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # official counts
    assert y[:5].tolist() == [7, 2, 1, 0, 4]


def test_train_subset_is_sorted_5k():
    x, y = load_split(DATA, "train")
    assert x.shape == (5000, 28, 28)
    assert np.bincount(y).tolist() == [500] * 10


def test_raw_and_gzip_read_the_same(tmp_path, test_set):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((DATA / f"{name}.gz").read_bytes()))
    x, y = load_split(tmp_path, "test")
    assert np.array_equal(x, test_set[0]) and np.array_equal(y, test_set[1])


def _copy_test(tmp_path, images: bytes | None = None, labels: bytes | None = None):
    img = images if images is not None else gzip.decompress((DATA / "t10k-images-idx3-ubyte.gz").read_bytes())
    lab = labels if labels is not None else gzip.decompress((DATA / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(img)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(lab)
    return tmp_path


def test_truncated_file_names_file_and_fault(tmp_path):
    raw = gzip.decompress((DATA / "t10k-images-idx3-ubyte.gz").read_bytes())
    _copy_test(tmp_path, images=raw[:-100])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: truncated") as e:
        load_split(tmp_path, "test")
    assert "\n" not in str(e.value)


def test_truncated_gzip(tmp_path):
    gz = (DATA / "t10k-images-idx3-ubyte.gz").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(tmp_path / "t10k-images-idx3-ubyte.gz")


def test_bad_magic(tmp_path):
    _copy_test(tmp_path, images=b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(DataError, match="bad magic"):
        load_split(tmp_path, "test")


def test_count_mismatch(tmp_path):
    lab = gzip.decompress((DATA / "t10k-labels-idx1-ubyte.gz").read_bytes())
    short = lab[:4] + (9999).to_bytes(4, "big") + lab[8:-1]
    _copy_test(tmp_path, labels=short)
    with pytest.raises(DataError, match="9999 labels for 10000 images"):
        load_split(tmp_path, "test")


def test_wrong_image_size(tmp_path):
    body = bytes(2 * 32 * 32)
    header = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (32).to_bytes(4, "big") + (32).to_bytes(4, "big")
    labels = bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + bytes([1, 2])
    _copy_test(tmp_path, images=header + body, labels=labels)
    with pytest.raises(DataError, match="32x32, expected 28x28"):
        load_split(tmp_path, "test")


def test_missing_files(tmp_path):
    with pytest.raises(DataError, match="no t10k-images"):
        load_split(tmp_path, "test")
    with pytest.raises(DataError, match="not a directory"):
        load_split(tmp_path / "nope", "test")


def test_header_products_that_wrap_int64_are_refused_exactly(tmp_path):
    """908,558 x 31,252,369 x 649,657 = 2**64 - 2: in int64 that is -2, which once let the whole stream be
    inflated without limit. Exact integers: over the limit, one DataError."""
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (908_558, 31_252_369, 649_657))
    for name, data in (("wrap.gz", gzip.compress(header + bytes(1 << 20))), ("wrap", header + bytes(4096))):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match="promises (18,446,744,073,709,551,614|18446744073709551614) bytes"):
            read_idx(tmp_path / name)


def test_a_huge_sparse_file_is_refused_before_it_is_read(tmp_path):
    sparse = tmp_path / "t10k-images-idx3-ubyte"
    with open(sparse, "wb") as f:
        f.write(bytes([0, 0, 8, 3]))
        f.truncate(100 << 30)  # 100 GB, no blocks on disk
    with pytest.raises(DataError, match="over the 1,073,741,824-byte limit"):
        read_idx(sparse)
