"""Image processors and the image-only processors.

The stock Qwen-VL and InternVL processors build a video processor, which needs torchvision. Where torchvision
is missing (CPU-only installs of a torch without a matching torchvision), grit uses the small subclasses below
without the video part; :func:`register_image_only_processors` registers them with ``AutoProcessor``
(when grit first loads a processor) so ``from_pretrained`` works on real checkpoint folders. With
torchvision present the stock processors are used unchanged. Family records stay free of transformers:
they reach these classes through their module's ``image_only_processor()``.
"""

from __future__ import annotations

import importlib.util
import logging

from transformers import (
    InternVLConfig,
    InternVLProcessor,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLProcessor,
    Qwen3VLConfig,
    Qwen3VLProcessor,
)

log = logging.getLogger(__name__)
_warned = False


def has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def warn_image_only_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning("torchvision is not installed: using image-only processors (video input is unavailable).")


def qwen_image_processor(
    min_pixels: int, max_pixels: int, patch_size: int = 14, merge_size: int = 2, **kwargs
):
    """The PIL Qwen2-VL image processor (works without torchvision; same resize and normalisation).

    ``kwargs`` go to the processor unchanged (Qwen3-VL passes its own ``image_mean`` / ``image_std``).
    """
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        patch_size=patch_size,
        merge_size=merge_size,
        temporal_patch_size=2,
        **kwargs,
    )


class ImageOnly:
    """Mixin for a stock Qwen processor class: its ``__init__`` without the video processor.

    transformers reads a processor's parts from its ``__init__`` signature, so leaving ``video_processor`` out
    here is what drops it.
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)


class Qwen2VLImageOnlyProcessor(ImageOnly, Qwen2VLProcessor):
    """Qwen2-VL processor without the video processor (which needs torchvision)."""


class Qwen2_5_VLImageOnlyProcessor(ImageOnly, Qwen2_5_VLProcessor):
    """Qwen2.5-VL processor without the video processor (which needs torchvision)."""


class Qwen3VLImageOnlyProcessor(ImageOnly, Qwen3VLProcessor):
    """Qwen3-VL processor without the video processor (which needs torchvision)."""


class InternVLImageOnlyProcessor(InternVLProcessor):
    """InternVL processor without the video processor; ``image_seq_length`` stays in the signature so that
    ``save_pretrained`` keeps it."""

    def __init__(
        self, image_processor=None, tokenizer=None, image_seq_length: int = 256, chat_template=None, **kwargs
    ):
        super().__init__(
            image_processor,
            tokenizer,
            image_seq_length=image_seq_length,
            chat_template=chat_template,
            **kwargs,
        )


# (config class, image-only subclass, the stock class name real checkpoints give)
IMAGE_ONLY = (
    (Qwen2VLConfig, Qwen2VLImageOnlyProcessor, "Qwen2VLProcessor"),
    (Qwen2_5_VLConfig, Qwen2_5_VLImageOnlyProcessor, "Qwen2_5_VLProcessor"),
    (Qwen3VLConfig, Qwen3VLImageOnlyProcessor, "Qwen3VLProcessor"),
    (InternVLConfig, InternVLImageOnlyProcessor, "InternVLProcessor"),
)
_registered = False


def register_image_only_processors() -> None:
    """Make ``AutoProcessor.from_pretrained`` work for every family without torchvision (idempotent).

    Registering the subclasses lets AutoProcessor find them by name (folders grit saved name them). A real
    checkpoint's ``processor_config.json`` names the stock class, which AutoProcessor resolves before any
    registered class; so, only when torchvision is missing, its name lookup is wrapped to hand back the
    image-only subclass for a stock name (everything else is looked up unchanged).
    """
    global _registered
    if _registered:
        return
    _registered = True
    from transformers import AutoProcessor
    from transformers.models.auto import processing_auto

    for config_class, processor_class, _ in IMAGE_ONLY:
        AutoProcessor.register(config_class, processor_class, exist_ok=True)
    if has_torchvision():
        return
    by_stock_name = {stock: cls for _, cls, stock in IMAGE_ONLY}
    lookup = processing_auto.processor_class_from_name

    def processor_class_from_name(class_name: str):
        if class_name in by_stock_name:
            warn_image_only_once()
            return by_stock_name[class_name]
        return lookup(class_name)

    processing_auto.processor_class_from_name = processor_class_from_name
