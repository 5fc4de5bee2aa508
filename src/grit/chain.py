"""Grounded reasoning chains: completion text ⇄ :class:`GroundedChain` (stdlib only).

A GRIT completion looks like ``<think> text with boxes </think><rethink> … </rethink><answer> … </answer>``.
:func:`parse` splits it into its parts and finds every box inside the think part, whatever syntax the model
used. Syntaxes seen in practice, all handled by one left-to-right token scan:

* Qwen JSON ``{"bbox_2d": [x1, y1, x2, y2], "label": "chair"}`` (label before or after the box), JSON lists of
  such objects, and the invalid JSON of GRIT's own in-context example: one object repeating
  ``"bbox_2d": [...], "label": "..."`` pairs. Inside one object each box takes the label that follows it (or,
  when the object starts with a label, the one before it). ``"bbox_2d": [[...], [...]]`` gives several boxes.
* InternVL ``<ref>chair</ref><box>[[x1, y1, x2, y2], [...]]</box>``, also ``<box>[x1, y1, x2, y2]</box>``,
  ``<box>x1, y1, x2, y2</box>`` and Qwen-VL's ``<box>(x1,y1),(x2,y2)</box>``; Qwen2-VL's native
  ``<|object_ref_start|>chair<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`` reads the same way
  (its markers are special tokens: ``grit.models.markup`` keeps them when completions are decoded).
* Bare ``[x1, y1, x2, y2]`` lists and bare ``x1, y1, x2, y2`` quadruples (all the paper's reward code looks
  for). A bare bracketed list counts only with exactly four numbers; a number run is consumed once, so a
  ``bbox_2d`` list is never also counted as a bare quadruple.

Anything that was clearly meant as a box but is unusable (a ``bbox_2d`` or ``<box>`` with 3 numbers, garbage, a
zero-area or absurd box) becomes a :class:`ChainBox` with ``box=None`` and an ``error``, so callers can
report it instead of losing it silently.

Work limits: at most :data:`MAX_BOXES` boxes are parsed per call and only the first :data:`MAX_SCAN_CHARS`
characters of the scanned region are searched for boxes; all patterns are bounded, so adversarial input
(100k characters of ``[1,2,3,`` or nested brackets) costs linear time.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from grit.boxes import Box, Frame, InvalidBox, normalize_box

MAX_BOXES = 1000
MAX_SCAN_CHARS = 200_000

QWEN_GRIT_SUFFIX = (
    " First, think between <think> and </think> while output necessary coordinates needed to answer the question"
    " in JSON with key 'bbox_2d'. Then, based on the thinking contents and coordinates, rethink between"
    " <rethink> </rethink> and then answer the question after <answer>.\n"
)
INTERNVL_GRIT_SUFFIX = (
    " First, think between <think> and </think> while output necessary coordinates needed to answer the question"
    " between <box> and </box>. Then, based on the thinking contents and coordinates, rethink between"
    " <rethink> </rethink> and then answer the question after <answer>.\n"
)
STYLES = ("qwen", "internvl")


def grit_prompt(question: str, style: str) -> str:
    """The user-turn text GRIT trains and evaluates with: ``"Question: " + question + suffix``."""
    suffix = {"qwen": QWEN_GRIT_SUFFIX, "internvl": INTERNVL_GRIT_SUFFIX}.get(style)
    if suffix is None:
        raise ValueError(f"unknown chain style {style!r}; expected one of {STYLES}")
    return "Question: " + question + suffix


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class ChainBox:
    """One box as written in the text."""

    raw: str  # exact source text of the coordinates (e.g. '[12, 30, 80, 96]')
    span: tuple[int, int]  # character span of `raw` in the full text
    coords: tuple[float, ...]  # numbers as written (ints stay ints)
    label: str | None
    box: Box | None  # normalised box in the chain's frame, None if invalid
    error: str | None  # why invalid (None when valid)


@dataclass(frozen=True)
class GroundedChain:
    text: str
    think: str | None
    rethink: str | None
    answer: str | None
    think_span: tuple[int, int] | None
    rethink_span: tuple[int, int] | None
    answer_span: tuple[int, int] | None
    boxes: tuple[ChainBox, ...]  # every box inside the think part, in order (valid and invalid)
    frame: Frame | None
    tags_ok: bool  # think, /think, rethink, /rethink, answer once each in order (+ optional /answer), nothing before <think>
    strict_format: bool  # tags_ok and >= 1 valid box inside think
    reasoning_ok: bool = False  # <think>, </think>, <rethink>, </rethink> exactly once each, in this order

    @property
    def valid_boxes(self) -> list[Box]:
        return [b.box for b in self.boxes if b.box is not None]

    @property
    def invalid_boxes(self) -> list[ChainBox]:
        return [b for b in self.boxes if b.box is None]

    def pixel_boxes(self) -> list[Box]:
        """Valid boxes mapped to original-image pixels through ``frame`` (unchanged when there is no frame)."""
        if self.frame is None:
            return self.valid_boxes
        return [self.frame.to_pixels(b) for b in self.valid_boxes]


# ------------------------------------------------------------------------------------------------ tags

_TAG_RE = re.compile(r"</?(?:think|rethink|answer)>")
_TAG_NAMES = ("<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>")
_REASONING = _TAG_NAMES[:4]
_WELL_FORMED = (_TAG_NAMES[:5], _TAG_NAMES)


# Tags cannot overlap (each has '<' only at its start), so every occurrence of a tag's text is one of the tags
# _TAG_RE finds, and plain str.find / rfind locate them.


def _section(text: str, open_tag: str, close_tag: str, stops: Sequence[str], last: bool = False):
    """Inner span of the first (``last``: last) ``open_tag``: up to the next ``close_tag``, else the next stop
    tag, else the end of text."""
    p = text.rfind(open_tag) if last else text.find(open_tag)
    if p < 0:
        return None
    start = p + len(open_tag)
    end = text.find(close_tag, start)
    if end < 0:
        end = len(text)
        for tag in stops:
            q = text.find(tag, start)
            if 0 <= q < end:
                end = q
    return start, end


def answer_text(text: str) -> str:
    """The answer: text after the last ``<answer>`` (up to the next ``</answer>``), stripped; the whole text
    stripped when there is no ``<answer>``. (The one answer extraction: rewards, metrics and scorers use it.)"""
    span = _section(text, "<answer>", "</answer>", (), last=True)
    return (text if span is None else text[span[0] : span[1]]).strip()


# ------------------------------------------------------------------------------------------------ boxes

_NUM = r"-?(?:\d{1,12}(?:\.\d{0,12})?|\.\d{1,12})"
_NUM_RE = re.compile(_NUM)
_LABEL_BODY = r'"((?:[^"\\\n]|\\.){0,200})"|' + r"'([^'\\\n]{0,200})'"
# Box tokens, tried only where _TRIGGER_RE finds a possible first character: a pattern that starts with a
# character class lets `re` skip the rest of the text in C. Every repetition is bounded, so no input can make a
# pattern backtrack badly.
_TRIGGER_RE = re.compile(r"[\"'<{}\[(\d-]")
_QLIST = rf"(\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\])"
_QLABEL = r'"label"\s*:\s*"((?:[^"\\\n]|\\.){0,200})"'
# Self-contained one-box tokens: the common Qwen objects and InternVL's <ref>label</ref><box>[[x1, y1, x2, y2]]</box>.
# Each gives exactly what the general tokens below would give for the same text, in one step.
_BOX_TOKENS = (
    rf'(?P<qobj>\{{\s*"bbox_2d"\s*:\s*{_QLIST}\s*(?:,\s*{_QLABEL}\s*)?\}})'
    rf'|(?P<qobj_lf>\{{\s*{_QLABEL}\s*,\s*"bbox_2d"\s*:\s*{_QLIST}\s*\}})'
    rf"|(?P<iref><ref>([^<]{{0,200}})</ref>\s*<box>\s*\[\s*{_QLIST}\s*\]\s*</box>)"
)
_TOKEN_RE = re.compile(
    _BOX_TOKENS + r"|(?P<bkey>[\"']bbox(?:_2d)?[\"']\s*:\s*)"
    rf"|(?P<label>[\"']label[\"']\s*:\s*(?:{_LABEL_BODY}))"
    r"|(?P<ref><(?:ref|\|object_ref_start\|)>([^<]{0,200})<(?:/ref|\|object_ref_end\|)>)"
    r"|(?P<box><box>|<\|box_start\|>)|(?P<ebox></box>|<\|box_end\|>)"
    r"|(?P<obj>\{)|(?P<cobj>\})"
    r"|(?P<list>\[[-\d\s,.]{0,2000}\])"
    rf"|(?P<pairs>\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,?\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\))"
    rf"|(?P<quad>({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})(?![\w.]))"
)
_DIGITS_RE = re.compile(r"-?\d*")
_BAD_VALUE_RE = re.compile(r"\[[^\]\n{}]{0,200}\]?|\"[^\"\n]{0,200}\"?|[^,}\n]{1,200}")
_WS_RE = re.compile(r"\s*")


def _number(s: str) -> float:
    return float(s) if "." in s else int(s)


def _list_numbers(content: str) -> list[float] | None:
    """Numbers of a bracketed list's inside (``'1, 2.5, -3'``), or None if it is not a clean number list."""
    parts = content.split(",")
    if parts and not parts[-1].strip():
        parts.pop()  # trailing comma / empty list
    out = []
    for p in parts:
        p = p.strip()
        if not _NUM_RE.fullmatch(p):
            return None
        out.append(_number(p))
    return out


class _Scanner:
    """Collects box records from one region of text; labels are resolved before the ChainBoxes are built."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.recs: list[list] = []  # [start, end, coords, label, error]
        self.group: list[tuple[str, object]] = []  # JSON-ish events: ("B", [rec indices]) / ("L", label)

    def add(self, start: int, end: int, coords: Sequence[float], error: str | None = None, label=None) -> int:
        self.recs.append([start, end, tuple(coords), label, error])
        return len(self.recs) - 1

    def add_coords(self, start: int, end: int, nums: list[float] | None, what: str) -> int:
        if nums is None:
            return self.add(start, end, (), f"{what} {_short(self.text[start:end])} is not a list of numbers")
        err = None if len(nums) == 4 else f"{what} has {len(nums)} numbers, expected 4"
        return self.add(start, end, nums, err)

    def flush(self) -> None:
        """Pair boxes and labels of one JSON object: label-first objects label the boxes after each label,
        otherwise each box takes the label that follows it before the next box."""
        ev = self.group
        if ev and any(k == "L" for k, _ in ev):
            label_first = ev[0][0] == "L"
            current = None
            for i, (kind, val) in enumerate(ev):
                if kind == "L":
                    current = val
                    continue
                if label_first:
                    lab = current
                else:
                    lab = ev[i + 1][1] if i + 1 < len(ev) and ev[i + 1][0] == "L" else None
                for r in val:
                    self.recs[r][3] = lab
        self.group = []

    def bbox_value(self, p: int, end: int) -> int:
        """Parse the value of a ``"bbox_2d":`` key starting at ``p``; returns the position after it."""
        text = self.text
        m = _TOKEN_RE.match(text, p, end)
        if m is not None and m.lastgroup == "list":
            r = self.add_coords(
                m.start(), m.end(), _list_numbers(text[m.start() + 1 : m.end() - 1]), "bbox_2d"
            )
            self.group.append(("B", [r]))
            return m.end()
        if text.startswith("[", p, end):  # nested [[...], [...]]
            q = _WS_RE.match(text, p + 1, end).end()
            if text.startswith("[", q, end):
                idx = []
                while len(self.recs) < MAX_BOXES:
                    m = _TOKEN_RE.match(text, q, end)
                    if m is None or m.lastgroup != "list":
                        break
                    inner = _list_numbers(text[m.start() + 1 : m.end() - 1])
                    idx.append(self.add_coords(m.start(), m.end(), inner, "bbox_2d"))
                    q = _WS_RE.match(text, m.end(), end).end()
                    if text.startswith(",", q, end):
                        q = _WS_RE.match(text, q + 1, end).end()
                    elif text.startswith("]", q, end):
                        q += 1
                        break
                    else:
                        break
                if idx:
                    self.group.append(("B", idx))
                    return q
        m = _BAD_VALUE_RE.match(text, p, end)
        stop = m.end() if m else p
        if stop == p:
            error = "bbox_2d has no value"
        else:
            error = f"bbox_2d value {_short(text[p:stop])} is not a list of 4 numbers"
        r = self.add(p, stop, (), error)
        self.group.append(("B", [r]))
        return stop

    def scan(self, start: int, end: int) -> None:
        text = self.text
        end = min(end, start + MAX_SCAN_CHARS)
        in_box = False
        box_start = box_first = 0
        box_label: str | None = None
        ref_label: str | None = None
        ref_end = -1
        pos = start
        recs, search, match = self.recs, _TRIGGER_RE.search, _TOKEN_RE.match
        while len(recs) < MAX_BOXES:
            t = search(text, pos, end)
            if t is None:
                break
            s = t.start()
            numeric = text[s] not in "\"'<{}[("  # else a digit or '-'
            if numeric and s > 0 and (text[s - 1].isalnum() or text[s - 1] in "._-"):
                pos = _skip_number(text, s, end)  # inside a word or a longer number: no box starts here
                continue
            m = match(text, s, end)
            if m is None:
                pos = _skip_number(text, s, end) if numeric else s + 1
                continue
            kind, e = m.lastgroup, m.end()
            pos = e
            if kind == "qobj" or kind == "qobj_lf":
                if self.group:
                    self.flush()
                if not in_box:
                    recs.append(_box_record(m))
            elif kind == "iref":  # what the ref, box, list and ebox tokens below do for this text
                if self.group:
                    self.flush()
                recs.append(_box_record(m))
                in_box, ref_label = False, None
            elif kind == "bkey":
                if in_box:
                    continue
                pos = self.bbox_value(e, end)
            elif kind == "label":
                if not in_box:
                    g = m.lastindex
                    raw = m.group(g + 1) if m.group(g + 1) is not None else m.group(g + 2)  # "..." or '...'
                    self.group.append(("L", _unescape(raw)))
            elif kind in ("obj", "cobj"):
                self.flush()
            elif kind == "ref":
                self.flush()
                ref_label, ref_end = _clean_label(m.group(m.lastindex + 1)), e
            elif kind == "box":
                self.flush()
                in_box, box_start, box_first = True, e, len(self.recs)
                box_label, ref_label = ref_label, None
            elif kind == "ebox":
                if in_box and len(self.recs) == box_first:
                    self.add(box_start, s, (), "no coordinates inside <box>", box_label)
                in_box = False
            else:  # list, pairs, quad: a box candidate
                if kind == "list":
                    nums = _list_numbers(text[s + 1 : e - 1])
                    if not in_box and (nums is None or len(nums) != 4):
                        continue  # a bare list that is not 4 numbers is just not a box
                    r = self.add_coords(s, e, nums, "<box> list")
                elif kind == "pairs":
                    if not in_box:
                        continue
                    r = self.add(s, e, [_number(m.group(m.lastindex + i)) for i in range(1, 5)])
                else:
                    r = self.add(s, e, [_number(m.group(m.lastindex + i)) for i in range(1, 5)])
                if in_box:
                    self.recs[r][3] = box_label
                elif ref_label is not None and not text[ref_end:s].strip():
                    self.recs[r][3], ref_label = ref_label, None
                else:
                    self.group.append(("B", [r]))
        if in_box and len(self.recs) == box_first and len(self.recs) < MAX_BOXES:
            self.add(box_start, end, (), "unclosed <box> without coordinates", box_label)
        self.flush()

    def boxes(self, frame: Frame | None) -> list[ChainBox]:
        text = self.text
        return [
            _record_box(text, s, e, coords, label, error, frame) for s, e, coords, label, error in self.recs
        ]


def _record_box(
    text: str, s: int, e: int, coords: tuple, label: str | None, error: str | None, frame
) -> ChainBox:
    """The ChainBox of one scanner record ``[s, e, coords, label, error]``."""
    box = None
    if error is None:
        try:
            box = normalize_box(coords, frame, label)
        except InvalidBox as exc:
            error = str(exc)
    return ChainBox(text[s:e], (s, e), coords, label, box, error)


def _box_record(m: re.Match) -> list:
    """The record ``[start, end, coords, label, None]`` of a qobj / qobj_lf / iref match."""
    kind, g = m.lastgroup, m.lastindex
    if kind == "qobj":
        label, g = m.group(g + 6), g + 1
        label = _unescape(label or "") if label is None or "\\" in label else label.strip() or None
    elif kind == "qobj_lf":
        label, g = _unescape(m.group(g + 1)), g + 2
    else:
        label, g = _clean_label(m.group(g + 1)), g + 2
    raw, *nums = m.group(g, g + 1, g + 2, g + 3, g + 4)
    coords = tuple(map(_number, nums)) if "." in raw else tuple(map(int, nums))
    s, e = m.span(g)
    return [s, e, coords, label, None]


def _skip_number(text: str, s: int, end: int) -> int:
    """Position after the number (or lone '-') starting at ``s``."""
    return _DIGITS_RE.match(text, s, end).end() or s + 1


def _short(s: str, n: int = 40) -> str:
    return repr(s if len(s) <= n else s[:n] + "…")


def _clean_label(s: str | None) -> str | None:
    s = (s or "").strip()
    return s or None


def _unescape(s: str) -> str | None:
    if "\\" in s:
        with contextlib.suppress(ValueError):
            s = json.loads('"' + s + '"')
    return _clean_label(s)


def _scan(text: str, start: int, end: int, frame: Frame | None) -> list[ChainBox]:
    sc = _Scanner(text)
    sc.scan(start, end)
    return sc.boxes(frame)


def find_boxes(text: str, frame: Frame | None = None) -> list[ChainBox]:
    """All boxes anywhere in ``text`` (spans index into ``text``), normalised in ``frame``."""
    return _scan(text, 0, len(text), frame)


def parse(text: str, frame: Frame | None = None) -> GroundedChain:
    """Split a completion into think / rethink / answer and find the boxes inside the think part.

    Sections are lenient so that broken chains can still be inspected: think runs from the first ``<think>`` to
    the next ``</think>`` (else to the next ``<rethink>``/``<answer>``, else the end); rethink likewise from the
    first ``<rethink>``; answer from the last ``<answer>`` to the next ``</answer>`` or the end. The strictness
    lives in ``tags_ok`` / ``reasoning_ok`` / ``strict_format``.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() needs a str, got {type(text).__name__}")
    think = _section(text, "<think>", "</think>", ("<rethink>", "<answer>"))
    rethink = _section(text, "<rethink>", "</rethink>", ("<answer>",))
    answer = _section(text, "<answer>", "</answer>", (), last=True)
    names = tuple(_TAG_RE.findall(text))
    tags_ok = names in _WELL_FORMED and not text[: text.find("<think>")].strip()
    reasoning_ok = tags_ok or tuple(n for n in names if n in _REASONING) == _REASONING
    boxes = tuple(_scan(text, *think, frame)) if think else ()
    return GroundedChain(
        text=text,
        think=text[think[0] : think[1]] if think else None,
        rethink=text[rethink[0] : rethink[1]] if rethink else None,
        answer=text[answer[0] : answer[1]] if answer else None,
        think_span=think,
        rethink_span=rethink,
        answer_span=answer,
        boxes=boxes,
        frame=frame,
        tags_ok=tags_ok,
        strict_format=tags_ok and any(b.box is not None for b in boxes),
        reasoning_ok=reasoning_ok,
    )


# ------------------------------------------------------------------------------------------------ render


def _ints(box: Box | Sequence[float]) -> list[int]:
    vals = box.xyxy if isinstance(box, Box) else list(box)
    if len(vals) != 4:
        raise ValueError(f"a box needs 4 coordinates, got {len(vals)}")
    return [round(v) for v in vals]


def render_box(box: Box | Sequence[float], label: str | None = None, style: str = "qwen") -> str:
    """One box as a model of ``style`` writes it, coordinates rounded to ints.

    qwen: ``{"bbox_2d": [x1, y1, x2, y2], "label": "chair"}``; internvl: ``<ref>chair</ref><box>[[x1, y1, x2, y2]]</box>``.
    """
    xs = ", ".join(str(v) for v in _ints(box))
    if style == "qwen":
        lab = "" if label is None else ', "label": ' + json.dumps(label, ensure_ascii=False)
        return '{"bbox_2d": [' + xs + "]" + lab + "}"
    if style == "internvl":
        if label is not None and ("<" in label or ">" in label):
            raise ValueError(f"an InternVL <ref> label cannot contain '<' or '>': {label!r}")
        ref = "" if label is None else f"<ref>{label}</ref>"
        return f"{ref}<box>[[{xs}]]</box>"
    raise ValueError(f"unknown chain style {style!r}; expected one of {STYLES}")


def render_chain(
    think_parts: Iterable[str | Box | tuple[Sequence[float], str | None]],
    rethink: str,
    answer: str,
    style: str = "qwen",
    compact: bool = False,
) -> str:
    """A full GRIT completion. ``think_parts`` mixes text and boxes (a :class:`Box`, using its label, or a
    ``(coords, label)`` pair); parts are joined with single spaces. ``compact``: no blank around the sections
    (the shapes pretraining targets)."""
    parts = []
    for p in think_parts:
        if isinstance(p, str):
            parts.append(p)
        elif isinstance(p, Box):
            parts.append(render_box(p, p.label, style))
        else:
            coords, label = p
            parts.append(render_box(coords, label, style))
    pad, sep = ("", "") if compact else (" ", "\n")
    sections = (("think", " ".join(parts)), ("rethink", rethink), ("answer", answer))
    return sep.join(f"<{tag}>{pad}{body}{pad}</{tag}>" for tag, body in sections)
