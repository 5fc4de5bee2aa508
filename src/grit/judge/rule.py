"""Offline, deterministic answer judge (stdlib only).

GRIT scores answers with a GPT-4o judge. That needs a network, costs money and is not reproducible, so this
module gives a rule-based stand-in that is good enough for training rewards and offline evaluation on the
GRIT benchmarks' answer styles: yes/no (VSR, MME), counts (TallyQA), short phrases (GQA, VSR, OVDEval) and
MathVista's multiple choice / integer / float / list answers.

It is deliberately strict: an answer that hedges ("2 or 3", "yes and no", two different numbers, two
different choices) is wrong, and a short ground truth found inside a longer prediction only counts when the
rest of the prediction is filler or words from the question ("It is a dog." vs "dog" is right, "a dog and a
cat" vs "dog" is wrong).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from functools import lru_cache

# ------------------------------------------------------------------------------------------ normalising

ARTICLES = {"a", "an", "the"}
# Words that may surround a short answer without changing it ("It is a dog in the image.").
FILLER = ARTICLES | {
    "it", "its", "it's", "is", "are", "was", "were", "be", "this", "that", "these", "those", "there", "here",
    "they", "he", "she", "i", "think", "answer", "final", "object", "thing", "one", "image", "picture", "photo",
    "in", "of", "on", "at", "to", "shown", "seen", "visible", "appears", "looks", "like", "seems", "which",
    "what", "kind", "type", "called", "named", "color", "colour", "so", "therefore", "thus", "hence", "my",
    "s", "just", "only", "clearly", "probably", "likely", "correct", "would", "say", "has", "have", "side",
}  # fmt: skip
_NO_NUMBER_RE = re.compile(r"\bno\s+[\d.]")  # "no 3 dogs" (but "no. 3" / "No, 3" stay answers)
NEGATIONS = {"not", "no", "isn't", "isnt", "aren't", "arent", "never", "neither", "nor", "none", "without"}
HEDGES = {"or", "either", "neither", "nor", "maybe", "perhaps", "unsure", "unclear"}
YES_WORDS = {"yes", "true"}
NO_WORDS = {"no", "false"}

_PUNCT = "".join(c for c in string.punctuation if c not in "'")
_PUNCT_RE = re.compile(f"[{re.escape(_PUNCT)}]")
# Text without any of these characters needs none of normalize_text's substitutions (the common short answer).
_NORMALIZE_RE = re.compile(f"[{re.escape(_PUNCT)}\x00\x01]")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3})")
_DECIMAL_RE = re.compile(r"(?<=\d)([.:])(?=\d)")
_TAG_RE = re.compile(r"</?\s*(answer|think|rethink)\s*>", re.IGNORECASE)
_PREFIX_RE = re.compile(
    r"^\s*(?:(?:so|thus|therefore|hence)[, ]+)?(?:the\s+)?(?:final\s+|correct\s+)?answer\s*(?:is|:|=)?\s*[:\-]?\s*",
    re.IGNORECASE,
)


def _strip_tags(text: str) -> str:
    return _TAG_RE.sub(" ", text).strip() if "<" in text else text.strip()


def _strip_prefix(text: str) -> str:
    """Drop a leading 'Answer:' / 'The answer is' so that what follows is judged."""
    return _PREFIX_RE.sub("", text, count=1).strip()


def _singular(word: str) -> str:
    """Crude plural folding, applied to both sides alike ("dogs" == "dog", "boxes" == "box")."""
    if len(word) <= 3 or word[-1] != "s":  # every rule below needs a longer word ending in "s"
        return word
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def normalize_text(text: str) -> list[str]:
    """Lowercase, drop punctuation (keeping decimals and apostrophes), split into words, fold plurals."""
    text = text.lower().replace("’", "'")
    if _NORMALIZE_RE.search(text):
        if "," in text:
            text = _THOUSANDS_RE.sub("", text)  # 1,000 -> 1000
        if "." in text or ":" in text:  # keep 2.5 and 3:30 through the punctuation strip
            text = _DECIMAL_RE.sub(lambda m: "\x00" if m.group(1) == "." else "\x01", text)
        text = _PUNCT_RE.sub(" ", text).replace("\x00", ".").replace("\x01", ":")
    if "'" in text:
        return [_singular(w) for w in (w.strip("'") for w in text.split()) if w]
    return [_singular(w) for w in text.split()]


# ------------------------------------------------------------------------------------------- numbers

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES)
_DIGITS_RE = re.compile(r"(?<![\w.])(-?)(\d+/\d+|\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+|\.\d+)(?!\.?\d)")
_WORDS_RE = re.compile(
    r"\b(?:"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")(?:[\s-]+(?:and[\s-]+)?(?:"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r"))*\b",
    re.IGNORECASE,
)


_NUMBER_SEP_RE = re.compile(r"[\s-]+")
_NUMERIC_WORD_RE = re.compile(r"-?[\d.,/:]+")
_DECIMALS_RE = re.compile(r"\d\.(\d+)")
_ANSWER_MARKER_RE = re.compile(r"(?:answer\s*(?:is|:|=)|=)\s*", re.IGNORECASE)
_LIST_ANSWER_RE = re.compile(r"\s*\[[^\]]*\]\s*")
_NOT_TRUE_RE = re.compile(r"\b(?:not|isn't|is not)\s+(true|false)\b")


def _words_to_number(phrase: str) -> float | None:
    total, current = 0, 0
    for w in _NUMBER_SEP_RE.split(phrase.lower()):
        if w == "and" or not w:
            continue
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w in _SCALES:
            current = max(current, 1) * _SCALES[w]
            if _SCALES[w] >= 1000:
                total, current = total + current, 0
        else:
            return None
    return float(total + current)


def _digits_to_number(sign: str, body: str) -> float:
    if "/" in body:
        num, den = body.split("/")
        value = float(num) / float(den) if float(den) else float("nan")
    else:
        value = float(body.replace(",", ""))
    return -value if sign else value


def number_matches(text: str) -> list[tuple[int, int, float]]:
    """``(start, end, value)`` of every number written in ``text``, in order: digits ("2", "2.0", "1,000", "-3",
    "3/4") and English number words ("two", "twenty-one", "one hundred and five")."""
    if text.isdigit() and text.isascii():  # the common bare count: one number, no number words
        return [(0, len(text), float(text))]
    found: list[tuple[int, int, float]] = []
    for m in _DIGITS_RE.finditer(text):
        value = _digits_to_number(m.group(1), m.group(2))
        if value == value:  # skip NaN from x/0
            found.append((m.start(), m.end(), value))
    if _may_have_number_words(text):
        for m in _WORDS_RE.finditer(text):
            value = _words_to_number(m.group(0))
            if value is not None:
                found.append((m.start(), m.end(), value))
    return sorted(found)


_WORD_RUN_RE = re.compile(r"\w+")


def _may_have_number_words(text: str) -> bool:
    """False when ``_WORDS_RE`` cannot match, found much faster than by running it: a match starts with a whole
    ``\\w+`` run that is a number word, which for ASCII text (same case folding) a set lookup decides."""
    return not text.isascii() or not _NUMBER_WORDS.isdisjoint(_WORD_RUN_RE.findall(text.lower()))


def find_numbers(text: str) -> list[float]:
    """The values of :func:`number_matches`, in order."""
    return [v for _, _, v in number_matches(text)]


def parse_number(text: str) -> float | None:
    """The number that ``text`` *is* (e.g. "2", "2.0", "two", "5 cm", "50%"), or None if it is not one number."""
    words = normalize_text(text)
    nums = find_numbers(text)
    if len(nums) != 1 or not words:
        return None
    rest = [w for w in words if not _NUMERIC_WORD_RE.fullmatch(w) and w.lower() not in _NUMBER_WORDS]
    rest = [w for w in rest if w != "and"]
    # allow a unit or a short noun ("5 cm", "3 dogs", "50 %"), not a sentence
    return nums[0] if len(rest) <= 1 else None


@lru_cache(maxsize=4096)  # a GRPO group of completions shares one ground truth
def stated_count(answer: str) -> int | None:
    """The object count a ground-truth answer states ("2", "two", "2 dogs", "2.0"), or None when it states no
    whole, non-negative number. The one counting rule of the target-counting reward and the counting metric."""
    v = parse_number(answer[:200])
    return int(v) if v is not None and math.isfinite(v) and v == int(v) and v >= 0 else None


_COUNT_DATASET_RE = re.compile(r"tally|count", re.IGNORECASE)


def is_counting_item(dataset: object, question: object = None) -> bool:
    """Counting items (TallyQA-style): the dataset tag names a counting set ("tallyqa", "shapes_count", ...);
    without a dataset tag, a question that starts with "how many"."""
    if dataset is not None:
        return bool(_COUNT_DATASET_RE.search(str(dataset)))
    return isinstance(question, str) and question.strip().lower().startswith("how many")


def _decimals(text: str) -> int:
    m = _DECIMALS_RE.search(text)
    return len(m.group(1)) if m else 0


def _after_answer_marker(text: str) -> list[float]:
    """The numbers after the last explicit 'answer is' / 'answer:' / '=' marker (its line only), if any."""
    if text.isascii() and "=" not in text and "answer" not in text.lower():
        return []  # no marker possible (only checked for ASCII, where case folding is plain lower())
    matches = list(_ANSWER_MARKER_RE.finditer(text))
    if not matches:
        return []
    return find_numbers(text[matches[-1].end() :].split("\n")[0])


def _numbers_equal(pred: float, gold: float, precision: int | None) -> bool:
    if precision is None:
        return abs(pred - gold) <= 1e-9 * max(1.0, abs(gold))
    return round(pred, precision) == round(gold, precision)


def _judge_number(pred: str, gold: float, gold_text: str, precision: int | None) -> bool:
    if precision is None:
        precision = _decimals(gold_text) or None
    nums = find_numbers(pred)
    if not nums:
        # "There are no dogs" / "none" for a zero count
        words = set(normalize_text(pred))
        return gold == 0 and bool(words & {"no", "none", "nothing", "zero"})
    nums = _after_answer_marker(pred) or nums
    distinct = {round(n, 9) for n in nums}
    if len(distinct) > 1:  # "2 or 3", "between 4 and 5": a hedge
        return False
    # "not 2", "there are no 3 dogs", "isn't 5": the number is denied, not given
    if (set(normalize_text(pred)) & NEGATIONS) - {"no"} or _NO_NUMBER_RE.search(pred.lower()):
        return False
    return _numbers_equal(nums[0], gold, precision)


def _judge_list(pred: str, gold_text: str) -> bool:
    gold = find_numbers(gold_text)
    got = find_numbers(pred)
    if gold:
        return len(got) == len(gold) and all(
            _numbers_equal(a, b, None) for a, b in zip(got, gold, strict=True)
        )
    return normalize_text(pred) == normalize_text(gold_text)


# ------------------------------------------------------------------------------------------- yes / no

_POLAR_RE = re.compile(r"\b(yes|no|true|false)\b")


def polarity(text: str) -> bool | None:
    """True for a yes/true answer, False for no/false, None when it gives neither or both (a hedge).

    "no" counts as an answer word only at the start or standing alone ("No, ..."; "... no."), not as the
    determiner in "there is no dog".
    """
    t = _strip_prefix(text.lower().replace("’", "'")).strip()
    t = _NOT_TRUE_RE.sub(lambda m: "false" if m.group(1) == "true" else "true", t)
    found: set[bool] = set()
    for m in _POLAR_RE.finditer(t):
        word = m.group(1)
        if word == "no":
            after = t[m.end() :]
            at_start = not t[: m.start()].strip(" \"'(*")
            alone = (
                not after.strip()
                or after.lstrip()[:1] in ",.;:!?)\"'"
                or after.lstrip().startswith(("and ", "or "))
            )
            if not (at_start or alone):
                continue
        found.add(word in YES_WORDS)
    return found.pop() if len(found) == 1 else None


def _is_polar(text: str) -> bool:
    return " ".join(normalize_text(text)) in YES_WORDS | NO_WORDS


# -------------------------------------------------------------------------------------- multiple choice

_LETTER_PATTERNS = [
    re.compile(r"^\(?([A-Za-z])\)?[.:)]?$"),  # "B", "(B)", "B.", "b)"
    re.compile(r"^\(([A-Za-z])\)"),  # "(B) 28cm"
    re.compile(r"^([A-Z])[.):]\s"),  # "B. 28cm", "B) 28cm"
    re.compile(r"(?i:answer|option|choice)\s*(?:is|:)?\s*\(?([A-Z])\)?(?:[.,;:)!]|\s|$)"),
]


def _choice_letter(pred: str, n_choices: int) -> int | None:
    text = _strip_prefix(pred).strip().strip("*").strip()
    for pat in _LETTER_PATTERNS:
        m = pat.search(text) if pat.pattern.startswith("(?i:") else pat.match(text)
        if m:
            idx = ord(m.group(1).upper()) - ord("A")
            return idx if 0 <= idx < n_choices else None
    return None


def _contains(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


def _choice_by_text(pred: str, choices: Sequence[str]) -> int | None:
    words = normalize_text(pred)
    norm = [normalize_text(c) for c in choices]
    for i, c in enumerate(norm):
        if words == c:
            return i
    hits = [i for i, c in enumerate(norm) if _contains(words, c)]
    # a choice that is only matched as part of a longer matched choice ("10" inside "10 cm") does not count
    hits = [
        i
        for i in hits
        if not any(j != i and _contains(norm[j], norm[i]) and len(norm[j]) > len(norm[i]) for j in hits)
    ]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        values = [parse_number(c) for c in choices]
        if all(v is not None for v in values):
            num = parse_number(pred)
            matches = [i for i, v in enumerate(values) if num is not None and v == num]
            return matches[0] if len(matches) == 1 else None
    return None


def _judge_choice(pred: str, answer: str, choices: Sequence[str]) -> bool | None:
    """Multiple choice: None when the answer cannot be located among the choices (fall back to text)."""
    norm_choices = [normalize_text(c) for c in choices]
    gold_words = normalize_text(answer)
    if gold_words in norm_choices:
        gold = norm_choices.index(gold_words)
    else:
        gold = _choice_letter(answer, len(choices))
        if gold is None:
            return None
    if all(_is_polar(c) for c in choices):
        pol = polarity(pred)
        letter = _choice_letter(pred, len(choices))
        if letter is not None:
            return letter == gold
        return pol is not None and pol == (normalize_text(choices[gold])[0] in YES_WORDS)
    by_letter = _choice_letter(pred, len(choices))
    by_text = _choice_by_text(pred, choices)
    if by_letter is not None and by_text is not None and by_letter != by_text:
        return False  # "(A) 28cm" where 28cm is choice B: two answers at once
    picked = by_letter if by_letter is not None else by_text
    return picked == gold


# ------------------------------------------------------------------------------------------- free text


def _judge_text(pred: str, answer: str, question: str | None) -> bool:
    pw, aw = normalize_text(pred), normalize_text(answer)
    pw_core = [w for w in pw if w not in ARTICLES]
    aw_core = [w for w in aw if w not in ARTICLES]
    if not aw_core:
        return pw == aw
    if pw_core == aw_core:
        return True
    n = len(aw_core)
    starts = [i for i in range(len(pw_core) - n + 1) if pw_core[i : i + n] == aw_core]
    if not starts:
        return False
    if set(pw_core) & HEDGES:
        return False
    rest = list(pw_core)
    for i in reversed(starts):
        del rest[i : i + n]
    question_words = set(normalize_text(question or ""))
    if (set(rest) & NEGATIONS) - question_words:
        return False
    return all(w in FILLER or w in question_words for w in rest)


# ---------------------------------------------------------------------------------------------- public


def judge_answer(
    prediction: str,
    answer: str,
    *,
    question: str | None = None,
    choices: Sequence[str] | None = None,
    answer_type: str | None = None,
    precision: int | None = None,
) -> bool:
    """Is ``prediction`` a correct, unhedged answer given the ground truth ``answer``?

    ``answer_type`` follows MathVista ("integer", "float", "list", "text") and is inferred when None:
    yes/no/true/false answers are judged by polarity, numbers by value (digits or words, units ignored,
    floats to the answer's ``precision`` or its number of decimals), ``choices`` by letter or option text.
    ``question`` lets a longer prediction repeat question words ("The cup is on the table" for
    "What is on the table?" → "cup").
    """
    pred = _strip_tags(str(prediction or ""))
    answer = _strip_tags(str(answer))
    if not pred or not answer:
        return False
    if choices:
        verdict = _judge_choice(pred, answer, list(choices))
        if verdict is not None:
            return verdict
    if (answer_type is None or type(answer_type) is str) and len(answer) <= 200:
        kind, gold = _gold_kind_cached(answer, answer_type)
    else:
        kind, gold = _gold_kind(answer, answer_type)
    if kind == "list":
        return _judge_list(pred, answer)
    if kind == "polar":
        return polarity(pred) == gold
    if kind == "number":
        return _judge_number(pred, gold, answer, precision)
    return _judge_text(_strip_prefix(pred), answer, question if isinstance(question, str) else None)


def _gold_kind(answer: str, answer_type: object) -> tuple[str, object]:
    """How a (tag-stripped) ground truth is judged: ``("list", None)``, ``("polar", is_yes)``,
    ``("number", value)`` or ``("text", None)``."""
    if answer_type == "list" or (answer_type is None and _LIST_ANSWER_RE.fullmatch(answer)):
        return "list", None
    if _is_polar(answer) and answer_type in (None, "text", "bool", "yes/no", "yesno"):
        return "polar", normalize_text(answer)[0] in YES_WORDS
    gold_num = parse_number(answer) if answer_type != "text" else None
    if gold_num is not None:
        return "number", gold_num
    return "text", None


# It depends on the ground truth alone, and GRPO judges a whole group of completions against each one.
_gold_kind_cached = lru_cache(maxsize=4096)(_gold_kind)
