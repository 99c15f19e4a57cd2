"""The package's layers run one way: no module imports one that imports it back, at any level -- at the top,
inside a function, or under TYPE_CHECKING. Read from the source (nothing is imported), so the check holds
for every path through the code, not only the ones a test happens to run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "mnist_onnx"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("._"):
                targets = [f"{package}{node.value}"]  # the lazy attribute table in __init__: importlib strings
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_at_any_level():
    graph = _graph()
    assert len(graph) > 25 and "mnist_onnx._classifier" in graph["mnist_onnx"]  # the reader sees the package
    assert _cycles(graph) == []


def test_the_engine_and_the_leaves_do_not_reach_up():
    """The engine takes a config and a predict function: it never imports the Classifier, the command line,
    the server or Ray; the chunk module and the image pipeline import nothing of ours above them."""
    graph = _graph()

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for w in graph[todo.pop()]:
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    top = {"mnist_onnx._classifier", "mnist_onnx._server", "mnist_onnx.ray", "mnist_onnx.cli", "mnist_onnx"}
    for engine in ("mnist_onnx._engine", "mnist_onnx._read", "mnist_onnx._sequence", "mnist_onnx._chunk",
                   "mnist_onnx._workers", "mnist_onnx._schema", "mnist_onnx._writers", "mnist_onnx._parquet",
                   "mnist_onnx._model", "mnist_onnx._evaluate"):
        assert not reach(engine) & top, engine
    image = {"mnist_onnx.image", "mnist_onnx.image.normal", "mnist_onnx.image.decode", "mnist_onnx.image.levels",
             "mnist_onnx.image.clutter", "mnist_onnx.image.morphology", "mnist_onnx.image.png"}
    assert reach("mnist_onnx._chunk") <= image | {"mnist_onnx._formats", "mnist_onnx._schema", "mnist_onnx.errors"}
    for module in image - {"mnist_onnx.image"}:  # the image maths imports nothing of ours but itself and plain values
        assert reach(module) <= image | {"mnist_onnx._formats", "mnist_onnx._contract", "mnist_onnx.errors"}, module
    assert reach("mnist_onnx._files") <= {"mnist_onnx._formats"}  # listing files loads no image code


def test_the_command_line_loads_no_heavy_package_until_a_command_runs():
    """`mnist-onnx --help` and usage errors stay instant: building the commands imports neither numpy,
    Pillow, ONNX Runtime, rich nor TensorFlow (each command imports what it uses when it runs)."""
    import subprocess
    import sys

    code = ("import sys, mnist_onnx.cli; "
            "print(sorted(m for m in ('numpy', 'PIL', 'onnxruntime', 'rich', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.slow
def test_a_one_file_classify_builds_one_command_and_loads_no_segmentation():
    """Start-up (#19): a `classify` run builds only its own command's parameters, and loads neither the
    number segmentation nor the evaluation; `--help` still lists every command."""
    import subprocess
    import sys

    code = ("import sys\n"
            f"sys.argv = ['mnist-onnx', 'classify', {str(ROOT / 'samples' / '0_mnist.png')!r}, '-p', 'cpu']\n"
            "from mnist_onnx.cli import app, _only_the_command_run\n"
            "_only_the_command_run(sys.argv)\n"
            "try:\n    app()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(len(app.registered_commands), sorted(m for m in ('mnist_onnx.image.segment', 'mnist_onnx._evaluate',"
            " 'mnist_onnx._read', 'mnist_onnx._idx') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1 []", out.stdout
    helped = subprocess.run([sys.executable, "-m", "mnist_onnx", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert all(c in helped.stdout for c in ("export", "classify", "read", "evaluate", "show", "info", "serve"))


def test_the_architecture_page_names_every_module():
    """docs/architecture.md stays true to the code: every runtime and export module is named in it."""
    root = Path(__file__).resolve().parent.parent
    page = (root / "docs" / "architecture.md").read_text()
    modules = [*sorted((root / "mnist_onnx").rglob("*.py")), *sorted((root / "export").glob("*.py"))]
    def named(m: Path) -> bool:  # as `name.py`, or by its place in its package (`image/levels.py`)
        inner = m.relative_to(root).as_posix().split("/", 1)[1]
        return f"`{m.name}`" in page or f"`{inner}`" in page

    missing = [str(m.relative_to(root)) for m in modules if not named(m)]
    assert not missing, missing


def test_export_builds_on_the_documented_surface_only():
    """The export side imports the runtime through `mnist_onnx.parts` (and `errors`, the public package):
    never a private module, so what export relies on is one page (#30)."""
    import ast

    root = Path(__file__).resolve().parent.parent
    private = []
    for path in sorted((root / "export").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            private += [f"{path.name}: {n}" for n in names if n.startswith("mnist_onnx._")]
    assert not private, private
    import mnist_onnx.parts as parts

    assert all(hasattr(parts, name) for name in parts.__all__)


def test_every_measured_block_in_the_docs_has_its_benchmark():
    """Each `<!-- benchmarks/NAME: begin -->` block in the docs is written by benchmarks/docs.py (#30): its
    figures come from a script, and the runner knows which page holds it."""
    import re

    from benchmarks.docs import BLOCKS

    root = Path(__file__).resolve().parent.parent
    found = {}
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for name in re.findall(r"<!-- benchmarks/(.+?): begin -->", page.read_text()):
            found[name] = str(page.relative_to(root))
    assert found == {name: page for name, (page, _, _) in BLOCKS.items()}
    for _, command, _ in BLOCKS.values():
        script = command[1] if command[0] == "{installed}" else command[0]
        assert (root / script).is_file(), script


def test_library_errors_name_parameters_and_only_the_command_line_names_flags():
    """#30: an error about an argument names it as Python does and says which (`errors.about`); the command
    line alone spells it as its flag, even where the two differ (`concurrency` is `--actors`)."""
    import re

    from mnist_onnx.cli._app import flagged
    from mnist_onnx.errors import OutputError, UsageError, about

    root = Path(__file__).resolve().parent.parent
    for path in [*sorted((root / "mnist_onnx").rglob("*.py")), *sorted((root / "export").glob("*.py"))]:
        if "cli" in path.parts:
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"(Error|bad)\(f?\"--[a-z]", line):
                raise AssertionError(f"{path.relative_to(root)}:{n} names a flag: {line.strip()}")
    assert flagged(about(UsageError("batch_size 0: must be"), "batch_size")) == "--batch-size 0: must be"
    assert flagged(about(UsageError("concurrency 9: too many"), "concurrency")) == "--actors 9: too many"
    assert flagged(about(UsageError("learning_rate -1: must be"), "learning_rate")) == "--lr -1: must be"
    odd = "/data/resume (resume)/rows.csv: another run is writing it (resume); wait"  # a path may say anything
    assert flagged(about(OutputError(odd), "resume")) == odd[: odd.rindex("(resume)")] + "(--resume); wait"
    assert flagged(UsageError("batch_size 0: no parameter marked")) == "batch_size 0: no parameter marked"
