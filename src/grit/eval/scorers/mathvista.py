"""MathVista's official scorer (lupantech/MathVista ``evaluation/calculate_score.py``), re-implemented to give
the official verdicts exactly (stdlib only): answer extraction, then normalisation by question/answer type,
then plain string equality. Their extraction asks GPT; ours is rule-based (:func:`mathvista_extract`);
everything after extraction follows the official semantics, including integer truncation, Python's rounding
and the Levenshtein fallback for multiple choice.

tests/test_scoring.py reproduces official verdicts line by line on real benchmark records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from grit.chain import answer_text
from grit.judge.rule import number_matches

MATHVISTA_KEYS = ["question_type", "answer_type", "language", "source", "category", "task", "context",
                  "grade", "skills"]  # fmt: skip
_ANSWER_IS_RE = re.compile(r"answer\s*(?:is|:|=)\s*(?:\*\*)?\s*(.+)", re.IGNORECASE)
_COPULA_RE = re.compile(
    r"\b(?:is|are|was|were|be|equals?|approximately|about|around|roughly)\b|=|≈", re.IGNORECASE
)
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1), case-sensitive like python-Levenshtein."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _choices(problem: Mapping[str, Any]) -> list[str]:
    return list(problem.get("choices") or [])


def mathvista_normalize(
    extraction: Any, problem: Mapping[str, Any], ignore_empty: bool = False
) -> str | None:
    """The official ``normalize_extracted_answer``: the string compared with ``problem["answer"]``, or None.

    multi_choice: first ``(X)`` letter, else an exact option letter, else the Levenshtein-nearest choice
    (ties → first); integer: ``str(int(float(x)))`` (truncates); float: ``str(round(float(x), precision))``;
    list: ``str(x)``. ``ignore_empty`` mirrors ``--ignore_empty_extractions`` (empty MC extraction → None).
    """
    if problem["question_type"] == "multi_choice":
        choices = _choices(problem)
        text = extraction.strip() if isinstance(extraction, str) else str(extraction)
        if ignore_empty and not text:
            return None
        letters = re.findall(r"\(([a-zA-Z])\)", text)
        if letters:
            text = letters[0].upper()
        options = [chr(ord("A") + i) for i in range(len(choices))]
        if text in options:
            return choices[options.index(text)]
        distances = [levenshtein(text, c) for c in choices]
        return choices[distances.index(min(distances))]
    answer_type = problem["answer_type"]
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            return str(round(float(extraction), int(problem["precision"])))
        if answer_type == "list":
            return str(extraction)
    except (TypeError, ValueError, OverflowError):
        return None
    return None


def mathvista_verdict(extraction: Any, problem: Mapping[str, Any], ignore_empty: bool = False) -> bool:
    """Official verdict: normalised extraction ``==`` the answer string."""
    return mathvista_normalize(extraction, problem, ignore_empty) == problem["answer"]


def mathvista_extract(response: str, problem: Mapping[str, Any]) -> str:
    """Rule-based stand-in for MathVista's GPT answer extraction.

    Official shortcuts first (empty → "", an exact choice text, a bare int/float, ``The answer is "X".``),
    then: for multiple choice an option letter ("(B)", "B.", "Answer: B") or the one choice text that occurs
    in the response; for numbers the number after an "answer is/:" marker, else the last number; for lists
    the last bracketed list re-written as ``[a, b]``. Otherwise the stripped response (the multiple-choice
    normalisation then picks the nearest option by edit distance).
    """
    if not response:
        return ""
    text = answer_text(response)
    choices = _choices(problem)
    answer_type = problem.get("answer_type")
    if problem.get("question_type") == "multi_choice" and text in choices:
        return text
    try:
        if answer_type == "integer":
            return str(int(text))
        if answer_type == "float":
            return str(float(text))
    except ValueError:
        pass
    quick = re.search(r'The answer is "(.*)"\.', text)
    if quick:
        return quick.group(1)

    marked = _ANSWER_IS_RE.findall(text)
    focus = marked[-1].strip() if marked else text
    if problem.get("question_type") == "multi_choice":
        return _extract_choice(focus, choices) or _extract_choice(text, choices) or text
    if answer_type == "list":
        return _extract_list(text) or text
    if answer_type in ("integer", "float"):
        return _extract_number(text) or text
    return focus


def _number_strings(text: str) -> list[tuple[int, str]]:
    """(position, number as a plain string) for digits and number words; "3,553.25" → "3553.25", "two" → "2"."""
    out = []
    for start, end, value in number_matches(text):
        raw = text[start:end].replace(",", "")
        try:
            float(raw)
        except ValueError:  # a number word or a fraction
            raw = str(int(value)) if value == int(value) else str(value)
        out.append((start, raw))
    return out


def _extract_number(text: str) -> str | None:
    """The number a response concludes with: the first number after the last "answer is/:", else in the last
    sentence that has a number, the first number after its last "is / are / = / approximately …", else that
    sentence's first number. A range "1200-1450" is returned whole (it then normalises to None, as GPT's
    extraction of such answers does)."""
    marked = list(_ANSWER_IS_RE.finditer(text))
    if marked:
        line = text[marked[-1].start(1) :].split("\n")[0]
        nums = _number_strings(line)
        if nums:
            return _with_range(line, nums[0])
    for sentence in reversed(_SENTENCE_RE.split(text)):
        nums = _number_strings(sentence)
        if not nums:
            continue
        for kw in reversed(list(_COPULA_RE.finditer(sentence))):
            after = [n for n in nums if n[0] >= kw.end()]
            if after:
                return _with_range(sentence, after[0])
        return _with_range(sentence, nums[0])
    return None


def _with_range(text: str, num: tuple[int, str]) -> str:
    pos, value = num
    m = re.match(r"-?[\d,.]+\s*-\s*\d[\d,.]*", text[pos:])
    return m.group(0).replace(",", "").replace(" ", "") if m else value


def _extract_list(text: str) -> str | None:
    """The last bracketed list, else the numbers of the first sentence that holds two or more, as ``[a, b]``."""
    brackets = re.findall(r"\[([^\[\]]*)\]", text)
    groups = [brackets[-1]] if brackets else re.split(r"(?<=[.!?])\s+|\n", text)
    for group in groups:
        nums = [n for _, n in _number_strings(group)]
        if len(nums) >= 2 or (brackets and nums):
            return "[" + ", ".join(nums) + "]"
    return None


def _extract_choice(text: str, choices: Sequence[str]) -> str | None:
    stripped = text.strip().strip("*").strip()
    n = len(choices)
    m = re.match(r"^\(?([A-Z])\)?(?:[.:)]|\s|$)", stripped) or re.search(r"\(([A-Z])\)", stripped)
    if m and ord(m.group(1)) - ord("A") < n:
        return m.group(1)
    low = stripped.lower()
    hits = [c for c in choices if re.search(r"(?<!\w)" + re.escape(c.lower()) + r"(?!\w)", low)]
    hits = [c for c in hits if not any(o != c and c.lower() in o.lower() for o in hits)]
    return hits[0] if len(hits) == 1 else None


def _flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    flat = dict(record)
    flat.update(flat.pop("metadata", None) or {})
    return flat


def mathvista_scores(
    records: Iterable[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Scores in the official ``scores_*.json`` layout: ``{"average": {accuracy, correct, total}, key: {value:
    {accuracy, correct, total}}}`` for the official breakdown keys (skills counts under each of its skills).

    Each record holds the problem fields (``metadata`` nested or flattened) and ``extraction``; when it has
    no ``extraction`` its ``response`` is extracted with :func:`mathvista_extract`. Accuracies are fractions.
    """
    items = list(records.values()) if isinstance(records, Mapping) else list(records)
    rows = []
    for rec in items:
        flat = _flatten(rec)
        extraction = (
            flat["extraction"] if "extraction" in flat else mathvista_extract(flat.get("response", ""), flat)
        )
        flat["true_false"] = mathvista_verdict(extraction, flat)
        rows.append(flat)
    correct = sum(r["true_false"] for r in rows)
    scores: dict[str, Any] = {
        "average": {"accuracy": correct / len(rows) if rows else 0.0, "correct": correct, "total": len(rows)}
    }
    for key in MATHVISTA_KEYS:
        groups: dict[str, list[bool]] = {}
        for r in rows:
            if key not in r:
                continue
            values = r[key] if key == "skills" else [r[key]]
            for v in values:
                groups.setdefault(v, []).append(r["true_false"])
        table = {
            v: {"accuracy": sum(tf) / len(tf), "correct": sum(tf), "total": len(tf)}
            for v, tf in groups.items()
        }
        scores[key] = dict(sorted(table.items(), key=lambda kv: kv[1]["accuracy"], reverse=True))
    return scores


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``mathvista_official`` of a dataset's scored rows: the official normalisation + exact match on the
    completion (rule-based extraction in place of the GPT extractor)."""
    usable = [r for r in rows if r.get("question_type") in ("multi_choice", "free_form")]
    if not usable:
        return {"error": "no records with question_type (convert MathVista with grit data convert)"}
    scores = mathvista_scores([{**r, "response": r["completion"]} for r in usable])
    return {**scores["average"], "by": {k: v for k, v in scores.items() if k != "average"}}
