"""Build tiny randomly initialised models of real families, fully offline.

They are the fixtures of every test that touches a model and the starting point of the shapes base model:
same transformers classes, processors and chat templates as the real checkpoints, a few hundred thousand
parameters, a locally built word-level tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import AutoModelForImageTextToText, PreTrainedTokenizerFast

from grit.models import get_family, tiny_family_module
from grit.models.tokenizer import build_tokenizer


def build_hf_tokenizer(family: str, number_tokens: str = "digits", extra_words: Iterable[str] = ()):
    fam = get_family(family)
    raw = build_tokenizer(list(fam.special_tokens), number_tokens=number_tokens, extra_words=extra_words)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="<unk>",
        eos_token=fam.eos_token,
        pad_token=fam.pad_token,
        bos_token=None,
        extra_special_tokens=dict(fam.extra_tokenizer_attrs),
        padding_side="left",
        chat_template=fam.chat_template,
        clean_up_tokenization_spaces=False,
    )
    return tok


def build_tiny(
    family: str,
    out_dir: str | Path | None = None,
    *,
    size: str = "tiny",
    number_tokens: str = "digits",
    extra_words: Iterable[str] = (),
    seed: int = 0,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
):
    """Return ``(model, processor)`` of a tiny random ``family`` model; save both to ``out_dir`` if given."""
    mod = tiny_family_module(family)
    tok = build_hf_tokenizer(family, number_tokens, extra_words)
    ids = {t: tok.convert_tokens_to_ids(t) for t in mod.FAMILY.special_tokens}
    ids.update(eos=tok.eos_token_id, pad=tok.pad_token_id, bos=tok.eos_token_id)  # Qwen-style: no BOS token
    config = mod.tiny_config(len(tok), ids, size)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    processor = mod.tiny_processor(tok, min_pixels=min_pixels, max_pixels=max_pixels)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        processor.save_pretrained(out)
    return model, processor
