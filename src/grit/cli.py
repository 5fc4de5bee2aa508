"""The ``grit`` command. Parses options and calls library functions; nothing more."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="GRIT: teach multimodal LLMs to think with images.")
data_app = typer.Typer(no_args_is_help=True, help="Convert benchmarks to GRIT jsonl, validate, generate shapes.")
models_app = typer.Typer(no_args_is_help=True, help="Model families and offline tiny models.")
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")


def fail(msg: str, code: int = 1) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


@app.command("pretrain-shapes")
def pretrain_shapes(
    out: Path = typer.Option(Path("checkpoints/shapes-base"), help="Output folder (state.pt, log.jsonl, model/)."),
    steps: int = typer.Option(40000, help="Total optimiser steps (the cosine schedule spans them)."),
    batch_size: int = typer.Option(16),
    lr: float = typer.Option(1e-3),
    seed: int = typer.Option(0),
    family: str = typer.Option("qwen2_5_vl"),
    size: str = typer.Option("small"),
    threads: int = typer.Option(2),
    eval_every: int = typer.Option(1000),
    max_minutes: float = typer.Option(None, help="Stop after this many minutes (resume later with the same command)."),
    resume: bool = typer.Option(True, help="Resume from OUT/state.pt when it exists."),
) -> None:
    """Pretrain the tiny shapes base model (seeded, resumable; checkpoints every 250 steps)."""
    from grit.train.pretrain import PretrainConfig, pretrain

    cfg = PretrainConfig(out_dir=str(out), total_steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                         family=family, size=size, threads=threads, eval_every=eval_every)
    pretrain(cfg, resume=resume, max_minutes=max_minutes, log=lambda s: typer.echo(s))


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

_ = json  # used by commands added below
