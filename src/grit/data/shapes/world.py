"""The shapes world: seeded scenes of coloured shapes and questions in the styles of GRIT's benchmarks.

Defaults (84 px images, a 3x3 grid of 28 px cells, 3 colours x 2 shapes, at most 5 objects, counts 0-4,
a position-coded background) are kept small: a ~2M-parameter model learns to ground in them on two CPU cores,
in bigger worlds it stayed at blind level.
The shapes are triangles and squares, not circles: a 20 px circle differs from a square only in its corners,
a triangle in half its pixels, which a tiny model tells apart far more easily (docs/shapes-base-history.md,
stage 1). Each 28 px cell is exactly one Qwen2.5-VL visual token, each object sits centred in its own cell, and
the background's red channel grows with x and its green channel with y, so every visual token carries its
absolute position.

Every question carries the ground-truth boxes of the objects it is about (original pixels, xyxy), so the
records are ordinary GRIT jsonl and every other command works on them unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image, ImageDraw

from grit.errors import InvalidValue

COLOR_RGB = {
    "red": (225, 30, 30),
    "green": (30, 190, 40),
    "blue": (40, 60, 235),
    "yellow": (235, 215, 30),
    "purple": (150, 40, 200),
    "white": (245, 245, 245),
}
SHAPE_NAMES = ("circle", "square", "triangle")
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@dataclass(frozen=True)
class ShapesConfig:
    image_size: int = 84
    grid: int = 3
    object_size: int = 20
    colors: tuple[str, ...] = ("red", "green", "blue")
    shapes: tuple[str, ...] = ("triangle", "square")
    max_objects: int = 5
    position_code: bool = True

    @property
    def cell(self) -> int:
        return self.image_size // self.grid

    def __post_init__(self) -> None:
        if self.grid < 1 or self.image_size < 1:
            raise InvalidValue(f"grid ({self.grid}) and image_size ({self.image_size}) must be positive")
        if self.image_size % self.grid:
            raise InvalidValue(f"image_size {self.image_size} is not a multiple of grid {self.grid}")
        if not 0 < self.object_size <= self.cell:
            raise InvalidValue(f"object_size {self.object_size} must be in 1..{self.cell} (the cell size)")
        if not 1 <= self.max_objects <= self.grid * self.grid:
            raise InvalidValue(f"max_objects must be in 1..{self.grid * self.grid}")
        unknown = [c for c in self.colors if c not in COLOR_RGB]
        if unknown:
            raise InvalidValue(f"unknown colours {unknown}; known: {sorted(COLOR_RGB)}")
        unknown = [s for s in self.shapes if s not in SHAPE_NAMES]
        if unknown:
            raise InvalidValue(f"unknown shapes {unknown}; known: {', '.join(SHAPE_NAMES)}")


@dataclass(frozen=True)
class Obj:
    color: str
    shape: str
    row: int
    col: int

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"

    def box(self, cfg: ShapesConfig) -> list[int]:
        off = (cfg.cell - cfg.object_size) // 2
        x1, y1 = self.col * cfg.cell + off, self.row * cfg.cell + off
        return [x1, y1, x1 + cfg.object_size, y1 + cfg.object_size]


@dataclass
class Scene:
    objects: list[Obj]
    cfg: ShapesConfig = field(default_factory=ShapesConfig)

    def matching(self, color: str | None = None, shape: str | None = None) -> list[Obj]:
        return [
            o
            for o in self.objects
            if (color is None or o.color == color) and (shape is None or o.shape == shape)
        ]

    def render(self) -> Image.Image:
        cfg = self.cfg
        img = _background(cfg.image_size, cfg.position_code).copy()
        draw = ImageDraw.Draw(img)
        for o in self.objects:
            x1, y1, x2, y2 = o.box(cfg)
            rgb = COLOR_RGB[o.color]
            if o.shape == "circle":
                draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=rgb)
            elif o.shape == "square":
                draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=rgb)
            else:
                draw.polygon([((x1 + x2) / 2, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], fill=rgb)
        return img


@lru_cache(maxsize=8)
def _background(n: int, position_code: bool) -> Image.Image:
    """Flat grey, or the position code: red grows with x, green with y (every visual token knows where it is)."""
    img = Image.new("RGB", (n, n), (90, 90, 90))
    if position_code:
        px = img.load()
        for y in range(n):
            for x in range(n):
                px[x, y] = (50 + 80 * x // n, 50 + 80 * y // n, 90)
    return img


def kinds(cfg: ShapesConfig) -> list[tuple[str, str]]:
    return [(c, s) for c in cfg.colors for s in cfg.shapes]


def random_scene(rng: random.Random, cfg: ShapesConfig, n_objects: int | None = None) -> Scene:
    n = rng.randint(0, cfg.max_objects) if n_objects is None else n_objects
    cells = rng.sample(range(cfg.grid * cfg.grid), n)
    objs = []
    for c in sorted(cells):
        color, shape = rng.choice(kinds(cfg))
        objs.append(Obj(color, shape, c // cfg.grid, c % cfg.grid))
    return Scene(objs, cfg)


def scene_with(
    rng: random.Random,
    cfg: ShapesConfig,
    required: list[tuple[str, str]],
    n_objects: int,
    forbid: Callable[[str, str], bool] = lambda c, s: False,
) -> Scene:
    """A scene containing ``required`` kinds (with multiplicity) plus random fillers not matching ``forbid``."""
    fillers = [k for k in kinds(cfg) if not forbid(*k)]
    n_objects = max(n_objects, len(required))
    chosen = (
        list(required) + [rng.choice(fillers) for _ in range(n_objects - len(required))]
        if fillers
        else list(required)
    )
    rng.shuffle(chosen)
    cells = sorted(rng.sample(range(cfg.grid * cfg.grid), len(chosen)))
    return Scene(
        [Obj(c, s, cell // cfg.grid, cell % cfg.grid) for (c, s), cell in zip(chosen, cells, strict=False)],
        cfg,
    )


def plural(shape: str, n: int = 2) -> str:
    return shape if n == 1 else shape + "s"


def describe(scene: Scene) -> list[tuple[str, list[Obj]]]:
    """Object groups in a fixed, question-independent order (colour order, then shape order)."""
    groups = []
    for color, shape in kinds(scene.cfg):
        objs = scene.matching(color, shape)
        if objs:
            groups.append((f"{len(objs)} {color} {plural(shape, len(objs))}", objs))
    return groups


# ----------------------------------------------------------------------------------------- questions


@dataclass
class Question:
    """One question about a scene: what to ask, the answer, and the objects the question is about."""

    style: str
    question: str
    answer: str
    targets: list[Obj]
    answer_type: str = "text"
    choices: list[str] | None = None
    # for the pretraining mixture: what the thinking says about the question (no boxes)
    facts: list[tuple[str, list[Obj]]] = field(default_factory=list)
    reason: str = ""


def _count_phrase(n: int, color: str | None, shape: str | None) -> str:
    noun = plural(shape, n) if shape else ("object" if n == 1 else "objects")
    return " ".join(w for w in (str(n), color, noun) if w)


def q_count(rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, Question]:
    """TallyQA-like: how many objects of one kind; answers balanced over 0..max."""
    color, shape = rng.choice(kinds(cfg))
    k = rng.randint(0, min(4, cfg.max_objects))
    n = rng.randint(k, cfg.max_objects)
    scene = scene_with(rng, cfg, [(color, shape)] * k, n, forbid=lambda c, s: (c, s) == (color, shape))
    tgt = scene.matching(color, shape)
    q = rng.choice(
        ["How many {c} {s} are there?", "How many {c} {s} are in the image?", "How many {c} {s} can you see?"]
    )
    phrase = _count_phrase(k, color, shape)
    return scene, Question(
        "count",
        q.format(c=color, s=plural(shape)),
        str(k),
        tgt,
        "integer",
        facts=[(f"There {'is' if k == 1 else 'are'} {phrase}", tgt)],
        reason=f"There {'is' if k == 1 else 'are'} {phrase}, so the answer is {k}.",
    )


def _unique_pair(rng: random.Random, cfg: ShapesConfig, n_min: int = 2) -> tuple[Scene, Obj, Obj]:
    a, b = rng.sample(kinds(cfg), 2)
    n = rng.randint(max(2, n_min), cfg.max_objects)
    scene = scene_with(rng, cfg, [a, b], n, forbid=lambda c, s: (c, s) in (a, b))
    return scene, scene.matching(*a)[0], scene.matching(*b)[0]


RELATIONS = {
    "to the left of": lambda a, b: a.col < b.col,
    "to the right of": lambda a, b: a.col > b.col,
    "above": lambda a, b: a.row < b.row,
    "below": lambda a, b: a.row > b.row,
}


def q_relation(rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, Question]:
    """VSR-like: a spatial relation between two unique objects; yes/no balanced."""
    want = rng.random() < 0.5
    for _ in range(100):
        scene, a, b = _unique_pair(rng, cfg)
        rel = rng.choice(list(RELATIONS))
        if RELATIONS[rel](a, b) == want:
            break
    holds = RELATIONS[rel](a, b)
    ans = "yes" if holds else "no"
    return scene, Question(
        "relation",
        f"Is the {a.name} {rel} the {b.name}?",
        ans,
        [a, b],
        "yes/no",
        facts=[
            (f"The {a.name} is in row {a.row + 1} column {a.col + 1}", [a]),
            (f"The {b.name} is in row {b.row + 1} column {b.col + 1}", [b]),
        ],
        reason=f"The {a.name} is {'' if holds else 'not '}{rel} the {b.name}, so the answer is {ans}.",
    )


def q_exist(rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, Question]:
    """MME-existence-like: is there an object of one kind; yes/no balanced."""
    color, shape = rng.choice(kinds(cfg))
    yes = rng.random() < 0.5
    k = rng.randint(1, 2) if yes else 0
    n = rng.randint(max(k, 1), cfg.max_objects)
    scene = scene_with(rng, cfg, [(color, shape)] * k, n, forbid=lambda c, s: (c, s) == (color, shape))
    tgt = scene.matching(color, shape)
    ans = "yes" if tgt else "no"
    fact = f"There {'is' if k == 1 else 'are'} {_count_phrase(k, color, shape)}"
    return scene, Question(
        "exist",
        f"Is there a {color} {shape} in the image?",
        ans,
        tgt,
        "yes/no",
        facts=[(fact, tgt)],
        reason=f"{fact}, so the answer is {ans}.",
    )


SIDES = {
    "on the left side of the image": lambda o, g: o.col < (g - 1) / 2,
    "on the right side of the image": lambda o, g: o.col > (g - 1) / 2,
    "in the top part of the image": lambda o, g: o.row < (g - 1) / 2,
    "in the bottom part of the image": lambda o, g: o.row > (g - 1) / 2,
}


def q_position(rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, Question]:
    """MME-position-like: where is one unique object; yes/no balanced."""
    want = rng.random() < 0.5
    for _ in range(100):
        kind = rng.choice(kinds(cfg))
        scene = scene_with(
            rng, cfg, [kind], rng.randint(1, cfg.max_objects), forbid=lambda c, s, k=kind: (c, s) == k
        )
        o = scene.matching(*kind)[0]
        side = rng.choice(list(SIDES))
        if SIDES[side](o, cfg.grid) == want:
            break
    ans = "yes" if SIDES[side](o, cfg.grid) else "no"
    return scene, Question(
        "position",
        f"Is the {o.name} {side}?",
        ans,
        [o],
        "yes/no",
        facts=[(f"The {o.name} is in row {o.row + 1} column {o.col + 1}", [o])],
        reason=f"The {o.name} is {'' if ans == 'yes' else 'not '}{side}, so the answer is {ans}.",
    )


def q_attribute(rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, Question]:
    """GQA-like: the colour of an object given by its relation to another unique object."""
    for _ in range(200):
        scene, a, b = _unique_pair(rng, cfg, n_min=2)
        rel = rng.choice(list(RELATIONS))
        cands = [o for o in scene.objects if o is not b and o.shape == a.shape and RELATIONS[rel](o, b)]
        if len(cands) == 1:
            a = cands[0]
            break
    q = f"What color is the {a.shape} {rel} the {b.name}?"
    return scene, Question(
        "attribute",
        q,
        a.color,
        [a, b],
        "text",
        choices=list(cfg.colors),
        facts=[
            (f"The {b.name} is in row {b.row + 1} column {b.col + 1}", [b]),
            (f"The {a.shape} {rel} it is {a.color}", [a]),
        ],
        reason=f"The {a.shape} {rel} the {b.name} is {a.color}, so the answer is {a.color}.",
    )


def q_arithmetic(rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, Question]:
    """MathVista-like: arithmetic over two counts (total)."""
    k1, k2 = rng.sample(kinds(cfg), 2)
    n1 = rng.randint(0, 2)
    n2 = rng.randint(0, 2)
    n = rng.randint(n1 + n2, max(n1 + n2, cfg.max_objects))
    scene = scene_with(rng, cfg, [k1] * n1 + [k2] * n2, n, forbid=lambda c, s: (c, s) in (k1, k2))
    t1, t2 = scene.matching(*k1), scene.matching(*k2)
    total = len(t1) + len(t2)
    q = f"How many {k1[0]} {plural(k1[1])} and {k2[0]} {plural(k2[1])} are there in total?"
    return scene, Question(
        "arithmetic",
        q,
        str(total),
        t1 + t2,
        "integer",
        facts=[
            (f"There {'is' if n1 == 1 else 'are'} {_count_phrase(n1, *k1)}", t1),
            (f"there {'is' if n2 == 1 else 'are'} {_count_phrase(n2, *k2)}", t2),
        ],
        reason=f"{n1} plus {n2} is {total}, so the answer is {total}.",
    )


def q_locate(rng: random.Random, cfg: ShapesConfig) -> tuple[Scene, Question]:
    """OVDEval-like single-target localisation: the answer names the object; scored by grounding IoU."""
    kind = rng.choice(kinds(cfg))
    scene = scene_with(
        rng, cfg, [kind], rng.randint(1, cfg.max_objects), forbid=lambda c, s, k=kind: (c, s) == k
    )
    o = scene.matching(*kind)[0]
    return scene, Question(
        "locate",
        f"Where is the {o.name}?",
        f"row {o.row + 1} column {o.col + 1}",
        [o],
        "text",
        facts=[(f"The {o.name} is in row {o.row + 1} column {o.col + 1}", [o])],
        reason=f"The {o.name} is in row {o.row + 1} column {o.col + 1}.",
    )


STYLES: dict[str, Callable[[random.Random, ShapesConfig], tuple[Scene, Question]]] = {
    "count": q_count,
    "relation": q_relation,
    "exist": q_exist,
    "position": q_position,
    "attribute": q_attribute,
    "arithmetic": q_arithmetic,
    "locate": q_locate,
}
# Which paper benchmark each style stands in for (the report labels).
STYLE_BENCHMARK = {
    "count": "TallyQA",
    "relation": "VSR",
    "exist": "MME-existence",
    "position": "MME-position",
    "attribute": "GQA",
    "arithmetic": "MathVista",
    "locate": "OVDEval",
}
