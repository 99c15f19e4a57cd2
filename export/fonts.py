"""Digits in handwriting fonts: styles MNIST never saw (continental 1s with a long flag, tall narrow 7s, ...).

Two halves, read top to bottom:

* **The sheet** (build time, `python -m mnist_onnx_export.fonts [--cache DIR] [-o FILE]`): fetch the pinned
  `@fontsource/*` packages from the npm registry (SHA-256 verified, cached like MNIST, downloaded through the
  same bounded fetch), render 0-9 of each font once into a 64x64 master glyph, drop hollow/outline fonts and
  fonts missing a digit, and write `font_digits.npz` (glyphs, font names, versions, licences). The sheet ships
  with the package (`export/font_digits.npz`, ~0.3 MB) so that an export needs no network and renders the same
  everywhere: a fetch would need 89 MB of packages from a registry many training machines cannot reach, and
  FreeType versions differ in how they rasterise the same font. NOTICE-fonts.md lists every font's licence.
  Fontsource ships WOFF 1 beside WOFF 2; FreeType reads WOFF 1 directly, so no conversion (and no fontTools,
  no brotli) is needed.
* **Training digits** (`font_digits`): each master glyph varied like handwriting -- pen width, rotation, shear,
  aspect, size -- and sent through the runtime's own normal form, so training sees what `classify` shows.
  Fonts are split by name: every fifth font (`is_validation_font`) never trains and measures unseen styles.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mnist_onnx.parts import atomic_write, to_mnist, user_cache_dir
from mnist_onnx.errors import DataError

from .data import fetch_verified

REGISTRY = "https://registry.npmjs.org"
REGISTRY_ENV = "MNIST_ONNX_FONT_REGISTRY"  # another npm registry (a mirror, a loopback server in the tests)
SHEET = Path(__file__).with_name("font_digits.npz")
GLYPH = 64  # master glyph box, pixels


@dataclass(frozen=True)
class Font:
    name: str  # the @fontsource package, e.g. "caveat"
    version: str
    sha256: str  # of the package tarball as the registry serves it
    licence: str


# Google's handwriting fonts as packaged by Fontsource, pinned. Chosen for hand-drawn digits; a font whose
# digits are hollow, outlined or missing is dropped when the sheet is made (and said so).
FONTS: tuple[Font, ...] = (
    Font("amatic-sc", "5.3.0", "76e588455c315b57c558b8ad2bafd1c91cc7c764a6333f6bb5a3dcc4a35c390c", "OFL-1.1"),
    Font("annie-use-your-telescope", "5.3.0", "ed1cea10322cff6e760b1c1d2cb3be8b5a3b08ddea41feae31f9f938f39fe1ab", "OFL-1.1"),
    Font("architects-daughter", "5.3.0", "791d2009fbdc46ca3eb942c27c62c0ee353668cd290dfad17f401b8488c727a1", "OFL-1.1"),
    Font("caveat", "5.3.0", "ebf746fc0667b9d10fcac7c8604e2ba40a264da85a1c9b48bd679c0af3221293", "OFL-1.1"),
    Font("caveat-brush", "5.3.0", "90bdf6714e7152db9b03cd62ec69fe6ff96efe4ba30eacef71b40e7492a53089", "OFL-1.1"),
    Font("cedarville-cursive", "5.3.0", "dd07000aae10231af25d83ab5ea2c53a22a8c20d8eccc137d6e5798a55edc80e", "OFL-1.1"),
    Font("chilanka", "5.3.0", "699f89eec4e9461ec71fcd9e245804c6a9da32e1c709ee48375b7937b590f289", "OFL-1.1"),
    Font("comic-neue", "5.3.0", "0d242660fa8a3e31deb4ba0005b830904db4533ae3366f9c41724ff452662fa6", "OFL-1.1"),
    Font("coming-soon", "5.3.0", "aac84961066a709d468766331ec2dcbe9c45bbf5260537ca859e411703d20395", "Apache-2.0"),
    Font("covered-by-your-grace", "5.3.0", "1bd27256356f90c7bc7b463d36c05565ef4b3d655bc56d0dd7b7387114b1308d", "OFL-1.1"),
    Font("crafty-girls", "5.3.0", "5d6ed9d0860995963dc7c5895765e49a605e3a1e5c63d3aee65c65e767c4e808", "Apache-2.0"),
    Font("dawning-of-a-new-day", "5.3.0", "90b517633db0d0b77ccbd6ba10c9befaaefd3aa0d964957fc7af064ce377037a", "OFL-1.1"),
    Font("dekko", "5.3.0", "37938c5218b2e1c7ec8a8563796d12e1c357788d2f1a444e8ffd7d9e6f572143", "OFL-1.1"),
    Font("delius", "5.3.0", "d11ac0b0039cc03d141d2dc65ee3472a8bd77300ff2dc16ed24c83544097ecb0", "OFL-1.1"),
    Font("edu-nsw-act-foundation", "5.3.0", "ca91298947e4e95be9595a7e234a81e494f4bbcd57a2b6006c74cf1809fa3db0", "OFL-1.1"),
    Font("edu-qld-beginner", "5.3.0", "567433d322935ceae5f449b73a5dd5fc9dbabd6fa06e4e3326fbe6ec7aff1f95", "OFL-1.1"),
    Font("edu-sa-beginner", "5.3.0", "a91f987d2a9e11937fac52c9adc0eaecd2e7ad69f4532152680c84717b202def", "OFL-1.1"),
    Font("edu-tas-beginner", "5.3.0", "253bcf05d60701109332c3d7c1acaaced5f54f7fbf94a2d92fa4045d1869ebe8", "OFL-1.1"),
    Font("edu-vic-wa-nt-beginner", "5.3.0", "a53e487636db6815d568bdb73225b5cd2f7ec45f1cd17656b6682dca82645c06", "OFL-1.1"),
    Font("gaegu", "5.3.0", "a288e8e1d8ba3b288bee36088ad49f3e393797b96c2cca489efcbce47d918f6f", "OFL-1.1"),
    Font("gamja-flower", "5.3.0", "39b21876792be48fb2701baacab1a75566c2926ae06a109a4ff73510d77d1d7f", "OFL-1.1"),
    Font("give-you-glory", "5.3.0", "53dc8a5a8571d4ddbf30961e9be717e4a9395e7c4c172bacc76151cae70955aa", "OFL-1.1"),
    Font("gloria-hallelujah", "5.3.0", "8755cc046e06286eeebee193f9f753bd0f03eec44c7bf188fc883db66e7a9d91", "OFL-1.1"),
    Font("gochi-hand", "5.3.0", "6e206b6139093775d8762503196d6d991408bd5f8393ea0357f4f89b75b195a3", "OFL-1.1"),
    Font("grape-nuts", "5.3.0", "93b250022fe6d3cf2a1b84288eabe24c98dfd9d206d3c76c6c8c0e545ac886ec", "OFL-1.1"),
    Font("handlee", "5.3.0", "e1fbeba16906d4807b42add8ab85dec533c3e667575be00ba96f050b5fc452ce", "OFL-1.1"),
    Font("hi-melody", "5.3.0", "7c863e00f03dc1bf22282cc73045afce6d517c055f512e6880ca0f14a3ab662c", "OFL-1.1"),
    Font("homemade-apple", "5.3.0", "0ad668da20f63bd47bb32c86e160a7cae8ef0f2e1844c405bc40e278c86b91d0", "Apache-2.0"),
    Font("indie-flower", "5.3.0", "be380503f1e2c5ef08b8399a28f8cb2f1725527db2cb6aacec3037c2bd1b9083", "OFL-1.1"),
    Font("itim", "5.3.0", "2b6f41d05eae237d51e51e69099993e2864d9c61a0015cb908b73850000f1e2e", "OFL-1.1"),
    Font("just-another-hand", "5.3.0", "58754de1b8784c97defb535f0c7e5d683ace09c17533e20c0c8c627da8239d2f", "Apache-2.0"),
    Font("just-me-again-down-here", "5.3.0", "f50dfa4391c0155de091e83454aa53c82e6fd03d79e0ef27d16615186af6f9f8", "OFL-1.1"),
    Font("kalam", "5.3.0", "0aaf22523f3c57ae19f32c4f4df0d43d6efd01b7563a19cf4ed818cd5601426d", "OFL-1.1"),
    Font("kite-one", "4.5.0", "de378df1f0946728da6a83755f97d3b3cdfce2edb03366c774b851bc344f9c55", "MIT"),
    Font("klee-one", "5.3.0", "b816e39f3ab33d66172a6bb0492711dfc6bfb20e59e7e3282267ce48da30ef6a", "OFL-1.1"),
    Font("kristi", "5.3.0", "17fc68a1e21cdf6e59112e7ea2450e039b1590caeb3714ed53d958b791f2ee64", "OFL-1.1"),
    Font("la-belle-aurore", "5.3.0", "48be5aefc80ad78aa9b2b1c992dd65678235c2496ae2a88f694e594ab9d7abed", "OFL-1.1"),
    Font("loved-by-the-king", "5.3.0", "d058a205828a2e29748c87c533dd917fb9b3e4156d6ae564f48cef24f5e9eb69", "OFL-1.1"),
    Font("mali", "5.3.0", "391b86c08e567a8537c0cf6aad7298f5e4c54e0ab7652d046b44678f01f7fbd0", "OFL-1.1"),
    Font("mynerve", "5.3.0", "0ecc298409c3206a75447721e3f462ed7dca74efc9c7c88e4d3644529e37a033", "OFL-1.1"),
    Font("nanum-brush-script", "5.3.0", "1020ce15896a863639d83948298ac823873fa2683e0a6020f78275be5ec01520", "OFL-1.1"),
    Font("nanum-pen-script", "5.3.0", "91c7118b1d68e8ab576addbae76351857cf5c3656b7ee496c51fe16f01258a44", "OFL-1.1"),
    Font("neucha", "5.3.0", "8f2718549556a0c406a766edc9689801a950dc79a71cbb646fc5e2d67c49cca0", "OFL-1.1"),
    Font("nothing-you-could-do", "5.3.0", "dac48ef024df5e754bf8586157d73d0dba139d6353f28b9ec6de77b0dadf0add", "OFL-1.1"),
    Font("over-the-rainbow", "5.3.0", "5f231cee244b4c3a734da05bf23d4e07fec1062ffa1824358e933f59fc94e313", "OFL-1.1"),
    Font("pangolin", "5.3.0", "0b7bd4f9ad33a18fc9de29e28dfb23fc4281635cc153df856443106c94f0e0b3", "OFL-1.1"),
    Font("patrick-hand", "5.3.0", "c3428d02610c7b8fa92b044cf766f8c30b88bb32a47460b4ac42fa14e0bcdcc0", "OFL-1.1"),
    Font("permanent-marker", "5.3.0", "1fc372d174353a87b0ae7bb9651e32e7d1731f9e0b4c50c5d8704baea032bc1b", "Apache-2.0"),
    Font("playpen-sans", "5.3.0", "cc638f6c358ee318701ff65788540db3019aab408267b5b5d81c2a84226e4706", "OFL-1.1"),
    Font("reenie-beanie", "5.3.0", "8a2406f9b3c0b76199dcd87288ea40480fcd8547ba1af2f9f3156205f1688be9", "OFL-1.1"),
    Font("rock-salt", "5.3.0", "c298a87c9a667bcd034b4a5c87430394a0d9bdc03ff6182eaacac2abb868db57", "Apache-2.0"),
    Font("schoolbell", "5.3.0", "08901884344f129587928d2260a84e6d8cc7baae54ecdce19ff225694314b704", "Apache-2.0"),
    Font("sedgwick-ave", "5.3.0", "0531aaf259af059ed01c20108b5c4a7e80b5868e4e2095910e3ceaf06c597dc1", "OFL-1.1"),
    Font("send-flowers", "5.3.0", "84d46caf9e7bb4d092255cb49bf819b292c06ca43b5d3a53a02f2e9bf7ae83ed", "OFL-1.1"),
    Font("shadows-into-light", "5.3.0", "0885aefd34c65bd79207cffff0771ae0527f227a202bc850f8cf9a12257fc7f1", "OFL-1.1"),
    Font("shadows-into-light-two", "5.3.0", "ca9ce1f14a8756059f453e50cede2676b12930515d9a36b30af6a144125fb0da", "OFL-1.1"),
    Font("short-stack", "5.3.0", "10ff174d6c256fd5e5417466b24a561de4fd1c5d090975849c77cc7746d8f470", "OFL-1.1"),
    Font("sofadi-one", "5.3.0", "6a32e0ee2b503b86f3b2333d0c7fae7e96c31062f029d755268047f3d1182a28", "OFL-1.1"),
    Font("square-peg", "5.3.0", "10c9992f1b2d9e68516d8bfc0d1455d36decc9ad5aed8fe7013ebfb67a79bec2", "OFL-1.1"),
    Font("sriracha", "5.3.0", "934c3629d255c4f86f66b218cdefef90d6328727be5036fc28f953ac53a7b6f4", "OFL-1.1"),
    Font("sue-ellen-francisco", "5.3.0", "93c9f047a1709b2879db10b52058ffba7c1642f0acbec422eb358433c937ee00", "OFL-1.1"),
    Font("swanky-and-moo-moo", "5.3.0", "3a1b7f26957986f2bd645c3656f4044812a8b6995eeb2870c90a2f6b86426cd5", "OFL-1.1"),
    Font("the-girl-next-door", "5.3.0", "d4ac864cbcda87dffe808b5366045e8d75c149fd2a00d081cc8343ab36699545", "OFL-1.1"),
    Font("waiting-for-the-sunrise", "5.3.0", "6f9c645d858526553e72f0b56abb32742d5d4c10d6acdb392e5d3fa843ef7141", "OFL-1.1"),
    Font("walter-turncoat", "5.3.0", "d9f63db4a95c587d988e1c1ba6eed706a2d134f60aab91bba0d5d2e47fae3d51", "Apache-2.0"),
    Font("yomogi", "5.3.0", "db1cc83484c6552df59b9c22f2f4725ceaad79875d90f42dcc9268a5c35d5080", "OFL-1.1"),
    Font("zen-kurenaido", "5.3.0", "f8a7fb316996b6d8a7daa9faf3a5f8baab1622cdca9e2aec4af807036ddb2fa4", "OFL-1.1"),
    Font("zeyada", "5.3.0", "bf6eb4164a796a1b91405188b95455aa7e1fad447f37195e9f767efee21e336a", "OFL-1.1"),
)


def tarball_url(font: Font, registry: str | None = None) -> str:
    base = (registry or os.environ.get(REGISTRY_ENV) or REGISTRY).rstrip("/")
    return f"{base}/@fontsource/{font.name}/-/{font.name}-{font.version}.tgz"


def fetch_fonts(fonts: tuple[Font, ...] = FONTS, cache_dir: str | Path | None = None,
                registry: str | None = None) -> dict[str, bytes]:
    """Each font's regular-weight Latin WOFF, from its verified (and cached) package: name -> font bytes."""
    folder = Path(cache_dir) if cache_dir else user_cache_dir() / "fonts"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot create the font cache ({e.strerror}); set MNIST_ONNX_CACHE_DIR") from None
    out = {}
    for font in fonts:
        tgz = fetch_verified(folder, f"{font.name}-{font.version}.tgz", (font.sha256,), [tarball_url(font, registry)],
                             f"set {REGISTRY_ENV} to a reachable npm registry")
        wanted = f"package/files/{font.name}-latin-400-normal.woff"
        with tarfile.open(tgz) as t:
            try:
                member = t.extractfile(wanted)
            except KeyError:
                member = None
            if member is None:
                raise DataError(f"{tgz}: no {wanted} in the package")
            out[font.name] = member.read()
    return out


# --- the sheet: one master glyph per font and digit --------------------------------------------------------

def _render(face: ImageFont.FreeTypeFont, ch: str) -> np.ndarray:
    """*ch* in *face*, white on black, cropped to its ink (empty array when it draws nothing)."""
    im = Image.new("L", (400, 400), 0)
    ImageDraw.Draw(im).text((200, 200), ch, font=face, fill=255, anchor="mm")
    a = np.asarray(im)
    rows, cols = np.flatnonzero(a.max(1) > 64), np.flatnonzero(a.max(0) > 64)
    if len(rows) == 0:
        return np.zeros((0, 0), np.uint8)
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _fit(crop: np.ndarray) -> np.ndarray:
    """A cropped glyph scaled (aspect kept) into the GLYPH box, centred."""
    h, w = crop.shape
    s = (GLYPH - 4) / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS))
    box = np.zeros((GLYPH, GLYPH), np.uint8)
    y, x = (GLYPH - size[1]) // 2, (GLYPH - size[0]) // 2
    box[y : y + size[1], x : x + size[0]] = small
    return box


def hollow_share(glyph: np.ndarray) -> float:
    """Background enclosed by ink, as a share of the ink: ~0 for a stroke drawn solid, > 1 for an outline."""
    ink = glyph > 127
    im = Image.fromarray(np.pad(np.where(ink, 255, 0).astype(np.uint8), 1)).copy()  # fromarray may share a read-only buffer
    ImageDraw.floodfill(im, (0, 0), 128)
    enclosed = np.count_nonzero(np.asarray(im) == 0)
    return enclosed / max(1, np.count_nonzero(ink))


def glyph_row(data: bytes) -> tuple[np.ndarray | None, str]:
    """(10, GLYPH, GLYPH) master glyphs of one font, or None and why it is dropped."""
    face = ImageFont.truetype(io.BytesIO(data), 160)
    missing = _render(face, "\ue000")  # a private-use code point: what the font draws for a glyph it lacks
    glyphs = []
    for d in "0123456789":
        crop = _render(face, d)
        if crop.size == 0 or (crop.shape == missing.shape and np.array_equal(crop, missing)):
            return None, f"no glyph for {d}"
        glyphs.append(_fit(crop))
    # digits without loops (1, 2, 3, 5, 7) enclose nothing when written; an outline font's do
    if sum(hollow_share(glyphs[d]) > 0.5 for d in (1, 2, 3, 5, 7)) >= 3:
        return None, "hollow or outline glyphs"
    return np.stack(glyphs), ""


def make_sheet(fonts: tuple[Font, ...] = FONTS, cache_dir: str | Path | None = None, registry: str | None = None,
               log=print) -> dict[str, np.ndarray]:
    """The sheet's arrays: glyphs (F, 10, 64, 64) uint8 white on black, and each kept font's name, version
    and licence."""
    files = fetch_fonts(fonts, cache_dir, registry)
    kept, rows = [], []
    for font in fonts:
        row, why = glyph_row(files[font.name])
        if row is None:
            log(f"{font.name}: dropped ({why})")
            continue
        kept.append(font)
        rows.append(row)
    log(f"{len(kept)} of {len(fonts)} fonts kept")
    return {"glyphs": np.stack(rows), "names": np.array([f.name for f in kept]),
            "versions": np.array([f.version for f in kept]), "licences": np.array([f.licence for f in kept])}


def write_sheet(sheet: dict[str, np.ndarray], path: Path) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **sheet)
    with atomic_write(path, "wb") as f:
        f.write(buf.getvalue())


def load_sheet(path: str | Path = SHEET) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


# --- training digits -------------------------------------------------------------------------------------

def is_validation_font(name: str) -> bool:
    """Every fifth font, by a hash of its name (stable as the list grows): held out, never trained on."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 5 == 0


def _vary(glyph: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One master glyph as one hand might write it: pen width, aspect, shear, rotation, size; then the
    runtime's normal form (28x28 float32)."""
    im = Image.fromarray(np.pad(glyph, GLYPH // 2))
    pen = rng.random()
    if pen < 0.25:
        im = im.filter(ImageFilter.MaxFilter(3 if pen < 0.17 else 5))  # a thicker pen
    elif pen < 0.4:
        im = im.filter(ImageFilter.MinFilter(3))  # a thinner one
    angle = np.radians(rng.uniform(-10, 10))
    shear = rng.uniform(-0.3, 0.3)
    sx = rng.uniform(0.7, 1.3)  # aspect: narrow to wide
    c, s = np.cos(angle), np.sin(angle)
    # output -> input (PIL's affine takes the inverse map): rotate, shear, stretch x, about the centre
    m = np.array([[c / sx, (-s + shear * c) / sx], [s, c]])
    centre = np.array(im.size, float) / 2
    offset = centre - m @ centre
    im = im.transform(im.size, Image.Transform.AFFINE, (m[0, 0], m[0, 1], offset[0], m[1, 0], m[1, 1], offset[1]),
                      Image.Resampling.BICUBIC)
    a = np.asarray(im)
    rows, cols = np.flatnonzero(a.max(1) > 64), np.flatnonzero(a.max(0) > 64)
    if len(rows) == 0:
        return np.zeros((28, 28), np.float32)
    crop = Image.fromarray(a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    height = int(rng.integers(18, 64))  # written small or large: small ones come out softer
    crop = crop.resize((max(1, round(crop.width * height / crop.height)), height), Image.Resampling.BOX)
    return to_mnist(np.pad(np.asarray(crop), 2), invert="never")


def font_digits(count: int, seed: int, validation: bool = False,
                sheet: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """About *count* (at least one per glyph) (N, 28, 28) uint8 white-on-black digits and their labels: varied
    renderings of each digit of each training font (or, with *validation*, of each held-out font)."""
    sheet = sheet if sheet is not None else load_sheet()
    rng = np.random.default_rng(seed)
    rows = [row for name, row in zip(sheet["names"], sheet["glyphs"]) if is_validation_font(str(name)) == validation]
    per_glyph = max(1, round(count / max(1, 10 * len(rows))))
    xs, ys = [], []
    for row in rows:
        for digit in range(10):
            for _ in range(per_glyph):
                xs.append(np.round(_vary(row[digit], rng) * 255).astype(np.uint8))
                ys.append(digit)
    if not xs:
        return np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8)
    return np.stack(xs), np.array(ys, np.uint8)


def notice(sheet: dict[str, np.ndarray]) -> str:
    lines = ["# Fonts in export/font_digits.npz", "",
             "Digits 0-9 of these fonts, rendered once (64x64, white on black) by `python -m mnist_onnx_export.fonts`",
             "from the @fontsource npm packages named (fonts by their authors, packaged by Fontsource). Each font",
             "keeps its own licence; the package's LICENSE file has the full text and the copyright holders.", "",
             "| font | package | licence | used for |", "| --- | --- | --- | --- |"]
    for n, v, lic in zip(sheet["names"], sheet["versions"], sheet["licences"]):
        use = "validation (never trained on)" if is_validation_font(str(n)) else "training"
        lines.append(f"| {n} | @fontsource/{n}@{v} | {lic} | {use} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Fetch the pinned handwriting fonts and write the digit sheet.")
    ap.add_argument("--cache", default=None, help="download cache (default: the user cache's fonts/)")
    ap.add_argument("--registry", default=None, help=f"npm registry (default: {REGISTRY} or ${REGISTRY_ENV})")
    ap.add_argument("-o", "--out", type=Path, default=SHEET)
    args = ap.parse_args(argv)
    from mnist_onnx.errors import MnistOnnxError, missing_package, needs_extra

    missing = missing_package(("pooch", "requests"))  # the download's packages (Pillow renders the glyphs)
    try:
        if missing:
            raise MnistOnnxError(needs_extra("`python -m mnist_onnx_export.fonts`", "export", missing))
        sheet = make_sheet(cache_dir=args.cache, registry=args.registry)
    except MnistOnnxError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    write_sheet(sheet, args.out)
    with atomic_write(args.out.with_name("NOTICE-fonts.md")) as f:
        f.write(notice(sheet))
    print(json.dumps({"sheet": str(args.out), "fonts": int(len(sheet["names"])),
                      "bytes": args.out.stat().st_size}))


if __name__ == "__main__":
    main()
