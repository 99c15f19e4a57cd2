"""The Ray engine: the same rows as the local engine, no hang on 2 cores, a dead actor costs nothing.

Ray runs for real, in local mode on this machine (`ray.init(num_cpus=2)`); the CLI tests start their own
local Ray in a child process, under a time limit, with the default settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, lazy, run_cli, save_png

import mnist_onnx.ray as mray
import mnist_onnx
from mnist_onnx import Classifier
from mnist_onnx._engine import run_items

pytestmark = [pytest.mark.slow, pytest.mark.ray]
ray = lazy("ray")  # the test extra installs it: a missing Ray fails these tests (never skips them)

LIMIT = 300  # seconds: a hang fails the test instead of stalling CI


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    ray.data.DataContext.get_current().execution_options.preserve_order = True
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


def _hostile(folder: Path) -> None:
    """Files a batch must survive: empty, not an image, cut short, a folder and a FIFO named like PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image\n")
    good = (ROOT / "samples" / "0_mnist.png").read_bytes()
    (folder / "cut.png").write_bytes(good[: len(good) // 2])
    (folder / "folder.png").mkdir()
    os.mkfifo(folder / "fifo.png")
    save_png(folder / "blank.png", np.full((40, 40), 255, np.uint8))


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, test_set) -> Path:
    """2,000 MNIST PNGs, the samples (every mode and style) and the hostile files, in one folder."""
    folder = tmp_path_factory.mktemp("mixed")
    x, _ = test_set
    for i in range(2000):
        save_png(folder / f"d{i:05d}.png", x[i])
    for f in (ROOT / "samples").glob("*.png"):
        (folder / f.name).write_bytes(f.read_bytes())
    _hostile(folder)
    return folder


def _cli_csv(folder: Path | str, out: Path, *extra: str) -> tuple[str, subprocess.CompletedProcess]:
    proc = run_cli("classify", str(folder), "-o", str(out), "-p", "cpu", *extra, timeout=LIMIT)
    return out.read_text(), proc


def test_cli_ray_engine_writes_the_local_rows(mixed, tmp_path):
    local, lp = _cli_csv(mixed, tmp_path / "local.csv")
    remote, rp = _cli_csv(mixed, tmp_path / "ray.csv", "--engine", "ray")  # defaults: must not hang on 2 cores
    assert lp.returncode == rp.returncode == 1  # the hostile files failed, in both
    assert remote == local  # byte for byte: same rows, same order, same error words
    assert remote.count("\n") == 1 + 2000 + len(list((ROOT / "samples").glob("*.png"))) + 5  # a folder is no file
    assert "Ray, 1 actor" in rp.stderr and "on CPU" in rp.stderr, rp.stderr


def test_cli_ray_engine_top_k_and_jsonl_match(tmp_path):
    args = ("-k", "3", "-f", "jsonl")
    local, _ = _cli_csv(ROOT / "samples", tmp_path / "l.jsonl", *args)
    remote, _ = _cli_csv(ROOT / "samples", tmp_path / "r.jsonl", *args, "--engine", "ray", "--actors", "2",
                         "--batch-size", "3")
    assert '"top_k"' in local
    assert remote == local


def test_cli_ray_flags_are_checked(tmp_path):
    p = run_cli("classify", str(ROOT / "samples"), "--actors", "2")
    assert p.returncode == 2 and "--engine ray" in p.stderr
    p = run_cli("classify", str(ROOT / "samples"), "--engine", "ray", "--workers", "2")
    assert p.returncode == 2 and "--actors" in p.stderr
    p = run_cli("classify", str(ROOT / "samples"), "--engine", "ray", "--actors", "100", "-f", "csv", timeout=LIMIT)
    assert p.returncode == 2 and "--actors 100: this Ray cluster holds at most" in p.stderr and p.stdout == ""


def test_library_on_a_dataset_read_by_ray(local_ray, mixed):
    """read_binary_files -> mnist_onnx.ray.classify: the rows run_items gives for the same bytes."""
    ds = ray.data.read_binary_files(str(mixed), include_paths=True, file_extensions=["png"])
    rows = mray.classify(ds, provider="cpu", batch_size=128).take_all()  # default concurrency, a read stage
    assert {"path", "digit", "confidence", "status", "error"} <= set(rows[0])
    clf = Classifier(provider="cpu")
    by_path = {r["path"]: r for r in rows}
    items = [(p, Path(p).read_bytes()) for p in sorted(by_path)]
    task, model = clf.task("classify")
    expected = run_items(items, task, clf.config, model)
    assert len(rows) == len(expected) > 2000
    for e in expected:
        r = by_path[e.path]
        assert r["status"] == e.status and (r["error"] or None) == e.error
        if e.ok:
            assert r["digit"] == e.digit and r["confidence"] == pytest.approx(e.confidence, abs=0)
        else:
            assert r["digit"] == -1 and np.isnan(r["confidence"])
    assert sum(r["status"] == "error" for r in rows) >= 2  # empty, text, cut (the folder and FIFO are not read)


def test_library_ships_the_model_and_keeps_probabilities(local_ray):
    files = sorted(str(f) for f in (ROOT / "samples").glob("*.png"))
    ds = ray.data.from_items([{"path": f} for f in files])
    rows = mray.classify(ds, provider="cpu", keep_probabilities=True, concurrency=2).take_all()
    local = list(Classifier(provider="cpu").classify_files(files, keep_probabilities=True))
    assert [r["path"] for r in rows] == files
    for r, e in zip(rows, local):
        assert r["digit"] == e.digit
        np.testing.assert_array_equal(r["probabilities"], e.probabilities)


def test_library_checks_the_model_on_the_driver(local_ray, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    from mnist_onnx.errors import MnistOnnxError

    with pytest.raises(MnistOnnxError, match="not a loadable ONNX model"):
        mray.classify(ray.data.from_items([{"path": "x.png"}]), bad)


class _CrashOnce(mray.Predictor):
    """Kills its actor process the first time it sees a batch, while the marker file exists."""

    def __init__(self, marker: str, **kw):
        super().__init__(**kw)
        self.marker = marker

    def __call__(self, batch):
        if os.path.exists(self.marker):
            os.unlink(self.marker)
            os._exit(1)
        return super().__call__(batch)


def test_a_dead_actor_is_restarted_and_no_file_is_lost_or_doubled(local_ray, mixed, tmp_path):
    files = sorted(str(f) for f in mixed.glob("d0*.png"))[:600]
    marker = tmp_path / "crash"
    marker.touch()
    ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=6)
    out = ds.map_batches(_CrashOnce, fn_constructor_kwargs={
        "marker": str(marker), "model": str(Path(Classifier(provider="cpu").model_path).resolve()),
        "options": {"provider": "cpu", "threads": 1}}, batch_size=100, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1).take_all()
    assert not marker.exists()  # the crash happened
    assert sorted(r["path"] for r in out) == files  # each file exactly once
    assert all(r["status"] in ("ok", "unsure") for r in out)


def test_default_concurrency_leaves_a_cpu_for_reading(local_ray):
    assert mray.default_concurrency("cpu") == 1  # 2 CPUs: one actor, one CPU for read tasks
    assert mray.default_concurrency("cpu", num_cpus=0.5) == 2

@pytest.mark.gpu
def test_cuda_on_a_cluster_without_gpus_fails_at_once(local_ray, tmp_path):
    from mnist_onnx.errors import ProviderError

    with pytest.raises(ProviderError, match="no GPU"):  # instead of actors waiting for a GPU forever
        mray.classify(ray.data.from_items([{"path": "x.png"}]), provider="cuda")
    p = run_cli("classify", str(ROOT / "samples"), "--engine", "ray", "-p", "cuda", timeout=LIMIT)
    assert p.returncode == 2 and "no GPU" in p.stderr and len(p.stderr.strip().splitlines()) <= 2, p.stderr


def test_without_ray_installed_the_message_says_what_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"
            "import mnist_onnx.ray as m\n"
            "try:\n    m.default_concurrency()\nexcept Exception as e:\n    print(e)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert 'pip install "mnist-onnx[ray]"' in p.stdout, p.stderr


def test_cli_reads_a_uri_through_ray(tmp_path):
    """A URI goes to Ray Data's reader (here `local://`, as `s3://` would) and the model through the object
    store; the rows are the local ones, named by the paths Ray reports."""
    samples = (ROOT / "samples").resolve()
    local, _ = _cli_csv(samples, tmp_path / "l.csv")
    remote, p = _cli_csv(f"local://{samples}", tmp_path / "r.csv", "--engine", "ray")
    assert p.returncode == 0, p.stderr
    assert remote == local and str(samples) in local


def test_read_through_ray_gives_the_local_readings(local_ray, tmp_path):
    """`read --engine ray` writes the local engine's rows; `mnist_onnx.ray.read` on a Dataset read by Ray
    gives `read_items`' readings for the same bytes."""
    from conftest import NUMBERS as numbers
    folder = tmp_path / "numbers"
    folder.mkdir()
    for f in sorted(numbers.glob("*.png"))[:40]:
        (folder / f.name).write_bytes(f.read_bytes())
    _hostile(folder)
    local = run_cli("read", str(folder), "-f", "jsonl", "-p", "cpu", timeout=LIMIT)
    remote = run_cli("read", str(folder), "-f", "jsonl", "-p", "cpu", "--engine", "ray", "--batch-size", "16",
                     timeout=LIMIT)
    assert local.returncode == remote.returncode == 1, remote.stderr
    assert remote.stdout == local.stdout and local.stdout.count('"status": "ok"') + local.stdout.count('"status": "unsure"') >= 30
    assert "Ray, 1 actor" in remote.stderr

    ds = ray.data.read_binary_files(str(numbers), include_paths=True, file_extensions=["png"]).limit(20)
    got = mray.read(ds, provider="cpu", concurrency=1, batch_size=8).take_all()  # the sequence reader by default
    items = [(row["path"], (numbers / Path(row["path"]).name).read_bytes()) for row in got]
    want = Classifier("reader", provider="cpu").read_items(items)
    assert [row["number"] for row in got] == [w.number for w in want]
    assert [row["status"] for row in got] == [w.status for w in want]


def test_a_classifiers_options_reach_the_actors(local_ray):
    """One options object: a Classifier's `.options` (here an odd normalisation) makes the actors' Classifiers,
    so Ray gives its probabilities, not the defaults'."""
    files = sorted(str(f) for f in (ROOT / "samples").glob("*.png"))
    clf = Classifier(provider="cpu", mean=0.2, std=0.6, max_pixels=10_000_000)
    default = Classifier(provider="cpu")
    local = list(clf.classify_files(files, keep_probabilities=True))
    ds = ray.data.from_items([{"path": f} for f in files])
    got = sorted(mray.classify(ds, options=clf.options, keep_probabilities=True, concurrency=1).take_all(),
                 key=lambda r: r["path"])
    moved = 0.0
    for r, e, d in zip(got, local, default.classify_files(files, keep_probabilities=True)):
        assert r["path"] == e.path and np.allclose(r["probabilities"], e.probabilities, atol=1e-6)
        moved = max(moved, float(np.abs(np.log(e.probabilities + 1e-30) - np.log(d.probabilities + 1e-30)).max()))
    assert moved > 1.0  # the options changed the model's input: the actors used them
    with pytest.raises(mnist_onnx.UsageError, match="unknown option"):
        mray.classify(ds, provider="cpu", scael=2.0)


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1", "garbage:::x"])
def test_a_ray_address_that_cannot_be_joined_is_one_line_and_writes_nothing(address, tmp_path):
    """A dead GCS address retried for 824 s and a dead client address for 30 s, with a CSV header already
    printed: now one line, exit 2, in seconds, nothing on stdout and no output file."""
    import time

    out = tmp_path / "rows.csv"
    t0 = time.perf_counter()
    for args in ((), ("-o", str(out))):
        p = run_cli("classify", str(ROOT / "samples"), "--engine", "ray", "--ray-address", address, "-f", "csv",
                    *args, timeout=LIMIT)
        assert p.returncode == 2 and p.stdout == "" and p.stderr.startswith("error: cannot"), p.stderr
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    assert not out.exists() and time.perf_counter() - t0 < 60


def test_sigterm_during_a_ray_run_ends_it_like_the_local_engine(mixed, tmp_path):
    """Ray's own SIGTERM handler dumped a C stack and aborted; the command's ends the run: exit 143, no
    .part file left."""
    import signal
    import time

    out = tmp_path / "rows.csv"
    exe = Path(sys.executable).with_name("mnist-onnx")
    proc = subprocess.Popen([str(exe), "classify", str(mixed), "--engine", "ray", "-o", str(out), "-p", "cpu"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + LIMIT
    while proc.poll() is None and time.monotonic() < deadline:
        if list(tmp_path.glob(".rows.csv.*.part")):  # the engine stands and rows are being written
            proc.send_signal(signal.SIGTERM)
            break
        time.sleep(0.02)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 143, err[-2000:]
    assert "SIGTERM received" not in err and not list(tmp_path.iterdir())


def test_resume_with_ray_skips_what_the_output_holds(tmp_path):
    """`--resume --engine ray`: local paths already in the output are left out of the listing; a URI's
    files (listed and read by Ray) are dropped before the model. Either way every file ends up once."""
    import pyarrow.parquet as pq

    samples = (ROOT / "samples").resolve()
    local, _ = _cli_csv(samples, tmp_path / "l.csv")
    lines = local.splitlines(keepends=True)
    for target in (str(samples), f"local://{samples}"):
        out = tmp_path / "r.csv"
        out.write_text("".join(lines[:6]))  # the header and 5 rows: a run stopped part-way
        p = run_cli("classify", target, "-o", str(out), "--resume", "-p", "cpu", "--engine", "ray", timeout=LIMIT)
        assert p.returncode == 0 and "5 rows were there already" in p.stderr, p.stderr
        assert "\n7 images" in "\n" + p.stderr, p.stderr  # (Ray's own C++ log may come first: issue #53727)
        assert sorted(out.read_text().splitlines()) == sorted(local.splitlines())
    out = tmp_path / "r.parquet"
    assert run_cli("classify", str(samples), "-o", str(out), "--resume", "-p", "cpu", "--engine", "ray",
                   timeout=LIMIT).returncode == 0
    assert sorted(pq.read_table(out).column("path").to_pylist()) == sorted(str(f) for f in samples.glob("*.png"))


def test_the_command_line_checks_the_model_in_a_process_of_its_own(tmp_path):
    """For a Ray run the command checks the model in a spawned process: the driver gets the path, options and
    threshold, and never loads ONNX Runtime or a session (~35 MiB of its memory); a bad model is still one
    line and exit 2 before Ray starts."""
    code = ("import sys\n"
            "from mnist_onnx.cli._app import check_model_elsewhere\n"
            "c = check_model_elsewhere(sys.argv[1] if len(sys.argv) > 1 else None, max_pixels=10**6, threads=1,"
            " device_id=0)\n"
            "print(c.model_path.name, c.source, round(c.threshold(None), 4), c.threshold(0.5), "
            "c.options.provider, 'onnxruntime' in sys.modules)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    threshold = round(Classifier(provider="cpu").min_confidence, 4)
    assert p.returncode == 0 and p.stdout.split() == ["default.onnx", "bundled", str(threshold), "0.5", "cpu",
                                                      "False"], p.stdout + p.stderr
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    p = run_cli("classify", str(ROOT / "samples"), "--engine", "ray", "--model", str(bad), timeout=LIMIT)
    assert p.returncode == 2 and "not a loadable ONNX model" in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_listing_blocks_built_off_the_driver_hold_every_path(local_ray, monkeypatch):
    """Past the first blocks, the listing travels compressed to an actor that builds the Arrow blocks (the
    driver never writes their pages): every path comes back, in order, a name that is not UTF-8 included."""
    monkeypatch.setattr(mray, "_PUT_BLOCKS", 2)
    monkeypatch.setattr(mray, "_IN_FLIGHT", 3)
    names = [f"/data/{i // 7:03d}/f{i:05d}.png" for i in range(200)]
    names[150] = os.fsdecode(b"/data/odd/\xff\xfe name.png")
    refs = mray._listed(iter(names), 9)
    assert len(refs) == 23
    paths = [r["path"] for r in ray.data.from_arrow_refs(refs).take_all()]
    assert paths == [os.fsencode(n) for n in names]
