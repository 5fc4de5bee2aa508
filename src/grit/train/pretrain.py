"""Pretrain the tiny shapes base model: supervised next-token training on the shapes mixture (CPU-friendly).

A plain PyTorch loop (nanoGPT style): the data is generated on the fly from a seeded stream, so a run is
reproducible and resumable step for step; one sample kind per batch keeps padding low; every
``ckpt_every`` steps a full training state is written atomically, and every ``eval_every`` steps the model
is evaluated on fixed held-out prompts and saved as a loadable model folder (``model/``).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from grit.boxes import union_iou
from grit.data.shapes.pretrain_mix import DEFAULT_MIX, SHAPES_WORDS, sample
from grit.data.shapes.world import STYLES, ShapesConfig, kinds, plural, random_scene
from grit.errors import InvalidValue
from grit.files import atomic_path, atomic_write
from grit.models import family_for_model_type, get_family

BOX_RE = re.compile(r'"bbox_2d": \[(-?\d+), (-?\d+), (-?\d+), (-?\d+)\]')


@dataclass
class PretrainConfig:
    out_dir: str = "checkpoints/shapes-base"
    family: str = "qwen2_5_vl"
    size: str = "small"
    seed: int = 0
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    total_steps: int = 40000
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 1000
    ckpt_every: int = 250
    n_eval: int = 100
    threads: int = 2
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    curriculum: bool = True
    world: dict = field(default_factory=dict)
    # Warm start: the weights (and tokenizer) of an earlier pretraining run folder or a model folder; the
    # optimiser and schedule start fresh. A second stage with a new mixture is a new run, not a resume.
    init_from: str | None = None
    # "train", or "frozen-init": the vision tower (encoder + merger) kept at its random initialisation, whose
    # visual tokens already tell shapes apart; training the tiny tower collapsed its shape features.
    vision: str = "train"
    # The chat template puts each user turn's text before its image, so the visual tokens can attend to the
    # question (Qwen families; see QWEN_CHAT_TEMPLATE_TEXT_FIRST). Saved with the model: every command then
    # prompts the model the way it was trained.
    image_after_text: bool = False
    # Share of samples whose user text is laid out with line breaks (pretrain_mix.with_line_breaks).
    newlines: float = 0.0
    # With init_from: deepen its language model to this many layers (see grow_depth); None keeps its depth.
    text_layers: int | None = None
    # Boxes written {"label": ..., "bbox_2d": [...]} (pretrain_mix.with_labels_first) instead of Qwen's order.
    label_first: bool = False


def world_at(cfg: ShapesConfig, progress: float, curriculum: bool) -> ShapesConfig:
    """Curriculum: few objects first (the lookup is learnt on easy scenes), the full world from 25% on."""
    if not curriculum or progress >= 0.25:
        return cfg
    return replace(cfg, max_objects=min(cfg.max_objects, 2 if progress < 0.1 else 3))


def lr_at(step: int, c: PretrainConfig) -> float:
    if step < c.warmup_steps:
        return c.lr * (step + 1) / c.warmup_steps
    t = min(1.0, (step - c.warmup_steps) / max(1, c.total_steps - c.warmup_steps))
    return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


class Encoder:
    """Chat-templated (image + user text) prompt ids from the processor, target ids from the tokenizer."""

    def __init__(self, processor):
        self.processor = processor
        self.tok = processor.tokenizer
        self.end = self.tok.convert_tokens_to_ids("<|im_end|>")

    def prompt_text(self, user_text: str, image: bool = True) -> str:
        content = [{"type": "image"}] if image else []
        msgs = [{"role": "user", "content": [*content, {"type": "text", "text": user_text}]}]
        return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)

    def batch(self, images, user_texts, targets=None):
        """``images`` is None for a batch of text-only samples."""
        texts = [self.prompt_text(u, images is not None) for u in user_texts]
        enc = self.processor(text=texts, images=images, return_tensors="pt", padding=True)
        if targets is None:
            return enc
        # Re-assemble per sample without padding: prompt ids (unpadded) + target ids + <|im_end|>.
        seqs, labels = [], []
        for i, t in enumerate(targets):
            p = enc["input_ids"][i][enc["attention_mask"][i].bool()].tolist()
            tgt = self.tok(t, add_special_tokens=False)["input_ids"] + [self.end]
            seqs.append(p + tgt)
            labels.append([-100] * len(p) + tgt)
        n = max(len(s) for s in seqs)
        pad = self.tok.pad_token_id
        ids = torch.full((len(seqs), n), pad, dtype=torch.long)
        lab = torch.full((len(seqs), n), -100, dtype=torch.long)
        att = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, (s, lab_i) in enumerate(zip(seqs, labels, strict=True)):
            ids[i, : len(s)] = torch.tensor(s)
            lab[i, : len(lab_i)] = torch.tensor(lab_i)
            att[i, : len(s)] = 1
        out = {"input_ids": ids, "attention_mask": att, "labels": lab}
        if images is not None:
            out |= {"pixel_values": enc["pixel_values"], "image_grid_thw": enc["image_grid_thw"]}
        if "mm_token_type_ids" in enc:
            mm = torch.zeros_like(ids)
            mm[ids == self.processor.image_token_id] = 1
            out["mm_token_type_ids"] = mm
        return out


def make_batch(c: PretrainConfig, step: int, world: ShapesConfig, enc: Encoder):
    rng = random.Random(f"{c.seed}-step-{step}")
    names = list(c.mix)
    kind = rng.choices(names, weights=[c.mix[k] for k in names])[0]
    wcfg = world_at(world, step / c.total_steps, c.curriculum)
    items = [sample(kind, rng, wcfg, c.newlines, c.label_first) for _ in range(c.batch_size)]
    images = None if items[0][0] is None else [s.render() for s, _, _ in items]
    return kind, enc.batch(images, [u for _, u, _ in items], [t for _, _, t in items])


# ------------------------------------------------------------------------------------------- evaluation


def eval_sets(world: ShapesConfig, n: int, seed: int = 12345):
    """Fixed held-out prompts: localisation (scenes with >= 1 target) and direct counting."""
    rng = random.Random(f"eval-{seed}")
    locate = []
    while len(locate) < n:
        scene = random_scene(rng, world)
        color, shape = rng.choice(kinds(world))
        objs = scene.matching(color, shape)
        if objs:
            locate.append((scene, f"Locate every {color} {plural(shape)}.", [o.box(world) for o in objs]))
    count = []
    for _ in range(n):
        scene, q = STYLES["count"](rng, world)
        count.append((scene, "Question: " + q.question + " Answer with a single word or number.", q.answer))
    return locate, count


@torch.no_grad()
def generate_texts(
    model, enc: Encoder, images, texts, max_new_tokens: int, batch_size: int = 50
) -> list[str]:
    outs = []
    for i in range(0, len(texts), batch_size):
        b = enc.batch(images[i : i + batch_size], texts[i : i + batch_size])
        g = model.generate(**b, max_new_tokens=max_new_tokens, do_sample=False)
        outs += enc.tok.batch_decode(g[:, b["input_ids"].shape[1] :], skip_special_tokens=True)
    return outs


def evaluate(model, enc: Encoder, world: ShapesConfig, n: int, seed: int = 12345) -> dict:
    """Localisation union IoU (greedy) and direct counting accuracy on fixed held-out prompts."""
    model.eval()
    locate, count = eval_sets(world, n, seed)
    preds = generate_texts(
        model, enc, [s.render() for s, _, _ in locate], [t for _, t, _ in locate], 24 * world.max_objects
    )
    ious = []
    for p, (_, _, gt) in zip(preds, locate, strict=False):
        boxes = [[int(v) for v in m.groups()] for m in BOX_RE.finditer(p)]
        ious.append(union_iou(boxes, gt))
    cpreds = generate_texts(model, enc, [s.render() for s, _, _ in count], [t for _, t, _ in count], 4)
    acc = sum(p.strip() == a for p, (_, _, a) in zip(cpreds, count, strict=False)) / len(count)
    model.train()
    return {"iou": sum(ious) / len(ious), "count_acc": acc}


# ---------------------------------------------------------------------------------------------- training


# Settings that define the run: resuming with other values would silently train a different model.
RUN_DEFINING = (
    "family",
    "size",
    "seed",
    "batch_size",
    "lr",
    "warmup_steps",
    "min_lr_ratio",
    "total_steps",
    "weight_decay",
    "mix",
    "curriculum",
    "world",
    "init_from",
    "vision",
    "image_after_text",
    "text_layers",
    "label_first",
)


def _swap_dir(new: Path, target: Path) -> None:
    """Replace ``target`` by ``new`` so that a kill at any point leaves a loadable folder (or its backup)."""
    import shutil

    old = target.with_name(target.name + ".old")
    if old.exists():  # left by a run killed mid-swap
        if target.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, target)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    if old.exists():
        shutil.rmtree(old)


def _truncate_log(path: Path, step: int) -> None:
    """Drop eval lines written after ``step`` (they belong to steps the resumed run will redo)."""
    if path.is_file():
        keep = [x for x in path.read_text().splitlines() if x.strip() and json.loads(x)["step"] <= step]
        atomic_write(path, "".join(x + "\n" for x in keep))


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _vision_modules(model) -> list[torch.nn.Module]:
    """The vision side (tower and projector) of a model, by its family's module names."""
    fam = get_family(family_for_model_type(model.config.model_type))
    inner = model.model
    mods = [getattr(inner, n) for n in (*fam.vision_modules, *fam.projector_modules) if hasattr(inner, n)]
    if not mods:
        raise ValueError(f"{type(model).__name__}: no vision tower found to freeze")
    return mods


def reinit_vision(model, seed: int) -> list[torch.nn.Module]:
    """Put the vision side of ``model`` back to its random initialisation under ``seed`` (the tower of step 0 of
    a run with this seed); returns its modules."""
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(seed)
    fresh = AutoModelForImageTextToText.from_config(model.config)
    mods = _vision_modules(model)
    for mine, init_mod in zip(mods, _vision_modules(fresh), strict=True):
        mine.load_state_dict(init_mod.state_dict())
    return mods


def _set_image_order(processor, c: PretrainConfig, init: Path) -> None:
    """Give the processor (and init/) the chat template of ``c.image_after_text``; Qwen families only."""
    from grit.models.family import QWEN_CHAT_TEMPLATE, QWEN_CHAT_TEMPLATE_TEXT_FIRST

    want = QWEN_CHAT_TEMPLATE_TEXT_FIRST if c.image_after_text else QWEN_CHAT_TEMPLATE
    if processor.chat_template == want:
        return
    if processor.chat_template not in (QWEN_CHAT_TEMPLATE, QWEN_CHAT_TEMPLATE_TEXT_FIRST):
        if not c.image_after_text:
            return  # another family's own template: left as it is
        raise InvalidValue(f"image_after_text: supported for the Qwen families' template, not {c.family!r}")
    processor.chat_template = want
    processor.save_pretrained(init)


def _start_from(src: Path, init: Path) -> None:
    """Copy the untrained config + tokenizer/processor of ``src`` (a run folder or a model folder) to ``init``."""
    import shutil

    origin = src / "init" if (src / "init" / "config.json").is_file() else src
    if not (origin / "config.json").is_file():
        raise FileNotFoundError(
            f"--init-from {src}: neither a pretraining run folder (init/) nor a model folder"
        )
    # not the weights: init/ is the run's untrained description (the weights load through init_weights)
    shutil.copytree(origin, init, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.safetensors*"))


LAYERS_PREFIX = "model.language_model.layers."
# The projections that write a decoder layer's attention and MLP results into the residual stream.
OUTPUT_PROJECTIONS = ("self_attn.o_proj.", "mlp.down_proj.")


def new_layer_slots(old: int, new: int) -> list[int]:
    """For each of the ``new`` layers, the old layer it copies: the copies of a layer sit right after it, and
    the ``new - old`` copies are spread evenly through the depth."""
    if new < old:
        raise InvalidValue(f"text_layers={new}: the model already has {old} layers (it can only grow)")
    n = new - old
    return [i for i in range(old) for _ in range(1 + (i + 1) * n // old - i * n // old)]


def grow_depth(state: dict, old: int, new: int) -> dict:
    """The weights of a model deepened from ``old`` to ``new`` decoder layers by block expansion (LLaMA Pro):
    each new layer is a copy of the layer before it with its output projections zeroed, so it adds nothing to
    the residual stream and the deeper model computes exactly what the shallower one did. Training then
    gives the new layers work; their attention and MLP start from a trained layer's, not from noise."""
    slots = new_layer_slots(old, new)
    grown = {k: v for k, v in state.items() if not k.startswith(LAYERS_PREFIX)}
    zeroed = 0
    for target, source in enumerate(slots):
        copy = target > 0 and slots[target - 1] == source  # the first of a layer's slots is the layer itself
        prefix = f"{LAYERS_PREFIX}{source}."
        for key, value in state.items():
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix) :]
            value = value.clone()
            if copy and rest.startswith(OUTPUT_PROJECTIONS):
                value.zero_()
                zeroed += 1
            grown[f"{LAYERS_PREFIX}{target}.{rest}"] = value
    if new > old and zeroed == 0:
        raise InvalidValue(f"grow_depth: no {' or '.join(OUTPUT_PROJECTIONS)} weights under {LAYERS_PREFIX}")
    return grown


def _n_layers(state: dict) -> int:
    return 1 + max(int(k[len(LAYERS_PREFIX) :].split(".")[0]) for k in state if k.startswith(LAYERS_PREFIX))


def _deepen_config(init: Path, layers: int) -> None:
    """Set the language model's depth in ``init``/config.json to ``layers``."""
    path = init / "config.json"
    cfg = json.loads(path.read_text())
    text = cfg.get("text_config", cfg)
    slots = new_layer_slots(text["num_hidden_layers"], layers)  # refuses shrinking before anything is written
    text["num_hidden_layers"] = layers
    if "layer_types" in text:
        text["layer_types"] = [text["layer_types"][i] for i in slots]
    atomic_write(path, json.dumps(cfg, indent=2))


def init_weights(src: Path) -> dict:
    """The weights of ``src``: a run folder's state.pt (its latest step) or a model folder's safetensors."""
    if (src / "state.pt").is_file():
        return torch.load(src / "state.pt", weights_only=False)["model"]
    if not (src / "config.json").is_file():
        raise FileNotFoundError(f"--init-from {src}: no state.pt and no model config.json")
    from transformers import AutoModelForImageTextToText

    # from_pretrained, not the raw safetensors: saved key names differ from the module's (checkpoint mapping)
    return AutoModelForImageTextToText.from_pretrained(src).state_dict()


def _sigterm_as_interrupt():
    """Make SIGTERM (``kill``, a job scheduler's stop) raise KeyboardInterrupt, as Ctrl-C does.

    A job started with ``&`` ignores SIGINT, so without this a plain ``kill`` would lose every step since the
    last checkpoint. Returns the previous handler, or None where handlers cannot be set (not the main
    thread)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def pretrain(
    c: PretrainConfig,
    resume: bool = True,
    max_minutes: float | None = None,
    stop_at_step: int | None = None,
    log=print,
) -> Path:
    """Train (or resume) until ``total_steps``, ``max_minutes`` or ``stop_at_step``; returns the output folder.

    The data of step ``s`` depends only on (seed, s), so an interrupted and resumed run sees the same batches
    as an uninterrupted one."""
    from grit.models.tiny import build_tiny

    if c.vision not in ("train", "frozen-init"):
        raise InvalidValue(f"vision={c.vision!r}: expected 'train' or 'frozen-init'")
    torch.set_num_threads(c.threads)
    out = Path(c.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = ShapesConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.world.items()})
    init = out / "init"  # the untrained config + tokenizer/processor: a resumed run must not rebuild them
    if c.text_layers is not None and not c.init_from:
        raise InvalidValue("text_layers: deepens the model of init_from; a new run sets its depth by size")
    if c.init_from and not (init / "config.json").is_file():
        _start_from(Path(c.init_from), init)
        if c.text_layers is not None:
            _deepen_config(init, c.text_layers)
    if (init / "config.json").is_file():
        from transformers import AutoConfig, AutoModelForImageTextToText

        from grit.models.loading import load_processor

        processor = load_processor(init, c.family)
        torch.manual_seed(c.seed)
        model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(init))
    else:
        model, processor = build_tiny(
            c.family, size=c.size, number_tokens="whole", extra_words=SHAPES_WORDS, seed=c.seed
        )
        model.config.save_pretrained(init)
        model.generation_config.save_pretrained(init)
        processor.save_pretrained(init)
    state_path = out / "state.pt"
    resuming = resume and state_path.exists()
    if not resuming:  # a resumed run keeps init/ as it is (its settings are checked below)
        _set_image_order(processor, c, init)
    enc = Encoder(processor)
    if c.init_from and not resuming:
        weights = init_weights(Path(c.init_from))
        if c.text_layers is not None:
            old = _n_layers(weights)
            weights = grow_depth(weights, old, c.text_layers)
            log(f"language model deepened from {old} to {c.text_layers} layers")
        missing, unexpected = model.load_state_dict(weights, strict=False)
        missing = [k for k in missing if not k.startswith("lm_head")]  # tied to the embeddings
        if missing or unexpected:
            raise InvalidValue(f"--init-from {c.init_from}: missing {missing[:3]}, unexpected {unexpected[:3]}")
        log(f"weights from {c.init_from}")
    if c.vision == "frozen-init":
        for module in reinit_vision(model, c.seed):
            module.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=c.lr, betas=(0.9, 0.98), weight_decay=c.weight_decay)
    step, train_seconds = 0, 0.0
    if resuming:
        st = torch.load(state_path, weights_only=False)
        want = st["model"]["model.language_model.embed_tokens.weight"].shape[0]
        if want != model.config.text_config.vocab_size:
            raise RuntimeError(
                f"{state_path}: vocabulary of {want} tokens, but the tokenizer has "
                f"{model.config.text_config.vocab_size}; restore {init} from the run that wrote the state"
            )
        saved = st.get("config")
        defaults = asdict(PretrainConfig())  # a setting added later reads as its default in older states
        changed = sorted(
            k for k in RUN_DEFINING if saved is not None and saved.get(k, defaults[k]) != asdict(c).get(k)
        )
        if changed:
            raise InvalidValue(
                f"{state_path}: the run was started with different {', '.join(changed)} "
                f"({', '.join(f'{k}={saved.get(k)!r}' for k in changed)}); resume with the same settings "
                "or start a new --out folder"
            )
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        step, train_seconds = st["step"], st["train_seconds"]
        _truncate_log(out / "log.jsonl", step)  # evals after the saved state will run again
        log(f"resumed from {state_path} at step {step} ({train_seconds / 60:.1f} train-min)")
    (out / "pretrain_config.json").write_text(json.dumps(asdict(c), indent=2))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {c.family}/{c.size}: {n_params / 1e6:.2f}M parameters; steps {step}->{c.total_steps}")

    def save_state() -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "train_seconds": train_seconds,
            "config": asdict(c),
        }
        _atomic_torch_save(state, state_path)

    model.train()
    t_start = time.time()
    losses: list[float] = []
    previous = _sigterm_as_interrupt()
    try:
        while step < c.total_steps:
            if max_minutes is not None and time.time() - t_start > max_minutes * 60:
                break
            if stop_at_step is not None and step >= stop_at_step:
                break
            t0 = time.time()
            _kind, batch = make_batch(c, step, world, enc)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, c)
            loss = model(**batch).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
            opt.step()
            step += 1
            train_seconds += time.time() - t0
            losses.append(loss.item())
            if step % 50 == 0:
                log(
                    f"step {step} loss {sum(losses) / len(losses):.4f} lr {lr_at(step, c):.2e} "
                    f"{train_seconds / step:.3f}s/step ({train_seconds / 60:.1f} min)"
                )
                losses = []
            if step % c.eval_every == 0 or step == c.total_steps:
                m = evaluate(model, enc, world, c.n_eval)
                rec = {"step": step, "train_minutes": round(train_seconds / 60, 2), **m}
                with open(out / "log.jsonl", "a") as f:
                    f.write(json.dumps(rec) + "\n")
                log(f"eval {rec}")
                tmp = out / "model.tmp"
                model.save_pretrained(tmp)
                processor.save_pretrained(tmp)
                _swap_dir(tmp, out / "model")
            if step % c.ckpt_every == 0:
                save_state()
    except KeyboardInterrupt:  # Ctrl-C or kill: keep every finished step, then stop as asked
        save_state()
        log(f"interrupted: state saved at step {step}")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    save_state()  # the last step, or wherever max_minutes / stop_at_step stopped the run
    return out
