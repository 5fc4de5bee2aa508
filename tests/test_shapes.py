"""The shapes world: determinism, ground truth, balance, and the pretraining mixture's honesty rule."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest

from grit.chain import INTERNVL_GRIT_SUFFIX, QWEN_GRIT_SUFFIX, find_boxes, parse
from grit.data.shapes import balanced_train_set, generate_split
from grit.data.shapes.pretrain_mix import (
    KINDS,
    SHAPES_WORDS,
    TAG_PROMPTS,
    grounded_description,
    sample,
    tag_instruction,
)
from grit.data.shapes.world import STYLES, ShapesConfig, random_scene
from grit.models.tokenizer import BASE_WORDS

CFG = ShapesConfig()


def test_generate_split_is_deterministic_and_valid(tmp_path):
    from grit.data.schema import read_jsonl

    a = generate_split(tmp_path / "a", 5, seed=3, styles=["count", "relation", "locate"])
    b = generate_split(tmp_path / "b", 5, seed=3, styles=["count", "relation", "locate"])
    for style in a:
        assert a[style].read_bytes() == b[style].read_bytes()
        recs = read_jsonl(a[style], check_images=True)  # schema + image sizes check
        assert len(recs) == 5
    png = sorted((tmp_path / "a" / "images").glob("*.png"))[0]
    assert png.read_bytes() == (tmp_path / "b" / "images" / png.name).read_bytes()


def test_unknown_style_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown shapes styles"):
        generate_split(tmp_path, 1, seed=0, styles=["nope"])


@pytest.mark.parametrize("style", list(STYLES))
def test_ground_truth_boxes_are_the_question_objects(style):
    rng = random.Random(0)
    for _ in range(200):
        scene, q = STYLES[style](rng, CFG)
        all_boxes = [o.box(CFG) for o in scene.objects]
        assert all(o in scene.objects for o in q.targets)
        assert len({tuple(b) for b in all_boxes}) == len(all_boxes)  # one object per cell
        if style in ("count", "arithmetic"):
            assert int(q.answer) == len(q.targets)
        if style in ("relation", "position", "attribute", "locate"):
            assert q.targets, "these questions are about specific objects"


def test_answers_are_balanced():
    rng = random.Random(1)
    for style in ("relation", "exist", "position"):
        answers = Counter(STYLES[style](rng, CFG)[1].answer for _ in range(400))
        assert 0.4 < answers["yes"] / 400 < 0.6, (style, answers)
    counts = Counter(STYLES["count"](rng, CFG)[1].answer for _ in range(500))
    assert set(counts) == {"0", "1", "2", "3", "4"}
    assert max(counts.values()) < 2.5 * min(counts.values())


def test_balanced_train_set(tmp_path):
    path = balanced_train_set(tmp_path, n=20, seed=0)
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(recs) == 20
    styles = Counter(r["style"] for r in recs)
    assert styles == {"count": 10, "relation": 10}
    rel = Counter(r["answer"] for r in recs if r["style"] == "relation")
    assert rel == {"yes": 5, "no": 5}
    counts = Counter(r["answer"] for r in recs if r["style"] == "count")
    assert counts == {str(k): 2 for k in range(5)}


def test_pretraining_never_teaches_question_chosen_boxes():
    """Choosing what to ground is what GRPO-GR must teach: no pretraining chain boxes the question's objects
    unless it boxes every object of the image (whole-image chains), and no prompt is the GRIT prompt."""
    rng = random.Random(0)
    seen = Counter()
    for i in range(3000):
        kind = KINDS[i % len(KINDS)]
        scene, user, target = sample(kind, rng, CFG)
        seen[kind] += 1
        assert QWEN_GRIT_SUFFIX.strip() not in user and INTERNVL_GRIT_SUFFIX.strip() not in user
        if "<think>" not in target:
            continue
        chain = parse(target)
        think_boxes = sorted(tuple(int(v) for v in b.box.xyxy) for b in chain.boxes if b.box)
        if not think_boxes:
            continue
        assert kind in ("wholechain", "factchain"), kind
        every_object = sorted(tuple(o.box(CFG)) for o in scene.objects)
        assert think_boxes == every_object
        if kind == "factchain":  # the question's facts, box-free, then the whole-image description
            facts, description = chain.think.split(" I look at the image. ")
            assert facts.startswith("I need to answer: ") and "bbox" not in facts and "bbox" in description
        else:
            seen["restated"] += target.startswith("<think>I need to answer: ")
    assert seen["wholechain"] > 0 and seen["tag"] > 0 and 0 < seen["restated"] < seen["wholechain"]
    assert seen["factchain"] > 0


def test_shape_samples_ask_one_object_picked_by_a_unique_colour():
    rng = random.Random(1)
    answers = Counter()
    for _ in range(300):
        scene, user, target = sample("shape", rng, CFG)
        color = next(c for c in CFG.colors if f"the {c} object" in user)
        (obj,) = scene.matching(color=color)  # exactly one object of the asked colour
        assert target == obj.shape
        answers[target] += 1
    assert set(answers) == set(CFG.shapes) and min(answers.values()) > 100


def test_tag_prompts_are_not_the_grit_prompt():
    for p in TAG_PROMPTS:
        assert p != QWEN_GRIT_SUFFIX and p != INTERNVL_GRIT_SUFFIX
        assert "bbox_2d" not in p


def test_generated_instructions_vary_and_are_never_the_grit_prompt():
    """Stage-4 instructions: many phrasings, lengths past the GRIT prompt's, tags always in order; the GRIT
    prompt's wording (its think clause included) never appears, and held-out phrasings never reach training."""
    grit_clause = "think between <think> and </think> while output necessary coordinates"
    seen: dict[str, set[str]] = {"train": set(), "held_out": set()}
    for split in seen:
        rng = random.Random(split)
        for _ in range(3000):
            text = tag_instruction(rng, split)
            assert grit_clause not in text.lower() and "bbox_2d" not in text
            assert QWEN_GRIT_SUFFIX.strip() not in text and INTERNVL_GRIT_SUFFIX.strip() not in text
            where = [text.index(t) for t in ("<think>", "</think>", "<rethink>", "</rethink>", "<answer>")]
            assert where == sorted(where), text
            seen[split].add(text)
    assert len(seen["train"]) > 2000 and len(seen["held_out"]) > 300
    lengths = [len(t.split()) for t in seen["train"]]
    assert min(lengths) < 20 and max(lengths) > 60  # the GRIT suffix has 43 words
    assert any("coordinates" in t for t in seen["train"]) and any("JSON" in t for t in seen["train"])
    # Held-out instructions are told apart from training ones by their clauses, not by chance.
    assert not seen["held_out"] & seen["train"]
    rng = random.Random(7)
    users = [sample(k, rng, CFG)[1] for k in ("tag", "wholechain", "tagcap") for _ in range(500)]
    for phrase in ("put your thinking between", "reason inside <think>", "double check it", "answer it after"):
        assert not any(phrase in u for u in users), phrase


def test_instruction_words_are_in_the_shapes_vocabulary():
    """Every word of a generated instruction is a token of the shapes tokenizer (else it reads as <unk>)."""
    vocab = {w.lower() for w in SHAPES_WORDS} | {w.lower() for w in BASE_WORDS}
    rng = random.Random(3)
    for split in ("train", "held_out"):
        for _ in range(500):
            words = {w.lower() for w in re.findall(r"[A-Za-z]+", tag_instruction(rng, split))}
            assert words <= vocab, words - vocab


def test_grounded_description_boxes_every_object_once():
    rng = random.Random(5)
    for _ in range(100):
        scene = random_scene(rng, CFG)
        boxes = [tuple(int(v) for v in b.box.xyxy) for b in find_boxes(grounded_description(scene))]
        assert sorted(boxes) == sorted(tuple(o.box(CFG)) for o in scene.objects)


def test_world_config_validation():
    with pytest.raises(ValueError, match="multiple of grid"):
        ShapesConfig(image_size=85)
    with pytest.raises(ValueError, match="unknown colours"):
        ShapesConfig(colors=("red", "mauve"))
