"""Qwen2-VL: boxes normalised to 0–1000 over the original image (absolute coordinates came with Qwen2.5-VL).

Its native grounding syntax, ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>``, uses special tokens that decoding
strips; GRIT-trained checkpoints write the prompt's JSON ``bbox_2d`` boxes instead, which parse as usual."""

from __future__ import annotations

from grit.models.family import Family
from grit.models.qwen_common import (
    mrope_section,
    tiny_qwen_config,
    tiny_qwen_processor,
    tiny_text_config,
)

FAMILY = Family(
    name="qwen2_vl",
    model_types=("qwen2_vl",),
    model_class="Qwen2VLForConditionalGeneration",
    frame="norm1000",
    box_style="qwen",
)


def image_only_processor() -> type:
    from grit.models.processors import Qwen2VLImageOnlyProcessor

    return Qwen2VLImageOnlyProcessor


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny"):
    """A randomly initialisable Qwen2-VL of well under a million parameters (``size``: "tiny" or "small")."""
    text = tiny_text_config(vocab_size, ids, size, rope={"mrope_section": mrope_section(size, 3)})
    vdim, vdepth = (32, 1) if size == "tiny" else (64, 2)
    vision = dict(
        depth=vdepth,
        embed_dim=vdim,
        hidden_size=text["hidden_size"],  # Qwen2-VL's merger projects straight to the text width
        mlp_ratio=2,
        num_heads=4,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    from transformers import Qwen2VLConfig

    return tiny_qwen_config(Qwen2VLConfig, text, vision, ids)


def tiny_processor(tokenizer, min_pixels: int | None = None, max_pixels: int | None = None):
    return tiny_qwen_processor(FAMILY, image_only_processor(), tokenizer, min_pixels, max_pixels)
