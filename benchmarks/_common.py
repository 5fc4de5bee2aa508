"""Helpers shared by benchmark scripts (imported as ``benchmarks._common``, so those run with ``python -m``)."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    """Wall time of every optimiser step, sampling included: what a GRPO step costs end to end."""

    def __init__(self):
        self.times: list[float] = []
        self._t = None

    def on_step_begin(self, args, state, control, **kw):
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self._t)
