"""The download path, for real, against an HTTP server on loopback serving ../shared/mnist-5k."""

import functools
import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest

from conftest import DATA
from mnist_onnx.errors import DataError
from mnist_onnx_export.data import MNIST_FILES, download_mnist, load_mnist


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve a copy of the shared files; yields (base_url, served_dir, request_log)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = tmp_path / "www"
    shutil.copytree(DATA, served)
    log: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            log.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", served, log
    httpd.shutdown()
    httpd.server_close()


def subset_sums():
    """The shared train files are the 5k subset, not the canonical 60k: verify them by their own sums."""
    sums = dict(MNIST_FILES)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        sums[name] = sha(DATA / name)
    return sums


def test_downloads_verifies_caches_and_reuses(server, tmp_path):
    url, _, log = server
    cache = tmp_path / "cache"
    folder = download_mnist(cache, [url], files=subset_sums())
    assert sorted(p.name for p in folder.iterdir()) == sorted(MNIST_FILES)
    assert sha(folder / "t10k-images-idx3-ubyte.gz") == MNIST_FILES["t10k-images-idx3-ubyte.gz"]  # canonical
    data = load_mnist(folder)
    assert data.x_test.shape == (10000, 28, 28) and data.x_train.shape == (5000, 28, 28)
    assert len(log) == 4
    download_mnist(cache, [url], files=subset_sums())  # second run: everything from the cache
    assert len(log) == 4


def test_checksum_mismatch_is_clear_and_leaves_nothing(server, tmp_path):
    url, served, _ = server
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(b"corrupted" * 100)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        download_mnist(cache, [url], files={"t10k-labels-idx1-ubyte.gz": MNIST_FILES["t10k-labels-idx1-ubyte.gz"]})
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "SHA-256 mismatch" in msg and "--data" in msg and "\n" not in msg
    assert list(cache.rglob("*")) == []  # not even a partial file


def test_canonical_sums_reject_the_subset(server, tmp_path):
    """Served under the canonical name, the 5k training subset must fail canonical verification."""
    url, _, _ = server
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*SHA-256 mismatch"):
        download_mnist(tmp_path / "c", [url], files={"train-images-idx3-ubyte.gz": MNIST_FILES["train-images-idx3-ubyte.gz"]})


def test_falls_back_to_next_mirror(server, tmp_path):
    url, _, log = server
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    folder = download_mnist(tmp_path / "c", [dead, url], files={"t10k-images-idx3-ubyte.gz": MNIST_FILES["t10k-images-idx3-ubyte.gz"]})
    assert (folder / "t10k-images-idx3-ubyte.gz").is_file() and len(log) == 1


def test_offline_error_suggests_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_ONNX_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(DataError, match=r"could not download.*--data DIR"):
        load_mnist(None)


def test_env_mirror_and_default_cache(server, monkeypatch):
    url, _, _ = server
    monkeypatch.setenv("MNIST_ONNX_MIRRORS", url)
    from mnist_onnx._paths import user_cache_dir

    folder = download_mnist(files={"t10k-labels-idx1-ubyte.gz": MNIST_FILES["t10k-labels-idx1-ubyte.gz"]})
    assert folder == user_cache_dir() / "mnist"
    assert np.frombuffer((folder / "t10k-labels-idx1-ubyte.gz").read_bytes()[:2], np.uint8).tolist() == [0x1F, 0x8B]
