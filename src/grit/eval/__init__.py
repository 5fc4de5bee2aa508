"""Evaluation, one module per step: samples → predictions (resumable) → score and scorers/ →
metrics.json → report."""
