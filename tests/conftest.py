"""Test-wide settings: where the shared webhook fixtures live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(os.environ.get("GUARDIAN_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The `../shared/fixtures` tree of real webhook payloads."""
    if not FIXTURES.is_dir():
        pytest.fail(f"webhook fixtures not found at {FIXTURES}; set GUARDIAN_FIXTURES")
    return FIXTURES
