"""Boxes match their words on the shapes world: the share of chain boxes whose label names the object under them."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grit.data.shapes import make_record
from grit.data.shapes.pretrain_mix import grounded_description
from grit.data.shapes.world import COLOR_RGB, SHAPE_NAMES, ShapesConfig
from grit.eval.predictions import PredictionsError
from grit.eval.score import compute_metrics, score_row
from grit.eval.scorers.default import label_match_rate, label_names, object_under, on_object_rate

COLORS, SHAPES = sorted(COLOR_RGB), list(SHAPE_NAMES)


@given(
    st.sampled_from(COLORS),
    st.sampled_from(SHAPES),
    st.sampled_from(["{c} {s}", "the {c} {s}", "2 {c} {s}s", "{C} {S}", "{s} ({c})", "{c}-{s}"]),
)
def test_a_label_stating_colour_and_shape_names_the_object(color, shape, template):
    label = template.format(c=color, s=shape, C=color.title(), S=shape.upper())
    assert label_names(label, f"{color} {shape}")


@given(st.sampled_from(COLORS), st.sampled_from(SHAPES), st.sampled_from(COLORS), st.sampled_from(SHAPES))
def test_a_label_naming_anything_else_does_not(color, shape, other_color, other_shape):
    name = f"{color} {shape}"
    assert label_names(f"{other_color} {other_shape}", name) == (other_color == color and other_shape == shape)
    assert not label_names(color, name) and not label_names(shape, name)  # half a name
    if (other_color, other_shape) != (color, shape):  # two objects named at once: not this one's label
        assert not label_names(f"{color} {shape} and {other_color} {other_shape}", name)
    assert not label_names(None, name) and not label_names("", name)


def test_rate_counts_every_chain_box_and_uses_the_on_object_rule():
    objects = [[0, 0, 10, 10], [20, 20, 30, 30]]
    names = ["red square", "blue triangle"]
    rows = [
        {  # right label on object 0; wrong label on object 1 (IoU 81/119); right words but on no object
            "all_boxes": objects,
            "all_labels": names,
            "pred_boxes": [[0, 0, 10, 10], [21, 21, 31, 31], [50, 50, 60, 60]],
            "pred_labels": ["red square", "red triangle", "red square"],
        },
        {"all_boxes": objects, "all_labels": names, "pred_boxes": [[20, 20, 30, 30]], "pred_labels": [None]},
        {"all_boxes": objects, "pred_boxes": [[0, 0, 10, 10]], "pred_labels": ["red square"]},  # no labels: skip
        {"all_boxes": [], "all_labels": [], "pred_boxes": [[0, 0, 5, 5]], "pred_labels": ["red square"]},
    ]
    assert label_match_rate(rows) == (pytest.approx(1 / 5), 5)
    assert on_object_rate(rows[:2]) == (pytest.approx(3 / 4), 4)  # the same "sits on" rule
    assert label_match_rate(rows[2:3]) == (None, 0)
    assert object_under(rows[0]["all_boxes"][1], []) is None


def test_labels_that_do_not_fit_the_objects_are_a_clear_error():
    row = {"key": "k7", "all_boxes": [[0, 0, 10, 10]], "all_labels": [], "pred_boxes": [[0, 0, 10, 10]]}
    with pytest.raises(PredictionsError, match="sample k7: field 'all_labels': 0 labels for 1 all_boxes"):
        label_match_rate([row])


def _scored(rec: dict, completion: str) -> dict:
    row = {**rec, "key": rec["id"], "completion": completion, "frame": None}
    return score_row(row)


def test_shapes_records_carry_their_object_names_and_a_true_chain_scores_full():
    """End to end through grit eval's scoring: a chain written from the scene's own truth matches all its
    boxes; the same chain with the colour words swapped matches none."""
    cfg, rng = ShapesConfig(), random.Random(3)
    rows, swapped = [], []
    for i in range(20):
        scene, rec = make_record("count", rng, cfg, f"images/{i}.png")
        assert rec["all_labels"] == [o.name for o in scene.objects]
        chain = f"<think>{grounded_description(scene)}</think><rethink>ok</rethink><answer>{rec['answer']}</answer>"
        rows.append(_scored(rec, chain))
        swap = chain.replace("red", "@").replace("blue", "red").replace("@", "blue")
        swapped.append(_scored(rec, swap.replace("green", "purple")))
    n = sum(len(r["pred_boxes"]) for r in rows)
    assert n > 20
    metrics = compute_metrics(rows)["datasets"]
    assert metrics["all"]["label_match_rate"] == 1.0 and metrics["all"]["n_label_checked_boxes"] == n
    assert metrics["shapes_count"]["on_object_rate"] == 1.0
    assert compute_metrics(swapped)["datasets"]["all"]["label_match_rate"] == 0.0
