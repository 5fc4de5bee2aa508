"""Can a shapes base read its own chain under an instruction it was never trained with? (issue 18)

    python benchmarks/reading_probe.py MODEL [MODEL ...] [--n 60] [--seed 123] [--style count|relation] [--label-first]

Counting questions (or spatial relations, ``--style relation``). The assistant turn is forced to begin with a
whole-image chain, ``<think>I look at the image. <description></think><rethink>``, and the model writes the rest,
greedy. With a *correct* chain, how often is the answer right; with a *wrong* chain (for counting, the asked
group's count changed in the words; for relations, the two objects' boxes swapped, where that flips the
answer), how often the answer is the chain's (it reads the chain) rather than the image's. Under four
instructions: the GRIT prompt (never in pretraining), held-out generated instructions (phrasings pretraining
never drew, ``tag_instruction(rng, "held_out")``), the first of the four fixed pretraining prompts, and the
question alone. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import re
from dataclasses import replace


def count_case(rng: random.Random, cfg) -> tuple:
    """A counting question: (scene, question, the answer, the right chain's words, a wrong chain's words and
    the answer it states, or None where the asked group is not in the words)."""
    from grit.data.shapes.pretrain_mix import grounded_description
    from grit.data.shapes.world import q_count

    scene, q = q_count(rng, cfg)
    truth = int(q.answer)
    desc = grounded_description(scene)
    group = re.search(r"many (.+?) (?:are|is) ", q.question)
    m = group and re.search(r"(\d+) " + re.escape(group.group(1)), desc)
    if not m:
        return scene, q.question, q.answer, desc, None
    stated = 2 if truth == 4 else (truth + 1) % 5
    return (
        scene,
        q.question,
        q.answer,
        desc,
        (desc[: m.start(1)] + str(stated) + desc[m.end(1) :], str(stated)),
    )


def relation_case(rng: random.Random, cfg) -> tuple:
    """A spatial-relation question; the wrong chain swaps the two objects' boxes, where that flips the answer."""
    from grit.data.shapes.pretrain_mix import grounded_description
    from grit.data.shapes.world import RELATIONS, Scene, q_relation

    scene, q = q_relation(rng, cfg)
    a, b = q.targets
    rel = re.search(r" (to the left of|to the right of|above|below) ", q.question).group(1)
    a2, b2 = replace(a, row=b.row, col=b.col), replace(b, row=a.row, col=a.col)
    swapped = Scene([a2 if o is a else b2 if o is b else o for o in scene.objects], cfg)
    stated = "yes" if RELATIONS[rel](a2, b2) else "no"
    wrong = (grounded_description(swapped), stated) if stated != q.answer else None
    return scene, q.question, q.answer, grounded_description(scene), wrong


CASES = {"count": count_case, "relation": relation_case}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--style", choices=sorted(CASES), default="count")
    ap.add_argument("--label-first", action="store_true", help="the chain's boxes with each label first")
    ap.add_argument(
        "--max-new-tokens",
        type=int,
        default=40,
        help="the rethink's budget; answers cut before <answer> count wrong",
    )
    a = ap.parse_args()

    import torch

    from grit.data.shapes.pretrain_mix import TAG_PROMPTS, tag_instruction, with_labels_first
    from grit.data.shapes.world import ShapesConfig
    from grit.models import get_family
    from grit.models.generate import chat_prompt, user_text
    from grit.models.loading import load_model

    torch.set_num_threads(a.threads)
    cfg = ShapesConfig()
    case = CASES[a.style]
    print(
        "| model | instruction | chain right: answer right | chain wrong: answer = the chain's | no answer |"
    )
    print("|---|---|---|---|---|")
    for path in a.models:
        model, proc, fam = load_model(path)
        family = get_family(fam)
        instructions = {
            "GRIT prompt": lambda q, r, family=family: user_text(q, family, "grit"),
            "held-out generated": lambda q, r: f"Question: {q} {tag_instruction(r, 'held_out')}",
            "pretraining tag prompt 0": lambda q, r: "Question: " + q + TAG_PROMPTS[0],
            "question only": lambda q, r: "Question: " + q,
        }
        for name, make in instructions.items():
            scores, cut = {}, 0
            for chain in ("right", "wrong"):
                rng, hit, n = random.Random(a.seed), 0, 0
                wording = random.Random(a.seed + 1)  # the held-out instructions, apart from the scenes
                for _ in range(a.n):
                    scene, question, truth, desc, wrong = case(rng, cfg)
                    text = make(question, wording)
                    stated = truth
                    if chain == "wrong":
                        if wrong is None:
                            continue
                        desc, stated = wrong
                    if a.label_first:
                        desc = with_labels_first(desc)
                    prompt = chat_prompt(proc, text) + f"<think>I look at the image. {desc}</think><rethink>"
                    inputs = proc(text=[prompt], images=[scene.render()], return_tensors="pt")
                    with torch.inference_mode():
                        out = model.generate(**inputs, max_new_tokens=a.max_new_tokens, do_sample=False)
                    gen = proc.tokenizer.decode(
                        out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
                    )
                    found = re.search(r"<answer>\s*(\w+)", gen)
                    n += 1
                    cut += not found
                    hit += bool(found) and found.group(1) == stated
                scores[chain] = f"{hit}/{n}"
            print(f"| {path} | {name} | {scores['right']} | {scores['wrong']} | {cut} |", flush=True)


if __name__ == "__main__":
    main()
