"""The pretraining mixture that makes a tiny model a stand-in for an instruction-tuned MLLM.

The base model must be able to ground ("Locate every red circle" → boxes), answer directly, describe the
image with boxes and follow a think/rethink/answer tag format — but must NOT have been taught *which*
objects to ground for a question: choosing that is what GRPO-GR has to teach. So:

* tag-format samples think about the question *without* boxes;
* a small share of "whole-image" chains box **every** object in the image, in a fixed order that does not
  depend on the question (``world.describe``), under instruction phrasings that are never the GRIT prompt;
* grounded descriptions may carry boxes in the answer ("tagcap"), never in the thinking.

``sample(kind, rng)`` returns ``(scene, user_text, target_text)``; the chat markup is added by the trainer.
"""

from __future__ import annotations

import random
import re

from grit.chain import render_box, render_chain
from grit.data.shapes.world import (
    STYLES,
    Obj,
    Scene,
    ShapesConfig,
    describe,
    kinds,
    plural,
    random_scene,
    scene_with,
)

# Instruction phrasings for the tag format. None of them is the GRIT prompt (checked in the tests).
TAG_PROMPTS = [
    " Think inside <think> </think>, check your thinking inside <rethink> </rethink>, then answer after <answer>.",
    " Reason step by step between <think> and </think>, reflect between <rethink> and </rethink>, and give the answer after <answer>.",
    " Put your reasoning in <think> </think> and your double check in <rethink> </rethink>. Then answer after <answer>.",
    " First think in <think> </think>. Then rethink in <rethink> </rethink> and answer the question after <answer>.",
]
# Sentences sometimes appended to a tag prompt, so an unseen instruction still triggers the tags.
TAG_EXTRAS = [
    " Use the image.",
    " Mention the objects you look at.",
    " You may give coordinates of objects in JSON.",
    " Keep it short.",
]
DIRECT_SUFFIXES = [" Answer with a single word or number.", " Answer directly.", ""]

# Mixture weights of the pretraining sample kinds (sum need not be 1).
DEFAULT_MIX = {
    "ground": 0.28,
    "direct": 0.24,
    "caption": 0.12,
    "tag": 0.18,
    "wholechain": 0.10,
    "tagcap": 0.08,
}

# Every sample kind :func:`sample` knows ("shape" is the second stage's: see there).
KINDS = (*DEFAULT_MIX, "shape")


def box_json(o: Obj, cfg: ShapesConfig) -> str:
    return render_box(o.box(cfg), o.name)


def boxes_json(objs: list[Obj], cfg: ShapesConfig) -> str:
    return "[" + ", ".join(box_json(o, cfg) for o in objs) + "]"


def grounded_description(scene: Scene) -> str:
    groups = describe(scene)
    if not groups:
        return "There are no objects."
    parts = [f"{phrase} {boxes_json(objs, scene.cfg)}" for phrase, objs in groups]
    body = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    verb = "is" if groups[0][0].startswith("1 ") else "are"
    return f"There {verb} {body}."


def plain_description(scene: Scene) -> str:
    groups = describe(scene)
    if not groups:
        return "There are no objects."
    names = [p for p, _ in groups]
    body = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"There {'is' if names[0].startswith('1 ') else 'are'} {body}."


def tag_prompt(rng: random.Random) -> str:
    p = rng.choice(TAG_PROMPTS)
    if rng.random() < 0.5:
        p += rng.choice(TAG_EXTRAS)
    return p


def _question_prefix(rng: random.Random) -> str:
    return rng.choice(["Question: ", "Question: ", ""])


def sample(kind: str, rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, str, str]:
    """One pretraining sample of ``kind``: (scene, user text after the image, assistant target)."""
    if kind == "ground":
        scene = random_scene(rng, cfg, rng.randint(1, cfg.max_objects) if rng.random() < 0.9 else 0)
        # Ask mostly about objects that are there: with random queries most answers would be "[]" and a
        # model could score well by ignoring the image and always answering "[]".
        if scene.objects and rng.random() < 0.75:
            o = rng.choice(scene.objects)
            color, shape = o.color, o.shape
        else:
            color, shape = rng.choice(kinds(cfg))
        if rng.random() < 0.15:  # sometimes ground by a single attribute
            if rng.random() < 0.5:
                color, what = None, f"{plural(shape)}"
            else:
                shape, what = None, f"{color} objects"
        else:
            what = f"{color} {plural(shape)}"
        objs = scene.matching(color, shape)
        verb = rng.choice(
            ["Locate every {w}.", "Find all {w}.", "Locate all {w} and output their coordinates in JSON."]
        )
        return scene, verb.format(w=what), boxes_json(objs, cfg)
    if kind == "shape":
        # The one question answered by an object's shape alone, about an object picked by colour (colour is
        # learnt early, shape is not, and without it "Locate every red triangle" cannot bind). One object, or
        # one of its colour among others, makes the answer depend on a single visual token's shape features.
        color, shape = rng.choice(kinds(cfg))
        n_other = 0 if rng.random() < 0.5 else rng.randint(1, cfg.max_objects - 1)
        scene = scene_with(rng, cfg, [(color, shape)], 1 + n_other, forbid=lambda c, s: c == color)
        ask = rng.choice(["What shape is the {c} object?", "Which shape is the {c} object?"])
        return scene, _question_prefix(rng) + ask.format(c=color) + rng.choice(DIRECT_SUFFIXES), shape
    if kind == "caption":
        scene = random_scene(rng, cfg)
        ask = rng.choice(
            [
                "Describe the image with bounding boxes.",
                "List the objects and their boxes.",
                "Describe the image.",
            ]
        )
        return scene, ask, grounded_description(scene)
    style = rng.choice(list(STYLES))
    scene, q = STYLES[style](rng, cfg)
    if kind == "direct":
        return scene, _question_prefix(rng) + q.question + rng.choice(DIRECT_SUFFIXES), q.answer
    if kind in ("tag", "wholechain"):
        if kind == "tag":
            facts = ". ".join(f[0][0].upper() + f[0][1:] for f in q.facts)
            think = f"I need to answer: {q.question} {facts}."
        else:
            think = "I look at the image. " + grounded_description(scene)
        target = render_chain([think], q.reason, q.answer, compact=True)
        return scene, "Question: " + q.question + tag_prompt(rng), target
    if kind == "tagcap":
        think = "I look at the objects. " + plain_description(scene)
        target = render_chain([think], "I check the objects.", grounded_description(scene), compact=True)
        return scene, "Describe the image." + tag_prompt(rng), target
    raise ValueError(f"unknown pretraining sample kind {kind!r}; known: {', '.join(KINDS)}")


# Words of the shapes world and its instructions that the tokenizer must know.
SHAPES_WORDS = sorted(
    set(re.findall(r"[A-Za-z]+", " ".join(TAG_PROMPTS + TAG_EXTRAS + DIRECT_SUFFIXES)))
    | set(
        [
            "row",
            "column",
            "part",
            "side",
            "image",
            "objects",
            "total",
            "describe",
            "list",
            "locate",
            "find",
            "output",
            "their",
            "answer",
            "need",
            "look",
            "reflect",
            "check",
            "plus",
            "is",
            "are",
            "in",
            "the",
            "of",
        ]
    )
)
