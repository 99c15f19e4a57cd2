"""The fourth hostile round's targets (#29), measured side by side in one run:

* `read` of a 1024x1024 PNG of 65,536 one-pixel marks, and of a dithered scan of a blank grey page: time
  and peak memory (target: <= 10 s and <= 400 MB each), beside `classify` of the same file;
* `serve` with three such images in one `/v1/read` request: the server's peak memory (target <= 1 GB), and
  a one-digit `/v1/classify` answered while two such reads run (target <= 2 s);
* two `read --resume` runs started together on one output (2,000 files): every file exactly once.

    python benchmarks/hostile.py [--write-docs]     # --write-docs: the table into docs/reliability.md
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import ROOT, cli, make_png_folder, peak_rss_mib, run_timed  # noqa: E402
from benchmarks.docs_block import write_block  # noqa: E402
from benchmarks.serve import start  # noqa: E402

def many_marks(path: Path) -> Path:
    a = np.full((1024, 1024), 255, np.uint8)
    a[::4, ::4] = 0
    Image.fromarray(a).save(path)
    return path


def dithered_page(path: Path) -> Path:
    rng = np.random.default_rng(0)
    g = np.clip(240 + rng.normal(0, 8, (1400, 1000)), 0, 255).astype(np.uint8)
    Image.fromarray(g).convert("1").save(path)
    return path


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    import requests  # the client of the serve rows; importing this module (the tests do) needs nothing more

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hostile-"))
    images = {"65,536 one-pixel marks (1024x1024, %s)": many_marks(tmp / "marks.png"),
              "dithered blank grey page (1000x1400 bilevel, %s)": dithered_page(tmp / "page.png")}
    rows = []
    for label, path in images.items():
        label = label % f"{path.stat().st_size / 1024:.1f} KB"
        for command in ("read", "classify"):
            cmd = [cli(), command, str(path), "-f", "csv", "-q"]
            wall, _, proc = run_timed(cmd, ok=(0, 1))
            peak = peak_rss_mib(cmd, ok=(0, 1))  # from a fresh parent: this one's children share one maximum
            status = next(csv.DictReader(proc.stdout.splitlines()))["status"]
            rows.append((f"`{command}` of {label}", f"{wall:.2f} s, {peak:.0f} MiB peak ({status})"))

    proc, url = start("--max-upload-mb", "16")
    try:
        peak = rss_mib(proc.pid)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mib(proc.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        three = [*images.values(), many_marks(tmp / "marks2.png")]
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in three]
        t0 = time.perf_counter()
        r = requests.post(url + "v1/read", files=files, timeout=120)
        one_request = time.perf_counter() - t0
        statuses = [row["status"] for row in r.json()["results"]]
        rows.append(("`serve`: three such images in one `/v1/read` request",
                     f"{one_request:.2f} s, server peak {peak:.0f} MiB ({', '.join(statuses)})"))
        digit = (ROOT / "samples" / "1_paper.png").read_bytes()
        latencies = []
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            for _ in range(3):
                reads = [pool.submit(requests.post, url + "v1/read", files=files, timeout=120) for _ in range(2)]
                time.sleep(0.05)
                t0 = time.perf_counter()
                requests.post(url + "v1/classify", files=[("files", ("1.png", digit, "image/png"))], timeout=60)
                latencies.append(time.perf_counter() - t0)
                for f in reads:
                    f.result()
        stop.set()
        sampler.join()
        rows.append(("`serve`: a one-digit `/v1/classify` while two such reads run (3 tries)",
                     f"worst {max(latencies):.2f} s; server peak over the whole run {peak:.0f} MiB"))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    folder = make_png_folder(tmp / "digits", 2000)
    out = tmp / "rows.csv"
    cmd = [cli(), "read", str(folder), "-o", str(out), "--resume", "-q"]
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    second = subprocess.run(cmd, capture_output=True, text=True)
    first.wait()
    paths = [row["path"] for row in csv.DictReader(out.open())]
    rows.append(("two `read --resume` runs on one output at once (2,000 files)",
                 f"{len(paths):,} rows, {len(set(paths)):,} files, each once; exit codes {first.returncode} and "
                 f"{second.returncode} (`{second.stderr.strip().replace(str(out), 'rows.csv')[:90]}`)"))

    table = "| case | measured |\n| --- | --- |\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    print(table)
    if args.write_docs:
        write_block(ROOT / "docs" / "reliability.md", "hostile.py", table)
        print("wrote docs/reliability.md")


if __name__ == "__main__":
    main()
