"""GRPO-GR reward functions (stdlib only), open-r1 style.

Every reward has TRL's signature ``fn(completions, **kwargs) -> list[float]``: ``completions`` are strings or
TRL conversational completions (``[{"role": "assistant", "content": ...}]``, content a string or a list of
``{"type": "text", "text": ...}`` parts); dataset columns arrive as keyword lists aligned with them
(``answer``, ``dataset``, ``question``, ``width``, ``height``, ``choices``, ``answer_type``, ...). Extra
keywords that TRL passes (``prompts``, ``completion_ids``, ``trainer_state``, ...) are ignored.

Rewards are *total*: any completion (empty, huge, binary junk, None content, 10,000 boxes) gets a finite
float in the documented range. The one exception is configuration: ``answer_accuracy`` and ``answer_bleu``
raise ``ValueError`` when the ``answer`` column is missing, too short or holds None, because a silent 0
would train on nothing.

Ranges and deviations from the authors' released code (``grpo-gr/rewards.py``), all deliberate:

========================== ======= ====================================================================
reward                     range   deviation from the released code
========================== ======= ====================================================================
grounded_reasoning_format  0–0.5   a tag earns its point only when it occurs *exactly once* (the code
                                   accepted any number: tag spam was exploited within 30 steps); the
                                   ≥2-words check counts real words (the code's split(' ') counted
                                   blanks)
grounded_region_format     0–0.5   needs well-formed think/rethink tags and ≥1 *valid* box inside
                                   <think> (the code: any ``\\d+, \\d+, \\d+, \\d+`` before <rethink>)
grounded_target_counting   0–1     decided per item (the code read only the batch's first dataset tag);
                                   counting = dataset tag containing "tally"/"count" (the code: exactly
                                   "tallyqa"), or a "how many" question when there is no dataset column;
                                   counts valid boxes inside <think> of a chain with well-formed
                                   think/rethink tags (the code: quadruples before <rethink>); accepts
                                   number words ("two"); a non-numeric answer scores 0 (the code crashed)
answer_accuracy            0–1     binary offline judge (or any injected judge) instead of GPT-4o's
                                   string-split score; judges every item (the code gave OVD items 0);
                                   prediction = text after the *last* <answer> up to </answer> (the code:
                                   after the first); a judge failure raises (never a silent 0).
                                   As in the code, no <answer> tag scores 0
answer_bleu                0–0.1   answer = text after the *last* <answer> up to </answer> (the code took
                                   everything after the first <answer>, closing tag included); BLEU-1
                                   computed here instead of with nltk (same formula)
answer_format              0–0.5   none
repetition                 0–0.5   share of word 8-grams that repeat an earlier one, anywhere in the text
                                   (the code compared each 8-gram only with the next one and subtracted a
                                   token-id variant, range −0.5–0.5); text only
========================== ======= ====================================================================

Boxes count as valid when :func:`grit.boxes.normalize_box` accepts them in the item's frame (see
:func:`fits`). The rewards do not know the model family, so with ``width``/``height`` known a box is valid if
it lies (at least partly) inside the image in *either* the Qwen2.5-VL resized-pixel frame (the processor's
default pixel budget, the largest Qwen frame) or the 0–1000 frame; a per-item ``frame`` column (a
:class:`~grit.boxes.Frame` or its field dict) overrides that. Without a size only unparseable, absurd
(>1e7) and zero-area boxes are rejected. Other missing columns: see each reward's docstring.

Each completion is parsed once per training step: :func:`grit.chain.parse` results are shared between the
rewards of one step (completions up to 20,000 characters) and dropped with the next step's batch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from grit.boxes import ABSURD_FACTOR, Box, Frame
from grit.chain import GroundedChain, answer_text, parse
from grit.judge import judge_answer
from grit.judge.rule import is_counting_item, stated_count

log = logging.getLogger(__name__)

RewardFn = Callable[..., list[float]]
_CACHE_MAX_CHARS = 20_000

# ------------------------------------------------------------------------------------------------ inputs


def completion_text(completion: object) -> str:
    """The text of one completion, whatever form TRL hands it in (never raises)."""
    if isinstance(completion, str):
        return completion
    if completion is None:
        return ""
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, (list, tuple)):
        msgs = [m for m in completion if isinstance(m, dict)]
        if not msgs:
            return " ".join(completion_text(m) for m in completion if isinstance(m, str))
        assistant = [m for m in msgs if m.get("role", "assistant") == "assistant"] or msgs
        return "\n".join(_content_text(m.get("content")) for m in assistant)
    if isinstance(completion, (bytes, bytearray)):
        return bytes(completion).decode("utf-8", errors="replace")
    return str(completion)


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for p in content:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
        return "".join(parts)
    return "" if content is None else str(content)


def _texts(completions: Sequence[object]) -> list[str]:
    return [completion_text(c) for c in completions]


class _StepParses:
    """Parses shared by the rewards of one training step: TRL calls them one after another on the same
    completions, so each completion is parsed once per step. Each batch replaces the one kept, so a chain
    lives for one step only (an LRU of thousands of chains kept the garbage collector busy for a fifth of the
    reward time). Texts over ``max_chars`` are never kept."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chains: dict[str, GroundedChain] = {}

    def batch(self, texts: Sequence[str]) -> list[GroundedChain]:
        """The chains of ``texts``; from now on these are the ones kept (unless none of them can be)."""
        new: dict[str, GroundedChain] = {}
        out = []
        for text in texts:
            c = new.get(text) or self.chains.get(text) or parse(text)
            if len(text) <= self.max_chars:
                new[text] = c
            out.append(c)
        if new:
            self.chains = new
        return out

    def cache_clear(self) -> None:
        self.chains = {}


_parse_cached = _StepParses(_CACHE_MAX_CHARS)


def _columns(kwargs: dict, name: str, n: int) -> list:
    """The keyword column ``name`` as ``n`` values, None where it is missing, too short or not a list."""
    col = kwargs.get(name)
    if col is None or isinstance(col, (str, bytes)) or not isinstance(col, Sequence):
        return [None] * n
    m = min(n, len(col))
    return [col[i] for i in range(m)] + [None] * (n - m)


MAX_IMAGE_SIDE = 1_000_000


def _size(value: object) -> int | None:
    try:
        v = int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return v if 0 < v <= MAX_IMAGE_SIDE else None  # an absurd size is no size (no frame check), not a crash


@lru_cache(maxsize=4096)
def _size_frames(width: int, height: int) -> tuple[Frame, ...]:
    frames = [Frame.norm1000(width, height)]
    with contextlib.suppress(ValueError):  # extreme aspect ratio: the Qwen processor would refuse the image
        frames.append(Frame.qwen_resized(width, height))
    return tuple(frames)


def _frame_column(value: object) -> Frame | None:
    """A usable frame from the ``frame`` column (a Frame or its field dict, as a datasets column stores it)."""
    if isinstance(value, dict):
        try:
            value = Frame.from_dict(value)
        except ValueError:
            return None
    if not isinstance(value, Frame):
        return None
    ok = all(isinstance(v, (int, float)) and 0 < v < math.inf for v in (value.extent_x, value.extent_y))
    return value if ok else None


def _frames(kwargs: dict, n: int) -> list[tuple[Frame, ...]]:
    """Per row, the frames a box may be written in: the ``frame`` column, else guesses from the image size."""
    out = []
    for frame, width, height in zip(
        *(_columns(kwargs, k, n) for k in ("frame", "width", "height")), strict=True
    ):
        f = _frame_column(frame) if frame is not None else None
        w, h = _size(width), _size(height)
        out.append((f,) if f is not None else _size_frames(w, h) if w and h else ())
    return out


def fits(box: Box, frame: Frame) -> bool:
    """Would :func:`grit.boxes.normalize_box` accept this already-normalised (sorted, finite) box in ``frame``?

    The same two tests — not absurdly far outside, non-zero area after clipping — without building a box; a
    property test checks it agrees with normalize_box.
    """
    ex, ey = frame.extent_x, frame.extent_y
    if max(-box.x1, box.x2) > ABSURD_FACTOR * ex or max(-box.y1, box.y2) > ABSURD_FACTOR * ey:
        return False
    return min(box.x2, ex) > max(box.x1, 0.0) and min(box.y2, ey) > max(box.y1, 0.0)


def _n_valid_boxes(c: GroundedChain, frames: tuple[Frame, ...]) -> int:
    """Valid boxes inside <think>; with frames, a box must fit at least one of them."""
    return sum(1 for b in c.valid_boxes if not frames or any(fits(b, f) for f in frames))


def _require_answers(kwargs: dict, n: int, reward: str) -> list:
    answers = kwargs.get("answer")
    if answers is None or isinstance(answers, (str, bytes)) or not isinstance(answers, Sequence):
        raise ValueError(
            f"reward {reward!r} needs the dataset's 'answer' column (one ground-truth answer per completion), "
            f"but the reward call got no 'answer' keyword list; got columns {sorted(kwargs)}"
        )
    if len(answers) < n:
        raise ValueError(f"reward {reward!r}: 'answer' has {len(answers)} values for {n} completions")
    for i in range(n):
        if answers[i] is None:
            raise ValueError(f"reward {reward!r}: row {i} of the 'answer' column is None")
    return list(answers)


# ------------------------------------------------------------------------------------------------ format

_REASONING_TAGS = ("<think>", "</think>", "<rethink>", "</rethink>")
# The released code blanks everything but [a-zA-Z0-9\s] and splits; "≥ 2 words" then means two alphanumeric
# runs with something else between them, which one regex search finds without building the word list.
_TWO_WORDS_RE = re.compile(r"[a-zA-Z0-9][^a-zA-Z0-9]+[a-zA-Z0-9]")


def grounded_reasoning_format(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.5: one point per tag of ``<think> </think> <rethink> </rethink>`` found exactly once and after the
    previous tag, one more when all four did and the think text has ≥ 2 words; ``points / 5 * 0.5``."""
    return [_reasoning_points(text) / 5 * 0.5 for text in _texts(completions)]


def _reasoning_points(text: str) -> int:
    points, cursor = 0, 0
    for tag in _REASONING_TAGS:
        p = text.find(tag)
        if p >= cursor and text.find(tag, p + 1) < 0:
            points += 1
            cursor = p + len(tag)
    if points == 4:
        think_start, think_end = text.find("<think>") + len("<think>"), text.find("</think>")
        if _TWO_WORDS_RE.search(text, think_start, think_end):
            points += 1
    return points


def grounded_region_format(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.5: 0.5 when think/rethink are well formed (once each, in order) and <think> holds ≥ 1 valid box."""
    chains = _parse_cached.batch(_texts(completions))
    frames = _frames(kwargs, len(chains))
    return [
        0.5 if c.reasoning_ok and _n_valid_boxes(c, f) > 0 else 0.0
        for c, f in zip(chains, frames, strict=True)
    ]


def grounded_target_counting(completions: Sequence[object], **kwargs) -> list[float]:
    """0–1: for counting items (``dataset`` contains "tally"/"count"; without a ``dataset`` column, a question
    starting "how many"), 1 when the number of valid boxes inside <think> equals the numeric answer.

    Items that are not counting items, have no answer or one that states no count ("two" and "2 dogs" do,
    see :func:`grit.judge.rule.stated_count`), or whose think/rethink tags are not well formed score 0.
    """
    n = len(completions)
    chains = _parse_cached.batch(_texts(completions))
    columns = (_columns(kwargs, k, n) for k in ("answer", "dataset", "question"))
    out = []
    for c, f, ans, dataset, question in zip(chains, _frames(kwargs, n), *columns, strict=True):
        target = None
        if ans is not None and not isinstance(ans, bool) and is_counting_item(dataset, question):
            target = stated_count(str(ans))
        out.append(1.0 if target is not None and c.reasoning_ok and _n_valid_boxes(c, f) == target else 0.0)
    return out


def answer_format(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.5: 0.25 when ``<answer>`` appears, 0.5 when it appears exactly once."""
    counts = [text.count("<answer>") for text in _texts(completions)]
    return [0.5 if n == 1 else 0.25 if n > 1 else 0.0 for n in counts]


# ------------------------------------------------------------------------------------------------ answer


def _answers(completions: Sequence[object]) -> list[str | None]:
    """Each completion's answer (:func:`grit.chain.answer_text`), None without an ``<answer>`` tag."""
    return [answer_text(text) if "<answer>" in text else None for text in _texts(completions)]


def make_answer_accuracy(judge_fn: Callable[..., object] | None = None) -> RewardFn:
    """An ``answer_accuracy`` reward using ``judge_fn(prediction, answer, *, question, choices, answer_type)``
    (truthy = correct; e.g. :class:`grit.judge.LLMJudge`). Default: the offline rule judge."""
    judge = judge_fn or judge_answer

    def answer_accuracy(completions: Sequence[object], **kwargs) -> list[float]:
        """0–1: 1 when the judge accepts the text after the last ``<answer>``; 0 without ``<answer>``."""
        n = len(completions)
        answers = _require_answers(kwargs, n, "answer_accuracy")
        questions, choices = _columns(kwargs, "question", n), _columns(kwargs, "choices", n)
        answer_types = _columns(kwargs, "answer_type", n)
        out = []
        for i, pred in enumerate(_answers(completions)):
            # No try/except: a judge that fails after its own retries (LLMJudge raises JudgeError) stops the
            # run loudly — resumable from the last checkpoint — instead of training on silent zeros.
            ok = pred is not None and judge(
                pred, str(answers[i]), question=questions[i], choices=choices[i], answer_type=answer_types[i]
            )
            out.append(1.0 if ok else 0.0)
        return out

    answer_accuracy.__name__ = answer_accuracy.__qualname__ = "answer_accuracy"
    return answer_accuracy


answer_accuracy = make_answer_accuracy()


def grounded_answer_accuracy(completions: Sequence[object], **kwargs) -> list[float]:
    """0–1: :func:`answer_accuracy`, paid only to a grounded chain (the test of :func:`grounded_region_format`:
    think/rethink well formed, ≥ 1 valid box in <think>).

    Not in the paper. Where a base answers better without boxes, plain accuracy pays the model to leave the
    format the format rewards ask for; gated, accuracy only ranks the grounded chains against each other."""
    grounded = grounded_region_format(completions, **kwargs)
    correct = answer_accuracy(completions, **kwargs)
    return [a if g > 0 else 0.0 for a, g in zip(correct, grounded, strict=True)]


_BLEU_STRIP_RE = re.compile(r"[^a-zA-Z0-9\s]")


def bleu1(candidate: str, reference: str) -> float:
    """Sentence BLEU-1: clipped unigram precision times the brevity penalty, on lowercased words with
    punctuation removed (the released code's normalisation; nltk's ``sentence_bleu`` with weights (1,0,0,0))."""
    cand, ref = (_BLEU_STRIP_RE.sub(" ", t).lower().split() for t in (candidate, reference))
    if not cand or not ref:
        return 0.0
    unmatched: dict[str, int] = {}
    for w in ref:
        unmatched[w] = unmatched.get(w, 0) + 1
    matched = 0
    for w in cand:  # clipped: a reference word matches at most as often as it occurs
        if unmatched.get(w, 0) > 0:
            unmatched[w] -= 1
            matched += 1
    bp = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return matched / len(cand) * bp


def answer_bleu(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.1: BLEU-1 of the answer text (after the last ``<answer>``) vs the ground truth × 0.1; 0 without
    ``<answer>``."""
    answers = _require_answers(kwargs, len(completions), "answer_bleu")
    return [
        0.0 if pred is None else 0.1 * bleu1(pred[:10_000], str(gold)[:10_000])
        for pred, gold in zip(_answers(completions), answers, strict=False)
    ]


# ------------------------------------------------------------------------------------------------ repetition

NGRAM = 8
MAX_WORDS = 100_000  # longer completions are judged on their first 100k words


def repetition(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.5: ``0.5 * (1 - repeated)``, where ``repeated`` is the share of word 8-grams that already occurred
    earlier in the completion; texts shorter than 8 words score 0.5."""
    out = []
    for text in _texts(completions):
        words = text.split()[:MAX_WORDS]
        total = len(words) - NGRAM + 1
        # zip stops at the shortest slice, words[NGRAM - 1:], which has exactly `total` items
        grams = set(zip(*[words[k:] for k in range(NGRAM)]))  # noqa: B905
        out.append(0.5 * len(grams) / total if total > 1 else 0.5)
    return out


# ------------------------------------------------------------------------------------------------ registry

REGISTRY: dict[str, RewardFn] = {
    "grounded_reasoning_format": grounded_reasoning_format,
    "grounded_region_format": grounded_region_format,
    "grounded_target_counting": grounded_target_counting,
    "answer_accuracy": answer_accuracy,
    "grounded_answer_accuracy": grounded_answer_accuracy,
    "answer_bleu": answer_bleu,
    "answer_format": answer_format,
    "repetition": repetition,
}
# The paper's reward set: grounded-reasoning format, grounded region, target counting, answer accuracy + BLEU,
# answer format and the repetition penalty (released code); summed with weight 1.
GRPO_GR_REWARDS = [
    "grounded_reasoning_format",
    "grounded_region_format",
    "grounded_target_counting",
    "answer_accuracy",
    "answer_bleu",
    "answer_format",
    "repetition",
]
# The released code sums all rewards unweighted.
DEFAULT_WEIGHTS: dict[str, float] = dict.fromkeys(REGISTRY, 1.0)
RANGES: dict[str, tuple[float, float]] = {
    "grounded_reasoning_format": (0.0, 0.5),
    "grounded_region_format": (0.0, 0.5),
    "grounded_target_counting": (0.0, 1.0),
    "answer_accuracy": (0.0, 1.0),
    "grounded_answer_accuracy": (0.0, 1.0),
    "answer_bleu": (0.0, 0.1),
    "answer_format": (0.0, 0.5),
    "repetition": (0.0, 0.5),
}
# The GRIT tags each reward reads: a prompt that never asks for them makes that reward 0 on every completion
# (what `grit models check` looks for).
TAGS_READ: dict[str, tuple[str, ...]] = {
    "grounded_reasoning_format": ("<think>", "<rethink>"),
    "grounded_region_format": ("<think>", "<rethink>"),
    "grounded_target_counting": ("<think>", "<rethink>"),
    "answer_accuracy": ("<answer>",),
    "grounded_answer_accuracy": ("<think>", "<rethink>", "<answer>"),
    "answer_bleu": ("<answer>",),
    "answer_format": ("<answer>",),
    "repetition": (),
}


def get_rewards(names: Sequence[str] | str | None = None) -> tuple[list[RewardFn], list[float]]:
    """Reward functions and their default weights, by name (comma-separated string or list; None = the paper's
    set, :data:`GRPO_GR_REWARDS`)."""
    if names is None:
        names = GRPO_GR_REWARDS
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; valid rewards: {', '.join(REGISTRY)}")
    return [REGISTRY[n] for n in names], [DEFAULT_WEIGHTS[n] for n in names]
