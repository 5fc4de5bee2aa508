"""The speed-ups in chain / rewards / the rule judge give exactly what the general code paths give.

Each fast path is checked against the general computation it replaces (kept here, or still in the module) on
generated input, so a later change to one side cannot silently drift from the other.
"""

from __future__ import annotations

import dataclasses
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rewards_fuzz import batch, fragment

from grit import chain, rewards
from grit.boxes import InvalidBox, normalize_box
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
