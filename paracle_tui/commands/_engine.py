"""Shared by the commands: open an Engine from the command line's global options."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paracle_engine.engine import Engine


def load_settings_for(args: argparse.Namespace):  # -> Settings
    """Settings from config.toml, with command-line overrides applied."""
    from paracle_engine.config import load_settings

    settings = load_settings()
    timeout = getattr(args, "timeout", None)
    if timeout is not None:
        settings.timeouts.total = timeout
    return settings


@asynccontextmanager
async def open_engine(args: argparse.Namespace, *, history: bool = True) -> AsyncIterator[Engine]:
    """`async with open_engine(args) as engine:` for a command that runs something."""
    from paracle_engine.engine import open_engine as _open

    engine = await _open(
        workspace=getattr(args, "workspace", None),
        provider=getattr(args, "provider", None),
        history=history,
        settings=load_settings_for(args),
    )
    try:
        yield engine
    finally:
        await engine.aclose()


def print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
