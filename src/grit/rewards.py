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
from typing import NamedTuple

from grit import chain as chain_mod
from grit.boxes import ABSURD_FACTOR, Box, Frame
from grit.chain import ChainBox, GroundedChain

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


class CacheInfo(NamedTuple):
    currsize: int
    maxsize: int


class _StepParses:
    """Parses shared by the rewards of one training step: TRL calls them one after another on the same
    completions, so each completion is parsed once per step. A reward that sees a whole batch
    (:meth:`batch`) makes that batch the one kept, so a chain lives for one step only: an LRU of thousands of
    chains kept the garbage collector busy for a fifth of the reward time. Texts over ``max_chars`` are never
    kept; at most ``maxsize`` chains are kept from single lookups."""

    def __init__(self, max_chars: int, maxsize: int) -> None:
        self.max_chars, self.maxsize = max_chars, maxsize
        self.chains: dict[str, GroundedChain] = {}

    def __call__(self, text: str) -> GroundedChain:
        c = self.chains.get(text)
        if c is None:
            c = chain_mod.parse(text)
            if len(text) <= self.max_chars:
                if len(self.chains) >= self.maxsize:
                    self.chains = {}
                self.chains[text] = c
        return c

    def batch(self, texts: Sequence[str]) -> list[GroundedChain]:
        """The chains of ``texts``; from now on these are the ones kept (unless none of them can be)."""
        old: dict[str, GroundedChain] = self.chains
        new: dict[str, GroundedChain] = {}
        out = []
        new_get, old_get, parse, max_chars = new.get, old.get, chain_mod.parse, self.max_chars
        for text in texts:
            c = new_get(text) or old_get(text) or parse(text)
            if len(text) <= max_chars:
                new[text] = c
            out.append(c)
        if new:
            self.chains = new
        return out

    def cache_info(self) -> CacheInfo:
        return CacheInfo(len(self.chains), self.maxsize)

    def cache_clear(self) -> None:
        self.chains = {}


_parse_cached = _StepParses(_CACHE_MAX_CHARS, maxsize=4096)
_chain = _parse_cached  # one completion's chain, shared with the step's other rewards


def _column(kwargs: dict, name: str, i: int) -> object:
    col = kwargs.get(name)
    if col is None or isinstance(col, (str, bytes)) or not isinstance(col, Sequence) or i >= len(col):
        return None
    return col[i]


def _columns(kwargs: dict, name: str, n: int) -> list:
    """``[_column(kwargs, name, i) for i in range(n)]``, checking the column once per batch instead of per row."""
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
            value = Frame(
                str(value["kind"]),
                int(value["image_width"]),
                int(value["image_height"]),
                float(value["extent_x"]),
                float(value["extent_y"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
    if not isinstance(value, Frame):
        return None
    ok = all(isinstance(v, (int, float)) and 0 < v < math.inf for v in (value.extent_x, value.extent_y))
    return value if ok else None


def _frames(kwargs: dict, i: int) -> tuple[Frame, ...]:
    """Frames a box may be written in for row ``i``: the ``frame`` column, else guesses from the image size."""
    return _row_frames(_column(kwargs, "frame", i), _column(kwargs, "width", i), _column(kwargs, "height", i))


def _row_frames(frame: object, width: object, height: object) -> tuple[Frame, ...]:
    f = _frame_column(frame) if frame is not None else None
    if f is not None:
        return (f,)
    w, h = _size(width), _size(height)
    return _size_frames(w, h) if w and h else ()


def _frames_getter(kwargs: dict, n: int) -> Callable[[int], tuple[Frame, ...]]:
    """A per-batch ``_frames(kwargs, i)``: columns checked once, rows of one image size share one lookup."""
    frame_col, width_col, height_col = (_columns(kwargs, k, n) for k in ("frame", "width", "height"))
    seen: dict[tuple[int, int], tuple[Frame, ...]] = {}

    def frames(i: int) -> tuple[Frame, ...]:
        w, h = width_col[i], height_col[i]
        if frame_col[i] is None and type(w) is int and type(h) is int:
            f = seen.get((w, h))
            if f is None:
                f = seen[w, h] = _row_frames(None, w, h)
            return f
        return _row_frames(frame_col[i], w, h)

    return frames


def fits(box: Box, frame: Frame) -> bool:
    """Would :func:`grit.boxes.normalize_box` accept this already-normalised (sorted, finite) box in ``frame``?

    The same two tests — not absurdly far outside, non-zero area after clipping — written out, because the
    rewards run it for every box of every completion; a property test checks it agrees with normalize_box.
    """
    ex, ey = frame.extent_x, frame.extent_y
    lim_x, lim_y = ABSURD_FACTOR * ex, ABSURD_FACTOR * ey
    if max(-box.x1, box.x2) > lim_x or max(-box.y1, box.y2) > lim_y:
        return False
    return min(box.x2, ex) > max(box.x1, 0.0) and min(box.y2, ey) > max(box.y1, 0.0)


def _n_valid_boxes(c: GroundedChain, frames: tuple[Frame, ...], stop_at: int | None = None) -> int:
    """Valid boxes inside <think> (counted up to ``stop_at``); with frames, a box must fit at least one of them."""
    return _count_valid_boxes(c.boxes, frames, stop_at) if c.boxes else 0


def _count_valid_boxes(
    boxes: Sequence[ChainBox], frames: tuple[Frame, ...], stop_at: int | None = None
) -> int:
    """:func:`_n_valid_boxes` of a chain's ``boxes``, with :func:`fits` written out (a test checks it)."""
    if not frames:
        return sum(1 for b in boxes if b.box is not None)
    n = 0
    for b in boxes:
        box = b.box
        if box is not None:
            x1, y1, x2, y2 = box.x1, box.y1, box.x2, box.y2
            far_x = x2 if x2 > -x1 else -x1  # max(-x1, x2): b if b > a else a is max(a, b), likewise min
            far_y = y2 if y2 > -y1 else -y1
            for f in frames:
                ex, ey = f.extent_x, f.extent_y
                if (
                    not (far_x > ABSURD_FACTOR * ex or far_y > ABSURD_FACTOR * ey)
                    and (ex if ex < x2 else x2) > (0.0 if x1 < 0.0 else x1)
                    and (ey if ey < y2 else y2) > (0.0 if y1 < 0.0 else y1)
                ):
                    n += 1
                    break
            if n == stop_at:
                break
    return n


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
    out = []
    for comp in completions:
        text = comp if type(comp) is str else completion_text(comp)
        find = text.find
        t0, t1, r0, r1 = find("<think>"), find("</think>"), find("<rethink>"), find("</rethink>")
        # In order (no tag starts inside another, so each then comes after the previous one ends) and once each:
        # every tag holds one "think>" and these four are different ones. Then the loop below gives 4 points.
        if 0 <= t0 < t1 < r0 < r1 and text.count("think>") == 4:
            out.append((5 if _TWO_WORDS_RE.search(text, t0 + len("<think>"), t1) else 4) / 5 * 0.5)
            continue
        out.append(_reasoning_points(text) / 5 * 0.5)
    return out


def _reasoning_points(text: str) -> int:
    """The points of :func:`grounded_reasoning_format`, tag by tag (its general case; a test checks its shortcut
    against this)."""
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
    frames = _frames_getter(kwargs, len(completions))
    out = []
    texts = [comp if type(comp) is str else completion_text(comp) for comp in completions]
    for i, c in enumerate(_parse_cached.batch(texts)):
        ok = c.reasoning_ok and c.boxes and _count_valid_boxes(c.boxes, frames(i), stop_at=1) > 0
        out.append(0.5 if ok else 0.0)
    return out


_COUNT_DATASET_RE = re.compile(r"tally|count", re.IGNORECASE)


def is_counting_item(dataset: object, question: object = None) -> bool:
    """Counting items (TallyQA-style): the dataset tag names a counting set ("tallyqa", "shapes_count", ...);
    without a dataset tag, a question that starts with "how many". Shared with :mod:`grit.metrics`."""
    if dataset is not None:
        return bool(_COUNT_DATASET_RE.search(str(dataset)))
    return isinstance(question, str) and question.strip().lower().startswith("how many")


@lru_cache(maxsize=4096)
def _answer_count(answer: str) -> int | None:
    from grit.judge.rule import parse_number

    try:
        v = parse_number(answer)
    except Exception:  # another module's parser: an odd answer must not break the reward
        return None
    return int(v) if v is not None and math.isfinite(v) and v == int(v) and v >= 0 else None


def grounded_target_counting(completions: Sequence[object], **kwargs) -> list[float]:
    """0–1: for counting items (``dataset`` contains "tally"/"count"; without a ``dataset`` column, a question
    starting "how many"), 1 when the number of valid boxes inside <think> equals the numeric answer.

    Items that are not counting items, have no or a non-numeric answer ("two" and "2 dogs" are numeric), or
    whose think/rethink tags are not well formed score 0.
    """
    n = len(completions)
    datasets, questions = _columns(kwargs, "dataset", n), _columns(kwargs, "question", n)
    counting_sets: dict[str, bool] = {}  # dataset tag -> is a counting set (a batch has few tags)
    frames = None
    out = []
    for i, (comp, ans) in enumerate(zip(completions, _columns(kwargs, "answer", n), strict=True)):
        score = 0.0
        if ans is not None and not isinstance(ans, bool):
            dataset = datasets[i]
            if type(dataset) is str:
                counting = counting_sets.get(dataset)
                if counting is None:
                    counting = counting_sets[dataset] = is_counting_item(dataset)
            else:
                counting = is_counting_item(dataset, questions[i])
            target = _answer_count(str(ans)[:200]) if counting else None
            if target is not None:
                c = _chain(comp if type(comp) is str else completion_text(comp))
                if c.reasoning_ok:
                    if frames is None:
                        frames = _frames_getter(kwargs, n)
                    if _n_valid_boxes(c, frames(i)) == target:
                        score = 1.0
        out.append(score)
    return out


def answer_format(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.5: 0.25 when ``<answer>`` appears, 0.5 when it appears exactly once."""
    out = []
    for comp in completions:
        n = (comp if type(comp) is str else completion_text(comp)).count("<answer>")
        out.append(0.5 if n == 1 else 0.25 if n > 1 else 0.0)
    return out


# ------------------------------------------------------------------------------------------------ answer


def _answer_part(text: str) -> str | None:
    """``chain.answer_text(text)`` when the text has an ``<answer>`` tag, else None. The step's parse has the
    same span (the last <answer> up to the next </answer> or the end), so a parsed text is not searched again."""
    c = _parse_cached.chains.get(text)
    if c is not None:
        return None if c.answer is None else c.answer.strip()
    return chain_mod.answer_text(text) if "<answer>" in text else None


def _default_judge(prediction: str, answer: str, **kw) -> bool:
    from grit.judge import judge_answer

    if not isinstance(
        kw.get("question"), str
    ):  # a junk question column (ints, NaN) must not crash the reward
        kw["question"] = None
    return judge_answer(prediction, answer, **kw)


def make_answer_accuracy(judge_fn: Callable[..., object] | None = None) -> RewardFn:
    """An ``answer_accuracy`` reward using ``judge_fn(prediction, answer, *, question, choices, answer_type)``
    (truthy = correct; e.g. :class:`grit.judge.LLMJudge`). Default: the offline rule judge."""
    judge = judge_fn or _default_judge

    def answer_accuracy(completions: Sequence[object], **kwargs) -> list[float]:
        """0–1: 1 when the judge accepts the text after the last ``<answer>``; 0 without ``<answer>``."""
        n = len(completions)
        answers = _require_answers(kwargs, n, "answer_accuracy")
        questions, choices = _columns(kwargs, "question", n), _columns(kwargs, "choices", n)
        answer_types = _columns(kwargs, "answer_type", n)
        call = judge
        if judge is _default_judge:  # the same call without its import and keyword dict per item
            from grit.judge import judge_answer as call

            questions = [q if isinstance(q, str) else None for q in questions]
        out = []
        for i, comp in enumerate(completions):
            pred = _answer_part(comp if type(comp) is str else completion_text(comp))
            if pred is None:
                out.append(0.0)
                continue
            # No try/except: a judge that fails after its own retries (LLMJudge raises JudgeError) stops the
            # run loudly — resumable from the last checkpoint — instead of training on silent zeros.
            ok = call(
                pred, str(answers[i]), question=questions[i], choices=choices[i], answer_type=answer_types[i]
            )
            out.append(1.0 if ok else 0.0)
        return out

    answer_accuracy.__name__ = answer_accuracy.__qualname__ = "answer_accuracy"
    return answer_accuracy


answer_accuracy = make_answer_accuracy()

_BLEU_STRIP_RE = re.compile(r"[^a-zA-Z0-9\s]")


def bleu1(candidate: str, reference: str) -> float:
    """Sentence BLEU-1: clipped unigram precision times the brevity penalty, on lowercased words with
    punctuation removed (the released code's normalisation; nltk's ``sentence_bleu`` with weights (1,0,0,0))."""
    ref_len, ref_counts = _bleu_reference(reference) if len(reference) <= 200 else _bleu_counts(reference)
    # A candidate equal to the reference: every word matches and the lengths agree, so precision 1 and
    # brevity penalty exp(0) = 1 (or 0 without words), as the computation below gives.
    if candidate == reference:
        return 1.0 if ref_len else 0.0
    cand = _bleu_words(candidate)
    if not cand or not ref_len:
        return 0.0
    cand_counts: dict[str, int] = {}
    for w in cand:
        cand_counts[w] = cand_counts.get(w, 0) + 1
    matched = sum(min(n, ref_counts.get(w, 0)) for w, n in cand_counts.items())
    precision = matched / len(cand)
    bp = 1.0 if len(cand) > ref_len else math.exp(1 - ref_len / len(cand))
    return precision * bp


def _bleu_words(text: str) -> list[str]:
    return _BLEU_STRIP_RE.sub(" ", text).lower().split()


def _bleu_counts(reference: str) -> tuple[int, dict[str, int]]:
    """Number of words and word counts of a reference (callers only read the dict)."""
    counts: dict[str, int] = {}
    words = _bleu_words(reference)
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    return len(words), counts


# A reference is a ground-truth answer, shared by the whole GRPO group of completions scored against it.
_bleu_reference = lru_cache(maxsize=4096)(_bleu_counts)


def answer_bleu(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.1: BLEU-1 of the answer text (after the last ``<answer>``) vs the ground truth × 0.1; 0 without
    ``<answer>``."""
    answers = _require_answers(kwargs, len(completions), "answer_bleu")
    out = []
    for i, comp in enumerate(completions):
        pred = _answer_part(comp if type(comp) is str else completion_text(comp))
        score = 0.0
        if pred is not None:
            score = 0.1 * bleu1(pred[:10_000], str(answers[i])[:10_000])
        out.append(score)
    return out


# ------------------------------------------------------------------------------------------------ repetition

NGRAM = 8
MAX_WORDS = 100_000  # longer completions are judged on their first 100k words


def _8grams_distinct(words: list[str]) -> bool:
    """True when no word 8-gram of ``words`` occurs twice; False when one may (then they are counted).

    Decided on a sample of the word 3-grams, half of them, those starting at positions ≡ 0, 1 or 3 (mod 6),
    instead of one 8-tuple per position. If the 8-grams at i and j are equal, so are the 3-grams at i + o and
    j + o for o = 0..5 (both lie inside the 8-grams), and as o runs through 0..5, i + o takes every residue
    mod 6. {0, 1, 3} is a difference cover mod 6 (every residue is x - y for x, y in it), so for some o both
    i + o and j + o are sampled: two equal sampled 3-grams at different positions. (A test checks it against
    the 8-gram count.)"""
    it = iter(words)
    seen = set(zip(it, it, it))  # noqa: B905 - the 3-grams at 0, 3, 6, ... (≡ 0 or 3 mod 6): len(words) // 3
    if len(seen) < len(words) // 3:
        return False  # a repetitive text: stop early
    s3 = words[3::6]
    seen.update(zip(words[1::6], words[2::6], s3))  # noqa: B905 - those at 1, 7, 13, ...: len(s3)
    return len(seen) == len(words) // 3 + len(s3)


def repetition(completions: Sequence[object], **kwargs) -> list[float]:
    """0–0.5: ``0.5 * (1 - repeated)``, where ``repeated`` is the share of word 8-grams that already occurred
    earlier in the completion; texts shorter than 8 words score 0.5."""
    out = []
    for comp in completions:
        words = (comp if type(comp) is str else completion_text(comp)).split()
        if len(words) > MAX_WORDS:
            words = words[:MAX_WORDS]
        total = len(words) - NGRAM + 1
        if total <= 1 or (NGRAM >= 8 and _8grams_distinct(words)):  # (the sample's proof needs NGRAM >= 8)
            out.append(0.5)  # = 0.5 * total / total
            continue
        # Words as the index of their first occurrence (same n-grams, cheaper to hash and compare); zip stops at
        # the shortest slice, ids[NGRAM - 1:], which has exactly `total` items.
        first: dict[str, int] = {}
        ids = list(map(first.setdefault, words, range(len(words))))
        unique = len(set(zip(*[ids[k:] for k in range(NGRAM)])))  # noqa: B905
        out.append(0.5 * unique / total)
    return out


# ------------------------------------------------------------------------------------------------ registry

REGISTRY: dict[str, RewardFn] = {
    "grounded_reasoning_format": grounded_reasoning_format,
    "grounded_region_format": grounded_region_format,
    "grounded_target_counting": grounded_target_counting,
    "answer_accuracy": answer_accuracy,
    "answer_bleu": answer_bleu,
    "answer_format": answer_format,
    "repetition": repetition,
}
# The released code sums all rewards unweighted.
DEFAULT_WEIGHTS: dict[str, float] = dict.fromkeys(REGISTRY, 1.0)
RANGES: dict[str, tuple[float, float]] = {
    "grounded_reasoning_format": (0.0, 0.5),
    "grounded_region_format": (0.0, 0.5),
    "grounded_target_counting": (0.0, 1.0),
    "answer_accuracy": (0.0, 1.0),
    "answer_bleu": (0.0, 0.1),
    "answer_format": (0.0, 0.5),
    "repetition": (0.0, 0.5),
}


def get_rewards(names: Sequence[str] | str | None = None) -> tuple[list[RewardFn], list[float]]:
    """Reward functions and their default weights, by name (comma-separated string or list; None = all)."""
    if names is None:
        names = list(REGISTRY)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown reward(s) {unknown}; valid rewards: {', '.join(REGISTRY)}")
    return [REGISTRY[n] for n in names], [DEFAULT_WEIGHTS[n] for n in names]
