"""Print the before/after tables of a ``grit demo`` run (as in BENCHMARKS.md) from its metrics files.

    python benchmarks/demo_table.py runs/demo
    python benchmarks/demo_table.py runs/demo runs/demo-ablate-format runs/demo-ablate-counting   # + ablations

Reads ``RUN/eval_base_direct``, ``eval_base``, ``eval_after`` (greedy, held-out) and ``eval_base_t1`` /
``eval_after_t1`` (sampled), and ``summary.json`` for the wall time. The "all" row pools every question: accuracy and
format over all of them, chain GIoU over the questions that have ground-truth boxes (it equals the evaluation's own
"all" row).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def load(run: Path, name: str) -> dict:
    """Per-dataset metrics, without the evaluation's own pooled "all" row (``pooled`` recomputes it)."""
    ds = json.loads((run / name / "metrics.json").read_text())["datasets"]
    return {k: v for k, v in ds.items() if k != "all"}


def pooled(ds: dict) -> dict:
    """One row over all datasets, each measure weighted by the number of questions it is averaged over."""

    def mean(key: str, weight: str = "n") -> float | None:
        pairs = [(d[key], d[weight]) for d in ds.values() if d.get(key) is not None and d.get(weight)]
        total = sum(w for _, w in pairs)
        return sum(v * w for v, w in pairs) / total if total else None

    answers: Counter = Counter()
    for d in ds.values():
        answers.update(dict(d["answers_pred"]))
    return {
        "n": sum(d["n"] for d in ds.values()),
        "acc": mean("acc"),
        "format_rate": mean("format_rate"),
        "giou": mean("giou", "n_giou"),
        "whole_image_iou": mean("whole_image_iou", "n_whole_image"),
        "on_object_rate": mean("on_object_rate", "n_chain_boxes"),
        "mean_boxes": mean("mean_boxes"),
        "counted_box_acc": mean("counted_box_acc", "n_counting"),
        "answers_pred": answers.most_common(),
    }


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def top(answers: list, k: int = 3) -> str:
    return ", ".join(f"{a} ×{n}" for a, n in answers[:k])


def demo_table(run: Path) -> str:
    direct, base, after = (load(run, n) for n in ("eval_base_direct", "eval_base", "eval_after"))
    rows = [
        "| style | base direct ACC | ACC, GRIT prompt: base → trained | strict format % | chain GIoU "
        "| whole-image IoU | boxes/chain | boxes on an object % | top answers after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = sorted(after)
    for name, d, b, a in [(n, direct[n], base[n], after[n]) for n in names] + [
        ("**all**", pooled(direct), pooled(base), pooled(after))
    ]:
        rows.append(
            f"| {name} | {pct(d['acc'])} | {pct(b['acc'])} → {pct(a['acc'])} "
            f"| {pct(b['format_rate'])} → {pct(a['format_rate'])} | {num(b['giou'])} → {num(a['giou'])} "
            f"| {num(a['whole_image_iou'])} | {a['mean_boxes']:.2f} | {pct(a.get('on_object_rate'))} "
            f"| {top(a['answers_pred'])} |"
        )
    lines = ["\n".join(rows)]
    if (run / "eval_base_t1").is_dir() and (run / "eval_after_t1").is_dir():
        b1, a1 = pooled(load(run, "eval_base_t1")), pooled(load(run, "eval_after_t1"))
        lines.append(
            f"Sampled at T = 1 ({a1['n']} questions): strict format {pct(b1['format_rate'])}% → "
            f"{pct(a1['format_rate'])}%, ACC {pct(b1['acc'])}% → {pct(a1['acc'])}%, chain GIoU "
            f"{num(b1['giou'])} → {num(a1['giou'])}."
        )
    summary = run / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        lines.append(
            f"Wall time {s['timings_s']['total']:.0f} s ({s['timings_s']}); rewards: {', '.join(s['rewards'])}."
        )
    return "\n\n".join(lines)


def ablation_table(runs: list[Path]) -> str:
    rows = [
        "| run | strict format % (greedy / T=1) | chain GIoU | boxes/chain | boxes = gt count (counting set) "
        "| ACC (counting) |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        after = load(run, "eval_after")
        a = pooled(after)
        t1 = pooled(load(run, "eval_after_t1")) if (run / "eval_after_t1").is_dir() else {"format_rate": None}
        count = after.get("shapes_count", {})
        rows.append(
            f"| {run.name} | {pct(a['format_rate'])} / {pct(t1['format_rate'])} | {num(a['giou'])} "
            f"| {a['mean_boxes']:.2f} | {pct(a['counted_box_acc'])} | {pct(a['acc'])} ({pct(count.get('acc'))}) |"
        )
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="demo output folders (grit demo --out)")
    args = ap.parse_args()
    print(demo_table(args.runs[0]))
    if len(args.runs) > 1:
        print()
        print(ablation_table(args.runs))


if __name__ == "__main__":
    main()
