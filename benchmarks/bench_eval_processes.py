"""Data-parallel evaluation: ``grit eval`` in one process vs two processes under ``torchrun`` (CPU).

Builds a tiny random model (offline) and a deterministic shapes test set, then runs the same greedy ``grit eval``
command once as one process and once as two shards under torchrun, every process with ``--threads`` torch
threads, and compares generation throughput (samples over the generation time; for two shards, over the slower
one) and the wall time of each command (model loading included). Also checks that both runs predict the same.
The load average before each run is recorded: on a shared machine it says how much the numbers can be trusted.

    python benchmarks/bench_eval_processes.py [--n 64] [--batch 16] [--max-new-tokens 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grit.data.shapes import generate_split
from grit.eval.predictions import read_predictions
from grit.models.tiny import build_tiny

SRC = Path(__file__).resolve().parents[1] / "src"


def run(cmd: list[str], threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    load, t0 = os.getloadavg()[0], time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return {"wall_seconds": round(time.perf_counter() - t0, 2), "load_average_before": load}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--n", type=int, default=64, help="samples (split evenly over the count and relation styles)"
    )
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of every process")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny("qwen2_5_vl", root / "model")
        paths = generate_split(root / "data", n_per_style=args.n // 2, seed=0, styles=["count", "relation"])
        common = ["-m", "grit.cli", "eval", "--model", str(root / "model"), "--data", ",".join(map(str, paths.values())),
                  "--batch-size", str(args.batch), "--max-new-tokens", str(args.max_new_tokens)]  # fmt: skip
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        wall = {
            "1 process": run([sys.executable, *common, "--out", str(root / "one")], args.threads),
            "2 processes": run([*launch, *common, "--out", str(root / "two")], args.threads),
        }
        runs = {name: json.loads((root / d / "metrics.json").read_text())["run"]
                for name, d in (("1 process", "one"), ("2 processes", "two"))}  # fmt: skip
        same = {r["key"]: r for r in read_predictions(root / "one" / "predictions.jsonl")} == {
            r["key"]: r for r in read_predictions(root / "two" / "predictions.jsonl")
        }
    result = {
        "benchmark": "eval_processes",
        "samples": args.n,
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch,
        "threads_per_process": args.threads,
        **{f"{name} samples/s": r["samples_per_s"] for name, r in runs.items()},
        "ratio": round(runs["2 processes"]["samples_per_s"] / runs["1 process"]["samples_per_s"], 2),
        "commands": wall,
        "identical_predictions": same,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(
        f"eval samples/s: 1 process {result['1 process samples/s']}, 2 processes "
        f"{result['2 processes samples/s']} -> {result['ratio']}x (identical predictions: {same})"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
