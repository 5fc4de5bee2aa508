"""Does the order of question and image decide whether a tiny VLM learns to pick the asked object?

    python benchmarks/selection_order.py --init checkpoints/shapes-base-2c/model [--steps 2400] [--out runs/selection]
    python benchmarks/selection_order.py --measure checkpoints/shapes-base-4e/model   # only measure a model

``--init`` is an image-first model such as stage 2c, which is no longer in the tree:
``git checkout 269c537 -- checkpoints/shapes-base-2c`` restores it, docs/shapes-base-history.md retrains it.

Both arms continue the same image-first model on "Locate every <kind>" prompts only (scenes of at most 3 objects,
lr 1e-3, same seed and batches); one arm keeps the image before the question, the other puts the question first
(``--image-after-text``). Then, on fresh scenes of 1, 2, 3 and 5 objects (60 each, the asked kind present), it
counts the prompts whose boxes are exactly the asked objects. With one object, position read-out alone suffices;
with more, the model must select by kind. Takes ~15 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def selection(model_dir: Path, n_per: int = 60, seed: int = 5) -> dict[int, int]:
    from grit.chain import find_boxes
    from grit.data.shapes.world import ShapesConfig, plural, random_scene
    from grit.models.loading import load_model
    from grit.train.pretrain import Encoder, generate_texts

    model, processor, _ = load_model(model_dir)
    world, enc, rng = ShapesConfig(), Encoder(processor), random.Random(seed)
    exact = {}
    for n_objects in (1, 2, 3, 5):
        items = []
        for _ in range(n_per):
            scene = random_scene(rng, world, n_objects=n_objects)
            o = rng.choice(scene.objects)
            want = {tuple(x.box(world)) for x in scene.matching(o.color, o.shape)}
            items.append((scene, f"Locate every {o.color} {plural(o.shape)}.", want))
        preds = generate_texts(
            model.eval(), enc, [s.render() for s, _, _ in items], [t for _, t, _ in items], 120
        )
        exact[n_objects] = sum(
            {b.coords for b in find_boxes(p) if len(b.coords) == 4} == want
            for p, (_, _, want) in zip(preds, items, strict=True)
        )
    return exact


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", help="the image-first model both arms continue (e.g. stage 2c's model folder)")
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--out", type=Path, default=Path("runs/selection"))
    ap.add_argument("--measure", type=Path, help="only count the exact boxes of this model folder")
    a = ap.parse_args()
    if a.measure:
        res = {f"{n} objects": f"{k}/60" for n, k in selection(a.measure).items()}
        print(json.dumps({"model": str(a.measure), "exact boxes": res}, indent=2))
        return
    if not a.init:
        ap.error("--init is required to train the two arms (or pass --measure MODEL)")

    from grit.train.pretrain import PretrainConfig, pretrain

    res = {}
    for arm, after in (("image first", False), ("question first", True)):
        c = PretrainConfig(
            out_dir=str(a.out / arm.replace(" ", "-")),
            init_from=a.init,
            vision="frozen-init",
            image_after_text=after,
            mix={"ground": 1.0},
            world={"max_objects": 3},
            total_steps=a.steps,
            lr=1e-3,
            warmup_steps=50,
            curriculum=False,
            eval_every=a.steps,
            ckpt_every=a.steps,
            n_eval=100,
        )
        out = pretrain(c, resume=False, log=lambda s: None)
        res[arm] = {f"{n} objects": f"{k}/60" for n, k in selection(out / "model").items()}
        print(arm, res[arm], flush=True)
    print(json.dumps({"init": a.init, "steps": a.steps, "exact boxes": res}, indent=2))


if __name__ == "__main__":
    main()
