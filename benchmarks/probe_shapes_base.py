"""Where a shapes base fails: what its visual tokens encode, and how its localisation boxes go wrong.

    python benchmarks/probe_shapes_base.py [--model checkpoints/shapes-base-4e/model] [--circles]
    python benchmarks/probe_shapes_base.py --model RUN --circles   # a pretraining run folder (its state.pt)
    python benchmarks/probe_shapes_base.py --model RUN --circles --random-vision

(Stage 1's run, ``checkpoints/shapes-base-stage1``, left the tree: ``git checkout 269c537 --
checkpoints/shapes-base-stage1`` restores it; docs/shapes-base-history.md has its command.)

Three measurements on fresh seeds, greedy:
* linear probes of the visual tokens (the projector's output, one token per 28 px cell): the cell's kind
  (empty or colour x shape), occupancy, colour and shape of occupied cells, and the cell's row and column. A logistic regression trained on 600
  scenes, tested on 200. ``--random-vision`` probes the tower at its random initialisation instead;
* "Locate every ..." boxes split into right object / another object / an empty cell, and ground-truth objects
  missed;
* "What shape is the <colour> object?" accuracy, alone in the image and among other objects.
``--circles`` uses the first stage's world (circles and squares); the default world has triangles.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from grit.demo import DEFAULT_BASE


def load(src: Path, random_vision: bool):
    """(model, processor) from a model folder or a pretraining run folder (init/ + state.pt)."""
    from transformers import AutoConfig, AutoModelForImageTextToText

    from grit.models.loading import load_processor

    run = (src / "state.pt").is_file()
    proc = load_processor(src / "init" if run else src, "qwen2_5_vl")
    if run:
        from grit.train.pretrain import init_weights

        model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(src / "init"))
        model.load_state_dict(init_weights(src))
    else:
        model = AutoModelForImageTextToText.from_pretrained(src)
    if random_vision:
        from grit.train.pretrain import reinit_vision

        reinit_vision(model, seed=0)
    return model.eval(), proc


def probe_tokens(model, proc, world, n_train: int = 600, n_test: int = 200) -> dict:
    import torch

    from grit.data.shapes.world import kinds, random_scene

    rng = random.Random("probe-tokens")
    scenes = [random_scene(rng, world) for _ in range(n_train + n_test)]
    ip = proc.image_processor(images=[s.render() for s in scenes], return_tensors="pt")
    with torch.no_grad():
        out = model.model.get_image_features(ip["pixel_values"], ip["image_grid_thw"])
    feats = getattr(out, "pooler_output", out)
    feats = torch.cat(list(feats)) if isinstance(feats, (list, tuple)) else feats
    cells = world.grid * world.grid
    x = feats.reshape(len(scenes) * cells, -1).float()
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    ks = kinds(world)
    y = torch.zeros(len(scenes), cells, dtype=torch.long)
    for i, s in enumerate(scenes):
        for o in s.objects:
            y[i, o.row * world.grid + o.col] = 1 + ks.index((o.color, o.shape))
    y = y.reshape(-1)
    n_shapes = len(world.shapes)
    targets = {
        "kind": y,
        "occupied": (y > 0).long(),
        "colour (occupied cells)": torch.where(y > 0, (y - 1) // n_shapes, -1),
        "shape (occupied cells)": torch.where(y > 0, (y - 1) % n_shapes, -1),
    }
    pos = torch.arange(cells).repeat(len(scenes))
    targets["row"] = pos // world.grid
    targets["column"] = pos % world.grid
    split = n_train * cells
    res = {}
    torch.manual_seed(0)
    for name, t in targets.items():
        tr, te = t[:split] >= 0, t[split:] >= 0
        lin = torch.nn.Linear(x.shape[1], int(t.max()) + 1)
        opt = torch.optim.Adam(lin.parameters(), 1e-2)
        for _ in range(400):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(lin(x[:split][tr]), t[:split][tr]).backward()
            opt.step()
        with torch.no_grad():
            res[name] = (lin(x[split:][te]).argmax(-1) == t[split:][te]).float().mean().item()
    return res


def locate_errors(model, proc, world, n: int) -> dict:
    """Where the "Locate every ..." boxes land, and which prompts get every box right, by number of targets.

    A box on another object is split by what that object shares with the asked kind (its colour, its shape, or
    neither): a binding failure confuses kinds that share one attribute."""
    from grit.chain import find_boxes
    from grit.train.pretrain import Encoder, eval_sets, generate_texts

    enc = Encoder(proc)
    locate, _ = eval_sets(world, n, seed=999)
    preds = generate_texts(model, enc, [s.render() for s, _, _ in locate], [t for _, t, _ in locate], 120)
    c = {"right object": 0, "another object": 0, "empty cell": 0, "missed": 0}
    shares = {"same colour": 0, "same shape": 0, "neither": 0}
    exact: dict[str, list[bool]] = {}
    for p, (scene, _, gt) in zip(preds, locate, strict=True):
        by_box = {tuple(o.box(world)): o for o in scene.objects}
        want = {tuple(b) for b in gt}
        asked = next((by_box[b] for b in want), None)
        got = [b.coords for b in find_boxes(p) if len(b.coords) == 4]  # as written, like the world's boxes
        for b in got:
            if b in want:
                c["right object"] += 1
            elif b in by_box:
                c["another object"] += 1
                o = by_box[b]
                if asked is not None:
                    key = (
                        "same colour"
                        if o.color == asked.color
                        else "same shape"
                        if o.shape == asked.shape
                        else "neither"
                    )
                    shares[key] += 1
            else:
                c["empty cell"] += 1
        c["missed"] += len(want - set(got))
        exact.setdefault(f"{min(len(want), 2)}{'+' if len(want) >= 2 else ''} targets", []).append(
            set(got) == want
        )
    c["another object, when the asked kind is present"] = shares
    c["all boxes exactly right"] = {k: f"{sum(v)}/{len(v)}" for k, v in sorted(exact.items())}
    return c


def shape_questions(model, proc, world, n: int) -> dict:
    from grit.data.shapes.pretrain_mix import sample
    from grit.train.pretrain import Encoder, generate_texts

    enc = Encoder(proc)
    rng = random.Random("probe-shape-questions")
    items = [sample("shape", rng, world) for _ in range(n)]
    out = generate_texts(model, enc, [s.render() for s, _, _ in items], [u for _, u, _ in items], 3)
    alone = [o.strip() == t for o, (s, _, t) in zip(out, items, strict=True) if len(s.objects) == 1]
    among = [o.strip() == t for o, (s, _, t) in zip(out, items, strict=True) if len(s.objects) > 1]
    return {"alone": sum(alone) / max(1, len(alone)), "among others": sum(among) / max(1, len(among))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path(DEFAULT_BASE))
    ap.add_argument("--circles", action="store_true", help="the first stage's world: circles and squares")
    ap.add_argument("--random-vision", action="store_true", help="probe the tower at its random init")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    import torch

    from grit.data.shapes.world import ShapesConfig

    torch.set_num_threads(a.threads)
    world = ShapesConfig(shapes=("circle", "square")) if a.circles else ShapesConfig()
    model, proc = load(a.model, a.random_vision)
    res = {"model": str(a.model), "world shapes": list(world.shapes), "random vision": a.random_vision}
    res["linear probe of visual tokens"] = probe_tokens(model, proc, world)
    if not a.random_vision:
        res["locate boxes"] = locate_errors(model, proc, world, a.n)
        res["shape questions"] = shape_questions(model, proc, world, a.n)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
