"""Model families, image-only processors, offline tiny models and batched generation.

``FAMILY_MODULES`` maps a family name to its module; each module holds only what differs (its pure ``FAMILY``
record, and functions that load its tiny config and image-only processor: see ``family.FamilyModule``).
Looking a family up imports no torch or transformers. ``detect_family`` reads ``config.model_type``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from grit.errors import GritUserError
from grit.models.family import Family, FamilyModule, TinyFamilyModule

FAMILY_MODULES = {
    "qwen2_vl": "grit.models.qwen2_vl",
    "qwen2_5_vl": "grit.models.qwen2_5_vl",
    "qwen3_vl": "grit.models.qwen3_vl",
    "internvl": "grit.models.internvl",
    "generic": "grit.models.generic",
}


class FamilyError(GritUserError, ValueError):
    """An unknown family, one without what was asked of it, or a model folder whose family cannot be read."""


def family_module(name: str) -> FamilyModule:
    if name not in FAMILY_MODULES:
        raise FamilyError(f"unknown model family {name!r}; known: {', '.join(FAMILY_MODULES)}")
    return importlib.import_module(FAMILY_MODULES[name])  # type: ignore[return-value]


def tiny_family_module(name: str) -> TinyFamilyModule:
    """The module of a family that builds tiny models; a clear error for one that does not (``generic``)."""
    mod = family_module(name)
    if not isinstance(mod, TinyFamilyModule):
        tiny = [n for n in FAMILY_MODULES if isinstance(family_module(n), TinyFamilyModule)]
        raise FamilyError(f"the {name} family has no tiny model; build one of: {', '.join(tiny)}")
    return mod


def get_family(name: str) -> Family:
    return family_module(name).FAMILY


def family_for_model_type(model_type: str) -> str:
    for name in FAMILY_MODULES:
        if name != "generic" and model_type in family_module(name).FAMILY.model_types:
            return name
    return "generic"


def detect_family(model_path: str | Path) -> str:
    """Family name from a checkpoint folder's ``config.json`` (``model_type``); "generic" when unknown."""
    cfg = Path(model_path) / "config.json"
    if not cfg.is_file():
        raise FileNotFoundError(f"{model_path}: no config.json (not a model folder)")
    try:
        model_type = json.loads(cfg.read_text())["model_type"]
    except (json.JSONDecodeError, KeyError) as e:
        raise FamilyError(f"{cfg}: cannot read field 'model_type' ({e})") from e
    return family_for_model_type(model_type)


def list_families() -> list[dict]:
    """One row per family for ``grit models list``: what it loads and how its boxes are written."""
    rows = []
    for name in FAMILY_MODULES:
        fam = get_family(name)
        rows.append(
            {
                "name": name,
                "model_types": list(fam.model_types) if name != "generic" else ["(any other)"],
                "model_class": fam.model_class,
                "frame": fam.frame,
                "frame_description": fam.describe_frame(),
                "box_style": fam.box_style,
            }
        )
    return rows
