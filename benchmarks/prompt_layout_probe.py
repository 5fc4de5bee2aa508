"""Does a shapes base follow the GRIT prompt as well as the same prompt without its final newline? (issue 18)

    python benchmarks/prompt_layout_probe.py MODEL [MODEL ...] [--n 70] [--seed 11]

The GRIT prompt ends in a newline; the stage-4b base was pretrained on one-line user texts only. For held-out
questions of every style in turn (seeded, greedy, up to 240 new tokens), under the GRIT prompt as it is and with
the newline stripped: how often the chain restates the question exactly ("I need to answer: <question>"), how
often the answer is right (exact match with the truth, case-insensitive), and how often the completion is in the
strict grounded format. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import re


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--n", type=int, default=70)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from grit.chain import answer_text, parse
    from grit.data.shapes.world import STYLES, ShapesConfig
    from grit.models import get_family
    from grit.models.generate import chat_prompt, user_text
    from grit.models.loading import load_model

    torch.set_num_threads(a.threads)
    cfg = ShapesConfig()
    print("| model | GRIT prompt | question restated exactly | answer right | strict grounded format |")
    print("|---|---|---|---|---|")
    for path in a.models:
        model, proc, fam = load_model(path)
        family = get_family(fam)
        for layout in ("as it is (final newline)", "final newline stripped"):
            rng = random.Random(a.seed)
            restated = right = strict = 0
            for i in range(a.n):
                scene, q = STYLES[list(STYLES)[i % len(STYLES)]](rng, cfg)
                text = user_text(q.question, family, "grit")
                if layout.startswith("final"):
                    text = text.rstrip("\n")
                inputs = proc(text=[chat_prompt(proc, text)], images=[scene.render()], return_tensors="pt")
                with torch.inference_mode():
                    out = model.generate(**inputs, max_new_tokens=240, do_sample=False)
                gen = proc.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
                m = re.search(r"I need to answer: (.*?\?)", gen)
                restated += bool(m) and m.group(1) == q.question
                right += answer_text(gen).strip().rstrip(".").lower() == q.answer.lower()
                strict += parse(gen).strict_format
            print(f"| {path} | {layout} | {restated}/{a.n} | {right}/{a.n} | {strict}/{a.n} |", flush=True)


if __name__ == "__main__":
    main()
