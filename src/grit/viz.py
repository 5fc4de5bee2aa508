"""What users see of a grounded chain: boxes drawn on the image and the chain as coloured HTML.

The picture and the HTML share one colour per valid box (``palette`` order = order of the valid boxes in the
chain), so a reader can match each box in the image with the words that produced it. Pillow only — no torch,
so reports can be rendered anywhere.
"""

from __future__ import annotations

import base64
import colorsys
import html
import io
import math
import re
from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from grit.boxes import Box
from grit.chain import GroundedChain

Color = tuple[int, int, int]

# High-contrast colours for the first boxes (chains rarely have more than a handful); none is grey, black or
# white, which are kept for ground truth.
_BASE_COLORS: list[Color] = [
    (230, 25, 75),  # red
    (60, 180, 75),  # green
    (0, 130, 200),  # blue
    (255, 200, 0),  # yellow
    (245, 130, 48),  # orange
    (145, 30, 180),  # purple
    (70, 220, 230),  # cyan
    (240, 50, 230),  # magenta
    (160, 230, 40),  # lime
    (0, 128, 128),  # teal
    (170, 110, 40),  # brown
    (128, 0, 0),  # maroon
]
_GOLDEN = 0.618033988749895
# Ground truth is dashed in alternating white and black so it stays visible on any background.
GT_COLORS: tuple[Color, Color] = ((255, 255, 255), (0, 0, 0))

_PARTS = ("think", "rethink", "answer")
_ONLY_TAGS = re.compile(r"\s*(?:</?(?:think|rethink|answer)>\s*)*")


def palette(n: int) -> list[Color]:
    """``n`` clearly distinct colours; ``palette(n)[i]`` does not depend on ``n`` (stable across calls)."""
    if n < 0:
        raise ValueError(f"palette size must be >= 0, got {n}")
    out = list(_BASE_COLORS[:n])
    for i in range(n - len(out)):
        # Golden-ratio hue steps spread any number of hues evenly; alternating brightness separates neighbours.
        h = (0.11 + i * _GOLDEN) % 1.0
        v = 0.95 if i % 2 == 0 else 0.7
        r, g, b = colorsys.hsv_to_rgb(h, 0.8, v)
        c = (round(r * 255), round(g * 255), round(b * 255))
        while c in out:  # rounding can collide after many colours; nudge to stay distinct
            c = (c[0], c[1], (c[2] + 1) % 256)
        out.append(c)
    return out


def text_color(bg: Color) -> Color:
    """Black or white, whichever reads better on ``bg`` (perceived luminance)."""
    r, g, b = bg
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def line_width(size: tuple[int, int]) -> int:
    """Outline width for an image of ``size``: grows with the image, 1 px on tiny images, 2 px from ~150 px."""
    scale = math.sqrt(size[0] * size[1])
    return max(1 if scale < 150 else 2, round(scale / 200))


def font_size(size: tuple[int, int]) -> int:
    """Label font size for an image of ``size`` (8 px minimum so text stays a glyph, 64 px maximum)."""
    return min(64, max(8, round(math.sqrt(size[0] * size[1]) / 28)))


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def _clip_rect(box: Box, w: int, h: int) -> tuple[int, int, int, int] | None:
    """Inclusive pixel rectangle of ``box`` (whose x2/y2 are exclusive edges) clipped to the image; None if
    nothing of it is on the image."""
    x1, y1 = max(0, math.floor(box.x1)), max(0, math.floor(box.y1))
    x2, y2 = min(w - 1, math.ceil(box.x2) - 1), min(h - 1, math.ceil(box.y2) - 1)
    if x1 > w - 1 or y1 > h - 1 or x2 < 0 or y2 < 0:
        return None
    return x1, y1, max(x1, x2), max(y1, y2)


def _outline(
    draw: ImageDraw.ImageDraw,
    rect: tuple[int, int, int, int],
    colors: Sequence[Color],
    width: int,
    dashed: bool,
) -> None:
    """Draw the outline of ``rect`` inward, ``width`` px thick; dashed outlines cycle through ``colors``."""
    x1, y1, x2, y2 = rect
    w = min(width, x2 - x1 + 1, y2 - y1 + 1)
    bands = [  # (x1, y1, x2, y2, horizontal)
        (x1, y1, x2, y1 + w - 1, True),
        (x1, y2 - w + 1, x2, y2, True),
        (x1, y1, x1 + w - 1, y2, False),
        (x2 - w + 1, y1, x2, y2, False),
    ]
    if not dashed:
        for bx1, by1, bx2, by2, _ in bands:
            draw.rectangle((bx1, by1, bx2, by2), fill=colors[0])
        return
    dash = max(3, 3 * width)
    k = 0
    for bx1, by1, bx2, by2, horizontal in bands:
        start, end = (bx1, bx2) if horizontal else (by1, by2)
        for s in range(start, end + 1, 2 * dash):
            e = min(s + dash - 1, end)
            seg = (s, by1, e, by2) if horizontal else (bx1, s, bx2, e)
            draw.rectangle(seg, fill=colors[k % len(colors)])
            k += 1


def _fit_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_width: int) -> str:
    """``text`` shortened with an ellipsis until it is at most ``max_width`` px wide."""
    if font.getbbox(text)[2] <= max_width:
        return text
    while len(text) > 1 and font.getbbox(text + "…")[2] > max_width:
        text = text[:-1]
    return text + "…"


def _tag(
    draw: ImageDraw.ImageDraw,
    rect: tuple[int, int, int, int],
    text: str,
    color: Color,
    size: tuple[int, int],
    fsize: int,
) -> None:
    """A filled label tag in the box colour: above the box when there is room, else just inside its top."""
    font = _font(fsize)
    pad = max(1, fsize // 6)
    text = _fit_text(text, font, size[0] - 2 * pad)
    left, top, right, bottom = font.getbbox(text)
    tw, th = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(rect[0], max(0, size[0] - tw))
    y = rect[1] - th if rect[1] - th >= 0 else min(rect[1], max(0, size[1] - th))
    draw.rectangle((x, y, x + tw - 1, y + th - 1), fill=color)
    draw.text((x + pad - left, y + pad - top), text, fill=text_color(color), font=font)


def _clean_label(label: object) -> str:
    return " ".join(str(label).split())


def draw_boxes(
    image: Image.Image,
    boxes: Sequence[Box],
    *,
    labels: Sequence[str | None] | None = None,
    colors: Sequence[Color] | Color | None = None,
    dashed: bool = False,
    width: int | None = None,
) -> Image.Image:
    """A new RGB copy of ``image`` with each box (in the image's pixel frame) outlined and labelled.

    ``labels`` default to each box's own ``label`` (no tag when None); ``colors`` default to :func:`palette`
    and may be one colour for all boxes. Boxes partly outside the image are clipped; boxes wholly outside are
    skipped. Tags are drawn after all outlines so no outline crosses a label.
    """
    out = image.convert("RGB")  # always a copy, also for RGB input
    if labels is not None and len(labels) != len(boxes):
        raise ValueError(f"got {len(labels)} labels for {len(boxes)} boxes")
    if colors is None:
        cols = palette(len(boxes))
    elif len(colors) == 3 and all(isinstance(c, int) for c in colors):
        cols = [colors] * len(boxes)  # type: ignore[list-item]
    else:
        cols = list(colors)  # type: ignore[arg-type]
        if len(cols) != len(boxes):
            raise ValueError(f"got {len(cols)} colors for {len(boxes)} boxes")
    size = out.size
    lw = width if width is not None else line_width(size)
    if lw < 1:
        raise ValueError(f"line width must be >= 1, got {lw}")
    draw = ImageDraw.Draw(out)
    tags = []
    for i, box in enumerate(boxes):
        rect = _clip_rect(box, *size)
        if rect is None:
            continue
        _outline(draw, rect, [cols[i]], lw, dashed)
        label = labels[i] if labels is not None else box.label
        if label is not None and _clean_label(label):
            tags.append((rect, _clean_label(label), cols[i]))
    fsize = font_size(size)
    for rect, label, color in tags:
        _tag(draw, rect, label, color, size, fsize)
    return out


def _valid_chain_boxes(chain: GroundedChain) -> list[tuple[str, Box]]:
    """``(label text, box in original pixels)`` for each valid box, numbered in palette order."""
    valid = [cb for cb in chain.boxes if cb.box is not None]
    pixel = chain.pixel_boxes()
    if len(pixel) != len(valid):
        raise ValueError(f"chain has {len(valid)} valid boxes but pixel_boxes() returned {len(pixel)}")
    out = []
    for i, (cb, box) in enumerate(zip(valid, pixel, strict=True), start=1):
        label = _clean_label(cb.label) if cb.label else ""
        out.append((f"{i}: {label}" if label else str(i), box))
    return out


def draw_chain(
    image: Image.Image,
    chain: GroundedChain,
    *,
    gt_boxes: Sequence[Box | Sequence[float]] | None = None,
    upscale_to: int | None = None,
) -> Image.Image:
    """The chain's valid boxes on the original ``image``: solid, in palette order, labelled ``"1: label"``.

    ``gt_boxes`` (original pixels, :class:`Box` or ``[x1, y1, x2, y2]`` as in GRIT jsonl) are dashed white/black on top, so a prediction under them still shows
    through the gaps. With ``upscale_to``, an image whose longer side is smaller is enlarged by the largest
    whole factor that keeps it within ``upscale_to`` (nearest neighbour, so pixels stay sharp) and all boxes
    are scaled with it — this keeps labels legible on tiny images such as 84×84 renders.
    """
    items = _valid_chain_boxes(chain)
    boxes = [b for _, b in items]
    gts = [b if isinstance(b, Box) else Box(*(float(v) for v in b)) for b in gt_boxes or []]
    img = image.convert("RGB")
    if upscale_to is not None:
        factor = upscale_to // max(img.size)
        if factor >= 2:
            img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
            boxes = [b.scaled(factor, factor) for b in boxes]
            gts = [b.scaled(factor, factor) for b in gts]
    out = draw_boxes(img, boxes, labels=[t for t, _ in items])
    if gts:
        lw = line_width(out.size)
        draw = ImageDraw.Draw(out)
        for gt in gts:
            rect = _clip_rect(gt, *out.size)
            if rect is not None:
                _outline(draw, rect, GT_COLORS, lw, dashed=True)
    return out


def image_data_uri(image: Image.Image) -> str:
    """A PNG ``data:`` URI of ``image``, for HTML pages that must stand alone."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------- HTML

CSS = """
.grit-chain { font-family: system-ui, sans-serif; margin: 1em 0; padding: .6em; border: 1px solid #ccc;
  border-radius: 6px; max-width: 70em; }
.grit-chain h3 { margin: .1em 0 .4em; font-size: 1.05em; }
.grit-chain img { max-width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
.grit-summary { color: #555; font-size: .85em; margin-bottom: .4em; }
.grit-part { margin: .3em 0; padding: .3em .5em; border-left: 4px solid #999; border-radius: 3px; }
.grit-think { background: #f4f7fb; border-color: #4a78b5; }
.grit-rethink { background: #fbf7ef; border-color: #c0902c; }
.grit-answer { background: #f0f8f0; border-color: #3c9a4a; }
.grit-part-title { font-size: .75em; font-weight: bold; text-transform: uppercase; color: #555; }
.grit-text { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: .9em; }
.grit-outside { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: .9em; color: #a33;
  background: #fdf0f0; padding: .2em .5em; margin: .3em 0; }
.grit-box { border-radius: 3px; padding: 0 1px; }
.grit-box sup { font-size: .7em; font-weight: bold; padding: 0 2px; border-radius: 2px; margin-left: 1px; }
.grit-box-invalid { color: #888; background: #eee; text-decoration: line-through; cursor: help; }
.grit-rows { border-collapse: collapse; font-size: .85em; margin-top: .4em; }
.grit-rows td { border: 1px solid #ddd; padding: .15em .5em; vertical-align: top; }
.grit-rows td:first-child { font-weight: bold; background: #fafafa; }
"""


def _hex(c: Color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def _marks(chain: GroundedChain) -> list[tuple[int, int, str, str]]:
    """``(start, end, open html, close html)`` for every box span: valid boxes in their palette colour,
    invalid ones struck through with the reason as a tooltip."""
    valid = [cb for cb in chain.boxes if cb.box is not None]
    colors = palette(len(valid))
    pixel = chain.pixel_boxes()
    marks, k = [], 0
    for cb in chain.boxes:
        s, e = cb.span
        if cb.box is not None:
            c, b, px = colors[k], cb.box, pixel[k]
            k += 1
            tip = (
                f"box {k}"
                + (f": {cb.label}" if cb.label else "")
                + f" = [{b.x1:g}, {b.y1:g}, {b.x2:g}, {b.y2:g}]"
            )
            if chain.frame is not None and chain.frame.kind != "pixels":
                tip += f" → image pixels [{px.x1:.0f}, {px.y1:.0f}, {px.x2:.0f}, {px.y2:.0f}]"
            open_ = (
                f'<span class="grit-box" data-box="{k}" title="{html.escape(tip)}" '
                f'style="background: rgba({c[0]}, {c[1]}, {c[2]}, 0.3); border-bottom: 2px solid {_hex(c)}">'
            )
            close = f'<sup style="background: {_hex(c)}; color: {_hex(text_color(c))}">{k}</sup></span>'
        else:
            tip = f"invalid box: {cb.error or 'unknown error'}"
            open_ = f'<span class="grit-box-invalid" title="{html.escape(tip)}">'
            close = "</span>"
        marks.append((s, e, open_, close))
    return sorted(marks)


def _render(text: str, start: int, end: int, marks: list[tuple[int, int, str, str]]) -> str:
    """HTML-escaped ``text[start:end]`` with the marks that lie wholly inside it wrapped in their spans."""
    out, pos = [], start
    for s, e, open_, close in marks:
        if s < pos or e > end:
            continue  # outside this range (or overlapping an earlier mark)
        out.append(html.escape(text[pos:s]))
        out.append(open_ + html.escape(text[s:e]) + close)
        pos = e
    out.append(html.escape(text[pos:end]))
    return "".join(out)


def _chain_body(
    chain: GroundedChain,
    image_src: str | None,
    title: str | None,
    rows: dict | Sequence[tuple[object, object]] | None = None,
) -> str:
    text = chain.text
    marks = _marks(chain)
    parts = sorted((span, name) for name in _PARTS if (span := getattr(chain, f"{name}_span")) is not None)
    pieces, pos = [], 0

    def outside(s: int, e: int) -> None:
        # Text outside the three parts is only shown when it is more than tags and whitespace.
        if s < e and not _ONLY_TAGS.fullmatch(text[s:e]):
            pieces.append(
                f'<div class="grit-outside" title="text outside the tags">{_render(text, s, e, marks)}</div>'
            )

    for (s, e), name in parts:
        if s < pos:  # overlapping spans cannot come from a well-formed parse; show the text once
            continue
        outside(pos, s)
        pieces.append(
            f'<div class="grit-part grit-{name}"><div class="grit-part-title">{name}</div>'
            f'<div class="grit-text">{_render(text, s, e, marks)}</div></div>'
        )
        pos = e
    outside(pos, len(text))

    n_valid = len([cb for cb in chain.boxes if cb.box is not None])
    summary = (
        f"tags {'ok' if chain.tags_ok else 'malformed'} · strict format {'yes' if chain.strict_format else 'no'}"
        f" · {n_valid} valid box{'es' if n_valid != 1 else ''}, {len(chain.boxes) - n_valid} invalid"
    )
    head = f"<h3>{html.escape(title)}</h3>" if title else ""
    img = (
        f'<img src="{html.escape(image_src, quote=True)}" alt="boxes drawn on the image">'
        if image_src
        else ""
    )
    table = ""
    if rows:
        items = rows.items() if isinstance(rows, dict) else rows
        table = (
            '<table class="grit-rows">'
            + "".join(
                f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in items
            )
            + "</table>"
        )
    return (
        f'<div class="grit-chain">{head}{img}<div class="grit-summary">{summary}</div>'
        f"{''.join(pieces)}{table}</div>"
    )


def chain_html(chain: GroundedChain, *, image_src: str | None = None, title: str | None = None) -> str:
    """A self-contained HTML fragment (its own ``<style>``) showing ``chain``: think / rethink / answer as
    separate blocks, each valid box's text in the colour of its box in :func:`draw_chain`, invalid boxes
    struck through with the reason on hover, and optionally the drawn picture (``image_src``: URL, path or
    :func:`image_data_uri`)."""
    return f"<style>{CSS}</style>\n" + _chain_body(chain, image_src, title)


_ITEM_KEYS = {"title", "image_src", "chain", "rows"}


def chains_page(items: Sequence[dict], *, title: str = "grit chains") -> str:
    """A full HTML page with several chains. Each item is a dict with ``chain`` (required), and optionally
    ``title``, ``image_src`` and ``rows`` (extra table rows: a dict or ``(name, value)`` pairs)."""
    bodies = []
    for i, item in enumerate(items):
        unknown = set(item) - _ITEM_KEYS
        if unknown:
            raise ValueError(
                f"chains_page item {i}: unknown keys {sorted(unknown)} (allowed: {sorted(_ITEM_KEYS)})"
            )
        if not isinstance(item.get("chain"), GroundedChain):
            raise ValueError(
                f"chains_page item {i}: 'chain' must be a GroundedChain, got {type(item.get('chain')).__name__}"
            )
        bodies.append(_chain_body(item["chain"], item.get("image_src"), item.get("title"), item.get("rows")))
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{CSS}</style></head>\n<body><h1>{html.escape(title)}</h1>\n"
        + "\n".join(bodies)
        + "\n</body></html>\n"
    )
