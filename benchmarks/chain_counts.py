"""Where counting goes wrong in grounded chains: the chain's own count of the asked group vs the answer.

    python benchmarks/chain_counts.py runs/demo/eval_after [runs/demo-seed1/eval_after ...]

For each shapes counting question of the form "How many <colour> <shape>s ...?" the script reads the count the
chain's think part states for that group ("There are 2 red triangles [...]"; a fact chain's facts when they
state it; 0 when the group is not mentioned) and compares it with the ground truth and with the chain's
answer. Questions asked another way ("How many red objects ...?") are left out and counted apart.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

QUESTION = re.compile(r"^How many (\w+) (triangle|square|circle)s\b")
GROUP = re.compile(r"(\d+) (\w+) (triangle|square|circle)s?\b")


def facts_part(think: str) -> str:
    """What a fact chain says before its whole-image description ("... I look at the image. There are ..."); the
    whole thinking of a chain without one."""
    return think.split("I look at the image")[0]


def stated_count(think: str, color: str, shape: str) -> int:
    """The chain's count of the group: a fact chain's facts when they state one (its description repeats the
    count), else every mention in the thinking summed."""

    def counts(text: str) -> list[int]:
        return [int(n) for n, c, s in GROUP.findall(text) if (c, s) == (color, shape)]

    return sum(counts(facts_part(think)) or counts(think))


def chain_counts(predictions: Path) -> dict:
    rows = [json.loads(x) for x in predictions.open() if x.strip()]
    rows = [r for r in rows if r.get("style") == "count"]
    out = {"counting_questions": len(rows), "other_phrasing": 0, "n": 0}
    keys = ("stated_right", "answer_follows_chain", "answer_right", "answer_right_when_stated_right")
    out |= dict.fromkeys(keys, 0)
    for r in rows:
        m = QUESTION.match(r["question"])
        if not m:
            out["other_phrasing"] += 1
            continue
        think = r["completion"].split("</think>")[0]
        stated, truth = stated_count(think, m.group(1), m.group(2)), int(r["answer"])
        out["n"] += 1
        out["stated_right"] += stated == truth
        out["answer_follows_chain"] += str(r.get("answer_pred", "")).strip() == str(stated)
        out["answer_right"] += bool(r["correct"])
        out["answer_right_when_stated_right"] += bool(r["correct"]) and stated == truth
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("evals", nargs="+", type=Path, help="evaluation folders (with predictions.jsonl)")
    a = ap.parse_args()
    print(
        "| evaluation | questions read | chain states the right count | answer = chain's count | answer right "
        "| right when the chain's count is right |"
    )
    print("|---|---|---|---|---|---|")
    for d in a.evals:
        c = chain_counts(d / "predictions.jsonl")
        n = max(c["n"], 1)
        print(
            f"| {d} | {c['n']} of {c['counting_questions']} | {100 * c['stated_right'] / n:.0f}% "
            f"| {100 * c['answer_follows_chain'] / n:.0f}% | {100 * c['answer_right'] / n:.0f}% "
            f"| {c['answer_right_when_stated_right']} of {c['stated_right']} |"
        )


if __name__ == "__main__":
    main()
