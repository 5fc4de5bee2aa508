"""Benchmarks of grit; scripts that share helpers run as modules from the repository root (``python -m benchmarks.X``)."""
