"""Step time of GRPO-GR (all seven rewards) vs TRL's GRPOTrainer with one constant reward.

Both sides are built by ``build_trainer``; without LoRA grit's trainer is TRL's own (it only changes how a LoRA
policy samples).

Same tiny model, data, seed and settings, one process, runs interleaved (A B A B ...) so machine load
affects both alike. The ratio is the cost of grit's rewards and dataset columns on top of plain TRL.

    python -m benchmarks.bench_grpo_overhead [--steps 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from benchmarks._common import StepTimer


def constant_reward(completions, **kwargs):
    return [1.0 for _ in completions]


def run(model_dir: Path, train: Path, out: Path, steps: int, grit_rewards: bool) -> StepTimer:
    from grit.train.config import load_config
    from grit.train.trainer import build_trainer

    cfg = load_config(
        None,
        [
            f"model={model_dir}",
            f"train_data={train}",
            f"output_dir={out}",
            "threads=2",
            f"grpo.max_steps={steps}",
            "grpo.num_generations=8",
            "grpo.per_device_train_batch_size=16",
            "grpo.max_completion_length=64",
            "grpo.temperature=1.0",
            "grpo.learning_rate=1e-5",
            "grpo.seed=0",
            "grpo.save_strategy=no",
            "grpo.gradient_checkpointing=false",
            "grpo.logging_steps=1000",
            *([] if grit_rewards else ["rewards=answer_format"]),  # one weight for the one constant reward
        ],
    )
    timer = StepTimer()
    trainer = build_trainer(
        cfg, extra_callbacks=[timer], reward_funcs=None if grit_rewards else [constant_reward]
    )
    trainer.train()
    del timer.times[:2], timer.cpu_times[:2]  # warm-up steps
    return timer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from grit.data.shapes import balanced_train_set
    from grit.models.tiny import build_tiny

    tmp = Path(tempfile.mkdtemp())
    build_tiny("qwen2_5_vl", tmp / "model")
    train = balanced_train_set(tmp / "data", n=20, seed=0)
    times: dict[str, list[float]] = {"grit": [], "constant": []}
    cpu: dict[str, list[float]] = {"grit": [], "constant": []}
    for r in range(a.repeats):
        for kind in ("grit", "constant"):
            timer = run(tmp / "model", train, tmp / f"out-{kind}-{r}", a.steps, kind == "grit")
            times[kind] += timer.times
            cpu[kind] += timer.cpu_times
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {
        "grpo_gr_s_per_step": round(med["grit"], 4),
        "constant_reward_s_per_step": round(med["constant"], 4),
        "ratio": round(med["grit"] / med["constant"], 3),
        "grpo_gr_cpu_s_per_step": round(med_cpu["grit"], 4),
        "constant_reward_cpu_s_per_step": round(med_cpu["constant"], 4),
        "cpu_ratio": round(med_cpu["grit"] / med_cpu["constant"], 3),
        "steps_measured": {k: len(v) for k, v in times.items()},
    }
    print(
        f"GRPO-GR {med['grit']:.3f} s/step vs constant reward {med['constant']:.3f} s/step: ratio {result['ratio']}"
        f" (CPU time: {result['cpu_ratio']})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
