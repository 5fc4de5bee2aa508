"""The training config: one dataclass, loadable from YAML, every field overridable from the command line.

It holds what GRIT adds (data, rewards, model-side options) and a ``grpo`` mapping of TRL ``GRPOConfig``
fields; ``to_grpo_config`` turns it into TRL's config, validating the batch arithmetic up front so a bad
setting fails in a second with a clear message, not minutes into a run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grit.errors import GritUserError
from grit.rewards import GRPO_GR_REWARDS, REGISTRY


class ConfigError(GritUserError, ValueError):
    """A bad training configuration; the message names the field."""


@dataclass
class TrainConfig:
    model: str = ""
    family: str | None = None
    train_data: list[str] = field(default_factory=list)
    eval_data: list[str] = field(default_factory=list)
    image_root: str | None = None
    output_dir: str = "runs/grit"
    prompt: str = "grit"  # "grit" | "vanilla" | a template containing {question}
    rewards: list[str] = field(default_factory=lambda: list(GRPO_GR_REWARDS))
    reward_weights: dict[str, float] = field(default_factory=dict)
    # model side
    freeze_vision: bool = True
    freeze_projector: bool = False
    lora_r: int = 0  # > 0 turns LoRA on (peft)
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    min_pixels: int | None = None
    max_pixels: int | None = None
    dtype: str | None = None
    # evaluation during training (greedy, on eval_data)
    eval_every: int = 0  # 0 = never
    eval_limit: int | None = 64
    eval_max_new_tokens: int = 256
    threads: int | None = None
    print_logs: bool = False  # print TRL's full log dict at every step (else: a compact progress bar)
    completion_samples: int = 4  # completions (with their rewards) written to completions.jsonl per log
    # TRL GRPOConfig fields (anything GRPOConfig accepts)
    grpo: dict[str, Any] = field(default_factory=dict)


def _coerce(value: str) -> Any:
    """A command-line value → int, float, bool (true/false only: ``save_strategy=no`` stays the string "no"),
    None (none/null), a YAML list/mapping (``[a, b]``), else the string itself."""
    v = value.strip()
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null", "~"):
        return None
    if v[:1] in "[{":
        try:
            return yaml.safe_load(v)
        except yaml.YAMLError as e:
            raise ConfigError(f"cannot parse {value!r} as a list/mapping ({e})") from e
    return v


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``key=value`` / ``grpo.key=value`` overrides applied on a plain dict."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not key=value")
        key, value = item.split("=", 1)
        target = data
        parts = key.strip().replace("-", "_").split(".")
        for p in parts[:-1]:
            target = target.setdefault(p, {})
            if not isinstance(target, dict):
                raise ConfigError(f"override {item!r}: {p!r} is not a mapping")
        target[parts[-1]] = _coerce(value)
    return data


# Fields that take a comma-separated string on the command line (``rewards=a,b``).
_LIST_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig) if str(f.type).startswith("list[str]"))


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    data: dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML ({e})") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: top level must be a mapping")
    data = apply_overrides(data, overrides or [])
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown config field(s) {unknown}; known: {sorted(names)}")
    for key in _LIST_FIELDS:
        if isinstance(data.get(key), str):
            data[key] = [s.strip() for s in data[key].split(",") if s.strip()]
    _check_types(data)
    cfg = TrainConfig(**data)
    validate(cfg)
    return cfg


_TYPES = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def _check_types(data: dict[str, Any]) -> None:
    """Each field has the type its annotation says (``lora_r=abc`` fails here, not after the model loaded)."""
    for f in dataclasses.fields(TrainConfig):
        if f.name not in data:
            continue
        value, parts = data[f.name], [p.strip() for p in str(f.type).split("|")]
        if value is None and "None" in parts:
            continue
        allowed = tuple(t for p in parts for t in _TYPES.get(p.split("[")[0], ()))
        ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
        if allowed and not ok:
            raise ConfigError(f"field '{f.name}': expected {f.type}, got {value!r}")


def validate(cfg: TrainConfig) -> None:
    if not cfg.model:
        raise ConfigError("field 'model': a checkpoint folder or hub id is required")
    if not cfg.train_data:
        raise ConfigError("field 'train_data': at least one GRIT jsonl file is required")
    unknown = [r for r in cfg.rewards if r not in REGISTRY]
    if unknown:
        raise ConfigError(f"field 'rewards': unknown reward(s) {unknown}; known: {sorted(REGISTRY)}")
    bad_w = [r for r in cfg.reward_weights if r not in cfg.rewards]
    if bad_w:
        raise ConfigError(f"field 'reward_weights': {bad_w} not among the configured rewards {cfg.rewards}")
    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(set(cfg.grpo) - known)
    if unknown:
        raise ConfigError(f"field 'grpo': unknown GRPOConfig option(s) {unknown}")
    g = cfg.grpo
    n_gen = int(g.get("num_generations", 8))
    per_dev = int(g.get("per_device_train_batch_size", 8))
    accum = int(g.get("gradient_accumulation_steps", 1))
    spg = g.get("steps_per_generation") or accum
    gen_bs = g.get("generation_batch_size") or per_dev * spg  # per process; TRL multiplies by world size
    if gen_bs % n_gen:
        raise ConfigError(
            f"field 'grpo': the generation batch (per_device_train_batch_size {per_dev} x steps_per_generation "
            f"{spg} = {gen_bs}) must be divisible by num_generations {n_gen} (times the number of processes)"
        )


def grpo_kwargs(cfg: TrainConfig) -> dict[str, Any]:
    """The ``GRPOConfig`` keyword arguments of this run: GRIT-level defaults first, the ``grpo`` mapping wins."""
    weights = [float(cfg.reward_weights.get(r, 1.0)) for r in cfg.rewards]
    args: dict[str, Any] = dict(
        output_dir=cfg.output_dir,
        reward_weights=weights,
        remove_unused_columns=False,  # keep answer / bboxs / frame ... for the rewards
        logging_steps=1,
        save_strategy="steps",
        save_steps=50,
        report_to="none",
        log_completions=False,
    )
    args.update(cfg.grpo)
    if args.get("report_to") in (None, "none", []):
        args["report_to"] = "none"
    return args


def to_grpo_config(cfg: TrainConfig):
    """TRL ``GRPOConfig`` for this run. Without a GPU, training defaults to float32 on the CPU; asking for
    bf16 there is an error that says what to change (TRL's own message points deep into TrainingArguments)."""
    import torch
    from trl import GRPOConfig

    args = grpo_kwargs(cfg)
    if not torch.cuda.is_available():
        if args.get("bf16") or args.get("fp16"):
            raise ConfigError(
                "field 'grpo.bf16'/'grpo.fp16': mixed precision needs a GPU; on this machine pass "
                "grpo.bf16=false grpo.use_cpu=true (the shipped paper configs are meant for GPUs)"
            )
        args.setdefault("bf16", False)
        args.setdefault("use_cpu", True)
    return GRPOConfig(**args)
