"""Fallback family for model types grit does not know: loaded through ``AutoModelForImageTextToText``.

grit cannot guess how an unknown model writes boxes, so the frame is explicit: ``make_generic(frame, box_style)``
or, for the module-level ``FAMILY``, the ``GRIT_FRAME`` / ``GRIT_BOX_STYLE`` environment variables
(defaults: ``norm1000`` and ``qwen``, the conventions most recent open models follow). Its processor is
the checkpoint's own, through ``AutoProcessor``; it has no tiny model (a ``FamilyModule``, not a
``TinyFamilyModule``).
"""

from __future__ import annotations

import os

from grit.models import FamilyError
from grit.models.family import Family

FRAMES = ("resized", "norm1000", "pixels")
BOX_STYLES = ("qwen", "internvl")


def make_generic(frame: str = "norm1000", box_style: str = "qwen", image_factor: int = 28) -> Family:
    """A family record for an unknown model whose boxes are written in ``frame`` with prompts in ``box_style``."""
    if frame not in FRAMES:
        raise FamilyError(f"unknown frame {frame!r}; expected one of {', '.join(FRAMES)}")
    if box_style not in BOX_STYLES:
        raise FamilyError(f"unknown box style {box_style!r}; expected one of {', '.join(BOX_STYLES)}")
    return Family(
        name="generic",
        model_types=(),
        model_class="AutoModelForImageTextToText",
        frame=frame,
        box_style=box_style,
        image_factor=image_factor,
        # the names of every known port: Qwen-VL, InternVL-hf and LLaVA-style, and remote-code InternVL
        vision_modules=("visual", "vision_tower", "vision_model"),
        projector_modules=("merger", "multi_modal_projector", "mlp1"),
    )


FAMILY = make_generic(os.environ.get("GRIT_FRAME", "norm1000"), os.environ.get("GRIT_BOX_STYLE", "qwen"))
