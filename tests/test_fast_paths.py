"""The speed-ups in chain / rewards / the rule judge give exactly what the general code paths give.

Each fast path is checked against the general computation it replaces (kept here, or still in the module) on
generated input, so a later change to one side cannot silently drift from the other.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rewards_fuzz import batch, coord, fragment, frames

from grit import chain, rewards
from grit.boxes import Frame, InvalidBox, normalize_box
from grit.judge import rule

TAGS = ["<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>"]
filler = st.one_of(fragment, st.sampled_from([" ", "\n", "x", "<think", "answer>", "</answer"]))


@st.composite
def well_formed(draw) -> str:
    """Texts whose GRIT tags occur once each, in order (the fast split's domain), with junk in between."""
    n_tags = draw(st.sampled_from([5, 6]))
    parts = [draw(st.sampled_from(["", " ", "\n", "junk "]))]
    for tag in TAGS[:n_tags]:
        parts += [tag, draw(filler).replace("<", "")]
    return "".join(parts)


def split_reference(text: str):
    """The sections and tag flags from the list of all tags, as parse first computed them."""
    tags = [(m.group(), m.start()) for m in chain._TAG_RE.finditer(text)]
    names = tuple(name for name, _ in tags)

    def find(start, wanted):
        return next((p for name, p in tags if p >= start and name in wanted), None)

    def section(open_tag, close_tag, stops, last=False):
        opens = [p for name, p in tags if name == open_tag]
        if not opens:
            return None
        start = (opens[-1] if last else opens[0]) + len(open_tag)
        end = find(start, (close_tag,))
        if end is None and stops:
            end = find(start, stops)
        return start, len(text) if end is None else end

    tags_ok = names in chain._WELL_FORMED and not text[: tags[0][1]].strip()
    return (
        section("<think>", "</think>", ("<rethink>", "<answer>")),
        section("<rethink>", "</rethink>", ("<answer>",)),
        section("<answer>", "</answer>", (), last=True),
        tags_ok,
        tags_ok or tuple(n for n in names if n in chain._REASONING) == chain._REASONING,
    )


tag_soup = st.lists(st.one_of(st.sampled_from(TAGS), filler), max_size=14).map("".join)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(well_formed(), tag_soup))
def test_tag_splits_match_the_tag_list_reference(text):
    names = tuple(chain._TAG_RE.findall(text))
    expected = split_reference(text)
    assert chain._split_general(text, names) == expected
    if names in chain._WELL_FORMED:
        assert chain._split_well_formed(text, len(names) == 6) == expected[:4]
        assert expected[4]
    c = chain.parse(text)
    assert (c.think_span, c.rethink_span, c.answer_span, c.tags_ok, c.reasoning_ok) == expected


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(well_formed(), st.lists(filler, max_size=12).map("".join)))
def test_parse_builds_the_same_objects_as_the_dataclass_init(text):
    c = chain.parse(text)
    fields = [f.name for f in dataclasses.fields(chain.GroundedChain)]
    assert list(vars(c)) == fields
    assert c == chain.GroundedChain(**{f: getattr(c, f) for f in fields})
    for b in c.boxes:
        box_fields = [f.name for f in dataclasses.fields(chain.ChainBox)]
        assert list(vars(b)) == box_fields
        assert b == chain.ChainBox(**{f: getattr(b, f) for f in box_fields})


scan_text = st.one_of(
    st.lists(
        st.one_of(fragment, st.sampled_from(["#3 ", "2 dogs", "a1, 2, 3, 4", "-1, 2, 3, 4", ".5, 1"])),
        max_size=10,
    ).map("".join),
    st.text(alphabet="0123456789-.,; \n[](){}<>\"'#abx_é٣²", max_size=60),
)


def records(text: str, start: int, end: int, trigger) -> list:
    sc = chain._Scanner(text)
    sc.scan(start, end, trigger)
    return sc.recs


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(scan_text, st.integers(0, 80), st.integers(0, 80))
def test_box_scan_shortcuts_find_what_the_plain_scan_finds(text, a, b):
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    expected = records(text, start, end, chain._ANY_TRIGGER_RE)  # every digit and '-' tried, as before
    assert records(text, start, end, chain._TRIGGER_RE) == expected
    if not chain._may_have_boxes(text, start, end):
        assert expected == []


strict_coord = st.one_of(st.integers(-50, 700), st.integers(-(10**13), 10**13))
strict_label = st.one_of(
    st.none(), st.sampled_from(["dog", " cup ", "", 'a "b"', "x\\y", "<b>", "x" * 201]), st.text(max_size=6)
)


@st.composite
def strict_box(draw) -> str:
    """Boxes as render_box writes them (the scanner's fast form), sometimes bent just out of it."""
    coords = draw(st.lists(strict_coord, min_size=4, max_size=4))
    label = draw(strict_label)
    style = draw(st.sampled_from(["qwen", "internvl"]))
    if style == "internvl" and label is not None and ("<" in label or ">" in label):
        label = None
    xs = ", ".join(map(str, coords))
    if style == "qwen":
        lab = "" if label is None else ', "label": ' + json.dumps(label, ensure_ascii=False)
        text = '{"bbox_2d": [' + xs + "]" + lab + "}"
    else:
        text = ("" if label is None else f"<ref>{label}</ref>") + f"<box>[[{xs}]]</box>"
    bend = draw(st.integers(0, 9))
    if bend == 0:
        text = text.replace(", ", ",", 1)
    elif bend == 1:
        text = text.replace("]", ".5]", 1)
    elif bend == 2:
        text = "[" + text + "]"
    return text


scan_piece = st.one_of(
    strict_box(),
    fragment,
    st.sampled_from(
        [" the dog ", "#3 ", "2 dogs", "a1, 2, 3, 4", "1, 2, 3, 4", ", ", "box", "\n", '"label": "x"']
    ),
)
strict_text = st.lists(scan_piece, max_size=8).map("".join)
test_frames = st.one_of(st.none(), st.builds(Frame.norm1000, st.integers(20, 2000), st.integers(20, 2000)))


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(strict_text, st.integers(0, 400), st.integers(0, 400), test_frames)
def test_simple_scan_finds_what_the_general_scan_finds(text, a, b, frame):
    start, end = sorted((min(a, len(text)), min(b, len(text))))
    if a % 3 == 0:
        start, end = 0, len(text)
    expected = chain._scan_general(text, start, end, frame)
    fast = chain._scan_simple(text, start, end, frame)
    if fast is not None:
        assert fast == expected
        assert repr(fast) == repr(expected)  # ints stay ints
        assert [list(vars(b)) for b in fast] == [list(vars(b)) for b in expected]
    assert chain._scan(text, start, end, frame) == expected


def test_simple_scan_handles_the_common_boxes_itself():
    text = (
        '<think> a {"bbox_2d": [1, 2, 30, 40], "label": "dog"} b <ref>cat</ref><box>[[5, 6, 70, 80]]</box> '
        '{"bbox_2d": [9, 9, 9, 9]} "quoted" (1) [2] #3 </think>'
    )
    fast = chain._scan_simple(text, 7, text.index("</think>"), None)
    assert fast is not None and [(b.coords, b.label, b.error is None) for b in fast] == [
        ((1, 2, 30, 40), "dog", True),
        ((5, 6, 70, 80), "cat", True),
        ((9, 9, 9, 9), None, False),
    ]
    assert chain._scan_simple('"label": "x" {"bbox_2d": [1, 2, 3, 4]}', 0, 40, None) is None


number = st.one_of(st.integers(-(10**12), 10**12), st.floats(-1e8, 1e8, allow_nan=False))


@settings(max_examples=2000, deadline=None)
@given(st.lists(number, min_size=4, max_size=4), st.none() | st.text(max_size=5))
def test_plain_box_agrees_with_normalize_box(coords, label):
    fast = chain._plain_box(tuple(coords), label)
    try:
        slow = normalize_box(coords, None, label)
    except InvalidBox:
        slow = None
    assert fast is None or fast == slow
    assert (fast is None) == (slow is None)


# ------------------------------------------------------------------------------------------------ judge


def normalize_reference(text: str) -> list[str]:
    """normalize_text without its shortcut: every substitution always runs."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = re.sub(r"(?<=\d)([.:])(?=\d)", lambda m: "\x00" if m.group(1) == "." else "\x01", text)
    text = rule._PUNCT_RE.sub(" ", text).replace("\x00", ".").replace("\x01", ":")
    words = [w.strip("'") for w in text.split()]
    return [rule._singular(w) for w in words if w]


def singular_reference(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


answerish = st.one_of(
    st.text(max_size=24),
    st.text(alphabet="ab yesnotwenty1234567890.,:-/'’()<>!?=\x00\x01ſKİ²٣", max_size=24),
    st.sampled_from(["2", "0012", "two", "The answer is 3", "anſwer: 4", "x = 5", "1,000 dogs", "3:30", "٣"]),
)


@settings(max_examples=3000, deadline=None)
@given(answerish)
def test_judge_text_shortcuts_match_the_full_computation(text):
    assert rule.normalize_text(text) == normalize_reference(text)
    for w in text.split():
        assert rule._singular(w) == singular_reference(w)
    if not rule._may_have_number_words(text):
        assert rule._WORDS_RE.search(text) is None
    digits = [
        (m.start(), m.end(), rule._digits_to_number(m.group(1), m.group(2)))
        for m in rule._DIGITS_RE.finditer(text)
    ]
    if text.isdigit() and text.isascii():
        assert rule.number_matches(text) == digits
    marker = list(re.finditer(r"(?:answer\s*(?:is|:|=)|=)\s*", text, re.IGNORECASE))
    assert bool(rule._after_answer_marker(text)) <= bool(marker)
    assert rule._strip_tags(text) == rule._TAG_RE.sub(" ", text).strip()


@settings(max_examples=2000, deadline=None)
@given(answerish, st.sampled_from([None, "text", "integer", "list", "bool"]))
def test_cached_gold_kind_matches_uncached(answer, answer_type):
    assert rule._gold_kind_cached(answer, answer_type) == rule._gold_kind(answer, answer_type)


def judge_reference(prediction, answer, question=None, answer_type=None, precision=None) -> bool:
    """judge_answer without choices and without its shortcut for a prediction equal to the ground truth."""
    pred, answer = rule._strip_tags(str(prediction or "")), rule._strip_tags(str(answer))
    if not pred or not answer:
        return False
    kind, gold = rule._gold_kind(answer, answer_type)
    return rule._judge_kind(pred, answer, question, precision, kind, gold)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        answerish,
        st.sampled_from(["Answer: dog", "the answer is the cup", "So the answer: left", "final answer = no"]),
    ),
    st.sampled_from([None, "text", "integer", "float", "list", "bool"]),
    st.one_of(
        st.none(), st.sampled_from(["What is it?", "Answer: the dog", "Is the answer the cup?"]), answerish
    ),
    st.sampled_from([None, 0, 1, 2]),
)
def test_judging_the_ground_truth_itself_matches_the_full_judge(answer, answer_type, question, precision):
    for pred in (answer, f"<answer> {answer} </answer>", "Answer: " + answer, answer.upper()):
        got = rule.judge_answer(pred, answer, question=question, answer_type=answer_type, precision=precision)
        assert got == judge_reference(pred, answer, question, answer_type, precision)


# ---------------------------------------------------------------------------------------------- rewards


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch())
def test_batch_column_and_frame_lookups_match_per_row_lookups(data):
    comps, kwargs = data
    n = len(comps)
    frames = rewards._frames_getter(kwargs, n)
    for name in ("answer", "dataset", "question", "width", "height", "frame", "choices"):
        assert rewards._columns(kwargs, name, n) == [rewards._column(kwargs, name, i) for i in range(n)]
    for i in range(n):
        try:
            expected = rewards._frames(kwargs, i)
        except (ValueError, OverflowError) as exc:  # odd sizes: both must fail alike
            expected = type(exc)
        try:
            got = frames(i)
        except (ValueError, OverflowError) as exc:
            got = type(exc)
        assert got == expected


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "the", "dog"]), max_size=60).map(" ".join))
def test_repetition_counts_word_8grams(text):
    words = text.split()
    grams = [tuple(words[i : i + 8]) for i in range(len(words) - 7)]
    expected = 0.5 if len(grams) <= 1 else 0.5 * len(set(grams)) / len(grams)
    assert rewards.repetition([text]) == [expected]


def repetition_reference(text: str) -> float:
    words = text.split()[: rewards.MAX_WORDS]
    grams = [tuple(words[i : i + 8]) for i in range(len(words) - 7)]
    return 0.5 if len(grams) <= 1 else 0.5 * len(set(grams)) / len(grams)


word_lists = st.one_of(
    st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), max_size=120),
    st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=2), max_size=120),
    # a phrase repeated with some period, with noise around: repeats at every distance
    st.builds(
        lambda pre, unit, times, post: pre + unit * times + post,
        st.lists(st.sampled_from(["x", "y", "z"]), max_size=10),
        st.lists(
            st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]),
            min_size=1,
            max_size=12,
        ),
        st.integers(1, 6),
        st.lists(st.sampled_from(["x", "y", "z"]), max_size=10),
    ),
    st.builds(  # two copies of an 8-gram at any distance in otherwise unique words
        lambda n, i, d: (
            [f"w{k}" for k in range(n)][:i]
            + [f"r{k}" for k in range(8)]
            + [f"u{k}" for k in range(d)]
            + [f"r{k}" for k in range(8)]
        ),
        st.integers(0, 30),
        st.integers(0, 30),
        st.integers(0, 20),
    ),
)


@settings(max_examples=3000, deadline=None)
@given(word_lists, st.sampled_from([" ", "\n", "  "]))
def test_repetition_sample_never_misses_a_repeated_8gram(words, sep):
    grams = [tuple(words[i : i + 8]) for i in range(len(words) - 7)]
    if len(words) >= 8 and rewards._8grams_distinct(words):
        assert len(set(grams)) == len(grams)
    text = sep.join(words)
    assert rewards.repetition([text]) == [repetition_reference(text)]


def test_repetition_sample_decides_texts_without_repeats():
    words = [f"w{i}" for i in range(60)]
    assert rewards._8grams_distinct(words)
    assert not rewards._8grams_distinct(words + words[:8])


# The rewards as first written, one row at a time: the batched and shortcut versions must give the same floats.


def reasoning_format_reference(comps: list) -> list[float]:
    return [rewards._reasoning_points(rewards.completion_text(c)) / 5 * 0.5 for c in comps]


def region_format_reference(comps: list, kwargs: dict) -> list[float]:
    out = []
    for i, comp in enumerate(comps):
        c = chain.parse(rewards.completion_text(comp))
        ok = c.reasoning_ok and rewards._n_valid_boxes(c, rewards._frames(kwargs, i), stop_at=1) > 0
        out.append(0.5 if ok else 0.0)
    return out


def target_counting_reference(comps: list, kwargs: dict) -> list[float]:
    out = []
    for i, comp in enumerate(comps):
        ans = rewards._column(kwargs, "answer", i)
        score = 0.0
        counting = rewards.is_counting_item(
            rewards._column(kwargs, "dataset", i), rewards._column(kwargs, "question", i)
        )
        if ans is not None and not isinstance(ans, bool) and counting:
            target = rewards._answer_count(str(ans)[:200])
            if target is not None:
                c = chain.parse(rewards.completion_text(comp))
                if c.reasoning_ok and rewards._n_valid_boxes(c, rewards._frames(kwargs, i)) == target:
                    score = 1.0
        out.append(score)
    return out


def answer_accuracy_reference(comps: list, kwargs: dict) -> list[float]:
    out = []
    for i, comp in enumerate(comps):
        text = rewards.completion_text(comp)
        if "<answer>" not in text:
            out.append(0.0)
            continue
        ok = rewards._default_judge(
            chain.answer_text(text),
            str(kwargs["answer"][i]),
            question=rewards._column(kwargs, "question", i),
            choices=rewards._column(kwargs, "choices", i),
            answer_type=rewards._column(kwargs, "answer_type", i),
        )
        out.append(1.0 if ok else 0.0)
    return out


def answer_bleu_reference(comps: list, kwargs: dict) -> list[float]:
    out = []
    for i, comp in enumerate(comps):
        text = rewards.completion_text(comp)
        score = 0.0
        if "<answer>" in text:
            score = 0.1 * bleu1_reference(chain.answer_text(text)[:10_000], str(kwargs["answer"][i])[:10_000])
        out.append(score)
    return out


def outcome(fn, *args):
    try:
        return fn(*args)
    except (ValueError, OverflowError) as exc:  # odd columns: both sides must fail alike
        return type(exc)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch(), st.booleans())
def test_rewards_match_their_row_by_row_definitions(data, parsed_first):
    comps, kwargs = data
    rewards._parse_cached.cache_clear()
    if parsed_first:  # the step's parses are there (later rewards of a step) or not (the first one)
        rewards.grounded_region_format(comps, **kwargs)
    assert rewards.grounded_reasoning_format(comps, **kwargs) == reasoning_format_reference(comps)
    assert outcome(lambda: rewards.grounded_region_format(comps, **kwargs)) == outcome(
        region_format_reference, comps, kwargs
    )
    assert outcome(lambda: rewards.grounded_target_counting(comps, **kwargs)) == outcome(
        target_counting_reference, comps, kwargs
    )
    assert rewards.answer_accuracy(comps, **kwargs) == answer_accuracy_reference(comps, kwargs)
    assert rewards.answer_bleu(comps, **kwargs) == answer_bleu_reference(comps, kwargs)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.lists(coord, min_size=4, max_size=4), max_size=3), st.lists(frames, max_size=2))
def test_valid_box_count_matches_fits(box_coords, frame_list):
    boxes = []
    for c in box_coords:
        try:
            box = normalize_box(c)
        except InvalidBox:
            box = None
        boxes.append(chain.ChainBox("", (0, 0), tuple(c), None, box, None if box else "invalid"))
    frame_list = tuple(frame_list)
    valid = [
        b.box is not None and (not frame_list or any(rewards.fits(b.box, f) for f in frame_list))
        for b in boxes
    ]
    assert rewards._count_valid_boxes(boxes, frame_list) == sum(valid)
    assert (rewards._count_valid_boxes(boxes, frame_list, stop_at=1) > 0) == any(valid)


reasoning_text = st.lists(
    st.one_of(st.sampled_from([*TAGS[:4], "think>", "rethink>", "<", " ", "a b", "x"]), filler), max_size=10
).map("".join)


@st.composite
def nearly_well_formed(draw) -> str:
    """A well-formed chain with a few tags or tag endings inserted, repeated or dropped."""
    parts = ["<think>", " a b ", "</think>", " ", "<rethink>", " c ", "</rethink>", "<answer>", " 1 "]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(parts)))
        if draw(st.booleans()) and i < len(parts):
            del parts[i]
        else:
            parts.insert(i, draw(st.sampled_from([*TAGS, "think>", "<think", " x "])))
    return "".join(parts)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(well_formed(), reasoning_text, nearly_well_formed()))
def test_reasoning_format_shortcut_matches_the_tag_loop(text):
    assert rewards.grounded_reasoning_format([text]) == reasoning_format_reference([text])


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(well_formed(), tag_soup))
def test_answer_part_with_and_without_the_step_parse(text):
    expected = chain.answer_text(text) if "<answer>" in text else None
    rewards._parse_cached.cache_clear()
    assert rewards._answer_part(text) == expected
    rewards._parse_cached.batch([text])
    assert rewards._answer_part(text) == expected


@settings(max_examples=1500, deadline=None)
@given(answerish)
def test_bleu1_of_the_reference_itself(reference):
    assert rewards.bleu1(reference, reference) == bleu1_reference(reference, reference)


def test_step_parses_parse_each_completion_once_and_keep_only_the_latest_batch(monkeypatch):
    calls = []
    real_parse = chain.parse
    monkeypatch.setattr(chain, "parse", lambda text, *a: calls.append(text) or real_parse(text, *a))
    rewards._parse_cached.cache_clear()
    step1 = [
        f'<think> {{"bbox_2d": [1, 2, 3, {i + 4}]}} </think><rethink> r </rethink><answer> 1'
        for i in range(3)
    ]
    kwargs = {"answer": ["1"] * 3, "dataset": ["tallyqa"] * 3}
    assert rewards.grounded_region_format(step1, **kwargs) == [0.5] * 3
    assert rewards.grounded_target_counting(step1, **kwargs) == [1.0] * 3
    assert sorted(calls) == sorted(step1)  # the second reward reused the first one's parses
    rewards.grounded_region_format(["<think> x </think>"])
    assert rewards._parse_cached.cache_info().currsize == 1  # step 1's chains are gone


def bleu1_reference(candidate: str, reference: str) -> float:
    cand = re.sub(r"[^a-zA-Z0-9\s]", " ", candidate).lower().split()
    ref = re.sub(r"[^a-zA-Z0-9\s]", " ", reference).lower().split()
    if not cand or not ref:
        return 0.0
    matched = sum(min(cand.count(w), ref.count(w)) for w in set(cand))
    bp = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return matched / len(cand) * bp


@settings(max_examples=1500, deadline=None)
@given(answerish, st.one_of(answerish, st.text(alphabet="ab cd", min_size=190, max_size=230)))
def test_bleu1_with_cached_reference_counts_matches_direct_computation(candidate, reference):
    assert rewards.bleu1(candidate, reference) == bleu1_reference(candidate, reference)
    assert rewards.bleu1(candidate, reference) == bleu1_reference(candidate, reference)  # now from the cache


def test_a_scan_cut_at_a_bbox_list_reports_it_instead_of_crashing():
    # MAX_SCAN_CHARS can end the scanned region right at the '[' of a "bbox_2d" value
    text = '{"bbox_2d": [[1, 2, 3, 4], [5, 6, 7, 8]]}'
    boxes = chain._scan(text, 0, text.index("["), None)
    assert [(b.raw, b.box, b.error) for b in boxes] == [("", None, "bbox_2d has no value")]
