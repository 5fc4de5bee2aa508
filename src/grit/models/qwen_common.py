"""What the Qwen-style families share: the tiny language model, the tiny config and the tiny processor.

Qwen2-VL, Qwen2.5-VL and Qwen3-VL differ only in their vision tower, their M-RoPE layout and (Qwen3-VL)
their patch size and normalisation; each family module passes just those. InternVL3's language model is
Qwen2.5, so it reuses ``tiny_text_config`` too. Nothing here imports transformers.
"""

from __future__ import annotations

TINY_HEADS, TINY_KV_HEADS = 4, 2


def tiny_text_dims(size: str) -> tuple[int, int, int]:
    """``(hidden, layers, intermediate)`` of the tiny language model: "tiny", or anything else for "small"."""
    return (64, 2, 128) if size == "tiny" else (128, 4, 384)


def tiny_head_dim(size: str) -> int:
    return tiny_text_dims(size)[0] // TINY_HEADS


def mrope_section(size: str, parts: int) -> list[int]:
    """Split the rotary half-dimension into (temporal, height, width); height and width get ``half // parts``."""
    half = tiny_head_dim(size) // 2
    t = half // parts
    return [half - 2 * t, t, t]


def tiny_text_config(
    vocab_size: int, ids: dict[str, int], size: str, rope: dict | None = None, **extra
) -> dict:
    """The tiny language model of every family; ``rope`` adds to the default rope parameters."""
    hidden, layers, inter = tiny_text_dims(size)
    return dict(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=TINY_HEADS,
        num_key_value_heads=TINY_KV_HEADS,
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, **(rope or {})},
        bos_token_id=ids["bos"],
        eos_token_id=ids["eos"],
        pad_token_id=ids["pad"],
        tie_word_embeddings=True,
        **extra,
    )


def tiny_qwen_config(config_class: type, text_config: dict, vision_config: dict, ids: dict[str, int]):
    """A Qwen-style config: the vision markup tokens are the same in every Qwen family."""
    return config_class(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def tiny_qwen_processor(
    family,
    processor_class: type,
    tokenizer,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    **image_kwargs,
):
    """``processor_class`` over the PIL Qwen image processor, with ``family``'s pixel budget and chat template."""
    from grit.models.processors import qwen_image_processor

    ip = qwen_image_processor(
        min_pixels or family.min_pixels, max_pixels or family.max_pixels, **image_kwargs
    )
    return processor_class(image_processor=ip, tokenizer=tokenizer, chat_template=family.chat_template)
