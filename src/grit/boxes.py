"""Boxes, coordinate frames and overlap measures — the pure geometric core (stdlib only).

Every model family writes box coordinates in its own *frame*:

* Qwen2-VL / Qwen2.5-VL: absolute pixels on the image **as resized by the processor** (sides rounded to
  multiples of 28 inside a min/max pixel budget), so a box must be rescaled to reach the original image.
* InternVL3 / Qwen3-VL: integers normalised to 0–1000 over the original image.
* Original pixels: what ground-truth annotations (GRIT jsonl ``bboxs``) use.

A :class:`Frame` knows its own extent and how to map to and from original-image pixels, so the rest of
the code never does ad-hoc scaling. Boxes are always ``xyxy`` (x1, y1, x2, y2) with x to the right and y down.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

# Qwen2-VL image processor constants (patch 14 x spatial merge 2 = one visual token per 28x28 pixels).
QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 1280
# The GRIT training scripts cap Qwen2.5-VL images at 256 visual tokens.
GRIT_QWEN_MAX_PIXELS = 256 * 28 * 28

# A coordinate further than this many frame extents outside the frame is treated as garbage, not clipped.
ABSURD_FACTOR = 10.0


@dataclass(frozen=True)
class Box:
    """An axis-aligned box ``(x1, y1, x2, y2)`` with an optional label."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str | None = None

    @property
    def xyxy(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]

    @property
    def width(self) -> float:
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        return self.width * self.height

    def scaled(self, sx: float, sy: float) -> Box:
        return replace(self, x1=self.x1 * sx, y1=self.y1 * sy, x2=self.x2 * sx, y2=self.y2 * sy)

    def rounded(self, ndigits: int | None = None) -> Box:
        r = (lambda v: round(v)) if ndigits is None else (lambda v: round(v, ndigits))
        return replace(self, x1=r(self.x1), y1=r(self.y1), x2=r(self.x2), y2=r(self.y2))

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float, label: str | None = None) -> Box:
        return cls(x, y, x + w, y + h, label)


def smart_resize(
    height: int,
    width: int,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int]:
    """The Qwen2-VL processor's resize rule: returns ``(resized_height, resized_width)``.

    Both sides become multiples of ``factor`` and the area lands inside ``[min_pixels, max_pixels]`` while
    keeping the aspect ratio as close as possible. Mirrors ``transformers``' ``smart_resize`` exactly
    (checked against it in the tests) without importing it.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(
            f"absolute aspect ratio must be smaller than 200, got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


FRAME_KINDS = ("pixels", "norm", "resized")
FRAME_FIELDS = ("kind", "image_width", "image_height", "extent_x", "extent_y")


@dataclass(frozen=True)
class Frame:
    """A coordinate space for boxes, tied to one original image of ``image_width`` x ``image_height``.

    ``extent_x`` / ``extent_y`` are the largest valid coordinates in the frame's own units (the resized image
    size for Qwen, 1000 for normalised frames, the image size for pixels).
    """

    kind: str  # "pixels" | "norm" | "resized"
    image_width: int
    image_height: int
    extent_x: float
    extent_y: float

    @classmethod
    def pixels(cls, width: int, height: int) -> Frame:
        """Original-image pixels (ground-truth annotations)."""
        return cls("pixels", width, height, float(width), float(height))

    @classmethod
    def norm1000(cls, width: int, height: int, scale: float = 1000.0) -> Frame:
        """Coordinates normalised to ``0..scale`` on both axes (InternVL3, Qwen3-VL: scale 1000)."""
        return cls("norm", width, height, float(scale), float(scale))

    @classmethod
    def qwen_resized(
        cls,
        width: int,
        height: int,
        min_pixels: int = QWEN_MIN_PIXELS,
        max_pixels: int = QWEN_MAX_PIXELS,
        factor: int = QWEN_FACTOR,
    ) -> Frame:
        """Absolute pixels on the processor-resized image (Qwen2-VL, Qwen2.5-VL)."""
        rh, rw = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        return cls("resized", width, height, float(rw), float(rh))

    def to_dict(self) -> dict[str, str | int | float]:
        """The frame as plain data, for a datasets column, a verl parquet row or JSON."""
        return {
            "kind": self.kind,
            "image_width": self.image_width,
            "image_height": self.image_height,
            "extent_x": self.extent_x,
            "extent_y": self.extent_y,
        }

    @classmethod
    def from_dict(cls, data: object) -> Frame:
        """The inverse of :meth:`to_dict`; ``ValueError`` naming the first missing or unusable field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a frame is a mapping of {', '.join(FRAME_FIELDS)}, got {type(data).__name__}")
        vals: list[object] = []
        for name in FRAME_FIELDS:
            if data.get(name) is None:
                raise ValueError(f"frame field {name!r} is missing")
            v = data[name]
            if name == "kind":
                if v not in FRAME_KINDS:
                    raise ValueError(f"frame field 'kind' is {v!r}, not one of {', '.join(FRAME_KINDS)}")
            else:
                try:
                    v = (int if name.startswith("image_") else float)(v)  # type: ignore[call-overload]
                except (TypeError, ValueError, OverflowError):
                    raise ValueError(f"frame field {name!r} is {v!r}, not a number") from None
                if not 0 < v < math.inf:
                    raise ValueError(f"frame field {name!r} is {v!r}, not a positive size")
            vals.append(v)
        return cls(*vals)  # type: ignore[arg-type]

    @property
    def _sx(self) -> float:
        return self.image_width / self.extent_x

    @property
    def _sy(self) -> float:
        return self.image_height / self.extent_y

    def to_pixels(self, box: Box) -> Box:
        """Map a box in this frame to original-image pixels."""
        return box.scaled(self._sx, self._sy)

    def from_pixels(self, box: Box) -> Box:
        """Map a box in original-image pixels into this frame."""
        return box.scaled(1.0 / self._sx, 1.0 / self._sy)

    def convert(self, box: Box, other: Frame) -> Box:
        """Map a box from this frame into ``other`` (both must describe the same image)."""
        return other.from_pixels(self.to_pixels(box))


class InvalidBox(ValueError):
    """A box that cannot be used, with the reason."""


def normalize_box(coords: Sequence[object], frame: Frame | None = None, label: str | None = None) -> Box:
    """Turn four raw numbers into a well-formed box, or raise :class:`InvalidBox` with a reason.

    Swaps reversed corners, clips to the frame when one is given, and rejects non-numbers, NaN/inf, values
    absurdly far outside the frame, and boxes with zero area after clipping.
    """
    if len(coords) != 4:
        raise InvalidBox(f"expected 4 coordinates, got {len(coords)}")
    vals: list[float] = []
    for c in coords:
        if isinstance(c, bool) or not isinstance(c, (int, float)):
            raise InvalidBox(f"coordinate {c!r} is not a number")
        v = float(c)
        if not math.isfinite(v):
            raise InvalidBox(f"coordinate {c!r} is not finite")
        vals.append(v)
    x1, y1, x2, y2 = vals
    if x1 > x2:
        x1, x2 = x2, x1
    if y1 > y2:
        y1, y2 = y2, y1
    if frame is not None:
        ex, ey = frame.extent_x, frame.extent_y
        if max(abs(x1), abs(x2)) > ABSURD_FACTOR * ex or max(abs(y1), abs(y2)) > ABSURD_FACTOR * ey:
            raise InvalidBox(f"coordinates {vals} are far outside the {ex:g}x{ey:g} {frame.kind} frame")
        x1, x2 = min(max(x1, 0.0), ex), min(max(x2, 0.0), ex)
        y1, y2 = min(max(y1, 0.0), ey), min(max(y2, 0.0), ey)
    elif max(abs(x1), abs(x2), abs(y1), abs(y2)) > 1e7:
        raise InvalidBox(f"coordinates {vals} are absurdly large")
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise InvalidBox(f"box {vals} has zero area" + (" after clipping to the frame" if frame else ""))
    return Box(x1, y1, x2, y2, label)


# --------------------------------------------------------------------------------------------- overlap


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    iw = min(a.x2, b.x2) - max(a.x1, b.x1)
    ih = min(a.y2, b.y2) - max(a.y1, b.y1)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def as_boxes(boxes: Iterable[Box | Sequence[float]]) -> list[Box]:
    """Boxes or ``[x1, y1, x2, y2]`` lists (as GRIT jsonl and predictions store them) → sorted Boxes, empty ones
    dropped."""
    out = []
    for b in boxes:
        if isinstance(b, Box):
            out.append(b)
        else:
            x1, y1, x2, y2 = (float(v) for v in b)
            out.append(Box(min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return [b for b in out if b.area > 0]


def union_area(boxes: Iterable[Box | Sequence[float]]) -> float:
    """Exact area covered by the union of boxes (coordinate compression)."""
    return _region_areas(as_boxes(boxes), [])[0]


def _region_areas(a: list[Box], b: list[Box]) -> tuple[float, float, float]:
    """Areas of (union(a), union(b), union(a) ∩ union(b)) by coordinate compression over all box edges."""
    allb = a + b
    if not allb:
        return 0.0, 0.0, 0.0
    xs = sorted({v for bx in allb for v in (bx.x1, bx.x2)})
    ys = sorted({v for bx in allb for v in (bx.y1, bx.y2)})
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    nx, ny = len(xs) - 1, len(ys) - 1

    def cover(boxes: list[Box]) -> list[bytearray]:
        grid = [bytearray(nx) for _ in range(ny)]
        for bx in boxes:
            i0, i1 = xi[bx.x1], xi[bx.x2]
            for j in range(yi[bx.y1], yi[bx.y2]):
                row = grid[j]
                row[i0:i1] = b"\x01" * (i1 - i0)
        return grid

    ga, gb = cover(a), cover(b)
    area_a = area_b = inter = 0.0
    for j in range(ny):
        h = ys[j + 1] - ys[j]
        ra, rb = ga[j], gb[j]
        for i in range(nx):
            if ra[i] or rb[i]:
                cell = (xs[i + 1] - xs[i]) * h
                if ra[i]:
                    area_a += cell
                if rb[i]:
                    area_b += cell
                if ra[i] and rb[i]:
                    inter += cell
    return area_a, area_b, inter


def union_iou(pred: Iterable[Box | Sequence[float]], gt: Iterable[Box | Sequence[float]]) -> float:
    """IoU between the region covered by all predicted boxes and the region covered by all ground-truth boxes.

    This is GRIT's grounding IoU (GIoU) for one sample, in our reading of the paper: the model's boxes are
    compared as one region with the annotated target region. No predicted box → 0. Both empty → 0 (callers
    average only over samples that have ground truth).
    """
    pa, ga = as_boxes(pred), as_boxes(gt)
    if not pa or not ga:
        return 0.0
    area_p, area_g, inter = _region_areas(pa, ga)
    union = area_p + area_g - inter
    return inter / union if union > 0 else 0.0


def matched_iou(pred: Iterable[Box | Sequence[float]], gt: Iterable[Box | Sequence[float]]) -> float:
    """Stricter per-box grounding score: one-to-one matching that maximises total IoU (Hungarian),
    summed IoU of matched pairs divided by ``max(#pred, #gt)`` (unmatched boxes count 0)."""
    pa, ga = as_boxes(pred), as_boxes(gt)
    if not pa or not ga:
        return 0.0
    cost = [[iou(p, g) for g in ga] for p in pa]
    total = _max_assignment(cost)
    return total / max(len(pa), len(ga))


def _max_assignment(weights: list[list[float]]) -> float:
    """Maximum-weight one-to-one assignment of a rectangular matrix (Hungarian algorithm, O(n^3))."""
    n_rows, n_cols = len(weights), len(weights[0])
    transposed = n_rows > n_cols
    if transposed:
        weights = [list(col) for col in zip(*weights, strict=False)]
        n_rows, n_cols = n_cols, n_rows
    # Minimise cost = -weight; rows <= cols. Classic potentials formulation with 1-based indices.
    inf = float("inf")
    u = [0.0] * (n_rows + 1)
    v = [0.0] * (n_cols + 1)
    p = [0] * (n_cols + 1)
    way = [0] * (n_cols + 1)
    for i in range(1, n_rows + 1):
        p[0] = i
        j0 = 0
        minv = [inf] * (n_cols + 1)
        used = [False] * (n_cols + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], inf, 0
            for j in range(1, n_cols + 1):
                if not used[j]:
                    cur = -weights[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(n_cols + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    return sum(weights[p[j] - 1][j - 1] for j in range(1, n_cols + 1) if p[j] != 0)
