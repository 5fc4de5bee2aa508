"""A loadable model folder from a real release folder, with random weights (tests and memory benchmarks).

A release folder holds everything of a checkpoint except its weights: ``config.json``, the tokenizer files,
the processor settings and the chat template. :func:`build_from_release` keeps all of them as released and
writes random weights beside them, so every grit command runs on the real tokenizer, template and processor
offline. By default the network is cut to a depth-2, narrow one (seconds on a CPU); what the files and the
processor depend on is kept: the vocabulary, every special-token id, the vision patch / merge / temporal sizes,
the M-RoPE sections (so the head width stays 128) and the image token ids. ``full=True`` keeps the real
dimensions (the memory benchmark).

InternVL3: the folder grit can get holds the original remote-code release (``internvl_chat``), which
transformers cannot load. It is turned into the ``-hf`` port the way transformers' conversion script does
(``models/internvl/convert_internvl_weights_to_hf.py``): a ``Qwen2Config`` language model with ``<|im_end|>`` as
its end token, the vision config renamed, image token ``<IMG_CONTEXT>`` (151667), the tokenizer told its image
tokens, 448-pixel GOT-OCR2 tiles with ImageNet statistics and the port's chat template.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from grit.errors import GritUserError

# Files of a release folder copied as they are (weights excluded); whichever of them the folder has.
RELEASE_FILES = (
    "vocab.json",
    "merges.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "processor_config.json",
    "video_preprocessor_config.json",
    "generation_config.json",
)

# The cut-down network: depth 2, narrow. Qwen2-VL / Qwen2.5-VL derive the head width from hidden / heads and
# their M-RoPE sections fill a 128-wide head, so their language model is 128 wide with one head; Qwen3-VL and
# InternVL's Qwen2 name the head width apart from the hidden size.
TEXT_LAYERS, VISION_LAYERS = 2, 2
VISION_HIDDEN, VISION_HEADS = 32, 2

# transformers' InternVL3 -hf conversion: the chat template, the image token and the processor settings.
INTERNVL_HF_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}{{ '<IMG_CONTEXT>\\n' }}"
    "{% elif content['type'] == 'video' %}{{ '<video>\\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{'<|im_end|>\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\\n' }}{% endif %}"
)
INTERNVL_IMAGE_TOKEN_ID = 151667
INTERNVL_END_TOKEN_ID = 151645  # <|im_end|>; the original llm_config says <|endoftext|>
INTERNVL_CONTEXT_LENGTH = 8192
INTERNVL_TOKENIZER_ATTRS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}
# Keys of the original configs the conversion drops (MoE, flash-attention and remote-code fields).
_INTERNVL_DROPPED = {
    "_name_or_path",
    "_attn_implementation_autoset",
    "auto_map",
    "use_bfloat16",
    "use_flash_attn",
    "bias",
    "laux_allreduce",
    "moe_coeff_ratio",
    "moe_intermediate_size",
    "moe_output_scale",
    "noisy_gate_policy",
    "shared_expert_intermediate_size",
    "use_residual",
    "use_moe",
    "use_rts",
    "use_weighted_residual",
    "moe_config",
    "num_experts",
    "num_routed_experts",
    "num_shared_experts",
    "capacity_factor",
    "eval_capacity_factor",
    "drop_path_rate",
    "architectures",
    "model_type",
    "transformers_version",
    "torch_dtype",
}


class ReleaseError(GritUserError, ValueError):
    """A release folder grit cannot build a model from; the message names the folder and the field."""


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(f"{path}: not found") from None
    except json.JSONDecodeError as e:
        raise ReleaseError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from None


# ------------------------------------------------------------------------------------------------ configs


def _cut_text(text: dict[str, Any], hidden: int, heads: int, head_dim: int | None) -> None:
    """Depth and widths of a language-model config cut down in place; ids, vocabulary and rope kept."""
    text.update(
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=heads,
        num_key_value_heads=1,
    )
    if head_dim is not None:
        text["head_dim"] = head_dim
    text.pop("layer_types", None)  # recomputed for the new depth
    text["max_window_layers"] = TEXT_LAYERS


def _cut_vision(vision: dict[str, Any], out_hidden: int) -> None:
    """Vision tower of depth 2 and width 32; patch, merge and temporal sizes kept."""
    vision.update(depth=VISION_LAYERS, num_heads=VISION_HEADS, hidden_size=VISION_HIDDEN)
    vision["intermediate_size"] = 2 * VISION_HIDDEN
    vision["out_hidden_size"] = out_hidden


def cut_config(model_type: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """A release config (transformers ``to_dict`` form) cut to the small network of its family."""
    text, vision = cfg["text_config"], cfg["vision_config"]
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        mrope = (text.get("rope_parameters") or {}).get("mrope_section") or [16, 24, 24]
        hidden = 2 * sum(mrope)  # one head as wide as the M-RoPE sections need
        _cut_text(text, hidden, heads=1, head_dim=None)
        if model_type == "qwen2_vl":  # its merger projects straight to the text width
            vision.update(depth=VISION_LAYERS, num_heads=VISION_HEADS, embed_dim=VISION_HIDDEN, mlp_ratio=2)
            vision["hidden_size"] = hidden
        else:
            _cut_vision(vision, hidden)
            vision["fullatt_block_indexes"] = [VISION_LAYERS - 1]
    elif model_type == "qwen3_vl":
        _cut_text(text, 64, heads=1, head_dim=text.get("head_dim") or 128)
        _cut_vision(vision, 64)
        vision["deepstack_visual_indexes"] = [0]
    elif model_type == "internvl":
        _cut_text(text, 64, heads=1, head_dim=text.get("head_dim") or 128)
        vision.update(
            hidden_size=VISION_HIDDEN,
            intermediate_size=2 * VISION_HIDDEN,
            num_hidden_layers=VISION_LAYERS,
            num_attention_heads=VISION_HEADS,
        )
        vision.pop("layer_types", None)
    else:
        raise ReleaseError(
            f"model_type {model_type!r}: no cut-down recipe (known: qwen2_vl, qwen2_5_vl, qwen3_vl, internvl)"
        )
    return cfg


def internvl_hf_config(original: dict[str, Any]):
    """The ``InternVLConfig`` transformers' conversion script makes from an ``internvl_chat`` config.json."""
    from transformers import InternVLConfig, Qwen2Config
    from transformers.models.internvl.configuration_internvl import InternVLVisionConfig

    try:
        llm, vis = dict(original["llm_config"]), dict(original["vision_config"])
    except KeyError as e:
        raise ReleaseError(f"internvl_chat config.json: field {e.args[0]!r} is missing") from None
    if llm.get("architectures") != ["Qwen2ForCausalLM"]:
        raise ReleaseError(
            f"llm_config.architectures {llm.get('architectures')}: only the Qwen2 language model is converted"
        )
    llm = {k: v for k, v in llm.items() if k not in _INTERNVL_DROPPED}
    llm.update(use_cache=True, eos_token_id=INTERNVL_END_TOKEN_ID)
    vis = {k: v for k, v in vis.items() if k not in _INTERNVL_DROPPED}
    vis["use_absolute_position_embeddings"] = True
    renames = {"qk_normalization": "use_qk_norm", "qkv_bias": "attention_bias"}
    for old, new in renames.items():
        if old in vis:
            vis[new] = vis.pop(old)
    if "attention_probs_dropout_prob" in vis:
        vis["attention_dropout"] = vis["projection_dropout"] = vis.pop("attention_probs_dropout_prob")
    known_vis = set(InternVLVisionConfig().to_dict())
    return InternVLConfig(
        text_config=Qwen2Config(**llm).to_dict(),
        vision_config={k: v for k, v in vis.items() if k in known_vis},
        image_token_id=INTERNVL_IMAGE_TOKEN_ID,
        downsample_ratio=original.get("downsample_ratio", 0.5),
        vision_feature_layer=original.get("select_layer", -1),
    )


def release_config(release: Path, full: bool = False):
    """The transformers config of a release folder: real dimensions with ``full``, else the cut-down network."""
    from transformers import AutoConfig

    raw = read_json(release / "config.json")
    model_type = raw.get("model_type")
    if model_type == "internvl_chat":
        config = internvl_hf_config(raw)
    else:
        try:
            config = AutoConfig.from_pretrained(str(release))
        except (ValueError, KeyError, OSError) as e:
            raise ReleaseError(f"{release / 'config.json'}: transformers cannot read it ({e})") from None
    if full:
        return config
    return type(config).from_dict(cut_config(config.model_type, config.to_dict()))


# ------------------------------------------------------------------------------------------------ folders


def copy_release_files(release: Path, out: Path) -> list[str]:
    """Copy the release's tokenizer, processor, template and generation files unchanged; returns their names."""
    copied = []
    for name in RELEASE_FILES:
        src = release / name
        if src.is_file():
            shutil.copyfile(src, out / name)
            copied.append(name)
    return copied


def write_internvl_hf_processor(release: Path, out: Path) -> None:
    """The -hf processor from the original release's tokenizer files: the tokenizer told its image tokens, the
    port's chat template, GOT-OCR2 tiles of 448 pixels (1-12 tiles plus a thumbnail) and 256 tokens per tile."""
    from transformers import AutoTokenizer
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    from grit.models.internvl import IMAGENET_MEAN, IMAGENET_STD, image_only_processor

    # read from ``out`` (the -hf config.json is there), not ``release``, whose config.json asks for remote code
    for name in (
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
        "added_tokens.json",
        "special_tokens_map.json",
    ):
        if (release / name).is_file():
            shutil.copyfile(release / name, out / name)
    tok = AutoTokenizer.from_pretrained(
        str(out),
        extra_special_tokens=dict(INTERNVL_TOKENIZER_ATTRS),
        model_max_length=INTERNVL_CONTEXT_LENGTH,
    )
    tok.chat_template = INTERNVL_HF_CHAT_TEMPLATE
    image_processor = GotOcr2ImageProcessorPil(
        size={"height": 448, "width": 448},
        crop_to_patches=True,
        min_patches=1,
        max_patches=12,
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
        do_convert_rgb=True,
    )
    processor = image_only_processor()(
        image_processor=image_processor,
        tokenizer=tok,
        image_seq_length=256,  # (448 / 14 * 0.5) ** 2
        chat_template=INTERNVL_HF_CHAT_TEMPLATE,
    )
    processor.save_pretrained(str(out))
    # name the stock classes, as a real -hf folder does (grit swaps in its image-only one where needed)
    for name in ("processor_config.json", "tokenizer_config.json", "preprocessor_config.json"):
        path = out / name
        if path.is_file():
            path.write_text(path.read_text().replace(type(processor).__name__, "InternVLProcessor"))


def build_from_release(
    release: str | Path,
    out: str | Path,
    *,
    full: bool = False,
    dtype: str = "float32",
    seed: int = 0,
) -> Path:
    """Write a model folder with random weights beside the release's own tokenizer, processor and template.

    ``full`` keeps the real dimensions (a 3B model in ``dtype="bfloat16"`` is ~7.5 GB on disk and in memory);
    otherwise the network is cut down (see the module docstring) and loads in about a second.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    from grit.models.loading import DTYPES

    release, out = Path(release), Path(out)
    if not (release / "config.json").is_file():
        raise ReleaseError(f"{release}: no config.json (not a release folder)")
    if dtype not in DTYPES:
        raise ReleaseError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
    config = release_config(release, full)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=DTYPES[dtype])
    model.save_pretrained(str(out))
    del model
    if read_json(release / "config.json").get("model_type") == "internvl_chat":
        write_internvl_hf_processor(release, out)
    else:
        copy_release_files(release, out)
    return out
