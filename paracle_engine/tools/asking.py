"""Asking a person about a tool call whose permission is ``ask``.

The engine does not know who is there: a front hands it a :data:`ToolAsker` (the TUI's
dialog, the CLI's ``[y/N]`` prompt on a terminal). With no asker (a headless run, a pipe),
an ``ask`` is a ``deny`` and the model is told so: a run never hangs on a question nobody
can answer. While a call waits, its step frees its concurrency slot, as approvals do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

#: What a person answers: run this call once, allow the tool for the rest of the run, or not.
ToolAnswer = Literal["allow", "allow_run", "deny"]


@dataclass(frozen=True, slots=True)
class ToolAsk:
    """One question about one tool call: exactly what would happen if it were allowed."""

    run_id: str
    step_id: str
    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    # The command, or a diff for writes and edits: what the person reads before answering.
    preview: str = ""


#: `await asker(ask)` returns the person's answer; it may wait as long as the person does.
ToolAsker = Callable[[ToolAsk], Awaitable[ToolAnswer]]

#: The rule named when nobody could be asked.
NOBODY_TO_ASK = "no one to ask (headless); allow it with --allow-tool or [permissions] allow"
