"""Shared test fixtures and paths."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"
SEEDS = SHARED / "seeds"
GOLDEN = ROOT / "tests" / "golden"

needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason="../shared/reference is not present"
)
needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not present")
