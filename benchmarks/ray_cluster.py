"""`--engine ray` on a real two-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: two raylets on
127.0.0.1, equal CPUs per node), against one node: how the files spread over the nodes (#32's target: each
node 35-65 %) and the time beside one node's. The machine has 2 cores, so two nodes share them: the share is
the measure here, not the speed-up.

    python benchmarks/ray_cluster.py [--cpus 2] [--repeat 2] [--write-docs]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import ROOT, cli, make_png_folder  # noqa: E402
from benchmarks.docs_block import write_block  # noqa: E402


def run(folder: Path, nodes: int, cpus: int) -> tuple[float, str]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus)
        cluster.wait_for_nodes()
        t0 = time.perf_counter()
        p = subprocess.run([cli(), "classify", str(folder), "--engine", "ray", "--ray-address", cluster.address,
                            "--actors", str(nodes), "-p", "cpu", "-o", str(folder.parent / "rows.csv")],
                           capture_output=True, text=True, timeout=900)
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(p.stderr[-2000:])
        summary = p.stderr.strip().splitlines()[-1]
        spread = re.search(r"on (\d) nodes: ([\d% /]+)\)", summary)
        return wall, (spread.group(2) if spread else "100%")
    finally:
        cluster.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs per node")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ray-cluster-"))
    rows = []
    for n in (2000, 20000):
        folder = make_png_folder(tmp / f"d{n}" / "digits", n)
        for _ in range(args.repeat):
            one, _ = run(folder, 1, args.cpus)
            two, spread = run(folder, 2, args.cpus)
            rows.append(f"| {n:,} | {args.cpus}+{args.cpus} | {spread} | {two:.1f} s | {one:.1f} s | {one / two:.2f}x |")
    table = ("| files | CPUs per node | share per node (2 nodes, 1 actor each) | 2 nodes | 1 node (1 actor) | "
             "speed-up |\n| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows))
    print(table)
    if args.write_docs:
        write_block(ROOT / "docs" / "ray.md", "ray_cluster.py", table)


if __name__ == "__main__":
    main()
