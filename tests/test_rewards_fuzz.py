"""Property tests: every reward is total (finite, in range, no exception) on generated completions.

Each run feeds every reward 1,300 batches of 8 generated completions (10,400 per reward), mixing GRIT tags,
boxes in every syntax (valid and broken), junk text, tag spam, TRL message forms, and odd dataset columns.
"""

from __future__ import annotations

import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grit.boxes import Frame, InvalidBox, normalize_box
from grit.chain import parse
from grit.rewards import RANGES, REGISTRY, fits, grounded_reasoning_format

FRAME_KEYS = ["kind", "image_width", "image_height", "extent_x", "extent_y"]
BATCH = 8
EXAMPLES = 1300  # x BATCH = 10,400 completions per reward

TAGS = [
    "<think>",
    "</think>",
    "<rethink>",
    "</rethink>",
    "<answer>",
    "</answer>",
    "<box>",
    "</box>",
    "<ref>",
    "</ref>",
]
number = st.one_of(
    st.integers(-50, 2000).map(str),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["NaN", "inf", "1e5", ".5", "-0", "", "1.2.3"]),
)
numbers = st.lists(number, min_size=0, max_size=6)
label = st.text(max_size=12)


@st.composite
def box_text(draw) -> str:
    nums = draw(numbers)
    body = ", ".join(nums)
    kind = draw(st.integers(0, 6))
    lab = draw(label).replace('"', "'")
    if kind == 0:
        return f'{{"bbox_2d": [{body}], "label": "{lab}"}}'
    if kind == 1:
        return f'{{"label": "{lab}", "bbox_2d": [{body}], "bbox_2d": [{body}], "label": "{lab}"}}'
    if kind == 2:
        return f"<ref>{lab}</ref><box>[[{body}], [{body}]]</box>"
    if kind == 3:
        return f"<box>[{body}]</box>"
    if kind == 4:
        return f"[{body}]"
    if kind == 5:
        return body
    return draw(
        st.sampled_from(['"bbox_2d": [[', "<box>[[1, 2", '{"bbox_2d": null', "[" * 50, "1,2,3,4" * 20])
    )


fragment = st.one_of(
    st.sampled_from(TAGS),
    box_text(),
    st.text(max_size=30),
    st.text(alphabet="<>/[]{},\"': 0123456789thinkreboxans", max_size=40),
    st.sampled_from(["the cup is left of the dog", "How many", "two", "yes", "\x00\xff", "\n\n"]),
)


@st.composite
def completion(draw) -> object:
    text = "".join(draw(st.lists(fragment, max_size=12)))
    if draw(st.integers(0, 19)) == 0:
        text = text * draw(st.integers(2, 40))  # repetition / spam / long inputs
    form = draw(st.integers(0, 9))
    if form == 0:
        return [{"role": "assistant", "content": text}]
    if form == 1:
        return [{"role": "assistant", "content": [{"type": "text", "text": text}, {"type": "image"}]}]
    if form == 2:
        return draw(st.sampled_from([None, [{"role": "assistant", "content": None}], [], b"<answer> 1", 42]))
    return text


frames = st.builds(
    lambda kind, w, h: {"pixels": Frame.pixels, "norm": Frame.norm1000, "resized": Frame.qwen_resized}[kind](
        w, h
    ),
    st.sampled_from(["pixels", "norm", "resized"]),
    st.integers(20, 4000),  # aspect ratio <= 200, as the Qwen processor requires
    st.integers(20, 4000),
)
column_value = st.one_of(st.none(), st.integers(-5, 5000), st.text(max_size=10), st.floats())


@st.composite
def batch(draw) -> tuple[list, dict]:
    comps = draw(st.lists(completion(), min_size=BATCH, max_size=BATCH))
    answer = st.one_of(
        st.integers(0, 12),
        st.sampled_from(["two", "3 cups", "yes", "no", "", "1e400", "nan"]),
        st.text(max_size=8),
    )
    kwargs: dict = {"answer": draw(st.lists(answer, min_size=BATCH, max_size=BATCH))}
    for col, values in (
        ("dataset", st.one_of(st.sampled_from(["tallyqa", "vsr", "CountBench", "gqa"]), column_value)),
        ("question", st.one_of(st.sampled_from(["How many cups?", "Is it red?"]), column_value)),
        ("width", column_value),
        ("height", column_value),
        ("choices", st.one_of(st.none(), st.lists(st.text(max_size=5), max_size=4))),
        ("answer_type", st.sampled_from([None, "integer", "float", "text", "list"])),
        ("frame", st.one_of(st.none(), st.dictionaries(st.sampled_from(FRAME_KEYS), column_value), frames)),
    ):
        if draw(st.booleans()):
            kwargs[col] = draw(st.lists(values, min_size=BATCH, max_size=BATCH))
    return comps, kwargs


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch())
def test_all_rewards_are_total_and_in_range(data):
    comps, kwargs = data
    for name, fn in REGISTRY.items():
        out = fn(comps, **kwargs)
        lo, hi = RANGES[name]
        assert len(out) == BATCH, name
        for v in out:
            assert isinstance(v, float) and math.isfinite(v) and lo <= v <= hi, (name, v)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(fragment, max_size=20).map("".join))
def test_parse_spans_and_flags_are_consistent(text):
    c = parse(text)
    for b in c.boxes:
        assert text[b.span[0] : b.span[1]] == b.raw
        assert (b.box is None) != (b.error is None)
    assert c.strict_format == (c.tags_ok and bool(c.valid_boxes))
    assert not c.tags_ok or c.reasoning_ok


coord = st.one_of(st.integers(-50_000, 50_000), st.floats(-50_000, 50_000, allow_nan=False))


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(coord, min_size=4, max_size=4), frames)
def test_fits_agrees_with_normalize_box(coords, frame):
    try:
        box = normalize_box(coords)
    except InvalidBox:
        return
    try:
        normalize_box(coords, frame)
        expected = True
    except InvalidBox:
        expected = False
    assert fits(box, frame) == expected


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab 1\t\n.,-é²\x1c\u2003<>/"), max_size=12) | st.text(max_size=12))
def test_two_words_check_matches_the_released_definition(think):
    """The fifth point of the reasoning format: >= 2 words inside <think>, as the released code splits them."""
    think = think.replace("think>", "")
    words = re.sub(r"[^a-zA-Z0-9\s]", " ", think).split()
    points = 5 if len(words) >= 2 else 4
    assert grounded_reasoning_format([f"<think>{think}</think><rethink>r</rethink>"]) == [points / 5 * 0.5]
