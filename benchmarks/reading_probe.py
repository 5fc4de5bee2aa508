"""Can a shapes base read its own chain under an instruction it was never trained with? (issue 18)

    python benchmarks/reading_probe.py MODEL [MODEL ...] [--n 60] [--seed 123]

Counting questions. The assistant turn is forced to begin with a whole-image chain,
``<think>I look at the image. <description></think><rethink>``, and the model writes the rest, greedy. With a
*correct* chain, how often is the answer right; with a chain whose count for the asked group is *wrong*, how
often does the answer repeat the chain's count (it reads the chain) rather than the image. Under four
instructions: the GRIT prompt (never in pretraining), held-out generated instructions (phrasings pretraining
never drew, ``tag_instruction(rng, "held_out")``), the first of the four fixed pretraining prompts, and the
question alone. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import re


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from grit.data.shapes.pretrain_mix import TAG_PROMPTS, grounded_description, tag_instruction
    from grit.data.shapes.world import ShapesConfig, q_count
    from grit.models import get_family
    from grit.models.generate import chat_prompt, user_text
    from grit.models.loading import load_model

    torch.set_num_threads(a.threads)
    cfg = ShapesConfig()
    print("| model | instruction | chain right: answer right | chain wrong: answer = chain's count |")
    print("|---|---|---|---|")
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
            scores = {}
            for chain in ("right", "wrong"):
                rng, hit, n = random.Random(a.seed), 0, 0
                wording = random.Random(a.seed + 1)  # the held-out instructions, apart from the scenes
                for _ in range(a.n):
                    scene, q = q_count(rng, cfg)
                    text = make(q.question, wording)
                    truth = stated = int(q.answer)
                    desc = grounded_description(scene)
                    if chain == "wrong":  # change the asked group's count in the description's words only
                        group = re.search(r"many (.+?) (?:are|is) ", q.question)
                        m = group and re.search(r"(\d+) " + re.escape(group.group(1)), desc)
                        if not m:
                            continue
                        stated = 2 if truth == 4 else (truth + 1) % 5
                        desc = desc[: m.start(1)] + str(stated) + desc[m.end(1) :]
                    prompt = chat_prompt(proc, text) + f"<think>I look at the image. {desc}</think><rethink>"
                    inputs = proc(text=[prompt], images=[scene.render()], return_tensors="pt")
                    with torch.inference_mode():
                        out = model.generate(**inputs, max_new_tokens=40, do_sample=False)
                    gen = proc.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
                    found = re.search(r"<answer>\s*(\d+)", gen)
                    n += 1
                    hit += bool(found) and int(found.group(1)) == stated
                scores[chain] = f"{hit}/{n}"
            print(f"| {path} | {name} | {scores['right']} | {scores['wrong']} |", flush=True)


if __name__ == "__main__":
    main()
