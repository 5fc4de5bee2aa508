"""Load a checkpoint (local folder or hub id) with the right family, processor, device and dtype."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from grit.models import detect_family, family_for_model_type, family_module
from grit.models.processors import has_torchvision, warn_image_only_once


class ModelLoadError(RuntimeError):
    """A model or processor could not be loaded; the message says which path and why."""


def pick_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pick_dtype(device: torch.device, dtype: str | None = None) -> torch.dtype:
    """CPU: float32 (bf16 matmuls are slow and lossy on CPU); CUDA: bfloat16, as GRIT trains."""
    if dtype:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }[dtype]
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_family(model: str | Path, family: str | None = None) -> str:
    if family:
        family_module(family)  # validates the name
        return family
    path = Path(model)
    if path.is_dir():
        return detect_family(path)
    try:  # a hub id: read the config through transformers (works offline when cached)
        from transformers import AutoConfig

        return family_for_model_type(AutoConfig.from_pretrained(str(model)).model_type)
    except Exception as e:
        raise ModelLoadError(
            f"{model}: not a model folder and not loadable as a hub id ({type(e).__name__}: {e})"
        ) from e


def load_processor(model: str | Path, family: str | None = None, **kwargs):
    """The family's processor; image-only (no video) when torchvision is missing."""
    fam_name = resolve_family(model, family)
    mod = family_module(fam_name)
    try:
        if has_torchvision() or getattr(mod, "IMAGE_ONLY_PROCESSOR", None) is None:
            from transformers import AutoProcessor

            return AutoProcessor.from_pretrained(str(model), **kwargs)
        warn_image_only_once()
        return mod.IMAGE_ONLY_PROCESSOR.from_pretrained(str(model), **kwargs)
    except Exception as e:
        raise ModelLoadError(f"{model}: cannot load the processor ({type(e).__name__}: {e})") from e


def load_model(
    model: str | Path, family: str | None = None, device: str | None = None, dtype: str | None = None
):
    """Return ``(model, processor, family_name)`` ready for generation (eval mode, on the chosen device)."""
    fam_name = resolve_family(model, family)
    dev = pick_device(device)
    try:
        from transformers import AutoModelForImageTextToText

        m = AutoModelForImageTextToText.from_pretrained(str(model), dtype=pick_dtype(dev, dtype))
    except Exception as e:
        raise ModelLoadError(f"{model}: cannot load the model ({type(e).__name__}: {e})") from e
    m.to(dev).eval()
    return m, load_processor(model, fam_name), fam_name


def read_config(model: str | Path) -> dict:
    p = Path(model) / "config.json"
    return json.loads(p.read_text()) if p.is_file() else {}
