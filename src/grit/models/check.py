"""``grit models check``: does a model folder, a prompt and the rewards fit together, before a GPU job?

It loads the folder's config, tokenizer, processor and chat template the way ``grit train`` / ``eval`` do
(no weights unless asked) and checks, one verdict per line:

* the family and its box frame, and the processor's family and geometry against the model's vision tower;
* the image token: in the tokenizer, the one the processor expands, the one config.json names;
* the chat template the processor (and so TRL) renders: it must place the image;
* the exact prompt for a sample GRIT question, and the visual tokens for a few image sizes (the processor's
  expansion against the image grid: "image features and tokens do not match" is caught here);
* a known-good grounded completion, tokenised and decoded as generation and TRL decode it: tags and boxes
  intact, every reward scoring it as it scores the text, and its box landing on the right pixels of the
  original image after the processor's real resize;
* with a training config: family, frame, prompt style against the rewards, pixel budget and completion length.

Each finding is ``ok``, ``warn`` (works, but not what GRIT did) or ``fail`` (a run would go wrong).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAMPLE_QUESTION = "How many red squares are there?"
SAMPLE_ANSWER = "2"
# (width, height): landscape, portrait, a large photo and a tiny crop.
IMAGE_SIZES = ((640, 480), (480, 640), (1920, 1080), (40, 30))
PAPER_VISUAL_TOKENS = 256  # GRIT's Qwen2.5-VL budget: max_pixels 200704 = 256 * 28 * 28

# The stock transformers processor each family's folder must name (grit's image-only classes derive from them).
PROCESSOR_CLASSES = {
    "qwen2_vl": "Qwen2VLProcessor",
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "qwen3_vl": "Qwen3VLProcessor",
    "internvl": "InternVLProcessor",
}
GRIT_TAGS = ("<think>", "</think>", "<rethink>", "</rethink>", "<answer>", "</answer>")


@dataclass(frozen=True)
class Finding:
    item: str
    verdict: str  # "ok" | "warn" | "fail"
    detail: str


@dataclass
class CheckReport:
    model: str
    family: str | None = None
    findings: list[Finding] = field(default_factory=list)
    prompt: str | None = None  # the rendered prompt of the sample question (before image expansion)

    def add(self, item: str, verdict: str, detail: str) -> None:
        self.findings.append(Finding(item, verdict, " ".join(detail.split())))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "fail"]


class _Stop(Exception):
    """A check failed that every later check needs (the finding is already recorded)."""


# ------------------------------------------------------------------------------------------------ pieces


def stock_class_name(obj: Any) -> str:
    """The transformers class an object is (grit's image-only processors count as their stock base)."""
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("transformers."):
            return cls.__name__
    return type(obj).__name__


def declared_processor(model: Path) -> tuple[str, str] | None:
    """``(class name, file)`` of the processor a folder names (what AutoProcessor and vLLM load), if any."""
    import json

    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        path = model / name
        try:
            value = (
                json.loads(path.read_text(encoding="utf-8")).get("processor_class")
                if path.is_file()
                else None
            )
        except (json.JSONDecodeError, AttributeError):
            value = None
        if isinstance(value, str):
            return value, name
    return None


def text_config(config: dict) -> dict:
    return config.get("text_config") or config.get("llm_config") or config


def image_token_id(config: dict) -> int | None:
    value = config.get("image_token_id", config.get("image_token_index"))
    return value if isinstance(value, int) else None


def visual_tokens(processor, enc) -> int:
    """Visual tokens the model computes for one processed image (what the placeholders must number)."""
    if "image_grid_thw" in enc:
        merge = getattr(processor.image_processor, "merge_size", 1) ** 2
        return int(enc["image_grid_thw"][0].prod()) // merge
    tiles = int(enc["pixel_values"].shape[0])
    return tiles * int(processor.image_seq_length)


def resized_size(processor, enc) -> tuple[int, int] | None:
    """(width, height) of the image as the Qwen-style processor resized it, from its patch grid."""
    if "image_grid_thw" not in enc:
        return None
    _, h, w = (int(v) for v in enc["image_grid_thw"][0])
    patch = processor.image_processor.patch_size
    return w * patch, h * patch


def frame_column(frame) -> dict:
    return {
        "kind": frame.kind,
        "image_width": frame.image_width,
        "image_height": frame.image_height,
        "extent_x": frame.extent_x,
        "extent_y": frame.extent_y,
    }


def sample_boxes(width: int, height: int):
    """Two boxes on the original image, in pixels (the two 'red squares' of the sample question)."""
    from grit.boxes import Box

    return [
        Box(0.15 * width, 0.25 * height, 0.35 * width, 0.55 * height, "red square"),
        Box(0.6 * width, 0.4 * height, 0.85 * width, 0.8 * height, "red square"),
    ]


def known_good_completion(family, frame, width: int, height: int, native: bool = False) -> str:
    """A grounded chain a GRIT model of ``family`` would write for the sample question, boxes in its frame.

    ``native`` writes Qwen2-VL's own ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` boxes instead."""
    from grit.chain import render_chain

    boxes = [frame.from_pixels(b) for b in sample_boxes(width, height)]
    if native:
        refs = [
            "<|object_ref_start|>red square<|object_ref_end|><|box_start|>"
            f"({round(b.x1)},{round(b.y1)}),({round(b.x2)},{round(b.y2)})<|box_end|>"
            for b in boxes
        ]
        think = f"<think> There are two red squares: {refs[0]} and {refs[1]}. </think>"
        return f"{think}\n<rethink> I see two of them. </rethink>\n<answer> {SAMPLE_ANSWER} </answer>"
    parts = ["There are two red squares:", boxes[0], "and", boxes[1]]
    return render_chain(
        parts, "Both boxes hold a red square, so there are two.", SAMPLE_ANSWER, family.box_style
    )


def reward_values(text: str, frame, width: int, height: int, names: list[str]) -> dict[str, float]:
    from grit.rewards import REGISTRY

    kwargs = {
        "answer": [SAMPLE_ANSWER],
        "question": [SAMPLE_QUESTION],
        "dataset": ["tallyqa"],
        "width": [width],
        "height": [height],
        "frame": [frame_column(frame)],
    }
    return {name: float(REGISTRY[name]([text], **kwargs)[0]) for name in names}


def prompt_tags(text: str) -> set[str]:
    return {t for t in ("<think>", "<rethink>", "<answer>") if t in text}


# ------------------------------------------------------------------------------------------------ checks


def _family(report: CheckReport, model: Path, cfg) -> Any:
    from grit.models import detect_family, get_family

    try:
        name = detect_family(model)
    except (FileNotFoundError, ValueError) as e:
        report.add("family", "fail", str(e))
        raise _Stop from None
    fam = get_family(name)
    report.family = name
    if name == "generic":
        report.add(
            "family", "warn", "unknown model_type: the generic family; its frame comes from GRIT_FRAME"
        )
    else:
        report.add("family", "ok", f"{name} ({fam.model_class})")
    report.add("frame", "ok", f"{fam.frame}: boxes in {fam.describe_frame()}")
    if cfg is not None and cfg.family and cfg.family != name:
        other = get_family(cfg.family)
        same = other.frame == fam.frame
        report.add(
            "config family",
            "fail",
            f"config says family {cfg.family} (boxes in {other.frame}), the folder is {name} (boxes in {fam.frame})"
            + ("" if same else ": every box would be read in the wrong frame"),
        )
    return fam


def _processor(report: CheckReport, model: Path, fam, config: dict, cfg):
    from grit.models.loading import ModelLoadError, load_processor, set_pixel_budget

    try:
        processor = load_processor(model, fam.name)
    except ModelLoadError as e:
        report.add("processor", "fail", str(e))
        raise _Stop from None
    want = PROCESSOR_CLASSES.get(fam.name)
    declared = declared_processor(model)
    name, source = declared or (stock_class_name(processor), "loaded")
    if want and name != want:
        report.add(
            "processor",
            "fail",
            f"{name} ({source}) is another family's processor; a {fam.name} model needs {want}",
        )
    else:
        report.add("processor", "ok", f"{name} ({source})")
    _geometry(report, processor, config)
    if cfg is not None and (cfg.min_pixels or cfg.max_pixels):
        try:
            set_pixel_budget(processor, cfg.min_pixels, cfg.max_pixels)
        except ModelLoadError as e:
            report.add("config pixel budget", "fail", str(e))
    return processor


def _geometry(report: CheckReport, processor, config: dict) -> None:
    """The image processor's patch units against the vision tower's (else features and tokens do not match)."""
    ip, vision = getattr(processor, "image_processor", None), config.get("vision_config") or {}
    patch, merge = getattr(ip, "patch_size", None), getattr(ip, "merge_size", None)
    if isinstance(patch, int) and isinstance(merge, int):
        v_patch, v_merge = vision.get("patch_size"), vision.get("spatial_merge_size")
        if (v_patch, v_merge) != (patch, merge):
            report.add(
                "image geometry",
                "fail",
                f"the image processor cuts {patch}-pixel patches merged {merge}x{merge}; the vision tower expects "
                f"{v_patch}-pixel patches merged {v_merge}x{v_merge}",
            )
        else:
            report.add(
                "image geometry",
                "ok",
                f"{patch}-pixel patches merged {merge}x{merge} ({patch * merge} px per token)",
            )
        return
    size = getattr(ip, "size", None)
    tile = getattr(size, "height", None) or (size.get("height") if isinstance(size, dict) else None)
    want = vision.get("image_size")
    want = want[0] if isinstance(want, list) else want
    if tile and want and tile != want:
        report.add(
            "image geometry",
            "fail",
            f"the image processor makes {tile}-pixel tiles; the vision tower expects {want}",
        )
    elif tile:
        report.add(
            "image geometry",
            "ok",
            f"{tile}-pixel tiles, {getattr(processor, 'image_seq_length', '?')} tokens each",
        )


def _image_token(report: CheckReport, processor, config: dict) -> int | None:
    tok = processor.tokenizer
    cid = image_token_id(config)
    placeholder = getattr(processor, "image_token", None)
    pid = tok.convert_tokens_to_ids(placeholder) if placeholder else None
    n = len(tok)
    if cid is None:
        report.add("image token", "fail", "config.json names no image_token_id")
        return pid
    if not 0 <= cid < n or tok.convert_ids_to_tokens(cid) is None:
        report.add(
            "image token", "fail", f"config.json image_token_id {cid} is not in the tokenizer ({n} tokens)"
        )
        return None
    if pid is not None and pid != cid:
        report.add(
            "image token",
            "fail",
            f"the processor expands {placeholder} (id {pid}) but config.json image_token_id {cid} is "
            f"{tok.convert_ids_to_tokens(cid)}: image features and tokens would not match",
        )
        return None
    report.add(
        "image token",
        "ok",
        f"{tok.convert_ids_to_tokens(cid)} = id {cid} (config, tokenizer and processor agree)",
    )
    _vocabulary(report, tok, text_config(config).get("vocab_size"), cid)
    return cid


def _vocabulary(report: CheckReport, tok, vocab: int | None, image_id: int) -> None:
    """Tokens without an embedding row: fatal for the ones every GRIT prompt or completion uses."""
    n = len(tok)
    if not isinstance(vocab, int) or vocab >= n:
        return
    used = {image_id, tok.eos_token_id, tok.pad_token_id}
    used.update(i for t in GRIT_TAGS for i in tok.encode(t, add_special_tokens=False))
    fatal = sorted(i for i in used if isinstance(i, int) and i >= vocab)
    beyond = ", ".join(f"{tok.convert_ids_to_tokens(i)} ({i})" for i in range(vocab, min(n, vocab + 5)))
    if fatal:
        report.add(
            "vocabulary", "fail", f"the model embeds {vocab} tokens; ids {fatal} that GRIT uses are beyond"
        )
    else:
        report.add(
            "vocabulary",
            "warn",
            f"the model embeds {vocab} tokens, the tokenizer has {n}: {beyond} "
            "cannot be fed to the model (GRIT's prompts and tags do not use them)",
        )


def _template(report: CheckReport, processor, fam, prompt_text: str) -> str:
    from grit.models.generate import chat_prompt

    placeholder = getattr(processor, "image_token", None) or "<image>"
    if not getattr(processor, "chat_template", None):
        tok_template = getattr(processor.tokenizer, "chat_template", None)
        why = (
            "only tokenizer_config.json has one, and it is text-only"
            if isinstance(tok_template, str) and placeholder not in tok_template
            else "none in the folder"
        )
        report.add(
            "chat template",
            "fail",
            f"text-only: the processor has no chat template ({why}; "
            "chat_template.json or chat_template.jinja is missing)",
        )
        raise _Stop
    try:
        rendered = chat_prompt(processor, prompt_text)
    except Exception as e:  # a text-only template fails on list content in several ways
        report.add(
            "chat template", "fail", f"text-only: it cannot render an image message ({type(e).__name__}: {e})"
        )
        raise _Stop from None
    if placeholder not in rendered:
        report.add(
            "chat template", "fail", f"text-only: the rendered prompt has no image placeholder {placeholder}"
        )
        raise _Stop
    tok_template = getattr(processor.tokenizer, "chat_template", None)
    if (
        isinstance(tok_template, str)
        and tok_template != processor.chat_template
        and "image" not in tok_template
    ):
        report.add(
            "chat template",
            "warn",
            "the processor's template places the image (grit and TRL render with it), but tokenizer_config.json "
            "carries a text-only one: tools that render with the tokenizer would drop the image",
        )
    else:
        report.add("chat template", "ok", f"places the image as {placeholder}")
    return rendered


def _tokens_and_frames(report: CheckReport, processor, fam, rendered: str, image_id: int | None) -> None:
    """Per image size: placeholders after expansion vs the image grid, and the frame vs the real resize."""
    from PIL import Image

    from grit.models.generate import frame_for_image, pixel_budget

    counts, frame_problems, mismatched = [], [], []
    for w, h in IMAGE_SIZES:
        enc = processor(text=[rendered], images=[Image.new("RGB", (w, h), "white")], return_tensors="pt")
        need = visual_tokens(processor, enc)
        got = int((enc["input_ids"][0] == image_id).sum()) if image_id is not None else need
        counts.append(f"{w}x{h}: {need}")
        if got != need:
            mismatched.append(f"{w}x{h}: {got} placeholders for {need} image features")
        frame = frame_for_image(fam, processor, w, h)
        resized = resized_size(processor, enc)
        if fam.frame == "resized" and resized is not None and (frame.extent_x, frame.extent_y) != resized:
            frame_problems.append(
                f"{w}x{h} is resized to {resized[0]}x{resized[1]} but its frame is {frame.extent_x:g}x{frame.extent_y:g}"
            )
    lo, hi = pixel_budget(processor)
    budget = f" (pixel budget {lo}-{hi})" if lo and hi else ""
    if mismatched:
        report.add("visual tokens", "fail", "; ".join(mismatched))
    elif fam.frame == "resized" and hi and hi > PAPER_VISUAL_TOKENS * fam.image_factor**2 * 1.01:
        report.add(
            "visual tokens",
            "warn",
            f"{', '.join(counts)}{budget}: above GRIT's {PAPER_VISUAL_TOKENS} "
            f"(set max_pixels: {PAPER_VISUAL_TOKENS * fam.image_factor**2} in the training config)",
        )
    else:
        report.add("visual tokens", "ok", f"{', '.join(counts)}{budget}")
    if frame_problems:
        report.add("frame vs resize", "fail", "; ".join(frame_problems))


def _tags(report: CheckReport, tok) -> None:
    """Each GRIT tag must survive ``skip_special_tokens`` (a special-token tag vanishes from TRL's text)."""
    special = set(tok.all_special_tokens)
    lost = [t for t in GRIT_TAGS if t in special]
    think = tok.encode("<think>", add_special_tokens=False)
    how = f"<think> is {len(think)} token{'s' if len(think) > 1 else ''}"
    if len(think) == 1:
        how += f" (id {think[0]})"
    if lost:
        report.add("tags", "fail", f"{', '.join(lost)} are special tokens: decoding drops them ({how})")
    else:
        report.add("tags", "ok", f"{how}; no GRIT tag is a special token")


def _round_trip(report: CheckReport, processor, fam, rewards: list[str]) -> None:
    """A known-good chain through the tokenizer and back: same text, same rewards, boxes on the right pixels."""
    from grit.chain import parse
    from grit.models.generate import frame_for_image

    tok = processor.tokenizer
    w, h = IMAGE_SIZES[0]
    frame = frame_for_image(fam, processor, w, h)
    variants = [("completion", known_good_completion(fam, frame, w, h))]
    if fam.name == "qwen2_vl":
        variants.append(("native boxes", known_good_completion(fam, frame, w, h, native=True)))
    for item, text in variants:
        ids = tok.encode(text, add_special_tokens=False)
        decoded = tok.decode([*ids, tok.convert_tokens_to_ids(fam.eos_token)], skip_special_tokens=True)
        if decoded != text:
            report.add(
                item, "fail", f"decoding changes the text: {text[:60]!r}... became {decoded[:60]!r}..."
            )
            continue
        before = reward_values(text, frame, w, h, rewards)
        after = reward_values(decoded, frame, w, h, rewards)
        chain = parse(decoded, frame)
        pixels = chain.pixel_boxes()
        truth = sample_boxes(w, h)
        # a box written in integer frame units lands within one unit (in original pixels) of where it was drawn
        tol = max(w / frame.extent_x, h / frame.extent_y) + 1e-6
        off = [
            max(abs(a - b) for a, b in zip(p.xyxy, t.xyxy, strict=True))
            for p, t in zip(pixels, truth, strict=False)
        ]
        if before != after:
            changed = [k for k in before if before[k] != after[k]]
            report.add(item, "fail", f"rewards change after decoding: {', '.join(changed)}")
        elif len(pixels) != len(truth) or max(off) > tol:
            report.add(
                item, "fail", f"boxes land {off} pixels from where they were drawn (allowed {tol:.2f})"
            )
        elif not chain.strict_format or any(v <= 0 for k, v in before.items() if k != "repetition"):
            zero = [k for k, v in before.items() if v <= 0]
            report.add(item, "fail", f"a known-good chain scores 0 on {', '.join(zero) or 'the format'}")
        else:
            total = sum(before.values())
            report.add(
                item,
                "ok",
                f"{len(ids)} tokens decode to the same text; {len(pixels)} boxes within {max(off):.2f} px of the "
                f"original on {w}x{h}; {len(rewards)} rewards unchanged (total {total:.2f})",
            )


def _config_prompt(report: CheckReport, fam, cfg) -> str:
    """The user text of the configured prompt style, and whether it asks for the tags the rewards read."""
    from grit.models.generate import user_text
    from grit.rewards import TAGS_READ

    style = cfg.prompt if cfg is not None else "grit"
    text = user_text(SAMPLE_QUESTION, fam, style)
    if cfg is None:
        return text
    asked = prompt_tags(text)
    blind = {r: [t for t in TAGS_READ[r] if t not in asked] for r in cfg.rewards}
    blind = {r: tags for r, tags in blind.items() if tags}
    if blind:
        tags = sorted({t for ts in blind.values() for t in ts})
        report.add(
            "config prompt",
            "fail",
            f"prompt {style!r} never asks for {', '.join(tags)}, which rewards {', '.join(blind)} score: they would "
            "give 0 to every completion",
        )
    elif (fam.box_style == "internvl" and "bbox_2d" in text) or (fam.box_style == "qwen" and "<box>" in text):
        report.add("config prompt", "warn", f"prompt {style!r} asks for another family's box syntax")
    else:
        report.add("config prompt", "ok", f"{style!r} asks for {', '.join(sorted(asked)) or 'no tags'}")
    return text


def _config_length(report: CheckReport, processor, config: dict, cfg, rendered: str) -> None:
    from PIL import Image

    w, h = IMAGE_SIZES[2]  # the largest image
    enc = processor(text=[rendered], images=[Image.new("RGB", (w, h))], return_tensors="pt")
    prompt_len = int(enc["input_ids"].shape[1])
    completion = int(cfg.grpo.get("max_completion_length", 256))
    limits = {"max_position_embeddings": text_config(config).get("max_position_embeddings")}
    tok_max = getattr(processor.tokenizer, "model_max_length", None)
    if isinstance(tok_max, int) and tok_max < 10**9:
        limits["tokenizer model_max_length"] = tok_max
    need = prompt_len + completion
    over = {k: v for k, v in limits.items() if isinstance(v, int) and v < need}
    if over:
        k, v = next(iter(over.items()))
        report.add(
            "config length",
            "fail",
            f"a {w}x{h} prompt ({prompt_len} tokens) + {completion} completion tokens = {need} > {k} {v}",
        )
    else:
        report.add(
            "config length",
            "ok",
            f"{prompt_len} prompt tokens ({w}x{h} image) + {completion} completion tokens = {need}",
        )


def _weights(report: CheckReport, model: Path, fam, rendered: str) -> None:
    """Load the weights and run one forward pass on the sample (the model's own image-token check)."""
    import torch
    from PIL import Image

    from grit.models.loading import ModelLoadError, load_model

    try:
        m, processor, _ = load_model(model, fam.name, device="cpu")
        enc = processor(text=[rendered], images=[Image.new("RGB", IMAGE_SIZES[0])], return_tensors="pt")
        with torch.inference_mode():
            out = m(**enc)
    except (ModelLoadError, ValueError, RuntimeError) as e:
        report.add("weights", "fail", f"{type(e).__name__}: {e}")
        return
    n = sum(p.numel() for p in m.parameters())
    report.add(
        "weights", "ok", f"{n / 1e6:.1f}M parameters; one forward pass, logits {tuple(out.logits.shape)}"
    )


def check_model(
    model: str | Path, config: str | Path | None = None, *, load_weights: bool = False
) -> CheckReport:
    """Check ``model`` (and, given, a training ``config``); never raises on a bad folder, reports instead."""
    import json

    from grit.rewards import GRPO_GR_REWARDS
    from grit.train.config import load_config

    model = Path(model)
    report = CheckReport(str(model))
    cfg = None
    if config is not None:
        cfg = load_config(config)  # a bad config is a user error of its own (file, field)
        if cfg.model and Path(cfg.model) != model and cfg.model != str(model):
            report.add("config model", "warn", f"the config trains {cfg.model}; checking {model}")
    try:
        if not (model / "config.json").is_file():
            report.add("folder", "fail", f"{model}: no config.json (not a model folder)")
            raise _Stop
        try:
            raw = json.loads((model / "config.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            report.add("folder", "fail", f"{model / 'config.json'}: line {e.lineno}: {e.msg}")
            raise _Stop from None
        fam = _family(report, model, cfg)
        processor = _processor(report, model, fam, raw, cfg)
        image_id = _image_token(report, processor, raw)
        text = _config_prompt(report, fam, cfg)
        rendered = _template(report, processor, fam, text)
        report.prompt = rendered
        _tokens_and_frames(report, processor, fam, rendered, image_id)
        _tags(report, processor.tokenizer)
        _round_trip(report, processor, fam, list(cfg.rewards) if cfg is not None else list(GRPO_GR_REWARDS))
        if cfg is not None:
            _config_length(report, processor, raw, cfg, rendered)
        if load_weights:
            _weights(report, model, fam, rendered)
    except _Stop:
        pass
    return report
