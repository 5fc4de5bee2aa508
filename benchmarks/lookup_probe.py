"""Where reading positions from a description's boxes fails: finding the named object's box, or the box's cell?
(issue 18)

    python benchmarks/lookup_probe.py MODEL [MODEL ...] [--n 80] [--seed 99] [--label-first]

Text only, greedy, on samples of the pretraining mixture's own generators (the world's default settings):

- ``readpos``: a grounded description and a question about where objects are (relation, position, colour by
  relation, locate); the answer right? (the last word, or "row R column C" for locate questions)
- ``readbox``: the same questions, answered step by step. For each object the model looks up ("The green
  square is at [x1, y1, x2, y2], in row R column C."): did it name the object the target names, copy that
  object's box from the description, and, where the box is right, give the box's cell? And the final answer.

Prints a Markdown table, one row per model.
"""

from __future__ import annotations

import argparse
import random
import re

LOOKUP = re.compile(r"The (\w+ \w+) is at (\[[\d, ]+\]), in row (\d) column (\d)\.")
CELL = re.compile(r"row \d column \d")


def final_answer(text: str) -> str:
    """The answer a readpos/readbox target or generation ends with."""
    text = LOOKUP.sub("", text)
    cell = CELL.findall(text)
    if cell:
        return cell[-1]
    words = text.strip().rstrip(".").split()
    return words[-1] if words else ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--n", type=int, default=80, help="samples of each kind")
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--label-first", action="store_true", help="descriptions with each box's label first")
    a = ap.parse_args()

    import torch

    from grit.data.shapes.pretrain_mix import sample
    from grit.data.shapes.world import ShapesConfig
    from grit.models.loading import load_model
    from grit.train.pretrain import Encoder

    torch.set_num_threads(a.threads)
    cfg = ShapesConfig()
    print(
        "| model | readpos: answer right | readbox: object named right | its box copied right "
        "| cell right, box right | answer right |"
    )
    print("|---|---|---|---|---|---|")
    for path in a.models:
        model, proc, _ = load_model(path)
        enc = Encoder(proc)
        right = {"readpos": 0, "readbox": 0}
        named = boxed = celled = looked = 0
        for kind in right:
            rng = random.Random(a.seed)
            for _ in range(a.n):
                _, user, target = sample(kind, rng, cfg, label_first=a.label_first)
                inputs = proc(text=[enc.prompt_text(user, image=False)], return_tensors="pt")
                with torch.inference_mode():
                    out = model.generate(**inputs, max_new_tokens=160, do_sample=False)
                gen = proc.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
                right[kind] += final_answer(gen) == final_answer(target)
                if kind == "readbox":
                    for want, got in zip(LOOKUP.findall(target), LOOKUP.findall(gen), strict=False):
                        looked += 1
                        if want[0] == got[0]:
                            named += 1
                            if want[1] == got[1]:
                                boxed += 1
                                celled += want[2:] == got[2:]
        print(
            f"| {path} | {right['readpos']}/{a.n} | {named}/{looked} | {boxed}/{named} | {celled}/{boxed} "
            f"| {right['readbox']}/{a.n} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
