"""The ``grit`` command. Parses options and calls library functions; nothing more.

Every command is registered through :class:`GritTyper`, which turns the errors a user can fix (bad data, a
missing file, an unknown model) into one ``error: ...`` line on stderr and exit status 1 instead of a
traceback. Set ``GRIT_DEBUG=1`` to get the traceback anyway.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import typer

from grit.data.schema import GritDataError
from grit.errors import GritUserError, InvalidValue
from grit.models import FAMILY_MODULES

# What a user can fix: grit's own errors, and a file that is missing, a folder, or not readable. Anything else
# (a ValueError or KeyError from deep inside, say) is a bug in grit and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    GritUserError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def fail(msg: str, code: int = 1) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command, reporting user errors as ``error: <message>`` (exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as e:
            if os.environ.get("GRIT_DEBUG"):
                raise
            msg = str(e).strip() or type(e).__name__
            # Data errors are a list of file:line: field lines; anything else is folded onto one line.
            fail(msg if isinstance(e, GritDataError) else " ".join(msg.split()))

    return wrapper


class GritTyper(typer.Typer):
    """A Typer whose commands all report user errors through :func:`user_errors`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)
        return lambda fn: register(user_errors(fn))


app = GritTyper(
    add_completion=False, no_args_is_help=True, help="GRIT: teach multimodal LLMs to think with images."
)
data_app = GritTyper(
    no_args_is_help=True, help="Convert benchmarks to GRIT jsonl, validate, generate shapes."
)
models_app = GritTyper(no_args_is_help=True, help="Model families and offline tiny models.")
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")

FamilyName = Literal[tuple(FAMILY_MODULES)]  # typer turns a Literal into a choice


def console():
    """A rich console on stdout, created per call so it follows redirection (and CliRunner)."""
    from rich.console import Console

    return Console(highlight=False)


# ================================================================================================ data


TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def parse_opts(pairs: list[str], fn: Callable[..., Any] | None) -> dict[str, Any]:
    """``key=value`` strings → keyword arguments, typed after the converter's defaults (bool, int, else str)."""
    params = inspect.signature(fn).parameters if fn is not None else {}
    opts: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise InvalidValue(f"--opt {pair!r}: expected key=value")
        param = params.get(key)
        default = param.default if param is not None else None
        annotation = str(param.annotation) if param is not None else ""
        if isinstance(default, bool) or annotation.startswith("bool"):
            word = value.strip().lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                raise InvalidValue(f"--opt {key}={value}: expected true or false")
            opts[key] = word in TRUE_WORDS
        elif isinstance(default, int) or annotation.startswith("int"):
            try:
                opts[key] = int(value)
            except ValueError:
                raise InvalidValue(f"--opt {key}={value}: expected an integer") from None
        else:
            opts[key] = value
    return opts


@data_app.command("convert")
def data_convert(
    inputs: list[Path] = typer.Argument(None, help="Source annotation file(s), in the order --list shows."),
    fmt: str = typer.Option(None, "--from", help="Source benchmark format (see --list)."),
    out: Path = typer.Option(None, "--out", "-o", help="GRIT jsonl file to write."),
    image_root: Path = typer.Option(
        None, help="Folder holding the benchmark's images (sizes are read from them)."
    ),
    sizes: Path = typer.Option(None, help="JSON/jsonl of image sizes, when the images are not at hand."),
    opt: list[str] = typer.Option(None, "--opt", help="Converter option key=value (repeatable; see --list)."),
    list_formats: bool = typer.Option(
        False, "--list", help="List the formats with their inputs and options."
    ),
) -> None:
    """Convert official benchmark annotations to GRIT jsonl (validated, written atomically)."""
    from grit.data.convert import CONVERTERS, convert, describe

    if list_formats:
        for name in CONVERTERS:
            typer.echo(describe(name))
        return
    if not fmt:
        fail(f"--from FORMAT is required; one of {', '.join(CONVERTERS)} (see --list)")
    if not inputs:
        fail(f"give the input file(s); usage: {describe(fmt) if fmt in CONVERTERS else '--list'}")
    if out is None:
        fail("--out OUT.jsonl is required")
    opts = parse_opts(opt or [], CONVERTERS.get(fmt))
    if sizes is not None:
        opts["sizes"] = str(sizes)
    n = convert(fmt, inputs, out, image_root=image_root, **opts)
    typer.echo(f"wrote {n} {fmt} records to {out}")


@data_app.command("validate")
def data_validate(
    files: list[Path] = typer.Argument(..., help="GRIT jsonl files."),
    image_root: Path = typer.Option(
        None, help="Folder relative image paths start from (default: each file's folder)."
    ),
    check_images: bool = typer.Option(True, help="Open every image and check its size against width/height."),
) -> None:
    """Check GRIT jsonl files; print every problem as file:line: field ... and exit 1 if there is any."""
    from grit.data.convert import validate_files
    from grit.data.schema import nonblank_lines

    errors = validate_files(files, image_root=image_root, check_images=check_images)
    for e in errors:
        typer.echo(str(e))
    if errors:
        n_bad = len({e.file for e in errors})
        fail(f"{len(errors)} error(s) in {n_bad} of {len(files)} file(s)")
    n_records = sum(1 for f in files for _ in nonblank_lines(f.read_text(encoding="utf-8")))
    typer.echo(f"ok: {len(files)} file(s), {n_records} records")


@data_app.command("export")
def data_export(
    files: list[Path] = typer.Argument(..., help="GRIT jsonl files."),
    to: Literal["verl"] = typer.Option(..., "--to", help="Target engine's data layout."),
    out: Path = typer.Option(..., "--out", "-o", help="File to write (verl: .parquet)."),
    family: FamilyName = typer.Option(..., help="Model family whose coordinate frame the rewards check."),
    image_root: Path = typer.Option(
        None, help="Folder relative image paths start from (default: each file's folder)."
    ),
    prompt: str = typer.Option("grit", help="'grit', 'vanilla' or a template with {question}."),
    min_pixels: int = typer.Option(None, help="Smallest resized image (default: the family's)."),
    max_pixels: int = typer.Option(None, help="Largest resized image (default: the family's, as in GRIT)."),
    split: str = typer.Option("train", help="Split name stored in each row's extra_info."),
) -> None:
    """Write GRIT jsonl as another engine's RL data (verl: parquet with the frame in extra_info)."""
    from grit.integrations.verl import export_verl

    n = export_verl(files, out, family, image_root, prompt, min_pixels, max_pixels, split)
    typer.echo(f"wrote {n} {to} rows to {out}")


def split_list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@data_app.command("shapes")
def data_shapes(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the jsonl files and images/."),
    n_per_style: int = typer.Option(100, min=0, help="Test records per style (0: no test sets)."),
    seed: int = typer.Option(0, help="Same seed and options, byte-identical files."),
    styles: str = typer.Option(None, help="Comma-separated test styles (default: all)."),
    name: str = typer.Option("test", help="File prefix of the test sets: NAME_STYLE.jsonl."),
    train: int = typer.Option(0, min=0, help="Also write train.jsonl: N balanced GRPO training records."),
    train_styles: str = typer.Option("count,relation", help="Styles of the training set, alternating."),
    image_size: int = typer.Option(None, help="Image side in pixels (default 84)."),
    grid: int = typer.Option(None, help="Grid cells per side (default 3)."),
    object_size: int = typer.Option(None, help="Object side in pixels (default 20)."),
    max_objects: int = typer.Option(None, help="Most objects per scene (default 5)."),
    colors: str = typer.Option(None, help="Comma-separated colours (default red,green,blue)."),
    shapes: str = typer.Option(
        None, help="Comma-separated shapes: circle, square, triangle (default triangle,square)."
    ),
) -> None:
    """Generate synthetic shapes sets in the style of GRIT's benchmarks (GRIT jsonl + PNG images)."""
    from grit.data.shapes import balanced_train_set, generate_split
    from grit.data.shapes.world import STYLES, ShapesConfig

    world = {"image_size": image_size, "grid": grid, "object_size": object_size, "max_objects": max_objects}
    world = {k: v for k, v in world.items() if v is not None}
    if colors:
        world["colors"] = tuple(split_list(colors) or ())
    if shapes:
        world["shapes"] = tuple(split_list(shapes) or ())
    cfg = ShapesConfig(**world)
    test_styles = split_list(styles) or list(STYLES)
    if n_per_style:
        for style, path in generate_split(out, n_per_style, seed, test_styles, cfg, name=name).items():
            typer.echo(f"wrote {n_per_style} {style} records to {path}")
    if train:
        wanted = tuple(split_list(train_styles) or ())
        unknown = [s for s in wanted if s not in STYLES]
        if unknown or not wanted:
            raise InvalidValue(
                f"unknown --train-styles {unknown or train_styles!r}; known: {', '.join(STYLES)}"
            )
        path = balanced_train_set(out, train, seed, wanted, cfg)
        typer.echo(f"wrote {train} training records ({', '.join(wanted)}) to {path}")
    typer.echo(f"images in {Path(out) / 'images'}")


# ============================================================================================== models


@models_app.command("list")
def models_list() -> None:
    """The model families grit knows: what loads them and how their boxes are written."""
    from rich import box
    from rich.table import Table

    from grit.models import list_families

    rows = list_families()
    table = Table(
        title="model families", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0)
    )
    for col in ("family", "model types", "transformers class", "frame", "box style"):
        table.add_column(col, no_wrap=col != "model types")
    for row in rows:
        table.add_row(
            row["name"], ", ".join(row["model_types"]), row["model_class"], row["frame"], row["box_style"]
        )
    out = console()
    out.print(table)
    frames = {row["frame"]: row["frame_description"] for row in rows}
    for frame, description in frames.items():
        out.print(f"  {frame}: boxes in {description}")


@models_app.command("tiny")
def models_tiny(
    family: FamilyName = typer.Option(..., help="Model family."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to save the model and processor in."),
    size: Literal["tiny", "small"] = typer.Option("tiny", help="About 0.5M or 2M parameters."),
    number_tokens: Literal["digits", "whole"] = typer.Option(
        "digits", help="Numbers as digit tokens or whole-number tokens."
    ),
    seed: int = typer.Option(0, help="Initialisation seed."),
) -> None:
    """Build a tiny randomly initialised model of a real family, offline (for tests and the shapes demo)."""
    from grit.models.tiny import build_tiny

    model, _ = build_tiny(family, out, size=size, number_tokens=number_tokens, seed=seed)
    n_params = sum(p.numel() for p in model.parameters())
    typer.echo(f"wrote a {size} {family} model ({n_params / 1e6:.2f}M parameters) to {out}")


@models_app.command("check")
def models_check(
    model: Path = typer.Argument(..., help="Model folder: config, tokenizer, processor and chat template."),
    config: Path = typer.Option(None, help="Training config (YAML) to check against the folder."),
    weights: bool = typer.Option(False, "--weights", help="Also load the weights and run one forward pass."),
) -> None:
    """Before a GPU job: do the folder, the prompt and the rewards fit together? Exit 1 with a line per problem."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from grit.models.check import check_model

    report = check_model(model, config, load_weights=weights)
    table = Table(
        title=f"grit models check {model}", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0)
    )
    table.add_column("check", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("detail")
    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    for f in report.findings:
        table.add_row(f.item, Text(f.verdict, style=colours[f.verdict]), Text(f.detail))
    out = console()
    out.print(table)
    if report.prompt is not None:
        out.print(Text("prompt of a sample question, as the chat template renders it:", style="bold"))
        out.print(Text(report.prompt))
    for f in report.problems:
        typer.echo(f"error: {f.item}: {f.detail}", err=True)
    if report.problems:
        raise typer.Exit(1)


# =============================================================================================== infer


def _num(v: float) -> str:
    return f"{v:g}"


def print_chain(rec: dict[str, Any]) -> None:
    """The chain for a person: think / rethink / answer, then every box as written and in original pixels."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    out = console()
    img, frame = rec["image"], rec["frame"]
    out.print(Text.assemble(("question: ", "bold"), rec["question"]))
    out.print(
        Text(
            f"family {rec['family']} · image {img['width']}x{img['height']} · boxes written in frame "
            f"{frame['kind']} ({_num(frame['extent'][0])}x{_num(frame['extent'][1])})",
            style="dim",
        )
    )
    if rec["think"] is None and rec["answer"] is None:
        text = Text(rec["completion"].strip() or "(empty)")
        out.print(Panel(text, title="completion (no GRIT tags)", title_align="left"))
    for part in ("think", "rethink"):
        if rec[part] is not None:
            out.print(Panel(Text(rec[part].strip()), title=part, title_align="left"))
    if rec["boxes"]:
        table = Table(title="boxes in the think part")
        for col in ("#", "label", f"as written ({frame['kind']})", "original pixels", "valid"):
            table.add_column(col, no_wrap=col not in ("label", "valid"))
        for i, b in enumerate(rec["boxes"], start=1):
            pixels = ", ".join(_num(v) for v in b["box"]) if b["box"] is not None else "-"
            status = Text("yes", style="green") if b["valid"] else Text(f"no: {b['error']}", style="red")
            table.add_row(
                str(i), Text(b["label"] or "-"), ", ".join(_num(v) for v in b["coords"]), pixels, status
            )
        out.print(table)
    else:
        out.print("no boxes in the think part")
    out.print(Text.assemble(("answer: ", "bold"), rec["answer_text"] or "(none)"))
    if rec["strict_format"]:
        out.print(Text("grounded format: ok (tags in order, at least one valid box)", style="green"))
    elif rec["tags_ok"]:
        out.print(Text("grounded format: tags ok but no valid box", style="yellow"))
    else:
        out.print(Text("grounded format: tags missing or out of order", style="yellow"))
    if not rec["finished"]:
        out.print(Text(f"stopped after {rec['n_new_tokens']} new tokens (--max-new-tokens)", style="yellow"))
    for kind, path in rec["written"].items():
        out.print(f"wrote {kind}: {path}")


@app.command("infer")
def infer_cmd(
    model: str = typer.Option(..., help="Model folder or hub id."),
    image: Path = typer.Option(..., help="Image file."),
    question: str = typer.Option(..., help="The question about the image."),
    family: FamilyName = typer.Option(None, help="Model family (default: from config.json)."),
    out_png: Path = typer.Option(None, help="Image with the boxes drawn (default: ./<image stem>.grit.png)."),
    no_png: bool = typer.Option(False, "--no-png", help="Do not write the image with boxes."),
    html: Path = typer.Option(None, help="Also write the chain as an HTML page."),
    as_json: bool = typer.Option(False, "--json", help="Print only the machine-readable record (JSON)."),
    max_new_tokens: int = typer.Option(512, min=1),
    temperature: float = typer.Option(0.0, min=0.0, help="0: greedy decoding."),
    device: str = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda when available)."),
    prompt_style: str = typer.Option(
        "grit", help="grit (the GRIT prompt), vanilla (bare question) or a template."
    ),
    min_pixels: int = typer.Option(None, help="Qwen-style image budget: fewest pixels after resizing."),
    max_pixels: int = typer.Option(None, help="Qwen-style image budget: most pixels (GRIT: 200704)."),
    dtype: str = typer.Option(None, help="float32, bfloat16 ... (default: bf16 on CUDA, fp32 on CPU)."),
) -> None:
    """Answer a question about an image with grounded reasoning and draw the boxes on the image."""
    from grit.infer import infer

    if out_png is None and not no_png:
        out_png = Path(f"{image.stem}.grit.png")
    rec = infer(
        model,
        image,
        question,
        family=family,
        out_png=None if no_png else out_png,
        html=html,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        device=device,
        prompt_style=prompt_style,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        dtype=dtype,
    )
    if as_json:
        typer.echo(json.dumps(rec, ensure_ascii=False, indent=2))
    else:
        print_chain(rec)


# ============================================================================================ training


@app.command("pretrain-shapes")
def pretrain_shapes(
    out: Path = typer.Option(
        Path("checkpoints/shapes-base"), help="Output folder (state.pt, log.jsonl, model/)."
    ),
    steps: int = typer.Option(40000, help="Total optimiser steps (the cosine schedule spans them)."),
    batch_size: int = typer.Option(16),
    lr: float = typer.Option(1e-3),
    seed: int = typer.Option(0),
    family: str = typer.Option("qwen2_5_vl"),
    size: str = typer.Option("small"),
    threads: int = typer.Option(2),
    eval_every: int = typer.Option(1000),
    max_minutes: float = typer.Option(
        None, help="Stop after this many minutes (resume later with the same command)."
    ),
    stop_at_step: int = typer.Option(
        None, help="Stop at this step, keeping --steps' schedule (a stage that ends early, resumable)."
    ),
    resume: bool = typer.Option(True, help="Resume from OUT/state.pt when it exists."),
    init_from: Path = typer.Option(
        None,
        help="Start from the weights and tokenizer of this pretraining run folder (its state.pt) or model "
        "folder, with a fresh optimiser and schedule (a second stage).",
    ),
    mix: list[str] = typer.Option(
        None, help="Change one mixture weight, e.g. --mix shape=0.12 (repeatable; 0 drops a kind)."
    ),
    warmup_steps: int = typer.Option(200),
    curriculum: bool = typer.Option(True, help="Few objects per scene first (off for a second stage)."),
    vision: str = typer.Option(
        "train", help="'train', or 'frozen-init': keep the vision tower at its random initialisation."
    ),
    max_objects: int = typer.Option(
        None,
        help="At most this many objects per scene (default: the world's 5); the eval uses the same world.",
    ),
    image_after_text: bool = typer.Option(
        False,
        help="Prompt with the question before the image (the model's chat template keeps this order), so the "
        "visual tokens can attend to the question.",
    ),
    newlines: float = typer.Option(
        0.0, min=0.0, max=1.0, help="Share of samples whose user text has line breaks (and a final newline)."
    ),
    text_layers: int = typer.Option(
        None,
        min=1,
        help="With --init-from: deepen its language model to this many layers; each new layer copies the one "
        "before it with its output projections zeroed, so training starts from the same model.",
    ),
    label_first: bool = typer.Option(
        False, help='Write boxes {"label": ..., "bbox_2d": [...]}: each name right before its coordinates.'
    ),
) -> None:
    """Pretrain the tiny shapes base model (seeded, resumable; checkpoints every 250 steps)."""
    from grit.data.shapes.pretrain_mix import DEFAULT_MIX, KINDS
    from grit.train.pretrain import PretrainConfig, pretrain

    weights = dict(DEFAULT_MIX)
    for item in mix or []:
        kind, sep, value = item.partition("=")
        if not sep or kind not in KINDS:
            raise typer.BadParameter(f"{item!r}: expected KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
        try:
            weights[kind] = float(value)
        except ValueError:
            raise typer.BadParameter(f"{item!r}: the weight {value!r} is not a number") from None
    weights = {k: w for k, w in weights.items() if w > 0}
    cfg = PretrainConfig(
        init_from=str(init_from) if init_from else None,
        mix=weights,
        warmup_steps=warmup_steps,
        curriculum=curriculum,
        vision=vision,
        image_after_text=image_after_text,
        newlines=newlines,
        text_layers=text_layers,
        label_first=label_first,
        world={"max_objects": max_objects} if max_objects else {},
        out_dir=str(out),
        total_steps=steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        family=family,
        size=size,
        threads=threads,
        eval_every=eval_every,
    )
    pretrain(
        cfg, resume=resume, max_minutes=max_minutes, stop_at_step=stop_at_step, log=lambda s: typer.echo(s)
    )


def flags_to_overrides(args: list[str]) -> list[str]:
    """``--lora-r 16``, ``--grpo.learning-rate=1e-5`` and ``lora_r=16`` all become ``key=value`` overrides."""
    out, i = [], 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            key, sep, value = a[2:].partition("=")
            if not sep:
                if i + 1 >= len(args):
                    raise InvalidValue(f"option {a} needs a value")
                value, i = args[i + 1], i + 1
            out.append(f"{key.replace('-', '_')}={value}")
        else:
            out.append(a)
        i += 1
    return out


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def train_cmd(
    ctx: typer.Context,
    config: Path = typer.Option(None, help="YAML config (configs/*.yaml); overrides follow as key=value."),
    resume: bool = typer.Option(False, help="Continue from the latest checkpoint-* in output_dir."),
) -> None:
    """GRPO-GR training on TRL's GRPOTrainer. Extra arguments are overrides: key=value, grpo.<field>=value."""
    from grit.train.config import load_config
    from grit.train.trainer import train

    cfg = load_config(config, flags_to_overrides(list(ctx.args)))
    final = train(cfg, resume=resume)
    if os.environ.get("RANK", "0") == "0":  # under accelerate launch / torchrun: said once, not per process
        typer.echo(f"trained model: {final}")


def _judge(url: str | None, model: str | None, cache: Path | None, flag: str = "--llm-judge"):
    if not url:
        return None
    from grit.judge import LLMJudge

    if not model:
        raise InvalidValue(f"{flag}-model is required with {flag}-url")
    return LLMJudge(url, model, cache_path=cache)


@app.command("eval")
def eval_cmd(
    model: str = typer.Option(None, help="Model folder or hub id."),
    data: str = typer.Option(None, help="GRIT jsonl file(s), comma-separated."),
    out: Path = typer.Option(..., help="Output folder (predictions.jsonl, metrics.json)."),
    image_root: Path = typer.Option(None, help="Folder the records' image paths are relative to."),
    prompt: str = typer.Option("grit", help="grit, vanilla, or a template containing {question}."),
    family: FamilyName = typer.Option(None, help="Model family (default: from config.json)."),
    batch_size: int = typer.Option(8, min=1),
    max_new_tokens: int = typer.Option(512, min=1),
    temperature: float = typer.Option(0.0, min=0.0, help="0: greedy decoding."),
    seed: int = typer.Option(None),
    limit: int = typer.Option(None, min=1, help="Evaluate only the first N records."),
    device: str = typer.Option(None),
    dtype: str = typer.Option(None, help="float32, bfloat16 ... (default: bf16 on CUDA, fp32 on CPU)."),
    min_pixels: int = typer.Option(None, help="Qwen-style image budget: fewest pixels after resizing."),
    max_pixels: int = typer.Option(
        None, help="Qwen-style image budget: most pixels after resizing (GRIT used 200704 = 256 tokens)."
    ),
    llm_judge_url: str = typer.Option(
        None, help="OpenAI-compatible base URL of an LLM judge (key: OPENAI_API_KEY)."
    ),
    llm_judge_model: str = typer.Option(None),
    llm_judge_cache: Path = typer.Option(
        None, help="Verdict cache (JSON lines, appended; runs and processes may share it)."
    ),
    shard: str = typer.Option(
        None, help="i/n: evaluate shard i of n only (default under torchrun/accelerate launch: the rank)."
    ),
    merge: bool = typer.Option(False, "--merge", help="Merge the finished shards in --out; no model needed."),
    correlation_judge_url: str = typer.Option(
        None,
        help="Cross-modal correlation: OpenAI-compatible base URL of a judge that reads images; it is shown "
        "the chain with the model's boxes drawn and with random boxes and picks the one the text describes.",
    ),
    correlation_judge_model: str = typer.Option(None),
    correlation_judge_cache: Path = typer.Option(None, help="Its verdict cache (may be the LLM judge's)."),
    correlation_seed: int = typer.Option(0, help="Seed of the random boxes and of the pictures' order."),
    correlation_limit: int = typer.Option(None, min=1, help="Judge only the first N chains with boxes."),
) -> None:
    """Evaluate a model on GRIT jsonl sets (resumable: rerun the same command after an interruption)."""
    from grit.eval.predictions import parse_shard
    from grit.eval.run import evaluate, merge_eval

    picture_judge = _judge(
        correlation_judge_url, correlation_judge_model, correlation_judge_cache, flag="--correlation-judge"
    )

    files = [p for p in (data or "").split(",") if p.strip()]
    if merge:
        print_metrics({"merged": merge_eval(out, files or None)})
        typer.echo(f"wrote {out / 'predictions.jsonl'} and {out / 'metrics.json'}")
        return
    if not model or not files:
        raise InvalidValue("grit eval needs --model and --data (or --merge --out DIR)")
    metrics = evaluate(
        model,
        files,
        out,
        image_root=image_root,
        prompt=prompt,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        limit=limit,
        judge=_judge(llm_judge_url, llm_judge_model, llm_judge_cache),
        family=family,
        device=device,
        dtype=dtype,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
        shard=parse_shard(shard) if shard else None,
    )
    if picture_judge is not None and metrics["run"].get("merged") is not False:
        from grit.eval.correlation import score_correlation

        metrics = score_correlation(out, picture_judge, seed=correlation_seed, limit=correlation_limit)
        c = metrics["datasets"]["all"]
        rate = "-" if c["cross_modal_correlation"] is None else f"{100 * c['cross_modal_correlation']:.1f}%"
        typer.echo(f"cross-modal correlation: the judge picked the model's boxes in {rate} of "
                   f"{c['n_correlation']} chains (chance: 50%)")  # fmt: skip
    print_metrics({"run": metrics})
    if metrics["run"].get("merged") is False:
        typer.echo(
            f"shard {metrics['run']['shard']} written; the last shard to finish (or `grit eval --merge --out "
            f"{out}`) writes predictions.jsonl and metrics.json"
        )
    else:
        typer.echo(f"wrote {out / 'predictions.jsonl'} and {out / 'metrics.json'}")


def print_metrics(runs: dict[str, dict[str, Any]]) -> None:
    """One table: a row per dataset and run (n, ACC, GIoU, format rate, mean boxes)."""
    from rich.table import Table

    def f(v: Any, pct: bool = False) -> str:
        if v is None:
            return "-"
        return f"{100 * v:.1f}" if pct else f"{v:.3f}"

    table = Table("run", "dataset", "n", "ACC %", "GIoU", "format %", "boxes/chain")
    for name, metrics in runs.items():
        for ds, row in metrics.get("datasets", metrics).items():
            if not isinstance(row, dict) or "n" not in row:
                continue
            table.add_row(
                name,
                ds,
                str(row["n"]),
                f(row.get("acc"), True),
                f(row.get("giou")),
                f(row.get("format_rate"), True),
                f(row.get("mean_boxes")),
            )
    console().print(table)


@app.command("report")
def report_cmd(
    eval_dirs: list[Path] = typer.Argument(..., help="Eval output folders (first = reference for deltas)."),
    out: Path = typer.Option(..., help="Report folder (report.md, report.html, plots/, gallery/)."),
    names: str = typer.Option(None, help="Comma-separated run names (default: folder names)."),
    gallery: int = typer.Option(6, min=0, help="Chains per dataset in the gallery."),
    title: str = typer.Option("grit evaluation report"),
    training_log: Path = typer.Option(None, help="log_history.json / trainer_state.json for reward curves."),
) -> None:
    """Markdown + HTML report of eval runs side by side, with plots and a gallery of grounded chains."""
    from grit.eval.report import write_report

    md, html = write_report(
        [str(d) for d in eval_dirs],
        out,
        names=names.split(",") if names else None,
        gallery_n=gallery,
        title=title,
        training_log=training_log,
    )
    typer.echo(f"wrote {md} and {html}")


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("runs/demo"), help="Output folder (data, evals, trained model, report)."),
    steps: int = typer.Option(None, help="GRPO steps (default: the config's)."),
    seed: int = typer.Option(0),
    config: Path = typer.Option(Path("configs/demo.yaml"), help="Training config of the demo."),
    model: str = typer.Option(None, help="Base model (default: the shipped shapes base)."),
    ablate: str = typer.Option(None, help="Train without a reward group: format or counting."),
    n_eval: int = typer.Option(40, min=1, help="Held-out questions per style."),
    curve_every: int = typer.Option(50, min=0, help="Learning curve: a checkpoint every N steps (0: none)."),
    curve_n: int = typer.Option(
        10, min=0, help="Learning curve: held-out questions per style at the intermediate steps (0: all)."
    ),
) -> None:
    """The main job: GRPO-GR on 20 shapes triplets, before/after evaluation and a report (CPU, offline)."""
    from grit.demo import DemoOptions, demo_table, run_demo

    summary = run_demo(
        DemoOptions(
            out=str(out),
            steps=steps,
            seed=seed,
            config=str(config),
            model=model,
            ablate=ablate,
            n_eval=n_eval,
            curve_every=curve_every,
            curve_n=curve_n,
        ),
        log=typer.echo,
    )
    typer.echo(demo_table(out))
    typer.echo(f"report: {summary['report'][1]}  (total {summary['timings_s']['total']:.0f} s)")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
