"""A lean decode loop for small Qwen-VL models on CPU: token for token what Hugging Face ``generate`` draws.

The prompt goes through ``generate`` itself for one new token, so the vision tower, the image tokens, the 3-D
rope positions and the first draw are exactly Hugging Face's. Each further token then runs the decoder layers'
own ops in their own order, minus what ``generate`` adds around them for a model this small: a causal mask
rebuilt every step, a KV cache grown by ``torch.cat``, input preparation and output records, and, above all,
the rows that have already finished (they only ever receive pad; in the demo's GRPO batch most rows are done
long before the longest one). Scores go through the very logits processors ``generate`` builds, tokens through
the same ``softmax`` + ``torch.multinomial`` (or ``argmax``) on the full batch, so a seed draws the same tokens
and leaves the random stream where ``generate`` leaves it (tests/test_decode.py; BENCHMARKS.md, "Decoding on
one thread").

Only where that is known to hold (the families, settings and processors below, on CPU); every other call goes
to ``model.generate`` unchanged.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
import transformers
from packaging.version import Version
from transformers.generation.logits_process import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)
from transformers.integrations.sdpa_attention import sdpa_attention_forward

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")  # decoders with 3-D (mrope) positions, q/k/v + o_proj
MAX_PARAMS = 50_000_000  # tiny float32 models: where per-token overhead dominates, and what the tests cover
PROCESSORS = (
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    RepetitionPenaltyLogitsProcessor,
)  # each a pure function of (tokens so far, scores): applying it here gives generate's scores
INPUTS = {"input_ids", "attention_mask", "pixel_values", "image_grid_thw", "mm_token_type_ids"}
# The layer ops, the cache and the private generate helpers used here are those of this release on; older ones
# (3-D rope applied inside attention, ``past_key_values``) keep ``generate``.
TRANSFORMERS_FROM = Version("5.24")


class KVBuffer:
    """A fixed-size key/value store per layer, filled in place; ``update`` is the one method the decoder
    layers call on a cache, and it returns views of the filled part (no ``torch.cat`` per token)."""

    def __init__(self, prompt_cache, total: int):
        self.keys, self.values = [], []
        for layer in prompt_cache.layers:
            k, v = layer.keys, layer.values
            self.keys.append(k.new_empty(*k.shape[:2], total, k.shape[3]))
            self.values.append(v.new_empty(*v.shape[:2], total, v.shape[3]))
            self.keys[-1][:, :, : k.shape[2]] = k
            self.values[-1][:, :, : v.shape[2]] = v
        self.length = prompt_cache.layers[0].keys.shape[2]  # positions filled, the new token's excluded

    def select(self, rows: torch.Tensor) -> None:
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]

    def update(self, key, value, layer_idx, **_):
        n = self.length
        self.keys[layer_idx][:, :, n : n + 1] = key
        self.values[layer_idx][:, :, n : n + 1] = value
        return self.keys[layer_idx][:, :, : n + 1], self.values[layer_idx][:, :, : n + 1]


def _base(model):
    """The Hugging Face model under a PEFT wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _no_active_dropout(model) -> bool:
    """No dropout would draw random numbers in a decode step: the loop must consume the RNG as generate does.
    A merged LoRA layer skips its dropout; an unmerged one in train mode would draw."""
    for name, m in model.named_modules():
        if not m.training or "lora_dropout" in name:
            continue
        if isinstance(m, torch.nn.Dropout) and m.p > 0:
            return False
        lora_dropout = getattr(m, "lora_dropout", None)
        unmerged = lora_dropout is not None and not getattr(m, "merged", False)
        if unmerged and any(isinstance(d, torch.nn.Dropout) and d.p > 0 for d in lora_dropout.values()):
            return False
    text = _base(model).config.get_text_config()
    return not (model.training and getattr(text, "attention_dropout", 0.0))


def cpu_parameters(model) -> int | None:
    """The model's parameter count when its weights are on the CPU; None on another device or without weights.
    Where a model this small decodes, per-op overhead rather than arithmetic sets the pace."""
    params = model.parameters()
    first = next(params, None)
    if first is None or first.device.type != "cpu":
        return None
    return first.numel() + sum(p.numel() for p in params)


def _left_padded(mask: torch.Tensor | None) -> bool:
    """Every row's prompt ends in the last column (decode positions continue from there)."""
    return mask is None or bool(mask[:, -1].all())


def plan(model, generation_config=None, **kwargs) -> tuple[object, LogitsProcessorList] | None:
    """``(resolved generation config, its logits processors)`` when the lean loop reproduces ``generate`` for
    this call, else None. Uses ``generate``'s own (private) resolution; any surprise there means None."""
    hf = _base(model)
    n_params = cpu_parameters(hf)
    if (
        Version(transformers.__version__).release < TRANSFORMERS_FROM.release
        or getattr(hf.config, "model_type", None) not in FAMILIES
        or n_params is None
        or n_params > MAX_PARAMS
        or next(hf.parameters()).dtype != torch.float32
        or getattr(hf.config.get_text_config(), "_attn_implementation", None) != "sdpa"
        or kwargs.get("input_ids") is None
        or kwargs.get("pixel_values") is None
        or not _left_padded(kwargs.get("attention_mask"))
    ):
        return None
    try:
        settings = {k: v for k, v in kwargs.items() if k not in INPUTS}
        cfg, unknown = hf._prepare_generation_config(generation_config, **settings)
        if unknown:  # a streamer, a logits processor, a cache, ...: not the plain sampling this loop does
            return None
        cfg = copy.deepcopy(cfg)
        hf._prepare_special_tokens(cfg, True, device=torch.device("cpu"))
        processors = hf._get_logits_processor(
            generation_config=cfg,
            input_ids_seq_length=kwargs["input_ids"].shape[1],
            encoder_input_ids=kwargs["input_ids"],
            prefix_allowed_tokens_fn=None,
            logits_processor=LogitsProcessorList(),
            device=torch.device("cpu"),
            model_kwargs={},
        )
    except (AttributeError, TypeError, ValueError):
        return None
    plain = (
        (cfg.num_beams or 1) == 1
        and (cfg.num_return_sequences or 1) == 1
        and cfg.max_new_tokens is not None
        and cfg._eos_token_tensor is not None
        and cfg._pad_token_tensor is not None
        and not cfg.return_dict_in_generate
        and not (cfg.output_scores or cfg.output_logits or cfg.output_attentions or cfg.output_hidden_states)
        and getattr(cfg, "stop_strings", None) is None
        and getattr(cfg, "max_time", None) is None
        and getattr(cfg, "cache_implementation", None) in (None, "dynamic")
        and getattr(cfg, "prefill_chunk_size", None) is None
        and getattr(cfg, "assistant_model", None) is None
        and all(type(p) in PROCESSORS for p in processors)
    )
    return (cfg, processors) if plain and _no_active_dropout(model) else None


@torch.no_grad()
def generate(
    model, generation_config=None, *, fallback: Callable | None = None, **kwargs
) -> torch.LongTensor:
    """``model.generate(**kwargs)``'s sequences (prompt + new tokens), decoded by the lean loop where
    :func:`plan` allows, by ``fallback`` (default ``model.generate``) otherwise."""
    found = plan(model, generation_config, **kwargs)
    if found is None:
        if generation_config is not None:
            kwargs["generation_config"] = generation_config
        return (fallback or model.generate)(**kwargs)
    cfg, processors = found
    # the prompt and the first token, exactly as generate runs them, asked for the way the caller asked
    if generation_config is not None:
        first = copy.deepcopy(generation_config)
        first.max_new_tokens, first.return_dict_in_generate = 1, True
        kwargs["generation_config"] = first
    else:
        kwargs.update(max_new_tokens=1, return_dict_in_generate=True)
    out = (fallback or model.generate)(**kwargs)
    return _decode(model, out, cfg, processors, {k: v for k, v in kwargs.items() if k in INPUTS})


def _decode(model, out, cfg, processors: LogitsProcessorList, inputs: dict) -> torch.LongTensor:
    """Continue ``out`` (generate's output after the prompt and one new token, with its cache) token by token."""
    hf = _base(model)
    text = hf.model.language_model
    prompt_len = inputs["input_ids"].shape[1]
    budget = cfg.max_new_tokens
    batch = out.sequences.shape[0]
    eos, pad = cfg._eos_token_tensor, cfg._pad_token_tensor
    ids = out.sequences.new_full((batch, prompt_len + budget), int(pad))
    ids[:, : prompt_len + 1] = out.sequences
    unfinished = ~torch.isin(out.sequences[:, -1], eos)
    if budget == 1 or not unfinished.any():
        return out.sequences

    mask2d = inputs.get("attention_mask")
    if mask2d is None:
        mask2d = torch.ones_like(inputs["input_ids"])
    # generate's decode-step mask: none when no row is padded, else the padding mask (causality is implicit
    # for a single query); positions: each row's last prompt position + rope delta, one further per token.
    padded = not bool(mask2d.all())
    keep = torch.ones(batch, prompt_len + budget, dtype=torch.bool)
    keep[:, :prompt_len] = mask2d.bool()
    last = mask2d.long().sum(-1) - 1 + hf.model.rope_deltas.view(-1)
    kv = KVBuffer(out.cache, prompt_len + budget)
    rows = torch.arange(batch)  # the batch rows the buffers hold: finished rows leave them (see _still_needed)
    layers = [_Layer(layer) for layer in text.layers]
    for step in range(1, budget):
        n = prompt_len + step  # tokens so far; the newest, ids[:, n - 1], goes in now
        held = _still_needed(unfinished[rows])
        if held is not None:
            rows, keep, last = rows[held], keep[held], last[held]
            kv.select(held)
        h = text.embed_tokens(ids[rows, n - 1 : n])
        pos = (last + step).view(1, -1, 1).expand(3, -1, 1)
        rope = text.rotary_emb(h, pos)
        mask = keep[:, None, None, :n] if padded else None
        kv.length = n - 1
        for i, layer in enumerate(layers):
            h = layer(h, rope, kv, i, mask)
        logits = hf.lm_head(text.norm(h))[:, -1].to(copy=True, dtype=torch.float32)
        scores = processors(ids[rows, :n], logits)
        if cfg.do_sample:
            probs = F.softmax(scores, dim=-1)
            if len(rows) < batch:
                # torch.multinomial draws a row's token from its own probabilities and its own slice of the
                # random stream, so rows that left get a placeholder and the held rows draw what generate draws
                probs = (
                    probs.new_zeros(batch, probs.shape[1])
                    .index_fill_(1, pad.view(1), 1.0)
                    .index_copy_(0, rows, probs)
                )
            token = torch.multinomial(probs, num_samples=1).squeeze(1)[rows]
        else:
            token = torch.argmax(scores, dim=-1)
        token = torch.where(unfinished[rows], token, pad)
        ids[rows, n] = token
        unfinished[rows] &= ~torch.isin(token, eos)
        if not unfinished.any():
            return ids[:, : n + 1]
    return ids


MIN_ROWS = 4  # fewer rows take another matmul kernel, whose sums can differ in the last bit (measured)


def _still_needed(unfinished: torch.Tensor) -> torch.Tensor | None:
    """Which held rows to keep computing, or None to keep them all: the unfinished ones, topped up with
    finished ones to ``MIN_ROWS`` so every matmul still computes each row exactly as the full batch's does.
    A finished row only ever gets pad, so computing it is waste: half the demo's sampling batch is done long
    before its longest completion."""
    todo = unfinished.nonzero().view(-1)
    if len(todo) == len(unfinished) or len(unfinished) <= MIN_ROWS:
        return None
    if len(todo) < MIN_ROWS:
        done = (~unfinished).nonzero().view(-1)[: MIN_ROWS - len(todo)]
        todo = torch.cat([todo, done]).sort().values
    return todo if len(todo) < len(unfinished) else None


def _linear(module) -> Callable:
    """``module``'s forward without the module call: a LoRA layer whose adapters are merged is its base layer."""
    if getattr(module, "merged", False) and not getattr(module, "disable_adapters", True):
        module = module.base_layer
    if type(module) is torch.nn.Linear:
        weight, bias = module.weight, module.bias
        return lambda x: F.linear(x, weight, bias)
    return module


class _Layer:
    """One decoder layer of Qwen2-VL / Qwen2.5-VL / Qwen3-VL for one new token: the same ops in the same order
    as the layer's own forward (``Qwen2_5_VLDecoderLayer`` and its attention), minus the cache, mask and keyword
    plumbing."""

    def __init__(self, layer):
        attn, mlp = layer.self_attn, layer.mlp
        self.attn, self.head_dim = attn, attn.head_dim
        self.norm1, self.norm2 = layer.input_layernorm, layer.post_attention_layernorm
        self.q, self.k, self.v, self.o = (
            _linear(m) for m in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj)
        )
        self.gate, self.up, self.down = (_linear(m) for m in (mlp.gate_proj, mlp.up_proj, mlp.down_proj))
        self.act = mlp.act_fn
        self.rotate = sys.modules[type(attn).__module__].apply_rotary_pos_emb
        identity = lambda t: t  # noqa: E731
        self.q_norm = getattr(attn, "q_norm", identity)  # Qwen3-VL normalises each head's queries and keys
        self.k_norm = getattr(attn, "k_norm", identity)

    def __call__(self, h, rope, kv: KVBuffer, index: int, mask):
        b = h.shape[0]
        x = self.norm1(h)
        q = self.q_norm(self.q(x).view(b, 1, -1, self.head_dim)).transpose(1, 2)
        k = self.k_norm(self.k(x).view(b, 1, -1, self.head_dim)).transpose(1, 2)
        v = self.v(x).view(b, 1, -1, self.head_dim).transpose(1, 2)
        q, k = self.rotate(q, k, *rope)
        k, v = kv.update(k, v, index)
        a, _ = sdpa_attention_forward(self.attn, q, k, v, mask, dropout=0.0, scaling=self.attn.scaling)
        h = h + self.o(a.reshape(b, 1, -1).contiguous())
        x = self.norm2(h)
        return h + self.down(self.act(self.gate(x)) * self.up(x))


@contextmanager
def lean_generate(model) -> Iterator[None]:
    """Route ``model.generate`` through :func:`generate` for the duration of the block (TRL calls it deep
    inside its sampling step); calls the loop cannot serve go to the original method."""
    own = vars(model).get("generate")  # an instance attribute already there (a test's spy) comes back after
    original = model.generate
    model.generate = lambda *args, **kw: generate(model, *args, fallback=original, **kw)
    try:
        yield
    finally:
        if own is None:
            del model.generate
        else:
            model.generate = own
