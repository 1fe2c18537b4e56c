"""ToolCalls: a step's tool calls, one compact line each, that opens to its input and result.

`▸ read_file notes.txt · 0.1s ✓`, `✗ write_file out.txt · denied`, `? write_file out.txt ·
waiting for you`. A line is focusable: Enter (or a click) opens it to the call's arguments,
the rule that decided it and what the tool sent back; Up and Down move between lines. Names,
arguments and results come from the model and from the outside world: every part is shown
through `safe.plain`, inert and never read as markup.

`show(calls, changes)` is called with a step's `tools` and `tool_changes` (paracle_engine's
fold); it does nothing when `changes` has not moved, so a step's state can be passed each
frame at no cost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual import events
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from paracle_engine import format_duration

from ..safe import line, plain

if TYPE_CHECKING:
    from paracle_engine import ToolCallState

# The ways a call ends other than ok.
_FAILED = ("error", "denied", "cancelled")


def _summary(call: ToolCallState) -> str:
    return f"{call.name} {call.summary}".rstrip()


def compact(call: ToolCallState, *, expanded: bool = False) -> str:
    """The call's one line (terminal-safe): what ran, on what, how long, how it ended."""
    what = line(_summary(call))
    if call.status == "asking":
        return f"? {what} · waiting for you"
    if call.status == "running":
        return f"{'▾' if expanded else '▸'} {what} · running…"
    failed = call.status in _FAILED
    head = f"{'✗' if failed else ('▾' if expanded else '▸')} {what}"
    took = format_duration(call.duration) if call.status in ("ok", "error") else ""
    if call.status == "ok":
        return f"{head} · {took} ✓" if took else f"{head} ✓"
    return " · ".join(p for p in (head, took, line(call.status)) if p)


def details(call: ToolCallState) -> str:
    """What an opened line shows: the input, who decided, what came back (not yet safe)."""
    arguments = json.dumps(call.arguments, indent=2, ensure_ascii=False, default=str)
    out = [f"input: {arguments}"]
    if call.decision:
        out.append(f"decided: {call.decision}" + (f" ({call.rule})" if call.rule else ""))
    if call.ended:
        result = call.result or "(nothing)"
        out.append(f"result{' (truncated)' if call.truncated else ''}:\n{result}")
    return "\n".join(out)


class ToolCallLine(Static, can_focus=True):
    """One call: its compact line, and its details when opened."""

    BINDINGS = [
        Binding("enter", "open", "Open/close call", id="tool-toggle"),
        Binding("up", "move(-1)", "Previous call", show=False, id="tool-previous"),
        Binding("down", "move(1)", "Next call", show=False, id="tool-next"),
    ]
    DEFAULT_CSS = """
    ToolCallLine { height: auto; color: $text-muted; }
    ToolCallLine:focus { background: $boost; color: $text; }
    ToolCallLine.-failed { color: $text-error; }
    ToolCallLine.-asking { color: $text-warning; }
    """

    def __init__(self, call: ToolCallState) -> None:
        super().__init__()
        self.call = call
        self.expanded = False
        self.redraw()

    @property
    def plain_text(self) -> str:
        return compact(self.call, expanded=self.expanded)

    def redraw(self) -> None:
        call = self.call
        self.set_class(call.status in _FAILED, "-failed")
        self.set_class(call.status == "asking", "-asking")
        head = plain(self.plain_text, one_line=True)
        if self.expanded:
            body = plain(details(call)).stylize("dim")
            self.update(Content.assemble(head, "\n", body))
        else:
            self.update(head)

    def action_open(self) -> None:
        self.expanded = not self.expanded
        self.redraw()

    def action_move(self, delta: int) -> None:
        siblings = (
            [w for w in self.parent.children if isinstance(w, ToolCallLine)] if self.parent else []
        )
        index = siblings.index(self) + delta
        if 0 <= index < len(siblings):
            siblings[index].focus()

    def on_click(self, event: events.Click) -> None:
        self.focus()
        self.action_open()


class ToolCalls(VerticalScroll, can_focus=False):
    """The calls of one step, in the order they started; hidden while there are none."""

    DEFAULT_CSS = """
    ToolCalls {
        height: auto;
        max-height: 50%;
        display: none;
        scrollbar-size-vertical: 1;
        &.-some { display: block; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._changes = -1
        self._lines: dict[str, ToolCallLine] = {}

    @property
    def lines(self) -> list[ToolCallLine]:
        return [w for w in self.children if isinstance(w, ToolCallLine)]

    def show(self, calls: Sequence[ToolCallState], changes: int) -> None:
        """Draw `calls` (a step's `tools`) if `changes` (its `tool_changes`) moved."""
        if changes == self._changes:
            return
        self._changes = changes
        ids = [call.call_id for call in calls]
        for call_id in [c for c in self._lines if c not in ids]:
            self._lines.pop(call_id).remove()  # a retry starts its calls afresh
        new: list[ToolCallLine] = []
        for call in calls:
            widget = self._lines.get(call.call_id)
            if widget is None:
                widget = self._lines[call.call_id] = ToolCallLine(call)
                new.append(widget)
            else:
                widget.call = call
                widget.redraw()
        if new:
            self.mount_all(new)
            self.scroll_end(animate=False)
        self.set_class(bool(calls), "-some")

    def clear(self) -> None:
        self.show([], self._changes + 1)

    def focus_last(self) -> bool:
        lines = self.lines
        if not lines:
            return False
        lines[-1].focus()
        return True
