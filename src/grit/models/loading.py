"""Load a checkpoint (local folder or hub id) with the right family, processor, device and dtype."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from grit.errors import GritUserError
from grit.models import detect_family, family_for_model_type, family_module
from grit.models.family import TinyFamilyModule
from grit.models.markup import keep_box_markup


class ModelLoadError(GritUserError, RuntimeError):
    """A model or processor could not be loaded; the message says which path and why."""


def pick_device(device: str | None = None) -> torch.device:
    if device:
        try:
            return torch.device(device)
        except RuntimeError as e:
            raise ModelLoadError(f"unknown device {device!r} (expected cpu, cuda, cuda:N, mps)") from e
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def pick_dtype(device: torch.device, dtype: str | None = None) -> torch.dtype:
    """CPU: float32 (bf16 matmuls are slow and lossy on CPU); CUDA: bfloat16, as GRIT trains."""
    if dtype:
        if dtype not in DTYPES:
            raise ModelLoadError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        return DTYPES[dtype]
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
    """The family's processor (image-only, without video, when torchvision is missing), its tokenizer set to
    keep box markup when decoding (see :mod:`grit.models.markup`)."""
    from grit.models.processors import has_torchvision, register_image_only_processors, warn_image_only_once

    mod = family_module(resolve_family(model, family))
    register_image_only_processors()
    try:
        if has_torchvision() or not isinstance(mod, TinyFamilyModule):
            from transformers import AutoProcessor

            processor = AutoProcessor.from_pretrained(str(model), **kwargs)
        else:
            warn_image_only_once()
            processor = mod.image_only_processor().from_pretrained(str(model), **kwargs)
    except Exception as e:
        raise ModelLoadError(f"{model}: cannot load the processor ({type(e).__name__}: {e})") from e
    keep_box_markup(getattr(processor, "tokenizer", processor))  # Qwen2-VL / InternVL box tokens survive decoding
    return processor


def load_model(
    model: str | Path,
    family: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
):
    """Return ``(model, processor, family_name)`` ready for generation (eval mode, on the chosen device).

    ``min_pixels`` / ``max_pixels`` override the checkpoint's image budget (Qwen-style processors): GRIT trained
    Qwen2.5-VL at 256 visual tokens (max_pixels 200704) while the checkpoint's own processor allows ~16k.

    A LoRA adapter folder (``adapter_config.json`` without ``config.json``, e.g. a ``checkpoint-N`` of a LoRA
    run) loads its base model with the adapter merged in, so every grit command takes training checkpoints."""
    if is_adapter(model):
        return _load_adapter(Path(model), family, device, dtype, min_pixels, max_pixels)
    fam_name = resolve_family(model, family)
    dev = pick_device(device)
    torch_dtype = pick_dtype(dev, dtype)
    try:
        from transformers import AutoModelForImageTextToText

        m = AutoModelForImageTextToText.from_pretrained(str(model), dtype=torch_dtype)
    except Exception as e:
        raise ModelLoadError(f"{model}: cannot load the model ({type(e).__name__}: {e})") from e
    try:
        m.to(dev).eval()
    except (RuntimeError, AssertionError) as e:  # e.g. --device cuda on a machine without CUDA
        raise ModelLoadError(f"{model}: cannot move the model to {dev} ({e})") from e
    processor = load_processor(model, fam_name)
    if min_pixels or max_pixels:
        set_pixel_budget(processor, min_pixels, max_pixels)
    return m, processor, fam_name


def is_adapter(model: str | Path) -> bool:
    path = Path(model)
    return (path / "adapter_config.json").is_file() and not (path / "config.json").is_file()


def _load_adapter(path: Path, family, device, dtype, min_pixels, max_pixels):
    """The adapter's base (``base_model_name_or_path``) with the adapter merged, and the processor saved beside
    the adapter when there is one (the trainer saves it in every checkpoint), else the base's."""
    where = path / "adapter_config.json"
    try:
        base = json.loads(where.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError) as e:
        raise ModelLoadError(f"{where}: not a PEFT adapter config ({e})") from e
    if not isinstance(base, str) or not base:
        raise ModelLoadError(f"{where}: field 'base_model_name_or_path': no base model named")
    m, processor, fam = load_model(base, family, device, dtype, min_pixels, max_pixels)
    try:
        from peft import PeftModel

        m = PeftModel.from_pretrained(m, str(path)).merge_and_unload().eval()
    except Exception as e:
        raise ModelLoadError(f"{path}: cannot apply the adapter to {base} ({type(e).__name__}: {e})") from e
    if any((path / f).is_file() for f in ("processor_config.json", "preprocessor_config.json")):
        processor = load_processor(path, fam)
        if min_pixels or max_pixels:
            set_pixel_budget(processor, min_pixels, max_pixels)
    return m, processor, fam


def set_pixel_budget(processor, min_pixels: int | None, max_pixels: int | None) -> None:
    """Change a Qwen-style processor's resize budget in place (the frames follow it: see generate.pixel_budget)."""
    ip = getattr(processor, "image_processor", processor)
    if not hasattr(ip, "merge_size"):
        raise ModelLoadError(
            f"{type(ip).__name__}: min/max pixels apply to Qwen-style processors only (InternVL tiles images)"
        )
    size = dict(getattr(ip, "size", None) or {})
    if min_pixels:
        ip.min_pixels = size["shortest_edge"] = int(min_pixels)
    if max_pixels:
        ip.max_pixels = size["longest_edge"] = int(max_pixels)
    ip.size = size
