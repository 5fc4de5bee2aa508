"""Step time of GRPO-GR (all seven rewards) vs TRL's GRPOTrainer with one constant reward.

Both sides are built by ``build_trainer``; without LoRA grit's trainer is TRL's own (it only changes how a LoRA
policy samples).

Same tiny model, data, seed and settings, one process, runs interleaved (A B A B ...) so machine load
affects both alike. The ratio is the cost of grit's rewards and dataset columns on top of plain TRL.

    python -m benchmarks.bench_grpo_overhead [--steps 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._common import StepTimer


def constant_reward(completions, **kwargs):
    return [1.0 for _ in completions]


def timed(fn, spent: list[float]):
    """``fn`` adding its own seconds to ``spent[0]``: the rewards' share of a step, which other jobs on the
    shared cores disturb far less than the step-time ratio."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t

    return call


def run(model_dir: Path, train: Path, out: Path, steps: int, grit_rewards: bool) -> tuple[StepTimer, float]:
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
    from grit.rewards import REGISTRY

    timer, spent = StepTimer(), [0.0]
    funcs = [REGISTRY[name] for name in cfg.rewards] if grit_rewards else [constant_reward]
    trainer = build_trainer(cfg, extra_callbacks=[timer], reward_funcs=[timed(f, spent) for f in funcs])
    trainer.train()
    share = spent[0] / sum(timer.times)  # of all steps, warm-up included
    del timer.times[:2], timer.cpu_times[:2]  # warm-up steps
    return timer, share


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
    shares = []
    for r in range(a.repeats):
        for kind in ("grit", "constant"):
            timer, share = run(tmp / "model", train, tmp / f"out-{kind}-{r}", a.steps, kind == "grit")
            times[kind] += timer.times
            cpu[kind] += timer.cpu_times
            if kind == "grit":
                shares.append(share)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    result = {
        "grpo_gr_s_per_step": round(med["grit"], 4),
        "constant_reward_s_per_step": round(med["constant"], 4),
        "ratio": round(med["grit"] / med["constant"], 3),
        "grpo_gr_cpu_s_per_step": round(med_cpu["grit"], 4),
        "constant_reward_cpu_s_per_step": round(med_cpu["constant"], 4),
        "cpu_ratio": round(med_cpu["grit"] / med_cpu["constant"], 3),
        "grpo_gr_reward_share_of_step": round(max(shares), 5),
        "steps_measured": {k: len(v) for k, v in times.items()},
    }
    print(
        f"GRPO-GR {med['grit']:.3f} s/step vs constant reward {med['constant']:.3f} s/step: ratio {result['ratio']}"
        f" (CPU time: {result['cpu_ratio']}); the 7 rewards took {100 * max(shares):.2f}% of a GRPO-GR step"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
