"""The README's `grit infer` picture: one held-out demo question, the trained model's chain drawn on its image.

    python benchmarks/readme_figure.py [--run runs/demo] [--id test_count_00035] [--out docs/infer_example.png]

The record is fixed by id (not picked for a good answer): the model's boxes solid, in chain order, the
question's ground-truth boxes dashed, upscaled from 84 px. Prints the chain so the README can quote it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=Path("runs/demo"))
    ap.add_argument("--id", default="test_count_00035")
    ap.add_argument("--out", type=Path, default=Path("docs/infer_example.png"))
    a = ap.parse_args()
    from PIL import Image

    from grit.chain import parse
    from grit.infer import infer_image
    from grit.models.generate import Generator, frame_for_image
    from grit.models.loading import load_model
    from grit.viz import draw_chain

    style = a.id.split("_")[1]
    records = [json.loads(x) for x in (a.run / "data" / f"test_{style}.jsonl").open()]
    rec = next(r for r in records if r["id"] == a.id)
    image_path = a.run / "data" / rec["image"]
    image = Image.open(image_path)
    model, processor, family = load_model(str(a.run / "train" / "final"))
    generator = Generator(model, processor, family)
    # the command the README shows: grit infer --model RUN/train/final --image ... --question ...
    result = infer_image(generator, image_path, rec["question"], max_new_tokens=200)
    chain = parse(
        result["completion"], frame_for_image(generator.family, processor, image.width, image.height)
    )
    draw_chain(image, chain, gt_boxes=rec["bboxs"], upscale_to=336).save(a.out)
    print(f"question: {rec['question']}  ground truth: {rec['answer']}")
    print(result["completion"])
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
