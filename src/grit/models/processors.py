"""Image processors and the image-only processor switch.

The stock Qwen2.5-VL and InternVL processors build a video processor, which needs torchvision. Where
torchvision is missing (CPU-only installs of a torch without a matching torchvision), grit uses small
subclasses without the video part, registered with ``AutoProcessor`` so ``from_pretrained`` works on real
checkpoint folders. With torchvision present the stock processors are used unchanged.
"""

from __future__ import annotations

import importlib.util
import logging

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


# Stock processor class name -> grit's image-only subclass, consulted only when torchvision is missing.
_IMAGE_ONLY_BY_STOCK_NAME: dict[str, type] = {}


def register_image_only(config_class: type, processor_class: type, stock_name: str) -> None:
    """Make ``AutoProcessor.from_pretrained`` work for this family without torchvision.

    Registering the subclass lets AutoProcessor find it by name (folders grit saved name it). A real
    checkpoint's ``processor_config.json`` names the stock class, which AutoProcessor resolves before any
    registered class; so, only when torchvision is missing, its name lookup is wrapped to hand back the
    image-only subclass for ``stock_name`` (everything else is looked up unchanged).
    """
    from transformers import AutoProcessor
    from transformers.models.auto import processing_auto

    AutoProcessor.register(config_class, processor_class, exist_ok=True)
    if has_torchvision():
        return
    _IMAGE_ONLY_BY_STOCK_NAME[stock_name] = processor_class
    lookup = processing_auto.processor_class_from_name
    if getattr(lookup, "_grit_image_only", False):
        return

    def processor_class_from_name(class_name: str):
        if class_name in _IMAGE_ONLY_BY_STOCK_NAME:
            warn_image_only_once()
            return _IMAGE_ONLY_BY_STOCK_NAME[class_name]
        return lookup(class_name)

    processor_class_from_name._grit_image_only = True  # type: ignore[attr-defined]
    processing_auto.processor_class_from_name = processor_class_from_name
