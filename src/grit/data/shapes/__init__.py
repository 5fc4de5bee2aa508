"""The synthetic shapes world: GRIT jsonl + PNG sets in the styles of the paper's benchmarks."""

from __future__ import annotations

import json
import random
from pathlib import Path

from grit.data.shapes.world import STYLE_BENCHMARK, STYLES, ShapesConfig
from grit.errors import InvalidValue
from grit.files import atomic_write


def make_record(style: str, rng: random.Random, cfg: ShapesConfig, image_name: str):
    """One (scene image, GRIT record) pair of ``style``."""
    scene, q = STYLES[style](rng, cfg)
    rec = {
        "id": Path(image_name).stem,
        "question": q.question,
        "answer": q.answer,
        "image": image_name,
        "width": cfg.image_size,
        "height": cfg.image_size,
        "bboxs": [o.box(cfg) for o in q.targets],
        "dataset": f"shapes_{style}",
        "style": style,
        "benchmark": STYLE_BENCHMARK[style],
        "answer_type": q.answer_type,
        "n_objects": len(scene.objects),
        "all_boxes": [o.box(cfg) for o in scene.objects],
        "all_labels": [o.name for o in scene.objects],
    }
    if q.choices:
        rec["choices"] = q.choices
    return scene, rec


def generate_split(
    out_dir: str | Path,
    n_per_style: int,
    seed: int,
    styles: list[str] | None = None,
    cfg: ShapesConfig | None = None,
    name: str = "test",
) -> dict[str, Path]:
    """Write ``{out_dir}/{name}_{style}.jsonl`` and ``{out_dir}/images/*.png``; return style → jsonl path.

    Deterministic in ``seed``: the same arguments always give byte-identical files. ``all_boxes`` (every object
    in the image) is kept for the whole-image reference IoU reported beside chain IoU, ``all_labels`` (their
    names, "red square") to check that a chain's box labels name the objects the boxes sit on.
    """
    cfg = cfg or ShapesConfig()
    styles = styles or list(STYLES)
    unknown = [s for s in styles if s not in STYLES]
    if unknown:
        raise InvalidValue(f"unknown shapes styles {unknown}; known: {', '.join(STYLES)}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    paths = {}
    for si, style in enumerate(styles):
        rng = random.Random(f"{seed}-{name}-{style}-{si}")
        lines = []
        for i in range(n_per_style):
            image_name = f"images/{name}_{style}_{i:05d}.png"
            scene, rec = make_record(style, rng, cfg, image_name)
            scene.render().save(out / image_name)
            lines.append(json.dumps(rec))
        path = out / f"{name}_{style}.jsonl"
        atomic_write(path, "\n".join(lines) + ("\n" if lines else ""))
        paths[style] = path
    return paths


def balanced_train_set(
    out_dir: str | Path,
    n: int = 20,
    seed: int = 0,
    styles: tuple[str, ...] = ("count", "relation"),
    cfg: ShapesConfig | None = None,
) -> Path:
    """The GRPO training triplets: ``n`` records, styles alternating (like the paper's 10 TallyQA + 10 VSR),
    yes/no answers equally often and counts spread over 0..4, so a constant answer cannot earn the reward."""
    cfg = cfg or ShapesConfig()
    unknown = [s for s in styles if s not in STYLES]
    if unknown or not styles:
        raise InvalidValue(f"unknown shapes styles {unknown or styles}; known: {', '.join(STYLES)}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}-train")
    want: dict[str, list[str]] = {
        "count": [str(i % 5) for i in range(n)],
        "relation": ["yes", "no"] * n,
        "exist": ["yes", "no"] * n,
        "position": ["yes", "no"] * n,
    }
    lines = []
    for i in range(n):
        style = styles[i % len(styles)]
        target = want.get(style, [None] * n)[i // len(styles)]
        for _ in range(1000):
            scene, rec = make_record(style, rng, cfg, f"images/train_{i:03d}.png")
            if target is None or rec["answer"] == target:
                break
        scene.render().save(out / rec["image"])
        rec["split"] = "train"
        lines.append(json.dumps(rec))
    path = out / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path
