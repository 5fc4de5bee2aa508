"""Shared pytest fixtures."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Real benchmark sample records, kept outside the repo (../shared/fixtures); tests skip when absent."""
    path = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
    if not path.is_dir():
        pytest.skip(f"benchmark fixtures not found at {path}")
    return path
