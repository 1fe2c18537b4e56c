"""ResponsePane: one step's Markdown answer, streamed: a `ResponseHeader` over a `ResponseBody`.

API (all a screen needs):

- `ResponsePane(step_id, *, agent=None, provider=None, model=None, status="pending")`
- `append(text)`: cheap, only buffers; the pane renders at most once per frame.
- `set_status(status, *, note=None)` with a `paracle_engine.models.StepStatus` value;
  `set_source(agent=..., provider=..., model=...)` for the header. A `simulated` provider
  is labelled as such.
- `clear()`, `text` (the full text as shown, terminal controls made inert by
  `paracle_engine.terminal`; `c` copies it with OSC 52), `await rendered()`
  (everything appended so far is on screen; at once when it already is, or when the pane is
  hidden; `RenderTimeout` names what it still waited for after `RENDER_TIMEOUT` seconds),
  `following` (sticks to the end).
- `show_tools(calls, changes)`: the step's tool calls (its `tools` and `tool_changes`), one
  compact line each between the header and the answer they led to (tool_calls.py); `t`
  moves to the last one (Enter opens it, Up/Down move between them).
- `body` is the `ResponseBody` (response_body.py: how the answer is drawn cheaply):
  `frozen_blocks`, `live_text`, `plain_lines()`; `header` is the `ResponseHeader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget

from paracle_engine import check_step_status

from .response_body import RENDER_TIMEOUT, RenderTimeout, ResponseBody
from .response_header import ResponseHeader
from .tool_calls import ToolCalls

if TYPE_CHECKING:
    from paracle_engine import ToolCallState

# The pane's parts, importable from here as well as from their own modules.
__all__ = ["RENDER_TIMEOUT", "RenderTimeout", "ResponseBody", "ResponseHeader", "ResponsePane"]


class ResponsePane(Widget):
    """One step's answer: a header (step, agent, provider/model, status) over the streamed body."""

    DEFAULT_CSS = """
    ResponsePane {
        height: 1fr;
        layout: vertical;
    }
    """
    BINDINGS = [
        Binding("c", "copy", "Copy answer", id="copy"),
        Binding("t", "tools", "Tool calls", id="tool-calls"),
    ]

    def __init__(
        self,
        step_id: str,
        *,
        agent: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        status: str = "pending",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.step_id = step_id
        self.agent = agent
        self.provider = provider
        self.model = model
        self.status = check_step_status(status)
        self.note: str | None = None
        self.header = ResponseHeader()
        self.tools = ToolCalls()
        self.body = ResponseBody()
        self._show_header()

    def compose(self) -> ComposeResult:
        yield self.header
        yield self.tools
        yield self.body

    # ---------------------------------------------------------------- public API

    @property
    def text(self) -> str:
        """The full answer, as shown (terminal controls inert)."""
        return self.body.text

    @property
    def following(self) -> bool:
        """Whether the pane sticks to the end as text arrives."""
        return self.body.following

    def append(self, text: str) -> None:
        """Add streamed text (cheap: drawn on the next frame)."""
        self.body.append(text)

    def clear(self) -> None:
        """Forget the answer."""
        self.body.clear()

    async def rendered(self, within: float = RENDER_TIMEOUT) -> None:
        """Wait until everything appended so far is on the screen (see `ResponseBody.rendered`)."""
        await self.body.rendered(within)

    def set_status(self, status: str, *, note: str | None = None) -> None:
        """Show a StepStatus value (and an optional short note, e.g. an error)."""
        self.status = check_step_status(status)
        self.note = note
        self._show_header()

    def set_source(
        self, *, agent: str | None = None, provider: str | None = None, model: str | None = None
    ) -> None:
        """Show which agent, provider and model answer; None keeps the current value."""
        self.agent = agent or self.agent
        self.provider = provider or self.provider
        self.model = model or self.model
        self._show_header()

    def show_tools(self, calls: Sequence[ToolCallState], changes: int) -> None:
        """Show the step's tool calls; nothing is redrawn unless `changes` moved."""
        self.tools.show(calls, changes)

    def action_tools(self) -> None:
        if not self.tools.focus_last():
            self.notify("No tool calls in this step yet", severity="information")

    def action_copy(self) -> None:
        text = self.text
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied {len(text):,} characters of {self.step_id}")

    def _show_header(self) -> None:
        model = "/".join(part for part in (self.provider, self.model) if part)
        simulated = self.provider == "simulated"
        self.header.show(
            self.step_id, self.agent or "", model, simulated, self.status, self.note or ""
        )
