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


def qwen_image_processor(min_pixels: int, max_pixels: int, patch_size: int = 14, merge_size: int = 2):
    """The PIL Qwen2-VL image processor (works without torchvision; same resize and normalisation)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        patch_size=patch_size,
        merge_size=merge_size,
        temporal_patch_size=2,
    )
