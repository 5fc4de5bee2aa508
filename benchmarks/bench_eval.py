"""Evaluation throughput: batched generation vs one sample at a time, through ``grit.eval.run.evaluate``.

Builds a tiny random model of a real family (offline) and a deterministic shapes test set, warms the model up
once, then runs the full evaluation path (prompting, generation, chain parsing, scoring, incremental
predictions.jsonl) twice with the same greedy settings: ``--batch`` samples per generate call, then one.
A random tiny model rarely emits its end token, so every sample generates ``--max-new-tokens`` tokens in both
runs and the comparison is like for like. Prints one line, then JSON.

    python benchmarks/bench_eval.py [--n 64] [--batch 16] [--max-new-tokens 32] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from grit.data.shapes import generate_split
from grit.eval.predictions import read_predictions
from grit.eval.run import evaluate
from grit.models.generate import Generator
from grit.models.loading import load_model
from grit.models.tiny import build_tiny


def timed_eval(model, data: list[str], out: Path, batch: int, max_new_tokens: int) -> dict:
    t0 = time.perf_counter()
    metrics = evaluate(model, data, out, batch_size=batch, max_new_tokens=max_new_tokens, progress=False)
    seconds = time.perf_counter() - t0
    rows = read_predictions(out / "predictions.jsonl")
    n = metrics["n"]
    return {
        "batch_size": batch,
        "samples": n,
        "seconds": round(seconds, 3),
        "samples_per_s": round(n / seconds, 3),
        "new_tokens_per_s": round(sum(r["n_new_tokens"] for r in rows) / seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--n", type=int, default=64, help="samples (split evenly over the count and relation styles)"
    )
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--family", default="qwen2_5_vl")
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_tiny(args.family, root / "model", size=args.size)
        paths = generate_split(root / "data", n_per_style=args.n // 2, seed=0, styles=["count", "relation"])
        data = [str(p) for p in paths.values()]
        model, processor, family = load_model(root / "model", device=args.device)
        loaded = (model, processor, family)
        # Warm-up (first-call allocations, kernel selection) so neither timed run pays for it.
        first = json.loads(paths["count"].read_text().splitlines()[0])
        Generator(model, processor, family).generate(
            [{"image": str(root / "data" / first["image"]), "question": first["question"]}],
            batch_size=1,
            max_new_tokens=args.max_new_tokens,
        )
        batched = timed_eval(loaded, data, root / "batched", args.batch, args.max_new_tokens)
        single = timed_eval(loaded, data, root / "single", 1, args.max_new_tokens)

    result = {
        "benchmark": "eval_throughput",
        "family": args.family,
        "size": args.size,
        "params": sum(p.numel() for p in model.parameters()),
        "device": str(next(model.parameters()).device),
        "threads": args.threads,
        "max_new_tokens": args.max_new_tokens,
        "batched": batched,
        "one_at_a_time": single,
        "speedup": round(batched["samples_per_s"] / single["samples_per_s"], 2),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    print(
        f"eval throughput ({result['device']}): batch {args.batch} {batched['samples_per_s']} samples/s vs "
        f"batch 1 {single['samples_per_s']} samples/s -> {result['speedup']}x"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
