"""Qwen3-VL: boxes normalised to 0–1000 over the original image; 16-pixel patches merged 2×2 (factor 32)."""

from __future__ import annotations

from transformers import Qwen3VLConfig, Qwen3VLProcessor

from grit.models.family import Family
from grit.models.processors import register_image_only

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
CONFIG_CLASS = Qwen3VLConfig


class Qwen3VLImageOnlyProcessor(Qwen3VLProcessor):
    """Qwen3-VL processor without the video processor (which needs torchvision)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)


IMAGE_ONLY_PROCESSOR = Qwen3VLImageOnlyProcessor
register_image_only(Qwen3VLConfig, Qwen3VLImageOnlyProcessor, "Qwen3VLProcessor")


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny") -> Qwen3VLConfig:
    """A randomly initialisable Qwen3-VL (dense) with one deepstack layer (``size``: "tiny" or "small")."""
    hidden, layers, inter = (64, 2, 128) if size == "tiny" else (128, 4, 384)
    heads, kv = 4, 2
    head_dim = hidden // heads
    half = head_dim // 2
    t = half // 4
    vhidden, vdepth = (32, 2) if size == "tiny" else (64, 3)
    return Qwen3VLConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=hidden,
            intermediate_size=inter,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            head_dim=head_dim,
            max_position_embeddings=4096,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [half - 2 * t, t, t],
                "mrope_interleaved": True,
            },
            bos_token_id=ids["bos"],
            eos_token_id=ids["eos"],
            pad_token_id=ids["pad"],
            tie_word_embeddings=True,
        ),
        vision_config=dict(
            depth=vdepth,
            hidden_size=vhidden,
            intermediate_size=vhidden * 2,
            num_heads=4,
            out_hidden_size=hidden,
            num_position_embeddings=16 * 16,  # learned 16x16 grid, interpolated to each image
            deepstack_visual_indexes=[0],
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def tiny_processor(tokenizer, min_pixels: int | None = None, max_pixels: int | None = None):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    ip = Qwen2VLImageProcessorPil(
        min_pixels=min_pixels or FAMILY.min_pixels,
        max_pixels=max_pixels or FAMILY.max_pixels,
        patch_size=16,
        merge_size=2,
        temporal_patch_size=2,
        image_mean=[0.5, 0.5, 0.5],  # Qwen3-VL normalises with 0.5 / 0.5, not CLIP statistics
        image_std=[0.5, 0.5, 0.5],
    )
    return IMAGE_ONLY_PROCESSOR(image_processor=ip, tokenizer=tokenizer, chat_template=FAMILY.chat_template)
