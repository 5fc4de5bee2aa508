"""Qwen2.5-VL: JSON ``bbox_2d`` boxes in absolute pixels of the processor-resized image (the paper's main model)."""

from __future__ import annotations

from transformers import Qwen2_5_VLConfig, Qwen2_5_VLProcessor

from grit.models.family import Family
from grit.models.processors import register_image_only

FAMILY = Family(
    name="qwen2_5_vl",
    model_types=("qwen2_5_vl",),
    model_class="Qwen2_5_VLForConditionalGeneration",
    frame="resized",
    box_style="qwen",
)
CONFIG_CLASS = Qwen2_5_VLConfig


class Qwen2_5_VLImageOnlyProcessor(Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without the video processor (which needs torchvision)."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)


IMAGE_ONLY_PROCESSOR = Qwen2_5_VLImageOnlyProcessor
register_image_only(Qwen2_5_VLConfig, Qwen2_5_VLImageOnlyProcessor, "Qwen2_5_VLProcessor")


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny") -> Qwen2_5_VLConfig:
    """A randomly initialisable Qwen2.5-VL of ~0.5–2M parameters (``size``: "tiny" or "small")."""
    hidden, layers, inter = (64, 2, 128) if size == "tiny" else (128, 4, 384)
    heads, kv = 4, 2
    half_head = hidden // heads // 2
    t = half_head // 3
    mrope = [half_head - 2 * t, t, t]
    vhidden, vdepth = (64, 1) if size == "tiny" else (128, 2)
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=hidden,
            intermediate_size=inter,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
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
            fullatt_block_indexes=list(range(vdepth)),
            window_size=112,
            patch_size=14,
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
    from grit.models.processors import qwen_image_processor

    ip = qwen_image_processor(min_pixels or FAMILY.min_pixels, max_pixels or FAMILY.max_pixels)
    return IMAGE_ONLY_PROCESSOR(image_processor=ip, tokenizer=tokenizer, chat_template=FAMILY.chat_template)
