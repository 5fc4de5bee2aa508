"""InternVL3 (the transformers ``-hf`` port): ``<box>[[x1, y1, x2, y2]]</box>`` boxes normalised to 0–1000.

Images are cut into square tiles (``crop_to_patches``) plus a thumbnail; each tile becomes
``image_seq_length`` context tokens between ``<img>`` and ``</img>``. Boxes are relative to the original
image, so the tiling never affects box mapping.
"""

from __future__ import annotations

from grit.models.family import INTERNVL_CHAT_TEMPLATE, INTERNVL_SPECIAL_TOKENS, Family
from grit.models.qwen_common import tiny_text_config

FAMILY = Family(
    name="internvl",
    model_types=("internvl",),
    model_class="InternVLForConditionalGeneration",
    frame="norm1000",
    box_style="internvl",
    image_factor=14,
    special_tokens=tuple(INTERNVL_SPECIAL_TOKENS),
    chat_template=INTERNVL_CHAT_TEMPLATE,
    # InternVLProcessor reads these names (and their ``*_id``) from the tokenizer.
    extra_tokenizer_attrs={
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    },
    vision_modules=("vision_tower",),
    projector_modules=("multi_modal_projector",),
)
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def image_only_processor() -> type:
    from grit.models.processors import InternVLImageOnlyProcessor

    return InternVLImageOnlyProcessor


# Tiny geometry: 56-pixel tiles of 14-pixel patches, pixel-shuffled by 0.5 -> (56/14 * 0.5)^2 = 4 tokens per tile.
TINY_TILE, TINY_PATCH, TINY_DOWNSAMPLE = 56, 14, 0.5


def image_seq_length(tile: int, patch: int, downsample: float) -> int:
    return round((tile // patch * downsample) ** 2)


def tiny_config(vocab_size: int, ids: dict[str, int], size: str = "tiny"):
    """A randomly initialisable InternVL3 (Qwen2 language model, small ViT) (``size``: "tiny" or "small")."""
    from transformers import InternVLConfig

    vhidden, vdepth = (32, 1) if size == "tiny" else (64, 2)
    return InternVLConfig(
        text_config=tiny_text_config(vocab_size, ids, size, model_type="qwen2"),
        vision_config=dict(
            hidden_size=vhidden,
            num_hidden_layers=vdepth,
            num_attention_heads=4,
            intermediate_size=vhidden * 2,
            image_size=TINY_TILE,
            patch_size=TINY_PATCH,
        ),
        image_token_id=ids["<IMG_CONTEXT>"],
        image_seq_length=image_seq_length(TINY_TILE, TINY_PATCH, TINY_DOWNSAMPLE),
        downsample_ratio=TINY_DOWNSAMPLE,
        tie_word_embeddings=True,
    )


def tiny_processor(
    tokenizer, min_pixels: int | None = None, max_pixels: int | None = None, max_tiles: int = 12
):
    """InternVL processor for the tiny geometry. ``min_pixels``/``max_pixels`` do not apply (tiling instead)."""
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    ip = GotOcr2ImageProcessorPil(
        size={"height": TINY_TILE, "width": TINY_TILE},
        crop_to_patches=True,
        min_patches=1,
        max_patches=max_tiles,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return image_only_processor()(
        image_processor=ip,
        tokenizer=tokenizer,
        image_seq_length=image_seq_length(TINY_TILE, TINY_PATCH, TINY_DOWNSAMPLE),
        chat_template=FAMILY.chat_template,
    )
