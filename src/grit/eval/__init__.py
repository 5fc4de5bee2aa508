"""Evaluation: prediction writing, official benchmark scorers and reports."""
