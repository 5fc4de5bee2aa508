"""Tiny-model fixtures shared by the model, generation and inference tests (import what you use).

Each family's tiny model is built and saved once per test session under pytest's base temp folder, so
every test module that imports the fixture reuses the same folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

TINY_FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "internvl")


def tiny_dir(tmp_path_factory: pytest.TempPathFactory, family: str) -> Path:
    """The saved tiny ``family`` model folder, built on first use in this session."""
    from grit.models.tiny import build_tiny

    out = tmp_path_factory.getbasetemp() / "grit-tiny-models" / family
    if not (out / "config.json").is_file():
        build_tiny(family, out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    return {f: tiny_dir(tmp_path_factory, f) for f in TINY_FAMILIES}


@pytest.fixture(scope="session")
def qwen25_dir(tmp_path_factory) -> Path:
    return tiny_dir(tmp_path_factory, "qwen2_5_vl")


def scramble(model, scale: float = 3.0, seed: int = 0):
    """Re-draw the language model's MLP and attention-output weights at a large scale.

    A freshly initialised tiny model with tied embeddings just repeats its last input token; with these
    weights its greedy output depends on the prompt and the image, which order and batching tests need.
    """
    from grit.models import family_for_model_type, get_family

    part_of = get_family(family_for_model_type(model.config.model_type)).part_of
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, w in model.named_parameters():
            if w.dim() == 2 and ("mlp" in name or "o_proj" in name) and part_of(name) == "language":
                w.copy_(torch.randn(w.shape, generator=gen) * scale / w.shape[1] ** 0.5)
    return model
