"""Helpers shared by benchmark scripts (imported as ``benchmarks._common``, so those run with ``python -m``)."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    """Wall time of every optimiser step, sampling included: what a GRPO step costs end to end; and its CPU
    time in this process (``cpu_times``), which other jobs on shared cores disturb less."""

    def __init__(self):
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self._t = self._c = 0.0

    def on_step_begin(self, args, state, control, **kw):
        self._t, self._c = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kw):
        self.times.append(time.perf_counter() - self._t)
        self.cpu_times.append(time.process_time() - self._c)
