"""Shared fixtures. The loopback server and the wire fixtures live here; others may add more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.loopback import LoopbackServer

# CI lays shared/ beside the clone, as /work/shared sits beside /work/main.
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """The folder of recorded wire fixtures (anthropic/, openai/)."""
    if not FIXTURES.is_dir():
        pytest.fail(f"wire fixtures not found at {FIXTURES}: shared/ must sit beside the clone")
    return FIXTURES


@pytest.fixture
async def loopback() -> AsyncIterator[LoopbackServer]:
    """A started loopback HTTP server with an empty script."""
    async with LoopbackServer() as server:
        yield server
