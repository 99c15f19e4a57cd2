"""The download path, for real, against an HTTP server on loopback serving ../shared/mnist-5k."""

import functools
import gzip
import hashlib
import http.server
import shutil
import threading


import numpy as np
import pytest

from conftest import DATA
from mnist_onnx.errors import DataError
from mnist_onnx_export.data import MNIST_FILES, download_mnist, load_mnist

pytestmark = pytest.mark.export  # the download and font code live in the export extra



def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serve a copy of the shared files; yields (base_url, served_dir, request_log)."""
    served = tmp_path / "www"
    shutil.copytree(DATA, served)
    yield from _serve(served, monkeypatch)


@pytest.fixture
def full_mirror(monkeypatch, mnist_full):
    """Serve ../shared/mnist-full as it is: the training files re-compressed, the test files canonical."""
    yield from _serve(mnist_full, monkeypatch)


def _serve(served, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_checksum_mismatch_is_clear_and_leaves_nothing(server, tmp_path):
    url, served, _ = server
    (served / "t10k-labels-idx1-ubyte.gz").write_bytes(b"corrupted" * 100)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        download_mnist(cache, [url], files={"t10k-labels-idx1-ubyte.gz": MNIST_FILES["t10k-labels-idx1-ubyte.gz"]})
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "SHA-256 mismatch" in msg and "--data" in msg and "\n" not in msg
    assert list(cache.rglob("*")) == []  # not even a partial file


@pytest.mark.slow
def test_canonical_sums_reject_the_subset(server, tmp_path):
    """Served under the canonical name, the 5k training subset must fail canonical verification."""
    url, _, _ = server
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*SHA-256 mismatch"):
        download_mnist(tmp_path / "c", [url], files={"train-images-idx3-ubyte.gz": MNIST_FILES["train-images-idx3-ubyte.gz"]})


@pytest.mark.slow
def test_falls_back_to_next_mirror(server, tmp_path):
    url, _, log = server
    dead = "http://127.0.0.1:9/"  # discard port: connection refused
    folder = download_mnist(tmp_path / "c", [dead, url], files={"t10k-images-idx3-ubyte.gz": MNIST_FILES["t10k-images-idx3-ubyte.gz"]})
    assert (folder / "t10k-images-idx3-ubyte.gz").is_file() and len(log) == 1


def test_offline_error_suggests_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_ONNX_MIRRORS", "http://127.0.0.1:9/")
    with pytest.raises(DataError, match=r"could not download.*--data DIR"):
        load_mnist(None)


@pytest.mark.slow
def test_env_mirror_and_default_cache(server, monkeypatch):
    url, _, _ = server
    monkeypatch.setenv("MNIST_ONNX_MIRRORS", url)
    from mnist_onnx._paths import user_cache_dir

    folder = download_mnist(files={"t10k-labels-idx1-ubyte.gz": MNIST_FILES["t10k-labels-idx1-ubyte.gz"]})
    assert folder == user_cache_dir() / "mnist"
    assert np.frombuffer((folder / "t10k-labels-idx1-ubyte.gz").read_bytes()[:2], np.uint8).tolist() == [0x1F, 0x8B]


@pytest.mark.slow
def test_recompressed_mirror_is_accepted_by_its_content(full_mirror, tmp_path):
    """The full MNIST re-compressed: other .gz bytes, canonical content -> accepted, cached, reused."""
    url, served, log = full_mirror
    assert sha(served / "train-images-idx3-ubyte.gz") != MNIST_FILES["train-images-idx3-ubyte.gz"]
    folder = download_mnist(tmp_path / "cache", [url])
    assert sorted(p.name for p in folder.iterdir()) == sorted(MNIST_FILES)  # nothing else left behind
    data = load_mnist(folder)
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert np.bincount(data.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    download_mnist(tmp_path / "cache", [url])  # verified again from the cache, not downloaded again
    assert len(log) == 4


@pytest.mark.slow
def test_recompressed_file_with_other_content_is_rejected(server, tmp_path):
    """Re-compressing is fine, changing the content is not: a re-compressed 5k subset fails, nothing cached."""
    url, served, _ = server
    path = served / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*SHA-256 mismatch"):
        download_mnist(cache, [url], files={"train-labels-idx1-ubyte.gz": (MNIST_FILES["train-labels-idx1-ubyte.gz"],
                                                                             "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5")})
    assert list(cache.rglob("*")) == []


@pytest.mark.slow
def test_tampered_cache_file_is_replaced(full_mirror, tmp_path):
    url, _, log = full_mirror
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not mnist")
    download_mnist(cache, [url], files={"t10k-labels-idx1-ubyte.gz": MNIST_FILES["t10k-labels-idx1-ubyte.gz"]})
    assert sha(cache / "t10k-labels-idx1-ubyte.gz") == MNIST_FILES["t10k-labels-idx1-ubyte.gz"] and len(log) == 1


@pytest.fixture
def hostile_mirror(monkeypatch):
    """A mirror that trickles one byte at a time, and one that never stops sending."""
    import time

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            try:
                if "slow" in self.path:
                    for _ in range(100):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.2)
                else:
                    block = bytes(1 << 16)
                    for _ in range(10_000):  # 640 MB at most: the test stops it long before
                        self.wfile.write(block)
            except (BrokenPipeError, ConnectionResetError):
                pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.slow
def test_download_deadline_and_size_cap_leave_nothing(hostile_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_ONNX_DOWNLOAD_DEADLINE", "1.5")
    monkeypatch.setenv("MNIST_ONNX_DOWNLOAD_MAX_BYTES", str(4 << 20))
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"still downloading after 1.5 s, stopped"):
        download_mnist(cache, [hostile_mirror + "slow/"], files={"t10k-labels-idx1-ubyte.gz": MNIST_FILES["t10k-labels-idx1-ubyte.gz"]})
    with pytest.raises(DataError, match=r"more than 4,194,304 bytes: not MNIST, stopped"):
        download_mnist(cache, [hostile_mirror + "endless/"], files={"t10k-labels-idx1-ubyte.gz": MNIST_FILES["t10k-labels-idx1-ubyte.gz"]})
    assert list(cache.rglob("*")) == []


@pytest.mark.slow
def test_http_404_is_named(server, tmp_path):
    url, _, _ = server
    with pytest.raises(DataError, match=r"HTTP 404"):
        download_mnist(tmp_path / "c", [url + "nothing-here/"], files={"t10k-labels-idx1-ubyte.gz": "0" * 64})


def test_unwritable_cache_is_not_a_download_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DataError, match=r"cannot create the download cache"):
        download_mnist(blocker / "cache", ["http://127.0.0.1:9/"])
