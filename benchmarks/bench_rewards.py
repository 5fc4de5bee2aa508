"""Throughput of chain parsing + all GRPO-GR rewards on a realistic mix of completions.

Builds a deterministic mix of ~300-character completions — well-formed Qwen and InternVL chains, chains
without boxes, broken tags, tag spam, repetition loops, plain answers — and times every reward in
``grit.rewards.REGISTRY`` the way TRL calls them: batch by batch, one reward after another on the same batch
(so a completion is parsed once and the parse is shared through the rewards' cache), best of ``--repeats``
passes. As in GRPO, where every completion is new text, each pass gets its own freshly generated completions
(seed = pass number, every text unique), so nothing one pass computed can be reused by the next. Prints one
line, then JSON.

    python benchmarks/bench_rewards.py [--n 20000] [--batch 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time

from grit import rewards
from grit.chain import parse, render_box

OBJECTS = ["chair", "dog", "cat", "person", "cup", "table", "car", "tree", "bird", "umbrella"]
WORDS = ["the", "a", "left", "right", "of", "on", "near", "above", "below", "is", "there", "are", "I", "see"]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _box(rng: random.Random, style: str, w: int = 640, h: int = 480) -> str:
    x1, y1 = rng.randint(0, w - 50), rng.randint(0, h - 50)
    coords = [x1, y1, x1 + rng.randint(10, 200), y1 + rng.randint(10, 200)]
    return render_box(coords, rng.choice(OBJECTS), style)


def completion(rng: random.Random, i: int) -> tuple[str, dict]:
    """One completion and its dataset row; ``i`` makes every text unique (no cross-item cache hits)."""
    kind = rng.random()
    count = rng.randint(0, 4)
    row = {
        "answer": str(count) if rng.random() < 0.5 else rng.choice(["yes", "no", "dog", "on the left"]),
        "dataset": rng.choice(["tallyqa", "vsr", "gqa"]),
        "question": f"How many objects are there? ({i})",
        "width": 640,
        "height": 480,
    }
    style = "qwen" if rng.random() < 0.7 else "internvl"
    boxes = " ".join(_box(rng, style) for _ in range(count))
    think = f"{_sentence(rng, 8)} {boxes} {_sentence(rng, 6)} #{i}"
    rethink = _sentence(rng, 12)
    answer = row["answer"]
    if kind < 0.6:  # well-formed chain
        text = f"<think> {think} </think>\n<rethink> {rethink} </rethink>\n<answer> {answer} </answer>"
    elif kind < 0.7:  # no boxes
        text = f"<think> {_sentence(rng, 20)} #{i} </think><rethink> {rethink} </rethink><answer> {answer}"
    elif kind < 0.8:  # broken / missing tags
        text = f"{think} </think> {rethink} <answer> {answer} <answer> {answer}"
    elif kind < 0.85:  # tag spam
        text = f"<think> {think} </think><rethink> x </rethink>" * 3 + f"<answer> {answer}"
    elif kind < 0.9:  # repetition loop
        text = f"<think> {think} " + (_sentence(rng, 8) + " ") * 6 + "</think>"
    else:  # direct answer, bare quadruples
        text = f"The {rng.choice(OBJECTS)} at 10, 20, 30, 40 and [50, 60, 70, 80]. Answer: {answer} #{i}"
    return text, row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    def make_batches(seed: int) -> tuple[list[str], list[tuple[list[str], dict]]]:
        rng = random.Random(seed)
        items = [completion(rng, seed * args.n + i) for i in range(args.n)]
        texts = [t for t, _ in items]
        batches = []
        for s in range(0, args.n, args.batch):
            rows = [r for _, r in items[s : s + args.batch]]
            kwargs = {k: [r[k] for r in rows] for k in rows[0]}
            batches.append((texts[s : s + args.batch], kwargs))
        return texts, batches

    try:
        import grit.judge  # noqa: F401

        judge = "grit.judge.judge_answer (offline rule judge)"
    except ImportError:
        judge = None
    names = [n for n in rewards.REGISTRY if judge or n != "answer_accuracy"]
    funcs, _ = rewards.get_rewards(names)

    # Warm-up on a mix no pass uses, so imports and lazy caches are not timed.
    _, warm = make_batches(-1)
    for comps, kwargs in warm[:4]:
        for f in funcs:
            f(comps, **kwargs)

    def run_pass(batches: list[tuple[list[str], dict]]) -> tuple[float, float, dict[str, float]]:
        per_reward = dict.fromkeys(names, 0.0)
        w0, c0 = time.perf_counter(), time.process_time()
        for comps, kwargs in batches:
            for name, f in zip(names, funcs, strict=True):
                t = time.perf_counter()
                f(comps, **kwargs)
                per_reward[name] += time.perf_counter() - t
        return time.perf_counter() - w0, time.process_time() - c0, per_reward

    # Best of several passes: the machine may be shared, and the fastest pass is the least disturbed one.
    passes, parse_times = [], []
    for p in range(args.repeats):
        texts, batches = make_batches(p)  # fresh completions for every pass
        passes.append(run_pass(batches))
        t0 = time.perf_counter()
        for t in texts:  # the same texts again: parse() itself keeps no cache
            parse(t)
        parse_times.append(time.perf_counter() - t0)
    wall, cpu, per_reward = min(passes, key=lambda r: r[0])
    parse_only = min(parse_times)
    no_judge = wall - per_reward.get("answer_accuracy", 0.0)

    result = {
        "completions": args.n,
        "batch": args.batch,
        "repeats": args.repeats,
        "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
        "rewards": names,
        "judge": judge or "not available (answer_accuracy skipped)",
        "completions_per_s": round(args.n / wall),
        "completions_per_cpu_s": round(args.n / cpu),
        "completions_per_s_without_judge": round(args.n / no_judge),
        "parse_only_completions_per_s": round(args.n / parse_only),
        "us_per_completion_by_reward": {k: round(v / args.n * 1e6, 2) for k, v in per_reward.items()},
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    print(
        f"parse + {len(names)} rewards: {result['completions_per_s']:,} completions/s, "
        f"{result['completions_per_cpu_s']:,} per CPU second (the rate other jobs on shared cores disturb least; "
        f"{result['completions_per_s_without_judge']:,}/s without the judge; {result['mean_chars']} chars avg, "
        f"batch {args.batch}, judge: {result['judge']}, load {result['load_avg_1min']} on {result['cpus']} CPUs)"
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
