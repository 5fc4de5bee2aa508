"""The pretraining mixture that makes a tiny model a stand-in for an instruction-tuned MLLM.

The base model must be able to ground ("Locate every red circle" → boxes), answer directly, describe the
image with boxes and follow a think/rethink/answer tag format — but must NOT have been taught *which*
objects to ground for a question: choosing that is what GRPO-GR has to teach. So:

* tag-format samples think about the question *without* boxes;
* a small share of "whole-image" chains box **every** object in the image, in a fixed order that does not
  depend on the question (``world.describe``), under instruction phrasings that are never the GRIT prompt;
  "fact chains" state the question's facts without boxes before such a description;
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

# Instruction phrasings for the tag format. None of them is the GRIT prompt (checked in the tests). The four
# fixed ones are what bases up to stage 3 were trained with; stage 4 draws from :func:`tag_instruction`.
TAG_PROMPTS = [
    " Think inside <think> </think>, check your thinking inside <rethink> </rethink>, then answer after <answer>.",
    " Reason step by step between <think> and </think>, reflect between <rethink> and </rethink>, and give the answer after <answer>.",
    " Put your reasoning in <think> </think> and your double check in <rethink> </rethink>. Then answer after <answer>.",
    " First think in <think> </think>. Then rethink in <rethink> </rethink> and answer the question after <answer>.",
]

# Fragments of generated tag instructions. A real instruction-tuned base follows instructions it has never seen;
# a base trained on four fixed phrasings does not (its reading of its own chain broke under the long GRIT prompt,
# issue 18). So instructions are composed: a clause for each tag, in varied words and order, with sentences
# around them — short or longer than the GRIT prompt, with or without the grounding words (coordinates, JSON,
# boxes), which appear as often over box-free chains as over whole-image chains, so they do not ask for boxes.
# The "held_out" fragments are never trained on: probes use them to test unseen phrasings.
THINK_CLAUSES = {
    "train": [
        "think between <think> and </think>",
        "think inside <think> </think>",
        "put your reasoning in <think> </think>",
        "reason step by step between <think> and </think>",
        "give your thinking inside <think> </think>",
        "reason in <think> </think>",
        "think step by step in <think> and </think>",
    ],
    "held_out": ["put your thinking between <think> and </think>", "reason inside <think> and </think>"],
}
THINK_TAILS = {
    "train": [
        "",
        "",
        " while you look at the image",
        " and mention the objects you need",
        " and give the coordinates of the objects you need in JSON",
        " with the bounding boxes of the objects",
        " while you output the boxes of objects in JSON with key bbox",
        " and list the objects",
    ],
    "held_out": ["", " while you output coordinates of the objects you see", " and mention the objects"],
}
RETHINK_CLAUSES = {
    "train": [
        "rethink between <rethink> and </rethink>",
        "check your thinking inside <rethink> </rethink>",
        "reflect between <rethink> and </rethink>",
        "put your double check in <rethink> </rethink>",
        "rethink in <rethink> </rethink>",
        "based on your thinking, check it in <rethink> </rethink>",
        "based on the thinking contents, rethink inside <rethink> </rethink>",
    ],
    "held_out": [
        "give your double check between <rethink> and </rethink>",
        "double check it between <rethink> and </rethink>",
    ],
}
ANSWER_CLAUSES = {
    "train": [
        "answer after <answer>",
        "give the answer after <answer>",
        "answer the question after <answer>",
        "put the answer after <answer>",
        "give a short answer after <answer>",
        "output the answer after <answer>",
    ],
    "held_out": ["then give your answer after <answer>", "answer it after <answer>"],
}
SIDE_SENTENCES = {
    "train": [
        "Use the image.",
        "Keep it short.",
        "Mention the objects you look at.",
        "You may give coordinates of objects in JSON.",
        "You are a helpful assistant.",
        "Look at the image and the question.",
        "The answer is a single word or number.",
        "Boxes are in JSON with the key bbox.",
        "Use the bounding boxes of the objects you need.",
        "The coordinates of a box are left, top, right and bottom.",
        "Answer the question on the image.",
        "You can see the objects in the image.",
        "Think of the question first.",
        "Check the number of objects.",
    ],
    "held_out": [
        "Look at the objects.",
        "Output coordinates in JSON when they are needed.",
        "Give the answer in a single word.",
    ],
}
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

# Every sample kind :func:`sample` knows ("shape" is the second stage's, "read" the fourth's, "readpos" stage
# 4c's, "factchain" stage 4e's, "readbox" stage 5's: see there).
KINDS = (*DEFAULT_MIX, "shape", "read", "readpos", "factchain", "readbox")
# Question styles a text description alone answers (groups and their counts), for "read" samples.
READ_STYLES = ("count", "exist", "arithmetic")
# Question styles about where objects are: only the boxes of a grounded description answer them ("readpos").
READPOS_STYLES = ("relation", "position", "attribute", "locate")


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


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def tag_instruction(rng: random.Random, split: str = "train") -> str:
    """A tag-format instruction composed from the ``split``'s fragments: 26 to 158 tokens, tags in order.

    Clauses are joined as one sentence, as "First, ... Then, ..." or as separate sentences, with 0-5 side
    sentences before and after; one in ten is one of the fixed :data:`TAG_PROMPTS` (train split only)."""
    if split == "train" and rng.random() < 0.1:
        return rng.choice(TAG_PROMPTS).strip()
    think = rng.choice(THINK_CLAUSES[split]) + rng.choice(THINK_TAILS[split])
    rethink, answer = rng.choice(RETHINK_CLAUSES[split]), rng.choice(ANSWER_CLAUSES[split])
    join = rng.randrange(3)
    if join == 0:
        core = f"{_cap(think)}, {rethink}, then {answer}."
    elif join == 1:
        core = f"First, {think}. Then, {rethink} and then {answer}."
    else:
        core = f"{_cap(think)}. {_cap(rethink)}. {_cap(answer)}."
    n_side = rng.choice([0, 0, 1, 1, 2, 3, 4, 5])
    side = rng.sample(SIDE_SENTENCES[split], min(n_side, len(SIDE_SENTENCES[split])))
    cut = rng.randint(0, len(side))
    return " ".join([*side[:cut], core, *side[cut:]])


def tag_prompt(rng: random.Random, question: str | None = None) -> str:
    """The user text of a tag-format sample: the question (when there is one) and a generated instruction,
    mostly in the GRIT prompt's order ("Question: ..." first), sometimes the other way round."""
    instruction = tag_instruction(rng)
    if question is None:
        return instruction
    if rng.random() < 0.2:
        return f"{instruction} {_question_prefix(rng)}{question}"
    return f"Question: {question} {instruction}"


def _question_prefix(rng: random.Random) -> str:
    return rng.choice(["Question: ", "Question: ", ""])


def sample(
    kind: str, rng: random.Random, cfg: ShapesConfig, newlines: float = 0.0, label_first: bool = False
) -> tuple[Scene | None, str, str]:
    """One pretraining sample of ``kind``: (scene, user text after the image, assistant target).

    The scene is None for "read", "readpos" and "readbox" samples, which have no image. With probability
    ``newlines`` the user text is laid out with line breaks (:func:`with_line_breaks`); at 0 no extra draw is
    made, so earlier stages' samples are unchanged. ``label_first`` writes every box with its label first
    (:func:`with_labels_first`)."""
    scene, user, target = _sample(kind, rng, cfg)
    if newlines and rng.random() < newlines:
        user = with_line_breaks(rng, user)
    if label_first:
        user, target = with_labels_first(user), with_labels_first(target)
    return scene, user, target


QWEN_BOX = re.compile(r'\{"bbox_2d": (\[[^\]]*\]), "label": ("[^"]*")\}')


def with_labels_first(text: str) -> str:
    """Every ``{"bbox_2d": [...], "label": "x"}`` as ``{"label": "x", "bbox_2d": [...]}``: the same JSON box.

    Why: a left-to-right model writing or reading Qwen's order sees a box's coordinates before their label, so
    the coordinates can only be tied to their object through the group's phrase several tokens back. Copying a
    named object's box out of a description was right 56 times in 110 after 800 steps of nothing else
    (benchmarks/lookup_probe.py, docs/shapes-base-history.md); with the label first the name sits right before
    its coordinates. grit's parser, rewards and scorers read either order."""
    return QWEN_BOX.sub(r'{"label": \2, "bbox_2d": \1}', text)


def with_line_breaks(rng: random.Random, text: str) -> str:
    """The text with some sentence breaks made line breaks and, mostly, a final newline.

    User texts in pretraining used to be one line; a prompt ending in a newline (the GRIT prompt does) then
    broke the stage-4b base: of 70 held-out questions it restated 33 exactly against 70 without the newline,
    and answered 40 right against 57 (benchmarks/prompt_layout_probe.py, issue 18). Real instruction-tuned
    bases have seen every layout."""
    text = re.sub(r"([.?!]) (?=[A-Z])", lambda m: m.group(1) + ("\n" if rng.random() < 0.4 else " "), text)
    return text + "\n" if rng.random() < 0.7 else text


def _sample(kind: str, rng: random.Random, cfg: ShapesConfig) -> tuple[Scene | None, str, str]:
    if kind in ("read", "readpos", "readbox"):
        # Reading in text alone: the words of a whole-image chain, with or without its boxes, and a question
        # they answer, in either order; no image and no tags. The target is the answer or the sentence a
        # chain's rethink says ("There are 2 red squares, so the answer is 2."), which can only come from the
        # text here, as a rethink should come from its chain. "readpos" asks where objects are, which only
        # the boxes' coordinates tell: the base cannot answer those from the image (direct answers to
        # relation and position questions are near chance), so a chain's boxes are the one way to them.
        if kind in ("readpos", "readbox"):
            scene, q = STYLES[rng.choice(READPOS_STYLES)](rng, cfg)
            text = grounded_description(scene)
        else:
            scene, q = STYLES[rng.choice(READ_STYLES)](rng, cfg)
            text = grounded_description(scene) if rng.random() < 0.7 else plain_description(scene)
        ask = f"Question: {q.question}"
        user = f"{text} {ask}" if rng.random() < 0.5 else f"{ask} {text}"
        if kind == "readbox":
            # readpos, looked up step by step: each object the question names, its box copied from the words,
            # then the cell that box is in, then the reason. Copying a box and mapping it to a cell are each one
            # short step; 800 steps of readpos alone, answered in one go, stayed near chance (lookup_probe.py).
            named_first = q.targets[::-1] if q.style == "attribute" else q.targets
            looked = " ".join(
                f"The {o.name} is at {o.box(cfg)}, in row {o.row + 1} column {o.col + 1}."
                for o in named_first
            )
            return None, user, f"{looked} {q.reason}"
        if rng.random() < 0.5:
            return None, user + rng.choice(DIRECT_SUFFIXES), q.answer
        return None, user, q.reason
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
    if kind in ("tag", "wholechain", "factchain"):
        facts = ". ".join(_cap(f[0]) for f in q.facts)
        if kind == "tag":
            think = f"I need to answer: {q.question} {facts}."
        elif kind == "factchain":
            # A tag chain's box-free facts, then a whole-image description: the facts are about the question,
            # the boxes are still every object's in the fixed order. A boxed chain that carries the tag chains'
            # reasoning (on the stage-4d base GRPO-GR's whole-image chains answered about half right).
            think = f"I need to answer: {q.question} {facts}. I look at the image. {grounded_description(scene)}"
        else:
            # Half of them first restate the question, as tag chains do: the rethink, written after 100+
            # tokens of description, then finds the question close by. The boxes are still every object's.
            restate = f"I need to answer: {q.question} " if rng.random() < 0.5 else ""
            think = restate + "I look at the image. " + grounded_description(scene)
        target = render_chain([think], q.reason, q.answer, compact=True)
        return scene, tag_prompt(rng, q.question), target
    if kind == "tagcap":
        think = "I look at the objects. " + plain_description(scene)
        target = render_chain([think], "I check the objects.", grounded_description(scene), compact=True)
        return scene, "Describe the image. " + tag_prompt(rng), target
    raise ValueError(f"unknown pretraining sample kind {kind!r}; known: {', '.join(KINDS)}")


# Words of the shapes world and its instructions that the tokenizer must know.
SHAPES_WORDS = sorted(
    set(re.findall(r"[A-Za-z]+", " ".join(TAG_PROMPTS + DIRECT_SUFFIXES)))
    | {
        w
        for fragments in (THINK_CLAUSES, THINK_TAILS, RETHINK_CLAUSES, ANSWER_CLAUSES, SIDE_SENTENCES)
        for texts in fragments.values()
        for w in re.findall(r"[A-Za-z]+", " ".join(texts))
    }
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
