"""boxes: the Qwen resize rule, frames and their round trips, box normalisation, IoU."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grit.boxes import (
    GRIT_QWEN_MAX_PIXELS,
    Box,
    Frame,
    InvalidBox,
    iou,
    normalize_box,
    smart_resize,
    union_area,
    union_iou,
)


@pytest.mark.parametrize(
    ("w", "h"),
    [
        (640, 354),
        (100, 60),
        (1000, 1000),
        (84, 84),
        (28, 28),
        (4000, 300),
        (37, 1111),
        (1920, 1080),
        (56, 56),
    ],
)
@pytest.mark.parametrize("max_pixels", [GRIT_QWEN_MAX_PIXELS, 28 * 28 * 1280, 56 * 56 * 4])
def test_smart_resize_matches_transformers(w, h, max_pixels):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_resize

    assert smart_resize(h, w, max_pixels=max_pixels) == hf_resize(
        h, w, factor=28, min_pixels=56 * 56, max_pixels=max_pixels
    )


def test_smart_resize_rejects_bad_sizes():
    with pytest.raises(ValueError, match="positive"):
        smart_resize(0, 10)
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(1, 1000)


def test_qwen_frame_maps_resized_pixels_back_to_the_original():
    # 640x354 = 226,560 px is over GRIT's 256-token budget (200,704 px): it shrinks to 588x308 (multiples of 28)
    f = Frame.qwen_resized(640, 354, max_pixels=GRIT_QWEN_MAX_PIXELS)
    assert (f.extent_x, f.extent_y) == (588.0, 308.0)
    b = f.to_pixels(Box(0, 0, 588, 308))
    assert b.xyxy == pytest.approx([0, 0, 640, 354])
    mid = f.to_pixels(Box(294, 154, 588, 308))
    assert mid.xyxy == pytest.approx([320, 177, 640, 354])


def test_norm1000_frame():
    f = Frame.norm1000(800, 533)
    assert f.to_pixels(Box(500, 500, 1000, 1000)).xyxy == pytest.approx([400, 266.5, 800, 533])
    assert f.from_pixels(Box(0, 0, 800, 533)).xyxy == pytest.approx([0, 0, 1000, 1000])


frames = st.builds(
    lambda kind, w, h: {"pixels": Frame.pixels, "norm": Frame.norm1000, "resized": Frame.qwen_resized}[kind](
        w, h
    ),
    st.sampled_from(["pixels", "norm", "resized"]),
    st.integers(28, 3000),
    st.integers(28, 3000),
).filter(lambda f: max(f.image_width, f.image_height) / min(f.image_width, f.image_height) < 100)


@settings(max_examples=300)
@given(frames, frames, st.lists(st.floats(0, 1), min_size=4, max_size=4))
def test_frame_round_trips(f, g, rel):
    box = Box(rel[0] * f.extent_x, rel[1] * f.extent_y, rel[2] * f.extent_x, rel[3] * f.extent_y)
    back = f.from_pixels(f.to_pixels(box))
    assert back.xyxy == pytest.approx(box.xyxy, abs=1e-6)
    if (g.image_width, g.image_height) == (f.image_width, f.image_height):
        assert g.convert(f.convert(box, g), f).xyxy == pytest.approx(box.xyxy, abs=1e-6)


def test_normalize_swaps_and_clips():
    f = Frame.pixels(100, 50)
    b = normalize_box([90, 60, 10, -5], f, "x")
    assert b.xyxy == [10, 0, 90, 50] and b.label == "x"


@pytest.mark.parametrize(
    ("coords", "reason"),
    [
        ([1, 2, 3], "4 coordinates"),
        ([1, 2, 3, float("nan")], "not finite"),
        ([1, 2, 3, float("inf")], "not finite"),
        ([1, 2, "3", 4], "not a number"),
        ([1, 2, True, 4], "not a number"),
        ([5, 5, 5, 9], "zero area"),
        ([0, 0, 100000, 10], "far outside"),
        ([200, 0, 300, 10], "zero area"),  # entirely right of a 100-px frame: nothing left after clipping
    ],
)
def test_normalize_rejects_with_a_reason(coords, reason):
    with pytest.raises(InvalidBox, match=reason):
        normalize_box(coords, Frame.pixels(100, 100))


def test_iou_hand_cases():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert iou(a, b) == pytest.approx(50 / 150)
    assert iou(a, Box(20, 20, 30, 30)) == 0
    assert iou(a, a) == 1
    # union area of two overlapping boxes: 100 + 100 - 50
    assert union_area([a, b]) == pytest.approx(150)
    # union IoU: pred region {a, c}, gt b; a∩b = 50, c=[20,0,30,10] disjoint → 50 / (200 + 100 - 50)
    assert union_iou([a, Box(20, 0, 30, 10)], [b]) == pytest.approx(50 / 250)
    assert union_iou([], [b]) == 0 and union_iou([a], []) == 0
    assert math.isclose(union_iou([[10, 10, 0, 0]], [[0, 0, 10, 10]]), 1.0)  # reversed corners are normalised
