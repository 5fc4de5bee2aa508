"""``grit train`` as ``accelerate launch`` runs it, with spies; tests/test_train_multiprocess.py launches it.

Arguments are ``grit``'s own (``train --config ... key=value``). Each process appends to
``$GRIT_SPY_DIR/rank{RANK}.jsonl`` what one reward saw (item ids, frames, sizes, completions, scores), and
records every file it opened for writing under the run's output folder, so the test can tell which rank wrote
what. ``GRIT_CRASH_AT_STEP=N`` makes every rank raise at the end of step N: a killed run to resume.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

RANK = int(os.environ.get("RANK", "0"))
SPY = Path(os.environ["GRIT_SPY_DIR"])
OUT = Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("output_dir="))).resolve()
WRITES: set[str] = set()


def audit(event: str, args: tuple) -> None:
    """Note writes under the output folder (Python-level opens: config/state JSON, torch.save, ...)."""
    if event != "open" or not isinstance(args[0], (str, os.PathLike)):
        return
    mode, flags = args[1], args[2]
    writing = (
        any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR))
    )
    if writing:
        path = Path(os.fsdecode(args[0])).resolve()
        if path.is_relative_to(OUT):
            WRITES.add(str(path.relative_to(OUT)))


def record(name: str, fn):
    def spied(completions, **kw):
        out = fn(completions, **kw)
        row = {
            "reward": name,
            "ids": list(kw["id"]),
            "frames": [dict(f) for f in kw["frame"]],
            "sizes": [[w, h] for w, h in zip(kw["width"], kw["height"], strict=True)],
            "completions": [c if isinstance(c, str) else c[0]["content"] for c in completions],
            "scores": out,
        }
        with open(SPY / f"rank{RANK}.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        return out

    spied.__name__ = spied.__qualname__ = name  # TRL logs each reward under its function's name
    return spied


def main() -> None:
    import grit.rewards
    import grit.train.trainer as trainer_mod
    from grit.cli import app

    for name in ("grounded_region_format", "repetition"):
        grit.rewards.REGISTRY[name] = record(name, grit.rewards.REGISTRY[name])
    # A tiny random model's completions all score alike on GRIT's rewards, which leaves GRPO no advantage to
    # learn from; a length reward (rewards=...,completion_length) gives the run a gradient to step with.
    grit.rewards.REGISTRY["completion_length"] = lambda completions, **kw: [
        len(str(c)) / 100 for c in completions
    ]
    crash_at = int(os.environ.get("GRIT_CRASH_AT_STEP", "0"))
    if crash_at:
        from transformers import TrainerCallback

        class Crash(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if state.global_step == crash_at:
                    raise SystemExit(f"rank {RANK}: killed at step {crash_at}")

        real_train = trainer_mod.train
        trainer_mod.train = lambda cfg, resume=False, extra_callbacks=None: real_train(cfg, resume, [Crash()])
    sys.addaudithook(audit)
    atexit.register(lambda: (SPY / f"writes{RANK}.json").write_text(json.dumps(sorted(WRITES))))
    app(sys.argv[1:], prog_name="grit")


if __name__ == "__main__":
    main()
