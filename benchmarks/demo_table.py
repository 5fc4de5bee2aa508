"""Print the before/after tables of a ``grit demo`` run (as in BENCHMARKS.md) from its metrics files.

    python benchmarks/demo_table.py runs/demo
    python benchmarks/demo_table.py runs/demo runs/demo-ablate-format runs/demo-ablate-counting   # + ablations
    python benchmarks/demo_table.py --seeds runs/demo runs/demo-seed1 runs/demo-seed2   # one row per run

Reads ``RUN/eval_base_direct``, ``eval_base``, ``eval_after`` (greedy, held-out) and ``eval_base_t1`` /
``eval_after_t1`` (sampled), and ``summary.json`` for the wall time. The "all" row is the evaluation's own: accuracy and
format over every question, chain GIoU over the questions that have ground-truth boxes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grit.demo import ablation_table, demo_table, seeds_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="demo output folders (grit demo --out)")
    ap.add_argument("--seeds", action="store_true", help="only the one-row-per-run table")
    args = ap.parse_args()
    if args.seeds:
        print(seeds_table(args.runs))
        return
    print(demo_table(args.runs[0]))
    if len(args.runs) > 1:
        print()
        print(ablation_table(args.runs))


if __name__ == "__main__":
    main()
