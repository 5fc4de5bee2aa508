"""Which kind of chain a shapes model writes, and how often each kind answers right (issue 18).

    python benchmarks/chain_kinds.py runs/demo/eval_after [runs/demo-seed1/eval_after ...]

Each prediction's thinking is one of: no boxes (a tag chain's box-free facts, or no tags at all); a description
with boxes and nothing about the question before it but its restatement ("whole-image"); or sentences about the
question before the description ("facts, then boxes": the stage-4e base's fact chains). Prints, per evaluation
folder, how many predictions are of each kind and the share of those answered right, as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from chain_counts import facts_part

KINDS = ("no boxes", "whole-image", "facts, then boxes")


def chain_kind(completion: str) -> str:
    think = completion.split("</think>")[0]
    if "bbox" not in think:
        return "no boxes"
    before = facts_part(think[: think.index("bbox")])
    before = re.sub(r"I need to answer: [^?]*\?", "", before)
    return "facts, then boxes" if re.search(r"\b(is|are)\b", before) else "whole-image"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("evals", nargs="+", type=Path)
    a = ap.parse_args()
    print("| evaluation | " + " | ".join(f"{k}: n, right %" for k in KINDS) + " |")
    print("|---" * (len(KINDS) + 1) + "|")
    for folder in a.evals:
        counts = {k: [0, 0] for k in KINDS}
        for line in (folder / "predictions.jsonl").read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                c = counts[chain_kind(row["completion"])]
                c[0] += 1
                c[1] += bool(row["correct"])
        cells = [f"{n}, {100 * r / n:.0f}%" if n else "0" for n, r in counts.values()]
        print(f"| {folder} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
