"""Real TensorFlow training and tf2onnx export on the 5k subset (short runs), checked with onnxruntime."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest

from conftest import DATA, lazy, run_cli
from mnist_onnx.errors import DataError, OutputError, ParityError

# the export extra's packages, imported when a test runs (this module is marked `export`)
onnx, numpy_helper = lazy("onnx"), lazy("onnx.numpy_helper")
exp, onnx_export, train = lazy("mnist_onnx_export"), lazy("mnist_onnx_export.onnx_export"), lazy("mnist_onnx_export.train")

pytestmark = [pytest.mark.slow, pytest.mark.export]


def test_writes_model_card_and_pictures(exported):
    for path in (exported.model_path, exported.card_path, exported.curves_path, exported.confusion_path):
        assert path.is_file() and path.stat().st_size > 0
    assert exported.curves_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = json.loads(exported.card_path.read_text())
    assert card["metrics"]["test_accuracy"] > 0.9  # 8 epochs on 5k images
    assert card["metrics"]["parity"]["argmax_disagreements"] == 0
    assert card["metrics"]["parity"]["max_abs_probability_diff"] <= 1e-5
    assert card["data"]["train_images"] == 5000 and card["data"]["test_images"] == 10000
    assert card["data"]["sha256"]["t10k-images-idx3-ubyte.gz"] == "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    assert card["config"]["hidden"] == [512, 256, 128] and card["config"]["activation"] == "relu"
    assert set(card["versions"]) >= {"tensorflow", "tf2onnx", "onnx", "onnxruntime", "opset"}
    assert len(card["history"]["val_accuracy"]) == card["metrics"]["epochs_run"]


def test_progress_is_logged_per_epoch(exported):
    epochs = [line for line in exported.log if line.startswith("epoch")]
    assert len(epochs) == exported.card["metrics"]["epochs_run"]
    assert all("train acc" in line and "val acc" in line and "loss" in line for line in epochs)


def test_model_is_valid_self_describing_and_dynamic(exported):
    proto = onnx.load(str(exported.model_path))
    onnx.checker.check_model(proto, full_check=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    contract = json.loads(meta["preprocessing"])
    assert contract["ink"] == "white-on-black" and contract["layout"] == "N,784" and contract["range"] == [0.0, 1.0]
    assert json.loads(meta["labels"]) == [str(d) for d in range(10)]
    assert json.loads(meta["model_card"])["metrics"]["test_accuracy"] == exported.card["metrics"]["test_accuracy"]
    assert proto.graph.input[0].name == "pixels" and proto.graph.output[0].name == "probabilities"
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    s = ort.InferenceSession(str(exported.model_path), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        p = s.run(None, {"pixels": np.random.rand(n, 784).astype(np.float32)})[0]
        assert p.shape == (n, 10) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_plain_onnxruntime_without_tensorflow_scores_what_the_card_says(exported):
    """The acceptance check a user would do: no TensorFlow, just onnxruntime + numpy on the test set."""
    code = textwrap.dedent(f"""
        import gzip, json, sys
        import numpy as np, onnxruntime as ort
        raw = gzip.open({str(DATA / 't10k-images-idx3-ubyte.gz')!r}).read()
        x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
        y = np.frombuffer(gzip.open({str(DATA / 't10k-labels-idx1-ubyte.gz')!r}).read(), np.uint8, offset=8)
        s = ort.InferenceSession({str(exported.model_path)!r}, providers=["CPUExecutionProvider"])
        acc = float((s.run(None, {{"pixels": x}})[0].argmax(1) == y).mean())
        print(json.dumps({{"acc": acc, "tf": "tensorflow" in sys.modules}}))
    """)
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert out["tf"] is False
    assert out["acc"] == exported.card["metrics"]["test_accuracy"]


def test_same_seed_same_weights(exported, tmp_path):
    again = exp.export_model(DATA, tmp_path / "again.onnx", epochs=8, patience=8, seed=1, log=lambda s: None)
    a = [numpy_helper.to_array(t) for t in onnx.load(str(exported.model_path)).graph.initializer]
    b = [numpy_helper.to_array(t) for t in onnx.load(str(again.model_path)).graph.initializer]
    assert len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def test_parity_gate_rejects_a_different_model(exported):
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    other = train.build_model(exp.make_config())  # untrained: must disagree with the exported, trained model
    x = np.random.default_rng(0).random((100, 784), dtype=np.float32)
    with pytest.raises(ParityError, match="disagrees with TensorFlow.*no model written"):
        onnx_export.check_parity(other, exported.model_path.read_bytes(), x)


def test_unwritable_out_fails_before_loading_data(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create directory"):
        exp.export_model(tmp_path / "no-such-data", blocker / "sub" / "model.onnx")  # data is never looked at


def test_bad_data_one_line(tmp_path):
    with pytest.raises(DataError, match="no train-images"):
        exp.export_model(tmp_path, tmp_path / "m.onnx")


def test_presets_and_overrides():
    assert set(exp.PRESETS) == {"tutorial", "cnn", "softmax", "mlp300", "mlp200", "sigmoid5"}
    assert exp.make_config("softmax").hidden == () and exp.make_config("softmax").optimizer == "sgd"
    assert exp.make_config("mlp200").batch_size == 1000
    cfg = exp.make_config("mlp300", hidden=(64,), learning_rate=0.1, epochs=None)
    assert cfg.hidden == (64,) and cfg.learning_rate == 0.1 and cfg.epochs == exp.make_config("mlp300").epochs
    widths = [layer.units for layer in train.build_model(exp.make_config("sigmoid5")).layers if hasattr(layer, "units")]
    assert widths == [200, 100, 60, 30, 10]
    with pytest.raises(ValueError, match="unknown preset"):
        exp.make_config("lenet")


def test_augment_is_identity_at_zero_and_keeps_range():
    import dataclasses

    import tensorflow as tf

    from mnist_onnx_export.augment import AugmentConfig, augment

    x = tf.constant(np.random.default_rng(0).random((8, 784), dtype=np.float32))
    off = AugmentConfig(**{f.name: 0.0 for f in dataclasses.fields(AugmentConfig)})
    same = augment(x, off).numpy()
    assert np.allclose(same, x.numpy(), atol=1e-5)
    moved = augment(x).numpy()
    assert moved.shape == (8, 784) and moved.min() >= 0 and moved.max() <= 1 and not np.allclose(moved, x.numpy())


def test_lowres_variants_go_through_the_runtime_preprocessing(test_set):
    """Each digit as an 8x8/16x16 source, brought back by the runtime: MNIST layout, recognisably the same."""
    from mnist_onnx.image.normal import is_normal_form
    from mnist_onnx_export.augment import lowres_variants

    x, _ = test_set
    low = lowres_variants(x[:200], seed=0).reshape(-1, 28, 28)
    assert low.dtype == np.float32 and low.min() >= 0 and low.max() <= 1
    assert is_normal_form(low).mean() > 0.9  # fitted to 20 px and centred, as classify would hand them over
    orig = x[:200].reshape(200, -1).astype(np.float32)
    corr = [np.corrcoef(a, b.ravel())[0, 1] for a, b in zip(orig, low)]
    assert np.median(corr) > 0.6  # blurred and blocky, but the same digit


def test_cli_export_softmax_preset(tmp_path):
    r = run_cli("export", "--data", str(DATA), "--out", str(tmp_path / "soft.onnx"), "--preset", "softmax", "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert "epoch   2" in r.stdout and "test accuracy" in r.stdout
    card = json.loads((tmp_path / "soft.card.json").read_text())
    assert card["config"]["preset"] == "softmax" and card["architecture"] == "softmax regression 784-10"
    assert "cudart" not in r.stderr and "absl" not in r.stderr  # TensorFlow's start-up chatter stays hidden


def test_cli_export_errors_are_one_line(tmp_path):
    r = run_cli("export", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "m.onnx"))
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not a directory" in r.stderr
    r = run_cli("export", "--data", str(DATA), "--hidden", "12,x")
    assert r.returncode == 2 and "--hidden" in r.stderr


def test_a_broken_model_is_never_installed_as_the_default(tmp_path):
    """One epoch through a 1-unit bottleneck at a learning rate of 1e-6 learns nothing (~10 %)."""
    data_dir = tmp_path / "data"
    r = run_cli("export", "--data", str(DATA), "--hidden", "1", "--activation", "sigmoid", "--lr", "1e-6",
                "--epochs", "1", "--no-augment", env={"MNIST_ONNX_DATA_DIR": str(data_dir)})
    assert r.returncode == 2 and "sanity floor" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert not (data_dir / "model.onnx").exists()


def test_data_and_output_errors_come_before_tensorflow(tmp_path):
    """A wrong --data or --output is one line in well under the seconds TensorFlow takes to import."""
    import time

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for args, words in ((("--data", str(tmp_path / "nope")), "not a directory"),
                        (("--data", str(DATA), "-o", str(blocker / "m.onnx")), "is not a directory"),
                        (("--data", str(tmp_path)), "no t10k-images")):
        t0 = time.perf_counter()
        r = run_cli("export", *args)
        assert r.returncode == 2 and words in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert "tensorflow" not in r.stderr.lower() and time.perf_counter() - t0 < 5


def test_calibrated_with_a_threshold_and_digit_material_on_digits(exported):
    card = exported.card
    cal = card["calibration"]
    assert 0.25 <= cal["temperature"] <= 8 and cal["ece_after"] <= cal["ece_before"] + 1e-6
    assert 0 < card["min_confidence"]["value"] <= 1
    meta = {p.key: p.value for p in onnx.load(str(exported.model_path)).metadata_props}
    assert float(meta["min_confidence"]) == pytest.approx(card["min_confidence"]["value"], abs=1e-4)
    from mnist_onnx import Classifier

    assert Classifier(exported.model_path, provider="cpu").min_confidence == pytest.approx(float(meta["min_confidence"]))
    # the 5k subset is MNIST's digits: digit styles and font digits on (non-digit data: tests/test_fonts.py)
    aug = card["augmentation"]
    assert aug["on"] is True and aug["digit_styles"] is True and aug["font_digits"] >= 1000
    assert 0.5 <= card["metrics"]["unseen_fonts"]["accuracy"] <= 1
    assert any("digit styles" in line and "on" in line for line in exported.log)


def test_fit_temperature_recovers_the_temperature_of_the_data():
    from mnist_onnx_export.train import fit_temperature

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, (20000, 10)).astype(np.float32)
    z = logits / 2.5
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(10, p=row) for row in p])  # labels drawn at temperature 2.5
    assert fit_temperature(logits, y) == pytest.approx(2.5, rel=0.08)


def test_cnn_teacher_and_distilled_student(tmp_path):
    """`--preset cnn` exports a verified CNN with the MLP's contract; `--teacher` distils from it."""
    teacher = tmp_path / "cnn.onnx"
    r = run_cli("export", "--data", str(DATA), "--preset", "cnn", "--epochs", "1", "-o", str(teacher))
    assert r.returncode == 0, r.stderr
    card = json.loads(teacher.with_name("cnn.card.json").read_text())
    assert card["config"]["arch"] == "cnn" and card["architecture"].startswith("CNN")
    assert card["metrics"]["parity"]["argmax_disagreements"] == 0 and card["metrics"]["test_accuracy"] > 0.8
    session = ort.InferenceSession(str(teacher), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1:] == [784]  # one contract for every model we ship
    student = tmp_path / "student.onnx"
    r = run_cli("export", "--data", str(DATA), "--teacher", str(teacher), "--epochs", "1", "-o", str(student),
                "--distill-temperature", "2", "--distill-weight", "0.5")
    assert r.returncode == 0, r.stderr
    card = json.loads(student.with_name("student.card.json").read_text())
    assert card["teacher"]["path"] == str(teacher) and card["teacher"]["name"] == "mnist-onnx cnn"
    assert card["teacher"]["temperature"] == 2 and card["teacher"]["weight"] == 0.5
    # one epoch on 5k digits, half of it learning a one-epoch teacher: it learnt, not that it learnt well
    assert card["architecture"].startswith("MLP 784-512-256-128-10") and card["metrics"]["test_accuracy"] > 0.6
    r = run_cli("export", "--data", str(DATA), "--teacher", str(tmp_path / "nope.onnx"), "-o", str(tmp_path / "x.onnx"))
    assert r.returncode == 2 and "--teacher" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_default_export_on_the_5k_subset_keeps_its_accuracy(tmp_path):
    """#16: 0.3.0's defaults gave 96.40 % on the test set from the 5k subset (0.1.0: 97.10 %); >= 96.5 % now."""
    out = tmp_path / "m.onnx"
    r = run_cli("export", "--data", str(DATA), "-o", str(out))
    assert r.returncode == 0, r.stderr
    card = json.loads(out.with_name("m.card.json").read_text())
    assert card["config"]["epochs"] == 40 and card["metrics"]["test_accuracy"] >= 0.965


def test_calibrating_a_model_exported_without_it(tmp_path):
    """`python -m mnist_onnx_export.calibrate` adds the temperature to an existing model (how the bundled MLP,
    exported by 0.3.0, was calibrated): same argmax on every test image, probabilities = softmax(log p / T)."""
    from mnist_onnx_export.calibrate import calibrate_model
    from mnist_onnx._calibration import soften
    from mnist_onnx import Classifier

    raw = tmp_path / "raw.onnx"
    r = run_cli("export", "--data", str(DATA), "--epochs", "1", "--no-calibrate", "-o", str(raw))
    assert r.returncode == 0, r.stderr
    assert json.loads(raw.with_name("raw.card.json").read_text())["calibration"]["temperature"] == 1.0
    out = tmp_path / "calibrated.onnx"
    card = calibrate_model(raw, DATA, out)
    t = card["calibration"]["temperature"]
    assert 0.25 <= t <= 8 and t != 1.0
    x, _ = __import__("mnist_onnx._idx", fromlist=["load_split"]).load_split(DATA, "test")
    before = Classifier(raw, provider="cpu").predict(x[:2000])
    after = Classifier(out, provider="cpu")
    assert np.allclose(after.predict(x[:2000]), soften(before, t), atol=1e-5)
    assert after.min_confidence == pytest.approx(card["min_confidence"]["value"], abs=1e-4)
    with pytest.raises(Exception, match="already calibrated"):
        calibrate_model(out, DATA)
