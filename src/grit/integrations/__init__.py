"""Adapters that let other RL engines use grit's pure core (``verl``: reward function and data export)."""
