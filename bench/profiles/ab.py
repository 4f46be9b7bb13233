"""A/B measurements of the worker: the floor, and pgflow's DAG / wide map scenarios, each run in its own
process so that ``PYTHONPATH`` picks the pgflow package measured (another checkout's ``python_client``).

    .venv/bin/python bench/profiles/ab.py --pairs 3 --runs 400 --elements 4000 --base /path/to/python_client

Prints, per pair, the floor's tasks/s and each side's, and the medians of side/floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ONE = """
import json, sys
sys.path.insert(0, {root!r})
from bench import common, scenarios
kind, size, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with common.database.server() as admin:
    if kind == "floor":
        r = scenarios.floor(admin, size, workers)
    elif kind == "dag":
        r = scenarios.dag_throughput(admin, size, workers)
    else:
        r = scenarios.wide_map(admin, size, workers)
print(json.dumps({{"tasks_per_s": r["tasks_per_s"], "seconds": r["seconds"], "pkg": common.pgflow.__file__}}))
"""


def one(kind: str, size: int, workers: int, pythonpath: str | None) -> dict:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run(
        [sys.executable, "-c", ONE.format(root=str(ROOT)), kind, str(size), str(workers)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--runs", type=int, default=400)
    p.add_argument("--elements", type=int, default=4000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--base", default=None, help="python_client directory of the baseline (A)")
    p.add_argument("--only", default="dag,wide")
    a = p.parse_args()
    kinds = a.only.split(",")
    ratios: dict[str, list[float]] = {f"{k}_{s}": [] for k in kinds for s in ("A", "B")}
    for i in range(a.pairs):
        for kind in kinds:
            size = a.runs if kind == "dag" else a.elements
            floor = one("floor", size * 5 if kind == "dag" else size + 1, a.workers, None)["tasks_per_s"]
            sides = {}
            for side, path in (("A", a.base), ("B", str(ROOT / "python_client"))):
                if side == "A" and not a.base:
                    continue
                r = one(kind, size, a.workers, path)
                sides[side] = r["tasks_per_s"]
                ratios[f"{kind}_{side}"].append(r["tasks_per_s"] / floor)
            print(
                f"pair {i + 1} {kind}: floor {floor:,.0f}/s "
                + " ".join(f"{s} {v:,.0f}/s ({v / floor:.0%})" for s, v in sides.items()),
                flush=True,
            )
    for key, values in ratios.items():
        if values:
            print(
                f"{key}: median {statistics.median(values):.1%} of the floor ({', '.join(f'{v:.1%}' for v in values)})"
            )


if __name__ == "__main__":
    main()
