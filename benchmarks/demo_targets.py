"""Issue 18's targets, measured on finished `grit demo` runs (one per seed).

    python benchmarks/demo_targets.py runs/demo runs/demo-seed1 runs/demo-seed2 runs/demo-seed3 runs/demo-seed4

One row per run, then the mean, greedy held-out numbers: strict format, chain GIoU (all; lowest style with
targets), ACC under the GRIT prompt against the base prompted the same way and against the base's direct answers,
counting ACC, how often a counting answer repeats its chain's own count (`chain_counts.py`), the largest share of
one answer on a yes/no style (answer collapse), boxes whose label names the object they sit on, and wall time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from chain_counts import chain_counts

YES_NO = ("shapes_relation", "shapes_exist", "shapes_position")


def targets(run: Path) -> dict:
    from grit.demo import load_metrics

    after, base, direct = (load_metrics(run, n) for n in ("eval_after", "eval_base", "eval_base_direct"))
    styles = {name: m for name, m in after.items() if name != "all"}
    collapse = max(max(n for _, n in styles[y]["answers_pred"]) / styles[y]["n"] for y in YES_NO if y in styles)
    counts = chain_counts(run / "eval_after" / "predictions.jsonl")
    a = after["all"]
    return {
        "format": a["format_rate"],
        "giou": a["giou"],
        "giou_min_style": min(m["giou"] for m in styles.values() if m.get("n_giou")),
        "acc": a["acc"],
        "acc_base_grit": base["all"]["acc"],
        "acc_direct": direct["all"]["acc"],
        "counting": styles["shapes_count"]["acc"],
        "follows_chain": counts["answer_follows_chain"] / max(1, counts["n"]),
        "collapse": collapse,
        "words": a["label_match_rate"],
        "seconds": json.loads((run / "summary.json").read_text())["timings_s"]["total"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    rows = {run.name: targets(run) for run in ap.parse_args().runs}
    rows["mean"] = {k: sum(r[k] for r in rows.values()) / len(rows) for k in next(iter(rows.values()))}
    print(
        "| run | strict format % | chain GIoU (lowest style) | ACC: prompted base → trained (direct) "
        "| counting % | answer = chain's count % | top yes/no answer % | boxes match words % | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {100 * r['format']:.1f} | {r['giou']:.3f} ({r['giou_min_style']:.3f}) "
            f"| {100 * r['acc_base_grit']:.1f} → {100 * r['acc']:.1f} ({100 * r['acc_direct']:.1f}) "
            f"| {100 * r['counting']:.1f} | {100 * r['follows_chain']:.0f} | {100 * r['collapse']:.1f} "
            f"| {100 * r['words']:.1f} | {r['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
