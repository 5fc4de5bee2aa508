"""GRPO-GR on TRL's ``GRPOTrainer``, by composition: our dataset, rewards, model-side options and callbacks.

TRL does the RL (generation, group-relative advantages, KL, multi-GPU through accelerate/DeepSpeed, vLLM);
grit supplies GRIT's prompt per model family, the per-item coordinate frame the rewards need, the GRPO-GR
reward functions, periodic grounded evaluation, and resumable checkpoints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_callback import ProgressCallback
from trl import GRPOTrainer

from grit.models import family_for_model_type, get_family
from grit.models.decode import lean_generate
from grit.models.generate import decode_threads, frame_for_image, user_text
from grit.rewards import REGISTRY
from grit.train.config import ConfigError, TrainConfig, to_grpo_config


def build_dataset(paths: list[str], cfg: TrainConfig, family_name: str, processor):
    """GRIT jsonl → ``datasets.Dataset`` with TRL's conversational ``prompt``, the ``image`` column and a
    per-item ``frame`` (the family's coordinate frame for that image) that the rewards use to check boxes."""
    from grit.data.loading import load_grit_dataset

    family = get_family(family_name)
    ds = load_grit_dataset(paths, image_root=cfg.image_root)

    def add(rec: dict[str, Any]) -> dict[str, Any]:
        frame = frame_for_image(family, processor, int(rec["width"]), int(rec["height"]))
        return {
            # TRL puts the image before the text of the first user message, as GRIT's prompt has it.
            "prompt": [{"role": "user", "content": user_text(rec["question"], family, cfg.prompt)}],
            "frame": frame.to_dict(),
        }

    return ds.map(add)


def _part_of(model):
    """``name -> "vision" | "projector" | "language"``, by the module names of the model's own architecture
    (its ``config.model_type``'s family)."""
    return get_family(family_for_model_type(model.config.model_type)).part_of


def _frozen_parts(vision: bool, projector: bool) -> set[str]:
    return {part for part, on in (("vision", vision), ("projector", projector)) if on}


def freeze(model, vision: bool, projector: bool) -> dict[str, int]:
    """Freeze the vision tower (GRIT trains the language side) and optionally the projector."""
    frozen = {"vision": 0, "projector": 0}
    skip = _frozen_parts(vision, projector)
    part_of = _part_of(model)
    for name, p in model.named_parameters():
        part = part_of(name)
        if part in skip:
            p.requires_grad_(False)
            frozen[part] += p.numel()
    return frozen


def lora_targets(model, suffixes: list[str], vision: bool, projector: bool) -> list[str]:
    """Full names of the linear layers LoRA adapts: those named by ``suffixes`` outside the frozen parts.

    peft matches bare suffixes everywhere, and its adapters are trainable even inside a frozen tower: InternVL's
    vision attention and Qwen's vision MLP share the language model's layer names."""
    skip = _frozen_parts(vision, projector)
    part_of = _part_of(model)
    names = [
        name
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear)
        and name.rsplit(".", 1)[-1] in suffixes
        and part_of(name) not in skip
    ]
    if not names:
        raise ConfigError(f"field 'lora_target_modules': no trainable linear layer is named {suffixes}")
    return names


class GroundedEvalCallback(TrainerCallback):
    """Every ``every`` steps: greedy generation on the eval sets → ACC, GIoU, format rate, logged by TRL.
    Loading, generation and scoring are ``grit eval``'s own, so both report the same numbers."""

    def __init__(self, cfg: TrainConfig, family_name: str, processor):
        from grit.eval.samples import load_samples

        self.cfg = cfg
        self.family_name = family_name
        self.processor = processor
        self.trainer = None
        self.samples = load_samples(cfg.eval_data, cfg.image_root)[: cfg.eval_limit or None]

    def on_step_end(self, args, state, control, **kw):
        # Main process only: under DDP every rank would generate and write the same lines (ZeRO-3 users: run
        # evaluation afterwards with `grit eval` instead, the sharded model cannot generate on one rank).
        if not state.is_world_process_zero:
            return control
        if self.cfg.eval_every and state.global_step % self.cfg.eval_every == 0 and self.samples:
            metrics = self.run(kw["model"])
            if self.trainer is not None:
                # The base Trainer.log: GRPOTrainer's would fold this step's training metrics into the eval
                # line and clear them. Logging also resets should_log, and a rank that then skips the step's
                # training log leaves the others waiting in its loss all-gather (gloo aborts on the mismatch).
                should_log = control.should_log
                Trainer.log(self.trainer, metrics)
                control.should_log = should_log
            with open(Path(args.output_dir) / "grounded_eval.jsonl", "a") as f:
                f.write(json.dumps({"step": state.global_step, **metrics}) + "\n")
        return control

    @torch.no_grad()
    def run(self, model) -> dict[str, float]:
        from grit.eval.run import predict
        from grit.metrics import aggregate
        from grit.models.generate import Generator

        was_training = model.training
        model.eval()
        gen = Generator(model, self.processor, self.family_name)
        batches = predict(
            gen,
            self.samples,
            step=16,
            batch_size=16,
            max_new_tokens=self.cfg.eval_max_new_tokens,
            prompt_style=self.cfg.prompt,
        )
        rows = [r for batch, _ in batches for r in batch]
        if was_training:
            model.train()
        out = {}
        for ds, row in aggregate(rows).items():
            for k in ("acc", "giou", "format_rate", "mean_boxes"):
                if row.get(k) is not None:
                    out[f"eval_{ds}/{k}"] = float(row[k])
        return out


class CompactProgressCallback(ProgressCallback):
    """The progress bar with the total reward and the grounded-format terms as its postfix, instead of a
    40-key dict printed at every step (all of it still goes to ``log_history.json`` and ``report_to``)."""

    KEYS: ClassVar[dict[str, str]] = {
        "reward": "reward",
        "rewards/grounded_region_format/mean": "region",
        "rewards/answer_accuracy/mean": "acc",
        "completions/mean_length": "len",
    }

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs:
            shown = {short: f"{float(logs[k]):.3g}" for k, short in self.KEYS.items() if k in logs}
            if shown:
                self.training_bar.set_postfix(shown, refresh=False)


class CompletionSamplesCallback(TrainerCallback):
    """At every log, append a few of the latest completions with their per-reward scores to
    ``output_dir/completions.jsonl`` — the text behind the reward curves, readable without wandb."""

    def __init__(self, n: int):
        self.n = n
        self.trainer = None
        self.written_step = -1

    def on_log(self, args, state, control, logs=None, **kw):
        store = getattr(self.trainer, "_logs", None)  # TRL keeps the last generation batch here
        if not self.n or not store or not store.get("completion") or not state.is_world_process_zero:
            return control
        if state.global_step == self.written_step:  # a step's eval line, the end-of-training summary
            return control
        self.written_step = state.global_step
        completions = list(store["completion"])[: self.n]
        rewards = {name: list(v)[: self.n] for name, v in store["rewards"].items()}
        with open(Path(args.output_dir) / "completions.jsonl", "a") as f:
            for i, c in enumerate(completions):
                text = c if isinstance(c, str) else (c[0].get("content") if c else "")
                row = {
                    "step": state.global_step,
                    "completion": text,
                    "rewards": {k: v[i] for k, v in rewards.items() if i < len(v)},
                }
                f.write(json.dumps(row, default=str) + "\n")
        return control


@contextmanager
def merged_lora(trainer: GRPOTrainer) -> Iterator[None]:
    """Fold a LoRA policy's adapters into its base weights for the duration of the block.

    TRL samples from the PEFT model as it is: every adapted layer then runs its base matmul, two LoRA matmuls
    and (the model being in train mode) LoRA dropout, token after token. Merged, the same policy costs one
    matmul per layer and samples without dropout (measured: BENCHMARKS.md, "GRPO-GR step time with LoRA").
    Only for float32 base weights: unmerging subtracts what merging added, which float32 undoes to ~1e-7 of a
    weight, while bfloat16 would round every weight again at every step. Skipped too under DeepSpeed and
    FSDP, whose sharded parameters cannot be merged in place, and with vLLM, which samples from its own copy
    of the weights."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if (
        not hasattr(model, "merge_adapter")
        or trainer.use_vllm
        or trainer.is_deepspeed_enabled
        or trainer.is_fsdp_enabled
        or any(p.dtype != torch.float32 for n, p in model.named_parameters() if "base_layer" in n)
    ):
        yield
        return
    model.merge_adapter()
    try:
        yield
    finally:
        model.unmerge_adapter()


class GritGRPOTrainer(GRPOTrainer):
    """TRL's trainer, sampling from the merged LoRA policy (see :func:`merged_lora`), on one CPU thread when
    the model is small (see :func:`grit.models.generate.decode_threads`), through grit's lean decode loop where
    it draws what ``generate`` draws (see :mod:`grit.models.decode`); TRL's sampling otherwise.

    ``_generate_single_turn`` is TRL's (1.x) private sampling step; should a TRL release rename it, this
    override goes unused and sampling is simply TRL's own, unmerged."""

    def _generate_single_turn(self, *args, **kwargs):
        policy = self.accelerator.unwrap_model(self.model)
        with decode_threads(self.model), merged_lora(self), lean_generate(policy):
            return super()._generate_single_turn(*args, **kwargs)


def _latest_checkpoint(output_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None


def build_trainer(cfg: TrainConfig, extra_callbacks: list | None = None, reward_funcs: list | None = None):
    """Everything up to ``GRPOTrainer(...)``; returned unstarted so callers (demo, tests) can add callbacks.

    ``reward_funcs`` replaces the registry rewards named in the config (one per configured weight); benchmarks
    use it to compare against plain TRL with a constant reward."""
    from grit.models.loading import load_model

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, processor, family_name = load_model(
        cfg.model, cfg.family, dtype=cfg.dtype, min_pixels=cfg.min_pixels, max_pixels=cfg.max_pixels
    )
    model.train()
    freeze(model, cfg.freeze_vision, cfg.freeze_projector)
    peft_config = None
    if cfg.lora_r > 0:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=lora_targets(
                model, cfg.lora_target_modules, cfg.freeze_vision, cfg.freeze_projector
            ),
            task_type="CAUSAL_LM",
        )
    train_ds = build_dataset(cfg.train_data, cfg, family_name, processor)
    args = to_grpo_config(cfg)
    if len(train_ds) == 0:
        raise ConfigError("field 'train_data': the training set is empty")
    rewards = reward_funcs or [REGISTRY[name] for name in cfg.rewards]
    if len(rewards) != len(args.reward_weights):
        raise ConfigError(f"{len(rewards)} reward functions but {len(args.reward_weights)} reward weights")
    cb = GroundedEvalCallback(cfg, family_name, processor) if cfg.eval_every and cfg.eval_data else None
    samples = CompletionSamplesCallback(cfg.completion_samples) if cfg.completion_samples else None
    trainer = GritGRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=args,
        train_dataset=train_ds,
        processing_class=processor,
        peft_config=peft_config,
        callbacks=[c for c in [cb, samples, *(extra_callbacks or [])] if c is not None],
    )
    for c in (cb, samples):
        if c is not None:
            c.trainer = trainer
    if not cfg.print_logs and not args.disable_tqdm:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(CompactProgressCallback)
    return trainer


def train(cfg: TrainConfig, resume: bool = False, extra_callbacks: list | None = None) -> str:
    """Run GRPO-GR; with ``resume`` continue from the latest ``checkpoint-*`` in ``output_dir``.

    Returns the folder of the final model (saved with its processor so any grit command can load it).
    """
    trainer = build_trainer(cfg, extra_callbacks)
    ckpt = _latest_checkpoint(cfg.output_dir) if resume else None
    trainer.train(resume_from_checkpoint=ckpt)
    final = Path(cfg.output_dir) / "final"
    if cfg.lora_r > 0 and hasattr(trainer.model, "merge_and_unload"):
        # a merged model, not a bare adapter, so every grit command can load `final/` like any checkpoint
        trainer.model = trainer.model.merge_and_unload()
    trainer.save_model(str(final))  # by the main process only, like the checkpoints
    if trainer.args.should_save:  # every process runs this function; one writes the run's files
        trainer.processing_class.save_pretrained(str(final))
        (Path(cfg.output_dir) / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1))
    return str(final)
