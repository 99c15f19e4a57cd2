"""The library API: arrays in, probabilities out; model resolution; providers; third-party models."""

import json
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

import mnist_onnx

from conftest import ROOT, THIRD_PARTY, lazy
from mnist_onnx import Classifier, ModelError, ProviderError, resolve_model
from mnist_onnx._model import bundled_model_path, cuda_problem

onnx = lazy("onnx")  # the export extra's: tests that build a model are marked `export`


@pytest.fixture(scope="module")
def clf():
    return Classifier(provider="cpu")


def plain_ort(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def test_import_does_not_pull_tensorflow_or_onnxruntime():
    code = "import sys, mnist_onnx; print('tensorflow' in sys.modules, 'onnxruntime' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["False", "False"]
    code = "import sys, mnist_onnx; mnist_onnx.Classifier(provider='cpu'); print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.slow
def test_predict_matches_plain_onnxruntime_on_the_test_set(clf, test_set):
    x, y = test_set
    ours = clf.predict(x)
    ref = plain_ort(bundled_model_path(), x.reshape(-1, 784).astype(np.float32) / 255)
    assert np.allclose(ours, ref, atol=1e-6)
    card = clf.info.card
    assert (ours.argmax(1) == y).mean() == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-9)
    assert card["metrics"]["test_accuracy"] >= 0.965


def test_array_shapes_and_dtypes(clf, test_set):
    x, y = test_set
    ref = clf.predict(x[:8])
    assert np.allclose(clf.predict(x[:8].reshape(8, 784)), ref)
    assert np.allclose(clf.predict(x[:8, None]), ref)
    assert np.allclose(clf.predict(x[:8].astype(np.float32) / 255), ref, atol=1e-6)
    assert np.allclose(clf.predict(x[:8].astype(np.int64)), ref, atol=1e-6)  # integers: 0..255 levels
    with pytest.raises(mnist_onnx.UsageError, match="divide 0..255 values by 255"):
        clf.predict(x[:8].astype(np.float64))  # floats are 0..1: 0..255 floats are an error, not a guess
    one = clf.classify(x[0])
    assert one.digit == y[0] and 0 < one.confidence <= 1 and one.top_k(3)[0] == (one.digit, one.confidence)
    assert [p.digit for p in clf.classify(x[:5])] == list(clf.predict(x[:5]).argmax(1))
    assert [p.digit for p in clf.classify(x[:5].reshape(5, 784))] == list(clf.predict(x[:5]).argmax(1))
    assert clf.classify(x[0].reshape(784)).digit == y[0]
    with pytest.raises(ValueError, match="expected"):
        clf.predict(np.zeros((5, 5)))


def test_pil_images_and_mixed_lists(clf, test_set, tmp_path):
    x, y = test_set
    Image.fromarray(255 - x[1]).save(tmp_path / "p.png")
    preds = clf.classify([x[0], Image.fromarray(x[2]), tmp_path / "p.png", str(tmp_path / "p.png")])
    assert [p.digit for p in preds] == [y[0], y[2], y[1], y[1]]


@pytest.mark.slow
def test_third_party_cnn_with_its_normalisation(test_set, third_party):
    """A PyTorch CNN nobody here wrote: [N,1,28,28] input, logits out, (x - 0.1307) / 0.3081."""
    x, y = test_set
    c = Classifier(third_party, provider="cpu", mean=0.1307, std=0.3081)
    assert c.info.input_shape[1:] == [1, 28, 28]
    probs = c.predict(x)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)  # logits were turned into probabilities
    ref = plain_ort(third_party, ((x.astype(np.float32) / 255 - 0.1307) / 0.3081)[:, None])
    assert (probs.argmax(1) == ref.argmax(1)).all()  # to the image, what plain onnxruntime says
    assert (probs.argmax(1) == y).mean() > 0.97


def _tiny_model(path, shape, elem=None, out=10, meta=None):
    """A model whose scores are simply its first *out* input values: shows exactly what it was fed."""
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT if elem is None else elem, shape)
    outp = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out])
    nodes = [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
             helper.make_node("Flatten", ["xf"], ["flat"]),
             helper.make_node("Slice", ["flat", "start", "end", "axes"], ["y"])]
    init = [helper.make_tensor("start", TensorProto.INT64, [1], [0]),
            helper.make_tensor("end", TensorProto.INT64, [1], [out]),
            helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    m = helper.make_model(helper.make_graph(nodes, "tiny", [inp], [outp], init),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    for k, v in (meta or {}).items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))
    return path


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.export  # builds ONNX models with the onnx package
def test_uint8_input_and_black_on_white_models(tmp_path):
    """Contract variants: a uint8 [N,28,28] model gets raw 0..255 pixels; metadata can ask for black-on-white."""
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 0, :10] = np.linspace(0, 0.9, 10)
    u8 = Classifier(_tiny_model(tmp_path / "u8.onnx", ["N", 28, 28], onnx.TensorProto.UINT8), provider="cpu")
    assert u8.info.input_dtype == np.uint8
    assert np.allclose(u8.predict_pixels(x), softmax(np.rint(x[:, 0, :10] * 255)), atol=1e-6)
    bow = Classifier(_tiny_model(tmp_path / "bow.onnx", ["N", 784], meta={
        "preprocessing": json.dumps({"ink": "black-on-white", "scale": 1 / 255}), "output": "logits"}), provider="cpu")
    assert bow.info.preprocessing.ink == "black-on-white" and bow.info.output_kind == "logits"
    assert np.allclose(bow.predict_pixels(x), softmax(1 - x[:, 0, :10]), atol=1e-6)
    flipped = Classifier(tmp_path / "bow.onnx", provider="cpu", model_ink="white-on-black", mean=0.5, std=2.0)
    assert np.allclose(flipped.predict_pixels(x), softmax((x[:, 0, :10] - 0.5) / 2.0), atol=1e-6)


@pytest.mark.export  # builds ONNX models with the onnx package
def test_incompatible_missing_and_corrupt_models(tmp_path):
    with pytest.raises(ModelError, match=r"input shape \['N', 3, 32, 32\]"):
        Classifier(_tiny_model(tmp_path / "rgb.onnx", ["N", 3, 32, 32]), provider="cpu")
    with pytest.raises(ModelError, match=r"output shape"):
        Classifier(_tiny_model(tmp_path / "five.onnx", ["N", 784], out=5), provider="cpu")
    with pytest.raises(ModelError, match="model file not found"):
        Classifier(tmp_path / "nope.onnx", provider="cpu")
    (tmp_path / "junk.onnx").write_bytes(os.urandom(2000))
    with pytest.raises(ModelError, match="not a loadable ONNX model") as e:
        Classifier(tmp_path / "junk.onnx", provider="cpu")
    assert "\n" not in str(e.value)


def test_model_resolution_order(tmp_path, monkeypatch):
    assert resolve_model(None) == (bundled_model_path(), "bundled")
    exported = tmp_path / "data" / "model.onnx"
    monkeypatch.setenv("MNIST_ONNX_DATA_DIR", str(tmp_path / "data"))
    exported.parent.mkdir()
    exported.write_bytes(bundled_model_path().read_bytes())
    assert resolve_model(None) == (exported, "exported")
    monkeypatch.setenv("MNIST_ONNX_MODEL", str(THIRD_PARTY))
    assert resolve_model(None)[0] == THIRD_PARTY
    assert resolve_model(tmp_path / "explicit.onnx")[0] == tmp_path / "explicit.onnx"


def test_cuda_is_honest():
    """On a machine where CUDA cannot run, `cuda` fails with the reason and `auto` falls back with a note."""
    problem = cuda_problem()
    if problem is None:  # a real GPU machine: CUDA must really be used
        assert Classifier(provider="cuda").provider == "cuda"
        return
    from mnist_onnx._model import gpu_present

    with pytest.raises(ProviderError, match="cannot run here") as e:
        Classifier(provider="cuda")
    # first whether there is a GPU at all (#31); the missing library only where one is
    assert (problem in str(e.value)) if gpu_present() else ("no NVIDIA GPU or driver was found" in str(e.value))
    auto = Classifier(provider="auto")
    assert auto.provider == "cpu" and auto.session.get_providers() == ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in ort.get_available_providers():  # onnxruntime-gpu without working CUDA
        from mnist_onnx._model import gpu_present

        # a note only where a GPU is there but unusable; on a machine without one, CPU is no surprise
        assert bool(auto.provider_note) == gpu_present()
        if auto.provider_note:
            assert "CPU" in auto.provider_note and "mnist-onnx[cuda]" in auto.provider_note


def test_array_scale_follows_the_dtype_not_the_values(test_set):
    """One image with a pixel of 2.0 used to make the whole batch /255 (155 of 200 other predictions moved);
    NaN came back as digit 0 with confidence NaN. Now: the dtype decides, and bad values are one error."""
    from mnist_onnx import Classifier

    clf = Classifier(provider="cpu")
    x = test_set[0][:200].astype(np.float32) / 255
    before = clf.predict(x).argmax(1)
    bad = x.copy()
    bad[0, 0, 0] = 2.0
    with pytest.raises(mnist_onnx.UsageError, match="float pixels are 0..1"):
        clf.predict(bad)
    bad[0, 0, 0] = np.nan
    with pytest.raises(mnist_onnx.UsageError, match="image 0 of the array holds NaN"):
        clf.classify(bad)
    assert np.array_equal(clf.predict(x).argmax(1), before)
    for odd in (np.array(5), np.zeros((3, 3))):
        with pytest.raises(mnist_onnx.UsageError, match="array of shape"):
            clf.predict(odd)
    assert clf.predict(np.zeros((0, 28, 28), np.uint8)).shape == (0, 10)
    assert clf.classify(np.zeros((0, 28, 28), np.uint8)) == []


@pytest.mark.slow
def test_predict_converts_a_big_array_a_batch_at_a_time(test_set):
    """A uint8 array is never copied whole to float32 (a 747 MiB array once peaked at 6.8 GB)."""
    import tracemalloc

    from mnist_onnx import Classifier

    clf = Classifier(provider="cpu")
    x = np.repeat(test_set[0], 4, axis=0)  # 40,000 images, 31 MB as uint8, 125 MB as float32
    expected = clf.predict_pixels(x[:5000].astype(np.float32) / 255).argmax(1)
    tracemalloc.start()
    probs = clf.predict(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert probs.shape == (40_000, 10) and np.array_equal(probs[:5000].argmax(1), expected)
    assert peak < 60 << 20, peak  # batches of 4,096 images, not one 125 MB float copy


def test_batch_size_zero_or_negative_is_a_clear_error_not_an_empty_run():
    """`classify_files(batch_size=0)` returned nothing and no error (#20 item 13)."""
    from mnist_onnx import Classifier, UsageError

    clf = Classifier(provider="cpu")
    for bad in (0, -1, 2.5):
        with pytest.raises(UsageError, match="batch_size"):
            list(clf.classify_files(ROOT / "samples", batch_size=bad))
        with pytest.raises(UsageError, match="batch_size"):
            list(clf.read_files(ROOT / "samples", batch_size=bad))
