"""Qwen3-VL: boxes normalised to 0–1000 over the original image; 16-pixel patches merged 2×2 (factor 32)."""

from __future__ import annotations

from grit.models.family import Family
from grit.models.qwen_common import (
    mrope_section,
    tiny_head_dim,
    tiny_qwen_config,
    tiny_qwen_processor,
    tiny_text_config,
)

FAMILY = Family(
    name="qwen3_vl",
    model_types=("qwen3_vl",),
    model_class="Qwen3VLForConditionalGeneration",
    frame="norm1000",
    box_style="qwen",
    image_factor=32,
    min_pixels=4 * 32 * 32,
    max_pixels=256 * 32 * 32,  # the same 256-visual-token budget GRIT gives Qwen2.5-VL
)


def image_only_processor() -> type:
    from grit.models.processors import Qwen3VLImageOnlyProcessor

    return Qwen3VLImageOnlyProcessor


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny"):
    """A randomly initialisable Qwen3-VL (dense) with one deepstack layer (``size``: "tiny" or "small")."""
    text = tiny_text_config(
        vocab_size,
        ids,
        size,
        rope={"mrope_section": mrope_section(size, 4), "mrope_interleaved": True},
        head_dim=tiny_head_dim(size),  # Qwen3-VL's default (128) does not follow the hidden size
    )
    vhidden, vdepth = (32, 2) if size == "tiny" else (64, 3)
    vision = dict(
        depth=vdepth,
        hidden_size=vhidden,
        intermediate_size=vhidden * 2,
        num_heads=4,
        out_hidden_size=text["hidden_size"],
        num_position_embeddings=16 * 16,  # learned 16x16 grid, interpolated to each image
        deepstack_visual_indexes=[0],
        patch_size=16,
        spatial_merge_size=2,
        temporal_patch_size=2,
    )
    from transformers import Qwen3VLConfig

    return tiny_qwen_config(Qwen3VLConfig, text, vision, ids)


def tiny_processor(tokenizer, min_pixels: int | None = None, max_pixels: int | None = None):
    # Qwen3-VL normalises with 0.5 / 0.5, not CLIP statistics
    half = [0.5, 0.5, 0.5]
    return tiny_qwen_processor(
        FAMILY,
        image_only_processor(),
        tokenizer,
        min_pixels,
        max_pixels,
        patch_size=16,
        image_mean=half,
        image_std=half,
    )
