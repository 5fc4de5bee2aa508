"""Qwen2.5-VL: JSON ``bbox_2d`` boxes in absolute pixels of the processor-resized image (the paper's main model)."""

from __future__ import annotations

from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor

from grit.models.family import Family
from grit.models.processors import register_image_only
from grit.models.qwen_common import (
    ImageOnly,
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
CONFIG_CLASS = Qwen2_5_VLConfig


class Qwen2_5_VLImageOnlyProcessor(ImageOnly, Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without the video processor (which needs torchvision)."""


IMAGE_ONLY_PROCESSOR = Qwen2_5_VLImageOnlyProcessor
register_image_only(Qwen2_5_VLConfig, Qwen2_5_VLImageOnlyProcessor, "Qwen2_5_VLProcessor")


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny") -> Qwen2_5_VLConfig:
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
    return tiny_qwen_config(Qwen2_5_VLConfig, text, vision, ids)


def tiny_processor(tokenizer, min_pixels: int | None = None, max_pixels: int | None = None):
    return tiny_qwen_processor(FAMILY, IMAGE_ONLY_PROCESSOR, tokenizer, min_pixels, max_pixels)
