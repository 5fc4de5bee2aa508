"""Decoding speed of the shipped shapes base: one CPU thread (grit's ``decode_threads``) vs all of them.

Two workloads, both through ``grit.models.generate.Generator`` (Hugging Face ``generate``, as TRL samples):
the demo's GRPO sampling (2 training prompts x 8 generations in one batch of 16, T = 1, 200 new tokens) and
``grit eval``'s greedy batches (16 held-out questions, 200 new tokens). Runs interleaved (A B A B ...) in one
process so machine load affects both alike. Besides seconds and tokens/s, each side's arithmetic rate (GFLOP/s
of the decode steps) is given against a 512 x 512 fp32 matmul's rate measured in the same rounds, and its CPU
seconds (all threads): on a busy machine the wall time of a 2-thread side is mostly waiting.

With ``--grpo-steps N`` it times the demo's GRPO steps instead (configs/demo.yaml, its 20 triplets, seed 0),
interleaved, three ways: 2 threads throughout (grit before), 2 threads with one-thread decoding, 1 thread.

With ``--lean`` both comparisons are instead Hugging Face ``generate`` against grit's lean decode loop
(``grit.models.decode``), both on one thread; the two sides' tokens (and GRPO logs) are compared too.

    python -m benchmarks.bench_decode [--repeats 3] [--threads 2]
    python -m benchmarks.bench_decode --grpo-steps 4 --repeats 1
    python -m benchmarks.bench_decode --lean [--repeats 3]
    python -m benchmarks.bench_decode --lean --grpo-steps 6 --repeats 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "checkpoints/shapes-base-4e/model"  # grit.demo.DEFAULT_BASE


def flops_per_token(cfg, context: float) -> float:
    """Multiply-adds x 2 of one decode step per sequence: every linear layer of the language model, the LM
    head, and attention over ``context`` cached positions (scores and values)."""
    h, i, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    head = h // cfg.num_attention_heads
    kv = cfg.num_key_value_heads * head
    per_layer = h * h * 2 + h * kv * 2 + 3 * h * i + 2 * cfg.num_attention_heads * head * context
    return 2.0 * (layers * per_layer + h * cfg.vocab_size)


def matmul_gflops(n: int = 512, reps: int = 20) -> float:
    import torch

    a = torch.randn(n, n)
    a @ a
    t = time.perf_counter()
    for _ in range(reps):
        a @ a
    return reps * 2 * n**3 / (time.perf_counter() - t) / 1e9


def grpo_steps(
    train: Path, out: Path, steps: int, threads: int, one_thread_decoding: bool, lean: bool = True
) -> dict:
    """Median wall and CPU seconds per GRPO step (the first step, warm-up, dropped) and per sampling call;
    ``lean=False`` samples through TRL's ``generate`` instead of grit's lean decode loop."""
    import grit.train.trainer as tr
    from benchmarks._common import StepTimer
    from grit.train.config import load_config

    cfg = load_config(
        ROOT / "configs/demo.yaml",
        [f"train_data={train}", f"output_dir={out}", f"grpo.max_steps={steps}", "grpo.save_strategy=no"],
    )
    cfg.model, cfg.threads = str(ROOT / cfg.model), threads
    timer = StepTimer()
    trainer = tr.build_trainer(cfg, extra_callbacks=[timer])
    sampling: list[float] = []
    real_sample, real_threads, real_lean = (
        tr.GritGRPOTrainer._generate_single_turn,
        tr.decode_threads,
        tr.lean_generate,
    )

    def timed(self, *args, **kw):
        t = time.perf_counter()
        try:
            return real_sample(self, *args, **kw)
        finally:
            sampling.append(time.perf_counter() - t)

    tr.GritGRPOTrainer._generate_single_turn = timed
    if not one_thread_decoding:
        tr.decode_threads = lambda model: contextlib.nullcontext()
    if not lean:
        tr.lean_generate = lambda model: contextlib.nullcontext()
    cpu = time.process_time()
    try:
        trainer.train()
    finally:
        tr.GritGRPOTrainer._generate_single_turn, tr.decode_threads = real_sample, real_threads
        tr.lean_generate = real_lean
    keys = ("loss", "reward", "kl", "completions/mean_length")
    return {
        "s_per_step": round(statistics.median(timer.times[1:]), 2),
        "sampling_s_per_step": round(statistics.median(sampling[1:]), 2),
        "cpu_s_per_step": round((time.process_time() - cpu) / steps, 2),
        "logs": [{k: h[k] for k in keys if k in h} for h in trainer.state.log_history],
    }


def main_grpo(steps: int, repeats: int, lean: bool) -> None:
    from grit.data.shapes import balanced_train_set

    tmp = Path(tempfile.mkdtemp())
    train = balanced_train_set(tmp / "data", n=20, seed=0)
    if lean:
        sides = {"1 thread, generate": (1, True, False), "1 thread, lean loop": (1, True, True)}
    else:
        sides = {
            "2 threads": (2, False, False),
            "2 threads, decoding on 1": (2, True, False),
            "1 thread": (1, True, False),
        }
    runs: dict[str, list[dict]] = {k: [] for k in sides}
    for r in range(repeats):
        for i, (name, side) in enumerate(sides.items()):
            runs[name].append(grpo_steps(train, tmp / f"out-{r}-{i}", steps, *side))
    logs = [x.pop("logs") for rs in runs.values() for x in rs]
    result = {name: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for name, rs in runs.items()}
    result["same logs on every side"] = all(log == logs[0] for log in logs)
    if lean:
        hf, fast = result["1 thread, generate"], result["1 thread, lean loop"]
        result["speedup"] = {
            "step": round(hf["s_per_step"] / fast["s_per_step"], 2),
            "sampling": round(hf["sampling_s_per_step"] / fast["sampling_s_per_step"], 2),
        }
    for k, v in result.items():
        print(f"{k}: {v}")
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="the process's threads (the demo's config: 2)")
    ap.add_argument("--max-new-tokens", type=int, default=200)
    ap.add_argument("--grpo-steps", type=int, default=0)
    ap.add_argument(
        "--lean", action="store_true", help="generate vs grit's lean decode loop, both on 1 thread"
    )
    a = ap.parse_args()
    if a.grpo_steps:
        return main_grpo(a.grpo_steps, a.repeats, a.lean)
    import torch

    import grit.models.generate as gen
    from grit.data.shapes import balanced_train_set, generate_split
    from grit.eval.samples import load_samples
    from grit.models.loading import load_model

    torch.set_num_threads(a.threads)
    model, processor, family = load_model(str(BASE), None)
    model.eval()
    tmp = Path(tempfile.mkdtemp())

    def items(samples):
        return [{"image": str(s.image_path), "question": s.record["question"]} for s in samples]

    train = items(load_samples([str(balanced_train_set(tmp / "train", n=20, seed=0))]))
    held_out = items(load_samples([str(p) for p in generate_split(tmp / "eval", 8, seed=1000).values()]))
    workloads = {
        "sampling": ([train[0]] * 8 + [train[1]] * 8, dict(temperature=1.0, seed=0)),
        "greedy": (held_out[:16], dict(temperature=0.0)),
    }
    g = gen.Generator(model, processor, family)
    real, real_plan = gen.decode_threads, gen.decode.plan
    sides = ("lean loop", "generate") if a.lean else ("one thread", f"{a.threads} threads")
    texts: dict[tuple[str, str], list[str]] = {}
    rows: dict[tuple[str, str], list[tuple[float, int, float, float]]] = {}
    peak: dict[int, list[float]] = {1: [], a.threads: []}
    for _ in range(a.repeats):
        for n in peak:
            torch.set_num_threads(n)
            peak[n].append(matmul_gflops())
        torch.set_num_threads(a.threads)
        for work, (items, kw) in workloads.items():
            for side in sides:
                gen.decode_threads = (
                    real if side != f"{a.threads} threads" else lambda m: contextlib.nullcontext()
                )
                gen.decode.plan = real_plan if side != "generate" else lambda *args, **kw: None
                t, cpu = time.perf_counter(), time.process_time()
                res = g.generate(items, batch_size=16, max_new_tokens=a.max_new_tokens, **kw)
                dt, cpu = time.perf_counter() - t, time.process_time() - cpu
                texts.setdefault((work, side), [r.text for r in res])
                assert texts[(work, side)] == [r.text for r in res], "seeded runs must repeat"
                new = sum(r.n_new_tokens for r in res)
                steps = max(r.n_new_tokens for r in res)
                ctx = statistics.mean(r.n_prompt_tokens for r in res) + steps / 2
                flops = flops_per_token(model.config.get_text_config(), ctx) * len(res) * steps
                rows.setdefault((work, side), []).append((dt, new, flops / dt / 1e9, cpu))
    gen.decode_threads, gen.decode.plan = real, real_plan
    result = {"peak_matmul_gflops": {n: round(statistics.median(v), 1) for n, v in peak.items()}}
    best_peak = max(result["peak_matmul_gflops"].values())
    for (work, side), r in rows.items():
        dt = statistics.median(x[0] for x in r)
        gflops = statistics.median(x[2] for x in r)
        result[f"{work} / {side}"] = {
            "s": round(dt, 2),
            "cpu_s": round(statistics.median(x[3] for x in r), 2),
            "new_tokens_per_s": round(statistics.median(x[1] / x[0] for x in r), 1),
            "gflops": round(gflops, 2),
            "share_of_matmul_peak": round(gflops / best_peak, 3),
        }
    for work in workloads:
        fast, slow = result[f"{work} / {sides[0]}"]["s"], result[f"{work} / {sides[1]}"]["s"]
        result[f"{work} speedup"] = round(slow / fast, 2)
        result[f"{work}: same tokens on both sides"] = texts[(work, sides[0])] == texts[(work, sides[1])]
    for k, v in result.items():
        print(f"{k}: {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
