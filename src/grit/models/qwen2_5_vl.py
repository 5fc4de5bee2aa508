"""Qwen2.5-VL: JSON ``bbox_2d`` boxes in absolute pixels of the processor-resized image (the paper's main model)."""

from __future__ import annotations

from grit.models.family import Family
from grit.models.qwen_common import (
    mrope_section,
    tiny_qwen_config,
    tiny_qwen_processor,
    tiny_text_config,
)

FAMILY = Family(
    name="qwen2_5_vl",
    model_types=("qwen2_5_vl",),
    model_class="Qwen2_5_VLForConditionalGeneration",
    frame="resized",
    box_style="qwen",
)


def image_only_processor() -> type:
    from grit.models.processors import Qwen2_5_VLImageOnlyProcessor

    return Qwen2_5_VLImageOnlyProcessor


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny"):
    """A randomly initialisable Qwen2.5-VL of ~0.5–2M parameters (``size``: "tiny" or "small")."""
    text = tiny_text_config(vocab_size, ids, size, rope={"mrope_section": mrope_section(size, 3)})
    vhidden, vdepth = (64, 1) if size == "tiny" else (128, 2)
    vision = dict(
        depth=vdepth,
        hidden_size=vhidden,
        intermediate_size=vhidden * 2,
        num_heads=4,
        out_hidden_size=text["hidden_size"],
        fullatt_block_indexes=list(range(vdepth)),
        window_size=112,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    from transformers import Qwen2_5_VLConfig

    return tiny_qwen_config(Qwen2_5_VLConfig, text, vision, ids)


def tiny_processor(tokenizer, min_pixels: int | None = None, max_pixels: int | None = None):
    return tiny_qwen_processor(FAMILY, image_only_processor(), tokenizer, min_pixels, max_pixels)
