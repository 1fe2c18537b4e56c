"""Shared by the commands: open an Engine from the command line's global options."""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paracle_engine import Engine, Event


def load_settings_for(args: argparse.Namespace):  # -> Settings
    """Settings from config.toml, with command-line overrides applied."""
    from paracle_engine import load_settings

    settings = load_settings()
    timeout = getattr(args, "timeout", None)
    if timeout is not None:
        settings.timeouts.total = timeout
    return settings


@asynccontextmanager
async def open_engine(args: argparse.Namespace, *, history: bool = True) -> AsyncIterator[Engine]:
    """`async with open_engine(args) as engine:` for a command that runs something."""
    from paracle_engine import HistoryStatus
    from paracle_engine import open_engine as _open

    engine = await _open(
        workspace=getattr(args, "workspace", None),
        provider=getattr(args, "provider", None),
        history=history,
        settings=load_settings_for(args),
    )
    if engine.history_error:
        print(f"warning: history is off: {engine.history_error}", file=sys.stderr)
    engine.bus.subscribe(_report_history_status, HistoryStatus)
    ran = False
    try:
        yield engine
        ran = True
    finally:
        await _close(engine, report_now=not ran)


# What a run could not save in the history, printed after the run's own output.
_unsaved: list[str] = []


async def _close(engine: Engine, *, report_now: bool) -> None:
    """Close the engine; a history that could not be saved does not undo a finished run."""
    from paracle_engine import HistoryError

    try:
        await engine.aclose()
    except HistoryError as exc:
        _unsaved.append(f"warning: the run is not fully in the history: {exc.one_line()}")
        if report_now:  # the command stops with its own error; this goes first
            report_unsaved()


def report_unsaved() -> None:
    """Say on stderr, one line, what the history could not save; call after the output."""
    while _unsaved:
        print(_unsaved.pop(0), file=sys.stderr)


def report_workspace_warnings(warnings: Sequence[str]) -> None:
    """The workspace's warnings on stderr (a file skipped, a key written twice), one line each."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _report_history_status(event: Event) -> None:
    from paracle_engine import HistoryStatus

    assert isinstance(event, HistoryStatus)  # subscribed to HistoryStatus events only
    if event.ok:
        print("history: writing again; nothing was lost", file=sys.stderr)
    else:
        print(f"warning: history is failing, the run goes on: {event.error}", file=sys.stderr)


def print_json(data: object) -> None:
    """``data`` as indented JSON on stdout, exactly as received once decoded.

    JSON escapes C0 controls itself; when the text still holds characters a terminal acts on
    (C1 controls, bidi overrides), the whole document is written ASCII-escaped (``\\u009b``),
    so it stays valid JSON, the data stays unchanged and the terminal sees nothing to act on.
    """
    import json

    from paracle_engine import has_controls

    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if has_controls(text):
        text = json.dumps(data, indent=2, ensure_ascii=True, default=str)
    print(text)
