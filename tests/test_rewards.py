"""grit.rewards: each GRPO-GR reward on hand-written completions, TRL input forms, registry, exploits."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_rewards_fuzz import batch

from grit import rewards
from grit.rewards import (
    DEFAULT_WEIGHTS,
    GRPO_GR_REWARDS,
    RANGES,
    REGISTRY,
    TAGS_READ,
    answer_accuracy,
    answer_bleu,
    answer_format,
    bleu1,
    completion_text,
    get_rewards,
    grounded_answer_accuracy,
    grounded_reasoning_format,
    grounded_region_format,
    grounded_target_counting,
    make_answer_accuracy,
    repetition,
)

BOX = '{"bbox_2d": [10, 20, 110, 220], "label": "cup"}'
CLEAN = f"<think> I see the cups {BOX} here </think>\n<rethink> one cup </rethink>\n<answer> 1 </answer>"


def chain(think: str, rethink: str = "checked", answer: str = "1") -> str:
    return f"<think> {think} </think>\n<rethink> {rethink} </rethink>\n<answer> {answer} </answer>"


# ------------------------------------------------------------------------------------------------ inputs


def test_completion_forms():
    assert completion_text(CLEAN) == CLEAN
    assert completion_text([{"role": "assistant", "content": CLEAN}]) == CLEAN
    parts = [{"type": "text", "text": CLEAN[:10]}, {"type": "image"}, {"type": "text", "text": CLEAN[10:]}]
    assert completion_text([{"role": "assistant", "content": parts}]) == CLEAN
    assert completion_text([{"role": "assistant", "content": None}]) == ""
    assert completion_text(None) == ""
    assert completion_text(b"<answer> x") == "<answer> x"
    assert completion_text([{"role": "tool", "content": "t"}, {"role": "assistant", "content": "a"}]) == "a"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_reward_accepts_conversational_form_and_trl_extras(name):
    fn = REGISTRY[name]
    conv = [{"role": "assistant", "content": [{"type": "text", "text": CLEAN}]}]
    kwargs = {
        "answer": ["1"],
        "dataset": ["tallyqa"],
        "width": [640],
        "height": [480],
        "question": ["How many cups?"],
    }
    extras = {
        "prompts": [[{"role": "user", "content": "q"}]],
        "completion_ids": [[1, 2, 3]],
        "trainer_state": None,
    }
    assert fn([conv], **kwargs, **extras) == fn([CLEAN], **kwargs)


# ------------------------------------------------------------------------------------------------ format rewards


def test_reasoning_format_scores():
    assert grounded_reasoning_format([CLEAN]) == [0.5]
    assert grounded_reasoning_format(["<think> word </think><rethink> r </rethink>"]) == [pytest.approx(0.4)]
    assert grounded_reasoning_format(["<think> a b </think> no rethink"]) == [pytest.approx(0.2)]
    assert grounded_reasoning_format(["</rethink><rethink></think><think>"]) == [pytest.approx(0.1)]
    assert grounded_reasoning_format(["", "plain text"]) == [0.0, 0.0]


def test_reasoning_format_tag_spam_exploit_scores_lower():
    spam = "<think> a b </think><rethink> r </rethink>" * 10 + "<answer> 1"
    half_spam = "<think> <think> a b </think><rethink> r </rethink><answer> 1"
    clean = grounded_reasoning_format([CLEAN])[0]
    assert grounded_reasoning_format([spam])[0] == 0.0 < clean
    assert grounded_reasoning_format([half_spam])[0] < clean


def test_region_format_needs_a_valid_box_inside_well_formed_think():
    assert grounded_region_format([CLEAN]) == [0.5]
    assert grounded_region_format([chain("no boxes")]) == [0.0]
    assert grounded_region_format([chain("nothing", rethink=BOX)]) == [0.0]  # box in rethink
    assert grounded_region_format([f"<think> {BOX} <rethink> r </rethink>"]) == [0.0]  # no </think>
    assert grounded_region_format([chain(BOX) + "<rethink>"]) == [0.0]  # rethink twice


@pytest.mark.parametrize(
    "bad",
    [
        '{"bbox_2d": [NaN, 2, 30, 40]}',
        '{"bbox_2d": [5, 5, 5, 40]}',  # zero area
        '{"bbox_2d": [1, 2, 3]}',  # 3 numbers
        "<box>[[1, 2, 3]]</box>",
        "[0, 0, 100000000, 5]",  # absurd
    ],
)
def test_region_format_invalid_boxes_earn_nothing(bad):
    assert grounded_region_format([chain(bad)]) == [0.0]
    assert grounded_target_counting([chain(bad)], answer=["1"], dataset=["tallyqa"]) == [0.0]


def test_region_format_uses_image_size_when_known():
    outside = chain("[5000, 5000, 6000, 6000]")
    assert grounded_region_format([outside]) == [0.5]  # no size: only sanity checks
    assert grounded_region_format([outside], width=[640], height=[480]) == [0.0]  # outside every frame
    # A 2000x1000 image: Qwen's processor resizes it to about 1414x707, so x=1100..1300 only fits that frame.
    qwen_px = chain("[1100, 100, 1300, 200]")
    internvl = chain("<ref>cup</ref><box>[[900, 900, 990, 990]]</box>")  # 0-1000
    assert grounded_region_format([qwen_px, internvl], width=[2000, 2000], height=[1000, 1000]) == [0.5, 0.5]
    assert grounded_region_format([outside], width=["junk"], height=[None]) == [0.5]


def test_region_format_explicit_frame_column():
    from grit.boxes import Frame

    text = chain("[1500, 10, 1600, 50]")
    assert grounded_region_format([text], frame=[Frame.pixels(2000, 100)]) == [0.5]
    assert grounded_region_format([text], frame=[Frame.norm1000(2000, 100)]) == [0.0]
    as_dict = {
        "kind": "pixels",
        "image_width": 2000,
        "image_height": 100,
        "extent_x": 2000.0,
        "extent_y": 100.0,
    }
    assert grounded_region_format([text], frame=[as_dict]) == [0.5]
    # A broken frame entry falls back to the image size (here: none, so only sanity checks apply).
    for broken in ({**as_dict, "extent_x": "wide"}, {**as_dict, "extent_y": 0}, {"kind": "pixels"}, "frame"):
        assert grounded_region_format([text], frame=[broken]) == [0.5]
        assert grounded_region_format([text], frame=[broken], width=[100], height=[100]) == [0.0]


def test_answer_format():
    assert answer_format(["x", "<answer> 1", "<answer> 1 <answer> 2", CLEAN]) == [0.0, 0.5, 0.25, 0.5]


# ------------------------------------------------------------------------------------------------ counting


def two_boxes(answer: str = "2") -> str:
    return chain(
        '{"bbox_2d": [1, 2, 30, 40], "label": "a", "bbox_2d": [50, 60, 70, 80], "label": "a"}', answer=answer
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("2", 1.0), ("two", 1.0), (2, 1.0), ("2 cups", 1.0), ("3", 0.0), ("blue", 0.0), ("", 0.0)],
)
def test_counting_answer_forms(answer, expected):
    assert grounded_target_counting([two_boxes()], answer=[answer], dataset=["tallyqa"]) == [expected]


def test_counting_is_decided_per_item():
    # The released code read only the first item's dataset tag: here the first is VSR, the second TallyQA.
    out = grounded_target_counting(
        [two_boxes(), two_boxes()], answer=["2", "2"], dataset=["vsr", "TallyQA_count"]
    )
    assert out == [0.0, 1.0]


def test_counting_without_dataset_uses_how_many_questions():
    comps = [two_boxes(), two_boxes()]
    out = grounded_target_counting(
        comps, answer=["2", "2"], question=["How many cups are there?", "Is it red?"]
    )
    assert out == [1.0, 0.0]
    assert grounded_target_counting(comps, answer=["2", "2"]) == [0.0, 0.0]  # nothing says it is counting
    assert grounded_target_counting(comps, dataset=["tallyqa", "tallyqa"]) == [0.0, 0.0]  # no answers


def test_counting_ignores_invalid_boxes_and_needs_well_formed_tags():
    text = chain('[1, 2, 30, 40] {"bbox_2d": [1, 2, 3]} [5, 5, 5, 9]')
    assert grounded_target_counting([text], answer=["1"], dataset=["tallyqa"]) == [1.0]
    assert grounded_target_counting(["<answer> 0"], answer=["0"], dataset=["tallyqa"]) == [0.0]
    assert grounded_target_counting([chain("none here")], answer=["0"], dataset=["tallyqa"]) == [1.0]


# ------------------------------------------------------------------------------------------------ answers


def test_answer_accuracy_with_the_offline_judge():
    comps = [chain("x", answer="Yes"), chain("x", answer="no"), "Yes without tags", chain("x", answer="two")]
    out = answer_accuracy(comps, answer=["yes", "yes", "yes", "2"], question=["Is it?"] * 3 + ["How many?"])
    assert out == [1.0, 0.0, 0.0, 1.0]


def test_grounded_answer_accuracy_pays_only_a_right_answer_after_a_grounded_chain():
    comps = [
        chain(f"the cup {BOX}", answer="1"),  # grounded, right
        chain(f"the cup {BOX}", answer="2"),  # grounded, wrong
        chain("one cup, no box", answer="1"),  # right, but no box in <think>
        chain("nothing", rethink=BOX, answer="1"),  # the box is in <rethink>
        f"<think> {BOX} </think><answer> 1 </answer>",  # no <rethink>
    ]
    out = grounded_answer_accuracy(comps, answer=["1"] * 5, question=["How many cups?"] * 5)
    assert out == [1.0, 0.0, 0.0, 0.0, 0.0]
    plain = answer_accuracy(comps, answer=["1"] * 5, question=["How many cups?"] * 5)
    assert plain == [1.0, 0.0, 1.0, 1.0, 1.0]


def test_answer_accuracy_missing_answer_column_is_a_clear_error():
    with pytest.raises(ValueError, match="'answer' column"):
        answer_accuracy([CLEAN])
    with pytest.raises(ValueError, match="None"):
        answer_accuracy([CLEAN], answer=[None])
    with pytest.raises(ValueError, match="1 values for 2"):
        answer_accuracy([CLEAN, CLEAN], answer=["1"])


def test_injected_judge_receives_prediction_and_row_fields():
    calls = []

    def judge(pred, gt, *, question=None, choices=None, answer_type=None):
        calls.append((pred, gt, question, choices, answer_type))
        return pred == "B"

    fn = make_answer_accuracy(judge)
    assert fn.__name__ == "answer_accuracy"
    out = fn(
        [chain("x", answer="B"), chain("x", answer="C")], answer=["B", "B"], choices=[["a", "b"], ["a", "b"]]
    )
    assert out == [1.0, 0.0]
    assert calls[0] == ("B", "B", None, ["a", "b"], None)


def test_judge_failure_is_loud_never_a_silent_zero():
    def broken(*args, **kwargs):
        raise TimeoutError("endpoint down")

    with pytest.raises(TimeoutError, match="endpoint down"):
        make_answer_accuracy(broken)([CLEAN], answer=["1"])


def test_bleu1_matches_hand_computation():
    assert bleu1("a red car", "the red car") == pytest.approx(2 / 3)
    assert bleu1("red", "the red car") == pytest.approx(math.exp(1 - 3))  # precision 1, brevity penalty
    assert bleu1("The red car!", "the red car") == pytest.approx(1.0)
    assert bleu1("car car car", "car") == pytest.approx(1 / 3)  # clipped counts
    assert bleu1("", "x") == bleu1("x", "") == 0.0


def test_answer_bleu():
    out = answer_bleu(
        [chain("x", answer="The red car."), chain("x", answer="blue"), "red car"], answer=["red car"] * 3
    )
    assert out == [pytest.approx(0.1 * 2 / 3), 0.0, 0.0]
    with pytest.raises(ValueError, match="answer"):
        answer_bleu([CLEAN])


# ------------------------------------------------------------------------------------------------ repetition


def test_repetition():
    fresh = " ".join(f"w{i}" for i in range(40))
    loop = " ".join(["the cup is on the left of the table"] * 10)
    assert repetition(["", "short text", fresh]) == [0.5, 0.5, 0.5]
    looped = repetition([loop])[0]
    assert 0.0 < looped < 0.1
    partly = repetition([fresh + " " + " ".join(["a b c d e f g h"] * 3)])[0]
    assert looped < partly < 0.5


# ------------------------------------------------------------------------------------------------ registry


def test_registry_and_weights():
    assert set(REGISTRY) == set(DEFAULT_WEIGHTS) == set(RANGES) == set(TAGS_READ)
    assert set(REGISTRY) >= {
        "grounded_reasoning_format",
        "grounded_region_format",
        "answer_accuracy",
        "repetition",
    }
    funcs, weights = get_rewards(["answer_format", "repetition"])
    assert funcs == [answer_format, repetition] and weights == [1.0, 1.0]
    assert get_rewards("answer_format, repetition")[0] == funcs
    assert get_rewards()[0] == [REGISTRY[n] for n in GRPO_GR_REWARDS]
    for name, fn in REGISTRY.items():
        assert fn.__name__ == name  # TRL logs rewards by function name


def test_unknown_reward_names_are_listed():
    with pytest.raises(ValueError, match=r"\['acuracy'\].*answer_accuracy"):
        get_rewards(["answer_format", "acuracy"])


def test_full_reward_sum_ranks_a_clean_chain_above_exploits():
    kwargs = {"answer": ["1"] * 3, "dataset": ["tallyqa"] * 3, "width": [640] * 3, "height": [480] * 3}
    spam = "<think> a b </think><rethink> r </rethink>" * 5 + f"<think> {BOX} </think><answer> 1 </answer>"
    bare = "<answer> 1 </answer>"
    totals = [0.0, 0.0, 0.0]
    for fn in REGISTRY.values():
        for i, r in enumerate(fn([CLEAN, spam, bare], **kwargs)):
            totals[i] += r
    assert totals[0] > totals[1] and totals[0] > totals[2]


def counting_parses(monkeypatch) -> list[str]:
    """The texts the rewards parse from now on, in order."""
    calls: list[str] = []
    real_parse = rewards.parse
    monkeypatch.setattr(rewards, "parse", lambda text, *a: calls.append(text) or real_parse(text, *a))
    return calls


def test_a_step_parses_each_completion_once_and_keeps_only_its_own_batch(monkeypatch):
    calls = counting_parses(monkeypatch)
    step1 = [
        f'<think> {{"bbox_2d": [1, 2, 3, {i + 4}]}} </think><rethink> r </rethink><answer> 1'
        for i in range(3)
    ]
    kwargs = {"answer": ["1"] * 3, "dataset": ["tallyqa"] * 3}
    assert grounded_region_format(step1, **kwargs) == [0.5] * 3
    assert grounded_target_counting(step1, **kwargs) == [1.0] * 3
    assert sorted(calls) == sorted(step1)  # the second reward reused the first one's parses
    grounded_region_format(["<think> x </think>"])  # the next step
    grounded_region_format(step1[:1])
    assert calls[-1] == step1[0]  # step 1's chains are gone


def test_parse_cache_is_bounded_to_small_texts(monkeypatch):
    calls = counting_parses(monkeypatch)
    huge = "<think> " + "[1, 2, 3, 4] " * 3000 + "</think><rethink> r </rethink>"
    assert grounded_region_format([huge]) == [0.5]
    assert grounded_target_counting([huge], answer=["3000"], dataset=["tallyqa"]) == [0.0]  # MAX_BOXES
    assert calls == [huge, huge]  # too long to keep: parsed again


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch())
def test_rewards_do_not_depend_on_the_order_they_run_in(data):
    """The step's shared parses change no reward: all rewards in registry order, then in reverse order after
    another batch replaced the kept parses, give the same values."""
    comps, kwargs = data
    first = {name: fn(comps, **kwargs) for name, fn in REGISTRY.items()}
    grounded_region_format(["<think> other </think>"])
    again = {name: REGISTRY[name](comps, **kwargs) for name in reversed(REGISTRY)}
    assert again == first


def repetition_definition(text: str) -> float:
    words = text.split()[: rewards.MAX_WORDS]
    grams = [tuple(words[i : i + 8]) for i in range(len(words) - 7)]
    return 0.5 if len(grams) <= 1 else 0.5 * len(set(grams)) / len(grams)


word_lists = st.one_of(
    st.lists(st.sampled_from(["a", "b", "c", "the", "dog"]), max_size=60),
    st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=2), max_size=120),
    st.builds(  # a phrase repeated with some period, with noise around: repeats at every distance
        lambda pre, unit, times, post: pre + unit * times + post,
        st.lists(st.sampled_from(["x", "y", "z"]), max_size=10),
        st.lists(st.sampled_from("abcdefghijkl"), min_size=1, max_size=12),
        st.integers(1, 6),
        st.lists(st.sampled_from(["x", "y", "z"]), max_size=10),
    ),
)


@settings(max_examples=1000, deadline=None)
@given(word_lists, st.sampled_from([" ", "\n", "  "]))
def test_repetition_is_the_share_of_new_word_8grams(words, sep):
    text = sep.join(words)
    assert repetition([text]) == [repetition_definition(text)]


def bleu1_definition(candidate: str, reference: str) -> float:
    cand = re.sub(r"[^a-zA-Z0-9\s]", " ", candidate).lower().split()
    ref = re.sub(r"[^a-zA-Z0-9\s]", " ", reference).lower().split()
    if not cand or not ref:
        return 0.0
    matched = sum(min(cand.count(w), ref.count(w)) for w in set(cand))
    bp = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return matched / len(cand) * bp


answerish = st.one_of(
    st.text(max_size=24),
    st.text(alphabet="ab yes no dog cat 12 .,:-/'’()<>!?", max_size=40),
    st.sampled_from(["2", "two", "The answer is 3", "a dog", "dog dog dog", "1,000 dogs"]),
)


@settings(max_examples=1500, deadline=None)
@given(answerish, answerish)
def test_bleu1_is_nltk_sentence_bleu_1(candidate, reference):
    assert bleu1(candidate, reference) == bleu1_definition(candidate, reference)
    assert bleu1(reference, reference) == bleu1_definition(reference, reference)


def test_absurd_image_sizes_do_not_crash_the_rewards():
    comp = "<think>a b [1, 2, 30, 40]</think><rethink>r</rethink><answer>1</answer>"
    for size in (1e157, float("inf"), -5, "huge"):
        for name, fn in REGISTRY.items():
            out = fn([comp], answer=["1"], width=[size], height=[size], dataset=["tallyqa"])
            assert len(out) == 1 and math.isfinite(out[0]), name


def test_answer_accuracy_ignores_a_question_that_is_not_text():
    comps = ["<answer> 3 </answer>", "<answer> a dog </answer>"]
    assert rewards.answer_accuracy(comps, answer=["3", "dog"], question=[1, float("nan")]) == [1.0, 1.0]
