"""grit.chain: box syntaxes, spans, labels, invalid boxes, frames, tag rules, rendering."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grit.boxes import Box, Frame
from grit.chain import (
    INTERNVL_GRIT_SUFFIX,
    MAX_BOXES,
    MAX_SCAN_CHARS,
    QWEN_GRIT_SUFFIX,
    ChainBox,
    answer_text,
    find_boxes,
    grit_prompt,
    parse,
    render_box,
    render_chain,
)


def coords(boxes: list[ChainBox]) -> list[tuple]:
    return [b.coords for b in boxes]


def labels(boxes: list[ChainBox]) -> list[str | None]:
    return [b.label for b in boxes]


def assert_spans(text: str, boxes) -> None:
    for b in boxes:
        assert text[b.span[0] : b.span[1]] == b.raw


# ------------------------------------------------------------------------------------------------ syntaxes


def test_qwen_json_label_after_and_before():
    text = 'a {"bbox_2d": [12, 30, 80, 96], "label": "chair"} b {"label": "dog", "bbox_2d": [1, 2, 3, 4]}'
    boxes = find_boxes(text)
    assert coords(boxes) == [(12, 30, 80, 96), (1, 2, 3, 4)]
    assert labels(boxes) == ["chair", "dog"]
    assert [b.raw for b in boxes] == ["[12, 30, 80, 96]", "[1, 2, 3, 4]"]
    assert boxes[0].box == Box(12, 30, 80, 96, "chair")
    assert_spans(text, boxes)


def test_grit_repeated_key_object():
    text = '{"bbox_2d": [1, 2, 3, 4], "label": "a", "bbox_2d": [5, 6, 7, 8], "label": "b"}'
    boxes = find_boxes(text)
    assert coords(boxes) == [(1, 2, 3, 4), (5, 6, 7, 8)]
    assert labels(boxes) == ["a", "b"]
    assert_spans(text, boxes)


def test_grit_repeated_key_multiline_with_trailing_unlabelled_box():
    text = (
        '<think> Counting them \n{\n  "bbox_2d": [142, 314, 299, 447],\n  "label": "cup",\n'
        '  "bbox_2d": [0, 439, 58, 531],\n  "label": "mug",\n  "bbox_2d": [9, 9, 19, 19]\n}\n</think>'
    )
    boxes = parse(text).boxes
    assert labels(boxes) == ["cup", "mug", None]
    assert len(parse(text).valid_boxes) == 3


def test_label_first_repeated_object_pairs_each_label_with_following_box():
    boxes = find_boxes('{"label": "a", "bbox_2d": [1, 2, 3, 4], "label": "b", "bbox_2d": [5, 6, 7, 8]}')
    assert labels(boxes) == ["a", "b"]


def test_json_list_of_objects_and_nested_bbox_lists():
    text = '[{"bbox_2d": [1, 2, 3, 4], "label": "x"}, {"bbox_2d": [[5, 6, 7, 8], [9, 10, 11, 12]], "label": "y"}]'
    boxes = find_boxes(text)
    assert coords(boxes) == [(1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12)]
    assert labels(boxes) == ["x", "y", "y"]
    assert_spans(text, boxes)


def test_escaped_and_single_quoted_labels():
    boxes = find_boxes(
        '{"bbox_2d": [1, 2, 3, 4], "label": "a \\"big\\" cup"} {\'bbox_2d\': [1, 2, 5, 6], \'label\': \'pot\'}'
    )
    assert labels(boxes) == ['a "big" cup', "pot"]


def test_internvl_ref_box_double_and_single_brackets():
    text = "see <ref>chair</ref> <box>[[142, 314, 299, 447], [0, 439, 58, 531]]</box> and <box>[1, 2, 3, 4]</box>"
    boxes = find_boxes(text)
    assert coords(boxes) == [(142, 314, 299, 447), (0, 439, 58, 531), (1, 2, 3, 4)]
    assert labels(boxes) == ["chair", "chair", None]
    assert_spans(text, boxes)


def test_box_with_bare_quadruple_and_qwen_vl_point_pairs():
    boxes = find_boxes("<ref>cat</ref><box>10, 20, 30, 40</box> <ref>dog</ref><box>(1,2),(30,40)</box>")
    assert coords(boxes) == [(10, 20, 30, 40), (1, 2, 30, 40)]
    assert labels(boxes) == ["cat", "dog"]


def test_bare_lists_and_quadruples_ints_floats_negatives():
    text = "the cup [1, 2, 3, 4] and 5,6,7,8 then [0.5, 1.25, 10.0, 20] and -3, 4, 10, 12."
    boxes = find_boxes(text)
    assert coords(boxes) == [(1, 2, 3, 4), (5, 6, 7, 8), (0.5, 1.25, 10.0, 20), (-3, 4, 10, 12)]
    assert all(b.label is None for b in boxes)
    assert_spans(text, boxes)


def test_bbox_2d_list_is_not_double_counted():
    assert len(find_boxes('{"bbox_2d": [1, 2, 3, 4]}')) == 1
    assert len(find_boxes("<box>[[1, 2, 3, 4]]</box>")) == 1
    assert len(find_boxes("[1, 2, 3, 4]")) == 1


def test_bare_lists_without_four_numbers_are_not_boxes():
    assert find_boxes("[1, 2] and [1, 2, 3, 4, 5] and the year 2024") == []


def test_numbers_inside_words_are_not_quadruples():
    assert find_boxes("version v1.5, 2, 3, 4 and item a-1,2,3,4 and x12, 3, 4, 5") == []


def test_label_text_is_not_scanned_for_boxes():
    boxes = find_boxes('{"bbox_2d": [1, 2, 3, 4], "label": "shelf 1, 2, 3, 4"}')
    assert coords(boxes) == [(1, 2, 3, 4)]
    assert labels(boxes) == ["shelf 1, 2, 3, 4"]


# ------------------------------------------------------------------------------------------------ invalid boxes


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"bbox_2d": [1, 2, 3], "label": "a"}', "3 numbers"),
        ('{"bbox_2d": [1, 2, 3, 4, 5]}', "5 numbers"),
        ('{"bbox_2d": []}', "0 numbers"),
        ('{"bbox_2d": [NaN, 1, 2, 3]}', "not a list of 4 numbers"),
        ('{"bbox_2d": null}', "not a list of 4 numbers"),
        ('{"bbox_2d": }', "no value"),
        ('{"bbox_2d": [5, 5, 5, 9]}', "zero area"),
        ('{"bbox_2d": [0, 0, 100000000, 5]}', "absurdly large"),
        ("<box>[[1, 2, 3]]</box>", "3 numbers"),
        ("<box>somewhere</box>", "no coordinates inside <box>"),
        ("<ref>x</ref><box>[[1, 2", "unclosed <box>"),
    ],
)
def test_invalid_boxes_are_reported_with_a_reason(text, reason):
    boxes = find_boxes(text)
    assert len(boxes) == 1
    assert boxes[0].box is None
    assert reason in boxes[0].error
    assert_spans(text, boxes)


def test_invalid_box_keeps_its_label_and_chain_lists_it():
    c = parse(
        '<think> {"bbox_2d": [1, 2, 3], "label": "a"} {"bbox_2d": [1, 2, 30, 40], "label": "b"} </think>'
    )
    assert [b.label for b in c.invalid_boxes] == ["a"]
    assert c.valid_boxes == [Box(1, 2, 30, 40, "b")]


def test_swapped_corners_are_fixed():
    assert find_boxes("[30, 40, 10, 20]")[0].box == Box(10, 20, 30, 40)


# ------------------------------------------------------------------------------------------------ frames


def test_frame_clipping_and_outside_frame():
    frame = Frame.pixels(100, 100)
    inside, outside, absurd = find_boxes("[-10, 5, 150, 50] [200, 200, 300, 300] [0, 0, 5000, 10]", frame)
    assert inside.box == Box(0, 5, 100, 50)
    assert outside.box is None and "zero area after clipping" in outside.error
    assert absurd.box is None and "far outside" in absurd.error


def test_pixel_mapping_qwen_resized_frame():
    frame = Frame.qwen_resized(1000, 500)  # resized to 1008 x 504
    c = parse("<think> the dog [0, 0, 504, 252] </think>", frame)
    assert c.frame is frame
    (px,) = c.pixel_boxes()
    assert px.x2 == pytest.approx(500) and px.y2 == pytest.approx(250)
    assert c.valid_boxes == [Box(0, 0, 504, 252)]


def test_pixel_mapping_norm1000_frame():
    c = parse("<think> <ref>dog</ref><box>[[500, 500, 1000, 1000]]</box> </think>", Frame.norm1000(640, 480))
    assert c.pixel_boxes() == [Box(320, 240, 640, 480, "dog")]


def test_pixel_boxes_identity_without_frame():
    c = parse("<think> [1, 2, 3, 4] </think>")
    assert c.pixel_boxes() == c.valid_boxes == [Box(1, 2, 3, 4)]


# ------------------------------------------------------------------------------------------------ chain structure

GOOD = '<think> I see {"bbox_2d": [1, 2, 30, 40], "label": "cat"} </think>\n<rethink> one cat </rethink>\n<answer> 1 </answer>'


def test_parse_sections_spans_and_flags():
    c = parse(GOOD)
    assert c.think.strip().startswith("I see") and c.rethink == " one cat " and c.answer == " 1 "
    for part, span in ((c.think, c.think_span), (c.rethink, c.rethink_span), (c.answer, c.answer_span)):
        assert GOOD[span[0] : span[1]] == part
    assert c.tags_ok and c.strict_format and c.reasoning_ok
    assert_spans(GOOD, c.boxes)


@pytest.mark.parametrize(
    ("text", "tags_ok"),
    [
        (
            "  \n<think> a b </think><rethink> r </rethink><answer> x",
            True,
        ),  # </answer> optional, leading space ok
        ("Sure! <think> a </think><rethink> r </rethink><answer> x </answer>", False),  # text before <think>
        ("<think> a </think><rethink> r </rethink><answer> x </answer></answer>", False),
        ("<think> a </think><rethink> r </rethink></answer><answer> x", False),
        ("<think> a </think><think> b </think><rethink> r </rethink><answer> x", False),
        ("<rethink> r </rethink><think> a </think><answer> x", False),
        ("<think> a </think><rethink> r </rethink>", False),  # no answer
        ("<think> a </think><rethink> r </rethink><answer> x </answer><answer> y", False),
        ("", False),
    ],
)
def test_tags_ok_edge_cases(text, tags_ok):
    assert parse(text).tags_ok is tags_ok


def test_strict_format_needs_a_valid_box_in_think():
    assert not parse("<think> no boxes </think><rethink> r </rethink><answer> 1").strict_format
    assert not parse("<think> [1, 2, 3] [5, 5, 5, 9] </think><rethink> r </rethink><answer> 1").strict_format
    outside = "<think> none here </think><rethink> [1, 2, 30, 40] </rethink><answer> 1"
    assert not parse(outside).strict_format and parse(outside).boxes == ()
    assert parse("<think> [1, 2, 30, 40] </think><rethink> r </rethink><answer> 1").strict_format


def test_reasoning_ok_ignores_answer_tags():
    assert parse("<think> a </think><rethink> r </rethink>").reasoning_ok
    assert not parse("<think> a </think><rethink> r </rethink><rethink>").reasoning_ok


def test_lenient_sections_on_broken_chains():
    c = parse("<think> [1, 2, 30, 40] <rethink> r <answer> final")
    assert c.think == " [1, 2, 30, 40] " and c.rethink == " r " and c.answer == " final"
    assert len(c.boxes) == 1 and not c.tags_ok
    c = parse("no tags at all [1, 2, 30, 40]")
    assert c.think is c.rethink is c.answer is None and c.boxes == ()


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        parse(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<answer> yes </answer>", "yes"),
        ("<answer> a <answer> b </answer> c", "b"),
        ("<answer>\n5\n", "5"),
        ("  just text  ", "just text"),
        ("", ""),
    ],
)
def test_answer_text(text, expected):
    assert answer_text(text) == expected


# ------------------------------------------------------------------------------------------------ prompts


def test_prompt_suffixes_are_verbatim():
    assert QWEN_GRIT_SUFFIX == (
        " First, think between <think> and </think> while output necessary coordinates needed to answer the "
        "question in JSON with key 'bbox_2d'. Then, based on the thinking contents and coordinates, rethink "
        "between <rethink> </rethink> and then answer the question after <answer>.\n"
    )
    assert INTERNVL_GRIT_SUFFIX == (
        " First, think between <think> and </think> while output necessary coordinates needed to answer the "
        "question between <box> and </box>. Then, based on the thinking contents and coordinates, rethink "
        "between <rethink> </rethink> and then answer the question after <answer>.\n"
    )
    assert grit_prompt("How many cups?", "qwen") == "Question: How many cups?" + QWEN_GRIT_SUFFIX
    assert grit_prompt("Q?", "internvl").endswith("<answer>.\n")
    with pytest.raises(ValueError, match="internvl"):
        grit_prompt("Q?", "llava")


# ------------------------------------------------------------------------------------------------ rendering


def test_render_box_styles():
    assert render_box(Box(1.4, 2.6, 30, 40), "cup", "qwen") == '{"bbox_2d": [1, 3, 30, 40], "label": "cup"}'
    assert render_box([1, 2, 3, 4], None, "qwen") == '{"bbox_2d": [1, 2, 3, 4]}'
    assert render_box([1, 2, 3, 4], "cup", "internvl") == "<ref>cup</ref><box>[[1, 2, 3, 4]]</box>"
    with pytest.raises(ValueError, match="style"):
        render_box([1, 2, 3, 4], "cup", "yaml")
    with pytest.raises(ValueError, match="4 coordinates"):
        render_box([1, 2, 3], "cup")
    with pytest.raises(ValueError, match="<ref>"):
        render_box([1, 2, 3, 4], "a<b", "internvl")


@pytest.mark.parametrize("style", ["qwen", "internvl"])
def test_render_chain_round_trip(style):
    text = render_chain(
        ["I see", Box(10, 20, 30, 40, "cup"), "and", ([50, 60, 70, 80], "dog")], "two", "2", style
    )
    c = parse(text)
    assert c.tags_ok and c.strict_format
    assert [(b.box.xyxy, b.label) for b in c.boxes] == [([10, 20, 30, 40], "cup"), ([50, 60, 70, 80], "dog")]
    assert c.rethink.strip() == "two" and answer_text(text) == "2"


_labels = st.one_of(
    st.none(),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="<>"), min_size=1, max_size=30
    ).map(str.strip),
).filter(lambda s: s is None or s != "")
_boxes = st.tuples(
    st.integers(0, 5000), st.integers(0, 5000), st.integers(1, 500), st.integers(1, 500), _labels
).map(lambda t: (Box(t[0], t[1], t[0] + t[2], t[1] + t[3]), t[4]))


@settings(max_examples=300, deadline=None)
@given(
    boxes=st.lists(_boxes, max_size=8),
    words=st.lists(st.sampled_from(["the", "cup", "is", "left", "of"]), max_size=5),
    style=st.sampled_from(["qwen", "internvl"]),
)
def test_render_parse_round_trip_property(boxes, words, style):
    parts: list = [*words]
    for box, label in boxes:
        parts += ["then", (box.xyxy, label)]
    text = render_chain(parts, "ok", "x", style)
    c = parse(text)
    assert [(b.box.xyxy, b.label) for b in c.boxes] == [(box.xyxy, label) for box, label in boxes]
    assert_spans(text, c.boxes)


# ------------------------------------------------------------------------------------------------ robustness


@pytest.mark.parametrize(
    "text",
    [
        "[1,2,3," * 15_000,
        "[" * 100_000,
        "[[" * 20_000 + "1,2,3,4" + "]]" * 20_000,
        "1," * 50_000,
        '"bbox_2d": [' * 10_000,
        "<box>" * 20_000,
        "(1,2)," * 20_000,
        "9" * 100_000,
    ],
)
def test_adversarial_inputs_are_fast(text):
    t = time.perf_counter()
    c = parse("<think>" + text + "</think>")
    find_boxes(text)
    assert time.perf_counter() - t < 2.0
    assert len(c.boxes) <= MAX_BOXES
    assert_spans(c.text, c.boxes)


def test_box_count_is_capped():
    boxes = find_boxes("[1, 2, 3, 4] " * (MAX_BOXES + 500))
    assert len(boxes) == MAX_BOXES


_num = st.one_of(st.integers(-100, 3000), st.floats(-100, 3000, allow_nan=False).map(lambda v: round(v, 2)))


@settings(max_examples=300, deadline=None)
@given(
    nums=st.lists(_num, min_size=3, max_size=5),
    label=st.text(st.characters(blacklist_categories=("Cs",)), max_size=15),
    label_first=st.booleans(),
)
def test_one_token_objects_match_the_general_tokens(nums, label, label_first):
    # Objects with "bbox_2d" in double quotes are read as one token; 'bbox_2d' in single quotes goes through the
    # key, list and label tokens. Both must read the same boxes.
    lst = "[" + ", ".join(map(str, nums)) + "]"
    lab = json.dumps(label, ensure_ascii=False)
    fast = f'{{"label": {lab}, "bbox_2d": {lst}}}' if label_first else f'{{"bbox_2d": {lst}, "label": {lab}}}'
    slow = fast.replace('"bbox_2d"', "'bbox_2d'")
    a, b = find_boxes(fast), find_boxes(slow)
    assert [(x.raw, x.span, x.coords, x.label, x.box, x.error) for x in a] == [
        (x.raw, x.span, x.coords, x.label, x.box, x.error) for x in b
    ]
    assert len(a) == 1 and a[0].label == (label.strip() or None)


# ------------------------------------------------------------------------------------------------ properties

TAGS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>"]
filler = st.one_of(
    st.text(max_size=8), st.sampled_from([" ", "\n", "x", "<think", "answer>", "</answer", "[1, 2, 3, 4]"])
)


@st.composite
def well_formed(draw) -> str:
    """Texts whose GRIT tags occur once each, in order, with junk in between."""
    parts = [draw(st.sampled_from(["", " ", "\n", "junk "]))]
    for tag in TAGS[: draw(st.sampled_from([5, 6]))]:
        parts += [tag, draw(filler).replace("<", "")]
    return "".join(parts)


def sections_from_the_tag_list(text: str):
    """parse's sections and tag flags, defined from the list of all tags in the text."""
    tags = [(m.group(), m.start()) for m in re.finditer(r"</?(?:think|rethink|answer)>", text)]
    names = tuple(name for name, _ in tags)

    def section(open_tag, close_tag, stops, last=False):
        opens = [p for name, p in tags if name == open_tag]
        if not opens:
            return None
        start = (opens[-1] if last else opens[0]) + len(open_tag)
        after = [(name, p) for name, p in tags if p >= start]
        end = next((p for name, p in after if name == close_tag), None)
        if end is None:
            end = next((p for name, p in after if name in stops), len(text))
        return start, end

    tags_ok = names in (tuple(TAGS[:5]), tuple(TAGS)) and not text[: tags[0][1]].strip()
    reasoning = tuple(n for n in names if n in TAGS[:4]) == tuple(TAGS[:4])
    return (
        section("<think>", "</think>", ("<rethink>", "<answer>")),
        section("<rethink>", "</rethink>", ("<answer>",)),
        section("<answer>", "</answer>", (), last=True),
        tags_ok,
        tags_ok or reasoning,
    )


@settings(max_examples=2000, deadline=None)
@given(st.one_of(well_formed(), st.lists(st.one_of(st.sampled_from(TAGS), filler), max_size=14).map("".join)))
def test_sections_and_tag_flags_follow_the_tag_list(text):
    c = parse(text)
    assert (
        c.think_span,
        c.rethink_span,
        c.answer_span,
        c.tags_ok,
        c.reasoning_ok,
    ) == sections_from_the_tag_list(text)
    span = c.answer_span
    assert answer_text(text) == (text if span is None else text[span[0] : span[1]]).strip()


def test_the_common_box_forms_and_their_neighbours():
    text = (
        '<think> a {"bbox_2d": [1, 2, 30, 40], "label": "dog"} b <ref>cat</ref><box>[[5, 6, 70, 80]]</box> '
        '{"bbox_2d": [9, 9, 9, 9]} "quoted" (1) [2] #3 </think>'
    )
    assert [(b.coords, b.label, b.error is None) for b in parse(text).boxes] == [
        ((1, 2, 30, 40), "dog", True),
        ((5, 6, 70, 80), "cat", True),
        ((9, 9, 9, 9), None, False),
    ]
    assert [(b.coords, b.label) for b in find_boxes('"label": "x" {"bbox_2d": [1, 2, 3, 4]}')] == [
        ((1, 2, 3, 4), None)
    ]


def test_a_scan_cut_at_a_bbox_list_reports_it_instead_of_crashing():
    # MAX_SCAN_CHARS can end the scanned region right at the '[' of a "bbox_2d" value
    key = '{"bbox_2d": '
    text = " " * (MAX_SCAN_CHARS - len(key)) + key + "[[1, 2, 3, 4], [5, 6, 7, 8]]}"
    assert [(b.raw, b.box, b.error) for b in find_boxes(text)] == [("", None, "bbox_2d has no value")]
