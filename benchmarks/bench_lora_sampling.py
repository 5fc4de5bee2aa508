"""GRPO-GR step time with LoRA: sampling from the merged adapters (grit) vs from the PEFT model as is (TRL).

The demo's setting: configs/demo.yaml (shipped shapes base, LoRA rank 32 on attention and MLP, 8 generations ×
2 prompts, 200-token completions), its 20 balanced triplets (seed 0). Runs interleaved (A B A B ...) in one
process so machine load affects both alike. The two policies sample different completions, so the table also
gives the mean completion length and the time per generated token.

    python -m benchmarks.bench_lora_sampling [--steps 12] [--repeats 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
from pathlib import Path

from benchmarks._common import StepTimer

ROOT = Path(__file__).resolve().parents[1]


def run(train: Path, out: Path, steps: int, merged: bool) -> tuple[list[float], list[float]]:
    import grit.train.trainer as tr
    from grit.train.config import load_config

    cfg = load_config(
        ROOT / "configs/demo.yaml",
        [f"train_data={train}", f"output_dir={out}", f"grpo.max_steps={steps}", "grpo.save_strategy=no"],
    )
    cfg.model = str(ROOT / cfg.model)
    timer = StepTimer()
    trainer = tr.build_trainer(cfg, extra_callbacks=[timer])
    real = tr.merged_lora
    if not merged:  # TRL's own sampling: the adapters stay separate layers
        tr.merged_lora = lambda trainer: contextlib.nullcontext()
    try:
        trainer.train()
    finally:
        tr.merged_lora = real
    lengths = [
        h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h
    ]
    return timer.times[2:], lengths[2:]  # drop warm-up steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    from grit.data.shapes import balanced_train_set

    tmp = Path(tempfile.mkdtemp())
    train = balanced_train_set(tmp / "data", n=20, seed=0)
    times: dict[str, list[float]] = {"merged": [], "peft": []}
    lengths: dict[str, list[float]] = {"merged": [], "peft": []}
    for r in range(a.repeats):
        for kind in ("merged", "peft"):
            t, n = run(train, tmp / f"out-{kind}-{r}", a.steps, kind == "merged")
            times[kind] += t
            lengths[kind] += n
    result = {}
    for kind in times:
        s, n = statistics.median(times[kind]), statistics.mean(lengths[kind])
        result[kind] = {
            "s_per_step": round(s, 3),
            "mean_completion_tokens": round(n, 1),
            "ms_per_token_of_the_batch": round(1000 * s / (16 * n), 2),
        }
    result["speedup_per_step"] = round(result["peft"]["s_per_step"] / result["merged"]["s_per_step"], 2)
    for kind in ("merged", "peft"):
        print(f"{kind}: {result[kind]}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
