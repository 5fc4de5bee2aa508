"""Held-out numbers of a shapes base checkpoint (the targets of the shapes-base issue), plus its learning curve.

    python benchmarks/eval_shapes_base.py [--model checkpoints/shapes-base-4e/model] [--n 300] [--out runs/base-eval]

Reports, on fresh held-out seeds (never used in pretraining):
* localisation IoU: "Locate every <colour> <shape>." over scenes with >= 1 target, greedy, union IoU;
* counting accuracy: direct "How many ...?" questions, greedy;
* direct-answer accuracy per question style (the demo's held-out styles);
* with the GRIT prompt: strict grounded-format rate greedy and sampled at T=1, and chain IoU;
* whole-image descriptions ("Describe the image with bounding boxes."): the share that is exactly right, and the
  share whose object groups (count, colour, shape) are right whatever the boxes — the trained demo's chains are
  such descriptions, so their errors bound the chains';
* the learning curve from the checkpoint folder's log.jsonl.
Prints a Markdown block for BENCHMARKS.md and writes the raw numbers to OUT/base_eval.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from grit.demo import DEFAULT_BASE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_BASE)
    ap.add_argument("--n", type=int, default=300, help="prompts per localisation / counting set")
    ap.add_argument("--n-style", type=int, default=40, help="questions per style for the prompted evals")
    ap.add_argument("--out", default="runs/base-eval")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import torch

    from grit.data.shapes import generate_split
    from grit.data.shapes.world import ShapesConfig
    from grit.demo import DIRECT_PROMPT
    from grit.eval.run import evaluate
    from grit.models.loading import load_model
    from grit.train.pretrain import Encoder
    from grit.train.pretrain import evaluate as pretrain_eval

    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    model, processor, family = load_model(a.model)
    enc = Encoder(processor)
    world = ShapesConfig()
    # seed 777: not the pretraining stream (seeded per step) and not the periodic eval (seed 12345)
    loc_count = pretrain_eval(model, enc, world, a.n, seed=777)
    captions = caption_accuracy(model, enc, world, a.n)
    data = out / "data"
    sets = generate_split(data, a.n_style, seed=4242, name="base")
    paths = [str(p) for p in sets.values()]
    gen = (model, processor, family)
    m_direct = evaluate(gen, paths, out / "direct", prompt=DIRECT_PROMPT, max_new_tokens=8, progress=False)
    m_grit = evaluate(gen, paths, out / "grit", prompt="grit", max_new_tokens=200, progress=False)
    m_t1 = evaluate(
        gen,
        paths,
        out / "grit_t1",
        prompt="grit",
        max_new_tokens=200,
        temperature=1.0,
        seed=0,
        progress=False,
    )
    result = {
        "model": a.model,
        "localisation_iou": loc_count["iou"],
        "counting_acc": loc_count["count_acc"],
        "captions": captions,
        "n": a.n,
        "direct_acc": {k: v["acc"] for k, v in m_direct["datasets"].items()},
        "grit_greedy": {
            k: {
                "acc": v["acc"],
                "format_rate": v["format_rate"],
                "giou": v["giou"],
                "whole_image_iou": v.get("whole_image_iou"),
            }
            for k, v in m_grit["datasets"].items()
        },
        "grit_t1": {
            k: {"acc": v["acc"], "format_rate": v["format_rate"], "giou": v["giou"]}
            for k, v in m_t1["datasets"].items()
        },
        "seconds": round(time.time() - t0, 1),
    }
    log = Path(a.model).parent / "log.jsonl"
    result["curve"] = [json.loads(x) for x in log.read_text().splitlines()] if log.is_file() else []
    (out / "base_eval.json").write_text(json.dumps(result, indent=1))
    print(markdown(result))


def caption_accuracy(model, enc, world, n: int, seed: int = 778) -> dict:
    """Greedy whole-image descriptions of ``n`` fresh scenes against the pretraining's own description."""
    from grit.data.shapes.pretrain_mix import grounded_description, with_labels_first
    from grit.data.shapes.world import kinds, random_scene
    from grit.train.pretrain import generate_texts

    rng = random.Random(f"caption-{seed}")
    scenes = [random_scene(rng, world) for _ in range(n)]
    prompts = ["Describe the image with bounding boxes."] * n
    model.eval()
    outs = generate_texts(model, enc, [s.render() for s in scenes], prompts, max_new_tokens=200)
    group = re.compile(r"(\d+) (\w+) (\w+?)s? \[")
    exact = sum(  # in Qwen's order, or with each label first (a base pretrained with --label-first)
        o.strip() in (grounded_description(s), with_labels_first(grounded_description(s)))
        for o, s in zip(outs, scenes, strict=True)
    )

    def groups(scene) -> list[tuple[str, str, str]]:
        found = [(str(len(scene.matching(c, sh))), c, sh) for c, sh in kinds(world)]
        return sorted(g for g in found if g[0] != "0")

    right = sum(sorted(group.findall(o)) == groups(s) for o, s in zip(outs, scenes, strict=True))
    return {"n": n, "exact": exact / n, "groups_right": right / n}


def markdown(r: dict) -> str:
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    f3 = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [
        f"Held-out (greedy, n={r['n']} each): localisation IoU **{r['localisation_iou']:.3f}**, "
        f"counting accuracy **{pct(r['counting_acc'])}**; whole-image descriptions exactly right "
        f"{pct(r['captions']['exact'])}, object groups right {pct(r['captions']['groups_right'])}.",
        "",
        "| style | direct ACC | GRIT-prompt ACC (greedy) | strict format greedy | strict format T=1 | chain GIoU (greedy) | whole-image IoU |",
        "|---|---|---|---|---|---|---|",
    ]
    for ds, d in r["direct_acc"].items():
        g, t = r["grit_greedy"].get(ds, {}), r["grit_t1"].get(ds, {})
        lines.append(
            f"| {ds} | {pct(d)} | {pct(g.get('acc'))} | {pct(g.get('format_rate'))} | "
            f"{pct(t.get('format_rate'))} | {f3(g.get('giou'))} | {f3(g.get('whole_image_iou'))} |"
        )
    if r["curve"]:
        lines += ["", "| step | train minutes | localisation IoU | counting |", "|---|---|---|---|"]
        lines += [
            f"| {c['step']} | {c['train_minutes']} | {c['iou']:.3f} | {pct(c['count_acc'])} |"
            for c in r["curve"]
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
