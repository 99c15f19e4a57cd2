"""Put a benchmark's printed tables into a docs page, between its markers, so the figures there are the
script's own output and never copied by hand:

    python benchmarks/read_numbers.py | python benchmarks/docs_block.py read_numbers.py docs/benchmarks.md

replaces what stands between `<!-- benchmarks/read_numbers.py: begin -->` and `<!-- ...: end -->`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def write_block(page: Path, script: str, text: str) -> None:
    begin, end = f"<!-- benchmarks/{script}: begin -->", f"<!-- benchmarks/{script}: end -->"
    doc = page.read_text()
    if begin not in doc or end not in doc:
        raise SystemExit(f"{page}: no {begin} ... {end} block")
    block = f"{begin}\n{text.strip()}\n{end}"
    page.write_text(re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S))


if __name__ == "__main__":
    write_block(Path(sys.argv[2]), sys.argv[1], sys.stdin.read())
    print(f"wrote {sys.argv[2]}", file=sys.stderr)
