"""Handwriting-font digits and a user's own digits in training (export/fonts.py, `export --extra-data`): the
font fetch for real against a loopback npm registry, the bundled sheet, the held-out split by font, and
non-digit data trained with the plain recipe."""

import gzip
import hashlib
import io
import json
import struct
import tarfile

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import DATA, run_cli
from mnist_onnx.errors import DataError
from mnist_onnx_export import fonts
from test_download import _serve

pytestmark = pytest.mark.export  # the download and font code live in the export extra


def _font_package(name: str) -> bytes:
    """An npm package laid out as Fontsource's, holding Pillow's own built-in TrueType font (Aileron)."""
    data = ImageFont.load_default(20).path.getvalue()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for member, payload in ((f"package/files/{name}-latin-400-normal.woff", data),
                                ("package/LICENSE", b"SIL Open Font License 1.1\n")):
            info = tarfile.TarInfo(member)
            info.size = len(payload)
            t.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    www = tmp_path / "www"
    pkg = www / "@fontsource" / "aileron" / "-"
    pkg.mkdir(parents=True)
    tgz = _font_package("aileron")
    (pkg / "aileron-1.0.0.tgz").write_bytes(tgz)
    font = fonts.Font("aileron", "1.0.0", hashlib.sha256(tgz).hexdigest(), "OFL-1.1")
    for base, served, log in _serve(www, monkeypatch):
        yield base, font, log


@pytest.mark.slow
def test_fonts_fetched_verified_cached_and_rendered(registry, tmp_path):
    base, font, log = registry
    cache = tmp_path / "cache"
    sheet = fonts.make_sheet((font,), cache_dir=cache, registry=base, log=lambda s: None)
    assert sheet["glyphs"].shape == (1, 10, fonts.GLYPH, fonts.GLYPH) and list(sheet["names"]) == ["aileron"]
    assert all(sheet["glyphs"][0, d].max() == 255 for d in range(10))
    assert (cache / "aileron-1.0.0.tgz").is_file() and len(log) == 1
    fonts.make_sheet((font,), cache_dir=cache, registry=base, log=lambda s: None)
    assert len(log) == 1  # verified from the cache: no second download
    out = tmp_path / "sheet.npz"
    fonts.write_sheet(sheet, out)
    assert np.array_equal(fonts.load_sheet(out)["glyphs"], sheet["glyphs"])
    assert "aileron" in fonts.notice(sheet) and "OFL-1.1" in fonts.notice(sheet)


@pytest.mark.slow
def test_a_tampered_font_package_is_refused_in_one_line(registry, tmp_path):
    base, font, _ = registry
    wrong = fonts.Font(font.name, font.version, "0" * 64, font.licence)
    with pytest.raises(DataError) as e:
        fonts.fetch_fonts((wrong,), cache_dir=tmp_path / "cache", registry=base)
    assert "aileron-1.0.0.tgz" in str(e.value) and "SHA-256 mismatch" in str(e.value) and "\n" not in str(e.value)
    assert not list((tmp_path / "cache").glob("*.tgz"))  # nothing unverified is kept


@pytest.mark.slow
def test_the_sheet_command_fails_in_one_line_and_writes_nothing(registry, tmp_path):
    """`python -m mnist_onnx_export.fonts` against a registry without the pinned packages: one line naming the
    package and what to set, exit 2, no sheet and no notice (a traceback before)."""
    import subprocess
    import sys

    base, _, _ = registry
    out = tmp_path / "sheet.npz"
    r = subprocess.run([sys.executable, "-m", "mnist_onnx_export.fonts", "--cache", str(tmp_path / "cache"),
                        "--registry", base, "-o", str(out)], capture_output=True, text=True, timeout=120)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert len(errors) == 1 and f"{fonts.FONTS[0].name}-{fonts.FONTS[0].version}.tgz" in errors[0], r.stderr
    assert not out.exists() and not (tmp_path / "NOTICE-fonts.md").exists()


def test_hollow_glyphs_are_told_from_strokes():
    solid = np.zeros((64, 64), np.uint8)
    ImageDraw.Draw(im := Image.fromarray(solid).copy()).line([(32, 6), (32, 58)], fill=255, width=6)
    assert fonts.hollow_share(np.asarray(im)) < 0.1
    outline = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(outline).rectangle([24, 4, 40, 60], outline=255, width=2)  # an outlined "1"
    assert fonts.hollow_share(np.asarray(outline)) > 1.0


@pytest.mark.slow
def test_the_bundled_sheet_and_its_split_by_font():
    sheet = fonts.load_sheet()
    names = [str(n) for n in sheet["names"]]
    assert len(names) >= 50 and sheet["glyphs"].shape[1:] == (10, fonts.GLYPH, fonts.GLYPH)
    assert set(names) <= {f.name for f in fonts.FONTS}
    held_out = [n for n in names if fonts.is_validation_font(n)]
    assert 0.1 <= len(held_out) / len(names) <= 0.35
    notice = (fonts.SHEET.parent / "NOTICE-fonts.md").read_text()
    assert all(f"@fontsource/{n}@" in notice for n in names)
    x, y = fonts.font_digits(200, seed=0)
    xv, yv = fonts.font_digits(200, seed=0, validation=True)
    assert x.dtype == np.uint8 and x.shape[1:] == (28, 28) and np.bincount(y, minlength=10).min() >= 1
    assert len(x) == 10 * (len(names) - len(held_out)) and len(xv) >= 10 * len(held_out)
    # training and held-out renderings come from different fonts: no image is shared
    assert not {a.tobytes() for a in x} & {a.tobytes() for a in xv}
    # in the runtime's normal form, and readable: the bundled CNN reads most unseen-font digits
    from mnist_onnx import Classifier

    assert (Classifier("cnn").predict(xv).argmax(1) == yv).mean() >= 0.8


def _write_idx(folder, split, x, y):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(x), 28, 28) + x.astype(np.uint8).tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, len(y)) + y.astype(np.uint8).tobytes())


def _shapes(n, rng):
    """Ten classes of drawn shapes (not digits): what a Fashion-MNIST-like set looks like to the exporter."""
    x, y = np.zeros((n, 28, 28), np.uint8), rng.integers(0, 10, n)
    for i, k in enumerate(y):
        im = Image.new("L", (28, 28), 0)
        d = ImageDraw.Draw(im)
        c, r = rng.uniform(11, 17, 2), rng.uniform(6, 10)
        box = [c[0] - r, c[1] - r, c[0] + r, c[1] + r]
        [lambda: d.ellipse(box, fill=255), lambda: d.rectangle(box, fill=255), lambda: d.ellipse(box, outline=255, width=2),
         lambda: d.rectangle(box, outline=255, width=2), lambda: d.polygon([(c[0], c[1] - r), box[:2], (box[2], box[1])], fill=255),
         lambda: d.line([box[:2], box[2:]], fill=255, width=3), lambda: d.line([(box[0], box[3]), (box[2], box[1])], fill=255, width=3),
         lambda: d.line([(box[0], c[1]), (box[2], c[1])], fill=255, width=4), lambda: d.line([(c[0], box[1]), (c[0], box[3])], fill=255, width=4),
         lambda: d.pieslice(box, 0, 180, fill=255)][k]()
        x[i] = np.asarray(im)
    return x, y


@pytest.mark.slow
def test_non_digit_data_trains_with_the_plain_recipe(tmp_path):
    from mnist_onnx_export import export_model

    rng = np.random.default_rng(0)
    data = tmp_path / "shapes"
    data.mkdir()
    for split, n in (("train", 3000), ("test", 500)):
        _write_idx(data, split, *_shapes(n, rng))
    lines = []
    result = export_model(data, tmp_path / "shapes.onnx", epochs=12, patience=12, hidden=(128,), log=lines.append)
    card = result.card
    assert card["augmentation"]["on"] is False and card["augmentation"]["digit_styles"] is False
    assert card["augmentation"]["font_digits"] == 0 and "reads" in card["augmentation"]["why"]
    assert any("plain recipe" in line for line in lines)
    assert card["metrics"]["test_accuracy"] >= 0.9


@pytest.mark.slow
def test_extra_data_is_trained_on_end_to_end(tmp_path):
    """`export --extra-data DIR`, as a user runs it: a company's own mark (an X) taught as a 1, and a bad
    file named in one line without stopping the export."""
    extra = tmp_path / "mine"
    (extra / "1").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(400):
        im = Image.new("L", (60, 60), 255)
        a, b = rng.uniform(8, 16, 2)
        ImageDraw.Draw(im).line([(a, b), (60 - b, 60 - a)], fill=0, width=int(rng.integers(3, 6)))
        ImageDraw.Draw(im).line([(a, 60 - b), (60 - b, a)], fill=0, width=int(rng.integers(3, 6)))
        im.save(extra / "1" / f"x{i}.png")
    (extra / "1" / "broken.png").write_bytes(b"not a png")
    probe = tmp_path / "probe.png"
    im = Image.new("L", (60, 60), 255)
    ImageDraw.Draw(im).line([(12, 12), (48, 48)], fill=0, width=4)
    ImageDraw.Draw(im).line([(12, 48), (48, 12)], fill=0, width=4)
    im.save(probe)
    out = tmp_path / "m.onnx"
    r = run_cli("export", "-d", str(DATA), "--epochs", "3", "--hidden", "128", "--font-share", "0",
                "--extra-data", str(extra), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "broken.png: left out" in r.stdout + r.stderr and "400 labelled digits" in r.stdout + r.stderr
    card = json.loads(out.with_name("m.card.json").read_text())
    assert card["extra_data"]["images"] == 400
    r = run_cli("classify", str(probe), "--model", str(out), "-f", "csv")
    assert r.returncode == 0 and r.stdout.splitlines()[1].split(",")[1] == "1", r.stdout + r.stderr
    r = run_cli("classify", str(probe), "-f", "csv")  # the bundled MLP was never taught it
    assert r.stdout.splitlines()[1].split(",")[1] != "1"
    bad = run_cli("export", "-d", str(DATA), "--extra-data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "n.onnx"))
    assert bad.returncode == 2 and "--extra-data" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_extra_data_from_a_labels_csv(tmp_path):
    from mnist_onnx_export.data import load_extra

    Image.new("L", (20, 20), 255).save(tmp_path / "blank.png")
    im = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(im).line([(20, 5), (20, 35)], fill=0, width=4)
    im.save(tmp_path / "one.png")
    (tmp_path / "labels.csv").write_text("file,label\none.png,1\nblank.png,0\nmissing.png,3\n")
    said = []
    x, y = load_extra(tmp_path, said.append)
    assert x.shape == (2, 28, 28) and list(y) == [1, 0]
    assert any("missing.png: left out" in s for s in said)
    (tmp_path / "labels.csv").write_text("file,label\none.png,seven\n")
    with pytest.raises(DataError, match="labels.csv:2"):
        load_extra(tmp_path)
