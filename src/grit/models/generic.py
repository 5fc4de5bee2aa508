"""Fallback family for model types grit does not know: loaded through ``AutoModelForImageTextToText``.

grit cannot guess how an unknown model writes boxes, so the frame is explicit: ``make_generic(frame, box_style)``
or, for the module-level ``FAMILY``, the ``GRIT_FRAME`` / ``GRIT_BOX_STYLE`` environment variables
(defaults: ``norm1000`` and ``qwen``, the conventions most recent open models follow).
"""

from __future__ import annotations

import os

from grit.models.family import Family

FRAMES = ("resized", "norm1000", "pixels")
BOX_STYLES = ("qwen", "internvl")
CONFIG_CLASS = None
IMAGE_ONLY_PROCESSOR = None  # the checkpoint's own processor is used through AutoProcessor


def make_generic(frame: str = "norm1000", box_style: str = "qwen", image_factor: int = 28) -> Family:
    """A family record for an unknown model whose boxes are written in ``frame`` with prompts in ``box_style``."""
    if frame not in FRAMES:
        raise ValueError(f"unknown frame {frame!r}; expected one of {', '.join(FRAMES)}")
    if box_style not in BOX_STYLES:
        raise ValueError(f"unknown box style {box_style!r}; expected one of {', '.join(BOX_STYLES)}")
    return Family(
        name="generic",
        model_types=(),
        model_class="AutoModelForImageTextToText",
        frame=frame,
        box_style=box_style,
        image_factor=image_factor,
    )


FAMILY = make_generic(os.environ.get("GRIT_FRAME", "norm1000"), os.environ.get("GRIT_BOX_STYLE", "qwen"))


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny"):
    raise ValueError(
        "the generic family has no tiny model; build one of: qwen2_vl, qwen2_5_vl, qwen3_vl, internvl"
    )


def tiny_processor(tokenizer, min_pixels: int | None = None, max_pixels: int | None = None):
    raise ValueError(
        "the generic family has no tiny processor; build one of: qwen2_vl, qwen2_5_vl, qwen3_vl, internvl"
    )
