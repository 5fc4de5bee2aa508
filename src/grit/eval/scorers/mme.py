"""MME's official scorer (``eval_tool/calculation.py``), re-implemented to give the official numbers exactly
(stdlib only): a yes/no parse of the first characters of each response, accuracy per subtask, acc+ per image
(both of its two questions right), score = acc × 100 + acc+ × 100.

tests/test_scoring.py reproduces official verdicts line by line on real benchmark records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from grit.errors import GritUserError

MME_PERCEPTION = ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                  "artwork", "OCR"]  # fmt: skip
MME_COGNITION = ["commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"]


class MMEFormatError(GritUserError, ValueError):
    """A malformed MME result line (names file and line)."""


def mme_parse(response: str) -> str:
    """Official ``parse_pred_ans`` on a lowercased response: "yes"/"no" exactly, else whichever of them occurs
    in the FIRST FOUR characters (yes wins), else "other"."""
    response = response.lower()
    if response in ("yes", "no"):
        return response
    head = response[:4]
    if "yes" in head:
        return "yes"
    if "no" in head:
        return "no"
    return "other"


def mme_line(image: str, question: str, gt: str, response: str) -> str:
    """One result line in the official format; newlines and tabs in the response become spaces."""
    clean = re.sub(r"[\t\r\n]+", " ", response)
    return f"{image}\t{question}\t{gt}\t{clean}"


def mme_line_verdicts(lines: Iterable[str], source: str = "<lines>") -> list[dict[str, Any]]:
    """Parse result lines (``image \\t question \\t GT \\t response``) into per-line verdicts."""
    out = []
    for i, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            raise MMEFormatError(
                f"{source}:{i}: expected 4 tab-separated fields (image, question, GT, response), got {len(parts)}"
            )
        image, question, gt, response = parts
        gt = gt.lower()
        if gt not in ("yes", "no"):
            raise MMEFormatError(f"{source}:{i}: field GT must be Yes/No, got {parts[2]!r}")
        parsed = mme_parse(response)
        out.append({"line": i, "image": image, "question": question, "gt": gt, "response": response.lower(),
                    "parsed": parsed, "correct": parsed == gt})  # fmt: skip
    return out


def mme_subtask_score(lines: Iterable[str], source: str = "<lines>") -> dict[str, Any]:
    """acc, acc+ and score for one subtask's result lines. Lines are taken in consecutive pairs (one image's two
    questions), exactly as the official script does; the pair's image names must agree."""
    verdicts = mme_line_verdicts(lines, source)
    if len(verdicts) % 2:
        raise MMEFormatError(f"{source}: {len(verdicts)} answer lines; MME needs two per image")
    pairs = [verdicts[i : i + 2] for i in range(0, len(verdicts), 2)]
    for a, b in pairs:
        if a["image"] != b["image"]:
            raise MMEFormatError(
                f"{source}:{b['line']}: image {b['image']!r} does not pair with line {a['line']} ({a['image']!r})"
            )
    acc = sum(v["correct"] for v in verdicts) / len(verdicts) if verdicts else 0.0
    acc_plus = sum(a["correct"] and b["correct"] for a, b in pairs) / len(pairs) if pairs else 0.0
    return {
        "n_questions": len(verdicts),
        "n_images": len(pairs),
        "acc": acc,
        "acc_plus": acc_plus,
        # The official script adds acc * 100 and acc_plus * 100 one after the other; (acc + acc_plus) * 100
        # differs from it in the last bits on some subtasks (88.33333333333333 vs 88.33333333333334).
        "score": acc * 100 + acc_plus * 100,
        "other_num": sum(v["parsed"] == "other" for v in verdicts),
    }


def mme_scores(results: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """Score several subtasks: ``results`` maps subtask name → its result lines.

    Returns ``{"subtasks": {name: {n_questions, n_images, acc, acc_plus, score, other_num}}, "perception": …,
    "cognition": …}`` where the totals sum the scores of the subtasks present in each official group.
    """
    return _mme_totals({name: mme_subtask_score(lines, source=name) for name, lines in results.items()})


def mme_score_dir(results_dir: str | Path) -> dict[str, Any]:
    """:func:`mme_scores` over every ``<subtask>.txt`` of a directory (the official ``--results_dir`` layout)."""
    files = sorted(Path(results_dir).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no <subtask>.txt result files in {results_dir}")
    return _mme_totals({f.stem: mme_subtask_score(_read_lines(f), source=str(f)) for f in files})


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _mme_totals(subtasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Totals summed in the official subtask order (float addition is not associative)."""
    return {
        "subtasks": subtasks,
        "perception": sum(subtasks[n]["score"] for n in MME_PERCEPTION if n in subtasks),
        "cognition": sum(subtasks[n]["score"] for n in MME_COGNITION if n in subtasks),
    }


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``mme_official`` of a dataset's scored rows: MME's own parser on the answer text, per subtask
    (``question_type``), complete image pairs only."""
    pairs: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: r.get("index", 0)):
        group = str(r.get("group") or r.get("image"))
        pairs.setdefault(group, []).append(r)
    subtasks: dict[str, list[str]] = {}
    incomplete = 0
    for group, members in pairs.items():
        if len(members) != 2:
            incomplete += 1
            continue
        sub = str(members[0].get("question_type") or group.split("/")[0])
        for r in members:
            subtasks.setdefault(sub, []).append(mme_line(group, r["question"], r["answer"], r["answer_pred"]))
    if not subtasks:
        return {"error": "no complete question pairs", "n_incomplete_pairs": incomplete}
    try:
        scores = mme_scores(subtasks)
    except MMEFormatError as e:
        return {"error": str(e), "n_incomplete_pairs": incomplete}
    subs = scores["subtasks"]
    n_q = sum(s["n_questions"] for s in subs.values())
    n_img = sum(s["n_images"] for s in subs.values())
    return {
        "score": sum(s["score"] for s in subs.values()),
        "acc": sum(s["acc"] * s["n_questions"] for s in subs.values()) / n_q,
        "acc_plus": sum(s["acc_plus"] * s["n_images"] for s in subs.values()) / n_img,
        "n_questions": n_q,
        "n_incomplete_pairs": incomplete,
        "subtasks": subs,
        "note": "official MME parser applied to the answer text (after <answer>)",
    }
